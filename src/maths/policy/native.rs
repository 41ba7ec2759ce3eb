//! The native float32 compute path (`precision = "f32-native"`): the policy's
//! forward and backward passes, the softmax and the optimiser step computed
//! in a float type `T` ([`Real`]), every intermediate result rounded to `T`
//! as a float32 framework rounds it (sums inside a matrix product too).
//!
//! Written once, generic over `T`: at `T = f32` it is the native path; at
//! `T = f64` it is the same algorithm in double precision, which the tests
//! check against the lab's f64 loop, so the f32 path is the f64 one up to
//! the float type. Two functions are not computed in `T` arithmetic:
//! `tanh` and `exp` of an f32 are evaluated in f64 and rounded once
//! ([`Real::tanh_v`], [`Real::exp_v`]) — a correctly rounded result in
//! nearly every case, as accurate as a float32 libm's `tanhf`/`expf`
//! (≤ 1 ulp) and vectorisable. The pairwise loss itself is evaluated on the
//! (exactly converted) float32 log-probabilities and its partials rounded to
//! float32: it is scalar work per pair, as in the emulation
//! ([`crate::maths::precision`]).
//!
//! At AVX-512, float32 has kernels of its own for the hot loops
//! ([`crate::fast::native`], [`crate::fast::dense::affine_rows16_simd`]):
//! the forward's dot products, each layer's backward fused with Adam, and
//! Adam alone. They give this generic code's bits (tested at every level);
//! it is their reference and runs at every other level.
//!
//! Supported families: tabular and the MLP (the paper's network); a
//! [`Net`] is what a policy declares it can run natively
//! ([`crate::maths::policy::Policy::native`]).

use crate::fast::{self, Simd};
use crate::maths::numerics::{exp_vectorizable, tanh_vectorizable};
use crate::maths::optim::{decay, OptimizerKind};
use crate::maths::policy::{Activation, Mlp};
use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

/// A float type the native path computes in (`f32`, or `f64` for the tests).
pub trait Real:
    fast::dense::Lane
    + Copy
    + Debug
    + Default
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// The name of the precision that computes in this type.
    const NAME: &'static str;
    /// `x` rounded to this type.
    fn of(x: f64) -> Self;
    /// The exact f64 value.
    fn f64(self) -> f64;
    /// Square root (correctly rounded, as IEEE requires).
    fn sqrt(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `tanh`, vectorisable (see the module documentation).
    fn tanh_v(self) -> Self;
    /// `exp`, vectorisable (see the module documentation).
    fn exp_v(self) -> Self;
    /// The larger of two values (NaN-ignoring, as `f64::max`).
    fn max(self, other: Self) -> Self;
    /// `out[r] = b + W inp[r]` for each row `r` of `inp` (`W` is `n × k`,
    /// row-major), summed as [`fast::dense::affine_rows16`] does; f32 by
    /// the kernel of `simd`'s level (the same bits).
    fn affine_rows(simd: Simd, inp: &[Self], w: &[Self], b: &[Self], k: usize, out: &mut [Self]);
}

/// [`Real`] for a primitive float; `$of`/`$wide` convert from and to f64,
/// and `tanh`/`exp` are the f64 vectorisable ones, rounded once.
macro_rules! real {
    ($t:ty, $name:literal, $of:expr, $wide:expr, $affine:expr) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = $name;
            #[inline(always)]
            fn of(x: f64) -> Self {
                $of(x)
            }
            #[inline(always)]
            fn f64(self) -> f64 {
                $wide(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn tanh_v(self) -> Self {
                $of(tanh_vectorizable($wide(self)))
            }
            #[inline(always)]
            fn exp_v(self) -> Self {
                $of(exp_vectorizable($wide(self)))
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn affine_rows(
                simd: Simd,
                inp: &[Self],
                w: &[Self],
                b: &[Self],
                k: usize,
                out: &mut [Self],
            ) {
                $affine(simd, inp, w, b, k, out)
            }
        }
    };
}

real!(
    f64,
    "f64",
    |x: f64| x,
    |x: f64| x,
    |_, inp, w, b, k, out| { fast::dense::affine_rows16(inp, w, b, k, out) }
);
real!(
    f32,
    "f32",
    |x: f64| x as f32,
    f64::from,
    fast::dense::affine_rows16_simd
);

/// Adam's parameters that no longer move, updated without subnormal
/// arithmetic. When a parameter's gradient is exactly zero (a dead ReLU
/// unit's weights), its first moment decays geometrically into the
/// subnormal range until `β1·m` rounds back to `m` (a few units of the last
/// place: `k (1 − β1) < 1/2` for `|m| = k · 2^-149`), and stays there; on x86
/// every instruction with a subnormal operand or result takes a slow
/// microcode assist, which cost about a third of a float32 step of the
/// paper's MLP. IEEE semantics are kept (no flush to zero, as PyTorch's CPU
/// float32): for a "quiet" lane — gradient ±0, first moment at that fixed
/// point, second moment zero or safely normal, the parameter far above any
/// update such a moment can make — the result is known exactly without the
/// arithmetic: `m` and `p` keep their bits (the update is below half the
/// parameter's last place) and `v ← β2·v` is ordinary. The arithmetic then
/// sees zeros in those lanes instead of the subnormal moment.
pub trait QuietAdam: Real {
    /// This step's bounds for [`QuietAdam::quiet_lane`], from its constants.
    fn quiet_limits(step: Self, eps: Self, beta1: Self, beta2: Self) -> QuietLimits<Self>;
    /// Whether the lane is quiet.
    fn quiet_lane(p: Self, g: Self, m: Self, v: Self, q: &QuietLimits<Self>) -> bool;
    /// [`NativeUpdate::apply`] by a kernel of `simd`'s level, where one
    /// exists for this type and rule (the same bits); `false`: none ran.
    #[inline(always)]
    fn apply_simd(
        _: Simd,
        _: &mut NativeUpdate<'_, Self>,
        _: usize,
        _: &mut [Self],
        _: &[Self],
    ) -> bool {
        false
    }
    /// `dense_backward_step` by a kernel of `simd`'s level, where one
    /// exists for this type and rule (the same bits); `false`: none ran.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn backward_step_simd(
        _: Simd,
        _: fast::native::Affine,
        _: &[Self],
        _: &[Self],
        _: &mut [Self],
        _: Option<&mut [Self]>,
        _: &mut [Self],
        _: &mut NativeUpdate<'_, Self>,
    ) -> bool {
        false
    }
}

