//! Data ingestion under schema contracts, by theme: every kind of contract
//! violation located and refused with nothing stored, and quarantine files
//! (`violations`); the CSV dialects (header-less, other delimiters, BOM,
//! CRLF, null tokens) and Parquet input (`formats`); and contracts as
//! versioned documents: apply, show, diff, list (`documents`). This file
//! holds what they share: the test home and the files they ingest.
//!
//! Each test works in its own small home (`airlock init --site lab`), not
//! the demo world, so the whole module runs in a few seconds.

mod documents;
mod formats;
mod violations;

use std::fs;
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
// Parquet files, written for the tests here and in `drift`.
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
