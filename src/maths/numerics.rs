//! Log-space numerics shared by every module: stable log-softmax, log-sigmoid,
//! log-sum-exp. Nothing else in the crate exponentiates a logit directly.

use crate::maths::split::{block_len, worth_splitting};
use rayon::prelude::*;

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
    log_sigmoid_and_sigmoid_neg_from(u, (-u.abs()).exp())
}

/// [`log_sigmoid_and_sigmoid_neg`] given its one exponential `e = exp(-|u|)`,
/// so that a caller can take the exponentials of many `u` first and let
/// their latencies overlap.
#[inline]
pub fn log_sigmoid_and_sigmoid_neg_from(u: f64, e: f64) -> (f64, f64) {
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
    let xc = x.clamp(-746.0, 709.7);
    let shifted = xc * std::f64::consts::LOG2_E + EXP_SHIFTER;
    let kf = shifted - EXP_SHIFTER;
    let r = (xc - kf * LN2_HI) - kf * LN2_LO;
    let mut p = EXP_TAYLOR[0];
    for &c in &EXP_TAYLOR[1..] {
        p = p * r + c;
    }
    exp_scale(x, p, shifted)
}

/// [`exp_vectorizable`] of `N` values, each step taken across all of them
/// before the next: the same bits as `N` calls, but the `N` Horner chains
/// are interleaved, so the pipeline is not left waiting on one chain's latency.
#[inline(always)]
pub fn exp_lanes<const N: usize>(x: [f64; N]) -> [f64; N] {
    // Plain loops rather than `array::from_fn`, which is not always inlined
    // into a caller compiled per SIMD level (`crate::fast`).
    let (mut shifted, mut r) = ([0.0; N], [0.0; N]);
    for i in 0..N {
        let xc = x[i].clamp(-746.0, 709.7);
        shifted[i] = xc * std::f64::consts::LOG2_E + EXP_SHIFTER;
        let kf = shifted[i] - EXP_SHIFTER;
        r[i] = (xc - kf * LN2_HI) - kf * LN2_LO;
    }
    let mut p = [EXP_TAYLOR[0]; N];
    for &c in &EXP_TAYLOR[1..] {
        for i in 0..N {
            p[i] = p[i] * r[i] + c;
        }
    }
    let mut y = [0.0; N];
    for i in 0..N {
        y[i] = exp_scale(x[i], p[i], shifted[i]);
    }
    y
}

/// 2^-32-truncated ln 2: `k · LN2_HI` is exact.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
/// 1.5 · 2^52: adding it rounds to an integer, held in the low mantissa bits.
const EXP_SHIFTER: f64 = 6_755_399_441_055_744.0;
/// `1/13!, 1/12!, …, 1/1!, 1/0!`: the Taylor polynomial of `e^r`, in Horner order.
const EXP_TAYLOR: [f64; 14] = [
    1.0 / 6_227_020_800.0,
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
];

/// `p · 2^k` for `e^x`, `k` from the shifted reduction; `x` if it is NaN.
#[inline(always)]
fn exp_scale(x: f64, p: f64, shifted: f64) -> f64 {
    // `k = shifted - EXP_SHIFTER`, read from the mantissa of `shifted`
    // (1.5 · 2^52 + k, exact) rather than by `as i64`, which AVX-512F and
    // AVX2 cannot vectorise.
    let k = shifted.to_bits() as i64 - EXP_SHIFTER.to_bits() as i64;
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

crate::fast::kernel! {
    /// Row-wise log-softmax and softmax of a row-major matrix with rows of
    /// length `y`: one exponential per entry.
    pub fn softmax_rows<'a>(logits: &'a [f64], y: usize, logp: &'a mut [f64], probs: &'a mut [f64]) {
        softmax_rows_inline(logits, y, logp, probs, f64::INFINITY);
    }
}

crate::fast::kernel! {
    /// [`softmax_rows`], returning whether every logit `z` has `|z| ≤ limit`
    /// (false if one is NaN). The check rides on the pass that finds each
    /// row's maximum, so it costs no extra read of the logits.
    pub fn softmax_rows_within<'a>(
        logits: &'a [f64],
        y: usize,
        logp: &'a mut [f64],
        probs: &'a mut [f64],
        limit: f64,
    ) -> bool {
        softmax_rows_inline(logits, y, logp, probs, limit)
    }
}

