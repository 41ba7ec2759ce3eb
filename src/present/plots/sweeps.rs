//! Figures of sweeps, drawn from `runs.csv` tables already in memory
//! ([`RunsTable`]); every number is a summary over seeds ([`Stat`]) of a
//! column the sweep wrote, nothing is recomputed from training.
//!
//! - [`phase`]: three phase diagrams (drop, degradation, dispersion) over
//!   the starting likelihoods of the chosen and rejected responses, with the
//!   paper's four scenarios marked.
//! - [`beta`]: the three D-scores of DPO against β, one curve per scenario.
//! - [`remedies`]: Flex-DPO against β− and SFT-DPO against γ, against DPO's
//!   level.
//!
//! The building block is [`band_chart`]: curves of a mean over seeds with a
//! shaded spread band ([`Band`]), optional dashed horizontal reference lines,
//! on a linear or log x axis.

use super::heatmap::{draw_heatmap, CellText, ColorScale, Heatmap};
use super::panels::{draw_legend, framed_chart, legend_height, Axis, LegendEntry};
use super::style::{self, FONT};
use super::{format_tick, nice_ticks, save, DrawResult, Figure};
use crate::analysis::runs::{Grid, RunsTable, Stat};
use crate::error::{Error, Result};
use crate::maths::data::SCENARIOS;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One colour per scenario (Okabe-Ito: distinguishable with colour-vision
/// deficiencies), in the order of [`SCENARIOS`].
pub const SCENARIO_COLORS: [RGBColor; 4] = [
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xcc, 0x33, 0x11),
];

/// Short legend label of a built-in scenario.
pub fn scenario_label(name: &str) -> String {
    match name {
        "scenario1" => "S1: chosen on, rejected on".into(),
        "scenario2" => "S2: chosen off, rejected on".into(),
        "scenario3" => "S3: chosen on, rejected off".into(),
        "scenario4" => "S4: chosen off, rejected off".into(),
        other => other.into(),
    }
}

/// The paper's scenarios as `(tag, chosen start, rejected start)`: where
/// they sit on a phase diagram over the two starting likelihoods.
pub const SCENARIO_POINTS: [(&str, f64, f64); 4] = [
    ("S1", 0.12, 0.12),
    ("S2", 0.02, 0.12),
    ("S3", 0.12, 0.02),
    ("S4", 0.02, 0.02),
];

/// What the shaded band around a mean curve shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    /// Mean ± one (population) standard deviation over seeds, kept inside
    /// the seeds' range (so a score that cannot be negative never shows a
    /// negative band).
    Sd,
    /// The smallest to the largest value over seeds.
    MinMax,
}

impl Band {
    /// `(low, high)` of the band at `s`.
    pub fn range(self, s: &Stat) -> (f64, f64) {
        match self {
            Band::Sd => ((s.mean - s.sd).max(s.min), (s.mean + s.sd).min(s.max)),
            Band::MinMax => (s.min, s.max),
        }
    }

    /// How the band is described in captions.
    pub fn describe(self) -> &'static str {
        match self {
            Band::Sd => "± 1 sd over seeds, kept within their min–max",
            Band::MinMax => "min–max over seeds",
        }
    }
}

/// A curve of a sweep: a statistic over seeds at each swept `x`.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// Line and band colour.
    pub color: RGBColor,
    /// `(x, statistics over seeds)`, x ascending, x in data units (not log).
    pub points: Vec<(f64, Stat)>,
}

/// A dashed horizontal line at `y` (e.g. a baseline's level).
#[derive(Debug, Clone, PartialEq)]
pub struct HLine {
    /// Line colour.
    pub color: RGBColor,
    /// Height of the line, in y-axis units.
    pub y: f64,
}

fn parse_num(s: &str, col: &str) -> Result<f64> {
    s.parse::<f64>()
        .map_err(|_| Error::config(col, format!("has a non-numeric cell `{s}`")))
}

