//! The robustness study (issue 11, item 4): every headline finding of the
//! README and the report becomes a named claim with a function that computes
//! it from runs, crossed with what it may depend on: the MLP's
//! initialisation, the optimiser, the seeds, and the interval at which
//! on-policy pairs are resampled.
//!
//! `experiments/robustness.toml` names the grid; every run is its `base`
//! (`experiments/fig2.toml`) with only the crossed fields changed, so the
//! study follows that file. [`Study::run`] trains every run (summaries only)
//! and computes one [`Cell`] per claim and setting, each with its evidence
//! and verdict ([`crate::analysis::evidence`]). Nothing here writes prose:
//! `crate::present::robustness` renders the cells through templates.

use crate::analysis::evidence::{Claimed, Comparison, Correlation, Count, Outcome, Verdict};
use crate::engine::metrics::Summary;
use crate::engine::train::{train, Keep};
use crate::error::{Error, Result};
use crate::io::config::{Config, OnPolicyConfig, OptimizerConfig, PolicyConfig};
use crate::maths::data::SCENARIOS;
use rayon::prelude::*;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// A run shows the drastic drop when its average rejected probability falls
/// by more than this many orders of magnitude (`beyond::SHOWS` uses it too).
pub const DROPPED: f64 = 1.0;
/// A run degrades when its degradation exceeds this (`beyond::SHOWS` uses it too).
pub const DEGRADED: f64 = 0.05;
/// A run disperses when its dispersion exceeds this (`beyond::SHOWS` uses it too).
pub const DISPERSED: f64 = 0.005;

/// An inclusive range of seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRange {
    /// The first seed.
    pub first: u64,
    /// The last seed (included).
    pub last: u64,
}

impl SeedRange {
    /// The seeds, in order.
    pub fn seeds(&self) -> Vec<u64> {
        (self.first..=self.last).collect()
    }
}

/// `[[init]]`: an MLP initialisation scale.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Init {
    /// Short name used in placeholder keys.
    pub id: String,
    /// Name in tables and sentences.
    pub label: String,
    /// `policy.init_scale`.
    pub scale: f64,
    /// `policy.init`: the initialisation family (default `uniform`).
    #[serde(default = "uniform")]
    pub family: String,
}

fn uniform() -> String {
    "uniform".into()
}

/// `[[optimizer]]` as written: `lr` and `momentum` optional.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptimizerEntry {
    id: String,
    label: String,
    name: String,
    lr: Option<f64>,
    momentum: Option<f64>,
}

/// An optimiser of the grid, resolved against the base config.
#[derive(Debug, Clone, PartialEq)]
pub struct Optim {
    /// Short name used in placeholder keys.
    pub id: String,
    /// Name in tables and sentences.
    pub label: String,
    /// The `[optimizer]` table its runs use.
    pub config: OptimizerConfig,
}

/// `[[family]]`: a policy family other than the MLP.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// Short name used in placeholder keys.
    pub id: String,
    /// Name in tables and sentences.
    pub label: String,
    /// The `[policy]` table its runs use.
    pub policy: PolicyConfig,
}

/// `[similarity]`: the log-linear policy at set pair cosines.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimilaritySpec {
    /// Embedding dimension.
    pub dim: i64,
    /// The pair cosines at initialisation, ascending.
    pub cosines: Vec<f64>,
}

/// `experiments/robustness.toml` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudyFile {
    base: String,
    seeds: SeedRange,
    calibration_seeds: SeedRange,
    on_policy_every: Vec<u32>,
    on_policy_temperature: f64,
    init: Vec<Init>,
    optimizer: Vec<OptimizerEntry>,
    family: Vec<Family>,
    similarity: SimilaritySpec,
}