/// One step's bounds of a quiet lane: `|p| ≥ p_min`, `v = 0` or `v ≥ v_min`
/// (`β2·v` stays normal), `|m| = k · 2^-149` with `1 ≤ k ≤ k_max`.
#[derive(Debug, Clone, Copy)]
pub struct QuietLimits<T> {
    /// Smallest parameter magnitude an update from a subnormal `m` cannot change.
    pub p_min: T,
    /// Smallest normal second moment whose decay stays normal.
    pub v_min: T,
    /// Largest subnormal significand that `β1·m` rounds back to (0: none).
    pub k_max: u32,
}

/// The f64 path (the tests' twin of the f32 one) takes no quiet lanes.
impl QuietAdam for f64 {
    #[inline(always)]
    fn quiet_limits(_: f64, _: f64, _: f64, _: f64) -> QuietLimits<f64> {
        QuietLimits {
            p_min: f64::INFINITY,
            v_min: f64::INFINITY,
            k_max: 0,
        }
    }
    #[inline(always)]
    fn quiet_lane(_: f64, _: f64, _: f64, _: f64, _: &QuietLimits<f64>) -> bool {
        false
    }
}

impl QuietAdam for f32 {
    fn quiet_limits(step: f32, eps: f32, beta1: f32, beta2: f32) -> QuietLimits<f32> {
        // 2^e built from its bits (exact; `powi` is a library call, once a step).
        let two = |e: i32| f64::from_bits(((1023 + e) as u64) << 52);
        let loose = 1.0 + two(-20);
        // |m| < 2^-126 and den ≥ eps bound the update `RN(RN(step·m) / den)`,
        // each rounding allowed a relative 2^-23 and the subnormal spacing on top.
        let num = f64::from(step).abs() * two(-126) * loose + two(-148);
        let u = num / f64::from(eps) * loose + two(-148);
        // Half an ulp of a normal p is more than |p|·2^-25.
        let p_min = (u * two(25)).max(two(-125)) * loose;
        let ok = eps > 0.0 && eps.is_finite() && step.is_finite() && p_min < f64::from(f32::MAX);
        let v_min = two(-126) / f64::from(beta2) * loose;
        // β1 = M·2^-24 for β1 in [1/2, 1): RN(β1·k) = k, ties excluded, iff
        // k (2^24 − M) < 2^23 (integer arithmetic, exact).
        let k_max = if (0.5..1.0).contains(&beta1) {
            let d = (1u32 << 24) - (f64::from(beta1) * two(24)) as u32;
            ((1u32 << 23) - 1) / d
        } else {
            0
        };
        QuietLimits {
            p_min: if ok { p_min as f32 } else { f32::INFINITY },
            // Off means no lane at all: `|p| ≥ ∞` holds for an infinite parameter.
            k_max: if ok { k_max } else { 0 },
            v_min: if beta2 > 0.0 && v_min < 1.0 {
                (v_min * loose) as f32
            } else {
                f32::INFINITY
            },
        }
    }
    #[inline(always)]
    fn quiet_lane(p: f32, g: f32, m: f32, v: f32, q: &QuietLimits<f32>) -> bool {
        const MAG: u32 = 0x7fff_ffff;
        // A subnormal's magnitude bits are its significand k (exponent 0).
        let k = m.to_bits() & MAG;
        g.to_bits() & MAG == 0
            && k != 0
            && k <= q.k_max
            && p.abs() >= q.p_min
            && (v.to_bits() == 0 || v >= q.v_min)
    }
    #[inline(always)]
    fn apply_simd(
        simd: Simd,
        upd: &mut NativeUpdate<'_, f32>,
        at: usize,
        p: &mut [f32],
        g: &[f32],
    ) -> bool {
        let Some(a) = upd.adam32() else {
            return false;
        };
        let e = at + p.len();
        fast::native::adam_simd(simd, &a, p, g, &mut upd.m[at..e], &mut upd.v[at..e])
    }
    #[inline(always)]
    fn backward_step_simd(
        simd: Simd,
        layer: fast::native::Affine,
        inp: &[f32],
        dout: &[f32],
        params: &mut [f32],
        din: Option<&mut [f32]>,
        grad: &mut [f32],
        upd: &mut NativeUpdate<'_, f32>,
    ) -> bool {
        let Some(a) = upd.adam32() else {
            return false;
        };
        let state = (&mut *upd.m, &mut *upd.v);
        fast::native::backward_adam_simd(simd, layer, inp, dout, params, din, grad, state, &a)
    }
}

/// A policy the native path can run: its shape and, for the MLP, its layers.
#[derive(Debug, Clone)]
pub enum Net {
    /// One free logit per (prompt, response): the logits are the parameters.
    Tabular,
    /// The paper's three-layer MLP (same parameter layout as [`Mlp`]).
    Mlp(Mlp),
}

