//! Log-space numerics shared by every module: stable log-softmax, log-sigmoid,
//! log-sum-exp. Nothing else in the crate exponentiates a logit directly.

/// `log σ(x) = -log(1 + e^{-x})`, exact for large |x| in both directions.
#[inline]
pub fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        -(-x).exp().ln_1p()
    } else {
        x - x.exp().ln_1p()
    }
}

/// `σ(x) = 1 / (1 + e^{-x})`, without overflow for any finite x.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `(log σ(u), σ(-u))` from a single exponential: the pair every
/// logistic loss needs for its value and its derivative.
#[inline]
pub fn log_sigmoid_and_sigmoid_neg(u: f64) -> (f64, f64) {
    let e = (-u.abs()).exp();
    if u >= 0.0 {
        (-e.ln_1p(), e / (1.0 + e))
    } else {
        (u - e.ln_1p(), 1.0 / (1.0 + e))
    }
}

/// `log Σ exp(xᵢ)`; `-inf` for an empty slice.
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    let s: f64 = xs.iter().map(|&x| (x - m).exp()).sum();
    m + s.ln()
}

/// `log((Σ exp(xᵢ)) / n)`: the log of a mean of probabilities given as logs.
pub fn log_mean_exp(xs: &[f64]) -> f64 {
    log_sum_exp(xs) - (xs.len() as f64).ln()
}

/// Writes `log softmax(logits)` into `out`, and returns the log-partition.
/// One row of [`softmax_rows`], so that every softmax in the crate is the same.
pub fn log_softmax_into(logits: &[f64], out: &mut [f64]) -> f64 {
    debug_assert_eq!(logits.len(), out.len());
    if logits.is_empty() {
        return f64::NEG_INFINITY;
    }
    let mut probs = vec![0.0; logits.len()];
    softmax_rows(logits, logits.len(), out, &mut probs);
    logits[0] - out[0]
}

/// `e^x` for `x ≤ 0` (and up to ~709), written without branches so loops of
/// it vectorise: Cody-Waite reduction `x = k ln 2 + r`, a degree-13 Taylor
/// polynomial for `e^r` on `|r| ≤ ln2/2` (truncation < 1e-17), and `2^k`
/// applied in two halves so results down to the subnormal range are right.
/// Within 2 ulp of the correctly rounded value; 0 below -745.2; `NaN` stays `NaN`.
#[inline(always)]
pub fn exp_vectorizable(x: f64) -> f64 {
    const LN2_HI: f64 = 0.693_147_180_369_123_8; // 2^-32-truncated ln 2: k · LN2_HI is exact
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const SHIFTER: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52: adding it rounds to an integer
    let xc = x.clamp(-746.0, 709.7);
    let kf = (xc * std::f64::consts::LOG2_E + SHIFTER) - SHIFTER;
    let r = (xc - kf * LN2_HI) - kf * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0;
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    let k = kf as i64;
    let k1 = k >> 1;
    let k2 = k - k1;
    let s1 = f64::from_bits(((k1 + 1023) as u64) << 52);
    let s2 = f64::from_bits(((k2 + 1023) as u64) << 52);
    let y = p * s1 * s2;
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// `tanh x` without branches, so loops of it vectorise: an odd Taylor
/// polynomial to x^17 for |x| < 1/8 (truncation below 1e-18 relative), and
/// `sign(x) (1 − 2/(e^{2|x|} + 1))` beyond, within a few ulp of `f64::tanh`.
#[inline(always)]
pub fn tanh_vectorizable(x: f64) -> f64 {
    let a = x.abs();
    let e = exp_vectorizable(2.0 * a.min(20.0));
    let big = 1.0 - 2.0 / (e + 1.0);
    let z = x * x;
    let mut p = -443_861_162.0 / 1_856_156_927_625.0;
    for c in [
        6_404_582.0 / 10_854_718_875.0,
        -929_569.0 / 638_512_875.0,
        21_844.0 / 6_081_075.0,
        -1_382.0 / 155_925.0,
        62.0 / 2_835.0,
        -17.0 / 315.0,
        2.0 / 15.0,
        -1.0 / 3.0,
        1.0,
    ] {
        p = p * z + c;
    }
    let small = x * p;
    if a < 0.125 {
        small
    } else {
        big.copysign(x)
    }
}

crate::multiversion! {
    /// Row-wise log-softmax and softmax of a row-major matrix with rows of
    /// length `y`: one exponential per entry.
    pub fn softmax_rows(logits: &[f64], y: usize, logp: &mut [f64], probs: &mut [f64]) {
        softmax_rows_inline(logits, y, logp, probs)
    }
}

/// Maximum of a slice with eight independent lanes, so that long rows are
/// not bound by one serial chain of comparisons. `-inf` for an empty slice.
#[inline(always)]
fn max_lanes(xs: &[f64]) -> f64 {
    let mut acc = [f64::NEG_INFINITY; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            acc[l] = if c[l] > acc[l] { c[l] } else { acc[l] };
        }
    }
    let mut m = tail.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for a in acc {
        m = m.max(a);
    }
    m
}

