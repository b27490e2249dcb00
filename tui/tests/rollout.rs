//! The Deploy screen on a world with a rollout under way: at lab, a second model (trained
//! with held-out metrics per slice of `housing`) was in production, the demo's model replaced
//! it, and the second is now the canary for 10% of requests. The same world has a refused
//! ingest and a second contract version, for the Data screen, and the demo's model has a
//! gate report that needs a named review, for the Models screen. Snapshots of the screen and of each confirmation (what it says will happen),
//! and a promotion made from the console on a copy of that world.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use airlock_tui::App;
use common::{THEME, World, airlock, console, copy_world, filtered, key, lines, run, text};
use insta::assert_snapshot;
use ratatui::crossterm::event::{Event, KeyCode};

struct Rollout {
    world: World,
    /// The demo's model's id (its newest gate report needs review).
    first: String,
    /// The second model's id.
    second: String,
}

/// The world, made once for this test binary.
fn rollout() -> &'static Rollout {
    static R: OnceLock<Rollout> = OnceLock::new();
    R.get_or_init(|| {
        let world = common::make_world();
        let lab = world.lab();
        let trained: serde_json::Value = serde_json::from_str(&airlock(
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
                "--slice-by",
                "housing",
            ],
        ))
        .expect("json");
        let second = trained["id"].as_str().expect("id").to_string();
        let first = first_model(&lab, &second);
        airlock(&lab, &["gate", &second, "--require", "roc_auc>=0.5"]);
        let pass = world.root.join("media/dana.pass").display().to_string();
        let dana = ["--operator", "dana", "--passphrase-file", pass.as_str()];
        let with_dana = |args: &[&str]| {
            let mut a = args.to_vec();
            a.extend(dana);
            airlock(&lab, &a);
        };
        with_dana(&["approve", &second, "--note", "logreg baseline"]);
        with_dana(&["deploy", &second]);
        with_dana(&["deploy", &first]);
        with_dana(&["deploy", &second, "--slot", "canary", "--percent", "10"]);
        // A file from branch 12 breaks the contract: refused, and the refusal recorded.
        let media = world.root.join("media");
        let bad = media.join("branch-12.csv");
        std::fs::write(
            &bad,
            "applicant_id,age,income,loan_amount,term_months,employment,housing,purpose,prior_defaults,sex,default\n\
             b12-1,5,1000,500,12,employed,own,car,0,female,0\n\
             b12-2,40,NA,200000,12,employed,own,car,0,male,1\n",
        )
        .expect("write");
        let out = std::process::Command::new(common::program("airlock"))
            .arg("--home")
            .arg(&lab)
            .args(["data", "ingest", &bad.display().to_string(), "--dataset", "credit"])
            .args(["--contract", "credit"])
            .output()
            .expect("run airlock");
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
        // A second version of the contract: ages up to 110.
        let v1 = std::fs::read_to_string(media.join("credit.contract.toml")).expect("read");
        let v2 = v1
            .replacen("version = 1", "version = 2", 1)
            .replacen("min = 18\nmax = 100", "min = 18\nmax = 110", 1);
        assert_ne!(v1, v2);
        let v2_file = media.join("credit-v2.contract.toml");
        std::fs::write(&v2_file, v2).expect("write");
        airlock(&lab, &["contract", "apply", &v2_file.display().to_string()]);
        // The demo's model gated again under a policy whose fairness figure lands in its
        // review band: a report that needs a named review.
        airlock(&lab, &["evaluate", &first, "--dataset", "credit@1"]);
        let policy = media.join("gate.toml");
        std::fs::write(
            &policy,
            "[evaluation]\ndataset = \"credit@1\"\n\n[metrics]\nroc_auc = \">= 0.70\"\n\n\
             [[fairness]]\nattribute = \"sex\"\ndisparate_impact_ratio = \">= 0.80\"\n\
             review_band = 0.5\n",
        )
        .expect("write");
        airlock(&lab, &["gate", &first, "--policy", &policy.display().to_string()]);
        Rollout {
            world,
            first,
            second,
        }
    })
}

/// The demo's model at `lab`: the one that is not `second`.
fn first_model(lab: &Path, second: &str) -> String {
    let list: serde_json::Value =
        serde_json::from_str(&airlock(lab, &["--json", "models", "list"])).expect("json");
    list.as_array()
        .expect("list")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .find(|id| id != second)
        .expect("the demo's model")
}

