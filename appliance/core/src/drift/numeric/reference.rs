//! The reference's side: [`NumSummary`], exact values or a sliding grid, built in one pass
//! by [`NumBuilder`].

use serde::{Deserialize, Serialize};

use super::{BINS, Layout, MAX_CELLS, POINTS};
use crate::error::{Error, Result};

/// A reference column's numbers, as stored with its profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumSummary {
    /// Non-missing values.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Their population standard deviation (divided by n, as NumPy's `np.std`).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// The distribution.
    pub cells: Cells,
}

/// How a reference's distribution is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Cells {
    /// Every distinct value, ascending, with its count.
    Exact {
        /// The values.
        values: Vec<f64>,
        /// How often each occurs.
        counts: Vec<u64>,
    },
    /// Equal cells from `origin`: cell i covers [origin + i·width, origin + (i+1)·width).
    Grid {
        /// The first cell's left edge.
        origin: f64,
        /// Every cell's width.
        width: f64,
        /// Values per cell.
        counts: Vec<u64>,
        /// Per cell, the sum of its values' distances from its left edge.
        sums: Vec<f64>,
    },
}

/// `x`, or the largest finite number of its sign (a record holds no infinity).
fn finite(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(f64::MIN, f64::MAX)
    }
}

impl NumSummary {
    /// Checks a stored summary before use: sizes, order, finiteness and totals.
    pub fn check(&self, column: &str) -> Result<()> {
        let bad = |what: &str| {
            Err(Error::Integrity(format!(
                "the reference summary of column {column:?} is malformed: {what}"
            )))
        };
        if self.count == 0 {
            return bad("it counts no values");
        }
        if ![self.mean, self.std, self.min, self.max]
            .iter()
            .all(|x| x.is_finite())
            || self.min > self.max
        {
            return bad("its statistics are not finite numbers in order");
        }
        let total: u128 = match &self.cells {
            Cells::Exact { values, counts } => {
                if values.is_empty() || values.len() != counts.len() || values.len() > MAX_CELLS {
                    return bad("values and counts differ in length or are too many");
                }
                if !values.iter().all(|v| v.is_finite()) || !values.windows(2).all(|w| w[0] < w[1])
                {
                    return bad("values are not finite and strictly ascending");
                }
                counts.iter().map(|&c| u128::from(c)).sum()
            }
            Cells::Grid {
                origin,
                width,
                counts,
                sums,
            } => {
                let bins = counts.len();
                if bins < 2 || bins != sums.len() || bins > MAX_CELLS {
                    return bad("counts and sums differ in length or are too many");
                }
                if !(origin.is_finite()
                    && width.is_finite()
                    && *width > 0.0
                    && (origin + bins as f64 * width).is_finite())
                {
                    return bad("its grid is not finite");
                }
                if !sums.iter().all(|s| s.is_finite() && *s >= 0.0) {
                    return bad("its offset sums are not finite and non-negative");
                }
                counts.iter().map(|&c| u128::from(c)).sum()
            }
        };
        if total != u128::from(self.count) {
            return bad("its cells do not add up to its count");
        }
        Ok(())
    }

    /// The cell layout current values are counted into.
    pub fn layout(&self) -> Layout {
        match &self.cells {
            Cells::Exact { values, .. } => Layout::Points(values.clone()),
            Cells::Grid {
                origin,
                width,
                counts,
                ..
            } => Layout::Grid {
                origin: *origin,
                width: *width,
                bins: counts.len(),
            },
        }
    }

    /// The reference's own (count, offset sum) per cell of its [`Layout`].
    pub(super) fn cells_on_layout(&self) -> (Vec<u64>, Vec<f64>) {
        match &self.cells {
            Cells::Exact { counts, .. } => {
                let mut c = vec![0u64; 2 * counts.len() + 1];
                for (k, n) in counts.iter().enumerate() {
                    c[2 * k + 1] = *n;
                }
                let s = vec![0.0; c.len()];
                (c, s)
            }
            Cells::Grid { counts, sums, .. } => {
                let mut c = vec![0u64; counts.len() + 2];
                let mut s = vec![0.0; counts.len() + 2];
                c[1..=counts.len()].copy_from_slice(counts);
                s[1..=counts.len()].copy_from_slice(sums);
                (c, s)
            }
        }
    }

    /// The divisor of the Wasserstein distance: the standard deviation, at least 0.001
    /// (Evidently's floor, so a constant reference does not divide by zero).
    pub fn norm(&self) -> f64 {
        self.std.max(0.001)
    }
}

/// Builds a reference's [`NumSummary`] in one pass, in bounded memory: at most [`POINTS`]
/// distinct values, then [`BINS`] cells.
#[derive(Clone, Debug, Default)]
pub struct NumBuilder {
    n: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    /// Distinct values, ascending, with counts (while there are at most [`POINTS`]).
    points: Vec<(f64, u64)>,
    grid: Option<Grid>,
    /// The values span more than a grid of finite numbers can cover.
    overflow: bool,
}

