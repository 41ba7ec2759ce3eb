//! The gradient-field figure of issue 5: one DPO pair's state `(π+, π-)`,
//! the paper's free-variable field next to the field the softmax produces
//! ([`crate::studies::field`]), with real training trajectories drawn on both.
//!
//! Layout: two columns (paper's field, softmax field) by two rows (π-
//! linear on `[0, 1]`, π- on a log axis reaching the trajectories' lowest
//! value), a colour bar per row (log10 of the field's magnitude), the
//! trajectories' legend and a caption below.

use super::heatmap::{draw_colorbar, ColorScale};
use super::panels::{framed_chart, Axis};
use super::style::{self, FONT};
use super::{nice_ticks, save, DrawResult, Figure};
use crate::engine::train::{train, Keep};
use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::studies::field::{self, Alignment, LogPoint, PairField};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::f64::consts::LN_10;
use std::fmt::Write as _;
use std::path::Path;

/// File stem of the figure in the plots directory.
pub const STEM: &str = "gradient-field";
/// Grid of arrows per panel: `GRID_N × GRID_N` cells, those inside the
/// triangle `π+ + π- < 1` get an arrow.
pub const GRID_N: usize = 15;
/// Tolerance, in degrees, of "a step points along a field".
pub const TOL_DEG: f64 = 10.0;
/// Dots along each trajectory mark every `1/DOTS` of its epochs.
const DOTS: usize = 10;

/// One run's trajectory of pair 0.
#[derive(Debug, Clone)]
pub struct Track {
    /// Legend label.
    pub label: String,
    /// Short name for the report ("MLP", "tabular Adam", ...).
    pub name: String,
    pub color: RGBColor,
    pub dashed: bool,
    /// The pair's field with this run's β and reference.
    pub field: PairField,
    /// `(ln π+, ln π-)` at every recorded epoch.
    pub points: Vec<LogPoint>,
    /// Step directions against the two fields, at [`TOL_DEG`].
    pub align: Alignment,
}

