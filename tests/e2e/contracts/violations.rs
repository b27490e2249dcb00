//! Every kind of contract violation located and refused with nothing
//! stored, and the quarantine file that receives a refused file's offending
//! rows.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;

// ---------------------------------------------------------------------------
// One test per violation kind.

#[test]
fn text_in_an_integer_column_is_a_type_violation_located_by_row_line_and_column() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    let file = lab.write("p.csv", people_with(6, 3, "3,abc,own"));
    let err = lab.refused(
        &file,
        "people",
        &contract,
        &[
            "breaks contract people v1: 1 violation (type 1); nothing was stored",
            "[type] row 3 (line 4), column \"age\": expected integer in [18, 100], found \"abc\"",
        ],
    );
    assert!(
        !err.contains("changed types"),
        "one bad cell is not a changed type:\n{err}"
    );
    assert_eq!(audited_violations(&lab.home)["type"], 1);
}

#[test]
fn an_empty_cell_in_a_non_nullable_column_is_a_missing_value_violation() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    let file = lab.write("p.csv", people_with(6, 2, "2,,own"));
    lab.refused(
        &file,
        "people",
        &contract,
        &[
            "breaks contract people v1: 1 violation (missing value 1)",
            "[missing value] row 2 (line 3), column \"age\": expected integer in [18, 100] (not nullable), found a missing value",
        ],
    );
    assert_eq!(audited_violations(&lab.home)["missing value"], 1);
}

#[test]
fn a_number_outside_min_max_is_a_range_violation() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    let file = lab.write("p.csv", people_with(6, 5, "5,17,own"));
    lab.refused(
        &file,
        "people",
        &contract,
        &[
            "breaks contract people v1: 1 violation (range 1)",
            "[range] row 5 (line 6), column \"age\": expected integer in [18, 100], found 17",
        ],
    );
    assert_eq!(audited_violations(&lab.home)["range"], 1);
}

#[test]
fn a_value_not_among_the_categories_is_a_category_violation() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    let file = lab.write("p.csv", people_with(6, 4, "4,40,castle"));
    lab.refused(
        &file,
        "people",
        &contract,
        &[
            "breaks contract people v1: 1 violation (category 1)",
            "[category] row 4 (line 5), column \"housing\": expected one of [own, rent], found \"castle\"",
        ],
    );
    assert_eq!(audited_violations(&lab.home)["category"], 1);
}

#[test]
fn a_row_with_too_few_fields_is_a_field_count_violation() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    let file = lab.write("p.csv", people_with(6, 6, "6,40"));
    lab.refused(
        &file,
        "people",
        &contract,
        &[
            "breaks contract people v1: 1 violation (field count 1)",
            "[field count] row 6 (line 7), column \"*\": expected 3 fields, found 2 fields",
        ],
    );
    assert_eq!(audited_violations(&lab.home)["field count"], 1);
}

#[test]
fn a_repeated_key_is_a_duplicate_key_violation_pointing_at_the_first_row() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    // Rows 4 and 6 repeat row 2's id.
    let mut text = people_with(6, 4, "2,44,own");
    text = text.replace("\n6,", "\n2,");
    let file = lab.write("p.csv", text);
    lab.refused(
        &file,
        "people",
        &contract,
        &[
            "breaks contract people v1: 2 violations (duplicate key 2)",
            "[duplicate key] row 4 (line 5), column \"id\": expected a unique key (id), found the same key as row 2 (line 3)",
            "[duplicate key] row 6 (line 7), column \"id\": expected a unique key (id), found the same key as row 2 (line 3)",
        ],
    );
    assert_eq!(audited_violations(&lab.home)["duplicate key"], 2);
}

#[test]
fn too_many_missing_cells_in_a_column_is_a_null_rate_violation() {
    let lab = Lab::new();
    let contract = lab.write(
        "n.toml",
        r#"
name = "nulls"
version = 1
[[columns]]
name = "id"
type = "integer"
[[columns]]
name = "x"
type = "float"
nullable = true
max_null_rate = 0.1
"#,
    );
    // 1 missing of 10 is allowed...
    let mut one = String::from("id,x\n");
    for i in 1..=10 {
        let x = if i == 3 {
            String::new()
        } else {
            format!("{i}.5")
        };
        one.push_str(&format!("{i},{x}\n"));
    }
    let v = lab.ingest(&lab.write("one.csv", one), "nulls", &contract);
    assert_eq!(v["rows"], 10);
    // ...3 of 10 are not.
    let mut three = String::from("id,x\n");
    for i in 1..=10 {
        let x = if i % 4 == 0 || i == 1 {
            String::new()
        } else {
            format!("{i}.5")
        };
        three.push_str(&format!("{i},{x}\n"));
    }
    lab.refused(
        &lab.write("three.csv", three),
        "nulls",
        &contract,
        &[
            "breaks contract nulls v1: 1 violation (null rate 1)",
            "[null rate] column \"x\": expected at most 0.1 of rows missing, found 0.3000 (3 of 10 rows)",
        ],
    );
    assert_eq!(audited_violations(&lab.home)["null rate"], 1);
}