/// One [`Curve`] of column `value` against the numeric column `x_key` for
/// each scenario of [`SCENARIOS`] present in `t` (column `data.scenario`),
/// in the scenario colours.
pub fn scenario_curves(t: &RunsTable, x_key: &str, value: &str) -> Result<Vec<Curve>> {
    let mut out = Vec::new();
    for (sc, color) in SCENARIOS.iter().zip(SCENARIO_COLORS) {
        let sub = t.filter("data.scenario", sc)?;
        if sub.rows.is_empty() {
            continue;
        }
        let mut points = sub
            .summarise(&[x_key], value)?
            .into_iter()
            .map(|(k, s)| Ok((parse_num(&k[0], x_key)?, s)))
            .collect::<Result<Vec<_>>>()?;
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.push(Curve {
            label: scenario_label(sc),
            color,
            points,
        });
    }
    Ok(out)
}

/// The mean of column `value` over the rows of each scenario of `t`, as
/// dashed reference lines in the scenario colours.
pub fn scenario_levels(t: &RunsTable, value: &str) -> Result<Vec<HLine>> {
    let mut out = Vec::new();
    for (sc, color) in SCENARIOS.iter().zip(SCENARIO_COLORS) {
        let sub = t.filter("data.scenario", sc)?;
        if let Some((_, s)) = sub.summarise(&[], value)?.first() {
            out.push(HLine { color, y: s.mean });
        }
    }
    Ok(out)
}

/// A linear y axis covering `[lo, hi]` with a little headroom, from 0 when
/// every value is non-negative, its ends on nice ticks.
pub fn value_axis(lo: f64, hi: f64, desc: &str) -> Axis {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let bottom = if lo >= 0.0 { 0.0 } else { lo };
    let span = (hi - bottom).max(1e-12);
    let top = hi + 0.05 * span;
    let bottom = if lo < 0.0 { lo - 0.05 * span } else { 0.0 };
    Axis {
        ticks: nice_ticks(bottom, top, 6, false),
        ..Axis::linear(bottom, top, desc)
    }
}

/// A y axis fitting every band and reference line of a set of panels:
/// linear, or with `log` a log axis over whole powers of ten (non-positive
/// values left out of the range).
fn fit_curves(curves: &[Curve], lines: &[HLine], band: Band, log: bool, desc: &str) -> Axis {
    if log {
        let mut ys = Vec::new();
        for c in curves {
            for (_, s) in &c.points {
                let (a, b) = band.range(s);
                ys.extend([a, b, s.mean]);
            }
        }
        ys.extend(lines.iter().map(|l| l.y));
        let logs = ys.into_iter().filter(|y| *y > 0.0).map(f64::log10);
        return Axis::log10_covering(logs, None, desc);
    }
    let (lo, hi) = value_range(curves, lines, band);
    value_axis(lo, hi, desc)
}

/// The smallest and largest value of every mean, band edge and line.
fn value_range(curves: &[Curve], lines: &[HLine], band: Band) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for c in curves {
        for (_, s) in &c.points {
            let (a, b) = band.range(s);
            lo = lo.min(a).min(s.mean);
            hi = hi.max(b).max(s.mean);
        }
    }
    for l in lines {
        lo = lo.min(l.y);
        hi = hi.max(l.y);
    }
    (lo, hi)
}

/// An x axis over swept values `xs` (data units): on a log scale (ticks
/// at powers of ten) or linear with a tick at every swept value; padded so
/// the end markers are not clipped.
pub fn sweep_axis(xs: &[f64], log: bool, desc: &str) -> Axis {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if log {
        let (a, b) = (lo.log10(), hi.log10());
        let pad = 0.04 * (b - a).max(1.0);
        Axis {
            ticks: nice_ticks(a.floor(), b.ceil(), 7, true)
                .into_iter()
                .filter(|t| *t >= a - pad - 1e-9 && *t <= b + pad + 1e-9)
                .collect(),
            ..Axis::log10(a - pad, b + pad, desc)
        }
    } else {
        let pad = 0.05 * (hi - lo).max(1e-12);
        let mut ticks = xs.to_vec();
        ticks.sort_by(f64::total_cmp);
        ticks.dedup();
        Axis {
            ticks,
            ..Axis::linear(lo - pad, hi + pad, desc)
        }
    }
}

