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

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::store::{AuditedTx, Reads};
use crate::trust::keys::KeyId;
use crate::vault::Vault;
use crate::vault::registry::{self, Kind};

pub use airlock_core::provenance::{
    PREDICATE_TYPE, Predicate, Resource, STATEMENT_TYPE, Statement,
};

/// Writes and indexes a statement inside the caller's transaction, made by
/// its site now.
pub fn record(
    tx: &AuditedTx<'_>,
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
            site: tx.site().clone(),
            site_key_id: tx.keys().key_id(),
            command: command.into(),
            actor: actor.cloned(),
            inputs: inputs.iter().map(|(n, d)| Resource::new(n, d)).collect(),
            at: tx.now(),
        },
    };
    let id = registry::put_record(tx, &stmt)?;
    insert_rows(tx, &id, &stmt)?;
    Ok(id)
}

/// Indexes a statement under each of its subjects (also at bundle import).
pub fn insert_rows(tx: &AuditedTx<'_>, id: &Digest, stmt: &Statement) -> Result<()> {
    for s in &stmt.subject {
        if let Some(h) = s.sha256() {
            crate::store::models::insert_provenance(tx, h, id)?;
        }
    }
    Ok(())
}

/// The ids of the statements about `subject`.
pub fn statements_about(conn: &impl Reads, subject: &Digest) -> Result<Vec<Digest>> {
    crate::store::models::statements_about(conn, subject)
}

/// Finds a signed statement (by a site this node trusts) naming `kind`
/// `id` as a subject and listing every one of `inputs`; returns its id.
pub fn verify(
    conn: &impl Reads,
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
        let stmt: Statement = match registry::load(conn, vault, &sid).and_then(|s: Statement| {
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
    use crate::node::home::Home;

    #[test]
    fn a_statement_that_disagrees_about_inputs_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut home =
            Home::init(&dir.path().join("h"), "lab".parse().expect("name")).expect("init");
        let subject = Digest::of(b"model");
        let input = Digest::of(b"dataset");
        let other = Digest::of(b"another dataset");
        let tx = home.begin().expect("tx");
        let sid = record(
            &tx,
            "airlock train",
            None,
            &[(Kind::Run, subject)],
            &[("dataset", input)],
        )
        .expect("record");
        tx.commit(crate::store::AuditEntry::new(
            "test.record",
            &[sid.hex()],
            serde_json::json!({}),
        ))
        .expect("commit");
        let (conn, vault) = (home.store(), home.vault());
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
        let stmt: Statement = registry::load(conn, vault, &sid).expect("load");
        assert_eq!(stmt.ty, STATEMENT_TYPE);
        assert_eq!(stmt.subject[0].digest["sha256"], subject.hex());
    }
}
