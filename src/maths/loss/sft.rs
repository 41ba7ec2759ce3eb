//! Supervised fine-tuning on the chosen response: `f = -l+`, no reference, no
//! parameters. `f+ = -1`, `f- = 0`; the rejected response is ignored, so its
//! probability only moves through the softmax.

use super::{LogProbs, LossEval, LossSpec, PairLoss};

/// Negative log-likelihood of the chosen response.
#[derive(Debug, Clone, Copy)]
pub struct Sft;

impl PairLoss for Sft {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        LossEval {
            value: -lp.l_plus,
            d_plus: -1.0,
            d_minus: 0.0,
        }
    }
}

/// Config entry: `name = "sft"`, no parameters.
pub const SPEC: LossSpec = LossSpec {
    name: "sft",
    params: &[],
    uses_reference: false,
    batch_level: false,
    build: |_| Box::new(Sft),
};
