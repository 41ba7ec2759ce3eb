//! Sweep results read back (`runs.csv`) and summarised over seeds: the
//! table, per-group statistics and grids that the report and figures draw.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// A `runs.csv` (or any header-first CSV) held as text cells.
#[derive(Debug, Clone)]
pub struct RunsTable {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl RunsTable {
    /// Reads a CSV file with a header line.
    pub fn load(path: &Path) -> Result<Self> {
        let mut r = csv::Reader::from_path(path).map_err(|e| Error::io(path, e))?;
        let header = r
            .headers()
            .map_err(|e| Error::io(path, e))?
            .iter()
            .map(String::from)
            .collect();
        let rows = r
            .records()
            .map(|rec| rec.map(|rec| rec.iter().map(String::from).collect()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::io(path, e))?;
        Ok(RunsTable { header, rows })
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
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
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
