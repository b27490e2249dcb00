//! `airlock vault verify`: a missing, corrupt or unreferenced vault file is
//! named; an intact vault passes.

use std::fs;
use std::path::{Path, PathBuf};

use crate::harness::{World, fails, ok};

fn vault_files(home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for shard in fs::read_dir(home.join("vault/objects")).unwrap() {
        for f in fs::read_dir(shard.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out.sort();
    out
}

fn id_of(file: &Path) -> String {
    file.file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".age")
        .to_string()
}

#[test]
fn vault_verify_names_missing_corrupt_and_unreferenced_objects() {
    let w = World::new();
    let plant = w.plant();
    let out = ok(&plant, &["vault", "verify"]);
    assert!(out.contains("0 problem(s)"), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(&plant, &["--json", "vault", "verify"])).unwrap();
    assert_eq!(v["indexed"], v["intact"]);
    assert!(v["indexed"].as_u64().unwrap() >= 7, "{v}");

    let files = vault_files(&plant);
    // One byte flipped inside the age payload.
    let corrupt = &files[0];
    let mut bytes = fs::read(corrupt).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 1;
    fs::write(corrupt, bytes).unwrap();
    // One removed.
    let missing = &files[1];
    fs::remove_file(missing).unwrap();
    // One file no row references (an object's bytes under another address).
    let stray_id = "ab".repeat(32);
    let stray = plant
        .join("vault/objects/ab")
        .join(format!("{stray_id}.age"));
    fs::create_dir_all(stray.parent().unwrap()).unwrap();
    fs::copy(&files[2], &stray).unwrap();
    // A file that is not an object at all, directly under objects/.
    fs::write(plant.join("vault/objects/notes.txt"), b"hello").unwrap();

    let err = fails(
        &plant,
        &["vault", "verify"],
        4,
        &["vault verify found 4 problem(s)"],
    );
    let out = String::from_utf8(crate::harness::run(&plant, &["--json", "vault", "verify"]).stdout)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let problems: Vec<(String, String)> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["problem"].as_str().unwrap().to_string(),
                p["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        problems.contains(&("corrupt".into(), id_of(corrupt))),
        "{problems:?}\n{err}"
    );
    assert!(
        problems.contains(&("missing".into(), id_of(missing))),
        "{problems:?}"
    );
    assert!(
        problems.contains(&("unreferenced".into(), stray_id)),
        "{problems:?}"
    );
    assert!(
        problems.contains(&("unexpected".into(), "notes.txt".into())),
        "{problems:?}"
    );
    assert_eq!(problems.len(), 4, "{problems:?}");
}
