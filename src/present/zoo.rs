//! The loss zoo presented: the comparison and reward-model figures and the
//! report's section "Every loss on every scenario", from the facts of
//! [`crate::studies::zoo`]. The sentences are `templates/zoo/*.md`; this
//! module formats the numbers, builds the table and picks the phrases the
//! facts call for.

use crate::analysis::runs::Stat;
use crate::error::Result;
use crate::maths::data::scenario_title;
use crate::maths::objective;
use crate::present::names::{optimizer_name, scenario_number};
use crate::present::plots::zoo as fig;
use crate::present::template::{has_line, list, render_file, render_line, Facts};
use crate::studies::facts::RunSetting;
use crate::studies::zoo::{row, Contrast, Notes, Ranked, ScoreRow, ZooFacts, COMPARED};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// How a method is written in figures and the report.
pub fn display_name(name: &str) -> &str {
    match name {
        "dpo" => "DPO",
        "flex-dpo" => "Flex-DPO",
        "sft-dpo" => "SFT-DPO",
        "ipo" => "IPO",
        "slic" => "SLiC",
        "cdpo" => "cDPO",
        "robust-dpo" => "robust DPO",
        "hinge" => "hinge",
        "dpop" => "DPOP",
        "nca" => "NCA",
        "apo-zero" => "APO-zero",
        "apo-down" => "APO-down",
        "sppo-hard" => "SPPO-hard",
        "bco-pair" => "BCO-pair",
        "simpo" => "SimPO",
        "cpo" => "CPO",
        "orpo" => "ORPO",
        "sft" => "SFT",
        "exo-pair" => "EXO-pair",
        "aot" => "AOT",
        "aot-pair" => "AOT-pair",
        "discopop" => "DiscoPOP",
        "dpo-forward-kl" => "DPO (forward KL)",
        "dpo-js" => "DPO (JS)",
        "dpo-alpha" => "DPO (α-divergence)",
        "cal-dpo" => "Cal-DPO",
        "chi-po" => "χPO",
        "beta-dpo" => "β-DPO",
        "kto" => "KTO",
        "rm-kl" => "RM path",
        other => other,
    }
}

/// How a parameter is written in labels (`beta` → β).
pub fn symbol(param: &str) -> &str {
    match param {
        "beta" => "β",
        "beta_plus" => "β+",
        "beta_minus" => "β−",
        "gamma" => "γ",
        "tau" => "τ",
        "delta" => "δ",
        "eta" => "η",
        "epsilon" => "ε",
        "lambda" => "λ",
        "alpha" => "α",
        "r_max" => "R_max",
        "m0" => "M0",
        "lambda_d" => "λ_D",
        "lambda_u" => "λ_U",
        "rm_steps" => "RM steps",
        "rm_lr" => "RM lr",
        "rm_l2" => "RM L2",
        other => other,
    }
}

/// `v` to at most 4 significant digits without trailing zeros.
pub fn num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    if v.abs() >= 1e5 || v.abs() < 1e-3 {
        return format!("{v:.1e}");
    }
    let d = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.d$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `mean ± sd` with `digits` decimals, in scientific notation when the
/// mean is at least 1e4 (robust DPO's drop).
pub fn pm(s: &Stat, digits: usize) -> String {
    if s.mean.abs() >= 1e4 {
        format!("{:.2e} ± {:.1e}", s.mean, s.sd)
    } else {
        s.pm(digits)
    }
}

/// `params` in the order of the method's parameter list (unknown names last).
pub fn ordered_params(name: &str, params: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let order: Vec<&str> = objective::param_specs(name)
        .map(|(_, specs)| specs.iter().map(|p| p.name).collect())
        .unwrap_or_default();
    let mut v: Vec<(String, f64)> = params.iter().map(|(k, v)| (k.clone(), *v)).collect();
    v.sort_by_key(|(k, _)| order.iter().position(|o| o == k).unwrap_or(usize::MAX));
    v
}

/// `name (p1 = v1, ...)` with the named parameters of `params`.
pub fn label(name: &str, params: &BTreeMap<String, f64>, show: &[&str]) -> String {
    let shown: Vec<String> = show
        .iter()
        .filter_map(|k| {
            params
                .get(*k)
                .map(|v| format!("{} = {}", symbol(k), num(*v)))
        })
        .collect();
    if shown.is_empty() {
        display_name(name).to_string()
    } else {
        format!("{} ({})", display_name(name), shown.join(", "))
    }
}

