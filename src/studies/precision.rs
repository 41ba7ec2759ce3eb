//! The f32 versus f64 experiment on the paper's scenarios: does the sudden
//! late jump of the unseen mass in scenarios 2-4 come from the rejected
//! probability reaching the bottom of the f32 range? Its metrics are f64
//! ones; [`crate::studies::late_jump`] reads the same runs the way float32
//! plotting code would. The numeric mode itself is [`crate::maths::precision`].

use crate::engine::metrics::MetricsRow;
use crate::engine::train::{train, Keep, RunResult};
use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::maths::data::Dataset;
use crate::maths::precision::*;
use rayon::prelude::*;
use std::fmt::Write;

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
    /// The same run in the f32 storage emulation.
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

/// Runs `base` with `seed` in both precisions.
pub fn run_pair(base: &Config, seed: u64, epochs: i64) -> Result<PairedRun> {
    let run = |p| -> Result<(Dataset, RunResult)> {
        let spec = variant(base, seed, epochs, p).build()?;
        let result = train(&spec, Keep::ALL);
        Ok((spec.data, result))
    };
    let (a, b) = rayon::join(|| run(Precision::F64), || run(Precision::F32));
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

/// `1.2e-3`-style text for small differences, `0.0123` for larger ones.
fn num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() < 1e-3 {
        format!("{v:.1e}")
    } else {
        format!("{v:.4}")
    }
}

fn epoch_or_never(e: Option<usize>) -> String {
    e.map_or_else(|| "never".into(), |e| e.to_string())
}

/// "12" or "12-40" (the range over seeds) of some epochs, "never" if none.
fn epoch_range(es: &[Option<usize>]) -> String {
    let got: Vec<usize> = es.iter().flatten().copied().collect();
    let never = es.len() - got.len();
    let (Some(lo), Some(hi)) = (got.iter().min(), got.iter().max()) else {
        return "never".into();
    };
    let mut s = if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}–{hi}")
    };
    if never > 0 {
        write!(s, " (never in {never} of {})", es.len()).ok();
    }
    s
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

/// `+0.0135` / `−0.0120` for a signed change of `avg_unseen`.
fn signed(v: f64) -> String {
    if v < 0.0 {
        format!("−{:.4}", -v)
    } else {
        format!("+{v:.4}")
    }
}

/// "scenario 3, seed 2".
fn run_name(s: &PairStats) -> String {
    format!(
        "{}, seed {}",
        s.scenario.replace("scenario", "scenario "),
        s.seed
    )
}

