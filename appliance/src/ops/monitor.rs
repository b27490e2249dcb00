//! Monitoring a deployed model: what `airlock serve` keeps per time window, the report, the
//! alerts and the canary's automatic rollback.
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

use airlock_core::contract::Value;
use airlock_core::monitor::{ALERT_TYPE, Alert, Latency, MonitorWindow, Scores, WINDOW_TYPE};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::drift::{self, DriftPolicy, DriftReport, Reference, Sketch, Verdict};
use crate::ops::lifecycle::{Answer, Scorer};
use crate::ops::rollout;
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
    /// Promoted by the node when it has passed these rules in this many of its windows (each
    /// with requests, `min_requests` in all); 0: never (the default).
    pub promote_after: u64,
}

impl Default for CanaryRules {
    fn default() -> Self {
        CanaryRules {
            min_requests: 50,
            max_error_rate_increase: 0.05,
            max_latency_ratio: 3.0,
            max_prediction_distance: 0.3,
            promote_after: 0,
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

/// The sampled request log: raw requests, encrypted in the vault, pruned at a limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestLog {
    /// The share of requests kept, in percent; 0 (the default): off, nothing kept.
    pub sample_percent: f64,
    /// At most this many requests kept per model, slot and window.
    pub max_per_window: u64,
    /// Batches older than this many days are pruned.
    pub max_age_days: u64,
    /// At most this many batches are kept (the oldest pruned first).
    pub max_batches: u64,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog {
            sample_percent: 0.0,
            max_per_window: 10_000,
            max_age_days: 7,
            max_batches: 1_000,
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

/// One window being filled.
struct Open {
    start: i64,
    requests: u64,
    refused: BTreeMap<String, u64>,
    latency: Latency,
    scores: Scores,
    inputs: Sketch,
    /// The sampled raw requests (only when the request log is on).
    sampled: Vec<String>,
}

/// A window's sample of raw requests, to be stored encrypted in the vault.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampled {
    /// The model.
    pub model: Digest,
    /// Its slot.
    pub slot: String,
    /// The window's start.
    pub start: Timestamp,
    /// The window's end.
    pub end: Timestamp,
    /// The requests, as received.
    pub requests: Vec<String>,
}

/// What one model in one slot has seen: the open window and the closed ones not yet stored,
/// the prediction log rows not yet stored, and the request log's samples.
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
    /// Whether answers go to the prediction log (the policy keeps it and the contract names
    /// an entity or key column: without one the key would be the whole request).
    keyed: bool,
    /// Prediction log rows not stored yet, at most `max_pending` (the oldest dropped: the
    /// log's retention would prune them first).
    pending: std::collections::VecDeque<crate::store::predictions::PredictionRow>,
    max_pending: usize,
    /// The request log's share (percent; 0 off) and cap per window.
    sample: f64,
    max_sample: usize,
    closed_sampled: Vec<Sampled>,
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
        let policy = MonitorPolicy {
            window_seconds,
            ..MonitorPolicy::default()
        };
        Collector::with_policy(home, scorer, slot, &policy)
    }

    /// A collector as `policy` says: its window length, its prediction log and request log.
    pub fn with_policy(
        home: &Home,
        scorer: &Scorer,
        slot: &str,
        policy: &MonitorPolicy,
    ) -> Result<Collector> {
        let (reference, _) = drift::reference_of(home, &scorer.run.dataset)?;
        let c = scorer.contract();
        let has_key = c.entity.is_some() || c.key.as_ref().is_some_and(|k| !k.is_empty());
        Ok(Collector {
            model: scorer.model_id,
            slot: slot.to_owned(),
            reference,
            label: c.index_of(scorer.label()),
            window: i64::try_from(policy.window_seconds.max(1)).unwrap_or(3600),
            open: None,
            closed: Vec::new(),
            site: home.site().clone(),
            keyed: policy.predictions.keep && has_key,
            pending: std::collections::VecDeque::new(),
            max_pending: usize::try_from(policy.predictions.max_rows).unwrap_or(usize::MAX),
            // The shadow sees production's requests: sampled once, in production's log.
            sample: if slot == rollout::SHADOW {
                0.0
            } else {
                policy.request_log.sample_percent
            },
            max_sample: usize::try_from(policy.request_log.max_per_window).unwrap_or(usize::MAX),
            closed_sampled: Vec::new(),
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
            if !o.sampled.is_empty() {
                self.closed_sampled.push(Sampled {
                    model: self.model,
                    slot: self.slot.clone(),
                    start: Timestamp(o.start),
                    end: Timestamp(o.start + self.window),
                    requests: o.sampled,
                });
            }
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
        self.count(now, seen, true);
    }

    /// [`Collector::record`]; `timed`: count its latency (not for a batch row, whose time
    /// comes with its answer).
    fn count(&mut self, now: Timestamp, seen: &Seen<'_>, timed: bool) {
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
            sampled: Vec::new(),
        });
        o.requests += 1;
        if let Some(why) = seen.refused {
            *o.refused.entry(why.to_owned()).or_default() += 1;
            return;
        }
        if timed {
            o.latency.add(seen.micros);
        }
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

    /// Counts one request of a batch (`predict`) at `now`: its typed row now, its answer
    /// later with [`Collector::answered`].
    pub fn input(&mut self, now: Timestamp, row: &[Value]) {
        let seen = Seen {
            row: Some(row),
            answer: None,
            refused: None,
            micros: 0,
        };
        self.count(now, &seen, false);
    }

    /// The answer to a request counted by [`Collector::input`] at the same `now`: its score,
    /// its time, and its prediction log row (with `key`).
    pub fn answered(&mut self, now: Timestamp, answer: &Answer, micros: u64, key: Option<&str>) {
        self.tick(now);
        if let Some(o) = &mut self.open {
            o.latency.add(micros);
            if let Some(s) = score(answer) {
                o.scores.add(s);
            }
        }
        self.log(now, key, answer);
    }

    fn log(&mut self, now: Timestamp, key: Option<&str>, a: &Answer) {
        if !self.keyed || self.max_pending == 0 {
            return;
        }
        let Some(k) = key else { return };
        if self.pending.len() >= self.max_pending {
            self.pending.pop_front();
        }
        self.pending
            .push_back(crate::store::predictions::PredictionRow {
                model: self.model,
                slot: self.slot.clone(),
                entity: k.to_owned(),
                at: now.0,
                score: score(a),
                class: a.class.clone(),
            });
    }

    /// [`Collector::record`], with the request's entity key (for the prediction log) and its
    /// raw text (for the request log, when on).
    pub fn record_request(
        &mut self,
        now: Timestamp,
        seen: &Seen<'_>,
        key: Option<&str>,
        request: &str,
    ) {
        self.record(now, seen);
        if seen.refused.is_none()
            && let Some(a) = seen.answer
        {
            self.log(now, key, a);
        }
        if self.sample > 0.0
            && let Some(o) = &mut self.open
            && o.sampled.len() < self.max_sample
            && sampled(request, self.sample)
        {
            o.sampled.push(request.to_owned());
        }
    }

    /// The prediction log rows and request log samples (of closed windows) not yet stored.
    pub fn take_logs(&mut self) -> (Vec<crate::store::predictions::PredictionRow>, Vec<Sampled>) {
        (
            std::mem::take(&mut self.pending).into(),
            std::mem::take(&mut self.closed_sampled),
        )
    }

    /// The closed windows not yet stored; with `all`, the open one too (at shutdown).
    pub fn take(&mut self, all: bool) -> Vec<MonitorWindow> {
        if all {
            self.close();
        }
        std::mem::take(&mut self.closed)
    }
}

/// Whether the request log keeps `request` at `percent`: a stable hash of its text, so the
/// same request is always in or out.
fn sampled(request: &str, percent: f64) -> bool {
    let mut b = b"airlock.request-log\0".to_vec();
    b.extend_from_slice(request.as_bytes());
    ((airlock_core::sketch::hash64(&b) % 10_000) as f64) < percent * 100.0
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

/// Type tag of a request log batch.
pub const REQUEST_LOG_TYPE: &str = "airlock.request-log/v1";

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
    for s in sampled {
        let bytes = serde_json::to_vec(&json!({ "type": REQUEST_LOG_TYPE, "site": home_site(&tx),
            "model": s.model.hex(), "slot": s.slot, "start": s.start, "end": s.end,
            "requests": s.requests }))
        .map_err(|e| Error::Rejected(format!("cannot encode a request log batch: {e}")))?;
        let id = registry::put_object(&tx, Kind::RequestLog, &bytes)?;
        log::add_batch(
            &tx,
            &log::RequestBatch {
                id,
                model: s.model,
                slot: s.slot.clone(),
                start: s.start.0,
                requests: s.requests.len() as u64,
                stored: now.0,
            },
        )?;
        out.request_batches.push(id);
    }
    // The request log's retention: too old, then the oldest beyond the count.
    let held = log::batches(&tx)?;
    let too_old = oldest(policy.request_log.max_age_days);
    let over = held
        .len()
        .saturating_sub(usize::try_from(policy.request_log.max_batches).unwrap_or(usize::MAX));
    let mut keep_files = Vec::new();
    for (i, b) in held.iter().enumerate() {
        if i < over || b.stored < too_old {
            if log::drop_batch(&tx, &b.id)? {
                keep_files.push(b.id);
            }
            out.request_batches_pruned.push(b.id);
        }
    }
    if !out.request_batches_pruned.is_empty() {
        tx.record(AuditEntry::new(
            "monitor.request-log.prune",
            &out.request_batches_pruned
                .iter()
                .map(|i| i.hex())
                .collect::<Vec<_>>(),
            json!({ "batches": out.request_batches_pruned.len(),
                    "max_age_days": policy.request_log.max_age_days,
                    "max_batches": policy.request_log.max_batches }),
        ))?;
    }
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
    // The files of pruned batches go once their rows are gone for good; a crash in between
    // leaves an unreferenced encrypted file, which `airlock vault verify` lists.
    for id in &out.request_batches_pruned {
        if !keep_files.contains(id) {
            home.vault().remove(id)?;
        }
    }
    Ok(out)
}

/// The request log's batches held, oldest first (`airlock monitor requests`).
pub fn request_batches(home: &Home) -> Result<Vec<crate::store::predictions::RequestBatch>> {
    crate::store::predictions::batches(&home.conn)
}

/// The requests of one batch of the request log, decrypted from the vault.
pub fn request_batch(home: &Home, id: &Digest) -> Result<Vec<String>> {
    if registry::held_as(&home.conn, id, Kind::RequestLog)?.is_none() {
        return Err(Error::NotFound(format!(
            "no request log batch {} is held here (pruned, or never kept)",
            id.short()
        )));
    }
    let bytes = home.vault().read(id, Kind::RequestLog.max_size())?;
    #[derive(Deserialize)]
    struct Batch {
        requests: Vec<String>,
    }
    let b: Batch = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Integrity(format!("request log batch {}: {e}", id.short())))?;
    Ok(b.requests)
}

fn home_site(tx: &crate::store::AuditedTx<'_>) -> String {
    tx.site().to_string()
}

/// A range of windows, as `bundle export monitor:MODEL@RANGE` names it: `FROM..TO` (either
/// side may be left out), each an RFC 3339 time or a date (a date as `TO` includes that whole
/// day), or `last:N` with a unit `s`, `m`, `h` or `d` (the last N before the export).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowRange {
    /// Windows overlapping `[from, to)`.
    Between {
        /// The start (none: from the first).
        from: Option<Timestamp>,
        /// The end, exclusive (none: to the last).
        to: Option<Timestamp>,
    },
    /// Windows overlapping the last this many seconds.
    Last(i64),
}

