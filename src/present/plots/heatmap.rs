//! A generic annotated heatmap: a matrix of values, row and column labels, a
//! colour scale, optional value text in each cell, optional cell outlines and
//! an optional colour bar. Policies (prompt × response) use it here; phase
//! diagrams (a D-score over a 2-D parameter grid) are meant to use it too.

use super::style::{self, FONT};
use super::{format_tick, nice_ticks, DrawResult, Ticked};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A linear colour scale over `[lo, hi]`, interpolated between evenly spaced
/// colour stops; values outside are clamped, non-finite ones are grey.
#[derive(Debug, Clone, PartialEq)]
pub struct ColorScale {
    /// Value drawn in the first stop's colour.
    pub lo: f64,
    /// Value drawn in the last stop's colour.
    pub hi: f64,
    /// The colour stops, evenly spaced over `[lo, hi]`.
    pub stops: Vec<RGBColor>,
}

impl ColorScale {
    /// A scale from `stops[0]` at `lo` to the last stop at `hi`.
    pub fn new(lo: f64, hi: f64, stops: &[RGBColor]) -> Self {
        assert!(stops.len() >= 2, "a colour scale needs two stops");
        ColorScale {
            lo,
            hi,
            stops: stops.to_vec(),
        }
    }

    /// White to dark blue (matplotlib's "Blues"): probabilities.
    pub fn blues(lo: f64, hi: f64) -> Self {
        Self::new(
            lo,
            hi,
            &[
                RGBColor(0xf7, 0xfb, 0xff),
                RGBColor(0xde, 0xeb, 0xf7),
                RGBColor(0xc6, 0xdb, 0xef),
                RGBColor(0x9e, 0xca, 0xe1),
                RGBColor(0x6b, 0xae, 0xd6),
                RGBColor(0x42, 0x92, 0xc6),
                RGBColor(0x21, 0x71, 0xb5),
                RGBColor(0x08, 0x51, 0x9c),
                RGBColor(0x08, 0x30, 0x6b),
            ],
        )
    }

    /// Red at `-lim`, white at 0, green at `+lim`: signed data such as
    /// preference pairs (rejected -1, chosen +1).
    pub fn red_white_green(lim: f64) -> Self {
        Self::new(
            -lim,
            lim,
            &[
                RGBColor(0xc4, 0x26, 0x2e),
                RGBColor(0xf7, 0xf7, 0xf7),
                RGBColor(0x1a, 0x8a, 0x45),
            ],
        )
    }

    /// Viridis (dark purple to yellow), perceptually uniform: phase diagrams.
    pub fn viridis(lo: f64, hi: f64) -> Self {
        Self::new(
            lo,
            hi,
            &[
                RGBColor(0x44, 0x01, 0x54),
                RGBColor(0x48, 0x28, 0x78),
                RGBColor(0x3e, 0x4a, 0x89),
                RGBColor(0x31, 0x68, 0x8e),
                RGBColor(0x26, 0x82, 0x8e),
                RGBColor(0x1f, 0x9e, 0x89),
                RGBColor(0x35, 0xb7, 0x79),
                RGBColor(0x6e, 0xce, 0x58),
                RGBColor(0xb5, 0xde, 0x2b),
                RGBColor(0xfd, 0xe7, 0x25),
            ],
        )
    }

    /// The colour of `v`.
    pub fn color(&self, v: f64) -> RGBColor {
        if !v.is_finite() {
            return style::MISSING;
        }
        let span = self.hi - self.lo;
        let t = if span > 0.0 {
            ((v - self.lo) / span).clamp(0.0, 1.0)
        } else {
            0.5
        };
        let n = self.stops.len() - 1;
        let x = t * n as f64;
        let i = (x.floor() as usize).min(n - 1);
        let f = x - i as f64;
        let (a, b) = (self.stops[i], self.stops[i + 1]);
        let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * f).round() as u8;
        RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }
}

/// What to write inside each cell.
pub enum CellText {
    /// Nothing.
    None,
    /// The value with this many decimals ("n/a" when not finite).
    Fixed(usize),
    /// Any text; an empty string leaves the cell blank.
    Custom(Box<dyn Fn(f64) -> String + Send + Sync>),
    /// Each cell's own text, `[row][col]` (missing cells blank).
    Cells(Vec<Vec<String>>),
}

