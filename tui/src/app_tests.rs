//! Key handling as state transitions, without a terminal or a home: keys give tasks, and
//! outcomes applied change the state (`app.rs`).

use super::*;
use crate::deploy::SlotsView;
use crate::featureset::SetRow;
use crate::report::CardView;
use crate::task::Outcome;
use crate::training::{RunDetail, RunRow};
use crate::view::{AuditRow, DataView, ModelDetail, ModelRow};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, codes: &[KeyCode]) -> Option<Task> {
    let mut last = None;
    for c in codes {
        last = app.on_key(key(*c));
    }
    last
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        assert!(app.on_key(key(KeyCode::Char(c))).is_none());
    }
}

fn model(name: &str) -> ModelRow {
    let s = Shown::new;
    ModelRow {
        id: s("0123456789abcdef"),
        id_hex: "0123456789abcdef".into(),
        name: s(name),
        site: s("lab"),
        task: s("binary"),
        arch: s("mlp"),
        dataset: s("credit@1"),
        features: s("credit-features@1"),
        score_name: s("roc_auc"),
        score: 0.8,
        gate: s("passed"),
        approvals: 1,
        deployed: None,
    }
}

fn on_models(operator: Option<&str>) -> App {
    let mut app = App::new(operator);
    assert!(matches!(
        app.on_key(key(KeyCode::Char('5'))),
        Some(Task::Models { open: None })
    ));
    app.apply(Outcome::Models {
        rows: Ok(vec![model("credit-mlp"), model("churn-logreg")]),
        detail: None,
    });
    app
}

#[test]
fn digits_switch_screens_and_load_them() {
    let mut app = App::new(None);
    assert!(matches!(
        app.on_key(key(KeyCode::Char('2'))),
        Some(Task::Data)
    ));
    assert_eq!(app.screen, Screen::Data);
    assert!(matches!(
        app.on_key(key(KeyCode::Char('9'))),
        Some(Task::Audit)
    ));
    assert!(matches!(
        app.on_key(key(KeyCode::Char('6'))),
        Some(Task::Slots)
    ));
    assert_eq!(app.screen, Screen::Deploy);
    assert!(matches!(
        app.on_key(key(KeyCode::Char('r'))),
        Some(Task::Slots)
    ));
    assert!(matches!(
        app.on_key(key(KeyCode::Char('1'))),
        Some(Task::Overview)
    ));
    assert_eq!(app.screen, Screen::Overview);
}

#[test]
fn q_quits_from_a_list_but_only_closes_a_detail() {
    let mut app = on_models(None);
    assert!(
        matches!(app.on_key(key(KeyCode::Enter)), Some(Task::Model(m)) if m.name.as_str() == "credit-mlp")
    );
    app.models.detail = Some(DetailState {
        detail: ModelDetail {
            row: model("credit-mlp"),
            holdout_rows: 10,
            metrics: vec![],
            epochs: (1, 1),
            trained: Shown::default(),
            device: Shown::default(),
            approvals: vec![],
            gates: Ok(vec![]),
            lineage: Err(ErrorView::new("x", 4)),
        },
        scroll: 0,
    });
    assert_eq!(app.bindings().as_ptr(), keys::MODELS_DETAIL.as_ptr());
    assert!(press(&mut app, &[KeyCode::Char('q')]).is_none());
    assert!(app.models.detail.is_none() && !app.quit);
    press(&mut app, &[KeyCode::Esc]);
    assert!(app.quit);
}

#[test]
fn selection_stays_within_the_list() {
    let mut app = on_models(None);
    press(&mut app, &[KeyCode::Up, KeyCode::Up]);
    assert_eq!(app.models.list.selected, 0);
    press(
        &mut app,
        &[
            KeyCode::Down,
            KeyCode::Down,
            KeyCode::Down,
            KeyCode::PageDown,
        ],
    );
    assert_eq!(app.models.list.selected, 1);
    press(&mut app, &[KeyCode::Home]);
    assert_eq!(app.models.list.selected, 0);
    press(&mut app, &[KeyCode::Char('G')]);
    assert_eq!(app.models.list.selected, 1);
}

