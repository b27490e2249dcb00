//! `seal` and `verify`: a signed manifest of the installed files, and the comparison of the
//! node with it.
//!
//! The manifest ([`manifest::Manifest`]) lists every path under the sealed scopes
//! ([`SCOPES`]) with its type, mode, owner, size and SHA-256, or a link's target. It is
//! signed by the site key in its own signing domain (`Domain::InstallSeal`, so no other
//! signature of the site can pass for a seal) and written to `ROOT/var/lib/airlock-install/
//! seal.json`; the digest of its bytes is recorded in the home's audit log
//! (`install.seal`), in the same hash-chained, signed log as everything else the node does.
//!
//! `verify` refuses (exit 4) a seal whose signature does not verify, that is unsigned or
//! malformed, or that is not the newest one the audit log records (an older, genuinely
//! signed seal put back after the files were rolled back to match it), and otherwise names
//! every path modified (and which attribute: type, content, mode, owner), added under a
//! sealed scope, or removed. Unlike AIDE's database, the manifest cannot be replaced by
//! someone who does not hold the site key, and each replacement by someone who does is in
//! the audit log.

pub mod manifest;
pub mod scan;

use std::path::Path;

use airlock::digest::Digest;
use airlock::node::home::Home;
use airlock::store::AuditEntry;
use airlock::trust::keys::{Domain, verify as verify_signature};
use serde::Serialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::fsops;
use crate::layout::Layout;
use crate::owner;
use crate::version::Version;
use manifest::{Difference, Entry, FORMAT, Manifest, SealFile};

/// What is sealed, relative to the root: the releases and their links, the configuration,
/// and every unit file (and drop-in folder) whose name begins with `airlock`.
pub const SCOPES: &[&str] = &["etc/airlock", "etc/systemd/system/airlock*", "opt/airlock"];

/// The audit action of a seal.
pub const SEAL_ACTION: &str = "install.seal";

/// A seal as the audit log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The digest of the manifest's bytes.
    pub digest: String,
    /// Its version floor.
    pub floor: Version,
    /// The audit record's number.
    pub seq: i64,
}

/// The newest seal the home's audit log records, if any.
pub fn newest_recorded(home: &Home) -> Result<Option<Recorded>> {
    for r in home.audit_log()?.iter().rev() {
        if r.action != SEAL_ACTION {
            continue;
        }
        let digest = r.subjects.first().cloned().unwrap_or_default();
        let floor = r.details["floor"]
            .as_str()
            .unwrap_or_default()
            .parse::<Version>()
            .map_err(|_| {
                Error::Integrity(format!(
                    "audit record {} ({SEAL_ACTION}) has no version floor",
                    r.seq
                ))
            })?;
        return Ok(Some(Recorded {
            digest,
            floor,
            seq: r.seq,
        }));
    }
    Ok(None)
}

/// What `seal` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Sealed {
    /// The digest of the manifest's bytes (the audit record's subject).
    pub digest: String,
    /// The release `current` points at.
    pub current: Version,
    /// The version floor.
    pub floor: Version,
    /// How many paths are sealed.
    pub entries: usize,
    /// The seal file.
    pub path: std::path::PathBuf,
}

/// Seals the node under `layout`: scans the scopes, signs the manifest with the site key,
/// records it (`install.seal`, with `reason`) and writes the seal file. The floor is the
/// highest of the current release, the newest recorded seal's floor, and `at_least`.
///
/// Refused while an update's journal exists: a half-updated node is never sealed (run
/// `update::recover` first, as the `seal` command does).
pub fn seal(layout: &Layout, reason: &str, at_least: Option<Version>) -> Result<Sealed> {
    let _lock = crate::lock::lock(layout)?;
    if std::fs::symlink_metadata(layout.journal()).is_ok() {
        return Err(Error::Refused(format!(
            "{} exists: an update was interrupted; run `airlock-install recover` first",
            layout.journal().display()
        )));
    }
    seal_during_update(layout, reason, at_least)
}

