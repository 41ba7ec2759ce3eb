//! The robustness study rendered: its cells become facts (placeholder →
//! formatted text), the facts fill `templates/`: the report's section
//! "Robustness of the findings" with its tables, and the finding sentences
//! that README.md (between markers) and the report's other sections quote.
//!
//! Fact names: `{claim}.{init}.{optimiser}.{field}` for a cell of the MLP
//! grid, `{claim}.{optimiser}.{field}` for a cell of the policy-family grid,
//! and `{claim}.base.{field}` for the cell of `fig2.toml`'s own setting. The
//! fields: `verdict`, `evidence` (the full evidence: sample size, effect,
//! interval, test), `n`; for counts `k`, `kn`, `runs` and `others` (the runs
//! with and without the property, in words), `mean`, `min`, `max`; for
//! comparisons `a`, `b` (the two means), `effect`, `ci`, `p` and `cmp`
//! (`larger than`, `smaller than` or `within noise of`, by the verdict
//! rules); for correlations `rho`, `p` and `trend`.

use crate::analysis::evidence::{
    Comparison, Correlation, Count, Outcome, Test, Verdict, CONFIDENCE,
};
use crate::error::Result;
use crate::io::output::{csv_bytes, write_files};
use crate::present::template::{fill_markers, render_file, render_line, Facts};
use crate::studies::robustness::{
    Arm, Cell, Column, Evidence, Grid, Measure, Study, DEGRADED, DISPERSED, DROPPED,
};
use serde::Serialize;
use std::path::Path;

/// The finding sentences (`templates/findings/NAME.md`), which README.md
/// quotes between `<!-- findings:NAME:begin -->` markers.
pub const FINDINGS: [&str; 6] = [
    "scenarios",
    "sgd",
    "init",
    "families",
    "similarity",
    "onpolicy",
];

/// Decimals of a measure's numbers.
fn digits(m: Measure) -> usize {
    match m {
        Measure::Drop => 1,
        Measure::Degradation | Measure::PeakAvgChosen | Measure::FinalAvgOptimal => 2,
        Measure::Dispersion => 3,
    }
}

/// The measure's name in evidence text.
fn measure_name(m: Measure) -> &'static str {
    match m {
        Measure::Drop => "drop",
        Measure::Degradation => "degradation",
        Measure::Dispersion => "dispersion",
        Measure::PeakAvgChosen => "peak avg chosen",
        Measure::FinalAvgOptimal => "final optimal prob",
    }
}

/// `v` with `d` decimals, `-0.00` written as `0.00`.
fn num(v: f64, d: usize) -> String {
    let s = format!("{v:.d$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// The decimals that show `v` to at least one significant digit, at least
/// `d`: an effect that is significant but tiny must not print as zero.
fn decimals_for(v: f64, d: usize) -> usize {
    if v == 0.0 || !v.is_finite() || v.abs() >= 0.5 * 10f64.powi(-(d as i32)) {
        d
    } else {
        ((-v.abs().log10()).ceil() as usize).clamp(d, 12)
    }
}

/// `v` with its sign.
fn signed(v: f64, d: usize) -> String {
    let s = num(v, d);
    if s.starts_with('-') || s.chars().all(|c| c == '0' || c == '.') {
        s
    } else {
        format!("+{s}")
    }
}

/// A p-value as reported: `p < 0.001`, or three decimals.
fn p_text(p: f64) -> String {
    if p.is_nan() {
        "p undefined".into()
    } else if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

/// Degrees of freedom: whole numbers as such, others with one decimal.
fn df_text(df: f64) -> String {
    if df.fract() == 0.0 {
        format!("{df:.0}")
    } else {
        format!("{df:.1}")
    }
}

/// A t statistic (infinite when the spread is zero).
fn t_text(t: f64) -> String {
    if t.is_infinite() {
        format!("{}∞ (no spread)", if t > 0.0 { "+" } else { "-" })
    } else {
        format!("{t:.2}")
    }
}

/// `k` of `n` runs, in words.
pub fn runs_words(k: usize, n: usize) -> String {
    if k == n {
        format!("all {n} runs")
    } else if k == 0 {
        format!("none of the {n} runs")
    } else {
        format!("{k} of {n} runs")
    }
}

/// How the first mean stands to the second, in the words the verdict rules allow.
pub fn cmp_words(o: Outcome) -> &'static str {
    match o {
        Outcome::Above => "larger than",
        Outcome::Below => "smaller than",
        Outcome::WithinNoise => "within noise of",
    }
}

/// A rank correlation's direction, in the words the verdict rules allow.
pub fn trend_words(o: Outcome) -> &'static str {
    match o {
        Outcome::Above => "rises with",
        Outcome::Below => "falls with",
        Outcome::WithinNoise => "shows no detectable trend with",
    }
}

/// A verdict as a word and as the table's symbol.
pub fn verdict_words(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Holds => ("holds", "✓"),
        Verdict::Fails => ("fails", "✗"),
        Verdict::Mixed => ("mixed", "◐"),
        Verdict::WithinNoise => ("within noise", "≈"),
    }
}

