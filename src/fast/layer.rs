//! One affine layer's weight gradient fused with the optimiser's update of
//! its weights, row by row while each gradient row is still in L1, and with
//! the next step's forward of the layer (the MLP's `backward_step_ahead`).
//! [`Layer::step_fused_plain`] is the reference; the AVX-512 twin overlaps
//! the update of row `j - 1` with the gradient of row `j` and sums row
//! `j - 1`'s forward as it is updated.

#[cfg(target_arch = "x86_64")]
use super::dense::affine_rows_avx512;
use super::dense::{affine_rows, axpy};
use super::update::Update;
#[cfg(target_arch = "x86_64")]
use super::update::{adam8_avx512, Rule};
use super::{Level, Simd};

/// The next step's forward that a fused step may compute as it updates:
/// `Some((next, out))` asks for `out[r] = b + W next[r]` from the new `W`, `b`.
pub type Ahead<'a> = Option<(&'a [f64], &'a mut [f64])>;

/// One affine layer `out[r] = b + W inp[r]` inside a flat parameter vector:
/// `W` is `n × k` row-major at offset `w`, `b` at offset `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layer {
    /// Inputs per row.
    pub k: usize,
    /// Outputs per row.
    pub n: usize,
    /// Offset of `W`.
    pub w: usize,
    /// Offset of `b`.
    pub b: usize,
}

