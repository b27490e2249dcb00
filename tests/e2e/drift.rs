//! `airlock data drift`: a file compared with a reference dataset, feature by feature.
//! Files like the reference show no drift (exit 0); a file with one number shifted by half
//! a standard deviation and one category reweighted names exactly those two (exit 8), with
//! a distance when large and a test when small; the command writes nothing; a file breaking
//! the contract is refused with its rows located.
//!
//! Each test works in its own small home (`airlock init --site lab`).

use std::fs;
use std::path::PathBuf;

use crate::contracts::{Col, write_parquet};
use crate::harness::{fails, fingerprint, ok, run};

const CONTRACT: &str = r#"
name = "sensor"
version = 1
key = ["id"]
[[columns]]
name = "id"
type = "integer"
[[columns]]
name = "x"
type = "float"
[[columns]]
name = "n"
type = "integer"
min = 0
[[columns]]
name = "c"
type = "category"
categories = ["a", "b", "c"]
[[columns]]
name = "flag"
type = "integer"
[[columns]]
name = "note"
type = "string"
nullable = true
"#;

/// splitmix64, for seeded data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (a, b) = (self.next().max(1e-300), self.next());
        (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
    }
}

/// One row of sensor data: x ~ N(10 + shift·2, 2), n ~ about 20 values, c with weights,
/// flag 0/1, a note.
struct Data {
    rows: usize,
    seed: u64,
    shift: f64,
    weights: [f64; 3],
}

impl Data {
    fn like_reference(rows: usize, seed: u64) -> Data {
        Data {
            rows,
            seed,
            shift: 0.0,
            weights: [0.5, 0.3, 0.2],
        }
    }
    fn shifted(rows: usize, seed: u64) -> Data {
        Data {
            rows,
            seed,
            shift: 0.5,
            weights: [0.2, 0.3, 0.5],
        }
    }
    fn cells(&self) -> Vec<(i64, f64, i64, &'static str, i64)> {
        let mut r = Rng(self.seed);
        (0..self.rows)
            .map(|i| {
                let x = 10.0 + 2.0 * (r.normal() + self.shift);
                let n = (r.next() * 10.0 + r.next() * 10.0) as i64;
                let u = r.next();
                let c = if u < self.weights[0] {
                    "a"
                } else if u < self.weights[0] + self.weights[1] {
                    "b"
                } else {
                    "c"
                };
                let flag = i64::from(r.next() < 0.3);
                (i as i64 + 1, (x * 1e4).round() / 1e4, n, c, flag)
            })
            .collect()
    }
    fn csv(&self) -> String {
        let mut s = String::from("id,x,n,c,flag,note\n");
        for (i, (id, x, n, c, flag)) in self.cells().into_iter().enumerate() {
            s.push_str(&format!("{id},{x},{n},{c},{flag},note {}\n", i % 7));
        }
        s
    }
}

struct Lab {
    dir: tempfile::TempDir,
    home: PathBuf,
}

impl Lab {
    /// A home holding dataset `sensor@1`: 5,000 rows like [`Data::like_reference`].
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        ok(&home, &["init", "--site", "lab"]);
        let lab = Lab { dir, home };
        let contract = lab.write("sensor.toml", CONTRACT);
        let reference = lab.write("reference.csv", Data::like_reference(5000, 1).csv());
        ok(
            &lab.home,
            &[
                "data",
                "ingest",
                &reference,
                "--dataset",
                "sensor",
                "--contract",
                &contract,
            ],
        );
        lab
    }
    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        let p = self.dir.path().join(name);
        fs::write(&p, content).unwrap();
        p.display().to_string()
    }
    /// `data drift sensor@1 --current FILE [more]` with `--json`: (exit code, report).
    fn drift(&self, file: &str, more: &[&str]) -> (i32, serde_json::Value) {
        let args = [
            &["--json", "data", "drift", "sensor@1", "--current", file],
            more,
        ]
        .concat();
        let out = run(&self.home, &args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code().unwrap(), v)
    }
}

fn feature<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["column"] == name)
        .unwrap()
}

