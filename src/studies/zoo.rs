//! The loss zoo (issue 4, item 4): every registered loss and objective on
//! every scenario, single seed-0 runs of the compared methods, and the
//! reward-model path against DPO.
//!
//! [`run`] runs `experiments/sweeps/all-losses.toml` (every name of
//! [`crate::maths::loss::LOSSES`] and [`crate::maths::objective::OBJECTIVES`]
//! × the four scenarios × 8 seeds on the paper's MLP), trains single seed-0
//! runs of `experiments/fig2.toml` with `[loss]` and `data.scenario`
//! replaced, fits the reward model, and returns every number the figures
//! and the report's section use ([`ZooFacts`], also written as
//! `facts.json`); [`crate::present::zoo`] draws and describes them.

use crate::analysis::runs::{RunsTable, Stat};
use crate::engine::train::{train, Keep, RunResult};
use crate::error::{Error, Result};
use crate::io::config::{Config, LossConfig};
use crate::io::sweep::{run_for_report, Sweep};
use crate::maths::data::{Dataset, SCENARIOS};
use crate::maths::loss::{self, LogProbs};
use crate::maths::objective::{self, reward_model};
use crate::studies::facts::{write_facts, RunSetting};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// The sweep behind the D-score table (`experiments/sweeps/NAME.toml`).
pub const SWEEP: &str = "all-losses";

/// A method shows no degradation when its mean over seeds stays below this
/// in every scenario...
pub const NO_DEGRADATION: f64 = 0.05;
/// ...and no dispersion when its mean stays below this.
pub const NO_DISPERSION: f64 = 0.005;
/// A mean drop beyond this many orders of magnitude is called unbounded
/// (DPO's is below 100 in 2000 epochs).
pub const HUGE_DROP: f64 = 1e3;
/// A run has collapsed when every prompt puts at least this much
/// probability on one and the same response.
pub const COLLAPSE_MASS: f64 = 0.99;

/// A method of the comparison figure: a loss or objective name, the
/// parameters set in place of its defaults, and the parameters its legend
/// label shows.
#[derive(Debug, Clone, Copy)]
pub struct Compared {
    /// The loss or objective name.
    pub name: &'static str,
    /// Parameters set in place of its defaults.
    pub params: &'static [(&'static str, f64)],
    /// Parameters its legend label shows.
    pub show: &'static [&'static str],
}

/// The comparison figure's methods, drawn in this order (DPO and the RM path
/// last, on top): the paper's two remedies at its values (Flex-DPO with
/// β− < β+, SFT-DPO), IPO and SLiC, three other direct losses, KTO, DPO and
/// the reward-model path, all other parameters at their defaults.
pub const COMPARED: [Compared; 9] = [
    Compared {
        name: "ipo",
        params: &[],
        show: &["tau"],
    },
    Compared {
        name: "slic",
        params: &[],
        show: &["delta"],
    },
    Compared {
        name: "flex-dpo",
        params: &[("beta_plus", 0.1), ("beta_minus", 0.05)],
        show: &["beta_plus", "beta_minus"],
    },
    Compared {
        name: "sft-dpo",
        params: &[("gamma", 0.1)],
        show: &["gamma"],
    },
    Compared {
        name: "cdpo",
        params: &[],
        show: &["epsilon"],
    },
    Compared {
        name: "dpop",
        params: &[],
        show: &["lambda"],
    },
    Compared {
        name: "kto",
        params: &[],
        show: &[],
    },
    Compared {
        name: "dpo",
        params: &[],
        show: &["beta"],
    },
    Compared {
        name: "rm-kl",
        params: &[],
        show: &["beta"],
    },
];

/// Every loss and objective name, in registry order ([`loss::LOSSES`], then
/// [`objective::OBJECTIVES`]).
pub fn registry_names() -> Vec<&'static str> {
    loss::LOSSES
        .iter()
        .map(|s| s.name)
        .chain(objective::OBJECTIVES.iter().map(|s| s.name))
        .collect()
}

/// The statistics over seeds of one method on one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRow {
    /// The loss or objective name.
    pub method: String,
    /// The scenario.
    pub scenario: String,
    /// Drop over seeds (orders of magnitude).
    pub drop: Stat,
    /// Degradation over seeds.
    pub degradation: Stat,
    /// Dispersion over seeds.
    pub dispersion: Stat,
    /// Peak average chosen probability.
    pub peak_chosen: Stat,
    /// Final average chosen probability.
    pub final_chosen: Stat,
    /// Final average unseen probability.
    pub final_unseen: Stat,
    /// `final_avg_optimal`, when every run of the group has it.
    pub final_optimal: Option<Stat>,
    /// Runs that diverged.
    pub diverged: usize,
}

impl ScoreRow {
    /// Runs in the group.
    pub fn n(&self) -> usize {
        self.drop.n
    }
}

fn stat_of(t: &RunsTable, col: &str) -> Result<Option<Stat>> {
    let Ok(c) = t.col(col) else {
        return Ok(None);
    };
    if t.rows.is_empty() || t.rows.iter().any(|r| r[c].is_empty()) {
        return Ok(None);
    }
    Ok(Some(t.summarise(&[], col)?[0].1))
}

fn need(t: &RunsTable, col: &str) -> Result<Stat> {
    stat_of(t, col)?.ok_or_else(|| Error::config(col, "has empty cells"))
}

/// One [`ScoreRow`] per method (registry order, then any other `loss` label
/// of the table in order of appearance) and scenario ([`SCENARIOS`] order,
/// then others), over the groups present in `t`.
pub fn score_rows(t: &RunsTable) -> Result<Vec<ScoreRow>> {
    let (lc, sc) = (t.col("loss")?, t.col("data.scenario")?);
    let mut methods: Vec<String> = registry_names().iter().map(|s| s.to_string()).collect();
    let mut scenarios: Vec<String> = SCENARIOS.iter().map(|s| s.to_string()).collect();
    for r in &t.rows {
        if !methods.contains(&r[lc]) {
            methods.push(r[lc].clone());
        }
        if !scenarios.contains(&r[sc]) {
            scenarios.push(r[sc].clone());
        }
    }
    let dc = t.col("diverged")?;
    let mut out = Vec::new();
    for m in &methods {
        let by_method = t.filter("loss", m)?;
        for s in &scenarios {
            let g = by_method.filter("data.scenario", s)?;
            if g.rows.is_empty() {
                continue;
            }
            out.push(ScoreRow {
                method: m.clone(),
                scenario: s.clone(),
                drop: need(&g, "drop")?,
                degradation: need(&g, "degradation")?,
                dispersion: need(&g, "dispersion")?,
                peak_chosen: need(&g, "peak_avg_chosen")?,
                final_chosen: need(&g, "final_avg_chosen")?,
                final_unseen: need(&g, "final_avg_unseen")?,
                final_optimal: stat_of(&g, "final_avg_optimal")?,
                diverged: g.rows.iter().filter(|r| r[dc] == "true").count(),
            });
        }
    }
    Ok(out)
}

