//! Monitoring a deployed model: what `airlock serve` (and a batch `airlock predict`) keeps per
//! time window, the report, the alerts and the canary's automatic rollback and promotion.
//!
//! In this folder: `collector.rs` (what is kept while answering), `canary.rs` (the canary's
//! rollback and promotion rules), `accuracy.rs` (labels arriving later joined to the
//! prediction log), `request_log.rs` (the sampled request log, off by default), `range.rs`
//! (window ranges for monitoring bundles). This file: the policy, storing windows, the
//! report and the check.
//!
//! For every model it answers with (production, canary) or scores with (shadow), `serve`
//! keeps one open window: request and refusal counts, latency in power-of-two buckets, the
//! scores in 20 bins and a sketch of every input feature laid out by the model's training
//! data (the drift module's bounded summaries: at most 4,096 exact values, then the
//! reference's cells, per numeric feature; one counter per reference category and one for
//! others). No request is kept (unless the policy turns the sampled request log on: then a
//! sample, encrypted in the vault, pruned at its limits). When a window ends it is stored as a signed
//! `airlock.monitor-window/v1` record with its audit entry, and [`check`] runs: it raises an
//! alert (a signed record, audited) for each input feature that drifted from the training
//! data and for scores that drifted from the model's first window, and rolls back a canary
//! that does worse than production by more than the policy allows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use airlock_core::monitor::{ALERT_TYPE, Alert, MonitorWindow};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::drift::{self, DriftPolicy, DriftReport, Reference, Verdict};
use crate::ops::rollout;
use crate::store::AuditEntry;
use crate::vault::registry::{self, Kind};

pub mod accuracy;
mod canary;
mod collector;
mod range;
mod request_log;

pub use canary::CanaryRules;
use canary::{canary_promotion, canary_verdict};
pub use collector::{Collector, Sampled, Seen};
pub use range::WindowRange;
pub use request_log::{REQUEST_LOG_TYPE, RequestLog, request_batch, request_batches};

/// The monitoring policy (TOML; every field optional, unknown fields refused).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorPolicy {
    /// Window length, in seconds.
    pub window_seconds: u64,
    /// Input drift: the drift module's rule and thresholds (Evidently's defaults).
    pub drift: DriftPolicy,
    /// Prediction drift: Jensen-Shannon distance of a window's scores from the model's first
    /// window (of at least `prediction_min_rows` scores) at or above this.
    pub prediction_drift: f64,
    /// Windows with fewer scores than this are not judged for prediction drift (a distance
    /// between small histograms is mostly noise), nor taken as its reference.
    pub prediction_min_rows: u64,
    /// The canary's automatic rollback (and promotion).
    pub canary: CanaryRules,
    /// The keyed prediction log (entity key, time, score, class per answered request).
    pub predictions: PredictionLog,
    /// Accuracy once labels arrive.
    pub accuracy: AccuracyRules,
    /// The sampled request log (off by default).
    pub request_log: RequestLog,
}

/// The keyed prediction log's retention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictionLog {
    /// Keep it (only for models whose contract names an entity or key column).
    pub keep: bool,
    /// The newest this many rows are kept.
    pub max_rows: u64,
    /// Rows older than this many days are pruned.
    pub max_age_days: u64,
}

impl Default for PredictionLog {
    fn default() -> Self {
        PredictionLog {
            keep: true,
            max_rows: 1_000_000,
            max_age_days: 90,
        }
    }
}

/// Accuracy over time, once labels arrive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccuracyRules {
    /// The labels dataset (`NAME[@VERSION]`, newest version when none) that `check` (and so
    /// `serve`) joins; none: accuracy is judged only when asked (`--labels`).
    pub labels: Option<String>,
    /// An alert when a window's accuracy is this far below the model's holdout accuracy.
    pub max_drop: f64,
    /// Windows with fewer labelled predictions are not judged.
    pub min_labels: u64,
}

