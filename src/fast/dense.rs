//! Small dense kernels for the MLP and the log-linear policy, written so the
//! compiler vectorises them: eight independent accumulators per dot product
//! (f64 addition is not associative, so a single accumulator would
//! serialise), contiguous rows everywhere, and no fused multiply-add, so
//! every level computes bit-identical results. [`affine_rows`] has an
//! AVX-512 twin, selected by [`affine_rows_simd`].
//!
//! The native float32 path sums its dot products in its own order, over 16
//! lanes ([`dot16`], [`affine_rows16`]); its AVX-512 twin for `f32` is
//! selected by [`affine_rows16_simd`].

use super::{Level, Simd};
use std::ops::{Add, AddAssign, Mul};

const LANES: usize = 8;

/// `Σ a[i] b[i]`, summed in a fixed order: lane `i % 8` first, then the lanes.
#[inline(always)]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len() / LANES * LANES;
    let mut acc = [0.0; LANES];
    for (ca, cb) in a[..n].chunks_exact(LANES).zip(b[..n].chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += ca[l] * cb[l];
        }
    }
    let mut tail = 0.0;
    for i in n..a.len() {
        tail += a[i] * b[i];
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `y += alpha · x`.
#[inline(always)]
pub fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `dinp[r] = Σ_j dout[r][j] m[j]` (overwritten), summed over `j` in order:
/// the input gradient of [`affine_rows`], as [`affine_rows_backward`] and
/// the fused layer steps compute it.
#[inline(always)]
pub fn input_grad(m: &[f64], dout: &[f64], k: usize, dinp: &mut [f64]) {
    let n = m.len() / k;
    dinp.fill(0.0);
    for (dir, dr) in dinp.chunks_exact_mut(k).zip(dout.chunks_exact(n)) {
        for (mrow, &g) in m.chunks_exact(k).zip(dr) {
            axpy(g, mrow, dir);
        }
    }
}

/// [`input_grad`], by the AVX-512 kernel when `simd` is AVX-512 (the same
/// bits).
#[inline(always)]
pub fn input_grad_simd(simd: Simd, m: &[f64], dout: &[f64], k: usize, dinp: &mut [f64]) {
    match simd.level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves the CPU has AVX-512F.
        Level::Avx512 => unsafe { input_grad_avx512(m, dout, k, dinp) },
        _ => input_grad(m, dout, k, dinp),
    }
}

/// [`input_grad`] in AVX-512 registers: four rows × 32 columns of `dinp`
/// held in sixteen accumulators while `j` runs over `m`'s rows, so nothing
/// is read back from memory between the terms of a sum (the reference's
/// `axpy` stores and reloads each partial sum).
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn input_grad_avx512(m: &[f64], dout: &[f64], k: usize, dinp: &mut [f64]) {
    use std::arch::x86_64::*;
    let n = m.len() / k;
    let rows = dinp.len() / k;
    assert!(rows * k == dinp.len() && rows.checked_mul(n).is_some_and(|rn| rn <= dout.len()));
    let k8 = k / LANES * LANES;
    let (mp, dp, op) = (m.as_ptr(), dout.as_ptr(), dinp.as_mut_ptr());
    /// Columns `c .. c + 8Q` of rows `r0 .. r0 + 4`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block<const Q: usize>(
        mp: *const f64,
        dp: *const f64,
        op: *mut f64,
        k: usize,
        n: usize,
        r0: usize,
        c: usize,
    ) {
        let mut acc = [[_mm512_setzero_pd(); Q]; 4];
        for j in 0..n {
            // SAFETY (all three blocks): j < n, c + 8Q <= k and r0 + 4 <= rows,
            // within the lengths asserted by the caller.
            let mut w = [_mm512_setzero_pd(); Q];
            for (q, wq) in w.iter_mut().enumerate() {
                *wq = unsafe { _mm512_loadu_pd(mp.add(j * k + c + 8 * q)) };
            }
            for (r, ar) in acc.iter_mut().enumerate() {
                let a = _mm512_set1_pd(unsafe { *dp.add((r0 + r) * n + j) });
                for (aq, &wq) in ar.iter_mut().zip(&w) {
                    *aq = _mm512_add_pd(*aq, _mm512_mul_pd(a, wq));
                }
            }
        }
        for (r, ar) in acc.iter().enumerate() {
            for (q, &aq) in ar.iter().enumerate() {
                unsafe { _mm512_storeu_pd(op.add((r0 + r) * k + c + 8 * q), aq) };
            }
        }
    }
    let groups = rows / 4;
    for g in 0..groups {
        let r0 = 4 * g;
        let mut c = 0;
        while c + 4 * LANES <= k8 {
            // SAFETY: as in `block`.
            unsafe { block::<4>(mp, dp, op, k, n, r0, c) };
            c += 4 * LANES;
        }
        while c < k8 {
            // SAFETY: as in `block`.
            unsafe { block::<1>(mp, dp, op, k, n, r0, c) };
            c += LANES;
        }
        for r in r0..r0 + 4 {
            for i in k8..k {
                let mut d = 0.0;
                for j in 0..n {
                    d += dout[r * n + j] * m[j * k + i];
                }
                dinp[r * k + i] = d;
            }
        }
    }
    let r0 = groups * 4;
    input_grad(m, &dout[r0 * n..rows * n], k, &mut dinp[r0 * k..]);
}

