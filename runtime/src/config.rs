//! What a model is ([`ModelSpec`]: [`Task`], [`Arch`], input width) and how it is trained
//! ([`TrainConfig`]).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Most hidden layers an MLP may have.
pub const MAX_HIDDEN_LAYERS: usize = 8;
/// Widest layer (hidden width, input width or class count) a model may have.
pub const MAX_WIDTH: usize = 1 << 16;

/// What the model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Task {
    /// Two classes; labels are 0 or 1; the output is the probability of class 1.
    Binary,
    /// `classes` classes (at least 3); labels are `0..classes`; the output is one probability
    /// per class, summing to 1.
    Multiclass {
        /// Number of classes.
        classes: usize,
    },
    /// A real number; labels are any finite value.
    Regression,
}

impl Task {
    /// Short name: `binary`, `multiclass` or `regression`.
    pub fn name(&self) -> &'static str {
        match self {
            Task::Binary => "binary",
            Task::Multiclass { .. } => "multiclass",
            Task::Regression => "regression",
        }
    }

    /// Values the model outputs per row.
    pub fn outputs(&self) -> usize {
        match *self {
            Task::Multiclass { classes } => classes,
            Task::Binary | Task::Regression => 1,
        }
    }

    /// The per-epoch validation score: `roc_auc`, `accuracy` or `rmse`.
    pub fn score_name(&self) -> &'static str {
        match self {
            Task::Binary => "roc_auc",
            Task::Multiclass { .. } => "accuracy",
            Task::Regression => "rmse",
        }
    }

    fn validate(&self) -> Result<()> {
        if let Task::Multiclass { classes } = *self
            && !(3..=MAX_WIDTH).contains(&classes)
        {
            return Err(invalid(
                "task.classes",
                format!("is {classes}; multiclass needs 3 to {MAX_WIDTH} classes (2 is binary)"),
            ));
        }
        Ok(())
    }
}

/// The non-linearity between MLP layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// GELU, tanh approximation (PyTorch's `approximate="tanh"`).
    Gelu,
    /// `x * sigmoid(x)` (SiLU, "swish").
    Silu,
}

impl Activation {
    /// Short name, as in the CLI and in model metadata.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
        }
    }
}

/// Architecture. Weight names and layouts follow PyTorch's `nn.Linear` (`weight` is
/// `[out, in]`), so models exported from PyTorch as safetensors map on directly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Arch {
    /// A linear model: `Linear(n_features, outputs)`, named `linear`. Logistic regression for
    /// binary, softmax regression for multiclass, linear regression for regression.
    Logreg,
    /// A multi-layer perceptron: layers `l1 .. lN`, each `Linear`, the hidden ones followed by
    /// the activation and (in training only) dropout.
    Mlp {
        /// Width of each hidden layer, input side first (1 to [`MAX_HIDDEN_LAYERS`] layers).
        hidden: Vec<usize>,
        /// Non-linearity after each hidden layer.
        activation: Activation,
        /// Probability of zeroing a hidden unit in training, in `[0, 1)`; 0 turns dropout off.
        /// Inference never drops.
        dropout: f64,
    },
}

impl Arch {
    /// Short name: `"logreg"` or `"mlp"`.
    pub fn name(&self) -> &'static str {
        match self {
            Arch::Logreg => "logreg",
            Arch::Mlp { .. } => "mlp",
        }
    }

    /// An MLP with ReLU, no dropout.
    pub fn mlp(hidden: &[usize]) -> Arch {
        Arch::Mlp {
            hidden: hidden.to_vec(),
            activation: Activation::Relu,
            dropout: 0.0,
        }
    }
}

/// Everything needed to build, load or check a model: task, architecture and input width.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// What it predicts.
    pub task: Task,
    /// Its layers.
    pub arch: Arch,
    /// Input width.
    pub n_features: usize,
}

/// One dense layer: tensor names and sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layer {
    pub(crate) weight: String,
    pub(crate) bias: String,
    pub(crate) inputs: usize,
    pub(crate) outputs: usize,
}

impl ModelSpec {
    /// The dense layers, input side first.
    pub(crate) fn layers(&self) -> Vec<Layer> {
        let out = self.task.outputs();
        let named = |name: String, inputs, outputs| Layer {
            weight: format!("{name}.weight"),
            bias: format!("{name}.bias"),
            inputs,
            outputs,
        };
        match &self.arch {
            Arch::Logreg => vec![named("linear".into(), self.n_features, out)],
            Arch::Mlp { hidden, .. } => {
                let mut widths = vec![self.n_features];
                widths.extend(hidden);
                widths.push(out);
                widths
                    .windows(2)
                    .enumerate()
                    .map(|(i, w)| named(format!("l{}", i + 1), w[0], w[1]))
                    .collect()
            }
        }
    }

