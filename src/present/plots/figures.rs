//! The paper's figures, drawn from in-memory runs.

use super::bands::{
    draw_key, key_height, log_axis, seed_band_chart, style_key, BandCurve, EpochScale, KeyEntry,
    GRADIENT, LOG_PROBABILITY, PROBABILITY,
};
use super::heatmap::{draw_heatmap, CellText, ColorScale, Heatmap};
use super::panels::{panel_grid, Axis, Panel};
use super::style::{self, FONT};
use super::{save, DrawResult, Figure};
use crate::engine::train::RunResult;
use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::maths::data::{scenario_title, Dataset};
use crate::studies::paper_bands::{CurveBands, ReadoffPoint};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// One finished run with what its figures need to say about it.
#[derive(Debug, Clone, Copy)]
pub struct PaperRun<'a> {
    /// The resolved config (for titles).
    pub config: &'a Config,
    /// The run's dataset (for the pair and out-of-data responses).
    pub data: &'a Dataset,
    /// The trained run: its metrics and probability snapshots.
    pub result: &'a RunResult,
}

fn param_symbol(name: &str) -> &str {
    match name {
        "beta" => "β",
        "beta_plus" => "β+",
        "beta_minus" => "β−",
        "gamma" => "γ",
        "tau" => "τ",
        "delta" => "δ",
        "eta" => "η",
        other => other,
    }
}

/// `v` to 4 significant digits without trailing zeros (2.449489742783178
/// reads "2.449", 0.003 stays "0.003").
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

/// The parts of a run's one-line description: policy, data, the rest.
fn describe_parts(cfg: &Config) -> (String, String, String) {
    let p = &cfg.policy;
    let policy = match p.kind.as_str() {
        "mlp" => {
            let mut s = vec![];
            if let Some(w) = p.width {
                s.push(format!("width {w}"));
            }
            if let Some(a) = &p.activation {
                s.push(a.clone());
            }
            if let Some(i) = p.init_scale {
                s.push(format!("init ×{}", short(i)));
            }
            format!("MLP ({})", s.join(", "))
        }
        other => format!("{other} policy"),
    };
    let data = match &cfg.data.scenario {
        Some(s) => s.replace("scenario", "scenario "),
        None => "custom data".into(),
    };
    let params: Vec<String> = cfg
        .loss
        .params
        .iter()
        .map(|(k, v)| format!("{} = {}", param_symbol(k), short(*v)))
        .chain(cfg.loss.reduction.iter().map(|r| format!("{r} over pairs")))
        .collect();
    let loss = if params.is_empty() {
        cfg.loss.name.to_uppercase()
    } else {
        format!("{} ({})", cfg.loss.name.to_uppercase(), params.join(", "))
    };
    let o = &cfg.optimizer;
    let optim = match o.momentum.filter(|m| *m > 0.0) {
        Some(m) => format!("{} (lr {}, momentum {})", o.name, short(o.lr), short(m)),
        None => format!("{} (lr {})", o.name, short(o.lr)),
    };
    let optim = match optim.get(..1) {
        Some(first) => first.to_uppercase() + &optim[1..],
        None => optim,
    };
    let rest = format!(
        "{loss} · {optim} · {} epochs · seed {}",
        cfg.epochs, cfg.seed
    );
    (policy, data, rest)
}

/// A one-line description of a run for figure titles, e.g.
/// "MLP (width 64, tanh, init ×1) · scenario 1 · DPO (β = 0.1, sum over
/// pairs) · Adam (lr 0.001) · 2000 epochs · seed 0".
pub fn describe_run(cfg: &Config) -> String {
    let (policy, data, rest) = describe_parts(cfg);
    format!("{policy} · {data} · {rest}")
}

/// [`describe_run`] without the seed: the setting shared by runs over a
/// seed set.
pub fn describe_setting(cfg: &Config) -> String {
    let (policy, data, rest) = describe_parts(cfg);
    format!("{policy} · {data} · {}", without_seed(&rest))
}

/// The last part of [`describe_parts`] without its trailing " · seed N".
fn without_seed(rest: &str) -> &str {
    rest.rsplit_once(" · seed ").map_or(rest, |(r, _)| r)
}

