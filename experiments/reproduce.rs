//! `reproduce`: runs the paper's Figure 2 and Figure 3 experiments (and the
//! tabular twin of Figure 2) in parallel, writes each run's CSVs, and draws
//! Figures 1, 2, 2-compare and 3; then (unless `--paper-only`) runs Figure 3
//! with IPO and SLiC, the five sweeps of `experiments/sweeps/`, draws their
//! figures and writes `REPORT.md`. The studies ([`dpo_lab::studies`]) run
//! the experiments and return their facts; the figures and the report's
//! text are drawn from those by [`dpo_lab::present`]; this binary only runs
//! and routes, and names the paths (`experiments/`, the output directories).

#![forbid(unsafe_code)]
// The clap doc comments below are the `--help` text, printed verbatim (README quotes it):
// their `<name>`/`<crate>` placeholders are help syntax, not HTML.
#![allow(rustdoc::invalid_html_tags)]

use clap::Parser;
use dpo_lab::analysis::runs::RunsTable;
use dpo_lab::engine::train::{train, Keep, RunResult};
use dpo_lab::error::{Error, Result};
use dpo_lab::io::config::{Config, LossConfig};
use dpo_lab::io::output::{write_atomic, write_run};
use dpo_lab::io::sweep::run_for_report;
use dpo_lab::maths::data::Dataset;
use dpo_lab::present::plots::{self, Band, PaperRun};
use dpo_lab::present::report::{report_markdown, ReportInputs};
use dpo_lab::studies::paper_bands::{curve_bands, readoff_points};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// reproduce: run the paper's toy experiments, the sweeps, and draw every figure
///
/// Runs experiments/{fig2,fig2-tabular,fig3-scenario1..4}.toml, writes each run's
/// CSVs to OUT/<name>/ and Figures 1, 2, 2-compare and 3, as PNG and SVG, to
/// PLOTS. Then runs Figure 3 with IPO and SLiC (fig3-ipo, fig3-slic) and the
/// sweeps of experiments/sweeps/ (phase, beta, flex-dpo, sft-dpo, losses) into
/// OUT/sweeps/<name>/, draws phase, beta and remedies, runs the robustness study
/// (experiments/robustness.toml) into OUT/robustness/, and writes PLOTS/REPORT.md
/// and, when PLOTS is the default, the finding blocks of README.md.
#[derive(Parser)]
#[command(
    name = "reproduce",
    verbatim_doc_comment,
    after_help = "Exit code 2 on any failure."
)]
struct Cli {
    /// Where the figures and REPORT.md go [default: <crate>/plots]
    #[arg(long, value_name = "DIR", value_parser = dpo_lab::io::output::out_dir)]
    plots: Option<PathBuf>,
    /// Where the runs' CSVs go [default: <crate>/out/reproduce]
    #[arg(long, value_name = "DIR", value_parser = dpo_lab::io::output::out_dir)]
    out: Option<PathBuf>,
    /// Stop after Figures 1-3
    #[arg(long)]
    paper_only: bool,
    /// Run only the loss scoreboard: PLOTS/scoreboard.{png,svg,md}
    ///
    /// Runs experiments/scoreboard.toml into OUT/scoreboard/ and writes its
    /// figure and its REPORT.md section (as PLOTS/scoreboard.md); nothing else.
    #[arg(long, verbatim_doc_comment, conflicts_with = "paper_only")]
    scoreboard_only: bool,
    /// Only rewrite README.md's performance block from plots/bench/bench.csv
    ///
    /// The block (between the `findings:performance` markers) is rendered from
    /// the committed benchmark record; no run, no figure. `dpo-lab bench --out
    /// plots/bench` makes a new record on this machine.
    #[arg(long, verbatim_doc_comment, conflicts_with_all = ["paper_only", "scoreboard_only"])]
    performance_only: bool,
    /// Keep OUT/sweeps/<name>/ and run only the runs its journal lacks
    ///
    /// By default each sweep directory is deleted first, so the results always
    /// come from the current code.
    #[arg(long, verbatim_doc_comment)]
    resume: bool,
}

/// The sweeps of `experiments/sweeps/`, in the order they run.
const SWEEPS: [&str; 5] = ["phase", "beta", "flex-dpo", "sft-dpo", "losses"];

/// Run names, which are also the config file stems under `experiments/`.
const RUNS: [&str; 6] = [
    "fig2",
    "fig2-tabular",
    "fig3-scenario1",
    "fig3-scenario2",
    "fig3-scenario3",
    "fig3-scenario4",
];

