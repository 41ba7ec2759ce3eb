//! Pairwise preference losses. Each loss is a function `f(l+, l-)` of the
//! policy log-probabilities of the chosen and rejected responses (the
//! reference's `l0+`, `l0-` are constants), given with its two partial
//! derivatives in closed form. [`accumulate_logit_grad`] is the one routine
//! that turns those partials into logit gradients, for every loss.
//!
//! Adding a loss: write `src/maths/loss/NAME.rs` with a struct implementing
//! [`PairLoss`] and a `pub const SPEC: LossSpec`, and list it in [`LOSSES`].
//!
//! Batch-level losses (AOT, β-DPO) are not a sum of per-triple terms: each
//! pair's term depends on the other pairs (ranks after sorting, a batch mean).
//! They say so with [`LossSpec::batch_level`] and override
//! [`PairLoss::eval_pairs`], which sees every pair of the data set; the lab
//! trains full batch, so the batch is the whole data set and training stays
//! exact and deterministic. For them `eval` is the loss of a batch of one
//! pair. Quantities a loss treats as constants in the gradient (a
//! stop-gradient, e.g. β-DPO's batch temperature) are exposed through
//! [`PairLoss::detached_at`], so a finite-difference check can hold them
//! fixed.

use crate::error::{Error, Result};
use crate::maths::data::Dataset;
use crate::maths::numerics::{log_sigmoid, sigmoid};
use std::collections::BTreeMap;
use std::fmt::Debug;

pub mod aot;
pub mod aot_pair;
pub mod apo_down;
pub mod apo_zero;
pub mod bco_pair;
pub mod beta_dpo;
pub mod cal_dpo;
pub mod cdpo;
pub mod chi_po;
pub mod cpo;
pub mod discopop;
pub mod dpo;
pub mod dpo_alpha;
pub mod dpo_forward_kl;
pub mod dpo_js;
pub mod dpop;
pub mod exo_pair;
pub mod flex_dpo;
pub mod hinge;
pub mod ipo;
pub mod nca;
pub mod orpo;
pub mod robust_dpo;
pub mod sft;
pub mod sft_dpo;
pub mod simpo;
pub mod slic;
pub mod sppo_hard;

/// The four log-probabilities a pairwise loss sees for one triple.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogProbs {
    /// `log π_θ(a+|x)`
    pub l_plus: f64,
    /// `log π_θ(a-|x)`
    pub l_minus: f64,
    /// `log π_0(a+|x)`
    pub l0_plus: f64,
    /// `log π_0(a-|x)`
    pub l0_minus: f64,
}

impl LogProbs {
    /// `r+ = l+ - l0+`, the chosen log-ratio.
    pub fn r_plus(&self) -> f64 {
        self.l_plus - self.l0_plus
    }
    /// `r- = l- - l0-`, the rejected log-ratio.
    pub fn r_minus(&self) -> f64 {
        self.l_minus - self.l0_minus
    }
    /// `Δ = r+ - r-`, the implicit reward margin (before β).
    pub fn delta(&self) -> f64 {
        self.r_plus() - self.r_minus()
    }
}

/// A loss value and its partial derivatives in `l+` and `l-`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossEval {
    /// The loss `f` at the triple.
    pub value: f64,
    /// `∂f/∂l+`
    pub d_plus: f64,
    /// `∂f/∂l-`
    pub d_minus: f64,
}

/// A per-triple preference loss `f(l+, l-)`.
pub trait PairLoss: Send + Sync + Debug {
    /// Value and partials at one triple.
    fn eval(&self, lp: &LogProbs) -> LossEval;

    /// [`PairLoss::eval`] at every pair of `s`, into `out[i]` for pair `i`.
    /// The default needs no override: compiled for each loss, it makes one
    /// dynamic call for all pairs and inlines `eval` into the loop.
    ///
    /// Batch-level losses ([`LossSpec::batch_level`]) override it: there
    /// `out[i]` holds pair `i`'s share of the batch loss and the partials of
    /// the whole batch loss in that pair's `l+` and `l-`.
    fn eval_pairs(&self, s: &State, out: &mut [LossEval]) {
        for (i, o) in out.iter_mut().enumerate().take(s.data.pairs.len()) {
            *o = self.eval(&s.pair_logprobs(i));
        }
    }

