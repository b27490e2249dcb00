//! Training runs and the model registry.
//!
//! `airlock train` loads a dataset snapshot and a feature set version,
//! computes the feature vectors with the feature set's one transform, and
//! hands them to the sandboxed training worker ([`airlock_worker`]). It checks
//! what comes back (the model file through the validating loader, every metric
//! recomputed), then stores the weights (safetensors) and a run record in the
//! vault, both signed. The run record's digest is the model's id; it names
//! everything the model came from and everything it ran on.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;

use airlock_runtime::{
    DeviceChoice, DeviceInfo, EpochReport, Evaluation, Model, ModelSpec, Split, TrainConfig,
    TrainData,
};

use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::features;
use crate::site::SiteName;
use crate::store::{AuditEntry, AuditedTx};
use crate::vault::registry::{self, Kind, NameRef};
use airlock_worker::SandboxRecord;

mod prepare;
pub use prepare::{MAX_CLASSES, Prepared, RowPrep, negative_class, prepare, prepare_streamed};

/// Type tag of run records.
pub const RUN_TYPE: &str = "airlock.run/v2";

/// The code that produced a run, baked in at build time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeVersion {
    /// The airlock crate version.
    pub airlock: String,
    /// The git revision of the source tree (`-dirty` with uncommitted changes, `unknown`
    /// without git).
    pub git_rev: String,
    /// SHA-256 of the `Cargo.lock` that pinned every dependency.
    pub cargo_lock_sha256: String,
}

impl CodeVersion {
    /// This build's version.
    pub fn current() -> Self {
        Self {
            airlock: env!("CARGO_PKG_VERSION").into(),
            git_rev: env!("AIRLOCK_GIT_REV").into(),
            cargo_lock_sha256: env!("AIRLOCK_CARGO_LOCK_SHA256").into(),
        }
    }
}

/// The signed record of a training run. Its digest is the model id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// Always [`RUN_TYPE`].
    #[serde(rename = "type")]
    pub ty: String,
    /// The site that trained it.
    pub site: SiteName,
    /// Model name.
    pub name: String,
    /// Task, architecture and input width: what the weights must match.
    pub spec: ModelSpec,
    /// The label column.
    pub label: String,
    /// Class names in output order (binary: the negative then the positive label, the
    /// negative by its own name where known, see [`negative_class`]; multiclass: every
    /// class); empty for regression.
    pub classes: Vec<String>,
    /// The weights (safetensors vault object).
    pub weights: Digest,
    /// The dataset record trained on.
    pub dataset: Digest,
    /// That dataset's raw snapshot.
    pub snapshot: Digest,
    /// The feature set version.
    pub feature_set: Digest,
    /// The feature set as `name@version`.
    pub feature_set_ref: String,
    /// Hyperparameters, schedule, class weights, early stopping, seed and split fractions.
    pub config: TrainConfig,
    /// Rows per split.
    pub split: Split,
    /// Class weights as applied.
    pub class_weights: Vec<f64>,
    /// The column holdout metrics are sliced by, if any.
    pub slice_column: Option<String>,
    /// The epoch whose weights the model holds.
    pub best_epoch: usize,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// Metrics on each split and per slice, recomputed by the parent.
    pub metrics: Evaluation,
    /// Loss and metric history, per epoch.
    pub history: Vec<EpochReport>,
    /// Code version.
    pub code: CodeVersion,
    /// The device asked for (`auto`, `cpu`, `cuda:N`).
    pub device_requested: DeviceChoice,
    /// The device it ran on.
    pub device: DeviceInfo,
    /// The worker's sandbox: every control, applied or not, and its self-check.
    pub sandbox: SandboxRecord,
    /// Start time.
    pub started_at: Timestamp,
    /// End time.
    pub finished_at: Timestamp,
}

