use std::fs;

use crate::harness::{World, fails, fingerprint, last_audit, ok, refs, store_fingerprint};

#[test]
fn csv_breaking_its_contract_is_refused_with_row_and_column_and_nothing_is_stored() {
    let w = World::new();
    let good = fs::read_to_string(w.media("credit.csv")).unwrap();
    // Row 3 gets an age of 130 (range), row 5 a housing of "castle" (category).
    let mut lines: Vec<String> = good.lines().take(8).map(str::to_string).collect();
    let mut cells: Vec<String> = lines[3].split(',').map(str::to_string).collect();
    cells[1] = "130".into();
    lines[3] = cells.join(",");
    let mut cells: Vec<String> = lines[5].split(',').map(str::to_string).collect();
    cells[6] = "castle".into();
    lines[5] = cells.join(",");
    let bad = w.media("bad.csv");
    fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let before = store_fingerprint(&w.lab());
    fails(
        &w.lab(),
        &refs(&w.ingest_args(&bad.display().to_string())),
        3,
        &[
            "breaks contract credit v1: 2 violations (range 1, category 1); nothing was stored",
            "row 3 (line 4), column \"age\": expected integer in [18, 100], found 130",
            "row 5 (line 6), column \"housing\": expected one of [own, rent, mortgage], found \"castle\"",
        ],
    );
    assert_eq!(
        store_fingerprint(&w.lab()),
        before,
        "a refused file must leave the store unchanged"
    );
    let (action, details) = last_audit(&w.lab());
    assert_eq!(action, "data.refused", "the refusal is audited");
    assert_eq!(details["violations"]["range"], 1, "{details}");
    assert_eq!(details["violations"]["category"], 1, "{details}");
}

#[test]
fn csv_with_a_missing_column_is_refused_with_a_header_diff() {
    let w = World::new();
    let good = fs::read_to_string(w.media("credit.csv")).unwrap();
    let cut: String = good
        .lines()
        .take(20)
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    let bad = w.media("cut.csv");
    fs::write(&bad, cut).unwrap();
    let before = store_fingerprint(&w.lab());
    fails(
        &w.lab(),
        &refs(&w.ingest_args(&bad.display().to_string())),
        3,
        &["missing columns: default", "nothing was stored"],
    );
    assert_eq!(store_fingerprint(&w.lab()), before);
    assert_eq!(last_audit(&w.lab()).0, "data.refused");
}

#[test]
fn reingesting_the_same_file_is_a_no_op_and_a_new_file_is_a_new_version() {
    let w = World::new();
    let args = |f: &str| [vec!["--json".to_string()], w.ingest_args(f)].concat();
    let before = fingerprint(&w.lab());
    let out = ok(&w.lab(), &refs(&args(&w.m("credit.csv"))));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["unchanged"], true);
    assert_eq!(v["dataset"], "credit@1");
    assert_eq!(fingerprint(&w.lab()), before);
    let smaller: String = fs::read_to_string(w.media("credit.csv"))
        .unwrap()
        .lines()
        .take(500)
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(w.media("credit-500.csv"), smaller).unwrap();
    let out = ok(&w.lab(), &refs(&args(&w.m("credit-500.csv"))));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dataset"], "credit@2");
    assert_eq!(v["rows"], 499);
}
