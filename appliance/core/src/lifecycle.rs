//! The records of a model's way to production: gate reports, approvals
//! (signed by an operator) and deployments. Gating, approving and deploying
//! against the store are the appliance's (`airlock::lifecycle`).

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

/// One threshold of a gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Metric name (one of the runtime's `METRIC_NAMES`).
    pub metric: String,
    /// Comparison.
    pub op: Op,
    /// Threshold.
    pub threshold: f64,
    /// The model's held-out value (filled in by the gate).
    pub value: f64,
    /// Whether it held.
    pub passed: bool,
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
    /// Every check.
    pub checks: Vec<Check>,
    /// True when every check held.
    pub passed: bool,
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
            if !known_metrics.contains(&c.metric.as_str()) {
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
            if c.passed != c.op.holds(c.value, c.threshold) {
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
