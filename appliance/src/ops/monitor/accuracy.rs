//! Accuracy over time: labels that arrive later (an ingested dataset of entity key, event
//! time and label), joined point in time to the prediction log that `serve` and `predict`
//! keep (`store::predictions`), per monitoring window, overall and by slice.
//!
//! The join rule is `airlock_core::accuracy`'s: a label applies to the latest prediction for
//! its entity at or before the label's event time, never to a later one. A window's figures
//! are those of the predictions made in it (by the prediction's time, not the label's).
//! A window with at least `min_labels` labelled predictions whose accuracy is more than
//! `max_drop` below the model's holdout accuracy (from its run record) has *fallen*: `check`
//! raises an alert for it, signed and audited like the drift alerts.

use std::collections::BTreeMap;

use serde::Serialize;

use airlock_core::accuracy::{self, Figures, Joined, Label, Logged};
use airlock_core::contract::Value;
use airlock_runtime::Task;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::monitor::MonitorPolicy;
use crate::vault::registry::NameRef;

/// One window's figures.
#[derive(Clone, Debug, Serialize)]
pub struct WindowAccuracy {
    /// Its start.
    pub start: Timestamp,
    /// Its end.
    pub end: Timestamp,
    /// The figures of the predictions made in it that have a label.
    pub figures: Figures,
    /// Whether its accuracy fell more than the policy allows below the baseline.
    pub fell: bool,
}

/// A model's accuracy in one slot, from the labels that have arrived.
#[derive(Clone, Debug, Serialize)]
pub struct AccuracyReport {
    /// The slot the predictions were made in.
    pub slot: String,
    /// The labels dataset, `site/name@version`.
    pub labels: String,
    /// Its id.
    pub labels_id: Digest,
    /// Predictions logged for the model in this slot.
    pub predictions: usize,
    /// Labels that matched no prediction (none for their entity at or before their time);
    /// counted over the model's predictions in every slot.
    pub unmatched: usize,
    /// The accuracy the windows are compared with: the model's holdout accuracy.
    pub baseline: Option<f64>,
    /// A window has fallen when its accuracy is more than this below the baseline.
    pub max_drop: f64,
    /// All labelled predictions.
    pub overall: Figures,
    /// Per window, oldest first (windows with no labelled prediction left out).
    pub windows: Vec<WindowAccuracy>,
    /// The column sliced by (the model's slice column, when the labels carry it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slice_column: Option<String>,
    /// Per slice value.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub slices: BTreeMap<String, Figures>,
}

/// The labels of dataset `r` for a model whose label column is `label` (and slice column
/// `slice`): its contract must name an `entity` and an `event_time` column (a timestamp or a
/// date) and hold a column named as the label. Rows with a missing entity, time or label are
/// skipped.
pub fn labels(
    home: &Home,
    r: &NameRef,
    label: &str,
    slice: Option<&str>,
) -> Result<(Digest, String, Vec<Label>)> {
    let (id, doc) = crate::ops::contract::dataset_record(home, r)?;
    let name = format!("{}/{}@{}", doc.site, doc.name, doc.version);
    let contract = crate::ops::contract::load_contract(home, &doc.contract)?;
    let need = |what: &str, col: Option<&String>| -> Result<usize> {
        col.and_then(|c| contract.index_of(c)).ok_or_else(|| {
            Error::Rejected(format!(
                "labels {name}: its contract {} v{} names no {what} column; labels need an entity key, an event time and the label",
                contract.name, contract.version
            ))
        })
    };
    let e = need("entity", contract.entity.as_ref())?;
    let t = need("event_time", contract.event_time.as_ref())?;
    if !contract.columns[t].ty.is_time() {
        return Err(Error::Rejected(format!(
            "labels {name}: its event_time column {:?} is a {}, not a timestamp or date",
            contract.columns[t].name,
            contract.columns[t].ty.name()
        )));
    }
    let l = contract.index_of(label).ok_or_else(|| {
        Error::Rejected(format!(
            "labels {name}: no column {label:?}, the model's label; the labels dataset needs one named so"
        ))
    })?;
    let s = slice.and_then(|c| contract.index_of(c));
    let mut out = Vec::new();
    crate::ops::ingest::stream_rows_by_id(home, &id, &mut |_, row| {
        if let (Some(entity), Value::Int(at), Some(value)) = (
            row.get(e).filter(|v| !matches!(v, Value::Null)),
            &row[t],
            row.get(l).filter(|v| !matches!(v, Value::Null)),
        ) {
            out.push(Label {
                entity: crate::ops::rollout::request_text(entity),
                at: *at,
                value: value.canonical(),
                slice: s.and_then(|i| row.get(i)).map(Value::canonical),
            });
        }
        Ok(())
    })?;
    Ok((id, name, out))
}

