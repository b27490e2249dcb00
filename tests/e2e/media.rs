//! Bundles on media: split into parts, found from the first part, checked
//! with `bundle verify`; a damaged, short, missing or linked part is named.

use std::fs;
use std::path::{Path, PathBuf};

use crate::harness::{World, assert_refused, fails, fingerprint, ok, store_fingerprint};

/// Exports the demo model with its data from lab to plant in 64 KiB parts.
fn split_bundle(w: &World, name: &str) -> Vec<PathBuf> {
    let base = w.media(name);
    let out = ok(
        &w.lab(),
        &[
            "--json",
            "bundle",
            "export",
            "--with-data",
            "--split",
            "64K",
            "--to",
            &w.m("plant.card.json"),
            "--out",
            &base.display().to_string(),
            &w.model(),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let files: Vec<PathBuf> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| PathBuf::from(f.as_str().unwrap()))
        .collect();
    assert!(
        files.len() >= 3,
        "a split bundle of several parts: {files:?}"
    );
    assert!(
        !base.exists(),
        "with --split only numbered parts are written"
    );
    for (i, f) in files.iter().enumerate() {
        assert_eq!(f, &w.media(&format!("{name}.{:03}", i + 1)));
        let len = fs::metadata(f).unwrap().len();
        if i + 1 < files.len() {
            assert_eq!(
                len,
                64 << 10,
                "every part but the last is exactly the split size"
            );
        } else {
            assert!(len <= 64 << 10);
        }
    }
    files
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn split_bundle_is_verified_then_imported_from_its_first_part() {
    let w = World::new();
    let files = split_bundle(&w, "split.airlock");
    let before = fingerprint(&w.plant());
    let out = ok(&w.plant(), &["bundle", "verify", &s(&files[0])]);
    assert!(out.contains("it would be accepted"), "{out}");
    assert!(
        out.contains(&format!("{} part(s)", files.len())),
        "{out} {files:?}"
    );
    assert_eq!(fingerprint(&w.plant()), before, "verify writes nothing");
    let shown = ok(&w.plant(), &["bundle", "inspect", &s(&files[0])]);
    assert!(
        shown.contains(&format!("{} part(s)", files.len())),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.trim_start().starts_with("snapshot")),
        "{shown}"
    );
    // The base name finds the parts too.
    let out = ok(
        &w.plant(),
        &["bundle", "import", &s(&w.media("split.airlock"))],
    );
    assert!(out.contains("(sequence 2) from site lab"), "{out}");
}

#[test]
fn a_damaged_part_is_named_so_it_can_be_copied_again() {
    let w = World::new();
    let files = split_bundle(&w, "split.airlock");
    let mut bytes = fs::read(&files[1]).unwrap();
    bytes[1000] ^= 0x40;
    fs::write(&files[1], &bytes).unwrap();
    let before = store_fingerprint(&w.plant());
    let needle = format!("part 2 ({}) is damaged", s(&files[1]));
    fails(
        &w.plant(),
        &["bundle", "verify", &s(&files[0])],
        4,
        &[&needle, "copy it again"],
    );
    fails(
        &w.plant(),
        &["bundle", "import", &s(&files[0])],
        4,
        &[&needle],
    );
    assert_refused(&w.plant(), &before, "bundle.import_refused", &needle);
}

#[test]
fn a_short_missing_or_linked_part_is_named() {
    let w = World::new();
    let files = split_bundle(&w, "split.airlock");
    let first = s(&files[0]);
    let keep = fs::read(&files[1]).unwrap();

    // Cut short while copying.
    fs::write(&files[1], &keep[..keep.len() - 10]).unwrap();
    fails(
        &w.plant(),
        &["bundle", "import", &first],
        4,
        &[&format!("part 2 ({})", s(&files[1]))],
    );

    // Missing in the middle.
    fs::remove_file(&files[1]).unwrap();
    fails(
        &w.plant(),
        &["bundle", "import", &first],
        6,
        &["part 2", "is missing"],
    );

    // The last part missing.
    fs::write(&files[1], &keep).unwrap();
    let last = files.last().unwrap();
    let last_bytes = fs::read(last).unwrap();
    fs::remove_file(last).unwrap();
    fails(
        &w.plant(),
        &["bundle", "import", &first],
        4,
        &["a later part is missing"],
    );
    fs::write(last, &last_bytes).unwrap();

    // A symbolic link where a part should be.
    let elsewhere = w.media("elsewhere");
    fs::rename(&files[1], &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &files[1]).unwrap();
    fails(
        &w.plant(),
        &["bundle", "import", &first],
        5,
        &["is a symbolic link"],
    );
    fs::remove_file(&files[1]).unwrap();
    fs::rename(&elsewhere, &files[1]).unwrap();

    // Whole again, it imports.
    ok(&w.plant(), &["bundle", "import", &first]);
}

#[test]
fn export_refuses_to_overwrite_and_records_the_refusal() {
    let w = World::new();
    let taken = w.media("lab-to-plant.airlock");
    let before = store_fingerprint(&w.lab());
    fails(
        &w.lab(),
        &[
            "bundle",
            "export",
            "--to",
            &w.m("plant.card.json"),
            "--out",
            &s(&taken),
            &w.model(),
        ],
        5,
        &["already exists"],
    );
    assert_refused(&w.lab(), &before, "bundle.export_refused", "already exists");
    fails(
        &w.lab(),
        &[
            "bundle",
            "export",
            "--split",
            "1K",
            "--to",
            &w.m("plant.card.json"),
            "--out",
            &s(&w.media("x")),
            &w.model(),
        ],
        3,
        &["at least 65536 bytes"],
    );
}
