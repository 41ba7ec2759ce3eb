//! The benchmark times the runs `dpo-lab run` performs: the configs in
//! `experiments/bench-*.toml` give, bit for bit, the benchmarked results.

use dpo_lab::engine::train::{prepare, train, train_from, Keep};
use dpo_lab::io::config::Config;
use dpo_lab::maths::data::Dataset;
use dpo_lab::studies::bench::{dpo_adam_spec, policy_for, same_bits, NO_RECORDS};
use std::path::Path;

fn check(file: &str, kind: &str, width: usize, epochs: i64) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(file);
    let mut cfg = Config::load(&path).unwrap();
    cfg.epochs = epochs;
    cfg.record_every = Some(epochs);
    let from_config = train(&cfg.resolved().unwrap().build().unwrap(), Keep::ALL);

    let data = Dataset::scenario("scenario1").unwrap();
    let spec = dpo_adam_spec(policy_for(kind, width, 4, 10), data, epochs as usize, 0);
    let timed = train_from(&spec, prepare(&spec), NO_RECORDS);
    assert!(
        same_bits(&timed.summary, &from_config.summary),
        "{file}: {:?} vs {:?}",
        timed.summary,
        from_config.summary
    );
    assert!(!timed.summary.diverged && timed.summary.drop > 0.5);
}

#[test]
fn benchmarked_mlp_run_is_the_config_run() {
    check("bench-mlp.toml", "mlp", 64, 400);
}

#[test]
fn benchmarked_tabular_run_is_the_config_run() {
    check("bench-tabular.toml", "tabular", 0, 2000);
}

/// The benchmark times the network the figures use: `bench-mlp.toml`'s
/// policy (which the benchmark reads) is `fig2.toml`'s but for the width,
/// which the benchmark sweeps.
#[test]
fn benchmarked_mlp_is_the_figures_mlp() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let policy = |f: &str| {
        let mut p = Config::load(&dir.join(f)).unwrap().policy;
        p.width = None;
        p
    };
    let fig2 = policy("fig2.toml");
    assert_eq!(policy("bench-mlp.toml"), fig2);
    let (activation, init_scale, init) = dpo_lab::studies::bench::mlp_setting();
    assert_eq!(
        Some(init),
        dpo_lab::maths::policy::MlpInit::parse(fig2.init.as_deref().unwrap_or("uniform"))
    );
    let fig2_activation = fig2.activation.as_deref().unwrap_or("tanh");
    assert_eq!(
        Some(activation),
        dpo_lab::maths::policy::Activation::parse(fig2_activation)
    );
    assert_eq!(Some(init_scale), fig2.init_scale);
}

/// `bench --quick` shortens the long cases tenfold but never times a case
/// over fewer than `MIN_QUICK_STEPS` steps, where first-touch page faults
/// of the large response spaces would dominate the time per step.
#[test]
fn quick_bench_never_times_too_few_steps() {
    use dpo_lab::studies::bench::{case_epochs, MIN_QUICK_STEPS};
    // The full lengths of bench's cases (paper toy; scale cases 4 × 10..100 000).
    assert_eq!(case_epochs(200_000, true), 20_000);
    assert_eq!(case_epochs(2_000, true), 200);
    assert_eq!(case_epochs(50, true), MIN_QUICK_STEPS);
    assert_eq!(case_epochs(20, true), 20, "never longer than the full case");
    assert_eq!(case_epochs(50, false), 50);
    for full in [20, 50, 100, 499, 500, 501, 1_953, 100_000] {
        let q = case_epochs(full, true);
        assert!(q <= full && q >= full.min(MIN_QUICK_STEPS), "{full} -> {q}");
    }
}
