//! What a node keeps about a deployed model while it serves: per time window, bounded
//! sketches of every input feature (the drift module's [`Sketch`], laid out by the model's
//! training data) and of the scores, request counts, refusals by reason and latency; and the
//! alerts raised from them. No request is kept, only these summaries.
//!
//! The appliance collects them (`airlock::ops::monitor`), stores each closed window as a signed
//! [`MonitorWindow`] record and each alert as a signed [`Alert`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::drift::Sketch;
use crate::site::SiteName;
use crate::time::Timestamp;

/// Type tag of monitoring windows.
pub const WINDOW_TYPE: &str = "airlock.monitor-window/v1";
/// Type tag of alerts.
pub const ALERT_TYPE: &str = "airlock.alert/v1";

/// Score bins: probabilities in `[0, 1]` cut into this many equal bins.
pub const SCORE_BINS: usize = 20;

/// Latency buckets: bucket `i` holds latencies in `[2^i, 2^(i+1))` microseconds (the last
/// one everything above).
pub const LATENCY_BUCKETS: usize = 32;

/// Latencies in power-of-two buckets of microseconds: 256 bytes whatever the traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// Counts per bucket (see [`LATENCY_BUCKETS`]).
    pub buckets: Vec<u64>,
}

impl Latency {
    /// Counts one request that took `micros`.
    pub fn add(&mut self, micros: u64) {
        if self.buckets.len() != LATENCY_BUCKETS {
            self.buckets.resize(LATENCY_BUCKETS, 0);
        }
        let i = (64 - micros.max(1).leading_zeros() as usize - 1).min(LATENCY_BUCKETS - 1);
        self.buckets[i] += 1;
    }

    /// Adds another window's counts.
    pub fn merge(&mut self, other: &Latency) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }

    /// Requests counted.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The upper bound, in microseconds, of the bucket holding quantile `q` (at most twice
    /// the true value); `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let want = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Some(1u64 << (i + 1).min(63));
            }
        }
        None
    }
}

/// Scores in [`SCORE_BINS`] equal bins over `[0, 1]` (the positive class's probability of a
/// binary model, the top class's of a multiclass one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scores {
    /// Counts per bin.
    pub bins: Vec<u64>,
}

impl Scores {
    /// Counts one score (clamped into `[0, 1]`; a NaN is not counted).
    pub fn add(&mut self, p: f64) {
        if p.is_nan() {
            return;
        }
        if self.bins.len() != SCORE_BINS {
            self.bins.resize(SCORE_BINS, 0);
        }
        let i = ((p.clamp(0.0, 1.0) * SCORE_BINS as f64) as usize).min(SCORE_BINS - 1);
        self.bins[i] += 1;
    }

    /// Adds another window's counts.
    pub fn merge(&mut self, other: &Scores) {
        if self.bins.len() < other.bins.len() {
            self.bins.resize(other.bins.len(), 0);
        }
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a += b;
        }
    }

    /// Scores counted.
    pub fn count(&self) -> u64 {
        self.bins.iter().sum()
    }

    /// The Jensen-Shannon distance (base 2, in `[0, 1]`) between two score distributions;
    /// `None` when either is empty.
    pub fn distance(&self, other: &Scores) -> Option<f64> {
        let (n, m) = (self.count(), other.count());
        if n == 0 || m == 0 {
            return None;
        }
        let p: Vec<f64> = (0..SCORE_BINS)
            .map(|i| *self.bins.get(i).unwrap_or(&0) as f64 / n as f64)
            .collect();
        let q: Vec<f64> = (0..SCORE_BINS)
            .map(|i| *other.bins.get(i).unwrap_or(&0) as f64 / m as f64)
            .collect();
        let kl = |a: &[f64], b: &[f64]| -> f64 {
            a.iter()
                .zip(b)
                .filter(|(x, _)| **x > 0.0)
                .map(|(x, y)| x * (x / y).log2())
                .sum()
        };
        let mid: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
        Some(((kl(&p, &mid) + kl(&q, &mid)) / 2.0).max(0.0).sqrt())
    }
}

/// One model's traffic in one slot over one time window, as summaries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorWindow {
    /// Always [`WINDOW_TYPE`].
    #[serde(rename = "type")]
    pub ty: String,
    /// The site serving.
    pub site: SiteName,
    /// The model that answered (or, for a shadow, scored).
    pub model: Digest,
    /// Its slot: production, canary, shadow.
    pub slot: String,
    /// The window's start (inclusive).
    pub start: Timestamp,
    /// Its end (exclusive).
    pub end: Timestamp,
    /// Requests received.
    pub requests: u64,
    /// Requests refused, by reason (`contract`, `not json`, `scoring`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refused: BTreeMap<String, u64>,
    /// Latency of the answered requests.
    pub latency: Latency,
    /// The scores given.
    pub scores: Scores,
    /// The input features' sketch, laid out by the model's training data.
    pub inputs: Sketch,
}

impl MonitorWindow {
    /// Requests refused, in all.
    pub fn refusals(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// An alert: something the monitoring found, since when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Always [`ALERT_TYPE`].
    #[serde(rename = "type")]
    pub ty: String,
    /// The site that raised it.
    pub site: SiteName,
    /// The model.
    pub model: Digest,
    /// Its slot.
    pub slot: String,
    /// What: `input drift`, `prediction drift`, `error rate`, `latency`.
    pub kind: String,
    /// The feature (input drift), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    /// The measure (`wasserstein`, `jensen-shannon`, `ks`, ...).
    pub metric: String,
    /// Its value.
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// The start of the first window it was seen in.
    pub since: Timestamp,
    /// When it was raised.
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_are_within_a_factor_of_two() {
        let mut l = Latency::default();
        for us in 1..=1000u64 {
            l.add(us);
        }
        let p99 = l.quantile(0.99).expect("p99");
        assert!((990..=2 * 990).contains(&p99), "{p99}");
        assert_eq!(Latency::default().quantile(0.5), None);
        let mut m = Latency::default();
        m.add(5);
        m.merge(&l);
        assert_eq!(m.count(), 1001);
    }

    #[test]
    fn score_distance_is_zero_for_the_same_and_large_for_a_constant() {
        let mut a = Scores::default();
        let mut b = Scores::default();
        for i in 0..1000 {
            a.add(f64::from(i) / 1000.0);
            b.add(f64::from(i) / 1000.0);
        }
        assert_eq!(a.distance(&b), Some(0.0));
        let mut c = Scores::default();
        for _ in 0..1000 {
            c.add(0.5);
        }
        assert!(a.distance(&c).expect("distance") > 0.8);
        assert_eq!(a.distance(&Scores::default()), None);
        c.add(f64::NAN);
        assert_eq!(c.count(), 1000);
    }
}