#[test]
fn too_few_or_too_many_distinct_values_is_a_distinct_count_violation() {
    let lab = Lab::new();
    let contract = lab.write(
        "d.toml",
        r#"
name = "distinct"
version = 1
[[columns]]
name = "few"
type = "string"
distinct_min = 3
[[columns]]
name = "many"
type = "integer"
distinct_min = 2
distinct_max = 5
"#,
    );
    // few: 2 distinct values (needs 3); many: 8 distinct values (at most 5).
    let mut bad = String::from("few,many\n");
    for i in 0..8 {
        bad.push_str(&format!("{},{i}\n", if i % 2 == 0 { "a" } else { "b" }));
    }
    let err = lab.refused(
        &lab.write("bad.csv", bad),
        "distinct",
        &contract,
        &[
            "breaks contract distinct v1: 2 violations (distinct count 2)",
            "[distinct count] column \"few\": expected at least 3 distinct values, found 2",
            "[distinct count] column \"many\": expected between 2 and 5 distinct values, found 8",
        ],
    );
    assert!(!err.contains("row "), "file-wide rules have no row:\n{err}");
    assert_eq!(audited_violations(&lab.home)["distinct count"], 2);
    // Within the bounds it is accepted.
    let mut good = String::from("few,many\n");
    for i in 0..8 {
        good.push_str(&format!("{},{}\n", ["a", "b", "c"][i % 3], i % 4));
    }
    assert_eq!(
        lab.ingest(&lab.write("good.csv", good), "distinct", &contract)["rows"],
        8
    );
}

/// A one-column file `x` of `n` rows with values `offset + i % 100`.
fn x_file(n: usize, offset: usize) -> String {
    let mut s = String::from("x\n");
    for i in 0..n {
        s.push_str(&format!("{}\n", offset + i % 100));
    }
    s
}

#[test]
fn a_shifted_distribution_is_refused_as_drift_and_small_files_skip_the_check() {
    let lab = Lab::new();
    let v1 = lab.write(
        "m1.toml",
        "name = \"m\"\nversion = 1\n[[columns]]\nname = \"x\"\ntype = \"integer\"\n",
    );
    let r = lab.ingest(&lab.write("ref.csv", x_file(2000, 0)), "ref", &v1);
    assert_eq!(r["dataset"], "ref@1");
    let v2 = lab.write(
        "m2.toml",
        r#"
name = "m"
version = 2
reference = "ref@1"
[[columns]]
name = "x"
type = "integer"
drift = { metric = "psi", threshold = 0.2, min_rows = 500 }
"#,
    );

    // 600 rows of 60..159: refused, with the measure.
    let err = lab.refused(
        &lab.write("shifted.csv", x_file(600, 60)),
        "batch",
        &v2,
        &[
            "breaks contract m v2: 1 violation (distribution drift 1)",
            "[distribution drift] column \"x\": expected psi at most 0.2 against reference ref@1, found ",
        ],
    );
    let psi: f64 = err
        .split("against reference ref@1, found ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(psi > 0.2, "{err}");
    assert_eq!(audited_violations(&lab.home)["distribution drift"], 1);

    // 600 rows of 0..99: accepted, measured under the threshold.
    let same = lab.ingest(&lab.write("same.csv", x_file(600, 0)), "batch", &v2);
    assert_eq!(same["dataset"], "batch@1");
    assert_eq!(same["drift"][0]["column"], "x");
    assert!(same["drift"][0]["skipped"].is_null(), "{same}");
    let measured = same["drift"][0]["value"].as_f64().unwrap();
    assert!(measured < 0.2, "{same}");

    // 100 shifted rows (under min_rows 500): accepted, the check skipped.
    let small = lab.ingest(&lab.write("small.csv", x_file(100, 60)), "batch", &v2);
    assert_eq!(small["dataset"], "batch@2");
    assert_eq!(small["rows"], 100);
    assert_eq!(small["drift"][0]["column"], "x");
    assert!(small["drift"][0]["value"].is_null(), "{small}");
    assert!(
        !small["drift"][0]["skipped"].is_null(),
        "the skipped check must say why: {small}"
    );
    // The text report says so too.
    let out = lab.ok(&[
        "data",
        "ingest",
        &lab.write("small2.csv", x_file(99, 60)),
        "--dataset",
        "batch",
        "--contract",
        "m@2",
    ]);
    assert!(out.contains("drift \"x\": not checked: "), "{out}");
}

#[test]
fn more_than_five_violations_of_a_rule_are_counted_after_the_first_five() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    // Rows 1..=8 out of range (age 5), row 9 a bad category.
    let mut text = String::from("id,age,housing\n");
    for i in 1..=8 {
        text.push_str(&format!("{i},5,own\n"));
    }
    text.push_str("9,30,boat\n10,30,rent\n");
    let err = lab.refused(
        &lab.write("p.csv", text),
        "people",
        &contract,
        &[
            "breaks contract people v1: 9 violations (range 8, category 1); nothing was stored",
            "[range] row 1 (line 2), column \"age\"",
            "[range] row 5 (line 6), column \"age\"",
            "... and 3 more range violations",
            "[category] row 9 (line 10), column \"housing\"",
        ],
    );
    assert_eq!(err.matches("[range] row").count(), 5, "{err}");
    assert!(!err.contains("row 6 (line 7)"), "{err}");
    assert!(!err.contains("more category violations"), "{err}");
    let counts = audited_violations(&lab.home);
    assert_eq!(counts["range"], 8);
    assert_eq!(counts["category"], 1);
}

