//! Crash-safe file writes and private files.
//!
//! Every file the appliance writes goes through [`write_atomic`] or
//! [`write_new`]: the bytes go to a temporary file in the same folder, are
//! flushed to disk with `fsync`, and only then renamed over the target, and
//! the folder itself is synced. A crash at any point leaves either the old
//! file or the new one, never a mix.

use std::fs::{self, DirBuilder, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, IoContext, Result};

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Syncs a folder so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).at(dir)
}

fn temp_with(path: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".airlock-tmp-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .at(dir)?;
    tmp.write_all(bytes).at(tmp.path().to_path_buf())?;
    tmp.as_file().sync_all().at(tmp.path().to_path_buf())?;
    Ok(tmp)
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename, fsync of
/// the folder), mode 0600. An existing file is replaced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_with(path, bytes)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(parent(path))
}

/// Like [`write_atomic`], but refuses to replace an existing file.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_with(path, bytes)?;
    tmp.persist_noclobber(path)
        .map_err(|e| Error::io(path, e.error))?;
    sync_dir(parent(path))
}

/// Reads at most `max` + 1 bytes of `path`, so the caller can refuse a file
/// larger than `max` without reading all of it.
pub fn read_capped(path: &Path, max: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    fs::File::open(path)
        .at(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .at(path)?;
    Ok(bytes)
}

/// Creates a folder (and its parents) private to the owner (0700).
pub fn create_private_dir(path: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .at(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700)).at(path)
}

/// Refuses a secret file or folder that others can read or write: keys must
/// be 0600 and their folder 0700.
pub fn check_private(path: &Path) -> Result<()> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Key {
                path: path.to_path_buf(),
                reason: "missing: this home's keys are gone or the path is wrong; restore the key file from the site's sealed backup".into(),
            });
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        let want = if meta.is_dir() { "0700" } else { "0600" };
        return Err(Error::Key {
            path: path.to_path_buf(),
            reason: format!(
                "mode {mode:04o} lets other users read or change it; it must be {want} (chmod {want} {})",
                path.display()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_write_new_refuses_existing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        write_atomic(&p, b"one").expect("first write");
        write_atomic(&p, b"two").expect("replace");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        assert!(write_new(&p, b"three").is_err());
        assert_eq!(fs::read(&p).expect("read"), b"two");
        let mode = fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn check_private_refuses_group_readable_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k");
        fs::write(&p, b"k").expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = check_private(&p).expect_err("0644 must be refused");
        assert!(err.to_string().contains("mode 0644"), "{err}");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).expect("chmod");
        check_private(&p).expect("0600 is fine");
    }
}
