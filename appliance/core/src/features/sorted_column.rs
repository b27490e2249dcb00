//! A column's values in sorted order, in bounded memory: an external merge
//! sort for the fit ([`super::Fitter`]).
//!
//! A [`SortedColumn`] buffers up to a run of values ([`VALUE_RUN`], 1 MiB);
//! each full buffer is sorted by `f64::total_cmp` and handed to a
//! [`ValueSpill`] as a run. At the end the runs and the sorted tail still in
//! memory are merged, a small heap over the heads of the runs, into the
//! column's values in sorted order ([`Sorted`]), which can be walked any
//! number of times (a mean is one walk, a median a walk to its rank, a
//! deviation a walk after the mean's). `total_cmp` is a total order on the
//! bits, so the merged sequence is bit for bit the one a sort of the whole
//! column held in memory gives, and a statistic folded over it in the same
//! order has the same bytes. A column that never fills a run never spills.
//!
//! The core writes no file: the appliance's spill is anonymous temporary
//! files in the vault's staging folder (`airlock::ops::features`);
//! [`MemoryValueSpill`] keeps the runs in memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;

use crate::error::{Error, Result};

/// Values of one column held in memory before a sorted run is spilled:
/// 2^17 values, 1 MiB.
pub const VALUE_RUN: usize = 1 << 17;

/// Values read from a spilled run at a time while merging: 8 KiB.
const READ_CHUNK: usize = 1 << 10;

/// Where a fit keeps the sorted runs of its columns' values that do not
/// fit in memory (past [`VALUE_RUN`] values a column). The appliance spills
/// them to an anonymous temporary file; [`MemoryValueSpill`] keeps them in
/// memory.
pub trait ValueSpill {
    /// Stores one run, sorted; returns its number (0 for the first run
    /// stored, then 1, 2, ...).
    fn write_run(&mut self, run: &[f64]) -> Result<usize>;
    /// Reads the values of run `run` from its value `from` on into `out`,
    /// in the order written; returns how many were read (fewer than
    /// `out.len()` only at the run's end, 0 past it or for a run that was
    /// never written).
    fn read(&mut self, run: usize, from: usize, out: &mut [f64]) -> Result<usize>;
}

/// Runs kept in memory: for callers and tests without a staging folder.
#[derive(Debug, Default)]
pub struct MemoryValueSpill {
    runs: Vec<Vec<f64>>,
}

impl ValueSpill for MemoryValueSpill {
    fn write_run(&mut self, run: &[f64]) -> Result<usize> {
        self.runs.push(run.to_vec());
        Ok(self.runs.len() - 1)
    }

