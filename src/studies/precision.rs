//! The f32 versus f64 experiment on the paper's scenarios: does the sudden
//! late jump of the unseen mass in scenarios 2-4 come from the rejected
//! probability reaching the bottom of the f32 range? The f32 runs compute in
//! float32 ([`F32_ARM`]); its metrics are f64 ones; [`crate::studies::late_jump`] reads the same runs the way float32
//! plotting code would. The numeric mode itself is [`crate::maths::precision`].
//! The text is `crate::present::precision`'s.

use crate::engine::metrics::MetricsRow;
use crate::engine::train::{train, Keep, RunResult};
use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::maths::data::Dataset;
use crate::maths::precision::*;
use rayon::prelude::*;

/// One run in both precisions (same config otherwise).
#[derive(Debug, Clone)]
pub struct PairedRun {
    /// The config's `data.scenario` (or "custom").
    pub scenario: String,
    /// The run's seed.
    pub seed: u64,
    /// The run's data set (its pairs say which probabilities are rejected ones).
    pub data: Dataset,
    /// The run in f64.
    pub f64: RunResult,
    /// The same run computed in float32 ([`F32_ARM`]).
    pub f32: RunResult,
}

/// The first epoch at which the curve `f` is at or below `level` (the
/// metrics must hold every epoch for an exact answer).
pub fn first_epoch_below(
    rows: &[MetricsRow],
    level: f64,
    f: impl Fn(&MetricsRow) -> f64,
) -> Option<usize> {
    rows.iter().find(|r| f(r) <= level).map(|r| r.epoch)
}

/// The largest rise of the curve `f` over `window` epochs, among windows
/// that end at or after epoch `from`: `(rise, end epoch)`. A sudden jump
/// is a large rise over a short window; `rise` is negative when the curve
/// only falls there (pass `-f` for the largest fall). `None` if no such
/// window exists.
pub fn max_rise(
    rows: &[MetricsRow],
    window: usize,
    from: usize,
    f: impl Fn(&MetricsRow) -> f64,
) -> Option<(f64, usize)> {
    let mut best: Option<(f64, usize)> = None;
    for (i, r) in rows.iter().enumerate() {
        if r.epoch < from || r.epoch < window {
            continue;
        }
        // Rows are per epoch, in order; find the row `window` epochs back.
        let Some(back) = rows[..i].iter().rev().find(|b| b.epoch + window <= r.epoch) else {
            continue;
        };
        let rise = f(r) - f(back);
        if rise.is_finite() && best.is_none_or(|(b, _)| rise > b) {
            best = Some((rise, r.epoch));
        }
    }
    best
}

/// `max_e |f(f32 run) − f(f64 run)|` over the epochs both runs recorded, and
/// the first epoch where it is reached.
pub fn max_abs_diff(
    a: &[MetricsRow],
    b: &[MetricsRow],
    f: impl Fn(&MetricsRow) -> f64,
) -> Option<(f64, usize)> {
    let mut best: Option<(f64, usize)> = None;
    for (ra, rb) in a.iter().zip(b) {
        debug_assert_eq!(ra.epoch, rb.epoch);
        let d = (f(ra) - f(rb)).abs();
        if d.is_finite() && best.is_none_or(|(m, _)| d > m) {
            best = Some((d, ra.epoch));
        }
    }
    best
}

/// The first epoch from which `|f(a) − f(b)|` exceeds `tol` (the two runs
/// part ways), if they ever do.
pub fn first_divergence(
    a: &[MetricsRow],
    b: &[MetricsRow],
    tol: f64,
    f: impl Fn(&MetricsRow) -> f64,
) -> Option<usize> {
    a.iter()
        .zip(b)
        .find(|(ra, rb)| (f(ra) - f(rb)).abs() > tol)
        .map(|(ra, _)| ra.epoch)
}

/// The first epoch at which the run's snapshot holds a rejected
/// probability (as stored in f32: `exp` of the log-probability, rounded) of
/// exactly 0: in some pair, or with `all`, in every pair.
pub fn first_zero_rejected(r: &RunResult, data: &Dataset, all: bool) -> Option<usize> {
    let y = r.n_responses;
    r.snapshots.iter().find_map(|(e, logp)| {
        let mut zero = data
            .pairs
            .iter()
            .map(|p| to_f32(logp[p.prompt * y + p.rejected].exp()) == 0.0);
        let hit = if all {
            zero.all(|z| z)
        } else {
            zero.any(|z| z)
        };
        hit.then_some(*e)
    })
}

