//! Evidence for a finding: what a sentence of the README or the report may
//! claim about a set of runs, and how sure it may be.
//!
//! Three kinds of evidence, each with its sample size:
//! - [`Count`]: in how many of `n` runs a property holds (for "every run",
//!   "never", "no run");
//! - [`Comparison`]: the difference of the means of two groups of runs with a
//!   t interval and a t test (paired when the runs share seeds, Welch's
//!   otherwise, or one sample against a reference value);
//! - [`Correlation`]: Spearman's rank correlation with its t-approximation test.
//!
//! Every verdict is decided here, by the thresholds below and nothing else:
//! - a comparison or correlation is [`Outcome::Above`] (or `Below`) when its
//!   two-sided p-value is below [`ALPHA`], i.e. when its [`CONFIDENCE`]
//!   interval excludes zero, and [`Outcome::WithinNoise`] otherwise;
//! - a claimed direction [`Holds`](Verdict::Holds) when the outcome is that
//!   direction, [`Fails`](Verdict::Fails) when it is the opposite one, and is
//!   [`WithinNoise`](Verdict::WithinNoise) when the data cannot tell; a claim
//!   of no difference is `WithinNoise` at best (an interval that contains zero
//!   does not prove equality) and fails when the outcome has a direction;
//! - a count claim ("in every run") holds when `k = n`, fails when `k = 0` and
//!   is [`Mixed`](Verdict::Mixed) in between.

/// Two-sided confidence level of every interval.
pub const CONFIDENCE: f64 = 0.95;
/// Significance level of every test: `1 − CONFIDENCE`.
pub const ALPHA: f64 = 1.0 - CONFIDENCE;

/// What the data say about a difference or an association.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Significantly positive.
    Above,
    /// Significantly negative.
    Below,
    /// The interval contains zero (or the test is undefined).
    WithinNoise,
}

/// What a sentence claims about a difference or an association.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// The first group's mean is larger (or the correlation positive).
    Above,
    /// The first group's mean is smaller (or the correlation negative).
    Below,
    /// No difference (or no association).
    NoDifference,
}

/// The verdict on one claim in one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The evidence supports the claim.
    Holds,
    /// The evidence contradicts it.
    Fails,
    /// A count claim that holds in some runs and not in others.
    Mixed,
    /// The data cannot tell.
    WithinNoise,
}

/// The verdict on `claimed` given the `outcome` (rules in the module doc).
pub fn decide(outcome: Outcome, claimed: Claimed) -> Verdict {
    match (claimed, outcome) {
        (Claimed::Above, Outcome::Above) | (Claimed::Below, Outcome::Below) => Verdict::Holds,
        (Claimed::Above, Outcome::Below) | (Claimed::Below, Outcome::Above) => Verdict::Fails,
        (Claimed::NoDifference, Outcome::Above | Outcome::Below) => Verdict::Fails,
        (_, Outcome::WithinNoise) => Verdict::WithinNoise,
    }
}

/// The outcome of a two-sided test with p-value `p` on an effect of sign `effect`.
fn outcome_of(p: f64, effect: f64) -> Outcome {
    if p < ALPHA && effect > 0.0 {
        Outcome::Above
    } else if p < ALPHA && effect < 0.0 {
        Outcome::Below
    } else {
        Outcome::WithinNoise
    }
}

/// In how many of `n` runs a property holds, with the range and mean of the
/// measured value it was decided on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Count {
    /// Runs in which the property holds.
    pub k: usize,
    /// Runs in all.
    pub n: usize,
    /// Mean of the measured value over the `n` runs.
    pub mean: f64,
    /// Smallest measured value.
    pub min: f64,
    /// Largest measured value.
    pub max: f64,
}

