//! The Training screen's data: every training run (each model is one, its run record
//! signed), and a run's settings, its loss and score per epoch from the record's history, and
//! its held-out metrics per slice, loaded with the calls `airlock models list` and
//! `models show` make. Read-only.

use airlock::digest::Digest;
use airlock::node::home::Home;
use airlock::ops::train::{self, RunRecord};
use airlock_runtime::{Arch, ClassWeights, Schedule, Task};

use crate::shown::Shown;

/// One training run in the list.
#[derive(Clone, Debug)]
pub struct RunRow {
    /// The run record's id (the model's id).
    pub id: Shown,
    /// The same, for the library.
    pub id_hex: String,
    /// The model's name.
    pub name: Shown,
    /// The site that trained it.
    pub site: Shown,
    /// `binary mlp 16`.
    pub what: Shown,
    /// Epochs run.
    pub epochs: usize,
    /// The epoch whose weights the model holds.
    pub best: usize,
    /// Whether early stopping ended it.
    pub stopped_early: bool,
    /// The device it trained on.
    pub device: Shown,
    /// When it finished.
    pub finished: Shown,
}

impl RunRow {
    /// Whether the id, name, site or kind contains `needle` (case-insensitive).
    pub fn matches(&self, needle: &str) -> bool {
        [&self.id, &self.name, &self.site, &self.what]
            .iter()
            .any(|s| s.matches(needle))
    }
}

/// One epoch of a run's history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochPoint {
    /// Its number, from 1.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Validation loss after it.
    pub validation_loss: f64,
    /// The task's validation score after it.
    pub validation_score: f64,
}

/// The held-out metrics of one slice.
#[derive(Clone, Debug)]
pub struct SliceRow {
    /// The slice's key (the slice column's value).
    pub key: Shown,
    /// Held-out rows in it.
    pub rows: usize,
    /// The figures of [`RunDetail::slice_metrics`], in that order (`None`: not computed).
    pub values: Vec<Option<f64>>,
}

/// A run's detail.
#[derive(Clone, Debug)]
pub struct RunDetail {
    /// Its row.
    pub row: RunRow,
    /// Settings and split, as label and value.
    pub settings: Vec<(&'static str, Shown)>,
    /// The task's score name (`roc_auc`, `accuracy`, `rmse`).
    pub score_name: &'static str,
    /// Loss and score per epoch.
    pub history: Vec<EpochPoint>,
    /// The slice column, when the run was given one.
    pub slice_column: Option<Shown>,
    /// The figures shown per slice.
    pub slice_metrics: Vec<&'static str>,
    /// Held-out metrics per slice, by key.
    pub slices: Vec<SliceRow>,
}

fn what(run: &RunRecord) -> String {
    let arch = match &run.spec.arch {
        Arch::Logreg => "logreg".to_string(),
        Arch::Mlp {
            hidden, activation, ..
        } => format!(
            "mlp {} {}",
            hidden
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("-"),
            activation.name()
        ),
    };
    format!("{} {arch}", run.spec.task.name())
}

fn row(id: &Digest, run: &RunRecord) -> RunRow {
    RunRow {
        id: Shown::new(&id.hex()),
        id_hex: id.hex(),
        name: Shown::new(&run.name),
        site: Shown::of(&run.site),
        what: Shown::new(&what(run)),
        epochs: run.history.len(),
        best: run.best_epoch,
        stopped_early: run.stopped_early,
        device: Shown::new(&run.device.kind),
        finished: Shown::of(run.finished_at),
    }
}

fn id_of(hex: &str) -> airlock::Result<Digest> {
    hex.parse().map_err(|e| {
        airlock::Error::Integrity(format!("model id: {}", airlock::text::error_text(&e)))
    })
}

/// The runs: `models list`, each with its run record (`models show`), newest first.
pub fn runs(home: &Home) -> airlock::Result<Vec<RunRow>> {
    let mut out = Vec::new();
    for m in train::list(home)? {
        let id = id_of(&m.id)?;
        out.push(row(&id, &train::load_run(home, &id)?));
    }
    Ok(out)
}

fn schedule(s: &Schedule) -> String {
    match s {
        Schedule::Constant => "constant".into(),
        Schedule::Step { every, gamma } => format!("x{gamma} every {every} epochs"),
        Schedule::Cosine { floor } => format!("cosine down to {floor} of it"),
    }
}

/// A run's detail: its run record (`models show`).
pub fn detail(home: &Home, id_hex: &str) -> airlock::Result<RunDetail> {
    let id = id_of(id_hex)?;
    let run = train::load_run(home, &id)?;
    let c = &run.config;
    let s = &run.split;
    let settings = vec![
        (
            "trained",
            Shown::new(&format!(
                "{} to {} on {}",
                run.started_at, run.finished_at, run.device.kind
            )),
        ),
        (
            "data",
            Shown::new(&format!(
                "features {}, label {}",
                run.feature_set_ref, run.label
            )),
        ),
        (
            "split",
            Shown::new(&format!(
                "{} train, {} validation, {} held out (seed {})",
                s.train, s.validation, s.holdout, c.seed
            )),
        ),
        (
            "epochs",
            Shown::new(&format!(
                "{} of at most {}, best {}{}",
                run.history.len(),
                c.epochs,
                run.best_epoch,
                match &c.early_stopping {
                    Some(e) if run.stopped_early => format!(
                        "; stopped early (patience {}, min delta {})",
                        e.patience, e.min_delta
                    ),
                    Some(e) =>
                        format!("; early stopping (patience {}) did not stop it", e.patience),
                    None => String::new(),
                }
            )),
        ),
        (
            "optimizer",
            Shown::new(&format!(
                "AdamW rate {} {}{}, batch {}, decay {}, {} weights",
                c.learning_rate,
                schedule(&c.schedule),
                if c.warmup_epochs > 0 {
                    format!(", {} warm-up epochs", c.warmup_epochs)
                } else {
                    String::new()
                },
                c.batch_size,
                c.weight_decay,
                match &c.class_weights {
                    ClassWeights::Uniform => "uniform",
                    ClassWeights::Balanced => "balanced",
                    ClassWeights::Explicit { .. } => "explicit",
                }
            )),
        ),
    ];
    let score_name = run.spec.task.score_name();
    let slice_metrics: Vec<&'static str> = match run.spec.task {
        Task::Binary => vec!["roc_auc", "accuracy", "f1", "positive_rate"],
        Task::Multiclass { .. } => vec!["accuracy", "f1", "precision", "recall"],
        Task::Regression => vec!["rmse", "mae", "r2"],
    };
    let slices = run
        .metrics
        .holdout_slices
        .iter()
        .map(|(key, m)| SliceRow {
            key: Shown::new(key),
            rows: m.rows,
            values: slice_metrics.iter().map(|n| m.get(n)).collect(),
        })
        .collect();
    Ok(RunDetail {
        row: row(&id, &run),
        settings,
        score_name,
        history: run
            .history
            .iter()
            .map(|e| EpochPoint {
                epoch: e.epoch,
                train_loss: e.train_loss,
                validation_loss: e.validation_loss,
                validation_score: e.validation_score,
            })
            .collect(),
        slice_column: run.slice_column.as_deref().map(Shown::new),
        slice_metrics,
        slices,
    })
}

