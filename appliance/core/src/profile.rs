//! Dataset profiles, computed in one streaming pass at ingest and kept in
//! the signed dataset record: per column the count, null rate, min, max,
//! mean, standard deviation, quantiles, distinct count, top values and a
//! histogram; and the distribution checks (PSI, Jensen-Shannon) of a new
//! file against a reference profile.
//!
//! Memory is bounded whatever the file size: quantiles and histograms come
//! from a seeded reservoir sample of [`SAMPLE`] values per column (exact up
//! to that many), distinct counts are exact up to [`EXACT_DISTINCT`] values
//! and a HyperLogLog estimate beyond, and top values are exact while a
//! column has at most [`EXACT_DISTINCT`] distinct values.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::contract::{ColumnType, Contract, DriftMetric, ValueRef, format_time};
use crate::drift::{self, CatSummary, ColumnReference, NumBuilder, NumSummary, Reference, Summary};
use crate::error::Result;
use crate::sketch::{Hll, Reservoir, hash64};

/// Values sampled per column for quantiles and histograms.
pub const SAMPLE: usize = 16_384;
/// Distinct values tracked exactly per column.
pub const EXACT_DISTINCT: usize = 65_536;
/// Top values kept for string columns (category columns keep all).
pub const TOP: usize = 20;
/// Histogram bins.
pub const BINS: usize = 20;
/// The quantiles reported.
pub const QUANTILES: [f64; 7] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

/// A dataset's profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Data rows.
    pub rows: u64,
    /// One per contract column, in order.
    pub columns: Vec<ColumnProfile>,
}

/// One value and how often it occurs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freq {
    /// The value.
    pub value: String,
    /// Rows holding it.
    pub count: u64,
}

/// A quantile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantile {
    /// The probability, e.g. 0.5.
    pub p: f64,
    /// The value.
    pub value: f64,
}

/// Equal-width bins between the column's min and max.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Histogram {
    /// Bin edges, one more than bins.
    pub edges: Vec<f64>,
    /// Rows per bin (scaled from the sample when `sampled`).
    pub counts: Vec<u64>,
}

/// Numeric summary (integer, float, date and timestamp columns; times in
/// seconds since the epoch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Numeric {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1), 0 for one value.
    pub std: f64,
    /// Quantiles, see [`QUANTILES`].
    pub quantiles: Vec<Quantile>,
    /// Histogram.
    pub histogram: Histogram,
    /// True when quantiles and histogram come from a sample of [`SAMPLE`]
    /// values rather than every value.
    pub sampled: bool,
}

/// One column's profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnProfile {
    /// Column name.
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// Non-missing cells.
    pub count: u64,
    /// Missing cells.
    pub nulls: u64,
    /// nulls / rows.
    pub null_rate: f64,
    /// Distinct non-missing values.
    pub distinct: u64,
    /// False when `distinct` is a HyperLogLog estimate.
    pub distinct_exact: bool,
    /// Numeric summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<Numeric>,
    /// Most frequent values, most frequent first (every value of a category
    /// column).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<Freq>,
    /// False when top counts may miss values (more than
    /// [`EXACT_DISTINCT`] distinct values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_exact: Option<bool>,
    /// The numbers' distribution for drift measures ([`crate::drift`]): exact values while
    /// few, else a fine grid. Absent from profiles made before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<NumSummary>,
}

/// A distribution check's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftResult {
    /// Column.
    pub column: String,
    /// Measure.
    pub metric: DriftMetric,
    /// Its value; `None` when the check was skipped.
    pub value: Option<f64>,
    /// The contract's threshold.
    pub threshold: f64,
    /// Why it was skipped (too few rows), if it was.
    pub skipped: Option<String>,
}

impl DriftResult {
    /// True when measured and above the threshold.
    pub fn failed(&self) -> bool {
        self.value.is_some_and(|v| v > self.threshold)
    }
}

