//! Parallel sweeps: a base run config and axes over any of its fields, the
//! Cartesian product run with rayon. Finished runs are appended to a journal
//! as they complete, so an interrupted sweep resumes where it stopped; the
//! final `runs.csv` and `curves.csv` are assembled in run-id order, so they
//! are byte-identical whatever the thread count, sharding or interruptions.

use crate::engine::metrics::{MetricsRow, Summary};
use crate::engine::train::{train, Keep};
use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::io::crash;
use crate::io::journal::{self, Entry, Index, Reader};
use crate::io::output::{
    csv_header, csv_record, write_atomic, write_atomic_with, MAX_EPOCHS, MAX_RECORDED_ROWS,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;
use toml::{Table, Value};

/// Grids larger than this need `--force`.
pub const DEFAULT_MAX_RUNS: usize = 20_000;

/// One axis of a sweep: a dotted config field and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Dotted path into the run config, e.g. `loss.beta`; `seed` is the replicate.
    pub field: String,
    /// The values the axis takes, in grid order.
    pub values: Vec<Value>,
    /// Column text for each value in `runs.csv`.
    pub labels: Vec<String>,
}

/// A parsed sweep file.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The base run config, as TOML.
    pub base: Table,
    /// The grid's axes; the grid is their Cartesian product.
    pub axes: Vec<Axis>,
    /// Mixed into every run's seed.
    pub seed: u64,
    /// Epoch stride of `curves.csv`; 0 writes no curves.
    pub curve_every: usize,
    /// The base config's file, when the sweep names one (for messages).
    base_file: Option<PathBuf>,
}

/// One point of the grid.
#[derive(Debug, Clone)]
pub struct RunPoint {
    /// The run's index in the grid (the journal and `runs.csv` key).
    pub id: usize,
    /// Index into each axis's values.
    pub coords: Vec<usize>,
    /// The replicate (the `seed` axis value, or 0).
    pub replicate: u64,
    /// The seed the run actually uses.
    pub run_seed: u64,
    /// The run's full config: the base with this point's values set.
    pub config: Config,
    /// [`journal::config_hash`] of the run's resolved config: what the
    /// journal and `runs.csv` identify the run's config by.
    pub config_hash: String,
}

/// A slice `index` of `count` (1-based in the CLI) of the grid: runs with `id % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard's index, 0-based.
    pub index: usize,
    /// How many shards the grid is split into.
    pub count: usize,
}

impl Shard {
    /// The whole grid.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `K/N` with `1 <= K <= N`.
    pub fn parse(s: &str) -> Result<Self> {
        s.parse()
            .map_err(|e| Error::Usage(format!("--shard `{s}` {e}")))
    }

    fn contains(self, id: usize) -> bool {
        id % self.count == self.index
    }

    /// How many of a grid of `n` runs this shard has.
    fn len(self, n: usize) -> usize {
        n.saturating_sub(self.index).div_ceil(self.count)
    }

    /// This shard's `k`-th run.
    fn id(self, k: usize) -> usize {
        self.index + k * self.count
    }

    /// An empty index of this shard's runs in a grid of `n`.
    fn index(self, n: usize) -> Index {
        Index::new(self.index, self.count, n)
    }
}

/// `K/N` with `1 <= K <= N` (the `--shard` value).
impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || "must be K/N with 1 <= K <= N, e.g. 2/8".to_string();
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard {
            index: k - 1,
            count: n,
        })
    }
}

/// SplitMix64: a well-mixed 64-bit hash step.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of a run: a hash of the sweep seed and the run's replicate.
/// Runs that differ only in other parameters share it, so comparisons
/// across β, data or loss are paired (same MLP initialisation).
pub fn run_seed(sweep_seed: u64, replicate: u64) -> u64 {
    splitmix(splitmix(sweep_seed) ^ replicate)
}

fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        // Exponent form for very small or large values: 1e-9, not 0.000000001.
        Value::Float(f) if *f != 0.0 && (f.abs() < 1e-3 || f.abs() >= 1e6) => format!("{f:e}"),
        Value::Float(f) => format!("{f}"),
        Value::Integer(i) => i.to_string(),
        Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

fn num(field: &str, key: &str, t: &Table) -> Result<Option<f64>> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::Float(f)) => Ok(Some(*f)),
        Some(Value::Integer(i)) => Ok(Some(*i as f64)),
        Some(v) => Err(Error::config(
            format!("{field}.{key}"),
            format!("= {v} must be a number"),
        )),
    }
}

/// Rounds to 12 significant digits, so that grid points such as 0.09 or
/// 10^-2 are their decimal values rather than accumulated rounding error.
fn round12(v: f64) -> f64 {
    format!("{v:.11e}")
        .parse()
        .expect("a formatted float parses")
}

/// Expands a `range = {start, stop, step}` (linear) or
/// `range = {start, stop, num, scale = "linear" | "log"}` table.
fn expand_range(field: &str, t: &Table) -> Result<Vec<f64>> {
    for k in t.keys() {
        if !["start", "stop", "step", "num", "scale"].contains(&k.as_str()) {
            return Err(Error::config(
                format!("{field}.{k}"),
                "is not a range key; allowed: start, stop, step, num, scale",
            ));
        }
    }
    let req = |k: &str| {
        num(field, k, t)?.ok_or_else(|| Error::config(format!("{field}.{k}"), "is required"))
    };
    let (start, stop) = (req("start")?, req("stop")?);
    if !(start.is_finite() && stop.is_finite()) {
        return Err(Error::config(field, "start and stop must be finite"));
    }
    let scale = match t.get("scale") {
        None => "linear",
        Some(Value::String(s)) if s == "linear" || s == "log" => s.as_str(),
        Some(v) => {
            return Err(Error::config(
                format!("{field}.scale"),
                format!("= {v}; allowed: \"linear\", \"log\""),
            ))
        }
    };
    let step = num(field, "step", t)?;
    let n = num(field, "num", t)?;
    match (scale, step, n) {
        ("linear", Some(step), None) => {
            if !(step.is_finite() && step > 0.0) {
                return Err(Error::config(
                    format!("{field}.step"),
                    format!("= {step} must be > 0"),
                ));
            }
            if stop < start {
                return Err(Error::config(
                    field,
                    "stop must be >= start for a stepped range",
                ));
            }
            let count = ((stop - start) / step + 1e-9).floor() as usize + 1;
            Ok((0..count)
                .map(|i| round12(start + i as f64 * step))
                .collect())
        }
        (_, None, Some(n)) => {
            if !(n >= 1.0 && n.fract() == 0.0) {
                return Err(Error::config(
                    format!("{field}.num"),
                    format!("= {n} must be an integer >= 1"),
                ));
            }
            let n = n as usize;
            let at = |i: usize| {
                if n == 1 {
                    0.0
                } else {
                    i as f64 / (n - 1) as f64
                }
            };
            if scale == "log" {
                if !(start > 0.0 && stop > 0.0 || start < 0.0 && stop < 0.0) {
                    return Err(Error::config(
                        field,
                        format!("log range from {start} to {stop} crosses or touches zero; both ends must be nonzero and of one sign"),
                    ));
                }
                Ok((0..n)
                    .map(|i| round12(start * (stop / start).powf(at(i))))
                    .collect())
            } else {
                Ok((0..n)
                    .map(|i| round12(start + (stop - start) * at(i)))
                    .collect())
            }
        }
        ("log", Some(_), _) => Err(Error::config(field, "a log range takes `num`, not `step`")),
        _ => Err(Error::config(
            field,
            "a range needs exactly one of `step` or `num`",
        )),
    }
}

