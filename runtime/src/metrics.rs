//! Quality of predictions against labels: [`evaluate`], [`evaluate_slices`] and [`Metrics`].
//!
//! Binary: accuracy, precision, recall, F1, ROC AUC, PR AUC (average precision), log loss,
//! Brier score, positive rate and a calibration table. Multiclass: accuracy, macro precision,
//! recall and F1, macro one-vs-rest ROC AUC, log loss, Brier score and per-class figures.
//! Regression: RMSE, MAE and R². Every figure is computed in `f64`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Task;
use crate::error::{Error, Result};
use crate::model::Outputs;

mod rank;
pub(crate) use rank::{Ranked, Scratch, rank};

/// Probabilities are clamped to `[EPS, 1 - EPS]` before taking logs, so one confident mistake
/// gives a large but finite log loss.
const LOG_LOSS_EPS: f64 = 1e-7;

/// Bins of the calibration table (equal width over [0, 1]).
pub const CALIBRATION_BINS: usize = 10;

/// Most distinct slices [`evaluate_slices`] reports; more is refused (slice on a column with
/// fewer values).
pub const MAX_SLICES: usize = 100;

/// One bin of a calibration table: predictions in `[lower, upper)` (the last bin includes 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationBin {
    /// Lower edge.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Rows whose probability fell in the bin.
    pub rows: usize,
    /// Their mean predicted probability.
    pub mean_predicted: f64,
    /// The fraction of them that are positive.
    pub observed_rate: f64,
}

/// Precision, recall and F1 of one class (multiclass).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassMetrics {
    /// Class index.
    pub class: usize,
    /// Rows whose label is this class.
    pub support: usize,
    /// Of the rows predicted this class, the fraction that are (0 when none are predicted).
    pub precision: f64,
    /// Of the rows of this class, the fraction predicted so.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
}

/// Quality of predictions. Each task fills its own figures; the others are absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Rows evaluated.
    pub rows: usize,
    /// Fraction of rows whose predicted class is the label (binary: positive when p >= 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Binary: TP / (TP + FP); multiclass: the mean over classes. 0 when nothing is predicted
    /// positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    /// Binary: TP / (TP + FN); multiclass: the mean over classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<f64>,
    /// Harmonic mean of precision and recall (multiclass: the mean of per-class F1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    /// Area under the ROC curve (Mann–Whitney U, ties count one half); 0.5 when only one class
    /// is present. Multiclass: the mean one-vs-rest AUC over classes present with both
    /// outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
    /// Area under the precision–recall curve as average precision (tied scores form one
    /// step); 0 when there are no positives (binary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_auc: Option<f64>,
    /// Mean cross-entropy, with p clamped to [1e-7, 1 - 1e-7].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_loss: Option<f64>,
    /// Mean squared difference between probabilities and the one-hot label (binary: of the
    /// positive class only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brier: Option<f64>,
    /// Fraction of rows predicted positive (binary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_rate: Option<f64>,
    /// Root mean squared error (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    /// Mean absolute error (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    /// Coefficient of determination (regression); absent when the labels are all equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
    /// Calibration table (binary), non-empty bins only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calibration: Vec<CalibrationBin>,
    /// Per-class figures (multiclass).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_class: Vec<ClassMetrics>,
}

/// Names [`Metrics::get`] knows.
pub const METRIC_NAMES: [&str; 12] = [
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "positive_rate",
    "rmse",
    "mae",
    "r2",
];

impl Metrics {
    /// A figure by name (one of [`METRIC_NAMES`]); `None` when unknown or not computed for
    /// this task.
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "accuracy" => self.accuracy,
            "precision" => self.precision,
            "recall" => self.recall,
            "f1" => self.f1,
            "roc_auc" => self.roc_auc,
            "pr_auc" => self.pr_auc,
            "log_loss" => self.log_loss,
            "brier" => self.brier,
            "positive_rate" => self.positive_rate,
            "rmse" => self.rmse,
            "mae" => self.mae,
            "r2" => self.r2,
            _ => None,
        }
    }
}

