//! The bundle wire format: pure parsing and writing of the plaintext inside
//! the age encryption, with no SQLite and no filesystem, so it can be tested
//! and fuzzed alone. The layout below is the specification until the bundle
//! issue writes it out in full as `docs/bundle-format.md`.
//!
//! ```text
//! magic        8 bytes   "AIRLOCKB"
//! version      u16 BE    1
//! manifest_len u32 BE    1 ..= MAX_MANIFEST
//! manifest     JSON      manifest_len bytes (the exact bytes that are signed)
//! signature    64 bytes  ed25519 by the origin site key over the manifest
//! objects      ...       each object's bytes, in manifest order, exactly its declared size
//! (end of stream)
//! ```

use std::collections::HashSet;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::registry::{Attestation, Kind};
use crate::site::SiteName;
use crate::time::Timestamp;

/// First bytes of every bundle plaintext.
pub const MAGIC: &[u8; 8] = b"AIRLOCKB";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Largest manifest accepted (bytes).
pub const MAX_MANIFEST: u32 = 4 << 20;
/// Most objects in one bundle.
pub const MAX_OBJECTS: usize = 10_000;
/// Most bytes of objects in one bundle.
pub const MAX_TOTAL: u64 = 1 << 40;
/// Most bytes of record documents in one bundle (they are held in memory
/// until the commit).
pub const MAX_DOCUMENTS: u64 = 256 << 20;

fn is_key_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One object listed in a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// SHA-256 of the object's bytes.
    pub id: Digest,
    /// What it is.
    pub kind: Kind,
    /// Its exact size in bytes.
    pub size: u64,
    /// Signatures over (kind, id) by the sites that made it.
    pub attestations: Vec<Attestation>,
}

/// The signed description of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT_VERSION`].
    pub format: u16,
    /// The site that made the bundle.
    pub origin_site: SiteName,
    /// Key id of the origin's signing key.
    pub origin_key: String,
    /// The only site that may import it.
    pub recipient_site: SiteName,
    /// That site's age recipient.
    pub recipient_key: String,
    /// Strictly increasing per origin site.
    pub sequence: u64,
    /// When it was made (origin clock).
    pub created_at: Timestamp,
    /// After this, it is refused.
    pub expires_at: Timestamp,
    /// The objects, in stream order.
    pub objects: Vec<Entry>,
}

/// Why bytes are not a well-formed bundle plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The stream ended early.
    #[error("truncated: the stream ended inside the {0}")]
    Truncated(&'static str),
    /// Wrong magic bytes.
    #[error("not an Airlock bundle (bad magic bytes)")]
    BadMagic,
    /// Unknown format version.
    #[error(
        "bundle format version {0} is not supported (this airlock reads version {FORMAT_VERSION})"
    )]
    Version(u16),
    /// Manifest too large or empty.
    #[error("manifest length {0} is outside 1..={MAX_MANIFEST} bytes")]
    ManifestSize(u32),
    /// Manifest JSON invalid.
    #[error("manifest does not parse: {0}")]
    ManifestJson(String),
    /// Manifest content breaks a structural rule.
    #[error("manifest is invalid: {0}")]
    Invalid(String),
    /// Bytes follow the last listed object.
    #[error("data after the last object the manifest lists (unlisted content)")]
    TrailingData,
    /// Reading failed (for example a decryption error underneath).
    #[error("{0}")]
    Io(String),
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &'static str) -> Result<(), FormatError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            FormatError::Truncated(what)
        } else {
            FormatError::Io(e.to_string())
        }
    })
}

/// A manifest as read from a bundle: parsed, structurally checked, but its
/// signature NOT yet verified. Only the import path turns it into something
/// that can be committed.
#[derive(Debug)]
pub struct SignedManifest {
    /// The exact signed bytes.
    pub bytes: Vec<u8>,
    /// The signature (hex).
    pub signature: String,
    /// The parsed manifest.
    pub manifest: Manifest,
}

impl Manifest {
    /// Structural rules: format, object count, sizes, no duplicate objects,
    /// every object attested, expiry after creation.
    pub fn check(&self) -> Result<(), FormatError> {
        let bad = |s: String| Err(FormatError::Invalid(s));
        if self.format != FORMAT_VERSION {
            return Err(FormatError::Version(self.format));
        }
        if self.objects.is_empty() {
            return bad("no objects".into());
        }
        if self.objects.len() > MAX_OBJECTS {
            return bad(format!(
                "{} objects, at most {MAX_OBJECTS}",
                self.objects.len()
            ));
        }
        if self.expires_at <= self.created_at {
            return bad("expires before it was created".into());
        }
        if !is_key_id(&self.origin_key) {
            return bad("origin_key is not a key id (16 lowercase hex digits)".into());
        }
        let mut seen = HashSet::new();
        let mut total = 0u64;
        let mut documents = 0u64;
        for e in &self.objects {
            if e.attestations.iter().any(|a| !is_key_id(&a.key_id)) {
                return bad(format!(
                    "{} {} has a signature whose key id is not 16 lowercase hex digits",
                    e.kind,
                    e.id.short()
                ));
            }
            if e.kind.is_document() {
                documents = documents.saturating_add(e.size);
            }
            if !seen.insert(e.id) {
                return bad(format!("object {} is listed twice", e.id));
            }
            if e.size > e.kind.max_size() {
                return bad(format!(
                    "{} {} declares {} bytes, over the {}-byte limit",
                    e.kind,
                    e.id.short(),
                    e.size,
                    e.kind.max_size()
                ));
            }
            if e.attestations.is_empty() {
                return bad(format!("{} {} carries no signature", e.kind, e.id.short()));
            }
            total = total.saturating_add(e.size);
        }
        if documents > MAX_DOCUMENTS {
            return bad(format!(
                "records total {documents} bytes, over {MAX_DOCUMENTS}"
            ));
        }
        if total > MAX_TOTAL {
            return bad(format!("objects total {total} bytes, over {MAX_TOTAL}"));
        }
        Ok(())
    }
}