/// The bounds of a chart's y axis for `values`: their range, widened a little so no point
/// sits on the frame, and never empty.
pub fn bounds(values: impl IntoIterator<Item = f64>) -> [f64; 2] {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return [0.0, 1.0];
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    [lo - pad, hi + pad]
}

/// The models `airlock train --model` makes.
pub const ARCHS: [&str; 2] = ["logreg", "mlp"];

/// The tasks `airlock train --task` takes.
pub const TASKS: [&str; 3] = ["binary", "multiclass", "regression"];

/// The hyperparameters of a run started from the console: the form's settings, every other
/// one at the default `airlock train` gives it (an MLP: one hidden layer of 16, ReLU, no
/// dropout), so the same settings from the command line train the same model.
pub fn config(s: &crate::task::TrainSettings) -> airlock::Result<airlock_runtime::TrainConfig> {
    let defaults = airlock_runtime::TrainConfig::default();
    let usage = |what: &str, v: &str, one_of: &[&str]| {
        airlock::Error::Rejected(format!(
            "invalid value {:?} for --{what}: one of {}",
            airlock::text::escape(v),
            one_of.join(", ")
        ))
    };
    let task = match s.task.as_str() {
        "binary" => Task::Binary,
        // The class count is read from the data.
        "multiclass" => Task::Multiclass { classes: 3 },
        "regression" => Task::Regression,
        other => return Err(usage("task", other, &TASKS)),
    };
    let arch = match s.model.as_str() {
        "logreg" => Arch::Logreg,
        "mlp" => Arch::Mlp {
            hidden: vec![16],
            activation: airlock_runtime::Activation::Relu,
            dropout: 0.0,
        },
        other => return Err(usage("model", other, &ARCHS)),
    };
    Ok(airlock_runtime::TrainConfig {
        task,
        arch,
        epochs: s.epochs,
        seed: s.seed,
        ..defaults
    })
}

/// What `airlock train` prints when a run is done, for the run `id`: epochs and speed, the
/// sandbox, the held-out metrics, the model id; a warning first for a sandbox control not in
/// force, and the note on the device chosen.
pub fn trained_says(id: &Digest, run: &RunRecord) -> String {
    let said = airlock::ops::train::outcome(id, run);
    let mut out: Vec<String> = said
        .warnings
        .iter()
        .map(|w| format!("warning: {w}"))
        .collect();
    out.extend(said.note.iter().map(|n| format!("note: {n}")));
    out.extend(said.lines);
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_cover_the_values_and_are_never_empty() {
        let [lo, hi] = bounds([0.5, 0.7, f64::NAN, 0.6]);
        assert!(lo < 0.5 && hi > 0.7 && hi - lo < 0.3);
        let [lo, hi] = bounds([0.4, 0.4]);
        assert!(lo < 0.4 && 0.4 < hi);
        assert_eq!(bounds([]), [0.0, 1.0]);
        assert_eq!(bounds([f64::INFINITY]), [0.0, 1.0]);
    }
}
