//! Approving and deploying from the console, on a demo world of this test binary's own
//! (these tests change it): the library's checks, signatures and audit records, exactly as
//! the `airlock` command leaves them.

mod common;

use std::sync::Mutex;

use airlock::node::home::Home;
use airlock_tui::App;
use common::{THEME, console, filtered, key, lines, run, text, world};
use ratatui::crossterm::event::{Event, KeyCode};

/// The tests share one world and change it: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn audit(home: &std::path::Path) -> Vec<airlock::store::audit::Record> {
    Home::open_read_only(home)
        .expect("open")
        .audit_log()
        .expect("log")
}

fn key_id(home: &std::path::Path, name: &str) -> String {
    let home = Home::open_read_only(home).expect("open");
    airlock::trust::operator::list(&home)
        .expect("operators")
        .into_iter()
        .find(|o| o.name == name)
        .expect("operator")
        .key_id
}

/// Keys that open `what` (a or d) on the first model, type `field` (the note, or after the
/// slot's "production"), the passphrase, and press the action's button.
fn signed(what: char, field: Option<&str>, pass: &str) -> Vec<Event> {
    let mut keys = vec![key(KeyCode::Char('5')), key(KeyCode::Char(what))];
    if let Some(f) = field {
        keys.extend(text(f));
    }
    // Past the second field (approve: Reviewed; deploy: Percent) to the passphrase.
    keys.extend([key(KeyCode::Enter), key(KeyCode::Enter)]);
    keys.extend(text(pass));
    keys.extend([key(KeyCode::Tab), key(KeyCode::Right), key(KeyCode::Enter)]);
    keys
}

#[test]
fn deploy_from_the_console_leaves_the_records_the_command_leaves() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    let lab = w.lab();
    let before = audit(&lab).len();
    let mut app = App::new(Some("dana"));
    let buf = run(
        &console(&lab, Some("dana")),
        &mut app,
        signed('d', None, &w.passphrase("dana")),
        80,
        24,
        &THEME,
    );
    let screen = filtered(&lines(&buf));
    assert!(screen.contains("deployed to production"), "{screen}");
    insta::assert_snapshot!(screen);

    let log = audit(&lab);
    assert_eq!(log.len(), before + 1, "one record, the deployment");
    let console_record = &log[before];
    assert_eq!(console_record.action, "model.deploy");
    assert_eq!(
        console_record.actor,
        key_id(&lab, "dana"),
        "signed for dana"
    );
    assert_eq!(console_record.details["operator"], "dana");
    assert_eq!(console_record.details["slot"], "production");

    // The same deployment made by the `airlock` command, to another slot.
    let exe = std::env::current_exe().expect("exe");
    let airlock = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join("airlock"))
        .find(|p| p.is_file())
        .expect("the airlock program beside the test (cargo test --workspace builds it)");
    let out = std::process::Command::new(airlock)
        .args(["--home"])
        .arg(&lab)
        .args([
            "deploy",
            &console_record.subjects[1],
            "--slot",
            "staging",
            "--operator",
            "dana",
        ])
        .arg("--passphrase-file")
        .arg(w.root.join("media/dana.pass"))
        .output()
        .expect("run airlock");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = audit(&lab);
    let cli_record = log.last().expect("record");
    assert_eq!(cli_record.action, console_record.action);
    assert_eq!(cli_record.actor, console_record.actor);
    assert_eq!(cli_record.subjects.len(), console_record.subjects.len());
    assert_eq!(
        cli_record.subjects[1], console_record.subjects[1],
        "the same model"
    );
    let fields = |r: &airlock::store::audit::Record| -> Vec<String> {
        r.details
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(fields(cli_record), fields(console_record));
    for f in [
        "operator",
        "feature_set",
        "approvals_needed",
        "policy_version",
        "previous",
    ] {
        assert_eq!(cli_record.details[f], console_record.details[f], "{f}");
    }
}

#[test]
fn cancel_is_the_default_and_signs_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    let lab = w.lab();
    let before = audit(&lab).len();
    let mut keys = vec![key(KeyCode::Char('5')), key(KeyCode::Char('a'))];
    keys.extend(text("looks fine"));
    keys.extend([key(KeyCode::Enter), key(KeyCode::Enter)]);
    keys.extend(text(&w.passphrase("dana")));
    // Enter, Enter: onto Cancel, and press it.
    keys.extend([key(KeyCode::Enter), key(KeyCode::Enter)]);
    let mut app = App::new(Some("dana"));
    run(&console(&lab, Some("dana")), &mut app, keys, 80, 24, &THEME);
    assert!(app.dialog.is_none());
    assert_eq!(audit(&lab).len(), before, "nothing recorded");
}

#[test]
fn a_second_approval_by_the_same_operator_shows_the_librarys_refusal() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    let mut app = App::new(Some("dana"));
    let buf = run(
        &console(&w.lab(), Some("dana")),
        &mut app,
        signed('a', Some("again"), &w.passphrase("dana")),
        80,
        24,
        &THEME,
    );
    match &app.dialog {
        Some(airlock_tui::app::Dialog::Error { error, .. }) => {
            assert_eq!(error.exit_code, airlock::error::exit::REFUSED)
        }
        other => panic!("{other:?}"),
    }
    insta::assert_snapshot!(filtered(&lines(&buf)));
}

#[test]
fn a_wrong_passphrase_deploys_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    let plant = w.plant();
    let before = audit(&plant).len();
    let mut app = App::new(Some("omar"));
    run(
        &console(&plant, Some("omar")),
        &mut app,
        signed('d', Some("-2"), "not omar's passphrase"),
        80,
        24,
        &THEME,
    );
    match &app.dialog {
        Some(airlock_tui::app::Dialog::Error { error, .. }) => {
            assert_eq!(error.exit_code, airlock::error::exit::KEY, "{error:?}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !audit(&plant)[before..]
            .iter()
            .any(|r| r.action == "model.deploy"),
        "no deployment"
    );
}
