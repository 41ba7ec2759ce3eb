//! The calibration figure: every setting tried as a point of (value error,
//! timing error) with the Pareto frontier and the winner, and the winner's
//! read-offs on the held-out seeds as signed errors in units of tolerance.

use super::style::{self, FONT};
use super::{save, DrawResult, Figure};
use crate::error::Result;
use crate::studies::calibrate::CalibrationFacts;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One colour per optimiser, by the first knob's label.
const OPTIMISER_COLORS: [(&str, RGBColor); 4] = [
    ("Adam", RGBColor(0x08, 0x45, 0x94)),
    ("RMSprop", RGBColor(0x23, 0x8b, 0x45)),
    ("SGD momentum 0.9", RGBColor(0xe6, 0x55, 0x0d)),
    ("SGD", RGBColor(0x75, 0x6b, 0xb1)),
];
const OTHER: RGBColor = RGBColor(0x73, 0x73, 0x73);

struct CalFig<'a> {
    facts: &'a CalibrationFacts,
    title: String,
}

fn optimiser_of(label: &str) -> &str {
    label
        .split("; ")
        .find_map(|kv| kv.strip_prefix("optimizer = "))
        .unwrap_or("")
}

fn color_of(label: &str) -> RGBColor {
    let o = optimiser_of(label);
    OPTIMISER_COLORS
        .iter()
        .find(|(n, _)| *n == o)
        .map_or(OTHER, |(_, c)| *c)
}

