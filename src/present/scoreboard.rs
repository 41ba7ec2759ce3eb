//! The scoreboard presented: its heat-map figure and the report's section
//! "A fair scoreboard of the losses", from the facts of
//! [`crate::studies::scoreboard`]. The sentences are
//! `templates/scoreboard/*.md`; this module formats the numbers, sorts the
//! methods by the objective, builds the tables and picks the phrases.

use crate::analysis::scoreboard::{Direction, Interval, Presence, Versus};
use crate::error::Result;
use crate::present::names::scenario_number;
use crate::present::plots::scoreboard::{scoreboard_figure, Panel, REACH};
use crate::present::template::{list, render_file, render_line, Facts};
use crate::present::zoo::{display_name, num, ordered_params, symbol};
use crate::studies::scoreboard::{
    Check, Confirm, Entry, Mechanism, ScoreboardFacts, Setting, Tuning, Variant,
};
use std::fmt::Write;
use std::path::Path;

const PHRASES: &str = "scoreboard/phrases";

fn put(f: &mut Facts, k: &str, v: impl ToString) {
    f.insert(k.to_string(), v.to_string());
}

fn phrase(key: &str, f: &Facts) -> Result<String> {
    render_line(PHRASES, key, f)
}

/// `v` for a table: [`num`], with −∞ and +∞ written as such.
pub fn val(v: f64) -> String {
    if v == f64::NEG_INFINITY {
        "−∞".into()
    } else if v == f64::INFINITY {
        "∞".into()
    } else if v.is_nan() {
        "–".into()
    } else if v < 0.0 {
        format!("−{}", num(-v))
    } else {
        num(v)
    }
}

/// `median [p10, p90]`.
pub fn interval(i: &Interval) -> String {
    format!("{} [{}, {}]", val(i.median), val(i.lo), val(i.hi))
}

/// A log10 value to one decimal (gradient exponents), signed.
fn exp10(v: f64) -> String {
    if v.is_finite() {
        let s = format!("{v:.1}");
        s.replace('-', "−")
    } else {
        val(v)
    }
}

/// The verdict's symbol (`templates/scoreboard/phrases.md`).
pub fn verdict(p: Presence) -> Result<String> {
    phrase(
        match p {
            Presence::Removed => "removed",
            Presence::Shown => "shown",
            Presence::Unclear => "unclear",
        },
        &Facts::new(),
    )
}

/// The family's label from its id.
fn family_label<'a>(f: &'a ScoreboardFacts, id: &'a str) -> &'a str {
    f.families
        .iter()
        .find(|x| x.id == id)
        .map_or(id, |x| x.label.as_str())
}

/// The property's name in sentences.
fn property_name(p: usize) -> &'static str {
    ["Drastic drop", "Degradation", "Dispersion"][p]
}

/// The tuning of `method` in `family`.
fn tuning<'a>(f: &'a ScoreboardFacts, family: &str, method: &str) -> Option<&'a Tuning> {
    f.tunings
        .iter()
        .find(|t| t.family == family && t.method == method)
}

/// The methods of `family`, by the tuned setting's mean held-out objective,
/// highest first (ties and −∞ keep registry order).
pub fn sorted_methods<'a>(f: &'a ScoreboardFacts, family: &str) -> Vec<&'a str> {
    let mut v: Vec<(&str, f64)> = f
        .entries
        .iter()
        .filter(|e| e.family == family && e.variant == Variant::Tuned)
        .map(|e| (e.method.as_str(), e.objective.mean))
        .collect();
    v.sort_by(|a, b| {
        let key = |x: f64| if x.is_nan() { f64::NEG_INFINITY } else { x };
        key(b.1).total_cmp(&key(a.1))
    });
    v.into_iter().map(|(m, _)| m).collect()
}

