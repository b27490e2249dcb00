//! Bundle import, as a state machine: each stage's output can only be made
//! by the stage before it, so an unverified manifest or object can never
//! reach the commit.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::iter;
use std::path::Path;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::json;

use super::format::{self, FormatError, Manifest, SignedManifest};
use crate::audit;
use crate::contract::Contract;
use crate::data::{self, DatasetDoc};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::features::{self, FeatureSetDoc};
use crate::home::Home;
use crate::keys::{self, Domain};
use crate::lifecycle::{self, Approval, Deployment, GateReport};
use crate::models::{self, RunRecord};
use crate::registry::{self, Kind};
use crate::site::SiteName;
use crate::time::Timestamp;
use crate::vault::Staged;

type Plain = age::stream::StreamReader<BufReader<File>>;

/// Stage 1: the bundle is decrypted and its manifest parsed, not verified.
pub struct Opened {
    source: String,
    signed: SignedManifest,
    reader: Plain,
}

fn corrupt(source: &str, what: impl std::fmt::Display) -> Error {
    Error::Integrity(format!(
        "bundle rejected: {source} is corrupt or was altered: {what}"
    ))
}

fn format_error(source: &str, e: FormatError) -> Error {
    match e {
        FormatError::Io(msg) => corrupt(source, msg),
        FormatError::Truncated(what) => corrupt(source, format!("truncated inside the {what}")),
        other => Error::Integrity(format!("bundle rejected: {source}: {other}")),
    }
}

/// Opens a bundle file: decrypts it with this site's age key and reads the
/// manifest.
pub fn open(home: &Home, path: &Path) -> Result<Opened> {
    let source = path.display().to_string();
    let file = File::open(path).at(path)?;
    let decryptor = age::Decryptor::new_buffered(BufReader::new(file)).map_err(|e| {
        Error::Integrity(format!(
            "bundle rejected: {source} is not an age-encrypted Airlock bundle or its header is corrupt ({e})"
        ))
    })?;
    let mut reader = decryptor
        .decrypt(iter::once(home.keys().age_identity() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => Error::Refused(format!(
                "bundle rejected: {source} is not encrypted to this site ({}): it was made for another site, or its header was damaged in transit",
                home.site()
            )),
            other => corrupt(&source, other),
        })?;
    let signed = format::read_header(&mut reader).map_err(|e| format_error(&source, e))?;
    Ok(Opened {
        source,
        signed,
        reader,
    })
}

/// How this node sees a manifest's sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceStatus {
    /// Newer than anything imported from that origin.
    New,
    /// Not newer: a replay or a rollback.
    Stale {
        /// The highest sequence already imported.
        last: u64,
    },
}

