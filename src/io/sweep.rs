//! Parallel sweeps: a base run config and axes over any of its fields, the
//! Cartesian product run with rayon. Finished runs are appended to a journal
//! as they complete, so an interrupted sweep resumes where it stopped; the
//! final `runs.csv` and `curves.csv` are assembled in run-id order, so they
//! are byte-identical whatever the thread count, sharding or interruptions.

use crate::engine::metrics::{MetricsRow, Summary};
use crate::engine::train::{train, Keep};
use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::io::output::{csv_header, csv_record, write_atomic};
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
    /// The text the journal is keyed by (a changed sweep cannot resume an old one).
    fingerprint: String,
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
        let base = match doc.get("base") {
            Some(Value::Table(t)) => t.clone(),
            Some(Value::String(p)) => {
                let path = dir.join(p);
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
            fingerprint: text.to_string(),
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
        config.build().map_err(|e| match e {
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
        })
    }

    /// Every run of `shard`, validated; fails before any run starts.
    pub fn points(&self, shard: Shard, max_runs: Option<usize>) -> Result<Vec<RunPoint>> {
        let n = self.len();
        if let Some(max) = max_runs {
            if n > max {
                return Err(Error::config(
                    "axis",
                    format!("gives a grid of {n} runs, more than the limit of {max}; pass --force to run it anyway"),
                ));
            }
        }
        (0..n)
            .filter(|&id| shard.contains(id))
            .map(|id| self.point(id))
            .collect()
    }

    /// Header of `runs.csv`: `run_id`, one column per axis (named by its
    /// field), `replicate`, `run_seed`, then [`Summary`]'s fields.
    pub fn runs_header(&self) -> Vec<String> {
        let mut cols = vec!["run_id".to_string()];
        cols.extend(self.axes.iter().map(|a| a.field.clone()));
        cols.extend(["replicate".to_string(), "run_seed".to_string()]);
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

/// Runs one point; returns its `runs.csv` line and its `curves.csv` lines.
fn run_point(sweep: &Sweep, p: &RunPoint) -> Result<(String, String)> {
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
        summary: &res.summary,
    });
    let mut curves = String::new();
    for m in &res.metrics {
        curves.push_str(&csv_record(&CurvesRow(RunId { run_id: p.id }, m)));
        curves.push('\n');
    }
    Ok((runs_line, curves))
}

const JOURNAL: &str = "journal.txt";
const FINGERPRINT: &str = "sweep.toml";

/// Finished runs read back from a journal: id → (runs line, curves lines).
type Done = BTreeMap<usize, (String, String)>;

/// Reads the complete records of a journal; a record cut short by a kill is dropped.
fn read_journal(path: &Path) -> Result<Done> {
    let mut done = Done::new();
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(Error::file(path, "", e)),
    };
    // Records are `B,id` / curve lines / `R,<runs line>` / `E,id`, each written by one write call.
    let mut open: Option<(usize, String, Option<String>)> = None;
    let complete_lines = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    for line in complete_lines.lines() {
        if let Some(id) = line.strip_prefix("B,") {
            open = id.parse().ok().map(|id| (id, String::new(), None));
        } else if let Some(rest) = line.strip_prefix("C,") {
            if let Some((_, c, _)) = open.as_mut() {
                c.push_str(rest);
                c.push('\n');
            }
        } else if let Some(rest) = line.strip_prefix("R,") {
            if let Some((_, _, r)) = open.as_mut() {
                *r = Some(rest.to_string());
            }
        } else if let Some(id) = line.strip_prefix("E,") {
            if let Some((oid, c, Some(r))) = open.take() {
                if id.parse() == Ok(oid) {
                    done.insert(oid, (r, c));
                }
            }
        } else {
            open = None;
        }
    }
    Ok(done)
}

