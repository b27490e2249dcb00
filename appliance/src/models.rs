//! Training runs and the model registry.
//!
//! `airlock train` loads a dataset snapshot and a feature set version,
//! computes the feature vectors with the feature set's one transform, trains
//! with the runtime on CPU, and stores the weights (safetensors) and a run
//! record in the vault, both signed. The run record's digest is the model's
//! id; it names everything the model came from.

use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;

use airlock_runtime::{Arch, EpochReport, Matrix, Metrics, Model, TrainConfig};

use crate::audit;
use crate::data;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::features::{self, FeatureSetDoc};
use crate::home::Home;
use crate::registry::{self, Kind, NameRef};
use crate::site::SiteName;
use crate::time::Timestamp;

/// Type tag of run records.
pub const RUN_TYPE: &str = "airlock.run/v1";

/// Metrics of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunMetrics {
    /// On the held-out split (what gates check).
    pub holdout: Metrics,
    /// On the training split.
    pub train: Metrics,
}

/// The code that produced a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeVersion {
    /// The airlock crate version.
    pub airlock: String,
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
    /// Architecture.
    pub arch: Arch,
    /// Input width.
    pub n_features: usize,
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
    /// Hyperparameters, seed and split.
    pub config: TrainConfig,
    /// Rows trained on.
    pub train_rows: usize,
    /// Rows held out.
    pub holdout_rows: usize,
    /// Metrics.
    pub metrics: RunMetrics,
    /// Loss and metric history, per epoch.
    pub history: Vec<EpochReport>,
    /// Code version.
    pub code: CodeVersion,
    /// Device (`cpu`).
    pub device: String,
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
}

/// Builds the feature matrix and labels of a dataset with a feature set.
pub fn matrix(fs: &FeatureSetDoc, loaded: &data::Loaded) -> Result<(Matrix, Vec<f32>)> {
    if fs.contract != loaded.doc.contract {
        return Err(Error::Refused(format!(
            "feature set {} was fit for contract {}, but dataset {}@{} follows contract {}",
            fs.reference(),
            fs.contract.short(),
            loaded.doc.name,
            loaded.doc.version,
            loaded.doc.contract.short()
        )));
    }
    let columns = fs.bind(&loaded.contract)?;
    let label_idx = loaded.contract.index_of(&fs.label).ok_or_else(|| {
        Error::Rejected(format!(
            "label column {:?} is not in the contract",
            fs.label
        ))
    })?;
    let mut x = Vec::with_capacity(loaded.rows.len() * fs.width());
    let mut y = Vec::with_capacity(loaded.rows.len());
    for (i, row) in loaded.rows.iter().enumerate() {
        fs.transform(row, &columns, &mut x);
        y.push(fs.label_of(row, label_idx, i + 1)?);
    }
    Ok((Matrix::new(x, loaded.rows.len(), fs.width())?, y))
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
    /// Hyperparameters.
    pub config: TrainConfig,
}

