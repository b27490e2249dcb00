//! Gate policies: the `GATE.toml` an operator writes to say what a model must show before it
//! may be approved and deployed, parsed and checked here (pure: the appliance reads the file,
//! measures the model and applies it, `airlock::ops::gate`).
//!
//! Every section is optional, but a policy must check something:
//!
//! ```toml
//! [evaluation]                 # figures from a dataset the model never saw
//! dataset = "credit-test@1"    # without it, [metrics] reads the run's held-out split
//! threshold = 0.4              # binary models: the decision threshold judged and served
//!
//! [metrics]                    # any metric of the task
//! roc_auc = ">= 0.70"
//! brier = "<= 0.25"
//!
//! [baseline]                   # no worse than what runs today, on the same dataset
//! slot = "production"          # or: model = "3f2a9c1e" (a pinned model)
//! metrics = ["roc_auc"]
//! margin = 0.02
//! when_missing = "pass"        # nothing deployed yet: "pass" (noted) or "fail"
//!
//! [slices]
//! columns = ["purpose"]
//! min_rows = 30
//! small = "report"             # a smaller slice is shown, not judged ("fail": it fails)
//! [slices.metrics]
//! accuracy = ">= 0.60"
//!
//! [[fairness]]                 # a declared attribute needs at least one threshold
//! attribute = "age"
//! cuts = [25]                  # numeric attributes: bands <=25, >25
//! disparate_impact_ratio = ">= 0.80"
//! review_band = 0.05           # within 0.05 of a threshold: needs a named human review
//!
//! [[behaviour]]                # CheckList's three kinds of case
//! kind = "minimum"             # "minimum", "invariance" or "directional"
//! cases = "cases/clear.jsonl"  # JSON lines or CSV, next to this file
//!
//! [robustness]
//! epsilon = 0.1                # bound, in standardized units
//! noise = ">= 0.70"            # accuracy under seeded noise
//! fgsm = ">= 0.65"             # accuracy under a gradient attack
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::lifecycle::Op;

/// Largest gate policy file accepted.
pub const MAX_POLICY_BYTES: usize = 256 << 10;

/// Largest behaviour case file accepted (the file travels in the gate report).
pub const MAX_CASES_BYTES: usize = 1 << 20;

/// Fairness figures a policy may bound, as the runtime names them.
pub const FAIRNESS_METRICS: [&str; 5] = [
    "demographic_parity_difference",
    "disparate_impact_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "equalized_odds_ratio",
];

/// Robustness figures a policy may bound: accuracy under each perturbation.
pub const ROBUSTNESS_METRICS: [&str; 2] = ["noise_accuracy", "fgsm_accuracy"];

/// The figure behaviour checks bound: the share of cases that behave.
pub const PASS_RATE: &str = "pass_rate";

/// Whether a lower value of `metric` is better (losses and errors); higher is better for the
/// others. A baseline margin is applied in the metric's worse direction.
pub fn lower_is_better(metric: &str) -> bool {
    matches!(metric, "log_loss" | "brier" | "rmse" | "mae")
}

/// `>= X` or `<= X` (spaces optional), as a policy writes a threshold.
pub fn parse_bound(s: &str, what: &str) -> Result<(Op, f64)> {
    let t = s.trim();
    let (op, rest) = if let Some(r) = t.strip_prefix(">=") {
        (Op::AtLeast, r)
    } else if let Some(r) = t.strip_prefix("<=") {
        (Op::AtMost, r)
    } else {
        return Err(Error::Rejected(format!(
            "{what}: {s:?} is not a threshold; write \">= 0.8\" or \"<= 0.1\""
        )));
    };
    let v: f64 = rest
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| Error::Rejected(format!("{what}: {:?} is not a number", rest.trim())))?;
    Ok((op, v))
}

/// One bound: a metric, a comparison and a threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// The figure.
    pub metric: String,
    /// The comparison.
    pub op: Op,
    /// The threshold.
    pub threshold: f64,
}

/// What a slice under the minimum size gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmallSlices {
    /// Reported, not judged.
    Report,
    /// Judged as failed.
    Fail,
}

/// When the baseline has no model (nothing deployed to its slot yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenMissing {
    /// The gate notes it and goes on.
    Pass,
    /// The gate fails.
    Fail,
}

/// The kinds of behaviour case (CheckList's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// Each case names the class the model must predict.
    Minimum,
    /// Changing a named column to other values must not move the score by more than ε.
    Invariance,
    /// Raising (or lowering) a numeric column must not move the score the other way.
    Directional,
}

impl CaseKind {
    /// As a policy writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Minimum => "minimum",
            CaseKind::Invariance => "invariance",
            CaseKind::Directional => "directional",
        }
    }
}

/// Which way a directional case moves its column, and so the score must not move against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Adding `delta` must not lower the score.
    Increase,
    /// Adding `delta` must not raise the score.
    Decrease,
}