/// The study's grid, resolved against its base config.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The base run config (`experiments/fig2.toml`), as written.
    pub base: Config,
    /// Path of the base config, as the study file gives it.
    pub base_name: String,
    /// Seeds of every cell.
    pub seeds: SeedRange,
    /// Seeds the base settings were chosen on (disjoint from `seeds`).
    pub calibration_seeds: SeedRange,
    /// On-policy resampling intervals (epochs).
    pub on_policy_every: Vec<u32>,
    /// The on-policy oracle's temperature.
    pub on_policy_temperature: f64,
    /// The MLP initialisations crossed.
    pub inits: Vec<Init>,
    /// The optimisers crossed.
    pub optims: Vec<Optim>,
    /// Index in `inits` of the base config's initialisation.
    pub base_init: usize,
    /// Index in `optims` of the base config's optimiser.
    pub base_optim: usize,
    /// The policy families other than the MLP.
    pub families: Vec<Family>,
    /// The similarity grid.
    pub similarity: SimilaritySpec,
}

fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            "id",
            format!("`{id}` is not allowed: ids are lowercase letters, digits and `-` (they name template placeholders)"),
        ))
    }
}

impl Grid {
    /// Reads a study file; its `base` is relative to the file's directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, format!("cannot read the study: {e}")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::from_toml_str(&text, dir)
    }

    /// Parses a study from TOML text, resolving `base` against `dir`.
    pub fn from_toml_str(text: &str, dir: &Path) -> Result<Self> {
        let f: StudyFile = toml::from_str(text).map_err(|e| {
            Error::config(
                "<robustness study>",
                format!("is not a valid study: {}", e.to_string().trim_end()),
            )
        })?;
        let base = Config::load(&dir.join(&f.base))?;
        if base.policy.kind != "mlp" {
            return Err(Error::config(
                "base",
                format!(
                    "is a `{}` run; the study crosses the MLP's initialisation and needs an `mlp` base",
                    base.policy.kind
                ),
            ));
        }
        let (s, c) = (f.seeds, f.calibration_seeds);
        if s.first > s.last || c.first > c.last {
            return Err(Error::config(
                "seeds",
                "needs first <= last (and so does calibration_seeds)",
            ));
        }
        if s.first <= c.last && c.first <= s.last {
            return Err(Error::config(
                "seeds",
                format!(
                    "{}..={} overlap the calibration seeds {}..={}: verdicts must come from seeds the settings were not chosen on",
                    s.first, s.last, c.first, c.last
                ),
            ));
        }
        if s.last - s.first < 2 {
            return Err(Error::config(
                "seeds",
                "needs at least 3 seeds for a t interval",
            ));
        }
        if f.on_policy_every.contains(&0) {
            return Err(Error::config(
                "on_policy_every",
                "must be >= 1 (the fixed pairs are always run)",
            ));
        }
        let mut inits = f.init;
        let scale = base.policy.init_scale.unwrap_or(1.0);
        let family = base.policy.init.clone().unwrap_or_else(uniform);
        let base_init = match inits
            .iter()
            .position(|i| i.scale == scale && i.family == family)
        {
            Some(i) => i,
            None => {
                inits.push(Init {
                    id: "base".into(),
                    label: format!("{}'s ({family} ×{scale:.3})", f.base),
                    scale,
                    family,
                });
                inits.len() - 1
            }
        };
        let mut optims = Vec::new();
        let mut base_optim = None;
        for o in f.optimizer {
            let inherits = o.name == base.optimizer.name && o.lr.is_none() && o.momentum.is_none();
            let config = if inherits {
                base_optim.get_or_insert(optims.len());
                base.optimizer.clone()
            } else {
                OptimizerConfig {
                    name: o.name,
                    lr: o.lr.unwrap_or(base.optimizer.lr),
                    momentum: o.momentum,
                    beta1: None,
                    beta2: None,
                    eps: None,
                    alpha: None,
                }
            };
            optims.push(Optim {
                id: o.id,
                label: o.label,
                config,
            });
        }
        let base_optim = match base_optim {
            Some(i) => i,
            None => {
                optims.push(Optim {
                    id: "base".into(),
                    label: format!("{}'s", f.base),
                    config: base.optimizer.clone(),
                });
                optims.len() - 1
            }
        };
        let ids = inits
            .iter()
            .map(|i| &i.id)
            .chain(optims.iter().map(|o| &o.id))
            .chain(f.family.iter().map(|x| &x.id));
        let mut seen = std::collections::BTreeSet::new();
        for id in ids {
            check_id(id)?;
            if !seen.insert(id.clone()) {
                return Err(Error::config(
                    "id",
                    format!("`{id}` is used twice; ids name placeholders and must be unique"),
                ));
            }
        }
        let mut cos = f.similarity.cosines.clone();
        cos.dedup();
        if cos.len() < 3 || cos.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::config(
                "similarity.cosines",
                "must be at least 3 distinct values in ascending order",
            ));
        }
        Ok(Grid {
            base,
            base_name: f.base,
            seeds: f.seeds,
            calibration_seeds: f.calibration_seeds,
            on_policy_every: f.on_policy_every,
            on_policy_temperature: f.on_policy_temperature,
            inits,
            optims,
            base_init,
            base_optim,
            families: f.family,
            similarity: f.similarity,
        })
    }

    /// Every run of the study: its key and its validated config.
    pub fn jobs(&self) -> Result<Vec<(Key, Config)>> {
        let mut jobs = Vec::new();
        let seeds = self.seeds.seeds();
        let with = |arm: Arm, scenario: Option<usize>, seed: u64, c: Config| {
            (
                Key {
                    arm,
                    scenario,
                    seed,
                },
                c,
            )
        };
        let mut everies = vec![0];
        everies.extend(self.on_policy_every.iter().copied());
        for (ii, init) in self.inits.iter().enumerate() {
            for (oi, opt) in self.optims.iter().enumerate() {
                for &every in &everies {
                    for (si, sc) in SCENARIOS.iter().enumerate() {
                        for &seed in &seeds {
                            let mut c = self.base.clone();
                            c.policy.init_scale = Some(init.scale);
                            c.policy.init = Some(init.family.clone());
                            c.optimizer = opt.config.clone();
                            c.data = crate::io::config::DataConfig {
                                scenario: Some(sc.to_string()),
                                ..Default::default()
                            };
                            c.on_policy = (every > 0).then_some(OnPolicyConfig {
                                every: every as i64,
                                temperature: Some(self.on_policy_temperature),
                            });
                            c.seed = seed;
                            let arm = Arm::Mlp {
                                init: ii,
                                optim: oi,
                                every,
                            };
                            jobs.push(with(arm, Some(si), seed, c));
                        }
                    }
                }
            }
        }
        for (oi, opt) in self.optims.iter().enumerate() {
            for (fi, fam) in self.families.iter().enumerate() {
                for (si, sc) in SCENARIOS.iter().enumerate() {
                    for &seed in &seeds {
                        let mut c = self.base.clone();
                        c.policy = fam.policy.clone();
                        c.optimizer = opt.config.clone();
                        c.data = crate::io::config::DataConfig {
                            scenario: Some(sc.to_string()),
                            ..Default::default()
                        };
                        c.on_policy = None;
                        c.seed = seed;
                        let arm = Arm::Family {
                            family: fi,
                            optim: oi,
                        };
                        jobs.push(with(arm, Some(si), seed, c));
                    }
                }
            }
            for frozen in [true, false] {
                for (ci, &cos) in self.similarity.cosines.iter().enumerate() {
                    for &seed in &seeds {
                        let mut c = self.base.clone();
                        c.policy = PolicyConfig {
                            kind: "loglinear".into(),
                            width: None,
                            activation: None,
                            init_scale: None,
                            init: None,
                            dim: Some(self.similarity.dim),
                            freeze_responses: Some(frozen),
                            pair_similarity: Some(cos),
                        };
                        c.optimizer = opt.config.clone();
                        c.on_policy = None;
                        c.seed = seed;
                        let arm = Arm::Similarity {
                            frozen,
                            cosine: ci,
                            optim: oi,
                        };
                        jobs.push(with(arm, None, seed, c));
                    }
                }
            }
        }
        for (k, c) in &jobs {
            c.build().map_err(|e| match e {
                Error::Config { field, msg } => {
                    Error::config(field, format!("{msg} (in the robustness run {k:?})"))
                }
                other => other,
            })?;
        }
        Ok(jobs)
    }
}