/// Sets a dotted `path` in a TOML table, creating intermediate tables.
pub fn set_path(root: &mut Table, path: &str, v: Value) -> Result<()> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts
        .pop()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::config("axis.field", "is empty"))?;
    let mut t = root;
    for p in parts {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| Error::config(path, format!("cannot be set: `{p}` is not a table")))?;
    }
    t.insert(last.to_string(), v);
    Ok(())
}

/// Removes a dotted `path` from a TOML table; `Err` if it is not there.
fn unset_path(root: &mut Table, path: &str) -> std::result::Result<(), ()> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().ok_or(())?;
    let mut t = root;
    for p in parts {
        t = t.get_mut(p).and_then(Value::as_table_mut).ok_or(())?;
    }
    t.remove(last).map(|_| ()).ok_or(())
}

/// `path` with `dir/..` pairs folded away, for messages: a sweep in
/// `experiments/sweeps/` names its base `experiments/fig2.toml`.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match (c, out.last()) {
            (Component::CurDir, _) => {}
            (Component::ParentDir, Some(Component::Normal(_))) => {
                out.pop();
            }
            _ => out.push(c),
        }
    }
    out.iter().collect()
}

impl Sweep {
    /// Parses a sweep file; `base = "run.toml"` is resolved next to it.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            fs::read_to_string(path).map_err(|e| Error::file(path, "cannot read sweep", e))?;
        Self::from_toml_str(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses sweep TOML; relative `base` paths are resolved against `dir`.
    pub fn from_toml_str(text: &str, dir: &Path) -> Result<Self> {
        let doc: Table =
            toml::from_str(text).map_err(|e| Error::toml("<sweep>", "is not valid TOML", e))?;
        for k in doc.keys() {
            if !["sweep", "base", "axis"].contains(&k.as_str()) {
                return Err(Error::config(k, "is not a sweep section; allowed: [sweep], [base] (or base = \"file\"), [[axis]]"));
            }
        }
        let mut base_file = None;
        let base = match doc.get("base") {
            Some(Value::Table(t)) => t.clone(),
            Some(Value::String(p)) => {
                let path = dir.join(p);
                base_file = Some(tidy(&path));
                let text = fs::read_to_string(&path)
                    .map_err(|e| Error::file(&path, "cannot read base config", e))?;
                toml::from_str(&text)
                    .map_err(|e| Error::toml("base", path.display().to_string(), e))?
            }
            _ => {
                return Err(Error::config(
                    "base",
                    "is required: a [base] run config table or base = \"run.toml\"",
                ))
            }
        };
        let settings = match doc.get("sweep") {
            None => Table::new(),
            Some(Value::Table(t)) => t.clone(),
            Some(_) => return Err(Error::config("sweep", "must be a table")),
        };
        for k in settings.keys() {
            if !["seed", "curve_every", "unset"].contains(&k.as_str()) {
                return Err(Error::config(
                    format!("sweep.{k}"),
                    "is not a sweep setting; allowed: seed, curve_every, unset",
                ));
            }
        }
        let mut base = base;
        // `unset` removes base fields that would clash with an axis (e.g. the base's
        // `data.scenario` when the axes set `data.chosen_start`).
        match settings.get("unset") {
            None => {}
            Some(Value::Array(a)) => {
                for v in a {
                    let path = v.as_str().ok_or_else(|| {
                        Error::config("sweep.unset", "must list dotted field names")
                    })?;
                    unset_path(&mut base, path).map_err(|_| {
                        Error::config(
                            "sweep.unset",
                            format!("`{path}` is not a field of the base config"),
                        )
                    })?;
                }
            }
            Some(_) => {
                return Err(Error::config(
                    "sweep.unset",
                    "must be an array of dotted field names",
                ))
            }
        }
        let int = |k: &str, d: i64| -> Result<i64> {
            match settings.get(k) {
                None => Ok(d),
                Some(Value::Integer(i)) if *i >= 0 => Ok(*i),
                Some(v) => Err(Error::config(
                    format!("sweep.{k}"),
                    format!("= {v} must be an integer >= 0"),
                )),
            }
        };
        let seed = int("seed", 0)? as u64;
        let curve_every = int("curve_every", 0)? as usize;
        let raw_axes = match doc.get("axis") {
            None => vec![],
            Some(Value::Array(a)) => a.clone(),
            Some(_) => {
                return Err(Error::config(
                    "axis",
                    "must be an array of tables ([[axis]])",
                ))
            }
        };
        let mut axes = Vec::new();
        for (i, a) in raw_axes.iter().enumerate() {
            let name = format!("axis[{i}]");
            let t = a
                .as_table()
                .ok_or_else(|| Error::config(&name, "must be a table"))?;
            for k in t.keys() {
                if !["field", "values", "range", "labels"].contains(&k.as_str()) {
                    return Err(Error::config(
                        format!("{name}.{k}"),
                        "is not an axis key; allowed: field, values, range, labels",
                    ));
                }
            }
            let field = match t.get("field") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                _ => {
                    return Err(Error::config(
                        format!("{name}.field"),
                        "is required: a dotted config field such as \"loss.beta\"",
                    ))
                }
            };
            let name = format!("axis[{i}] ({field})");
            if axes.iter().any(|a: &Axis| a.field == field) {
                return Err(Error::config(name, "appears twice"));
            }
            let values: Vec<Value> = match (t.get("values"), t.get("range")) {
                (Some(Value::Array(v)), None) => v.clone(),
                (None, Some(Value::Table(r))) => expand_range(&format!("{name}.range"), r)?
                    .into_iter()
                    .map(Value::Float)
                    .collect(),
                _ => {
                    return Err(Error::config(
                        name,
                        "needs exactly one of `values = [...]` or `range = {...}`",
                    ))
                }
            };
            if values.is_empty() {
                return Err(Error::config(
                    name,
                    "is empty: an axis needs at least one value",
                ));
            }
            // A range yields floats; seeds are integers, so take whole numbers as such.
            let values: Vec<Value> = if field == "seed" {
                values
                    .into_iter()
                    .map(|v| match v {
                        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => {
                            Value::Integer(f as i64)
                        }
                        other => other,
                    })
                    .collect()
            } else {
                values
            };
            if field == "seed"
                && values
                    .iter()
                    .any(|v| !matches!(v, Value::Integer(i) if *i >= 0))
            {
                return Err(Error::config(name, "seed values must be integers >= 0"));
            }
            let labels = match t.get("labels") {
                None => values.iter().map(label).collect(),
                Some(Value::Array(l)) if l.len() == values.len() => l.iter().map(label).collect(),
                Some(_) => {
                    return Err(Error::config(
                        format!("{name}.labels"),
                        "must be an array as long as the values",
                    ))
                }
            };
            axes.push(Axis {
                field,
                values,
                labels,
            });
        }
        Ok(Sweep {
            base,
            axes,
            seed,
            curve_every,
            base_file,
        })
    }