// ---------------------------------------------------------------------------
// Quarantine files.

fn ingest_quarantined(lab: &Lab, file: &str, contract: &str, q: &Path) -> std::process::Output {
    run(
        &lab.home,
        &[
            "data",
            "ingest",
            file,
            "--dataset",
            "people",
            "--contract",
            contract,
            "--quarantine",
            &q.display().to_string(),
        ],
    )
}

#[test]
fn a_refused_file_writes_exactly_its_offending_rows_to_a_0600_quarantine_file() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    let text = "id,age,housing\n\
                1,30,own\n\
                2,abc,own\n\
                3,40,rent\n\
                1,50,rent\n\
                5,17,boat\n\
                6,60,own\n";
    let file = lab.write("p.csv", text);
    let q = lab.path("q.csv");
    let before = store_fingerprint(&lab.home);
    let out = ingest_quarantined(&lab, &file, &contract, &q);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(
            "breaks contract people v1: 4 violations (type 1, range 1, category 1, duplicate key 1)"
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "3 offending rows written to {} (it holds raw data: give it only to the data owner)",
            q.display()
        )),
        "{err}"
    );
    assert_eq!(store_fingerprint(&lab.home), before);
    let (action, details) = last_audit(&lab.home);
    assert_eq!(action, "data.refused");
    assert_eq!(details["quarantine"], q.display().to_string());

    let mode = fs::metadata(&q).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the quarantine file holds raw data");
    let got = fs::read_to_string(&q).unwrap();
    // Exactly the offending rows: 2 (a type error), 5 (range and
    // category), 4 (its key repeats row 1's; repeats are found at the end).
    assert_eq!(
        got,
        "_row,_line,_problems,id,age,housing\n\
         2,3,\"age: expected integer in [18, 100], found \"\"abc\"\"\",2,abc,own\n\
         5,6,\"age: expected integer in [18, 100], found 17; housing: expected one of [own, rent], found \"\"boat\"\"\",5,17,boat\n\
         4,5,duplicate key,1,50,rent\n"
    );
    // No temporary file is left beside it.
    assert_eq!(quarantine_leftovers(&lab), 0);
}

/// Temporary quarantine files left in the test's folder.
fn quarantine_leftovers(lab: &Lab) -> usize {
    fs::read_dir(lab.dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".quarantine")
        })
        .count()
}

