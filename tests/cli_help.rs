//! The binaries' help works on every (sub)command and README.md cannot drift
//! from it: README quotes `dpo-lab --help` and each subcommand's `-h` and
//! `reproduce -h` verbatim, and names every subcommand and flag that any
//! `--help` lists.

use std::path::Path;
use std::process::Command;

const DPO_LAB: &str = env!("CARGO_BIN_EXE_dpo-lab");
const REPRODUCE: &str = env!("CARGO_BIN_EXE_reproduce");

/// The help text `bin args` prints (it must exit 0), without trailing spaces.
fn help(bin: &str, args: &[&str]) -> String {
    let o = Command::new(bin).args(args).output().unwrap();
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{bin} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!stdout.is_empty(), "{bin} {args:?} printed nothing");
    trim_lines(&stdout)
}

fn trim_lines(s: &str) -> String {
    s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
}

fn readme() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    trim_lines(&std::fs::read_to_string(root.join("README.md")).unwrap())
}

/// The subcommands a help text lists under `Commands:` (not `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

/// Every flag (`-o`, `--out`) a help text lists in its option lines.
fn flags(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    for l in help.lines().map(str::trim_start) {
        if !l.starts_with('-') {
            continue;
        }
        for word in l.split_whitespace() {
            let word = word.trim_end_matches(',');
            if word.starts_with('-') && word.len() > 1 {
                out.push(word.to_string());
            } else {
                break;
            }
        }
    }
    out
}

fn assert_quoted(readme: &str, text: &str, what: &str) {
    assert!(
        readme.contains(text),
        "README.md does not quote `{what}` verbatim; it prints:\n{text}"
    );
}

fn assert_flags_named(readme: &str, help: &str, what: &str) {
    let fl = flags(help);
    assert!(fl.contains(&"--help".to_string()), "{what}: no flags found");
    for f in fl {
        assert!(readme.contains(&f), "README.md lacks `{f}` of `{what}`");
    }
}

#[test]
fn dpo_lab_help_is_in_the_readme() {
    let readme = readme();
    let top = help(DPO_LAB, &["--help"]);
    assert_quoted(
        &readme,
        &format!("$ dpo-lab --help\n{top}"),
        "dpo-lab --help",
    );
    assert_eq!(help(DPO_LAB, &["help"]), top);
    let subs = subcommands(&top);
    assert_eq!(subs, ["run", "sweep", "merge", "bench", "calibrate"]);
    for sub in &subs {
        let short = help(DPO_LAB, &[sub, "-h"]);
        let what = format!("dpo-lab {sub} -h");
        assert_quoted(&readme, &format!("$ {what}\n{short}"), &what);
        let long = help(DPO_LAB, &[sub, "--help"]);
        assert_eq!(help(DPO_LAB, &["help", sub]), long);
        assert_flags_named(&readme, &long, &format!("dpo-lab {sub} --help"));
    }
    assert!(help(DPO_LAB, &["--version"]).starts_with("dpo-lab "));
}

#[test]
fn reproduce_help_is_in_the_readme() {
    let readme = readme();
    let short = help(REPRODUCE, &["-h"]);
    assert_quoted(&readme, &format!("$ reproduce -h\n{short}"), "reproduce -h");
    let long = help(REPRODUCE, &["--help"]);
    assert_flags_named(&readme, &long, "reproduce --help");
}

/// `run --help` lists the names a config may use from the registries
/// themselves, so a new loss or policy appears there without a typed copy.
#[test]
fn run_help_lists_the_registries() {
    use dpo_lab::io::config::{OPTIMIZERS, POLICIES};
    use dpo_lab::maths::{data::SCENARIOS, objective, precision::Precision};
    let long = help(DPO_LAB, &["run", "--help"]);
    let line = |field: &str| -> String {
        long.lines()
            .find(|l| l.trim_start().starts_with(field))
            .unwrap_or_else(|| panic!("`run --help` has no {field} line:\n{long}"))
            .trim_start()[field.len()..]
            .trim()
            .to_string()
    };
    assert_eq!(line("policy.kind"), POLICIES.join(", "));
    assert_eq!(line("optimizer.name"), OPTIMIZERS.join(", "));
    assert_eq!(line("loss.name"), objective::names().join(", "));
    assert!(objective::names().contains(&"kto"));
    assert_eq!(line("data.scenario"), SCENARIOS.join(", "));
    assert_eq!(line("precision"), Precision::NAMES.join(", "));
}

/// Usage errors exit 2 with clap's message, which points to the help.
#[test]
fn usage_errors_exit_2() {
    for args in [
        &["run", "--bogus"][..],
        &["sweep", "s.toml", "--out", "o", "--shard", "4/3"],
        &["bench", "--quick", "--from", "b.csv"],
        &["merge", "--out", "o"],
    ] {
        let o = Command::new(DPO_LAB).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains("try '--help'"), "{args:?}: {err}");
    }
    let o = Command::new(DPO_LAB)
        .args(["sweep", "s.toml", "--out", "o", "--shard", "0/3"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("must be K/N with 1 <= K <= N"));
    let o = Command::new(REPRODUCE).arg("--bogus").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Usage: reproduce"));
}
