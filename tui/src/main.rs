//! `airlock-tui`: the operator console. Parses the command line, checks the home, sets the
//! terminal up, runs the console, and puts the terminal back however it ends (an error, a
//! panic: ratatui's panic hook restores it before the message is printed).
#![deny(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use airlock::text;
use airlock_tui::{App, Console, TerminalEvents, Theme};

/// The Airlock operator console: site, data, models and audit log on one keyboard-driven
/// screen (80x24 or larger). Every action calls the same library function as the `airlock`
/// command and leaves the same audit records.
#[derive(Parser, Debug)]
#[command(name = "airlock-tui", version, max_term_width = 100)]
struct Args {
    /// The node's home folder (store, vault, keys).
    #[arg(long, env = "AIRLOCK_HOME", default_value = "/var/lib/airlock")]
    home: PathBuf,
    /// The operator who signs approvals and deployments made here (made with `airlock keys
    /// operator new NAME`); their passphrase is asked at each action.
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
    /// Draw borders, bars and key names in plain ASCII (serial consoles).
    #[arg(long)]
    ascii: bool,
    /// The folder of the removable media the Media screen lists bundles and site cards from
    /// (default: the mounted media under /media/*/*, /run/media/*/* and /mnt/*).
    #[arg(long, value_name = "DIR")]
    media: Option<PathBuf>,
    /// The monitoring policy the Monitor screen judges windows under (as `airlock monitor
    /// report --policy FILE`); its `accuracy.labels` gives the accuracy over time.
    #[arg(long, value_name = "FILE")]
    monitor_policy: Option<PathBuf>,
}

/// Puts the terminal back when dropped: on return, on error and on unwinding.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

fn main() -> ExitCode {
    // `airlock-tui __worker ...`: like `airlock`, this program carries the sandboxed CPU
    // training worker, for a training run started from the console when `airlock-worker` is
    // not installed beside it. The worker enters its sandbox before anything else happens.
    if let Some(code) = airlock_worker::embedded_main() {
        return code;
    }
    // Before any key or passphrase is in memory: no core dumps, not dumpable, umask 077.
    let hardening = airlock_hardening::harden_process();
    let args = Args::parse();
    for c in hardening.failures() {
        eprintln!(
            "warning: process hardening control {} could not be applied: {}",
            c.name,
            text::escape(c.error.as_deref().unwrap_or("unknown error"))
        );
    }
    let mut console = Console::new(&args.home, args.operator.as_deref());
    if let Some(dir) = &args.media {
        console = console.with_media(dir);
    }
    if let Some(file) = &args.monitor_policy {
        console = console.with_monitor_policy(file);
    }
    // A folder that is not a home is refused before the screen is taken, with the command
    // line's message and exit code.
    if let Err(e) = console.check() {
        eprintln!("error: {}", text::escape_lines(&e.to_string()));
        return ExitCode::from(e.exit_code() as u8);
    }
    let theme = Theme::new(std::env::var_os("NO_COLOR").as_deref(), args.ascii);
    let mut app = App::new(args.operator.as_deref());
    let result = match ratatui::try_init() {
        Ok(mut terminal) => {
            let _restore = Restore;
            airlock_tui::run(
                &mut terminal,
                &mut app,
                &console,
                &mut TerminalEvents,
                &theme,
            )
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "error: the terminal failed: {}",
                text::escape(&e.to_string())
            );
            ExitCode::FAILURE
        }
    }
}
