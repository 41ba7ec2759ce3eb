//! Optimiser update rules, element by element over a range of a flat
//! parameter vector (PyTorch's rules; the optimiser's state and per-step
//! constants are kept by `crate::maths::optim`, which hands them here as an
//! [`Update`]). [`Update::apply`] is the reference; Adam has an AVX-512 twin,
//! selected by [`Update::apply_simd`].

use super::{kernel, Level, Simd};

/// Adam's constants for one step, bias corrections folded in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// β1, the first moment's decay.
    pub beta1: f64,
    /// β2, the second moment's decay.
    pub beta2: f64,
    /// ε, added to the denominator.
    pub eps: f64,
    /// `lr / (1 - β1^t)`.
    pub step: f64,
    /// `1 / √(1 - β2^t)`.
    pub inv_sqrt_bc2: f64,
    /// Whether a parameter whose gradient, `m` and `v` are all `+0.0` keeps
    /// every bit (`m = v = +0`, and `+0` is subtracted): true for every
    /// ordinary setting, so the AVX-512 kernel may skip eight such parameters
    /// (never touched: the tabular policy's responses outside the data, dead
    /// ReLU units), whose square roots and divisions are the update's
    /// costliest part. Decided once per step: checked in the kernel, on each call,
    /// it costs more than it saves on short ranges.
    zeros_unchanged: bool,
    /// The bounds of a quiet lane ([`AdamStep::quiet`]): `|p| ≥ p_min`
    /// (infinite: none is quiet), `v = 0` or `v ≥ v_min`, the first moment's
    /// magnitude bits `k` (a subnormal) with `1 ≤ k ≤ k_max`.
    p_min: f64,
    v_min: f64,
    k_max: u64,
}

impl AdamStep {
    /// The constants of one step.
    pub fn new(beta1: f64, beta2: f64, eps: f64, step: f64, inv_sqrt_bc2: f64) -> Self {
        Self::with_quiet(
            beta1,
            beta2,
            eps,
            step,
            inv_sqrt_bc2,
            &QuietBounds::new(beta1, beta2, eps),
        )
    }

    /// [`AdamStep::new`] with the step-independent bounds of its quiet lanes
    /// computed beforehand (an optimiser computes them once).
    #[inline]
    pub fn with_quiet(
        beta1: f64,
        beta2: f64,
        eps: f64,
        step: f64,
        inv_sqrt_bc2: f64,
        q: &QuietBounds,
    ) -> Self {
        let zeros_unchanged = eps > 0.0
            && step > 0.0
            && step.is_finite()
            && inv_sqrt_bc2.is_finite()
            && beta1.is_finite()
            && beta2.is_finite();
        let p_min = q.p_min(step);
        AdamStep {
            beta1,
            beta2,
            eps,
            step,
            inv_sqrt_bc2,
            zeros_unchanged,
            p_min,
            v_min: q.v_min,
            // An infinite bound admits an infinite parameter: no quiet lane.
            k_max: if p_min.is_finite() { q.k_max } else { 0 },
        }
    }
}

/// Where Adam's result is known without subnormal arithmetic. A parameter
/// whose gradient is ±0 for good (a dead ReLU unit's weights) has its first
/// moment decay into the subnormal range until `β1·m` rounds back to `m`,
/// and stay there; every x86 instruction with a subnormal operand then takes
/// a microcode assist (IEEE semantics are kept: no flush to zero). In such a
/// "quiet" lane — gradient ±0, `|m| = k·2^-1074` with `k (1 − β1) < 1/2`, `v`
/// zero or far from underflow, `|p|` far above any update such an `m` can
/// make — `m` and `p` keep their bits and `v ← β2·v` is ordinary, so the
/// AVX-512 kernel feeds zeros through the arithmetic there and keeps `m`:
/// the same bits, at full speed. These are the bounds that do not depend on
/// the step; [`QuietBounds::p_min`] adds the one that does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuietBounds {
    /// `eps` allows quiet lanes (positive, finite) and `k_max > 0`.
    ok: bool,
    /// `2^-968 (1 + 2^-40) / ε`: the step's factor in `p_min` (normal: ε ≤ 2^40).
    per_step: f64,
    /// `2^-1019 / ε (1 + 2^-40) + 2^-1019`: the rest of `p_min` before the floor.
    base: f64,
    /// Smallest normal second moment whose decay `β2·v` stays normal.
    v_min: f64,
    /// Largest subnormal significand `k` that `β1·m` rounds back to.
    k_max: u64,
}

/// `1 + 2^-40`: room for the roundings of the bounds' own arithmetic.
const LOOSE: f64 = 1.0 + 1.0 / 1_099_511_627_776.0;

