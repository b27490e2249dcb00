//! Data ingestion under schema contracts: every kind of contract violation
//! located and refused with nothing stored, the CSV dialects (header-less,
//! other delimiters, BOM, CRLF, null tokens), Parquet input, quarantine
//! files, and contracts as versioned documents (apply, show, diff, list).
//!
//! Each test works in its own small home (`airlock init --site lab`), not
//! the demo world, so the whole file runs in a few seconds.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::harness::{assert_refused, fails, fingerprint, last_audit, ok, run, store_fingerprint};

/// A fresh home with site `lab`; the temporary folder also holds the
/// test's files.
struct Lab {
    dir: tempfile::TempDir,
    home: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        ok(&home, &["init", "--site", "lab"]);
        Lab { dir, home }
    }

    /// The path of file `name` in the test's folder.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes file `name` and returns its path as a string.
    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        let p = self.path(name);
        fs::write(&p, content).unwrap();
        p.display().to_string()
    }

    /// Runs and requires success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        ok(&self.home, args)
    }

    /// Runs with `--json` and requires success; returns the parsed output.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let args = [&["--json"], args].concat();
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    /// `data ingest FILE --dataset NAME --contract CONTRACT` must succeed;
    /// returns the JSON report.
    fn ingest(&self, file: &str, dataset: &str, contract: &str) -> serde_json::Value {
        self.json(&[
            "data",
            "ingest",
            file,
            "--dataset",
            dataset,
            "--contract",
            contract,
        ])
    }

    /// `data ingest FILE --dataset NAME --contract CONTRACT` must be
    /// refused (exit 3) with every needle in stderr, leave the store as it
    /// was, and be audited as `data.refused`; returns stderr.
    fn refused(&self, file: &str, dataset: &str, contract: &str, needles: &[&str]) -> String {
        let before = store_fingerprint(&self.home);
        let err = fails(
            &self.home,
            &[
                "data",
                "ingest",
                file,
                "--dataset",
                dataset,
                "--contract",
                contract,
            ],
            3,
            needles,
        );
        assert!(err.contains("nothing was stored"), "{err}");
        assert_eq!(
            store_fingerprint(&self.home),
            before,
            "a refused file must leave the store unchanged"
        );
        assert_eq!(last_audit(&self.home).0, "data.refused", "{err}");
        err
    }

    /// `data show NAME@V` as JSON: the dataset record.
    fn show(&self, dataset: &str) -> serde_json::Value {
        self.json(&["data", "show", dataset])["dataset"].clone()
    }
}

/// The profile of column `name` in a `data show` dataset record.
fn column<'a>(dataset: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    dataset["profile"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no column {name:?} in {dataset}"))
}

fn close(a: &serde_json::Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-9
}

/// The violation counts of the newest audit record (a refusal).
fn audited_violations(home: &Path) -> serde_json::Value {
    let (action, details) = last_audit(home);
    assert_eq!(action, "data.refused");
    details["violations"].clone()
}

/// id (key), age (integer 18..=100), housing (category own|rent).
const PEOPLE: &str = r#"
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
name = "housing"
type = "category"
categories = ["own", "rent"]
"#;

/// A valid people file of `n` rows.
fn people_rows(n: usize) -> String {
    let mut s = String::from("id,age,housing\n");
    for i in 1..=n {
        let housing = if i % 2 == 0 { "own" } else { "rent" };
        s.push_str(&format!("{i},{},{housing}\n", 20 + i % 60));
    }
    s
}

/// `people_rows(n)` with data row `row` (from 1) replaced by `line`.
fn people_with(n: usize, row: usize, line: &str) -> String {
    let mut lines: Vec<String> = people_rows(n).lines().map(str::to_string).collect();
    lines[row] = line.to_string();
    lines.join("\n") + "\n"
}

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
// Dialects and header diffs.

const GERMAN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/german/german.data"
);