/// A one-hot layer's pre-activations, `out[x][j] = w[j][x] + b[j]` (`w` is
/// `h × xn` row-major, `out` is `xn × h`): the first layer of the MLP, whose
/// inputs are one-hot prompts. The reference for [`one_hot_forward_simd`].
#[inline(always)]
pub fn one_hot_forward(w: &[f64], b: &[f64], xn: usize, out: &mut [f64]) {
    let h = b.len();
    for (xi, row) in out.chunks_exact_mut(h).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = w[j * xn + xi] + b[j];
        }
    }
}

/// The gradients of [`one_hot_forward`] from `d = ∂L/∂out`: `gw[j][x] =
/// d[x][j]` and `gb[j] = Σ_x d[x][j]` (from +0, in `x` order). The reference
/// for [`one_hot_grad_simd`].
#[inline(always)]
pub fn one_hot_grad(d: &[f64], xn: usize, gw: &mut [f64], gb: &mut [f64]) {
    let h = gb.len();
    gb.fill(0.0);
    for (xi, row) in d.chunks_exact(h).enumerate() {
        for (j, &g) in row.iter().enumerate() {
            gw[j * xn + xi] = g;
            gb[j] += g;
        }
    }
}

/// [`one_hot_forward`], by an AVX-512 transpose when `simd` is AVX-512 and
/// there are four prompts (the same bits: each value is one addition).
#[inline(always)]
pub fn one_hot_forward_simd(simd: Simd, w: &[f64], b: &[f64], xn: usize, out: &mut [f64]) {
    match simd.level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves the CPU has AVX-512F.
        Level::Avx512 if xn == 4 => unsafe { one_hot4_forward_avx512(w, b, out) },
        _ => one_hot_forward(w, b, xn, out),
    }
}

/// [`one_hot_grad`], by an AVX-512 transpose when `simd` is AVX-512 and
/// there are four prompts (the same bits).
#[inline(always)]
pub fn one_hot_grad_simd(simd: Simd, d: &[f64], xn: usize, gw: &mut [f64], gb: &mut [f64]) {
    match simd.level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves the CPU has AVX-512F.
        Level::Avx512 if xn == 4 => unsafe { one_hot4_grad_avx512(d, gw, gb) },
        _ => one_hot_grad(d, xn, gw, gb),
    }
}

/// [`one_hot_forward`] for four prompts: eight rows of `w` (32 values) are
/// transposed into four columns of eight by two-source permutes.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn one_hot4_forward_avx512(w: &[f64], b: &[f64], out: &mut [f64]) {
    use std::arch::x86_64::*;
    let h = b.len();
    assert!(Some(w.len()) == h.checked_mul(4) && w.len() == out.len());
    let h8 = h / LANES * LANES;
    let (wp, bp, op) = (w.as_ptr(), b.as_ptr(), out.as_mut_ptr());
    for j0 in (0..h8).step_by(LANES) {
        // SAFETY: j0 + 8 <= h: rows j0..j0 + 8 of `w` (4 values each), of
        // `b`, and columns j0..j0 + 8 of each of `out`'s four rows.
        unsafe {
            let q = |i: usize| _mm512_loadu_pd(wp.add(4 * j0 + 8 * i));
            let (a, bb, c, d) = (q(0), q(1), q(2), q(3));
            let bias = _mm512_loadu_pd(bp.add(j0));
            for xi in 0..4 {
                let x = xi as i64;
                // Lanes 0..4: w[j][xi] of the two sources' four rows.
                let idx = _mm512_setr_epi64(x, 4 + x, 8 + x, 12 + x, x, x, x, x);
                let lo = _mm512_permutex2var_pd(a, idx, bb);
                let hi = _mm512_permutex2var_pd(c, idx, d);
                let col = _mm512_shuffle_f64x2::<0x44>(lo, hi);
                _mm512_storeu_pd(op.add(xi * h + j0), _mm512_add_pd(col, bias));
            }
        }
    }
    for j in h8..h {
        for xi in 0..4 {
            out[xi * h + j] = w[j * 4 + xi] + b[j];
        }
    }
}

