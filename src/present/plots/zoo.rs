//! Figures of the loss zoo ([`crate::present::zoo`]): the chosen, rejected and unseen
//! curves of several methods side by side ([`loss_zoo`]), and the reward
//! model's own gradients against the policy gradients of DPO and of the
//! reward-model path ([`reward_model`]).

use super::figures::title_strip;
use super::panels::{draw_legend, legend_height, line_chart, Axis, LegendEntry, Panel, Series};
use super::style::{self, FONT};
use super::{nice_ticks, save, DrawResult, Figure};
use crate::engine::train::RunResult;
use crate::error::{Error, Result};
use crate::maths::objective::reward_model::RewardFit;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::f64::consts::LN_10;
use std::path::Path;

/// DPO: black, the reference every other curve is read against.
pub const DPO: RGBColor = RGBColor(0x00, 0x00, 0x00);
/// The reward-model path: a strong red, drawn on top.
pub const RM_PATH: RGBColor = RGBColor(0xe4, 0x1a, 0x1c);

/// The colour of a method's curves (Okabe-Ito for the others; grey for a
/// method without its own colour).
pub fn method_color(name: &str) -> RGBColor {
    match name {
        "dpo" => DPO,
        "rm-kl" => RM_PATH,
        "ipo" => RGBColor(0x00, 0x72, 0xb2),
        "slic" => RGBColor(0x56, 0xb4, 0xe9),
        "flex-dpo" => RGBColor(0xe6, 0x9f, 0x00),
        "sft-dpo" => RGBColor(0x00, 0x9e, 0x73),
        "cdpo" => RGBColor(0xcc, 0x79, 0xa7),
        "dpop" => RGBColor(0x8c, 0x51, 0x0a),
        "kto" => RGBColor(0x6a, 0x3d, 0x9a),
        _ => RGBColor(0x99, 0x99, 0x99),
    }
}

/// Methods drawn dashed, so that curves that end on top of each other
/// (several methods reach a chosen probability of 1) stay distinguishable.
pub fn method_dashed(name: &str) -> bool {
    matches!(name, "slic" | "kto" | "cdpo")
}

/// One method's run in a row of [`loss_zoo`].
#[derive(Debug, Clone)]
pub struct Method<'a> {
    /// The loss or objective name (picks the colour).
    pub name: String,
    /// The legend label.
    pub label: String,
    /// The run drawn.
    pub run: &'a RunResult,
}

/// One row of [`loss_zoo`]: a scenario and its runs, drawn in order (the
/// last on top).
#[derive(Debug, Clone)]
pub struct ZooRow<'a> {
    /// The row's title (its scenario).
    pub title: String,
    /// The methods drawn in the row, the last on top.
    pub methods: Vec<Method<'a>>,
}

/// The three columns of [`loss_zoo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Chosen,
    Rejected,
    Unseen,
}

impl Column {
    const ALL: [Column; 3] = [Column::Chosen, Column::Rejected, Column::Unseen];

    fn title(self) -> &'static str {
        match self {
            Column::Chosen => "avg chosen probability",
            Column::Rejected => "avg rejected probability (log scale)",
            Column::Unseen => "avg unseen probability",
        }
    }

    /// `(log10 epoch, value)` from epoch 1 on.
    fn points(self, r: &RunResult) -> Vec<(f64, f64)> {
        r.metrics
            .iter()
            .filter(|m| m.epoch >= 1)
            .map(|m| {
                let y = match self {
                    Column::Chosen => m.avg_chosen,
                    Column::Rejected => m.logp_avg_rejected / LN_10,
                    Column::Unseen => m.avg_unseen,
                };
                ((m.epoch as f64).log10(), y)
            })
            .collect()
    }
}

/// A linear axis over `[lo, hi]` padded by 5 %, within `[0, 1]`.
fn prob_axis(lo: f64, hi: f64, desc: &str) -> Axis {
    let pad = 0.05 * (hi - lo).max(1e-3);
    let (lo, hi) = ((lo - pad).max(0.0), (hi + pad).min(1.0));
    Axis {
        ticks: nice_ticks(lo, hi, 5, false),
        ..Axis::linear(lo, hi, desc)
    }
}

fn epoch_axis(last: usize) -> Axis {
    let hi = (last.max(10) as f64).log10();
    Axis {
        ticks: nice_ticks(0.0, hi, 4, true),
        ..Axis::log10(0.0, hi, "epoch (log scale)")
    }
}

