//! Snapshot tests: every screen at 80×24 on the demo homes (and an empty one), ids and times
//! filtered out; the help, an error dialog, the too-small message, ASCII and NO_COLOR.

mod common;

use airlock_tui::{App, Theme};
use common::{THEME, console, copy_world, filtered, key, lines, run, text, world};
use insta::assert_snapshot;
use ratatui::crossterm::event::{Event, KeyCode};
use ratatui::style::{Color, Modifier};

fn screen(home: &std::path::Path, operator: Option<&str>, keys: Vec<Event>) -> String {
    let mut app = App::new(operator);
    let buf = run(&console(home, operator), &mut app, keys, 80, 24, &THEME);
    assert!(!app.quit, "the keys left the console");
    filtered(&lines(&buf))
}

#[test]
fn overview_lab_setup_mode() {
    assert_snapshot!(screen(&world().lab(), Some("dana"), vec![]));
}

#[test]
fn overview_plant_under_policy_with_a_deployment() {
    assert_snapshot!(screen(&world().plant(), Some("omar"), vec![]));
}

#[test]
fn data_list() {
    assert_snapshot!(screen(&world().lab(), None, vec![key(KeyCode::Char('2'))]));
}

#[test]
fn data_profile_numeric_column_with_histogram() {
    // applicant_id, then age.
    let keys = vec![
        key(KeyCode::Char('2')),
        key(KeyCode::Enter),
        key(KeyCode::Down),
    ];
    assert_snapshot!(screen(&world().lab(), None, keys));
}

#[test]
fn data_profile_category_column() {
    let mut keys = vec![key(KeyCode::Char('2')), key(KeyCode::Enter)];
    // applicant_id age income loan_amount term_months employment
    keys.extend(std::iter::repeat_n(key(KeyCode::Down), 5));
    assert_snapshot!(screen(&world().lab(), None, keys));
}

#[test]
fn features_list() {
    assert_snapshot!(screen(&world().lab(), None, vec![key(KeyCode::Char('3'))]));
}

#[test]
fn features_transforms_and_frozen_parameters() {
    let keys = vec![key(KeyCode::Char('3')), key(KeyCode::Enter)];
    let s = screen(&world().plant(), None, keys);
    assert!(s.contains("standardize") && s.contains("one_hot"), "{s}");
    assert!(s.contains("(x - "), "the frozen mean and deviation: {s}");
    assert_snapshot!(s);
}

#[test]
fn training_list() {
    assert_snapshot!(screen(&world().lab(), None, vec![key(KeyCode::Char('4'))]));
}

