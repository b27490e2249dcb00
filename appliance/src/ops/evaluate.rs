//! `airlock evaluate`: a model scored on a dataset it was not trained on, with everything a
//! reviewer asks before the model touches a decision about a person, as one signed record.
//!
//! The dataset is an ingested snapshot under the model's contract (so its rows passed the
//! same checks as training data); its features come from the model's own frozen feature set
//! (the one transform), and its labels from the feature set's label column. The record holds:
//! every metric of the task; the confusion matrix at the decision threshold (binary models:
//! 0.5 unless `--threshold` chooses another from the sweep; it is recorded, and a model gated
//! on the evaluation is served at it) and a threshold sweep; calibration (in the metrics: reliability bins and Brier);
//! permutation feature importance; per-slice figures for the columns named with `--slice-by`
//! (row count, metrics, a 95% Wilson interval for accuracy, and a flag on slices under the
//! minimum size, whose figures are not to be trusted); group fairness for the sensitive
//! attributes named with `--sensitive` (binary models); and accuracy under bounded
//! perturbations of the numeric features (seeded noise and FGSM). The record is signed by the
//! site, bound to the model, the dataset record and its snapshot, stored in the vault, listed by
//! `airlock models show`, and exported with the model.

use serde::{Deserialize, Serialize};
use serde_json::json;

use airlock_core::contract::Value;
use airlock_core::features::Fitted;
use airlock_core::record::Record;
use airlock_runtime::{
    Confusion, Fairness, Importance, MAX_SLICES, Matrix, Metrics, Perturbation, RobustAccuracy,
    Task, ThresholdPoint, class_confusion, confusion, evaluate as metrics_of,
    evaluate_slices_coded, fairness_coded, permutation_importance, robust_accuracy,
    threshold_sweep,
};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::contract;
use crate::ops::features;
use crate::ops::ingest;
use crate::ops::train;
use crate::site::SiteName;
use crate::store::AuditEntry;
use crate::vault::registry::{self, Kind, NameRef};
use airlock_core::slice::group_of;

/// Type tag of evaluation records.
pub const EVALUATION_TYPE: &str = "airlock.evaluation/v1";

/// Steps of the threshold sweep when none are given.
pub const DEFAULT_THRESHOLD_STEPS: usize = 20;

/// Shuffles per feature for permutation importance when none are given.
pub const DEFAULT_IMPORTANCE_REPEATS: usize = 5;

/// Seed of importance and noise when none is given.
pub const DEFAULT_SEED: u64 = 42;

/// The decision threshold of binary models when none is chosen.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// Slices with fewer rows are flagged (and a gate policy decides whether they are judged).
pub const DEFAULT_MIN_SLICE_ROWS: usize = 30;

/// One value of a sliced column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceGroup {
    /// The column's value (or band).
    pub value: String,
    /// Rows with it.
    pub rows: usize,
    /// Metrics on those rows.
    pub metrics: Metrics,
    /// 95% Wilson interval of the accuracy (classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_interval: Option<[f64; 2]>,
    /// Fewer rows than the minimum: reported, not to be trusted.
    pub small: bool,
}

/// Figures per value of one column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceReport {
    /// The contract column sliced on.
    pub column: String,
    /// Its values, sorted.
    pub groups: Vec<SliceGroup>,
}

/// Group fairness for one sensitive attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FairnessReport {
    /// The contract column.
    pub attribute: String,
    /// Cut points of a numeric attribute (bands `<=a`, `a-b`, `>b`); empty: raw values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cuts: Vec<f64>,
    /// The figures, from the decisions at the model's threshold.
    pub fairness: Fairness,
}

