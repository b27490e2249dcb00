//! The measures between the two sides: KS and Wasserstein over paired cells with their
//! error bounds, and the exact statistics when both sides are exact.

use super::current::Cell;
use super::{Layout, NumCurrent, NumSummary};

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
