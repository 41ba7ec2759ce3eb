//! `dpo-lab`: run one experiment from a TOML config, a sweep of them, or the
//! benchmark and the calibration. The command line is clap's (derive); the
//! names a config may use are listed in `run --help` from the registries.

#![forbid(unsafe_code)]

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use dpo_lab::engine::train::{prepare, train_with, Keep};
use dpo_lab::error::{Error, Result};
use dpo_lab::io::config::{Config, OPTIMIZERS, POLICIES};
use dpo_lab::io::output::{check_run_length, out_dir, RunOutput};
use dpo_lab::io::sweep::{merge, run_sweep, Shard, Sweep, SweepOptions, DEFAULT_MAX_RUNS};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// dpo-lab: training dynamics of DPO and its relatives on toy policies
#[derive(Parser)]
#[command(
    name = "dpo-lab",
    version,
    arg_required_else_help = true,
    after_help = "Environment: DPO_LAB_SIMD=plain|avx2|avx512 forces a vector instruction set (default: the\nwidest the CPU has); every level gives the same numbers.\n\nExit codes: 0 success, 2 bad input (the message names the field and what is allowed)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one run
    ///
    /// Trains the run CONFIG.toml describes and writes metrics.csv, probs.csv,
    /// summary.csv and the resolved config.toml (every default written out) to DIR.
    /// The rows go to disk as they are made; DIR appears complete or not at all
    /// (an older run there is replaced only once the new one is whole).
    #[command(verbatim_doc_comment)]
    Run {
        /// The run config
        #[arg(value_name = "CONFIG.toml")]
        config: PathBuf,
        /// The output directory
        #[arg(short, long, value_name = "DIR", value_parser = out_dir)]
        out: PathBuf,
        /// Replace another run's results in DIR; run beyond the length limits
        ///
        /// Without it, run refuses a DIR that holds a different run's results (its
        /// config.toml differs) or other files, more than 100000000 epochs, and more
        /// than 10000000 recorded CSV rows (metrics.csv and probs.csv together).
        /// Into a DIR with other files, the run's files are moved in one by one and
        /// the other files kept.
        #[arg(long, verbatim_doc_comment)]
        force: bool,
    },
    /// Run a grid of runs in parallel, resumably
    ///
    /// Runs the Cartesian product of the sweep's axes on every core (rayon).
    /// Each finished run is appended to DIR's journal at once, so rerunning the
    /// same command runs only what is missing. Writes DIR/runs.csv and (with
    /// [sweep] curve_every) DIR/curves.csv, byte-identical whatever the thread
    /// count, sharding or interruptions.
    #[command(verbatim_doc_comment)]
    Sweep {
        /// The sweep file: a base run config and axes over its fields
        #[arg(value_name = "SWEEP.toml")]
        sweep: PathBuf,
        /// The output directory (and the sweep's journal)
        #[arg(short, long, value_name = "DIR", value_parser = out_dir)]
        out: PathBuf,
        /// Run only slice K of N of the grid (join the slices with `merge`)
        #[arg(long, value_name = "K/N")]
        shard: Option<Shard>,
        /// Run a grid of more than 20000 runs
        #[arg(long)]
        force: bool,
        /// Print no progress bar and no summary line
        #[arg(short, long)]
        quiet: bool,
    },
    /// Join the shards of one sweep
    ///
    /// Checks that the SHARD_DIRs hold slices of one sweep that together cover
    /// its grid, and writes the DIR/runs.csv and DIR/curves.csv that the sweep
    /// run on one machine would.
    #[command(verbatim_doc_comment)]
    Merge {
        /// The output directory
        #[arg(short, long, value_name = "DIR", value_parser = out_dir)]
        out: PathBuf,
        /// The output directories of the shards
        #[arg(value_name = "SHARD_DIR", required = true)]
        shards: Vec<PathBuf>,
    },
    /// Time the training loop (steps per second)
    ///
    /// Times DPO + Adam in f64 on the paper's toy (tabular and MLP, one run per
    /// thread and a 64-run sweep) and the tabular step as the response and prompt
    /// counts grow; writes DIR/bench.csv and DIR/bench.png.
    #[command(verbatim_doc_comment)]
    Bench {
        /// Shorten every case about tenfold, never below 50 steps
        #[arg(long)]
        quick: bool,
        /// The output directory
        #[arg(short, long, value_name = "DIR", default_value = "out/bench", value_parser = out_dir)]
        out: PathBuf,
        /// Redraw DIR/bench.png from an earlier bench.csv (no timing)
        #[arg(long, value_name = "BENCH.csv", conflicts_with = "quick")]
        from: Option<PathBuf>,
        /// Also time the JAX peer (experiments/peers/jax_dpo.py) with this
        /// Python, which must import jax; its rows join bench.csv as case
        /// `peer` and its own CSV is kept as DIR/peer.csv
        #[arg(long, value_name = "PYTHON", conflicts_with = "from")]
        jax: Option<PathBuf>,
    },
    /// Search the knobs the paper leaves unstated
    ///
    /// Runs the plan's candidate settings against the paper's Figure 2 read-offs
    /// and writes DIR/calibration.csv (every setting, its distance and read-offs).
    #[command(verbatim_doc_comment)]
    Calibrate {
        /// The calibration plan (e.g. experiments/calibrate.toml)
        #[arg(value_name = "PLAN.toml")]
        plan: PathBuf,
        /// The output directory
        #[arg(short, long, value_name = "DIR", value_parser = out_dir)]
        out: PathBuf,
    },
}