/// Tick label: a log axis near 1 reads 0.01, 0.1, 1, 10 rather than 1e-2.
fn tick_label(axis: &Axis, v: f64) -> String {
    if axis.log10 {
        let k = v.round() as i32;
        if (-4..=4).contains(&k) {
            let d = (-k).max(0) as usize;
            format!("{:.d$}", 10f64.powi(k))
        } else {
            format!("1e{k}")
        }
    } else {
        format_tick(v, &axis.ticks)
    }
}

/// A chart of `curves` (the mean as a line with a marker at each swept
/// value, the `band` shaded around it) and dashed horizontal `lines`, under
/// `title`. Values are in data units; on a log axis (x or y) they are
/// plotted at their log10.
pub fn band_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    x: &Axis,
    y: &Axis,
    curves: &[Curve],
    lines: &[HLine],
    band: Band,
) -> DrawResult {
    let mut y_label_w = 0;
    for t in &y.ticks {
        let (w, _) = area.estimate_text_size(
            &tick_label(y, *t),
            &(FONT, style::TICK_SIZE).into_text_style(area),
        )?;
        y_label_w = y_label_w.max(w);
    }
    let xl = |v: f64| tick_label(x, v);
    let yl = |v: f64| tick_label(y, v);
    let mut chart = framed_chart(area, title, x, y, &xl, &yl, y_label_w + 48)?;
    let px = |v: f64| if x.log10 { v.log10() } else { v };
    let py = |v: f64| if y.log10 { v.log10() } else { v };
    // Keep bands inside the frame (on a log axis a band may reach 0).
    let clamp = |v: f64| {
        let v = py(v);
        if v.is_nan() {
            y.lo
        } else {
            v.clamp(y.lo, y.hi)
        }
    };

    // Bands first, so no band covers a line.
    for c in curves.iter().filter(|c| c.points.len() >= 2) {
        let upper = c
            .points
            .iter()
            .map(|(xv, s)| (px(*xv), clamp(band.range(s).1)));
        let lower = c
            .points
            .iter()
            .rev()
            .map(|(xv, s)| (px(*xv), clamp(band.range(s).0)));
        chart.draw_series(std::iter::once(Polygon::new(
            upper.chain(lower).collect::<Vec<_>>(),
            c.color.mix(0.16).filled(),
        )))?;
    }
    for l in lines.iter().filter(|l| py(l.y).is_finite()) {
        chart.draw_series(DashedLineSeries::new(
            [(x.lo, py(l.y)), (x.hi, py(l.y))],
            10,
            6,
            l.color.stroke_width(style::LINE_WIDTH - 1),
        ))?;
    }
    for c in curves {
        let pts: Vec<(f64, f64)> = c
            .points
            .iter()
            .map(|(xv, s)| (px(*xv), py(s.mean)))
            .filter(|p| p.1.is_finite())
            .collect();
        chart.draw_series(LineSeries::new(
            pts.iter().copied(),
            c.color.stroke_width(style::LINE_WIDTH),
        ))?;
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.color.filled())))?;
    }
    // Curves drawn on top of each other would hide all but the last one.
    let tol = 0.01 * (y.hi - y.lo);
    let coincide = curves.len() > 1
        && curves.iter().all(|c| {
            c.points.len() == curves[0].points.len()
                && c.points
                    .iter()
                    .zip(&curves[0].points)
                    .all(|(p, q)| p.0 == q.0 && (py(p.1.mean) - py(q.1.mean)).abs() <= tol)
        });
    if coincide {
        chart.draw_series(std::iter::once(Text::new(
            format!("all {} curves coincide", curves.len()),
            (x.lo + 0.03 * (x.hi - x.lo), y.lo + 0.1 * (y.hi - y.lo)),
            (FONT, style::LEGEND_SIZE)
                .into_font()
                .color(&style::INK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        )))?;
    }
    chart.plotting_area().draw(&PathElement::new(
        [(x.lo, y.hi), (x.hi, y.hi), (x.hi, y.lo)],
        style::INK.stroke_width(1),
    ))?;
    Ok(())
}

