//! What a run records: per-epoch metrics (`metrics.csv`), probability
//! snapshots (`probs.csv`) and the run summary with the three D-scores
//! (`summary.csv`). All probabilities are derived from log-probabilities, so
//! a probability that underflows still has a finite log.

use crate::maths::data::{Dataset, Pair};
use crate::maths::loss::LossEval;
use crate::maths::numerics::{log_mean_exp, sum_lanes_except_inline};
use crate::maths::split::worth_splitting;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::f64::consts::LN_10;

/// One row of `metrics.csv`: the state after `epoch` updates.
///
/// "unseen" follows the paper's curves: for each pair, the mean probability of
/// the responses outside that pair, averaged over pairs (0.095 at the start of
/// scenario 1). `avg_unseen_strict` is the mean over responses that appear in
/// no pair at all (responses 8-9 in the paper), averaged over the prompts that
/// have pairs; empty when every response appears in some pair.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetricsRow {
    /// Updates applied so far (0 = the reference state).
    pub epoch: usize,
    /// Total loss (sum or mean over triples, as configured).
    pub loss: f64,
    /// Mean over pairs of `π_θ(a+|x)`, the chosen probability.
    pub avg_chosen: f64,
    /// Smallest chosen probability over the pairs.
    pub min_chosen: f64,
    /// Mean over pairs of `π_θ(a-|x)`, the rejected probability (the curve
    /// whose fall is the Drastic drop).
    pub avg_rejected: f64,
    /// Largest rejected probability over the pairs.
    pub max_rejected: f64,
    /// The paper's unseen curve: per pair, the mean probability of the `Y - 2`
    /// responses outside it, averaged over pairs (its rise is Dispersion).
    pub avg_unseen: f64,
    /// Mean probability of the responses in no pair at all, averaged over the
    /// prompts with pairs; empty when there are none (see above).
    pub avg_unseen_strict: Option<f64>,
    /// Mean over pairs of `|∂f/∂π+| = |∂f/∂l+| / π+` (the paper's Figure 2,
    /// middle); empty when it exceeds the f64 range (see the log10 column).
    pub grad_pi_plus: Option<f64>,
    /// Mean over pairs of `|∂f/∂π-| = |∂f/∂l-| / π-`; empty when beyond f64.
    pub grad_pi_minus: Option<f64>,
    /// `log10` of `grad_pi_plus`, computed in log space; empty when the gradient is exactly 0.
    pub log10_grad_pi_plus: Option<f64>,
    /// `log10` of `grad_pi_minus`; empty when the gradient is exactly 0.
    pub log10_grad_pi_minus: Option<f64>,
    /// Natural logs of the probability curves above (the paper's Figure 2, right).
    pub logp_avg_chosen: f64,
    /// `ln` of `min_chosen`.
    pub logp_min_chosen: f64,
    /// `ln` of `avg_rejected` (a log-mean-exp: finite after underflow).
    pub logp_avg_rejected: f64,
    /// `ln` of `max_rejected`.
    pub logp_max_rejected: f64,
    /// `ln` of `avg_unseen`.
    pub logp_avg_unseen: f64,
    /// Euclidean norm of the gradient of the total loss in the logits.
    pub logit_grad_norm: f64,
    /// Mean over pairs of the implicit reward margin `Δ = r+ - r-` (no β).
    pub reward_margin: f64,
    /// Mean over prompts of `KL(π_θ(·|x) || π_0(·|x))`.
    pub kl: f64,
}

/// One row of `probs.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbRow {
    /// Updates applied so far (0 = the reference).
    pub epoch: usize,
    /// The prompt `x`.
    pub prompt: usize,
    /// The response `a`.
    pub response: usize,
    /// `π_θ(a|x)` (may underflow to 0; `logprob` stays finite).
    pub prob: f64,
    /// `log π_θ(a|x)`, natural log.
    pub logprob: f64,
}

/// The curves the summary needs at every epoch, cheap to compute from the
/// probabilities (no exponentials).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Core {
    /// As [`MetricsRow::avg_chosen`].
    pub avg_chosen: f64,
    /// As [`MetricsRow::avg_unseen`].
    pub avg_unseen: f64,
}

