//! The current side: the [`Layout`] of cells on a reference, and [`NumCurrent`], the
//! current values kept exactly while few, then counted into the layout's cells.

use serde::{Deserialize, Serialize};

use super::EXACT_VALUES;

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
pub(super) enum Cell {
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

    pub(super) fn cell(&self, i: usize) -> Cell {
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
    pub(super) count: u64,
    /// The values, while at most [`EXACT_VALUES`] and not yet in cells.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) values: Vec<f64>,
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
    pub(super) fn cells(&self, layout: &Layout) -> (Vec<u64>, Vec<f64>) {
        if self.is_exact() {
            let mut c = self.clone();
            c.count_into_cells(layout);
            (c.counts, c.sums)
        } else {
            (self.counts.clone(), self.sums.clone())
        }
    }
}
