//! The paper's toy policy: a three-layer MLP on one-hot prompts,
//! `logits(x) = W3 φ(W2 φ(W1 e_x + b1) + b2) + b3`, softmax over responses.
//! Every parameter is shared by all prompts' logits, unlike [`super::Tabular`].

use super::kernels::{affine_rows, affine_rows_backward};
use super::Policy;
use ndarray::{Array, Ix2};
use ndarray_rand::rand_distr::Uniform;
use ndarray_rand::RandomExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Hidden-layer nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Tanh,
    Relu,
}

impl Activation {
    /// Config names, in the order of the variants.
    pub const NAMES: [&'static str; 2] = ["tanh", "relu"];

    /// Parses a config name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tanh" => Some(Activation::Tanh),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }

    #[inline(always)]
    fn apply(self, v: f64) -> f64 {
        match self {
            Activation::Tanh => crate::numerics::tanh_vectorizable(v),
            Activation::Relu => v.max(0.0),
        }
    }

    /// Derivative expressed through the activation's output `h = φ(v)`.
    #[inline]
    fn deriv_from_output(self, h: f64) -> f64 {
        match self {
            Activation::Tanh => 1.0 - h * h,
            Activation::Relu => {
                if h > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// Three linear layers `X → H → H → Y` with activation between them.
///
/// Parameters are one flat vector laid out `W1 (H×X), b1, W2 (H×H), b2,
/// W3 (Y×H), b3`. Initialisation follows PyTorch's `nn.Linear` default scaled
/// by `init_scale`: weights and biases uniform in `±init_scale/√fan_in`.
#[derive(Debug, Clone)]
pub struct Mlp {
    pub n_prompts: usize,
    pub n_responses: usize,
    pub width: usize,
    pub activation: Activation,
    pub init_scale: f64,
}

struct Offsets {
    w1: usize,
    b1: usize,
    w2: usize,
    b2: usize,
    w3: usize,
    b3: usize,
    end: usize,
}

impl Mlp {
    fn offsets(&self) -> Offsets {
        let (x, h, y) = (self.n_prompts, self.width, self.n_responses);
        let w1 = 0;
        let b1 = w1 + h * x;
        let w2 = b1 + h;
        let b2 = w2 + h * h;
        let w3 = b2 + h;
        let b3 = w3 + y * h;
        Offsets {
            w1,
            b1,
            w2,
            b2,
            w3,
            b3,
            end: b3 + y,
        }
    }
}

impl Mlp {
    #[inline(always)]
    fn forward_generic(&self, params: &[f64], scratch: &mut [f64], logits: &mut [f64]) {
        let (x, h) = (self.n_prompts, self.width);
        let o = self.offsets();
        let act = self.activation;
        let (h1, rest) = scratch.split_at_mut(x * h);
        let h2 = &mut rest[..x * h];
        // Layer 1 on a one-hot input is a column lookup: h1[x] = φ(W1[:, x] + b1).
        let w1 = &params[o.w1..o.b1];
        let b1 = &params[o.b1..o.w2];
        for (xi, row) in h1.chunks_exact_mut(h).enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = act.apply(w1[j * x + xi] + b1[j]);
            }
        }
        affine_rows(h1, &params[o.w2..o.b2], &params[o.b2..o.w3], h, h2);
        for v in h2.iter_mut() {
            *v = act.apply(*v);
        }
        affine_rows(h2, &params[o.w3..o.b3], &params[o.b3..o.end], h, logits);
    }

    #[inline(always)]
    fn backward_generic(
        &self,
        params: &[f64],
        scratch: &mut [f64],
        dlogits: &[f64],
        grad: &mut [f64],
    ) {
        let (x, h) = (self.n_prompts, self.width);
        let o = self.offsets();
        let act = self.activation;
        let (acts, grads) = scratch.split_at_mut(2 * x * h);
        let (h1, h2) = acts.split_at(x * h);
        let (da2, da1) = grads.split_at_mut(x * h);
        let (g_w1, rest) = grad.split_at_mut(o.b1);
        let (g_b1, rest) = rest.split_at_mut(o.w2 - o.b1);
        let (g_w2, rest) = rest.split_at_mut(o.b2 - o.w2);
        let (g_b2, rest) = rest.split_at_mut(o.w3 - o.b2);
        let (g_w3, g_b3) = rest.split_at_mut(o.b3 - o.w3);

        affine_rows_backward(
            h2,
            &params[o.w3..o.b3],
            dlogits,
            h,
            g_w3,
            g_b3,
            Some(&mut *da2),
        );
        for (g, &hv) in da2.iter_mut().zip(h2) {
            *g *= act.deriv_from_output(hv);
        }
        affine_rows_backward(h1, &params[o.w2..o.b2], da2, h, g_w2, g_b2, Some(&mut *da1));
        for (g, &hv) in da1.iter_mut().zip(h1) {
            *g *= act.deriv_from_output(hv);
        }
        // The one-hot input makes dW1[:, x] = da1[x, :].
        g_b1.fill(0.0);
        for (xi, row) in da1.chunks_exact(h).enumerate() {
            for (j, &g) in row.iter().enumerate() {
                g_w1[j * x + xi] = g;
                g_b1[j] += g;
            }
        }
    }
}

crate::multiversion! {
    fn mlp_forward(m: &Mlp, params: &[f64], scratch: &mut [f64], logits: &mut [f64]) {
        m.forward_generic(params, scratch, logits)
    }
}

crate::multiversion! {
    fn mlp_backward(m: &Mlp, params: &[f64], scratch: &mut [f64], dlogits: &[f64], grad: &mut [f64]) {
        m.backward_generic(params, scratch, dlogits, grad)
    }
}

impl Policy for Mlp {
    fn n_prompts(&self) -> usize {
        self.n_prompts
    }
    fn n_responses(&self) -> usize {
        self.n_responses
    }
    fn n_params(&self) -> usize {
        self.offsets().end
    }
    /// Hidden activations of both layers, and room for their gradients.
    fn scratch_len(&self) -> usize {
        4 * self.n_prompts * self.width
    }

    fn init_params(&self, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (x, h, y) = (self.n_prompts, self.width, self.n_responses);
        let mut out = Vec::with_capacity(self.n_params());
        for (rows, fan_in) in [(h, x), (h, h), (y, h)] {
            let k = self.init_scale / (fan_in as f64).sqrt();
            let dist = Uniform::new_inclusive(-k, k).expect("finite bound");
            out.extend(Array::<f64, Ix2>::random_using((rows, fan_in), dist, &mut rng).iter());
            out.extend(Array::random_using(rows, dist, &mut rng).iter());
        }
        out
    }

    fn forward(&self, params: &[f64], scratch: &mut [f64], logits: &mut [f64]) {
        mlp_forward(self, params, scratch, logits)
    }

    fn backward(&self, params: &[f64], scratch: &mut [f64], dlogits: &[f64], grad: &mut [f64]) {
        mlp_backward(self, params, scratch, dlogits, grad)
    }
}
