//! Labels that arrive later: accuracy over time from the prediction log.

use crate::harness::{World, last_audit, ok, refs};

use super::{
    as_dana, json, ready, ready_with, requests_seen, send, serve, stop, training_requests, wait_for,
};

/// A model of the demo's data under a contract naming `applicant_id` as the entity (so its
/// answers go to the prediction log), gated, approved and deployed to production at lab.
pub(super) fn keyed_model(w: &World) -> String {
    let contract = std::fs::read_to_string(w.media("credit.contract.toml"))
        .unwrap()
        .replace(
            "name = \"credit\"",
            "name = \"applicants\"\nentity = \"applicant_id\"",
        );
    let file = w.media("applicants.contract.toml");
    std::fs::write(&file, contract).unwrap();
    ok(
        &w.lab(),
        &[
            "data",
            "ingest",
            &w.m("credit.csv"),
            "--dataset",
            "applicants",
            "--contract",
            file.to_str().unwrap(),
        ],
    );
    let spec = std::fs::read_to_string(w.media("credit.features.toml"))
        .unwrap()
        .replace("name = \"credit-features\"", "name = \"app-features\"")
        .replace("dataset = \"credit\"", "dataset = \"applicants\"");
    let spec_file = w.media("app.features.toml");
    std::fs::write(&spec_file, spec).unwrap();
    ok(
        &w.lab(),
        &["features", "apply", spec_file.to_str().unwrap()],
    );
    let id = ready_with(
        w,
        "app-features",
        "applicants",
        "roc_auc>=0.5",
        &["--slice-by", "housing"],
    );
    ok(&w.lab(), &refs(&as_dana(w, &["deploy", &id])));
    id
}

