//! Beyond the paper (issue 5): which D-properties need parameters shared
//! across prompts or responses (policy families), how degradation moves with
//! the similarity of each pair's chosen and rejected response embeddings
//! (log-linear policy, CHES), and true on-policy data against the paper's
//! stand-in.
//!
//! Each study runs its sweep (`experiments/sweeps/{families,similarity,
//! on-policy}.toml`), computes every number its figure and section use, and
//! writes them as `facts.json`; [`crate::present::findings`] draws and
//! describes them.

use crate::analysis::runs::{correlation, RunsTable, Stat};
use crate::engine::onpolicy::ORACLE_REWARD;
use crate::engine::train::prepare;
use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::io::sweep::{run_for_report, Sweep};
use crate::maths::data::{Dataset, SCENARIOS};
use crate::maths::policy::Policy;
use crate::studies::facts::{sweep_base_file, write_facts, RunSetting};
use crate::studies::robustness::{DEGRADED, DISPERSED, DROPPED};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// The policy families of `families.toml` (its `policy` axis labels) in
/// order of increasing parameter sharing, with their names in figures.
pub const FAMILIES: [(&str, &str); 5] = [
    ("tabular", "tabular"),
    ("shared-bias", "shared bias"),
    ("loglinear-frozen", "log-linear (V frozen)"),
    ("loglinear", "log-linear (V trained)"),
    ("mlp", "MLP"),
];

/// A family "shows" a D-property when its mean over seeds exceeds this in
/// at least one scenario: (score, threshold, unit). The thresholds are the
/// robustness study's, so that both name the same properties.
pub const SHOWS: [(&str, f64, &str); 3] = [
    ("drop", DROPPED, "order of magnitude"),
    ("degradation", DEGRADED, ""),
    ("dispersion", DISPERSED, ""),
];

/// The labels of `on-policy.toml`'s `on_policy` axis, in display order.
pub const ON_POLICY_MODES: [(&str, &str); 4] = [
    ("fixed pairs", "fixed pairs (paper)"),
    ("every 100", "resampled every 100"),
    ("every 10", "every 10"),
    ("every epoch", "every epoch"),
];

/// Runs at or above this initial cosine count as "high similarity" when
/// likelihood displacement is counted.
pub const HIGH_COSINE: f64 = 0.9;

/// A correlation of degradation with the cosine beyond this (in absolute
/// value) is taken as a pattern worth explaining.
pub const CLEAR_CORRELATION: f64 = 0.3;

/// The name of a family in figures and sentences.
pub fn family_label(key: &str) -> &'static str {
    FAMILIES
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("other policy", |(_, l)| l)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn cell<T: std::str::FromStr>(t: &RunsTable, row: &[String], col: &str) -> Result<T> {
    let c = t.col(col)?;
    row[c]
        .parse()
        .map_err(|_| Error::config(col, format!("has an unreadable cell `{}`", row[c])))
}

/// Spearman's rank correlation (ties get their average rank).
pub fn spearman(xs: &[f64], ys: &[f64]) -> f64 {
    use crate::analysis::evidence::ranks;
    correlation(&ranks(xs), &ranks(ys))
}

/// The sweep's base run config.
fn base_config(sweep: &Sweep) -> Result<Config> {
    sweep
        .base
        .clone()
        .try_into()
        .map_err(|e| Error::config("base", format!("is not a valid run config: {e}")))
}

/// Runs the sweep `sweeps_dir/NAME.toml` into `out_dir/sweeps/NAME` (keeping
/// its journal when `resume`) and loads its `runs.csv`.
fn run_sweep(
    sweeps_dir: &Path,
    name: &str,
    out_dir: &Path,
    resume: bool,
) -> Result<(Sweep, RunsTable)> {
    let dir = out_dir.join("sweeps").join(name);
    let sweep = run_for_report(&sweeps_dir.join(format!("{name}.toml")), &dir, resume)?;
    Ok((sweep, RunsTable::load(&dir.join("runs.csv"))?))
}

