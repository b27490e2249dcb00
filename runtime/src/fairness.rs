//! Group fairness of a binary classifier's decisions: per group of a sensitive attribute, the
//! selection rate and the true and false positive rates, and the disparities between groups
//! that regulators and Fairlearn name.
//!
//! Definitions (Fairlearn 0.15, `method="between_groups"`; a test checks the figures equal
//! Fairlearn's to 1e-9 on a recorded fixture, `tests/fixtures/fairness/`):
//! - selection rate of a group: the share of its rows predicted positive;
//! - demographic parity difference: largest selection rate minus smallest;
//! - demographic parity ratio, the disparate impact ratio (the "four-fifths rule" asks ≥ 0.8):
//!   smallest selection rate over largest;
//! - equal opportunity difference: largest true positive rate minus smallest;
//! - equalized odds difference: the larger of the true positive rate difference and the false
//!   positive rate difference; equalized odds ratio: the smaller of the two ratios.
//!
//! Where Fairlearn returns NaN, these figures are defined instead: a group with no actual
//! positives has no true positive rate (and one with no actual negatives no false positive
//! rate) and is left out of that rate's disparities (it is still reported, with its counts); a
//! ratio whose largest rate is 0 is 1 (no group is favoured); a rate with fewer than two groups
//! has difference 0 and ratio 1.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One group's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRates {
    /// The attribute's value.
    pub group: String,
    /// Rows in the group.
    pub rows: usize,
    /// Rows predicted positive.
    pub selected: usize,
    /// Rows whose label is positive.
    pub positives: usize,
    /// Rows whose label is negative.
    pub negatives: usize,
    /// `selected / rows`.
    pub selection_rate: f64,
    /// Share of the actual positives predicted positive; `None` without actual positives.
    pub true_positive_rate: Option<f64>,
    /// Share of the actual negatives predicted positive; `None` without actual negatives.
    pub false_positive_rate: Option<f64>,
}

/// The spread of one rate across groups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disparity {
    /// Largest rate minus smallest.
    pub difference: f64,
    /// Smallest rate over largest (1 when the largest is 0).
    pub ratio: f64,
    /// The group with the smallest rate.
    pub lowest: Option<String>,
    /// The group with the largest rate.
    pub highest: Option<String>,
}

/// Fairness of decisions across the groups of one sensitive attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fairness {
    /// Every group, sorted by value.
    pub groups: Vec<GroupRates>,
    /// Selection rates: demographic parity difference and ratio (disparate impact).
    pub selection: Disparity,
    /// True positive rates: equal opportunity.
    pub true_positive: Disparity,
    /// False positive rates.
    pub false_positive: Disparity,
}

/// Names of the figures [`Fairness::get`] knows, as a gate policy writes them.
pub const FAIRNESS_METRICS: [&str; 5] = [
    "demographic_parity_difference",
    "disparate_impact_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "equalized_odds_ratio",
];

impl Fairness {
    /// Demographic parity difference.
    pub fn demographic_parity_difference(&self) -> f64 {
        self.selection.difference
    }

    /// Disparate impact ratio (demographic parity ratio).
    pub fn disparate_impact_ratio(&self) -> f64 {
        self.selection.ratio
    }

    /// Equal opportunity difference (true positive rates).
    pub fn equal_opportunity_difference(&self) -> f64 {
        self.true_positive.difference
    }

    /// Equalized odds difference: the worse of the true and false positive rate differences.
    pub fn equalized_odds_difference(&self) -> f64 {
        self.true_positive
            .difference
            .max(self.false_positive.difference)
    }

    /// Equalized odds ratio: the worse of the true and false positive rate ratios.
    pub fn equalized_odds_ratio(&self) -> f64 {
        self.true_positive.ratio.min(self.false_positive.ratio)
    }

    /// A figure by name (one of [`FAIRNESS_METRICS`]).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "demographic_parity_difference" => Some(self.demographic_parity_difference()),
            "disparate_impact_ratio" => Some(self.disparate_impact_ratio()),
            "equalized_odds_difference" => Some(self.equalized_odds_difference()),
            "equal_opportunity_difference" => Some(self.equal_opportunity_difference()),
            "equalized_odds_ratio" => Some(self.equalized_odds_ratio()),
            _ => None,
        }
    }
}

