//! Small dense kernels for the MLP, written so the compiler vectorises them:
//! eight independent accumulators per dot product (f64 addition is not
//! associative, so a single accumulator would serialise), contiguous rows
//! everywhere, and no fused multiply-add, so the AVX2 build and the baseline
//! build compute bit-identical results.

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

/// `out[r][j] = bias[j] + Σ_k m[j][k] inp[r][k]` for `rows` input rows:
/// `inp` is `rows × k`, `m` is `n × k` (row-major, one row per output), `out` is `rows × n`.
#[inline(always)]
pub fn affine_rows(inp: &[f64], m: &[f64], bias: &[f64], k: usize, out: &mut [f64]) {
    let n = bias.len();
    for (ir, or) in inp.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        for ((o, mrow), &b) in or.iter_mut().zip(m.chunks_exact(k)).zip(bias) {
            *o = b + dot(mrow, ir);
        }
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
        dinp.fill(0.0);
        for (dir, dr) in dinp.chunks_exact_mut(k).zip(dout.chunks_exact(n)) {
            for (mrow, &g) in m.chunks_exact(k).zip(dr) {
                axpy(g, mrow, dir);
            }
        }
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
pub unsafe fn affine_rows_avx512(inp: &[f64], m: &[f64], bias: &[f64], k: usize, out: &mut [f64]) {
    use std::arch::x86_64::*;
    // Accumulator slot s holds output j0 + PERM[s]: the shuffles below then
    // leave the eight results in output order (PERM is its own inverse).
    const PERM: [usize; 8] = [0, 2, 1, 3, 4, 6, 5, 7];
    let n = bias.len();
    let rows = inp.len() / k;
    assert!(m.len() >= n * k && out.len() >= rows * n && inp.len() == rows * k);
    let k8 = k / LANES * LANES;
    let n8 = n / LANES * LANES;

    /// `tree(acc[s])` for all eight slots, in output order.
    #[inline(always)]
    unsafe fn reduce8(a: &[__m512d; 8]) -> __m512d {
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
                let x0 = _mm512_loadu_pd(ip.add(r * k + c));
                let x1 = _mm512_loadu_pd(ip.add(r1 * k + c));
                for s in 0..8 {
                    let w = _mm512_loadu_pd(mp.add((j0 + PERM[s]) * k + c));
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
                let dot = _mm512_add_pd(reduce8(acc), _mm512_loadu_pd(tail.as_ptr()));
                let o = _mm512_add_pd(_mm512_loadu_pd(bias.as_ptr().add(j0)), dot);
                _mm512_storeu_pd(op.add(row * n + j0), o);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_sum_closely() {
        let a: Vec<f64> = (0..37).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..37).map(|i| (i as f64 * 0.11).cos()).collect();
        let naive: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-13);
    }

    #[test]
    fn affine_rows_avx512_is_bit_identical() {
        if !std::is_x86_feature_detected!("avx512f") {
            return;
        }
        for (rows, k, n) in [
            (4, 64, 64),
            (4, 64, 10),
            (3, 13, 17),
            (1, 8, 8),
            (5, 3, 9),
            (2, 16, 24),
            (4, 7, 8),
        ] {
            let f = |i: usize, s: f64| {
                ((i as f64 + 0.5) * s).sin() * if i.is_multiple_of(7) { -0.0 } else { 1.0 }
            };
            let inp: Vec<f64> = (0..rows * k).map(|i| f(i, 0.37)).collect();
            let m: Vec<f64> = (0..n * k).map(|i| f(i, 0.11)).collect();
            let bias: Vec<f64> = (0..n).map(|i| f(i, 1.7)).collect();
            let (mut a, mut b) = (vec![0.0; rows * n], vec![0.0; rows * n]);
            affine_rows(&inp, &m, &bias, k, &mut a);
            // SAFETY: checked above.
            unsafe { affine_rows_avx512(&inp, &m, &bias, k, &mut b) };
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.to_bits(), y.to_bits(), "{rows}x{k}x{n}");
            }
        }
    }
}