    /// Number of runs in the whole grid.
    pub fn len(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product()
    }

    /// Whether the grid is empty (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The run with id `id` (row-major over the axes, last axis fastest).
    pub fn point(&self, id: usize) -> Result<RunPoint> {
        let mut coords = vec![0; self.axes.len()];
        let mut rem = id;
        for (k, a) in self.axes.iter().enumerate().rev() {
            coords[k] = rem % a.values.len();
            rem /= a.values.len();
        }
        let mut table = self.base.clone();
        let mut replicate = 0;
        for (a, &c) in self.axes.iter().zip(&coords) {
            if a.field == "seed" {
                replicate = a.values[c].as_integer().unwrap_or(0) as u64;
            } else {
                set_path(&mut table, &a.field, a.values[c].clone())?;
            }
        }
        let run_seed = run_seed(self.seed, replicate);
        table.insert("seed".into(), Value::Integer(run_seed as i64 & i64::MAX));
        if self.curve_every > 0 {
            table.insert(
                "record_every".into(),
                Value::Integer(self.curve_every as i64),
            );
        }
        let where_ = || {
            self.axes
                .iter()
                .zip(&coords)
                .map(|(a, &c)| format!("{} = {}", a.field, a.labels[c]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let config: Config = Table::try_into(table).map_err(|e| {
            Error::toml(
                "<sweep run>",
                format!("({}) is not a valid run config", where_()),
                e,
            )
        })?;
        // Resolving validates the config as building it would.
        let resolved = config.resolved().map_err(|e| match e {
            Error::Config { field, msg } => {
                Error::config(field, format!("{msg} (in the run with {})", where_()))
            }
            other => other,
        })?;
        Ok(RunPoint {
            id,
            coords,
            replicate,
            run_seed: run_seed & i64::MAX as u64,
            config,
            config_hash: journal::config_hash(&resolved.to_toml_string()),
        })
    }

    /// Validates `shard`'s runs (each config resolved and built; unless
    /// `max_runs` is `None`, each run's length within `dpo-lab run`'s
    /// limits) and returns how many there are; fails before any run starts.
    /// Nothing is kept: a run's point is rebuilt when it runs, so a sweep's
    /// memory does not hold every run's config.
    pub fn check(&self, shard: Shard, max_runs: Option<usize>) -> Result<usize> {
        let n = self.len();
        if let Some(max) = max_runs {
            if n > max {
                return Err(Error::config(
                    "axis",
                    format!("gives a grid of {n} runs, more than the limit of {max}; pass --force to run it anyway"),
                ));
            }
        }
        for k in 0..shard.len(n) {
            let p = self.point(shard.id(k))?;
            if max_runs.is_some() {
                self.check_length(&p)?;
            }
        }
        Ok(shard.len(n))
    }

    /// Refuses a run longer than [`MAX_EPOCHS`] or whose curve rows (held
    /// until its journal record is written) exceed [`MAX_RECORDED_ROWS`]:
    /// the limits of `dpo-lab run`, lifted by the same `--force`.
    fn check_length(&self, p: &RunPoint) -> Result<()> {
        let epochs = p.config.epochs.max(0) as u64;
        let rows = if self.curve_every > 0 {
            epochs / self.curve_every as u64 + 2
        } else {
            0
        };
        if epochs <= MAX_EPOCHS && rows <= MAX_RECORDED_ROWS {
            return Ok(());
        }
        Err(Error::config(
            "epochs",
            format!(
                "= {epochs} in run {} with `[sweep] curve_every` = {} is too long a run: the limits are {MAX_EPOCHS} epochs and {MAX_RECORDED_ROWS} curve rows per run; lower `epochs` (base or axis) or raise `curve_every`, or pass --force to run it anyway",
                p.id, self.curve_every
            ),
        ))
    }

    /// Header of `runs.csv`: `run_id`, one column per axis (named by its
    /// field), `replicate`, `run_seed`, `config_hash`, then [`Summary`]'s fields.
    pub fn runs_header(&self) -> Vec<String> {
        let mut cols = vec!["run_id".to_string()];
        cols.extend(self.axes.iter().map(|a| a.field.clone()));
        cols.extend(["replicate", "run_seed", "config_hash"].map(String::from));
        cols.extend(csv_header(&Summary::default()));
        cols
    }
}

/// One row of `runs.csv`. Its axis columns depend on the sweep, so the
/// header is [`Sweep::runs_header`]; the row serialises flat, in that order.
#[derive(Serialize)]
struct RunsRow<'a> {
    run_id: usize,
    /// The run's label on each axis.
    axes: Vec<&'a str>,
    replicate: u64,
    run_seed: u64,
    config_hash: &'a str,
    summary: &'a Summary,
}

/// `run_id`, the first column of a `curves.csv` row.
#[derive(Serialize)]
struct RunId {
    run_id: usize,
}

/// One row of `curves.csv`: a run's metrics at one recorded epoch (its
/// header comes from serde too: `run_id` and [`MetricsRow`]'s fields).
#[derive(Serialize)]
struct CurvesRow<'a>(RunId, &'a MetricsRow);

/// Runs one point; returns its journal entry.
fn run_point(sweep: &Sweep, p: &RunPoint) -> Result<Entry> {
    let spec = p.config.build()?;
    let keep = Keep {
        metrics: sweep.curve_every > 0,
        snapshots: false,
    };
    let res = train(&spec, keep);
    let runs_line = csv_record(&RunsRow {
        run_id: p.id,
        axes: sweep
            .axes
            .iter()
            .zip(&p.coords)
            .map(|(a, &c)| a.labels[c].as_str())
            .collect(),
        replicate: p.replicate,
        run_seed: p.run_seed,
        config_hash: &p.config_hash,
        summary: &res.summary,
    });
    let mut curves = String::new();
    for m in &res.metrics {
        curves.push_str(&csv_record(&CurvesRow(RunId { run_id: p.id }, m)));
        curves.push('\n');
    }
    Ok(Entry {
        id: p.id,
        config_hash: p.config_hash.clone(),
        runs_line,
        curves,
    })
}

const JOURNAL: &str = "journal.txt";
/// The sweep as resolved when the journal was started (its base written
/// inline), under a first line naming the format and the shard.
const FINGERPRINT: &str = "sweep.toml";
const FORMAT: &str = "# dpo-lab sweep journal v2; shard ";

/// Indexes the journal at `path` for runs laid out as `slots` (a missing
/// journal is empty, and has no reader); the reader reads its records back.
fn read_journal(path: &Path, slots: Index) -> Result<(Option<Reader<fs::File>>, Index)> {
    let mut index = slots;
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, index)),
        Err(e) => return Err(Error::file(path, "cannot read the sweep's journal", e)),
    };
    let mut src = Reader::new(file);
    index
        .scan(&mut src)
        .map_err(|e| Error::file(path, "cannot read the sweep's journal", e))?;
    Ok((Some(src), index))
}