/// [`one_hot_grad`] for four prompts: four rows of eight of `d` transposed
/// into eight rows of four of `gw`, and `gb` summed down them.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn one_hot4_grad_avx512(d: &[f64], gw: &mut [f64], gb: &mut [f64]) {
    use std::arch::x86_64::*;
    let h = gb.len();
    assert!(Some(d.len()) == h.checked_mul(4) && d.len() == gw.len());
    let h8 = h / LANES * LANES;
    let (dp, gp, bp) = (d.as_ptr(), gw.as_mut_ptr(), gb.as_mut_ptr());
    for j0 in (0..h8).step_by(LANES) {
        // SAFETY: j0 + 8 <= h: columns j0..j0 + 8 of `d`'s four rows, rows
        // j0..j0 + 8 of `gw` (32 values) and values j0..j0 + 8 of `gb`.
        unsafe {
            let r: [__m512d; 4] = std::array::from_fn(|xi| _mm512_loadu_pd(dp.add(xi * h + j0)));
            let sum = _mm512_add_pd(
                _mm512_add_pd(
                    _mm512_add_pd(_mm512_add_pd(_mm512_setzero_pd(), r[0]), r[1]),
                    r[2],
                ),
                r[3],
            );
            _mm512_storeu_pd(bp.add(j0), sum);
            // Rows 0 and 1 interleaved, and rows 2 and 3: lanes (j, x) pairs.
            let lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
            let hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
            let (p01l, p23l) = (
                _mm512_permutex2var_pd(r[0], lo, r[1]),
                _mm512_permutex2var_pd(r[2], lo, r[3]),
            );
            let (p01h, p23h) = (
                _mm512_permutex2var_pd(r[0], hi, r[1]),
                _mm512_permutex2var_pd(r[2], hi, r[3]),
            );
            // Two output rows (j, j + 1) of four from each pair.
            let first = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
            let second = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
            let outs = [
                _mm512_permutex2var_pd(p01l, first, p23l),
                _mm512_permutex2var_pd(p01l, second, p23l),
                _mm512_permutex2var_pd(p01h, first, p23h),
                _mm512_permutex2var_pd(p01h, second, p23h),
            ];
            for (i, &o) in outs.iter().enumerate() {
                _mm512_storeu_pd(gp.add(4 * j0 + 8 * i), o);
            }
        }
    }
    for j in h8..h {
        let mut s = 0.0;
        for xi in 0..4 {
            gw[j * 4 + xi] = d[xi * h + j];
            s += d[xi * h + j];
        }
        gb[j] = s;
    }
}

/// `out[r][j] = bias[j] + Σ_k m[j][k] inp[r][k]` for `rows` input rows:
/// `inp` is `rows × k`, `m` is `n × k` (row-major, one row per output), `out`
/// is `rows × n`. The reference for [`affine_rows_simd`].
#[inline(always)]
pub fn affine_rows(inp: &[f64], m: &[f64], bias: &[f64], k: usize, out: &mut [f64]) {
    let n = bias.len();
    for (ir, or) in inp.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        for ((o, mrow), &b) in or.iter_mut().zip(m.chunks_exact(k)).zip(bias) {
            *o = b + dot(mrow, ir);
        }
    }
}

/// [`affine_rows`], by the AVX-512 kernel when `simd` is AVX-512 (the same
/// bits). Inlined, so that in a [`super::Kernel`] the choice is made at
/// compile time.
#[inline(always)]
pub fn affine_rows_simd(
    simd: Simd,
    inp: &[f64],
    m: &[f64],
    bias: &[f64],
    k: usize,
    out: &mut [f64],
) {
    match simd.level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves the CPU has AVX-512F.
        Level::Avx512 => unsafe { affine_rows_avx512(inp, m, bias, k, out) },
        _ => affine_rows(inp, m, bias, k, out),
    }
}

