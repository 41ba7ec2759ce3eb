//! The benchmark presented: README.md's "Performance" numbers, rendered from
//! the rows of a `bench.csv` ([`crate::studies::bench::BenchRow`]) through
//! `templates/bench/`. The figure is [`crate::present::plots::bench`].

use crate::error::{Error, Result};
use crate::present::template::{list, render_file, render_line, Facts};
use crate::studies::bench::{
    floor_ratios, mlp_step_madds, BenchRow, JAX_MLP64_SWEEP, LOGITS_LOGLINEAR_DIM,
    TARGET_BOUND_SHARE, TARGET_F32_SPEEDUP, TARGET_MLP64_SWEEP, TARGET_STREAM_FACTOR,
};

fn put(f: &mut Facts, k: &str, v: impl ToString) {
    f.insert(k.to_string(), v.to_string());
}

/// A rate with three significant digits and its unit: `2.69 M`, `561 k`, `7.63 k`.
pub fn rate(x: f64) -> String {
    let (v, unit) = if x >= 1e6 {
        (x / 1e6, " M")
    } else if x >= 1e3 {
        (x / 1e3, " k")
    } else {
        (x, "")
    };
    format!("{}{unit}", sig3(v))
}

/// `v` with three significant digits (no exponent).
fn sig3(v: f64) -> String {
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.decimals$}")
}

/// The `paper` row of `policy`, `width`, `precision`, one thread or the sweep.
fn paper<'a>(
    rows: &'a [BenchRow],
    policy: &str,
    width: usize,
    precision: &str,
    sweep: bool,
) -> Option<&'a BenchRow> {
    rows.iter().find(|r| {
        r.case == "paper"
            && r.policy == policy
            && r.width == width
            && r.precision == precision
            && (r.runs > 4) == sweep
    })
}

fn missing(what: &str) -> Error {
    Error::config("bench.csv", format!("has no {what} row"))
}