fn confidence() -> String {
    format!("{:.0}%", CONFIDENCE * 100.0)
}

/// The evidence of a count, in full.
fn count_text(c: &Count, m: Measure) -> String {
    let d = digits(m);
    format!(
        "{}/{} runs; {} {}–{}, mean {}",
        c.k,
        c.n,
        measure_name(m),
        num(c.min, d),
        num(c.max, d),
        num(c.mean, d)
    )
}

/// The evidence of a comparison, in full.
fn comparison_text(c: &Comparison, m: Measure) -> String {
    let d = decimals_for(c.effect, digits(m));
    let (test, n) = match c.test {
        Test::PairedT => ("paired t", format!("n = {} pairs of runs", c.n_a)),
        Test::WelchT => ("Welch t", format!("n = {} and {} runs", c.n_a, c.n_b)),
        Test::OneSampleT => ("one-sample t", format!("n = {} runs", c.n_a)),
    };
    format!(
        "difference {} ({} CI [{}, {}]), {test}({}) = {}, {}, {n}",
        signed(c.effect, d),
        confidence(),
        num(c.lo, d),
        num(c.hi, d),
        df_text(c.df),
        t_text(c.t),
        p_text(c.p)
    )
}

/// Spearman's ρ, or why it is undefined.
fn rho_text(rho: f64) -> String {
    if rho.is_nan() {
        "undefined (a constant variable)".into()
    } else {
        num(rho, 2)
    }
}

/// The evidence of a correlation, in full.
fn correlation_text(c: &Correlation) -> String {
    if c.rho.is_nan() {
        return format!(
            "Spearman ρ undefined (a constant variable), n = {} runs",
            c.n
        );
    }
    format!(
        "Spearman ρ = {}, t({}) = {}, {}, n = {} runs",
        num(c.rho, 2),
        c.n.saturating_sub(2),
        t_text(c.t),
        p_text(c.p),
        c.n
    )
}

/// The table cell of a verdict: its symbol and the short form of the evidence.
fn short(cell: &Cell) -> String {
    let sym = verdict_words(cell.verdict).1;
    match &cell.evidence {
        Evidence::Count(c) => format!("{sym} {}/{}", c.k, c.n),
        Evidence::Comparison(c) => format!(
            "{sym} {}",
            signed(c.effect, decimals_for(c.effect, digits(cell.measure)))
        ),
        Evidence::Correlation(c) => format!("{sym} ρ {}", rho_text(c.rho)),
    }
}

/// The fact-name prefixes of a cell: its own and, for `fig2.toml`'s setting, `base`.
fn prefixes(g: &Grid, cell: &Cell) -> Vec<String> {
    let (own, is_base) = match cell.column {
        Column::Mlp { init, optim } => (
            format!("{}.{}.{}", cell.claim, g.inits[init].id, g.optims[optim].id),
            init == g.base_init && optim == g.base_optim,
        ),
        Column::Optim { optim } => (
            format!("{}.{}", cell.claim, g.optims[optim].id),
            optim == g.base_optim,
        ),
    };
    let mut p = vec![own];
    if is_base {
        p.push(format!("{}.base", cell.claim));
    }
    p
}

