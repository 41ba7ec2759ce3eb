//! ORPO (Hong, Lee & Thorne 2024, "ORPO: Monolithic Preference Optimization
//! without Reference Model"): the chosen response's negative log-likelihood
//! plus a log-odds-ratio term, no reference,
//!
//! `f = -l+ - λ log σ(o(l+) - o(l-))`, `o(l) = log(p/(1-p)) = l - log(1 - e^l)`,
//! `p = e^l`.
//!
//! This is the paper's `L_SFT + λ L_OR` (eq. 6) with `|y| = 1`; TRL's ORPO
//! trainer calls `λ` `beta` (default 0.1) and averages the NLL over tokens.
//! The paper's λ ranges 0.1 – 1.0.
//!
//! Numerics: `log(1 - e^l)` is `log1m_exp`. Since `do/dl = 1/(1-p)`, with
//! `z = o(l+) - o(l-)`:
//!
//! - `f+ = -1 - λ σ(-z)/(1-p+) = -1 - λ / ((1-p+) + p+ (1-p-)/p-)`, a sum of
//!   two non-negative terms, evaluated as `exp(-logaddexp(log(1-p+), l+ - o(l-)))`
//!   so that it stays finite (and exact) at `l+ = 0`;
//! - `f- = λ σ(-z)/(1-p-) = λ exp(log σ(-z) - log(1-p-))`.
//!
//! Everything is finite for `l+ ≤ 0`, `l- < 0`. At `l- = 0` (the rejected
//! response holds all the mass in floating point) the rejected odds are
//! infinite and so is the loss: that is the formula, not a rounding problem,
//! though such a point cannot arise with `l+ > -∞` in one softmax row.

use super::{Domain, LogProbs, LossEval, LossSpec, PairLoss, ParamSpec};
use crate::maths::numerics::{log1m_exp, log_sigmoid, log_sum_exp};

/// Odds-ratio preference optimisation with odds-ratio weight `lambda`.
#[derive(Debug, Clone, Copy)]
pub struct Orpo {
    /// Weight λ ≥ 0 of the log-odds-ratio term against the chosen NLL (TRL's
    /// `beta`; default 0.1, the paper uses 0.1 – 1).
    pub lambda: f64,
}

impl PairLoss for Orpo {
    fn eval(&self, lp: &LogProbs) -> LossEval {
        let (lpl, lmi) = (lp.l_plus, lp.l_minus);
        let (c_plus, c_minus) = (log1m_exp(lpl), log1m_exp(lmi)); // log(1 - p±)
        let o_minus = lmi - c_minus;
        let z = (lpl - c_plus) - o_minus;
        let k_plus = (-log_sum_exp(&[c_plus, lpl - o_minus])).exp();
        let k_minus = (log_sigmoid(-z) - c_minus).exp();
        LossEval {
            value: -lpl - self.lambda * log_sigmoid(z),
            d_plus: -1.0 - self.lambda * k_plus,
            d_minus: self.lambda * k_minus,
        }
    }
}

/// Config entry: `name = "orpo"`, `lambda` (0.1).
pub const SPEC: LossSpec = LossSpec {
    name: "orpo",
    params: &[ParamSpec {
        name: "lambda",
        default: Some(0.1),
        domain: Domain::NonNegative,
    }],
    uses_reference: false,
    batch_level: false,
    build: |p| Box::new(Orpo { lambda: p[0] }),
};