impl Net {
    /// Length of the scratch buffer [`Net::forward`] fills.
    pub fn scratch_len(&self) -> usize {
        match self {
            Net::Tabular => 0,
            Net::Mlp(m) => 4 * m.n_prompts * m.width,
        }
    }

    /// Row-major `X × Y` logits at `params` (the MLP caches its activations
    /// in `scratch` for [`Net::backward_step`]).
    pub fn forward<T: NativeKernels>(&self, params: &[T], scratch: &mut [T], logits: &mut [T]) {
        match self {
            Net::Tabular => logits.copy_from_slice(params),
            Net::Mlp(m) => T::mlp_forward(m, params, scratch, logits),
        }
    }

    /// Back-propagates `dlogits` (for the last `forward`) into `grad` (the
    /// MLP's; the tabular policy's gradient is `dlogits` itself, `grad` is
    /// left alone) and updates `params` with `upd`, layer by layer: each weight row is
    /// updated as soon as its gradient is known (still in L1), after the
    /// input gradient has read the old weights. Each value's update depends
    /// only on its own gradient and state, so the bits are those of a whole
    /// backward pass followed by one update.
    pub fn backward_step<T: NativeKernels>(
        &self,
        params: &mut [T],
        scratch: &mut [T],
        dlogits: &[T],
        grad: &mut [T],
        upd: &mut NativeUpdate<'_, T>,
    ) {
        match self {
            Net::Tabular => T::step(upd, params, dlogits),
            Net::Mlp(m) => T::mlp_backward_step(m, params, scratch, dlogits, grad, upd),
        }
    }
}

/// The layer sizes of an [`Mlp`]'s flat parameter vector, in order:
/// `W1 (H×X), b1, W2 (H×H), b2, W3 (Y×H), b3`.
fn mlp_blocks(m: &Mlp) -> [usize; 6] {
    let (x, h, y) = (m.n_prompts, m.width, m.n_responses);
    [h * x, h, h * h, h, y * h, y]
}

/// Back-propagates `dout` (rows × n) through `out = b + W inp`, where `W`
/// (`n × k`) is at offset `w` of `params` and `b` follows it, and updates
/// both: `din[r] = Σ_i dout[r,i] W[i]` (if asked, from the old weights),
/// then per row `gw[i] = Σ_r dout[r,i] inp[r]` into `grad` (same offsets)
/// and its update, then `gb[i] = Σ_r dout[r,i]` and the biases' update;
/// each sum in row order.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dense_backward_step<T: QuietAdam>(
    simd: Simd,
    inp: &[T],
    params: &mut [T],
    w: usize,
    dout: &[T],
    k: usize,
    grad: &mut [T],
    mut din: Option<&mut [T]>,
    upd: &mut NativeUpdate<'_, T>,
) {
    let n = dout.len() / (inp.len() / k);
    let layer = fast::native::Affine { k, n, w };
    if T::backward_step_simd(
        simd,
        layer,
        inp,
        dout,
        params,
        din.as_deref_mut(),
        grad,
        upd,
    ) {
        return;
    }
    if let Some(din) = din {
        let wm = &params[w..w + n * k];
        for (dinrow, drow) in din.chunks_exact_mut(k).zip(dout.chunks_exact(n)) {
            combine(dinrow, drow, 1, wm, k);
        }
    }
    for i in 0..n {
        let at = w + i * k;
        combine(&mut grad[at..at + k], &dout[i..], n, inp, k);
        upd.apply(at, &mut params[at..at + k], &grad[at..at + k]);
    }
    let b = w + n * k;
    for (i, gbi) in grad[b..b + n].iter_mut().enumerate() {
        let mut sb = T::ZERO;
        for drow in dout.chunks_exact(n) {
            sb += drow[i];
        }
        *gbi = sb;
    }
    upd.apply(b, &mut params[b..b + n], &grad[b..b + n]);
}

/// `out[c] = Σ_j coef[j·stride] · src[j·k + c]` over the rows `j` of `src`
/// (in order): each output summed in registers instead of one
/// read-modify-write pass over `out` per row, 64 columns at a time (the
/// additions of different columns, in several vector registers, overlap
/// instead of waiting on one register's chain), then 16, then one.
#[inline(always)]
fn combine<T: Real>(out: &mut [T], coef: &[T], stride: usize, src: &[T], k: usize) {
    let c = combine_cols::<T, 64>(out, coef, stride, src, k, 0);
    let c = combine_cols::<T, 16>(out, coef, stride, src, k, c);
    combine_cols::<T, 1>(out, coef, stride, src, k, c);
}

/// [`combine`] for the columns from `start` on, `L` at a time, as long as
/// `L` remain; returns the first column not done.
#[inline(always)]
fn combine_cols<T: Real, const L: usize>(
    out: &mut [T],
    coef: &[T],
    stride: usize,
    src: &[T],
    k: usize,
    start: usize,
) -> usize {
    let mut c = start;
    while c + L <= out.len() {
        let mut acc = [T::ZERO; L];
        for (j, row) in src.chunks_exact(k).enumerate() {
            let a = coef[j * stride];
            let xs: &[T; L] = row[c..c + L].try_into().expect("L columns");
            for l in 0..L {
                acc[l] += a * xs[l];
            }
        }
        out[c..c + L].copy_from_slice(&acc);
        c += L;
    }
    c
}

#[inline(always)]
fn activate<T: Real>(act: Activation, xs: &mut [T]) {
    match act {
        Activation::Tanh => xs.iter_mut().for_each(|v| *v = v.tanh_v()),
        Activation::Relu => xs.iter_mut().for_each(|v| *v = v.max(T::ZERO)),
    }
}