impl RunRecord {
    /// The inputs its provenance statement names (written by `train`,
    /// checked by `lineage`).
    pub fn provenance_inputs(&self) -> [(&'static str, Digest); 3] {
        [
            ("dataset", self.dataset),
            ("snapshot", self.snapshot),
            ("feature-set", self.feature_set),
        ]
    }

    /// The held-out figure named `metric` (see [`airlock_runtime::METRIC_NAMES`]).
    pub fn holdout(&self, metric: &str) -> Option<f64> {
        self.metrics.holdout.get(metric)
    }
}

/// The run record holds the runtime's and the sandbox's types, so it lives
/// here rather than in the core with the other records.
impl registry::Record for RunRecord {
    const KIND: Kind = Kind::Run;
}

/// Options of `airlock train`.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    /// Dataset, `[SITE/]NAME[@V]`.
    pub dataset: NameRef,
    /// Feature set, `[SITE/]NAME[@V]`.
    pub features: NameRef,
    /// Model name (default: `DATASET-ARCH`).
    pub name: Option<String>,
    /// Hyperparameters (the class count of a multiclass task is filled in from the data).
    pub config: TrainConfig,
    /// Where to train.
    pub device: DeviceChoice,
    /// Column to slice holdout metrics by.
    pub slice_column: Option<String>,
    /// Folder to copy checked checkpoints to.
    pub checkpoints: Option<PathBuf>,
}