    /// The tensors this model declares: `(name, shape)`, layer by layer, weight then bias. A
    /// model file must hold exactly these.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.layers()
            .into_iter()
            .flat_map(|l| {
                [
                    (l.weight, vec![l.outputs, l.inputs]),
                    (l.bias, vec![l.outputs]),
                ]
            })
            .collect()
    }

    /// Total number of weights.
    pub fn parameter_count(&self) -> usize {
        self.layers()
            .iter()
            .map(|l| (l.inputs + 1) * l.outputs)
            .sum()
    }

    /// Checks the model can be built: every width in range, dropout in `[0, 1)`.
    pub fn validate(&self) -> Result<()> {
        self.task.validate()?;
        if !(1..=MAX_WIDTH).contains(&self.n_features) {
            return Err(invalid(
                "n_features",
                format!("is {}; must be 1 to {MAX_WIDTH}", self.n_features),
            ));
        }
        if let Arch::Mlp {
            hidden, dropout, ..
        } = &self.arch
        {
            if !(1..=MAX_HIDDEN_LAYERS).contains(&hidden.len()) {
                return Err(invalid(
                    "arch.hidden",
                    format!(
                        "has {} layers; an MLP has 1 to {MAX_HIDDEN_LAYERS}",
                        hidden.len()
                    ),
                ));
            }
            if let Some(w) = hidden.iter().find(|w| !(1..=MAX_WIDTH).contains(*w)) {
                return Err(invalid(
                    "arch.hidden",
                    format!("has a layer of width {w}; widths are 1 to {MAX_WIDTH}"),
                ));
            }
            if !(dropout.is_finite() && (0.0..1.0).contains(dropout)) {
                return Err(invalid(
                    "arch.dropout",
                    format!("is {dropout}; must be at least 0 and below 1"),
                ));
            }
        }
        Ok(())
    }
}

/// How the learning rate changes over the epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The same rate every epoch.
    Constant,
    /// Multiplied by `gamma` every `every` epochs.
    Step {
        /// Epochs between reductions (at least 1).
        every: usize,
        /// Factor, in (0, 1].
        gamma: f64,
    },
    /// Cosine annealing from the base rate down to `floor` times it at the last epoch.
    Cosine {
        /// Fraction of the base rate reached at the end, in [0, 1].
        floor: f64,
    },
}

impl Schedule {
    /// The learning rate for `epoch` (1-based) of `epochs`, after `warmup` epochs of linear
    /// warm-up (epoch `k <= warmup` uses `base * k / (warmup + 1)`).
    pub fn rate(&self, base: f64, epoch: usize, epochs: usize, warmup: usize) -> f64 {
        if epoch <= warmup {
            return base * epoch as f64 / (warmup + 1) as f64;
        }
        let e = epoch - warmup; // 1-based epoch after warm-up
        let span = epochs.saturating_sub(warmup).max(1);
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => {
                base * gamma.powi(((e - 1) / every.max(1)).min(i32::MAX as usize) as i32)
            }
            Schedule::Cosine { floor } => {
                let progress = if span == 1 {
                    0.0
                } else {
                    (e - 1) as f64 / (span - 1) as f64
                };
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                base * (floor + (1.0 - floor) * cos)
            }
        }
    }
}

/// How much each class's rows weigh in the loss (classification only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClassWeights {
    /// Every row weighs 1.
    Uniform,
    /// Class `c` weighs `n / (classes * n_c)` over the training split, as scikit-learn's
    /// `class_weight="balanced"`: the rare class counts as much as the common one.
    Balanced,
    /// One weight per class (finite, > 0), in class order.
    Explicit {
        /// The weights.
        weights: Vec<f64>,
    },
}

/// Stop when the validation loss has not improved for `patience` epochs; keep the weights of
/// the best epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping (at least 1).
    pub patience: usize,
    /// Smallest decrease of the validation loss that counts as an improvement (>= 0).
    pub min_delta: f64,
}

/// Settings for [`train`](crate::train).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// What to predict.
    pub task: Task,
    /// Model architecture.
    pub arch: Arch,
    /// Most passes over the training rows (at least 1).
    pub epochs: usize,
    /// Rows per optimizer step (at least 1).
    pub batch_size: usize,
    /// AdamW base learning rate (finite, > 0).
    pub learning_rate: f64,
    /// How the learning rate changes per epoch.
    pub schedule: Schedule,
    /// Epochs of linear learning-rate warm-up before the schedule (0 for none).
    pub warmup_epochs: usize,
    /// AdamW decoupled weight decay (finite, >= 0).
    pub weight_decay: f64,
    /// Loss weight per class.
    pub class_weights: ClassWeights,
    /// Early stopping on the validation split (`None`: train every epoch).
    pub early_stopping: Option<EarlyStopping>,
    /// Emit a checkpoint every this many epochs (`None`: none).
    pub checkpoint_every: Option<usize>,
    /// Seed for the splits, initial weights, minibatch order and dropout.
    pub seed: u64,
    /// Fraction of rows held out for the final (test) metrics that gates check, in (0, 1).
    pub holdout_fraction: f64,
    /// Fraction of rows set aside for per-epoch validation and early stopping, in (0, 1);
    /// holdout and validation together must leave rows to train on.
    pub validation_fraction: f64,
}

