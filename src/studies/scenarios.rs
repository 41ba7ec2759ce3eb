//! Figure 3's scenario effect: does a lower starting likelihood end with a
//! lower chosen probability and more unseen mass, as the paper shows? Each
//! candidate explanation is a variant (config fields overridden on all four
//! scenario configs) and becomes a measured row: per scenario the seed
//! quantiles, and the paper's orderings as paired comparisons over seeds.

use crate::analysis::stats::{paired_diff, PairedDiff, Quantiles};
use crate::engine::train::{train, Keep};
use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::io::sweep::set_path;
use rayon::prelude::*;
use serde::Deserialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// One candidate: a name and the fields it overrides (dotted paths).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// What the variant tests, for the report.
    pub name: String,
    /// Dotted field → value, applied to every scenario's config.
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
    /// Seeds `[start, end)` (default: the plan's).
    pub seeds: Option<[u64; 2]>,
}

/// `experiments/scenario-effect.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The four scenario configs, scenario 1 first, relative to the plan.
    pub configs: [String; 4],
    /// Seeds `[start, end)`, shared by the scenarios so comparisons are paired.
    pub seeds: [u64; 2],
    /// The candidate explanations (`[[variant]]`), each run on all four scenarios.
    #[serde(rename = "variant")]
    pub variants: Vec<Variant>,
    /// Directory of the plan file (set by [`Plan::load`]); `configs` are relative
    /// to it.
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Plan {
    /// Reads a plan file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, format!("cannot read scenario plan: {e}")))?;
        let mut plan: Plan = toml::from_str(&text).map_err(|e| {
            Error::config(
                path.display().to_string(),
                format!("is not a valid scenario plan: {}", e.to_string().trim_end()),
            )
        })?;
        plan.dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        if plan.seeds[0] >= plan.seeds[1] || plan.variants.is_empty() {
            return Err(Error::config(
                "seeds",
                "needs a non-empty seed range and at least one [[variant]]",
            ));
        }
        Ok(plan)
    }
}

/// One of the paper's orderings: its id (its statement is the line of that
/// key in `templates/scenario-effect-claims.md`), the metric, and the paired
/// comparisons `(larger, smaller)` (scenario indices 0..4) it needs.
pub type Claim = (&'static str, Metric, &'static [(usize, usize)]);

/// The paper's orderings of Figure 3, each a set of paired comparisons
/// `larger − smaller` that must all be positive.
pub const CLAIMS: [Claim; 4] = [
    (
        "s1-highest-final-chosen",
        Metric::FinalChosen,
        &[(0, 1), (0, 2), (0, 3)],
    ),
    (
        "s4-lowest-final-chosen",
        Metric::FinalChosen,
        &[(0, 3), (1, 3), (2, 3)],
    ),
    (
        "s2-4-more-final-unseen",
        Metric::FinalUnseen,
        &[(1, 0), (2, 0), (3, 0)],
    ),
    (
        "s2-4-lower-peak-chosen",
        Metric::PeakChosen,
        &[(0, 1), (0, 2), (0, 3)],
    ),
];

/// A per-run quantity the claims compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Average chosen probability at the last epoch.
    FinalChosen,
    /// Average unseen probability (8 responses outside the pair) at the end.
    FinalUnseen,
    /// Peak of the average chosen probability.
    PeakChosen,
}

impl Metric {
    /// All metrics, in column order.
    pub const ALL: [Metric; 3] = [Metric::FinalChosen, Metric::FinalUnseen, Metric::PeakChosen];

    fn index(self) -> usize {
        self as usize
    }
}

/// One claim under one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimCheck {
    /// Index into [`CLAIMS`].
    pub claim: usize,
    /// The paired comparisons, in the claim's order.
    pub diffs: Vec<PairedDiff>,
    /// Comparisons whose interval lies on the paper's side of 0.
    pub agree: usize,
    /// Comparisons whose interval lies on the other side.
    pub disagree: usize,
}

/// One variant's measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantFacts {
    /// The variant's name, as in the plan.
    pub name: String,
    /// The seeds it ran on, `[start, end)`.
    pub seeds: [u64; 2],
    /// `[scenario][metric]` quantiles over seeds.
    pub quantiles: Vec<Vec<Quantiles>>,
    /// Each of [`CLAIMS`], checked on this variant's runs.
    pub checks: Vec<ClaimCheck>,
    /// Runs that diverged.
    pub diverged: usize,
}

