//! AOT, paired form (Melnyk et al. 2024, "Distributional Preference Alignment
//! of LLMs via Optimal Transport"): first-order stochastic dominance of the
//! policy's log-ratio margins over the reference's, made a loss over the
//! batch by sorting. With `x_i = l+_i - l-_i` (policy) and
//! `y_i = l0+_i - l0-_i` (reference) over the pairs `i` of the batch, each
//! sorted ascending, `δ_k = x_(k) - y_(k)` and
//!
//! `f = Σ_k [-(1-ε) log σ(βδ_k) - ε log σ(-βδ_k)]`.
//!
//! This is TRL's DPOTrainer `loss_type = "aot"` (`trl/trainer/dpo_trainer.py`,
//! `_compute_loss`, huggingface/trl commit f2cd577), with its
//! `label_smoothing = ε` (default 0).
//!
//! Batch level: the lab trains full batch, so the batch is every pair of the
//! data set. Sorting is locally a fixed permutation, so the gradient is that
//! of the permuted sum: the pair whose policy margin has rank `k` gets term
//! `k`'s value and its partials `f+ = β g'(βδ_k) = -f-`, `g` the smoothed
//! logistic loss. Ties are ranked by pair index (a kink of the loss; the sum
//! is continuous there). `eval` is the loss of a one-pair batch,
//! `δ = Δ`: cDPO at the same β and ε.

use super::LABEL_SMOOTHING;
use super::{smoothed_logistic, LogProbs, LossEval, LossSpec, PairLoss, State, BETA};

/// Paired AOT with temperature `beta` and label smoothing `epsilon`.
#[derive(Debug, Clone, Copy)]
pub struct Aot {
    /// Temperature β > 0 on the sorted margins (default 0.1).
    pub beta: f64,
    /// Label smoothing ε ∈ [0, 0.5) (default 0, TRL's).
    pub epsilon: f64,
}

/// The indices `0..v.len()` ordered by `v` ascending, ties by index.
pub(crate) fn ranks(v: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]).then(a.cmp(&b)));
    idx
}

impl PairLoss for Aot {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let (v, du) = smoothed_logistic(self.beta * lp.delta(), self.epsilon);
        LossEval::of_margin(self.beta, v, du)
    }

    fn eval_pairs(&self, s: &State, out: &mut [LossEval]) {
        let n = out.len().min(s.data.pairs.len());
        let lps: Vec<LogProbs> = (0..n).map(|i| s.pair_logprobs(i)).collect();
        let x: Vec<f64> = lps.iter().map(|p| p.l_plus - p.l_minus).collect();
        let mut y: Vec<f64> = lps.iter().map(|p| p.l0_plus - p.l0_minus).collect();
        y.sort_by(f64::total_cmp);
        for (k, i) in ranks(&x).into_iter().enumerate() {
            let (v, du) = smoothed_logistic(self.beta * (x[i] - y[k]), self.epsilon);
            out[i] = LossEval::of_margin(self.beta, v, du);
        }
    }
}

/// Config entry: `name = "aot"`, `beta` (0.1), `epsilon` (0, in [0, 0.5)); batch level.
pub const SPEC: LossSpec = LossSpec {
    name: "aot",
    params: &[BETA, LABEL_SMOOTHING],
    uses_reference: true,
    batch_level: true,
    build: |p| {
        Box::new(Aot {
            beta: p[0],
            epsilon: p[1],
        })
    },
};