    /// The loss with its stop-gradient quantities frozen at `at`: a loss
    /// whose exact gradient at `at` is what `eval_pairs` returns there
    /// (β-DPO: DPO at the batch temperature of `at`). `None` (the default)
    /// when `eval_pairs`'s partials already are the gradient of its total.
    fn detached_at(&self, _at: &State) -> Option<Box<dyn PairLoss>> {
        None
    }
}

pub use crate::maths::params::{Domain, ParamSpec};

/// The temperature β every DPO-style loss takes (default 0.1, the paper's).
pub const BETA: ParamSpec = ParamSpec {
    name: "beta",
    default: Some(0.1),
    domain: Domain::Positive,
};

/// A label-noise rate ε in [0, 0.5) (cDPO, robust DPO; default 0.1).
pub const EPSILON: ParamSpec = ParamSpec {
    name: "epsilon",
    default: Some(0.1),
    domain: Domain::HalfOpen(0.0, 0.5),
};

/// Label smoothing ε in [0, 0.5) with TRL's default 0 (AOT, AOT-pair).
pub const LABEL_SMOOTHING: ParamSpec = ParamSpec {
    name: "epsilon",
    default: Some(0.0),
    domain: Domain::HalfOpen(0.0, 0.5),
};

/// The largest exponent the exponential links (forward KL, α-divergence,
/// χPO) evaluate: `exp(min(t, EXP_CAP))`, `e^500 ≈ 1.4e217`. Past it the link
/// is flat (zero derivative), as TRL clamps its exponent; the cap leaves
/// ~1e91 of headroom below `f64::MAX` for β, 1/α and sums over pairs, so
/// values and gradients stay finite for any log-ratio.
pub const EXP_CAP: f64 = 500.0;

/// `exp(min(t, EXP_CAP))` and its derivative in `t` (0 past the cap).
#[inline]
pub fn capped_exp(t: f64) -> (f64, f64) {
    if t < EXP_CAP {
        let e = t.exp();
        (e, e)
    } else {
        (EXP_CAP.exp(), 0.0)
    }
}

/// The label-smoothed logistic loss `-(1-ε) log σ(u) - ε log σ(-u)` and its
/// derivative in `u` (cDPO's form; AOT and AOT-pair apply it to sorted margins).
#[inline]
pub fn smoothed_logistic(u: f64, epsilon: f64) -> (f64, f64) {
    let value = -(1.0 - epsilon) * log_sigmoid(u) - epsilon * log_sigmoid(-u);
    let du = -(1.0 - epsilon) * sigmoid(-u) + epsilon * sigmoid(u);
    (value, du)
}

impl LossEval {
    /// A loss of the scaled margin `u = βΔ` alone, given its value and
    /// `df/du`: then `∂f/∂l+ = β df/du = −∂f/∂l-`.
    pub fn of_margin(beta: f64, value: f64, df_du: f64) -> Self {
        LossEval {
            value,
            d_plus: beta * df_du,
            d_minus: -beta * df_du,
        }
    }
}

/// Everything the config layer needs to know about one loss.
pub struct LossSpec {
    /// The name used in configs (`loss.name`).
    pub name: &'static str,
    /// Its parameters, in the order `build` receives them.
    pub params: &'static [ParamSpec],
    /// Whether the loss reads the reference log-probabilities.
    pub uses_reference: bool,
    /// Whether a pair's term depends on the other pairs (sorting, batch
    /// statistics): then only [`PairLoss::eval_pairs`] gives the training
    /// loss, and per-triple checks of `eval` do not apply.
    pub batch_level: bool,
    /// Builds the loss from validated parameter values (in `params` order).
    pub build: fn(&[f64]) -> Box<dyn PairLoss>,
}

/// Every loss the lab knows, by config name.
pub const LOSSES: &[&LossSpec] = &[
    &dpo::SPEC,
    &flex_dpo::SPEC,
    &sft_dpo::SPEC,
    &ipo::SPEC,
    &slic::SPEC,
    &cdpo::SPEC,
    &robust_dpo::SPEC,
    &hinge::SPEC,
    &dpop::SPEC,
    &nca::SPEC,
    &apo_zero::SPEC,
    &apo_down::SPEC,
    &sppo_hard::SPEC,
    &bco_pair::SPEC,
    &simpo::SPEC,
    &cpo::SPEC,
    &orpo::SPEC,
    &sft::SPEC,
    &exo_pair::SPEC,
    &aot::SPEC,
    &aot_pair::SPEC,
    &discopop::SPEC,
    &dpo_forward_kl::SPEC,
    &dpo_js::SPEC,
    &dpo_alpha::SPEC,
    &cal_dpo::SPEC,
    &chi_po::SPEC,
    &beta_dpo::SPEC,
];

