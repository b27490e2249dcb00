//! Long work from the console, on a demo world of this test binary's own where lab trained a
//! second model and exported it to plant into a media folder (with both site cards): the
//! Media screen (empty, a bundle listed, its manifest, the library's refusal), an import from
//! the console that leaves the records `airlock bundle import` leaves, an export through the
//! wizard, and the training form and a run started from it. What changes a home works on a
//! copy of the world.
//!
//! The media folder's path (a temporary folder) is replaced on the screen by `MEDIA` and
//! spaces, everything after it kept in its column; its length, which decides where lines
//! wrap, is the same on every run under the same `TMPDIR`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use airlock::node::home::Home;
use airlock_tui::App;
use airlock_tui::app::Dialog;
use common::{THEME, World, airlock, console, copy_world, filtered, key, lines, run, text};
use insta::assert_snapshot;
use ratatui::crossterm::event::{Event, KeyCode};

struct Shipped {
    world: World,
    /// The media folder: the bundle and both site cards.
    media: tempfile::TempDir,
    /// The second model's id.
    model: String,
}

fn shipped() -> &'static Shipped {
    static S: OnceLock<Shipped> = OnceLock::new();
    S.get_or_init(|| {
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
            ],
        ))
        .expect("json");
        let model = trained["id"].as_str().expect("id").to_string();
        airlock(&lab, &["gate", &model, "--require", "roc_auc>=0.5"]);
        let media = tempfile::Builder::new()
            .prefix("media")
            .tempdir()
            .expect("tempdir");
        for card in ["lab.card.json", "plant.card.json"] {
            std::fs::copy(world.root.join("media").join(card), media.path().join(card))
                .expect("copy card");
        }
        let card = media.path().join("plant.card.json");
        let bundle = media.path().join("second.airlock");
        airlock(
            &lab,
            &[
                "bundle",
                "export",
                "--to",
                &card.display().to_string(),
                "--out",
                &bundle.display().to_string(),
                &format!("model:{model}"),
            ],
        );
        Shipped {
            world,
            media,
            model,
        }
    })
}

