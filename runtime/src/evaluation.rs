//! Evaluation beyond the whole-split metrics of [`crate::evaluate`]: the confusion matrix at a
//! threshold, a threshold sweep, and permutation feature importance.
//!
//! Everything here is computed from a model's checked outputs (or, for importance, the model
//! itself) on rows the caller chose; nothing is stored.

use serde::{Deserialize, Serialize};

use crate::config::Task;
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::metrics::{Scratch, check_labels, evaluate, rank};
use crate::model::{Model, Outputs, host};
use crate::rng::SplitMix64;

/// Counts of a binary decision at one threshold against labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confusion {
    /// Predicted positive, labelled positive.
    pub true_positive: usize,
    /// Predicted positive, labelled negative.
    pub false_positive: usize,
    /// Predicted negative, labelled negative.
    pub true_negative: usize,
    /// Predicted negative, labelled positive.
    pub false_negative: usize,
}

impl Confusion {
    /// Rows counted.
    pub fn rows(&self) -> usize {
        self.true_positive + self.false_positive + self.true_negative + self.false_negative
    }

    /// `tp / (tp + fp)`; 0 when nothing was predicted positive (scikit-learn's
    /// `zero_division=0`).
    pub fn precision(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_positive)
    }

    /// `tp / (tp + fn)`; 0 without positive labels.
    pub fn recall(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_negative)
    }

    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Share of rows predicted positive.
    pub fn positive_rate(&self) -> f64 {
        ratio(self.true_positive + self.false_positive, self.rows())
    }

    /// Share of rows decided right.
    pub fn accuracy(&self) -> f64 {
        ratio(self.true_positive + self.true_negative, self.rows())
    }
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// The confusion of binary probabilities `p` (class 1) decided at `threshold` (positive when
/// `p >= threshold`) against 0/1 `labels`.
///
/// # Errors
/// [`Error::LengthMismatch`], [`Error::InvalidLabel`], or [`Error::InvalidConfig`] for a
/// threshold outside `[0, 1]`.
pub fn confusion(p: &[f32], labels: &[f32], threshold: f64) -> Result<Confusion> {
    check_binary(p, labels)?;
    if !(0.0..=1.0).contains(&threshold) {
        return Err(Error::InvalidConfig {
            field: "threshold",
            reason: format!("is {threshold}; a threshold is between 0 and 1"),
        });
    }
    let mut c = Confusion::default();
    for (&p, &y) in p.iter().zip(labels) {
        match (f64::from(p) >= threshold, y == 1.0) {
            (true, true) => c.true_positive += 1,
            (true, false) => c.false_positive += 1,
            (false, false) => c.true_negative += 1,
            (false, true) => c.false_negative += 1,
        }
    }
    Ok(c)
}

fn check_binary(p: &[f32], labels: &[f32]) -> Result<()> {
    if p.len() != labels.len() {
        return Err(Error::LengthMismatch {
            what: "labels",
            expected: p.len(),
            found: labels.len(),
        });
    }
    check_labels(Task::Binary, labels)
}

/// One point of a threshold sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdPoint {
    /// The threshold: positive when `p >= threshold`.
    pub threshold: f64,
    /// The counts at it.
    pub confusion: Confusion,
    /// Precision at it.
    pub precision: f64,
    /// Recall at it.
    pub recall: f64,
    /// F1 at it.
    pub f1: f64,
    /// Share predicted positive.
    pub positive_rate: f64,
}

/// Precision, recall, F1 and positive rate at each of `steps + 1` evenly spaced thresholds
/// from 0 to 1, in one pass over the rows sorted by probability (a radix sort: `O(n)`).
///
/// # Errors
/// As [`confusion`]; [`Error::InvalidConfig`] for `steps` of 0.
pub fn threshold_sweep(p: &[f32], labels: &[f32], steps: usize) -> Result<Vec<ThresholdPoint>> {
    check_binary(p, labels)?;
    if steps == 0 {
        return Err(Error::InvalidConfig {
            field: "steps",
            reason: "a sweep needs at least one step".into(),
        });
    }
    // Rows ranked by probability; walking thresholds downwards admits tie groups from the top.
    let positive: Vec<bool> = labels.iter().map(|&y| y == 1.0).collect();
    let mut scratch = Scratch::default();
    let ranked = rank(p, &positive, &mut scratch);
    let positives = ranked.positives();
    let negatives = p.len() - positives;
    let mut groups = ranked.descending().peekable();
    let mut points = Vec::with_capacity(steps + 1);
    let (mut tp, mut fp) = (0usize, 0usize);
    for k in (0..=steps).rev() {
        let threshold = k as f64 / steps as f64;
        while let Some(g) = groups.next_if(|g| f64::from(g.value) >= threshold) {
            tp += g.positives;
            fp += g.rows - g.positives;
        }
        let c = Confusion {
            true_positive: tp,
            false_positive: fp,
            true_negative: negatives - fp,
            false_negative: positives - tp,
        };
        points.push(ThresholdPoint {
            threshold,
            confusion: c,
            precision: c.precision(),
            recall: c.recall(),
            f1: c.f1(),
            positive_rate: c.positive_rate(),
        });
    }
    points.reverse();
    Ok(points)
}