/// [`softmax_rows_within`], a large matrix's rows split into blocks over
/// rayon's threads ([`crate::maths::split`]). Rows are independent, so the
/// bits are those of one call; a single row is never split.
pub fn softmax_rows_within_split(
    logits: &[f64],
    y: usize,
    logp: &mut [f64],
    probs: &mut [f64],
    limit: f64,
) -> bool {
    if y == 0 || logits.len() < 2 * y || !worth_splitting(logits.len()) {
        return softmax_rows_within(logits, y, logp, probs, limit);
    }
    let len = (logits.len() / y).div_ceil(rayon::current_num_threads()) * y;
    logits
        .par_chunks(len)
        .zip(logp.par_chunks_mut(len))
        .zip(probs.par_chunks_mut(len))
        .map(|((z, l), p)| softmax_rows_within(z, y, l, p, limit))
        .reduce(|| true, |a, b| a & b)
}

/// [`all_finite_then_zero`], a long slice split into blocks over rayon's
/// threads (element-wise: the same result as one call).
pub fn all_finite_then_zero_split(xs: &mut [f64]) -> bool {
    if !worth_splitting(xs.len()) {
        return all_finite_then_zero(xs);
    }
    xs.par_chunks_mut(block_len(xs.len(), 8))
        .map(all_finite_then_zero)
        .reduce(|| true, |a, b| a & b)
}

crate::fast::kernel! {
    /// Whether every value is finite. Branch-free (no early exit), so that it
    /// vectorises: a pass over the whole slice costs about one read of it.
    pub fn all_finite<'a>(xs: &'a [f64]) -> bool {
        // An exponent of all ones is an infinity or a NaN.
        const EXP: u64 = 0x7ff0_0000_0000_0000;
        let mut bad = [0u64; 8];
        let chunks = xs.chunks_exact(8);
        let tail = chunks.remainder();
        for c in chunks {
            for l in 0..8 {
                bad[l] |= u64::from(c[l].to_bits() & EXP == EXP);
            }
        }
        let t = tail.iter().fold(0, |b, x| b | u64::from(x.to_bits() & EXP == EXP));
        bad.iter().fold(t, |b, &x| b | x) == 0
    }
}

crate::fast::kernel! {
    /// [`all_finite`], setting every value to 0 in the same pass.
    pub fn all_finite_then_zero<'a>(xs: &'a mut [f64]) -> bool {
        const EXP: u64 = 0x7ff0_0000_0000_0000;
        let mut bad = [0u64; 8];
        let mut chunks = xs.chunks_exact_mut(8);
        for c in &mut chunks {
            for l in 0..8 {
                bad[l] |= u64::from(c[l].to_bits() & EXP == EXP);
                c[l] = 0.0;
            }
        }
        let mut t = 0;
        for x in chunks.into_remainder() {
            t |= u64::from(x.to_bits() & EXP == EXP);
            *x = 0.0;
        }
        bad.iter().fold(t, |b, &x| b | x) == 0
    }
}

crate::fast::kernel! {
    /// `Σ xs[i]` over every `i` other than `a` and `b`, in eight lane-parallel
    /// partial sums (the order of the private `sum_lanes`) with the two
    /// excluded entries counted as 0, so that it vectorises (a metric's sum;
    /// not bit-equal to a serial sum).
    pub fn sum_lanes_except<'a>(xs: &'a [f64], a: usize, b: usize) -> f64 {
        sum_lanes_except_inline(xs, a, b)
    }
}

/// [`sum_lanes_except`], inlined into a caller compiled for vector units.
#[inline(always)]
pub fn sum_lanes_except_inline(xs: &[f64], a: usize, b: usize) -> f64 {
    if xs.len() >= 64 {
        sum_except::<true>(xs, a, b)
    } else {
        sum_except::<false>(xs, a, b)
    }
}

