//! DPO (Rafailov et al. 2023): `f = -log σ(βΔ)`, `Δ = r+ - r-`.
//! `f+ = -β σ(-βΔ) = -f-`, so the softmax terms of the logit gradient cancel.

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA};
use crate::numerics::log_sigmoid_and_sigmoid_neg;

/// Direct Preference Optimization with temperature `beta`.
#[derive(Debug, Clone, Copy)]
pub struct Dpo {
    pub beta: f64,
}

impl PairLoss for Dpo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let (log_sig, sig_neg) = log_sigmoid_and_sigmoid_neg(self.beta * lp.delta());
        let g = self.beta * sig_neg;
        LossEval {
            value: -log_sig,
            d_plus: -g,
            d_minus: g,
        }
    }
}

/// Config entry: `name = "dpo"`, `beta` (default 0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "dpo",
    params: &[BETA],
    uses_reference: true,
    build: |p| Box::new(Dpo { beta: p[0] }),
};
