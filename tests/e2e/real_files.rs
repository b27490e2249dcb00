//! Real files without hand edits (issue 16): the German credit data written as a CSV file
//! the way a bank's export would be, with columns the model does not use (an applicant id,
//! free-text notes) and a header name repeated (`age`: the applicant's and the
//! co-applicant's), ingested under a contract that ignores and renames them; `predict` reading
//! such CSV files under the model's contract; `evaluate --file` ingesting a test file and
//! naming the dataset it made; and binary predictions that name the negative class by its own
//! value.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::features::{GERMAN, german_contract};
use crate::harness::{World, assert_refused, fails, last_audit, ok, store_fingerprint};

/// german.data's columns, in order (tests/fixtures/german/README.md).
const COLUMNS: [&str; 21] = [
    "status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "present_employment",
    "installment_rate",
    "status_sex",
    "other_debtors",
    "present_residence_since",
    "property",
    "age",
    "installment_plans",
    "housing",
    "number_of_existing_credits",
    "job",
    "number_of_people_liable_for",
    "telephone",
    "foreign_worker",
    "credit",
];

/// The rules that read [`export`]'s files: two columns ignored, `amount` read as
/// `credit_amount`, the second `age` as `co_applicant_age`.
const RULES: &str = "ignore = [\"applicant_id\", \"notes\"]\n";
const RENAMES: &str = "\n[[rename]]\nfrom = \"amount\"\nto = \"credit_amount\"\n\n[[rename]]\nfrom = \"age\"\noccurrence = 2\nto = \"co_applicant_age\"\n";
const CO_APPLICANT: &str = "[[columns]]\nname = \"co_applicant_age\"\ntype = \"integer\"\nnullable = true\nmin = 18\nmax = 100\n";

const SPEC: &str = r#"
name = "german-features"
dataset = "german@1"
label = "credit"
positive = "2"

[[features]]
column = "duration"
transform = "standardize"

[[features]]
column = "credit_amount"
transform = "log1p"
scale = "standardize"

[[features]]
column = "age"
transform = "standardize"

[[features]]
column = "status"
transform = "one_hot"

[[features]]
column = "credit_history"
transform = "one_hot"
"#;

fn german_rows() -> Vec<Vec<String>> {
    fs::read_to_string(GERMAN)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect()
}

/// The German credit contract for [`export`]'s files: a header, commas, and `rules` and
/// `renames` (the `co_applicant_age` column too when there are renames).
fn header_contract(rows: &[Vec<String>], rules: &str, renames: &str) -> String {
    let base = german_contract(rows);
    let (top, columns) = base
        .split_once("[csv]\nheader = false\ndelimiter = \" \"\n")
        .unwrap();
    let co = if renames.is_empty() { "" } else { CO_APPLICANT };
    format!("{top}{rules}{columns}{co}{renames}")
}

/// Rows `first..` of the German data as a bank's CSV export: an applicant id first,
/// `credit_amount` headed `amount`, then after the label a second `age` (the
/// co-applicant's, `?` when there is none) and free-text notes that no contract rule could
/// read (quoted commas and quotes, an escape sequence).
fn export(rows: &[Vec<String>], first: usize) -> String {
    let mut header = vec!["applicant_id"];
    header.extend(COLUMNS.map(|c| if c == "credit_amount" { "amount" } else { c }));
    header.extend(["age", "notes"]);
    let mut text = header.join(",") + "\n";
    for (k, r) in rows.iter().enumerate() {
        let i = first + k;
        let co = if i.is_multiple_of(3) {
            "?".to_string()
        } else {
            (20 + i % 50).to_string()
        };
        let notes = match i % 5 {
            0 => "\"called, no answer\"",
            1 => "",
            2 => "n/a",
            3 => "\"said \"\"fine\"\"\"",
            _ => "\"1e999, NA, \u{1b}[2J\"",
        };
        text.push_str(&format!("A-{i:05},{},{co},{notes}\n", r.join(",")));
    }
    text
}

/// The profile of column `name` in a `data show --json` dataset record.
fn column<'a>(dataset: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    dataset["profile"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no column {name:?} in {dataset}"))
}

fn json(home: &Path, args: &[&str]) -> serde_json::Value {
    let args = [&["--json"], args].concat();
    serde_json::from_str(&ok(home, &args)).unwrap()
}

