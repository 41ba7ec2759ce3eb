//! The log-linear policy: prompt embeddings `U` (X×d), response embeddings
//! `V` (Y×d) and a per-response bias `b`, `logits = U Vᵀ + b`. Responses
//! share the prompt's embedding and prompts share each response's
//! embedding, so a step on one pair moves every logit whose embeddings are
//! not orthogonal to the pair's: the setting of Razin et al. (2024), whose
//! CHES score ([`Loglinear::ches_scores`]) predicts likelihood displacement.

use super::kernels::{affine_rows, affine_rows_backward, dot};
use super::Policy;
use ndarray::{Array, Ix2};
use ndarray_rand::rand_distr::{Normal, StandardNormal};
use ndarray_rand::RandomExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `π(a|x) = softmax(U[x] · V[a] + b[a])` over `a`.
///
/// Parameters are one flat vector `U (X×d), V (Y×d), b (Y)`, all row-major.
/// With `freeze_responses`, `V` keeps its initial value: its gradient is
/// zero (the layout does not change, so every optimiser leaves it alone).
#[derive(Debug, Clone)]
pub struct Loglinear {
    /// Number of prompts `X` (one-hot inputs).
    pub n_prompts: usize,
    /// Number of responses `Y`: the length of each logit row.
    pub n_responses: usize,
    /// Embedding dimension `d`.
    pub dim: usize,
    /// Keep `V` fixed at its initialisation.
    pub freeze_responses: bool,
    /// Cosine similarity set at initialisation between each pair's chosen
    /// and rejected embeddings; `None`: both random.
    pub pair_similarity: Option<f64>,
    /// Expected norm of each initial embedding row.
    pub init_scale: f64,
    /// `(chosen, rejected)` response indices of the data set's pairs.
    pub pairs: Vec<(usize, usize)>,
}

impl Loglinear {
    /// Embedding dimension when `policy.dim` is unset.
    pub const DEFAULT_DIM: usize = 8;
    /// `policy.init_scale` when unset.
    pub const DEFAULT_INIT_SCALE: f64 = 1.0;

    /// Offsets of `V` and `b` in the parameter vector (`U` starts at 0).
    fn offsets(&self) -> (usize, usize) {
        let v = self.n_prompts * self.dim;
        (v, v + self.n_responses * self.dim)
    }

    /// The embedding `V[a]` of response `a`.
    pub fn response_embedding<'a>(&self, params: &'a [f64], a: usize) -> &'a [f64] {
        let (v, _) = self.offsets();
        &params[v + a * self.dim..v + (a + 1) * self.dim]
    }

    /// The embedding `U[x]` of prompt `x`.
    pub fn prompt_embedding<'a>(&self, params: &'a [f64], x: usize) -> &'a [f64] {
        &params[x * self.dim..(x + 1) * self.dim]
    }

    /// Per pair, the toy CHES score of Razin et al. (2024),
    /// `⟨v+, v-⟩ − ‖v+‖²`, on the response embeddings (the unembeddings
    /// that feed the logits). Higher means more likelihood displacement.
    pub fn ches_scores(&self, params: &[f64]) -> Vec<f64> {
        self.pairs
            .iter()
            .map(|&(c, r)| {
                let (vc, vr) = (
                    self.response_embedding(params, c),
                    self.response_embedding(params, r),
                );
                dot(vc, vr) - dot(vc, vc)
            })
            .collect()
    }

    /// Per pair, the cosine similarity of the chosen and rejected embeddings.
    pub fn pair_cosines(&self, params: &[f64]) -> Vec<f64> {
        self.pairs
            .iter()
            .map(|&(c, r)| {
                let (vc, vr) = (
                    self.response_embedding(params, c),
                    self.response_embedding(params, r),
                );
                dot(vc, vr) / (dot(vc, vc) * dot(vr, vr)).sqrt()
            })
            .collect()
    }

    #[inline(always)]
    fn forward_generic(&self, params: &[f64], logits: &mut [f64]) {
        let (v, b) = self.offsets();
        affine_rows(&params[..v], &params[v..b], &params[b..], self.dim, logits);
    }

    #[inline(always)]
    fn backward_generic(&self, params: &[f64], dlogits: &[f64], grad: &mut [f64]) {
        let (v, b) = self.offsets();
        let (g_u, rest) = grad.split_at_mut(v);
        let (g_v, g_b) = rest.split_at_mut(b - v);
        affine_rows_backward(
            &params[..v],
            &params[v..b],
            dlogits,
            self.dim,
            g_v,
            g_b,
            Some(g_u),
        );
        if self.freeze_responses {
            g_v.fill(0.0);
        }
    }
}

