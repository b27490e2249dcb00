//! The encrypted, content-addressed vault.
//!
//! Each object is stored once, under the SHA-256 of its plaintext, encrypted
//! with age to the site's own X25519 key: `vault/objects/ab/abcdef....age`.
//! Objects are write-once: storing the same content again is a no-op and
//! nothing is ever overwritten. Writes stream through a temporary file in
//! `vault/tmp/` that is fsynced and renamed into place; reads stream and
//! re-hash, and a mismatch is an error naming the object.

pub mod check;
pub mod pipe;
pub mod registry;

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::iter;
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Missing, Result};
use crate::node::fsx;
use crate::vault::pipe::BackgroundFile;

/// The vault of one home.
pub struct Vault {
    dir: PathBuf,
    identity: age::x25519::Identity,
    recipient: age::x25519::Recipient,
}

/// An object encrypted into `vault/tmp/`, hashed, not yet in place.
pub struct Staged {
    /// Closed once written, so thousands of staged objects hold no file
    /// descriptors.
    tmp: tempfile::TempPath,
    digest: Digest,
    size: u64,
}

impl Staged {
    /// The plaintext's digest.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The plaintext's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

const COPY_BUF: usize = 256 * 1024;
const JOURNAL: &str = "journal";

/// What [`Vault::recover`] cleaned up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Objects moved into place by a command that died before its store
    /// transaction committed.
    pub orphans_removed: Vec<Digest>,
    /// Temporary files left in the staging area.
    pub temp_removed: usize,
}

impl Recovered {
    /// True when there was anything to clean: a command died mid-write.
    pub fn any(&self) -> bool {
        !self.orphans_removed.is_empty() || self.temp_removed > 0
    }
}

impl Vault {
    /// Creates the vault folders under `dir`.
    pub fn create(dir: &Path) -> Result<()> {
        fsx::create_private_dir(&dir.join("objects"))?;
        fsx::create_private_dir(&dir.join("tmp"))
    }

    /// Opens the vault at `dir` with the site's age identity. `vault/`,
    /// `objects/` and `tmp/` must be real folders (not links: recovery
    /// empties `tmp/`, and a linked `tmp/` once had it empty the link's
    /// target), owned by this user and writable by no one else.
    pub fn open(dir: &Path, identity: &age::x25519::Identity) -> Result<Self> {
        for d in [dir.to_path_buf(), dir.join("objects"), dir.join("tmp")] {
            fsx::require_home_path(&d, fsx::Entry::Dir)?;
        }
        Ok(Vault {
            dir: dir.to_path_buf(),
            identity: identity.clone(),
            recipient: identity.to_public(),
        })
    }

    /// Where object `id` lives.
    pub fn path_of(&self, id: &Digest) -> PathBuf {
        let hex = id.hex();
        self.dir
            .join("objects")
            .join(&hex[..2])
            .join(format!("{hex}.age"))
    }

    /// The vault's private staging folder, also for private temporary files
    /// (removed by [`Vault::recover`] if a command dies).
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Removes object `id`'s file (the request log's pruning, after the transaction that
    /// dropped its rows committed). Absent already is not an error.
    pub fn remove(&self, id: &Digest) -> Result<()> {
        let path = self.path_of(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// True when object `id` is present.
    pub fn contains(&self, id: &Digest) -> bool {
        self.path_of(id).is_file()
    }

    /// Streams `input` into an encrypted temporary file, hashing the
    /// plaintext. Refuses more than `max_size` bytes. `on_bytes` is told how
    /// many bytes went through, for progress bars.
    pub fn stage(
        &self,
        mut input: impl Read,
        max_size: u64,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<Staged> {
        let tmp_dir = self.dir.join("tmp");
        let tmp = tempfile::Builder::new()
            .prefix("stage-")
            .tempfile_in(&tmp_dir)
            .at(&tmp_dir)?;
        let tmp_path = tmp.path().to_path_buf();
        let encryptor = age::Encryptor::with_recipients(iter::once(&self.recipient as _))
            .map_err(|e| Error::io(&tmp_path, io::Error::other(e.to_string())))?;
        // The write system calls run on their own thread, beside hashing
        // and encryption on this one.
        let file = tmp.as_file().try_clone().at(&tmp_path)?;
        let mut writer = encryptor
            .wrap_output(BackgroundFile::new(file, &tmp_path).at(&tmp_path)?)
            .at(&tmp_path)?;
        let mut hasher = Hasher::default();
        let mut buf = vec![0u8; COPY_BUF];
        let mut total = 0u64;
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(&tmp_path, e)),
            };
            total += n as u64;
            if total > max_size {
                return Err(Error::Rejected(format!(
                    "object larger than the {max_size}-byte limit for its kind"
                )));
            }
            hasher.update(&buf[..n]);
            writer.write_all(&buf[..n]).at(&tmp_path)?;
            on_bytes(n as u64);
        }
        // Writes what is left and fsyncs.
        writer.finish().at(&tmp_path)?.finish().at(&tmp_path)?;
        let (digest, size) = hasher.finish();
        Ok(Staged {
            tmp: tmp.into_temp_path(),
            digest,
            size,
        })
    }