/// The methods of `rows`, in order.
pub fn methods(rows: &[ScoreRow]) -> Vec<&str> {
    let mut v: Vec<&str> = Vec::new();
    for r in rows {
        if !v.contains(&r.method.as_str()) {
            v.push(&r.method);
        }
    }
    v
}

fn rows_of<'a>(rows: &'a [ScoreRow], method: &str) -> std::vec::IntoIter<&'a ScoreRow> {
    rows.iter()
        .filter(|r| r.method == method)
        .collect::<Vec<_>>()
        .into_iter()
}

/// The row of `method` on `scenario`.
pub fn row<'a>(rows: &'a [ScoreRow], method: &str, scenario: &str) -> Option<&'a ScoreRow> {
    rows.iter()
        .find(|r| r.method == method && r.scenario == scenario)
}

/// The scenario on which `method`'s mean degradation is highest.
pub fn worst_scenario<'a>(rows: &'a [ScoreRow], method: &str) -> Option<&'a ScoreRow> {
    rows_of(rows, method).max_by(|a, b| a.degradation.mean.total_cmp(&b.degradation.mean))
}

/// Methods whose mean degradation stays below [`NO_DEGRADATION`] and mean
/// dispersion below [`NO_DISPERSION`] in every scenario.
pub fn free_methods(rows: &[ScoreRow]) -> Vec<&str> {
    methods(rows)
        .into_iter()
        .filter(|m| {
            rows_of(rows, m)
                .all(|r| r.degradation.mean < NO_DEGRADATION && r.dispersion.mean < NO_DISPERSION)
        })
        .collect()
}

/// Per method, the largest mean of `score` over the scenarios and the
/// scenario where it occurs, largest first (ties keep registry order).
pub fn ranked(rows: &[ScoreRow], score: impl Fn(&ScoreRow) -> f64) -> Vec<(&str, f64, &str)> {
    let mut v: Vec<(&str, f64, &str)> = methods(rows)
        .into_iter()
        .filter_map(|m| {
            rows_of(rows, m)
                .map(|r| (m, score(r), r.scenario.as_str()))
                .max_by(|a, b| a.1.total_cmp(&b.1))
        })
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

/// Largest relative difference of the D-scores of methods `a` and `b` run
/// by run (matched on scenario and seed), or `None` when they share no run.
pub fn max_rel_diff(t: &RunsTable, a: &str, b: &str) -> Result<Option<f64>> {
    let (lc, sc, ec) = (t.col("loss")?, t.col("data.scenario")?, t.col("seed")?);
    let cols = [t.col("drop")?, t.col("degradation")?, t.col("dispersion")?];
    let mut worst: Option<f64> = None;
    for ra in t.rows.iter().filter(|r| r[lc] == a) {
        let Some(rb) = t
            .rows
            .iter()
            .find(|r| r[lc] == b && r[sc] == ra[sc] && r[ec] == ra[ec])
        else {
            continue;
        };
        for &c in &cols {
            let (x, y): (f64, f64) = (
                ra[c].parse().unwrap_or(f64::NAN),
                rb[c].parse().unwrap_or(f64::NAN),
            );
            let d = if x == y {
                0.0
            } else {
                (x - y).abs() / x.abs().max(y.abs())
            };
            worst = Some(worst.map_or(d, |w: f64| w.max(d)));
        }
    }
    Ok(worst)
}

/// Runs of `method` whose final average chosen probability is `1/P` and
/// average unseen `(P-1)/(P(Y-2))` to within 1e-3, out of its runs on
/// `scenario`: the signature of every prompt ending on the chosen response
/// of one prompt (`P` pairs on distinct prompts, `Y` responses).
pub fn collapse_signatures(
    t: &RunsTable,
    method: &str,
    scenario: &str,
    data: &Dataset,
) -> Result<(usize, usize)> {
    let g = t
        .filter("loss", method)?
        .filter("data.scenario", scenario)?;
    let (cc, uc) = (t.col("final_avg_chosen")?, t.col("final_avg_unseen")?);
    let p = data.pairs.len() as f64;
    let y = data.n_responses as f64;
    let (chosen, unseen) = (1.0 / p, (p - 1.0) / (p * (y - 2.0)));
    let hits = g
        .rows
        .iter()
        .filter(|r| {
            let c: f64 = r[cc].parse().unwrap_or(f64::NAN);
            let u: f64 = r[uc].parse().unwrap_or(f64::NAN);
            (c - chosen).abs() < 1e-3 && (u - unseen).abs() < 1e-3
        })
        .count();
    Ok((hits, g.rows.len()))
}

/// Whether every prompt of a run's last snapshot puts at least
/// [`COLLAPSE_MASS`] on one and the same response: `(response, least mass)`.
pub fn collapsed(result: &RunResult) -> Option<(usize, f64)> {
    let (_, logp) = result.snapshots.last()?;
    let y = result.n_responses;
    let mut shared = None;
    let mut least = f64::INFINITY;
    for row in logp.chunks(y) {
        let (a, l) = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(a, &l)| (a, l))?;
        if *shared.get_or_insert(a) != a {
            return None;
        }
        least = least.min(l.exp());
    }
    (least >= COLLAPSE_MASS).then_some((shared?, least))
}

/// The value and `∂f/∂l-` of a pairwise loss at margins `Δ` (nats; `l+` and
/// the reference at 0, `l- = -Δ`), or `None` for an objective that is not a
/// pairwise loss.
pub fn loss_at_margins(
    name: &str,
    params: &BTreeMap<String, f64>,
    deltas: &[f64],
) -> Result<Option<Vec<(f64, f64)>>> {
    let Some(spec) = loss::LOSSES.iter().find(|s| s.name == name) else {
        return Ok(None);
    };
    let values = loss::resolve_param_list(spec.name, spec.params, params)?;
    let l = (spec.build)(&values);
    Ok(Some(
        deltas
            .iter()
            .map(|&d| {
                let e = l.eval(&LogProbs {
                    l_plus: 0.0,
                    l_minus: -d,
                    l0_plus: 0.0,
                    l0_minus: 0.0,
                });
                (e.value, e.d_minus)
            })
            .collect(),
    ))
}

/// `|log10 π−|` growth exponent `k` in `|log π−| ∝ epoch^k` between the
/// middle and the last recorded epoch of a run.
pub fn growth_exponent(r: &RunResult) -> Option<f64> {
    let last = r.metrics.last()?;
    let mid = r.metrics.iter().find(|m| m.epoch >= last.epoch / 2)?;
    let (a, b) = (mid.logp_avg_rejected.abs(), last.logp_avg_rejected.abs());
    if mid.epoch == 0 || a <= 0.0 || b <= 0.0 {
        return None;
    }
    Some((b / a).ln() / (last.epoch as f64 / mid.epoch as f64).ln())
}