/// The multiclass confusion matrix: `matrix[true][predicted]` counts, predicted = most
/// probable class.
///
/// # Errors
/// [`Error::LengthMismatch`] or [`Error::InvalidLabel`]; [`Error::InvalidConfig`] for outputs
/// that are not multiclass.
pub fn class_confusion(outputs: &Outputs, labels: &[f32]) -> Result<Vec<Vec<usize>>> {
    let Task::Multiclass { classes } = outputs.task else {
        return Err(Error::InvalidConfig {
            field: "task",
            reason: "a class confusion matrix is for multiclass outputs".into(),
        });
    };
    if labels.len() != outputs.rows() {
        return Err(Error::LengthMismatch {
            what: "labels",
            expected: outputs.rows(),
            found: labels.len(),
        });
    }
    check_labels(outputs.task, labels)?;
    let mut m = vec![vec![0usize; classes]; classes];
    for (i, &y) in labels.iter().enumerate() {
        if let Some(pred) = outputs.class(i) {
            m[y as usize][pred] += 1;
        }
    }
    Ok(m)
}

/// How much a metric falls when one feature's columns are shuffled across rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Importance {
    /// The feature (a group of model input columns, e.g. every one-hot column of a category).
    pub feature: String,
    /// Mean over the repeats of `baseline - permuted` (for a metric where lower is better, of
    /// `permuted - baseline`): positive when the model relies on the feature.
    pub mean: f64,
    /// Standard deviation over the repeats (population, as scikit-learn reports).
    pub std: f64,
}

/// Metrics where a lower value is better.
const LOWER_IS_BETTER: [&str; 4] = ["log_loss", "brier", "rmse", "mae"];

/// Rows scored together when a shuffled feature is scored (rounded up to a multiple of the
/// model's block): the shuffled matrix is never built whole, only this many rows of it per
/// thread at a time.
const CHUNK_ROWS: usize = 16_384;

