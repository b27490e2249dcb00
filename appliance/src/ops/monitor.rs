//! Monitoring a deployed model: what `airlock serve` keeps per time window, the report, the
//! alerts and the canary's automatic rollback.
//!
//! For every model it answers with (production, canary) or scores with (shadow), `serve`
//! keeps one open window: request and refusal counts, latency in power-of-two buckets, the
//! scores in 20 bins and a sketch of every input feature laid out by the model's training
//! data (the drift module's bounded summaries: at most 4,096 exact values, then the
//! reference's cells, per numeric feature; one counter per reference category and one for
//! others). No request is kept. When a window ends it is stored as a signed
//! `airlock.monitor-window/v1` record with its audit entry, and [`check`] runs: it raises an
//! alert (a signed record, audited) for each input feature that drifted from the training
//! data and for scores that drifted from the model's first window, and rolls back a canary
//! that does worse than production by more than the policy allows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use airlock_core::contract::Value;
use airlock_core::monitor::{ALERT_TYPE, Alert, Latency, MonitorWindow, Scores, WINDOW_TYPE};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::drift::{self, DriftPolicy, DriftReport, Reference, Sketch, Verdict};
use crate::ops::rollout;
use crate::ops::score::Answer;
use crate::ops::score::Scorer;
use crate::store::AuditEntry;
use crate::vault::registry::{self, Kind};

/// When a canary is rolled back by the node itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CanaryRules {
    /// Fewer canary requests than this over its windows: not judged yet.
    pub min_requests: u64,
    /// Rolled back when its share of refused requests exceeds production's by more.
    pub max_error_rate_increase: f64,
    /// Rolled back when its p99 latency is more than this many times production's.
    pub max_latency_ratio: f64,
    /// Rolled back when the Jensen-Shannon distance of its scores from production's (same
    /// windows) is above this.
    pub max_prediction_distance: f64,
}

impl Default for CanaryRules {
    fn default() -> Self {
        CanaryRules {
            min_requests: 50,
            max_error_rate_increase: 0.05,
            max_latency_ratio: 3.0,
            max_prediction_distance: 0.3,
        }
    }
}

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
    /// The canary's automatic rollback.
    pub canary: CanaryRules,
}

impl Default for MonitorPolicy {
    fn default() -> Self {
        MonitorPolicy {
            window_seconds: 3600,
            drift: DriftPolicy::default(),
            prediction_drift: 0.1,
            prediction_min_rows: 200,
            canary: CanaryRules::default(),
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
        Ok(p)
    }
}

/// One window being filled.
struct Open {
    start: i64,
    requests: u64,
    refused: BTreeMap<String, u64>,
    latency: Latency,
    scores: Scores,
    inputs: Sketch,
}

/// What one model in one slot has seen: the open window and the closed ones not yet stored.
pub struct Collector {
    model: Digest,
    slot: String,
    reference: Reference,
    /// The label column's index (absent from requests).
    label: Option<usize>,
    window: i64,
    open: Option<Open>,
    closed: Vec<MonitorWindow>,
    site: crate::site::SiteName,
}

/// One request as served, for the monitor.
pub struct Seen<'a> {
    /// The request as the typed row the model read (contract order), when it was answered.
    pub row: Option<&'a [Value]>,
    /// The answer given (or, for a shadow, computed).
    pub answer: Option<&'a Answer>,
    /// Why it was refused, if it was.
    pub refused: Option<&'a str>,
    /// How long the answer took, in microseconds.
    pub micros: u64,
}

/// The score a window counts for an answer: the positive class's probability (binary), the
/// top class's (multiclass); none for regression.
fn score(a: &Answer) -> Option<f64> {
    a.probability.map(f64::from)
}

impl Collector {
    /// A collector for `scorer`'s model in `slot`, its inputs laid out by the model's
    /// training data.
    pub fn new(home: &Home, scorer: &Scorer, slot: &str, window_seconds: u64) -> Result<Collector> {
        let (reference, _) = drift::reference_of(home, &scorer.run.dataset)?;
        Ok(Collector {
            model: scorer.model_id,
            slot: slot.to_owned(),
            reference,
            label: scorer.contract().index_of(scorer.label()),
            window: i64::try_from(window_seconds.max(1)).unwrap_or(3600),
            open: None,
            closed: Vec::new(),
            site: home.site().clone(),
        })
    }

    /// The model.
    pub fn model(&self) -> Digest {
        self.model
    }

    /// Closes the open window if `now` is past its end.
    pub fn tick(&mut self, now: Timestamp) {
        if let Some(o) = &self.open
            && now.0 >= o.start + self.window
        {
            self.close();
        }
    }