/// The signed record of `airlock evaluate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationRecord {
    /// Always [`EVALUATION_TYPE`].
    #[serde(rename = "type")]
    pub ty: String,
    /// The site that ran it.
    pub site: SiteName,
    /// The model evaluated (its run record's id).
    pub model: Digest,
    /// The dataset record evaluated on.
    pub dataset: Digest,
    /// `name@version` of that dataset.
    pub dataset_ref: String,
    /// Its raw snapshot.
    pub snapshot: Digest,
    /// The feature set used (the model's).
    pub feature_set: Digest,
    /// Rows evaluated.
    pub rows: usize,
    /// Every metric of the task, with calibration.
    pub metrics: Metrics,
    /// The decision threshold (binary models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The confusion at the threshold (binary models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confusion: Option<Confusion>,
    /// `[true][predicted]` counts (multiclass models).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_confusion: Vec<Vec<usize>>,
    /// Precision, recall, F1 and positive rate by threshold (binary models).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sweep: Vec<ThresholdPoint>,
    /// The metric permutation importance is measured by.
    pub importance_metric: String,
    /// Permutation importance per feature.
    pub importance: Vec<Importance>,
    /// The minimum slice size.
    pub min_slice_rows: usize,
    /// Per-slice figures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<SliceReport>,
    /// Fairness per sensitive attribute.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fairness: Vec<FairnessReport>,
    /// Accuracy under bounded perturbations of the numeric features (classification).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub robustness: Vec<RobustAccuracy>,
    /// The seed of importance and noise.
    pub seed: u64,
    /// When.
    pub created_at: Timestamp,
}

impl Record for EvaluationRecord {
    const KIND: Kind = Kind::Evaluation;
}

/// A sensitive attribute: a contract column, with cut points when it is numeric.
#[derive(Clone, Debug, PartialEq)]
pub struct Sensitive {
    /// The column.
    pub column: String,
    /// Cut points (ascending); empty for raw values.
    pub cuts: Vec<f64>,
}

impl std::str::FromStr for Sensitive {
    type Err = Error;

    /// `COLUMN` or `COLUMN:CUT[,CUT...]` (e.g. `age:25`).
    fn from_str(s: &str) -> Result<Self> {
        let (column, cuts) = match s.split_once(':') {
            None => (s, Vec::new()),
            Some((c, cuts)) => {
                let cuts = cuts
                    .split(',')
                    .map(|v| v.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        Error::Rejected(format!(
                            "--sensitive {s:?}: cut points are numbers, e.g. age:25 or age:25,60"
                        ))
                    })?;
                if cuts.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(Error::Rejected(format!(
                        "--sensitive {s:?}: cut points must rise"
                    )));
                }
                (c, cuts)
            }
        };
        if column.is_empty() {
            return Err(Error::Rejected(format!(
                "--sensitive {s:?}: name a contract column"
            )));
        }
        Ok(Sensitive {
            column: column.to_owned(),
            cuts,
        })
    }
}

/// Options of `airlock evaluate`.
#[derive(Clone, Debug)]
pub struct EvaluateRequest {
    /// The model.
    pub model: Digest,
    /// The dataset, `[SITE/]NAME[@V]`.
    pub dataset: NameRef,
    /// Columns to slice by.
    pub slice_by: Vec<String>,
    /// Sensitive attributes.
    pub sensitive: Vec<Sensitive>,
    /// Slices under this many rows are flagged.
    pub min_slice_rows: usize,
    /// The decision threshold of a binary model (confusion and fairness are taken at it).
    pub threshold: f64,
    /// Steps of the threshold sweep.
    pub threshold_steps: usize,
    /// Repeats of permutation importance.
    pub importance_repeats: usize,
    /// Bound of the robustness checks, in standardized units.
    pub epsilon: f64,
    /// Seed of importance and noise.
    pub seed: u64,
}

/// 95% Wilson score interval of `k` successes in `n`.
fn wilson(k: usize, n: usize) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let z = 1.959_963_984_540_054_f64;
    let (n, p) = (n as f64, k as f64 / n as f64);
    let den = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / den;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / den;
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// The dataset name `evaluate --file` ingests under when none is given: the contract's name
/// and `-eval` (`german-eval`), apart from the training data's own versions.
pub fn default_dataset_name(contract: &str) -> String {
    let stem: String = contract.chars().take(64 - "-eval".len()).collect();
    format!("{stem}-eval")
}

/// Ingests `file` for `evaluate --file`: a normal ingest (checked, stored, audited as
/// `data.ingest`, or refused and audited as `data.refused`) under the contract of `model`'s
/// feature set, whichever site registered it, as the next version of dataset `name` (by
/// default [`default_dataset_name`]). Returns what the ingest did; the evaluation then runs
/// on `NAME@VERSION`.
pub fn ingest_file(
    home: &mut Home,
    model: &Digest,
    file: &std::path::Path,
    name: Option<&str>,
    format: Option<ingest::Format>,
) -> Result<ingest::Ingested> {
    let run = train::load_run(home, model)?;
    let fs = features::load(home, &run.feature_set)?;
    let name = match name {
        Some(n) => n.to_string(),
        None => default_dataset_name(&contract::load_contract(home, &fs.contract)?.name),
    };
    ingest::ingest(
        home,
        file,
        &name,
        &contract::ContractSource::Id(fs.contract),
        &ingest::IngestOptions {
            quarantine: None,
            format,
        },
        &mut |_| {},
    )
}

