use crate::harness::{World, fails, ok};

fn db(home: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(home.join("store.db")).unwrap()
}

#[test]
fn intact_audit_logs_verify() {
    let w = World::new();
    let out = ok(&w.lab(), &["audit", "verify"]);
    assert!(out.contains("audit log intact: 10 records"), "{out}");
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
            "operator.create",
            "contract.apply",
            "data.ingest",
            "features.apply",
            "model.train",
            "model.gate",
            "model.approve",
            "bundle.export"
        ]
    );
    let plant = ok(&w.plant(), &["audit", "verify"]);
    assert!(plant.contains("6 records"), "{plant}");
}

#[test]
fn edited_audit_record_is_named() {
    let w = World::new();
    db(&w.lab())
        .execute(
            "UPDATE audit SET details = replace(details, 'dana', 'mallory') WHERE seq = 9",
            [],
        )
        .unwrap();
    fails(
        &w.lab(),
        &["audit", "verify"],
        4,
        &[
            "audit log broken at record 9 (model.approve)",
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
    // Every record but the approval, whose actor is operator dana.
    assert_eq!(actions(&lab, &["--actor", &actor[..6]]).len(), 9);
    let ops: serde_json::Value =
        serde_json::from_str(&ok(&lab, &["--json", "keys", "operator", "list"])).unwrap();
    let dana = ops[0]["key_id"].as_str().unwrap();
    assert_eq!(actions(&lab, &["--actor", dana]), ["model.approve"]);
    assert!(actions(&lab, &["--actor", "ffffffffffffffff"]).is_empty());
    assert_eq!(actions(&lab, &["--since", "2000-01-01"]).len(), 10);
    assert!(actions(&lab, &["--since", "2999-01-01T00:00:00Z"]).is_empty());
    fails(
        &lab,
        &["audit", "log", "--since", "yesterday"],
        3,
        &["--since \"yesterday\""],
    );
}

#[test]
fn truncating_the_newest_records_is_caught_by_the_signed_checkpoint() {
    let w = World::new();
    let lab = w.lab();
    let out = ok(&lab, &["audit", "verify"]);
    assert!(out.contains("signed checkpoint at record 10"), "{out}");
    // Remove the newest two records: the chain alone still verifies (a
    // shorter intact log), the checkpoint outside the store does not agree.
    db(&lab)
        .execute("DELETE FROM audit WHERE seq > 6", [])
        .unwrap();
    fails(
        &lab,
        &["audit", "verify"],
        4,
        &[
            "audit log truncated: it ends at record 6, but the signed checkpoint says record 10 existed",
        ],
    );
}

#[test]
fn a_checkpoint_forged_with_another_key_or_removed_is_refused() {
    let w = World::new();
    let lab = w.lab();
    let path = lab.join("audit.head");
    let genuine = std::fs::read(&path).unwrap();
    let mut c: serde_json::Value = serde_json::from_slice(&genuine).unwrap();
    // Signed by another site's key over the same statement.
    let rogue = w.add_site("rogue");
    let keys = crate::craft::keys_of(&rogue);
    let seq = c["seq"].as_i64().unwrap();
    let hash = c["hash"].as_str().unwrap().to_string();
    c["signature"] = serde_json::json!(keys.sign(
        airlock::trust::keys::Domain::Audit,
        &airlock::store::audit::Checkpoint::statement(seq, &hash)
    ));
    std::fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
    fails(
        &lab,
        &["audit", "verify"],
        4,
        &["is not signed by the site key; it was forged"],
    );
    std::fs::remove_file(&path).unwrap();
    fails(
        &lab,
        &["audit", "verify"],
        4,
        &["signed audit checkpoint", "is missing"],
    );
}

#[test]
fn later_commands_do_not_paper_over_a_truncation() {
    let w = World::new();
    let lab = w.lab();
    db(&lab)
        .execute("DELETE FROM audit WHERE seq > 6", [])
        .unwrap();
    // Commands that append new records (four trust additions) regrow the
    // log past the checkpoint's record number; the checkpoint is not
    // replaced, so verify still names the truncation.
    for name in ["s1", "s2", "s3", "s4"] {
        w.add_site(name);
        let out = crate::harness::run(&lab, &["trust", "add", &w.m(&format!("{name}.card.json"))]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no longer matches its signed checkpoint"),
            "{err}"
        );
    }
    fails(
        &lab,
        &["audit", "verify"],
        4,
        &["differs from the signed checkpoint"],
    );
}

#[test]
fn a_planted_checkpoint_is_never_moved_forward_over_a_truncation() {
    let w = World::new();
    let lab = w.lab();
    db(&lab)
        .execute("DELETE FROM audit WHERE seq > 6", [])
        .unwrap();
    // An unsigned checkpoint at record 1, whose hash does match the log.
    let first: String = db(&lab)
        .query_row("SELECT hash FROM audit WHERE seq = 1", [], |r| r.get(0))
        .unwrap();
    let planted = serde_json::json!({ "seq": 1, "hash": first, "signature": "" });
    std::fs::write(lab.join("audit.head"), planted.to_string()).unwrap();
    ok(&lab, &["models", "list"]);
    fails(
        &lab,
        &["audit", "verify"],
        4,
        &["not signed by the site key"],
    );
    fails(
        &lab,
        &["audit", "verify"],
        4,
        &["not signed by the site key"],
    );
}

#[test]
fn a_home_without_a_checkpoint_adopts_one_on_record() {
    let w = World::new();
    let lab = w.lab();
    std::fs::remove_file(lab.join("audit.head")).unwrap();
    fails(&lab, &["audit", "verify"], 4, &["is missing"]);
    let out = ok(&lab, &["audit", "adopt-checkpoint"]);
    assert!(
        out.contains("signed a first audit checkpoint at record 11"),
        "{out}"
    );
    let out = ok(&lab, &["audit", "verify"]);
    assert!(out.contains("signed checkpoint at record 11"), "{out}");
    assert_eq!(
        actions(&lab, &["--action", "audit.*"]),
        ["audit.checkpoint_adopted"]
    );
    fails(
        &lab,
        &["audit", "adopt-checkpoint"],
        5,
        &["is never replaced"],
    );
}

#[test]
fn an_exported_audit_log_verifies_elsewhere_with_only_the_site_card() {
    let w = World::new();
    let lab = w.lab();
    // The auditor's node knows lab only by its card: no trust add.
    let auditor = w.add_site("auditor");
    ok(&lab, &["trust", "add", &w.m("auditor.card.json")]);
    let file = w.m("lab-audit.airlock");
    ok(
        &lab,
        &[
            "audit",
            "export",
            "--to",
            &w.m("auditor.card.json"),
            "--out",
            &file,
        ],
    );
    let (action, details) = crate::harness::last_audit(&lab);
    assert_eq!(action, "bundle.export");
    assert_eq!(details["recipient"], "auditor");
    let before = crate::harness::fingerprint(&auditor);
    let out = ok(
        &auditor,
        &[
            "--json",
            "audit",
            "verify-export",
            &file,
            "--card",
            &w.m("lab.card.json"),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["site"], "lab");
    // home.init, trust.add, operator.create, data.ingest, features.apply,
    // model.train, model.gate, model.approve, bundle.export, trust.add.
    assert_eq!(v["records"], 11, "{v}");
    assert_eq!(v["checkpoint"], 11, "{v}");
    assert_eq!(
        crate::harness::fingerprint(&auditor),
        before,
        "verifying imports nothing"
    );
    // Another site's card does not verify lab's log.
    fails(
        &auditor,
        &[
            "audit",
            "verify-export",
            &file,
            "--card",
            &w.m("plant.card.json"),
        ],
        5,
        &["comes from site \"lab\", not from the card's site plant"],
    );
    // A card with lab's name but another key (a forged card).
    let rogue = w.root.join("rogue-lab");
    ok(&rogue, &["init", "--site", "lab"]);
    ok(
        &rogue,
        &["site", "card", "--out", &w.m("rogue-lab.card.json")],
    );
    fails(
        &auditor,
        &[
            "audit",
            "verify-export",
            &file,
            "--card",
            &w.m("rogue-lab.card.json"),
        ],
        5,
        &["is signed by key", "for site \"lab\""],
    );
    // It is never imported as a bundle.
    ok(&auditor, &["trust", "add", &w.m("lab.card.json")]);
    fails(
        &auditor,
        &["bundle", "import", &file],
        5,
        &["audit log export", "never imported"],
    );
    // A log that does not verify at its source is not exported.
    db(&lab)
        .execute(
            "UPDATE audit SET details = replace(details, 'dana', 'mallory') WHERE seq = 9",
            [],
        )
        .unwrap();
    fails(
        &lab,
        &[
            "audit",
            "export",
            "--to",
            &w.m("auditor.card.json"),
            "--out",
            &w.m("x.airlock"),
        ],
        4,
        &["audit log broken at record 9 (model.approve)"],
    );
}
