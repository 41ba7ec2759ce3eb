//! First-order optimisers over a flat parameter vector, with PyTorch's update
//! rules so that runs can be compared with a PyTorch notebook step for step.

use crate::maths::params::{Domain, ParamSpec};

/// Optimiser settings; state lives in [`Optimizer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    /// `v ← μ v + g; θ ← θ - lr v` (plain SGD when `momentum = 0`).
    Sgd { momentum: f64 },
    /// Adam (Kingma & Ba) with bias correction.
    Adam { beta1: f64, beta2: f64, eps: f64 },
    /// `v ← α v + (1-α) g²; θ ← θ - lr g / (√v + ε)`.
    RmsProp { alpha: f64, eps: f64 },
}

/// One optimiser as the registry declares it: the name a config uses, the
/// name figures and tables show, its knobs (defaults and domains) and how
/// the knobs' values make an [`OptimizerKind`]. Declared once, in
/// [`OPTIMIZERS`]; config validation, resolved configs, error messages and
/// figure labels all read it.
#[derive(Debug, Clone, Copy)]
pub struct OptimizerSpec {
    /// The value of `optimizer.name`.
    pub name: &'static str,
    /// The name in figures and report text.
    pub display: &'static str,
    /// The optimiser's own fields of `[optimizer]` besides `lr`, in order.
    pub knobs: &'static [ParamSpec],
    /// Builds the kind from the knobs' values (in `knobs` order).
    pub build: fn(&[f64]) -> OptimizerKind,
}

/// A number in [0, 1), the domain of a decay rate or momentum.
const UNIT: Domain = Domain::HalfOpen(0.0, 1.0);
/// ε of Adam and RMSprop (default 1e-8, PyTorch's).
const EPS: ParamSpec = ParamSpec {
    name: "eps",
    default: Some(1e-8),
    domain: Domain::Positive,
};

/// Every optimiser a config can name.
pub const OPTIMIZERS: [OptimizerSpec; 3] = [
    OptimizerSpec {
        name: "sgd",
        display: "SGD",
        knobs: &[ParamSpec {
            name: "momentum",
            default: Some(0.0),
            domain: UNIT,
        }],
        build: |v| OptimizerKind::Sgd { momentum: v[0] },
    },
    OptimizerSpec {
        name: "adam",
        display: "Adam",
        knobs: &[
            ParamSpec {
                name: "beta1",
                default: Some(0.9),
                domain: UNIT,
            },
            ParamSpec {
                name: "beta2",
                default: Some(0.999),
                domain: UNIT,
            },
            EPS,
        ],
        build: |v| OptimizerKind::Adam {
            beta1: v[0],
            beta2: v[1],
            eps: v[2],
        },
    },
    OptimizerSpec {
        name: "rmsprop",
        display: "RMSprop",
        knobs: &[
            ParamSpec {
                name: "alpha",
                default: Some(0.99),
                domain: UNIT,
            },
            EPS,
        ],
        build: |v| OptimizerKind::RmsProp {
            alpha: v[0],
            eps: v[1],
        },
    },
];

/// The registry entry named `name`, if any.
pub fn optimizer_spec(name: &str) -> Option<&'static OptimizerSpec> {
    OPTIMIZERS.iter().find(|o| o.name == name)
}

/// The display name of optimiser `name` (`adam` → `Adam`); unknown names
/// are shown as they are.
pub fn display_name(name: &str) -> &str {
    optimizer_spec(name).map_or(name, |o| o.display)
}

impl OptimizerKind {
    /// The registry entry of this kind.
    pub fn spec(&self) -> &'static OptimizerSpec {
        let name = match self {
            OptimizerKind::Sgd { .. } => "sgd",
            OptimizerKind::Adam { .. } => "adam",
            OptimizerKind::RmsProp { .. } => "rmsprop",
        };
        optimizer_spec(name).expect("every kind is registered")
    }

    /// The knobs' values, in the registry's order (the inverse of its `build`).
    pub fn knob_values(&self) -> Vec<f64> {
        match *self {
            OptimizerKind::Sgd { momentum } => vec![momentum],
            OptimizerKind::Adam { beta1, beta2, eps } => vec![beta1, beta2, eps],
            OptimizerKind::RmsProp { alpha, eps } => vec![alpha, eps],
        }
    }
}

/// An optimiser with its per-parameter state.
#[derive(Debug, Clone)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub lr: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    /// `β1^t` and `β2^t` as running products (for Adam's bias correction),
    /// up to the last step whose constants are in `scales`.
    beta_pow: (f64, f64),
    /// This step's Adam constants `(lr / (1 - β1^t), 1 / √(1 - β2^t))`, set by
    /// [`Optimizer::begin_step`].
    adam_scale: (f64, f64),
    /// The constants of the next steps, computed [`SCALE_BATCH`] at a time
    /// (a vector loop) instead of one square root and two divisions on each
    /// step's critical path; `(lr, 1 - β1^t, lr / (1 - β1^t), 1 / √(1 - β2^t))`,
    /// consumed from `scales_at`.
    scales: Vec<(f64, f64, f64, f64)>,
    scales_at: usize,
}