#[test]
fn german_file_with_extra_columns_and_a_repeated_header_name_ingests_under_ignore_and_rename() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    ok(&home, &["init", "--site", "lab"]);
    let rows = german_rows();
    let text = export(&rows, 0);
    let file = dir.path().join("applicants.csv");
    fs::write(&file, &text).unwrap();
    let file = file.display().to_string();

    // Under a contract that only lists its columns, the file is refused: the extra columns
    // are named with the way to ignore them, and the repeated `age` with the TOML that names
    // its copies. Nothing is stored; the refusal is audited.
    let plain = dir.path().join("plain.toml");
    fs::write(&plain, header_contract(&rows, "", "")).unwrap();
    let before = store_fingerprint(&home);
    let err = fails(
        &home,
        &[
            "data",
            "ingest",
            &file,
            "--dataset",
            "german",
            "--contract",
            &plain.display().to_string(),
        ],
        3,
        &[
            "does not match contract german v1",
            "missing columns: credit_amount",
            "extra columns: applicant_id, amount, notes",
            "set `ignore_unlisted = true`",
            "header name \"age\" appears 2 times (positions 14, 23)",
        ],
    );
    assert!(
        err.contains("  [[rename]]\n  from = \"age\"\n  occurrence = 2\n  to = \"age_2\"\n"),
        "the exact TOML to add: {err}"
    );
    assert_refused(
        &home,
        &before,
        "data.refused",
        "does not match the contract",
    );

    // With the rules: accepted, and the result says what was ignored and renamed.
    let contract = dir.path().join("german.toml");
    fs::write(&contract, header_contract(&rows, RULES, RENAMES)).unwrap();
    let contract = contract.display().to_string();
    let v = json(
        &home,
        &[
            "data",
            "ingest",
            &file,
            "--dataset",
            "german",
            "--contract",
            &contract,
        ],
    );
    assert_eq!(v["rows"], 1000);
    let ignored = serde_json::json!([
        { "position": 1, "name": "applicant_id" },
        { "position": 24, "name": "notes" }
    ]);
    let renamed = serde_json::json!([
        { "position": 6, "from": "amount", "to": "credit_amount" },
        { "position": 23, "from": "age", "to": "co_applicant_age" }
    ]);
    assert_eq!(v["ignored"], ignored);
    assert_eq!(v["renamed"], renamed);
    // The raw snapshot is the file as received, ignored columns and all.
    assert_eq!(
        v["snapshot"].as_str().unwrap(),
        hex(&Sha256::digest(text.as_bytes()))
    );
    let (action, details) = last_audit(&home);
    assert_eq!(action, "data.ingest");
    assert_eq!(details["ignored_columns"], 2);
    assert_eq!(details["renamed_columns"], 2);

    // The signed record keeps both lists; its profile has the contract's columns only, and
    // they are the same figures as the original file's, read without any of this.
    let shown = json(&home, &["data", "show", "german@1"])["dataset"].clone();
    assert_eq!(shown["ignored"], ignored);
    assert_eq!(shown["renamed"], renamed);
    let names: Vec<&str> = shown["profile"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let mut want = COLUMNS.to_vec();
    want.push("co_applicant_age");
    assert_eq!(names, want);
    let raw_contract = dir.path().join("german-raw.toml");
    fs::write(
        &raw_contract,
        german_contract(&rows).replace("name = \"german\"", "name = \"german-raw\""),
    )
    .unwrap();
    json(
        &home,
        &[
            "data",
            "ingest",
            GERMAN,
            "--dataset",
            "german-raw",
            "--contract",
            &raw_contract.display().to_string(),
        ],
    );
    let raw = json(&home, &["data", "show", "german-raw@1"])["dataset"].clone();
    for c in COLUMNS {
        assert_eq!(column(&shown, c), column(&raw, c), "column {c}");
    }
    let co = column(&shown, "co_applicant_age");
    assert_eq!(co["nulls"], 334, "every third row has no co-applicant");

    // The text forms say it too.
    let text_show = ok(&home, &["data", "show", "german@1"]);
    assert!(
        text_show.contains("ignored 2 header columns: applicant_id (column 1), notes (column 24)"),
        "{text_show}"
    );
    assert!(
        text_show.contains("renamed header column 23 \"age\" -> \"co_applicant_age\""),
        "{text_show}"
    );

    // An ignored cell is never parsed, but a NUL byte is refused in it too: a reader of the
    // stored file that stops at it would see another row.
    let nul = text.replacen("n/a", "n/\u{0}a", 1);
    let nul_file = dir.path().join("nul.csv");
    fs::write(&nul_file, &nul).unwrap();
    fails(
        &home,
        &[
            "data",
            "ingest",
            &nul_file.display().to_string(),
            "--dataset",
            "german",
            "--contract",
            &contract,
        ],
        3,
        &["[type] row 3 (line 4), column \"notes (ignored)\": expected a value without NUL bytes"],
    );

    // A contract that both lists and ignores a column is refused when applied.
    let both = dir.path().join("both.toml");
    fs::write(
        &both,
        header_contract(&rows, "ignore = [\"duration\"]\n", "")
            .replace("version = 1", "version = 2"),
    )
    .unwrap();
    fails(
        &home,
        &["contract", "apply", &both.display().to_string()],
        3,
        &["column \"duration\" is both listed and ignored"],
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A home with the German data's first 700 rows ingested from a bank export as german@1,
/// a feature set and a trained logistic regression.
struct German {
    dir: tempfile::TempDir,
    home: PathBuf,
    rows: Vec<Vec<String>>,
    model: String,
}

impl German {
    fn new() -> German {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        ok(&home, &["init", "--site", "lab"]);
        let rows = german_rows();
        let contract = dir.path().join("german.toml");
        fs::write(&contract, header_contract(&rows, RULES, RENAMES)).unwrap();
        let train = dir.path().join("train.csv");
        fs::write(&train, export(&rows[..700], 0)).unwrap();
        ok(
            &home,
            &[
                "data",
                "ingest",
                &train.display().to_string(),
                "--dataset",
                "german",
                "--contract",
                &contract.display().to_string(),
            ],
        );
        let spec = dir.path().join("spec.toml");
        fs::write(&spec, SPEC).unwrap();
        ok(&home, &["features", "apply", &spec.display().to_string()]);
        let v = json(
            &home,
            &[
                "train",
                "--dataset",
                "german@1",
                "--features",
                "german-features",
                "--model",
                "logreg",
                "--epochs",
                "30",
            ],
        );
        let model = v["id"].as_str().unwrap().to_owned();
        German {
            dir,
            home,
            rows,
            model,
        }
    }

    /// Writes `name` in the test's folder; returns its path.
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    /// Gates, approves (operator ada, certified here) and deploys the model.
    fn deploy(&self) {
        ok(
            &self.home,
            &["gate", &self.model, "--require", "roc_auc>=0.5"],
        );
        let pass = self.dir.path().join("ada.pass");
        fs::write(&pass, "ada-passphrase\n").unwrap();
        fs::set_permissions(&pass, fs::Permissions::from_mode(0o600)).unwrap();
        let pass = pass.display().to_string();
        let op = ["--operator", "ada", "--passphrase-file", pass.as_str()];
        ok(
            &self.home,
            &["keys", "operator", "new", "ada", "--passphrase-file", &pass],
        );
        ok(
            &self.home,
            &[&["approve", &self.model, "--note", "reviewed"][..], &op].concat(),
        );
        ok(&self.home, &[&["deploy", &self.model][..], &op].concat());
    }
}

/// The probabilities of a `predict --json` answer.
fn probabilities(v: &serde_json::Value) -> Vec<f64> {
    v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["probability"].as_f64().unwrap())
        .collect()
}

#[test]
fn predict_reads_csv_under_the_models_contract_with_ignored_and_renamed_columns() {
    let g = German::new();
    g.deploy();
    // The bank's export of the other 300 rows, label and extra columns included.
    let test = g.write("test.csv", &export(&g.rows[700..], 700));
    let v = json(&g.home, &["predict", "--input", &test]);
    let lines: Vec<u64> = v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lines,
        (2..=301).collect::<Vec<u64>>(),
        "line 1 is the header"
    );
    let from_csv = probabilities(&v);

    // The same rows as JSON lines, by contract column name: the same answers.
    let mut jsonl = String::new();
    for (k, r) in g.rows[700..].iter().enumerate() {
        let mut obj = serde_json::Map::new();
        for (c, cell) in COLUMNS.iter().zip(r) {
            obj.insert((*c).into(), cell.as_str().into());
        }
        let i = 700 + k;
        let co = if i.is_multiple_of(3) {
            "?".to_string()
        } else {
            (20 + i % 50).to_string()
        };
        obj.insert("co_applicant_age".into(), co.into());
        jsonl.push_str(&serde_json::Value::Object(obj).to_string());
        jsonl.push('\n');
    }
    let from_json = probabilities(&json(
        &g.home,
        &["predict", "--input", &g.write("test.jsonl", &jsonl)],
    ));
    assert_eq!(from_csv, from_json);

    // Without the label column, named by --format whatever the file's extension.
    let without: Vec<String> = export(&g.rows[700..], 700)
        .lines()
        .map(|l| {
            let mut cells: Vec<&str> = l.splitn(24, ',').collect();
            cells.remove(21);
            cells.join(",")
        })
        .collect();
    assert!(
        without[0].ends_with("foreign_worker,age,notes"),
        "{}",
        without[0]
    );
    let unlabelled = g.write("unlabelled.txt", &(without.join("\n") + "\n"));
    let v = json(
        &g.home,
        &["predict", "--input", &unlabelled, "--format", "csv"],
    );
    assert_eq!(probabilities(&v), from_csv);

    // A row that breaks the contract is named by its line; nothing is scored.
    let mut bad: Vec<String> = export(&g.rows[700..710], 700)
        .lines()
        .map(str::to_string)
        .collect();
    bad[4] = bad[4].replacen(",A1", ",B1", 1);
    bad[6] = "A-1,A11,6".into();
    fails(
        &g.home,
        &[
            "predict",
            "--input",
            &g.write("bad.csv", &(bad.join("\n") + "\n")),
        ],
        3,
        &[
            "2 problems against contract german v1; nothing was scored",
            "line 5, column \"status\": expected one of [A11, A12, A13, A14], found \"B1",
            "line 7: expected 24 fields, found 3",
        ],
    );
    // A column the contract neither lists nor ignores is refused by name.
    let branch = export(&g.rows[700..702], 700).replacen("notes\n", "branch\n", 1);
    fails(
        &g.home,
        &["predict", "--input", &g.write("branch.csv", &branch)],
        3,
        &["extra columns: branch"],
    );
}

