//! A window range in monitoring bundles.

use crate::harness::{World, fails, ok, refs};

use super::{json, send, serve_at, stop, training_requests};

#[test]
fn a_monitoring_export_carries_only_the_windows_in_its_range() {
    let w = World::new();
    let model = w.model();
    let (child, sock) = serve_at(&w.plant(), "plant.sock", &["--window", "1"]);
    let rows = training_requests(&w);
    send(&sock, &rows[..100]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    send(&sock, &rows[100..130]);
    stop(child);
    let report = json(&ok(&w.plant(), &["--json", "monitor", "report"]));
    let windows = report[0]["windows"].as_array().unwrap().clone();
    assert!(windows.len() >= 2, "{report}");
    let last = windows.last().unwrap();
    let from = last["start"].as_str().unwrap();
    let in_range: u64 = windows
        .iter()
        .filter(|x| x["start"].as_str().unwrap() >= from)
        .map(|x| x["requests"].as_u64().unwrap())
        .sum();
    assert!(in_range < 130, "{report}");
    w.plant_policy(|t| {
        t.replace(
            "roles = [\"approve\", \"deploy\"]",
            "roles = [\"approve\", \"deploy\", \"export\"]",
        )
    });
    let export = |item: &str, out: &str| -> Vec<String> {
        let mut a = vec![
            "bundle".to_string(),
            "export".into(),
            "--to".into(),
            w.m("lab.card.json"),
            "--out".into(),
            w.m(out),
            item.to_string(),
        ];
        a.extend(w.as_op("omar"));
        a
    };
    ok(
        &w.plant(),
        &refs(&export(
            &format!("monitor:{model}@{from}.."),
            "range.airlock",
        )),
    );
    let inspect = json(&ok(
        &w.lab(),
        &["--json", "bundle", "inspect", &w.m("range.airlock")],
    ));
    let carried = inspect["manifest"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "monitor-window")
        .count();
    assert!(carried >= 1 && carried < windows.len(), "{inspect}");
    ok(&w.lab(), &["bundle", "import", &w.m("range.airlock")]);
    let at_lab = json(&ok(
        &w.lab(),
        &["--json", "monitor", "report", "--site", "plant"],
    ));
    let got: u64 = at_lab[0]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(got, in_range, "only the windows from {from}: {at_lab}");
    // A range holding no window, and one that does not parse.
    fails(
        &w.plant(),
        &refs(&export(
            &format!("monitor:{model}@2000-01-01..2000-01-02"),
            "none.airlock",
        )),
        6,
        &["in that range"],
    );
    fails(
        &w.plant(),
        &refs(&export(&format!("monitor:{model}@last:3w"), "bad.airlock")),
        3,
        &["window range", "last:N"],
    );
    // The last day holds them all.
    ok(
        &w.plant(),
        &refs(&export(&format!("monitor:{model}@last:1d"), "day.airlock")),
    );
    let inspect = json(&ok(
        &w.lab(),
        &["--json", "bundle", "inspect", &w.m("day.airlock")],
    ));
    let all = inspect["manifest"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "monitor-window")
        .count();
    assert!(all > carried, "{inspect}");
}
