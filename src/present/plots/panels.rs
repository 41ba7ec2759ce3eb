//! Line charts with legends placed outside the plotting area, and the three
//! metric panels of the paper's Figure 2 built on them.

use super::style::{self, FONT};
use super::{format_tick, nice_ticks, DrawResult, Ticked};
use crate::engine::train::RunResult;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::f64::consts::LN_10;

/// One curve: its legend label, colour, dash, and `(x, y)` points (for a
/// log10 axis, `y` is already the log10 of the value).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Line colour.
    pub color: RGBColor,
    /// Draw the line dashed.
    pub dashed: bool,
    /// The `(x, y)` points, in axis units.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A curve from `(x, y)` points, dropping non-finite ones (a log of an
    /// underflowed probability, say) rather than letting them wreck the axis.
    pub fn new(
        label: &str,
        color: RGBColor,
        dashed: bool,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        Series {
            label: label.into(),
            color,
            dashed,
            points: points
                .into_iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect(),
        }
    }

    /// Its legend entry.
    pub fn entry(&self) -> LegendEntry {
        LegendEntry {
            label: self.label.clone(),
            color: self.color,
            dashed: self.dashed,
        }
    }
}

/// A legend line: a sample of the curve's stroke and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    /// Legend label.
    pub label: String,
    /// Line colour.
    pub color: RGBColor,
    /// Draw the sample dashed.
    pub dashed: bool,
}

/// One axis: range, tick positions and description. On a `log10` axis the
/// coordinates are base-10 exponents and ticks read `1e{k}`, which keeps
/// values like 1e-40 or 1e25 (beyond comfortable f64 plotting) drawable.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Lower end (an exponent on a log10 axis).
    pub lo: f64,
    /// Upper end (an exponent on a log10 axis).
    pub hi: f64,
    /// Tick positions, in axis units.
    pub ticks: Vec<f64>,
    /// Coordinates are base-10 exponents; ticks read `1e{k}`.
    pub log10: bool,
    /// The axis description drawn beside it.
    pub desc: String,
}

impl Axis {
    /// A linear axis over `[lo, hi]` with about 6 nice ticks.
    pub fn linear(lo: f64, hi: f64, desc: &str) -> Self {
        Axis {
            lo,
            hi,
            ticks: nice_ticks(lo, hi, 6, false),
            log10: false,
            desc: desc.into(),
        }
    }

    /// A log axis over exponents `[lo, hi]` with about 7 whole-exponent ticks.
    pub fn log10(lo: f64, hi: f64, desc: &str) -> Self {
        Axis {
            lo,
            hi,
            ticks: nice_ticks(lo, hi, 7, true),
            log10: true,
            desc: desc.into(),
        }
    }

    /// A log axis covering every finite exponent in `ys`, padded a little
    /// and widened to whole exponents; `cap` bounds the top (0 for
    /// probabilities, which never exceed 1).
    pub fn log10_covering(ys: impl IntoIterator<Item = f64>, cap: Option<f64>, desc: &str) -> Self {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for y in ys.into_iter().filter(|y| y.is_finite()) {
            lo = lo.min(y);
            hi = hi.max(y);
        }
        if lo > hi {
            (lo, hi) = (-1.0, 0.0);
        }
        let pad = 0.03 * (hi - lo).max(1.0);
        let mut lo = (lo - pad).floor();
        let mut hi = (hi + pad).ceil();
        if let Some(c) = cap {
            hi = hi.min(c);
        }
        if hi - lo < 1.0 {
            lo = hi - 1.0;
        }
        if lo.is_nan() {
            lo = -1.0;
            hi = 0.0;
        }
        Axis::log10(lo, hi, desc)
    }

    /// The label of tick `v`.
    pub fn label(&self, v: f64) -> String {
        if self.log10 {
            let k = v.round() as i64;
            if k == 0 {
                "1".into()
            } else {
                format!("1e{k}")
            }
        } else {
            format_tick(v, &self.ticks)
        }
    }
}

fn text_size<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    size: u32,
) -> DrawResult<(u32, u32)> {
    Ok(area.estimate_text_size(text, &(FONT, size).into_text_style(area))?)
}

