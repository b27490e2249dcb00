//! `airlock-worker`: the sandboxed training worker that `airlock train` starts. Not for
//! operators to run by hand; see `airlock train --help` and docs/runtime.md. It links the
//! runtime and the hardening crate only: no store, no vault, no keys.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    airlock_worker::run(std::env::args_os().skip(1))
}
