//! First-order optimisers over a flat parameter vector, with PyTorch's update
//! rules so that runs can be compared with a PyTorch notebook step for step.
//! The rules themselves are in [`crate::fast::update`]; this module keeps the
//! state and each step's constants.

use crate::fast::{
    self,
    update::{AdamStep, QuietBounds, Rule, Update},
};

use crate::maths::numerics::all_finite_then_zero;
use crate::maths::params::{Domain, ParamSpec};
use crate::maths::split::{block_len, worth_splitting};
use rayon::prelude::*;

/// A parameter vector, its gradient and the optimiser state cut into blocks
/// of [`block_len`] values for [`Optimizer::step`]'s split; a rule without
/// a state (empty `m` or `v`) gets empty blocks of it.
#[allow(clippy::type_complexity)]
fn blocks<'a, G>(
    params: &'a mut [f64],
    grad: G,
    m: &'a mut [f64],
    v: &'a mut [f64],
    split: impl Fn(G, usize) -> (G, G),
) -> Vec<(&'a mut [f64], G, &'a mut [f64], &'a mut [f64])> {
    let len = block_len(params.len(), 8);
    let (lm, lv) = (len.min(m.len()), len.min(v.len()));
    let mut out = Vec::with_capacity(params.len().div_ceil(len));
    let (mut p, mut g, mut m, mut v) = (params, grad, m, v);
    while !p.is_empty() {
        let k = len.min(p.len());
        let (p0, p1) = p.split_at_mut(k);
        let (g0, g1) = split(g, k);
        let (m0, m1) = m.split_at_mut(lm.min(m.len()));
        let (v0, v1) = v.split_at_mut(lv.min(v.len()));
        out.push((p0, g0, m0, v0));
        (p, g, m, v) = (p1, g1, m1, v1);
    }
    out
}

/// Optimiser settings; state lives in [`Optimizer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    /// `v ← μ v + g; θ ← θ - lr v` (plain SGD when `momentum = 0`).
    Sgd {
        /// Momentum μ in [0, 1).
        momentum: f64,
    },
    /// Adam (Kingma & Ba) with bias correction.
    Adam {
        /// Decay of the first moment, in [0, 1).
        beta1: f64,
        /// Decay of the second moment, in [0, 1).
        beta2: f64,
        /// Added to √v̂ in the denominator, > 0.
        eps: f64,
    },
    /// `v ← α v + (1-α) g²; θ ← θ - lr g / (√v + ε)`.
    RmsProp {
        /// Smoothing α of the squared gradients, in [0, 1).
        alpha: f64,
        /// Added to √v in the denominator, > 0.
        eps: f64,
    },
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

impl OptimizerSpec {
    /// The kind with every knob at its default (a knob without one at 0).
    pub fn with_defaults(&self) -> OptimizerKind {
        let v: Vec<f64> = self
            .knobs
            .iter()
            .map(|k| k.default.unwrap_or(0.0))
            .collect();
        (self.build)(&v)
    }
}

