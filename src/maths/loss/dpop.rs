//! DPO-Positive (DPOP; Pal, Karkhanis, Dooley, Roberts, Naidu & White 2024,
//! "Smaug: Fixing Failure Modes of Preference Optimisation with
//! DPO-Positive"): DPO with a penalty, *inside* the sigmoid, whenever the
//! chosen response's likelihood falls below the reference's,
//!
//! `f = -log σ(β[Δ - λ max(0, l0+ - l+)])`.
//!
//! The penalty is the paper's `λ · max(0, log(π_ref(y_w)/π_θ(y_w)))`
//! (eq. 3); the paper uses `λ = 50`. Some re-implementations put the penalty
//! outside the sigmoid or scale it differently; this is the paper's form.
//! With `z = Δ - λ max(0, l0+ - l+)` and `s = β σ(-βz)`:
//! `f+ = -s (1 + λ·[l+ < l0+])`, `f- = s`. At the kink `l+ = l0+` the
//! subgradient 0 of the inactive penalty is used, so the loss and its partials
//! equal DPO's for every `l+ ≥ l0+`.

use super::{Domain, LogProbs, LossEval, LossSpec, PairLoss, ParamSpec, BETA};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// DPO with temperature `beta` and chosen-likelihood penalty weight `lambda`.
#[derive(Debug, Clone, Copy)]
pub struct Dpop {
    /// Temperature β > 0 on the penalised margin (default 0.1).
    pub beta: f64,
    /// Penalty weight λ ≥ 0 on `max(0, l0+ - l+)`, the chosen log-likelihood
    /// lost below the reference (default 50, the paper's); 0 gives DPO.
    pub lambda: f64,
}

impl PairLoss for Dpop {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let drop = lp.l0_plus - lp.l_plus;
        let (penalty, dpen) = if drop > 0.0 {
            (self.lambda * drop, self.lambda)
        } else {
            (0.0, 0.0)
        };
        let u = self.beta * (lp.delta() - penalty);
        let s = self.beta * sigmoid(-u);
        LossEval {
            value: -log_sigmoid(u),
            d_plus: -s * (1.0 + dpen),
            d_minus: s,
        }
    }
}

/// Config entry: `name = "dpop"`, `beta` (0.1), `lambda` (50, the paper's value).
pub const SPEC: LossSpec = LossSpec {
    name: "dpop",
    params: &[
        BETA,
        ParamSpec {
            name: "lambda",
            default: Some(50.0),
            domain: Domain::NonNegative,
        },
    ],
    uses_reference: true,
    batch_level: false,
    build: |p| {
        Box::new(Dpop {
            beta: p[0],
            lambda: p[1],
        })
    },
};