/// What the tuned setting changes from the default: `β = 0.3, lr = 0.003`,
/// or "default".
pub fn setting_change(method: &str, default: &Setting, tuned: &Setting) -> String {
    let mut parts: Vec<String> = ordered_params(method, &tuned.params)
        .into_iter()
        .filter(|(k, v)| default.params.get(k) != Some(v))
        .map(|(k, v)| format!("{} = {}", symbol(&k), num(v)))
        .collect();
    if tuned.lr != default.lr {
        parts.push(format!("lr = {}", num(tuned.lr)));
    }
    if parts.is_empty() {
        "default".into()
    } else {
        parts.join(", ")
    }
}

/// The cell of the worst scenario for property `p` (highest median D;
/// for `p = 3`, π*, the lowest median).
fn worst(e: &Entry, p: usize) -> &Interval {
    let it = e.cells.iter();
    if p == 3 {
        it.map(|c| &c.final_optimal)
            .min_by(|a, b| a.median.total_cmp(&b.median))
    } else {
        it.map(|c| c.d(p))
            .max_by(|a, b| a.median.total_cmp(&b.median))
    }
    .expect("an entry has its scenarios")
}

/// A signed value for a difference (`+0.2`, `−0.36`).
fn signed(v: f64) -> String {
    if v > 0.0 {
        format!("+{}", val(v))
    } else {
        val(v)
    }
}

/// The facts of a [`Versus`]: `mean`, `lo`, `hi` (signed), `n`, `m` (the
/// finite pairs), `a` and `b` (each side's −∞ runs).
fn versus_facts(v: &Versus) -> Facts {
    let mut fx = Facts::new();
    put(&mut fx, "mean", signed(v.mean));
    put(&mut fx, "lo", signed(v.lo));
    put(&mut fx, "hi", signed(v.hi));
    put(&mut fx, "n", v.n);
    put(&mut fx, "m", v.finite);
    put(&mut fx, "a", v.a_failed);
    put(&mut fx, "b", v.b_failed);
    fx
}

/// The table's verdict on a tuning (tuned against default).
fn confirm_word(t: &Tuning) -> Result<String> {
    let Some(v) = t.versus.filter(|_| t.confirm != Confirm::Kept) else {
        return phrase("cell-kept", &Facts::new());
    };
    let mut fx = versus_facts(&v);
    match t.confirm {
        Confirm::Kept => phrase("cell-kept", &fx),
        Confirm::Confirmed => phrase("cell-confirmed", &fx),
        Confirm::Inconclusive => phrase("cell-inconclusive", &fx),
        Confirm::Reversed if v.a_failed > 0 => {
            put(&mut fx, "k", v.a_failed);
            phrase("cell-failed", &fx)
        }
        Confirm::Reversed => phrase("cell-reversed", &fx),
        Confirm::Rescued => {
            put(&mut fx, "k", v.b_failed);
            let finite = if v.finite > 0 {
                phrase("cell-finite", &fx)?
            } else {
                String::new()
            };
            put(&mut fx, "finite", finite);
            phrase("cell-rescued", &fx)
        }
        Confirm::Undefined => phrase("cell-undefined", &fx),
        Confirm::SeedFree => phrase("cell-seed-free", &fx),
    }
}

/// The clauses saying where the `variant` setting of `method` in `family`
/// reaches the optimal responses worse than default or tuned DPO (by
/// [`Versus`], never a difference of means), or cannot be compared with
/// it; empty when neither.
fn worse_clauses(
    f: &ScoreboardFacts,
    family: &str,
    method: &str,
    variant: Variant,
) -> Result<Vec<String>> {
    let (against, mut out) = dpo_comparisons(f, family, method, variant)?;
    if !against.is_empty() {
        let mut fx = Facts::new();
        put(
            &mut fx,
            "variant",
            phrase(variant_key(variant), &Facts::new())?,
        );
        put(&mut fx, "against", list(&against));
        out.insert(0, phrase("worse-setting", &fx)?);
    }
    Ok(out)
}

