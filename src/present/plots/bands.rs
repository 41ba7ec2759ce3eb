//! Band charts for the paper's Figures 2 and 3 over seeds: per curve, the
//! median over a seed set as a line, the p10–p90 band shaded around it, the
//! config's own seed as a thin line, and optional points (the paper's
//! read-offs) on top; all on a log-epoch axis ([`EpochScale`]). The facts
//! come from [`crate::studies::paper_bands`]; nothing here trains.

use super::panels::{decimate, framed_chart, Axis};
use super::style::{self, FONT};
use super::DrawResult;
use crate::present::names::seed_set;
use crate::studies::paper_bands::{CurveBands, ReadoffPoint, LOG10_AVG_UNSEEN_STRICT};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The part of the run (a fraction of its epochs) the epoch axis shows
/// about linearly; the rest is logarithmic.
pub const LINEAR_FRACTION: f64 = 1.0 / 40.0;

/// The time axis of the band charts: `x = log10(1 + epoch / τ)` with `τ` a
/// fixed fraction ([`LINEAR_FRACTION`]) of the run. The first `τ` epochs
/// read almost linearly, later ones logarithmically, so that an event at
/// epoch 50 and one at epoch 1000 of a 2000-epoch run both get room,
/// whichever timing a config produces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochScale {
    /// The epoch at which the axis turns from linear to logarithmic.
    pub tau: f64,
    /// The last epoch shown.
    pub last: f64,
}

impl EpochScale {
    /// The scale of a run whose last recorded epoch is `last_epoch`.
    pub fn new(last_epoch: usize) -> Self {
        let last = last_epoch.max(1) as f64;
        EpochScale {
            tau: (last * LINEAR_FRACTION).round().max(1.0),
            last,
        }
    }

    /// The axis coordinate of `epoch`.
    pub fn x(&self, epoch: f64) -> f64 {
        (1.0 + epoch / self.tau).log10()
    }

    /// The epoch at axis coordinate `x` (the inverse of [`EpochScale::x`]).
    pub fn epoch(&self, x: f64) -> f64 {
        self.tau * (10f64.powf(x) - 1.0)
    }

    /// Tick epochs: 0, the 1-2-5 series up to the last epoch, and the last
    /// epoch itself, thinned so that no two sit closer than 7 % of the axis.
    pub fn tick_epochs(&self) -> Vec<f64> {
        let min_gap = 0.07 * self.x(self.last);
        let mut nice = vec![0.0];
        let mut mag = 1.0;
        while mag <= self.last {
            nice.extend(
                [1.0, 2.0, 5.0]
                    .iter()
                    .map(|m| m * mag)
                    .filter(|e| *e < self.last),
            );
            mag *= 10.0;
        }
        let mut ticks: Vec<f64> = Vec::new();
        for e in nice {
            if ticks
                .last()
                .is_none_or(|&p| self.x(e) - self.x(p) >= min_gap)
            {
                ticks.push(e);
            }
        }
        // The last epoch always gets a tick; it displaces a close neighbour.
        while ticks.len() > 1
            && ticks
                .last()
                .is_some_and(|&p| self.x(self.last) - self.x(p) < min_gap)
        {
            ticks.pop();
        }
        ticks.push(self.last);
        ticks
    }

    /// The x axis: coordinates from 0 to a little past `x(last)` (so that a
    /// marker at the last epoch is not cut by the frame), ticks at
    /// [`EpochScale::tick_epochs`].
    pub fn axis(&self) -> Axis {
        Axis {
            lo: 0.0,
            hi: 1.02 * self.x(self.last),
            ticks: self.tick_epochs().iter().map(|&e| self.x(e)).collect(),
            log10: false,
            desc: format!("epoch (log scale: log10(1 + epoch / {}))", self.tau),
        }
    }

    /// The label of the tick at coordinate `x`: its epoch.
    pub fn label(&self, x: f64) -> String {
        format!("{}", self.epoch(x).round())
    }
}

