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
        (500 * self.panels.len() as u32, 660)
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
        let mut entries = Vec::new();
        for e in self
            .panels
            .iter()
            .flat_map(|p| p.3.iter().map(Series::entry))
        {
            if !entries.contains(&e) {
                entries.push(e);
            }
        }
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

/// Steps per second on the paper's toy against the MLP width, one thread and
/// a 64-run sweep, with the tabular policy's rates as horizontal references.
fn throughput_panel(rows: &[BenchRow]) -> Option<(String, Axis, Axis, Vec<Series>)> {
    let paper: Vec<&BenchRow> = rows.iter().filter(|r| r.case == "paper").collect();
    let mlp = |threads_gt_1: bool| -> Vec<(f64, f64)> {
        paper
            .iter()
            .filter(|r| r.policy == "mlp" && (r.threads > 1) == threads_gt_1)
            .map(|r| ((r.width as f64).log10(), r.steps_per_sec.log10()))
            .collect()
    };
    let (one, all) = (mlp(false), mlp(true));
    if one.is_empty() {
        return None;
    }
    let xs: Vec<f64> = one.iter().map(|p| p.0).collect();
    let (xlo, xhi) = (
        xs.iter().copied().fold(f64::INFINITY, f64::min).floor(),
        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max).ceil(),
    );
    let tab = |threads_gt_1: bool| -> Vec<(f64, f64)> {
        paper
            .iter()
            .filter(|r| r.policy == "tabular" && (r.threads > 1) == threads_gt_1)
            .flat_map(|r| {
                [
                    (xlo, r.steps_per_sec.log10()),
                    (xhi, r.steps_per_sec.log10()),
                ]
            })
            .collect()
    };
    let series = vec![
        Series::new("MLP, one run on 1 thread", style::CHOSEN_MIN, false, one),
        Series::new("MLP, 64 runs on all cores", style::CHOSEN, false, all),
        Series::new(
            "tabular, one run on 1 thread",
            style::REJECTED_MAX,
            true,
            tab(false),
        ),
        Series::new(
            "tabular, 64 runs on all cores",
            style::REJECTED,
            true,
            tab(true),
        ),
    ];
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .collect();
    let y = Axis::log10(
        ys.iter().copied().fold(f64::INFINITY, f64::min).floor(),
        ys.iter().copied().fold(f64::NEG_INFINITY, f64::max).ceil(),
        "training steps per second",
    );
    let x = Axis::log10(xlo, xhi, "MLP width (paper's toy, 4 × 10)");
    Some(("steps per second (DPO + Adam)".into(), x, y, series))
}

/// Draws `STEM.png`/`.svg`: steps per second on the paper's toy, and the
/// tabular step time as responses and prompts grow; log-log axes.
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
        let target: Vec<(f64, f64)> = stream.iter().map(|&(x, y)| (x, y + 2f64.log10())).collect();
        let mut series = vec![
            Series::new(
                "tabular DPO + Adam step (measured)",
                style::INK,
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
        if key == 0 {
            series.push(Series::new(
                "target: 2 × stream",
                style::UNSEEN,
                true,
                target,
            ));
        }
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
    if let Some(p) = throughput_panel(rows) {
        panels.insert(0, p);
    }
    save(
        &BenchFig {
            title: format!("dpo-lab bench · f64 · {machine}"),
            panels,
        },
        stem,
    )
}
