//! f-DPO with the forward KL divergence (Wang et al. 2023, "Beyond Reverse
//! KL: Generalizing Direct Preference Optimization with Diverse Divergence
//! Constraints"): the reference term of DPO's implicit reward is `f'(π/π0)`
//! for the divergence's `f`; forward KL has `f'(u) = 1 - 1/u`, so, with the
//! constant dropped, the reward is `-e^{-r}` and
//!
//! `f = -log σ(β m)`, `m = e^{-r-} - e^{-r+}`.
//!
//! This is TRL's DPOTrainer `f_divergence_type = "forward_kl"` (scores
//! `-exp(-logratio)`, `trl/trainer/dpo_trainer.py`, `_compute_loss`,
//! huggingface/trl commit f2cd577), and the α-divergence at α = 1
//! ([`super::dpo_alpha`]; tested). Each exponential is
//! `exp(min(-r, EXP_CAP))` ([`super::EXP_CAP`], flat past the cap) so that
//! no log-ratio overflows it. `f+ = -β σ(-βm) e^{-r+}`,
//! `f- = β σ(-βm) e^{-r-}` (each 0 past the cap); the softmax terms of the
//! logit gradient do not cancel.

use super::{capped_exp, LogProbs, LossEval, LossSpec, PairLoss, BETA};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// f-DPO under the forward KL divergence, temperature `beta`.
#[derive(Debug, Clone, Copy)]
pub struct DpoForwardKl {
    /// Temperature β > 0 on the margin `m` (default 0.1).
    pub beta: f64,
}

impl PairLoss for DpoForwardKl {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let (ep, dep) = capped_exp(-lp.r_plus());
        let (em, dem) = capped_exp(-lp.r_minus());
        let u = self.beta * (em - ep);
        let g = self.beta * sigmoid(-u);
        LossEval {
            value: -log_sigmoid(u),
            d_plus: -g * dep,
            d_minus: g * dem,
        }
    }
}

/// Config entry: `name = "dpo-forward-kl"`, `beta` (0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "dpo-forward-kl",
    params: &[BETA],
    uses_reference: true,
    batch_level: false,
    build: |p| Box::new(DpoForwardKl { beta: p[0] }),
};
