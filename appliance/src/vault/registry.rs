//! The registry: signed, content-addressed records and the index rows that
//! point at them.
//!
//! Every object the node creates (raw snapshots, contracts, dataset records,
//! feature sets, weights, run records, gate reports, approvals, deployments)
//! goes into the vault and is signed by the site key over its kind and
//! digest. The signature travels with the object in bundles, so a receiving
//! site verifies who made each object, not only who shipped it.
//!
//! The kinds, statements and attestations themselves, and the name rules,
//! are `airlock_core::object` and `airlock_core::name`, re-exported here.
//!
//! Objects are indexed by (digest, kind), as they are signed: the same bytes
//! may be held under several kinds, each with its own signatures, so bytes
//! that one site labels as another kind never block (or borrow the
//! signatures of) the object another site made from them.

use serde::de::DeserializeOwned;

use crate::digest::Digest;
use crate::error::{Error, Missing, Result};
use crate::site::SiteName;
use crate::store::objects::{self, Table};
use crate::store::{AuditedTx, Reads};
use crate::trust::keys::{self, Domain};
use crate::vault::Vault;

pub use crate::store::objects::{
    Listed, add_attestation, attestations, held_as, index_object, kinds_held,
};
pub use airlock_core::name::{NameRef, validate_name};
pub use airlock_core::object::{Attestation, Kind, statement};
pub use airlock_core::record::Record;

/// Stores `bytes` as an object of `kind` in the vault, signs it as this
/// site's, indexes it, inside the write `tx`. Idempotent.
pub fn put_object(tx: &AuditedTx<'_>, kind: Kind, bytes: &[u8]) -> Result<Digest> {
    let (id, size) = tx.vault().put(bytes)?;
    sign_and_index(tx, kind, &id, size)?;
    Ok(id)
}

/// Indexes an object already in the vault and signs it as this site's.
pub fn sign_and_index(tx: &AuditedTx<'_>, kind: Kind, id: &Digest, size: u64) -> Result<()> {
    index_object(tx, id, kind, size)?;
    let keys = tx.keys();
    let att = Attestation {
        site: tx.site().clone(),
        key_id: keys.key_id().to_string(),
        signature: keys.sign(Domain::Artifact, &statement(kind, id)),
    };
    add_attestation(tx, id, kind, &att)
}

/// Serialises a record document and stores it with [`put_object`], as the
/// kind its type is.
pub fn put_record<T: Record>(tx: &AuditedTx<'_>, doc: &T) -> Result<Digest> {
    put_object(tx, T::KIND, &doc.encode()?)
}

/// Parses a trusted key and checks that it hashes to its recorded key id: a
/// row whose key was swapped under its id is refused, not trusted.
fn bound_key(site: &str, key_id: &str, key_hex: &str) -> Result<ed25519_dalek::VerifyingKey> {
    let key = keys::parse_verifying_key(key_hex)?;
    if keys::KeyId::of(&key).as_str() != key_id {
        return Err(Error::Integrity(format!(
            "the trusted key recorded for site {site} does not match its key id {key_id}; the store was altered"
        )));
    }
    Ok(key)
}

/// The key id and signing key this node trusts for peer `site`, if any.
pub fn trusted_peer(
    r: &impl Reads,
    site: &SiteName,
) -> Result<Option<(String, ed25519_dalek::VerifyingKey)>> {
    let row = objects::trusted_peer(r, site)?;
    row.map(|(key_id, hex)| {
        let key = bound_key(site.as_str(), &key_id, &hex)?;
        Ok((key_id, key))
    })
    .transpose()
}

/// A trusted signing key: (site, key id, key).
pub type TrustedKey = (SiteName, String, ed25519_dalek::VerifyingKey);

/// The signing keys whose signatures on stored records this node accepts:
/// its own, every trusted peer's, and peer keys a policy retired without
/// revoking (what they signed before stays verifiable).
pub fn trusted_keys(r: &impl Reads) -> Result<Vec<TrustedKey>> {
    keys_trusted(r, true)
}