/// Permutation feature importance (Breiman 2001; scikit-learn's `permutation_importance`):
/// for each feature (a named group of columns of `x`), the columns are shuffled together
/// across rows with a seeded permutation, `repeats` times, and the metric `metric` (a name of
/// [`crate::METRIC_NAMES`]) is recomputed; the importance is the mean fall from the
/// unshuffled value. Sorted by feature order given.
///
/// Only the metric asked for is recomputed, and the shuffled matrix is never built whole. A
/// model whose inputs enter one linear layer (`logreg`) is rescored from its raw outputs: a
/// shuffled row's are its own less its own columns' share plus the share of the row its
/// columns come from (computed in f64), which is what rescoring the shuffled rows gives up to
/// f32 rounding, for a small fraction of the work; the repeats run on the model's threads.
/// Other models score the shuffled rows in chunks on the model's threads, each row in the
/// block a whole-matrix prediction puts it in, so the figures are those of scoring the shuffled
/// matrix at once. Memory beyond `x`: the repeats' permutations, and the raw outputs and one
/// set of shuffled outputs per thread (linear), or one chunk of rows per thread.
///
/// # Errors
/// [`Error::InvalidConfig`] for an unknown metric, a metric this task lacks, a column out of
/// range, or `repeats` of 0; model and label errors as [`Model::predict`] and [`evaluate`].
pub fn permutation_importance(
    model: &Model,
    x: &Matrix,
    labels: &[f32],
    features: &[(String, Vec<usize>)],
    metric: &str,
    repeats: usize,
    seed: u64,
) -> Result<Vec<Importance>> {
    if repeats == 0 {
        return Err(Error::InvalidConfig {
            field: "repeats",
            reason: "permutation importance needs at least one repeat".into(),
        });
    }
    let base = model.predict(x)?;
    // The whole evaluation once: it checks the labels and names a metric the task lacks.
    let baseline = evaluate(&base, labels)?
        .get(metric)
        .ok_or_else(|| Error::InvalidConfig {
            field: "metric",
            reason: format!("{metric:?} is not a metric of a {} model", base.task.name()),
        })?;
    let sign = if LOWER_IS_BETTER.contains(&metric) {
        -1.0
    } else {
        1.0
    };
    let (rows, cols) = (x.rows(), x.cols());
    let last = u32::try_from(rows).map_err(|_| Error::InvalidConfig {
        field: "rows",
        reason: format!(
            "{rows} rows; permutation importance takes at most {}",
            u32::MAX
        ),
    })?;
    let block = model.block_rows().max(1);
    let chunk = CHUNK_ROWS.div_ceil(block) * block;
    let threads = host::threads();
    let positive: Vec<bool> = labels.iter().map(|&y| y == 1.0).collect();
    // A model whose inputs enter one linear layer is rescored from its raw outputs.
    let linear = match model.single_layer() {
        Some((weights_t, _)) => Some((weights_t, model.raw(x)?)),
        None => None,
    };
    let (task, width) = (base.task, base.width);
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(features.len());
    for (name, columns) in features {
        if let Some(&c) = columns.iter().find(|&&c| c >= cols) {
            return Err(Error::InvalidConfig {
                field: "features",
                reason: format!("{name}: column {c} is beyond the model's {cols} inputs"),
            });
        }
        // This feature's permutations, drawn in turn from the one seeded stream.
        let perms: Vec<Vec<u32>> = (0..repeats)
            .map(|_| {
                let mut perm: Vec<u32> = (0..last).collect();
                rng.shuffle(&mut perm);
                perm
            })
            .collect();
        let scores: Vec<Result<f64>> = match &linear {
            Some((weights_t, raw)) => {
                // Row i's raw outputs with the feature's columns taken from row perm[i] are
                // its own, less its own columns' share, plus row perm[i]'s share.
                let mut share = vec![0f64; rows * width];
                for (i, s) in share.chunks_exact_mut(width).enumerate() {
                    let row = x.row(i);
                    for &c in columns {
                        let w = &weights_t[c * width..(c + 1) * width];
                        for (s, &w) in s.iter_mut().zip(w) {
                            *s += f64::from(row[c]) * f64::from(w);
                        }
                    }
                }
                // The repeats share the threads; each thread keeps its buffers.
                let used = threads.clamp(1, repeats);
                let per_thread = host::par_map(used, used, |t| {
                    let mut scratch = Scratch::default();
                    let mut v: Vec<f32> = Vec::with_capacity(rows * width);
                    let mut done = Vec::new();
                    for r in (t..repeats).step_by(used) {
                        v.clear();
                        for (i, &from) in perms[r].iter().enumerate() {
                            let (own, other) = (i * width, from as usize * width);
                            for o in 0..width {
                                let z = f64::from(raw[own + o]) - share[own + o] + share[other + o];
                                v.push(z as f32);
                            }
                        }
                        host::link(task, &mut v, width);
                        let shuffled = Outputs::check(task, width, std::mem::take(&mut v))?;
                        let score = metric_of(&shuffled, labels, &positive, metric, &mut scratch)?;
                        v = shuffled.values;
                        done.push((r, score));
                    }
                    Ok::<_, Error>(done)
                })
                .ok_or_else(|| missing("a repeat"))?;
                let mut scores = vec![0.0; repeats];
                for done in per_thread {
                    for (r, score) in done? {
                        scores[r] = score;
                    }
                }
                scores.into_iter().map(Ok).collect()
            }
            None => perms
                .iter()
                .map(|perm| {
                    let mut scratch = Scratch::default();
                    let parts = host::par_map(rows.div_ceil(chunk), threads, |k| {
                        let (r0, r1) = (k * chunk, ((k + 1) * chunk).min(rows));
                        let mut v = x.as_slice()[r0 * cols..r1 * cols].to_vec();
                        for (row, &from) in v.chunks_exact_mut(cols).zip(&perm[r0..r1]) {
                            let src = x.row(from as usize);
                            for &c in columns {
                                row[c] = src[c];
                            }
                        }
                        model.predict_on(&Matrix::rearranged(v, r1 - r0, cols), Some(1))
                    })
                    .ok_or_else(|| missing("a chunk of shuffled rows"))?;
                    let mut values = Vec::with_capacity(rows * width);
                    for p in parts {
                        values.extend_from_slice(&p?.values);
                    }
                    let shuffled = Outputs {
                        task,
                        width,
                        values,
                    };
                    metric_of(&shuffled, labels, &positive, metric, &mut scratch)
                })
                .collect(),
        };
        let mut falls = Vec::with_capacity(repeats);
        for s in scores {
            falls.push(sign * (baseline - s?));
        }
        let mean = falls.iter().sum::<f64>() / repeats as f64;
        let var = falls.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / repeats as f64;
        out.push(Importance {
            feature: name.clone(),
            mean,
            std: var.sqrt(),
        });
    }
    Ok(out)
}

