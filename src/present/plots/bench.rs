//! The benchmark figure: training steps per second on the paper's toy
//! against the MLP width, with the performance issue's targets, and the
//! tabular step time against the number of responses and of prompts, next
//! to the time to stream the parameters and the Adam state through memory
//! once and the target of twice that. Drawn from `bench.csv` rows.

use super::panels::{draw_legend, framed_chart, legend_height, Axis, LegendEntry};
use super::style::{self, FONT};
use super::{save, DrawResult, Figure};
use crate::error::{Error, Result};
use crate::studies::bench::{
    BenchRow, JAX_MLP64_SWEEP, TARGET_MLP64_SWEEP, TARGET_STREAM_FACTOR, TARGET_TABULAR_SWEEP,
};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// Targets: a green distinct from every measured curve.
const TARGET: RGBColor = style::UNSEEN;
/// The MLP step without divider work (plain SGD): a hue no other line has.
const NO_DIVIDER: RGBColor = RGBColor(0x6a, 0x3d, 0x9a);
/// The JAX peer's lines (another program's numbers: neutral ink).
const PEER: RGBColor = style::UNSEEN_STRICT;

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stroke {
    Solid,
    Dashed,
    /// Short dashes: the targets.
    Dotted,
    /// Triangles without a line: a case timed at one size only.
    Points,
}

/// One line of a panel, `(x, y)` in log10 units.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    label: String,
    color: RGBColor,
    stroke: Stroke,
    points: Vec<(f64, f64)>,
}

impl Line {
    fn new(label: &str, color: RGBColor, stroke: Stroke, points: Vec<(f64, f64)>) -> Self {
        Line {
            label: label.into(),
            color,
            stroke,
            points: points
                .into_iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect(),
        }
    }

