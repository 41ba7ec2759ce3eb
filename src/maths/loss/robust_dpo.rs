//! Robust DPO (rDPO; Chowdhury, Kini & Natarajan 2024, "Provably Robust DPO:
//! Aligning Language Models with Noisy Feedback"): the unbiased
//! de-noised DPO loss under a known label-flip rate `ε < ½`,
//!
//! `f = [-(1-ε) log σ(βΔ) + ε log σ(-βΔ)] / (1 - 2ε)`.
//!
//! This is the paper's eq. (8) and TRL's `loss_type = "robust"` (with
//! `label_smoothing = ε`). Unlike cDPO the `ε` term enters with a plus sign,
//! so the loss is unbounded below in `Δ`: as `βΔ → ∞` its slope tends to
//! `-ε/(1-2ε)` rather than 0. With `u = βΔ`,
//! `∂f/∂u = -[(1-ε) σ(-u) + ε σ(u)] / (1-2ε)`, and `f+ = β ∂f/∂u = -f-`.
//! `ε = 0` is DPO.

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA, EPSILON};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// Robust DPO with temperature `beta` and assumed flip rate `epsilon`.
#[derive(Debug, Clone, Copy)]
pub struct RobustDpo {
    /// Temperature β > 0 on the margin `Δ` (default 0.1).
    pub beta: f64,
    /// Known label-flip rate ε ∈ [0, 0.5) the loss de-noises; 0 gives DPO
    /// (default 0.1).
    pub epsilon: f64,
}

impl PairLoss for RobustDpo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let u = self.beta * lp.delta();
        let e = self.epsilon;
        let norm = 1.0 - 2.0 * e;
        let du = -((1.0 - e) * sigmoid(-u) + e * sigmoid(u)) / norm;
        let value = (-(1.0 - e) * log_sigmoid(u) + e * log_sigmoid(-u)) / norm;
        LossEval::of_margin(self.beta, value, du)
    }
}

/// Config entry: `name = "robust-dpo"`, `beta` (0.1), `epsilon` (0.1, in
/// [0, 0.5); losses.md gives no default, 0.1 matches cDPO's).
pub const SPEC: LossSpec = LossSpec {
    name: "robust-dpo",
    params: &[BETA, EPSILON],
    uses_reference: true,
    batch_level: false,
    build: |p| {
        Box::new(RobustDpo {
            beta: p[0],
            epsilon: p[1],
        })
    },
};