fn missing(what: &str) -> Error {
    Error::InvalidConfig {
        field: "features",
        reason: format!("{what} went missing"),
    }
}

/// One metric of checked labels, computed as [`evaluate`] computes it, without the others:
/// ROC AUC of a binary model, accuracy and RMSE directly, the rest through [`evaluate`].
fn metric_of(
    outputs: &Outputs,
    labels: &[f32],
    positive: &[bool],
    metric: &str,
    scratch: &mut Scratch,
) -> Result<f64> {
    let n = labels.len() as f64;
    let value = match (outputs.task, metric) {
        (Task::Binary, "roc_auc") => {
            Some(crate::metrics::roc_auc(&outputs.values, positive, scratch))
        }
        (Task::Binary | Task::Multiclass { .. }, "accuracy") => {
            let right = labels
                .iter()
                .enumerate()
                .filter(|&(i, &y)| outputs.class(i).unwrap_or(0) == y as usize)
                .count();
            Some(right as f64 / n)
        }
        (Task::Regression, "rmse") => {
            let mut se = 0.0;
            for (&p, &y) in outputs.values.iter().zip(labels) {
                let d = f64::from(p) - f64::from(y);
                se += d * d;
            }
            Some((se / n).sqrt())
        }
        _ => evaluate(outputs, labels)?.get(metric),
    };
    value.ok_or_else(|| Error::InvalidConfig {
        field: "metric",
        reason: format!(
            "{metric:?} is not a metric of a {} model",
            outputs.task.name()
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use crate::config::{Arch, ModelSpec};

    #[test]
    fn confusion_and_sweep_agree_at_every_threshold() {
        let p = [0.9, 0.8, 0.7, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1, 0.5];
        let y = [1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let sweep = threshold_sweep(&p, &y, 20).unwrap();
        assert_eq!(sweep.len(), 21);
        for point in &sweep {
            let c = confusion(&p, &y, point.threshold).unwrap();
            assert_eq!(c, point.confusion, "threshold {}", point.threshold);
            assert_eq!(c.rows(), 10);
        }
        // At 0.5: predicted positive 0.9, 0.8, 0.7, 0.55, 0.5, 0.5 -> tp 4 (0.9, 0.8, 0.55, the
        // second 0.5), fp 2.
        let at = confusion(&p, &y, 0.5).unwrap();
        assert_eq!((at.true_positive, at.false_positive), (4, 2));
        assert_eq!((at.true_negative, at.false_negative), (3, 1));
        assert!((at.precision() - 4.0 / 6.0).abs() < 1e-12);
        assert!((at.recall() - 0.8).abs() < 1e-12);
        assert_eq!(sweep[0].positive_rate, 1.0);
        assert!(confusion(&p, &y, 1.5).is_err());
        assert!(threshold_sweep(&p, &y, 0).is_err());
        assert!(confusion(&p, &[1.0], 0.5).is_err());
    }

    fn logreg(weights: Vec<f32>) -> Model {
        let n = weights.len();
        let spec = ModelSpec {
            task: Task::Binary,
            arch: Arch::Logreg,
            n_features: n,
        };
        Model::from_values(spec, vec![weights, vec![0.0]]).unwrap()
    }

    /// Permutation importance as it was computed before it was chunked: the whole shuffled
    /// matrix built and scored, and every metric recomputed.
    fn importance_whole(
        model: &Model,
        x: &Matrix,
        labels: &[f32],
        features: &[(String, Vec<usize>)],
        metric: &str,
        repeats: usize,
        seed: u64,
    ) -> Vec<(f64, f64)> {
        let score = |m: &Matrix| {
            evaluate(&model.predict(m).unwrap(), labels)
                .unwrap()
                .get(metric)
                .unwrap()
        };
        let baseline = score(x);
        let sign = if LOWER_IS_BETTER.contains(&metric) {
            -1.0
        } else {
            1.0
        };
        let (rows, cols) = (x.rows(), x.cols());
        let mut rng = SplitMix64::new(seed);
        let mut out = Vec::new();
        for (_, columns) in features {
            let mut falls = Vec::new();
            for _ in 0..repeats {
                let mut perm: Vec<usize> = (0..rows).collect();
                rng.shuffle(&mut perm);
                let mut values = x.as_slice().to_vec();
                for &c in columns {
                    for (r, &from) in perm.iter().enumerate() {
                        values[r * cols + c] = x.row(from)[c];
                    }
                }
                falls.push(sign * (baseline - score(&Matrix::new(values, rows, cols).unwrap())));
            }
            let mean = falls.iter().sum::<f64>() / repeats as f64;
            let var = falls.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / repeats as f64;
            out.push((mean, var.sqrt()));
        }
        out
    }

    #[test]
    fn chunked_importance_equals_scoring_the_whole_shuffled_matrix() {
        // More rows than one chunk, and an MLP whose block is not a power of two.
        let rows = CHUNK_ROWS * 2 + 777;
        let mut rng = SplitMix64::new(5);
        let values: Vec<f32> = (0..rows * 3)
            .map(|_| rng.uniform(-2.0, 2.0) as f32)
            .collect();
        let x = Matrix::new(values, rows, 3).unwrap();
        let features = [("a".to_owned(), vec![0]), ("bc".to_owned(), vec![1, 2])];
        let mut mlp = |task: Task| {
            let spec = ModelSpec {
                task,
                arch: Arch::Mlp {
                    hidden: vec![7],
                    activation: crate::config::Activation::Tanh,
                    dropout: 0.0,
                },
                n_features: 3,
            };
            let values = spec
                .tensor_shapes()
                .iter()
                .map(|(_, shape)| {
                    (0..shape.iter().product::<usize>())
                        .map(|_| rng.uniform(-1.5, 1.5) as f32)
                        .collect()
                })
                .collect();
            Model::from_values(spec, values).unwrap()
        };
        let binary = mlp(Task::Binary);
        let y: Vec<f32> = (0..rows)
            .map(|i| f32::from(x.row(i)[0] + x.row(i)[1] > 0.0))
            .collect();
        let multi = mlp(Task::Multiclass { classes: 3 });
        let y3: Vec<f32> = (0..rows)
            .map(|i| (x.row(i)[2].abs() as usize).min(2) as f32)
            .collect();
        let reg = mlp(Task::Regression);
        let yr: Vec<f32> = (0..rows).map(|i| x.row(i)[0] * 2.0 - x.row(i)[1]).collect();
        for (model, labels, metric) in [
            (&binary, &y, "roc_auc"),
            (&binary, &y, "accuracy"),
            (&binary, &y, "log_loss"),
            (&multi, &y3, "accuracy"),
            (&reg, &yr, "rmse"),
        ] {
            let got = permutation_importance(model, &x, labels, &features, metric, 2, 9).unwrap();
            let want = importance_whole(model, &x, labels, &features, metric, 2, 9);
            let got: Vec<(f64, f64)> = got.iter().map(|i| (i.mean, i.std)).collect();
            assert_eq!(got, want, "{metric}");
            assert!(got[0].0 != 0.0, "{metric}: the feature matters");
        }
    }

    #[test]
    fn linear_models_are_rescored_as_rescoring_the_shuffled_rows_up_to_rounding() {
        let rows = 30_000;
        let mut rng = SplitMix64::new(21);
        let values: Vec<f32> = (0..rows * 4)
            .map(|_| rng.uniform(-2.0, 2.0) as f32)
            .collect();
        let x = Matrix::new(values, rows, 4).unwrap();
        // A one-hot-like pair of columns as one feature, as the feature sets make them.
        let features = [
            ("a".to_owned(), vec![0]),
            ("b".to_owned(), vec![1]),
            ("cd".to_owned(), vec![2, 3]),
        ];
        let linear = |task: Task, rng: &mut SplitMix64| {
            let spec = ModelSpec {
                task,
                arch: Arch::Logreg,
                n_features: 4,
            };
            let values = spec
                .tensor_shapes()
                .iter()
                .map(|(_, shape)| {
                    (0..shape.iter().product::<usize>())
                        .map(|_| rng.uniform(-1.5, 1.5) as f32)
                        .collect()
                })
                .collect();
            Model::from_values(spec, values).unwrap()
        };
        let binary = linear(Task::Binary, &mut rng);
        let y: Vec<f32> = (0..rows)
            .map(|i| f32::from(x.row(i)[0] - x.row(i)[2] + rng.uniform(-1.0, 1.0) as f32 > 0.0))
            .collect();
        let multi = linear(Task::Multiclass { classes: 3 }, &mut rng);
        // The model's own decisions as labels: every feature it weighs matters.
        let decided = multi.predict(&x).unwrap();
        let y3: Vec<f32> = (0..rows)
            .map(|i| decided.class(i).unwrap() as f32)
            .collect();
        let reg = linear(Task::Regression, &mut rng);
        let yr: Vec<f32> = (0..rows).map(|i| x.row(i)[0] * 2.0 - x.row(i)[3]).collect();
        // Rounding can reorder a few near-tied pairs of rows (each moves ROC AUC by
        // 1 / (positives x negatives), about 4e-9 here) or flip a near-tied decision (1 / rows).
        for (model, labels, metric, tolerance) in [
            (&binary, &y, "roc_auc", 1e-7),
            (&binary, &y, "log_loss", 1e-7),
            (&multi, &y3, "accuracy", 2.0 / rows as f64),
            (&reg, &yr, "rmse", 1e-7),
        ] {
            let got = permutation_importance(model, &x, labels, &features, metric, 3, 4).unwrap();
            let want = importance_whole(model, &x, labels, &features, metric, 3, 4);
            for (g, &(mean, std)) in got.iter().zip(&want) {
                assert!(
                    (g.mean - mean).abs() <= tolerance && (g.std - std).abs() <= tolerance,
                    "{metric} {}: {} ± {} against {mean} ± {std}",
                    g.feature,
                    g.mean,
                    g.std
                );
            }
            assert!(
                want.iter().any(|w| w.0.abs() > 1e-2),
                "{metric}: a feature matters"
            );
        }
    }

    #[test]
    fn a_feature_the_model_ignores_has_no_importance() {
        // The model looks at column 0 only; the label is column 0's sign.
        let rows = 400;
        let mut rng = SplitMix64::new(7);
        let mut values = Vec::new();
        let mut y = Vec::new();
        for _ in 0..rows {
            let a = rng.uniform(-1.0, 1.0) as f32;
            let b = rng.uniform(-1.0, 1.0) as f32;
            values.extend([a, b]);
            y.push(if a > 0.0 { 1.0 } else { 0.0 });
        }
        let x = Matrix::new(values, rows, 2).unwrap();
        let model = logreg(vec![8.0, 0.0]);
        let features = [("a".to_owned(), vec![0]), ("b".to_owned(), vec![1])];
        let imp = permutation_importance(&model, &x, &y, &features, "accuracy", 5, 1).unwrap();
        assert!(imp[0].mean > 0.3, "{imp:?}");
        assert_eq!(imp[1].mean, 0.0, "{imp:?}");
        assert_eq!(imp[1].std, 0.0);
        // Lower-is-better metrics count a rise as importance.
        let imp = permutation_importance(&model, &x, &y, &features, "log_loss", 2, 1).unwrap();
        assert!(imp[0].mean > 0.0, "{imp:?}");
        // Same seed, same figures.
        let again = permutation_importance(&model, &x, &y, &features, "log_loss", 2, 1).unwrap();
        assert_eq!(imp, again);
        for bad in [
            permutation_importance(&model, &x, &y, &features, "rmse", 1, 1),
            permutation_importance(&model, &x, &y, &features, "accuracy", 0, 1),
            permutation_importance(&model, &x, &y, &[("c".into(), vec![2])], "accuracy", 1, 1),
        ] {
            assert!(matches!(bad, Err(Error::InvalidConfig { .. })), "{bad:?}");
        }
    }
}