impl Count {
    /// Counts the `values` for which `holds` is true.
    pub fn of(values: &[f64], holds: impl Fn(f64) -> bool) -> Self {
        let n = values.len();
        Count {
            k: values.iter().filter(|&&v| holds(v)).count(),
            n,
            mean: values.iter().sum::<f64>() / n as f64,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// "Holds in every run": holds at `k = n`, fails at `k = 0`, mixed otherwise.
    pub fn verdict(&self) -> Verdict {
        if self.n == 0 {
            Verdict::WithinNoise
        } else if self.k == self.n {
            Verdict::Holds
        } else if self.k == 0 {
            Verdict::Fails
        } else {
            Verdict::Mixed
        }
    }
}

/// The t test behind a [`Comparison`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// Paired t test on per-seed differences (the runs share seeds).
    PairedT,
    /// Welch's unequal-variance t test (independent groups).
    WelchT,
    /// One-sample t test against a reference value.
    OneSampleT,
}

/// The difference of two groups' means with its interval and test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Which t test.
    pub test: Test,
    /// Size of the first group (pairs, for a paired test).
    pub n_a: usize,
    /// Size of the second group (equal to `n_a` when paired; 0 for one sample).
    pub n_b: usize,
    /// Mean of the first group.
    pub mean_a: f64,
    /// Mean of the second group (the reference value for one sample).
    pub mean_b: f64,
    /// The effect size: `mean_a − mean_b`.
    pub effect: f64,
    /// Lower end of the [`CONFIDENCE`] interval of the effect.
    pub lo: f64,
    /// Upper end of that interval.
    pub hi: f64,
    /// The t statistic (±∞ when the effect is nonzero with zero spread).
    pub t: f64,
    /// Degrees of freedom of the t distribution (Welch–Satterthwaite for Welch).
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Mean and unbiased sample variance (`n − 1` in the denominator).
fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, v)
}

/// t statistic, p-value and interval half-width of an `effect` with
/// standard error `se` on `df` degrees of freedom; a zero standard error
/// gives an exact answer (p = 1 for a zero effect, 0 otherwise).
fn t_test(effect: f64, se: f64, df: f64) -> (f64, f64, f64) {
    if se == 0.0 {
        return if effect == 0.0 {
            (0.0, 1.0, 0.0)
        } else {
            (effect.signum() * f64::INFINITY, 0.0, 0.0)
        };
    }
    let t = effect / se;
    (t, t_two_sided_p(t, df), t_critical(df) * se)
}

impl Comparison {
    /// Paired t test of `a − b`, pair by pair (`a[i]` and `b[i]` share a seed).
    /// Panics if the lengths differ.
    pub fn paired(a: &[f64], b: &[f64]) -> Self {
        assert_eq!(a.len(), b.len(), "a paired comparison needs pairs");
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        let n = d.len();
        let (effect, var) = mean_var(&d);
        let df = n as f64 - 1.0;
        let (t, p, half) = t_test(effect, (var / n as f64).sqrt(), df);
        Comparison {
            test: Test::PairedT,
            n_a: n,
            n_b: n,
            mean_a: a.iter().sum::<f64>() / n as f64,
            mean_b: b.iter().sum::<f64>() / n as f64,
            effect,
            lo: effect - half,
            hi: effect + half,
            t,
            df,
            p,
        }
    }

    /// Welch's t test of `mean(a) − mean(b)` for independent groups.
    pub fn welch(a: &[f64], b: &[f64]) -> Self {
        let (ma, va) = mean_var(a);
        let (mb, vb) = mean_var(b);
        let (sa, sb) = (va / a.len() as f64, vb / b.len() as f64);
        let effect = ma - mb;
        let df = if sa + sb == 0.0 {
            (a.len() + b.len()) as f64 - 2.0
        } else {
            (sa + sb).powi(2)
                / (sa * sa / (a.len() as f64 - 1.0) + sb * sb / (b.len() as f64 - 1.0))
        };
        let (t, p, half) = t_test(effect, (sa + sb).sqrt(), df);
        Comparison {
            test: Test::WelchT,
            n_a: a.len(),
            n_b: b.len(),
            mean_a: ma,
            mean_b: mb,
            effect,
            lo: effect - half,
            hi: effect + half,
            t,
            df,
            p,
        }
    }

    /// One-sample t test of `mean(xs) − reference`.
    pub fn one_sample(xs: &[f64], reference: f64) -> Self {
        let n = xs.len();
        let (m, var) = mean_var(xs);
        let effect = m - reference;
        let df = n as f64 - 1.0;
        let (t, p, half) = t_test(effect, (var / n as f64).sqrt(), df);
        Comparison {
            test: Test::OneSampleT,
            n_a: n,
            n_b: 0,
            mean_a: m,
            mean_b: reference,
            effect,
            lo: effect - half,
            hi: effect + half,
            t,
            df,
            p,
        }
    }

    /// Above, below or within noise of zero (see the module doc).
    pub fn outcome(&self) -> Outcome {
        outcome_of(self.p, self.effect)
    }

    /// The verdict on `claimed`.
    pub fn verdict(&self, claimed: Claimed) -> Verdict {
        decide(self.outcome(), claimed)
    }
}

