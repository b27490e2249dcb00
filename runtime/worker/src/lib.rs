//! Airlock's training worker: a separate, sandboxed process that turns a feature matrix into
//! model weights, the job protocol between it and `airlock`, and the parent's side that starts
//! it and checks what it returns.
//!
//! This crate links the runtime (candle) and the hardening crate only: no SQLite, no age, no
//! keys (`cargo tree -p airlock-worker` shows it). The program is `airlock-worker` (and its
//! GPU build `airlock-worker-cuda`, docs/gpu.md); `airlock` also carries the same CPU worker
//! ([`run`] behind `airlock __worker`), so a plain `cargo run --bin airlock -- demo` can train.
//!
//! `airlock train` never trains in its own process, which holds the site keys and the open
//! vault. It writes the job into a private folder under the vault's staging area and starts
//! the worker with `train JOB PARENT_PID`:
//!
//! ```text
//! JOB/                 0700, removed afterwards (and by recovery if `airlock` dies)
//!   input/             read-only to the worker
//!     job.json         TrainConfig, shape, device, paths the worker must NOT be able to read
//!     x.f32            the feature matrix, row-major little-endian f32
//!     y.f32            the labels
//!     slices.json      one slice key per row (optional)
//!   output/            the only place the worker may write
//!     model.safetensors
//!     result.json      history, split, device, sandbox report, self-check, metrics
//!     checkpoints/epoch-NNNN.safetensors
//! ```
//!
//! The worker locks the job folder (`flock`, held until it exits: [`job_in_use`]) and enters
//! the sandbox ([`airlock_hardening::sandbox`]) before it reads a byte: it dies with its
//! parent (`PR_SET_PDEATHSIG`, then a check that the parent is still the one that started it),
//! no new privileges, no core dumps, resource limits, a network namespace, Landlock rules that
//! allow reading `input/` and writing `output/` only. Its environment is emptied but for a few
//! thread and GPU settings, so no secret passes in. It then checks its own sandbox: it tries
//! to read the home's `keys/`, `vault/` and `store.db` and to open a TCP connection, and
//! reports what happened. Progress goes to its stdout as JSON lines.
//!
//! The parent trusts none of it: it reads `result.json` with a size cap and a strict schema,
//! loads `model.safetensors` through the validating loader against the spec it asked for,
//! recomputes every metric on the same split itself and refuses the run if the worker's
//! figures differ, refuses a run whose self-check read a key while Landlock claimed to be in
//! force, and records the sandbox report (every control, applied or not) in the run record.
#![deny(missing_docs)]

mod child;
mod error;
mod parent;
mod protocol;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

pub use child::{ProbeReport, policy, run_probe, run_train};
pub use error::{Error, Result};
pub use parent::{
    EMBEDDED_ARG, NVIDIA_DRIVER, TrainJob, Trained, WorkerProgram, recompute, train, worker_program,
};
pub use protocol::{Job, MAX_RESULT_BYTES, SandboxRecord, SelfCheck, WorkerResult};

/// The name prefix of job folders under the staging area.
pub const JOB_PREFIX: &str = "train-job-";

/// Whether `dir` is a job folder a live worker still holds (its lock is taken). Recovery
/// after a crash must not remove such a folder from under a running worker.
pub fn job_in_use(dir: &Path) -> bool {
    let Ok(f) = std::fs::File::open(dir) else {
        return false;
    };
    match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(_unlocked_on_drop) => false,
        Err((_, e)) => e == nix::errno::Errno::EWOULDBLOCK,
    }
}

/// For a program that carries the CPU worker (`airlock`): when started as `PROGRAM __worker
/// ARGS...` (by [`train`]), runs the worker on `ARGS` and returns its exit code; otherwise
/// `None`, and the program goes on as itself. Call it first thing in `main`, before any
/// thread is spawned or any file is opened.
pub fn embedded_main() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(EMBEDDED_ARG)) {
        return None;
    }
    Some(run(args))
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: airlock-worker train JOB PARENT_PID | airlock-worker probe JOB ADDR PATH\n\
         The training worker of Airlock, started by `airlock train`; not run by hand."
    );
    ExitCode::from(2)
}

/// The worker program's `main`, given its arguments (without the program name): `train JOB
/// PARENT_PID` or `probe JOB ADDR PATH`. Call it before any thread is spawned.
pub fn run(args: impl Iterator<Item = OsString>) -> ExitCode {
    let args: Vec<String> = match args.map(OsString::into_string).collect() {
        Ok(a) => a,
        Err(_) => return usage(),
    };
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["train", job, parent] => {
            let Ok(parent) = parent.parse::<u32>() else {
                return usage();
            };
            match run_train(Path::new(job), parent) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
                }
            }
        }
        ["probe", job, addr, path] => {
            let Ok(addr) = addr.parse() else {
                return usage();
            };
            let report = run_probe(Path::new(job), addr, Path::new(path));
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