/// `g ← g φ'(h)` from the activation's outputs `h`.
#[inline(always)]
fn scale_by_deriv<T: Real>(act: Activation, g: &mut [T], h: &[T]) {
    match act {
        Activation::Tanh => {
            for (g, &hv) in g.iter_mut().zip(h) {
                *g = *g * (T::ONE - hv * hv);
            }
        }
        Activation::Relu => {
            for (g, &hv) in g.iter_mut().zip(h) {
                *g = if hv > T::ZERO { *g } else { T::ZERO };
            }
        }
    }
}

/// The MLP's forward pass in `T` (the one-hot first layer is a column lookup).
#[inline(always)]
fn mlp_forward_generic<T: Real>(
    simd: Simd,
    m: &Mlp,
    params: &[T],
    scratch: &mut [T],
    logits: &mut [T],
) {
    let (x, h) = (m.n_prompts, m.width);
    let [s_w1, s_b1, s_w2, s_b2, s_w3, _] = mlp_blocks(m);
    let (w1, rest) = params.split_at(s_w1);
    let (b1, rest) = rest.split_at(s_b1);
    let (w2, rest) = rest.split_at(s_w2);
    let (b2, rest) = rest.split_at(s_b2);
    let (w3, b3) = rest.split_at(s_w3);
    let (h1, rest) = scratch.split_at_mut(x * h);
    let h2 = &mut rest[..x * h];
    for (xi, row) in h1.chunks_exact_mut(h).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = w1[j * x + xi] + b1[j];
        }
    }
    activate(m.activation, h1);
    T::affine_rows(simd, h1, w2, b2, h, h2);
    activate(m.activation, h2);
    T::affine_rows(simd, h2, w3, b3, h, logits);
}

/// The MLP's backward pass in `T` fused with the update
/// ([`Net::backward_step`]); the gradient lands in `grad` (the parameter
/// layout).
#[inline(always)]
fn mlp_backward_step_generic<T: QuietAdam>(
    simd: Simd,
    m: &Mlp,
    params: &mut [T],
    scratch: &mut [T],
    dlogits: &[T],
    grad: &mut [T],
    upd: &mut NativeUpdate<'_, T>,
) {
    let (x, h) = (m.n_prompts, m.width);
    let [s_w1, s_b1, s_w2, s_b2, ..] = mlp_blocks(m);
    let w2 = s_w1 + s_b1;
    let w3 = w2 + s_w2 + s_b2;
    let (acts, grads) = scratch.split_at_mut(2 * x * h);
    let (h1, h2) = acts.split_at(x * h);
    let (da2, da1) = grads.split_at_mut(x * h);
    dense_backward_step(simd, h2, params, w3, dlogits, h, grad, Some(&mut *da2), upd);
    scale_by_deriv(m.activation, da2, h2);
    dense_backward_step(simd, h1, params, w2, da2, h, grad, Some(&mut *da1), upd);
    scale_by_deriv(m.activation, da1, h1);
    let (g_w1, rest) = grad.split_at_mut(s_w1);
    let g_b1 = &mut rest[..s_b1];
    g_b1.fill(T::ZERO);
    for (xi, row) in da1.chunks_exact(h).enumerate() {
        for (j, &g) in row.iter().enumerate() {
            g_w1[j * x + xi] = g;
            g_b1[j] += g;
        }
    }
    upd.apply_simd(simd, 0, &mut params[..w2], &grad[..w2]);
}

/// Row-wise log-softmax and softmax in `T`, as a float32 framework computes
/// them: `l = z - max`, `e = exp(l)`, `s = Σ e` (in row order),
/// `log π = l - ln s`, `π = e / s`. Returns whether every logit has
/// `|z| ≤ limit` (false on NaN). The exponentials run over the whole
/// matrix at once (rows of the toy are short).
#[inline(always)]
fn softmax_generic<T: Real>(z: &[T], y: usize, logp: &mut [T], probs: &mut [T], limit: T) -> bool {
    let mut ok = true;
    for (zr, lr) in z.chunks_exact(y).zip(logp.chunks_exact_mut(y)) {
        let mut m = zr[0];
        for &v in zr {
            ok &= v <= limit && -v <= limit;
            m = m.max(v);
        }
        for (l, &v) in lr.iter_mut().zip(zr) {
            *l = v - m;
        }
    }
    for (p, &l) in probs.iter_mut().zip(logp.iter()) {
        *p = l.exp_v();
    }
    for (lr, pr) in logp.chunks_exact_mut(y).zip(probs.chunks_exact_mut(y)) {
        let mut s = T::ZERO;
        for &p in pr.iter() {
            s += p;
        }
        let ln_s = s.ln();
        for (l, p) in lr.iter_mut().zip(pr.iter_mut()) {
            *l = *l - ln_s;
            *p = *p / s;
        }
    }
    ok
}

/// One optimiser step's rule with its constants in `T` (the bias
/// corrections computed in f64, as PyTorch computes them as Python floats).
#[derive(Debug, Clone, Copy)]
pub enum NativeRule<T> {
    /// `θ ← θ - lr g`.
    Sgd {
        /// The learning rate.
        lr: T,
    },
    /// `m ← μ m + g; θ ← θ - lr m`.
    Momentum {
        /// The learning rate.
        lr: T,
        /// μ.
        momentum: T,
    },
    /// Adam, as [`crate::fast::update::Rule::Adam`].
    Adam {
        /// β1.
        beta1: T,
        /// 1 - β1.
        one_minus_beta1: T,
        /// β2.
        beta2: T,
        /// 1 - β2.
        one_minus_beta2: T,
        /// ε.
        eps: T,
        /// `lr / (1 - β1^t)`.
        step: T,
        /// `1 / √(1 - β2^t)`.
        inv_sqrt_bc2: T,
    },
    /// RMSprop, as [`crate::fast::update::Rule::RmsProp`].
    RmsProp {
        /// The learning rate.
        lr: T,
        /// α.
        alpha: T,
        /// 1 - α.
        one_minus_alpha: T,
        /// ε.
        eps: T,
    },
}