/// At the run's last snapshot: the mean over pairs of the share of the
/// unseen mass (responses outside the pair) on responses that are chosen in
/// some other pair.
pub fn unseen_on_other_chosen(r: &RunResult, data: &Dataset) -> f64 {
    let Some((_, logp)) = r.snapshots.last() else {
        return f64::NAN;
    };
    let y = r.n_responses;
    let chosen: Vec<usize> = data.pairs.iter().map(|p| p.chosen).collect();
    let shares: Vec<f64> = data
        .pairs
        .iter()
        .map(|p| {
            let row = &logp[p.prompt * y..(p.prompt + 1) * y];
            let outside = |a: &usize| *a != p.chosen && *a != p.rejected;
            let unseen: f64 = (0..y).filter(outside).map(|a| row[a].exp()).sum();
            let mut others: Vec<usize> = chosen.iter().copied().filter(outside).collect();
            others.sort_unstable();
            others.dedup();
            others.iter().map(|&a| row[a].exp()).sum::<f64>() / unseen
        })
        .collect();
    shares.iter().sum::<f64>() / shares.len() as f64
}

/// What the experiment measured for one paired run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PairStats {
    /// The config's `data.scenario`.
    pub scenario: String,
    /// The run's seed.
    pub seed: u64,
    /// Last epoch.
    pub epochs: usize,
    /// Responses per prompt.
    pub n_responses: usize,
    /// First epoch the f64 run's average rejected probability (the log of
    /// the mean over the pairs) is at or below the smallest f32 normal.
    pub cross_normal_avg: Option<usize>,
    /// Likewise for the smallest subnormal.
    pub cross_subnormal_avg: Option<usize>,
    /// First epoch the f64 run's largest rejected probability is below the
    /// smallest f32 subnormal: from then on every rejected probability is
    /// 0 in f32.
    pub cross_subnormal_max: Option<usize>,
    /// First epoch at which the f32 run stores a rejected probability of
    /// exactly 0 (some pair).
    pub f32_first_zero: Option<usize>,
    /// First epoch at which it stores every rejected probability as 0.
    pub f32_all_zero: Option<usize>,
    /// `max |avg_unseen_f32 − avg_unseen_f64|` and its epoch.
    pub max_diff_unseen: (f64, usize),
    /// Likewise for the average chosen probability.
    pub max_diff_chosen: (f64, usize),
    /// The first epoch at which `|avg_unseen_f32 − avg_unseen_f64|`
    /// exceeds [`PART_TOL`] (the runs part ways), if ever.
    pub parted: Option<usize>,
    /// At the last epoch of the f64 run, the share of the unseen mass
    /// (outside each prompt's own pair) that sits on responses chosen in
    /// other pairs, averaged over the pairs.
    pub final_unseen_on_other_chosen: f64,
    /// `avg_unseen_strict` (responses in no pair) at the f64 run's last epoch.
    pub final_strict: f64,
    /// Largest rise of `avg_unseen` over [`JUMP_WINDOW`] epochs in the late
    /// part of training (windows ending at or after epoch [`LATE_FROM`]):
    /// (rise, end epoch), f64 and f32.
    pub rise_f64: (f64, usize),
    /// The same for the f32 run.
    pub rise_f32: (f64, usize),
    /// Likewise the largest fall (as a positive number).
    pub fall_f64: (f64, usize),
    /// The same for the f32 run.
    pub fall_f32: (f64, usize),
    /// Whether either run diverged (non-finite state).
    pub diverged: (bool, bool),
}

/// Two runs "part ways" once their `avg_unseen` differ by more than this.
pub const PART_TOL: f64 = 1e-4;

/// The window of a sudden change (epochs).
pub const JUMP_WINDOW: usize = 20;
/// "Late in training": windows ending at or after this epoch, the first
/// quarter of the paper's 2000 epochs (the rejected probabilities take a few
/// hundred epochs to reach the bottom of the f32 range).
pub const LATE_FROM: usize = 500;
/// `avg_unseen` lives in about [0.05, 0.12] here; a rise or fall of this
/// much within [`JUMP_WINDOW`] epochs late in training is a sudden change.
pub const JUMP_THRESHOLD: f64 = 0.005;

