//! Evaluation beyond the whole-split metrics of [`crate::evaluate`]: the confusion matrix at a
//! threshold, a threshold sweep, and permutation feature importance.
//!
//! Everything here is computed from a model's checked outputs (or, for importance, the model
//! itself) on rows the caller chose; nothing is stored.

use serde::{Deserialize, Serialize};

use crate::config::Task;
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::metrics::{check_labels, evaluate};
use crate::model::{Model, Outputs};
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
/// from 0 to 1, in one pass over the rows sorted by probability (`O(n log n)`).
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
    // Rows by descending probability; walking thresholds downwards admits rows in order.
    let mut order: Vec<(f32, bool)> = p.iter().zip(labels).map(|(&p, &y)| (p, y == 1.0)).collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives = order.iter().filter(|r| r.1).count();
    let negatives = order.len() - positives;
    let mut points = Vec::with_capacity(steps + 1);
    let (mut tp, mut fp, mut next) = (0usize, 0usize, 0usize);
    for k in (0..=steps).rev() {
        let threshold = k as f64 / steps as f64;
        while next < order.len() && f64::from(order[next].0) >= threshold {
            if order[next].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            next += 1;
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

/// Permutation feature importance (Breiman 2001; scikit-learn's `permutation_importance`):
/// for each feature (a named group of columns of `x`), the columns are shuffled together
/// across rows with a seeded permutation, `repeats` times, and the metric `metric` (a name of
/// [`crate::METRIC_NAMES`]) is recomputed; the importance is the mean fall from the
/// unshuffled value. Sorted by feature order given.
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
    let score = |m: &Matrix| -> Result<f64> {
        let outputs = model.predict(m)?;
        evaluate(&outputs, labels)?
            .get(metric)
            .ok_or_else(|| Error::InvalidConfig {
                field: "metric",
                reason: format!(
                    "{metric:?} is not a metric of a {} model",
                    outputs.task.name()
                ),
            })
    };
    let baseline = score(x)?;
    let sign = if LOWER_IS_BETTER.contains(&metric) {
        -1.0
    } else {
        1.0
    };
    let (rows, cols) = (x.rows(), x.cols());
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(features.len());
    let mut values = x.as_slice().to_vec();
    for (name, columns) in features {
        if let Some(&c) = columns.iter().find(|&&c| c >= cols) {
            return Err(Error::InvalidConfig {
                field: "features",
                reason: format!("{name}: column {c} is beyond the model's {cols} inputs"),
            });
        }
        let mut falls = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let mut perm: Vec<usize> = (0..rows).collect();
            rng.shuffle(&mut perm);
            for &c in columns {
                for (r, &from) in perm.iter().enumerate() {
                    values[r * cols + c] = x.row(from)[c];
                }
            }
            let shuffled = Matrix::new(values, rows, cols)?;
            falls.push(sign * (baseline - score(&shuffled)?));
            values = shuffled.into_vec();
            // Restore the columns for the next feature or repeat.
            for &c in columns {
                for r in 0..rows {
                    values[r * cols + c] = x.row(r)[c];
                }
            }
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
