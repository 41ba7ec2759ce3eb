//! The policies between tabular and MLP: tabular plus a shared bias, and the
//! log-linear policy `U Vᵀ + b`. Finite-difference gradients through every
//! loss (with `V` frozen and trainable), normalised rows, the exact cosine
//! of the `pair_similarity` knob, the CHES score, the reference step, and
//! the config's checks of the new fields.

mod common;
use common::*;
use dpo_lab::engine::reference::ReferenceSettings;
use dpo_lab::engine::reference::{fit_reference, max_err};
use dpo_lab::error::Error;
use dpo_lab::io::config::{Config, POLICIES};
use dpo_lab::maths::data::{Dataset, PAPER_PAIRS, SCENARIOS};
use dpo_lab::maths::loss::{self, PairLoss, LOSSES};
use dpo_lab::maths::policy::log_probs;
use dpo_lab::maths::policy::{Loglinear, Policy, SharedBias};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(debug_assertions) {
            cases.div_ceil(4)
        } else {
            cases
        },
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_251_203),
        ..ProptestConfig::default()
    }
}

fn paper_pairs() -> Vec<(usize, usize)> {
    PAPER_PAIRS.iter().map(|&(_, c, r)| (c, r)).collect()
}

fn loglinear(dim: usize, freeze: bool, s: Option<f64>, init_scale: f64) -> Loglinear {
    Loglinear {
        n_prompts: X,
        n_responses: Y,
        dim,
        freeze_responses: freeze,
        pair_similarity: s,
        init_scale,
        pairs: paper_pairs(),
    }
}

fn default_loss(name: &str) -> Box<dyn PairLoss> {
    let spec = loss::spec(name).unwrap();
    (spec.build)(&loss::resolve_params(spec, &BTreeMap::new()).unwrap())
}

fn total_loss(policy: &dyn Policy, f: &dyn PairLoss, params: &[f64], ref_logp: &[f64]) -> f64 {
    let mut scratch = vec![0.0; policy.scratch_len()];
    let mut logits = vec![0.0; X * Y];
    policy.forward(params, &mut scratch, &mut logits);
    let logp = row_log_softmax(&logits);
    PAIRS
        .iter()
        .map(|&p| f.eval(&lp_of(&logp, ref_logp, p)).value)
        .sum()
}

fn analytic_grad(
    policy: &dyn Policy,
    f: &dyn PairLoss,
    params: &[f64],
    ref_logp: &[f64],
) -> Vec<f64> {
    let mut scratch = vec![0.0; policy.scratch_len()];
    let mut logits = vec![0.0; X * Y];
    policy.forward(params, &mut scratch, &mut logits);
    let logp = row_log_softmax(&logits);
    let mut dlogits = vec![0.0; X * Y];
    for &p in &PAIRS {
        let ev = f.eval(&lp_of(&logp, ref_logp, p));
        // The chain rule through log-softmax, written out here so that the
        // check does not lean on the training loop's helper.
        for a in 0..Y {
            let pi = logp[p.0 * Y + a].exp();
            dlogits[p.0 * Y + a] += ev.d_plus * (f64::from(u8::from(a == p.1)) - pi)
                + ev.d_minus * (f64::from(u8::from(a == p.2)) - pi);
        }
    }
    // Garbage in the output buffer must be overwritten, not accumulated.
    let mut grad = vec![f64::NAN; params.len()];
    policy.backward(params, &mut scratch, &dlogits, &mut grad);
    grad
}

fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}

/// Central difference, or `None` at a kink of the loss.
fn central(f: impl Fn(f64) -> f64, x: f64, h: f64) -> Option<f64> {
    let (fp, f0, fm) = (f(x + h), f(x), f(x - h));
    let (right, left) = ((fp - f0) / h, (f0 - fm) / h);
    let c = (fp - fm) / (2.0 * h);
    // Richardson's extrapolation with the central difference at h/2: error
    // O(h⁴), so steep losses (ORPO at a large init scale) check as tightly.
    ((right - left).abs() <= 1e-3 * (1.0 + c.abs()))
        .then(|| (4.0 * (f(x + h / 2.0) - f(x - h / 2.0)) / h - c) / 3.0)
}

