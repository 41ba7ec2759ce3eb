//! CPO (Xu, Sharaf, Chen, Tan, Shen, Van Durme, Murray & Kim 2024,
//! "Contrastive Preference Optimization: Pushing the Boundaries of LLM
//! Performance in Machine Translation"): a reference-free DPO term plus the
//! chosen response's negative log-likelihood,
//!
//! `f = -log σ(β(l+ - l-)) - l+`.
//!
//! This is the paper's `L_prefer + L_NLL` (eq. 6) with `|y| = 1`. TRL's CPO
//! trainer weights the NLL term by `cpo_alpha` (default 1, the form here) and
//! averages the NLL over tokens. `f+ = -β σ(-u) - 1`, `f- = β σ(-u)`, with
//! `u = β(l+ - l-)`.

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// Contrastive preference optimisation with temperature `beta`.
#[derive(Debug, Clone, Copy)]
pub struct Cpo {
    /// Temperature β > 0 on the reference-free margin `l+ - l-` (default 0.1).
    pub beta: f64,
}

impl PairLoss for Cpo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let u = self.beta * (lp.l_plus - lp.l_minus);
        let g = self.beta * sigmoid(-u);
        LossEval {
            value: -log_sigmoid(u) - lp.l_plus,
            d_plus: -g - 1.0,
            d_minus: g,
        }
    }
}

/// Config entry: `name = "cpo"`, `beta` (0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "cpo",
    params: &[BETA],
    uses_reference: false,
    batch_level: false,
    build: |p| Box::new(Cpo { beta: p[0] }),
};
