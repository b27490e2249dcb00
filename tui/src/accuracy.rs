//! The Monitor screen's accuracy over time: labels that arrived later joined to the
//! prediction log, per model and slot, window by window, overall and per slice, loaded with
//! the call `airlock monitor report --labels DATASET` makes
//! (`airlock::ops::monitor::accuracy::report`); and the datasets the operator may pick the
//! labels from (`airlock data list`). Read-only; every stored string is a [`Shown`].

use airlock::digest::Digest;
use airlock::node::home::Home;
use airlock::ops::ingest;
use airlock::ops::monitor::MonitorPolicy;
use airlock::ops::monitor::accuracy::{self, AccuracyReport};
use airlock::vault::registry::NameRef;

use crate::shown::Shown;

/// What the operator is told when no labels are named: how to get some.
pub const NO_LABELS: &str = "No labels: ingest a labels dataset with the entity key, event time \
                             and label, then press L.";

/// The labels the accuracy was judged with, and the accuracy of each monitored model.
#[derive(Clone, Debug, Default)]
pub struct AccuracyView {
    /// The labels dataset asked for (picked, or the monitoring policy's); `None`: none named.
    pub labels: Option<Shown>,
    /// Per model, in the order of the report.
    pub models: Vec<ModelAccuracy>,
}

impl AccuracyView {
    /// The accuracy of the model whose short id is `short`.
    pub fn of(&self, short: &str) -> Option<&ModelAccuracy> {
        self.models.iter().find(|m| m.model.as_str() == short)
    }
}

impl ModelAccuracy {
    /// The lines the accuracy view draws for it (the bound of its scroll): per slot a
    /// heading, the column names, a line per window, the overall line, a line per slice and
    /// a blank; one line for a refusal or for no prediction logged.
    pub fn line_count(&self) -> usize {
        match &self.slots {
            Ok(slots) if !slots.is_empty() => slots
                .iter()
                .map(|s| 4 + s.windows.len() + s.slices.len())
                .sum(),
            _ => 1,
        }
    }
}

/// One model's accuracy, or why the library refused to judge it (a regression model, labels
/// without an entity or event time, no column named as the model's label).
#[derive(Clone, Debug)]
pub struct ModelAccuracy {
    /// The model's short id.
    pub model: Shown,
    /// Per slot it answered in, or the library's refusal.
    pub slots: Result<Vec<SlotAccuracy>, Shown>,
}

/// A model's accuracy in one slot.
#[derive(Clone, Debug)]
pub struct SlotAccuracy {
    /// The slot.
    pub slot: Shown,
    /// The labels dataset, `site/name@version`.
    pub labels: Shown,
    /// Predictions logged in this slot.
    pub predictions: usize,
    /// Labels that matched no prediction.
    pub unmatched: usize,
    /// The model's holdout accuracy, which the windows are compared with.
    pub baseline: Option<f64>,
    /// Every labelled prediction.
    pub overall: Figures,
    /// Per window, oldest first.
    pub windows: Vec<WindowFigures>,
    /// The slice column, when the labels carry it.
    pub slice_column: Option<Shown>,
    /// Per slice value.
    pub slices: Vec<(Shown, Figures)>,
}

/// The figures of a set of labelled predictions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures {
    /// Predictions with a label.
    pub labelled: u64,
    /// Share answered right.
    pub accuracy: Option<f64>,
    /// Area under the ROC curve (binary models).
    pub roc_auc: Option<f64>,
    /// Expected calibration error.
    pub ece: Option<f64>,
}

/// The library's figures (`airlock_core::accuracy::Figures`, not re-exported by name) as a
/// [`Figures`]; the reliability bins are left out (not drawn).
macro_rules! figures {
    ($f:expr) => {{
        let f = $f;
        Figures {
            labelled: f.labelled,
            accuracy: f.accuracy,
            roc_auc: f.roc_auc,
            ece: f.ece,
        }
    }};
}

/// One window's figures.
#[derive(Clone, Debug)]
pub struct WindowFigures {
    /// Its start.
    pub start: Shown,
    /// The figures of the predictions made in it that have a label.
    pub figures: Figures,
    /// Whether its accuracy fell more than the policy allows below the holdout accuracy.
    pub fell: bool,
}

