//! The scoreboard's statistics (issue 15): the one objective every loss is
//! tuned and ranked by ([`objective`]), the seed interval a D-score is
//! reported with ([`Interval`]), the rule that decides whether a loss
//! removes a property ([`presence`]), and the tuning pick that reads
//! held-in seeds only ([`pick`]), and the paired comparison of two
//! settings' objectives over the held-out runs ([`versus`]).

use crate::analysis::stats::{paired_diff, quantile_sorted};
use crate::engine::metrics::Summary;
use serde::Serialize;

/// The tuning and ranking objective of one run, in orders of magnitude
/// (log10) of probability; higher is better:
///
/// `J = log10 π̄*_T − max(0, log10 π̄*_0 − log10 π̄*_T) − log10(peak/final chosen) − log10(ū_T / ū_min)`
///
/// - `π̄*_T` is the final mean over prompts of π(optimal response): the goal;
/// - the second term charges a second time for every order the optimal
///   mass ends *below its reference* `π̄*_0` (a loss that harms is worse
///   than one that does nothing);
/// - `log10(peak/final chosen) = −log10(1 − degradation)`: the orders the
///   average chosen probability fell from its peak (Degradation);
/// - `log10(ū_T/ū_min) = log10(1 + dispersion/ū_min)`: the orders the
///   unseen mass rose from its low point (Dispersion).
///
/// Every term has weight 1 because every term is in the same unit, so no
/// weight is tuned. The rejected probability's fall (Drastic drop) is not
/// charged: the optimal policy itself puts no mass on rejected responses,
/// and its harm shows in the other terms. A run that diverged, lost the
/// optimal responses to underflow, or lacks an optimal response, scores
/// −∞ (a setting with such a held-in run is never picked).
pub fn objective(s: &Summary) -> f64 {
    let (Some(start), Some(end)) = (s.start_avg_optimal, s.final_avg_optimal) else {
        return f64::NEG_INFINITY;
    };
    if s.diverged || end <= 0.0 || start <= 0.0 || s.degradation >= 1.0 {
        return f64::NEG_INFINITY;
    }
    let (l0, lt) = (start.log10(), end.log10());
    let below = (l0 - lt).max(0.0);
    let degradation = -(1.0 - s.degradation).log10();
    let dispersion = if s.dispersion <= 0.0 {
        0.0
    } else if s.min_avg_unseen > 0.0 {
        (1.0 + s.dispersion / s.min_avg_unseen).log10()
    } else {
        f64::INFINITY
    };
    let j = lt - below - degradation - dispersion;
    if j.is_nan() {
        f64::NEG_INFINITY
    } else {
        j
    }
}

/// The seed interval of a statistic: median and the p10–p90 range over
/// runs (type-7 quantiles, [`crate::analysis::stats`]), with the mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// 10th percentile: the interval's lower end.
    pub lo: f64,
    /// The median.
    pub median: f64,
    /// 90th percentile: the interval's upper end.
    pub hi: f64,
    /// The mean (−∞ when any value is −∞).
    pub mean: f64,
    /// Runs (NaN values dropped).
    pub n: usize,
}

impl Interval {
    /// The interval of `xs` (NaN values ignored; NaN fields for none).
    pub fn of(xs: &[f64]) -> Self {
        let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return Interval {
                lo: f64::NAN,
                median: f64::NAN,
                hi: f64::NAN,
                mean: f64::NAN,
                n: 0,
            };
        }
        v.sort_by(f64::total_cmp);
        Interval {
            lo: quantile_inf(&v, 0.1),
            median: quantile_inf(&v, 0.5),
            hi: quantile_inf(&v, 0.9),
            mean: mean_or_neg_inf(&v),
            n: v.len(),
        }
    }
}

