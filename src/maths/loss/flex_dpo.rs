//! Flex-DPO (Yan et al. 2025, section 3.3): separate temperatures for the two
//! log-ratios, `f = -log σ(β+ r+ - β- r-)`. Equals DPO when `β+ = β-`.

use super::{Domain, LogProbs, LossEval, LossSpec, PairLoss, ParamSpec};
use crate::maths::numerics::{log_sigmoid, sigmoid};

/// DPO with temperature `beta_plus` on the chosen and `beta_minus` on the rejected log-ratio.
#[derive(Debug, Clone, Copy)]
pub struct FlexDpo {
    /// Temperature β+ > 0 on the chosen log-ratio `r+` (default 0.1).
    pub beta_plus: f64,
    /// Temperature β- > 0 on the rejected log-ratio `r-` (default 0.1).
    pub beta_minus: f64,
}

impl PairLoss for FlexDpo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let u = self.beta_plus * lp.r_plus() - self.beta_minus * lp.r_minus();
        let s = sigmoid(-u);
        LossEval {
            value: -log_sigmoid(u),
            d_plus: -self.beta_plus * s,
            d_minus: self.beta_minus * s,
        }
    }
}

/// Config entry: `name = "flex-dpo"`, `beta_plus` (0.1), `beta_minus` (0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "flex-dpo",
    params: &[
        ParamSpec {
            name: "beta_plus",
            default: Some(0.1),
            domain: Domain::Positive,
        },
        ParamSpec {
            name: "beta_minus",
            default: Some(0.1),
            domain: Domain::Positive,
        },
    ],
    uses_reference: true,
    batch_level: false,
    build: |p| {
        Box::new(FlexDpo {
            beta_plus: p[0],
            beta_minus: p[1],
        })
    },
};
