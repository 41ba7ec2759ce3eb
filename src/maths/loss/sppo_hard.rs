//! SPPO, hard-label pairwise form (Wu, Sun, Yuan, Ji, Yang & Gu 2024,
//! "Self-Play Preference Optimization for Language Model Alignment"), as
//! TRL's `loss_type = "sppo_hard"`:
//!
//! `f = (r+ - 1/(2β))² + (r- + 1/(2β))²`.
//!
//! The paper regresses `log(π_θ/π_t)` onto `η (P̂(y ≻ π_t) - ½)` with a
//! win probability `P̂` estimated by a preference model; TRL's "hard" version
//! sets `P̂ = 1` for the chosen and `0` for the rejected response, with
//! `η = 1/β`. The minimiser is `r+ = 1/(2β)`, `r- = -1/(2β)`.
//! `f+ = 2(r+ - 1/(2β))`, `f- = 2(r- + 1/(2β))`.

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA};

/// Hard-label SPPO with temperature `beta` (targets `±1/(2β)`).
#[derive(Debug, Clone, Copy)]
pub struct SppoHard {
    /// Temperature β > 0: the log-ratios are pulled to `±1/(2β)` (default 0.1).
    pub beta: f64,
}

impl PairLoss for SppoHard {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let t = 0.5 / self.beta;
        let a = lp.r_plus() - t;
        let b = lp.r_minus() + t;
        LossEval {
            value: a * a + b * b,
            d_plus: 2.0 * a,
            d_minus: 2.0 * b,
        }
    }
}

/// Config entry: `name = "sppo-hard"`, `beta` (0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "sppo-hard",
    params: &[BETA],
    uses_reference: true,
    batch_level: false,
    build: |p| Box::new(SppoHard { beta: p[0] }),
};