struct Distinct {
    exact: HashSet<u64>,
    hll: Option<Hll>,
}

impl Distinct {
    fn new() -> Self {
        Distinct {
            exact: HashSet::new(),
            hll: None,
        }
    }

    fn add(&mut self, h: u64) {
        match &mut self.hll {
            Some(hll) => hll.add(h),
            None => {
                self.exact.insert(h);
                if self.exact.len() > EXACT_DISTINCT {
                    let mut hll = Hll::default();
                    self.exact.drain().for_each(|x| hll.add(x));
                    self.hll = Some(hll);
                }
            }
        }
    }

    fn count(&self) -> (u64, bool) {
        match &self.hll {
            Some(h) => (h.estimate(), false),
            None => (self.exact.len() as u64, true),
        }
    }
}

struct NumAcc {
    n: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    sample: Reservoir,
    distinct: Distinct,
    /// The distribution kept for drift measures.
    summary: NumBuilder,
    /// Reference bins for a drift check: inner edges and counts (one below
    /// the first edge, one above the last).
    drift: Option<(Vec<f64>, Vec<u64>)>,
}

struct TextAcc {
    counts: HashMap<String, u64>,
    /// Bytes of text held in `counts`.
    bytes: usize,
    /// Distinct values beyond the exact map.
    hll: Option<Hll>,
}

/// Text held per column for exact top values and distinct counts; beyond
/// it (or [`EXACT_DISTINCT`] values) the column switches to estimates.
pub const TEXT_BYTES: usize = 8 << 20;

enum Acc {
    Num(Box<NumAcc>),
    Text(TextAcc),
}

/// Accumulates a profile, one row at a time.
pub struct Profiler {
    rows: u64,
    nulls: Vec<u64>,
    accs: Vec<Acc>,
    reference: Option<Profile>,
}