/// `v` as `1e-7`: its order of magnitude in scientific notation.
pub fn sci(v: f64) -> String {
    format!("{v:.0e}")
}

/// `s` with its first letter in upper case (a method name opening a sentence).
pub fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// The D-score table: one line per method and scenario, in the order of
/// `rows`; `params` (per method, its parameters in the sweep) labels the
/// first line of each method.
pub fn table_markdown(
    rows: &[ScoreRow],
    params: &BTreeMap<String, BTreeMap<String, f64>>,
) -> String {
    let with_optimal = rows.iter().any(|r| r.final_optimal.is_some());
    let mut s = String::new();
    let w = &mut s;
    write!(
        w,
        "| method | scenario | drop | degradation | dispersion | peak avg chosen |"
    )
    .ok();
    if with_optimal {
        write!(w, " final optimal prob |").ok();
    }
    writeln!(w, " diverged |").ok();
    writeln!(
        w,
        "|---|---|---|---|---|---|{}---|",
        if with_optimal { "---|" } else { "" }
    )
    .ok();
    let mut last = "";
    for r in rows {
        let name = if r.method == last {
            String::new()
        } else {
            let shown: Vec<String> = params
                .get(&r.method)
                .map(|p| {
                    ordered_params(&r.method, p)
                        .iter()
                        .map(|(k, v)| format!("{} = {}", symbol(k), num(*v)))
                        .collect()
                })
                .unwrap_or_default();
            if shown.is_empty() {
                format!("**{}**", display_name(&r.method))
            } else {
                format!("**{}** ({})", display_name(&r.method), shown.join(", "))
            }
        };
        last = &r.method;
        write!(
            w,
            "| {name} | {} | {} | {} | {} | {} |",
            scenario_number(&r.scenario),
            pm(&r.drop, 1),
            pm(&r.degradation, 3),
            pm(&r.dispersion, 4),
            pm(&r.peak_chosen, 3)
        )
        .ok();
        if with_optimal {
            match &r.final_optimal {
                Some(o) => write!(w, " {} |", pm(o, 3)),
                None => write!(w, " – |"),
            }
            .ok();
        }
        writeln!(w, " {}/{} |", r.diverged, r.n()).ok();
    }
    s
}

fn put(f: &mut Facts, k: &str, v: impl ToString) {
    f.insert(k.to_string(), v.to_string());
}

fn phrase(key: &str, f: &Facts) -> Result<String> {
    render_line("zoo/phrases", key, f)
}

/// `num` with a typographic minus, as the sentences write negative values.
fn signed_num(v: f64) -> String {
    num(v).replace('-', "−")
}

/// The setting of the seed-0 runs, as the section and the figure title
/// name it: `MLP (width 256, relu) · Adam (lr 7.9e-5) · 2000 epochs · sum
/// over pairs`.
pub fn setting_text(s: &RunSetting) -> String {
    let mut policy = vec![];
    if let Some(w) = s.width {
        policy.push(format!("width {w}"));
    }
    if let Some(a) = &s.activation {
        policy.push(a.clone());
    }
    format!(
        "{} ({}) · {} (lr {}) · {} epochs · {} over pairs",
        s.policy.to_uppercase(),
        policy.join(", "),
        optimizer_name(&s.optimizer),
        num(s.lr),
        s.epochs,
        s.reduction
    )
}

/// The legend label of a compared method (`DPO (β = 0.1)`).
fn compared_label(method: &str, params: &BTreeMap<String, f64>) -> String {
    let show = COMPARED
        .iter()
        .find(|m| m.name == method)
        .map_or(&[][..], |m| m.show);
    label(method, params, show)
}

