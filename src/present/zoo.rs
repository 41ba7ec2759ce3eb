//! The loss zoo in the report (issue 4, item 4): every registered loss and
//! objective on every scenario, and the reward-model path against DPO.
//!
//! [`zoo_figures`] runs `experiments/sweeps/all-losses.toml` (every name of
//! [`crate::maths::loss::LOSSES`] and [`crate::maths::objective::OBJECTIVES`] × the four
//! scenarios × 8 seeds on the paper's MLP), trains single seed-0 runs of
//! `experiments/fig2.toml` with `[loss]` and `data.scenario` replaced, draws
//! `loss-zoo` and `reward-model` (PNG + SVG) and returns the Markdown for
//! `REPORT.md`. Every number in that Markdown is computed here from the runs.

use crate::analysis::runs::{RunsTable, Stat};
use crate::engine::train::{train, Keep, RunResult};
use crate::error::{Error, Result};
use crate::io::config::{Config, LossConfig};
use crate::io::sweep::{run_for_report, Sweep};
use crate::maths::data::{scenario_title, Dataset, SCENARIOS};
use crate::maths::loss::{self, LogProbs};
use crate::maths::objective::{self, reward_model};
use crate::present::plots::zoo as fig;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write;
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
    pub name: &'static str,
    pub params: &'static [(&'static str, f64)],
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

/// How a method is written in figures and the report.
pub fn display_name(name: &str) -> &str {
    match name {
        "dpo" => "DPO",
        "flex-dpo" => "Flex-DPO",
        "sft-dpo" => "SFT-DPO",
        "ipo" => "IPO",
        "slic" => "SLiC",
        "cdpo" => "cDPO",
        "robust-dpo" => "robust DPO",
        "hinge" => "hinge",
        "dpop" => "DPOP",
        "nca" => "NCA",
        "apo-zero" => "APO-zero",
        "apo-down" => "APO-down",
        "sppo-hard" => "SPPO-hard",
        "bco-pair" => "BCO-pair",
        "simpo" => "SimPO",
        "cpo" => "CPO",
        "orpo" => "ORPO",
        "sft" => "SFT",
        "kto" => "KTO",
        "rm-kl" => "RM path",
        other => other,
    }
}

fn symbol(param: &str) -> &str {
    match param {
        "beta" => "β",
        "beta_plus" => "β+",
        "beta_minus" => "β−",
        "gamma" => "γ",
        "tau" => "τ",
        "delta" => "δ",
        "eta" => "η",
        "epsilon" => "ε",
        "lambda" => "λ",
        "lambda_d" => "λ_D",
        "lambda_u" => "λ_U",
        "rm_steps" => "RM steps",
        "rm_lr" => "RM lr",
        "rm_l2" => "RM L2",
        other => other,
    }
}

/// `v` to at most 4 significant digits without trailing zeros.
pub fn num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    if v.abs() >= 1e5 || v.abs() < 1e-3 {
        return format!("{v:.1e}");
    }
    let d = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.d$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `mean ± sd` with `digits` decimals, in scientific notation when the
/// mean is at least 1e4 (robust DPO's drop).
pub fn pm(s: &Stat, digits: usize) -> String {
    if s.mean.abs() >= 1e4 {
        format!("{:.2e} ± {:.1e}", s.mean, s.sd)
    } else {
        s.pm(digits)
    }
}

/// `params` in the order of the method's parameter list (unknown names last).
pub fn ordered_params(name: &str, params: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let order: Vec<&str> = objective::param_specs(name)
        .map(|(_, specs)| specs.iter().map(|p| p.name).collect())
        .unwrap_or_default();
    let mut v: Vec<(String, f64)> = params.iter().map(|(k, v)| (k.clone(), *v)).collect();
    v.sort_by_key(|(k, _)| order.iter().position(|o| o == k).unwrap_or(usize::MAX));
    v
}

/// `name (p1 = v1, ...)` with the named parameters of `params`.
pub fn label(name: &str, params: &BTreeMap<String, f64>, show: &[&str]) -> String {
    let shown: Vec<String> = show
        .iter()
        .filter_map(|k| {
            params
                .get(*k)
                .map(|v| format!("{} = {}", symbol(k), num(*v)))
        })
        .collect();
    if shown.is_empty() {
        display_name(name).to_string()
    } else {
        format!("{} ({})", display_name(name), shown.join(", "))
    }
}

/// The statistics over seeds of one method on one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    pub method: String,
    pub scenario: String,
    pub drop: Stat,
    pub degradation: Stat,
    pub dispersion: Stat,
    pub peak_chosen: Stat,
    pub final_chosen: Stat,
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

/// `v` as `1e-7`: its order of magnitude in scientific notation.
pub fn sci(v: f64) -> String {
    format!("{v:.0e}")
}