/// `summary.csv`: the run's D-scores and the facts behind them.
///
/// - `drop`: orders of magnitude the average rejected probability fell,
///   `log10 avg_rejected(0) - log10 avg_rejected(end)` (from logs, so finite
///   even when the probability underflows).
/// - `degradation`: `(peak - final) / peak` of the average chosen probability;
///   0 when it never falls from its peak.
/// - `dispersion`: final minus minimum of `avg_unseen`, the mass that flowed
///   back to responses outside the pairs after the unseen curve's low point.
///
/// "end"/"final" is the last epoch run (the last finite one if the run diverged).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Drastic drop: orders of magnitude (log10) the average rejected
    /// probability fell from epoch 0 to the end; > 0 when it fell.
    pub drop: f64,
    /// Degradation: relative fall of the average chosen probability from its
    /// peak, `(peak - final) / peak`, in [0, 1].
    pub degradation: f64,
    /// Dispersion: rise of `avg_unseen` from its minimum to the end,
    /// `final - min` (a probability, ≥ 0).
    pub dispersion: f64,
    /// Highest average chosen probability over the run.
    pub peak_avg_chosen: f64,
    /// First epoch at which `peak_avg_chosen` was reached.
    pub peak_epoch: usize,
    /// Average chosen probability at the end.
    pub final_avg_chosen: f64,
    /// Average rejected probability at epoch 0 (the reference).
    pub start_avg_rejected: f64,
    /// Average rejected probability at the end (may underflow to 0).
    pub final_avg_rejected: f64,
    /// `ln` of the final average rejected probability, finite after underflow.
    pub final_logp_avg_rejected: f64,
    /// `avg_unseen` at epoch 0.
    pub start_avg_unseen: f64,
    /// Lowest `avg_unseen` over the run.
    pub min_avg_unseen: f64,
    /// First epoch at which `min_avg_unseen` was reached.
    pub min_avg_unseen_epoch: usize,
    /// `avg_unseen` at the end.
    pub final_avg_unseen: f64,
    /// Total loss at the end (sum or mean over triples, as configured).
    pub final_loss: f64,
    /// Mean over prompts of `π(optimal response | x)`, at epoch 0 and at the
    /// end; empty when the data names no optimal responses.
    pub start_avg_optimal: Option<f64>,
    /// As `start_avg_optimal`, at the end.
    pub final_avg_optimal: Option<f64>,
    /// The last epoch in the summary: `epochs`, or the epoch before
    /// `diverged_epoch`.
    pub epochs_run: usize,
    /// Whether the run stopped early on a non-finite state or a logit beyond
    /// [`crate::engine::train::LOGIT_LIMIT`].
    pub diverged: bool,
    /// The first epoch whose state was not finite.
    pub diverged_epoch: Option<usize>,
    /// `max |π_0 - target|` of the reference step.
    pub ref_max_abs_err: f64,
    /// Adam steps the reference fit took (0 when set exactly, e.g. tabular).
    pub ref_steps: usize,
}

/// Log of the mean probability of the responses of prompt row `logp` other
/// than `a` and `b`.
fn logp_mean_others(logp: &[f64], a: usize, b: usize) -> f64 {
    let m = logp
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != a && i != b)
        .map(|(_, &l)| l)
        .fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    let s: f64 = logp
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != a && i != b)
        .map(|(_, &l)| (l - m).exp())
        .sum();
    m + s.ln() - ((logp.len() - 2) as f64).ln()
}

crate::fast::kernel! {
    /// The summary curves at one epoch; `probs` is row-major `X × Y`.
    pub fn core<'a>(data: &'a Dataset, probs: &'a [f64]) -> Core {
        let y = data.n_responses;
        let n = data.pairs.len() as f64;
        // Summed directly rather than as 1 - π+ - π-, which cancels when
        // π+ → 1; in eight lane-parallel partial sums, so that wide rows
        // vectorise.
        let others = |p: &Pair| {
            let row = &probs[p.prompt * y..(p.prompt + 1) * y];
            sum_lanes_except_inline(row, p.chosen, p.rejected)
        };
        // Big arrays: the row sums over rayon's threads, added up below in
        // pair order as the serial loop does (the same bits).
        let split: Option<Vec<f64>> = (data.pairs.len() > 1
            && worth_splitting(data.pairs.len() * y))
        .then(|| data.pairs.par_iter().map(others).collect());
        let (mut chosen, mut unseen) = (0.0, 0.0);
        for (i, p) in data.pairs.iter().enumerate() {
            chosen += probs[p.prompt * y + p.chosen];
            let o = split.as_ref().map_or_else(|| others(p), |s| s[i]);
            unseen += o / (y - 2) as f64;
        }
        Core {
            avg_chosen: chosen / n,
            avg_unseen: unseen / n,
        }
    }
}

