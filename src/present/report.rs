//! `plots/REPORT.md`: its sections on the paper's figures and sweeps, from
//! the paper-figure runs and the sweeps' tables. The sentences are
//! `templates/report/*.md`; this module computes the numbers, formats them
//! and picks the phrases they call for.

use crate::analysis::runs::{correlation, Grid, RunsTable, Stat};
use crate::analysis::stats::ls_slope;
use crate::error::{Error, Result};
use crate::present::template::{list, render_file, render_line, Facts};
use crate::studies::robustness::{DEGRADED, DISPERSED};

/// What `REPORT.md` is written from: the paper-figure runs' summaries and
/// the sweeps' tables. Every number in the report comes from these.
pub struct ReportInputs<'a> {
    /// Figure 2's MLP run and the tabular run of the same setting.
    pub fig2_mlp: &'a crate::engine::metrics::Summary,
    /// The tabular run of Figure 2's setting.
    pub fig2_tabular: &'a crate::engine::metrics::Summary,
    /// The average chosen probability of Figure 2's MLP run at epoch 0.
    pub fig2_start_avg_chosen: f64,
    /// `grad_pi_minus / grad_pi_plus` growth of the MLP run, in orders of magnitude.
    pub fig2_grad_ratio_growth: f64,
    /// One line naming Figure 2's setting (e.g. `plots::describe_run`).
    pub fig2_setting: &'a str,
    /// The seed set of the bands of Figures 2 and 3.
    pub paper_seeds: &'a [u64],
    /// The TOML of the base config (`experiments/fig2.toml`, resolved).
    pub base_config: &'a str,
    /// `phase.toml`'s runs (the phase diagrams).
    pub phase: &'a RunsTable,
    /// `beta.toml`'s runs (D-scores against β).
    pub beta: &'a RunsTable,
    /// `flex-dpo.toml`'s runs (Flex-DPO over β−).
    pub flex: &'a RunsTable,
    /// `sft-dpo.toml`'s runs (SFT-DPO over γ).
    pub sft: &'a RunsTable,
    /// `losses.toml`'s runs (the core losses on every scenario).
    pub losses: &'a RunsTable,
    /// The robustness study's facts with its finding sentences
    /// (`crate::present::robustness`), quoted where a section states a finding.
    pub findings: &'a Facts,
}

const D_SCORES: [(&str, &str); 3] = [
    ("drop", "orders of magnitude"),
    ("degradation", "relative fall from the peak"),
    ("dispersion", "rise of avg unseen from its minimum"),
];

/// Decimals a D-score is written with.
fn digits(score: &str) -> usize {
    match score {
        "drop" => 1,
        "degradation" => 2,
        _ => 3,
    }
}

/// `v` rounded to a D-score's decimals.
fn fmt_score(score: &str, v: f64) -> String {
    format!("{v:.*}", digits(score))
}

/// Which way a value moves between two ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Rises,
    Falls,
    WithinNoise,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Rises => "rises",
            Direction::Falls => "falls",
            Direction::WithinNoise => "stays within noise",
        })
    }
}

/// The direction of a change from `a` to `b`, calling anything within
/// `noise` of no change noise.
fn direction(a: f64, b: f64, noise: f64) -> Direction {
    if (b - a).abs() <= noise {
        Direction::WithinNoise
    } else if b > a {
        Direction::Rises
    } else {
        Direction::Falls
    }
}

/// A correlation in words: a clear rise or fall needs `|r| >= 0.3` and a
/// change between the ends larger than `noise`.
fn trend_words(r: f64, change: f64, noise: f64) -> &'static str {
    if r.abs() < 0.3 || change.abs() <= noise {
        "shows no clear trend with"
    } else if r > 0.0 {
        "rises with"
    } else {
        "falls with"
    }
}

/// Values of column `x_key` (numeric) and the statistics of `value` at each,
/// x ascending.
fn curve(t: &RunsTable, x_key: &str, value: &str) -> Result<Vec<(f64, String, Stat)>> {
    let mut v = t
        .summarise(&[x_key], value)?
        .into_iter()
        .map(|(k, s)| {
            let x = k[0]
                .parse::<f64>()
                .map_err(|_| Error::config(x_key, format!("has a non-numeric cell `{}`", k[0])))?;
            Ok((x, k[0].clone(), s))
        })
        .collect::<Result<Vec<_>>>()?;
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(v)
}

