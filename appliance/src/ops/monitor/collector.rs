//! What `serve` and `predict` keep per model and slot while they answer: the open window,
//! the closed ones not yet stored, the prediction log rows and the request log's sample.

use std::collections::BTreeMap;

use airlock_core::contract::Value;
use airlock_core::monitor::{Latency, MonitorWindow, Scores, WINDOW_TYPE};

use crate::digest::Digest;
use crate::error::Result;
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::drift::{self, Reference, Sketch};
use crate::ops::rollout;
use crate::ops::score::{Answer, Scorer};

use super::MonitorPolicy;

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
