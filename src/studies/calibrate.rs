//! Calibration of the knobs the paper leaves unstated against the values read
//! off its Figure 2 (`experiments/paper-readoffs.toml`).
//!
//! The plan (`experiments/calibrate.toml`) is a staged grid search: stage 1
//! crosses its axes over the base config; each later stage crosses its axes
//! over the `keep` best settings so far. Every setting is trained on the
//! choice seeds and scored by the distance of its seed medians to the
//! read-offs. The winner is the best setting on the choice seeds; it and the
//! next `finalists − 1` are rerun on the held-out seeds, which only report
//! (choosing on them would make them held-in).

use crate::analysis::readout::{readout, Kind, Readoffs};
use crate::analysis::stats::Quantiles;
use crate::engine::train::{train, Keep};
use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::io::sweep::set_path;
use rayon::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// One axis of a stage: a dotted config field and its values, or factors
/// that multiply the field's current numeric value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanAxis {
    /// Dotted path into the run config, e.g. `optimizer.lr`.
    pub field: String,
    /// Values to set (a table value replaces the field's table unless `merge`).
    #[serde(default)]
    pub values: Vec<Value>,
    /// Factors applied to the field's current value (instead of `values`).
    #[serde(default)]
    pub factors: Vec<f64>,
    /// Merge a table value key by key into the field's table.
    #[serde(default)]
    pub merge: bool,
    /// A short label per value, for tables (default: the value as TOML).
    #[serde(default)]
    pub labels: Vec<String>,
}

/// One stage of the search.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// What the stage searches, for the report.
    pub name: String,
    /// How many of the best settings so far the next stage starts from.
    pub keep: usize,
    /// The fields varied (`[[stage.axis]]`): their product, applied to each
    /// kept setting, gives the stage's settings.
    #[serde(rename = "axis")]
    pub axes: Vec<PlanAxis>,
}

/// `experiments/calibrate.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The base run config, relative to the plan file.
    pub base: String,
    /// Seeds the settings are chosen on, `[start, end)`.
    pub choose_seeds: [u64; 2],
    /// Held-out seeds the chosen settings are reported on, `[start, end)`.
    pub report_seeds: [u64; 2],
    /// How many of the best settings are rerun on the held-out seeds.
    pub finalists: usize,
    /// Settings within this distance of the best count as tied; among them
    /// the one that changes the fewest fields of the base config wins (a knob
    /// that does not move the distance stays at its base value).
    pub tie: f64,
    /// The stages (`[[stage]]`), run in order.
    #[serde(rename = "stage")]
    pub stages: Vec<Stage>,
    /// Directory of the plan file (set by [`Plan::load`]).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Plan {
    /// Reads and checks a plan file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, format!("cannot read calibration plan: {e}")))?;
        let mut plan: Plan = toml::from_str(&text).map_err(|e| {
            Error::config(
                path.display().to_string(),
                format!(
                    "is not a valid calibration plan: {}",
                    e.to_string().trim_end()
                ),
            )
        })?;
        plan.dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        for (field, [a, b]) in [
            ("choose_seeds", plan.choose_seeds),
            ("report_seeds", plan.report_seeds),
        ] {
            if a >= b {
                return Err(Error::config(
                    field,
                    format!("= [{a}, {b}] must be a non-empty range [start, end)"),
                ));
            }
        }
        let (c, r) = (plan.choose_seeds, plan.report_seeds);
        if c[0] < r[1] && r[0] < c[1] {
            return Err(Error::config(
                "report_seeds",
                "must not overlap choose_seeds: held-out seeds are held out",
            ));
        }
        if plan.stages.is_empty() || plan.finalists == 0 {
            return Err(Error::config(
                "stage",
                "needs at least one [[stage]] and finalists >= 1",
            ));
        }
        for s in &plan.stages {
            for a in &s.axes {
                if a.values.is_empty() == a.factors.is_empty() {
                    return Err(Error::config(
                        format!("stage.axis `{}`", a.field),
                        "needs exactly one of `values` or `factors`",
                    ));
                }
                if !a.labels.is_empty() && a.labels.len() != a.values.len() {
                    return Err(Error::config(
                        format!("stage.axis `{}`.labels", a.field),
                        "must have one label per value",
                    ));
                }
            }
        }
        Ok(plan)
    }

    /// The base config, resolved.
    pub fn base_config(&self) -> Result<Config> {
        Config::load(&self.dir.join(&self.base))?.resolved()
    }

    /// The base config as a TOML table.
    pub fn base_table(&self) -> Result<Table> {
        let path = self.dir.join(&self.base);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(&path, format!("cannot read base config: {e}")))?;
        text.parse::<Table>()
            .map_err(|e| Error::config(path.display().to_string(), e.to_string()))
    }
}

