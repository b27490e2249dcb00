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

mod current;
mod measures;
mod reference;

pub use current::{Layout, NumCurrent};
pub use measures::{Paired, exact_values, novel_values, point_counts, wasserstein_exact};
pub use reference::{Cells, NumBuilder, NumSummary};

/// Distinct reference values kept exactly.
pub const POINTS: usize = 2048;
/// Grid cells of a reference with more distinct values.
pub const BINS: usize = 2048;
/// Current values kept exactly before they are counted into cells.
pub const EXACT_VALUES: usize = 4096;
/// A stored summary with more cells than this is refused.
pub const MAX_CELLS: usize = 1 << 16;