    /// Points only, marked by triangles.
    fn points(label: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Self {
        Line::new(label, color, Stroke::Points, points)
    }

    /// Its legend entry (targets show as dashed: the legend has no dots).
    fn entry(&self) -> LegendEntry {
        LegendEntry {
            label: self.label.clone(),
            color: self.color,
            dashed: !matches!(self.stroke, Stroke::Solid | Stroke::Points),
        }
    }
}

/// One panel: title, log-log axes (x ticks at the measured sizes, labelled
/// by their values), lines.
struct BenchPanel {
    title: String,
    x: Axis,
    y: Axis,
    lines: Vec<Line>,
}

/// A size or rate from its log10 for a tick label: "16", "1000", "1e5".
fn count_label(v: f64) -> String {
    let n = 10f64.powf(v).round();
    if n >= 1e5 {
        format!("1e{}", n.log10().round())
    } else {
        format!("{n}")
    }
}

/// A log10 x axis over the measured `sizes` (data units), padded by a fifth
/// of a decade, ticks at the sizes themselves.
fn size_axis(sizes: &[f64], desc: &str) -> Axis {
    let mut ticks: Vec<f64> = sizes.iter().map(|s| s.log10()).collect();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    let (lo, hi) = match (ticks.first(), ticks.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => (0.0, 1.0),
    };
    Axis {
        ticks,
        ..Axis::log10(lo - 0.2, hi + 0.2, desc)
    }
}

/// A log10 y axis over whole decades covering every point of `lines`.
fn decade_axis(lines: &[Line], desc: &str) -> Axis {
    let ys = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if lo > hi {
        return Axis::log10(0.0, 1.0, desc);
    }
    Axis::log10(lo.floor(), hi.ceil().max(lo.floor() + 1.0), desc)
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &BenchPanel) -> DrawResult {
    let mut y_label_w = 0;
    for t in &p.y.ticks {
        let (w, _) = area.estimate_text_size(
            &p.y.label(*t),
            &(FONT, style::TICK_SIZE).into_text_style(area),
        )?;
        y_label_w = y_label_w.max(w);
    }
    let xl = |v: f64| count_label(v);
    let yl = |v: f64| p.y.label(v);
    let mut chart = framed_chart(area, &p.title, &p.x, &p.y, &xl, &yl, y_label_w + 48)?;
    for l in p.lines.iter().filter(|l| !l.points.is_empty()) {
        let pts = l.points.iter().copied();
        match l.stroke {
            Stroke::Solid => {
                chart.draw_series(LineSeries::new(
                    pts,
                    l.color.stroke_width(style::LINE_WIDTH),
                ))?;
                // The measured sizes, marked.
                chart.draw_series(
                    l.points
                        .iter()
                        .map(|&q| Circle::new(q, 4, l.color.filled())),
                )?;
            }
            Stroke::Dashed => {
                chart.draw_series(DashedLineSeries::new(
                    pts,
                    10,
                    6,
                    l.color.stroke_width(style::LINE_WIDTH - 1),
                ))?;
            }
            Stroke::Dotted => {
                chart.draw_series(DashedLineSeries::new(
                    pts,
                    4,
                    5,
                    l.color.stroke_width(style::LINE_WIDTH),
                ))?;
            }
            Stroke::Points => {
                chart.draw_series(pts.map(|q| TriangleMarker::new(q, 9, l.color.filled())))?;
            }
        }
    }
    chart.plotting_area().draw(&PathElement::new(
        [(p.x.lo, p.y.hi), (p.x.hi, p.y.hi), (p.x.hi, p.y.lo)],
        style::INK.stroke_width(1),
    ))?;
    Ok(())
}

struct BenchFig {
    title: String,
    panels: Vec<BenchPanel>,
}

impl Figure for BenchFig {
    fn size(&self) -> (u32, u32) {
        (560 * self.panels.len() as u32, 700)
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
            .flat_map(|p| p.lines.iter().map(Line::entry))
        {
            if !entries.contains(&e) {
                entries.push(e);
            }
        }
        let lh = legend_height(&body, w, &entries)?;
        let (plots, legend) = body.split_vertically(body.dim_in_pixel().1 - lh - 10);
        for (p, area) in self
            .panels
            .iter()
            .zip(plots.split_evenly((1, self.panels.len())))
        {
            draw_panel(&area, p)?;
        }
        draw_legend(&legend, &entries)
    }
}

/// Steps per second on the paper's toy against the MLP width (one thread;
/// a 64-run sweep on all cores), the tabular policy's rates as horizontal
/// lines, and the 64-run targets: tabular across the panel, the
/// width-64 MLP around width 64.
fn throughput_panel(rows: &[BenchRow]) -> Option<BenchPanel> {
    let paper: Vec<&BenchRow> = rows.iter().filter(|r| r.case == "paper").collect();
    let mlp_in = |sweep: bool, precision: &str| -> Vec<&BenchRow> {
        paper
            .iter()
            .copied()
            .filter(|r| r.policy == "mlp" && (r.threads > 1) == sweep && r.precision == precision)
            .collect()
    };
    let mlp_rows = |sweep: bool| mlp_in(sweep, "f64");
    let (one32, all32) = (mlp_in(false, "f32-native"), mlp_in(true, "f32-native"));
    let point = |r: &BenchRow| ((r.width as f64).log10(), r.steps_per_sec.log10());
    let (one, all) = (mlp_rows(false), mlp_rows(true));
    let widths: Vec<f64> = one.iter().chain(&all).map(|r| r.width as f64).collect();
    if widths.is_empty() {
        return None;
    }
    // Rows from before the activation was recorded leave it empty.
    let activation = one
        .iter()
        .chain(&all)
        .map(|r| r.activation.as_str())
        .find(|a| !a.is_empty())
        .unwrap_or("activation not recorded");
    let x = size_axis(&widths, "MLP width");
    let across = |y: f64| vec![(x.lo, y.log10()), (x.hi, y.log10())];
    let tab = |sweep: bool| {
        paper
            .iter()
            .find(|r| r.policy == "tabular" && (r.threads > 1) == sweep)
            .map_or_else(Vec::new, |r| across(r.steps_per_sec))
    };
    let w64 = 64f64.log10();
    let mut lines = vec![
        Line::new(
            &format!("MLP ({activation}), f64, one run on 1 thread"),
            style::CHOSEN_MIN,
            Stroke::Solid,
            one.iter().map(|r| point(r)).collect(),
        ),
        Line::new(
            &format!("MLP ({activation}), f64, 64 runs on all cores"),
            style::CHOSEN,
            Stroke::Solid,
            all.iter().map(|r| point(r)).collect(),
        ),
        Line::new(
            "tabular, one run on 1 thread",
            style::REJECTED_MAX,
            Stroke::Dashed,
            tab(false),
        ),
        Line::new(
            "tabular, 64 runs on all cores",
            style::REJECTED,
            Stroke::Dashed,
            tab(true),
        ),
        Line::new(
            &format!(
                "target, 64 runs: tabular {} M steps/s",
                TARGET_TABULAR_SWEEP / 1e6
            ),
            TARGET,
            Stroke::Dotted,
            across(TARGET_TABULAR_SWEEP),
        ),
    ];
    // The JAX peer, if it was timed: its MLP sweeps, its tabular sweep, and
    // the width-64 target as 6× its rate (else 6× the quoted JAX).
    let peer: Vec<&BenchRow> = rows.iter().filter(|r| r.case == "peer").collect();
    let peer_mlp: Vec<(f64, f64)> = peer
        .iter()
        .filter(|r| r.policy == "mlp")
        .map(|r| point(r))
        .collect();
    let peer64 = peer.iter().find(|r| r.policy == "mlp" && r.width == 64);
    let factor = TARGET_MLP64_SWEEP / JAX_MLP64_SWEEP;
    let (target64, target_label) = match peer64 {
        Some(p) => (
            factor * p.steps_per_sec,
            format!(
                "target, 64 runs: MLP width 64 {:.0} k steps/s ({factor}× the JAX peer)",
                factor * p.steps_per_sec / 1e3
            ),
        ),
        None => (
            TARGET_MLP64_SWEEP,
            format!(
                "target, 64 runs: MLP width 64 {} k steps/s ({factor}× the issue's JAX {} k)",
                TARGET_MLP64_SWEEP / 1e3,
                JAX_MLP64_SWEEP / 1e3
            ),
        ),
    };
    lines.push(Line::new(
        &target_label,
        TARGET,
        Stroke::Dotted,
        vec![
            (w64 - 0.12, target64.log10()),
            (w64 + 0.12, target64.log10()),
        ],
    ));
    if let Some(name) = peer.first().map(|r| r.peer.as_str()) {
        if !peer_mlp.is_empty() {
            lines.push(Line::new(
                &format!("JAX peer ({name}), MLP, f64, 64 runs"),
                PEER,
                Stroke::Solid,
                peer_mlp,
            ));
        }
        if let Some(t) = peer.iter().find(|r| r.policy == "tabular") {
            lines.push(Line::new(
                &format!("JAX peer ({name}), tabular, f64, 64 runs"),
                PEER,
                Stroke::Dashed,
                across(t.steps_per_sec),
            ));
        }
    }
    if !all32.is_empty() {
        lines.push(Line::new(
            &format!("MLP ({activation}), f32-native, one run on 1 thread"),
            style::CHOSEN_MIN,
            Stroke::Dashed,
            one32.iter().map(|r| point(r)).collect(),
        ));
        lines.push(Line::new(
            &format!("MLP ({activation}), f32-native, 64 runs on all cores"),
            style::CHOSEN,
            Stroke::Dashed,
            all32.iter().map(|r| point(r)).collect(),
        ));
    }
    let sgd: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.case == "paper-sgd" && r.policy == "mlp" && r.precision == "f64")
        .map(point)
        .collect();
    if !sgd.is_empty() {
        lines.push(Line::new(
            &format!("MLP ({activation}), f64, plain SGD (no divider), one run on 1 thread"),
            NO_DIVIDER,
            Stroke::Dotted,
            sgd,
        ));
    }
    let y = decade_axis(&lines, "training steps per second");
    Some(BenchPanel {
        title: "steps/s on the paper's toy (4 × 10)".into(),
        x,
        y,
        lines,
    })
}

