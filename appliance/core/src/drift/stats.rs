//! The statistics behind the drift measures, as pure functions of counts: the two-sample
//! Kolmogorov–Smirnov p-value, Pearson's chi-squared test of homogeneity, the Jensen–Shannon
//! distance and the population stability index.
//!
//! Each follows the SciPy function named on it; `tests/fixtures/drift/` holds values
//! recorded from SciPy and the tests in `drift::tests` compare against them.

/// Above this many values on either side the KS p-value is asymptotic, as in SciPy's
/// `ks_2samp(method="auto")` (`MAX_AUTO_N`).
pub const KS_EXACT_MAX: u64 = 10_000;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The two-sided p-value P(D ≥ d) of the two-sample Kolmogorov–Smirnov statistic for
/// samples of `n1` and `n2` values, where `num` = max |c1·n2 − c2·n1| over the pooled
/// values (c1, c2 the counts at or below a value), so that D = num / (n1·n2).
///
/// As SciPy's `ks_2samp(method="auto")`: exact when both samples have at most
/// [`KS_EXACT_MAX`] values (the share of lattice paths that leave the band |x/n1 − y/n2| < D,
/// here as the probability mass a random path carries out of it, which loses no precision
/// for small p-values); otherwise the limiting Kolmogorov distribution with Stephens'
/// correction for N = round(n1·n2 / (n1 + n2)), which stays within 3% (relative) of SciPy's
/// `kstwo.sf(D, N)` for p ≥ 10⁻⁴ and within 0.2% near p = 0.05.
pub fn ks_pvalue(n1: u64, n2: u64, num: u128) -> f64 {
    if n1 == 0 || n2 == 0 || num == 0 {
        return 1.0;
    }
    let d = num as f64 / (n1 as f64 * n2 as f64);
    if n1.max(n2) <= KS_EXACT_MAX {
        // num is a multiple of gcd(n1, n2): D = h / lcm(n1, n2).
        let h = (num / u128::from(gcd(n1, n2))) as u64;
        return ks_exact(n1, n2, h).clamp(0.0, 1.0);
    }
    let en = (n1 as f64 * n2 as f64 / (n1 as f64 + n2 as f64)).round();
    let s = en.sqrt();
    kolmogorov_sf((s + 0.12 + 0.11 / s) * d).clamp(0.0, 1.0)
}

/// P(D ≥ h / lcm(m, n)): a path from (0, 0) to (m, n) taken uniformly at random leaves the
/// band |i·n − j·m| < h·gcd(m, n) with this probability. The mass still inside is carried
/// one row of the lattice at a time, only over the band; what steps out is summed.
fn ks_exact(m: u64, n: u64, h: u64) -> f64 {
    let (mi, ni) = (i128::from(m), i128::from(n));
    let (mu, nu) = (m as usize, n as usize);
    let hg = i128::from(h) * i128::from(gcd(m, n));
    let inside = |i: usize, j: usize| (i as i128 * ni - j as i128 * mi).abs() < hg;
    // The band's last column in row i: the largest j with j·m < i·n + h·g.
    let top = |i: usize| ((i as i128 * ni + hg - 1).div_euclid(mi)).min(ni) as usize;
    // From (i, j), a uniformly random path steps right or up with these probabilities.
    let step = |i: usize, j: usize| {
        let left = (mu - i + nu - j) as f64;
        ((mu - i) as f64 / left, (nu - j) as f64 / left)
    };
    let mut prev = vec![0.0f64; nu + 1];
    let mut cur = vec![0.0f64; nu + 1];
    let mut out = 0.0f64;
    // Row 0: the path starts at (0, 0), which is inside (h >= 1), and may climb.
    prev[0] = 1.0;
    let mut band = (0usize, 0usize);
    for j in 1..=nu {
        let mass = prev[j - 1] * step(0, j - 1).1;
        if inside(0, j) {
            prev[j] = mass;
            band.1 = j;
        } else {
            out += mass;
            break;
        }
    }
    for i in 1..=mu {
        let (plo, phi) = band;
        let end = (top(i) + 1).max(phi).min(nu);
        let mut climb = 0.0f64;
        let mut next: Option<(usize, usize)> = None;
        for j in plo..=end {
            let from_left = if j <= phi {
                prev[j] * step(i - 1, j).0
            } else {
                0.0
            };
            let mass = from_left + climb;
            if inside(i, j) {
                cur[j] = mass;
                climb = if j < nu { mass * step(i, j).1 } else { 0.0 };
                next = Some(next.map_or((j, j), |(lo, _)| (lo, j)));
            } else {
                out += mass;
                climb = 0.0;
            }
        }
        prev[plo..=phi].fill(0.0);
        std::mem::swap(&mut prev, &mut cur);
        match next {
            Some(b) => band = b,
            None => return out,
        }
    }
    out
}

