//! Labels that arrive later: accuracy over time from the prediction log.

use crate::harness::{World, last_audit, ok, refs};

use super::{
    as_dana, audit_actions, json, ready, ready_with, requests_seen, send, serve, stop,
    training_requests, wait_for,
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

/// The canary judged by its labels (issue 17): production (the keyed model) and a canary at
/// 50% score a batch of 400 applicants; labels then say every canary answer was wrong and
/// every production answer right. With 20 labels a side (fewer than `[canary] min_labels`,
/// 100) `monitor check` does nothing; with a label for every applicant it rolls the canary back
/// with a reason naming both accuracies, and does not promote it although the policy would
/// (`promote_after = 1`).
#[test]
fn a_canary_its_labels_say_is_wrong_is_rolled_back_with_the_figures_and_too_few_labels_do_nothing()
{
    let w = World::new();
    let a = keyed_model(&w);
    let b = json(&ok(
        &w.lab(),
        &[
            "--json",
            "train",
            "--dataset",
            "applicants",
            "--features",
            "app-features",
            "--model",
            "logreg",
            "--epochs",
            "3",
            "--seed",
            "6",
        ],
    ))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(a, b);
    ok(&w.lab(), &["gate", &b, "--require", "roc_auc>=0.5"]);
    assert!(w.approve(&w.lab(), &b, "dana").status.success());
    ok(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["deploy", &b, "--slot", "canary", "--percent", "50"],
        )),
    );
    let rows = training_requests(&w);
    let batch = w.media("applicants.jsonl");
    std::fs::write(
        &batch,
        rows[..400]
            .iter()
            .map(|r| serde_json::Value::Object(r.clone()).to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let scored = json(&ok(
        &w.lab(),
        &["--json", "predict", "--input", batch.to_str().unwrap()],
    ));
    // (applicant, answered by the canary, predicted class)
    let answers: Vec<(String, bool, i64)> = scored["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let line = p["line"].as_u64().unwrap() as usize;
            (
                rows[line - 1]["applicant_id"].as_str().unwrap().to_owned(),
                p["slot"] == "canary",
                p["class"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let on_canary = answers.iter().filter(|a| a.1).count();
    assert!(
        (120..=280).contains(&on_canary),
        "about half the applicants on the canary: {on_canary}"
    );
    // The truth as these labels tell it: the canary always wrong, production always right.
    let truth = |(id, canary, class): &(String, bool, i64)| {
        (
            id.clone(),
            "2099-01-01T00:00:00Z",
            if *canary { 1 - class } else { *class },
        )
    };
    // Only accuracy judges here: latency and score rules out of the way.
    let policy = w.media("canary-accuracy.toml");
    let rules = "[accuracy]\nlabels = \"outcomes\"\n\
                 [canary]\nmax_latency_ratio = 1000.0\nmax_prediction_distance = 1.0\n";
    std::fs::write(&policy, rules).unwrap();
    let check = |policy: &std::path::Path| {
        json(&ok(
            &w.lab(),
            &[
                "--json",
                "monitor",
                "check",
                "--policy",
                policy.to_str().unwrap(),
            ],
        ))
    };
    let slot_of = |m: &str| {
        json(&ok(&w.lab(), &["--json", "models", "list"]))
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == m)
            .and_then(|x| x["deployed"].as_str().map(str::to_owned))
    };

    // 20 labels a side: too few to judge; nothing happens.
    let few: Vec<_> = answers
        .iter()
        .filter(|a| a.1)
        .take(20)
        .chain(answers.iter().filter(|a| !a.1).take(20))
        .map(truth)
        .collect();
    ingest_labels(&w, &few);
    let c = check(&policy);
    assert!(c["rolled_back"].is_null(), "{c}");
    assert!(c["promoted"].is_null(), "{c}");
    assert_eq!(slot_of(&b).as_deref(), Some("canary"));
    assert!(
        audit_actions(&w.lab())
            .iter()
            .all(|e| e["action"] != "model.rollback"),
        "no rollback yet"
    );

    // A label for every applicant: the canary is rolled back, and not promoted although the
    // policy now promotes after one window.
    ingest_labels(&w, &answers.iter().map(truth).collect::<Vec<_>>());
    let promoting = w.media("canary-accuracy-promote.toml");
    std::fs::write(&promoting, format!("{rules}promote_after = 1\n")).unwrap();
    let c = check(&promoting);
    assert!(c["promoted"].is_null(), "{c}");
    assert_eq!(c["rolled_back"]["model"], b.as_str(), "{c}");
    let reason = c["rolled_back"]["reason"].as_str().unwrap();
    let on_production = answers.len() - on_canary;
    for needle in [
        "automatic: the canary's accuracy is 0.0%".to_string(),
        format!("over its {on_canary} labelled predictions"),
        format!("production's 100.0% over {on_production} in the same windows"),
        "more than 5.0 points worse".to_string(),
        "labels lab/outcomes@2".to_string(),
    ] {
        assert!(reason.contains(&needle), "{needle:?} in {reason}");
    }
    assert_eq!(slot_of(&b), None, "the canary is gone");
    assert_eq!(slot_of(&a).as_deref(), Some("production"));
    let log = audit_actions(&w.lab());
    let rb = log
        .iter()
        .find(|e| e["action"] == "model.rollback")
        .unwrap_or_else(|| panic!("a rollback in the audit log"));
    assert_eq!(rb["details"]["automatic"], true, "{rb}");
    assert_eq!(rb["details"]["reason"], reason, "{rb}");
    assert!(log.iter().all(|e| e["action"] != "model.promote"));
}
