//! DiscoPOP, the log-ratio modulated loss (Lu et al. 2024, "Discovering
//! Preference Optimization Algorithms with and for Large Language Models",
//! eq. 5): a blend of the logistic (DPO) and exponential losses of the
//! scaled margin `u = βΔ`, switched by a sigmoid of `u/τ`:
//!
//! `f = (1 - m) (-log σ(u)) + m e^{-u}`, `m = σ(u/τ)`.
//!
//! This is TRL's DPOTrainer `loss_type = "discopop"` with `discopop_tau = τ`
//! (default 0.05, the paper's; `trl/trainer/dpo_trainer.py`, `_compute_loss`,
//! huggingface/trl commit f2cd577). With `A = m e^{-u}`, computed as
//! `exp(log σ(u/τ) - u)` so that no infinity meets a zero,
//!
//! `df/du = (1-m) A / τ - m (1-m) (-log σ(u)) / τ - (1-m) σ(-u) - A`,
//! `f+ = β df/du = -f-`.
//!
//! Limits: at `u = 0`, `f = ½ log 2 + ½` for every τ; for `|u| ≫ τ` the loss
//! is DPO's below zero and `e^{-u}` above. For τ ≤ 1 it is finite for every
//! finite `u`; for τ > 1 it grows like `e^{|u|(1 - 1/τ)}` as `u → -∞`.
//!
//! The loss is not monotone in the margin (the paper notes it is
//! non-convex): `df/du(0) = (1 - log 2)/(4τ) - ¾`, positive for
//! τ < (1 - log 2)/3 ≈ 0.102. At the default τ = 0.05 it has a local maximum
//! at `u ≈ 0.072` and a local minimum at `u ≈ -0.119`, so a policy that
//! starts at its reference (`u = 0`) is pushed to a small *negative* margin
//! and can stay there (the zoo's runs at the defaults do).

use super::{Domain, LogProbs, LossEval, LossSpec, PairLoss, ParamSpec, BETA};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// The log-ratio modulated loss with temperature `beta` and switch width `tau`.
#[derive(Debug, Clone, Copy)]
pub struct DiscoPop {
    /// Temperature β > 0 on the margin `Δ` (default 0.1).
    pub beta: f64,
    /// Width τ > 0 of the sigmoid switch in `u = βΔ` (default 0.05).
    pub tau: f64,
}

impl PairLoss for DiscoPop {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let u = self.beta * lp.delta();
        let z = u / self.tau;
        let (m, one_m) = (sigmoid(z), sigmoid(-z));
        let logistic = -log_sigmoid(u);
        let a = (log_sigmoid(z) - u).exp();
        let value = one_m * logistic + a;
        let du = one_m * a / self.tau - m * one_m * logistic / self.tau - one_m * sigmoid(-u) - a;
        LossEval::of_margin(self.beta, value, du)
    }
}

/// Config entry: `name = "discopop"`, `beta` (0.1), `tau` (0.05).
pub const SPEC: LossSpec = LossSpec {
    name: "discopop",
    params: &[
        BETA,
        ParamSpec {
            name: "tau",
            default: Some(0.05),
            domain: Domain::Positive,
        },
    ],
    uses_reference: true,
    batch_level: false,
    build: |p| {
        Box::new(DiscoPop {
            beta: p[0],
            tau: p[1],
        })
    },
};