impl Profiler {
    /// A profiler for `contract`'s columns; `reference` (when the contract
    /// has drift checks) supplies the reference bins.
    pub fn new(contract: &Contract, reference: Option<Profile>) -> Self {
        let accs = contract
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if c.ty.is_numeric() {
                    let drift = c.drift.as_ref().and(reference.as_ref()).and_then(|r| {
                        let edges = &r.columns.get(i)?.numeric.as_ref()?.histogram.edges;
                        Some((edges.clone(), vec![0; edges.len() + 1]))
                    });
                    Acc::Num(Box::new(NumAcc {
                        n: 0,
                        mean: 0.0,
                        m2: 0.0,
                        min: f64::INFINITY,
                        max: f64::NEG_INFINITY,
                        sample: Reservoir::new(SAMPLE, 0x5eed ^ i as u64),
                        distinct: Distinct::new(),
                        summary: NumBuilder::new(),
                        drift,
                    }))
                } else {
                    Acc::Text(TextAcc {
                        counts: HashMap::new(),
                        bytes: 0,
                        hll: None,
                    })
                }
            })
            .collect();
        Profiler {
            rows: 0,
            nulls: vec![0; contract.columns.len()],
            accs,
            reference,
        }
    }

    /// Counts a row (call once per row, before its cells).
    pub fn row(&mut self) {
        self.rows += 1;
    }

    /// Adds column `idx`'s cell of the current row.
    pub fn cell(&mut self, idx: usize, v: ValueRef<'_>) {
        match (&mut self.accs[idx], v) {
            (_, ValueRef::Null) => self.nulls[idx] += 1,
            (Acc::Num(a), v) => {
                let Some(x) = v.as_f64() else { return };
                a.n += 1;
                let d = x - a.mean;
                a.mean += d / a.n as f64;
                a.m2 += d * (x - a.mean);
                a.min = a.min.min(x);
                a.max = a.max.max(x);
                a.sample.add(x);
                a.summary.add(x);
                a.distinct.add(hash64(&x.to_bits().to_le_bytes()));
                if let Some((edges, counts)) = &mut a.drift {
                    counts[drift_bin(edges, x)] += 1;
                }
            }
            (Acc::Text(t), ValueRef::Text(s)) => {
                if let Some(c) = t.counts.get_mut(s) {
                    *c += 1;
                } else if t.hll.is_none()
                    && t.counts.len() < EXACT_DISTINCT
                    && t.bytes + s.len() <= TEXT_BYTES
                {
                    t.bytes += s.len();
                    t.counts.insert(s.to_string(), 1);
                } else {
                    let hll = t.hll.get_or_insert_with(|| {
                        let mut h = Hll::default();
                        t.counts.keys().for_each(|k| h.add(hash64(k.as_bytes())));
                        h
                    });
                    hll.add(hash64(s.as_bytes()));
                }
            }
            (Acc::Text(_), _) => {}
        }
    }

    /// The profile, and the outcome of every drift check the contract asks
    /// for.
    pub fn finish(self, contract: &Contract) -> (Profile, Vec<DriftResult>) {
        let rows = self.rows;
        let mut drift = Vec::new();
        let mut columns = Vec::with_capacity(self.accs.len());
        for (i, (acc, c)) in self.accs.into_iter().zip(&contract.columns).enumerate() {
            let nulls = self.nulls[i];
            let reference = self.reference.as_ref().and_then(|r| r.columns.get(i));
            let mut p = ColumnProfile {
                name: c.name.clone(),
                ty: c.ty,
                count: rows - nulls,
                nulls,
                null_rate: if rows == 0 {
                    0.0
                } else {
                    nulls as f64 / rows as f64
                },
                distinct: 0,
                distinct_exact: true,
                numeric: None,
                top: Vec::new(),
                top_exact: None,
                summary: None,
            };
            let mut actual_freqs = None;
            match acc {
                Acc::Num(mut a) => {
                    p.summary = std::mem::take(&mut a.summary).finish();
                    (p.distinct, p.distinct_exact) = a.distinct.count();
                    if let Some((_, counts)) = &a.drift {
                        actual_freqs = Some(counts.clone());
                    }
                    p.numeric = numeric(*a);
                }
                Acc::Text(t) => {
                    let exact = t.hll.is_none();
                    (p.distinct, p.distinct_exact) = match &t.hll {
                        Some(h) => (h.estimate(), false),
                        None => (t.counts.len() as u64, true),
                    };
                    if let Some(r) = reference.filter(|_| c.drift.is_some()) {
                        let mut f: Vec<u64> = r
                            .top
                            .iter()
                            .map(|x| t.counts.get(&x.value).copied().unwrap_or(0))
                            .collect();
                        f.push(p.count - f.iter().sum::<u64>());
                        actual_freqs = Some(f);
                    }
                    let mut top: Vec<Freq> = t
                        .counts
                        .into_iter()
                        .map(|(value, count)| Freq { value, count })
                        .collect();
                    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                    if c.ty != ColumnType::Category {
                        top.truncate(TOP);
                    }
                    p.top = top;
                    p.top_exact = Some(exact);
                }
            }
            if let (Some(d), Some(r)) = (&c.drift, reference) {
                let skipped = if actual_freqs.is_none() {
                    Some("the reference dataset has no values in this column".to_string())
                } else if p.count < d.min_rows {
                    Some(format!(
                        "{} non-missing values, fewer than the {} the check needs",
                        p.count, d.min_rows
                    ))
                } else {
                    None
                };
                let value = match (&skipped, &actual_freqs) {
                    (None, Some(actual)) => Some(divergence(d.metric, &reference_freqs(r), actual)),
                    _ => None,
                };
                drift.push(DriftResult {
                    column: c.name.clone(),
                    metric: d.metric,
                    value,
                    threshold: d.threshold,
                    skipped,
                });
            }
            columns.push(p);
        }
        (Profile { rows, columns }, drift)
    }
}

