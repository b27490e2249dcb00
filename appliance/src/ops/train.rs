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
    DeviceChoice, DeviceInfo, EpochReport, Evaluation, Matrix, Model, ModelSpec, Split, Task,
    TrainConfig, TrainData,
};

use crate::contract::{ColumnType, Value};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::features::{self, FeatureSetDoc};
use crate::ops::ingest;
use crate::site::SiteName;
use crate::store::{AuditEntry, AuditedTx};
use crate::vault::registry::{self, Kind, NameRef};
use airlock_worker::SandboxRecord;

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

/// Features, labels and class names of a dataset under a feature set, for a task.
pub struct Prepared {
    /// Feature vectors.
    pub x: Matrix,
    /// Labels as the runtime takes them.
    pub y: Vec<f32>,
    /// Class names (see [`RunRecord::classes`]).
    pub classes: Vec<String>,
    /// Slice keys, when a slice column was asked for.
    pub slices: Option<Vec<String>>,
}

/// Checks a feature set fits a dataset's contract and binds it: the feature columns and the
/// label column's position.
fn bind(
    fs: &FeatureSetDoc,
    doc: &ingest::DatasetDoc,
    contract: &crate::contract::Contract,
) -> Result<(airlock_core::features::Bound, usize)> {
    if fs.contract != doc.contract {
        return Err(Error::Refused(format!(
            "feature set {} was fit for contract {}, but dataset {}@{} follows contract {}",
            fs.reference(),
            fs.contract.short(),
            doc.name,
            doc.version,
            doc.contract.short()
        )));
    }
    let columns = fs.bind(contract)?;
    let label_idx = contract.index_of(&fs.label).ok_or_else(|| {
        Error::Rejected(format!(
            "label column {:?} is not in the contract",
            fs.label
        ))
    })?;
    Ok((columns, label_idx))
}

/// What [`prepare`] does to each row, for rows streamed one at a time (`airlock evaluate`
/// reads a dataset so, keeping only the feature vectors, not the typed rows).
pub struct RowPrep<'a> {
    fs: &'a FeatureSetDoc,
    columns: airlock_core::features::Bound,
    label_idx: usize,
    task: Task,
    classes: &'a [String],
}

impl<'a> RowPrep<'a> {
    /// For rows of the dataset `doc` under `contract`, labelled for a model of `task` whose
    /// classes are `classes` (multiclass: the model's, in output order; labels outside them
    /// are refused).
    pub fn new(
        fs: &'a FeatureSetDoc,
        doc: &ingest::DatasetDoc,
        contract: &crate::contract::Contract,
        task: Task,
        classes: &'a [String],
    ) -> Result<Self> {
        let (columns, label_idx) = bind(fs, doc, contract)?;
        let label_col = &contract.columns[label_idx];
        match task {
            Task::Binary if fs.positive.is_empty() => {
                return Err(Error::Rejected(format!(
                    "feature set {} names no positive label value; a binary model needs one",
                    fs.reference()
                )));
            }
            Task::Regression
                if !matches!(label_col.ty, ColumnType::Integer | ColumnType::Float) =>
            {
                return Err(Error::Rejected(format!(
                    "label column {:?} is {}; regression needs an integer or float label",
                    fs.label,
                    label_col.ty.name()
                )));
            }
            _ => {}
        }
        Ok(RowPrep {
            fs,
            columns,
            label_idx,
            task,
            classes,
        })
    }

    /// Appends the feature vector of `row` (row number `row_no`, for errors) to `x` and its
    /// label to `y`.
    pub fn push(
        &self,
        row: &[Value],
        row_no: usize,
        x: &mut Vec<f32>,
        y: &mut Vec<f32>,
    ) -> Result<()> {
        let missing = || {
            Error::Rejected(format!(
                "row {row_no}: label column {:?} is missing; training needs every label",
                self.fs.label
            ))
        };
        let label = match self.task {
            Task::Binary => self.fs.label_of(row, self.label_idx, row_no)?,
            Task::Regression => match &row[self.label_idx] {
                Value::Int(v) => *v as f32,
                Value::Float(v) => *v as f32,
                _ => return Err(missing()),
            },
            Task::Multiclass { .. } => {
                let v = match &row[self.label_idx] {
                    Value::Null => return Err(missing()),
                    v => v.canonical(),
                };
                self.classes.iter().position(|c| *c == v).ok_or_else(|| {
                    Error::Rejected(format!("row {row_no}: label {v:?} is not a known class"))
                })? as f32
            }
        };
        self.fs.transform(row, &self.columns, x);
        y.push(label);
        Ok(())
    }
}

