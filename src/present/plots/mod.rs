//! Figures: the paper's Figures 1-3 and the primitives later figures reuse.
//!
//! Every figure is written twice, as `STEM.png` and `STEM.svg`, from
//! in-memory results; nothing here recomputes a metric or reads a CSV.
//!
//! Layers, bottom up:
//! - [`Figure`] and [`save`]: draw once per backend, write atomically.
//! - [`style`]: font sizes and the colour of every curve, shared by all figures.
//! - [`heatmap`]: a generic annotated heatmap ([`Heatmap`], [`ColorScale`]),
//!   used for policies here and for phase diagrams over a 2-D grid later.
//! - [`panels`]: line charts ([`line_chart`], [`draw_legend`]) and the three
//!   metric panels of Figure 2 ([`Panel`]).
//! - [`bands`]: median and p10–p90 bands over seeds on a log-epoch axis
//!   ([`bands::EpochScale`]), the charts of Figures 2 and 3.
//! - [`figures`]: [`fig1`], [`fig2`], [`fig2_compare`], [`fig3`] and
//!   [`paper_figures`], which writes all of them.
//! - [`beyond`]: the policy-family and embedding-similarity figures of
//!   [`crate::present::findings`] (issue 5), on a point chart with error bars.
//! - [`sweeps`]: figures of sweep tables (`runs.csv` in memory): [`phase`]
//!   diagrams, D-scores against [`beta`], the [`remedies`]; built on
//!   [`band_chart`] (mean curves with a shaded spread over seeds).

pub mod bands;
pub mod bench;
pub mod beyond;
pub mod calibration;
pub mod field;
pub mod figures;
pub mod heatmap;
pub mod panels;
pub mod precision;
pub mod scoreboard;
pub mod style;
pub mod sweeps;
pub mod zoo;

pub use figures::{
    describe_run, fig1, fig2, fig2_compare, fig3, paper_figures, policy_heatmap, PaperRun,
};
pub use heatmap::{draw_heatmap, CellText, ColorScale, Heatmap};
pub use panels::{
    draw_legend, epoch_axis, legend_height, line_chart, panel_grid, Axis, LegendEntry, Panel,
    Series,
};
pub use sweeps::{
    band_chart, beta, phase, remedies, scenario_curves, scenario_levels, Band, Curve, HLine,
    SCENARIO_COLORS,
};

use crate::error::{Error, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Registers the embedded DejaVu Sans as `sans-serif`. Plotters is built
/// without font-kit, so without this every chart, SVG included, fails with
/// `FontUnavailable`. Idempotent; every figure calls it.
pub fn init_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(
            style::FONT,
            FontStyle::Normal,
            include_bytes!("../../../assets/fonts/DejaVuSans.ttf"),
        )
        .unwrap_or_else(|_| panic!("the embedded DejaVuSans.ttf is a valid font"));
    });
}

/// A drawing failure, backend-independent (so one figure body serves both
/// the PNG and the SVG backend).
#[derive(Debug, Clone)]
pub struct PlotError(pub String);

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        PlotError(e.to_string())
    }
}

/// Result of drawing onto a backend.
pub type DrawResult<T = ()> = std::result::Result<T, PlotError>;

/// A figure that can draw itself onto any plotters backend.
pub trait Figure {
    /// Canvas size in pixels (the SVG uses the same user units).
    fn size(&self) -> (u32, u32);
    /// Draws onto `root`, which is already filled white.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult;
}

/// The two files a figure stem names: `STEM.png` and `STEM.svg`.
pub fn files(stem: &Path) -> [PathBuf; 2] {
    let s = stem.as_os_str().to_string_lossy();
    [
        PathBuf::from(format!("{s}.png")),
        PathBuf::from(format!("{s}.svg")),
    ]
}

