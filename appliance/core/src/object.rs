//! What an object in the vault is (its [`Kind`]) and who vouches for it (an [`Attestation`]
//! over its [`statement`]).
//!
//! Every object a node creates (raw snapshots, contracts, dataset records, feature sets,
//! weights, run records, gate reports, approvals, deployments) is signed by its site over its
//! kind and digest. The signature travels with the object in bundles, so a receiving site
//! verifies who made each object, not only who shipped it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::name::SiteName;

/// What an object in the vault is.
///
/// Exhaustive on purpose: a new kind must break every `match` that decides
/// what to do with one (import, export, lineage), not fall into a default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A schema contract (JSON).
    Contract,
    /// A raw dataset snapshot, byte for byte as ingested.
    Snapshot,
    /// A dataset record: which snapshot, which contract, how many rows.
    Dataset,
    /// A feature set version with its frozen parameters.
    FeatureSet,
    /// Model weights, safetensors.
    Weights,
    /// A training run record; its digest is the model's id.
    Run,
    /// A gate report.
    Gate,
    /// A signed approval.
    Approval,
    /// A deployment record.
    Deployment,
    /// A root-signed trust policy.
    Policy,
    /// An operator certificate (signed by the site key).
    OperatorCert,
    /// A site's audit log, exported for an external auditor.
    AuditLog,
    /// A signed provenance statement (in-toto style).
    Provenance,
    /// A signed evaluation of a model on a dataset (`airlock evaluate`).
    Evaluation,
    /// The operator's description of a model: intended use, out of scope, known limits
    /// (`airlock models describe`).
    ModelDescription,
    /// One time window of a deployed model's traffic, as summaries (`airlock::ops::monitor`).
    MonitorWindow,
    /// An alert the monitoring raised.
    Alert,
    /// A batch of the sampled request log (raw requests, kept only when the monitoring policy
    /// turns the log on; never exported).
    RequestLog,
}

impl Kind {
    /// Stable name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Contract => "contract",
            Kind::Snapshot => "snapshot",
            Kind::Dataset => "dataset",
            Kind::FeatureSet => "feature-set",
            Kind::Weights => "weights",
            Kind::Run => "run",
            Kind::Gate => "gate",
            Kind::Approval => "approval",
            Kind::Deployment => "deployment",
            Kind::Policy => "policy",
            Kind::OperatorCert => "operator-cert",
            Kind::AuditLog => "audit-log",
            Kind::Provenance => "provenance",
            Kind::Evaluation => "evaluation",
            Kind::ModelDescription => "model-description",
            Kind::MonitorWindow => "monitor-window",
            Kind::Alert => "alert",
            Kind::RequestLog => "request-log",
        }
    }

    /// True for the JSON record kinds (small, parsed at import).
    pub fn is_document(self) -> bool {
        !matches!(self, Kind::Snapshot | Kind::Weights)
    }

    /// The largest object of this kind the node accepts.
    pub fn max_size(self) -> u64 {
        match self {
            Kind::Snapshot => 64 << 30,
            Kind::Weights => 4 << 30,
            _ => 16 << 20,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.into()))
            .map_err(|_| Error::UnknownKind { kind: s.into() })
    }
}

/// The bytes a site signs for an object: its kind and digest.
pub fn statement(kind: Kind, id: &Digest) -> Vec<u8> {
    format!("{}\n{}", kind.as_str(), id.hex()).into_bytes()
}

/// A signature over an object, as stored and as carried in bundles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// The signing site.
    pub site: SiteName,
    /// The signing key's id.
    pub key_id: String,
    /// ed25519 signature (hex) over [`statement`].
    pub signature: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in [
            Kind::Contract,
            Kind::FeatureSet,
            Kind::Weights,
            Kind::Deployment,
            Kind::OperatorCert,
            Kind::Evaluation,
            Kind::ModelDescription,
            Kind::MonitorWindow,
            Kind::Alert,
            Kind::RequestLog,
        ] {
            assert_eq!(k.as_str().parse::<Kind>().expect("parse"), k);
        }
        assert!(matches!(
            "Run".parse::<Kind>(),
            Err(Error::UnknownKind { .. })
        ));
    }

    #[test]
    fn statement_is_kind_newline_digest() {
        let id = Digest::of(b"x");
        assert_eq!(
            statement(Kind::FeatureSet, &id),
            format!("feature-set\n{}", id.hex()).into_bytes()
        );
    }
}
