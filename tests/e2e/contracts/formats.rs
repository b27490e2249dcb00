//! Input formats: the CSV dialects (header-less, other delimiters, BOM, CRLF,
//! null tokens), header diffs, and Parquet files.

use std::fs;

use super::*;

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