    fn close(&mut self) {
        if let Some(o) = self.open.take() {
            self.closed.push(MonitorWindow {
                ty: WINDOW_TYPE.into(),
                site: self.site.clone(),
                model: self.model,
                slot: self.slot.clone(),
                start: Timestamp(o.start),
                end: Timestamp(o.start + self.window),
                requests: o.requests,
                refused: o.refused,
                latency: o.latency,
                scores: o.scores,
                inputs: o.inputs,
            });
        }
    }

    /// Counts one request seen at `now`.
    pub fn record(&mut self, now: Timestamp, seen: &Seen<'_>) {
        self.tick(now);
        let window = self.window;
        let reference = &self.reference;
        let o = self.open.get_or_insert_with(|| Open {
            start: now.0 - now.0.rem_euclid(window),
            requests: 0,
            refused: BTreeMap::new(),
            latency: Latency::default(),
            scores: Scores::default(),
            inputs: reference.sketch(),
        });
        o.requests += 1;
        if let Some(why) = seen.refused {
            *o.refused.entry(why.to_owned()).or_default() += 1;
            return;
        }
        o.latency.add(seen.micros);
        if let Some(s) = seen.answer.and_then(score) {
            o.scores.add(s);
        }
        if let Some(row) = seen.row {
            o.inputs.row();
            for (i, v) in row.iter().enumerate() {
                if !matches!(v, Value::Null) || Some(i) != self.label {
                    o.inputs.cell(&self.reference, i, v.as_ref());
                }
            }
        }
    }

    /// The closed windows not yet stored; with `all`, the open one too (at shutdown).
    pub fn take(&mut self, all: bool) -> Vec<MonitorWindow> {
        if all {
            self.close();
        }
        std::mem::take(&mut self.closed)
    }
}

/// Stores windows, each a signed record, in one transaction with one audit entry.
pub fn store(home: &mut Home, windows: &[MonitorWindow]) -> Result<Vec<Digest>> {
    if windows.is_empty() {
        return Ok(Vec::new());
    }
    let tx = home.begin()?;
    let mut ids = Vec::new();
    for w in windows {
        ids.push(registry::put_record(&tx, w)?);
    }
    tx.commit(AuditEntry::new(
        "monitor.window",
        &ids.iter().map(|i| i.hex()).collect::<Vec<_>>(),
        json!({ "windows": windows.iter().map(|w| json!({
            "model": w.model.hex(), "slot": w.slot, "start": w.start, "end": w.end,
            "requests": w.requests, "refused": w.refusals() })).collect::<Vec<_>>() }),
    ))?;
    Ok(ids)
}

/// The ids of the windows and alerts held of `model` that this site made (what
/// `bundle export monitor:MODEL` carries).
pub fn ids_for(home: &Home, model: &Digest) -> Result<(Vec<Digest>, Vec<Digest>)> {
    let mut windows = Vec::new();
    for id in registry::digests(
        &home.conn,
        "SELECT id FROM objects WHERE kind = ?1",
        Kind::MonitorWindow.as_str(),
    )? {
        let w: MonitorWindow = registry::load(&home.conn, home.vault(), &id)?;
        if w.model == *model && w.site == *home.site() {
            windows.push(id);
        }
    }
    let mut alerts = Vec::new();
    for id in registry::digests(
        &home.conn,
        "SELECT id FROM objects WHERE kind = ?1",
        Kind::Alert.as_str(),
    )? {
        let a: Alert = registry::load(&home.conn, home.vault(), &id)?;
        if a.model == *model && a.site == *home.site() {
            alerts.push(id);
        }
    }
    Ok((windows, alerts))
}

/// Every stored window, merged per (site, model, slot, start), oldest first.
pub fn windows(home: &Home, model: Option<&Digest>) -> Result<Vec<MonitorWindow>> {
    let mut by: BTreeMap<(String, String, String, i64), MonitorWindow> = BTreeMap::new();
    let mut refs: BTreeMap<Digest, Reference> = BTreeMap::new();
    for id in registry::digests(
        &home.conn,
        "SELECT id FROM objects WHERE kind = ?1",
        Kind::MonitorWindow.as_str(),
    )? {
        let w: MonitorWindow = registry::load(&home.conn, home.vault(), &id)?;
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
        });
    }
    Ok(out)
}