/// The tabular step time against the number of responses (`key` 0) or of
/// prompts (1), with the streaming floor and the target of
/// [`TARGET_STREAM_FACTOR`] times it; the rows of `split_case` (one run split
/// over the threads) as points.
fn scaling_panel(
    rows: &[BenchRow],
    case: &str,
    split_case: Option<&str>,
    key: usize,
    desc: &str,
) -> Option<BenchPanel> {
    let sel: Vec<&BenchRow> = rows.iter().filter(|r| r.case == case).collect();
    if sel.is_empty() {
        return None;
    }
    let size = |r: &BenchRow| if key == 0 { r.responses } else { r.prompts } as f64;
    let step: Vec<(f64, f64)> = sel
        .iter()
        .map(|r| (size(r).log10(), r.ns_per_step.log10()))
        .collect();
    let stream: Vec<(f64, f64)> = sel
        .iter()
        .filter_map(|r| r.stream_ns.map(|s| (size(r).log10(), s.log10())))
        .collect();
    let target: Vec<(f64, f64)> = stream
        .iter()
        .map(|&(x, y)| (x, y + TARGET_STREAM_FACTOR.log10()))
        .collect();
    let sizes: Vec<f64> = sel.iter().map(|r| size(r)).collect();
    let mut lines = vec![
        Line::new(
            "tabular DPO + Adam step, one thread (measured)",
            style::INK,
            Stroke::Solid,
            step,
        ),
        Line::new(
            "stream params + Adam state once, one thread (measured)",
            style::UNSEEN_STRICT,
            Stroke::Dashed,
            stream,
        ),
        Line::new(
            &format!("target: {TARGET_STREAM_FACTOR} × one-thread stream"),
            TARGET,
            Stroke::Dotted,
            target,
        ),
    ];
    // One run split over every thread (wall time), drawn as points: the
    // case times the largest size only.
    let split: Vec<&BenchRow> = match split_case {
        Some(c) => rows.iter().filter(|r| r.case == c).collect(),
        None => Vec::new(),
    };
    if let Some(t) = split.first().map(|r| r.threads) {
        lines.push(Line::points(
            &format!("the step, one run split over {t} threads (wall time)"),
            style::CHOSEN,
            split
                .iter()
                .map(|r| (size(r).log10(), r.ns_per_step.log10()))
                .collect(),
        ));
        lines.push(Line::points(
            &format!("the stream, split over {t} threads"),
            style::UNSEEN_STRICT,
            split
                .iter()
                .filter_map(|r| r.stream_ns.map(|s| (size(r).log10(), s.log10())))
                .collect(),
        ));
    }
    Some(BenchPanel {
        title: format!(
            "tabular step time vs {}",
            if key == 0 { "responses" } else { "prompts" }
        ),
        x: size_axis(&sizes, desc),
        y: decade_axis(&lines, "ns per training step"),
        lines,
    })
}

