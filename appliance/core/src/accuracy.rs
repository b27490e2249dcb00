//! Ground truth that arrives later: labels joined to what a deployed model predicted, point in
//! time, and the accuracy, ROC AUC and calibration of the joined pairs.
//!
//! Pure: the appliance reads the prediction log and the labels dataset
//! (`airlock::ops::accuracy`) and hands them here.
//!
//! **The join rule.** A label (entity, event time t, value) applies to the latest prediction
//! made for its entity at or before t, and never to one made after t: a prediction made after
//! the outcome was known could have seen it. A label with no prediction for its entity at or
//! before t is not matched (counted). When several labels apply to the same prediction, the
//! one with the latest event time counts (the outcome as last known; on equal times, the later
//! in the dataset), so each prediction is judged once.

use std::collections::BTreeMap;

use serde::Serialize;

/// One logged prediction, as the join needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Logged {
    /// The entity key, as the router computes it from a request.
    pub entity: String,
    /// When it was made, seconds since the epoch.
    pub at: i64,
    /// The score (the positive class's probability, or the top class's).
    pub score: Option<f64>,
    /// The predicted class.
    pub class: Option<String>,
}

/// One label: what turned out to be true for an entity, and when that was known.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// The entity key, rendered as the router renders a request's.
    pub entity: String,
    /// The label's event time, seconds since the epoch.
    pub at: i64,
    /// The label's value (canonical text, as classes are named).
    pub value: String,
    /// The value of the model's slice column in the labels, if they carry it.
    pub slice: Option<String>,
}

/// A prediction with the label that applies to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Joined {
    /// When the prediction was made.
    pub at: i64,
    /// Its score.
    pub score: Option<f64>,
    /// Its class.
    pub class: Option<String>,
    /// The label.
    pub label: String,
    /// The label's slice value.
    pub slice: Option<String>,
}

/// Joins `labels` to `predictions` by the rule in the module's documentation. Returns the
/// joined pairs (in prediction order: by entity, then time) and the number of labels that
/// matched no prediction.
pub fn join(predictions: &[Logged], labels: &[Label]) -> (Vec<Joined>, usize) {
    let mut by: BTreeMap<&str, Vec<&Logged>> = BTreeMap::new();
    for p in predictions {
        by.entry(p.entity.as_str()).or_default().push(p);
    }
    for v in by.values_mut() {
        v.sort_by_key(|p| p.at);
    }
    // (entity, index of the prediction) -> the label that applies, latest event time wins.
    let mut chosen: BTreeMap<(&str, usize), &Label> = BTreeMap::new();
    let mut unmatched = 0;
    for l in labels {
        let Some(ps) = by.get(l.entity.as_str()) else {
            unmatched += 1;
            continue;
        };
        // The number of predictions at or before the label's time.
        let n = ps.partition_point(|p| p.at <= l.at);
        if n == 0 {
            unmatched += 1;
            continue;
        }
        let slot = chosen.entry((l.entity.as_str(), n - 1)).or_insert(l);
        if l.at >= slot.at {
            *slot = l;
        }
    }
    let joined = chosen
        .into_iter()
        .map(|((e, i), l)| {
            let p = by[e][i];
            Joined {
                at: p.at,
                score: p.score,
                class: p.class.clone(),
                label: l.value.clone(),
                slice: l.slice.clone(),
            }
        })
        .collect();
    (joined, unmatched)
}

/// Bins of the reliability diagram and the expected calibration error.
pub const CALIBRATION_BINS: usize = 10;

/// One bin of the reliability diagram: scores in `[lo, hi)` (the last bin includes 1).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bin {
    /// Its lower edge.
    pub lo: f64,
    /// Its upper edge.
    pub hi: f64,
    /// Predictions in it.
    pub count: u64,
    /// Their mean score.
    pub mean_score: f64,
    /// The share of them whose outcome was the scored one (binary: the positive class;
    /// multiclass: the predicted class).
    pub observed: f64,
}

/// How well predictions matched their labels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figures {
    /// Predictions with a label.
    pub labelled: u64,
    /// Share whose predicted class is the label.
    pub accuracy: Option<f64>,
    /// Binary models: the area under the ROC curve of the scores (Mann-Whitney U, ties count
    /// one half); `None` when only one class is present.
    pub roc_auc: Option<f64>,
    /// Expected calibration error over [`CALIBRATION_BINS`] equal bins of the score: the
    /// mean, weighted by bin size, of |mean score - observed share|.
    pub ece: Option<f64>,
    /// The reliability diagram (non-empty bins).
    pub reliability: Vec<Bin>,
}