/// Checks every label is one `task` allows: 0 or 1 (binary), an integer class below the class
/// count (multiclass), finite (regression).
pub fn check_labels(task: Task, labels: &[f32]) -> Result<()> {
    let (bad, expected) = match task {
        Task::Binary => (
            labels.iter().position(|&y| y != 0.0 && y != 1.0),
            "binary labels must be 0 or 1".to_owned(),
        ),
        Task::Multiclass { classes } => (
            labels
                .iter()
                .position(|&y| !(y >= 0.0 && y.fract() == 0.0 && (y as usize) < classes)),
            format!(
                "multiclass labels must be whole numbers 0 to {}",
                classes - 1
            ),
        ),
        Task::Regression => (
            labels.iter().position(|y| !y.is_finite()),
            "regression labels must be finite".to_owned(),
        ),
    };
    match bad {
        Some(row) => Err(Error::InvalidLabel {
            row,
            value: labels[row],
            expected,
        }),
        None => Ok(()),
    }
}

/// Computes [`Metrics`] of checked `outputs` against `labels` (one per row).
///
/// # Errors
/// [`Error::TooFewRows`] if empty, [`Error::LengthMismatch`] if the lengths differ,
/// [`Error::InvalidLabel`] for a label the task does not allow.
pub fn evaluate(outputs: &Outputs, labels: &[f32]) -> Result<Metrics> {
    let rows = outputs.rows();
    if labels.len() != rows {
        return Err(Error::LengthMismatch {
            what: "labels",
            expected: rows,
            found: labels.len(),
        });
    }
    if rows == 0 {
        return Err(Error::TooFewRows {
            what: "evaluate",
            min: 1,
            found: 0,
        });
    }
    check_labels(outputs.task, labels)?;
    Ok(match outputs.task {
        Task::Binary => binary(&outputs.values, labels),
        Task::Multiclass { classes } => multiclass(outputs, labels, classes),
        Task::Regression => regression(&outputs.values, labels),
    })
}

/// [`evaluate`] per slice: rows grouped by `keys[i]` (e.g. the raw value of a column), sorted
/// by key.
///
/// # Errors
/// [`Error::Slices`] if `keys` does not have one entry per row or holds more than
/// [`MAX_SLICES`] distinct keys; otherwise as [`evaluate`].
pub fn evaluate_slices(
    outputs: &Outputs,
    labels: &[f32],
    keys: &[String],
) -> Result<BTreeMap<String, Metrics>> {
    if keys.len() != outputs.rows() {
        return Err(Error::Slices {
            reason: format!("{} keys for {} rows", keys.len(), outputs.rows()),
        });
    }
    let mut names: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    let mut codes = Vec::with_capacity(keys.len());
    for k in keys {
        let next = index.len() as u32;
        let code = *index.entry(k.as_str()).or_insert(next);
        if code == next {
            names.push(k.clone());
            if names.len() > MAX_SLICES {
                return Err(too_many_slices());
            }
        }
        codes.push(code);
    }
    evaluate_slices_coded(outputs, labels, &codes, &names)
}

fn too_many_slices() -> Error {
    Error::Slices {
        reason: format!("more than {MAX_SLICES} distinct values; slice on a column with fewer"),
    }
}

