//! `dpo-lab`: run one experiment from a TOML config.

use dpo_lab::config::Config;
use dpo_lab::error::{Error, Result};
use dpo_lab::output::write_run;
use dpo_lab::sweep::{merge, run_sweep, Shard, Sweep, SweepOptions, DEFAULT_MAX_RUNS};
use dpo_lab::train::{train, Keep};
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
                                          DIR/bench.csv (default out/bench)
    dpo-lab help                          this text

Exit codes: 0 success, 2 bad input (the message names the field and what is allowed).";

fn run(args: &[String]) -> Result<()> {
    let mut config = None;
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" | "-o" => {
                out =
                    Some(PathBuf::from(it.next().ok_or_else(|| {
                        Error::Usage("--out needs a directory".into())
                    })?))
            }
            s if s.starts_with('-') => {
                return Err(Error::Usage(format!("unknown option `{s}`\n\n{USAGE}")))
            }
            s if config.is_none() => config = Some(PathBuf::from(s)),
            s => {
                return Err(Error::Usage(format!(
                    "unexpected argument `{s}`\n\n{USAGE}"
                )))
            }
        }
    }
    let config =
        config.ok_or_else(|| Error::Usage(format!("`run` needs a CONFIG file\n\n{USAGE}")))?;
    let out = out.ok_or_else(|| Error::Usage(format!("`run` needs --out DIR\n\n{USAGE}")))?;
    let cfg = Config::load(&config)?;
    let resolved = cfg.resolved()?;
    let spec = resolved.build()?;
    dpo_lab::output::check_writable(&out)?;
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
    let (mut file, mut out, mut shard, mut force, mut quiet) =
        (None, None, Shard::ALL, false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" | "-o" => {
                out =
                    Some(PathBuf::from(it.next().ok_or_else(|| {
                        Error::Usage("--out needs a directory".into())
                    })?))
            }
            "--shard" => {
                shard = Shard::parse(
                    it.next()
                        .ok_or_else(|| Error::Usage("--shard needs K/N".into()))?,
                )?
            }
            "--force" => force = true,
            "--quiet" | "-q" => quiet = true,
            s if s.starts_with('-') => {
                return Err(Error::Usage(format!("unknown option `{s}`\n\n{USAGE}")))
            }
            s if file.is_none() => file = Some(PathBuf::from(s)),
            s => {
                return Err(Error::Usage(format!(
                    "unexpected argument `{s}`\n\n{USAGE}"
                )))
            }
        }
    }
    let file =
        file.ok_or_else(|| Error::Usage(format!("`sweep` needs a SWEEP file\n\n{USAGE}")))?;
    let out = out.ok_or_else(|| Error::Usage(format!("`sweep` needs --out DIR\n\n{USAGE}")))?;
    let sw = Sweep::load(&file)?;
    let opts = SweepOptions {
        shard,
        max_runs: if force { None } else { Some(DEFAULT_MAX_RUNS) },
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
    let (mut out, mut dirs) = (None, Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" | "-o" => {
                out =
                    Some(PathBuf::from(it.next().ok_or_else(|| {
                        Error::Usage("--out needs a directory".into())
                    })?))
            }
            s if s.starts_with('-') => {
                return Err(Error::Usage(format!("unknown option `{s}`\n\n{USAGE}")))
            }
            s => dirs.push(PathBuf::from(s)),
        }
    }
    let out = out.ok_or_else(|| Error::Usage(format!("`merge` needs --out DIR\n\n{USAGE}")))?;
    merge(&dirs, &out)
}

/// The CPU model and core count, for the benchmark's title.
fn machine_name() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} cores")
}

fn bench(args: &[String]) -> Result<()> {
    let (mut quick, mut out) = (false, PathBuf::from("out/bench"));
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" | "-o" => {
                out = PathBuf::from(
                    it.next()
                        .ok_or_else(|| Error::Usage("--out needs a directory".into()))?,
                )
            }
            s => return Err(Error::Usage(format!("unknown argument `{s}`\n\n{USAGE}"))),
        }
    }
    eprintln!(
        "{:<16} {:<8} {:>5} {:>7} {:>9} {:>7} {:>5} {:>14} {:>10}",
        "case", "policy", "width", "prompts", "responses", "threads", "runs", "steps/s", "ns/step"
    );
    let rows = dpo_lab::bench::run_bench(quick, |r| {
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
    dpo_lab::output::write_files(&out, &[("bench.csv", dpo_lab::output::csv_bytes(&rows))])?;
    let machine = machine_name();
    dpo_lab::plots::bench::bench_figure(&out.join("bench"), &rows, &machine)?;
    eprintln!(
        "wrote {0}/bench.csv and {0}/bench.png ({machine})",
        out.display()
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