/// Compares a manifest's sequence with the highest one imported from its
/// origin.
fn sequence_status(conn: &rusqlite::Connection, m: &Manifest) -> Result<SequenceStatus> {
    let last: Option<i64> = conn
        .query_row(
            "SELECT sequence FROM peer_sequences WHERE site = ?1",
            [m.origin_site.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(match last {
        Some(l) if m.sequence <= l as u64 => SequenceStatus::Stale { last: l as u64 },
        _ => SequenceStatus::New,
    })
}

fn replay(m: &Manifest, last: u64) -> Error {
    Error::Refused(format!(
        "bundle rejected: sequence {} from site {:?} is not newer than {last} already imported (replay or rollback?)",
        m.sequence,
        m.origin_site.as_str()
    ))
}

/// Stage 2: the manifest is signed by a trusted origin key and addressed to
/// this site.
pub struct VerifiedManifest {
    source: String,
    manifest: Manifest,
    reader: Plain,
    sequence: SequenceStatus,
}

impl Opened {
    /// Verifies the manifest's signature against the key this node trusts
    /// for the origin site, and that the manifest names this site and its
    /// key as recipient.
    pub fn verify(self, home: &Home) -> Result<VerifiedManifest> {
        let m = &self.signed.manifest;
        let src = &self.source;
        let key: Option<(String, String)> = home
            .conn
            .query_row(
                "SELECT key_id, signing_key FROM trusted_sites WHERE site = ?1",
                [m.origin_site.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((key_id, key_hex)) = key else {
            return Err(Error::Refused(format!(
                "bundle rejected: {src} comes from site {:?}, which this node does not trust (airlock trust add CARD)",
                m.origin_site.as_str()
            )));
        };
        if key_id != m.origin_key {
            return Err(Error::Refused(format!(
                "bundle rejected: {src} is signed by key {} but site {:?} is trusted with key {key_id}",
                m.origin_key,
                m.origin_site.as_str()
            )));
        }
        let key = keys::parse_verifying_key(&key_hex)?;
        if !keys::verify(
            &key,
            Domain::Manifest,
            &self.signed.bytes,
            &self.signed.signature,
        ) {
            return Err(Error::Integrity(format!(
                "bundle rejected: {src}: the manifest signature does not verify with site {:?}'s key; it was forged or altered",
                m.origin_site.as_str()
            )));
        }
        if m.recipient_site != *home.site() {
            return Err(Error::Refused(format!(
                "bundle rejected: {src} is addressed to site {:?}, not to this site ({}); it was re-encrypted or misdelivered",
                m.recipient_site.as_str(),
                home.site()
            )));
        }
        if m.recipient_key != home.public().age_recipient {
            return Err(Error::Refused(format!(
                "bundle rejected: {src} is addressed to site {} but to another encryption key than this node's; it was made from an old or forged site card",
                home.site()
            )));
        }
        let sequence = sequence_status(&home.conn, m)?;
        Ok(VerifiedManifest {
            source: self.source,
            manifest: self.signed.manifest,
            reader: self.reader,
            sequence,
        })
    }
}

impl VerifiedManifest {
    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether its sequence is new here.
    pub fn sequence_status(&self) -> SequenceStatus {
        self.sequence
    }

    /// Refuses a replayed or rolled-back bundle and an expired one.
    fn check_fresh(&self) -> Result<()> {
        let m = &self.manifest;
        if let SequenceStatus::Stale { last } = self.sequence {
            return Err(replay(m, last));
        }
        let now = Timestamp::now();
        if now > m.expires_at {
            return Err(Error::Refused(format!(
                "bundle rejected: {} expired at {} (it is now {now}); ask site {:?} for a fresh export",
                self.source,
                m.expires_at,
                m.origin_site.as_str()
            )));
        }
        Ok(())
    }

    /// Streams every object into the vault's staging area, checking its size,
    /// digest and signatures, then checks that the stream ends.
    pub fn stage(
        mut self,
        home: &Home,
        on_bytes: &mut dyn FnMut(u64, u64),
    ) -> Result<VerifiedBundle> {
        self.check_fresh()?;
        let trusted = registry::trusted_keys(&home.conn)?;
        let total: u64 = self.manifest.objects.iter().map(|e| e.size).sum();
        let mut done = 0u64;
        let mut staged = Vec::with_capacity(self.manifest.objects.len());
        let src = self.source.clone();
        for (i, e) in self.manifest.objects.iter().enumerate() {
            let label = format!(
                "object {} of {} ({} {})",
                i + 1,
                self.manifest.objects.len(),
                e.kind,
                e.id.short()
            );
            // Every signature by a site this node trusts must verify; those
            // by sites it does not know are dropped, not stored; at least one
            // trusted signature must remain.
            let mut attestations = Vec::new();
            for att in &e.attestations {
                if trusted.iter().any(|(site, _, _)| *site == att.site) {
                    registry::check_attestation(&trusted, e.kind, &e.id, att)
                        .map_err(|err| prefix(&src, err))?;
                    attestations.push(att.clone());
                }
            }
            if attestations.is_empty() {
                let signers: Vec<String> =
                    e.attestations.iter().map(|a| a.site.to_string()).collect();
                return Err(Error::Refused(format!(
                    "bundle rejected: {src}: {label} is signed only by {}, which this node does not trust",
                    signers.join(", ")
                )));
            }
            let mut limited = (&mut self.reader).take(e.size);
            let (object, document) = if e.kind.is_document() {
                let mut bytes = Vec::with_capacity(e.size as usize);
                limited
                    .read_to_end(&mut bytes)
                    .map_err(|err| read_error(&src, &label, err))?;
                let s = home.vault().stage(&bytes[..], e.size, &mut |_| {})?;
                (s, Some(bytes))
            } else {
                let mut progress = |n: u64| {
                    done += n;
                    on_bytes(done, total);
                };
                let reader = ReadErrors { inner: limited };
                let s =
                    home.vault()
                        .stage(reader, e.size, &mut progress)
                        .map_err(|err| match err {
                            Error::Io { source, .. }
                                if source.kind() == io::ErrorKind::InvalidData =>
                            {
                                corrupt(&src, format!("{label}: {source}"))
                            }
                            other => other,
                        })?;
                (s, None)
            };
            if object.size() != e.size {
                return Err(corrupt(
                    &src,
                    format!(
                        "{label} is {} bytes, the manifest says {} (truncated?)",
                        object.size(),
                        e.size
                    ),
                ));
            }
            if object.digest() != e.id {
                return Err(Error::Integrity(format!(
                    "bundle rejected: {src}: {label} hashes to {}, not the digest its manifest lists",
                    object.digest().short()
                )));
            }
            if let Some(d) = &document {
                done += d.len() as u64;
                on_bytes(done, total);
            }
            staged.push(StagedEntry {
                kind: e.kind,
                object,
                document,
                attestations,
            });
        }
        format::expect_end(&mut self.reader).map_err(|e| format_error(&src, e))?;
        let documents = parse_documents(&src, &staged)?;
        Ok(VerifiedBundle {
            source: self.source,
            manifest: self.manifest,
            staged,
            documents,
        })
    }
}

fn prefix(src: &str, e: Error) -> Error {
    match e {
        Error::Refused(m) => Error::Refused(format!("bundle rejected: {src}: {m}")),
        Error::Integrity(m) => Error::Integrity(format!("bundle rejected: {src}: {m}")),
        other => other,
    }
}

fn read_error(src: &str, label: &str, e: io::Error) -> Error {
    if is_data_error(&e) {
        corrupt(src, format!("{label}: {e}"))
    } else {
        Error::io(src, e)
    }
}

/// Decryption failures and early ends are signs of tampering or damaged
/// media; other read errors (EIO from a failing stick) are I/O faults.
fn is_data_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
    )
}

/// Marks decryption failures inside a stream as corrupt data.
struct ReadErrors<R> {
    inner: R,
}

impl<R: Read> Read for ReadErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if is_data_error(&e) {
                io::Error::new(io::ErrorKind::InvalidData, e.to_string())
            } else {
                e
            }
        })
    }
}

