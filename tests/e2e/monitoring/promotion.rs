//! The canary promoted by the node when the monitoring policy says so, or refused.

use crate::harness::{World, ok, refs};

use super::{
    as_dana, audit_actions, json, ready, send, serve, serve_at, stop, training_requests, wait_for,
};

/// Sends `bursts` bursts of `n` requests with fresh applicant ids (so the canary gets its
/// share), a little more than a one-second window apart.
fn bursts(w: &World, sock: &std::path::Path, bursts: usize, n: usize) {
    let rows = training_requests(w);
    for b in 0..bursts {
        let burst: Vec<_> = rows[b * n..(b + 1) * n]
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut r = r.clone();
                r.insert(
                    "applicant_id".into(),
                    serde_json::json!(format!("B{b}-{i:04}")),
                );
                r
            })
            .collect();
        send(sock, &burst);
        std::thread::sleep(std::time::Duration::from_millis(1200));
    }
}

#[test]
fn a_canary_that_passes_its_windows_is_promoted_by_the_node_when_the_policy_says_so() {
    let w = World::new();
    let a = ready(&w, "credit-features", "credit", "roc_auc>=0.5");
    ok(&w.lab(), &refs(&as_dana(&w, &["deploy", &a])));
    let b = w.train_logreg();
    ok(&w.lab(), &["gate", &b, "--require", "roc_auc>=0.5"]);
    assert!(w.approve(&w.lab(), &b, "dana").status.success());
    ok(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["deploy", &b, "--slot", "canary", "--percent", "50"],
        )),
    );
    let policy = w.media("promote.toml");
    std::fs::write(&policy, "[canary]\npromote_after = 2\nmin_requests = 50\n").unwrap();
    let (child, sock) = serve(
        &w,
        &[
            "--window",
            "1",
            "--monitor-policy",
            policy.to_str().unwrap(),
        ],
    );
    bursts(&w, &sock, 4, 100);
    wait_for("the canary promoted", || {
        ok(&w.lab(), &["--json", "audit", "log"]).contains("model.promote")
    });
    stop(child);
    let list = json(&ok(&w.lab(), &["--json", "models", "list"]));
    let slot_of = |m: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == m)
            .and_then(|x| x["deployed"].as_str().map(str::to_owned))
    };
    assert_eq!(slot_of(&b).as_deref(), Some("production"), "{list}");
    assert_eq!(slot_of(&a), None, "{list}");
    let log = audit_actions(&w.lab());
    let p = log.iter().find(|e| e["action"] == "model.promote").unwrap();
    assert_eq!(p["details"]["automatic"], true, "{p}");
    assert!(
        p["details"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("automatic: the canary passed"),
        "{p}"
    );
    assert!(
        p["details"]["operator"].is_null(),
        "signed by the site alone: {p}"
    );
}

#[test]
fn a_canary_without_the_approvals_production_needs_is_not_promoted_and_an_alert_says_why() {
    let w = World::new();
    let model = w.model();
    let mut deploy = vec![
        "deploy".to_string(),
        model.clone(),
        "--slot".into(),
        "canary".into(),
        "--percent".into(),
        "50".into(),
    ];
    deploy.extend(w.as_op("omar"));
    ok(&w.plant(), &refs(&deploy));
    // Production now needs two approvals (pia may give the second); the canary's model has
    // one.
    let pia = w.new_operator(&w.plant(), "pia");
    w.plant_policy(|t| {
        let edited = t.replace("\"production\" = 1", "\"production\" = 2");
        assert_ne!(edited, t, "{t}");
        format!("{edited}\n[[operators]]\nname = \"pia\"\nkey = \"{pia}\"\nroles = [\"approve\"]\n")
    });
    let policy = w.media("promote.toml");
    std::fs::write(&policy, "[canary]\npromote_after = 2\nmin_requests = 50\n").unwrap();
    let (child, sock) = serve_at(
        &w.plant(),
        "plant.sock",
        &[
            "--window",
            "1",
            "--monitor-policy",
            policy.to_str().unwrap(),
        ],
    );
    bursts(&w, &sock, 4, 100);
    wait_for("the promotion refused", || {
        ok(&w.plant(), &["--json", "monitor", "alerts"]).contains("promotion refused")
    });
    stop(child);
    let alerts = json(&ok(&w.plant(), &["--json", "monitor", "alerts"]));
    let refused: Vec<&serde_json::Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "promotion refused")
        .collect();
    assert_eq!(refused.len(), 1, "raised once: {alerts}");
    assert!(
        refused[0]["metric"].as_str().unwrap().contains("needs 2"),
        "{alerts}"
    );
    let log = audit_actions(&w.plant());
    assert!(
        !log.iter().any(|e| e["action"] == "model.promote"),
        "never promoted"
    );
    assert!(
        log.iter().any(|e| e["action"] == "monitor.alert"
            && e["details"].to_string().contains("promotion refused")),
        "the refusal is on the record"
    );
    let list = json(&ok(&w.plant(), &["--json", "models", "list"]));
    assert!(
        list.to_string().contains("production,canary"),
        "both slots unchanged: {list}"
    );
}
