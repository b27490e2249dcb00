//! The plaintext framing of a bundle: the decrypted trailer (magic, version,
//! manifest length, manifest JSON, signature) through `read_trailer`, which
//! also runs `Manifest::check`; the footer; the leader; the bound on an age
//! header that runs before age parses one.
//!
//! The input is used twice: as a whole trailer, and as the manifest JSON
//! inside a well-formed frame. Random bytes almost never carry the right
//! length field and signature, so without the second use the JSON parser and
//! the manifest's structural checks would be reached only from the seeds.

#![no_main]

use airlock_core::bundle::{
    self as format, FOOTER_LEN, Footer, LEADER_LEN, MAX_AGE_HEADER, MAX_MANIFEST, SignedManifest,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = format::read_trailer(&mut &data[..]) {
        accepted(&signed);
    }

    if u32::try_from(data.len()).is_ok_and(|len| (1..=MAX_MANIFEST).contains(&len)) {
        let framed = frame(data);
        if let Ok(signed) = format::read_trailer(&mut &framed[..]) {
            // The signed bytes are exactly the bytes in the frame.
            assert_eq!(signed.bytes, data);
            accepted(&signed);
        }
    }

    let footer = &data[data.len().saturating_sub(FOOTER_LEN as usize)..];
    if let Ok(f) = Footer::parse(footer, data.len() as u64) {
        let sum = f
            .payload_len
            .checked_add(f.trailer_len)
            .and_then(|s| s.checked_add(FOOTER_LEN));
        assert_eq!(sum, Some(data.len() as u64), "{f:?}");
        assert!(f.payload_len > LEADER_LEN, "{f:?}");
        assert_eq!(Footer::parse(&f.to_bytes(), data.len() as u64), Ok(f));
    }

    let _ = format::check_leader(&data[..data.len().min(LEADER_LEN as usize)]);

    if let Ok(len) = format::check_age_header(data) {
        // The header age will be given lies inside the bounded window and
        // ends at a line's end.
        assert!(len <= data.len().min(MAX_AGE_HEADER), "{len}");
        assert!(data[..len].ends_with(b"\n"));
        assert!(data.starts_with(b"age-encryption.org/v1\n"));
    }
});

/// The trailer plaintext around `manifest`, with a dummy signature (nothing
/// here verifies it).
fn frame(manifest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(manifest.len() + 78);
    // Cannot fail: the length is checked by the caller and a Vec takes all.
    let _ = format::write_trailer(&mut out, manifest, &[0u8; 64]);
    out
}

/// What a manifest that passed `read_trailer` promises the importer.
fn accepted(signed: &SignedManifest) {
    let m = &signed.manifest;
    assert_eq!(signed.signature.len(), 128);
    // `object_bytes` sums without overflow checks: the size limits in
    // `Manifest::check` must keep it in range.
    let total = m.object_bytes();
    assert!(m.payload.size >= total, "{total} > {}", m.payload.size);
    // Every payload offset falls in a listed part.
    for at in [0, m.payload.size / 2, m.payload.size - 1] {
        assert!(m.payload.part_at(at) < m.payload.parts.len(), "offset {at}");
    }
    // What was accepted is accepted again after re-encoding, unchanged:
    // the parsed types hold nothing that serialises differently.
    let json = serde_json::to_vec(m).expect("a parsed manifest serialises");
    if json.len() <= MAX_MANIFEST as usize {
        let again = format::read_trailer(&mut &frame(&json)[..]).expect("re-encoded manifest");
        assert_eq!(&again.manifest, m);
    }
}