/// The German credit contract: 21 columns in file order, no header,
/// space-separated, `?` for missing; `age` and `savings` nullable.
fn german_contract() -> String {
    let cats = |codes: &str| {
        let list: Vec<String> = codes.split(' ').map(|c| format!("{c:?}")).collect();
        format!("type = \"category\"\ncategories = [{}]\n", list.join(", "))
    };
    let int = |lo: i64, hi: i64| format!("type = \"integer\"\nmin = {lo}\nmax = {hi}\n");
    let columns: Vec<(&str, String)> = vec![
        ("status", cats("A11 A12 A13 A14")),
        ("duration", int(1, 120)),
        ("credit_history", cats("A30 A31 A32 A33 A34")),
        (
            "purpose",
            cats("A40 A41 A42 A43 A44 A45 A46 A47 A48 A49 A410"),
        ),
        ("credit_amount", int(1, 100_000)),
        ("savings", cats("A61 A62 A63 A64 A65") + "nullable = true\n"),
        ("present_employment", cats("A71 A72 A73 A74 A75")),
        ("installment_rate", int(1, 4)),
        ("status_sex", cats("A91 A92 A93 A94 A95")),
        ("other_debtors", cats("A101 A102 A103")),
        ("present_residence_since", int(1, 4)),
        ("property", cats("A121 A122 A123 A124")),
        ("age", int(18, 100) + "nullable = true\n"),
        ("installment_plans", cats("A141 A142 A143")),
        ("housing", cats("A151 A152 A153")),
        ("number_of_existing_credits", int(1, 4)),
        ("job", cats("A171 A172 A173 A174")),
        ("number_of_people_liable_for", int(1, 2)),
        ("telephone", cats("A191 A192")),
        ("foreign_worker", cats("A201 A202")),
        ("credit", int(1, 2)),
    ];
    let mut t = String::from(
        "name = \"german\"\nversion = 1\nnull_tokens = [\"?\"]\n\n[csv]\nheader = false\ndelimiter = \" \"\n",
    );
    for (name, body) in columns {
        t.push_str(&format!("\n[[columns]]\nname = {name:?}\n{body}"));
    }
    t
}

#[test]
fn headerless_space_separated_german_credit_with_question_mark_nulls_ingests() {
    let lab = Lab::new();
    let contract = lab.write("german.toml", german_contract());
    let data = fs::read_to_string(GERMAN).unwrap();
    // The real file as it is.
    let v = lab.ingest(&lab.write("german.data", &data), "german", &contract);
    assert_eq!(v["rows"], 1000);
    let shown = lab.show("german@1");
    assert_eq!(shown["rows"], 1000);
    let status = column(&shown, "status");
    assert_eq!(status["count"], 1000);
    assert_eq!(status["distinct"], 4);

    // A copy with `?` planted: 7 ages (column 13) and 3 savings (column 6).
    let age_rows = [0usize, 10, 99, 250, 500, 777, 999];
    let savings_rows = [1usize, 2, 998];
    let lines: Vec<String> = data
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut cells: Vec<&str> = l.split(' ').collect();
            assert_eq!(cells.len(), 21, "line {}: {l}", i + 1);
            if age_rows.contains(&i) {
                cells[12] = "?";
            }
            if savings_rows.contains(&i) {
                cells[5] = "?";
            }
            cells.join(" ")
        })
        .collect();
    let planted = lab.write("german-q.data", lines.join("\n") + "\n");
    let v = lab.ingest(&planted, "german", &contract);
    assert_eq!(v["rows"], 1000);
    assert_eq!(v["dataset"], "german@2");
    let shown = lab.show("german@2");
    assert_eq!(shown["rows"], 1000);
    let age = column(&shown, "age");
    assert_eq!(age["nulls"], age_rows.len());
    assert_eq!(age["count"], 1000 - age_rows.len());
    assert_eq!(age["type"], "integer");
    let savings = column(&shown, "savings");
    assert_eq!(savings["nulls"], savings_rows.len());
    assert_eq!(savings["count"], 1000 - savings_rows.len());
    let duration = column(&shown, "duration");
    assert_eq!(duration["nulls"], 0);
    assert!(close(&duration["numeric"]["min"], 4.0), "{duration}");
    assert!(close(&duration["numeric"]["max"], 72.0), "{duration}");

    // `?` in a column that is not nullable is a missing value, located on
    // its line (there is no header: row N is line N).
    let mut cells: Vec<String> = lines[41].split(' ').map(str::to_string).collect();
    cells[0] = "?".into();
    let mut bad = lines.clone();
    bad[41] = cells.join(" ");
    lab.refused(
        &lab.write("german-bad.data", bad.join("\n") + "\n"),
        "german",
        &contract,
        &["[missing value] row 42 (line 42), column \"status\""],
    );
}

