//! `airlock`: the command-line program of an Airlock node.
//!
//! Thin by design: parse the command line, harden the process, call the
//! library, map errors to the exit codes documented in the README.

mod cli;
mod cli_data;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `airlock __worker ...`: this program is also the sandboxed CPU training worker, for when
    // `airlock-worker` is not installed beside it (a plain `cargo run --bin airlock`). The
    // worker enters its sandbox before anything else happens.
    if let Some(code) = airlock_worker::embedded_main() {
        return code;
    }
    // Before any key or data is touched: no core dumps, not dumpable,
    // umask 077.
    let hardening = airlock_hardening::harden_process();
    let args = cli::Cli::parse();
    for c in hardening.failures() {
        eprintln!(
            "warning: process hardening control {} could not be applied: {}",
            c.name,
            c.error.as_deref().unwrap_or("unknown error")
        );
    }
    let json = args.json;
    match cli::run(args) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            let code = e.exit_code();
            if json {
                eprintln!(
                    "{}",
                    serde_json::json!({ "error": e.to_string(), "exit_code": code })
                );
            } else {
                eprintln!("error: {}", printable(&e.to_string()));
            }
            ExitCode::from(code as u8)
        }
    }
}

/// Error messages can quote attacker-controlled text (a bundle's manifest,
/// a CSV cell): escape control characters so they cannot move the cursor or
/// forge lines on the operator's terminal. Newlines between listed
/// violations are kept.
fn printable(msg: &str) -> String {
    msg.chars()
        .flat_map(|c| {
            if c.is_control() && c != '\n' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_in_errors_are_escaped() {
        assert_eq!(super::printable("a\u{1b}[2K\rb\nc"), "a\\u{1b}[2K\\rb\nc");
    }
}
