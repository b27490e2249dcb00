//! File operations that leave the root whole at any crash: new files are written under a
//! temporary name, synced, given their mode and renamed into place; a link is switched by
//! making the new link under a temporary name and renaming it over the old one (rename(2)
//! replaces atomically), then syncing the folder.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use airlock::digest::{Digest, Hasher};

use crate::error::{At, Error, Result};
use crate::version::Version;

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Syncs a folder, so a rename or a new entry in it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).at(dir)
}

/// Creates `path` and its missing parents, each new folder with `mode` (the process umask
/// is 077, so modes are always set explicitly).
pub fn create_dirs(path: &Path, mode: u32) -> Result<()> {
    let mut missing = Vec::new();
    let mut p = path;
    while fs::symlink_metadata(p).is_err() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(up) if !up.as_os_str().is_empty() => p = up,
            _ => break,
        }
    }
    for dir in missing.iter().rev() {
        fs::create_dir(dir).at(dir)?;
        set_mode(dir, mode)?;
    }
    if let Some(top) = missing.last() {
        sync_dir(parent(top))?;
    }
    Ok(())
}

/// Sets the permission bits of `path`.
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).at(path)
}

/// Writes `bytes` to `path` with `mode`, atomically, replacing any file there.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".airlock-install-")
        .tempfile_in(dir)
        .at(dir)?;
    tmp.write_all(bytes).at(tmp.path().to_path_buf())?;
    set_mode(tmp.path(), mode)?;
    tmp.as_file().sync_all().at(tmp.path().to_path_buf())?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(dir)
}

/// Copies `from` to the new file `to` (never replacing one) with `mode`, streaming, and
/// returns the digest and size of what was written.
pub fn copy_new(from: &Path, to: &Path, mode: u32) -> Result<(Digest, u64)> {
    let mut src = File::open(from).at(from)?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .at(to)?;
    let hashed = copy_hashing(&mut src, &mut dst, u64::MAX).at(to)?;
    set_mode(to, mode)?;
    dst.sync_all().at(to)?;
    Ok(hashed)
}

/// Copies at most `limit` bytes of `from` into `to`, hashing them.
pub fn copy_hashing(
    from: &mut impl Read,
    to: &mut impl Write,
    limit: u64,
) -> std::io::Result<(Digest, u64)> {
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 256 << 10];
    let mut left = limit;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = from.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        left -= n as u64;
    }
    to.flush()?;
    Ok(hasher.finish())
}

/// The digest and size of a file's content, streamed.
pub fn hash_file(path: &Path) -> Result<(Digest, u64)> {
    let mut f = File::open(path).at(path)?;
    copy_hashing(&mut f, &mut std::io::sink(), u64::MAX).at(path)
}

/// Points the link `link` at `target` (a relative path): the new link is made as
/// `.NAME.new` beside it and renamed over `link`, so at every instant `link` is either the
/// old link or the new one.
pub fn switch_link(link: &Path, target: &Path) -> Result<()> {
    let dir = parent(link);
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.new"));
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&tmp, e)),
    }
    std::os::unix::fs::symlink(target, &tmp).at(&tmp)?;
    fs::rename(&tmp, link).at(link)?;
    sync_dir(dir)
}

/// The relative target a release link holds: `releases/VERSION`.
pub fn release_target(version: &Version) -> PathBuf {
    Path::new("releases").join(version.to_string())
}

/// The version a release link (`current`, `previous`) points at, or `None` when there is
/// no link. A link that points anywhere but `releases/VERSION` is refused.
pub fn link_version(link: &Path) -> Result<Option<Version>> {
    let target = match fs::read_link(link) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(link, e)),
    };
    let text = target.to_string_lossy();
    let version = text
        .strip_prefix("releases/")
        .and_then(|v| v.parse::<Version>().ok())
        .ok_or_else(|| {
            Error::Integrity(format!(
                "{} points at {}, not at a release folder (releases/VERSION)",
                link.display(),
                airlock::text::Untrusted(&text)
            ))
        })?;
    Ok(Some(version))
}

/// Removes a folder and everything in it, if it exists; links inside are removed, never
/// followed.
pub fn remove_tree(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).at(path),
        Ok(_) => fs::remove_file(path).at(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}