/// Steps whose Adam constants are computed together.
const SCALE_BATCH: usize = 64;

impl Optimizer {
    /// A fresh optimiser for `n` parameters.
    pub fn new(kind: OptimizerKind, lr: f64, n: usize) -> Self {
        let (m, v) = match kind {
            OptimizerKind::Sgd { momentum: 0.0 } => (vec![], vec![]),
            OptimizerKind::Sgd { .. } => (vec![0.0; n], vec![]),
            OptimizerKind::Adam { .. } => (vec![0.0; n], vec![0.0; n]),
            OptimizerKind::RmsProp { .. } => (vec![], vec![0.0; n]),
        };
        Optimizer {
            kind,
            lr,
            m,
            v,
            beta_pow: (1.0, 1.0),
            adam_scale: (0.0, 0.0),
            scales: Vec::new(),
            scales_at: 0,
        }
    }

    /// One update of `params` along `grad`.
    pub fn step(&mut self, params: &mut [f64], grad: &[f64]) {
        #[cfg(target_arch = "x86_64")]
        if matches!(self.kind, OptimizerKind::Adam { .. })
            && std::is_x86_feature_detected!("avx512f")
        {
            self.begin_step();
            // SAFETY: the CPU supports AVX-512F, checked just above.
            unsafe { self.update_range_avx512(0, params, grad) };
            return;
        }
        optimizer_step(self, params, grad)
    }

    /// [`Optimizer::update_range`] through [`Optimizer::update8_avx512`].
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn update_range_avx512(&mut self, offset: usize, params: &mut [f64], grad: &[f64]) {
        let n = grad.len();
        let n8 = n / 8 * 8;
        for c in (0..n8).step_by(8) {
            // SAFETY: AVX-512F is enabled for this function.
            unsafe { self.update8_avx512(offset + c, &mut params[c..c + 8], &grad[c..c + 8]) };
        }
        self.update_range(offset + n8, &mut params[n8..n], &grad[n8..]);
    }

    /// Starts an update that is then applied piecewise with
    /// [`Optimizer::update_range`]: a policy that knows its gradient block by
    /// block can update each block while it is still in cache. Every
    /// parameter must be updated exactly once before the next `begin_step`.
    /// The result is bit-identical to [`Optimizer::step`] (each rule is
    /// element-wise, and the per-step constants are computed here once).
    #[inline]
    pub fn begin_step(&mut self) {
        if let OptimizerKind::Adam { beta1, beta2, .. } = self.kind {
            if self.scales_at == self.scales.len() {
                self.fill_scales(beta1, beta2);
            }
            let (lr, bc1, step, inv_sqrt_bc2) = self.scales[self.scales_at];
            self.scales_at += 1;
            // `lr` is public: a change since the batch was computed is honoured.
            let step = if lr == self.lr { step } else { self.lr / bc1 };
            self.adam_scale = (step, inv_sqrt_bc2);
        }
    }

    /// The constants of the next [`SCALE_BATCH`] steps, each computed as a
    /// single step would: `β^t` as the running product, then `lr / (1 - β1^t)`
    /// and `1 / √(1 - β2^t)`.
    fn fill_scales(&mut self, beta1: f64, beta2: f64) {
        let (mut bc1, mut bc2) = ([0.0; SCALE_BATCH], [0.0; SCALE_BATCH]);
        for (c1, c2) in bc1.iter_mut().zip(&mut bc2) {
            self.beta_pow = (self.beta_pow.0 * beta1, self.beta_pow.1 * beta2);
            (*c1, *c2) = (1.0 - self.beta_pow.0, 1.0 - self.beta_pow.1);
        }
        let lr = self.lr;
        self.scales.clear();
        self.scales.extend(
            bc1.iter()
                .zip(&bc2)
                .map(|(&c1, &c2)| (lr, c1, lr / c1, 1.0 / c2.sqrt())),
        );
        self.scales_at = 0;
    }

    /// Updates the parameters `offset .. offset + grad.len()` of the full
    /// vector, given as `params`, along `grad`; see [`Optimizer::begin_step`].
    /// Inlined so that it compiles with the caller's vector features.
    #[inline(always)]
    pub fn update_range(&mut self, offset: usize, params: &mut [f64], grad: &[f64]) {
        self.update_inline(offset, params, grad, |x| x)
    }