/// Every stored alert.
pub fn alerts(home: &Home) -> Result<Vec<Alert>> {
    let mut v = Vec::new();
    for id in registry::digests(
        &home.conn,
        "SELECT id FROM objects WHERE kind = ?1",
        Kind::Alert.as_str(),
    )? {
        v.push(registry::load::<Alert>(&home.conn, home.vault(), &id)?);
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
}

/// Raises the alerts the stored windows show that are not raised yet, and rolls back a
/// canary that does worse than production by more than `policy` allows (the node acts:
/// signed by the site, audited as `model.rollback` with `automatic: true`).
pub fn check(home: &mut Home, policy: &MonitorPolicy) -> Result<Checked> {
    // The stored windows, loaded and merged once for the alerts and the canary's verdict.
    let all = windows(home, None)?;
    let reports = report_in(home, home.site(), all.clone(), None, policy)?;
    let known = alerts(home)?;
    let now = home.now();
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
                let dup = known.iter().chain(&raised).any(|k: &Alert| {
                    k.model == a.model
                        && k.slot == a.slot
                        && k.kind == a.kind
                        && k.feature == a.feature
                        && k.since == a.since
                });
                if !dup && a.value.is_finite() && a.threshold.is_finite() {
                    raised.push(a);
                }
            }
        }
    }
    if !raised.is_empty() {
        let tx = home.begin()?;
        let mut ids = Vec::new();
        for a in &raised {
            ids.push(registry::put_record(&tx, a)?.hex());
        }
        tx.commit(AuditEntry::new(
            "monitor.alert",
            &ids,
            json!({ "alerts": raised.iter().map(|a| json!({ "model": a.model.hex(), "slot": a.slot,
                "kind": a.kind, "feature": a.feature, "metric": a.metric, "value": a.value,
                "threshold": a.threshold, "since": a.since })).collect::<Vec<_>>() }),
        ))?;
    }
    let rolled_back = canary_verdict(home, policy, &all)?;
    if let Some((_, why)) = &rolled_back {
        rollout::retire_by_node(home, rollout::CANARY, why)?;
    }
    Ok(Checked {
        raised,
        rolled_back,
    })
}

/// Why the canary should be rolled back, judged on the windows it shares with production
/// since it was deployed; `None` while it does no worse (or has too few requests).
fn canary_verdict(
    home: &Home,
    policy: &MonitorPolicy,
    all: &[MonitorWindow],
) -> Result<Option<(Digest, String)>> {
    let Some((_, dep)) = rollout::current(home, rollout::CANARY)? else {
        return Ok(None);
    };
    let Some(prod) = rollout::deployed(home, rollout::PRODUCTION)? else {
        return Ok(None);
    };
    // Only this site's own windows judge its canary.
    let all: Vec<&MonitorWindow> = all.iter().filter(|w| w.site == *home.site()).collect();
    let canary: Vec<&MonitorWindow> = all
        .iter()
        .copied()
        .filter(|w| w.model == dep.model && w.slot == rollout::CANARY && w.end > dep.created_at)
        .collect();
    let starts: Vec<Timestamp> = canary.iter().map(|w| w.start).collect();
    let production: Vec<&MonitorWindow> = all
        .iter()
        .copied()
        .filter(|w| w.model == prod && w.slot == rollout::PRODUCTION && starts.contains(&w.start))
        .collect();
    let sum = |ws: &[&MonitorWindow]| {
        let mut requests = 0;
        let mut refused = 0;
        let mut latency = Latency::default();
        let mut scores = Scores::default();
        for w in ws {
            requests += w.requests;
            refused += w.refusals();
            latency.merge(&w.latency);
            scores.merge(&w.scores);
        }
        (requests, refused, latency, scores)
    };
    let (cn, cr, cl, cs) = sum(&canary);
    let (pn, pr, pl, ps) = sum(&production);
    let rules = &policy.canary;
    if cn < rules.min_requests || pn == 0 {
        return Ok(None);
    }
    let (ce, pe) = (cr as f64 / cn as f64, pr as f64 / pn as f64);
    if ce - pe > rules.max_error_rate_increase {
        return Ok(Some((
            dep.model,
            format!(
                "automatic: the canary refused {:.1}% of its {cn} requests, production {:.1}% (more than {:.1} points worse)",
                100.0 * ce,
                100.0 * pe,
                100.0 * rules.max_error_rate_increase
            ),
        )));
    }
    if let (Some(c99), Some(p99)) = (cl.quantile(0.99), pl.quantile(0.99))
        && c99 as f64 > rules.max_latency_ratio * p99 as f64
    {
        return Ok(Some((
            dep.model,
            format!(
                "automatic: the canary's p99 latency is about {c99} µs, production's {p99} µs (more than {} times)",
                rules.max_latency_ratio
            ),
        )));
    }
    if let Some(d) = cs.distance(&ps)
        && d > rules.max_prediction_distance
    {
        return Ok(Some((
            dep.model,
            format!(
                "automatic: the canary's scores are {d:.3} (Jensen-Shannon distance) from production's over the same windows, above {}",
                rules.max_prediction_distance
            ),
        )));
    }
    Ok(None)
}
