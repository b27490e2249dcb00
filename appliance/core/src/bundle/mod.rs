//! The bundle wire format, version 2: pure parsing and writing of the bytes
//! of a bundle, with no SQLite and no filesystem, so it can be tested and
//! fuzzed alone. `docs/bundle-format.md` is the full specification; in short,
//! the logical bundle stream (the part files concatenated) is:
//!
//! ```text
//! leader   16 bytes  "AIRLOCKB", u16 BE format version, 6 zero bytes   (plaintext)
//! body     age ciphertext, to the recipient, of the objects in manifest order
//! trailer  age ciphertext, to the recipient, of:
//!            "AIRLOCKM", u16 BE version, u32 BE manifest length,
//!            the manifest JSON (the exact bytes that are signed),
//!            the 64-byte ed25519 signature of the origin site
//! footer   24 bytes  u64 BE payload length, u64 BE trailer length, "AIRLOCKE"
//! ```
//!
//! The payload is leader plus body. The signed manifest lists every object
//! (SHA-256, size, kind, the makers' signatures) and every part's share of
//! the payload with its SHA-256, so a damaged part is named and can be copied
//! again. The manifest comes last because the part digests are only known
//! once the payload is written; an importer reads the footer, then the
//! trailer, and verifies the manifest before it reads a byte of the body.

use std::collections::HashSet;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::name::SiteName;
use crate::object::{Attestation, Kind};
use crate::time::Timestamp;

mod objects;

pub use objects::{read_objects, read_objects_with, split_objects};

/// First bytes of a bundle (the leader).
pub const MAGIC: &[u8; 8] = b"AIRLOCKB";
/// First bytes of the decrypted trailer.
pub const TRAILER_MAGIC: &[u8; 8] = b"AIRLOCKM";
/// Last bytes of a bundle (the footer).
pub const END_MAGIC: &[u8; 8] = b"AIRLOCKE";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 2;
/// Length of the plaintext leader.
pub const LEADER_LEN: u64 = 16;
/// Length of the plaintext footer.
pub const FOOTER_LEN: u64 = 24;
/// Largest manifest accepted (bytes).
pub const MAX_MANIFEST: u32 = 4 << 20;
/// Largest encrypted trailer accepted: the manifest and its framing plus
/// age's header and per-chunk tags, with room to spare.
pub const MAX_TRAILER: u64 = MAX_MANIFEST as u64 + (64 << 10);
/// Most objects in one bundle.
pub const MAX_OBJECTS: usize = 10_000;
/// Most bytes of objects in one bundle.
pub const MAX_TOTAL: u64 = 1 << 40;
/// Most bytes of record documents in one bundle (an importer parses each
/// one in memory).
pub const MAX_DOCUMENTS: u64 = 32 << 20;
/// Most part files.
pub const MAX_PARTS: usize = 100_000;
/// Smallest part size for a split bundle.
pub const MIN_SPLIT: u64 = 64 << 10;
/// Largest age header accepted for the body or the trailer. A genuine one
/// (version line, one X25519 stanza, perhaps a grease stanza, the MAC line)
/// is a few hundred bytes; the cap is checked before age parses anything.
pub const MAX_AGE_HEADER: usize = 8 << 10;
/// Most recipient stanzas in an age header.
pub const MAX_AGE_STANZAS: usize = 8;
const AGE_INTRO: &[u8] = b"age-encryption.org/v1\n";
const MAX_AGE_LINE: usize = 256;

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

/// One part file's share of the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// Payload bytes in this part.
    pub size: u64,
    /// SHA-256 of those bytes.
    pub sha256: Digest,
}

/// The payload (leader plus encrypted body) and how it is cut into parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// Payload length in bytes.
    pub size: u64,
    /// The size of every part file but the last, or `None` for one file.
    pub split: Option<u64>,
    /// Each part's share of the payload, in order.
    pub parts: Vec<Part>,
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
    /// The payload's parts and their digests.
    pub payload: Payload,
}

/// Why bytes are not a well-formed bundle.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The stream ended early.
    #[error("truncated: the stream ended inside the {0}")]
    Truncated(String),
    /// Wrong magic bytes.
    #[error("not an Airlock bundle (bad magic bytes in the {0})")]
    BadMagic(&'static str),
    /// Unknown format version.
    #[error(
        "bundle format version {0} is not supported (this airlock reads version {FORMAT_VERSION})"
    )]
    Version(u16),
    /// The footer's lengths do not fit the bundle.
    #[error("the footer is damaged: {0}")]
    Footer(String),
    /// Manifest too large or empty.
    #[error("manifest length {0} is outside 1..={MAX_MANIFEST} bytes")]
    ManifestSize(u32),
    /// Manifest JSON invalid.
    #[error("manifest does not parse: {0}")]
    ManifestJson(String),
    /// Manifest content breaks a structural rule.
    #[error("manifest is invalid: {0}")]
    Invalid(String),
    /// An object's bytes do not hash to its listed digest.
    #[error("object {index} ({kind} {}) hashes to {}, not the digest its manifest lists", .expected.short(), .found.short())]
    DigestMismatch {
        /// 1-based position in the manifest.
        index: usize,
        /// Its kind.
        kind: Kind,
        /// The listed digest.
        expected: Digest,
        /// The digest of the bytes read.
        found: Digest,
    },
    /// Bytes follow the last listed object or the trailer.
    #[error("data after the end of the {0} (unlisted content)")]
    TrailingData(&'static str),
    /// Reading failed (for example a decryption error underneath).
    #[error("{0}")]
    Io(String),
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), FormatError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            FormatError::Truncated(what.to_string())
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