#[test]
fn rows_with_the_wrong_field_count_are_quarantined_as_raw_cells() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    // Row 2 is short, row 3 long: their raw cells go to the file as read.
    let text = "id,age,housing\n1,30,own\n2,40\n3,50,own,extra\n4,60,rent\n";
    let file = lab.write("p.csv", text);
    let q = lab.path("q.csv");
    let before = store_fingerprint(&lab.home);
    let out = ingest_quarantined(&lab, &file, &contract, &q);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a wrong field count is a contract violation like any other:\n{err}"
    );
    assert!(
        err.contains("breaks contract people v1: 2 violations (field count 2)"),
        "{err}"
    );
    assert!(err.contains("2 offending rows written to "), "{err}");
    assert_eq!(store_fingerprint(&lab.home), before);
    assert_eq!(last_audit(&lab.home).0, "data.refused");
    let got = fs::read_to_string(&q).unwrap();
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 3, "{got}");
    assert!(lines[1].starts_with("2,3,"), "{got}");
    assert!(
        lines[1].contains("expected 3 fields, found 2 fields"),
        "{got}"
    );
    assert!(lines[2].starts_with("3,4,"), "{got}");
    assert!(lines[2].ends_with(",3,50,own,extra"), "{got}");
}

#[test]
fn a_row_with_a_bad_cell_and_a_repeated_key_is_quarantined_once() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    // Row 2 repeats row 1's key and has an age out of range.
    let file = lab.write("p.csv", "id,age,housing\n1,30,own\n1,400,own\n3,50,own\n");
    let q = lab.path("q.csv");
    let out = ingest_quarantined(&lab, &file, &contract, &q);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("2 violations (range 1, duplicate key 1)"),
        "{err}"
    );
    let got = fs::read_to_string(&q).unwrap();
    let rows: Vec<&str> = got.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "one offending row, listed once:\n{got}");
    assert!(rows[0].starts_with("2,3,"), "{got}");
    assert!(err.contains("1 offending rows written to "), "{err}");
}

#[test]
fn an_accepted_file_writes_no_quarantine_file() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    let file = lab.write("p.csv", people_rows(5));
    let q = lab.path("q.csv");
    let out = ingest_quarantined(&lab, &file, &contract, &q);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!q.exists(), "an accepted file has no offending rows");
    assert_eq!(quarantine_leftovers(&lab), 0);
}

#[test]
fn an_existing_quarantine_path_is_refused_before_the_file_is_read() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    let q = lab.path("q.csv");
    fs::write(&q, "keep me\n").unwrap();
    let before = fingerprint(&lab.home);
    // The data file does not even exist: the quarantine path is checked
    // first, so the answer is about the quarantine file.
    let absent = lab.path("absent.csv").display().to_string();
    let q_arg = q.display().to_string();
    fails(
        &lab.home,
        &[
            "data",
            "ingest",
            &absent,
            "--dataset",
            "people",
            "--contract",
            &contract,
            "--quarantine",
            &q_arg,
        ],
        5,
        &["quarantine file", "already exists"],
    );
    // With a bad file too: refused the same way, nothing read or written.
    let bad = lab.write("bad.csv", people_with(4, 2, "2,abc,own"));
    fails(
        &lab.home,
        &[
            "data",
            "ingest",
            &bad,
            "--dataset",
            "people",
            "--contract",
            &contract,
            "--quarantine",
            &q_arg,
        ],
        5,
        &["already exists"],
    );
    assert_eq!(fs::read_to_string(&q).unwrap(), "keep me\n");
    assert_eq!(fingerprint(&lab.home), before, "nothing stored or audited");
}

#[test]
fn a_parquet_file_with_a_repeated_key_quarantines_the_repeating_row() {
    let lab = Lab::new();
    let contract = lab.write("pq.toml", PARQUET_CONTRACT);
    let file = lab.path("dup.parquet");
    let ids = Col::I64("id", vec![1, 2, 3, 2, 5, 6].into_iter().map(Some).collect());
    write_parquet(&file, &[ids, pq_ages(), pq_scores(), pq_cities()]);
    let q = lab.path("q.csv");
    let out = run(
        &lab.home,
        &[
            "data",
            "ingest",
            &file.display().to_string(),
            "--dataset",
            "pq",
            "--contract",
            &contract,
            "--quarantine",
            &q.display().to_string(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("[duplicate key] row 4, column \"id\": expected a unique key (id), found the same key as row 2"),
        "{err}"
    );
    let got = fs::read_to_string(&q).unwrap();
    let rows: Vec<&str> = got.lines().skip(1).collect();
    assert_eq!(
        rows.len(),
        1,
        "the one offending row (row 4, its key repeats row 2's):\n{got}\nstderr:\n{err}"
    );
    assert!(rows[0].starts_with("4,"), "{got}");
}
