//! A console action and the same `airlock` command leave the same records: one demo world
//! copied twice, the same steps (approve, deploy, a canary with its share, promote, roll back,
//! a shadow, roll it back) taken in one copy from the console and in the other with the
//! command, and the new audit records compared: the same kinds, actors, subjects and fields,
//! apart from the ids of the records made (which hold their times) and the times.

mod common;

use std::path::Path;

use airlock::node::home::Home;
use airlock_tui::App;
use common::{THEME, airlock, console, copy_world, key, make_world, run, text};
use ratatui::crossterm::event::{Event, KeyCode};
use serde_json::Value;

/// One operator action, as the console and the command take it.
enum Step<'a> {
    /// On the Models screen.
    Approve { model: &'a str, note: &'a str },
    /// On the Models screen, to `slot`.
    Deploy { model: &'a str, slot: &'a str },
    /// On the Deploy screen: the newest model (the form's first choice) to the slot in row
    /// `row`, for `percent`.
    DeployShare {
        model: &'a str,
        slot: &'a str,
        row: usize,
        percent: &'a str,
    },
    /// On the Deploy screen.
    Promote,
    /// On the Deploy screen, the slot in row `row`.
    Rollback {
        slot: &'a str,
        row: usize,
        reason: &'a str,
    },
    /// On the Deploy screen (`t`), production back to `to`, the only model it held before
    /// its current one (so the form's choice is shown, not focused).
    RollbackTo { to: &'a str, reason: &'a str },
}

/// Keys that open the Deploy screen and select row `row`.
fn on_slot(row: usize) -> Vec<Event> {
    let mut keys = vec![key(KeyCode::Char('6'))];
    keys.extend(std::iter::repeat_n(key(KeyCode::Down), row));
    keys
}

/// Keys that pick `model` out on the Models screen with a filter on its id.
fn on_model(model: &str) -> Vec<Event> {
    let mut keys = vec![key(KeyCode::Char('5')), key(KeyCode::Char('/'))];
    keys.extend(text(&model[..16]));
    keys.push(key(KeyCode::Enter));
    keys
}

/// The passphrase, then Enter (which lands on Cancel), → to the action's button, Enter.
fn signed(pass: &str) -> Vec<Event> {
    let mut keys = text(pass);
    keys.extend([
        key(KeyCode::Enter),
        key(KeyCode::Right),
        key(KeyCode::Enter),
    ]);
    keys
}

/// `choice`: how many → move the deploy form's model choice to the step's model.
fn console_keys(step: &Step, pass: &str, choice: usize) -> Vec<Event> {
    match step {
        Step::Approve { model, note } => {
            let mut keys = on_model(model);
            keys.push(key(KeyCode::Char('a')));
            keys.extend(text(note));
            keys.extend([key(KeyCode::Enter), key(KeyCode::Enter)]);
            keys.extend(signed(pass));
            keys
        }
        Step::Deploy { model, slot } => {
            let mut keys = on_model(model);
            keys.push(key(KeyCode::Char('d')));
            // The slot field holds "production": cleared, then typed.
            keys.extend(std::iter::repeat_n(key(KeyCode::Backspace), 12));
            keys.extend(text(slot));
            keys.extend([key(KeyCode::Enter), key(KeyCode::Enter)]);
            keys.extend(signed(pass));
            keys
        }
        Step::DeployShare { row, percent, .. } => {
            let mut keys = on_slot(*row);
            // Focus on the model: → to the one wanted; then the slot (filled in), the share.
            keys.push(key(KeyCode::Char('d')));
            keys.extend(std::iter::repeat_n(key(KeyCode::Right), choice));
            keys.extend([key(KeyCode::Tab), key(KeyCode::Tab)]);
            keys.extend(text(percent));
            keys.push(key(KeyCode::Enter));
            keys.extend(signed(pass));
            keys
        }
        Step::Promote => {
            let mut keys = on_slot(0);
            keys.push(key(KeyCode::Char('p')));
            keys.extend(signed(pass));
            keys
        }
        Step::Rollback { row, reason, .. } => {
            let mut keys = on_slot(*row);
            keys.extend([key(KeyCode::Char('b')), key(KeyCode::Enter)]);
            keys.extend(text(reason));
            keys.push(key(KeyCode::Enter));
            keys.extend(signed(pass));
            keys
        }
        Step::RollbackTo { reason, .. } => {
            let mut keys = on_slot(0);
            keys.push(key(KeyCode::Char('t')));
            keys.extend(text(reason));
            keys.push(key(KeyCode::Enter));
            keys.extend(signed(pass));
            keys
        }
    }
}

