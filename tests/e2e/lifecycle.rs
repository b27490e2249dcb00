use std::fs;

use crate::harness::{World, fails, fingerprint, ok};

#[test]
fn deploy_of_an_ungated_or_unapproved_model_is_refused() {
    let w = World::new();
    let id = w.train_logreg();
    let before = fingerprint(&w.lab());
    fails(
        &w.lab(),
        &["deploy", &id[..12]],
        5,
        &["is not gated", "airlock gate"],
    );
    let mut approve = vec!["approve".to_string(), id[..12].to_string()];
    approve.extend(w.as_op("dana"));
    fails(
        &w.lab(),
        &crate::harness::refs(&approve),
        5,
        &["no passing gate report"],
    );
    assert_eq!(fingerprint(&w.lab()), before);

    // A failing gate is stored (it is evidence) but still does not allow deploy.
    let out = super::harness::run(
        &w.lab(),
        &["gate", &id[..12], "--require", "roc_auc>=0.999"],
    );
    assert_eq!(out.status.code(), Some(5), "a failed gate exits 5");
    assert!(String::from_utf8_lossy(&out.stdout).contains("gate FAILED"));
    fails(&w.lab(), &["deploy", &id[..12]], 5, &["is not gated"]);

    ok(&w.lab(), &["gate", &id[..12], "--require", "roc_auc>=0.5"]);
    let gated = fingerprint(&w.lab());
    fails(
        &w.lab(),
        &["deploy", &id[..12]],
        5,
        &["is not approved", "airlock approve"],
    );
    assert_eq!(fingerprint(&w.lab()), gated);

    approve.extend(["--note".to_string(), "test".to_string()]);
    ok(&w.lab(), &crate::harness::refs(&approve));
    // Lab has no trust policy (setup mode): an operator certified there deploys.
    let deploy = [
        vec!["deploy".to_string(), id[..12].to_string()],
        w.as_op("dana"),
    ]
    .concat();
    let out = ok(&w.lab(), &crate::harness::refs(&deploy));
    assert!(out.contains("deployed to production"), "{out}");
    let listed = ok(&w.lab(), &["--json", "models", "list"]);
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let me = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id.as_str())
        .unwrap();
    assert_eq!(me["deployed"], "production");
    assert_eq!(me["gate"], "passed");
    assert_eq!(me["approvals"], 1);
}

#[test]
fn predict_with_a_wrong_feature_set_version_is_refused() {
    let w = World::new();
    // A second version of the feature set at lab (one feature dropped).
    let spec = fs::read_to_string(w.media("credit.features.toml")).unwrap();
    let v2 = spec.replace(
        "[[features]]\ncolumn = \"purpose\"\ntransform = \"one_hot\"\n",
        "",
    );
    assert_ne!(spec, v2);
    fs::write(w.media("credit.features.v2.toml"), v2).unwrap();
    let out = ok(
        &w.lab(),
        &["features", "apply", &w.m("credit.features.v2.toml")],
    );
    assert!(out.contains("credit-features@2"), "{out}");
    // Deploy the demo model (trained on credit-features@1) at lab too.
    let model = w.model();
    ok(
        &w.lab(),
        &crate::harness::refs(
            &[vec!["deploy".to_string(), model.clone()], w.as_op("dana")].concat(),
        ),
    );
    let req = w.m("requests.jsonl");
    fails(
        &w.lab(),
        &[
            "predict",
            "--input",
            &req,
            "--features",
            "credit-features@2",
        ],
        5,
        &[
            "feature set mismatch",
            "trained on feature set credit-features@1",
            "asks for credit-features@2",
        ],
    );
    let out = ok(
        &w.lab(),
        &[
            "--json",
            "predict",
            "--input",
            &req,
            "--features",
            "credit-features@1",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["feature_set_ref"], "credit-features@1");
    assert_eq!(v["predictions"].as_array().unwrap().len(), 5);
}

#[test]
fn lab_and_plant_score_identically_with_the_same_model() {
    let w = World::new();
    ok(
        &w.lab(),
        &crate::harness::refs(&[vec!["deploy".to_string(), w.model()], w.as_op("dana")].concat()),
    );
    let req = w.m("requests.jsonl");
    let lab = ok(&w.lab(), &["--json", "predict", "--input", &req]);
    let plant = ok(&w.plant(), &["--json", "predict", "--input", &req]);
    let a: serde_json::Value = serde_json::from_str(&lab).unwrap();
    let b: serde_json::Value = serde_json::from_str(&plant).unwrap();
    assert_eq!(
        a["predictions"], b["predictions"],
        "same model, same features, same answers"
    );
}

#[test]
fn predict_refuses_rows_that_break_the_contract() {
    let w = World::new();
    let bad = w.media("bad.jsonl");
    fs::write(&bad, "{\"age\": 300, \"loan_amount\": 5000, \"term_months\": 12, \"housing\": \"own\", \"purpose\": \"car\", \"prior_defaults\": 0, \"sex\": \"male\", \"applicant_id\": \"x\"}\n{\"colour\": 1}\nnot json\n").unwrap();
    fails(
        &w.plant(),
        &["predict", "--input", &bad.display().to_string()],
        3,
        &["line 3: not a JSON object"],
    );
    fs::write(&bad, "{\"age\": 300, \"loan_amount\": 5000, \"term_months\": 12, \"housing\": \"own\", \"purpose\": \"car\", \"prior_defaults\": 0, \"sex\": \"male\", \"applicant_id\": \"x\"}\n{\"colour\": 1}\n").unwrap();
    fails(
        &w.plant(),
        &["predict", "--input", &bad.display().to_string()],
        3,
        &[
            "line 1, column \"age\": expected integer in [18, 100], found 300",
            "line 2: column \"colour\" is not in contract credit v1",
            "nothing was scored",
        ],
    );
}

#[test]
fn training_is_reproducible_from_the_same_seed() {
    let w = World::new();
    let a = w.train_logreg();
    let show = |id: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&w.lab(), &["--json", "models", "show", id])).unwrap()
    };
    let b = w.train_logreg();
    // Different runs (different run records), identical weights.
    assert_ne!(a, b);
    assert_eq!(show(&a)["weights"], show(&b)["weights"]);
}
