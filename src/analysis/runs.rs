//! Sweep results read back (`runs.csv`) and summarised over seeds: the
//! table, per-group statistics and grids that the report and figures draw.

use crate::engine::metrics::Summary;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A `runs.csv` (or any header-first CSV) held as text cells: the axis
/// columns of a sweep's `runs.csv` depend on the sweep, and the grouping and
/// filtering below key on their labels as written. The fixed columns are
/// read typed by [`RunsTable::records`].
#[derive(Debug, Clone)]
pub struct RunsTable {
    /// The column names, in file order.
    pub header: Vec<String>,
    /// Each data row's cells, as written.
    pub rows: Vec<Vec<String>>,
}

/// The columns every sweep's `runs.csv` has, whatever its axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RunIds {
    /// The run's index in the sweep's grid.
    pub run_id: usize,
    /// The `seed` axis value (0 when the sweep has no seed axis).
    pub replicate: u64,
    /// The seed the run used.
    pub run_seed: u64,
}

/// The `config_hash` column: the SHA-256 of the run's resolved config (see
/// [`crate::io::journal::config_hash`]).
#[derive(Deserialize)]
struct ConfigHash {
    config_hash: String,
}

/// One row of a sweep's `runs.csv`, typed: the fixed columns through serde
/// (by header name, so their position does not matter), the axis columns as
/// `(field, label)` text.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run's id, replicate and seed.
    pub ids: RunIds,
    /// The SHA-256 of the run's resolved config, 64 hex digits.
    pub config_hash: String,
    /// Each axis column, `(field, label)`, in the file's order: the columns
    /// between `run_id` and `replicate`.
    pub axes: Vec<(String, String)>,
    /// The run's summary columns (D-scores and the rest).
    pub summary: Summary,
}

/// Row `rec` of a `runs.csv` with header `header`: the fixed columns
/// deserialised by name (serde ignores the others), the axis columns (those
/// between `run_id` and `replicate`) kept as text.
fn record(
    header: &csv::StringRecord,
    rec: &csv::StringRecord,
) -> std::result::Result<RunRecord, csv::Error> {
    let at = |name: &str| header.iter().position(|h| h == name);
    let axes = match (at("run_id"), at("replicate")) {
        (Some(a), Some(b)) if a < b => a + 1..b,
        _ => 0..0,
    };
    let hash: ConfigHash = rec.deserialize(Some(header))?;
    Ok(RunRecord {
        ids: rec.deserialize(Some(header))?,
        config_hash: hash.config_hash,
        axes: axes
            .map(|c| (header[c].to_string(), rec.get(c).unwrap_or("").to_string()))
            .collect(),
        summary: rec.deserialize(Some(header))?,
    })
}

impl RunsTable {
    /// Reads a CSV file with a header line. A sweep's `runs.csv` (a header
    /// with `run_id`) is checked row by row against [`RunRecord`], so a
    /// malformed cell is reported here, with its line and column.
    pub fn load(path: &Path) -> Result<Self> {
        let mut r = csv::Reader::from_path(path).map_err(|e| Error::csv(path, "", e))?;
        let header = r.headers().map_err(|e| Error::csv(path, "", e))?.clone();
        let typed = header.iter().any(|h| h == "run_id");
        let mut rows = Vec::new();
        for rec in r.records() {
            let rec = rec.map_err(|e| Error::csv(path, "", e))?;
            if typed {
                record(&header, &rec).map_err(|e| {
                    let msg = match e.kind() {
                        csv::ErrorKind::Deserialize { err, .. } => err
                            .field()
                            .and_then(|f| header.get(f as usize))
                            .map_or(String::new(), |h| format!(" (column `{h}`)")),
                        _ => String::new(),
                    };
                    Error::csv(path, format!("is not a sweep's runs.csv{msg}"), e)
                })?;
            }
            rows.push(rec.iter().map(String::from).collect());
        }
        Ok(RunsTable {
            header: header.iter().map(String::from).collect(),
            rows,
        })
    }

    /// Every row as a [`RunRecord`] (a sweep's `runs.csv` only); the error
    /// names the row (1-based, the header being row 0) and the field
    /// (0-based) that does not parse.
    pub fn records(&self) -> std::result::Result<Vec<RunRecord>, csv::Error> {
        let header = csv::StringRecord::from(self.header.clone());
        self.rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let mut rec = csv::StringRecord::from(row.clone());
                let mut at = csv::Position::new();
                at.set_line(i as u64 + 2).set_record(i as u64 + 1);
                rec.set_position(Some(at));
                record(&header, &rec)
            })
            .collect()
    }

    /// Index of column `name`.
    pub fn col(&self, name: &str) -> Result<usize> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            Error::config(
                name,
                format!("is not a column; columns: {}", self.header.join(", ")),
            )
        })
    }

    /// Rows whose column `name` equals `value`.
    pub fn filter(&self, name: &str, value: &str) -> Result<RunsTable> {
        let c = self.col(name)?;
        Ok(RunsTable {
            header: self.header.clone(),
            rows: self
                .rows
                .iter()
                .filter(|r| r[c] == value)
                .cloned()
                .collect(),
        })
    }

    /// Groups rows by the values of `keys` (in order of first appearance) and
    /// summarises column `value` over each group.
    pub fn summarise(&self, keys: &[&str], value: &str) -> Result<Vec<(Vec<String>, Stat)>> {
        let kc: Vec<usize> = keys.iter().map(|k| self.col(k)).collect::<Result<_>>()?;
        let vc = self.col(value)?;
        let mut order: Vec<Vec<String>> = Vec::new();
        let mut groups: BTreeMap<Vec<String>, Vec<f64>> = BTreeMap::new();
        for r in &self.rows {
            let k: Vec<String> = kc.iter().map(|&c| r[c].clone()).collect();
            let v: f64 = r[vc]
                .parse()
                .map_err(|_| Error::config(value, format!("has a non-numeric cell `{}`", r[vc])))?;
            if !groups.contains_key(&k) {
                order.push(k.clone());
            }
            groups.entry(k).or_default().push(v);
        }
        Ok(order
            .into_iter()
            .map(|k| {
                let s = Stat::of(&groups[&k]);
                (k, s)
            })
            .collect())
    }
}