/// A curve of a band chart: its key in [`CurveBands::curves`], legend label,
/// colour and dash.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandCurve {
    /// Key in [`CurveBands::curves`] and [`CurveBands::seed0`].
    pub key: &'static str,
    /// Legend label.
    pub label: &'static str,
    /// Line and band colour.
    pub color: RGBColor,
    /// Whether the median line is dashed.
    pub dashed: bool,
}

const fn curve(key: &'static str, label: &'static str, color: RGBColor, dashed: bool) -> BandCurve {
    BandCurve {
        key,
        label,
        color,
        dashed,
    }
}

/// Figure 2, left (and Figure 3): the probabilities, linear.
pub const PROBABILITY: [BandCurve; 6] = [
    curve("avg_chosen", "avg chosen", style::CHOSEN, false),
    curve("min_chosen", "min chosen", style::CHOSEN_MIN, true),
    curve("avg_rejected", "avg rejected", style::REJECTED, false),
    curve("max_rejected", "max rejected", style::REJECTED_MAX, true),
    curve(
        "avg_unseen",
        "avg unseen (outside own pair)",
        style::UNSEEN,
        false,
    ),
    curve(
        "avg_unseen_strict",
        "avg unseen strict (in no pair)",
        style::UNSEEN_STRICT,
        true,
    ),
];

/// Figure 2, middle: the gradient magnitudes, log10.
pub const GRADIENT: [BandCurve; 2] = [
    curve(
        "log10_grad_pi_plus",
        "avg |∂ℓ/∂π+| (chosen)",
        style::CHOSEN,
        false,
    ),
    curve(
        "log10_grad_pi_minus",
        "avg |∂ℓ/∂π−| (rejected)",
        style::REJECTED,
        false,
    ),
];

/// Figure 2, right: the probabilities as log10 of log-probabilities.
pub const LOG_PROBABILITY: [BandCurve; 6] = [
    curve("log10_avg_chosen", "avg chosen", style::CHOSEN, false),
    curve("log10_min_chosen", "min chosen", style::CHOSEN_MIN, true),
    curve("log10_avg_rejected", "avg rejected", style::REJECTED, false),
    curve(
        "log10_max_rejected",
        "max rejected",
        style::REJECTED_MAX,
        true,
    ),
    curve(
        "log10_avg_unseen",
        "avg unseen (outside own pair)",
        style::UNSEEN,
        false,
    ),
    curve(
        LOG10_AVG_UNSEEN_STRICT,
        "avg unseen strict (in no pair)",
        style::UNSEEN_STRICT,
        true,
    ),
];

/// Every plotted value of `curves` in `bands` (band edges, medians, the own
/// seed), for fitting an axis.
pub fn values<'a>(
    bands: &'a [&'a CurveBands],
    curves: &'a [BandCurve],
) -> impl Iterator<Item = f64> + 'a {
    bands.iter().flat_map(move |b| {
        curves.iter().flat_map(move |c| {
            let band = b.curves.get(c.key);
            let own = b.seed0.get(c.key);
            band.into_iter()
                .flat_map(|s| s.p10.iter().chain(&s.median).chain(&s.p90))
                .chain(own.into_iter().flatten())
                .copied()
                .filter(|v| v.is_finite())
        })
    })
}

