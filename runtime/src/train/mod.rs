//! [`train`]: deterministic minibatch training on the CPU with candle and AdamW.

use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use crate::config::{Arch, TrainConfig};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::metrics::{Metrics, check_labels, evaluate};
use crate::model::{Model, forward, probabilities};
use crate::rng::{SplitMix64, Stream};

/// Progress after one epoch, passed to the `on_epoch` callback of [`train`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochReport {
    /// Epoch number, starting at 1.
    pub epoch: usize,
    /// Mean training loss (binary cross-entropy) over the epoch's minibatches, weighted by rows.
    pub train_loss: f64,
    /// Log loss on the holdout rows after the epoch.
    pub holdout_loss: f64,
    /// ROC AUC on the holdout rows after the epoch.
    pub holdout_auc: f64,
    /// Training rows processed per second of optimisation this epoch (wall clock; the only
    /// non-reproducible number in training).
    pub rows_per_second: f64,
}

/// Everything [`train`] produces.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The trained model.
    pub model: Model,
    /// Final metrics on the holdout rows.
    pub holdout: Metrics,
    /// Final metrics on the training rows.
    pub train: Metrics,
    /// One report per epoch, as passed to `on_epoch`.
    pub history: Vec<EpochReport>,
    /// Rows trained on.
    pub train_rows: usize,
    /// Rows held out.
    pub holdout_rows: usize,
}

