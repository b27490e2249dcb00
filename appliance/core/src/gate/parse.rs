//! Parsing a `GATE.toml`: the raw TOML shapes, and the checks that turn them into a
//! [`GatePolicy`] or refuse the file naming what is wrong.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    Baseline, BehaviourRule, Bound, CaseKind, DEFAULT_EPSILON, DEFAULT_MIN_ROWS, Direction,
    EvaluationSpec, FAIRNESS_METRICS, FairnessRule, GatePolicy, MAX_POLICY_BYTES, Robustness,
    Slices, SmallSlices, WhenMissing, parse_bound,
};
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    evaluation: Option<EvaluationSpec>,
    #[serde(default)]
    metrics: BTreeMap<String, String>,
    baseline: Option<RawBaseline>,
    slices: Option<RawSlices>,
    #[serde(default)]
    fairness: Vec<RawFairness>,
    #[serde(default)]
    behaviour: Vec<RawBehaviour>,
    robustness: Option<RawRobustness>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBaseline {
    slot: Option<String>,
    model: Option<String>,
    metrics: Vec<String>,
    margin: f64,
    when_missing: Option<WhenMissing>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlices {
    columns: Vec<String>,
    min_rows: Option<usize>,
    small: Option<SmallSlices>,
    #[serde(default)]
    metrics: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFairness {
    attribute: String,
    #[serde(default)]
    cuts: Vec<f64>,
    review_band: Option<f64>,
    demographic_parity_difference: Option<String>,
    disparate_impact_ratio: Option<String>,
    equalized_odds_difference: Option<String>,
    equal_opportunity_difference: Option<String>,
    equalized_odds_ratio: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBehaviour {
    name: Option<String>,
    kind: CaseKind,
    cases: String,
    expected_column: Option<String>,
    column: Option<String>,
    #[serde(default)]
    values: Vec<String>,
    delta: Option<f64>,
    direction: Option<Direction>,
    epsilon: Option<f64>,
    min_pass_rate: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRobustness {
    epsilon: Option<f64>,
    noise: Option<String>,
    fgsm: Option<String>,
}

fn bounds(map: &BTreeMap<String, String>, known: &[&str], section: &str) -> Result<Vec<Bound>> {
    map.iter()
        .map(|(metric, s)| {
            if !known.contains(&metric.as_str()) {
                return Err(Error::Rejected(format!(
                    "[{section}]: unknown metric {metric:?} (known: {})",
                    known.join(", ")
                )));
            }
            let (op, threshold) = parse_bound(s, &format!("[{section}] {metric}"))?;
            Ok(Bound {
                metric: metric.clone(),
                op,
                threshold,
            })
        })
        .collect()
}

fn finite_non_negative(v: f64, what: &str) -> Result<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(Error::Rejected(format!(
            "{what}: {v} must be a number at least 0"
        )))
    }
}

fn rate(v: f64, what: &str) -> Result<f64> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(Error::Rejected(format!(
            "{what}: {v} must be within 0 and 1"
        )))
    }
}

