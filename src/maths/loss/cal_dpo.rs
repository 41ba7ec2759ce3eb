//! Cal-DPO (Xiao et al. 2024, "Cal-DPO: Calibrated Direct Preference
//! Optimization for Language Model Alignment"): DPO's Bradley–Terry term on
//! the log-ratio margin plus squared calibration terms that pull the chosen
//! and rejected log-ratios to the targets `±1/(2β)` (implicit rewards `βr`
//! of `±½`, the ground-truth rewards of a win and a loss), so that the chosen
//! likelihood cannot fall while the margin grows:
//!
//! `f = -log σ(Δ) + ½ [(r+ - 1/(2β))² + (r- + 1/(2β))²]`.
//!
//! Implemented as the authors' code (tengxiao1/Cal-DPO,
//! `scripts/dpo_trainer.py`, `dpo_loss`, `loss_type = "Cal-DPO"`): the
//! Bradley–Terry term has no β (β only sets the targets), and the two
//! squared errors (`F.mse_loss`) are weighted by ½. The paper's objective
//! is the same terms; its weight on the calibration sum could not be checked
//! here, so the code's ½ is used. TRL has no Cal-DPO loss.
//!
//! `f+ = -σ(-Δ) + (r+ - 1/(2β))`, `f- = σ(-Δ) + (r- + 1/(2β))`.

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// Calibrated DPO; `beta` sets the calibration targets `±1/(2β)`.
#[derive(Debug, Clone, Copy)]
pub struct CalDpo {
    /// β > 0: the log-ratio targets are `±1/(2β)` (default 0.1, targets ±5).
    pub beta: f64,
}

impl PairLoss for CalDpo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let (rp, rm) = (lp.r_plus(), lp.r_minus());
        let d = rp - rm;
        let target = 0.5 / self.beta;
        let (ep, em) = (rp - target, rm + target);
        let s = sigmoid(-d);
        LossEval {
            value: -log_sigmoid(d) + 0.5 * (ep * ep + em * em),
            d_plus: -s + ep,
            d_minus: s + em,
        }
    }
}

/// Config entry: `name = "cal-dpo"`, `beta` (0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "cal-dpo",
    params: &[BETA],
    uses_reference: true,
    batch_level: false,
    build: |p| Box::new(CalDpo { beta: p[0] }),
};