/// The figures of `joined`; `positive` is the positive class of a binary model (`None` for a
/// multiclass model, whose score is the predicted class's probability).
pub fn figures(joined: &[&Joined], positive: Option<&str>) -> Figures {
    let labelled = joined.len() as u64;
    let with_class: Vec<bool> = joined
        .iter()
        .filter_map(|j| j.class.as_ref().map(|c| *c == j.label))
        .collect();
    let accuracy = (!with_class.is_empty())
        .then(|| with_class.iter().filter(|h| **h).count() as f64 / with_class.len() as f64);
    // (score, whether the scored outcome happened)
    let scored: Vec<(f64, bool)> = joined
        .iter()
        .filter_map(|j| {
            let s = j.score.filter(|s| s.is_finite())?;
            let hit = match positive {
                Some(p) => j.label == p,
                None => j.class.as_deref() == Some(j.label.as_str()),
            };
            Some((s, hit))
        })
        .collect();
    let roc_auc = positive.and_then(|_| roc_auc(&scored));
    let mut bins = vec![(0u64, 0.0f64, 0u64); CALIBRATION_BINS];
    for (s, hit) in &scored {
        let i = ((s.clamp(0.0, 1.0) * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        bins[i].0 += 1;
        bins[i].1 += s;
        bins[i].2 += u64::from(*hit);
    }
    let n = scored.len() as f64;
    let mut ece = 0.0;
    let mut reliability = Vec::new();
    for (i, (count, sum, hits)) in bins.into_iter().enumerate() {
        if count == 0 {
            continue;
        }
        let (mean_score, observed) = (sum / count as f64, hits as f64 / count as f64);
        ece += count as f64 / n * (mean_score - observed).abs();
        reliability.push(Bin {
            lo: i as f64 / CALIBRATION_BINS as f64,
            hi: (i + 1) as f64 / CALIBRATION_BINS as f64,
            count,
            mean_score,
            observed,
        });
    }
    Figures {
        labelled,
        accuracy,
        roc_auc,
        ece: (!scored.is_empty()).then_some(ece),
        reliability,
    }
}

/// ROC AUC as the Mann-Whitney U statistic over (score, positive) pairs, ties counting one
/// half; `None` without both classes.
fn roc_auc(scored: &[(f64, bool)]) -> Option<f64> {
    let pos = scored.iter().filter(|(_, p)| *p).count();
    let neg = scored.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut v: Vec<(f64, bool)> = scored.to_vec();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the positives' mid-ranks.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j].0 == v[i].0 {
            j += 1;
        }
        let mid = (i + j + 1) as f64 / 2.0;
        rank_sum += mid * v[i..j].iter().filter(|(_, p)| *p).count() as f64;
        i = j;
    }
    let (p, n) = (pos as f64, neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(e: &str, at: i64, score: f64) -> Logged {
        Logged {
            entity: e.into(),
            at,
            score: Some(score),
            class: Some(if score >= 0.5 { "1" } else { "0" }.into()),
        }
    }

    fn label(e: &str, at: i64, v: &str) -> Label {
        Label {
            entity: e.into(),
            at,
            value: v.into(),
            slice: None,
        }
    }

    #[test]
    fn a_label_joins_the_latest_prediction_at_or_before_it_and_never_a_later_one() {
        let p = [
            logged("a", 100, 0.9),
            logged("a", 200, 0.2),
            logged("b", 300, 0.7),
        ];
        let l = [
            label("a", 99, "1"),  // before every prediction of a: unmatched
            label("a", 150, "1"), // the prediction at 100
            label("a", 200, "0"), // at the same second: the prediction at 200
            label("b", 250, "1"), // b's only prediction is after it: unmatched
            label("c", 999, "1"), // no prediction for c
        ];
        let (j, unmatched) = join(&p, &l);
        assert_eq!(unmatched, 3);
        assert_eq!(j.len(), 2);
        assert_eq!((j[0].at, j[0].label.as_str()), (100, "1"));
        assert_eq!((j[1].at, j[1].label.as_str()), (200, "0"));
    }

    #[test]
    fn of_several_labels_for_one_prediction_the_latest_counts() {
        let p = [logged("a", 100, 0.9)];
        let (j, _) = join(&p, &[label("a", 300, "0"), label("a", 200, "1")]);
        assert_eq!(j.len(), 1);
        assert_eq!(j[0].label, "0");
    }

    #[test]
    fn figures_of_perfect_inverted_and_tied_scores() {
        let j: Vec<Joined> = [(0.9, "1"), (0.8, "1"), (0.2, "0"), (0.1, "0")]
            .iter()
            .map(|(s, l)| Joined {
                at: 0,
                score: Some(*s),
                class: Some(if *s >= 0.5 { "1" } else { "0" }.into()),
                label: (*l).into(),
                slice: None,
            })
            .collect();
        let refs: Vec<&Joined> = j.iter().collect();
        let f = figures(&refs, Some("1"));
        assert_eq!(f.labelled, 4);
        assert_eq!(f.accuracy, Some(1.0));
        assert_eq!(f.roc_auc, Some(1.0));
        // Bins 0.1, 0.2 (observed 0) and 0.8, 0.9 (observed 1): |0.1-0|, |0.2-0|, |0.8-1|, |0.9-1|.
        let ece = f.ece.expect("ece");
        assert!((ece - (0.1 + 0.2 + 0.2 + 0.1) / 4.0).abs() < 1e-12, "{ece}");
        let flipped: Vec<Joined> = j
            .iter()
            .map(|x| Joined {
                label: if x.label == "1" { "0" } else { "1" }.into(),
                ..x.clone()
            })
            .collect();
        let refs: Vec<&Joined> = flipped.iter().collect();
        let f = figures(&refs, Some("1"));
        assert_eq!(f.accuracy, Some(0.0));
        assert_eq!(f.roc_auc, Some(0.0));
        assert_eq!(roc_auc(&[(0.5, true), (0.5, false)]), Some(0.5));
        assert_eq!(roc_auc(&[(0.5, true)]), None);
        assert_eq!(figures(&[], Some("1")).accuracy, None);
    }
}
