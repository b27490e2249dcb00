//! `airlock train`: its options, and the handler that calls `airlock::ops::train::train`.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::json;

use airlock::error::{Error, Result, exit};
use airlock::node::home::Home;
use airlock::ops::train;
use airlock_runtime::{
    Activation, Arch, ClassWeights, DeviceChoice, EarlyStopping, Schedule, Task, TrainConfig,
};

use crate::cli::output::Out;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ModelKind {
    /// A linear model (logistic, softmax or linear regression, by task).
    Logreg,
    /// A multi-layer perceptron (--hidden, --activation, --dropout).
    Mlp,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum TaskKind {
    /// Two classes: the feature set's positive label value against the rest.
    Binary,
    /// Three or more classes: the label column's categories (or its values).
    Multiclass,
    /// A number: an integer or float label column.
    Regression,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ActivationKind {
    /// max(x, 0).
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// GELU (tanh approximation).
    Gelu,
    /// x * sigmoid(x).
    Silu,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ScheduleKind {
    /// The same learning rate every epoch.
    Constant,
    /// Multiplied by --lr-gamma every --lr-step epochs.
    Step,
    /// Cosine annealing down to --lr-floor times the rate at the last epoch.
    Cosine,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Training runs in a separate worker process, sandboxed before it reads \
any data: no network, no access to keys, the vault or serving logs, no core dumps. What the \
host could not apply is printed and recorded in the signed run record. The same data, feature \
set, settings and seed give bit-identical weights on the CPU.\n\nExamples:\n  \
airlock train --dataset credit --features credit-features --model logreg\n  \
airlock train --dataset credit --features credit-features --model mlp --hidden 64,32 \\\n    \
--dropout 0.1 --class-weights balanced --early-stopping 5 --slice-by purpose"
)]
pub(crate) struct TrainArgs {
    /// Dataset, [SITE/]NAME[@VERSION].
    #[arg(long)]
    dataset: String,
    /// Feature set, [SITE/]NAME[@VERSION].
    #[arg(long)]
    features: String,
    /// Model architecture.
    #[arg(long, value_enum)]
    model: ModelKind,
    /// What to predict.
    #[arg(long, value_enum, default_value = "binary")]
    task: TaskKind,
    /// Hidden layer widths of an MLP, input side first, comma-separated (1 to 8 layers).
    #[arg(long, value_delimiter = ',', default_value = "16")]
    hidden: Vec<usize>,
    /// Non-linearity after each hidden layer (mlp).
    #[arg(long, value_enum, default_value = "relu")]
    activation: ActivationKind,
    /// Dropout probability on hidden units while training, 0 to below 1 (mlp).
    #[arg(long, default_value_t = 0.0)]
    dropout: f64,
    /// Random seed: same data, features, settings and seed give the same model.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Most passes over the training split.
    #[arg(long)]
    epochs: Option<usize>,
    /// Rows per optimisation step.
    #[arg(long)]
    batch_size: Option<usize>,
    /// AdamW base learning rate.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// How the learning rate changes over epochs.
    #[arg(long, value_enum, default_value = "constant")]
    schedule: ScheduleKind,
    /// Step schedule: epochs between reductions.
    #[arg(long, default_value_t = 10)]
    lr_step: usize,
    /// Step schedule: factor applied at each reduction.
    #[arg(long, default_value_t = 0.5)]
    lr_gamma: f64,
    /// Cosine schedule: final rate as a fraction of the base rate.
    #[arg(long, default_value_t = 0.0)]
    lr_floor: f64,
    /// Epochs of linear warm-up before the schedule.
    #[arg(long, default_value_t = 0)]
    warmup_epochs: usize,
    /// Loss weight per class: `uniform`, `balanced` (inverse class frequency), or one
    /// weight per class in class order, e.g. `1,5`.
    #[arg(long, default_value = "uniform")]
    class_weights: String,
    /// Stop when the validation loss has not improved for this many epochs, keeping the best
    /// epoch's weights.
    #[arg(long)]
    early_stopping: Option<usize>,
    /// Fraction of rows held out for the final metrics that gates check.
    #[arg(long, default_value_t = 0.2)]
    holdout: f64,
    /// Fraction of rows for per-epoch validation and early stopping.
    #[arg(long, default_value_t = 0.1)]
    validation: f64,
    /// Also report every held-out metric per value of this column.
    #[arg(long)]
    slice_by: Option<String>,
    /// Write a checkpoint every N epochs into --checkpoint-dir.
    #[arg(long, requires = "checkpoint_dir")]
    checkpoint_every: Option<usize>,
    /// Folder for checkpoints (epoch-NNNN.safetensors, each validated).
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Where to train: auto (a GPU when the GPU worker and a GPU are present, else the CPU),
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Model name (default DATASET-MODEL).
    #[arg(long)]
    name: Option<String>,
}

pub(crate) fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    let defaults = TrainConfig::default();
    let class_weights = match a.class_weights.as_str() {
        "uniform" => ClassWeights::Uniform,
        "balanced" => ClassWeights::Balanced,
        list => ClassWeights::Explicit {
            weights: list
                .split(',')
                .map(|w| w.trim().parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    Error::Rejected(format!(
                        "--class-weights {list:?}: write uniform, balanced or numbers like 1,5"
                    ))
                })?,
        },
    };
    Ok(TrainConfig {
        task: match a.task {
            TaskKind::Binary => Task::Binary,
            // The class count is read from the data.
            TaskKind::Multiclass => Task::Multiclass { classes: 3 },
            TaskKind::Regression => Task::Regression,
        },
        arch: match a.model {
            ModelKind::Logreg => Arch::Logreg,
            ModelKind::Mlp => Arch::Mlp {
                hidden: a.hidden.clone(),
                activation: match a.activation {
                    ActivationKind::Relu => Activation::Relu,
                    ActivationKind::Tanh => Activation::Tanh,
                    ActivationKind::Gelu => Activation::Gelu,
                    ActivationKind::Silu => Activation::Silu,
                },
                dropout: a.dropout,
            },
        },
        epochs: a.epochs.unwrap_or(defaults.epochs),
        batch_size: a.batch_size.unwrap_or(defaults.batch_size),
        learning_rate: a.learning_rate.unwrap_or(defaults.learning_rate),
        schedule: match a.schedule {
            ScheduleKind::Constant => Schedule::Constant,
            ScheduleKind::Step => Schedule::Step {
                every: a.lr_step,
                gamma: a.lr_gamma,
            },
            ScheduleKind::Cosine => Schedule::Cosine { floor: a.lr_floor },
        },
        warmup_epochs: a.warmup_epochs,
        weight_decay: a.weight_decay,
        class_weights,
        early_stopping: a.early_stopping.map(|patience| EarlyStopping {
            patience,
            min_delta: 0.0,
        }),
        checkpoint_every: a.checkpoint_every,
        seed: a.seed,
        holdout_fraction: a.holdout,
        validation_fraction: a.validation,
    })
}