/// Journals whose records are read back by offset: a sweep's own, or the
/// shards' of a merge laid end to end (a record's offset is its journal's
/// base plus its offset in the file, each base past the end of the one before).
#[derive(Default)]
struct Journals {
    /// Each journal's base offset, path and reader, by base.
    files: Vec<(u64, PathBuf, Reader<fs::File>)>,
    /// Where the next journal's offsets start.
    end: u64,
}

impl Journals {
    /// The journals of one sweep: `src`, the journal at `path` (if there is one).
    fn one(path: &Path, src: Option<Reader<fs::File>>) -> Self {
        let mut j = Journals::default();
        if let Some(src) = src {
            j.push(path, src);
        }
        j
    }

    /// Adds a journal just read to its end by [`Index::scan`]; returns the
    /// base of its offsets.
    fn push(&mut self, path: &Path, src: Reader<fs::File>) -> u64 {
        let base = self.end;
        self.end = base + src.pos() + 1;
        self.files.push((base, path.to_path_buf(), src));
        base
    }

    /// The record at offset `at` (which an index of these journals gave).
    fn entry(&mut self, at: u64) -> Result<Entry> {
        let k = self.files.partition_point(|f| f.0 <= at);
        let Some((base, path, src)) = k.checked_sub(1).and_then(|k| self.files.get_mut(k)) else {
            return Err(Error::io(".", format!("no journal holds offset {at}")));
        };
        match src.record_at(at - *base) {
            Ok(Some(e)) => Ok(e),
            Ok(None) => Err(Error::io(
                &*path,
                "changed while it was being read (is another process writing it?); rerun the same command",
            )),
            Err(e) => Err(Error::file(&*path, "cannot read the sweep's journal", e)),
        }
    }
}

