//! `airlock lineage`: from a model at plant back to lab's raw data and the
//! person who approved it, with every signature verified; a forged
//! signature on the way stops the walk.

use crate::harness::{World, fails, ok};

#[test]
fn lineage_walks_from_a_model_to_its_data_and_approver() {
    let w = World::new();
    let model = w.model();
    let out = ok(&w.plant(), &["lineage", &model[..12]]);
    for needle in [
        "model credit-mlp",
        "dataset credit@1: 3000 rows from credit.csv",
        "raw snapshot, not held here",
        "contract credit@1",
        "gate passed: roc_auc",
        "approved by operator \"dana\" (key ",
        "approved by operator \"omar\" (key ",
        "by operator omar (key ",
        "deployed to slot production",
    ] {
        assert!(out.contains(needle), "lineage lacks {needle:?}:\n{out}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&ok(&w.plant(), &["--json", "lineage", &model])).unwrap();
    assert_eq!(v["model"]["id"], model.as_str());
    assert_eq!(v["snapshot_held"], false);
    assert_eq!(v["approvals"][0]["signed_by"][0], "lab");
    assert!(v["signatures_verified"].as_u64().unwrap() >= 8, "{v}");
    // At lab, where the data was ingested, the snapshot is held.
    let v: serde_json::Value =
        serde_json::from_str(&ok(&w.lab(), &["--json", "lineage", &model])).unwrap();
    assert_eq!(v["snapshot_held"], true);

    // A forged signature on the approval stops the walk, naming it.
    let conn = rusqlite::Connection::open(w.plant().join("store.db")).unwrap();
    let approval: String = conn
        .query_row("SELECT id FROM approvals LIMIT 1", [], |r| r.get(0))
        .unwrap();
    conn.execute(
        "UPDATE signatures SET signature = ?1 WHERE object_id = ?2",
        rusqlite::params!["00".repeat(64), approval],
    )
    .unwrap();
    fails(&w.plant(), &["lineage", &model], 4, &[&approval[..12]]);
}

#[test]
fn every_record_on_the_walk_has_a_signed_provenance_statement() {
    let w = World::new();
    let model = w.model();
    // Plant holds lab's statements (they travelled with the bundle) and
    // its own (approval, deployment): one statement per step.
    let v: serde_json::Value =
        serde_json::from_str(&ok(&w.plant(), &["--json", "lineage", &model])).unwrap();
    assert_eq!(v["provenance_verified"], 7, "{v}");
    let run_statement = v["model"]["provenance"].as_str().unwrap().to_string();
    assert_eq!(
        v["weights"]["provenance"], run_statement,
        "one statement covers the run record and its weights"
    );
    let dump = ok(
        &w.plant(),
        &["--json", "audit", "log", "--action", "bundle.import"],
    );
    assert!(
        dump.contains(&run_statement),
        "the import carried the statement: {dump}"
    );

    // Without its statement, the run's origin cannot be shown.
    let conn = rusqlite::Connection::open(w.plant().join("store.db")).unwrap();
    conn.execute(
        "DELETE FROM provenance WHERE statement = ?1",
        [&run_statement],
    )
    .unwrap();
    fails(
        &w.plant(),
        &["lineage", &model],
        4,
        &["has no signed provenance statement naming it", &model[..12]],
    );
    // A statement about something else, indexed under the run, does not
    // stand in for it.
    let gate_statement = v["gates"][0]["provenance"].as_str().unwrap().to_string();
    conn.execute(
        "INSERT INTO provenance (subject, statement) VALUES (?1, ?2)",
        [&model, &gate_statement],
    )
    .unwrap();
    fails(
        &w.plant(),
        &["lineage", &model],
        4,
        &["has no signed provenance statement naming it"],
    );
}

#[test]
fn lineage_refuses_a_gate_indexed_under_another_model() {
    let w = World::new();
    let model = w.model();
    // Lab trains a second model; its genuine, signed gate report is then
    // indexed under the first model by someone with write access to the store.
    let other = w.train_logreg();
    ok(&w.lab(), &["gate", &other, "--require", "roc_auc>=0.1"]);
    let conn = rusqlite::Connection::open(w.lab().join("store.db")).unwrap();
    let gate: String = conn
        .query_row("SELECT id FROM gates WHERE model = ?1", [&other], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute(
        "UPDATE gates SET model = ?1 WHERE id = ?2",
        rusqlite::params![model, gate],
    )
    .unwrap();
    fails(
        &w.lab(),
        &["lineage", &model],
        4,
        &["is indexed under model", "the store was altered"],
    );
}