impl std::str::FromStr for WindowRange {
    type Err = Error;
    fn from_str(s: &str) -> Result<WindowRange> {
        let bad = |why: &str| {
            Error::Rejected(format!(
                "window range {:?}: {why}; write FROM..TO (RFC 3339 times or dates, either side may be left out) or last:N with s, m, h or d",
                crate::text::escape(s)
            ))
        };
        if let Some(n) = s.strip_prefix("last:") {
            let (num, unit) = n.split_at(n.len().saturating_sub(1));
            let scale = match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                _ => return Err(bad("the unit must be s, m, h or d")),
            };
            let num: i64 = num
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad("the length must be a whole number above 0"))?;
            return num
                .checked_mul(scale)
                .map(WindowRange::Last)
                .ok_or_else(|| bad("too long"));
        }
        let (a, b) = s.split_once("..").ok_or_else(|| bad("no \"..\""))?;
        let at = |t: &str, end: bool| -> Result<Option<Timestamp>> {
            if t.is_empty() {
                return Ok(None);
            }
            if let Some(d) = airlock_core::contract::parse_date(t) {
                return Ok(Some(Timestamp(if end { d + 86_400 } else { d })));
            }
            t.parse::<Timestamp>().map(Some).map_err(|_| {
                bad(&format!(
                    "{:?} is neither a date nor an RFC 3339 time",
                    crate::text::escape(t)
                ))
            })
        };
        let (from, to) = (at(a, false)?, at(b, true)?);
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(bad("it ends before it starts"));
        }
        Ok(WindowRange::Between { from, to })
    }
}

