//! Reads what is installed under the sealed scopes: every path, without following a link,
//! with its type, mode, owner, and a file's size and SHA-256 (streamed) or a link's target.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{At, Error, Result};
use crate::fsops;
use crate::seal::manifest::{Entry, Type};

fn entry(root: &Path, rel: &str) -> Result<Entry> {
    let path = root.join(rel);
    let meta = fs::symlink_metadata(&path).at(&path)?;
    let t = meta.file_type();
    let kind = if t.is_file() {
        Type::File
    } else if t.is_dir() {
        Type::Dir
    } else if t.is_symlink() {
        Type::Symlink
    } else {
        Type::Other
    };
    let (mut size, mut sha256, mut target) = (None, None, None);
    match kind {
        Type::File => {
            let (digest, len) = fsops::hash_file(&path)?;
            size = Some(len);
            sha256 = Some(digest.hex());
        }
        Type::Symlink => {
            target = Some(
                fs::read_link(&path)
                    .at(&path)?
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        Type::Dir | Type::Other => {}
    }
    Ok(Entry {
        path: rel.to_string(),
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        size,
        sha256,
        target,
    })
}

/// Adds `rel` and, for a real folder, everything under it.
fn walk(root: &Path, rel: &str, out: &mut Scan) -> Result<()> {
    let e = entry(root, rel)?;
    let is_dir = e.kind == Type::Dir;
    out.entries.push(e);
    if is_dir {
        let dir = root.join(rel);
        for child in fs::read_dir(&dir).at(&dir)? {
            let child = child.at(&dir)?;
            let name = child.file_name();
            let text = name.to_string_lossy();
            if text.as_ref().as_bytes() != name.as_encoded_bytes() {
                out.unreadable_names.push(format!("{rel}/{text}"));
            }
            walk(root, &format!("{rel}/{text}"), out)?;
        }
    }
    Ok(())
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every path, sorted.
    pub entries: Vec<Entry>,
    /// Paths whose names are not UTF-8 (shown with U+FFFD): never sealed, always reported.
    pub unreadable_names: Vec<String>,
}

/// Scans `scopes` under `root`. A scope is a path (the path and everything under it) or a
/// folder and a name prefix ending in `*` (`etc/systemd/system/airlock*`: each entry of the
/// folder whose name starts with `airlock`, and everything under it). A scope that does not
/// exist adds nothing.
pub fn scan(root: &Path, scopes: &[String]) -> Result<Scan> {
    let mut out = Scan::default();
    for scope in scopes {
        if let Some(prefix_path) = scope.strip_suffix('*') {
            let (dir, prefix) = match prefix_path.rsplit_once('/') {
                Some((d, p)) => (d, p),
                None => return Err(Error::Integrity(format!("scope {scope} names no folder"))),
            };
            let full = root.join(dir);
            let entries = match fs::read_dir(&full) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&full, e)),
            };
            for child in entries {
                let child = child.at(&full)?;
                let name = child.file_name();
                let text = name.to_string_lossy();
                if text.starts_with(prefix) {
                    if text.as_ref().as_bytes() != name.as_encoded_bytes() {
                        out.unreadable_names.push(format!("{dir}/{text}"));
                    }
                    walk(root, &format!("{dir}/{text}"), &mut out)?;
                }
            }
        } else if fs::symlink_metadata(root.join(scope)).is_ok() {
            walk(root, scope, &mut out)?;
        }
    }
    out.entries.sort_by(|a, b| a.path.cmp(&b.path));
    out.entries.dedup_by(|a, b| a.path == b.path);
    Ok(out)
}
