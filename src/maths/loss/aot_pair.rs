//! AOT, unpaired form (Melnyk et al. 2024, "Distributional Preference
//! Alignment of LLMs via Optimal Transport"): stochastic dominance of the
//! chosen log-ratios over the rejected ones as two distributions, ignoring
//! which rejected response was paired with which chosen one. With
//! `r+_i`, `r-_i` over the pairs `i` of the batch, each sorted ascending on
//! its own, `δ_k = r+_(k) - r-_(k)` and
//!
//! `f = Σ_k [-(1-ε) log σ(βδ_k) - ε log σ(-βδ_k)]`.
//!
//! This is TRL's DPOTrainer `loss_type = "aot_pair"`, renamed
//! `"aot_unpaired"` in huggingface/trl 9f7c336 (Feb 2026); formula as in
//! `trl/trainer/dpo_trainer.py`, `_compute_loss` (commit f2cd577), with its
//! `label_smoothing = ε` (default 0).
//!
//! Batch level (the batch is every pair of the data set; full batch). Term
//! `k` involves the chosen response of the pair whose `r+` has rank `k` and
//! the rejected response of the (generally other) pair whose `r-` has rank
//! `k`: the first gets `f+ = β g'(βδ_k)`, the second `f- = -β g'(βδ_k)`, `g`
//! the smoothed logistic loss. Term `k`'s value is booked to the pair whose
//! chosen response it involves, so the values still sum to `f`. Ties are
//! ranked by pair index. `eval`, a one-pair batch, is cDPO at the same β, ε.

use super::aot::ranks;
use super::LABEL_SMOOTHING;
use super::{smoothed_logistic, LogProbs, LossEval, LossSpec, PairLoss, State, BETA};

/// Unpaired AOT with temperature `beta` and label smoothing `epsilon`.
#[derive(Debug, Clone, Copy)]
pub struct AotPair {
    /// Temperature β > 0 on the sorted margins (default 0.1).
    pub beta: f64,
    /// Label smoothing ε ∈ [0, 0.5) (default 0, TRL's).
    pub epsilon: f64,
}

impl PairLoss for AotPair {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let (v, du) = smoothed_logistic(self.beta * lp.delta(), self.epsilon);
        LossEval::of_margin(self.beta, v, du)
    }

    fn eval_pairs(&self, s: &State, out: &mut [LossEval]) {
        let n = out.len().min(s.data.pairs.len());
        let lps: Vec<LogProbs> = (0..n).map(|i| s.pair_logprobs(i)).collect();
        let rp: Vec<f64> = lps.iter().map(LogProbs::r_plus).collect();
        let rm: Vec<f64> = lps.iter().map(LogProbs::r_minus).collect();
        for o in out[..n].iter_mut() {
            *o = LossEval {
                value: 0.0,
                d_plus: 0.0,
                d_minus: 0.0,
            };
        }
        for (i, j) in ranks(&rp).into_iter().zip(ranks(&rm)) {
            let (v, du) = smoothed_logistic(self.beta * (rp[i] - rm[j]), self.epsilon);
            out[i].value = v;
            out[i].d_plus = self.beta * du;
            out[j].d_minus = -self.beta * du;
        }
    }
}

/// Config entry: `name = "aot-pair"`, `beta` (0.1), `epsilon` (0, in [0, 0.5)); batch level.
pub const SPEC: LossSpec = LossSpec {
    name: "aot-pair",
    params: &[BETA, LABEL_SMOOTHING],
    uses_reference: true,
    batch_level: true,
    build: |p| {
        Box::new(AotPair {
            beta: p[0],
            epsilon: p[1],
        })
    },
};