/// An object staged from a bundle: verified, not yet committed.
struct StagedEntry {
    kind: Kind,
    object: Staged,
    /// The bytes of record documents (small), kept to parse them.
    document: Option<Vec<u8>>,
    attestations: Vec<registry::Attestation>,
}

/// A record document from a bundle, parsed.
enum Document {
    Contract(Box<Contract>),
    Dataset(Box<DatasetDoc>),
    FeatureSet(Box<FeatureSetDoc>),
    Run(Box<RunRecord>),
    Gate(Box<GateReport>),
    Approval(Box<Approval>),
}

fn parse_documents(src: &str, staged: &[StagedEntry]) -> Result<Vec<(Digest, Document)>> {
    let mut out = Vec::new();
    for StagedEntry {
        kind,
        object,
        document,
        attestations: atts,
    } in staged
    {
        let Some(bytes) = document else { continue };
        let bad = |e: serde_json::Error| {
            Error::Integrity(format!(
                "bundle rejected: {src}: {kind} {} does not parse: {e}",
                object.digest().short()
            ))
        };
        let signed_by = |site: &SiteName| atts.iter().any(|a| a.site == *site);
        let claim = |site: &SiteName| -> Result<()> {
            if signed_by(site) {
                Ok(())
            } else {
                Err(Error::Integrity(format!(
                    "bundle rejected: {src}: {kind} {} claims to come from site {site} but is not signed by it",
                    object.digest().short()
                )))
            }
        };
        let doc = match kind {
            Kind::Contract => {
                let c: Contract = serde_json::from_slice(bytes).map_err(bad)?;
                c.check(&format!("{kind} {}", object.digest().short()))
                    .map_err(|e| Error::Integrity(format!("bundle rejected: {src}: {e}")))?;
                Document::Contract(Box::new(c))
            }
            Kind::Dataset => {
                let d: DatasetDoc = serde_json::from_slice(bytes).map_err(bad)?;
                claim(&d.site)?;
                Document::Dataset(Box::new(d))
            }
            Kind::FeatureSet => {
                let d: FeatureSetDoc = serde_json::from_slice(bytes).map_err(bad)?;
                claim(&d.site)?;
                Document::FeatureSet(Box::new(d))
            }
            Kind::Run => {
                let d: RunRecord = serde_json::from_slice(bytes).map_err(bad)?;
                claim(&d.site)?;
                Document::Run(Box::new(d))
            }
            Kind::Gate => {
                let d: GateReport = serde_json::from_slice(bytes).map_err(bad)?;
                claim(&d.site)?;
                Document::Gate(Box::new(d))
            }
            Kind::Approval => {
                let d: Approval = serde_json::from_slice(bytes).map_err(bad)?;
                claim(&d.site)?;
                Document::Approval(Box::new(d))
            }
            Kind::Deployment => {
                // Deployments are local decisions; they never travel.
                let _: Deployment = serde_json::from_slice(bytes).map_err(bad)?;
                return Err(Error::Refused(format!(
                    "bundle rejected: {src}: it carries a deployment record; deployments are decided at each site"
                )));
            }
            Kind::Snapshot | Kind::Weights => continue,
        };
        out.push((object.digest(), doc));
    }
    Ok(out)
}

