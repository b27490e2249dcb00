//! `airlock`: the command-line program of an Airlock node.
//!
//! Thin by design: parse the command line, harden the process, call the
//! library, map errors to the exit codes documented in the README.
//!
//! Nothing here or in the modules below prints except through `output`,
//! which escapes what it prints: `println!` and `eprintln!` are denied.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `airlock __worker ...`: this program is also the sandboxed CPU training worker, for when
    // `airlock-worker` is not installed beside it (a plain `cargo run --bin airlock`). The
    // worker enters its sandbox before anything else happens.
    if let Some(code) = airlock_worker::embedded_main() {
        return code;
    }
    // One thread so far: fix candle's thread count now (it would read /proc/cpuinfo on every
    // matrix product otherwise; one-row serving paid that on every request).
    airlock_hardening::pin_compute_threads();
    // Before any key or data is touched: no core dumps, not dumpable,
    // umask 077.
    let hardening = airlock_hardening::harden_process();
    let args = cli::Cli::parse();
    for c in hardening.failures() {
        cli::output::warn(format_args!(
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
            cli::output::error(json, &e.to_string(), code);
            ExitCode::from(code as u8)
        }
    }
}
