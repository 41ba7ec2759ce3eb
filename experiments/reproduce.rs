//! `reproduce`: runs the paper's Figure 2 and Figure 3 experiments (and the
//! tabular twin of Figure 2) in parallel, writes each run's CSVs, and draws
//! Figures 1, 2, 2-compare and 3. The figure logic lives in
//! [`dpo_lab::plots`]; this binary only runs and routes.

use dpo_lab::config::Config;
use dpo_lab::data::Dataset;
use dpo_lab::error::{Error, Result};
use dpo_lab::output::write_run;
use dpo_lab::plots::{self, PaperRun};
use dpo_lab::train::{train, Keep, RunResult};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "\
reproduce: run the paper's toy experiments and draw Figures 1-3

USAGE:
    reproduce [--plots DIR] [--out DIR]

Runs experiments/{fig2,fig2-tabular,fig3-scenario1..4}.toml, writes each run's
CSVs to OUT/<name>/ (default: <crate>/out/reproduce) and the figures, as PNG
and SVG, to PLOTS (default: <crate>/plots). Exit code 2 on any failure.";

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

fn main_inner(args: &[String]) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut plots_dir = root.join("plots");
    let mut out_dir = root.join("out").join("reproduce");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .map(PathBuf::from)
                .ok_or_else(|| Error::Usage(format!("{flag} needs a directory\n\n{USAGE}")))
        };
        match a.as_str() {
            "--plots" => plots_dir = value("--plots")?,
            "--out" => out_dir = value("--out")?,
            "-h" | "--help" | "help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => {
                return Err(Error::Usage(format!(
                    "unexpected argument `{other}`\n\n{USAGE}"
                )))
            }
        }
    }

    let start = Instant::now();
    let done = RUNS
        .par_iter()
        .map(|name| run_one(root, &out_dir, name))
        .collect::<Result<Vec<Done>>>()?;
    let ran = start.elapsed();
    let paper: Vec<PaperRun> = done
        .iter()
        .map(|d| PaperRun {
            config: &d.config,
            data: &d.data,
            result: &d.result,
        })
        .collect();
    let written = plots::paper_figures(&plots_dir, &paper[0], &paper[1], &paper[2..])?;
    for stem in &written {
        let [png, svg] = plots::files(stem);
        println!("wrote {} and {}", png.display(), svg.display());
    }
    eprintln!(
        "{} runs in {:.2} s, figures in {:.2} s",
        RUNS.len(),
        ran.as_secs_f64(),
        (start.elapsed() - ran).as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match main_inner(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reproduce: {e}");
            ExitCode::from(2)
        }
    }
}