struct Done {
    config: Config,
    data: Dataset,
    result: RunResult,
}

fn run_one(root: &Path, out: &Path, name: &str) -> Result<Done> {
    let path = root.join("experiments").join(format!("{name}.toml"));
    let config = Config::load(&path)?.resolved()?;
    let spec = config.build()?;
    let result = train(&spec, Keep::ALL);
    write_run(&out.join(name), &config.to_toml_string(), &result)?;
    let s = &result.summary;
    eprintln!(
        "run {name}: drop {:.2} orders, degradation {:.3}, dispersion {:.4}, peak avg chosen {:.3} at epoch {}{}",
        s.drop,
        s.degradation,
        s.dispersion,
        s.peak_avg_chosen,
        s.peak_epoch,
        match s.diverged_epoch {
            Some(e) => format!(", DIVERGED at epoch {e}"),
            None => String::new(),
        }
    );
    Ok(Done {
        config,
        data: spec.data,
        result,
    })
}

/// Trains `config` (already resolved) keeping everything, for a figure.
fn train_config(config: Config) -> Result<Done> {
    let spec = config.build()?;
    let result = train(&spec, Keep::ALL);
    Ok(Done {
        config,
        data: spec.data,
        result,
    })
}

/// The Figure 3 runs with the loss replaced by `loss` (`name`, parameters).
fn fig3_with_loss(root: &Path, name: &str, params: &[(&str, f64)]) -> Result<Vec<Done>> {
    RUNS[2..]
        .par_iter()
        .map(|run| {
            let path = root.join("experiments").join(format!("{run}.toml"));
            let mut config = Config::load(&path)?;
            config.loss = LossConfig {
                name: name.into(),
                reduction: Some("sum".into()),
                params: params
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect::<BTreeMap<_, _>>(),
            };
            train_config(config.resolved()?)
        })
        .collect()
}

/// `describe_run` without the data part: the setting shared by runs that
/// differ only in their scenario.
fn setting(config: &Config) -> String {
    plots::describe_run(config)
        .split(" · ")
        .filter(|p| !p.starts_with("scenario ") && *p != "custom data")
        .collect::<Vec<_>>()
        .join(" · ")
}

fn paper_runs(done: &[Done]) -> Vec<PaperRun<'_>> {
    done.iter()
        .map(|d| PaperRun {
            config: &d.config,
            data: &d.data,
            result: &d.result,
        })
        .collect()
}

fn print_written(stem: &Path) {
    let [png, svg] = plots::files(stem);
    println!("wrote {} and {}", png.display(), svg.display());
}

/// The calibration's held-out seeds (`report_seeds` of
/// `experiments/calibrate.toml`): the paper figures show seeds the configs
/// were not chosen on.
fn held_out_seeds(root: &Path) -> Result<Vec<u64>> {
    let plan = dpo_lab::studies::calibrate::Plan::load(&root.join("experiments/calibrate.toml"))?;
    Ok((plan.report_seeds[0]..plan.report_seeds[1]).collect())
}

