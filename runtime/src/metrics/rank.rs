//! Scores grouped into ties, in ascending order, for the rank-based metrics (ROC AUC, average
//! precision) and the threshold sweep.
//!
//! A comparison sort of a million `(index, score)` pairs is most of what those metrics cost,
//! and permutation importance recomputes one for every shuffle. Scores are sorted instead as
//! integer keys (each f32's bits mapped so that integer order is `f32::total_cmp` order, the
//! label in the lowest bit) with a least-significant-digit radix sort: three passes of 11 bits,
//! linear in the rows. Only each tie group's value, size and positive count are kept, which is
//! all the metrics read, walked in either direction without being stored; the groups, and so
//! every figure, are the same as a comparison sort's.

/// Rows sharing one score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Tie {
    /// The score.
    pub(crate) value: f32,
    /// Rows with it.
    pub(crate) rows: usize,
    /// Of those, rows whose label is positive.
    pub(crate) positives: usize,
}

/// Below this many rows a comparison sort is as fast.
const RADIX_MIN_ROWS: usize = 2048;
/// Bits per radix pass.
const DIGIT_BITS: u32 = 11;
/// Passes: the 32 bits of a score and the label bit.
const PASSES: usize = 3;

/// The bits of `x` as an unsigned integer whose order is `f32::total_cmp`'s.
fn order_key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 { !b } else { b | 0x8000_0000 }
}

/// The inverse of [`order_key`].
fn from_order_key(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & 0x7fff_ffff } else { !k })
}

/// Buffers a ranking sorts in, kept by callers that rank many times (permutation importance)
/// so that each ranking does not map and fault in fresh pages.
#[derive(Default)]
pub(crate) struct Scratch {
    keys: Vec<u64>,
    buf: Vec<u64>,
}

/// Scores with their labels, sorted, to be walked as tie groups either way.
pub(crate) struct Ranked<'a> {
    /// `order_key(score) << 1 | positive`, ascending.
    keys: &'a [u64],
    positives: usize,
}

/// LSD radix sort of keys below 2^33: the three digits' counts in one pass, then one
/// scattering pass per digit.
fn radix_sort(keys: &mut Vec<u64>, buf: &mut Vec<u64>) {
    let mask = (1u64 << DIGIT_BITS) - 1;
    let mut counts = vec![[0usize; 1 << DIGIT_BITS]; PASSES];
    for &k in keys.iter() {
        for (pass, c) in counts.iter_mut().enumerate() {
            c[((k >> (pass as u32 * DIGIT_BITS)) & mask) as usize] += 1;
        }
    }
    buf.clear();
    buf.resize(keys.len(), 0);
    for (pass, c) in counts.iter_mut().enumerate() {
        let shift = pass as u32 * DIGIT_BITS;
        let mut start = 0;
        for slot in c.iter_mut() {
            let n = *slot;
            *slot = start;
            start += n;
        }
        for &k in keys.iter() {
            let d = ((k >> shift) & mask) as usize;
            buf[c[d]] = k;
            c[d] += 1;
        }
        std::mem::swap(keys, buf);
    }
}

/// Ranks `scores` (`positive[i]` says row i's label is positive) in `scratch`.
pub(crate) fn rank<'a>(scores: &[f32], positive: &[bool], scratch: &'a mut Scratch) -> Ranked<'a> {
    let keys = &mut scratch.keys;
    keys.clear();
    keys.extend(
        scores
            .iter()
            .zip(positive)
            .map(|(&s, &p)| (u64::from(order_key(s)) << 1) | u64::from(p)),
    );
    let positives = positive.iter().filter(|&&p| p).count();
    if keys.len() < RADIX_MIN_ROWS {
        keys.sort_unstable();
    } else {
        radix_sort(keys, &mut scratch.buf);
    }
    Ranked {
        keys: &scratch.keys,
        positives,
    }
}

