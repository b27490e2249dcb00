//! Provenance statements (in-toto Statement v1): which site made which
//! objects, with which command, from which inputs. The document and its
//! shape check; writing and verifying statements against the store is the
//! appliance's (`airlock::ops::provenance`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::keys::KeyId;
use crate::object::Kind;
use crate::site::SiteName;
use crate::time::Timestamp;

/// in-toto's statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// This predicate's type.
pub const PREDICATE_TYPE: &str = "https://airlock.invalid/provenance/v1";

/// A named digest (in-toto ResourceDescriptor, `sha256` only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// What it is (an object kind, or the role of an input).
    pub name: String,
    /// `{"sha256": HEX}`.
    pub digest: BTreeMap<String, String>,
}

impl Resource {
    /// `name` with `d` as its SHA-256.
    pub fn new(name: &str, d: &Digest) -> Self {
        Resource {
            name: name.into(),
            digest: BTreeMap::from([("sha256".to_string(), d.hex())]),
        }
    }

    /// The SHA-256, hex, if given.
    pub fn sha256(&self) -> Option<&str> {
        self.digest.get("sha256").map(String::as_str)
    }
}

/// Who made the subjects, how, and from what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    /// The producing site.
    pub site: SiteName,
    /// Its signing key id.
    pub site_key_id: KeyId,
    /// The command, e.g. `airlock train`.
    pub command: String,
    /// The operator who acted, if one did.
    pub actor: Option<KeyId>,
    /// The inputs' digests.
    pub inputs: Vec<Resource>,
    /// When.
    pub at: Timestamp,
}

/// A provenance statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub ty: String,
    /// What it is about.
    pub subject: Vec<Resource>,
    /// Always [`PREDICATE_TYPE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The provenance.
    pub predicate: Predicate,
}

impl Statement {
    /// Whether `kind` `id` is among the subjects.
    pub fn names(&self, kind: Kind, id: &Digest) -> bool {
        let hex = id.hex();
        self.subject
            .iter()
            .any(|s| s.name == kind.as_str() && s.sha256() == Some(hex.as_str()))
    }

    /// Checks the statement's shape.
    pub fn check(&self, source: &str) -> Result<()> {
        let ok = self.ty == STATEMENT_TYPE
            && self.predicate_type == PREDICATE_TYPE
            && !self.subject.is_empty()
            && self.subject.len() <= 64
            && self.predicate.inputs.len() <= 4096
            && self
                .subject
                .iter()
                .chain(&self.predicate.inputs)
                .all(|r| r.sha256().is_some_and(|h| h.parse::<Digest>().is_ok()));
        if ok {
            Ok(())
        } else {
            Err(Error::Integrity(format!(
                "{source}: not a well-formed Airlock provenance statement"
            )))
        }
    }
}