fn short(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Runs `file` (in `experiments_dir`) and extracts its first pair's trajectory.
pub fn run_track(
    experiments_dir: &Path,
    file: &str,
    name: &str,
    color: RGBColor,
    dashed: bool,
) -> Result<Track> {
    let path = experiments_dir.join(file);
    let cfg = Config::load(&path)?.resolved()?;
    let spec = cfg.build()?;
    let pair = *spec
        .data
        .pairs
        .first()
        .ok_or_else(|| Error::config(path.display().to_string(), "has no preference pair"))?;
    let beta = match (cfg.loss.name.as_str(), cfg.loss.params.get("beta")) {
        ("dpo", Some(b)) => *b,
        _ => {
            return Err(Error::config(
                path.display().to_string(),
                "the gradient-field figure needs a DPO run (loss.name = \"dpo\")",
            ))
        }
    };
    let result = train(
        &spec,
        Keep {
            metrics: false,
            snapshots: true,
        },
    );
    if let Some(e) = result.summary.diverged_epoch {
        return Err(Error::io(&path, format!("run diverged at epoch {e}")));
    }
    let y = result.n_responses;
    let field = PairField::new(
        beta,
        result.ref_logp[pair.prompt * y + pair.chosen].exp(),
        result.ref_logp[pair.prompt * y + pair.rejected].exp(),
    );
    let points = field::trajectory(&result.snapshots, y, pair);
    let align = field::alignment(&points, TOL_DEG);
    let o = &cfg.optimizer;
    let optim = match o.name.as_str() {
        "sgd" => "SGD".to_string(),
        "adam" => "Adam".to_string(),
        other => other.to_string(),
    };
    let policy = if cfg.policy.kind == "mlp" {
        "MLP".to_string()
    } else {
        cfg.policy.kind.clone()
    };
    Ok(Track {
        label: format!(
            "{policy}, {optim} lr {}, {} epochs ({file})",
            short(o.lr),
            cfg.epochs
        ),
        name: name.to_string(),
        color,
        dashed,
        field,
        points,
        align,
    })
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

fn rows(field: &PairField, tracks: &[Track]) -> [Row; 2] {
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
    tracks: Vec<Track>,
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
    tracks: &[Track],
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
    tracks: &[Track],
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

/// Runs the three trajectories' configs (fast: well under a second),
/// writes `gradient-field.png` and `.svg` into `plots_dir`, and returns a
/// Markdown paragraph for the report, every number in it computed here.
///
/// The runs are pair 0 (prompt 0, responses 0 ≻ 4) of
/// `experiments_dir/fig2-tabular.toml` (tabular, Adam),
/// `experiments_dir/fig2.toml` (MLP, Adam) and
/// `experiments_dir/tabular-dpo-sgd.toml` (tabular, plain SGD).
pub fn gradient_field_figure(plots_dir: &Path, experiments_dir: &Path) -> Result<String> {
    draw_gradient_field(plots_dir, gradient_field_tracks(experiments_dir)?)
}

/// The figure's three runs (tabular Adam, tabular SGD, the MLP), from the
/// configs in `experiments_dir`.
pub fn gradient_field_tracks(experiments_dir: &Path) -> Result<Vec<Track>> {
    Ok(vec![
        run_track(
            experiments_dir,
            "fig2-tabular.toml",
            "tabular Adam",
            RGBColor(0x20, 0x20, 0x20),
            false,
        )?,
        run_track(
            experiments_dir,
            "tabular-dpo-sgd.toml",
            "tabular SGD",
            RGBColor(0xff, 0x7f, 0x0e),
            true,
        )?,
        run_track(
            experiments_dir,
            "fig2.toml",
            "MLP Adam",
            RGBColor(0xd6, 0x27, 0x28),
            false,
        )?,
    ])
}

/// Draws the figure of `tracks` (those of [`gradient_field_tracks`]) into
/// `plots_dir` and returns the report paragraph.
pub fn draw_gradient_field(plots_dir: &Path, tracks: Vec<Track>) -> Result<String> {
    let bg = tracks[0].field;
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
    Ok(paragraph(&fig.tracks))
}

/// The median over `traj` of `log10(π+/π-)`.
fn median_log10_ratio(traj: &[LogPoint]) -> f64 {
    let mut r: Vec<f64> = traj.iter().map(|q| (q.logp - q.logm) / LN_10).collect();
    r.sort_by(f64::total_cmp);
    r.get(r.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The report paragraph for `tracks` (tabular Adam, tabular SGD, MLP).
fn paragraph(tracks: &[Track]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "**Gradient field (`gradient-field.png`).** For one pair, the paper's free-variable field \
         `−∇ℓ = (w/π+, −w/π−)` (`w = β σ(−βΔ)`) and the field a tabular softmax produces from one \
         logit step, `(w π+ (1 − π+ + π−), −w π− (1 + π+ − π−))` per unit learning rate \
         (= `J²` times the paper's, `J` the softmax Jacobian), share the scalar `w` and differ in \
         direction and size: the paper's rejected component grows like `π−^(β−1)` as `π− → 0`, the \
         softmax's shrinks like `π−^(1+β)`. "
    );
    let ends: Vec<String> = tracks
        .iter()
        .map(|t| {
            let last = t.points.last().copied().unwrap_or(LogPoint {
                epoch: 0,
                logp: f64::NAN,
                logm: f64::NAN,
            });
            let p = last.logp.exp();
            // |v_paper| / |v_softmax| ≈ 1/(π+ π- (1 − π+)) once π- ≪ π+;
            // in log10 so a π- below the f64 range still gives a number.
            let m = last.logm.exp();
            let log_ratio = if m > 0.0 {
                field::magnitude_ratio(p, m).log10()
            } else {
                -(p.log10() + last.logm / LN_10 + (1.0 - p).log10())
            };
            format!(
                "{} ends (epoch {}) at π+ = {}, π− = {}, where the paper's field is {} times \
                 the softmax's",
                t.name,
                last.epoch,
                sci(p),
                sci_log10(last.logm / LN_10),
                sci_log10(log_ratio)
            )
        })
        .collect();
    let _ = write!(
        s,
        "At the runs' last states the gap is enormous: {}. ",
        ends.join("; ")
    );
    let aligns: Vec<String> = tracks
        .iter()
        .map(|t| {
            format!(
                "{} {} vs {} of {} steps",
                t.name,
                pct(t.align.softmax_frac()),
                pct(t.align.paper_frac()),
                t.align.steps
            )
        })
        .collect();
    let _ = write!(
        s,
        "Steps within {TOL_DEG}° of the softmax field vs of the paper's field, in the (π+, π−) \
         plane: {}. ",
        aligns.join("; ")
    );
    if let Some(m) = tracks.iter().find(|t| t.name.starts_with("MLP")) {
        let first = m.points.first();
        let lastp = m.points.last();
        if let (Some(a), Some(b)) = (first, lastp) {
            let n = m.points.len();
            let d0 = field::step(&m.points[0], &m.points[1.min(n - 1)]);
            let dn = field::step(&m.points[n.saturating_sub(2)], b);
            let paper_minus = |q: &LogPoint| {
                // w/π-, in log10.
                (m.field.weight_log(q.logp, q.logm)).log10() - q.logm / LN_10
            };
            let _ = write!(
                s,
                "Both tabular runs follow the softmax field (their logit steps are ±c on the pair's \
                 two logits, Adam's as SGD's, so only their speed differs). The MLP does not follow \
                 either field's sense for long: parameters shared with the other prompts pull its \
                 π+ down (π+ falls from {} to {}), so its steps often point against the softmax \
                 field's π+ component. Its steps do run along the softmax field's lines: in either \
                 sense, {} of them lie within {TOL_DEG}° of the softmax field's line and {} within \
                 {TOL_DEG}° of the paper's (Corollary 1 demands |Δπ−/Δπ+| = π+/π−, whose median \
                 along the path is {}; the MLP moves π− far less than π+). What the MLP \
                 does obey is the softmax's structure: its rejected probability falls from {} to {} \
                 while the per-epoch step |Δπ−| shrinks from {} to {} (the relative step |Δ ln π−| \
                 never exceeds {:.3} per epoch), whereas along the same path the paper's field \
                 |∂ℓ/∂π−| = w/π− grows from {} to {}: the rejected side slows down as it vanishes, \
                 it does not move infinitely fast.",
                sci(a.logp.exp()),
                sci(b.logp.exp()),
                pct(m.align.softmax_line_frac()),
                pct(m.align.paper_line_frac()),
                sci_log10(median_log10_ratio(&m.points)),
                sci(a.logm.exp()),
                sci_log10(b.logm / LN_10),
                sci(d0[1].abs()),
                sci(dn[1].abs()),
                field::max_rejected_log_step(&m.points),
                sci_log10(paper_minus(a)),
                sci_log10(paper_minus(b)),
            );
        }
    }
    if let Some(t) = tracks.iter().find(|t| t.name == "tabular SGD") {
        let worst = t
            .points
            .windows(2)
            .map(|w| {
                let [p, m] = w[0].probs();
                field::angle_deg(field::step(&w[0], &w[1]), t.field.softmax(p, m))
            })
            .fold(0.0, f64::max);
        let _ = write!(
            s,
            " The SGD run's steps deviate from the softmax field by at most {worst:.2}° \
             (the step-size effect of a finite learning rate)."
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws the figure from the real configs into a temporary directory
    /// (or `$DPO_LAB_FIELD_OUT`, to regenerate `plots/`), reads it back,
    /// and checks the facts its paragraph states.
    #[test]
    fn gradient_field_figure_renders() {
        use crate::present::plots::figure_check::Drawn;
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let keep = std::env::var_os("DPO_LAB_FIELD_OUT");
        let dir = match &keep {
            Some(d) => std::path::PathBuf::from(d),
            None => std::env::temp_dir().join(format!("dpo-lab-field-{}", std::process::id())),
        };
        let tracks = gradient_field_tracks(&root.join("experiments")).unwrap();
        // Both tabular runs' steps all point along the softmax field (their
        // logit steps are ±c on the pair's two logits), none along the
        // paper's; the paragraph reports these fractions.
        for name in ["tabular Adam", "tabular SGD"] {
            let t = tracks.iter().find(|t| t.name == name).unwrap();
            assert!(t.align.steps > 0, "{name}");
            assert_eq!(t.align.softmax_frac(), 1.0, "{name}: {:?}", t.align);
        }
        let md = draw_gradient_field(&dir, tracks.clone()).unwrap();
        if keep.is_some() {
            println!("{md}");
        }
        let d = Drawn::read(&dir.join(STEM), (1700, 1560));
        d.assert_texts(&[
            "DPO in the (π+, π−) plane: the paper's gradient field vs the softmax's, with real runs",
            "log10 |v|",
        ]);
        for kind in [Kind::Paper, Kind::Softmax] {
            d.assert_texts(&[kind.title(), &format!("{}, log π−", kind.title())]);
        }
        // Each run's path in each of the four panels (the MLP's moves far
        // enough to draw hundreds of vertices), and its legend entry.
        for t in &tracks {
            assert!(
                d.svg.texts().iter().any(|x| x.contains(&t.label)),
                "legend lacks {}",
                t.label
            );
        }
        let mlp = tracks.iter().find(|t| t.name == "MLP Adam").unwrap();
        d.assert_curves([mlp.color.0, mlp.color.1, mlp.color.2], 4, 100, 0.5);
        if keep.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