/// Trains a binary classifier on the CPU.
///
/// `labels[i]` (0.0 or 1.0) belongs to row `i` of `x`. Everything random derives from
/// `cfg.seed`, each from its own stream: the holdout split (a Fisher–Yates shuffle of the row
/// indices whose last `ceil(holdout_fraction * n)` entries, clamped to `1..=n-1`, are held out),
/// the initial weights (uniform in ±1/sqrt(fan_in), as PyTorch's `nn.Linear`), and each epoch's
/// minibatch order. The same inputs and config give bit-identical weights.
///
/// Loss is binary cross-entropy on logits, optimised with AdamW. `on_epoch` is called after
/// every epoch.
///
/// # Errors
/// [`Error::InvalidConfig`] naming the bad field; [`Error::LengthMismatch`] or
/// [`Error::InvalidLabel`] for bad labels; [`Error::TooFewRows`] below 2 rows (one to train, one
/// to hold out); [`Error::Diverged`] if the loss stops being finite.
pub fn train(
    x: &Matrix,
    labels: &[f32],
    cfg: &TrainConfig,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<TrainOutcome> {
    cfg.validate()?;
    if labels.len() != x.rows() {
        return Err(Error::LengthMismatch {
            what: "labels",
            expected: x.rows(),
            found: labels.len(),
        });
    }
    check_labels(labels)?;
    if x.rows() < 2 {
        return Err(Error::TooFewRows {
            what: "train",
            min: 2,
            found: x.rows(),
        });
    }

    let (train_idx, holdout_idx) = split(x.rows(), cfg.holdout_fraction, cfg.seed);
    let pick = |idx: &[usize]| idx.iter().map(|&i| labels[i]).collect::<Vec<f32>>();
    let (y_train, y_holdout) = (pick(&train_idx), pick(&holdout_idx));
    let x_train = x.select_rows(&train_idx)?;
    let x_holdout = x.select_rows(&holdout_idx)?;
    let y_train_t = Tensor::from_slice(&y_train, (y_train.len(), 1), &Device::Cpu)?;

    let vars = init_params(cfg.arch, x.cols(), cfg.seed)?;
    let params = ParamsAdamW {
        lr: cfg.learning_rate,
        weight_decay: cfg.weight_decay,
        ..ParamsAdamW::default()
    };
    let mut optimizer = AdamW::new(vars.clone(), params)?;
    let snapshot = || {
        vars.iter()
            .map(|v| v.as_tensor().clone())
            .collect::<Vec<_>>()
    };

    // i64: candle's index type that holds any row count.
    let mut order: Vec<i64> = (0..train_idx.len() as i64).collect();
    let mut batch_rng = SplitMix64::stream(cfg.seed, Stream::Batches);
    let mut history = Vec::with_capacity(cfg.epochs);
    for epoch in 1..=cfg.epochs {
        let started = Instant::now();
        batch_rng.shuffle(&mut order);
        let mut loss_sum = 0.0;
        for batch in order.chunks(cfg.batch_size) {
            let index = Tensor::from_slice(batch, batch.len(), &Device::Cpu)?;
            let xb = x_train.index_select(&index, 0)?;
            let yb = y_train_t.index_select(&index, 0)?;
            let loss = bce_with_logits(&forward(cfg.arch, &snapshot(), &xb)?, &yb)?;
            optimizer.backward_step(&loss)?;
            loss_sum += f64::from(loss.to_scalar::<f32>()?) * batch.len() as f64;
        }
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        let train_loss = loss_sum / train_idx.len() as f64;
        if !train_loss.is_finite() {
            return Err(Error::Diverged { epoch });
        }
        let holdout = evaluate_on(cfg.arch, &snapshot(), &x_holdout, &y_holdout, epoch)?;
        let report = EpochReport {
            epoch,
            train_loss,
            holdout_loss: holdout.log_loss,
            holdout_auc: holdout.roc_auc,
            rows_per_second: train_idx.len() as f64 / seconds,
        };
        on_epoch(&report);
        history.push(report);
    }

    let params = snapshot();
    let holdout = evaluate_on(cfg.arch, &params, &x_holdout, &y_holdout, cfg.epochs)?;
    let train = evaluate_on(cfg.arch, &params, &x_train, &y_train, cfg.epochs)?;
    let values = params
        .iter()
        .map(|t| t.flatten_all()?.to_vec1::<f32>())
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok(TrainOutcome {
        model: Model::from_values(cfg.arch, x.cols(), values)?,
        holdout,
        train,
        history,
        train_rows: train_idx.len(),
        holdout_rows: holdout_idx.len(),
    })
}

/// Seeded holdout split of `n >= 2` rows: (train, holdout) indices.
fn split(n: usize, holdout_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut perm: Vec<usize> = (0..n).collect();
    SplitMix64::stream(seed, Stream::Split).shuffle(&mut perm);
    let holdout = ((holdout_fraction * n as f64).ceil() as usize).clamp(1, n - 1);
    let holdout_idx = perm.split_off(n - holdout);
    (perm, holdout_idx)
}

/// Initial weights as trainable variables, in [`Arch::tensor_shapes`] order. Every tensor of a
/// layer (weight and bias) is uniform in ±1/sqrt(fan_in), PyTorch's `nn.Linear` default.
fn init_params(arch: Arch, n_features: usize, seed: u64) -> Result<Vec<Var>> {
    let mut rng = SplitMix64::stream(seed, Stream::Init);
    let mut vars = Vec::new();
    for (name, shape) in arch.tensor_shapes(n_features) {
        let fan_in = match (arch, name.as_str()) {
            (Arch::Mlp { hidden }, n) if n.starts_with("l2.") => hidden,
            _ => n_features,
        };
        let bound = 1.0 / (fan_in as f64).sqrt();
        let count = shape.iter().product();
        let values: Vec<f32> = (0..count)
            .map(|_| rng.uniform(-bound, bound) as f32)
            .collect();
        vars.push(Var::from_tensor(&Tensor::from_vec(
            values,
            shape,
            &Device::Cpu,
        )?)?);
    }
    Ok(vars)
}

/// Mean binary cross-entropy of `logits` against 0/1 `targets`, both `[rows, 1]`, in the
/// overflow-free form `max(z, 0) - z y + ln(1 + e^-|z|)`.
///
/// candle_nn's `binary_cross_entropy_with_logit` takes `ln(sigmoid(z))`, which is `-inf` once a
/// logit saturates (|z| > ~17 in f32) and turns the loss and gradients into NaN. Here `max(z, 0)`
/// is `z * [z >= 0]` with a constant mask so that, with candle's `d|z|/dz = +1` at 0, the
/// gradient at `z = 0` is the true `sigmoid(0) - y`.
fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let positive = logits.ge(0.0)?.to_dtype(logits.dtype())?.detach();
    let relu = (logits * positive)?;
    let softplus_tail = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    ((relu - (logits * targets)?)? + softplus_tail)?.mean_all()
}

/// Metrics of the model `params` on `x`; a non-finite output means training diverged.
fn evaluate_on(
    arch: Arch,
    params: &[Tensor],
    x: &Tensor,
    y: &[f32],
    epoch: usize,
) -> Result<Metrics> {
    let p = match probabilities(arch, params, x) {
        Err(Error::InvalidOutput { .. }) => return Err(Error::Diverged { epoch }),
        other => other?,
    };
    evaluate(&p, y)
}

#[cfg(test)]
mod tests;