impl Default for AccuracyRules {
    fn default() -> Self {
        AccuracyRules {
            labels: None,
            max_drop: 0.1,
            min_labels: 50,
        }
    }
}

impl Default for MonitorPolicy {
    fn default() -> Self {
        MonitorPolicy {
            window_seconds: 3600,
            drift: DriftPolicy::default(),
            prediction_drift: 0.1,
            prediction_min_rows: 200,
            canary: CanaryRules::default(),
            predictions: PredictionLog::default(),
            accuracy: AccuracyRules::default(),
            request_log: RequestLog::default(),
        }
    }
}

impl MonitorPolicy {
    /// Reads a policy from TOML.
    pub fn from_toml(text: &str, source: &str) -> Result<MonitorPolicy> {
        let p: MonitorPolicy = toml::from_str(text)
            .map_err(|e| Error::Rejected(format!("monitoring policy {source}: {e}")))?;
        p.drift.check(source)?;
        if p.window_seconds == 0 || !(p.prediction_drift > 0.0 && p.prediction_drift <= 1.0) {
            return Err(Error::Rejected(format!(
                "monitoring policy {source}: window_seconds must be at least 1 and prediction_drift within (0, 1]"
            )));
        }
        if !(0.0..=100.0).contains(&p.request_log.sample_percent) {
            return Err(Error::Rejected(format!(
                "monitoring policy {source}: request_log.sample_percent must be within [0, 100]"
            )));
        }
        if !((0.0..1.0).contains(&p.canary.max_accuracy_drop)
            && p.canary.accuracy_alpha > 0.0
            && p.canary.accuracy_alpha <= 1.0)
        {
            return Err(Error::Rejected(format!(
                "monitoring policy {source}: canary.max_accuracy_drop must be within [0, 1) and canary.accuracy_alpha within (0, 1]"
            )));
        }
        if !(p.accuracy.max_drop > 0.0 && p.accuracy.max_drop <= 1.0) {
            return Err(Error::Rejected(format!(
                "monitoring policy {source}: accuracy.max_drop must be within (0, 1]"
            )));
        }
        if let Some(l) = &p.accuracy.labels {
            l.parse::<crate::vault::registry::NameRef>().map_err(|e| {
                Error::Rejected(format!("monitoring policy {source}: accuracy.labels: {e}"))
            })?;
        }
        Ok(p)
    }
}

/// Stores windows, each a signed record, in one transaction with one audit entry.
pub fn store(home: &mut Home, windows: &[MonitorWindow]) -> Result<Vec<Digest>> {
    Ok(store_all(home, windows, &[], &[], &MonitorPolicy::default())?.windows)
}

/// What [`store_all`] wrote and pruned.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stored {
    /// The windows' record ids.
    pub windows: Vec<Digest>,
    /// Prediction log rows added.
    pub predictions: usize,
    /// Prediction log rows pruned (retention).
    pub predictions_pruned: u64,
    /// Request log batches stored (vault objects).
    pub request_batches: Vec<Digest>,
    /// Request log batches pruned (retention).
    pub request_batches_pruned: Vec<Digest>,
}