/// [`seal`] without the lock (its caller holds it) and the journal check: the last step of
/// an update, whose journal is removed only after the seal is written, and of a rollback.
pub(crate) fn seal_during_update(
    layout: &Layout,
    reason: &str,
    at_least: Option<Version>,
) -> Result<Sealed> {
    let current = fsops::link_version(&layout.current())?.ok_or_else(|| {
        Error::NotFound(format!(
            "{} does not exist: no release is installed here (airlock-install install)",
            layout.current().display()
        ))
    })?;
    let scopes: Vec<String> = SCOPES.iter().map(|s| s.to_string()).collect();
    let found = scan::scan(layout.root(), &scopes)?;
    if let Some(name) = found.unreadable_names.first() {
        return Err(Error::Rejected(format!(
            "{} is not a UTF-8 name; remove or rename it before sealing",
            airlock::text::Untrusted(name)
        )));
    }
    let entries = found.entries.len();
    let home_path = layout.home();
    let (digest, file, floor) = owner::as_owner_of(&home_path, || {
        let mut home = Home::open(&home_path)?;
        let recorded = newest_recorded(&home)?;
        let floor = [Some(current), recorded.map(|r| r.floor), at_least]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(current);
        let manifest = Manifest {
            format: FORMAT.into(),
            site: home.site().to_string(),
            key_id: home.keys().key_id().to_string(),
            sealed_at: home.now().to_string(),
            current,
            floor,
            scopes: scopes.clone(),
            entries: found.entries.clone(),
        };
        let bytes = serde_json::to_vec(&manifest)
            .map_err(|e| Error::Rejected(format!("seal manifest: {e}")))?;
        let signature = home.keys().sign(Domain::InstallSeal, &bytes);
        let digest = Digest::of(&bytes).hex();
        home.record(AuditEntry::new(
            SEAL_ACTION,
            std::slice::from_ref(&digest),
            json!({ "current": current, "floor": floor, "entries": entries, "reason": reason }),
        ))?;
        let raw = serde_json::value::RawValue::from_string(
            String::from_utf8(bytes).map_err(|e| Error::Rejected(e.to_string()))?,
        )
        .map_err(|e| Error::Rejected(format!("seal manifest: {e}")))?;
        let file = SealFile {
            key_id: manifest.key_id.clone(),
            signature,
            manifest: raw,
        };
        Ok((digest, file, floor))
    })?;
    let text =
        serde_json::to_vec_pretty(&file).map_err(|e| Error::Rejected(format!("seal file: {e}")))?;
    fsops::create_dirs(&layout.state(), 0o755)?;
    fsops::write_file(&layout.seal(), &text, 0o644)?;
    Ok(Sealed {
        digest,
        current,
        floor,
        entries,
        path: layout.seal(),
    })
}

/// The result of `verify`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The site whose key signed the seal.
    pub site: String,
    /// When the seal was made.
    pub sealed_at: String,
    /// The digest of the verified manifest.
    pub digest: String,
    /// The release sealed as current.
    pub current: Version,
    /// The version floor.
    pub floor: Version,
    /// How many paths are sealed.
    pub sealed: usize,
    /// Every difference, by path.
    pub differences: Vec<Difference>,
    /// The sealed entries (for [`Report::sealed_copy_of`]).
    #[serde(skip)]
    pub entries: Vec<Entry>,
}

impl Report {
    /// Whether the node is exactly as sealed.
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }

    /// The sealed path whose content is the file `program` (the verifying binary itself),
    /// if any.
    pub fn sealed_copy_of(&self, program: &Path) -> Result<Option<String>> {
        let (digest, _) = fsops::hash_file(program)?;
        let hex = digest.hex();
        Ok(self
            .entries
            .iter()
            .find(|e| e.sha256.as_deref() == Some(hex.as_str()))
            .map(|e| e.path.clone()))
    }
}

