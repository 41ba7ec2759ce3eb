//! DPO (Rafailov et al. 2023): `f = -log σ(βΔ)`, `Δ = r+ - r-`.
//! `f+ = -β σ(-βΔ) = -f-`, so the softmax terms of the logit gradient cancel.

use super::{LogProbs, LossEval, LossSpec, PairLoss, BETA};
use crate::maths::loss::State;
use crate::maths::numerics::log_sigmoid_and_sigmoid_neg_from;

/// Direct Preference Optimization with temperature `beta`.
#[derive(Debug, Clone, Copy)]
pub struct Dpo {
    /// Temperature β > 0 on the margin `Δ = r+ - r-`: the strength of the
    /// implicit KL tie to the reference (default 0.1, the paper's).
    pub beta: f64,
}

impl Dpo {
    /// The loss at `u = βΔ`, given `e = exp(-|u|)`.
    #[inline]
    fn at(&self, u: f64, e: f64) -> LossEval {
        let (log_sig, sig_neg) = log_sigmoid_and_sigmoid_neg_from(u, e);
        let g = self.beta * sig_neg;
        LossEval {
            value: -log_sig,
            d_plus: -g,
            d_minus: g,
        }
    }
}

impl PairLoss for Dpo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let u = self.beta * lp.delta();
        self.at(u, (-u.abs()).exp())
    }

    /// The exponentials of a block of pairs first, then the rest: the libm
    /// calls of different pairs overlap instead of waiting on each other.
    fn eval_pairs(&self, s: &State, out: &mut [LossEval]) {
        const BLOCK: usize = 8;
        let n = out.len().min(s.data.pairs.len());
        for (b, out) in out[..n].chunks_mut(BLOCK).enumerate() {
            let (mut u, mut e) = ([0.0; BLOCK], [0.0; BLOCK]);
            for i in 0..out.len() {
                u[i] = self.beta * s.pair_logprobs(b * BLOCK + i).delta();
                e[i] = (-u[i].abs()).exp();
            }
            for (i, o) in out.iter_mut().enumerate() {
                *o = self.at(u[i], e[i]);
            }
        }
    }
}

/// Config entry: `name = "dpo"`, `beta` (default 0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "dpo",
    params: &[BETA],
    uses_reference: true,
    batch_level: false,
    build: |p| Box::new(Dpo { beta: p[0] }),
};