fn drifted(report: &serde_json::Value) -> Vec<&str> {
    report["drifted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[test]
fn a_file_like_the_reference_shows_no_drift_and_exits_0() {
    let lab = Lab::new();
    let file = lab.write("same.csv", Data::like_reference(5000, 2).csv());
    let (code, r) = lab.drift(&file, &[]);
    assert_eq!(code, 0, "{r}");
    assert!(drifted(&r).is_empty(), "{r}");
    assert_eq!(
        (r["reference_rows"].as_u64(), r["current_rows"].as_u64()),
        (Some(5000), Some(5000))
    );
    assert_eq!(r["reference_from"], "profile");
    assert_eq!(feature(&r, "x")["measure"], "wasserstein");
    assert_eq!(feature(&r, "n")["measure"], "wasserstein");
    assert_eq!(feature(&r, "c")["measure"], "jensen_shannon");
    // Two distinct values: compared as categories.
    assert_eq!(feature(&r, "flag")["measure"], "jensen_shannon");
    for (name, why) in [("id", "key column"), ("note", "free text")] {
        let f = feature(&r, name);
        assert_eq!(f["verdict"], "not_checked");
        assert!(f["note"].as_str().unwrap().contains(why), "{f}");
    }
}

#[test]
fn a_shifted_file_names_exactly_the_features_that_moved_and_exits_8() {
    let lab = Lab::new();
    let file = lab.write("shifted.csv", Data::shifted(5000, 3).csv());
    let (code, r) = lab.drift(&file, &[]);
    assert_eq!(code, 8, "drift found is exit 8: {r}");
    assert_eq!(drifted(&r), ["x", "c"], "{r}");
    let x = feature(&r, "x");
    assert_eq!(x["verdict"], "drift");
    // Half a standard deviation: the normed Wasserstein distance is about 0.5.
    let w = x["value"].as_f64().unwrap();
    assert!((0.4..0.6).contains(&w), "{x}");
    assert_eq!(x["threshold"], 0.1);
    // The text report: one line per feature, the drifted ones marked, with a bar.
    let out = run(
        &lab.home,
        &["data", "drift", "sensor@1", "--current", &file],
    );
    assert_eq!(out.status.code(), Some(8));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("x "))
        .unwrap();
    assert!(
        line.contains("wasserstein") && line.contains("DRIFT") && line.contains('█'),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("n "))
        .unwrap();
    assert!(line.contains(" ok"), "{text}");
    assert!(text.contains("2 of 4 features drifted: x, c"), "{text}");
}

#[test]
fn a_small_current_file_is_tested_with_p_values() {
    let lab = Lab::new();
    let file = lab.write("small.csv", Data::shifted(300, 4).csv());
    let (code, r) = lab.drift(&file, &[]);
    assert_eq!(code, 8);
    assert_eq!(drifted(&r), ["x", "c"], "{r}");
    let x = feature(&r, "x");
    assert_eq!(x["measure"], "ks");
    assert!(x["p_value"].as_f64().unwrap() < 0.05, "{x}");
    assert_eq!(x["threshold"], 0.05);
    assert_eq!(feature(&r, "c")["measure"], "chi_squared");
    let calm = lab.write("calm.csv", Data::like_reference(300, 5).csv());
    let (code, r) = lab.drift(&calm, &[]);
    assert_eq!(code, 0, "{r}");
    assert!(feature(&r, "n")["p_value"].as_f64().unwrap() >= 0.05, "{r}");
}

#[test]
fn drift_writes_nothing_and_records_nothing() {
    let lab = Lab::new();
    let file = lab.write("shifted.csv", Data::shifted(2000, 6).csv());
    let before = fingerprint(&lab.home);
    let (code, _) = lab.drift(&file, &[]);
    assert_eq!(code, 8);
    assert_eq!(
        fingerprint(&lab.home),
        before,
        "no row, object or audit record"
    );
}

#[test]
fn a_current_file_breaking_the_contract_is_refused_with_its_rows() {
    let lab = Lab::new();
    let csv = Data::like_reference(50, 7).csv();
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    lines[2] = lines[2]
        .replacen(",b,", ",z,", 1)
        .replacen(",a,", ",z,", 1)
        .replacen(",c,", ",z,", 1);
    lines[4] = "4,not-a-number,3,a,0,x".into();
    let bad = lab.write("bad.csv", lines.join("\n") + "\n");
    let before = fingerprint(&lab.home);
    fails(
        &lab.home,
        &["data", "drift", "sensor@1", "--current", &bad],
        3,
        &[
            "breaks contract sensor v1: 2 violations (type 1, category 1); drift was not measured",
            "row 2 (line 3), column \"c\": expected one of [a, b, c], found \"z\"",
            "row 4 (line 5), column \"x\": expected number, found \"not-a-number\"",
        ],
    );
    let cut = lab.write("cut.csv", "id,x,n,c,flag\n1,2.0,3,a,0\n");
    fails(
        &lab.home,
        &["data", "drift", "sensor@1", "--current", &cut],
        3,
        &["missing columns: note"],
    );
    let empty = lab.write("empty.csv", "id,x,n,c,flag,note\n");
    fails(
        &lab.home,
        &["data", "drift", "sensor@1", "--current", &empty],
        3,
        &["no data rows"],
    );
    fails(
        &lab.home,
        &["data", "drift", "nothing@1", "--current", &empty],
        6,
        &["nothing"],
    );
    assert_eq!(fingerprint(&lab.home), before);
}

#[test]
fn a_policy_file_sets_measures_and_thresholds_and_a_bad_one_is_refused() {
    let lab = Lab::new();
    let file = lab.write("shifted.csv", Data::shifted(5000, 8).csv());
    let policy = lab.write(
        "policy.toml",
        "numeric = 'psi'\ncategorical = 'psi'\npsi = 0.25\n",
    );
    let (code, r) = lab.drift(&file, &["--policy", &policy]);
    assert_eq!(code, 8);
    let x = feature(&r, "x");
    assert_eq!(
        (x["measure"].as_str(), x["threshold"].as_f64()),
        (Some("psi"), Some(0.25)),
        "{x}"
    );
    assert_eq!(r["policy"]["numeric"], "psi");
    let bad = lab.write("bad.toml", "alpha = 2\n");
    fails(
        &lab.home,
        &[
            "data",
            "drift",
            "sensor@1",
            "--current",
            &file,
            "--policy",
            &bad,
        ],
        3,
        &["alpha must be between 0 and 1"],
    );
    let unknown = lab.write("unknown.toml", "treshold = 0.2\n");
    fails(
        &lab.home,
        &[
            "data",
            "drift",
            "sensor@1",
            "--current",
            &file,
            "--policy",
            &unknown,
        ],
        3,
        &["unknown field"],
    );
}

#[test]
fn a_parquet_current_file_is_read_like_csv() {
    let lab = Lab::new();
    let cells = Data::shifted(3000, 9).cells();
    let file = lab.dir.path().join("shifted.parquet");
    write_parquet(
        &file,
        &[
            Col::I64("id", cells.iter().map(|c| Some(c.0)).collect()),
            Col::F64("x", cells.iter().map(|c| Some(c.1)).collect()),
            Col::I64("n", cells.iter().map(|c| Some(c.2)).collect()),
            Col::Str("c", cells.iter().map(|c| Some(c.3)).collect()),
            Col::I64("flag", cells.iter().map(|c| Some(c.4)).collect()),
            Col::Str("note", cells.iter().map(|_| None).collect()),
        ],
    );
    let (code, r) = lab.drift(&file.display().to_string(), &[]);
    assert_eq!(code, 8, "{r}");
    assert_eq!(drifted(&r), ["x", "c"], "{r}");
    assert_eq!(feature(&r, "note")["current_missing"], 3000);
    // The same rows as CSV give the same report.
    let csv = lab.write("shifted.csv", Data::shifted(3000, 9).csv());
    let (_, from_csv) = lab.drift(&csv, &[]);
    assert_eq!(feature(&r, "x")["value"], feature(&from_csv, "x")["value"]);
    assert_eq!(feature(&r, "c")["value"], feature(&from_csv, "c")["value"]);
}