/// A line chart of `series` on axes `x` and `y`, with `title` as caption
/// (no legend: see [`draw_legend`], which goes outside the plot).
/// The lab's chart frame: optional caption, ticks labelled by `xl`/`yl`,
/// axis descriptions, grid lines; `y_label_area` is the width left for the
/// y tick labels and description. Every line, band and field panel draws in one.
pub(crate) fn framed_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: &Axis,
    y: &Axis,
    xl: &dyn Fn(f64) -> String,
    yl: &dyn Fn(f64) -> String,
    y_label_area: u32,
) -> DrawResult<ChartContext<'a, DB, Cartesian2d<Ticked, Ticked>>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(10)
        .margin_right(24)
        .x_label_area_size(style::TICK_SIZE + style::AXIS_DESC_SIZE + 22)
        .y_label_area_size(y_label_area);
    if !title.is_empty() {
        builder.caption(title, (FONT, style::PANEL_TITLE_SIZE));
    }
    let mut chart = builder.build_cartesian_2d(
        Ticked::new(x.lo, x.hi, x.ticks.clone()),
        Ticked::new(y.lo, y.hi, y.ticks.clone()),
    )?;
    let xf = |v: &f64| xl(*v);
    let yf = |v: &f64| yl(*v);
    chart
        .configure_mesh()
        .x_desc(&x.desc)
        .y_desc(&y.desc)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .bold_line_style(style::GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .label_style((FONT, style::TICK_SIZE).into_font().color(&style::INK))
        .axis_desc_style((FONT, style::AXIS_DESC_SIZE).into_font().color(&style::INK))
        .axis_style(style::INK.stroke_width(1))
        .draw()?;
    Ok(chart)
}

/// Draws `series` as lines on a framed chart with axes `x` and `y` and a
/// legend, titled `title` ("" for none).
pub fn line_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    x: &Axis,
    y: &Axis,
    series: &[Series],
) -> DrawResult {
    let mut y_label_w = 0;
    for t in &y.ticks {
        y_label_w = y_label_w.max(text_size(area, &y.label(*t), style::TICK_SIZE)?.0);
    }
    let xl = |v: f64| x.label(v);
    let yl = |v: f64| y.label(v);
    let mut chart = framed_chart(area, title, x, y, &xl, &yl, y_label_w + 48)?;
    let width = chart.plotting_area().dim_in_pixel().0.max(1) as usize;
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        let points = decimate(&s.points, x.lo, x.hi, width);
        if s.dashed {
            chart.draw_series(DashedLineSeries::new(
                points,
                10,
                6,
                s.color.stroke_width(style::LINE_WIDTH - 1),
            ))?;
        } else {
            chart.draw_series(LineSeries::new(
                points,
                s.color.stroke_width(style::LINE_WIDTH),
            ))?;
        }
    }
    // Close the frame on the top and right.
    chart.plotting_area().draw(&PathElement::new(
        [(x.lo, y.hi), (x.hi, y.hi), (x.hi, y.lo)],
        style::INK.stroke_width(1),
    ))?;
    Ok(())
}

/// At most four points per pixel column (first, lowest, highest, last, in
/// x order) of x-sorted `points`: thousands of sub-pixel segments render as a
/// ragged thick line, while keeping each column's extremes keeps every
/// spike visible.
pub(crate) fn decimate(points: &[(f64, f64)], lo: f64, hi: f64, width: usize) -> Vec<(f64, f64)> {
    if points.len() <= 2 * width || hi <= lo {
        return points.to_vec();
    }
    let column = |x: f64| (((x - lo) / (hi - lo)) * width as f64).floor() as i64;
    let mut out = Vec::with_capacity(4 * width + 4);
    let mut i = 0;
    while i < points.len() {
        let c = column(points[i].0);
        let mut j = i;
        let (mut lo_k, mut hi_k) = (i, i);
        while j < points.len() && column(points[j].0) == c {
            if points[j].1 < points[lo_k].1 {
                lo_k = j;
            }
            if points[j].1 > points[hi_k].1 {
                hi_k = j;
            }
            j += 1;
        }
        let mut keep = [i, lo_k, hi_k, j - 1];
        keep.sort_unstable();
        let mut last = usize::MAX;
        for k in keep {
            if k != last {
                out.push(points[k]);
                last = k;
            }
        }
        i = j;
    }
    out
}

/// Legend geometry for `width` pixels: (columns, rows, column width, row height).
fn legend_layout<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    width: u32,
    entries: &[LegendEntry],
) -> DrawResult<(usize, usize, u32, u32)> {
    let mut w = 0;
    for e in entries {
        w = w.max(text_size(area, &e.label, style::LEGEND_SIZE)?.0);
    }
    let col_w = 44 + 8 + w + 28;
    let cols = ((width / col_w.max(1)) as usize).clamp(1, entries.len().max(1));
    let rows = entries.len().div_ceil(cols);
    let row_h = style::LEGEND_SIZE * 17 / 10;
    Ok((cols, rows, col_w, row_h))
}

