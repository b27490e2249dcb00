//! Tests of the import state machine's parts.

use super::document::parse_document;
use super::*;
use crate::ops::ingest;
use crate::vault::registry::Kind;

/// A refused part names the bundle and the part and keeps its cause (so
/// the exit code stays the cause's); an I/O failure is not the bundle's
/// and passes unchanged.
#[test]
fn a_refused_part_keeps_its_cause_and_names_the_part() {
    let e = prefix(
        "b.airlock",
        BundlePart::Signature { index: 2 },
        Error::Integrity("object 2 signature does not verify".into()),
    );
    match &e {
        Error::Bundle { file, part, cause } => {
            assert_eq!(file, "b.airlock");
            assert_eq!(*part, BundlePart::Signature { index: 2 });
            assert!(matches!(**cause, Error::Integrity(_)), "{cause:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "bundle rejected: b.airlock: object 2 signature does not verify"
    );
    assert_eq!(e.exit_code(), crate::error::exit::INTEGRITY);
    let io = prefix(
        "b.airlock",
        BundlePart::Policies,
        Error::io("/x", io::Error::other("disk")),
    );
    assert!(matches!(io, Error::Io { .. }), "{io:?}");
}

#[test]
fn a_dataset_row_count_the_store_cannot_hold_is_refused_at_parse() {
    let doc = |rows: u64| DatasetDoc {
        ty: ingest::DATASET_TYPE.into(),
        site: "lab".parse().expect("site"),
        name: "credit".into(),
        version: 1,
        contract: Digest::of(b"contract"),
        snapshot: Digest::of(b"snapshot"),
        snapshot_size: 10,
        format: ingest::Format::Csv,
        rows,
        source: "credit.csv".into(),
        created_at: Timestamp(1_000),
        profile: None,
        ignored: Vec::new(),
        renamed: Vec::new(),
    };
    let atts = [registry::Attestation {
        site: "lab".parse().expect("site"),
        key_id: "0123456789abcdef".into(),
        signature: "s".into(),
    }];
    let parse = |rows: u64| {
        let bytes = serde_json::to_vec(&doc(rows)).expect("json");
        let e = Entry {
            id: Digest::of(&bytes),
            kind: Kind::Dataset,
            size: bytes.len() as u64,
            attestations: Vec::new(),
        };
        parse_document("b.airlock", &e, &bytes, &atts, Mode::Check)
    };
    assert!(parse(i64::MAX as u64).is_ok(), "the largest storable count");
    let Err(err) = parse(u64::MAX) else {
        panic!("2^64 - 1 rows accepted")
    };
    assert!(
        err.to_string()
            .contains("claims 18446744073709551615 rows, above 9223372036854775807"),
        "{err}"
    );
}
