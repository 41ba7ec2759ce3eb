//! Every number README.md's prose quotes comes from a generated file, from
//! the code, or is listed below with the reason it is typed.
//!
//! **Which numbers.** The README's prose: fenced code blocks are left out
//! (commands, and the quoted `fig2.toml`, which `tests/readme.rs` checks),
//! so are the rendered `<!-- findings:NAME:begin -->`…`end` blocks (written
//! by `reproduce` from generated facts), HTML comments, inline code spans
//! (names, paths, formulas) and link targets. In what remains, a number is a
//! numeral: digits with optional thousands groups (`3 872`), decimals and
//! exponent (`1e-5`). Not numbers of anything:
//! - part of a name: a numeral right after a letter, digit, `_`, `.` or
//!   `^` (`f64`, `log10`, `AVX2`, `π₀`), after an upper-case name and a
//!   hyphen (`AVX-512`), or right before a letter (`3D`);
//! - a reference: after "Figure(s)", "section(s)", "scenario(s)",
//!   "Corollary" or "Theorem", with the numerals chained to it by "–",
//!   "and" or "," ("Figures 1–3", "scenarios 3 and 2").
//!
//! **Where from.** A number with a unit of time or rate (`k`, `M`, `s`,
//! `ms`, `µs`, `ns`, `minutes`, `%`, and a range `a–b UNIT`) must match a
//! value of the benchmark record `plots/bench/bench.csv`; any other must
//! match a number of `plots/REPORT.md`, a CSV under `plots/`, or a config
//! under `experiments/`. Matching is at the precision printed: `2.34 M`
//! matches 2 344 066 (half a unit of the last digit, times the unit);
//! an exponent form matches to 1e-9 relative. Anything else must be in
//! [`ALLOWED`], tied to its context and with its reason: a constant of the
//! code (checked against it), a value derived from a generated file
//! (recomputed here), a number typed from the paper or an issue, or — kept
//! visible — a number no file records. An entry that no longer matches
//! anything fails too, so the list stays current.
//!
//! This is a check on provenance, not on meaning: a small count such as 4
//! matches some value of some file whatever it counts.

use dpo_lab::studies::bench::{read_csv, BenchRow};
use std::path::Path;

