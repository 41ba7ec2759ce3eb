//! KTO (Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect Theoretic
//! Optimization"), on unpaired labels.
//!
//! The data are the pairs split by [`Dataset::unpaired_labels`]: pair
//! `(x, a+, a-)` gives `(x, a+, desirable)` and `(x, a-, undesirable)`. The
//! split is made from the state's data at every evaluation, so it follows
//! on-policy resampling of the pairs. With
//! `r = log π_θ(y|x) - log π_0(y|x)` for a labelled response `y` and the
//! reference point `z0`, each labelled response costs
//!
//! - desirable:   `λ_D (1 - σ(β (r - z0)))`
//! - undesirable: `λ_U (1 - σ(β (z0 - r)))`
//!
//! (the form of TRL's `KTOTrainer`, which drops the constant `λ` of the paper's
//! `λ - v(x, y)`; the two differ by a constant only).
//!
//! **Reference point.** TRL sets `z0 = max(0, mean over the batch of
//! log π_θ(y'|x) - log π_0(y'|x))` for mismatched completions `y'`, a
//! one-sample estimate of `KL(π_θ(·|x) || π_0(·|x))`, and detaches it. On this
//! toy the KL is computed exactly:
//!
//! `z0 = max(0, (1/|P|) Σ_{x ∈ P} KL(π_θ(·|x) || π_0(·|x)))`,
//!
//! where `P` is the set of distinct prompts that carry at least one label
//! (TRL weights prompts by their number of examples; on the paper's data every
//! prompt carries exactly two labels, so the two agree). The exact KL is never
//! negative, so the clamp only guards rounding. **`z0` is treated as a
//! constant in the gradient** (as TRL's `.detach()`): the logit gradient is
//! that of the labelled losses at fixed `z0`; [`Kto::eval_at`] evaluates at a
//! given `z0`, which is what the finite-difference tests differentiate.
//!
//! **Gradient.** `∂/∂r` of a desirable label is `-λ_D β σ(u) σ(-u)` with
//! `u = β(r - z0)`; of an undesirable one `+λ_U β σ(u) σ(-u)` with
//! `u = β(z0 - r)`. Through the log-softmax, a label at `(x, y)` adds
//! `scale · ∂/∂r · (e_y - π(·|x))` to the logits of prompt `x`.
//!
//! **Reduction.** The scale (1 for `sum`, 1/pairs for `mean`) applies to every
//! labelled response as it does to every pair: `mean` is the mean over pairs
//! of the sum of a pair's two labelled halves.
//!
//! **Metrics.** `pair_grads[i]` holds, for pair `i`, the sum of the two
//! halves' values (unscaled), `∂/∂l+` of the desirable half and `∂/∂l-` of the
//! undesirable half (at fixed `z0`).

use super::{Objective, ObjectiveSpec, State};
use crate::error::Result;
use crate::maths::data::{Dataset, Labeled};
use crate::maths::loss::{Domain, LossEval, ParamSpec};
use crate::maths::numerics::sigmoid;

/// KTO over the labelled responses of a data set.
#[derive(Debug, Clone)]
pub struct Kto {
    /// Temperature β > 0 on `r - z0` (default 0.1).
    pub beta: f64,
    /// Weight `λ_D` of desirable responses.
    pub lambda_d: f64,
    /// Weight `λ_U` of undesirable responses.
    pub lambda_u: f64,
    /// The reduction scale.
    pub scale: f64,
}

/// The distinct prompts that carry a label (the set `P` of `z0`), ascending.
pub fn labelled_prompts(labels: &[Labeled]) -> Vec<usize> {
    let mut prompts: Vec<usize> = labels.iter().map(|l| l.prompt).collect();
    prompts.sort_unstable();
    prompts.dedup();
    prompts
}