/// Height in pixels of the legend for `entries` laid out in `width` pixels.
pub fn legend_height<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    width: u32,
    entries: &[LegendEntry],
) -> DrawResult<u32> {
    if entries.is_empty() {
        return Ok(0);
    }
    let (_, rows, _, row_h) = legend_layout(area, width, entries)?;
    Ok(rows as u32 * row_h + 16)
}

/// Draws `entries` as a grid of (stroke sample, label), as many columns as
/// fit, centred in `area`; meant for a strip beside or below the charts so
/// it never covers a curve.
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
) -> DrawResult {
    if entries.is_empty() {
        return Ok(());
    }
    let (w, _) = area.dim_in_pixel();
    let (cols, _, col_w, row_h) = legend_layout(area, w, entries)?;
    let used = cols as u32 * col_w;
    let x0 = (w.saturating_sub(used) / 2) as i32 + 14;
    let font = (FONT, style::LEGEND_SIZE)
        .into_font()
        .color(&style::INK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, e) in entries.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let x = x0 + c as i32 * col_w as i32;
        let y = 8 + r as i32 * row_h as i32 + row_h as i32 / 2;
        let line = [(x, y), (x + 44, y)];
        if e.dashed {
            area.draw(&DashedPathElement::new(
                line,
                10,
                6,
                e.color.stroke_width(style::LINE_WIDTH - 1),
            ))?;
        } else {
            area.draw(&PathElement::new(
                line,
                e.color.stroke_width(style::LINE_WIDTH),
            ))?;
        }
        area.draw(&Text::new(e.label.clone(), (x + 52, y), font.clone()))?;
    }
    Ok(())
}

/// The three panels of the paper's Figure 2, each a view of
/// [`RunResult::metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    /// Left: chosen, rejected and unseen probabilities, linear in [0, 1].
    Probability,
    /// Middle: the mean `|∂ℓ/∂π+|` and `|∂ℓ/∂π-|`, log scale.
    Gradient,
    /// Right: the probabilities of the left panel on a log scale.
    LogProbability,
}

impl Panel {
    /// Figure 2's panels, left to right.
    pub const FIG2: [Panel; 3] = [Panel::Probability, Panel::Gradient, Panel::LogProbability];

    /// Panel caption.
    pub fn title(self) -> &'static str {
        match self {
            Panel::Probability => "probabilities",
            Panel::Gradient => "gradient magnitudes",
            Panel::LogProbability => "probabilities, log scale",
        }
    }

    /// The panel's curves for one run.
    pub fn series(self, r: &RunResult) -> Vec<Series> {
        let m = &r.metrics;
        let curve =
            |label: &str, color, dashed, f: &dyn Fn(&crate::engine::metrics::MetricsRow) -> f64| {
                Series::new(
                    label,
                    color,
                    dashed,
                    m.iter().map(|row| (row.epoch as f64, f(row))),
                )
            };
        match self {
            Panel::Probability => {
                let mut v = vec![
                    curve("avg chosen", style::CHOSEN, false, &|r| r.avg_chosen),
                    curve("min chosen", style::CHOSEN_MIN, true, &|r| r.min_chosen),
                    curve("avg rejected", style::REJECTED, false, &|r| r.avg_rejected),
                    curve("max rejected", style::REJECTED_MAX, true, &|r| {
                        r.max_rejected
                    }),
                    curve(
                        "avg unseen (outside own pair)",
                        style::UNSEEN,
                        false,
                        &|r| r.avg_unseen,
                    ),
                ];
                // Absent when every response appears in some pair.
                if m.iter().any(|r| r.avg_unseen_strict.is_some()) {
                    v.push(curve(
                        "avg unseen strict (in no pair)",
                        style::UNSEEN_STRICT,
                        true,
                        &|r| r.avg_unseen_strict.unwrap_or(f64::NAN),
                    ));
                }
                v
            }
            Panel::Gradient => vec![
                curve("avg |∂ℓ/∂π+| (chosen)", style::CHOSEN, false, &|r| {
                    r.log10_grad_pi_plus.unwrap_or(f64::NAN)
                }),
                curve(
                    "avg |∂ℓ/∂π−| (rejected)",
                    style::REJECTED,
                    false,
                    &|r| r.log10_grad_pi_minus.unwrap_or(f64::NAN),
                ),
            ],
            Panel::LogProbability => vec![
                curve("avg chosen", style::CHOSEN, false, &|r| {
                    r.logp_avg_chosen / LN_10
                }),
                curve("min chosen", style::CHOSEN_MIN, true, &|r| {
                    r.logp_min_chosen / LN_10
                }),
                curve("avg rejected", style::REJECTED, false, &|r| {
                    r.logp_avg_rejected / LN_10
                }),
                curve("max rejected", style::REJECTED_MAX, true, &|r| {
                    r.logp_max_rejected / LN_10
                }),
                curve(
                    "avg unseen (outside own pair)",
                    style::UNSEEN,
                    false,
                    &|r| r.logp_avg_unseen / LN_10,
                ),
            ],
        }
    }

    /// A y axis that fits this panel's curves for all `runs` (so rows of a
    /// comparison share their ranges).
    pub fn y_axis(self, runs: &[&RunResult]) -> Axis {
        let all = || {
            runs.iter()
                .flat_map(move |r| self.series(r))
                .flat_map(|s| s.points.into_iter().map(|p| p.1))
        };
        match self {
            Panel::Probability => Axis::linear(0.0, 1.0, "probability"),
            Panel::Gradient => Axis::log10_covering(all(), None, "|∂ℓ/∂π|"),
            Panel::LogProbability => Axis::log10_covering(all(), Some(0.0), "probability"),
        }
    }
}

