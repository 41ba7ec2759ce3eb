//! χPO (Huang et al. 2024, "Correcting the Mythos of KL-Regularization:
//! Direct Alignment without Overoptimization via χ²-Preference
//! Optimization", algorithm 1): DPO with the log link replaced by
//! `φ(z) = z + log z` of the ratio `z = π/π0` (χ² plus KL regularisation),
//! i.e. the link `φ = e^r + r` of the log-ratio, and the margin clipped to
//! `[-2R_max, 2R_max]`, `R_max` the bound of the rewards:
//!
//! `f = -log σ(clip(u, -2R_max, 2R_max))`,
//! `u = β [(e^{r+} + r+) - (e^{r-} + r-)]`.
//!
//! Clipped (`|u| > 2R_max`), the loss is flat: no gradient pushes a pair
//! whose margin is already beyond `2R_max`, nor pulls one beyond `-2R_max`.
//! `R_max` defaults to 1 (rewards in [0, 1], clip at ±2); the paper leaves
//! it to the reward scale. TRL has no χPO loss. Each `e^r` is
//! `exp(min(r, EXP_CAP))` ([`super::EXP_CAP`]), so no log-ratio overflows
//! it. Unclipped, `f+ = -β σ(-u)(e^{r+} + 1)`, `f- = β σ(-u)(e^{r-} + 1)`.

use super::{capped_exp, Domain, LogProbs, LossEval, LossSpec, PairLoss, ParamSpec, BETA};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// χ²-preference optimisation with temperature `beta` and reward bound `r_max`.
#[derive(Debug, Clone, Copy)]
pub struct ChiPo {
    /// Temperature β > 0 on the φ-link margin (default 0.1).
    pub beta: f64,
    /// Reward bound `R_max > 0`: the margin is clipped to ±2R_max (default 1).
    pub r_max: f64,
}

impl PairLoss for ChiPo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let (rp, rm) = (lp.r_plus(), lp.r_minus());
        let (ep, dep) = capped_exp(rp);
        let (em, dem) = capped_exp(rm);
        let raw = self.beta * ((ep - em) + (rp - rm));
        let bound = 2.0 * self.r_max;
        let u = raw.clamp(-bound, bound);
        if raw.abs() > bound {
            return LossEval {
                value: -log_sigmoid(u),
                d_plus: 0.0,
                d_minus: 0.0,
            };
        }
        let g = self.beta * sigmoid(-u);
        LossEval {
            value: -log_sigmoid(u),
            d_plus: -g * (dep + 1.0),
            d_minus: g * (dem + 1.0),
        }
    }
}

/// Config entry: `name = "chi-po"`, `beta` (0.1), `r_max` (1).
pub const SPEC: LossSpec = LossSpec {
    name: "chi-po",
    params: &[
        BETA,
        ParamSpec {
            name: "r_max",
            default: Some(1.0),
            domain: Domain::Positive,
        },
    ],
    uses_reference: true,
    batch_level: false,
    build: |p| {
        Box::new(ChiPo {
            beta: p[0],
            r_max: p[1],
        })
    },
};
