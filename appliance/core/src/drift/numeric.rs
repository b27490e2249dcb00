//! Numbers: the reference's summary, the current side's cells laid out on it, and the
//! measures between the two.
//!
//! **The reference** ([`NumSummary`], built in one pass by [`NumBuilder`] at ingest) keeps
//! every distinct value with its count while there are at most [`POINTS`] of them: then it
//! is exact. Beyond that it becomes a grid of [`BINS`] equal cells, each with its count and
//! the sum of its values' offsets from the cell's left edge. The grid starts over the values
//! seen so far and, when a value falls outside, slides by whole cells into empty ones or
//! doubles its cell width (merging pairs of cells, which loses nothing already counted), so
//! it always covers the reference's range with cells no wider than 2·range/[`BINS`].
//!
//! **The current side** ([`NumCurrent`]) keeps its values while it has at most
//! [`EXACT_VALUES`], then counts them into cells laid out on the reference ([`Layout`]):
//! below the reference, each reference point and each gap between two (exact reference), or
//! each grid cell, and above; each cell with its count and offset sum. Sketches of the same
//! reference merge by adding cells, so windows can be summed.
//!
//! **The error.** With counts and offset sums on both sides, the integral of F_ref − F_cur
//! over every cell is exact, and so is its absolute value wherever the difference cannot
//! change sign inside the cell (in gaps between exact points, below and above the reference
//! it never can). Where it can, the Wasserstein distance takes the middle of what is
//! possible and reports half the width of that interval as its error bound; KS reports its
//! value at cell edges and, as the bound, how far inside a cell the difference could reach.
//! An exact reference with an exact current side gives the exact statistics.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Distinct reference values kept exactly.
pub const POINTS: usize = 2048;
/// Grid cells of a reference with more distinct values.
pub const BINS: usize = 2048;
/// Current values kept exactly before they are counted into cells.
pub const EXACT_VALUES: usize = 4096;
/// A stored summary with more cells than this is refused.
pub const MAX_CELLS: usize = 1 << 16;

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
    fn cells_on_layout(&self) -> (Vec<u64>, Vec<f64>) {
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

/// The cells current values are counted into, laid out on a reference.
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    /// An exact reference's values v₁ < … < vₘ: cells (−∞, v₁), {v₁}, (v₁, v₂), {v₂}, …,
    /// {vₘ}, (vₘ, ∞): 2m + 1 cells.
    Points(Vec<f64>),
    /// A grid: (−∞, origin), its `bins` cells, [origin + bins·width, ∞): bins + 2 cells.
    Grid {
        /// The first cell's left edge.
        origin: f64,
        /// Every cell's width.
        width: f64,
        /// Grid cells.
        bins: usize,
    },
}

/// What one cell of a [`Layout`] covers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cell {
    /// Below `edge`; offsets are distances below it.
    Below(f64),
    /// One reference value.
    Point,
    /// A gap or grid cell from `left`, `width` wide (infinite for the last gap, whose
    /// offsets are distances above `left`).
    Span { left: f64, width: f64 },
}

impl Layout {
    /// The number of cells.
    pub fn cells(&self) -> usize {
        match self {
            Layout::Points(v) => 2 * v.len() + 1,
            Layout::Grid { bins, .. } => bins + 2,
        }
    }

    /// The cell holding `x`, and `x`'s offset in it.
    pub fn locate(&self, x: f64) -> (usize, f64) {
        match self {
            Layout::Points(v) => {
                let i = v.partition_point(|p| *p < x);
                if i < v.len() && v[i] == x {
                    (2 * i + 1, 0.0)
                } else if i == 0 {
                    (0, v[0] - x)
                } else {
                    (2 * i, x - v[i - 1])
                }
            }
            Layout::Grid {
                origin,
                width,
                bins,
            } => {
                let t = (x - origin) / width;
                if t < 0.0 {
                    (0, origin - x)
                } else if t >= *bins as f64 {
                    (bins + 1, x - (origin + *bins as f64 * width))
                } else {
                    let i = t as usize;
                    (i + 1, (x - (origin + i as f64 * width)).clamp(0.0, *width))
                }
            }
        }
    }