/// Draws `fig` into `STEM.png` and `STEM.svg`, creating the parent
/// directory. Each file is written to a temporary sibling and renamed, so a
/// failed figure never leaves a half-written file behind.
pub fn save<F: Figure>(fig: &F, stem: &Path) -> Result<()> {
    init_fonts();
    let [png, svg] = files(stem);
    if let Some(dir) = png.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(dir, format!("cannot create plot directory: {e}")))?;
    }
    let size = fig.size();

    // The bitmap encoder picks the format from the extension, so the
    // temporary name must end in `.png`.
    let name = png
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = png.with_file_name(format!(".{name}.tmp-{}.png", std::process::id()));
    let drawn = (|| -> DrawResult {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        fig.draw(&root)?;
        root.present()?;
        Ok(())
    })();
    let moved = drawn
        .map_err(|e| e.0)
        .and_then(|()| std::fs::rename(&tmp, &png).map_err(|e| e.to_string()));
    if let Err(e) = moved {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&png, e));
    }

    let mut text = String::new();
    (|| -> DrawResult {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE)?;
        fig.draw(&root)?;
        root.present()?;
        Ok(())
    })()
    .map_err(|e| Error::io(&svg, e))?;
    crate::io::output::write_atomic(&svg, text.as_bytes())
}

/// Up to about `max_ticks` evenly spaced "nice" values (steps 1, 2, 2.5, 5
/// times a power of ten) covering `[lo, hi]`. With `integer`, steps are
/// whole numbers (for log10 axes whose ticks are labelled `1e{k}`).
pub fn nice_ticks(lo: f64, hi: f64, max_ticks: usize, integer: bool) -> Vec<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return vec![lo];
    }
    let raw = span / max_ticks.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let mults: &[f64] = if integer {
        &[1.0, 2.0, 5.0, 10.0]
    } else {
        &[1.0, 2.0, 2.5, 5.0, 10.0]
    };
    let mut m = mults
        .iter()
        .copied()
        .find(|&m| m * mag >= raw)
        .unwrap_or(10.0);
    let mut mag = mag;
    if integer && m * mag < 1.0 {
        (m, mag) = (1.0, 1.0);
    }
    // Dividing by an exact power of ten, rather than multiplying by its
    // inexact inverse, gives 0.6 and not 0.6000000000000001.
    let at = |k: i64| {
        if mag < 1.0 {
            k as f64 * m / (1.0 / mag).round()
        } else {
            k as f64 * m * mag
        }
    };
    let step = m * mag;
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(at).collect()
}

/// `v` with the fewest decimals (up to 6) that tell all `ticks` apart
/// exactly, so an axis reads 0, 0.2, 0.4 rather than 0.000, 0.200.
pub fn format_tick(v: f64, ticks: &[f64]) -> String {
    let d = (0..=6)
        .find(|&d| {
            let p = 10f64.powi(d as i32);
            ticks.iter().all(|t| ((t * p).round() / p - t).abs() < 1e-9)
        })
        .unwrap_or(6);
    format!("{v:.d$}")
}

/// A linear `f64` axis whose ticks are exactly `ticks`. Plotters'
/// `with_key_points` wrapper would do, but it loses the mesh's label
/// formatter for `f64` ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticked {
    /// Lower end of the axis.
    pub lo: f64,
    /// Upper end of the axis.
    pub hi: f64,
    /// Where the ticks go, in axis units.
    pub ticks: Vec<f64>,
}

