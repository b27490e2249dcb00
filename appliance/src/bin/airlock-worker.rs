//! `airlock-worker`: the sandboxed training worker that `airlock train` starts. Not for
//! operators to run by hand; see `airlock train --help` and docs/runtime.md.
//!
//! ```text
//! airlock-worker train JOB            train the job in folder JOB (written by airlock)
//! airlock-worker probe JOB ADDR PATH  enter JOB's sandbox, try to connect to ADDR and read
//!                                     PATH, print what happened as JSON (host checks, tests)
//! ```
//!
//! The sandbox is entered before anything else happens, while the process has one thread.

use std::path::Path;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: airlock-worker train JOB | airlock-worker probe JOB ADDR PATH\n\
         The training worker of Airlock, started by `airlock train`; not run by hand."
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["train", job] => match airlock::worker::run_train(Path::new(job)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(e.exit_code() as u8)
            }
        },
        ["probe", job, addr, path] => {
            let Ok(addr) = addr.parse() else {
                return usage();
            };
            let report = airlock::worker::run_probe(Path::new(job), addr, Path::new(path));
            match serde_json::to_string(&report) {
                Ok(s) => {
                    println!("{s}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => usage(),
    }
}