/// Draws `text` centred in a strip `height` pixels high at the top of
/// `area` and returns the rest.
fn header<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    size: u32,
    height: u32,
) -> DrawResult<DrawingArea<DB, Shift>> {
    let (head, body) = area.split_vertically(height);
    let (w, h) = head.dim_in_pixel();
    head.draw(&Text::new(
        text.to_string(),
        (w as i32 / 2, h as i32 / 2 + 2),
        (FONT, size)
            .into_font()
            .color(&style::INK)
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    Ok(body)
}

/// A figure title and, below it in smaller type, a caption line.
fn title_and_caption<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    caption: &str,
) -> DrawResult<DrawingArea<DB, Shift>> {
    let body = header(area, title, style::TITLE_SIZE, style::TITLE_SIZE + 20)?;
    if caption.is_empty() {
        return Ok(body);
    }
    header(&body, caption, style::LEGEND_SIZE, style::LEGEND_SIZE + 14)
}

/// The D-scores: column name, panel title, axis description, decimals of
/// a heatmap cell.
const SCORES: [(&str, &str, &str, usize); 3] = [
    (
        "drop",
        "drop: orders of magnitude avg rejected fell",
        "drop (orders of magnitude)",
        0,
    ),
    (
        "degradation",
        "degradation: (peak − final) / peak of avg chosen",
        "degradation",
        2,
    ),
    (
        "dispersion",
        "dispersion: final − min of avg unseen",
        "dispersion",
        3,
    ),
];

/// The number of runs per point of a sweep (the smallest group's).
fn seeds_per_point(t: &RunsTable, keys: &[&str]) -> Result<usize> {
    Ok(t.summarise(keys, "drop")?
        .iter()
        .map(|g| g.1.n)
        .min()
        .unwrap_or(0))
}

struct Phase {
    title: String,
    caption: String,
    maps: Vec<Heatmap>,
}

impl Figure for Phase {
    fn size(&self) -> (u32, u32) {
        (790 * self.maps.len() as u32, 790)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = title_and_caption(root, &self.title, &self.caption)?;
        for (h, cell) in self
            .maps
            .iter()
            .zip(body.split_evenly((1, self.maps.len())))
        {
            draw_heatmap(&cell.margin(8, 8, 6, 10), h)?;
        }
        Ok(())
    }
}

/// Phase diagrams of a sweep over `data.chosen_start` × `data.rejected_start`
/// (`t`, its `runs.csv`): the mean over seeds of drop, degradation and
/// dispersion side by side, each cell annotated, a colour bar each, chosen
/// rising upwards and rejected rightwards, the paper's four scenarios
/// ([`SCENARIO_POINTS`]) framed and tagged S1-S4 where the grid has them.
/// `setting` names what was run (model, loss); the title adds the seeds.
pub fn phase(stem: &Path, t: &RunsTable, setting: &str) -> Result<()> {
    let (rk, ck) = ("data.chosen_start", "data.rejected_start");
    let n = seeds_per_point(t, &[rk, ck])?;
    let mut maps = Vec::new();
    for (score, title, desc, digits) in SCORES {
        let g = Grid::build(t, rk, ck, score)?;
        // Grid rows ascend; draw the largest chosen likelihood on top.
        let values: Vec<Vec<f64>> = g.means().into_iter().rev().collect();
        let row_vals: Vec<f64> = g.rows.iter().rev().copied().collect();
        let finite = values.iter().flatten().copied().filter(|v| v.is_finite());
        let lo = finite.clone().fold(f64::INFINITY, f64::min);
        let hi = finite.fold(f64::NEG_INFINITY, f64::max);
        // Widen the scale to whole steps so the colour bar gets enough ticks.
        let t = nice_ticks(lo, hi, 8, false);
        let step = if t.len() >= 2 { t[1] - t[0] } else { 1.0 };
        // (Rounded, so 6 × 0.05 is 0.3 and gets its tick.)
        let snap = |v: f64| (v * 1e9).round() / 1e9;
        let (lo, hi) = (
            snap((lo / step).floor() * step),
            snap((hi / step).ceil() * step),
        );
        let mut h = Heatmap::new(values, ColorScale::viridis(lo, hi))
            .titled(
                title,
                "starting likelihood of rejected",
                "starting likelihood of chosen",
            )
            .with_text(CellText::Fixed(digits));
        h.row_labels = row_vals.iter().map(|v| format!("{v:.2}")).collect();
        h.col_labels = g.cols.iter().map(|v| format!("{v:.2}")).collect();
        h.colorbar = Some(desc.into());
        let near = |vals: &[f64], v: f64| vals.iter().position(|&x| (x - v).abs() < 1e-9);
        for (tag, c, r) in SCENARIO_POINTS {
            if let (Some(i), Some(j)) = (near(&row_vals, c), near(&g.cols, r)) {
                h.outlines.push((i, j, RGBColor(0xff, 0x2a, 0x6d)));
                h.tags.push((i, j, tag.into()));
            }
        }
        maps.push(h);
    }
    save(
        &Phase {
            title: format!("Phase diagrams · {setting} · mean of {n} seeds per cell"),
            caption: "framed: the paper's scenarios S1-S4 (S2, S3 exactly; S1, S4 up to how \
                      responses 8-9 share the rest of the mass)"
                .into(),
            maps,
        },
        stem,
    )
}

/// A row of panels, one per D-score, each a [`band_chart`].
struct Panels {
    title: String,
    caption: String,
    /// `(row header, [(panel title, x axis, y axis, curves, lines)])`.
    rows: Vec<(String, Vec<PanelSpec>)>,
    legend: Vec<LegendEntry>,
    band: Band,
    size: (u32, u32),
}

struct PanelSpec {
    title: String,
    x: Axis,
    y: Axis,
    curves: Vec<Curve>,
    lines: Vec<HLine>,
}

impl Figure for Panels {
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = title_and_caption(root, &self.title, &self.caption)?;
        let (w, h) = body.dim_in_pixel();
        let legend_h = legend_height(&body, w, &self.legend)?;
        let (grid, legend) = body.split_vertically(h.saturating_sub(legend_h));
        for ((name, panels), row) in self
            .rows
            .iter()
            .zip(grid.split_evenly((self.rows.len(), 1)))
        {
            let row = if name.is_empty() {
                row
            } else {
                let (rw, _) = row.dim_in_pixel();
                let hh = style::PANEL_TITLE_SIZE + 20;
                let body = header(&row, name, style::PANEL_TITLE_SIZE + 2, hh)?;
                row.draw(&PathElement::new(
                    [(20, hh as i32 - 1), (rw as i32 - 20, hh as i32 - 1)],
                    style::GRID.stroke_width(2),
                ))?;
                body
            };
            for (p, cell) in panels.iter().zip(row.split_evenly((1, panels.len()))) {
                band_chart(&cell, &p.title, &p.x, &p.y, &p.curves, &p.lines, self.band)?;
            }
        }
        draw_legend(&legend, &self.legend)
    }
}