impl Layer {
    /// Writes the gradients of `W` and `b` into `grad` (same offsets as
    /// `params`) and updates `W` and `b` with `upd`; with `ahead = Some((next,
    /// out))`, also the next step's forward `out[r] = b + W next[r]` from the
    /// updated weights, in [`affine_rows`]'s order. The AVX-512 kernel (four
    /// input rows, `k ≥ 8`) sums each row's forward as the row is updated,
    /// beside the optimiser's divisions; otherwise this is
    /// [`Layer::step_fused_plain`] (the same bits).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn step_fused(
        &self,
        simd: Simd,
        inp: &[f64],
        dout: &[f64],
        params: &mut [f64],
        grad: &mut [f64],
        upd: &mut Update<'_>,
        ahead: Ahead<'_>,
    ) {
        match simd.level() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the token proves the CPU has AVX-512F.
            Level::Avx512 if inp.len() == 4 * self.k && self.k >= 8 => unsafe {
                self.step_fused_avx512(inp, dout, params, grad, upd, ahead)
            },
            _ => self.step_fused_plain(inp, dout, params, grad, upd, ahead),
        }
    }

    /// The reference for [`Layer::step_fused`]: the layer's step, then its
    /// forward.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn step_fused_plain(
        &self,
        inp: &[f64],
        dout: &[f64],
        params: &mut [f64],
        grad: &mut [f64],
        upd: &mut Update<'_>,
        ahead: Ahead<'_>,
    ) {
        self.backward_step_plain(inp, dout, params, grad, upd);
        if let Some((next, out)) = ahead {
            let (w, b) = self.weights_and_bias(params);
            affine_rows(next, w, b, self.k, out);
        }
    }

    /// `W` and `b` within `params`.
    #[inline(always)]
    fn weights_and_bias<'p>(&self, params: &'p [f64]) -> (&'p [f64], &'p [f64]) {
        (
            &params[self.w..self.w + self.n * self.k],
            &params[self.b..self.b + self.n],
        )
    }

    /// The layer's gradient and update, row by row. Per element the sums
    /// run in the order of `dense::affine_rows_backward`: over `r` for the
    /// weight and bias gradients.
    #[inline(always)]
    fn backward_step_plain(
        &self,
        inp: &[f64],
        dout: &[f64],
        params: &mut [f64],
        grad: &mut [f64],
        upd: &mut Update<'_>,
    ) {
        let (k, n) = (self.k, self.n);
        let rows = inp.len() / k;
        for j in 0..n {
            let at = self.w + j * k;
            let g = &mut grad[at..at + k];
            g.fill(0.0);
            for r in 0..rows {
                axpy(dout[r * n + j], &inp[r * k..(r + 1) * k], g);
            }
            upd.apply(at, &mut params[at..at + k], &grad[at..at + k]);
        }
        self.bias_step(dout, params, grad, upd);
    }

    /// The bias gradient `gb = Σ_r dout[r]`.
    #[inline(always)]
    fn bias_grad(&self, dout: &[f64], gb: &mut [f64]) {
        gb.fill(0.0);
        for gr in dout.chunks_exact(self.n) {
            for (b, &g) in gb.iter_mut().zip(gr) {
                *b += g;
            }
        }
    }

    /// The bias gradient and its update.
    #[inline(always)]
    fn bias_step(&self, dout: &[f64], params: &mut [f64], grad: &mut [f64], upd: &mut Update<'_>) {
        self.bias_grad(dout, &mut grad[self.b..self.b + self.n]);
        upd.apply(
            self.b,
            &mut params[self.b..self.b + self.n],
            &grad[self.b..self.b + self.n],
        );
    }

    /// [`Layer::step_fused`] at AVX-512, for four input rows and `k ≥ 8`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    fn step_fused_avx512(
        &self,
        inp: &[f64],
        dout: &[f64],
        params: &mut [f64],
        grad: &mut [f64],
        upd: &mut Update<'_>,
        mut ahead: Ahead<'_>,
    ) {
        assert!(inp.len() == 4 * self.k && self.k >= 8);
        let rule = upd.rule;
        let rows_ahead = ahead.as_mut().map(|(next, out)| (&**next, &mut **out));
        let (m, v) = (&mut *upd.m, &mut *upd.v);
        // A copy of the loop per rule: Adam's then tests no rule per chunk and
        // keeps fewer values live (one loop matching the rule per chunk was
        // measurably slower on the paper's MLP).
        if let Rule::Adam(a) = rule {
            self.rows4_avx512(inp, dout, params, grad, rows_ahead, |at, p, g| {
                if p.len() == 8 {
                    // The hardware square root: here the divider runs
                    // beside the gradient's multiply-adds, and the
                    // software root's extra ones (`root`) made the 64 ×
                    // 64 layer slower (6.6 → 7.8 µs; 7.1 with every
                    // second chunk's root in software; interleaved
                    // timings of the three builds).
                    adam8_avx512::<false>(a, p, g, &mut m[at..at + 8], &mut v[at..at + 8]);
                } else {
                    Update { rule, m, v }.apply(at, p, g)
                }
            });
            let (b, end) = (self.b, self.b + self.n);
            self.bias_grad(dout, &mut grad[b..end]);
            Update { rule, m, v }.adam_avx512(b, &mut params[b..end], &grad[b..end]);
        } else {
            // Without a divider to hide it under, the forward is faster as
            // its own tiled pass (plain SGD, width 64: 9.7 µs a step with the
            // forward in the rows, 6.3 µs with it apart and the one-hot layer
            // transposed in registers; two bench records).
            self.rows4_avx512(inp, dout, params, grad, None, |at, p, g| {
                Update { rule, m, v }.apply(at, p, g)
            });
            self.bias_step(dout, params, grad, upd);
            if let Some((next, out)) = ahead {
                let (w, b) = self.weights_and_bias(params);
                // SAFETY: this function runs only where AVX-512F is (its
                // callers hold the token).
                unsafe { affine_rows_avx512(next, w, b, self.k, out) };
            }
            return;
        }
        // The rows left `W next[r]`; the bias goes first, as in `affine_rows`.
        if let Some((_, out)) = ahead {
            let (_, b) = self.weights_and_bias(params);
            for orow in out.chunks_exact_mut(self.n) {
                for (o, &bj) in orow.iter_mut().zip(b) {
                    *o += bj;
                }
            }
        }
    }

    /// The rows of [`Layer::step_fused_avx512`] for four input rows (the
    /// paper's four prompts: loops of known length, unrolled, their
    /// broadcasts hoisted out of the column loop): row `j`'s gradient while
    /// row `j - 1` is updated by `update(at, p, g)` (the parameters from
    /// offset `at`, `p`, along `g`), and with `ahead` `out[r][j] = W[j]
    /// next[r]` from each row as soon as it is updated (the bias is left to
    /// the caller).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn rows4_avx512<U>(
        &self,
        inp: &[f64],
        dout: &[f64],
        params: &mut [f64],
        grad: &mut [f64],
        ahead: Ahead<'_>,
        mut update: U,
    ) where
        U: FnMut(usize, &mut [f64], &[f64]),
    {
        use std::arch::x86_64::*;
        let (k, n) = (self.k, self.n);
        let rows = 4;
        let k8 = k / 8 * 8;
        let end = n.checked_mul(k).and_then(|nk| nk.checked_add(self.w));
        assert!(end.is_some_and(|e| e <= params.len() && e <= grad.len()));
        assert!(Some(inp.len()) == k.checked_mul(4) && Some(dout.len()) == n.checked_mul(4));
        let (ip, dp) = (inp.as_ptr(), dout.as_ptr());
        let ahead = ahead.map(|(next, out)| {
            assert!(next.len() == inp.len() && out.len() == dout.len());
            (next.as_ptr(), out.as_mut_ptr())
        });
        for j in 0..=n {
            let at = self.w + j * k;
            let prev = at.wrapping_sub(k);
            // Row j - 1's four dot products with `next`, one lane sum each.
            let mut fw = [_mm512_setzero_pd(); 4];
            for c in (0..k8).step_by(8) {
                if j < n {
                    // SAFETY: j < n, c + 8 <= k and the lengths asserted above.
                    unsafe {
                        let mut acc = _mm512_setzero_pd();
                        for r in 0..rows {
                            let a = _mm512_set1_pd(*dp.add(r * n + j));
                            acc = _mm512_add_pd(
                                acc,
                                _mm512_mul_pd(a, _mm512_loadu_pd(ip.add(r * k + c))),
                            );
                        }
                        _mm512_storeu_pd(grad.as_mut_ptr().add(at + c), acc);
                    }
                }
                if j > 0 {
                    let (p, g) = (prev + c, prev + c + 8);
                    update(p, &mut params[p..g], &grad[p..g]);
                    if let Some((np, _)) = ahead {
                        // SAFETY: `next` is 4 × k (asserted), c + 8 <= k.
                        unsafe {
                            let w = _mm512_loadu_pd(params.as_ptr().add(p));
                            for (r, f) in fw.iter_mut().enumerate() {
                                let x = _mm512_loadu_pd(np.add(r * k + c));
                                *f = _mm512_add_pd(*f, _mm512_mul_pd(w, x));
                            }
                        }
                    }
                }
            }
            // `dot`'s scalar tail, summed after the lanes.
            let mut tail = [0.0f64; 4];
            if k8 < k {
                if j < n {
                    for i in k8..k {
                        grad[at + i] = 0.0;
                        for r in 0..rows {
                            grad[at + i] += dout[r * n + j] * inp[r * k + i];
                        }
                    }
                }
                if j > 0 {
                    let (p, g) = (prev + k8, prev + k);
                    update(p, &mut params[p..g], &grad[p..g]);
                    if let Some((np, _)) = ahead {
                        for (r, t) in tail.iter_mut().enumerate() {
                            for i in k8..k {
                                // SAFETY: r < 4 and i < k: within `next`.
                                *t += params[prev + i] * unsafe { *np.add(r * k + i) };
                            }
                        }
                    }
                }
            }
            if let (true, Some((_, op))) = (j > 0, ahead) {
                let mut dots = [0.0f64; 4];
                // SAFETY: `dots` and `tail` hold four values; r < 4 and
                // j - 1 < n, within `out` (4 × n, asserted).
                unsafe {
                    let d = _mm256_add_pd(reduce4(&fw), _mm256_loadu_pd(tail.as_ptr()));
                    _mm256_storeu_pd(dots.as_mut_ptr(), d);
                    for (r, &d) in dots.iter().enumerate() {
                        *op.add(r * n + j - 1) = d;
                    }
                }
            }
        }
    }
}