fn command_args(step: &Step, pass_file: &str) -> Vec<String> {
    let mut args: Vec<String> = match step {
        Step::Approve { model, note } => {
            vec![
                "approve".into(),
                model.to_string(),
                "--note".into(),
                note.to_string(),
            ]
        }
        Step::Deploy { model, slot } => {
            vec![
                "deploy".into(),
                model.to_string(),
                "--slot".into(),
                slot.to_string(),
            ]
        }
        Step::DeployShare {
            model,
            slot,
            percent,
            ..
        } => ["deploy", model, "--slot", slot, "--percent", percent]
            .map(String::from)
            .into(),
        Step::Promote => vec!["promote".into()],
        Step::Rollback { slot, reason, .. } => ["rollback", "--slot", slot, "--reason", reason]
            .map(String::from)
            .into(),
        Step::RollbackTo { to, reason } => ["rollback", "--to", to, "--reason", reason]
            .map(String::from)
            .into(),
    };
    args.extend(["--operator", "dana", "--passphrase-file", pass_file].map(String::from));
    args
}

fn log(home: &Path) -> Vec<airlock::store::audit::Record> {
    Home::open_read_only(home)
        .expect("open")
        .audit_log()
        .expect("log")
}

/// The records an audit record says were made: the first subject, and for a promotion the
/// second too (the canary's retirement).
fn made(r: &airlock::store::audit::Record) -> &[String] {
    let n = if r.action == "model.promote" { 2 } else { 1 };
    &r.subjects[..n.min(r.subjects.len())]
}

/// A signed record made by a step, as JSON, without its time and the signatures over it
/// (which cover the time).
fn record(home: &Home, action: &str, id: &str) -> Value {
    let id: airlock::digest::Digest = id.parse().expect("id");
    let mut v = if action == "model.approve" {
        let a: airlock::lifecycle::Approval =
            airlock::vault::registry::load(home.store(), home.vault(), &id).expect("approval");
        serde_json::to_value(a).expect("json")
    } else {
        let d: airlock::lifecycle::Deployment =
            airlock::vault::registry::load(home.store(), home.vault(), &id).expect("deployment");
        serde_json::to_value(d).expect("json")
    };
    fn strip(v: &mut Value) {
        if let Value::Object(m) = v {
            m.retain(|k, _| {
                !matches!(
                    k.as_str(),
                    "created_at" | "signature" | "operator_signature"
                )
            });
            m.values_mut().for_each(strip);
        }
    }
    strip(&mut v);
    v
}

/// The audit records made after `before` at `home`, each with the records it made, with the
/// ids of those records (which hold their times) replaced by their order, so two worlds'
/// records compare equal when they say the same.
fn normalized(home: &Path, before: usize) -> Vec<Value> {
    let records = log(home)[before..].to_vec();
    let home = Home::open_read_only(home).expect("open");
    let ids: Vec<String> = records.iter().flat_map(|r| made(r).to_vec()).collect();
    let swap = |v: Value| -> Value {
        let mut s = v.to_string();
        for (i, id) in ids.iter().enumerate() {
            s = s.replace(id.as_str(), &format!("<record {i}>"));
        }
        serde_json::from_str(&s).expect("json")
    };
    records
        .iter()
        .map(|r| {
            swap(serde_json::json!({
                "action": r.action,
                "actor": r.actor,
                "subjects": r.subjects,
                "details": r.details,
                "made": made(r).iter().map(|id| record(&home, &r.action, id)).collect::<Vec<_>>(),
            }))
        })
        .collect()
}

