//! Figures of the policies beyond the paper's MLP (issue 5): the D-scores of
//! each policy family ([`families`]) and the log-linear policy's degradation
//! against the similarity of each pair's response embeddings ([`similarity`]).
//! Both are drawn from sweep tables and points already in memory; the
//! numbers come from [`crate::present::findings`].

use super::figures::title_strip;
use super::panels::{draw_legend, legend_height, Axis, LegendEntry};
use super::style::{self, FONT};
use super::{nice_ticks, save, DrawResult, Figure, Ticked};
use crate::analysis::runs::{RunsTable, Stat};
use crate::analysis::stats::Quantiles;
use crate::error::{Error, Result};
use crate::maths::data::SCENARIOS;
use crate::studies::beyond::{SimPoint, FAMILIES};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One colour per scenario (Okabe-Ito, as the sweep figures use).
pub const SCENARIO_COLORS: [RGBColor; 4] = [
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xcc, 0x33, 0x11),
];
/// Log-linear policy with the response embeddings frozen.
pub const FROZEN: RGBColor = RGBColor(0xcc, 0x33, 0x11);
/// Log-linear policy with the response embeddings trained.
pub const TRAINED: RGBColor = RGBColor(0x00, 0x72, 0xb2);

/// A point with an optional error bar from `interval.0` to `interval.1` in
/// y (the p10–p90 interval over seeds, so it never leaves the data's range).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    /// Position on the x axis.
    pub x: f64,
    /// Position on the y axis (the median over seeds).
    pub y: f64,
    /// The error bar's `(low, high)` in y, if any.
    pub interval: Option<(f64, f64)>,
}

/// A set of marks drawn alike: filled circles of `radius` (0: none) at
/// opacity `alpha`, optionally joined by a line in x order.
#[derive(Debug, Clone, PartialEq)]
pub struct Marks {
    /// Colour of the circles and the joining line.
    pub color: RGBColor,
    /// Circle radius in pixels (0: no circles).
    pub radius: u32,
    /// Opacity of the circles, 0–1.
    pub alpha: f64,
    /// Join the marks by a line in x order.
    pub line: bool,
    /// Draw that line dashed.
    pub dashed: bool,
    /// The marks.
    pub points: Vec<Mark>,
}

impl Marks {
    /// Medians with their intervals, joined by a line when `line`.
    pub fn means(color: RGBColor, line: bool, points: Vec<Mark>) -> Self {
        Marks {
            color,
            radius: 6,
            alpha: 1.0,
            line,
            dashed: false,
            points,
        }
    }

    /// A faint cloud of individual runs.
    pub fn cloud(color: RGBColor, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Marks {
            color,
            radius: 3,
            alpha: 0.35,
            line: false,
            dashed: false,
            points: points
                .into_iter()
                .map(|(x, y)| Mark {
                    x,
                    y,
                    interval: None,
                })
                .collect(),
        }
    }

    /// A dashed horizontal line at `y` across `[lo, hi]`.
    pub fn hline(color: RGBColor, y: f64, lo: f64, hi: f64) -> Self {
        Marks {
            color,
            radius: 0,
            alpha: 1.0,
            line: true,
            dashed: true,
            points: [lo, hi]
                .into_iter()
                .map(|x| Mark {
                    x,
                    y,
                    interval: None,
                })
                .collect(),
        }
    }
}

/// A linear value axis over the data range `[lo, hi]`, padded by 5 % on
/// each side so that no mark sits on the frame; ticks stay inside.
pub fn padded_axis(lo: f64, hi: f64, desc: &str) -> Axis {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 0.5, lo + 0.5)
    } else {
        (0.0, 1.0)
    };
    let pad = 0.05 * (hi - lo);
    Axis {
        ticks: nice_ticks(lo - pad, hi + pad, 6, false),
        ..Axis::linear(lo - pad, hi + pad, desc)
    }
}