/// Stores windows (signed records), prediction log rows and request log batches (each an
/// encrypted vault object), then prunes both logs to `policy`'s retention, in one
/// transaction: audited as `monitor.window`, with a `monitor.request-log.prune` record of its
/// own when request log batches were pruned.
pub fn store_all(
    home: &mut Home,
    windows: &[MonitorWindow],
    predictions: &[crate::store::predictions::PredictionRow],
    sampled: &[Sampled],
    policy: &MonitorPolicy,
) -> Result<Stored> {
    use crate::store::predictions as log;
    if windows.is_empty() && predictions.is_empty() && sampled.is_empty() {
        return Ok(Stored::default());
    }
    let now = home.now();
    let tx = home.begin()?;
    let mut out = Stored::default();
    for w in windows {
        out.windows.push(registry::put_record(&tx, w)?);
    }
    out.predictions = log::insert(&tx, predictions)?;
    let day = 86_400i64;
    let oldest = |days: u64| {
        now.0.saturating_sub(
            i64::try_from(days)
                .unwrap_or(i64::MAX / day)
                .saturating_mul(day),
        )
    };
    out.predictions_pruned = log::prune(
        &tx,
        oldest(policy.predictions.max_age_days),
        policy.predictions.max_rows,
    )?;
    let (batches, pruned) = request_log::store(&tx, sampled, &policy.request_log, now)?;
    out.request_batches = batches;
    out.request_batches_pruned = pruned.iter().map(|(id, _)| *id).collect();
    let mut subjects: Vec<String> = out.windows.iter().map(|i| i.hex()).collect();
    subjects.extend(out.request_batches.iter().map(|i| i.hex()));
    tx.commit(AuditEntry::new(
        "monitor.window",
        &subjects,
        json!({ "windows": windows.iter().map(|w| json!({
            "model": w.model.hex(), "slot": w.slot, "start": w.start, "end": w.end,
            "requests": w.requests, "refused": w.refusals() })).collect::<Vec<_>>(),
            "predictions_logged": out.predictions, "predictions_pruned": out.predictions_pruned,
            "requests_sampled": sampled.iter().map(|s| s.requests.len()).sum::<usize>() }),
    ))?;
    request_log::remove_files(home, &pruned)?;
    Ok(out)
}

/// The ids of the windows and alerts held of `model` that this site made (what
/// `bundle export monitor:MODEL` carries).
pub fn ids_for(home: &Home, model: &Digest) -> Result<(Vec<Digest>, Vec<Digest>)> {
    ids_in(home, model, None)
}

/// [`ids_for`], only the windows in `range` (and the alerts raised about them: since before
/// the range's end, raised after its start); all with `None`.
pub fn ids_in(
    home: &Home,
    model: &Digest,
    range: Option<&WindowRange>,
) -> Result<(Vec<Digest>, Vec<Digest>)> {
    let now = home.now();
    let mut windows = Vec::new();
    for id in crate::store::objects::ids_of_kind(home.store(), Kind::MonitorWindow)? {
        let w: MonitorWindow = registry::load(home.store(), home.vault(), &id)?;
        if w.model == *model
            && w.site == *home.site()
            && range.is_none_or(|r| r.holds(w.start, w.end, now))
        {
            windows.push(id);
        }
    }
    let mut alerts = Vec::new();
    for id in crate::store::objects::ids_of_kind(home.store(), Kind::Alert)? {
        let a: Alert = registry::load(home.store(), home.vault(), &id)?;
        if a.model == *model
            && a.site == *home.site()
            && range.is_none_or(|r| r.holds(a.since, Timestamp(a.created_at.0 + 1), now))
        {
            alerts.push(id);
        }
    }
    Ok((windows, alerts))
}

/// Every stored window, merged per (site, model, slot, start), oldest first.
pub fn windows(home: &Home, model: Option<&Digest>) -> Result<Vec<MonitorWindow>> {
    let mut by: BTreeMap<(String, String, String, i64), MonitorWindow> = BTreeMap::new();
    let mut refs: BTreeMap<Digest, Reference> = BTreeMap::new();
    for id in crate::store::objects::ids_of_kind(home.store(), Kind::MonitorWindow)? {
        let w: MonitorWindow = registry::load(home.store(), home.vault(), &id)?;
        if model.is_some_and(|m| *m != w.model) {
            continue;
        }
        let key = (w.site.to_string(), w.model.hex(), w.slot.clone(), w.start.0);
        match by.get_mut(&key) {
            None => {
                by.insert(key, w);
            }
            Some(all) => {
                let r = match refs.entry(w.model) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        let run = crate::ops::train::load_run(home, &w.model)?;
                        e.insert(drift::reference_of(home, &run.dataset)?.0)
                    }
                };
                all.requests += w.requests;
                for (k, n) in &w.refused {
                    *all.refused.entry(k.clone()).or_default() += n;
                }
                all.latency.merge(&w.latency);
                all.scores.merge(&w.scores);
                all.inputs.merge(r, &w.inputs)?;
            }
        }
    }
    let mut v: Vec<MonitorWindow> = by.into_values().collect();
    v.sort_by_key(|w| (w.start, w.slot.clone()));
    Ok(v)
}