impl QuietBounds {
    /// The bounds for Adam's `β1`, `β2` and `ε`.
    pub fn new(beta1: f64, beta2: f64, eps: f64) -> Self {
        let two = |e: i32| 2f64.powi(e);
        // β1 = M·2^-53 for β1 in [1/2, 1): RN(β1·k) = k, ties excluded, iff
        // k (2^53 − M) < 2^52 (integer arithmetic, exact).
        let k_max = if (0.5..1.0).contains(&beta1) {
            let d = (1u64 << 53) - (beta1 * two(53)) as u64;
            ((1u64 << 52) - 1) / d
        } else {
            0
        };
        let v_min = two(-1022) / beta2 * LOOSE;
        // ε above 2^40 would make `per_step` subnormal, and the bound it
        // scales loses its precision (a cold review found wrong bits there):
        // no quiet lanes for such ε.
        let ok = eps > 0.0 && eps <= two(40) && k_max > 0;
        QuietBounds {
            ok,
            // All normal numbers: no subnormal arithmetic in a step's setup either.
            per_step: two(-968) * LOOSE / eps * LOOSE,
            base: two(-1019) / eps * LOOSE + two(-1019),
            v_min: if beta2 > 0.0 && v_min.is_finite() {
                v_min
            } else {
                f64::INFINITY
            },
            // No lane qualifies when quiet lanes are off, whatever `p` is
            // (`|p| ≥ ∞` holds for an infinite parameter).
            k_max: if ok { k_max } else { 0 },
        }
    }

    /// Smallest `|p|` of a quiet lane at this `step` (infinite: none). With
    /// `|m| < 2^-1022` and the denominator `≥ ε`, the update
    /// `RN(RN(step·m) / den)` is below `((|step| 2^-1022 + 2^-1073) / ε + 2^-1073)`
    /// (each rounding a relative 2^-52 and the subnormal spacing on top), and
    /// half an ulp of a normal `p` exceeds `|p|·2^-54`; computed scaled by 2^54.
    #[inline]
    pub fn p_min(&self, step: f64) -> f64 {
        let p = (step.abs() * self.per_step + self.base).max(2f64.powi(-1021)) * LOOSE;
        if self.ok && p.is_finite() {
            p
        } else {
            f64::INFINITY
        }
    }
}

/// One step's element-wise rule, with that step's constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// `θ ← θ - lr g`.
    Sgd {
        /// The learning rate.
        lr: f64,
    },
    /// `m ← μ m + g; θ ← θ - lr m`.
    Momentum {
        /// The learning rate.
        lr: f64,
        /// μ.
        momentum: f64,
    },
    /// `m ← β1 m + (1-β1) g; v ← β2 v + (1-β2) g²; θ ← θ - step m / (√v · inv_sqrt_bc2 + ε)`.
    Adam(AdamStep),
    /// `v ← α v + (1-α) g²; θ ← θ - lr g / (√v + ε)`.
    RmsProp {
        /// The learning rate.
        lr: f64,
        /// α, the second moment's decay.
        alpha: f64,
        /// ε, added to the denominator.
        eps: f64,
    },
}

/// A rule and the state it updates: `m` (momentum buffer, Adam's first
/// moment) and `v` (second moment) cover the whole parameter vector (empty
/// where the rule has none) and are addressed by parameter offset.
#[derive(Debug)]
pub struct Update<'a> {
    /// This step's rule.
    pub rule: Rule,
    /// Momentum buffer or Adam's first moment.
    pub m: &'a mut [f64],
    /// Adam's or RMSprop's second moment.
    pub v: &'a mut [f64],
}

