//! The objectives that are not pairwise losses: KTO on unpaired labels and the
//! reward-model path (`rm-kl`). Finite-difference checks of their logit
//! gradients through the tabular policy and the MLP, their metric partials,
//! a KTO value worked out by hand, the RM path's convergence to its closed
//! form, the reward fit's balanced gradients, and their config entries.

use dpo_lab::engine::train::{train, Keep};
use dpo_lab::io::config::Config;
use dpo_lab::maths::data::{Dataset, Labeled};
use dpo_lab::maths::loss::State;
use dpo_lab::maths::loss::{self, LossEval, LOSSES};
use dpo_lab::maths::numerics::{log_softmax_into, sigmoid};
use dpo_lab::maths::objective::kto::{labelled_prompts, Kto};
use dpo_lab::maths::objective::reward_model::{fit_reward_model, optimal_policy, RewardModelKl};
use dpo_lab::maths::objective::{self, Objective, OBJECTIVES};
use dpo_lab::maths::policy::{Activation, Mlp, MlpInit, Policy, Tabular};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

fn given(params: &[(&str, f64)]) -> BTreeMap<String, f64> {
    params.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}

fn zero_evals(n: usize) -> Vec<LossEval> {
    vec![
        LossEval {
            value: 0.0,
            d_plus: 0.0,
            d_minus: 0.0,
        };
        n
    ]
}

/// 4 prompts × 6 responses. Prompt 0 carries two pairs, response 1 of prompt
/// 0 is chosen in one and rejected in the other, prompt 1 carries two pairs
/// with the same chosen, prompt 3 carries none; responses 4, 5 are unseen.
fn test_data() -> Dataset {
    let targets = vec![
        vec![0.3, 0.2, 0.1, 0.15, 0.05, 0.2],
        vec![0.05, 0.4, 0.1, 0.1, 0.25, 0.1],
        vec![1.0 / 6.0; 6],
        vec![0.1, 0.1, 0.2, 0.2, 0.3, 0.1],
    ];
    Dataset::custom(
        targets,
        vec![[0, 0, 1], [0, 1, 2], [1, 3, 0], [1, 3, 2], [2, 2, 5]],
        None,
    )
    .unwrap()
}

fn row_log_softmax(logits: &[f64], y: usize) -> Vec<f64> {
    let mut out = vec![0.0; logits.len()];
    for (src, dst) in logits.chunks(y).zip(out.chunks_mut(y)) {
        log_softmax_into(src, dst);
    }
    out
}

/// `log π_0` of the data's target rows.
fn ref_logp(data: &Dataset) -> Vec<f64> {
    data.targets.iter().flatten().map(|p| p.ln()).collect()
}

/// Evaluates `f(state)` at the logits, returning its total and logit gradient.
fn at_logits<F>(data: &Dataset, logits: &[f64], ref_lp: &[f64], f: F) -> (f64, Vec<f64>)
where
    F: Fn(&State, &mut [f64], &mut [LossEval]) -> f64,
{
    let logp = row_log_softmax(logits, data.n_responses);
    let probs: Vec<f64> = logp.iter().map(|l| l.exp()).collect();
    let s = State {
        data,
        logp: &logp,
        probs: &probs,
        ref_logp: ref_lp,
    };
    let mut d = vec![0.0; logits.len()];
    let mut ev = zero_evals(data.pairs.len());
    let v = f(&s, &mut d, &mut ev);
    (v, d)
}

fn policies(data: &Dataset) -> Vec<(String, Box<dyn Policy>)> {
    let (x, y) = (data.n_prompts, data.n_responses);
    let mut v: Vec<(String, Box<dyn Policy>)> = vec![(
        "tabular".into(),
        Box::new(Tabular {
            n_prompts: x,
            n_responses: y,
        }),
    )];
    for activation in [Activation::Tanh, Activation::Relu] {
        v.push((
            format!("mlp {activation:?}"),
            Box::new(Mlp {
                n_prompts: x,
                n_responses: y,
                width: 6,
                activation,
                init_scale: 1.0,
                init: MlpInit::Uniform,
            }),
        ));
    }
    v
}

/// An objective's evaluation: total, logit gradient, metric partials.
type EvalFn = dyn Fn(&State, &mut [f64], &mut [LossEval]) -> f64;

