//! `precision = "f32-native"`: the training loop computing in float32
//! (`dpo_lab::maths::policy::native`, `dpo_lab::engine::train::native`).
//!
//! - The generic loop at `T = f64` is the f64 loop up to summation order:
//!   the native path is the same algorithm, only the float type differs.
//! - At `T = f32` it agrees with f64 within a bound that follows from
//!   float32's precision over the first epochs, and it really computes in
//!   float32: its log-probabilities are float32 numbers, and it differs
//!   from the storage emulation (`precision = "f32"`), whose arithmetic
//!   inside an operation is f64.
//! - Families without a native path are refused by name.

use dpo_lab::engine::metrics::MetricsRow;
use dpo_lab::engine::train::native::train_native;
use dpo_lab::engine::train::{prepare, train, Finished, Keep, Recorder, RunResult, RunSpec};
use dpo_lab::io::config::Config;
use dpo_lab::maths::precision::is_f32_exact;
use std::convert::Infallible;

/// A run config on scenario `scenario` with the given `[policy]` and
/// `[optimizer]` tables.
fn config(policy: &str, optimizer: &str, scenario: &str, epochs: usize, precision: &str) -> String {
    format!(
        "seed = 3\nepochs = {epochs}\nrecord_every = 1\nprecision = \"{precision}\"\n\n\
         [policy]\n{policy}\n\n[data]\nscenario = \"{scenario}\"\n\n\
         [reference]\nmax_steps = 400\n\n\
         [loss]\nname = \"dpo\"\nbeta = 0.1\nreduction = \"sum\"\n\n\
         [optimizer]\n{optimizer}\n"
    )
}

fn spec(toml: &str) -> RunSpec {
    Config::from_toml_str(toml)
        .and_then(|c| c.resolved())
        .and_then(|r| r.build())
        .unwrap_or_else(|e| panic!("{e}\n{toml}"))
}

const POLICIES: [(&str, &str); 3] = [
    ("tabular", "kind = \"tabular\""),
    (
        "mlp-relu-64",
        "kind = \"mlp\"\nwidth = 64\nactivation = \"relu\"\ninit = \"xavier\"",
    ),
    (
        "mlp-tanh-19",
        "kind = \"mlp\"\nwidth = 19\nactivation = \"tanh\"",
    ),
];

const OPTIMIZERS: [(&str, &str); 4] = [
    ("sgd", "name = \"sgd\"\nlr = 0.5"),
    ("sgd-momentum", "name = \"sgd\"\nlr = 0.1\nmomentum = 0.9"),
    ("adam", "name = \"adam\"\nlr = 0.01"),
    ("rmsprop", "name = \"rmsprop\"\nlr = 0.003"),
];

/// Keeps the metrics rows.
#[derive(Default)]
struct Rows(Vec<MetricsRow>, Vec<Vec<f64>>);

impl Recorder for Rows {
    type Error = Infallible;
    fn metrics(&mut self, row: MetricsRow) -> Result<(), Infallible> {
        self.0.push(row);
        Ok(())
    }
    fn snapshot(&mut self, _: usize, logp: &[f64], _: Vec<f64>) -> Result<(), Infallible> {
        self.1.push(logp.to_vec());
        Ok(())
    }
}

/// The native loop at `T = f64` from the f64 start.
fn native_f64(spec: &RunSpec) -> (Rows, Finished) {
    let mut rows = Rows::default();
    let Ok(done) = train_native::<f64, _>(spec, prepare(spec), Keep::ALL, &mut rows);
    (rows, done)
}

/// Largest `|log π_a - log π_b|` over every recorded epoch and entry.
fn max_logp_gap(a: &[Vec<f64>], b: &[(usize, Vec<f64>)]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, (_, y))| x.iter().zip(y).map(|(u, v)| (u - v).abs()))
        .fold(0.0, f64::max)
}

