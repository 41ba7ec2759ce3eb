//! Tabular logits plus one bias per response shared by every prompt:
//! `logits[x][a] = θ[x][a] + b[a]`. The smallest amount of parameter sharing
//! across prompts: raising `b[a]` for one prompt's chosen response raises
//! it for every other prompt too.

use super::Policy;

/// `π(a|x) = softmax(θ[x, ·] + b)[a]`. Parameters: the `X × Y` table
/// (row-major), then the `Y` shared biases.
#[derive(Debug, Clone)]
pub struct SharedBias {
    /// Number of prompts `X` (one-hot inputs).
    pub n_prompts: usize,
    /// Number of responses `Y`: the length of each logit row.
    pub n_responses: usize,
}

impl SharedBias {
    /// Offset of the bias block in the parameter vector.
    pub fn bias_offset(&self) -> usize {
        self.n_prompts * self.n_responses
    }
}

impl Policy for SharedBias {
    fn n_prompts(&self) -> usize {
        self.n_prompts
    }
    fn n_responses(&self) -> usize {
        self.n_responses
    }
    fn n_params(&self) -> usize {
        self.n_prompts * self.n_responses + self.n_responses
    }
    fn scratch_len(&self) -> usize {
        0
    }
    /// Uniform policy (everything zero); the reference step replaces it.
    fn init_params(&self, _seed: u64) -> Vec<f64> {
        vec![0.0; self.n_params()]
    }
    fn forward(&self, params: &[f64], _scratch: &mut [f64], logits: &mut [f64]) {
        let (table, bias) = params.split_at(self.bias_offset());
        for (out, row) in logits
            .chunks_exact_mut(self.n_responses)
            .zip(table.chunks_exact(self.n_responses))
        {
            for ((o, &t), &b) in out.iter_mut().zip(row).zip(bias) {
                *o = t + b;
            }
        }
    }
    fn backward(&self, _params: &[f64], _scratch: &mut [f64], dlogits: &[f64], grad: &mut [f64]) {
        let (g_table, g_bias) = grad.split_at_mut(self.bias_offset());
        g_table.copy_from_slice(dlogits);
        g_bias.fill(0.0);
        for row in dlogits.chunks_exact(self.n_responses) {
            for (g, &d) in g_bias.iter_mut().zip(row) {
                *g += d;
            }
        }
    }
    /// The table holds the logits, the biases are zero.
    fn exact_params(&self, logits: &[f64]) -> Option<Vec<f64>> {
        let mut p = logits.to_vec();
        p.resize(self.n_params(), 0.0);
        Some(p)
    }
}