fn log_ratio(r: &RunResult, at_end: bool) -> f64 {
    let m = if at_end {
        r.metrics.last()
    } else {
        r.metrics.first()
    };
    m.and_then(|m| Some(m.log10_grad_pi_minus? - m.log10_grad_pi_plus?))
        .unwrap_or(f64::NAN)
}

/// A parameter's default in the reward-model objective's spec.
fn rm_default(name: &str) -> Result<f64> {
    reward_model::SPEC
        .params
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.default)
        .ok_or_else(|| Error::config(format!("loss.{name}"), "has no default in rm-kl's spec"))
}

/// The parameters of every method in the sweep, from the first run of each
/// (resolved: every default written out).
fn sweep_params(sweep: &Sweep, t: &RunsTable) -> Result<BTreeMap<String, BTreeMap<String, f64>>> {
    let (lc, ic) = (t.col("loss")?, t.col("run_id")?);
    let mut out = BTreeMap::new();
    for r in &t.rows {
        if out.contains_key(&r[lc]) {
            continue;
        }
        let id: usize = r[ic]
            .parse()
            .map_err(|_| Error::config("run_id", format!("has an unreadable cell `{}`", r[ic])))?;
        let cfg = sweep.point(id)?.config.resolved()?;
        if cfg.loss.name != r[lc] {
            return Err(Error::config(
                "loss",
                format!(
                    "of run {id} is `{}` in runs.csv but `{}` in the sweep",
                    r[lc], cfg.loss.name
                ),
            ));
        }
        out.insert(r[lc].clone(), cfg.loss.params);
    }
    Ok(out)
}

/// `base` with `data.scenario` and `[loss]` replaced, seed 0, every epoch recorded.
fn variant(
    base: &Config,
    scenario: &str,
    name: &str,
    params: &BTreeMap<String, f64>,
) -> Result<Config> {
    let mut c = base.clone();
    c.seed = 0;
    c.record_every = Some(1);
    c.data.scenario = Some(scenario.into());
    c.loss = LossConfig {
        name: name.into(),
        reduction: base.loss.reduction.clone(),
        params: params.clone(),
    };
    c.resolved()
}

/// What the single seed-0 runs and the reward-model fit add to the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contrast {
    /// `(step 0, last step)` mean over pairs of `|∂R/∂r+|`.
    pub rm_grad_start: f64,
    /// The same at the last step.
    pub rm_grad_end: f64,
    /// Max over steps and pairs of `||∂R/∂r+| − |∂R/∂r−||`.
    pub rm_grad_imbalance: f64,
    /// Fit steps.
    pub rm_steps: usize,
    /// Mean over pairs of the fitted margin `r+ − r−` and `σ(margin)`.
    pub rm_margin: f64,
    /// Mean over pairs of the fitted preference probability `σ(margin)`.
    pub rm_preference: f64,
    /// `log10(|∂ℓ/∂π−| / |∂ℓ/∂π+|)` at epoch 0 and at the end of the DPO run.
    pub dpo_log_ratio: (f64, f64),
    /// The same for the RM path's policy objective.
    pub rm_log_ratio: (f64, f64),
    /// Average chosen probability of the closed-form optimum
    /// `π* ∝ π0 exp(r/β)` and its drop (orders of magnitude of the average
    /// rejected probability below the reference's).
    pub optimum_avg_chosen: f64,
    /// The optimum's drop (orders of magnitude).
    pub optimum_drop: f64,
    /// Mean over prompts of the total variation between the RM run's final
    /// policy and `π*`.
    pub rm_tv: f64,
    /// Pairs and responses of scenario 1 (for the collapse fractions).
    pub n_pairs: usize,
    /// Responses per prompt of scenario 1.
    pub n_responses: usize,
    /// The RM path's seed-0 run: final average chosen and its drop.
    pub rm_final_chosen: f64,
    /// The RM run's drop.
    pub rm_drop: f64,
    /// Final average rejected probability of the RM run and of `π*`.
    pub rm_final_rejected: f64,
    /// The optimum's average rejected probability.
    pub optimum_avg_rejected: f64,
    /// [`REACH`], and the first epoch at which the RM run's average
    /// chosen probability reaches it, if it does.
    pub reach: f64,
    /// The first epoch the RM run's average chosen reaches [`REACH`].
    pub rm_epoch_reached: Option<usize>,
    /// DPO's seed-0 run: peak average chosen, its epoch, final.
    pub dpo_peak: (f64, usize),
    /// DPO's final average chosen probability.
    pub dpo_final_chosen: f64,
    /// Methods (names) whose seed-0 scenario-1 run collapsed, with the
    /// response and the least mass on it.
    pub collapsed: Vec<(String, usize, f64)>,
    /// Per collapsed method: (runs with the collapse signature, runs) on scenario 1 in the sweep.
    pub signatures: Vec<(String, usize, usize)>,
    /// Which prompt's chosen response each response is, if any.
    pub chosen_of: Vec<Option<usize>>,
    /// For robust-style unbounded drops in the seed-0 run: (name, exponent k
    /// of |log avg rejected| ∝ epoch^k between the middle and the last epoch).
    pub growth: Vec<(String, f64)>,
    /// [`COLLAPSE_MASS`].
    pub collapse_mass: f64,
}