impl VariantFacts {
    /// Scenarios (1-based) ordered by their median of `m`, highest first.
    pub fn order(&self, m: Metric) -> Vec<usize> {
        let mut o: Vec<usize> = (0..4).collect();
        o.sort_by(|&a, &b| {
            self.quantiles[b][m.index()]
                .median
                .total_cmp(&self.quantiles[a][m.index()].median)
        });
        o.into_iter().map(|s| s + 1).collect()
    }
}

/// The study's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioFacts {
    /// One entry per variant, in the plan's order.
    pub variants: Vec<VariantFacts>,
}

fn load_table(path: &Path) -> Result<Table> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(path, format!("cannot read config: {e}")))?;
    text.parse::<Table>()
        .map_err(|e| Error::config(path.display().to_string(), e.to_string()))
}

/// Runs every variant on the four scenarios.
pub fn scenario_effect(plan: &Plan) -> Result<ScenarioFacts> {
    let bases = plan
        .configs
        .iter()
        .map(|c| load_table(&plan.dir.join(c)))
        .collect::<Result<Vec<_>>>()?;
    let variants = plan
        .variants
        .iter()
        .map(|v| {
            let seeds = v.seeds.unwrap_or(plan.seeds);
            let configs = bases
                .iter()
                .map(|b| {
                    let mut t = b.clone();
                    for (k, x) in &v.set {
                        set_path(&mut t, k, x.clone())?;
                    }
                    let text = toml::to_string(&t).expect("a TOML table serialises");
                    Config::from_toml_str(&text)
                        .and_then(|c| c.resolved())
                        .map_err(|e| e.map_field(|field| format!("variant `{}`: {field}", v.name)))
                })
                .collect::<Result<Vec<_>>>()?;
            let jobs: Vec<(usize, u64)> = (0..4)
                .flat_map(|s| (seeds[0]..seeds[1]).map(move |seed| (s, seed)))
                .collect();
            let runs: Vec<(bool, [f64; 3])> = jobs
                .par_iter()
                .map(|&(s, seed)| {
                    let mut c = configs[s].clone();
                    c.seed = seed;
                    let spec = c.build()?;
                    let r = train(
                        &spec,
                        Keep {
                            metrics: false,
                            snapshots: false,
                        },
                    )
                    .summary;
                    Ok((
                        r.diverged,
                        [r.final_avg_chosen, r.final_avg_unseen, r.peak_avg_chosen],
                    ))
                })
                .collect::<Result<_>>()?;
            let n = (seeds[1] - seeds[0]) as usize;
            let col = |s: usize, m: Metric| -> Vec<f64> {
                runs[s * n..(s + 1) * n]
                    .iter()
                    .map(|(_, v)| v[m.index()])
                    .collect()
            };
            let quantiles = (0..4)
                .map(|s| {
                    Metric::ALL
                        .iter()
                        .map(|&m| Quantiles::of(&col(s, m)))
                        .collect()
                })
                .collect();
            let checks = CLAIMS
                .iter()
                .enumerate()
                .map(|(i, (_, m, pairs))| {
                    let diffs: Vec<PairedDiff> = pairs
                        .iter()
                        .map(|&(a, b)| paired_diff(&col(a, *m), &col(b, *m)))
                        .collect();
                    ClaimCheck {
                        claim: i,
                        agree: diffs
                            .iter()
                            .filter(|d| d.sign() == Some(Ordering::Greater))
                            .count(),
                        disagree: diffs
                            .iter()
                            .filter(|d| d.sign() == Some(Ordering::Less))
                            .count(),
                        diffs,
                    }
                })
                .collect();
            Ok(VariantFacts {
                name: v.name.clone(),
                seeds,
                quantiles,
                checks,
                diverged: runs.iter().filter(|(d, _)| *d).count(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ScenarioFacts { variants })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_plan_parses_and_every_variant_builds() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let plan = Plan::load(&dir.join("scenario-effect.toml")).unwrap();
        for c in &plan.configs {
            Config::load(&dir.join(c)).unwrap().resolved().unwrap();
        }
        // A variant with a bad field is reported by name (checked on a copy).
        let mut bad = plan.clone();
        bad.variants.truncate(1);
        bad.variants[0]
            .set
            .insert("optimizer.lr".into(), Value::Float(-1.0));
        bad.seeds = [0, 1];
        let err = scenario_effect(&bad).unwrap_err().to_string();
        assert!(err.contains("optimizer.lr"), "{err}");
    }
}
