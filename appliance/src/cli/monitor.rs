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
    },
    /// The alerts raised, oldest first.
    Alerts,
    /// Raise the alerts the stored windows show, and roll back a canary that does worse than
    /// production by more than the policy allows (what `serve` does after each window).
    Check {
        /// The monitoring policy; default: docs/monitoring.md.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
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

/// Runs `airlock monitor`.
pub fn run(home_dir: &Path, out: Out, cmd: MonitorCmd) -> Result<i32> {
    match cmd {
        MonitorCmd::Report {
            model,
            since,
            policy,
            site,
        } => {
            let home = Home::open_read_only(home_dir)?;
            let model = model.map(|m| train::resolve(&home, &m)).transpose()?;
            let since: Option<Timestamp> = since
                .map(|s| {
                    s.parse()
                        .map_err(|e| Error::Rejected(format!("--since {s:?}: {e}")))
                })
                .transpose()?;
            let policy = read_policy(policy.as_deref())?;
            let site: airlock::site::SiteName = match site {
                Some(s) => s.parse()?,
                None => home.site().clone(),
            };
            let reports = monitor::report_of(&home, &site, model.as_ref(), since, &policy)?;
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
                            a.kind,
                            a.feature.as_deref().unwrap_or(""),
                            a.slot,
                            a.metric,
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
                        a.slot,
                        a.kind,
                        a.feature.as_deref().unwrap_or(""),
                        a.metric,
                        a.value,
                        a.threshold,
                        a.since
                    ));
                }
            });
            Ok(0)
        }
        MonitorCmd::Check { policy } => {
            let mut home = Home::open(home_dir)?;
            let policy = read_policy(policy.as_deref())?;
            let c = monitor::check(&mut home, &policy)?;
            let v = json!({ "raised": c.raised, "rolled_back": c.rolled_back.as_ref()
                .map(|(m, why)| json!({ "model": m.hex(), "reason": why })) });
            out.emit(&v, |_| {
                out.line(format_args!("{} alert(s) raised", c.raised.len()));
                for a in &c.raised {
                    out.line(format_args!(
                        "  {} {} ({}): {} {:.4} >= {}",
                        a.kind,
                        a.feature.as_deref().unwrap_or(""),
                        a.slot,
                        a.metric,
                        a.value,
                        a.threshold
                    ));
                }
                if let Some((m, why)) = &c.rolled_back {
                    out.line(format_args!("canary {} rolled back: {why}", m.short()));
                }
            });
            Ok(0)
        }
    }
}