/// `s` with its first letter in upper case (a method name opening a sentence).
pub fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// "a, b and c" (or "none").
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => "none".into(),
        [one] => one.as_ref().into(),
        [init @ .., last] => format!(
            "{} and {}",
            init.iter()
                .map(|s| s.as_ref())
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

fn scenario_number(s: &str) -> String {
    s.strip_prefix("scenario")
        .map_or_else(|| s.to_string(), |n| n.to_string())
}

/// The D-score table: one line per method and scenario, in the order of
/// `rows`; `params` (per method, its parameters in the sweep) labels the
/// first line of each method.
pub fn table_markdown(
    rows: &[ScoreRow],
    params: &BTreeMap<String, BTreeMap<String, f64>>,
) -> String {
    let with_optimal = rows.iter().any(|r| r.final_optimal.is_some());
    let mut s = String::new();
    let w = &mut s;
    write!(
        w,
        "| method | scenario | drop | degradation | dispersion | peak avg chosen |"
    )
    .ok();
    if with_optimal {
        write!(w, " final optimal prob |").ok();
    }
    writeln!(w, " diverged |").ok();
    writeln!(
        w,
        "|---|---|---|---|---|---|{}---|",
        if with_optimal { "---|" } else { "" }
    )
    .ok();
    let mut last = "";
    for r in rows {
        let name = if r.method == last {
            String::new()
        } else {
            let shown: Vec<String> = params
                .get(&r.method)
                .map(|p| {
                    ordered_params(&r.method, p)
                        .iter()
                        .map(|(k, v)| format!("{} = {}", symbol(k), num(*v)))
                        .collect()
                })
                .unwrap_or_default();
            if shown.is_empty() {
                format!("**{}**", display_name(&r.method))
            } else {
                format!("**{}** ({})", display_name(&r.method), shown.join(", "))
            }
        };
        last = &r.method;
        write!(
            w,
            "| {name} | {} | {} | {} | {} | {} |",
            scenario_number(&r.scenario),
            pm(&r.drop, 1),
            pm(&r.degradation, 3),
            pm(&r.dispersion, 4),
            pm(&r.peak_chosen, 3)
        )
        .ok();
        if with_optimal {
            match &r.final_optimal {
                Some(o) => write!(w, " {} |", pm(o, 3)),
                None => write!(w, " – |"),
            }
            .ok();
        }
        writeln!(w, " {}/{} |", r.diverged, r.n()).ok();
    }
    s
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

/// A method whose mean drop exceeds [`HUGE_DROP`] orders of magnitude.
#[derive(Debug, Clone, PartialEq)]
pub struct UnboundedDrop {
    /// The method (loss or objective name).
    pub method: String,
    /// Its largest mean drop over the scenarios.
    pub drop: f64,
    /// For a pairwise loss whose value falls by more than 1 between margins
    /// of 100, 1000 and 10000 nats: the value and `∂f/∂l-` at each.
    pub no_lower_bound: Option<[(f64, f64); 3]>,
    /// Its mean degradation and dispersion on scenario 1, and DPO's.
    pub scenario1: Option<[(f64, f64); 2]>,
}

/// A method whose chosen responses end near probability 0.
#[derive(Debug, Clone, PartialEq)]
pub struct LostChosen {
    /// The method (loss or objective name).
    pub method: String,
    /// The scenarios (mean degradation > 0.9 and mean final average chosen
    /// below 1e-3) and the mean degradation in each.
    pub scenarios: Vec<(String, f64)>,
    /// The largest final average chosen probability of any of their runs.
    pub worst_final: f64,
}

/// Flex-DPO run at `β− = β+`, where it is DPO.
#[derive(Debug, Clone, PartialEq)]
pub struct FlexIsDpo {
    /// Its `β+ = β−`.
    pub beta: f64,
    /// The largest relative difference of its D-scores from DPO's, run by run.
    pub max_rel_diff: f64,
    /// The `β−` the comparison figure uses instead.
    pub figure_beta_minus: Option<f64>,
}

/// A method whose drop is the same (within 0.01) in every run.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstantDrop {
    /// The method (loss or objective name).
    pub method: String,
    /// The smallest and the largest drop of any of its runs.
    pub lo: f64,
    /// See `lo`.
    pub hi: f64,
    /// SPPO-hard's target for `r-`: `-1/(2β)` nats and `1/(2β ln 10)` orders.
    pub target: Option<(f64, f64)>,
}

/// What [`sweep_notes`] says, as numbers: computed from the rows, rendered
/// by [`sweep_notes_markdown`].
#[derive(Debug, Clone, PartialEq)]
pub struct SweepFacts {
    /// Scenarios in the sweep.
    pub n_scenarios: usize,
    /// Methods in the sweep.
    pub n_methods: usize,
    /// Runs in the sweep.
    pub n_runs: usize,
    /// [`free_methods`].
    pub free: Vec<String>,
    /// Per method, its largest mean degradation, dispersion and drop over
    /// the scenarios and where it occurs, largest first ([`ranked`]).
    pub degradation: Vec<(String, f64, String)>,
    /// See `degradation`.
    pub dispersion: Vec<(String, f64, String)>,
    /// See `degradation`.
    pub drop: Vec<(String, f64, String)>,
    /// `(method, scenario, diverged runs, runs)` where any run diverged.
    pub diverged: Vec<(String, String, usize, usize)>,
    /// Methods with an unbounded drop, largest first.
    pub unbounded: Vec<UnboundedDrop>,
    /// Methods that lose their chosen responses, in method order.
    pub lost_chosen: Vec<LostChosen>,
    /// Flex-DPO at `β− = β+`, when the sweep runs it so.
    pub flex_is_dpo: Option<FlexIsDpo>,
    /// Methods whose drop is the same in every run, in method order.
    pub constant_drop: Vec<ConstantDrop>,
}

fn owned(v: Vec<(&str, f64, &str)>) -> Vec<(String, f64, String)> {
    v.into_iter()
        .map(|(m, x, s)| (m.to_string(), x, s.to_string()))
        .collect()
}

/// The facts of [`sweep_notes`]: who is free of degradation and dispersion,
/// who shows the most, drop, divergence, and the anomalies (an unbounded
/// drop, a loss that lowers the chosen response by design, a remedy that
/// equals DPO at its defaults, a drop the same in every run).
pub fn sweep_facts(
    t: &RunsTable,
    rows: &[ScoreRow],
    params: &BTreeMap<String, BTreeMap<String, f64>>,
) -> Result<SweepFacts> {
    let n_scenarios = {
        let mut v: Vec<&str> = rows.iter().map(|r| r.scenario.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    let empty = BTreeMap::new();
    let p_of = |m: &str| params.get(m).unwrap_or(&empty);
    let drop = owned(ranked(rows, |r| r.drop.mean));
    let mut unbounded = Vec::new();
    for (m, x, _) in drop.iter().filter(|x| x.1 > HUGE_DROP) {
        let no_lower_bound = match loss_at_margins(m, p_of(m), &[1e2, 1e3, 1e4])? {
            Some(v) if v.windows(2).all(|p| p[1].0 < p[0].0 - 1.0) => Some([v[0], v[1], v[2]]),
            _ => None,
        };
        let scenario1 = match (row(rows, "dpo", "scenario1"), row(rows, m, "scenario1")) {
            (Some(d), Some(r)) => Some([
                (r.degradation.mean, r.dispersion.mean),
                (d.degradation.mean, d.dispersion.mean),
            ]),
            _ => None,
        };
        unbounded.push(UnboundedDrop {
            method: m.clone(),
            drop: *x,
            no_lower_bound,
            scenario1,
        });
    }
    let mut lost_chosen = Vec::new();
    for m in methods(rows) {
        let lost: Vec<&ScoreRow> = rows_of(rows, m)
            .filter(|r| r.degradation.mean > 0.9 && r.final_chosen.mean < 1e-3)
            .collect();
        if lost.is_empty() {
            continue;
        }
        lost_chosen.push(LostChosen {
            method: m.to_string(),
            scenarios: lost
                .iter()
                .map(|r| (r.scenario.clone(), r.degradation.mean))
                .collect(),
            worst_final: lost
                .iter()
                .map(|r| r.final_chosen.max)
                .fold(f64::NEG_INFINITY, f64::max),
        });
    }
    let mut flex_is_dpo = None;
    if let (Some(p), true) = (
        params.get("flex-dpo"),
        t.rows
            .iter()
            .any(|r| r[t.col("loss").unwrap_or(0)] == "flex-dpo"),
    ) {
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
        let target = match (m, p_of(m).get("beta")) {
            ("sppo-hard", Some(&b)) => Some((-0.5 / b, 0.5 / b / std::f64::consts::LN_10)),
            _ => None,
        };
        constant_drop.push(ConstantDrop {
            method: m.to_string(),
            lo,
            hi,
            target,
        });
    }
    Ok(SweepFacts {
        n_scenarios,
        n_methods: methods(rows).len(),
        n_runs: rows.iter().map(ScoreRow::n).sum(),
        free: free_methods(rows).iter().map(|m| m.to_string()).collect(),
        degradation: owned(ranked(rows, |r| r.degradation.mean)),
        dispersion: owned(ranked(rows, |r| r.dispersion.mean)),
        drop,
        diverged: rows
            .iter()
            .filter(|r| r.diverged > 0)
            .map(|r| (r.method.clone(), r.scenario.clone(), r.diverged, r.n()))
            .collect(),
        unbounded,
        lost_chosen,
        flex_is_dpo,
        constant_drop,
    })
}

/// The sentences of the report that come from the sweep alone
/// ([`sweep_facts`], rendered by [`sweep_notes_markdown`]).
pub fn sweep_notes(
    t: &RunsTable,
    rows: &[ScoreRow],
    params: &BTreeMap<String, BTreeMap<String, f64>>,
) -> Result<String> {
    Ok(sweep_notes_markdown(&sweep_facts(t, rows, params)?))
}

/// The Markdown bullets of `f`.
pub fn sweep_notes_markdown(f: &SweepFacts) -> String {
    let mut s = String::new();
    let w = &mut s;
    let names =
        |v: &[String]| -> Vec<String> { v.iter().map(|m| display_name(m).to_string()).collect() };
    writeln!(
        w,
        "- **No degradation or dispersion** (mean degradation < {NO_DEGRADATION} and mean dispersion < \
{NO_DISPERSION} in all {} scenarios): {} — {} of the {} methods.",
        f.n_scenarios,
        list(&names(&f.free)),
        f.free.len(),
        f.n_methods
    )
    .ok();
    let fmt_rank = |v: &[(String, f64, String)], digits: usize, k: usize| -> String {
        list(
            &v.iter()
                .take(k)
                .map(|(m, x, sc)| {
                    format!(
                        "{} ({x:.digits$} in scenario {})",
                        display_name(m),
                        scenario_number(sc)
                    )
                })
                .collect::<Vec<_>>(),
        )
    };
    writeln!(
        w,
        "- **Most degradation** (largest mean over seeds in any scenario): {}. **Most dispersion**: {}.",
        fmt_rank(&f.degradation, 3, 4),
        fmt_rank(&f.dispersion, 4, 4)
    )
    .ok();
    let least_drop: Vec<&(String, f64, String)> = f.drop.iter().rev().collect();
    let bounded: Vec<String> = least_drop
        .iter()
        .take(3)
        .map(|(m, x, _)| format!("{} (at most {x:.2})", display_name(m)))
        .collect();
    let below_one: Vec<String> = least_drop
        .iter()
        .filter(|x| x.1 < 1.0)
        .map(|x| x.0.clone())
        .collect();
    writeln!(
        w,
        "- **Drop**: {}; the smallest drops are {}{}.",
        if below_one.is_empty() {
            "every method lowers the average rejected probability by at least one order of magnitude in every scenario"
                .to_string()
        } else {
            format!("below one order of magnitude everywhere: {}", list(&names(&below_one)))
        },
        list(&bounded),
        match f.drop.first() {
            Some((m, x, _)) if *x > HUGE_DROP => format!(
                "; the largest is {}'s, {} orders (see below)",
                display_name(m),
                num(*x)
            ),
            _ => String::new(),
        }
    )
    .ok();
    let diverged: Vec<String> = f
        .diverged
        .iter()
        .map(|(m, sc, k, n)| {
            format!(
                "{} in scenario {} ({k}/{n})",
                display_name(m),
                scenario_number(sc)
            )
        })
        .collect();
    writeln!(
        w,
        "- **Divergence**: {}.",
        if diverged.is_empty() {
            format!("none of the {} runs diverged", f.n_runs)
        } else {
            format!("runs diverged for {}", list(&diverged))
        }
    )
    .ok();

    // Anomalies.
    for u in &f.unbounded {
        let x = u.drop;
        let order = x.log10().floor();
        let mut line = format!(
            "- **{}'s drop is unbounded**: {} orders of magnitude at most (order 10^{order:.0}), so its average \
rejected probability ends near 10^(−{}), far below anything f64 can hold as a probability (its log is kept).",
            capitalised(display_name(&u.method)),
            num(x),
            num(x)
        );
        if let Some(v) = u.no_lower_bound {
            line.push_str(&format!(
                " Its loss has no lower bound in the margin: at Δ = r+ − r− = 100, 1000, 10000 nats it is {}, {}, {}, \
and ∂f/∂l− tends to {} rather than 0, so the optimiser never stops pushing the rejected log-probability down \
(DPO's gradient vanishes as Δ grows).",
                num(v[0].0).replace('-', "−"),
                num(v[1].0).replace('-', "−"),
                num(v[2].0).replace('-', "−"),
                num(v[2].1)
            ));
        }
        if let Some([r, d]) = u.scenario1 {
            line.push_str(&format!(
                " On scenario 1 its degradation is {:.3} and its dispersion {:.4} (DPO: {:.3} and {:.4}).",
                r.0, r.1, d.0, d.1
            ));
        }
        writeln!(w, "{line}").ok();
    }
    for l in &f.lost_chosen {
        let scen: Vec<String> = l.scenarios.iter().map(|r| scenario_number(&r.0)).collect();
        let mut line = format!(
            "- **{}** loses the chosen responses in scenario{} {}: degradation {}, final average chosen probability \
at most {} in any run.",
            capitalised(display_name(&l.method)),
            if scen.len() > 1 { "s" } else { "" },
            list(&scen),
            list(
                &l.scenarios
                    .iter()
                    .map(|r| format!("{:.3}", r.1))
                    .collect::<Vec<_>>()
            ),
            num(l.worst_final)
        );
        if l.method == "apo-down" {
            line.push_str(
                " This is by design: its anchor term σ(β r+) is minimised by lowering the chosen log-ratio below the \
reference's (APO-down is meant for chosen responses worse than the model's own outputs), and only the margin term \
holds it back.",
            );
        }
        writeln!(w, "{line}").ok();
    }
    if let Some(x) = &f.flex_is_dpo {
        let d = x.max_rel_diff;
        writeln!(
            w,
            "- **Flex-DPO** runs at its default β− = β+ = {} in this sweep, where it *is* DPO: its D-scores \
match DPO's run by run to a relative {} (the two compute the margin βΔ in a different order, and thousands of \
Adam steps amplify last-bit differences). The remedy needs β− < β+: the figure uses \
β− = {}, and `flex-dpo.toml` maps the range.",
            num(x.beta),
            if d == 0.0 { "0".into() } else { format!("{d:.0e}") },
            x.figure_beta_minus.map_or_else(|| "?".into(), num)
        )
        .ok();
    }
    for c in &f.constant_drop {
        let mut line = format!(
            "- **{}**'s drop is {:.3}–{:.3} orders in every run of every scenario",
            capitalised(display_name(&c.method)),
            c.lo,
            c.hi
        );
        match c.target {
            Some((nats, orders)) => line.push_str(&format!(
                ": it regresses each rejected log-ratio r− onto −1/(2β) = {} nats, which is 1/(2β ln 10) = {:.3} \
orders of magnitude below the reference, and gets there.",
                num(nats).replace('-', "−"),
                orders
            )),
            None => line.push('.'),
        }
        writeln!(w, "{line}").ok();
    }
    s
}

/// What the single seed-0 runs and the reward-model fit add to the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Contrast {
    /// `(step 0, last step)` mean over pairs of `|∂R/∂r+|`.
    pub rm_grad_start: f64,
    pub rm_grad_end: f64,
    /// Max over steps and pairs of `||∂R/∂r+| − |∂R/∂r−||`.
    pub rm_grad_imbalance: f64,
    /// Fit steps.
    pub rm_steps: usize,
    /// Mean over pairs of the fitted margin `r+ − r−` and `σ(margin)`.
    pub rm_margin: f64,
    pub rm_preference: f64,
    /// `log10(|∂ℓ/∂π−| / |∂ℓ/∂π+|)` at epoch 0 and at the end of the DPO run.
    pub dpo_log_ratio: (f64, f64),
    /// The same for the RM path's policy objective.
    pub rm_log_ratio: (f64, f64),
    /// Average chosen probability of the closed-form optimum
    /// `π* ∝ π0 exp(r/β)` and its drop (orders of magnitude of the average
    /// rejected probability below the reference's).
    pub optimum_avg_chosen: f64,
    pub optimum_drop: f64,
    /// Mean over prompts of the total variation between the RM run's final
    /// policy and `π*`.
    pub rm_tv: f64,
    /// Pairs and responses of scenario 1 (for the collapse fractions).
    pub n_pairs: usize,
    pub n_responses: usize,
    /// The RM path's seed-0 run: final average chosen and its drop.
    pub rm_final_chosen: f64,
    pub rm_drop: f64,
    /// Final average rejected probability of the RM run and of `π*`.
    pub rm_final_rejected: f64,
    pub optimum_avg_rejected: f64,
    /// First epoch at which its average chosen reaches 0.99, if it does.
    pub rm_epoch_99: Option<usize>,
    /// DPO's seed-0 run: peak average chosen, its epoch, final.
    pub dpo_peak: (f64, usize),
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
    /// The figure's runs: the second row's scenario and, per method, its
    /// legend label and the degradation and final average chosen
    /// probability on scenario 1 and on that scenario.
    pub second: String,
    pub figure: Vec<(String, [(f64, f64); 2])>,
}

impl Contrast {
    /// Orders of magnitude `|∂ℓ/∂π−| / |∂ℓ/∂π+|` grows over the DPO run.
    pub fn dpo_growth(&self) -> f64 {
        self.dpo_log_ratio.1 - self.dpo_log_ratio.0
    }

    /// The same for the RM path's policy objective; `None` when it changes
    /// by less than 0.05 orders ("no change").
    pub fn rm_growth(&self) -> Option<f64> {
        let g = self.rm_log_ratio.1 - self.rm_log_ratio.0;
        (g.abs() >= 0.05).then_some(g)
    }

    /// When every prompt ends on one prompt's chosen response (`P` pairs on
    /// distinct prompts, `Y` responses): the average chosen probability is
    /// `1/P`, the average unseen `(P − 1)/(P (Y − 2))`, and `P − 1` chosen
    /// responses are gone. Returns `(P, (P − 1, P (Y − 2)), P − 1)`.
    pub fn collapse_averages(&self) -> (usize, (usize, usize), usize) {
        let p = self.n_pairs;
        (p, (p - 1, p * (self.n_responses - 2)), p - 1)
    }
}

/// The RM path vs DPO paragraph and the collapse note.
pub fn contrast_markdown(rows: &[ScoreRow], c: &Contrast) -> String {
    let mut s = String::new();
    let w = &mut s;
    let (dpo, rm) = (
        row(rows, "dpo", "scenario1"),
        row(rows, "rm-kl", "scenario1"),
    );
    if let (Some(d), Some(r)) = (dpo, rm) {
        writeln!(
            w,
            "\n**The reward-model path against DPO on scenario 1.** Over the sweep's seeds, the RM path's average \
chosen probability peaks at {} and ends at {} (degradation {}), its drop is {} orders and its dispersion {}; DPO's \
peaks at {}, ends at {} (degradation {}), with a drop of {} orders and dispersion {}. In the figure's seed-0 runs \
DPO's chosen curve peaks at {:.3} at epoch {} and ends at {:.3}, while the RM path's {} and ends at {:.4}. The RM \
path has a fixed target: the closed-form optimum π*(a|x) ∝ π0(a|x) exp(r(x,a)/β) of the fitted reward puts {:.4} \
on the chosen responses on average, with a drop of {:.2} orders; the run ends within a mean total variation of {} of π* \
per prompt, with a drop of {:.2}: its average rejected probability, {}, is still falling towards the \
optimum's {}, slowly, because the logit gradient of a response carries its probability as a factor. DPO has no such target on separable pairs: its loss keeps falling \
as long as the rejected log-probabilities do, and nothing in it holds the chosen responses.",
            pm(&r.peak_chosen, 3),
            pm(&r.final_chosen, 3),
            pm(&r.degradation, 3),
            pm(&r.drop, 2),
            pm(&r.dispersion, 4),
            pm(&d.peak_chosen, 3),
            pm(&d.final_chosen, 3),
            pm(&d.degradation, 3),
            pm(&d.drop, 1),
            pm(&d.dispersion, 4),
            c.dpo_peak.0,
            c.dpo_peak.1,
            c.dpo_final_chosen,
            match c.rm_epoch_99 {
                Some(e) => format!("reaches 0.99 at epoch {e}"),
                None => "never reaches 0.99".into(),
            },
            c.rm_final_chosen,
            c.optimum_avg_chosen,
            c.optimum_drop,
            num(c.rm_tv),
            c.rm_drop,
            sci(c.rm_final_rejected),
            sci(c.optimum_avg_rejected),
        )
        .ok();
    }
    let dpo_growth = c.dpo_growth();
    writeln!(
        w,
        "\n**Balanced gradients (section 3.4).** The reward model's own gradients on chosen and rejected, \
∂R/∂r+ = −σ(−(r+ − r−)) and ∂R/∂r− = +σ(−(r+ − r−)) per pair, have equal magnitude at every one of its {} fit \
steps: the largest difference ||∂R/∂r+| − |∂R/∂r−|| over steps and pairs is {}. Both start at {} and shrink \
together to {} as the margin grows to {:.2} (preference probability {:.4}). DPO's policy gradients are not \
balanced: |∂ℓ/∂π−| / |∂ℓ/∂π+| is 10^{:.2} at epoch 0 and 10^{:.1} at the end, a growth of {:.1} orders of \
magnitude, because ∂ℓ/∂π− carries the factor 1/π− of a vanishing rejected probability. The RM path's policy \
gradients (with the reward fixed) go from a ratio of 10^{:.2} to 10^{:.2} ({} orders).",
        c.rm_steps,
        if c.rm_grad_imbalance == 0.0 {
            "exactly 0".to_string()
        } else {
            format!("{:.1e}", c.rm_grad_imbalance)
        },
        num(c.rm_grad_start),
        num(c.rm_grad_end),
        c.rm_margin,
        c.rm_preference,
        c.dpo_log_ratio.0,
        c.dpo_log_ratio.1,
        dpo_growth,
        c.rm_log_ratio.0,
        c.rm_log_ratio.1,
        match c.rm_growth() {
            None => "no change".to_string(),
            Some(g) => format!("{g:+.1}"),
        }
    )
    .ok();
    if !c.figure.is_empty() {
        writeln!(
            w,
            "\nIn the figure's seed-0 runs, degradation (final average chosen probability) on scenario 1 and on \
scenario {}: {}.",
            scenario_number(&c.second),
            c.figure
                .iter()
                .map(|(l, [a, b])| format!("{l} {:.3} ({:.3}) and {:.3} ({:.3})", a.0, a.1, b.0, b.1))
                .collect::<Vec<_>>()
                .join("; ")
        )
        .ok();
    }
    for (m, k) in &c.growth {
        writeln!(
            w,
            "\nIn {}'s seed-0 run on scenario 1, |log π−| grows like epoch^{k:.1} between the middle and the end of \
training: under Adam each weight keeps moving about one learning rate per step while its gradient keeps its sign, \
and the MLP's logits multiply three layers of such weights.",
            display_name(m)
        )
        .ok();
    }
    if !c.collapsed.is_empty() {
        let (p, (unseen_num, unseen_den), gone) = c.collapse_averages();
        let who: Vec<String> = c
            .collapsed
            .iter()
            .map(|(m, a, least)| {
                let sig = c
                    .signatures
                    .iter()
                    .find(|x| &x.0 == m)
                    .map(|x| format!("; in the sweep {} of its {} scenario-1 runs end with the same averages", x.1, x.2))
                    .unwrap_or_default();
                let whose = match c.chosen_of.get(*a).copied().flatten() {
                    Some(x) => format!("prompt {x}'s chosen response"),
                    None => "no prompt's chosen response".into(),
                };
                let deg = row(rows, m, "scenario1")
                    .map(|r| format!("; its mean degradation there is {:.3}", r.degradation.mean))
                    .unwrap_or_default();
                format!(
                    "{} (response {a}, {whose}; at least {:.4} on it{sig}{deg})",
                    display_name(m),
                    least
                )
            })
            .collect();
        writeln!(
            w,
            "\n**Collapse across prompts.** In the seed-0 runs on scenario 1, {} {} with every prompt putting at least \
{COLLAPSE_MASS} of its probability on one and the same response: {}. When that response is one prompt's chosen \
response, the average chosen probability sits at 1/{p} and the average unseen at {}/{} although {} of the {p} \
chosen responses are gone, so the average-based degradation can understate what happened: the MLP's shared \
parameters move every prompt together.",
            list(
                &c.collapsed
                    .iter()
                    .map(|x| display_name(&x.0).to_string())
                    .collect::<Vec<_>>()
            ),
            if c.collapsed.len() == 1 { "ends" } else { "end" },
            who.join("; "),
            unseen_num,
            unseen_den,
            gone,
        )
        .ok();
    }
    s
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

/// A short description of the shared settings of the single runs.
fn setting(c: &Config) -> String {
    let p = &c.policy;
    let mut policy = vec![];
    if let Some(w) = p.width {
        policy.push(format!("width {w}"));
    }
    if let Some(a) = &p.activation {
        policy.push(a.clone());
    }
    let optim = match c.optimizer.name.as_str() {
        "adam" => "Adam",
        "sgd" => "SGD",
        "rmsprop" => "RMSprop",
        other => other,
    };
    format!(
        "{} ({}) · {optim} (lr {}) · {} epochs · {} over pairs",
        p.kind.to_uppercase(),
        policy.join(", "),
        num(c.optimizer.lr),
        c.epochs,
        c.loss.reduction.as_deref().unwrap_or("sum")
    )
}

/// Runs `experiments/sweeps/all-losses.toml` into `out_dir/sweeps/all-losses`
/// (deleting old results first) and the seed-0 comparison runs, draws
/// `plots_dir/loss-zoo` and `plots_dir/reward-model` (PNG + SVG), and returns
/// the Markdown section for `REPORT.md`.
pub fn zoo_figures(plots_dir: &Path, out_dir: &Path) -> Result<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = out_dir.join("sweeps").join(SWEEP);
    let sweep = run_for_report(
        &root
            .join("experiments/sweeps")
            .join(format!("{SWEEP}.toml")),
        &dir,
        false,
    )?;
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
    let base = Config::load(&root.join("experiments/fig2.toml"))?;
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
    let done: Vec<(String, String, Config, RunResult)> = jobs
        .par_iter()
        .map(|(sc, name, p)| {
            let cfg = variant(&base, sc, name, p)?;
            let result = train(&cfg.build()?, Keep::ALL);
            Ok((sc.clone(), name.clone(), cfg, result))
        })
        .collect::<Result<_>>()?;
    eprintln!(
        "loss zoo: {} seed-0 runs in {:.1} s",
        done.len(),
        t1.elapsed().as_secs_f64()
    );
    let find = |sc: &str, name: &str| {
        done.iter()
            .find(|d| d.0 == sc && d.1 == name)
            .expect("every job ran")
    };

    // The comparison figure.
    let fig_rows: Vec<fig::ZooRow> = ["scenario1", second.scenario.as_str()]
        .iter()
        .map(|sc| {
            let title = if *sc == "scenario1" {
                scenario_title(sc).to_string()
            } else {
                format!(
                    "{} — DPO's {} (mean degradation {:.2})",
                    scenario_title(sc),
                    if second == worst {
                        "worst"
                    } else {
                        "worst besides scenario 1"
                    },
                    second.degradation.mean
                )
            };
            fig::ZooRow {
                title,
                methods: COMPARED
                    .iter()
                    .map(|m| {
                        let (_, _, cfg, run) = find(sc, m.name);
                        let mut label = label(m.name, &cfg.loss.params, m.show);
                        if m.name == "rm-kl" {
                            label = label.replace("RM path", "RM path: reward model + KL");
                        }
                        fig::Method {
                            name: m.name.into(),
                            label,
                            run,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    let dpo_cfg = &find("scenario1", "dpo").2;
    fig::loss_zoo(
        &plots_dir.join("loss-zoo"),
        &fig_rows,
        &format!(
            "Loss zoo · {} · seed 0 · scenario 1 and DPO's worst scenario ({})",
            setting(dpo_cfg),
            scenario_number(&second.scenario)
        ),
    )?;

    // The reward model's own fit, with the rm-kl defaults.
    let data = Dataset::scenario("scenario1")?;
    let steps = rm_default("rm_steps")?;
    let (rm_lr, rm_l2, beta) = (
        rm_default("rm_lr")?,
        rm_default("rm_l2")?,
        rm_default("beta")?,
    );
    let fit = reward_model::fit_reward_model(&data, steps as usize, rm_lr, rm_l2);
    let dpo = &find("scenario1", "dpo").3;
    let rm = &find("scenario1", "rm-kl").3;
    fig::reward_model(
        &plots_dir.join("reward-model"),
        &fit,
        dpo,
        rm,
        &format!(
            "Scenario 1 · balanced gradients of the reward model (tabular Bradley-Terry, {} GD steps, lr {}, L2 {}) \
vs the policy gradients (seed 0, β = {})",
            steps,
            num(rm_lr),
            num(rm_l2),
            num(beta)
        ),
    )?;

    let mut contrast = contrast_facts(&t, &data, &fit, beta, &done)?;
    contrast.second = second.scenario.clone();
    contrast.figure = COMPARED
        .iter()
        .map(|m| {
            let at = |sc: &str| {
                let r = &find(sc, m.name).3.summary;
                (r.degradation, r.final_avg_chosen)
            };
            let params = &find("scenario1", m.name).2.loss.params;
            (
                label(m.name, params, m.show),
                [at("scenario1"), at(&second.scenario)],
            )
        })
        .collect();
    let mut s = String::new();
    let w = &mut s;
    writeln!(w, "## Every loss on every scenario\n").ok();
    writeln!(
        w,
        "![Chosen, rejected and unseen curves of {} methods](loss-zoo.png)\n\n\
![The reward model's gradients against the policy gradients](reward-model.png)\n",
        COMPARED.len()
    )
    .ok();
    let n_seeds = rows.first().map_or(0, ScoreRow::n);
    writeln!(
        w,
        "`experiments/sweeps/{SWEEP}.toml`: all {} registered methods ({} pairwise losses, then {}) on the four \
scenarios, {n_seeds} seeds each, {} runs, on Figure 2's setting ({}); every method at its default parameters, \
listed in the table. The figure shows single seed-0 runs of `experiments/fig2.toml` with `[loss]` and \
`data.scenario` replaced, every epoch recorded (log-scale epochs, from epoch 1): scenario 1 and scenario {}, where \
DPO's mean degradation is highest{} ({:.3}); Flex-DPO there runs at β− = 0.05 < β+ = 0.1, the paper's remedy, \
and SFT-DPO at γ = 0.1. The reward model's gradients are from its own fit on scenario 1 with rm-kl's default \
parameters ({} steps, lr {}, L2 {}).\n",
        methods(&rows).len(),
        loss::LOSSES.len(),
        list(
            &objective::OBJECTIVES
                .iter()
                .map(|o| format!("`{}`", o.name))
                .collect::<Vec<_>>()
        ),
        t.rows.len(),
        setting(dpo_cfg),
        scenario_number(&second.scenario),
        if second == worst { "" } else { " after scenario 1" },
        second.degradation.mean,
        steps,
        num(rm_lr),
        num(rm_l2)
    )
    .ok();
    writeln!(w, "{}", table_markdown(&rows, &params)).ok();
    write!(w, "{}", sweep_notes(&t, &rows, &params)?).ok();
    write!(w, "{}", contrast_markdown(&rows, &contrast)).ok();
    writeln!(w).ok();
    Ok(s)
}

/// Gathers the [`Contrast`] numbers from the fit and the seed-0 runs.
fn contrast_facts(
    t: &RunsTable,
    data: &Dataset,
    fit: &reward_model::RewardFit,
    beta: f64,
    done: &[(String, String, Config, RunResult)],
) -> Result<Contrast> {
    let get = |name: &str| {
        done.iter()
            .find(|d| d.0 == "scenario1" && d.1 == name)
            .map(|d| &d.3)
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
        let Some(d) = done.iter().find(|d| d.0 == "scenario1" && d.1 == name) else {
            continue;
        };
        if let Some((a, least)) = crate::present::zoo::collapsed(&d.3) {
            collapsed.push((name.to_string(), a, least));
            let (hits, n) = collapse_signatures(t, name, "scenario1", data)?;
            signatures.push((name.to_string(), hits, n));
        }
        if d.3.summary.drop > HUGE_DROP {
            if let Some(k) = growth_exponent(&d.3) {
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
        rm_epoch_99: rm
            .metrics
            .iter()
            .find(|m| m.avg_chosen >= 0.99)
            .map(|m| m.epoch),
        dpo_peak: (dpo.summary.peak_avg_chosen, dpo.summary.peak_epoch),
        dpo_final_chosen: dpo.summary.final_avg_chosen,
        collapsed,
        signatures,
        chosen_of,
        growth,
        second: String::new(),
        figure: Vec::new(),
    })
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

    /// The cells of a Markdown table, header first, the `|---|` line left out.
    fn cells(md: &str) -> Vec<Vec<String>> {
        md.lines()
            .filter(|l| !l.starts_with("|---"))
            .map(|l| {
                let l = l.trim().trim_start_matches('|').trim_end_matches('|');
                l.split('|').map(|c| c.trim().to_string()).collect()
            })
            .collect()
    }

    #[test]
    fn table_has_every_group_and_ordered_parameters() {
        let rows = score_rows(&sample()).unwrap();
        let t = cells(&table_markdown(&rows, &params()));
        assert_eq!(
            t[0],
            [
                "method",
                "scenario",
                "drop",
                "degradation",
                "dispersion",
                "peak avg chosen",
                "final optimal prob",
                "diverged"
            ]
        );
        assert_eq!(t.len(), 1 + rows.len());
        // One line per score row, in order, with its mean ± sd; the method
        // is named on its first line only; divergence counted.
        for (line, r) in t[1..].iter().zip(&rows) {
            assert_eq!(line.len(), 8);
            assert_eq!(line[1], scenario_number(&r.scenario));
            assert_eq!(line[3], pm(&r.degradation, 3));
            assert_eq!(line[7], format!("{}/{}", r.diverged, r.n()));
        }
        assert_eq!(t[1][0], "**DPO** (β = 0.1)");
        assert_eq!(
            t[1][2..7],
            [
                "65.0 ± 0.0",
                "0.400 ± 0.100",
                "0.0300 ± 0.0100",
                "0.600 ± 0.000",
                "0.500 ± 0.000"
            ]
        );
        assert_eq!((t[2][0].as_str(), t[2][7].as_str()), ("", "1/2"));
        // β+ before β−: the loss's own parameter order, not the map's.
        assert_eq!(t[3][0], "**Flex-DPO** (β+ = 0.1, β− = 0.1)");
        // Huge drops in scientific notation; a missing optimum as a dash.
        let robust = rows.iter().position(|r| r.method == "robust-dpo").unwrap();
        assert_eq!(t[1 + robust][2], "2.00e6 ± 0.0e0");
        let ipo = rows.iter().position(|r| r.method == "ipo").unwrap();
        assert_eq!(t[1 + ipo][6], "–");
        let no_opt: Vec<ScoreRow> = rows
            .into_iter()
            .map(|r| ScoreRow {
                final_optimal: None,
                ..r
            })
            .collect();
        let t = cells(&table_markdown(&no_opt, &params()));
        assert!(t.iter().all(|l| l.len() == 7), "no optimal column");
    }

    #[test]
    fn notes_are_computed_from_the_rows() {
        let t = sample();
        let rows = score_rows(&t).unwrap();
        let f = sweep_facts(&t, &rows, &params()).unwrap();
        let s = |v: &str| v.to_string();
        assert_eq!((f.n_scenarios, f.n_methods, f.n_runs), (3, 7, 14));
        // ipo: 0.04 < 0.05 and 0.004 < 0.005; sppo-hard and rm-kl: zeros;
        // apo-down fails in scenario 2.
        assert_eq!(f.free, ["ipo", "sppo-hard", "rm-kl"]);
        assert_eq!(
            f.degradation[..2],
            [
                (s("apo-down"), 1.0, s("scenario2")),
                (s("robust-dpo"), 0.55, s("scenario1"))
            ]
        );
        assert_eq!(
            f.drop.first(),
            Some(&(s("robust-dpo"), 2.0e6, s("scenario1")))
        );
        assert_eq!(f.drop.last(), Some(&(s("ipo"), 1.5, s("scenario9"))));
        assert_eq!(f.diverged, [(s("dpo"), s("scenario2"), 1, 2)]);
        // Robust DPO: unbounded drop, and its loss has no lower bound:
        // f ≈ -ε βΔ/(1-2ε) = -0.0125 Δ, ∂f/∂l- → βε/(1-2ε) = 0.0125.
        let [u] = &f.unbounded[..] else {
            panic!("{:?}", f.unbounded)
        };
        assert_eq!((u.method.as_str(), u.drop), ("robust-dpo", 2.0e6));
        let at = u.no_lower_bound.expect("no lower bound");
        for ((value, d_minus), delta) in at.iter().zip([1e2, 1e3, 1e4]) {
            assert!(
                (value + 0.0125 * delta).abs() < 1e-3,
                "{value} at Δ = {delta}"
            );
            assert!((d_minus - 0.0125).abs() < 1e-5, "{d_minus} at Δ = {delta}");
        }
        // Its scenario-1 means, and DPO's over seeds 0 and 1.
        let [r, d] = u.scenario1.unwrap();
        assert_eq!(r, (0.55, 0.04));
        assert!(
            (d.0 - 0.4).abs() < 1e-12 && (d.1 - 0.03).abs() < 1e-12,
            "{d:?}"
        );
        assert_eq!(
            f.lost_chosen,
            [LostChosen {
                method: s("apo-down"),
                scenarios: vec![(s("scenario2"), 1.0)],
                worst_final: 1e-60,
            }]
        );
        let flex = f.flex_is_dpo.as_ref().unwrap();
        assert_eq!((flex.beta, flex.figure_beta_minus), (0.1, Some(0.05)));
        assert!(flex.max_rel_diff > 0.0 && flex.max_rel_diff < 2e-9);
        // SPPO-hard's r- target: -1/(2β) = -5 nats, 1/(2β ln 10) = 2.171 orders.
        let [c] = &f.constant_drop[..] else {
            panic!("{:?}", f.constant_drop)
        };
        assert_eq!(
            (c.method.as_str(), c.lo, c.hi),
            ("sppo-hard", 2.1715, 2.1716)
        );
        let (nats, orders) = c.target.unwrap();
        assert_eq!(nats, -5.0);
        assert!((orders - 5.0 / std::f64::consts::LN_10).abs() < 1e-15);
        // One bullet per fact: four summaries and the four anomalies.
        let md = sweep_notes_markdown(&f);
        assert_eq!(md.lines().count(), 8);
        assert!(md.lines().all(|l| l.starts_with("- **")), "{md}");
        // Without the anomalies, only the four summaries.
        let calm = SweepFacts {
            unbounded: vec![],
            lost_chosen: vec![],
            flex_is_dpo: None,
            constant_drop: vec![],
            ..f
        };
        assert_eq!(sweep_notes_markdown(&calm).lines().count(), 4);
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
    fn contrast_inserts_its_numbers() {
        let rows = score_rows(&sample()).unwrap();
        let c = Contrast {
            rm_grad_start: 0.5,
            rm_grad_end: 0.004,
            rm_grad_imbalance: 0.0,
            rm_steps: 2000,
            rm_margin: 5.5,
            rm_preference: 0.996,
            dpo_log_ratio: (0.4, 75.0),
            rm_log_ratio: (0.03, -0.27),
            optimum_avg_chosen: 1.0,
            optimum_drop: 23.0,
            rm_tv: 5.9e-6,
            n_pairs: 4,
            n_responses: 10,
            rm_final_chosen: 1.0,
            rm_drop: 6.33,
            rm_final_rejected: 4e-8,
            optimum_avg_rejected: 1.2e-24,
            rm_epoch_99: Some(55),
            dpo_peak: (0.698, 54),
            dpo_final_chosen: 0.38,
            collapsed: vec![("robust-dpo".into(), 1, 1.0)],
            signatures: vec![("robust-dpo".into(), 8, 8)],
            chosen_of: vec![Some(0), Some(1), None],
            growth: vec![("robust-dpo".into(), 2.8)],
            second: "scenario2".into(),
            figure: vec![("DPO (β = 0.1)".into(), [(0.456, 0.38), (0.409, 0.25)])],
        };
        // The facts the paragraph derives, as numbers.
        assert!((c.dpo_growth() - 74.6).abs() < 1e-12);
        assert!((c.rm_growth().unwrap() + 0.3).abs() < 1e-12);
        assert_eq!(
            Contrast {
                rm_log_ratio: (0.03, 0.07),
                ..c.clone()
            }
            .rm_growth(),
            None
        );
        // 4 pairs, 10 responses: chosen average 1/4, unseen 3/32, 3 gone.
        assert_eq!(c.collapse_averages(), (4, (3, 32), 3));
        // Every number of the facts appears in the text, formatted as the
        // paragraph formats it (numbers, not sentences, are checked).
        let md = contrast_markdown(&rows, &c);
        let tokens: Vec<&str> = md
            .split(|ch: char| ch.is_whitespace() || ",;:()".contains(ch))
            .map(|t| t.trim_end_matches('.'))
            .collect();
        for want in [
            // RM path and DPO over the sweep's seeds (pm of the sample rows).
            "0.600",
            "1.000",
            "0.275",
            "0.025",
            "0.400",
            "0.100",
            // Seed-0 runs and the optimum.
            "0.698",
            "54",
            "0.380",
            "55",
            "1.0000",
            "5.9e-6",
            "6.33",
            "4e-8",
            "1e-24",
            "23.00",
            // Balanced gradients.
            "2000",
            "0.5",
            "0.004",
            "5.50",
            "0.9960",
            "10^0.40",
            "10^75.0",
            "74.6",
            "10^0.03",
            "10^-0.27",
            "-0.3",
            // The figure's runs, growth, collapse.
            "0.456",
            "0.409",
            "0.250",
            "epoch^2.8",
            "1/4",
            "3/32",
            "3",
        ] {
            assert!(tokens.contains(&want), "missing {want} in\n{md}");
        }
        assert_eq!(
            md.matches("exactly 0").count(),
            1,
            "imbalance 0 is stated as exactly 0"
        );
    }

    #[test]
    fn numbers_read_short() {
        assert_eq!(num(0.1), "0.1");
        assert_eq!(num(2000.0), "2000");
        assert_eq!(num(2.449489742783178), "2.449");
        assert_eq!(num(2.5e6), "2.5e6");
        assert_eq!(num(5.9e-6), "5.9e-6");
        let s = Stat::of(&[1.0, 3.0]);
        assert_eq!(pm(&s, 2), "2.00 ± 1.00");
        assert_eq!(list(&["a", "b", "c"]), "a, b and c");
        assert_eq!(list::<&str>(&[]), "none");
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
        assert!(names.iter().all(|n| display_name(n) != *n || *n == "hinge"));
    }
}