/// The smallest x from which the mean stays below `thr` at every larger x.
fn settles_below(c: &[(f64, String, Stat)], thr: f64) -> Option<f64> {
    let mut from = None;
    for (x, _, s) in c.iter().rev() {
        if s.mean < thr {
            from = Some(*x);
        } else {
            break;
        }
    }
    from
}

/// A number as the sweep grid would print it (up to 4 significant digits).
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let d = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.d$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// How the gradient ratio changed, as a phrase.
fn ratio_words(growth: f64) -> Result<String> {
    let mut f = Facts::new();
    if !growth.is_finite() {
        return phrase("ratio-undefined", &f);
    }
    put(&mut f, "orders", format!("{:.1}", growth.abs()));
    phrase(
        if growth >= 0.0 {
            "ratio-grows"
        } else {
            "ratio-shrinks"
        },
        &f,
    )
}

fn put(f: &mut Facts, k: &str, v: impl ToString) {
    f.insert(k.to_string(), v.to_string());
}

fn phrase(key: &str, f: &Facts) -> Result<String> {
    render_line("report/phrases", key, f)
}

/// Renders `plots/REPORT.md` up to the sections the binary adds after the
/// paper's figures (calibration, beyond the paper, robustness).
pub fn report_markdown(inp: &ReportInputs) -> Result<String> {
    let base = crate::io::config::Config::from_toml_str(inp.base_config)?;
    let beta = base
        .loss
        .params
        .get("beta")
        .map_or_else(|| "?".into(), |b| short(*b));
    let sections = [
        intro(inp)?,
        phase_section(inp, &beta)?,
        beta_section(inp)?,
        remedies_section(inp, &beta)?,
        loss_table(inp)?,
    ];
    Ok(format!("{}\n", sections.join("\n\n")))
}

/// The opening and the paper's figures with Figure 2's numbers.
fn intro(inp: &ReportInputs) -> Result<String> {
    let (m, t) = (inp.fig2_mlp, inp.fig2_tabular);
    let mut f = Facts::new();
    put(
        &mut f,
        "seeds",
        crate::present::names::seed_set(inp.paper_seeds),
    );
    put(&mut f, "setting", inp.fig2_setting);
    let mut c = Facts::new();
    put(&mut c, "start", format!("{:.3}", inp.fig2_start_avg_chosen));
    put(&mut c, "end", format!("{:.3}", m.final_avg_chosen));
    put(&mut c, "peak", format!("{:.3}", m.peak_avg_chosen));
    put(&mut c, "epoch", m.peak_epoch);
    let chosen = phrase(
        if m.peak_epoch == 0 {
            "chosen-never"
        } else {
            "chosen-rises"
        },
        &c,
    )?;
    put(&mut f, "chosen", chosen);
    let mut u = Facts::new();
    put(&mut u, "start", format!("{:.3}", m.start_avg_unseen));
    put(&mut u, "end", format!("{:.4}", m.final_avg_unseen));
    put(&mut u, "min", format!("{:.4}", m.min_avg_unseen));
    put(&mut u, "epoch", m.min_avg_unseen_epoch);
    let unseen = phrase(
        if m.min_avg_unseen_epoch == 0 {
            "unseen-never"
        } else {
            "unseen-dips"
        },
        &u,
    )?;
    put(&mut f, "unseen", unseen);
    put(&mut f, "degradation", format!("{:.2}", m.degradation));
    put(&mut f, "drop", format!("{:.1}", m.drop));
    put(&mut f, "dispersion", format!("{:.4}", m.dispersion));
    put(&mut f, "ratio", ratio_words(inp.fig2_grad_ratio_growth)?);
    put(&mut f, "tabular_peak", format!("{:.3}", t.peak_avg_chosen));
    put(&mut f, "tabular_peak_epoch", t.peak_epoch);
    put(
        &mut f,
        "tabular_final",
        format!("{:.3}", t.final_avg_chosen),
    );
    put(
        &mut f,
        "tabular_degradation",
        format!("{:.2}", t.degradation),
    );
    put(&mut f, "tabular_drop", format!("{:.1}", t.drop));
    put(&mut f, "tabular_dispersion", format!("{:.4}", t.dispersion));
    // What the printed precision shows as no degradation and no dispersion.
    let clean = t.degradation < 0.01 && t.dispersion < 1e-3;
    let verdict = phrase(
        if clean {
            "tabular-clean"
        } else {
            "tabular-not-clean"
        },
        &f,
    )?;
    put(&mut f, "tabular_verdict", verdict);
    render_file("report/intro", &f)
}

