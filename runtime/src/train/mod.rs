//! [`train`]: deterministic minibatch training with candle and AdamW.

use std::collections::BTreeMap;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use crate::config::{Arch, ClassWeights, ModelSpec, Task, TrainConfig};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::metrics::{Metrics, check_labels, evaluate, evaluate_slices};
use crate::model::{Dropout, Model, Outputs, forward, host, link};
use crate::rng::{SplitMix64, Stream};

mod cpu;

/// Progress after one epoch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EpochReport {
    /// Epoch number, starting at 1.
    pub epoch: usize,
    /// Learning rate used this epoch.
    pub learning_rate: f64,
    /// Mean training loss over the epoch's minibatches, weighted by rows.
    pub train_loss: f64,
    /// Loss on the validation rows after the epoch (what early stopping watches).
    pub validation_loss: f64,
    /// The task's validation score after the epoch ([`Task::score_name`]: ROC AUC, accuracy
    /// or RMSE).
    pub validation_score: f64,
    /// Training rows processed per second of optimisation this epoch (wall clock; the only
    /// non-reproducible number in training).
    pub rows_per_second: f64,
}

/// What [`train`] tells its caller while it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// An epoch finished.
    Epoch(&'a EpochReport),
    /// A checkpoint is due (every [`TrainConfig::checkpoint_every`] epochs): the model as it
    /// stands after `epoch`.
    Checkpoint {
        /// The epoch just finished.
        epoch: usize,
        /// The weights after it.
        model: &'a Model,
    },
}

/// How the rows were split.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Rows trained on.
    pub train: usize,
    /// Rows for per-epoch validation and early stopping.
    pub validation: usize,
    /// Rows held out for the final metrics.
    pub holdout: usize,
}

/// Metrics of the final model on each split, and per slice of the holdout.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    /// On the holdout rows (what gates check).
    pub holdout: Metrics,
    /// On the validation rows.
    pub validation: Metrics,
    /// On the training rows.
    pub train: Metrics,
    /// On the holdout rows, per slice key (empty when no slices were given).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub holdout_slices: BTreeMap<String, Metrics>,
}

/// Everything [`train`] produces.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The trained model (the best epoch's weights under early stopping).
    pub model: Model,
    /// Its metrics.
    pub evaluation: Evaluation,
    /// One report per epoch run.
    pub history: Vec<EpochReport>,
    /// Split sizes.
    pub split: Split,
    /// The epoch whose weights the model holds.
    pub best_epoch: usize,
    /// Whether early stopping ended training before the last epoch.
    pub stopped_early: bool,
    /// The loss weight of each class as applied (empty for regression).
    pub class_weights: Vec<f64>,
}

/// What to train on: features, one label per row, optionally one slice key per row.
#[derive(Clone, Copy, Debug)]
pub struct TrainData<'a> {
    /// Features.
    pub x: &'a Matrix,
    /// Labels: 0/1 (binary), class index (multiclass) or value (regression).
    pub labels: &'a [f32],
    /// Slice key of each row (e.g. the raw value of a column), for per-slice holdout metrics.
    pub slices: Option<&'a [String]>,
}

