//! `kill -9` at each step of an import and an export: the store is left as
//! it was (or, after the commit, whole with the import), the staging area
//! is cleaned at the next start, and that clean-up is in the audit log.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use crate::harness::{World, audit_count, bin, fails, last_audit, ok, store_fingerprint};

/// Runs `airlock --home HOME ARGS` with the failpoint `point` armed and
/// requires that it died of SIGKILL.
fn killed_at(home: &Path, point: &str, args: &[&str]) {
    let out = Command::new(bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .env("AIRLOCK_FAILPOINT", point)
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{point}: expected death by SIGKILL, got {:?}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn staging_is_empty(home: &Path) -> bool {
    std::fs::read_dir(home.join("vault/tmp"))
        .unwrap()
        .next()
        .is_none()
}

/// A bundle with an object plant does not hold yet (the raw snapshot), so
/// an import killed after moving objects into the vault leaves an orphan.
fn bundle_with_new_objects(w: &World) -> String {
    let f = w.export(
        &w.lab(),
        "plant",
        "with-data.airlock",
        &["--with-data", &w.model()],
    );
    f.display().to_string()
}

#[test]
fn import_killed_before_its_commit_leaves_the_store_as_it_was() {
    let w = World::new();
    let file = bundle_with_new_objects(&w);
    let before = store_fingerprint(&w.plant());
    for point in [
        "import.verified",
        "import.staged",
        "import.rows",
        "import.placed",
    ] {
        let records = audit_count(&w.plant());
        killed_at(&w.plant(), point, &["bundle", "import", &file]);
        // The next command, any command, cleans up first.
        ok(&w.plant(), &["audit", "verify"]);
        assert!(
            staging_is_empty(&w.plant()),
            "{point}: staging area not cleaned"
        );
        assert_eq!(
            store_fingerprint(&w.plant()),
            before,
            "{point}: the store changed"
        );
        if point == "import.verified" {
            assert_eq!(
                audit_count(&w.plant()),
                records,
                "nothing to clean, nothing recorded"
            );
            continue;
        }
        assert_eq!(
            audit_count(&w.plant()),
            records + 1,
            "{point}: one clean-up record"
        );
        let (action, details) = last_audit(&w.plant());
        assert_eq!(action, "home.recover", "{point}: {details}");
        let orphans = details["orphan_objects_removed"].as_u64().unwrap();
        if point == "import.placed" {
            assert!(
                orphans >= 1,
                "the snapshot moved into the vault is removed: {details}"
            );
        } else {
            assert_eq!(orphans, 0, "{point}: {details}");
            assert!(
                details["temp_files_removed"].as_u64().unwrap() >= 1,
                "{details}"
            );
        }
    }
    // Nothing was consumed: the same bundle imports now.
    let out = ok(&w.plant(), &["bundle", "import", &file]);
    assert!(out.contains("(sequence 2) from site lab"), "{out}");
}

#[test]
fn import_killed_after_its_commit_is_whole() {
    let w = World::new();
    let file = bundle_with_new_objects(&w);
    killed_at(&w.plant(), "import.committed", &["bundle", "import", &file]);
    ok(&w.plant(), &["audit", "verify"]);
    assert!(staging_is_empty(&w.plant()));
    fails(
        &w.plant(),
        &["bundle", "import", &file],
        5,
        &["replay or rollback"],
    );
    let shown = ok(&w.plant(), &["models", "show", &w.model()]);
    assert!(shown.contains(&w.model()[..12]), "{shown}");
}

#[test]
fn export_killed_before_its_commit_leaves_no_bundle_and_no_record() {
    let w = World::new();
    let out = w.media("killed.airlock");
    let before = store_fingerprint(&w.lab());
    killed_at(
        &w.lab(),
        "export.written",
        &[
            "bundle",
            "export",
            "--to",
            &w.m("plant.card.json"),
            "--out",
            &out.display().to_string(),
            &w.model(),
        ],
    );
    assert!(!out.exists(), "no bundle under its real name");
    ok(&w.lab(), &["audit", "verify"]);
    assert_eq!(
        store_fingerprint(&w.lab()),
        before,
        "the sequence was not consumed"
    );
    // The export works afterwards, with the next sequence number.
    let again = w.fresh_bundle("again.airlock");
    let shown = ok(
        &w.plant(),
        &["bundle", "inspect", &again.display().to_string()],
    );
    assert!(shown.contains("sequence 2 (new)"), "{shown}");
}
