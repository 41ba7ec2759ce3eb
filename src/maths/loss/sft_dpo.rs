//! SFT-DPO (Yan et al. 2025, section 3.3): DPO plus an SFT term on the chosen
//! response, `f = -log σ(βΔ) - γ l+`.

use super::{dpo::Dpo, Domain, LogProbs, LossEval, LossSpec, PairLoss, ParamSpec, BETA};

/// DPO regularised by `gamma` times the chosen response's negative log-likelihood.
#[derive(Debug, Clone, Copy)]
pub struct SftDpo {
    /// Temperature β > 0 of the DPO term (default 0.1).
    pub beta: f64,
    /// Weight γ > 0 of the SFT term `-l+` (default 0.1; the paper gives none).
    pub gamma: f64,
}

impl PairLoss for SftDpo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let d = Dpo { beta: self.beta }.eval(lp);
        LossEval {
            value: d.value - self.gamma * lp.l_plus,
            d_plus: d.d_plus - self.gamma,
            d_minus: d.d_minus,
        }
    }
}

/// Config entry: `name = "sft-dpo"`, `beta` (0.1), `gamma` (0.1; the paper gives none).
pub const SPEC: LossSpec = LossSpec {
    name: "sft-dpo",
    params: &[
        BETA,
        ParamSpec {
            name: "gamma",
            default: Some(0.1),
            domain: Domain::Positive,
        },
    ],
    uses_reference: true,
    batch_level: false,
    build: |p| {
        Box::new(SftDpo {
            beta: p[0],
            gamma: p[1],
        })
    },
};