/// Which arm of the study a run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arm {
    /// The MLP at an initialisation and optimiser; `every` = 0 for the fixed
    /// pairs, else the on-policy resampling interval.
    Mlp {
        /// Index in [`Grid::inits`].
        init: usize,
        /// Index in [`Grid::optims`].
        optim: usize,
        /// 0 for the fixed pairs, else the resampling interval.
        every: u32,
    },
    /// A policy family of `[[family]]` (fixed pairs).
    Family {
        /// Index in [`Grid::families`].
        family: usize,
        /// Index in [`Grid::optims`].
        optim: usize,
    },
    /// The log-linear policy at the `cosine`-th pair cosine.
    Similarity {
        /// Whether the response embeddings are frozen.
        frozen: bool,
        /// Index in [`SimilaritySpec::cosines`].
        cosine: usize,
        /// Index in [`Grid::optims`].
        optim: usize,
    },
}

/// One run: its arm, scenario (index in [`SCENARIOS`]; `None` for the base
/// config's data) and seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The arm of the study.
    pub arm: Arm,
    /// Index in [`SCENARIOS`], or `None` for the base config's data.
    pub scenario: Option<usize>,
    /// The run's `seed`.
    pub seed: u64,
}

/// The D-scores of one run that the claims read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Orders of magnitude the average rejected probability fell.
    pub drop: f64,
    /// Relative fall of the average chosen probability from its peak.
    pub degradation: f64,
    /// Rise of the average unseen probability from its minimum.
    pub dispersion: f64,
    /// Peak of the average chosen probability.
    pub peak_avg_chosen: f64,
    /// NaN when the data name no optimal responses.
    pub final_avg_optimal: f64,
    /// Whether the run stopped on a non-finite state.
    pub diverged: bool,
}