/// The DPOs the `variant` setting reaches the goal worse than (`worse-*`
/// phrases), as one list; `None` when none.
fn worse_against(
    f: &ScoreboardFacts,
    family: &str,
    method: &str,
    variant: Variant,
) -> Result<Option<String>> {
    let (against, _) = dpo_comparisons(f, family, method, variant)?;
    Ok((!against.is_empty()).then(|| list(&against)))
}

/// The `variant` setting of `method` against default and tuned DPO (tuned
/// only when DPO's tuning moved): the `worse-*` items where it is worse,
/// and the `undefined-setting` clauses where it cannot be compared.
fn dpo_comparisons(
    f: &ScoreboardFacts,
    family: &str,
    method: &str,
    variant: Variant,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut against = Vec::new();
    let mut out = Vec::new();
    let vname = phrase(variant_key(variant), &Facts::new())?;
    // Tuned DPO is the same runs as default DPO when its tuning kept the default.
    let dpo_kept = tuning(f, family, "dpo").is_none_or(|t| t.chosen == 0);
    for dpo in [Variant::Default, Variant::Tuned] {
        if dpo == Variant::Tuned && dpo_kept {
            continue;
        }
        let Some(v) = f.versus_dpo(family, method, variant, dpo) else {
            continue;
        };
        let mut fx = versus_facts(&v);
        put(
            &mut fx,
            "dpo",
            phrase(
                match dpo {
                    Variant::Default => "dpo-default",
                    Variant::Tuned => "dpo-tuned",
                },
                &Facts::new(),
            )?,
        );
        put(&mut fx, "variant", &vname);
        match v.direction {
            Direction::Below if v.a_failed > 0 => {
                put(&mut fx, "k", v.a_failed);
                against.push(phrase("worse-failed", &fx)?);
            }
            Direction::Below if v.seed_free => against.push(phrase("worse-exact", &fx)?),
            Direction::Below => against.push(phrase("worse-interval", &fx)?),
            Direction::Undefined if v.n > 0 => out.push(phrase("undefined-setting", &fx)?),
            _ => {}
        }
    }
    Ok((against, out))
}

/// One family's table (sorted by [`sorted_methods`]).
pub fn family_table(f: &ScoreboardFacts, family: &str) -> Result<String> {
    let mut s = String::new();
    let w = &mut s;
    writeln!(
        w,
        "| # | method | tuned setting | J held-in | J held-out (tuned − default) | drop | degradation | dispersion | π* final |"
    )
    .ok();
    writeln!(w, "|---|---|---|---|---|---|---|---|---|").ok();
    for (i, m) in sorted_methods(f, family).iter().enumerate() {
        let (Some(d), Some(t), Some(tu)) = (
            f.entry(family, m, Variant::Default),
            f.entry(family, m, Variant::Tuned),
            tuning(f, family, m),
        ) else {
            continue;
        };
        let kept = tu.chosen == 0;
        let both = |p: usize| -> Result<String> {
            let sym = |e: &Entry| -> Result<String> {
                if p == 3 {
                    Ok(String::new())
                } else {
                    Ok(format!(" {}", verdict(e.presence[p])?))
                }
            };
            Ok(if kept {
                format!("{}{}", interval(worst(d, p)), sym(d)?)
            } else {
                format!(
                    "{}{} → {}{}",
                    interval(worst(d, p)),
                    sym(d)?,
                    interval(worst(t, p)),
                    sym(t)?
                )
            })
        };
        writeln!(
            w,
            "| {} | **{}** | {} | {} → {} | {} → {} ({}) | {} | {} | {} | {} |",
            i + 1,
            display_name(m),
            setting_change(m, &d.setting, &t.setting),
            val(tu.held_in.0),
            val(tu.held_in.1),
            val(tu.held_out.0),
            val(tu.held_out.1),
            confirm_word(tu)?,
            both(0)?,
            both(1)?,
            both(2)?,
            both(3)?
        )
        .ok();
    }
    Ok(s)
}

