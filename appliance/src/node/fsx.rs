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

/// Like [`write_new`], for a file written as it is produced: `write` gets
/// a buffered writer on the temporary file, which becomes `path` (never
/// replacing one) only once `write` has succeeded and the bytes are synced.
pub fn write_new_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let tmp = temp_with(path, &[])?;
    let at = tmp.path().to_path_buf();
    let mut w = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file());
    write(&mut w)?;
    w.flush().at(at.clone())?;
    drop(w);
    tmp.as_file().sync_all().at(at)?;
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

/// What a path inside a home must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A real folder.
    Dir,
    /// A plain file.
    File,
}

impl Entry {
    fn noun(self) -> &'static str {
        match self {
            Entry::Dir => "folder",
            Entry::File => "file",
        }
    }

    fn mode(self) -> &'static str {
        match self {
            Entry::Dir => "0700",
            Entry::File => "0600",
        }
    }
}

/// What a file type is called in a message.
fn type_name(t: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a folder"
    } else if t.is_file() {
        "a plain file"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a device"
    }
}

/// The user this process acts as: the owner every path inside its home must
/// have.
pub fn current_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Checks one path inside a home without following it: it must be what
/// `expect` says (a symbolic link is refused, since a command would follow
/// it out of the home: a linked `vault/tmp` once made every command empty
/// the link's target), and owned by the user running this command. Returns
/// its metadata, or `None` when it does not exist. Refused with exit 5,
/// naming the path and what to do.
pub fn check_home_entry(path: &Path, expect: Entry) -> Result<Option<fs::Metadata>> {
    use std::os::unix::fs::MetadataExt;
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let t = meta.file_type();
    if t.is_symlink() {
        let target = fs::read_link(path)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        return Err(Error::Refused(format!(
            "{} is a symbolic link{target}: nothing inside an Airlock home may be a link, since commands would follow it out of the home; remove the link and put back a real {} (mode {}) owned by this user",
            path.display(),
            expect.noun(),
            expect.mode(),
        )));
    }
    let right = match expect {
        Entry::Dir => t.is_dir(),
        Entry::File => t.is_file(),
    };
    if !right {
        return Err(Error::Refused(format!(
            "{} is {}, not a {}: this is not the layout of an Airlock home; move it away and restore the {} from a backup",
            path.display(),
            type_name(t),
            expect.noun(),
            expect.noun(),
        )));
    }
    let uid = current_uid();
    if meta.uid() != uid {
        return Err(Error::Refused(format!(
            "{} belongs to uid {}, not to uid {uid} that runs this command: another user controls part of this home; check it, then `chown {uid} {}` (or run airlock as its owner)",
            path.display(),
            meta.uid(),
            path.display(),
        )));
    }
    Ok(Some(meta))
}

/// Refuses a path inside a home that group or others can write (a home
/// once left 0777 with its store 0666 let another local user swap a trusted
/// peer's key), saying the mode and the `chmod` to run.
pub fn check_not_shared(path: &Path, meta: &fs::Metadata, expect: Entry) -> Result<()> {
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Error::Refused(format!(
            "{} has mode {mode:04o}: group or others can write it, so another local user could change this node's trust list, records or keys; run `chmod {} {}`",
            path.display(),
            expect.mode(),
            path.display(),
        )));
    }
    Ok(())
}

/// [`check_home_entry`] and [`check_not_shared`]: a real folder or plain
/// file, this user's, that no one else can write. `Ok(false)` when absent.
pub fn check_home_path(path: &Path, expect: Entry) -> Result<bool> {
    match check_home_entry(path, expect)? {
        Some(meta) => {
            check_not_shared(path, &meta, expect)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// [`check_home_path`] for a path that must exist.
pub fn require_home_path(path: &Path, expect: Entry) -> Result<()> {
    if check_home_path(path, expect)? {
        Ok(())
    } else {
        Err(Error::NotFound(format!(
            "{} is missing: this is not a whole Airlock home; restore it from a backup",
            path.display()
        )))
    }
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

    #[test]
    fn home_paths_refuse_links_wrong_types_and_shared_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real");
        fs::create_dir(&real).expect("mkdir");
        fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).expect("chmod");
        assert!(check_home_path(&real, Entry::Dir).expect("a private folder"));
        assert!(!check_home_path(&dir.path().join("absent"), Entry::Dir).expect("absent"));
        let err = require_home_path(&dir.path().join("absent"), Entry::Dir).expect_err("absent");
        assert!(err.to_string().contains("missing"), "{err}");

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let err = check_home_path(&link, Entry::Dir).expect_err("a link");
        assert!(matches!(err, Error::Refused(_)), "{err}");
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        assert!(
            err.to_string().contains(&real.display().to_string()),
            "{err}"
        );

        let err = check_home_path(&real, Entry::File).expect_err("a folder");
        assert!(err.to_string().contains("is a folder, not a file"), "{err}");

        fs::set_permissions(&real, fs::Permissions::from_mode(0o770)).expect("chmod");
        let err = check_home_path(&real, Entry::Dir).expect_err("group-writable");
        assert!(err.to_string().contains("mode 0770"), "{err}");
        assert!(err.to_string().contains("chmod 0700"), "{err}");
        fs::set_permissions(&real, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(check_home_path(&real, Entry::Dir).expect("readable by others is not writable"));
    }
}
