//! Reading sweep results back (`runs.csv`), summarising them over seeds, and
//! writing `plots/REPORT.md`, whose numbers are all computed here from the
//! runs, never typed in.

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
#[derive(Debug, Clone, Copy, PartialEq, Default)]
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

/// What `REPORT.md` is written from: the paper-figure runs' summaries and
/// the sweeps' tables. Every number in the report comes from these.
pub struct ReportInputs<'a> {
    /// Figure 2's MLP run and the tabular run of the same setting.
    pub fig2_mlp: &'a crate::metrics::Summary,
    pub fig2_tabular: &'a crate::metrics::Summary,
    /// `grad_pi_minus / grad_pi_plus` growth of the MLP run, in orders of magnitude.
    pub fig2_grad_ratio_growth: f64,
    /// The TOML of the base config (`experiments/fig2.toml`, resolved).
    pub base_config: &'a str,
    pub phase: &'a RunsTable,
    pub beta: &'a RunsTable,
    pub flex: &'a RunsTable,
    pub sft: &'a RunsTable,
    pub losses: &'a RunsTable,
}

const D_SCORES: [(&str, &str); 3] = [
    ("drop", "orders of magnitude"),
    ("degradation", "relative fall from the peak"),
    ("dispersion", "rise of avg unseen from its minimum"),
];