/// One family's full table: every method, setting and scenario.
pub fn details_table(f: &ScoreboardFacts, family: &str) -> Result<String> {
    let mut s = String::new();
    let w = &mut s;
    let mut fx = Facts::new();
    put(&mut fx, "family", family_label(f, family));
    put(&mut fx, "n", f.held_out.len());
    writeln!(w, "{}\n", phrase("details", &fx)?).ok();
    writeln!(
        w,
        "| method | setting | scenario | drop | degradation | dispersion | π* final | J | diverged |"
    )
    .ok();
    writeln!(w, "|---|---|---|---|---|---|---|---|---|").ok();
    for m in sorted_methods(f, family) {
        for v in [Variant::Default, Variant::Tuned] {
            let Some(e) = f.entry(family, m, v) else {
                continue;
            };
            let label = match v {
                Variant::Default => "default".to_string(),
                Variant::Tuned => {
                    let d = f.entry(family, m, Variant::Default).map(|d| &d.setting);
                    format!(
                        "tuned ({})",
                        d.map_or_else(String::new, |d| setting_change(m, d, &e.setting))
                    )
                }
            };
            for c in &e.cells {
                writeln!(
                    w,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |",
                    display_name(m),
                    label,
                    scenario_number(&c.scenario),
                    interval(&c.drop),
                    interval(&c.degradation),
                    interval(&c.dispersion),
                    interval(&c.final_optimal),
                    interval(&c.objective),
                    c.diverged,
                    c.drop.n
                )
                .ok();
            }
        }
    }
    writeln!(w, "\n</details>").ok();
    Ok(s)
}

fn variant_key(v: Variant) -> &'static str {
    match v {
        Variant::Default => "variant-default",
        Variant::Tuned => "variant-tuned",
    }
}

/// DPO's status and the list of removals.
fn removals(f: &ScoreboardFacts) -> Result<(String, String)> {
    let mut shown = Vec::new();
    let mut absent = Vec::new();
    let mut lines = Vec::new();
    for p in 0..3 {
        for (fam, pres) in &f.dpo {
            let mut fx = Facts::new();
            put(&mut fx, "property", property_name(p).to_lowercase());
            put(&mut fx, "family", family_label(f, fam));
            let item = phrase("dpo-family", &fx)?;
            if pres[p] != Presence::Shown {
                absent.push(item);
                continue;
            }
            shown.push(item);
            let mut methods = Vec::new();
            for (m, _) in crate::studies::scoreboard::methods() {
                let removes = |v: Variant| {
                    f.entry(fam, m, v)
                        .is_some_and(|e| e.presence[p] == Presence::Removed)
                };
                let key = match (removes(Variant::Default), removes(Variant::Tuned)) {
                    (true, true) => "variant-both",
                    (true, false) => "variant-default",
                    (false, true) => "variant-tuned",
                    (false, false) => continue,
                };
                let mut mx = Facts::new();
                put(&mut mx, "method", display_name(m));
                put(&mut mx, "variants", phrase(key, &Facts::new())?);
                // A removing setting that reaches the goal worse than
                // default or tuned DPO (paired comparison) says so.
                let mut clauses = Vec::new();
                for v in [Variant::Default, Variant::Tuned] {
                    if removes(v) {
                        clauses.extend(worse_clauses(f, fam, m, v)?);
                    }
                }
                let which = if clauses.is_empty() {
                    "removal-method"
                } else {
                    "removal-method-caveat"
                };
                put(&mut mx, "clauses", clauses.join("; "));
                methods.push(phrase(which, &mx)?);
            }
            put(&mut fx, "property", property_name(p));
            put(&mut fx, "methods", list(&methods));
            lines.push(phrase("removal", &fx)?);
        }
    }
    let mut fx = Facts::new();
    put(&mut fx, "shown", list(&shown));
    put(&mut fx, "absent", list(&absent));
    let status = phrase("dpo-status", &fx)?;
    let text = if lines.is_empty() {
        phrase("removals-none", &Facts::new())?
    } else {
        format!(
            "{}\n\n{}",
            phrase("removals", &Facts::new())?,
            lines.join("\n")
        )
    };
    Ok((status, text))
}