/// Every leaf of a TOML table by dotted path (array items by index), with
/// its value as TOML writes it: what two configs are compared by.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Table(t) => {
            for (k, v) in t {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(a) if a.iter().any(|v| v.is_table() || v.is_array()) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&key(&i.to_string()), v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The first field (in dotted-path order) where two TOML documents differ:
/// its path and its value in each (`None` where absent), and how many
/// fields differ in all.
fn first_difference(
    old: &str,
    new: &str,
) -> Option<(String, Option<String>, Option<String>, usize)> {
    let flat = |s: &str| {
        let mut m = BTreeMap::new();
        if let Ok(t) = toml::from_str::<Table>(s) {
            flatten("", &Value::Table(t), &mut m);
        }
        m
    };
    let (a, b) = (flat(old), flat(new));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let diff: Vec<&String> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .collect();
    let k = diff.first()?;
    Some((
        k.to_string(),
        a.get(*k).cloned(),
        b.get(*k).cloned(),
        diff.len(),
    ))
}

/// `` `field` is A in <old>, B <new>`` (and how many other fields differ).
fn describe(
    field: &str,
    old: Option<String>,
    new: Option<String>,
    n: usize,
    old_at: &str,
    new_at: &str,
) -> String {
    let v = |x: Option<String>| x.unwrap_or_else(|| "absent".into());
    let more = match n {
        0 | 1 => String::new(),
        2 => " (and 1 more field)".into(),
        n => format!(" (and {} more fields)", n - 1),
    };
    format!(
        "`{field}` is {} {old_at}, {} {new_at}{more}",
        v(old),
        v(new)
    )
}

impl Sweep {
    /// The sweep as one self-contained TOML document: the base written inline
    /// (after `unset`), each axis with its values and labels. Parsing it gives
    /// the same grid, whatever became of the base file.
    fn stored_text(&self) -> String {
        let mut settings = Table::new();
        settings.insert("seed".into(), Value::Integer(self.seed as i64));
        settings.insert(
            "curve_every".into(),
            Value::Integer(self.curve_every as i64),
        );
        let axes = self
            .axes
            .iter()
            .map(|a| {
                let mut t = Table::new();
                t.insert("field".into(), Value::String(a.field.clone()));
                t.insert("values".into(), Value::Array(a.values.clone()));
                t.insert(
                    "labels".into(),
                    Value::Array(a.labels.iter().cloned().map(Value::String).collect()),
                );
                Value::Table(t)
            })
            .collect();
        let mut doc = Table::new();
        doc.insert("sweep".into(), Value::Table(settings));
        doc.insert("base".into(), Value::Table(self.base.clone()));
        doc.insert("axis".into(), Value::Array(axes));
        toml::to_string(&doc).expect("a TOML table always serialises")
    }

    /// The resolved config of run `id` as TOML (the `config.toml` that
    /// `dpo-lab run` writes for it).
    pub fn resolved_toml(&self, id: usize) -> Result<String> {
        Ok(self.point(id)?.config.resolved()?.to_toml_string())
    }

    /// Why a field of a run's config may have changed, for messages.
    fn hint(&self, field: &str) -> String {
        let under = |a: &str| field == a || field.starts_with(&format!("{a}."));
        // A run's seed comes from the sweep's seed and its replicate (the
        // `seed` axis value), so either may have changed.
        if field == "seed" && self.axes.iter().any(|a| a.field == "seed") {
            "the sweep's seed or its seed axis changed?".into()
        } else if field == "seed" {
            "the sweep's seed changed?".into()
        } else if self.axes.iter().any(|a| under(&a.field)) {
            "the sweep file's axes changed?".into()
        } else if field == "record_every" {
            "the sweep's curve_every changed?".into()
        } else if let Some(f) = &self.base_file {
            format!("{} changed?", f.display())
        } else {
            "the sweep file's [base] changed?".into()
        }
    }
}

/// Reads the `sweep.toml` a sweep directory was started with: its shard line
/// and its stored sweep text.
fn read_stored(dir: &Path) -> Result<Option<(String, String)>> {
    let p = dir.join(FINGERPRINT);
    let bytes = match fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::file(&p, "cannot read the sweep's record", e)),
    };
    let old = || {
        Error::io(
            &p,
            "is not a sweep journal this dpo-lab can read (an older format, or damaged); delete the directory (or use another --out) and rerun",
        )
    };
    let text = String::from_utf8(bytes).map_err(|_| old())?;
    let (first, rest) = text.split_once('\n').ok_or_else(old)?;
    let shard = first.strip_prefix(FORMAT).ok_or_else(old)?;
    Ok(Some((shard.to_string(), rest.to_string())))
}

/// Checks that the journal in `out` (started as `stored`) belongs to this
/// sweep and shard: every journaled run must have the config it has now.
fn check_resume(
    sweep: &Sweep,
    slice: Shard,
    out: &Path,
    shard: &str,
    stored: &(String, String),
    done: &Index,
    src: &mut Journals,
) -> Result<()> {
    let fp = out.join(FINGERPRINT);
    if stored.0 != shard {
        return Err(Error::io(
            &fp,
            format!("holds the journal of shard {} of a sweep, not of shard {shard}; use another --out or delete it", stored.0),
        ));
    }
    let journal_path = out.join(JOURNAL);
    let redo = "use another --out, or delete the directory to start the sweep afresh";
    // Every journaled run, read back one at a time.
    for (id, at) in done.iter() {
        if id >= sweep.len() || !slice.contains(id) {
            return Err(Error::io(
                &journal_path,
                format!("holds run {id}, which this sweep (shard {shard}) does not have; {redo}"),
            ));
        }
        let e = src.entry(at)?;
        let p = sweep.point(e.id)?;
        if p.config_hash == e.config_hash {
            continue;
        }
        // The sweep the journal was started with gives the journaled config.
        let then = Sweep::from_toml_str(&stored.1, out)
            .and_then(|old| old.resolved_toml(e.id))
            .ok()
            .filter(|t| journal::config_hash(t) == e.config_hash);
        let now = sweep.resolved_toml(e.id)?;
        let what = match then.as_deref().and_then(|t| first_difference(t, &now)) {
            Some((f, a, b, n)) => format!(
                "{} ({})",
                describe(&f, a, b, n, "in the journal", "now"),
                sweep.hint(&f)
            ),
            None => format!(
                "its config hash is {} in the journal, {} now (a default of dpo-lab changed?)",
                &e.config_hash[..12],
                &p.config_hash[..12]
            ),
        };
        return Err(Error::io(
            &journal_path,
            format!(
                "run {}: {what}; its results would mix with runs of another config: {redo}",
                e.id
            ),
        ));
    }
    let now = sweep.stored_text();
    // The base may be written differently (a default spelled out, 1.0 as 1,
    // a field every axis overrides) while giving every run the same config:
    // the hashes above have checked each journaled run, and the runs still to
    // do take the current base, so only the sweep's own settings must match.
    let without_base = |t: &str| {
        t.parse::<Table>().ok().map(|mut doc| {
            doc.remove("base");
            doc
        })
    };
    if stored.1 != now && without_base(&stored.1).is_some_and(|a| Some(a) == without_base(&now)) {
        return write_atomic(&fp, format!("{FORMAT}{shard}\n{now}").as_bytes());
    }
    if stored.1 != now {
        let what = first_difference(&stored.1, &now)
            .map(|(f, a, b, n)| format!(": {}", describe(&f, a, b, n, "there", "now")))
            .unwrap_or_default();
        return Err(Error::io(
            &fp,
            format!("holds the journal of a different sweep{what}; {redo}"),
        ));
    }
    Ok(())
}

/// The sweep's progress bar on stderr, with its rate and ETA; hidden when
/// stderr is not a terminal (indicatif's stderr target draws nothing there)
/// or when `quiet`.
fn progress_bar(total: usize, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} runs  {rate}  ETA {eta}")
            .expect("a valid template")
            .with_key(
                "rate",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.1} runs/s", s.per_sec());
                },
            )
            .progress_chars("#>-"),
    );
    bar
}