/// A point of the search: the base config with some fields overridden.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// `(field, label)` of every override, in the order applied.
    pub knobs: Vec<(String, String)>,
    /// The run config (seed to be set per run).
    pub table: Table,
}

impl Setting {
    /// `field = label` pairs joined, the setting's name in tables.
    pub fn label(&self) -> String {
        self.knobs
            .iter()
            .map(|(f, l)| format!("{f} = {l}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The resolved config, which also identifies the setting.
    pub fn config(&self) -> Result<Config> {
        let text = toml::to_string(&self.table).expect("a TOML table serialises");
        Config::from_toml_str(&text)?.resolved()
    }
}

/// A resolved config as `dotted.field → value` text.
fn flatten(c: &Config) -> BTreeMap<String, String> {
    fn walk(prefix: &str, t: &Table, out: &mut BTreeMap<String, String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Table(sub) => walk(&key, sub, out),
                other => {
                    out.insert(key, other.to_string());
                }
            }
        }
    }
    let table: Table = c
        .to_toml_string()
        .parse()
        .expect("a serialised config parses");
    let mut out = BTreeMap::new();
    walk("", &table, &mut out);
    out
}

/// Fields whose value differs between two flattened configs (the seed aside).
fn count_changed(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> usize {
    differing(a, b).len()
}

fn differing(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| k.as_str() != "seed" && a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// The dotted fields (the seed aside) in which two resolved configs differ,
/// e.g. to check that a paper config holds the calibration's winner.
pub fn differing_fields(a: &Config, b: &Config) -> Vec<String> {
    differing(&flatten(a), &flatten(b))
}

fn get_path<'a>(root: &'a Table, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut v = root.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    }
}

/// Crosses `axis` over `settings`.
fn cross(settings: Vec<Setting>, axis: &PlanAxis) -> Result<Vec<Setting>> {
    let mut out = Vec::new();
    for s in settings {
        if axis.factors.is_empty() {
            for (i, v) in axis.values.iter().enumerate() {
                let mut t = s.table.clone();
                match (axis.merge, v) {
                    (true, Value::Table(kv)) => {
                        for (k, x) in kv {
                            set_path(&mut t, &format!("{}.{k}", axis.field), x.clone())?;
                        }
                    }
                    _ => set_path(&mut t, &axis.field, v.clone())?,
                }
                let label = axis.labels.get(i).cloned().unwrap_or_else(|| short(v));
                let mut knobs = s.knobs.clone();
                knobs.retain(|(f, _)| f != &axis.field);
                knobs.push((axis.field.clone(), label));
                out.push(Setting { knobs, table: t });
            }
        } else {
            let cur = get_path(&s.table, &axis.field)
                .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
                .ok_or_else(|| {
                    Error::config(
                        format!("stage.axis `{}`", axis.field),
                        "has factors but the field is not a number in the setting",
                    )
                })?;
            for f in &axis.factors {
                let mut t = s.table.clone();
                let v = cur * f;
                set_path(&mut t, &axis.field, Value::Float(v))?;
                let mut knobs = s.knobs.clone();
                knobs.retain(|(k, _)| k != &axis.field);
                knobs.push((axis.field.clone(), format!("{v:.3e}")));
                out.push(Setting { knobs, table: t });
            }
        }
    }
    Ok(out)
}

/// One setting's score over one seed set.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The stage (1-based) that first produced the setting.
    pub stage: usize,
    /// The setting scored.
    pub setting: Setting,
    /// The seeds it ran on, `[start, end)`.
    pub seeds: [u64; 2],
    /// Per read-off (in the order of [`Readoffs::readoff`]): quantiles over seeds.
    pub quantiles: Vec<Quantiles>,
    /// `|median − paper| / tolerance` per read-off.
    pub scaled: Vec<f64>,
    /// Root mean square of the scaled errors of the scored value read-offs.
    pub value_err: f64,
    /// Root mean square of the scaled errors of the scored epoch read-offs.
    pub timing_err: f64,
    /// Root mean square over all scored read-offs: the distance searched on.
    pub distance: f64,
    /// Scored read-offs within their tolerance (scaled error ≤ 1).
    pub within: usize,
    /// Runs that diverged (a setting with any is scored +∞).
    pub diverged: usize,
}