/// Trains a model on `device`.
///
/// Everything random derives from `cfg.seed`, each from its own stream: the splits (a
/// Fisher–Yates shuffle of the row indices: the last `ceil(holdout_fraction * n)` are held out,
/// the `ceil(validation_fraction * n)` before them validate), the initial weights (uniform in
/// ±1/sqrt(fan_in), as PyTorch's `nn.Linear`), each epoch's minibatch order and the dropout
/// masks. On the CPU the same inputs and config give bit-identical weights.
///
/// Losses: binary cross-entropy on logits, softmax cross-entropy, or squared error on the
/// standardised target (the scaling is folded back into the last layer), each a class-weighted
/// mean. AdamW steps at the scheduled rate. `on_event` sees every epoch and checkpoint; an
/// error it returns stops training.
///
/// # Errors
/// [`Error::InvalidConfig`] naming the bad field; [`Error::LengthMismatch`] or
/// [`Error::InvalidLabel`] for bad labels; [`Error::TooFewRows`] below 3 rows;
/// [`Error::Diverged`] if the loss stops being finite.
pub fn train(
    data: TrainData<'_>,
    cfg: &TrainConfig,
    device: &Device,
    on_event: &mut dyn FnMut(Event<'_>) -> Result<()>,
) -> Result<TrainOutcome> {
    let path = if device.is_cpu() {
        Path::Host {
            threads: host::threads(),
        }
    } else {
        Path::Graph
    };
    train_on(data, cfg, device, on_event, path)
}

/// How [`train_on`] optimises.
#[derive(Clone, Copy, Debug)]
enum Path {
    /// The host path ([`cpu`]), on the CPU only, with this many threads.
    Host { threads: usize },
    /// The generic tensor path: candle autograd and `candle_nn::AdamW`, any device.
    Graph,
}

/// [`train`] on `path`.
fn train_on(
    data: TrainData<'_>,
    cfg: &TrainConfig,
    device: &Device,
    on_event: &mut dyn FnMut(Event<'_>) -> Result<()>,
    path: Path,
) -> Result<TrainOutcome> {
    let (x, labels) = (data.x, data.labels);
    cfg.validate()?;
    let spec = cfg.spec(x.cols());
    spec.validate()?;
    if labels.len() != x.rows() {
        return Err(Error::LengthMismatch {
            what: "labels",
            expected: x.rows(),
            found: labels.len(),
        });
    }
    if let Some(keys) = data.slices
        && keys.len() != x.rows()
    {
        return Err(Error::Slices {
            reason: format!("{} keys for {} rows", keys.len(), x.rows()),
        });
    }
    check_labels(cfg.task, labels)?;
    if x.rows() < 3 {
        return Err(Error::TooFewRows {
            what: "train",
            min: 3,
            found: x.rows(),
        });
    }

    let (train_idx, val_idx, holdout_idx) = split(x.rows(), cfg);
    let pick = |idx: &[usize]| idx.iter().map(|&i| labels[i]).collect::<Vec<f32>>();
    let (y_train, y_val, y_holdout) = (pick(&train_idx), pick(&val_idx), pick(&holdout_idx));
    let class_weights = class_weights(cfg, &y_train);
    // Regression trains on the standardised target; the scale is folded back at the end.
    let scale = match cfg.task {
        Task::Regression => target_scale(&y_train),
        _ => (0.0, 1.0),
    };
    let x_val = x.select_rows(&val_idx)?.to_device(device)?;
    let val_targets = Targets::new(cfg.task, &y_val, scale, &class_weights, device)?;

    let mut trainer = if let Path::Host { threads } = path {
        let (targets, weights) = host_targets(cfg.task, &y_train, scale, &class_weights);
        Trainer::Cpu(Box::new(cpu::CpuTrainer::new(
            &spec,
            x,
            &train_idx,
            targets,
            weights,
            init_values(&spec, cfg.seed),
            cfg.learning_rate,
            cfg.weight_decay,
            threads,
        )))
    } else {
        Trainer::Graph(Box::new(GraphTrainer::new(
            &spec,
            cfg,
            x.select_rows(&train_idx)?.to_device(device)?,
            Targets::new(cfg.task, &y_train, scale, &class_weights, device)?,
            device,
        )?))
    };
    let dropout_p = match &cfg.arch {
        Arch::Mlp { dropout, .. } if *dropout > 0.0 => Some(*dropout),
        _ => None,
    };

    let mut order: Vec<usize> = (0..train_idx.len()).collect();
    let mut batch_rng = SplitMix64::stream(cfg.seed, Stream::Batches);
    let mut dropout_rng = SplitMix64::stream(cfg.seed, Stream::Dropout);
    let mut history = Vec::with_capacity(cfg.epochs);
    let mut best: Option<(f64, usize, Vec<Tensor>)> = None;
    let mut stale = 0;
    let mut stopped_early = false;
    for epoch in 1..=cfg.epochs {
        let lr = cfg
            .schedule
            .rate(cfg.learning_rate, epoch, cfg.epochs, cfg.warmup_epochs);
        trainer.set_learning_rate(lr);
        let started = Instant::now();
        batch_rng.shuffle(&mut order);
        trainer.epoch(&spec, &order, cfg.batch_size, dropout_p, &mut dropout_rng)?;
        let train_loss = trainer.take_loss_sum()? / train_idx.len() as f64;
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        if !train_loss.is_finite() {
            return Err(Error::Diverged { epoch });
        }
        let params = trainer.params()?;
        let val_raw = forward(&spec, &params, &x_val, None)?;
        let validation_loss = f64::from(val_targets.loss(&val_raw, None)?.to_scalar::<f32>()?);
        if !validation_loss.is_finite() {
            return Err(Error::Diverged { epoch });
        }
        let val_metrics = evaluate(&checked(&spec, &val_raw, scale, epoch)?, &y_val)?;
        let report = EpochReport {
            epoch,
            learning_rate: lr,
            train_loss,
            validation_loss,
            validation_score: val_metrics.get(cfg.task.score_name()).unwrap_or(f64::NAN),
            rows_per_second: train_idx.len() as f64 / seconds,
        };
        on_event(Event::Epoch(&report))?;
        history.push(report);
        if let Some(every) = cfg.checkpoint_every
            && epoch % every == 0
        {
            let model = to_model(&spec, &params, scale)?;
            on_event(Event::Checkpoint {
                epoch,
                model: &model,
            })?;
        }
        if let Some(es) = &cfg.early_stopping {
            let improved = best
                .as_ref()
                .is_none_or(|(b, _, _)| validation_loss < b - es.min_delta);
            if improved {
                // A deep copy: the generic optimizer updates the variables' storage in place.
                let copy = params
                    .iter()
                    .map(Tensor::copy)
                    .collect::<candle_core::Result<_>>()?;
                best = Some((validation_loss, epoch, copy));
                stale = 0;
            } else {
                stale += 1;
                if stale >= es.patience {
                    stopped_early = epoch < cfg.epochs;
                    break;
                }
            }
        }
    }

    let last = history.len();
    let (best_epoch, params) = match best {
        Some((_, epoch, params)) => (epoch, params),
        None => (last, trainer.params()?),
    };
    let model = to_model(&spec, &params, scale)?;
    let score = |idx: &[usize], y: &[f32]| -> Result<(Outputs, Metrics)> {
        let out = model.predict_rows(x, idx).map_err(|e| match e {
            Error::InvalidOutput { .. } => Error::Diverged { epoch: best_epoch },
            other => other,
        })?;
        let m = evaluate(&out, y)?;
        Ok((out, m))
    };
    let (holdout_out, holdout) = score(&holdout_idx, &y_holdout)?;
    let (_, validation) = score(&val_idx, &y_val)?;
    let (_, train_metrics) = score(&train_idx, &y_train)?;
    let holdout_slices = match data.slices {
        Some(keys) => {
            let keys: Vec<String> = holdout_idx.iter().map(|&i| keys[i].clone()).collect();
            evaluate_slices(&holdout_out, &y_holdout, &keys)?
        }
        None => BTreeMap::new(),
    };
    Ok(TrainOutcome {
        model,
        evaluation: Evaluation {
            holdout,
            validation,
            train: train_metrics,
            holdout_slices,
        },
        history,
        split: Split {
            train: train_idx.len(),
            validation: val_idx.len(),
            holdout: holdout_idx.len(),
        },
        best_epoch,
        stopped_early,
        class_weights,
    })
}

/// The (train, validation, holdout) row indices [`train`] uses for `n >= 3` rows under `cfg`,
/// so a caller can check a run's metrics on the same rows.
pub fn split_rows(n: usize, cfg: &TrainConfig) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    split(n, cfg)
}

/// Seeded split of `n >= 3` rows: (train, validation, holdout) indices, each non-empty.
fn split(n: usize, cfg: &TrainConfig) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let mut perm: Vec<usize> = (0..n).collect();
    SplitMix64::stream(cfg.seed, Stream::Split).shuffle(&mut perm);
    let holdout = ((cfg.holdout_fraction * n as f64).ceil() as usize).clamp(1, n - 2);
    let validation =
        ((cfg.validation_fraction * n as f64).ceil() as usize).clamp(1, n - holdout - 1);
    let holdout_idx = perm.split_off(n - holdout);
    let val_idx = perm.split_off(perm.len() - validation);
    (perm, val_idx, holdout_idx)
}