impl Ticked {
    /// `[lo, hi]` with tick marks at `ticks`.
    pub fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> Self {
        Ticked { lo, hi, ticks }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.lo..self.hi).map(v, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // Only bold lines: light grid lines would clutter the panels.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Reads figures back in render tests (shared with `tests/`).
#[cfg(test)]
#[path = "../../../tests/common/figure.rs"]
pub(crate) mod figure_check;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice_and_inside() {
        assert_eq!(
            nice_ticks(0.0, 1.0, 6, false),
            vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        );
        assert_eq!(
            nice_ticks(0.0, 2000.0, 5, true),
            vec![0.0, 500.0, 1000.0, 1500.0, 2000.0]
        );
        let t = nice_ticks(-67.0, 0.0, 7, true);
        assert!(t
            .iter()
            .all(|v| v.fract() == 0.0 && (-67.0..=0.0).contains(v)));
        assert!(t.len() >= 4 && t.len() <= 8, "{t:?}");
        assert_eq!(nice_ticks(-1.0, 0.0, 7, true), vec![-1.0, 0.0]);
    }

    #[test]
    fn tick_labels_use_few_decimals() {
        let t = [0.0, 0.2, 0.4];
        assert_eq!(format_tick(0.4, &t), "0.4");
        assert_eq!(format_tick(500.0, &[0.0, 500.0]), "500");
        assert_eq!(format_tick(0.25, &[0.0, 0.25, 0.5]), "0.25");
    }

    #[test]
    fn color_scale_clamps_and_greys_missing() {
        let s = ColorScale::blues(0.0, 1.0);
        assert_eq!(s.color(-5.0), s.stops[0]);
        assert_eq!(s.color(5.0), *s.stops.last().unwrap());
        assert_eq!(s.color(f64::NAN), style::MISSING);
    }

    /// A phase-diagram-shaped heatmap (colour bar, thinned labels, a
    /// missing cell) renders to both backends: the declared size, every
    /// cell in its scale colour at its place (SVG and PNG), its value
    /// written in it, the titles and every row label.
    #[test]
    fn generic_heatmap_renders() {
        struct One(Heatmap);
        impl Figure for One {
            fn size(&self) -> (u32, u32) {
                (900, 520)
            }
            fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
                draw_heatmap(root, &self.0)
            }
        }
        let rows = 6;
        let cols = 14;
        let mut values: Vec<Vec<f64>> = (0..rows)
            .map(|r| (0..cols).map(|c| (r * c) as f64 / 3.0).collect())
            .collect();
        values[2][5] = f64::NAN;
        let scale = ColorScale::viridis(0.0, 25.0);
        let mut h = Heatmap::new(values.clone(), scale.clone())
            .titled("drop (orders of magnitude)", "β−", "learning rate")
            .with_text(CellText::Fixed(1));
        h.col_labels = (0..cols)
            .map(|c| format!("{:.3}", 0.01 * c as f64))
            .collect();
        h.row_labels = (0..rows).map(|r| format!("1e-{r}")).collect();
        h.colorbar = Some("drop".into());
        let dir = std::env::temp_dir().join(format!("dpo-lab-plots-test-{}", std::process::id()));
        let stem = dir.join("heatmap");
        save(&One(h), &stem).unwrap();

        let drawn = figure_check::Drawn::read(&stem, (900, 520));
        let rgb = |c: RGBColor| [c.0, c.1, c.2];
        let colors: Vec<_> = values
            .iter()
            .flatten()
            .map(|&v| rgb(scale.color(v)))
            .collect();
        assert_eq!(colors[2 * cols + 5], rgb(style::MISSING));
        drawn.assert_cells(&colors, cols);
        drawn.assert_texts(&["drop (orders of magnitude)", "β−", "learning rate", "drop"]);
        let row_labels: Vec<String> = (0..rows).map(|r| format!("1e-{r}")).collect();
        drawn.assert_texts(&row_labels.iter().map(String::as_str).collect::<Vec<_>>());
        // Each value is written as often as it occurs; the missing one as n/a.
        let mut want = std::collections::BTreeMap::new();
        for &v in values.iter().flatten() {
            let t = if v.is_finite() {
                format!("{v:.1}")
            } else {
                "n/a".into()
            };
            *want.entry(t).or_insert(0) += 1;
        }
        for (t, n) in want {
            assert_eq!(drawn.svg.count_text(&t), n, "cell text `{t}`");
        }
        if std::env::var_os("DPO_LAB_KEEP_TEST_PLOTS").is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