/// Trains a model in the sandboxed worker and registers it.
pub fn train(
    home: &mut Home,
    req: &TrainRequest,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<(Digest, RunRecord)> {
    let started_at = home.now();
    let (dataset_id, _, _) = registry::resolve(
        home.store(),
        crate::store::objects::Table::Datasets,
        "dataset",
        home.site(),
        &req.dataset,
    )?;
    let (fs_id, _, _) = registry::resolve(
        home.store(),
        crate::store::objects::Table::FeatureSets,
        "feature set",
        home.site(),
        &req.features,
    )?;
    let fs = features::load(home, &fs_id)?;
    let mut config = req.config.clone();
    let (prepared, dataset) = prepare_streamed(
        home,
        &dataset_id,
        &fs,
        &mut config.task,
        req.slice_column.as_deref(),
    )?;
    config.validate()?;
    let name = match &req.name {
        Some(n) => {
            registry::validate_name(n)?;
            n.clone()
        }
        None => format!("{}-{}", dataset.name, config.arch.name()),
    };
    let root = home.root().to_path_buf();
    let must_not_read = vec![
        root.join("keys"),
        root.join("store.db"),
        root.join("vault").join("objects"),
    ];
    let data = TrainData {
        x: &prepared.x,
        labels: &prepared.y,
        slices: prepared.slices.as_deref(),
    };
    let trained = airlock_worker::train(
        &home.vault().tmp_dir(),
        airlock_worker::TrainJob {
            data,
            config: &config,
            device: req.device,
            must_not_read,
            checkpoints: req.checkpoints.is_some(),
            // Every program built on this library carries the CPU worker: its `main` calls
            // `airlock_worker::embedded_main` first (appliance/src/main.rs).
            embedded: true,
        },
        on_epoch,
    )?;
    if let Some(dest) = &req.checkpoints {
        std::fs::create_dir_all(dest).at(dest)?;
        for (name, bytes) in &trained.checkpoints {
            crate::node::fsx::write_atomic(&dest.join(name), bytes)?;
        }
    }
    let result = trained.result;
    // The device's name comes from the sandboxed worker (read from
    // /proc/cpuinfo or the GPU driver); it is kept in the signed run record
    // and shown at every site the model travels to.
    crate::text::check_free_text(
        "the device name the training worker reported",
        &result.device.name,
    )?;
    let site = home.site().clone();
    let tx = home.begin()?;
    let weights_id = registry::put_object(&tx, Kind::Weights, &trained.weights)?;
    let record = RunRecord {
        ty: RUN_TYPE.into(),
        site: site.clone(),
        name,
        spec: trained.model.spec().clone(),
        label: fs.label.clone(),
        classes: prepared.classes,
        weights: weights_id,
        dataset: dataset_id,
        snapshot: dataset.snapshot,
        feature_set: fs_id,
        feature_set_ref: fs.reference(),
        config,
        split: result.split,
        class_weights: result.class_weights,
        slice_column: req.slice_column.clone(),
        best_epoch: result.best_epoch,
        stopped_early: result.stopped_early,
        metrics: result.evaluation,
        history: result.history,
        code: CodeVersion::current(),
        device_requested: req.device,
        device: result.device,
        sandbox: result.sandbox,
        started_at,
        finished_at: tx.now(),
    };
    let id = registry::put_record(&tx, &record)?;
    insert_model_row(&tx, &id, &record)?;
    crate::ops::provenance::record(
        &tx,
        "airlock train",
        None,
        &[(Kind::Run, id), (Kind::Weights, weights_id)],
        &record.provenance_inputs(),
    )?;
    let score = record.spec.task.score_name();
    let unapplied: Vec<&str> = record
        .sandbox
        .report
        .failures()
        .map(|c| c.name.as_str())
        .collect();
    tx.commit(AuditEntry::new(
        "model.train",
        &[id.hex(), weights_id.hex(), dataset_id.hex(), fs_id.hex()],
        json!({ "model": record.name, "task": record.spec.task.name(), "arch": record.spec.arch.name(),
                "feature_set": record.feature_set_ref, "seed": record.config.seed,
                "device": record.device.kind, "holdout": { score: record.holdout(score) },
                "sandbox_not_applied": unapplied }),
    ))?;
    Ok((id, record))
}

/// Indexes a model (also used at bundle import).
pub fn insert_model_row(tx: &AuditedTx<'_>, id: &Digest, r: &RunRecord) -> Result<()> {
    crate::store::models::insert_model(
        tx,
        &crate::store::models::ModelRow {
            id,
            site: &r.site,
            name: &r.name,
            arch: r.spec.arch.name(),
            dataset: &r.dataset,
            feature_set: &r.feature_set,
            weights: &r.weights,
            metrics: &serde_json::to_string(
                &json!({ "task": r.spec.task.name(), "holdout": r.metrics.holdout }),
            )
            .unwrap_or_default(),
            created_at: &r.finished_at.to_string(),
        },
    )
}

/// The id of the model `prefix` names: its whole id, or a unique prefix of
/// at least 8 hex digits.
pub fn resolve(home: &Home, prefix: &str) -> Result<Digest> {
    registry::resolve_model(home.store(), prefix)
}

/// Loads a run record by model id (verifying signature and digest).
pub fn load_run(home: &Home, id: &Digest) -> Result<RunRecord> {
    registry::load(home.store(), home.vault(), id)
}

/// Loads a model's weights, validating the safetensors file against the
/// architecture declared in its run record before any tensor is used.
pub fn load_model(home: &Home, run: &RunRecord) -> Result<Model> {
    let bytes = home.vault().read(&run.weights, Kind::Weights.max_size())?;
    Ok(Model::from_safetensors(&bytes, &run.spec)?)
}

/// One line of `airlock models list`.
#[derive(Clone, Debug, Serialize)]
pub struct ModelSummary {
    /// Model id (run record digest).
    pub id: String,
    /// Name.
    pub name: String,
    /// Site that trained it.
    pub site: String,
    /// Architecture.
    pub arch: String,
    /// Task.
    pub task: String,
    /// The task's held-out score name (`roc_auc`, `accuracy`, `rmse`).
    pub score_name: String,
    /// Its value.
    pub score: f64,
    /// Gate state: `passed`, `failed` or `none`.
    pub gate: String,
    /// Number of approvals.
    pub approvals: i64,
    /// Slot it is deployed to, if any.
    pub deployed: Option<String>,
    /// When it was trained.
    pub created_at: String,
}

/// What a finished run says to the operator, the same for every front end (`airlock train`
/// and the console): warnings for sandbox controls not in force, the note on the device, and
/// the result lines (epochs and speed, the sandbox, the held-out metrics, per slice, the id).
/// Plain text from the run record: a front end escapes it as it prints.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunOutcome {
    /// A sandbox control that was asked for and not in force, one line each.
    pub warnings: Vec<String>,
    /// The device chosen, when there is something to say about it.
    pub note: Option<String>,
    /// The result, one line each.
    pub lines: Vec<String>,
}