    fn cell(&self, i: usize) -> Cell {
        match self {
            Layout::Points(v) => {
                if i == 0 {
                    Cell::Below(v[0])
                } else if i % 2 == 1 {
                    Cell::Point
                } else if i / 2 == v.len() {
                    Cell::Span {
                        left: v[v.len() - 1],
                        width: f64::INFINITY,
                    }
                } else {
                    Cell::Span {
                        left: v[i / 2 - 1],
                        width: v[i / 2] - v[i / 2 - 1],
                    }
                }
            }
            Layout::Grid {
                origin,
                width,
                bins,
            } => {
                if i == 0 {
                    Cell::Below(*origin)
                } else if i == bins + 1 {
                    Cell::Span {
                        left: origin + *bins as f64 * width,
                        width: f64::INFINITY,
                    }
                } else {
                    Cell::Span {
                        left: origin + (i - 1) as f64 * width,
                        width: *width,
                    }
                }
            }
        }
    }
}

/// A column's current values against a reference: exact while few, then cells.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumCurrent {
    /// Values counted.
    count: u64,
    /// The values, while at most [`EXACT_VALUES`] and not yet in cells.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    values: Vec<f64>,
    /// Per cell of the reference's layout: values (empty until counted into cells).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    counts: Vec<u64>,
    /// Per cell: the sum of the values' offsets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sums: Vec<f64>,
}

impl NumCurrent {
    /// Values counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// True while every value is kept.
    pub fn is_exact(&self) -> bool {
        self.counts.is_empty()
    }

    /// Adds a value.
    pub fn add(&mut self, layout: &Layout, x: f64) {
        let x = if x == 0.0 { 0.0 } else { x };
        self.count += 1;
        if self.is_exact() {
            self.values.push(x);
            if self.values.len() > EXACT_VALUES {
                self.count_into_cells(layout);
            }
        } else {
            let (i, off) = layout.locate(x);
            self.counts[i] += 1;
            self.sums[i] += off;
        }
    }

    fn count_into_cells(&mut self, layout: &Layout) {
        self.counts = vec![0; layout.cells()];
        self.sums = vec![0.0; layout.cells()];
        for x in std::mem::take(&mut self.values) {
            let (i, off) = layout.locate(x);
            self.counts[i] += 1;
            self.sums[i] += off;
        }
    }

    /// Adds another sketch of the same reference's column.
    pub fn merge(&mut self, layout: &Layout, other: &NumCurrent) {
        if self.is_exact()
            && other.is_exact()
            && self.values.len() + other.values.len() <= EXACT_VALUES
        {
            self.values.extend_from_slice(&other.values);
            self.count += other.count;
            return;
        }
        if self.is_exact() {
            self.count_into_cells(layout);
        }
        let mut other = other.clone();
        if other.is_exact() {
            other.count_into_cells(layout);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            *a += b;
        }
        self.count += other.count;
    }

    /// Checks a sketch against the layout it claims (a stored window, later).
    pub fn fits(&self, layout: &Layout) -> bool {
        let n: u128 = if self.is_exact() {
            self.values.len() as u128
        } else {
            self.counts.iter().map(|&c| u128::from(c)).sum()
        };
        n == u128::from(self.count)
            && (self.is_exact()
                || (self.counts.len() == layout.cells() && self.sums.len() == layout.cells()))
            && self.values.iter().all(|v| v.is_finite())
    }

    /// (count, offset sum) per cell, computed from the kept values when exact.
    fn cells(&self, layout: &Layout) -> (Vec<u64>, Vec<f64>) {
        if self.is_exact() {
            let mut c = self.clone();
            c.count_into_cells(layout);
            (c.counts, c.sums)
        } else {
            (self.counts.clone(), self.sums.clone())
        }
    }
}

/// The two sides' cells over one layout.
pub struct Paired<'a> {
    layout: &'a Layout,
    reference: (Vec<u64>, Vec<f64>),
    current: (Vec<u64>, Vec<f64>),
    n_ref: u64,
    n_cur: u64,
}

impl<'a> Paired<'a> {
    /// Pairs a reference summary with current values counted on its layout.
    pub fn new(summary: &NumSummary, layout: &'a Layout, current: &NumCurrent) -> Self {
        Paired {
            layout,
            reference: summary.cells_on_layout(),
            current: current.cells(layout),
            n_ref: summary.count,
            n_cur: current.count,
        }
    }