impl GatePolicy {
    /// Parses and checks a gate policy. `metric_names` are the metrics the runtime computes.
    /// Refused: unknown sections, fields or metrics, a threshold that is not `>= X` / `<= X`,
    /// a fairness attribute with no threshold, a policy that checks nothing, a behaviour case
    /// file outside the policy's folder, and sections that need figures from an evaluation
    /// (baseline, fairness, robustness) without `[evaluation]`.
    pub fn parse(text: &str, source: &str, metric_names: &[&str]) -> Result<GatePolicy> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(Error::Rejected(format!(
                "gate policy {source}: {} bytes, more than the {MAX_POLICY_BYTES} accepted",
                text.len()
            )));
        }
        let raw: RawPolicy = toml::from_str(text)
            .map_err(|e| Error::Rejected(format!("gate policy {source}: {e}")))?;
        let at = |e: Error| match e {
            Error::Rejected(m) => Error::Rejected(format!("gate policy {source}: {m}")),
            other => other,
        };
        Self::from_raw(raw, metric_names).map_err(at)
    }

    fn from_raw(raw: RawPolicy, metric_names: &[&str]) -> Result<GatePolicy> {
        let metrics = bounds(&raw.metrics, metric_names, "metrics")?;
        let baseline = raw
            .baseline
            .map(|b| -> Result<Baseline> {
                if b.metrics.is_empty() {
                    return Err(Error::Rejected(
                        "[baseline]: name the metrics compared (metrics = [\"roc_auc\"])".into(),
                    ));
                }
                if let Some(m) = b
                    .metrics
                    .iter()
                    .find(|m| !metric_names.contains(&m.as_str()))
                {
                    return Err(Error::Rejected(format!(
                        "[baseline]: unknown metric {m:?} (known: {})",
                        metric_names.join(", ")
                    )));
                }
                if b.slot.is_some() && b.model.is_some() {
                    return Err(Error::Rejected(
                        "[baseline]: give a slot or a pinned model, not both".into(),
                    ));
                }
                let slot = b.slot.unwrap_or_else(|| "production".into());
                crate::name::validate_name(&slot)?;
                Ok(Baseline {
                    slot,
                    model: b.model,
                    metrics: b.metrics,
                    margin: finite_non_negative(b.margin, "[baseline] margin")?,
                    when_missing: b.when_missing.unwrap_or(WhenMissing::Pass),
                })
            })
            .transpose()?;
        let slices = raw
            .slices
            .map(|s| -> Result<Slices> {
                if s.columns.is_empty() {
                    return Err(Error::Rejected(
                        "[slices]: name the columns to slice on (columns = [\"purpose\"])".into(),
                    ));
                }
                let bounds = bounds(&s.metrics, metric_names, "slices.metrics")?;
                if bounds.is_empty() {
                    return Err(Error::Rejected(
                        "[slices]: give at least one bound in [slices.metrics] (accuracy = \">= 0.6\")"
                            .into(),
                    ));
                }
                Ok(Slices {
                    columns: s.columns,
                    min_rows: s.min_rows.unwrap_or(DEFAULT_MIN_ROWS),
                    small: s.small.unwrap_or(SmallSlices::Report),
                    bounds,
                })
            })
            .transpose()?;
        let mut fairness = Vec::new();
        for f in raw.fairness {
            let what = format!("[[fairness]] {:?}", f.attribute);
            if f.attribute.is_empty() {
                return Err(Error::Rejected(
                    "[[fairness]]: name the attribute (attribute = \"age\")".into(),
                ));
            }
            if f.cuts.iter().any(|c| !c.is_finite()) || f.cuts.windows(2).any(|w| w[0] >= w[1]) {
                return Err(Error::Rejected(format!(
                    "{what}: cuts must be numbers that rise"
                )));
            }
            let given = [
                (
                    "demographic_parity_difference",
                    &f.demographic_parity_difference,
                ),
                ("disparate_impact_ratio", &f.disparate_impact_ratio),
                ("equalized_odds_difference", &f.equalized_odds_difference),
                (
                    "equal_opportunity_difference",
                    &f.equal_opportunity_difference,
                ),
                ("equalized_odds_ratio", &f.equalized_odds_ratio),
            ];
            let mut bs = Vec::new();
            for (metric, v) in given {
                if let Some(v) = v {
                    let (op, threshold) = parse_bound(v, &format!("{what} {metric}"))?;
                    bs.push(Bound {
                        metric: metric.into(),
                        op,
                        threshold,
                    });
                }
            }
            if bs.is_empty() {
                return Err(Error::Rejected(format!(
                    "{what} is declared sensitive but has no threshold; give at least one of {}",
                    FAIRNESS_METRICS.join(", ")
                )));
            }
            fairness.push(FairnessRule {
                attribute: f.attribute,
                cuts: f.cuts,
                bounds: bs,
                review_band: finite_non_negative(
                    f.review_band.unwrap_or(0.0),
                    &format!("{what} review_band"),
                )?,
            });
        }
        let mut behaviour = Vec::new();
        for b in raw.behaviour {
            let what = format!("[[behaviour]] {:?}", b.cases);
            check_case_path(&b.cases).map_err(|m| Error::Rejected(format!("{what}: {m}")))?;
            match b.kind {
                CaseKind::Minimum => {
                    if b.column.is_some() || !b.values.is_empty() || b.delta.is_some() {
                        return Err(Error::Rejected(format!(
                            "{what}: minimum cases take no column, values or delta (each case names its expected class)"
                        )));
                    }
                }
                CaseKind::Invariance => {
                    if b.column.is_none() || b.values.is_empty() {
                        return Err(Error::Rejected(format!(
                            "{what}: invariance cases need the column changed and the values it takes (column = \"status_sex\", values = [\"A91\", \"A92\"])"
                        )));
                    }
                }
                CaseKind::Directional => {
                    if b.column.is_none() || b.delta.is_none_or(|d| !d.is_finite() || d == 0.0) {
                        return Err(Error::Rejected(format!(
                            "{what}: directional cases need the column changed and a delta other than 0 (column = \"duration\", delta = 12)"
                        )));
                    }
                }
            }
            let name = b.name.unwrap_or_else(|| {
                b.cases
                    .rsplit('/')
                    .next()
                    .unwrap_or(b.cases.as_str())
                    .to_string()
            });
            behaviour.push(BehaviourRule {
                name,
                kind: b.kind,
                expected_column: b.expected_column.unwrap_or_else(|| "expected".into()),
                column: b.column,
                values: b.values,
                delta: b.delta,
                direction: b.direction.unwrap_or(Direction::Increase),
                epsilon: finite_non_negative(b.epsilon.unwrap_or(0.0), &format!("{what} epsilon"))?,
                min_pass_rate: rate(
                    b.min_pass_rate.unwrap_or(1.0),
                    &format!("{what} min_pass_rate"),
                )?,
                cases: b.cases,
            });
        }
        let robustness = raw
            .robustness
            .map(|r| -> Result<Robustness> {
                let mut bs = Vec::new();
                for (metric, v) in [("noise_accuracy", &r.noise), ("fgsm_accuracy", &r.fgsm)] {
                    if let Some(v) = v {
                        let (op, threshold) = parse_bound(v, &format!("[robustness] {metric}"))?;
                        bs.push(Bound {
                            metric: metric.into(),
                            op,
                            threshold,
                        });
                    }
                }
                if bs.is_empty() {
                    return Err(Error::Rejected(
                        "[robustness]: give noise = \">= X\" or fgsm = \">= X\"".into(),
                    ));
                }
                let epsilon = r.epsilon.unwrap_or(DEFAULT_EPSILON);
                if !(epsilon.is_finite() && epsilon > 0.0) {
                    return Err(Error::Rejected(format!(
                        "[robustness] epsilon: {epsilon} must be a number above 0"
                    )));
                }
                Ok(Robustness {
                    epsilon,
                    bounds: bs,
                })
            })
            .transpose()?;
        if let Some(t) = raw.evaluation.as_ref().and_then(|e| e.threshold)
            && !(0.0..=1.0).contains(&t)
        {
            return Err(Error::Rejected(format!(
                "[evaluation] threshold: {t} must be a probability, from 0 to 1"
            )));
        }
        let policy = GatePolicy {
            evaluation: raw.evaluation,
            metrics,
            baseline,
            slices,
            fairness,
            behaviour,
            robustness,
        };
        if policy.evaluation.is_none() {
            let needs = [
                ("[baseline]", policy.baseline.is_some()),
                ("[[fairness]]", !policy.fairness.is_empty()),
                ("[robustness]", policy.robustness.is_some()),
                ("[slices]", policy.slices.is_some()),
            ];
            if let Some((s, _)) = needs.iter().find(|(_, present)| *present) {
                return Err(Error::Rejected(format!(
                    "{s} needs figures on data the model never saw: add [evaluation] dataset = \"NAME@VERSION\""
                )));
            }
        }
        if policy.metrics.is_empty()
            && policy.baseline.is_none()
            && policy.slices.is_none()
            && policy.fairness.is_empty()
            && policy.behaviour.is_empty()
            && policy.robustness.is_none()
        {
            return Err(Error::Rejected(
                "it checks nothing; give at least one section ([metrics], [baseline], [slices], [[fairness]], [[behaviour]], [robustness])"
                    .into(),
            ));
        }
        Ok(policy)
    }
}

/// A case file path must stay within the policy's folder: relative, no `..`, no empty or
/// hidden parts, plain characters.
fn check_case_path(p: &str) -> std::result::Result<(), String> {
    let ok_part = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if p.starts_with('/') || !p.split('/').all(ok_part) {
        return Err(
            "a case file is a relative path within the policy's folder (letters, digits, - _ . and /; no ..)"
                .into(),
        );
    }
    Ok(())
}
