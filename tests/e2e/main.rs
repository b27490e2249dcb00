//! End-to-end tests: the real `airlock` binary, fresh temporary homes, and
//! for every bad input a check of the error, the exit code, and that the
//! store did not change.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod craft;
mod harness;

mod audit_log;
mod bundle_trust;
mod bundles;
mod card;
mod console;
mod contracts;
mod crash;
mod demo;
mod drift;
mod escapes;
mod evaluation;
mod features;
mod gates;
mod harden;
mod home_attacks;
mod ingest;
mod keys;
mod layering;
mod layout;
mod layout_sql;
mod library;
mod lifecycle;
mod lineage;
mod media;
mod monitoring;
mod policy;
mod real_files;
mod robustness;
mod rollout;
mod runtime;
mod vault;
mod vectors;
