//! The reward-model path (the paper's section 3.4): fit a Bradley-Terry
//! reward on the pairs, then maximise the KL-regularised expected reward
//! exactly over all responses.
//!
//! **Reward model.** Tabular: one scalar `r(x, a)` per prompt and response,
//! all starting at 0. [`fit_reward_model`] runs `rm_steps` steps of
//! full-batch gradient descent (step size `rm_lr`) on
//!
//! `R(r) = Σ_pairs -log σ(r(x,a+) - r(x,a-)) + (rm_l2 / 2) ‖r‖²`.
//!
//! The L2 penalty is the lab's choice: on the toy's pairs (separable: every
//! pair can be ranked correctly at once) the Bradley-Terry likelihood has no
//! maximiser and the unpenalised rewards grow without bound (like `log t`).
//! A response that appears in no pair of prompt `x` gets no data gradient, so
//! its reward stays exactly 0 (the penalty pulls towards 0 and it starts there).
//! The fit is deterministic (no randomness at all). It happens once, when
//! the objective is built, on the configured pairs; on-policy resampling of
//! the pairs during training does not refit it (the policy objective does not
//! read the pairs).
//!
//! Its own gradients on chosen and rejected, recorded at every step in
//! [`RewardFit::trace`], are those of the data term of each pair:
//! `∂/∂r+ = -σ(-(r+ - r-))`, `∂/∂r- = +σ(-(r+ - r-))`. They have equal
//! magnitude by construction, the paper's "balanced gradients" (the penalty's
//! `rm_l2 · r` is not part of them).
//!
//! **Policy objective** (to minimise), with the fitted reward held fixed:
//!
//! `L(θ) = -Σ_x Σ_a π_θ(a|x) [r(x,a) - β log(π_θ(a|x) / π_0(a|x))]`,
//!
//! summed over every prompt of the data set (a prompt with no pair has
//! `r = 0` and is only held near `π_0` by the KL term), the expectation
//! computed exactly over all responses. Write
//! `h_a = β (log π_a - log π0_a) - r_a`, so `L_x = Σ_a π_a h_a`. Treating
//! the `π_a` as free variables, `∂L_x/∂π_a = h_a + β` (the `+β` from
//! `d(π log π)/dπ`). Through the softmax, `∂π_b/∂s_c = π_b (δ_bc - π_c)`, so
//!
//! `∂L_x/∂s_c = Σ_b (h_b + β) π_b (δ_bc - π_c) = π_c (h_c - ⟨π, h⟩)`
//!
//! (the constant `β` cancels because `Σ_b π_b (δ_bc - π_c) = 0`), and
//! `⟨π, h⟩ = L_x`. The optimum is `π*(a|x) ∝ π_0(a|x) exp(r(x,a)/β)`.
//! The total and the gradient are multiplied by the reduction scale (1 for
//! `sum`, 1/pairs for `mean`).
//!
//! **Metrics.** `pair_grads[i]` holds the (unscaled) objective part `L_x` of
//! pair `i`'s prompt (shared by all pairs on that prompt), and
//! `∂L/∂l± = π± · ∂L/∂π± = π± (h± + β)`: the partial in that one
//! log-probability with every other `π` held fixed.

use super::{Objective, ObjectiveSpec, State};
use crate::error::{Error, Result};
use crate::maths::data::Dataset;
use crate::maths::loss::{Domain, LossEval, ParamSpec};
use crate::maths::numerics::{log_sigmoid_and_sigmoid_neg, sigmoid};

/// One step of the reward fit: the state after `step` updates.
#[derive(Debug, Clone, PartialEq)]
pub struct RewardStep {
    /// Number of gradient steps taken (0 = the all-zero start).
    pub step: usize,
    /// The penalised objective `R(r)`.
    pub loss: f64,
    /// Per pair: `∂/∂r+` of its data term, `-σ(-(r+ - r-))`.
    pub grad_plus: Vec<f64>,
    /// Per pair: `∂/∂r-` of its data term, `+σ(-(r+ - r-))`.
    pub grad_minus: Vec<f64>,
}

/// A fitted tabular Bradley-Terry reward.
#[derive(Debug, Clone, PartialEq)]
pub struct RewardFit {
    /// Responses per prompt `Y`: the row length of `rewards`.
    pub n_responses: usize,
    /// `r(x, a)`, row-major `X × Y`.
    pub rewards: Vec<f64>,
    /// Steps `0..=steps` (step 0 is the all-zero start; the last is the fitted reward).
    pub trace: Vec<RewardStep>,
}

impl RewardFit {
    /// `r(x, a)`.
    pub fn reward(&self, x: usize, a: usize) -> f64 {
        self.rewards[x * self.n_responses + a]
    }
}

/// Fits the tabular Bradley-Terry reward by `steps` steps of full-batch
/// gradient descent with step size `lr` and L2 weight `l2` (see the module
/// documentation). Deterministic.
pub fn fit_reward_model(data: &Dataset, steps: usize, lr: f64, l2: f64) -> RewardFit {
    let y = data.n_responses;
    let mut r = vec![0.0; data.n_prompts * y];
    let mut grad = vec![0.0; r.len()];
    let mut trace = Vec::with_capacity(steps + 1);
    for step in 0..=steps {
        let mut loss = 0.5 * l2 * r.iter().map(|v| v * v).sum::<f64>();
        let mut grad_plus = Vec::with_capacity(data.pairs.len());
        let mut grad_minus = Vec::with_capacity(data.pairs.len());
        for (g, &v) in grad.iter_mut().zip(&r) {
            *g = l2 * v;
        }
        for p in &data.pairs {
            let (ip, im) = (p.prompt * y + p.chosen, p.prompt * y + p.rejected);
            let (log_sig, sig_neg) = log_sigmoid_and_sigmoid_neg(r[ip] - r[im]);
            loss -= log_sig;
            grad_plus.push(-sig_neg);
            grad_minus.push(sig_neg);
            grad[ip] -= sig_neg;
            grad[im] += sig_neg;
        }
        trace.push(RewardStep {
            step,
            loss,
            grad_plus,
            grad_minus,
        });
        if step == steps {
            break;
        }
        for (v, g) in r.iter_mut().zip(&grad) {
            *v -= lr * g;
        }
    }
    RewardFit {
        n_responses: y,
        rewards: r,
        trace,
    }
}