impl PairStats {
    /// The run's sudden late change of `avg_unseen` in f64 (`f32 = false`)
    /// or f32: the larger of its largest rise and fall if that reaches
    /// [`JUMP_THRESHOLD`], as (signed change, end epoch).
    pub fn event(&self, f32: bool) -> Option<(f64, usize)> {
        let (rise, fall) = if f32 {
            (self.rise_f32, self.fall_f32)
        } else {
            (self.rise_f64, self.fall_f64)
        };
        let (change, at) = if rise.0 >= fall.0 {
            rise
        } else {
            (-fall.0, fall.1)
        };
        (change.abs() >= JUMP_THRESHOLD).then_some((change, at))
    }
}

/// Measures one paired run (all metrics rows must be kept, every epoch).
pub fn stats(p: &PairedRun) -> Result<PairStats> {
    let (a, b) = (&p.f64.metrics, &p.f32.metrics);
    if a.len() != b.len() || a.is_empty() {
        return Err(Error::config(
            "record_every",
            "the precision experiment needs both runs' metrics at every epoch",
        ));
    }
    let epochs = a.last().map_or(0, |r| r.epoch);
    let from = LATE_FROM;
    let unseen = |r: &MetricsRow| r.avg_unseen;
    let strict = |r: &MetricsRow| r.avg_unseen_strict.unwrap_or(f64::NAN);
    let chosen = |r: &MetricsRow| r.avg_chosen;
    let none = (f64::NAN, 0);
    Ok(PairStats {
        scenario: p.scenario.clone(),
        seed: p.seed,
        epochs,
        n_responses: p.f64.n_responses,
        cross_normal_avg: first_epoch_below(a, ln_f32_min_normal(), |r| r.logp_avg_rejected),
        cross_subnormal_avg: first_epoch_below(a, ln_f32_min_subnormal(), |r| r.logp_avg_rejected),
        cross_subnormal_max: first_epoch_below(a, ln_f32_min_subnormal(), |r| r.logp_max_rejected),
        f32_first_zero: first_zero_rejected(&p.f32, &p.data, false),
        f32_all_zero: first_zero_rejected(&p.f32, &p.data, true),
        max_diff_unseen: max_abs_diff(b, a, unseen).unwrap_or(none),
        max_diff_chosen: max_abs_diff(b, a, chosen).unwrap_or(none),
        parted: first_divergence(b, a, PART_TOL, unseen),
        final_unseen_on_other_chosen: unseen_on_other_chosen(&p.f64, &p.data),
        final_strict: a.last().map_or(f64::NAN, strict),
        rise_f64: max_rise(a, JUMP_WINDOW, from, unseen).unwrap_or(none),
        rise_f32: max_rise(b, JUMP_WINDOW, from, unseen).unwrap_or(none),
        fall_f64: max_rise(a, JUMP_WINDOW, from, |r| -r.avg_unseen).unwrap_or(none),
        fall_f32: max_rise(b, JUMP_WINDOW, from, |r| -r.avg_unseen).unwrap_or(none),
        diverged: (p.f64.summary.diverged, p.f32.summary.diverged),
    })
}

/// The settings of the precision experiment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Experiment {
    /// The runs, one per scenario (their `seed`, `epochs`, `record_every`
    /// and `precision` are overridden).
    pub bases: Vec<Config>,
    /// Seeds of every base config.
    pub seeds: Vec<u64>,
    /// Epochs of every run.
    pub epochs: i64,
}

/// `base` with `seed`, `epochs` and `precision` set and every epoch recorded.
pub fn variant(base: &Config, seed: u64, epochs: i64, precision: Precision) -> Config {
    let mut c = base.clone();
    c.seed = seed;
    c.epochs = epochs;
    c.record_every = Some(1);
    c.precision = Some(precision.name().into());
    c
}

/// The precision of the study's float32 runs: native float32 arithmetic,
/// as the paper's float32 code computed (the storage emulation, `f32`, keeps
/// f64 arithmetic inside each operation).
pub const F32_ARM: Precision = Precision::F32Native;