impl CellText {
    fn text(&self, v: f64) -> String {
        match self {
            CellText::None => String::new(),
            CellText::Fixed(_) if !v.is_finite() => "n/a".into(),
            CellText::Fixed(d) => format!("{v:.d$}", d = *d),
            CellText::Custom(f) => f(v),
            CellText::Cells(_) => String::new(),
        }
    }
}

/// A heatmap: `values[r][c]` is drawn in row `r` (row 0 at the top) and
/// column `c`.
pub struct Heatmap {
    /// Cell values, row-major (non-finite: grey).
    pub values: Vec<Vec<f64>>,
    /// Labels of the rows, top to bottom.
    pub row_labels: Vec<String>,
    /// Labels of the columns, left to right.
    pub col_labels: Vec<String>,
    /// Caption above the map ("" for none).
    pub title: String,
    /// Description under the column labels.
    pub x_desc: String,
    /// Description beside the row labels.
    pub y_desc: String,
    /// How values map to colours.
    pub scale: ColorScale,
    /// What is written inside each cell.
    pub text: CellText,
    /// Draw a colour bar with this description on the right.
    pub colorbar: Option<String>,
    /// Cells `(row, col)` framed in a colour (e.g. each prompt's pair).
    pub outlines: Vec<(usize, usize, RGBColor)>,
    /// Short tags `(row, col, text)` written in the upper part of a cell,
    /// its value text moving to the lower part (e.g. "S1" on a phase diagram).
    pub tags: Vec<(usize, usize, String)>,
}