impl Default for TrainConfig {
    /// Binary logistic regression, 30 epochs of batches of 64, AdamW at a constant 0.05
    /// without weight decay, uniform class weights, no early stopping, seed 42, 20% holdout,
    /// 10% validation.
    ///
    /// 0.05 rather than the usual 0.01: on a few hundred rows (5 steps an epoch) 0.01 leaves a
    /// logistic regression far from converged after 30 epochs, and an MLP still trains stably
    /// at 0.05.
    fn default() -> Self {
        Self {
            task: Task::Binary,
            arch: Arch::Logreg,
            epochs: 30,
            batch_size: 64,
            learning_rate: 0.05,
            schedule: Schedule::Constant,
            warmup_epochs: 0,
            weight_decay: 0.0,
            class_weights: ClassWeights::Uniform,
            early_stopping: None,
            checkpoint_every: None,
            seed: 42,
            holdout_fraction: 0.2,
            validation_fraction: 0.1,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field,
        reason: reason.into(),
    }
}

impl TrainConfig {
    /// The spec of the model this config trains on `n_features` inputs.
    pub fn spec(&self, n_features: usize) -> ModelSpec {
        ModelSpec {
            task: self.task,
            arch: self.arch.clone(),
            n_features,
        }
    }

    /// Checks every field is in range; the error names the first bad field.
    pub fn validate(&self) -> Result<()> {
        self.spec(1).validate()?;
        if self.epochs == 0 {
            return Err(invalid("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(invalid("batch_size", "must be at least 1"));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(invalid(
                "learning_rate",
                "must be finite and greater than 0",
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(invalid("weight_decay", "must be finite and at least 0"));
        }
        match self.schedule {
            Schedule::Constant => {}
            Schedule::Step { every, gamma } => {
                if every == 0 {
                    return Err(invalid("schedule.every", "must be at least 1"));
                }
                if !(gamma > 0.0 && gamma <= 1.0) {
                    return Err(invalid("schedule.gamma", "must be in (0, 1]"));
                }
            }
            Schedule::Cosine { floor } => {
                if !(0.0..=1.0).contains(&floor) {
                    return Err(invalid("schedule.floor", "must be in [0, 1]"));
                }
            }
        }
        if self.warmup_epochs >= self.epochs {
            return Err(invalid(
                "warmup_epochs",
                "must be fewer than epochs (warm-up is part of training)",
            ));
        }
        match (&self.class_weights, self.task) {
            (ClassWeights::Uniform, _) => {}
            (_, Task::Regression) => {
                return Err(invalid(
                    "class_weights",
                    "apply to classification only; a regression has no classes",
                ));
            }
            (ClassWeights::Balanced, _) => {}
            (ClassWeights::Explicit { weights }, task) => {
                let classes = task.outputs().max(2);
                if weights.len() != classes {
                    return Err(invalid(
                        "class_weights",
                        format!("has {} weights for {classes} classes", weights.len()),
                    ));
                }
                if !weights.iter().all(|w| w.is_finite() && *w > 0.0) {
                    return Err(invalid("class_weights", "must all be finite and above 0"));
                }
            }
        }
        if let Some(es) = &self.early_stopping {
            if es.patience == 0 {
                return Err(invalid("early_stopping.patience", "must be at least 1"));
            }
            if !(es.min_delta.is_finite() && es.min_delta >= 0.0) {
                return Err(invalid(
                    "early_stopping.min_delta",
                    "must be finite and at least 0",
                ));
            }
        }
        if self.checkpoint_every == Some(0) {
            return Err(invalid("checkpoint_every", "must be at least 1"));
        }
        for (field, f) in [
            ("holdout_fraction", self.holdout_fraction),
            ("validation_fraction", self.validation_fraction),
        ] {
            if !(f > 0.0 && f < 1.0) {
                return Err(invalid(field, "must be strictly between 0 and 1"));
            }
        }
        if self.holdout_fraction + self.validation_fraction >= 0.9 {
            return Err(invalid(
                "validation_fraction",
                "with holdout_fraction leaves under 10% of rows to train on",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn tensor_shapes_follow_the_layers() {
        let spec = ModelSpec {
            task: Task::Multiclass { classes: 3 },
            arch: Arch::mlp(&[8, 4]),
            n_features: 5,
        };
        let shapes = spec.tensor_shapes();
        let want: Vec<(String, Vec<usize>)> = vec![
            ("l1.weight".into(), vec![8, 5]),
            ("l1.bias".into(), vec![8]),
            ("l2.weight".into(), vec![4, 8]),
            ("l2.bias".into(), vec![4]),
            ("l3.weight".into(), vec![3, 4]),
            ("l3.bias".into(), vec![3]),
        ];
        assert_eq!(shapes, want);
        assert_eq!(spec.parameter_count(), 6 * 8 + 9 * 4 + 5 * 3);
        let lr = ModelSpec {
            task: Task::Binary,
            arch: Arch::Logreg,
            n_features: 3,
        };
        assert_eq!(
            lr.tensor_shapes(),
            [
                ("linear.weight".to_owned(), vec![1, 3]),
                ("linear.bias".to_owned(), vec![1])
            ]
        );
    }

    #[test]
    fn serde_forms_are_tagged() {
        let json = serde_json::to_string(&Arch::mlp(&[8])).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"mlp","hidden":[8],"activation":"relu","dropout":0.0}"#
        );
        assert_eq!(
            serde_json::from_str::<Arch>(r#"{"kind":"logreg"}"#).unwrap(),
            Arch::Logreg
        );
        assert_eq!(
            serde_json::to_string(&Task::Multiclass { classes: 4 }).unwrap(),
            r#"{"kind":"multiclass","classes":4}"#
        );
        let extra = r#"{"kind":"mlp","hidden":[1],"activation":"relu","dropout":0.0,"x":1}"#;
        assert!(serde_json::from_str::<Arch>(extra).is_err());
    }

    #[test]
    fn schedules_give_the_documented_rates() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(Schedule::Constant.rate(0.1, 7, 10, 0), 0.1));
        let step = Schedule::Step {
            every: 2,
            gamma: 0.5,
        };
        let rates: Vec<f64> = (1..=5).map(|e| step.rate(1.0, e, 5, 0)).collect();
        assert_eq!(rates, [1.0, 1.0, 0.5, 0.5, 0.25]);
        let cos = Schedule::Cosine { floor: 0.1 };
        assert!(close(cos.rate(1.0, 1, 5, 0), 1.0));
        assert!(close(cos.rate(1.0, 3, 5, 0), 0.55));
        assert!(close(cos.rate(1.0, 5, 5, 0), 0.1));
        // Two warm-up epochs: 1/3 and 2/3 of the base, then the schedule from its start.
        assert!(close(cos.rate(0.3, 1, 6, 2), 0.1));
        assert!(close(cos.rate(0.3, 2, 6, 2), 0.2));
        assert!(close(cos.rate(0.3, 3, 6, 2), 0.3));
    }

    #[test]
    fn config_fields_validated() {
        assert!(TrainConfig::default().validate().is_ok());
        type Spoil = fn(&mut TrainConfig);
        let cases: [(&str, Spoil); 16] = [
            ("epochs", |c| c.epochs = 0),
            ("batch_size", |c| c.batch_size = 0),
            ("learning_rate", |c| c.learning_rate = f64::NAN),
            ("weight_decay", |c| c.weight_decay = -1.0),
            ("holdout_fraction", |c| c.holdout_fraction = 1.0),
            ("validation_fraction", |c| c.validation_fraction = 0.0),
            ("validation_fraction", |c| c.validation_fraction = 0.75),
            ("arch.hidden", |c| c.arch = Arch::mlp(&[0])),
            ("arch.hidden", |c| c.arch = Arch::mlp(&[])),
            ("arch.dropout", |c| {
                c.arch = Arch::Mlp {
                    hidden: vec![4],
                    activation: Activation::Tanh,
                    dropout: 1.0,
                }
            }),
            ("task.classes", |c| c.task = Task::Multiclass { classes: 2 }),
            ("schedule.gamma", |c| {
                c.schedule = Schedule::Step {
                    every: 1,
                    gamma: 0.0,
                }
            }),
            ("warmup_epochs", |c| c.warmup_epochs = 30),
            ("class_weights", |c| {
                c.class_weights = ClassWeights::Explicit {
                    weights: vec![1.0, 2.0, 3.0],
                }
            }),
            ("class_weights", |c| {
                c.task = Task::Regression;
                c.class_weights = ClassWeights::Balanced;
            }),
            ("early_stopping.patience", |c| {
                c.early_stopping = Some(EarlyStopping {
                    patience: 0,
                    min_delta: 0.0,
                })
            }),
        ];
        for (name, spoil) in cases {
            let mut cfg = TrainConfig::default();
            spoil(&mut cfg);
            match cfg.validate() {
                Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, name, "{cfg:?}"),
                other => panic!("{name}: expected InvalidConfig, got {other:?}"),
            }
        }
    }
}