/// Splits `(x, y)` points at non-finite `y` into runs of finite points.
fn finite_runs(points: impl IntoIterator<Item = (f64, f64)>) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (x, y) in points {
        if y.is_finite() {
            if let Some(r) = runs.last_mut() {
                r.push((x, y));
            }
        } else if runs.last().is_some_and(|r| !r.is_empty()) {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// The outline of a band between `lo` and `hi` at `xs` (x ascending), one
/// polygon per stretch where both edges are finite, with at most one
/// (lowest, highest) pair per pixel column of `width` over `[x_lo, x_hi]`.
fn band_polygons(
    xs: &[f64],
    lo: &[f64],
    hi: &[f64],
    x_lo: f64,
    x_hi: f64,
    width: usize,
) -> Vec<Vec<(f64, f64)>> {
    let column = |x: f64| (((x - x_lo) / (x_hi - x_lo)) * width as f64).floor() as i64;
    let mut out = Vec::new();
    let mut cols: Vec<(f64, f64, f64)> = Vec::new();
    let mut flush = |cols: &mut Vec<(f64, f64, f64)>| {
        if cols.len() >= 2 {
            let upper = cols.iter().map(|c| (c.0, c.2));
            let lower = cols.iter().rev().map(|c| (c.0, c.1));
            out.push(upper.chain(lower).collect());
        }
        cols.clear();
    };
    let mut last_col = None;
    for ((&x, &a), &b) in xs.iter().zip(lo).zip(hi) {
        if !(a.is_finite() && b.is_finite()) {
            flush(&mut cols);
            last_col = None;
            continue;
        }
        let c = column(x);
        match cols.last_mut() {
            Some(prev) if last_col == Some(c) => {
                prev.1 = prev.1.min(a);
                prev.2 = prev.2.max(b);
            }
            _ => cols.push((x, a, b)),
        }
        last_col = Some(c);
    }
    flush(&mut cols);
    out
}

/// Draws the paper's read-off marker (a disc in the curve's colour, ringed
/// in ink) at backend pixel `(px, py)` of `area`.
fn readoff_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    at: (i32, i32),
    color: RGBColor,
) -> DrawResult {
    area.draw(&Circle::new(at, 7, color.filled()))?;
    area.draw(&Circle::new(at, 7, style::INK.stroke_width(2)))?;
    Ok(())
}

/// A band chart of `curves` of `bands` on `scale` × `y` under `title`, with
/// `points` (those on these curves, inside the axes) drawn on top.
pub fn seed_band_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    scale: &EpochScale,
    y: &Axis,
    bands: &CurveBands,
    curves: &[BandCurve],
    points: &[ReadoffPoint],
) -> DrawResult {
    let x = scale.axis();
    let mut y_label_w = 0;
    for t in &y.ticks {
        let (w, _) = area.estimate_text_size(
            &y.label(*t),
            &(FONT, style::TICK_SIZE).into_text_style(area),
        )?;
        y_label_w = y_label_w.max(w);
    }
    let xl = |v: f64| scale.label(v);
    let yl = |v: f64| y.label(v);
    let mut chart = framed_chart(area, title, &x, y, &xl, &yl, y_label_w + 48)?;
    let width = chart.plotting_area().dim_in_pixel().0.max(1) as usize;
    let xs: Vec<f64> = bands.epochs.iter().map(|&e| scale.x(e as f64)).collect();
    // Values outside the y range are drawn at its edge, never past the frame.
    let clamp = |v: f64| {
        if v.is_finite() {
            v.clamp(y.lo, y.hi)
        } else {
            v
        }
    };
    let clamped = |v: &[f64]| v.iter().map(|&v| clamp(v)).collect::<Vec<f64>>();
    let present: Vec<(&BandCurve, _)> = curves
        .iter()
        .filter_map(|c| bands.curves.get(c.key).map(|b| (c, b)))
        .collect();

    // Bands first, so that no band covers a line.
    for (c, b) in &present {
        for poly in band_polygons(&xs, &clamped(&b.p10), &clamped(&b.p90), x.lo, x.hi, width) {
            chart.draw_series(std::iter::once(Polygon::new(
                poly,
                c.color.mix(0.18).filled(),
            )))?;
        }
    }
    for (c, _) in &present {
        let own = bands
            .seed0
            .get(c.key)
            .map(|v| clamped(v))
            .unwrap_or_default();
        for run in finite_runs(xs.iter().copied().zip(own)) {
            chart.draw_series(LineSeries::new(
                decimate(&run, x.lo, x.hi, width),
                c.color.mix(0.9).stroke_width(1),
            ))?;
        }
    }
    for (c, b) in &present {
        for run in finite_runs(xs.iter().copied().zip(clamped(&b.median))) {
            let pts = decimate(&run, x.lo, x.hi, width);
            if c.dashed {
                chart.draw_series(DashedLineSeries::new(
                    pts,
                    10,
                    6,
                    c.color.stroke_width(style::LINE_WIDTH - 1),
                ))?;
            } else {
                chart.draw_series(LineSeries::new(
                    pts,
                    c.color.stroke_width(style::LINE_WIDTH),
                ))?;
            }
        }
    }
    let (bx, by) = area.get_base_pixel();
    for p in points {
        let Some(c) = curves.iter().find(|c| c.key == p.curve) else {
            continue;
        };
        let inside = p.epoch >= 0.0 && p.epoch <= scale.last && (y.lo..=y.hi).contains(&p.value);
        if inside {
            let (px, py) = chart.backend_coord(&(scale.x(p.epoch), p.value));
            readoff_marker(area, (px - bx, py - by), c.color)?;
        }
    }
    // Close the frame on the top and right.
    chart.plotting_area().draw(&PathElement::new(
        [(x.lo, y.hi), (x.hi, y.hi), (x.hi, y.lo)],
        style::INK.stroke_width(1),
    ))?;
    Ok(())
}

