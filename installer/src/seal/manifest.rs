//! The seal's documents: the manifest of installed files, the signed file that carries it,
//! and the comparison of a manifest with what is found. No file system here: the scan is
//! `scan.rs`, the signing and the audit record `mod.rs`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::version::Version;

/// The manifest format this code writes and reads.
pub const FORMAT: &str = "airlock-seal/1";

/// The largest seal file read (a node has a few dozen installed files).
pub const MAX_SEAL: usize = 16 << 20;

/// What a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Type {
    /// A plain file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link.
    Symlink,
    /// Anything else: a device, a named pipe, a socket.
    Other,
}

/// One installed path, as sealed or as found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The path relative to the root, `/`-separated.
    pub path: String,
    /// What it is.
    #[serde(rename = "type")]
    pub kind: Type,
    /// Permission bits, set-id and sticky bits included (`0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// A file's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// A file's SHA-256 (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A link's target, as stored in the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The manifest: what was installed, when it was sealed, by which site key, and the version
/// floor updates must stay above.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The site whose key signed it.
    pub site: String,
    /// That key's id.
    pub key_id: String,
    /// When it was sealed (the home's clock).
    pub sealed_at: String,
    /// The release `current` pointed at.
    pub current: Version,
    /// The highest version ever installed here: `update` refuses any version not above it.
    pub floor: Version,
    /// The sealed scopes (see [`crate::seal::SCOPES`]).
    pub scopes: Vec<String>,
    /// Every path under the scopes, sorted by path.
    pub entries: Vec<Entry>,
}

impl Manifest {
    /// Checks what the signature cannot: the format, sorted and unique paths, paths and
    /// scopes that stay under the root.
    pub fn check(&self) -> Result<()> {
        if self.format != FORMAT {
            return Err(Error::Integrity(format!(
                "seal format {} is not {FORMAT}",
                airlock::text::Untrusted(&self.format)
            )));
        }
        for p in self
            .scopes
            .iter()
            .chain(self.entries.iter().map(|e| &e.path))
        {
            if p.is_empty()
                || p.starts_with('/')
                || p.split('/').any(|c| c.is_empty() || c == "." || c == "..")
            {
                return Err(Error::Integrity(format!(
                    "seal names the path {}, which is not a plain path under the root",
                    airlock::text::Untrusted(p)
                )));
            }
        }
        if self.entries.windows(2).any(|w| w[0].path >= w[1].path) {
            return Err(Error::Integrity(
                "seal entries are not sorted and unique".into(),
            ));
        }
        Ok(())
    }
}

/// The seal file: the manifest's exact bytes and the site key's signature over them.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealFile {
    /// The id of the key that signed.
    pub key_id: String,
    /// The signature (hex) in the `InstallSeal` domain over the manifest's bytes.
    pub signature: String,
    /// The manifest, kept byte for byte as signed.
    pub manifest: Box<RawValue>,
}

/// Which attribute of a path changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Attribute {
    /// A file, folder or link became another type.
    Type,
    /// A file's bytes or size, or a link's target.
    Content,
    /// Permission bits.
    Mode,
    /// Owner or group.
    Owner,
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Attribute::Type => "type",
            Attribute::Content => "content",
            Attribute::Mode => "mode",
            Attribute::Owner => "owner",
        })
    }
}

/// How a path differs from its seal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum Difference {
    /// Sealed and changed.
    Modified {
        /// The path.
        path: String,
        /// What changed.
        attributes: Vec<Attribute>,
        /// As sealed.
        sealed: Entry,
        /// As found.
        found: Entry,
    },
    /// Found under a sealed scope, not sealed.
    Added {
        /// The path.
        path: String,
        /// As found.
        found: Entry,
    },
    /// Sealed, no longer there.
    Removed {
        /// The path.
        path: String,
        /// As sealed.
        sealed: Entry,
    },
}

impl Difference {
    /// The path concerned.
    pub fn path(&self) -> &str {
        match self {
            Difference::Modified { path, .. }
            | Difference::Added { path, .. }
            | Difference::Removed { path, .. } => path,
        }
    }
}

