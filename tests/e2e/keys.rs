use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::harness::{World, fails, fingerprint, ok};

#[test]
fn missing_key_file_is_named() {
    let w = World::new();
    fs::remove_file(w.plant().join("keys/site.age")).unwrap();
    fails(
        &w.plant(),
        &["models", "list"],
        7,
        &["keys/site.age", "missing"],
    );
}

#[test]
fn another_sites_key_file_is_refused() {
    let w = World::new();
    let before = fingerprint(&w.plant());
    fs::copy(
        w.lab().join("keys/site.ed25519"),
        w.plant().join("keys/site.ed25519"),
    )
    .unwrap();
    fails(
        &w.plant(),
        &["data", "list"],
        7,
        &["site.ed25519", "is not this home's site key"],
    );
    fs::copy(
        w.lab().join("keys/site.age"),
        w.plant().join("keys/site.age"),
    )
    .unwrap();
    fails(
        &w.plant(),
        &["data", "list"],
        7,
        &["is not this home's site key"],
    );
    assert_eq!(fingerprint(&w.plant()), before);
}

#[test]
fn corrupt_key_file_is_refused() {
    let w = World::new();
    fs::write(
        w.plant().join("keys/site.ed25519"),
        "AIRLOCK-ED25519-SECRET-KEY-1:zz\n",
    )
    .unwrap();
    fails(
        &w.plant(),
        &["models", "list"],
        7,
        &["site.ed25519", "not an Airlock ed25519 signing key"],
    );
}

#[test]
fn key_file_readable_by_others_is_refused() {
    let w = World::new();
    let k = w.plant().join("keys/site.age");
    fs::set_permissions(&k, fs::Permissions::from_mode(0o644)).unwrap();
    fails(
        &w.plant(),
        &["models", "list"],
        7,
        &["mode 0644", "chmod 0600"],
    );
    fs::set_permissions(&k, fs::Permissions::from_mode(0o600)).unwrap();
    ok(&w.plant(), &["models", "list"]);
}

#[test]
fn init_creates_private_files_and_refuses_an_existing_home() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    ok(&home, &["init", "--site", "alpha"]);
    for (p, mode) in [
        ("", 0o700),
        ("keys", 0o700),
        ("keys/site.ed25519", 0o600),
        ("keys/site.age", 0o600),
    ] {
        let m = fs::metadata(home.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, mode, "{p} has mode {m:o}");
    }
    let before = fingerprint(&home);
    fails(
        &home,
        &["init", "--site", "alpha"],
        5,
        &["refusing to overwrite an existing home"],
    );
    assert_eq!(fingerprint(&home), before);
    fails(
        &dir.path().join("x"),
        &["init", "--site", "Bad Name"],
        3,
        &["site name"],
    );
    let card = dir.path().join("alpha.card.json");
    ok(
        &home,
        &["site", "card", "--out", &card.display().to_string()],
    );
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&card).unwrap()).unwrap();
    assert_eq!(v["site"], "alpha");
    let text = fs::read_to_string(&card).unwrap();
    assert!(
        !text.contains("SECRET"),
        "a card must never carry a secret key"
    );
}

#[test]
fn trust_anchors_swapped_in_the_store_are_refused() {
    let w = World::new();
    let rogue = w.add_site("rogue");
    let rogue_key = hex::encode(crate::craft::keys_of(&rogue).public().signing.as_bytes());
    // A peer's key swapped under its key id.
    let conn = rusqlite::Connection::open(w.plant().join("store.db")).unwrap();
    conn.execute(
        "UPDATE trusted_sites SET signing_key = ?1 WHERE site = 'lab'",
        [&rogue_key],
    )
    .unwrap();
    fails(
        &w.plant(),
        &["lineage", &w.model()],
        4,
        &["does not match its key id"],
    );
    // Import looks up the origin's key through the same check.
    let b = w.fresh_bundle("fresh.airlock");
    fails(
        &w.plant(),
        &["bundle", "import", &b.display().to_string()],
        4,
        &["does not match its key id"],
    );
    // The node's own key swapped in its metadata.
    let conn = rusqlite::Connection::open(w.lab().join("store.db")).unwrap();
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'signing_key'",
        [&rogue_key],
    )
    .unwrap();
    fails(
        &w.lab(),
        &["models", "list"],
        4,
        &["is not this home's key file"],
    );
}