/// Options of `dpo-lab sweep`.
#[derive(Debug, Clone, Copy)]
pub struct SweepOptions {
    /// The slice of the grid this process runs.
    pub shard: Shard,
    /// Refuse grids larger than this (`None` with `--force`).
    pub max_runs: Option<usize>,
    /// No progress bar and no summary line.
    pub quiet: bool,
}

/// Runs (or resumes) a sweep into `out`, then writes `runs.csv` and `curves.csv`.
/// Returns the number of runs executed now (those already journaled are skipped).
pub fn run_sweep(sweep: &Sweep, out: &Path, opts: SweepOptions) -> Result<usize> {
    let slice = opts.shard;
    let runs = sweep.check(slice, opts.max_runs)?;
    fs::create_dir_all(out).map_err(|e| Error::file(out, "cannot create output directory", e))?;
    let _lock = lock_dir(out)?;
    pair::recover(out)?;
    let shard = format!("{}/{}", slice.index + 1, slice.count);
    let journal_path = out.join(JOURNAL);
    let (src, done) = read_journal(&journal_path, slice.index(sweep.len()))?;
    let mut src = Journals::one(&journal_path, src);
    match read_stored(out)? {
        Some(stored) => check_resume(sweep, slice, out, &shard, &stored, &done, &mut src)?,
        None if !done.is_empty() => {
            return Err(Error::io(
                out.join(FINGERPRINT),
                "is missing beside a journal, so the journal's sweep is unknown; use another --out, or delete the directory to start afresh",
            ))
        }
        None => write_atomic(
            &out.join(FINGERPRINT),
            format!("{FORMAT}{shard}\n{}", sweep.stored_text()).as_bytes(),
        )?,
    }
    if done.dropped > 0 {
        let n = done.dropped;
        let (s, held) = if n == 1 {
            ("", "the run it held")
        } else {
            ("s", "the runs they held")
        };
        eprintln!(
            "sweep: dropped {n} damaged or incomplete record{s} of {}; {held} will be redone",
            journal_path.display(),
        );
    }
    // Rewrite the journal with only its intact records (in run id order,
    // each read back in turn) before appending to it.
    write_atomic_with(&journal_path, |w| {
        for (_, at) in done.iter() {
            let rec = journal::encode(&src.entry(at)?);
            w.write_all(rec.as_bytes())
                .map_err(|e| Error::file(&journal_path, "", e))?;
        }
        Ok(())
    })?;
    drop(src);
    let todo = runs.saturating_sub(done.len());
    let file = OpenOptions::new()
        .append(true)
        .open(&journal_path)
        .map_err(|e| Error::file(&journal_path, "", e))?;
    let journal = Mutex::new(file);
    let bar = progress_bar(todo, opts.quiet);
    if !opts.quiet && !done.is_empty() {
        eprintln!(
            "sweep: resuming, {} of {runs} runs already done",
            done.len()
        );
    }
    (0..runs)
        .into_par_iter()
        .map(|k| slice.id(k))
        .filter(|&id| !done.contains(id))
        .try_for_each(|id| -> Result<()> {
            let rec = journal::encode(&run_point(sweep, &sweep.point(id)?)?);
            let mut f = journal.lock().expect("journal lock");
            if crash::hit("sweep:append") {
                std::process::abort();
            }
            if crash::hit("sweep:torn") {
                let _ = f.write_all(&rec.as_bytes()[..rec.len() / 2]);
                std::process::abort();
            }
            f.write_all(rec.as_bytes())
                .map_err(|e| Error::file(&journal_path, "", e))?;
            drop(f);
            bar.inc(1);
            Ok(())
        })?;
    bar.finish_and_clear();
    drop(journal);
    drop(done);
    // Assemble from what the journal holds on disk, checked as on resume.
    let (src, all) = read_journal(&journal_path, slice.index(sweep.len()))?;
    if all.dropped > 0 {
        return Err(Error::io(
            &journal_path,
            format!("lost {} records while the sweep ran (is the disk failing?); rerun the same command to redo them", all.dropped),
        ));
    }
    assemble(
        sweep,
        &all,
        &mut Journals::one(&journal_path, src),
        out,
        runs,
    )?;
    Ok(todo)
}

/// Runs the sweep in `file` into `dir` for a report: unless `resume`, any old
/// results in `dir` are deleted first, so that they come from the current
/// code. Prints the run count and time; returns the sweep.
pub fn run_for_report(file: &Path, dir: &Path, resume: bool) -> Result<Sweep> {
    let sweep = Sweep::load(file)?;
    if !resume && dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| Error::file(dir, "cannot delete old results", e))?;
    }
    let t = Instant::now();
    let ran = run_sweep(
        &sweep,
        dir,
        SweepOptions {
            shard: Shard::ALL,
            max_runs: Some(DEFAULT_MAX_RUNS),
            quiet: false,
        },
    )?;
    eprintln!(
        "sweep {}: {} runs ({ran} run now) in {:.1} s -> {}",
        file.file_stem()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default(),
        sweep.len(),
        t.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(sweep)
}

/// Writes `out/runs.csv` and `out/curves.csv` from the journaled runs `all`
/// (read back from `src` one at a time, straight into the files), in run-id
/// order, as one unit; there must be `want` of them.
fn assemble(sweep: &Sweep, all: &Index, src: &mut Journals, out: &Path, want: usize) -> Result<()> {
    if all.len() != want {
        return Err(Error::io(
            out,
            format!("has {} finished runs of {want}; rerun the sweep (or the missing shards) to finish it", all.len()),
        ));
    }
    let mut runs = csv_record(&sweep.runs_header());
    runs.push('\n');
    let curves = (sweep.curve_every > 0).then(|| {
        let mut c = csv_record(&csv_header(&CurvesRow(
            RunId { run_id: 0 },
            &MetricsRow::default(),
        )));
        c.push('\n');
        c
    });
    fs::create_dir_all(out).map_err(|e| Error::file(out, "", e))?;
    pair::write(out, curves.is_some(), |w| {
        w.runs(runs.as_bytes())?;
        if let Some(c) = &curves {
            w.curves(c.as_bytes())?;
        }
        for (_, at) in all.iter() {
            let e = src.entry(at)?;
            w.runs(e.runs_line.as_bytes())?;
            w.runs(b"\n")?;
            if curves.is_some() {
                w.curves(e.curves.as_bytes())?;
            }
        }
        Ok(())
    })
}