fn record(id: usize, runs_line: &str, curves: &str) -> String {
    let mut s = format!("B,{id}\n");
    for l in curves.lines() {
        s.push_str("C,");
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(&format!("R,{runs_line}\nE,{id}\n"));
    s
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
    let points = sweep.points(opts.shard, opts.max_runs)?;
    fs::create_dir_all(out).map_err(|e| Error::file(out, "cannot create output directory", e))?;
    let fp_path = out.join(FINGERPRINT);
    let fingerprint = format!(
        "# shard {}/{}\n{}",
        opts.shard.index + 1,
        opts.shard.count,
        sweep.fingerprint
    );
    match fs::read_to_string(&fp_path) {
        Ok(old) if old != fingerprint => {
            return Err(Error::io(
                out,
                "holds the journal of a different sweep (or shard); use another --out or delete it",
            ))
        }
        Ok(_) => {}
        Err(_) => write_atomic(&fp_path, fingerprint.as_bytes())?,
    }
    let journal_path = out.join(JOURNAL);
    let done = read_journal(&journal_path)?;
    // Rewrite the journal without any torn tail before appending to it.
    let mut clean = String::new();
    for (id, (r, c)) in &done {
        clean.push_str(&record(*id, r, c));
    }
    write_atomic(&journal_path, clean.as_bytes())?;
    let todo: Vec<&RunPoint> = points
        .iter()
        .filter(|p| !done.contains_key(&p.id))
        .collect();
    let file = OpenOptions::new()
        .append(true)
        .open(&journal_path)
        .map_err(|e| Error::file(&journal_path, "", e))?;
    let journal = Mutex::new(file);
    let bar = progress_bar(todo.len(), opts.quiet);
    if !opts.quiet && !done.is_empty() {
        eprintln!(
            "sweep: resuming, {} of {} runs already done",
            done.len(),
            points.len()
        );
    }
    todo.par_iter().try_for_each(|p| -> Result<()> {
        let (r, c) = run_point(sweep, p)?;
        let rec = record(p.id, &r, &c);
        journal
            .lock()
            .expect("journal lock")
            .write_all(rec.as_bytes())
            .map_err(|e| Error::file(&journal_path, "", e))?;
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    drop(journal);
    assemble(sweep, &[out.to_path_buf()], out, Some(points.len()))?;
    Ok(todo.len())
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

/// Joins the journals of `dirs` into `out/runs.csv` and `out/curves.csv`, in
/// run-id order. With `expect = None` the union must cover the whole grid.
pub fn assemble(sweep: &Sweep, dirs: &[PathBuf], out: &Path, expect: Option<usize>) -> Result<()> {
    let mut all = Done::new();
    for d in dirs {
        for (id, v) in read_journal(&d.join(JOURNAL))? {
            if all.insert(id, v).is_some() {
                return Err(Error::io(
                    d,
                    format!("run {id} appears in more than one shard"),
                ));
            }
        }
    }
    let want = expect.unwrap_or_else(|| sweep.len());
    if all.len() != want {
        return Err(Error::io(
            out,
            format!("has {} finished runs of {want}; rerun the sweep (or the missing shards) to finish it", all.len()),
        ));
    }
    let mut runs = csv_record(&sweep.runs_header());
    runs.push('\n');
    let mut curves = String::new();
    if sweep.curve_every > 0 {
        curves.push_str(&csv_record(&csv_header(&CurvesRow(
            RunId { run_id: 0 },
            &MetricsRow::default(),
        ))));
        curves.push('\n');
    }
    for (r, c) in all.values() {
        runs.push_str(r);
        runs.push('\n');
        curves.push_str(c);
    }
    fs::create_dir_all(out).map_err(|e| Error::file(out, "", e))?;
    write_atomic(&out.join("runs.csv"), runs.as_bytes())?;
    if sweep.curve_every > 0 {
        write_atomic(&out.join("curves.csv"), curves.as_bytes())?;
    }
    Ok(())
}

/// `dpo-lab merge`: checks the shards belong to one sweep and writes the
/// files a single-machine sweep would.
pub fn merge(shard_dirs: &[PathBuf], out: &Path) -> Result<()> {
    let first = shard_dirs
        .first()
        .ok_or_else(|| Error::Usage("merge needs at least one shard directory".into()))?;
    let read_fp = |d: &Path| -> Result<String> {
        let p = d.join(FINGERPRINT);
        let s = fs::read_to_string(&p)
            .map_err(|e| Error::file(&p, "not a sweep output directory", e))?;
        Ok(s.split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default())
    };
    let text = read_fp(first)?;
    for d in &shard_dirs[1..] {
        if read_fp(d)? != text {
            return Err(Error::io(
                d,
                "belongs to a different sweep than the first shard",
            ));
        }
    }
    // Relative `base` paths were resolved when the shards ran; the journals carry the results.
    let sweep = Sweep::from_toml_str_lenient(&text)?;
    assemble(&sweep, shard_dirs, out, None)
}

impl Sweep {
    /// Parses sweep text for merging: only axes and settings matter, so a
    /// `base` file that moved is not an error.
    fn from_toml_str_lenient(text: &str) -> Result<Self> {
        let mut doc: Table =
            toml::from_str(text).map_err(|e| Error::toml("<sweep>", "is not valid TOML", e))?;
        doc.insert("base".into(), Value::Table(Table::new()));
        let mut s = Self::from_toml_str(&toml::to_string(&doc).expect("table"), Path::new("."))?;
        s.fingerprint = text.to_string();
        Ok(s)
    }
}