impl Update<'_> {
    /// Updates parameters `offset .. offset + grad.len()`, given as `params`,
    /// along `grad`: the reference rules. Inlined, so that it compiles with
    /// the caller's vector features.
    #[inline(always)]
    pub fn apply(&mut self, offset: usize, params: &mut [f64], grad: &[f64]) {
        self.apply_rounded(offset, params, grad, |x| x)
    }

    /// [`Update::apply`] as float32 training does it: the new `m`, `v` and
    /// parameters are rounded to float32 as they are stored (each computed in
    /// f64 from stored values).
    #[inline(always)]
    pub fn apply_f32(&mut self, offset: usize, params: &mut [f64], grad: &[f64]) {
        self.apply_rounded(offset, params, grad, |x| x as f32 as f64)
    }

    /// [`Update::apply`], by the AVX-512 Adam kernel when `simd` is AVX-512
    /// and the rule Adam (the same bits).
    #[inline(always)]
    pub fn apply_simd(&mut self, simd: Simd, offset: usize, params: &mut [f64], grad: &[f64]) {
        #[cfg(target_arch = "x86_64")]
        if let (Level::Avx512, Rule::Adam(_)) = (simd.level(), self.rule) {
            // SAFETY: the token proves the CPU has AVX-512F.
            return unsafe { self.adam_avx512(offset, params, grad) };
        }
        let _ = simd;
        self.apply(offset, params, grad)
    }

    /// The rules on one range; `r` rounds every stored value (the identity
    /// in f64, so that path computes exactly what it always did).
    #[inline(always)]
    fn apply_rounded<R: Fn(f64) -> f64>(
        &mut self,
        offset: usize,
        params: &mut [f64],
        grad: &[f64],
        r: R,
    ) {
        let n = grad.len();
        let params = &mut params[..n];
        match self.rule {
            Rule::Sgd { lr } => {
                for (p, &g) in params.iter_mut().zip(grad) {
                    *p = r(*p - lr * g);
                }
            }
            Rule::Momentum { lr, momentum } => {
                let m = &mut self.m[offset..offset + n];
                for ((p, &g), m) in params.iter_mut().zip(grad).zip(m) {
                    *m = r(momentum * *m + g);
                    *p = r(*p - lr * *m);
                }
            }
            Rule::Adam(AdamStep {
                beta1,
                beta2,
                eps,
                step,
                inv_sqrt_bc2,
                ..
            }) => {
                let m = &mut self.m[offset..offset + n];
                let v = &mut self.v[offset..offset + n];
                for (((p, &g), m), v) in params.iter_mut().zip(grad).zip(m).zip(v) {
                    *m = r(beta1 * *m + (1.0 - beta1) * g);
                    *v = r(beta2 * *v + (1.0 - beta2) * g * g);
                    *p = r(*p - step * *m / (v.sqrt() * inv_sqrt_bc2 + eps));
                }
            }
            Rule::RmsProp { lr, alpha, eps } => {
                let v = &mut self.v[offset..offset + n];
                for ((p, &g), v) in params.iter_mut().zip(grad).zip(v) {
                    *v = r(alpha * *v + (1.0 - alpha) * g * g);
                    *p = r(*p - lr * g / (v.sqrt() + eps));
                }
            }
        }
    }

    /// Adam on one range, eight parameters at a time by [`adam8_avx512`],
    /// the rest by the reference (the whole range if the rule is not Adam).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    pub(super) fn adam_avx512(&mut self, offset: usize, params: &mut [f64], grad: &[f64]) {
        let Rule::Adam(a) = self.rule else {
            return self.apply(offset, params, grad);
        };
        let n = grad.len();
        let n8 = n / 8 * 8;
        for c in (0..n8).step_by(8) {
            let (at, to) = (offset + c, offset + c + 8);
            adam8_avx512::<true>(
                a,
                &mut params[c..c + 8],
                &grad[c..c + 8],
                &mut self.m[at..to],
                &mut self.v[at..to],
            );
        }
        self.apply(offset + n8, &mut params[n8..n], &grad[n8..]);
    }
}

impl Update<'_> {
    /// [`step_clearing`]'s AVX-512 Adam: whether every gradient value was finite.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn adam_clearing_avx512(&mut self, params: &mut [f64], grad: &mut [f64]) -> bool {
        use std::arch::x86_64::*;
        let Rule::Adam(a) = self.rule else {
            unreachable!("step_clearing calls it for Adam only")
        };
        let n = grad.len();
        let n8 = n / 8 * 8;
        let exp = _mm512_set1_epi64(0x7ff0_0000_0000_0000);
        let mut bad: __mmask8 = 0;
        for c in (0..n8).step_by(8) {
            let g = &mut grad[c..c + 8];
            // SAFETY: `g` holds eight values.
            let bits = unsafe { _mm512_loadu_si512(g.as_ptr().cast()) };
            bad |= _mm512_cmpeq_epi64_mask(_mm512_and_si512(bits, exp), exp);
            let changed = adam8_avx512::<true>(
                a,
                &mut params[c..c + 8],
                g,
                &mut self.m[c..c + 8],
                &mut self.v[c..c + 8],
            );
            if changed {
                // SAFETY: as above.
                unsafe { _mm512_storeu_pd(g.as_mut_ptr(), _mm512_setzero_pd()) };
            }
        }
        self.apply(n8, &mut params[n8..n], &grad[n8..]);
        let mut ok = bad == 0;
        for g in &mut grad[n8..] {
            ok &= !non_finite(*g);
            *g = 0.0;
        }
        ok
    }
}

