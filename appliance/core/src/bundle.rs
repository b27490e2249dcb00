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

/// The archive reader: splits a decrypted body into the manifest's objects.
/// Each object is handed to `sink` as a reader of exactly its listed size
/// (the sink may stage it, but must not trust it yet); afterwards the bytes
/// are checked against the listed size and digest, whatever the sink read.
/// Bytes after the last object are refused.
///
/// `sink` returns its own error type; framing errors are converted with
/// `From<FormatError>`.
pub fn read_objects<R: Read, E: From<FormatError>>(
    body: &mut R,
    entries: &[Entry],
    sink: impl FnMut(usize, &Entry, &mut dyn Read) -> Result<(), E>,
) -> Result<(), E> {
    read_objects_with(body, entries, true, sink)
}

/// [`read_objects`] without the digest check: sizes, order and the end of
/// the body are enforced, and the sink must hash each object itself and
/// compare it with `Entry::id` (import does: the vault hashes what it
/// stages, so hashing here too would be a third pass over the data).
pub fn split_objects<R: Read, E: From<FormatError>>(
    body: &mut R,
    entries: &[Entry],
    sink: impl FnMut(usize, &Entry, &mut dyn Read) -> Result<(), E>,
) -> Result<(), E> {
    read_objects_with(body, entries, false, sink)
}

/// [`read_objects`] when `digests`, else [`split_objects`].
pub fn read_objects_with<R: Read, E: From<FormatError>>(
    body: &mut R,
    entries: &[Entry],
    digests: bool,
    mut sink: impl FnMut(usize, &Entry, &mut dyn Read) -> Result<(), E>,
) -> Result<(), E> {
    let mut drain = vec![0u8; 64 << 10];
    for (i, e) in entries.iter().enumerate() {
        let mut object = Counted {
            inner: (&mut *body).take(e.size),
            hasher: digests.then(crate::digest::Hasher::default),
            count: 0,
        };
        sink(i, e, &mut object)?;
        // Whatever the sink left unread is still counted (and hashed).
        loop {
            match object.read(&mut drain) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(FormatError::Io(err.to_string()).into()),
            }
        }
        if object.count != e.size {
            return Err(FormatError::Truncated(format!(
                "object {} of {} ({} {}): {} of {} bytes",
                i + 1,
                entries.len(),
                e.kind,
                e.id.short(),
                object.count,
                e.size
            ))
            .into());
        }
        if let Some(h) = object.hasher {
            let (found, _) = h.finish();
            if found != e.id {
                return Err(FormatError::DigestMismatch {
                    index: i + 1,
                    kind: e.kind,
                    expected: e.id,
                    found,
                }
                .into());
            }
        }
    }
    expect_end(body, "last object").map_err(E::from)
}

