//! The job protocol: what the parent writes into the job folder and what the worker writes
//! back. Both sides parse these with unknown fields refused.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use airlock_hardening::sandbox::SandboxReport;
use airlock_runtime::{DeviceChoice, DeviceInfo, EpochReport, Evaluation, Split, TrainConfig};

/// Largest `result.json` (and `job.json`) either side reads.
pub const MAX_RESULT_BYTES: u64 = 16 << 20;

/// The job, as the parent writes it to `input/job.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Hyperparameters, task, architecture, seed.
    pub config: TrainConfig,
    /// Rows of `x.f32`.
    pub rows: usize,
    /// Columns of `x.f32`.
    pub cols: usize,
    /// The device asked for.
    pub device: DeviceChoice,
    /// Whether `slices.json` is present.
    pub slices: bool,
    /// Paths the worker must not be able to read; it tries, and reports.
    pub must_not_read: Vec<PathBuf>,
    /// Why the parent chose the CPU worker for `auto`, when it knows better than the worker
    /// (a GPU worker installed but no driver loaded); it becomes the device's note.
    #[serde(default)]
    pub device_note: Option<String>,
}

/// One check the worker made of its own sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfCheck {
    /// What was tried: `read PATH` or `connect ADDR`.
    pub attempt: String,
    /// Whether it was refused (what the sandbox should do).
    pub refused: bool,
    /// The error, when refused.
    pub error: Option<String>,
}

/// The worker's sandbox, as recorded in the run record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxRecord {
    /// Every control, applied or not.
    pub report: SandboxReport,
    /// What the worker's self-check found.
    pub checks: Vec<SelfCheck>,
}

/// What the worker reports in `output/result.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerResult {
    /// Per-epoch history.
    pub history: Vec<EpochReport>,
    /// Split sizes.
    pub split: Split,
    /// The epoch whose weights the model holds.
    pub best_epoch: usize,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// Class weights applied.
    pub class_weights: Vec<f64>,
    /// Metrics, as the worker computed them (the parent recomputes).
    pub evaluation: Evaluation,
    /// The device it ran on.
    pub device: DeviceInfo,
    /// Its sandbox.
    pub sandbox: SandboxRecord,
    /// Checkpoints written, by epoch.
    pub checkpoints: Vec<usize>,
}
