//! Order statistics over seeds: the median and the p10–p90 interval the
//! figures and tables report.

/// The `q`-quantile (0 ≤ q ≤ 1) of `xs` by linear interpolation between
/// order statistics (type 7, numpy's and R's default). NaN values are
/// ignored; NaN for an empty or all-NaN sample.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, q)
}

/// [`quantile`] of an already sorted, NaN-free sample.
pub fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let h = (v.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

/// Median and the 10th and 90th percentiles of a sample, with its size.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quantiles {
    pub p10: f64,
    pub median: f64,
    pub p90: f64,
    /// Number of non-NaN values the quantiles are computed from.
    pub n: usize,
}

impl Quantiles {
    /// The quantiles of `xs` (NaN values ignored).
    pub fn of(xs: &[f64]) -> Self {
        let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Quantiles {
                p10: f64::NAN,
                median: f64::NAN,
                p90: f64::NAN,
                n: 0,
            };
        }
        Quantiles {
            p10: quantile_sorted(&v, 0.1),
            median: quantile_sorted(&v, 0.5),
            p90: quantile_sorted(&v, 0.9),
            n: v.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type7_quantiles_match_numpy() {
        // numpy.quantile([3, 1, 4, 1, 5, 9, 2, 6], [0.1, 0.5, 0.9]) = [1.0, 3.5, 6.9]
        let q = Quantiles::of(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]);
        assert_eq!(q.p10, 1.0);
        assert_eq!(q.median, 3.5);
        assert!((q.p90 - 6.9).abs() < 1e-12, "{}", q.p90);
        assert_eq!(q.n, 8);
    }

    #[test]
    fn nan_ignored_and_empty_is_nan() {
        assert_eq!(quantile(&[f64::NAN, 2.0, 4.0], 0.5), 3.0);
        assert!(quantile(&[], 0.5).is_nan());
        assert_eq!(Quantiles::of(&[f64::NAN]).n, 0);
    }
}