/// The bullets that come from the sweep alone: who is free of degradation
/// and dispersion, who shows the most, drop, divergence, and the anomalies
/// (an unbounded drop, a loss that lowers the chosen response by design, a
/// remedy that equals DPO at its defaults, a drop fixed by the loss).
pub fn notes_markdown(n: &Notes) -> Result<String> {
    let names =
        |v: &[String]| -> Vec<String> { v.iter().map(|m| display_name(m).to_string()).collect() };
    let ranked = |v: &[Ranked], digits: usize| -> Result<String> {
        let items = v
            .iter()
            .map(|r| {
                let mut f = Facts::new();
                put(&mut f, "method", display_name(&r.method));
                put(&mut f, "value", format!("{:.digits$}", r.value));
                put(&mut f, "scenario", scenario_number(&r.scenario));
                phrase("ranked", &f)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(list(&items))
    };
    let mut lines = Vec::new();
    let mut f = Facts::new();
    put(&mut f, "no_degradation", n.no_degradation);
    put(&mut f, "no_dispersion", n.no_dispersion);
    put(&mut f, "n_scenarios", n.n_scenarios);
    put(&mut f, "free", list(&names(&n.free)));
    put(&mut f, "n_free", n.free.len());
    put(&mut f, "n_methods", n.n_methods);
    lines.push(phrase("free", &f)?);

    let mut f = Facts::new();
    put(&mut f, "degradation", ranked(&n.most_degradation, 3)?);
    put(&mut f, "dispersion", ranked(&n.most_dispersion, 4)?);
    lines.push(phrase("most", &f)?);

    let mut f = Facts::new();
    put(&mut f, "methods", list(&names(&n.drop_below_one)));
    let drop = if n.drop_below_one.is_empty() {
        "drop-every"
    } else {
        "drop-below-one"
    };
    let drop = phrase(drop, &f)?;
    put(&mut f, "drop", drop);
    let smallest = n
        .least_drop
        .iter()
        .map(|r| {
            let mut s = Facts::new();
            put(&mut s, "method", display_name(&r.method));
            put(&mut s, "value", format!("{:.2}", r.value));
            phrase("smallest", &s)
        })
        .collect::<Result<Vec<_>>>()?;
    put(&mut f, "smallest", list(&smallest));
    let key = match &n.largest_drop {
        Some(r) => {
            put(&mut f, "method", display_name(&r.method));
            put(&mut f, "value", num(r.value));
            "drop-largest"
        }
        None => "drop",
    };
    lines.push(phrase(key, &f)?);

    let mut f = Facts::new();
    put(&mut f, "total", n.total_runs);
    let diverged = n
        .diverged
        .iter()
        .map(|d| {
            let mut s = Facts::new();
            put(&mut s, "method", display_name(&d.method));
            put(&mut s, "scenario", scenario_number(&d.scenario));
            put(&mut s, "diverged", d.diverged);
            put(&mut s, "runs", d.runs);
            phrase("diverged", &s)
        })
        .collect::<Result<Vec<_>>>()?;
    put(&mut f, "runs", list(&diverged));
    lines.push(phrase(
        if diverged.is_empty() {
            "divergence-none"
        } else {
            "divergence"
        },
        &f,
    )?);

    for u in &n.unbounded {
        let mut f = Facts::new();
        put(&mut f, "method", capitalised(display_name(&u.method)));
        put(&mut f, "drop", num(u.drop));
        put(&mut f, "order", format!("{:.0}", u.drop.log10().floor()));
        let mut parts = vec![phrase("unbounded", &f)?];
        if let Some(b) = &u.no_lower_bound {
            let margins: Vec<String> = b.margins.iter().map(|m| num(*m)).collect();
            let values: Vec<String> = b.values.iter().map(|v| signed_num(*v)).collect();
            put(&mut f, "margins", margins.join(", "));
            put(&mut f, "values", values.join(", "));
            put(&mut f, "d_minus", num(b.d_minus));
            parts.push(phrase("no-lower-bound", &f)?);
        }
        if let (Some(r), Some(d)) = (u.scenario1, u.dpo_scenario1) {
            put(&mut f, "degradation", format!("{:.3}", r.0));
            put(&mut f, "dispersion", format!("{:.4}", r.1));
            put(&mut f, "dpo_degradation", format!("{:.3}", d.0));
            put(&mut f, "dpo_dispersion", format!("{:.4}", d.1));
            parts.push(phrase("unbounded-scenario1", &f)?);
        }
        lines.push(parts.join(" "));
    }
    for l in &n.lost {
        let mut f = Facts::new();
        put(&mut f, "method", capitalised(display_name(&l.method)));
        let scen: Vec<&str> = l.scenarios.iter().map(|s| scenario_number(s)).collect();
        put(&mut f, "scenarios", list(&scen));
        let degs: Vec<String> = l.degradations.iter().map(|d| format!("{d:.3}")).collect();
        put(&mut f, "degradations", list(&degs));
        put(&mut f, "worst_final", num(l.worst_final));
        let key = if scen.len() > 1 {
            "lost-several"
        } else {
            "lost"
        };
        let mut parts = vec![phrase(key, &f)?];
        let why = format!("lost.{}", l.method);
        if has_line("zoo/phrases", &why)? {
            parts.push(phrase(&why, &f)?);
        }
        lines.push(parts.join(" "));
    }
    if let Some(x) = &n.flex_is_dpo {
        let mut f = Facts::new();
        put(&mut f, "beta", num(x.beta));
        put(
            &mut f,
            "rel",
            if x.max_rel_diff == 0.0 {
                "0".into()
            } else {
                format!("{:.0e}", x.max_rel_diff)
            },
        );
        put(
            &mut f,
            "figure_beta_minus",
            x.figure_beta_minus.map_or_else(|| "?".into(), num),
        );
        lines.push(phrase("flex-is-dpo", &f)?);
    }
    for c in &n.constant_drop {
        let mut f = Facts::new();
        put(&mut f, "method", capitalised(display_name(&c.method)));
        put(&mut f, "lo", format!("{:.3}", c.lo));
        put(&mut f, "hi", format!("{:.3}", c.hi));
        let key = match c.target {
            Some((nats, orders)) => {
                put(&mut f, "nats", signed_num(nats));
                put(&mut f, "orders", format!("{orders:.3}"));
                "constant-drop-target"
            }
            None => "constant-drop",
        };
        lines.push(phrase(key, &f)?);
    }
    Ok(lines.join("\n"))
}

/// The paragraphs on the RM path against DPO, the balanced gradients, the
/// figure's runs, unbounded growth and collapse.
pub fn contrast_markdown(z: &ZooFacts) -> Result<String> {
    let (rows, c): (&[ScoreRow], &Contrast) = (&z.rows, &z.contrast);
    let mut paragraphs = Vec::new();
    if let (Some(d), Some(r)) = (
        row(rows, "dpo", "scenario1"),
        row(rows, "rm-kl", "scenario1"),
    ) {
        let mut f = Facts::new();
        put(&mut f, "rm_peak", pm(&r.peak_chosen, 3));
        put(&mut f, "rm_final", pm(&r.final_chosen, 3));
        put(&mut f, "rm_degradation", pm(&r.degradation, 3));
        put(&mut f, "rm_drop", pm(&r.drop, 2));
        put(&mut f, "rm_dispersion", pm(&r.dispersion, 4));
        put(&mut f, "dpo_peak", pm(&d.peak_chosen, 3));
        put(&mut f, "dpo_final", pm(&d.final_chosen, 3));
        put(&mut f, "dpo_degradation", pm(&d.degradation, 3));
        put(&mut f, "dpo_drop", pm(&d.drop, 1));
        put(&mut f, "dpo_dispersion", pm(&d.dispersion, 4));
        put(&mut f, "seed_dpo_peak", format!("{:.3}", c.dpo_peak.0));
        put(&mut f, "seed_dpo_peak_epoch", c.dpo_peak.1);
        put(
            &mut f,
            "seed_dpo_final",
            format!("{:.3}", c.dpo_final_chosen),
        );
        put(&mut f, "level", c.reach);
        let reach = match c.rm_epoch_reached {
            Some(e) => {
                put(&mut f, "epoch", e);
                "reaches"
            }
            None => "never-reaches",
        };
        let reach = phrase(reach, &f)?;
        put(&mut f, "seed_rm_reach", reach);
        put(&mut f, "seed_rm_final", format!("{:.4}", c.rm_final_chosen));
        put(
            &mut f,
            "optimum_chosen",
            format!("{:.4}", c.optimum_avg_chosen),
        );
        put(&mut f, "optimum_drop", format!("{:.2}", c.optimum_drop));
        put(&mut f, "tv", num(c.rm_tv));
        put(&mut f, "seed_rm_drop", format!("{:.2}", c.rm_drop));
        put(&mut f, "seed_rm_rejected", sci(c.rm_final_rejected));
        put(&mut f, "optimum_rejected", sci(c.optimum_avg_rejected));
        paragraphs.push(phrase("rm-vs-dpo", &f)?);
    }
    let dpo_growth = c.dpo_log_ratio.1 - c.dpo_log_ratio.0;
    let rm_growth = c.rm_log_ratio.1 - c.rm_log_ratio.0;
    let mut f = Facts::new();
    put(&mut f, "rm_steps", c.rm_steps);
    let imbalance = if c.rm_grad_imbalance == 0.0 {
        phrase("exactly-zero", &f)?
    } else {
        format!("{:.1e}", c.rm_grad_imbalance)
    };
    put(&mut f, "imbalance", imbalance);
    put(&mut f, "grad_start", num(c.rm_grad_start));
    put(&mut f, "grad_end", num(c.rm_grad_end));
    put(&mut f, "margin", format!("{:.2}", c.rm_margin));
    put(&mut f, "preference", format!("{:.4}", c.rm_preference));
    put(
        &mut f,
        "dpo_ratio_start",
        format!("{:.2}", c.dpo_log_ratio.0),
    );
    put(&mut f, "dpo_ratio_end", format!("{:.1}", c.dpo_log_ratio.1));
    put(&mut f, "dpo_growth", format!("{dpo_growth:.1}"));
    put(&mut f, "rm_ratio_start", format!("{:.2}", c.rm_log_ratio.0));
    put(&mut f, "rm_ratio_end", format!("{:.2}", c.rm_log_ratio.1));
    // A change below what one decimal shows is no change.
    let rm_growth = if rm_growth.abs() < 0.05 {
        phrase("no-change", &f)?
    } else {
        format!("{rm_growth:+.1}")
    };
    put(&mut f, "rm_growth", rm_growth);
    paragraphs.push(phrase("balanced", &f)?);
    if !z.figure.is_empty() {
        let runs = z
            .figure
            .iter()
            .map(|r| {
                let mut s = Facts::new();
                put(&mut s, "label", compared_label(&r.method, &r.params));
                put(&mut s, "degradation1", format!("{:.3}", r.runs[0].0));
                put(&mut s, "final1", format!("{:.3}", r.runs[0].1));
                put(&mut s, "degradation2", format!("{:.3}", r.runs[1].0));
                put(&mut s, "final2", format!("{:.3}", r.runs[1].1));
                phrase("figure-run", &s)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut f = Facts::new();
        put(&mut f, "second", scenario_number(&z.second));
        put(&mut f, "runs", runs.join("; "));
        paragraphs.push(phrase("figure-runs", &f)?);
    }
    for (m, k) in &c.growth {
        let mut f = Facts::new();
        put(&mut f, "method", display_name(m));
        put(&mut f, "k", format!("{k:.1}"));
        paragraphs.push(phrase("growth", &f)?);
    }
    if !c.collapsed.is_empty() {
        let p = c.n_pairs;
        let who = c
            .collapsed
            .iter()
            .map(|(m, a, least)| {
                let mut f = Facts::new();
                put(&mut f, "method", display_name(m));
                put(&mut f, "response", a);
                put(&mut f, "least", format!("{least:.4}"));
                let whose = match c.chosen_of.get(*a).copied().flatten() {
                    Some(x) => {
                        put(&mut f, "prompt", x);
                        "whose-prompt"
                    }
                    None => "whose-none",
                };
                let whose = phrase(whose, &f)?;
                put(&mut f, "whose", whose);
                let mut details = vec![phrase("collapsed-least", &f)?];
                if let Some(x) = c.signatures.iter().find(|x| &x.0 == m) {
                    put(&mut f, "hits", x.1);
                    put(&mut f, "runs", x.2);
                    details.push(phrase("collapsed-signature", &f)?);
                }
                if let Some(r) = row(rows, m, "scenario1") {
                    put(&mut f, "degradation", format!("{:.3}", r.degradation.mean));
                    details.push(phrase("collapsed-degradation", &f)?);
                }
                put(&mut f, "details", details.join("; "));
                phrase("collapsed", &f)
            })
            .collect::<Result<Vec<_>>>()?;
        let names: Vec<&str> = c.collapsed.iter().map(|x| display_name(&x.0)).collect();
        let mut f = Facts::new();
        put(&mut f, "methods", list(&names));
        put(
            &mut f,
            "verb",
            if c.collapsed.len() == 1 {
                "ends"
            } else {
                "end"
            },
        );
        put(&mut f, "mass", c.collapse_mass);
        put(&mut f, "who", who.join("; "));
        put(&mut f, "p", p);
        put(&mut f, "p_minus_1", p - 1);
        put(&mut f, "unseen_denominator", p * (c.n_responses - 2));
        paragraphs.push(phrase("collapse", &f)?);
    }
    Ok(paragraphs.join("\n\n"))
}

/// The report's section "Every loss on every scenario".
pub fn zoo_markdown(z: &ZooFacts) -> Result<String> {
    let mut f = Facts::new();
    put(&mut f, "n_compared", COMPARED.len());
    put(&mut f, "sweep", &z.sweep);
    put(&mut f, "n_methods", z.notes.n_methods);
    put(&mut f, "n_losses", z.n_losses);
    let objectives: Vec<String> = z.objectives.iter().map(|o| format!("`{o}`")).collect();
    put(&mut f, "objectives", list(&objectives));
    put(&mut f, "n_seeds", z.rows.first().map_or(0, ScoreRow::n));
    put(&mut f, "n_runs", z.n_runs);
    put(&mut f, "setting", setting_text(&z.setting));
    put(&mut f, "second", scenario_number(&z.second));
    put(
        &mut f,
        "degradation",
        format!("{:.3}", z.second_degradation),
    );
    let second_where = phrase(
        if z.second_is_worst {
            "second-worst"
        } else {
            "second-after"
        },
        &f,
    )?;
    put(&mut f, "second_where", second_where);
    let param = |method: &str, name: &str| {
        z.figure
            .iter()
            .find(|r| r.method == method)
            .and_then(|r| r.params.get(name))
            .map_or_else(|| "?".into(), |v| num(*v))
    };
    put(&mut f, "flex_beta_minus", param("flex-dpo", "beta_minus"));
    put(&mut f, "flex_beta_plus", param("flex-dpo", "beta_plus"));
    put(&mut f, "sft_gamma", param("sft-dpo", "gamma"));
    put(&mut f, "rm_steps", z.rm_fit.steps);
    put(&mut f, "rm_lr", num(z.rm_fit.lr));
    put(&mut f, "rm_l2", num(z.rm_fit.l2));
    put(
        &mut f,
        "table",
        table_markdown(&z.rows, &z.params).trim_end(),
    );
    put(&mut f, "notes", notes_markdown(&z.notes)?);
    put(&mut f, "contrast", contrast_markdown(z)?);
    render_file("zoo/zoo", &f)
}

/// Draws `plots_dir/loss-zoo` and `plots_dir/reward-model` (PNG + SVG)
/// from the seed-0 runs and the reward model's fit, and returns the
/// report's section.
pub fn zoo_figures(plots_dir: &Path, z: &ZooFacts) -> Result<String> {
    let missing = |what: &str| {
        crate::error::Error::config(
            "loss zoo",
            format!("the facts lack {what} (read back from facts.json?)"),
        )
    };
    let find = |sc: &str, name: &str| {
        z.run(sc, name)
            .ok_or_else(|| missing(&format!("the seed-0 run of `{name}` on {sc}")))
    };
    let mut fig_rows = Vec::new();
    for sc in ["scenario1", z.second.as_str()] {
        let title = if sc == "scenario1" {
            scenario_title(sc).to_string()
        } else {
            format!(
                "{} — DPO's {} (mean degradation {:.2})",
                scenario_title(sc),
                if z.second_is_worst {
                    "worst"
                } else {
                    "worst besides scenario 1"
                },
                z.second_degradation
            )
        };
        let methods = COMPARED
            .iter()
            .map(|m| {
                let run = find(sc, m.name)?;
                let mut label = label(m.name, &run.config.loss.params, m.show);
                if m.name == "rm-kl" {
                    label = label.replace("RM path", "RM path: reward model + KL");
                }
                Ok(fig::Method {
                    name: m.name.into(),
                    label,
                    run: &run.result,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        fig_rows.push(fig::ZooRow { title, methods });
    }
    fig::loss_zoo(
        &plots_dir.join("loss-zoo"),
        &fig_rows,
        &format!(
            "Loss zoo · {} · seed 0 · scenario 1 and DPO's worst scenario ({})",
            setting_text(&z.setting),
            scenario_number(&z.second)
        ),
    )?;
    let fit = z
        .fit
        .as_ref()
        .ok_or_else(|| missing("the reward model's fit"))?;
    fig::reward_model(
        &plots_dir.join("reward-model"),
        fit,
        &find("scenario1", "dpo")?.result,
        &find("scenario1", "rm-kl")?.result,
        &format!(
            "Scenario 1 · balanced gradients of the reward model (tabular Bradley-Terry, {} GD steps, lr {}, L2 {}) \
vs the policy gradients (seed 0, β = {})",
            z.rm_fit.steps,
            num(z.rm_fit.lr),
            num(z.rm_fit.l2),
            num(z.rm_fit.beta)
        ),
    )?;
    zoo_markdown(z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::studies::zoo::registry_names;

    #[test]
    fn numbers_read_short() {
        assert_eq!(num(0.1), "0.1");
        assert_eq!(num(2000.0), "2000");
        assert_eq!(num(2.449489742783178), "2.449");
        assert_eq!(num(2.5e6), "2.5e6");
        assert_eq!(num(5.9e-6), "5.9e-6");
        let s = Stat::of(&[1.0, 3.0]);
        assert_eq!(pm(&s, 2), "2.00 ± 1.00");
        assert_eq!(signed_num(-12.5), "−12.5");
    }

    #[test]
    fn every_method_has_a_display_name() {
        let names = registry_names();
        assert!(names.iter().all(|n| display_name(n) != *n || *n == "hinge"));
    }

    #[test]
    fn table_has_every_group_and_ordered_parameters() {
        let stat = |m: f64, sd: f64| Stat {
            mean: m,
            sd,
            min: m - sd,
            max: m + sd,
            n: 2,
        };
        let r =
            |method: &str, scenario: &str, drop: f64, optimal: Option<f64>, diverged| ScoreRow {
                method: method.into(),
                scenario: scenario.into(),
                drop: stat(drop, 0.0),
                degradation: stat(0.4, 0.1),
                dispersion: stat(0.03, 0.01),
                peak_chosen: stat(0.6, 0.0),
                final_chosen: stat(0.3, 0.0),
                final_unseen: stat(0.09, 0.0),
                final_optimal: optimal.map(|o| stat(o, 0.0)),
                diverged,
            };
        let rows = vec![
            r("dpo", "scenario1", 65.0, Some(0.5), 0),
            r("dpo", "scenario2", 65.0, Some(0.5), 1),
            r("flex-dpo", "scenario1", 65.0, Some(0.5), 0),
            r("robust-dpo", "scenario1", 2.0e6, None, 0),
        ];
        let mut params = BTreeMap::new();
        for (m, kv) in [
            ("dpo", vec![("beta", 0.1)]),
            ("flex-dpo", vec![("beta_minus", 0.1), ("beta_plus", 0.1)]),
        ] {
            params.insert(
                m.to_string(),
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            );
        }
        let md = table_markdown(&rows, &params);
        let lines: Vec<&str> = md.lines().collect();
        assert!(lines[0].contains("final optimal prob") && lines[0].contains("diverged"));
        assert_eq!(lines.len(), 2 + rows.len());
        // β+ before β−: the loss's own parameter order, not the map's.
        assert!(md.contains("**Flex-DPO** (β+ = 0.1, β− = 0.1)"), "{md}");
        // The method is named on its first line only; divergence counted.
        assert!(lines[2].starts_with("| **DPO** (β = 0.1) | 1 | 65.0 ± 0.0 | 0.400 ± 0.100 |"));
        assert!(lines[3].starts_with("|  | 2 |") && lines[3].ends_with("| 1/2 |"));
        // Huge drops in scientific notation; a missing optimum as a dash.
        assert!(md.contains("| 2.00e6 ± 0.0e0 |"), "{md}");
        assert!(md.contains("| – | 0/2 |"));
        let no_opt: Vec<ScoreRow> = rows
            .into_iter()
            .map(|r| ScoreRow {
                final_optimal: None,
                ..r
            })
            .collect();
        assert!(!table_markdown(&no_opt, &params).contains("optimal"));
    }
}