/// A chart of point sets on axes `x` and `y`. With `categories`, the x
/// axis is categorical: category `i` sits at `x = i` and is labelled by name.
pub fn point_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    x: &Axis,
    y: &Axis,
    categories: Option<&[&str]>,
    marks: &[Marks],
) -> DrawResult {
    let style_of = |size| (FONT, size).into_font().color(&style::INK);
    let mut y_label_w = 0;
    for t in &y.ticks {
        let (w, _) = area.estimate_text_size(&y.label(*t), &style_of(style::TICK_SIZE))?;
        y_label_w = y_label_w.max(w);
    }
    // Category names go on two lines ("log-linear" / "(V frozen)"), drawn below.
    let label_lines = if categories.is_some() { 2 } else { 1 };
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(10)
        .margin_right(24)
        .x_label_area_size(label_lines * (style::TICK_SIZE + 4) + style::AXIS_DESC_SIZE + 18)
        .y_label_area_size(y_label_w + 48);
    if !title.is_empty() {
        builder.caption(title, (FONT, style::PANEL_TITLE_SIZE));
    }
    let x_ticks = match categories {
        Some(c) => (0..c.len()).map(|i| i as f64).collect(),
        None => x.ticks.clone(),
    };
    let mut chart = builder.build_cartesian_2d(
        Ticked::new(x.lo, x.hi, x_ticks),
        Ticked::new(y.lo, y.hi, y.ticks.clone()),
    )?;
    let xf = |v: &f64| match categories {
        Some(_) => String::new(),
        None => x.label(*v),
    };
    let yf = |v: &f64| y.label(*v);
    chart
        .configure_mesh()
        .x_desc(&x.desc)
        .y_desc(&y.desc)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .bold_line_style(style::GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .label_style(style_of(style::TICK_SIZE))
        .axis_desc_style(style_of(style::AXIS_DESC_SIZE))
        .axis_style(style::INK.stroke_width(1))
        .draw()?;
    if let Some(c) = categories {
        let (bx, by) = area.get_base_pixel();
        let font = style_of(style::TICK_SIZE).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, name) in c.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(i as f64, y.lo));
            let lines: Vec<String> = match name.split_once(" (") {
                Some((a, b)) => vec![a.to_string(), format!("({b}")],
                None => vec![name.to_string()],
            };
            for (k, line) in lines.into_iter().enumerate() {
                area.draw(&Text::new(
                    line,
                    (
                        px - bx,
                        py - by + 8 + k as i32 * (style::TICK_SIZE as i32 + 4),
                    ),
                    font.clone(),
                ))?;
            }
        }
    }
    let inside = |m: &Mark| m.x.is_finite() && m.y.is_finite();
    for s in marks {
        let color = s.color.mix(s.alpha);
        let mut pts: Vec<Mark> = s.points.iter().copied().filter(inside).collect();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        if s.line && pts.len() > 1 {
            let line = pts.iter().map(|m| (m.x, m.y));
            if s.dashed {
                chart.draw_series(DashedLineSeries::new(
                    line,
                    10,
                    6,
                    color.stroke_width(style::LINE_WIDTH - 1),
                ))?;
            } else {
                chart.draw_series(LineSeries::new(line, color.stroke_width(style::LINE_WIDTH)))?;
            }
        }
        for m in &pts {
            if let Some((lo, hi)) = m
                .interval
                .filter(|(lo, hi)| lo.is_finite() && hi.is_finite() && hi > lo)
            {
                let cap = 0.012 * (x.hi - x.lo);
                let stroke = color.stroke_width(2);
                chart
                    .plotting_area()
                    .draw(&PathElement::new([(m.x, lo), (m.x, hi)], stroke))?;
                for yv in [lo, hi] {
                    chart.plotting_area().draw(&PathElement::new(
                        [(m.x - cap, yv), (m.x + cap, yv)],
                        stroke,
                    ))?;
                }
            }
            if s.radius > 0 {
                chart
                    .plotting_area()
                    .draw(&Circle::new((m.x, m.y), s.radius, color.filled()))?;
            }
        }
    }
    chart.plotting_area().draw(&PathElement::new(
        [(x.lo, y.hi), (x.hi, y.hi), (x.hi, y.lo)],
        style::INK.stroke_width(1),
    ))?;
    Ok(())
}

/// One panel: title, axes, categories and marks.
struct PanelSpec {
    title: String,
    x: Axis,
    y: Axis,
    categories: Option<Vec<&'static str>>,
    marks: Vec<Marks>,
}

/// Panels on a grid of `cols` columns under a title, one legend below.
struct PanelsFig {
    title: String,
    size: (u32, u32),
    cols: usize,
    panels: Vec<PanelSpec>,
    legend: Vec<LegendEntry>,
}

impl Figure for PanelsFig {
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = title_strip(root, &self.title)?;
        let (w, h) = body.dim_in_pixel();
        let legend_h = legend_height(&body, w, &self.legend)?;
        let (grid, legend) = body.split_vertically(h.saturating_sub(legend_h));
        let rows = self.panels.len().div_ceil(self.cols);
        for (p, cell) in self.panels.iter().zip(grid.split_evenly((rows, self.cols))) {
            point_chart(
                &cell,
                &p.title,
                &p.x,
                &p.y,
                p.categories.as_deref(),
                &p.marks,
            )?;
        }
        draw_legend(&legend, &self.legend)
    }
}

fn marker_entry(label: &str, color: RGBColor) -> LegendEntry {
    LegendEntry {
        label: label.into(),
        color,
        dashed: false,
    }
}