/// `log mean π-` over the pairs, from the log-probabilities.
pub fn logp_avg_rejected(data: &Dataset, logp: &[f64]) -> f64 {
    let y = data.n_responses;
    let lm: Vec<f64> = data
        .pairs
        .iter()
        .map(|p| logp[p.prompt * y + p.rejected])
        .collect();
    log_mean_exp(&lm)
}

/// Everything `metrics.csv` holds for one epoch.
#[allow(clippy::too_many_arguments)]
pub fn row(
    epoch: usize,
    data: &Dataset,
    logp: &[f64],
    ref_logp: &[f64],
    evals: &[LossEval],
    loss: f64,
    dlogits: &[f64],
    core: &Core,
) -> MetricsRow {
    let y = data.n_responses;
    let pick = |x: usize, a: usize| logp[x * y + a];
    let lp: Vec<f64> = data
        .pairs
        .iter()
        .map(|p| pick(p.prompt, p.chosen))
        .collect();
    let lm: Vec<f64> = data
        .pairs
        .iter()
        .map(|p| pick(p.prompt, p.rejected))
        .collect();
    let min_lp = lp.iter().copied().fold(f64::INFINITY, f64::min);
    let max_lm = lm.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let n = data.pairs.len() as f64;

    // log |∂f/∂π| = log |∂f/∂l| - l, averaged in log space so it cannot overflow early.
    let gp: Vec<f64> = evals
        .iter()
        .zip(&lp)
        .map(|(e, l)| e.d_plus.abs().ln() - l)
        .collect();
    let gm: Vec<f64> = evals
        .iter()
        .zip(&lm)
        .map(|(e, l)| e.d_minus.abs().ln() - l)
        .collect();
    let (log_gp, log_gm) = (log_mean_exp(&gp), log_mean_exp(&gm));

    let seen = data.seen_anywhere();
    let strict: Vec<usize> = (0..y).filter(|&a| !seen[a]).collect();
    let avg_unseen_strict = if strict.is_empty() {
        None
    } else {
        let mut prompts: Vec<usize> = data.pairs.iter().map(|p| p.prompt).collect();
        prompts.sort_unstable();
        prompts.dedup();
        let total: f64 = prompts
            .iter()
            .map(|&x| strict.iter().map(|&a| pick(x, a).exp()).sum::<f64>() / strict.len() as f64)
            .sum();
        Some(total / prompts.len() as f64)
    };

    let x_n = data.n_prompts;
    let kl = (0..x_n)
        .map(|x| {
            (0..y)
                .map(|a| {
                    let l = pick(x, a);
                    let p = l.exp();
                    if p > 0.0 {
                        p * (l - ref_logp[x * y + a])
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
        })
        .sum::<f64>()
        / x_n as f64;
    let margin = data
        .pairs
        .iter()
        .map(|p| {
            (pick(p.prompt, p.chosen) - ref_logp[p.prompt * y + p.chosen])
                - (pick(p.prompt, p.rejected) - ref_logp[p.prompt * y + p.rejected])
        })
        .sum::<f64>()
        / n;

    let logp_avg_rej = log_mean_exp(&lm);
    let unseen_logs: Vec<f64> = data
        .pairs
        .iter()
        .map(|p| {
            logp_mean_others(
                &logp[p.prompt * y..(p.prompt + 1) * y],
                p.chosen,
                p.rejected,
            )
        })
        .collect();
    MetricsRow {
        epoch,
        loss,
        avg_chosen: core.avg_chosen,
        min_chosen: min_lp.exp(),
        avg_rejected: logp_avg_rej.exp(),
        max_rejected: max_lm.exp(),
        avg_unseen: core.avg_unseen,
        avg_unseen_strict,
        grad_pi_plus: Some(log_gp.exp()).filter(|g| g.is_finite()),
        grad_pi_minus: Some(log_gm.exp()).filter(|g| g.is_finite()),
        log10_grad_pi_plus: Some(log_gp / LN_10).filter(|g| g.is_finite()),
        log10_grad_pi_minus: Some(log_gm / LN_10).filter(|g| g.is_finite()),
        logp_avg_chosen: log_mean_exp(&lp),
        logp_min_chosen: min_lp,
        logp_avg_rejected: logp_avg_rej,
        logp_max_rejected: max_lm,
        logp_avg_unseen: log_mean_exp(&unseen_logs),
        logit_grad_norm: dlogits.iter().map(|g| g * g).sum::<f64>().sqrt(),
        reward_margin: margin,
        kl,
    }
}

/// `mean exp(lᵢ)`: a mean probability from its logs.
fn mean_exp(logs: &[f64]) -> f64 {
    logs.iter().map(|l| l.exp()).sum::<f64>() / logs.len() as f64
}

/// Accumulates the summary from the per-epoch [`Core`] curves.
#[derive(Debug, Clone)]
pub struct SummaryTracker {
    first: Option<(Core, f64, Option<f64>)>,
    last: Option<(usize, Core, f64)>,
    /// `log π` of each prompt's optimal response in the last state fed, if the
    /// data names them; exponentiated only in [`SummaryTracker::finish`].
    last_optimal: Option<Vec<f64>>,
    /// The rejected log-probabilities of the last state fed, for `drop`.
    last_rejected: Vec<f64>,
    peak: (f64, usize),
    min_unseen: (f64, usize),
}

impl Default for SummaryTracker {
    fn default() -> Self {
        SummaryTracker {
            first: None,
            last: None,
            last_optimal: None,
            last_rejected: Vec::new(),
            peak: (f64::NEG_INFINITY, 0),
            min_unseen: (f64::INFINITY, 0),
        }
    }
}

impl SummaryTracker {
    /// Feeds the state after `epoch` updates: its curves, total loss and log-probabilities.
    pub fn update(&mut self, epoch: usize, c: &Core, loss: f64, data: &Dataset, logp: &[f64]) {
        let y = data.n_responses;
        self.last_rejected.clear();
        self.last_rejected
            .extend(data.pairs.iter().map(|p| logp[p.prompt * y + p.rejected]));
        match (&data.optimal, &mut self.last_optimal) {
            (Some(opt), Some(last)) => {
                last.clear();
                last.extend(opt.iter().enumerate().map(|(x, &a)| logp[x * y + a]));
            }
            (Some(opt), None) => {
                let logs = opt.iter().enumerate().map(|(x, &a)| logp[x * y + a]);
                self.last_optimal = Some(logs.collect());
            }
            (None, _) => self.last_optimal = None,
        }
        if self.first.is_none() {
            let optimal = self.last_optimal.as_deref().map(mean_exp);
            self.first = Some((*c, log_mean_exp(&self.last_rejected), optimal));
        }
        self.last = Some((epoch, *c, loss));
        if c.avg_chosen > self.peak.0 {
            self.peak = (c.avg_chosen, epoch);
        }
        if c.avg_unseen < self.min_unseen.0 {
            self.min_unseen = (c.avg_unseen, epoch);
        }
    }

    /// The summary; `diverged_epoch` is the first diverged epoch, if any.
    pub fn finish(
        &self,
        diverged_epoch: Option<usize>,
        ref_max_abs_err: f64,
        ref_steps: usize,
    ) -> Summary {
        let (first, first_rej, first_optimal) = self.first.expect("at least epoch 0 is finite");
        let (epoch, last, loss) = self.last.expect("at least epoch 0 is finite");
        let last_rej = log_mean_exp(&self.last_rejected);
        let (peak, peak_epoch) = self.peak;
        Summary {
            drop: (first_rej - last_rej) / LN_10,
            degradation: (peak - last.avg_chosen) / peak,
            dispersion: last.avg_unseen - self.min_unseen.0,
            peak_avg_chosen: peak,
            peak_epoch,
            final_avg_chosen: last.avg_chosen,
            start_avg_rejected: first_rej.exp(),
            final_avg_rejected: last_rej.exp(),
            final_logp_avg_rejected: last_rej,
            start_avg_unseen: first.avg_unseen,
            min_avg_unseen: self.min_unseen.0,
            min_avg_unseen_epoch: self.min_unseen.1,
            final_avg_unseen: last.avg_unseen,
            final_loss: loss,
            start_avg_optimal: first_optimal,
            final_avg_optimal: self.last_optimal.as_deref().map(mean_exp),
            epochs_run: epoch,
            diverged: diverged_epoch.is_some(),
            diverged_epoch,
            ref_max_abs_err,
            ref_steps,
        }
    }
}
