//! Log-space numerics shared by every module: stable log-softmax, log-sigmoid,
//! log-sum-exp. Nothing else in the crate exponentiates a logit directly.

/// `log σ(x) = -log(1 + e^{-x})`, exact for large |x| in both directions.
#[inline]
pub fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        -(-x).exp().ln_1p()
    } else {
        x - x.exp().ln_1p()
    }
}

/// `σ(x) = 1 / (1 + e^{-x})`, without overflow for any finite x.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `log Σ exp(xᵢ)`; `-inf` for an empty slice.
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    let s: f64 = xs.iter().map(|&x| (x - m).exp()).sum();
    m + s.ln()
}

/// `log((Σ exp(xᵢ)) / n)`: the log of a mean of probabilities given as logs.
pub fn log_mean_exp(xs: &[f64]) -> f64 {
    log_sum_exp(xs) - (xs.len() as f64).ln()
}

/// Writes `log softmax(logits)` into `out`, and returns the log-partition.
pub fn log_softmax_into(logits: &[f64], out: &mut [f64]) -> f64 {
    debug_assert_eq!(logits.len(), out.len());
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for &z in logits {
        s += (z - m).exp();
    }
    let lse = m + s.ln();
    for (o, &z) in out.iter_mut().zip(logits) {
        *o = z - lse;
    }
    lse
}

/// `log(1 - e^x)` for `x ≤ 0`, accurate near both ends (Mächler 2012).
#[inline]
pub fn log1m_exp(x: f64) -> f64 {
    if x > -std::f64::consts::LN_2 {
        (-x.exp_m1()).ln()
    } else {
        (-x.exp()).ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sigmoid_is_stable_at_extremes() {
        assert_eq!(log_sigmoid(1000.0), 0.0);
        assert!((log_sigmoid(-1000.0) + 1000.0).abs() < 1e-12);
        assert!((log_sigmoid(0.0) + std::f64::consts::LN_2).abs() < 1e-15);
    }

    #[test]
    fn log_softmax_normalises() {
        let z = [1000.0, 999.0, -5.0];
        let mut o = [0.0; 3];
        log_softmax_into(&z, &mut o);
        let s: f64 = o.iter().map(|l| l.exp()).sum();
        assert!((s - 1.0).abs() < 1e-15);
    }

    #[test]
    fn log1m_exp_matches_naive_in_the_middle() {
        for &x in &[-1e-10, -0.1, -0.7, -3.0, -40.0] {
            let naive = (1.0 - f64::exp(x)).ln();
            assert!((log1m_exp(x) - naive).abs() <= 1e-6 * naive.abs().max(1.0));
        }
    }
}