/// Each row's group of one column, as a small index into the group names, interned as the rows
/// stream by: a million rows keep a million integers, not a million strings.
struct Grouper {
    /// The column.
    idx: usize,
    /// Cut points of a numeric column.
    cuts: Vec<f64>,
    /// Most groups allowed (a slice column's cap): one more makes [`Grouper::push`] say so.
    cap: usize,
    /// The group names, in order of first appearance.
    names: Vec<String>,
    /// Name to index.
    index: std::collections::HashMap<String, u32>,
    /// Each band's index, once seen (numeric columns with cut points).
    bands: Vec<Option<u32>>,
    /// Each row's group.
    codes: Vec<u32>,
}

impl Grouper {
    fn new(idx: usize, cuts: &[f64], cap: usize) -> Self {
        Grouper {
            idx,
            cuts: cuts.to_vec(),
            cap,
            names: Vec::new(),
            index: std::collections::HashMap::new(),
            bands: vec![None; cuts.len() + 1],
            codes: Vec::new(),
        }
    }

    fn intern(&mut self, name: &str) -> Option<u32> {
        if let Some(&c) = self.index.get(name) {
            return Some(c);
        }
        if self.names.len() >= self.cap {
            return None;
        }
        let c = u32::try_from(self.names.len()).ok()?;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), c);
        Some(c)
    }

    /// Files `row` under its group ([`group_of`]); `None` when that would be one group more
    /// than the cap.
    fn push(&mut self, row: &[Value]) -> Option<()> {
        let v = &row[self.idx];
        let code = match v {
            Value::Text(s) => self.intern(s)?,
            Value::Int(_) | Value::Float(_) if !self.cuts.is_empty() => {
                let x = match v {
                    Value::Int(i) => *i as f64,
                    Value::Float(f) => *f,
                    _ => 0.0,
                };
                let band = self
                    .cuts
                    .iter()
                    .position(|c| x <= *c)
                    .unwrap_or(self.cuts.len());
                match self.bands[band] {
                    Some(c) => c,
                    None => {
                        let c = self.intern(&group_of(v, &self.cuts))?;
                        self.bands[band] = Some(c);
                        c
                    }
                }
            }
            other => self.intern(&group_of(other, &self.cuts))?,
        };
        self.codes.push(code);
        Some(())
    }
}

