//! Stage 4: the commit's checks and rows (`write_rows`, which `bundle
//! verify` rehearses and rolls back) and the commit itself.

use serde_json::json;

use crate::bundle::format::{Entry, Manifest};
use crate::digest::Digest;
use crate::error::{BundlePart, Error, Result};
use crate::node::failpoint;
use crate::node::home::Home;
use crate::ops::features;
use crate::ops::ingest;
use crate::ops::train;
use crate::store::db;
use crate::store::objects::Table;
use crate::store::{AuditEntry, AuditedTx};
use crate::vault::registry::{self, Kind};

use super::{
    Document, Imported, SequenceStatus, StagedEntry, VerifiedBundle, prefix, replay,
    sequence_status, trusted_time,
};

fn conflict(
    tx: &AuditedTx<'_>,
    table: Table,
    id: &Digest,
    site: &str,
    name: &str,
    version: i64,
    src: &str,
) -> Result<()> {
    let existing = crate::store::objects::id_of_version(tx, table, site, name, version)?;
    match existing {
        Some(e) if e != id.hex() => Err(Error::Integrity(format!(
            "bundle rejected: {src}: {site}/{name}@{version} already exists here with different content"
        ))),
        _ => Ok(()),
    }
}

/// What the commit's checks and rows came to.
pub(super) struct Rows {
    /// Every object indexed (hex digests).
    ids: Vec<String>,
    /// How many (digest, kind) pairs were new here.
    new_objects: usize,
    /// Models registered.
    models: Vec<String>,
    /// Provenance statements dropped (signed by no trusted site).
    dropped: Vec<String>,
    /// Carried trust policies applied.
    policies: Vec<crate::trust::policy::Applied>,
}

/// Every check the commit makes, and its index rows, in `tx`: the sequence
/// again under the write lock, name clashes, objects and their signatures
/// by (digest, kind), record rows, carried trust policies through the root
/// chain and the signatures they leave trusted, the origin's sequence and
/// the latest trusted time. `bundle import` runs it and commits; `bundle
/// verify` runs it and rolls back: one function, so they reach the same
/// verdict. It writes nothing outside `tx` (carried policies are already
/// indexed as objects when they are applied). The `policy.apply` records
/// of carried policies are appended in `tx`, before the import's own.
pub(super) fn write_rows(
    tx: &AuditedTx<'_>,
    src: &str,
    (m, bundle): (&Manifest, &Digest),
    staged: &[StagedEntry],
    documents: &[(Digest, Document)],
) -> Result<Rows> {
    if let SequenceStatus::Stale { last } = sequence_status(tx, m)? {
        return Err(replay(m, last));
    }
    // The site that made each object: its first trusted signer.
    let makers: std::collections::HashMap<Digest, String> = m
        .objects
        .iter()
        .zip(staged)
        .filter_map(|(e, s)| s.attestations.first().map(|a| (e.id, a.site.to_string())))
        .collect();
    let maker = |id: &Digest| makers.get(id).cloned().unwrap_or_default();
    // Name clashes before touching anything.
    for (id, doc) in documents {
        match doc {
            Document::Contract(c) => conflict(
                tx,
                Table::Contracts,
                id,
                &maker(id),
                &c.name,
                c.version,
                src,
            )?,
            Document::Dataset(d) => conflict(
                tx,
                Table::Datasets,
                id,
                d.site.as_str(),
                &d.name,
                d.version,
                src,
            )?,
            Document::FeatureSet(d) => conflict(
                tx,
                Table::FeatureSets,
                id,
                d.site.as_str(),
                &d.name,
                d.version,
                src,
            )?,
            _ => {}
        }
    }
    let mut new_objects = 0;
    let mut ids = Vec::new();
    let mut dropped = Vec::new();
    for (e, s) in m.objects.iter().zip(staged) {
        if s.attestations.is_empty() && e.kind == Kind::Provenance {
            dropped.push(e.id.hex());
            continue;
        }
        // Held by (digest, kind): the same bytes held as another kind (by
        // another site's label) neither block this object nor lend it
        // their signatures.
        if registry::held_as(tx, &e.id, e.kind)?.is_none() {
            new_objects += 1;
        }
        registry::index_object(tx, &e.id, e.kind, e.size)?;
        for a in &s.attestations {
            registry::add_attestation(tx, &e.id, e.kind, a)?;
        }
        ids.push(e.id.hex());
    }
    let mut models = Vec::new();
    for (id, doc) in documents {
        match doc {
            Document::Contract(c) => {
                crate::store::contracts::insert(tx, id, &maker(id), &c.name, c.version)?;
            }
            Document::Dataset(d) => ingest::insert_dataset_row(tx, id, d)?,
            Document::FeatureSet(d) => features::insert_feature_set_row(tx, id, d)?,
            Document::Run(r) => {
                train::insert_model_row(tx, id, r)?;
                models.push(id.hex());
            }
            Document::Gate(g) => crate::ops::gate::insert_gate_row(tx, id, g)?,
            Document::Approval(a) => crate::ops::approve::insert_approval_row(tx, id, a)?,
            Document::Policy(_) => {}
            Document::Provenance(p) => crate::ops::provenance::insert_rows(tx, id, p)?,
            // Found by kind and model when listed (`evaluate::list_for`); no index row.
            Document::Evaluation => {}
            // Found by kind and model when listed (`description::list_for`); no index row.
            Document::Description => {}
            Document::Monitoring => {}
            Document::AuditLog(_) => {
                return Err(Error::Integrity(format!(
                    "bundle rejected: {src}: an audit log export reached the commit"
                )));
            }
        }
    }
    // Trust policies, in version order, through the root chain.
    let chain = policy_chain(documents);
    let policies = if chain.is_empty() {
        Vec::new()
    } else {
        let (applied, records) = crate::trust::policy::apply_chain(tx, &chain, None)
            .map_err(|e| prefix(src, BundlePart::Policies, e))?;
        for r in records {
            tx.record(r)?;
        }
        // The policies may have removed or revoked keys: every object
        // must still carry a signature by a key trusted now.
        let now_trusted = registry::current_keys(tx)?;
        signed_under_new_policy(src, &m.objects, &now_trusted, |e| {
            registry::attestations(tx, &e.id, e.kind)
        })?;
        applied
    };
    // `Manifest::check` refused any sequence over i64::MAX; this never fails.
    let sequence = i64::try_from(m.sequence).map_err(|_| {
        Error::Integrity(format!(
            "bundle rejected: {src}: sequence {} is too large to store",
            m.sequence
        ))
    })?;
    crate::store::trust::set_peer_sequence(tx, m.origin_site.as_str(), sequence, bundle)?;
    // The latest trusted time only moves forward.
    let previous = trusted_time(tx)?;
    if previous.is_none_or(|t| m.created_at > t) {
        db::set_meta(tx, "trusted_time", &m.created_at.to_string())?;
    }
    Ok(Rows {
        ids,
        new_objects,
        models,
        dropped,
        policies,
    })
}