struct Zoo<'a> {
    title: String,
    rows: &'a [ZooRow<'a>],
}

fn series(m: &Method, col: Column) -> Series {
    Series::new(
        &m.label,
        method_color(&m.name),
        method_dashed(&m.name),
        col.points(m.run),
    )
}

/// A row header: a centred line over a rule; returns the rest of `area`.
fn row_header<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
) -> DrawResult<DrawingArea<DB, Shift>> {
    let size = style::PANEL_TITLE_SIZE + 2;
    let h = size + 20;
    let (head, body) = area.split_vertically(h);
    let (w, hh) = head.dim_in_pixel();
    head.draw(&Text::new(
        title.to_string(),
        (w as i32 / 2, hh as i32 / 2 + 2),
        (FONT, size)
            .into_font()
            .color(&style::INK)
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    head.draw(&PathElement::new(
        [(20, hh as i32 - 1), (w as i32 - 20, hh as i32 - 1)],
        style::GRID.stroke_width(2),
    ))?;
    Ok(body)
}

impl Figure for Zoo<'_> {
    fn size(&self) -> (u32, u32) {
        (1950, 150 + 560 * self.rows.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = title_strip(root, &self.title)?;
        let all: Vec<&Method> = self.rows.iter().flat_map(|r| &r.methods).collect();
        let last = all
            .iter()
            .filter_map(|m| m.run.metrics.last())
            .map(|m| m.epoch)
            .max()
            .unwrap_or(1);
        let x = epoch_axis(last);
        let ys: Vec<Axis> = Column::ALL
            .iter()
            .map(|&c| {
                let v: Vec<f64> = all
                    .iter()
                    .flat_map(|m| c.points(m.run).into_iter().map(|p| p.1))
                    .filter(|y| y.is_finite())
                    .collect();
                let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                match c {
                    Column::Chosen => Axis::linear(0.0, 1.0, "probability"),
                    Column::Rejected => Axis::log10_covering(v, Some(0.0), "probability"),
                    Column::Unseen => prob_axis(lo, hi, "probability"),
                }
            })
            .collect();
        // DPO and the RM path lead the legend; the rest in drawing order.
        let mut ordered: Vec<&&Method> = all.iter().filter(|m| m.name == "dpo").collect();
        ordered.extend(all.iter().filter(|m| m.name == "rm-kl"));
        ordered.extend(all.iter().filter(|m| m.name != "dpo" && m.name != "rm-kl"));
        let mut entries: Vec<LegendEntry> = Vec::new();
        for m in ordered {
            let e = series(m, Column::Chosen).entry();
            if !entries.contains(&e) {
                entries.push(e);
            }
        }
        let (w, h) = body.dim_in_pixel();
        let legend_h = legend_height(&body, w, &entries)?;
        let (grid, legend) = body.split_vertically(h.saturating_sub(legend_h));
        for (row, area) in self
            .rows
            .iter()
            .zip(grid.split_evenly((self.rows.len(), 1)))
        {
            let cells = row_header(&area, &row.title)?;
            for ((&c, y), cell) in Column::ALL
                .iter()
                .zip(&ys)
                .zip(cells.split_evenly((1, Column::ALL.len())))
            {
                let s: Vec<Series> = row.methods.iter().map(|m| series(m, c)).collect();
                line_chart(&cell, c.title(), &x, y, &s)?;
            }
        }
        draw_legend(&legend, &entries)
    }
}

fn check(stem: &Path, ok: bool) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::io(
            stem,
            "cannot draw: a run kept no metrics (it needs Keep::ALL)",
        ))
    }
}

/// The comparison figure: one row per scenario, columns avg chosen (linear),
/// avg rejected (log) and avg unseen (linear) over log-scale epochs, one
/// curve per method, one legend below.
pub fn loss_zoo(stem: &Path, rows: &[ZooRow], title: &str) -> Result<()> {
    let ok = !rows.is_empty()
        && rows
            .iter()
            .all(|r| r.methods.iter().all(|m| !m.run.metrics.is_empty()));
    check(stem, ok)?;
    save(
        &Zoo {
            title: title.into(),
            rows,
        },
        stem,
    )
}

struct RewardFig<'a> {
    title: String,
    fit: &'a RewardFit,
    dpo: &'a RunResult,
    rm: &'a RunResult,
}