/// README.md's performance block from the rows of one `dpo-lab bench`.
pub fn performance_markdown(rows: &[BenchRow]) -> Result<String> {
    let mut f = Facts::new();
    let machine = rows
        .iter()
        .map(|r| r.machine.as_str())
        .find(|m| !m.is_empty())
        .ok_or_else(|| missing("machine-named"))?;
    put(&mut f, "machine", machine);
    let activation = rows
        .iter()
        .find(|r| r.policy == "mlp" && !r.activation.is_empty())
        .map(|r| r.activation.clone())
        .ok_or_else(|| missing("MLP"))?;
    put(&mut f, "activation", &activation);

    // The table: tabular, then each MLP width in both precisions.
    let mut widths: Vec<usize> = rows
        .iter()
        .filter(|r| r.case == "paper" && r.policy == "mlp")
        .map(|r| r.width)
        .collect();
    widths.sort_unstable();
    widths.dedup();
    let mut lines = Vec::new();
    let mut sweep_threads = 0;
    let mut cell = |r: Option<&BenchRow>| {
        r.map_or("–".to_string(), |r| {
            if r.runs > 4 {
                sweep_threads = r.threads;
            }
            rate(r.steps_per_sec)
        })
    };
    // The peer's rows, if it was timed: two more columns (its rate, and
    // dpo-lab's 64-run rate over it) on the f64 lines.
    let peer_of = |policy: &str, width: usize| {
        rows.iter()
            .find(|r| r.case == "peer" && r.policy == policy && r.width == width)
    };
    let has_peer = rows.iter().any(|r| r.case == "peer");
    let peer_cells = |policy: &str, width: usize, precision: &str| -> String {
        if !has_peer {
            return String::new();
        }
        let p = peer_of(policy, width).filter(|_| precision == "f64");
        let ours = paper(rows, policy, width, precision, true);
        match (p, ours) {
            (Some(p), Some(o)) => format!(
                " {} | {:.2}× |",
                rate(p.steps_per_sec),
                o.steps_per_sec / p.steps_per_sec
            ),
            (Some(p), None) => format!(" {} | – |", rate(p.steps_per_sec)),
            _ => " – | – |".into(),
        }
    };
    lines.push(format!(
        "| tabular, f64 | {} | {} |{}",
        cell(paper(rows, "tabular", 0, "f64", false)),
        cell(paper(rows, "tabular", 0, "f64", true)),
        peer_cells("tabular", 0, "f64")
    ));
    let mut ratios = Vec::new();
    // The float32 ratios under the target, with three decimals (two can
    // round one up to it).
    let mut below = Vec::new();
    let mut pcts = Vec::new();
    let mut sgd = Vec::new();
    let mut sgd_over_bound = Vec::new();
    // Whether some step is shorter than its bound.
    let mut over_bound = false;
    let divider = rows
        .iter()
        .find(|r| r.case == "bound" && r.policy == "sqrt+div")
        .ok_or_else(|| missing("`bound` sqrt+div"))?
        .ns_per_step;
    let madd = rows
        .iter()
        .find(|r| r.case == "bound" && r.policy == "mul+add")
        .ok_or_else(|| missing("`bound` mul+add"))?
        .ns_per_step;
    for &w in &widths {
        for precision in ["f64", "f32-native"] {
            let (one, all) = (
                paper(rows, "mlp", w, precision, false),
                paper(rows, "mlp", w, precision, true),
            );
            if one.is_none() && all.is_none() {
                continue;
            }
            lines.push(format!(
                "| MLP width {w}, {precision} | {} | {} |{}",
                cell(one),
                cell(all),
                peer_cells("mlp", w, precision)
            ));
        }
        for sweep in [false, true] {
            if let (Some(a), Some(b)) = (
                paper(rows, "mlp", w, "f32-native", sweep),
                paper(rows, "mlp", w, "f64", sweep),
            ) {
                let ratio = a.steps_per_sec / b.steps_per_sec;
                let case = format!(
                    "width {w}, {}",
                    if sweep { "64 runs" } else { "one thread" }
                );
                if ratio < TARGET_F32_SPEEDUP {
                    below.push(format!("{ratio:.3}× ({case})"));
                }
                ratios.push(format!("{ratio:.2}× ({case})"));
            }
        }
        if let Some(r) = paper(rows, "mlp", w, "f64", false) {
            let bound = (divider * r.params as f64)
                .max(madd * mlp_step_madds(r.prompts, r.width, r.responses, r.params));
            over_bound |= bound > r.ns_per_step;
            pcts.push(format!(
                "{:.0} % (width {w})",
                100.0 * bound / r.ns_per_step
            ));
            if let Some(s) = rows.iter().find(|s| {
                s.case == "paper-sgd" && s.policy == "mlp" && s.width == w && s.precision == "f64"
            }) {
                sgd_over_bound.push(s.ns_per_step / (divider * r.params as f64));
                sgd.push(format!(
                    "{:.1} µs ({:.0} % of the Adam step, {:.2}× the divider bound) at width {w}",
                    s.ns_per_step / 1e3,
                    100.0 * s.ns_per_step / r.ns_per_step,
                    s.ns_per_step / (divider * r.params as f64)
                ));
            }
        }
    }
    put(&mut f, "table", lines.join("\n"));
    put(&mut f, "sweep_threads", sweep_threads);
    let mut g = Facts::new();
    put(&mut g, "sweep_threads", sweep_threads);
    let head = render_line(
        "bench/phrases",
        if has_peer { "head-peer" } else { "head" },
        &g,
    )?;
    let columns = head.matches('|').count().saturating_sub(1);
    put(
        &mut f,
        "table_head",
        format!("{head}\n{}|", "|---".repeat(columns)),
    );
    put(&mut f, "f32_ratios", list(&ratios));
    let f32_below = if below.is_empty() {
        render_line("bench/phrases", "f32-all", &Facts::new())?
    } else {
        let mut g = Facts::new();
        put(&mut g, "cases", list(&below));
        render_line("bench/phrases", "f32-below", &g)?
    };
    put(&mut f, "f32_below", f32_below);
    put(&mut f, "f32_target", TARGET_F32_SPEEDUP);
    put(&mut f, "divider_ns", format!("{divider:.2}"));
    put(&mut f, "madd_ns", format!("{madd:.3}"));
    put(&mut f, "bound_pcts", list(&pcts));
    put(
        &mut f,
        "bound_target",
        format!("{:.0}", 100.0 * TARGET_BOUND_SHARE),
    );
    let note = if over_bound {
        render_line("bench/phrases", "over-bound", &Facts::new())?
    } else {
        String::new()
    };
    put(&mut f, "bound_note", note);
    let jax = match paper(rows, "mlp", 64, "f64", true) {
        Some(r) => {
            let mut g = Facts::new();
            put(&mut g, "sweep_rate", rate(r.steps_per_sec));
            // `ns_per_step` of a sweep is per thread: each thread's step time.
            // Both bounds of the step: the tighter one (`bound`) and the
            // looser one (a step under both is out of reach of these exact
            // steps on this machine).
            let (div_ns, madd_ns) = (
                divider * r.params as f64,
                madd * mlp_step_madds(r.prompts, r.width, r.responses, r.params),
            );
            let (bound, looser) = (div_ns.max(madd_ns), div_ns.min(madd_ns));
            put(
                &mut g,
                "sweep_pct",
                format!("{:.0}", 100.0 * bound / r.ns_per_step),
            );
            put(&mut g, "sweep_threads", r.threads);
            put(
                &mut g,
                "jax_ratio",
                format!("{:.2}", r.steps_per_sec / JAX_MLP64_SWEEP),
            );
            put(&mut g, "jax_rate", rate(JAX_MLP64_SWEEP));
            put(&mut g, "jax_target", TARGET_MLP64_SWEEP / JAX_MLP64_SWEEP);
            match peer_of("mlp", 64) {
                Some(p) => {
                    put(&mut g, "peer", &p.peer);
                    put(&mut g, "peer_rate", rate(p.steps_per_sec));
                    put(
                        &mut g,
                        "peer_ratio",
                        format!("{:.2}", r.steps_per_sec / p.steps_per_sec),
                    );
                    // The target's rate, and the thread-step it asks for
                    // against the bound; the rate 85 % of the bound gives.
                    let six = (TARGET_MLP64_SWEEP / JAX_MLP64_SWEEP) * p.steps_per_sec;
                    let six_step = 1e9 * r.threads as f64 / six;
                    put(&mut g, "six_rate", rate(six));
                    put(
                        &mut g,
                        "six_pct",
                        format!("{:.0}", 100.0 * bound / six_step),
                    );
                    put(&mut g, "six_us", format!("{:.1}", six_step / 1e3));
                    put(&mut g, "bound_us", format!("{:.1}", bound / 1e3));
                    put(&mut g, "looser_us", format!("{:.1}", looser / 1e3));
                    let at85 = 1e9 * r.threads as f64 / (bound / TARGET_BOUND_SHARE);
                    put(&mut g, "at85", format!("{:.2}", at85 / p.steps_per_sec));
                    put(
                        &mut g,
                        "bound_target",
                        format!("{:.0}", 100.0 * TARGET_BOUND_SHARE),
                    );
                    let others: Vec<String> = rows
                        .iter()
                        .filter(|q| q.case == "peer" && !(q.policy == "mlp" && q.width == 64))
                        .filter_map(|q| {
                            let o = paper(rows, &q.policy, q.width, "f64", true)?;
                            Some(format!(
                                "{:.2}× ({})",
                                o.steps_per_sec / q.steps_per_sec,
                                case_label(q)
                            ))
                        })
                        .collect();
                    put(&mut g, "peer_others", list(&others));
                    let six_key = if six_step < looser {
                        "six-beyond-both"
                    } else if six_step < bound {
                        "six-beyond"
                    } else {
                        "six-within"
                    };
                    let six = render_line("bench/phrases", six_key, &g)?;
                    put(&mut g, "six", six);
                    let faster: Vec<String> = rows
                        .iter()
                        .filter(|q| q.case == "peer")
                        .filter_map(|q| {
                            let o = paper(rows, &q.policy, q.width, "f64", true)?;
                            (o.steps_per_sec < q.steps_per_sec).then(|| case_label(q))
                        })
                        .collect();
                    let faster = if faster.is_empty() {
                        String::new()
                    } else {
                        let mut h = Facts::new();
                        put(&mut h, "cases", list(&faster));
                        render_line("bench/phrases", "peer-faster", &h)?
                    };
                    put(&mut g, "peer_faster", faster);
                    render_line("bench/phrases", "jax-peer", &g)?
                }
                None => render_line("bench/phrases", "jax", &g)?,
            }
        }
        None => render_line("bench/phrases", "jax-none", &Facts::new())?,
    };
    put(&mut f, "jax", jax);
    let outside = if sgd.is_empty() {
        render_line("bench/phrases", "sgd-none", &Facts::new())?
    } else {
        let mut g = Facts::new();
        put(&mut g, "sgd_steps", list(&sgd));
        let key = if sgd_over_bound.iter().all(|&r| r > 1.0) {
            "sgd-longer"
        } else {
            "sgd"
        };
        render_line("bench/phrases", key, &g)?
    };
    put(&mut f, "outside_divider", outside);

    // The big tabular step against its floors.
    let floors = floor_ratios(rows);
    let one = floors
        .iter()
        .find(|r| r.threads == 1)
        .ok_or_else(|| missing("large `scale-responses`"))?;
    put(&mut f, "big_prompts", one.prompts);
    put(&mut f, "big_responses", group(one.responses));
    put(&mut f, "big_one_ms", format!("{:.2}", one.step_ns / 1e6));
    put(&mut f, "big_one_ratio", format!("{:.2}", one.ratio_one()));
    put(
        &mut f,
        "floor_one_ms",
        format!("{:.3}", one.floor_one_ns / 1e6),
    );
    put(&mut f, "floor_target", TARGET_STREAM_FACTOR);
    let split = match floors.iter().find(|r| r.threads > 1) {
        Some(s) => {
            let mut g = Facts::new();
            put(&mut g, "threads", s.threads);
            put(&mut g, "split_ms", format!("{:.2}", s.step_ns / 1e6));
            put(&mut g, "split_ratio_one", format!("{:.2}", s.ratio_one()));
            put(
                &mut g,
                "split_ratio_same",
                format!("{:.2}", s.ratio_split()),
            );
            put(
                &mut g,
                "floor_split_ms",
                format!("{:.3}", s.floor_split_ns / 1e6),
            );
            render_line("bench/phrases", "split", &g)?
        }
        None => render_line("bench/phrases", "split-none", &Facts::new())?,
    };
    put(&mut f, "split", split);

    // Scaling to many logits.
    let logits = |r: &BenchRow| (r.prompts * r.responses) as f64;
    for kind in ["tabular", "loglinear"] {
        let of: Vec<&BenchRow> = rows
            .iter()
            .filter(|r| r.case == "scale-logits" && r.policy == kind)
            .collect();
        let (first, last) = match (of.first(), of.last()) {
            (Some(a), Some(b)) => (*a, *b),
            _ => return Err(missing(&format!("`scale-logits` {kind}"))),
        };
        let slope = |s: Option<f64>| s.map_or("not fitted".into(), |s| format!("{s:.2}"));
        put(
            &mut f,
            &format!("{kind}_time_slope"),
            slope(last.time_slope),
        );
        put(
            &mut f,
            &format!("{kind}_memory_slope"),
            slope(last.memory_slope),
        );
        put(
            &mut f,
            &format!("{kind}_bytes"),
            last.peak_bytes
                .map_or("unmeasured".into(), |b| format!("{:.0}", b / logits(last))),
        );
        put(&mut f, "logits_lo", exp_form(logits(first)));
        put(&mut f, "logits_hi", exp_form(logits(last)));
        put(&mut f, "logits_responses", group(last.responses));
    }
    put(&mut f, "loglinear_dim", LOGITS_LOGLINEAR_DIM);
    let many = rows
        .iter()
        .filter(|r| r.case == "scale-prompts")
        .max_by_key(|r| r.prompts)
        .ok_or_else(|| missing("`scale-prompts`"))?;
    put(&mut f, "prompts_big", group(many.prompts));
    put(&mut f, "prompts_responses", many.responses);
    put(
        &mut f,
        "prompts_us",
        format!("{:.0}", many.ns_per_step / 1e3),
    );

    // dpo-lab's own timed rows (not the bounds, not a peer's).
    let own = |r: &&BenchRow| r.case != "bound" && r.case != "peer";
    let n = rows.iter().filter(own).count();
    let k = rows
        .iter()
        .filter(own)
        .filter(|r| r.identical_to_run)
        .count();
    let mut g = Facts::new();
    put(&mut g, "n", n);
    put(&mut g, "k", k);
    let key = if k == n {
        "identical-all"
    } else {
        "identical-some"
    };
    put(&mut f, "identical", render_line("bench/phrases", key, &g)?);
    render_file("bench/performance", &f)
}

/// A paper-toy case as the README names it: `tabular` or `width 64`.
fn case_label(r: &BenchRow) -> String {
    if r.policy == "tabular" {
        "tabular".into()
    } else {
        format!("width {}", r.width)
    }
}

/// An integer with thin thousands groups, as the README writes them: `100 000`.
fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A power of ten as `1e7`; other values grouped.
fn exp_form(x: f64) -> String {
    let e = x.log10().round();
    if (10f64.powf(e) - x).abs() < 0.5 {
        format!("1e{e}")
    } else {
        group(x.round() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_the_readme_writes_them() {
        assert_eq!(rate(2_694_427.0), "2.69 M");
        assert_eq!(rate(560_874.0), "561 k");
        assert_eq!(rate(7_628.0), "7.63 k");
        assert_eq!(rate(15_480.0), "15.5 k");
        assert_eq!(group(100_000), "100 000");
        assert_eq!(group(1024), "1 024");
        assert_eq!(group(10), "10");
        assert_eq!(exp_form(1e7), "1e7");
        assert_eq!(exp_form(1e4), "1e4");
        assert_eq!(exp_form(4e5), "400 000");
    }
}