fn disparity<'a>(rates: impl Iterator<Item = (&'a str, Option<f64>)>) -> Disparity {
    let mut lowest: Option<(&str, f64)> = None;
    let mut highest: Option<(&str, f64)> = None;
    for (g, r) in rates {
        let Some(r) = r else { continue };
        if lowest.is_none_or(|(_, l)| r < l) {
            lowest = Some((g, r));
        }
        if highest.is_none_or(|(_, h)| r > h) {
            highest = Some((g, r));
        }
    }
    match (lowest, highest) {
        (Some((lg, l)), Some((hg, h))) => Disparity {
            difference: h - l,
            ratio: if h == 0.0 { 1.0 } else { l / h },
            lowest: Some(lg.to_owned()),
            highest: Some(hg.to_owned()),
        },
        _ => Disparity {
            difference: 0.0,
            ratio: 1.0,
            lowest: None,
            highest: None,
        },
    }
}

/// The fairness of `predicted` decisions against binary `labels` (0 or 1) across the groups
/// named by `groups` (one value per row).
///
/// # Errors
/// [`Error::LengthMismatch`] when the three differ in length, [`Error::TooFewRows`] when
/// empty, [`Error::InvalidLabel`] for a label other than 0 or 1.
pub fn fairness(predicted: &[bool], labels: &[f32], groups: &[String]) -> Result<Fairness> {
    let mut names: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    let mut codes = Vec::with_capacity(groups.len());
    for g in groups {
        let next = index.len() as u32;
        let code = *index.entry(g.as_str()).or_insert(next);
        if code == next {
            names.push(g.clone());
        }
        codes.push(code);
    }
    fairness_coded(predicted, labels, &codes, &names)
}