/// [`RunOutcome`] of run `id`.
pub fn outcome(id: &Digest, run: &RunRecord) -> RunOutcome {
    let warnings = run
        .sandbox
        .report
        .failures()
        .map(|c| {
            format!(
                "worker sandbox control {} was not in force: {} (recorded in the run record)",
                c.name,
                c.error.as_deref().unwrap_or("unknown")
            )
        })
        .collect();
    let mut lines = Vec::new();
    if let Some(last) = run.history.last() {
        lines.push(format!(
            "{} epochs{}, best {}, last train loss {:.4}, {:.0} rows/s on {} ({})",
            run.history.len(),
            if run.stopped_early {
                " (stopped early)"
            } else {
                ""
            },
            run.best_epoch,
            last.train_loss,
            last.rows_per_second,
            run.device.kind,
            run.device.name
        ));
    }
    let controls = &run.sandbox.report.controls;
    lines.push(format!(
        "sandbox: {} of {} controls in force",
        controls.iter().filter(|c| c.applied).count(),
        controls.iter().filter(|c| c.requested).count()
    ));
    let m = &run.metrics.holdout;
    let figures: Vec<String> = airlock_runtime::METRIC_NAMES
        .iter()
        .filter_map(|n| m.get(n).map(|v| format!("{n} {v:.4}")))
        .collect();
    lines.push(format!(
        "trained {} model {} ({}): held-out {} rows: {}",
        run.spec.task.name(),
        id.short(),
        run.spec.arch.name(),
        m.rows,
        figures.join(", ")
    ));
    let score = run.spec.task.score_name();
    for (slice, m) in &run.metrics.holdout_slices {
        lines.push(format!(
            "  {} = {slice:<20} {:>5} rows  {score} {:.4}",
            run.slice_column.as_deref().unwrap_or("slice"),
            m.rows,
            m.get(score).unwrap_or(f64::NAN)
        ));
    }
    lines.push(format!("model id {id}"));
    RunOutcome {
        warnings,
        note: run.device.note.clone(),
        lines,
    }
}

/// Lists models, newest first.
pub fn list(home: &Home) -> Result<Vec<ModelSummary>> {
    Ok(crate::store::models::list_models(home.store())?
        .into_iter()
        .map(|m| {
            let (task, score_name, score) = summary_score(&m.metrics);
            ModelSummary {
                id: m.id,
                name: m.name,
                site: m.site,
                arch: m.arch,
                task,
                score_name,
                score,
                created_at: m.created_at,
                gate: m.gate,
                approvals: m.approvals,
                deployed: m.deployed,
            }
        })
        .collect())
}

/// (task, score name, score) from a model row's metrics column.
fn summary_score(metrics: &str) -> (String, String, f64) {
    #[derive(Deserialize)]
    struct Row {
        task: String,
        holdout: airlock_runtime::Metrics,
    }
    match serde_json::from_str::<Row>(metrics) {
        Ok(r) => {
            let name = match r.task.as_str() {
                "multiclass" => "accuracy",
                "regression" => "rmse",
                _ => "roc_auc",
            };
            let v = r.holdout.get(name).unwrap_or(f64::NAN);
            (r.task, name.to_owned(), v)
        }
        Err(_) => ("unknown".into(), "roc_auc".into(), f64::NAN),
    }
}

#[cfg(test)]
mod tests;
