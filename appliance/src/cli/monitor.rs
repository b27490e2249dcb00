//! `airlock monitor` and the monitoring flags of `airlock serve`: parse, call
//! `airlock::ops::monitor`, print.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use airlock::error::{Error, Result};
use airlock::node::home::Home;
use airlock::node::time::Timestamp;
use airlock::ops::monitor::{self, MonitorPolicy};
use airlock::ops::train;

use crate::cli::output::Out;

/// How `serve` monitors what it answers.
#[derive(Args, Debug)]
pub struct ServeMonitorArgs {
    /// Keep no monitoring windows (no sketches, no alerts, no automatic canary rollback).
    #[arg(long)]
    no_monitor: bool,
    /// The monitoring policy (TOML: window length, drift thresholds, canary rules); default:
    /// windows of an hour, Evidently's drift thresholds (docs/monitoring.md).
    #[arg(long, value_name = "FILE")]
    monitor_policy: Option<PathBuf>,
    /// The window length in seconds (overrides the policy's).
    #[arg(long, value_name = "SECONDS")]
    window: Option<u64>,
}

impl ServeMonitorArgs {
    /// The policy `serve` monitors with, or `None` when off.
    pub fn policy(self) -> Result<Option<MonitorPolicy>> {
        if self.no_monitor {
            return Ok(None);
        }
        let mut p = read_policy(self.monitor_policy.as_deref())?;
        if let Some(w) = self.window {
            if w == 0 {
                return Err(Error::Rejected("--window must be at least 1 second".into()));
            }
            p.window_seconds = w;
        }
        Ok(Some(p))
    }
}

/// How `predict` monitors the batch it scores.
#[derive(Args, Debug)]
pub struct PredictMonitorArgs {
    /// Record no monitoring window (and no prediction log rows) for this batch.
    #[arg(long)]
    no_monitor: bool,
    /// The monitoring policy (TOML); default: docs/monitoring.md.
    #[arg(long, value_name = "FILE")]
    monitor_policy: Option<PathBuf>,
}

impl PredictMonitorArgs {
    /// The policy `predict` monitors with, or `None` when off.
    pub fn policy(self) -> Result<Option<MonitorPolicy>> {
        if self.no_monitor {
            return Ok(None);
        }
        read_policy(self.monitor_policy.as_deref()).map(Some)
    }
}

/// Says on stderr what a check after a batch did (alerts, the canary's rollback or
/// promotion), or that the batch's window could not be stored: the predictions stand.
pub fn say_checked(out: &Out, who: &str, checked: &Result<monitor::Checked>) {
    use airlock::text::escape;
    match checked {
        Ok(c) => {
            for a in &c.raised {
                out.warn(format_args!(
                    "{who}: alert: {} {} of model {} ({}): {} {:.4} >= {}",
                    escape(&a.kind),
                    escape(a.feature.as_deref().unwrap_or("")),
                    a.model.short(),
                    escape(&a.slot),
                    escape(&a.metric),
                    a.value,
                    a.threshold
                ));
            }
            if let Some((m, why)) = &c.rolled_back {
                out.warn(format_args!("{who}: canary {} rolled back: {}", m.short(), escape(why)));
            }
            if let Some((m, why)) = &c.promoted {
                out.warn(format_args!("{who}: canary {} promoted: {}", m.short(), escape(why)));
            }
        }
        Err(e) => out.warn(format_args!(
            "{who}: the predictions stand, but the batch's monitoring window could not be stored: {}",
            airlock::text::error_text(e)
        )),
    }
}

fn read_policy(path: Option<&Path>) -> Result<MonitorPolicy> {
    match path {
        None => Ok(MonitorPolicy::default()),
        Some(p) => {
            let text = airlock::node::fsx::read_capped(p, 1 << 20)?;
            let text = String::from_utf8(text)
                .map_err(|_| Error::Rejected(format!("{}: not UTF-8 text", p.display())))?;
            MonitorPolicy::from_toml(&text, &p.display().to_string())
        }
    }
}

/// Monitoring.
#[derive(Subcommand, Debug)]
pub enum MonitorCmd {
    /// Per model and window: requests, refusals, p99 latency, drift of every input feature
    /// from the training data, drift of the scores from the first window; and the alerts.
    Report {
        /// Only this model (id or 8+ leading hex digits).
        #[arg(long)]
        model: Option<String>,
        /// Only windows ending after this time (RFC 3339, e.g. 2026-12-03T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// The monitoring policy (thresholds); default: docs/monitoring.md.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// The windows a peer site sent (`airlock bundle export --to ... monitor:MODEL` at
        /// that site); default: this site's own.
        #[arg(long)]
        site: Option<String>,
        /// Labels that arrived later (a dataset `NAME[@VERSION]` of entity key, event time and
        /// the label): accuracy, ROC AUC and calibration per window, joined point in time to
        /// the prediction log; default: the policy's `accuracy.labels`, if any.
        #[arg(long, value_name = "DATASET")]
        labels: Option<String>,
    },
    /// The alerts raised, oldest first.
    Alerts,
    /// The sampled request log's batches (kept only when the monitoring policy turns it on),
    /// or the requests of one.
    Requests {
        /// Print the requests of this batch (its id), decrypted from the vault.
        #[arg(long, value_name = "ID")]
        show: Option<String>,
    },
    /// Raise the alerts the stored windows show, and roll back a canary that does worse than
    /// production by more than the policy allows (what `serve` does after each window).
    Check {
        /// The monitoring policy; default: docs/monitoring.md.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Labels that arrived later (dataset `NAME[@VERSION]`): an accuracy that fell more
        /// than the policy allows raises an alert; default: the policy's `accuracy.labels`.
        #[arg(long, value_name = "DATASET")]
        labels: Option<String>,
    },
}