/// The drift tally bin of `x` against reference histogram `edges`: 0 below
/// the reference minimum, the last above its maximum, and in between the
/// bin the reference histogram itself put `x` in (see [`numeric`]).
fn drift_bin(edges: &[f64], x: f64) -> usize {
    let (lo, hi) = (edges[0], edges[edges.len() - 1]);
    let inner = edges.len() - 1;
    if x < lo {
        0
    } else if x > hi {
        inner + 1
    } else if hi == lo {
        1
    } else {
        let width = (hi / 2.0 - lo / 2.0) / inner as f64;
        1 + (((x / 2.0 - lo / 2.0) / width) as usize).min(inner - 1)
    }
}

/// The reference column's bin counts, laid out as the drift tallies are:
/// numeric columns one bin below the first edge, the histogram's bins, one
/// above the last edge; text columns the top values then "everything else".
fn reference_freqs(r: &ColumnProfile) -> Vec<u64> {
    match &r.numeric {
        Some(n) => {
            let mut f = vec![0];
            f.extend(&n.histogram.counts);
            f.push(0);
            f
        }
        None => {
            let mut f: Vec<u64> = r.top.iter().map(|x| x.count).collect();
            f.push(r.count - f.iter().sum::<u64>());
            f
        }
    }
}

/// `x`, or the largest finite number of its sign.
fn finite(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(f64::MIN, f64::MAX)
    }
}

fn numeric(a: NumAcc) -> Option<Numeric> {
    if a.n == 0 {
        return None;
    }
    let sampled = !a.sample.is_exact();
    let s = a.sample.into_sorted();
    let q = |p: f64| {
        let pos = p * (s.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        let f = pos - lo as f64;
        if f == 0.0 {
            s[lo]
        } else {
            s[lo] * (1.0 - f) + s[hi] * f
        }
    };
    let quantiles = QUANTILES
        .iter()
        .map(|&p| Quantile { p, value: q(p) })
        .collect();
    let (min, max) = (a.min, a.max);
    // Half-range arithmetic keeps the width finite for values near f64's
    // limits.
    let width = (max / 2.0 - min / 2.0) / BINS as f64 * 2.0;
    let histogram = if min == max || !width.is_finite() || width == 0.0 {
        Histogram {
            edges: vec![min, max],
            counts: vec![a.n],
        }
    } else {
        let edges: Vec<f64> = (0..=BINS)
            .map(|i| {
                let f = i as f64 / BINS as f64;
                if i == BINS {
                    max
                } else {
                    min * (1.0 - f) + max * f
                }
            })
            .collect();
        let mut counts = vec![0u64; BINS];
        for x in &s {
            let b = (((x / 2.0 - min / 2.0) / (width / 2.0)) as usize).min(BINS - 1);
            counts[b] += 1;
        }
        if sampled {
            let scale = a.n as f64 / s.len() as f64;
            counts = counts
                .iter()
                .map(|&c| (c as f64 * scale).round() as u64)
                .collect();
        }
        Histogram { edges, counts }
    };
    Some(Numeric {
        min,
        max,
        // Welford's running mean overflows only for values near f64's
        // limits; then the sample's mean (each term divided first) stands
        // in.
        mean: if a.mean.is_finite() {
            a.mean
        } else {
            s.iter().map(|x| x / s.len() as f64).sum()
        },
        // Sums can overflow for values near f64's limits: the record must
        // hold finite numbers (JSON has no infinity).
        std: if a.n > 1 {
            finite((a.m2 / (a.n - 1) as f64).sqrt())
        } else {
            0.0
        },
        quantiles,
        histogram,
        sampled,
    })
}

/// The divergence between two distributions given as counts over the same
/// bins. Empty bins count as 0.0001 of the total, as is usual for PSI.
pub fn divergence(metric: DriftMetric, expected: &[u64], actual: &[u64]) -> f64 {
    let norm = |c: &[u64]| -> Vec<f64> {
        let total = c.iter().sum::<u64>().max(1) as f64;
        c.iter().map(|&x| (x as f64 / total).max(1e-4)).collect()
    };
    let (e, a) = (norm(expected), norm(actual));
    match metric {
        DriftMetric::Psi => e.iter().zip(&a).map(|(e, a)| (a - e) * (a / e).ln()).sum(),
        DriftMetric::Js => {
            let kl = |p: &[f64], m: &[f64]| -> f64 {
                p.iter().zip(m).map(|(p, m)| p * (p / m).log2()).sum()
            };
            let m: Vec<f64> = e.iter().zip(&a).map(|(e, a)| (e + a) / 2.0).collect();
            (kl(&e, &m) + kl(&a, &m)) / 2.0
        }
    }
}

/// Why a numeric column keeps no summary although it has values: they span more than a grid
/// of finite numbers can cover (from near −f64::MAX to near f64::MAX).
fn unmeasurable(p: &ColumnProfile) -> Option<&'static str> {
    p.numeric
        .as_ref()
        .filter(|n| !(n.max - n.min).is_finite())
        .map(|_| "its values span more than finite numbers can bin")
}