    /// [`Optimizer::update_range`] for eight parameters, with Adam in
    /// AVX-512 registers (the compiler scalarises so short a range); the
    /// same operations in the same order, so the same bits. Eight
    /// parameters whose gradient, `m` and `v` are all `+0.0` (never touched:
    /// the tabular policy's responses outside the data under DPO, dead ReLU
    /// units) are skipped when `eps > 0`: Adam would compute `m = v = +0`
    /// and subtract `+0` from each parameter, which changes no bit, and the
    /// square roots and divisions are the step's bottleneck.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub unsafe fn update8_avx512(&mut self, offset: usize, params: &mut [f64], grad: &[f64]) {
        use std::arch::x86_64::*;
        let OptimizerKind::Adam { beta1, beta2, eps } = self.kind else {
            return self.update_range(offset, params, grad);
        };
        let (step, inv_sqrt_bc2) = self.adam_scale;
        let (p, g) = (&mut params[..8], &grad[..8]);
        let m = &mut self.m[offset..offset + 8];
        let v = &mut self.v[offset..offset + 8];
        let c = _mm512_set1_pd;
        // SAFETY: each slice above holds eight values.
        unsafe {
            let gv = _mm512_loadu_pd(g.as_ptr());
            let (m0, v0) = (_mm512_loadu_pd(m.as_ptr()), _mm512_loadu_pd(v.as_ptr()));
            let bits = _mm512_or_si512(
                _mm512_castpd_si512(gv),
                _mm512_or_si512(_mm512_castpd_si512(m0), _mm512_castpd_si512(v0)),
            );
            if eps > 0.0 && _mm512_test_epi64_mask(bits, bits) == 0 {
                return;
            }
            let mv = _mm512_add_pd(
                _mm512_mul_pd(c(beta1), m0),
                _mm512_mul_pd(c(1.0 - beta1), gv),
            );
            let vv = _mm512_add_pd(
                _mm512_mul_pd(c(beta2), v0),
                _mm512_mul_pd(_mm512_mul_pd(c(1.0 - beta2), gv), gv),
            );
            _mm512_storeu_pd(m.as_mut_ptr(), mv);
            _mm512_storeu_pd(v.as_mut_ptr(), vv);
            let den = _mm512_add_pd(_mm512_mul_pd(_mm512_sqrt_pd(vv), c(inv_sqrt_bc2)), c(eps));
            let upd = _mm512_div_pd(_mm512_mul_pd(c(step), mv), den);
            _mm512_storeu_pd(
                p.as_mut_ptr(),
                _mm512_sub_pd(_mm512_loadu_pd(p.as_ptr()), upd),
            );
        }
    }

    /// One update as float32 training does it (see [`crate::maths::precision`]):
    /// the new `m` and `v` are rounded to f32 before the parameter update
    /// uses them, and the updated parameters are rounded; each update is
    /// computed in f64 from the stored f32 values. Adam's bias corrections
    /// stay f64 scalars (PyTorch computes them as Python floats).
    pub fn step_f32(&mut self, params: &mut [f64], grad: &[f64]) {
        optimizer_step_f32(self, params, grad)
    }

    /// The state: `m` (SGD momentum buffer, Adam's first moment) and `v`
    /// (Adam's and RMSprop's second moment); empty where the optimiser has none.
    pub fn state(&self) -> (&[f64], &[f64]) {
        (&self.m, &self.v)
    }

    /// The update rules on one range; `r` rounds every stored value (the
    /// identity in f64, so that path computes exactly what it always did).
    #[inline(always)]
    fn update_inline<R: Fn(f64) -> f64>(
        &mut self,
        offset: usize,
        params: &mut [f64],
        grad: &[f64],
        r: R,
    ) {
        let lr = self.lr;
        let n = grad.len();
        let params = &mut params[..n];
        match self.kind {
            OptimizerKind::Sgd { momentum } => {
                if self.m.is_empty() {
                    for (p, &g) in params.iter_mut().zip(grad) {
                        *p = r(*p - lr * g);
                    }
                } else {
                    let m = &mut self.m[offset..offset + n];
                    for ((p, &g), m) in params.iter_mut().zip(grad).zip(m) {
                        *m = r(momentum * *m + g);
                        *p = r(*p - lr * *m);
                    }
                }
            }
            OptimizerKind::Adam { beta1, beta2, eps } => {
                let (step, inv_sqrt_bc2) = self.adam_scale;
                let m = &mut self.m[offset..offset + n];
                let v = &mut self.v[offset..offset + n];
                for (((p, &g), m), v) in params.iter_mut().zip(grad).zip(m).zip(v) {
                    *m = r(beta1 * *m + (1.0 - beta1) * g);
                    *v = r(beta2 * *v + (1.0 - beta2) * g * g);
                    *p = r(*p - step * *m / (v.sqrt() * inv_sqrt_bc2 + eps));
                }
            }
            OptimizerKind::RmsProp { alpha, eps } => {
                let v = &mut self.v[offset..offset + n];
                for ((p, &g), v) in params.iter_mut().zip(grad).zip(v) {
                    *v = r(alpha * *v + (1.0 - alpha) * g * g);
                    *p = r(*p - lr * g / (v.sqrt() + eps));
                }
            }
        }
    }
}