    fn read(&mut self, run: usize, from: usize, out: &mut [f64]) -> Result<usize> {
        let Some(values) = self.runs.get(run) else {
            return Ok(0);
        };
        let rest = values.get(from..).unwrap_or_default();
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

/// One column's values as they come, held a run at a time.
pub(super) struct SortedColumn {
    /// The values since the last spilled run (never more than `run`).
    buf: Vec<f64>,
    /// How many values a run holds.
    run: usize,
    /// The spilled runs: their numbers in the spill and their lengths.
    runs: Vec<(usize, usize)>,
}

impl SortedColumn {
    /// An empty column whose runs hold `run` values (at least 1).
    pub(super) fn new(run: usize) -> Self {
        SortedColumn {
            buf: Vec::new(),
            run: run.max(1),
            runs: Vec::new(),
        }
    }

    /// How many values a run holds.
    pub(super) fn run(&self) -> usize {
        self.run
    }

    /// Makes the runs `run` values long (at least 1) from the next value on.
    pub(super) fn set_run(&mut self, run: usize) {
        self.run = run.max(1);
    }

    /// Reserves room for `values`, at most one run.
    pub(super) fn reserve(&mut self, values: usize) {
        let want = values.min(self.run).saturating_sub(self.buf.len());
        // A failed reservation leaves the buffer as it was.
        let _ = self.buf.try_reserve_exact(want);
    }

    /// The values the buffer has room for (at most one run).
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Adds a value; a full run is sorted and spilled.
    pub(super) fn push(&mut self, x: f64, spill: &mut dyn ValueSpill) -> Result<()> {
        if self.buf.len() == self.buf.capacity() {
            // Grow by doubling, but never past one run (a Vec left to
            // itself could hold up to twice the run).
            let grow = (self.buf.capacity().max(8))
                .min(self.run.saturating_sub(self.buf.len()))
                .max(1);
            self.buf.reserve_exact(grow);
        }
        self.buf.push(x);
        if self.buf.len() >= self.run {
            self.buf.sort_unstable_by(f64::total_cmp);
            let id = spill.write_run(&self.buf)?;
            self.runs.push((id, self.buf.len()));
            self.buf.clear();
        }
        Ok(())
    }

    /// The values, sorted.
    pub(super) fn finish(mut self) -> Sorted {
        self.buf.sort_unstable_by(f64::total_cmp);
        let len = self.buf.len() + self.runs.iter().map(|r| r.1).sum::<usize>();
        Sorted {
            held: self.buf,
            runs: self.runs,
            copies: (0.0, 0),
            len,
        }
    }
}

/// A column's values in `total_cmp` order: the spilled runs, the tail held
/// in memory, and any number of copies of one value, merged as they are
/// walked.
pub(super) struct Sorted {
    held: Vec<f64>,
    runs: Vec<(usize, usize)>,
    copies: (f64, usize),
    len: usize,
}

impl Sorted {
    /// Values held in memory (sorted here).
    pub(super) fn held(mut xs: Vec<f64>) -> Self {
        xs.sort_unstable_by(f64::total_cmp);
        Sorted {
            len: xs.len(),
            held: xs,
            runs: Vec::new(),
            copies: (0.0, 0),
        }
    }

    /// The same values with `n` copies of `x` merged in.
    pub(super) fn with_copies(mut self, x: f64, n: usize) -> Self {
        self.copies = (x, n);
        self.len += n;
        self
    }

    /// How many values.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Walks the values in order: `f` gets them as an iterator (it may stop
    /// early). A failed read of the spill ends the iterator and is returned
    /// here, whatever `f` made of the values; so is a walk to the end that
    /// met fewer values than the column counted (a spill that lost some).
    pub(super) fn walk<T>(
        &self,
        spill: &mut dyn ValueSpill,
        f: impl FnOnce(&mut dyn Iterator<Item = f64>) -> T,
    ) -> Result<T> {
        let mut merge = self.merge();
        let (mut failed, mut met, mut ended_at) = (None, 0, None);
        let out = f(&mut std::iter::from_fn(|| match merge.next(spill) {
            Ok(Some(x)) => {
                met += 1;
                Some(x)
            }
            Ok(None) => {
                ended_at = Some(met);
                None
            }
            Err(e) => {
                failed = Some(e);
                None
            }
        }));
        match (failed, ended_at) {
            (Some(e), _) => Err(e),
            (None, Some(n)) if n != self.len => Err(ended(n)),
            (None, _) => Ok(out),
        }
    }

    /// A merge from the first value on, for a caller that writes to the
    /// spill while it walks.
    pub(super) fn merge(&self) -> Merge<'_> {
        Merge {
            sorted: self,
            runs: self
                .runs
                .iter()
                .map(|&(id, len)| RunReader {
                    id,
                    chunk: len.min(READ_CHUNK),
                    next: 0,
                    buf: Vec::new(),
                    at: 0,
                })
                .collect(),
            held_at: 0,
            copies_left: self.copies.1,
            held_only: self.runs.is_empty() && self.copies.1 == 0,
            heap: None,
        }
    }

    /// The value at rank `k` (0 is the smallest).
    pub(super) fn nth(&self, spill: &mut dyn ValueSpill, k: usize) -> Result<f64> {
        self.walk(spill, |xs| xs.nth(k))?.ok_or_else(|| ended(k))
    }

    /// The median: the middle value, or the mean of the two middle ones.
    pub(super) fn median(&self, spill: &mut dyn ValueSpill) -> Result<f64> {
        let m = self.len / 2;
        if self.len % 2 == 1 {
            return self.nth(spill, m);
        }
        match self.ranks(spill, &[m.saturating_sub(1), m])?[..] {
            [a, b] => Ok((a + b) / 2.0),
            _ => Err(ended(m)),
        }
    }

    /// The values at ranks `ks` (in increasing order, repeats allowed), in
    /// one walk.
    pub(super) fn ranks(&self, spill: &mut dyn ValueSpill, ks: &[usize]) -> Result<Vec<f64>> {
        let got = self.walk(spill, |xs| {
            let mut out = Vec::with_capacity(ks.len());
            let (mut at, mut cur) = (0, xs.next());
            for &k in ks {
                while at < k {
                    cur = xs.next();
                    at += 1;
                }
                out.extend(cur);
            }
            out
        })?;
        if got.len() < ks.len() {
            return Err(ended(self.len));
        }
        Ok(got)
    }
}

/// A walk that ended before the rank it was sent to: the column holds fewer
/// values than it counted (a spill that lost some).
fn ended(k: usize) -> Error {
    Error::Integrity(format!(
        "a sorted column ended before its value {k}: the spilled values were not all read back"
    ))
}

/// Reads one spilled run a chunk at a time.
struct RunReader {
    id: usize,
    chunk: usize,
    /// The run's next value to read from the spill.
    next: usize,
    buf: Vec<f64>,
    at: usize,
}

impl RunReader {
    fn pull(&mut self, spill: &mut dyn ValueSpill) -> Result<Option<f64>> {
        if self.at == self.buf.len() {
            self.buf.resize(self.chunk, 0.0);
            let n = spill.read(self.id, self.next, &mut self.buf)?;
            self.buf.truncate(n);
            self.next += n;
            self.at = 0;
            if n == 0 {
                self.buf = Vec::new();
                return Ok(None);
            }
        }
        let x = self.buf[self.at];
        self.at += 1;
        Ok(Some(x))
    }
}

/// `total_cmp`'s order as an integer: the same comparison, usable as a key.
fn key(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

/// One walk over a [`Sorted`]: a k-way merge of its runs, its held tail and
/// its copies.
pub(super) struct Merge<'a> {
    sorted: &'a Sorted,
    runs: Vec<RunReader>,
    held_at: usize,
    copies_left: usize,
    /// Nothing to merge: the values are the held tail alone (a column that
    /// never spilled, with no copies).
    held_only: bool,
    /// (key, source, value bits) of each source's next value: sources
    /// `0..runs` are the runs, then the held tail, then the copies. Made on
    /// the first call.
    heap: Option<BinaryHeap<Reverse<(i64, usize, u64)>>>,
}

impl Merge<'_> {
    /// The next value in order; `None` at the end.
    pub(super) fn next(&mut self, spill: &mut dyn ValueSpill) -> Result<Option<f64>> {
        if self.held_only {
            let x = self.sorted.held.get(self.held_at).copied();
            self.held_at += 1;
            return Ok(x);
        }
        let mut heap = match self.heap.take() {
            Some(heap) => heap,
            None => {
                let mut heap = BinaryHeap::with_capacity(self.runs.len() + 2);
                for source in 0..self.runs.len() + 2 {
                    if let Some(x) = self.pull(source, spill)? {
                        heap.push(Reverse((key(x), source, x.to_bits())));
                    }
                }
                heap
            }
        };
        let next = match heap.peek_mut() {
            None => Ok(None),
            Some(mut top) => {
                let Reverse((_, source, bits)) = *top;
                // The source's next value takes the head's place (one
                // sift down), or the source is done.
                match self.pull(source, spill) {
                    Ok(Some(x)) => {
                        *top = Reverse((key(x), source, x.to_bits()));
                        Ok(Some(f64::from_bits(bits)))
                    }
                    Ok(None) => {
                        PeekMut::pop(top);
                        Ok(Some(f64::from_bits(bits)))
                    }
                    Err(e) => Err(e),
                }
            }
        };
        self.heap = Some(heap);
        next
    }