/// Renders `plots/REPORT.md`.
pub fn report_markdown(inp: &ReportInputs) -> Result<String> {
    use std::fmt::Write;
    let mut s = String::new();
    let w = &mut s;
    let m = inp.fig2_mlp;
    let t = inp.fig2_tabular;
    writeln!(w, "# dpo-lab report\n").ok();
    writeln!(
        w,
        "Generated by `cargo run --release --bin reproduce` from the configs in `experiments/`; \
every number below is computed from the runs by `src/report.rs`. D-scores (see README): \
`drop` = orders of magnitude the average rejected probability fell; `degradation` = (peak − final)/peak \
of the average chosen probability; `dispersion` = final − minimum of the average unseen probability \
(responses outside each prompt's own pair). Spreads are ± one standard deviation over seeds.\n"
    )
    .ok();

    writeln!(w, "## The paper's figures\n").ok();
    writeln!(w, "![Figure 1](fig1.png)\n\n![Figure 2](fig2.png)\n\n![Figure 2, MLP vs tabular](fig2-compare.png)\n\n![Figure 3](fig3.png)\n").ok();
    writeln!(
        w,
        "Figure 2's run (MLP, scenario 1, DPO β = 0.1, seed 0): the average chosen probability rises from 0.12 \
to a peak of {:.3} at epoch {} and ends at {:.3} (degradation {:.2}); the average rejected probability falls by \
{:.1} orders of magnitude; the average unseen probability dips from {:.3} to {:.4} at epoch {} and ends at {:.4} \
(dispersion {:.4}); |∂ℓ/∂π−| / |∂ℓ/∂π+| grows by {:.1} orders of magnitude.\n",
        m.peak_avg_chosen,
        m.peak_epoch,
        m.final_avg_chosen,
        m.degradation,
        m.drop,
        m.start_avg_unseen,
        m.min_avg_unseen,
        m.min_avg_unseen_epoch,
        m.final_avg_unseen,
        m.dispersion,
        inp.fig2_grad_ratio_growth
    )
    .ok();
    writeln!(
        w,
        "The tabular policy in the same setting: peak chosen {:.3} at epoch {}, final {:.3} (degradation {:.2}), \
drop {:.1} orders, dispersion {:.4}. With one free logit per (prompt, response) the DPO logit gradient touches \
only the pair's own two logits, with equal and opposite size, so nothing pulls the chosen response down and no mass \
is pushed to other responses: degradation and dispersion need parameters shared across prompts or responses.\n",
        t.peak_avg_chosen, t.peak_epoch, t.final_avg_chosen, t.degradation, t.drop, t.dispersion
    )
    .ok();

    // Phase diagrams.
    writeln!(
        w,
        "## Phase diagrams: DPO (β = 0.1) over the starting likelihoods\n"
    )
    .ok();
    writeln!(w, "![phase diagrams](phase.png)\n").ok();
    let n_seeds = inp
        .phase
        .summarise(&["data.chosen_start", "data.rejected_start"], "drop")?
        .first()
        .map_or(0, |g| g.1.n);
    writeln!(
        w,
        "{} runs: the MLP of Figure 2, chosen and rejected starting likelihoods each from 0.02 to 0.12, {} seeds per point \
(mean shown). The paper's four scenarios sit at the corners.\n",
        inp.phase.rows.len(),
        n_seeds
    )
    .ok();
    for (score, unit) in D_SCORES {
        let g = Grid::build(inp.phase, "data.chosen_start", "data.rejected_start", score)?;
        let ((hc, hr, hv), (lc, lr, lv)) = g.extremes();
        let byr = g.col_marginal();
        let byc = g.row_marginal();
        let xs_r: Vec<f64> = g.rows.iter().flat_map(|_| g.cols.iter().copied()).collect();
        let xs_c: Vec<f64> = g
            .rows
            .iter()
            .flat_map(|&r| g.cols.iter().map(move |_| r))
            .collect();
        let ys: Vec<f64> = g.means().concat();
        writeln!(
            w,
            "- **{score}** ({unit}): strongest at chosen {hc:.2}, rejected {hr:.2} ({hv:.3}), weakest at chosen {lc:.2}, \
rejected {lr:.2} ({lv:.3}). Averaged over the chosen axis it goes from {:.3} (rejected {:.2}) to {:.3} (rejected {:.2}); \
averaged over the rejected axis from {:.3} (chosen {:.2}) to {:.3} (chosen {:.2}). Correlation of the cell means with \
the rejected likelihood {:.2}, with the chosen likelihood {:.2}.",
            byr[0],
            g.cols[0],
            byr[byr.len() - 1],
            g.cols[g.cols.len() - 1],
            byc[0],
            g.rows[0],
            byc[byc.len() - 1],
            g.rows[g.rows.len() - 1],
            correlation(&xs_r, &ys),
            correlation(&xs_c, &ys)
        )
        .ok();
    }
    writeln!(w).ok();

    // Beta.
    writeln!(
        w,
        "## DPO's D-scores against β\n\n![D-scores against beta](beta.png)\n"
    )
    .ok();
    for sc in ["scenario1", "scenario4"] {
        let t = inp.beta.filter("data.scenario", sc)?;
        let mut parts = Vec::new();
        for (score, _) in D_SCORES {
            let g = t.summarise(&["loss.beta"], score)?;
            let (first, last) = (&g[0], &g[g.len() - 1]);
            parts.push(format!(
                "{score} {} at β = {} and {} at β = {}",
                first.1.pm(2),
                first.0[0],
                last.1.pm(2),
                last.0[0]
            ));
        }
        writeln!(w, "- {sc}: {}.", parts.join("; ")).ok();
    }
    writeln!(w).ok();

    // Remedies.
    writeln!(w, "## The remedies\n\n![remedies](remedies.png)\n").ok();
    let dpo = inp.losses.filter("loss", "dpo")?;
    for sc in crate::data::SCENARIOS {
        let d = dpo.filter("data.scenario", sc)?;
        let dd = d.summarise(&[], "degradation")?[0].1;
        let dp = d.summarise(&[], "dispersion")?[0].1;
        let f = inp.flex.filter("data.scenario", sc)?;
        let fg = f.summarise(&["loss.beta_minus"], "degradation")?;
        let fbest = fg
            .iter()
            .min_by(|a, b| a.1.mean.total_cmp(&b.1.mean))
            .expect("non-empty");
        let sg = inp
            .sft
            .filter("data.scenario", sc)?
            .summarise(&["loss.gamma"], "degradation")?;
        let sdisp = inp
            .sft
            .filter("data.scenario", sc)?
            .summarise(&["loss.gamma"], "dispersion")?;
        let first_zero = sg.iter().find(|g| g.1.mean < 0.01).map(|g| g.0[0].clone());
        writeln!(
            w,
            "- {sc}: DPO degradation {}, dispersion {}. Flex-DPO's lowest degradation is {} at β− = {}. \
SFT-DPO: degradation {} at γ = {} and {} at γ = {}; dispersion {} at γ = {}; degradation below 0.01 from γ = {}.",
            dd.pm(2),
            dp.pm(3),
            fbest.1.pm(2),
            fbest.0[0],
            sg[0].1.pm(2),
            sg[0].0[0],
            sg[sg.len() - 1].1.pm(2),
            sg[sg.len() - 1].0[0],
            sdisp[sdisp.len() - 1].1.pm(3),
            sdisp[sdisp.len() - 1].0[0],
            first_zero.unwrap_or_else(|| "never in this grid".into())
        )
        .ok();
    }
    writeln!(w, "\n![IPO on the four scenarios](fig3-ipo.png)\n\n![SLiC on the four scenarios](fig3-slic.png)\n").ok();

    // Loss table.
    writeln!(w, "## D-scores of every loss on every scenario\n").ok();
    writeln!(
        w,
        "Mean ± sd over seeds; the MLP of Figure 2; `experiments/sweeps/losses.toml`.\n"
    )
    .ok();
    writeln!(
        w,
        "| loss | scenario | drop | degradation | dispersion | peak chosen | diverged |"
    )
    .ok();
    writeln!(w, "|---|---|---|---|---|---|---|").ok();
    let groups = inp.losses.summarise(&["loss", "data.scenario"], "drop")?;
    for (k, drop) in &groups {
        let sub = inp
            .losses
            .filter("loss", &k[0])?
            .filter("data.scenario", &k[1])?;
        let one = |c: &str| -> Result<Stat> { Ok(sub.summarise(&[], c)?[0].1) };
        let div_col = sub.col("diverged")?;
        let diverged = sub.rows.iter().filter(|r| r[div_col] == "true").count();
        writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {}/{} |",
            k[0],
            k[1],
            drop.pm(1),
            one("degradation")?.pm(2),
            one("dispersion")?.pm(3),
            one("peak_avg_chosen")?.pm(2),
            diverged,
            sub.rows.len()
        )
        .ok();
    }
    writeln!(w, "\n## Settings\n\nEvery sweep starts from `experiments/fig2.toml`, resolved:\n\n```toml\n{}```", inp.base_config).ok();
    Ok(s)
}
