//! A fair scoreboard of preference losses against the 3D-properties
//! (issue 15, items 2–4).
//!
//! `experiments/scoreboard.toml` names the plan ([`Plan`]). For every
//! registered method ([`methods`]: every [`loss::LOSSES`] entry, then every
//! [`objective::OBJECTIVES`] entry) and policy family, [`Plan::grid`]
//! spans the method's own parameters (from its `ParamSpec` list) and the
//! learning rate; every grid point runs on the four scenarios and the
//! held-in seeds, and [`pick`] chooses the point with the best mean
//! [`objective()`] there. The default and the chosen setting then run on the
//! held-out seeds, which alone feed the D-scores, the "removes" verdicts
//! ([`presence`]) and the π-space gradient checks of the mechanisms
//! ([`Mechanism`]). [`run`] returns the [`ScoreboardFacts`] (also written
//! as `facts.json`, with every run in `tuning.csv` and `scoreboard.csv`);
//! [`crate::present::scoreboard`] draws and describes them.

use crate::analysis::scoreboard::{
    objective, pick, presence, versus, Direction, Interval, Presence, RunJ, Scored, Versus,
};
use crate::engine::train::{train, Keep};
use crate::error::{Error, Result};
use crate::io::config::{Config, DataConfig, LossConfig, PolicyConfig};
use crate::io::output::{csv_bytes, write_files};
use crate::maths::data::SCENARIOS;
use crate::maths::loss::{self, ParamSpec};
use crate::maths::objective;
use crate::studies::facts::write_facts;
use crate::studies::robustness::{SeedRange, DEGRADED, DISPERSED, DROPPED};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The three properties, in the order of every `[_; 3]` below.
pub const PROPERTIES: [&str; 3] = ["drop", "degradation", "dispersion"];

/// The thresholds of [`PROPERTIES`]: a run shows the drop beyond
/// [`DROPPED`] orders, degradation beyond [`DEGRADED`], dispersion beyond
/// [`DISPERSED`] (the robustness study's, so that both read alike).
pub const THRESHOLDS: [f64; 3] = [DROPPED, DEGRADED, DISPERSED];

/// `[[family]]`: a policy family and the learning rate at its lr grid's centre.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// Short name (CSV cells, placeholder keys).
    pub id: String,
    /// Name in tables and sentences.
    pub label: String,
    /// The learning rate the lr factors multiply.
    pub lr: f64,
    /// The `[policy]` table its runs use.
    pub policy: PolicyConfig,
}

/// `experiments/scoreboard.toml` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    base: String,
    epochs: i64,
    held_in: SeedRange,
    held_out: SeedRange,
    knob_factors: Vec<f64>,
    lr_factors: Vec<f64>,
    #[serde(default)]
    fixed: Vec<String>,
    family: Vec<Family>,
}

/// The scoreboard's plan: base config, seeds, grid factors and families.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The config every run starts from (the plan's `base`).
    pub base: Config,
    /// The `base` file name, as the plan writes it.
    pub base_file: String,
    /// Training epochs of every run, in every family.
    pub epochs: i64,
    /// The seeds tuning reads.
    pub held_in: Vec<u64>,
    /// The seeds everything reported reads.
    pub held_out: Vec<u64>,
    /// Each tuned parameter runs at default × each of these.
    pub knob_factors: Vec<f64>,
    /// The family's lr × each of these.
    pub lr_factors: Vec<f64>,
    /// Parameters held at their defaults.
    pub fixed: Vec<String>,
    /// The policy families.
    pub families: Vec<Family>,
}

/// `xs` with the first 1.0 moved to the front (the default first).
fn default_first(xs: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|f| *f == 1.0).take(1).collect();
    v.extend(xs.iter().copied().filter(|f| *f != 1.0));
    v
}