#[test]
fn console_actions_leave_the_records_the_commands_leave() {
    let w = make_world();
    let lab = w.lab();
    // A second model at lab, gated (the demo's is gated and approved by dana already).
    let trained: Value = serde_json::from_str(&airlock(
        &lab,
        &[
            "--json",
            "train",
            "--dataset",
            "credit",
            "--features",
            "credit-features",
            "--model",
            "logreg",
            "--epochs",
            "3",
            "--seed",
            "11",
        ],
    ))
    .expect("json");
    let second = trained["id"].as_str().expect("id").to_string();
    airlock(&lab, &["gate", &second, "--require", "roc_auc>=0.5"]);
    let first = airlock(&lab, &["--json", "models", "list"]);
    let first: Value = serde_json::from_str(&first).expect("json");
    let first = first
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .find(|id| *id != second)
        .expect("the demo's model");

    let steps = [
        Step::Approve {
            model: &second,
            note: "parity of console and command",
        },
        Step::Deploy {
            model: &first,
            slot: "production",
        },
        Step::DeployShare {
            model: &second,
            slot: "canary",
            row: 1,
            percent: "10",
        },
        Step::Promote,
        Step::Rollback {
            slot: "production",
            row: 0,
            reason: "parity: back to the first",
        },
        Step::DeployShare {
            model: &second,
            slot: "shadow",
            row: 2,
            percent: "25",
        },
        Step::Rollback {
            slot: "shadow",
            row: 2,
            reason: "parity: shadow off",
        },
        Step::RollbackTo {
            to: &second,
            reason: "parity: forward again with --to",
        },
    ];

    let copies = tempfile::tempdir().expect("tempdir");
    let (by_console, by_command) = (copies.path().join("console"), copies.path().join("command"));
    copy_world(&w.root, &by_console);
    copy_world(&w.root, &by_command);
    let before = log(&lab).len();
    let pass = w.passphrase("dana");
    let pass_file = w.root.join("media/dana.pass").display().to_string();

    for step in &steps {
        let home = by_console.join("lab");
        let n = log(&home).len();
        // The deploy form lists the models deployed nowhere first, then the others, each
        // group newest first (the order `models list` gives).
        let choice = match step {
            Step::DeployShare { model, .. } => {
                let mut rows =
                    airlock_tui::load::models(&Home::open_read_only(&home).expect("open"))
                        .expect("models");
                rows.sort_by_key(|m| m.deployed.is_some());
                rows.iter()
                    .position(|m| m.id_hex == *model)
                    .expect("listed")
            }
            _ => 0,
        };
        let mut app = App::new(Some("dana"));
        run(
            &console(&home, Some("dana")),
            &mut app,
            console_keys(step, &pass, choice),
            80,
            24,
            &THEME,
        );
        assert!(
            matches!(app.dialog, Some(airlock_tui::app::Dialog::Message { .. })),
            "the console's step failed: {:?}\n{:#?}",
            app.dialog,
            log(&home)[before..]
                .iter()
                .map(|r| (&r.action, &r.details))
                .collect::<Vec<_>>()
        );
        assert_eq!(log(&home).len(), n + 1, "one record per step");
        let args = command_args(step, &pass_file);
        airlock(
            &by_command.join("lab"),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }

    let from_console = normalized(&by_console.join("lab"), before);
    let from_command = normalized(&by_command.join("lab"), before);
    let actions: Vec<&Value> = from_console.iter().map(|r| &r["action"]).collect();
    assert_eq!(
        actions,
        [
            "model.approve",
            "model.deploy",
            "model.deploy",
            "model.promote",
            "model.rollback",
            "model.deploy",
            "model.rollback",
            "model.rollback"
        ]
    );
    assert_eq!(
        from_console[0]["made"][0]["note"], "parity of console and command",
        "the signed approval carries the note"
    );
    assert_eq!(from_console, from_command);
}