impl From<&Summary> for Scores {
    fn from(s: &Summary) -> Self {
        Scores {
            drop: s.drop,
            degradation: s.degradation,
            dispersion: s.dispersion,
            peak_avg_chosen: s.peak_avg_chosen,
            final_avg_optimal: s.final_avg_optimal.unwrap_or(f64::NAN),
            diverged: s.diverged,
        }
    }
}

/// The quantity a claim is decided on (it sets the decimals of its numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// [`Scores::drop`].
    Drop,
    /// [`Scores::degradation`].
    Degradation,
    /// [`Scores::dispersion`].
    Dispersion,
    /// [`Scores::peak_avg_chosen`].
    PeakAvgChosen,
    /// [`Scores::final_avg_optimal`].
    FinalAvgOptimal,
}

/// A claim's evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Evidence {
    /// "In every run" (the property counted).
    Count(Count),
    /// A difference of means.
    Comparison(Comparison),
    /// A rank correlation.
    Correlation(Correlation),
}

/// Where a cell sits: an (initialisation, optimiser) of the MLP grid, or an
/// optimiser alone (policy families and similarity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// An MLP cell of the grid.
    Mlp {
        /// Index in [`Grid::inits`].
        init: usize,
        /// Index in [`Grid::optims`].
        optim: usize,
    },
    /// A cell of the optimiser alone.
    Optim {
        /// Index in [`Grid::optims`].
        optim: usize,
    },
}