/// A random unit vector orthogonal to `v` (`v` nonzero, `len >= 2`).
fn orthogonal_unit(v: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    let vv = dot(v, v);
    loop {
        let mut w: Vec<f64> = (0..v.len()).map(|_| rng.sample(StandardNormal)).collect();
        let c = dot(&w, v) / vv;
        for (wi, &vi) in w.iter_mut().zip(v) {
            *wi -= c * vi;
        }
        // Orthogonalise twice: one pass leaves rounding error of order
        // ε·|c|·‖v‖, which would cost the requested cosine its last digits.
        let c = dot(&w, v) / vv;
        for (wi, &vi) in w.iter_mut().zip(v) {
            *wi -= c * vi;
        }
        let n = dot(&w, &w).sqrt();
        if n > 1e-8 {
            w.iter_mut().for_each(|wi| *wi /= n);
            return w;
        }
    }
}

crate::multiversion! {
    fn loglinear_forward(p: &Loglinear, params: &[f64], logits: &mut [f64]) {
        p.forward_generic(params, logits)
    }
}

crate::multiversion! {
    fn loglinear_backward(p: &Loglinear, params: &[f64], dlogits: &[f64], grad: &mut [f64]) {
        p.backward_generic(params, dlogits, grad)
    }
}

impl Policy for Loglinear {
    fn n_prompts(&self) -> usize {
        self.n_prompts
    }
    fn n_responses(&self) -> usize {
        self.n_responses
    }
    fn n_params(&self) -> usize {
        (self.n_prompts + self.n_responses) * self.dim + self.n_responses
    }
    fn scratch_len(&self) -> usize {
        0
    }

    /// Gaussian `U` and `V` with entries of standard deviation
    /// `init_scale/√d` (so rows have norm ≈ `init_scale`), `b = 0`. With
    /// `pair_similarity = s`, each pair's rejected embedding is then replaced
    /// by `s·v+ + √(1−s²)·‖v+‖·w`, `w` a random unit vector orthogonal to
    /// `v+`: the pair's cosine is exactly `s` and both rows have the same
    /// norm. Pairs are processed in order (a response in two pairs keeps the
    /// last assignment; the config rejects such data).
    fn init_params(&self, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = self.dim;
        let sd = self.init_scale / (d as f64).sqrt();
        let dist = Normal::new(0.0, sd).expect("finite positive scale");
        let mut out = Vec::with_capacity(self.n_params());
        for rows in [self.n_prompts, self.n_responses] {
            out.extend(Array::<f64, Ix2>::random_using((rows, d), dist, &mut rng).iter());
        }
        out.resize(self.n_params(), 0.0);
        if let Some(s) = self.pair_similarity {
            let (v0, _) = self.offsets();
            let s = s.clamp(-1.0, 1.0);
            let t = (1.0 - s * s).sqrt();
            assert!(
                d >= 2 || t == 0.0,
                "pair_similarity strictly inside (-1, 1) needs dim >= 2"
            );
            for &(c, r) in &self.pairs {
                let vc = out[v0 + c * d..v0 + (c + 1) * d].to_vec();
                let norm = dot(&vc, &vc).sqrt();
                let w = if t > 0.0 {
                    orthogonal_unit(&vc, &mut rng)
                } else {
                    vec![0.0; d]
                };
                for k in 0..d {
                    out[v0 + r * d + k] = s * vc[k] + t * norm * w[k];
                }
            }
        }
        out
    }

    fn forward(&self, params: &[f64], _scratch: &mut [f64], logits: &mut [f64]) {
        loglinear_forward(self, params, logits)
    }

    fn backward(&self, params: &[f64], _scratch: &mut [f64], dlogits: &[f64], grad: &mut [f64]) {
        loglinear_backward(self, params, dlogits, grad)
    }
}