fn check_facts(c: &Check) -> Facts {
    let mut fx = Facts::new();
    put(&mut fx, "loss", exp10(c.loss.median));
    put(&mut fx, "loss_lo", exp10(c.loss.lo));
    put(&mut fx, "loss_hi", exp10(c.loss.hi));
    put(&mut fx, "dpo", exp10(c.dpo.median));
    put(&mut fx, "dpo_lo", exp10(c.dpo.lo));
    put(&mut fx, "dpo_hi", exp10(c.dpo.hi));
    fx
}

/// One mechanism sentence per method and property: the evidence of its
/// first removal (families in plan order, default before tuned), the
/// other removals listed.
pub fn mechanisms_markdown(f: &ScoreboardFacts) -> Result<String> {
    let mut out = Vec::new();
    for p in 0..3 {
        for (m, _) in crate::studies::scoreboard::methods() {
            let all: Vec<&Mechanism> = f
                .mechanisms
                .iter()
                .filter(|x| x.method == m && x.property == p)
                .collect();
            let Some(first) = all.first() else {
                continue;
            };
            let mut also = Vec::new();
            for x in &all[1..] {
                also.push(format!(
                    "{} {}",
                    family_label(f, &x.family),
                    phrase(variant_key(x.variant), &Facts::new())?
                ));
            }
            let mut fx = Facts::new();
            put(&mut fx, "method", display_name(m));
            put(&mut fx, "family", family_label(f, &first.family));
            put(
                &mut fx,
                "variant",
                phrase(variant_key(first.variant), &Facts::new())?,
            );
            let also = if also.is_empty() {
                String::new()
            } else {
                let mut ax = Facts::new();
                put(&mut ax, "list", list(&also));
                phrase("also", &ax)?
            };
            put(&mut fx, "also", also);
            put(&mut fx, "property", property_name(p).to_lowercase());
            let line = if p == 0 {
                let c = &first.checks[0];
                let mut cx = check_facts(c);
                cx.extend(fx);
                phrase(
                    if c.separated {
                        "mech-drop-yes"
                    } else {
                        "mech-drop-no"
                    },
                    &cx,
                )?
            } else {
                let mut clauses = Vec::new();
                for c in first.checks.iter().filter(|c| c.separated) {
                    // The push on y− stops dominating only where the ratio's
                    // whole interval is below 1; a ratio merely smaller than
                    // DPO's says so.
                    let key = if c.quantity == "ratio_end" && c.loss.hi >= 0.0 {
                        "clause-ratio_end-still".to_string()
                    } else {
                        format!("clause-{}", c.quantity)
                    };
                    clauses.push(phrase(&key, &check_facts(c))?);
                }
                if clauses.is_empty() {
                    let mut nx = Facts::new();
                    for c in &first.checks {
                        let pre = match c.quantity.as_str() {
                            "ratio_end" => "ratio",
                            "plus_end" => "pull",
                            _ => continue,
                        };
                        for (k, v) in check_facts(c) {
                            let key = match k.strip_prefix("loss") {
                                Some(rest) => format!("{pre}{rest}"),
                                None => format!("dpo_{pre}{}", &k["dpo".len()..]),
                            };
                            nx.insert(key, v);
                        }
                    }
                    clauses.push(phrase("clause-none", &nx)?);
                }
                let mut cx = fx;
                put(&mut cx, "clauses", clauses.join("; "));
                phrase("mech-balance", &cx)?
            };
            // A removal by a setting that reaches the goal worse than
            // default or tuned DPO (paired comparison) is no remedy.
            let line = match worse_against(f, &first.family, m, first.variant)? {
                Some(against) => {
                    let mut wx = Facts::new();
                    put(&mut wx, "against", against);
                    format!("{line} {}", phrase("mech-worse", &wx)?)
                }
                None => line,
            };
            out.push(line);
        }
    }
    if out.is_empty() {
        phrase("mechanisms-none", &Facts::new())
    } else {
        Ok(out.join("\n"))
    }
}

