//! Accuracy over time on the Monitor screen: labels that arrived later, joined to the
//! prediction log. Snapshots at 80×24 (with labels picked from the list: the figures per
//! window; without: how to get labels), the labels named by a monitoring policy instead, and
//! parity with `airlock monitor report --labels ... --json` on the same home.

mod common;

use airlock::ops::monitor::{self, Collector, MonitorPolicy, Seen};
use airlock::store::predictions::PredictionRow;
use airlock_tui::{App, Theme};
use common::{THEME, airlock, console, filtered, key, lines, run, text, world};
use insta::assert_snapshot;
use ratatui::crossterm::event::{Event, KeyCode};

/// The start of the hour two hours ago: two windows an hour apart (the default policy's)
/// after it, recent enough that the prediction log's retention (90 days) keeps them.
fn start() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
        - 7200;
    now - now.rem_euclid(3600)
}

/// A copy of plant where the demo's deployed model answered 100 requests in two windows,
/// stored with their prediction log rows as `airlock serve` stores them (each request's
/// entity a made-up applicant key), and, when `labels`, a labels dataset `outcomes` ingested
/// afterwards with `airlock data ingest`: every fourth answer wrong, the rest right. With
/// `hostile_slot`, the first round's predictions are logged under a slot name holding an
/// escape sequence and a bell (a prediction log is stored text like any other).
fn plant_with_predictions(labels: bool, hostile_slot: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    common::copy_world(&world().root, &dir.path().join("w"));
    let plant = dir.path().join("w/plant");
    let mut home = airlock::node::home::Home::open(&plant).expect("open");
    let scorer = airlock::ops::rollout::open_scorer(&home, "production", None).expect("scorer");
    let mut c = Collector::new(&home, &scorer, "production", 3600).expect("collector");
    let requests =
        std::fs::read_to_string(world().root.join("media/requests.jsonl")).expect("requests");
    let mut predictions = Vec::new();
    let mut truth = String::from("applicant_id,at,default\n");
    let start = start();
    for round in 0..20i64 {
        let now = airlock::node::time::Timestamp(start + (round % 2) * 3600 + round);
        for (i, line) in requests
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
        {
            let mut obj: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(line).expect("request");
            obj.insert("age".into(), serde_json::json!(20 + 2 * round));
            let (answer, row) = scorer.score_with_row(&obj).expect("score");
            c.record(
                now,
                &Seen {
                    row: Some(&row),
                    answer: Some(&answer),
                    refused: None,
                    micros: 10,
                },
            );
            let entity = format!("A{round:02}{i}");
            let class = answer.class.clone().expect("a class");
            let right = (round * 5 + i as i64) % 4 != 0;
            let label = match (class.as_str(), right) {
                ("1", true) | ("0", false) => 1,
                _ => 0,
            };
            truth.push_str(&format!("{entity},2099-01-01T00:00:00Z,{label}\n"));
            predictions.push(PredictionRow {
                model: c.model(),
                slot: if hostile_slot && round == 0 {
                    HOSTILE.into()
                } else {
                    "production".into()
                },
                // The key as the router makes it from the request's entity value.
                entity: airlock::ops::rollout::request_text(&airlock::contract::Value::Text(
                    entity,
                )),
                at: now.0,
                score: answer.probability.map(f64::from),
                class: Some(class),
            });
        }
    }
    let windows = c.take(true);
    assert_eq!(windows.len(), 2);
    monitor::store_all(
        &mut home,
        &windows,
        &predictions,
        &[],
        &MonitorPolicy::default(),
    )
    .expect("store");
    home.close().expect("close");
    if labels {
        let media = dir.path().join("w/media");
        let contract = media.join("outcomes.contract.toml");
        std::fs::write(
            &contract,
            "name = \"outcomes\"\nversion = 1\nentity = \"applicant_id\"\nevent_time = \"at\"\n\
             [[columns]]\nname = \"applicant_id\"\ntype = \"string\"\n\
             [[columns]]\nname = \"at\"\ntype = \"timestamp\"\n\
             [[columns]]\nname = \"default\"\ntype = \"integer\"\n",
        )
        .expect("write");
        let csv = media.join("outcomes.csv");
        std::fs::write(&csv, truth).expect("write");
        airlock(
            &plant,
            &[
                "data",
                "ingest",
                csv.to_str().expect("utf8"),
                "--dataset",
                "outcomes",
                "--contract",
                contract.to_str().expect("utf8"),
            ],
        );
    }
    dir
}