/// Unicode blocks for a value against its threshold (at most 10 cells; full at 2x).
fn bar(value: f64, threshold: f64) -> String {
    if !(value.is_finite() && threshold > 0.0) {
        return String::new();
    }
    let cells = ((value / threshold) * 5.0).clamp(0.0, 10.0).round() as usize;
    "█".repeat(cells)
}

fn show(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.3}"))
}

/// The accuracy section of a model's report: per window, overall and per slice.
fn accuracy_lines(out: &Out, a: &airlock::ops::monitor::accuracy::AccuracyReport) {
    use airlock::text::escape;
    out.line(format_args!(
        "  accuracy ({}) from labels {}: {} labelled of {} predictions, {} label(s) matched no prediction; holdout accuracy {}",
        escape(&a.slot),
        escape(&a.labels),
        a.overall.labelled,
        a.predictions,
        a.unmatched,
        show(a.baseline)
    ));
    for w in &a.windows {
        let drop = match (a.baseline, w.figures.accuracy) {
            (Some(b), Some(x)) => (b - x).max(0.0),
            _ => 0.0,
        };
        out.line(format_args!(
            "    window {} {:>6} labelled  accuracy {}  roc_auc {}  ece {}  {:<10} {}",
            w.start,
            w.figures.labelled,
            show(w.figures.accuracy),
            show(w.figures.roc_auc),
            show(w.figures.ece),
            bar(drop, a.max_drop),
            if w.fell { "FELL" } else { "ok" }
        ));
    }
    out.line(format_args!(
        "    overall {:>6} labelled  accuracy {}  roc_auc {}  ece {}",
        a.overall.labelled,
        show(a.overall.accuracy),
        show(a.overall.roc_auc),
        show(a.overall.ece)
    ));
    for (k, f) in &a.slices {
        out.line(format_args!(
            "    {}={} {:>6} labelled  accuracy {}  roc_auc {}  ece {}",
            escape(a.slice_column.as_deref().unwrap_or("slice")),
            escape(k),
            f.labelled,
            show(f.accuracy),
            show(f.roc_auc),
            show(f.ece)
        ));
    }
}