/// The loss weight of each class (empty for regression).
fn class_weights(cfg: &TrainConfig, y: &[f32]) -> Vec<f64> {
    let classes = match cfg.task {
        Task::Regression => return Vec::new(),
        task => task.outputs().max(2),
    };
    match &cfg.class_weights {
        ClassWeights::Uniform => vec![1.0; classes],
        ClassWeights::Explicit { weights } => weights.clone(),
        ClassWeights::Balanced => {
            let mut counts = vec![0usize; classes];
            for &v in y {
                counts[v as usize] += 1;
            }
            // A class absent from the training split gets weight 1 (it contributes nothing).
            counts
                .iter()
                .map(|&c| {
                    if c == 0 {
                        1.0
                    } else {
                        y.len() as f64 / (classes * c) as f64
                    }
                })
                .collect()
        }
    }
}

/// (mean, standard deviation) of a regression target; a constant target keeps scale 1.
fn target_scale(y: &[f32]) -> (f64, f64) {
    let n = y.len() as f64;
    let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = y
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let std = var.sqrt();
    (
        mean,
        if std > 0.0 && std.is_finite() {
            std
        } else {
            1.0
        },
    )
}

/// Per-row targets on the host (0/1 for binary, the class index for multiclass, the
/// standardised value for regression) and per-row loss weights (`None` when all are 1).
fn host_targets(
    task: Task,
    y: &[f32],
    (mean, std): (f64, f64),
    class_weights: &[f64],
) -> (Vec<f32>, Option<Vec<f32>>) {
    let values = match task {
        Task::Regression => y
            .iter()
            .map(|&v| ((f64::from(v) - mean) / std) as f32)
            .collect(),
        _ => y.to_vec(),
    };
    let weights = if class_weights.iter().all(|&w| w == 1.0) {
        None
    } else {
        Some(
            y.iter()
                .map(|&v| class_weights[v as usize] as f32)
                .collect(),
        )
    };
    (values, weights)
}