#[test]
fn csv_with_an_extra_column_is_refused_naming_it() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    let mut text = String::from("id,age,salary,housing\n");
    for i in 1..=4 {
        text.push_str(&format!("{i},30,1000,own\n"));
    }
    let before = store_fingerprint(&lab.home);
    let file = lab.write("extra.csv", text);
    let err = fails(
        &lab.home,
        &[
            "data",
            "ingest",
            &file,
            "--dataset",
            "people",
            "--contract",
            &contract,
        ],
        3,
        &[
            "does not match contract people v1: extra columns: salary (list them in the contract's `ignore`, or set `ignore_unlisted = true`, to read the file without them); nothing was stored",
        ],
    );
    assert!(
        !err.contains("missing columns"),
        "no column is missing:\n{err}"
    );
    // The audit record names the kind of refusal only: header names can be
    // cells of a header-less file.
    assert_refused(
        &lab.home,
        &before,
        "data.refused",
        "the header or schema does not match the contract",
    );
}

#[test]
fn csv_column_whose_every_value_fails_is_reported_as_a_changed_type() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    let mut text = String::from("id,age,housing\n");
    for (i, age) in ["thirty", "forty", "fifty", "sixty"].iter().enumerate() {
        text.push_str(&format!("{},{age},own\n", i + 1));
    }
    lab.refused(
        &lab.write("p.csv", text),
        "people",
        &contract,
        &[
            "breaks contract people v1: 4 violations (type 4)",
            "changed types (every value fails): age (contract integer)",
            "[type] row 1 (line 2), column \"age\": expected integer in [18, 100], found \"thirty\"",
        ],
    );
}