/// Stage 3: every object is staged and verified.
pub struct VerifiedBundle {
    source: String,
    manifest: Manifest,
    staged: Vec<StagedEntry>,
    documents: Vec<(Digest, Document)>,
}

/// What an import did.
#[derive(Clone, Debug, Serialize)]
pub struct Imported {
    /// Origin site.
    pub origin: String,
    /// Its sequence number.
    pub sequence: u64,
    /// Objects carried.
    pub objects: usize,
    /// Objects that were new here.
    pub new_objects: usize,
    /// Models registered.
    pub models: Vec<String>,
}

fn conflict(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    id: &Digest,
    site: &str,
    name: &str,
    version: i64,
    src: &str,
) -> Result<()> {
    let existing: Option<String> = tx
        .query_row(
            &format!("SELECT id FROM {table} WHERE site = ?1 AND name = ?2 AND version = ?3"),
            params![site, name, version],
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        Some(e) if e != id.hex() => Err(Error::Integrity(format!(
            "bundle rejected: {src}: {site}/{name}@{version} already exists here with different content"
        ))),
        _ => Ok(()),
    }
}

impl VerifiedBundle {
    /// Commits: moves the staged objects into the vault (write-once, so an
    /// interrupted commit leaves only unreferenced objects) and records
    /// everything in one SQLite transaction.
    pub fn commit(self, home: &mut Home, bundle_sha256: Option<Digest>) -> Result<Imported> {
        let src = self.source.clone();
        let (conn, vault, keys, _) = home.parts();
        // IMMEDIATE takes the write lock now, so no other import can commit
        // between the sequence check below and this commit.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let m = &self.manifest;
        if let SequenceStatus::Stale { last } = sequence_status(&tx, m)? {
            return Err(replay(m, last));
        }
        // Check name clashes before touching anything.
        for (id, doc) in &self.documents {
            match doc {
                Document::Dataset(d) => conflict(
                    &tx,
                    "datasets",
                    id,
                    d.site.as_str(),
                    &d.name,
                    d.version,
                    &src,
                )?,
                Document::FeatureSet(d) => conflict(
                    &tx,
                    "feature_sets",
                    id,
                    d.site.as_str(),
                    &d.name,
                    d.version,
                    &src,
                )?,
                _ => {}
            }
        }
        // The site that made each object: its first trusted signer.
        let makers: std::collections::HashMap<Digest, String> = self
            .staged
            .iter()
            .filter_map(|e| {
                e.attestations
                    .first()
                    .map(|a| (e.object.digest(), a.site.to_string()))
            })
            .collect();
        let mut new_objects = 0;
        let mut ids = Vec::new();
        let mut to_place = Vec::with_capacity(self.staged.len());
        for StagedEntry {
            kind,
            object,
            attestations: atts,
            ..
        } in self.staged
        {
            let id = object.digest();
            let size = object.size();
            match registry::object_info(&tx, &id)? {
                None => new_objects += 1,
                Some((held, _)) if held != kind => {
                    return Err(Error::Integrity(format!(
                        "bundle rejected: {src}: object {} is listed as a {kind} but is held here as a {held}",
                        id.short()
                    )));
                }
                Some(_) => {}
            }
            registry::index_object(&tx, &id, kind, size)?;
            for a in &atts {
                registry::add_attestation(&tx, &id, a)?;
            }
            ids.push(id.hex());
            to_place.push(object);
        }
        let mut model_ids = Vec::new();
        for (id, doc) in &self.documents {
            match doc {
                Document::Contract(c) => {
                    let site = makers.get(id).cloned().unwrap_or_default();
                    tx.execute(
                        "INSERT INTO contracts (id, site, name, version, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(id) DO NOTHING",
                        params![id.hex(), site, c.name, c.version, Timestamp::now().to_string()],
                    )?;
                }
                Document::Dataset(d) => data::insert_dataset_row(&tx, id, d)?,
                Document::FeatureSet(d) => features::insert_feature_set_row(&tx, id, d)?,
                Document::Run(r) => {
                    models::insert_model_row(&tx, id, r)?;
                    model_ids.push(id.hex());
                }
                Document::Gate(g) => lifecycle::insert_gate_row(&tx, id, g)?,
                Document::Approval(a) => lifecycle::insert_approval_row(&tx, id, a)?,
            }
        }
        tx.execute(
            "INSERT INTO peer_sequences (site, sequence, bundle, imported_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(site) DO UPDATE SET sequence = excluded.sequence, bundle = excluded.bundle, imported_at = excluded.imported_at",
            params![m.origin_site.as_str(), m.sequence as i64, bundle_sha256.map(|d| d.hex()).unwrap_or_default(), Timestamp::now().to_string()],
        )?;
        audit::append(
            &tx,
            keys,
            "bundle.import",
            &ids,
            json!({ "origin": m.origin_site.as_str(), "sequence": m.sequence, "objects": ids.len(), "new_objects": new_objects,
                    "models": model_ids, "bundle_sha256": bundle_sha256.map(|d| d.hex()) }),
        )?;
        // Every row is written; now the objects go into place (write-once,
        // content-addressed: if the commit below fails they are unreferenced
        // and harmless), then the one commit.
        for object in to_place {
            vault.commit(object)?;
        }
        tx.commit()?;
        Ok(Imported {
            origin: m.origin_site.to_string(),
            sequence: m.sequence,
            objects: ids.len(),
            new_objects,
            models: model_ids,
        })
    }
}

/// Inspects a bundle: decrypts it and verifies its manifest (signature,
/// trust, recipient) without reading the objects.
pub fn inspect(home: &Home, path: &Path) -> Result<VerifiedManifest> {
    open(home, path)?.verify(home)
}

/// Imports a bundle file: every check passes before anything is committed.
pub fn import(
    home: &mut Home,
    path: &Path,
    on_bytes: &mut dyn FnMut(u64, u64),
) -> Result<Imported> {
    let verified = open(home, path)?.verify(home)?;
    let bundle = verified.stage(home, on_bytes)?;
    let sha = file_digest(path)?;
    bundle.commit(home, Some(sha))
}

fn file_digest(path: &Path) -> Result<Digest> {
    let f = File::open(path).at(path)?;
    let mut r = HashingReader::new(BufReader::new(f));
    io::copy(&mut r, &mut io::sink()).at(path)?;
    Ok(r.finish().0)
}
