//! Contracts as versioned documents: apply, show, diff, list.

use super::*;

// ---------------------------------------------------------------------------
// Contracts as versioned documents.

const V1: &str = r#"
name = "people"
version = 1
key = ["id"]
[[columns]]
name = "id"
type = "integer"
[[columns]]
name = "age"
type = "integer"
min = 18
max = 100
[[columns]]
name = "city"
type = "string"
nullable = true
"#;

/// V1 with age's max raised to 120, `city` removed and `z` added.
const V2: &str = r#"
name = "people"
version = 2
key = ["id"]
[[columns]]
name = "id"
type = "integer"
[[columns]]
name = "age"
type = "integer"
min = 18
max = 120
[[columns]]
name = "z"
type = "float"
nullable = true
"#;

#[test]
fn contract_apply_registers_each_version_once_and_versions_only_go_up() {
    let lab = Lab::new();
    let v1 = lab.write("v1.toml", V1);
    let r = lab.json(&["contract", "apply", &v1]);
    assert_eq!(r["reference"], "people@1");
    assert_eq!(r["unchanged"], false);
    let id = r["id"].as_str().unwrap().to_string();
    assert_eq!(last_audit(&lab.home).0, "contract.apply");

    // The same document again: unchanged, nothing written.
    let before = fingerprint(&lab.home);
    let r = lab.json(&["contract", "apply", &v1]);
    assert_eq!(r["reference"], "people@1");
    assert_eq!(r["unchanged"], true);
    assert_eq!(r["id"], id.as_str());
    assert_eq!(fingerprint(&lab.home), before);

    // Different content under version 1: refused.
    let changed = lab.write("v1b.toml", V1.replace("max = 100", "max = 99"));
    fails(
        &lab.home,
        &["contract", "apply", &changed],
        3,
        &["contract people v1 is already registered with different content"],
    );
    assert_eq!(fingerprint(&lab.home), before);

    // Version 3, then a version 2 (below the newest): refused.
    let v3 = lab.write("v3.toml", V2.replace("version = 2", "version = 3"));
    assert_eq!(
        lab.json(&["contract", "apply", &v3])["reference"],
        "people@3"
    );
    let before = fingerprint(&lab.home);
    let v2 = lab.write("v2.toml", V2);
    fails(
        &lab.home,
        &["contract", "apply", &v2],
        3,
        &["contract people v2 is older than the registered v3"],
    );
    // Nor can an ingest register it on the way.
    let data = lab.write("p.csv", "id,age,z\n1,30,1.5\n");
    fails(
        &lab.home,
        &["data", "ingest", &data, "--dataset", "p", "--contract", &v2],
        3,
        &["older than the registered v3"],
    );
    assert_eq!(fingerprint(&lab.home), before, "nothing stored or audited");
}

#[test]
fn contract_show_prints_toml_that_applies_as_the_same_contract() {
    let lab = Lab::new();
    let v1 = lab.write("v1.toml", V1);
    let id = lab.json(&["contract", "apply", &v1])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = lab.ok(&["contract", "show", "people@1"]);
    assert!(
        shown.starts_with(&format!("# contract people@1 (id {})", &id[..12])),
        "{shown}"
    );
    for needle in [
        "name = \"people\"",
        "version = 1",
        "key = [\"id\"]",
        "name = \"city\"",
    ] {
        assert!(shown.contains(needle), "{needle:?} in:\n{shown}");
    }
    // Applying what was shown is the same document.
    let again = lab.write("shown.toml", &shown);
    let r = lab.json(&["contract", "apply", &again]);
    assert_eq!(r["unchanged"], true, "{shown}");
    assert_eq!(r["id"], id.as_str());
    // Without a version: the newest.
    let v2 = lab.write("v2.toml", V2);
    lab.ok(&["contract", "apply", &v2]);
    let newest = lab.ok(&["contract", "show", "people"]);
    assert!(newest.starts_with("# contract people@2 "), "{newest}");
    let j = lab.json(&["contract", "show", "people@1"]);
    assert_eq!(j["id"], id.as_str());
    assert_eq!(j["contract"]["columns"][1]["max"], 100.0);
    fails(
        &lab.home,
        &["contract", "show", "people@9"],
        6,
        &["people@9"],
    );
}

#[test]
fn contract_diff_lists_added_removed_and_changed_columns() {
    let lab = Lab::new();
    let v1 = lab.write("v1.toml", V1);
    let v2 = lab.write("v2.toml", V2);
    lab.ok(&["contract", "apply", &v1]);
    lab.ok(&["contract", "apply", &v2]);
    let out = lab.ok(&["contract", "diff", "people@1", "people@2"]);
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        "~ version 1 -> 2",
        "~ column \"age\": max 100.0 -> 120.0",
        "- column \"city\" (string)",
        "+ column \"z\" (float)",
    ] {
        assert!(lines.contains(&want), "{want:?} in:\n{out}");
    }
    assert!(!out.contains("column \"id\""), "id did not change:\n{out}");
    // A file works as either side, and the JSON lists the same changes.
    let j = lab.json(&["contract", "diff", &v1, "people@2"]);
    assert_eq!(j["to"], "people@2");
    let changes: Vec<&str> = j["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(changes, lines);
    // A contract and itself.
    let same = lab.ok(&["contract", "diff", "people@1", &v1]);
    assert!(same.contains("are the same contract"), "{same}");
}

#[test]
fn contract_list_shows_versions_and_ingest_takes_a_registered_contract() {
    let lab = Lab::new();
    let v1 = lab.write("v1.toml", V1);
    let v2 = lab.write("v2.toml", V2);
    lab.ok(&["contract", "apply", &v1]);
    lab.ok(&["contract", "apply", &v2]);
    let list = lab.ok(&["contract", "list"]);
    assert!(list.contains("lab/people@1  id "), "{list}");
    assert!(list.contains("lab/people@2  id "), "{list}");
    let j = lab.json(&["contract", "list"]);
    assert_eq!(j.as_array().unwrap().len(), 2, "{j}");
    assert_eq!(j[0]["name"], "people");
    assert_eq!(j[0]["version"], 1);

    // Ingest by registered reference, by file, and by name (the newest).
    let one = lab.write("one.csv", "id,age,city\n1,30,Rome\n2,40,\n");
    let r = lab.ingest(&one, "p1", "people@1");
    assert_eq!(r["contract_ref"], "people@1");
    assert_eq!(r["rows"], 2);
    let r = lab.ingest(&one, "p1", &v1);
    assert_eq!(
        r["unchanged"], true,
        "the same file under the same contract"
    );
    let two = lab.write("two.csv", "id,age,z\n1,110,1.5\n");
    let r = lab.ingest(&two, "p2", "people");
    assert_eq!(r["contract_ref"], "people@2");
    // Under v1 the same file is refused (its header differs).
    fails(
        &lab.home,
        &[
            "data",
            "ingest",
            &two,
            "--dataset",
            "p2",
            "--contract",
            "people@1",
        ],
        3,
        &["missing columns: city", "extra columns: z"],
    );
    // Unknown contracts are not found.
    fails(
        &lab.home,
        &[
            "data",
            "ingest",
            &one,
            "--dataset",
            "p1",
            "--contract",
            "people@7",
        ],
        6,
        &[],
    );
    fails(
        &lab.home,
        &[
            "data",
            "ingest",
            &one,
            "--dataset",
            "p1",
            "--contract",
            "nope.toml",
        ],
        6,
        &["contract file nope.toml does not exist"],
    );
}