impl Heatmap {
    /// A heatmap of `values` with rows and columns labelled by their index,
    /// no title, no cell text, no colour bar.
    pub fn new(values: Vec<Vec<f64>>, scale: ColorScale) -> Self {
        let rows = values.len();
        let cols = values.first().map_or(0, Vec::len);
        Heatmap {
            row_labels: (0..rows).map(|i| i.to_string()).collect(),
            col_labels: (0..cols).map(|i| i.to_string()).collect(),
            values,
            title: String::new(),
            x_desc: String::new(),
            y_desc: String::new(),
            scale,
            text: CellText::None,
            colorbar: None,
            outlines: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// Sets the caption and the two axis descriptions.
    pub fn titled(mut self, title: &str, x_desc: &str, y_desc: &str) -> Self {
        self.title = title.into();
        self.x_desc = x_desc.into();
        self.y_desc = y_desc.into();
        self
    }

    /// Sets what each cell shows.
    pub fn with_text(mut self, text: CellText) -> Self {
        self.text = text;
        self
    }
}

/// Black or white, whichever reads better on `bg`.
fn text_color_on(bg: RGBColor) -> RGBColor {
    let lum = 0.299 * bg.0 as f64 + 0.587 * bg.1 as f64 + 0.114 * bg.2 as f64;
    if lum > 150.0 {
        style::INK
    } else {
        WHITE
    }
}

fn text_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    size: u32,
) -> DrawResult<u32> {
    if text.is_empty() {
        return Ok(0);
    }
    Ok(area
        .estimate_text_size(text, &(FONT, size).into_text_style(area))?
        .0)
}

/// Draws `h` filling `area`.
pub fn draw_heatmap<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, h: &Heatmap) -> DrawResult {
    let rows = h.values.len();
    let cols = h.values.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let (area_w, _) = area.dim_in_pixel();
    let margin = 8u32;

    let mut row_label_w = 0;
    for l in &h.row_labels {
        row_label_w = row_label_w.max(text_width(area, l, style::TICK_SIZE)?);
    }
    let y_area = row_label_w + 16 + if h.y_desc.is_empty() { 0 } else { 32 };
    let x_area = style::TICK_SIZE
        + 14
        + if h.x_desc.is_empty() {
            0
        } else {
            style::AXIS_DESC_SIZE + 4
        };

    let bar_tick_w = match &h.colorbar {
        None => 0,
        Some(_) => {
            let ticks = nice_ticks(h.scale.lo, h.scale.hi, 5, false);
            let mut w = 0;
            for t in &ticks {
                w = w.max(text_width(
                    area,
                    &format_tick(*t, &ticks),
                    style::TICK_SIZE,
                )?);
            }
            w
        }
    };
    // Gap, bar, tick labels, and the bar's own rotated description.
    let bar_gap = 16;
    let bar_total = if h.colorbar.is_some() {
        bar_gap + 24 + 16 + bar_tick_w + style::AXIS_DESC_SIZE + 20
    } else {
        0
    };

    // Thin the column labels when they would collide.
    let plot_w_est = area_w
        .saturating_sub(y_area + 2 * margin + bar_total)
        .max(1) as f64;
    let cell_w_est = plot_w_est / cols as f64;
    let mut col_label_w = 0;
    for l in &h.col_labels {
        col_label_w = col_label_w.max(text_width(area, l, style::TICK_SIZE)?);
    }
    let every = ((col_label_w as f64 + 8.0) / cell_w_est).ceil().max(1.0) as usize;

    let centres = |n: usize| (0..n).map(|i| i as f64 + 0.5).collect::<Vec<_>>();
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(margin)
        .margin_right(margin + bar_total)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area);
    if !h.title.is_empty() {
        builder.caption(&h.title, (FONT, style::PANEL_TITLE_SIZE));
    }
    let x_keys: Vec<f64> = centres(cols).into_iter().step_by(every).collect();
    let mut chart = builder.build_cartesian_2d(
        Ticked::new(0.0, cols as f64, x_keys),
        Ticked::new(0.0, rows as f64, centres(rows)),
    )?;
    let col_fmt = |v: &f64| {
        h.col_labels
            .get(v.floor() as usize)
            .cloned()
            .unwrap_or_default()
    };
    // Row 0 is drawn at the top, so y counts rows from the bottom.
    let row_fmt = |v: &f64| {
        rows.checked_sub(1 + v.floor() as usize)
            .and_then(|r| h.row_labels.get(r).cloned())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(&h.x_desc)
        .y_desc(&h.y_desc)
        .x_label_formatter(&col_fmt)
        .y_label_formatter(&row_fmt)
        .label_style((FONT, style::TICK_SIZE).into_font().color(&style::INK))
        .axis_desc_style((FONT, style::AXIS_DESC_SIZE).into_font().color(&style::INK))
        .axis_style(style::INK.mix(0.0))
        // Invisible tick marks, kept for the gap between labels and cells.
        .set_all_tick_mark_size(6)
        .draw()?;

    let y_of = |r: usize| (rows - 1 - r) as f64;
    chart.draw_series(h.values.iter().enumerate().flat_map(|(r, row)| {
        row.iter().enumerate().map(move |(c, &v)| {
            Rectangle::new(
                [(c as f64, y_of(r)), (c as f64 + 1.0, y_of(r) + 1.0)],
                h.scale.color(v).filled(),
            )
        })
    }))?;
    // Thin white seams keep neighbouring cells of similar colour apart.
    chart.draw_series(h.values.iter().enumerate().flat_map(|(r, row)| {
        (0..row.len()).map(move |c| {
            Rectangle::new(
                [(c as f64, y_of(r)), (c as f64 + 1.0, y_of(r) + 1.0)],
                WHITE.stroke_width(1),
            )
        })
    }))?;
    let inset = 0.05;
    chart.draw_series(h.outlines.iter().filter(|o| o.0 < rows && o.1 < cols).map(
        |&(r, c, color)| {
            Rectangle::new(
                [
                    (c as f64 + inset, y_of(r) + inset),
                    (c as f64 + 1.0 - inset, y_of(r) + 1.0 - inset),
                ],
                color.stroke_width(3),
            )
        },
    ))?;

    let (xr, yr) = chart.plotting_area().get_pixel_range();
    if !matches!(h.text, CellText::None) {
        let cell_w = (xr.end - xr.start) as f64 / cols as f64;
        let cell_h = (yr.end - yr.start) as f64 / rows as f64;
        let texts: Vec<Vec<String>> = h
            .values
            .iter()
            .enumerate()
            .map(|(r, row)| {
                row.iter()
                    .enumerate()
                    .map(|(c, &v)| match &h.text {
                        CellText::Cells(t) => t
                            .get(r)
                            .and_then(|row| row.get(c))
                            .cloned()
                            .unwrap_or_default(),
                        other => other.text(v),
                    })
                    .collect()
            })
            .collect();
        let widest = texts
            .iter()
            .flatten()
            .max_by_key(|t| t.chars().count())
            .cloned()
            .unwrap_or_default();
        let (tw, th) = if widest.is_empty() {
            (1, 1)
        } else {
            area.estimate_text_size(
                &widest,
                &(FONT, style::CELL_TEXT_SIZE).into_text_style(area),
            )?
        };
        let fit = ((cell_w - 6.0) / tw.max(1) as f64)
            .min((cell_h - 4.0) / th.max(1) as f64)
            .min(1.0);
        let size = ((style::CELL_TEXT_SIZE as f64 * fit).floor() as u32).max(8);
        let centre = Pos::new(HPos::Center, VPos::Center);
        chart.draw_series(texts.into_iter().enumerate().flat_map(|(r, row)| {
            let h = &h;
            row.into_iter().enumerate().map(move |(c, t)| {
                let fg = text_color_on(h.scale.color(h.values[r][c]));
                // A tagged cell has its tag on top and its value below.
                let tagged = h.tags.iter().any(|g| g.0 == r && g.1 == c);
                let dy = if tagged { 0.3 } else { 0.5 };
                Text::new(
                    t,
                    (c as f64 + 0.5, y_of(r) + dy),
                    (FONT, size).into_font().color(&fg).pos(centre),
                )
            })
        }))?;
    }

    if !h.tags.is_empty() {
        let cell_h = (yr.end - yr.start) as f64 / rows as f64;
        let size = ((cell_h * 0.3).floor() as u32).clamp(8, style::CELL_TEXT_SIZE);
        let centre = Pos::new(HPos::Center, VPos::Center);
        chart.draw_series(h.tags.iter().filter(|t| t.0 < rows && t.1 < cols).map(
            |(r, c, t)| {
                let fg = text_color_on(h.scale.color(h.values[*r][*c]));
                Text::new(
                    t.clone(),
                    (*c as f64 + 0.5, y_of(*r) + 0.74),
                    (FONT, size).into_font().color(&fg).pos(centre),
                )
            },
        ))?;
    }

    if let Some(desc) = &h.colorbar {
        let base = area.get_base_pixel();
        let x0 = (xr.end - base.0) as u32 + bar_gap;
        let y0 = (yr.start - base.1) as u32;
        let bar_h = (yr.end - yr.start) as u32;
        let bar_area = area.clone().shrink((x0, y0), (bar_total - bar_gap, bar_h));
        draw_colorbar(&bar_area, &h.scale, Some(desc), 24, (5, false))?;
    }
    Ok(())
}