/// The Markdown section for `REPORT.md`: setting, a table per scenario and
/// seed, and the verdict, every number from `stats`.
pub fn markdown(e: &Experiment, stats: &[PairStats]) -> String {
    let mut w = String::new();
    let seeds: Vec<String> = e.seeds.iter().map(u64::to_string).collect();
    writeln!(
        w,
        "## Float precision: is the late jump of the unseen mass a float32 artefact?\n"
    )
    .ok();
    writeln!(
        w,
        "![f32 vs f64](precision.png)\n\n\
         The paper's scenarios 2-4 show a sudden jump of the unseen mass late in training; the \
         suspicion is that it comes from the rejected probability reaching the bottom of the \
         float32 range (smallest normal {:.3e} = e^{:.1}, smallest subnormal {:.3e} = e^{:.1}; \
         below half of that a float32 probability is exactly 0). Each run of Figure 3 \
         (`experiments/fig3-scenario*.toml`: the MLP, DPO, Adam) is repeated for {} epochs \
         with seeds {} in f64 and with `precision = \"f32\"`, an emulation of float32 storage: \
         every value stored between operations (parameters, Adam's m and v, logits, the hidden \
         activations kept for the backward pass, log-probabilities, probabilities, the loss and \
         its gradients) is rounded to float32, while the arithmetic inside one operation stays \
         f64. A *sudden change* is a rise or a fall of `avg_unseen` by at least \
         {JUMP_THRESHOLD} within {JUMP_WINDOW} epochs, late in training (windows ending at epoch {LATE_FROM} or later). \
         Columns 3-5 give the first epoch at which the f64 run's average rejected probability \
         is below f32's smallest normal and smallest subnormal, and at which the f32 run \
         stores every rejected probability as exactly 0; Δ is f32 minus f64 at the same \
         epoch.\n",
        F32_MIN_NORMAL,
        ln_f32_min_normal(),
        F32_MIN_SUBNORMAL,
        ln_f32_min_subnormal(),
        e.epochs,
        seeds.join(", "),
    )
    .ok();
    writeln!(
        w,
        "| scenario | seed | avg π− < 1.2e-38 | avg π− < 1.4e-45 | all π− = 0 in f32 | max \\|Δ avg_unseen\\| (epoch) | max \\|Δ avg_chosen\\| | late rise of avg_unseen f64 / f32 (epoch) | late fall f64 / f32 (epoch) |"
    )
    .ok();
    writeln!(w, "|---|---|---|---|---|---|---|---|---|").ok();
    let pair = |a: (f64, usize), b: (f64, usize)| {
        if a.1 == b.1 {
            format!("{} / {} ({})", num(a.0), num(b.0), a.1)
        } else {
            format!("{} ({}) / {} ({})", num(a.0), a.1, num(b.0), b.1)
        }
    };
    for s in stats {
        writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} |",
            s.scenario.replace("scenario", ""),
            s.seed,
            epoch_or_never(s.cross_normal_avg),
            epoch_or_never(s.cross_subnormal_avg),
            epoch_or_never(s.f32_all_zero),
            num(s.max_diff_unseen.0),
            s.max_diff_unseen.1,
            num(s.max_diff_chosen.0),
            pair(s.rise_f64, s.rise_f32),
            pair(s.fall_f64, s.fall_f32),
        )
        .ok();
    }
    writeln!(w).ok();

    let late = ["scenario2", "scenario3", "scenario4"];
    let v = verdict(stats, &late);
    let of: Vec<&PairStats> = stats
        .iter()
        .filter(|s| late.contains(&s.scenario.as_str()))
        .collect();
    let Some(worst) = of
        .iter()
        .max_by(|a, b| a.max_diff_unseen.0.total_cmp(&b.max_diff_unseen.0))
    else {
        writeln!(w, "(No run of scenarios 2-4.)").ok();
        return w;
    };
    let crossings: Vec<Option<usize>> = of.iter().map(|s| s.f32_all_zero).collect();
    let max_gap = worst.max_diff_unseen.0;
    write!(
        w,
        "**The trajectory: float32 storage does not change it.** In scenarios 2-4 ({} runs per \
         precision) every rejected probability of the f32 run is exactly 0 from epoch {} on, yet \
         the f32 and f64 runs stay together: the largest gap in `avg_unseen` is {} ({}, epoch \
         {}). ",
        v.runs,
        epoch_range(&crossings),
        num(worst.max_diff_unseen.0),
        run_name(worst),
        worst.max_diff_unseen.1,
    )
    .ok();
    let events: Vec<&&PairStats> = of.iter().filter(|s| s.event(false).is_some()).collect();
    if v.f32_only + v.both_elsewhere > 0 {
        write!(
            w,
            "But sudden late changes of the unseen mass appear in f32 without a matching one in \
             f64 in {} of {} runs ({} of them in both precisions at different epochs or in \
             opposite directions): precision matters there. ",
            v.f32_only + v.both_elsewhere,
            v.runs,
            v.both_elsewhere
        )
        .ok();
    } else if events.is_empty() {
        write!(
            w,
            "No sudden late change of the unseen mass appears in either precision, so there \
             is no jump, let alone an f32 one, to explain. "
        )
        .ok();
    } else {
        let list: Vec<String> = events
            .iter()
            .map(|s| {
                let (change, at) = s.event(false).expect("filtered");
                format!("{}: {} up to epoch {at}", run_name(s), signed(change))
            })
            .collect();
        let strict = events.iter().map(|s| s.final_strict).fold(0.0, f64::max);
        let share = events
            .iter()
            .map(|s| s.final_unseen_on_other_chosen)
            .fold(f64::INFINITY, f64::min);
        let n_others = events[0].n_responses.saturating_sub(2);
        let lags: Vec<(i64, &&PairStats)> = events
            .iter()
            .filter_map(|s| Some((s.event(false)?.1 as i64 - s.f32_all_zero? as i64, *s)))
            .collect();
        let list_lags: Vec<String> = lags.iter().map(|l| l.0.to_string()).collect();
        let mut timing = format!(
            ", and they come {} epochs after the f32 run stored every rejected probability as \
             0 (in the order listed)",
            list_lags.join(", ")
        );
        if let Some((m, s)) = lags.iter().min_by_key(|l| l.0.abs()) {
            if m.abs() < 100 {
                write!(
                    timing,
                    "; where that is close ({}, {m} epochs), the f64 run, whose range goes down \
                     to 4.9e-324, makes the same move at the same epoch, so the bottom of the \
                     f32 range is not what causes it",
                    run_name(s)
                )
                .ok();
            }
        }
        write!(
            w,
            "Sudden late changes of the unseen mass do occur, in {} of {} runs ({}), but in \
             f64 as in f32 ({} of them at the same epoch in both, {} in f64 only): they are \
             dynamics of DPO on the MLP{}. Once `π−` is negligible, `avg_unseen` is \
             `(1 − avg_chosen)/{}`, so each of them mirrors a sudden change of the chosen \
             probability; the mass involved moves between the chosen responses of different \
             prompts: at the last epoch of those runs {} of the unseen mass sits on other \
             prompts' chosen responses, and `avg_unseen_strict` (responses in no pair) is at \
             most {:.1e}. ",
            events.len(),
            v.runs,
            list.join("; "),
            v.both_same_epoch,
            v.f64_only,
            timing,
            n_others,
            if share >= 0.9999 {
                "more than 99.99%".to_string()
            } else {
                format!("{:.2}% or more", (10000.0 * share).floor() / 100.0)
            },
            strict,
        )
        .ok();
    }
    let s1: Vec<&PairStats> = stats.iter().filter(|s| s.scenario == "scenario1").collect();
    if let Some(worst) = s1
        .iter()
        .max_by(|a, b| a.max_diff_unseen.0.total_cmp(&b.max_diff_unseen.0))
    {
        let parted = match (worst.parted, worst.f32_all_zero) {
            (Some(p), Some(z)) => format!(
                "; the two runs part (gap above {PART_TOL:.0e}) at epoch {p}, {} the f32 run's \
                 rejected probabilities are all 0 (epoch {z}), and then drift apart slowly, \
                 without a jump",
                if p < z { "before" } else { "after" }
            ),
            (Some(p), None) => format!(
                "; the two runs part (gap above {PART_TOL:.0e}) at epoch {p} and then drift \
                 apart slowly, without a jump"
            ),
            _ => String::new(),
        };
        let largest = if worst.max_diff_unseen.0 > max_gap {
            "the largest gap of all"
        } else {
            "a largest gap"
        };
        write!(
            w,
            "Scenario 1, for reference, has {largest}: {} in `avg_unseen` and {} in \
             `avg_chosen` ({}){parted}. ",
            num(worst.max_diff_unseen.0),
            num(worst.max_diff_chosen.0),
            run_name(worst),
        )
        .ok();
    }
    write!(
        w,
        "Why the bottom of the f32 range does not matter to DPO: its gradient in the logits is \
         `∂ℓ/∂l+` at the chosen and `∂ℓ/∂l−` at the rejected response with \
         `∂ℓ/∂l+ = −∂ℓ/∂l−`, so the softmax terms `−(∂ℓ/∂l+ + ∂ℓ/∂l−)·π` cancel and no \
         probability enters the update; the log-probabilities, which do, stay finite in f32 \
         down to about −3.4e38. (This is the emulation's answer. Not simulated here: a float32 \
         implementation that takes the log of an underflowed softmax output would get \
         `log π− = −inf` and, from 0/0 in the backward pass of the log, NaN gradients: a crash \
         rather than a jump.) The limit of this comparison: the emulation computes its metrics, \
         `avg_unseen` included, in f64 from the log-probabilities, so it compares trajectories, \
         not what float32 code would have plotted from them; the next subsection computes that."
    )
    .ok();
    let diverged = stats
        .iter()
        .filter(|s| s.diverged.0 || s.diverged.1)
        .count();
    if diverged > 0 {
        write!(w, " {diverged} of the runs diverged.").ok();
    }
    writeln!(w).ok();
    w
}