/// A slot name that would clear the screen and ring the bell if drawn raw.
const HOSTILE: &str = "canary\u{1b}[2J\u{7}";

/// Keys: the Monitor screen, the labels list filtered to `outcomes`, the first chosen.
fn pick_outcomes() -> Vec<Event> {
    let mut keys = vec![
        key(KeyCode::Char('7')),
        key(KeyCode::Char('L')),
        key(KeyCode::Char('/')),
    ];
    keys.extend(text("outcomes"));
    keys.extend([key(KeyCode::Enter), key(KeyCode::Enter)]);
    keys
}

fn screen(console: &airlock_tui::Console, keys: Vec<Event>, theme: &Theme) -> (App, String) {
    let mut app = App::new(None);
    let buf = run(console, &mut app, keys, 80, 24, theme);
    assert!(!app.quit, "the keys left the console");
    (app, filtered(&lines(&buf)))
}

#[test]
fn monitor_accuracy_without_labels_says_how_to_get_them() {
    let dir = plant_with_predictions(false, false);
    let plant = dir.path().join("w/plant");
    let keys = vec![key(KeyCode::Char('7')), key(KeyCode::Char('a'))];
    let (_, s) = screen(&console(&plant, None), keys, &THEME);
    assert!(
        s.contains("ingest a labels dataset with the entity key, event time"),
        "{s}"
    );
    assert!(s.contains("then press L"), "{s}");
    assert_snapshot!(s);
    // L lists the datasets; none is a labels dataset yet, but the demo's are listed.
    let keys = vec![key(KeyCode::Char('7')), key(KeyCode::Char('L'))];
    let (app, s) = screen(&console(&plant, None), keys, &THEME);
    assert!(app.monitor.picker.is_some(), "{s}");
    assert!(s.contains("Labels: pick a dataset"), "{s}");
    // A dataset that is not labels (the demo's credit data: no entity, no event time): the
    // library's reason, as the command gives it.
    let mut keys = vec![key(KeyCode::Char('7')), key(KeyCode::Char('L'))];
    keys.push(key(KeyCode::Char('/')));
    keys.extend(text("credit"));
    keys.extend([key(KeyCode::Enter), key(KeyCode::Enter)]);
    let (app, s) = screen(&console(&plant, None), keys, &THEME);
    assert!(app.monitor.accuracy.is_some(), "{s}");
    assert!(s.contains("Not judged: labels lab/credit@1"), "{s}");
    assert!(s.contains("its contract credit v1 names no entity"), "{s}");
}

#[test]
fn monitor_accuracy_per_window_from_labels_picked_in_the_list() {
    let dir = plant_with_predictions(true, false);
    let plant = dir.path().join("w/plant");
    // The list, filtered.
    let mut keys = pick_outcomes();
    keys.truncate(keys.len() - 1);
    let (_, s) = screen(&console(&plant, None), keys, &THEME);
    assert!(s.contains("plant/outcomes@1"), "{s}");
    assert!(
        !s.contains("credit@"),
        "the filter keeps only outcomes: {s}"
    );
    assert_snapshot!("monitor_labels_list_filtered", s);
    // Chosen: the accuracy per window.
    let (_, s) = screen(&console(&plant, None), pick_outcomes(), &THEME);
    assert!(s.contains("from labels plant/outcomes@1"), "{s}");
    assert!(s.contains("100 labelled of 100 predictions"), "{s}");
    assert!(s.contains("overall") && s.contains("0.750"), "{s}");
    assert_snapshot!("monitor_accuracy_per_window", s);
    let (_, s) = screen(
        &console(&plant, None),
        pick_outcomes(),
        &Theme::new(None, true),
    );
    assert!(s.is_ascii(), "{s}");
    assert_snapshot!("monitor_accuracy_per_window_ascii", s);
}