const FAMILY_SCORES: [(&str, &str); 3] = [
    ("drop", "drop (orders of magnitude)"),
    ("degradation", "degradation (relative fall from peak)"),
    ("dispersion", "dispersion (rise of avg unseen)"),
];

/// The D-scores of each policy family (the `policy` column of
/// `families.toml`'s runs) in each scenario: median and p10–p90 over seeds,
/// with the individual seeds as faint dots; one panel per D-score.
pub fn families(stem: &Path, runs: &RunsTable, title: &str) -> Result<()> {
    categories(
        stem,
        runs,
        "policy",
        "policy family",
        &FAMILIES,
        &FAMILY_SCORES,
        title,
    )
}

/// Scores of the runs grouped by the values of column `column` (`cats`:
/// (value in the column, label), in display order) and by scenario: median
/// and p10–p90 over seeds, seeds as faint dots, one panel per
/// `(score, description)`.
pub fn categories(
    stem: &Path,
    runs: &RunsTable,
    column: &str,
    x_desc: &str,
    cats_all: &[(&str, &'static str)],
    scores: &[(&str, &str)],
    title: &str,
) -> Result<()> {
    let fam_col = runs.col(column)?;
    let present: Vec<(&str, &'static str)> = cats_all
        .iter()
        .copied()
        .filter(|(k, _)| runs.rows.iter().any(|r| r[fam_col] == *k))
        .collect();
    let cats: Vec<&'static str> = present.iter().map(|(_, l)| *l).collect();
    let keys: Vec<&str> = present.iter().map(|(k, _)| *k).collect();
    if keys.is_empty() {
        return Err(Error::io(
            stem,
            format!("cannot draw: no known value of `{column}` in the runs"),
        ));
    }
    let scenarios: Vec<&str> = SCENARIOS
        .iter()
        .copied()
        .filter(|s| {
            runs.filter("data.scenario", s)
                .is_ok_and(|t| !t.rows.is_empty())
        })
        .collect();
    let n = scenarios.len().max(1) as f64;
    let offset = |j: usize| (j as f64 - (n - 1.0) / 2.0) * (0.72 / n);
    let mut panels = Vec::new();
    for &(score, desc) in scores {
        let mut marks = Vec::new();
        let (mut lo, mut hi) = (0.0f64, f64::NEG_INFINITY);
        for (j, (sc, color)) in scenarios.iter().zip(SCENARIO_COLORS).enumerate() {
            let sub = runs.filter("data.scenario", sc)?;
            let mut means = Vec::new();
            let mut cloud = Vec::new();
            for (i, fam) in keys.iter().enumerate() {
                let t = sub.filter(column, fam)?;
                if t.rows.is_empty() {
                    continue;
                }
                let x = i as f64 + offset(j);
                let vc = t.col(score)?;
                let vals: Vec<f64> = t.rows.iter().filter_map(|r| r[vc].parse().ok()).collect();
                let s = Stat::of(&vals);
                let q = Quantiles::of(&vals);
                // The interval lies within the values, so they bound the axis.
                lo = lo.min(s.min);
                hi = hi.max(s.max);
                means.push(Mark {
                    x,
                    y: q.median,
                    interval: Some((q.p10, q.p90)),
                });
                cloud.extend(vals.iter().map(|&v| (x, v)));
            }
            marks.push(Marks::cloud(color, cloud));
            marks.push(Marks::means(color, false, means));
        }
        let y = padded_axis(lo, hi.max(lo + 1e-3), desc);
        panels.push(PanelSpec {
            title: score.to_string(),
            x: Axis {
                ticks: vec![],
                ..Axis::linear(-0.5, keys.len() as f64 - 0.5, x_desc)
            },
            y,
            categories: Some(cats.clone()),
            marks,
        });
    }
    let legend = scenarios
        .iter()
        .zip(SCENARIO_COLORS)
        .map(|(s, c)| marker_entry(crate::maths::data::scenario_title(s), c))
        .collect();
    let cols = if scores.len() == 4 {
        2
    } else {
        scores.len().min(3)
    };
    let rows = scores.len().div_ceil(cols) as u32;
    save(
        &PanelsFig {
            title: title.into(),
            size: (750 * cols as u32, 120 + 600 * rows),
            cols,
            panels,
            legend,
        },
        stem,
    )
}

/// Median and p10–p90 of `f` over the points of each initial cosine, for
/// one freeze mode.
fn by_cosine(pts: &[&SimPoint], f: impl Fn(&SimPoint) -> f64) -> Vec<Mark> {
    let mut xs: Vec<f64> = pts.iter().map(|p| p.init_cosine).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs.into_iter()
        .map(|x| {
            let v: Vec<f64> = pts
                .iter()
                .filter(|p| p.init_cosine == x)
                .map(|p| f(p))
                .collect();
            let q = Quantiles::of(&v);
            Mark {
                x,
                y: q.median,
                interval: Some((q.p10, q.p90)),
            }
        })
        .collect()
}

/// The log-linear policy's D-scores against the chosen/rejected embedding
/// similarity: degradation, dispersion and the final chosen probability
/// against the initial pair cosine (median and p10–p90 over seeds, runs as
/// dots),
/// and degradation against the mean CHES score after the reference fit
/// (one dot per run); `V` frozen and trained in two colours.
pub fn similarity(stem: &Path, points: &[SimPoint], title: &str) -> Result<()> {
    if points.is_empty() {
        return Err(Error::io(stem, "cannot draw: no similarity runs"));
    }
    let modes: Vec<(bool, RGBColor, &str)> = vec![
        (true, FROZEN, "response embeddings V frozen"),
        (false, TRAINED, "V trained"),
    ];
    let groups: Vec<(Vec<&SimPoint>, RGBColor)> = modes
        .iter()
        .map(|&(f, c, _)| (points.iter().filter(|p| p.frozen == f).collect(), c))
        .filter(|(g, _): &(Vec<&SimPoint>, RGBColor)| !g.is_empty())
        .collect();
    let (cmin, cmax) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
            (a.0.min(p.init_cosine), a.1.max(p.init_cosine))
        });
    let cos_axis = Axis {
        ticks: nice_ticks(-1.0, 1.0, 8, false),
        ..Axis::linear(
            (cmin - 0.08).max(-1.05),
            (cmax + 0.08).min(1.05),
            "cosine(v+, v−) at initialisation",
        )
    };
    let range = |f: &dyn Fn(&SimPoint) -> f64| {
        points
            .iter()
            .map(f)
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |a, v| {
                (a.0.min(v), a.1.max(v))
            })
    };
    type Getter = fn(&SimPoint) -> f64;
    let vs_cos: [(&str, &str, Getter); 3] = [
        ("degradation against similarity", "degradation", |p| {
            p.degradation
        }),
        ("dispersion against similarity", "dispersion", |p| {
            p.dispersion
        }),
        (
            "final avg chosen probability",
            "avg chosen at epoch 2000",
            |p| p.final_avg_chosen,
        ),
    ];
    let mut panels = Vec::new();
    for (title, desc, f) in vs_cos {
        let (lo, hi) = range(&f);
        let mut marks = Vec::new();
        for (g, c) in &groups {
            marks.push(Marks::cloud(*c, g.iter().map(|p| (p.init_cosine, f(p)))));
            marks.push(Marks::means(*c, true, by_cosine(g, f)));
        }
        let (lo, hi) = if desc.starts_with("avg chosen") {
            let start =
                points.iter().map(|p| p.start_avg_chosen).sum::<f64>() / points.len() as f64;
            marks.push(Marks::hline(style::INK, start, cos_axis.lo, cos_axis.hi));
            (0.0, 1.0)
        } else {
            (lo.min(0.0), hi)
        };
        panels.push(PanelSpec {
            title: title.into(),
            x: cos_axis.clone(),
            y: padded_axis(lo, hi.max(lo + 1e-3), desc),
            categories: None,
            marks,
        });
    }
    let (lo, hi) = range(&|p| p.ref_ches);
    let (dlo, dhi) = range(&|p| p.degradation);
    panels.push(PanelSpec {
        title: "degradation against CHES after the reference fit".into(),
        x: padded_axis(lo, hi, "mean CHES ⟨v+, v−⟩ − ‖v+‖² over the pairs"),
        y: padded_axis(dlo.min(0.0), dhi.max(1e-3), "degradation"),
        categories: None,
        marks: groups
            .iter()
            .map(|(g, c)| Marks {
                radius: 4,
                alpha: 0.6,
                ..Marks::cloud(*c, g.iter().map(|p| (p.ref_ches, p.degradation)))
            })
            .collect(),
    });
    let mut legend: Vec<LegendEntry> = modes
        .iter()
        .filter(|(f, _, _)| points.iter().any(|p| p.frozen == *f))
        .map(|&(_, c, l)| marker_entry(&format!("{l} (median, p10–p90 over seeds; dots: runs)"), c))
        .collect();
    legend.push(LegendEntry {
        label: "avg chosen probability at the start (π₀)".into(),
        color: style::INK,
        dashed: true,
    });
    save(
        &PanelsFig {
            title: title.into(),
            size: (1800, 1260),
            cols: 2,
            panels,
            legend,
        },
        stem,
    )
}
