//! SLiC-HF (Zhao et al. 2023), as in the paper's appendix B.3:
//! `f = max(0, δ - l+ + l-) - η l+`, no reference model. At the hinge's kink
//! (`δ - l+ + l- = 0`) the subgradient 0 is used.

use super::{Domain, LogProbs, LossEval, LossSpec, PairLoss, ParamSpec};

/// Sequence likelihood calibration with margin `delta` and SFT weight `eta`.
#[derive(Debug, Clone, Copy)]
pub struct Slic {
    /// Hinge margin δ > 0 on `l+ - l-`, in nats (default 5, the paper's).
    pub delta: f64,
    /// Weight η ≥ 0 of the SFT term `-l+` (default 0.1, the paper's).
    pub eta: f64,
}

impl PairLoss for Slic {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let h = self.delta - lp.l_plus + lp.l_minus;
        let active = if h > 0.0 { 1.0 } else { 0.0 };
        LossEval {
            value: h.max(0.0) - self.eta * lp.l_plus,
            d_plus: -active - self.eta,
            d_minus: active,
        }
    }
}

/// Config entry: `name = "slic"`, `delta` (5), `eta` (0.1), the paper's values.
pub const SPEC: LossSpec = LossSpec {
    name: "slic",
    params: &[
        ParamSpec {
            name: "delta",
            default: Some(5.0),
            domain: Domain::Positive,
        },
        ParamSpec {
            name: "eta",
            default: Some(0.1),
            domain: Domain::NonNegative,
        },
    ],
    uses_reference: false,
    batch_level: false,
    build: |p| {
        Box::new(Slic {
            delta: p[0],
            eta: p[1],
        })
    },
};
