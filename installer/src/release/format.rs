//! The release archive's wire format: no file system, no clock, no key store, so it can be
//! tested (and fuzzed) alone.
//!
//! ```text
//! offset 0   leader     16 bytes: "AIRLOCKR", format version u16 big-endian = 1, 6 zero bytes
//! 16         length     u32 big-endian: the manifest's length, 1 ..= 1 MiB
//! 20         manifest   JSON, exactly that many bytes (unknown fields refused)
//! 20 + len   signature  64 bytes: ed25519 by the release key, in the `Release` domain,
//!                       over the manifest's exact bytes
//! 84 + len   files      each file's bytes, in manifest order, back to back, nothing after
//! ```
//!
//! The files are the node's binaries (mode 0755) and the release's SBOM
//! ([`sbom::FILE`], mode 0644), which `release` writes first.
//!
//! The same rules as the bundle format (`docs/bundle-format.md`): the signed manifest is
//! read and verified before a byte of a file is, every file has an exact size and a SHA-256,
//! the archive's length must be exactly the sum, nothing is compressed, and the signature
//! covers the bytes as carried (never a re-serialisation).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layout::{BINARIES, REQUIRED_BINARY};
use crate::sbom;
use crate::version::Version;

/// The first eight bytes of a release archive.
pub const MAGIC: &[u8; 8] = b"AIRLOCKR";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// The manifest's `format` field.
pub const FORMAT: &str = "airlock-release/1";
/// Leader and length field.
pub const HEADER_LEN: usize = 20;
/// An ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// The largest manifest read.
pub const MAX_MANIFEST: usize = 1 << 20;
/// The largest file a release may carry.
pub const MAX_FILE: u64 = 4 << 30;

/// One file of a release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Its name in the release folder: one of [`BINARIES`], or [`sbom::FILE`].
    pub name: String,
    /// Its mode: 0o755 for a binary, 0o644 for the SBOM.
    pub mode: u32,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// What a release archive carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The release's version.
    pub version: Version,
    /// When it was made (the vendor's clock; informative).
    pub created_at: String,
    /// The id of the release key that signed it.
    pub key_id: String,
    /// The files, in stream order.
    pub files: Vec<File>,
}

/// The mode and largest size a file of a release may have, by its name; `None` for a name
/// that is neither a binary of the node nor the SBOM.
fn rules(name: &str) -> Option<(u32, u64)> {
    if name == sbom::FILE {
        Some((sbom::MODE, sbom::MAX_LEN))
    } else if BINARIES.contains(&name) {
        Some((0o755, MAX_FILE))
    } else {
        None
    }
}

impl Manifest {
    /// Checks what the signature cannot: the format, known and unique names, `airlock`
    /// present, modes, sizes and digests well-formed. (A release without an SBOM passes
    /// here; `update` refuses it, with its own reason.)
    pub fn check(&self) -> Result<()> {
        let bad = |why: String| Err(Error::Integrity(format!("release manifest: {why}")));
        if self.format != FORMAT {
            return bad(format!(
                "format {} is not {FORMAT}",
                airlock::text::Untrusted(&self.format)
            ));
        }
        if self.files.is_empty() || self.files.len() > BINARIES.len() + 1 {
            return bad(format!(
                "{} files (1 to {} allowed)",
                self.files.len(),
                BINARIES.len() + 1
            ));
        }
        for (i, f) in self.files.iter().enumerate() {
            let Some((mode, max)) = rules(&f.name) else {
                return bad(format!(
                    "file {} is not one of {} or {}",
                    airlock::text::Untrusted(&f.name),
                    BINARIES.join(", "),
                    sbom::FILE
                ));
            };
            if self.files[..i].iter().any(|g| g.name == f.name) {
                return bad(format!("file {} is listed twice", f.name));
            }
            if f.mode != mode {
                return bad(format!(
                    "file {} has mode {:o}, not {mode:o}",
                    f.name, f.mode
                ));
            }
            if f.size > max {
                return bad(format!("file {} is larger than {max} bytes", f.name));
            }
            if f.sha256.len() != 64
                || !f
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return bad(format!("file {} has no SHA-256", f.name));
            }
        }
        if !self.files.iter().any(|f| f.name == REQUIRED_BINARY) {
            return bad(format!("no {REQUIRED_BINARY} binary"));
        }
        Ok(())
    }

    /// The SBOM the release carries, if any.
    pub fn sbom(&self) -> Option<&File> {
        self.files.iter().find(|f| f.name == sbom::FILE)
    }

    /// The binaries the release carries (every file but the SBOM).
    pub fn binaries(&self) -> impl Iterator<Item = &File> {
        self.files.iter().filter(|f| f.name != sbom::FILE)
    }

    /// The archive's exact length for this manifest of `manifest_len` bytes.
    pub fn archive_len(&self, manifest_len: usize) -> u64 {
        (HEADER_LEN + manifest_len + SIGNATURE_LEN) as u64
            + self.files.iter().map(|f| f.size).sum::<u64>()
    }
}