impl Payload {
    /// Structural rules: the parts add up, every part but the last is
    /// exactly the split size, and there are not too many.
    pub fn check(&self) -> Result<(), FormatError> {
        let bad = |s: String| Err(FormatError::Invalid(s));
        if self.size <= LEADER_LEN {
            return bad(format!("payload of {} bytes holds no body", self.size));
        }
        if self.parts.is_empty() || self.parts.len() > MAX_PARTS {
            return bad(format!(
                "{} parts, expected 1 to {MAX_PARTS}",
                self.parts.len()
            ));
        }
        let sum = self
            .parts
            .iter()
            .try_fold(0u64, |acc, p| acc.checked_add(p.size));
        if sum != Some(self.size) {
            return bad("the parts do not add up to the payload size".into());
        }
        match self.split {
            None if self.parts.len() != 1 => bad("several parts but no split size".into()),
            None => Ok(()),
            Some(s) if s < MIN_SPLIT => bad(format!("split size {s} is under {MIN_SPLIT}")),
            Some(s) => {
                let (last, rest) = self
                    .parts
                    .split_last()
                    .ok_or_else(|| FormatError::Invalid("a split payload without parts".into()))?;
                if rest.iter().any(|p| p.size != s) || last.size == 0 || last.size > s {
                    return bad(format!("parts are not cut at the split size {s}"));
                }
                Ok(())
            }
        }
    }

    /// The part holding payload offset `at`.
    pub fn part_at(&self, at: u64) -> usize {
        match self.split {
            None => 0,
            Some(s) => usize::try_from(at / s).unwrap_or(usize::MAX),
        }
    }
}

impl Manifest {
    /// Structural rules: format, object count, sizes, no duplicate objects,
    /// every object attested, expiry after creation, a sound payload.
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
        // The store keeps sequence numbers as SQLite integers (i64): 2^64 - 1 would be held
        // as -1 and read back as 2^64 - 1, refusing every later bundle from the origin.
        if i64::try_from(self.sequence).is_err() {
            return bad(format!(
                "sequence {} is above {}, the largest this node can store",
                self.sequence,
                i64::MAX
            ));
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
        self.payload.check()?;
        // Encryption only adds bytes: a payload smaller than its objects
        // cannot hold them.
        if self.payload.size < total.saturating_add(LEADER_LEN) {
            return bad(format!(
                "payload of {} bytes cannot hold {total} bytes of objects",
                self.payload.size
            ));
        }
        Ok(())
    }

    /// Total bytes of objects.
    pub fn object_bytes(&self) -> u64 {
        self.objects
            .iter()
            .fold(0u64, |acc, e| acc.saturating_add(e.size))
    }
}

/// Writes the plaintext leader.
pub fn write_leader(w: &mut impl Write) -> io::Result<()> {
    let mut leader = [0u8; LEADER_LEN as usize];
    leader[..8].copy_from_slice(MAGIC);
    leader[8..10].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    w.write_all(&leader)
}

/// Checks the plaintext leader.
pub fn check_leader(leader: &[u8]) -> Result<(), FormatError> {
    if leader.len() < 10 {
        return Err(FormatError::Truncated("leader".into()));
    }
    if leader.starts_with(&AGE_INTRO[..10]) {
        // Format 1 bundles were one age stream from the first byte.
        return Err(FormatError::Version(1));
    }
    if &leader[..8] != MAGIC {
        return Err(FormatError::BadMagic("leader"));
    }
    let version = u16::from_be_bytes([leader[8], leader[9]]);
    if version != FORMAT_VERSION {
        return Err(FormatError::Version(version));
    }
    if leader.len() as u64 != LEADER_LEN {
        return Err(FormatError::Truncated("leader".into()));
    }
    if leader[10..].iter().any(|b| *b != 0) {
        return Err(FormatError::Invalid(
            "reserved leader bytes are not zero".into(),
        ));
    }
    Ok(())
}