/// Checks the gradient of every loss (at defaults) against central
/// differences on the parameters `k` for which `check(k)`; the others must
/// have a gradient of exactly zero when `zero_elsewhere`.
fn check_gradients(
    name: &str,
    policy: &dyn Policy,
    params: &[f64],
    ref_logp: &[f64],
    check: impl Fn(usize) -> bool,
    zero_elsewhere: bool,
) -> Result<(), TestCaseError> {
    let mut checked = 0usize;
    let mut skipped = 0usize;
    // Per-triple losses only: the batch-level ones (their spec says so) are
    // checked end to end through `eval_pairs` in tests/gradients.rs; the
    // policies' back-propagation does not depend on the loss.
    for spec in LOSSES.iter().filter(|s| !s.batch_level) {
        let f = default_loss(spec.name);
        let f = f.as_ref();
        let g = analytic_grad(policy, f, params, ref_logp);
        let l0 = total_loss(policy, f, params, ref_logp);
        prop_assert!(l0.is_finite(), "{name} / {}: loss {l0}", spec.name);
        for (k, &gk) in g.iter().enumerate() {
            prop_assert!(gk.is_finite(), "{name} / {}: grad[{k}] = {gk}", spec.name);
            if !check(k) {
                if zero_elsewhere {
                    prop_assert_eq!(gk, 0.0, "{} / {}: frozen param {}", name, spec.name, k);
                }
                continue;
            }
            let fd = central(
                |v| {
                    let mut q = params.to_vec();
                    q[k] = v;
                    total_loss(policy, f, &q, ref_logp)
                },
                params[k],
                1e-5,
            );
            let Some(fd) = fd else {
                skipped += 1;
                continue;
            };
            checked += 1;
            prop_assert!(
                close(gk, fd, 1e-5, 1e-7 * (1.0 + l0.abs())),
                "{} / {}: param {} of {}: analytic {} vs finite difference {}",
                name,
                spec.name,
                k,
                params.len(),
                gk,
                fd
            );
        }
    }
    prop_assert!(
        skipped * 50 <= checked,
        "{name}: skipped {skipped} of {}",
        checked + skipped
    );
    Ok(())
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let d = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(p, q)| p * q).sum::<f64>();
    d(a, b) / (d(a, a) * d(b, b)).sqrt()
}