    /// The two-sample KS statistic as `max |c_ref·n_cur − c_cur·n_ref|` (so that
    /// D = num / (n_ref·n_cur)) at the cells' edges, and the most it could be inside a
    /// grid cell (the same number for an exact reference, where it is exact).
    pub fn ks(&self) -> (u128, u128) {
        let (nr, nc) = (i128::from(self.n_ref), i128::from(self.n_cur));
        let (mut cr, mut cc) = (0i128, 0i128);
        let (mut at_edges, mut upper) = (0u128, 0u128);
        for i in 0..self.layout.cells() {
            let (r, c) = (
                i128::from(self.reference.0[i]),
                i128::from(self.current.0[i]),
            );
            if let (Cell::Span { .. }, true) = (self.layout.cell(i), r > 0 && c > 0) {
                // Inside a cell holding both sides the difference can reach either corner.
                let a = ((cr + r) * nc - cc * nr).unsigned_abs();
                let b = (cr * nc - (cc + c) * nr).unsigned_abs();
                upper = upper.max(a).max(b);
            }
            cr += r;
            cc += c;
            at_edges = at_edges.max((cr * nc - cc * nr).unsigned_abs());
        }
        (at_edges, upper.max(at_edges))
    }

    /// The Wasserstein-1 distance ∫|F_ref − F_cur| and its error bound (0 when exact).
    pub fn wasserstein(&self) -> (f64, f64) {
        let (nr, nc) = (self.n_ref as f64, self.n_cur as f64);
        let (mut fr, mut fc) = (0.0f64, 0.0f64);
        let (mut total, mut bound) = (0.0f64, 0.0f64);
        for i in 0..self.layout.cells() {
            let (rc, rs) = (self.reference.0[i] as f64, self.reference.1[i]);
            let (cc, cs) = (self.current.0[i] as f64, self.current.1[i]);
            let (pr, pc) = (rc / nr, cc / nc);
            match self.layout.cell(i) {
                // Below the reference F_ref is 0: ∫ F_cur = Σ (edge − x) / n_cur.
                Cell::Below(_) => total += rs / nr + cs / nc,
                Cell::Point => {}
                Cell::Span { width, .. } if width.is_infinite() => {
                    // Above the reference F_ref is 1: ∫ (1 − F_cur) = Σ (x − edge) / n_cur.
                    total += rs / nr + cs / nc;
                }
                Cell::Span { width, .. } => {
                    // ∫ over the cell of (F − F(left)) is Σ (right − x) / n for each side.
                    // (As share × width − sum / n: no product of a count and a width, which
                    // could overflow where neither factor does.)
                    let (ar, ac) = (pr * width - rs / nr, pc * width - cs / nc);
                    let d0 = fr - fc;
                    let integral = width * d0 + ar - ac;
                    let (low, high) = (d0 - pc, d0 + pr);
                    if low >= 0.0 || high <= 0.0 {
                        total += integral.abs();
                    } else {
                        // The sign may change inside: ∫|g| = |∫g| + 2·min(∫g⁺, ∫g⁻), where
                        // g⁺ ≤ d0⁺ + (F_ref − F_ref(left)) and g⁺ ≤ high, and likewise g⁻.
                        let pos = (width * high).min(width * d0.max(0.0) + ar).max(0.0);
                        let neg = (width * -low).min(width * (-d0).max(0.0) + ac).max(0.0);
                        let lo = integral.abs();
                        let hi = lo + 2.0 * pos.min(neg);
                        // The estimate: both sides spread evenly over the cell (g linear),
                        // kept inside what is possible.
                        let d1 = d0 + pr - pc;
                        let linear = if d0 * d1 >= 0.0 {
                            width * (d0 + d1).abs() / 2.0
                        } else {
                            width * (d0 * d0 + d1 * d1) / (2.0 * (d0.abs() + d1.abs()))
                        };
                        // (max and min, not clamp: values near f64's limits can make the
                        // ends infinite or NaN, and clamp panics on those.)
                        let est = linear.max(lo).min(hi);
                        total += est;
                        bound += if lo.is_finite() && hi.is_finite() {
                            (est - lo).max(hi - est)
                        } else {
                            f64::INFINITY
                        };
                    }
                }
            }
            fr += pr;
            fc += pc;
        }
        (total.max(0.0), bound)
    }

