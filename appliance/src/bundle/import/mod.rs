//! Bundle import, as a state machine: each stage's output can only be made
//! by the stage before it, so an unverified manifest or object can never
//! reach the commit.
//!
//! 1. [`open`]: find the parts, read the footer and the encrypted trailer,
//!    decrypt it with this site's age key → [`Opened`] (not yet trusted);
//! 2. [`Opened::verify`]: origin signature by a trusted key, recipient site
//!    and key → [`VerifiedManifest`];
//! 3. [`VerifiedManifest::stage`]: sequence, expiry and trusted time; part
//!    sizes; then the body streams through age, every part's digest and
//!    every object's size, digest and makers' signatures are checked, and
//!    objects land in the vault's staging area → [`VerifiedBundle`];
//! 4. [`VerifiedBundle::commit`]: one SQLite transaction.
//!
//! The stages live apart, each in its own file; the types stay here, their
//! fields private to this module and its files, so only a stage can make the
//! next one: `manifest.rs` opens the bundle and checks its manifest (stages 1
//! and 2, and freshness), `body.rs` streams and checks the body (stage 3),
//! `document.rs` parses the records it carries, `commit.rs` writes the rows
//! and commits (stage 4; `bundle verify` rehearses the same rows).

use std::io;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::format::{Entry, FormatError, Manifest, SignedManifest};
use super::media::Parts;
use crate::contract::Contract;
use crate::digest::Digest;
use crate::error::{BundlePart, Error, Result};
use crate::lifecycle::Approval;
use crate::lifecycle::GateReport;
use crate::node::failpoint;
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::features::FeatureSetDoc;
use crate::ops::ingest::DatasetDoc;
use crate::ops::train::RunRecord;
use crate::site::SiteName;
use crate::store::{AuditEntry, Reads};
use crate::vault::Staged;
use crate::vault::registry;

/// The freshness rules are the core's pure function of the manifest's times,
/// the latest trusted time and the clock (`airlock_core::freshness`).
pub use airlock_core::freshness::{Freshness, MAX_CLOCK_SKEW_SECS, MAX_SHELF_DAYS};

mod body;
mod commit;
mod document;
mod manifest;

use commit::write_rows;
pub use manifest::open;

/// Operator choices for an import.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImportOptions {
    /// Accept a bundle made more than [`MAX_SHELF_DAYS`] before the latest
    /// trusted time (recorded in the audit log).
    pub allow_stale: bool,
}

