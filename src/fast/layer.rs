//! One affine layer's back-propagation fused with the optimiser's update of
//! its weights, row by row while each gradient row is still in L1 (the MLP's
//! `backward_step`). [`Layer::backward_step_plain`] is the reference; the
//! AVX-512 twin also overlaps the update of row `j - 1` with the gradient of
//! row `j`.

use super::dense::axpy;
use super::update::Update;
#[cfg(target_arch = "x86_64")]
use super::update::{adam8_avx512, Rule};
use super::{Level, Simd};

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
    /// Writes `dinp[r] = Σ_j dout[r][j] W[j]` (if given) from the old weights,
    /// the gradients of `W` and `b` into `grad` (same offsets as `params`),
    /// and updates `W` and `b` with `upd`; by the AVX-512 kernel when `simd`
    /// is AVX-512 (the same bits).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn backward_step(
        &self,
        simd: Simd,
        inp: &[f64],
        dout: &[f64],
        params: &mut [f64],
        dinp: Option<&mut [f64]>,
        grad: &mut [f64],
        upd: &mut Update<'_>,
    ) {
        match simd.level() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the token proves the CPU has AVX-512F.
            Level::Avx512 => unsafe {
                self.backward_step_avx512(inp, dout, params, dinp, grad, upd)
            },
            _ => self.backward_step_plain(inp, dout, params, dinp, grad, upd),
        }
    }

    /// The reference for [`Layer::backward_step`]. Per element the sums run
    /// in the order of `dense::affine_rows_backward`: over `j` for `dinp`,
    /// over `r` for the weight and bias gradients.
    #[inline(always)]
    pub fn backward_step_plain(
        &self,
        inp: &[f64],
        dout: &[f64],
        params: &mut [f64],
        mut dinp: Option<&mut [f64]>,
        grad: &mut [f64],
        upd: &mut Update<'_>,
    ) {
        let (k, n) = (self.k, self.n);
        if let Some(d) = dinp.as_deref_mut() {
            d.fill(0.0);
        }
        let rows = inp.len() / k;
        for j in 0..n {
            let at = self.w + j * k;
            if let Some(d) = dinp.as_deref_mut() {
                let row = &params[at..at + k];
                for (dr, gr) in d.chunks_exact_mut(k).zip(dout.chunks_exact(n)) {
                    axpy(gr[j], row, dr);
                }
            }
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

    /// [`Layer::backward_step_plain`] in AVX-512 registers, bit-identical to
    /// it. Row `j`'s gradient is computed while row `j - 1` is updated, eight
    /// columns at a time: the optimiser's square roots and divisions (which
    /// bound this layer's time) then run beside the multiply-adds, not after
    /// them.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn backward_step_avx512(
        &self,
        inp: &[f64],
        dout: &[f64],
        params: &mut [f64],
        dinp: Option<&mut [f64]>,
        grad: &mut [f64],
        upd: &mut Update<'_>,
    ) {
        let rule = upd.rule;
        let (m, v) = (&mut *upd.m, &mut *upd.v);
        // A copy of the loop per rule: Adam's then tests no rule per chunk and
        // keeps fewer values live (one loop matching the rule per chunk was
        // measurably slower on the paper's MLP).
        if let Rule::Adam(a) = rule {
            // Rows narrower than eight (the first layer's, one per one-hot
            // input) would each be updated one value at a time: the whole
            // block is updated after the rows instead, eight at a time. Each
            // value's update depends only on its own gradient and state, and
            // every row's input gradient has read its old weights by then.
            let defer = self.k < 8;
            self.rows_avx512(inp, dout, params, dinp, grad, |at, p, g| {
                if p.len() == 8 {
                    // The hardware square root: here the divider runs beside
                    // the gradient's multiply-adds, and the software root's
                    // extra ones (`root`) made the 64 × 64 layer slower
                    // (6.6 → 7.8 µs; 7.1 with every second chunk's root in
                    // software; interleaved timings of the three builds).
                    adam8_avx512::<false>(a, p, g, &mut m[at..at + 8], &mut v[at..at + 8]);
                } else if !defer {
                    Update { rule, m, v }.apply(at, p, g)
                }
            });
            let mut u = Update { rule, m, v };
            if defer {
                let (w, end) = (self.w, self.w + self.n * self.k);
                u.adam_avx512(w, &mut params[w..end], &grad[w..end]);
            }
            let (b, end) = (self.b, self.b + self.n);
            self.bias_grad(dout, &mut grad[b..end]);
            return u.adam_avx512(b, &mut params[b..end], &grad[b..end]);
        } else {
            self.rows_avx512(inp, dout, params, dinp, grad, |at, p, g| {
                Update { rule, m, v }.apply(at, p, g)
            });
        }
        self.bias_step(dout, params, grad, upd);
    }

    /// The rows of [`Layer::backward_step_avx512`]; `update(at, p, g)`
    /// updates the parameters from offset `at`, `p`, along `g`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn rows_avx512<U: FnMut(usize, &mut [f64], &[f64])>(
        &self,
        inp: &[f64],
        dout: &[f64],
        params: &mut [f64],
        dinp: Option<&mut [f64]>,
        grad: &mut [f64],
        update: U,
    ) {
        // Four rows (the paper's four prompts) get loops of known length:
        // unrolled, their broadcasts hoisted out of the column loop. With
        // Adam, the 64 × 64 layer 7.1 → 6.6 µs and the 256 × 256 one
        // 122 → 112 µs (interleaved timings against the loop of any length).
        if inp.len() == 4 * self.k {
            self.rows_of_avx512::<4, U>(inp, dout, params, dinp, grad, update)
        } else {
            self.rows_of_avx512::<0, U>(inp, dout, params, dinp, grad, update)
        }
    }

    /// [`Layer::rows_avx512`] for `R` rows (`0`: as many as `inp` has).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn rows_of_avx512<const R: usize, U: FnMut(usize, &mut [f64], &[f64])>(
        &self,
        inp: &[f64],
        dout: &[f64],
        params: &mut [f64],
        mut dinp: Option<&mut [f64]>,
        grad: &mut [f64],
        mut update: U,
    ) {
        use std::arch::x86_64::*;
        let (k, n) = (self.k, self.n);
        let rows = if R > 0 { R } else { inp.len() / k };
        let k8 = k / 8 * 8;
        assert!(self.w + n * k <= params.len() && self.w + n * k <= grad.len());
        assert!(inp.len() == rows * k && dout.len() == rows * n);
        if let Some(d) = dinp.as_deref_mut() {
            assert!(d.len() == rows * k);
            d.fill(0.0);
        }
        let (ip, dp) = (inp.as_ptr(), dout.as_ptr());
        for j in 0..=n {
            let at = self.w + j * k;
            let prev = at.wrapping_sub(k);
            for c in (0..k8).step_by(8) {
                if j < n {
                    // SAFETY: j < n, c + 8 <= k and the lengths asserted above.
                    unsafe {
                        let w = _mm512_loadu_pd(params.as_ptr().add(at + c));
                        if let Some(d) = dinp.as_deref_mut() {
                            for r in 0..rows {
                                let a = _mm512_set1_pd(*dp.add(r * n + j));
                                let q = d.as_mut_ptr().add(r * k + c);
                                _mm512_storeu_pd(
                                    q,
                                    _mm512_add_pd(_mm512_loadu_pd(q), _mm512_mul_pd(a, w)),
                                );
                            }
                        }
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
                }
            }
            if k8 < k {
                if j < n {
                    if let Some(d) = dinp.as_deref_mut() {
                        for r in 0..rows {
                            let a = dout[r * n + j];
                            for i in k8..k {
                                d[r * k + i] += a * params[at + i];
                            }
                        }
                    }
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
    use crate::fast::update::{AdamStep, Rule};

    kernel! {
        [simd at at]
        /// [`Layer::backward_step`] compiled for the level.
        fn step_at<'a, 'u>(
            layer_upd: (Layer, &'a mut Update<'u>),
            inp: &'a [f64],
            dout: &'a [f64],
            params: &'a mut [f64],
            dinp: Option<&'a mut [f64]>,
            grad: &'a mut [f64]
        ) {
            let (layer, upd) = layer_upd;
            layer.backward_step(simd, inp, dout, params, dinp, grad, upd)
        }
    }

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

    /// At `level`, the fused step gives the reference's parameters, state,
    /// gradient and `dinp`, bit for bit, for shapes with and without
    /// multiples of eight, with and without `dinp`, for every rule.
    fn layer_step_matches_reference_at(level: Level) {
        let simd = token(level);
        let mut vals = Values::new(3);
        for (rows, k, n) in [
            (4, 64, 64),
            (4, 4, 64),
            (4, 67, 10),
            (3, 5, 9),
            (1, 8, 3),
            (4, 256, 256),
        ] {
            for rule in rules() {
                for with_dinp in [true, false] {
                    // A little room before the layer, as inside an MLP's vector.
                    let layer = Layer {
                        k,
                        n,
                        w: 5,
                        b: 5 + n * k,
                    };
                    let len = layer.b + n + 2;
                    let inp = vals.vec(rows * k);
                    let mut dout = vals.vec(rows * n);
                    // A dead unit: a whole zero gradient row (skippable by Adam).
                    dout.iter_mut().step_by(n).for_each(|d| *d = 0.0);
                    let p0 = vals.vec(len);
                    let (m0, v0) = (
                        vals.vec(len),
                        vals.vec(len).iter().map(|x| x * x).collect::<Vec<_>>(),
                    );
                    let run = |simd: Option<Simd>| {
                        let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
                        let mut grad = vec![9.0; len];
                        let mut dinp = vec![7.0; rows * k];
                        let mut upd = Update {
                            rule,
                            m: &mut m,
                            v: &mut v,
                        };
                        let d = with_dinp.then_some(&mut dinp[..]);
                        match simd {
                            None => layer
                                .backward_step_plain(&inp, &dout, &mut p, d, &mut grad, &mut upd),
                            Some(s) => {
                                step_at(s, (layer, &mut upd), &inp, &dout, &mut p, d, &mut grad)
                            }
                        }
                        (p, m, v, grad, dinp)
                    };
                    let (want, got) = (run(None), run(Some(simd)));
                    let what = format!("{rows}x{k}x{n} {rule:?} dinp={with_dinp} at {level}");
                    assert_same_bits(&want.0, &got.0, &format!("params {what}"));
                    assert_same_bits(&want.1, &got.1, &format!("m {what}"));
                    assert_same_bits(&want.2, &got.2, &format!("v {what}"));
                    assert_same_bits(&want.3, &got.3, &format!("grad {what}"));
                    assert_same_bits(&want.4, &got.4, &format!("dinp {what}"));
                }
            }
        }
    }

    #[test]
    fn layer_step_matches_reference_plain() {
        layer_step_matches_reference_at(Level::Plain);
    }

    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx2),
        ignore = "needs avx2, which the CPU that built the tests lacks"
    )]
    fn layer_step_matches_reference_avx2() {
        layer_step_matches_reference_at(Level::Avx2);
    }

    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn layer_step_matches_reference_avx512() {
        layer_step_matches_reference_at(Level::Avx512);
    }
}
