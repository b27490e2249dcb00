use crate::harness::{World, fails, ok};

fn db(home: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(home.join("store.db")).unwrap()
}

#[test]
fn intact_audit_logs_verify() {
    let w = World::new();
    let out = ok(&w.lab(), &["audit", "verify"]);
    assert!(out.contains("audit log intact: 8 records"), "{out}");
    let log = ok(&w.lab(), &["--json", "audit", "log"]);
    let v: serde_json::Value = serde_json::from_str(&log).unwrap();
    let actions: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        v[0]["id"], 1,
        "every JSON object carries its identifier as id"
    );
    assert_eq!(
        actions,
        [
            "home.init",
            "trust.add",
            "data.ingest",
            "features.apply",
            "model.train",
            "model.gate",
            "model.approve",
            "bundle.export"
        ]
    );
    let plant = ok(&w.plant(), &["audit", "verify"]);
    assert!(plant.contains("4 records"), "{plant}");
}

#[test]
fn edited_audit_record_is_named() {
    let w = World::new();
    db(&w.lab())
        .execute(
            "UPDATE audit SET details = replace(details, 'Dana', 'Mallory') WHERE seq = 7",
            [],
        )
        .unwrap();
    fails(
        &w.lab(),
        &["audit", "verify"],
        4,
        &[
            "audit log broken at record 7 (model.approve)",
            "the record was changed",
        ],
    );
}

#[test]
fn deleted_audit_record_is_named() {
    let w = World::new();
    db(&w.lab())
        .execute("DELETE FROM audit WHERE seq = 4", [])
        .unwrap();
    fails(
        &w.lab(),
        &["audit", "verify"],
        4,
        &["audit log broken at record 5", "removed or reordered"],
    );
}

#[test]
fn reordered_audit_records_are_named() {
    let w = World::new();
    let c = db(&w.lab());
    c.execute("UPDATE audit SET seq = -1 WHERE seq = 5", [])
        .unwrap();
    c.execute("UPDATE audit SET seq = 5 WHERE seq = 6", [])
        .unwrap();
    c.execute("UPDATE audit SET seq = 6 WHERE seq = -1", [])
        .unwrap();
    fails(
        &w.lab(),
        &["audit", "verify"],
        4,
        &["audit log broken at record 5"],
    );
}

#[test]
fn audit_record_with_a_forged_signature_is_named() {
    let w = World::new();
    // Without the site key, a record's signature cannot be made to verify.
    let c = db(&w.lab());
    let old: String = c
        .query_row("SELECT signature FROM audit WHERE seq = 3", [], |r| {
            r.get(0)
        })
        .unwrap();
    c.execute("UPDATE audit SET signature = substr(signature, 3) || substr(signature, 1, 2) WHERE seq = 3", []).unwrap();
    let new: String = c
        .query_row("SELECT signature FROM audit WHERE seq = 3", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_ne!(old, new);
    fails(
        &w.lab(),
        &["audit", "verify"],
        4,
        &["audit log broken at record 3", "signature"],
    );
}

fn actions(home: &std::path::Path, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["--json", "audit", "log"];
    args.extend_from_slice(filters);
    let v: serde_json::Value = serde_json::from_str(&ok(home, &args)).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn audit_log_filters_by_action_actor_and_time() {
    let w = World::new();
    let lab = w.lab();
    assert_eq!(
        actions(&lab, &["--action", "model.*"]),
        ["model.train", "model.gate", "model.approve"]
    );
    assert_eq!(
        actions(&lab, &["--action", "bundle.export"]),
        ["bundle.export"]
    );
    assert!(
        actions(&lab, &["--action", "bundle"]).is_empty(),
        "an exact name without *"
    );
    let key: serde_json::Value = serde_json::from_str(&ok(
        &lab,
        &["--json", "audit", "log", "--action", "home.init"],
    ))
    .unwrap();
    let actor = key[0]["actor"].as_str().unwrap().to_string();
    assert_eq!(actions(&lab, &["--actor", &actor[..6]]).len(), 8);
    assert!(actions(&lab, &["--actor", "ffffffffffffffff"]).is_empty());
    assert_eq!(actions(&lab, &["--since", "2000-01-01"]).len(), 8);
    assert!(actions(&lab, &["--since", "2999-01-01T00:00:00Z"]).is_empty());
    fails(
        &lab,
        &["audit", "log", "--since", "yesterday"],
        3,
        &["--since \"yesterday\""],
    );
}