/// The element-wise update of one step, in `T`.
#[inline(always)]
fn step_generic<T: QuietAdam>(
    rule: NativeRule<T>,
    q: &QuietLimits<T>,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
) {
    match rule {
        NativeRule::Sgd { lr } => {
            for (p, &g) in p.iter_mut().zip(g) {
                *p = *p - lr * g;
            }
        }
        NativeRule::Momentum { lr, momentum } => {
            for ((p, &g), m) in p.iter_mut().zip(g).zip(m) {
                *m = momentum * *m + g;
                *p = *p - lr * *m;
            }
        }
        NativeRule::Adam {
            beta1,
            one_minus_beta1,
            beta2,
            one_minus_beta2,
            eps,
            step,
            inv_sqrt_bc2,
        } => {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                let quiet = T::quiet_lane(*p, g, *m, *v, q);
                // Quiet lanes: zeros through the arithmetic (no subnormal
                // operand), the moment kept, the parameter `p - 0`.
                let mq = if quiet { T::ZERO } else { *m };
                let m_new = beta1 * mq + one_minus_beta1 * g;
                *v = beta2 * *v + one_minus_beta2 * g * g;
                *p = *p - step * m_new / (v.sqrt() * inv_sqrt_bc2 + eps);
                if !quiet {
                    *m = m_new;
                }
            }
        }
        NativeRule::RmsProp {
            lr,
            alpha,
            one_minus_alpha,
            eps,
        } => {
            for ((p, &g), v) in p.iter_mut().zip(g).zip(v) {
                *v = alpha * *v + one_minus_alpha * g * g;
                *p = *p - lr * g / (v.sqrt() + eps);
            }
        }
    }
}

/// The optimiser of the native path: its state in `T`, its per-step
/// constants in f64 then rounded to `T`.
#[derive(Debug, Clone)]
pub struct NativeOptimizer<T> {
    kind: OptimizerKind,
    lr: f64,
    m: Vec<T>,
    v: Vec<T>,
    beta_pow: (f64, f64),
}

impl<T: NativeKernels> NativeOptimizer<T> {
    /// A fresh optimiser for `n` parameters (state zero).
    pub fn new(kind: OptimizerKind, lr: f64, n: usize) -> Self {
        let (m, v) = match kind {
            OptimizerKind::Sgd { momentum: 0.0 } => (0, 0),
            OptimizerKind::Sgd { .. } => (n, 0),
            OptimizerKind::Adam { .. } => (n, n),
            OptimizerKind::RmsProp { .. } => (0, n),
        };
        NativeOptimizer {
            kind,
            lr,
            m: vec![T::ZERO; m],
            v: vec![T::ZERO; v],
            beta_pow: (1.0, 1.0),
        }
    }

    /// This step's rule (advances Adam's `β^t`).
    fn rule(&mut self) -> NativeRule<T> {
        let lr = self.lr;
        match self.kind {
            OptimizerKind::Sgd { momentum } if self.m.is_empty() || momentum == 0.0 => {
                NativeRule::Sgd { lr: T::of(lr) }
            }
            OptimizerKind::Sgd { momentum } => NativeRule::Momentum {
                lr: T::of(lr),
                momentum: T::of(momentum),
            },
            OptimizerKind::Adam { beta1, beta2, eps } => {
                self.beta_pow = (decay(self.beta_pow.0, beta1), decay(self.beta_pow.1, beta2));
                let (bc1, bc2) = (1.0 - self.beta_pow.0, 1.0 - self.beta_pow.1);
                NativeRule::Adam {
                    beta1: T::of(beta1),
                    one_minus_beta1: T::of(1.0 - beta1),
                    beta2: T::of(beta2),
                    one_minus_beta2: T::of(1.0 - beta2),
                    eps: T::of(eps),
                    step: T::of(lr / bc1),
                    inv_sqrt_bc2: T::of(1.0 / bc2.sqrt()),
                }
            }
            OptimizerKind::RmsProp { alpha, eps } => NativeRule::RmsProp {
                lr: T::of(lr),
                alpha: T::of(alpha),
                one_minus_alpha: T::of(1.0 - alpha),
                eps: T::of(eps),
            },
        }
    }

    /// This step's update (advances Adam's `β^t`): apply it to every
    /// parameter once, in any order of slices.
    pub fn update(&mut self) -> NativeUpdate<'_, T> {
        let rule = self.rule();
        NativeUpdate::new(rule, &mut self.m, &mut self.v)
    }

    /// One update of `params` along `grad`.
    pub fn step(&mut self, params: &mut [T], grad: &[T]) {
        T::step(&mut self.update(), params, grad);
    }
}

/// One step of a [`NativeOptimizer`]: its rule, the rule's quiet-lane
/// bounds (computed once a step) and the state it updates.
#[derive(Debug)]
pub struct NativeUpdate<'a, T> {
    rule: NativeRule<T>,
    quiet: QuietLimits<T>,
    m: &'a mut [T],
    v: &'a mut [T],
}

