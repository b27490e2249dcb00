//! `airlock evaluate`: parse, call `airlock::ops::evaluate::run`, print.

use std::path::{Path, PathBuf};

use clap::Args;

use airlock::error::{Error, Result};
use airlock::node::home::Home;
use airlock::ops::evaluate::{self, DEFAULT_MIN_SLICE_ROWS, EvaluateRequest, EvaluationRecord};
use airlock::ops::train;
use airlock::vault::registry::NameRef;

use crate::cli::output::Out;

/// Score a model on a dataset it was not trained on: every metric, the confusion matrix and a
/// threshold sweep, calibration, permutation importance, slices, fairness for sensitive
/// attributes, robustness. Stores a signed evaluation record (docs/evaluation.md).
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// Model id (or 8+ leading hex digits).
    model: String,
    /// The dataset to evaluate on, [SITE/]NAME[@VERSION]: ingested under the model's contract,
    /// with labels.
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    dataset: Option<String>,
    /// A file (CSV or Parquet, with labels) to ingest under the model's contract first, as a
    /// new dataset version, and evaluate on.
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// The dataset name the --file is ingested as (default: the contract's name and "-eval").
    #[arg(long = "as", value_name = "NAME", requires = "file")]
    as_name: Option<String>,
    /// The --file's format (by default: .parquet/.pq is Parquet, anything else CSV).
    #[arg(long, value_enum, requires = "file")]
    format: Option<crate::cli::data::FormatArg>,
    /// A contract column to report figures per value of (repeatable).
    #[arg(long = "slice-by", value_name = "COLUMN")]
    slice_by: Vec<String>,
    /// A sensitive attribute for group fairness (binary models; repeatable): COLUMN, or
    /// COLUMN:CUT[,CUT...] to band a numeric column (age:25 gives <=25 and >25).
    #[arg(long, value_name = "COLUMN[:CUTS]")]
    sensitive: Vec<String>,
    /// Slices with fewer rows are flagged as too small to trust.
    #[arg(long, default_value_t = DEFAULT_MIN_SLICE_ROWS)]
    min_slice_rows: usize,
    /// The decision threshold of a binary model, chosen from the sweep: the confusion matrix
    /// and fairness are taken at it, it is recorded, and a model gated on this evaluation is
    /// deployed and served at it.
    #[arg(long, default_value_t = evaluate::DEFAULT_THRESHOLD)]
    threshold: f64,
    /// Steps of the threshold sweep (thresholds 0, 1/N, ..., 1).
    #[arg(long, default_value_t = 20)]
    threshold_steps: usize,
    /// Shuffles per feature for permutation importance.
    #[arg(long, default_value_t = 5)]
    importance_repeats: usize,
    /// Bound of the robustness checks on numeric features, in standardized units.
    #[arg(long, default_value_t = 0.1)]
    epsilon: f64,
    /// Seed of permutation importance and of the noise.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Runs `airlock evaluate`.
pub fn run(home_dir: &Path, out: Out, a: EvaluateArgs) -> Result<i32> {
    let mut home = Home::open(home_dir)?;
    let model = train::resolve(&home, &a.model)?;
    let (dataset, ingested) = match (&a.dataset, &a.file) {
        (Some(d), _) => (d.parse::<NameRef>()?, None),
        (None, Some(file)) => {
            let format = a.format.map(airlock::ops::ingest::Format::from);
            let r = evaluate::ingest_file(&mut home, &model, file, a.as_name.as_deref(), format)?;
            let name = format!("{}@{}", r.name, r.version);
            (name.parse::<NameRef>()?, Some((file, r)))
        }
        (None, None) => {
            return Err(Error::Rejected(
                "name the data to evaluate on: --dataset NAME@V or --file PATH".into(),
            ));
        }
    };
    let req = EvaluateRequest {
        model,
        dataset,
        slice_by: a.slice_by,
        sensitive: a
            .sensitive
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_>>()?,
        min_slice_rows: a.min_slice_rows,
        threshold: a.threshold,
        threshold_steps: a.threshold_steps,
        importance_repeats: a.importance_repeats,
        epsilon: a.epsilon,
        seed: a.seed,
    };
    let (id, record) = evaluate::run(&mut home, &req)?;
    let mut v = serde_json::to_value(&record).map_err(|e| Error::Rejected(e.to_string()))?;
    v["id"] = serde_json::json!(id.hex());
    if let Some((_, r)) = &ingested {
        let mut i = serde_json::to_value(r).map_err(|e| Error::Rejected(e.to_string()))?;
        i["dataset"] = serde_json::json!(format!("{}@{}", r.name, r.version));
        v["ingested"] = i;
    }
    out.emit(&v, |_| {
        if let Some((file, r)) = &ingested {
            out.line(format_args!(
                "{} {} as {}@{}: {} rows, contract {}{}",
                if r.unchanged {
                    "already ingested"
                } else {
                    "ingested"
                },
                file.display(),
                r.name,
                r.version,
                r.rows,
                r.contract_ref,
                match (r.ignored.len(), r.renamed.len()) {
                    (0, 0) => String::new(),
                    (i, n) => format!(" ({i} header columns ignored, {n} renamed)"),
                }
            ));
        }
        print(out, &id, &record)
    });
    Ok(0)
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.4}"))
}

