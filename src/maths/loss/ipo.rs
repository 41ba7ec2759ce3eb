//! IPO (Azar et al. 2023): `f = (Δ - 1/(2τ))²`, without length normalisation
//! (a response here is one categorical outcome, so `|y| = 1` either way).
//! The minimiser is `Δ = 1/(2τ)`; the paper's appendix B.3 calls τ "η".

use super::{Domain, LogProbs, LossEval, LossSpec, PairLoss, ParamSpec};

/// Identity Preference Optimisation with regularisation `tau`.
#[derive(Debug, Clone, Copy)]
pub struct Ipo {
    /// Regularisation τ > 0: the loss pulls the margin `Δ` to `1/(2τ)`
    /// (default 0.1, the paper's).
    pub tau: f64,
}

impl PairLoss for Ipo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let e = lp.delta() - 0.5 / self.tau;
        LossEval {
            value: e * e,
            d_plus: 2.0 * e,
            d_minus: -2.0 * e,
        }
    }
}

/// Config entry: `name = "ipo"`, `tau` (0.1, the paper's value).
pub const SPEC: LossSpec = LossSpec {
    name: "ipo",
    params: &[ParamSpec {
        name: "tau",
        default: Some(0.1),
        domain: Domain::Positive,
    }],
    uses_reference: true,
    batch_level: false,
    build: |p| Box::new(Ipo { tau: p[0] }),
};