/// Splits `title` in two at the " · " (or else the space) nearest its
/// middle; `None` when it has neither.
fn split_title(title: &str) -> Option<(&str, &str)> {
    let mid = title.chars().count() / 2;
    let nearest = |sep: &str| {
        title
            .match_indices(sep)
            .min_by_key(|(i, _)| title[..*i].chars().count().abs_diff(mid))
            .map(|(i, _)| (title[..i].trim_end(), title[i + sep.len()..].trim_start()))
    };
    nearest(" · ").or_else(|| nearest(" "))
}

/// Draws a centred title in a strip at the top of `area` and returns the
/// rest. A title wider than the area is split onto two lines (at the " · "
/// nearest its middle) and, if still too wide, set smaller, so that it is
/// never cut at the edges; a title that fits is one line at full size.
pub(crate) fn title_strip<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
) -> DrawResult<DrawingArea<DB, Shift>> {
    let (w, _) = area.dim_in_pixel();
    let avail = w.saturating_sub(40);
    let width = |text: &str, size: u32| -> DrawResult<u32> {
        Ok(area
            .estimate_text_size(text, &(FONT, size).into_text_style(area))?
            .0)
    };
    let mut lines = vec![title];
    if width(title, style::TITLE_SIZE)? > avail {
        if let Some((a, b)) = split_title(title) {
            lines = vec![a, b];
        }
    }
    let mut size = style::TITLE_SIZE;
    while size > style::TICK_SIZE {
        let mut widest = 0;
        for l in &lines {
            widest = widest.max(width(l, size)?);
        }
        if widest <= avail {
            break;
        }
        size -= 1;
    }
    let line_h = size + 8;
    let h = line_h * lines.len() as u32 + 16;
    let (head, body) = area.split_vertically(h);
    for (i, line) in lines.iter().enumerate() {
        head.draw(&Text::new(
            line.to_string(),
            (
                w as i32 / 2,
                8 + (line_h * i as u32 + line_h / 2) as i32 + 2,
            ),
            (FONT, size)
                .into_font()
                .color(&style::INK)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
    }
    Ok(body)
}

/// `log π` (row-major `X × Y`) as a probability matrix.
fn prob_matrix(logp: &[f64], n_responses: usize) -> Vec<Vec<f64>> {
    logp.chunks(n_responses)
        .map(|row| row.iter().map(|l| l.exp()).collect())
        .collect()
}

/// Frames each pair's chosen cell in green and rejected cell in red, the
/// colours of the preference-pair map.
fn pair_outlines(data: &Dataset) -> Vec<(usize, usize, RGBColor)> {
    let scale = ColorScale::red_white_green(1.0);
    data.pairs
        .iter()
        .flat_map(|p| {
            [
                (p.prompt, p.chosen, scale.color(1.0)),
                (p.prompt, p.rejected, scale.color(-1.0)),
            ]
        })
        .collect()
}

/// The heatmap of a policy snapshot: probabilities with two decimals, the
/// pairs framed.
pub fn policy_heatmap(data: &Dataset, logp: &[f64], title: &str) -> Heatmap {
    let mut h = Heatmap::new(
        prob_matrix(logp, data.n_responses),
        ColorScale::blues(0.0, 1.0),
    )
    .titled(title, "response", "prompt")
    .with_text(CellText::Fixed(2));
    h.outlines = pair_outlines(data);
    h
}

fn snapshot<'a>(result: &'a RunResult, epoch: usize, stem: &Path) -> Result<&'a [f64]> {
    result.snapshot(epoch).ok_or_else(|| {
        Error::io(
            stem,
            format!(
                "cannot draw: the run kept no probability snapshot at epoch {epoch} \
                 (it needs Keep::ALL, and record_every must divide {epoch})"
            ),
        )
    })
}

struct Fig1 {
    title: String,
    maps: Vec<Heatmap>,
}

impl Figure for Fig1 {
    fn size(&self) -> (u32, u32) {
        (560 * self.maps.len() as u32, 390)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = title_strip(root, &self.title)?;
        for (h, cell) in self
            .maps
            .iter()
            .zip(body.split_evenly((1, self.maps.len())))
        {
            draw_heatmap(&cell.margin(0, 6, 6, 6), h)?;
        }
        Ok(())
    }
}

