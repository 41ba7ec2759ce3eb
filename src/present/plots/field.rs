//! The gradient-field figure of issue 5: one DPO pair's state `(π+, π-)`,
//! the paper's free-variable field next to the field the softmax produces,
//! with the trajectories of [`crate::studies::field::run`] drawn on both;
//! and its REPORT.md section (`templates/field/*.md`).
//!
//! Layout: two columns (paper's field, softmax field) by two rows (π-
//! linear on `[0, 1]`, π- on a log axis reaching the trajectories' lowest
//! value), a colour bar per row (log10 of the field's magnitude), the
//! trajectories' legend and a caption below.

use super::heatmap::{draw_colorbar, ColorScale};
use super::panels::{framed_chart, Axis};
use super::style::{self, FONT};
use super::{nice_ticks, save, DrawResult, Figure};
use crate::error::Result;
use crate::present::names::optimizer_name;
use crate::present::template::{render_file, render_line, Facts};
use crate::studies::field::{self, FieldFacts, LogPoint, PairField, Track};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::f64::consts::LN_10;
use std::path::Path;

/// File stem of the figure in the plots directory.
pub const STEM: &str = "gradient-field";
/// Grid of arrows per panel: `GRID_N × GRID_N` cells, those inside the
/// triangle `π+ + π- < 1` get an arrow.
pub const GRID_N: usize = 15;
/// Dots along each trajectory mark every `1/DOTS` of its epochs.
const DOTS: usize = 10;

/// One trajectory as drawn: the study's track with its legend label and
/// its stroke.
#[derive(Debug, Clone)]
struct Drawn {
    label: String,
    color: RGBColor,
    dashed: bool,
    field: PairField,
    points: Vec<LogPoint>,
}

/// Strokes of the tracks, in [`field::TRACKS`] order (any further track
/// takes the last).
const STROKES: [(RGBColor, bool); 3] = [
    (RGBColor(0x20, 0x20, 0x20), false),
    (RGBColor(0xff, 0x7f, 0x0e), true),
    (RGBColor(0xd6, 0x27, 0x28), false),
];

fn short(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The legend entry of `t`: `MLP, Adam lr 0.0001, 2000 epochs (fig2.toml)`.
fn drawn(i: usize, t: &Track) -> Drawn {
    let s = &t.setting;
    let policy = if s.policy == "mlp" {
        "MLP".to_string()
    } else {
        s.policy.clone()
    };
    let (color, dashed) = STROKES[i.min(STROKES.len() - 1)];
    Drawn {
        label: format!(
            "{policy}, {} lr {}, {} epochs ({})",
            optimizer_name(&s.optimizer),
            short(s.lr),
            s.epochs,
            t.file
        ),
        color,
        dashed,
        field: t.field,
        points: t.points.clone(),
    }
}

/// Which field a panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Paper,
    Softmax,
}

impl Kind {
    fn title(self) -> &'static str {
        match self {
            Kind::Paper => "paper: free-variable field −∇ℓ(π+, π−)",
            Kind::Softmax => "softmax: effect of a logit step (per unit η)",
        }
    }

    /// log10 of the field's magnitude in probability space at
    /// `(π+, ln π-)`, robust to tiny `π-`.
    fn log10_magnitude(self, f: &PairField, p: f64, logm: f64) -> f64 {
        let w = f.weight_log(p.ln(), logm);
        let m = logm.exp();
        match self {
            // |(w/p, w/m)| = (w/m) sqrt(1 + (m/p)²)
            Kind::Paper => (w.log10() - logm / LN_10) + 0.5 * (m / p).powi(2).ln_1p() / LN_10,
            Kind::Softmax => w.log10() + (p * (1.0 - p + m)).hypot(m * (1.0 + p - m)).log10(),
        }
    }

    /// The field's direction in display coordinates `(π+, y)`, where `y`
    /// is `π-` (linear row) or `log10 π-` (log row); any positive scale.
    fn display_dir(self, p: f64, logm: f64, log_row: bool) -> [f64; 2] {
        let m = logm.exp();
        match (self, log_row) {
            // (w/p, −w/m) / w · m
            (Kind::Paper, false) => [m / p, -1.0],
            // (w/p, −w/(m² ln 10)) / w · m²
            (Kind::Paper, true) => [m * m / p, -1.0 / LN_10],
            (Kind::Softmax, false) => [p * (1.0 - p + m), -m * (1.0 + p - m)],
            (Kind::Softmax, true) => [p * (1.0 - p + m), -(1.0 + p - m) / LN_10],
        }
    }
}