/// Reads and checks the seal, then compares the node with it.
pub fn verify(layout: &Layout) -> Result<Report> {
    let (manifest, digest) = load_verified(layout)?;
    let found = scan::scan(layout.root(), &manifest.scopes)?;
    let differences = manifest::compare(&manifest.entries, &found.entries);
    Ok(Report {
        site: manifest.site,
        sealed_at: manifest.sealed_at,
        digest,
        current: manifest.current,
        floor: manifest.floor,
        sealed: manifest.entries.len(),
        differences,
        entries: manifest.entries,
    })
}

/// The seal's manifest, once its signature by this home's site key and its place as the
/// newest recorded seal are verified; with the digest of its bytes.
pub fn load_verified(layout: &Layout) -> Result<(Manifest, String)> {
    let path = layout.seal();
    let home_path = layout.home();
    let bytes = match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => Some(airlock::node::fsx::read_capped(&path, manifest::MAX_SEAL)?),
        Ok(_) => {
            return Err(Error::Integrity(format!(
                "{} is not a plain file",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(&path, e)),
    };
    owner::as_owner_of(&home_path, || {
        let home = Home::open_read_only(&home_path)?;
        // The log first: a seal is only as good as the record that names it.
        home.verify_audit()?;
        let recorded = newest_recorded(&home)?;
        let Some(bytes) = bytes else {
            return Err(match recorded {
                Some(r) => Error::Integrity(format!(
                    "{} is missing, but the audit log records a seal (record {}, manifest {}): the seal was removed",
                    path.display(),
                    r.seq,
                    r.digest
                )),
                None => Error::NotFound(format!(
                    "{} does not exist: this node was never sealed (airlock-install seal)",
                    path.display()
                )),
            });
        };
        if bytes.len() > manifest::MAX_SEAL {
            return Err(Error::Integrity(format!(
                "{} is larger than {} bytes",
                path.display(),
                manifest::MAX_SEAL
            )));
        }
        let file: SealFile = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Integrity(format!(
                "{} is not a seal file (unsigned or altered): {}",
                path.display(),
                airlock::text::error_text(&e)
            ))
        })?;
        let raw = file.manifest.get().as_bytes();
        let key = home.public().signing;
        if file.key_id != home.keys().key_id().as_str() {
            return Err(Error::Integrity(format!(
                "{} is signed by key {}, not by this site's key {}",
                path.display(),
                airlock::text::Untrusted(&file.key_id),
                home.keys().key_id()
            )));
        }
        if !verify_signature(&key, Domain::InstallSeal, raw, &file.signature) {
            return Err(Error::Integrity(format!(
                "{}: the signature does not verify: the manifest was altered, or it is unsigned",
                path.display()
            )));
        }
        let digest = Digest::of(raw).hex();
        match &recorded {
            Some(r) if r.digest == digest => {}
            Some(r) => {
                return Err(Error::Integrity(format!(
                    "{} (manifest {digest}) is not the newest seal the audit log records (record {}, manifest {}): an older seal was put back",
                    path.display(),
                    r.seq,
                    r.digest
                )));
            }
            None => {
                return Err(Error::Integrity(format!(
                    "{} (manifest {digest}) is recorded nowhere in the audit log",
                    path.display()
                )));
            }
        }
        let manifest: Manifest = serde_json::from_slice(raw).map_err(|e| {
            Error::Integrity(format!(
                "{}: the signed manifest is malformed: {}",
                path.display(),
                airlock::text::error_text(&e)
            ))
        })?;
        manifest.check()?;
        if manifest.site != home.site().as_str() {
            return Err(Error::Integrity(format!(
                "{} seals site {}, not this home's site {}",
                path.display(),
                airlock::text::Untrusted(&manifest.site),
                home.site()
            )));
        }
        Ok((manifest, digest))
    })
}
