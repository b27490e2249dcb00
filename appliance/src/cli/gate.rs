//! `airlock gate`: parse, call `airlock::ops::gate`, print.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use airlock::error::{Error, Result};
use airlock::lifecycle::GateReport;
use airlock::node::home::Home;
use airlock::ops::gate::{self, PolicySource};
use airlock::ops::train;

use crate::cli::output::Out;
use airlock::error::exit;

/// Judge a model against a gate policy (GATE.toml: metrics on a dataset it never saw, a
/// baseline, slices, fairness, behaviour cases, robustness; docs/evaluation.md) or held-out
/// thresholds (--require). Stores a signed gate report, whether it passes or not; exits 5
/// when it fails.
#[derive(Args, Debug)]
pub struct GateArgs {
    /// Model id (or 8+ leading hex digits).
    model: String,
    /// A gate policy file (TOML). Its behaviour case files are read from its folder; the
    /// report carries the policy and the case files with their digests.
    #[arg(long, value_name = "GATE.toml", conflicts_with = "require")]
    policy: Option<PathBuf>,
    /// Threshold, METRIC>=X or METRIC<=X, on held-out metrics (shorthand for a policy's
    /// [metrics] section). Repeatable. Metrics: accuracy, precision, recall, f1, roc_auc,
    /// pr_auc, log_loss, brier, positive_rate (classification); rmse, mae, r2 (regression).
    /// Default, without --policy: roc_auc>=0.70.
    #[arg(long = "require")]
    require: Vec<String>,
}

/// Runs `airlock gate`.
pub fn run(home_dir: &Path, out: Out, a: GateArgs) -> Result<i32> {
    let mut home = Home::open(home_dir)?;
    let id = train::resolve(&home, &a.model)?;
    let (gid, report) = match &a.policy {
        Some(path) => {
            let src: PolicySource = gate::read_policy(path)?;
            gate::gate_with_policy(&mut home, &id, &src)?
        }
        None => {
            let require = if a.require.is_empty() {
                vec!["roc_auc>=0.70".to_string()]
            } else {
                a.require
            };
            let checks = require
                .iter()
                .map(|s| gate::parse_threshold(s))
                .collect::<Result<Vec<_>>>()?;
            gate::gate(&mut home, &id, checks)?
        }
    };
    let mut v = serde_json::to_value(&report).map_err(|e| Error::Rejected(e.to_string()))?;
    v["id"] = json!(gid.hex());
    out.emit(&v, |_| print(out, &id, &gid, &report));
    Ok(if report.passed {
        exit::OK
    } else if report.needs_review {
        // Not a failure: it waits for a named review (`airlock approve --reviewed`).
        exit::OK
    } else {
        exit::REFUSED
    })
}

/// The report as lines: one per check, then notes and the verdict.
pub fn print(
    out: Out,
    model: &airlock::digest::Digest,
    gid: &airlock::digest::Digest,
    r: &GateReport,
) {
    if let Some(e) = r.evaluation {
        out.line(format_args!("figures from evaluation {}", e.short()));
    }
    for c in &r.checks {
        let section = c.section.map_or("metrics", |s| s.as_str());
        let subject = c
            .subject
            .as_ref()
            .map(|s| format!(" [{s}]"))
            .unwrap_or_default();
        let unit = if section == "behaviour" {
            "cases"
        } else {
            "rows"
        };
        let rows = c.rows.map(|n| format!(" ({n} {unit})")).unwrap_or_default();
        out.line(format_args!(
            "{:<10} {:<10} {}{subject} {:.4} {} {}{rows}",
            c.outcome().as_str(),
            section,
            c.metric,
            c.value,
            c.op.as_str(),
            c.threshold
        ));
        if let Some(d) = &c.detail {
            out.line(format_args!("{:<10} {:<10}   {d}", "", ""));
        }
    }
    for n in &r.notes {
        out.line(format_args!("note       {n}"));
    }
    if let Some(p) = &r.policy {
        out.line(format_args!(
            "policy     {}{}",
            p.digest.short(),
            if p.files.is_empty() {
                String::new()
            } else {
                format!(" with {} case file(s)", p.files.len())
            }
        ));
    }
    out.line(format_args!(
        "gate {} for model {} (report {})",
        if r.passed {
            "passed"
        } else if r.needs_review {
            "NEEDS REVIEW (approve with --reviewed and a --note)"
        } else {
            "FAILED"
        },
        model.short(),
        gid.short()
    ));
}

/// Lines for `models show`: one per gate report of the model.
pub fn listed(out: Out, gates: &[(airlock::digest::Digest, GateReport)]) {
    for (id, r) in gates {
        out.line(format_args!(
            "gate        {} by {} at {}: {} ({} checks{})",
            id.short(),
            r.site,
            r.created_at,
            if r.passed {
                "passed"
            } else if r.needs_review {
                "needs review"
            } else {
                "FAILED"
            },
            r.checks.len(),
            r.policy
                .as_ref()
                .map(|p| format!(", policy {}", p.digest.short()))
                .unwrap_or_default()
        ));
    }
}