/// `dot`'s reduction tree, `((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))`,
/// of four accumulators at once, in their order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn reduce4(a: &[std::arch::x86_64::__m512d; 4]) -> std::arch::x86_64::__m256d {
    use std::arch::x86_64::*;
    // (a_l + a_{l+4}) for l < 4.
    let half =
        |x: __m512d| _mm256_add_pd(_mm512_castpd512_pd256(x), _mm512_extractf64x4_pd::<1>(x));
    // [t0+t1 of a0, of a1, t2+t3 of a0, of a1], and the same for a2, a3.
    let x = _mm256_hadd_pd(half(a[0]), half(a[1]));
    let y = _mm256_hadd_pd(half(a[2]), half(a[3]));
    _mm256_add_pd(
        _mm256_permute2f128_pd::<0x20>(x, y),
        _mm256_permute2f128_pd::<0x31>(x, y),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::kernel;
    use crate::fast::testing::{assert_same_bits, token, Values};
    use crate::fast::update::{AdamStep, Rule};

    fn rules() -> [Rule; 4] {
        [
            Rule::Sgd { lr: 0.1 },
            Rule::Momentum {
                lr: 0.1,
                momentum: 0.9,
            },
            Rule::Adam(AdamStep::new(
                0.9,
                0.999,
                1e-8,
                0.01 / 0.1,
                1.0 / 0.001f64.sqrt(),
            )),
            Rule::RmsProp {
                lr: 0.01,
                alpha: 0.99,
                eps: 1e-8,
            },
        ]
    }

    kernel! {
        [simd at at]
        /// [`Layer::step_fused`] compiled for the level.
        fn fused_at<'a, 'u>(
            layer_upd: (Layer, &'a mut Update<'u>),
            inp: &'a [f64],
            dout: &'a [f64],
            params: &'a mut [f64],
            grad: &'a mut [f64],
            ahead: Ahead<'a>
        ) {
            let (layer, upd) = layer_upd;
            layer.step_fused(simd, inp, dout, params, grad, upd, ahead)
        }
    }

    /// At `level`, [`Layer::step_fused`] gives its reference's parameters,
    /// state, gradient and forward, bit for bit: four rows (the
    /// fused kernel) and three (its fallback), widths on and off multiples of
    /// eight, every rule, with and without the forward.
    fn fused_step_matches_reference_at(level: Level) {
        let simd = token(level);
        let mut vals = Values::new(5);
        for (rows, k, n) in [
            (4, 64, 64),
            (4, 64, 10),
            (4, 67, 13),
            (4, 8, 3),
            (3, 16, 9),
            (4, 5, 4),
        ] {
            for rule in rules() {
                for with_ahead in [true, false] {
                    let layer = Layer {
                        k,
                        n,
                        w: 5,
                        b: 5 + n * k,
                    };
                    let len = layer.b + n + 2;
                    let (inp, next) = (vals.vec(rows * k), vals.vec(rows * k));
                    let mut dout = vals.vec(rows * n);
                    dout.iter_mut().step_by(n).for_each(|d| *d = 0.0);
                    let p0 = vals.vec(len);
                    let (m0, v0) = (
                        vals.vec(len),
                        vals.vec(len).iter().map(|x| x * x).collect::<Vec<_>>(),
                    );
                    let run = |simd: Option<Simd>| {
                        let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
                        let mut grad = vec![9.0; len];
                        let mut out = vec![7.0; rows * n];
                        let mut upd = Update {
                            rule,
                            m: &mut m,
                            v: &mut v,
                        };
                        let ahead = with_ahead.then_some((&next[..], &mut out[..]));
                        match simd {
                            None => layer
                                .step_fused_plain(&inp, &dout, &mut p, &mut grad, &mut upd, ahead),
                            Some(s) => fused_at(
                                s,
                                (layer, &mut upd),
                                &inp,
                                &dout,
                                &mut p,
                                &mut grad,
                                ahead,
                            ),
                        }
                        (p, m, v, grad, out)
                    };
                    let (want, got) = (run(None), run(Some(simd)));
                    let what = format!("{rows}x{k}x{n} {rule:?} ahead={with_ahead} at {level}");
                    assert_same_bits(&want.0, &got.0, &format!("params {what}"));
                    assert_same_bits(&want.1, &got.1, &format!("m {what}"));
                    assert_same_bits(&want.2, &got.2, &format!("v {what}"));
                    assert_same_bits(&want.3, &got.3, &format!("grad {what}"));
                    assert_same_bits(&want.4, &got.4, &format!("out {what}"));
                }
            }
        }
    }

    #[test]
    fn fused_step_matches_reference_plain() {
        fused_step_matches_reference_at(Level::Plain);
    }

    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx2),
        ignore = "needs avx2, which the CPU that built the tests lacks"
    )]
    fn fused_step_matches_reference_avx2() {
        fused_step_matches_reference_at(Level::Avx2);
    }

    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn fused_step_matches_reference_avx512() {
        fused_step_matches_reference_at(Level::Avx512);
    }
}
