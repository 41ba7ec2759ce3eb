//! f-DPO with the α-divergence (Wang et al. 2023, "Beyond Reverse KL:
//! Generalizing Direct Preference Optimization with Diverse Divergence
//! Constraints", table 1): `f'(u) = (1 - u^{-α})/α`, so, with the constant
//! dropped, the reward of a response is `-e^{-α r}/α` and
//!
//! `f = -log σ(β m)`, `m = (e^{-α r-} - e^{-α r+}) / α`.
//!
//! α → 0 is reverse KL (`m → Δ`, DPO); α = 1 is forward KL
//! ([`super::dpo_forward_kl`]); both limits are tested. This is the paper's
//! parametrisation and TRL's up to its refactor e3b7897
//! (`logits = (cap_exp(-α r-) - cap_exp(-α r+))/α`). Current TRL
//! (`f_divergence_type = "alpha_divergence"`, huggingface/trl commit f2cd577)
//! computes `(e^{(a-1) r+} - e^{(a-1) r-})/(a-1)` for its
//! `f_alpha_divergence_coef = a`: the same margin at `a = 1 - α`, so the two
//! agree at the shared default 0.5 and swap the roles of 0 and 1.
//!
//! TRL caps the exponent (at 80 in float32) to keep it representable; here
//! each exponential is `exp(min(-α r, EXP_CAP))` ([`super::EXP_CAP`], flat
//! past the cap), and the difference is formed as `e^{c_max} expm1(·)/α`,
//! exact as α → 0 and free of `∞ - ∞`. `f+ = -β σ(-βm) e^{-α r+}`,
//! `f- = β σ(-βm) e^{-α r-}` (each 0 past the cap).

use super::{capped_exp, Domain, LogProbs, LossEval, LossSpec, PairLoss, ParamSpec, BETA, EXP_CAP};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// f-DPO under the α-divergence, temperature `beta`, order `alpha`.
#[derive(Debug, Clone, Copy)]
pub struct DpoAlpha {
    /// Temperature β > 0 on the margin `m` (default 0.1).
    pub beta: f64,
    /// Order α > 0 of the divergence: → 0 reverse KL, 1 forward KL (default 0.5, TRL's).
    pub alpha: f64,
}

impl PairLoss for DpoAlpha {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let a = self.alpha;
        let (tp, tm) = (-a * lp.r_plus(), -a * lp.r_minus());
        let (cp, cm) = (tp.min(EXP_CAP), tm.min(EXP_CAP));
        // m = (e^{cm} - e^{cp}) / α, factored by the larger exponent.
        let m = if cm >= cp {
            -cm.exp() * (cp - cm).exp_m1() / a
        } else {
            cp.exp() * (cm - cp).exp_m1() / a
        };
        let (_, dep) = capped_exp(tp);
        let (_, dem) = capped_exp(tm);
        let u = self.beta * m;
        let g = self.beta * sigmoid(-u);
        LossEval {
            value: -log_sigmoid(u),
            d_plus: -g * dep,
            d_minus: g * dem,
        }
    }
}

/// Config entry: `name = "dpo-alpha"`, `beta` (0.1), `alpha` (0.5).
pub const SPEC: LossSpec = LossSpec {
    name: "dpo-alpha",
    params: &[
        BETA,
        ParamSpec {
            name: "alpha",
            default: Some(0.5),
            domain: Domain::Positive,
        },
    ],
    uses_reference: true,
    batch_level: false,
    build: |p| {
        Box::new(DpoAlpha {
            beta: p[0],
            alpha: p[1],
        })
    },
};
