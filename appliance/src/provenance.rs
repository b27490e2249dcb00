//! Signed provenance statements, in the in-toto Statement v1 layout.
//!
//! Every artifact this node makes (dataset snapshot and record, contract,
//! feature set version, weights and run record, gate report, approval,
//! deployment) gets a statement: its subjects' digests, the command that
//! produced them, the site and (for an operator's action) the operator's key
//! id, the digests of its inputs, and when. The statement is a vault record
//! signed by the site key like every other record, travels in bundles with
//! its subjects, and is checked by `airlock lineage` at every step of the
//! walk: a record without a signed statement naming it, or whose statement
//! disagrees about its inputs, stops the walk.

use std::collections::BTreeMap;

use rusqlite::{Connection, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::keys::{KeyId, SiteKeys};
use crate::registry::{self, Kind};
use crate::site::SiteName;
use crate::time::{Now, Timestamp};
use crate::vault::Vault;

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
    fn new(name: &str, d: &Digest) -> Self {
        Resource {
            name: name.into(),
            digest: BTreeMap::from([("sha256".to_string(), d.hex())]),
        }
    }

    fn sha256(&self) -> Option<&str> {
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

/// Writes and indexes a statement inside the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub fn record(
    tx: &Transaction<'_>,
    vault: &Vault,
    keys: &SiteKeys,
    site: &SiteName,
    command: &str,
    actor: Option<&KeyId>,
    subjects: &[(Kind, Digest)],
    inputs: &[(&str, Digest)],
) -> Result<Digest> {
    let stmt = Statement {
        ty: STATEMENT_TYPE.into(),
        subject: subjects
            .iter()
            .map(|(k, d)| Resource::new(k.as_str(), d))
            .collect(),
        predicate_type: PREDICATE_TYPE.into(),
        predicate: Predicate {
            site: site.clone(),
            site_key_id: keys.key_id(),
            command: command.into(),
            actor: actor.cloned(),
            inputs: inputs.iter().map(|(n, d)| Resource::new(n, d)).collect(),
            at: Timestamp::now(),
        },
    };
    let id = registry::put_record(tx, vault, keys, site, Kind::Provenance, &stmt)?;
    insert_rows(tx, &id, &stmt)?;
    Ok(id)
}

/// Indexes a statement under each of its subjects (also at bundle import).
pub fn insert_rows(tx: &Transaction<'_>, id: &Digest, stmt: &Statement) -> Result<()> {
    for s in &stmt.subject {
        if let Some(h) = s.sha256() {
            tx.execute(
                "INSERT OR IGNORE INTO provenance (subject, statement) VALUES (?1, ?2)",
                params![h, id.hex()],
            )?;
        }
    }
    Ok(())
}

/// The ids of the statements about `subject`.
pub fn statements_about(conn: &Connection, subject: &Digest) -> Result<Vec<Digest>> {
    registry::digests(
        conn,
        "SELECT statement FROM provenance WHERE subject = ?1 ORDER BY statement",
        &subject.hex(),
    )
}

/// Finds a signed statement (by a site this node trusts) naming `kind`
/// `id` as a subject and listing every one of `inputs`; returns its id.
pub fn verify(
    conn: &Connection,
    vault: &Vault,
    kind: Kind,
    id: &Digest,
    inputs: &[(&str, Digest)],
) -> Result<Digest> {
    let mut disagreeing = None;
    let mut unusable = None;
    for sid in statements_about(conn, id)? {
        // One statement that no longer verifies (say, by a peer key revoked
        // since) does not hide a good one.
        let stmt: Statement = match registry::load_record(conn, vault, Kind::Provenance, &sid)
            .and_then(|s: Statement| {
                s.check(&format!("provenance statement {}", sid.short()))?;
                Ok(s)
            }) {
            Ok(s) => s,
            Err(e) => {
                unusable = Some(e);
                continue;
            }
        };
        if !stmt.names(kind, id) {
            continue;
        }
        let missing = inputs.iter().find(|(name, d)| {
            let hex = d.hex();
            !stmt
                .predicate
                .inputs
                .iter()
                .any(|r| r.name == *name && r.sha256() == Some(hex.as_str()))
        });
        match missing {
            None => return Ok(sid),
            Some((name, d)) => disagreeing = Some((sid, name.to_string(), *d)),
        }
    }
    if let (None, Some(e)) = (&disagreeing, unusable) {
        return Err(e);
    }
    Err(match disagreeing {
        Some((sid, name, d)) => Error::Integrity(format!(
            "the provenance statement {} of {kind} {} does not list its input {name} {}; the record and its provenance disagree",
            sid.short(),
            id.short(),
            d.short()
        )),
        None => Error::Integrity(format!(
            "{kind} {} has no signed provenance statement naming it; its origin cannot be shown",
            id.short()
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::Home;

    #[test]
    fn a_statement_that_disagrees_about_inputs_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut home =
            Home::init(&dir.path().join("h"), "lab".parse().expect("name")).expect("init");
        let subject = Digest::of(b"model");
        let input = Digest::of(b"dataset");
        let other = Digest::of(b"another dataset");
        let site = home.site().clone();
        let (conn, vault, keys, _) = home.parts();
        let tx = conn.transaction().expect("tx");
        let sid = record(
            &tx,
            vault,
            keys,
            &site,
            "airlock train",
            None,
            &[(Kind::Run, subject)],
            &[("dataset", input)],
        )
        .expect("record");
        tx.commit().expect("commit");
        let (conn, vault) = (&home.conn, home.vault());
        assert_eq!(
            verify(conn, vault, Kind::Run, &subject, &[("dataset", input)]).expect("agrees"),
            sid
        );
        let err =
            verify(conn, vault, Kind::Run, &subject, &[("dataset", other)]).expect_err("disagrees");
        assert!(
            err.to_string().contains("does not list its input dataset"),
            "{err}"
        );
        let err = verify(conn, vault, Kind::Weights, &subject, &[]).expect_err("wrong kind");
        assert!(
            err.to_string().contains("no signed provenance statement"),
            "{err}"
        );
        let stmt: Statement =
            registry::load_record(conn, vault, Kind::Provenance, &sid).expect("load");
        assert_eq!(stmt.ty, STATEMENT_TYPE);
        assert_eq!(stmt.subject[0].digest["sha256"], subject.hex());
    }
}