/// Counts (and optionally hashes) what passes through.
struct Counted<R> {
    inner: R,
    hasher: Option<crate::digest::Hasher>,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Payload {
        Payload {
            size: 100,
            split: None,
            parts: vec![Part {
                size: 100,
                sha256: Digest::of(b"p"),
            }],
        }
    }

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
            payload: payload(),
        }
    }

    fn encode(m: &Manifest) -> Vec<u8> {
        encode_json(&serde_json::to_vec(m).expect("json"))
    }

    fn encode_json(json: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_trailer(&mut out, json, &[7u8; 64]).expect("write");
        out
    }

    #[test]
    fn trailer_round_trips() {
        let bytes = encode(&manifest());
        let sm = read_trailer(&mut &bytes[..]).expect("read");
        assert_eq!(sm.manifest, manifest());
        assert_eq!(sm.signature, hex::encode([7u8; 64]));
    }

    #[test]
    fn trailer_truncated_at_every_byte_is_refused() {
        let bytes = encode(&manifest());
        for cut in 0..bytes.len() {
            let err = read_trailer(&mut &bytes[..cut]).expect_err("truncated");
            assert!(matches!(err, FormatError::Truncated(_)), "cut {cut}: {err}");
        }
    }

    #[test]
    fn trailer_with_bytes_after_the_signature_is_refused() {
        let mut bytes = encode(&manifest());
        bytes.push(0);
        assert_eq!(
            read_trailer(&mut &bytes[..]).expect_err("trailing"),
            FormatError::TrailingData("trailer")
        );
    }

    #[test]
    fn bad_magic_and_version_are_refused() {
        let mut bytes = encode(&manifest());
        bytes[0] = b'X';
        assert_eq!(
            read_trailer(&mut &bytes[..]).expect_err("magic"),
            FormatError::BadMagic("trailer")
        );
        let mut bytes = encode(&manifest());
        bytes[9] = 1;
        assert_eq!(
            read_trailer(&mut &bytes[..]).expect_err("version"),
            FormatError::Version(1)
        );
        let mut leader = Vec::new();
        write_leader(&mut leader).expect("leader");
        assert!(check_leader(&leader).is_ok());
        leader[9] = 1;
        assert_eq!(check_leader(&leader), Err(FormatError::Version(1)));
        assert_eq!(
            check_leader(b"age-encryption.org/v1\n"),
            Err(FormatError::Version(1)),
            "a format 1 bundle is named as such"
        );
        assert_eq!(
            check_leader(b"PK\x03\x04 a zip file."),
            Err(FormatError::BadMagic("leader"))
        );
    }

    #[test]
    fn manifest_oversized_length_is_refused_before_allocation() {
        let mut bytes = encode(&manifest());
        bytes[10..14].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            read_trailer(&mut &bytes[..]).expect_err("size"),
            FormatError::ManifestSize(u32::MAX)
        );
    }

    #[test]
    fn vector_duplicate_entry_is_refused() {
        let mut m = manifest();
        m.objects.push(m.objects[0].clone());
        let err = read_trailer(&mut &encode(&m)[..]).expect_err("dup");
        assert!(err.to_string().contains("listed twice"), "{err}");
    }

    #[test]
    fn vector_entry_with_a_path_is_refused() {
        // The format names objects only by digest; an entry that tries to
        // carry a file path (absolute, `..`, a link) is not a manifest.
        for path in ["/etc/passwd", "../../keys/site.ed25519", "link -> /dev/sda"] {
            let mut v = serde_json::to_value(manifest()).expect("value");
            v["objects"][0]["path"] = serde_json::json!(path);
            let err = read_trailer(&mut &encode_json(&serde_json::to_vec(&v).expect("json"))[..])
                .expect_err("path");
            assert!(
                matches!(&err, FormatError::ManifestJson(m) if m.contains("unknown field `path`")),
                "{err}"
            );
        }
    }

    #[test]
    fn manifest_unknown_field_is_refused() {
        let mut v = serde_json::to_value(manifest()).expect("value");
        v["extra"] = serde_json::json!(1);
        assert!(matches!(
            read_trailer(&mut &encode_json(&serde_json::to_vec(&v).expect("json"))[..]),
            Err(FormatError::ManifestJson(_))
        ));
    }

    #[test]
    fn manifest_with_control_characters_in_key_id_is_refused() {
        let mut m = manifest();
        m.origin_key = "\u{1b}[2Kfake".into();
        let err = read_trailer(&mut &encode(&m)[..]).expect_err("bad key id");
        assert!(err.to_string().contains("origin_key"), "{err}");
    }

    #[test]
    fn a_sequence_the_store_cannot_hold_is_refused() {
        let mut m = manifest();
        m.sequence = i64::MAX as u64;
        assert!(m.check().is_ok(), "the largest storable sequence");
        m.sequence = i64::MAX as u64 + 1;
        let err = read_trailer(&mut &encode(&m)[..]).expect_err("too large");
        assert!(
            err.to_string()
                .contains("sequence 9223372036854775808 is above"),
            "{err}"
        );
        m.sequence = u64::MAX;
        assert!(m.check().is_err(), "2^64 - 1");
    }

    #[test]
    fn payload_parts_must_follow_the_split() {
        let part = |size| Part {
            size,
            sha256: Digest::of(b"p"),
        };
        let ok = Payload {
            size: MIN_SPLIT * 2 + 5,
            split: Some(MIN_SPLIT),
            parts: vec![part(MIN_SPLIT), part(MIN_SPLIT), part(5)],
        };
        assert!(ok.check().is_ok());
        assert_eq!(ok.part_at(MIN_SPLIT * 2 + 1), 2);
        let mut uneven = ok.clone();
        uneven.parts[0].size -= 1;
        uneven.parts[2].size += 1;
        assert!(uneven.check().is_err(), "parts not cut at the split");
        let mut short = ok.clone();
        short.size += 1;
        assert!(short.check().is_err(), "parts do not add up");
        let mut tiny = ok.clone();
        tiny.split = Some(10);
        assert!(tiny.check().is_err(), "split under the minimum");
        let mut unsplit = ok;
        unsplit.split = None;
        assert!(unsplit.check().is_err(), "several parts without a split");
    }

    #[test]
    fn payload_smaller_than_its_objects_is_refused() {
        let mut m = manifest();
        m.objects[0].size = 1_000;
        let err = m.check().expect_err("too small");
        assert!(err.to_string().contains("cannot hold"), "{err}");
    }

    #[test]
    fn age_headers_are_bounded_before_age_parses_them() {
        // The shape age 0.12 writes for one X25519 recipient, then the payload's nonce and
        // ciphertext (the appliance's tests check headers age itself wrote).
        let mut genuine = b"age-encryption.org/v1\n-> X25519 ".to_vec();
        genuine.extend_from_slice(&[b'A'; 43]);
        genuine.push(b'\n');
        genuine.extend_from_slice(&[b'B'; 43]);
        genuine.extend_from_slice(b"\n--- ");
        genuine.extend_from_slice(&[b'C'; 43]);
        genuine.push(b'\n');
        genuine.extend_from_slice(&[0x9c; 40]);
        let len = check_age_header(&genuine).expect("a genuine header");
        assert!(genuine[..len].ends_with(b"\n") && len < 1024, "{len}");

        let mut endless = b"age-encryption.org/v1\n-> ".to_vec();
        endless.resize(1 << 20, b'A');
        assert!(check_age_header(&endless).is_err(), "one endless line");
        let mut lines = b"age-encryption.org/v1\n-> X25519 a\n".to_vec();
        while lines.len() < (1 << 20) {
            lines.extend_from_slice(&[b'A'; 64]);
            lines.push(b'\n');
        }
        assert!(check_age_header(&lines).is_err(), "endless stanza lines");
        let mut many = b"age-encryption.org/v1\n".to_vec();
        for _ in 0..=MAX_AGE_STANZAS {
            many.extend_from_slice(b"-> X25519 a\n\n");
        }
        many.extend_from_slice(b"--- ");
        many.extend_from_slice(&[b'A'; 43]);
        many.push(b'\n');
        assert!(check_age_header(&many).is_err(), "too many stanzas");
        assert!(check_age_header(b"AIRLOCKB").is_err());
    }

    #[test]
    fn footer_round_trips_and_is_bounded() {
        let f = Footer {
            payload_len: 1_000,
            trailer_len: 500,
        };
        let total = 1_000 + 500 + FOOTER_LEN;
        assert_eq!(Footer::parse(&f.to_bytes(), total), Ok(f));
        assert!(matches!(
            Footer::parse(&f.to_bytes(), total - 1),
            Err(FormatError::Footer(_))
        ));
        let mut huge = f;
        huge.trailer_len = u64::MAX;
        assert!(Footer::parse(&huge.to_bytes(), total).is_err());
        let mut bad = f.to_bytes();
        bad[23] = b'X';
        let err = Footer::parse(&bad, total).expect_err("end marker");
        assert!(err.to_string().contains("later part is missing"), "{err}");
    }

    fn entries(objects: &[&[u8]]) -> Vec<Entry> {
        objects
            .iter()
            .map(|o| Entry {
                id: Digest::of(o),
                kind: Kind::Snapshot,
                size: o.len() as u64,
                attestations: Vec::new(),
            })
            .collect()
    }

    fn split(body: &[u8], list: &[Entry]) -> Result<Vec<Vec<u8>>, FormatError> {
        let mut out = Vec::new();
        read_objects(&mut &body[..], list, |_, _, r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v)
                .map_err(|e| FormatError::Io(e.to_string()))?;
            out.push(v);
            Ok::<(), FormatError>(())
        })?;
        Ok(out)
    }

    #[test]
    fn objects_are_split_in_order() {
        let list = entries(&[b"alpha", b"", b"gamma!"]);
        let got = split(b"alphagamma!", &list).expect("split");
        assert_eq!(got, vec![b"alpha".to_vec(), vec![], b"gamma!".to_vec()]);
    }

    #[test]
    fn vector_unlisted_entry_is_refused() {
        let list = entries(&[b"alpha"]);
        assert_eq!(
            split(b"alphaEXTRA", &list).expect_err("unlisted"),
            FormatError::TrailingData("last object")
        );
    }

    #[test]
    fn vector_missing_entry_is_refused() {
        let list = entries(&[b"alpha", b"beta"]);
        let err = split(b"alpha", &list).expect_err("missing");
        assert!(
            matches!(&err, FormatError::Truncated(m) if m.contains("object 2 of 2")),
            "{err}"
        );
    }

    #[test]
    fn split_objects_checks_sizes_and_the_end_but_leaves_digests_to_the_sink() {
        let list = entries(&[b"alpha"]);
        let ok = split_objects(&mut &b"alphx"[..], &list, |_, _, _| {
            Ok::<(), FormatError>(())
        });
        assert!(ok.is_ok(), "the digest is the sink's to check");
        let err = split_objects(&mut &b"alphaX"[..], &list, |_, _, _| {
            Ok::<(), FormatError>(())
        })
        .expect_err("trailing");
        assert_eq!(err, FormatError::TrailingData("last object"));
    }

    #[test]
    fn vector_digest_mismatch_is_refused_even_if_the_sink_reads_nothing() {
        let list = entries(&[b"alpha"]);
        let err = read_objects(&mut &b"alphx"[..], &list, |_, _, _| {
            Ok::<(), FormatError>(())
        })
        .expect_err("mismatch");
        assert!(
            matches!(err, FormatError::DigestMismatch { index: 1, .. }),
            "{err}"
        );
    }
}