impl Profile {
    /// The reference for drift measures against data of `contract` (the contract this
    /// profile was computed under): numbers from each column's stored summary, categories
    /// from its value counts.
    pub fn drift_reference(&self, contract: &Contract) -> Result<Reference> {
        let parts = contract
            .columns
            .iter()
            .zip(&self.columns)
            .map(|(c, p)| ColumnReference {
                count: p.count,
                missing: p.nulls,
                summary: if c.ty.is_numeric() {
                    match (&p.summary, unmeasurable(p)) {
                        (Some(s), _) => Summary::Numbers(s.clone()),
                        (None, Some(why)) => Summary::Unmeasurable(why.into()),
                        (None, None) => Summary::Missing,
                    }
                } else {
                    Summary::Categories(CatSummary::new(
                        c.categories.as_deref(),
                        p.top.iter().map(|f| (f.value.as_str(), f.count)),
                        p.count,
                    ))
                },
            })
            .collect();
        if self.columns.len() != contract.columns.len()
            || contract
                .columns
                .iter()
                .zip(&self.columns)
                .any(|(c, p)| c.name != p.name || c.ty != p.ty)
        {
            return Err(crate::Error::Integrity(format!(
                "the reference profile's columns do not match contract {} v{}",
                contract.name, contract.version
            )));
        }
        Reference::new(contract, self.rows, parts)
    }

    /// True when a numeric feature has values but no stored summary (a profile made
    /// before summaries were kept): drift needs the reference profiled again.
    pub fn lacks_summaries(&self, contract: &Contract) -> bool {
        contract.columns.iter().zip(&self.columns).any(|(c, p)| {
            c.ty.is_numeric()
                && p.count > 0
                && p.summary.is_none()
                && unmeasurable(p).is_none()
                && drift::not_a_feature(contract, &c.name).is_none()
        })
    }
}