impl<'a, T: QuietAdam> NativeUpdate<'a, T> {
    /// `rule` on the state `m`, `v`, with its quiet-lane bounds.
    fn new(rule: NativeRule<T>, m: &'a mut [T], v: &'a mut [T]) -> Self {
        let quiet = match rule {
            NativeRule::Adam {
                beta1,
                beta2,
                eps,
                step,
                ..
            } => T::quiet_limits(step, eps, beta1, beta2),
            _ => QuietLimits {
                p_min: T::of(f64::INFINITY),
                v_min: T::of(f64::INFINITY),
                k_max: 0,
            },
        };
        NativeUpdate { rule, quiet, m, v }
    }

    /// The rule as the float32 kernels take it, if it is Adam.
    #[inline(always)]
    fn adam32(&self) -> Option<fast::native::Adam32>
    where
        T: Into<f32>,
    {
        let NativeRule::Adam {
            beta1,
            one_minus_beta1,
            beta2,
            one_minus_beta2,
            eps,
            step,
            inv_sqrt_bc2,
        } = self.rule
        else {
            return None;
        };
        Some(fast::native::Adam32 {
            beta1: beta1.into(),
            one_minus_beta1: one_minus_beta1.into(),
            beta2: beta2.into(),
            one_minus_beta2: one_minus_beta2.into(),
            eps: eps.into(),
            step: step.into(),
            inv_sqrt_bc2: inv_sqrt_bc2.into(),
            p_min: self.quiet.p_min.into(),
            v_min: self.quiet.v_min.into(),
            k_max: self.quiet.k_max,
        })
    }

    /// [`NativeUpdate::apply`], by a kernel of `simd`'s level where one
    /// exists (the same bits).
    #[inline(always)]
    pub fn apply_simd(&mut self, simd: Simd, at: usize, p: &mut [T], g: &[T]) {
        if !T::apply_simd(simd, self, at, p, g) {
            self.apply(at, p, g);
        }
    }

    /// Updates `p`, the parameters at offset `at`, along their gradient `g`
    /// (the state at the same offsets; a rule without one state vector
    /// leaves it empty).
    #[inline(always)]
    pub fn apply(&mut self, at: usize, p: &mut [T], g: &[T]) {
        let span = |s: &mut [T]| -> std::ops::Range<usize> {
            if s.is_empty() {
                0..0
            } else {
                at..at + p.len()
            }
        };
        let (rm, rv) = (span(self.m), span(self.v));
        step_generic(
            self.rule,
            &self.quiet,
            p,
            g,
            &mut self.m[rm],
            &mut self.v[rv],
        );
    }
}

/// The native kernels of one float type, each compiled per SIMD level
/// ([`crate::fast::Kernel`]; plain Rust without FMA, or for f32 at AVX-512
/// the explicit kernels of [`crate::fast::native`]: every level gives the
/// same bits).
pub trait NativeKernels: QuietAdam {
    /// [`Net::forward`] of an MLP.
    fn mlp_forward(m: &Mlp, params: &[Self], scratch: &mut [Self], logits: &mut [Self]);
    /// [`Net::backward_step`] of an MLP.
    fn mlp_backward_step(
        m: &Mlp,
        params: &mut [Self],
        scratch: &mut [Self],
        dlogits: &[Self],
        grad: &mut [Self],
        upd: &mut NativeUpdate<'_, Self>,
    );
    /// Row-wise log-softmax and softmax; whether every `|z| ≤ limit`.
    fn softmax(z: &[Self], y: usize, logp: &mut [Self], probs: &mut [Self], limit: Self) -> bool;
    /// One optimiser update of all of `p`.
    fn step(upd: &mut NativeUpdate<'_, Self>, p: &mut [Self], g: &[Self]);
}

macro_rules! native_kernels {
    ($t:ty, $fwd:ident, $bwd:ident, $soft:ident, $step:ident) => {
        fast::kernel! {
            [simd]
            fn $fwd<'a>(m: &'a Mlp, params: &'a [$t], scratch: &'a mut [$t], logits: &'a mut [$t]) {
                mlp_forward_generic(simd, m, params, scratch, logits)
            }
        }
        fast::kernel! {
            [simd]
            fn $bwd<'u, 'a, 's>(
                m: &'a Mlp,
                params: &'a mut [$t],
                scratch: &'a mut [$t],
                dlogits: &'a [$t],
                grad: &'a mut [$t],
                upd: &'u mut NativeUpdate<'s, $t>,
            ) {
                mlp_backward_step_generic(simd, m, params, scratch, dlogits, grad, upd)
            }
        }
        fast::kernel! {
            fn $soft<'a>(z: &'a [$t], y: usize, logp: &'a mut [$t], probs: &'a mut [$t], limit: $t) -> bool {
                softmax_generic(z, y, logp, probs, limit)
            }
        }
        fast::kernel! {
            [simd]
            fn $step<'u, 'a, 's>(upd: &'u mut NativeUpdate<'s, $t>, p: &'a mut [$t], g: &'a [$t]) {
                upd.apply_simd(simd, 0, p, g)
            }
        }
        impl NativeKernels for $t {
            fn mlp_forward(m: &Mlp, params: &[Self], scratch: &mut [Self], logits: &mut [Self]) {
                $fwd(m, params, scratch, logits)
            }
            fn mlp_backward_step(
                m: &Mlp,
                params: &mut [Self],
                scratch: &mut [Self],
                dlogits: &[Self],
                grad: &mut [Self],
                upd: &mut NativeUpdate<'_, Self>,
            ) {
                $bwd(m, params, scratch, dlogits, grad, upd)
            }
            fn softmax(z: &[Self], y: usize, logp: &mut [Self], probs: &mut [Self], limit: Self) -> bool {
                $soft(z, y, logp, probs, limit)
            }
            fn step(upd: &mut NativeUpdate<'_, Self>, p: &mut [Self], g: &[Self]) {
                $step(upd, p, g)
            }
        }
    };
}

