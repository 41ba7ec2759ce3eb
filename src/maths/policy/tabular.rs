//! The tabular softmax: one free logit per (prompt, response). No parameter is
//! shared across prompts or responses, so the logit gradient *is* the
//! parameter gradient.

use super::Policy;
use crate::maths::optim::Optimizer;

/// `π(a|x) = softmax(θ[x, ·])[a]`, parameters stored row-major `X × Y`.
#[derive(Debug, Clone)]
pub struct Tabular {
    /// Number of prompts `X` (one-hot inputs).
    pub n_prompts: usize,
    /// Number of responses `Y`: the length of each logit row.
    pub n_responses: usize,
}

impl Policy for Tabular {
    fn n_prompts(&self) -> usize {
        self.n_prompts
    }
    fn n_responses(&self) -> usize {
        self.n_responses
    }
    fn n_params(&self) -> usize {
        self.n_prompts * self.n_responses
    }
    fn scratch_len(&self) -> usize {
        0
    }
    /// Uniform policy (all logits zero); the reference step replaces it.
    fn init_params(&self, _seed: u64) -> Vec<f64> {
        vec![0.0; self.n_params()]
    }
    fn forward(&self, params: &[f64], _scratch: &mut [f64], logits: &mut [f64]) {
        logits.copy_from_slice(params);
    }
    fn logits_are_params(&self) -> bool {
        true
    }
    fn backward(&self, _params: &[f64], _scratch: &mut [f64], dlogits: &[f64], grad: &mut [f64]) {
        grad.copy_from_slice(dlogits);
    }
    /// The logit gradient is the parameter gradient: no copy.
    fn backward_step(
        &self,
        params: &mut [f64],
        _scratch: &mut [f64],
        dlogits: &[f64],
        _grad: &mut [f64],
        opt: &mut Optimizer,
    ) {
        opt.step(params, dlogits);
    }
    fn exact_params(&self, logits: &[f64]) -> Option<Vec<f64>> {
        Some(logits.to_vec())
    }
    fn native(&self) -> Option<crate::maths::policy::native::Net> {
        Some(crate::maths::policy::native::Net::Tabular)
    }
}
