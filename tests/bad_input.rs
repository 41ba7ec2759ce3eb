//! Bad input is rejected with a message that names the field (and, for
//! names, what is allowed): through the library for every case, and through
//! the `dpo-lab` binary (exit code 2, no panic, no output directory) for a
//! representative subset plus the file-system failures.

use dpo_lab::error::Error;
use dpo_lab::io::config::{Config, OPTIMIZERS, POLICIES};
use dpo_lab::io::output::write_files;
use dpo_lab::maths::data::SCENARIOS;
use dpo_lab::maths::loss::{Domain, LOSSES};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A valid config with `edits` applied: each `(section, line)` puts `line`
/// into `[section]` ("" for the top level), replacing a line with the same key.
fn config_with(edits: &[(&str, &str)]) -> String {
    let mut sections: Vec<(&str, Vec<String>)> = vec![
        ("", vec!["seed = 0".into(), "epochs = 5".into()]),
        ("policy", vec!["kind = \"tabular\"".into()]),
        ("data", vec!["scenario = \"scenario1\"".into()]),
        ("loss", vec!["name = \"dpo\"".into(), "beta = 0.1".into()]),
        (
            "optimizer",
            vec!["name = \"sgd\"".into(), "lr = 1.0".into()],
        ),
    ];
    let key = |l: &str| l.split('=').next().unwrap().trim().to_string();
    for (sec, line) in edits {
        let idx = match sections.iter().position(|(s, _)| s == sec) {
            Some(i) => i,
            None => {
                sections.push((sec, vec![]));
                sections.len() - 1
            }
        };
        let lines = &mut sections[idx].1;
        let k = key(line);
        if line.trim_start().starts_with('-') {
            // "-key": remove the key.
            let k = k.trim_start_matches('-').trim().to_string();
            lines.retain(|l| key(l) != k);
        } else if let Some(l) = lines.iter_mut().find(|l| key(l) == k) {
            *l = line.to_string();
        } else {
            lines.push(line.to_string());
        }
    }
    let mut out = String::new();
    for (sec, lines) in sections {
        if !sec.is_empty() {
            out.push_str(&format!("[{sec}]\n"));
        }
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

fn build(toml: &str) -> dpo_lab::Result<()> {
    Config::from_toml_str(toml)
        .and_then(|c| c.build())
        .map(|_| ())
}

/// The config is rejected, by `field` exactly, with a message containing `needles`.
fn rejects(edits: &[(&str, &str)], field: &str, needles: &[&str]) {
    let toml = config_with(edits);
    let err = build(&toml).expect_err(&format!("accepted:\n{toml}"));
    let msg = err.to_string();
    match &err {
        Error::Config { field: f, .. } => {
            assert_eq!(f, field, "wrong field for\n{toml}\nmessage: {msg}")
        }
        other => panic!("not a config error: {other:?}"),
    }
    assert!(msg.contains(&format!("`{field}`")), "{msg}");
    for n in needles {
        assert!(msg.contains(n), "message `{msg}` lacks `{n}`");
    }
    // `resolved` (what the binary calls first) fails the same way.
    let c = Config::from_toml_str(&toml).unwrap();
    assert_eq!(c.resolved().unwrap_err().to_string(), msg);
}

/// The TOML does not even parse into a config; the message contains `needles`.
fn unparsable(edits: &[(&str, &str)], needles: &[&str]) {
    let toml = config_with(edits);
    let err = Config::from_toml_str(&toml).expect_err(&format!("parsed:\n{toml}"));
    let msg = err.to_string();
    for n in needles {
        assert!(msg.contains(n), "message `{msg}` lacks `{n}`");
    }
}

fn accepts(edits: &[(&str, &str)]) {
    let toml = config_with(edits);
    build(&toml).unwrap_or_else(|e| panic!("rejected: {e}\n{toml}"));
}

#[test]
fn the_template_is_valid() {
    accepts(&[]);
    accepts(&[("loss", "beta = 1")]); // an integer is a number
    accepts(&[("loss", "-beta")]); // default
}

#[test]
fn loss_parameters_out_of_range() {
    for v in [
        "0", "0.0", "-0.0", "-0.1", "nan", "inf", "-inf", "-nan", "+inf",
    ] {
        rejects(&[("loss", &format!("beta = {v}"))], "loss.beta", &["> 0"]);
    }
    // Out of f64's range is a parse error, naming the line.
    unparsable(&[("loss", "beta = 1e400")], &["beta = 1e400"]);
    let ipo = ("loss", "name = \"ipo\"");
    rejects(
        &[ipo, ("loss", "-beta"), ("loss", "tau = 0")],
        "loss.tau",
        &[],
    );
    rejects(
        &[ipo, ("loss", "-beta"), ("loss", "tau = -1")],
        "loss.tau",
        &[],
    );
    let sft = ("loss", "name = \"sft-dpo\"");
    rejects(&[sft, ("loss", "gamma = 0")], "loss.gamma", &["> 0"]);
    rejects(&[sft, ("loss", "gamma = -2")], "loss.gamma", &[]);
    rejects(&[sft, ("loss", "gamma = nan")], "loss.gamma", &[]);
    let flex = ("loss", "name = \"flex-dpo\"");
    rejects(
        &[flex, ("loss", "-beta"), ("loss", "beta_minus = 0")],
        "loss.beta_minus",
        &[],
    );
    let slic = ("loss", "name = \"slic\"");
    rejects(
        &[slic, ("loss", "-beta"), ("loss", "delta = 0")],
        "loss.delta",
        &[],
    );
    rejects(
        &[slic, ("loss", "-beta"), ("loss", "eta = -0.1")],
        "loss.eta",
        &[">= 0"],
    );
    accepts(&[slic, ("loss", "-beta"), ("loss", "eta = 0")]);
}

/// A value inside `domain`.
fn valid_value(domain: Domain) -> f64 {
    match domain {
        Domain::Positive | Domain::NonNegative | Domain::Finite => 0.5,
        Domain::HalfOpen(lo, hi) | Domain::Open(lo, hi) => lo + 0.5 * (hi - lo),
    }
}

#[test]
fn every_loss_rejects_each_bad_parameter() {
    for spec in LOSSES {
        // Valid values for every parameter without a default.
        let required: Vec<String> = spec
            .params
            .iter()
            .filter(|p| p.default.is_none())
            .map(|p| format!("{} = {:?}", p.name, valid_value(p.domain)))
            .collect();
        for p in spec.params {
            let mut bad: Vec<String> = ["nan", "inf", "-inf"].map(String::from).to_vec();
            match p.domain {
                Domain::Positive => bad.extend(["0", "-1e300"].map(String::from)),
                Domain::NonNegative => bad.push("-1e-300".into()),
                Domain::HalfOpen(..) => bad.extend(["-1e300", "1e300"].map(String::from)),
                // Both ends of an open interval are out.
                Domain::Open(lo, hi) => {
                    bad.extend(["-1e300", "1e300"].map(String::from));
                    bad.extend([lo, hi].map(|v| format!("{v:?}")));
                }
                Domain::Finite => {}
            }
            for bad in bad {
                let name = format!("name = \"{}\"", spec.name);
                let line = format!("{} = {bad}", p.name);
                let mut edits = vec![("loss", name.as_str()), ("loss", "-beta")];
                edits.extend(required.iter().map(|l| ("loss", l.as_str())));
                edits.push(("loss", &line));
                rejects(&edits, &format!("loss.{}", p.name), &[]);
            }
        }
        // A parameter of another loss is not silently ignored.
        let name = format!("name = \"{}\"", spec.name);
        let mut edits = vec![("loss", name.as_str()), ("loss", "-beta")];
        edits.extend(required.iter().map(|l| ("loss", l.as_str())));
        edits.push(("loss", "bogus = 1"));
        rejects(&edits, "loss.bogus", &[spec.name]);
        // And with its required parameters alone, it builds.
        edits.pop();
        accepts(&edits);
    }
}

#[test]
fn optimizer_out_of_range() {
    for v in ["0", "-1", "nan", "inf"] {
        rejects(
            &[("optimizer", &format!("lr = {v}"))],
            "optimizer.lr",
            &["> 0"],
        );
    }
    rejects(
        &[("optimizer", "momentum = 1.0")],
        "optimizer.momentum",
        &["[0, 1)"],
    );
    rejects(
        &[("optimizer", "momentum = -0.1")],
        "optimizer.momentum",
        &[],
    );
    rejects(
        &[("optimizer", "beta1 = 0.9")],
        "optimizer.beta1",
        &["adam"],
    );
    rejects(&[("optimizer", "eps = 1e-8")], "optimizer.eps", &[]);
    let adam = ("optimizer", "name = \"adam\"");
    rejects(
        &[adam, ("optimizer", "beta2 = 1.0")],
        "optimizer.beta2",
        &[],
    );
    rejects(&[adam, ("optimizer", "eps = 0")], "optimizer.eps", &[]);
    rejects(
        &[adam, ("optimizer", "momentum = 0.5")],
        "optimizer.momentum",
        &[],
    );
    let rms = ("optimizer", "name = \"rmsprop\"");
    rejects(&[rms, ("optimizer", "alpha = 1")], "optimizer.alpha", &[]);
    accepts(&[rms, ("optimizer", "alpha = 0.5")]);
}

#[test]
fn run_lengths_out_of_range() {
    rejects(&[("", "epochs = 0")], "epochs", &[">= 1"]);
    rejects(&[("", "epochs = -5")], "epochs", &[">= 1"]);
    rejects(&[("", "record_every = 0")], "record_every", &[]);
    rejects(
        &[("reference", "tolerance = 0")],
        "reference.tolerance",
        &[],
    );
    rejects(
        &[("reference", "max_steps = 0")],
        "reference.max_steps",
        &[],
    );
    rejects(&[("reference", "lr = -0.01")], "reference.lr", &[]);
    unparsable(&[("", "epochs = 5.5")], &["epochs"]);
    unparsable(&[("", "seed = -1")], &["seed"]);
}

#[test]
fn policy_settings() {
    let mlp = ("policy", "kind = \"mlp\"");
    rejects(&[mlp, ("policy", "width = 0")], "policy.width", &[]);
    rejects(
        &[mlp, ("policy", "init_scale = 0")],
        "policy.init_scale",
        &[],
    );
    rejects(
        &[mlp, ("policy", "activation = \"sigmoid\"")],
        "policy.activation",
        &["sigmoid", "tanh", "relu"],
    );
    rejects(
        &[mlp, ("policy", "init = \"normal\"")],
        "policy.init",
        &["normal", "uniform", "xavier"],
    );
    rejects(&[("policy", "init = \"xavier\"")], "policy.init", &["mlp"]);
    rejects(&[("policy", "width = 8")], "policy.width", &["mlp"]);
    rejects(
        &[("policy", "activation = \"relu\"")],
        "policy.activation",
        &[],
    );
}

#[test]
fn unknown_names_list_the_allowed_ones() {
    let names: Vec<&str> = LOSSES.iter().map(|s| s.name).collect();
    rejects(&[("loss", "name = \"kto-pair\"")], "loss.name", &names);
    rejects(
        &[("loss", "name = \"kto-pair\"")],
        "loss.name",
        &["kto-pair"],
    );
    rejects(
        &[("policy", "kind = \"transformer\"")],
        "policy.kind",
        &POLICIES,
    );
    rejects(
        &[("optimizer", "name = \"adamw\"")],
        "optimizer.name",
        &OPTIMIZERS,
    );
    rejects(
        &[("data", "scenario = \"scenario5\"")],
        "data.scenario",
        &SCENARIOS,
    );
    rejects(
        &[("loss", "reduction = \"avg\"")],
        "loss.reduction",
        &["sum", "mean"],
    );
}

#[test]
fn unknown_fields_are_named() {
    rejects(&[("loss", "betta = 0.1")], "loss.betta", &["beta"]);
    unparsable(&[("", "epoch = 5")], &["`epoch`", "epochs"]);
    unparsable(&[("policy", "widht = 3")], &["`widht`", "width"]);
    unparsable(&[("optimizer", "lrate = 3")], &["`lrate`", "lr"]);
    unparsable(&[("reference", "tol = 3")], &["`tol`", "tolerance"]);
    unparsable(&[("data", "scenarios = \"scenario1\"")], &["`scenarios`"]);
    unparsable(&[("extra", "x = 1")], &["`extra`"]);
    // Missing required fields are named.
    unparsable(&[("", "-epochs")], &["epochs"]);
    unparsable(&[("loss", "-name")], &["name"]);
    unparsable(&[("optimizer", "-lr")], &["lr"]);
}

/// `[loss]` takes its parameters through a flattened map of numbers, so a
/// string-valued typo there is reported as a type error on the table.
#[test]
fn loss_type_errors_name_the_field() {
    unparsable(&[("loss", "reductoin = \"sum\"")], &["reductoin"]);
    unparsable(&[("loss", "beta = \"x\"")], &["beta"]);
}

#[test]
fn loss_type_errors_are_still_errors() {
    unparsable(&[("loss", "reductoin = \"sum\"")], &["numeric parameter"]);
    unparsable(&[("loss", "beta = \"x\"")], &["numeric parameter"]);
    unparsable(&[("loss", "beta = true")], &[]);
}

const CUSTOM: &str = "\
epochs = 5
[policy]
kind = \"tabular\"
[loss]
name = \"dpo\"
[optimizer]
name = \"sgd\"
lr = 1.0
[data]
";

fn custom(targets: &str, pairs: &str) -> String {
    format!("{CUSTOM}targets = {targets}\npairs = {pairs}\n")
}

fn rejects_custom(targets: &str, pairs: &str, field: &str, needles: &[&str]) {
    let toml = custom(targets, pairs);
    let err = build(&toml).expect_err(&toml);
    let msg = err.to_string();
    assert!(
        matches!(&err, Error::Config { field: f, .. } if f == field),
        "wrong field: {msg}"
    );
    for n in needles {
        assert!(msg.contains(n), "message `{msg}` lacks `{n}`");
    }
}

#[test]
fn explicit_data() {
    let ok = "[[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]]";
    build(&custom(ok, "[[0, 0, 1], [1, 2, 0]]")).unwrap();
    rejects_custom(
        "[[0.5, 0.25, 0.25], [0.2, -0.3, 1.1]]",
        "[[0, 0, 1]]",
        "data.targets[1][1]",
        &["> 0"],
    );
    rejects_custom(
        "[[0.5, 0.5, 0.0]]",
        "[[0, 0, 1]]",
        "data.targets[0][2]",
        &[],
    );
    rejects_custom(
        "[[0.5, 0.25, 0.25], [0.2, 0.3, nan]]",
        "[[0, 0, 1]]",
        "data.targets[1][2]",
        &[],
    );
    // Off by 1e-6: not a distribution.
    rejects_custom(
        "[[0.5, 0.25, 0.250001]]",
        "[[0, 0, 1]]",
        "data.targets[0]",
        &["sum"],
    );
    rejects_custom(
        "[[0.5, 0.25, 0.25], [0.5, 0.5]]",
        "[[0, 0, 1]]",
        "data.targets[1]",
        &[],
    );
    rejects_custom(ok, "[[2, 0, 1]]", "data.pairs[0]", &["prompt 2"]);
    rejects_custom(
        ok,
        "[[0, 0, 1], [1, 3, 0]]",
        "data.pairs[1]",
        &["chosen", "3"],
    );
    rejects_custom(
        ok,
        "[[0, 0, 1], [1, 0, 7]]",
        "data.pairs[1]",
        &["rejected", "7"],
    );
    rejects_custom(ok, "[[0, 1, 1]]", "data.pairs[0]", &["differ"]);
    rejects_custom(ok, "[[0, -1, 1]]", "data.pairs[0]", &[">= 0"]);
    rejects_custom(ok, "[[0, 1]]", "data.pairs[0]", &["3"]);
    rejects_custom(ok, "[]", "data.pairs", &[]);
    rejects_custom("[]", "[[0, 0, 1]]", "data.targets", &[]);
    rejects_custom("[[1.0]]", "[[0, 0, 1]]", "data.targets", &[]);
    // Scenario mixed with explicit data, or nothing at all.
    let mixed = format!("{}scenario = \"scenario1\"\n", custom(ok, "[[0, 0, 1]]"));
    assert!(matches!(build(&mixed), Err(Error::Config { field, .. }) if field == "data"));
    let none = CUSTOM.to_string();
    assert!(matches!(build(&none), Err(Error::Config { field, .. }) if field == "data"));
    rejects(&[("data", "optimal = [0, 1, 2, 3]")], "data.optimal", &[]);
    // The start-likelihood knobs.
    let knobs = |c: &str, r: &str| {
        [
            ("data", "-scenario".to_string()),
            ("data", format!("chosen_start = {c}")),
            ("data", format!("rejected_start = {r}")),
        ]
    };
    let edits = |k: &[(&'static str, String)]| {
        config_with(&k.iter().map(|(s, l)| (*s, l.as_str())).collect::<Vec<_>>())
    };
    build(&edits(&knobs("0.12", "0.02"))).unwrap();
    for (c, r, field) in [
        ("0", "0.02", "data.chosen_start"),
        ("0.25", "0.02", "data.chosen_start"),
        ("nan", "0.02", "data.chosen_start"),
        ("0.12", "-0.02", "data.rejected_start"),
        ("0.12", "inf", "data.rejected_start"),
        ("0.2", "0.1", "data.chosen_start"),
    ] {
        let toml = edits(&knobs(c, r));
        assert!(
            matches!(build(&toml), Err(Error::Config { field: f, .. }) if f == field),
            "{c}, {r}: {:?}",
            build(&toml)
        );
    }
    let half = edits(&knobs("0.12", "0.02")[..2]);
    assert!(
        matches!(build(&half), Err(Error::Config { field, .. }) if field == "data.rejected_start")
    );
    rejects(
        &[
            ("data", "chosen_start = 0.1"),
            ("data", "rejected_start = 0.1"),
        ],
        "data",
        &[],
    );
    let with_opt = format!("{}optimal = [0, 5]\n", custom(ok, "[[0, 0, 1]]"));
    assert!(
        matches!(build(&with_opt), Err(Error::Config { field, .. }) if field == "data.optimal")
    );
}

#[test]
fn config_files_that_cannot_be_read() {
    let missing = Path::new("/nonexistent/dpo-lab/config.toml");
    let e = Config::load(missing).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/dpo-lab/config.toml"));
    let e = Config::load(&std::env::temp_dir()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
}

// ---------------------------------------------------------------------------
// Output that cannot be written.

fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dpo-lab-test-bad-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A write that fails after some files are in place removes them, and the
/// directory when the call created it.
#[test]
fn failed_write_leaves_no_partial_directory() {
    let dir = temp_path("partial");
    let files = [
        ("a.csv", b"1\n".to_vec()),
        ("b.csv", b"2\n".to_vec()),
        // The parent `sub` does not exist: this write fails.
        ("sub/c.csv", b"3\n".to_vec()),
    ];
    assert!(write_files(&dir, &files).is_err());
    assert!(!dir.exists(), "{} was left behind", dir.display());

    // An existing directory survives; only this call's files are removed.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), "mine").unwrap();
    assert!(write_files(&dir, &files).is_err());
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["keep.txt"]);
    std::fs::remove_dir_all(&dir).unwrap();

    // The output path is a regular file.
    let file = temp_path("file");
    std::fs::write(&file, "x").unwrap();
    assert!(write_files(&file, &files[..1]).is_err());
    assert!(write_files(&file.join("sub"), &files[..1]).is_err());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    std::fs::remove_file(&file).unwrap();
}

// ---------------------------------------------------------------------------
// The binary.

struct Outcome {
    code: Option<i32>,
    stderr: String,
}

fn run_bin(args: &[&std::ffi::OsStr]) -> Outcome {
    let o = Command::new(env!("CARGO_BIN_EXE_dpo-lab"))
        .args(args)
        .output()
        .unwrap();
    Outcome {
        code: o.status.code(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Runs `dpo-lab run CONFIG --out OUT` and checks the failure contract.
fn bin_rejects(config: &Path, out: &Path, needles: &[&str]) {
    let o = run_bin(&[
        "run".as_ref(),
        config.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(o.code, Some(2), "exit code; stderr: {}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    for n in needles {
        assert!(o.stderr.contains(n), "stderr `{}` lacks `{n}`", o.stderr);
    }
    assert!(
        !out.exists() || out.is_file(),
        "{} was created",
        out.display()
    );
}

#[test]
fn binary_rejects_bad_configs() {
    let dir = temp_path("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let all_losses: Vec<&str> = LOSSES.iter().map(|s| s.name).collect();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (config_with(&[("loss", "beta = 0")]), vec!["loss.beta"]),
        (config_with(&[("loss", "beta = nan")]), vec!["loss.beta"]),
        (config_with(&[("loss", "beta = -inf")]), vec!["loss.beta"]),
        (
            config_with(&[
                ("loss", "name = \"ipo\""),
                ("loss", "-beta"),
                ("loss", "tau = 0"),
            ]),
            vec!["loss.tau"],
        ),
        (
            config_with(&[("loss", "name = \"sft-dpo\""), ("loss", "gamma = -1")]),
            vec!["loss.gamma"],
        ),
        (
            config_with(&[("optimizer", "lr = 0")]),
            vec!["optimizer.lr"],
        ),
        (config_with(&[("", "epochs = 0")]), vec!["epochs"]),
        (config_with(&[("", "epochs = -3")]), vec!["epochs"]),
        (
            config_with(&[("loss", "name = \"kto-pair\"")]),
            [vec!["loss.name"], all_losses.clone()].concat(),
        ),
        (
            config_with(&[("policy", "kind = \"rnn\"")]),
            [vec!["policy.kind"], POLICIES.to_vec()].concat(),
        ),
        (
            config_with(&[("optimizer", "name = \"lion\"")]),
            [vec!["optimizer.name"], OPTIMIZERS.to_vec()].concat(),
        ),
        (
            config_with(&[("data", "scenario = \"scenario0\"")]),
            [vec!["data.scenario"], SCENARIOS.to_vec()].concat(),
        ),
        (config_with(&[("loss", "betta = 0.1")]), vec!["loss.betta"]),
        (config_with(&[("", "epoch = 5")]), vec!["`epoch`", "epochs"]),
        (
            custom("[[0.5, 0.6, -0.1]]", "[[0, 0, 1]]"),
            vec!["data.targets[0][2]"],
        ),
        (
            custom("[[0.5, 0.25, 0.250001]]", "[[0, 0, 1]]"),
            vec!["data.targets[0]", "sum"],
        ),
        (
            custom("[[0.5, 0.25, 0.25]]", "[[1, 0, 1]]"),
            vec!["data.pairs[0]", "prompt"],
        ),
        (
            custom("[[0.5, 0.25, 0.25]]", "[[0, 0, 3]]"),
            vec!["data.pairs[0]", "rejected"],
        ),
        (
            custom("[[0.5, 0.25, 0.25]]", "[[0, 2, 2]]"),
            vec!["data.pairs[0]", "differ"],
        ),
        ("epochs = [".to_string(), vec!["not a valid run config"]),
    ];
    for (i, (toml, needles)) in cases.iter().enumerate() {
        let cfg = dir.join(format!("c{i}.toml"));
        std::fs::write(&cfg, toml).unwrap();
        bin_rejects(&cfg, &dir.join(format!("out{i}")), needles);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn binary_rejects_unreadable_configs_and_unwritable_outputs() {
    let dir = temp_path("io");
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, config_with(&[])).unwrap();
    let out = dir.join("out");
    // Missing config file, and a directory given as the config.
    let missing = dir.join("missing.toml");
    bin_rejects(&missing, &out, &["missing.toml", "cannot read config"]);
    bin_rejects(&dir, &out, &["cannot read config"]);
    // An output path under a regular file, or that is one.
    bin_rejects(&good, Path::new("/dev/null/x"), &["/dev/null/x"]);
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    bin_rejects(&good, &file.join("out"), &["a-file"]);
    bin_rejects(&good, &file, &["a-file", "not a directory"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    // And the good config does run.
    let o = run_bin(&[
        "run".as_ref(),
        good.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(out.join("summary.csv").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn binary_usage_errors() {
    let dir = temp_path("usage");
    let good = dir.join("good.toml");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&good, config_with(&[])).unwrap();
    let g = good.as_os_str();
    let out = dir.join("out");
    let o_ = out.as_os_str();
    let cases: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec![],
        vec!["frobnicate".as_ref()],
        vec!["run".as_ref()],
        vec!["run".as_ref(), g],
        vec!["run".as_ref(), g, "--out".as_ref()],
        vec!["run".as_ref(), g, "--out".as_ref(), o_, "--bogus".as_ref()],
        vec!["run".as_ref(), g, g, "--out".as_ref(), o_],
    ];
    for args in cases {
        let o = run_bin(&args);
        assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
        // clap's message: what is wrong and where the help is (or the help).
        assert!(o.stderr.contains("--help"), "{args:?}: {}", o.stderr);
        assert!(!o.stderr.contains("panicked"));
        assert!(!out.exists());
    }
    for help in [
        &["help"][..],
        &["--help"],
        &["run", "--help"],
        &["help", "sweep"],
    ] {
        let args: Vec<&std::ffi::OsStr> = help.iter().map(|a| a.as_ref()).collect();
        assert_eq!(run_bin(&args).code, Some(0), "{help:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--out ""` would write into the current directory; every subcommand that
/// takes `--out` names it as an error, exit 2, before any work.
#[test]
fn empty_out_is_a_named_error() {
    let dir = temp_path("empty-out");
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, config_with(&[])).unwrap();
    let g = good.as_os_str();
    let cases: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec!["run".as_ref(), g, "--out".as_ref(), "".as_ref()],
        vec!["run".as_ref(), g, "-o".as_ref(), "".as_ref()],
        vec!["run".as_ref(), g, "--out=".as_ref()],
        vec!["sweep".as_ref(), g, "--out".as_ref(), "".as_ref()],
        vec!["merge".as_ref(), "--out".as_ref(), "".as_ref(), g],
        vec![
            "bench".as_ref(),
            "--quick".as_ref(),
            "--out".as_ref(),
            "".as_ref(),
        ],
        vec!["calibrate".as_ref(), g, "--out".as_ref(), "".as_ref()],
        vec!["run".as_ref(), g, "--out".as_ref(), " ".as_ref()],
        vec!["sweep".as_ref(), g, "--out".as_ref(), "\t ".as_ref()],
    ];
    for args in cases {
        // Run from `dir`, so that a write into "the current directory" shows.
        let o = Command::new(env!("CARGO_BIN_EXE_dpo-lab"))
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        let o = Outcome {
            code: o.status.code(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
        let blank = args
            .iter()
            .any(|a| !a.is_empty() && a.to_string_lossy().trim().is_empty());
        let what = if blank { "blanks only" } else { "empty path" };
        for needle in ["--out", what] {
            assert!(
                o.stderr.contains(needle),
                "{args:?}: `{}` lacks `{needle}`",
                o.stderr
            );
        }
        assert!(!o.stderr.contains("panicked"));
    }
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        ["good.toml"],
        "a file appeared in the current directory"
    );
    // The library refuses it too (`write_run` and what `run` calls).
    let e = dpo_lab::io::output::RunOutput::begin(Path::new(""), "", 10, true)
        .err()
        .expect("an empty directory name was accepted");
    assert!(e.to_string().contains("--out is empty"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `dpo-lab bench --jax PYTHON` with a Python that cannot import JAX (or
/// does not exist) fails at once, before any timing: exit 2, the flag
/// named, no output directory.
#[test]
fn bench_refuses_a_python_without_jax() {
    let dir = temp_path("bench-jax");
    for python in ["/nonexistent/python3", "false"] {
        let out = dir.join("out");
        let o = run_bin(&[
            "bench".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "--jax".as_ref(),
            python.as_ref(),
        ]);
        assert_eq!(o.code, Some(2), "{python}: {}", o.stderr);
        assert!(
            o.stderr.contains("--jax") && o.stderr.contains("import jax"),
            "{}",
            o.stderr
        );
        assert!(!out.exists(), "{} was created", out.display());
        // Refused before the first case (its table header) was timed.
        assert!(!o.stderr.contains("steps/s"), "{}", o.stderr);
    }
}