/// A vertical colour bar `bar_w` pixels wide, about `n_ticks` ticks and
/// (if given) `desc` on its right; `ends` puts ticks at the scale's ends.
/// The bar is filled before the axis is drawn, so that no label is covered.
pub(super) fn draw_colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    scale: &ColorScale,
    desc: Option<&str>,
    bar_w: u32,
    (n_ticks, ends): (usize, bool),
) -> DrawResult {
    let (w, _) = area.dim_in_pixel();
    let ticks = nice_ticks(scale.lo, scale.hi, n_ticks, ends);
    let mut chart = ChartBuilder::on(area)
        .right_y_label_area_size(w.saturating_sub(bar_w))
        .build_cartesian_2d(0.0..1.0, Ticked::new(scale.lo, scale.hi, ticks.clone()))?;
    let n = 100;
    let span = scale.hi - scale.lo;
    chart.draw_series((0..n).map(|i| {
        let a = scale.lo + span * i as f64 / n as f64;
        let b = scale.lo + span * (i + 1) as f64 / n as f64;
        Rectangle::new([(0.0, a), (1.0, b)], scale.color((a + b) / 2.0).filled())
    }))?;
    let fmt = |v: &f64| format_tick(*v, &ticks);
    let mut mesh = chart.configure_mesh();
    // Longer ticks keep right-aligned labels clear of the bar whatever
    // width the font measures them at.
    mesh.disable_mesh()
        .disable_x_axis()
        .set_tick_mark_size(LabelAreaPosition::Right, 8)
        .y_label_formatter(&fmt)
        .label_style((FONT, style::TICK_SIZE).into_font().color(&style::INK))
        .axis_desc_style((FONT, style::AXIS_DESC_SIZE).into_font().color(&style::INK))
        .axis_style(style::INK);
    if let Some(d) = desc {
        mesh.y_desc(d);
    }
    mesh.draw()?;
    Ok(())
}
