//! Conservative DPO (cDPO; Mitchell 2023, "A note on DPO with noisy
//! preferences"): DPO with label smoothing, assuming each preference label is
//! flipped with probability `ε`:
//!
//! `f = -(1-ε) log σ(βΔ) - ε log σ(-βΔ)`, `Δ = r+ - r-`.
//!
//! This is TRL's `loss_type = "sigmoid"` with `label_smoothing = ε`. With
//! `u = βΔ`, `∂f/∂u = -(1-ε) σ(-u) + ε σ(u)`, so `f+ = β ∂f/∂u = -f-` and,
//! as for DPO, the softmax terms of the logit gradient cancel. The loss is
//! minimised at the finite margin `u = log((1-ε)/ε)`; `ε = 0` is DPO.

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA, EPSILON};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// DPO with temperature `beta` and label-smoothing (flip rate) `epsilon`.
#[derive(Debug, Clone, Copy)]
pub struct CDpo {
    /// Temperature β > 0 on the margin `Δ` (default 0.1).
    pub beta: f64,
    /// Assumed probability ε ∈ [0, 0.5) that a preference label is flipped;
    /// 0 gives DPO (default 0.1).
    pub epsilon: f64,
}

impl PairLoss for CDpo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let u = self.beta * lp.delta();
        let e = self.epsilon;
        let du = -(1.0 - e) * sigmoid(-u) + e * sigmoid(u);
        LossEval::of_margin(
            self.beta,
            -(1.0 - e) * log_sigmoid(u) - e * log_sigmoid(-u),
            du,
        )
    }
}

/// Config entry: `name = "cdpo"`, `beta` (0.1), `epsilon` (0.1, in [0, 0.5)).
pub const SPEC: LossSpec = LossSpec {
    name: "cdpo",
    params: &[BETA, EPSILON],
    uses_reference: true,
    batch_level: false,
    build: |p| {
        Box::new(CDpo {
            beta: p[0],
            epsilon: p[1],
        })
    },
};
