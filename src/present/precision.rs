//! The precision section of `REPORT.md`: the f32-vs-f64 comparison of
//! [`crate::studies::precision`] and the float32 bookkeeping of
//! [`crate::studies::late_jump`]. The sentences are
//! `templates/precision/*.md`; this module formats the numbers, lays out the
//! tables and picks the phrases the facts call for.

use crate::analysis::bookkeeping::Candidate;
use crate::analysis::stats::Quantiles;
use crate::error::Result;
use crate::maths::precision::{
    ln_f32_min_normal, ln_f32_min_subnormal, F32_MIN_NORMAL, F32_MIN_SUBNORMAL,
};
use crate::present::names::scenario_number;
use crate::present::template::{list, render_file, render_line, Facts};
use crate::studies::late_jump::{
    self, candidate_facts, f64_jumps, issue_factor, jump_counts, mostly_staircase, runs_of,
    scenario_groups, FactorMatch, JumpRule, Rise, RunFacts,
};
use crate::studies::precision::{
    verdict, Experiment, Outcome, PairStats, ALL_ON_CHOSEN, CLOSE_LAG, JUMP_THRESHOLD, JUMP_WINDOW,
    LATE_FROM, LATE_SCENARIOS, PART_TOL, REFERENCE_SCENARIO,
};
use std::fmt::Write;

const PHRASES: &str = "precision/phrases";

/// A bookkeeping jump is named run by run when a candidate has at most this
/// many; more are summarised by their median.
const NAMED_JUMPS: usize = 4;

fn facts<const N: usize>(pairs: [(&str, String); N]) -> Facts {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn phrase(key: &str) -> Result<String> {
    render_line(PHRASES, key, &Facts::new())
}

fn phrase_with<const N: usize>(key: &str, pairs: [(&str, String); N]) -> Result<String> {
    render_line(PHRASES, key, &facts(pairs))
}

/// The section for `REPORT.md`: the f32-vs-f64 comparison, then the float32
/// bookkeeping subsection, every number from `facts`.
pub fn markdown(facts: &late_jump::Facts) -> Result<String> {
    Ok(format!(
        "{}\n\n{}",
        comparison(&facts.experiment, &facts.precision)?.trim_end(),
        bookkeeping(facts)?
    ))
}

// ---------------------------------------------------------------------------
// The f32-vs-f64 comparison.

/// `1.2e-3`-style text for small differences, `0.0123` for larger ones.
fn num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() < 1e-3 {
        format!("{v:.1e}")
    } else {
        format!("{v:.4}")
    }
}

fn epoch_or_never(e: Option<usize>) -> Result<String> {
    e.map_or_else(|| phrase("never"), |e| Ok(e.to_string()))
}

/// "12" or "12–40" (the range over seeds) of some epochs, "never" if none.
fn epoch_range(es: &[Option<usize>]) -> Result<String> {
    let got: Vec<usize> = es.iter().flatten().copied().collect();
    let never = es.len() - got.len();
    let (Some(lo), Some(hi)) = (got.iter().min(), got.iter().max()) else {
        return phrase("never");
    };
    let epochs = if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}–{hi}")
    };
    if never > 0 {
        phrase_with(
            "never-in",
            [
                ("epochs", epochs),
                ("never", never.to_string()),
                ("runs", es.len().to_string()),
            ],
        )
    } else {
        Ok(epochs)
    }
}

/// `+0.0135` / `−0.0120` for a signed change of `avg_unseen`.
fn signed(v: f64) -> String {
    if v < 0.0 {
        format!("−{:.4}", -v)
    } else {
        format!("+{v:.4}")
    }
}

/// "scenario 3, seed 2".
fn run_name(scenario: &str, seed: u64) -> Result<String> {
    phrase_with(
        "run",
        [
            ("scenario", scenario_number(scenario).to_string()),
            ("seed", seed.to_string()),
        ],
    )
}

/// "2-4" for the scenarios of [`LATE_SCENARIOS`].
fn late_range() -> String {
    let first = LATE_SCENARIOS.first().map_or("", |s| scenario_number(s));
    let last = LATE_SCENARIOS.last().map_or("", |s| scenario_number(s));
    format!("{first}-{last}")
}