    /// Moves a staged object into place. If the object is already present
    /// the staged copy is discarded: content addressing makes them equal.
    pub fn commit(&self, staged: Staged) -> Result<Digest> {
        let id = staged.digest;
        self.commit_all(vec![staged])?;
        Ok(id)
    }

    /// Moves staged objects into place. Their digests are first appended to
    /// the journal (`vault/tmp/journal`, fsynced): callers do this inside a
    /// store transaction that indexes the same objects, so if the process
    /// dies before that transaction commits, [`Vault::recover`] finds the
    /// objects that no row references and removes them.
    pub fn commit_all(&self, staged: Vec<Staged>) -> Result<()> {
        if staged.is_empty() {
            return Ok(());
        }
        let journal = self.dir.join("tmp").join(JOURNAL);
        let mut lines = String::new();
        for s in &staged {
            lines.push_str(&s.digest.hex());
            lines.push('\n');
        }
        let fresh = !journal.exists();
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal)
            .at(&journal)?;
        f.write_all(lines.as_bytes()).at(&journal)?;
        f.sync_all().at(&journal)?;
        if fresh {
            // The journal's name must survive a power cut too.
            fsx::sync_dir(&self.dir.join("tmp"))?;
        }
        let mut shards = std::collections::BTreeSet::new();
        for s in staged {
            let target = self.path_of(&s.digest);
            if target.is_file() {
                continue;
            }
            let shard = target.parent().unwrap_or(&self.dir).to_path_buf();
            if fsx::check_home_entry(&shard, fsx::Entry::Dir)?.is_none() {
                fsx::create_private_dir(&shard)?;
                fsx::sync_dir(&self.dir.join("objects"))?;
            }
            match s.tmp.persist_noclobber(&target) {
                Ok(_) => {}
                Err(e) if target.is_file() => drop(e),
                Err(e) => return Err(Error::io(&target, e.error)),
            }
            shards.insert(shard);
        }
        for shard in shards {
            fsx::sync_dir(&shard)?;
        }
        Ok(())
    }

    /// Cleans up after a process that died mid-write: objects listed in the
    /// journal that `referenced` says no committed row holds are removed,
    /// and the staging area is emptied. Only safe while no other process
    /// writes to this vault (the home lock).
    ///
    /// It deletes nothing outside `vault/tmp/` and the journal's objects, and
    /// follows no link: `tmp/` and each shard must be real folders of this
    /// user's, the journal a plain file, and each entry of `tmp/` a plain
    /// file or a real folder (removed without following links inside it);
    /// anything else is refused, not removed.
    pub fn recover(&self, referenced: &dyn Fn(&Digest) -> Result<bool>) -> Result<Recovered> {
        let tmp = self.dir.join("tmp");
        fsx::require_home_path(&tmp, fsx::Entry::Dir)?;
        let journal = tmp.join(JOURNAL);
        let mut report = Recovered::default();
        fsx::check_home_entry(&journal, fsx::Entry::File)?;
        match fs::read_to_string(&journal) {
            Ok(text) => {
                let mut seen = std::collections::BTreeSet::new();
                let mut shards = std::collections::BTreeSet::new();
                for line in text.lines() {
                    // A torn last line (crash mid-append) names no object
                    // that was moved: the move comes after the fsync.
                    let Ok(id) = line.parse::<Digest>() else {
                        continue;
                    };
                    if !seen.insert(id) || referenced(&id)? {
                        continue;
                    }
                    let path = self.path_of(&id);
                    if let Some(shard) = path.parent() {
                        fsx::check_home_entry(shard, fsx::Entry::Dir)?;
                    }
                    match fs::remove_file(&path) {
                        Ok(()) => {
                            report.orphans_removed.push(id);
                            if let Some(shard) = path.parent() {
                                shards.insert(shard.to_path_buf());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io(&path, e)),
                    }
                }
                // The removals are durable before the journal goes.
                for shard in shards {
                    fsx::sync_dir(&shard)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&journal, e)),
        }
        for entry in fs::read_dir(&tmp).at(&tmp)? {
            let entry = entry.at(&tmp)?;
            let path = entry.path();
            // A training job folder whose worker still runs (it holds the folder's lock) is
            // left alone; the worker dies with its parent, so this is a moment at most.
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(airlock_worker::JOB_PREFIX))
                && airlock_worker::job_in_use(&path)
            {
                continue;
            }
            let is_journal = path == journal;
            // The entry's own type, not its target's: a link, pipe, socket
            // or device, or anything of another user's, was not made here
            // and is refused, not removed.
            let is_dir = entry.file_type().at(&path)?.is_dir();
            let expect = if is_dir {
                fsx::Entry::Dir
            } else {
                fsx::Entry::File
            };
            fsx::check_home_entry(&path, expect)?;
            let removed = if is_dir {
                // Removes the folder's entries without following links
                // (std opens each level with O_NOFOLLOW and unlinks with
                // unlinkat).
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.at(&path)?;
            if !is_journal {
                report.temp_removed += 1;
            }
        }
        fsx::sync_dir(&tmp)?;
        Ok(report)
    }

    /// Stores `bytes`, returning its address and size.
    pub fn put(&self, bytes: &[u8]) -> Result<(Digest, u64)> {
        let staged = self.stage(bytes, u64::MAX, &mut |_| {})?;
        let size = staged.size;
        Ok((self.commit(staged)?, size))
    }

    /// Opens object `id` for streaming. The reader re-hashes the plaintext
    /// and fails at end of stream if it does not match `id`.
    pub fn open_object(&self, id: &Digest) -> Result<VerifyingReader> {
        let path = self.path_of(id);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::Missing(Missing::VaultObject { id: *id, path }));
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let corrupt = |why: String| {
            Error::Integrity(format!(
                "vault object {id} is corrupt ({}): {why}",
                path.display()
            ))
        };
        let decryptor = age::Decryptor::new_buffered(BufReader::with_capacity(COPY_BUF, file))
            .map_err(|e| corrupt(e.to_string()))?;
        let reader = decryptor
            .decrypt(iter::once(&self.identity as _))
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(VerifyingReader {
            inner: Box::new(reader),
            hasher: Some(Hasher::default()),
            expected: *id,
        })
    }

    /// Reads a whole object into memory, refusing objects over `max_size`.
    pub fn read(&self, id: &Digest, max_size: u64) -> Result<Vec<u8>> {
        let mut reader = self.open_object(id)?;
        let mut out = Vec::new();
        (&mut reader)
            .take(max_size + 1)
            .read_to_end(&mut out)
            .map_err(|e| map_read_error(id, e))?;
        if out.len() as u64 > max_size {
            return Err(Error::Rejected(format!(
                "vault object {id} is larger than the {max_size}-byte limit for its use"
            )));
        }
        // Read to the end so the digest is checked even when exactly at the limit.
        let mut rest = [0u8; 1];
        let n = reader.read(&mut rest).map_err(|e| map_read_error(id, e))?;
        if n != 0 {
            return Err(Error::Rejected(format!(
                "vault object {id} is larger than the {max_size}-byte limit for its use"
            )));
        }
        Ok(out)
    }

    /// Every object file present, for verification.
    pub fn list(&self) -> Result<Vec<Digest>> {
        Ok(self.scan()?.0)
    }

    /// Every object file present, and every other entry under `objects/`
    /// (a file with another name, an object in the wrong shard, a stray
    /// file or link): for `vault verify`.
    pub fn scan(&self) -> Result<(Vec<Digest>, Vec<PathBuf>)> {
        let mut found = Vec::new();
        let mut unexpected = Vec::new();
        let objects = self.dir.join("objects");
        for shard in fs::read_dir(&objects).at(&objects)? {
            let shard = shard.at(&objects)?;
            let shard_path = shard.path();
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            if !shard.file_type().at(&shard_path)?.is_dir() {
                unexpected.push(shard_path);
                continue;
            }
            for entry in fs::read_dir(&shard_path).at(&shard_path)? {
                let entry = entry.at(&shard_path)?;
                let p = entry.path();
                let digest = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".age"))
                    .and_then(|n| n.parse::<Digest>().ok())
                    .filter(|d| d.hex()[..2] == shard_name)
                    .filter(|_| entry.file_type().is_ok_and(|t| t.is_file()));
                match digest {
                    Some(d) => found.push(d),
                    None => unexpected.push(p),
                }
            }
        }
        found.sort();
        unexpected.sort();
        Ok((found, unexpected))
    }
}

