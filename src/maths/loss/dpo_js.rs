//! f-DPO with the Jensen–Shannon divergence (Wang et al. 2023, "Beyond
//! Reverse KL: Generalizing Direct Preference Optimization with Diverse
//! Divergence Constraints"): `f'(u) = log(2u/(1+u))`, so, with `log 2`
//! dropped, the reward of a response is `log σ(r)` and
//!
//! `f = -log σ(β m)`, `m = log σ(r+) - log σ(r-) = Δ - (softplus(r+) - softplus(r-))`.
//!
//! Current TRL (`f_divergence_type = "js_divergence"`, scores
//! `logsigmoid(logratio)`, `trl/trainer/dpo_trainer.py`, `_compute_loss`,
//! huggingface/trl commit f2cd577) and its earlier form
//! (`logits -= softplus(r+) - softplus(r-)`, before e3b7897) agree. `m` is
//! formed from two log-sigmoids, finite for every log-ratio.
//! `f+ = -β σ(-βm) σ(-r+)`, `f- = β σ(-βm) σ(-r-)`.

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// f-DPO under the Jensen–Shannon divergence, temperature `beta`.
#[derive(Debug, Clone, Copy)]
pub struct DpoJs {
    /// Temperature β > 0 on the margin `m` (default 0.1).
    pub beta: f64,
}

impl PairLoss for DpoJs {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let (rp, rm) = (lp.r_plus(), lp.r_minus());
        let u = self.beta * (log_sigmoid(rp) - log_sigmoid(rm));
        let g = self.beta * sigmoid(-u);
        LossEval {
            value: -log_sigmoid(u),
            d_plus: -g * sigmoid(-rp),
            d_minus: g * sigmoid(-rm),
        }
    }
}

/// Config entry: `name = "dpo-js"`, `beta` (0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "dpo-js",
    params: &[BETA],
    uses_reference: true,
    batch_level: false,
    build: |p| Box::new(DpoJs { beta: p[0] }),
};