/// [`quantile_sorted`] that allows infinities: between an infinite order
/// statistic and any other value the interpolation is that infinity
/// (between −∞ and −∞ it is −∞, not NaN).
fn quantile_inf(v: &[f64], q: f64) -> f64 {
    let h = (v.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    if lo == hi || v[lo] == v[hi] || v[lo].is_infinite() {
        v[lo]
    } else if v[hi].is_infinite() {
        v[hi]
    } else {
        quantile_sorted(v, q)
    }
}

/// The mean of `v`, −∞ when any value is −∞ (an objective's failed run).
fn mean_or_neg_inf(v: &[f64]) -> f64 {
    if v.contains(&f64::NEG_INFINITY) {
        return f64::NEG_INFINITY;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// Whether a setting shows a property, by the seed intervals of its D-score
/// in each scenario against the property's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Presence {
    /// In every scenario the interval's upper end (p90) is below the threshold.
    Removed,
    /// In some scenario the interval's lower end (p10) is above the threshold.
    Shown,
    /// Neither: some scenario's interval straddles the threshold.
    Unclear,
}

/// The [`Presence`] of a property whose D-score has the interval
/// `per_scenario[s]` in scenario `s`, at `threshold`: removed when every
/// `hi < threshold`, shown when some `lo > threshold`, else unclear. An
/// interval with a NaN end (no runs) is never below the threshold.
pub fn presence(per_scenario: &[Interval], threshold: f64) -> Presence {
    if !per_scenario.is_empty() && per_scenario.iter().all(|i| i.hi < threshold) {
        Presence::Removed
    } else if per_scenario.iter().any(|i| i.lo > threshold) {
        Presence::Shown
    } else {
        Presence::Unclear
    }
}

/// One run of a tuning candidate: its seed and its [`objective`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The run's seed.
    pub seed: u64,
    /// Its objective.
    pub score: f64,
}

/// The tuning pick: the index of the candidate with the highest mean
/// objective over its runs whose seed is in `held_in` (every other run is
/// ignored), and that mean. Ties go to the earlier candidate (the grid puts
/// the default first); `None` when no candidate has a held-in run.
pub fn pick(candidates: &[Vec<Scored>], held_in: &[u64]) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (i, runs) in candidates.iter().enumerate() {
        let v: Vec<f64> = runs
            .iter()
            .filter(|r| held_in.contains(&r.seed))
            .map(|r| {
                if r.score.is_nan() {
                    f64::NEG_INFINITY
                } else {
                    r.score
                }
            })
            .collect();
        if v.is_empty() {
            continue;
        }
        let m = mean_or_neg_inf(&v);
        if best.is_none_or(|(_, b)| m > b) {
            best = Some((i, m));
        }
    }
    best
}

/// One held-out run's objective, keyed for pairing: runs of two settings
/// that share the scenario and the seed share the data and the
/// initialisation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunJ {
    /// `data.scenario`.
    pub scenario: String,
    /// The run's seed.
    pub seed: u64,
    /// Its [`objective`] (−∞ for a failed run).
    pub j: f64,
}

/// Which way a [`Versus`] comes out for its first setting `a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Direction {
    /// `a` is better: the interval lies above 0, or only `b` fails.
    Above,
    /// `a` is worse: the interval lies below 0, or only `a` fails.
    Below,
    /// The interval contains 0.
    Within,
    /// Both settings score −∞ on some run (or there are no pairs): the
    /// difference of their objectives is not defined.
    Undefined,
}

/// The paired comparison `a − b` of two settings' objectives over the
/// held-out runs they share (scenario and seed).
///
/// The rules, in order:
/// - a run whose objective is −∞ (diverged, or the optimal mass underflowed)
///   has no finite difference, and the mean objective of a setting with one
///   is −∞ (the pick's rule). So when both settings fail on some run the
///   comparison is [`Direction::Undefined`]; when only one does, it is
///   decided against it ([`Direction::Below`] when `a` fails), whatever
///   the runs both finish say;
/// - when both settings' runs do not depend on the seed (`seed_free`: a
///   family without random initialisation repeats one run per scenario),
///   there is no sampling to put an interval on: the differences are exact,
///   `lo`–`hi` is their range over the scenarios, and the verdict is by that
///   range (above 0 in every scenario, below 0 in every one, or neither);
/// - otherwise `lo`–`hi` is the 95 % percentile-bootstrap interval of the
///   mean difference over the pairs ([`paired_diff`]), and the verdict is
///   by it.
///
/// `mean`, `lo` and `hi` are over the pairs where both runs are finite
/// (NaN when there are none), so they are always finite numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Versus {
    /// Pairs (runs of `a` with a run of `b` on the same scenario and seed).
    pub n: usize,
    /// Pairs whose `a` run scores −∞.
    pub a_failed: usize,
    /// Pairs whose `b` run scores −∞.
    pub b_failed: usize,
    /// Pairs where both are finite (the ones `mean`, `lo`, `hi` read).
    pub finite: usize,
    /// Whether both settings' runs are seed-invariant (exact differences).
    pub seed_free: bool,
    /// Mean difference over the finite pairs.
    pub mean: f64,
    /// The bootstrap interval's lower end, or the smallest difference when `seed_free`.
    pub lo: f64,
    /// The upper end, or the largest difference when `seed_free`.
    pub hi: f64,
    /// The verdict.
    pub direction: Direction,
}

