//! The Monitor screen's data: the alerts raised while serving, and per model its monitoring
//! windows with each feature's drift against the training data, loaded with the calls
//! `airlock monitor report` and `monitor alerts` make (`airlock::ops::monitor`); with labels,
//! each model's accuracy over time ([`crate::accuracy`]). Read-only.

use airlock::node::home::Home;
use airlock::ops::drift::Verdict;
use airlock::ops::monitor::{self, MonitorPolicy};

use crate::shown::Shown;

/// The Monitor screen.
#[derive(Clone, Debug, Default)]
pub struct MonitorView {
    /// Every stored alert, newest first.
    pub alerts: Vec<AlertRow>,
    /// Every window, by model, oldest first within each model.
    pub windows: Vec<WindowRow>,
    /// Accuracy over time from the labels named, if any.
    pub accuracy: crate::accuracy::AccuracyView,
}

/// One alert.
#[derive(Clone, Debug)]
pub struct AlertRow {
    /// `input drift`, `prediction drift`, `error rate`, `latency`.
    pub kind: Shown,
    /// The feature, for input drift.
    pub feature: Shown,
    /// The slot.
    pub slot: Shown,
    /// The measure.
    pub measure: Shown,
    /// Its value.
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// The start of the first window it was seen in.
    pub since: Shown,
}

/// One monitoring window of one model.
#[derive(Clone, Debug)]
pub struct WindowRow {
    /// The model's short id.
    pub model: Shown,
    /// Its start.
    pub start: Shown,
    /// The slot.
    pub slot: Shown,
    /// Requests seen.
    pub requests: u64,
    /// Refused, all reasons.
    pub refused: u64,
    /// p99 latency (upper bound of its bucket), microseconds.
    pub p99_micros: Option<u64>,
    /// Each feature's drift.
    pub features: Vec<FeatureDrift>,
}

/// One feature's drift in a window.
#[derive(Clone, Debug)]
pub struct FeatureDrift {
    /// The column.
    pub column: Shown,
    /// The measure, empty when not checked.
    pub measure: Shown,
    /// The value shown (the distance, or a test's p-value).
    pub value: Option<f64>,
    /// Its threshold.
    pub threshold: Option<f64>,
    /// How far towards drift: value / threshold for a distance, threshold / p-value for a
    /// test (drift at 1 or more either way).
    pub ratio: Option<f64>,
    /// `DRIFT`, `ok` or `not checked`.
    pub verdict: &'static str,
}

/// The monitoring policy in `file`, or the default one: what `airlock monitor report
/// --policy FILE` reads (at most 1 MiB of UTF-8 TOML).
pub fn read_policy(file: Option<&std::path::Path>) -> airlock::Result<MonitorPolicy> {
    let Some(p) = file else {
        return Ok(MonitorPolicy::default());
    };
    let text = airlock::node::fsx::read_capped(p, 1 << 20)?;
    let text = String::from_utf8(text)
        .map_err(|_| airlock::Error::Rejected(format!("{}: not UTF-8 text", p.display())))?;
    MonitorPolicy::from_toml(&text, &p.display().to_string())
}

/// `airlock monitor report [--labels LABELS]` and `monitor alerts` under `policy`: the labels
/// picked, else the policy's.
pub fn load(
    home: &Home,
    policy: &MonitorPolicy,
    labels: Option<&str>,
) -> airlock::Result<MonitorView> {
    let mut alerts: Vec<AlertRow> = Vec::new();
    let mut raw = monitor::alerts(home)?;
    // Newest first; those raised together in the order of kind, slot and feature.
    raw.sort_by(|a, b| {
        (b.created_at, &a.kind, &a.slot, &a.feature).cmp(&(
            a.created_at,
            &b.kind,
            &b.slot,
            &b.feature,
        ))
    });
    for a in raw {
        alerts.push(AlertRow {
            kind: Shown::new(&a.kind),
            feature: Shown::new(a.feature.as_deref().unwrap_or("")),
            slot: Shown::new(&a.slot),
            measure: Shown::new(&a.metric),
            value: a.value,
            threshold: a.threshold,
            since: Shown::of(a.since),
        });
    }
    let mut windows = Vec::new();
    let reports = monitor::report(home, None, None, policy)?;
    for r in &reports {
        for w in &r.windows {
            windows.push(WindowRow {
                model: Shown::new(&r.model.short()),
                start: Shown::of(w.start),
                slot: Shown::new(&w.slot),
                requests: w.requests,
                refused: w.refused.values().sum(),
                p99_micros: w.p99_micros,
                features: w.features.iter().map(feature).collect(),
            });
        }
    }
    let models: Vec<_> = reports.iter().map(|r| r.model).collect();
    let labels = crate::accuracy::labels_of(labels, policy);
    let accuracy = crate::accuracy::load(home, &models, labels, policy);
    Ok(MonitorView {
        alerts,
        windows,
        accuracy,
    })
}

fn feature(f: &airlock::ops::drift::DriftReport) -> FeatureDrift {
    let test = f.measure.is_some_and(|m| m.is_test());
    let value = if test { f.p_value } else { f.value };
    let ratio = match (value, f.threshold) {
        (Some(v), Some(t)) if test && v > 0.0 => Some(t / v),
        (Some(_), Some(_)) if test => Some(f64::INFINITY),
        (Some(v), Some(t)) if t > 0.0 => Some(v / t),
        _ => None,
    };
    FeatureDrift {
        column: Shown::new(&f.column),
        measure: Shown::new(&match f.measure {
            Some(m) if test => format!("{} p", m.name()),
            Some(m) => m.name().to_string(),
            None => String::new(),
        }),
        value,
        threshold: f.threshold,
        ratio,
        verdict: match f.verdict {
            Verdict::Drift => "DRIFT",
            Verdict::NoDrift => "ok",
            Verdict::NotChecked => "not checked",
        },
    }
}

/// A bar of `width` cells for `ratio` (drift at 1), the threshold at the middle: cells up to
/// the ratio filled with `full`, the threshold cell `|` when not reached, capped at twice the
/// threshold.
pub fn bar(ratio: Option<f64>, width: usize, full: char) -> String {
    let Some(r) = ratio.filter(|r| !r.is_nan()) else {
        return " ".repeat(width);
    };
    let half = width / 2;
    let cells = (r.clamp(0.0, 2.0) * half as f64).round() as usize;
    (0..width)
        .map(|i| {
            if i < cells {
                full
            } else if i == half {
                '|'
            } else {
                '.'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_fills_to_its_ratio_and_marks_the_threshold() {
        assert_eq!(bar(Some(0.5), 10, '#'), "###..|....");
        assert_eq!(bar(Some(1.0), 10, '#'), "#####|....");
        assert_eq!(bar(Some(9.0), 10, '#'), "##########");
        assert_eq!(bar(Some(f64::INFINITY), 4, '#'), "####");
        assert_eq!(bar(None, 3, '#'), "   ");
    }
}