/// The f32-vs-f64 comparison: setting, a table row per scenario and seed,
/// and the verdict, every number from `stats`.
pub fn comparison(e: &Experiment, stats: &[PairStats]) -> Result<String> {
    let seeds: Vec<String> = e.seeds.iter().map(u64::to_string).collect();
    let pair = |a: (f64, usize), b: (f64, usize)| {
        if a.1 == b.1 {
            format!("{} / {} ({})", num(a.0), num(b.0), a.1)
        } else {
            format!("{} ({}) / {} ({})", num(a.0), a.1, num(b.0), b.1)
        }
    };
    let mut rows = String::new();
    for s in stats {
        write!(
            rows,
            "\n| {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} |",
            scenario_number(&s.scenario),
            s.seed,
            epoch_or_never(s.cross_normal_avg)?,
            epoch_or_never(s.cross_subnormal_avg)?,
            epoch_or_never(s.f32_all_zero)?,
            num(s.max_diff_unseen.0),
            s.max_diff_unseen.1,
            num(s.max_diff_chosen.0),
            pair(s.rise_f64, s.rise_f32),
            pair(s.fall_f64, s.fall_f32),
        )
        .ok();
    }
    let text = render_file(
        "precision/precision",
        &facts([
            ("late", late_range()),
            ("min_normal", format!("{F32_MIN_NORMAL:.3e}")),
            ("ln_min_normal", format!("{:.1}", ln_f32_min_normal())),
            ("min_subnormal", format!("{F32_MIN_SUBNORMAL:.3e}")),
            ("ln_min_subnormal", format!("{:.1}", ln_f32_min_subnormal())),
            ("min_normal_short", format!("{F32_MIN_NORMAL:.1e}")),
            ("min_subnormal_short", format!("{F32_MIN_SUBNORMAL:.1e}")),
            ("epochs", e.epochs.to_string()),
            ("seeds", seeds.join(", ")),
            ("jump_threshold", JUMP_THRESHOLD.to_string()),
            ("jump_window", JUMP_WINDOW.to_string()),
            ("late_from", LATE_FROM.to_string()),
            ("rows", rows),
            ("verdict", comparison_verdict(stats)?),
        ]),
    )?;
    Ok(text + "\n")
}

/// The comparison's closing paragraph.
fn comparison_verdict(stats: &[PairStats]) -> Result<String> {
    let late = LATE_SCENARIOS;
    let v = verdict(stats, &late);
    let of: Vec<&PairStats> = stats
        .iter()
        .filter(|s| late.contains(&s.scenario.as_str()))
        .collect();
    let Some(worst) = of
        .iter()
        .max_by(|a, b| a.max_diff_unseen.0.total_cmp(&b.max_diff_unseen.0))
    else {
        return phrase_with("no-late-run", [("late", late_range())]);
    };
    let crossings: Vec<Option<usize>> = of.iter().map(|s| s.f32_all_zero).collect();
    let max_gap = worst.max_diff_unseen.0;
    // "exactly 0 from epoch … on" needs a run where that happens.
    let key = if crossings.iter().all(Option::is_none) {
        "trajectory-no-zero"
    } else {
        "trajectory"
    };
    let mut pieces = vec![phrase_with(
        key,
        [
            ("late", late_range()),
            ("runs", v.runs.to_string()),
            ("zero_from", epoch_range(&crossings)?),
            ("gap", num(worst.max_diff_unseen.0)),
            ("run", run_name(&worst.scenario, worst.seed)?),
            ("gap_epoch", worst.max_diff_unseen.1.to_string()),
        ],
    )?];
    let events: Vec<&&PairStats> = of.iter().filter(|s| s.event(false).is_some()).collect();
    pieces.push(match v.outcome() {
        Outcome::PrecisionMatters => phrase_with(
            "precision-matters",
            [
                ("unmatched", (v.f32_only + v.both_elsewhere).to_string()),
                ("runs", v.runs.to_string()),
                ("elsewhere", v.both_elsewhere.to_string()),
            ],
        )?,
        Outcome::NoLateChange => phrase("no-late-change")?,
        Outcome::SameInBoth => same_in_both(&events, &v)?,
    });
    let s1: Vec<&PairStats> = stats
        .iter()
        .filter(|s| s.scenario == REFERENCE_SCENARIO)
        .collect();
    if let Some(worst) = s1
        .iter()
        .max_by(|a, b| a.max_diff_unseen.0.total_cmp(&b.max_diff_unseen.0))
    {
        let part_tol = format!("{PART_TOL:.0e}");
        let parted = match (worst.parted, worst.f32_all_zero) {
            (Some(p), Some(z)) => phrase_with(
                "parted-zero",
                [
                    ("part_tol", part_tol),
                    ("parted", p.to_string()),
                    ("order", phrase(if p < z { "before" } else { "after" })?),
                    ("zero", z.to_string()),
                ],
            )?,
            (Some(p), None) => phrase_with(
                "parted",
                [("part_tol", part_tol), ("parted", p.to_string())],
            )?,
            _ => String::new(),
        };
        let largest = if worst.max_diff_unseen.0 > max_gap {
            "largest-of-all"
        } else {
            "largest"
        };
        pieces.push(phrase_with(
            "reference",
            [
                ("reference", scenario_number(REFERENCE_SCENARIO).to_string()),
                ("largest", phrase(largest)?),
                ("gap", num(worst.max_diff_unseen.0)),
                ("chosen_gap", num(worst.max_diff_chosen.0)),
                ("run", run_name(&worst.scenario, worst.seed)?),
                ("parted", parted),
            ],
        )?);
    }
    pieces.push(phrase_with(
        "why",
        [("f32_max", format!("{:.1e}", f32::MAX))],
    )?);
    let diverged = stats
        .iter()
        .filter(|s| s.diverged.0 || s.diverged.1)
        .count();
    if diverged > 0 {
        pieces.push(phrase_with(
            "diverged",
            [("diverged", diverged.to_string())],
        )?);
    }
    Ok(pieces.join(" "))
}

