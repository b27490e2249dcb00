//! `airlock-install`: parses the command line, calls the library, prints the result through
//! one escaping layer (`out`), and maps errors to the exit codes of `airlock`.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod out;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // No core dumps, not dumpable, umask 077 (the installer sets every mode it writes).
    let hardening = airlock_hardening::harden_process();
    let args = cli::Cli::parse();
    for c in hardening.failures() {
        out::warn(format_args!(
            "process hardening control {} could not be applied: {}",
            c.name,
            c.error.as_deref().unwrap_or("unknown error")
        ));
    }
    let json = args.json;
    match cli::run(args) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            let code = e.exit_code();
            out::error(json, &e.to_string(), code);
            ExitCode::from(code as u8)
        }
    }
}