/// The families (labels, plan order) of `tunings`.
fn families_of(f: &ScoreboardFacts, tunings: &[&Tuning]) -> Result<(String, String)> {
    let labels: Vec<&str> = f
        .families
        .iter()
        .filter(|x| tunings.iter().any(|t| t.family == x.id))
        .map(|x| x.label.as_str())
        .collect();
    let word = if labels.len() == 1 {
        "family-one"
    } else {
        "family-many"
    };
    Ok((list(&labels), phrase(word, &Facts::new())?))
}

/// The tuning counts: kept; then the tunings that moved, tested by their
/// intervals where runs depend on the seed and counted apart where they
/// do not (`confirm-*` phrases).
fn confirm_counts(f: &ScoreboardFacts) -> Result<String> {
    let moved: Vec<&Tuning> = f.tunings.iter().filter(|t| t.chosen != 0).collect();
    let (free, tested): (Vec<&Tuning>, Vec<&Tuning>) = moved
        .iter()
        .partition(|t| t.versus.is_some_and(|v| v.seed_free));
    let count = |ts: &[&Tuning], c: Confirm| ts.iter().filter(|t| t.confirm == c).count();
    let mut cx = Facts::new();
    put(&mut cx, "n", f.tunings.len());
    put(
        &mut cx,
        "kept",
        count(&f.tunings.iter().collect::<Vec<_>>(), Confirm::Kept),
    );
    let tested_text = if tested.is_empty() {
        String::new()
    } else {
        let mut tx = Facts::new();
        let (fams, word) = families_of(f, &tested)?;
        put(&mut tx, "families", fams);
        put(&mut tx, "family_word", word);
        put(&mut tx, "moved", tested.len());
        put(&mut tx, "confirmed", count(&tested, Confirm::Confirmed));
        put(
            &mut tx,
            "inconclusive",
            count(&tested, Confirm::Inconclusive),
        );
        put(&mut tx, "reversed", count(&tested, Confirm::Reversed));
        let rescued: Vec<&&Tuning> = tested
            .iter()
            .filter(|t| t.confirm == Confirm::Rescued)
            .collect();
        let rescued_text = if rescued.is_empty() {
            String::new()
        } else {
            let mut runs = Vec::new();
            for t in &rescued {
                let Some(v) = t.versus else { continue };
                let mut ix = Facts::new();
                put(&mut ix, "method", display_name(&t.method));
                put(&mut ix, "family", family_label(f, &t.family));
                put(&mut ix, "k", v.b_failed);
                put(&mut ix, "n", v.n);
                runs.push(phrase("rescued-item", &ix)?);
            }
            let mut rx = Facts::new();
            put(&mut rx, "k", rescued.len());
            put(&mut rx, "runs", list(&runs));
            phrase("confirm-rescued", &rx)?
        };
        put(&mut tx, "rescued", rescued_text);
        let undefined = count(&tested, Confirm::Undefined);
        let undefined_text = if undefined == 0 {
            String::new()
        } else {
            let mut ux = Facts::new();
            put(&mut ux, "k", undefined);
            phrase("confirm-undefined", &ux)?
        };
        put(&mut tx, "undefined", undefined_text);
        phrase("confirm-tested", &tx)?
    };
    put(&mut cx, "tested", tested_text);
    let free_text = if free.is_empty() {
        String::new()
    } else {
        let mut sx = Facts::new();
        let (fams, word) = families_of(f, &free)?;
        put(&mut sx, "families", fams);
        put(&mut sx, "family_word", word);
        put(&mut sx, "moved", free.len());
        let dir = |d: Direction| {
            free.iter()
                .filter(|t| t.versus.is_some_and(|v| v.direction == d))
                .count()
        };
        put(&mut sx, "better", dir(Direction::Above));
        put(&mut sx, "mixed", dir(Direction::Within));
        let clause = |key: &str, k: usize| -> Result<String> {
            if k == 0 {
                return Ok(String::new());
            }
            let mut kx = Facts::new();
            put(&mut kx, "k", k);
            phrase(key, &kx)
        };
        put(
            &mut sx,
            "worse",
            clause("confirm-seed-free-worse", dir(Direction::Below))?,
        );
        put(
            &mut sx,
            "undefined",
            clause("confirm-undefined", dir(Direction::Undefined))?,
        );
        phrase("confirm-seed-free", &sx)?
    };
    put(&mut cx, "seed_free", free_text);
    phrase("confirm-counts", &cx)
}