/// The labels to judge with: those the operator picked, else the monitoring policy's
/// (`monitor report --labels` over the policy's `accuracy.labels`).
pub fn labels_of<'a>(picked: Option<&'a str>, policy: &'a MonitorPolicy) -> Option<&'a str> {
    picked.or(policy.accuracy.labels.as_deref())
}

/// The accuracy of each of `models` from the labels `labels` (`NAME[@VERSION]` or
/// `SITE/NAME@VERSION`), as `airlock monitor report --labels` reports it; a refusal is kept
/// with its model, so one regression model does not hide the others.
pub fn load(
    home: &Home,
    models: &[Digest],
    labels: Option<&str>,
    policy: &MonitorPolicy,
) -> AccuracyView {
    let Some(labels) = labels else {
        return AccuracyView::default();
    };
    let reference: Result<NameRef, _> = labels.parse();
    let models = models
        .iter()
        .map(|m| ModelAccuracy {
            model: Shown::new(&m.short()),
            slots: match &reference {
                Ok(r) => accuracy::report(home, m, r, policy)
                    .map(|v| v.iter().map(slot).collect())
                    .map_err(|e| Shown::new(&e.to_string())),
                Err(e) => Err(Shown::new(&format!("labels {labels:?}: {e}"))),
            },
        })
        .collect();
    AccuracyView {
        labels: Some(Shown::new(labels)),
        models,
    }
}

fn slot(a: &AccuracyReport) -> SlotAccuracy {
    SlotAccuracy {
        slot: Shown::new(&a.slot),
        labels: Shown::new(&a.labels),
        predictions: a.predictions,
        unmatched: a.unmatched,
        baseline: a.baseline,
        overall: figures!(&a.overall),
        windows: a
            .windows
            .iter()
            .map(|w| WindowFigures {
                start: Shown::of(w.start),
                figures: figures!(&w.figures),
                fell: w.fell,
            })
            .collect(),
        slice_column: a.slice_column.as_deref().map(Shown::new),
        slices: a
            .slices
            .iter()
            .map(|(k, f)| (Shown::new(k), figures!(f)))
            .collect(),
    }
}

/// The datasets labels may be picked from, `site/name@version`, newest version first within
/// a name: `airlock data list`.
pub fn datasets(home: &Home) -> airlock::Result<Vec<Shown>> {
    let mut v = ingest::list(home)?;
    v.sort_by(|a, b| (&a.site, &a.name, b.version).cmp(&(&b.site, &b.name, a.version)));
    Ok(v.iter()
        .map(|d| Shown::new(&format!("{}/{}@{}", d.site, d.name, d.version)))
        .collect())
}

/// A bar of `width` cells for a share in 0..=1 (`full` cells up to it), the baseline's cell
/// marked `|` when the share does not reach it.
pub fn share_bar(share: Option<f64>, baseline: Option<f64>, width: usize, full: char) -> String {
    let Some(s) = share.filter(|s| s.is_finite()) else {
        return " ".repeat(width);
    };
    let cell = |x: f64| (x.clamp(0.0, 1.0) * width as f64).round() as usize;
    let filled = cell(s);
    let mark = baseline
        .filter(|b| b.is_finite())
        .map(|b| cell(b).min(width.saturating_sub(1)));
    (0..width)
        .map(|i| {
            if i < filled {
                full
            } else if Some(i) == mark {
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
    fn a_share_bar_fills_to_the_share_and_marks_the_baseline_it_falls_short_of() {
        assert_eq!(share_bar(Some(0.5), Some(0.8), 10, '#'), "#####...|.");
        assert_eq!(share_bar(Some(0.9), Some(0.8), 10, '#'), "#########.");
        assert_eq!(share_bar(Some(1.0), None, 4, '#'), "####");
        assert_eq!(share_bar(Some(0.0), Some(1.0), 4, '#'), "...|");
        assert_eq!(share_bar(None, Some(0.5), 3, '#'), "   ");
    }

    #[test]
    fn picked_labels_come_before_the_policys() {
        let mut p = MonitorPolicy::default();
        assert_eq!(labels_of(None, &p), None);
        p.accuracy.labels = Some("outcomes".into());
        assert_eq!(labels_of(None, &p), Some("outcomes"));
        assert_eq!(labels_of(Some("lab/other@2"), &p), Some("lab/other@2"));
    }
}