/// The verdict's sentence when every late change of the f32 runs has its
/// match in f64: the changes, their timing, and where the mass goes.
fn same_in_both(events: &[&&PairStats], v: &crate::studies::precision::Verdict) -> Result<String> {
    let list_events = events
        .iter()
        .map(|s| {
            let (change, at) = s.event(false).expect("filtered");
            phrase_with(
                "event",
                [
                    ("run", run_name(&s.scenario, s.seed)?),
                    ("change", signed(change)),
                    ("epoch", at.to_string()),
                ],
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let strict = events.iter().map(|s| s.final_strict).fold(0.0, f64::max);
    let share = events
        .iter()
        .map(|s| s.final_unseen_on_other_chosen)
        .fold(f64::INFINITY, f64::min);
    let n_others = events[0].n_responses.saturating_sub(2);
    let lags: Vec<(i64, &&PairStats)> = events
        .iter()
        .filter_map(|s| Some((s.event(false)?.1 as i64 - s.f32_all_zero? as i64, *s)))
        .collect();
    let list_lags: Vec<String> = lags.iter().map(|l| l.0.to_string()).collect();
    let mut timing = phrase_with("timing", [("lags", list_lags.join(", "))])?;
    if let Some((m, s)) = lags.iter().min_by_key(|l| l.0.abs()) {
        if m.abs() < CLOSE_LAG {
            timing += &phrase_with(
                "timing-close",
                [
                    ("run", run_name(&s.scenario, s.seed)?),
                    ("lag", m.to_string()),
                    ("f64_min", format!("{:.1e}", f64::from_bits(1))),
                ],
            )?;
        }
    }
    let share = if share >= ALL_ON_CHOSEN {
        phrase_with(
            "share-all",
            [("share", format!("{:.2}", 100.0 * ALL_ON_CHOSEN))],
        )?
    } else {
        phrase_with(
            "share-least",
            [("share", format!("{:.2}", (10000.0 * share).floor() / 100.0))],
        )?
    };
    phrase_with(
        "same-in-both",
        [
            ("events", events.len().to_string()),
            ("runs", v.runs.to_string()),
            ("list", list_events.join("; ")),
            ("same", v.both_same_epoch.to_string()),
            ("f64_only", v.f64_only.to_string()),
            ("timing", timing),
            ("n_others", n_others.to_string()),
            ("share", share),
            ("strict", format!("{strict:.1e}")),
        ],
    )
}

// ---------------------------------------------------------------------------
// The float32 bookkeeping.

/// "1.62" for a factor.
fn x(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "–".into()
    }
}

/// "1.42", or "9.1e8" / "3e-12" for a huge or tiny factor.
fn factor(v: f64) -> String {
    if v.is_finite() && v > 0.0 && v < 0.01 {
        format!("{v:.0e}")
    } else if v.is_finite() && v >= 1000.0 {
        format!("{v:.1e}")
    } else {
        x(v)
    }
}

/// "346" for an epoch.
fn ep(v: f64) -> String {
    format!("{v:.0}")
}

/// Median, smallest and largest of the non-NaN `xs`, formatted; `None`
/// when there are none.
fn spread(xs: &[f64], fmt: fn(f64) -> String) -> Option<(String, String, String)> {
    let q = Quantiles::of(xs);
    if q.n == 0 {
        return None;
    }
    let ok = || xs.iter().copied().filter(|v| !v.is_nan());
    let lo = ok().fold(f64::INFINITY, f64::min);
    let hi = ok().fold(f64::NEG_INFINITY, f64::max);
    Some((fmt(q.median), fmt(lo), fmt(hi)))
}

/// For tables: "1.39 (1.32–1.47)", "1.60" when every value prints alike,
/// "–" when there are none.
fn median_range(xs: &[f64], fmt: fn(f64) -> String) -> String {
    match spread(xs, fmt) {
        None => "–".into(),
        Some((_, lo, hi)) if lo == hi => lo,
        Some((m, lo, hi)) => format!("{m} ({lo}–{hi})"),
    }
}

/// For prose: the value and a note, ("346", "median; range 215–692") or
/// ("1.60", "in every run"); ("–", "no run") when there are none.
fn median_range_prose(xs: &[f64], fmt: fn(f64) -> String) -> Result<(String, String)> {
    Ok(match spread(xs, fmt) {
        None => ("–".into(), phrase("spread-none")?),
        Some((_, lo, hi)) if lo == hi => (lo, phrase("spread-every")?),
        Some((m, lo, hi)) => (m, phrase_with("spread", [("lo", lo), ("hi", hi)])?),
    })
}

/// "×1.42 at 2546 (zeros 12→15, mean ×1.18)" for a rise; the notes only
/// when given; bold when it reaches `rule.min_ratio`.
fn rise_cell(
    r: Option<Rise>,
    zeros: Option<(usize, usize)>,
    mean: Option<f64>,
    rule: &JumpRule,
) -> String {
    let Some(r) = r else {
        return "–".into();
    };
    let mut text = format!("×{} at {}", factor(r.ratio), r.end);
    let mut notes = Vec::new();
    if let Some((a, b)) = zeros {
        notes.push(format!("zeros {a}→{b}"));
    }
    if let Some(m) = mean {
        notes.push(format!("mean ×{}", x(m)));
    }
    if !notes.is_empty() {
        write!(text, " ({})", notes.join(", ")).ok();
    }
    if r.ratio >= rule.min_ratio {
        format!("**{text}**")
    } else {
        text
    }
}

/// "scenarios 2, 3 and 4" or "scenario 2" from scenario names.
fn scenario_list(names: &[&str]) -> Result<String> {
    let nums: Vec<&str> = names.iter().map(|s| scenario_number(s)).collect();
    match nums.as_slice() {
        [] => phrase("no-scenario"),
        [one] => phrase_with("scenario", [("scenario", one.to_string())]),
        _ => phrase_with("scenarios", [("scenarios", list(&nums))]),
    }
}

/// "3 of 8".
fn count(k: usize, n: usize) -> Result<String> {
    phrase_with("count", [("k", k.to_string()), ("n", n.to_string())])
}

/// The float32 bookkeeping subsection: the setting, a summary table, a
/// table per run and the verdict, every number from `facts`.
pub fn bookkeeping(facts: &late_jump::Facts) -> Result<String> {
    let rule = &facts.rule;
    let runs = &facts.runs;
    let Some(first) = runs.first() else {
        return Ok(phrase("no-runs")? + "\n");
    };
    let groups = scenario_groups(runs);
    let (head, late) = (&groups.head, &groups.late);
    let (head_runs, late_runs) = (runs_of(runs, head), runs_of(runs, late));
    let seeds: Vec<String> = facts.experiment.seeds.iter().map(u64::to_string).collect();
    let (n_late, n_head) = (late_runs.len(), head_runs.len());

    let mut summary = String::new();
    write!(
        summary,
        "\n| {} | | 1 | {} | | | | | {} / – |",
        phrase("control")?,
        count(f64_jumps(&late_runs, rule), n_late)?,
        count(f64_jumps(&head_runs, rule), n_head)?,
    )
    .ok();
    for c in Candidate::ALL {
        let (lf, hf) = (
            candidate_facts(&late_runs, c),
            candidate_facts(&head_runs, c),
        );
        let start: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.of(c).map(|f| f.start / r.f64_start))
            .collect();
        let (jumps, book) = jump_counts(&lf, rule);
        let sizes: Vec<f64> = lf
            .iter()
            .filter_map(|f| f.bookkeeping_jump(rule).map(|r| r.ratio))
            .collect();
        let at_rej: Vec<f64> = lf.iter().filter_map(|f| f.factor_rejected_zero).collect();
        let fin: Vec<f64> = lf.iter().map(|f| f.factor_final).collect();
        let (hj, hb) = jump_counts(&hf, rule);
        let at_rej_cell = if at_rej.len() < lf.len() {
            phrase_with(
                "some-get-there",
                [
                    ("value", median_range(&at_rej, factor)),
                    ("k", at_rej.len().to_string()),
                    ("n", lf.len().to_string()),
                ],
            )?
        } else {
            median_range(&at_rej, factor)
        };
        write!(
            summary,
            "\n| {} | `{}` | {} | {} | {} | {} | {} | {} | {} / {} |",
            c.name(),
            c.torch(),
            median_range(&start, x),
            count(jumps, n_late)?,
            count(book, n_late)?,
            median_range(&sizes, factor),
            at_rej_cell,
            median_range(&fin, factor),
            count(hj, n_head)?,
            count(hb, n_head)?,
        )
        .ok();
    }

    let mut columns = String::new();
    for c in Candidate::ALL {
        write!(columns, " `{}` |", c.torch()).ok();
    }
    let mut rows = String::new();
    for r in runs {
        write!(
            rows,
            "\n| {} | {} | {} | {} | {} | {} |",
            scenario_number(&r.scenario),
            r.seed,
            epoch_or_never(r.first_zero)?,
            epoch_or_never(r.other_rejected_zero)?,
            epoch_or_never(r.no_pair_zero)?,
            rise_cell(r.f64_rise, None, None, rule),
        )
        .ok();
        for f in &r.candidates {
            let mut cell = if f.candidate == Candidate::Mean {
                rise_cell(f.rise, Some(f.zeros), None, rule)
            } else {
                rise_cell(f.rise, Some(f.zeros), Some(f.mean_rise), rule)
            };
            if f.candidate != Candidate::Mean {
                let z = Some(f.factor_zeros);
                write!(cell, "; ÷ mean {}", rise_cell(f.factor_rise, z, None, rule)).ok();
            }
            write!(rows, " {cell} |").ok();
        }
    }

    let text = render_file(
        "precision/late-jump",
        &self::facts([
            ("zero_below", format!("{:.0e}", F32_MIN_SUBNORMAL / 2.0)),
            ("n_pairs", first.n_pairs.to_string()),
            ("per_pair", first.per_pair.to_string()),
            ("n_entries", first.n_entries.to_string()),
            ("n_other_rejected", first.n_other_rejected.to_string()),
            ("n_no_pair", first.n_no_pair.to_string()),
            ("min_ratio", rule.min_ratio.to_string()),
            ("window", rule.window.to_string()),
            ("from", rule.from.to_string()),
            ("mean", Candidate::Mean.torch().to_string()),
            ("scenarios", scenario_list(&groups.all)?),
            ("seeds", seeds.join(", ")),
            ("epochs", facts.experiment.epochs.to_string()),
            ("late", scenario_list(late)?),
            ("head", scenario_list(head)?),
            ("summary", summary),
            ("candidate_columns", columns),
            ("separator", "---|".repeat(6 + Candidate::ALL.len())),
            ("rows", rows),
            (
                "verdict",
                bookkeeping_verdict(facts, &head_runs, &late_runs, late)?,
            ),
        ]),
    )?;
    Ok(text + "\n")
}

/// A late jump of a candidate ÷ plain mean: the run, the window, and the
/// zero entries at its start and end.
type BookJump<'a> = (&'a RunFacts, Rise, (usize, usize));