fn rms(xs: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x * x, n + 1));
    (s / n.max(1) as f64).sqrt()
}

/// Trains `setting` on seeds `[a, b)` in parallel and scores it.
pub fn score(setting: &Setting, seeds: [u64; 2], stage: usize, r: &Readoffs) -> Result<Score> {
    let base = setting.config()?;
    let runs: Vec<(bool, Vec<f64>)> = (seeds[0]..seeds[1])
        .into_par_iter()
        .map(|seed| {
            let mut c = base.clone();
            c.seed = seed;
            c.record_every = Some(1);
            let spec = c.build()?;
            let res = train(
                &spec,
                Keep {
                    metrics: true,
                    snapshots: false,
                },
            );
            let vals = r
                .readoff
                .iter()
                .map(|k| readout(&res.metrics, &k.key))
                .collect();
            Ok((res.summary.diverged, vals))
        })
        .collect::<Result<_>>()?;
    let diverged = runs.iter().filter(|(d, _)| *d).count();
    let quantiles: Vec<Quantiles> = (0..r.readoff.len())
        .map(|k| Quantiles::of(&runs.iter().map(|(_, v)| v[k]).collect::<Vec<_>>()))
        .collect();
    let scaled: Vec<f64> = r
        .readoff
        .iter()
        .zip(&quantiles)
        .map(|(k, q)| r.scaled_error(k, q.median))
        .collect();
    let pick = |kinds: &[Kind]| {
        rms(r
            .readoff
            .iter()
            .zip(&scaled)
            .filter(|(k, _)| k.scored && kinds.contains(&k.kind))
            .map(|(_, e)| if e.is_nan() { f64::INFINITY } else { *e }))
    };
    let mut value_err = pick(&[Kind::Value]);
    let mut timing_err = pick(&[Kind::Epoch]);
    let mut distance = pick(&[Kind::Value, Kind::Epoch]);
    if diverged > 0 {
        (value_err, timing_err, distance) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    }
    let within = r
        .readoff
        .iter()
        .zip(&scaled)
        .filter(|(k, e)| k.scored && **e <= 1.0)
        .count();
    Ok(Score {
        stage,
        setting: setting.clone(),
        seeds,
        quantiles,
        scaled,
        value_err,
        timing_err,
        distance,
        within,
        diverged,
    })
}

/// What the calibration found.
#[derive(Debug, Clone)]
pub struct CalibrationFacts {
    /// The paper's read-offs and tolerances the settings were scored against.
    pub readoffs: Readoffs,
    /// The stage names, in order.
    pub stages: Vec<String>,
    /// Every setting tried, scored on the choice seeds: the winner first,
    /// then by distance.
    pub tried: Vec<Score>,
    /// Per entry of `tried`: fields changed from the base config.
    pub changed: Vec<usize>,
    /// The tie tolerance the winner was chosen with.
    pub tie: f64,
    /// The finalists rerun on the held-out seeds, in choice-seed order
    /// (`heldout[0]` is the winner).
    pub heldout: Vec<Score>,
    /// Indices into `tried` of the Pareto frontier of (value error, timing error).
    pub frontier: Vec<usize>,
    /// Number of training runs made.
    pub runs: usize,
}

impl CalibrationFacts {
    /// The chosen setting, scored on the held-out seeds.
    pub fn winner(&self) -> &Score {
        &self.heldout[0]
    }

    /// The scored read-offs that miss their tolerance on the held-out seeds.
    pub fn misses(&self) -> Vec<usize> {
        let w = self.winner();
        (0..self.readoffs.readoff.len())
            .filter(|&k| {
                self.readoffs.readoff[k].scored && (w.scaled[k] > 1.0 || w.scaled[k].is_nan())
            })
            .collect()
    }
}

