//! Policies: normalised rows, deterministic MLP initialisation with the
//! documented layout and bounds, and the SFT reference step on every scenario.

mod common;
use common::assert_rows_normalised;
use dpo_lab::engine::reference::ReferenceSettings;
use dpo_lab::engine::reference::{fit_reference, max_err};
use dpo_lab::io::config::Config;
use dpo_lab::maths::data::{Dataset, SCENARIOS};
use dpo_lab::maths::policy::log_probs;
use dpo_lab::maths::policy::{Activation, Mlp, MlpInit, Policy, Tabular};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_251_203),
        ..ProptestConfig::default()
    }
}

fn activation() -> impl Strategy<Value = Activation> {
    prop::sample::select(vec![Activation::Tanh, Activation::Relu])
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn tabular_rows_sum_to_one(
        x in 1..6usize, y in 2..12usize,
        seed in any::<u64>(),
        logits in prop::collection::vec(-50.0..50.0f64, 72),
        big in prop::sample::select(vec![1.0, 20.0]),
    ) {
        let p = Tabular { n_prompts: x, n_responses: y };
        prop_assert_eq!(p.n_params(), x * y);
        let init = p.init_params(seed);
        prop_assert_eq!(init.len(), x * y);
        // The tabular start is uniform.
        for l in log_probs(&p, &init) {
            prop_assert!((l + (y as f64).ln()).abs() < 1e-14);
        }
        let params: Vec<f64> = logits[..x * y].iter().map(|v| v * big).collect();
        assert_rows_normalised(&p, &params)?;
        // Tabular logits are the parameters, as the training loop assumes
        // when it reads them in place.
        prop_assert!(p.logits_are_params());
        let mut logits_out = vec![0.0; x * y];
        p.forward(&params, &mut [], &mut logits_out);
        prop_assert_eq!(&logits_out, &params);
    }

    #[test]
    fn mlp_rows_sum_to_one(
        x in 1..6usize, y in 2..12usize, width in 1..9usize,
        act in activation(),
        init_scale in 0.1..5.0f64,
        seed in any::<u64>(),
        noise in prop::collection::vec(-3.0..3.0f64, 300),
    ) {
        let p = Mlp { n_prompts: x, n_responses: y, width, activation: act, init_scale, init: MlpInit::Uniform };
        prop_assert_eq!(p.n_params(), width * x + width + width * width + width + y * width + y);
        prop_assert!(p.n_params() <= noise.len());
        let mut params = p.init_params(seed);
        prop_assert_eq!(params.len(), p.n_params());
        assert_rows_normalised(&p, &params)?;
        for (v, e) in params.iter_mut().zip(&noise) {
            *v += e;
        }
        assert_rows_normalised(&p, &params)?;
    }

    /// `init_params` is a function of the seed, within the documented bounds
    /// `±init_scale/√fan_in` per layer (layout W1, b1, W2, b2, W3, b3).
    #[test]
    fn mlp_init_is_deterministic_and_bounded(
        seed in any::<u64>(), width in 1..70usize, act in activation(), init_scale in 0.1..5.0f64,
    ) {
        let (x, y) = (4usize, 10usize);
        let p = Mlp { n_prompts: x, n_responses: y, width, activation: act, init_scale, init: MlpInit::Uniform };
        let a = p.init_params(seed);
        let b = p.init_params(seed);
        prop_assert_eq!(&a, &b);
        let c = p.init_params(seed.wrapping_add(1));
        prop_assert_ne!(&a, &c);
        let layers = [(width * x, x), (width, x), (width * width, width), (width, width), (y * width, width), (y, width)];
        let mut at = 0;
        for (len, fan_in) in layers {
            let k = init_scale / (fan_in as f64).sqrt();
            let chunk = &a[at..at + len];
            prop_assert!(chunk.iter().all(|v| v.abs() <= k), "layer at {at}: bound {k}");
            // Not degenerate: with ≥ 8 entries some use a good part of the range.
            if len >= 8 {
                prop_assert!(chunk.iter().any(|v| v.abs() > 0.1 * k));
            }
            at += len;
        }
        prop_assert_eq!(at, a.len());
    }
}

/// Different prompts get different rows from a random MLP (the one-hot
/// input reaches the output), and seeds give different functions.
#[test]
fn mlp_prompts_and_seeds_differ() {
    let p = Mlp {
        n_prompts: 4,
        n_responses: 10,
        width: 8,
        activation: Activation::Tanh,
        init_scale: 1.0,
        init: MlpInit::Uniform,
    };
    let l0 = log_probs(&p, &p.init_params(0));
    let l1 = log_probs(&p, &p.init_params(1));
    assert_ne!(l0, l1);
    for r in 1..4 {
        assert_ne!(
            l0[..10],
            l0[r * 10..(r + 1) * 10],
            "prompt {r} equals prompt 0"
        );
    }
    assert!(p.exact_params(&[0.0; 40]).is_none());
}

