//! Small, deterministic streaming sketches for dataset profiles: a stable
//! 64/128-bit hash (the same on every node and every build, unlike std's),
//! a HyperLogLog distinct counter, and a seeded reservoir sample.

/// FNV-1a over `bytes`, from `basis`, then murmur3's 64-bit finaliser for
/// avalanche (FNV alone leaves the high bits poorly mixed).
fn fnv_mix(basis: u64, bytes: &[u8]) -> u64 {
    let mut h = basis;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A stable 64-bit hash of `bytes`. Used for feature hashing, so it must
/// never change: a changed hash would silently change every hashed feature.
pub fn hash64(bytes: &[u8]) -> u64 {
    fnv_mix(0xcbf2_9ce4_8422_2325, bytes)
}

/// A stable 128-bit hash (two independent 64-bit halves), for key
/// uniqueness: a false "duplicate" needs a 128-bit collision.
pub fn hash128(bytes: &[u8]) -> u128 {
    (u128::from(hash64(bytes)) << 64) | u128::from(fnv_mix(0x8422_2325_cbf2_9ce4, bytes))
}

/// splitmix64: a tiny, well-mixed, seedable generator.
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// HyperLogLog with 2^12 registers: about 1.6% standard error, 4 KiB.
#[derive(Clone, Debug)]
pub struct Hll {
    regs: Vec<u8>,
}

const HLL_BITS: u32 = 12;

impl Default for Hll {
    fn default() -> Self {
        Hll {
            regs: vec![0; 1 << HLL_BITS],
        }
    }
}

impl Hll {
    /// Adds a hashed item.
    pub fn add(&mut self, hash: u64) {
        let idx = (hash >> (64 - HLL_BITS)) as usize;
        let rest = (hash << HLL_BITS) | (1 << (HLL_BITS - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if rank > self.regs[idx] {
            self.regs[idx] = rank;
        }
    }

    /// The estimated number of distinct items added.
    pub fn estimate(&self) -> u64 {
        let m = self.regs.len() as f64;
        let sum: f64 = self.regs.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let zeros = self.regs.iter().filter(|&&r| r == 0).count();
        let est = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        est.round() as u64
    }
}

/// A uniform sample of at most `cap` values (Algorithm R, seeded, so the
/// same input always gives the same sample).
#[derive(Clone, Debug)]
pub struct Reservoir {
    cap: usize,
    seen: u64,
    items: Vec<f64>,
    rng: SplitMix,
}

impl Reservoir {
    /// An empty reservoir.
    pub fn new(cap: usize, seed: u64) -> Self {
        Reservoir {
            cap,
            seen: 0,
            items: Vec::new(),
            rng: SplitMix(seed),
        }
    }

    /// Offers a value.
    pub fn add(&mut self, x: f64) {
        self.seen += 1;
        if self.items.len() < self.cap {
            self.items.push(x);
        } else {
            let j = self.rng.below(self.seen);
            if (j as usize) < self.cap {
                self.items[j as usize] = x;
            }
        }
    }

    /// True when every value offered is in the sample.
    pub fn is_exact(&self) -> bool {
        self.seen as usize == self.items.len()
    }

    /// The sample, sorted.
    pub fn into_sorted(mut self) -> Vec<f64> {
        self.items.sort_by(f64::total_cmp);
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable() {
        // Pinned: feature hashing depends on these never changing.
        assert_eq!(hash64(b"A11"), hash64(b"A11"));
        assert_ne!(hash64(b"A11"), hash64(b"A12"));
        assert_eq!(format!("{:016x}", hash64(b"airlock")), PINNED);
    }

    const PINNED: &str = "f3046adce89cc68e";

    #[test]
    fn hll_estimates_within_a_few_percent() {
        for n in [10u64, 1000, 100_000] {
            let mut h = Hll::default();
            for i in 0..n {
                h.add(hash64(&i.to_le_bytes()));
                h.add(hash64(&i.to_le_bytes()));
            }
            let e = h.estimate() as f64;
            let err = (e - n as f64).abs() / n as f64;
            assert!(err < 0.05, "n={n} estimate={e}");
        }
    }

    #[test]
    fn reservoir_is_exact_when_small_and_uniform_when_large() {
        let mut r = Reservoir::new(100, 1);
        for i in 0..50 {
            r.add(f64::from(i));
        }
        assert!(r.is_exact());
        let mut r = Reservoir::new(1000, 7);
        for i in 0..100_000 {
            r.add(f64::from(i));
        }
        assert!(!r.is_exact());
        let s = r.into_sorted();
        let median = s[500];
        assert!((40_000.0..60_000.0).contains(&median), "{median}");
    }
}