/// Consecutive keys with equal scores (under `==`, so -0 and +0 are one group) as one [`Tie`].
fn group(keys: impl Iterator<Item = u64>) -> impl Iterator<Item = Tie> {
    let mut keys = keys.peekable();
    std::iter::from_fn(move || {
        let first = keys.next()?;
        let mut t = Tie {
            value: from_order_key((first >> 1) as u32),
            rows: 1,
            positives: (first & 1) as usize,
        };
        while let Some(&k) = keys.peek() {
            if from_order_key((k >> 1) as u32) != t.value {
                break;
            }
            t.rows += 1;
            t.positives += (k & 1) as usize;
            keys.next();
        }
        Some(t)
    })
}

impl Ranked<'_> {
    /// Rows ranked.
    pub(crate) fn rows(&self) -> usize {
        self.keys.len()
    }

    /// Rows whose label is positive.
    pub(crate) fn positives(&self) -> usize {
        self.positives
    }

    /// The distinct scores in ascending `total_cmp` order, with each group's rows and positives.
    pub(crate) fn ascending(&self) -> impl Iterator<Item = Tie> + '_ {
        group(self.keys.iter().copied())
    }

    /// The same groups, highest score first.
    pub(crate) fn descending(&self) -> impl Iterator<Item = Tie> + '_ {
        group(self.keys.iter().rev().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// The groups a comparison sort gives (what the metrics used before).
    fn by_comparison(scores: &[f32], positive: &[bool]) -> Vec<Tie> {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        let mut out: Vec<Tie> = Vec::new();
        for i in order {
            match out.last_mut() {
                Some(t) if t.value == scores[i] => {
                    t.rows += 1;
                    t.positives += usize::from(positive[i]);
                }
                _ => out.push(Tie {
                    value: scores[i],
                    rows: 1,
                    positives: usize::from(positive[i]),
                }),
            }
        }
        out
    }

    /// Both walks of a ranking (made in a scratch used before) give a comparison sort's groups.
    fn check(scores: &[f32], positive: &[bool]) {
        let want = by_comparison(scores, positive);
        let mut scratch = Scratch::default();
        let _ = rank(&[0.5; 3000], &[true; 3000], &mut scratch);
        let r = rank(scores, positive, &mut scratch);
        assert_eq!(
            r.ascending().collect::<Vec<_>>(),
            want,
            "{} rows",
            scores.len()
        );
        let mut down: Vec<Tie> = r.descending().collect();
        down.reverse();
        assert_eq!(down, want);
        assert_eq!(r.rows(), scores.len());
        assert_eq!(r.positives(), positive.iter().filter(|&&p| p).count());
    }

    #[test]
    fn radix_groups_equal_a_comparison_sorts() {
        let mut rng = SplitMix64::new(11);
        for rows in [0, 1, 5, RADIX_MIN_ROWS - 1, RADIX_MIN_ROWS, 50_000] {
            // Coarse scores make many ties; the edges and both zeros are in.
            let mut scores: Vec<f32> = (0..rows)
                .map(|_| (rng.below(1000) as f32) / 999.0)
                .collect();
            let positive: Vec<bool> = (0..rows).map(|_| rng.below(3) == 0).collect();
            if rows > 4 {
                scores[0] = -0.0;
                scores[1] = 0.0;
                scores[2] = 1.0;
                scores[3] = f32::MIN_POSITIVE;
            }
            check(&scores, &positive);
            // Fine scores: few ties.
            let fine: Vec<f32> = (0..rows).map(|_| rng.next_f64() as f32).collect();
            check(&fine, &positive);
        }
        let neg = [-2.5f32, -1.0, -0.0, 0.0, 3.0, f32::MAX, f32::MIN];
        let p = [true, false, true, false, true, false, true];
        check(&neg, &p);
        for &x in &neg {
            assert_eq!(from_order_key(order_key(x)).to_bits(), x.to_bits());
        }
    }
}