/// One window, judged.
#[derive(Clone, Debug, Serialize)]
pub struct WindowReport {
    /// Its start.
    pub start: Timestamp,
    /// Its end.
    pub end: Timestamp,
    /// The slot.
    pub slot: String,
    /// Requests.
    pub requests: u64,
    /// Refused, by reason.
    pub refused: BTreeMap<String, u64>,
    /// p99 latency (upper bound of its bucket), microseconds.
    pub p99_micros: Option<u64>,
    /// Input drift per feature against the training data.
    pub features: Vec<DriftReport>,
    /// Features that drifted.
    pub drifted: Vec<String>,
    /// Jensen-Shannon distance of the scores from the model's first window.
    pub prediction_distance: Option<f64>,
    /// Whether that is drift.
    pub prediction_drift: bool,
}

/// A model's monitoring, window by window.
#[derive(Clone, Debug, Serialize)]
pub struct ModelReport {
    /// The site whose windows these are.
    pub site: crate::site::SiteName,
    /// The model.
    pub model: Digest,
    /// Its windows, oldest first.
    pub windows: Vec<WindowReport>,
    /// Alerts stored for it, newest first.
    pub alerts: Vec<Alert>,
    /// Accuracy over time per slot, when labels were given (`monitor report --labels`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accuracy: Vec<crate::ops::monitor::accuracy::AccuracyReport>,
}

/// The report of every monitored model (or `model`), windows since `since`.
pub fn report(
    home: &Home,
    model: Option<&Digest>,
    since: Option<Timestamp>,
    policy: &MonitorPolicy,
) -> Result<Vec<ModelReport>> {
    report_of(home, home.site(), model, since, policy)
}

/// [`report`] of the windows and alerts `site` made: this site's own, or a peer's that
/// arrived in a bundle (`bundle export monitor:MODEL`).
pub fn report_of(
    home: &Home,
    site: &crate::site::SiteName,
    model: Option<&Digest>,
    since: Option<Timestamp>,
    policy: &MonitorPolicy,
) -> Result<Vec<ModelReport>> {
    report_in(home, site, windows(home, model)?, since, policy)
}

/// [`report_of`] over windows already loaded (`all`, of any site: those of `site` are used).
fn report_in(
    home: &Home,
    site: &crate::site::SiteName,
    all: Vec<MonitorWindow>,
    since: Option<Timestamp>,
    policy: &MonitorPolicy,
) -> Result<Vec<ModelReport>> {
    let all: Vec<MonitorWindow> = all.into_iter().filter(|w| w.site == *site).collect();
    let alerts: Vec<Alert> = alerts(home)?
        .into_iter()
        .filter(|a| a.site == *site)
        .collect();
    let mut models: Vec<Digest> = all.iter().map(|w| w.model).collect();
    models.dedup();
    models.sort();
    models.dedup();
    let mut out = Vec::new();
    for m in models {
        let run = crate::ops::train::load_run(home, &m)?;
        let (reference, _) = drift::reference_of(home, &run.dataset)?;
        let mine: Vec<&MonitorWindow> = all.iter().filter(|w| w.model == m).collect();
        let min = policy.prediction_min_rows;
        let first = mine
            .iter()
            .find(|w| w.scores.count() >= min)
            .map(|w| w.scores.clone());
        let windows = mine
            .iter()
            .filter(|w| since.is_none_or(|t| w.end > t))
            .map(|w| {
                let features = drift::compare(&reference, &w.inputs, &policy.drift);
                let drifted = features
                    .iter()
                    .filter(|f| f.verdict == Verdict::Drift)
                    .map(|f| f.column.clone())
                    .collect();
                let prediction_distance = first
                    .as_ref()
                    .filter(|_| w.scores.count() >= min)
                    .and_then(|f| w.scores.distance(f));
                WindowReport {
                    start: w.start,
                    end: w.end,
                    slot: w.slot.clone(),
                    requests: w.requests,
                    refused: w.refused.clone(),
                    p99_micros: w.latency.quantile(0.99),
                    features,
                    drifted,
                    prediction_drift: prediction_distance
                        .is_some_and(|d| d >= policy.prediction_drift),
                    prediction_distance,
                }
            })
            .collect();
        let mut mine_alerts: Vec<Alert> = alerts.iter().filter(|a| a.model == m).cloned().collect();
        mine_alerts.sort_by_key(|a| std::cmp::Reverse(a.created_at));
        out.push(ModelReport {
            site: site.clone(),
            model: m,
            windows,
            alerts: mine_alerts,
            accuracy: Vec::new(),
        });
    }
    Ok(out)
}