fn all_x(curves: &[Curve]) -> Vec<f64> {
    curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .collect()
}

/// DPO's D-scores against β (`t`: a sweep over `data.scenario` ×
/// `loss.beta` × seeds): one panel per score, β on a log axis, one curve
/// per scenario (the mean over seeds) with the `band` shaded.
pub fn beta(stem: &Path, t: &RunsTable, setting: &str, band: Band) -> Result<()> {
    let key = "loss.beta";
    let n = seeds_per_point(t, &["data.scenario", key])?;
    let mut panels = Vec::new();
    let mut legend = Vec::new();
    for (score, title, desc, _) in SCORES {
        let curves = scenario_curves(t, key, score)?;
        if legend.is_empty() {
            legend = curves
                .iter()
                .map(|c| LegendEntry {
                    label: c.label.clone(),
                    color: c.color,
                    dashed: false,
                })
                .collect();
        }
        panels.push(PanelSpec {
            title: title.into(),
            x: sweep_axis(&all_x(&curves), true, "β (log scale)"),
            y: if score == "drop" {
                fit_curves(&curves, &[], band, true, "orders of magnitude (log scale)")
            } else {
                fit_curves(&curves, &[], band, false, desc)
            },
            curves,
            lines: Vec::new(),
        });
    }
    save(
        &Panels {
            title: format!("DPO's D-scores against β · {setting}"),
            caption: format!("lines: mean over {n} seeds; shaded: {}", band.describe()),
            rows: vec![(String::new(), panels)],
            legend,
            band,
            size: (2100, 700),
        },
        stem,
    )
}