/// Mean, standard deviation (population), extremes and count of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Stat {
    /// Arithmetic mean.
    pub mean: f64,
    /// Population standard deviation.
    pub sd: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sample size.
    pub n: usize,
}

impl Stat {
    /// Summary of `xs` (all fields NaN-free for a non-empty finite sample).
    pub fn of(xs: &[f64]) -> Self {
        let n = xs.len();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        Stat {
            mean,
            sd: var.sqrt(),
            min: xs.iter().copied().fold(f64::INFINITY, f64::min),
            max: xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            n,
        }
    }

    /// `mean ± sd` with `digits` decimals.
    pub fn pm(&self, digits: usize) -> String {
        format!("{:.*} ± {:.*}", digits, self.mean, digits, self.sd)
    }
}

/// A 2-D grid of group means over two numeric key columns.
#[derive(Debug, Clone)]
pub struct Grid {
    /// Sorted distinct values of the row key.
    pub rows: Vec<f64>,
    /// Sorted distinct values of the column key.
    pub cols: Vec<f64>,
    /// `cells[i][j]`: statistics of the runs at `(rows[i], cols[j])`.
    pub cells: Vec<Vec<Stat>>,
}

impl Grid {
    /// Summarises `value` over the runs at each `(row_key, col_key)` point.
    pub fn build(t: &RunsTable, row_key: &str, col_key: &str, value: &str) -> Result<Grid> {
        let groups = t.summarise(&[row_key, col_key], value)?;
        let parse = |s: &str, k: &str| {
            s.parse::<f64>()
                .map_err(|_| Error::config(k, format!("has a non-numeric cell `{s}`")))
        };
        let mut pts = Vec::new();
        for (k, s) in groups {
            pts.push((parse(&k[0], row_key)?, parse(&k[1], col_key)?, s));
        }
        let mut rows: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let mut cols: Vec<f64> = pts.iter().map(|p| p.1).collect();
        for v in [&mut rows, &mut cols] {
            v.sort_by(f64::total_cmp);
            v.dedup();
        }
        let mut cells = vec![vec![Stat::default(); cols.len()]; rows.len()];
        for (r, c, s) in pts {
            let i = rows.iter().position(|&x| x == r).expect("row key");
            let j = cols.iter().position(|&x| x == c).expect("col key");
            cells[i][j] = s;
        }
        Ok(Grid { rows, cols, cells })
    }

    /// The matrix of means.
    pub fn means(&self) -> Vec<Vec<f64>> {
        self.cells
            .iter()
            .map(|r| r.iter().map(|s| s.mean).collect())
            .collect()
    }

    /// `(row value, col value, mean)` of the largest and the smallest mean.
    pub fn extremes(&self) -> ((f64, f64, f64), (f64, f64, f64)) {
        let mut hi = (0.0, 0.0, f64::NEG_INFINITY);
        let mut lo = (0.0, 0.0, f64::INFINITY);
        for (i, r) in self.cells.iter().enumerate() {
            for (j, s) in r.iter().enumerate() {
                if s.mean > hi.2 {
                    hi = (self.rows[i], self.cols[j], s.mean);
                }
                if s.mean < lo.2 {
                    lo = (self.rows[i], self.cols[j], s.mean);
                }
            }
        }
        (hi, lo)
    }

    /// Mean over rows of each column (the marginal along the column key).
    pub fn col_marginal(&self) -> Vec<f64> {
        (0..self.cols.len())
            .map(|j| self.cells.iter().map(|r| r[j].mean).sum::<f64>() / self.rows.len() as f64)
            .collect()
    }

    /// Mean over columns of each row.
    pub fn row_marginal(&self) -> Vec<f64> {
        self.cells
            .iter()
            .map(|r| r.iter().map(|s| s.mean).sum::<f64>() / r.len() as f64)
            .collect()
    }
}

/// Pearson correlation of two equal-length samples.
pub fn correlation(xs: &[f64], ys: &[f64]) -> f64 {
    let (mx, my) = (Stat::of(xs).mean, Stat::of(ys).mean);
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let vx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let vy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}