/// The optimisation state of a run: the host path on the CPU, the generic tensor path
/// elsewhere.
enum Trainer<'a> {
    Cpu(Box<cpu::CpuTrainer<'a>>),
    Graph(Box<GraphTrainer>),
}

impl Trainer<'_> {
    fn set_learning_rate(&mut self, lr: f64) {
        match self {
            Trainer::Cpu(t) => t.set_learning_rate(lr),
            Trainer::Graph(t) => t.optimizer.set_learning_rate(lr),
        }
    }

    /// One optimizer step per minibatch of `batch_size` training rows of `order`, in order,
    /// with dropout `p` masks drawn from `rng`.
    fn epoch(
        &mut self,
        spec: &ModelSpec,
        order: &[usize],
        batch_size: usize,
        p: Option<f64>,
        rng: &mut SplitMix64,
    ) -> Result<()> {
        match self {
            Trainer::Cpu(t) => t.epoch(order, batch_size, p, rng),
            Trainer::Graph(t) => {
                for batch in order.chunks(batch_size) {
                    t.step(spec, batch, p.map(|p| Dropout { p, rng: &mut *rng }))?;
                }
                Ok(())
            }
        }
    }

    /// The sum over the steps since the last call of each batch's loss times its rows.
    fn take_loss_sum(&mut self) -> Result<f64> {
        match self {
            Trainer::Cpu(t) => Ok(t.take_loss_sum()),
            Trainer::Graph(t) => t.take_loss_sum(),
        }
    }

    /// The current weights on the training device, in [`ModelSpec::tensor_shapes`] order.
    fn params(&self) -> Result<Vec<Tensor>> {
        match self {
            Trainer::Cpu(t) => t.params(),
            Trainer::Graph(t) => Ok(t.params()),
        }
    }
}