/// [`sum_lanes_except`]'s body; `LONG` joins the lanes behind a barrier.
#[inline(always)]
fn sum_except<const LONG: bool>(xs: &[f64], a: usize, b: usize) -> f64 {
    let n = xs.len() / 8 * 8;
    let mut acc = [0.0; 8];
    // Plain lanes up to each chunk holding an excluded entry, that chunk
    // masked; chunks in order, so each lane adds in index order.
    let mut start = 0;
    for e in [a.min(b), a.max(b)] {
        let chunk = e / 8 * 8;
        if e >= n || chunk < start {
            continue;
        }
        add_lanes(&mut acc, &xs[start..chunk]);
        let x: &[f64; 8] = xs[chunk..chunk + 8].try_into().expect("8 long");
        // A select per lane, not a store into the chunk: a scalar store that
        // the vector add then reloads stalls store forwarding.
        let mut c = [0.0; 8];
        for l in 0..8 {
            let i = chunk + l;
            c[l] = if i == a || i == b { 0.0 } else { x[l] };
        }
        add_lanes(&mut acc, &c);
        start = chunk + 8;
    }
    add_lanes(&mut acc, &xs[start..n]);
    let t: f64 = (n..xs.len())
        .filter(|&i| i != a && i != b)
        .map(|i| xs[i])
        .sum();
    if LONG {
        join_lanes_opaque(&acc) + t
    } else {
        join_lanes(&acc) + t
    }
}

/// Adds `xs` (a multiple of 8 long) into eight lane sums, `acc[l] += xs[8k + l]`.
#[inline(always)]
fn add_lanes(acc: &mut [f64; 8], xs: &[f64]) {
    let mut a = *acc;
    for c in xs.chunks_exact(8) {
        for l in 0..8 {
            a[l] += c[l];
        }
    }
    *acc = a;
}

/// Maximum of a slice with eight independent lanes, so that long rows are
/// not bound by one serial chain of comparisons (`-inf` for an empty
/// slice; NaNs are skipped), and whether every entry is within `±limit`.
#[inline(always)]
fn max_lanes_within(xs: &[f64], limit: f64) -> (f64, bool) {
    let mut acc = [f64::NEG_INFINITY; 8];
    // 1 while every entry of the lane is within the limit (a NaN is not).
    let mut inside = [1u64; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            acc[l] = if c[l] > acc[l] { c[l] } else { acc[l] };
            inside[l] &= u64::from(c[l].abs() <= limit);
        }
    }
    let mut m = tail.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut all = tail.iter().fold(1, |b, z| b & u64::from(z.abs() <= limit));
    for l in 0..8 {
        m = m.max(acc[l]);
        all &= inside[l];
    }
    (m, all == 1)
}

/// The fixed order in which [`sum_lanes`] joins its eight lanes.
#[inline(always)]
fn join_lanes(acc: &[f64; 8]) -> f64 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// [`join_lanes`] behind an optimisation barrier, for the end of a long lane
/// loop: seeing this tree, the optimiser splits the loop into scalar or
/// 128-bit chains. (For a short one the barrier's store and reload cost more.)
#[inline(always)]
fn join_lanes_opaque(acc: &[f64; 8]) -> f64 {
    join_lanes(&std::hint::black_box(*acc))
}

/// Sum of a slice in eight independent lanes, then the lanes in a fixed
/// order: deterministic, and not bound by one serial chain of additions.
#[inline(always)]
fn sum_lanes(xs: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let n = xs.len() / 8 * 8;
    add_lanes(&mut acc, &xs[..n]);
    let t: f64 = xs[n..].iter().sum();
    join_lanes(&acc) + t
}

/// Rows at least this long are normalised one at a time, so that a row's
/// three passes find it in cache; shorter rows go flat across the matrix so
/// that the exponentials of different rows fill the vector pipeline.
const ROW_WISE_MIN: usize = 256;

#[inline(always)]
fn softmax_rows_inline(
    logits: &[f64],
    y: usize,
    logp: &mut [f64],
    probs: &mut [f64],
    limit: f64,
) -> bool {
    if y >= ROW_WISE_MIN {
        softmax_by_row(logits, y, logp, probs, limit)
    } else {
        softmax_flat(logits, y, logp, probs, limit)
    }
}

/// Every row as `l = z - max`, `p = exp_vectorizable(l)`, `s = sum_lanes(p)`,
/// `log π = l - ln s`, `π = p · (1/s)`: the arithmetic both layouts share.
#[inline(always)]
fn softmax_flat(logits: &[f64], y: usize, logp: &mut [f64], probs: &mut [f64], limit: f64) -> bool {
    let mut ok = true;
    for (z, l) in logits.chunks_exact(y).zip(logp.chunks_exact_mut(y)) {
        let (m, within) = max_lanes_within(z, limit);
        ok &= within;
        for (li, &zi) in l.iter_mut().zip(z) {
            *li = zi - m;
        }
    }
    exp_into(logp, probs);
    for (l, p) in logp.chunks_exact_mut(y).zip(probs.chunks_exact_mut(y)) {
        let s = sum_lanes(p);
        let (ln_s, inv_s) = (s.ln(), 1.0 / s);
        for (li, pi) in l.iter_mut().zip(p.iter_mut()) {
            *li -= ln_s;
            *pi *= inv_s;
        }
    }
    ok
}