/// Xavier initialisation: each weight matrix within `±√(6/(fan_in + fan_out))`
/// and filling it (the bound is reached to within 5 %), biases exactly 0;
/// the default family is unchanged by the new field (bounds `1/√fan_in`).
#[test]
fn mlp_xavier_bounds_and_zero_biases() {
    let (x, h, y) = (4, 64, 10);
    for init in [MlpInit::Xavier, MlpInit::Uniform] {
        let p = Mlp {
            n_prompts: x,
            n_responses: y,
            width: h,
            activation: Activation::Relu,
            init_scale: 1.0,
            init,
        };
        let w = p.init_params(3);
        let mut at = 0;
        for (rows, fan_in) in [(h, x), (h, h), (y, h)] {
            let bound = match init {
                MlpInit::Xavier => (6.0 / (fan_in + rows) as f64).sqrt(),
                MlpInit::Uniform => 1.0 / (fan_in as f64).sqrt(),
            };
            let weights = &w[at..at + rows * fan_in];
            let max = weights.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(
                max <= bound && max > 0.95 * bound,
                "{init:?} {max} vs {bound}"
            );
            let biases = &w[at + rows * fan_in..at + rows * fan_in + rows];
            match init {
                MlpInit::Xavier => assert!(biases.iter().all(|&b| b == 0.0)),
                MlpInit::Uniform => assert!(biases.iter().any(|&b| b != 0.0)),
            }
            at += rows * fan_in + rows;
        }
        assert_eq!(at, w.len());
    }
}

/// The reference settings a config gets by default.
fn default_settings(policy: &str) -> ReferenceSettings {
    let toml = format!(
        "epochs = 1\n[policy]\nkind = \"{policy}\"\n[data]\nscenario = \"scenario1\"\n\
         [loss]\nname = \"dpo\"\n[optimizer]\nname = \"adam\"\nlr = 0.001\n"
    );
    let s = Config::from_toml_str(&toml)
        .unwrap()
        .build()
        .unwrap()
        .reference;
    assert_eq!(
        s,
        ReferenceSettings {
            tolerance: 1e-5,
            max_steps: 100_000,
            lr: 0.01
        }
    );
    s
}

fn flat_targets(d: &Dataset) -> Vec<f64> {
    d.targets.iter().flatten().copied().collect()
}

/// The paper's SFT step: the width-64 tanh MLP matches every scenario's targets.
#[test]
fn mlp_reference_fits_every_scenario() {
    let settings = default_settings("mlp");
    for name in SCENARIOS {
        let data = Dataset::scenario(name).unwrap();
        let targets = flat_targets(&data);
        let policy = Mlp {
            n_prompts: data.n_prompts,
            n_responses: data.n_responses,
            width: 64,
            activation: Activation::Tanh,
            init_scale: 1.0,
            init: MlpInit::Uniform,
        };
        let mut params = policy.init_params(0);
        let before = max_err(&policy, &params, &targets);
        let fit = fit_reference(&policy, &mut params, &targets, &settings);
        let after = max_err(&policy, &params, &targets);
        assert!(
            before > 0.01,
            "{name}: the random init already fits ({before})"
        );
        assert_eq!(
            fit.max_abs_err, after,
            "{name}: reported error is not the real one"
        );
        assert!(fit.max_abs_err <= 1e-4, "{name}: {fit:?}");
        assert!(
            fit.converged && fit.max_abs_err <= settings.tolerance,
            "{name}: {fit:?}"
        );
        assert!(
            fit.steps > 0 && fit.steps < settings.max_steps,
            "{name}: {fit:?}"
        );
    }
}

/// A fit that cannot converge in the step budget says so.
#[test]
fn mlp_reference_reports_non_convergence() {
    let data = Dataset::scenario("scenario4").unwrap();
    let targets = flat_targets(&data);
    let policy = Mlp {
        n_prompts: 4,
        n_responses: 10,
        width: 8,
        activation: Activation::Tanh,
        init_scale: 1.0,
        init: MlpInit::Uniform,
    };
    let mut params = policy.init_params(3);
    let settings = ReferenceSettings {
        tolerance: 1e-5,
        max_steps: 3,
        lr: 0.01,
    };
    let fit = fit_reference(&policy, &mut params, &targets, &settings);
    assert_eq!(fit.steps, 3);
    assert!(!fit.converged && fit.max_abs_err > 1e-5, "{fit:?}");
}

/// The tabular reference is exact: logits are `ln(target)`, no steps.
#[test]
fn tabular_reference_is_exact() {
    let settings = default_settings("tabular");
    for name in SCENARIOS {
        let data = Dataset::scenario(name).unwrap();
        let targets = flat_targets(&data);
        let policy = Tabular {
            n_prompts: data.n_prompts,
            n_responses: data.n_responses,
        };
        let mut params = policy.init_params(0);
        let fit = fit_reference(&policy, &mut params, &targets, &settings);
        assert_eq!(fit.steps, 0);
        assert!(fit.converged);
        let ln_t: Vec<f64> = targets.iter().map(|t| t.ln()).collect();
        assert_eq!(params, ln_t, "{name}: logits are not ln(target)");
        assert!(fit.max_abs_err < 1e-15, "{name}: {fit:?}");
        for (l, t) in log_probs(&policy, &params).iter().zip(&targets) {
            assert!((l.exp() - t).abs() < 1e-15);
        }
    }
}

/// Log-probabilities are shift-invariant to full precision: a row of huge
/// logits gives the same log-softmax as the same row shifted to zero (an
/// implementation computing `z - (m + ln Σ)` loses the ulp of `m`).
#[test]
fn log_probs_are_accurate_for_large_logits() {
    let p = Tabular {
        n_prompts: 1,
        n_responses: 10,
    };
    // Multiples of 1/4: the shifted rows are exact in f64.
    let base: Vec<f64> = (0..10).map(|i| -(i as f64) * 0.75).collect();
    let want = log_probs(&p, &base);
    for shift in [1e3, -1e3, 1e6, 1e9] {
        let shifted: Vec<f64> = base.iter().map(|v| v + shift).collect();
        let got = log_probs(&p, &shifted);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-14, "shift {shift}: {g} vs {w}");
        }
    }
}