/// The names a run config may use, from the registries that accept them
/// (`run --help` shows them; a typed copy could drift).
fn config_names() -> String {
    use dpo_lab::maths::{data::SCENARIOS, objective, precision::Precision};
    let rows: [(&str, Vec<&str>); 5] = [
        ("policy.kind", POLICIES.to_vec()),
        ("optimizer.name", OPTIMIZERS.to_vec()),
        ("loss.name", objective::names()),
        ("data.scenario", SCENARIOS.to_vec()),
        ("precision", Precision::NAMES.to_vec()),
    ];
    let mut s = String::from("Names a run config may use:");
    for (field, names) in rows {
        s.push_str(&format!("\n  {field:<16}{}", names.join(", ")));
    }
    s
}

fn run(config: &Path, out: &Path, force: bool) -> Result<()> {
    let cfg = Config::load(config)?;
    let resolved = cfg.resolved()?;
    let spec = resolved.build()?;
    if !force {
        check_run_length(&spec)?;
    }
    let mut sink = RunOutput::begin(
        out,
        &resolved.to_toml_string(),
        spec.data.n_responses,
        force,
    )?;
    sink.show_progress(spec.epochs);
    let done = train_with(&spec, prepare(&spec), Keep::ALL, &mut sink)?;
    sink.finish(&done.summary)?;
    let s = &done.summary;
    eprintln!(
        "wrote {}: drop {:.2} orders, degradation {:.3}, dispersion {:.4}{}",
        out.display(),
        s.drop,
        s.degradation,
        s.dispersion,
        match s.diverged_epoch {
            Some(e) => format!(", DIVERGED at epoch {e}"),
            None => String::new(),
        }
    );
    Ok(())
}

fn sweep(file: &Path, out: &Path, shard: Option<Shard>, force: bool, quiet: bool) -> Result<()> {
    let sw = Sweep::load(file)?;
    let opts = SweepOptions {
        shard: shard.unwrap_or(Shard::ALL),
        max_runs: if force { None } else { Some(DEFAULT_MAX_RUNS) },
        quiet,
    };
    let t = std::time::Instant::now();
    let ran = run_sweep(&sw, out, opts)?;
    if !quiet {
        eprintln!(
            "sweep: ran {ran} runs in {:.1}s; wrote {}/runs.csv",
            t.elapsed().as_secs_f64(),
            out.display()
        );
    }
    Ok(())
}