/// [`evaluate_slices`] with each row's key given as an index into `names` (distinct, in any
/// order): a million rows need no million strings. Keys without rows are left out.
///
/// # Errors
/// As [`evaluate_slices`] (`codes` in place of `keys`, a code beyond `names` included).
pub fn evaluate_slices_coded(
    outputs: &Outputs,
    labels: &[f32],
    codes: &[u32],
    names: &[String],
) -> Result<BTreeMap<String, Metrics>> {
    if codes.len() != outputs.rows() {
        return Err(Error::Slices {
            reason: format!("{} keys for {} rows", codes.len(), outputs.rows()),
        });
    }
    let mut rows_of: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
    for (i, &c) in codes.iter().enumerate() {
        rows_of
            .get_mut(c as usize)
            .ok_or_else(|| Error::Slices {
                reason: format!("row {i}: key {c} of {} named", names.len()),
            })?
            .push(i);
    }
    if rows_of.iter().filter(|r| !r.is_empty()).count() > MAX_SLICES {
        return Err(too_many_slices());
    }
    let mut out = BTreeMap::new();
    for (key, idx) in names.iter().zip(rows_of) {
        if idx.is_empty() {
            continue;
        }
        let mut values = Vec::with_capacity(idx.len() * outputs.width);
        for &i in &idx {
            values.extend_from_slice(outputs.row(i));
        }
        let part = Outputs {
            task: outputs.task,
            width: outputs.width,
            values,
        };
        let y: Vec<f32> = idx.iter().map(|&i| labels[i]).collect();
        out.insert(key.clone(), evaluate(&part, &y)?);
    }
    Ok(out)
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn f1(precision: f64, recall: f64) -> f64 {
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

fn binary(p: &[f32], y: &[f32]) -> Metrics {
    let n = p.len() as f64;
    let (mut tp, mut fp, mut fn_, mut correct) = (0usize, 0usize, 0usize, 0usize);
    let (mut log_loss, mut brier) = (0.0, 0.0);
    let mut bins = vec![(0usize, 0.0f64, 0usize); CALIBRATION_BINS];
    for (&pi, &yi) in p.iter().zip(y) {
        let predicted = pi >= 0.5;
        let positive = yi == 1.0;
        correct += usize::from(predicted == positive);
        tp += usize::from(predicted && positive);
        fp += usize::from(predicted && !positive);
        fn_ += usize::from(!predicted && positive);
        let (pf, yf) = (f64::from(pi), f64::from(yi));
        let pc = pf.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
        log_loss -= yf * pc.ln() + (1.0 - yf) * (1.0 - pc).ln();
        brier += (pf - yf) * (pf - yf);
        let b = ((pf * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        bins[b].0 += 1;
        bins[b].1 += pf;
        bins[b].2 += usize::from(positive);
    }
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let calibration = bins
        .into_iter()
        .enumerate()
        .filter(|(_, (count, _, _))| *count > 0)
        .map(|(b, (count, sum, pos))| CalibrationBin {
            lower: b as f64 / CALIBRATION_BINS as f64,
            upper: (b + 1) as f64 / CALIBRATION_BINS as f64,
            rows: count,
            mean_predicted: sum / count as f64,
            observed_rate: ratio(pos, count),
        })
        .collect();
    let positives: Vec<bool> = y.iter().map(|&v| v == 1.0).collect();
    let mut scratch = Scratch::default();
    let ranked = rank(p, &positives, &mut scratch);
    Metrics {
        rows: p.len(),
        accuracy: Some(correct as f64 / n),
        precision: Some(precision),
        recall: Some(recall),
        f1: Some(f1(precision, recall)),
        roc_auc: Some(roc_auc_of(&ranked)),
        pr_auc: Some(average_precision_of(&ranked)),
        log_loss: Some(log_loss / n),
        brier: Some(brier / n),
        positive_rate: Some(ratio(tp + fp, p.len())),
        calibration,
        ..Metrics::default()
    }
}

fn multiclass(out: &Outputs, y: &[f32], classes: usize) -> Metrics {
    let n = y.len() as f64;
    let mut predicted_count = vec![0usize; classes];
    let mut support = vec![0usize; classes];
    let mut hits = vec![0usize; classes];
    let (mut log_loss, mut brier) = (0.0, 0.0);
    for (i, &yi) in y.iter().enumerate() {
        let label = yi as usize;
        let pred = out.class(i).unwrap_or(0);
        support[label] += 1;
        predicted_count[pred] += 1;
        hits[label] += usize::from(pred == label);
        let row = out.row(i);
        let pl = f64::from(row[label]).clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
        log_loss -= pl.ln();
        brier += row
            .iter()
            .enumerate()
            .map(|(k, &pk)| {
                let t = if k == label { 1.0 } else { 0.0 };
                (f64::from(pk) - t).powi(2)
            })
            .sum::<f64>();
    }
    let per_class: Vec<ClassMetrics> = (0..classes)
        .map(|k| {
            let precision = ratio(hits[k], predicted_count[k]);
            let recall = ratio(hits[k], support[k]);
            ClassMetrics {
                class: k,
                support: support[k],
                precision,
                recall,
                f1: f1(precision, recall),
            }
        })
        .collect();
    let mean = |f: fn(&ClassMetrics) -> f64| per_class.iter().map(f).sum::<f64>() / classes as f64;
    let mut aucs = Vec::new();
    let mut scratch = Scratch::default();
    for (k, &n_k) in support.iter().enumerate() {
        if n_k == 0 || n_k == y.len() {
            continue;
        }
        let scores: Vec<f32> = (0..y.len()).map(|i| out.row(i)[k]).collect();
        let positives: Vec<bool> = y.iter().map(|&v| v as usize == k).collect();
        aucs.push(roc_auc(&scores, &positives, &mut scratch));
    }
    let roc = if aucs.is_empty() {
        0.5
    } else {
        aucs.iter().sum::<f64>() / aucs.len() as f64
    };
    Metrics {
        rows: y.len(),
        accuracy: Some(hits.iter().sum::<usize>() as f64 / n),
        precision: Some(mean(|c| c.precision)),
        recall: Some(mean(|c| c.recall)),
        f1: Some(mean(|c| c.f1)),
        roc_auc: Some(roc),
        log_loss: Some(log_loss / n),
        brier: Some(brier / n),
        per_class,
        ..Metrics::default()
    }
}

fn regression(p: &[f32], y: &[f32]) -> Metrics {
    let n = y.len() as f64;
    let mean_y = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let (mut se, mut ae, mut tot) = (0.0, 0.0, 0.0);
    for (&pi, &yi) in p.iter().zip(y) {
        let d = f64::from(pi) - f64::from(yi);
        se += d * d;
        ae += d.abs();
        tot += (f64::from(yi) - mean_y).powi(2);
    }
    Metrics {
        rows: y.len(),
        rmse: Some((se / n).sqrt()),
        mae: Some(ae / n),
        r2: (tot > 0.0).then(|| 1.0 - se / tot),
        ..Metrics::default()
    }
}

/// ROC AUC as the normalised Mann–Whitney U statistic: rank all scores (tied scores share the
/// average of their ranks), then AUC = (R+ - n+(n+ + 1)/2) / (n+ n-), where R+ is the rank sum
/// of the positives. Equals the probability that a random positive outscores a random negative,
/// ties counting one half.
pub(crate) fn roc_auc(scores: &[f32], positive: &[bool], scratch: &mut Scratch) -> f64 {
    roc_auc_of(&rank(scores, positive, scratch))
}

/// [`roc_auc`] of ranked scores.
fn roc_auc_of(ranked: &Ranked<'_>) -> f64 {
    let n_pos = ranked.positives();
    let n_neg = ranked.rows() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return 0.5;
    }
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    for t in ranked.ascending() {
        // Ranks start..end (0-based) become 1-based start+1..=end; their mean is shared.
        let end = start + t.rows;
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        positive_rank_sum += mean_rank * t.positives as f64;
        start = end;
    }
    let (n_pos, n_neg) = (n_pos as f64, n_neg as f64);
    (positive_rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Average precision: the sum over decreasing score thresholds of (recall step) x (precision
/// at that threshold), each tie group one threshold (scikit-learn's definition). 0 without
/// positives.
fn average_precision_of(ranked: &Ranked<'_>) -> f64 {
    let n_pos = ranked.positives();
    if n_pos == 0 {
        return 0.0;
    }
    let (mut tp, mut seen, mut ap) = (0usize, 0usize, 0.0);
    for t in ranked.descending() {
        tp += t.positives;
        seen += t.rows;
        ap += (t.positives as f64 / n_pos as f64) * (tp as f64 / seen as f64);
    }
    ap
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests;