fn phase_section(inp: &ReportInputs, beta: &str) -> Result<String> {
    let (rk, ck) = ("data.chosen_start", "data.rejected_start");
    let g = Grid::build(inp.phase, rk, ck, "drop")?;
    let n_seeds = inp
        .phase
        .summarise(&[rk, ck], "drop")?
        .iter()
        .map(|g| g.1.n)
        .min()
        .unwrap_or(0);
    let mut f = inp.findings.clone();
    put(&mut f, "beta", beta);
    put(&mut f, "n_runs", inp.phase.rows.len());
    put(&mut f, "chosen_lo", format!("{:.2}", g.rows[0]));
    put(
        &mut f,
        "chosen_hi",
        format!("{:.2}", g.rows[g.rows.len() - 1]),
    );
    put(&mut f, "rejected_lo", format!("{:.2}", g.cols[0]));
    put(
        &mut f,
        "rejected_hi",
        format!("{:.2}", g.cols[g.cols.len() - 1]),
    );
    put(&mut f, "n_chosen", g.rows.len());
    put(&mut f, "n_rejected", g.cols.len());
    put(&mut f, "n_seeds", n_seeds);
    let on_grid = |v: f64, vals: &[f64]| vals.iter().any(|x| (x - v).abs() < 1e-9);
    let marked = crate::present::plots::sweeps::SCENARIO_POINTS
        .iter()
        .filter(|(_, c, r)| on_grid(*c, &g.rows) && on_grid(*r, &g.cols))
        .map(|(tag, c, r)| {
            let mut p = Facts::new();
            put(&mut p, "tag", tag);
            put(&mut p, "chosen", format!("{c:.2}"));
            put(&mut p, "rejected", format!("{r:.2}"));
            phrase("framed-point", &p)
        })
        .collect::<Result<Vec<_>>>()?;
    put(&mut f, "points", list(&marked));
    let framed = phrase(
        if marked.is_empty() {
            "framed-none"
        } else {
            "framed"
        },
        &f,
    )?;
    put(&mut f, "framed", framed);
    let mut bullets = Vec::new();
    for (score, unit) in D_SCORES {
        let g = Grid::build(inp.phase, rk, ck, score)?;
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
        // The typical standard error of one cell mean, and of a marginal
        // (an average of a whole row or column of cells).
        let mut ses: Vec<f64> = g
            .cells
            .iter()
            .flatten()
            .map(|s| s.sd / (s.n.max(1) as f64).sqrt())
            .collect();
        ses.sort_by(f64::total_cmp);
        let se = ses[ses.len() / 2];
        let noise_r = 2.0 * se / (g.rows.len() as f64).sqrt();
        let noise_c = 2.0 * se / (g.cols.len() as f64).sqrt();
        let (r_rej, r_cho) = (correlation(&xs_r, &ys), correlation(&xs_c, &ys));
        let v = |x: f64| fmt_score(score, x);
        let (r0, r1) = (byr[0], byr[byr.len() - 1]);
        let (c0, c1) = (byc[0], byc[byc.len() - 1]);
        let (dir_r, dir_c) = (direction(r0, r1, noise_r), direction(c0, c1, noise_c));
        let mut b = f.clone();
        put(&mut b, "score", score);
        put(&mut b, "unit", unit);
        put(&mut b, "low", v(lv));
        put(&mut b, "low_chosen", format!("{lc:.2}"));
        put(&mut b, "low_rejected", format!("{lr:.2}"));
        put(&mut b, "high", v(hv));
        put(&mut b, "high_chosen", format!("{hc:.2}"));
        put(&mut b, "high_rejected", format!("{hr:.2}"));
        put(&mut b, "se", v(se));
        put(&mut b, "direction_rejected", dir_r);
        put(&mut b, "rejected_first", v(r0));
        put(&mut b, "rejected_last", v(r1));
        put(&mut b, "direction_chosen", dir_c);
        put(&mut b, "chosen_first", v(c0));
        put(&mut b, "chosen_last", v(c1));
        let noisy = dir_r == Direction::WithinNoise || dir_c == Direction::WithinNoise;
        let note = if noisy {
            format!(" {}", phrase("noise-note", &b)?)
        } else {
            String::new()
        };
        put(&mut b, "noise_note", note);
        put(&mut b, "r_rejected", format!("{r_rej:.2}"));
        put(&mut b, "r_chosen", format!("{r_cho:.2}"));
        put(
            &mut b,
            "trend_rejected",
            trend_words(r_rej, r1 - r0, noise_r),
        );
        put(&mut b, "trend_chosen", trend_words(r_cho, c1 - c0, noise_c));
        bullets.push(phrase("phase-score", &b)?);
    }
    put(&mut f, "bullets", bullets.join("\n"));

    // The paper's claim about scenarios 2-4, on the scenarios themselves.
    let dpo = inp.losses.filter("loss", "dpo")?;
    let peak = dpo.summarise(&["data.scenario"], "peak_avg_chosen")?;
    let disp = dpo.summarise(&["data.scenario"], "dispersion")?;
    let find = |g: &[(Vec<String>, Stat)], sc: &str| g.iter().find(|x| x.0[0] == sc).map(|x| x.1);
    let mut scenarios = String::new();
    if let (Some(p1), Some(_)) = (find(&peak, "scenario1"), find(&disp, "scenario1")) {
        let mut peaks = Vec::new();
        let mut disps = Vec::new();
        for sc in crate::maths::data::SCENARIOS {
            let (Some(p), Some(d)) = (find(&peak, sc), find(&disp, sc)) else {
                continue;
            };
            peaks.push(format!("{sc} {}", p.pm(2)));
            disps.push(format!("{sc} {}", d.pm(3)));
        }
        // Whether the scenarios differ is decided by the robustness study's
        // paired tests on held-out seeds, whose sentence the phrase quotes.
        let mut c = f.clone();
        put(&mut c, "n_seeds", p1.n);
        put(&mut c, "peaks", list(&peaks));
        put(&mut c, "dispersions", list(&disps));
        scenarios = phrase("scenarios", &c)?;
    }
    put(&mut f, "scenarios", scenarios);
    render_file("report/phase", &f)
}