/// Gradients of [`affine_rows`]: `dm[j] = Σ_r dout[r][j] inp[r]`,
/// `dbias[j] = Σ_r dout[r][j]` (both overwritten), and, when given,
/// `dinp[r] = Σ_j dout[r][j] m[j]` (overwritten).
#[inline(always)]
pub fn affine_rows_backward(
    inp: &[f64],
    m: &[f64],
    dout: &[f64],
    k: usize,
    dm: &mut [f64],
    dbias: &mut [f64],
    dinp: Option<&mut [f64]>,
) {
    let n = dbias.len();
    dm.fill(0.0);
    dbias.fill(0.0);
    for (ir, dr) in inp.chunks_exact(k).zip(dout.chunks_exact(n)) {
        for ((dmrow, db), &g) in dm.chunks_exact_mut(k).zip(dbias.iter_mut()).zip(dr) {
            *db += g;
            axpy(g, ir, dmrow);
        }
    }
    if let Some(dinp) = dinp {
        input_grad(&m[..n * k], dout, k, dinp);
    }
}

/// [`affine_rows`] with AVX-512 registers, bit-identical to it: the same
/// eight lane sums per dot product and the same reduction tree, but eight
/// outputs of two input rows at a time, so each weight load serves two rows
/// and the eight horizontal reductions are done together by lane shuffles.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn affine_rows_avx512(
    inp: &[f64],
    m: &[f64],
    bias: &[f64],
    k: usize,
    out: &mut [f64],
) {
    use std::arch::x86_64::*;
    // Accumulator slot s holds output j0 + PERM[s]: the shuffles below then
    // leave the eight results in output order (PERM is its own inverse).
    const PERM: [usize; 8] = [0, 2, 1, 3, 4, 6, 5, 7];
    let n = bias.len();
    let rows = inp.len() / k;
    let fits = |len: usize, a: usize, b: usize| a.checked_mul(b).is_some_and(|ab| ab <= len);
    assert!(fits(m.len(), n, k) && fits(out.len(), rows, n) && rows * k == inp.len());
    let k8 = k / LANES * LANES;
    let n8 = n / LANES * LANES;

    /// `tree(acc[s])` for all eight slots, in output order.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn reduce8(a: &[__m512d; 8]) -> __m512d {
        // lo + hi halves of two accumulators at once: (acc_l + acc_{l+4}).
        let half = |x: __m512d, y: __m512d| {
            _mm512_add_pd(
                _mm512_shuffle_f64x2::<0x44>(x, y),
                _mm512_shuffle_f64x2::<0xEE>(x, y),
            )
        };
        let (b01, b23, b45, b67) = (
            half(a[0], a[1]),
            half(a[2], a[3]),
            half(a[4], a[5]),
            half(a[6], a[7]),
        );
        // (t0 + t1) and (t2 + t3) of each.
        let c0 = _mm512_add_pd(_mm512_unpacklo_pd(b01, b23), _mm512_unpackhi_pd(b01, b23));
        let c1 = _mm512_add_pd(_mm512_unpacklo_pd(b45, b67), _mm512_unpackhi_pd(b45, b67));
        _mm512_add_pd(
            _mm512_shuffle_f64x2::<0x88>(c0, c1),
            _mm512_shuffle_f64x2::<0xDD>(c0, c1),
        )
    }

    let (ip, mp, op) = (inp.as_ptr(), m.as_ptr(), out.as_mut_ptr());
    let mut r = 0;
    while r < rows {
        let pair = r + 1 < rows;
        let r1 = if pair { r + 1 } else { r };
        for j0 in (0..n8).step_by(LANES) {
            let mut a = [_mm512_setzero_pd(); 8];
            let mut b = [_mm512_setzero_pd(); 8];
            let mut c = 0;
            while c < k8 {
                // SAFETY: c + 8 <= k8 <= k, r1 < rows and j0 + 8 <= n, within
                // the lengths asserted above.
                let (x0, x1) = unsafe {
                    (
                        _mm512_loadu_pd(ip.add(r * k + c)),
                        _mm512_loadu_pd(ip.add(r1 * k + c)),
                    )
                };
                for s in 0..8 {
                    // SAFETY: as above.
                    let w = unsafe { _mm512_loadu_pd(mp.add((j0 + PERM[s]) * k + c)) };
                    a[s] = _mm512_add_pd(a[s], _mm512_mul_pd(w, x0));
                    b[s] = _mm512_add_pd(b[s], _mm512_mul_pd(w, x1));
                }
                c += LANES;
            }
            let both = [(r, &a), (r1, &b)];
            for &(row, acc) in &both[..if pair { 2 } else { 1 }] {
                let mut tail = [0.0; LANES];
                for (t, tv) in tail.iter_mut().enumerate() {
                    for i in k8..k {
                        *tv += m[(j0 + t) * k + i] * inp[row * k + i];
                    }
                }
                // SAFETY: `tail` holds 8 values; j0 + 8 <= n and row < rows.
                unsafe {
                    let dot = _mm512_add_pd(reduce8(acc), _mm512_loadu_pd(tail.as_ptr()));
                    let o = _mm512_add_pd(_mm512_loadu_pd(bias.as_ptr().add(j0)), dot);
                    _mm512_storeu_pd(op.add(row * n + j0), o);
                }
            }
        }
        for row in if pair { r..r + 2 } else { r..r + 1 } {
            let ir = &inp[row * k..(row + 1) * k];
            for j in n8..n {
                out[row * n + j] = bias[j] + dot(&m[j * k..(j + 1) * k], ir);
            }
        }
        r += 2;
    }
}