/// Trains a model and registers it.
pub fn train(
    home: &mut Home,
    req: &TrainRequest,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<(Digest, RunRecord)> {
    let started_at = Timestamp::now();
    let loaded = data::load(home, &req.dataset)?;
    let (fs_id, _, _) = registry::resolve(
        &home.conn,
        "feature_sets",
        "feature set",
        home.site(),
        &req.features,
    )?;
    let fs = features::load(home, &fs_id)?;
    let (x, y) = matrix(&fs, &loaded)?;
    let outcome = airlock_runtime::train(&x, &y, &req.config, on_epoch)?;
    let weights = outcome.model.to_safetensors()?;
    let name = match &req.name {
        Some(n) => {
            registry::validate_name(n)?;
            n.clone()
        }
        None => format!("{}-{}", loaded.doc.name, req.config.arch.name()),
    };
    let site = home.site().clone();
    let (conn, vault, keys, _) = home.parts();
    let tx = conn.transaction()?;
    let weights_id = registry::put_object(&tx, vault, keys, &site, Kind::Weights, &weights)?;
    let record = RunRecord {
        ty: RUN_TYPE.into(),
        site: site.clone(),
        name,
        arch: req.config.arch,
        n_features: x.cols(),
        weights: weights_id,
        dataset: loaded.id,
        snapshot: loaded.doc.snapshot,
        feature_set: fs_id,
        feature_set_ref: fs.reference(),
        config: req.config.clone(),
        train_rows: outcome.train_rows,
        holdout_rows: outcome.holdout_rows,
        metrics: RunMetrics {
            holdout: outcome.holdout.clone(),
            train: outcome.train.clone(),
        },
        history: outcome.history.clone(),
        code: CodeVersion {
            airlock: env!("CARGO_PKG_VERSION").into(),
        },
        device: "cpu".into(),
        started_at,
        finished_at: Timestamp::now(),
    };
    let id = registry::put_record(&tx, vault, keys, &site, Kind::Run, &record)?;
    insert_model_row(&tx, &id, &record)?;
    crate::provenance::record(
        &tx,
        vault,
        keys,
        &site,
        "airlock train",
        None,
        &[(Kind::Run, id), (Kind::Weights, weights_id)],
        &record.provenance_inputs(),
    )?;
    audit::append(
        &tx,
        keys,
        "model.train",
        &[id.hex(), weights_id.hex(), loaded.id.hex(), fs_id.hex()],
        json!({ "model": record.name, "arch": record.arch.name(), "feature_set": record.feature_set_ref,
                "seed": record.config.seed, "holdout_auc": record.metrics.holdout.roc_auc }),
    )?;
    tx.commit()?;
    Ok((id, record))
}

/// Indexes a model (also used at bundle import).
pub fn insert_model_row(tx: &rusqlite::Transaction<'_>, id: &Digest, r: &RunRecord) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO models (id, site, name, arch, dataset, feature_set, weights, metrics, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id.hex(),
            r.site.as_str(),
            r.name,
            r.arch.name(),
            r.dataset.hex(),
            r.feature_set.hex(),
            r.weights.hex(),
            serde_json::to_string(&r.metrics.holdout).unwrap_or_default(),
            r.finished_at.to_string()
        ],
    )?;
    Ok(())
}

/// Loads a run record by model id (verifying signature and digest).
pub fn load_run(home: &Home, id: &Digest) -> Result<RunRecord> {
    registry::load_record(&home.conn, home.vault(), Kind::Run, id)
}

/// Loads a model's weights, validating the safetensors file against the
/// architecture declared in its run record before any tensor is used.
pub fn load_model(home: &Home, run: &RunRecord) -> Result<Model> {
    let bytes = home.vault().read(&run.weights, Kind::Weights.max_size())?;
    Ok(Model::from_safetensors(&bytes, run.arch, run.n_features)?)
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
    /// Held-out ROC AUC.
    pub holdout_auc: f64,
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
    let mut stmt = home.conn.prepare(
        "SELECT m.id, m.name, m.site, m.arch, m.metrics, m.created_at,
            (SELECT CASE WHEN MAX(g.passed) = 1 THEN 'passed' WHEN COUNT(g.id) > 0 THEN 'failed' ELSE 'none' END
               FROM gates g WHERE g.model = m.id),
            (SELECT COUNT(*) FROM approvals a WHERE a.model = m.id),
            (SELECT d.slot FROM deployments d WHERE d.model = m.id
               AND d.seq = (SELECT MAX(seq) FROM deployments d2 WHERE d2.slot = d.slot))
         FROM models m ORDER BY m.created_at DESC, m.id",
    )?;
    let rows = stmt.query_map([], |r| {
        let metrics: String = r.get(4)?;
        let auc = serde_json::from_str::<Metrics>(&metrics)
            .map(|m| m.roc_auc)
            .unwrap_or(f64::NAN);
        Ok(ModelSummary {
            id: r.get(0)?,
            name: r.get(1)?,
            site: r.get(2)?,
            arch: r.get(3)?,
            holdout_auc: auc,
            created_at: r.get(5)?,
            gate: r.get(6)?,
            approvals: r.get(7)?,
            deployed: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
