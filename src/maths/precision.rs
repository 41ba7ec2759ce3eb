//! Float precision of the training loop: the numeric mode the loop runs in.
//!
//! `precision = "f32"` is an **f32 storage emulation**: the loop keeps its
//! f64 code, and every value it stores between operations is rounded to the
//! nearest float32 (`x as f32 as f64`, which also reproduces f32's subnormals,
//! its underflow to 0 below about 1.4e-45 and its overflow to infinity above
//! about 3.4e38). Rounded are: the parameters after the reference fit and
//! after every optimiser step; the optimiser state (`m`, `v`) after every
//! step; the logits after the forward pass and the values the policy caches
//! for its backward pass (the MLP's hidden activations); the
//! log-probabilities after the softmax, and the probabilities, computed as
//! `exp` of the rounded log-probabilities and rounded again (so a
//! probability below the smallest f32 subnormal is exactly 0, as in a float32
//! softmax); the loss, its per-pair partials and its logit gradient after the
//! objective; the parameter gradient after the backward pass.
//!
//! The arithmetic inside one operation stays f64 (a float32 framework would
//! also round intermediate results, e.g. within a matrix product's sums, so
//! this emulation is slightly more accurate than real float32 training); in
//! particular the MLP's forward pass is one operation: its logits are
//! computed from unrounded hidden activations, and only the copies kept for
//! the backward pass are rounded. The reference (SFT) fit itself runs in f64;
//! its result is rounded. Adam's bias corrections are f64 scalars, as in
//! PyTorch. `f64` (the default) runs the loop unchanged.
//!
//! `precision = "f32-native"` computes in float32 instead
//! ([`crate::maths::policy::native`]): every sum and product rounded as float32
//! rounds it, not only the stored values.
//!
//! The f32 versus f64 experiment is [`crate::studies::precision`].

/// The float type the training loop stores its values in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Native f64 (the default).
    #[default]
    F64,
    /// f32 storage emulation (see the module documentation).
    F32,
    /// Native float32 arithmetic: forward, backward, softmax and optimiser
    /// computed in f32 ([`crate::maths::policy::native`]; tabular and MLP policies).
    F32Native,
}

impl Precision {
    /// The names accepted in the config's `precision` field.
    pub const NAMES: [&'static str; 3] = ["f64", "f32", "f32-native"];

    /// The precision called `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "f64" => Some(Precision::F64),
            "f32" => Some(Precision::F32),
            "f32-native" => Some(Precision::F32Native),
            _ => None,
        }
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
            Precision::F32Native => "f32-native",
        }
    }
}

/// `x` rounded to the nearest float32 (ties to even), as an f64: subnormal
/// below [`F32_MIN_NORMAL`], 0 below half of [`F32_MIN_SUBNORMAL`], ±inf
/// beyond `f32::MAX`.
#[inline(always)]
pub fn to_f32(x: f64) -> f64 {
    x as f32 as f64
}

/// Rounds every entry of `xs` to float32 ([`to_f32`]).
#[inline]
pub fn round_f32(xs: &mut [f64]) {
    for x in xs {
        *x = to_f32(*x);
    }
}

/// Whether `x` is exactly a float32 value (infinities and NaN included).
pub fn is_f32_exact(x: f64) -> bool {
    x.is_nan() || to_f32(x) == x
}

/// The smallest positive float32 (a subnormal), 2^-149 ≈ 1.4e-45: a
/// probability below half of it is exactly 0 in float32.
pub const F32_MIN_SUBNORMAL: f64 = 1.401_298_464_324_817e-45;
/// The smallest positive normal float32, 2^-126 ≈ 1.18e-38; below it float32
/// loses precision (subnormals).
pub const F32_MIN_NORMAL: f64 = 1.175_494_350_822_287_5e-38;

/// `ln` of [`F32_MIN_SUBNORMAL`] ≈ -103.28.
pub fn ln_f32_min_subnormal() -> f64 {
    F32_MIN_SUBNORMAL.ln()
}

/// `ln` of [`F32_MIN_NORMAL`] ≈ -87.34.
pub fn ln_f32_min_normal() -> f64 {
    F32_MIN_NORMAL.ln()
}