/// The arithmetic [`dot16`] and [`affine_rows16`] need (f32, and f64 for
/// the native path's tests).
pub trait Lane: Copy + Default + Add<Output = Self> + Mul<Output = Self> + AddAssign {}
impl Lane for f32 {}
impl Lane for f64 {}

/// `Σ a_i b_i` over 16 interleaved partial sums (lane `j` takes the
/// products `a_i b_i` with `i ≡ j mod 16`, in order, the last partial chunk
/// into lanes `0..k mod 16`), then the lanes added pairwise, halves first:
/// `h8[j] = s[j] + s[j+8]`, `h4[j] = h8[j] + h8[j+4]`, then
/// `(h4[0] + h4[2]) + (h4[1] + h4[3])`.
#[inline(always)]
pub fn dot16<T: Lane>(a: &[T], b: &[T]) -> T {
    const L: usize = 16;
    let mut acc = [T::default(); L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..L {
            acc[j] += x[j] * y[j];
        }
    }
    for ((s, &x), &y) in acc.iter_mut().zip(ra).zip(rb) {
        *s += x * y;
    }
    let mut h8 = [T::default(); 8];
    for j in 0..8 {
        h8[j] = acc[j] + acc[j + 8];
    }
    let mut h4 = [T::default(); 4];
    for j in 0..4 {
        h4[j] = h8[j] + h8[j + 4];
    }
    (h4[0] + h4[2]) + (h4[1] + h4[3])
}

/// `out[r][j] = bias[j] + dot16(inp[r], m[j])` (`inp` is `rows × k`, `m`
/// is `n × k` row-major, `out` is `rows × n`). The reference for
/// [`affine_rows16_simd`].
#[inline(always)]
pub fn affine_rows16<T: Lane>(inp: &[T], m: &[T], bias: &[T], k: usize, out: &mut [T]) {
    let n = bias.len();
    for (irow, orow) in inp.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        for ((o, mrow), &b) in orow.iter_mut().zip(m.chunks_exact(k)).zip(bias) {
            *o = b + dot16(irow, mrow);
        }
    }
}

/// [`affine_rows16`] in f32, by the AVX-512 kernel when `simd` is AVX-512
/// (the same bits).
#[inline(always)]
pub fn affine_rows16_simd(
    simd: Simd,
    inp: &[f32],
    m: &[f32],
    bias: &[f32],
    k: usize,
    out: &mut [f32],
) {
    match simd.level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves the CPU has AVX-512F.
        Level::Avx512 => unsafe { affine_rows16_avx512(inp, m, bias, k, out) },
        _ => affine_rows16(inp, m, bias, k, out),
    }
}