fn beta_section(inp: &ReportInputs) -> Result<String> {
    let mut slopes = Vec::new();
    let mut bullets = Vec::new();
    for sc in crate::maths::data::SCENARIOS {
        let t = inp.beta.filter("data.scenario", sc)?;
        if t.rows.is_empty() {
            continue;
        }
        let mut parts = Vec::new();
        for (score, _) in D_SCORES {
            let c = curve(&t, "loss.beta", score)?;
            let (first, last) = (&c[0], &c[c.len() - 1]);
            let noise = 2.0
                * (first.2.sd / (first.2.n as f64).sqrt())
                    .max(last.2.sd / (last.2.n as f64).sqrt());
            let mut p = Facts::new();
            put(&mut p, "score", score);
            put(
                &mut p,
                "direction",
                direction(first.2.mean, last.2.mean, noise),
            );
            put(&mut p, "first", first.2.pm(digits(score)));
            put(&mut p, "first_beta", short(first.0));
            put(&mut p, "last", last.2.pm(digits(score)));
            put(&mut p, "last_beta", short(last.0));
            let key = if score == "drop" {
                let pos: Vec<&(f64, String, Stat)> = c.iter().filter(|p| p.2.mean > 0.0).collect();
                let xs: Vec<f64> = pos.iter().map(|p| p.0.log10()).collect();
                let ys: Vec<f64> = pos.iter().map(|p| p.2.mean.log10()).collect();
                let k = ls_slope(&xs, &ys).unwrap_or(f64::NAN);
                slopes.push(k);
                put(&mut p, "slope", format!("{k:.2}"));
                "beta-drop"
            } else {
                let thr = if score == "degradation" {
                    DEGRADED
                } else {
                    DISPERSED
                };
                put(&mut p, "threshold", thr);
                match settles_below(&c, thr) {
                    Some(x) if x == first.0 => "beta-below-all",
                    Some(x) => {
                        put(&mut p, "from", short(x));
                        "beta-below-from"
                    }
                    None => "beta-not-below",
                }
            };
            parts.push(phrase(key, &p)?);
        }
        let mut b = Facts::new();
        put(&mut b, "scenario", sc);
        put(&mut b, "parts", parts.join("; "));
        bullets.push(phrase("beta-scenario", &b)?);
    }
    let mut f = Facts::new();
    put(&mut f, "bullets", bullets.join("\n"));
    let mut summary = Vec::new();
    if !slopes.is_empty() {
        let lo = slopes.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = slopes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        put(&mut f, "lo", format!("{lo:.2}"));
        put(&mut f, "hi", format!("{hi:.2}"));
        summary.push(phrase("beta-slopes", &f)?);
        // A slope of −1 (within ±0.2) is the inverse proportionality.
        if lo > -1.2 && hi < -0.8 {
            summary.push(phrase("beta-inverse", &f)?);
        }
    }
    put(&mut f, "slopes", summary.join(" "));
    render_file("report/beta", &f)
}

