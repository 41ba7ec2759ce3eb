//! The scoreboard's figure: one heat map per policy family, a row per
//! method (sorted by the objective), a column per D-score and setting
//! (default, tuned); the colour is the worst scenario's median D-score
//! against its threshold, the text the verdict over all scenarios.

use super::figures::title_strip;
use super::heatmap::{draw_heatmap, CellText, ColorScale, Heatmap};
use super::{save, DrawResult, Figure};
use crate::error::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// How far (orders of magnitude) the colour scale reaches either side of a threshold.
pub const REACH: f64 = 2.0;

/// One family's heat map, already sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// The panel's title.
    pub title: String,
    /// Row labels, top to bottom.
    pub rows: Vec<String>,
    /// Column labels.
    pub cols: Vec<String>,
    /// `log10(threshold / worst median D-score)` per cell (> 0: below the threshold).
    pub values: Vec<Vec<f64>>,
    /// The verdict symbol per cell.
    pub text: Vec<Vec<String>>,
}

struct Board<'a> {
    title: String,
    panels: &'a [Panel],
}

impl Figure for Board<'_> {
    fn size(&self) -> (u32, u32) {
        let rows = self.panels.iter().map(|p| p.rows.len()).max().unwrap_or(1) as u32;
        (560 * self.panels.len() as u32, 190 + 30 * rows)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = title_strip(root, &self.title)?;
        let n = self.panels.len();
        for (i, (p, area)) in self
            .panels
            .iter()
            .zip(body.split_evenly((1, n)))
            .enumerate()
        {
            let mut h = Heatmap::new(p.values.clone(), ColorScale::red_white_green(REACH))
                .titled(&p.title, "default · tuned", "")
                .with_text(CellText::Cells(p.text.clone()));
            h.row_labels = p.rows.clone();
            h.col_labels = p.cols.clone();
            if i + 1 == n {
                h.colorbar = Some("log10(threshold / D-score)".into());
            }
            draw_heatmap(&area.margin(0, 6, 6, 6), &h)?;
        }
        Ok(())
    }
}

/// Draws `STEM.png` and `STEM.svg`: `panels` side by side under `title`.
pub fn scoreboard_figure(stem: &Path, panels: &[Panel], title: &str) -> Result<()> {
    save(
        &Board {
            title: title.into(),
            panels,
        },
        stem,
    )
}