/// [`affine_rows16`] in AVX-512 registers, bit-identical to it: one
/// register per dot product holds its 16 lane sums, for a tile of four
/// input rows × four outputs (each load serves four products), and the 16
/// horizontal reductions of a tile are done together by lane shuffles, in
/// the reference's tree.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn affine_rows16_avx512(inp: &[f32], m: &[f32], bias: &[f32], k: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = bias.len();
    let rows = inp.len() / k;
    let fits = |len: usize, a: usize, b: usize| a.checked_mul(b).is_some_and(|ab| ab <= len);
    assert!(fits(m.len(), n, k) && fits(out.len(), rows, n) && rows * k == inp.len());
    let k16 = k / 16 * 16;
    // The last partial chunk's lanes (reference: into lanes 0..k mod 16 only).
    let tail: __mmask16 = ((1u32 << (k - k16)) - 1) as __mmask16;

    /// The 16 dot products of `acc` (lane sums) reduced by the reference's
    /// tree: lane `4t + e` of the result holds dot product `4e + t`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn reduce16(a: &[__m512; 16]) -> __m512 {
        // h8 of two dot products: quarters 0-1 + quarters 2-3 of each.
        let h8 = |x: __m512, y: __m512| {
            _mm512_add_ps(
                _mm512_shuffle_f32x4::<0x44>(x, y),
                _mm512_shuffle_f32x4::<0xEE>(x, y),
            )
        };
        // h4 of four: quarter 0 + quarter 1 of each h8 (and 2 + 3).
        let h4 = |x: __m512, y: __m512| {
            _mm512_add_ps(
                _mm512_shuffle_f32x4::<0x88>(x, y),
                _mm512_shuffle_f32x4::<0xDD>(x, y),
            )
        };
        let b: [__m512; 8] = std::array::from_fn(|p| h8(a[2 * p], a[2 * p + 1]));
        // c[q]'s quarter t: the h4 of dot product 4q + t.
        let c: [__m512; 4] = std::array::from_fn(|q| h4(b[2 * q], b[2 * q + 1]));
        // h4[0] + h4[2] and h4[1] + h4[3], within each quarter.
        let h2 = |x: __m512, y: __m512| {
            _mm512_add_ps(
                _mm512_shuffle_ps::<0x44>(x, y),
                _mm512_shuffle_ps::<0xEE>(x, y),
            )
        };
        let (d0, d1) = (h2(c[0], c[1]), h2(c[2], c[3]));
        _mm512_add_ps(
            _mm512_shuffle_ps::<0x88>(d0, d1),
            _mm512_shuffle_ps::<0xDD>(d0, d1),
        )
    }

    let (ip, mp) = (inp.as_ptr(), m.as_ptr());
    for r0 in (0..rows).step_by(4) {
        let rr = (rows - r0).min(4);
        // A tile past the last row or output repeats its first one (computed,
        // not stored).
        let xr: [usize; 4] = std::array::from_fn(|r| (r0 + if r < rr { r } else { 0 }) * k);
        for j0 in (0..n).step_by(4) {
            let jj = (n - j0).min(4);
            let wo: [usize; 4] = std::array::from_fn(|o| (j0 + if o < jj { o } else { 0 }) * k);
            let mut acc = [_mm512_setzero_ps(); 16];
            let mut c = 0;
            while c < k16 {
                // SAFETY: c + 16 <= k16 <= k; every row offset is of a row
                // below `rows` (inp) or `n` (m), within the asserted lengths.
                let (x, w): ([__m512; 4], [__m512; 4]) = unsafe {
                    (
                        std::array::from_fn(|r| _mm512_loadu_ps(ip.add(xr[r] + c))),
                        std::array::from_fn(|o| _mm512_loadu_ps(mp.add(wo[o] + c))),
                    )
                };
                for r in 0..4 {
                    for o in 0..4 {
                        acc[4 * r + o] = _mm512_add_ps(acc[4 * r + o], _mm512_mul_ps(x[r], w[o]));
                    }
                }
                c += 16;
            }
            if c < k {
                // SAFETY: masked loads touch only the lanes below k - c.
                let (x, w): ([__m512; 4], [__m512; 4]) = unsafe {
                    (
                        std::array::from_fn(|r| _mm512_maskz_loadu_ps(tail, ip.add(xr[r] + c))),
                        std::array::from_fn(|o| _mm512_maskz_loadu_ps(tail, mp.add(wo[o] + c))),
                    )
                };
                for (r, &xv) in x.iter().enumerate() {
                    for (o, &wv) in w.iter().enumerate() {
                        let i = 4 * r + o;
                        acc[i] = _mm512_mask_add_ps(acc[i], tail, acc[i], _mm512_mul_ps(xv, wv));
                    }
                }
            }
            let e = reduce16(&acc);
            if rr == 4 && jj == 4 {
                // Quarter r: the four outputs of row r (lane 4r + o from e's 4o + r),
                // plus the four biases.
                let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
                // SAFETY: j0 + 4 <= n biases; rows r0..r0 + 4 have outputs j0..j0 + 4.
                unsafe {
                    let b = _mm512_broadcast_f32x4(_mm_loadu_ps(bias.as_ptr().add(j0)));
                    let o = _mm512_add_ps(b, _mm512_permutexvar_ps(idx, e));
                    let op = out.as_mut_ptr();
                    let at = |r: usize| op.add((r0 + r) * n + j0);
                    _mm_storeu_ps(at(0), _mm512_extractf32x4_ps::<0>(o));
                    _mm_storeu_ps(at(1), _mm512_extractf32x4_ps::<1>(o));
                    _mm_storeu_ps(at(2), _mm512_extractf32x4_ps::<2>(o));
                    _mm_storeu_ps(at(3), _mm512_extractf32x4_ps::<3>(o));
                }
            } else {
                let mut v = [0f32; 16];
                // SAFETY: `v` holds 16 values.
                unsafe { _mm512_storeu_ps(v.as_mut_ptr(), e) };
                for r in 0..rr {
                    for o in 0..jj {
                        let i = 4 * r + o;
                        out[(r0 + r) * n + j0 + o] = bias[j0 + o] + v[4 * (i % 4) + i / 4];
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::kernel;
    use crate::fast::testing::{assert_same_bits, token, Values};

    #[test]
    fn dot_matches_naive_sum_closely() {
        let a: Vec<f64> = (0..37).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..37).map(|i| (i as f64 * 0.11).cos()).collect();
        let naive: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-13);
        // The lane order, spelled out for a length of 9.
        let (a, b) = (&a[..9], &b[..9]);
        let p: Vec<f64> = a.iter().zip(b).map(|(x, y)| x * y).collect();
        let want = ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7])) + p[8];
        assert_eq!(dot(a, b).to_bits(), want.to_bits());
    }

    /// `dot16`'s order spelled out for a length of 18: lanes 0 and 1 take
    /// two products each.
    #[test]
    fn dot16_sums_in_its_documented_order() {
        let a: Vec<f32> = (0..18).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..18).map(|i| (i as f32 * 0.11).cos() * 1e3).collect();
        let p: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
        let mut s: Vec<f32> = p[..16].to_vec();
        s[0] += p[16];
        s[1] += p[17];
        let h8: Vec<f32> = (0..8).map(|j| s[j] + s[j + 8]).collect();
        let h4: Vec<f32> = (0..4).map(|j| h8[j] + h8[j + 4]).collect();
        let want = (h4[0] + h4[2]) + (h4[1] + h4[3]);
        assert_eq!(dot16(&a, &b).to_bits(), want.to_bits());
    }

    kernel! {
        [simd at at]
        /// [`affine_rows16_simd`] compiled for the level.
        fn affine16_at<'a>(inp: &'a [f32], m: &'a [f32], bias: &'a [f32], k: usize, out: &'a mut [f32]) {
            affine_rows16_simd(simd, inp, m, bias, k, out)
        }
    }

    /// At `level`, the float32 affine kernel gives [`affine_rows16`]'s bits:
    /// tiles cut short in rows and in outputs, partial 16-column chunks,
    /// signed zeros.
    fn affine16_matches_reference_at(level: Level) {
        let simd = token(level);
        let mut vals = Values::new(11);
        for (rows, k, n) in [
            (4, 64, 64),
            (4, 64, 10),
            (4, 16, 16),
            (4, 256, 256),
            (3, 13, 17),
            (1, 8, 8),
            (5, 3, 9),
            (6, 33, 5),
            (4, 67, 10),
            (2, 1, 1),
        ] {
            let (inp, m, bias) = (vals.vec32(rows * k), vals.vec32(n * k), vals.vec32(n));
            let (mut a, mut b) = (vec![1.0; rows * n], vec![2.0; rows * n]);
            affine_rows16(&inp, &m, &bias, k, &mut a);
            affine16_at(simd, &inp, &m, &bias, k, &mut b);
            let wide = |x: &[f32]| x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
            assert_same_bits(
                &wide(&a),
                &wide(&b),
                &format!("affine16 {rows}x{k}x{n} at {level}"),
            );
        }
    }

    #[test]
    fn affine16_matches_reference_plain() {
        affine16_matches_reference_at(Level::Plain);
    }

    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx2),
        ignore = "needs avx2, which the CPU that built the tests lacks"
    )]
    fn affine16_matches_reference_avx2() {
        affine16_matches_reference_at(Level::Avx2);
    }

    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn affine16_matches_reference_avx512() {
        affine16_matches_reference_at(Level::Avx512);
    }

    kernel! {
        [simd at at]
        /// [`affine_rows_simd`] compiled for the level.
        fn affine_at<'a>(inp: &'a [f64], m: &'a [f64], bias: &'a [f64], k: usize, out: &'a mut [f64]) {
            affine_rows_simd(simd, inp, m, bias, k, out)
        }
    }

    kernel! {
        [simd at at]
        /// [`affine_rows_backward`] compiled for the level, into one buffer `dm, dbias, dinp`.
        fn backward_at<'a>(inp: &'a [f64], m: &'a [f64], dout: &'a [f64], k: usize, out: &'a mut [f64]) {
            let n = dout.len() / (inp.len() / k);
            let (dm, rest) = out.split_at_mut(n * k);
            let (db, di) = rest.split_at_mut(n);
            affine_rows_backward(inp, m, dout, k, dm, db, Some(di));
        }
    }

    /// At `level`, the dense kernels give the plain reference's bits, on
    /// shapes with and without multiples of eight and on random values.
    fn dense_kernels_match_reference_at(level: Level) {
        let simd = token(level);
        let mut vals = Values::new(7);
        for (rows, k, n) in [
            (4, 64, 64),
            (4, 64, 10),
            (3, 13, 17),
            (1, 8, 8),
            (5, 3, 9),
            (2, 16, 24),
            (4, 7, 8),
            (4, 256, 256),
            (4, 67, 10),
            (8, 40, 3),
            (9, 100, 12),
        ] {
            let inp = vals.vec(rows * k);
            let m = vals.vec(n * k);
            let bias = vals.vec(n);
            let (mut a, mut b) = (vec![0.0; rows * n], vec![0.0; rows * n]);
            affine_rows(&inp, &m, &bias, k, &mut a);
            affine_at(simd, &inp, &m, &bias, k, &mut b);
            assert_same_bits(&a, &b, &format!("affine {rows}x{k}x{n} at {level}"));
            affine_rows_simd(simd, &inp, &m, &bias, k, &mut b);
            assert_same_bits(&a, &b, &format!("affine {rows}x{k}x{n} at {level}, direct"));

            let dout = vals.vec(rows * n);
            let len = n * k + n + rows * k;
            let (mut ga, mut gb) = (vec![1.0; len], vec![2.0; len]);
            backward_at(Simd::PLAIN, &inp, &m, &dout, k, &mut ga);
            backward_at(simd, &inp, &m, &dout, k, &mut gb);
            assert_same_bits(&ga, &gb, &format!("backward {rows}x{k}x{n} at {level}"));

            // The one-hot layer for `rows` prompts and `n` units.
            let (w1, b1) = (vals.vec(n * rows), vals.vec(n));
            let (mut fa, mut fb) = (vec![1.0; rows * n], vec![2.0; rows * n]);
            one_hot_forward(&w1, &b1, rows, &mut fa);
            one_hot_forward_simd(simd, &w1, &b1, rows, &mut fb);
            assert_same_bits(&fa, &fb, &format!("one_hot_forward {rows}x{n} at {level}"));
            let mut d1 = vals.vec(rows * n);
            d1.iter_mut().step_by(5).for_each(|d| *d = -0.0);
            let (mut ga, mut gb) = (vec![1.0; n * rows + n], vec![2.0; n * rows + n]);
            let (gwa, gba) = ga.split_at_mut(n * rows);
            one_hot_grad(&d1, rows, gwa, gba);
            let (gwb, gbb) = gb.split_at_mut(n * rows);
            one_hot_grad_simd(simd, &d1, rows, gwb, gbb);
            assert_same_bits(&ga, &gb, &format!("one_hot_grad {rows}x{n} at {level}"));

            // Signed zeros among the terms: a sum of -0 terms must stay +0.
            // Row 0 of `dout` all -0 and column 0 of `m` all positive make
            // every term of `dinp[0][0]` -0: only a sum from +0 gives +0.
            let mut dout = dout;
            dout.iter_mut().step_by(3).for_each(|d| *d = -0.0);
            dout[..n].fill(-0.0);
            let mut m = m;
            m.iter_mut().step_by(k).for_each(|w| *w = w.abs() + 0.5);
            let (mut da, mut db) = (vec![1.0; rows * k], vec![2.0; rows * k]);
            input_grad(&m, &dout, k, &mut da);
            input_grad_simd(simd, &m, &dout, k, &mut db);
            assert_same_bits(&da, &db, &format!("input_grad {rows}x{k}x{n} at {level}"));
            assert_eq!(
                db[0].to_bits(),
                0,
                "input_grad {rows}x{k}x{n} at {level}: +0"
            );
        }
    }

    #[test]
    fn dense_kernels_match_reference_plain() {
        dense_kernels_match_reference_at(Level::Plain);
    }

    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx2),
        ignore = "needs avx2, which the CPU that built the tests lacks"
    )]
    fn dense_kernels_match_reference_avx2() {
        dense_kernels_match_reference_at(Level::Avx2);
    }

    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn dense_kernels_match_reference_avx512() {
        dense_kernels_match_reference_at(Level::Avx512);
    }
}