fn calibrate(file: &Path, out: &Path) -> Result<()> {
    let plan = dpo_lab::studies::calibrate::Plan::load(file)?;
    dpo_lab::io::output::check_writable(out)?;
    let facts = dpo_lab::studies::calibrate::calibrate(&plan, &|m| eprintln!("{m}"))?;
    dpo_lab::io::output::write_files(
        out,
        &[(
            "calibration.csv",
            dpo_lab::io::output::csv_bytes(&facts.rows()),
        )],
    )?;
    let w = facts.winner();
    eprintln!(
        "calibrate: {} runs; winner {} (held-out distance {:.2}, {} of {} scored read-offs within tolerance); wrote {}/calibration.csv",
        facts.runs,
        w.setting.label(),
        w.distance,
        w.within,
        facts.readoffs.readoff.iter().filter(|r| r.scored).count(),
        out.display()
    );
    Ok(())
}

/// Reads the rows of a `bench.csv`.
fn bench(quick: bool, out: &Path, from: Option<&Path>, jax: Option<&Path>) -> Result<()> {
    if let Some(csv) = from {
        let rows = dpo_lab::studies::bench::read_csv(csv)?;
        dpo_lab::present::plots::bench::bench_figure(&out.join("bench"), &rows)?;
        eprintln!("wrote {}/bench.png from {}", out.display(), csv.display());
        return Ok(());
    }
    if let Some(python) = jax {
        // Before minutes of timing: a Python without JAX fails now.
        let ok = std::process::Command::new(python)
            .args(["-c", "import jax"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(Error::config(
                "--jax",
                format!(
                    "`{}` cannot `import jax`; give a Python that has JAX (e.g. a venv's bin/python after `pip install jax`)",
                    python.display()
                ),
            ));
        }
    }
    eprintln!(
        "{:<16} {:<8} {:<10} {:>5} {:>7} {:>9} {:>7} {:>5} {:>14} {:>10}",
        "case",
        "policy",
        "precision",
        "width",
        "prompts",
        "responses",
        "threads",
        "runs",
        "steps/s",
        "ns/step"
    );
    let rows = dpo_lab::studies::bench::run_bench(quick, |r| {
        eprintln!(
            "{:<16} {:<8} {:<10} {:>5} {:>7} {:>9} {:>7} {:>5} {:>14.0} {:>10.1}",
            r.case,
            r.policy,
            r.precision,
            r.width,
            r.prompts,
            r.responses,
            r.threads,
            r.runs,
            r.steps_per_sec,
            r.ns_per_step
        )
    });
    let b = dpo_lab::studies::bench::bounds();
    let mut rows = rows;
    rows.extend(dpo_lab::studies::bench::bound_rows(&b));
    for r in rows.iter().filter(|r| {
        r.case == "paper" && r.policy == "mlp" && r.threads == 1 && r.precision == "f64"
    }) {
        let div = b.divider_ns * r.params as f64;
        let madd = b.madd_ns
            * dpo_lab::studies::bench::mlp_step_madds(r.prompts, r.width, r.responses, r.params);
        eprintln!(
            "MLP width {} {}: {:.0} ns a step; bounds: divider {:.0} ns ({:.2} ns/parameter), multiply-adds {:.0} ns ({:.3} ns each); {:.0} % of the tighter",
            r.width,
            r.precision,
            r.ns_per_step,
            div,
            b.divider_ns,
            madd,
            b.madd_ns,
            100.0 * div.max(madd) / r.ns_per_step
        );
    }
    for f in dpo_lab::studies::bench::floor_ratios(&rows) {
        eprintln!(
            "tabular {} × {} on {} thread(s): {:.3} ms a step = {:.2}× the one-thread streaming floor ({:.3} ms; target {}×), {:.2}× the floor on the same threads ({:.3} ms)",
            f.prompts,
            f.responses,
            f.threads,
            f.step_ns / 1e6,
            f.ratio_one(),
            f.floor_one_ns / 1e6,
            dpo_lab::studies::bench::TARGET_STREAM_FACTOR,
            f.ratio_split(),
            f.floor_split_ns / 1e6,
        );
    }
    for s in dpo_lab::studies::bench::f32_speedups(&rows) {
        eprintln!(
            "f32-native / f64, MLP width {} ({} runs on {} threads): {:.2}× (target {}×)",
            s.width,
            s.runs,
            s.threads,
            s.ratio,
            dpo_lab::studies::bench::TARGET_F32_SPEEDUP
        );
    }
    let peer_csv = match jax {
        Some(python) => {
            let text = jax_peer(python, quick)?;
            let peer = dpo_lab::studies::bench::peer_rows(
                &text,
                &out.join("peer.csv"),
                rayon::current_num_threads(),
            )?;
            for p in &peer {
                let ours = rows.iter().find(|r| {
                    r.case == "paper"
                        && r.precision == "f64"
                        && r.policy == p.policy
                        && r.width == p.width
                        && r.runs == p.runs
                });
                eprintln!(
                    "{} {} width {}: {:.0} steps/s; dpo-lab {}",
                    p.peer,
                    p.policy,
                    p.width,
                    p.steps_per_sec,
                    ours.map_or("has no such case".into(), |r| format!(
                        "{:.2}× that",
                        r.steps_per_sec / p.steps_per_sec
                    ))
                );
            }
            rows.extend(peer);
            Some(text)
        }
        None => None,
    };
    let mut files = vec![("bench.csv", dpo_lab::io::output::csv_bytes(&rows))];
    if let Some(text) = peer_csv {
        files.push(("peer.csv", text.into_bytes()));
    }
    dpo_lab::io::output::write_files(out, &files)?;
    dpo_lab::present::plots::bench::bench_figure(&out.join("bench"), &rows)?;
    eprintln!(
        "wrote {0}/bench.csv and {0}/bench.png ({1})",
        out.display(),
        rows.first().map_or("", |r| r.machine.as_str())
    );
    Ok(())
}

/// Runs the JAX peer with `python` (its progress on this process's
/// stderr) and returns the CSV it wrote; `quick` shortens its cases tenfold
/// as `--quick` does the bench's.
fn jax_peer(python: &Path, quick: bool) -> Result<String> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(dpo_lab::studies::bench::JAX_PEER_SCRIPT);
    let fail = |why: String| {
        Error::config(
            "--jax",
            format!(
                "`{}` {script} failed: {why}; give a Python that can `import jax`",
                python.display(),
                script = script.display()
            ),
        )
    };
    let mut cmd = std::process::Command::new(python);
    cmd.arg(&script).args(["--runs", "64"]);
    if quick {
        cmd.args(["--scale", "0.1"]);
    }
    let got = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !got.status.success() {
        return Err(fail(got.status.to_string()));
    }
    String::from_utf8(got.stdout).map_err(|e| fail(e.to_string()))
}