/// The [`Versus`] of `a` against `b`, paired on scenario and seed (in
/// `a`'s order; runs of either without a partner are ignored).
pub fn versus(a: &[RunJ], b: &[RunJ], seed_free: bool) -> Versus {
    let failed = |j: f64| j.is_nan() || j == f64::NEG_INFINITY;
    let pairs: Vec<(f64, f64)> = a
        .iter()
        .filter_map(|x| {
            b.iter()
                .find(|y| y.scenario == x.scenario && y.seed == x.seed)
                .map(|y| (x.j, y.j))
        })
        .collect();
    let a_failed = pairs.iter().filter(|p| failed(p.0)).count();
    let b_failed = pairs.iter().filter(|p| failed(p.1)).count();
    let (fa, fb): (Vec<f64>, Vec<f64>) = pairs
        .iter()
        .copied()
        .filter(|p| !failed(p.0) && !failed(p.1))
        .unzip();
    let finite = fa.len();
    let (mean, lo, hi) = if finite == 0 {
        (f64::NAN, f64::NAN, f64::NAN)
    } else if seed_free {
        let d: Vec<f64> = fa.iter().zip(&fb).map(|(x, y)| x - y).collect();
        (
            d.iter().sum::<f64>() / finite as f64,
            d.iter().copied().fold(f64::INFINITY, f64::min),
            d.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    } else {
        let d = paired_diff(&fa, &fb);
        (d.mean, d.lo, d.hi)
    };
    let direction = if pairs.is_empty() || (a_failed > 0 && b_failed > 0) {
        Direction::Undefined
    } else if a_failed > 0 {
        Direction::Below
    } else if b_failed > 0 || lo > 0.0 {
        Direction::Above
    } else if hi < 0.0 {
        Direction::Below
    } else {
        Direction::Within
    };
    Versus {
        n: pairs.len(),
        a_failed,
        b_failed,
        finite,
        seed_free,
        mean,
        lo,
        hi,
        direction,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(
        start: f64,
        end: f64,
        degradation: f64,
        dispersion: f64,
        min_unseen: f64,
    ) -> Summary {
        Summary {
            start_avg_optimal: Some(start),
            final_avg_optimal: Some(end),
            degradation,
            dispersion,
            min_avg_unseen: min_unseen,
            ..Summary::default()
        }
    }

    #[test]
    fn objective_is_the_stated_formula() {
        // 0.5 at the end, above its start 0.1; no degradation, no dispersion.
        let j = objective(&summary(0.1, 0.5, 0.0, 0.0, 0.05));
        assert!((j - 0.5f64.log10()).abs() < 1e-12, "{j}");
        // Ends at 0.01, one order below its start 0.1: −2 − 1.
        let j = objective(&summary(0.1, 0.01, 0.0, 0.0, 0.05));
        assert!((j + 3.0).abs() < 1e-12, "{j}");
        // Degradation 0.9 costs one order; unseen 0.01 → 0.1 costs one more.
        let j = objective(&summary(0.1, 1.0, 0.9, 0.09, 0.01));
        assert!((j + 2.0).abs() < 1e-12, "{j}");
    }

    #[test]
    fn objective_ranks_hand_built_runs() {
        // High optimal mass, no pathology > the same with dispersion >
        // with degradation too > mass below the reference > diverged.
        let clean = summary(0.12, 0.6, 0.0, 0.0, 0.05);
        let dispersed = summary(0.12, 0.6, 0.0, 0.02, 0.05);
        let degraded = summary(0.12, 0.6, 0.3, 0.02, 0.05);
        let harmed = summary(0.12, 0.06, 0.0, 0.0, 0.05);
        let diverged = Summary {
            diverged: true,
            ..clean.clone()
        };
        let ranked = [&clean, &dispersed, &degraded, &harmed, &diverged].map(objective);
        assert!(ranked.windows(2).all(|w| w[0] > w[1]), "{ranked:?}");
        assert_eq!(ranked[4], f64::NEG_INFINITY);
        // A loss that does nothing (0.12 → 0.12) beats one that halves it.
        let idle = objective(&summary(0.12, 0.12, 0.0, 0.0, 0.05));
        assert!(idle > ranked[3]);
        // Underflowed optimal mass and missing optimal responses: −∞.
        assert_eq!(
            objective(&summary(0.12, 0.0, 1.0, 0.0, 0.05)),
            f64::NEG_INFINITY
        );
        assert_eq!(objective(&Summary::default()), f64::NEG_INFINITY);
    }

    fn iv(lo: f64, hi: f64) -> Interval {
        Interval {
            lo,
            median: 0.5 * (lo + hi),
            hi,
            mean: 0.5 * (lo + hi),
            n: 8,
        }
    }

    #[test]
    fn presence_at_its_boundaries() {
        let t = 0.05;
        // Every upper end strictly below: removed.
        assert_eq!(
            presence(&[iv(0.0, 0.049), iv(0.0, 0.01)], t),
            Presence::Removed
        );
        // One upper end exactly at the threshold: not removed, not shown.
        assert_eq!(
            presence(&[iv(0.0, 0.049), iv(0.0, 0.05)], t),
            Presence::Unclear
        );
        // A lower end exactly at the threshold is not above it.
        assert_eq!(presence(&[iv(0.05, 0.2)], t), Presence::Unclear);
        // Strictly above in one scenario: shown, whatever the others say.
        assert_eq!(
            presence(&[iv(0.0, 0.01), iv(0.051, 0.2)], t),
            Presence::Shown
        );
        // No scenarios or NaN intervals: never removed.
        assert_eq!(presence(&[], t), Presence::Unclear);
        assert_eq!(presence(&[Interval::of(&[])], t), Presence::Unclear);
    }

    #[test]
    fn interval_is_p10_median_p90() {
        let i = Interval::of(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, f64::NAN]);
        assert_eq!((i.lo, i.median, i.n), (1.0, 3.5, 8));
        assert!((i.hi - 6.9).abs() < 1e-12 && (i.mean - 31.0 / 8.0).abs() < 1e-12);
        assert_eq!(
            Interval::of(&[0.0, f64::NEG_INFINITY]).mean,
            f64::NEG_INFINITY
        );
        // Infinite order statistics: no NaN from −∞ − (−∞).
        let all = Interval::of(&[f64::NEG_INFINITY; 8]);
        assert_eq!(
            (all.lo, all.median, all.hi),
            (f64::NEG_INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY)
        );
        let mixed = Interval::of(&[f64::NEG_INFINITY, -3.0, -2.0, -1.0]);
        assert_eq!(mixed.lo, f64::NEG_INFINITY);
        assert_eq!(mixed.median, -2.5);
    }

    #[test]
    fn pick_reads_held_in_seeds_only() {
        let s = |seed, score| Scored { seed, score };
        // Candidate 0 wins on seeds 0-1, candidate 1 on seeds 16-17, and
        // candidate 1 has the higher mean over all four.
        let a = vec![s(0, 1.0), s(1, 1.0), s(16, 0.0), s(17, 0.0)];
        let b = vec![s(0, 0.5), s(1, 0.5), s(16, 5.0), s(17, 5.0)];
        let c = [a, b];
        assert_eq!(pick(&c, &[0, 1]), Some((0, 1.0)));
        assert_eq!(pick(&c, &[16, 17]), Some((1, 5.0)));
        // Ties keep the earlier candidate; a −∞ or NaN run sinks a candidate.
        let tie = [vec![s(0, 1.0)], vec![s(0, 1.0)]];
        assert_eq!(pick(&tie, &[0]), Some((0, 1.0)));
        let sunk = [vec![s(0, 2.0), s(1, f64::NAN)], vec![s(0, 0.0), s(1, 0.0)]];
        assert_eq!(pick(&sunk, &[0, 1]), Some((1, 0.0)));
        assert_eq!(pick(&sunk, &[9]), None);
    }

    fn runs(js: &[f64]) -> Vec<RunJ> {
        // Two scenarios × js.len()/2 seeds, scenario-major.
        let half = js.len() / 2;
        js.iter()
            .enumerate()
            .map(|(i, &j)| RunJ {
                scenario: if i < half { "a".into() } else { "b".into() },
                seed: (i % half) as u64,
                j,
            })
            .collect()
    }

    #[test]
    fn versus_is_paired_not_a_difference_of_means() {
        // b is 1 below a's mean, but the pairs swing ±3 around that: a
        // difference of means says "worse", the paired interval contains 0.
        let b: Vec<f64> = (0..16).map(|i| -(i as f64) * 0.1).collect();
        let a: Vec<f64> = b
            .iter()
            .enumerate()
            .map(|(i, x)| x - 1.0 + if i % 2 == 0 { 3.0 } else { -3.0 } * (1.0 + (i % 3) as f64))
            .collect();
        let v = versus(&runs(&a), &runs(&b), false);
        assert!(v.mean < 0.0, "{v:?}");
        assert_eq!(v.direction, Direction::Within, "{v:?}");
        assert!(v.lo < 0.0 && v.hi > 0.0);
        // The same mean shift with little spread: below 0.
        let a2: Vec<f64> = b
            .iter()
            .enumerate()
            .map(|(i, x)| x - 1.0 + 0.01 * (i % 3) as f64)
            .collect();
        let v = versus(&runs(&a2), &runs(&b), false);
        assert_eq!(v.direction, Direction::Below, "{v:?}");
        assert!(v.hi < 0.0 && v.lo > -1.1);
        // Pairing is by scenario and seed, not by position.
        let mut rb = runs(&b);
        rb.reverse();
        assert_eq!(versus(&runs(&a2), &rb, false), v);
        // The finite case is stats::paired_diff's interval, bit for bit.
        let d = paired_diff(&a2, &b);
        assert_eq!(
            (v.mean, v.lo, v.hi, v.n, v.finite),
            (d.mean, d.lo, d.hi, 16, 16)
        );
    }

    #[test]
    fn versus_decides_one_sided_failures_and_refuses_two_sided_ones() {
        let inf = f64::NEG_INFINITY;
        let good = vec![-1.0; 8];
        // a fails on 5 of 8 runs, b on none: decided against a, no NaN.
        let bad = vec![inf, inf, -0.5, inf, inf, -0.5, inf, -0.5];
        let v = versus(&runs(&bad), &runs(&good), false);
        assert_eq!(v.direction, Direction::Below);
        assert_eq!((v.a_failed, v.b_failed, v.finite, v.n), (5, 0, 3, 8));
        // On the runs both finish a is better, and says so.
        assert!((v.mean - 0.5).abs() < 1e-12 && v.lo.is_finite() && v.hi.is_finite());
        // The other way round: decided for a.
        let w = versus(&runs(&good), &runs(&bad), false);
        assert_eq!(w.direction, Direction::Above);
        assert_eq!((w.a_failed, w.b_failed), (0, 5));
        // Every run of a fails: still decided, and the interval is NaN, not ±∞.
        let v = versus(&runs(&[inf; 8]), &runs(&good), false);
        assert_eq!((v.direction, v.finite), (Direction::Below, 0));
        assert!(v.mean.is_nan() && v.lo.is_nan());
        // Both fail somewhere: undefined.
        let other = vec![-1.0, inf, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0];
        let u = versus(&runs(&bad), &runs(&other), false);
        assert_eq!(u.direction, Direction::Undefined);
        assert_eq!((u.a_failed, u.b_failed), (5, 1));
    }

    #[test]
    fn versus_of_seed_free_runs_is_exact_per_scenario() {
        // Scenario a: +0.2 on every seed; scenario b: −0.1 on every seed.
        let b = vec![-1.0; 8];
        let a = vec![-0.8, -0.8, -0.8, -0.8, -1.1, -1.1, -1.1, -1.1];
        let v = versus(&runs(&a), &runs(&b), true);
        assert_eq!(v.direction, Direction::Within);
        assert!((v.lo + 0.1).abs() < 1e-12 && (v.hi - 0.2).abs() < 1e-12);
        // The bootstrap over the 8 repeated values would call it "above"
        // only through the repeats; exactly, above only when every scenario is.
        let a = vec![-0.8, -0.8, -0.8, -0.8, -0.9, -0.9, -0.9, -0.9];
        assert_eq!(
            versus(&runs(&a), &runs(&b), true).direction,
            Direction::Above
        );
    }
}
