//! The paper's toy policy: a three-layer MLP on one-hot prompts,
//! `logits(x) = W3 φ(W2 φ(W1 e_x + b1) + b2) + b3`, softmax over responses.
//! Every parameter is shared by all prompts' logits, unlike [`super::Tabular`].

use super::Policy;
use crate::fast::dense::{
    affine_rows_backward, affine_rows_simd, input_grad_simd, one_hot_forward_simd,
    one_hot_grad_simd,
};
use crate::fast::layer::Layer;
use crate::fast::{self, Simd};
use crate::maths::optim::Optimizer;
use ndarray::{Array, Ix2};
use ndarray_rand::rand_distr::Uniform;
use ndarray_rand::RandomExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Hidden-layer nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// `tanh` (the default).
    #[default]
    Tanh,
    /// `max(0, x)`.
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

    /// The config name of this activation.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
        }
    }

    /// Applies the activation in place (one loop per kind, so it vectorises).
    #[inline(always)]
    fn apply_all(self, xs: &mut [f64]) {
        match self {
            Activation::Tanh => {
                for v in xs.iter_mut() {
                    *v = crate::maths::numerics::tanh_vectorizable(*v);
                }
            }
            Activation::Relu => {
                for v in xs.iter_mut() {
                    *v = v.max(0.0);
                }
            }
        }
    }

    /// `g ← g φ'` at each unit, given the activations' outputs `h`.
    #[inline(always)]
    fn scale_by_deriv(self, g: &mut [f64], h: &[f64]) {
        for (g, &hv) in g.iter_mut().zip(h) {
            *g *= self.deriv_from_output(hv);
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

/// How the MLP's weights and biases are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MlpInit {
    /// PyTorch's `nn.Linear` default scaled by `init_scale`: weights and
    /// biases uniform in `±init_scale/√fan_in` (`init_scale = √6` is He/Kaiming
    /// uniform for the weights). The default.
    #[default]
    Uniform,
    /// Glorot/Xavier uniform (`nn.init.xavier_uniform_` with gain
    /// `init_scale`): weights in `±init_scale·√(6/(fan_in + fan_out))`,
    /// biases 0 (`nn.init.zeros_`).
    Xavier,
}

impl MlpInit {
    /// Names accepted in `policy.init`.
    pub const NAMES: [&'static str; 2] = ["uniform", "xavier"];

    /// The name of this initialisation in [`MlpInit::NAMES`].
    pub fn name(self) -> &'static str {
        match self {
            MlpInit::Uniform => "uniform",
            MlpInit::Xavier => "xavier",
        }
    }

    /// Parses a name of [`MlpInit::NAMES`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "uniform" => Some(MlpInit::Uniform),
            "xavier" => Some(MlpInit::Xavier),
            _ => None,
        }
    }
}

/// The defaults of the MLP's `[policy]` fields.
impl Mlp {
    /// Hidden width when `policy.width` is unset.
    pub const DEFAULT_WIDTH: usize = 64;
    /// `policy.init_scale` when unset: PyTorch's `nn.Linear` scale.
    pub const DEFAULT_INIT_SCALE: f64 = 1.0;
}

/// Three linear layers `X → H → H → Y` with activation between them.
///
/// Parameters are one flat vector laid out `W1 (H×X), b1, W2 (H×H), b2,
/// W3 (Y×H), b3`. Initialisation follows PyTorch's `nn.Linear` default scaled
/// by `init_scale`: weights and biases uniform in `±init_scale/√fan_in`
/// (or Glorot/Xavier, see [`MlpInit`]).
#[derive(Debug, Clone)]
pub struct Mlp {
    /// Number of prompts X (one-hot inputs).
    pub n_prompts: usize,
    /// Number of responses Y (logits per prompt).
    pub n_responses: usize,
    /// Hidden width H of both hidden layers.
    pub width: usize,
    /// The nonlinearity after each hidden layer.
    pub activation: Activation,
    /// Scale of the initial weights (1 = the family's default).
    pub init_scale: f64,
    /// The initialisation family; `init_scale` scales it.
    pub init: MlpInit,
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
    /// The forward pass, with `simd`'s dense kernel for the two dense layers
    /// (the plain kernel, or its AVX-512 twin, which computes the same bits).
    #[inline(always)]
    fn forward_simd(&self, simd: Simd, params: &[f64], scratch: &mut [f64], logits: &mut [f64]) {
        let (x, h) = (self.n_prompts, self.width);
        let o = self.offsets();
        let act = self.activation;
        let (h1, rest) = scratch.split_at_mut(x * h);
        let h2 = &mut rest[..x * h];
        self.input_layer_forward(simd, params, h1);
        affine_rows_simd(simd, h1, &params[o.w2..o.b2], &params[o.b2..o.w3], h, h2);
        act.apply_all(h2);
        self.output_layer_forward(simd, params, h2, logits);
    }