// ---------------------------------------------------------------------------
// Policy families

/// One family on one scenario: statistics over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyRow {
    /// Its [`FAMILIES`] key.
    pub family: String,
    /// The scenario (`data.scenario`).
    pub scenario: String,
    /// Drop: orders of magnitude the average rejected probability fell.
    pub drop: Stat,
    /// Degradation: relative fall of the average chosen probability from its peak.
    pub degradation: Stat,
    /// Dispersion: rise of the average unseen probability from its minimum.
    pub dispersion: Stat,
    /// Peak of the average chosen probability.
    pub peak_avg_chosen: Stat,
    /// Final average chosen probability.
    pub final_avg_chosen: Stat,
}

/// One family's means of one D-score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyScore {
    /// Its [`FAMILIES`] key.
    pub family: String,
    /// The largest of its per-scenario means.
    pub largest: f64,
    /// The mean of its per-scenario means.
    pub mean: f64,
    /// Whether `largest` exceeds the score's threshold ([`SHOWS`]).
    pub shows: bool,
}

/// Which families show one D-score ([`SHOWS`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shows {
    /// The D-score (`drop`, `degradation` or `dispersion`).
    pub score: String,
    /// A family shows the score when some scenario's mean exceeds this.
    pub threshold: f64,
    /// The threshold's unit, empty for a plain number.
    pub unit: String,
    /// The families present in the sweep, in [`FAMILIES`] order.
    pub families: Vec<FamilyScore>,
}

impl Shows {
    /// Keys of the families that show the score.
    pub fn shown_by(&self) -> Vec<&str> {
        self.families
            .iter()
            .filter(|f| f.shows)
            .map(|f| f.family.as_str())
            .collect()
    }
}

/// The policy-family sweep (`families.toml`), measured.
#[derive(Debug, Clone, Serialize)]
pub struct FamiliesFacts {
    /// The config every family's runs start from (`fig2.toml`).
    pub base_file: String,
    /// Its setting (the families keep its loss, optimiser and epochs).
    pub setting: RunSetting,
    /// `policy.dim` of the log-linear families.
    pub loglinear_dim: Option<i64>,
    /// Seeds per family and scenario.
    pub n_seeds: usize,
    /// Runs in the sweep.
    pub n_runs: usize,
    /// In [`FAMILIES`] order, then scenario order.
    pub rows: Vec<FamilyRow>,
    /// One per [`SHOWS`] score.
    pub shows: Vec<Shows>,
    /// The runs themselves (`runs.csv`), for the figure.
    #[serde(skip)]
    pub runs: RunsTable,
}

impl FamiliesFacts {
    /// The [`Shows`] of `score`.
    pub fn shows_of(&self, score: &str) -> Option<&Shows> {
        self.shows.iter().find(|s| s.score == score)
    }
}

/// The facts of `families.toml`'s runs (`t`), started from `base_file`
/// with `setting`.
pub fn families_facts(
    t: &RunsTable,
    base_file: &str,
    setting: RunSetting,
    loglinear_dim: Option<i64>,
) -> Result<FamiliesFacts> {
    let seeds = t.summarise(&["data.scenario", "policy"], "drop")?;
    let mut rows = Vec::new();
    for (fam, _) in FAMILIES {
        let sub = t.filter("policy", fam)?;
        for sc in SCENARIOS {
            let r = sub.filter("data.scenario", sc)?;
            if r.rows.is_empty() {
                continue;
            }
            let one = |c: &str| -> Result<Stat> { Ok(r.summarise(&[], c)?[0].1) };
            rows.push(FamilyRow {
                family: fam.into(),
                scenario: sc.into(),
                drop: one("drop")?,
                degradation: one("degradation")?,
                dispersion: one("dispersion")?,
                peak_avg_chosen: one("peak_avg_chosen")?,
                final_avg_chosen: one("final_avg_chosen")?,
            });
        }
    }
    let mut shows = Vec::new();
    for (score, threshold, unit) in SHOWS {
        let mut families = Vec::new();
        for (fam, _) in FAMILIES {
            let sub = t.filter("policy", fam)?;
            if sub.rows.is_empty() {
                continue;
            }
            // Per-scenario means in the table's order, so the mean of means
            // sums them in the order the runs were written.
            let means: Vec<f64> = sub
                .summarise(&["data.scenario"], score)?
                .iter()
                .map(|g| g.1.mean)
                .collect();
            let largest = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            families.push(FamilyScore {
                family: fam.into(),
                largest,
                mean: mean(&means),
                shows: largest > threshold,
            });
        }
        shows.push(Shows {
            score: score.into(),
            threshold,
            unit: unit.into(),
            families,
        });
    }
    Ok(FamiliesFacts {
        base_file: base_file.into(),
        setting,
        loglinear_dim,
        n_seeds: seeds.first().map_or(0, |g| g.1.n),
        n_runs: t.rows.len(),
        rows,
        shows,
        runs: t.clone(),
    })
}