/// The limiting Kolmogorov distribution's upper tail, Q(λ) = 2 Σ (−1)^(k−1) e^(−2k²λ²).
fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.18 {
        // The theta-function form converges fast for small λ.
        let y = (-std::f64::consts::PI * std::f64::consts::PI / (8.0 * lambda * lambda)).exp();
        let cdf = (2.0 * std::f64::consts::PI).sqrt() / lambda
            * (y + y.powi(9) + y.powi(25) + y.powi(49));
        return 1.0 - cdf;
    }
    let mut sum = 0.0;
    for k in 1..=100i32 {
        let term = (-2.0 * f64::from(k * k) * lambda * lambda).exp();
        sum += if k % 2 == 1 { term } else { -term };
        if term < 1e-300 {
            break;
        }
    }
    2.0 * sum
}

/// Pearson's chi-squared test of homogeneity of two samples given as counts over the same
/// categories (SciPy's `chi2_contingency` of the 2×k table with `correction=False`;
/// categories empty on both sides are left out). Returns (statistic, degrees of freedom,
/// p-value). With two categories this is the two-proportion z-test (z² = χ²).
pub fn chi2_homogeneity(a: &[u64], b: &[u64]) -> (f64, u64, f64) {
    let cols: Vec<(f64, f64)> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| **x + **y > 0)
        .map(|(x, y)| (*x as f64, *y as f64))
        .collect();
    let (ta, tb): (f64, f64) = cols
        .iter()
        .fold((0.0, 0.0), |(s, t), (x, y)| (s + x, t + y));
    if cols.len() < 2 || ta == 0.0 || tb == 0.0 {
        return (0.0, 0, 1.0);
    }
    let total = ta + tb;
    let stat: f64 = cols
        .iter()
        .map(|(x, y)| {
            let col = x + y;
            let (ea, eb) = (ta * col / total, tb * col / total);
            (x - ea) * (x - ea) / ea + (y - eb) * (y - eb) / eb
        })
        .sum();
    let dof = cols.len() as u64 - 1;
    (stat, dof, chi2_sf(stat, dof))
}

/// P(X ≥ x) for a chi-squared variable with `dof` degrees of freedom.
pub fn chi2_sf(x: f64, dof: u64) -> f64 {
    if dof == 0 || x <= 0.0 {
        return 1.0;
    }
    gamma_q(dof as f64 / 2.0, x / 2.0)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms; about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised upper incomplete gamma function Q(a, x): its series below a + 1, its
/// continued fraction (modified Lentz) above.
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let lead = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        (1.0 - sum * lead.exp()).clamp(0.0, 1.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let step = d * c;
            h *= step;
            if (step - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (lead.exp() * h).clamp(0.0, 1.0)
    }
}

fn shares(c: &[f64]) -> Vec<f64> {
    let total: f64 = c.iter().sum();
    if total > 0.0 {
        c.iter().map(|x| x / total).collect()
    } else {
        vec![0.0; c.len()]
    }
}

/// The Jensen–Shannon distance between two distributions given as counts over the same
/// bins: the square root of the Jensen–Shannon divergence, natural logarithm, from 0 to
/// √ln 2 ≈ 0.833 (SciPy's `scipy.spatial.distance.jensenshannon` with its default base, as
/// Evidently calls it).
pub fn jensen_shannon(a: &[f64], b: &[f64]) -> f64 {
    let (p, q) = (shares(a), shares(b));
    let kl = |x: &[f64], m: &[f64]| -> f64 {
        x.iter()
            .zip(m)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, m)| x * (x / m).ln())
            .sum()
    };
    let m: Vec<f64> = p.iter().zip(&q).map(|(x, y)| (x + y) / 2.0).collect();
    ((kl(&p, &m) + kl(&q, &m)) / 2.0).max(0.0).sqrt()
}

/// An empty bin's share in [`psi`].
pub const PSI_EMPTY: f64 = 1e-4;

/// The population stability index Σ (b − a)·ln(b / a) over shares of the same bins; an
/// empty bin counts as [`PSI_EMPTY`] of its side (as Evidently's PSI does).
pub fn psi(a: &[f64], b: &[f64]) -> f64 {
    let fill = |s: Vec<f64>| -> Vec<f64> {
        s.into_iter()
            .map(|x| if x == 0.0 { PSI_EMPTY } else { x })
            .collect()
    };
    let (p, q) = (fill(shares(a)), fill(shares(b)));
    p.iter().zip(&q).map(|(e, a)| (a - e) * (a / e).ln()).sum()
}
