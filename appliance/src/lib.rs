//! The Airlock node: an air-gapped machine-learning appliance.
//!
//! This library holds everything the `airlock` program does; the binary is
//! a thin command-line face over it (`src/cli/`: parse, call one function
//! here, print). The folders show the layers, bottom to top
//! (`docs/architecture.md`):
//!
//! - [`node`]: one node's home folder (layout, lock, opening, recovery),
//!   crash-safe file writes, the clock, failpoints;
//! - [`store`]: the SQLite store and the audited transaction (the one way a
//!   write commits: with its audit record), the hash-chained signed audit
//!   log ([`store::audit`]);
//! - [`vault`]: content-addressed, age-encrypted, write-once objects, the
//!   registry of signed records over them, the vault's own check;
//! - [`trust`]: the site's keys, trusted peers, the offline root key and the
//!   root-signed trust policy, passphrase-sealed operator keys and roles;
//! - [`bundle`]: signed, encrypted media bundles, the only path in or out;
//! - [`ops`]: one module per operation, from `contract apply` and ingest to
//!   training, gates, approval, deployment, serving and monitoring, each
//!   keeping its own checks and audit records whoever calls it;
//! - [`demo`]: the two-site walkthrough behind `airlock demo`, over the same
//!   public functions a console uses;
//! - [`text`]: stored and imported text made safe for a terminal (the one
//!   escaping rule every output, the CLI's and the console's, goes through).
//!
//! Every mutating operation runs in one SQLite transaction together with its
//! audit record ([`store::AuditedTx`]: its `commit` takes the record); every
//! file is written atomically. The time comes from the home's
//! [`node::time::Clock`], passed down.
//!
//! The documents and parsers that need no store, no file and no clock (digests,
//! signing domains, timestamps, names, object kinds, site cards, the trust
//! policy document, the bundle wire format, contracts, the checker, profiles
//! and sketches) are the `airlock-core` crate, re-exported here under their
//! old paths.
#![deny(missing_docs)]

pub mod bundle;
pub mod demo;
pub mod error;
pub mod node;
pub mod ops;
pub mod store;
pub mod trust;
pub mod vault;

pub use error::{Error, Result};

/// The pure core (`airlock-core`): the modules moved there keep their
/// `airlock::` paths through these re-exports.
pub use airlock_core::{
    check, contract, digest, header, lifecycle, name, object, profile, site, sketch, text,
};