pub(crate) fn train(home_dir: &Path, out: Out, a: TrainArgs) -> Result<i32> {
    let config = train_config(&a)?;
    // Settings are checked before the home is opened or any data read; the class count of a
    // multiclass task is checked again once the data is known.
    config.validate()?;
    let device: DeviceChoice = a.device.parse()?;
    let mut home = Home::open(home_dir)?;
    let req = train::TrainRequest {
        dataset: a.dataset.parse()?,
        features: a.features.parse()?,
        name: a.name,
        config,
        device,
        slice_column: a.slice_by,
        checkpoints: a.checkpoint_dir,
    };
    let bar = out.bar(req.config.epochs as u64, "training", false);
    let result = train::train(&mut home, &req, &mut |e| {
        bar.set_position(e.epoch as u64);
        bar.set_message(format!(
            "epoch {} loss {:.4} val {:.4} {:.0} rows/s",
            e.epoch, e.train_loss, e.validation_score, e.rows_per_second
        ));
    });
    bar.finish_and_clear();
    let (id, run) = result?;
    let said = train::outcome(&id, &run);
    for w in &said.warnings {
        out.warn(w);
    }
    if let Some(note) = &said.note {
        out.note(note);
    }
    let v = json!({ "id": id.hex(), "name": run.name, "task": run.spec.task.name(), "arch": run.spec.arch.name(),
                    "feature_set": run.feature_set_ref, "device": run.device, "best_epoch": run.best_epoch,
                    "stopped_early": run.stopped_early, "metrics": run.metrics,
                    "sandbox": run.sandbox });
    out.emit(&v, |_| {
        for line in &said.lines {
            out.line(line);
        }
    });
    Ok(exit::OK)
}