/// What changed between `sealed` and `found` for one path.
fn changed(sealed: &Entry, found: &Entry) -> Vec<Attribute> {
    let mut out = Vec::new();
    if sealed.kind != found.kind {
        out.push(Attribute::Type);
    } else if sealed.size != found.size
        || sealed.sha256 != found.sha256
        || sealed.target != found.target
    {
        out.push(Attribute::Content);
    }
    if sealed.mode != found.mode {
        out.push(Attribute::Mode);
    }
    if (sealed.uid, sealed.gid) != (found.uid, found.gid) {
        out.push(Attribute::Owner);
    }
    out
}

/// Every difference between the sealed entries and the found ones, by path.
pub fn compare(sealed: &[Entry], found: &[Entry]) -> Vec<Difference> {
    let sealed: BTreeMap<&str, &Entry> = sealed.iter().map(|e| (e.path.as_str(), e)).collect();
    let found: BTreeMap<&str, &Entry> = found.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut out = Vec::new();
    let paths: std::collections::BTreeSet<&str> =
        sealed.keys().chain(found.keys()).copied().collect();
    for path in paths {
        match (sealed.get(path), found.get(path)) {
            (Some(s), Some(f)) => {
                let attributes = changed(s, f);
                if !attributes.is_empty() {
                    out.push(Difference::Modified {
                        path: path.to_string(),
                        attributes,
                        sealed: (*s).clone(),
                        found: (*f).clone(),
                    });
                }
            }
            (None, Some(f)) => out.push(Difference::Added {
                path: path.to_string(),
                found: (*f).clone(),
            }),
            (Some(s), None) => out.push(Difference::Removed {
                path: path.to_string(),
                sealed: (*s).clone(),
            }),
            (None, None) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, sha: &str, mode: u32) -> Entry {
        Entry {
            path: path.into(),
            kind: Type::File,
            mode,
            uid: 0,
            gid: 0,
            size: Some(3),
            sha256: Some(sha.into()),
            target: None,
        }
    }

    #[test]
    fn each_kind_of_change_is_named_with_its_attributes() {
        let sealed = vec![
            file("a", "11", 0o755),
            file("b", "22", 0o644),
            file("c", "33", 0o644),
            file("d", "44", 0o644),
        ];
        let mut owned = file("c", "33", 0o644);
        owned.uid = 1000;
        let mut retyped = file("d", "44", 0o644);
        retyped.kind = Type::Symlink;
        retyped.sha256 = None;
        retyped.size = None;
        retyped.target = Some("/tmp/x".into());
        let found = vec![
            file("a", "99", 0o755),
            file("b", "22", 0o666),
            owned,
            retyped,
            file("e", "55", 0o755),
        ];
        let d = compare(&sealed, &found);
        let summary: Vec<(String, String)> = d
            .iter()
            .map(|d| match d {
                Difference::Modified {
                    path, attributes, ..
                } => (
                    path.clone(),
                    attributes
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                Difference::Added { path, .. } => (path.clone(), "added".into()),
                Difference::Removed { path, .. } => (path.clone(), "removed".into()),
            })
            .collect();
        let want = [
            ("a", "content"),
            ("b", "mode"),
            ("c", "owner"),
            ("d", "type"),
            ("e", "added"),
        ];
        assert_eq!(summary, want.map(|(p, c)| (p.to_string(), c.to_string())));
        assert_eq!(compare(&sealed, &sealed), []);
        let removed = compare(&sealed, &sealed[1..]);
        assert!(matches!(&removed[..], [Difference::Removed { path, .. }] if path == "a"));
    }

    #[test]
    fn manifest_naming_a_path_outside_the_root_is_refused() {
        for bad in ["../etc/shadow", "/etc/shadow", "opt//x", "opt/./x", ""] {
            let m = Manifest {
                format: FORMAT.into(),
                site: "lab".into(),
                key_id: "0123456789abcdef".into(),
                sealed_at: "2025-01-01T00:00:00Z".into(),
                current: "1.0.0".parse().expect("v"),
                floor: "1.0.0".parse().expect("v"),
                scopes: vec!["opt/airlock".into()],
                entries: vec![file(bad, "11", 0o644)],
            };
            assert!(matches!(m.check(), Err(Error::Integrity(_))), "{bad:?}");
        }
    }
}
