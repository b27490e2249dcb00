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

use std::io::{self, BufReader, Read, Write};
use std::iter;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::format::{self, Entry, Footer, FormatError, Manifest, SignedManifest};
use super::media::{Parts, PayloadReader};
use crate::contract::Contract;
use crate::digest::Digest;
use crate::error::{BundlePart, Error, IoContext, Result};
use crate::lifecycle::Approval;
use crate::lifecycle::Deployment;
use crate::lifecycle::GateReport;
use crate::node::failpoint;
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::features::{self, FeatureSetDoc};
use crate::ops::ingest::{self, DatasetDoc};
use crate::ops::train::{self, RunRecord};
use crate::site::SiteName;
use crate::store::db;
use crate::store::objects::Table;
use crate::store::{AuditEntry, AuditedTx, Reads};
use crate::trust::keys::{self, Domain};
use crate::vault::Staged;
use crate::vault::pipe;
use crate::vault::registry::{self, Kind};

use airlock_core::freshness::{Against, Unfresh};
/// The freshness rules are the core's pure function of the manifest's times,
/// the latest trusted time and the clock (`airlock_core::freshness`).
pub use airlock_core::freshness::{Freshness, MAX_CLOCK_SKEW_SECS, MAX_SHELF_DAYS};

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

fn not_for_us(home: &Home, source: &str) -> Error {
    Error::Refused(format!(
        "bundle rejected: {source} is not encrypted to this site ({}): it was made for another site, or its header was damaged in transit",
        home.site()
    ))
}

