//! `dpo-lab`: run one experiment from a TOML config.

use dpo_lab::config::Config;
use dpo_lab::error::{Error, Result};
use dpo_lab::output::write_run;
use dpo_lab::train::{train, Keep};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
dpo-lab: training dynamics of DPO and its relatives on toy policies

USAGE:
    dpo-lab run CONFIG.toml --out DIR     train one run; write metrics.csv, probs.csv,
                                          summary.csv and the resolved config.toml to DIR
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
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