/// Adam on eight parameters (the first eight of each slice) in AVX-512
/// registers: the reference's operations in the reference's order, so the
/// same bits. Eight parameters whose gradient, `m` and `v` are all `+0.0`
/// are skipped when `AdamStep::zeros_unchanged`; returns whether it wrote.
/// `SOFT_SQRT` takes the square root on the multiply-add units
/// ([`super::root`], the same bits), leaving the divider to the division:
/// 1.52 → 1.06 ns a parameter on its own over 5 130 in-cache parameters
/// (interleaved scratch timings; no benchmarked step got faster from it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) fn adam8_avx512<const SOFT_SQRT: bool>(
    a: AdamStep,
    p: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
) -> bool {
    use std::arch::x86_64::*;
    let (p, g, m, v) = (&mut p[..8], &g[..8], &mut m[..8], &mut v[..8]);
    let c = _mm512_set1_pd;
    // SAFETY: each slice above holds exactly eight values.
    let (gv, m0, v0) = unsafe {
        (
            _mm512_loadu_pd(g.as_ptr()),
            _mm512_loadu_pd(m.as_ptr()),
            _mm512_loadu_pd(v.as_ptr()),
        )
    };
    let bits = _mm512_or_si512(
        _mm512_castpd_si512(gv),
        _mm512_or_si512(_mm512_castpd_si512(m0), _mm512_castpd_si512(v0)),
    );
    if a.zeros_unchanged && _mm512_test_epi64_mask(bits, bits) == 0 {
        return false;
    }
    // Quiet lanes (`AdamStep::quiet`): zeros through the arithmetic, `m` kept.
    // SAFETY: `p` holds eight values.
    let p0 = unsafe { _mm512_loadu_pd(p.as_ptr()) };
    let mag = _mm512_set1_epi64(0x7fff_ffff_ffff_ffff);
    let g_zero = _mm512_testn_epi64_mask(_mm512_castpd_si512(gv), mag);
    // Live parameters (no zero gradient) skip the other tests: the kernel
    // is bound by its instruction count, not by the divider.
    let quiet = if g_zero == 0 {
        0
    } else {
        let k = _mm512_and_si512(_mm512_castpd_si512(m0), mag);
        let k_in = _mm512_cmplt_epu64_mask(
            _mm512_sub_epi64(k, _mm512_set1_epi64(1)),
            _mm512_set1_epi64(a.k_max as i64),
        );
        let p_far = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(_mm512_abs_pd(p0), c(a.p_min));
        let v_ok = _mm512_testn_epi64_mask(_mm512_castpd_si512(v0), _mm512_castpd_si512(v0))
            | _mm512_cmp_pd_mask::<_CMP_GE_OQ>(v0, c(a.v_min));
        k_in & g_zero & p_far & v_ok
    };
    let mq = _mm512_mask_mov_pd(m0, quiet, _mm512_setzero_pd());
    let mv = _mm512_add_pd(
        _mm512_mul_pd(c(a.beta1), mq),
        _mm512_mul_pd(c(1.0 - a.beta1), gv),
    );
    let vv = _mm512_add_pd(
        _mm512_mul_pd(c(a.beta2), v0),
        _mm512_mul_pd(_mm512_mul_pd(c(1.0 - a.beta2), gv), gv),
    );
    let den = _mm512_add_pd(
        // The root on the multiply-add units, so that the divider does only
        // the division: the same bits (`root::sqrt8_avx512`).
        _mm512_mul_pd(
            if SOFT_SQRT {
                super::root::sqrt8_avx512(vv)
            } else {
                _mm512_sqrt_pd(vv)
            },
            c(a.inv_sqrt_bc2),
        ),
        c(a.eps),
    );
    let upd = _mm512_div_pd(_mm512_mul_pd(c(a.step), mv), den);
    // SAFETY: as above.
    unsafe {
        _mm512_storeu_pd(m.as_mut_ptr(), _mm512_mask_mov_pd(mv, quiet, m0));
        _mm512_storeu_pd(v.as_mut_ptr(), vv);
        _mm512_storeu_pd(p.as_mut_ptr(), _mm512_sub_pd(p0, upd));
    }
    true
}

kernel! {
    [simd at at]
    /// A whole step at `at`'s level: `params` and `grad` start at offset 0 of the state.
    fn step_at<'u, 'a>(u: &'u mut Update<'a>, params: &'u mut [f64], grad: &'u [f64]) {
        u.apply_simd(simd, 0, params, grad)
    }
}

