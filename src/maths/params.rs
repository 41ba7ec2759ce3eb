//! Named numeric parameters with a default and a domain: how every loss,
//! objective and optimiser declares its knobs once, so that validation,
//! defaults and error messages all read the same declaration.

/// The allowed values of a numeric parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Domain {
    /// Finite and `> 0`.
    Positive,
    /// Finite and `≥ 0`.
    NonNegative,
    /// Any finite number.
    Finite,
    /// Finite, `lo ≤ v < hi`.
    HalfOpen(f64, f64),
    /// Finite, `lo < v < hi`.
    Open(f64, f64),
}

impl Domain {
    /// Whether `v` is allowed.
    pub fn contains(self, v: f64) -> bool {
        v.is_finite()
            && match self {
                Domain::Positive => v > 0.0,
                Domain::NonNegative => v >= 0.0,
                Domain::Finite => true,
                Domain::HalfOpen(lo, hi) => lo <= v && v < hi,
                Domain::Open(lo, hi) => lo < v && v < hi,
            }
    }

    /// Human-readable statement of the domain, for error messages.
    pub fn describe(self) -> String {
        match self {
            Domain::Positive => "a finite number > 0".into(),
            Domain::NonNegative => "a finite number >= 0".into(),
            Domain::Finite => "a finite number".into(),
            Domain::HalfOpen(lo, hi) => format!("a number in [{lo}, {hi})"),
            Domain::Open(lo, hi) => format!("a number in ({lo}, {hi})"),
        }
    }
}

/// A named numeric parameter (of a loss, an objective or an optimiser).
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    /// The name in the config (`beta`, `momentum`, …).
    pub name: &'static str,
    /// Used when the config omits the parameter; `None` makes it required.
    pub default: Option<f64>,
    /// The values allowed.
    pub domain: Domain,
}