proptest! {
    #![proptest_config(config(24))]

    /// Shared-bias: analytic parameter gradients of every loss match
    /// central differences on every parameter (table and biases).
    #[test]
    fn shared_bias_gradients_match_finite_differences(
        params in prop::collection::vec(-3.0..3.0f64, X * Y + Y),
        ref_logits in prop::collection::vec(-3.0..3.0f64, X * Y),
    ) {
        let p = SharedBias { n_prompts: X, n_responses: Y };
        prop_assert_eq!(p.n_params(), X * Y + Y);
        let ref_logp = row_log_softmax(&ref_logits);
        check_gradients("shared-bias", &p, &params, &ref_logp, |_| true, false)?;
    }

    /// Log-linear: the same check, with `V` trainable (every parameter) and
    /// frozen (`V`'s gradient exactly zero, `U` and `b` checked).
    #[test]
    fn loglinear_gradients_match_finite_differences(
        seed in 0..1000u64,
        dim in 1..=6usize,
        freeze in any::<bool>(),
        s in prop::option::of(-1.0..=1.0f64),
        init_scale in 0.2..3.0f64,
        noise in prop::collection::vec(-1.0..1.0f64, 200),
        noise_scale in 0.0..1.0f64,
        ref_logits in prop::collection::vec(-3.0..3.0f64, X * Y),
    ) {
        let s = if dim < 2 { None } else { s };
        let p = loglinear(dim, freeze, s, init_scale);
        let n = p.n_params();
        prop_assert_eq!(n, (X + Y) * dim + Y);
        let mut params = p.init_params(seed);
        prop_assert_eq!(params.len(), n);
        for (v, e) in params.iter_mut().zip(&noise) {
            *v += noise_scale * e;
        }
        let ref_logp = row_log_softmax(&ref_logits);
        let (v0, v1) = (X * dim, (X + Y) * dim);
        let name = format!("loglinear d={dim} freeze={freeze} s={s:?}");
        if freeze {
            check_gradients(&name, &p, &params, &ref_logp, |k| !(v0..v1).contains(&k), true)?;
        } else {
            check_gradients(&name, &p, &params, &ref_logp, |_| true, false)?;
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn shared_bias_rows_sum_to_one(
        x in 1..6usize, y in 2..12usize,
        raw in prop::collection::vec(-50.0..50.0f64, 6 * 12 + 12),
    ) {
        let p = SharedBias { n_prompts: x, n_responses: y };
        let init = p.init_params(9);
        prop_assert!(init.iter().all(|&v| v == 0.0));
        for l in log_probs(&p, &init) {
            prop_assert!((l + (y as f64).ln()).abs() < 1e-14);
        }
        let params = &raw[..p.n_params()];
        assert_rows_normalised(&p, params)?;
        // Logits are table plus bias.
        let mut logits = vec![0.0; x * y];
        p.forward(params, &mut [], &mut logits);
        for i in 0..x * y {
            prop_assert_eq!(logits[i], params[i] + params[x * y + i % y]);
        }
    }

    #[test]
    fn loglinear_rows_sum_to_one(
        dim in 1..10usize,
        seed in any::<u64>(),
        init_scale in 0.1..10.0f64,
        noise in prop::collection::vec(-5.0..5.0f64, 200),
    ) {
        let p = loglinear(dim, false, None, init_scale);
        let mut params = p.init_params(seed);
        // b starts at zero.
        prop_assert!(params[(X + Y) * dim..].iter().all(|&b| b == 0.0));
        assert_rows_normalised(&p, &params)?;
        for (v, e) in params.iter_mut().zip(&noise) {
            *v += e;
        }
        assert_rows_normalised(&p, &params)?;
    }

    /// The knob sets each pair's cosine exactly, keeps the norms equal, and
    /// touches nothing but the rejected rows; CHES is then `‖v+‖²(s − 1)`.
    #[test]
    fn pair_similarity_is_exact_at_init(
        dim in 2..17usize,
        s in -1.0..=1.0f64,
        seed in any::<u64>(),
        init_scale in 0.1..5.0f64,
    ) {
        let p = loglinear(dim, false, Some(s), init_scale);
        let params = p.init_params(seed);
        let free = loglinear(dim, false, None, init_scale).init_params(seed);
        for (i, c) in p.pair_cosines(&params).into_iter().enumerate() {
            prop_assert!((c - s).abs() <= 1e-12, "pair {i}: cosine {c} vs {s}");
        }
        let ches = p.ches_scores(&params);
        for (k, &(c, r)) in p.pairs.iter().enumerate() {
            let (vc, vr) = (p.response_embedding(&params, c), p.response_embedding(&params, r));
            prop_assert!((cosine(vc, vr) - s).abs() <= 1e-12);
            let nc: f64 = vc.iter().map(|v| v * v).sum();
            let nr: f64 = vr.iter().map(|v| v * v).sum();
            prop_assert!((nc - nr).abs() <= 1e-12 * nc, "norms {nc} vs {nr}");
            prop_assert!((ches[k] - nc * (s - 1.0)).abs() <= 1e-12 * (1.0 + nc), "CHES {} vs {}", ches[k], nc * (s - 1.0));
        }
        // Everything but the rejected rows is the unconstrained initialisation.
        let rejected: Vec<usize> = p.pairs.iter().map(|&(_, r)| r).collect();
        for (k, (&a, &b)) in params.iter().zip(&free).enumerate() {
            let in_rejected = (X * dim..(X + Y) * dim).contains(&k) && rejected.contains(&((k - X * dim) / dim));
            if !in_rejected {
                prop_assert_eq!(a, b, "parameter {} changed", k);
            }
        }
    }
}

#[test]
fn initialisation_is_seeded() {
    let p = loglinear(8, false, Some(0.5), 1.0);
    assert_eq!(p.init_params(3), p.init_params(3));
    assert_ne!(p.init_params(3), p.init_params(4));
    // Row norms are about init_scale.
    let q = loglinear(64, false, None, 2.0);
    let params = q.init_params(0);
    let norms: Vec<f64> = params[..(X + Y) * 64]
        .chunks(64)
        .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    let mean = norms.iter().sum::<f64>() / norms.len() as f64;
    assert!((mean - 2.0).abs() < 0.2, "mean row norm {mean}");
}

#[test]
fn ches_and_cosines_by_hand() {
    let p = Loglinear {
        n_prompts: 1,
        n_responses: 3,
        dim: 2,
        freeze_responses: false,
        pair_similarity: None,
        init_scale: 1.0,
        pairs: vec![(0, 1), (2, 0)],
    };
    // U = [(0, 0)], V = [(1, 0), (1, 1), (0, -2)], b = 0.
    let params = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, -2.0, 0.0, 0.0, 0.0];
    assert_eq!(p.n_params(), params.len());
    assert_eq!(p.ches_scores(&params), vec![1.0 - 1.0, 0.0 - 4.0]);
    let c = p.pair_cosines(&params);
    assert!((c[0] - 0.5f64.sqrt()).abs() < 1e-15 && c[1] == 0.0, "{c:?}");
}

fn settings() -> ReferenceSettings {
    Config::from_toml_str(&toml_with("kind = \"tabular\""))
        .unwrap()
        .build()
        .unwrap()
        .reference
}

fn flat_targets(d: &Dataset) -> Vec<f64> {
    d.targets.iter().flatten().copied().collect()
}

#[test]
fn shared_bias_reference_is_exact() {
    for name in SCENARIOS {
        let data = Dataset::scenario(name).unwrap();
        let targets = flat_targets(&data);
        let p = SharedBias {
            n_prompts: 4,
            n_responses: 10,
        };
        let mut params = p.init_params(0);
        let fit = fit_reference(&p, &mut params, &targets, &settings());
        assert_eq!(fit.steps, 0);
        assert!(fit.converged && fit.max_abs_err < 1e-15, "{name}: {fit:?}");
        let ln_t: Vec<f64> = targets.iter().map(|t| t.ln()).collect();
        assert_eq!(&params[..40], &ln_t[..], "{name}: table is not ln(target)");
        assert!(params[40..].iter().all(|&b| b == 0.0), "{name}: b ≠ 0");
    }
}

/// The SFT step by gradient descent reaches the default tolerance (1e-5)
/// on every scenario, for d = 8, with V frozen or not, with and without
/// the similarity knob, for several seeds.
#[test]
fn loglinear_reference_converges() {
    let s = settings();
    for name in SCENARIOS {
        let data = Dataset::scenario(name).unwrap();
        let targets = flat_targets(&data);
        for freeze in [false, true] {
            for sim in [None, Some(-0.9), Some(0.99)] {
                // Fewer seeds in unoptimised builds, to keep `cargo test` quick.
                for seed in 0..if cfg!(debug_assertions) { 1 } else { 4 } {
                    let p = loglinear(8, freeze, sim, 1.0);
                    let mut params = p.init_params(seed);
                    let init = params.clone();
                    let fit = fit_reference(&p, &mut params, &targets, &s);
                    let what = format!("{name} freeze={freeze} s={sim:?} seed {seed}");
                    assert!(fit.converged, "{what}: {fit:?}");
                    assert!(fit.steps > 0 && fit.steps < s.max_steps, "{what}: {fit:?}");
                    assert!(max_err(&p, &params, &targets) <= s.tolerance, "{what}");
                    let (v0, v1) = (4 * 8, 14 * 8);
                    if freeze {
                        assert_eq!(&params[v0..v1], &init[v0..v1], "{what}: V moved");
                    } else {
                        assert_ne!(&params[v0..v1], &init[v0..v1], "{what}: V never moved");
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Config.

fn toml_with(policy: &str) -> String {
    format!(
        "seed = 0\nepochs = 5\n[policy]\n{policy}\n[data]\nscenario = \"scenario1\"\n\
         [loss]\nname = \"dpo\"\nbeta = 0.1\n[optimizer]\nname = \"adam\"\nlr = 0.003\n"
    )
}

fn rejects(toml: &str, field: &str, needles: &[&str]) {
    let err = Config::from_toml_str(toml)
        .and_then(|c| c.build())
        .expect_err(toml);
    let msg = err.to_string();
    match &err {
        Error::Config { field: f, .. } => assert_eq!(f, field, "{msg}\n{toml}"),
        other => panic!("not a config error: {other:?}"),
    }
    assert!(msg.contains(&format!("`{field}`")), "{msg}");
    for n in needles {
        assert!(msg.contains(n), "message `{msg}` lacks `{n}`");
    }
    let c = Config::from_toml_str(toml).unwrap();
    assert_eq!(c.resolved().unwrap_err().to_string(), msg);
}

#[test]
fn new_kinds_are_listed_and_build() {
    for k in ["shared-bias", "loglinear"] {
        assert!(POLICIES.contains(&k), "{k} not in POLICIES");
        let spec = Config::from_toml_str(&toml_with(&format!("kind = \"{k}\"")))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(spec.policy.n_prompts(), 4);
    }
    let ll = "kind = \"loglinear\"\ndim = 3\nfreeze_responses = true\npair_similarity = 0.5\ninit_scale = 2.0";
    let c = Config::from_toml_str(&toml_with(ll)).unwrap();
    assert_eq!(c.build().unwrap().policy.n_params(), 14 * 3 + 10);
    let data = Dataset::scenario("scenario1").unwrap();
    let p = c.policy.build_loglinear(&data).unwrap();
    assert_eq!(
        (p.dim, p.freeze_responses, p.pair_similarity, p.init_scale),
        (3, true, Some(0.5), 2.0)
    );
    assert_eq!(p.pairs, paper_pairs());
    // Defaults are written out by `resolved`.
    let r = Config::from_toml_str(&toml_with("kind = \"loglinear\""))
        .unwrap()
        .resolved()
        .unwrap();
    assert_eq!(
        (
            r.policy.dim,
            r.policy.freeze_responses,
            r.policy.init_scale,
            r.policy.pair_similarity
        ),
        (Some(8), Some(false), Some(1.0), None)
    );
    let r = Config::from_toml_str(&toml_with("kind = \"shared-bias\""))
        .unwrap()
        .resolved()
        .unwrap();
    assert_eq!(r.policy.init_scale, None);
}

#[test]
fn new_fields_are_checked() {
    let ll = |extra: &str| toml_with(&format!("kind = \"loglinear\"\n{extra}"));
    for bad in ["1.5", "-1.01", "nan", "inf"] {
        rejects(
            &ll(&format!("pair_similarity = {bad}")),
            "policy.pair_similarity",
            &["[-1, 1]"],
        );
    }
    rejects(&ll("dim = 0"), "policy.dim", &[">= 1"]);
    rejects(&ll("dim = -2"), "policy.dim", &[">= 1"]);
    rejects(
        &ll("dim = 1\npair_similarity = 0.5"),
        "policy.pair_similarity",
        &["policy.dim >= 2"],
    );
    // |s| = 1 needs no second direction.
    Config::from_toml_str(&ll("dim = 1\npair_similarity = -1.0"))
        .unwrap()
        .build()
        .unwrap();
    rejects(&ll("init_scale = 0"), "policy.init_scale", &[]);
    rejects(&ll("width = 8"), "policy.width", &["mlp"]);
    rejects(&ll("activation = \"relu\""), "policy.activation", &["mlp"]);
    for kind in ["tabular", "shared-bias", "mlp"] {
        let k = format!("kind = \"{kind}\"");
        for field in [
            "dim = 4",
            "freeze_responses = true",
            "pair_similarity = 0.5",
        ] {
            let name = field.split(' ').next().unwrap();
            rejects(
                &toml_with(&format!("{k}\n{field}")),
                &format!("policy.{name}"),
                &["loglinear"],
            );
        }
    }
    for kind in ["tabular", "shared-bias"] {
        let k = format!("kind = \"{kind}\"");
        rejects(
            &toml_with(&format!("{k}\nwidth = 8")),
            "policy.width",
            &["mlp"],
        );
        rejects(
            &toml_with(&format!("{k}\ninit_scale = 2.0")),
            "policy.init_scale",
            &["mlp", "loglinear"],
        );
    }
    rejects(
        &toml_with("kind = \"transformer\""),
        "policy.kind",
        &["tabular", "shared-bias", "loglinear", "mlp"],
    );
}

/// Pairs that share a response cannot all get the requested cosine.
#[test]
fn pair_similarity_needs_disjoint_pairs() {
    let custom = |policy: &str| {
        format!(
            "seed = 0\nepochs = 5\n[policy]\n{policy}\n[data]\n\
             targets = [[0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]]\n\
             pairs = [[0, 0, 1], [1, 2, 1]]\n\
             [loss]\nname = \"dpo\"\n[optimizer]\nname = \"sgd\"\nlr = 0.1\n"
        )
    };
    rejects(
        &custom("kind = \"loglinear\"\npair_similarity = 0.5"),
        "policy.pair_similarity",
        &["share no response", "response 1"],
    );
    Config::from_toml_str(&custom("kind = \"loglinear\""))
        .unwrap()
        .build()
        .unwrap();
    // The same pair repeated (on two prompts) is fine.
    let same =
        custom("kind = \"loglinear\"\npair_similarity = 0.5").replace("[1, 2, 1]", "[1, 0, 1]");
    Config::from_toml_str(&same).unwrap().build().unwrap();
}