/// Runs `sweeps_dir/families.toml` into `out_dir/sweeps/families`, writes
/// `out_dir/families/facts.json` and returns the facts.
pub fn families(sweeps_dir: &Path, out_dir: &Path, resume: bool) -> Result<FamiliesFacts> {
    let (sweep, t) = run_sweep(sweeps_dir, "families", out_dir, resume)?;
    let base = base_config(&sweep)?;
    let dim = (0..sweep.len()).map(|id| sweep.point(id)).find_map(|p| {
        p.ok()
            .filter(|p| p.config.policy.kind == "loglinear")
            .and_then(|p| p.config.resolved().ok())
            .and_then(|c| c.policy.dim)
    });
    let facts = families_facts(
        &t,
        &sweep_base_file(&sweeps_dir.join("families.toml"))?,
        RunSetting::of(&base)?,
        dim,
    )?;
    write_facts(&out_dir.join("families"), &facts)?;
    Ok(facts)
}

// ---------------------------------------------------------------------------
// Embedding similarity

/// One run of the similarity sweep with the embedding scores of its start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimPoint {
    /// Its id in the sweep.
    pub run_id: usize,
    /// `policy.freeze_responses`.
    pub frozen: bool,
    /// `policy.pair_similarity`: every pair's cosine at initialisation.
    pub init_cosine: f64,
    /// Its drop.
    pub drop: f64,
    /// Its degradation.
    pub degradation: f64,
    /// Its dispersion.
    pub dispersion: f64,
    /// Its final average chosen probability.
    pub final_avg_chosen: f64,
    /// Average chosen probability of the reference (epoch 0).
    pub start_avg_chosen: f64,
    /// Mean over the pairs of the cosine after the reference fit.
    pub ref_cosine: f64,
    /// Mean over the pairs of CHES at initialisation.
    pub init_ches: f64,
    /// Mean over the pairs of CHES after the reference fit (the start of DPO).
    pub ref_ches: f64,
}

/// Joins each run of the similarity sweep (`runs`, its `runs.csv`) with
/// the CHES scores and cosines of its start: the run's config is rebuilt
/// from the sweep, the policy initialised from the run's seed and the
/// reference fitted again (the same deterministic SFT step the run began
/// with). CHES is not in `runs.csv`; this is the only recomputation.
pub fn similarity_points(sweep: &Sweep, runs: &RunsTable) -> Result<Vec<SimPoint>> {
    runs.rows
        .par_iter()
        .map(|row| {
            let id: usize = cell(runs, row, "run_id")?;
            let point = sweep.point(id)?;
            let seed: u64 = cell(runs, row, "run_seed")?;
            if point.run_seed != seed {
                return Err(Error::config(
                    "run_seed",
                    format!("of run {id} is {seed} in runs.csv but {} in the sweep: the table is from another sweep", point.run_seed),
                ));
            }
            let spec = point.config.build()?;
            let policy = point.config.policy.build_loglinear(&spec.data)?;
            let init = policy.init_params(spec.seed);
            let start = prepare(&spec);
            let y = spec.data.n_responses;
            let chosen: Vec<f64> = spec
                .data
                .pairs
                .iter()
                .map(|p| start.ref_logp[p.prompt * y + p.chosen].exp())
                .collect();
            Ok(SimPoint {
                run_id: id,
                frozen: policy.freeze_responses,
                init_cosine: policy.pair_similarity.unwrap_or(f64::NAN),
                drop: cell(runs, row, "drop")?,
                degradation: cell(runs, row, "degradation")?,
                dispersion: cell(runs, row, "dispersion")?,
                final_avg_chosen: cell(runs, row, "final_avg_chosen")?,
                start_avg_chosen: mean(&chosen),
                ref_cosine: mean(&policy.pair_cosines(&start.params)),
                init_ches: mean(&policy.ches_scores(&init)),
                ref_ches: mean(&policy.ches_scores(&start.params)),
            })
        })
        .collect()
}

