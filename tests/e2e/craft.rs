//! Crafting hostile bundles for the named test vectors: open a genuine
//! bundle with the recipient's keys, change what an attacker (or a broken
//! origin) would change, and seal it again, signed by whichever key the
//! attack has, or keeping the original signed manifest bytes.

use std::io::{BufReader, Read, Write};
use std::iter;
use std::path::Path;

use airlock::bundle::format::{self, Footer, Manifest};
use airlock::bundle::media::{Parts, PartsWriter, PayloadReader};
use airlock::node::time::{Now, Timestamp};
use airlock::trust::keys::{AgeRecipient, Domain, SiteKeys};
use airlock::vault::registry::{self, Attestation, Kind};

/// A bundle opened with the recipient's keys.
pub struct Unsealed {
    /// The manifest as signed.
    pub manifest: Manifest,
    /// The exact signed bytes and the signature.
    pub signed: (Vec<u8>, [u8; 64]),
    /// Each object's bytes, in manifest order.
    pub objects: Vec<Vec<u8>>,
}

/// The keys of the home at `home`.
pub fn keys_of(home: &Path) -> SiteKeys {
    SiteKeys::load(&home.join("keys")).unwrap()
}

/// Opens `bundle` with the keys of the home `recipient`.
pub fn unseal(bundle: &Path, recipient: &Path) -> Unsealed {
    let keys = keys_of(recipient);
    let parts = Parts::discover(bundle).unwrap();
    let mut end = [0u8; 24];
    parts.read_exact_at(parts.total - 24, &mut end).unwrap();
    let footer = Footer::parse(&end, parts.total).unwrap();
    let mut trailer = vec![0u8; footer.trailer_len as usize];
    parts
        .read_exact_at(footer.payload_len, &mut trailer)
        .unwrap();
    let mut r = age::Decryptor::new(&trailer[..])
        .unwrap()
        .decrypt(iter::once(keys.age_identity() as &dyn age::Identity))
        .unwrap();
    let sm = format::read_trailer(&mut r).unwrap();
    let mut checked = PayloadReader::new(&parts, &sm.manifest.payload);
    checked.read_exact(&mut [0u8; 16]).unwrap();
    let mut body = age::Decryptor::new_buffered(BufReader::new(&mut checked))
        .unwrap()
        .decrypt(iter::once(keys.age_identity() as &dyn age::Identity))
        .unwrap();
    let mut objects = Vec::new();
    format::read_objects(&mut body, &sm.manifest.objects, |_, _, r| {
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        objects.push(v);
        Ok::<(), format::FormatError>(())
    })
    .unwrap();
    let mut sig = [0u8; 64];
    hex::decode_to_slice(&sm.signature, &mut sig).unwrap();
    Unsealed {
        manifest: sm.manifest,
        signed: (sm.bytes, sig),
        objects,
    }
}

/// Who signs the sealed manifest.
pub enum Signer<'a> {
    /// Sign the (changed) manifest with this home's site key.
    Key(&'a Path),
    /// Keep the original signed bytes: the attacker has no signing key.
    Keep,
    /// Sign with this home's site key the manifest as JSON, changed by the
    /// function first (a field the format does not have, say).
    KeyEdited(&'a Path, fn(&mut serde_json::Value)),
}

/// Seals `u` to the home `recipient`'s age key into `out`: the objects
/// (`body` if given, else the objects concatenated) as the body, and the
/// manifest with its payload recomputed, signed as `signer` says.
pub fn seal(u: &Unsealed, body: Option<&[u8]>, recipient: &Path, signer: Signer<'_>, out: &Path) {
    let to = keys_of(recipient).public().recipient().unwrap();
    let mut w = PartsWriter::create(out, None).unwrap();
    format::write_leader(&mut w).unwrap();
    let enc = age::Encryptor::with_recipients(iter::once(&to as _)).unwrap();
    let mut sealed = enc.wrap_output(&mut w).unwrap();
    match body {
        Some(b) => sealed.write_all(b).unwrap(),
        None => {
            for o in &u.objects {
                sealed.write_all(o).unwrap();
            }
        }
    }
    sealed.finish().unwrap();
    let payload = w.end_payload();
    let (bytes, sig) = match signer {
        Signer::Keep => u.signed.clone(),
        Signer::Key(home) => {
            let mut m = u.manifest.clone();
            m.payload = payload;
            let bytes = serde_json::to_vec(&m).unwrap();
            let mut sig = [0u8; 64];
            hex::decode_to_slice(keys_of(home).sign(Domain::Manifest, &bytes), &mut sig).unwrap();
            (bytes, sig)
        }
        Signer::KeyEdited(home, edit) => {
            let mut m = u.manifest.clone();
            m.payload = payload;
            let mut v = serde_json::to_value(&m).unwrap();
            edit(&mut v);
            let bytes = serde_json::to_vec(&v).unwrap();
            let mut sig = [0u8; 64];
            hex::decode_to_slice(keys_of(home).sign(Domain::Manifest, &bytes), &mut sig).unwrap();
            (bytes, sig)
        }
    };
    let enc = age::Encryptor::with_recipients(iter::once(&to as _)).unwrap();
    let mut t = enc.wrap_output(Vec::new()).unwrap();
    format::write_trailer(&mut t, &bytes, &sig).unwrap();
    let trailer = t.finish().unwrap();
    w.write_all(&trailer).unwrap();
    let payload_len = w.written() - trailer.len() as u64;
    w.write_all(
        &Footer {
            payload_len,
            trailer_len: trailer.len() as u64,
        }
        .to_bytes(),
    )
    .unwrap();
    w.finish().unwrap().persist().unwrap();
}

/// An attestation of (kind, id) by the home `signer` as site `site`.
pub fn attest(signer: &Path, site: &str, kind: Kind, id: &airlock::digest::Digest) -> Attestation {
    let keys = keys_of(signer);
    Attestation {
        site: site.parse().unwrap(),
        key_id: keys.key_id().to_string(),
        signature: keys.sign(Domain::Artifact, &registry::statement(kind, id)),
    }
}

/// Now plus `days` (negative: in the past).
pub fn days_from_now(days: i64) -> Timestamp {
    Timestamp(Timestamp::now().0 + days * 86_400)
}