fn print(out: Out, id: &airlock::digest::Digest, r: &EvaluationRecord) {
    out.line(format_args!(
        "evaluation {} of model {} on {} ({} rows)",
        id.short(),
        r.model.short(),
        r.dataset_ref,
        r.rows
    ));
    let figures: Vec<String> = airlock_runtime::METRIC_NAMES
        .iter()
        .filter_map(|n| r.metrics.get(n).map(|v| format!("{n} {v:.4}")))
        .collect();
    out.line(format_args!("metrics     {}", figures.join("  ")));
    if let (Some(t), Some(c)) = (r.threshold, &r.confusion) {
        out.line(format_args!(
            "at {t}      tp {}  fp {}  tn {}  fn {}",
            c.true_positive, c.false_positive, c.true_negative, c.false_negative
        ));
    }
    if let Some(best) = r.sweep.iter().max_by(|a, b| a.f1.total_cmp(&b.f1)) {
        out.line(format_args!(
            "sweep       best F1 {:.4} at threshold {:.2} (precision {:.4}, recall {:.4}, positive rate {:.4})",
            best.f1, best.threshold, best.precision, best.recall, best.positive_rate
        ));
    }
    for row in &r.class_confusion {
        let cells: Vec<String> = row.iter().map(|c| format!("{c:>6}")).collect();
        out.line(format_args!("confusion  {}", cells.join("")));
    }
    let mut imp: Vec<_> = r.importance.iter().collect();
    imp.sort_by(|a, b| b.mean.total_cmp(&a.mean));
    for i in imp.iter().take(10) {
        out.line(format_args!(
            "importance  {:<24} {:+.4} ± {:.4} ({})",
            i.feature, i.mean, i.std, r.importance_metric
        ));
    }
    for s in &r.slices {
        for g in &s.groups {
            let ci = g
                .accuracy_interval
                .map(|[lo, hi]| format!(" (95% {lo:.3}-{hi:.3})"))
                .unwrap_or_default();
            out.line(format_args!(
                "slice       {}={:<12} {:>6} rows  accuracy {}{ci}  roc_auc {}{}",
                s.column,
                g.value,
                g.rows,
                fmt(g.metrics.accuracy),
                fmt(g.metrics.roc_auc),
                if g.small {
                    format!(
                        "  TOO SMALL (< {} rows): not to be trusted",
                        r.min_slice_rows
                    )
                } else {
                    String::new()
                }
            ));
        }
    }
    for f in &r.fairness {
        for g in &f.fairness.groups {
            out.line(format_args!(
                "fairness    {}={:<12} {:>6} rows  selection {:.4}  tpr {}  fpr {}",
                f.attribute,
                g.group,
                g.rows,
                g.selection_rate,
                fmt(g.true_positive_rate),
                fmt(g.false_positive_rate)
            ));
        }
        let fr = &f.fairness;
        out.line(format_args!(
            "fairness    {}: disparate impact {:.4} ({} vs {}), parity difference {:.4}, equalized odds difference {:.4}, equal opportunity difference {:.4}",
            f.attribute,
            fr.disparate_impact_ratio(),
            fr.selection.lowest.as_deref().unwrap_or("-"),
            fr.selection.highest.as_deref().unwrap_or("-"),
            fr.demographic_parity_difference(),
            fr.equalized_odds_difference(),
            fr.equal_opportunity_difference()
        ));
    }
    for rb in &r.robustness {
        out.line(format_args!(
            "robustness  {:?} eps {}: accuracy {:.4} (clean {:.4})",
            rb.perturbation, rb.epsilon, rb.perturbed, rb.clean
        ));
    }
}

/// Lines for `models show`: one per evaluation of the model.
pub fn listed(out: Out, evals: &[(airlock::digest::Digest, EvaluationRecord)]) {
    for (id, r) in evals {
        out.line(format_args!(
            "evaluation  {} on {} by {} ({} rows): accuracy {}  roc_auc {}",
            id.short(),
            r.dataset_ref,
            r.site,
            r.rows,
            fmt(r.metrics.accuracy),
            fmt(r.metrics.roc_auc)
        ));
    }
}