/// The remedies: Flex-DPO's degradation and dispersion against β− (`flex`:
/// `data.scenario` × `loss.beta_minus` × seeds) on the top row, SFT-DPO's
/// against γ on a log axis (`sft`: `data.scenario` × `loss.gamma` × seeds)
/// on the bottom row; one curve per scenario with the `band` shaded, and
/// DPO's mean level per scenario (`dpo`: runs of plain DPO over
/// `data.scenario` × seeds) as a dashed line of the same colour.
pub fn remedies(
    stem: &Path,
    flex: &RunsTable,
    sft: &RunsTable,
    dpo: &RunsTable,
    setting: &str,
    band: Band,
) -> Result<()> {
    let rows_spec: [(&RunsTable, &str, bool, String, &str); 2] = [
        (
            flex,
            "loss.beta_minus",
            false,
            "Flex-DPO (β+ = 0.1) against β−".into(),
            "β−",
        ),
        (
            sft,
            "loss.gamma",
            true,
            "SFT-DPO (β = 0.1) against γ, the weight of the chosen NLL".into(),
            "γ (log scale)",
        ),
    ];
    let n = seeds_per_point(flex, &["data.scenario", "loss.beta_minus"])?
        .min(seeds_per_point(sft, &["data.scenario", "loss.gamma"])?);
    let n_dpo = seeds_per_point(dpo, &["data.scenario"])?;
    let mut rows = Vec::new();
    for (t, key, log, name, xdesc) in rows_spec {
        let mut panels = Vec::new();
        for (score, title, desc, _) in &SCORES[1..] {
            let curves = scenario_curves(t, key, score)?;
            let lines = scenario_levels(dpo, score)?;
            panels.push(PanelSpec {
                title: (*title).into(),
                x: sweep_axis(&all_x(&curves), log, xdesc),
                y: fit_curves(&curves, &lines, band, false, desc),
                curves,
                lines,
            });
        }
        rows.push((name, panels));
    }
    // Each score shares its y range down the column, so rows compare.
    for j in 0..rows[0].1.len() {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for r in &rows {
            let (a, b) = value_range(&r.1[j].curves, &r.1[j].lines, band);
            lo = lo.min(a);
            hi = hi.max(b);
        }
        for r in &mut rows {
            let desc = r.1[j].y.desc.clone();
            r.1[j].y = value_axis(lo, hi, &desc);
        }
    }
    let mut legend: Vec<LegendEntry> = SCENARIOS
        .iter()
        .zip(SCENARIO_COLORS)
        .map(|(s, color)| LegendEntry {
            label: scenario_label(s),
            color,
            dashed: false,
        })
        .collect();
    legend.push(LegendEntry {
        label: "DPO, β = 0.1 (scenario's colour)".into(),
        color: RGBColor(0x73, 0x73, 0x73),
        dashed: true,
    });
    save(
        &Panels {
            title: format!("The remedies · {setting}"),
            caption: format!(
                "lines: mean over {n} seeds; shaded: {}; dashed: plain DPO's mean over {n_dpo} seeds",
                band.describe()
            ),
            rows,
            legend,
            band,
            size: (1700, 1250),
        },
        stem,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `runs.csv`-shaped table: one row per (keys..., seed) with the
    /// three D-scores made up from the key values.
    fn table(keys: &[&str], points: &[Vec<String>], seeds: usize) -> RunsTable {
        let mut header: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        header.extend(["seed", "run_seed", "drop", "degradation", "dispersion"].map(String::from));
        let mut rows = Vec::new();
        for p in points {
            for s in 0..seeds {
                // Numeric keys add up; scenario k adds 0.1 k, so the
                // scenarios' curves differ.
                let x: f64 = p
                    .iter()
                    .filter_map(|v| {
                        v.parse::<f64>().ok().or_else(|| {
                            Some(0.1 * v.strip_prefix("scenario")?.parse::<f64>().ok()?)
                        })
                    })
                    .sum::<f64>()
                    .max(0.01);
                let mut r = p.clone();
                r.extend([
                    s.to_string(),
                    (1000 + s).to_string(),
                    (60.0 / x + s as f64).to_string(),
                    (0.5 - 0.1 * x + 0.01 * s as f64)
                        .clamp(0.0, 1.0)
                        .to_string(),
                    (0.03 * x + 0.001 * s as f64).to_string(),
                ]);
                rows.push(r);
            }
        }
        RunsTable { header, rows }
    }

    fn by_scenario(key: &str, xs: &[f64]) -> RunsTable {
        let pts: Vec<Vec<String>> = SCENARIOS
            .iter()
            .flat_map(|s| xs.iter().map(move |x| vec![s.to_string(), x.to_string()]))
            .collect();
        table(&["data.scenario", key], &pts, 3)
    }

    #[test]
    fn sd_band_stays_within_the_seeds() {
        let s = Stat::of(&[0.0, 0.0, 0.0, 1.0]);
        let (lo, hi) = Band::Sd.range(&s);
        assert_eq!(lo, 0.0);
        assert!(hi > s.mean && hi <= 1.0);
        assert_eq!(Band::MinMax.range(&s), (0.0, 1.0));
    }

    #[test]
    fn axes_cover_the_data() {
        let a = value_axis(0.1, 0.58, "d");
        assert_eq!(a.lo, 0.0);
        assert!(a.hi > 0.58 && a.ticks.iter().all(|t| *t <= a.hi));
        let x = sweep_axis(&[0.01, 0.1, 1.0, 10.0], true, "β");
        assert!(x.log10 && x.lo < -2.0 && x.hi > 1.0);
        assert_eq!(x.ticks, vec![-2.0, -1.0, 0.0, 1.0]);
        assert_eq!(tick_label(&x, -2.0), "0.01");
        assert_eq!(tick_label(&x, 1.0), "10");
        let l = sweep_axis(&[0.02, 0.04, 0.06], false, "β−");
        assert_eq!(l.ticks, vec![0.02, 0.04, 0.06]);
    }

    #[test]
    fn curves_follow_the_scenarios_and_sort_x() {
        let t = by_scenario("loss.beta", &[1.0, 0.1, 10.0]);
        let c = scenario_curves(&t, "loss.beta", "drop").unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(
            c[0].points.iter().map(|p| p.0).collect::<Vec<_>>(),
            [0.1, 1.0, 10.0]
        );
        assert_eq!(c[0].points[0].1.n, 3);
        assert!(scenario_curves(&t, "loss.gamma", "drop").is_err());
    }

    /// Where `c` lies along viridis, 0 to 1 (the nearest of 1001 samples).
    fn viridis_position(c: [u8; 3]) -> f64 {
        let v = ColorScale::viridis(0.0, 1.0);
        let d = |t: f64| {
            let s = v.color(t);
            let sq = |a: u8, b: u8| (a as f64 - b as f64).powi(2);
            sq(s.0, c[0]) + sq(s.1, c[1]) + sq(s.2, c[2])
        };
        (0..=1000)
            .map(|i| i as f64 / 1000.0)
            .min_by(|a, b| d(*a).total_cmp(&d(*b)))
            .unwrap()
    }

    /// Every sweep figure renders to both backends from in-memory tables,
    /// and draws what the tables hold: the phase diagrams' cells coloured in
    /// the order of their values and labelled with them, one curve per
    /// scenario and panel with a vertex per swept value, the titles and the
    /// legend.
    #[test]
    fn sweep_figures_render() {
        use crate::present::plots::figure_check::Drawn;
        let rgb = |c: RGBColor| [c.0, c.1, c.2];
        let vals = ["0.02", "0.07", "0.12"];
        let pts: Vec<Vec<String>> = vals
            .iter()
            .flat_map(|c| vals.iter().map(move |r| vec![c.to_string(), r.to_string()]))
            .collect();
        let phase_t = table(&["data.chosen_start", "data.rejected_start"], &pts, 2);
        let beta_t = by_scenario("loss.beta", &[0.01, 0.1, 1.0, 10.0]);
        let flex = by_scenario("loss.beta_minus", &[0.02, 0.07, 0.12]);
        let sft = by_scenario("loss.gamma", &[0.001, 0.1, 10.0]);
        let dpo = table(
            &["data.scenario"],
            &SCENARIOS.map(|s| vec![s.to_string()]),
            3,
        );
        let dir = std::env::temp_dir().join(format!("dpo-lab-sweep-plots-{}", std::process::id()));
        phase(&dir.join("phase"), &phase_t, "test").unwrap();
        beta(&dir.join("beta"), &beta_t, "test", Band::Sd).unwrap();
        remedies(
            &dir.join("remedies"),
            &flex,
            &sft,
            &dpo,
            "test",
            Band::MinMax,
        )
        .unwrap();

        // Phase: three 3 × 3 maps, chosen 0.12 on top, rejected 0.02 left.
        let d = Drawn::read(&dir.join("phase"), (3 * 790, 790));
        d.assert_texts(&["Phase diagrams · test · mean of 2 seeds per cell"]);
        for (_, title, desc, _) in SCORES {
            d.assert_texts(&[title, desc]);
        }
        for label in vals {
            // A row label and a column label on each map.
            assert_eq!(d.svg.count_text(label), 6, "{label}");
        }
        for tag in ["S1", "S2", "S3", "S4"] {
            assert_eq!(d.svg.count_text(tag), 3, "{tag}");
        }
        assert_eq!(d.svg.outlines([0xff, 0x2a, 0x6d]).len(), 12);
        let grids = d.grids(3, 3);
        assert_eq!(grids.len(), 3, "three maps of 3 × 3 cells");
        // The table's means: x = chosen + rejected, two seeds s = 0, 1.
        let x = |r: usize, c: usize| [0.12, 0.07, 0.02][r] + [0.02, 0.07, 0.12][c];
        let means: [&dyn Fn(f64) -> f64; 3] = [&|x| 60.0 / x + 0.5, &|x| 0.505 - 0.1 * x, &|x| {
            0.03 * x + 0.0005
        }];
        for (k, (grid, mean)) in grids.iter().zip(means).enumerate() {
            let v: Vec<f64> = (0..9).map(|i| mean(x(i / 3, i % 3))).collect();
            let t: Vec<f64> = grid.iter().map(|&c| viridis_position(c)).collect();
            for i in 0..9 {
                for j in 0..9 {
                    if v[i] < v[j] - 1e-9 {
                        assert!(
                            t[i] < t[j],
                            "map {k}: cell {i} ({}) not below cell {j} ({}) on the scale",
                            v[i],
                            v[j]
                        );
                    }
                }
            }
            // Degradation and dispersion cells show their means (2 and 3
            // decimals; the drop's 0-decimal means sit on ties).
            if k > 0 {
                let digits = SCORES[k].3;
                for &m in &v {
                    let s = format!("{m:.digits$}");
                    assert!(d.svg.count_text(&s) > 0, "map {k}: no cell reads {s}");
                }
            }
        }

        // β: three panels, one curve per scenario in each, a vertex per β.
        let d = Drawn::read(&dir.join("beta"), (2100, 700));
        d.assert_texts(&[
            "DPO's D-scores against β · test",
            "lines: mean over 3 seeds; shaded: ± 1 sd over seeds, kept within their min–max",
        ]);
        for (_, title, _, _) in SCORES {
            d.assert_texts(&[title]);
        }
        for (sc, color) in SCENARIOS.iter().zip(SCENARIO_COLORS) {
            d.assert_texts(&[&scenario_label(sc)]);
            d.assert_curves(rgb(color), 3, 4, 0.5);
        }

        // Remedies: two rows of two panels; DPO's levels dashed.
        let d = Drawn::read(&dir.join("remedies"), (1700, 1250));
        d.assert_texts(&[
            "The remedies · test",
            "Flex-DPO (β+ = 0.1) against β−",
            "SFT-DPO (β = 0.1) against γ, the weight of the chosen NLL",
            "DPO, β = 0.1 (scenario's colour)",
            "lines: mean over 3 seeds; shaded: min–max over seeds; dashed: plain DPO's mean over 3 seeds",
        ]);
        for (sc, color) in SCENARIOS.iter().zip(SCENARIO_COLORS) {
            d.assert_texts(&[&scenario_label(sc)]);
            d.assert_curves(rgb(color), 4, 3, 0.5);
        }
        if std::env::var_os("DPO_LAB_KEEP_TEST_PLOTS").is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