/// `dpo-lab merge`: checks the shards belong to one sweep (the same resolved
/// config for every run) and writes the files a single-machine sweep would.
/// Each shard's journal is streamed; what is kept is where each run's record
/// starts (8 bytes per run), and the records are read back to be written.
pub fn merge(shard_dirs: &[PathBuf], out: &Path) -> Result<()> {
    let first = shard_dirs
        .first()
        .ok_or_else(|| Error::Usage("merge needs at least one shard directory".into()))?;
    let stored = |d: &Path| -> Result<(String, String)> {
        read_stored(d)?.ok_or_else(|| {
            Error::io(
                d.join(FINGERPRINT),
                "is missing: not a sweep output directory",
            )
        })
    };
    let (first_shard, text) = stored(first)?;
    let mut slices = vec![first_shard];
    for d in &shard_dirs[1..] {
        let (slice, other) = stored(d)?;
        slices.push(slice);
        if other != text {
            let what = first_difference(&text, &other)
                .map(|(f, a, b, n)| {
                    let at = |d: &Path| format!("in {}", d.join(FINGERPRINT).display());
                    format!(": {}", describe(&f, a, b, n, &at(first), &at(d)))
                })
                .unwrap_or_default();
            return Err(Error::io(
                d,
                format!("belongs to a different sweep than {}{what}; rerun the shards from one sweep file and base", first.display()),
            ));
        }
    }
    // The stored sweep carries its base inline, so it stands on its own.
    let sweep = Sweep::from_toml_str(&text, first)?;
    let mut all = Index::new(0, 1, sweep.len());
    let mut src = Journals::default();
    for (d, slice) in shard_dirs.iter().zip(&slices) {
        let path = d.join(JOURNAL);
        // A shard's own index has slots for its slice of the grid only.
        let slots = Shard::parse(slice).unwrap_or(Shard::ALL).index(sweep.len());
        let (j_src, j) = read_journal(&path, slots)?;
        if j.dropped > 0 {
            return Err(Error::io(
                &path,
                format!("has {} damaged or incomplete records; rerun that shard's `dpo-lab sweep` command to redo their runs, then merge", j.dropped),
            ));
        }
        let Some(j_src) = j_src else { continue };
        let base = src.push(&path, j_src);
        for (id, at) in j.iter() {
            let e = src.entry(base + at)?;
            let want = sweep.point(id).map(|p| p.config_hash).ok();
            if want.as_deref() != Some(e.config_hash.as_str()) {
                return Err(Error::io(
                    &path,
                    format!("run {id} was made from another config than the sweep in {} gives it; rerun that shard in a fresh directory", d.join(FINGERPRINT).display()),
                ));
            }
            if !all.insert(id, base + at) {
                return Err(Error::io(
                    d,
                    format!("run {id} appears in more than one shard; give each shard directory once, from shards that do not overlap"),
                ));
            }
        }
    }
    // Only now, with every shard checked, is the output directory touched.
    if all.len() == sweep.len() {
        refuse_foreign_results(out, &all, &mut src)?;
        fs::create_dir_all(out)
            .map_err(|e| Error::file(out, "cannot create output directory", e))?;
        let _lock = lock_dir(out)?;
        pair::recover(out)?;
        return assemble(&sweep, &all, &mut src, out, sweep.len());
    }
    assemble(&sweep, &all, &mut src, out, sweep.len())
}

/// `merge` never writes over another sweep's results: not into a sweep's
/// own directory (its journal would no longer match its runs.csv), nor over
/// a runs.csv whose runs have other configs than the merged ones (compared
/// row by row, each merged run's record read back in turn).
fn refuse_foreign_results(out: &Path, all: &Index, src: &mut Journals) -> Result<()> {
    for own in [JOURNAL, FINGERPRINT] {
        if out.join(own).exists() {
            return Err(Error::io(
                out,
                format!("is a sweep's own directory (it holds {own}); merge into another --out"),
            ));
        }
    }
    let path = out.join("runs.csv");
    let Ok(mut reader) = csv::Reader::from_path(&path) else {
        return Ok(());
    };
    let col = reader
        .headers()
        .ok()
        .and_then(|h| h.iter().position(|c| c == "config_hash"));
    if let Some(col) = col {
        let mut old = reader.records();
        let mut same = true;
        for (_, at) in all.iter() {
            let e = src.entry(at)?;
            let row = old.next().and_then(|r| r.ok());
            if row.as_ref().and_then(|r| r.get(col)) != Some(e.config_hash.as_str()) {
                same = false;
                break;
            }
        }
        if same && old.next().is_none() {
            return Ok(());
        }
    }
    Err(Error::io(
        path,
        "holds the results of a different sweep (its runs' config hashes differ from the merged ones); merge into another --out, or delete them first",
    ))
}

/// An exclusive lock on `dir` for as long as the returned handle lives, so
/// that two sweeps or merges never write into one directory at once.
///
/// A lock found held is retried for up to [`LOCK_PATIENCE`] before the sweep
/// gives up: a lock can outlive its sweep by a moment, when a child process
/// forked by another thread (which shares the open lock until it execs or
/// exits) still holds it after the sweep has dropped its handle.
fn lock_dir(dir: &Path) -> Result<fs::File> {
    let f = fs::File::open(dir).map_err(|e| Error::file(dir, "cannot open to lock", e))?;
    let start = std::time::Instant::now();
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(f),
            Err(fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_PATIENCE => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::io(
                    dir,
                    "is in use by another dpo-lab sweep or merge; wait for it to finish, or use another --out",
                ))
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::file(dir, "cannot lock", e)),
        }
    }
}

/// How long [`lock_dir`] waits for a held lock.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

/// `runs.csv` and `curves.csv` replaced as one unit. Both are written under
/// temporary names and synced; then a marker naming them is written, the
/// two are renamed into place (`curves.csv` first, so that a `runs.csv`
/// never stands beside an older `curves.csv` it does not belong to, unless a
/// crash comes between the renames), and the marker is removed. The next
/// sweep or merge in the directory finishes the renames of a marker left by
/// a crash ([`recover`]) and removes temporaries of dead processes.
mod pair {
    use crate::error::{Error, Result};
    use crate::io::crash;
    use crate::io::output::write_atomic;
    use std::fs;
    use std::io::{BufWriter, Write};
    use std::path::{Path, PathBuf};