fn map_read_error(id: &Digest, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::InvalidData {
        Error::Integrity(format!("vault object {id}: {e}"))
    } else {
        Error::Io {
            path: PathBuf::from(format!("vault object {id}")),
            source: e,
        }
    }
}

/// A decrypting reader that checks the object's digest at end of stream.
pub struct VerifyingReader {
    inner: Box<dyn Read + Send>,
    hasher: Option<Hasher>,
    expected: Digest,
}

impl Read for VerifyingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        if n == 0
            && !buf.is_empty()
            && let Some(h) = self.hasher.take()
        {
            let (got, _) = h.finish();
            if got != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("content hashes to {got}, not its address (tampered or corrupt)"),
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> (tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().expect("tempdir");
        Vault::create(dir.path()).expect("create");
        let id = age::x25519::Identity::generate();
        let v = Vault::open(dir.path(), &id).expect("open");
        (dir, v)
    }

    #[test]
    fn put_is_content_addressed_and_idempotent() {
        let (_d, v) = vault();
        let (a, size) = v.put(b"hello vault").expect("put");
        assert_eq!(a, Digest::of(b"hello vault"));
        assert_eq!(size, 11);
        let (b, _) = v.put(b"hello vault").expect("put again");
        assert_eq!(a, b);
        assert_eq!(v.read(&a, 1024).expect("read"), b"hello vault");
        assert_eq!(v.list().expect("list"), vec![a]);
        let raw = fs::read(v.path_of(&a)).expect("raw");
        assert!(!raw.windows(5).any(|w| w == b"hello"), "plaintext on disk");
    }

    #[test]
    fn recover_removes_unreferenced_journaled_objects_and_temp_files() {
        let (_d, v) = vault();
        let (kept, _) = v.put(b"kept").expect("put");
        let (orphan, _) = v.put(b"orphan").expect("put");
        let stray = v
            .stage(&b"half written"[..], 100, &mut |_| {})
            .expect("stage");
        std::mem::forget(stray);
        let r = v.recover(&|id: &Digest| Ok(*id == kept)).expect("recover");
        assert_eq!(r.orphans_removed, vec![orphan]);
        assert_eq!(r.temp_removed, 1);
        assert!(v.contains(&kept) && !v.contains(&orphan));
        assert_eq!(fs::read_dir(v.dir.join("tmp")).expect("tmp").count(), 0);
        assert!(!v.recover(&|_: &Digest| Ok(true)).expect("again").any());
    }

    #[test]
    fn recovery_follows_no_link_and_deletes_nothing_outside_tmp() {
        let (d, v) = vault();
        let outside = tempfile::tempdir().expect("outside");
        let precious = outside.path().join("precious");
        fs::write(&precious, b"keep me").expect("write");
        // A link inside tmp/ is refused, and its target left alone.
        let link = v.tmp_dir().join("link");
        std::os::unix::fs::symlink(outside.path(), &link).expect("symlink");
        let err = v
            .recover(&|_: &Digest| Ok(true))
            .expect_err("a link in tmp");
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        assert!(precious.exists() && link.exists());
        fs::remove_file(&link).expect("unlink");
        // tmp/ itself a link: refused, naming it, and nothing deleted.
        fs::remove_dir(v.tmp_dir()).expect("rmdir");
        std::os::unix::fs::symlink(outside.path(), v.tmp_dir()).expect("symlink");
        let err = v
            .recover(&|_: &Digest| Ok(true))
            .expect_err("tmp is a link");
        assert!(
            err.to_string().contains(&v.tmp_dir().display().to_string()),
            "{err}"
        );
        assert!(precious.exists());
        let id = age::x25519::Identity::generate();
        let Err(err) = Vault::open(d.path(), &id) else {
            panic!("open must refuse a linked tmp/");
        };
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        assert_eq!(fs::read(&precious).expect("read"), b"keep me");
    }

    #[test]
    fn vault_object_swapped_for_another_is_detected() {
        let (_d, v) = vault();
        let (a, _) = v.put(b"first").expect("put");
        let (b, _) = v.put(b"second").expect("put");
        fs::copy(v.path_of(&b), v.path_of(&a)).expect("swap");
        let err = v.read(&a, 1024).expect_err("must detect");
        assert!(err.to_string().contains(&a.hex()), "{err}");
        assert!(err.to_string().contains("not its address"), "{err}");
    }

    #[test]
    fn vault_object_with_flipped_byte_is_corrupt() {
        let (_d, v) = vault();
        let (a, _) = v.put(&[1u8; 5000]).expect("put");
        let p = v.path_of(&a);
        let mut raw = fs::read(&p).expect("raw");
        let last = raw.len() - 20;
        raw[last] ^= 1;
        fs::write(&p, raw).expect("write");
        let err = v.read(&a, 1 << 20).expect_err("must detect");
        assert!(matches!(err, Error::Integrity(_)), "{err}");
    }
}