/// Most classes a multiclass label may have.
pub const MAX_CLASSES: usize = 1000;

/// The own name of a binary label's negative class, where it is known: the
/// other of the contract's two categories, the other integer of a range of
/// two (`min = 0`, `max = 1`), or, where the contract does not bound the
/// label's values, the one other value the training rows hold. `None` when
/// the negative class is more than one value (or none): predictions then
/// say `not POSITIVE`.
pub fn negative_class(
    label: &crate::contract::Column,
    positive: &str,
    rows: &[Vec<Value>],
    label_idx: usize,
) -> Option<String> {
    let other = |values: Vec<String>| -> Option<String> {
        match values.as_slice() {
            [a, b] if a == positive => Some(b.clone()),
            [a, b] if b == positive => Some(a.clone()),
            _ => None,
        }
    };
    if let Some(cats) = &label.categories {
        return other(cats.clone());
    }
    if label.ty == ColumnType::Integer
        && let (Some(lo), Some(hi)) = (label.min, label.max)
    {
        // The contract bounds the values: two of them, or more than one
        // negative value.
        let (lo, hi) = (lo.ceil(), hi.floor());
        return (hi - lo == 1.0).then(|| other(vec![format!("{lo}"), format!("{hi}")]))?;
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in rows {
        match r.get(label_idx) {
            Some(Value::Null) | None => {}
            Some(v) => {
                seen.insert(v.canonical());
                if seen.len() > 2 {
                    return None;
                }
            }
        }
    }
    other(seen.into_iter().collect())
}

/// Builds the feature matrix and labels of a dataset with a feature set, for `task` (the
/// class count of a multiclass task is found here), with slice keys from `slice_column`.
pub fn prepare(
    fs: &FeatureSetDoc,
    loaded: &ingest::Loaded,
    task: &mut Task,
    slice_column: Option<&str>,
) -> Result<Prepared> {
    prepare_with(
        fs,
        &loaded.doc,
        &loaded.contract,
        task,
        slice_column,
        &mut |each| {
            for (i, row) in loaded.rows.iter().enumerate() {
                each(i as u64 + 1, row)?;
            }
            Ok(())
        },
    )
}

/// [`prepare`] of the dataset whose record is `id`, straight from its snapshot as it streams:
/// each row is parsed, labelled and transformed into the one feature matrix and dropped, so
/// the typed rows are never held (they took six times the matrix's memory). Also returns the
/// dataset's record.
pub fn prepare_streamed(
    home: &Home,
    id: &Digest,
    fs: &FeatureSetDoc,
    task: &mut Task,
    slice_column: Option<&str>,
) -> Result<(Prepared, ingest::DatasetDoc)> {
    let doc: ingest::DatasetDoc = registry::load(home.store(), home.vault(), id)?;
    let contract = crate::ops::contract::load_contract(home, &doc.contract)?;
    let prepared = prepare_with(fs, &doc, &contract, task, slice_column, &mut |each| {
        ingest::stream_rows_by_id(home, id, &mut |n, row| each(n, row)).map(|_| ())
    })?;
    Ok((prepared, doc))
}

/// Rows handed to [`prepare_with`]'s `each`: row number from 1 and the typed row.
type EachRow<'a> = dyn FnMut(u64, &[Value]) -> Result<()> + 'a;

/// [`prepare`] of the rows `feed` hands to the function it is given, in order, of dataset
/// `doc` under `contract`. Nothing of a row is kept but its feature vector (appended to the
/// one matrix), its label, its slice key, and, for a binary label, the first three distinct
/// label values (all [`negative_class`] needs). Classes of a multiclass label whose contract
/// does not list them are numbered as first seen and renumbered in sorted order at the end.
fn prepare_with(
    fs: &FeatureSetDoc,
    doc: &ingest::DatasetDoc,
    contract: &crate::contract::Contract,
    task: &mut Task,
    slice_column: Option<&str>,
    feed: &mut dyn FnMut(&mut EachRow<'_>) -> Result<()>,
) -> Result<Prepared> {
    let (columns, label_idx) = bind(fs, doc, contract)?;
    let slice_idx = match slice_column {
        Some(c) => Some(contract.index_of(c).ok_or_else(|| {
            Error::Rejected(format!(
                "slice column {c:?} is not in contract {} v{}",
                contract.name, contract.version
            ))
        })?),
        None => None,
    };
    let label_col = &contract.columns[label_idx];
    let missing = |row: u64| {
        Error::Rejected(format!(
            "row {row}: label column {:?} is missing; training needs every label",
            fs.label
        ))
    };
    let too_few = |n: usize| {
        Error::Rejected(format!(
            "label column {:?} has {n} classes; multiclass needs at least 3 (train a binary \
             model for 2)",
            fs.label
        ))
    };
    // Multiclass: the contract's categories when it lists them (stable across datasets), else
    // the values seen, sorted.
    let mut listed: Option<&[String]> = None;
    match task {
        Task::Binary if fs.positive.is_empty() => {
            return Err(Error::Rejected(format!(
                "feature set {} names no positive label value; a binary model needs one \
                 (or train with --task multiclass)",
                fs.reference()
            )));
        }
        Task::Binary => {}
        Task::Regression => {
            if !matches!(label_col.ty, ColumnType::Integer | ColumnType::Float) {
                return Err(Error::Rejected(format!(
                    "label column {:?} is {}; regression needs an integer or float label",
                    fs.label,
                    label_col.ty.name()
                )));
            }
        }
        Task::Multiclass { .. } => {
            if let Some(c) = &label_col.categories {
                if c.len() < 3 {
                    return Err(too_few(c.len()));
                }
                listed = Some(c);
            }
        }
    }
    // The record's row count sizes the buffers (bounded by the snapshot's size, so a wrong
    // count cannot ask for more than the data could fill).
    let expected = usize::try_from(doc.rows.min(doc.snapshot_size)).unwrap_or(0);
    let width = fs.width();
    let mut x: Vec<f32> = Vec::with_capacity(expected.saturating_mul(width));
    let mut y: Vec<f32> = Vec::with_capacity(expected);
    let mut slices = slice_idx.map(|_| Vec::with_capacity(expected));
    let mut rows = 0usize;
    // Binary: the first three distinct label values, each as a one-column row.
    let mut distinct = std::collections::BTreeSet::new();
    let mut label_values: Vec<Vec<Value>> = Vec::new();
    // Multiclass, classes not listed: index by first appearance.
    let mut found: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let row_task = *task;
    feed(&mut |n, row| {
        let label = match row_task {
            Task::Binary => {
                let v = &row[label_idx];
                if distinct.len() < 3 && !matches!(v, Value::Null) && distinct.insert(v.canonical())
                {
                    label_values.push(vec![v.clone()]);
                }
                fs.label_of(row, label_idx, n as usize)?
            }
            Task::Regression => match &row[label_idx] {
                Value::Int(v) => *v as f32,
                Value::Float(v) => *v as f32,
                _ => return Err(missing(n)),
            },
            Task::Multiclass { .. } => {
                let v = match &row[label_idx] {
                    Value::Null => return Err(missing(n)),
                    v => v.canonical(),
                };
                match listed {
                    Some(classes) => classes.iter().position(|c| *c == v).ok_or_else(|| {
                        Error::Rejected(format!("row {n}: label {v:?} is not a known class"))
                    })? as f32,
                    None => {
                        let next = found.len();
                        let i = *found.entry(v).or_insert(next);
                        if found.len() > MAX_CLASSES {
                            return Err(Error::Rejected(format!(
                                "label column {:?} has more than {MAX_CLASSES} values; too \
                                 many classes",
                                fs.label
                            )));
                        }
                        i as f32
                    }
                }
            }
        };
        fs.transform(row, &columns, &mut x);
        y.push(label);
        if let (Some(s), Some(idx)) = (slices.as_mut(), slice_idx) {
            s.push(airlock_core::slice::group_of(&row[idx], &[]));
        }
        rows += 1;
        Ok(())
    })?;
    let classes: Vec<String> = match task {
        Task::Binary => {
            let negative = negative_class(label_col, &fs.positive, &label_values, 0)
                .unwrap_or_else(|| format!("not {}", fs.positive));
            vec![negative, fs.positive.clone()]
        }
        Task::Regression => Vec::new(),
        Task::Multiclass { .. } => {
            let classes = match listed {
                Some(c) => c.to_vec(),
                None => {
                    // Renumber the classes from order of appearance to sorted order.
                    let mut names: Vec<(String, usize)> = found.into_iter().collect();
                    names.sort();
                    let mut renumber = vec![0f32; names.len()];
                    for (new, (_, first_seen)) in names.iter().enumerate() {
                        renumber[*first_seen] = new as f32;
                    }
                    for label in &mut y {
                        *label = renumber[*label as usize];
                    }
                    names.into_iter().map(|(name, _)| name).collect()
                }
            };
            if classes.len() < 3 {
                return Err(too_few(classes.len()));
            }
            *task = Task::Multiclass {
                classes: classes.len(),
            };
            classes
        }
    };
    Ok(Prepared {
        x: Matrix::new(x, rows, width)?,
        y,
        classes,
        slices,
    })
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
mod tests {
    use super::*;
    use crate::contract::Contract;

    fn label(column: &str) -> crate::contract::Column {
        let c = Contract::from_toml(
            &format!("name='t'\nversion=1\n[[columns]]\nname='y'\n{column}\n"),
            "t",
        )
        .expect("contract");
        c.columns[0].clone()
    }

    fn rows(values: &[Value]) -> Vec<Vec<Value>> {
        values.iter().map(|v| vec![v.clone()]).collect()
    }

    #[test]
    fn the_negative_class_is_named_where_the_contract_or_the_data_knows_it() {
        let cats = label("type='category'\ncategories=['good', 'bad']");
        assert_eq!(
            negative_class(&cats, "bad", &[], 0).as_deref(),
            Some("good"),
            "the contract's other category"
        );
        let range = label("type='integer'\nmin=0\nmax=1");
        assert_eq!(
            negative_class(&range, "1", &[], 0).as_deref(),
            Some("0"),
            "the other integer of a range of two"
        );
        let open = label("type='integer'\nmin=0\nnullable=true");
        let seen = rows(&[Value::Int(2), Value::Null, Value::Int(1), Value::Int(2)]);
        assert_eq!(
            negative_class(&open, "2", &seen, 0).as_deref(),
            Some("1"),
            "the one other value of the training rows"
        );
    }

    #[test]
    fn a_negative_class_of_several_values_is_not_named() {
        let three = label("type='category'\ncategories=['a', 'b', 'c']");
        assert_eq!(negative_class(&three, "a", &[], 0), None);
        let open = label("type='string'");
        let seen = rows(&[
            Value::Text("x".into()),
            Value::Text("y".into()),
            Value::Text("z".into()),
        ]);
        assert_eq!(negative_class(&open, "x", &seen, 0), None);
        let wide = label("type='integer'\nmin=0\nmax=5");
        let two = rows(&[Value::Int(0), Value::Int(1)]);
        assert_eq!(
            negative_class(&wide, "1", &two, 0),
            None,
            "the contract allows more negative values than the rows hold"
        );
        let cats = label("type='category'\ncategories=['good', 'bad']");
        assert_eq!(
            negative_class(&cats, "ugly", &[], 0),
            None,
            "a positive value that is not a category"
        );
    }
}
