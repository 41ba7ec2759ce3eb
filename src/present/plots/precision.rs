//! The f32 versus f64 figure (issue 5, item 4; issue 11, item 3): for the
//! paper's scenarios 2-4, the average chosen, rejected (log scale) and
//! unseen probabilities of the same run in f64 (solid) and computed in
//! float32 (`f32-native`, dashed), the gap between the two unseen curves, a
//! marker at the epoch the rejected probability passes the bottom of the
//! f32 range, and the unseen mass as float32 plotting code might average it
//! ([`crate::analysis::bookkeeping`]). See [`crate::maths::policy::native`] for the float32 path and
//! [`crate::studies::late_jump`] for the study, which runs the report's
//! runs ([`crate::studies::late_jump::run_report`]); this module only draws.

use super::panels::{draw_legend, legend_height, line_chart, Axis, LegendEntry, Series};
use super::style::{self, FONT};
use super::{nice_ticks, save, DrawResult, Figure};
use crate::analysis::bookkeeping::Candidate;
use crate::error::Result;
use crate::maths::data::scenario_title;
use crate::maths::precision::{to_f32, F32_MIN_NORMAL, F32_MIN_SUBNORMAL};
use crate::present::names::optimizer_name;
use crate::studies::late_jump::{Facts, JumpRule, Shown};
use crate::studies::precision::{self, PairedRun};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::f64::consts::LN_10;
use std::path::Path;

/// Epochs per point of the gap curve (its maximum over the bin).
const GAP_BIN: usize = 25;

/// Colour of the f32 curves (dashed, over the solid f64 ones).
const F32_INK: RGBColor = RGBColor(0x11, 0x11, 0x11);
/// The marker at the epoch the rejected probability leaves the f32 range.
const MARKER: RGBColor = RGBColor(0xe6, 0x8a, 0x00);
/// The f32 range's bottoms on the rejected panel.
const BOTTOM: RGBColor = RGBColor(0x96, 0x96, 0x96);
/// The gap between the two unseen curves.
const GAP: RGBColor = RGBColor(0x6a, 0x3d, 0x9a);

/// The float32 bookkeeping candidates ([`Candidate::ALL`] order) and the
/// markers of the underflow of unseen entries.
const CANDIDATE_INK: [RGBColor; 4] = [
    RGBColor(0x99, 0x99, 0x00),
    RGBColor(0xe7, 0x29, 0x8a),
    RGBColor(0x1f, 0x78, 0xb4),
    RGBColor(0x8c, 0x8c, 0x8c),
];
const FIRST_ZERO: RGBColor = RGBColor(0x8c, 0x51, 0x0a);
const REJ_ZERO: RGBColor = RGBColor(0x54, 0x27, 0x88);

const F32_LABEL: &str =
    "float32 arithmetic, f32-native (dashed; rejected: the probability f32 stores)";
const FIRST_ZERO_LABEL: &str = "first unseen entry exactly 0 in the float32 softmax";
const REJ_ZERO_LABEL: &str = "from here every other pair's rejected entry is 0";
const MARKER_LABEL: &str = "avg rejected (f64) passes 1.4e-45, f32's smallest subnormal";
const BOTTOM_LABEL: &str = "f32's smallest normal (1.2e-38) and subnormal (1.4e-45)";
const GAP_LABEL: &str = "|avg unseen f32 − f64|, max per 25 epochs";
/// Legend label of a candidate's curve.
fn candidate_label(c: Candidate) -> String {
    format!("float32 {}: {}", c.name(), c.torch())
}

/// Legend labels in reading order (the candidates' are added after these).
const LEGEND_ORDER: [&str; 9] = [
    "avg chosen, f64",
    "avg rejected, f64",
    "avg unseen (outside own pair), f64",
    F32_LABEL,
    GAP_LABEL,
    MARKER_LABEL,
    BOTTOM_LABEL,
    FIRST_ZERO_LABEL,
    REJ_ZERO_LABEL,
];