impl ColumnProfile {
    /// A value of this column for people: times as dates or timestamps.
    pub fn show(&self, x: f64) -> String {
        if self.ty.is_time() {
            format_time(self.ty, x as i64)
        } else if self.ty == ColumnType::Integer && x.fract() == 0.0 {
            format!("{x}")
        } else {
            format!("{x:.6}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Contract;

    fn contract() -> Contract {
        Contract::from_toml(
            "name='t'\nversion=1\nreference='t@1'\n[[columns]]\nname='x'\ntype='float'\nnullable=true\ndrift={metric='psi',threshold=0.2,min_rows=10}\n[[columns]]\nname='c'\ntype='category'\ncategories=['a','b','c']\ndrift={metric='js',threshold=0.1,min_rows=10}\n",
            "t",
        )
        .expect("contract")
    }

    fn profile(
        rows: &[(Option<f64>, &str)],
        reference: Option<Profile>,
    ) -> (Profile, Vec<DriftResult>) {
        let c = contract();
        let mut p = Profiler::new(&c, reference);
        for (x, s) in rows {
            p.row();
            p.cell(0, x.map_or(ValueRef::Null, ValueRef::Float));
            p.cell(1, ValueRef::Text(s));
        }
        p.finish(&c)
    }

    #[test]
    fn summary_statistics_are_exact_for_small_data() {
        let rows: Vec<(Option<f64>, &str)> = (1..=100)
            .map(|i| {
                (
                    if i % 10 == 0 {
                        None
                    } else {
                        Some(f64::from(i))
                    },
                    if i % 3 == 0 { "a" } else { "b" },
                )
            })
            .collect();
        let (p, _) = profile(&rows, None);
        let x = &p.columns[0];
        assert_eq!((p.rows, x.count, x.nulls), (100, 90, 10));
        assert!((x.null_rate - 0.1).abs() < 1e-12);
        let n = x.numeric.as_ref().expect("numeric");
        assert_eq!((n.min, n.max), (1.0, 99.0));
        assert!((n.mean - 50.0).abs() < 1e-9, "{}", n.mean);
        assert!(!n.sampled);
        assert_eq!(n.histogram.counts.iter().sum::<u64>(), 90);
        assert_eq!(x.distinct, 90);
        let c = &p.columns[1];
        assert_eq!(
            c.top[0],
            Freq {
                value: "b".into(),
                count: 67
            }
        );
        assert_eq!(
            c.top[1],
            Freq {
                value: "a".into(),
                count: 33
            }
        );
        assert_eq!(c.distinct, 2);
    }

    #[test]
    fn mass_at_the_reference_maximum_is_not_drift() {
        // Half the values sit exactly at the maximum; the same data again
        // must measure no drift at all.
        let base: Vec<(Option<f64>, &str)> =
            (0..2000).map(|i| (Some(f64::from(i % 2)), "a")).collect();
        let (reference, _) = profile(&base, None);
        let (_, same) = profile(&base, Some(reference));
        assert!(same[0].value.is_some_and(|v| v.abs() < 1e-9), "{same:?}");
    }

    #[test]
    fn values_near_the_float_limits_give_a_finite_profile() {
        let rows = [
            (Some(1e308), "a"),
            (Some(-1e308), "a"),
            (Some(1.7e308), "a"),
        ];
        let (p, _) = profile(&rows, None);
        let n = p.columns[0].numeric.as_ref().expect("numeric");
        let all = [n.min, n.max, n.mean, n.std]
            .into_iter()
            .chain(n.quantiles.iter().map(|q| q.value))
            .chain(n.histogram.edges.iter().copied());
        for x in all {
            assert!(x.is_finite(), "{n:?}");
        }
        let back: Profile =
            serde_json::from_slice(&serde_json::to_vec(&p).expect("ser")).expect("de");
        assert_eq!(back, p);
    }

    #[test]
    fn the_same_distribution_passes_and_a_shifted_one_fails() {
        let base: Vec<(Option<f64>, &str)> = (0..2000)
            .map(|i| (Some(f64::from(i % 100)), ["a", "b", "c"][i as usize % 3]))
            .collect();
        let (reference, _) = profile(&base, None);
        let (_, same) = profile(&base, Some(reference.clone()));
        assert_eq!(same.len(), 2);
        assert!(same.iter().all(|d| !d.failed()), "{same:?}");
        let shifted: Vec<(Option<f64>, &str)> = (0..2000)
            .map(|i| {
                (
                    Some(f64::from(i % 100) + 60.0),
                    if i % 10 == 0 { "c" } else { "a" },
                )
            })
            .collect();
        let (_, moved) = profile(&shifted, Some(reference.clone()));
        assert!(moved.iter().all(DriftResult::failed), "{moved:?}");
        let (_, small) = profile(&shifted[..5], Some(reference));
        assert!(
            small.iter().all(|d| d.skipped.is_some() && !d.failed()),
            "{small:?}"
        );
    }
}