/// One claim in one setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The claim's id (a template key, see `templates/claims.md`).
    pub claim: String,
    /// The claim's statement template and the facts it needs besides the
    /// study's: e.g. the on-policy interval.
    pub template: &'static str,
    /// The claim's own facts, e.g. `("every", "10")`.
    pub params: Vec<(&'static str, String)>,
    /// The setting.
    pub column: Column,
    /// The quantity the claim is decided on.
    pub measure: Measure,
    /// What the claim says of a comparison or correlation (`None` for a count).
    pub claimed: Option<Claimed>,
    /// The evidence computed from the runs.
    pub evidence: Evidence,
    /// The verdict on the claim (rules in [`crate::analysis::evidence`]).
    pub verdict: Verdict,
}

/// For each level of the similarity axis (V frozen): the runs that degrade
/// and the mean degradation against [`DEGRADED`].
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// The pair cosine at initialisation.
    pub cosine: f64,
    /// Runs with degradation above [`DEGRADED`].
    pub degraded: Count,
    /// Mean degradation minus [`DEGRADED`] (one-sample t).
    pub vs_threshold: Comparison,
    /// Standard deviation of the degradation over seeds (n − 1).
    pub sd: f64,
}

/// The similarity facts of one optimiser (V frozen).
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarityFacts {
    /// Index in [`Grid::optims`].
    pub optim: usize,
    /// One per cosine, ascending.
    pub levels: Vec<Level>,
    /// The smallest cosine from which the mean degradation of every level
    /// is above [`DEGRADED`] (its interval excludes it); `None` if the top
    /// level's is not.
    pub onset: Option<f64>,
    /// Runs below the onset (all runs if none) with degradation above [`DEGRADED`].
    pub below_onset: Count,
}

/// The finished study: the grid, every run and every cell.
#[derive(Debug, Clone)]
pub struct Study {
    /// The grid the runs came from.
    pub grid: Grid,
    /// Every run, in [`Grid::jobs`] order.
    pub runs: Vec<(Key, Scores)>,
    /// Every claim in every setting.
    pub cells: Vec<Cell>,
    /// The similarity facts, one per optimiser.
    pub similarity: Vec<SimilarityFacts>,
}