/// At `T = f64` the native loop is the f64 loop but for the order of the
/// sums inside the matrix products (its own fixed order): over 200 epochs
/// of every optimiser on every native family, the log-probabilities agree
/// to 1e-9 and the D-score facts to 1e-9 relative.
#[test]
fn the_generic_loop_in_f64_is_the_f64_loop() {
    for (pname, policy) in POLICIES {
        for (oname, opt) in OPTIMIZERS {
            let s = spec(&config(policy, opt, "scenario2", 200, "f64"));
            let reference = train(&s, Keep::ALL);
            let (rows, done) = native_f64(&s);
            assert_eq!(rows.0.len(), reference.metrics.len(), "{pname}/{oname}");
            let gap = max_logp_gap(&rows.1, &reference.snapshots);
            assert!(gap < 1e-9, "{pname}/{oname}: log π differs by {gap:e}");
            let (a, b) = (&done.summary, &reference.summary);
            assert_eq!(a.diverged, b.diverged, "{pname}/{oname}");
            let rel = |x: f64, y: f64| (x - y).abs() / y.abs().max(1e-300);
            for (what, x, y) in [
                ("drop", a.drop, b.drop),
                ("degradation", a.degradation, b.degradation),
                ("dispersion", a.dispersion, b.dispersion),
            ] {
                assert!(rel(x, y) < 1e-9, "{pname}/{oname}: {what} {x} vs {y}");
            }
        }
    }
}

fn run(toml: &str) -> RunResult {
    train(&spec(toml), Keep::ALL)
}

/// The f32 path against f64 over the first 30 epochs: every
/// log-probability within 1e-4 (float32's ε is 1.2e-7; measured when this
/// bound was set: at most 5.5e-7 on the tabular policy, 3.3e-5 on the
/// width-64 MLP with SGD momentum — 30 steps amplify the rounding of sums
/// of 64 products), and not equal to f64 (it does round).
#[test]
fn f32_native_agrees_with_f64_over_the_first_epochs() {
    for (pname, policy) in POLICIES {
        for (oname, opt) in OPTIMIZERS {
            let a = run(&config(policy, opt, "scenario1", 30, "f64"));
            let b = run(&config(policy, opt, "scenario1", 30, "f32-native"));
            assert!(!b.summary.diverged, "{pname}/{oname}");
            let gap = max_logp_gap(
                &b.snapshots
                    .iter()
                    .map(|(_, l)| l.clone())
                    .collect::<Vec<_>>(),
                &a.snapshots,
            );
            assert!(gap < 1e-4, "{pname}/{oname}: |Δ log π| = {gap:e}");
            assert!(gap > 0.0, "{pname}/{oname}: f32-native equals f64");
        }
    }
}

/// Every log-probability and probability the f32 path hands on is a
/// float32 number, and its run differs from the storage emulation (whose
/// arithmetic inside one operation is f64): the path really computes in f32.
#[test]
fn f32_native_computes_in_float32() {
    for (pname, policy) in POLICIES {
        let opt = OPTIMIZERS[2].1;
        let native = run(&config(policy, opt, "scenario3", 40, "f32-native"));
        let emulated = run(&config(policy, opt, "scenario3", 40, "f32"));
        for (e, l) in &native.snapshots {
            assert!(l.iter().all(|&x| is_f32_exact(x)), "{pname}: epoch {e}");
        }
        assert!(native.ref_logp.iter().all(|&x| is_f32_exact(x)), "{pname}");
        let differs = native
            .snapshots
            .iter()
            .zip(&emulated.snapshots)
            .any(|((_, a), (_, b))| a != b);
        assert!(differs, "{pname}: f32-native gave the emulation's bits");
    }
}

/// A family without a native path is refused, naming the field and the
/// families that have one; the emulation still accepts it.
#[test]
fn families_without_a_native_path_are_refused() {
    for kind in ["loglinear", "shared-bias"] {
        let toml = config(
            &format!("kind = \"{kind}\""),
            OPTIMIZERS[2].1,
            "scenario1",
            5,
            "f32-native",
        );
        let err = Config::from_toml_str(&toml)
            .and_then(|c| c.resolved())
            .and_then(|r| r.build())
            .expect_err("f32-native on a family without a native path");
        let msg = err.to_string();
        assert!(msg.contains("precision"), "{msg}");
        assert!(msg.contains("\"tabular\" or \"mlp\""), "{msg}");
        let ok = config(
            &format!("kind = \"{kind}\""),
            OPTIMIZERS[2].1,
            "scenario1",
            5,
            "f32",
        );
        spec(&ok);
    }
    for spec in dpo_lab::maths::policy::POLICIES {
        let native = spec.native;
        let toml = config(
            &format!("kind = \"{}\"", spec.name),
            OPTIMIZERS[2].1,
            "scenario1",
            5,
            "f32-native",
        );
        let built = Config::from_toml_str(&toml)
            .and_then(|c| c.resolved())
            .and_then(|r| r.build());
        assert_eq!(
            built.is_ok(),
            native,
            "{}: registry says native = {native}",
            spec.name
        );
    }
}