/// Reads and checks the header and manifest from the start of a plaintext.
pub fn read_header(r: &mut impl Read) -> Result<SignedManifest, FormatError> {
    let mut magic = [0u8; 8];
    read_exact(r, &mut magic, "magic bytes")?;
    if &magic != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let mut v = [0u8; 2];
    read_exact(r, &mut v, "format version")?;
    let version = u16::from_be_bytes(v);
    if version != FORMAT_VERSION {
        return Err(FormatError::Version(version));
    }
    let mut l = [0u8; 4];
    read_exact(r, &mut l, "manifest length")?;
    let len = u32::from_be_bytes(l);
    if len == 0 || len > MAX_MANIFEST {
        return Err(FormatError::ManifestSize(len));
    }
    let mut bytes = vec![0u8; len as usize];
    read_exact(r, &mut bytes, "manifest")?;
    let mut sig = [0u8; 64];
    read_exact(r, &mut sig, "manifest signature")?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| FormatError::ManifestJson(e.to_string()))?;
    manifest.check()?;
    Ok(SignedManifest {
        bytes,
        signature: hex::encode(sig),
        manifest,
    })
}

/// Writes the header, the manifest bytes and their signature.
pub fn write_header(w: &mut impl Write, manifest: &[u8], signature: &[u8; 64]) -> io::Result<()> {
    let len = u32::try_from(manifest.len())
        .ok()
        .filter(|l| *l <= MAX_MANIFEST)
        .ok_or_else(|| io::Error::other("manifest too large"))?;
    w.write_all(MAGIC)?;
    w.write_all(&FORMAT_VERSION.to_be_bytes())?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(manifest)?;
    w.write_all(signature)
}

/// After the last object the stream must end.
pub fn expect_end(r: &mut impl Read) -> Result<(), FormatError> {
    let mut one = [0u8; 1];
    loop {
        match r.read(&mut one) {
            Ok(0) => return Ok(()),
            Ok(_) => return Err(FormatError::TrailingData),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FormatError::Io(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT_VERSION,
            origin_site: "lab".parse().expect("site"),
            origin_key: "0123456789abcdef".into(),
            recipient_site: "plant".parse().expect("site"),
            recipient_key: "age1x".into(),
            sequence: 1,
            created_at: Timestamp(1_000),
            expires_at: Timestamp(2_000),
            objects: vec![Entry {
                id: Digest::of(b"o"),
                kind: Kind::Contract,
                size: 1,
                attestations: vec![Attestation {
                    site: "lab".parse().expect("site"),
                    key_id: "0123456789abcdef".into(),
                    signature: "s".into(),
                }],
            }],
        }
    }

    fn encode(m: &Manifest) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out, &serde_json::to_vec(m).expect("json"), &[7u8; 64]).expect("write");
        out
    }

    #[test]
    fn header_round_trips() {
        let bytes = encode(&manifest());
        let sm = read_header(&mut &bytes[..]).expect("read");
        assert_eq!(sm.manifest, manifest());
        assert_eq!(sm.signature, hex::encode([7u8; 64]));
    }

    #[test]
    fn manifest_truncated_at_every_byte_is_refused() {
        let bytes = encode(&manifest());
        for cut in 0..bytes.len() {
            let err = read_header(&mut &bytes[..cut]).expect_err("truncated");
            assert!(matches!(err, FormatError::Truncated(_)), "cut {cut}: {err}");
        }
    }

    #[test]
    fn bundle_bad_magic_and_version_are_refused() {
        let mut bytes = encode(&manifest());
        bytes[0] = b'X';
        assert_eq!(
            read_header(&mut &bytes[..]).expect_err("magic"),
            FormatError::BadMagic
        );
        let mut bytes = encode(&manifest());
        bytes[9] = 2;
        assert_eq!(
            read_header(&mut &bytes[..]).expect_err("version"),
            FormatError::Version(2)
        );
    }

    #[test]
    fn manifest_oversized_length_is_refused_before_allocation() {
        let mut bytes = encode(&manifest());
        bytes[10..14].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            read_header(&mut &bytes[..]).expect_err("size"),
            FormatError::ManifestSize(u32::MAX)
        );
    }

    #[test]
    fn manifest_duplicate_object_is_refused() {
        let mut m = manifest();
        m.objects.push(m.objects[0].clone());
        let err = read_header(&mut &encode(&m)[..]).expect_err("dup");
        assert!(err.to_string().contains("listed twice"), "{err}");
    }

    #[test]
    fn manifest_unknown_field_is_refused() {
        let mut v = serde_json::to_value(manifest()).expect("value");
        v["extra"] = serde_json::json!(1);
        let mut out = Vec::new();
        write_header(&mut out, &serde_json::to_vec(&v).expect("json"), &[0u8; 64]).expect("write");
        assert!(matches!(
            read_header(&mut &out[..]),
            Err(FormatError::ManifestJson(_))
        ));
    }

    #[test]
    fn trailing_data_is_refused() {
        assert!(expect_end(&mut &b""[..]).is_ok());
        assert!(expect_end(&mut &b"x"[..]).is_err());
    }

    #[test]
    fn manifest_with_control_characters_in_key_id_is_refused() {
        let mut m = manifest();
        m.origin_key = "\u{1b}[2Kfake".into();
        let err = read_header(&mut &encode(&m)[..]).expect_err("bad key id");
        assert!(err.to_string().contains("origin_key"), "{err}");
    }
}
