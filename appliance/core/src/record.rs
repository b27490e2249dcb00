//! Record documents and their kinds.
//!
//! Every record a node signs and keeps in its vault is a JSON document of one
//! Rust type, and each type knows its [`Kind`] through the [`Record`] trait.
//! The appliance loads records by type (`registry::load::<GateReport>`), so a
//! record indexed as one kind can never be read as another: the kind asked
//! for comes from the type, not from a caller's argument.
//!
//! The record types live with their subject: [`crate::contract::Contract`],
//! [`crate::dataset::DatasetDoc`], [`crate::features::FeatureSetDoc`],
//! [`crate::lifecycle::GateReport`], [`crate::lifecycle::Approval`],
//! [`crate::lifecycle::Deployment`], [`crate::provenance::Statement`],
//! [`crate::description::ModelDescription`], and [`OperatorCert`] here.
//! The run record holds the runtime's and the sandbox's own types, so it
//! lives in the appliance and implements [`Record`] there (as does the
//! evaluation record, which holds the runtime's figures).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::contract::Contract;
use crate::dataset::DatasetDoc;
use crate::description::ModelDescription;
use crate::error::{Error, Result};
use crate::features::FeatureSetDoc;
use crate::keys::KeyId;
use crate::lifecycle::{Approval, Deployment, GateReport};
use crate::object::Kind;
use crate::provenance::Statement;
use crate::site::SiteName;
use crate::time::Timestamp;

/// A record document of one kind.
pub trait Record: Serialize + DeserializeOwned {
    /// The kind its objects are indexed and signed as.
    const KIND: Kind;

    /// Parses the document's JSON (its shape only: the checks that need
    /// more, such as signatures, belong to whoever loads it).
    fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Rejected(format!("{} record: {e}", Self::KIND)))
    }

    /// The document's JSON, the bytes that are stored and signed.
    fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Rejected(format!("{} record: {e}", Self::KIND)))
    }
}

/// Type tag of operator certificates.
pub const CERT_TYPE: &str = "airlock.operator/v1";
/// An operator certificate: the site key vouches that `key` is `name`'s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorCert {
    /// Always [`CERT_TYPE`].
    #[serde(rename = "type")]
    pub ty: String,
    /// The certifying site.
    pub site: SiteName,
    /// The operator's name.
    pub name: String,
    /// Their public key, hex.
    pub key: String,
    /// Its id.
    pub key_id: KeyId,
    /// When.
    pub created_at: Timestamp,
}

impl Record for Contract {
    const KIND: Kind = Kind::Contract;
}
impl Record for DatasetDoc {
    const KIND: Kind = Kind::Dataset;
}
impl Record for FeatureSetDoc {
    const KIND: Kind = Kind::FeatureSet;
}
impl Record for GateReport {
    const KIND: Kind = Kind::Gate;
}
impl Record for Approval {
    const KIND: Kind = Kind::Approval;
}
impl Record for Deployment {
    const KIND: Kind = Kind::Deployment;
}
impl Record for Statement {
    const KIND: Kind = Kind::Provenance;
}
impl Record for OperatorCert {
    const KIND: Kind = Kind::OperatorCert;
}
impl Record for ModelDescription {
    const KIND: Kind = Kind::ModelDescription;
}
impl Record for crate::monitor::MonitorWindow {
    const KIND: Kind = Kind::MonitorWindow;
}
impl Record for crate::monitor::Alert {
    const KIND: Kind = Kind::Alert;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    fn gate() -> GateReport {
        GateReport {
            ty: crate::lifecycle::GATE_TYPE.into(),
            site: "lab".parse().expect("site"),
            model: Digest::of(b"run"),
            policy: None,
            evaluation: None,
            checks: vec![],
            passed: false,
            needs_review: false,
            notes: Vec::new(),
            created_at: Timestamp(1_795_439_109),
        }
    }

    #[test]
    fn records_round_trip_through_their_own_bytes() {
        let g = gate();
        let bytes = g.encode().expect("encode");
        assert_eq!(GateReport::parse(&bytes).expect("parse"), g);
    }

    #[test]
    fn one_kind_does_not_parse_as_another() {
        let bytes = gate().encode().expect("encode");
        let err = Deployment::parse(&bytes).expect_err("a gate report is no deployment");
        assert!(err.to_string().starts_with("deployment record: "), "{err}");
        assert!(Approval::parse(&bytes).is_err());
        assert!(DatasetDoc::parse(&bytes).is_err());
        assert!(FeatureSetDoc::parse(&bytes).is_err());
        assert!(Statement::parse(&bytes).is_err());
        assert!(OperatorCert::parse(&bytes).is_err());
        assert!(ModelDescription::parse(&bytes).is_err());
    }

    #[test]
    fn every_record_type_has_its_own_kind() {
        let kinds = [
            Contract::KIND,
            DatasetDoc::KIND,
            FeatureSetDoc::KIND,
            GateReport::KIND,
            Approval::KIND,
            Deployment::KIND,
            Statement::KIND,
            OperatorCert::KIND,
            ModelDescription::KIND,
        ];
        let distinct: std::collections::HashSet<_> = kinds.iter().collect();
        assert_eq!(distinct.len(), kinds.len());
        assert!(kinds.iter().all(|k| k.is_document()));
    }
}