    /// The next value of one source.
    fn pull(&mut self, source: usize, spill: &mut dyn ValueSpill) -> Result<Option<f64>> {
        let runs = self.runs.len();
        if let Some(run) = self.runs.get_mut(source) {
            return run.pull(spill);
        }
        if source == runs {
            let x = self.sorted.held.get(self.held_at).copied();
            self.held_at += 1;
            return Ok(x);
        }
        if self.copies_left > 0 {
            self.copies_left -= 1;
            return Ok(Some(self.sorted.copies.0));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                match i % 11 {
                    0 => -0.0,
                    1 => 0.0,
                    2 => 3.5,
                    _ => ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.4) * 1e3,
                }
            })
            .collect()
    }

    fn bits(xs: &[f64]) -> Vec<u64> {
        xs.iter().map(|x| x.to_bits()).collect()
    }

    /// The merged runs are the whole column sorted, bit for bit, and walk
    /// again from the start.
    #[test]
    fn merged_runs_are_the_column_sorted_and_walk_twice() {
        for (n, run) in [
            (0, 3),
            (1, 3),
            (5, 7),
            (7, 7),
            (100, 7),
            (1000, 1),
            (2000, 64),
        ] {
            let xs = values(n, n as u64);
            let mut spill = MemoryValueSpill::default();
            let mut col = SortedColumn::new(run);
            for &x in &xs {
                col.push(x, &mut spill).expect("push");
            }
            assert!(col.capacity() <= run, "{n} values: more than a run held");
            let sorted = col.finish().with_copies(3.5, 4);
            let mut want = xs.clone();
            want.extend([3.5; 4]);
            want.sort_by(f64::total_cmp);
            assert_eq!(sorted.len(), want.len());
            for _ in 0..2 {
                let got = sorted
                    .walk(&mut spill, |it| it.collect::<Vec<_>>())
                    .expect("walk");
                assert_eq!(bits(&got), bits(&want), "{n} values, runs of {run}");
            }
            if !want.is_empty() {
                let ks = [0, want.len() / 2, want.len() / 2, want.len() - 1];
                let got = sorted.ranks(&mut spill, &ks).expect("ranks");
                let expect: Vec<f64> = ks.iter().map(|&k| want[k]).collect();
                assert_eq!(bits(&got), bits(&expect));
                assert_eq!(
                    sorted
                        .nth(&mut spill, want.len() - 1)
                        .expect("last")
                        .to_bits(),
                    want[want.len() - 1].to_bits()
                );
            }
        }
    }

    /// A spill that gives back fewer values than were written is an error,
    /// not a shorter column.
    #[test]
    fn a_spill_that_loses_values_is_an_error() {
        struct Lossy(MemoryValueSpill);
        impl ValueSpill for Lossy {
            fn write_run(&mut self, run: &[f64]) -> Result<usize> {
                self.0.write_run(&run[..run.len() - 1])
            }
            fn read(&mut self, run: usize, from: usize, out: &mut [f64]) -> Result<usize> {
                self.0.read(run, from, out)
            }
        }
        let mut spill = Lossy(MemoryValueSpill::default());
        let mut col = SortedColumn::new(4);
        for x in values(10, 1) {
            col.push(x, &mut spill).expect("push");
        }
        let sorted = col.finish();
        assert!(sorted.nth(&mut spill, 9).is_err());
        assert!(sorted.ranks(&mut spill, &[0, 9]).is_err());
        assert!(sorted.walk(&mut spill, |xs| xs.sum::<f64>()).is_err());
        // Stopping early finds nothing wrong.
        assert!(sorted.nth(&mut spill, 3).is_ok());
    }
}