#[test]
fn monitor_accuracy_from_the_labels_the_monitoring_policy_names() {
    let dir = plant_with_predictions(true, false);
    let plant = dir.path().join("w/plant");
    let policy = dir.path().join("monitor.toml");
    std::fs::write(&policy, "[accuracy]\nlabels = \"outcomes\"\n").expect("write");
    let keys = vec![key(KeyCode::Char('7')), key(KeyCode::Char('a'))];
    let console = console(&plant, None).with_monitor_policy(&policy);
    let (app, s) = screen(&console, keys.clone(), &THEME);
    assert!(s.contains("from labels plant/outcomes@1"), "{s}");
    assert_eq!(app.monitor.labels, None, "none picked: the policy's");
    // A policy that does not parse is the command's error, not an empty screen.
    std::fs::write(&policy, "[accuracy]\nlabel = \"outcomes\"\n").expect("write");
    let (_, s) = screen(&console, keys, &THEME);
    assert!(s.contains("monitor.toml"), "{s}");
}

/// The figures the console holds equal those of `airlock monitor report --labels
/// outcomes@1 --json` on the same home, window by window, overall and per slot.
#[test]
fn monitor_accuracy_parity_with_the_command() {
    let dir = plant_with_predictions(true, false);
    let plant = dir.path().join("w/plant");
    let (app, _) = screen(&console(&plant, None), pick_outcomes(), &THEME);
    let report: serde_json::Value = serde_json::from_str(&airlock(
        &plant,
        &["--json", "monitor", "report", "--labels", "outcomes@1"],
    ))
    .expect("json");
    let reports = report.as_array().expect("reports");
    let view = &app.monitor.view.accuracy;
    assert_eq!(view.models.len(), reports.len());
    let mut compared = 0;
    for (m, r) in view.models.iter().zip(reports) {
        assert!(
            r["model"]
                .as_str()
                .expect("model")
                .starts_with(m.model.as_str()),
            "{r}"
        );
        let slots = m.slots.as_ref().expect("judged");
        let want = r["accuracy"].as_array().expect("accuracy");
        assert_eq!(slots.len(), want.len());
        for (s, a) in slots.iter().zip(want) {
            assert_eq!(s.slot.as_str(), a["slot"]);
            assert_eq!(s.labels.as_str(), a["labels"]);
            assert_eq!(s.predictions as u64, a["predictions"]);
            assert_eq!(s.unmatched as u64, a["unmatched"]);
            assert_eq!(s.baseline, a["baseline"].as_f64());
            same(&s.overall, &a["overall"]);
            let windows = a["windows"].as_array().expect("windows");
            assert_eq!(s.windows.len(), windows.len());
            assert_eq!(s.windows.len(), 2, "two windows");
            for (w, j) in s.windows.iter().zip(windows) {
                assert_eq!(w.start.as_str(), j["start"]);
                assert_eq!(w.fell, j["fell"]);
                same(&w.figures, &j["figures"]);
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 2);
}

fn same(f: &airlock_tui::accuracy::Figures, j: &serde_json::Value) {
    assert_eq!(f.labelled, j["labelled"], "{j}");
    assert_eq!(f.accuracy, j["accuracy"].as_f64(), "{j}");
    assert_eq!(f.roc_auc, j["roc_auc"].as_f64(), "{j}");
    assert_eq!(f.ece, j["ece"].as_f64(), "{j}");
}

#[test]
fn hostile_text_in_the_prediction_log_is_drawn_escaped() {
    let dir = plant_with_predictions(true, true);
    let plant = dir.path().join("w/plant");
    let (app, s) = screen(&console(&plant, None), pick_outcomes(), &THEME);
    let slots = app.monitor.view.accuracy.models[0]
        .slots
        .as_ref()
        .expect("judged");
    assert_eq!(slots.len(), 2, "the hostile slot and production");
    assert!(s.contains("canary"), "{s}");
    assert!(!s.contains('\u{1b}') && !s.contains('\u{7}'), "{s:?}");
    assert!(
        slots.iter().all(|a| !a.slot.as_str().contains('\u{1b}')),
        "held escaped"
    );
}