/// After a bundle's carried policy: every object but provenance statements
/// (evidence only, never trusted on their own) must carry a signature, from
/// `signers`, by a key in `trusted`.
fn signed_under_new_policy(
    src: &str,
    objects: &[Entry],
    trusted: &[registry::TrustedKey],
    signers: impl Fn(&Entry) -> Result<Vec<registry::Attestation>>,
) -> Result<()> {
    for e in objects.iter().filter(|e| e.kind != Kind::Provenance) {
        let ok = signers(e)?
            .iter()
            .any(|a| registry::check_attestation(trusted, e.kind, &e.id, a).is_ok());
        if !ok {
            return Err(Error::Refused(format!(
                "bundle rejected: {src}: {} {} is not signed by any key the trust policy it carries leaves trusted",
                e.kind,
                e.id.short()
            )));
        }
    }
    Ok(())
}

/// The trust policies among `documents`, oldest first.
fn policy_chain(documents: &[(Digest, Document)]) -> Vec<crate::trust::policy::SignedPolicy> {
    let mut chain: Vec<crate::trust::policy::SignedPolicy> = documents
        .iter()
        .filter_map(|(_, d)| match d {
            Document::Policy(p) => Some((**p).clone()),
            _ => None,
        })
        .collect();
    chain.sort_by_key(|p| p.body.version);
    chain
}

impl VerifiedBundle {
    /// Commits in one SQLite transaction: rows first (`write_rows`, the
    /// checks `bundle verify` runs too), then the staged objects move into
    /// the vault (listed in the vault's journal first, so a crash before the
    /// commit lets the next start remove them), then the commit. A crash
    /// anywhere before the commit leaves the store as it was.
    pub fn commit(self, home: &mut Home) -> Result<Imported> {
        let VerifiedBundle {
            source: src,
            manifest: m,
            bundle,
            allow_stale,
            staged,
            documents,
        } = self;
        // Every object but a dropped statement was staged, and is the one
        // listed.
        for (e, s) in m.objects.iter().zip(&staged) {
            match &s.object {
                Some(o) if o.digest() != e.id => {
                    return Err(Error::Integrity(format!(
                        "bundle rejected: {src}: staged object {} is not the listed {}",
                        o.digest().short(),
                        e.id.short()
                    )));
                }
                None if !(s.attestations.is_empty() && e.kind == Kind::Provenance) => {
                    return Err(Error::Integrity(format!(
                        "{} {} was checked but not staged",
                        e.kind,
                        e.id.short()
                    )));
                }
                _ => {}
            }
        }
        // IMMEDIATE takes the write lock now, so no other import can commit
        // between the sequence check in write_rows and this commit.
        let tx = home.begin_immediate()?;
        let rows = write_rows(&tx, &src, (&m, &bundle), &staged, &documents)?;
        let entry = AuditEntry::new(
            "bundle.import",
            &rows.ids,
            json!({ "origin": m.origin_site.as_str(), "sequence": m.sequence, "objects": rows.ids.len(), "new_objects": rows.new_objects,
                    "models": rows.models, "bundle": bundle.hex(), "file": src,
                    "created_at": m.created_at.to_string(), "allow_stale": allow_stale,
                    "policies": rows.policies, "untrusted_statements_dropped": rows.dropped }),
        );
        failpoint::hit("import.rows");
        tx.vault()
            .commit_all(staged.into_iter().filter_map(|s| s.object).collect())?;
        failpoint::hit("import.placed");
        // The import's record and the commit, in one step.
        tx.commit(entry)?;
        failpoint::hit("import.committed");
        Ok(Imported {
            origin: m.origin_site.to_string(),
            sequence: m.sequence,
            objects: rows.ids.len(),
            new_objects: rows.new_objects,
            models: rows.models,
            bundle,
        })
    }
}