/// The closed-form optimum `π*(a|x) ∝ π_0(a|x) exp(r(x,a)/β)` of one prompt,
/// from its reference log-probabilities and rewards.
pub fn optimal_policy(ref_logp: &[f64], rewards: &[f64], beta: f64) -> Vec<f64> {
    let z: Vec<f64> = ref_logp
        .iter()
        .zip(rewards)
        .map(|(&l0, &r)| l0 + r / beta)
        .collect();
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|&v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// The KL-regularised expected reward against a fixed tabular reward.
#[derive(Debug, Clone)]
pub struct RewardModelKl {
    /// The KL weight `β`.
    pub beta: f64,
    /// The fitted reward (and its trace, for the report).
    pub fit: RewardFit,
    /// The reduction scale.
    pub scale: f64,
}

impl Objective for RewardModelKl {
    fn eval(&self, s: &State, dlogits: &mut [f64], pair_grads: &mut [LossEval]) -> f64 {
        let y = s.data.n_responses;
        let beta = self.beta;
        let mut per_prompt = vec![0.0; s.data.n_prompts];
        let mut h = vec![0.0; y];
        for (x, lx) in per_prompt.iter_mut().enumerate() {
            let row = x * y..(x + 1) * y;
            let (probs, logp) = (&s.probs[row.clone()], &s.logp[row.clone()]);
            let (ref_logp, r) = (&s.ref_logp[row.clone()], &self.fit.rewards[row.clone()]);
            let mut value = 0.0;
            for a in 0..y {
                h[a] = beta * (logp[a] - ref_logp[a]) - r[a];
                // π log π → 0 as π → 0: an underflowed probability contributes nothing.
                if probs[a] > 0.0 {
                    value += probs[a] * h[a];
                }
            }
            *lx = value;
            for ((d, &p), &ha) in dlogits[row].iter_mut().zip(probs).zip(&h) {
                if p > 0.0 {
                    *d += self.scale * p * (ha - value);
                }
            }
        }
        for (p, ev) in s.data.pairs.iter().zip(pair_grads.iter_mut()) {
            let partial = |a: usize| {
                let at = p.prompt * y + a;
                let pi = s.probs[at];
                if pi > 0.0 {
                    pi * (beta * (s.logp[at] - s.ref_logp[at]) - self.fit.rewards[at] + beta)
                } else {
                    0.0
                }
            };
            *ev = LossEval {
                value: per_prompt[p.prompt],
                d_plus: partial(p.chosen),
                d_minus: partial(p.rejected),
            };
        }
        self.scale * per_prompt.iter().sum::<f64>()
    }
}

/// The largest `rm_steps` accepted (a guard against typos that would hang).
pub const MAX_RM_STEPS: f64 = 1e7;

/// Config entry: `name = "rm-kl"`, `beta` (the KL weight, default 0.1),
/// `rm_steps` (an integer, default 2000), `rm_lr` (default 0.1), `rm_l2`
/// (default 1e-3; the lab's choice, see the module documentation).
pub const SPEC: ObjectiveSpec = ObjectiveSpec {
    name: "rm-kl",
    params: &[
        ParamSpec {
            name: "beta",
            default: Some(0.1),
            domain: Domain::Positive,
        },
        ParamSpec {
            name: "rm_steps",
            default: Some(2000.0),
            domain: Domain::NonNegative,
        },
        ParamSpec {
            name: "rm_lr",
            default: Some(0.1),
            domain: Domain::Positive,
        },
        ParamSpec {
            name: "rm_l2",
            default: Some(1e-3),
            domain: Domain::NonNegative,
        },
    ],
    build,
};

fn build(p: &[f64], data: &Dataset, scale: f64) -> Result<Box<dyn Objective>> {
    let (beta, steps, lr, l2) = (p[0], p[1], p[2], p[3]);
    if steps.fract() != 0.0 || steps > MAX_RM_STEPS {
        return Err(Error::config(
            "loss.rm_steps",
            format!("= {steps} is out of range; must be an integer in [0, {MAX_RM_STEPS:e}]"),
        ));
    }
    let fit = fit_reward_model(data, steps as usize, lr, l2);
    // Gradient descent from r = 0 must not end above its start (divergence:
    // rm_lr beyond 2 / the curvature).
    let (first, last) = (&fit.trace[0], &fit.trace[fit.trace.len() - 1]);
    if !(fit.rewards.iter().all(|v| v.is_finite()) && last.loss <= first.loss) {
        return Err(Error::config(
            "loss.rm_lr",
            format!("= {lr} makes the reward fit diverge; use a smaller step size"),
        ));
    }
    Ok(Box::new(RewardModelKl { beta, fit, scale }))
}

/// `σ(r(x,a+) - r(x,a-))` of every pair: the reward model's preference
/// probabilities after the fit (for reports).
pub fn preference_probabilities(fit: &RewardFit, data: &Dataset) -> Vec<f64> {
    data.pairs
        .iter()
        .map(|p| sigmoid(fit.reward(p.prompt, p.chosen) - fit.reward(p.prompt, p.rejected)))
        .collect()
}