/// Gathers the [`Contrast`] numbers from the fit and the seed-0 runs.
pub fn contrast_facts(
    t: &RunsTable,
    data: &Dataset,
    fit: &reward_model::RewardFit,
    beta: f64,
    done: &[SeedRun],
) -> Result<Contrast> {
    let get = |name: &str| {
        done.iter()
            .find(|d| d.scenario == "scenario1" && d.method == name)
            .map(|d| &d.result)
            .ok_or_else(|| {
                Error::config("loss", format!("no seed-0 run of `{name}` on scenario 1"))
            })
    };
    let (dpo, rm) = (get("dpo")?, get("rm-kl")?);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let abs_mean = |v: &[f64]| mean(&v.iter().map(|g| g.abs()).collect::<Vec<_>>());
    let (first, last) = (&fit.trace[0], &fit.trace[fit.trace.len() - 1]);
    let imbalance = fit
        .trace
        .iter()
        .flat_map(|s| {
            s.grad_plus
                .iter()
                .zip(&s.grad_minus)
                .map(|(p, m)| (p.abs() - m.abs()).abs())
        })
        .fold(0.0, f64::max);
    let margins: Vec<f64> = data
        .pairs
        .iter()
        .map(|p| fit.reward(p.prompt, p.chosen) - fit.reward(p.prompt, p.rejected))
        .collect();
    let prefs = reward_model::preference_probabilities(fit, data);
    // The closed-form optimum on the RM run's reference.
    let y = data.n_responses;
    let (mut opt_chosen, mut opt_rej, mut ref_rej) = (0.0, 0.0, 0.0);
    for p in &data.pairs {
        let row = p.prompt * y..(p.prompt + 1) * y;
        let star = reward_model::optimal_policy(&rm.ref_logp[row.clone()], &fit.rewards[row], beta);
        opt_chosen += star[p.chosen];
        opt_rej += star[p.rejected];
        ref_rej += rm.ref_logp[p.prompt * y + p.rejected].exp();
    }
    let np = data.pairs.len() as f64;
    let final_logp = rm
        .snapshots
        .last()
        .map(|s| s.1.clone())
        .ok_or_else(|| Error::config("rm-kl", "its run kept no snapshot"))?;
    let tv: Vec<f64> = (0..data.n_prompts)
        .map(|x| {
            let row = x * y..(x + 1) * y;
            let star = reward_model::optimal_policy(
                &rm.ref_logp[row.clone()],
                &fit.rewards[row.clone()],
                beta,
            );
            0.5 * final_logp[row]
                .iter()
                .zip(&star)
                .map(|(l, q)| (l.exp() - q).abs())
                .sum::<f64>()
        })
        .collect();
    let mut chosen_of = vec![None; y];
    for p in &data.pairs {
        chosen_of[p.chosen].get_or_insert(p.prompt);
    }
    let mut collapsed = Vec::new();
    let mut signatures = Vec::new();
    let mut growth = Vec::new();
    for name in registry_names() {
        let Some(d) = done
            .iter()
            .find(|d| d.scenario == "scenario1" && d.method == name)
        else {
            continue;
        };
        if let Some((a, least)) = self::collapsed(&d.result) {
            collapsed.push((name.to_string(), a, least));
            let (hits, n) = collapse_signatures(t, name, "scenario1", data)?;
            signatures.push((name.to_string(), hits, n));
        }
        if d.result.summary.drop > HUGE_DROP {
            if let Some(k) = growth_exponent(&d.result) {
                growth.push((name.to_string(), k));
            }
        }
    }
    Ok(Contrast {
        rm_grad_start: abs_mean(&first.grad_plus),
        rm_grad_end: abs_mean(&last.grad_plus),
        rm_grad_imbalance: imbalance,
        rm_steps: fit.trace.len() - 1,
        rm_margin: mean(&margins),
        rm_preference: mean(&prefs),
        dpo_log_ratio: (log_ratio(dpo, false), log_ratio(dpo, true)),
        rm_log_ratio: (log_ratio(rm, false), log_ratio(rm, true)),
        optimum_avg_chosen: opt_chosen / np,
        optimum_drop: (ref_rej / np).log10() - (opt_rej / np).log10(),
        rm_tv: mean(&tv),
        n_pairs: data.pairs.len(),
        n_responses: y,
        rm_final_chosen: rm.summary.final_avg_chosen,
        rm_drop: rm.summary.drop,
        rm_final_rejected: rm.summary.final_avg_rejected,
        optimum_avg_rejected: opt_rej / np,
        reach: REACH,
        rm_epoch_reached: rm
            .metrics
            .iter()
            .find(|m| m.avg_chosen >= REACH)
            .map(|m| m.epoch),
        dpo_peak: (dpo.summary.peak_avg_chosen, dpo.summary.peak_epoch),
        dpo_final_chosen: dpo.summary.final_avg_chosen,
        collapsed,
        signatures,
        chosen_of,
        growth,
        collapse_mass: COLLAPSE_MASS,
    })
}

/// The average chosen probability the RM path's seed-0 run is timed to.
pub const REACH: f64 = 0.99;

/// Margins at which an unbounded loss is evaluated (nats of `r+ − r−`).
pub const MARGINS: [f64; 3] = [1e2, 1e3, 1e4];

/// A method's largest mean of a D-score over the scenarios.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    /// The loss or objective name.
    pub method: String,
    /// Its largest mean.
    pub value: f64,
    /// The scenario (`data.scenario`).
    pub scenario: String,
}

/// Runs of one method on one scenario that diverged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diverged {
    /// The loss or objective name.
    pub method: String,
    /// The scenario (`data.scenario`).
    pub scenario: String,
    /// Runs that diverged.
    pub diverged: usize,
    /// Runs of the group.
    pub runs: usize,
}

/// A pairwise loss without a lower bound in the margin: its values at
/// [`MARGINS`] keep falling, and `∂f/∂l−` at the largest margin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoLowerBound {
    /// The margins (nats).
    pub margins: Vec<f64>,
    /// The loss at each margin.
    pub values: Vec<f64>,
    /// `∂f/∂l−` at the largest margin.
    pub d_minus: f64,
}

/// A method whose mean drop exceeds [`HUGE_DROP`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unbounded {
    /// The loss or objective name.
    pub method: String,
    /// Its largest mean drop over the scenarios.
    pub drop: f64,
    /// When its loss keeps falling with the margin.
    pub no_lower_bound: Option<NoLowerBound>,
    /// Mean degradation and dispersion on scenario 1, its own and DPO's.
    pub scenario1: Option<(f64, f64)>,
    /// DPO's mean degradation and dispersion on scenario 1.
    pub dpo_scenario1: Option<(f64, f64)>,
}

/// A method that loses the chosen responses (mean degradation > 0.9 and
/// final average chosen < 1e-3) in some scenarios.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lost {
    /// The loss or objective name.
    pub method: String,
    /// The scenarios where it does.
    pub scenarios: Vec<String>,
    /// Mean degradation in each of them.
    pub degradations: Vec<f64>,
    /// The largest final average chosen probability of any of their runs.
    pub worst_final: f64,
}

/// Flex-DPO at its default β− = β+, where it is DPO.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlexIsDpo {
    /// β (= β+ = β−).
    pub beta: f64,
    /// Largest relative difference of the D-scores, run by run.
    pub max_rel_diff: f64,
    /// The β− of the comparison figure's Flex-DPO.
    pub figure_beta_minus: Option<f64>,
}

/// A method whose drop is the same in every run (within 0.01 orders).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConstantDrop {
    /// The loss or objective name.
    pub method: String,
    /// Smallest drop of any run (orders of magnitude).
    pub lo: f64,
    /// Largest drop of any run.
    pub hi: f64,
    /// SPPO-hard's target of the rejected log-ratio, −1/(2β) nats, and
    /// that in orders of magnitude, 1/(2β ln 10).
    pub target: Option<(f64, f64)>,
}

