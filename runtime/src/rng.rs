//! A small seeded PRNG (SplitMix64) for everything that must be reproducible.
//!
//! candle's CPU random number generator cannot be seeded, so the splits, weight
//! initialisation, minibatch order and dropout masks all draw from this generator instead. SplitMix64 is
//! Steele, Lea and Flood, "Fast splittable pseudorandom number generators" (OOPSLA 2014), with
//! the constants of Vigna's reference implementation; it is not cryptographic and need not be.

/// Golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Independent streams derived from one training seed, so that changing e.g. the number of
/// epochs does not change the holdout split or the initial weights.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    /// Holdout split permutation.
    Split = 1,
    /// Initial weights.
    Init = 2,
    /// Per-epoch minibatch order.
    Batches = 3,
    /// Dropout masks.
    Dropout = 4,
}

/// SplitMix64 generator.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

/// SplitMix64's output function (a 64-bit finaliser with good avalanche).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitMix64 {
    /// A generator whose first output is SplitMix64's first output for `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The generator for one [`Stream`] of a training seed.
    pub(crate) fn stream(seed: u64, stream: Stream) -> Self {
        Self::new(mix(seed ^ mix(stream as u64)))
    }

    /// Next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// Moves the generator past `draws` outputs at once (each output advances the state by one
    /// increment), so a stream can be cut into pieces drawn apart.
    pub(crate) fn skip(&mut self, draws: u64) {
        self.state = self.state.wrapping_add(GAMMA.wrapping_mul(draws));
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    pub(crate) fn next_f64(&mut self) -> f64 {
        // Top 53 bits fit an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }

    /// Uniform integer in [0, n) without modulo bias (Lemire, "Fast random integer generation
    /// in an interval", 2019). `n` must be at least 1.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as usize;
            }
        }
    }

    /// Fisher–Yates (Durstenfeld) shuffle in place.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_splitmix64() {
        // First outputs of Vigna's splitmix64.c for seed 1234567.
        let mut r = SplitMix64::new(1_234_567);
        let got: Vec<u64> = (0..5).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821,
            ]
        );
    }

    #[test]
    fn skipping_draws_lands_where_drawing_them_does() {
        let mut drawn = SplitMix64::new(99);
        for _ in 0..1000 {
            drawn.next_u64();
        }
        let mut skipped = SplitMix64::new(99);
        skipped.skip(1000);
        assert_eq!(drawn.next_u64(), skipped.next_u64());
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let mut a: Vec<usize> = (0..100).collect();
        let mut b = a.clone();
        SplitMix64::stream(7, Stream::Split).shuffle(&mut a);
        SplitMix64::stream(7, Stream::Split).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn streams_differ() {
        let a = SplitMix64::stream(7, Stream::Split).next_u64();
        let b = SplitMix64::stream(7, Stream::Init).next_u64();
        let c = SplitMix64::stream(8, Stream::Split).next_u64();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_and_uniform_stay_in_range() {
        let mut r = SplitMix64::new(1);
        let mut seen = [false; 3];
        for _ in 0..1000 {
            seen[r.below(3)] = true;
            let u = r.uniform(-0.5, 0.5);
            assert!((-0.5..0.5).contains(&u));
        }
        assert_eq!(seen, [true; 3]);
    }
}