/// The `scale-logits` rows against the number of logits: the step time
/// (`memory` false) or the peak memory (true) of each policy, its fitted
/// log-log slope in the legend, and, for memory, the bytes per logit of the
/// largest case.
fn logits_panel(rows: &[BenchRow], memory: bool) -> Option<BenchPanel> {
    let sel: Vec<&BenchRow> = rows.iter().filter(|r| r.case == "scale-logits").collect();
    if sel.is_empty() || (memory && sel.iter().all(|r| r.peak_bytes.is_none())) {
        return None;
    }
    let logits = |r: &BenchRow| (r.prompts * r.responses) as f64;
    let mut lines = Vec::new();
    for (kind, color) in [("tabular", style::INK), ("loglinear", style::CHOSEN)] {
        let of: Vec<&&BenchRow> = sel.iter().filter(|r| r.policy == kind).collect();
        let Some(last) = of.last() else { continue };
        let value = |r: &BenchRow| {
            if memory {
                r.peak_bytes
            } else {
                Some(r.ns_per_step)
            }
        };
        let slope = if memory {
            last.memory_slope
        } else {
            last.time_slope
        };
        let slope = slope.map_or("no fit".into(), |s| format!("slope {s:.2}"));
        let label = match (memory, last.peak_bytes) {
            (true, Some(b)) => format!(
                "memory, {kind}: log-log {slope}; {:.0} bytes per logit at {}",
                b / logits(last),
                count_label(logits(last).log10())
            ),
            _ => format!("step time, {kind}: log-log {slope}"),
        };
        let points = of
            .iter()
            .filter_map(|r| value(r).map(|v| (logits(r).log10(), v.log10())))
            .collect();
        lines.push(Line::new(&label, color, Stroke::Solid, points));
    }
    let sizes: Vec<f64> = sel.iter().map(|r| logits(r)).collect();
    let (title, y) = if memory {
        ("peak memory of one run vs logits", "peak bytes of one run")
    } else {
        (
            "step time vs logits (1 000 responses)",
            "ns per training step (one thread)",
        )
    };
    Some(BenchPanel {
        title: title.into(),
        x: size_axis(&sizes, "logits (prompts × responses)"),
        y: decade_axis(&lines, y),
        lines,
    })
}

/// Draws `STEM.png`/`.svg`: steps per second on the paper's toy against
/// the MLP width with the 64-run targets, and the tabular step time as
/// responses and prompts grow against the streaming floor and its target;
/// log-log axes spanning the measured sizes.
/// The title names the machine the rows were timed on.
pub fn bench_figure(stem: &Path, rows: &[BenchRow]) -> Result<()> {
    let panels: Vec<BenchPanel> = [
        throughput_panel(rows),
        scaling_panel(
            rows,
            "scale-responses",
            Some("split-responses"),
            0,
            "number of responses (4 prompts)",
        ),
        scaling_panel(
            rows,
            "scale-prompts",
            None,
            1,
            "number of prompts (10 responses)",
        ),
        logits_panel(rows, false),
        logits_panel(rows, true),
    ]
    .into_iter()
    .flatten()
    .collect();
    if panels.is_empty() {
        return Err(Error::io(stem, "cannot draw: no benchmark rows"));
    }
    let machine = rows
        .iter()
        .map(|r| r.machine.as_str())
        .find(|m| !m.is_empty())
        .unwrap_or("machine not recorded in bench.csv");
    save(
        &BenchFig {
            title: format!("dpo-lab bench · DPO + Adam · {machine}"),
            panels,
        },
        stem,
    )
}