#[test]
fn evaluate_file_ingests_under_the_models_contract_and_names_the_dataset() {
    let g = German::new();
    let test = g.write("test.csv", &export(&g.rows[700..], 700));
    let v = json(&g.home, &["evaluate", &g.model, "--file", &test]);
    assert_eq!(v["ingested"]["dataset"], "german-eval@1");
    assert_eq!(v["ingested"]["rows"], 300);
    assert_eq!(v["ingested"]["ignored"].as_array().unwrap().len(), 2);
    assert_eq!(v["dataset_ref"], "german-eval@1");
    assert_eq!(v["rows"], 300);
    assert!(v["metrics"]["roc_auc"].as_f64().unwrap() > 0.6, "{v}");
    let (action, _) = last_audit(&g.home);
    assert_eq!(action, "model.evaluate");
    // A normal ingest: listed, and its own audit record.
    let listed = ok(&g.home, &["data", "list"]);
    assert!(listed.contains("lab/german-eval@1  300 rows"), "{listed}");
    let log = ok(&g.home, &["audit", "log", "--action", "data.ingest"]);
    assert!(log.contains("german-eval@1"), "{log}");

    // --as names it; the text output says what was ingested and evaluates on it.
    let text = ok(
        &g.home,
        &["evaluate", &g.model, "--file", &test, "--as", "holdout"],
    );
    assert!(
        text.contains(&format!(
            "ingested {test} as holdout@1: 300 rows, contract german@1 (2 header columns ignored, 2 renamed)"
        )),
        "{text}"
    );
    assert!(text.contains("on holdout@1 (300 rows)"), "{text}");

    // A file that breaks the contract is refused by the ingest (audited); nothing is evaluated.
    let shown = json(&g.home, &["models", "show", &g.model]);
    let evaluations = shown["evaluations"].as_array().unwrap().len();
    let bad = export(&g.rows[700..705], 700).replacen(",A1", ",B1", 1);
    fails(
        &g.home,
        &["evaluate", &g.model, "--file", &g.write("bad.csv", &bad)],
        3,
        &["breaks contract german v1", "nothing was stored"],
    );
    let (action, _) = last_audit(&g.home);
    assert_eq!(action, "data.refused");
    let shown = json(&g.home, &["models", "show", &g.model]);
    assert_eq!(shown["evaluations"].as_array().unwrap().len(), evaluations);
    fails(
        &g.home,
        &[
            "evaluate",
            &g.model,
            "--file",
            &test,
            "--dataset",
            "german@1",
        ],
        2,
        &["cannot be used with"],
    );
}