/// The signing keys whose signatures on *arriving* objects count: this
/// node's and its current peers' (retired keys sign nothing new).
pub fn current_keys(r: &impl Reads) -> Result<Vec<TrustedKey>> {
    keys_trusted(r, false)
}

fn keys_trusted(r: &impl Reads, retired: bool) -> Result<Vec<TrustedKey>> {
    let mut out = Vec::new();
    let own_site: SiteName = crate::store::db::meta(r, "site")?.parse()?;
    let own_id = crate::store::db::meta(r, "key_id")?;
    let own_key = bound_key(
        own_site.as_str(),
        &own_id,
        &crate::store::db::meta(r, "signing_key")?,
    )?;
    out.push((own_site, own_id, own_key));
    for (site, key_id, key) in objects::peer_keys(r, retired)? {
        let key = bound_key(&site, &key_id, &key)?;
        out.push((site.parse()?, key_id, key));
    }
    Ok(out)
}

/// Checks that `att` is a valid signature over (`kind`, `id`) by a key this
/// node trusts for the attesting site.
pub fn check_attestation(
    trusted: &[(SiteName, String, ed25519_dalek::VerifyingKey)],
    kind: Kind,
    id: &Digest,
    att: &Attestation,
) -> Result<()> {
    let Some((_, _, key)) = trusted
        .iter()
        .find(|(site, key_id, _)| *site == att.site && *key_id == att.key_id)
    else {
        return Err(Error::Refused(format!(
            "{kind} {} is signed by site {:?} key {}, which this node does not trust",
            id.short(),
            att.site.as_str(),
            att.key_id
        )));
    };
    if keys::verify(key, Domain::Artifact, &statement(kind, id), &att.signature) {
        Ok(())
    } else {
        Err(Error::Integrity(format!(
            "{kind} {}: signature by site {:?} does not verify",
            id.short(),
            att.site.as_str()
        )))
    }
}

/// Reads a record document of type `T` from the vault after checking that it
/// is indexed as `T`'s kind and carries a trusted signature: the kind comes
/// from the type, so a gate report can never be read as a run record.
pub fn load<T: Record>(r: &impl Reads, vault: &Vault, id: &Digest) -> Result<T> {
    load_record(r, vault, T::KIND, id)
}

fn load_record<T: DeserializeOwned>(
    conn: &impl Reads,
    vault: &Vault,
    kind: Kind,
    id: &Digest,
) -> Result<T> {
    if held_as(conn, id, kind)?.is_none() {
        let held = kinds_held(conn, id)?;
        if held.is_empty() {
            return Err(Error::NotFound(format!("no {kind} {id} in this store")));
        }
        let held: Vec<&str> = held.iter().map(|k| k.as_str()).collect();
        return Err(Error::Refused(format!(
            "object {} is held here as a {}, not as a {kind}",
            id.short(),
            held.join(" and a ")
        )));
    }
    let trusted = trusted_keys(conn)?;
    let atts = attestations(conn, id, kind)?;
    if atts.is_empty() {
        return Err(Error::Integrity(format!(
            "{kind} {} carries no signature",
            id.short()
        )));
    }
    for att in &atts {
        check_attestation(&trusted, kind, id, att)?;
    }
    let bytes = vault.read(id, kind.max_size())?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::Integrity(format!(
            "{kind} record {} does not parse: {}",
            id.short(),
            crate::text::error_text(&e)
        ))
    })
}