/// The fidelity studies: the calibration against the paper's Figure 2
/// read-offs (figure, CSV and section) and the test of Figure 3's scenario
/// effect (section). Returns their REPORT.md sections and README.md summary.
fn fidelity_sections(root: &Path, out_dir: &Path, plots_dir: &Path) -> Result<(String, String)> {
    use dpo_lab::studies::{calibrate, scenarios};
    let t = Instant::now();
    let exp = root.join("experiments");
    let plan = calibrate::Plan::load(&exp.join("calibrate.toml"))?;
    let facts = calibrate::calibrate(&plan, &|m| eprintln!("{m}"))?;
    dpo_lab::io::output::write_files(
        &out_dir.join("calibrate"),
        &[(
            "calibration.csv",
            dpo_lab::io::output::csv_bytes(&facts.rows()),
        )],
    )?;
    let stem = plots_dir.join("calibration");
    plots::calibration::calibration_figure(&stem, &facts)?;
    print_written(&stem);
    // The paper configs must hold the winner; say so in the report if not.
    let winner = facts.tried[0].setting.config()?;
    let mut stale = Vec::new();
    // Figure 3's configs differ from it in their scenario only.
    for name in RUNS.iter().filter(|n| **n != "fig2-tabular") {
        let cfg = Config::load(&exp.join(format!("{name}.toml")))?.resolved()?;
        let mut diff = calibrate::differing_fields(&cfg, &winner);
        diff.retain(|f| !(name.starts_with("fig3") && f == "data.scenario"));
        if !diff.is_empty() {
            stale.push(format!("`{name}.toml` differs in {}", diff.join(", ")));
        }
    }
    let check = if stale.is_empty() {
        String::new()
    } else {
        eprintln!(
            "reproduce: WARNING: the paper configs are not the calibration's winner: {}",
            stale.join("; ")
        );
        format!(" (**but they are not**: {})", stale.join("; "))
    };
    let mut text = dpo_lab::present::calibration::calibration_markdown(&facts, &check)?;
    eprintln!(
        "calibration: {} runs in {:.1} s",
        facts.runs,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let plan = scenarios::Plan::load(&exp.join("scenario-effect.toml"))?;
    let sfacts = scenarios::scenario_effect(&plan)?;
    text.push_str("\n\n");
    text.push_str(&dpo_lab::present::scenarios::scenario_markdown(&sfacts)?);
    eprintln!("scenario effect: {:.1} s", t.elapsed().as_secs_f64());
    let readme = dpo_lab::present::calibration::readme_summary(&facts, &sfacts)?;
    Ok((text, readme))
}

/// Everything after the paper figures: IPO/SLiC Figure 3, the sweeps, their
/// figures and the report.
fn sweeps_and_report(
    root: &Path,
    out_dir: &Path,
    plots_dir: &Path,
    resume: bool,
    done: &[Done],
) -> Result<()> {
    let t = Instant::now();
    let ipo = fig3_with_loss(root, "ipo", &[("tau", 0.1)])?;
    let slic = fig3_with_loss(root, "slic", &[("delta", 5.0), ("eta", 0.1)])?;
    for (name, title, runs) in [("ipo", "IPO", &ipo), ("slic", "SLiC", &slic)] {
        let paper = paper_runs(runs);
        let configs: Vec<Config> = runs.iter().map(|d| d.config.clone()).collect();
        let bands = curve_bands(&configs, &held_out_seeds(root)?)?;
        let stem = plots_dir.join(format!("fig3-{name}"));
        let policy = setting(&runs[0].config);
        let policy = policy.replace(&format!(" · seed {}", runs[0].config.seed), "");
        plots::fig3(
            &stem,
            &paper,
            &bands,
            &format!("Figure 3 with {title} · {policy}"),
        )?;
        print_written(&stem);
    }
    eprintln!(
        "figure 3 with IPO and SLiC: {} runs and figures in {:.1} s",
        ipo.len() + slic.len(),
        t.elapsed().as_secs_f64()
    );

    let mut tables = BTreeMap::new();
    for name in SWEEPS {
        let dir = out_dir.join("sweeps").join(name);
        let file = root.join("experiments/sweeps").join(format!("{name}.toml"));
        run_for_report(&file, &dir, resume)?;
        let table = RunsTable::load(&dir.join("runs.csv"))?;
        tables.insert(name, table);
    }

    // The robustness study: its facts render the finding sentences that the
    // report's sections and README.md quote.
    let t = Instant::now();
    let grid = dpo_lab::studies::robustness::Grid::load(&root.join("experiments/robustness.toml"))?;
    let study = dpo_lab::studies::robustness::Study::run(grid)?;
    eprintln!(
        "robustness study: {} runs in {:.1} s",
        study.runs.len(),
        t.elapsed().as_secs_f64()
    );
    let robust = dpo_lab::present::robustness::render_study(&study, out_dir)?;

    let t = Instant::now();
    let base = &done[0].config;
    let mlp = setting(base).replace(&format!(" · seed {}", base.seed), "");
    let stem = plots_dir.join("phase");
    plots::phase(&stem, &tables["phase"], &mlp)?;
    print_written(&stem);
    let policy = mlp.split(" · ").next().unwrap_or_default().to_string();
    let stem = plots_dir.join("beta");
    plots::beta(&stem, &tables["beta"], &policy, Band::Sd)?;
    print_written(&stem);
    let stem = plots_dir.join("remedies");
    let dpo = tables["losses"].filter("loss", "dpo")?;
    plots::remedies(
        &stem,
        &tables["flex-dpo"],
        &tables["sft-dpo"],
        &dpo,
        &policy,
        Band::Sd,
    )?;
    print_written(&stem);

    let m = &done[0].result.metrics;
    let ratio = |r: &dpo_lab::engine::metrics::MetricsRow| {
        r.log10_grad_pi_minus.unwrap_or(f64::NAN) - r.log10_grad_pi_plus.unwrap_or(f64::NAN)
    };
    let growth = match (m.first(), m.last()) {
        (Some(a), Some(b)) => ratio(b) - ratio(a),
        _ => f64::NAN,
    };
    let base_toml = base.to_toml_string();
    let fig2_setting = plots::describe_run(base);
    let text = report_markdown(&ReportInputs {
        fig2_mlp: &done[0].result.summary,
        fig2_tabular: &done[1].result.summary,
        fig2_start_avg_chosen: m.first().map_or(f64::NAN, |r| r.avg_chosen),
        fig2_grad_ratio_growth: growth,
        fig2_setting: &fig2_setting,
        paper_seeds: &held_out_seeds(root)?,
        base_config: &base_toml,
        phase: &tables["phase"],
        beta: &tables["beta"],
        flex: &tables["flex-dpo"],
        sft: &tables["sft-dpo"],
        losses: &tables["losses"],
        findings: &robust.facts,
    })?;
    // The fidelity sections follow the paper's figures.
    let (fidelity, readme_fidelity) = fidelity_sections(root, out_dir, plots_dir)?;
    let mut text = match text.find("\n## Phase diagrams") {
        Some(i) => format!("{}\n{}\n{}", &text[..i], fidelity.trim_end(), &text[i..]),
        None => format!("{text}\n{fidelity}\n"),
    };
    // Beyond the paper: each study runs its own configs and returns its
    // facts (also written as OUT/<study>/facts.json); the presentation draws
    // the figures and renders the section from them.
    use dpo_lab::present::{findings, plots::field, plots::precision, zoo};
    use dpo_lab::studies::{beyond, late_jump};
    let exp = root.join("experiments");
    let sweeps = exp.join("sweeps");
    let beyond: [(&str, &dyn Fn() -> Result<String>); 6] = [
        ("gradient field", &|| {
            let facts = dpo_lab::studies::field::run(&exp, out_dir)?;
            field::gradient_field_figure(plots_dir, &facts)
        }),
        ("policy families and similarity", &|| {
            let fam = beyond::families(&sweeps, out_dir, resume)?;
            let sim = beyond::similarity(&sweeps, out_dir, resume)?;
            findings::beyond_figures(plots_dir, &fam, &sim, &robust.facts)
        }),
        ("on-policy sampling", &|| {
            let facts = beyond::on_policy(&sweeps, out_dir, resume)?;
            findings::on_policy_figures(plots_dir, &facts, &robust.facts)
        }),
        ("every loss on every scenario", &|| {
            let facts =
                dpo_lab::studies::zoo::run(&sweeps, &exp.join("fig2.toml"), out_dir, resume)?;
            zoo::zoo_figures(plots_dir, &facts)
        }),
        ("loss scoreboard", &|| {
            scoreboard_section(root, out_dir, plots_dir)
        }),
        ("f32 vs f64", &|| {
            let facts = late_jump::run_report(&exp, out_dir)?;
            precision::precision_figure(plots_dir, &facts)
        }),
    ];
    for (name, section) in beyond {
        let t = Instant::now();
        text.push('\n');
        text.push_str(section()?.trim_end());
        text.push('\n');
        eprintln!("{name}: {:.1} s", t.elapsed().as_secs_f64());
    }
    text.push('\n');
    text.push_str(robust.section.trim_end());
    text.push('\n');
    let report = plots_dir.join("REPORT.md");
    write_atomic(&report, text.as_bytes())?;
    println!("wrote {}", report.display());
    // README.md quotes the findings between markers; only the default
    // plots directory is the one README.md links to.
    if plots_dir == root.join("plots") {
        let readme = root.join("README.md");
        let old = std::fs::read_to_string(&readme).map_err(|e| Error::file(&readme, "", e))?;
        let mut facts = robust.facts.clone();
        facts.insert("finding.fidelity".into(), readme_fidelity);
        facts.insert("finding.performance".into(), performance_block(root)?);
        let new = dpo_lab::present::robustness::fill_readme(&old, &facts)?;
        write_atomic(&readme, new.as_bytes())?;
        println!("wrote {}", readme.display());
    }
    eprintln!(
        "sweep figures and report in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// README.md's performance block, from the committed `plots/bench/bench.csv`.
fn performance_block(root: &Path) -> Result<String> {
    let rows = dpo_lab::studies::bench::read_csv(&root.join("plots/bench/bench.csv"))?;
    dpo_lab::present::bench::performance_markdown(&rows)
}

/// The text between `name`'s findings markers in `text`, trimmed (empty if none).
fn between_markers<'a>(text: &'a str, name: &str) -> &'a str {
    let begin = format!("<!-- findings:{name}:begin -->");
    let end = format!("<!-- findings:{name}:end -->");
    text.split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map_or("", |(body, _)| body.trim_matches('\n'))
}

/// The loss scoreboard (`experiments/scoreboard.toml`): runs it into
/// OUT/scoreboard/, draws PLOTS/scoreboard and returns its REPORT.md section.
fn scoreboard_section(root: &Path, out_dir: &Path, plots_dir: &Path) -> Result<String> {
    use dpo_lab::studies::scoreboard;
    let t = Instant::now();
    let plan = scoreboard::Plan::load(&root.join("experiments/scoreboard.toml"))?;
    let facts = scoreboard::run(&plan, out_dir)?;
    eprintln!(
        "loss scoreboard: {} tuning and {} held-out runs in {:.1} s",
        facts.runs.0,
        facts.runs.1,
        t.elapsed().as_secs_f64()
    );
    let text = dpo_lab::present::scoreboard::scoreboard_figures(plots_dir, &facts)?;
    print_written(&plots_dir.join("scoreboard"));
    Ok(text)
}

fn main_inner(cli: Cli) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plots_dir = cli.plots.unwrap_or_else(|| root.join("plots"));
    let out_dir = cli
        .out
        .unwrap_or_else(|| root.join("out").join("reproduce"));
    let (paper_only, resume) = (cli.paper_only, cli.resume);
    if cli.performance_only {
        let readme = root.join("README.md");
        let old = std::fs::read_to_string(&readme).map_err(|e| Error::file(&readme, "", e))?;
        let new = dpo_lab::present::template::fill_markers(&old, |name| {
            if name == "performance" {
                performance_block(root)
            } else {
                Ok(between_markers(&old, name).to_string())
            }
        })?;
        write_atomic(&readme, new.as_bytes())?;
        println!("wrote {}", readme.display());
        return Ok(());
    }
    if cli.scoreboard_only {
        let text = scoreboard_section(root, &out_dir, &plots_dir)?;
        let path = plots_dir.join("scoreboard.md");
        write_atomic(&path, format!("{}\n", text.trim_end()).as_bytes())?;
        println!("wrote {}", path.display());
        return Ok(());
    }

    let start = Instant::now();
    let done = RUNS
        .par_iter()
        .map(|name| run_one(root, &out_dir, name))
        .collect::<Result<Vec<Done>>>()?;
    // Figures 2 and 3 draw the held-out seeds' band around each run.
    let seeds: Vec<u64> = held_out_seeds(root)?;
    let configs: Vec<Config> = [&done[0]]
        .into_iter()
        .chain(&done[2..])
        .map(|d| d.config.clone())
        .collect();
    let bands = curve_bands(&configs, &seeds)?;
    let readoffs = readoff_points(&dpo_lab::analysis::readout::Readoffs::paper());
    let ran = start.elapsed();
    let paper = paper_runs(&done);
    let written = plots::paper_figures(
        &plots_dir,
        &paper[0],
        &paper[1],
        &paper[2..],
        &bands[0],
        &bands[1..],
        &readoffs,
    )?;
    for stem in &written {
        print_written(stem);
    }
    eprintln!(
        "paper figures: {} runs and {} seed-band runs in {:.2} s, figures in {:.2} s",
        RUNS.len(),
        configs.len() * (seeds.len() + 1),
        ran.as_secs_f64(),
        (start.elapsed() - ran).as_secs_f64()
    );
    if !paper_only {
        sweeps_and_report(root, &out_dir, &plots_dir, resume, &done)?;
        eprintln!("reproduce: done in {:.1} s", start.elapsed().as_secs_f64());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A bad DPO_LAB_SIMD is a usage error before any work (the library would panic).
    let res = dpo_lab::fast::configured()
        .map_err(|e| Error::Usage(e.to_string()))
        .and_then(|_| main_inner(cli));
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reproduce: {e}");
            ExitCode::from(2)
        }
    }
}
