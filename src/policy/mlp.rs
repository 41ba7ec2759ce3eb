//! The paper's toy policy: a three-layer MLP on one-hot prompts,
//! `logits(x) = W3 φ(W2 φ(W1 e_x + b1) + b2) + b3`, softmax over responses.
//! Every parameter is shared by all prompts' logits, unlike [`super::Tabular`].

use super::Policy;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Ix2};
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

    #[inline]
    fn apply(self, v: f64) -> f64 {
        match self {
            Activation::Tanh => v.tanh(),
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

    fn mat<'a>(&self, p: &'a [f64], at: usize, rows: usize, cols: usize) -> ArrayView2<'a, f64> {
        ArrayView2::from_shape((rows, cols), &p[at..at + rows * cols]).expect("layout")
    }
}

fn mat_mut(p: &mut [f64], at: usize, rows: usize, cols: usize) -> ArrayViewMut2<'_, f64> {
    ArrayViewMut2::from_shape((rows, cols), &mut p[at..at + rows * cols]).expect("layout")
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
        let (x, h, y) = (self.n_prompts, self.width, self.n_responses);
        let o = self.offsets();
        let act = self.activation;
        let (h1s, rest) = scratch.split_at_mut(x * h);
        let h2s = &mut rest[..x * h];
        // Layer 1 on a one-hot input is a column lookup: h1[x] = φ(W1[:, x] + b1).
        let w1 = self.mat(params, o.w1, h, x);
        let b1 = &params[o.b1..o.b1 + h];
        for xi in 0..x {
            for j in 0..h {
                h1s[xi * h + j] = act.apply(w1[[j, xi]] + b1[j]);
            }
        }
        let h1 = ArrayView2::from_shape((x, h), &*h1s).expect("layout");
        let mut h2 = ArrayViewMut2::from_shape((x, h), &mut *h2s).expect("layout");
        let b2 = ArrayView1::from(&params[o.b2..o.b2 + h]);
        h2.assign(&b2.broadcast((x, h)).expect("broadcast"));
        general_mat_mul(1.0, &h1, &self.mat(params, o.w2, h, h).t(), 1.0, &mut h2);
        h2.mapv_inplace(|v| act.apply(v));
        let mut z = ArrayViewMut2::from_shape((x, y), logits).expect("layout");
        let b3 = ArrayView1::from(&params[o.b3..o.b3 + y]);
        z.assign(&b3.broadcast((x, y)).expect("broadcast"));
        general_mat_mul(
            1.0,
            &h2.view(),
            &self.mat(params, o.w3, y, h).t(),
            1.0,
            &mut z,
        );
    }

    fn backward(&self, params: &[f64], scratch: &mut [f64], dlogits: &[f64], grad: &mut [f64]) {
        let (x, h, y) = (self.n_prompts, self.width, self.n_responses);
        let o = self.offsets();
        let act = self.activation;
        let (acts, grads) = scratch.split_at_mut(2 * x * h);
        let h1 = ArrayView2::from_shape((x, h), &acts[..x * h]).expect("layout");
        let h2 = ArrayView2::from_shape((x, h), &acts[x * h..]).expect("layout");
        let (da2s, da1s) = grads.split_at_mut(x * h);
        let dz = ArrayView2::from_shape((x, y), dlogits).expect("layout");

        // Output layer.
        general_mat_mul(1.0, &dz.t(), &h2, 0.0, &mut mat_mut(grad, o.w3, y, h));
        ArrayViewMut1::from(&mut grad[o.b3..o.b3 + y]).assign(&dz.sum_axis(Axis(0)));
        let mut da2 = ArrayViewMut2::from_shape((x, h), da2s).expect("layout");
        general_mat_mul(1.0, &dz, &self.mat(params, o.w3, y, h), 0.0, &mut da2);
        da2.zip_mut_with(&h2, |g, &hv| *g *= act.deriv_from_output(hv));

        // Hidden layer.
        general_mat_mul(1.0, &da2.t(), &h1, 0.0, &mut mat_mut(grad, o.w2, h, h));
        ArrayViewMut1::from(&mut grad[o.b2..o.b2 + h]).assign(&da2.sum_axis(Axis(0)));
        let mut da1 = ArrayViewMut2::from_shape((x, h), da1s).expect("layout");
        general_mat_mul(
            1.0,
            &da2.view(),
            &self.mat(params, o.w2, h, h),
            0.0,
            &mut da1,
        );
        da1.zip_mut_with(&h1, |g, &hv| *g *= act.deriv_from_output(hv));

        // Input layer: the one-hot input makes dW1[:, x] = da1[x, :].
        mat_mut(grad, o.w1, h, x).assign(&da1.t());
        ArrayViewMut1::from(&mut grad[o.b1..o.b1 + h]).assign(&da1.sum_axis(Axis(0)));
    }
}