/// `screen` with the media folder's path written `MEDIA`, each line's right border kept in
/// its column.
fn masked(screen: &str) -> String {
    let path = shipped().media.path().display().to_string();
    screen
        .lines()
        .map(|l| {
            if !l.contains(&path) {
                return l.to_string();
            }
            // As long as the path, so that what follows it stays in its column.
            let mask = format!("{:<1$}", "MEDIA", path.chars().count());
            l.replace(&path, &mask)
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `screen` with every number of 3 or more digits (a size: a run record holds the worker's
/// rows per second, so the bundle's sizes differ by a few bytes from run to run) written `#`,
/// and the spaces that aligned it collapsed, on the lines that hold one.
fn sizes_masked(screen: &str) -> String {
    let mut out = String::new();
    for line in screen.lines() {
        let c: Vec<char> = line.chars().collect();
        let mut l = String::new();
        let mut i = 0;
        let mut changed = false;
        while i < c.len() {
            let n = c[i..]
                .iter()
                .take_while(|ch| ch.is_ascii_digit() || **ch == '.')
                .count();
            let digits = c[i..i + n].iter().filter(|ch| ch.is_ascii_digit()).count();
            if digits >= 3 && c[i].is_ascii_digit() {
                l.push('#');
                changed = true;
                i += n;
            } else {
                l.push(c[i]);
                i += 1;
            }
        }
        if changed {
            while l.contains("  ") {
                l = l.replace("  ", " ");
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// The console on `home` (with the media folder unless `mounted`) after `keys`, as text.
fn screen_of(
    home: &Path,
    operator: Option<&str>,
    keys: Vec<Event>,
    mounted: bool,
) -> (String, App) {
    let mut app = App::new(operator);
    let mut c = console(home, operator);
    if !mounted {
        c = c.with_media(shipped().media.path());
    }
    let buf = run(&c, &mut app, keys, 80, 24, &THEME);
    assert!(!app.quit, "the keys left the console");
    (sizes_masked(&filtered(&masked(&lines(&buf)))), app)
}

fn plant() -> PathBuf {
    shipped().world.plant()
}

#[test]
fn media_empty_when_no_media_is_mounted() {
    // The sealed system root has no /media, /run/media or /mnt.
    let (s, _) = screen_of(&plant(), Some("omar"), vec![key(KeyCode::Char('8'))], true);
    assert!(s.contains("no media mounted"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn media_lists_the_bundle_on_the_media() {
    let (s, app) = screen_of(&plant(), Some("omar"), vec![key(KeyCode::Char('8'))], false);
    assert_eq!(app.media.view.bundles.len(), 1, "one bundle");
    assert_eq!(app.media.view.cards.len(), 2, "two site cards");
    assert!(s.contains("second.airlock"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn media_inspect_shows_the_manifest() {
    let keys = vec![key(KeyCode::Char('8')), key(KeyCode::Enter)];
    let (s, app) = screen_of(&plant(), Some("omar"), keys, false);
    let (d, _) = app.media.open.as_ref().expect("the manifest");
    assert_eq!(d.origin.as_str(), "lab");
    assert_eq!(d.recipient.as_str(), "plant");
    assert!(!d.replayed && !d.expired, "{d:?}");
    assert!(
        d.objects
            .iter()
            .any(|o| o.id.as_str() == shipped().model && o.kind.as_str() == "run"),
        "the model's run record: {d:?}"
    );
    assert!(s.contains("Sequence  2 (new)"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn media_inspect_at_the_wrong_site_shows_the_librarys_refusal() {
    // The bundle is encrypted to plant: lab cannot read its manifest.
    let keys = vec![key(KeyCode::Char('8')), key(KeyCode::Enter)];
    let (s, app) = screen_of(&shipped().world.lab(), Some("dana"), keys, false);
    match &app.dialog {
        Some(Dialog::Error { error, .. }) => {
            assert_eq!(error.exit_code, airlock::error::exit::REFUSED, "{error:?}");
            assert!(
                error
                    .message
                    .as_str()
                    .contains("not encrypted to this site"),
                "{error:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_snapshot!(s);
}

#[test]
fn verify_checks_every_part_and_object_and_says_what_the_command_says() {
    let keys = vec![key(KeyCode::Char('8')), key(KeyCode::Char('v'))];
    let before = log(&plant()).len();
    let (screen, app) = screen_of(&plant(), Some("omar"), keys, false);
    let said = match &app.dialog {
        Some(Dialog::Message { title, text }) => {
            assert_eq!(*title, "bundle verify");
            text.as_str().to_string()
        }
        other => panic!("{other:?}\n{screen}"),
    };
    let command = airlock(
        &plant(),
        &[
            "bundle",
            "verify",
            &shipped()
                .media
                .path()
                .join("second.airlock")
                .display()
                .to_string(),
        ],
    );
    assert_eq!(said, command.trim_end(), "the command's line");
    assert!(said.contains("it would be accepted"), "{said}");
    assert_eq!(log(&plant()).len(), before, "nothing written");
}

#[test]
fn import_confirmation_says_what_will_be_imported() {
    let keys = vec![key(KeyCode::Char('8')), key(KeyCode::Char('i'))];
    let (s, app) = screen_of(&plant(), Some("omar"), keys, false);
    match &app.dialog {
        Some(Dialog::Confirm(c)) => {
            assert_eq!(c.focus, airlock_tui::form::Focus::Field(0), "Allow stale");
            assert!(!c.asks_pass, "an import signs nothing of the operator's");
        }
        other => panic!("{other:?}"),
    }
    assert!(s.contains("Import bundle"), "{s}");
    assert!(s.contains("from site lab (sequence 2,"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn training_progress_is_drawn_epoch_by_epoch() {
    use airlock_tui::work::{News, Progress, Unit, Working};
    let mut app = App::new(Some("dana"));
    app.screen = airlock_tui::app::Screen::Training;
    let mut w = Working::new("training in the sandboxed worker");
    for e in 1..=4u64 {
        w.hear(&News::Progress(Progress {
            done: e,
            total: 10,
            unit: Unit::Epochs,
            line: Some(format!(
                "epoch {e} loss {:.4} val {:.4} 1000 rows/s",
                0.7 - 0.05 * e as f64,
                0.6 + 0.02 * e as f64
            )),
        }));
    }
    app.work = Some(w);
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).expect("terminal");
    terminal
        .draw(|f| airlock_tui::ui::draw(f, &app, &THEME))
        .expect("draw");
    let s = lines(terminal.backend().buffer());
    assert!(s.contains("epoch 4 of at most 10"), "{s}");
    assert!(s.contains(" 40%"), "{s}");
    assert!(s.contains("epoch 1 loss 0.6500"), "{s}");
    assert!(s.contains("Ctrl-C leave"), "the only key: {s}");
    assert_snapshot!(s);
}

#[test]
fn a_split_bundle_is_listed_once_by_its_first_part_and_inspected_whole() {
    let s = shipped();
    let copy = tempfile::tempdir().expect("tempdir");
    copy_world(&s.world.root, &copy.path().join("w"));
    let split = tempfile::tempdir().expect("media");
    let card = s.media.path().join("plant.card.json");
    airlock(
        &copy.path().join("w/lab"),
        &[
            "bundle",
            "export",
            "--to",
            &card.display().to_string(),
            "--out",
            &split.path().join("cut.airlock").display().to_string(),
            "--split",
            "64K",
            &format!("model:{}", s.model),
        ],
    );
    let parts = std::fs::read_dir(split.path()).expect("read_dir").count();
    assert!(parts > 1, "cut into {parts} parts");
    let mut app = App::new(None);
    let c = console(&copy.path().join("w/plant"), None).with_media(split.path());
    run(
        &c,
        &mut app,
        vec![key(KeyCode::Char('8')), key(KeyCode::Enter)],
        80,
        24,
        &THEME,
    );
    let rows = &app.media.view.bundles;
    assert_eq!(rows.len(), 1, "one bundle: {rows:?}");
    assert_eq!(rows[0].name.as_str(), "cut.airlock.001");
    assert_eq!(rows[0].parts, parts);
    let (d, _) = app.media.open.as_ref().expect("inspected");
    assert_eq!(d.files.len(), parts, "every part found: {d:?}");
}

fn log(home: &Path) -> Vec<airlock::store::audit::Record> {
    Home::open_read_only(home)
        .expect("open")
        .audit_log()
        .expect("log")
}

#[test]
fn import_from_the_console_leaves_the_records_the_command_leaves() {
    let s = shipped();
    let copies = tempfile::tempdir().expect("tempdir");
    let (by_console, by_command) = (copies.path().join("console"), copies.path().join("command"));
    copy_world(&s.world.root, &by_console);
    copy_world(&s.world.root, &by_command);
    let before = log(&by_console.join("plant")).len();
    let bundle = s.media.path().join("second.airlock");

    // i: the manifest is checked, then the confirmation (Allow stale: no); Enter lands on
    // Cancel, → to Import, Enter.
    let keys = vec![
        key(KeyCode::Char('8')),
        key(KeyCode::Char('i')),
        key(KeyCode::Enter),
        key(KeyCode::Right),
        key(KeyCode::Enter),
    ];
    let (screen, app) = screen_of(&by_console.join("plant"), Some("omar"), keys, false);
    match &app.dialog {
        Some(Dialog::Message { text, .. }) => {
            assert!(text.as_str().contains("imported bundle"), "{text:?}");
            assert!(
                text.as_str().contains(&format!("model {}", s.model)),
                "{text:?}"
            );
        }
        other => panic!("{other:?}\n{screen}"),
    }
    assert!(app.work.is_none(), "the work is over");
    let (manifest, _) = app.media.open.as_ref().expect("the manifest stays open");
    assert!(
        manifest.replayed,
        "read again after the import: its sequence is no longer new: {manifest:?}"
    );
    let out = airlock(
        &by_command.join("plant"),
        &["bundle", "import", &bundle.display().to_string()],
    );
    assert!(out.contains("imported bundle"), "{out}");

    let records = |home: &Path| -> Vec<serde_json::Value> {
        log(home)[before..]
            .iter()
            .map(|r| {
                serde_json::json!({
                    "action": r.action, "actor": r.actor, "subjects": r.subjects,
                    "details": r.details,
                })
            })
            .collect()
    };
    let (from_console, from_command) = (
        records(&by_console.join("plant")),
        records(&by_command.join("plant")),
    );
    assert!(
        from_console.iter().any(|r| r["action"] == "bundle.import"),
        "{from_console:#?}"
    );
    assert_eq!(from_console, from_command);
}

#[test]
fn the_same_bundle_imported_twice_is_refused_and_the_refusal_recorded() {
    let s = shipped();
    let copy = tempfile::tempdir().expect("tempdir");
    copy_world(&s.world.root, &copy.path().join("w"));
    let plant = copy.path().join("w/plant");
    airlock(
        &plant,
        &[
            "bundle",
            "import",
            &s.media.path().join("second.airlock").display().to_string(),
        ],
    );
    let before = log(&plant).len();
    let keys = vec![
        key(KeyCode::Char('8')),
        key(KeyCode::Char('i')),
        key(KeyCode::Enter),
        key(KeyCode::Right),
        key(KeyCode::Enter),
    ];
    // The manifest says so before anything is asked; importing anyway is the library's
    // refusal, recorded.
    let (_, app) = screen_of(&plant, Some("omar"), keys, false);
    match &app.dialog {
        Some(Dialog::Error { error, .. }) => {
            assert_eq!(error.exit_code, airlock::error::exit::REFUSED, "{error:?}");
            assert!(error.message.as_str().contains("not newer"), "{error:?}");
        }
        other => panic!("{other:?}"),
    }
    let after = log(&plant);
    assert_eq!(after.len(), before + 1);
    assert_eq!(after[before].action, "bundle.import_refused");
}

#[test]
fn the_export_wizard_writes_a_bundle_plant_can_import() {
    let s = shipped();
    let copy = tempfile::tempdir().expect("tempdir");
    copy_world(&s.world.root, &copy.path().join("w"));
    let lab = copy.path().join("w/lab");
    let out = tempfile::tempdir().expect("out");
    let folder = s.media.path().display().to_string();
    // What: the newest model (filled in); To: → from lab's card to plant's; Folder: the
    // media folder cleared and another typed; File and Split as they are.
    let mut keys = vec![
        key(KeyCode::Char('8')),
        key(KeyCode::Char('e')),
        key(KeyCode::Tab),
        key(KeyCode::Right),
        key(KeyCode::Tab),
        key(KeyCode::Tab),
    ];
    keys.extend(std::iter::repeat_n(
        key(KeyCode::Backspace),
        folder.chars().count(),
    ));
    keys.extend(text(&out.path().display().to_string()));
    keys.extend([
        key(KeyCode::Tab),
        key(KeyCode::Tab),
        key(KeyCode::Tab),
        key(KeyCode::Right),
        key(KeyCode::Enter),
    ]);
    let before = log(&lab).len();
    // Lab is in setup mode: an export needs no operator, and a console without one asks
    // for no passphrase.
    let (screen, app) = screen_of(&lab, None, keys, false);
    match &app.dialog {
        Some(Dialog::Message { text, .. }) => {
            assert!(text.as_str().contains("for site plant"), "{text:?}")
        }
        other => panic!("{other:?}\n{screen}"),
    }
    let written = out.path().join("lab-export.airlock");
    assert!(written.is_file());
    let after = log(&lab);
    assert_eq!(after.len(), before + 1);
    assert_eq!(after[before].action, "bundle.export");
    // The bundle is plant's to import.
    let plant = copy.path().join("w/plant");
    let imported = airlock(
        &plant,
        &["bundle", "import", &written.display().to_string()],
    );
    assert!(
        imported.contains(&format!("model {}", s.model)),
        "{imported}"
    );
}

#[test]
fn training_form() {
    let keys = vec![key(KeyCode::Char('4')), key(KeyCode::Char('n'))];
    let (s, app) = screen_of(&shipped().world.lab(), Some("dana"), keys, false);
    assert!(matches!(app.dialog, Some(Dialog::Confirm(_))), "{s}");
    assert!(s.contains("Train a model?"), "{s}");
    assert_snapshot!(s);
}

#[test]
fn a_training_run_started_from_the_console_completes_and_registers_a_model() {
    let s = shipped();
    let copy = tempfile::tempdir().expect("tempdir");
    copy_world(&s.world.root, &copy.path().join("w"));
    let lab = copy.path().join("w/lab");
    let before = log(&lab).len();
    // One dataset and one feature set: shown, not focused. Model (logreg), Task (binary),
    // Epochs 3, Seed as it is, Name; then Cancel, → Train.
    let mut keys = vec![
        key(KeyCode::Char('4')),
        key(KeyCode::Char('n')),
        key(KeyCode::Tab),
        key(KeyCode::Tab),
        key(KeyCode::Backspace),
        key(KeyCode::Backspace),
    ];
    keys.extend(text("3"));
    keys.extend([key(KeyCode::Tab), key(KeyCode::Tab)]);
    keys.extend(text("from-the-console"));
    keys.extend([key(KeyCode::Tab), key(KeyCode::Right), key(KeyCode::Enter)]);
    let (screen, app) = screen_of(&lab, Some("dana"), keys, false);
    let said = match &app.dialog {
        Some(Dialog::Message { text, .. }) => text.as_str().to_string(),
        other => panic!("{other:?}\n{screen}"),
    };
    assert!(said.contains("3 epochs"), "{said}");
    assert!(said.contains("trained binary model"), "{said}");
    let models = {
        let home = Home::open_read_only(&lab).expect("open");
        airlock::ops::train::list(&home).expect("models")
    };
    let made = models
        .iter()
        .find(|m| m.name == "from-the-console")
        .expect("the model is registered");
    assert!(said.contains(&format!("model id {}", made.id)), "{said}");
    let after = log(&lab);
    let trained: Vec<_> = after[before..]
        .iter()
        .filter(|r| r.action == "model.train")
        .collect();
    assert_eq!(trained.len(), 1, "one training record");
    assert_eq!(trained[0].details["model"], "from-the-console");
    assert_eq!(trained[0].details["seed"], 42);
    // The Training screen lists it (reloaded after the run).
    assert!(
        app.training
            .rows
            .iter()
            .any(|r| r.name.as_str() == "from-the-console"),
        "{screen}"
    );
}