/// Evaluates a model on a dataset and stores the signed record, with its provenance and audit
/// record (`model.evaluate`).
///
/// The dataset is streamed from its snapshot: what is kept of a row is its feature vector, its
/// label, the model's outputs and its slice and group indices, `4 × (inputs + outputs + 1 +
/// columns grouped)` bytes, never the typed row. Permutation importance adds its permutations
/// (4 bytes a row for each repeat) and, per thread, the shuffled outputs and their ranking
/// (about 24 bytes a row for a binary model); robustness one chunk of rows per thread. At a
/// million rows of 40 inputs that is about 250 MiB in all (docs/benchmarks.md).
pub fn run(home: &mut Home, req: &EvaluateRequest) -> Result<(Digest, EvaluationRecord)> {
    let run = train::load_run(home, &req.model)?;
    let model = train::load_model(home, &run)?;
    let fs = features::load(home, &run.feature_set)?;
    let (dataset_id, doc) = ingest::show(home, &req.dataset)?;
    let contract = contract::load_contract(home, &doc.contract)?;
    let task = run.spec.task;
    let column = |name: &str| {
        contract.index_of(name).ok_or_else(|| {
            Error::Rejected(format!(
                "column {name:?} is not in contract {} v{}",
                contract.name, contract.version
            ))
        })
    };
    let binary = task == Task::Binary;
    if !req.sensitive.is_empty() && !binary {
        return Err(Error::Rejected(
            "--sensitive: group fairness is computed for binary models".into(),
        ));
    }
    // One grouper per slice column (capped: more slices than the runtime reports is refused
    // while reading) and per sensitive attribute.
    let mut groupers = Vec::new();
    for name in &req.slice_by {
        groupers.push(Grouper::new(column(name)?, &[], MAX_SLICES + 1));
    }
    for s in &req.sensitive {
        groupers.push(Grouper::new(column(&s.column)?, &s.cuts, usize::MAX));
    }
    let prep = train::RowPrep::new(&fs, &doc, &contract, task, &run.classes)?;
    let width = fs.width();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    ingest::stream_by_id(home, &dataset_id, &mut |n, row| {
        prep.push(&row, n as usize, &mut x, &mut y)?;
        for (k, g) in groupers.iter_mut().enumerate() {
            if g.push(&row).is_none() {
                return Err(Error::Rejected(format!(
                    "--slice-by {}: slices: more than {MAX_SLICES} distinct values; slice on a column with fewer",
                    req.slice_by[k]
                )));
            }
        }
        Ok(())
    })?;
    let rows = y.len();
    let x = Matrix::new(x, rows, width)?;
    let (slice_groups, sensitive_groups) = groupers.split_at(req.slice_by.len());

    let outputs = model.predict(&x)?;
    let metrics = metrics_of(&outputs, &y)?;
    if !(0.0..=1.0).contains(&req.threshold) {
        return Err(Error::Rejected(format!(
            "--threshold {}: a decision threshold is a probability, from 0 to 1",
            req.threshold
        )));
    }
    let threshold = binary.then_some(req.threshold);
    let (confusion_at, sweep) = if binary {
        (
            Some(confusion(&outputs.values, &y, req.threshold)?),
            threshold_sweep(&outputs.values, &y, req.threshold_steps)?,
        )
    } else {
        (None, Vec::new())
    };
    let class_conf = match task {
        Task::Multiclass { .. } => class_confusion(&outputs, &y)?,
        _ => Vec::new(),
    };

    // Features as groups of model inputs, for importance and robustness.
    let mut groups = Vec::with_capacity(fs.features.len());
    let mut numeric = Vec::new();
    let mut offset = 0;
    for f in &fs.features {
        let w = f.width();
        groups.push((
            f.columns().join("*"),
            (offset..offset + w).collect::<Vec<_>>(),
        ));
        if matches!(f, Fitted::Numeric { .. }) {
            numeric.push(offset);
        }
        offset += w;
    }
    let importance_metric = match task {
        Task::Binary => "roc_auc",
        Task::Multiclass { .. } => "accuracy",
        Task::Regression => "rmse",
    };
    let importance = permutation_importance(
        &model,
        &x,
        &y,
        &groups,
        importance_metric,
        req.importance_repeats,
        req.seed,
    )?;

    let mut slices = Vec::new();
    for (name, g) in req.slice_by.iter().zip(slice_groups) {
        // The runtime groups the rows (and caps the slice count) as it does for training's
        // held-out slices.
        let by = evaluate_slices_coded(&outputs, &y, &g.codes, &g.names)
            .map_err(|e| Error::Rejected(format!("--slice-by {name}: {e}")))?;
        slices.push(SliceReport {
            column: name.clone(),
            groups: by
                .into_iter()
                .map(|(value, metrics)| {
                    let rows = metrics.rows;
                    // Accuracy is a share of these rows: the count right is exact after rounding.
                    let right = metrics.accuracy.map(|a| (a * rows as f64).round() as usize);
                    SliceGroup {
                        accuracy_interval: right.map(|k| wilson(k, rows)),
                        small: rows < req.min_slice_rows,
                        rows,
                        metrics,
                        value,
                    }
                })
                .collect(),
        });
    }

    let mut fairness_reports = Vec::new();
    if !req.sensitive.is_empty() {
        let decided: Vec<bool> = outputs
            .values
            .iter()
            .map(|&p| f64::from(p) >= req.threshold)
            .collect();
        for (s, g) in req.sensitive.iter().zip(sensitive_groups) {
            fairness_reports.push(FairnessReport {
                attribute: s.column.clone(),
                cuts: s.cuts.clone(),
                fairness: fairness_coded(&decided, &y, &g.codes, &g.names)?,
            });
        }
    }

    let mut robustness = Vec::new();
    if task != Task::Regression && !numeric.is_empty() {
        for p in [Perturbation::Noise, Perturbation::Fgsm] {
            robustness.push(robust_accuracy(
                &model,
                &x,
                &y,
                &numeric,
                p,
                req.epsilon,
                req.seed,
            )?);
        }
    }

    let site = home.site().clone();
    let record = EvaluationRecord {
        ty: EVALUATION_TYPE.into(),
        site: site.clone(),
        model: req.model,
        dataset: dataset_id,
        dataset_ref: format!("{}@{}", doc.name, doc.version),
        snapshot: doc.snapshot,
        feature_set: run.feature_set,
        rows,
        metrics,
        threshold,
        confusion: confusion_at,
        class_confusion: class_conf,
        sweep,
        importance_metric: importance_metric.into(),
        importance,
        min_slice_rows: req.min_slice_rows,
        slices,
        fairness: fairness_reports,
        robustness,
        seed: req.seed,
        created_at: home.now(),
    };
    let tx = home.begin()?;
    let id = registry::put_record(&tx, &record)?;
    crate::ops::provenance::record(
        &tx,
        "airlock evaluate",
        None,
        &[(Kind::Evaluation, id)],
        &[
            ("run", req.model),
            ("dataset", record.dataset),
            ("feature-set", record.feature_set),
        ],
    )?;
    tx.commit(AuditEntry::new(
        "model.evaluate",
        &[id.hex(), req.model.hex()],
        json!({ "dataset": record.dataset_ref, "rows": record.rows }),
    ))?;
    Ok((id, record))
}