/// Figure 1: heatmaps (prompt × response) of the optimal policy, of the
/// preference pairs, and of π at epoch 0 and at `late_epoch`, written to
/// `STEM.png` and `STEM.svg`. Both snapshots must have been kept.
pub fn fig1(
    stem: &Path,
    data: &Dataset,
    result: &RunResult,
    late_epoch: usize,
    title: &str,
) -> Result<()> {
    let (x, y) = (data.n_prompts, data.n_responses);
    let optimal = match &data.optimal {
        Some(opt) => {
            let vals = (0..x)
                .map(|p| (0..y).map(|a| f64::from(u8::from(opt[p] == a))).collect())
                .collect();
            Heatmap::new(vals, ColorScale::blues(0.0, 1.0))
                .titled("optimal policy", "response", "prompt")
                .with_text(CellText::Custom(Box::new(|v| format!("{v:.0}"))))
        }
        None => Heatmap::new(vec![vec![f64::NAN; y]; x], ColorScale::blues(0.0, 1.0)).titled(
            "optimal policy (not given)",
            "response",
            "prompt",
        ),
    };
    let mut pairs = vec![vec![0.0; y]; x];
    for p in &data.pairs {
        pairs[p.prompt][p.chosen] = 1.0;
        pairs[p.prompt][p.rejected] = -1.0;
    }
    let pairs = Heatmap::new(pairs, ColorScale::red_white_green(1.0))
        .titled(
            "preference pairs (+1 chosen, −1 rejected)",
            "response",
            "prompt",
        )
        .with_text(CellText::Custom(Box::new(|v| {
            if v > 0.0 {
                "+1".into()
            } else if v < 0.0 {
                "−1".into()
            } else {
                String::new()
            }
        })));
    let early = policy_heatmap(
        data,
        snapshot(result, 0, stem)?,
        "π at epoch 0 (reference π₀)",
    );
    let late = policy_heatmap(
        data,
        snapshot(result, late_epoch, stem)?,
        &format!("π at epoch {late_epoch}"),
    );
    save(
        &Fig1 {
            title: title.into(),
            maps: vec![optimal, pairs, early, late],
        },
        stem,
    )
}

struct GridFig<'a> {
    title: String,
    rows: Vec<(&'a str, &'a RunResult)>,
}

impl Figure for GridFig<'_> {
    fn size(&self) -> (u32, u32) {
        let header = if self.rows.len() > 1 { 40 } else { 0 };
        (1950, 190 + (520 + header) * self.rows.len() as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = title_strip(root, &self.title)?;
        panel_grid(&body, &self.rows, &Panel::FIG2)
    }
}

fn check_metrics(stem: &Path, r: &RunResult) -> Result<()> {
    if r.metrics.is_empty() {
        return Err(Error::io(
            stem,
            "cannot draw: the run kept no metrics (it needs Keep::ALL)",
        ));
    }
    Ok(())
}

/// The curves of `curves` that `bands` has (the strict unseen mass is
/// absent when every response is in some pair).
fn present(bands: &[&CurveBands], curves: &[BandCurve]) -> Vec<BandCurve> {
    curves
        .iter()
        .filter(|c| bands.iter().any(|b| b.curves.contains_key(c.key)))
        .copied()
        .collect()
}

struct Fig2<'a> {
    title: String,
    bands: &'a CurveBands,
    points: &'a [ReadoffPoint],
}