/// [`fairness`] with each row's group given as an index into `names` (distinct names, in
/// any order): a million rows need no million strings. Groups without rows are left out, as
/// [`fairness`] never sees them.
///
/// # Errors
/// As [`fairness`] (`codes` in place of `groups`); [`Error::InvalidConfig`] for a code
/// beyond `names`.
pub fn fairness_coded(
    predicted: &[bool],
    labels: &[f32],
    codes: &[u32],
    names: &[String],
) -> Result<Fairness> {
    for (what, len) in [("labels", labels.len()), ("groups", codes.len())] {
        if len != predicted.len() {
            return Err(Error::LengthMismatch {
                what,
                expected: predicted.len(),
                found: len,
            });
        }
    }
    if predicted.is_empty() {
        return Err(Error::TooFewRows {
            what: "fairness",
            min: 1,
            found: 0,
        });
    }
    crate::metrics::check_labels(crate::config::Task::Binary, labels)?;
    // (rows, selected, positives, true positives, false positives)
    let mut counts = vec![[0usize; 5]; names.len()];
    for ((&p, &y), &g) in predicted.iter().zip(labels).zip(codes) {
        let c = counts
            .get_mut(g as usize)
            .ok_or_else(|| Error::InvalidConfig {
                field: "groups",
                reason: format!("group {g} of {} named", names.len()),
            })?;
        let positive = y == 1.0;
        c[0] += 1;
        c[1] += usize::from(p);
        c[2] += usize::from(positive);
        c[3] += usize::from(p && positive);
        c[4] += usize::from(p && !positive);
    }
    let mut present: Vec<(&str, [usize; 5])> = names
        .iter()
        .zip(counts)
        .filter(|(_, c)| c[0] > 0)
        .map(|(n, c)| (n.as_str(), c))
        .collect();
    present.sort_by(|a, b| a.0.cmp(b.0));
    let groups: Vec<GroupRates> = present
        .into_iter()
        .map(|(g, [rows, selected, positives, tp, fp])| {
            let negatives = rows - positives;
            GroupRates {
                group: g.to_owned(),
                rows,
                selected,
                positives,
                negatives,
                selection_rate: selected as f64 / rows as f64,
                true_positive_rate: (positives > 0).then(|| tp as f64 / positives as f64),
                false_positive_rate: (negatives > 0).then(|| fp as f64 / negatives as f64),
            }
        })
        .collect();
    Ok(Fairness {
        selection: disparity(
            groups
                .iter()
                .map(|g| (g.group.as_str(), Some(g.selection_rate))),
        ),
        true_positive: disparity(
            groups
                .iter()
                .map(|g| (g.group.as_str(), g.true_positive_rate)),
        ),
        false_positive: disparity(
            groups
                .iter()
                .map(|g| (g.group.as_str(), g.false_positive_rate)),
        ),
        groups,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    /// The figures equal Fairlearn's (0.15, `MetricFrame`, `demographic_parity_difference`,
    /// `demographic_parity_ratio`, `equalized_odds_difference`, `equalized_odds_ratio`) to 1e-9
    /// on the fixture `tests/fixtures/fairness/record.py` recorded.
    #[test]
    fn figures_equal_fairlearns() {
        let raw = include_str!("../../tests/fixtures/fairness/fairlearn.json");
        let f: serde_json::Value = serde_json::from_str(raw).unwrap();
        let as_f32 = |k: &str| -> Vec<f32> {
            f[k].as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        };
        let y = as_f32("y_true");
        let pred: Vec<bool> = as_f32("y_pred").iter().map(|&p| p == 1.0).collect();
        let close = |a: f64, b: &serde_json::Value, what: &str| {
            let b = b.as_f64().unwrap();
            assert!((a - b).abs() <= 1e-9, "{what}: {a} against Fairlearn's {b}");
        };
        let attrs = f["attributes"].as_object().unwrap();
        assert_eq!(attrs.len(), 2);
        for (name, a) in attrs {
            let groups: Vec<String> = a["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g.as_str().unwrap().to_owned())
                .collect();
            let got = fairness(&pred, &y, &groups).unwrap();
            let by = a["by_group"].as_object().unwrap();
            assert_eq!(got.groups.len(), by.len(), "{name}");
            for g in &got.groups {
                let want = &by[&g.group];
                close(g.selection_rate, &want["selection_rate"], &g.group);
                close(
                    g.true_positive_rate.unwrap(),
                    &want["true_positive_rate"],
                    &g.group,
                );
                close(
                    g.false_positive_rate.unwrap(),
                    &want["false_positive_rate"],
                    &g.group,
                );
            }
            for m in FAIRNESS_METRICS {
                let key = match m {
                    "disparate_impact_ratio" => "demographic_parity_ratio",
                    other => other,
                };
                close(got.get(m).unwrap(), &a[key], &format!("{name} {m}"));
            }
        }
    }

    #[test]
    fn groups_without_positives_or_selections_are_defined() {
        let groups: Vec<String> = ["a", "a", "b", "b"].iter().map(|s| s.to_string()).collect();
        // Group b has no actual positive: no true positive rate, left out of that disparity.
        let f = fairness(&[true, false, false, false], &[1.0, 0.0, 0.0, 0.0], &groups).unwrap();
        assert_eq!(f.groups[1].true_positive_rate, None);
        assert_eq!(f.true_positive.difference, 0.0);
        assert_eq!(f.true_positive.ratio, 1.0);
        assert_eq!(f.selection.lowest.as_deref(), Some("b"));
        assert_eq!(f.selection.highest.as_deref(), Some("a"));
        assert_eq!(f.disparate_impact_ratio(), 0.0);
        // Nobody selected: parity holds.
        let f = fairness(&[false; 4], &[1.0, 0.0, 1.0, 0.0], &groups).unwrap();
        assert_eq!(f.disparate_impact_ratio(), 1.0);
        assert_eq!(f.demographic_parity_difference(), 0.0);
    }

    #[test]
    fn coded_groups_give_the_figures_of_named_ones() {
        let names = ["z", "a", "m", "unused"].map(String::from);
        let codes = [0u32, 1, 2, 0, 1, 2, 0, 0, 1, 2];
        let groups: Vec<String> = codes.iter().map(|&c| names[c as usize].clone()).collect();
        let pred = [
            true, false, true, true, true, false, false, true, false, true,
        ];
        let y = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let coded = fairness_coded(&pred, &y, &codes, &names).unwrap();
        assert_eq!(coded, fairness(&pred, &y, &groups).unwrap());
        // Sorted by name; the group without rows is left out.
        let order: Vec<&str> = coded.groups.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(order, ["a", "m", "z"]);
        assert!(matches!(
            fairness_coded(&[true], &[1.0], &[4], &names),
            Err(Error::InvalidConfig { .. })
        ));
    }

    #[test]
    fn bad_inputs_are_refused() {
        let g = vec!["a".to_owned()];
        assert!(matches!(
            fairness(&[true], &[1.0, 0.0], &g),
            Err(Error::LengthMismatch { what: "labels", .. })
        ));
        assert!(matches!(
            fairness(&[], &[], &[]),
            Err(Error::TooFewRows { .. })
        ));
        assert!(matches!(
            fairness(&[true], &[2.0], &g),
            Err(Error::InvalidLabel { .. })
        ));
    }
}