impl Kto {
    /// The reference point `z0 = max(0, mean_{x ∈ P} KL(π_θ(·|x) || π_0(·|x)))`
    /// for the labels of the state's data.
    pub fn reference_point(&self, s: &State) -> f64 {
        let prompts = labelled_prompts(&s.data.unpaired_labels());
        if prompts.is_empty() {
            return 0.0;
        }
        let y = s.data.n_responses;
        let total: f64 = prompts
            .iter()
            .map(|&x| {
                let row = x * y..(x + 1) * y;
                s.probs[row.clone()]
                    .iter()
                    .zip(&s.logp[row.clone()])
                    .zip(&s.ref_logp[row])
                    .map(|((&p, &l), &l0)| if p > 0.0 { p * (l - l0) } else { 0.0 })
                    .sum::<f64>()
            })
            .sum();
        (total / prompts.len() as f64).max(0.0)
    }

    /// Value and `∂/∂r` of one labelled response with log-ratio `r` at `z0`.
    pub fn label_eval(&self, desirable: bool, r: f64, z0: f64) -> (f64, f64) {
        // 1 - σ(u) = σ(-u), computed directly to keep its digits when σ(u) ≈ 1.
        if desirable {
            let u = self.beta * (r - z0);
            let (s, sn) = (sigmoid(u), sigmoid(-u));
            (self.lambda_d * sn, -self.lambda_d * self.beta * s * sn)
        } else {
            let u = self.beta * (z0 - r);
            let (s, sn) = (sigmoid(u), sigmoid(-u));
            (self.lambda_u * sn, self.lambda_u * self.beta * s * sn)
        }
    }

    /// [`Objective::eval`] with the reference point fixed at `z0`.
    pub fn eval_at(
        &self,
        s: &State,
        z0: f64,
        dlogits: &mut [f64],
        pair_grads: &mut [LossEval],
    ) -> f64 {
        let y = s.data.n_responses;
        let mut total = 0.0;
        for (i, l) in s.data.unpaired_labels().iter().enumerate() {
            let at = l.prompt * y + l.response;
            let r = s.logp[at] - s.ref_logp[at];
            let (value, d_r) = self.label_eval(l.desirable, r, z0);
            total += self.scale * value;
            let g = self.scale * d_r;
            if g != 0.0 {
                let row = l.prompt * y..(l.prompt + 1) * y;
                for (d, &p) in dlogits[row.clone()].iter_mut().zip(&s.probs[row]) {
                    *d -= g * p;
                }
                dlogits[at] += g;
            }
            if let Some(ev) = pair_grads.get_mut(i / 2) {
                if i % 2 == 0 {
                    *ev = LossEval {
                        value,
                        d_plus: d_r,
                        d_minus: 0.0,
                    };
                } else {
                    ev.value += value;
                    ev.d_minus = d_r;
                }
            }
        }
        total
    }
}

impl Objective for Kto {
    fn eval(&self, s: &State, dlogits: &mut [f64], pair_grads: &mut [LossEval]) -> f64 {
        let z0 = self.reference_point(s);
        self.eval_at(s, z0, dlogits, pair_grads)
    }
}

/// Config entry: `name = "kto"`, `beta` (default 0.1), `lambda_d` (desirable
/// weight, default 1), `lambda_u` (undesirable weight, default 1).
pub const SPEC: ObjectiveSpec = ObjectiveSpec {
    name: "kto",
    params: &[
        ParamSpec {
            name: "beta",
            default: Some(0.1),
            domain: Domain::Positive,
        },
        ParamSpec {
            name: "lambda_d",
            default: Some(1.0),
            domain: Domain::NonNegative,
        },
        ParamSpec {
            name: "lambda_u",
            default: Some(1.0),
            domain: Domain::NonNegative,
        },
    ],
    build,
};

/// The labels are read from the state's data at every step, not from `_data`.
fn build(p: &[f64], _data: &Dataset, scale: f64) -> Result<Box<dyn Objective>> {
    Ok(Box::new(Kto {
        beta: p[0],
        lambda_d: p[1],
        lambda_u: p[2],
        scale,
    }))
}