/// One row of `calibration.csv`: one read-off of one scored setting.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CalibrationRow {
    /// `choose` (the choice seeds) or `heldout`.
    pub seeds: String,
    /// Rank on the choice seeds (0 = the winner).
    pub rank: usize,
    /// The stage (1-based) that first produced the setting.
    pub stage: usize,
    /// The setting's label, its overrides as `field = label` ([`Setting::label`]).
    pub setting: String,
    /// As [`Score::distance`].
    pub distance: f64,
    /// As [`Score::value_err`].
    pub value_err: f64,
    /// As [`Score::timing_err`].
    pub timing_err: f64,
    /// Runs of the setting that diverged.
    pub diverged: usize,
    /// Fields changed from the base config.
    pub changed: usize,
    /// The read-off's key (see [`crate::analysis::readout`]).
    pub readoff: String,
    /// The value read off the paper's Figure 2.
    pub paper: f64,
    /// 10th percentile of the lab's value over the seeds.
    pub p10: f64,
    /// Median of the lab's value over the seeds.
    pub median: f64,
    /// 90th percentile of the lab's value over the seeds.
    pub p90: f64,
    /// `|median − paper| / tolerance`: at most 1 is within the target.
    pub scaled_error: f64,
    /// Whether the read-off counts towards the distance.
    pub scored: bool,
}

impl CalibrationFacts {
    /// Every scored setting × read-off, choice seeds first, then held-out.
    pub fn rows(&self) -> Vec<CalibrationRow> {
        let sets = [("choose", &self.tried), ("heldout", &self.heldout)];
        let mut out = Vec::new();
        for (name, scores) in sets {
            for (rank, s) in scores.iter().enumerate() {
                for (k, r) in self.readoffs.readoff.iter().enumerate() {
                    let q = s.quantiles[k];
                    out.push(CalibrationRow {
                        seeds: name.into(),
                        rank,
                        stage: s.stage,
                        setting: s.setting.label(),
                        distance: s.distance,
                        value_err: s.value_err,
                        timing_err: s.timing_err,
                        diverged: s.diverged,
                        changed: self.changed.get(rank).copied().unwrap_or(0),
                        readoff: r.key.clone(),
                        paper: r.value,
                        p10: q.p10,
                        median: q.median,
                        p90: q.p90,
                        scaled_error: s.scaled[k],
                        scored: r.scored,
                    });
                }
            }
        }
        out
    }
}

fn frontier(tried: &[Score]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..tried.len())
        .filter(|&i| tried[i].distance.is_finite())
        .filter(|&i| {
            !tried.iter().any(|o| {
                o.value_err <= tried[i].value_err
                    && o.timing_err <= tried[i].timing_err
                    && (o.value_err < tried[i].value_err || o.timing_err < tried[i].timing_err)
            })
        })
        .collect();
    idx.sort_by(|&a, &b| tried[a].value_err.total_cmp(&tried[b].value_err));
    idx
}

