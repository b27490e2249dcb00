//! `airlock`: the command-line program of an Airlock node.
//!
//! Thin by design: parse the command line, harden the process, call the
//! library, map errors to the exit codes documented in the README.

mod cli;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
                eprintln!("error: {e}");
            }
            ExitCode::from(code as u8)
        }
    }
}
