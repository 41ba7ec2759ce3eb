//! The SFT step of the paper: fit the policy to the scenario's target rows by
//! cross-entropy; the fitted policy is both `π_0` and the start of training.

use crate::maths::numerics::softmax_rows;
use crate::maths::optim::{Optimizer, OptimizerKind};
use crate::maths::policy::Policy;

/// Settings of the SFT step that builds the reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceSettings {
    /// Stop once every probability is within this of its target (> 0;
    /// default 1e-5).
    pub tolerance: f64,
    /// Give up after this many Adam steps (default 100 000).
    pub max_steps: usize,
    /// Adam's learning rate for the fit (default 0.01).
    pub lr: f64,
}

/// How closely the reference matches its targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceFit {
    /// Adam steps taken (0 when the policy can represent the targets exactly).
    pub steps: usize,
    /// `max |π_0(a|x) - target(a|x)|` over all prompts and responses.
    pub max_abs_err: f64,
    /// Whether `max_abs_err <= tolerance`.
    pub converged: bool,
}

/// Fits `params` so that the policy's rows match `targets` (row-major `X × Y`).
///
/// A policy that can set its logits directly (tabular) gets `ln(target)`
/// exactly. Otherwise full-batch Adam on `-Σ_x Σ_a t(a|x) log π(a|x)` runs
/// until every probability is within `tolerance` of its target or
/// `max_steps` is reached; the error is checked every 25 steps.
pub fn fit_reference(
    policy: &dyn Policy,
    params: &mut Vec<f64>,
    targets: &[f64],
    settings: &ReferenceSettings,
) -> ReferenceFit {
    let log_t: Vec<f64> = targets.iter().map(|t| t.ln()).collect();
    if let Some(exact) = policy.exact_params(&log_t) {
        *params = exact;
        return ReferenceFit {
            steps: 0,
            max_abs_err: max_err(policy, params, targets),
            converged: true,
        };
    }
    let (x, y) = (policy.n_prompts(), policy.n_responses());
    let mut opt = Optimizer::new(
        OptimizerKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
        settings.lr,
        params.len(),
    );
    let mut scratch = vec![0.0; policy.scratch_len()];
    let mut logits = vec![0.0; x * y];
    let mut logp = vec![0.0; x * y];
    let mut probs = vec![0.0; x * y];
    let mut dlogits = vec![0.0; x * y];
    let mut grad = vec![0.0; params.len()];
    let mut steps = 0;
    while steps < settings.max_steps {
        policy.forward(params, &mut scratch, &mut logits);
        softmax_rows(&logits, y, &mut logp, &mut probs);
        let mut err: f64 = 0.0;
        for ((g, &p), &t) in dlogits.iter_mut().zip(&probs).zip(targets) {
            err = f64::max(err, (p - t).abs());
            *g = p - t;
        }
        if steps % 25 == 0 && err <= settings.tolerance {
            break;
        }
        policy.backward(params, &mut scratch, &dlogits, &mut grad);
        opt.step(params, &grad);
        steps += 1;
    }
    let max_abs_err = max_err(policy, params, targets);
    ReferenceFit {
        steps,
        max_abs_err,
        converged: max_abs_err <= settings.tolerance,
    }
}

/// `max |π(a|x) - target(a|x)|` at `params`.
pub fn max_err(policy: &dyn Policy, params: &[f64], targets: &[f64]) -> f64 {
    let logp = crate::maths::policy::log_probs(policy, params);
    logp.iter()
        .zip(targets)
        .map(|(l, t)| (l.exp() - t).abs())
        .fold(0.0, f64::max)
}
