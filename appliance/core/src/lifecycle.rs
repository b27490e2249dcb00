//! The records of a model's way to production: gate reports, approvals
//! (signed by an operator) and deployments. Gating, approving and deploying
//! against the store are the appliance's (`airlock::ops::lifecycle`).

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::keys::{self, Domain, KeyId};
use crate::site::SiteName;
use crate::time::Timestamp;

/// Type tags of the records written here.
pub const GATE_TYPE: &str = "airlock.gate/v1";
/// Type tag of approvals.
pub const APPROVAL_TYPE: &str = "airlock.approval/v1";
/// Type tag of deployments.
pub const DEPLOYMENT_TYPE: &str = "airlock.deployment/v1";

pub use crate::gate::Op;

/// Which part of a gate policy a check comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// A whole-dataset metric.
    Metrics,
    /// A metric against the baseline model's.
    Baseline,
    /// A metric on one slice.
    Slice,
    /// A fairness figure of one sensitive attribute.
    Fairness,
    /// A behaviour case file.
    Behaviour,
    /// Accuracy under a perturbation.
    Robustness,
}

impl Section {
    /// As reports print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Metrics => "metrics",
            Section::Baseline => "baseline",
            Section::Slice => "slice",
            Section::Fairness => "fairness",
            Section::Behaviour => "behaviour",
            Section::Robustness => "robustness",
        }
    }
}

/// A check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// It held.
    Pass,
    /// It did not.
    Fail,
    /// Within the policy's review band of its threshold: a named person must review it
    /// (`airlock approve --reviewed`) before the model is deployed.
    Review,
    /// Reported, not judged: a slice under the policy's minimum size.
    NotJudged,
}

impl Verdict {
    /// As reports print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Review => "REVIEW",
            Verdict::NotJudged => "not judged",
        }
    }

    /// The verdict of `value` against `op threshold`, with a review band around the threshold.
    pub fn of(op: Op, value: f64, threshold: f64, review_band: Option<f64>) -> Verdict {
        match review_band {
            Some(b) if b > 0.0 && (value - threshold).abs() <= b => Verdict::Review,
            _ if op.holds(value, threshold) => Verdict::Pass,
            _ => Verdict::Fail,
        }
    }
}

/// The baseline a baseline check compared with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineFigure {
    /// The baseline model.
    pub model: Digest,
    /// Its value of the metric, on the same dataset.
    pub value: f64,
    /// How much worse the candidate may be.
    pub margin: f64,
}

impl BaselineFigure {
    /// The check a candidate's `metric` must pass: at least the baseline minus the margin (at
    /// most plus it for metrics where lower is better).
    pub fn bound(&self, metric: &str) -> (Op, f64) {
        if crate::gate::lower_is_better(metric) {
            (Op::AtMost, self.value + self.margin)
        } else {
            (Op::AtLeast, self.value - self.margin)
        }
    }
}

/// One threshold of a gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The policy section it comes from (absent in reports made before gate policies: the
    /// held-out metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<Section>,
    /// What it is about: a slice (`purpose=A43`), an attribute, a case file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Metric name (one of the runtime's `METRIC_NAMES`, or a fairness, robustness or
    /// behaviour figure in those sections).
    pub metric: String,
    /// Comparison.
    pub op: Op,
    /// Threshold.
    pub threshold: f64,
    /// The measured value (filled in by the gate).
    pub value: f64,
    /// Whether it held (or was not judged).
    pub passed: bool,
    /// The outcome, in reports made with a gate policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The review band around the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_band: Option<f64>,
    /// Rows behind the value (slices, behaviour cases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    /// Fewer rows than this are not judged (or fail), as the policy says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rows: Option<usize>,
    /// The baseline compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineFigure>,
    /// For people: the groups behind a fairness figure, the cases that misbehaved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Check {
    /// A check of `value` against `op threshold`, judged plainly (no band, no rows).
    pub fn new(metric: &str, op: Op, threshold: f64, value: f64) -> Check {
        let verdict = Verdict::of(op, value, threshold, None);
        Check {
            section: None,
            subject: None,
            metric: metric.into(),
            op,
            threshold,
            value,
            passed: verdict == Verdict::Pass,
            verdict: None,
            review_band: None,
            rows: None,
            min_rows: None,
            baseline: None,
            detail: None,
        }
    }

    /// The verdict its numbers give: `Fail` or `NotJudged` when too few rows (either may be
    /// the policy's), else [`Verdict::of`].
    fn expected(&self) -> Vec<Verdict> {
        if let (Some(rows), Some(min)) = (self.rows, self.min_rows)
            && rows < min
        {
            return vec![Verdict::NotJudged, Verdict::Fail];
        }
        vec![Verdict::of(
            self.op,
            self.value,
            self.threshold,
            self.review_band,
        )]
    }

    /// The outcome: the recorded verdict, or for old reports, pass or fail.
    pub fn outcome(&self) -> Verdict {
        self.verdict.unwrap_or(if self.passed {
            Verdict::Pass
        } else {
            Verdict::Fail
        })
    }
}