kernel! {
    [simd at at]
    /// [`step_at`] as float32 training does it.
    fn step_f32_at<'u, 'a>(u: &'u mut Update<'a>, params: &'u mut [f64], grad: &'u [f64]) {
        u.apply_f32(0, params, grad)
    }
}

/// One update of every parameter along `grad`, at the level in force.
pub fn step(u: &mut Update<'_>, params: &mut [f64], grad: &[f64]) {
    let simd = Simd::current();
    // Adam at AVX-512 straight to its kernel, as `step_at` would, but
    // without the dispatch: a short step (the tabular policy's) feels it.
    #[cfg(target_arch = "x86_64")]
    if let (Level::Avx512, Rule::Adam(_)) = (simd.level(), u.rule) {
        // SAFETY: the token proves the CPU has AVX-512F.
        return unsafe { u.adam_avx512(0, params, grad) };
    }
    step_at(simd, u, params, grad)
}

/// [`step`], then `grad` set to zero, in the same pass where the AVX-512
/// Adam kernel runs: `Some(every gradient value was finite)`, or `None` (and
/// nothing done) where no fused kernel exists for the level and rule, for
/// the caller to take the two passes. Eight parameters that Adam skips keep
/// their gradient, already zero, untouched.
pub fn step_clearing(u: &mut Update<'_>, params: &mut [f64], grad: &mut [f64]) -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    if let (Level::Avx512, Rule::Adam(_)) = (Simd::current().level(), u.rule) {
        // SAFETY: the level is AVX-512 only where the CPU has AVX-512F.
        return Some(unsafe { u.adam_clearing_avx512(params, grad) });
    }
    let _ = (u, params, grad);
    None
}

/// Whether `x` is an infinity or a NaN (its exponent all ones).
#[inline(always)]
fn non_finite(x: f64) -> bool {
    const EXP: u64 = 0x7ff0_0000_0000_0000;
    x.to_bits() & EXP == EXP
}