#[test]
fn the_filter_keeps_matching_rows_refuses_control_characters_and_esc_clears_it() {
    let mut app = on_models(None);
    press(&mut app, &[KeyCode::Down]);
    press(&mut app, &[KeyCode::Char('/')]);
    assert!(app.models.list.editing);
    typed(&mut app, "CHURN");
    // Keys that would act elsewhere are text while typing a filter.
    assert!(!app.quit);
    app.on_key(key(KeyCode::Char('\u{1b}')));
    app.on_key(key(KeyCode::Char('\u{202e}')));
    assert_eq!(app.models.list.filter, "CHURN");
    assert_eq!(app.models.visible().len(), 1);
    assert_eq!(app.models.list.selected, 0);
    press(&mut app, &[KeyCode::Enter]);
    assert!(!app.models.list.editing);
    assert_eq!(
        app.models.current().map(|m| m.name.as_str()),
        Some("churn-logreg")
    );
    press(&mut app, &[KeyCode::Char('/'), KeyCode::Esc]);
    assert!(app.models.list.filter.is_empty() && !app.models.list.editing);
    assert_eq!(app.models.visible().len(), 2);
}

#[test]
fn approving_without_an_operator_says_how_and_asks_nothing() {
    let mut app = on_models(None);
    assert!(press(&mut app, &[KeyCode::Char('a')]).is_none());
    match &app.dialog {
        Some(Dialog::Error { error, .. }) => {
            assert_eq!(error.exit_code, exit::USAGE);
            assert!(error.message.as_str().contains("--operator NAME"));
        }
        other => panic!("{other:?}"),
    }
    press(&mut app, &[KeyCode::Enter]);
    assert!(app.dialog.is_none());
}

#[test]
fn enter_after_the_passphrase_lands_on_cancel_which_signs_nothing() {
    let mut app = on_models(Some("dana"));
    assert!(press(&mut app, &[KeyCode::Char('d')]).is_none());
    let Some(Dialog::Confirm(c)) = &app.dialog else {
        panic!("no confirmation");
    };
    assert!(matches!(c.intent, Intent::Deploy));
    assert_eq!(
        c.focus,
        form::Focus::Field(1),
        "the slot: the model is fixed"
    );
    assert_eq!(c.value(form::label::SLOT), "production");
    assert_eq!(c.value(form::label::MODEL), "0123456789abcdef");
    press(&mut app, &[KeyCode::Enter, KeyCode::Enter]);
    typed(&mut app, "secret passphrase");
    assert!(press(&mut app, &[KeyCode::Enter]).is_none());
    let Some(Dialog::Confirm(c)) = &app.dialog else {
        panic!("closed too early");
    };
    assert_eq!(c.focus, form::Focus::Cancel);
    assert!(press(&mut app, &[KeyCode::Enter]).is_none());
    assert!(app.dialog.is_none());
}

#[test]
fn esc_cancels_a_confirmation() {
    let mut app = on_models(Some("dana"));
    press(&mut app, &[KeyCode::Char('a'), KeyCode::Tab]);
    typed(&mut app, "pass");
    assert!(press(&mut app, &[KeyCode::Esc]).is_none());
    assert!(app.dialog.is_none());
}

#[test]
fn only_the_action_button_signs_with_what_was_typed() {
    let mut app = on_models(Some("dana"));
    press(&mut app, &[KeyCode::Down]);
    press(&mut app, &[KeyCode::Char('a')]);
    typed(&mut app, "metrics reviewed");
    press(&mut app, &[KeyCode::Backspace]);
    // Note, then Reviewed (left at no), then the passphrase.
    press(&mut app, &[KeyCode::Enter, KeyCode::Enter]);
    typed(&mut app, "pass phrase");
    press(&mut app, &[KeyCode::Enter, KeyCode::Right]);
    match press(&mut app, &[KeyCode::Enter]) {
        Some(Task::Approve {
            model,
            note,
            reviewed,
            ..
        }) => {
            assert_eq!(model.name.as_str(), "churn-logreg");
            assert_eq!(note, "metrics reviewe");
            assert!(!reviewed);
        }
        other => panic!("{other:?}"),
    }
    assert!(app.dialog.is_none());
}

#[test]
fn help_opens_and_any_key_closes_it_without_acting() {
    let mut app = on_models(None);
    press(&mut app, &[KeyCode::Char('?')]);
    assert!(app.help);
    assert_eq!(app.bindings().as_ptr(), keys::HELP.as_ptr());
    assert!(press(&mut app, &[KeyCode::Char('q')]).is_none());
    assert!(!app.help && !app.quit);
}

#[test]
fn ctrl_c_quits_even_from_a_dialog() {
    let mut app = on_models(Some("dana"));
    press(&mut app, &[KeyCode::Char('d')]);
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(app.quit);
}