/// Every stored alert.
pub fn alerts(home: &Home) -> Result<Vec<Alert>> {
    let mut v = Vec::new();
    for id in crate::store::objects::ids_of_kind(home.store(), Kind::Alert)? {
        v.push(registry::load::<Alert>(home.store(), home.vault(), &id)?);
    }
    v.sort_by_key(|a| a.created_at);
    Ok(v)
}

/// What a check did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Checked {
    /// Alerts raised now (each stored).
    pub raised: Vec<Alert>,
    /// The canary's rollback by the node, with its reason, if one was rolled back.
    pub rolled_back: Option<(Digest, String)>,
    /// The canary's promotion by the node, with its reason, if it was promoted.
    pub promoted: Option<(Digest, String)>,
}

/// Raises the alerts the stored windows show that are not raised yet, and rolls back a
/// canary that does worse than production by more than `policy` allows (the node acts:
/// signed by the site, audited as `model.rollback` with `automatic: true`).
pub fn check(home: &mut Home, policy: &MonitorPolicy) -> Result<Checked> {
    check_as(home, policy, true)
}

/// [`check`]'s alerts only: the canary is neither rolled back nor promoted (what a batch
/// `predict` runs: a batch scored once does not decide the canary's fate; the next check of
/// `serve` or `airlock monitor check` judges its windows with the others).
pub fn check_alerts(home: &mut Home, policy: &MonitorPolicy) -> Result<Checked> {
    check_as(home, policy, false)
}

