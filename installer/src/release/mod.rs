//! Release archives: made at the vendor's build site by `airlock-install release`, signed by
//! the release key, installed offline by `airlock-install update`.
//!
//! Why not an Airlock bundle with a new object kind: a bundle is made for one recipient site
//! (its body and manifest are encrypted to that site's age key, the recipient is in the
//! signed manifest, and its sequence number counts exports between two sites), and its
//! signer must be a trusted peer site. A release is the same public bytes for every node,
//! and its signer is the vendor, whom no node's trust list holds. So a release is a small
//! archive of its own ([`mod@format`]), built the bundle's way: a signed manifest read and
//! verified before any file, exact sizes and SHA-256 per file, nothing compressed, signed
//! in a domain of its own (`Domain::Release`) by a key that is sealed with a passphrase
//! like the root key (`airlock::trust::personal::PersonalKey`).
//!
//! Every archive `release` makes carries the release's SBOM ([`crate::sbom`]) as its first
//! file: its SHA-256 is in the signed manifest with the binaries', so it is signed with
//! them, and `update` reads and checks it ([`VerifiedRelease::check_sbom`]) before it
//! unpacks anything.

pub mod format;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use airlock::digest::Digest;
use airlock::node::time::Timestamp;
use airlock::trust::keys::{Domain, KeyId, verify as verify_signature};
use airlock::trust::personal::PersonalKey;
use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::error::{At, Error, Result};
use crate::fsops;
use crate::layout::BINARIES;
use crate::sbom;
use crate::version::Version;
use format::{HEADER_LEN, Manifest, SIGNATURE_LEN};

/// What `release` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Made {
    /// The archive.
    pub path: PathBuf,
    /// The digest of its signed manifest (the release id).
    pub id: String,
    /// The manifest.
    pub manifest: Manifest,
    /// What the SBOM in it lists.
    pub sbom: SbomSummary,
}

/// What an SBOM lists, counted.
#[derive(Clone, Debug, Serialize)]
pub struct SbomSummary {
    /// The binaries.
    pub files: usize,
    /// The workspace's own (path) crates.
    pub path_crates: usize,
    /// The other crates (registry, git).
    pub other_crates: usize,
    /// The SHA-256 of the `Cargo.lock` it was made from.
    pub cargo_lock_sha256: String,
}

impl SbomSummary {
    /// Counts what `bom` lists.
    pub fn of(bom: &sbom::Bom) -> SbomSummary {
        let crates = || bom.components.iter().filter(|c| !c.is_file());
        let path_crates = crates()
            .filter(|c| c.property(sbom::SOURCE_PROPERTY) == Some("path"))
            .count();
        SbomSummary {
            files: bom.files().count(),
            path_crates,
            other_crates: crates().count() - path_crates,
            cargo_lock_sha256: bom
                .property(sbom::LOCK_PROPERTY)
                .unwrap_or("none")
                .to_string(),
        }
    }
}