/// Counts heap bytes for the benchmark's memory cases (`fast::alloc`).
#[global_allocator]
static ALLOC: dpo_lab::fast::alloc::Counting = dpo_lab::fast::alloc::Counting;

fn main() -> ExitCode {
    let mut cmd = Cli::command();
    cmd = cmd.mut_subcommand("run", |c| c.after_long_help(config_names()));
    let cli = Cli::from_arg_matches(&cmd.get_matches()).unwrap_or_else(|e| e.exit());
    // A bad DPO_LAB_SIMD is a usage error before any work (the library would panic).
    if let Err(e) = dpo_lab::fast::configured() {
        eprintln!("dpo-lab: {}", Error::Usage(e.to_string()));
        return ExitCode::from(2);
    }
    let res = match &cli.command {
        Command::Run { config, out, force } => run(config, out, *force),
        Command::Sweep {
            sweep: file,
            out,
            shard,
            force,
            quiet,
        } => sweep(file, out, *shard, *force, *quiet),
        Command::Merge { out, shards } => merge(shards, out),
        Command::Bench {
            quick,
            out,
            from,
            jax,
        } => bench(*quick, out, from.as_deref(), jax.as_deref()),
        Command::Calibrate { plan, out } => calibrate(plan, out),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dpo-lab: {e}");
            ExitCode::from(2)
        }
    }
}
