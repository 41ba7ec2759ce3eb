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
    /// 10th percentile (the lower edge of the figures' shaded band).
    pub p10: f64,
    /// The median (the figures' solid curve).
    pub median: f64,
    /// 90th percentile (the upper edge of the band).
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

/// A paired comparison over seeds: `a[i] − b[i]` for runs that share seed `i`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedDiff {
    /// Number of pairs.
    pub n: usize,
    /// Mean of the differences (the effect size, in the metric's units).
    pub mean: f64,
    /// 95 % percentile-bootstrap interval of the mean difference.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
    /// Pairs with `a > b`.
    pub positive: usize,
}

/// Bootstrap resamples of [`paired_diff`]: enough for a stable 2.5 % tail.
pub const BOOTSTRAP_RESAMPLES: usize = 4000;

impl PairedDiff {
    /// Whether the interval lies above 0 (`a` larger) or below it (`b` larger);
    /// `None` when it contains 0.
    pub fn sign(&self) -> Option<std::cmp::Ordering> {
        if self.lo > 0.0 {
            Some(std::cmp::Ordering::Greater)
        } else if self.hi < 0.0 {
            Some(std::cmp::Ordering::Less)
        } else {
            None
        }
    }
}

/// The paired difference `a − b` with a 95 % percentile-bootstrap interval
/// of its mean ([`BOOTSTRAP_RESAMPLES`] resamples from a fixed ChaCha8
/// stream, so the interval is reproducible). Pairs with a NaN are dropped.
pub fn paired_diff(a: &[f64], b: &[f64]) -> PairedDiff {
    use rand::{Rng, SeedableRng};
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| x - y)
        .filter(|v| !v.is_nan())
        .collect();
    let n = d.len();
    if n == 0 {
        return PairedDiff {
            n,
            mean: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
            positive: 0,
        };
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
    let mut means: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| (0..n).map(|_| d[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    PairedDiff {
        n,
        mean,
        lo: quantile_sorted(&means, 0.025),
        hi: quantile_sorted(&means, 0.975),
        positive: d.iter().filter(|&&v| v > 0.0).count(),
    }
}

/// The least-squares slope of `ys` on `xs`; `None` for fewer than two
/// points or when every `x` is the same.
pub fn ls_slope(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    (xs.len() >= 2 && sxx > 0.0).then(|| sxy / sxx)
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
    fn paired_diff_interval_brackets_the_mean_and_detects_a_shift() {
        // Differences 1.0 ± 0.1: every resampled mean lies in [0.9, 1.1].
        let a: Vec<f64> = (0..16)
            .map(|i| 2.0 + if i % 2 == 0 { 0.1 } else { -0.1 })
            .collect();
        let b = vec![1.0; 16];
        let d = paired_diff(&a, &b);
        assert_eq!((d.n, d.positive), (16, 16));
        assert!((d.mean - 1.0).abs() < 1e-12);
        assert!(d.lo >= 0.9 && d.hi <= 1.1 && d.lo < 1.0 && d.hi > 1.0);
        assert_eq!(d.sign(), Some(std::cmp::Ordering::Greater));
        // Symmetric differences ±1 around 0: the interval contains 0.
        let c: Vec<f64> = (0..16)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let z = paired_diff(&c, &[0.0; 16]);
        assert_eq!(z.sign(), None);
        assert_eq!(z.positive, 8);
    }

    #[test]
    fn nan_ignored_and_empty_is_nan() {
        assert_eq!(quantile(&[f64::NAN, 2.0, 4.0], 0.5), 3.0);
        assert!(quantile(&[], 0.5).is_nan());
        assert_eq!(Quantiles::of(&[f64::NAN]).n, 0);
    }
}
