//! Airlock's pure core: the values and documents every part of a node agrees on, and the
//! parsers of the bytes that arrive from outside, with no SQLite, no filesystem and no clock.
//!
//! Everything here takes bytes or values and returns checked values or an [`Error`]; time is
//! an argument (a [`time::Timestamp`]), never read from the system. That keeps each parser of
//! untrusted bytes small enough to be tested and fuzzed alone (`fuzz/` depends on this crate,
//! not on the appliance), and lets the appliance (`airlock-appliance`, the store, the vault,
//! the keys on disk) and its future front ends share one definition of each document.
//!
//! - [`digest`]: SHA-256 content addresses, hashing readers and writers;
//! - [`keys`]: signing domains, key ids, public keys and signature verification;
//! - [`time`]: UTC timestamps and their one text form;
//! - [`name`]: the names of datasets, contracts, feature sets, models and slots;
//! - [`site`]: site names and site cards (parse, self-signature, render);
//! - [`policy`]: the root-signed trust policy document and the root chain rules;
//! - [`object`]: what an object is (its kind) and who vouches for it (attestations);
//! - [`bundle`]: the bundle wire format (leader, trailer, manifest, footer, object stream);
//! - [`freshness`]: a bundle's expiry and freshness at a given time, the import rules;
//! - [`gate`]: gate policies (`GATE.toml`): what a model must show before it is deployed;
//! - [`contract`]: schema contracts, and the one parser of untrusted cells;
//! - [`header`]: how a file's named columns map to a contract's (ignored and renamed columns);
//! - [`check`]: checking rows against a contract and tallying violations;
//! - [`profile`], [`sketch`]: the profile computed in the same pass, its sketches;
//! - [`drift`]: drift of current data from a reference, per feature: tests for small
//!   samples, distances for large ones, over bounded, mergeable summaries;
//! - [`record`]: the [`record::Record`] trait that ties each record type to its kind, and the
//!   record documents: [`dataset`], [`features`] (with THE transform), [`lifecycle`] (gate
//!   reports, approvals, deployments), [`provenance`] statements, [`description`]s of models
//!   (intended use, out of scope, known limits), operator certificates.
//!
//! Modules depend one way: `contract` ← `drift` ← `profile` ← `check` (the violation rules are the
//! contract's, [`contract::Rule`]; the checker tallies them).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod accuracy;
pub mod bundle;
pub mod check;
pub mod contract;
pub mod dataset;
pub mod description;
pub mod digest;
pub mod drift;
pub mod error;
pub mod features;
pub mod freshness;
pub mod gate;
pub use contract::header;
pub mod keys;
pub mod lifecycle;
pub mod monitor;
pub mod name;
pub mod object;
pub mod policy;
pub mod profile;
pub mod provenance;
pub mod record;
pub mod site;
pub mod sketch;
pub mod slice;
pub mod text;
pub mod time;

pub use error::{Error, Result};