/// Runs the plan: every stage on the choice seeds, then the finalists on the
/// held-out seeds. `progress` is told each stage's size as it starts.
pub fn calibrate(plan: &Plan, progress: &dyn Fn(&str)) -> Result<CalibrationFacts> {
    let r = Readoffs::paper();
    let base = Setting {
        knobs: Vec::new(),
        table: plan.base_table()?,
    };
    // Scores by resolved config, so a setting reached twice is trained once.
    let mut seen: BTreeMap<String, Score> = BTreeMap::new();
    let mut runs = 0;
    let mut best: Vec<Setting> = vec![base];
    let n_seeds = (plan.choose_seeds[1] - plan.choose_seeds[0]) as usize;
    for (i, stage) in plan.stages.iter().enumerate() {
        let mut grid = best.clone();
        for a in &stage.axes {
            grid = cross(grid, a)?;
        }
        let mut fresh = Vec::new();
        for s in grid {
            let key = s.config()?.to_toml_string();
            if !seen.contains_key(&key) && !fresh.iter().any(|(k, _)| k == &key) {
                fresh.push((key, s));
            }
        }
        progress(&format!(
            "calibration stage {} ({}): {} new settings × {n_seeds} seeds",
            i + 1,
            stage.name,
            fresh.len()
        ));
        // Settings run one after another, each over its seeds in parallel, so
        // the order of work (and so every result) is fixed.
        for (key, s) in fresh {
            let sc = score(&s, plan.choose_seeds, i + 1, &r)?;
            runs += n_seeds;
            seen.insert(key, sc);
        }
        let mut ranked: Vec<&Score> = seen.values().collect();
        ranked.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        best = ranked
            .iter()
            .take(stage.keep.max(1))
            .map(|s| s.setting.clone())
            .collect();
    }
    let mut tried: Vec<Score> = seen.into_values().collect();
    tried.sort_by(|a, b| {
        a.distance
            .total_cmp(&b.distance)
            .then_with(|| a.setting.label().cmp(&b.setting.label()))
    });
    // The winner: the simplest of the settings tied with the best.
    let base_cfg = flatten(&plan.base_config()?);
    let best_d = tried.first().map_or(f64::INFINITY, |s| s.distance);
    let mut changed = Vec::with_capacity(tried.len());
    for s in &tried {
        changed.push(count_changed(&base_cfg, &flatten(&s.setting.config()?)));
    }
    let winner = (0..tried.len())
        .filter(|&i| tried[i].distance <= best_d + plan.tie)
        .min_by_key(|&i| (changed[i], i))
        .unwrap_or(0);
    let w = tried.remove(winner);
    let w_changed = changed.remove(winner);
    tried.insert(0, w);
    changed.insert(0, w_changed);
    progress(&format!(
        "calibration: {} finalists on held-out seeds {}..{}",
        plan.finalists.min(tried.len()),
        plan.report_seeds[0],
        plan.report_seeds[1]
    ));
    let heldout = tried
        .iter()
        .take(plan.finalists)
        .map(|s| score(&s.setting, plan.report_seeds, s.stage, &r))
        .collect::<Result<Vec<_>>>()?;
    runs += heldout.len() * (plan.report_seeds[1] - plan.report_seeds[0]) as usize;
    let frontier = frontier(&tried);
    Ok(CalibrationFacts {
        readoffs: r,
        stages: plan.stages.iter().map(|s| s.name.clone()).collect(),
        tried,
        changed,
        tie: plan.tie,
        heldout,
        frontier,
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> Table {
        s.parse().unwrap()
    }

    #[test]
    fn cross_sets_merges_and_scales() {
        let base = Setting {
            knobs: vec![],
            table: table(
                "[optimizer]\nname = \"adam\"\nlr = 0.01\n[policy]\nkind = \"mlp\"\nwidth = 8\n",
            ),
        };
        let opt = PlanAxis {
            field: "optimizer".into(),
            values: vec![Value::Table(table("name = \"sgd\"\nlr = 1.0"))],
            factors: vec![],
            merge: false,
            labels: vec!["sgd".into()],
        };
        let lr = PlanAxis {
            field: "optimizer.lr".into(),
            values: vec![],
            factors: vec![0.5, 2.0],
            merge: false,
            labels: vec![],
        };
        let init = PlanAxis {
            field: "policy".into(),
            values: vec![Value::Table(table("init = \"xavier\""))],
            factors: vec![],
            merge: true,
            labels: vec!["xavier".into()],
        };
        let g = cross(cross(cross(vec![base], &opt).unwrap(), &lr).unwrap(), &init).unwrap();
        assert_eq!(g.len(), 2);
        let lrs: Vec<f64> = g
            .iter()
            .map(|s| {
                get_path(&s.table, "optimizer.lr")
                    .unwrap()
                    .as_float()
                    .unwrap()
            })
            .collect();
        assert_eq!(lrs, vec![0.5, 2.0]);
        // Merge keeps the policy's other fields; replace drops the old optimiser's.
        assert_eq!(
            get_path(&g[0].table, "policy.width").unwrap().as_integer(),
            Some(8)
        );
        assert_eq!(
            get_path(&g[0].table, "policy.init").unwrap().as_str(),
            Some("xavier")
        );
        assert_eq!(
            get_path(&g[0].table, "optimizer.name").unwrap().as_str(),
            Some("sgd")
        );
        assert_eq!(
            g[1].label(),
            "optimizer = sgd; optimizer.lr = 2.000e0; policy = xavier"
        );
    }

    #[test]
    fn frontier_keeps_only_undominated_settings() {
        let mk = |v: f64, t: f64| Score {
            stage: 1,
            setting: Setting {
                knobs: vec![],
                table: Table::new(),
            },
            seeds: [0, 1],
            quantiles: vec![],
            scaled: vec![],
            value_err: v,
            timing_err: t,
            distance: (v * v + t * t).sqrt(),
            within: 0,
            diverged: 0,
        };
        let tried = vec![mk(1.0, 3.0), mk(2.0, 2.0), mk(2.5, 2.5), mk(3.0, 1.0)];
        assert_eq!(frontier(&tried), vec![0, 1, 3]);
    }

    #[test]
    fn the_shipped_plan_parses_and_holds_seeds_out() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let plan = Plan::load(&dir.join("calibrate.toml")).unwrap();
        assert!(plan.choose_seeds[1] <= plan.report_seeds[0]);
        plan.base_table().unwrap();
    }
}