/// Runs `airlock monitor`.
pub fn run(home_dir: &Path, out: Out, cmd: MonitorCmd) -> Result<i32> {
    match cmd {
        MonitorCmd::Report {
            model,
            since,
            policy,
            site,
            labels,
        } => {
            let home = Home::open_read_only(home_dir)?;
            let model = model.map(|m| train::resolve(&home, &m)).transpose()?;
            let since: Option<Timestamp> = since
                .map(|s| {
                    s.parse()
                        .map_err(|e| Error::Rejected(format!("--since {s:?}: {e}")))
                })
                .transpose()?;
            let mut policy = read_policy(policy.as_deref())?;
            if labels.is_some() {
                policy.accuracy.labels = labels;
            }
            let site: airlock::site::SiteName = match site {
                Some(s) => s.parse()?,
                None => home.site().clone(),
            };
            let mut reports = monitor::report_of(&home, &site, model.as_ref(), since, &policy)?;
            if let Some(l) = &policy.accuracy.labels {
                let l: airlock::vault::registry::NameRef = l.parse()?;
                // The prediction log is this site's own.
                if site == *home.site() {
                    for r in &mut reports {
                        r.accuracy =
                            airlock::ops::monitor::accuracy::report(&home, &r.model, &l, &policy)?;
                    }
                }
            }
            let v = serde_json::to_value(&reports).map_err(|e| Error::Rejected(e.to_string()))?;
            out.emit(&v, |_| {
                if reports.is_empty() {
                    out.line(format_args!("no monitoring windows stored"));
                }
                for r in &reports {
                    out.line(format_args!("model {} at site {}", r.model.short(), r.site));
                    for a in &r.alerts {
                        out.line(format_args!(
                            "  ALERT {} {} ({}): {} {:.4} >= {} since {}",
                            airlock::text::escape(&a.kind),
                            airlock::text::escape(a.feature.as_deref().unwrap_or("")),
                            airlock::text::escape(&a.slot),
                            airlock::text::escape(&a.metric),
                            a.value,
                            a.threshold,
                            a.since
                        ));
                    }
                    for w in &r.windows {
                        out.line(format_args!(
                            "  window {} {:<10} {} requests, {} refused, p99 {}{}",
                            w.start,
                            w.slot,
                            w.requests,
                            w.refused.values().sum::<u64>(),
                            w.p99_micros
                                .map_or_else(|| "-".into(), |u| format!("<= {u} µs")),
                            w.prediction_distance
                                .map(|d| format!(
                                    ", scores {d:.3} from the first window{}",
                                    if w.prediction_drift { " DRIFT" } else { "" }
                                ))
                                .unwrap_or_default()
                        ));
                        for f in &w.features {
                            let (Some(m), Some(v), Some(t)) = (f.measure, f.value, f.threshold)
                            else {
                                continue;
                            };
                            let drift = f.verdict == airlock::ops::drift::Verdict::Drift;
                            out.line(format_args!(
                                "    {:<24} {:<14} {:>8.4} / {:<6} {:<10} {}",
                                f.column,
                                m.name(),
                                v,
                                t,
                                bar(if m.is_test() { t } else { v }, t),
                                if drift { "DRIFT" } else { "ok" }
                            ));
                        }
                    }
                    for a in &r.accuracy {
                        accuracy_lines(&out, a);
                    }
                }
            });
            Ok(0)
        }
        MonitorCmd::Requests { show } => {
            let home = Home::open_read_only(home_dir)?;
            if let Some(id) = show {
                let id: airlock::digest::Digest = id
                    .parse()
                    .map_err(|e| Error::Rejected(format!("--show {id:?}: {e}")))?;
                let requests = monitor::request_batch(&home, &id)?;
                let v = json!(requests);
                out.emit(&v, |_| {
                    for r in &requests {
                        out.line(airlock::text::escape(r));
                    }
                });
                return Ok(0);
            }
            let batches = monitor::request_batches(&home)?;
            let v = json!(
                batches
                    .iter()
                    .map(|b| json!({ "id": b.id.hex(), "model": b.model.hex(),
                "slot": b.slot, "start": Timestamp(b.start), "requests": b.requests,
                "stored": Timestamp(b.stored) }))
                    .collect::<Vec<_>>()
            );
            out.emit(&v, |_| {
                if batches.is_empty() {
                    out.line(format_args!("no request log batches held (the request log is off unless the monitoring policy sets request_log.sample_percent)"));
                }
                for b in &batches {
                    out.line(format_args!(
                        "{}  model {} ({})  window {}  {} requests",
                        b.id.short(),
                        b.model.short(),
                        airlock::text::escape(&b.slot),
                        Timestamp(b.start),
                        b.requests
                    ));
                }
            });
            Ok(0)
        }
        MonitorCmd::Alerts => {
            let home = Home::open_read_only(home_dir)?;
            let alerts = monitor::alerts(&home)?;
            let v = serde_json::to_value(&alerts).map_err(|e| Error::Rejected(e.to_string()))?;
            out.emit(&v, |_| {
                if alerts.is_empty() {
                    out.line(format_args!("no alerts"));
                }
                for a in &alerts {
                    out.line(format_args!(
                        "{} model {} ({}): {} {} {} {:.4} >= {} since {}",
                        a.created_at,
                        a.model.short(),
                        airlock::text::escape(&a.slot),
                        airlock::text::escape(&a.kind),
                        airlock::text::escape(a.feature.as_deref().unwrap_or("")),
                        airlock::text::escape(&a.metric),
                        a.value,
                        a.threshold,
                        a.since
                    ));
                }
            });
            Ok(0)
        }
        MonitorCmd::Check { policy, labels } => {
            let mut home = Home::open(home_dir)?;
            let mut policy = read_policy(policy.as_deref())?;
            if labels.is_some() {
                policy.accuracy.labels = labels;
            }
            let c = monitor::check(&mut home, &policy)?;
            let v = json!({ "raised": c.raised, "rolled_back": c.rolled_back.as_ref()
                .map(|(m, why)| json!({ "model": m.hex(), "reason": why })),
                "promoted": c.promoted.as_ref()
                .map(|(m, why)| json!({ "model": m.hex(), "reason": why })) });
            out.emit(&v, |_| {
                out.line(format_args!("{} alert(s) raised", c.raised.len()));
                for a in &c.raised {
                    out.line(format_args!(
                        "  {} {} ({}): {} {:.4} >= {}",
                        airlock::text::escape(&a.kind),
                        airlock::text::escape(a.feature.as_deref().unwrap_or("")),
                        airlock::text::escape(&a.slot),
                        airlock::text::escape(&a.metric),
                        a.value,
                        a.threshold
                    ));
                }
                if let Some((m, why)) = &c.rolled_back {
                    out.line(format_args!(
                        "canary {} rolled back: {}",
                        m.short(),
                        airlock::text::escape(why)
                    ));
                }
                if let Some((m, why)) = &c.promoted {
                    out.line(format_args!("canary {} promoted: {why}", m.short()));
                }
            });
            Ok(0)
        }
    }
}