/// One arm of the similarity sweep (`V` frozen or trained), measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimArm {
    /// Whether `V` is frozen.
    pub frozen: bool,
    /// Degradation at the lowest and at the highest cosine.
    pub degradation_lowest: Stat,
    /// Degradation at the highest cosine.
    pub degradation_highest: Stat,
    /// The cosine with the largest mean degradation, and that mean.
    pub peak_cosine: f64,
    /// The largest mean degradation over the cosines.
    pub peak_degradation: f64,
    /// Pearson and Spearman correlation of the runs' degradation with the
    /// initial cosine and with the mean CHES after the reference fit (NaN
    /// when undefined: no variation).
    pub r_cosine: f64,
    /// Spearman correlation of degradation with the initial cosine.
    pub rho_cosine: f64,
    /// Pearson correlation of degradation with the mean CHES after the reference fit.
    pub r_ches: f64,
    /// Spearman correlation of degradation with that CHES.
    pub rho_ches: f64,
    /// Final average chosen probability at the lowest and highest cosine.
    pub final_chosen_lowest: Stat,
    /// Final average chosen probability at the highest cosine.
    pub final_chosen_highest: Stat,
    /// Runs at cosine ≥ [`HIGH_COSINE`], and how many of them end below
    /// their starting chosen probability (likelihood displacement).
    pub n_high: usize,
    /// Of those, runs that end below their starting chosen probability.
    pub displaced: usize,
    /// Mean over runs of |cosine after the reference fit − initial cosine|.
    pub cosine_moved: f64,
}

/// The similarity sweep (`similarity.toml`), measured.
#[derive(Debug, Clone, Serialize)]
pub struct SimilarityFacts {
    /// The setting of its runs (the sweep's optimiser, not the base's).
    pub setting: RunSetting,
    /// The initial cosines, ascending.
    pub cosines: Vec<f64>,
    /// Seeds per cosine and arm.
    pub n_seeds: usize,
    /// Runs in the sweep.
    pub n_runs: usize,
    /// [`HIGH_COSINE`].
    pub high_cosine: f64,
    /// Mean over runs of the reference's average chosen probability.
    pub start_avg_chosen: f64,
    /// `V` frozen, then trained (those present).
    pub arms: Vec<SimArm>,
    /// With `V` frozen the correlation with the cosine is clear (above
    /// [`CLEAR_CORRELATION`]): the gradient geometry is worth explaining.
    pub frozen_follows_cosine: bool,
    /// With `V` trained it is not, and no cosine's mean degrades: the
    /// initial geometry does not persist.
    pub trained_ignores_cosine: bool,
    /// Every run.
    pub points: Vec<SimPoint>,
}

fn at_cosine(points: &[&SimPoint], cos: f64, f: impl Fn(&SimPoint) -> f64) -> Stat {
    Stat::of(
        &points
            .iter()
            .filter(|p| p.init_cosine == cos)
            .map(|p| f(p))
            .collect::<Vec<_>>(),
    )
}