/// The report's section.
pub fn scoreboard_markdown(f: &ScoreboardFacts) -> Result<String> {
    let mut fx = Facts::new();
    // The methods of the facts, in order: the pairwise losses, then the objectives.
    let mut methods: Vec<&str> = Vec::new();
    for e in &f.entries {
        if !methods.contains(&e.method.as_str()) {
            methods.push(&e.method);
        }
    }
    let is_loss = |m: &str| crate::maths::loss::LOSSES.iter().any(|s| s.name == m);
    put(&mut fx, "n_methods", methods.len());
    put(
        &mut fx,
        "n_losses",
        methods.iter().filter(|m| is_loss(m)).count(),
    );
    let objectives: Vec<String> = methods
        .iter()
        .filter(|m| !is_loss(m))
        .map(|m| format!("`{m}`"))
        .collect();
    put(&mut fx, "objectives", list(&objectives));
    let composition = if objectives.is_empty() {
        "composition-losses"
    } else {
        "composition"
    };
    let composition = phrase(composition, &fx)?;
    put(&mut fx, "composition", composition);
    put(&mut fx, "n_families", f.families.len());
    let fams: Vec<String> = f
        .families
        .iter()
        .map(|x| {
            let p = &x.policy;
            let detail = match p.kind.as_str() {
                "mlp" => format!(
                    "width {}, {}",
                    p.width.unwrap_or_default(),
                    p.activation.clone().unwrap_or_default()
                ),
                "loglinear" => format!("dim {}", p.dim.unwrap_or_default()),
                _ => String::new(),
            };
            if detail.is_empty() {
                format!("{} (lr {})", x.label, num(x.lr))
            } else {
                format!("{} ({detail}; lr {})", x.label, num(x.lr))
            }
        })
        .collect();
    put(&mut fx, "families", list(&fams));
    put(&mut fx, "epochs", f.epochs);
    put(&mut fx, "base", &f.base);
    let factors = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        format!(
            "{{{}}}",
            v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ")
        )
    };
    put(&mut fx, "knob_factors", factors(&f.knob_factors));
    put(&mut fx, "lr_factors", factors(&f.lr_factors));
    let fixed: Vec<String> = f.fixed.iter().map(|x| format!("`{x}`")).collect();
    put(&mut fx, "fixed", list(&fixed));
    let sizes = f.tunings.iter().map(|t| t.grid_size);
    put(&mut fx, "grid_min", sizes.clone().min().unwrap_or(0));
    put(&mut fx, "grid_max", sizes.max().unwrap_or(0));
    put(&mut fx, "tuning_runs", f.runs.0);
    put(&mut fx, "report_runs", f.runs.1);
    let seeds = |v: &[u64]| match (v.first(), v.last()) {
        (Some(a), Some(b)) => format!("{a}–{b}"),
        _ => "none".into(),
    };
    put(&mut fx, "held_in", seeds(&f.held_in));
    put(&mut fx, "held_out", seeds(&f.held_out));
    put(&mut fx, "n_held_out", f.held_out.len());
    put(&mut fx, "confirm_counts", confirm_counts(f)?);
    put(&mut fx, "t_drop", num(f.thresholds[0]));
    put(&mut fx, "t_deg", num(f.thresholds[1]));
    put(&mut fx, "t_disp", num(f.thresholds[2]));
    put(&mut fx, "sym_removed", verdict(Presence::Removed)?);
    put(&mut fx, "sym_shown", verdict(Presence::Shown)?);
    put(&mut fx, "sym_unclear", verdict(Presence::Unclear)?);
    let (status, removals) = removals(f)?;
    put(&mut fx, "dpo_status", status);
    put(&mut fx, "removals", removals);
    put(
        &mut fx,
        "mechanism_intro",
        phrase("mechanism-intro", &Facts::new())?,
    );
    put(&mut fx, "mechanisms", mechanisms_markdown(f)?);
    let mut tables = Vec::new();
    for fam in &f.families {
        let mut tx = Facts::new();
        put(&mut tx, "family", &fam.label);
        put(&mut tx, "lr", num(fam.lr));
        // Every interval a point: the seeds repeat one run.
        let point = f
            .entries
            .iter()
            .filter(|e| e.family == fam.id)
            .flat_map(|e| &e.cells)
            .all(|c| c.drop.lo == c.drop.hi && c.objective.lo == c.objective.hi);
        let note = if point {
            phrase("seeds-repeat", &Facts::new())?
        } else {
            String::new()
        };
        put(&mut tx, "note", note);
        tables.push(format!(
            "{}\n\n{}\n\n{}",
            phrase("table-intro", &tx)?,
            family_table(f, &fam.id)?.trim_end(),
            details_table(f, &fam.id)?.trim_end()
        ));
    }
    put(&mut fx, "tables", tables.join("\n\n"));
    render_file("scoreboard/scoreboard", &fx)
}