impl Plan {
    /// Reads a plan; its `base` is relative to the file's directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, format!("cannot read the plan: {e}")))?;
        Self::from_toml_str(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses a plan from TOML text, resolving `base` against `dir`.
    pub fn from_toml_str(text: &str, dir: &Path) -> Result<Self> {
        let f: PlanFile = toml::from_str(text).map_err(|e| {
            Error::config(
                "<scoreboard plan>",
                format!("is not a valid plan: {}", e.to_string().trim_end()),
            )
        })?;
        let base = Config::load(&dir.join(&f.base))?;
        let (i, o) = (f.held_in, f.held_out);
        if i.first > i.last || o.first > o.last {
            return Err(Error::config(
                "held_in",
                "needs first <= last (and so does held_out)",
            ));
        }
        if i.first <= o.last && o.first <= i.last {
            return Err(Error::config(
                "held_out",
                format!(
                    "{}..={} overlap the held-in seeds {}..={}: the report must read seeds the settings were not chosen on",
                    o.first, o.last, i.first, i.last
                ),
            ));
        }
        for (name, fs) in [
            ("knob_factors", &f.knob_factors),
            ("lr_factors", &f.lr_factors),
        ] {
            if !fs.contains(&1.0) || fs.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
                return Err(Error::config(
                    name,
                    "must be finite numbers > 0 and include 1 (the default)",
                ));
            }
        }
        if f.epochs < 1 {
            return Err(Error::config("epochs", "must be >= 1"));
        }
        if f.family.is_empty() {
            return Err(Error::config("family", "needs at least one [[family]]"));
        }
        let plan = Plan {
            base,
            base_file: f.base,
            epochs: f.epochs,
            held_in: i.seeds(),
            held_out: o.seeds(),
            knob_factors: default_first(&f.knob_factors),
            lr_factors: default_first(&f.lr_factors),
            fixed: f.fixed,
            families: f.family,
        };
        // Every family must build with every method at its defaults.
        for fam in &plan.families {
            for (name, _) in methods() {
                let s = &plan.grid(name, fam)?[0];
                plan.config(fam, name, s, SCENARIOS[0], plan.held_in[0])
                    .build()
                    .map_err(|e| match e {
                        Error::Config { field, msg } => Error::config(
                            field,
                            format!("{msg} (in family `{}`, method `{name}`)", fam.id),
                        ),
                        other => other,
                    })?;
            }
        }
        Ok(plan)
    }