/// Ingests labels at lab as dataset `outcomes` (a new version each call): one per
/// `(applicant, event time, label)`, with the applicant's housing (the model's slice column)
/// from the demo's data.
pub(super) fn ingest_labels(w: &World, labels: &[(String, &str, i64)]) {
    let housing: std::collections::BTreeMap<String, String> = training_requests(w)
        .iter()
        .map(|r| {
            (
                r["applicant_id"].as_str().unwrap().to_owned(),
                r["housing"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let contract = w.media("outcomes.contract.toml");
    std::fs::write(
        &contract,
        "name = \"outcomes\"\nversion = 1\nentity = \"applicant_id\"\nevent_time = \"at\"\n\
         [[columns]]\nname = \"applicant_id\"\ntype = \"string\"\n\
         [[columns]]\nname = \"at\"\ntype = \"timestamp\"\n\
         [[columns]]\nname = \"default\"\ntype = \"integer\"\n\
         [[columns]]\nname = \"housing\"\ntype = \"category\"\n\
         categories = [\"own\", \"rent\", \"mortgage\"]\n",
    )
    .unwrap();
    let mut csv = String::from("applicant_id,at,default,housing\n");
    for (id, at, label) in labels {
        csv.push_str(&format!("{id},{at},{label},{}\n", housing[id]));
    }
    let file = w.media("outcomes.csv");
    std::fs::write(&file, csv).unwrap();
    ok(
        &w.lab(),
        &[
            "data",
            "ingest",
            file.to_str().unwrap(),
            "--dataset",
            "outcomes",
            "--contract",
            contract.to_str().unwrap(),
        ],
    );
}

#[test]
fn labels_ingested_later_give_accuracy_over_time_and_a_model_they_say_is_wrong_shows_it() {
    let w = World::new();
    let model = keyed_model(&w);
    let rows = training_requests(&w);
    let (child, sock) = serve(&w, &["--window", "2"]);
    send(&sock, &rows[..600]);
    wait_for("600 requests in stored windows", || {
        requests_seen(&w, &["--json", "monitor", "report"]) == 600
    });
    stop(child);
    // The truth, known long after the predictions; and for ten applicants a label from
    // before they were scored, which must join nothing (point in time).
    let truth: Vec<i64> = std::fs::read_to_string(w.media("credit.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .take(600)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    let id = |i: usize| rows[i]["applicant_id"].as_str().unwrap().to_owned();
    let mut labels: Vec<(String, &str, i64)> = (0..600)
        .map(|i| (id(i), "2099-01-01T00:00:00Z", truth[i]))
        .collect();
    labels.extend((0..10).map(|i| (id(i), "2000-01-01T00:00:00Z", 1 - truth[i])));
    ingest_labels(&w, &labels);
    let report = json(&ok(
        &w.lab(),
        &["--json", "monitor", "report", "--labels", "outcomes@1"],
    ));
    let acc = &report[0]["accuracy"][0];
    assert_eq!(report[0]["model"], model.as_str());
    assert_eq!(acc["slot"], "production", "{acc}");
    assert_eq!(acc["predictions"], 600, "{acc}");
    assert_eq!(acc["overall"]["labelled"], 600, "{acc}");
    assert_eq!(
        acc["unmatched"], 10,
        "labels from before the predictions: {acc}"
    );
    let overall = acc["overall"]["accuracy"].as_f64().unwrap();
    let baseline = acc["baseline"].as_f64().unwrap();
    assert!(
        (overall - baseline).abs() < 0.1,
        "{overall} against holdout {baseline}"
    );
    assert!(acc["overall"]["roc_auc"].as_f64().unwrap() > 0.6, "{acc}");
    assert!(acc["overall"]["ece"].as_f64().is_some(), "{acc}");
    let windows = acc["windows"].as_array().unwrap();
    assert!(!windows.is_empty());
    assert!(windows.iter().all(|w| w["fell"] == false), "{acc}");
    // By slice: the model was trained sliced by housing, and the labels carry it.
    assert_eq!(acc["slice_column"], "housing", "{acc}");
    let slices = acc["slices"].as_object().unwrap();
    assert_eq!(
        slices.keys().cloned().collect::<Vec<_>>(),
        ["mortgage", "own", "rent"],
        "{acc}"
    );
    let by_slice: u64 = slices
        .values()
        .map(|f| f["labelled"].as_u64().unwrap())
        .sum();
    assert_eq!(by_slice, 600, "{acc}");
    ok(&w.lab(), &["monitor", "check", "--labels", "outcomes@1"]);
    let alerts = json(&ok(&w.lab(), &["--json", "monitor", "alerts"]));
    assert!(
        alerts
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["kind"] != "accuracy"),
        "{alerts}"
    );
    let text = ok(&w.lab(), &["monitor", "report", "--labels", "outcomes@1"]);
    assert!(
        text.contains("accuracy (production) from labels lab/outcomes@1"),
        "{text}"
    );

    // Labels that say every answer was wrong: the accuracy falls and an alert says so.
    let flipped: Vec<(String, &str, i64)> = (0..600)
        .map(|i| (id(i), "2099-01-01T00:00:00Z", 1 - truth[i]))
        .collect();
    ingest_labels(&w, &flipped);
    let report = json(&ok(
        &w.lab(),
        &["--json", "monitor", "report", "--labels", "outcomes@2"],
    ));
    let acc = &report[0]["accuracy"][0];
    assert!(
        acc["overall"]["accuracy"].as_f64().unwrap() < baseline - 0.2,
        "{acc}"
    );
    assert!(acc["overall"]["roc_auc"].as_f64().unwrap() < 0.4, "{acc}");
    assert!(
        acc["windows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["fell"] == true),
        "{acc}"
    );
    ok(&w.lab(), &["monitor", "check", "--labels", "outcomes@2"]);
    let (action, details) = last_audit(&w.lab());
    assert_eq!(action, "monitor.alert", "{details}");
    let alerts = json(&ok(&w.lab(), &["--json", "monitor", "alerts"]));
    let fell: Vec<&serde_json::Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "accuracy")
        .collect();
    assert_eq!(fell.len(), 1, "{alerts}");
    assert_eq!(fell[0]["model"], model.as_str());
    assert!(fell[0]["value"].as_f64().unwrap() > fell[0]["threshold"].as_f64().unwrap());
    // Raised once: checking again adds nothing.
    ok(&w.lab(), &["monitor", "check", "--labels", "outcomes@2"]);
    let again = json(&ok(&w.lab(), &["--json", "monitor", "alerts"]));
    assert_eq!(again, alerts);
}

#[test]
fn a_csv_batch_keys_an_integer_entity_as_a_json_request_and_a_label_do() {
    let w = World::new();
    let contract = std::fs::read_to_string(w.media("credit.contract.toml"))
        .unwrap()
        .replace("name = \"credit\"", "name = \"byage\"\nentity = \"age\"");
    let file = w.media("byage.contract.toml");
    std::fs::write(&file, contract).unwrap();
    ok(
        &w.lab(),
        &[
            "data",
            "ingest",
            &w.m("credit.csv"),
            "--dataset",
            "byage",
            "--contract",
            file.to_str().unwrap(),
        ],
    );
    let spec = std::fs::read_to_string(w.media("credit.features.toml"))
        .unwrap()
        .replace("name = \"credit-features\"", "name = \"age-features\"")
        .replace("dataset = \"credit\"", "dataset = \"byage\"");
    let spec_file = w.media("age.features.toml");
    std::fs::write(&spec_file, spec).unwrap();
    ok(
        &w.lab(),
        &["features", "apply", spec_file.to_str().unwrap()],
    );
    let id = ready(&w, "age-features", "byage", "roc_auc>=0.5");
    ok(&w.lab(), &refs(&as_dana(&w, &["deploy", &id])));
    // 200 rows scored from CSV, keyed by their integer age.
    let csv = std::fs::read_to_string(w.media("credit.csv")).unwrap();
    let batch = w.media("ages.csv");
    std::fs::write(
        &batch,
        csv.lines().take(201).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    ok(&w.lab(), &["predict", "--input", batch.to_str().unwrap()]);
    let ages: std::collections::BTreeSet<i64> = training_requests(&w)[..200]
        .iter()
        .map(|r| r["age"].as_i64().unwrap())
        .collect();
    let labels = w.media("ages.labels.csv");
    let mut text = String::from("age,at,default\n");
    for a in &ages {
        text.push_str(&format!("{a},2099-01-01T00:00:00Z,0\n"));
    }
    std::fs::write(&labels, text).unwrap();
    let lc = w.media("agelabels.toml");
    std::fs::write(
        &lc,
        "name = \"agelabels\"\nversion = 1\nentity = \"age\"\nevent_time = \"at\"\n\
         [[columns]]\nname = \"age\"\ntype = \"integer\"\n\
         [[columns]]\nname = \"at\"\ntype = \"timestamp\"\n\
         [[columns]]\nname = \"default\"\ntype = \"integer\"\n",
    )
    .unwrap();
    ok(
        &w.lab(),
        &[
            "data",
            "ingest",
            labels.to_str().unwrap(),
            "--dataset",
            "agelabels",
            "--contract",
            lc.to_str().unwrap(),
        ],
    );
    let report = json(&ok(
        &w.lab(),
        &["--json", "monitor", "report", "--labels", "agelabels"],
    ));
    let acc = &report[0]["accuracy"][0];
    assert_eq!(acc["predictions"], 200, "{acc}");
    assert_eq!(acc["unmatched"], 0, "an integer key joins: {acc}");
    assert_eq!(acc["overall"]["labelled"], ages.len(), "{acc}");
}