/// Checks, for every policy at random parameters, that back-propagating the
/// objective's logit gradient matches central differences of its total on
/// every parameter. `make` builds the evaluation from the state at the base
/// parameters (KTO freezes its reference point there).
fn check_through_policies(what: &str, data: &Dataset, make: &dyn Fn(&State) -> Box<EvalFn>) {
    let ref_lp = ref_logp(data);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for (pname, policy) in policies(data) {
        for trial in 0..3 {
            let mut params = policy.init_params(trial);
            for p in params.iter_mut() {
                *p += rng.random_range(-1.0..1.0);
            }
            let mut scratch = vec![0.0; policy.scratch_len()];
            let mut logits = vec![0.0; data.n_prompts * data.n_responses];
            let total = |q: &[f64], f: &EvalFn| {
                let mut scratch = vec![0.0; policy.scratch_len()];
                let mut logits = vec![0.0; data.n_prompts * data.n_responses];
                policy.forward(q, &mut scratch, &mut logits);
                at_logits(data, &logits, &ref_lp, f).0
            };
            policy.forward(&params, &mut scratch, &mut logits);
            let logp = row_log_softmax(&logits, data.n_responses);
            let probs: Vec<f64> = logp.iter().map(|l| l.exp()).collect();
            let base = State {
                data,
                logp: &logp,
                probs: &probs,
                ref_logp: &ref_lp,
            };
            let f = make(&base);
            let (v0, dlogits) = at_logits(data, &logits, &ref_lp, &*f);
            let sum: f64 = dlogits.iter().sum();
            assert!(
                sum.abs() < 1e-12,
                "{what}/{pname}: logit gradient sums to {sum}"
            );
            let mut grad = vec![f64::NAN; params.len()];
            policy.backward(&params, &mut scratch, &dlogits, &mut grad);
            let h = if pname.contains("Relu") { 1e-6 } else { 1e-5 };
            let mut skipped = 0;
            for k in 0..params.len() {
                let mut q = params.clone();
                q[k] = params[k] + h;
                let fp = total(&q, &*f);
                q[k] = params[k] - h;
                let fm = total(&q, &*f);
                let right = (fp - v0) / h;
                let left = (v0 - fm) / h;
                let fd = (fp - fm) / (2.0 * h);
                if (right - left).abs() > 1e-3 * (1.0 + fd.abs()) {
                    skipped += 1; // a ReLU kink
                    continue;
                }
                assert!(
                    close(grad[k], fd, 1e-5, 1e-7 * (1.0 + v0.abs())),
                    "{what}/{pname} trial {trial}: param {k}: analytic {} vs finite difference {fd}",
                    grad[k]
                );
            }
            assert!(
                skipped * 50 <= params.len(),
                "{what}/{pname}: skipped {skipped}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// KTO

fn new_kto(beta: f64, lambda_d: f64, lambda_u: f64, scale: f64) -> Kto {
    Kto {
        beta,
        lambda_d,
        lambda_u,
        scale,
    }
}

#[test]
fn unpaired_labels_split_each_pair() {
    let d = test_data();
    let labels = d.unpaired_labels();
    assert_eq!(labels.len(), 2 * d.pairs.len());
    for (i, p) in d.pairs.iter().enumerate() {
        assert_eq!(
            labels[2 * i],
            Labeled {
                prompt: p.prompt,
                response: p.chosen,
                desirable: true
            }
        );
        assert_eq!(
            labels[2 * i + 1],
            Labeled {
                prompt: p.prompt,
                response: p.rejected,
                desirable: false
            }
        );
    }
}

#[test]
fn kto_gradient_matches_finite_differences_at_fixed_reference_point() {
    let data = test_data();
    for (beta, ld, lu, scale) in [
        (0.1, 1.0, 1.0, 1.0),
        (0.7, 1.3, 0.4, 0.2),
        (3.0, 0.0, 2.0, 1.0),
    ] {
        let kto = new_kto(beta, ld, lu, scale);
        let what = format!("kto beta {beta} lambda_d {ld} lambda_u {lu} scale {scale}");
        check_through_policies(&what, &data, &|base| {
            let z0 = kto.reference_point(base);
            let k = kto.clone();
            Box::new(move |s: &State, d: &mut [f64], ev: &mut [LossEval]| k.eval_at(s, z0, d, ev))
        });
    }
}

#[test]
fn kto_reference_point_is_the_exact_mean_kl_and_is_detached() {
    let data = test_data();
    let ref_lp = ref_logp(&data);
    let kto = objective::build("kto", &given(&[("beta", 0.5)]), &data, 1.0).unwrap();
    let concrete = new_kto(0.5, 1.0, 1.0, 1.0);
    assert_eq!(labelled_prompts(&data.unpaired_labels()), vec![0, 1, 2]);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let logits: Vec<f64> = (0..24).map(|_| rng.random_range(-2.0..2.0)).collect();
    let logp = row_log_softmax(&logits, 6);
    let probs: Vec<f64> = logp.iter().map(|l| l.exp()).collect();
    let s = State {
        data: &data,
        logp: &logp,
        probs: &probs,
        ref_logp: &ref_lp,
    };
    // Mean over the labelled prompts 0, 1, 2 (not the pairless prompt 3).
    let kl = |x: usize| -> f64 {
        (0..6)
            .map(|a| probs[x * 6 + a] * (logp[x * 6 + a] - ref_lp[x * 6 + a]))
            .sum()
    };
    let z0 = concrete.reference_point(&s);
    assert!(close(z0, (kl(0) + kl(1) + kl(2)) / 3.0, 1e-14, 0.0));
    assert!(z0 > 0.0);
    // The registered objective's gradient is the one at that z0, held fixed.
    let (mut d1, mut d2) = (vec![0.0; 24], vec![0.0; 24]);
    let (mut e1, mut e2) = (zero_evals(5), zero_evals(5));
    let v1 = kto.eval(&s, &mut d1, &mut e1);
    let v2 = concrete.eval_at(&s, z0, &mut d2, &mut e2);
    assert_eq!((v1, &d1, &e1), (v2, &d2, &e2));
    // At the reference the KL is 0, so z0 = 0 (the clamp keeps it ≥ 0).
    let s0 = State {
        data: &data,
        logp: &ref_lp,
        probs: &data.targets.concat(),
        ref_logp: &ref_lp,
    };
    assert_eq!(concrete.reference_point(&s0), 0.0);
}

#[test]
fn kto_metric_partials_match_finite_differences() {
    let data = test_data();
    let ref_lp = ref_logp(&data);
    let kto = new_kto(0.8, 1.5, 0.7, 1.0);
    let logits: Vec<f64> = (0..24).map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0).collect();
    let logp = row_log_softmax(&logits, 6);
    let probs: Vec<f64> = logp.iter().map(|l| l.exp()).collect();
    let z0 = {
        let s = State {
            data: &data,
            logp: &logp,
            probs: &probs,
            ref_logp: &ref_lp,
        };
        kto.reference_point(&s)
    };
    // The pair's value as a function of one log-probability entry.
    let value = |i: usize, at: usize, l: f64| {
        let mut lp = logp.clone();
        lp[at] = l;
        let s = State {
            data: &data,
            logp: &lp,
            probs: &probs,
            ref_logp: &ref_lp,
        };
        let mut ev = zero_evals(5);
        kto.eval_at(&s, z0, &mut [0.0; 24], &mut ev);
        ev[i].value
    };
    let s = State {
        data: &data,
        logp: &logp,
        probs: &probs,
        ref_logp: &ref_lp,
    };
    let mut ev = zero_evals(5);
    kto.eval_at(&s, z0, &mut [0.0; 24], &mut ev);
    let h = 1e-6;
    for (i, p) in data.pairs.iter().enumerate() {
        for (at, d) in [
            (p.prompt * 6 + p.chosen, ev[i].d_plus),
            (p.prompt * 6 + p.rejected, ev[i].d_minus),
        ] {
            let fd = (value(i, at, logp[at] + h) - value(i, at, logp[at] - h)) / (2.0 * h);
            assert!(close(d, fd, 1e-6, 1e-10), "pair {i}: {d} vs {fd}");
        }
    }
}

/// One prompt, three responses, pair (0, 0 ≻ 1), uniform reference
/// `π_0 = (1/3, 1/3, 1/3)`, policy `π = (1/2, 1/4, 1/4)`, β = 0.5, λ_D = 1,
/// λ_U = 2.
///
/// - `r+ = ln((1/2)/(1/3)) = ln(3/2)`, `r- = ln((1/4)/(1/3)) = ln(3/4)`.
/// - `KL = ½ ln(3/2) + ¼ ln(3/4) + ¼ ln(3/4) = ½ ln(9/8)`, so `z0 = ½ ln(9/8)
///   = ln(3/(2√2)) = 0.0588915178...`.
/// - desirable: `u = β(r+ - z0) = ½ ln((3/2)·(2√2/3)) = ½ ln √2 = ¼ ln 2`.
/// - undesirable: `u = β(z0 - r-) = ½ ln((3/(2√2))·(4/3)) = ½ ln √2 = ¼ ln 2`.
/// - With `q = e^u = 2^{1/4} = 1.189207115...`: `σ(-u) = 1/(1+q) = 0.456786383...`;
///   values `λ_D σ(-u) = 0.456786383...` and `λ_U σ(-u) = 0.913572766...`,
///   total `3/(1+q) = 1.370359149...`.
/// - `σ(u)σ(-u) = q/(1+q)² = c = 0.248132583...`; `∂/∂r+ = -λ_D β c = -c/2
///   = -0.124066291...`, `∂/∂r- = +λ_U β c = c = 0.248132583...`.
/// - logits: `-c/2 (e_0 - π) + c (e_1 - π)`, with `Σ = c/2`:
///   `g_0 = -c/2 - (c/2)(1/2) = -3c/4 = -0.186099437...`,
///   `g_1 = c - (c/2)(1/4) = 7c/8 = 0.217116010...`,
///   `g_2 = -(c/2)(1/4) = -c/8 = -0.031016572...`.
#[test]
fn kto_golden_value() {
    let data = Dataset::custom(vec![vec![1.0 / 3.0; 3]], vec![[0, 0, 1]], None).unwrap();
    let kto = objective::build(
        "kto",
        &given(&[("beta", 0.5), ("lambda_d", 1.0), ("lambda_u", 2.0)]),
        &data,
        1.0,
    )
    .unwrap();
    let ref_lp = vec![(1.0f64 / 3.0).ln(); 3];
    let probs = [0.5, 0.25, 0.25];
    let logp: Vec<f64> = probs.iter().map(|p: &f64| p.ln()).collect();
    let s = State {
        data: &data,
        logp: &logp,
        probs: &probs,
        ref_logp: &ref_lp,
    };
    let concrete = new_kto(0.5, 1.0, 2.0, 1.0);
    assert!(close(
        concrete.reference_point(&s),
        0.058_891_517_828_191_73,
        1e-14,
        0.0
    ));
    let mut d = vec![0.0; 3];
    let mut ev = zero_evals(1);
    let total = kto.eval(&s, &mut d, &mut ev);
    let c = 0.248_132_583_317_622_67;
    let tol = 1e-13;
    assert!(close(total, 1.370_359_149_411_165_5, tol, 0.0), "{total}");
    assert!(close(ev[0].value, total, tol, 0.0));
    assert!(close(ev[0].d_plus, -c / 2.0, tol, 0.0), "{:?}", ev[0]);
    assert!(close(ev[0].d_minus, c, tol, 0.0), "{:?}", ev[0]);
    for (g, want) in d.iter().zip([
        -0.186_099_437_488_217,
        0.217_116_010_402_919_83,
        -0.031_016_572_914_702_834,
    ]) {
        assert!(close(*g, want, tol, 1e-16), "{d:?}");
    }
    // `mean` over the single pair equals `sum`; scale 0.5 halves everything.
    let half = objective::build(
        "kto",
        &given(&[("beta", 0.5), ("lambda_u", 2.0)]),
        &data,
        0.5,
    )
    .unwrap();
    let mut d2 = vec![0.0; 3];
    let t2 = half.eval(&s, &mut d2, &mut zero_evals(1));
    assert!(close(t2, total / 2.0, 1e-15, 0.0));
    assert!(d2
        .iter()
        .zip(&d)
        .all(|(a, b)| close(*a, b / 2.0, 1e-15, 0.0)));
}

/// At the reference (`r = 0`, `z0 = 0`) every label costs `λ/2`, and its
/// logit gradient is `∓ λ β/4 (e_y - π)`.
#[test]
fn kto_at_the_reference() {
    let data = Dataset::scenario("scenario1").unwrap();
    let ref_lp = ref_logp(&data);
    let probs = data.targets.concat();
    let s = State {
        data: &data,
        logp: &ref_lp,
        probs: &probs,
        ref_logp: &ref_lp,
    };
    let kto = new_kto(0.1, 1.0, 3.0, 1.0);
    let mut ev = zero_evals(4);
    let total = kto.eval(&s, &mut vec![0.0; 40], &mut ev);
    assert!(close(total, 4.0 * (0.5 + 1.5), 1e-15, 0.0));
    for e in &ev {
        assert!(close(e.d_plus, -0.1 / 4.0, 1e-15, 0.0) && close(e.d_minus, 0.3 / 4.0, 1e-15, 0.0));
    }
}

// ---------------------------------------------------------------------------
// The reward-model path

fn rm(data: &Dataset, beta: f64, scale: f64) -> RewardModelKl {
    RewardModelKl {
        beta,
        fit: fit_reward_model(data, 300, 0.1, 1e-3),
        scale,
    }
}

#[test]
fn rm_gradient_matches_finite_differences() {
    let data = test_data();
    for (beta, scale) in [(0.1, 1.0), (1.7, 0.2)] {
        let obj = rm(&data, beta, scale);
        check_through_policies(&format!("rm-kl beta {beta} scale {scale}"), &data, &|_| {
            let o = obj.clone();
            Box::new(move |s: &State, d: &mut [f64], ev: &mut [LossEval]| o.eval(s, d, ev))
        });
    }
}

/// `∂L/∂l± = π± ∂L/∂π±` with every other `π` fixed: differentiate
/// `L(π) = Σ_x Σ_a π_a [β(log π_a - log π0_a) - r_a]` in one entry.
#[test]
fn rm_metric_partials_and_value() {
    let data = test_data();
    let ref_lp = ref_logp(&data);
    let obj = rm(&data, 0.6, 1.0);
    let logits: Vec<f64> = (0..24).map(|i| ((i * 5 % 13) as f64 - 6.0) / 4.0).collect();
    let logp = row_log_softmax(&logits, 6);
    let probs: Vec<f64> = logp.iter().map(|l| l.exp()).collect();
    let free = |x: usize, at: usize, l: f64| -> f64 {
        (0..6)
            .map(|a| {
                let k = x * 6 + a;
                let lk = if k == at { l } else { logp[k] };
                lk.exp() * (0.6 * (lk - ref_lp[k]) - obj.fit.rewards[k])
            })
            .sum()
    };
    let s = State {
        data: &data,
        logp: &logp,
        probs: &probs,
        ref_logp: &ref_lp,
    };
    let mut ev = zero_evals(5);
    let total = obj.eval(&s, &mut [0.0; 24], &mut ev);
    let by_prompt: Vec<f64> = (0..4).map(|x| free(x, usize::MAX, 0.0)).collect();
    assert!(close(total, by_prompt.iter().sum(), 1e-13, 0.0));
    let h = 1e-6;
    for (i, p) in data.pairs.iter().enumerate() {
        assert!(close(ev[i].value, by_prompt[p.prompt], 1e-13, 0.0));
        for (a, d) in [(p.chosen, ev[i].d_plus), (p.rejected, ev[i].d_minus)] {
            let at = p.prompt * 6 + a;
            let fd =
                (free(p.prompt, at, logp[at] + h) - free(p.prompt, at, logp[at] - h)) / (2.0 * h);
            assert!(
                close(d, fd, 1e-6, 1e-10),
                "pair {i} response {a}: {d} vs {fd}"
            );
        }
    }
}

#[test]
fn reward_fit_gradients_are_balanced() {
    let data = test_data();
    let steps = 400;
    let fit = fit_reward_model(&data, steps, 0.1, 1e-3);
    assert_eq!(fit.trace.len(), steps + 1);
    for (k, st) in fit.trace.iter().enumerate() {
        assert_eq!(st.step, k);
        assert_eq!(st.grad_plus.len(), data.pairs.len());
        for (gp, gm) in st.grad_plus.iter().zip(&st.grad_minus) {
            // Equal magnitude, opposite sign, exactly, at every step.
            assert_eq!(*gp, -*gm);
            assert!(*gp < 0.0 && *gm > 0.0);
        }
        if k > 0 {
            // Gradient descent at a stable step size never increases the objective.
            assert!(st.loss <= fit.trace[k - 1].loss, "step {k}");
        }
    }
    // At step 0 all rewards are 0: ∂/∂r± = ∓σ(0) = ∓½, loss = 5 ln 2.
    assert!(fit.trace[0].grad_plus.iter().all(|&g| g == -0.5));
    assert!(close(fit.trace[0].loss, 5.0 * 2f64.ln(), 1e-15, 0.0));
    // The recorded gradients are those of the rewards after `k` steps.
    for k in [1, 17, steps] {
        let r = fit_reward_model(&data, k, 0.1, 1e-3);
        for (i, p) in data.pairs.iter().enumerate() {
            let m = r.reward(p.prompt, p.chosen) - r.reward(p.prompt, p.rejected);
            assert!(close(fit.trace[k].grad_plus[i], -sigmoid(-m), 1e-15, 0.0));
        }
    }
    // Unseen responses (and the pairless prompt) keep r = 0 exactly.
    for x in 0..4 {
        for a in 0..6 {
            let seen = data
                .pairs
                .iter()
                .any(|p| p.prompt == x && (p.chosen == a || p.rejected == a));
            if !seen {
                assert_eq!(fit.reward(x, a), 0.0, "r({x}, {a})");
            }
        }
    }
    // Deterministic.
    assert_eq!(fit, fit_reward_model(&data, steps, 0.1, 1e-3));
    // On the paper's data (one pair per prompt) the fit is antisymmetric:
    // r(x, a+) = -r(x, a-) > 0.
    let paper = Dataset::scenario("scenario1").unwrap();
    let f = fit_reward_model(&paper, 2000, 0.1, 1e-3);
    for p in &paper.pairs {
        let (rp, rm) = (f.reward(p.prompt, p.chosen), f.reward(p.prompt, p.rejected));
        assert!(rp > 2.0 && rp == -rm, "{rp} {rm}");
    }
}

fn rm_config(scenario_or_custom: &str, beta: f64, epochs: usize, optimizer: &str) -> Config {
    Config::from_toml_str(&format!(
        "epochs = {epochs}\nrecord_every = {epochs}\n[policy]\nkind = \"tabular\"\n\
         [data]\n{scenario_or_custom}\n[loss]\nname = \"rm-kl\"\nbeta = {beta}\n\
         [optimizer]\n{optimizer}\n"
    ))
    .unwrap()
}

/// The policy trained on the RM objective (tabular, the training loop)
/// reaches `π*(a|x) ∝ π_0(a|x) exp(r(x,a)/β)` for the fitted reward, to 1e-6
/// in total variation on every prompt.
#[test]
fn rm_policy_converges_to_the_closed_form() {
    let custom = "targets = [[0.3, 0.2, 0.1, 0.15, 0.05, 0.2], [0.05, 0.4, 0.1, 0.1, 0.25, 0.1], \
                  [0.2, 0.2, 0.2, 0.2, 0.1, 0.1], [0.1, 0.1, 0.2, 0.2, 0.3, 0.1]]\n\
                  pairs = [[0, 0, 1], [0, 1, 2], [1, 3, 0], [1, 3, 2], [2, 2, 5]]";
    // At the paper's β = 0.1 the optimum is nearly deterministic (r/β ≈ ±29:
    // π*(a+|x) ≈ 1 - 1e-12), where the logit gradients vanish with the
    // residual mass and plain gradient descent is sublinear; Adam with a short
    // second-moment memory keeps its step size and gets there. At β ≥ 1 the
    // optimum is interior and plain SGD converges linearly (Adam ends in
    // ~1e-3 oscillations there).
    let cases = [
        (
            "scenario = \"scenario1\"",
            0.1,
            3000,
            "name = \"adam\"\nlr = 0.05\nbeta2 = 0.9",
        ),
        (
            "scenario = \"scenario2\"",
            1.0,
            5000,
            "name = \"sgd\"\nlr = 1.0",
        ),
        (
            "scenario = \"scenario4\"",
            2.0,
            5000,
            "name = \"sgd\"\nlr = 1.0",
        ),
        (custom, 2.0, 5000, "name = \"sgd\"\nlr = 1.0"),
    ];
    for (data_toml, beta, epochs, opt) in cases {
        let cfg = rm_config(data_toml, beta, epochs, opt);
        let spec = cfg.build().unwrap();
        let fit = fit_reward_model(&spec.data, 2000, 0.1, 1e-3);
        let run = train(
            &spec,
            Keep {
                metrics: false,
                snapshots: true,
            },
        );
        assert!(!run.summary.diverged);
        let logp = run.snapshot(epochs).unwrap();
        let y = spec.data.n_responses;
        for x in 0..spec.data.n_prompts {
            let row = x * y..(x + 1) * y;
            let star = optimal_policy(&run.ref_logp[row.clone()], &fit.rewards[row.clone()], beta);
            let tv: f64 = 0.5
                * logp[row]
                    .iter()
                    .zip(&star)
                    .map(|(l, p)| (l.exp() - p).abs())
                    .sum::<f64>();
            assert!(
                tv <= 1e-6,
                "{data_toml} beta {beta} {opt}: prompt {x}: TV {tv:e}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Config entries

fn fig2_with_loss(loss_toml: &str) -> String {
    format!(
        "epochs = 5\n[policy]\nkind = \"tabular\"\n[data]\nscenario = \"scenario1\"\n\
         [loss]\n{loss_toml}\n[optimizer]\nname = \"adam\"\nlr = 0.01\n"
    )
}

#[test]
fn objectives_parse_and_resolve_with_defaults() {
    for (toml_loss, want) in [
        (
            "name = \"kto\"",
            vec![("beta", 0.1), ("lambda_d", 1.0), ("lambda_u", 1.0)],
        ),
        (
            "name = \"kto\"\nlambda_u = 1.5\nreduction = \"mean\"",
            vec![("beta", 0.1), ("lambda_d", 1.0), ("lambda_u", 1.5)],
        ),
        (
            "name = \"rm-kl\"",
            vec![
                ("beta", 0.1),
                ("rm_l2", 1e-3),
                ("rm_lr", 0.1),
                ("rm_steps", 2000.0),
            ],
        ),
        (
            "name = \"rm-kl\"\nbeta = 0.5\nrm_steps = 0\nrm_l2 = 0",
            vec![
                ("beta", 0.5),
                ("rm_l2", 0.0),
                ("rm_lr", 0.1),
                ("rm_steps", 0.0),
            ],
        ),
    ] {
        let cfg = Config::from_toml_str(&fig2_with_loss(toml_loss)).unwrap();
        let resolved = cfg.resolved().unwrap();
        assert_eq!(resolved.loss.params, given(&want), "{toml_loss}");
        // The resolved config round-trips and builds the same run.
        let again = Config::from_toml_str(&resolved.to_toml_string()).unwrap();
        assert_eq!(again, resolved);
        let run = train(&again.build().unwrap(), Keep::ALL);
        assert!(
            !run.summary.diverged && run.metrics.len() == 6,
            "{toml_loss}"
        );
    }
}

#[test]
fn bad_objective_parameters_name_the_field() {
    for (toml_loss, field) in [
        ("name = \"kto\"\nbeta = 0", "loss.beta"),
        ("name = \"kto\"\nlambda_d = -1", "loss.lambda_d"),
        ("name = \"kto\"\nlambda_u = nan", "loss.lambda_u"),
        ("name = \"kto\"\nbogus = 1", "loss.bogus"),
        ("name = \"rm-kl\"\nbeta = -0.1", "loss.beta"),
        ("name = \"rm-kl\"\nrm_steps = 2.5", "loss.rm_steps"),
        ("name = \"rm-kl\"\nrm_steps = 1e9", "loss.rm_steps"),
        ("name = \"rm-kl\"\nrm_steps = -1", "loss.rm_steps"),
        ("name = \"rm-kl\"\nrm_lr = 0", "loss.rm_lr"),
        // lr · l2 = 5 > 2: the penalty's own step overshoots and the fit blows up.
        ("name = \"rm-kl\"\nrm_lr = 5000", "loss.rm_lr"),
        ("name = \"rm-kl\"\nrm_l2 = -1e-3", "loss.rm_l2"),
        ("name = \"rm-kl\"\ntau = 0.1", "loss.tau"),
    ] {
        let err = Config::from_toml_str(&fig2_with_loss(toml_loss))
            .and_then(|c| c.build().map(|_| ()))
            .expect_err(toml_loss);
        let msg = err.to_string();
        assert!(msg.contains(&format!("`{field}`")), "{toml_loss}: `{msg}`");
    }
}

#[test]
fn unknown_loss_lists_every_loss_and_objective() {
    let cfg = Config::from_toml_str(&fig2_with_loss("name = \"kto-pair\"")).unwrap();
    let msg = cfg.build().map(|_| ()).unwrap_err().to_string();
    assert!(
        msg.contains("`loss.name`") && msg.contains("kto-pair"),
        "{msg}"
    );
    let names: Vec<&str> = LOSSES
        .iter()
        .map(|s| s.name)
        .chain(OBJECTIVES.iter().map(|s| s.name))
        .collect();
    assert!(names.contains(&"kto") && names.contains(&"rm-kl"));
    for n in names {
        assert!(msg.contains(n), "{n} missing from `{msg}`");
    }
    // Names are unique across the two registries.
    let mut all: Vec<&str> = LOSSES.iter().map(|s| s.name).collect();
    all.extend(OBJECTIVES.iter().map(|s| s.name));
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n);
    // `loss::spec` still knows only the pairwise losses.
    assert!(loss::spec("kto").is_err());
}

/// `experiments/sweeps/all-losses.toml` runs every registered loss and
/// objective, each once, at its default parameters.
#[test]
fn all_losses_sweep_covers_the_registries() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join("sweeps")
        .join("all-losses.toml");
    let sweep = dpo_lab::io::sweep::Sweep::load(&path).unwrap();
    let axis = sweep.axes.iter().find(|a| a.field == "loss").unwrap();
    let mut names = Vec::new();
    for v in &axis.values {
        let t = v.as_table().unwrap();
        let name = t["name"].as_str().unwrap();
        let params: BTreeMap<String, f64> = t
            .iter()
            .filter(|(k, _)| k.as_str() != "name")
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_float().or(v.as_integer().map(|i| i as f64)).unwrap(),
                )
            })
            .collect();
        let (owner, specs) = objective::param_specs(name).unwrap();
        let defaults = loss::resolve_param_list(owner, specs, &BTreeMap::new()).unwrap();
        let want: BTreeMap<String, f64> = specs
            .iter()
            .zip(defaults)
            .map(|(p, v)| (p.name.to_string(), v))
            .collect();
        assert_eq!(params, want, "{name}: not at its defaults");
        names.push(name);
    }
    let registered: Vec<&str> = LOSSES
        .iter()
        .map(|s| s.name)
        .chain(OBJECTIVES.iter().map(|s| s.name))
        .collect();
    assert_eq!(names, registered);
    assert_eq!(axis.labels, registered);
}

/// `PairLoss::eval_pairs` (one dynamic call for all pairs, which
/// `PairObjective` uses) gives every per-triple loss's `eval` at each pair,
/// bit for bit, and differs from it for exactly the batch-level losses.
#[test]
fn eval_pairs_is_eval_at_each_pair() {
    let data = Dataset::scenario("scenario1").unwrap();
    let (x, y) = (data.n_prompts, data.n_responses);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let logits: Vec<f64> = (0..x * y).map(|_| rng.random_range(-4.0..4.0)).collect();
    let ref_logits: Vec<f64> = (0..x * y).map(|_| rng.random_range(-4.0..4.0)).collect();
    let (mut logp, mut ref_logp) = (vec![0.0; x * y], vec![0.0; x * y]);
    for r in 0..x {
        log_softmax_into(&logits[r * y..(r + 1) * y], &mut logp[r * y..(r + 1) * y]);
        log_softmax_into(
            &ref_logits[r * y..(r + 1) * y],
            &mut ref_logp[r * y..(r + 1) * y],
        );
    }
    let probs: Vec<f64> = logp.iter().map(|l| l.exp()).collect();
    let s = State {
        data: &data,
        logp: &logp,
        probs: &probs,
        ref_logp: &ref_logp,
    };
    for spec in LOSSES {
        let l = (spec.build)(&loss::resolve_params(spec, &BTreeMap::new()).unwrap());
        let blank = LossEval {
            value: f64::NAN,
            d_plus: f64::NAN,
            d_minus: f64::NAN,
        };
        let mut out = vec![blank; data.pairs.len()];
        l.eval_pairs(&s, &mut out);
        let bits = |e: &LossEval| [e.value, e.d_plus, e.d_minus].map(f64::to_bits);
        let differs = out
            .iter()
            .enumerate()
            .any(|(i, o)| bits(o) != bits(&l.eval(&s.pair_logprobs(i))));
        // A batch-level loss (its spec says so) couples the pairs: its
        // eval_pairs is not eval at each pair, and a loss flagged batch level
        // that were per triple would escape the per-triple checks.
        assert_eq!(
            differs, spec.batch_level,
            "{}: eval_pairs vs eval at each pair",
            spec.name
        );
        assert!(
            out.iter().all(|o| bits(o) != bits(&blank)),
            "{}: eval_pairs left a pair unwritten",
            spec.name
        );
    }
}
