//! The real console on a real pseudo-terminal: `airlock tui` (which starts `airlock-tui`)
//! under tmux, driven by `send-keys` and read back with `capture-pane`, on the demo world.
//! Skipped, with a line saying so, where tmux is not installed (`.ci/run` installs it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use airlock::node::home::Home;
use common::{airlock, make_world, program};

/// A tmux server of this test's own (its socket in a temporary folder), holding one 80×24
/// session; killed when dropped.
struct Tmux {
    socket: PathBuf,
}

const SESSION: &str = "console";

impl Tmux {
    /// Whether tmux can be run here.
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Starts `command` (a shell command line) in a new 80×24 session.
    fn start(dir: &Path, command: &str) -> Tmux {
        let t = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let out = t.tmux(&[
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            SESSION,
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            // No user configuration: the same tmux on every machine.
            .args(["-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Types `text` as it is.
    fn type_text(&self, text: &str) {
        assert!(
            self.tmux(&["send-keys", "-t", SESSION, "-l", text])
                .status
                .success()
        );
    }

    /// Presses named keys (`Enter`, `Tab`, `Right`, `q`).
    fn press(&self, keys: &[&str]) {
        for k in keys {
            assert!(self.tmux(&["send-keys", "-t", SESSION, k]).status.success());
        }
    }

    /// The screen as text.
    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", SESSION]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen contains `needle` (a debug build verifying a lineage takes a
    /// moment); returns the screen.
    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "waited 60 s for {needle:?}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn skip_without_tmux() -> bool {
    if Tmux::available() {
        return false;
    }
    println!(
        "skipped: tmux is not installed (apt-get install tmux; .ci/run installs it), so the \
         console cannot be run on a pseudo-terminal here"
    );
    true
}

fn quoted(p: &Path) -> String {
    let s = p.display().to_string();
    assert!(!s.contains('\''), "{s}");
    format!("'{s}'")
}

fn key_id(home: &Path, name: &str) -> String {
    let home = Home::open_read_only(home).expect("open");
    airlock::trust::operator::list(&home)
        .expect("operators")
        .into_iter()
        .find(|o| o.name == name)
        .expect("operator")
        .key_id
}

/// A second model from lab, trained, gated and exported to plant in a bundle (the demo's
/// own model is already imported, approved by omar and deployed there, so approving it again
/// would be refused, rightly); returns its id and the bundle.
fn lab_ships_a_second_model(w: &common::World) -> (String, PathBuf) {
    let lab = w.lab();
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
    let id = trained["id"].as_str().expect("id").to_string();
    airlock(&lab, &["gate", &id, "--require", "roc_auc>=0.5"]);
    let bundle = w.root.join("media").join("second.airlock");
    let card = w.root.join("media").join("plant.card.json");
    airlock(
        &lab,
        &[
            "bundle",
            "export",
            "--to",
            &card.display().to_string(),
            "--out",
            &bundle.display().to_string(),
            &format!("model:{id}"),
        ],
    );
    (id, bundle)
}

#[test]
fn omar_approves_and_deploys_an_imported_model_from_the_console_on_a_terminal() {
    if skip_without_tmux() {
        return;
    }
    let w = make_world();
    let plant = w.plant();
    let (model, bundle) = lab_ships_a_second_model(&w);
    let held = airlock(&plant, &["--json", "models", "list"]);
    assert!(!held.contains(&model), "not imported yet");
    let before = Home::open_read_only(&plant)
        .expect("open")
        .audit_log()
        .expect("log")
        .len();
    let pass = w.passphrase("omar");

    let tmux = Tmux::start(
        &w.root,
        &format!(
            "{} --home {} tui --operator omar --media {}; echo console exited $?; sleep 600",
            quoted(&program("airlock")),
            quoted(&plant),
            quoted(bundle.parent().expect("the media folder"))
        ),
    );
    let s = tmux.wait_for("Operator     omar");
    assert!(
        s.contains("Overview") && s.contains("trust policy v1"),
        "{s}"
    );

    // The Media screen: the demo's bundle and the second one; import the second (its
    // manifest is read, the confirmation says what it carries, Enter lands on Cancel, →
    // Import), off the drawing thread, then the command's lines.
    tmux.press(&["8"]);
    tmux.wait_for("second.airlock");
    tmux.press(&["Down"]);
    tmux.wait_for(">second.airlock");
    tmux.press(&["i"]);
    let s = tmux.wait_for("Cancel is the default");
    assert!(
        s.contains("Import bundle") && s.contains("from site lab"),
        "{s}"
    );
    tmux.press(&["Enter", "Right", "Enter"]);
    let s = tmux.wait_for("imported bundle");
    assert!(s.contains(&format!("model {}", &model[..12])), "{s}");
    tmux.press(&["Enter"]);

    // The Models screen, the imported model picked out by a filter on its id.
    tmux.press(&["5"]);
    tmux.wait_for("Models: 2");
    tmux.press(&["/"]);
    tmux.type_text(&model[..12]);
    tmux.press(&["Enter"]);
    tmux.wait_for("Models: 1 of 2");

    // Approve: the note, the passphrase (never drawn), Enter lands on Cancel, → Approve.
    tmux.press(&["a"]);
    tmux.wait_for("Cancel is the default");
    tmux.type_text("reviewed on the console");
    tmux.press(&["Enter", "Enter"]);
    tmux.type_text(&pass);
    let s = tmux.wait_for("(typed; not shown)");
    assert!(!s.contains(&pass), "the passphrase is never drawn:\n{s}");
    tmux.press(&["Enter", "Right", "Enter"]);
    let s = tmux.wait_for("approved by omar");
    assert!(s.contains(&format!("model {}", &model[..12])), "{s}");
    tmux.press(&["Enter"]);

    // Deploy to production (the slot field's default).
    tmux.press(&["d"]);
    let s = tmux.wait_for("Cancel is the default");
    assert!(s.contains("to slot \"production\""), "{s}");
    tmux.press(&["Enter", "Enter"]);
    tmux.type_text(&pass);
    tmux.press(&["Enter", "Right", "Enter"]);
    let s = tmux.wait_for("deployed to production");
    assert!(
        s.contains("(replacing"),
        "the demo's model was in production:\n{s}"
    );
    assert!(!s.contains(&pass), "{s}");
    tmux.press(&["Enter", "q"]);
    tmux.wait_for("console exited 0");

    // The audit log: both records, signed for omar's key.
    let log = Home::open_read_only(&plant)
        .expect("open")
        .audit_log()
        .expect("log");
    let new: Vec<_> = log[before..].iter().collect();
    assert!(
        new.iter().any(|r| r.action == "bundle.import"),
        "the import from the Media screen: {new:?}"
    );
    let omar = key_id(&plant, "omar");
    let approve = new
        .iter()
        .find(|r| r.action == "model.approve")
        .expect("an approval record");
    assert_eq!(approve.actor, omar);
    assert!(approve.subjects.contains(&model), "{approve:?}");
    assert_eq!(approve.details["approver"], "omar");
    let deploy = new
        .iter()
        .find(|r| r.action == "model.deploy")
        .expect("a deployment record");
    assert_eq!(deploy.actor, omar);
    assert_eq!(deploy.details["model"], model.as_str());
    assert_eq!(deploy.details["slot"], "production");
    assert_eq!(deploy.details["operator"], "omar");
}

#[test]
fn a_home_locked_by_another_command_is_waited_for_on_the_screen_not_on_stderr() {
    if skip_without_tmux() {
        return;
    }
    let w = make_world();
    let plant = w.plant();
    let tmux = Tmux::start(
        &w.root,
        &format!(
            "{} --home {}; echo console exited $?; sleep 600",
            quoted(&program("airlock-tui")),
            quoted(&plant)
        ),
    );
    tmux.wait_for("Operator     none");
    // Another command takes the home (the console holds no lock between its calls), and
    // the console is asked to load the screen again.
    let held = Home::open(&plant).expect("open");
    tmux.press(&["r"]);
    let s = tmux.wait_for(airlock_tui::WAITING);
    assert!(
        !s.contains("waiting for another airlock command working on"),
        "the library's stderr line was written over the screen:\n{s}"
    );
    drop(held);
    let s = tmux.wait_for("Overview");
    std::thread::sleep(Duration::from_millis(300));
    let s2 = tmux.screen();
    assert!(!s2.contains(airlock_tui::WAITING), "{s}\n{s2}");
    assert!(!s2.contains("waiting for another"), "{s2}");
    tmux.press(&["q"]);
    tmux.wait_for("console exited 0");
}