#[test]
fn an_action_s_result_is_shown_and_the_screen_reloaded() {
    let mut app = on_models(Some("dana"));
    let next = app.apply(Outcome::Done {
        title: "deploy",
        result: Err(ErrorView::new("model x is not approved", exit::REFUSED)),
    });
    assert!(matches!(next, Some(Task::Models { open: None })));
    assert!(matches!(
        &app.dialog,
        Some(Dialog::Error {
            title: "deploy",
            ..
        })
    ));
}

#[test]
fn the_audit_list_is_newest_first_and_enter_opens_a_record() {
    let mut app = App::new(None);
    press(&mut app, &[KeyCode::Char('9')]);
    let row = |seq: i64, action: &str| AuditRow {
        seq,
        time: Shown::new("2026-01-01T00:00:00Z"),
        action: Shown::new(action),
        actor: Shown::new("00aa"),
        actor_name: Shown::new("site lab"),
        subjects: vec![],
        details: Shown::new("{}"),
        details_block: Shown::new("{}"),
    };
    app.apply(Outcome::Audit(Ok(vec![
        row(1, "home.init"),
        row(2, "model.deploy"),
    ])));
    assert_eq!(app.audit.visible()[0].seq, 2);
    press(&mut app, &[KeyCode::Down, KeyCode::Enter]);
    assert_eq!(app.audit.open().map(|r| r.seq), Some(1));
    press(&mut app, &[KeyCode::Esc]);
    assert!(app.audit.record.is_none() && !app.quit);
}

fn run_row(id: &str) -> RunRow {
    RunRow {
        id: Shown::new(id),
        id_hex: id.into(),
        name: Shown::new(&format!("model-{id}")),
        site: Shown::new("lab"),
        what: Shown::new("binary logreg"),
        epochs: 3,
        best: 3,
        stopped_early: false,
        device: Shown::new("cpu"),
        finished: Shown::new("2026-01-01T00:00:00Z"),
    }
}

#[test]
fn training_runs_filter_and_open_by_id_and_q_closes_the_run() {
    let mut app = App::new(None);
    assert!(matches!(
        press(&mut app, &[KeyCode::Char('4')]),
        Some(Task::Runs)
    ));
    app.apply(Outcome::Runs(Ok(vec![
        run_row("aaaa1111"),
        run_row("bbbb2222"),
    ])));
    press(&mut app, &[KeyCode::Char('/')]);
    typed(&mut app, "bbbb");
    press(&mut app, &[KeyCode::Enter]);
    match press(&mut app, &[KeyCode::Enter]) {
        Some(Task::Run(id)) => assert_eq!(id, "bbbb2222"),
        other => panic!("{other:?}"),
    }
    app.apply(Outcome::Run(Ok(RunDetail {
        row: run_row("bbbb2222"),
        settings: vec![],
        score_name: "roc_auc",
        history: vec![],
        slice_column: None,
        slice_metrics: vec![],
        slices: vec![],
    })));
    assert_eq!(app.bindings().as_ptr(), keys::TRAINING_DETAIL.as_ptr());
    assert!(matches!(
        press(&mut app, &[KeyCode::Char('r')]),
        Some(Task::Run(_))
    ));
    press(&mut app, &[KeyCode::Char('q')]);
    assert!(app.training.detail.is_none() && !app.quit);
}

#[test]
fn features_open_a_version_and_esc_goes_back() {
    let mut app = App::new(None);
    assert!(matches!(
        press(&mut app, &[KeyCode::Char('3')]),
        Some(Task::Sets)
    ));
    let row = SetRow {
        id: Shown::new("cccc"),
        id_hex: "cccc".into(),
        reference: Shown::new("lab/credit-features@1"),
        width: 20,
        created: Shown::new("2026-01-01T00:00:00Z"),
    };
    app.apply(Outcome::Sets(Ok(vec![row])));
    assert!(matches!(press(&mut app, &[KeyCode::Enter]), Some(Task::Set(r)) if r.id_hex == "cccc"));
    // Nothing loaded yet: Esc on the list leaves the console.
    press(&mut app, &[KeyCode::Esc]);
    assert!(app.quit);
}