/// The accuracy of `model` per slot it answered in, from the labels `labels_ref`.
pub fn report(
    home: &Home,
    model: &Digest,
    labels_ref: &NameRef,
    policy: &MonitorPolicy,
) -> Result<Vec<AccuracyReport>> {
    let run = crate::ops::train::load_run(home, model)?;
    let slice_col = run.slice_column.clone();
    let (labels_id, labels_name, labels) =
        labels(home, labels_ref, &run.label, slice_col.as_deref())?;
    let positive = match run.spec.task {
        Task::Binary => run.classes.get(1).map(String::as_str),
        _ => None,
    };
    if run.spec.task == Task::Regression {
        return Err(Error::Rejected(format!(
            "model {} is a regression: accuracy over time is for classifiers",
            model.short()
        )));
    }
    let logged = crate::store::predictions::of_model(home.store(), model)?;
    let (_, unmatched) = accuracy::join(&logged.iter().map(as_logged).collect::<Vec<_>>(), &labels);
    let mut slots: Vec<String> = logged.iter().map(|p| p.slot.clone()).collect();
    slots.sort();
    slots.dedup();
    let window = i64::try_from(policy.window_seconds.max(1)).unwrap_or(3600);
    let baseline = run.metrics.holdout.accuracy;
    let mut out = Vec::new();
    for slot in slots {
        let mine: Vec<Logged> = logged
            .iter()
            .filter(|p| p.slot == slot)
            .map(as_logged)
            .collect();
        let (joined, _) = accuracy::join(&mine, &labels);
        let all: Vec<&Joined> = joined.iter().collect();
        let mut by: BTreeMap<i64, Vec<&Joined>> = BTreeMap::new();
        for j in &joined {
            by.entry(j.at - j.at.rem_euclid(window))
                .or_default()
                .push(j);
        }
        let windows = by
            .into_iter()
            .map(|(start, js)| {
                let figures = accuracy::figures(&js, positive);
                let fell = figures.labelled >= policy.accuracy.min_labels
                    && matches!((baseline, figures.accuracy),
                        (Some(b), Some(a)) if b - a > policy.accuracy.max_drop);
                WindowAccuracy {
                    start: Timestamp(start),
                    end: Timestamp(start + window),
                    figures,
                    fell,
                }
            })
            .collect();
        let mut slices: BTreeMap<String, Vec<&Joined>> = BTreeMap::new();
        for j in &joined {
            if let Some(s) = &j.slice {
                slices.entry(s.clone()).or_default().push(j);
            }
        }
        out.push(AccuracyReport {
            slot,
            labels: labels_name.clone(),
            labels_id,
            predictions: mine.len(),
            unmatched,
            baseline,
            max_drop: policy.accuracy.max_drop,
            overall: accuracy::figures(&all, positive),
            windows,
            slice_column: slice_col.clone().filter(|_| !slices.is_empty()),
            slices: slices
                .into_iter()
                .map(|(k, js)| (k, accuracy::figures(&js, positive)))
                .collect(),
        });
    }
    Ok(out)
}

fn as_logged(p: &crate::store::predictions::PredictionRow) -> Logged {
    Logged {
        entity: p.entity.clone(),
        at: p.at,
        score: p.score,
        class: p.class.clone(),
    }
}

/// The windows whose accuracy fell, as alerts not yet raised (`check` stores them): one per
/// (model, slot), since the first window of the newest run of fallen windows.
pub fn alerts(
    home: &Home,
    model: &Digest,
    labels_ref: &NameRef,
    policy: &MonitorPolicy,
) -> Result<Vec<airlock_core::monitor::Alert>> {
    let mut out = Vec::new();
    for r in report(home, model, labels_ref, policy)? {
        // Windows with too few labels are not judged: they neither raise nor end a fall.
        let judged: Vec<&WindowAccuracy> = r
            .windows
            .iter()
            .filter(|w| w.figures.labelled >= policy.accuracy.min_labels)
            .collect();
        let Some(last) = judged.last().filter(|w| w.fell) else {
            continue;
        };
        let mut since = last.start;
        for w in judged.iter().rev() {
            if !w.fell {
                break;
            }
            since = w.start;
        }
        let (Some(b), Some(a)) = (r.baseline, last.figures.accuracy) else {
            continue;
        };
        out.push(airlock_core::monitor::Alert {
            ty: airlock_core::monitor::ALERT_TYPE.into(),
            site: home.site().clone(),
            model: *model,
            slot: r.slot.clone(),
            kind: "accuracy".into(),
            feature: None,
            metric: "accuracy drop from holdout".into(),
            value: b - a,
            threshold: policy.accuracy.max_drop,
            since,
            created_at: home.now(),
        });
    }
    Ok(out)
}