    const MARKER: &str = ".assemble.pending";

    fn tmp(dir: &Path, name: &str, pid: u32) -> PathBuf {
        dir.join(format!(".{name}.tmp-{pid}"))
    }

    /// The two temporaries being written, each through a buffer.
    pub(super) struct Files<'a> {
        dir: &'a Path,
        runs: BufWriter<fs::File>,
        curves: Option<BufWriter<fs::File>>,
    }

    impl Files<'_> {
        fn failed(&self, e: std::io::Error) -> Error {
            Error::file(self.dir, "cannot write runs.csv and curves.csv", e)
        }

        /// Appends `bytes` to the new `runs.csv`.
        pub(super) fn runs(&mut self, bytes: &[u8]) -> Result<()> {
            self.runs.write_all(bytes).map_err(|e| self.failed(e))
        }

        /// Appends `bytes` to the new `curves.csv` (nothing without curves).
        pub(super) fn curves(&mut self, bytes: &[u8]) -> Result<()> {
            match &mut self.curves {
                Some(c) => c.write_all(bytes).map_err(|e| self.failed(e)),
                None => Ok(()),
            }
        }

        /// Flushes both files to disk.
        fn sync(self) -> Result<()> {
            let sync = |w: BufWriter<fs::File>| -> std::io::Result<()> {
                w.into_inner().map_err(|e| e.into_error())?.sync_all()
            };
            let dir = self.dir;
            let failed = |e| Error::file(dir, "cannot write runs.csv and curves.csv", e);
            sync(self.runs).map_err(failed)?;
            self.curves.map_or(Ok(()), sync).map_err(failed)
        }
    }

    /// Writes `runs.csv` and `curves.csv` (or removes an old `curves.csv`
    /// unless `curves`) into `dir` as one unit, their bytes streamed by
    /// `fill` into the temporaries.
    pub(super) fn write(
        dir: &Path,
        curves: bool,
        fill: impl FnOnce(&mut Files) -> Result<()>,
    ) -> Result<()> {
        let pid = std::process::id();
        let (rt, ct) = (tmp(dir, "runs.csv", pid), tmp(dir, "curves.csv", pid));
        let res = (|| {
            let create = |p: &Path| {
                fs::File::create(p)
                    .map(BufWriter::new)
                    .map_err(|e| Error::file(dir, "cannot write runs.csv and curves.csv", e))
            };
            let mut files = Files {
                dir,
                runs: create(&rt)?,
                curves: if curves { Some(create(&ct)?) } else { None },
            };
            fill(&mut files)?;
            files.sync()
        })();
        if let Err(e) = res {
            let _ = fs::remove_file(&rt);
            let _ = fs::remove_file(&ct);
            return Err(e);
        }
        if crash::hit("sweep:assemble-temps") {
            std::process::abort();
        }
        let mode = if curves { "curves" } else { "nocurves" };
        if let Err(e) = write_atomic(&dir.join(MARKER), format!("{pid} {mode}\n").as_bytes()) {
            let _ = fs::remove_file(&rt);
            let _ = fs::remove_file(&ct);
            return Err(e);
        }
        if crash::hit("sweep:assemble-marker") {
            std::process::abort();
        }
        finish(dir, pid, curves)
    }

    /// The renames a marker stands for; each step is skipped once done, so
    /// finishing twice is harmless.
    fn finish(dir: &Path, pid: u32, curves: bool) -> Result<()> {
        let (rt, ct) = (tmp(dir, "runs.csv", pid), tmp(dir, "curves.csv", pid));
        let io = |p: &Path, e: std::io::Error| {
            Error::file(
                p,
                "cannot put the new file in place (the next sweep or merge in this directory finishes the pair once the cause is fixed)",
                e,
            )
        };
        let final_curves = dir.join("curves.csv");
        if curves {
            if ct.exists() {
                fs::rename(&ct, &final_curves).map_err(|e| io(&final_curves, e))?;
            }
        } else if let Err(e) = fs::remove_file(&final_curves) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(io(&final_curves, e));
            }
        }
        if crash::hit("sweep:assemble-rename") {
            std::process::abort();
        }
        let final_runs = dir.join("runs.csv");
        if rt.exists() {
            fs::rename(&rt, &final_runs).map_err(|e| io(&final_runs, e))?;
        }
        let marker = dir.join(MARKER);
        fs::remove_file(&marker).map_err(|e| Error::file(&marker, "cannot remove", e))
    }

    /// Whether process `pid` may still be running: on Linux, whether
    /// `/proc/<pid>` exists; elsewhere every process is taken to be alive
    /// (its temporaries are then left alone).
    fn alive(pid: u32) -> bool {
        pid == std::process::id()
            || !Path::new("/proc/self").exists()
            || Path::new("/proc").join(pid.to_string()).exists()
    }

    /// Finishes the renames of a crashed assembly in `dir`, then removes the
    /// temporaries (`.<name>.tmp-<pid>`) that processes no longer running left.
    pub(super) fn recover(dir: &Path) -> Result<()> {
        let marker = dir.join(MARKER);
        match fs::read_to_string(&marker) {
            Ok(text) => {
                let parsed = match text.trim_end().split_once(' ') {
                    Some((p, "curves")) => p.parse::<u32>().ok().map(|p| (p, true)),
                    Some((p, "nocurves")) => p.parse::<u32>().ok().map(|p| (p, false)),
                    _ => None,
                };
                let Some((pid, curves)) = parsed else {
                    return Err(Error::io(
                        &marker,
                        "is damaged, so runs.csv and curves.csv may not belong together; delete the marker and both files, then rerun",
                    ));
                };
                if !alive(pid) {
                    finish(dir, pid, curves)?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::file(&marker, "cannot read", e)),
        }
        let Ok(entries) = fs::read_dir(dir) else {
            return Ok(());
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let stale = name.starts_with('.')
                && name
                    .rsplit_once(".tmp-")
                    .and_then(|(_, pid)| pid.parse::<u32>().ok())
                    .is_some_and(|pid| !alive(pid));
            if stale {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(())
    }
}