/// The signed result of `airlock gate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateReport {
    /// Always [`GATE_TYPE`].
    #[serde(rename = "type")]
    pub ty: String,
    /// The site that ran the gate.
    pub site: SiteName,
    /// The model gated.
    pub model: Digest,
    /// The gate policy applied: its text and case files, with digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::gate::AppliedPolicy>,
    /// The evaluation record the figures come from; absent: the run's held-out split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Digest>,
    /// Every check.
    pub checks: Vec<Check>,
    /// True when every check held (or was not judged).
    pub passed: bool,
    /// True when no check failed and at least one needs a named review.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_review: bool,
    /// What the gate noted without judging (e.g. no baseline model deployed yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// When.
    pub created_at: Timestamp,
}

impl GateReport {
    /// How a refusal names this report.
    fn what(&self) -> String {
        format!(
            "gate report of model {} by site {}",
            self.model.short(),
            self.site
        )
    }

    /// A gate report decides only what its checks show: it must check
    /// something, each check must name one of `known_metrics` (the runtime's
    /// metric names), each check's verdict must follow from its value,
    /// operator and threshold, and the report passes exactly when every check
    /// does. Applied at import and whenever a stored report is used.
    pub fn check(&self, known_metrics: &[&str]) -> Result<()> {
        let what = self.what();
        if self.ty != GATE_TYPE {
            return Err(Error::Integrity(format!(
                "{what}: type {:?}, expected {GATE_TYPE:?}",
                self.ty
            )));
        }
        if self.checks.is_empty() {
            return Err(Error::Integrity(format!(
                "{what} checks nothing: a gate report needs at least one check"
            )));
        }
        for (i, c) in self.checks.iter().enumerate() {
            let n = i + 1;
            let known: &[&str] = match c.section {
                None | Some(Section::Metrics | Section::Baseline | Section::Slice) => known_metrics,
                Some(Section::Fairness) => &crate::gate::FAIRNESS_METRICS,
                Some(Section::Robustness) => &crate::gate::ROBUSTNESS_METRICS,
                Some(Section::Behaviour) => &[crate::gate::PASS_RATE],
            };
            if !known.contains(&c.metric.as_str()) {
                return Err(Error::Integrity(format!(
                    "{what}: check {n} names an unknown metric {:?}",
                    c.metric
                )));
            }
            if !c.value.is_finite() || !c.threshold.is_finite() {
                return Err(Error::Integrity(format!(
                    "{what}: check {n} ({}) holds a value or threshold that is not a number",
                    c.metric
                )));
            }
            if let Some(b) = &c.baseline {
                let (op, threshold) = b.bound(&c.metric);
                if !b.value.is_finite() || op != c.op || threshold != c.threshold {
                    return Err(Error::Integrity(format!(
                        "{what}: check {n} ({}) has a threshold that does not follow from its baseline {} and margin {}",
                        c.metric, b.value, b.margin
                    )));
                }
            }
            let outcome = c.outcome();
            let expected = match c.verdict {
                // Reports made before gate policies: pass or fail, from the numbers.
                None => vec![if c.op.holds(c.value, c.threshold) {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                }],
                Some(_) => c.expected(),
            };
            if !expected.contains(&outcome)
                || c.passed != matches!(outcome, Verdict::Pass | Verdict::NotJudged)
            {
                return Err(Error::Integrity(format!(
                    "{what}: check {n} ({} {} {}) says it {}, which does not follow from its value {}",
                    c.metric,
                    c.op.as_str(),
                    c.threshold,
                    if c.passed { "passed" } else { "failed" },
                    c.value
                )));
            }
        }
        let held = self.checks.iter().filter(|c| c.passed).count();
        if self.passed != (held == self.checks.len()) {
            return Err(Error::Integrity(format!(
                "{what} says it {}, but its verdict does not follow from its checks ({held} of {} passed)",
                if self.passed { "passed" } else { "failed" },
                self.checks.len()
            )));
        }
        let failed = self.checks.iter().any(|c| c.outcome() == Verdict::Fail);
        let review = self.checks.iter().any(|c| c.outcome() == Verdict::Review);
        if self.needs_review != (!failed && review) {
            return Err(Error::Integrity(format!(
                "{what} says it {} review, which does not follow from its checks",
                if self.needs_review {
                    "needs"
                } else {
                    "needs no"
                }
            )));
        }
        if let Some(p) = &self.policy {
            p.check()
                .map_err(|e| Error::Integrity(format!("{what}: {e}")))?;
        }
        Ok(())
    }
}

