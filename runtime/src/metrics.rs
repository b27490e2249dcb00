//! Binary classification metrics: [`evaluate`] and [`Metrics`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Probabilities are clamped to `[EPS, 1 - EPS]` before taking logs, so one confident mistake
/// gives a large but finite log loss.
const LOG_LOSS_EPS: f64 = 1e-7;

/// Decision threshold: a row is predicted positive when its probability is at least this.
const THRESHOLD: f32 = 0.5;

/// Quality of binary predictions against labels.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    /// Rows evaluated.
    pub rows: usize,
    /// Fraction of rows whose prediction (positive when p >= 0.5) equals the label.
    pub accuracy: f64,
    /// Area under the ROC curve (Mann–Whitney U, ties count one half); 0.5 when only one class
    /// is present.
    pub roc_auc: f64,
    /// Mean binary cross-entropy, with p clamped to [1e-7, 1 - 1e-7].
    pub log_loss: f64,
    /// Mean squared difference between probability and label.
    pub brier: f64,
    /// Fraction of rows predicted positive (p >= 0.5).
    pub positive_rate: f64,
}

/// Computes [`Metrics`] for `probabilities` of the positive class against 0/1 `labels`.
///
/// # Errors
/// [`Error::TooFewRows`] if empty, [`Error::LengthMismatch`] if the lengths differ,
/// [`Error::InvalidLabel`] for a label other than 0.0 or 1.0, [`Error::InvalidProbability`] for
/// a probability that is not finite or lies outside [0, 1].
pub fn evaluate(probabilities: &[f32], labels: &[f32]) -> Result<Metrics> {
    if labels.len() != probabilities.len() {
        return Err(Error::LengthMismatch {
            what: "labels",
            expected: probabilities.len(),
            found: labels.len(),
        });
    }
    if probabilities.is_empty() {
        return Err(Error::TooFewRows {
            what: "evaluate",
            min: 1,
            found: 0,
        });
    }
    check_labels(labels)?;
    if let Some(row) = probabilities.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(Error::InvalidProbability {
            row,
            value: probabilities[row],
        });
    }

    let n = probabilities.len() as f64;
    let (mut correct, mut predicted_pos, mut log_loss, mut brier) = (0usize, 0usize, 0.0, 0.0);
    for (&p, &y) in probabilities.iter().zip(labels) {
        let predicted = if p >= THRESHOLD { 1.0 } else { 0.0 };
        correct += usize::from(predicted == y);
        predicted_pos += usize::from(predicted == 1.0);
        let (p, y) = (f64::from(p), f64::from(y));
        let pc = p.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
        log_loss -= y * pc.ln() + (1.0 - y) * (1.0 - pc).ln();
        brier += (p - y) * (p - y);
    }
    Ok(Metrics {
        rows: probabilities.len(),
        accuracy: correct as f64 / n,
        roc_auc: roc_auc(probabilities, labels),
        log_loss: log_loss / n,
        brier: brier / n,
        positive_rate: predicted_pos as f64 / n,
    })
}

/// Checks every label is exactly 0.0 or 1.0.
pub(crate) fn check_labels(labels: &[f32]) -> Result<()> {
    match labels.iter().position(|&y| y != 0.0 && y != 1.0) {
        Some(row) => Err(Error::InvalidLabel {
            row,
            value: labels[row],
        }),
        None => Ok(()),
    }
}

/// ROC AUC as the normalised Mann–Whitney U statistic: rank all scores (tied scores share the
/// average of their ranks), then AUC = (R+ - n+(n+ + 1)/2) / (n+ n-), where R+ is the rank sum
/// of the positives. Equals the probability that a random positive outscores a random negative,
/// ties counting one half. Inputs are already validated.
fn roc_auc(scores: &[f32], labels: &[f32]) -> f64 {
    let n_pos = labels.iter().filter(|&&y| y == 1.0).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return 0.5;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));

    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // Ranks start..end (0-based) become 1-based start+1..=end; their mean is shared.
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let positives = order[start..end]
            .iter()
            .filter(|&&i| labels[i] == 1.0)
            .count();
        positive_rank_sum += mean_rank * positives as f64;
        start = end;
    }
    let (n_pos, n_neg) = (n_pos as f64, n_neg as f64);
    (positive_rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn hand_computed_metrics_with_tied_scores() {
        // Positives score 0.5 and 0.9, negatives 0.2 and 0.5. Of the 4 (pos, neg) pairs,
        // 0.5>0.2, 0.9>0.2, 0.9>0.5 win and 0.5=0.5 ties: AUC = 3.5 / 4.
        let m = evaluate(&[0.2, 0.5, 0.5, 0.9], &[0.0, 1.0, 0.0, 1.0]).unwrap();
        assert_eq!(m.rows, 4);
        assert!(close(m.roc_auc, 0.875), "{m:?}");
        // Predictions 0,1,1,1 (0.5 counts positive): 3 of 4 right, 3 of 4 positive.
        assert!(close(m.accuracy, 0.75));
        assert!(close(m.positive_rate, 0.75));
        // -(ln 0.8 + ln 0.5 + ln 0.5 + ln 0.9) / 4
        // = (0.2231436 + 0.6931472 + 0.6931472 + 0.1053605) / 4 = 0.4286996
        assert!(close(m.log_loss, 0.428_699_6), "{m:?}");
        // (0.04 + 0.25 + 0.25 + 0.01) / 4
        assert!(close(m.brier, 0.1375));
    }

    #[test]
    fn auc_without_ties() {
        // Pairs: 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes: 3 / 4.
        let m = evaluate(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0]).unwrap();
        assert!(close(m.roc_auc, 0.75));
    }

    #[test]
    fn auc_all_tied_is_one_half() {
        let m = evaluate(&[0.3; 4], &[0.0, 1.0, 1.0, 0.0]).unwrap();
        assert!(close(m.roc_auc, 0.5));
    }

    #[test]
    fn single_class_auc_is_one_half() {
        let m = evaluate(&[0.9, 0.8], &[1.0, 1.0]).unwrap();
        assert!(close(m.roc_auc, 0.5));
        assert!(close(m.accuracy, 1.0));
    }

    #[test]
    fn log_loss_clamps_certain_mistakes() {
        // p = 0 for a positive: clamped to 1e-7, loss = -ln(1e-7) = 16.118096.
        let m = evaluate(&[0.0], &[1.0]).unwrap();
        assert!(close(m.log_loss, 16.118_095_65), "{m:?}");
        assert!(close(m.brier, 1.0));
    }

    #[test]
    fn evaluate_refuses_bad_inputs() {
        assert!(matches!(
            evaluate(&[0.5], &[2.0]),
            Err(Error::InvalidLabel { row: 0, .. })
        ));
        assert!(matches!(
            evaluate(&[0.5, f32::NAN], &[1.0, 0.0]),
            Err(Error::InvalidProbability { row: 1, .. })
        ));
        assert!(matches!(
            evaluate(&[1.5], &[1.0]),
            Err(Error::InvalidProbability { row: 0, .. })
        ));
        assert!(matches!(
            evaluate(&[0.5], &[1.0, 0.0]),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(matches!(evaluate(&[], &[]), Err(Error::TooFewRows { .. })));
    }
}