/// The closing paragraph: what the numbers say about each candidate.
fn bookkeeping_verdict(
    facts: &late_jump::Facts,
    head_runs: &[&RunFacts],
    late_runs: &[&RunFacts],
    late: &[&str],
) -> Result<String> {
    let rule = &facts.rule;
    let n = late_runs.len();
    let sl = scenario_list(late)?;
    let Some(r0) = late_runs.first() else {
        return phrase("no-late-runs");
    };
    let mut pieces = Vec::new();
    // The geometric mean starts elsewhere than the paper's curve.
    let ratio_start = |rs: &[&RunFacts], c: Candidate| -> Vec<f64> {
        rs.iter()
            .filter_map(|r| r.of(c).map(|f| f.start / r.f64_start))
            .collect()
    };
    let first_start = match head_runs.first() {
        None => String::new(),
        Some(r) => {
            " ".to_string()
                + &phrase_with(
                    "first-start",
                    [
                        ("start", format!("{:.3}", r.f64_start)),
                        ("scenario", scenario_number(&r.scenario).to_string()),
                    ],
                )?
        }
    };
    let (geo, geo_note) = median_range_prose(&ratio_start(late_runs, Candidate::GeoNonzero), x)?;
    pieces.push(phrase_with(
        "opening",
        [
            ("per_pair", r0.per_pair.to_string()),
            ("first_start", first_start),
            ("geo", geo),
            ("late", sl.clone()),
            ("geo_note", geo_note),
        ],
    )?);

    // The plain mean and the f64 control.
    let (mean_jumps, _) = jump_counts(&candidate_facts(late_runs, Candidate::Mean), rule);
    let control = f64_jumps(late_runs, rule);
    let same = late_runs
        .iter()
        .filter(|r| {
            let m = r.of(Candidate::Mean).and_then(|f| f.jump(rule));
            let c = r.f64_rise.filter(|q| q.ratio >= rule.min_ratio);
            matches!((m, c), (Some(a), Some(b)) if a.end.abs_diff(b.end) <= rule.window)
        })
        .count();
    pieces.push(phrase_with(
        "plain-mean",
        [
            ("mean", Candidate::Mean.torch().to_string()),
            ("min_subnormal", format!("{F32_MIN_SUBNORMAL:.1e}")),
        ],
    )?);
    if mean_jumps == 0 && control == 0 {
        pieces.push(phrase_with("plain-mean-flat", [("n", n.to_string())])?);
    } else {
        pieces.push(phrase_with(
            "plain-mean-jumps",
            [
                ("mean_jumps", mean_jumps.to_string()),
                ("n", n.to_string()),
                ("control", control.to_string()),
                ("same", same.to_string()),
                ("window", rule.window.to_string()),
            ],
        )?);
    }

    // The two means that skip zeros.
    let skip = [Candidate::NonzeroPooled, Candidate::NonzeroPerPair];
    let at_rej: Vec<f64> = skip
        .iter()
        .flat_map(|&c| {
            candidate_facts(late_runs, c)
                .into_iter()
                .filter_map(|f| f.factor_rejected_zero)
        })
        .collect();
    let epochs = |f: fn(&RunFacts) -> Option<usize>| -> Vec<f64> {
        late_runs
            .iter()
            .filter_map(|r| f(r).map(|e| e as f64))
            .collect()
    };
    let rej_zero = epochs(|r| r.other_rejected_zero);
    let spans: Vec<f64> = late_runs
        .iter()
        .filter_map(|r| Some((r.other_rejected_zero? as f64) - (r.first_zero? as f64)))
        .collect();
    let no_pair = late_runs
        .iter()
        .filter(|r| r.no_pair_zero.is_some())
        .count();
    if late_runs.iter().all(|r| r.first_zero.is_none()) {
        pieces.push(phrase("no-underflow")?);
        return Ok(pieces.join(" "));
    }
    let issue = issue_factor(r0);
    let (per_pair, kept) = (issue.per_pair.to_string(), issue.kept.to_string());
    let pooled = Candidate::NonzeroPooled.torch().to_string();
    let per_pair_mean = Candidate::NonzeroPerPair.torch().to_string();
    if at_rej.is_empty() {
        pieces.push(phrase_with(
            "skip-short",
            [
                ("pooled", pooled),
                ("per_pair_mean", per_pair_mean),
                ("per_pair", per_pair),
                ("kept", kept),
            ],
        )?);
    } else {
        let size = match late_jump::factor_match(&at_rej, issue.factor) {
            FactorMatch::Every => "factor-every",
            FactorMatch::Median => "factor-most",
            FactorMatch::Other => "factor-other",
        };
        let (first_zero, first_note) = median_range_prose(&epochs(|r| r.first_zero), ep)?;
        let (rej_at, rej_note) = median_range_prose(&rej_zero, ep)?;
        let (f_rej, f_rej_note) = median_range_prose(&at_rej, x)?;
        let (f_fin, f_fin_note) = median_range_prose(
            &skip
                .iter()
                .flat_map(|&c| {
                    candidate_facts(late_runs, c)
                        .into_iter()
                        .map(|f| f.factor_final)
                })
                .collect::<Vec<_>>(),
            x,
        )?;
        pieces.push(phrase_with(
            "skip-step",
            [
                ("pooled", pooled),
                ("per_pair_mean", per_pair_mean),
                ("size", phrase(size)?),
                ("first_zero", first_zero),
                ("first_note", first_note),
                ("rej_at", rej_at),
                ("rej_note", rej_note),
                ("rej_runs", rej_zero.len().to_string()),
                ("n", n.to_string()),
                ("f_rej", f_rej),
                ("f_rej_note", f_rej_note),
                ("per_pair", per_pair),
                ("kept", kept),
                ("predicted", x(issue.factor)),
                ("rej_per_pair", issue.rejected_per_pair.to_string()),
                ("f_fin", f_fin),
                ("f_fin_note", f_fin_note),
                ("no_pair", no_pair.to_string()),
            ],
        )?);
    }
    // Each candidate's jumps of the ratio to the plain mean: named one by
    // one when few, summarised when many.
    let book: Vec<(Candidate, Vec<BookJump>)> = skip
        .iter()
        .map(|&c| {
            let jumps = late_runs
                .iter()
                .filter_map(|r| {
                    let f = r.of(c)?;
                    Some((*r, f.bookkeeping_jump(rule)?, f.factor_zeros))
                })
                .collect();
            (c, jumps)
        })
        .collect();
    let list_jumps = book
        .iter()
        .map(|(c, v)| {
            if v.is_empty() {
                return phrase_with(
                    "jumps-none",
                    [("n", n.to_string()), ("candidate", c.torch().to_string())],
                );
            }
            let detail = if v.len() <= NAMED_JUMPS {
                v.iter()
                    .map(|(r, q, (a, b))| {
                        phrase_with(
                            "jump",
                            [
                                ("scenario", scenario_number(&r.scenario).to_string()),
                                ("seed", r.seed.to_string()),
                                ("ratio", x(q.ratio)),
                                ("length", (q.end - q.start).to_string()),
                                ("end", q.end.to_string()),
                                ("from", a.to_string()),
                                ("to", b.to_string()),
                            ],
                        )
                    })
                    .collect::<Result<Vec<_>>>()?
                    .join("; ")
            } else {
                let sizes: Vec<f64> = v.iter().map(|(_, q, _)| q.ratio).collect();
                let (m, note) = median_range_prose(&sizes, x)?;
                phrase_with("jumps-summary", [("median", m), ("note", note)])?
            };
            phrase_with(
                "jumps",
                [
                    ("k", v.len().to_string()),
                    ("n", n.to_string()),
                    ("candidate", c.torch().to_string()),
                    ("detail", detail),
                ],
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let most = book.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let how = phrase(if mostly_staircase(most, n) {
        "staircase"
    } else {
        "staircase-mixed"
    })?;
    let (span, span_note) = median_range_prose(&spans, ep)?;
    let built = if spans.is_empty() {
        phrase_with("built-unknown", [("how", how)])?
    } else {
        phrase_with(
            "built",
            [
                ("n_rejected", r0.n_other_rejected.to_string()),
                ("span", span),
                ("span_note", span_note),
                ("how", how),
            ],
        )?
    };
    pieces.push(phrase_with(
        "ratio-jumps",
        [
            ("built", built),
            ("min_ratio", rule.min_ratio.to_string()),
            ("window", rule.window.to_string()),
            ("list", list_jumps.join(" and ")),
        ],
    )?);
    pieces.push(phrase(if book.iter().any(|(_, v)| !v.is_empty()) {
        "skipping-can-jump"
    } else {
        "skipping-steps"
    })?);
    Ok(pieces.join(" "))
}
