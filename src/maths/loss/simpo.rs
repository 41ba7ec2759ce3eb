//! SimPO (Meng, Xia & Chen 2024, "SimPO: Simple Preference Optimization with
//! a Reference-Free Reward"): no reference model, a target margin `γ`,
//!
//! `f = -log σ(β(l+ - l-) - γ)`.
//!
//! The paper normalises each log-likelihood by the response length; here
//! `|y| = 1`, so that vanishes. `γ` is the absolute margin, as in the paper's
//! eq. (6) and TRL's CPO trainer (`loss_type = "simpo"`, which stores
//! `simpo_gamma` and computes `β·(l+ - l- - γ/β)`); later versions of the
//! paper's code tune the ratio `γ/β` instead. Defaults `β = 2`, `γ = 0.5`.
//! With `u = β(l+ - l-) - γ`: `f+ = -β σ(-u) = -f-`. At `γ = 0` this is DPO
//! with a uniform (or any `l0+ = l0-`) reference.

use super::{Domain, LogProbs, LossEval, LossSpec, PairLoss, ParamSpec};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// Reference-free margin loss with temperature `beta` and margin `gamma`.
#[derive(Debug, Clone, Copy)]
pub struct SimPo {
    /// Temperature β > 0 on the reference-free margin `l+ - l-` (default 2).
    pub beta: f64,
    /// Target margin γ ≥ 0, subtracted from `β(l+ - l-)` (the absolute margin,
    /// not the ratio `γ/β`; default 0.5).
    pub gamma: f64,
}

impl PairLoss for SimPo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let u = self.beta * (lp.l_plus - lp.l_minus) - self.gamma;
        let g = self.beta * sigmoid(-u);
        LossEval {
            value: -log_sigmoid(u),
            d_plus: -g,
            d_minus: g,
        }
    }
}

/// Config entry: `name = "simpo"`, `beta` (2), `gamma` (0.5, `≥ 0`).
pub const SPEC: LossSpec = LossSpec {
    name: "simpo",
    params: &[
        ParamSpec {
            name: "beta",
            default: Some(2.0),
            domain: Domain::Positive,
        },
        ParamSpec {
            name: "gamma",
            default: Some(0.5),
            domain: Domain::NonNegative,
        },
    ],
    uses_reference: false,
    batch_level: false,
    build: |p| {
        Box::new(SimPo {
            beta: p[0],
            gamma: p[1],
        })
    },
};