    /// The grid of `method` in `family`: every tuned parameter (all of its
    /// spec's but [`Plan::fixed`]) at default × each knob factor inside its
    /// domain, crossed with the family's lr × each lr factor; the default
    /// setting first, the last parameter varying fastest, the lr slowest.
    pub fn grid(&self, method: &str, family: &Family) -> Result<Vec<Setting>> {
        let (_, specs) = objective::param_specs(method)?;
        let mut axes: Vec<(&str, Vec<f64>)> = Vec::new();
        for p in specs {
            let d = p.default.ok_or_else(|| {
                Error::config(
                    format!("loss.{}", p.name),
                    format!("of `{method}` has no default to tune around"),
                )
            })?;
            let factors: &[f64] = if self.fixed.iter().any(|f| f == p.name) {
                &[1.0]
            } else {
                &self.knob_factors
            };
            axes.push((p.name, values_around(p, d, factors)));
        }
        let lrs: Vec<f64> = self.lr_factors.iter().map(|f| family.lr * f).collect();
        let mut out = Vec::new();
        for &lr in &lrs {
            let mut idx = vec![0usize; axes.len()];
            loop {
                out.push(Setting {
                    params: axes
                        .iter()
                        .zip(&idx)
                        .map(|((n, v), &i)| (n.to_string(), v[i]))
                        .collect(),
                    lr,
                });
                // Mixed-radix increment, last axis fastest.
                let mut k = axes.len();
                loop {
                    if k == 0 {
                        break;
                    }
                    k -= 1;
                    idx[k] += 1;
                    if idx[k] < axes[k].1.len() {
                        break;
                    }
                    idx[k] = 0;
                    if k == 0 {
                        k = usize::MAX;
                        break;
                    }
                }
                if k == usize::MAX || axes.is_empty() {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The run config of `method` at `setting` in `family` on `scenario` and `seed`.
    pub fn config(
        &self,
        family: &Family,
        method: &str,
        setting: &Setting,
        scenario: &str,
        seed: u64,
    ) -> Config {
        let mut c = self.base.clone();
        c.seed = seed;
        c.epochs = self.epochs;
        c.record_every = Some(self.epochs);
        c.policy = family.policy.clone();
        c.optimizer.lr = setting.lr;
        c.on_policy = None;
        c.data = DataConfig {
            scenario: Some(scenario.to_string()),
            ..Default::default()
        };
        c.loss = LossConfig {
            name: method.to_string(),
            reduction: self.base.loss.reduction.clone(),
            params: setting.params.clone(),
        };
        c
    }
}

/// `default × factors` inside the parameter's domain, duplicates dropped,
/// in the factors' order.
fn values_around(p: &ParamSpec, default: f64, factors: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = Vec::new();
    for f in factors {
        let x = default * f;
        if p.domain.contains(x) && !v.contains(&x) {
            v.push(x);
        }
    }
    v
}

/// Every method the scoreboard ranks, by config name with its parameters:
/// [`loss::LOSSES`] in order, then [`objective::OBJECTIVES`].
pub fn methods() -> Vec<(&'static str, &'static [ParamSpec])> {
    loss::LOSSES
        .iter()
        .map(|s| (s.name, s.params))
        .chain(objective::OBJECTIVES.iter().map(|s| (s.name, s.params)))
        .collect()
}

/// A point of a method's grid: its parameters (every one written out) and lr.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting {
    /// The loss's parameters by name.
    pub params: BTreeMap<String, f64>,
    /// Adam's learning rate.
    pub lr: f64,
}

/// Which setting of a method an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Variant {
    /// The spec's defaults at the family's lr.
    Default,
    /// The grid point [`pick`] chose on the held-in seeds.
    Tuned,
}

/// One run's numbers, as `tuning.csv` and `scoreboard.csv` hold them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// The family's id.
    pub family: String,
    /// The method's config name.
    pub method: String,
    /// `grid` (tuning), `default` or `tuned` (held-out).
    pub variant: String,
    /// Index of the setting in the method's grid.
    pub setting: usize,
    /// `data.scenario`.
    pub scenario: String,
    /// The run's seed.
    pub seed: u64,
    /// Drastic drop (orders of magnitude).
    pub drop: f64,
    /// Degradation.
    pub degradation: f64,
    /// Dispersion.
    pub dispersion: f64,
    /// Final mean π(optimal response).
    pub final_optimal: f64,
    /// The run's [`objective()`].
    pub objective: f64,
    /// Whether it diverged.
    pub diverged: bool,
    /// `log10` of the mean `|∂L/∂π(y+)|` at epoch 0 (held-out runs only).
    pub log10_grad_plus_start: Option<f64>,
    /// The same at the end.
    pub log10_grad_plus_end: Option<f64>,
    /// `log10` of the mean `|∂L/∂π(y−)|` at epoch 0.
    pub log10_grad_minus_start: Option<f64>,
    /// The same at the end.
    pub log10_grad_minus_end: Option<f64>,
    /// `ln` of the average chosen probability at the end (held-out runs only).
    pub logp_avg_chosen_end: Option<f64>,
    /// `ln` of the average rejected probability at the end.
    pub logp_avg_rejected_end: Option<f64>,
}

/// One job: what it is and its config.
struct Job {
    family: usize,
    method: &'static str,
    variant: &'static str,
    setting: usize,
    scenario: &'static str,
    seed: u64,
    config: Config,
}

fn run_jobs(jobs: &[Job], plan: &Plan, grads: bool) -> Result<Vec<RunRow>> {
    jobs.par_iter()
        .map(|j| {
            let spec = j.config.build()?;
            let r = train(
                &spec,
                Keep {
                    metrics: grads,
                    snapshots: false,
                },
            );
            let s = &r.summary;
            let (first, last) = (r.metrics.first(), r.metrics.last());
            let g = |m: Option<&crate::engine::metrics::MetricsRow>, plus: bool| {
                m.and_then(|m| {
                    if plus {
                        m.log10_grad_pi_plus
                    } else {
                        m.log10_grad_pi_minus
                    }
                })
            };
            Ok(RunRow {
                family: plan.families[j.family].id.clone(),
                method: j.method.to_string(),
                variant: j.variant.to_string(),
                setting: j.setting,
                scenario: j.scenario.to_string(),
                seed: j.seed,
                drop: s.drop,
                degradation: s.degradation,
                dispersion: s.dispersion,
                final_optimal: s.final_avg_optimal.unwrap_or(f64::NAN),
                objective: objective(s),
                diverged: s.diverged,
                log10_grad_plus_start: g(first, true),
                log10_grad_plus_end: g(last, true),
                log10_grad_minus_start: g(first, false),
                log10_grad_minus_end: g(last, false),
                logp_avg_chosen_end: last.map(|m| m.logp_avg_chosen),
                logp_avg_rejected_end: last.map(|m| m.logp_avg_rejected),
            })
        })
        .collect()
}

/// The D-scores and outcome of one setting on one scenario, over the held-out seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// `data.scenario`.
    pub scenario: String,
    /// Drastic drop (orders of magnitude).
    pub drop: Interval,
    /// Degradation.
    pub degradation: Interval,
    /// Dispersion.
    pub dispersion: Interval,
    /// Final mean π(optimal response).
    pub final_optimal: Interval,
    /// The [`objective()`].
    pub objective: Interval,
    /// Runs that diverged.
    pub diverged: usize,
}

impl Cell {
    /// The interval of property `p` (index in [`PROPERTIES`]).
    pub fn d(&self, p: usize) -> &Interval {
        [&self.drop, &self.degradation, &self.dispersion][p]
    }
}