/// One row of the figure: title and y axis shared by the columns.
struct Row {
    title: &'static str,
    axis: Axis,
}

/// One column: a scenario's paired run.
struct Column {
    header: String,
    /// Lines under the header.
    sub: Vec<String>,
    /// One list of curves per row.
    series: Vec<Vec<Series>>,
    /// Per row, an epoch axis of its own (a zoom), if not the figure's.
    xs: Vec<Option<Axis>>,
}

struct PrecisionFig {
    title: String,
    x: Axis,
    rows: Vec<Row>,
    columns: Vec<Column>,
    legend: Vec<LegendEntry>,
}

impl Figure for PrecisionFig {
    fn size(&self) -> (u32, u32) {
        (
            580 * self.columns.len() as u32,
            330 * self.rows.len() as u32 + 300,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let title_h = style::TITLE_SIZE + 24;
        let (head, body) = root.split_vertically(title_h);
        let (w, _) = head.dim_in_pixel();
        head.draw(&Text::new(
            self.title.clone(),
            (w as i32 / 2, title_h as i32 / 2 + 2),
            (FONT, style::TITLE_SIZE)
                .into_font()
                .color(&style::INK)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
        let (bw, bh) = body.dim_in_pixel();
        let legend_h = legend_height(&body, bw, &self.legend)?;
        let (grid, legend) = body.split_vertically(bh.saturating_sub(legend_h));
        for (col, area) in self
            .columns
            .iter()
            .zip(grid.split_evenly((1, self.columns.len())))
        {
            let lines = 1 + col.sub.len() as u32;
            let header_h = lines * (style::PANEL_TITLE_SIZE + 6) + 18;
            let (hd, rest) = area.split_vertically(header_h);
            let (hw, _) = hd.dim_in_pixel();
            let head = std::iter::once((&col.header, style::PANEL_TITLE_SIZE + 2));
            let subs = col.sub.iter().map(|s| (s, style::PANEL_TITLE_SIZE - 3));
            for (i, (line, size)) in head.chain(subs).enumerate() {
                hd.draw(&Text::new(
                    line.clone(),
                    (
                        hw as i32 / 2,
                        8 + i as i32 * (style::PANEL_TITLE_SIZE as i32 + 6),
                    ),
                    (FONT, size)
                        .into_font()
                        .color(&style::INK)
                        .pos(Pos::new(HPos::Center, VPos::Top)),
                ))?;
            }
            for (i, ((row, series), cell)) in self
                .rows
                .iter()
                .zip(&col.series)
                .zip(rest.split_evenly((self.rows.len(), 1)))
                .enumerate()
            {
                let x = col.xs.get(i).and_then(Option::as_ref).unwrap_or(&self.x);
                line_chart(&cell, row.title, x, &row.axis, series)?;
            }
        }
        draw_legend(&legend, &self.legend)
    }
}

/// `+0.0135` / `−0.0120`.
fn signed(v: f64) -> String {
    if v < 0.0 {
        format!("−{:.3}", -v)
    } else {
        format!("+{v:.3}")
    }
}

/// A vertical line at epoch `e` across `axis`.
fn vline(label: &str, e: usize, axis: &Axis) -> Series {
    Series::new(
        label,
        MARKER,
        true,
        [(e as f64, axis.lo), (e as f64, axis.hi)],
    )
}

/// A horizontal line at `y` from epoch 0 to `last`.
fn hline(label: &str, y: f64, last: f64) -> Series {
    Series::new(label, BOTTOM, true, [(0.0, y), (last, y)])
}

/// A linear axis from 0 to a little above the largest of `ys`.
fn up_to(ys: impl IntoIterator<Item = f64>, desc: &str) -> Axis {
    let hi = ys.into_iter().filter(|y| y.is_finite()).fold(0.0, f64::max);
    let hi = ((hi * 1.08) * 20.0).ceil() / 20.0;
    Axis {
        ticks: nice_ticks(0.0, hi, 5, false),
        ..Axis::linear(0.0, hi.max(0.05), desc)
    }
}

/// The mean over the pairs of the rejected probability as the f32 run
/// stores it (`exp` of the stored log-probability, rounded: 0 below f32's
/// smallest subnormal), per epoch, as `(epoch, log10)`.
fn stored_f32_rejected(p: &PairedRun) -> Vec<(f64, f64)> {
    let y = p.f32.n_responses;
    let n = p.data.pairs.len() as f64;
    p.f32
        .snapshots
        .iter()
        .map(|(e, logp)| {
            let mean = p
                .data
                .pairs
                .iter()
                .map(|q| to_f32(logp[q.prompt * y + q.rejected].exp()))
                .sum::<f64>()
                / n;
            (*e as f64, mean.log10())
        })
        .collect()
}

/// A vertical line at epoch `e` across `axis`, in `color`.
fn vline_in(label: &str, color: RGBColor, e: usize, axis: &Axis) -> Series {
    Series::new(
        label,
        color,
        true,
        [(e as f64, axis.lo), (e as f64, axis.hi)],
    )
}

/// Draws the figure for the runs `shown` (one per column) to `STEM.png`
/// and `STEM.svg`; `rule` names the late-jump window in the headers.
pub fn precision_plot(stem: &Path, shown: &[&Shown], rule: &JumpRule, title: &str) -> Result<()> {
    let pairs: Vec<(&PairedRun, &precision::PairStats)> =
        shown.iter().map(|s| (&s.pair, &s.stats)).collect();
    let shown_all = shown;
    let shown = &pairs;
    let last = shown
        .iter()
        .filter_map(|(p, _)| p.f64.metrics.last())
        .map(|m| m.epoch)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let x = Axis {
        ticks: nice_ticks(0.0, last, 5, true),
        ..Axis::linear(0.0, last, "epoch")
    };
    let both = |f: fn(&crate::engine::metrics::MetricsRow) -> f64| {
        shown
            .iter()
            .flat_map(move |(p, _)| p.f64.metrics.iter().chain(&p.f32.metrics).map(f))
            .collect::<Vec<f64>>()
    };
    let chosen_axis = up_to(both(|r| r.avg_chosen), "probability");
    let unseen_axis = up_to(both(|r| r.avg_unseen), "probability");
    let rejected_axis = Axis::log10_covering(
        both(|r| r.logp_avg_rejected / LN_10)
            .into_iter()
            .chain([F32_MIN_SUBNORMAL.log10()]),
        Some(0.0),
        "probability",
    );
    // The gap flickers by orders of magnitude from one epoch to the next;
    // its maximum per bin of GAP_BIN epochs reads better.
    let gaps: Vec<Vec<(f64, f64)>> = shown
        .iter()
        .map(|(p, _)| {
            let d: Vec<(usize, f64)> = p
                .f64
                .metrics
                .iter()
                .zip(&p.f32.metrics)
                .map(|(a, b)| (a.epoch, (b.avg_unseen - a.avg_unseen).abs()))
                .collect();
            d.chunks(GAP_BIN)
                .map(|c| {
                    let mid = (c[0].0 + c[c.len() - 1].0) as f64 / 2.0;
                    (mid, c.iter().map(|x| x.1).fold(0.0, f64::max).log10())
                })
                .collect()
        })
        .collect();
    let gap_axis = Axis::log10_covering(gaps.iter().flatten().map(|g| g.1), None, "|f32 − f64|");
    let book_axis = up_to(
        shown_all
            .iter()
            .flat_map(|s| s.curves.values.iter().flatten().copied())
            .chain(both(|r| r.avg_unseen)),
        "probability",
    );
    let mut columns = Vec::new();
    for (((p, s), gap), sh) in shown.iter().zip(gaps).zip(shown_all) {
        let f64_curve =
            |label: &str, color, f: &dyn Fn(&crate::engine::metrics::MetricsRow) -> f64| {
                Series::new(
                    label,
                    color,
                    false,
                    p.f64.metrics.iter().map(|r| (r.epoch as f64, f(r))),
                )
            };
        let f32_curve = |f: &dyn Fn(&crate::engine::metrics::MetricsRow) -> f64| {
            Series::new(
                F32_LABEL,
                F32_INK,
                true,
                p.f32.metrics.iter().map(|r| (r.epoch as f64, f(r))),
            )
        };
        let cross = s.cross_subnormal_avg;
        let with_marker = |mut v: Vec<Series>, axis: &Axis| {
            if let Some(e) = cross {
                v.insert(0, vline(MARKER_LABEL, e, axis));
            }
            v
        };
        let series = vec![
            with_marker(
                vec![
                    f64_curve("avg chosen, f64", style::CHOSEN, &|r| r.avg_chosen),
                    f32_curve(&|r| r.avg_chosen),
                ],
                &chosen_axis,
            ),
            with_marker(
                vec![
                    hline(BOTTOM_LABEL, F32_MIN_NORMAL.log10(), last),
                    hline(BOTTOM_LABEL, F32_MIN_SUBNORMAL.log10(), last),
                    f64_curve("avg rejected, f64", style::REJECTED, &|r| {
                        r.logp_avg_rejected / LN_10
                    }),
                    Series {
                        points: stored_f32_rejected(p)
                            .into_iter()
                            .filter(|q| q.1.is_finite())
                            .collect(),
                        ..f32_curve(&|_| f64::NAN)
                    },
                ],
                &rejected_axis,
            ),
            with_marker(
                vec![
                    f64_curve("avg unseen (outside own pair), f64", style::UNSEEN, &|r| {
                        r.avg_unseen
                    }),
                    f32_curve(&|r| r.avg_unseen),
                ],
                &unseen_axis,
            ),
            with_marker(vec![Series::new(GAP_LABEL, GAP, false, gap)], &gap_axis),
        ];
        let zoom = underflow_zoom(sh, rule, last);
        let mut series = series;
        series.push(bookkeeping_series(sh, &book_axis, zoom.as_ref()));
        let jump = match s.event(false) {
            Some((change, at)) => format!("avg unseen {} in 20 epochs at {at}", signed(change)),
            None => format!(
                "no sudden late change (largest {:.0e})",
                s.rise_f64.0.max(s.fall_f64.0)
            ),
        };
        let pooled = Candidate::NonzeroPooled;
        let book = match sh.facts.of(pooled).and_then(|c| c.rise) {
            Some(r) => format!(
                "{}: largest rise in {} epochs ×{:.2} at {}",
                pooled.torch(),
                rule.window,
                r.ratio,
                r.end
            ),
            None => format!("{}: no late window", pooled.torch()),
        };
        columns.push(Column {
            header: scenario_title(&p.scenario).to_string(),
            sub: vec![format!("seed {} · {jump}", p.seed), book],
            series,
            xs: vec![None, None, None, None, zoom],
        });
    }
    // One legend entry per label, in a reading order.
    let mut legend: Vec<LegendEntry> = Vec::new();
    let labels: Vec<String> = LEGEND_ORDER
        .iter()
        .map(|l| l.to_string())
        .chain(Candidate::ALL.iter().map(|&c| candidate_label(c)))
        .collect();
    for label in &labels {
        let found = columns
            .iter()
            .flat_map(|c| c.series.iter().flatten())
            .find(|s| s.label == *label);
        if let Some(s) = found {
            legend.push(s.entry());
        }
    }
    save(
        &PrecisionFig {
            title: title.into(),
            x,
            rows: vec![
                Row {
                    title: "avg chosen probability",
                    axis: chosen_axis,
                },
                Row {
                    title: "avg rejected probability, log scale",
                    axis: rejected_axis,
                },
                Row {
                    title: "avg unseen probability (outside own pair)",
                    axis: unseen_axis,
                },
                Row {
                    title: "gap between the unseen curves, log scale",
                    axis: gap_axis,
                },
                Row {
                    title: "avg unseen, float32 averages (zoom)",
                    axis: book_axis,
                },
            ],
            columns,
            legend,
        },
        stem,
    )
}

/// The bottom row of a column: the f64 `avg_unseen` and the candidate
/// averages of the f32 run, with markers at the underflows.
/// An epoch axis around the underflows of the unseen entries (from the
/// first to the one from which every other pair's rejected entry is 0),
/// with a margin of a quarter of that span, at least five jump windows.
fn underflow_zoom(sh: &Shown, rule: &JumpRule, last: f64) -> Option<Axis> {
    let (a, b) = (
        sh.facts.first_zero? as f64,
        sh.facts.other_rejected_zero.unwrap_or(last as usize) as f64,
    );
    let margin = ((b - a) / 4.0).max(5.0 * rule.window as f64);
    let (lo, hi) = ((a - margin).max(0.0).floor(), (b + margin).min(last).ceil());
    (hi > lo).then(|| Axis {
        ticks: nice_ticks(lo, hi, 5, true),
        ..Axis::linear(lo, hi, "epoch")
    })
}

/// The bottom row of a column: the f64 `avg_unseen` and the candidate
/// averages of the f32 run, with markers at the underflows, within `zoom`.
fn bookkeeping_series(sh: &Shown, axis: &Axis, zoom: Option<&Axis>) -> Vec<Series> {
    let within = |e: f64| zoom.is_none_or(|z| e >= z.lo && e <= z.hi);
    let mut v = Vec::new();
    if let Some(e) = sh.facts.first_zero {
        v.push(vline_in(FIRST_ZERO_LABEL, FIRST_ZERO, e, axis));
    }
    if let Some(e) = sh.facts.other_rejected_zero {
        v.push(vline_in(REJ_ZERO_LABEL, REJ_ZERO, e, axis));
    }
    v.push(Series::new(
        "avg unseen (outside own pair), f64",
        style::UNSEEN,
        false,
        sh.pair
            .f64
            .metrics
            .iter()
            .map(|r| (r.epoch as f64, r.avg_unseen))
            .filter(|p| within(p.0)),
    ));
    // Drawn last to first so that the plain mean, dashed, lies on top of
    // the f64 curve it equals.
    for (i, c) in Candidate::ALL.iter().enumerate().rev() {
        v.push(Series::new(
            &candidate_label(*c),
            CANDIDATE_INK[i],
            *c == Candidate::Mean || *c == Candidate::NonzeroPerPair,
            sh.curves
                .of(*c)
                .iter()
                .enumerate()
                .map(|(e, &y)| (e as f64, y))
                .filter(|p| within(p.0)),
        ));
    }
    v
}

/// Draws `plots_dir/precision.png` and `.svg` from the runs the study
/// shows (for each of scenarios 2-4 the seed whose `p[p > 0].mean()` has
/// the largest late rise) and returns the Markdown section for `REPORT.md`.
pub fn precision_figure(plots_dir: &Path, facts: &Facts) -> Result<String> {
    let Some(cfg) = facts
        .experiment
        .bases
        .get(1)
        .or(facts.experiment.bases.first())
    else {
        return Ok(String::new());
    };
    let beta = cfg.loss.params.get("beta").copied().unwrap_or(f64::NAN);
    let title = format!(
        "f64 (solid) vs float32 arithmetic (dashed) · {} · DPO (β = {beta}) · {} (lr {}) · {} epochs",
        match cfg.policy.kind.as_str() {
            "mlp" => format!(
                "MLP (width {}, {})",
                cfg.policy.width.unwrap_or(64),
                cfg.policy.activation.as_deref().unwrap_or("tanh")
            ),
            other => format!("{other} policy"),
        },
        optimizer_name(&cfg.optimizer.name),
        cfg.optimizer.lr,
        facts.experiment.epochs
    );
    let shown: Vec<&Shown> = facts.shown.iter().collect();
    precision_plot(&plots_dir.join("precision"), &shown, &facts.rule, &title)?;
    crate::present::precision::markdown(facts)
}
