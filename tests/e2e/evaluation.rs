//! `airlock evaluate` on the German credit data (tests/fixtures/german): a model trained on
//! the first 700 rows is evaluated on the other 300, ingested as a second version under the
//! same contract, with slices, two sensitive attributes and robustness; the signed record is
//! listed by `models show` and audited.

use std::fs;
use std::path::Path;

use crate::features::{GERMAN, german_contract};
use crate::harness::{fails, last_audit, ok};

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

[[features]]
column = "status_sex"
transform = "one_hot"
"#;

/// A home with german@1 (rows 1-700), german@2 (rows 701-1000), the feature set and a trained
/// logistic regression; returns the model id.
pub(crate) fn trained(dir: &Path) -> (std::path::PathBuf, String) {
    let raw = fs::read_to_string(GERMAN).unwrap();
    let rows: Vec<Vec<String>> = raw
        .lines()
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect();
    let home = dir.join("home");
    ok(&home, &["init", "--site", "lab"]);
    let contract = dir.join("german.toml");
    fs::write(&contract, german_contract(&rows)).unwrap();
    ok(&home, &["contract", "apply", contract.to_str().unwrap()]);
    for (name, part) in [("train.data", &rows[..700]), ("test.data", &rows[700..])] {
        let f = dir.join(name);
        let text: Vec<String> = part.iter().map(|r| r.join(" ")).collect();
        fs::write(&f, text.join("\n") + "\n").unwrap();
        ok(
            &home,
            &[
                "data",
                "ingest",
                f.to_str().unwrap(),
                "--dataset",
                "german",
                "--contract",
                "german@1",
            ],
        );
    }
    let spec = dir.join("spec.toml");
    fs::write(&spec, SPEC).unwrap();
    ok(&home, &["features", "apply", spec.to_str().unwrap()]);
    let out = ok(
        &home,
        &[
            "--json",
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
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    (home, v["id"].as_str().unwrap().to_owned())
}

#[test]
fn evaluate_reports_slices_fairness_robustness_and_is_signed_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let (home, model) = trained(dir.path());
    let out = ok(
        &home,
        &[
            "--json",
            "evaluate",
            &model,
            "--dataset",
            "german@2",
            "--slice-by",
            "housing",
            "--sensitive",
            "status_sex",
            "--sensitive",
            "age:25",
            "--min-slice-rows",
            "50",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["type"], "airlock.evaluation/v1");
    assert_eq!(v["rows"], 300);
    assert_eq!(v["dataset_ref"], "german@2");
    let m = &v["metrics"];
    assert!(m["roc_auc"].as_f64().unwrap() > 0.6, "{m}");
    // The confusion at 0.5 counts every row; the sweep has 21 points.
    let c = &v["confusion"];
    let total: u64 = [
        "true_positive",
        "false_positive",
        "true_negative",
        "false_negative",
    ]
    .iter()
    .map(|k| c[k].as_u64().unwrap())
    .sum();
    assert_eq!(total, 300);
    assert_eq!(v["sweep"].as_array().unwrap().len(), 21);
    assert_eq!(v["importance"].as_array().unwrap().len(), 6);
    // Slices: every housing value, each with its row count; the small ones are flagged.
    let groups = v["slices"][0]["groups"].as_array().unwrap();
    let rows: u64 = groups.iter().map(|g| g["rows"].as_u64().unwrap()).sum();
    assert_eq!(rows, 300);
    for g in groups {
        assert_eq!(
            g["small"].as_bool().unwrap(),
            g["rows"].as_u64().unwrap() < 50,
            "{g}"
        );
        let [lo, hi] = [0, 1].map(|i| g["accuracy_interval"][i].as_f64().unwrap());
        let acc = g["metrics"]["accuracy"].as_f64().unwrap();
        assert!(lo <= acc && acc <= hi, "{g}");
    }
    assert!(
        groups.iter().any(|g| g["small"] == true),
        "some housing value is rare"
    );
    // Fairness: status_sex by its values, age in two bands.
    let f = v["fairness"].as_array().unwrap();
    assert_eq!(f[0]["attribute"], "status_sex");
    assert!(f[0]["fairness"]["groups"].as_array().unwrap().len() >= 3);
    let bands: Vec<&str> = f[1]["fairness"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(bands, ["<=25", ">25"]);
    let ratio = f[1]["fairness"]["selection"]["ratio"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ratio), "{ratio}");
    // Robustness: noise and FGSM, FGSM no better than clean.
    let r = v["robustness"].as_array().unwrap();
    assert_eq!(r.len(), 2);
    assert!(r[1]["perturbed"].as_f64().unwrap() <= r[1]["clean"].as_f64().unwrap());

    // Signed, audited, listed by models show (text and JSON).
    let id = v["id"].as_str().unwrap();
    let (action, _) = last_audit(&home);
    assert_eq!(action, "model.evaluate");
    let shown = ok(&home, &["models", "show", &model]);
    assert!(
        shown.contains(&format!("evaluation  {}", &id[..8])),
        "{shown}"
    );
    assert!(shown.contains("on german@2"), "{shown}");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&home, &["--json", "models", "show", &model])).unwrap();
    assert_eq!(shown["evaluations"][0]["id"], id);
    // The text form names the too-small slices.
    let text = ok(
        &home,
        &[
            "evaluate",
            &model,
            "--dataset",
            "german@2",
            "--slice-by",
            "housing",
            "--min-slice-rows",
            "50",
        ],
    );
    assert!(text.contains("TOO SMALL"), "{text}");
    assert!(text.contains("robustness"), "{text}");
}

#[test]
fn evaluate_refuses_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (home, model) = trained(dir.path());
    fails(
        &home,
        &["evaluate", &model, "--dataset", "nope@1"],
        6,
        &["nope"],
    );
    fails(
        &home,
        &[
            "evaluate",
            &model,
            "--dataset",
            "german@2",
            "--slice-by",
            "no_such_column",
        ],
        3,
        &["no_such_column", "is not in contract"],
    );
    fails(
        &home,
        &[
            "evaluate",
            &model,
            "--dataset",
            "german@2",
            "--sensitive",
            "age:60,25",
        ],
        3,
        &["cut points must rise"],
    );
    // Hundreds of amounts are not slices: refused while the rows stream by.
    fails(
        &home,
        &[
            "evaluate",
            &model,
            "--dataset",
            "german@2",
            "--slice-by",
            "credit_amount",
        ],
        3,
        &["--slice-by credit_amount", "more than 100 distinct values"],
    );
}

/// An evaluation made at lab travels with the model: plant imports it, verified as signed by
/// lab, and lists it with the model.
#[test]
fn an_evaluation_travels_with_the_model_across_the_air_gap() {
    let w = crate::harness::World::new();
    let model = w.model();
    let out = ok(
        &w.lab(),
        &["--json", "evaluate", &model, "--dataset", "credit@1"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    let bundle = w.fresh_bundle("with-evaluation.airlock");
    let inspect = ok(
        &w.plant(),
        &["--json", "bundle", "inspect", bundle.to_str().unwrap()],
    );
    assert!(
        inspect.contains(&id),
        "the manifest lists the evaluation: {inspect}"
    );
    ok(&w.plant(), &["bundle", "import", bundle.to_str().unwrap()]);
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&w.plant(), &["--json", "models", "show", &model])).unwrap();
    assert_eq!(shown["evaluations"][0]["id"], id.as_str());
    assert_eq!(shown["evaluations"][0]["site"], "lab");
}