/// The figure's panels: per family, a row per method in [`sorted_methods`]
/// order, the three D-scores of the default, then of the tuned setting.
pub fn panels(f: &ScoreboardFacts) -> Result<Vec<Panel>> {
    let mut out = Vec::new();
    for fam in &f.families {
        let mut rows = Vec::new();
        let mut values = Vec::new();
        let mut text = Vec::new();
        for m in sorted_methods(f, &fam.id) {
            let mut vr = Vec::new();
            let mut tr = Vec::new();
            for v in [Variant::Default, Variant::Tuned] {
                let e = f.entry(&fam.id, m, v);
                for p in 0..3 {
                    match e {
                        Some(e) => {
                            let d = worst(e, p).median;
                            // A D-score ≤ 0 (the rejected rose) is below any threshold.
                            let v = if d <= 0.0 {
                                REACH
                            } else {
                                (f.thresholds[p] / d).log10().clamp(-REACH, REACH)
                            };
                            vr.push(v);
                            tr.push(verdict(e.presence[p])?);
                        }
                        None => {
                            vr.push(f64::NAN);
                            tr.push(String::new());
                        }
                    }
                }
            }
            rows.push(display_name(m).to_string());
            values.push(vr);
            text.push(tr);
        }
        let short = ["drop", "degr.", "disp."];
        out.push(Panel {
            title: format!("{} (lr {})", fam.label, num(fam.lr)),
            rows,
            cols: short
                .iter()
                .chain(short.iter())
                .map(|s| s.to_string())
                .collect(),
            values,
            text,
        });
    }
    Ok(out)
}

/// Draws `plots_dir/scoreboard` (PNG + SVG) and returns the report's section.
pub fn scoreboard_figures(plots_dir: &Path, f: &ScoreboardFacts) -> Result<String> {
    let mut fx = Facts::new();
    put(
        &mut fx,
        "first",
        f.held_out.first().copied().unwrap_or_default(),
    );
    put(
        &mut fx,
        "last",
        f.held_out.last().copied().unwrap_or_default(),
    );
    put(&mut fx, "removed", verdict(Presence::Removed)?);
    let title = phrase("figure-title", &fx)?;
    scoreboard_figure(&plots_dir.join("scoreboard"), &panels(f)?, &title)?;
    scoreboard_markdown(f)
}
