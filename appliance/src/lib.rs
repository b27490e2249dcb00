//! The Airlock node: an air-gapped machine-learning appliance.
//!
//! This library holds everything the `airlock` program does; the binary is
//! a thin command-line face over it. The pieces, in data-flow order:
//!
//! - [`home`]: one node's folder: SQLite store, vault, keys;
//! - [`keys`], [`site`], [`trust`]: the site's signing and encryption keys,
//!   site cards, trusted peers;
//! - [`policy`], [`operator`], [`personal`]: the offline root key, the
//!   root-signed trust policy (peers, operator roles, k-of-n approvals,
//!   revocations) and passphrase-sealed operator keys;
//! - [`vault`]: content-addressed, age-encrypted, write-once objects;
//! - [`contract`], [`header`], [`check`], [`profile`], [`data`],
//!   [`parquet_file`]: versioned schema contracts (with the header columns
//!   they ignore or rename), the checks and profile computed in one
//!   streaming pass at ingest, and immutable raw snapshots (CSV, Parquet);
//! - [`drift`]: drift of a file from a reference dataset, per feature (the core's
//!   measures over the reference's stored summaries);
//! - [`features`]: versioned feature sets and the one transform used by
//!   training and serving;
//! - [`online`]: the online store (latest vector per entity, atomic version
//!   switches) and point-in-time-correct training sets;
//! - [`models`]: training runs (in the sandboxed worker, `airlock-worker`) and run records;
//! - [`lifecycle`]: gates, approvals, deployment, prediction;
//! - [`evaluate`], [`description`], [`card`]: evaluations on separate data, the
//!   operator's description of a model, and the model card made from both and
//!   from every other record about the model;
//! - [`bundle`]: signed, encrypted media bundles, the only path in or out;
//! - [`provenance`]: signed in-toto-style statements of how each artifact
//!   was made and from what;
//! - [`audit`]: the hash-chained, signed audit log;
//! - [`store`]: the audited transaction, the one way a write commits: with
//!   its audit record;
//! - [`demo`]: the two-site walkthrough behind `airlock demo`;
//! - [`text`]: stored and imported text made safe for a terminal (the one
//!   escaping rule every output, the CLI's and the console's, goes through).
//!
//! Every mutating operation runs in one SQLite transaction together with its
//! audit record ([`store::AuditedTx`]: its `commit` takes the record); every
//! file is written atomically. The time comes from the home's
//! [`time::Clock`], passed down.
//!
//! The documents and parsers that need no store, no file and no clock (digests,
//! signing domains, timestamps, names, object kinds, site cards, the trust
//! policy document, the bundle wire format, contracts, the checker, profiles
//! and sketches) are the `airlock-core` crate, re-exported here under their
//! old paths.
#![deny(missing_docs)]

pub mod audit;
pub mod bundle;
pub mod card;
pub mod data;
pub mod db;
pub mod demo;
pub mod description;
pub mod drift;
pub mod error;
pub mod evaluate;
pub mod failpoint;
pub mod features;
pub mod fsx;
pub mod gate;
pub mod home;
pub mod keys;
pub mod lifecycle;
pub mod lineage;
pub mod models;
pub mod monitor;
pub mod online;
pub mod operator;
pub mod parquet_file;
pub mod personal;
pub mod pipe;
pub mod policy;
pub mod provenance;
pub mod quarantine;
pub mod registry;
pub mod rollout;
pub mod serve;
pub mod store;
pub mod time;
pub mod trust;
pub mod vault;
pub mod vault_check;

pub use error::{Error, Result};

/// The pure core (`airlock-core`): the modules moved there keep their
/// `airlock::` paths through these re-exports.
pub use airlock_core::{
    check, contract, digest, header, name, object, profile, site, sketch, text,
};