/// Spearman's rank correlation with the t-approximation test
/// (`t = ρ √((n − 2)/(1 − ρ²))` on `n − 2` degrees of freedom, as
/// `scipy.stats.spearmanr`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correlation {
    /// Number of (x, y) pairs.
    pub n: usize,
    /// Spearman's ρ (NaN when either variable is constant).
    pub rho: f64,
    /// The t statistic.
    pub t: f64,
    /// Two-sided p-value (NaN when ρ is).
    pub p: f64,
}

/// Ranks of `v` from 0, ties given their average rank.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// Pearson's correlation of two equal-length samples (NaN if one is constant).
pub fn pearson(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let vx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let vy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

impl Correlation {
    /// Spearman's ρ of `xs` and `ys` and its test.
    pub fn spearman(xs: &[f64], ys: &[f64]) -> Self {
        let n = xs.len();
        let rho = pearson(&ranks(xs), &ranks(ys));
        let df = n as f64 - 2.0;
        let (t, p) = if rho.abs() >= 1.0 {
            (rho.signum() * f64::INFINITY, 0.0)
        } else {
            let t = rho * (df / (1.0 - rho * rho)).sqrt();
            (t, t_two_sided_p(t, df))
        };
        Correlation { n, rho, t, p }
    }

    /// Positive, negative or within noise (see the module doc).
    pub fn outcome(&self) -> Outcome {
        outcome_of(self.p, self.rho)
    }

    /// The verdict on `claimed`.
    pub fn verdict(&self, claimed: Claimed) -> Verdict {
        decide(self.outcome(), claimed)
    }
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; relative error ~1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for aa in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + aa * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function `I_x(a, b)`.
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The continued fraction converges fast on the side of the mean.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

/// `P(|T| ≥ |t|)` for Student's t with `df` (> 0, not necessarily whole)
/// degrees of freedom.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    inc_beta(df / 2.0, 0.5, df / (df + t * t))
}

/// `P(T ≤ t)` for Student's t with `df` degrees of freedom.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = t_two_sided_p(t, df) / 2.0;
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The two-sided critical value `t*` with `P(|T| ≥ t*) = ALPHA` on `df`
/// degrees of freedom, by bisection (to the last bits of the bracket).
pub fn t_critical(df: f64) -> f64 {
    if df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while t_two_sided_p(hi, df) > ALPHA {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if t_two_sided_p(mid, df) > ALPHA {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn t_distribution_matches_closed_forms_and_tables() {
        // df = 1 is the Cauchy distribution: P(T ≤ t) = 1/2 + atan(t)/π.
        for t in [-3.0, -0.5, 0.0, 0.7, 2.0, 40.0] {
            let exact = 0.5 + f64::atan(t) / std::f64::consts::PI;
            assert!(close(t_cdf(t, 1.0), exact, 1e-12), "df 1, t {t}");
        }
        // df = 2: P(T ≤ t) = 1/2 + t / (2 √(2 + t²)).
        for t in [-4.0_f64, -1.0, 0.3, 1.5, 9.0] {
            let exact = 0.5 + t / (2.0 * (2.0 + t * t).sqrt());
            assert!(close(t_cdf(t, 2.0), exact, 1e-12), "df 2, t {t}");
        }
        // Critical values: df 1 is tan(0.475 π) exactly; the others are
        // scipy.stats.t.ppf(0.975, df) (scipy 1.17.1).
        let tan = (0.475 * std::f64::consts::PI).tan();
        assert!(close(t_critical(1.0), tan, 1e-10));
        for (df, want) in [
            (2.0, 4.302652729749462),
            (7.0, 2.364624251592784),
            (15.0, 2.131449545559776),
            (63.0, 1.998340542520741),
            (10.5, 2.2138402929187886),
        ] {
            assert!(close(t_critical(df), want, 1e-9), "df {df}");
        }
    }

    #[test]
    fn welch_matches_scipy() {
        // scipy 1.17.1: r = scipy.stats.ttest_ind(a, b, equal_var=False);
        // r.statistic, r.pvalue, r.df, r.confidence_interval(0.95).
        let a = [0.31, 0.42, 0.25, 0.58, 0.47, 0.39];
        let b = [0.21, 0.18, 0.33, 0.12, 0.27, 0.19, 0.24, 0.30];
        let c = Comparison::welch(&a, &b);
        assert!(close(c.t, 3.2351402061917747, 1e-9), "{}", c.t);
        assert!(close(c.df, 7.57496528647724, 1e-9), "{}", c.df);
        assert!(close(c.p, 0.012879639761865578, 1e-8), "{}", c.p);
        assert!(close(c.lo, 0.04856436765486291, 1e-8), "{}", c.lo);
        assert!(close(c.hi, 0.29810229901180385, 1e-8), "{}", c.hi);
        assert!(close(c.effect, 0.17333333333333337, 1e-12));
        assert_eq!(c.outcome(), Outcome::Above);
    }

    #[test]
    fn paired_and_one_sample_match_scipy() {
        // scipy 1.17.1: scipy.stats.ttest_rel(a, b) with its
        // confidence_interval(0.95), and ttest_1samp(a, 0.4).
        let a = [0.035, 0.021, 0.044, 0.018, 0.029, 0.040, 0.025, 0.033];
        let b = [0.041, 0.030, 0.047, 0.025, 0.027, 0.052, 0.036, 0.035];
        let c = Comparison::paired(&a, &b);
        assert!(close(c.t, -3.5496478698597707, 1e-9), "{}", c.t);
        assert_eq!(c.df, 7.0);
        assert!(close(c.p, 0.00934815333719501, 1e-8), "{}", c.p);
        assert!(close(c.lo, -0.009996944494135749, 1e-8), "{}", c.lo);
        assert!(close(c.hi, -0.00200305550586425, 1e-8), "{}", c.hi);
        assert_eq!(c.outcome(), Outcome::Below);
        let o = Comparison::one_sample(&[0.31, 0.42, 0.25, 0.58, 0.47, 0.39], 0.4);
        assert!(close(o.t, 0.06984302957695827, 1e-9), "{}", o.t);
        assert!(close(o.p, 0.9470259094269228, 1e-8), "{}", o.p);
        assert_eq!(o.outcome(), Outcome::WithinNoise);
    }

    #[test]
    fn spearman_matches_scipy() {
        // scipy 1.17.1: scipy.stats.spearmanr(x, y) -> (0.6904761904761906, 0.057990318164572716)
        let x = [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99];
        let y = [0.02, 0.0, 0.05, 0.01, 0.3, 0.2, 0.04, 0.6];
        let c = Correlation::spearman(&x, &y);
        assert!(close(c.rho, 0.6904761904761906, 1e-12), "{}", c.rho);
        assert!(close(c.p, 0.057990318164572716, 1e-8), "{}", c.p);
        assert_eq!(c.outcome(), Outcome::WithinNoise);
        assert_eq!(ranks(&[2.0, 1.0, 2.0]), vec![1.5, 0.0, 1.5]);
    }

    #[test]
    fn zero_spread_is_exact() {
        let z = Comparison::paired(&[0.0; 5], &[0.0; 5]);
        assert_eq!(
            (z.effect, z.p, z.outcome()),
            (0.0, 1.0, Outcome::WithinNoise)
        );
        let s = Comparison::paired(&[1.0; 4], &[0.5; 4]);
        assert_eq!((s.p, s.lo, s.hi), (0.0, 0.5, 0.5));
        assert_eq!(s.outcome(), Outcome::Above);
        let w = Comparison::welch(&[0.0; 3], &[0.0; 3]);
        assert_eq!(w.outcome(), Outcome::WithinNoise);
    }

    #[test]
    fn verdict_thresholds() {
        use Claimed as C;
        use Outcome as O;
        assert_eq!(decide(O::Above, C::Above), Verdict::Holds);
        assert_eq!(decide(O::Below, C::Above), Verdict::Fails);
        assert_eq!(decide(O::WithinNoise, C::Below), Verdict::WithinNoise);
        assert_eq!(
            decide(O::WithinNoise, C::NoDifference),
            Verdict::WithinNoise
        );
        assert_eq!(decide(O::Below, C::NoDifference), Verdict::Fails);
        // The test's threshold is ALPHA, strictly.
        assert_eq!(outcome_of(ALPHA * 0.999, 1.0), Outcome::Above);
        assert_eq!(outcome_of(ALPHA, 1.0), Outcome::WithinNoise);
        assert_eq!(outcome_of(0.001, -0.2), Outcome::Below);
        assert_eq!(outcome_of(f64::NAN, 1.0), Outcome::WithinNoise);
        // Counts: every run, no run, some runs.
        let v = [0.0, 0.1, 0.2, 0.3];
        assert_eq!(Count::of(&v, |x| x >= 0.0).verdict(), Verdict::Holds);
        assert_eq!(Count::of(&v, |x| x > 1.0).verdict(), Verdict::Fails);
        let c = Count::of(&v, |x| x > 0.05);
        assert_eq!((c.k, c.n, c.verdict()), (3, 4, Verdict::Mixed));
        assert_eq!((c.min, c.max), (0.0, 0.3));
        assert!(close(c.mean, 0.15, 1e-15));
    }
}
