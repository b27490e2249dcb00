//! The forms: field order, Cancel after the passphrase, choices, the usage errors.

use super::*;
use ratatui::crossterm::event::KeyModifiers;

fn press(c: &mut Confirm, codes: &[KeyCode]) -> Outcome {
    let mut last = Outcome::Stay;
    for code in codes {
        last = c.on_key(KeyEvent::new(*code, KeyModifiers::NONE));
    }
    last
}

fn typed(c: &mut Confirm, s: &str) {
    for ch in s.chars() {
        assert!(matches!(press(c, &[KeyCode::Char(ch)]), Outcome::Stay));
    }
}

#[test]
fn a_rollback_form_goes_slot_reason_passphrase_cancel_and_submits_only_from_its_button() {
    let mut c = Confirm::new(Intent::Rollback, rollback_fields("production"));
    assert_eq!(c.focus, Focus::Field(0));
    press(&mut c, &[KeyCode::Enter]);
    typed(&mut c, "error rate\u{1b}[2J");
    assert_eq!(
        c.value(label::REASON),
        "error rate[2J",
        "no control character"
    );
    press(&mut c, &[KeyCode::Enter]);
    assert_eq!(c.focus, Focus::Passphrase);
    typed(&mut c, "pass");
    press(&mut c, &[KeyCode::Enter]);
    assert_eq!(
        c.focus,
        Focus::Cancel,
        "Enter after the passphrase lands on Cancel"
    );
    assert!(matches!(press(&mut c, &[KeyCode::Right]), Outcome::Stay));
    assert!(matches!(press(&mut c, &[KeyCode::Enter]), Outcome::Submit));
    match c.submit() {
        Ok(Task::Rollback { slot, reason, .. }) => {
            assert_eq!(
                (slot.as_str(), reason.as_str()),
                ("production", "error rate[2J")
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_promotion_has_only_the_passphrase_and_tab_wraps_round() {
    let mut c = Confirm::new(Intent::Promote, vec![]);
    assert_eq!(c.focus, Focus::Passphrase);
    press(&mut c, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Tab]);
    assert_eq!(c.focus, Focus::Passphrase);
    press(&mut c, &[KeyCode::BackTab]);
    assert_eq!(c.focus, Focus::Confirm);
    assert!(matches!(press(&mut c, &[KeyCode::Esc]), Outcome::Cancel));
}

#[test]
fn left_and_right_change_a_choice_and_the_chosen_model_is_deployed() {
    let row = |id: &str, name: &str| ModelRow {
        id: Shown::new(id),
        id_hex: id.into(),
        name: Shown::new(name),
        site: Shown::new("lab"),
        task: Shown::new("binary"),
        arch: Shown::new("mlp"),
        dataset: Shown::new("credit@1"),
        features: Shown::new("credit-features@1"),
        score_name: Shown::new("roc_auc"),
        score: 0.8,
        gate: Shown::new("passed"),
        approvals: 1,
        deployed: None,
    };
    let models = [row("aaaa", "first"), row("bbbb", "second")];
    let mut c = Confirm::new(Intent::Deploy, deploy_fields(&models, "canary", ""));
    press(&mut c, &[KeyCode::Right]);
    assert_eq!(c.value(label::MODEL), "bbbb");
    press(&mut c, &[KeyCode::Right, KeyCode::Left, KeyCode::Left]);
    assert_eq!(c.value(label::MODEL), "aaaa");
    press(&mut c, &[KeyCode::Right, KeyCode::Tab, KeyCode::Tab]);
    typed(&mut c, "12.5");
    press(&mut c, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Right]);
    assert!(matches!(press(&mut c, &[KeyCode::Enter]), Outcome::Submit));
    match c.submit() {
        Ok(Task::Deploy {
            model,
            slot,
            percent,
            ..
        }) => assert_eq!(
            (model.as_str(), slot.as_str(), percent),
            ("bbbb", "canary", Some(12.5))
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_choice_of_one_model_is_shown_but_never_focused() {
    let one = ModelRow {
        id: Shown::new("aaaa"),
        id_hex: "aaaa".into(),
        name: Shown::new("only"),
        site: Shown::new("lab"),
        task: Shown::new("binary"),
        arch: Shown::new("mlp"),
        dataset: Shown::new("credit@1"),
        features: Shown::new("credit-features@1"),
        score_name: Shown::new("roc_auc"),
        score: 0.8,
        gate: Shown::new("passed"),
        approvals: 1,
        deployed: None,
    };
    let mut c = Confirm::new(Intent::Deploy, deploy_fields(&[one], "production", ""));
    assert_eq!(c.focus, Focus::Field(1), "the slot");
    press(
        &mut c,
        &[KeyCode::BackTab, KeyCode::BackTab, KeyCode::BackTab],
    );
    assert_eq!(c.focus, Focus::Passphrase, "round the end, past the model");
    press(&mut c, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Tab]);
    assert_eq!(c.focus, Focus::Field(1));
}

#[test]
fn the_export_form_needs_items_a_card_and_a_place_and_takes_a_typed_card() {
    let view = MediaView {
        folders: vec![PathBuf::from("/media/ana/STICK")],
        site: Shown::new("lab"),
        newest_model: Some("model:abcd".into()),
        ..MediaView::default()
    };
    let c = Confirm::new(Intent::Export, export_fields(&view)).without_passphrase();
    assert_eq!(c.value(label::WHAT), "model:abcd");
    assert_eq!(c.value(label::TO), "", "no card found: the typed one");
    assert_eq!(c.value(label::FILE), "lab-export.airlock");
    // No card typed: the usage error.
    match Confirm::new(Intent::Export, export_fields(&view)).submit() {
        Err(e) => assert!(e.message.as_str().contains("--to"), "{e:?}"),
        Ok(t) => panic!("{t:?}"),
    }
    // Tab to the card file (past the choice of one option) and type it.
    let mut c = Confirm::new(Intent::Export, export_fields(&view)).without_passphrase();
    press(&mut c, &[KeyCode::Tab]);
    assert_eq!(c.focus, Focus::Field(2), "the card file");
    typed(&mut c, "/media/ana/STICK/plant.card.json");
    press(&mut c, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Tab]);
    typed(&mut c, "fat32");
    assert!(matches!(
        press(&mut c, &[KeyCode::Tab, KeyCode::Right, KeyCode::Enter]),
        Outcome::Submit
    ));
    match c.submit() {
        Ok(Task::Export {
            items,
            card,
            out,
            split,
            pass,
        }) => {
            assert_eq!(items, "model:abcd");
            assert_eq!(card, PathBuf::from("/media/ana/STICK/plant.card.json"));
            assert_eq!(out, PathBuf::from("/media/ana/STICK/lab-export.airlock"));
            assert_eq!(split, "fat32");
            assert!(pass.is_none(), "no passphrase asked");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_training_form_gives_the_settings_or_the_usage_error_for_a_bad_number() {
    let choices = TrainChoices {
        datasets: vec!["lab/credit@1".into()],
        features: vec!["lab/credit-features@1".into()],
    };
    let mut c = Confirm::new(Intent::Train, train_fields(&choices)).without_passphrase();
    assert_eq!(
        c.focus,
        Focus::Field(2),
        "past the choices of one option, to the model"
    );
    press(&mut c, &[KeyCode::Right, KeyCode::Tab, KeyCode::Tab]);
    press(&mut c, &[KeyCode::Backspace, KeyCode::Backspace]);
    typed(&mut c, "5");
    press(&mut c, &[KeyCode::Tab, KeyCode::Tab]);
    typed(&mut c, "mine");
    match c.submit() {
        Ok(Task::Train(s)) => assert_eq!(
            s,
            TrainSettings {
                dataset: "lab/credit@1".into(),
                features: "lab/credit-features@1".into(),
                model: "mlp".into(),
                task: "binary".into(),
                epochs: 5,
                seed: 42,
                name: Some("mine".into()),
            }
        ),
        other => panic!("{other:?}"),
    }
    let mut c = Confirm::new(Intent::Train, train_fields(&choices)).without_passphrase();
    press(&mut c, &[KeyCode::Tab, KeyCode::Tab]);
    typed(&mut c, "x");
    match c.submit() {
        Err(e) => {
            assert_eq!(e.exit_code, exit::USAGE);
            assert!(e.message.as_str().contains("--epochs"), "{e:?}");
        }
        Ok(t) => panic!("{t:?}"),
    }
}

#[test]
fn a_share_that_is_not_a_number_is_the_command_lines_usage_error() {
    let mut c = Confirm::new(Intent::Deploy, deploy_fields(&[], "canary", "ten"));
    typed(&mut c, "");
    match c.submit() {
        Err(e) => {
            assert_eq!(e.exit_code, exit::USAGE);
            assert!(e.message.as_str().contains("--percent"), "{e:?}");
        }
        Ok(t) => panic!("{t:?}"),
    }
}
