//! Policies: maps from a flat parameter vector to the logits of every prompt,
//! and back-propagation of logit gradients to parameter gradients. The
//! training loop sees only this interface.
//!
//! Adding a policy: write `src/maths/policy/NAME.rs` implementing [`Policy`],
//! declare it in [`POLICIES`], and build it for its `kind` in
//! `io::config::PolicyConfig::build`.

use crate::maths::numerics::softmax_rows;
use crate::maths::optim::Optimizer;
use crate::maths::precision::{round_f32, Precision};
use std::fmt::Debug;

pub mod loglinear;
pub mod mlp;
pub mod native;
pub mod shared_bias;
pub mod tabular;

pub use loglinear::Loglinear;
pub use mlp::{Activation, Mlp, MlpInit};
pub use shared_bias::SharedBias;
pub use tabular::Tabular;

/// A softmax policy over `n_responses` responses for each of `n_prompts` prompts.
pub trait Policy: Send + Sync + Debug {
    /// Number of prompts `X`.
    fn n_prompts(&self) -> usize;
    /// Number of responses `Y`.
    fn n_responses(&self) -> usize;
    /// Length of the flat parameter vector.
    fn n_params(&self) -> usize;
    /// Length of the scratch buffer `forward` fills and `backward` reads.
    fn scratch_len(&self) -> usize;
    /// Initial parameters, a deterministic function of `seed`.
    fn init_params(&self, seed: u64) -> Vec<f64>;
    /// Writes the `X × Y` row-major logits; caches what `backward` needs in `scratch`.
    fn forward(&self, params: &[f64], scratch: &mut [f64], logits: &mut [f64]);
    /// Whether `forward` writes the parameters themselves as the logits
    /// (`n_params = X · Y`, no scratch) and `backward` copies the logit
    /// gradient (`backward_step` is then a plain `Optimizer::step`). The
    /// training loop then reads the logits in place of a copy and updates the
    /// parameters with the logit gradient directly; the default, `false`,
    /// always calls `forward` and `backward_step`.
    fn logits_are_params(&self) -> bool {
        false
    }
    /// Overwrites `grad` with `∂L/∂params` given `dlogits = ∂L/∂logits`, for the
    /// parameters and scratch of the last `forward`.
    fn backward(&self, params: &[f64], scratch: &mut [f64], dlogits: &[f64], grad: &mut [f64]);
    /// Back-propagates `dlogits` (as [`Policy::backward`]) and applies one
    /// update of `opt` to `params`; `grad` is room for `n_params` values.
    /// A policy may override this to update each block of parameters as soon
    /// as its gradient is known, provided the result is bit-identical to
    /// this default.
    fn backward_step(
        &self,
        params: &mut [f64],
        scratch: &mut [f64],
        dlogits: &[f64],
        grad: &mut [f64],
        opt: &mut Optimizer,
    ) {
        self.backward(params, scratch, dlogits, grad);
        opt.step(params, grad);
    }
    /// [`Policy::backward_step`], then, if the policy can do it as part of
    /// the step, the forward pass of the updated parameters: `logits` and the
    /// scratch as [`Policy::forward`] would leave them (returns true, and the
    /// caller skips its next `forward`). The default only steps (false).
    fn backward_step_ahead(
        &self,
        params: &mut [f64],
        scratch: &mut [f64],
        dlogits: &[f64],
        grad: &mut [f64],
        opt: &mut Optimizer,
        _logits: &mut [f64],
    ) -> bool {
        self.backward_step(params, scratch, dlogits, grad, opt);
        false
    }
    /// Parameters whose logits are exactly `logits` (row-major `X × Y`), when
    /// the policy can represent any logit table; `None` otherwise (the
    /// reference step then fits by gradient descent).
    fn exact_params(&self, _logits: &[f64]) -> Option<Vec<f64>> {
        None
    }
    /// The policy as the native float32 path runs it
    /// (`precision = "f32-native"`), if it can; `None` by default.
    fn native(&self) -> Option<crate::maths::policy::native::Net> {
        None
    }
}

/// One policy family as the registry declares it: the name a config uses
/// (`policy.kind`), the name figures show, and the `[policy]` fields that
/// apply to it. Declared once, in [`POLICIES`]; config validation, error
/// messages and figure labels read it.
#[derive(Debug, Clone, Copy)]
pub struct PolicySpec {
    /// The value of `policy.kind`.
    pub name: &'static str,
    /// The name in figures and report text.
    pub display: &'static str,
    /// The optional `[policy]` fields this family reads (any other is an error).
    pub fields: &'static [&'static str],
    /// Whether the family runs on the native float32 path
    /// (`precision = "f32-native"`; its [`Policy::native`] is `Some`).
    pub native: bool,
}

/// Every policy family, from least to most parameter sharing.
pub const POLICIES: [PolicySpec; 4] = [
    PolicySpec {
        name: "tabular",
        display: "tabular",
        fields: &[],
        native: true,
    },
    PolicySpec {
        name: "shared-bias",
        display: "shared bias",
        fields: &[],
        native: false,
    },
    PolicySpec {
        name: "loglinear",
        display: "log-linear",
        fields: &["init_scale", "dim", "freeze_responses", "pair_similarity"],
        native: false,
    },
    PolicySpec {
        name: "mlp",
        display: "MLP",
        fields: &["width", "activation", "init_scale", "init"],
        native: true,
    },
];

/// The registry entry named `name`, if any.
pub fn policy_spec(name: &str) -> Option<&'static PolicySpec> {
    POLICIES.iter().find(|p| p.name == name)
}

/// Row-wise log-softmax of the policy's logits at `params`.
pub fn log_probs(policy: &dyn Policy, params: &[f64]) -> Vec<f64> {
    let (x, y) = (policy.n_prompts(), policy.n_responses());
    let mut scratch = vec![0.0; policy.scratch_len()];
    let mut logits = vec![0.0; x * y];
    policy.forward(params, &mut scratch, &mut logits);
    // The training loop's own softmax, so that π_θ = π_0 holds bit for bit at epoch 0.
    let (mut logp, mut probs) = (vec![0.0; x * y], vec![0.0; x * y]);
    softmax_rows(&logits, y, &mut logp, &mut probs);
    logp
}

/// Row-wise log-softmax of the policy's logits at `params`, computed as the
/// training loop of `precision` computes it: in f32 the logits and the
/// log-probabilities are rounded to f32 (see [`crate::maths::precision`]).
pub fn log_probs_in(policy: &dyn Policy, params: &[f64], precision: Precision) -> Vec<f64> {
    if precision == Precision::F64 {
        return log_probs(policy, params);
    }
    let (x, y) = (policy.n_prompts(), policy.n_responses());
    let mut scratch = vec![0.0; policy.scratch_len()];
    let mut logits = vec![0.0; x * y];
    policy.forward(params, &mut scratch, &mut logits);
    round_f32(&mut logits);
    let (mut logp, mut probs) = (vec![0.0; x * y], vec![0.0; x * y]);
    softmax_rows(&logits, y, &mut logp, &mut probs);
    round_f32(&mut logp);
    logp
}