/// Exponentials computed together by [`exp_lanes`].
const EXP_BLOCK: usize = 32;

/// `out[i] = exp_vectorizable(x[i])`, in blocks of [`EXP_BLOCK`] and then 8.
#[inline(always)]
fn exp_into(x: &[f64], out: &mut [f64]) {
    let mut xb = x.chunks_exact(EXP_BLOCK);
    let mut ob = out.chunks_exact_mut(EXP_BLOCK);
    // Element by element: a copy_from_slice becomes a call to memcpy.
    for (xc, oc) in (&mut xb).zip(&mut ob) {
        let e = exp_lanes::<EXP_BLOCK>(xc.try_into().expect("block"));
        for (o, e) in oc.iter_mut().zip(e) {
            *o = e;
        }
    }
    let mut x8 = xb.remainder().chunks_exact(8);
    let mut o8 = ob.into_remainder().chunks_exact_mut(8);
    for (xc, oc) in (&mut x8).zip(&mut o8) {
        let e = exp_lanes::<8>(xc.try_into().expect("chunk"));
        for (o, e) in oc.iter_mut().zip(e) {
            *o = e;
        }
    }
    for (xi, oi) in x8.remainder().iter().zip(o8.into_remainder()) {
        *oi = exp_vectorizable(*xi);
    }
}

/// [`softmax_flat`]'s arithmetic one row at a time, software-pipelined: one
/// sweep over the columns exponentiates row `r` (summing as it goes), finds
/// the maximum of row `r + 1` and normalises row `r - 1`, so the two passes
/// that only move memory hide under the exponentials, which are compute-bound.
/// `l = z - max` is recomputed (the same bits) rather than stored and reread.
#[inline(always)]
fn softmax_by_row(
    logits: &[f64],
    y: usize,
    logp: &mut [f64],
    probs: &mut [f64],
    limit: f64,
) -> bool {
    let x = logits.len() / y;
    if x == 0 {
        return true;
    }
    let (mut m_next, mut ok) = max_lanes_within(&logits[..y], limit);
    // The row being normalised: its max, ln s and 1/s.
    let mut prev = (0.0, 0.0, 0.0);
    for r in 0..=x {
        let (lo, hi) = probs.split_at_mut(r * y);
        let norm = Norm {
            z: &logits[r.saturating_sub(1) * y..r * y],
            logp: &mut logp[r.saturating_sub(1) * y..r * y],
            probs: &mut lo[r.saturating_sub(1) * y..],
            m: prev.0,
            ln_s: prev.1,
            inv_s: prev.2,
        };
        let m = m_next;
        let exp = Exp {
            z: logits.get(r * y..(r + 1) * y).unwrap_or(&[]),
            probs: hi.get_mut(..y).unwrap_or(&mut []),
            m,
        };
        let next = logits.get((r + 1) * y..(r + 2) * y).unwrap_or(&[]);
        let (s, (mx, within)) = match (r < x, r + 1 < x, r > 0) {
            (true, true, true) => sweep::<true, true, true>(y, exp, next, norm, limit),
            (true, true, false) => sweep::<true, true, false>(y, exp, next, norm, limit),
            (true, false, true) => sweep::<true, false, true>(y, exp, next, norm, limit),
            (true, false, false) => sweep::<true, false, false>(y, exp, next, norm, limit),
            _ => sweep::<false, false, true>(y, exp, next, norm, limit),
        };
        ok &= within;
        m_next = mx;
        prev = (m, s.ln(), 1.0 / s);
    }
    ok
}

/// The exponentiation stage of [`sweep`]: `probs = exp(z - m)`.
struct Exp<'a> {
    z: &'a [f64],
    probs: &'a mut [f64],
    m: f64,
}

/// The normalisation stage of [`sweep`]: `logp = (z - m) - ln s`, `probs *= 1/s`.
struct Norm<'a> {
    z: &'a [f64],
    logp: &'a mut [f64],
    probs: &'a mut [f64],
    m: f64,
    ln_s: f64,
    inv_s: f64,
}

