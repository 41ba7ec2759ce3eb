//! BCO, pairwise form (Jung, Han, Lee, Kim & Kim 2024, "Binary Classifier
//! Optimization for Large Language Model Alignment"), with the reward shift
//! `δ = 0`:
//!
//! `f = -log σ(β r+) - log σ(-β r-)`.
//!
//! The paper and TRL's `loss_type = "bco_pair"` subtract from both rewards
//! `δ`, a running mean of the batch rewards `β r±` (detached); that makes
//! the loss depend on the training history, not only on the triple, so it is
//! omitted here (`δ = 0`). The chosen and rejected log-ratios are then
//! classified independently: `f+ = -β σ(-β r+)`, `f- = β σ(β r-)`.

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// Pairwise binary-classifier optimisation (δ = 0), temperature `beta`.
#[derive(Debug, Clone, Copy)]
pub struct BcoPair {
    /// Temperature β > 0 on the two log-ratios `r+`, `r-` (default 0.1).
    pub beta: f64,
}

impl PairLoss for BcoPair {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let a = self.beta * lp.r_plus();
        let b = self.beta * lp.r_minus();
        LossEval {
            value: -log_sigmoid(a) - log_sigmoid(-b),
            d_plus: -self.beta * sigmoid(-a),
            d_minus: self.beta * sigmoid(b),
        }
    }
}

/// Config entry: `name = "bco-pair"`, `beta` (0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "bco-pair",
    params: &[BETA],
    uses_reference: true,
    batch_level: false,
    build: |p| Box::new(BcoPair { beta: p[0] }),
};