/// The facts of the similarity sweep's `points` in `setting`.
pub fn similarity_facts(points: Vec<SimPoint>, setting: RunSetting) -> Result<SimilarityFacts> {
    if points.is_empty() {
        return Err(Error::config("similarity", "has no runs"));
    }
    let mut cosines: Vec<f64> = points.iter().map(|p| p.init_cosine).collect();
    cosines.sort_by(f64::total_cmp);
    cosines.dedup();
    let n_seeds = points
        .iter()
        .filter(|p| p.init_cosine == cosines[0] && p.frozen == points[0].frozen)
        .count();
    let start = Stat::of(
        &points
            .iter()
            .map(|p| p.start_avg_chosen)
            .collect::<Vec<_>>(),
    );
    let (lo, hi) = (cosines[0], cosines[cosines.len() - 1]);
    let mut arms = Vec::new();
    for frozen in [true, false] {
        let g: Vec<&SimPoint> = points.iter().filter(|p| p.frozen == frozen).collect();
        if g.is_empty() {
            continue;
        }
        let cos: Vec<f64> = g.iter().map(|p| p.init_cosine).collect();
        let deg: Vec<f64> = g.iter().map(|p| p.degradation).collect();
        let ches: Vec<f64> = g.iter().map(|p| p.ref_ches).collect();
        let by_cos: Vec<(f64, Stat)> = cosines
            .iter()
            .map(|&c| (c, at_cosine(&g, c, |p| p.degradation)))
            .collect();
        let (peak_c, peak) = by_cos
            .iter()
            .max_by(|a, b| a.1.mean.total_cmp(&b.1.mean))
            .expect("cosines");
        let high: Vec<&&SimPoint> = g.iter().filter(|p| p.init_cosine >= HIGH_COSINE).collect();
        arms.push(SimArm {
            frozen,
            degradation_lowest: by_cos[0].1,
            degradation_highest: by_cos[by_cos.len() - 1].1,
            peak_cosine: *peak_c,
            peak_degradation: peak.mean,
            r_cosine: correlation(&cos, &deg),
            rho_cosine: spearman(&cos, &deg),
            r_ches: correlation(&ches, &deg),
            rho_ches: spearman(&ches, &deg),
            final_chosen_lowest: at_cosine(&g, lo, |p| p.final_avg_chosen),
            final_chosen_highest: at_cosine(&g, hi, |p| p.final_avg_chosen),
            n_high: high.len(),
            displaced: high
                .iter()
                .filter(|p| p.final_avg_chosen < p.start_avg_chosen)
                .count(),
            cosine_moved: mean(
                &g.iter()
                    .map(|p| (p.ref_cosine - p.init_cosine).abs())
                    .collect::<Vec<_>>(),
            ),
        });
    }
    let arm = |frozen: bool| arms.iter().find(|a| a.frozen == frozen);
    let frozen_follows_cosine =
        arm(true).is_some_and(|a| a.r_cosine.is_finite() && a.r_cosine > CLEAR_CORRELATION);
    let trained_ignores_cosine = arm(false).is_some_and(|a| {
        a.r_cosine.is_finite()
            && a.r_cosine.abs() < CLEAR_CORRELATION
            && a.peak_degradation < SHOWS[1].1
    });
    Ok(SimilarityFacts {
        setting,
        cosines,
        n_seeds,
        n_runs: points.len(),
        high_cosine: HIGH_COSINE,
        start_avg_chosen: start.mean,
        arms,
        frozen_follows_cosine,
        trained_ignores_cosine,
        points,
    })
}

/// Runs `sweeps_dir/similarity.toml` into `out_dir/sweeps/similarity`,
/// recomputes each run's start ([`similarity_points`]), writes
/// `out_dir/similarity/facts.json` and returns the facts.
pub fn similarity(sweeps_dir: &Path, out_dir: &Path, resume: bool) -> Result<SimilarityFacts> {
    let (sweep, t) = run_sweep(sweeps_dir, "similarity", out_dir, resume)?;
    let points = similarity_points(&sweep, &t)?;
    let facts = similarity_facts(points, RunSetting::of(&sweep.point(0)?.config)?)?;
    write_facts(&out_dir.join("similarity"), &facts)?;
    Ok(facts)
}