/// The π-space gradients (the paper's Corollary 1) over one setting's
/// held-out runs, every scenario pooled; `log10` of the mean over pairs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gradients {
    /// End minus start of `log10 |∂L/∂π(y−)|`: how far the push on the
    /// rejected response grew (Corollary 2's blow-up when positive).
    pub minus_growth: Interval,
    /// `log10 |∂L/∂π(y−)|` at the end.
    pub minus_end: Interval,
    /// `log10 |∂L/∂π(y+)|` at the end: the pull left on the chosen response.
    pub plus_end: Interval,
    /// `log10 (|∂L/∂π(y−)| / |∂L/∂π(y+)|)` at the end (Corollary 1's ratio).
    pub ratio_end: Interval,
    /// `ratio_end − log10(π̄(y+)/π̄(y−))` at the end: about
    /// `log10 |∂L/∂log π(y−)| / |∂L/∂log π(y+)|`, the loss's own balance
    /// (0 for DPO pair by pair, whose Corollary 1 ratio is `π(y+)/π(y−)`;
    /// near 0 over the pairs' means).
    pub balance_end: Interval,
}

/// A gradient exactly 0 at the end (`None`): `log10` is −∞.
fn or_zero(g: Option<f64>) -> f64 {
    g.unwrap_or(f64::NEG_INFINITY)
}

impl Gradients {
    /// The gradients of `runs` (held-out runs, which record them).
    pub fn of(runs: &[&RunRow]) -> Self {
        let v = |f: &dyn Fn(&RunRow) -> f64| -> Interval {
            Interval::of(&runs.iter().map(|r| f(r)).collect::<Vec<_>>())
        };
        let ratio = |r: &RunRow| match (r.log10_grad_minus_end, r.log10_grad_plus_end) {
            (Some(m), Some(p)) => m - p,
            (None, Some(_)) => f64::NEG_INFINITY,
            (Some(_), None) => f64::INFINITY,
            (None, None) => f64::NAN,
        };
        Gradients {
            balance_end: v(
                &|r| match (r.logp_avg_chosen_end, r.logp_avg_rejected_end) {
                    (Some(c), Some(m)) => ratio(r) - (c - m) / std::f64::consts::LN_10,
                    _ => f64::NAN,
                },
            ),
            minus_growth: v(&|r| {
                or_zero(r.log10_grad_minus_end) - r.log10_grad_minus_start.unwrap_or(f64::NAN)
            }),
            minus_end: v(&|r| or_zero(r.log10_grad_minus_end)),
            plus_end: v(&|r| or_zero(r.log10_grad_plus_end)),
            ratio_end: v(&ratio),
        }
    }
}

/// One method at one setting in one family, on the held-out seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The method's config name.
    pub method: String,
    /// The family's id.
    pub family: String,
    /// Default or tuned.
    pub variant: Variant,
    /// Its setting.
    pub setting: Setting,
    /// One per scenario ([`SCENARIOS`] order).
    pub cells: Vec<Cell>,
    /// The [`objective()`] over every held-out run (its mean ranks the entries).
    pub objective: Interval,
    /// [`presence`] of each of [`PROPERTIES`] at [`THRESHOLDS`].
    pub presence: [Presence; 3],
    /// Its π-space gradients.
    pub gradients: Gradients,
    /// Every held-out run's objective, by scenario and seed (what
    /// [`versus`] pairs).
    pub runs: Vec<RunJ>,
    /// Whether its runs do not depend on the seed: in every scenario, at
    /// least two seeds and every seed's D-scores, final π* and objective
    /// identical (a family without random initialisation).
    pub seed_free: bool,
}

/// Whether the tuned setting beats the default on the held-out seeds
/// (from the [`Versus`] of tuned against default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Confirm {
    /// Tuning kept the default.
    Kept,
    /// The paired difference's 95 % interval lies above 0.
    Confirmed,
    /// The default scores J = −∞ on some held-out run and the tuned
    /// setting on none: a clear improvement, not an interval.
    Rescued,
    /// The interval lies below 0 (or the tuned setting fails on some run
    /// and the default on none): the held-in choice does not carry over.
    Reversed,
    /// It contains 0.
    Inconclusive,
    /// Both fail on some run: the difference is not defined.
    Undefined,
    /// The runs do not depend on the seed, so the held-out seeds repeat the
    /// held-in runs: no test of the tuning, only the exact differences
    /// over the scenarios (the [`Versus`] says which way they go).
    SeedFree,
}

/// The [`Confirm`] of a tuning whose tuned-against-default comparison is `v`.
pub fn confirm_of(v: &Versus) -> Confirm {
    match v.direction {
        Direction::Undefined => Confirm::Undefined,
        Direction::Above if v.b_failed > 0 => Confirm::Rescued,
        _ if v.seed_free => Confirm::SeedFree,
        Direction::Above => Confirm::Confirmed,
        Direction::Below => Confirm::Reversed,
        Direction::Within => Confirm::Inconclusive,
    }
}

/// The held-out check of a tuning: `None` and [`Confirm::Kept`] when it
/// kept the default, else the [`Versus`] of tuned against default.
pub fn check_tuning(default: &Entry, tuned: &Entry, chosen: usize) -> (Option<Versus>, Confirm) {
    if chosen == 0 {
        return (None, Confirm::Kept);
    }
    let v = versus(
        &tuned.runs,
        &default.runs,
        tuned.seed_free && default.seed_free,
    );
    (Some(v), confirm_of(&v))
}

