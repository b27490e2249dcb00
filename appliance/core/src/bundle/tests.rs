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