/// Checks that `prefix` begins with a well-bounded age v1 header: the
/// version line, at most [`MAX_AGE_STANZAS`] stanzas of short lines, and the
/// MAC line, all within [`MAX_AGE_HEADER`] bytes. Returns the header's
/// length. Run before handing untrusted bytes to age's header parser, so a
/// header of endless lines or stanzas is refused in bounded time and memory.
pub fn check_age_header(prefix: &[u8]) -> Result<usize, FormatError> {
    let bad = |why: &str| Err(FormatError::Invalid(format!("age header: {why}")));
    let window = &prefix[..prefix.len().min(MAX_AGE_HEADER)];
    if !window.starts_with(AGE_INTRO) {
        return bad("no age v1 version line");
    }
    let mut at = AGE_INTRO.len();
    let mut stanzas = 0;
    loop {
        let rest = &window[at..];
        let Some(nl) = rest.iter().take(MAX_AGE_LINE + 1).position(|b| *b == b'\n') else {
            return bad(if rest.len() > MAX_AGE_LINE {
                "a line is too long"
            } else {
                "it does not end within the size limit"
            });
        };
        let line = &rest[..nl];
        at += nl + 1;
        if let Some(mac) = line.strip_prefix(b"--- ") {
            let base64 = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
            if stanzas == 0 || mac.len() != 43 || !mac.iter().all(base64) {
                return bad("malformed MAC line");
            }
            return Ok(at);
        }
        if line.starts_with(b"-> ") {
            stanzas += 1;
            if stanzas > MAX_AGE_STANZAS {
                return bad("too many recipient stanzas");
            }
        } else if stanzas == 0 {
            return bad("a line before the first stanza");
        }
    }
}

/// Where the trailer is: read from the footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    /// Payload length (leader plus body).
    pub payload_len: u64,
    /// Encrypted trailer length.
    pub trailer_len: u64,
}

impl Footer {
    /// The footer's bytes.
    pub fn to_bytes(self) -> [u8; FOOTER_LEN as usize] {
        let mut out = [0u8; FOOTER_LEN as usize];
        out[..8].copy_from_slice(&self.payload_len.to_be_bytes());
        out[8..16].copy_from_slice(&self.trailer_len.to_be_bytes());
        out[16..].copy_from_slice(END_MAGIC);
        out
    }

    /// Parses the last [`FOOTER_LEN`] bytes of a bundle of `total` bytes.
    pub fn parse(bytes: &[u8], total: u64) -> Result<Footer, FormatError> {
        if bytes.len() as u64 != FOOTER_LEN {
            return Err(FormatError::Truncated("footer".into()));
        }
        if &bytes[16..] != END_MAGIC {
            return Err(FormatError::Footer(
                "the end marker is missing: the bundle is truncated, or a later part is missing"
                    .into(),
            ));
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(&bytes[..8]);
        let payload_len = u64::from_be_bytes(a);
        a.copy_from_slice(&bytes[8..16]);
        let trailer_len = u64::from_be_bytes(a);
        if trailer_len == 0 || trailer_len > MAX_TRAILER {
            return Err(FormatError::Footer(format!(
                "trailer length {trailer_len} is outside 1..={MAX_TRAILER}"
            )));
        }
        let sum = payload_len
            .checked_add(trailer_len)
            .and_then(|s| s.checked_add(FOOTER_LEN));
        if payload_len <= LEADER_LEN || sum != Some(total) {
            return Err(FormatError::Footer(format!(
                "its lengths ({payload_len} + {trailer_len} + {FOOTER_LEN}) do not add up to the {total} bytes found"
            )));
        }
        Ok(Footer {
            payload_len,
            trailer_len,
        })
    }
}

/// Writes the trailer plaintext: magic, version, the manifest bytes and
/// their signature.
pub fn write_trailer(w: &mut impl Write, manifest: &[u8], signature: &[u8; 64]) -> io::Result<()> {
    let len = u32::try_from(manifest.len())
        .ok()
        .filter(|l| *l <= MAX_MANIFEST)
        .ok_or_else(|| io::Error::other("manifest too large"))?;
    w.write_all(TRAILER_MAGIC)?;
    w.write_all(&FORMAT_VERSION.to_be_bytes())?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(manifest)?;
    w.write_all(signature)
}

/// Reads and checks a whole trailer plaintext: the manifest and its
/// signature, then the end of the stream.
pub fn read_trailer(r: &mut impl Read) -> Result<SignedManifest, FormatError> {
    let mut magic = [0u8; 8];
    read_exact(r, &mut magic, "trailer magic bytes")?;
    if &magic != TRAILER_MAGIC {
        return Err(FormatError::BadMagic("trailer"));
    }
    let mut v = [0u8; 2];
    read_exact(r, &mut v, "trailer format version")?;
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
    expect_end(r, "trailer")?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| FormatError::ManifestJson(crate::text::error_text(&e)))?;
    manifest.check()?;
    Ok(SignedManifest {
        bytes,
        signature: hex::encode(sig),
        manifest,
    })
}

/// After the last object (or the trailer) the stream must end.
pub fn expect_end(r: &mut impl Read, what: &'static str) -> Result<(), FormatError> {
    let mut one = [0u8; 1];
    loop {
        match r.read(&mut one) {
            Ok(0) => return Ok(()),
            Ok(_) => return Err(FormatError::TrailingData(what)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FormatError::Io(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests;