    /// Counts per bin of about equal reference mass (`bins` of them): cells are grouped in
    /// order, a bin closing after the cell where the reference's running count first
    /// reaches k·n_ref / bins (k = 1 … bins − 1) while reference values remain after it.
    pub fn binned(&self, bins: usize) -> (Vec<f64>, Vec<f64>) {
        let (mut r, mut c) = (vec![0.0], vec![0.0]);
        let mut seen = 0u128;
        let mut k = 1u128;
        let n = u128::from(self.n_ref);
        let bins = bins.max(1) as u128;
        for i in 0..self.layout.cells() {
            let (rc, cc) = (self.reference.0[i], self.current.0[i]);
            if let (Some(a), Some(b)) = (r.last_mut(), c.last_mut()) {
                *a += rc as f64;
                *b += cc as f64;
            }
            seen += u128::from(rc);
            if k < bins && seen * bins >= k * n && seen < n {
                while k < bins && seen * bins >= k * n {
                    k += 1;
                }
                r.push(0.0);
                c.push(0.0);
            }
        }
        (r, c)
    }
}

/// The Wasserstein-1 distance between an exact reference (ascending values with counts)
/// and exact current values, by one sweep over both.
pub fn wasserstein_exact(values: &[f64], counts: &[u64], current: &[f64]) -> f64 {
    let mut cur = current.to_vec();
    cur.sort_by(f64::total_cmp);
    let (nr, nc) = (counts.iter().sum::<u64>() as f64, cur.len() as f64);
    if nr == 0.0 || nc == 0.0 {
        return 0.0;
    }
    let (mut i, mut j) = (0usize, 0usize);
    let (mut cr, mut cc) = (0u64, 0u64);
    let mut total = 0.0;
    let mut at = f64::NEG_INFINITY;
    while i < values.len() || j < cur.len() {
        let next = match (values.get(i), cur.get(j)) {
            (Some(a), Some(b)) => a.min(*b),
            (Some(a), None) => *a,
            (None, Some(b)) => *b,
            (None, None) => break,
        };
        let gap = (cr as f64 / nr - cc as f64 / nc).abs();
        if at.is_finite() && gap > 0.0 {
            total += gap * (next - at);
        }
        while i < values.len() && values[i] == next {
            cr += counts[i];
            i += 1;
        }
        while j < cur.len() && cur[j] == next {
            cc += 1;
            j += 1;
        }
        at = next;
    }
    total
}

/// The distinct values of an exact current side that an exact reference lacks, with their
/// counts (for columns of few values, compared as categories).
pub fn novel_values(reference: &[f64], current: &NumCurrent) -> Option<Vec<(f64, u64)>> {
    if !current.is_exact() {
        return None;
    }
    let mut v: Vec<f64> = current
        .values
        .iter()
        .copied()
        .filter(|x| reference.binary_search_by(|p| p.total_cmp(x)).is_err())
        .collect();
    v.sort_by(f64::total_cmp);
    let mut out: Vec<(f64, u64)> = Vec::new();
    for x in v {
        match out.last_mut() {
            Some((y, n)) if *y == x => *n += 1,
            _ => out.push((x, 1)),
        }
    }
    Some(out)
}

/// Per reference point the current count, then per gap holding current values its count
/// (each gap one category: values the reference lacks, lumped by where they fall).
pub fn point_counts(layout: &Layout, current: &NumCurrent) -> (Vec<u64>, Vec<u64>) {
    let (counts, _) = current.cells(layout);
    let points = counts.iter().skip(1).step_by(2).copied().collect();
    let gaps = counts
        .iter()
        .step_by(2)
        .copied()
        .filter(|&c| c > 0)
        .collect();
    (points, gaps)
}

/// The exact current values, for exact statistics.
pub fn exact_values(current: &NumCurrent) -> Option<&[f64]> {
    current.is_exact().then_some(&current.values[..])
}