/// SFT-DPO's degradation is called gone below this.
const SFT_CLEAR: f64 = 0.01;

fn remedies_section(inp: &ReportInputs, beta: &str) -> Result<String> {
    let dpo = inp.losses.filter("loss", "dpo")?;
    let (mut sft_first, mut sft_gamma0) = (Vec::new(), f64::NAN);
    let mut bullets = Vec::new();
    for sc in crate::maths::data::SCENARIOS {
        let d = dpo.filter("data.scenario", sc)?;
        if d.rows.is_empty() {
            continue;
        }
        let dd = d.summarise(&[], "degradation")?[0].1;
        let dp = d.summarise(&[], "dispersion")?[0].1;
        let fl = inp.flex.filter("data.scenario", sc)?;
        let fg = curve(&fl, "loss.beta_minus", "degradation")?;
        let fd = curve(&fl, "loss.beta_minus", "dispersion")?;
        let fbest = fg
            .iter()
            .min_by(|a, b| a.2.mean.total_cmp(&b.2.mean))
            .expect("non-empty");
        let below_dpo: Vec<String> = fg
            .iter()
            // Below by more than the printed precision: at β− = β+ Flex-DPO
            // is DPO, equal up to rounding.
            .filter(|p| p.2.mean < dd.mean - 0.005)
            .map(|p| short(p.0))
            .collect();
        let s = inp.sft.filter("data.scenario", sc)?;
        let sg = curve(&s, "loss.gamma", "degradation")?;
        let sd = curve(&s, "loss.gamma", "dispersion")?;
        let mut sf = Facts::new();
        put(&mut sf, "threshold", SFT_CLEAR);
        put(&mut sf, "first", sg[0].2.pm(2));
        put(&mut sf, "first_gamma", short(sg[0].0));
        put(&mut sf, "last", sg[sg.len() - 1].2.pm(2));
        put(&mut sf, "last_gamma", short(sg[sg.len() - 1].0));
        let key = match settles_below(&sg, SFT_CLEAR) {
            Some(x) if x == sg[0].0 => "sft-all",
            Some(x) => {
                put(&mut sf, "from", short(x));
                "sft-from"
            }
            None => "sft-never",
        };
        let sft_deg = phrase(key, &sf)?;
        let sft_disp_max = sd
            .iter()
            .map(|p| p.2.mean)
            .fold(f64::NEG_INFINITY, f64::max);
        sft_first.push(sg[0].2.mean);
        sft_gamma0 = sg[0].0;
        let (fd_first, fd_last) = (&fd[0], &fd[fd.len() - 1]);
        let mut b = Facts::new();
        put(&mut b, "scenario", sc);
        put(&mut b, "dpo_degradation", dd.pm(2));
        put(&mut b, "dpo_dispersion", dp.pm(3));
        // Flex-DPO's degradation curve moves by more than 0.02 to count.
        put(
            &mut b,
            "flex_direction",
            direction(fg[0].2.mean, fg[fg.len() - 1].2.mean, 0.02),
        );
        put(&mut b, "flex_first", fg[0].2.pm(2));
        put(&mut b, "flex_first_beta", short(fg[0].0));
        put(&mut b, "flex_last", fg[fg.len() - 1].2.pm(2));
        put(&mut b, "flex_last_beta", short(fg[fg.len() - 1].0));
        put(&mut b, "flex_best", fbest.2.pm(2));
        put(&mut b, "flex_best_beta", short(fbest.0));
        put(&mut b, "flex_below", list(&below_dpo));
        put(&mut b, "flex_dispersion_first", fd_first.2.pm(3));
        put(&mut b, "flex_dispersion_last", fd_last.2.pm(3));
        put(&mut b, "sft", sft_deg);
        put(&mut b, "sft_dispersion", format!("{sft_disp_max:.3}"));
        bullets.push(phrase("remedy", &b)?);
    }
    let mut f = Facts::new();
    put(&mut f, "bullets", bullets.join("\n"));
    let mut paragraphs = Vec::new();
    if !sft_first.is_empty() && sft_first.iter().all(|d| *d < SFT_CLEAR) {
        put(&mut f, "gamma", short(sft_gamma0));
        put(&mut f, "threshold", SFT_CLEAR);
        paragraphs.push(phrase("sft-note", &f)?);
    }
    // Paired comparisons need the same run seeds in both sweeps.
    let seeds = |t: &RunsTable| -> Result<std::collections::BTreeSet<String>> {
        let c = t.col("run_seed")?;
        Ok(t.rows.iter().map(|r| r[c].clone()).collect())
    };
    let paired = seeds(&dpo)? == seeds(inp.flex)? && seeds(&dpo)? == seeds(inp.sft)?;
    put(&mut f, "beta", beta);
    let same = phrase(if paired { "same-seeds" } else { "other-seeds" }, &f)?;
    put(&mut f, "seeds", same);
    paragraphs.push(phrase("dashed", &f)?);
    put(&mut f, "paragraphs", paragraphs.join("\n\n"));

    let by_loss = inp.losses.summarise(&["loss"], "drop")?;
    let dpo_of = |c: &str| -> Result<Vec<f64>> {
        Ok(dpo
            .summarise(&["data.scenario"], c)?
            .iter()
            .map(|g| g.1.mean)
            .collect())
    };
    let range = |v: &[f64]| {
        (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    let (dpo_deg, dpo_disp) = (
        range(&dpo_of("degradation")?),
        range(&dpo_of("dispersion")?),
    );
    let mut others = Vec::new();
    for (k, _) in by_loss
        .iter()
        .filter(|g| g.0[0] == "ipo" || g.0[0] == "slic")
    {
        let l = inp.losses.filter("loss", &k[0])?;
        let per = |c: &str| -> Result<(f64, f64)> {
            let v: Vec<f64> = l
                .summarise(&["data.scenario"], c)?
                .iter()
                .map(|g| g.1.mean)
                .collect();
            Ok(range(&v))
        };
        let (dr, dg, ds, pk) = (
            per("drop")?,
            per("degradation")?,
            per("dispersion")?,
            per("peak_avg_chosen")?,
        );
        let mut o = Facts::new();
        put(&mut o, "loss", if k[0] == "slic" { "SLiC" } else { "IPO" });
        put(&mut o, "drop_lo", format!("{:.1}", dr.0));
        put(&mut o, "drop_hi", format!("{:.1}", dr.1));
        put(&mut o, "degradation_lo", format!("{:.2}", dg.0));
        put(&mut o, "degradation_hi", format!("{:.2}", dg.1));
        put(&mut o, "dpo_degradation_lo", format!("{:.2}", dpo_deg.0));
        put(&mut o, "dpo_degradation_hi", format!("{:.2}", dpo_deg.1));
        put(&mut o, "dispersion_lo", format!("{:.3}", ds.0));
        put(&mut o, "dispersion_hi", format!("{:.3}", ds.1));
        put(&mut o, "dpo_dispersion_lo", format!("{:.3}", dpo_disp.0));
        put(&mut o, "dpo_dispersion_hi", format!("{:.3}", dpo_disp.1));
        put(&mut o, "peak_lo", format!("{:.2}", pk.0));
        put(&mut o, "peak_hi", format!("{:.2}", pk.1));
        others.push(phrase("other-loss", &o)?);
    }
    put(&mut f, "others", others.join("\n"));
    render_file("report/remedies", &f)
}

/// The table of `losses.toml`'s runs and the base config.
fn loss_table(inp: &ReportInputs) -> Result<String> {
    let mut table = String::from(
        "| loss | scenario | drop | degradation | dispersion | peak chosen | diverged |\n|---|---|---|---|---|---|---|",
    );
    let groups = inp.losses.summarise(&["loss", "data.scenario"], "drop")?;
    for (k, drop) in &groups {
        let sub = inp
            .losses
            .filter("loss", &k[0])?
            .filter("data.scenario", &k[1])?;
        let one = |c: &str| -> Result<Stat> { Ok(sub.summarise(&[], c)?[0].1) };
        let div_col = sub.col("diverged")?;
        let diverged = sub.rows.iter().filter(|r| r[div_col] == "true").count();
        table.push_str(&format!(
            "\n| {} | {} | {} | {} | {} | {} | {}/{} |",
            k[0],
            k[1],
            drop.pm(1),
            one("degradation")?.pm(2),
            one("dispersion")?.pm(3),
            one("peak_avg_chosen")?.pm(2),
            diverged,
            sub.rows.len()
        ));
    }
    let mut f = Facts::new();
    put(&mut f, "table", table);
    put(&mut f, "base_config", inp.base_config.trim_end());
    render_file("report/losses", &f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_follow_the_data() {
        assert_eq!(direction(0.1, 0.5, 0.05), Direction::Rises);
        assert_eq!(direction(0.5, 0.1, 0.05), Direction::Falls);
        assert_eq!(direction(0.5, 0.52, 0.05), Direction::WithinNoise);
        assert_eq!(Direction::WithinNoise.to_string(), "stays within noise");
        assert_eq!(trend_words(0.7, 0.2, 0.05), "rises with");
        assert_eq!(trend_words(-0.7, -0.2, 0.05), "falls with");
        assert_eq!(trend_words(0.2, 0.2, 0.05), "shows no clear trend with");
        assert_eq!(trend_words(0.9, 0.01, 0.05), "shows no clear trend with");
        assert!(ratio_words(3.0).unwrap().starts_with("grows by 3.0"));
        assert!(ratio_words(-3.0).unwrap().starts_with("shrinks by 3.0"));
        assert!(ratio_words(f64::NAN).unwrap().starts_with("cannot"));
    }

    #[test]
    fn settling_needs_every_larger_x_below() {
        let c: Vec<(f64, String, Stat)> = [(0.1, 0.5), (1.0, 0.01), (3.0, 0.2), (10.0, 0.0)]
            .iter()
            .map(|&(x, m)| (x, x.to_string(), Stat::of(&[m])))
            .collect();
        assert_eq!(settles_below(&c, 0.05), Some(10.0));
        assert_eq!(settles_below(&c, 0.6), Some(0.1));
        assert_eq!(settles_below(&c[..3], 0.05), None);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(short(5.6234132519), "5.623");
        assert_eq!(short(0.001), "0.001");
        assert_eq!(short(10.0), "10");
        assert!((ls_slope(&[0.0, 1.0, 2.0], &[1.0, 0.0, -1.0]).unwrap() + 1.0).abs() < 1e-12);
    }
}