/// Stage 1: the bundle's manifest is decrypted and parsed, not verified.
pub struct Opened {
    source: String,
    parts: Parts,
    signed: SignedManifest,
    /// The payload length the (unauthenticated) footer gives.
    payload_len: u64,
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

/// Object `i` hashed to `found`, not its listed digest.
fn mismatch(src: &str, i: usize, e: &Entry, found: Digest) -> Error {
    format_error(
        src,
        FormatError::DigestMismatch {
            index: i + 1,
            kind: e.kind,
            expected: e.id,
            found,
        },
    )
}

/// An early end is damage; other read errors (EIO from a failing stick) are
/// I/O faults, exit 1.
fn read_failed(source: &str, e: io::Error) -> Error {
    if is_data_error(&e) {
        corrupt(source, e)
    } else {
        Error::io(source, e)
    }
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
fn sequence_status(store: &impl Reads, m: &Manifest) -> Result<SequenceStatus> {
    let last = crate::store::trust::peer_sequence(store, m.origin_site.as_str())?;
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

/// The latest trusted time: the newest creation time of any bundle this
/// node accepted. It never moves back.
pub fn trusted_time(store: &impl Reads) -> Result<Option<Timestamp>> {
    let v = crate::store::trust::trusted_time(store)?;
    v.map(|s| {
        s.parse().map_err(|_| {
            Error::Integrity(format!("store metadata trusted_time {s:?} is not a time"))
        })
    })
    .transpose()
}

/// Stage 2: the manifest is signed by a trusted origin key and addressed to
/// this site.
pub struct VerifiedManifest {
    source: String,
    parts: Parts,
    manifest: Manifest,
    bundle: Digest,
    sequence: SequenceStatus,
    freshness: Freshness,
    /// Set for an audit log export checked against a site card alone: the
    /// only key whose signatures count.
    origin_only: Option<Vec<(SiteName, String, ed25519_dalek::VerifyingKey)>>,
}

/// What the body check does with each object.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Stage it in the vault for a commit.
    Stage,
    /// Only check it (`bundle verify`).
    Check,
    /// Check an audit log export (`audit verify-export`).
    Audit,
}

impl VerifiedManifest {
    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The bundle id: SHA-256 of the signed manifest bytes.
    pub fn bundle_id(&self) -> Digest {
        self.bundle
    }

    /// The part files.
    pub fn parts(&self) -> &Parts {
        &self.parts
    }

    /// Whether its sequence is new here.
    pub fn sequence_status(&self) -> SequenceStatus {
        self.sequence
    }

    /// How its times look from here.
    pub fn freshness(&self) -> Freshness {
        self.freshness
    }

    /// Streams the body: checks every part's digest, decrypts, checks each
    /// object's signatures, size and digest, and stages objects into the
    /// vault's staging area.
    pub fn stage(
        self,
        home: &Home,
        opts: ImportOptions,
        on_bytes: &mut dyn FnMut(u64, u64),
    ) -> Result<VerifiedBundle> {
        self.check_fresh(opts)?;
        let (staged, documents) = self.read_body(home, Mode::Stage, on_bytes)?;
        Ok(VerifiedBundle {
            source: self.source,
            manifest: self.manifest,
            bundle: self.bundle,
            allow_stale: opts.allow_stale && self.freshness.stale,
            staged,
            documents,
        })
    }

    /// The full check of [`VerifiedManifest::stage`] and of the commit
    /// (`write_rows`, in a transaction that is rolled back) without
    /// writing anything: `airlock bundle verify`.
    pub fn check(
        self,
        home: &Home,
        opts: ImportOptions,
        on_bytes: &mut dyn FnMut(u64, u64),
    ) -> Result<Checked> {
        self.check_fresh(opts)?;
        let (staged, documents) = self.read_body(home, Mode::Check, on_bytes)?;
        // The commit's own checks and rows, in a transaction rolled back.
        let tx = home.rehearse()?;
        write_rows(
            &tx,
            &self.source,
            (&self.manifest, &self.bundle),
            &staged,
            &documents,
        )?;
        tx.rollback()?;
        Ok(Checked {
            origin: self.manifest.origin_site.to_string(),
            sequence: self.manifest.sequence,
            bundle: self.bundle,
            objects: self.manifest.objects.len(),
            bytes: self.manifest.object_bytes(),
            // The files on the media: the signed trailer can spill into one more file than
            // the payload's parts.
            parts: self.parts.files.len(),
        })
    }
}

/// What `airlock bundle verify` found.
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    /// Origin site.
    pub origin: String,
    /// Its sequence number.
    pub sequence: u64,
    /// The bundle id.
    pub bundle: Digest,
    /// Objects carried.
    pub objects: usize,
    /// Bytes of objects.
    pub bytes: u64,
    /// Part files.
    pub parts: usize,
}

/// A refusal of `part` of bundle `src`: the bundle and the part named, the
/// cause (and its exit code) kept. I/O and store failures are not the
/// bundle's fault and pass unchanged.
fn prefix(src: &str, part: BundlePart, e: Error) -> Error {
    match e {
        Error::Rejected(_) | Error::Refused(_) | Error::Integrity(_) => Error::Bundle {
            file: src.to_owned(),
            part,
            cause: Box::new(e),
        },
        other => other,
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

/// An object staged from a bundle (its manifest entry, in the same order,
/// says what it is): verified, not yet committed (`None` in a check-only
/// run).
struct StagedEntry {
    object: Option<Staged>,
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
    Policy(Box<crate::trust::policy::SignedPolicy>),
    AuditLog(Box<crate::store::audit::AuditExport>),
    Provenance(Box<crate::ops::provenance::Statement>),
    /// Parsed and bound to its signers; it has no index row.
    Evaluation,
    /// Parsed, checked and bound to its signers; it has no index row.
    Description,
    /// A monitoring window or alert, parsed and bound to its signers; no index row.
    Monitoring,
}

/// Stage 3: every object is staged and verified.
pub struct VerifiedBundle {
    source: String,
    manifest: Manifest,
    bundle: Digest,
    allow_stale: bool,
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
    /// The bundle id: SHA-256 of its signed manifest.
    pub bundle: Digest,
}

/// Inspects a bundle: decrypts it and verifies its manifest (signature,
/// trust, recipient) without reading the objects.
pub fn inspect(home: &Home, path: &Path) -> Result<VerifiedManifest> {
    open(home, path)?.verify(home)
}

/// Fully checks a bundle as an import would, writing nothing.
pub fn verify(
    home: &Home,
    path: &Path,
    opts: ImportOptions,
    on_bytes: &mut dyn FnMut(u64, u64),
) -> Result<Checked> {
    open(home, path)?.verify(home)?.check(home, opts, on_bytes)
}

/// Imports a bundle from its file or first part: every check passes before
/// anything is committed. A refusal is itself recorded in the audit log,
/// with its reason.
pub fn import(
    home: &mut Home,
    path: &Path,
    opts: ImportOptions,
    on_bytes: &mut dyn FnMut(u64, u64),
) -> Result<Imported> {
    let result = (|| {
        let verified = open(home, path)?.verify(home)?;
        failpoint::hit("import.verified");
        let bundle = verified.stage(home, opts, on_bytes)?;
        failpoint::hit("import.staged");
        bundle.commit(home)
    })();
    result.map_err(|e| record_refusal(home, "bundle.import_refused", path, e))
}

/// At most `max` bytes of `s` (on a character boundary), marked if cut: a
/// refusal reason can quote attacker text.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &s[..end], s.len())
}

/// Appends an audit record of a refused bundle operation, and returns the
/// error. If even that fails, the error says so.
pub fn record_refusal(home: &mut Home, action: &str, path: &Path, e: Error) -> Error {
    let recorded = home.record(AuditEntry::new(
        action,
        &[],
        json!({ "file": path.display().to_string(), "reason": clip(&e.to_string(), 1024), "exit": e.exit_code() }),
    ));
    match recorded {
        Ok(_) => e,
        Err(audit_err) => Error::Integrity(format!(
            "{e}; and the refusal could not be recorded in the audit log: {audit_err}"
        )),
    }
}

#[cfg(test)]
mod tests;