#[test]
fn training_run_loss_and_score_per_epoch() {
    let keys = vec![key(KeyCode::Char('4')), key(KeyCode::Enter)];
    let s = screen(&world().lab(), None, keys);
    assert!(s.contains("validation roc_auc"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn training_run_ascii() {
    let mut app = App::new(None);
    let theme = Theme::new(None, true);
    let keys = vec![key(KeyCode::Char('4')), key(KeyCode::Enter)];
    let buf = run(
        &console(&world().lab(), None),
        &mut app,
        keys,
        80,
        24,
        &theme,
    );
    let s = filtered(&lines(&buf));
    assert!(s.is_ascii(), "{s}");
    assert!(s.contains("*"), "the chart's points: {s}");
    assert_snapshot!(s);
}

#[test]
fn models_list() {
    assert_snapshot!(screen(
        &world().plant(),
        Some("omar"),
        vec![key(KeyCode::Char('5'))]
    ));
}

#[test]
fn models_detail_with_lineage() {
    let keys = vec![key(KeyCode::Char('5')), key(KeyCode::Enter)];
    assert_snapshot!(screen(&world().plant(), Some("omar"), keys));
}

#[test]
fn models_detail_scrolled_to_the_lineage() {
    let mut keys = vec![key(KeyCode::Char('5')), key(KeyCode::Enter)];
    keys.extend(std::iter::repeat_n(key(KeyCode::PageDown), 2));
    assert_snapshot!(screen(&world().plant(), Some("omar"), keys));
}

#[test]
fn models_filter_matching_nothing() {
    let mut keys = vec![key(KeyCode::Char('5')), key(KeyCode::Char('/'))];
    keys.extend(text("churn"));
    assert_snapshot!(screen(&world().lab(), None, keys));
}

#[test]
fn models_help() {
    let keys = vec![key(KeyCode::Char('5')), key(KeyCode::Char('?'))];
    assert_snapshot!(screen(&world().lab(), None, keys));
}

#[test]
fn models_deploy_confirmation() {
    let mut keys = vec![
        key(KeyCode::Char('5')),
        key(KeyCode::Char('d')),
        key(KeyCode::Enter),
        key(KeyCode::Enter),
    ];
    keys.extend(text("not drawn"));
    let s = screen(&world().lab(), Some("dana"), keys);
    assert!(!s.contains("not drawn"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn audit_log() {
    assert_snapshot!(screen(
        &world().plant(),
        None,
        vec![key(KeyCode::Char('9'))]
    ));
}

#[test]
fn audit_log_filtered_by_action() {
    let mut keys = vec![key(KeyCode::Char('9')), key(KeyCode::Char('/'))];
    keys.extend(text("model."));
    keys.push(key(KeyCode::Enter));
    assert_snapshot!(screen(&world().plant(), None, keys));
}

#[test]
fn audit_record() {
    let keys = vec![key(KeyCode::Char('9')), key(KeyCode::Enter)];
    assert_snapshot!(screen(&world().plant(), None, keys));
}

#[test]
fn audit_verify() {
    let keys = vec![key(KeyCode::Char('9')), key(KeyCode::Char('v'))];
    assert_snapshot!(screen(&world().plant(), None, keys));
}

#[test]
fn error_dialog_on_a_folder_that_is_not_a_home() {
    // The library's own message, exactly as the command line prints it, with its exit code.
    assert_snapshot!(screen(
        std::path::Path::new("/nonexistent/airlock-home"),
        None,
        vec![]
    ));
}

#[test]
fn too_small_terminal() {
    let mut app = App::new(None);
    let buf = run(
        &console(&world().lab(), None),
        &mut app,
        vec![],
        40,
        10,
        &THEME,
    );
    assert_snapshot!(filtered(&lines(&buf)));
}

#[test]
fn a_one_cell_terminal_does_not_panic() {
    let mut app = App::new(None);
    let keys = vec![key(KeyCode::Char('5')), key(KeyCode::Char('?'))];
    run(&console(&world().lab(), None), &mut app, keys, 1, 1, &THEME);
}

#[test]
fn models_list_ascii() {
    let mut app = App::new(None);
    let theme = Theme::new(None, true);
    let keys = vec![key(KeyCode::Char('5'))];
    let buf = run(
        &console(&world().plant(), None),
        &mut app,
        keys,
        80,
        24,
        &theme,
    );
    let s = filtered(&lines(&buf));
    assert!(s.is_ascii(), "{s}");
    assert_snapshot!(s);
}

#[test]
fn no_color_draws_no_colour_and_marks_the_selection_in_reverse_video() {
    let theme = Theme::new(Some(std::ffi::OsStr::new("1")), false);
    assert!(!theme.color);
    let mut app = App::new(None);
    let keys = vec![key(KeyCode::Char('9'))];
    let buf = run(
        &console(&world().plant(), None),
        &mut app,
        keys,
        80,
        24,
        &theme,
    );
    for cell in buf.content() {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
    }
    // The header is row 1; the selected (newest) record is row 2.
    let reversed: Vec<u16> = (0..buf.area.height)
        .filter(|&y| buf[(10, y)].modifier.contains(Modifier::REVERSED))
        .collect();
    assert_eq!(reversed, [2], "the selected row");
    let tab: String = (0..buf.area.width)
        .filter(|&x| buf[(x, 23)].modifier.contains(Modifier::REVERSED))
        .map(|x| buf[(x, 23)].symbol().to_string())
        .collect();
    assert_eq!(tab, "9 Audit", "the current screen's tab");
}

#[test]
fn an_empty_home() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    airlock::node::home::Home::init(&home, "depot".parse().expect("site")).expect("init");
    let mut all = String::new();
    for k in ['1', '2', '3', '4', '5', '6', '7', '9'] {
        all.push_str(&screen(&home, None, vec![key(KeyCode::Char(k))]));
    }
    assert_snapshot!(all);
}

#[test]
fn hostile_text_in_a_record_is_drawn_escaped() {
    use airlock_tui::task::Outcome;
    let home = airlock::node::home::Home::open_read_only(&world().lab()).expect("open");
    let actors = airlock_tui::load::Actors::of(&home).expect("actors");
    drop(home);
    let evil = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\r\nimported bundle from site lab\u{202e}";
    let record = airlock::store::audit::Record {
        seq: 99,
        time: airlock::node::time::Timestamp(0),
        actor: evil.into(),
        action: evil.into(),
        subjects: vec![evil.into()],
        details: serde_json::json!({ "source": evil, "note": "\u{9b}31m\u{7f}" }),
        prev_hash: String::new(),
        hash: String::new(),
        signature: String::new(),
    };
    let mut app = App::new(None);
    app.screen = airlock_tui::app::Screen::Audit;
    app.apply(Outcome::Audit(Ok(vec![airlock_tui::load::audit_row(
        &record, &actors,
    )])));
    for keys in [vec![], vec![key(KeyCode::Enter)]] {
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).expect("terminal");
        for k in keys {
            if let Event::Key(k) = k {
                app.on_key(k);
            }
        }
        terminal
            .draw(|f| airlock_tui::ui::draw(f, &app, &THEME))
            .expect("draw");
        let screen = lines(terminal.backend().buffer());
        assert!(
            !screen
                .chars()
                .any(|c| c != '\n' && airlock::text::is_unsafe(c)),
            "{screen:?}"
        );
        assert!(screen.contains("x\\u{1b}]0;pwned"), "{screen}");
    }
}

#[test]
fn overview_of_a_broken_log_and_an_open_air_gap() {
    use airlock_tui::airgap::AirGap;
    use airlock_tui::shown::Shown;
    use airlock_tui::task::Outcome;
    use airlock_tui::view::{ErrorView, Overview};
    let mut app = App::new(None);
    app.apply(Outcome::Overview(Ok(Overview {
        site: Shown::new("plant"),
        key_id: Shown::new("0123456789abcdef"),
        audit: Some(Err(ErrorView::new(
            "audit record 4 does not link to record 3: the log was altered",
            airlock::error::exit::INTEGRITY,
        ))),
        air_gap: AirGap {
            interfaces_up: vec!["eth0".into()],
            default_routes: vec!["eth0".into()],
            unreadable: vec![],
        },
        ..Overview::default()
    })));
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).expect("terminal");
    terminal
        .draw(|f| airlock_tui::ui::draw(f, &app, &THEME))
        .expect("draw");
    let screen = lines(terminal.backend().buffer());
    assert!(
        screen.contains("NOT SEALED: up: eth0; default route via eth0"),
        "{screen}"
    );
    assert!(
        screen.contains("DOES NOT VERIFY (exit 4, integrity check failed)"),
        "{screen}"
    );
    assert_snapshot!(filtered(&screen));
}

#[test]
fn monitor_empty() {
    let s = screen(&world().plant(), None, vec![key(KeyCode::Char('7'))]);
    assert!(s.contains("No monitoring windows"), "{s}");
    assert_snapshot!(s);
}

/// A copy of plant where the demo's deployed model saw requests in one window, stored and
/// checked with the library as `airlock serve` does: every applicant 70 to 89, so `age` drifts.
fn plant_with_windows() -> tempfile::TempDir {
    use airlock::ops::monitor::{self, Collector, MonitorPolicy, Seen};
    let dir = tempfile::tempdir().expect("tempdir");
    common::copy_world(&world().root, &dir.path().join("w"));
    let plant = dir.path().join("w/plant");
    let mut home = airlock::node::home::Home::open(&plant).expect("open");
    let scorer = airlock::ops::rollout::open_scorer(&home, "production", None).expect("scorer");
    let mut c = Collector::new(&home, &scorer, "production", 3600).expect("collector");
    let requests =
        std::fs::read_to_string(world().root.join("media/requests.jsonl")).expect("requests");
    let now = airlock::node::time::Timestamp(1_764_756_000);
    for round in 0..20 {
        for line in requests.lines().filter(|l| !l.trim().is_empty()) {
            let mut obj: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(line).expect("request");
            obj.insert("age".into(), serde_json::json!(70 + round));
            let (answer, row) = scorer.score_with_row(&obj).expect("score");
            let seen = Seen {
                row: Some(&row),
                answer: Some(&answer),
                refused: None,
                micros: 10,
            };
            c.record(now, &seen);
        }
    }
    c.record(
        now,
        &Seen {
            row: None,
            answer: None,
            refused: Some("not json"),
            micros: 5,
        },
    );
    let windows = c.take(true);
    assert_eq!(windows.len(), 1);
    monitor::store(&mut home, &windows).expect("store");
    let checked = monitor::check(&mut home, &MonitorPolicy::default()).expect("check");
    assert!(!checked.raised.is_empty(), "age drifted: an alert");
    home.close().expect("close");
    dir
}

#[test]
fn monitor_windows_alerts_and_drift() {
    let dir = plant_with_windows();
    let plant = dir.path().join("w/plant");
    let s = screen(&plant, None, vec![key(KeyCode::Char('7'))]);
    assert!(s.contains("input drift") && s.contains("age"), "{s}");
    assert!(s.contains("DRIFT") && s.contains("production"), "{s}");
    assert_snapshot!(s);
    let s = screen(
        &plant,
        None,
        vec![key(KeyCode::Char('7')), key(KeyCode::Enter)],
    );
    assert!(s.contains("Drift of"), "{s}");
    assert_snapshot!("monitor_window_drift_full_height", s);
    let mut app = App::new(None);
    let keys = vec![key(KeyCode::Char('7'))];
    let buf = run(
        &console(&plant, None),
        &mut app,
        keys,
        80,
        24,
        &Theme::new(None, true),
    );
    let s = filtered(&lines(&buf));
    assert!(s.is_ascii(), "{s}");
    assert_snapshot!("monitor_windows_ascii", s);
}

#[test]
fn overview_says_when_the_installer_sealed_the_node() {
    // A copy of plant with the record `airlock-install seal` writes in the node's log.
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("world");
    copy_world(&world().root, &root);
    let plant = root.join("plant");
    let unsealed = screen(&plant, None, vec![]);
    assert!(
        unsealed.contains("not sealed by airlock-install"),
        "{unsealed}"
    );
    let mut home = airlock::node::home::Home::open(&plant).expect("open");
    let seq = home
        .record(airlock::store::AuditEntry::new(
            "install.seal",
            &[],
            serde_json::json!({ "reason": "first seal" }),
        ))
        .expect("record");
    home.close().expect("close");
    let sealed = screen(&plant, None, vec![]);
    assert!(
        sealed.contains(&format!("sealed by airlock-install, record #{seq}")),
        "{sealed}"
    );
    assert!(!sealed.contains("not sealed"), "{sealed}");
}