/// Runs `base` with `seed` in f64 and in [`F32_ARM`].
pub fn run_pair(base: &Config, seed: u64, epochs: i64) -> Result<PairedRun> {
    let run = |p| -> Result<(Dataset, RunResult)> {
        let spec = variant(base, seed, epochs, p).build()?;
        let result = train(&spec, Keep::ALL);
        Ok((spec.data, result))
    };
    let (a, b) = rayon::join(|| run(Precision::F64), || run(F32_ARM));
    let ((data, f64), (_, f32)) = (a?, b?);
    Ok(PairedRun {
        scenario: base
            .data
            .scenario
            .clone()
            .unwrap_or_else(|| "custom".into()),
        seed,
        data,
        f64,
        f32,
    })
}

/// Every (scenario, seed) pair of `e`, in both precisions, in parallel;
/// in the order of `e.bases`, then of `e.seeds`.
pub fn compare(e: &Experiment) -> Result<Vec<PairedRun>> {
    let jobs: Vec<(&Config, u64)> = e
        .bases
        .iter()
        .flat_map(|b| e.seeds.iter().map(move |&s| (b, s)))
        .collect();
    jobs.par_iter()
        .map(|&(b, s)| run_pair(b, s, e.epochs))
        .collect()
}

/// The verdict of the experiment, as counts over the paired runs of the
/// scenarios in `scenarios`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Runs compared.
    pub runs: usize,
    /// Sudden late changes of `avg_unseen` ([`PairStats::event`]) in both
    /// precisions at about the same epoch (within [`JUMP_WINDOW`] epochs) and
    /// in the same direction, only in f32, only in f64, or in both but at
    /// different epochs or in opposite directions.
    pub both_same_epoch: usize,
    /// Runs with a late event in f32 only.
    pub f32_only: usize,
    /// Runs with a late event in f64 only.
    pub f64_only: usize,
    /// Runs with events in both, at different epochs or in opposite directions.
    pub both_elsewhere: usize,
}

/// Counts the sudden late changes of `stats` whose scenario is in `scenarios`.
pub fn verdict(stats: &[PairStats], scenarios: &[&str]) -> Verdict {
    let mut v = Verdict::default();
    for s in stats
        .iter()
        .filter(|s| scenarios.contains(&s.scenario.as_str()))
    {
        v.runs += 1;
        match (s.event(false), s.event(true)) {
            (Some(a), Some(b)) if a.1.abs_diff(b.1) <= JUMP_WINDOW && a.0 * b.0 > 0.0 => {
                v.both_same_epoch += 1
            }
            (Some(_), Some(_)) => v.both_elsewhere += 1,
            (None, Some(_)) => v.f32_only += 1,
            (Some(_), None) => v.f64_only += 1,
            (None, None) => {}
        }
    }
    v
}

/// The scenarios whose late jump the experiment asks about (the paper shows
/// it in scenarios 2-4 of Figure 3).
pub const LATE_SCENARIOS: [&str; 3] = ["scenario2", "scenario3", "scenario4"];
/// The scenario without the late jump, reported for reference.
pub const REFERENCE_SCENARIO: &str = "scenario1";
/// A late change within this many epochs of the f32 run's last rejected
/// probability reaching 0 is close enough to suspect the f32 range.
pub const CLOSE_LAG: i64 = 100;
/// A share of the unseen mass on other prompts' chosen responses at least
/// this large is, for the text, all of it.
pub const ALL_ON_CHOSEN: f64 = 0.9999;

/// What the counts of a [`Verdict`] decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Some late change in f32 has no matching one in f64.
    PrecisionMatters,
    /// No late change in either precision.
    NoLateChange,
    /// Every late change of the f32 runs is matched in f64.
    SameInBoth,
}

impl Verdict {
    /// Runs with a late change in the f64 run (matched or not).
    pub fn f64_events(&self) -> usize {
        self.both_same_epoch + self.both_elsewhere + self.f64_only
    }

    /// The experiment's answer for these runs.
    pub fn outcome(&self) -> Outcome {
        if self.f32_only + self.both_elsewhere > 0 {
            Outcome::PrecisionMatters
        } else if self.f64_events() == 0 {
            Outcome::NoLateChange
        } else {
            Outcome::SameInBoth
        }
    }
}