/// One row of panels: the y axis and the arrow grid, as `(π+, ln π-)`.
struct Row {
    y: Axis,
    log: bool,
    grid: Vec<(f64, f64)>,
    scale: ColorScale,
}

impl Row {
    fn y_of(&self, logm: f64) -> f64 {
        if self.log {
            logm / LN_10
        } else {
            logm.exp()
        }
    }
}

fn rows(field: &PairField, tracks: &[Drawn]) -> [Row; 2] {
    let h = 1.0 / GRID_N as f64;
    let lin_grid: Vec<(f64, f64)> = field::triangle_grid(GRID_N)
        .into_iter()
        .map(|[p, m]| (p, m.ln()))
        .collect();
    let lowest = tracks
        .iter()
        .flat_map(|t| t.points.iter().map(|q| q.logm / LN_10))
        .filter(|v| v.is_finite())
        .fold(-1.0f64, f64::min);
    let lo = (lowest * 1.04).floor();
    let log_grid: Vec<(f64, f64)> = (0..GRID_N)
        .flat_map(|j| {
            let y = lo + (j as f64 + 0.5) * h * (0.0 - lo);
            (0..GRID_N).map(move |i| ((i as f64 + 0.5) * h, y * LN_10))
        })
        .filter(|(p, logm)| p + logm.exp() < 1.0)
        .collect();
    let scale_for = |grid: &[(f64, f64)]| {
        let (mut a, mut b) = (f64::INFINITY, f64::NEG_INFINITY);
        for k in [Kind::Paper, Kind::Softmax] {
            for &(p, logm) in grid {
                let v = k.log10_magnitude(field, p, logm);
                if v.is_finite() {
                    a = a.min(v);
                    b = b.max(v);
                }
            }
        }
        ColorScale::viridis(a.floor(), b.ceil())
    };
    let lin_scale = scale_for(&lin_grid);
    let log_scale = scale_for(&log_grid);
    let mut log_axis = Axis::log10(lo, 0.0, "π− (rejected), log scale");
    log_axis.ticks = nice_ticks(lo, 0.0, 8, true);
    [
        Row {
            y: Axis::linear(0.0, 1.0, "π− (rejected)"),
            log: false,
            grid: lin_grid,
            scale: lin_scale,
        },
        Row {
            y: log_axis,
            log: true,
            grid: log_grid,
            scale: log_scale,
        },
    ]
}

/// The figure.
struct FieldFigure {
    title: String,
    field: PairField,
    tracks: Vec<Drawn>,
    caption: Vec<String>,
}

const BAR_W: u32 = 150;