/// A setting's name in tables.
fn column_label(g: &Grid, col: Column) -> String {
    match col {
        Column::Mlp { init, optim } => format!(
            "{} · {}{}",
            g.inits[init].label,
            g.optims[optim].label,
            if init == g.base_init && optim == g.base_optim {
                " ★"
            } else {
                ""
            }
        ),
        Column::Optim { optim } => format!(
            "{}{}",
            g.optims[optim].label,
            if optim == g.base_optim { " ★" } else { "" }
        ),
    }
}

/// An optimiser's settings in words, e.g. "lr 0.1, momentum 0.9".
fn optim_settings(g: &Grid, i: usize) -> String {
    let c = &g.optims[i].config;
    let mut s = format!("lr {}", c.lr);
    if let Some(m) = c.momentum.filter(|m| *m > 0.0) {
        s.push_str(&format!(", momentum {m}"));
    }
    s
}

/// "a, b and c".
fn list(items: &[String]) -> String {
    match items {
        [] => "none".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// An inclusive seed range, e.g. "16–31".
fn seed_range(first: u64, last: u64) -> String {
    format!("{first}–{last}")
}

/// The facts of the study: its setting, every cell, the per-claim tallies
/// over the MLP grid and the similarity facts (not yet the finding sentences).
pub fn facts(st: &Study) -> Facts {
    let g = &st.grid;
    let mut f = Facts::new();
    let mut put = |k: String, v: String| {
        f.insert(k, v);
    };
    put("seeds".into(), seed_range(g.seeds.first, g.seeds.last));
    put("n_seeds".into(), g.seeds.seeds().len().to_string());
    put(
        "calibration_seeds".into(),
        seed_range(g.calibration_seeds.first, g.calibration_seeds.last),
    );
    put("base_file".into(), g.base_name.clone());
    put("confidence".into(), confidence());
    put("drop_thr".into(), format!("{DROPPED}"));
    put("deg_thr".into(), format!("{DEGRADED}"));
    put("disp_thr".into(), format!("{DISPERSED}"));
    put("n_runs".into(), st.runs.len().to_string());
    put("n_diverged".into(), st.diverged().to_string());
    put("epochs".into(), g.base.epochs.to_string());
    put(
        "n_mlp_settings".into(),
        (g.inits.len() * g.optims.len()).to_string(),
    );
    put(
        "inits".into(),
        list(
            &g.inits
                .iter()
                .map(|i| format!("{} (×{:.3})", i.label, i.scale))
                .collect::<Vec<_>>(),
        ),
    );
    put(
        "optims".into(),
        list(
            &(0..g.optims.len())
                .map(|i| format!("{} ({})", g.optims[i].label, optim_settings(g, i)))
                .collect::<Vec<_>>(),
        ),
    );
    put(
        "everies".into(),
        list(
            &g.on_policy_every
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>(),
        ),
    );
    put(
        "onpolicy.temperature".into(),
        format!("{}", g.on_policy_temperature),
    );
    put("sim.dim".into(), g.similarity.dim.to_string());
    for i in &g.inits {
        put(format!("init.{}.label", i.id), i.label.clone());
        put(format!("init.{}.scale", i.id), format!("{:.3}", i.scale));
    }
    for (i, o) in g.optims.iter().enumerate() {
        put(format!("opt.{}.label", o.id), o.label.clone());
        put(format!("opt.{}.lr", o.id), format!("{}", o.config.lr));
        put(format!("opt.{}.settings", o.id), optim_settings(g, i));
    }
    put(
        "setting.base".into(),
        format!(
            "{} initialisation, {} ({})",
            g.inits[g.base_init].label,
            g.optims[g.base_optim].label,
            optim_settings(g, g.base_optim)
        ),
    );

    for cell in &st.cells {
        let mut fields: Vec<(&str, String)> = vec![
            ("verdict", verdict_words(cell.verdict).0.to_string()),
            ("short", short(cell)),
        ];
        let d = digits(cell.measure);
        match &cell.evidence {
            Evidence::Count(c) => {
                fields.extend([
                    ("evidence", count_text(c, cell.measure)),
                    ("n", c.n.to_string()),
                    ("k", c.k.to_string()),
                    ("kn", format!("{}/{}", c.k, c.n)),
                    ("runs", runs_words(c.k, c.n)),
                    ("others", runs_words(c.n - c.k, c.n)),
                    ("mean", num(c.mean, d)),
                    ("min", num(c.min, d)),
                    ("max", num(c.max, d)),
                ]);
            }
            Evidence::Comparison(c) => {
                let d = decimals_for(c.effect, d);
                fields.extend([
                    ("evidence", comparison_text(c, cell.measure)),
                    ("n", c.n_a.to_string()),
                    ("a", num(c.mean_a, d)),
                    ("b", num(c.mean_b, d)),
                    ("effect", signed(c.effect, d)),
                    ("ci", format!("[{}, {}]", num(c.lo, d), num(c.hi, d))),
                    ("p", p_text(c.p)),
                    ("cmp", cmp_words(c.outcome()).to_string()),
                ]);
            }
            Evidence::Correlation(c) => {
                fields.extend([
                    ("evidence", correlation_text(c)),
                    ("n", c.n.to_string()),
                    ("rho", rho_text(c.rho)),
                    ("p", p_text(c.p)),
                    ("trend", trend_words(c.outcome()).to_string()),
                ]);
            }
        }
        for pre in prefixes(g, cell) {
            for (k, v) in &fields {
                put(format!("{pre}.{k}"), v.clone());
            }
        }
    }

    // Per claim of the MLP grid: in how many settings each verdict came out.
    let mut claims: Vec<&str> = Vec::new();
    for c in &st.cells {
        if matches!(c.column, Column::Mlp { .. }) && !claims.contains(&c.claim.as_str()) {
            claims.push(&c.claim);
        }
    }
    for claim in claims {
        let verdicts: Vec<Verdict> = st
            .cells
            .iter()
            .filter(|c| c.claim == claim && matches!(c.column, Column::Mlp { .. }))
            .map(|c| c.verdict)
            .collect();
        let parts: Vec<String> = [
            Verdict::Holds,
            Verdict::Fails,
            Verdict::Mixed,
            Verdict::WithinNoise,
        ]
        .iter()
        .filter_map(|v| {
            let k = verdicts.iter().filter(|x| *x == v).count();
            (k > 0).then(|| format!("{} in {k}", verdict_words(*v).0))
        })
        .collect();
        put(
            format!("{claim}.tally"),
            format!("{} of the {} settings", list(&parts), verdicts.len()),
        );
    }

    // Which families' pooled means exceed the thresholds, per optimiser
    // (the MLP at fig2.toml's initialisation included).
    for (oi, o) in g.optims.iter().enumerate() {
        let mlp = Column::Mlp {
            init: g.base_init,
            optim: oi,
        };
        for (measure, thr, claim_mlp, suffix) in [
            ("degrading", DEGRADED, "degradation", "no-degradation"),
            ("dispersing", DISPERSED, "dispersion", "no-dispersion"),
        ] {
            let mean_of = |claim: &str, col: Column| match st.cell(claim, col).map(|c| c.evidence) {
                Some(Evidence::Count(c)) => c.mean,
                _ => f64::NAN,
            };
            let mut over: Vec<String> = g
                .families
                .iter()
                .filter(|fam| {
                    mean_of(&format!("{}-{suffix}", fam.id), Column::Optim { optim: oi }) > thr
                })
                .map(|fam| fam.label.clone())
                .collect();
            if mean_of(claim_mlp, mlp) > thr {
                over.push("the MLP".into());
            }
            let v = if over.is_empty() {
                "no family".to_string()
            } else {
                list(&over)
            };
            put(format!("families.{measure}.{}", o.id), v.clone());
            if oi == g.base_optim {
                put(format!("families.{measure}.base"), v);
            }
        }
    }

    for s in &st.similarity {
        let o = &g.optims[s.optim];
        let top = s.levels.last().expect("at least 3 cosines (checked)");
        let mut sim: Vec<(&str, String)> = vec![
            (
                "onset_clause",
                match s.onset {
                    Some(c) => format!("only from cosine {c} on"),
                    None => "at no cosine of the grid".into(),
                },
            ),
            ("below_onset", runs_words(s.below_onset.k, s.below_onset.n)),
            ("top", format!("{}", top.cosine)),
            ("top_mean", num(top.vs_threshold.mean_a, 2)),
            ("top_sd", num(top.sd, 2)),
            ("top_degraded", runs_words(top.degraded.k, top.degraded.n)),
        ];
        // Without an onset, the evidence is that of the largest cosine.
        let (l, at) = match s.levels.iter().find(|l| Some(l.cosine) == s.onset) {
            Some(l) => (l, String::new()),
            None => (top, format!("at cosine {}, ", top.cosine)),
        };
        sim.push((
            "onset_evidence",
            format!(
                "{at}mean {} against {DEGRADED}: {}",
                num(l.vs_threshold.mean_a, 2),
                comparison_text(&l.vs_threshold, Measure::Degradation)
            ),
        ));
        for (k, v) in sim {
            put(format!("sim.{}.{k}", o.id), v.clone());
            if s.optim == g.base_optim {
                put(format!("sim.base.{k}"), v);
            }
        }
    }
    f
}

/// The statement of a cell's claim (`templates/claims.md`), rendered.
pub fn statement(cell: &Cell, facts: &Facts) -> Result<String> {
    let mut f = facts.clone();
    for (k, v) in &cell.params {
        f.insert(k.to_string(), v.clone());
    }
    // A claim about resampling says how often in words.
    if let Some(every) = f.get("every").cloned() {
        let key = if every == "1" {
            "every-epoch"
        } else {
            "every-epochs"
        };
        let words = render_line("claims", key, &f)?;
        f.insert("every_words".into(), words);
    }
    render_line("claims", cell.template, &f)
}

/// A Markdown table: rows are the claims of `cells` in order, columns
/// `columns`.
fn table(st: &Study, facts: &Facts, columns: &[Column]) -> Result<String> {
    let g = &st.grid;
    let mut out = String::from("| claim |");
    for c in columns {
        out.push_str(&format!(" {} |", column_label(g, *c)));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(columns.len()));
    out.push('\n');
    let mut seen: Vec<&str> = Vec::new();
    for cell in st.cells.iter().filter(|c| columns.contains(&c.column)) {
        if seen.contains(&cell.claim.as_str()) {
            continue;
        }
        seen.push(&cell.claim);
        out.push_str(&format!("| {} |", statement(cell, facts)?));
        for col in columns {
            let s = st.cell(&cell.claim, *col).map_or("—".into(), short);
            out.push_str(&format!(" {s} |"));
        }
        out.push('\n');
    }
    Ok(out)
}

/// The long table: every cell's verdict and full evidence.
fn evidence_table(st: &Study, facts: &Facts) -> Result<String> {
    let mut out = String::from("| claim | setting | verdict | evidence |\n|---|---|---|---|\n");
    for cell in &st.cells {
        let ev = match &cell.evidence {
            Evidence::Count(c) => count_text(c, cell.measure),
            Evidence::Comparison(c) => comparison_text(c, cell.measure),
            Evidence::Correlation(c) => correlation_text(c),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {ev} |\n",
            statement(cell, facts)?,
            column_label(&st.grid, cell.column),
            verdict_words(cell.verdict).0
        ));
    }
    Ok(out)
}

/// Adds the finding sentences (`templates/findings/*.md`) to `facts` as
/// `finding.NAME`.
pub fn add_findings(facts: &mut Facts) -> Result<()> {
    for name in FINDINGS {
        let text = render_file(&format!("findings/{name}"), facts)?;
        facts.insert(format!("finding.{name}"), text);
    }
    Ok(())
}

/// The report's section "Robustness of the findings"; `facts` must hold
/// the finding sentences ([`add_findings`]).
pub fn section(st: &Study, facts: &Facts) -> Result<String> {
    let g = &st.grid;
    let mlp: Vec<Column> = (0..g.inits.len())
        .flat_map(|init| (0..g.optims.len()).map(move |optim| Column::Mlp { init, optim }))
        .collect();
    let opt: Vec<Column> = (0..g.optims.len())
        .map(|optim| Column::Optim { optim })
        .collect();
    let mut f = facts.clone();
    f.insert("table_mlp".into(), table(st, facts, &mlp)?);
    f.insert("table_families".into(), table(st, facts, &opt)?);
    f.insert("table_evidence".into(), evidence_table(st, facts)?);
    render_file("report-robustness", &f)
}

/// One row of `robustness/runs.csv`.
#[derive(Serialize)]
struct RunRow {
    arm: &'static str,
    policy: String,
    init: String,
    optimizer: String,
    on_policy_every: u32,
    scenario: String,
    pair_cosine: String,
    seed: u64,
    drop: f64,
    degradation: f64,
    dispersion: f64,
    peak_avg_chosen: f64,
    final_avg_optimal: f64,
    diverged: bool,
}

/// One row of `robustness/cells.csv`.
#[derive(Serialize)]
struct CellRow {
    claim: String,
    setting: String,
    verdict: &'static str,
    evidence: String,
}

/// `runs.csv` and `cells.csv` of the study.
fn csvs(st: &Study, facts: &Facts) -> Result<(Vec<u8>, Vec<u8>)> {
    let g = &st.grid;
    let scen =
        |s: Option<usize>| s.map_or(String::new(), |i| crate::maths::data::SCENARIOS[i].into());
    let runs: Vec<RunRow> = st
        .runs
        .iter()
        .map(|(k, s)| {
            let (arm, policy, init, optim, every, cos) = match k.arm {
                Arm::Mlp { init, optim, every } => (
                    "mlp",
                    "mlp".to_string(),
                    g.inits[init].id.clone(),
                    optim,
                    every,
                    String::new(),
                ),
                Arm::Family { family, optim } => (
                    "family",
                    g.families[family].id.clone(),
                    String::new(),
                    optim,
                    0,
                    String::new(),
                ),
                Arm::Similarity {
                    frozen,
                    cosine,
                    optim,
                } => (
                    "similarity",
                    if frozen {
                        "loglinear-frozen"
                    } else {
                        "loglinear"
                    }
                    .to_string(),
                    String::new(),
                    optim,
                    0,
                    format!("{}", g.similarity.cosines[cosine]),
                ),
            };
            RunRow {
                arm,
                policy,
                init,
                optimizer: g.optims[optim].id.clone(),
                on_policy_every: every,
                scenario: scen(k.scenario),
                pair_cosine: cos,
                seed: k.seed,
                drop: s.drop,
                degradation: s.degradation,
                dispersion: s.dispersion,
                peak_avg_chosen: s.peak_avg_chosen,
                final_avg_optimal: s.final_avg_optimal,
                diverged: s.diverged,
            }
        })
        .collect();
    let cells = st
        .cells
        .iter()
        .map(|c| {
            Ok(CellRow {
                claim: statement(c, facts)?,
                setting: column_label(g, c.column),
                verdict: verdict_words(c.verdict).0,
                evidence: facts
                    .get(&format!("{}.evidence", prefixes(g, c)[0]))
                    .cloned()
                    .unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((csv_bytes(&runs), csv_bytes(&cells)))
}

/// What [`render_study`] returns: every fact (finding sentences included) and the
/// report section.
pub struct Rendered {
    /// Every fact, the finding sentences `finding.NAME` included.
    pub facts: Facts,
    /// The report's section "Robustness of the findings".
    pub section: String,
}

/// Writes the study's `out_dir/robustness/{runs,cells}.csv` and renders its
/// facts, findings and report section (the study itself is run by the
/// caller: `Study::run`).
pub fn render_study(st: &Study, out_dir: &Path) -> Result<Rendered> {
    let mut facts = facts(st);
    add_findings(&mut facts)?;
    let (runs, cells) = csvs(st, &facts)?;
    write_files(
        &out_dir.join("robustness"),
        &[("runs.csv", runs), ("cells.csv", cells)],
    )?;
    let section = section(st, &facts)?;
    Ok(Rendered { facts, section })
}

/// `readme` with every `<!-- findings:NAME:begin/end -->` block replaced by
/// the finding sentence `finding.NAME` of `facts`.
pub fn fill_readme(readme: &str, facts: &Facts) -> Result<String> {
    fill_markers(readme, |name| {
        facts.get(&format!("finding.{name}")).cloned().ok_or_else(|| {
            crate::error::Error::config(
                "README.md",
                format!("has the marker `findings:{name}` but there is no finding `{name}` (templates/findings/)"),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::template::template;

    #[test]
    fn numbers_and_words_follow_the_evidence() {
        assert_eq!(num(-0.0001, 2), "0.00");
        assert_eq!(signed(0.0123, 3), "+0.012");
        assert_eq!(signed(-0.0123, 3), "-0.012");
        assert_eq!(signed(0.0, 2), "0.00");
        // A tiny effect keeps one significant digit.
        assert_eq!(signed(-2.3e-5, decimals_for(-2.3e-5, 3)), "-0.00002");
        assert_eq!(decimals_for(0.02, 3), 3);
        assert_eq!(p_text(0.0004), "p < 0.001");
        assert_eq!(p_text(0.0123), "p = 0.012");
        assert_eq!(runs_words(64, 64), "all 64 runs");
        assert_eq!(runs_words(0, 64), "none of the 64 runs");
        assert_eq!(runs_words(3, 64), "3 of 64 runs");
        assert_eq!(cmp_words(Outcome::WithinNoise), "within noise of");
        let c = Comparison::paired(&[0.02, 0.03, 0.025], &[0.03, 0.035, 0.04]);
        let t = comparison_text(&c, Measure::Dispersion);
        assert!(t.starts_with("difference -0.010 (95% CI ["), "{t}");
        assert!(
            t.contains("paired t(2) = ") && t.ends_with("n = 3 pairs of runs"),
            "{t}"
        );
    }

    /// A study whose scores are a fixed function of the run, so that it
    /// renders without training.
    fn synthetic_study() -> Study {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let mut g = Grid::load(&dir.join("robustness.toml")).unwrap();
        g.seeds.last = g.seeds.first + 3;
        let runs = g
            .jobs()
            .unwrap()
            .into_iter()
            .map(|(k, _)| {
                let s = (k.seed % 7) as f64;
                let sc = k.scenario.unwrap_or(0) as f64;
                let cos = match k.arm {
                    Arm::Similarity { cosine, .. } => cosine as f64,
                    _ => 0.0,
                };
                let scores = crate::studies::robustness::Scores {
                    drop: 2.0 + s,
                    degradation: 0.01 * s + 0.02 * sc + 0.03 * cos,
                    dispersion: 0.001 * s + 0.002 * sc,
                    peak_avg_chosen: 0.5 + 0.01 * s - 0.02 * sc,
                    final_avg_optimal: 0.3 + 0.01 * s,
                    diverged: false,
                };
                (k, scores)
            })
            .collect();
        Study::from_runs(g, runs).unwrap()
    }

    #[test]
    fn every_template_renders_from_a_study_and_fills_the_readme() {
        let st = synthetic_study();
        let mut f = facts(&st);
        add_findings(&mut f).unwrap();
        let sec = section(&st, &f).unwrap();
        assert!(sec.starts_with("## Robustness of the findings"), "{sec}");
        // The resampling interval in words, from the claims' phrases.
        assert!(sec.contains("| pairs resampled every epoch: "), "{sec}");
        assert!(sec.contains("| pairs resampled every 10 epochs: "), "{sec}");
        assert!(
            sec.contains("| He · Adam ★ |") || sec.contains("★"),
            "{sec}"
        );
        // README.md's markers all name a finding, and filling is idempotent.
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        // `reproduce` adds the calibration's summary (src/present/calibration.rs).
        let mut f = f.clone();
        f.insert("finding.fidelity".into(), "calibration summary".into());
        // and the benchmark's block (src/present/bench.rs).
        f.insert("finding.performance".into(), "benchmark numbers".into());
        let once = fill_readme(&readme, &f).unwrap();
        assert_eq!(fill_readme(&once, &f).unwrap(), once);
        for name in FINDINGS {
            assert!(
                once.contains(&format!("<!-- findings:{name}:begin -->")),
                "README.md lacks the marker of `{name}`"
            );
        }
        // A finding that lost one of its facts is an error, not a gap.
        f.remove("s3-dispersion.base.cmp");
        assert!(add_findings(&mut f).is_err());
    }

    #[test]
    fn every_claim_template_has_a_statement() {
        let text = template("claims").unwrap();
        for id in [
            "drop",
            "degradation",
            "dispersion",
            "scenario-dispersion",
            "scenario-peak",
            "onpolicy-degradation",
            "onpolicy-optimal",
            "family-drop",
            "family-no-degradation",
            "family-no-dispersion",
            "similarity-frozen",
            "similarity-below-onset",
            "similarity-trained",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{id}: "))),
                "claims.md lacks `{id}`"
            );
        }
    }
}
