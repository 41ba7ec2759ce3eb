//! NCA, pairwise form (Chen, Yang, Lin, Wang & Zhu 2024, "Noise Contrastive
//! Alignment of Language Models with Explicit Rewards"), as TRL's
//! `loss_type = "nca_pair"`:
//!
//! `f = -log σ(β r+) - ½ log σ(-β r+) - ½ log σ(-β r-)`.
//!
//! The paper's NCA is written for K responses with soft reward targets; this
//! is its K = 2 specialisation with a hard preference, in TRL's form. Unlike
//! DPO it acts on the two log-ratios separately (not only on Δ), and its
//! chosen term is minimised at the finite `β r+ = log 2`.
//! With `a = β r+`, `b = β r-`: `f+ = β(-σ(-a) + ½ σ(a))`, `f- = ½ β σ(b)`.

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// Pairwise noise-contrastive alignment with temperature `beta`.
#[derive(Debug, Clone, Copy)]
pub struct NcaPair {
    /// Temperature β > 0 on the two log-ratios `r+`, `r-` (default 0.1).
    pub beta: f64,
}

impl PairLoss for NcaPair {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let a = self.beta * lp.r_plus();
        let b = self.beta * lp.r_minus();
        LossEval {
            value: -log_sigmoid(a) - 0.5 * log_sigmoid(-a) - 0.5 * log_sigmoid(-b),
            d_plus: self.beta * (0.5 * sigmoid(a) - sigmoid(-a)),
            d_minus: 0.5 * self.beta * sigmoid(b),
        }
    }
}

/// Config entry: `name = "nca"`, `beta` (0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "nca",
    params: &[BETA],
    uses_reference: true,
    batch_level: false,
    build: |p| Box::new(NcaPair { beta: p[0] }),
};
