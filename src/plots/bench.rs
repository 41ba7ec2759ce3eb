//! The benchmark figure: tabular step time against the number of responses
//! and of prompts, next to the time to stream the parameters and the Adam
//! state through memory once.

use super::panels::{draw_legend, legend_height, line_chart, Axis, Series};
use super::style::{self, FONT};
use super::{save, DrawResult, Figure};
use crate::bench::BenchRow;
use crate::error::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

struct BenchFig {
    title: String,
    panels: Vec<(String, Axis, Axis, Vec<Series>)>,
}

impl Figure for BenchFig {
    fn size(&self) -> (u32, u32) {
        (1500, 640)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let (w, _) = root.dim_in_pixel();
        let (head, body) = root.split_vertically(50);
        head.draw(&Text::new(
            self.title.clone(),
            (w as i32 / 2, 28),
            (FONT, style::TITLE_SIZE)
                .into_font()
                .color(&style::INK)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
        let entries: Vec<_> = self.panels[0].3.iter().map(Series::entry).collect();
        let lh = legend_height(&body, w, &entries)?;
        let (plots, legend) = body.split_vertically(body.dim_in_pixel().1 - lh - 10);
        for ((title, x, y, series), area) in self
            .panels
            .iter()
            .zip(plots.split_evenly((1, self.panels.len())))
        {
            line_chart(&area, title, x, y, series)?;
        }
        draw_legend(&legend, &entries)
    }
}

/// Draws `STEM.png`/`.svg` from the scaling rows of a benchmark (cases
/// `scale-responses` and `scale-prompts`); log-log axes.
pub fn bench_figure(stem: &Path, rows: &[BenchRow], machine: &str) -> Result<()> {
    let mut panels = Vec::new();
    for (case, key, desc) in [
        ("scale-responses", 0, "number of responses (4 prompts)"),
        ("scale-prompts", 1, "number of prompts (10 responses)"),
    ] {
        let sel: Vec<&BenchRow> = rows.iter().filter(|r| r.case == case).collect();
        let size = |r: &BenchRow| if key == 0 { r.responses } else { r.prompts } as f64;
        let step: Vec<(f64, f64)> = sel
            .iter()
            .map(|r| (size(r).log10(), r.ns_per_step.log10()))
            .collect();
        let stream: Vec<(f64, f64)> = sel
            .iter()
            .filter_map(|r| r.stream_ns.map(|s| (size(r).log10(), s.log10())))
            .collect();
        let xs: Vec<f64> = step.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = step.iter().chain(&stream).map(|p| p.1).collect();
        let (xlo, xhi) = (
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        let (ylo, yhi) = (
            ys.iter().copied().fold(f64::INFINITY, f64::min),
            ys.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        let x = Axis::log10(xlo.floor(), xhi.ceil(), desc);
        let y = Axis::log10(ylo.floor(), yhi.ceil(), "ns per training step (one thread)");
        let series = vec![
            Series::new(
                "tabular DPO + Adam step (measured)",
                style::CHOSEN,
                false,
                step,
            ),
            Series::new(
                "stream params + Adam state once (measured)",
                style::UNSEEN_STRICT,
                true,
                stream,
            ),
        ];
        panels.push((
            format!(
                "tabular step time vs {}",
                if key == 0 { "responses" } else { "prompts" }
            ),
            x,
            y,
            series,
        ));
    }
    save(
        &BenchFig {
            title: format!("dpo-lab bench · f64 · {machine}"),
            panels,
        },
        stem,
    )
}