/// [`step`] as float32 training does it ([`Update::apply_f32`]).
pub fn step_f32(u: &mut Update<'_>, params: &mut [f64], grad: &[f64]) {
    step_f32_at(Simd::current(), u, params, grad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::testing::{assert_same_bits, token, Values};

    /// `rule` on `(p, m, v)` `a` by the reference rules and on `b` by the
    /// kernel `simd` dispatches to.
    fn reference_and_simd(
        rule: Rule,
        simd: Simd,
        a: (&mut [f64], &mut [f64], &mut [f64]),
        b: (&mut [f64], &mut [f64], &mut [f64]),
        g: &[f64],
    ) {
        Update {
            rule,
            m: a.1,
            v: a.2,
        }
        .apply(0, a.0, g);
        Update {
            rule,
            m: b.1,
            v: b.2,
        }
        .apply_simd(simd, 0, b.0, g);
    }

    fn adam(eps: f64, t: i32) -> Rule {
        let (b1, b2, lr) = (0.9f64, 0.999f64, 0.01);
        Rule::Adam(AdamStep::new(
            b1,
            b2,
            eps,
            lr / (1.0 - b1.powi(t)),
            1.0 / (1.0 - b2.powi(t)).sqrt(),
        ))
    }

    fn rules(t: i32) -> Vec<Rule> {
        vec![
            Rule::Sgd { lr: 0.1 },
            Rule::Momentum {
                lr: 0.1,
                momentum: 0.9,
            },
            adam(1e-8, t),
            adam(0.0, t),
            Rule::RmsProp {
                lr: 0.01,
                alpha: 0.99,
                eps: 1e-8,
            },
        ]
    }

    /// A gradient with whole chunks of `+0.0` (which the AVX-512 kernel may
    /// skip), chunks zero only in some lanes, signed zeros and random values.
    fn gradient(vals: &mut Values, n: usize, t: usize) -> Vec<f64> {
        (0..n)
            .map(|i| match (i / 8 + t) % 3 {
                0 => 0.0,
                1 if i % 3 == 0 => -0.0,
                _ => vals.next_f64(),
            })
            .collect()
    }

    /// At `level`, each rule (applied directly and through the dispatched
    /// step, in f64 and f32) gives the reference's bits for parameters,
    /// `m` and `v`, over several steps and lengths that are not multiples of 8.
    fn update_matches_reference_at(level: Level) {
        let simd = token(level);
        let mut vals = Values::new(11);
        for n in [1, 3, 8, 21, 64, 1029] {
            for rule in rules(1) {
                let p0: Vec<f64> = vals.vec(n).iter().map(|x| 3.0 * x).collect();
                let mut want = (p0.clone(), vec![0.0; n], vec![0.0; n]);
                let mut direct = want.clone();
                let mut stepped = want.clone();
                let mut want32 = want.clone();
                let mut got32 = want.clone();
                for t in 0..6 {
                    let rule = match rule {
                        Rule::Adam(a) => adam(a.eps, t as i32 + 1),
                        r => r,
                    };
                    let g = gradient(&mut vals, n, t);
                    {
                        let (p, m, v) = (&mut want.0, &mut want.1, &mut want.2);
                        Update { rule, m, v }.apply(0, p, &g);
                    }
                    {
                        let (p, m, v) = (&mut direct.0, &mut direct.1, &mut direct.2);
                        Update { rule, m, v }.apply_simd(simd, 0, p, &g);
                    }
                    {
                        let (p, m, v) = (&mut stepped.0, &mut stepped.1, &mut stepped.2);
                        step_at(simd, &mut Update { rule, m, v }, p, &g);
                    }
                    {
                        let (p, m, v) = (&mut want32.0, &mut want32.1, &mut want32.2);
                        Update { rule, m, v }.apply_f32(0, p, &g);
                    }
                    {
                        let (p, m, v) = (&mut got32.0, &mut got32.1, &mut got32.2);
                        step_f32_at(simd, &mut Update { rule, m, v }, p, &g);
                    }
                    let what = format!("{rule:?} n={n} t={t} at {level}");
                    for (got, how) in [(&direct, "direct"), (&stepped, "step")] {
                        assert_same_bits(&want.0, &got.0, &format!("params {how} {what}"));
                        assert_same_bits(&want.1, &got.1, &format!("m {how} {what}"));
                        assert_same_bits(&want.2, &got.2, &format!("v {how} {what}"));
                    }
                    assert_same_bits(&want32.0, &got32.0, &format!("f32 params {what}"));
                    assert_same_bits(&want32.1, &got32.1, &format!("f32 m {what}"));
                    assert_same_bits(&want32.2, &got32.2, &format!("f32 v {what}"));
                }
            }
        }
    }

    #[test]
    fn update_matches_reference_plain() {
        update_matches_reference_at(Level::Plain);
    }

    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx2),
        ignore = "needs avx2, which the CPU that built the tests lacks"
    )]
    fn update_matches_reference_avx2() {
        update_matches_reference_at(Level::Avx2);
    }

    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn update_matches_reference_avx512() {
        update_matches_reference_at(Level::Avx512);
    }

    /// The fused AVX-512 Adam-and-clear gives the reference update's bits,
    /// leaves the gradient all `+0.0`, and reports a non-finite gradient
    /// value wherever it sits (in a chunk of eight, in the tail, in a chunk
    /// that is otherwise all zero).
    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn avx512_step_clearing_is_step_then_clear() {
        crate::fast::with_level(Level::Avx512, || {
            let mut vals = Values::new(5);
            for n in [1, 3, 8, 21, 64, 1029] {
                let mut bad_at: Vec<Option<usize>> = vec![None, Some(0), Some(n - 1)];
                if n > 16 {
                    // Chunk 0 of `gradient` at t = 0 is all zero.
                    bad_at.push(Some(3));
                    bad_at.push(Some(n / 2));
                }
                for bad in bad_at {
                    for poison in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                        let p0: Vec<f64> = vals.vec(n).iter().map(|x| 3.0 * x).collect();
                        let mut want = (p0.clone(), vec![0.0; n], vec![0.0; n]);
                        let mut got = want.clone();
                        for t in 0..4 {
                            let rule = adam(1e-8, t as i32 + 1);
                            let mut g = gradient(&mut vals, n, t);
                            if t == 3 {
                                if let Some(i) = bad {
                                    g[i] = poison;
                                }
                            }
                            let (p, m, v) = (&mut want.0, &mut want.1, &mut want.2);
                            Update { rule, m, v }.apply(0, p, &g);
                            let finite = g.iter().all(|x| x.is_finite());
                            let (p, m, v) = (&mut got.0, &mut got.1, &mut got.2);
                            let ok = step_clearing(&mut Update { rule, m, v }, p, &mut g);
                            let what = format!("n={n} t={t} bad={bad:?} {poison}");
                            assert_eq!(ok, Some(finite), "{what}");
                            assert!(g.iter().all(|x| x.to_bits() == 0), "{what}: not cleared");
                            assert_same_bits(&want.0, &got.0, &format!("params {what}"));
                            assert_same_bits(&want.1, &got.1, &format!("m {what}"));
                            assert_same_bits(&want.2, &got.2, &format!("v {what}"));
                        }
                    }
                }
            }
        })
        .expect("the build-time flag says the CPU has AVX-512F");
    }

    /// There is no fused kernel below AVX-512 or for another rule: the
    /// caller is told to take its two passes, and nothing is touched.
    #[test]
    fn step_clearing_declines_where_it_has_no_kernel() {
        let n = 16;
        for level in [Level::Plain, Level::Avx2]
            .into_iter()
            .filter(|l| l.supported())
        {
            crate::fast::with_level(level, || {
                for rule in rules(1) {
                    let (mut p, mut m, mut v) = (vec![1.0; n], vec![0.0; n], vec![0.0; n]);
                    let mut g = vec![0.5; n];
                    let r = step_clearing(
                        &mut Update {
                            rule,
                            m: &mut m,
                            v: &mut v,
                        },
                        &mut p,
                        &mut g,
                    );
                    assert_eq!(r, None, "{rule:?} at {level}");
                    assert!(p.iter().all(|&x| x == 1.0) && g.iter().all(|&x| x == 0.5));
                }
            })
            .expect("plain is always available");
        }
    }

    /// Quiet lanes (`AdamStep::quiet`): dead parameters whose first moment
    /// decays through the subnormal range to its fixed point, beside live
    /// ones, tiny, subnormal and zero parameters, zero, normal and subnormal
    /// second moments; the AVX-512 kernel matches the reference bit for bit
    /// at every step, for several β1, learning rates and ε (including ones
    /// whose update bound rules quiet lanes out).
    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn avx512_quiet_lanes_give_the_reference_bits() {
        let simd = token(Level::Avx512);
        let n = 203;
        let p0: Vec<f64> = (0..n)
            .map(|i| match i % 7 {
                0 => 0.0,
                1 => -0.0,
                2 => 1e-300 * i as f64,
                3 => f64::from_bits(i as u64),
                _ => (i as f64 * 0.37).sin(),
            })
            .collect();
        let m0: Vec<f64> = (0..n)
            .map(|i| {
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                match i % 5 {
                    0 => 0.0,
                    1 => sign * f64::from_bits((i % 9) as u64 + 1),
                    2 => sign * 3e-308 * (i as f64),
                    _ => 1e-3 * (i as f64 * 0.11).cos(),
                }
            })
            .collect();
        let v0: Vec<f64> = (0..n)
            .map(|i| match i % 3 {
                0 => 0.0,
                1 => f64::from_bits((i % 5) as u64 + 1),
                _ => 1e-6 * (1.0 + i as f64),
            })
            .collect();
        let grad = |i: usize, t: usize| match i % 4 {
            1 => 1e-2 * ((i * 31 + t) as f64).sin(),
            0 if i.is_multiple_of(8) => -0.0,
            _ => 0.0,
        };
        for (beta1, lr, eps) in [
            (0.9, 3e-3, 1e-8),
            (0.5, 0.1, 1e-8),
            (0.99, 1e-3, 1e-300),
            (0.9, 1e300, 1e-8),
        ] {
            let (mut pa, mut ma, mut va) = (p0.clone(), m0.clone(), v0.clone());
            let (mut pb, mut mb, mut vb) = (p0.clone(), m0.clone(), v0.clone());
            let mut quiet_seen = false;
            for t in 1..=300 {
                let b1: f64 = beta1;
                let rule = Rule::Adam(AdamStep::new(
                    beta1,
                    0.999,
                    eps,
                    lr / (1.0 - b1.powi(t)),
                    1.0 / (1.0 - 0.999f64.powi(t)).sqrt(),
                ));
                let g: Vec<f64> = (0..n).map(|i| grad(i, t as usize)).collect();
                let before = mb.clone();
                reference_and_simd(
                    rule,
                    simd,
                    (&mut pa, &mut ma, &mut va),
                    (&mut pb, &mut mb, &mut vb),
                    &g,
                );
                quiet_seen |= (0..n).any(|i| {
                    let k = before[i].to_bits() << 1 >> 1;
                    k != 0 && k < 8 && g[i] == 0.0 && before[i] == mb[i]
                });
                let what = format!("step {t}, β1 {beta1}, lr {lr}, ε {eps}");
                assert_same_bits(&pa, &pb, &format!("params {what}"));
                assert_same_bits(&ma, &mb, &format!("m {what}"));
                assert_same_bits(&va, &vb, &format!("v {what}"));
            }
            // β1 = 1/2 has no fixed point but 0: nothing to see there.
            assert!(
                quiet_seen || beta1 == 0.5,
                "β1 {beta1}: no moment reached its fixed point"
            );
        }
    }

    /// The cold review's reproducers: a huge ε (the bound's scale factor
    /// subnormal) and an infinite parameter with an infinite step or a bound
    /// that is off must get the reference's bits.
    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn avx512_quiet_lanes_at_the_edges() {
        let simd = token(Level::Avx512);
        let cases: [(f64, f64, f64, f64, f64); 4] = [
            // (β1, ε, step, p, m)
            (
                0.99,
                1e300,
                1e300,
                f64::from_bits(0x0040_0000_0000_1001),
                f64::from_bits(48),
            ),
            (
                1.0 - 2f64.powi(-40),
                1e40,
                1e40,
                1e-300,
                f64::from_bits(((1 << 52) - 1) >> 13),
            ),
            (0.9, 5e-324, 1e300, f64::INFINITY, f64::from_bits(5)),
            (
                0.9,
                1e-8,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::from_bits(5),
            ),
        ];
        for (beta1, eps, step, p0, m0) in cases {
            let rule = Rule::Adam(AdamStep::new(beta1, 0.999, eps, step, 1.0));
            let g = vec![-0.0; 8];
            let (mut pa, mut ma, mut va) = (vec![p0; 8], vec![m0; 8], vec![0.0; 8]);
            let (mut pb, mut mb, mut vb) = (pa.clone(), ma.clone(), va.clone());
            reference_and_simd(
                rule,
                simd,
                (&mut pa, &mut ma, &mut va),
                (&mut pb, &mut mb, &mut vb),
                &g,
            );
            let what = format!("β1 {beta1}, ε {eps}, step {step}, p {p0:e}");
            let same = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
            };
            assert!(same(&pa, &pb), "params {what}: {:e} vs {:e}", pa[0], pb[0]);
            assert!(same(&ma, &mb) && same(&va, &vb), "moments {what}");
        }
    }

    /// The fixed point of `β1·m` is the one IEEE rounding gives: every
    /// subnormal significand up to `k_max` rounds back to itself, the next
    /// one does not (unless by a tie, left out on purpose).
    #[test]
    fn quiet_fixed_point_matches_the_rounding() {
        for (beta1, k_max) in [(0.5, 0), (0.75, 1), (0.9, 5), (0.99, 49), (0.0, 0)] {
            let k = QuietBounds::new(beta1, 0.999, 1e-8).k_max;
            assert_eq!(k, k_max, "β1 {beta1}");
            for j in 1..=k {
                assert_eq!(
                    (beta1 * f64::from_bits(j)).to_bits(),
                    j,
                    "β1 {beta1}, k {j}"
                );
            }
            let next = k + 1;
            let tie = next as f64 * (1.0 - beta1) == 0.5;
            let kept = (beta1 * f64::from_bits(next)).to_bits() == next;
            assert!(
                !kept || tie || beta1 < 0.5,
                "β1 {beta1}: k {next} is kept too"
            );
        }
        assert!(
            QuietBounds::new(0.9, 0.999, 0.0).p_min(1e-3).is_infinite(),
            "ε = 0 allows no quiet lane"
        );
        assert!(QuietBounds::new(0.9, 0.999, 1e-8)
            .p_min(f64::INFINITY)
            .is_infinite());
        // The bound with its subnormal terms, computed directly, is below the scaled one.
        let (step, eps) = (3e-3, 1e-8);
        let tiny = |k: u64| f64::from_bits(k);
        let u = (step * 2f64.powi(-1022) + tiny(2)) / eps + tiny(2);
        assert!(QuietBounds::new(0.9, 0.999, eps).p_min(step) >= u * 2f64.powi(54));
    }

    /// Where skipping an all-zero chunk would change a bit, the AVX-512
    /// kernel must not skip: a negative step turns `-0.0` parameters into
    /// `+0.0` in the reference.
    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn avx512_adam_skips_only_where_nothing_changes() {
        let simd = token(Level::Avx512);
        for step in [-0.01, 0.0, -0.0, f64::INFINITY, f64::NAN, 0.01] {
            let rule = Rule::Adam(AdamStep::new(0.9, 0.999, 1e-8, step, 1.0));
            let (mut pa, mut pb) = (vec![-0.0; 16], vec![-0.0; 16]);
            let (mut ma, mut mb, mut va, mut vb) =
                (vec![0.0; 16], vec![0.0; 16], vec![0.0; 16], vec![0.0; 16]);
            let g = vec![0.0; 16];
            reference_and_simd(
                rule,
                simd,
                (&mut pa, &mut ma, &mut va),
                (&mut pb, &mut mb, &mut vb),
                &g,
            );
            let same = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
            };
            assert!(same(&pa, &pb), "step {step}: {pa:?} vs {pb:?}");
            assert!(same(&ma, &mb) && same(&va, &vb), "step {step}");
        }
    }
}