/// The generic path: candle autograd and `candle_nn::AdamW` on any device.
struct GraphTrainer {
    vars: Vec<Var>,
    optimizer: AdamW,
    /// The training rows `[n, n_features]` on the device.
    x: Tensor,
    targets: Targets,
    /// Summed on the device: reading each batch's loss back would stall a GPU every step.
    loss_sum: Tensor,
}

impl GraphTrainer {
    fn new(
        spec: &ModelSpec,
        cfg: &TrainConfig,
        x: Tensor,
        targets: Targets,
        device: &Device,
    ) -> Result<Self> {
        let vars = init_params(spec, cfg.seed, device)?;
        let optimizer = AdamW::new(
            vars.clone(),
            ParamsAdamW {
                lr: cfg.learning_rate,
                weight_decay: cfg.weight_decay,
                ..ParamsAdamW::default()
            },
        )?;
        Ok(Self {
            vars,
            optimizer,
            x,
            targets,
            loss_sum: Tensor::zeros((), DType::F32, device)?,
        })
    }

    fn params(&self) -> Vec<Tensor> {
        self.vars.iter().map(|v| v.as_tensor().clone()).collect()
    }

    fn step(
        &mut self,
        spec: &ModelSpec,
        batch: &[usize],
        dropout: Option<Dropout<'_>>,
    ) -> Result<()> {
        // i64: candle's index type that holds any row count.
        let index: Vec<i64> = batch.iter().map(|&i| i as i64).collect();
        let index = Tensor::from_vec(index, batch.len(), self.x.device())?;
        let xb = self.x.index_select(&index, 0)?;
        let raw = forward(spec, &self.params(), &xb, dropout)?;
        let loss = self.targets.loss(&raw, Some(&index))?;
        self.optimizer.backward_step(&loss)?;
        self.loss_sum = (&self.loss_sum + loss.detach().affine(batch.len() as f64, 0.0)?)?;
        Ok(())
    }

    fn take_loss_sum(&mut self) -> Result<f64> {
        let sum = f64::from(self.loss_sum.to_scalar::<f32>()?);
        self.loss_sum = self.loss_sum.zeros_like()?;
        Ok(sum)
    }
}

/// Training targets on the device, and the loss against them.
struct Targets {
    task: Task,
    /// Binary `[n, 1]` 0/1; multiclass one-hot `[n, K]`; regression `[n, 1]` standardised.
    y: Tensor,
    /// Per-row loss weights `[n]`, or `None` when all are 1.
    weights: Option<Tensor>,
}

impl Targets {
    fn new(
        task: Task,
        y: &[f32],
        (mean, std): (f64, f64),
        class_weights: &[f64],
        device: &Device,
    ) -> Result<Self> {
        let n = y.len();
        let (values, weights) = host_targets(task, y, (mean, std), class_weights);
        let t = match task {
            Task::Binary | Task::Regression => Tensor::from_vec(values, (n, 1), device)?,
            Task::Multiclass { classes } => {
                let mut one_hot = vec![0f32; n * classes];
                for (i, &v) in values.iter().enumerate() {
                    one_hot[i * classes + v as usize] = 1.0;
                }
                Tensor::from_vec(one_hot, (n, classes), device)?
            }
        };
        let weights = weights
            .map(|w| Tensor::from_vec(w, n, device))
            .transpose()?;
        Ok(Self {
            task,
            y: t,
            weights,
        })
    }

