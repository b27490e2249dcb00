//! Windows from a batch `airlock predict`.

use crate::harness::{World, last_audit, ok};

use super::accuracy::{ingest_labels, keyed_model};
use super::{json, requests_seen, training_requests};

#[test]
fn a_batch_predict_records_a_window_and_prediction_log_rows_so_drift_is_seen_for_batch_scoring() {
    let w = World::new();
    let model = keyed_model(&w);
    let policy = w.media("monitor.toml");
    std::fs::write(&policy, "[drift]\nalpha = 0.001\n").unwrap();
    let policy = policy.to_str().unwrap();
    // 1,500 training rows as CSV (the label column in it is not read).
    let csv = std::fs::read_to_string(w.media("credit.csv")).unwrap();
    let batch = w.media("batch.csv");
    std::fs::write(
        &batch,
        csv.lines().take(1501).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let out = json(&ok(
        &w.lab(),
        &[
            "--json",
            "predict",
            "--input",
            batch.to_str().unwrap(),
            "--monitor-policy",
            policy,
        ],
    ));
    assert_eq!(out["predictions"].as_array().unwrap().len(), 1500);
    assert_eq!(requests_seen(&w, &["--json", "monitor", "report"]), 1500);
    assert_eq!(
        json(&ok(&w.lab(), &["--json", "monitor", "alerts"])),
        serde_json::json!([])
    );
    let (action, details) = last_audit(&w.lab());
    assert_eq!(action, "monitor.window", "{details}");
    assert_eq!(details["predictions_logged"], 1500, "{details}");
    // --no-monitor keeps nothing.
    ok(
        &w.lab(),
        &[
            "predict",
            "--input",
            batch.to_str().unwrap(),
            "--no-monitor",
        ],
    );
    assert_eq!(requests_seen(&w, &["--json", "monitor", "report"]), 1500);

    // The next 1,500 as JSON lines with income tripled: an alert naming income alone.
    let shifted: Vec<String> = training_requests(&w)[1500..3000]
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(x) = r["income"].as_f64() {
                r.insert("income".into(), serde_json::json!(x * 3.0));
            }
            serde_json::Value::Object(r).to_string()
        })
        .collect();
    let jsonl = w.media("shifted.jsonl");
    std::fs::write(&jsonl, shifted.join("\n") + "\n").unwrap();
    ok(
        &w.lab(),
        &[
            "predict",
            "--input",
            jsonl.to_str().unwrap(),
            "--monitor-policy",
            policy,
        ],
    );
    assert_eq!(requests_seen(&w, &["--json", "monitor", "report"]), 3000);
    let alerts = json(&ok(&w.lab(), &["--json", "monitor", "alerts"]));
    let inputs: Vec<&serde_json::Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "input drift")
        .collect();
    assert!(!inputs.is_empty(), "{alerts}");
    assert!(inputs.iter().all(|a| a["feature"] == "income"), "{alerts}");
    assert!(inputs.iter().all(|a| a["model"] == model.as_str()));
    // Both batches are in the prediction log, keyed by applicant: labels join them.
    let rows = training_requests(&w);
    let labels: Vec<(String, &str, i64)> = (0..100)
        .map(|i| {
            (
                rows[i]["applicant_id"].as_str().unwrap().to_owned(),
                "2099-01-01T00:00:00Z",
                0,
            )
        })
        .collect();
    ingest_labels(&w, &labels);
    let report = json(&ok(
        &w.lab(),
        &["--json", "monitor", "report", "--labels", "outcomes"],
    ));
    let acc = &report[0]["accuracy"][0];
    assert_eq!(acc["predictions"], 3000, "{acc}");
    assert_eq!(acc["overall"]["labelled"], 100, "{acc}");
    assert_eq!(acc["unmatched"], 0, "{acc}");
}