/// One pass over columns `0..y` doing the stages that are switched on:
/// `E` exponentiates `exp`'s row and returns its sum (the order of
/// [`sum_lanes`]), `M` returns `next`'s [`max_lanes_within`], `N` normalises
/// `norm`'s row. Off stages return 0 / `(-inf, true)` and touch nothing.
#[inline(always)]
fn sweep<const E: bool, const M: bool, const N: bool>(
    y: usize,
    exp: Exp,
    next: &[f64],
    norm: Norm,
    limit: f64,
) -> (f64, (f64, bool)) {
    let mut acc = [0.0; 8];
    let mut mx = [f64::NEG_INFINITY; 8];
    let mut inside = [1u64; 8];
    let n8 = y / 8 * 8;
    let mut j = 0;
    // Blocks of EXP_BLOCK, then of 8: each stage sees its row in chunks of 8
    // in order, so lane sums and maxima come out as in the one-row passes.
    macro_rules! block {
        ($w:expr) => {{
            const W: usize = $w;
            if E {
                let z: &[f64; W] = exp.z[j..j + W].try_into().expect("block");
                let mut l = [0.0; W];
                for i in 0..W {
                    l[i] = z[i] - exp.m;
                }
                let e = exp_lanes::<W>(l);
                let p: &mut [f64; W] = (&mut exp.probs[j..j + W]).try_into().expect("block");
                // Element by element: a copy_from_slice becomes a call to memcpy.
                for i in 0..W {
                    p[i] = e[i];
                }
                for c in e.chunks_exact(8) {
                    for l in 0..8 {
                        acc[l] += c[l];
                    }
                }
            }
            if M {
                let z: &[f64; W] = next[j..j + W].try_into().expect("block");
                for c in z.chunks_exact(8) {
                    for l in 0..8 {
                        mx[l] = if c[l] > mx[l] { c[l] } else { mx[l] };
                        inside[l] &= u64::from(c[l].abs() <= limit);
                    }
                }
            }
            if N {
                let z: &[f64; W] = norm.z[j..j + W].try_into().expect("block");
                let lp: &mut [f64; W] = (&mut norm.logp[j..j + W]).try_into().expect("block");
                let p: &mut [f64; W] = (&mut norm.probs[j..j + W]).try_into().expect("block");
                for i in 0..W {
                    lp[i] = (z[i] - norm.m) - norm.ln_s;
                    p[i] *= norm.inv_s;
                }
            }
            j += W;
        }};
    }
    while j + EXP_BLOCK <= n8 {
        block!(EXP_BLOCK);
    }
    while j < n8 {
        block!(8);
    }
    let mut s = 0.0;
    if E {
        for i in n8..y {
            exp.probs[i] = exp_vectorizable(exp.z[i] - exp.m);
        }
        let t: f64 = exp.probs[n8..y].iter().sum();
        s = join_lanes_opaque(&acc) + t;
    }
    let mut max = (f64::NEG_INFINITY, true);
    if M {
        let tail = &next[n8..y];
        let mut m = tail.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut all = tail.iter().fold(1, |b, z| b & u64::from(z.abs() <= limit));
        for l in 0..8 {
            m = m.max(mx[l]);
            all &= inside[l];
        }
        max = (m, all == 1);
    }
    if N {
        for i in n8..y {
            norm.logp[i] = (norm.z[i] - norm.m) - norm.ln_s;
            norm.probs[i] *= norm.inv_s;
        }
    }
    (s, max)
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

    /// The exponent `k` is read from the shifted mantissa; it must be exactly
    /// the `kf as i64` of the Cody-Waite reduction, so the bits do not change.
    #[test]
    fn exp_vectorizable_exponent_is_exact() {
        let mut x: f64 = -760.0;
        while x < 720.0 {
            for v in [x, x + 1e-3, -x * 1e-7] {
                let xc = v.clamp(-746.0, 709.7);
                let shifted = xc * std::f64::consts::LOG2_E + EXP_SHIFTER;
                let k = shifted.to_bits() as i64 - EXP_SHIFTER.to_bits() as i64;
                assert_eq!(k, (shifted - EXP_SHIFTER) as i64, "x = {v}");
            }
            x += 0.0137;
        }
    }

    #[test]
    fn exp_lanes_is_exp_vectorizable() {
        let mut xs: Vec<f64> = (0..40_000).map(|i| -760.0 + i as f64 * 0.037).collect();
        xs.extend([
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            -745.13,
            709.7,
        ]);
        while !xs.len().is_multiple_of(8) {
            xs.push(-1.0);
        }
        for c in xs.chunks_exact(8) {
            let lanes = exp_lanes::<8>(c.try_into().unwrap());
            for (&x, e) in c.iter().zip(lanes) {
                assert_eq!(e.to_bits(), exp_vectorizable(x).to_bits(), "x = {x}");
            }
        }
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

    /// Both layouts of the softmax compute the same bits, on either side of
    /// [`ROW_WISE_MIN`], and both report logits beyond the limit.
    #[test]
    fn softmax_layouts_agree_bit_for_bit() {
        for (x, y) in [1, 3, 8, 10, 17, 33, 255, 256, 300, 1000, 1003]
            .into_iter()
            .flat_map(|y| [(1, y), (2, y), (3, y)])
        {
            let z: Vec<f64> = (0..x * y)
                .map(|i| ((i * 7919 % 1013) as f64 - 500.0) * 0.037)
                .collect();
            let mut out = Vec::new();
            for f in [softmax_flat, softmax_by_row] {
                let (mut l, mut p) = (vec![0.0; x * y], vec![0.0; x * y]);
                assert!(f(&z, y, &mut l, &mut p, 20.0));
                out.push((l, p));
            }
            let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&out[0].0),
                bits(&out[1].0),
                "log-probabilities, y = {y}"
            );
            assert_eq!(bits(&out[0].1), bits(&out[1].1), "probabilities, y = {y}");
            for bad in [21.0, f64::NAN, f64::NEG_INFINITY] {
                let mut zb = z.clone();
                zb[x * y - 1] = bad;
                for f in [softmax_flat, softmax_by_row] {
                    let (mut l, mut p) = (vec![0.0; x * y], vec![0.0; x * y]);
                    assert!(!f(&zb, y, &mut l, &mut p, 20.0), "{bad} at y = {y}");
                }
            }
        }
    }

    #[test]
    fn all_finite_finds_any_non_finite_entry() {
        for n in [0, 1, 7, 8, 9, 100] {
            let v = vec![1e308; n];
            assert!(all_finite(&v));
            for i in 0..n {
                for bad in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
                    let mut w = v.clone();
                    w[i] = bad;
                    assert!(!all_finite(&w), "{bad} at {i} of {n}");
                }
            }
        }
    }

    #[test]
    fn all_finite_then_zero_checks_and_zeroes() {
        for n in [0, 1, 7, 8, 9, 100] {
            for bad in [None, Some(f64::INFINITY), Some(f64::NAN)] {
                let mut w = vec![-1e308; n];
                if let (Some(b), true) = (bad, n > 0) {
                    w[n / 2] = b;
                }
                assert_eq!(all_finite_then_zero(&mut w), bad.is_none() || n == 0);
                assert!(w.iter().all(|&v| v.to_bits() == 0), "{n}, {bad:?}");
            }
        }
    }

    #[test]
    fn sum_lanes_except_skips_two_entries() {
        for n in [2, 3, 10, 17, 64, 203] {
            let v: Vec<f64> = (0..n).map(|i| 1.0 + i as f64).collect();
            for (a, b) in [(0, 1), (1, 0), (n - 1, 0), (n / 2, n - 1), (1, 1)] {
                let want: f64 = (0..n).filter(|&i| i != a && i != b).map(|i| v[i]).sum();
                assert_eq!(sum_lanes_except(&v, a, b), want, "n = {n}, {a}, {b}");
                // The lane order: `sum_lanes` with the excluded entries zeroed.
                let mut z = v.clone();
                (z[a], z[b]) = (0.0, 0.0);
                let inexact: Vec<f64> = z.iter().map(|q| q * 0.1).collect();
                let mut w = inexact.clone();
                (w[a], w[b]) = (v[a], v[b]);
                assert_eq!(sum_lanes_except(&w, a, b), sum_lanes(&inexact));
            }
        }
    }

    #[test]
    fn log1m_exp_matches_naive_in_the_middle() {
        for &x in &[-1e-10, -0.1, -0.7, -3.0, -40.0] {
            let naive = (1.0 - f64::exp(x)).ln();
            assert!((log1m_exp(x) - naive).abs() <= 1e-6 * naive.abs().max(1.0));
        }
    }
}