/// The evaluations of `model` held here (made here or carried in), by id.
pub fn ids_for(home: &Home, model: &Digest) -> Result<Vec<Digest>> {
    Ok(list_for(home, model)?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

/// The evaluations of `model` held here, each verified, oldest first.
pub fn list_for(home: &Home, model: &Digest) -> Result<Vec<(Digest, EvaluationRecord)>> {
    let mut out = Vec::new();
    for id in crate::store::objects::ids_of_kind(home.store(), Kind::Evaluation)? {
        let r: EvaluationRecord = registry::load(home.store(), home.vault(), &id)?;
        if r.model == *model {
            out.push((id, r));
        }
    }
    out.sort_by_key(|(_, r)| r.created_at);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_bracket_the_rate() {
        let [lo, hi] = wilson(5, 5);
        assert!(lo > 0.5 && lo < 0.6 && hi == 1.0, "{lo} {hi}");
        let [lo, hi] = wilson(50, 100);
        assert!(
            (lo - 0.4038).abs() < 1e-3 && (hi - 0.5962).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0), [0.0, 1.0]);
    }

    #[test]
    fn groupers_file_rows_under_the_groups_group_of_names() {
        let cuts = [25.0, 60.0];
        let rows = [
            Value::Int(20),
            Value::Int(30),
            Value::Null,
            Value::Int(70),
            Value::Int(25),
            Value::Float(61.5),
            Value::Text("A93".into()),
            Value::Int(31),
        ]
        .map(|v| vec![v]);
        for cuts in [&cuts[..], &[]] {
            let mut g = Grouper::new(0, cuts, usize::MAX);
            for r in &rows {
                assert!(g.push(r).is_some());
            }
            let named: Vec<&str> = g
                .codes
                .iter()
                .map(|&c| g.names[c as usize].as_str())
                .collect();
            let want: Vec<String> = rows.iter().map(|r| group_of(&r[0], cuts)).collect();
            assert_eq!(named, want);
            assert_eq!(g.names.len(), if cuts.is_empty() { 8 } else { 5 });
        }
        // One group more than the cap is refused.
        let mut g = Grouper::new(0, &[], 2);
        for t in ["a", "b", "a"] {
            assert!(g.push(&[Value::Text(t.into())]).is_some());
        }
        assert!(g.push(&[Value::Text("c".into())]).is_none());
    }

    #[test]
    fn numeric_attributes_fall_into_bands() {
        let cuts = [25.0, 60.0];
        assert_eq!(group_of(&Value::Int(25), &cuts), "<=25");
        assert_eq!(group_of(&Value::Int(30), &cuts), "25-60");
        assert_eq!(group_of(&Value::Float(61.5), &cuts), ">60");
        assert_eq!(group_of(&Value::Null, &cuts), "(missing)");
        assert_eq!(group_of(&Value::Text("A93".into()), &[]), "A93");
        assert!("age:25,60".parse::<Sensitive>().is_ok());
        assert!("age:60,25".parse::<Sensitive>().is_err());
        assert!("age:x".parse::<Sensitive>().is_err());
        assert!(":25".parse::<Sensitive>().is_err());
    }
}