impl NumBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        NumBuilder {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..Default::default()
        }
    }

    /// Adds a value (non-finite values are ignored: the contract admits none).
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        // −0 and +0 are one value.
        let x = if x == 0.0 { 0.0 } else { x };
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        if self.overflow {
            return;
        }
        match &mut self.grid {
            Some(g) => {
                if !g.add(x, 1) {
                    self.overflow = true;
                    self.grid = None;
                }
            }
            None => {
                match self.points.binary_search_by(|(v, _)| v.total_cmp(&x)) {
                    Ok(i) => self.points[i].1 += 1,
                    Err(i) => self.points.insert(i, (x, 1)),
                }
                if self.points.len() > POINTS {
                    self.switch_to_grid();
                }
            }
        }
    }

    fn switch_to_grid(&mut self) {
        let (lo, hi) = (self.min, self.max);
        let span = hi - lo;
        // The largest value sits half a cell inside the last one.
        let mut width = span / (BINS as f64 - 0.5);
        if width <= 0.0 {
            // A span near the smallest subnormal divides to zero.
            width = span;
        }
        if !(width.is_finite() && width > 0.0) {
            self.overflow = true;
            self.points = Vec::new();
            return;
        }
        let mut g = Grid {
            origin: lo,
            width,
            counts: vec![0; BINS],
            sums: vec![0.0; BINS],
        };
        for (x, k) in std::mem::take(&mut self.points) {
            if !g.add(x, k) {
                self.overflow = true;
                return;
            }
        }
        self.grid = Some(g);
    }

    /// The summary; `None` when no value was added, or when the values span more than
    /// finite numbers can grid.
    pub fn finish(self) -> Option<NumSummary> {
        if self.n == 0 || self.overflow {
            return None;
        }
        let cells = match self.grid {
            Some(g) => Cells::Grid {
                origin: g.origin,
                width: g.width,
                counts: g.counts,
                sums: g.sums,
            },
            None => {
                let (values, counts) = self.points.into_iter().unzip();
                Cells::Exact { values, counts }
            }
        };
        Some(NumSummary {
            count: self.n,
            mean: finite(self.mean),
            std: finite((self.m2 / self.n as f64).sqrt()),
            min: self.min,
            max: self.max,
            cells,
        })
    }
}

#[derive(Clone, Debug)]
struct Grid {
    origin: f64,
    width: f64,
    counts: Vec<u64>,
    sums: Vec<f64>,
}

impl Grid {
    fn index(&self, x: f64) -> Option<usize> {
        let t = (x - self.origin) / self.width;
        (t >= 0.0 && t < self.counts.len() as f64).then_some(t as usize)
    }

    /// Counts `k` copies of `x`, making room first; false when no finite grid can hold it.
    fn add(&mut self, x: f64, k: u64) -> bool {
        // Each round slides or doubles; 2100 doublings exceed any finite range.
        for _ in 0..2200 {
            if let Some(i) = self.index(x) {
                let left = self.origin + i as f64 * self.width;
                self.counts[i] += k;
                self.sums[i] += (x - left).clamp(0.0, self.width) * k as f64;
                return true;
            }
            if !self.make_room(x) {
                return false;
            }
        }
        false
    }

    /// Slides the grid by whole cells towards `x` when the cells it would drop are empty,
    /// else doubles the cell width.
    fn make_room(&mut self, x: f64) -> bool {
        let bins = self.counts.len();
        let first = self.counts.iter().position(|&c| c > 0).unwrap_or(bins);
        let last = self.counts.iter().rposition(|&c| c > 0).unwrap_or(0);
        if x < self.origin {
            let k = ((self.origin - x) / self.width).ceil().max(1.0);
            if k.is_finite() && (k as usize) < bins && (k as usize) < bins - last {
                let k = k as usize;
                self.counts.rotate_right(k);
                self.sums.rotate_right(k);
                self.origin -= k as f64 * self.width;
                return self.origin.is_finite();
            }
        } else {
            let t = ((x - self.origin) / self.width).floor();
            let k = (t - (bins - 1) as f64).max(1.0);
            if k.is_finite() && (k as usize) <= first && (k as usize) < bins {
                let k = k as usize;
                self.counts.rotate_left(k);
                self.sums.rotate_left(k);
                self.origin += k as f64 * self.width;
                return (self.origin + bins as f64 * self.width).is_finite();
            }
        }
        self.double()
    }

    /// Merges cells pairwise: cell j of the new grid is cells 2j and 2j+1 of the old, whose
    /// values lie one old width further from the new left edge.
    fn double(&mut self) -> bool {
        let bins = self.counts.len();
        let width = self.width * 2.0;
        if !width.is_finite() || !(self.origin + bins as f64 * width).is_finite() {
            return false;
        }
        for j in 0..bins / 2 {
            let (c0, c1) = (self.counts[2 * j], self.counts[2 * j + 1]);
            let s = self.sums[2 * j] + self.sums[2 * j + 1] + c1 as f64 * self.width;
            self.counts[j] = c0 + c1;
            self.sums[j] = s;
        }
        self.counts[bins / 2..].fill(0);
        self.sums[bins / 2..].fill(0.0);
        self.width = width;
        true
    }
}