/// An epoch axis from 0 to the last recorded epoch of any of `runs`.
pub fn epoch_axis(runs: &[&RunResult]) -> Axis {
    let last = runs
        .iter()
        .filter_map(|r| r.metrics.last())
        .map(|m| m.epoch)
        .max()
        .unwrap_or(1)
        .max(1);
    Axis {
        ticks: nice_ticks(0.0, last as f64, 5, true),
        ..Axis::linear(0.0, last as f64, "epoch")
    }
}

/// Draws `panels` side by side for each run in `rows` (a header line above
/// a row when its name is not empty), all rows sharing each panel's axes,
/// and one legend per panel column below the last row.
pub fn panel_grid<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[(&str, &RunResult)],
    panels: &[Panel],
) -> DrawResult {
    if rows.is_empty() || panels.is_empty() {
        return Ok(());
    }
    let runs: Vec<&RunResult> = rows.iter().map(|r| r.1).collect();
    let x = epoch_axis(&runs);
    let ys: Vec<Axis> = panels.iter().map(|p| p.y_axis(&runs)).collect();
    let (w, h) = area.dim_in_pixel();
    let col_w = w / panels.len() as u32;
    let legends: Vec<Vec<LegendEntry>> = panels
        .iter()
        .map(|p| p.series(rows[0].1).iter().map(Series::entry).collect())
        .collect();
    let mut legend_h = 0;
    for l in &legends {
        legend_h = legend_h.max(legend_height(area, col_w, l)?);
    }
    let (grid, legend_strip) = area.split_vertically(h.saturating_sub(legend_h));
    let row_areas = grid.split_evenly((rows.len(), 1));
    for ((name, run), row_area) in rows.iter().zip(&row_areas) {
        let body = if name.is_empty() {
            row_area.clone()
        } else {
            let header_h = style::PANEL_TITLE_SIZE + 18;
            let (head, body) = row_area.split_vertically(header_h);
            let (hw, hh) = head.dim_in_pixel();
            head.draw(&Text::new(
                name.to_string(),
                (hw as i32 / 2, hh as i32 / 2 + 4),
                (FONT, style::PANEL_TITLE_SIZE + 2)
                    .into_font()
                    .color(&style::INK)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            ))?;
            // A rule under the header separates the rows.
            head.draw(&PathElement::new(
                [(20, hh as i32 - 1), (hw as i32 - 20, hh as i32 - 1)],
                style::GRID.stroke_width(2),
            ))?;
            body
        };
        for ((panel, y), cell) in panels
            .iter()
            .zip(&ys)
            .zip(body.split_evenly((1, panels.len())))
        {
            line_chart(&cell, panel.title(), &x, y, &panel.series(run))?;
        }
    }
    for (l, cell) in legends
        .iter()
        .zip(legend_strip.split_evenly((1, panels.len())))
    {
        draw_legend(&cell, l)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::decimate;

    #[test]
    fn decimate_keeps_ends_and_extremes() {
        let pts: Vec<(f64, f64)> = (0..=2000)
            .map(|i| (i as f64, if i == 777 { 50.0 } else { (i % 7) as f64 }))
            .collect();
        let d = decimate(&pts, 0.0, 2000.0, 100);
        assert!(d.len() <= 4 * 101);
        assert_eq!(d.first(), pts.first());
        assert_eq!(d.last(), pts.last());
        assert!(d.contains(&(777.0, 50.0)));
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