    /// The logits from the second hidden layer's activations `h2`.
    #[inline(always)]
    fn output_layer_forward(&self, simd: Simd, params: &[f64], h2: &[f64], logits: &mut [f64]) {
        let o = self.offsets();
        let (w3, b3) = (&params[o.w3..o.b3], &params[o.b3..o.end]);
        affine_rows_simd(simd, h2, w3, b3, self.width, logits);
    }

    /// Layer 1 on a one-hot input is a column lookup: `h1[x] = φ(W1[:, x] + b1)`.
    #[inline(always)]
    fn input_layer_forward(&self, simd: Simd, params: &[f64], h1: &mut [f64]) {
        let o = self.offsets();
        one_hot_forward_simd(
            simd,
            &params[o.w1..o.b1],
            &params[o.b1..o.w2],
            self.n_prompts,
            h1,
        );
        self.activation.apply_all(h1);
    }

    #[inline(always)]
    fn backward_generic(
        &self,
        simd: Simd,
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
        let (da2, rest) = grads.split_at_mut(x * h);
        let da1 = &mut rest[..x * h];
        let (g_w1, rest) = grad.split_at_mut(o.b1);
        let (g_b1, rest) = rest.split_at_mut(o.w2 - o.b1);
        let (g_w2, rest) = rest.split_at_mut(o.b2 - o.w2);
        let (g_b2, rest) = rest.split_at_mut(o.w3 - o.b2);
        let (g_w3, g_b3) = rest.split_at_mut(o.b3 - o.w3);

        let (w2, w3) = (&params[o.w2..o.b2], &params[o.w3..o.b3]);
        affine_rows_backward(h2, w3, dlogits, h, g_w3, g_b3, None);
        input_grad_simd(simd, w3, dlogits, h, da2);
        act.scale_by_deriv(da2, h2);
        affine_rows_backward(h1, w2, da2, h, g_w2, g_b2, None);
        input_grad_simd(simd, w2, da2, h, da1);
        act.scale_by_deriv(da1, h1);
        self.input_layer_grad(simd, da1, g_w1, g_b1);
    }

    /// The first layer's gradient: the one-hot input makes `dW1[:, x] =
    /// da1[x, :]`, and `db1 = Σ_x da1[x, :]`.
    #[inline(always)]
    fn input_layer_grad(&self, simd: Simd, da1: &[f64], g_w1: &mut [f64], g_b1: &mut [f64]) {
        one_hot_grad_simd(simd, da1, self.n_prompts, g_w1, g_b1);
    }
}

impl Mlp {
    /// [`Policy::backward_step_ahead`]: the update of [`Mlp::backward_generic`]
    /// followed by `Optimizer::step` (each value's update depends only on its
    /// own gradient and state), then the forward pass of the result, with the
    /// layers updated in the order that lets the forward ride along. Both
    /// input gradients come first, from the old weights; then the output
    /// layer; then layer 1 and its new activations; then the hidden layer,
    /// whose new pre-activations are computed row by row as its rows are
    /// updated ([`Layer::step_fused`]); then the logits. With AVX-512 the
    /// hidden layer's forward runs beside Adam's divisions instead of after
    /// them (width 64, one thread: 10.4 µs a step in the last record before
    /// this, 7.9 µs in the one after; `dpo-lab bench`).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn backward_step_ahead_generic(
        &self,
        simd: Simd,
        params: &mut [f64],
        scratch: &mut [f64],
        dlogits: &[f64],
        grad: &mut [f64],
        opt: &mut Optimizer,
        logits: &mut [f64],
    ) {
        let (x, h, y) = (self.n_prompts, self.width, self.n_responses);
        let o = self.offsets();
        let act = self.activation;
        let (h1, rest) = scratch.split_at_mut(x * h);
        let (h2, rest) = rest.split_at_mut(x * h);
        let (da2, rest) = rest.split_at_mut(x * h);
        let (da1, rest) = rest.split_at_mut(x * h);
        let h1_new = &mut rest[..x * h];
        let mut upd = opt.begin_step();
        let layer = |n, w, b| Layer { k: h, n, w, b };
        let (out_layer, hidden) = (layer(y, o.w3, o.b3), layer(h, o.w2, o.b2));
        input_grad_simd(simd, &params[o.w3..o.b3], dlogits, h, da2);
        act.scale_by_deriv(da2, h2);
        input_grad_simd(simd, &params[o.w2..o.b2], da2, h, da1);
        out_layer.step_fused(simd, h2, dlogits, params, grad, &mut upd, None);
        act.scale_by_deriv(da1, h1);
        let (g_w1, g_b1) = grad[o.w1..o.w2].split_at_mut(o.b1 - o.w1);
        self.input_layer_grad(simd, da1, g_w1, g_b1);
        upd.apply_simd(simd, o.w1, &mut params[o.w1..o.w2], &grad[o.w1..o.w2]);
        self.input_layer_forward(simd, params, h1_new);
        let ahead = Some((&*h1_new, &mut *h2));
        hidden.step_fused(simd, h1, da2, params, grad, &mut upd, ahead);
        act.apply_all(h2);
        h1.copy_from_slice(h1_new);
        self.output_layer_forward(simd, params, h2, logits);
    }
}