fn slots_view() -> SlotsView {
    let slot = |name: &str, model: Option<&str>| crate::deploy::SlotView {
        name: Shown::new(name),
        role: crate::deploy::role(name),
        current: model.map(|m| crate::deploy::Held {
            model: Shown::new(m),
            record: Shown::new("rec"),
            action: Shown::new("deploy"),
            percent: (name == "canary").then_some(10.0),
            threshold: None,
            at: Shown::new("2026-01-01T00:00:00Z"),
            by: Shown::new("dana"),
            previous: None,
            reason: Shown::default(),
        }),
        rollback: Ok(None),
        earlier: if name == "production" {
            vec![Shown::new("aaaa"), Shown::new("bbbb")]
        } else {
            vec![]
        },
    };
    SlotsView {
        slots: vec![
            slot("production", Some("0123456789abcdef")),
            slot("canary", Some("0123456789abcdef")),
            slot("shadow", None),
        ],
        models: vec![model("credit-mlp"), model("churn-logreg")],
    }
}

#[test]
fn on_the_deploy_screen_b_rolls_the_selected_slot_back_and_d_fills_its_share() {
    let mut app = App::new(Some("dana"));
    assert!(matches!(
        press(&mut app, &[KeyCode::Char('6')]),
        Some(Task::Slots)
    ));
    app.apply(Outcome::Slots(Ok(slots_view())));
    press(&mut app, &[KeyCode::Down, KeyCode::Char('b')]);
    let Some(Dialog::Confirm(c)) = &app.dialog else {
        panic!("no confirmation");
    };
    assert!(matches!(c.intent, Intent::Rollback));
    assert_eq!(c.value(form::label::SLOT), "canary");
    assert_eq!(c.focus, form::Focus::Field(0));
    press(&mut app, &[KeyCode::Esc]);
    press(&mut app, &[KeyCode::Char('d')]);
    let Some(Dialog::Confirm(c)) = &app.dialog else {
        panic!("no confirmation");
    };
    assert_eq!(c.value(form::label::SLOT), "canary");
    assert_eq!(c.value(form::label::PERCENT), "10", "the slot's share now");
    press(&mut app, &[KeyCode::Esc, KeyCode::Char('p')]);
    let Some(Dialog::Confirm(c)) = &app.dialog else {
        panic!("no confirmation");
    };
    assert!(matches!(c.intent, Intent::Promote));
    assert_eq!(c.focus, form::Focus::Passphrase, "a promotion has no field");
}

