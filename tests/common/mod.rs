//! Helpers shared by the integration tests: the toy's shape, a pair list that
//! exercises every kind of logit, and checks on log-probability rows.

// Each test crate includes this module and uses a different subset of it.
#![allow(dead_code)]

pub mod figure;
pub mod loss;
pub mod snapshot;

use dpo_lab::maths::loss::LogProbs;
use dpo_lab::maths::numerics::log_softmax_into;
use dpo_lab::maths::policy::log_probs;
use dpo_lab::maths::policy::Policy;
use proptest::prelude::*;

/// The paper's toy: 4 prompts, 10 responses.
pub const X: usize = 4;
pub const Y: usize = 10;

/// The paper's pairs plus two more, so that prompts 0 and 2 carry two pairs
/// each and unseen responses (8, 9) appear as chosen.
pub const PAIRS: [(usize, usize, usize); 6] = [
    (0, 0, 4),
    (1, 1, 6),
    (2, 2, 7),
    (3, 3, 5),
    (0, 9, 4),
    (2, 8, 1),
];

/// Row-wise log-softmax of an `X × Y` logit matrix.
pub fn row_log_softmax(logits: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; logits.len()];
    for r in 0..X {
        log_softmax_into(&logits[r * Y..(r + 1) * Y], &mut out[r * Y..(r + 1) * Y]);
    }
    out
}

/// The four log-probabilities of pair `(x, chosen, rejected)`.
pub fn lp_of(logp: &[f64], ref_logp: &[f64], (x, c, r): (usize, usize, usize)) -> LogProbs {
    LogProbs {
        l_plus: logp[x * Y + c],
        l_minus: logp[x * Y + r],
        l0_plus: ref_logp[x * Y + c],
        l0_minus: ref_logp[x * Y + r],
    }
}

/// Every row of the policy's log-probabilities is finite, ≤ 0 and sums to 1.
pub fn assert_rows_normalised(policy: &dyn Policy, params: &[f64]) -> Result<(), TestCaseError> {
    let (x, y) = (policy.n_prompts(), policy.n_responses());
    let logp = log_probs(policy, params);
    prop_assert_eq!(logp.len(), x * y);
    for r in 0..x {
        let row = &logp[r * y..(r + 1) * y];
        prop_assert!(
            row.iter().all(|l| l.is_finite() && *l <= 1e-15),
            "row {r}: {row:?}"
        );
        let s: f64 = row.iter().map(|l| l.exp()).sum();
        prop_assert!((s - 1.0).abs() <= 1e-12, "row {r} sums to {s}");
    }
    Ok(())
}