fast::kernel! {
    [simd]
    /// [`Mlp::backward_step_ahead_generic`], compiled for each SIMD level.
    fn mlp_backward_step_ahead<'a>(
        m: &'a Mlp,
        params: &'a mut [f64],
        scratch: &'a mut [f64],
        dlogits_logits: (&'a [f64], &'a mut [f64]),
        grad: &'a mut [f64],
        opt: &'a mut Optimizer
    ) {
        let (dlogits, logits) = dlogits_logits;
        m.backward_step_ahead_generic(simd, params, scratch, dlogits, grad, opt, logits)
    }
}

fast::kernel! {
    [simd]
    /// The forward pass compiled for each SIMD level, with the AVX-512 dense
    /// kernel at that level.
    fn mlp_forward<'a>(m: &'a Mlp, params: &'a [f64], scratch: &'a mut [f64], logits: &'a mut [f64]) {
        m.forward_simd(simd, params, scratch, logits)
    }
}

fast::kernel! {
    [simd]
    /// [`Mlp::backward_generic`], compiled for each SIMD level.
    fn mlp_backward<'a>(m: &'a Mlp, params: &'a [f64], scratch: &'a mut [f64], dlogits: &'a [f64], grad: &'a mut [f64]) {
        m.backward_generic(simd, params, scratch, dlogits, grad)
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
    /// Hidden activations of both layers, room for their gradients, and
    /// for layer 1's next activations (`backward_step_ahead`).
    fn scratch_len(&self) -> usize {
        5 * self.n_prompts * self.width
    }

    fn init_params(&self, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (x, h, y) = (self.n_prompts, self.width, self.n_responses);
        let mut out = Vec::with_capacity(self.n_params());
        for (rows, fan_in) in [(h, x), (h, h), (y, h)] {
            let k = match self.init {
                MlpInit::Uniform => self.init_scale / (fan_in as f64).sqrt(),
                MlpInit::Xavier => self.init_scale * (6.0 / (fan_in + rows) as f64).sqrt(),
            };
            let dist = Uniform::new_inclusive(-k, k).expect("finite bound");
            out.extend(Array::<f64, Ix2>::random_using((rows, fan_in), dist, &mut rng).iter());
            match self.init {
                MlpInit::Uniform => out.extend(Array::random_using(rows, dist, &mut rng).iter()),
                MlpInit::Xavier => out.extend(std::iter::repeat_n(0.0, rows)),
            }
        }
        out
    }

    fn forward(&self, params: &[f64], scratch: &mut [f64], logits: &mut [f64]) {
        mlp_forward(self, params, scratch, logits)
    }

    fn backward(&self, params: &[f64], scratch: &mut [f64], dlogits: &[f64], grad: &mut [f64]) {
        mlp_backward(self, params, scratch, dlogits, grad)
    }

    fn backward_step_ahead(
        &self,
        params: &mut [f64],
        scratch: &mut [f64],
        dlogits: &[f64],
        grad: &mut [f64],
        opt: &mut Optimizer,
        logits: &mut [f64],
    ) -> bool {
        mlp_backward_step_ahead(self, params, scratch, (dlogits, logits), grad, opt);
        true
    }

    fn native(&self) -> Option<crate::maths::policy::native::Net> {
        Some(crate::maths::policy::native::Net::Mlp(self.clone()))
    }
}
