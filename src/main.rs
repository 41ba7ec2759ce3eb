//! `dpo-lab`: run one experiment from a TOML config.

use dpo_lab::engine::train::{train, Keep};
use dpo_lab::error::{Error, Result};
use dpo_lab::io::config::Config;
use dpo_lab::io::output::write_run;
use dpo_lab::io::sweep::{merge, run_sweep, Shard, Sweep, SweepOptions, DEFAULT_MAX_RUNS};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
dpo-lab: training dynamics of DPO and its relatives on toy policies

USAGE:
    dpo-lab run CONFIG.toml --out DIR     train one run; write metrics.csv, probs.csv,
                                          summary.csv and the resolved config.toml to DIR
    dpo-lab sweep SWEEP.toml --out DIR [--shard K/N] [--force] [--quiet]
                                          run a grid of runs in parallel (rayon); resumable:
                                          rerunning the same command runs only what is missing;
                                          writes DIR/runs.csv and DIR/curves.csv
    dpo-lab merge --out DIR SHARD_DIR...  join the shards of one sweep into DIR/runs.csv, curves.csv
    dpo-lab bench [--quick] [--out DIR]   training steps per second (DPO, Adam, f64); writes
                                          DIR/bench.csv and bench.png (default out/bench)
    dpo-lab bench --from BENCH.csv [--out DIR]
                                          redraw DIR/bench.png from an earlier bench.csv (no timing)
    dpo-lab calibrate PLAN.toml --out DIR search the knobs the paper leaves unstated against
                                          its Figure 2 read-offs; writes DIR/calibration.csv
    dpo-lab help                          this text

Exit codes: 0 success, 2 bad input (the message names the field and what is allowed).";

/// A subcommand's arguments: positionals, `--flag VALUE` options and bare switches.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, String)>,
    switches: Vec<String>,
}

impl Args {
    /// Splits `args`; `takes_value` and `switches` list the accepted option names.
    fn parse(args: &[String], takes_value: &[&str], switches: &[&str]) -> Result<Args> {
        let mut out = Args {
            positional: Vec::new(),
            options: Vec::new(),
            switches: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let name = if a == "-o" {
                "--out"
            } else if a == "-q" {
                "--quiet"
            } else {
                a.as_str()
            };
            if takes_value.contains(&name) {
                let v = it
                    .next()
                    .ok_or_else(|| Error::Usage(format!("{name} needs a value\n\n{USAGE}")))?;
                out.options.push((name.to_string(), v.clone()));
            } else if switches.contains(&name) {
                out.switches.push(name.to_string());
            } else if name.starts_with('-') {
                return Err(Error::Usage(format!("unknown option `{name}`\n\n{USAGE}")));
            } else {
                out.positional.push(a.clone());
            }
        }
        Ok(out)
    }

    fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn switch(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }

    /// The single positional argument `what` of subcommand `cmd`.
    fn one_file(&self, cmd: &str, what: &str) -> Result<PathBuf> {
        match self.positional.as_slice() {
            [f] => Ok(PathBuf::from(f)),
            [] => Err(Error::Usage(format!(
                "`{cmd}` needs a {what} file\n\n{USAGE}"
            ))),
            [_, extra, ..] => Err(Error::Usage(format!(
                "unexpected argument `{extra}`\n\n{USAGE}"
            ))),
        }
    }

    fn out(&self, cmd: &str) -> Result<PathBuf> {
        self.option("--out")
            .map(PathBuf::from)
            .ok_or_else(|| Error::Usage(format!("`{cmd}` needs --out DIR\n\n{USAGE}")))
    }
}