/// Every rule of the registry at its defaults, plus SGD with momentum 0.9
/// (the momentum path): what the optimiser tests iterate, so that a new
/// registry entry is tested without touching them.
pub fn test_kinds() -> Vec<OptimizerKind> {
    let mut kinds: Vec<OptimizerKind> = OPTIMIZERS.iter().map(|o| o.with_defaults()).collect();
    kinds.push(OptimizerKind::Sgd { momentum: 0.9 });
    kinds
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
    /// The update rule and its constants.
    pub kind: OptimizerKind,
    /// Learning rate, > 0.
    pub lr: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    /// `β1^t` and `β2^t` as running products (for Adam's bias correction),
    /// up to the last step whose constants are in `scales`.
    beta_pow: (f64, f64),
    /// The constants of the next steps, computed [`SCALE_BATCH`] at a time
    /// (a vector loop) instead of one square root and two divisions on each
    /// step's critical path; `(lr, 1 - β1^t, lr / (1 - β1^t), 1 / √(1 - β2^t))`,
    /// consumed from `scales_at`.
    scales: Vec<(f64, f64, f64, f64)>,
    /// Adam's quiet-lane bounds and the `(β1, β2, ε)` they were computed for
    /// (`kind` is public: a change is honoured by recomputing them).
    quiet: Option<((f64, f64, f64), QuietBounds)>,
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
            scales: Vec::new(),
            quiet: None,
            scales_at: 0,
        }
    }

    /// One update of `params` along `grad`; a long vector is updated in
    /// blocks over rayon's threads ([`crate::maths::split`]: every rule is
    /// element-wise, so the bits are those of one pass).
    pub fn step(&mut self, params: &mut [f64], grad: &[f64]) {
        let u = self.begin_step();
        if !worth_splitting(params.len()) {
            return fast::update::step(&mut { u }, params, grad);
        }
        let rule = u.rule;
        let blocks = blocks(params, grad, u.m, u.v, |g, k| g.split_at(k));
        blocks.into_par_iter().for_each(|(p, g, m, v)| {
            fast::update::step(&mut Update { rule, m, v }, p, g);
        });
    }

    /// [`Optimizer::step`], then `grad` set to zero; whether every gradient
    /// value was finite (the check and the clearing of
    /// [`crate::maths::numerics::all_finite_then_zero`], fused into the
    /// update's pass where a fused kernel exists). The parameters are
    /// updated either way: a caller that finds `false` must not read them.
    pub fn step_clearing(&mut self, params: &mut [f64], grad: &mut [f64]) -> bool {
        let u = self.begin_step();
        let rule = u.rule;
        let one = |u: &mut Update, p: &mut [f64], g: &mut [f64]| {
            fast::update::step_clearing(u, p, g).unwrap_or_else(|| {
                fast::update::step(u, p, g);
                all_finite_then_zero(g)
            })
        };
        if !worth_splitting(params.len()) {
            return one(&mut { u }, params, grad);
        }
        let blocks = blocks(params, grad, u.m, u.v, |g, k| g.split_at_mut(k));
        blocks
            .into_par_iter()
            .map(|(p, g, m, v)| one(&mut Update { rule, m, v }, p, g))
            .reduce(|| true, |a, b| a & b)
    }

    /// Starts an update: this step's rule and the state it changes. Apply it
    /// to every parameter exactly once, with [`fast::update::step`] or piecewise with
    /// [`Update::apply`]: a policy that knows its gradient block by block can
    /// update each block while it is still in cache. The result is
    /// bit-identical to [`Optimizer::step`] (each rule is element-wise, and
    /// the per-step constants are computed here once).
    #[inline]
    pub fn begin_step(&mut self) -> Update<'_> {
        let lr = self.lr;
        let rule = match self.kind {
            OptimizerKind::Sgd { .. } if self.m.is_empty() => Rule::Sgd { lr },
            OptimizerKind::Sgd { momentum } => Rule::Momentum { lr, momentum },
            OptimizerKind::Adam { beta1, beta2, eps } => {
                if self.scales_at == self.scales.len() {
                    self.fill_scales(beta1, beta2);
                }
                let (lr_then, bc1, step, inv_sqrt_bc2) = self.scales[self.scales_at];
                self.scales_at += 1;
                // `lr` is public: a change since the batch was computed is honoured.
                let step = if lr_then == lr { step } else { lr / bc1 };
                let key = (beta1, beta2, eps);
                let q = match self.quiet {
                    Some((k, q)) if k == key => q,
                    _ => {
                        let q = QuietBounds::new(beta1, beta2, eps);
                        self.quiet = Some((key, q));
                        q
                    }
                };
                Rule::Adam(AdamStep::with_quiet(
                    beta1,
                    beta2,
                    eps,
                    step,
                    inv_sqrt_bc2,
                    &q,
                ))
            }
            OptimizerKind::RmsProp { alpha, eps } => Rule::RmsProp { lr, alpha, eps },
        };
        Update {
            rule,
            m: &mut self.m,
            v: &mut self.v,
        }
    }

    /// The constants of the next [`SCALE_BATCH`] steps, each computed as a
    /// single step would: `β^t` as the running product, then `lr / (1 - β1^t)`
    /// and `1 / √(1 - β2^t)`.
    fn fill_scales(&mut self, beta1: f64, beta2: f64) {
        let (mut bc1, mut bc2) = ([0.0; SCALE_BATCH], [0.0; SCALE_BATCH]);
        for (c1, c2) in bc1.iter_mut().zip(&mut bc2) {
            self.beta_pow = (decay(self.beta_pow.0, beta1), decay(self.beta_pow.1, beta2));
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

    /// One update as float32 training does it (see [`crate::maths::precision`]):
    /// the new `m` and `v` are rounded to f32 before the parameter update
    /// uses them, and the updated parameters are rounded; each update is
    /// computed in f64 from the stored f32 values. Adam's bias corrections
    /// stay f64 scalars (PyTorch computes them as Python floats).
    pub fn step_f32(&mut self, params: &mut [f64], grad: &[f64]) {
        fast::update::step_f32(&mut self.begin_step(), params, grad)
    }

    /// The state: `m` (SGD momentum buffer, Adam's first moment) and `v`
    /// (Adam's and RMSprop's second moment); empty where the optimiser has none.
    pub fn state(&self) -> (&[f64], &[f64]) {
        (&self.m, &self.v)
    }
}

/// `β^t` from `β^(t-1)`, as the running product, except that once it is
/// below 2^-60 it is 0: `1 - β^t` is then 1.0 exactly either way (below
/// 2^-54 the difference rounds to 1, and `β^t` only shrinks), and the
/// product would otherwise sink into the subnormal range and stay at its
/// smallest value (`0.9 · 2^-1074` rounds back up), a slow microcode assist
/// on every later step (about 50 ns a step of the paper's MLP).
#[inline]
pub fn decay(pow: f64, beta: f64) -> f64 {
    let next = pow * beta;
    // |·|: the configs allow β in [0, 1), but the type does not stop a
    // negative one, whose powers alternate in sign (1 - β^t is 1.0 there too).
    if next.abs() < 1.0 / (1u64 << 60) as f64 {
        0.0
    } else {
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain SGD on f(θ) = θ²/2 with lr = 1/2 halves θ, which is exact in
    /// binary: θ_t = 2^-t θ_0, bit for bit.
    #[test]
    fn sgd_on_a_quadratic_halves_exactly() {
        let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.0 }, 0.5, 3);
        let mut p = [1.0, -3.0, 0.75];
        for t in 1..=100 {
            let g = p;
            opt.step(&mut p, &g);
            let s = 0.5f64.powi(t);
            assert_eq!(p, [s, -3.0 * s, 0.75 * s], "step {t}");
        }
    }

    /// Over 300 steps on f(θ) = ½ Σ c_i θ_i² (gradient c θ), every optimiser
    /// gives the bits of a scalar transcription of its rule (PyTorch's, with
    /// Adam's `β^t` as running products), across Adam's batches of
    /// constants, and ends nearer the minimum than it started.
    #[test]
    fn each_optimiser_follows_its_rule_bit_for_bit() {
        let n = 13;
        let c: Vec<f64> = (0..n).map(|i| 0.2 + 0.37 * i as f64).collect();
        let p0: Vec<f64> = (0..n).map(|i| (i as f64 * 1.7).sin() * 2.0).collect();
        let lr = 0.01;
        for kind in test_kinds() {
            let mut opt = Optimizer::new(kind, lr, n);
            let mut p = p0.clone();
            let (mut q, mut m, mut v) = (p0.clone(), vec![0.0; n], vec![0.0; n]);
            let mut bp = (1.0f64, 1.0f64);
            for t in 0..300 {
                let g: Vec<f64> = p.iter().zip(&c).map(|(x, c)| c * x).collect();
                opt.step(&mut p, &g);
                let gq: Vec<f64> = q.iter().zip(&c).map(|(x, c)| c * x).collect();
                for i in 0..n {
                    match kind {
                        OptimizerKind::Sgd { momentum: 0.0 } => {
                            q[i] -= lr * gq[i];
                        }
                        OptimizerKind::Sgd { momentum } => {
                            m[i] = momentum * m[i] + gq[i];
                            q[i] -= lr * m[i];
                        }
                        OptimizerKind::Adam { beta1, beta2, eps } => {
                            if i == 0 {
                                bp = (bp.0 * beta1, bp.1 * beta2);
                            }
                            let step = lr / (1.0 - bp.0);
                            let inv_sqrt_bc2 = 1.0 / (1.0 - bp.1).sqrt();
                            m[i] = beta1 * m[i] + (1.0 - beta1) * gq[i];
                            v[i] = beta2 * v[i] + (1.0 - beta2) * gq[i] * gq[i];
                            q[i] -= step * m[i] / (v[i].sqrt() * inv_sqrt_bc2 + eps);
                        }
                        OptimizerKind::RmsProp { alpha, eps } => {
                            v[i] = alpha * v[i] + (1.0 - alpha) * gq[i] * gq[i];
                            q[i] -= lr * gq[i] / (v[i].sqrt() + eps);
                        }
                    }
                }
                for (a, b) in p.iter().zip(&q) {
                    assert_eq!(a.to_bits(), b.to_bits(), "{kind:?} step {t}: {a} vs {b}");
                }
            }
            let norm = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>();
            assert!(norm(&p) < 0.5 * norm(&p0), "{kind:?} did not descend");
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
            let lr = opt.lr;
            let Rule::Adam(a) = opt.begin_step().rule else {
                panic!("an Adam optimiser gives an Adam rule");
            };
            bp = (bp.0 * b1, bp.1 * b2);
            let want = (lr / (1.0 - bp.0), 1.0 / (1.0 - bp.1).sqrt());
            assert_eq!(a.step.to_bits(), want.0.to_bits(), "step {t}");
            assert_eq!(a.inv_sqrt_bc2.to_bits(), want.1.to_bits(), "step {t}");
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

    /// `decay` gives the bias corrections `1 - β^t` of the plain running
    /// product, bit for bit, over 20 000 steps (past the product's subnormal
    /// range for every β here), and never a subnormal `β^t`.
    #[test]
    fn decay_keeps_the_bias_corrections() {
        for beta in [0.0, 0.3, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999] {
            let (mut plain, mut ours) = (1.0f64, 1.0f64);
            for t in 1..=20_000 {
                plain *= beta;
                ours = decay(ours, beta);
                assert_eq!(
                    (1.0 - plain).to_bits(),
                    (1.0 - ours).to_bits(),
                    "β {beta}, t {t}"
                );
                assert!(ours == 0.0 || ours.is_normal(), "β {beta}, t {t}: {ours:e}");
            }
        }
    }
}