// ---------------------------------------------------------------------------
// True on-policy data

/// One way of making the pairs ([`ON_POLICY_MODES`]), all scenarios and
/// seeds pooled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeRow {
    /// Its `on_policy` label in `runs.csv`.
    pub mode: String,
    /// Drop over the runs (orders of magnitude).
    pub drop: Stat,
    /// Degradation: relative fall of the average chosen probability from its peak.
    pub degradation: Stat,
    /// Dispersion: rise of the average unseen probability from its minimum.
    pub dispersion: Stat,
    /// Final mean probability of the prompts' optimal responses.
    pub final_avg_optimal: Stat,
}

/// Means of the fixed pairs or of pairs resampled every epoch, pooled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PooledMeans {
    /// Mean degradation.
    pub degradation: f64,
    /// Mean dispersion.
    pub dispersion: f64,
    /// Mean final probability of the optimal response.
    pub final_avg_optimal: f64,
}

/// Fixed pairs against pairs resampled at every epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pooled {
    /// The fixed pairs (the paper).
    pub fixed: PooledMeans,
    /// Pairs resampled at every epoch.
    pub every_epoch: PooledMeans,
    /// Per scenario: mean final optimal probability, fixed and every epoch.
    pub optimal_by_scenario: Vec<(String, f64, f64)>,
    /// Lowest and highest per-scenario mean of the fixed pairs.
    pub fixed_degradation_span: (f64, f64),
    /// Lowest and highest per-scenario mean final optimal probability of the fixed pairs.
    pub fixed_optimal_span: (f64, f64),
}

/// The on-policy sweep (`on-policy.toml`), measured.
#[derive(Debug, Clone, Serialize)]
pub struct OnPolicyFacts {
    /// The setting of its base config (the MLP of Figure 2).
    pub setting: RunSetting,
    /// The oracle's temperature and its reward of the optimal response.
    pub temperature: f64,
    /// The oracle's reward of the optimal response.
    pub oracle_reward: f64,
    /// Per scenario, the reference's mean probability of the prompts'
    /// optimal responses (the SFT targets).
    pub start_optimal: Vec<(String, f64)>,
    /// Runs in the sweep.
    pub n_runs: usize,
    /// In [`ON_POLICY_MODES`] order, those present.
    pub modes: Vec<ModeRow>,
    /// When both the fixed pairs and every-epoch resampling ran.
    pub pooled: Option<Pooled>,
    /// The runs themselves (`runs.csv`), for the figure.
    #[serde(skip)]
    pub runs: RunsTable,
}