crate::multiversion! {
    fn optimizer_step(o: &mut Optimizer, params: &mut [f64], grad: &[f64]) {
        o.begin_step();
        o.update_inline(0, params, grad, |x| x)
    }
}

crate::multiversion! {
    fn optimizer_step_f32(o: &mut Optimizer, params: &mut [f64], grad: &[f64]) {
        o.begin_step();
        o.update_inline(0, params, grad, crate::maths::precision::to_f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On f(θ) = θ²/2 every optimiser must move θ towards 0.
    #[test]
    fn each_optimiser_descends_a_quadratic() {
        for kind in [
            OptimizerKind::Sgd { momentum: 0.0 },
            OptimizerKind::Sgd { momentum: 0.9 },
            OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            OptimizerKind::RmsProp {
                alpha: 0.99,
                eps: 1e-8,
            },
        ] {
            let mut opt = Optimizer::new(kind, 0.01, 1);
            let mut p = [1.0];
            for _ in 0..2000 {
                let g = [p[0]];
                opt.step(&mut p, &g);
            }
            assert!(p[0].abs() < 0.05, "{kind:?} ended at {}", p[0]);
        }
    }

    /// The AVX-512 Adam (with its skip of untouched parameters) against the
    /// portable loop, bit for bit: zero chunks, signed zeros, a chunk that is
    /// zero only in some lanes, tails, and `eps = 0` (where nothing may be skipped).
    #[test]
    fn avx512_adam_matches_the_portable_loop() {
        if !std::is_x86_feature_detected!("avx512f") {
            return;
        }
        for eps in [1e-8, 0.0] {
            for n in [3, 8, 21, 64, 1029] {
                let kind = OptimizerKind::Adam {
                    beta1: 0.9,
                    beta2: 0.999,
                    eps,
                };
                let (mut a, mut b) = (Optimizer::new(kind, 0.01, n), Optimizer::new(kind, 0.01, n));
                let mut pa: Vec<f64> = (0..n)
                    .map(|i| {
                        if i % 5 == 0 {
                            -0.0
                        } else {
                            i as f64 * 0.3 - 2.0
                        }
                    })
                    .collect();
                let mut pb = pa.clone();
                for t in 0..6 {
                    let g: Vec<f64> = (0..n)
                        .map(|i| match (i / 8 + t) % 3 {
                            0 => 0.0,
                            1 if i % 3 == 0 => -0.0,
                            _ => ((i * 7 + t) as f64).sin(),
                        })
                        .collect();
                    a.step(&mut pa, &g);
                    b.begin_step();
                    b.update_inline(0, &mut pb, &g, |x| x);
                    for (x, y) in pa
                        .iter()
                        .chain(&a.m)
                        .chain(&a.v)
                        .zip(pb.iter().chain(&b.m).chain(&b.v))
                    {
                        assert!(
                            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                            "{x} vs {y}"
                        );
                    }
                }
            }
        }
    }

    /// The batched constants are the ones each step would compute alone,
    /// also across batch ends and after a change of `lr`.
    #[test]
    fn batched_adam_constants_match_the_step_formula() {
        let (b1, b2) = (0.9, 0.999);
        let kind = OptimizerKind::Adam {
            beta1: b1,
            beta2: b2,
            eps: 1e-8,
        };
        let mut opt = Optimizer::new(kind, 0.003, 1);
        let mut bp = (1.0f64, 1.0f64);
        for t in 0..3 * SCALE_BATCH + 5 {
            if t == 100 {
                opt.lr = 0.01;
            }
            opt.begin_step();
            bp = (bp.0 * b1, bp.1 * b2);
            let want = (opt.lr / (1.0 - bp.0), 1.0 / (1.0 - bp.1).sqrt());
            assert_eq!(opt.adam_scale.0.to_bits(), want.0.to_bits(), "step {t}");
            assert_eq!(opt.adam_scale.1.to_bits(), want.1.to_bits(), "step {t}");
        }
    }

    /// Adam's first step is `lr · sign(g)` (bias correction makes m̂/√v̂ = ±1).
    #[test]
    fn adam_first_step_is_lr_times_sign() {
        let mut opt = Optimizer::new(
            OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 0.0,
            },
            0.1,
            2,
        );
        let mut p = [0.0, 0.0];
        opt.step(&mut p, &[3.0, -0.5]);
        assert!((p[0] + 0.1).abs() < 1e-15 && (p[1] - 0.1).abs() < 1e-15);
    }
}