/// What the sweep's table says beyond its rows: who is free of degradation
/// and dispersion, who shows the most, drop, divergence, and the anomalies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notes {
    /// [`NO_DEGRADATION`], [`NO_DISPERSION`], [`HUGE_DROP`].
    pub no_degradation: f64,
    /// [`NO_DISPERSION`].
    pub no_dispersion: f64,
    /// [`HUGE_DROP`].
    pub huge_drop: f64,
    /// Scenarios in the sweep.
    pub n_scenarios: usize,
    /// Methods in the sweep.
    pub n_methods: usize,
    /// [`free_methods`].
    pub free: Vec<String>,
    /// The four methods with the largest mean degradation and dispersion.
    pub most_degradation: Vec<Ranked>,
    /// The four methods with the largest mean dispersion.
    pub most_dispersion: Vec<Ranked>,
    /// The three methods with the smallest largest-mean drop.
    pub least_drop: Vec<Ranked>,
    /// Methods whose mean drop stays below one order in every scenario.
    pub drop_below_one: Vec<String>,
    /// The largest mean drop, when beyond [`HUGE_DROP`].
    pub largest_drop: Option<Ranked>,
    /// Runs that diverged.
    pub diverged: Vec<Diverged>,
    /// Runs in the sweep.
    pub total_runs: usize,
    /// Methods whose drop is unbounded ([`Unbounded`]).
    pub unbounded: Vec<Unbounded>,
    /// Methods that lose the chosen responses ([`Lost`]).
    pub lost: Vec<Lost>,
    /// Flex-DPO when it runs at β− = β+ ([`FlexIsDpo`]).
    pub flex_is_dpo: Option<FlexIsDpo>,
    /// Methods whose drop is the same in every run ([`ConstantDrop`]).
    pub constant_drop: Vec<ConstantDrop>,
}

fn ranked_facts(v: &[(&str, f64, &str)]) -> Vec<Ranked> {
    v.iter()
        .map(|(m, x, sc)| Ranked {
            method: m.to_string(),
            value: *x,
            scenario: sc.to_string(),
        })
        .collect()
}

/// The [`Notes`] of the sweep's runs `t`, their `rows` and the methods'
/// `params`.
pub fn notes(
    t: &RunsTable,
    rows: &[ScoreRow],
    params: &BTreeMap<String, BTreeMap<String, f64>>,
) -> Result<Notes> {
    let n_scenarios = {
        let mut v: Vec<&str> = rows.iter().map(|r| r.scenario.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    let deg = ranked(rows, |r| r.degradation.mean);
    let disp = ranked(rows, |r| r.dispersion.mean);
    let mut least = ranked(rows, |r| r.drop.mean);
    least.reverse();
    let largest = ranked(rows, |r| r.drop.mean);
    let empty = BTreeMap::new();
    let p_of = |m: &str| params.get(m).unwrap_or(&empty);
    let dpo1 = row(rows, "dpo", "scenario1").map(|d| (d.degradation.mean, d.dispersion.mean));
    let mut unbounded = Vec::new();
    for (m, x, _) in largest.iter().filter(|x| x.1 > HUGE_DROP) {
        let no_lower_bound = loss_at_margins(m, p_of(m), &MARGINS)?.and_then(|v| {
            let decreasing = v.windows(2).all(|p| p[1].0 < p[0].0 - 1.0);
            decreasing.then(|| NoLowerBound {
                margins: MARGINS.to_vec(),
                values: v.iter().map(|p| p.0).collect(),
                d_minus: v[v.len() - 1].1,
            })
        });
        unbounded.push(Unbounded {
            method: m.to_string(),
            drop: *x,
            no_lower_bound,
            scenario1: row(rows, m, "scenario1").map(|r| (r.degradation.mean, r.dispersion.mean)),
            dpo_scenario1: dpo1,
        });
    }
    let mut lost = Vec::new();
    for m in methods(rows) {
        let l: Vec<&ScoreRow> = rows_of(rows, m)
            .filter(|r| r.degradation.mean > 0.9 && r.final_chosen.mean < 1e-3)
            .collect();
        if l.is_empty() {
            continue;
        }
        lost.push(Lost {
            method: m.to_string(),
            scenarios: l.iter().map(|r| r.scenario.clone()).collect(),
            degradations: l.iter().map(|r| r.degradation.mean).collect(),
            worst_final: l
                .iter()
                .map(|r| r.final_chosen.max)
                .fold(f64::NEG_INFINITY, f64::max),
        });
    }
    let mut flex_is_dpo = None;
    let flex_ran = t
        .rows
        .iter()
        .any(|r| r[t.col("loss").unwrap_or(0)] == "flex-dpo");
    if let (Some(p), true) = (params.get("flex-dpo"), flex_ran) {
        if let (Some(bp), Some(bm)) = (p.get("beta_plus"), p.get("beta_minus")) {
            if bp == bm {
                if let Some(d) = max_rel_diff(t, "flex-dpo", "dpo")? {
                    flex_is_dpo = Some(FlexIsDpo {
                        beta: *bp,
                        max_rel_diff: d,
                        figure_beta_minus: COMPARED
                            .iter()
                            .find(|m| m.name == "flex-dpo")
                            .and_then(|m| m.params.iter().find(|p| p.0 == "beta_minus"))
                            .map(|p| p.1),
                    });
                }
            }
        }
    }
    // A drop that is the same in every run: a loss with a finite target for r−.
    let mut constant_drop = Vec::new();
    for m in methods(rows) {
        let rs = rows_of(rows, m);
        let (lo, hi) = rs
            .clone()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
                (lo.min(r.drop.min), hi.max(r.drop.max))
            });
        if !(hi - lo < 0.01 && rs.len() > 1) {
            continue;
        }
        let target = match (m, p_of(m).get("beta").copied()) {
            ("sppo-hard", Some(b)) => Some((-0.5 / b, 0.5 / b / std::f64::consts::LN_10)),
            _ => None,
        };
        constant_drop.push(ConstantDrop {
            method: m.to_string(),
            lo,
            hi,
            target,
        });
    }
    Ok(Notes {
        no_degradation: NO_DEGRADATION,
        no_dispersion: NO_DISPERSION,
        huge_drop: HUGE_DROP,
        n_scenarios,
        n_methods: methods(rows).len(),
        free: free_methods(rows).iter().map(|m| m.to_string()).collect(),
        most_degradation: ranked_facts(&deg[..deg.len().min(4)]),
        most_dispersion: ranked_facts(&disp[..disp.len().min(4)]),
        least_drop: ranked_facts(&least[..least.len().min(3)]),
        drop_below_one: least
            .iter()
            .filter(|x| x.1 < 1.0)
            .map(|x| x.0.to_string())
            .collect(),
        largest_drop: largest
            .first()
            .filter(|x| x.1 > HUGE_DROP)
            .map(|x| ranked_facts(&[*x])[0].clone()),
        diverged: rows
            .iter()
            .filter(|r| r.diverged > 0)
            .map(|r| Diverged {
                method: r.method.clone(),
                scenario: r.scenario.clone(),
                diverged: r.diverged,
                runs: r.n(),
            })
            .collect(),
        total_runs: rows.iter().map(ScoreRow::n).sum(),
        unbounded,
        lost,
        flex_is_dpo,
        constant_drop,
    })
}