/// The facts of `on-policy.toml`'s runs (`t`).
pub fn on_policy_facts(
    t: &RunsTable,
    setting: RunSetting,
    temperature: f64,
) -> Result<OnPolicyFacts> {
    let mut modes = Vec::new();
    for (key, _) in ON_POLICY_MODES {
        let sub = t.filter("on_policy", key)?;
        if sub.rows.is_empty() {
            continue;
        }
        let one = |c: &str| -> Result<Stat> { Ok(sub.summarise(&[], c)?[0].1) };
        modes.push(ModeRow {
            mode: key.into(),
            drop: one("drop")?,
            degradation: one("degradation")?,
            dispersion: one("dispersion")?,
            final_avg_optimal: one("final_avg_optimal")?,
        });
    }
    let fixed = t.filter("on_policy", "fixed pairs")?;
    let every = t.filter("on_policy", "every epoch")?;
    let pooled = if !fixed.rows.is_empty() && !every.rows.is_empty() {
        let m = |tb: &RunsTable, c: &str| -> Result<f64> { Ok(tb.summarise(&[], c)?[0].1.mean) };
        let means = |tb: &RunsTable| -> Result<PooledMeans> {
            Ok(PooledMeans {
                degradation: m(tb, "degradation")?,
                dispersion: m(tb, "dispersion")?,
                final_avg_optimal: m(tb, "final_avg_optimal")?,
            })
        };
        // (lowest, highest) of the per-scenario means of column `c`.
        let span = |tb: &RunsTable, c: &str| -> Result<(f64, f64)> {
            let g = tb.summarise(&["data.scenario"], c)?;
            Ok(g.iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, st)| {
                    (lo.min(st.mean), hi.max(st.mean))
                }))
        };
        let optimal_by_scenario = SCENARIOS
            .iter()
            .map(|sc| -> Result<(String, f64, f64)> {
                let f = fixed.filter("data.scenario", sc)?;
                let e = every.filter("data.scenario", sc)?;
                Ok((
                    sc.to_string(),
                    m(&f, "final_avg_optimal")?,
                    m(&e, "final_avg_optimal")?,
                ))
            })
            .collect::<Result<_>>()?;
        Some(Pooled {
            fixed: means(&fixed)?,
            every_epoch: means(&every)?,
            optimal_by_scenario,
            fixed_degradation_span: span(&fixed, "degradation")?,
            fixed_optimal_span: span(&fixed, "final_avg_optimal")?,
        })
    } else {
        None
    };
    let start_optimal = SCENARIOS
        .iter()
        .map(|sc| -> Result<(String, f64)> {
            let d = Dataset::scenario(sc)?;
            let opt = d.optimal.clone().unwrap_or_default();
            let p: Vec<f64> = opt
                .iter()
                .enumerate()
                .map(|(x, &a)| d.targets[x][a])
                .collect();
            Ok((sc.to_string(), mean(&p)))
        })
        .collect::<Result<_>>()?;
    Ok(OnPolicyFacts {
        setting,
        temperature,
        oracle_reward: ORACLE_REWARD,
        start_optimal,
        n_runs: t.rows.len(),
        modes,
        pooled,
        runs: t.clone(),
    })
}

/// Runs `sweeps_dir/on-policy.toml` into `out_dir/sweeps/on-policy`, writes
/// `out_dir/on-policy/facts.json` and returns the facts.
pub fn on_policy(sweeps_dir: &Path, out_dir: &Path, resume: bool) -> Result<OnPolicyFacts> {
    let (sweep, t) = run_sweep(sweeps_dir, "on-policy", out_dir, resume)?;
    let base = base_config(&sweep)?;
    // The oracle's temperature of the first run that resamples.
    let temperature = (0..sweep.len())
        .map(|id| sweep.point(id))
        .find_map(|p| {
            p.ok()
                .and_then(|p| p.config.on_policy)
                .filter(|o| o.every > 0)
                .and_then(|o| o.temperature)
        })
        .unwrap_or(f64::NAN);
    let facts = on_policy_facts(&t, RunSetting::of(&base)?, temperature)?;
    write_facts(&out_dir.join("on-policy"), &facts)?;
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_handles_ties_and_monotone_maps() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((spearman(&x, &[1.0, 8.0, 27.0, 64.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        let r = spearman(&[0.0, 0.0, 1.0, 1.0], &[0.0, 0.0, 1.0, 1.0]);
        assert!((r - 1.0).abs() < 1e-12, "{r}");
    }

    #[test]
    fn scenario_starts_of_the_optimal_response() {
        let f = on_policy_facts(
            &RunsTable {
                header: ["on_policy", "data.scenario"].map(String::from).to_vec(),
                rows: Vec::new(),
            },
            RunSetting::of(&Config::from_toml_str(
                "epochs = 10\n[policy]\nkind = \"tabular\"\n[data]\nscenario = \"scenario1\"\n[loss]\nname = \"dpo\"\n[optimizer]\nname = \"sgd\"\nlr = 0.1\n",
            ).unwrap())
            .unwrap(),
            0.1,
        )
        .unwrap();
        let starts: Vec<f64> = f.start_optimal.iter().map(|s| s.1).collect();
        assert_eq!(starts, [0.12, 0.02, 0.12, 0.02]);
        assert!(f.pooled.is_none() && f.modes.is_empty());
    }
}