impl Study {
    /// Trains every run of `grid` (summaries only, in parallel) and computes
    /// the cells.
    pub fn run(grid: Grid) -> Result<Self> {
        let jobs = grid.jobs()?;
        let runs = jobs
            .par_iter()
            .map(|(k, c)| {
                let spec = c.build()?;
                let r = train(
                    &spec,
                    Keep {
                        metrics: false,
                        snapshots: false,
                    },
                );
                Ok((*k, Scores::from(&r.summary)))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_runs(grid, runs)
    }

    /// The cells computed from finished `runs` (every key of
    /// [`Grid::jobs`] must be present).
    pub fn from_runs(grid: Grid, runs: Vec<(Key, Scores)>) -> Result<Self> {
        let index: HashMap<Key, Scores> = runs.iter().copied().collect();
        let seeds = grid.seeds.seeds();
        let get = |arm: Arm, scenario: Option<usize>, seed: u64| -> Result<Scores> {
            index
                .get(&Key {
                    arm,
                    scenario,
                    seed,
                })
                .copied()
                .ok_or_else(|| {
                    Error::config(
                        "runs",
                        format!("lack the run {arm:?}, scenario {scenario:?}, seed {seed}"),
                    )
                })
        };
        // The values of `f` over scenarios × seeds (or seeds alone) of an arm,
        // in a fixed order so that two arms pair run by run.
        let over = |arm: Arm, scenarios: &[usize], f: fn(&Scores) -> f64| -> Result<Vec<f64>> {
            let mut v = Vec::new();
            for &s in scenarios {
                for &seed in &seeds {
                    v.push(f(&get(arm, Some(s), seed)?));
                }
            }
            Ok(v)
        };
        let all: Vec<usize> = (0..SCENARIOS.len()).collect();
        let mut cells = Vec::new();
        let count = |claim: &str,
                     template: &'static str,
                     params: Vec<(&'static str, String)>,
                     column: Column,
                     measure: Measure,
                     c: Count| Cell {
            claim: claim.to_string(),
            template,
            params,
            column,
            measure,
            claimed: None,
            verdict: c.verdict(),
            evidence: Evidence::Count(c),
        };
        let compare = |claim: &str,
                       template: &'static str,
                       params: Vec<(&'static str, String)>,
                       column: Column,
                       measure: Measure,
                       claimed: Claimed,
                       c: Comparison| Cell {
            claim: claim.to_string(),
            template,
            params,
            column,
            measure,
            claimed: Some(claimed),
            verdict: c.verdict(claimed),
            evidence: Evidence::Comparison(c),
        };
        for init in 0..grid.inits.len() {
            for optim in 0..grid.optims.len() {
                let col = Column::Mlp { init, optim };
                let fixed = Arm::Mlp {
                    init,
                    optim,
                    every: 0,
                };
                let drop = over(fixed, &all, |s| s.drop)?;
                let deg = over(fixed, &all, |s| s.degradation)?;
                let disp = over(fixed, &all, |s| s.dispersion)?;
                cells.push(count(
                    "drop",
                    "drop",
                    vec![],
                    col,
                    Measure::Drop,
                    Count::of(&drop, |v| v > DROPPED),
                ));
                cells.push(count(
                    "degradation",
                    "degradation",
                    vec![],
                    col,
                    Measure::Degradation,
                    Count::of(&deg, |v| v > DEGRADED),
                ));
                cells.push(count(
                    "dispersion",
                    "dispersion",
                    vec![],
                    col,
                    Measure::Dispersion,
                    Count::of(&disp, |v| v > DISPERSED),
                ));
                // The paper: more dispersion and lower chosen peaks in
                // scenarios 2-4 than in scenario 1. Runs of one seed share
                // the MLP's initialisation across scenarios: paired.
                for (measure, f, claimed, name) in [
                    (
                        Measure::Dispersion,
                        (|s: &Scores| s.dispersion) as fn(&Scores) -> f64,
                        Claimed::Above,
                        "dispersion",
                    ),
                    (
                        Measure::PeakAvgChosen,
                        |s: &Scores| s.peak_avg_chosen,
                        Claimed::Below,
                        "peak",
                    ),
                ] {
                    let s1 = over(fixed, &[0], f)?;
                    for sk in 1..SCENARIOS.len() {
                        let v = over(fixed, &[sk], f)?;
                        cells.push(compare(
                            &format!("s{}-{name}", sk + 1),
                            if name == "peak" {
                                "scenario-peak"
                            } else {
                                "scenario-dispersion"
                            },
                            vec![("scenario", (sk + 1).to_string())],
                            col,
                            measure,
                            claimed,
                            Comparison::paired(&v, &s1),
                        ));
                    }
                }
                let opt_fixed = over(fixed, &all, |s| s.final_avg_optimal)?;
                for &every in &grid.on_policy_every {
                    let arm = Arm::Mlp { init, optim, every };
                    let deg = over(arm, &all, |s| s.degradation)?;
                    let params = vec![("every", every.to_string())];
                    cells.push(count(
                        &format!("onpolicy-{every}-degradation"),
                        "onpolicy-degradation",
                        params.clone(),
                        col,
                        Measure::Degradation,
                        Count::of(&deg, |v| v <= DEGRADED),
                    ));
                    let opt = over(arm, &all, |s| s.final_avg_optimal)?;
                    cells.push(compare(
                        &format!("onpolicy-{every}-optimal"),
                        "onpolicy-optimal",
                        params,
                        col,
                        Measure::FinalAvgOptimal,
                        Claimed::Above,
                        Comparison::paired(&opt, &opt_fixed),
                    ));
                }
            }
        }
        let mut similarity = Vec::new();
        for optim in 0..grid.optims.len() {
            let col = Column::Optim { optim };
            for (family, fam) in grid.families.iter().enumerate() {
                let arm = Arm::Family { family, optim };
                let id = &fam.id;
                let drop = over(arm, &all, |s| s.drop)?;
                let deg = over(arm, &all, |s| s.degradation)?;
                let disp = over(arm, &all, |s| s.dispersion)?;
                let params = vec![("family", fam.label.clone())];
                cells.push(count(
                    &format!("{id}-drop"),
                    "family-drop",
                    params.clone(),
                    col,
                    Measure::Drop,
                    Count::of(&drop, |v| v > DROPPED),
                ));
                cells.push(count(
                    &format!("{id}-no-degradation"),
                    "family-no-degradation",
                    params.clone(),
                    col,
                    Measure::Degradation,
                    Count::of(&deg, |v| v <= DEGRADED),
                ));
                cells.push(count(
                    &format!("{id}-no-dispersion"),
                    "family-no-dispersion",
                    params,
                    col,
                    Measure::Dispersion,
                    Count::of(&disp, |v| v <= DISPERSED),
                ));
            }
            let sim = |frozen: bool, below: Option<f64>| -> Result<(Vec<f64>, Vec<f64>)> {
                let (mut xs, mut ys) = (Vec::new(), Vec::new());
                for (ci, &cos) in grid.similarity.cosines.iter().enumerate() {
                    if below.is_some_and(|b| cos >= b) {
                        continue;
                    }
                    for &seed in &seeds {
                        let arm = Arm::Similarity {
                            frozen,
                            cosine: ci,
                            optim,
                        };
                        xs.push(cos);
                        ys.push(get(arm, None, seed)?.degradation);
                    }
                }
                Ok((xs, ys))
            };
            let mut levels = Vec::new();
            for (ci, &cosine) in grid.similarity.cosines.iter().enumerate() {
                let arm = Arm::Similarity {
                    frozen: true,
                    cosine: ci,
                    optim,
                };
                let v: Vec<f64> = seeds
                    .iter()
                    .map(|&s| get(arm, None, s).map(|r| r.degradation))
                    .collect::<Result<_>>()?;
                let vs = Comparison::one_sample(&v, DEGRADED);
                let m = vs.mean_a;
                let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0))
                    .sqrt();
                levels.push(Level {
                    cosine,
                    degraded: Count::of(&v, |x| x > DEGRADED),
                    vs_threshold: vs,
                    sd,
                });
            }
            let onset = levels
                .iter()
                .rposition(|l| l.vs_threshold.outcome() != Outcome::Above)
                .map_or(Some(0), |i| (i + 1 < levels.len()).then_some(i + 1))
                .map(|i| levels[i].cosine);
            let (xs, ys) = sim(true, None)?;
            let frozen = Correlation::spearman(&xs, &ys);
            let (bx, by) = sim(true, onset)?;
            let below = Correlation::spearman(&bx, &by);
            let (tx, ty) = sim(false, None)?;
            let trained = Correlation::spearman(&tx, &ty);
            for (claim, claimed, c) in [
                ("similarity-frozen", Claimed::Above, frozen),
                ("similarity-below-onset", Claimed::Above, below),
                ("similarity-trained", Claimed::NoDifference, trained),
            ] {
                cells.push(Cell {
                    claim: claim.into(),
                    template: claim,
                    params: vec![],
                    column: col,
                    measure: Measure::Degradation,
                    claimed: Some(claimed),
                    verdict: c.verdict(claimed),
                    evidence: Evidence::Correlation(c),
                });
            }
            similarity.push(SimilarityFacts {
                optim,
                below_onset: Count::of(&by, |x| x > DEGRADED),
                levels,
                onset,
            });
        }
        Ok(Study {
            grid,
            runs,
            cells,
            similarity,
        })
    }

    /// The cell of `claim` in `column`, if the study has it.
    pub fn cell(&self, claim: &str, column: Column) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.claim == claim && c.column == column)
    }