native_kernels!(
    f32,
    mlp_forward_f32,
    mlp_backward_step_f32,
    softmax_f32,
    step_f32
);
native_kernels!(
    f64,
    mlp_forward_f64,
    mlp_backward_step_f64,
    softmax_f64,
    step_f64
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::{self, Level};

    /// Adam on f32 lanes as IEEE arithmetic does it, without quiet lanes:
    /// the update the quiet ones must reproduce bit for bit.
    fn ieee_adam(rule: NativeRule<f32>, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let NativeRule::Adam {
            beta1,
            one_minus_beta1,
            beta2,
            one_minus_beta2,
            eps,
            step,
            inv_sqrt_bc2,
        } = rule
        else {
            unreachable!("Adam only")
        };
        for i in 0..p.len() {
            m[i] = beta1 * m[i] + one_minus_beta1 * g[i];
            v[i] = beta2 * v[i] + one_minus_beta2 * g[i] * g[i];
            p[i] -= step * m[i] / (v[i].sqrt() * inv_sqrt_bc2 + eps);
        }
    }

    fn rule(beta1: f64, beta2: f64, lr: f64, eps: f64, t: i32) -> NativeRule<f32> {
        let (bc1, bc2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
        NativeRule::Adam {
            beta1: beta1 as f32,
            one_minus_beta1: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            eps: eps as f32,
            step: (lr / bc1) as f32,
            inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
        }
    }

    /// Dead parameters (gradient ±0 from the start) decay from normal
    /// moments through the subnormal range to the fixed point, beside live
    /// ones, tiny and zero parameters, zero, normal and subnormal second
    /// moments; the dispatched step (with its quiet lanes) matches IEEE
    /// arithmetic bit for bit at every step and every SIMD level, for
    /// several β1, learning rates and ε (where quiet lanes are allowed and
    /// where the bound on the update rules them out).
    #[test]
    fn quiet_lanes_give_the_ieee_bits() {
        let n = 203;
        let p0: Vec<f32> = (0..n)
            .map(|i| match i % 7 {
                0 => 0.0,
                1 => -0.0,
                2 => 1e-30 * (i as f32),
                3 => f32::from_bits(i as u32), // subnormal parameters
                _ => ((i as f32) * 0.37).sin(),
            })
            .collect();
        let m0: Vec<f32> = (0..n)
            .map(|i| match i % 5 {
                0 => 0.0,
                1 => f32::from_bits((i % 9) as u32 + 1) * if i % 2 == 0 { 1.0 } else { -1.0 },
                2 => 3e-38 * ((i as f32) - 100.0),
                _ => 1e-3 * ((i as f32) * 0.11).cos(),
            })
            .collect();
        let v0: Vec<f32> = (0..n)
            .map(|i| match i % 3 {
                0 => 0.0,
                1 => f32::from_bits((i % 5) as u32 + 1),
                _ => 1e-6 * (1.0 + i as f32),
            })
            .collect();
        // Lanes 0, 2, 3 (mod 4) are dead; -0.0 gradients on some of them.
        let grad = |i: usize, t: usize| -> f32 {
            match i % 4 {
                1 => 1e-2 * ((i * 31 + t) as f32).sin(),
                0 if i.is_multiple_of(8) => -0.0,
                _ => 0.0,
            }
        };
        for level in fast::available() {
            for (beta1, lr, eps) in [
                (0.9, 3e-3, 1e-8),
                (0.5, 0.1, 1e-8),
                (0.99, 1e-3, 1e-30),
                (0.9, 1e30, 1e-8),
            ] {
                let (mut pa, mut ma, mut va) = (p0.clone(), m0.clone(), v0.clone());
                let (mut pb, mut mb, mut vb) = (p0.clone(), m0.clone(), v0.clone());
                for t in 1..=400 {
                    let r = rule(beta1, 0.999, lr, eps, t);
                    let g: Vec<f32> = (0..n).map(|i| grad(i, t as usize)).collect();
                    ieee_adam(r, &mut pa, &g, &mut ma, &mut va);
                    fast::with_level(level, || {
                        f32::step(&mut NativeUpdate::new(r, &mut mb, &mut vb), &mut pb, &g)
                    })
                    .expect("an available level");
                    for (what, a, b) in [("p", &pa, &pb), ("m", &ma, &mb), ("v", &va, &vb)] {
                        for i in 0..n {
                            assert!(
                                a[i].to_bits() == b[i].to_bits()
                                    || (a[i].is_nan() && b[i].is_nan()),
                                "{what}[{i}] at step {t}, {level}, β1 {beta1}, lr {lr}, ε {eps}: {} vs {}",
                                a[i],
                                b[i]
                            );
                        }
                    }
                }
            }
        }
    }

    /// The cold review's reproducers: an infinite parameter where the
    /// bound is off (a subnormal ε) or the step is infinite gets IEEE's bits.
    #[test]
    fn quiet_lanes_at_the_edges() {
        for (eps, step, p0) in [
            (1e-45f32, 3e38f32, f32::INFINITY),
            (1e-8, f32::INFINITY, f32::NEG_INFINITY),
        ] {
            let rule = NativeRule::Adam {
                beta1: 0.9,
                one_minus_beta1: 1.0 - 0.9,
                beta2: 0.999,
                one_minus_beta2: 1.0 - 0.999,
                eps,
                step,
                inv_sqrt_bc2: 1.0,
            };
            let g = [0.0f32; 16];
            let (mut pa, mut ma, mut va) = ([p0; 16], [f32::from_bits(4); 16], [0.0f32; 16]);
            let (mut pb, mut mb, mut vb) = (pa, ma, va);
            ieee_adam(rule, &mut pa, &g, &mut ma, &mut va);
            for level in fast::available() {
                fast::with_level(level, || {
                    f32::step(&mut NativeUpdate::new(rule, &mut mb, &mut vb), &mut pb, &g)
                })
                .expect("an available level");
                let same = pa[0].to_bits() == pb[0].to_bits() || (pa[0].is_nan() && pb[0].is_nan());
                assert!(
                    same,
                    "ε {eps}, step {step}, p {p0} at {level}: {} vs {}",
                    pa[0], pb[0]
                );
                (pb, mb, vb) = ([p0; 16], [f32::from_bits(4); 16], [0.0f32; 16]);
            }
        }
    }

    /// The fixed point of `β1·m` is the one IEEE rounding gives: every
    /// significand up to `k_max` rounds back to itself, and the next one
    /// does not unless by a tie to even (left out on purpose); no quiet
    /// lanes where the update bound is not finite or β1 < 1/2.
    #[test]
    fn quiet_limits_match_the_rounding() {
        for (beta1, k_max) in [(0.5f32, 0), (0.75, 1), (0.9, 4), (0.95, 9), (0.99, 50)] {
            let q = f32::quiet_limits(1e-3, 1e-8, beta1, 0.999);
            assert_eq!(q.k_max, k_max, "β1 {beta1}");
            for k in 1..=q.k_max {
                assert_eq!(
                    (beta1 * f32::from_bits(k)).to_bits(),
                    k,
                    "β1 {beta1}, k {k}"
                );
            }
            let next = q.k_max + 1;
            let tie = f64::from(next) * (1.0 - f64::from(beta1)) == 0.5;
            let kept = (beta1 * f32::from_bits(next)).to_bits() == next;
            assert!(!kept || tie, "β1 {beta1}: k {next} is kept too");
        }
        assert_eq!(f32::quiet_limits(1e-3, 1e-8, 0.0, 0.999).k_max, 0);
        assert!(f32::quiet_limits(f32::INFINITY, 1e-8, 0.9, 0.999)
            .p_min
            .is_infinite());
        assert!(f32::quiet_limits(1e-3, 0.0, 0.9, 0.999).p_min.is_infinite());
    }

    fast::kernel! {
        [simd at at]
        /// [`dense_backward_step`] compiled for the level; `at` is `W`'s offset.
        fn layer_step_at<'u, 'a, 's>(
            shape: (usize, usize, &'a [f32], &'a [f32]),
            params: &'a mut [f32],
            din: Option<&'a mut [f32]>,
            grad: &'a mut [f32],
            upd: &'u mut NativeUpdate<'s, f32>
        ) {
            let (w, k, inp, dout) = shape;
            dense_backward_step(simd, inp, params, w, dout, k, grad, din, upd)
        }
    }

    /// One layer's backward fused with the update, at every SIMD level,
    /// gives the plain path's parameters, state, gradient and input
    /// gradient bit for bit, step after step: four rows and three, widths
    /// with and without multiples of 16 and 64, an output unit that dies (its
    /// weights' moments decay through the subnormal range into quiet lanes),
    /// every rule.
    #[test]
    fn fused_layer_step_gives_the_plain_bits_at_every_level() {
        let mut vals = fast::testing::Values::new(5);
        let kinds = [
            OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            OptimizerKind::Adam {
                beta1: 0.5,
                beta2: 0.9,
                eps: 1e-3,
            },
            OptimizerKind::Sgd { momentum: 0.9 },
            OptimizerKind::RmsProp {
                alpha: 0.99,
                eps: 1e-8,
            },
        ];
        for (rows, k, n) in [
            (4, 64, 64),
            (4, 16, 10),
            (4, 67, 10),
            (3, 130, 17),
            (4, 5, 3),
            (1, 16, 1),
        ] {
            let w = 3;
            let len = w + n * k + n + 2;
            let inp = vals.vec32(rows * k);
            let live = vals.vec32(rows * n);
            // Output unit 0 dies after 100 steps: its weights' gradients are
            // then exactly zero and their first moments decay.
            let mut dead = live.clone();
            dead.iter_mut().step_by(n).for_each(|d| *d = 0.0);
            let p0 = vals.vec32(len);
            for kind in kinds {
                let run = |level: Level| {
                    let simd = fast::Simd::new(level).expect("an available level");
                    let mut p = p0.clone();
                    let mut opt = NativeOptimizer::<f32>::new(kind, 1e-2, len);
                    let (mut grad, mut din) = (vec![9.0; len], vec![7.0; rows * k]);
                    for t in 0..1200 {
                        let dout = if t < 100 { &live } else { &dead };
                        let mut upd = opt.update();
                        layer_step_at(
                            simd,
                            (w, k, &inp, dout),
                            &mut p,
                            Some(&mut din),
                            &mut grad,
                            &mut upd,
                        );
                    }
                    (p, opt.m, opt.v, grad, din)
                };
                let want = run(Level::Plain);
                for level in fast::available() {
                    let got = run(level);
                    let what = format!("{rows}x{k}x{n} {kind:?} at {level}");
                    for (name, a, b) in [
                        ("params", &want.0, &got.0),
                        ("m", &want.1, &got.1),
                        ("v", &want.2, &got.2),
                        ("grad", &want.3, &got.3),
                        ("din", &want.4, &got.4),
                    ] {
                        assert_eq!(a.len(), b.len(), "{name} {what}");
                        for (i, (x, y)) in a.iter().zip(b).enumerate() {
                            assert_eq!(x.to_bits(), y.to_bits(), "{name}[{i}] {what}: {x} vs {y}");
                        }
                    }
                }
            }
        }
    }
}