impl WindowRange {
    /// Whether a window `[start, end)` overlaps the range, at `now`.
    pub fn holds(&self, start: Timestamp, end: Timestamp, now: Timestamp) -> bool {
        let (from, to) = match self {
            WindowRange::Between { from, to } => (*from, *to),
            WindowRange::Last(n) => (Some(Timestamp(now.0.saturating_sub(*n))), None),
        };
        from.is_none_or(|f| end > f) && to.is_none_or(|t| start < t)
    }
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
    for id in registry::digests(
        &home.conn,
        "SELECT id FROM objects WHERE kind = ?1",
        Kind::MonitorWindow.as_str(),
    )? {
        let w: MonitorWindow = registry::load(&home.conn, home.vault(), &id)?;
        if w.model == *model
            && w.site == *home.site()
            && range.is_none_or(|r| r.holds(w.start, w.end, now))
        {
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
    /// Accuracy over time per slot, when labels were given (`monitor report --labels`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accuracy: Vec<crate::ops::accuracy::AccuracyReport>,
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
            for a in crate::ops::accuracy::alerts(home, &r.model, l, policy)? {
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

/// The canary's model, its windows, and production's windows of the same starts.
type CanaryWindows<'a> = (Digest, Vec<&'a MonitorWindow>, Vec<&'a MonitorWindow>);

/// The canary's windows since it was deployed, and production's of the same starts (this
/// site's own); `None` without a canary and a production model.
fn canary_windows<'a>(home: &Home, all: &'a [MonitorWindow]) -> Result<Option<CanaryWindows<'a>>> {
    let Some((_, dep)) = rollout::current(home, rollout::CANARY)? else {
        return Ok(None);
    };
    let Some(prod) = rollout::deployed(home, rollout::PRODUCTION)? else {
        return Ok(None);
    };
    let mine: Vec<&MonitorWindow> = all.iter().filter(|w| w.site == *home.site()).collect();
    let canary: Vec<&MonitorWindow> = mine
        .iter()
        .copied()
        .filter(|w| w.model == dep.model && w.slot == rollout::CANARY && w.end > dep.created_at)
        .collect();
    let starts: Vec<Timestamp> = canary.iter().map(|w| w.start).collect();
    let production: Vec<&MonitorWindow> = mine
        .iter()
        .copied()
        .filter(|w| w.model == prod && w.slot == rollout::PRODUCTION && starts.contains(&w.start))
        .collect();
    Ok(Some((dep.model, canary, production)))
}

/// Whether the canary is to be promoted by the node: the policy's `promote_after` is set,
/// and the canary has passed the rollback rules (judged over all its windows, as
/// [`canary_verdict`] judges them) with at least `min_requests` requests, over at least
/// `promote_after` windows with requests that production served too. The model, the reason
/// and the start of its first window.
fn canary_promotion(
    home: &Home,
    policy: &MonitorPolicy,
    all: &[MonitorWindow],
) -> Result<Option<(Digest, String, Timestamp)>> {
    let n = policy.canary.promote_after;
    if n == 0 {
        return Ok(None);
    }
    let Some((model, canary, production)) = canary_windows(home, all)? else {
        return Ok(None);
    };
    let served: Vec<&&MonitorWindow> = canary
        .iter()
        .filter(|w| w.requests > 0 && production.iter().any(|p| p.start == w.start))
        .collect();
    let requests: u64 = served.iter().map(|w| w.requests).sum();
    if (served.len() as u64) < n || requests < policy.canary.min_requests {
        return Ok(None);
    }
    let since = served.first().map_or(Timestamp(0), |w| w.start);
    Ok(Some((
        model,
        format!(
            "automatic: the canary passed the monitoring policy's rules in {} windows ({requests} requests; promote_after = {n})",
            served.len()
        ),
        since,
    )))
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

/// Why the canary should be rolled back, judged on the windows it shares with production
/// since it was deployed; `None` while it does no worse (or has too few requests).
fn canary_verdict(
    home: &Home,
    policy: &MonitorPolicy,
    all: &[MonitorWindow],
) -> Result<Option<(Digest, String)>> {
    // Only this site's own windows judge its canary.
    let Some((model, canary, production)) = canary_windows(home, all)? else {
        return Ok(None);
    };
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
            model,
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
            model,
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
            model,
            format!(
                "automatic: the canary's scores are {d:.3} (Jensen-Shannon distance) from production's over the same windows, above {}",
                rules.max_prediction_distance
            ),
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ranges_parse_and_hold_the_windows_they_overlap() {
        let t = |s: &str| s.parse::<Timestamp>().expect("time");
        let r: WindowRange = "2026-12-01..2026-12-03".parse().expect("dates");
        assert_eq!(
            r,
            WindowRange::Between {
                from: Some(t("2026-12-01T00:00:00Z")),
                to: Some(t("2026-12-04T00:00:00Z")),
            },
            "a date as the end includes that day"
        );
        let now = t("2026-12-10T00:00:00Z");
        let hour = |s: &str| (t(s), Timestamp(t(s).0 + 3600));
        let (a, b) = hour("2026-11-30T23:00:00Z");
        assert!(!r.holds(a, b, now), "ends at the range's start");
        let (a, b) = hour("2026-12-03T23:00:00Z");
        assert!(r.holds(a, b, now));
        let (a, b) = hour("2026-12-04T00:00:00Z");
        assert!(!r.holds(a, b, now));
        let open: WindowRange = "2026-12-05T12:00:00Z..".parse().expect("open end");
        let (a, b) = hour("2026-12-09T00:00:00Z");
        assert!(open.holds(a, b, now));
        assert_eq!(
            "last:24h".parse::<WindowRange>().expect("last"),
            WindowRange::Last(86_400)
        );
        let last: WindowRange = "last:2d".parse().expect("days");
        let (a, b) = hour("2026-12-07T23:00:00Z");
        assert!(!last.holds(a, b, now));
        let (a, b) = hour("2026-12-08T00:00:00Z");
        assert!(last.holds(a, b, now));
        for bad in [
            "",
            "2026-12-03..2026-12-01",
            "last:0h",
            "last:5w",
            "yesterday..",
            "last:h",
        ] {
            assert!(bad.parse::<WindowRange>().is_err(), "{bad:?}");
        }
    }
}