#[test]
fn t_rolls_back_to_a_chosen_earlier_model_of_the_slot_and_says_so_when_there_is_none() {
    let mut app = App::new(Some("dana"));
    press(&mut app, &[KeyCode::Char('6')]);
    app.apply(Outcome::Slots(Ok(slots_view())));
    press(&mut app, &[KeyCode::Char('t')]);
    let Some(Dialog::Confirm(c)) = &app.dialog else {
        panic!("no confirmation");
    };
    assert!(matches!(c.intent, Intent::Rollback));
    assert_eq!(
        c.value(form::label::TO),
        "aaaa",
        "the newest earlier model first"
    );
    assert_eq!(c.value(form::label::SLOT), "production");
    press(&mut app, &[KeyCode::Right, KeyCode::Tab]);
    typed(&mut app, "back to b");
    press(&mut app, &[KeyCode::Tab]);
    typed(&mut app, "pass");
    // Enter lands on Cancel, the default; → to the button.
    press(&mut app, &[KeyCode::Enter, KeyCode::Right]);
    match press(&mut app, &[KeyCode::Enter]) {
        Some(Task::Rollback {
            slot, to, reason, ..
        }) => assert_eq!(
            (slot.as_str(), to.as_deref(), reason.as_str()),
            ("production", Some("bbbb"), "back to b")
        ),
        other => panic!("{other:?}"),
    }
    // The canary held nothing else: no form, a message.
    app.dialog = None;
    press(&mut app, &[KeyCode::Down, KeyCode::Char('t')]);
    match &app.dialog {
        Some(Dialog::Message { text, .. }) => {
            assert!(text.as_str().contains("nothing to go back to"), "{text:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn promoting_without_an_operator_says_how_and_asks_nothing() {
    let mut app = App::new(None);
    press(&mut app, &[KeyCode::Char('6')]);
    app.apply(Outcome::Slots(Ok(slots_view())));
    assert!(press(&mut app, &[KeyCode::Char('p')]).is_none());
    match &app.dialog {
        Some(Dialog::Error { error, .. }) => {
            assert_eq!(error.exit_code, exit::USAGE);
            assert!(error.message.as_str().contains("promoting the canary"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tab_moves_between_the_data_lists_and_enter_opens_what_is_selected() {
    use crate::view::{ContractRow, DatasetKey, RefusedRow};
    let mut app = App::new(None);
    assert!(matches!(
        press(&mut app, &[KeyCode::Char('2')]),
        Some(Task::Data)
    ));
    let key = |v: i64| DatasetKey {
        site: "lab".into(),
        name: "credit".into(),
        version: v,
    };
    let contract = |v: i64| ContractRow {
        key: key(v),
        reference: Shown::new(&format!("lab/credit@{v}")),
        id: Shown::new("00"),
        created: Shown::default(),
    };
    let record = AuditRow {
        seq: 7,
        time: Shown::new("2026-01-01T00:00:00Z"),
        action: Shown::new("data.refused"),
        actor: Shown::new("00aa"),
        actor_name: Shown::new("site lab"),
        subjects: vec![],
        details: Shown::new("{}"),
        details_block: Shown::new("{}"),
    };
    app.apply(Outcome::Data(Ok(DataView {
        datasets: vec![],
        contracts: vec![contract(1), contract(2)],
        refused: vec![RefusedRow {
            dataset: Shown::new("credit"),
            source: Shown::new("x.csv"),
            contract: Shown::new("credit@1"),
            why: Shown::new("no data rows"),
            record,
        }],
    })));
    assert!(
        press(&mut app, &[KeyCode::Enter]).is_none(),
        "no dataset to open"
    );
    press(&mut app, &[KeyCode::Tab]);
    assert_eq!(app.data.focus, DataList::Contracts);
    match press(&mut app, &[KeyCode::Down, KeyCode::Enter]) {
        Some(Task::ContractDiff(k)) => assert_eq!(k.version, 2),
        other => panic!("{other:?}"),
    }
    press(&mut app, &[KeyCode::Tab]);
    assert_eq!(app.data.focus, DataList::Refused);
    assert!(press(&mut app, &[KeyCode::Enter]).is_none());
    assert_eq!(app.data.open_record().map(|(r, _)| r.seq), Some(7));
    assert_eq!(app.bindings().as_ptr(), keys::TEXT_DETAIL.as_ptr());
    press(&mut app, &[KeyCode::Esc]);
    assert!(app.data.record.is_none() && !app.quit);
    press(&mut app, &[KeyCode::Tab]);
    assert_eq!(app.data.focus, DataList::Datasets, "round again");
}

#[test]
fn c_opens_the_model_card_over_the_list_and_q_closes_only_the_card() {
    let mut app = on_models(None);
    match press(&mut app, &[KeyCode::Down, KeyCode::Char('c')]) {
        Some(Task::Card(id)) => assert_eq!(id, "0123456789abcdef"),
        other => panic!("{other:?}"),
    }
    app.apply(Outcome::Card(Ok(CardView {
        model: Shown::new("0123456789ab"),
        lines: (0..40)
            .map(|i| crate::view::line(format!("line {i}")))
            .collect(),
    })));
    assert_eq!(app.bindings().as_ptr(), keys::TEXT_DETAIL.as_ptr());
    press(&mut app, &[KeyCode::PageDown, KeyCode::End]);
    assert_eq!(app.models.card.as_ref().map(|(_, s)| *s), Some(39));
    press(&mut app, &[KeyCode::Char('q')]);
    assert!(app.models.card.is_none() && !app.quit);
    assert_eq!(app.models.list.selected, 1, "back on the list where it was");
}

#[test]
fn a_deployment_asked_from_the_models_screen_names_the_holder_from_the_fresh_registry() {
    let mut app = App::new(Some("dana"));
    // The Deploy screen was visited earlier: its view says production holds a model...
    press(&mut app, &[KeyCode::Char('6')]);
    app.apply(Outcome::Slots(Ok(slots_view())));
    // ...but the registry loaded since says churn-logreg holds it now.
    press(&mut app, &[KeyCode::Char('5')]);
    let mut fresh = model("churn-logreg");
    fresh.id = Shown::new("fedcba9876543210");
    fresh.deployed = Some(Shown::new("canary,production"));
    app.apply(Outcome::Models {
        rows: Ok(vec![model("credit-mlp"), fresh]),
        detail: None,
    });
    assert_eq!(app.holder("production"), "model fedcba987654 churn-logreg");
    press(&mut app, &[KeyCode::Char('6')]);
    assert_eq!(
        app.holder("production"),
        "model 0123456789ab credit-mlp",
        "on the Deploy screen, its own view"
    );
}

fn window(slot: &str, features: usize) -> crate::monitor::WindowRow {
    let s = Shown::new;
    crate::monitor::WindowRow {
        model: s("0123456789ab"),
        start: s("2026-12-03T10:00:00Z"),
        slot: s(slot),
        requests: 12,
        refused: 1,
        p99_micros: Some(16),
        features: (0..features)
            .map(|i| crate::monitor::FeatureDrift {
                column: s(&format!("f{i}")),
                measure: s("wasserstein"),
                value: Some(0.05),
                threshold: Some(0.1),
                ratio: Some(0.5),
                verdict: "ok",
            })
            .collect(),
    }
}

#[test]
fn monitor_keys_choose_a_window_open_its_drift_and_go_back() {
    let mut app = App::new(None);
    assert!(matches!(
        app.on_key(key(KeyCode::Char('7'))),
        Some(Task::Monitor { labels: None })
    ));
    assert_eq!(app.screen, Screen::Monitor);
    // Nothing to open before anything is loaded.
    assert!(press(&mut app, &[KeyCode::Enter]).is_none());
    assert_eq!(app.monitor.open, None);
    app.apply(Outcome::Monitor(Ok(crate::monitor::MonitorView {
        alerts: vec![],
        windows: vec![window("production", 3), window("canary", 30)],
        ..Default::default()
    })));
    assert!(std::ptr::eq(app.bindings(), keys::MONITOR_LIST));
    press(&mut app, &[KeyCode::Down, KeyCode::Down]);
    assert_eq!(app.monitor.selected, 1, "stops at the last window");
    press(&mut app, &[KeyCode::Up]);
    assert_eq!(app.monitor.selected, 0);
    press(&mut app, &[KeyCode::End, KeyCode::Enter]);
    assert_eq!((app.monitor.selected, app.monitor.open), (1, Some(0)));
    assert!(std::ptr::eq(app.bindings(), keys::TEXT_DETAIL));
    press(&mut app, &[KeyCode::PageDown, KeyCode::Down]);
    assert_eq!(app.monitor.open, Some(11), "the features scroll");
    assert!(matches!(app.reload(), Task::Monitor { labels: None }));
    press(&mut app, &[KeyCode::Esc]);
    assert_eq!(app.monitor.open, None);
    assert!(!app.quit, "Esc closed the drift, not the console");
    // A reload with fewer windows keeps the selection inside the list.
    app.apply(Outcome::Monitor(Ok(crate::monitor::MonitorView {
        alerts: vec![],
        windows: vec![window("production", 1)],
        ..Default::default()
    })));
    assert_eq!(app.monitor.selected, 0);
}

#[test]
fn media_keys_inspect_verify_and_import_the_selected_bundle_and_long_work_takes_no_keys() {
    let mut app = App::new(Some("omar"));
    assert!(matches!(
        press(&mut app, &[KeyCode::Char('8')]),
        Some(Task::Media)
    ));
    let bundle = |name: &str| crate::media::BundleRow {
        path: std::path::PathBuf::from(format!("/m/{name}")),
        name: Shown::new(name),
        folder: Shown::new("/m"),
        parts: 1,
        bytes: 10,
        problem: None,
    };
    app.apply(Outcome::Media(Ok(crate::media::MediaView {
        bundles: vec![bundle("a.airlock"), bundle("b.airlock")],
        ..Default::default()
    })));
    press(&mut app, &[KeyCode::Down]);
    match press(&mut app, &[KeyCode::Enter]) {
        Some(Task::Inspect { path, then_import }) => {
            assert_eq!(path, std::path::PathBuf::from("/m/b.airlock"));
            assert!(!then_import);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(press(&mut app, &[KeyCode::Char('v')]), Some(Task::VerifyBundle(p)) if p.ends_with("b.airlock"))
    );
    assert!(matches!(
        press(&mut app, &[KeyCode::Char('i')]),
        Some(Task::Inspect {
            then_import: true,
            ..
        })
    ));
    // While long work runs, no key acts but Ctrl-C.
    app.work = Some(crate::work::Working::new("importing"));
    assert!(press(&mut app, &[KeyCode::Char('1'), KeyCode::Enter]).is_none());
    assert_eq!(app.screen, Screen::Media);
    assert_eq!(app.bindings()[0].keys, "Ctrl-C");
    // Its end clears it and shows the result; the screen is loaded again.
    let next = app.hear(crate::work::News::Done(Box::new(Outcome::Done {
        title: "bundle import",
        result: Ok(Shown::new("imported bundle")),
    })));
    assert!(app.work.is_none());
    assert!(matches!(next, Some(Task::Media)));
    assert!(matches!(app.dialog, Some(Dialog::Message { .. })));
}