/// A signed approval of a model by a named person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Always [`APPROVAL_TYPE`].
    #[serde(rename = "type")]
    pub ty: String,
    /// The site where it was given.
    pub site: SiteName,
    /// The model approved.
    pub model: Digest,
    /// Who approved: the operator's name.
    pub approver: String,
    /// The operator's public key, hex.
    pub operator_key: String,
    /// Why, or on what evidence.
    pub note: String,
    /// The gate report the approver saw.
    pub gate: Digest,
    /// The approver reviewed that report's checks that need a named review (and the note
    /// says why they are acceptable): what lets a report that needs review be deployed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reviewed: bool,
    /// When.
    pub created_at: Timestamp,
    /// The operator's signature (approval domain) over
    /// [`Approval::signed_bytes`].
    pub operator_signature: String,
}

#[derive(Serialize)]
struct ApprovalStatement<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    site: &'a SiteName,
    model: &'a Digest,
    approver: &'a str,
    operator_key: &'a str,
    note: &'a str,
    gate: &'a Digest,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    reviewed: bool,
    created_at: Timestamp,
}

impl Approval {
    /// What the operator signs: every field but the signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&ApprovalStatement {
            ty: &self.ty,
            site: &self.site,
            model: &self.model,
            approver: &self.approver,
            operator_key: &self.operator_key,
            note: &self.note,
            gate: &self.gate,
            reviewed: self.reviewed,
            created_at: self.created_at,
        })
        .unwrap_or_default()
    }

    /// Verifies the operator's signature; returns the operator's key id.
    pub fn verify_operator(&self) -> Result<KeyId> {
        let key = keys::parse_verifying_key(&self.operator_key)?;
        if keys::verify(
            &key,
            Domain::Approval,
            &self.signed_bytes(),
            &self.operator_signature,
        ) {
            Ok(KeyId::of(&key))
        } else {
            Err(Error::Integrity(format!(
                "the approval of model {} by {:?} does not carry a valid signature by its operator key; it was forged or altered",
                self.model.short(),
                self.approver
            )))
        }
    }
}

/// An operator's signed authorisation of a deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSignature {
    /// The operator's name.
    pub name: String,
    /// Their key id.
    pub key_id: KeyId,
    /// Their signature (operator-action domain).
    pub signature: String,
}

/// What a deployment record did to its slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A model put in the slot (`airlock deploy`).
    #[default]
    Deploy,
    /// The canary's model made the production model (`airlock promote`).
    Promote,
    /// The slot's model replaced by an earlier one (`airlock rollback`, or the node itself).
    Rollback,
    /// The slot emptied (a canary or shadow rolled back or promoted).
    Retire,
}

impl Action {
    /// As the store's `deployments.action` holds it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::Promote => "promote",
            Action::Rollback => "rollback",
            Action::Retire => "retire",
        }
    }

    /// A plain deploy (not written in records, for older readers' bytes).
    pub fn is_deploy(&self) -> bool {
        *self == Action::Deploy
    }
}

/// A signed deployment of a model to a slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// Always [`DEPLOYMENT_TYPE`].
    #[serde(rename = "type")]
    pub ty: String,
    /// The deploying site.
    pub site: SiteName,
    /// The slot (`production`).
    pub slot: String,
    /// The model deployed.
    pub model: Digest,
    /// Its feature set version.
    pub feature_set: Digest,
    /// The gate report relied on.
    pub gate: Digest,
    /// The approvals relied on.
    pub approvals: Vec<Digest>,
    /// The model it replaced, if any.
    pub previous: Option<Digest>,
    /// What this record did to its slot; absent: a plain deploy.
    #[serde(default, skip_serializing_if = "Action::is_deploy")]
    pub action: Action,
    /// Canary and shadow slots: the share of requests the model takes, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Why (a rollback's reason: the operator's, or the rule the node applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The decision threshold a binary model is served at: the one its gate report's
    /// evaluation judged. Absent: 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// When.
    pub created_at: Timestamp,
    /// The operator who deployed it (required under a trust policy).
    pub deployed_by: Option<OperatorSignature>,
}

impl Approval {
    /// The inputs its provenance statement names.
    pub fn provenance_inputs(&self) -> [(&'static str, Digest); 2] {
        [("run", self.model), ("gate", self.gate)]
    }
}

impl Deployment {
    /// The inputs its provenance statement names (written by `deploy`,
    /// checked by `lineage`).
    pub fn provenance_inputs(&self) -> Vec<(&'static str, Digest)> {
        let mut inputs = vec![
            ("run", self.model),
            ("feature-set", self.feature_set),
            ("gate", self.gate),
        ];
        inputs.extend(self.approvals.iter().map(|a| ("approval", *a)));
        inputs
    }
}

/// What a deploying operator signs.
pub fn deploy_statement(site: &SiteName, slot: &str, model: &Digest, at: Timestamp) -> Vec<u8> {
    format!("deploy\n{site}\n{slot}\n{}\n{at}", model.hex()).into_bytes()
}