/// The tuning of one method in one family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tuning {
    /// The method's config name.
    pub method: String,
    /// The family's id.
    pub family: String,
    /// Points in its grid.
    pub grid_size: usize,
    /// Index of the chosen point (0 is the default).
    pub chosen: usize,
    /// Mean objective over the held-in runs, of the default and the chosen.
    pub held_in: (f64, f64),
    /// Mean objective over the held-out runs, of the default and the chosen.
    pub held_out: (f64, f64),
    /// Tuned − default over the held-out runs, paired on scenario and
    /// seed (`None` when kept).
    pub versus: Option<Versus>,
    /// The held-out verdict.
    pub confirm: Confirm,
}

/// One gradient check of a mechanism: the loss's interval against DPO's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Which field of [`Gradients`] (`minus_growth`, `minus_end`, `ratio_end`,
    /// `balance_end`, `plus_end`).
    pub quantity: String,
    /// The loss's interval.
    pub loss: Interval,
    /// Default DPO's, in the same family.
    pub dpo: Interval,
    /// Whether the two p10–p90 intervals are disjoint in the direction
    /// that removes the property (lower growth or ratio; higher pull).
    pub separated: bool,
}

/// Why a loss removes a property DPO shows in the same family: the
/// gradient checks that separate it from DPO, or do not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mechanism {
    /// The method's config name.
    pub method: String,
    /// The family's id.
    pub family: String,
    /// Default or tuned.
    pub variant: Variant,
    /// Index in [`PROPERTIES`].
    pub property: usize,
    /// The checks: `minus_growth` for the drop; `minus_end`, `ratio_end`,
    /// `balance_end` and `plus_end` for degradation and dispersion.
    pub checks: Vec<Check>,
}

/// Everything the scoreboard measured.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreboardFacts {
    /// The plan's base file.
    pub base: String,
    /// Epochs of every run.
    pub epochs: i64,
    /// Held-in and held-out seeds.
    pub held_in: Vec<u64>,
    /// The held-out seeds.
    pub held_out: Vec<u64>,
    /// The grid's factors.
    pub knob_factors: Vec<f64>,
    /// The lr factors.
    pub lr_factors: Vec<f64>,
    /// Parameters held at their defaults.
    pub fixed: Vec<String>,
    /// The families.
    pub families: Vec<Family>,
    /// [`THRESHOLDS`].
    pub thresholds: [f64; 3],
    /// Runs of the tuning and of the report.
    pub runs: (usize, usize),
    /// One per method and family.
    pub tunings: Vec<Tuning>,
    /// Default and tuned entries, per family in method order.
    pub entries: Vec<Entry>,
    /// Default DPO's presence of each property, per family (id order).
    pub dpo: Vec<(String, [Presence; 3])>,
    /// Mechanisms of every removal of a property DPO shows.
    pub mechanisms: Vec<Mechanism>,
}

impl ScoreboardFacts {
    /// The entry of `method`, `variant` in `family`.
    pub fn entry(&self, family: &str, method: &str, variant: Variant) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.family == family && e.method == method && e.variant == variant)
    }

    /// The [`Versus`] of `method` at `variant` against DPO at `dpo` in
    /// `family`, over their held-out runs.
    pub fn versus_dpo(
        &self,
        family: &str,
        method: &str,
        variant: Variant,
        dpo: Variant,
    ) -> Option<Versus> {
        let (a, b) = (
            self.entry(family, method, variant)?,
            self.entry(family, "dpo", dpo)?,
        );
        Some(versus(&a.runs, &b.runs, a.seed_free && b.seed_free))
    }
}

