//! APO-zero (Anchored Preference Optimization; D'Oosterlinck, Xu, Develder,
//! Demeester, Singh, Potts, Kiela & Mehri 2024, "Anchored Preference
//! Optimization and Contrastive Revisions"), as TRL's
//! `loss_type = "apo_zero"`:
//!
//! `f = 1 - σ(β r+) + σ(β r-)`.
//!
//! Anchored at zero: it raises the chosen and lowers the rejected likelihood
//! relative to the reference, each through its own sigmoid (meant for when
//! the chosen responses are better than the current model's outputs).
//! With `a = β r+`, `b = β r-`: `f+ = -β σ(a) σ(-a)`, `f- = β σ(b) σ(-b)`.

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA};
use crate::maths::numerics::sigmoid;

/// APO anchored at zero, temperature `beta`.
#[derive(Debug, Clone, Copy)]
pub struct ApoZero {
    /// Temperature β > 0 on the two log-ratios `r+`, `r-` (default 0.1).
    pub beta: f64,
}

impl PairLoss for ApoZero {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let a = self.beta * lp.r_plus();
        let b = self.beta * lp.r_minus();
        let (sa, sb) = (sigmoid(a), sigmoid(b));
        LossEval {
            value: 1.0 - sa + sb,
            d_plus: -self.beta * sa * sigmoid(-a),
            d_minus: self.beta * sb * sigmoid(-b),
        }
    }
}

/// Config entry: `name = "apo-zero"`, `beta` (0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "apo-zero",
    params: &[BETA],
    uses_reference: true,
    batch_level: false,
    build: |p| Box::new(ApoZero { beta: p[0] }),
};
