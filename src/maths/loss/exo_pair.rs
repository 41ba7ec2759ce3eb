//! EXO, pairwise form (Ji et al. 2024, "Towards Efficient Exact Optimization
//! of Language Model Alignment", eq. 16 with `K = 2`): the KL divergence from
//! the policy's implicit preference distribution over the pair,
//! `q = (σ(u), σ(-u))` with `u = βΔ`, to the label-smoothed target
//! `p = (1-ε, ε)`:
//!
//! `f = σ(u) [log σ(u) - log(1-ε)] + σ(-u) [log σ(-u) - log ε]`.
//!
//! This is TRL's DPOTrainer `loss_type = "exo_pair"` with
//! `label_smoothing = ε` (`trl/trainer/dpo_trainer.py`, `_compute_loss`,
//! huggingface/trl commit f2cd577); TRL rejects `ε = 0` (the loss is then
//! infinite) and the paper recommends `ε = 1e-3`, the default here.
//!
//! `df/du = σ(u) σ(-u) (u - L)` with `L = log((1-ε)/ε)`, and
//! `f+ = β df/du = -f-`. The loss is a KL divergence, so `f ≥ 0`, with its
//! only zero at the finite margin `u = L`; it is bounded: `f → -log(1-ε)` as
//! `u → +∞` and `f → -log ε` as `u → -∞`, where its gradient vanishes
//! (unlike DPO's, which tends to `-β` as `u → -∞`).

use super::{Domain, LogProbs, LossEval, LossSpec, PairLoss, ParamSpec, BETA};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// EXO-pref with temperature `beta` and label smoothing `epsilon`.
#[derive(Debug, Clone, Copy)]
pub struct ExoPair {
    /// Temperature β > 0 on the margin `Δ` (default 0.1).
    pub beta: f64,
    /// Target probability ε ∈ (0, 0.5) of the rejected response (default 1e-3).
    pub epsilon: f64,
}

impl PairLoss for ExoPair {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let u = self.beta * lp.delta();
        let (qw, ql) = (sigmoid(u), sigmoid(-u));
        let (log_qw, log_ql) = (log_sigmoid(u), log_sigmoid(-u));
        let (log_pw, log_pl) = ((-self.epsilon).ln_1p(), self.epsilon.ln());
        let value = qw * (log_qw - log_pw) + ql * (log_ql - log_pl);
        // log q_w - log q_l = u exactly; log p_w - log p_l = L.
        let du = qw * ql * (u - (log_pw - log_pl));
        LossEval::of_margin(self.beta, value, du)
    }
}

/// Config entry: `name = "exo-pair"`, `beta` (0.1), `epsilon` (1e-3, in (0, 0.5)).
pub const SPEC: LossSpec = LossSpec {
    name: "exo-pair",
    params: &[
        BETA,
        ParamSpec {
            name: "epsilon",
            default: Some(1e-3),
            domain: Domain::Open(0.0, 0.5),
        },
    ],
    uses_reference: true,
    batch_level: false,
    build: |p| {
        Box::new(ExoPair {
            beta: p[0],
            epsilon: p[1],
        })
    },
};
