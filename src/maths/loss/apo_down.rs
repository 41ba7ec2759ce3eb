//! APO-down (Anchored Preference Optimization; D'Oosterlinck et al. 2024,
//! "Anchored Preference Optimization and Contrastive Revisions"), as TRL's
//! `loss_type = "apo_down"`:
//!
//! `f = σ(β r+) + 1 - σ(βΔ)`.
//!
//! It lowers the chosen likelihood relative to the reference while widening
//! the margin Δ (meant for when the model's outputs are better than the
//! chosen responses), so on its own it pushes `l+` down.
//! With `a = β r+`, `u = βΔ`: `f+ = β σ(a) σ(-a) - β σ(u) σ(-u)`,
//! `f- = β σ(u) σ(-u)`.

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA};
use crate::maths::numerics::sigmoid;

/// APO anchored downwards, temperature `beta`.
#[derive(Debug, Clone, Copy)]
pub struct ApoDown {
    /// Temperature β > 0 on `r+` and on the margin `Δ` (default 0.1).
    pub beta: f64,
}

impl PairLoss for ApoDown {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let a = self.beta * lp.r_plus();
        let u = self.beta * lp.delta();
        let (sa, su) = (sigmoid(a), sigmoid(u));
        let gu = self.beta * su * sigmoid(-u);
        LossEval {
            value: sa + 1.0 - su,
            d_plus: self.beta * sa * sigmoid(-a) - gu,
            d_minus: gu,
        }
    }
}

/// Config entry: `name = "apo-down"`, `beta` (0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "apo-down",
    params: &[BETA],
    uses_reference: true,
    batch_level: false,
    build: |p| Box::new(ApoDown { beta: p[0] }),
};