/// `[evaluation]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationSpec {
    /// The dataset, `[SITE/]NAME[@VERSION]`, ingested under the model's contract.
    pub dataset: String,
    /// The decision threshold of a binary model (default 0.5): fairness and the confusion are
    /// taken at it, and a model gated so is deployed and served at it.
    pub threshold: Option<f64>,
}

/// `[baseline]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    /// The slot whose deployed model is the baseline (when no model is pinned).
    pub slot: String,
    /// A pinned model id (or 8+ leading hex digits).
    pub model: Option<String>,
    /// The metrics compared.
    pub metrics: Vec<String>,
    /// How much worse the candidate may be.
    pub margin: f64,
    /// When there is no baseline model.
    pub when_missing: WhenMissing,
}

/// `[slices]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Slices {
    /// The contract columns sliced on.
    pub columns: Vec<String>,
    /// Slices with fewer rows are small.
    pub min_rows: usize,
    /// What a small slice gets.
    pub small: SmallSlices,
    /// Bounds every judged slice must meet.
    pub bounds: Vec<Bound>,
}

/// One `[[fairness]]` attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct FairnessRule {
    /// The contract column.
    pub attribute: String,
    /// Cut points banding a numeric attribute.
    pub cuts: Vec<f64>,
    /// Bounds on the fairness figures (at least one).
    pub bounds: Vec<Bound>,
    /// A figure within this distance of its threshold needs a named human review.
    pub review_band: f64,
}

/// One `[[behaviour]]` case file.
#[derive(Clone, Debug, PartialEq)]
pub struct BehaviourRule {
    /// A name for reports (default: the file name).
    pub name: String,
    /// The kind of case.
    pub kind: CaseKind,
    /// The case file, relative to the policy file.
    pub cases: String,
    /// Minimum cases: the field holding the expected class.
    pub expected_column: String,
    /// Invariance and directional cases: the column changed.
    pub column: Option<String>,
    /// Invariance cases: the values the column takes in turn.
    pub values: Vec<String>,
    /// Directional cases: what is added to the column.
    pub delta: Option<f64>,
    /// Directional cases: which way.
    pub direction: Direction,
    /// Invariance: largest score change; directional: largest move the wrong way.
    pub epsilon: f64,
    /// Share of cases that must behave.
    pub min_pass_rate: f64,
}

/// `[robustness]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Robustness {
    /// The bound of the perturbations, in standardized units.
    pub epsilon: f64,
    /// Bounds on accuracy under each perturbation.
    pub bounds: Vec<Bound>,
}

/// A checked gate policy.
#[derive(Clone, Debug, PartialEq)]
pub struct GatePolicy {
    /// Where the figures come from; `None`: the run's held-out split.
    pub evaluation: Option<EvaluationSpec>,
    /// Whole-dataset metric bounds.
    pub metrics: Vec<Bound>,
    /// The baseline comparison.
    pub baseline: Option<Baseline>,
    /// Per-slice minimums.
    pub slices: Option<Slices>,
    /// Fairness per declared attribute.
    pub fairness: Vec<FairnessRule>,
    /// Behaviour case files.
    pub behaviour: Vec<BehaviourRule>,
    /// Robustness minimums.
    pub robustness: Option<Robustness>,
}

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

/// Default bound of robustness perturbations (standardized units), as `airlock evaluate`.
pub const DEFAULT_EPSILON: f64 = 0.1;

/// Default minimum slice size, as `airlock evaluate`.
pub const DEFAULT_MIN_ROWS: usize = 30;

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

/// A file a gate policy refers to, carried in the gate report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// The path, as the policy names it.
    pub name: String,
    /// SHA-256 of `text`.
    pub digest: Digest,
    /// The file.
    pub text: String,
}

/// The policy a gate report applied: its text and every case file, each with its digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedPolicy {
    /// SHA-256 of `text`.
    pub digest: Digest,
    /// The policy as written (for `--require`, the equivalent policy).
    pub text: String,
    /// The behaviour case files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PolicyFile>,
}

impl AppliedPolicy {
    /// The policy `text` with its `files`, digests computed.
    pub fn new(text: String, files: Vec<(String, String)>) -> AppliedPolicy {
        AppliedPolicy {
            digest: Digest::of(text.as_bytes()),
            files: files
                .into_iter()
                .map(|(name, text)| PolicyFile {
                    digest: Digest::of(text.as_bytes()),
                    name,
                    text,
                })
                .collect(),
            text,
        }
    }

    /// Every digest matches its text.
    pub fn check(&self) -> std::result::Result<(), String> {
        if Digest::of(self.text.as_bytes()) != self.digest {
            return Err("its policy text does not match the policy digest".into());
        }
        if let Some(f) = self
            .files
            .iter()
            .find(|f| Digest::of(f.text.as_bytes()) != f.digest)
        {
            return Err(format!(
                "its case file {:?} does not match its digest",
                f.name
            ));
        }
        Ok(())
    }
}