/// Sum of a slice in eight independent lanes, then the lanes in a fixed
/// order: deterministic, and not bound by one serial chain of additions.
#[inline(always)]
fn sum_lanes(xs: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            acc[l] += c[l];
        }
    }
    let t: f64 = tail.iter().sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + t
}

#[inline(always)]
fn softmax_rows_inline(logits: &[f64], y: usize, logp: &mut [f64], probs: &mut [f64]) {
    // Three flat passes rather than one per row, so the exponentials of
    // different rows are independent and fill the vector pipeline.
    for (z, l) in logits.chunks_exact(y).zip(logp.chunks_exact_mut(y)) {
        let m = max_lanes(z);
        for (li, &zi) in l.iter_mut().zip(z) {
            *li = zi - m;
        }
    }
    for (p, &l) in probs.iter_mut().zip(logp.iter()) {
        *p = exp_vectorizable(l);
    }
    for (l, p) in logp.chunks_exact_mut(y).zip(probs.chunks_exact_mut(y)) {
        let s = sum_lanes(p);
        let (ln_s, inv_s) = (s.ln(), 1.0 / s);
        for (li, pi) in l.iter_mut().zip(p.iter_mut()) {
            *li -= ln_s;
            *pi *= inv_s;
        }
    }
}

/// `log(1 - e^x)` for `x ≤ 0`, accurate near both ends (Mächler 2012).
#[inline]
pub fn log1m_exp(x: f64) -> f64 {
    if x > -std::f64::consts::LN_2 {
        (-x.exp_m1()).ln()
    } else {
        (-x.exp()).ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sigmoid_is_stable_at_extremes() {
        assert_eq!(log_sigmoid(1000.0), 0.0);
        assert!((log_sigmoid(-1000.0) + 1000.0).abs() < 1e-12);
        assert!((log_sigmoid(0.0) + std::f64::consts::LN_2).abs() < 1e-15);
    }

    #[test]
    fn log_softmax_normalises() {
        let z = [1000.0, 999.0, -5.0];
        let mut o = [0.0; 3];
        log_softmax_into(&z, &mut o);
        let s: f64 = o.iter().map(|l| l.exp()).sum();
        assert!((s - 1.0).abs() < 1e-15);
    }

    #[test]
    fn exp_vectorizable_is_within_two_ulp_of_libm() {
        let mut x: f64 = -745.0;
        while x < 709.0 {
            for &v in &[x, x + 0.123_456_789, -x.abs() * 1e-9] {
                let (a, b) = (exp_vectorizable(v), v.exp());
                let ulp = f64::EPSILON * b.abs().max(f64::MIN_POSITIVE);
                assert!(
                    (a - b).abs() <= 2.0 * ulp.max(4.9e-324),
                    "exp({v}): {a} vs {b}"
                );
            }
            x += 0.37;
        }
        assert_eq!(exp_vectorizable(-800.0), 0.0);
        assert_eq!(exp_vectorizable(0.0), 1.0);
        assert!(exp_vectorizable(f64::NAN).is_nan());
    }

    #[test]
    fn tanh_vectorizable_matches_libm() {
        let mut x: f64 = -30.0;
        while x < 30.0 {
            for v in [x, x * 1e-3, x * 1e-9] {
                let (a, b) = (tanh_vectorizable(v), v.tanh());
                assert!(
                    (a - b).abs() <= 8.0 * f64::EPSILON * b.abs().max(f64::MIN_POSITIVE),
                    "tanh({v}): {a} vs {b}"
                );
            }
            x += 0.0123;
        }
        assert_eq!(tanh_vectorizable(0.0), 0.0);
        assert_eq!(tanh_vectorizable(1e3), 1.0);
        assert_eq!(tanh_vectorizable(-1e3), -1.0);
    }

    #[test]
    fn log1m_exp_matches_naive_in_the_middle() {
        for &x in &[-1e-10, -0.1, -0.7, -3.0, -40.0] {
            let naive = (1.0 - f64::exp(x)).ln();
            assert!((log1m_exp(x) - naive).abs() <= 1e-6 * naive.abs().max(1.0));
        }
    }
}
