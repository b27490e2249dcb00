//! The sampled request log: off by default; when on, encrypted and pruned.

use crate::harness::{World, ok};

use super::{audit_actions, json, send, serve_at, stop, training_requests, wait_for};

/// Whether any file under `dir` holds `needle`.
fn any_file_holds(dir: &std::path::Path, needle: &[u8]) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if let Some(f) = any_file_holds(&p, needle) {
                return Some(f);
            }
        } else if p.is_file()
            && let Ok(bytes) = std::fs::read(&p)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            return Some(p);
        }
    }
    None
}

#[test]
fn the_request_log_is_off_by_default_and_when_on_encrypted_and_pruned_at_its_limit() {
    let w = World::new();
    let marked = |tag: &str, n: usize| -> Vec<serde_json::Map<String, serde_json::Value>> {
        training_requests(&w)
            .into_iter()
            .take(n)
            .enumerate()
            .map(|(i, mut r)| {
                r.insert(
                    "applicant_id".into(),
                    serde_json::json!(format!("REQTEXT-{tag}-{i:04}")),
                );
                r
            })
            .collect()
    };
    // Off by default: windows kept, no request.
    let (child, sock) = serve_at(&w.plant(), "plant.sock", &["--window", "1"]);
    send(&sock, &marked("OFF", 40));
    stop(child);
    assert!(
        audit_actions(&w.plant())
            .iter()
            .any(|e| e["action"] == "monitor.window")
    );
    assert_eq!(
        json(&ok(&w.plant(), &["--json", "monitor", "requests"])),
        serde_json::json!([])
    );
    assert_eq!(any_file_holds(&w.plant(), b"REQTEXT-OFF"), None);

    // On: every request sampled, at most 2 batches kept.
    let policy = w.media("requests.toml");
    std::fs::write(
        &policy,
        "[request_log]\nsample_percent = 100\nmax_batches = 2\n",
    )
    .unwrap();
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
    for burst in 0..4 {
        send(&sock, &marked(&format!("ON{burst}"), 10));
        std::thread::sleep(std::time::Duration::from_millis(1300));
    }
    wait_for("a request log batch pruned", || {
        audit_actions(&w.plant())
            .iter()
            .any(|e| e["action"] == "monitor.request-log.prune")
    });
    stop(child);
    let batches = json(&ok(&w.plant(), &["--json", "monitor", "requests"]));
    let batches = batches.as_array().unwrap();
    assert!(!batches.is_empty() && batches.len() <= 2, "{batches:?}");
    // Read back through airlock, the requests are there, as sent.
    let shown = json(&ok(
        &w.plant(),
        &[
            "--json",
            "monitor",
            "requests",
            "--show",
            batches[0]["id"].as_str().unwrap(),
        ],
    ));
    assert!(
        shown
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.as_str().unwrap().contains("REQTEXT-ON")),
        "{shown}"
    );
    // On disk they are encrypted: no file of the home holds a request's text.
    assert_eq!(any_file_holds(&w.plant(), b"REQTEXT-"), None);
    // Every prune is on the record, and the pruned files are gone (the vault verifies whole).
    let prunes: Vec<serde_json::Value> = audit_actions(&w.plant())
        .into_iter()
        .filter(|e| e["action"] == "monitor.request-log.prune")
        .collect();
    assert!(!prunes.is_empty());
    for p in &prunes {
        assert_eq!(p["details"]["max_batches"], 2, "{p}");
    }
    ok(&w.plant(), &["vault", "verify"]);
}
