//! One module per operation an operator runs, each keeping its own
//! invariants (checks, signatures, audit records, refusals recorded)
//! whoever calls it: the `airlock` command, the console, the installer or
//! the demo. Data flows top to bottom:
//!
//! - [`contract`]: `contract apply`, resolving and loading contracts;
//! - [`ingest`]: a CSV or Parquet file checked against its contract becomes
//!   an immutable raw snapshot and a signed dataset record;
//! - [`drift`]: drift of a file from a reference dataset;
//! - [`features`]: versioned feature sets and the one transform;
//! - [`online`]: the online store and point-in-time joins;
//! - [`train`]: training runs in the sandboxed worker, run records;
//! - [`evaluate`]: evaluations on separate data;
//! - [`gate`]: gate policies and reports;
//! - [`description`], [`card`]: the operator's description of a model and
//!   the model card;
//! - [`approve`]: operators' signed approvals, counted against the trust
//!   policy;
//! - [`score`]: the `Scorer` behind `predict`, `serve` and the gate's
//!   behaviour cases;
//! - [`rollout`]: slots (production, canary, shadow), promote, rollback;
//! - [`predict`]: batch answers from a file;
//! - [`serve`], [`monitor`]: the Unix-socket server and its monitoring;
//! - [`provenance`], [`lineage`]: how each artifact was made, and the walk
//!   from a prediction back to raw rows and approvers.

pub mod approve;
pub mod card;
pub mod contract;
pub mod description;
pub mod drift;
pub mod evaluate;
pub mod features;
pub mod gate;
pub mod ingest;
pub mod lineage;
pub mod monitor;
pub mod online;
pub mod predict;
pub mod provenance;
pub mod rollout;
pub mod score;
pub mod serve;
pub mod train;