impl Figure for RewardFig<'_> {
    fn size(&self) -> (u32, u32) {
        (1950, 640)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = title_strip(root, &self.title)?;
        let mean_abs = |v: &[f64]| v.iter().map(|g| g.abs().log10()).sum::<f64>() / v.len() as f64;
        // Mean over pairs of log10 |∂R/∂r±|.
        let fit_series = vec![
            Series::new(
                "|∂R/∂r+| (chosen)",
                style::CHOSEN,
                false,
                self.fit
                    .trace
                    .iter()
                    .map(|s| (s.step as f64, mean_abs(&s.grad_plus))),
            ),
            Series::new(
                "|∂R/∂r−| (rejected), on top",
                style::REJECTED,
                true,
                self.fit
                    .trace
                    .iter()
                    .map(|s| (s.step as f64, mean_abs(&s.grad_minus))),
            ),
        ];
        let steps = self.fit.trace.last().map_or(1, |s| s.step).max(1) as f64;
        let fit_x = Axis {
            ticks: nice_ticks(0.0, steps, 5, true),
            ..Axis::linear(0.0, steps, "reward-model fit step")
        };
        let fit_y = Axis::log10_covering(
            fit_series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
            None,
            "|∂R/∂r|",
        );
        let runs = [self.dpo, self.rm];
        let epochs = super::panels::epoch_axis(&runs);
        let grad_y = Panel::Gradient.y_axis(&[self.dpo]);
        let rm_series: Vec<Series> = Panel::Gradient
            .series(self.rm)
            .into_iter()
            .map(|mut s| {
                s.label = s.label.replace('ℓ', "L");
                s
            })
            .collect();
        // Its own scale: on the DPO panel's 70 decades the RM path's two
        // curves, a fraction of a decade apart, would draw as one line and
        // hide the chosen one under the rejected one.
        let rm_y = Axis::log10_covering(
            rm_series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
            None,
            "|∂L/∂π|",
        );
        let panels: [(&str, &Axis, &Axis, Vec<Series>); 3] = [
            (
                "reward-model fit: |∂R/∂r+| = |∂R/∂r−|",
                &fit_x,
                &fit_y,
                fit_series,
            ),
            (
                "DPO policy: |∂ℓ/∂π±|",
                &epochs,
                &grad_y,
                Panel::Gradient.series(self.dpo),
            ),
            (
                "RM-path policy: |∂L/∂π±| (reward fixed; own scale)",
                &epochs,
                &rm_y,
                rm_series,
            ),
        ];
        let (w, h) = body.dim_in_pixel();
        let col_w = w / panels.len() as u32;
        let mut legend_h = 0;
        for p in &panels {
            let e: Vec<LegendEntry> = p.3.iter().map(Series::entry).collect();
            legend_h = legend_h.max(legend_height(&body, col_w, &e)?);
        }
        let (grid, legend) = body.split_vertically(h.saturating_sub(legend_h));
        for ((title, x, y, s), (cell, leg)) in panels.iter().zip(
            grid.split_evenly((1, panels.len()))
                .into_iter()
                .zip(legend.split_evenly((1, panels.len()))),
        ) {
            line_chart(&cell, title, x, y, s)?;
            let e: Vec<LegendEntry> = s.iter().map(Series::entry).collect();
            draw_legend(&leg, &e)?;
        }
        Ok(())
    }
}