/// Why a number that no generated file holds may stand in the README.
enum Why {
    /// A constant or a computed property of the code, checked at the
    /// printed precision.
    Code(&'static str, fn() -> f64),
    /// Derived from generated files, recomputed here at the printed precision.
    Derived(&'static str, fn(&Sources) -> f64),
    /// Typed from the paper, an issue or a test's tolerance: not a result
    /// of this code.
    Typed(&'static str),
    /// A measured number that no file records (reported, to be sourced).
    Unsourced(&'static str),
}

/// `(numeral, text just before it, reason)`: the numeral is allowed where
/// the prose before it ends with that text.
const ALLOWED: &[(&str, &str, Why)] = &[
    (
        "85",
        "(6 runs and ",
        Why::Unsourced("the paper-only job's seed-band runs, from a run's log"),
    ),
    (
        "26",
        "MLP: ",
        Why::Unsourced("the paper-only job's wall time on the author's machine"),
    ),
    (
        "21",
        "included, took ",
        Why::Unsourced("the full job's wall time (1 273 s), from a run's log"),
    ),
    (
        "1 273",
        "fresh clone (",
        Why::Unsourced("the full job's wall time, from a run's log"),
    ),
    (
        "1e15",
        "logits leave ±",
        Why::Code("engine::train::LOGIT_LIMIT", || {
            dpo_lab::engine::train::LOGIT_LIMIT
        }),
    ),
    (
        "100 000 000",
        "sanity limits ( beyond ",
        Why::Code("io::output::MAX_EPOCHS", || {
            dpo_lab::io::output::MAX_EPOCHS as f64
        }),
    ),
    (
        "10 000 000",
        "or more than ",
        Why::Code("io::output::MAX_RECORDED_ROWS", || {
            dpo_lab::io::output::MAX_RECORDED_ROWS as f64
        }),
    ),
    (
        "1e-6",
        "optimum to ",
        Why::Typed("the tolerance of tests/objectives.rs, rm_policy_converges_to_the_closed_form"),
    ),
    ("2025", "(ICLR ", Why::Typed("the paper's year")),
    ("2024", "Razin et al. ", Why::Typed("a cited paper's year")),
    (
        "442",
        "took ",
        Why::Unsourced("build time and binary size before and after issue 12's crates, measured by hand under load (README: Dependencies)"),
    ),
    (
        "449",
        "442–",
        Why::Unsourced("build time and binary size before and after issue 12's crates, measured by hand under load (README: Dependencies)"),
    ),
    (
        "176",
        "wall and ",
        Why::Unsourced("build time and binary size before and after issue 12's crates, measured by hand under load (README: Dependencies)"),
    ),
    (
        "178",
        "176–",
        Why::Unsourced("build time and binary size before and after issue 12's crates, measured by hand under load (README: Dependencies)"),
    ),
    (
        "466",
        "before them and ",
        Why::Unsourced("build time and binary size before and after issue 12's crates, measured by hand under load (README: Dependencies)"),
    ),
    (
        "499",
        "466–",
        Why::Unsourced("build time and binary size before and after issue 12's crates, measured by hand under load (README: Dependencies)"),
    ),
    (
        "199",
        "wall and ",
        Why::Unsourced("build time and binary size before and after issue 12's crates, measured by hand under load (README: Dependencies)"),
    ),
    (
        "207",
        "199–",
        Why::Unsourced("build time and binary size before and after issue 12's crates, measured by hand under load (README: Dependencies)"),
    ),
    (
        "33.4",
        "grew from ",
        Why::Unsourced("build time and binary size before and after issue 12's crates, measured by hand under load (README: Dependencies)"),
    ),
    (
        "37.8",
        "MB to ",
        Why::Unsourced("build time and binary size before and after issue 12's crates, measured by hand under load (README: Dependencies)"),
    ),
    (
        "36.2",
        "and from ",
        Why::Unsourced("build time and binary size before and after issue 12's crates, measured by hand under load (README: Dependencies)"),
    ),
    (
        "40.7",
        "MB to ",
        Why::Unsourced("build time and binary size before and after issue 12's crates, measured by hand under load (README: Dependencies)"),
    ),
    (
        "0.3",
        "MLP) takes about ",
        Why::Derived(
            "bench.csv: ns_per_step of the width-256 MLP, 1 thread, × 2000 epochs",
            |s| s.bench_row_mlp(256, 1).ns_per_step * 2000.0 * 1e-9,
        ),
    ),
    (
        "3 500",
        "runs about ",
        Why::Unsourced("the count of runs behind the figures and sweeps, from a run's log"),
    ),
    (
        "430",
        "robustness study ( ; ",
        Why::Unsourced("the robustness study's wall time, from a run's log"),
    ),
    (
        "1 273",
        "s of this run's ",
        Why::Unsourced("the full job's wall time, from a run's log"),
    ),
    (
        "13",
        "(a degree-",
        Why::Typed("the degree of the exponential's polynomial in src/numerics.rs"),
    ),
    (
        "36",
        "its JAX loop on this kind of machine at ",
        Why::Code("the performance issue's quote of its JAX loop (JAX_MLP64_SWEEP, k)", || {
            dpo_lab::studies::bench::JAX_MLP64_SWEEP / 1e3
        }),
    ),
    (
        "1.9",
        "(MLP width 64) and ",
        Why::Typed("the performance issue's quote of its JAX loop, tabular (M steps/s)"),
    ),
    (
        "6",
        "set its MLP target as ",
        Why::Code("the issue's MLP target over its JAX quote", target_over_quote),
    ),
    (
        "1e-15",
        "(log-probabilities within ",
        Why::Unsourced("a cold review's comparison of the JAX peer with dpo-lab from the same start (session 11), not recorded in a file"),
    ),
    (
        "10 000",
        "relative over ",
        Why::Unsourced("a cold review's comparison of the JAX peer with dpo-lab from the same start (session 11), not recorded in a file"),
    ),
    (
        "2.5",
        "on one device was slower by about ",
        Why::Unsourced("a cold review's timings of the untuned JAX peer (session 11), not recorded in a file"),
    ),
    (
        "6",
        "on the tabular policy, and ",
        Why::Code("the issue's MLP target over its JAX quote", target_over_quote),
    ),
];

/// The performance issue's MLP target as a multiple of its JAX quote (6).
fn target_over_quote() -> f64 {
    dpo_lab::studies::bench::TARGET_MLP64_SWEEP / dpo_lab::studies::bench::JAX_MLP64_SWEEP
}

/// The generated files' numbers.
struct Sources {
    /// Every number of REPORT.md, the CSVs under `plots/` and the configs.
    all: Vec<f64>,
    /// `plots/bench/bench.csv`'s rows.
    bench: Vec<BenchRow>,
}

impl Sources {
    fn load(root: &Path) -> Sources {
        let mut files = vec![root.join("plots/REPORT.md")];
        collect(&root.join("plots"), "csv", &mut files);
        collect(&root.join("experiments"), "toml", &mut files);
        let mut all = Vec::new();
        for f in &files {
            all.extend(numbers_in(&std::fs::read_to_string(f).unwrap()));
        }
        let bench = read_csv(&root.join("plots/bench/bench.csv")).expect("plots/bench/bench.csv");
        assert!(files.len() > 10 && all.len() > 1000, "sources not found");
        Sources { all, bench }
    }

    /// The values `col` takes in bench.csv's rows.
    fn bench_values(&self, col: impl Fn(&BenchRow) -> Option<f64>) -> Vec<f64> {
        self.bench
            .iter()
            .filter_map(col)
            .filter(|v| v.is_finite())
            .collect()
    }

    /// The values a number of `kind` is read against.
    fn pool(&self, kind: Kind) -> Vec<f64> {
        match kind {
            Kind::Plain => self.all.clone(),
            Kind::Rate => self.bench_values(|r| Some(r.steps_per_sec)),
            Kind::Seconds => self.bench_values(|r| Some(r.seconds)),
            Kind::Nanos => {
                let mut v = self.bench_values(|r| Some(r.ns_per_step));
                v.extend(self.bench_values(|r| r.stream_ns));
                v
            }
            Kind::Ratio => Vec::new(),
        }
    }

    /// The f64 paper-case bench row of the MLP of `width` on `threads`.
    fn bench_row_mlp(&self, width: usize, threads: usize) -> &BenchRow {
        self.bench
            .iter()
            .find(|r| {
                r.case == "paper"
                    && r.policy == "mlp"
                    && r.precision == "f64"
                    && r.width == width
                    && r.threads == threads
            })
            .expect("bench row")
    }
}

fn collect(dir: &Path, ext: &str, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// Every decimal numeral of a generated file (signed, with exponent).
fn numbers_in(text: &str) -> Vec<f64> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = if i > 0 && b[i - 1] == b'-' { i - 1 } else { i };
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
                j += 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if j + 1 < b.len() && (b[j] == b'e' || b[j] == b'E') {
                let k = j + 1 + usize::from(matches!(b[j + 1], b'-' | b'+'));
                if k < b.len() && b[k].is_ascii_digit() {
                    j = k;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                }
            }
            if let Ok(v) = text[start..j].parse::<f64>() {
                out.push(v);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// README.md without code blocks, rendered findings blocks, HTML comments,
/// inline code and link targets, whitespace collapsed.
fn prose(readme: &str) -> String {
    let mut text = String::new();
    let mut fenced = false;
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            text.push_str(line);
            text.push('\n');
        }
    }
    // Rendered findings blocks, then any other comment.
    while let Some(a) = text.find("<!-- findings:") {
        let name_end = text[a..].find(":begin -->").expect("a findings marker") + a;
        let name = text[a + "<!-- findings:".len()..name_end].to_string();
        let end_marker = format!("<!-- findings:{name}:end -->");
        let b = text[a..].find(&end_marker).expect("its end marker") + a + end_marker.len();
        text.replace_range(a..b, " ");
    }
    while let Some(a) = text.find("<!--") {
        let b = text[a..].find("-->").expect("a closed comment") + a + 3;
        text.replace_range(a..b, " ");
    }
    // Inline code, link targets.
    let mut out = String::new();
    let mut code = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '`' {
            code = !code;
            out.push(' ');
            continue;
        }
        if code {
            continue;
        }
        if c == ']' && chars.peek() == Some(&'(') {
            for d in chars.by_ref() {
                if d == ')' {
                    break;
                }
            }
            out.push(']');
            continue;
        }
        out.push(c);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A numeral of the prose.
#[derive(Debug)]
struct Numeral {
    text: String,
    value: f64,
    /// Half a unit of its last printed digit (relative 1e-9 for exponents).
    tol: f64,
    /// What it multiplies in its unit, each way its unit reads (none: `[1]`).
    units: Vec<f64>,
    kind: Kind,
    before: String,
    after: String,
}

const REFERENCE_WORDS: [&str; 9] = [
    "Figure",
    "Figures",
    "section",
    "sections",
    "scenario",
    "scenarios",
    "Scenarios",
    "Corollary",
    "Theorem",
];

/// What a unit measures, and so which column of the benchmark record it
/// is read against.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Any generated file.
    Plain,
    /// bench.csv's `steps_per_sec`.
    Rate,
    /// bench.csv's `seconds`.
    Seconds,
    /// bench.csv's `ns_per_step` and `stream_ns`.
    Nanos,
    /// A ratio (`3.0×`): no file holds it; it must be derived.
    Ratio,
}

/// Units after a numeral: (text, what it measures, multipliers to the
/// file's unit).
const UNITS: [(&str, Kind, &[f64]); 10] = [
    ("×", Kind::Ratio, &[1.0]),
    (" k", Kind::Rate, &[1e3]),
    (" M", Kind::Rate, &[1e6]),
    (" ms", Kind::Nanos, &[1e6]),
    (" µs", Kind::Nanos, &[1e3]),
    (" ns", Kind::Nanos, &[1.0]),
    (" s", Kind::Seconds, &[1.0]),
    (" minutes", Kind::Seconds, &[60.0]),
    (" %", Kind::Plain, &[1.0, 0.01]),
    ("%", Kind::Plain, &[1.0, 0.01]),
];

fn unit_of(after: &str) -> Option<(Kind, &'static [f64])> {
    UNITS.iter().find_map(|(u, k, m)| {
        let rest = after.strip_prefix(u)?;
        (!rest.starts_with(|c: char| c.is_alphanumeric())).then_some((*k, *m))
    })
}

/// The numerals of `text` that are quantities (see the module doc).
fn numerals(text: &str) -> Vec<Numeral> {
    let chars: Vec<char> = text.chars().collect();
    let s = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    let digit = |i: usize| i < chars.len() && chars[i].is_ascii_digit();
    let mut out = Vec::new();
    let mut i = 0;
    // The end of the last reference numeral, to follow chains ("1–3").
    let mut last_ref: Option<usize> = None;
    while i < chars.len() {
        if !digit(i) {
            i += 1;
            continue;
        }
        let start = i;
        while digit(i) {
            i += 1;
        }
        // Thousands groups: "3 872", "100 000".
        if i - start <= 3 {
            while i + 3 < chars.len() + 1
                && chars.get(i) == Some(&' ')
                && digit(i + 1)
                && digit(i + 2)
                && digit(i + 3)
                && !digit(i + 4)
                && chars.get(i + 4) != Some(&'.')
            {
                i += 4;
            }
        }
        let mut decimals = 0;
        if chars.get(i) == Some(&'.') && digit(i + 1) {
            i += 1;
            while digit(i) {
                i += 1;
                decimals += 1;
            }
        }
        let mut exponent = false;
        if chars.get(i) == Some(&'e') {
            let k = i + 1 + usize::from(matches!(chars.get(i + 1), Some('-' | '+')));
            if digit(k) {
                i = k;
                while digit(i) {
                    i += 1;
                }
                exponent = true;
            }
        }
        let end = i;
        let prev = start.checked_sub(1).map(|p| chars[p]);
        let prev2 = start.checked_sub(2).map(|p| chars[p]);
        let name_part = prev.is_some_and(|c| c.is_alphanumeric() || "_.^₀₁".contains(c))
            || (prev == Some('-') && prev2.is_some_and(|c| c.is_ascii_uppercase()))
            || chars
                .get(end)
                .is_some_and(|c| c.is_alphabetic() && *c != 'e');
        let before = s(start.saturating_sub(40), start);
        let after = s(end, (end + 20).min(chars.len()));
        let chained = last_ref.is_some_and(|r| {
            let between = s(r, start);
            between == "–" || between == " and " || between == ", " || between == "-"
        });
        let reference = REFERENCE_WORDS
            .iter()
            .any(|w| before.ends_with(&format!("{w} ")))
            || chained;
        if reference {
            last_ref = Some(end);
        }
        if name_part || reference {
            continue;
        }
        let t = s(start, end);
        let value: f64 = t.replace(' ', "").parse().unwrap();
        // A range "a–b UNIT" gives a its unit too.
        let unit = unit_of(&after).or_else(|| {
            let rest = after.strip_prefix('–')?;
            let n = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            unit_of(&rest[n..])
        });
        out.push(Numeral {
            tol: if exponent {
                1e-9 * value.abs()
            } else {
                0.5 * 10f64.powi(-decimals)
            },
            text: t,
            value,
            units: unit.map_or(vec![1.0], |u| u.1.to_vec()),
            kind: unit.map_or(Kind::Plain, |u| u.0),
            before,
            after,
        });
    }
    out
}

fn matches(values: &[f64], n: &Numeral) -> bool {
    n.units.iter().any(|&u| {
        let (want, tol) = (n.value * u, (n.tol * u) * (1.0 + 1e-9));
        values.iter().any(|v| (v - want).abs() <= tol)
    })
}

/// `v` read at the precision `n` prints.
fn agrees(n: &Numeral, v: f64) -> bool {
    (v - n.value).abs() <= n.tol * (1.0 + 1e-9)
}

#[test]
fn every_readme_number_has_a_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let sources = Sources::load(root);
    let nums = numerals(&prose(&readme));
    assert!(nums.len() > 100, "only {} numbers found", nums.len());
    let mut used = vec![0usize; ALLOWED.len()];
    let mut missing = Vec::new();
    for n in &nums {
        // An entry of ALLOWED decides first, so that a number explained
        // there is not passed by a coincidental match elsewhere.
        let allowed = ALLOWED
            .iter()
            .position(|(t, ctx, _)| *t == n.text && n.before.ends_with(ctx));
        match allowed {
            Some(k) => {
                used[k] += 1;
                match &ALLOWED[k].2 {
                    Why::Code(what, f) => {
                        let v = f();
                        assert!(agrees(n, v), "README's {} is not {what} = {v}", n.text);
                    }
                    Why::Derived(what, f) => {
                        let v = f(&sources);
                        assert!(agrees(n, v), "README's {} is not {what} = {v}", n.text);
                    }
                    Why::Typed(why) => eprintln!("typed: {} ({why})", n.text),
                    Why::Unsourced(why) => eprintln!("UNSOURCED: {} ({why})", n.text),
                }
            }
            None if matches(&sources.pool(n.kind), n) => {}
            None => missing.push(format!("…{}[{}]{}…", n.before, n.text, n.after)),
        }
    }
    assert!(
        missing.is_empty(),
        "README numbers with no source (give them one, or list them in ALLOWED with the reason):\n{}",
        missing.join("\n")
    );
    let stale: Vec<&str> = ALLOWED
        .iter()
        .zip(&used)
        .filter(|(_, &u)| u == 0)
        .map(|((t, ctx, _), _)| {
            let _ = ctx;
            *t
        })
        .collect();
    assert!(
        stale.is_empty(),
        "ALLOWED entries that match no README number: {stale:?}"
    );
}

/// The extraction rule on a sample: quantities kept (with units and thousands
/// groups), names and references left out, rendered blocks and code ignored.
#[test]
fn numerals_follow_the_rule() {
    let text = prose(
        "Figures 1–3 took 26 s on 2 cores; AVX-512 and f64, `lr = 0.5`, 3D.\n\
         ```sh\ncargo run 77\n```\n<!-- findings:x:begin -->9.99<!-- findings:x:end -->\n\
         scenarios 3 and 2 of 3 872 runs at 2.34 M steps/s, 4.48–4.68 M, 1e-5 [a](b/c9.md).",
    );
    let got: Vec<(String, Vec<f64>)> = numerals(&text)
        .into_iter()
        .map(|n| (n.text, n.units))
        .collect();
    let want: Vec<(String, Vec<f64>)> = vec![
        ("26".into(), vec![1.0]),
        ("2".into(), vec![1.0]),
        ("3 872".into(), vec![1.0]),
        ("2.34".into(), vec![1e6]),
        ("4.48".into(), vec![1e6]),
        ("4.68".into(), vec![1e6]),
        ("1e-5".into(), vec![1.0]),
    ];
    assert_eq!(got, want);
    let n = &numerals("2.34 M")[0];
    assert!(matches(&[2_344_066.0], n) && !matches(&[2_356_000.0], n));
}
