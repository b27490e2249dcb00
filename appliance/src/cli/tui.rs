//! `airlock tui`: starts the operator console, the `airlock-tui` program installed beside
//! this one, on the same home and for the same operator.
//!
//! The console is a program of its own (crate `airlock-tui`) built on this library, and the
//! dependency goes one way only: tui → appliance, never back (docs/architecture.md). So
//! `airlock` does not link the console. It looks for `airlock-tui` in the folder of the
//! running program, where an installation puts both (and where cargo builds both), and
//! replaces itself with it (`exec`), passing `--home`, `--operator`, `--ascii`, `--media` and `--monitor-policy`
//! on. Exec rather than a child process: the console gets the terminal, its signals (Ctrl-C,
//! window size) and its exit status directly, and no `airlock` process is left waiting beside
//! it. A missing console is an error naming the path looked at, with exit code 6 (not
//! found).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;

use airlock::error::{Error, IoContext, Result};

/// The console's program name.
pub const PROGRAM: &str = "airlock-tui";

/// Start the operator console (the airlock-tui program installed beside this one) on this
/// home: every screen and action from the keyboard, on 80x24 or larger.
#[derive(Args, Debug)]
pub struct TuiArgs {
    /// The operator who signs approvals and deployments made in the console (made with
    /// `airlock keys operator new NAME`); their passphrase is asked at each action. Without
    /// it the console only reads.
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
    /// Draw borders, bars and key names in plain ASCII (serial consoles).
    #[arg(long)]
    ascii: bool,
    /// The folder of the removable media the console's Media screen lists bundles and site
    /// cards from (default: the mounted media under /media/*/*, /run/media/*/* and /mnt/*).
    #[arg(long, value_name = "DIR")]
    media: Option<PathBuf>,
    /// The monitoring policy (TOML) the Monitor screen judges with, as `airlock monitor report
    /// --policy` reads it: the labels dataset it names gives the accuracy over time.
    #[arg(long, value_name = "FILE")]
    monitor_policy: Option<PathBuf>,
}

/// The console program in the folder of `exe` (the running `airlock`).
pub fn console_program(exe: &Path) -> Result<PathBuf> {
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let program = dir.join(PROGRAM);
    if program.is_file() {
        return Ok(program);
    }
    Err(Error::NotFound(format!(
        "the operator console is not installed: {} does not exist (`airlock tui` starts {PROGRAM} \
         from the folder of {}); install it beside airlock, or in a checkout build it with \
         `cargo build --locked --bin {PROGRAM}`",
        program.display(),
        exe.display()
    )))
}

/// The console's command line for `home` and the arguments given.
fn command(program: &Path, home: &Path, a: &TuiArgs) -> Command {
    let mut cmd = Command::new(program);
    cmd.arg("--home").arg(home);
    if let Some(name) = &a.operator {
        cmd.arg("--operator").arg(name);
    }
    if a.ascii {
        cmd.arg("--ascii");
    }
    if let Some(dir) = &a.media {
        cmd.arg("--media").arg(dir);
    }
    if let Some(file) = &a.monitor_policy {
        cmd.arg("--monitor-policy").arg(file);
    }
    cmd
}

/// Runs `airlock tui`: on success this process becomes the console and never returns.
pub fn run(home: &Path, json: bool, a: TuiArgs) -> Result<i32> {
    if json {
        clap::Error::raw(
            clap::error::ErrorKind::ArgumentConflict,
            "--json does not apply to `airlock tui`: the console draws a screen; use the \
             commands it names for JSON output\n",
        )
        .exit();
    }
    let exe = std::env::current_exe().at(Path::new("/proc/self/exe"))?;
    let program = console_program(&exe)?;
    let e = command(&program, home, &a).exec();
    Err(Error::io(program, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_is_found_beside_the_program_or_its_path_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("airlock");
        let missing = console_program(&exe).expect_err("not installed");
        assert_eq!(missing.exit_code(), airlock::error::exit::NOT_FOUND);
        let text = missing.to_string();
        assert!(
            text.contains(&dir.path().join(PROGRAM).display().to_string()),
            "{text}"
        );
        std::fs::write(dir.path().join(PROGRAM), "").expect("write");
        assert_eq!(
            console_program(&exe).expect("found"),
            dir.path().join(PROGRAM)
        );
    }

    #[test]
    fn home_operator_ascii_media_and_monitor_policy_are_passed_on() {
        let a = TuiArgs {
            operator: Some("omar".into()),
            ascii: true,
            media: Some(PathBuf::from("/media/omar/STICK")),
            monitor_policy: Some(PathBuf::from("monitor.toml")),
        };
        let cmd = command(Path::new("/opt/airlock/airlock-tui"), Path::new("/h"), &a);
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(
            args,
            [
                "--home",
                "/h",
                "--operator",
                "omar",
                "--ascii",
                "--media",
                "/media/omar/STICK",
                "--monitor-policy",
                "monitor.toml"
            ]
        );
        let bare = TuiArgs {
            operator: None,
            ascii: false,
            media: None,
            monitor_policy: None,
        };
        let cmd = command(Path::new("airlock-tui"), Path::new("/h"), &bare);
        assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["--home", "/h"]);
    }
}