fn run(args: &[String]) -> Result<()> {
    let a = Args::parse(args, &["--out"], &[])?;
    let config = a.one_file("run", "CONFIG")?;
    let out = a.out("run")?;
    let cfg = Config::load(&config)?;
    let resolved = cfg.resolved()?;
    let spec = resolved.build()?;
    dpo_lab::io::output::check_writable(&out)?;
    let result = train(&spec, Keep::ALL);
    write_run(&out, &resolved.to_toml_string(), &result)?;
    let s = &result.summary;
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

fn sweep(args: &[String]) -> Result<()> {
    let a = Args::parse(args, &["--out", "--shard"], &["--force", "--quiet"])?;
    let file = a.one_file("sweep", "SWEEP")?;
    let out = a.out("sweep")?;
    let shard = a.option("--shard").map_or(Ok(Shard::ALL), Shard::parse)?;
    let quiet = a.switch("--quiet");
    let sw = Sweep::load(&file)?;
    let opts = SweepOptions {
        shard,
        max_runs: if a.switch("--force") {
            None
        } else {
            Some(DEFAULT_MAX_RUNS)
        },
        quiet,
    };
    let t = std::time::Instant::now();
    let ran = run_sweep(&sw, &out, opts)?;
    if !quiet {
        eprintln!(
            "sweep: ran {ran} runs in {:.1}s; wrote {}/runs.csv",
            t.elapsed().as_secs_f64(),
            out.display()
        );
    }
    Ok(())
}

fn merge_cmd(args: &[String]) -> Result<()> {
    let a = Args::parse(args, &["--out"], &[])?;
    let dirs: Vec<PathBuf> = a.positional.iter().map(PathBuf::from).collect();
    merge(&dirs, &a.out("merge")?)
}

fn calibrate(args: &[String]) -> Result<()> {
    let a = Args::parse(args, &["--out"], &[])?;
    let file = a.one_file("calibrate", "PLAN")?;
    let out = a.out("calibrate")?;
    let plan = dpo_lab::studies::calibrate::Plan::load(&file)?;
    dpo_lab::io::output::check_writable(&out)?;
    let facts = dpo_lab::studies::calibrate::calibrate(&plan, &|m| eprintln!("{m}"))?;
    dpo_lab::io::output::write_files(
        &out,
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
fn read_bench_csv(path: &str) -> Result<Vec<dpo_lab::studies::bench::BenchRow>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| Error::io(path, e))?;
    r.deserialize()
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::io(path, format!("not a bench.csv: {e}")))
}

fn bench(args: &[String]) -> Result<()> {
    let a = Args::parse(args, &["--out", "--from"], &["--quick"])?;
    if let Some(extra) = a.positional.first() {
        return Err(Error::Usage(format!(
            "unexpected argument `{extra}`\n\n{USAGE}"
        )));
    }
    let quick = a.switch("--quick");
    let out = a
        .option("--out")
        .map_or_else(|| PathBuf::from("out/bench"), PathBuf::from);
    if let Some(csv) = a.option("--from") {
        let rows = read_bench_csv(csv)?;
        dpo_lab::present::plots::bench::bench_figure(&out.join("bench"), &rows)?;
        eprintln!("wrote {}/bench.png from {csv}", out.display());
        return Ok(());
    }
    eprintln!(
        "{:<16} {:<8} {:>5} {:>7} {:>9} {:>7} {:>5} {:>14} {:>10}",
        "case", "policy", "width", "prompts", "responses", "threads", "runs", "steps/s", "ns/step"
    );
    let rows = dpo_lab::studies::bench::run_bench(quick, |r| {
        eprintln!(
            "{:<16} {:<8} {:>5} {:>7} {:>9} {:>7} {:>5} {:>14.0} {:>10.1}",
            r.case,
            r.policy,
            r.width,
            r.prompts,
            r.responses,
            r.threads,
            r.runs,
            r.steps_per_sec,
            r.ns_per_step
        )
    });
    dpo_lab::io::output::write_files(
        &out,
        &[("bench.csv", dpo_lab::io::output::csv_bytes(&rows))],
    )?;
    dpo_lab::present::plots::bench::bench_figure(&out.join("bench"), &rows)?;
    eprintln!(
        "wrote {0}/bench.csv and {0}/bench.png ({1})",
        out.display(),
        rows.first().map_or("", |r| r.machine.as_str())
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("sweep") => sweep(&args[1..]),
        Some("merge") => merge_cmd(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("calibrate") => calibrate(&args[1..]),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(Error::Usage(format!(
            "unknown command `{other}`\n\n{USAGE}"
        ))),
        None => Err(Error::Usage(USAGE.to_string())),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dpo-lab: {e}");
            ExitCode::from(2)
        }
    }
}