impl Figure for Fig2<'_> {
    fn size(&self) -> (u32, u32) {
        (1950, 800)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = title_strip(root, &self.title)?;
        let all = [self.bands];
        let scale = EpochScale::new(self.bands.last_epoch());
        let grad_points = self
            .points
            .iter()
            .filter(|p| GRADIENT.iter().any(|c| c.key == p.curve))
            .map(|p| p.value);
        let panels: [(&str, Vec<BandCurve>, Axis); 3] = [
            (
                Panel::Probability.title(),
                present(&all, &PROBABILITY),
                Axis::linear(0.0, 1.0, "probability"),
            ),
            (
                Panel::Gradient.title(),
                present(&all, &GRADIENT),
                log_axis(&all, &GRADIENT, grad_points, None, "|∂ℓ/∂π|"),
            ),
            (
                Panel::LogProbability.title(),
                present(&all, &LOG_PROBABILITY),
                log_axis(&all, &LOG_PROBABILITY, [], Some(0.0), "probability"),
            ),
        ];
        let (w, h) = body.dim_in_pixel();
        let col_w = w / panels.len() as u32;
        let keys: Vec<Vec<KeyEntry>> = panels
            .iter()
            .map(|p| p.1.iter().map(KeyEntry::curve).collect())
            .collect();
        let styles = style_key(&all, !self.points.is_empty());
        let mut legend_h = 0;
        for k in &keys {
            legend_h = legend_h.max(key_height(&body, col_w, k)?);
        }
        let style_h = key_height(&body, w, &styles)?;
        let (grid, rest) = body.split_vertically(h.saturating_sub(legend_h + style_h));
        let (legends, style_strip) = rest.split_vertically(legend_h);
        for (((title, curves, y), cell), leg) in panels
            .iter()
            .zip(grid.split_evenly((1, panels.len())))
            .zip(legends.split_evenly((1, panels.len())))
        {
            seed_band_chart(&cell, title, &scale, y, self.bands, curves, self.points)?;
            draw_key(
                &leg,
                &curves.iter().map(KeyEntry::curve).collect::<Vec<_>>(),
            )?;
        }
        draw_key(&style_strip, &styles)
    }
}

/// Figure 2 over seeds: probabilities (linear), gradient magnitudes (log)
/// and probabilities (log) per epoch, side by side under `title`, each curve
/// as the median and p10–p90 band over `bands.seeds` with the config's own
/// seed as a thin line, on a log-epoch axis; `points` (the paper's
/// read-offs) drawn on their curves.
pub fn fig2(stem: &Path, bands: &CurveBands, points: &[ReadoffPoint], title: &str) -> Result<()> {
    check_bands(stem, std::slice::from_ref(bands))?;
    save(
        &Fig2 {
            title: title.into(),
            bands,
            points,
        },
        stem,
    )
}

fn check_bands(stem: &Path, bands: &[CurveBands]) -> Result<()> {
    if bands.is_empty()
        || bands
            .iter()
            .any(|b| b.epochs.is_empty() || b.curves.is_empty())
    {
        return Err(Error::io(stem, "cannot draw: no curves over seeds"));
    }
    Ok(())
}

/// Figure 2 for the MLP (top row) and the tabular policy (bottom row), the
/// rows sharing each panel's axes.
pub fn fig2_compare(stem: &Path, mlp: &RunResult, tabular: &RunResult, title: &str) -> Result<()> {
    check_metrics(stem, mlp)?;
    check_metrics(stem, tabular)?;
    save(
        &GridFig {
            title: title.into(),
            rows: vec![("MLP", mlp), ("tabular", tabular)],
        },
        stem,
    )
}

struct Fig3<'a> {
    title: String,
    columns: Vec<(String, Heatmap, &'a CurveBands)>,
}

impl Figure for Fig3<'_> {
    fn size(&self) -> (u32, u32) {
        (560 * self.columns.len() as u32, 1080)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = title_strip(root, &self.title)?;
        let all: Vec<&CurveBands> = self.columns.iter().map(|c| c.2).collect();
        let last = all.iter().map(|b| b.last_epoch()).max().unwrap_or(1);
        let scale = EpochScale::new(last);
        let y = Axis::linear(0.0, 1.0, "probability");
        let curves = present(&all, &PROBABILITY);
        let mut entries: Vec<KeyEntry> = curves.iter().map(KeyEntry::curve).collect();
        entries.extend(style_key(&all, false));
        let (w, h) = body.dim_in_pixel();
        let legend_h = key_height(&body, w, &entries)?;
        let (grid, legend) = body.split_vertically(h.saturating_sub(legend_h));
        for ((name, map, bands), col) in self
            .columns
            .iter()
            .zip(grid.split_evenly((1, self.columns.len())))
        {
            let header_h = 2 * style::PANEL_TITLE_SIZE + 24;
            let (head, rest) = col.split_vertically(header_h);
            let (hw, _) = head.dim_in_pixel();
            // "Scenario 1: chosen on-policy, ..." reads better on two lines.
            let lines: Vec<&str> = name.splitn(2, ": ").collect();
            for (i, line) in lines.iter().enumerate() {
                let size = if i == 0 {
                    style::PANEL_TITLE_SIZE + 2
                } else {
                    style::PANEL_TITLE_SIZE - 2
                };
                head.draw(&Text::new(
                    line.to_string(),
                    (
                        hw as i32 / 2,
                        10 + i as i32 * (style::PANEL_TITLE_SIZE as i32 + 6),
                    ),
                    (FONT, size)
                        .into_font()
                        .color(&style::INK)
                        .pos(Pos::new(HPos::Center, VPos::Top)),
                ))?;
            }
            let (map_area, chart_area) = rest.split_vertically(300);
            draw_heatmap(&map_area.margin(0, 4, 6, 6), map)?;
            seed_band_chart(
                &chart_area,
                Panel::Probability.title(),
                &scale,
                &y,
                bands,
                &curves,
                &[],
            )?;
        }
        draw_key(&legend, &entries)
    }
}

