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
}