/// The [`Entry`] of `rows` (one setting's held-out runs).
pub fn entry(
    method: &str,
    family: &str,
    variant: Variant,
    setting: Setting,
    rows: &[&RunRow],
) -> Entry {
    let cells: Vec<Cell> = SCENARIOS
        .iter()
        .map(|sc| {
            let g: Vec<&&RunRow> = rows.iter().filter(|r| r.scenario == *sc).collect();
            let iv = |f: &dyn Fn(&RunRow) -> f64| {
                Interval::of(&g.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            Cell {
                scenario: sc.to_string(),
                drop: iv(&|r| r.drop),
                degradation: iv(&|r| r.degradation),
                dispersion: iv(&|r| r.dispersion),
                final_optimal: iv(&|r| r.final_optimal),
                objective: iv(&|r| r.objective),
                diverged: g.iter().filter(|r| r.diverged).count(),
            }
        })
        .collect();
    let presence = [0, 1, 2].map(|p| {
        let per: Vec<Interval> = cells.iter().map(|c| *c.d(p)).collect();
        presence(&per, THRESHOLDS[p])
    });
    // Seed-free: in every scenario ≥ 2 seeds, all with the same numbers.
    let same = |a: &RunRow, b: &RunRow| {
        [
            (a.drop, b.drop),
            (a.degradation, b.degradation),
            (a.dispersion, b.dispersion),
            (a.final_optimal, b.final_optimal),
            (a.objective, b.objective),
        ]
        .iter()
        .all(|(x, y)| x.to_bits() == y.to_bits())
    };
    let seed_free = !rows.is_empty()
        && SCENARIOS.iter().all(|sc| {
            let g: Vec<&RunRow> = rows.iter().copied().filter(|r| r.scenario == *sc).collect();
            let distinct = g.iter().any(|r| r.seed != g[0].seed);
            g.is_empty() || (distinct && g.iter().all(|r| same(r, g[0])))
        });
    Entry {
        method: method.into(),
        family: family.into(),
        variant,
        setting,
        objective: Interval::of(&rows.iter().map(|r| r.objective).collect::<Vec<_>>()),
        presence,
        gradients: Gradients::of(rows),
        runs: rows
            .iter()
            .map(|r| RunJ {
                scenario: r.scenario.clone(),
                seed: r.seed,
                j: r.objective,
            })
            .collect(),
        seed_free,
        cells,
    }
}

/// The [`Mechanism`] of `e` removing property `p`, against default DPO `dpo`.
pub fn mechanism(e: &Entry, dpo: &Entry, p: usize) -> Mechanism {
    let check = |q: &str, lower: bool| {
        let (a, b) = match q {
            "minus_growth" => (e.gradients.minus_growth, dpo.gradients.minus_growth),
            "minus_end" => (e.gradients.minus_end, dpo.gradients.minus_end),
            "ratio_end" => (e.gradients.ratio_end, dpo.gradients.ratio_end),
            "balance_end" => (e.gradients.balance_end, dpo.gradients.balance_end),
            _ => (e.gradients.plus_end, dpo.gradients.plus_end),
        };
        Check {
            quantity: q.into(),
            loss: a,
            dpo: b,
            separated: if lower { a.hi < b.lo } else { a.lo > b.hi },
        }
    };
    let checks = if p == 0 {
        vec![check("minus_growth", true)]
    } else {
        vec![
            check("minus_end", true),
            check("ratio_end", true),
            check("balance_end", true),
            check("plus_end", false),
        ]
    };
    Mechanism {
        method: e.method.clone(),
        family: e.family.clone(),
        variant: e.variant,
        property: p,
        checks,
    }
}

/// Runs the plan: the tuning grid on the held-in seeds, then the default
/// and chosen settings on the held-out seeds; writes `out_dir/scoreboard/`
/// (`tuning.csv`, `scoreboard.csv`, `facts.json`) and returns the facts.
pub fn run(plan: &Plan, out_dir: &Path) -> Result<ScoreboardFacts> {
    let methods = methods();
    // The grids, per family and method.
    let mut grids: Vec<Vec<Vec<Setting>>> = Vec::new();
    for fam in &plan.families {
        grids.push(
            methods
                .iter()
                .map(|(m, _)| plan.grid(m, fam))
                .collect::<Result<_>>()?,
        );
    }
    let mut jobs = Vec::new();
    for (fi, fam) in plan.families.iter().enumerate() {
        for (mi, (m, _)) in methods.iter().enumerate() {
            for (si, s) in grids[fi][mi].iter().enumerate() {
                for sc in SCENARIOS {
                    for &seed in &plan.held_in {
                        jobs.push(Job {
                            family: fi,
                            method: m,
                            variant: "grid",
                            setting: si,
                            scenario: sc,
                            seed,
                            config: plan.config(fam, m, s, sc, seed),
                        });
                    }
                }
            }
        }
    }
    let tuning_rows = run_jobs(&jobs, plan, false)?;
    // The pick, per family and method, from the held-in runs.
    let mut chosen: Vec<Vec<(usize, f64, f64)>> = Vec::new();
    for (fi, fam) in plan.families.iter().enumerate() {
        let mut per = Vec::new();
        for (mi, (m, _)) in methods.iter().enumerate() {
            let cands: Vec<Vec<Scored>> = (0..grids[fi][mi].len())
                .map(|si| {
                    tuning_rows
                        .iter()
                        .filter(|r| r.family == fam.id && r.method == *m && r.setting == si)
                        .map(|r| Scored {
                            seed: r.seed,
                            score: r.objective,
                        })
                        .collect()
                })
                .collect();
            let (best, score) = pick(&cands, &plan.held_in)
                .ok_or_else(|| Error::config("held_in", "no held-in runs to tune on"))?;
            let default = pick(&cands[..1], &plan.held_in).map_or(f64::NAN, |d| d.1);
            per.push((best, default, score));
        }
        chosen.push(per);
    }
    // The held-out runs: the default, and the chosen point when it differs.
    let mut jobs = Vec::new();
    for (fi, fam) in plan.families.iter().enumerate() {
        for (mi, (m, _)) in methods.iter().enumerate() {
            let best = chosen[fi][mi].0;
            let mut points = vec![("default", 0usize)];
            if best != 0 {
                points.push(("tuned", best));
            }
            for (variant, si) in points {
                for sc in SCENARIOS {
                    for &seed in &plan.held_out {
                        jobs.push(Job {
                            family: fi,
                            method: m,
                            variant,
                            setting: si,
                            scenario: sc,
                            seed,
                            config: plan.config(fam, m, &grids[fi][mi][si], sc, seed),
                        });
                    }
                }
            }
        }
    }
    let report_rows = run_jobs(&jobs, plan, true)?;
    let facts = facts_of(plan, &grids, &chosen, &tuning_rows, &report_rows)?;
    let dir = out_dir.join("scoreboard");
    write_files(
        &dir,
        &[
            ("tuning.csv", csv_bytes(&tuning_rows)),
            ("scoreboard.csv", csv_bytes(&report_rows)),
        ],
    )?;
    write_facts(&dir, &facts)?;
    Ok(facts)
}

/// The facts of the runs: entries, tunings, DPO's presences, mechanisms.
fn facts_of(
    plan: &Plan,
    grids: &[Vec<Vec<Setting>>],
    chosen: &[Vec<(usize, f64, f64)>],
    tuning_rows: &[RunRow],
    report_rows: &[RunRow],
) -> Result<ScoreboardFacts> {
    let methods = methods();
    let mut entries = Vec::new();
    let mut tunings = Vec::new();
    let mut dpo = Vec::new();
    let mut mechanisms = Vec::new();
    for (fi, fam) in plan.families.iter().enumerate() {
        let first = entries.len();
        for (mi, (m, _)) in methods.iter().enumerate() {
            let (best, held_in_default, held_in_best) = chosen[fi][mi];
            let of = |variant: &str| -> Vec<&RunRow> {
                report_rows
                    .iter()
                    .filter(|r| r.family == fam.id && r.method == *m && r.variant == variant)
                    .collect()
            };
            let (d_rows, t_rows) = (
                of("default"),
                if best == 0 {
                    of("default")
                } else {
                    of("tuned")
                },
            );
            let grid = &grids[fi][mi];
            entries.push(entry(
                m,
                &fam.id,
                Variant::Default,
                grid[0].clone(),
                &d_rows,
            ));
            entries.push(entry(
                m,
                &fam.id,
                Variant::Tuned,
                grid[best].clone(),
                &t_rows,
            ));
            let mean = |rows: &[&RunRow]| {
                Interval::of(&rows.iter().map(|r| r.objective).collect::<Vec<_>>()).mean
            };
            let n = entries.len();
            let (versus, confirm) = check_tuning(&entries[n - 2], &entries[n - 1], best);
            tunings.push(Tuning {
                method: m.to_string(),
                family: fam.id.clone(),
                grid_size: grid.len(),
                chosen: best,
                held_in: (held_in_default, held_in_best),
                held_out: (mean(&d_rows), mean(&t_rows)),
                versus,
                confirm,
            });
        }
        let _ = tuning_rows;
        let fam_entries = &entries[first..];
        let Some(dpo_default) = fam_entries
            .iter()
            .find(|e| e.method == "dpo" && e.variant == Variant::Default)
        else {
            continue;
        };
        dpo.push((fam.id.clone(), dpo_default.presence));
        for e in fam_entries {
            for p in 0..3 {
                if e.presence[p] == Presence::Removed && dpo_default.presence[p] == Presence::Shown
                {
                    mechanisms.push(mechanism(e, dpo_default, p));
                }
            }
        }
    }
    Ok(ScoreboardFacts {
        base: plan.base_file.clone(),
        epochs: plan.epochs,
        held_in: plan.held_in.clone(),
        held_out: plan.held_out.clone(),
        knob_factors: plan.knob_factors.clone(),
        lr_factors: plan.lr_factors.clone(),
        fixed: plan.fixed.clone(),
        families: plan.families.clone(),
        thresholds: THRESHOLDS,
        runs: (tuning_rows.len(), report_rows.len()),
        tunings,
        entries,
        dpo,
        mechanisms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        Plan::load(&dir.join("scoreboard.toml")).unwrap()
    }

    #[test]
    fn grids_come_from_the_registry_with_the_default_first() {
        let p = plan();
        let fam = &p.families[0];
        for (name, specs) in methods() {
            let g = p.grid(name, fam).unwrap();
            let tuned = specs
                .iter()
                .filter(|s| !p.fixed.iter().any(|f| f == s.name));
            // At most 3 values per tuned parameter and 3 learning rates.
            assert!(g.len() <= 3usize.pow(tuned.count() as u32 + 1), "{name}");
            assert_eq!(g[0].lr, fam.lr, "{name}");
            for s in specs {
                assert_eq!(g[0].params[s.name], s.default.unwrap(), "{name}.{}", s.name);
            }
            // Every point is distinct.
            for (i, a) in g.iter().enumerate() {
                assert!(!g[i + 1..].contains(a), "{name}: duplicate {a:?}");
            }
        }
        // DPO: β ∈ {0.1, 0.0333, 0.3} × 3 learning rates.
        let dpo = p.grid("dpo", fam).unwrap();
        assert_eq!(dpo.len(), 9);
        assert!((dpo[2].params["beta"] - 0.3).abs() < 1e-12);
        // The reward model's fit knobs stay at their defaults.
        let rm = p.grid("rm-kl", fam).unwrap();
        assert_eq!(rm.len(), 9);
        // ε in [0, 0.5): 0.3 is inside, so cDPO has 3 × 3 × 3 points.
        assert_eq!(p.grid("cdpo", fam).unwrap().len(), 27);
    }

    #[test]
    fn overlapping_seeds_are_refused() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let text = std::fs::read_to_string(dir.join("scoreboard.toml"))
            .unwrap()
            .replace(
                "held_out = { first = 16, last = 23 }",
                "held_out = { first = 2, last = 9 }",
            );
        let e = Plan::from_toml_str(&text, &dir).unwrap_err().to_string();
        assert!(e.contains("overlap"), "{e}");
    }

    fn row(seed: u64, scenario: &str, drop: f64, g: [f64; 4]) -> RunRow {
        RunRow {
            family: "f".into(),
            method: "m".into(),
            variant: "default".into(),
            setting: 0,
            scenario: scenario.into(),
            seed,
            drop,
            degradation: 0.0,
            dispersion: 0.0,
            final_optimal: 0.5,
            objective: -0.3,
            diverged: false,
            log10_grad_plus_start: Some(g[0]),
            log10_grad_plus_end: Some(g[1]),
            log10_grad_minus_start: Some(g[2]),
            log10_grad_minus_end: Some(g[3]),
            logp_avg_chosen_end: Some(-1.0),
            logp_avg_rejected_end: Some(-10.0),
        }
    }

    #[test]
    fn mechanism_checks_separate_by_intervals() {
        let setting = Setting {
            params: BTreeMap::new(),
            lr: 1.0,
        };
        // "DPO": the push on y− grows by 30 orders; "loss": it shrinks by 2.
        let dpo_rows: Vec<RunRow> = SCENARIOS
            .iter()
            .flat_map(|sc| (0..4).map(move |s| row(s, sc, 20.0, [0.0, -2.0, 0.0, 30.0 + s as f64])))
            .collect();
        let loss_rows: Vec<RunRow> = SCENARIOS
            .iter()
            .flat_map(|sc| (0..4).map(move |s| row(s, sc, 0.5, [0.0, 0.0, 0.0, -2.0])))
            .collect();
        fn r(v: &[RunRow]) -> Vec<&RunRow> {
            v.iter().collect()
        }
        let dpo = entry("dpo", "f", Variant::Default, setting.clone(), &r(&dpo_rows));
        let loss = entry("ipo", "f", Variant::Default, setting, &r(&loss_rows));
        assert_eq!(dpo.presence[0], Presence::Shown);
        assert_eq!(loss.presence[0], Presence::Removed);
        let m = mechanism(&loss, &dpo, 0);
        assert_eq!(m.checks.len(), 1);
        assert!(m.checks[0].separated);
        assert_eq!(m.checks[0].loss.median, -2.0);
        assert_eq!(m.checks[0].dpo.lo, 30.0);
        // Degradation: the push left (−2 vs 30+), the ratio (−2 vs 32+) and
        // the pull (0 vs −2) separate; the balance (ratio − 9/ln 10 for both
        // rows' π̄ ratio) does too, −2 − 3.9 against 32 − 3.9 and up.
        let m = mechanism(&loss, &dpo, 1);
        let q: Vec<&str> = m.checks.iter().map(|c| c.quantity.as_str()).collect();
        assert_eq!(q, ["minus_end", "ratio_end", "balance_end", "plus_end"]);
        assert!(m.checks.iter().all(|c| c.separated), "{m:?}");
        let b = &m.checks[2].loss;
        assert!((b.median - (-2.0 - 9.0 / std::f64::consts::LN_10)).abs() < 1e-12);
        // Against itself nothing separates.
        assert!(mechanism(&dpo, &dpo, 0).checks.iter().all(|c| !c.separated));
    }
}