/// Makes the release archive `out` (never replacing a file) of `version` from the binaries
/// in `from`, signed by `key`, dated `now`, with the SBOM made from `lock` (the text of
/// the `Cargo.lock` the binaries were built from: [`sbom::BUILT_FROM`]).
pub fn make(
    out: &Path,
    from: &Path,
    version: Version,
    key: &PersonalKey,
    now: Timestamp,
    lock: &str,
) -> Result<Made> {
    let lock = sbom::Lock::parse(lock)?;
    let mut binaries = Vec::new();
    for name in BINARIES {
        let path = from.join(name);
        if path.is_file() {
            let (digest, size) = fsops::hash_file(&path)?;
            binaries.push(sbom::Binary {
                name: name.to_string(),
                sha256: digest.hex(),
                size,
            });
        }
    }
    let sbom_bytes = lock.sbom(version, &binaries, now)?;
    let summary = SbomSummary::of(&sbom::Bom::parse(&sbom_bytes)?);
    // The SBOM first, so `update` reads it without seeking past the binaries.
    let mut files = vec![format::File {
        name: sbom::FILE.into(),
        mode: sbom::MODE,
        size: sbom_bytes.len() as u64,
        sha256: Digest::of(&sbom_bytes).hex(),
    }];
    files.extend(binaries.into_iter().map(|b| format::File {
        name: b.name,
        mode: 0o755,
        size: b.size,
        sha256: b.sha256,
    }));
    let manifest = Manifest {
        format: format::FORMAT.into(),
        version,
        created_at: now.to_string(),
        key_id: key.key_id().to_string(),
        files,
    };
    manifest.check().map_err(|e| match e {
        Error::Integrity(m) => Error::NotFound(format!("{m} in {}", from.display())),
        other => other,
    })?;
    let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Rejected(e.to_string()))?;
    let signature = hex::decode(key.sign(Domain::Release, &bytes))
        .map_err(|e| Error::Rejected(e.to_string()))?;
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".airlock-release-")
        .tempfile_in(dir)
        .at(dir)?;
    let w = tmp.as_file_mut();
    w.write_all(&format::header(bytes.len())?).at(out)?;
    w.write_all(&bytes).at(out)?;
    w.write_all(&signature).at(out)?;
    w.write_all(&sbom_bytes).at(out)?;
    for f in manifest.binaries() {
        let path = from.join(&f.name);
        let mut src = File::open(&path).at(&path)?;
        let (digest, size) = fsops::copy_hashing(&mut src, w, f.size + 1).at(out)?;
        if digest.hex() != f.sha256 || size != f.size {
            return Err(Error::Refused(format!(
                "{} changed while the release was written; build, then run release again",
                path.display()
            )));
        }
    }
    fsops::set_mode(tmp.path(), 0o644)?;
    tmp.as_file().sync_all().at(out)?;
    tmp.persist_noclobber(out)
        .map_err(|e| Error::io(out, e.error))?;
    fsops::sync_dir(dir)?;
    Ok(Made {
        path: out.to_path_buf(),
        id: Digest::of(&bytes).hex(),
        manifest,
        sbom: summary,
    })
}

/// A release archive whose manifest is signed by the pinned key: the only kind that can be
/// unpacked.
#[derive(Debug)]
pub struct VerifiedRelease {
    file: File,
    path: PathBuf,
    manifest: Manifest,
    id: String,
    body_at: u64,
}

/// Opens `path` and verifies its manifest against `key`, before reading any file in it.
/// Signed by another key: refused (exit 5); signature bad: integrity (exit 4).
pub fn open(path: &Path, key: &VerifyingKey) -> Result<VerifiedRelease> {
    let mut file = File::open(path).at(path)?;
    let len = file.metadata().at(path)?.len();
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header).map_err(|_| {
        Error::Rejected(format!(
            "{}: too short to be a release archive",
            path.display()
        ))
    })?;
    let manifest_len = format::parse_header(&header).map_err(|e| prefix(path, e))?;
    let mut bytes = vec![0u8; manifest_len];
    let mut signature = [0u8; SIGNATURE_LEN];
    file.read_exact(&mut bytes)
        .and_then(|()| file.read_exact(&mut signature))
        .map_err(|_| Error::Integrity(format!("{}: truncated in its manifest", path.display())))?;
    // The signature first: nothing of the manifest is parsed before it verifies. Only a
    // failure peeks at the key id it names, to tell another key (refused) from an altered
    // archive (integrity).
    let pinned = KeyId::of(key);
    if !verify_signature(key, Domain::Release, &bytes, &hex::encode(signature)) {
        #[derive(serde::Deserialize)]
        struct Named {
            key_id: String,
        }
        if let Ok(named) = serde_json::from_slice::<Named>(&bytes)
            && named.key_id != pinned.as_str()
        {
            return Err(Error::Refused(format!(
                "{} is signed by release key {}; this node accepts only release key {pinned} (pinned at install)",
                path.display(),
                airlock::text::Untrusted(&named.key_id)
            )));
        }
        return Err(Error::Integrity(format!(
            "{}: the release signature does not verify (altered or corrupt)",
            path.display()
        )));
    }
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Integrity(format!(
            "{}: the signed release manifest is malformed: {}",
            path.display(),
            airlock::text::error_text(&e)
        ))
    })?;
    if manifest.key_id != pinned.as_str() {
        return Err(Error::Integrity(format!(
            "{}: the manifest names key {} but verifies with the pinned key {pinned}",
            path.display(),
            airlock::text::Untrusted(&manifest.key_id)
        )));
    }
    manifest.check().map_err(|e| prefix(path, e))?;
    let want = manifest.archive_len(manifest_len);
    if len != want {
        return Err(Error::Integrity(format!(
            "{} is {len} bytes; its signed manifest says {want} (truncated, or bytes appended)",
            path.display()
        )));
    }
    Ok(VerifiedRelease {
        file,
        path: path.to_path_buf(),
        id: Digest::of(&bytes).hex(),
        manifest,
        body_at: (HEADER_LEN + manifest_len + SIGNATURE_LEN) as u64,
    })
}