    /// The weighted mean loss of `raw` outputs against the rows `index` of the targets (all
    /// rows when `None`).
    fn loss(&self, raw: &Tensor, index: Option<&Tensor>) -> Result<Tensor> {
        let pick = |t: &Tensor| match index {
            Some(i) => t.index_select(i, 0),
            None => Ok(t.clone()),
        };
        let y = pick(&self.y)?;
        let per_row = match self.task {
            Task::Binary => bce_with_logits(raw, &y)?.squeeze(1)?,
            Task::Multiclass { .. } => {
                let log_p = candle_nn::ops::log_softmax(raw, 1)?;
                (log_p * y)?.sum(1)?.neg()?
            }
            Task::Regression => (raw - y)?.sqr()?.squeeze(1)?,
        };
        Ok(match &self.weights {
            None => per_row.mean_all()?,
            Some(w) => {
                let w = pick(w)?;
                ((per_row * &w)?.sum_all()? / w.sum_all()?)?
            }
        })
    }
}

/// Element-wise binary cross-entropy of `logits` against 0/1 `targets`, both `[rows, 1]`, in
/// the overflow-free form `max(z, 0) - z y + ln(1 + e^-|z|)`.
///
/// candle_nn's `binary_cross_entropy_with_logit` takes `ln(sigmoid(z))`, which is `-inf` once a
/// logit saturates (|z| > ~17 in f32) and turns the loss and gradients into NaN. Here `max(z, 0)`
/// is `z * [z >= 0]` with a constant mask so that, with candle's `d|z|/dz = +1` at 0, the
/// gradient at `z = 0` is the true `sigmoid(0) - y`.
pub(crate) fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let positive = logits.ge(0.0)?.to_dtype(logits.dtype())?.detach();
    let relu = (logits * positive)?;
    let softplus_tail = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    (relu - (logits * targets)?)? + softplus_tail
}

/// The checked outputs of raw (standardised, for regression) outputs; a bad output during
/// training means it diverged.
fn checked(
    spec: &ModelSpec,
    raw: &Tensor,
    (mean, std): (f64, f64),
    epoch: usize,
) -> Result<Outputs> {
    let linked = link(spec.task, raw)?;
    let linked = match spec.task {
        Task::Regression => linked.affine(std, mean)?,
        _ => linked,
    };
    let values = linked.flatten_all()?.to_vec1::<f32>()?;
    Outputs::check(spec.task, spec.task.outputs(), values).map_err(|e| match e {
        Error::InvalidOutput { .. } => Error::Diverged { epoch },
        other => other,
    })
}

/// A [`Model`] on the CPU from trained parameters, with a regression's target scale folded
/// into the last layer (`y = std * z + mean`).
fn to_model(spec: &ModelSpec, params: &[Tensor], (mean, std): (f64, f64)) -> Result<Model> {
    let mut values = params
        .iter()
        .map(|t| t.flatten_all()?.to_vec1::<f32>())
        .collect::<candle_core::Result<Vec<_>>>()?;
    if spec.task == Task::Regression {
        let n = values.len();
        for w in &mut values[n - 2] {
            *w = (f64::from(*w) * std) as f32;
        }
        for b in &mut values[n - 1] {
            *b = (f64::from(*b) * std + mean) as f32;
        }
    }
    Model::from_values(spec.clone(), values)
}

/// Initial weights as trainable variables, in [`ModelSpec::tensor_shapes`] order. Every tensor
/// of a layer (weight and bias) is uniform in ±1/sqrt(fan_in), PyTorch's `nn.Linear` default.
fn init_params(spec: &ModelSpec, seed: u64, device: &Device) -> Result<Vec<Var>> {
    spec.tensor_shapes()
        .into_iter()
        .zip(init_values(spec, seed))
        .map(|((_, shape), values)| {
            Ok(Var::from_tensor(&Tensor::from_vec(values, shape, device)?)?)
        })
        .collect()
}

/// The values of [`init_params`], one buffer per tensor.
fn init_values(spec: &ModelSpec, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64::stream(seed, Stream::Init);
    let mut values = Vec::new();
    for layer in spec.layers() {
        let bound = 1.0 / (layer.inputs as f64).sqrt();
        for count in [layer.outputs * layer.inputs, layer.outputs] {
            values.push(
                (0..count)
                    .map(|_| rng.uniform(-bound, bound) as f32)
                    .collect(),
            );
        }
    }
    values
}

#[cfg(test)]
mod tests;