/// The leader and length field for a manifest of `len` bytes.
pub fn header(len: usize) -> Result<[u8; HEADER_LEN]> {
    if len == 0 || len > MAX_MANIFEST {
        return Err(Error::Rejected(format!(
            "a release manifest of {len} bytes (1 to {MAX_MANIFEST})"
        )));
    }
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    // The length fits: it was checked against MAX_MANIFEST above.
    h[16..20].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(h)
}

/// Parses the leader and length field: the manifest's length.
pub fn parse_header(h: &[u8; HEADER_LEN]) -> Result<usize> {
    if &h[..8] != MAGIC {
        return Err(Error::Rejected(
            "not an Airlock release archive (no AIRLOCKR leader)".into(),
        ));
    }
    let version = u16::from_be_bytes([h[8], h[9]]);
    if version != FORMAT_VERSION {
        return Err(Error::Rejected(format!(
            "release archive format version {version} is not supported (this program reads {FORMAT_VERSION})"
        )));
    }
    if h[10..16] != [0u8; 6] {
        return Err(Error::Integrity(
            "release archive leader has non-zero reserved bytes".into(),
        ));
    }
    let len = u32::from_be_bytes([h[16], h[17], h[18], h[19]]) as usize;
    if len == 0 || len > MAX_MANIFEST {
        return Err(Error::Integrity(format!(
            "release manifest length {len} is outside 1 ..= {MAX_MANIFEST}"
        )));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: "1.0.0".parse().expect("v"),
            created_at: "2025-01-01T00:00:00Z".into(),
            key_id: "0123456789abcdef".into(),
            files: vec![File {
                name: "airlock".into(),
                mode: 0o755,
                size: 3,
                sha256: "a".repeat(64),
            }],
        }
    }

    #[test]
    fn header_round_trips_and_a_foreign_or_oversized_one_is_refused() {
        let h = header(100).expect("header");
        assert_eq!(parse_header(&h).expect("parse"), 100);
        let mut other = h;
        other[..8].copy_from_slice(b"AIRLOCKB");
        assert!(matches!(parse_header(&other), Err(Error::Rejected(_))));
        let mut big = h;
        big[16..20].copy_from_slice(&(MAX_MANIFEST as u32 + 1).to_be_bytes());
        assert!(matches!(parse_header(&big), Err(Error::Integrity(_))));
        let mut newer = h;
        newer[8..10].copy_from_slice(&2u16.to_be_bytes());
        assert!(
            parse_header(&newer)
                .expect_err("refused")
                .to_string()
                .contains("version 2")
        );
    }

    #[test]
    fn release_carrying_a_file_that_is_not_a_binary_of_the_node_is_refused() {
        assert!(manifest().check().is_ok());
        for (name, why) in [
            ("../../etc/cron.d/x", "not one of"),
            ("libevil.so", "not one of"),
        ] {
            let mut m = manifest();
            m.files[0].name = name.into();
            let err = m.check().expect_err(name).to_string();
            assert!(err.contains(why), "{err}");
        }
        let mut twice = manifest();
        twice.files.push(twice.files[0].clone());
        assert!(
            twice
                .check()
                .expect_err("refused")
                .to_string()
                .contains("twice")
        );
        let mut setuid = manifest();
        setuid.files[0].mode = 0o4755;
        assert!(
            setuid
                .check()
                .expect_err("refused")
                .to_string()
                .contains("mode")
        );
        // The SBOM is a file of its own kind: mode 0644, and never executable.
        let mut with_sbom = manifest();
        with_sbom.files.insert(
            0,
            File {
                name: sbom::FILE.into(),
                mode: 0o644,
                size: 10,
                sha256: "b".repeat(64),
            },
        );
        assert!(with_sbom.check().is_ok());
        assert_eq!(with_sbom.sbom().map(|f| f.size), Some(10));
        assert_eq!(with_sbom.binaries().count(), 1);
        let mut executable_sbom = with_sbom.clone();
        executable_sbom.files[0].mode = 0o755;
        let err = executable_sbom.check().expect_err("refused").to_string();
        assert!(err.contains("mode 755, not 644"), "{err}");
        let mut huge_sbom = with_sbom.clone();
        huge_sbom.files[0].size = sbom::MAX_LEN + 1;
        assert!(huge_sbom.check().is_err());
        let mut no_airlock = manifest();
        no_airlock.files[0].name = "airlock-tui".into();
        assert!(
            no_airlock
                .check()
                .expect_err("refused")
                .to_string()
                .contains("no airlock")
        );
    }
}