impl Figure for CalFig<'_> {
    fn size(&self) -> (u32, u32) {
        (1500, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let (w, _) = root.dim_in_pixel();
        let (head, body) = root.split_vertically(56);
        head.draw(&Text::new(
            self.title.clone(),
            (w as i32 / 2, 30),
            (FONT, style::TITLE_SIZE)
                .into_font()
                .color(&style::INK)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
        let (left, right) = body.split_horizontally(680);
        self.draw_scatter(&left)?;
        self.draw_readoffs(&right)
    }
}

impl CalFig<'_> {
    fn draw_scatter<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult {
        let f = self.facts;
        let pts: Vec<(f64, f64, RGBColor)> = f
            .tried
            .iter()
            .filter(|s| s.distance.is_finite())
            .map(|s| {
                (
                    s.value_err.log10(),
                    s.timing_err.log10(),
                    color_of(&s.setting.label()),
                )
            })
            .collect();
        let lo = |v: f64| (v.min(-0.3) * 10.0).floor() / 10.0;
        let hi = |v: f64| (v.max(0.3) * 10.0).ceil() / 10.0;
        let (x0, x1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
            (a.0.min(p.0), a.1.max(p.0))
        });
        let (y0, y1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
            (a.0.min(p.1), a.1.max(p.1))
        });
        let (x0, x1, y0, y1) = (lo(x0), hi(x1), lo(y0), hi(y1));
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{} settings on choice seeds {}–{}",
                    pts.len(),
                    f.tried[0].seeds[0],
                    f.tried[0].seeds[1] - 1
                ),
                (FONT, style::PANEL_TITLE_SIZE),
            )
            .margin(14)
            .x_label_area_size(56)
            .y_label_area_size(76)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let pow = |v: &f64| {
            let x = 10f64.powf(*v);
            if x >= 10.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.2}")
            }
        };
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(style::GRID)
            .x_desc("value error (RMS of |lab − paper| / tolerance)")
            .y_desc("timing error (RMS, epochs)")
            .x_label_formatter(&pow)
            .y_label_formatter(&pow)
            .label_style((FONT, style::TICK_SIZE))
            .axis_desc_style((FONT, style::AXIS_DESC_SIZE))
            .draw()?;
        // The target: every read-off within its tolerance puts a setting in
        // the lower-left square (both RMS errors at most 1).
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x0, y0), (0.0, 0.0)],
            RGBColor(0x23, 0x8b, 0x45).mix(0.10).filled(),
        )))?;
        chart.draw_series(
            pts.iter()
                .map(|&(x, y, c)| Circle::new((x, y), 4, c.mix(0.55).filled())),
        )?;
        let front: Vec<(f64, f64)> = f
            .frontier
            .iter()
            .map(|&i| (f.tried[i].value_err.log10(), f.tried[i].timing_err.log10()))
            .collect();
        chart
            .draw_series(LineSeries::new(front.clone(), style::INK.stroke_width(2)))?
            .label("Pareto frontier")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], style::INK.stroke_width(2)));
        let wv = (f.tried[0].value_err.log10(), f.tried[0].timing_err.log10());
        chart
            .draw_series(std::iter::once(TriangleMarker::new(
                wv,
                11,
                style::REJECTED.filled(),
            )))?
            .label("chosen setting")
            .legend(|(x, y)| TriangleMarker::new((x + 12, y), 7, style::REJECTED.filled()));
        for (name, c) in OPTIMISER_COLORS {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 12, y), 5, c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(style::GRID)
            .label_font((FONT, style::LEGEND_SIZE))
            .draw()?;
        Ok(())
    }

    fn draw_readoffs<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult {
        let f = self.facts;
        let w = f.winner();
        let r = &f.readoffs;
        let rows: Vec<usize> = (0..r.readoff.len())
            .filter(|&k| r.readoff[k].scored)
            .collect();
        let signed = |k: usize, v: f64| (v - r.readoff[k].value) / r.tolerance(&r.readoff[k]);
        let mut lim: f64 = 2.0;
        for &k in &rows {
            let q = w.quantiles[k];
            for v in [q.p10, q.p90] {
                if v.is_finite() {
                    lim = lim.max(signed(k, v).abs());
                }
            }
        }
        let lim = lim.min(10.0).ceil();
        let n = rows.len() as f64;
        let label_w = 300;
        let (labels, plot) = area.split_horizontally(label_w);
        let mut chart = ChartBuilder::on(&plot)
            .caption(
                format!(
                    "chosen setting on held-out seeds {}–{}",
                    w.seeds[0],
                    w.seeds[1] - 1
                ),
                (FONT, style::PANEL_TITLE_SIZE),
            )
            .margin(14)
            .x_label_area_size(56)
            .y_label_area_size(0)
            .build_cartesian_2d(-lim..lim, -0.5..n - 0.5)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .max_light_lines(0)
            .bold_line_style(style::GRID)
            .x_desc("(lab − paper) / tolerance; median, p10–p90")
            .label_style((FONT, style::TICK_SIZE))
            .axis_desc_style((FONT, style::AXIS_DESC_SIZE))
            .draw()?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(-1.0, -0.5), (1.0, n - 0.5)],
            RGBColor(0x23, 0x8b, 0x45).mix(0.12).filled(),
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            [(0.0, -0.5), (0.0, n - 0.5)],
            style::INK.stroke_width(1),
        )))?;
        let clamp = |v: f64| v.clamp(-lim, lim);
        for (i, &k) in rows.iter().enumerate() {
            let y = n - 1.0 - i as f64;
            let q = w.quantiles[k];
            let (a, b, m) = (
                clamp(signed(k, q.p10)),
                clamp(signed(k, q.p90)),
                clamp(signed(k, q.median)),
            );
            let c = if w.scaled[k] <= 1.0 {
                style::UNSEEN
            } else {
                style::REJECTED
            };
            chart.draw_series(std::iter::once(PathElement::new(
                [(a, y), (b, y)],
                c.stroke_width(3),
            )))?;
            chart.draw_series(std::iter::once(Circle::new((m, y), 6, c.filled())))?;
        }
        // Row labels, aligned with the rows of the plot area.
        let (_, ph) = plot.dim_in_pixel();
        let top = 14 + style::PANEL_TITLE_SIZE as i32 + 10;
        let bottom = ph as i32 - 14 - 56;
        let font = (FONT, style::LEGEND_SIZE)
            .into_font()
            .color(&style::INK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (i, &k) in rows.iter().enumerate() {
            let frac = (i as f64 + 0.5) / n;
            let y = top + ((bottom - top) as f64 * frac) as i32;
            labels.draw(&Text::new(
                r.readoff[k].label.clone(),
                (label_w - 8, y),
                font.clone(),
            ))?;
        }
        Ok(())
    }
}

/// Draws the calibration figure to `STEM.png` and `STEM.svg`.
pub fn calibration_figure(stem: &Path, facts: &CalibrationFacts) -> Result<()> {
    let title = format!(
        "Calibration against the paper's Figure 2 read-offs ({} training runs)",
        facts.runs
    );
    save(&CalFig { facts, title }, stem)
}