    /// How many runs diverged.
    pub fn diverged(&self) -> usize {
        self.runs.iter().filter(|r| r.1.diverged).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(extra: &str) -> Result<Grid> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let text = std::fs::read_to_string(dir.join("robustness.toml")).unwrap();
        Grid::from_toml_str(&format!("{text}{extra}"), &dir)
    }

    #[test]
    fn the_study_file_resolves_against_fig2() {
        let g = grid("").unwrap();
        let base = &g.base;
        assert_eq!(
            Some(g.inits[g.base_init].scale),
            base.policy.init_scale.or(Some(1.0))
        );
        assert_eq!(
            Some(g.inits[g.base_init].family.as_str()),
            base.policy.init.as_deref().or(Some("uniform"))
        );
        assert_eq!(g.optims[g.base_optim].config, base.optimizer);
        // Seeds are held out from the calibration seeds.
        let cal = g.calibration_seeds.seeds();
        assert!(g.seeds.seeds().iter().all(|s| !cal.contains(s)));
    }

    #[test]
    fn overlapping_seeds_and_bad_ids_are_refused() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/robustness.toml"),
        )
        .unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let bad = text.replace(
            "seeds = { first = 16, last = 31 }",
            "seeds = { first = 10, last = 31 }",
        );
        let e = Grid::from_toml_str(&bad, &dir).unwrap_err().to_string();
        assert!(e.contains("overlap"), "{e}");
        let bad = text.replace("id = \"sgdm\"", "id = \"SGD m\"");
        let e = Grid::from_toml_str(&bad, &dir).unwrap_err().to_string();
        assert!(e.contains("ids are lowercase"), "{e}");
        let bad = text.replace("id = \"sgdm\"", "id = \"sgd\"");
        let e = Grid::from_toml_str(&bad, &dir).unwrap_err().to_string();
        assert!(e.contains("used twice"), "{e}");
    }

    #[test]
    fn claims_are_computed_from_runs_and_pair_by_seed() {
        // A synthetic study: the scores are a function of the key, so every
        // verdict is known in advance.
        let mut g = grid("").unwrap();
        g.seeds = SeedRange {
            first: 16,
            last: 19,
        };
        let jobs = g.jobs().unwrap();
        let runs: Vec<(Key, Scores)> = jobs
            .iter()
            .map(|(k, _)| {
                let s = k.seed as f64;
                let (deg, disp) = match (k.arm, k.scenario) {
                    (Arm::Mlp { every: 0, .. }, Some(sc)) => {
                        (0.3, 0.02 + 0.001 * s + 0.01 * sc as f64)
                    }
                    (Arm::Mlp { every, .. }, _) => (if every == 1 { 0.0 } else { 0.2 }, 0.0),
                    _ => (0.0, 0.0),
                };
                (
                    *k,
                    Scores {
                        drop: 5.0,
                        degradation: deg,
                        dispersion: disp,
                        peak_avg_chosen: 0.5,
                        final_avg_optimal: 0.3,
                        diverged: false,
                    },
                )
            })
            .collect();
        let st = Study::from_runs(g, runs).unwrap();
        let col = Column::Mlp {
            init: st.grid.base_init,
            optim: st.grid.base_optim,
        };
        let v = |claim: &str| st.cell(claim, col).unwrap().verdict;
        assert_eq!(v("degradation"), Verdict::Holds);
        // Scenario k's dispersion exceeds scenario 1's by exactly 0.01 (k−1)
        // at every seed: a paired test sees no spread and is exact.
        assert_eq!(v("s3-dispersion"), Verdict::Holds);
        assert_eq!(v("s2-peak"), Verdict::WithinNoise);
        assert_eq!(v("onpolicy-1-degradation"), Verdict::Holds);
        assert_eq!(v("onpolicy-10-degradation"), Verdict::Fails);
        let Evidence::Count(c) = st.cell("onpolicy-10-degradation", col).unwrap().evidence else {
            panic!("a count")
        };
        assert_eq!((c.k, c.n), (0, 16));
    }
}