fn check_as(home: &mut Home, policy: &MonitorPolicy, act: bool) -> Result<Checked> {
    // The stored windows, loaded and merged once for the alerts and the canary's verdict.
    let all = windows(home, None)?;
    let reports = report_in(home, home.site(), all.clone(), None, policy)?;
    let known = alerts(home)?;
    let now = home.now();
    let labels: Option<crate::vault::registry::NameRef> = policy
        .accuracy
        .labels
        .as_deref()
        .map(str::parse)
        .transpose()?;
    let mut raised = Vec::new();
    for r in &reports {
        for slot in ["production", "canary", "shadow"]
            .iter()
            .map(|s| s.to_string())
            .chain(r.windows.iter().map(|w| w.slot.clone()))
            .collect::<std::collections::BTreeSet<_>>()
        {
            let ws: Vec<&WindowReport> = r.windows.iter().filter(|w| w.slot == slot).collect();
            let Some(last) = ws.last() else { continue };
            // Since: the first window of the run of windows in which it is seen.
            let since = |seen: &dyn Fn(&WindowReport) -> bool| -> Timestamp {
                let mut s = last.start;
                for w in ws.iter().rev() {
                    if seen(w) {
                        s = w.start;
                    } else {
                        break;
                    }
                }
                s
            };
            let mut found: Vec<Alert> = Vec::new();
            for f in last.features.iter().filter(|f| f.verdict == Verdict::Drift) {
                let col = f.column.clone();
                found.push(Alert {
                    ty: ALERT_TYPE.into(),
                    site: home.site().clone(),
                    model: r.model,
                    slot: slot.clone(),
                    kind: "input drift".into(),
                    feature: Some(col.clone()),
                    metric: f.measure.map_or("-", |m| m.name()).into(),
                    value: f.value.unwrap_or(f64::NAN),
                    threshold: f.threshold.unwrap_or(f64::NAN),
                    since: since(&|w: &WindowReport| w.drifted.contains(&col)),
                    created_at: now,
                });
            }
            if last.prediction_drift {
                found.push(Alert {
                    ty: ALERT_TYPE.into(),
                    site: home.site().clone(),
                    model: r.model,
                    slot: slot.clone(),
                    kind: "prediction drift".into(),
                    feature: None,
                    metric: "jensen-shannon".into(),
                    value: last.prediction_distance.unwrap_or(f64::NAN),
                    threshold: policy.prediction_drift,
                    since: since(&|w: &WindowReport| w.prediction_drift),
                    created_at: now,
                });
            }
            for a in found {
                if is_new(&known, &raised, &a) {
                    raised.push(a);
                }
            }
        }
        // Accuracy, per slot the model answered in, once labels have arrived.
        if let Some(l) = &labels {
            for a in crate::ops::monitor::accuracy::alerts(home, &r.model, l, policy)? {
                if is_new(&known, &raised, &a) {
                    raised.push(a);
                }
            }
        }
    }
    store_alerts(home, &raised)?;
    if !act {
        return Ok(Checked {
            raised,
            ..Checked::default()
        });
    }
    let rolled_back = canary_verdict(home, policy, &all)?;
    let mut promoted = None;
    if let Some((_, why)) = &rolled_back {
        rollout::retire_by_node(home, rollout::CANARY, why)?;
    } else if let Some((model, why, since)) = canary_promotion(home, policy, &all)? {
        match rollout::promote_by_node(home, &why) {
            Ok(_) => promoted = Some((model, why)),
            // What production needs, the canary's model lacks: the node does not act, it
            // says so, once per canary deployment.
            Err(Error::Refused(refusal)) => {
                let a = Alert {
                    ty: ALERT_TYPE.into(),
                    site: home.site().clone(),
                    model,
                    slot: rollout::CANARY.into(),
                    kind: "promotion refused".into(),
                    feature: None,
                    metric: format!("windows passed; not promoted: {refusal}"),
                    value: policy.canary.promote_after as f64,
                    threshold: policy.canary.promote_after as f64,
                    since,
                    created_at: now,
                };
                let known = alerts(home)?;
                if is_new(&known, &raised, &a) {
                    store_alerts(home, std::slice::from_ref(&a))?;
                    raised.push(a);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Checked {
        raised,
        rolled_back,
        promoted,
    })
}

/// Stores alerts, each a signed record, audited together as `monitor.alert`.
fn store_alerts(home: &mut Home, raised: &[Alert]) -> Result<()> {
    if raised.is_empty() {
        return Ok(());
    }
    let tx = home.begin()?;
    let mut ids = Vec::new();
    for a in raised {
        ids.push(registry::put_record(&tx, a)?.hex());
    }
    tx.commit(AuditEntry::new(
        "monitor.alert",
        &ids,
        json!({ "alerts": raised.iter().map(|a| json!({ "model": a.model.hex(), "slot": a.slot,
            "kind": a.kind, "feature": a.feature, "metric": a.metric, "value": a.value,
            "threshold": a.threshold, "since": a.since })).collect::<Vec<_>>() }),
    ))?;
    Ok(())
}

/// Whether `a` is raised neither before nor now (one alert per model, slot, kind, feature and
/// since), and has finite figures.
fn is_new(known: &[Alert], raised: &[Alert], a: &Alert) -> bool {
    let dup = known.iter().chain(raised).any(|k| {
        k.model == a.model
            && k.slot == a.slot
            && k.kind == a.kind
            && k.feature == a.feature
            && k.since == a.since
    });
    !dup && a.value.is_finite() && a.threshold.is_finite()
}