#[test]
fn csv_dialect_with_bom_crlf_semicolons_quotes_spaces_and_na_ingests() {
    let lab = Lab::new();
    let contract = lab.write(
        "d.toml",
        r#"
name = "dialect"
version = 1
null_tokens = ["", "NA"]
[csv]
delimiter = ";"
[[columns]]
name = "id"
type = "integer"
[[columns]]
name = "name"
type = "string"
nullable = true
[[columns]]
name = "score"
type = "float"
nullable = true
min = 0
max = 100
"#,
    );
    let text = "\u{feff}id ; name ;score\r\n\
                1;\"Smith; John\";  30.5 \r\n\
                2 ;NA; NA\r\n\
                3;\"a;b\"\t;20\r\n\
                4;  plain  ;40\r\n";
    let v = lab.ingest(&lab.write("d.csv", text), "dialect", &contract);
    assert_eq!(v["rows"], 4);
    let shown = lab.show("dialect@1");
    let id = column(&shown, "id");
    assert!(close(&id["numeric"]["min"], 1.0), "{id}");
    assert!(close(&id["numeric"]["max"], 4.0), "{id}");
    let score = column(&shown, "score");
    assert_eq!(score["count"], 3);
    assert_eq!(score["nulls"], 1);
    assert!(close(&score["numeric"]["mean"], 90.5 / 3.0), "{score}");
    assert!(close(&score["numeric"]["min"], 20.0), "{score}");
    assert!(close(&score["numeric"]["max"], 40.0), "{score}");
    let name = column(&shown, "name");
    assert_eq!(name["count"], 3);
    assert_eq!(name["nulls"], 1);
    let mut top: Vec<String> = name["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["value"].as_str().unwrap().to_string())
        .collect();
    top.sort();
    assert_eq!(top, ["Smith; John", "a;b", "plain"], "{name}");
}

#[test]
fn violations_in_a_crlf_file_name_the_line_the_row_starts_on() {
    let lab = Lab::new();
    let contract = lab.write("people.toml", PEOPLE);
    let text = "id,age,housing\r\n1,30,own\r\n2,30,own\r\n3,17,own\r\n";
    // As in the same file with LF line ends: row 3 is on line 4.
    lab.refused(
        &lab.write("lf.csv", text.replace("\r\n", "\n")),
        "people",
        &contract,
        &["[range] row 3 (line 4), column \"age\""],
    );
    lab.refused(
        &lab.write("crlf.csv", text),
        "people",
        &contract,
        &["[range] row 3 (line 4), column \"age\""],
    );
}

// ---------------------------------------------------------------------------
// Parquet.

/// A Parquet column: its name and values (`None` is missing; a column with
/// a missing value is OPTIONAL, otherwise REQUIRED).
pub(crate) enum Col {
    I64(&'static str, Vec<Option<i64>>),
    F64(&'static str, Vec<Option<f64>>),
    Str(&'static str, Vec<Option<&'static str>>),
}

/// Writes a one-row-group, Snappy-compressed Parquet file.
pub(crate) fn write_parquet(path: &Path, cols: &[Col]) {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;

    fn levels<T: Clone>(v: &[Option<T>]) -> (Vec<T>, Option<Vec<i16>>) {
        let present = v.iter().flatten().cloned().collect();
        let optional = v.iter().any(Option::is_none);
        let defs = optional.then(|| v.iter().map(|x| i16::from(x.is_some())).collect());
        (present, defs)
    }
    fn repetition<T>(v: &[Option<T>]) -> &'static str {
        if v.iter().any(Option::is_none) {
            "OPTIONAL"
        } else {
            "REQUIRED"
        }
    }
    let fields: Vec<String> = cols
        .iter()
        .map(|c| match c {
            Col::I64(n, v) => format!("{} INT64 {n};", repetition(v)),
            Col::F64(n, v) => format!("{} DOUBLE {n};", repetition(v)),
            Col::Str(n, v) => format!("{} BYTE_ARRAY {n} (UTF8);", repetition(v)),
        })
        .collect();
    let schema = parquet::schema::parser::parse_message_type(&format!(
        "message schema {{ {} }}",
        fields.join(" ")
    ))
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let file = fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).unwrap();
    let mut rg = writer.next_row_group().unwrap();
    for c in cols {
        let mut w = rg.next_column().unwrap().unwrap();
        match c {
            Col::I64(_, v) => {
                let (vals, defs) = levels(v);
                w.typed::<Int64Type>()
                    .write_batch(&vals, defs.as_deref(), None)
                    .unwrap();
            }
            Col::F64(_, v) => {
                let (vals, defs) = levels(v);
                w.typed::<DoubleType>()
                    .write_batch(&vals, defs.as_deref(), None)
                    .unwrap();
            }
            Col::Str(_, v) => {
                let (vals, defs) = levels(v);
                let vals: Vec<ByteArray> = vals.into_iter().map(ByteArray::from).collect();
                w.typed::<ByteArrayType>()
                    .write_batch(&vals, defs.as_deref(), None)
                    .unwrap();
            }
        }
        w.close().unwrap();
    }
    rg.close().unwrap();
    writer.close().unwrap();
}

const PARQUET_CONTRACT: &str = r#"
name = "pq"
version = 1
key = ["id"]
[[columns]]
name = "id"
type = "integer"
[[columns]]
name = "age"
type = "integer"
nullable = true
min = 18
max = 100
[[columns]]
name = "score"
type = "float"
[[columns]]
name = "city"
type = "category"
categories = ["berlin", "paris", "rome"]
nullable = true
"#;

fn pq_ids() -> Col {
    Col::I64("id", (1..=6).map(Some).collect())
}
fn pq_ages() -> Col {
    Col::I64(
        "age",
        vec![Some(20), None, Some(40), Some(50), None, Some(70)],
    )
}
fn pq_scores() -> Col {
    Col::F64(
        "score",
        vec![1.5, 2.5, 3.0, 4.0, 5.0, 2.0]
            .into_iter()
            .map(Some)
            .collect(),
    )
}
fn pq_cities() -> Col {
    Col::Str(
        "city",
        vec![
            Some("berlin"),
            Some("paris"),
            None,
            Some("berlin"),
            Some("rome"),
            Some("berlin"),
        ],
    )
}

#[test]
fn parquet_file_matching_its_contract_ingests_with_its_profile() {
    let lab = Lab::new();
    let contract = lab.write("pq.toml", PARQUET_CONTRACT);
    let file = lab.path("people.parquet");
    write_parquet(&file, &[pq_ids(), pq_ages(), pq_scores(), pq_cities()]);
    let v = lab.ingest(&file.display().to_string(), "pq", &contract);
    assert_eq!(v["rows"], 6);
    assert_eq!(v["dataset"], "pq@1");
    let shown = lab.show("pq@1");
    assert_eq!(shown["rows"], 6);
    assert_eq!(shown["format"], "parquet");
    assert_eq!(shown["profile"]["rows"], 6);
    let age = column(&shown, "age");
    assert_eq!(age["count"], 4);
    assert_eq!(age["nulls"], 2);
    assert!(close(&age["numeric"]["mean"], 45.0), "{age}");
    assert!(close(&age["numeric"]["min"], 20.0), "{age}");
    assert!(close(&age["numeric"]["max"], 70.0), "{age}");
    let score = column(&shown, "score");
    assert_eq!(score["nulls"], 0);
    assert!(close(&score["numeric"]["mean"], 3.0), "{score}");
    let city = column(&shown, "city");
    assert_eq!(city["count"], 5);
    assert_eq!(city["nulls"], 1);
    assert_eq!(city["distinct"], 3);
    assert_eq!(city["top"][0]["value"], "berlin");
    assert_eq!(city["top"][0]["count"], 3);
    // The same rules as CSV apply to its cells.
    let bad = lab.path("bad.parquet");
    let ages = vec![Some(20), None, Some(140), Some(50), None, Some(70)];
    write_parquet(
        &bad,
        &[pq_ids(), Col::I64("age", ages), pq_scores(), pq_cities()],
    );
    lab.refused(
        &bad.display().to_string(),
        "pq",
        &contract,
        &["[range] row 3, column \"age\": expected integer in [18, 100], found 140"],
    );
}

#[test]
fn parquet_file_with_a_changed_column_type_is_refused() {
    let lab = Lab::new();
    let contract = lab.write("pq.toml", PARQUET_CONTRACT);
    let file = lab.path("changed.parquet");
    let ages = Col::Str(
        "age",
        vec![
            Some("20"),
            Some("30"),
            Some("40"),
            None,
            Some("50"),
            Some("60"),
        ],
    );
    write_parquet(&file, &[pq_ids(), ages, pq_scores(), pq_cities()]);
    let before = store_fingerprint(&lab.home);
    let file = file.display().to_string();
    fails(
        &lab.home,
        &[
            "data",
            "ingest",
            &file,
            "--dataset",
            "pq",
            "--contract",
            &contract,
        ],
        3,
        &[
            "does not match contract pq v1: changed types: age (contract integer, file string); nothing was stored",
        ],
    );
    assert_refused(
        &lab.home,
        &before,
        "data.refused",
        "the header or schema does not match the contract",
    );
}

#[test]
fn parquet_file_missing_a_column_is_refused() {
    let lab = Lab::new();
    let contract = lab.write("pq.toml", PARQUET_CONTRACT);
    let file = lab.path("cut.parquet");
    write_parquet(&file, &[pq_ids(), pq_ages(), pq_scores()]);
    let before = store_fingerprint(&lab.home);
    let file = file.display().to_string();
    fails(
        &lab.home,
        &[
            "data",
            "ingest",
            &file,
            "--dataset",
            "pq",
            "--contract",
            &contract,
        ],
        3,
        &["does not match contract pq v1: missing columns: city; nothing was stored"],
    );
    assert_refused(
        &lab.home,
        &before,
        "data.refused",
        "the header or schema does not match the contract",
    );
}

#[test]
fn parquet_file_with_ignored_and_renamed_columns_reads_like_its_contract() {
    let lab = Lab::new();
    let contract = lab.write(
        "pq.toml",
        PARQUET_CONTRACT.replace(
            "key = [\"id\"]\n",
            "key = [\"id\"]\nignore = [\"note\", \"weight\"]\n[[rename]]\nfrom = \"years\"\nto = \"age\"\n",
        ),
    );
    let note = Col::Str(
        "note",
        vec![Some("x"), None, Some("?"), Some(""), Some("n/a"), Some("y")],
    );
    // Values no column of the contract would accept: an ignored column is never read.
    let weight = Col::F64("weight", vec![Some(-1e300), None, None, None, None, None]);
    let Col::I64(_, ages) = pq_ages() else {
        unreachable!()
    };
    let file = lab.path("renamed.parquet");
    write_parquet(
        &file,
        &[
            note,
            pq_ids(),
            Col::I64("years", ages),
            weight,
            pq_scores(),
            pq_cities(),
        ],
    );
    let v = lab.ingest(&file.display().to_string(), "pq", &contract);
    assert_eq!(v["rows"], 6);
    assert_eq!(
        v["ignored"],
        serde_json::json!([{ "position": 1, "name": "note" }, { "position": 4, "name": "weight" }])
    );
    assert_eq!(
        v["renamed"],
        serde_json::json!([{ "position": 3, "from": "years", "to": "age" }])
    );
    // The same profile as the file written with the contract's own columns.
    let plain = lab.path("plain.parquet");
    write_parquet(&plain, &[pq_ids(), pq_ages(), pq_scores(), pq_cities()]);
    lab.ingest(&plain.display().to_string(), "pq", &contract);
    let (a, b) = (lab.show("pq@1"), lab.show("pq@2"));
    assert_eq!(a["profile"]["columns"], b["profile"]["columns"]);
    // Training reads the stored snapshot through the same mapping.
    let home = airlock::node::home::Home::open(&lab.home).unwrap();
    let loaded = airlock::ops::ingest::load(&home, &"pq@1".parse().unwrap()).unwrap();
    let again = airlock::ops::ingest::load(&home, &"pq@2".parse().unwrap()).unwrap();
    assert_eq!(loaded.rows, again.rows);
    assert_eq!(loaded.rows[0].len(), 4);
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