/// The reward model's gradients `|∂R/∂r+|`, `|∂R/∂r−|` over its fit steps
/// (mean over pairs of the log), next to the policy gradients `|∂/∂π±|` of
/// the DPO run (`|∂ℓ/∂π±|`) and of the RM-path run (`|∂L/∂π±|`, on its own
/// log scale so that its two curves stay apart) over epochs.
pub fn reward_model(
    stem: &Path,
    fit: &RewardFit,
    dpo: &RunResult,
    rm: &RunResult,
    title: &str,
) -> Result<()> {
    check(
        stem,
        !fit.trace.is_empty() && !dpo.metrics.is_empty() && !rm.metrics.is_empty(),
    )?;
    save(
        &RewardFig {
            title: title.into(),
            fit,
            dpo,
            rm,
        },
        stem,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::train::{train, Keep};
    use crate::io::config::Config;
    use crate::maths::data::Dataset;
    use crate::maths::objective::reward_model::fit_reward_model;
    use crate::present::plots::figure_check::{assert_affine, Drawn};

    fn run(loss: &str) -> RunResult {
        let cfg = Config::from_toml_str(&format!(
            "epochs = 40\n[policy]\nkind = \"tabular\"\n[data]\nscenario = \"scenario1\"\n\
             [loss]\nname = \"{loss}\"\n[optimizer]\nname = \"adam\"\nlr = 0.05\n"
        ))
        .unwrap();
        train(&cfg.build().unwrap(), Keep::ALL)
    }

    #[test]
    fn both_figures_render() {
        let (dpo, rm, ipo) = (run("dpo"), run("rm-kl"), run("ipo"));
        let methods = |title: &str| ZooRow {
            title: title.into(),
            methods: [("ipo", &ipo), ("dpo", &dpo), ("rm-kl", &rm)]
                .into_iter()
                .map(|(name, run)| Method {
                    name: name.into(),
                    label: name.to_uppercase(),
                    run,
                })
                .collect(),
        };
        let dir = std::env::temp_dir().join(format!("dpo-lab-zoo-test-{}", std::process::id()));
        let stem = dir.join("loss-zoo");
        loss_zoo(&stem, &[methods("one"), methods("two")], "test").unwrap();
        let data = Dataset::scenario("scenario1").unwrap();
        let rm_stem = dir.join("reward-model");
        reward_model(
            &rm_stem,
            &fit_reward_model(&data, 50, 0.1, 1e-3),
            &dpo,
            &rm,
            "test",
        )
        .unwrap();
        let rgb = |c: RGBColor| [c.0, c.1, c.2];
        // The zoo: two rows of three panels, one curve per method in each,
        // a vertex per epoch 1..=40 at (log10 epoch, value).
        let d = Drawn::read(&stem, (1950, 150 + 2 * 560));
        d.assert_texts(&["test", "one", "two", "IPO", "DPO", "RM-KL"]);
        for c in Column::ALL {
            assert_eq!(d.svg.count_text(c.title()), 2, "{}", c.title());
        }
        for (name, run) in [("ipo", &ipo), ("dpo", &dpo), ("rm-kl", &rm)] {
            let color = rgb(method_color(name));
            d.assert_curves(color, 6, 40, 0.3);
            let curves = d.curves(color, 40);
            for (k, c) in Column::ALL.iter().cycle().take(6).enumerate() {
                assert_affine(
                    &curves[k],
                    &c.points(run),
                    1.5,
                    &format!("{name} {c:?} {k}"),
                );
            }
        }
        // The reward-model figure: the fit's two gradients, then DPO's and
        // the RM path's |∂/∂π±| over epochs 0..=40.
        let d = Drawn::read(&rm_stem, (1950, 640));
        d.assert_texts(&[
            "test",
            "reward-model fit: |∂R/∂r+| = |∂R/∂r−|",
            "DPO policy: |∂ℓ/∂π±|",
            "RM-path policy: |∂L/∂π±| (reward fixed; own scale)",
            "|∂R/∂r+| (chosen)",
            "|∂R/∂r−| (rejected), on top",
            "avg |∂L/∂π+| (chosen)",
        ]);
        d.assert_curves(rgb(style::CHOSEN), 3, 41, 0.3);
        d.assert_curves(rgb(style::REJECTED), 2, 41, 0.5);
        let grads = |r: &RunResult| -> Vec<(f64, f64)> {
            r.metrics
                .iter()
                .map(|m| (m.epoch as f64, m.log10_grad_pi_minus.unwrap()))
                .collect()
        };
        let rejected = d.curves(rgb(style::REJECTED), 41);
        assert_affine(&rejected[0], &grads(&dpo), 1.5, "DPO |∂ℓ/∂π−|");
        assert_affine(&rejected[1], &grads(&rm), 1.5, "RM path |∂L/∂π−|");
        // A run without metrics is refused, naming the file.
        let mut empty = dpo.clone();
        empty.metrics.clear();
        let bad = ZooRow {
            title: String::new(),
            methods: vec![Method {
                name: "dpo".into(),
                label: "DPO".into(),
                run: &empty,
            }],
        };
        assert!(loss_zoo(&dir.join("bad"), &[bad], "t").is_err());
        assert!(!dir.join("bad.png").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dpo_and_the_rm_path_have_their_own_colours() {
        let names = [
            "dpo", "rm-kl", "ipo", "slic", "flex-dpo", "sft-dpo", "cdpo", "dpop", "kto",
        ];
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                assert_ne!(method_color(a), method_color(b), "{a} and {b}");
            }
        }
        assert_eq!(method_color("dpo"), DPO);
        assert_eq!(method_color("rm-kl"), RM_PATH);
    }
}