/// Figure 3 over seeds: one column per scenario (`runs[i]` and `bands[i]`
/// the same config), each with the epoch-0 policy heatmap of `runs[i]`
/// above the probability curves of `bands[i]` (median, p10–p90 band, own
/// seed thin, log-epoch axis); the column titles come from
/// [`scenario_title`].
pub fn fig3(stem: &Path, runs: &[PaperRun], bands: &[CurveBands], title: &str) -> Result<()> {
    if runs.len() != bands.len() {
        return Err(Error::io(
            stem,
            format!(
                "cannot draw: {} runs for heatmaps but {} sets of curves",
                runs.len(),
                bands.len()
            ),
        ));
    }
    check_bands(stem, bands)?;
    let mut columns = Vec::with_capacity(runs.len());
    for (r, b) in runs.iter().zip(bands) {
        let name = match &r.config.data.scenario {
            Some(s) => scenario_title(s).to_string(),
            None => "custom data".into(),
        };
        let logp = r.result.snapshot(0).unwrap_or(&r.result.ref_logp);
        let map = policy_heatmap(r.data, logp, "π at epoch 0");
        columns.push((name, map, b));
    }
    save(
        &Fig3 {
            title: title.into(),
            columns,
        },
        stem,
    )
}

/// Writes Figures 1, 2, 2-compare and 3 into `dir` (`fig1`, `fig2`,
/// `fig2-compare`, `fig3`, each `.png` and `.svg`) and returns the stems
/// written, in that order. Figure 1 shows the `fig2` run at epochs 0 and
/// 500; Figure 2 draws `fig2_bands` with `readoffs`, Figure 3 the
/// `scenario_bands` under the heatmaps of `scenarios`; Figure 2-compare
/// stays one run per policy.
pub fn paper_figures(
    dir: &Path,
    fig2_run: &PaperRun,
    tabular: &PaperRun,
    scenarios: &[PaperRun],
    fig2_bands: &CurveBands,
    scenario_bands: &[CurveBands],
    readoffs: &[ReadoffPoint],
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let (_, _, rest) = describe_parts(fig2_run.config);
    let (mlp_policy, data, _) = describe_parts(fig2_run.config);

    let stem = dir.join("fig1");
    fig1(
        &stem,
        fig2_run.data,
        fig2_run.result,
        500.min(fig2_run.result.summary.epochs_run),
        &format!("Figure 1 · {}", describe_run(fig2_run.config)),
    )?;
    written.push(stem);

    let stem = dir.join("fig2");
    fig2(
        &stem,
        fig2_bands,
        readoffs,
        &format!("Figure 2 · {}", describe_setting(&fig2_bands.config)),
    )?;
    written.push(stem);

    let stem = dir.join("fig2-compare");
    fig2_compare(
        &stem,
        fig2_run.result,
        tabular.result,
        &format!("Figure 2, {mlp_policy} vs tabular policy · {data} · {rest}"),
    )?;
    written.push(stem);

    if let Some(first) = scenario_bands.first() {
        let (policy, _, rest) = describe_parts(&first.config);
        let stem = dir.join("fig3");
        fig3(
            &stem,
            scenarios,
            scenario_bands,
            &format!("Figure 3 · {policy} · {}", without_seed(&rest)),
        )?;
        written.push(stem);
    }
    Ok(written)
}