/// One single seed-0 run of `experiments/fig2.toml` with `[loss]` and
/// `data.scenario` replaced.
#[derive(Debug, Clone)]
pub struct SeedRun {
    /// Its scenario.
    pub scenario: String,
    /// Its loss or objective.
    pub method: String,
    /// Its config, resolved.
    pub config: Config,
    /// The run.
    pub result: RunResult,
}

/// A compared method's seed-0 runs on the figure's two scenarios.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FigureRuns {
    /// The loss or objective name.
    pub method: String,
    /// Its parameters (resolved) in the runs.
    pub params: BTreeMap<String, f64>,
    /// Degradation and final average chosen probability on scenario 1 and
    /// on the second scenario.
    pub runs: [(f64, f64); 2],
}

/// The reward model's own fit: rm-kl's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RmFit {
    /// Gradient-descent steps of the fit.
    pub steps: usize,
    /// Its learning rate.
    pub lr: f64,
    /// Its L2 weight.
    pub l2: f64,
    /// The KL weight β of the policy step.
    pub beta: f64,
}

/// Everything the loss zoo measured.
#[derive(Debug, Clone, Serialize)]
pub struct ZooFacts {
    /// The sweep's name ([`SWEEP`]) and its run count.
    pub sweep: String,
    /// Runs in the sweep.
    pub n_runs: usize,
    /// Pairwise losses registered, and the objectives after them.
    pub n_losses: usize,
    /// The objectives' names (KTO, the reward-model path).
    pub objectives: Vec<String>,
    /// One per method and scenario ([`score_rows`]).
    pub rows: Vec<ScoreRow>,
    /// Per method, its parameters in the sweep (resolved).
    pub params: BTreeMap<String, BTreeMap<String, f64>>,
    /// What the table says beyond its rows ([`Notes`]).
    pub notes: Notes,
    /// The setting of the seed-0 runs (DPO's on scenario 1).
    pub setting: RunSetting,
    /// The figure's second scenario: DPO's worst, or its worst besides
    /// scenario 1 when that is scenario 1 (`second_is_worst` false).
    pub second: String,
    /// Whether the second scenario is DPO's worst overall.
    pub second_is_worst: bool,
    /// DPO's mean degradation there.
    pub second_degradation: f64,
    /// The compared methods' seed-0 runs, in [`COMPARED`] order.
    pub figure: Vec<FigureRuns>,
    /// The reward model's fit settings.
    pub rm_fit: RmFit,
    /// The seed-0 runs and the fit, against each other ([`Contrast`]).
    pub contrast: Contrast,
    /// The seed-0 runs, for the figures.
    #[serde(skip)]
    pub runs: Vec<SeedRun>,
    /// The reward model's fit, for its figure.
    #[serde(skip)]
    pub fit: Option<reward_model::RewardFit>,
}

impl ZooFacts {
    /// The seed-0 run of `method` on `scenario`.
    pub fn run(&self, scenario: &str, method: &str) -> Option<&SeedRun> {
        self.runs
            .iter()
            .find(|d| d.scenario == scenario && d.method == method)
    }
}

