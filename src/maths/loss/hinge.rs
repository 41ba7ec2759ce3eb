//! Hinge loss on the DPO margin, `f = max(0, 1 - βΔ)`, as in SLiC (Zhao et
//! al. 2023) and RSO (Liu et al. 2024, "Statistical Rejection Sampling
//! Improves Preference Optimization"), where the margin is the
//! reference-normalised log-ratio `Δ = r+ - r-`.
//!
//! Implemented in TRL's form, `relu(1 - β·Δ)` (`loss_type = "hinge"`); RSO
//! writes it `max(0, 1 - γ(Δ))` with `γ = β` its inverse margin scale, and
//! SLiC's original uses no reference (see [`super::slic`]). Where the hinge
//! is active `f+ = -β = -f-`; at the kink `βΔ = 1` the subgradient 0 of the
//! inactive side is used (value 0, both partials 0).

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA};

/// Hinge on `β Δ` with unit margin.
#[derive(Debug, Clone, Copy)]
pub struct Hinge {
    /// Scale β > 0 of the margin: the hinge is active while `βΔ < 1`
    /// (default 0.1).
    pub beta: f64,
}

impl PairLoss for Hinge {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let h = 1.0 - self.beta * lp.delta();
        if h > 0.0 {
            LossEval {
                value: h,
                d_plus: -self.beta,
                d_minus: self.beta,
            }
        } else {
            LossEval {
                value: 0.0,
                d_plus: 0.0,
                d_minus: 0.0,
            }
        }
    }
}

/// Config entry: `name = "hinge"`, `beta` (0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "hinge",
    params: &[BETA],
    uses_reference: true,
    batch_level: false,
    build: |p| Box::new(Hinge { beta: p[0] }),
};