/// Resolves a name reference in `table` (which has site, name, version, id
/// columns) to (id, site, version). Without a site, this node's own entries
/// are preferred; entries of one other site are used when this node has none.
pub fn resolve(
    store: &impl Reads,
    table: Table,
    what: &str,
    own_site: &SiteName,
    r: &NameRef,
) -> Result<(Digest, SiteName, i64)> {
    let rows = objects::versions_named(store, table, &r.name)?;
    let matches_site = |site: &str| match &r.site {
        Some(s) => s.as_str() == site,
        None => true,
    };
    let candidates: Vec<&(String, String, i64)> = rows
        .iter()
        .filter(|(_, site, v)| matches_site(site) && r.version.is_none_or(|want| *v == want))
        .collect();
    let own: Vec<_> = candidates
        .iter()
        .filter(|c| c.1 == own_site.as_str())
        .collect();
    let pick = if !own.is_empty() && r.site.is_none() {
        own[0]
    } else {
        let sites: std::collections::BTreeSet<&str> =
            candidates.iter().map(|c| c.1.as_str()).collect();
        if sites.len() > 1 {
            return Err(Error::Rejected(format!(
                "{what} {r} exists at several sites ({}); name one as SITE/{r}",
                sites.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        match candidates.first() {
            Some(c) => c,
            None => {
                return Err(Error::Missing(Missing::Named {
                    what: what.to_owned(),
                    name: r.to_string(),
                }));
            }
        }
    };
    let id: Digest = pick
        .0
        .parse()
        .map_err(|e| Error::Integrity(format!("{table}: {e}")))?;
    Ok((id, pick.1.parse()?, pick.2))
}

/// Resolves a model id given in full or as a unique prefix of 8+ hex digits.
pub fn resolve_model(r: &impl Reads, prefix: &str) -> Result<Digest> {
    resolve_prefix(r, Table::Models, "model", prefix)
}

/// Resolves an id prefix in `table`.
pub fn resolve_prefix(r: &impl Reads, table: Table, what: &str, prefix: &str) -> Result<Digest> {
    if prefix.len() < 8 || prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Rejected(format!(
            "{what} id {prefix:?}: give at least 8 hex digits of the id"
        )));
    }
    let ids = objects::ids_with_prefix(r, table, prefix)?;
    match ids.as_slice() {
        [one] => one
            .parse()
            .map_err(|e| Error::Integrity(format!("{table}: {e}"))),
        [] => Err(Error::NotFound(format!(
            "no {what} with id {prefix} in this store"
        ))),
        _ => Err(Error::Rejected(format!(
            "{what} id {prefix} is ambiguous; give more digits"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Deployment;
    use crate::lifecycle::GATE_TYPE;
    use crate::lifecycle::GateReport;
    use crate::node::home::Home;
    use crate::node::time::Timestamp;
    use crate::ops::train::RunRecord;

    #[test]
    fn a_record_is_loaded_only_as_the_type_it_was_stored_as() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut home =
            Home::init(&dir.path().join("h"), "lab".parse().expect("name")).expect("init");
        let report = GateReport {
            ty: GATE_TYPE.into(),
            site: home.site().clone(),
            model: Digest::of(b"a run record"),
            policy: None,
            evaluation: None,
            checks: vec![],
            passed: false,
            needs_review: false,
            notes: Vec::new(),
            created_at: Timestamp(1_795_439_109),
        };
        let id = {
            let tx = home.begin().expect("tx");
            let id = put_record(&tx, &report).expect("put");
            tx.commit(crate::store::AuditEntry::new(
                "test.put",
                &[id.hex()],
                serde_json::json!({}),
            ))
            .expect("commit");
            id
        };
        assert_eq!(
            held_as(home.store(), &id, Kind::Gate).expect("info"),
            Some(report.encode().expect("encode").len() as u64)
        );
        let loaded: GateReport = load(home.store(), home.vault(), &id).expect("as a gate report");
        assert_eq!(loaded, report);
        let err = load::<RunRecord>(home.store(), home.vault(), &id).expect_err("not a run");
        assert!(matches!(err, Error::Refused(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("held here as a gate, not as a run"),
            "{err}"
        );
        let err =
            load::<Deployment>(home.store(), home.vault(), &id).expect_err("nor a deployment");
        assert!(err.to_string().contains("not as a deployment"), "{err}");
    }
}