/// Looks a loss up by its config name.
pub fn spec(name: &str) -> Result<&'static LossSpec> {
    LOSSES
        .iter()
        .copied()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            let names: Vec<_> = LOSSES.iter().map(|s| s.name).collect();
            Error::config(
                "loss.name",
                format!("unknown loss `{name}`; allowed: {}", names.join(", ")),
            )
        })
}

/// Resolves a loss's parameters from `given`: fills defaults, rejects unknown
/// names and out-of-domain values. Returns the values in spec order.
pub fn resolve_params(spec: &LossSpec, given: &BTreeMap<String, f64>) -> Result<Vec<f64>> {
    resolve_param_list(spec.name, spec.params, given)
}

/// [`resolve_params`] for any named parameter list (losses and other objectives).
pub fn resolve_param_list(
    owner: &str,
    params: &[ParamSpec],
    given: &BTreeMap<String, f64>,
) -> Result<Vec<f64>> {
    for k in given.keys() {
        if !params.iter().any(|p| p.name == k) {
            let allowed: Vec<_> = params.iter().map(|p| p.name).collect();
            return Err(Error::config(
                format!("loss.{k}"),
                format!(
                    "is not a parameter of loss `{}`; allowed: {}",
                    owner,
                    if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ),
            ));
        }
    }
    params
        .iter()
        .map(|p| {
            let v = match (given.get(p.name), p.default) {
                (Some(&v), _) => v,
                (None, Some(d)) => d,
                (None, None) => {
                    return Err(Error::config(
                        format!("loss.{}", p.name),
                        format!("is required by loss `{}` ({})", owner, p.domain.describe()),
                    ))
                }
            };
            if !p.domain.contains(v) {
                return Err(Error::config(
                    format!("loss.{}", p.name),
                    format!("= {v} is out of range; must be {}", p.domain.describe()),
                ));
            }
            Ok(v)
        })
        .collect()
}

/// Adds `scale · [f+ (e_{a+} - π) + f- (e_{a-} - π)]` to the logit gradient
/// `dlogits` of one prompt, where `probs` is that prompt's row `π`.
/// This is the chain rule through log-softmax; it holds for every loss.
#[inline]
pub fn accumulate_logit_grad(
    eval: &LossEval,
    chosen: usize,
    rejected: usize,
    probs: &[f64],
    scale: f64,
    dlogits: &mut [f64],
) {
    let fp = scale * eval.d_plus;
    let fm = scale * eval.d_minus;
    let total = fp + fm;
    // DPO-like losses have f+ = -f-: the softmax terms cancel exactly.
    if total != 0.0 {
        for (g, &p) in dlogits.iter_mut().zip(probs) {
            *g -= total * p;
        }
    }
    dlogits[chosen] += fp;
    dlogits[rejected] += fm;
}

/// The state an objective is evaluated at; all slices are row-major `X × Y`.
#[derive(Debug, Clone, Copy)]
pub struct State<'a> {
    /// The data set whose pairs index `logp`, `probs` and `ref_logp`.
    pub data: &'a Dataset,
    /// `log π_θ(a|x)`
    pub logp: &'a [f64],
    /// `π_θ(a|x)`, the exponentials of `logp`.
    pub probs: &'a [f64],
    /// `log π_0(a|x)`
    pub ref_logp: &'a [f64],
}

impl State<'_> {
    /// The four log-probabilities of pair `i`.
    pub fn pair_logprobs(&self, i: usize) -> LogProbs {
        let p = self.data.pairs[i];
        let at = p.prompt * self.data.n_responses;
        LogProbs {
            l_plus: self.logp[at + p.chosen],
            l_minus: self.logp[at + p.rejected],
            l0_plus: self.ref_logp[at + p.chosen],
            l0_minus: self.ref_logp[at + p.rejected],
        }
    }
}