/// Opens a bundle from its file or first part: finds the parts, reads the
/// footer and decrypts the trailer with this site's age key.
pub fn open(home: &Home, path: &Path) -> Result<Opened> {
    let parts = Parts::discover(path)?;
    let source = parts.describe();
    let src = source.as_str();
    let mut leader = [0u8; format::LEADER_LEN as usize];
    if parts.total < format::LEADER_LEN + format::FOOTER_LEN {
        return Err(corrupt(src, format!("only {} bytes", parts.total)));
    }
    parts
        .read_exact_at(0, &mut leader)
        .map_err(|e| read_failed(src, e))?;
    format::check_leader(&leader).map_err(|e| format_error(src, e))?;
    let mut end = [0u8; format::FOOTER_LEN as usize];
    parts
        .read_exact_at(parts.total - format::FOOTER_LEN, &mut end)
        .map_err(|e| read_failed(src, e))?;
    let footer = Footer::parse(&end, parts.total).map_err(|e| match parts.odd_part() {
        Some(odd) => Error::Integrity(format!(
            "bundle rejected: {src}: {odd}: it was cut short or changed while copying; copy it again from the source media"
        )),
        None => format_error(src, e),
    })?;
    let mut trailer = vec![0u8; footer.trailer_len as usize];
    parts
        .read_exact_at(footer.payload_len, &mut trailer)
        .map_err(|e| read_failed(src, e))?;
    format::check_age_header(&trailer)
        .map_err(|e| corrupt(src, format!("the manifest's encryption header: {e}")))?;
    let decryptor = age::Decryptor::new_buffered(&trailer[..])
        .map_err(|e| corrupt(src, format!("the manifest's encryption header: {e}")))?;
    let mut reader = decryptor
        .decrypt(iter::once(home.keys().age_identity() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => not_for_us(home, src),
            other => corrupt(src, format!("the manifest: {other}")),
        })?;
    let signed = format::read_trailer(&mut reader).map_err(|e| format_error(src, e))?;
    Ok(Opened {
        source,
        parts,
        signed,
        payload_len: footer.payload_len,
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

/// How a manifest's times look from here at `now` (the home's clock).
fn freshness(conn: &impl Reads, m: &Manifest, now: Timestamp) -> Result<Freshness> {
    Ok(Freshness::of(
        m.created_at,
        m.expires_at,
        trusted_time(conn)?,
        now,
    ))
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

impl Opened {
    /// Verifies an audit log export's manifest against the site card of
    /// its origin (not this node's trust list), then reads and verifies the
    /// log. Nothing is imported; no sequence or freshness rule applies (an
    /// auditor may check an old export).
    pub fn verify_audit_export(
        self,
        home: &Home,
        card: &crate::site::SiteCard,
        on_bytes: &mut dyn FnMut(u64, u64),
    ) -> Result<(crate::store::audit::AuditExport, Digest)> {
        let m = &self.signed.manifest;
        if m.origin_site != card.site {
            return Err(Error::Refused(format!(
                "bundle rejected: {} comes from site {:?}, not from the card's site {}",
                self.source,
                m.origin_site.as_str(),
                card.site
            )));
        }
        let key_id = card.keys.key_id().to_string();
        let mut v = self.verify_with(home, key_id.clone(), card.keys.signing)?;
        v.origin_only = Some(vec![(card.site.clone(), key_id, card.keys.signing)]);
        let (_, documents) = v.read_body(home, Mode::Audit, on_bytes)?;
        let bundle = v.bundle;
        let mut logs = documents.into_iter().filter_map(|(_, d)| match d {
            Document::AuditLog(a) => Some(*a),
            _ => None,
        });
        match (logs.next(), logs.next()) {
            (Some(doc), None) => Ok((doc, bundle)),
            _ => Err(Error::Refused(format!(
                "bundle rejected: {}: it is not an audit log export (it must carry exactly one audit log)",
                v.source
            ))),
        }
    }

    /// Verifies the manifest's signature against the key this node trusts
    /// for the origin site (under a trust policy, the policy's, checked
    /// against the trust list: [`crate::trust::peer`]), and that the
    /// manifest names this site and its key as recipient.
    pub fn verify(self, home: &Home) -> Result<VerifiedManifest> {
        let m = &self.signed.manifest;
        let src = &self.source;
        let origin = crate::trust::peer(home, &m.origin_site)
            .map_err(|e| prefix(src, BundlePart::Manifest, e))?;
        let Some(origin) = origin else {
            return Err(Error::Refused(format!(
                "bundle rejected: {src} comes from site {:?}, which this node does not trust (airlock trust add CARD)",
                m.origin_site.as_str()
            )));
        };
        self.verify_with(home, origin.key_id, origin.signing)
    }

    /// [`Opened::verify`] against the origin key `key` (id `key_id`).
    fn verify_with(
        self,
        home: &Home,
        key_id: String,
        key: ed25519_dalek::VerifyingKey,
    ) -> Result<VerifiedManifest> {
        let m = &self.signed.manifest;
        let src = &self.source;
        if key_id != m.origin_key {
            return Err(Error::Refused(format!(
                "bundle rejected: {src} is signed by key {} but the key this node holds for site {:?} is {key_id}",
                m.origin_key,
                m.origin_site.as_str()
            )));
        }
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
        if m.payload.size != self.payload_len {
            return Err(corrupt(
                src,
                "the footer and the signed manifest disagree on the payload size",
            ));
        }
        let sequence = sequence_status(home.store(), m)?;
        let freshness = freshness(home.store(), m, home.now())?;
        Ok(VerifiedManifest {
            source: self.source,
            parts: self.parts,
            bundle: Digest::of(&self.signed.bytes),
            manifest: self.signed.manifest,
            sequence,
            freshness,
            origin_only: None,
        })
    }
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

    /// Refuses a replayed or rolled-back bundle, an expired one, one from
    /// the future, and (unless overridden) a stale one.
    fn check_fresh(&self, opts: ImportOptions) -> Result<()> {
        let m = &self.manifest;
        let src = &self.source;
        if let SequenceStatus::Stale { last } = self.sequence {
            return Err(replay(m, last));
        }
        let origin = m.origin_site.as_str();
        match self.freshness.verdict(opts.allow_stale) {
            Ok(()) => Ok(()),
            Err(Unfresh::Expired {
                expires_at,
                against,
            }) => {
                let against = match against {
                    Against::TrustedTime(t) => format!("the latest trusted time is {t}"),
                    Against::Clock(now) => format!("it is now {now}"),
                };
                Err(Error::Refused(format!(
                    "bundle rejected: {src} expired at {expires_at} ({against}); ask site {origin:?} for a fresh export"
                )))
            }
            Err(Unfresh::FromTheFuture { created_at, now }) => Err(Error::Refused(format!(
                "bundle rejected: {src} was made at {created_at}, more than a day after this node's clock ({now}); set this node's clock, or ask site {origin:?} to check theirs"
            ))),
            Err(Unfresh::Stale {
                created_at,
                trusted_time,
            }) => Err(Error::Refused(format!(
                "bundle rejected: {src} was made at {created_at}, more than {MAX_SHELF_DAYS} days before the newest bundle this node has accepted ({trusted_time}); it may be an old bundle replayed to hold this node back. If it really sat on the shelf that long, import it with --allow-stale (recorded in the audit log)"
            ))),
        }
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

    fn read_body(
        &self,
        home: &Home,
        mode: Mode,
        on_bytes: &mut dyn FnMut(u64, u64),
    ) -> Result<Body> {
        let src = self.source.as_str();
        let payload = &self.manifest.payload;
        let objects = &self.manifest.objects;
        self.parts.check_layout(payload)?;
        let trusted = match &self.origin_only {
            Some(t) => t.clone(),
            None => registry::current_keys(home.store())?,
        };
        let count = objects.len();
        // Signatures depend only on the manifest: check them all before
        // reading the body, so the verdict never depends on thread timing.
        let signers = objects
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let label = format!("object {} of {count} ({} {})", i + 1, e.kind, e.id.short());
                trusted_attestations(&trusted, i + 1, e, &label, src)
            })
            .collect::<Result<Vec<_>>>()?;
        let total = self.manifest.object_bytes();
        let identity = home.keys().age_identity();
        let (mut tx, mut rx) = pipe::pipe();
        let parts = &self.parts;
        std::thread::scope(|scope| {
            // This thread reads the media, checks each part's digest,
            // decrypts, and splits the body into the listed objects, checking
            // each one's exact size and digest (the archive reader).
            let producer = scope.spawn(move || -> std::result::Result<(), BodyError> {
                let mut checked = PayloadReader::new(parts, payload);
                let mut leader = [0u8; format::LEADER_LEN as usize];
                checked.read_exact(&mut leader).map_err(BodyError::Read)?;
                // Bound the body's age header before age parses it.
                let mut head = Vec::with_capacity(format::MAX_AGE_HEADER);
                (&mut checked)
                    .take(format::MAX_AGE_HEADER as u64)
                    .read_to_end(&mut head)
                    .map_err(BodyError::Read)?;
                format::check_age_header(&head).map_err(|e| BodyError::Header(e.to_string()))?;
                let decryptor = age::Decryptor::new_buffered(BufReader::with_capacity(
                    256 << 10,
                    io::Cursor::new(head).chain(&mut checked),
                ))
                .map_err(|e| BodyError::Header(e.to_string()))?;
                let mut body = decryptor
                    .decrypt(iter::once(identity as &dyn age::Identity))
                    .map_err(|e| BodyError::Header(e.to_string()))?;
                let mut buf = vec![0u8; 256 << 10];
                // Staging hashes every object into the vault; a check-only
                // run has the archive reader hash them.
                format::read_objects_with(
                    &mut body,
                    objects,
                    mode != Mode::Stage,
                    |_, _, object| {
                        loop {
                            let n = match object.read(&mut buf) {
                                Ok(0) => return Ok(()),
                                Ok(n) => n,
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                                Err(e) => return Err(BodyError::Read(e)),
                            };
                            match tx.write_all(&buf[..n]) {
                                Ok(()) => {}
                                Err(e) if pipe::is_closed(&e) => return Err(BodyError::Closed),
                                Err(e) => return Err(BodyError::Read(e)),
                            }
                        }
                    },
                )?;
                drop(body);
                // Every part must have been read and checked: the next read
                // checks the last part's digest and must find the end.
                match checked.read(&mut [0u8; 1]) {
                    Ok(0) => {}
                    Ok(_) => {
                        return Err(BodyError::Read(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "data after the end of the encrypted body",
                        )));
                    }
                    Err(e) => return Err(BodyError::Read(e)),
                }
                match tx.flush() {
                    Err(e) if pipe::is_closed(&e) => Err(BodyError::Closed),
                    Err(e) => Err(BodyError::Read(e)),
                    Ok(()) => Ok(()),
                }
            });
            // This one checks each object's signatures, stages it (hashing
            // it again into the vault) and parses records.
            let mut done = 0u64;
            let mut staged = Vec::with_capacity(count);
            let mut documents = Vec::new();
            let consumed = (|| -> Result<()> {
                for ((i, e), attestations) in objects.iter().enumerate().zip(signers) {
                    let label =
                        format!("object {} of {count} ({} {})", i + 1, e.kind, e.id.short());
                    let mut r = (&mut rx).take(e.size);
                    let mut progress = |n: u64| {
                        done += n;
                        on_bytes(done, total);
                    };
                    let object = if e.kind.is_document() {
                        let mut bytes = Vec::with_capacity(e.size as usize);
                        r.read_to_end(&mut bytes).at(src)?;
                        progress(bytes.len() as u64);
                        if bytes.len() as u64 != e.size {
                            // The archive reader names the fault.
                            return Err(corrupt(src, format!("{label} is damaged")));
                        }
                        let found = Digest::of(&bytes);
                        if found != e.id {
                            return Err(mismatch(src, i, e, found));
                        }
                        if attestations.is_empty() {
                            // Dropped (see trusted_attestations).
                            staged.push(StagedEntry {
                                object: None,
                                attestations,
                            });
                            continue;
                        }
                        if let Some(doc) = parse_document(src, e, &bytes, &attestations, mode)? {
                            documents.push((e.id, doc));
                        }
                        match mode {
                            Mode::Stage => {
                                Some(home.vault().stage(&bytes[..], e.size, &mut |_| {})?)
                            }
                            Mode::Check | Mode::Audit => None,
                        }
                    } else {
                        match mode {
                            Mode::Stage => Some(home.vault().stage(r, e.size, &mut progress)?),
                            Mode::Check | Mode::Audit => {
                                let mut sink = ProgressSink { on: &mut progress };
                                io::copy(&mut r, &mut sink).at(src)?;
                                None
                            }
                        }
                    };
                    if let Some(o) = &object {
                        if o.size() != e.size {
                            return Err(corrupt(src, format!("{label} is damaged")));
                        }
                        if o.digest() != e.id {
                            return Err(mismatch(src, i, e, o.digest()));
                        }
                    }
                    staged.push(StagedEntry {
                        object,
                        attestations,
                    });
                }
                Ok(())
            })();
            drop(rx);
            let produced = producer.join().map_err(|_| {
                Error::io(src, io::Error::other("the import reader thread panicked"))
            })?;
            // The reader's error, if any, is the cause; the consumer only
            // sees its effect (a short or odd object).
            match produced {
                Ok(()) | Err(BodyError::Closed) => {}
                Err(BodyError::Header(e)) => {
                    return Err(self.damaged(format!("the body's encryption header: {e}")));
                }
                Err(BodyError::Format(e @ FormatError::DigestMismatch { .. })) => {
                    return Err(format_error(src, e));
                }
                Err(BodyError::Format(e)) => {
                    // A short or long body: name a damaged part if there is one.
                    let bad = self.parts.diagnose(payload);
                    return Err(if bad.is_empty() {
                        format_error(src, e)
                    } else {
                        self.damaged(e.to_string())
                    });
                }
                Err(BodyError::Read(e)) if is_data_error(&e) => {
                    return Err(self.damaged(e.to_string()));
                }
                Err(BodyError::Read(e)) => return Err(Error::io(src, e)),
            }
            consumed.map(|()| (staged, documents))
        })
    }

    /// The body failed to read: name the parts whose digests differ from
    /// the signed manifest, if any.
    fn damaged(&self, what: String) -> Error {
        let bad = self.parts.diagnose(&self.manifest.payload);
        if bad.is_empty() {
            corrupt(&self.source, what)
        } else {
            Error::Integrity(format!(
                "bundle rejected: {}: {} damaged: its SHA-256 differs from the one in the signed manifest; copy it again from the source media",
                self.source,
                if bad.len() == 1 {
                    format!("{} is", bad[0])
                } else {
                    format!("{} are", bad.join(", "))
                }
            ))
        }
    }
}

/// The staged objects and parsed records of a body.
type Body = (Vec<StagedEntry>, Vec<(Digest, Document)>);

/// Why the reading thread stopped.
enum BodyError {
    /// The consumer stopped first (it has the error).
    Closed,
    /// The body's age header does not open with this site's key although
    /// the trailer did: spliced or damaged.
    Header(String),
    /// Reading or decrypting failed.
    Read(io::Error),
    /// The body does not split into the listed objects.
    Format(FormatError),
}

impl From<FormatError> for BodyError {
    fn from(e: FormatError) -> Self {
        BodyError::Format(e)
    }
}

struct ProgressSink<'a> {
    on: &'a mut dyn FnMut(u64),
}

impl io::Write for ProgressSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (self.on)(buf.len() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Every signature by a site this node trusts must verify; those by sites
/// it does not know are dropped, not stored; at least one trusted signature
/// must remain. `index` is the entry's place in the manifest, from 1.
fn trusted_attestations(
    trusted: &[(SiteName, String, ed25519_dalek::VerifyingKey)],
    index: usize,
    e: &Entry,
    label: &str,
    src: &str,
) -> Result<Vec<registry::Attestation>> {
    let mut kept = Vec::new();
    for att in &e.attestations {
        if trusted.iter().any(|(site, _, _)| *site == att.site) {
            registry::check_attestation(trusted, e.kind, &e.id, att)
                .map_err(|err| prefix(src, BundlePart::Signature { index }, err))?;
            kept.push(att.clone());
        }
    }
    // A provenance statement by a site this node does not trust is not
    // evidence here: it is dropped (read and digest-checked, never stored),
    // as untrusted signatures are. Nothing is accepted on the strength of a
    // statement; lineage requires a trusted one for every record.
    if kept.is_empty() && e.kind != Kind::Provenance {
        let signers: Vec<String> = e.attestations.iter().map(|a| a.site.to_string()).collect();
        return Err(Error::Refused(format!(
            "bundle rejected: {src}: {label} is signed only by {}, which this node does not trust",
            signers.join(", ")
        )));
    }
    Ok(kept)
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

/// Parses a record document and binds the site it claims to its signers.
fn parse_document(
    src: &str,
    e: &Entry,
    bytes: &[u8],
    atts: &[registry::Attestation],
    mode: Mode,
) -> Result<Option<Document>> {
    let kind = e.kind;
    let bad = |err: serde_json::Error| {
        Error::Integrity(format!(
            "bundle rejected: {src}: {kind} {} does not parse: {}",
            e.id.short(),
            crate::text::error_text(&err)
        ))
    };
    let claim = |site: &SiteName| -> Result<()> {
        if atts.iter().any(|a| a.site == *site) {
            Ok(())
        } else {
            Err(Error::Integrity(format!(
                "bundle rejected: {src}: {kind} {} claims to come from site {site} but is not signed by it",
                e.id.short()
            )))
        }
    };
    let doc = match kind {
        Kind::Contract => {
            let c: Contract = serde_json::from_slice(bytes).map_err(bad)?;
            c.check(&format!("{kind} {}", e.id.short()))
                .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            Document::Contract(Box::new(c))
        }
        Kind::Dataset => {
            let d: DatasetDoc = serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            // Its row count is stored as a SQLite integer (i64).
            if i64::try_from(d.rows).is_err() {
                return Err(Error::Integrity(format!(
                    "bundle rejected: {src}: {kind} {} claims {} rows, above {}, the largest this node can store",
                    e.id.short(),
                    d.rows,
                    i64::MAX
                )));
            }
            Document::Dataset(Box::new(d))
        }
        Kind::FeatureSet => {
            let d: FeatureSetDoc = serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            d.check()
                .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
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
            // A report that checked nothing, or whose verdict does not
            // follow from its checks, never enters the store.
            d.check(&airlock_runtime::METRIC_NAMES)
                .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            Document::Gate(Box::new(d))
        }
        Kind::Approval => {
            let d: Approval = serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            d.verify_operator()
                .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            Document::Approval(Box::new(d))
        }
        Kind::Deployment => {
            // Deployments are local decisions; they never travel.
            let _: Deployment = serde_json::from_slice(bytes).map_err(bad)?;
            return Err(Error::Refused(format!(
                "bundle rejected: {src}: it carries a deployment record; deployments are decided at each site"
            )));
        }
        Kind::Policy => {
            // Checked against this node's root chain at commit.
            let p = crate::trust::policy::SignedPolicy::parse(
                bytes,
                &format!("{kind} {}", e.id.short()),
            )
            .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            // As `bundle export` carries it: the commit indexes exactly the
            // bytes it applies, and writes nothing else into the vault.
            if Digest::of(&p.render()) != e.id {
                return Err(Error::Integrity(format!(
                    "bundle rejected: {src}: {kind} {} is not laid out as a signed policy file is written (`airlock policy sign`)",
                    e.id.short()
                )));
            }
            Document::Policy(Box::new(p))
        }
        Kind::AuditLog if mode == Mode::Audit => {
            let d: crate::store::audit::AuditExport = serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            Document::AuditLog(Box::new(d))
        }
        Kind::AuditLog => {
            return Err(Error::Refused(format!(
                "bundle rejected: {src}: it carries an audit log export for an auditor; check it with `airlock audit verify-export FILE --card CARD` (it is never imported)"
            )));
        }
        Kind::MonitorWindow => {
            let d: airlock_core::monitor::MonitorWindow =
                serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            Document::Monitoring
        }
        Kind::RequestLog => {
            return Err(Error::Refused(format!(
                "bundle rejected: {src}: it carries raw requests (a request log batch), which never cross the air gap"
            )));
        }
        Kind::Alert => {
            let d: airlock_core::monitor::Alert = serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            Document::Monitoring
        }
        _ if mode == Mode::Audit => {
            return Err(Error::Refused(format!(
                "bundle rejected: {src}: an audit log export carries only the audit log, not a {kind}"
            )));
        }
        Kind::Provenance => {
            let d: crate::ops::provenance::Statement =
                serde_json::from_slice(bytes).map_err(bad)?;
            d.check(&format!("{kind} {}", e.id.short()))
                .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            claim(&d.predicate.site)?;
            Document::Provenance(Box::new(d))
        }
        Kind::Evaluation => {
            let d: crate::ops::evaluate::EvaluationRecord =
                serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            Document::Evaluation
        }
        Kind::ModelDescription => {
            let d: crate::ops::description::ModelDescription =
                serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            d.check()
                .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            Document::Description
        }
        Kind::OperatorCert => {
            return Err(Error::Refused(format!(
                "bundle rejected: {src}: it carries an operator certificate; operator keys are made at each site"
            )));
        }
        Kind::Snapshot | Kind::Weights => return Ok(None),
    };
    check_names(src, e, &doc)?;
    Ok(Some(doc))
}

/// The names in a peer's records follow the rules names given on this
/// node's command line follow ([`registry::validate_name`] for datasets,
/// contracts, feature sets and models, the operator name rule for
/// approvers; site names are typed and checked as they parse): a name with
/// an escape sequence, a line break or a direction override is refused
/// here, never stored or shown. Free text (a dataset's source, a run's
/// device name, an approval's note) is kept and escaped when shown.
fn check_names(src: &str, e: &Entry, doc: &Document) -> Result<()> {
    let check = |field: &str, r: std::result::Result<(), airlock_core::Error>| {
        r.map_err(|err| {
            Error::Integrity(format!(
                "bundle rejected: {src}: {} {}: field `{field}` breaks this node's name rule: {err}",
                e.kind,
                e.id.short()
            ))
        })
    };
    match doc {
        Document::Contract(c) => check("name", registry::validate_name(&c.name)),
        Document::Dataset(d) => check("name", registry::validate_name(&d.name)),
        Document::FeatureSet(d) => check("name", registry::validate_name(&d.name)),
        Document::Run(r) => check("name", registry::validate_name(&r.name)),
        Document::Approval(a) => check(
            "approver",
            crate::trust::policy::validate_operator_name(&a.approver),
        ),
        _ => Ok(()),
    }
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
struct Rows {
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
fn write_rows(
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
mod tests {
    use super::*;

    /// A refused part names the bundle and the part and keeps its cause (so
    /// the exit code stays the cause's); an I/O failure is not the bundle's
    /// and passes unchanged.
    #[test]
    fn a_refused_part_keeps_its_cause_and_names_the_part() {
        let e = prefix(
            "b.airlock",
            BundlePart::Signature { index: 2 },
            Error::Integrity("object 2 signature does not verify".into()),
        );
        match &e {
            Error::Bundle { file, part, cause } => {
                assert_eq!(file, "b.airlock");
                assert_eq!(*part, BundlePart::Signature { index: 2 });
                assert!(matches!(**cause, Error::Integrity(_)), "{cause:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "bundle rejected: b.airlock: object 2 signature does not verify"
        );
        assert_eq!(e.exit_code(), crate::error::exit::INTEGRITY);
        let io = prefix(
            "b.airlock",
            BundlePart::Policies,
            Error::io("/x", io::Error::other("disk")),
        );
        assert!(matches!(io, Error::Io { .. }), "{io:?}");
    }

    #[test]
    fn a_dataset_row_count_the_store_cannot_hold_is_refused_at_parse() {
        let doc = |rows: u64| DatasetDoc {
            ty: ingest::DATASET_TYPE.into(),
            site: "lab".parse().expect("site"),
            name: "credit".into(),
            version: 1,
            contract: Digest::of(b"contract"),
            snapshot: Digest::of(b"snapshot"),
            snapshot_size: 10,
            format: ingest::Format::Csv,
            rows,
            source: "credit.csv".into(),
            created_at: Timestamp(1_000),
            profile: None,
            ignored: Vec::new(),
            renamed: Vec::new(),
        };
        let atts = [registry::Attestation {
            site: "lab".parse().expect("site"),
            key_id: "0123456789abcdef".into(),
            signature: "s".into(),
        }];
        let parse = |rows: u64| {
            let bytes = serde_json::to_vec(&doc(rows)).expect("json");
            let e = Entry {
                id: Digest::of(&bytes),
                kind: Kind::Dataset,
                size: bytes.len() as u64,
                attestations: Vec::new(),
            };
            parse_document("b.airlock", &e, &bytes, &atts, Mode::Check)
        };
        assert!(parse(i64::MAX as u64).is_ok(), "the largest storable count");
        let Err(err) = parse(u64::MAX) else {
            panic!("2^64 - 1 rows accepted")
        };
        assert!(
            err.to_string()
                .contains("claims 18446744073709551615 rows, above 9223372036854775807"),
            "{err}"
        );
    }
}