fn screen(home: &Path, keys: Vec<Event>) -> String {
    let mut app = App::new(Some("dana"));
    let buf = run(&console(home, Some("dana")), &mut app, keys, 80, 24, &THEME);
    assert!(!app.quit);
    filtered(&lines(&buf))
}

fn lab() -> PathBuf {
    rollout().world.lab()
}

fn deploy_screen(more: &[Event]) -> Vec<Event> {
    let mut keys = vec![key(KeyCode::Char('6'))];
    keys.extend_from_slice(more);
    keys
}

#[test]
fn deploy_screen_production_replacing_a_model_beside_a_canary() {
    let s = screen(&lab(), deploy_screen(&[]));
    assert!(s.contains("10%"), "{s}");
    assert!(s.contains("b roll back: it goes back from model"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn deploy_screen_the_canary_selected() {
    let s = screen(&lab(), deploy_screen(&[key(KeyCode::Down)]));
    assert!(s.contains("leaves it and the slot is"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn promote_confirmation_says_which_model_replaces_which() {
    let s = screen(&lab(), deploy_screen(&[key(KeyCode::Char('p'))]));
    assert!(s.contains("Promote the canary?"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn rollback_confirmation_names_the_model_production_goes_back_to() {
    let mut keys = deploy_screen(&[key(KeyCode::Char('b')), key(KeyCode::Enter)]);
    keys.extend(text("complaints from branch 12"));
    let s = screen(&lab(), keys);
    assert!(s.contains("it goes back from model"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn rollback_to_confirmation_names_the_slot_the_current_model_and_the_chosen_one() {
    // Production held the second model before the demo's: the only one to go back to, so
    // the choice is shown and the keyboard starts in the reason.
    let mut keys = deploy_screen(&[key(KeyCode::Char('t'))]);
    keys.extend(text("back to the mlp"));
    let mut app = App::new(Some("dana"));
    let buf = run(
        &console(&lab(), Some("dana")),
        &mut app,
        keys,
        80,
        24,
        &THEME,
    );
    let unfiltered = lines(&buf);
    let r = rollout();
    let (first, second) = (&r.first[..12], &r.second[..12]);
    assert!(
        unfiltered.contains(&format!("from model {first}"))
            && unfiltered.contains(&format!("{second} credit-logreg, which it held before")),
        "{unfiltered}"
    );
    assert!(
        unfiltered.contains(&format!("To          [{second} credit-logreg")),
        "{unfiltered}"
    );
    let s = filtered(&unfiltered);
    assert!(s.contains("Roll back slot \"production\"?"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn deploy_form_on_the_empty_shadow_slot_takes_a_share() {
    // The form offers the models in registry order (both are deployed): → to the second.
    let rows = airlock_tui::load::models(
        &airlock::node::home::Home::open_read_only(&lab()).expect("open"),
    )
    .expect("models");
    let at = rows
        .iter()
        .position(|m| m.id_hex == rollout().second)
        .expect("listed");
    let mut keys = deploy_screen(&[
        key(KeyCode::Down),
        key(KeyCode::Down),
        key(KeyCode::Char('d')),
    ]);
    keys.extend(std::iter::repeat_n(key(KeyCode::Right), at));
    keys.extend([key(KeyCode::Tab), key(KeyCode::Tab)]);
    keys.extend(text("25"));
    let s = screen(&lab(), keys);
    assert!(s.contains("to slot \"shadow\" for 25% of requests"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn overview_lists_production_and_the_canary() {
    let s = screen(&lab(), vec![]);
    assert!(s.contains("production") && s.contains("canary"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn a_promotion_from_the_console_empties_the_canary_and_says_what_the_command_says() {
    let r = rollout();
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("w");
    copy_world(&r.world.root, &copy);
    let home = copy.join("lab");
    let mut keys = deploy_screen(&[key(KeyCode::Char('p'))]);
    keys.extend(text(&r.world.passphrase("dana")));
    keys.extend([
        key(KeyCode::Enter),
        key(KeyCode::Right),
        key(KeyCode::Enter),
    ]);
    let s = screen(&home, keys);
    // Ids are filtered out of the screen text: the second model replaced the first.
    assert!(
        s.contains("model ############ promoted to production (replacing ############)"),
        "{s}"
    );
    assert_snapshot!(s);
    // The screen was loaded again: the canary is empty, production holds the second model.
    let after = screen(&home, deploy_screen(&[]));
    assert!(after.contains("canary      -"), "{after}");
}

#[test]
fn training_run_with_metrics_per_slice() {
    // The second model's run, picked out by a filter on its id.
    let mut keys = vec![key(KeyCode::Char('4')), key(KeyCode::Char('/'))];
    keys.extend(text(&rollout().second[..16]));
    keys.extend([key(KeyCode::Enter), key(KeyCode::Enter)]);
    let s = screen(&lab(), keys);
    assert!(s.contains("per slice of housing: 3"), "{s}");
    assert!(s.contains("mortgage") && s.contains("rent"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn data_screen_lists_a_refused_ingest_and_two_contract_versions() {
    let s = screen(&lab(), vec![key(KeyCode::Char('2'))]);
    assert!(s.contains("branch-12.csv"), "{s}");
    assert!(s.contains("2 violations"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn contract_diff_against_the_version_before() {
    let keys = vec![
        key(KeyCode::Char('2')),
        key(KeyCode::Tab),
        key(KeyCode::Down),
        key(KeyCode::Enter),
    ];
    let s = screen(&lab(), keys);
    assert!(s.contains("against lab/credit@1"), "{s}");
    assert!(s.contains("max 100.0 -> 110.0"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn contract_diff_of_the_first_version_has_nothing_to_compare() {
    let keys = vec![
        key(KeyCode::Char('2')),
        key(KeyCode::Tab),
        key(KeyCode::Enter),
    ];
    let s = screen(&lab(), keys);
    assert!(s.contains("nothing to compare"), "{s}");
}

#[test]
fn a_refused_ingest_opens_as_its_audit_record() {
    let keys = vec![
        key(KeyCode::Char('2')),
        key(KeyCode::Tab),
        key(KeyCode::Tab),
        key(KeyCode::Enter),
    ];
    let s = screen(&lab(), keys);
    assert!(
        s.contains("data.refused") && s.contains("\"violations\""),
        "{s}"
    );
    assert_snapshot!(s);
}

/// Keys that open the Models screen on `model` alone (a filter on its id).
fn on_model(model: &str) -> Vec<Event> {
    let mut keys = vec![key(KeyCode::Char('5')), key(KeyCode::Char('/'))];
    keys.extend(text(&model[..16]));
    keys.push(key(KeyCode::Enter));
    keys
}

#[test]
fn models_detail_lists_gate_reports_with_their_verdicts_check_by_check() {
    let mut keys = on_model(&rollout().first);
    keys.extend([key(KeyCode::Enter), key(KeyCode::Down)]);
    keys.extend(std::iter::repeat_n(key(KeyCode::Down), 8));
    let s = screen(&lab(), keys);
    assert!(s.contains("site lab  needs review"), "{s}");
    assert!(s.contains("2 checks, gate policy"), "{s}");
    assert!(
        s.contains("fairness sex") && s.contains("disparate_impact_ratio >= 0.8"),
        "{s}"
    );
    assert_snapshot!(s);
}

#[test]
fn the_model_card_is_the_librarys_scrollable_and_escaped() {
    let r = rollout();
    let mut keys = on_model(&r.first);
    keys.push(key(KeyCode::Char('c')));
    let s = screen(&lab(), keys);
    assert!(s.contains("Model card of"), "{s}");
    assert_snapshot!(s);
    // The whole card, as the console holds it: every line fits, nothing unsafe is drawn,
    // and the report that needs review is there.
    let home = airlock::node::home::Home::open_read_only(&lab()).expect("open");
    let id: airlock::digest::Digest = r.first.parse().expect("id");
    let card = airlock_tui::report::card(&home, &id).expect("card");
    // The home's lock is held while it is open: let the console have it.
    drop(home);
    let text: Vec<&str> = card.lines.iter().map(|l| l.text.as_str()).collect();
    let words: Vec<&str> = text.iter().flat_map(|l| l.split_whitespace()).collect();
    assert!(words.join(" ").contains("**needs review**"), "{text:#?}");
    let bad: Vec<&&str> = text
        .iter()
        .filter(|l| {
            l.chars().count() > airlock_tui::view::TEXT_WIDTH
                || l.chars().any(airlock::text::is_unsafe)
        })
        .collect();
    assert!(bad.is_empty(), "too wide or unsafe: {bad:#?}");
    // Scrolled to its end, the view says where it is.
    let mut keys = on_model(&r.first);
    keys.extend([key(KeyCode::Char('c')), key(KeyCode::End)]);
    let s = screen(&lab(), keys);
    assert!(
        s.contains(&format!(
            "line {} of {}",
            card.lines.len(),
            card.lines.len()
        )),
        "{s}"
    );
}