#[test]
fn binary_predictions_show_the_negative_class_by_its_own_name() {
    // German credit: `credit` is 1 (good) or 2 (bad, the positive class); the contract only
    // says integer, the training rows hold the two values.
    let g = German::new();
    let shown = json(&g.home, &["models", "show", &g.model]);
    assert_eq!(shown["classes"], serde_json::json!(["1", "2"]));
    g.deploy();
    let test = g.write("test.csv", &export(&g.rows[700..], 700));
    let text = ok(&g.home, &["predict", "--input", &test]);
    assert!(text.contains("  class 1  probability"), "{text}");
    assert!(!text.contains("class not"), "{text}");
    let v = json(&g.home, &["predict", "--input", &test]);
    for p in v["predictions"].as_array().unwrap() {
        let class = p["class"].as_str().unwrap();
        let prob = p["probability"].as_f64().unwrap();
        assert_eq!(class, if prob >= 0.5 { "2" } else { "1" }, "{p}");
    }

    // The demo: `default` is an integer from 0 to 1, positive 1: the contract names class 0.
    let w = World::new();
    let shown = json(&w.plant(), &["models", "show", &w.model()]);
    assert_eq!(shown["classes"], serde_json::json!(["0", "1"]));
    let v = json(&w.plant(), &["predict", "--input", &w.m("requests.jsonl")]);
    for p in v["predictions"].as_array().unwrap() {
        assert!(["0", "1"].contains(&p["class"].as_str().unwrap()), "{p}");
    }
}