/// The equivalent policy text of `--require` thresholds on the held-out split.
pub fn require_policy_text(bounds: &[Bound]) -> String {
    let mut s = String::from("# airlock gate --require, on the run's held-out split\n[metrics]\n");
    for b in bounds {
        s.push_str(&format!(
            "{} = \"{} {}\"\n",
            b.metric,
            b.op.as_str(),
            b.threshold
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: [&str; 4] = ["accuracy", "roc_auc", "brier", "positive_rate"];

    fn parse(t: &str) -> Result<GatePolicy> {
        GatePolicy::parse(t, "GATE.toml", &METRICS)
    }

    fn refused(t: &str, needle: &str) {
        match parse(t) {
            Err(Error::Rejected(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
            other => panic!("expected a refusal naming {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("gate.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
            .collect::<Vec<_>>()
            .join("\n");
        let p = parse(&example).expect("the module's example");
        assert_eq!(p.metrics.len(), 2);
        assert_eq!(p.fairness[0].cuts, vec![25.0]);
        assert_eq!(p.fairness[0].review_band, 0.05);
        assert_eq!(p.behaviour[0].kind, CaseKind::Minimum);
        assert_eq!(p.robustness.as_ref().map(|r| r.bounds.len()), Some(2));
        assert_eq!(p.baseline.as_ref().map(|b| b.margin), Some(0.02));
        assert_eq!(
            p.slices.as_ref().map(|s| s.small),
            Some(SmallSlices::Report)
        );
    }

    #[test]
    fn a_declared_attribute_without_a_threshold_is_refused() {
        refused(
            "[evaluation]\ndataset = \"t@1\"\n[[fairness]]\nattribute = \"age\"\n",
            "declared sensitive but has no threshold",
        );
    }

    #[test]
    fn typos_and_unknown_metrics_are_refused() {
        refused(
            "[metrics]\nroc_acu = \">= 0.7\"\n",
            "unknown metric \"roc_acu\"",
        );
        refused(
            "[evaluation]\ndataset = \"t@1\"\n[[fairness]]\nattribute = \"a\"\ndisparate_impact = \">= 0.8\"\n",
            "unknown field",
        );
        refused("[metrics]\nroc_auc = \"> 0.7\"\n", "is not a threshold");
        refused("[metrics]\nroc_auc = \">= high\"\n", "is not a number");
    }

    #[test]
    fn a_policy_that_checks_nothing_is_refused() {
        refused("", "checks nothing");
        refused("[evaluation]\ndataset = \"t@1\"\n", "checks nothing");
    }

    #[test]
    fn figures_on_unseen_data_need_an_evaluation() {
        refused(
            "[baseline]\nmetrics = [\"roc_auc\"]\nmargin = 0.01\n",
            "add [evaluation]",
        );
        refused("[robustness]\nnoise = \">= 0.5\"\n", "add [evaluation]");
    }

    #[test]
    fn case_files_stay_in_the_policy_folder() {
        for bad in [
            "/etc/passwd",
            "../x.csv",
            "a/../../x.csv",
            ".hidden",
            "a b.csv",
        ] {
            refused(
                &format!("[[behaviour]]\nkind = \"minimum\"\ncases = \"{bad}\"\n"),
                "relative path",
            );
        }
        assert!(parse("[[behaviour]]\nkind = \"minimum\"\ncases = \"cases/ok-1.jsonl\"\n").is_ok());
    }

    #[test]
    fn behaviour_kinds_need_their_fields() {
        refused(
            "[[behaviour]]\nkind = \"invariance\"\ncases = \"c.csv\"\n",
            "invariance cases need",
        );
        refused(
            "[[behaviour]]\nkind = \"directional\"\ncases = \"c.csv\"\ncolumn = \"x\"\ndelta = 0\n",
            "directional cases need",
        );
        refused(
            "[[behaviour]]\nkind = \"minimum\"\ncases = \"c.csv\"\nmin_pass_rate = 1.5\n",
            "within 0 and 1",
        );
    }

    #[test]
    fn the_require_shorthand_is_a_policy() {
        let b = vec![Bound {
            metric: "roc_auc".into(),
            op: Op::AtLeast,
            threshold: 0.7,
        }];
        let p = parse(&require_policy_text(&b)).expect("shorthand policy parses");
        assert_eq!(p.metrics, b);
    }

    #[test]
    fn applied_policy_digests_are_checked() {
        let mut a = AppliedPolicy::new("[metrics]\n".into(), vec![("c.csv".into(), "x\n".into())]);
        assert!(a.check().is_ok());
        a.files[0].text.push('y');
        assert!(a.check().expect_err("case file").contains("c.csv"));
        a.files[0].text.pop();
        a.text.push('#');
        assert!(a.check().expect_err("policy").contains("policy text"));
    }
}