/// Runs `sweeps_dir/all-losses.toml` into `out_dir/sweeps/all-losses`
/// (keeping its journal when `resume`), the seed-0 comparison runs of
/// `fig2` (the base config, `experiments/fig2.toml`) and the reward-model
/// fit; writes `out_dir/loss-zoo/facts.json` and returns the facts.
pub fn run(sweeps_dir: &Path, fig2: &Path, out_dir: &Path, resume: bool) -> Result<ZooFacts> {
    let dir = out_dir.join("sweeps").join(SWEEP);
    let sweep = run_for_report(&sweeps_dir.join(format!("{SWEEP}.toml")), &dir, resume)?;
    let t = RunsTable::load(&dir.join("runs.csv"))?;
    let rows = score_rows(&t)?;
    let params = sweep_params(&sweep, &t)?;
    let worst = worst_scenario(&rows, "dpo")
        .ok_or_else(|| Error::config("loss", "the sweep has no DPO runs"))?;
    // The second row: DPO's worst scenario, or its worst other one when that is scenario 1.
    let second = if worst.scenario == "scenario1" {
        rows.iter()
            .filter(|r| r.method == "dpo" && r.scenario != "scenario1")
            .max_by(|a, b| a.degradation.mean.total_cmp(&b.degradation.mean))
            .unwrap_or(worst)
    } else {
        worst
    };

    // Seed-0 runs of fig2.toml: the compared methods on both rows' scenarios,
    // every other registered method on scenario 1 (for the collapse check).
    let base = Config::load(fig2)?;
    let mut jobs: Vec<(String, String, BTreeMap<String, f64>)> = Vec::new();
    for sc in ["scenario1", second.scenario.as_str()] {
        for m in COMPARED {
            let p = m.params.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            jobs.push((sc.into(), m.name.into(), p));
        }
    }
    for name in registry_names() {
        if !COMPARED.iter().any(|m| m.name == name) {
            let p = params.get(name).cloned().unwrap_or_default();
            jobs.push(("scenario1".into(), name.into(), p));
        }
    }
    let t1 = Instant::now();
    let done: Vec<SeedRun> = jobs
        .par_iter()
        .map(|(sc, name, p)| {
            let config = variant(&base, sc, name, p)?;
            let result = train(&config.build()?, Keep::ALL);
            Ok(SeedRun {
                scenario: sc.clone(),
                method: name.clone(),
                config,
                result,
            })
        })
        .collect::<Result<_>>()?;
    eprintln!(
        "loss zoo: {} seed-0 runs in {:.1} s",
        done.len(),
        t1.elapsed().as_secs_f64()
    );
    let find = |sc: &str, name: &str| {
        done.iter()
            .find(|d| d.scenario == sc && d.method == name)
            .expect("every job ran")
    };

    // The reward model's own fit, with the rm-kl defaults.
    let data = Dataset::scenario("scenario1")?;
    let rm_fit = RmFit {
        steps: rm_default("rm_steps")? as usize,
        lr: rm_default("rm_lr")?,
        l2: rm_default("rm_l2")?,
        beta: rm_default("beta")?,
    };
    let fit = reward_model::fit_reward_model(&data, rm_fit.steps, rm_fit.lr, rm_fit.l2);
    let contrast = contrast_facts(&t, &data, &fit, rm_fit.beta, &done)?;
    let figure = COMPARED
        .iter()
        .map(|m| {
            let at = |sc: &str| {
                let r = &find(sc, m.name).result.summary;
                (r.degradation, r.final_avg_chosen)
            };
            FigureRuns {
                method: m.name.into(),
                params: find("scenario1", m.name).config.loss.params.clone(),
                runs: [at("scenario1"), at(&second.scenario)],
            }
        })
        .collect();
    let facts = ZooFacts {
        sweep: SWEEP.into(),
        n_runs: t.rows.len(),
        n_losses: loss::LOSSES.len(),
        objectives: objective::OBJECTIVES
            .iter()
            .map(|o| o.name.to_string())
            .collect(),
        notes: notes(&t, &rows, &params)?,
        setting: RunSetting::of(&find("scenario1", "dpo").config)?,
        second: second.scenario.clone(),
        second_is_worst: second == worst,
        second_degradation: second.degradation.mean,
        figure,
        rm_fit,
        contrast,
        rows: rows.clone(),
        params,
        runs: done,
        fit: Some(fit),
    };
    write_facts(&out_dir.join("loss-zoo"), &facts)?;
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::metrics::{MetricsRow, Summary};
    use crate::engine::reference::ReferenceFit;

    const HEADER: &str =
        "run_id,loss,data.scenario,seed,drop,degradation,dispersion,peak_avg_chosen,\
final_avg_chosen,final_avg_unseen,final_avg_optimal,diverged";

    /// A runs table from `(loss, scenario, seed, drop, degradation,
    /// dispersion, final chosen, final unseen, diverged)`.
    #[allow(clippy::type_complexity)]
    fn table(rows: &[(&str, &str, u32, f64, f64, f64, f64, f64, bool)]) -> RunsTable {
        RunsTable {
            header: HEADER.split(',').map(String::from).collect(),
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    vec![
                        i.to_string(),
                        r.0.into(),
                        r.1.into(),
                        r.2.to_string(),
                        r.3.to_string(),
                        r.4.to_string(),
                        r.5.to_string(),
                        "0.6".into(),
                        r.6.to_string(),
                        r.7.to_string(),
                        // No optimal probability for scenario 9 (a custom data set).
                        if r.1 == "scenario9" {
                            String::new()
                        } else {
                            "0.5".into()
                        },
                        r.8.to_string(),
                    ]
                })
                .collect(),
        }
    }

    fn sample() -> RunsTable {
        table(&[
            // Listed out of registry order on purpose: rm-kl, then dpo.
            ("rm-kl", "scenario2", 0, 6.0, 0.0, 0.0, 1.0, 0.0, false),
            ("rm-kl", "scenario1", 0, 7.0, 0.0, 0.0, 1.0, 0.0, false),
            ("dpo", "scenario2", 0, 60.0, 0.6, 0.05, 0.3, 0.09, false),
            ("dpo", "scenario2", 1, 70.0, 0.4, 0.03, 0.25, 0.09375, true),
            ("dpo", "scenario1", 0, 65.0, 0.5, 0.04, 0.25, 0.09375, false),
            ("dpo", "scenario1", 1, 65.0, 0.3, 0.02, 0.3, 0.08, false),
            (
                "flex-dpo",
                "scenario1",
                0,
                65.0,
                0.5,
                0.04,
                0.25,
                0.09375,
                false,
            ),
            (
                "flex-dpo",
                "scenario1",
                1,
                65.0,
                0.3,
                0.02 * (1.0 + 1e-9),
                0.3,
                0.08,
                false,
            ),
            (
                "robust-dpo",
                "scenario1",
                0,
                2.0e6,
                0.55,
                0.04,
                0.25,
                0.09375,
                false,
            ),
            (
                "sppo-hard",
                "scenario1",
                0,
                2.1715,
                0.0,
                0.0,
                1.0,
                0.0,
                false,
            ),
            (
                "sppo-hard",
                "scenario2",
                0,
                2.1716,
                0.0,
                0.0,
                1.0,
                0.0,
                false,
            ),
            (
                "apo-down",
                "scenario2",
                0,
                130.0,
                1.0,
                0.0175,
                1e-60,
                0.1,
                false,
            ),
            (
                "apo-down",
                "scenario1",
                0,
                77.0,
                0.03,
                0.001,
                0.25,
                0.09375,
                false,
            ),
            ("ipo", "scenario9", 0, 1.5, 0.04, 0.004, 0.4, 0.07, false),
        ])
    }

    fn params() -> BTreeMap<String, BTreeMap<String, f64>> {
        let mut p = BTreeMap::new();
        for (m, kv) in [
            ("dpo", vec![("beta", 0.1)]),
            ("flex-dpo", vec![("beta_minus", 0.1), ("beta_plus", 0.1)]),
            ("robust-dpo", vec![("beta", 0.1), ("epsilon", 0.1)]),
            ("sppo-hard", vec![("beta", 0.1)]),
            ("apo-down", vec![("beta", 0.1)]),
            ("ipo", vec![("tau", 0.1)]),
            ("rm-kl", vec![("beta", 0.1), ("rm_steps", 2000.0)]),
        ] {
            p.insert(
                m.to_string(),
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            );
        }
        p
    }

    #[test]
    fn rows_follow_the_registry_and_scenario_order() {
        let rows = score_rows(&sample()).unwrap();
        let order: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.method.as_str(), r.scenario.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("dpo", "scenario1"),
                ("dpo", "scenario2"),
                ("flex-dpo", "scenario1"),
                ("ipo", "scenario9"),
                ("robust-dpo", "scenario1"),
                ("apo-down", "scenario1"),
                ("apo-down", "scenario2"),
                ("sppo-hard", "scenario1"),
                ("sppo-hard", "scenario2"),
                ("rm-kl", "scenario1"),
                ("rm-kl", "scenario2"),
            ]
        );
        let d2 = row(&rows, "dpo", "scenario2").unwrap();
        assert_eq!(d2.n(), 2);
        assert!((d2.degradation.mean - 0.5).abs() < 1e-12);
        assert!((d2.degradation.sd - 0.1).abs() < 1e-12);
        assert_eq!(d2.diverged, 1);
        assert_eq!(d2.final_optimal.map(|s| s.mean), Some(0.5));
        // An empty optimal-probability cell: no statistic rather than an error.
        assert_eq!(row(&rows, "ipo", "scenario9").unwrap().final_optimal, None);
    }

    #[test]
    fn worst_free_and_ranked() {
        let rows = score_rows(&sample()).unwrap();
        assert_eq!(worst_scenario(&rows, "dpo").unwrap().scenario, "scenario2");
        assert!(worst_scenario(&rows, "nca").is_none());
        // ipo: 0.04 < 0.05 and 0.004 < 0.005; sppo-hard and rm-kl: zeros;
        // apo-down fails in scenario 2.
        assert_eq!(free_methods(&rows), ["ipo", "sppo-hard", "rm-kl"]);
        let deg = ranked(&rows, |r| r.degradation.mean);
        assert_eq!(deg[0], ("apo-down", 1.0, "scenario2"));
        assert_eq!(deg[1].0, "robust-dpo");
        assert_eq!(deg.len(), methods(&rows).len());
    }

    #[test]
    fn notes_are_computed_from_the_rows() {
        let t = sample();
        let rows = score_rows(&t).unwrap();
        let n = notes(&t, &rows, &params()).unwrap();
        assert_eq!((n.n_scenarios, n.n_methods), (3, 7));
        assert_eq!(n.free, ["ipo", "sppo-hard", "rm-kl"]);
        let most: Vec<(&str, &str)> = n
            .most_degradation
            .iter()
            .map(|r| (r.method.as_str(), r.scenario.as_str()))
            .collect();
        assert_eq!(
            most[..2],
            [("apo-down", "scenario2"), ("robust-dpo", "scenario1")]
        );
        assert_eq!(n.least_drop.len(), 3);
        assert_eq!(
            n.diverged,
            [Diverged {
                method: "dpo".into(),
                scenario: "scenario2".into(),
                diverged: 1,
                runs: 2
            }]
        );
        // Robust DPO: unbounded drop, and its loss has no lower bound:
        // f ≈ -ε βΔ/(1-2ε) = -0.125 βΔ, ∂f/∂l- → βε/(1-2ε) = 0.0125.
        assert_eq!(n.largest_drop.as_ref().unwrap().method, "robust-dpo");
        let u = &n.unbounded[0];
        assert_eq!((u.method.as_str(), u.drop), ("robust-dpo", 2.0e6));
        let b = u.no_lower_bound.as_ref().unwrap();
        for (v, want) in b.values.iter().zip([-1.25, -12.5, -125.0]) {
            assert!((v - want).abs() < 1e-3 * want.abs(), "{v}");
        }
        assert!((b.d_minus - 0.0125).abs() < 1e-6, "{}", b.d_minus);
        assert_eq!(u.scenario1, Some((0.55, 0.04)));
        assert_eq!(n.lost.len(), 1);
        assert_eq!(n.lost[0].method, "apo-down");
        assert_eq!(n.lost[0].scenarios, ["scenario2"]);
        let flex = n.flex_is_dpo.as_ref().unwrap();
        assert_eq!(flex.beta, 0.1);
        assert!(flex.max_rel_diff > 0.0 && flex.max_rel_diff < 2e-9);
        assert_eq!(flex.figure_beta_minus, Some(0.05));
        // SPPO-hard's r- target: 1/(2β ln 10) = 5/ln 10 = 2.171 orders.
        let c = &n.constant_drop[0];
        assert_eq!(c.method, "sppo-hard");
        let (nats, orders) = c.target.unwrap();
        assert!((nats + 5.0).abs() < 1e-12 && (orders - 2.1715).abs() < 1e-4);
    }

    #[test]
    fn rel_diff_and_collapse_signature() {
        let t = sample();
        let d = max_rel_diff(&t, "flex-dpo", "dpo").unwrap().unwrap();
        assert!(d > 0.0 && d < 2e-9, "{d}");
        assert_eq!(max_rel_diff(&t, "nca", "dpo").unwrap(), None);
        let data = Dataset::scenario("scenario1").unwrap();
        // 1/4 chosen and 3/32 unseen: dpo seed 0 and robust-dpo have it.
        assert_eq!(
            collapse_signatures(&t, "dpo", "scenario1", &data).unwrap(),
            (1, 2)
        );
        assert_eq!(
            collapse_signatures(&t, "robust-dpo", "scenario1", &data).unwrap(),
            (1, 1)
        );
    }

    fn run_with(final_probs: &[[f64; 3]]) -> RunResult {
        let logp: Vec<f64> = final_probs.iter().flatten().map(|p| p.ln()).collect();
        RunResult {
            n_prompts: final_probs.len(),
            n_responses: 3,
            metrics: Vec::new(),
            snapshots: vec![(0, vec![(1.0f64 / 3.0).ln(); logp.len()]), (10, logp)],
            logit_snapshots: Vec::new(),
            ref_logp: Vec::new(),
            reference: ReferenceFit {
                steps: 0,
                max_abs_err: 0.0,
                converged: true,
            },
            summary: Summary::default(),
        }
    }

    #[test]
    fn collapse_needs_one_shared_response() {
        let r = run_with(&[[0.995, 0.004, 0.001], [0.999, 0.0005, 0.0005]]);
        let (a, least) = collapsed(&r).unwrap();
        assert_eq!(a, 0);
        assert!((least - 0.995).abs() < 1e-12);
        // Different responses, or too little mass: no collapse.
        assert_eq!(
            collapsed(&run_with(&[[0.995, 0.004, 0.001], [0.001, 0.999, 0.0]])),
            None
        );
        assert_eq!(
            collapsed(&run_with(&[[0.9, 0.05, 0.05], [0.999, 0.0005, 0.0005]])),
            None
        );
    }

    #[test]
    fn growth_exponent_of_a_power_law() {
        let mut r = run_with(&[[1.0, 0.0, 0.0]]);
        r.metrics = (0..=100)
            .map(|e| MetricsRow {
                epoch: e,
                logp_avg_rejected: -((e as f64).powi(3)),
                ..MetricsRow::default()
            })
            .collect();
        assert!((growth_exponent(&r).unwrap() - 3.0).abs() < 1e-9);
    }

    #[test]
    fn bounded_and_unbounded_losses() {
        let dpo = loss_at_margins("dpo", &BTreeMap::new(), &[1e2, 1e3])
            .unwrap()
            .unwrap();
        // DPO: -log σ(βΔ) → 0 and its gradient → 0.
        assert!(dpo
            .iter()
            .all(|(v, g)| *v >= 0.0 && *v < 1e-4 && g.abs() < 1e-5));
        let rob = loss_at_margins("robust-dpo", &BTreeMap::new(), &[1e3, 1e4])
            .unwrap()
            .unwrap();
        assert!((rob[1].0 - rob[0].0 + 0.125 * 0.1 * 9e3).abs() < 1e-6);
        assert_eq!(
            loss_at_margins("kto", &BTreeMap::new(), &[1.0]).unwrap(),
            None
        );
    }

    #[test]
    fn compared_methods_are_registered_with_valid_parameters() {
        let names = registry_names();
        for m in COMPARED {
            assert!(names.contains(&m.name), "{}", m.name);
            let given = m.params.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            let (owner, specs) = objective::param_specs(m.name).unwrap();
            loss::resolve_param_list(owner, specs, &given).unwrap();
            for k in m.show {
                assert!(
                    specs.iter().any(|p| p.name == *k),
                    "{} has no `{k}`",
                    m.name
                );
            }
        }
    }
}
