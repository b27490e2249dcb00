//! End-to-end tests of `airlock-install`: the real binary on temporary roots.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod harness;

mod install;
mod sbom;
mod seal;
mod update;
