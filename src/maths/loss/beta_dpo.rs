//! β-DPO (Wu et al. 2024, "β-DPO: Direct Preference Optimization with
//! Dynamic β"): DPO whose temperature is set per batch from the batch's mean
//! margin,
//!
//! `β_batch = β0 · max(1 + α (M - M0), 1/100)`, `M = mean_i Δ_i`,
//! `f = Σ_i -log σ(β_batch Δ_i)`,
//!
//! with `β_batch` a constant in the gradient (stop-gradient, the authors'
//! `beta_used.detach()`): `f+_i = -β_batch σ(-β_batch Δ_i) = -f-_i`. So the
//! partials are DPO's at `β_batch`, not the gradient of `f` as a function
//! of the margins; [`PairLoss::detached_at`] returns that DPO, and the
//! finite-difference tests check the partials against it.
//!
//! As the authors' code (junkangwu/beta-DPO, `trainers.py`, `beta_DPO`):
//! `M` is the mean log-ratio margin `Δ` (their `A_gap`, without β; the paper
//! writes the reward margin, which only rescales α), and β_batch is clamped
//! below (their clamp is 1e-3 absolute, i.e. β0/100 at their β0 = 0.1; a
//! relative floor keeps α = 0 equal to DPO at every β0). α defaults to 0.6,
//! the README's example.
//!
//! Left out, so that full-batch training stays exact, deterministic and
//! stateless: (1) the running mean — the paper's `M0` is an exponential
//! moving average (momentum 0.9) of past batch means; here `M0` is a fixed
//! parameter `m0` (default 0, the margin at the reference, where every run
//! starts, and the average's initial value); (2) the β-guided data
//! filtering, which keeps a random 80 % of each batch drawn with Gaussian
//! weights around `M0` — random, and with full batches it would discard
//! pairs of the data set. Batch level: the batch is every pair of the data
//! set; `eval` is a batch of one pair (`M = Δ`).

use super::dpo::Dpo;
use super::{Domain, LogProbs, LossEval, LossSpec, PairLoss, ParamSpec, State, BETA};

/// DPO with the batch-adaptive temperature of β-DPO.
#[derive(Debug, Clone, Copy)]
pub struct BetaDpo {
    /// Base temperature β0 > 0 (default 0.1).
    pub beta: f64,
    /// Sensitivity α ≥ 0 of β_batch to the batch's mean margin (default 0.6).
    pub alpha: f64,
    /// Threshold `M0` the mean margin is compared with (default 0).
    pub m0: f64,
}

/// The floor of `β_batch / β0`.
const FLOOR: f64 = 0.01;

impl BetaDpo {
    /// `β_batch` for a batch whose mean margin is `mean_delta`.
    pub fn batch_beta(&self, mean_delta: f64) -> f64 {
        self.beta * (1.0 + self.alpha * (mean_delta - self.m0)).max(FLOOR)
    }

    /// `β_batch` of the pairs of `s` (β0 for an empty data set).
    pub fn batch_beta_of(&self, s: &State) -> f64 {
        let n = s.data.pairs.len();
        if n == 0 {
            return self.beta;
        }
        let sum: f64 = (0..n).map(|i| s.pair_logprobs(i).delta()).sum();
        self.batch_beta(sum / n as f64)
    }
}

impl PairLoss for BetaDpo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        Dpo {
            beta: self.batch_beta(lp.delta()),
        }
        .eval(lp)
    }

    fn eval_pairs(&self, s: &State, out: &mut [LossEval]) {
        let dpo = Dpo {
            beta: self.batch_beta_of(s),
        };
        let n = out.len().min(s.data.pairs.len());
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = dpo.eval(&s.pair_logprobs(i));
        }
    }

    fn detached_at(&self, at: &State) -> Option<Box<dyn PairLoss>> {
        Some(Box::new(Dpo {
            beta: self.batch_beta_of(at),
        }))
    }
}

/// Config entry: `name = "beta-dpo"`, `beta` (0.1), `alpha` (0.6), `m0` (0); batch level.
pub const SPEC: LossSpec = LossSpec {
    name: "beta-dpo",
    params: &[
        BETA,
        ParamSpec {
            name: "alpha",
            default: Some(0.6),
            domain: Domain::NonNegative,
        },
        ParamSpec {
            name: "m0",
            default: Some(0.0),
            domain: Domain::Finite,
        },
    ],
    uses_reference: true,
    batch_level: true,
    build: |p| {
        Box::new(BetaDpo {
            beta: p[0],
            alpha: p[1],
            m0: p[2],
        })
    },
};