impl Figure for FieldFigure {
    fn size(&self) -> (u32, u32) {
        (1700, 1560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let (w, h) = root.dim_in_pixel();
        let title_h = style::TITLE_SIZE + 24;
        let (head, body) = root.split_vertically(title_h);
        head.draw(&Text::new(
            self.title.clone(),
            (w as i32 / 2, title_h as i32 / 2 + 2),
            (FONT, style::TITLE_SIZE)
                .into_font()
                .color(&style::INK)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
        let legend_h = (self.tracks.len() as u32 + 1) * (style::LEGEND_SIZE * 17 / 10) + 12;
        let caption_h = self.caption.len() as u32 * (style::LEGEND_SIZE + 9) + 12;
        let grid_h = h - title_h - legend_h - caption_h;
        let (grid, rest) = body.split_vertically(grid_h);
        let (legend, caption) = rest.split_vertically(legend_h);
        let rows = rows(&self.field, &self.tracks);
        for (row, area) in rows.iter().zip(grid.split_evenly((2, 1))) {
            let (aw, _) = area.dim_in_pixel();
            let (panels, bar) = area.split_horizontally(aw - BAR_W);
            let cells = panels.split_evenly((1, 2));
            let suffix = if row.log { ", log π−" } else { "" };
            let mut plot_y = (0, 0);
            for (kind, cell) in [Kind::Paper, Kind::Softmax].into_iter().zip(cells) {
                let title = format!("{}{suffix}", kind.title());
                plot_y = draw_panel(&cell, &title, kind, row, &self.field, &self.tracks)?;
            }
            // The colour bar spans the panels' plotting height.
            let (_, bh) = bar.dim_in_pixel();
            let top = plot_y.0.max(0) as u32;
            let bottom = (bh as i32 - plot_y.1).max(0) as u32;
            let bar_area = bar.margin(top, bottom, 16, 60);
            bar.draw(&Text::new(
                "log10 |v|",
                (16, top as i32 - 10),
                (FONT, style::AXIS_DESC_SIZE)
                    .into_font()
                    .color(&style::INK)
                    .pos(Pos::new(HPos::Left, VPos::Bottom)),
            ))?;
            draw_colorbar(&bar_area, &row.scale, None, 22, (6, true))?;
        }
        draw_track_legend(&legend, &self.tracks)?;
        let font = (FONT, style::LEGEND_SIZE)
            .into_font()
            .color(&style::INK)
            .pos(Pos::new(HPos::Left, VPos::Top));
        for (i, line) in self.caption.iter().enumerate() {
            caption.draw(&Text::new(
                line.clone(),
                (40, 4 + i as i32 * (style::LEGEND_SIZE as i32 + 9)),
                font.clone(),
            ))?;
        }
        Ok(())
    }
}

/// Draws one panel; returns the plotting area's top and bottom pixel rows
/// relative to `area` (for aligning the colour bar).
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    kind: Kind,
    row: &Row,
    field: &PairField,
    tracks: &[Drawn],
) -> DrawResult<(i32, i32)> {
    let x = Axis::linear(0.0, 1.0, "π+ (chosen)");
    let y = &row.y;
    let xl = |v: f64| x.label(v);
    let yl = |v: f64| y.label(v);
    let y_area = if row.log { 96 } else { 80 };
    let mut chart = framed_chart(area, title, &x, y, &xl, &yl, y_area)?;

    // The infeasible region π+ + π- ≥ 1, shaded.
    let boundary: Vec<(f64, f64)> = if row.log {
        (0..=200)
            .map(|k| {
                let yv = y.lo + (y.hi - y.lo) * k as f64 / 200.0;
                (1.0 - 10f64.powf(yv), yv)
            })
            .collect()
    } else {
        vec![(1.0, 0.0), (0.0, 1.0)]
    };
    let mut shade = boundary.clone();
    shade.push((1.0, y.hi));
    shade.push((1.0, y.lo));
    chart.draw_series(std::iter::once(Polygon::new(
        shade,
        RGBColor(0xee, 0xee, 0xee).filled(),
    )))?;
    chart.draw_series(std::iter::once(PathElement::new(
        boundary,
        RGBColor(0x99, 0x99, 0x99).stroke_width(1),
    )))?;

    // Arrows, all the same length on screen.
    let (pw, ph) = chart.plotting_area().dim_in_pixel();
    let sx = pw as f64 / (x.hi - x.lo);
    let sy = ph as f64 / (y.hi - y.lo);
    let len = 0.72 * (pw.min(ph) as f64 / GRID_N as f64);
    for &(p, logm) in &row.grid {
        let d = kind.display_dir(p, logm, row.log);
        let (px, py) = (d[0] * sx, d[1] * sy);
        let n = px.hypot(py);
        if !(n > 0.0 && n.is_finite()) {
            continue;
        }
        let (ux, uy) = (px / n, py / n);
        let to_data = |ox: f64, oy: f64| (p + ox / sx, row.y_of(logm) + oy / sy);
        let tail = to_data(-0.5 * len * ux, -0.5 * len * uy);
        let tip = to_data(0.5 * len * ux, 0.5 * len * uy);
        let head = 0.38 * len;
        let (c, s) = (28f64.to_radians().cos(), 28f64.to_radians().sin());
        let wing = |sign: f64| {
            // −u rotated by ±28°.
            let (bx, by) = (-ux, -uy);
            let (rx, ry) = (bx * c - sign * by * s, sign * bx * s + by * c);
            to_data(0.5 * len * ux + head * rx, 0.5 * len * uy + head * ry)
        };
        let color = row.scale.color(kind.log10_magnitude(field, p, logm));
        chart.draw_series(std::iter::once(PathElement::new(
            vec![tail, tip],
            color.stroke_width(2),
        )))?;
        chart.draw_series(std::iter::once(Polygon::new(
            vec![tip, wing(1.0), wing(-1.0)],
            color.filled(),
        )))?;
    }

    // Trajectories: white halos under all of them first (so a dashed curve
    // lets the one it overlaps show through its gaps), then the curves,
    // then dots every tenth of each run, then the start and end markers.
    let paths: Vec<Vec<(f64, f64)>> = tracks
        .iter()
        .map(|t| {
            t.points
                .iter()
                .map(|q| (q.logp.exp(), row.y_of(q.logm)))
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .collect()
        })
        .collect();
    for pts in &paths {
        chart.draw_series(std::iter::once(PathElement::new(
            pts.clone(),
            WHITE.stroke_width(style::LINE_WIDTH + 4),
        )))?;
    }
    for (t, pts) in tracks.iter().zip(&paths) {
        if t.dashed {
            chart.draw_series(DashedLineSeries::new(
                pts.clone(),
                10,
                7,
                t.color.stroke_width(style::LINE_WIDTH),
            ))?;
        } else {
            chart.draw_series(LineSeries::new(
                pts.clone(),
                t.color.stroke_width(style::LINE_WIDTH),
            ))?;
        }
    }
    for t in tracks {
        let last = t.points.last().map_or(0, |q| q.epoch);
        let every = (last / DOTS).max(1);
        for q in t
            .points
            .iter()
            .filter(|q| q.epoch > 0 && q.epoch < last && q.epoch % every == 0)
        {
            let at = (q.logp.exp(), row.y_of(q.logm));
            chart.draw_series(std::iter::once(
                EmptyElement::at(at)
                    + Circle::new((0, 0), 5, WHITE.filled())
                    + Circle::new((0, 0), 4, t.color.filled()),
            ))?;
        }
    }
    for t in tracks {
        if let (Some(first), Some(last)) = (t.points.first(), t.points.last()) {
            let a = (first.logp.exp(), row.y_of(first.logm));
            let b = (last.logp.exp(), row.y_of(last.logm));
            chart.draw_series(std::iter::once(
                EmptyElement::at(a)
                    + Circle::new((0, 0), 8, WHITE.filled())
                    + Circle::new((0, 0), 8, style::INK.stroke_width(2)),
            ))?;
            chart.draw_series(std::iter::once(
                EmptyElement::at(b)
                    + Rectangle::new([(-8, -8), (8, 8)], WHITE.filled())
                    + Rectangle::new([(-6, -6), (6, 6)], t.color.filled()),
            ))?;
        }
    }
    // In the log row, the rejected component of the field where the
    // deepest trajectory ends.
    if row.log {
        let deepest = tracks
            .iter()
            .filter_map(|t| t.points.last().map(|q| (t, *q)))
            .min_by(|a, b| a.1.logm.total_cmp(&b.1.logm));
        if let Some((t, q)) = deepest {
            let p = q.logp.exp();
            let w = t.field.weight_log(q.logp, q.logm).log10();
            let log10_v = match kind {
                Kind::Paper => w - q.logm / LN_10,
                Kind::Softmax => w + q.logm / LN_10 + (1.0 + p - q.logm.exp()).log10(),
            };
            let text = format!("here v− = −{} (epoch {})", sci_log10(log10_v), q.epoch);
            let size = style::LEGEND_SIZE + 1;
            let (tw, th) = area.estimate_text_size(&text, &(FONT, size).into_text_style(area))?;
            let at = (p + 22.0 / sx, row.y_of(q.logm) + 16.0 / sy);
            let box_end = (
                at.0 + (tw as f64 + 10.0) / sx,
                at.1 + (th as f64 + 8.0) / sy,
            );
            chart.draw_series(std::iter::once(Rectangle::new(
                [(at.0 - 5.0 / sx, at.1 - 4.0 / sy), box_end],
                WHITE.mix(0.9).filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                text,
                at,
                (FONT, size)
                    .into_font()
                    .color(&t.color)
                    .pos(Pos::new(HPos::Left, VPos::Bottom)),
            )))?;
        }
    }
    // Close the frame on the top and right.
    chart.plotting_area().draw(&PathElement::new(
        [(x.lo, y.hi), (x.hi, y.hi), (x.hi, y.lo)],
        style::INK.stroke_width(1),
    ))?;
    let (top, bottom) = {
        let (yr_top, yr_bot) = (chart.plotting_area().get_pixel_range().1.start, {
            chart.plotting_area().get_pixel_range().1.end
        });
        let base = area.get_base_pixel().1;
        (yr_top - base, yr_bot - base)
    };
    Ok((top, bottom))
}

/// The legend: one line per trajectory (its stroke, a dot and its end
/// marker), then a line explaining the markers.
fn draw_track_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    tracks: &[Drawn],
) -> DrawResult {
    let row_h = (style::LEGEND_SIZE * 17 / 10) as i32;
    let font = (FONT, style::LEGEND_SIZE)
        .into_font()
        .color(&style::INK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let x = 60;
    for (i, t) in tracks.iter().enumerate() {
        let y = 6 + i as i32 * row_h + row_h / 2;
        let line = [(x, y), (x + 60, y)];
        if t.dashed {
            area.draw(&plotters::element::DashedPathElement::new(
                line,
                10,
                7,
                t.color.stroke_width(style::LINE_WIDTH),
            ))?;
        } else {
            area.draw(&PathElement::new(
                line,
                t.color.stroke_width(style::LINE_WIDTH),
            ))?;
        }
        area.draw(&Circle::new((x + 24, y), 4, t.color.filled()))?;
        area.draw(&Rectangle::new(
            [(x + 60 - 6, y - 6), (x + 60 + 6, y + 6)],
            t.color.filled(),
        ))?;
        area.draw(&Text::new(t.label.clone(), (x + 80, y), font.clone()))?;
    }
    let y = 6 + tracks.len() as i32 * row_h + row_h / 2;
    area.draw(&Circle::new((x + 8, y), 8, style::INK.stroke_width(2)))?;
    area.draw(&Text::new(
        format!(
            "epoch 0 (the reference π₀, where all runs start)  ·  dots: every 1/{DOTS} of a run's \
             epochs  ·  square: its last epoch"
        ),
        (x + 30, y),
        font,
    ))?;
    Ok(())
}

/// `v` in scientific notation with 2 significant digits ("3.1e-82").
fn sci(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let e = v.abs().log10().floor();
    let m = v / 10f64.powf(e);
    if (-2.0..3.0).contains(&e) {
        format!("{v:.2}")
    } else {
        format!("{m:.1}e{e:.0}")
    }
}

/// `10^x` for an exponent that may be beyond `f64`, as text.
fn sci_log10(x: f64) -> String {
    if x.abs() < 300.0 {
        return sci(10f64.powf(x));
    }
    let e = x.floor();
    format!("{:.1}e{e:.0}", 10f64.powf(x - e))
}

fn pct(f: f64) -> String {
    format!("{:.1}%", 100.0 * f)
}

/// Draws `plots_dir/gradient-field.png` and `.svg` from the study's
/// trajectories and returns the report's section.
pub fn gradient_field_figure(plots_dir: &Path, facts: &FieldFacts) -> Result<String> {
    let tracks: Vec<Drawn> = facts
        .tracks
        .iter()
        .enumerate()
        .map(|(i, t)| drawn(i, t))
        .collect();
    let Some(bg) = tracks.first().map(|t| t.field) else {
        return Err(crate::error::Error::config(
            "gradient field",
            "has no trajectory to draw",
        ));
    };
    let caption = vec![
        format!(
            "Fields of one DPO pair with β = {}, π₀+ = {}, π₀− = {} (the runs' pair 0, prompt 0, responses 0 ≻ 4). \
             Arrows show direction only: every arrow has the same length on screen.",
            short(bg.beta),
            short(bg.ref_plus),
            short(bg.ref_minus)
        ),
        "Arrow colour: log10 |v| in probability space, v_paper = −(∂ℓ/∂π+, ∂ℓ/∂π−) and \
         v_softmax = (dπ+, dπ−) per unit logit learning rate η; one colour scale per row."
            .to_string(),
        "Grey: π+ + π− ≥ 1 (impossible). Lower row: the same fields and runs with π− on a log axis \
         (arrow directions are those of the displayed coordinates)."
            .to_string(),
    ];
    let fig = FieldFigure {
        title:
            "DPO in the (π+, π−) plane: the paper's gradient field vs the softmax's, with real runs"
                .into(),
        field: bg,
        tracks,
        caption,
    };
    save(&fig, &plots_dir.join(STEM))?;
    field_markdown(facts)
}

fn put(f: &mut Facts, k: &str, v: impl ToString) {
    f.insert(k.to_string(), v.to_string());
}

/// The report's gradient-field section, from the study's facts.
pub fn field_markdown(facts: &FieldFacts) -> Result<String> {
    let phrase = |key: &str, f: &Facts| render_line("field/phrases", key, f);
    let mut f = Facts::new();
    put(&mut f, "tol", facts.tol_deg);
    let ends = facts
        .tracks
        .iter()
        .map(|t| {
            let mut n = Facts::new();
            put(&mut n, "name", &t.name);
            put(&mut n, "epoch", t.end.epoch);
            put(&mut n, "p", sci(t.end.p));
            put(&mut n, "m", sci_log10(t.end.log10_m));
            put(&mut n, "ratio", sci_log10(t.end.log10_ratio));
            phrase("end", &n)
        })
        .collect::<Result<Vec<_>>>()?;
    put(&mut f, "ends", ends.join("; "));
    let aligns = facts
        .tracks
        .iter()
        .map(|t| {
            let mut n = Facts::new();
            put(&mut n, "name", &t.name);
            put(&mut n, "softmax", pct(t.align.softmax_frac()));
            put(&mut n, "paper", pct(t.align.paper_frac()));
            put(&mut n, "steps", t.align.steps);
            phrase("align", &n)
        })
        .collect::<Result<Vec<_>>>()?;
    put(&mut f, "aligns", aligns.join("; "));
    let mut rest = Vec::new();
    if let Some(m) = &facts.mlp {
        put(&mut f, "p_start", sci(m.p_start));
        put(&mut f, "p_end", sci(m.p_end));
        put(&mut f, "softmax_line", pct(m.softmax_line_frac));
        put(&mut f, "paper_line", pct(m.paper_line_frac));
        put(&mut f, "median_ratio", sci_log10(m.median_log10_ratio));
        put(&mut f, "m_start", sci(m.m_start));
        put(&mut f, "m_end", sci_log10(m.log10_m_end));
        put(&mut f, "step_start", sci(m.step_start));
        put(&mut f, "step_end", sci(m.step_end));
        put(&mut f, "max_log_step", format!("{:.3}", m.max_log_step));
        put(&mut f, "paper_start", sci_log10(m.log10_paper_minus_start));
        put(&mut f, "paper_end", sci_log10(m.log10_paper_minus_end));
        rest.push(phrase("mlp", &f)?);
    }
    if let Some(d) = facts.sgd_max_deviation {
        put(&mut f, "deviation", format!("{d:.2}"));
        rest.push(phrase("sgd", &f)?);
    }
    put(&mut f, "rest", rest.join(" "));
    render_file("field/field", &f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws the figure from the real configs into a temporary directory
    /// (or `$DPO_LAB_FIELD_OUT`, to regenerate `plots/`); both tabular runs
    /// follow the softmax field at every step.
    #[test]
    fn gradient_field_figure_renders() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let keep = std::env::var_os("DPO_LAB_FIELD_OUT");
        let dir = match &keep {
            Some(d) => std::path::PathBuf::from(d),
            None => std::env::temp_dir().join(format!("dpo-lab-field-{}", std::process::id())),
        };
        let facts = field::run(&root.join("experiments"), &dir).unwrap();
        let md = gradient_field_figure(&dir, &facts).unwrap();
        if keep.is_some() {
            println!("{md}");
        }
        for f in super::super::files(&dir.join(STEM)) {
            assert!(
                std::fs::metadata(&f).unwrap().len() > 10_000,
                "{}",
                f.display()
            );
        }
        for t in facts
            .tracks
            .iter()
            .filter(|t| t.setting.policy == "tabular")
        {
            assert_eq!(t.align.softmax, t.align.steps, "{}", t.name);
        }
        assert!(facts.mlp.is_some() && facts.sgd_max_deviation.is_some());
        assert!(dir.join("gradient-field/facts.json").exists());
        if keep.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