/// What a key entry's sample shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    /// A curve: its band swatch with its median line over it.
    Curve {
        /// The curve's colour.
        color: RGBColor,
        /// Whether its median line is dashed.
        dashed: bool,
    },
    /// The median line (in grey).
    Median,
    /// The p10–p90 band (in grey).
    Band,
    /// The own seed's thin line (in grey).
    Thin,
    /// The read-off marker (in grey).
    Marker,
}

/// A key entry: a sample and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyEntry {
    /// What is drawn left of the label.
    pub sample: Sample,
    /// The label.
    pub label: String,
}

impl KeyEntry {
    /// The entry of a curve.
    pub fn curve(c: &BandCurve) -> Self {
        KeyEntry {
            sample: Sample::Curve {
                color: c.color,
                dashed: c.dashed,
            },
            label: c.label.into(),
        }
    }
}

/// Key geometry for `width` pixels: (columns, rows, column width, row height).
fn key_layout<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    width: u32,
    entries: &[KeyEntry],
) -> DrawResult<(usize, usize, u32, u32)> {
    let mut w = 0;
    for e in entries {
        let (tw, _) =
            area.estimate_text_size(&e.label, &(FONT, style::LEGEND_SIZE).into_text_style(area))?;
        w = w.max(tw);
    }
    let col_w = 44 + 8 + w + 28;
    let cols = ((width / col_w.max(1)) as usize).clamp(1, entries.len().max(1));
    let rows = entries.len().div_ceil(cols);
    Ok((cols, rows, col_w, style::LEGEND_SIZE * 17 / 10))
}

/// Height in pixels of the key for `entries` laid out in `width` pixels.
pub fn key_height<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    width: u32,
    entries: &[KeyEntry],
) -> DrawResult<u32> {
    if entries.is_empty() {
        return Ok(0);
    }
    let (_, rows, _, row_h) = key_layout(area, width, entries)?;
    Ok(rows as u32 * row_h + 16)
}

/// Draws `entries` as a grid of (sample, label), as many columns as fit,
/// centred in `area`.
pub fn draw_key<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[KeyEntry],
) -> DrawResult {
    if entries.is_empty() {
        return Ok(());
    }
    let (w, _) = area.dim_in_pixel();
    let (cols, _, col_w, row_h) = key_layout(area, w, entries)?;
    let x0 = (w.saturating_sub(cols as u32 * col_w) / 2) as i32 + 14;
    let font = (FONT, style::LEGEND_SIZE)
        .into_font()
        .color(&style::INK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let grey = style::UNSEEN_STRICT;
    for (i, e) in entries.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let x = x0 + c as i32 * col_w as i32;
        let y = 8 + r as i32 * row_h as i32 + row_h as i32 / 2;
        let swatch = |color: RGBColor| {
            Rectangle::new([(x, y - 7), (x + 44, y + 7)], color.mix(0.18).filled())
        };
        let line = [(x, y), (x + 44, y)];
        match e.sample {
            Sample::Curve { color, dashed } => {
                area.draw(&swatch(color))?;
                if dashed {
                    area.draw(&plotters::element::DashedPathElement::new(
                        line,
                        10,
                        6,
                        color.stroke_width(style::LINE_WIDTH - 1),
                    ))?;
                } else {
                    area.draw(&PathElement::new(
                        line,
                        color.stroke_width(style::LINE_WIDTH),
                    ))?;
                }
            }
            Sample::Median => area.draw(&PathElement::new(
                line,
                grey.stroke_width(style::LINE_WIDTH),
            ))?,
            Sample::Band => area.draw(&swatch(grey))?,
            Sample::Thin => area.draw(&PathElement::new(line, grey.stroke_width(1)))?,
            Sample::Marker => readoff_marker(area, (x + 22, y), grey)?,
        }
        area.draw(&Text::new(e.label.clone(), (x + 52, y), font.clone()))?;
    }
    Ok(())
}

