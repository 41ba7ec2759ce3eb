//! Loss-test helpers shared by `loss_zoo.rs` and `loss_zoo_trl.rs`: build
//! a loss through the config path, a triple, and a value-and-partials check.

use dpo_lab::maths::loss::{self, LogProbs, LossEval, PairLoss};
use std::collections::BTreeMap;

/// `params` as the config layer's map.
pub fn given(params: &[(&str, f64)]) -> BTreeMap<String, f64> {
    params.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

/// Builds loss `name` through the config path (`resolve_params`).
pub fn build(name: &str, params: &[(&str, f64)]) -> Box<dyn PairLoss> {
    let spec = loss::spec(name).unwrap();
    (spec.build)(&loss::resolve_params(spec, &given(params)).unwrap())
}

/// The triple `(l+, l-, l0+, l0-)`.
pub fn at(l_plus: f64, l_minus: f64, l0_plus: f64, l0_minus: f64) -> LogProbs {
    LogProbs {
        l_plus,
        l_minus,
        l0_plus,
        l0_minus,
    }
}

/// `a` and `b` agree to `tol`, relative beyond 1.
pub fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// `ev` is `(value, d_plus, d_minus)` to 1e-13.
#[track_caller]
pub fn assert_eval(what: &str, ev: LossEval, value: f64, d_plus: f64, d_minus: f64) {
    let ok = close(ev.value, value, 1e-13)
        && close(ev.d_plus, d_plus, 1e-13)
        && close(ev.d_minus, d_minus, 1e-13);
    assert!(
        ok,
        "{what}: got {ev:?}, expected value {value}, d_plus {d_plus}, d_minus {d_minus}"
    );
}
