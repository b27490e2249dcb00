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

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

mod parse;

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

/// Default bound of robustness perturbations (standardized units), as `airlock evaluate`.
pub const DEFAULT_EPSILON: f64 = 0.1;

/// Default minimum slice size, as `airlock evaluate`.
pub const DEFAULT_MIN_ROWS: usize = 30;

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

/// A comparison in a gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// The metric must be at least the threshold.
    #[serde(rename = ">=")]
    AtLeast,
    /// The metric must be at most the threshold.
    #[serde(rename = "<=")]
    AtMost,
}

impl Op {
    /// As written in a threshold: `>=` or `<=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::AtLeast => ">=",
            Op::AtMost => "<=",
        }
    }

    /// Whether `value` meets `threshold` under this comparison.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::AtLeast => value >= threshold,
            Op::AtMost => value <= threshold,
        }
    }
}

#[cfg(test)]
mod tests;