/// The key entries that explain the styles: the median and the band over
/// the seed set, the own seed's thin line, and with `readoffs` the paper's
/// markers. `all` are the facts drawn (for the seed set, the own seed and
/// the diverged runs).
pub fn style_key(all: &[&CurveBands], readoffs: bool) -> Vec<KeyEntry> {
    let Some(first) = all.first() else {
        return Vec::new();
    };
    let seeds = seed_set(&first.seeds);
    let n = first.seeds.len();
    let diverged: usize = all.iter().map(|b| b.diverged.len()).sum();
    let mut median = format!("median over {seeds} ({n} runs)");
    if diverged > 0 {
        median.push_str(&format!(
            "; {diverged} run(s) diverged and end at their last finite epoch"
        ));
    }
    let mut v = vec![
        KeyEntry {
            sample: Sample::Median,
            label: median,
        },
        KeyEntry {
            sample: Sample::Band,
            label: format!("p10–p90 over {seeds}"),
        },
        KeyEntry {
            sample: Sample::Thin,
            label: format!("seed {} (the config's own run)", first.config.seed),
        },
    ];
    if readoffs {
        v.push(KeyEntry {
            sample: Sample::Marker,
            label: "paper (read off)".into(),
        });
    }
    v
}

/// A y axis for a log10 panel: every finite value of `curves` in `bands`
/// and the `extra` values (points), capped at `cap`.
pub fn log_axis(
    bands: &[&CurveBands],
    curves: &[BandCurve],
    extra: impl IntoIterator<Item = f64>,
    cap: Option<f64>,
    desc: &str,
) -> Axis {
    Axis::log10_covering(values(bands, curves).chain(extra), cap, desc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_scale_round_trips_and_ticks_are_spaced() {
        let s = EpochScale::new(2000);
        assert_eq!(s.tau, 50.0);
        for e in [0.0, 1.0, 54.0, 475.0, 2000.0] {
            assert!((s.epoch(s.x(e)) - e).abs() < 1e-9);
        }
        let t = s.tick_epochs();
        assert_eq!(t.first(), Some(&0.0));
        assert_eq!(t.last(), Some(&2000.0));
        let gap = 0.07 * s.x(2000.0);
        assert!(
            t.windows(2).all(|w| s.x(w[1]) - s.x(w[0]) >= gap - 1e-12),
            "{t:?}"
        );
        let a = s.axis();
        assert_eq!(a.ticks.len(), t.len());
        assert_eq!(s.label(a.ticks[a.ticks.len() - 1]), "2000");
        // A short run still has 0 and its end.
        let short = EpochScale::new(7);
        assert_eq!(short.tick_epochs().last(), Some(&7.0));
    }

    #[test]
    fn band_polygons_split_at_gaps_and_merge_columns() {
        let xs: Vec<f64> = (0..10).map(f64::from).collect();
        let mut lo = vec![0.0; 10];
        let hi = vec![1.0; 10];
        lo[5] = f64::NAN;
        let p = band_polygons(&xs, &lo, &hi, 0.0, 9.0, 100);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].len(), 10);
        // Two columns only: each polygon has two upper and two lower points.
        let p = band_polygons(&xs, &[0.0; 10], &hi, 0.0, 10.0, 2);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].len(), 4);
    }
}