fn prefix(path: &Path, e: Error) -> Error {
    match e {
        Error::Integrity(m) => Error::Integrity(format!("{}: {m}", path.display())),
        Error::Rejected(m) => Error::Rejected(format!("{}: {m}", path.display())),
        other => other,
    }
}

impl VerifiedRelease {
    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The release id: the digest of the signed manifest.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Reads the release's SBOM from the archive and checks it: present (a release
    /// without one is refused, exit 5), its bytes those the signed manifest names (exit
    /// 4), a CycloneDX document (exit 3) that describes this release: its version, and
    /// exactly its binaries with their signed SHA-256 (exit 3). Reads no binary.
    pub fn check_sbom(&mut self) -> Result<sbom::Bom> {
        let version = self.manifest.version;
        let Some(entry) = self.manifest.sbom().cloned() else {
            return Err(Error::Refused(format!(
                "{}: release {version} carries no SBOM ({}): this node installs only releases that list what they are built from; make the archive again with airlock-install release, which adds it",
                self.path.display(),
                sbom::FILE
            )));
        };
        let offset: u64 = self
            .manifest
            .files
            .iter()
            .take_while(|f| f.name != sbom::FILE)
            .map(|f| f.size)
            .sum();
        self.file
            .seek(SeekFrom::Start(self.body_at + offset))
            .at(&self.path)?;
        // The size is at most sbom::MAX_LEN (Manifest::check), and the archive's length
        // was checked against the manifest: the bytes are there.
        let mut bytes = Vec::new();
        (&self.file)
            .take(entry.size)
            .read_to_end(&mut bytes)
            .at(&self.path)?;
        if bytes.len() as u64 != entry.size || Digest::of(&bytes).hex() != entry.sha256 {
            return Err(Error::Integrity(format!(
                "{}: {} does not match its signed digest (altered or corrupt)",
                self.path.display(),
                sbom::FILE
            )));
        }
        let bom = sbom::Bom::parse(&bytes).map_err(|e| prefix(&self.path, e))?;
        let binaries: Vec<(&str, &str)> = self
            .manifest
            .binaries()
            .map(|f| (f.name.as_str(), f.sha256.as_str()))
            .collect();
        bom.check_describes(version, &binaries)
            .map_err(|e| prefix(&self.path, e))?;
        Ok(bom)
    }

    /// Streams every file into the new folder `dir` (which must not exist), each checked
    /// against its signed size and digest, synced, with its mode. On any error the folder
    /// is removed.
    pub fn unpack(&mut self, dir: &Path) -> Result<()> {
        let result = self.unpack_into(dir);
        if result.is_err() {
            let _ = fsops::remove_tree(dir);
        }
        result
    }

    fn unpack_into(&mut self, dir: &Path) -> Result<()> {
        std::fs::create_dir(dir).at(dir)?;
        fsops::set_mode(dir, 0o755)?;
        self.file
            .seek(SeekFrom::Start(self.body_at))
            .at(&self.path)?;
        for f in &self.manifest.files {
            let to = dir.join(&f.name);
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&to)
                .at(&to)?;
            let (digest, size) =
                fsops::copy_hashing(&mut (&self.file).take(f.size), &mut out, f.size).at(&to)?;
            if size != f.size || digest.hex() != f.sha256 {
                return Err(Error::Integrity(format!(
                    "{}: {} does not match its signed digest (corrupt archive)",
                    self.path.display(),
                    f.name
                )));
            }
            fsops::set_mode(&to, f.mode)?;
            out.sync_all().at(&to)?;
        }
        fsops::sync_dir(dir)
    }
}
