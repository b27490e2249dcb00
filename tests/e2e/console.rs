//! `airlock tui`: the `airlock` program starts the console, `airlock-tui`, from its own
//! folder, with the same home and operator; without it, an error naming the path.
//! (The console itself is tested in `tui/tests/`, through `airlock tui` under tmux too.)

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::bin;

/// A folder holding `airlock` (a hard link to the binary under test: the running program's
/// folder is where `airlock tui` looks, and /proc/self/exe names the link, not the target).
fn installed() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let airlock = dir.path().join("airlock");
    if std::fs::hard_link(bin(), &airlock).is_err() {
        std::fs::copy(bin(), &airlock).unwrap();
    }
    (dir, airlock)
}

fn tui(airlock: &Path, args: &[&str]) -> std::process::Output {
    Command::new(airlock)
        .args(args)
        .env_remove("AIRLOCK_HOME")
        .output()
        .unwrap()
}

#[test]
fn airlock_tui_without_the_console_installed_names_the_path_it_looked_for() {
    let (dir, airlock) = installed();
    let out = tui(&airlock, &["--home", "/nonexistent", "tui"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    let expected = dir.path().join("airlock-tui");
    assert!(
        stderr.contains(&format!("{} does not exist", expected.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("cargo build --locked --bin airlock-tui"),
        "{stderr}"
    );
}

#[test]
fn airlock_tui_runs_the_console_beside_it_with_the_same_home_and_operator() {
    let (dir, airlock) = installed();
    // A stand-in console that records its arguments and exits with a code of its own.
    let record = dir.path().join("args");
    let console = dir.path().join("airlock-tui");
    std::fs::write(
        &console,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nexit 5\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&console, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = tui(
        &airlock,
        &[
            "--home",
            "/srv/plant",
            "tui",
            "--operator",
            "omar",
            "--ascii",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(5),
        "the console's exit status is airlock's: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args = std::fs::read_to_string(&record).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        ["--home", "/srv/plant", "--operator", "omar", "--ascii"]
    );
    // --json has no meaning for a screen: a usage error, and the console is not started.
    std::fs::remove_file(&record).unwrap();
    let out = tui(&airlock, &["--json", "--home", "/srv/plant", "tui"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--json does not apply"));
    assert!(!record.exists());
}
