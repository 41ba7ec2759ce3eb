//! Finite-difference checks of every loss's closed-form partials, of the
//! logit-gradient routine and of both policies' back-propagation, plus the
//! paper's closed forms (the DPO logit identity and Corollary 1).
//!
//! Every loss in `loss::LOSSES` is covered automatically; a loss with a kink
//! is handled generically: points where the one-sided differences disagree
//! are skipped, but only a bounded few: a proptest case at a kink is
//! rejected and redrawn, and more than 1 rejected case in 20 fails the test
//! (`max_global_rejects`); the end-to-end checks count skipped parameters
//! per loss and fail a loss that skips more than 1 in 20 ([`Kinks`]). So a
//! loss whose value is kinked or noisy everywhere fails instead of being
//! skipped everywhere.
//!
//! Batch-level losses (`LossSpec::batch_level`: AOT, AOT-pair, β-DPO) are
//! not a sum of per-triple terms: the per-triple checks of `eval` skip them
//! by that flag ([`all_losses`]), and the end-to-end checks cover them
//! through `eval_pairs` on the whole data set, the training loop's path,
//! against the loss with its stop-gradient quantities frozen
//! (`PairLoss::detached_at`; β-DPO's batch temperature).

mod common;
use common::*;
use dpo_lab::maths::data::Dataset;
use dpo_lab::maths::loss::{self, Domain, LogProbs, LossEval, LossSpec, PairLoss, State, LOSSES};
use dpo_lab::maths::numerics::{log_softmax_into, sigmoid};
use dpo_lab::maths::objective::{Objective, PairObjective};
use dpo_lab::maths::policy::{Activation, Mlp, MlpInit, Policy, Tabular};
use proptest::prelude::*;
use std::collections::BTreeMap;

const H: f64 = 1e-5;

/// Proptest settings: `cases` random cases from a fixed seed (a quarter in
/// unoptimised builds, to keep `cargo test` quick), no regression files, and
/// at most one rejected case (a kink) per 20 cases.
fn config(cases: u32) -> ProptestConfig {
    let cases = if cfg!(debug_assertions) {
        cases.div_ceil(4)
    } else {
        cases
    };
    ProptestConfig {
        cases,
        max_global_rejects: cases.div_ceil(20),
        failure_persistence: None,
        // Fixed cases: a random draw can put a ReLU unit or two AOT margins
        // within a step of a kink at more parameters than the kink budget
        // allows (seen at about 1 run in 8 with the steepest losses), which
        // says nothing about the gradients; CI must not depend on the draw.
        // Edit the seed to explore other draws.
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_251_203),
        ..ProptestConfig::default()
    }
}

fn default_loss(spec: &LossSpec) -> Box<dyn PairLoss> {
    (spec.build)(&loss::resolve_params(spec, &BTreeMap::new()).expect("defaults are valid"))
}

/// A valid value of `domain` from a uniform `u` in [0, 1).
fn param_value(domain: Domain, u: f64) -> f64 {
    match domain {
        Domain::Positive => 0.01 + 3.0 * u,
        Domain::NonNegative => 3.0 * u,
        Domain::Finite => -3.0 + 6.0 * u,
        Domain::HalfOpen(lo, hi) => lo + (hi - lo) * 0.99 * u,
        Domain::Open(lo, hi) => lo + (hi - lo) * (0.005 + 0.99 * u),
    }
}

/// The loss built at random valid parameters (goes through `resolve_params`).
fn random_loss(spec: &LossSpec, us: &[f64]) -> (Box<dyn PairLoss>, BTreeMap<String, f64>) {
    assert!(spec.params.len() <= us.len(), "widen the random vector");
    let given: BTreeMap<String, f64> = spec
        .params
        .iter()
        .zip(us)
        .map(|(p, &u)| (p.name.to_string(), param_value(p.domain, u)))
        .collect();
    let values = loss::resolve_params(spec, &given).expect("random values are in domain");
    ((spec.build)(&values), given)
}

/// Every loss at defaults, and at the random parameters, with whether it is
/// batch level ([`LossSpec::batch_level`]).
fn every_loss(us: &[f64]) -> Vec<(String, bool, Box<dyn PairLoss>)> {
    let mut out = Vec::new();
    for spec in LOSSES {
        let batch = spec.batch_level;
        out.push((
            format!("{} (defaults)", spec.name),
            batch,
            default_loss(spec),
        ));
        let (l, given) = random_loss(spec, us);
        out.push((format!("{} {given:?}", spec.name), batch, l));
    }
    out
}

/// The per-triple losses of [`every_loss`]: the per-triple checks of `eval`
/// skip exactly the losses whose spec says `batch_level` (their `eval` is a
/// one-pair batch, and for β-DPO a stop-gradient); those are checked through
/// `eval_pairs` end to end below and in `tests/loss_zoo_trl.rs`.
fn all_losses(us: &[f64]) -> Vec<(String, Box<dyn PairLoss>)> {
    every_loss(us)
        .into_iter()
        .filter(|(_, batch, _)| !batch)
        .map(|(name, _, f)| (name, f))
        .collect()
}

fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}

/// Central difference of `f` at `x` (Richardson-extrapolated), or `None`
/// at a kink (one-sided differences disagree beyond what curvature and
/// rounding explain).
fn central(f: impl Fn(f64) -> f64, x: f64, h: f64) -> Option<f64> {
    let (fp, f0, fm) = (f(x + h), f(x), f(x - h));
    let right = (fp - f0) / h;
    let left = (f0 - fm) / h;
    let c = (fp - fm) / (2.0 * h);
    if (right - left).abs() > 1e-3 * (1.0 + c.abs()) {
        None
    } else {
        // Richardson's extrapolation of the central differences at h and
        // h/2: error O(h⁴) instead of O(h²), so that losses with steep
        // exponentials (the α-divergence at large αβ) are checked as tightly
        // as the others.
        let c2 = (f(x + h / 2.0) - f(x - h / 2.0)) / h;
        Some((4.0 * c2 - c) / 3.0)
    }
}

/// `loss::accumulate_logit_grad` given one prompt's log-probabilities.
///
/// The routine's contract is that its row argument is the prompt's
/// probabilities `π` (what `objective::PairObjective` passes it, from
/// `State::probs`), so this passes `exp(log π)`. A routine that read the row
/// as `log π` instead would break training and fails the tests below. (An
/// earlier version of this helper probed which reading the routine used and
/// adapted to it, so it passed either way.)
fn accumulate(
    ev: &LossEval,
    chosen: usize,
    rejected: usize,
    logp: &[f64],
    scale: f64,
    out: &mut [f64],
) {
    let probs: Vec<f64> = logp.iter().map(|l| l.exp()).collect();
    loss::accumulate_logit_grad(ev, chosen, rejected, &probs, scale, out);
}

fn logp_strategy() -> impl Strategy<Value = f64> {
    -8.0..-0.01f64
}

proptest! {
    #![proptest_config(config(256))]

    /// `d_plus`, `d_minus` are the partials of `value` in `l+`, `l-`.
    #[test]
    fn partials_match_finite_differences(
        lp in logp_strategy(), lm in logp_strategy(),
        l0p in logp_strategy(), l0m in logp_strategy(),
        us in prop::collection::vec(0.0..1.0f64, 4),
    ) {
        for (name, f) in all_losses(&us) {
            let at = |l_plus: f64, l_minus: f64| LogProbs { l_plus, l_minus, l0_plus: l0p, l0_minus: l0m };
            let ev = f.eval(&at(lp, lm));
            prop_assert!(ev.value.is_finite() && ev.d_plus.is_finite() && ev.d_minus.is_finite(),
                "{name}: non-finite eval {ev:?}");
            let fd_plus = central(|x| f.eval(&at(x, lm)).value, lp, H);
            let fd_minus = central(|x| f.eval(&at(lp, x)).value, lm, H);
            let (Some(fd_plus), Some(fd_minus)) = (fd_plus, fd_minus) else {
                return Err(TestCaseError::reject(format!("kink of {name}")));
            };
            let tol_abs = 1e-8 * (1.0 + ev.value.abs());
            prop_assert!(close(ev.d_plus, fd_plus, 1e-6, tol_abs),
                "{name}: d_plus {} vs finite difference {fd_plus} at l+={lp} l-={lm} l0+={l0p} l0-={l0m}", ev.d_plus);
            prop_assert!(close(ev.d_minus, fd_minus, 1e-6, tol_abs),
                "{name}: d_minus {} vs finite difference {fd_minus} at l+={lp} l-={lm} l0+={l0p} l0-={l0m}", ev.d_minus);
        }
    }

    /// Losses that declare they ignore the reference must not read it.
    #[test]
    fn reference_free_losses_ignore_the_reference(
        lp in logp_strategy(), lm in logp_strategy(),
        a in logp_strategy(), b in logp_strategy(), c in logp_strategy(), d in logp_strategy(),
    ) {
        for spec in LOSSES.iter().filter(|s| !s.uses_reference) {
            let f = default_loss(spec);
            let e1 = f.eval(&LogProbs { l_plus: lp, l_minus: lm, l0_plus: a, l0_minus: b });
            let e2 = f.eval(&LogProbs { l_plus: lp, l_minus: lm, l0_plus: c, l0_minus: d });
            prop_assert_eq!(e1, e2, "{}", spec.name);
        }
    }

    /// The logit gradient of one prompt's row is that of a log-softmax: it
    /// sums to zero and matches finite differences in the logits.
    #[test]
    fn logit_gradient_matches_finite_differences(
        logits in prop::collection::vec(-4.0..4.0f64, 10),
        ref_logits in prop::collection::vec(-4.0..4.0f64, 10),
        chosen in 0..10usize, offset in 1..10usize,
        scale in 0.1..3.0f64,
        us in prop::collection::vec(0.0..1.0f64, 4),
    ) {
        let rejected = (chosen + offset) % 10;
        let mut l0 = [0.0; 10];
        log_softmax_into(&ref_logits, &mut l0);
        for (name, f) in all_losses(&us) {
            let total = |s: &[f64]| {
                let mut l = [0.0; 10];
                log_softmax_into(s, &mut l);
                scale * f.eval(&LogProbs { l_plus: l[chosen], l_minus: l[rejected], l0_plus: l0[chosen], l0_minus: l0[rejected] }).value
            };
            let mut logp = [0.0; 10];
            log_softmax_into(&logits, &mut logp);
            let ev = f.eval(&LogProbs { l_plus: logp[chosen], l_minus: logp[rejected], l0_plus: l0[chosen], l0_minus: l0[rejected] });
            let mut g = vec![0.0; 10];
            accumulate(&ev, chosen, rejected, &logp, scale, &mut g);
            let sum: f64 = g.iter().sum();
            let gmax = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            prop_assert!(sum.abs() <= 1e-13 * (1.0 + gmax), "{name}: logit gradient sums to {sum}");
            for k in 0..10 {
                let fd = central(|v| { let mut s = logits.clone(); s[k] = v; total(&s) }, logits[k], H);
                let Some(fd) = fd else { return Err(TestCaseError::reject(format!("kink of {name}"))) };
                prop_assert!(close(g[k], fd, 1e-6, 1e-8 * (1.0 + total(&logits).abs())),
                    "{name}: logit {k}: analytic {} vs finite difference {fd}", g[k]);
            }
        }
    }

    /// Accumulation adds: two calls equal the sum of two separate gradients.
    #[test]
    fn logit_gradient_accumulates(
        logits in prop::collection::vec(-4.0..4.0f64, 10),
        start in prop::collection::vec(-1.0..1.0f64, 10),
        dp in -2.0..2.0f64, dm in -2.0..2.0f64,
    ) {
        let mut logp = [0.0; 10];
        log_softmax_into(&logits, &mut logp);
        let ev = LossEval { value: 0.0, d_plus: dp, d_minus: dm };
        let mut g = start.clone();
        accumulate(&ev, 3, 7, &logp, 1.0, &mut g);
        for a in 0..10 {
            let expect = start[a] + dp * (f64::from(a == 3) - logp[a].exp()) + dm * (f64::from(a == 7) - logp[a].exp());
            prop_assert!(close(g[a], expect, 1e-12, 1e-15), "entry {a}: {} vs {expect}", g[a]);
        }
    }
}

// ---------------------------------------------------------------------------
// End to end: total loss over pairs through each policy.

/// The total loss over the pairs: per triple through `eval`, or, for a
/// batch-level loss (`batch`), through `eval_pairs` on the whole data set.
fn total_loss(
    policy: &dyn Policy,
    f: &dyn PairLoss,
    batch: bool,
    params: &[f64],
    ref_logp: &[f64],
    scale: f64,
) -> f64 {
    let mut scratch = vec![0.0; policy.scratch_len()];
    let mut logits = vec![0.0; X * Y];
    policy.forward(params, &mut scratch, &mut logits);
    let logp = row_log_softmax(&logits);
    if batch {
        return with_state(&logp, ref_logp, |s| {
            let mut out = vec![ZERO; PAIRS.len()];
            f.eval_pairs(s, &mut out);
            out.iter().map(|e| scale * e.value).sum()
        });
    }
    PAIRS
        .iter()
        .map(|&p| scale * f.eval(&lp_of(&logp, ref_logp, p)).value)
        .sum()
}

const ZERO: LossEval = LossEval {
    value: 0.0,
    d_plus: 0.0,
    d_minus: 0.0,
};

/// Calls `k` with the [`State`] of the common pairs at `logp`.
fn with_state<T>(logp: &[f64], ref_logp: &[f64], k: impl FnOnce(&State) -> T) -> T {
    let data = pairs_dataset();
    let probs: Vec<f64> = logp.iter().map(|l| l.exp()).collect();
    k(&State {
        data: &data,
        logp,
        probs: &probs,
        ref_logp,
    })
}

/// The loss whose exact gradient at `params` the training loop's gradient
/// must match: `f` with its stop-gradient quantities frozen there
/// ([`PairLoss::detached_at`]; β-DPO's batch temperature), or `f` itself.
fn gradient_reference(
    policy: &dyn Policy,
    f: &dyn PairLoss,
    params: &[f64],
    ref_logp: &[f64],
) -> Option<Box<dyn PairLoss>> {
    let mut scratch = vec![0.0; policy.scratch_len()];
    let mut logits = vec![0.0; X * Y];
    policy.forward(params, &mut scratch, &mut logits);
    let logp = row_log_softmax(&logits);
    with_state(&logp, ref_logp, |s| f.detached_at(s))
}

/// The common pairs as a data set (uniform targets; only the pairs matter).
fn pairs_dataset() -> Dataset {
    Dataset::custom(
        vec![vec![1.0 / Y as f64; Y]; X],
        PAIRS.iter().map(|&(x, c, r)| [x, c, r]).collect(),
        None,
    )
    .expect("the common pairs are valid")
}

/// The training loop's gradient: the logit gradient of the loss summed over
/// the pairs as `objective::PairObjective` (the loop's objective) computes
/// it from `State::probs`, then back-propagated through the policy.
fn analytic_grad(
    policy: &dyn Policy,
    objective: &PairObjective,
    params: &[f64],
    ref_logp: &[f64],
) -> Vec<f64> {
    let data = pairs_dataset();
    let mut scratch = vec![0.0; policy.scratch_len()];
    let mut logits = vec![0.0; X * Y];
    policy.forward(params, &mut scratch, &mut logits);
    let logp = row_log_softmax(&logits);
    let probs: Vec<f64> = logp.iter().map(|l| l.exp()).collect();
    let state = State {
        data: &data,
        logp: &logp,
        probs: &probs,
        ref_logp,
    };
    let mut dlogits = vec![0.0; X * Y];
    let zero = LossEval {
        value: 0.0,
        d_plus: 0.0,
        d_minus: 0.0,
    };
    let mut pair_grads = vec![zero; PAIRS.len()];
    objective.eval(&state, &mut dlogits, &mut pair_grads);
    // Garbage in the output buffer must be overwritten, not accumulated.
    let mut grad = vec![f64::NAN; params.len()];
    policy.backward(params, &mut scratch, &dlogits, &mut grad);
    grad
}

/// Kink bookkeeping of one finite-difference sweep over a loss's
/// parameters: a point where [`central`] sees a kink is skipped, but a loss
/// whose value looks kinked (or noisy) at more than 1 in 20 of the points
/// fails, so a broken gradient cannot hide behind skipped points.
#[derive(Default)]
struct Kinks {
    checked: usize,
    skipped: usize,
}

impl Kinks {
    fn record(&mut self, fd: Option<f64>) -> Option<f64> {
        match fd {
            Some(_) => self.checked += 1,
            None => self.skipped += 1,
        }
        fd
    }

    fn bounded(&self) -> bool {
        self.checked > 0 && self.skipped * 20 <= self.checked + self.skipped
    }
}

fn policies(width: usize) -> Vec<(String, Box<dyn Policy>)> {
    let mut v: Vec<(String, Box<dyn Policy>)> = vec![(
        "tabular".into(),
        Box::new(Tabular {
            n_prompts: X,
            n_responses: Y,
        }),
    )];
    for activation in [Activation::Tanh, Activation::Relu] {
        v.push((
            format!("mlp {activation:?} width {width}"),
            Box::new(Mlp {
                n_prompts: X,
                n_responses: Y,
                width,
                activation,
                init_scale: 1.0,
                init: MlpInit::Uniform,
            }),
        ));
    }
    v
}

proptest! {
    #![proptest_config(config(24))]

    /// For every policy and every loss, the parameter gradient of the total
    /// loss over the pairs matches central differences on every parameter.
    #[test]
    fn end_to_end_gradients_match_finite_differences(
        seed in 0..1000u64,
        width in 5..=8usize,
        noise in prop::collection::vec(-1.0..1.0f64, 400),
        ref_logits in prop::collection::vec(-3.0..3.0f64, X * Y),
        // Not 0: the tabular policy's init is all zeros, where every pair's
        // policy margin ties and AOT's sort is kinked at every parameter.
        noise_scale in 1e-3..1.5f64,
        scale in prop::sample::select(vec![1.0, 0.25]),
        us in prop::collection::vec(0.0..1.0f64, 4),
    ) {
        let ref_logp = row_log_softmax(&ref_logits);
        for (pname, policy) in policies(width) {
            let policy = policy.as_ref();
            let n = policy.n_params();
            prop_assert!(n <= noise.len());
            let mut params = policy.init_params(seed);
            prop_assert_eq!(params.len(), n);
            for (p, e) in params.iter_mut().zip(&noise) {
                *p += noise_scale * e;
            }
            let h = if pname.contains("Relu") { 1e-6 } else { H };
            let ties = sort_gap(policy, &params, &ref_logp) < 1e3 * h;
            for (lname, batch, f) in every_loss(&us) {
                // A sorting loss (AOT) is kinked wherever two of the sorted
                // quantities tie: within a few steps `h` the one-sided
                // differences straddle the kink at every parameter that
                // moves either, which is not an error of its gradient.
                if ties && lname.starts_with("aot") {
                    continue;
                }
                let objective = PairObjective { loss: f, scale };
                let detached = gradient_reference(policy, objective.loss.as_ref(), &params, &ref_logp);
                let f = detached.as_deref().unwrap_or(objective.loss.as_ref());
                let g = analytic_grad(policy, &objective, &params, &ref_logp);
                let l0 = total_loss(policy, f, batch, &params, &ref_logp, scale);
                prop_assert!(l0.is_finite());
                let mut kinks = Kinks::default();
                for (k, &gk) in g.iter().enumerate() {
                    prop_assert!(gk.is_finite(), "{pname} / {lname}: grad[{k}] = {gk}");
                    let fd = central(
                        |v| {
                            let mut q = params.clone();
                            q[k] = v;
                            total_loss(policy, f, batch, &q, &ref_logp, scale)
                        },
                        params[k],
                        h,
                    );
                    let Some(fd) = kinks.record(fd) else { continue };
                    prop_assert!(
                        close(gk, fd, 1e-5, 1e-7 * (1.0 + l0.abs())),
                        "{pname} / {lname}: param {k} of {n}: analytic {gk} vs finite difference {fd}"
                    );
                }
                // Kinks (ReLU, hinges) may be skipped, but only at a few parameters.
                prop_assert!(kinks.bounded(), "{pname} / {lname}: skipped {} of {n} parameters", kinks.skipped);
            }
        }
    }
}

/// The smallest gap between two pairs' values of any quantity the AOT losses
/// sort (the policy margins `l+ − l−`, the chosen and the rejected
/// log-ratios) at `params`.
fn sort_gap(policy: &dyn Policy, params: &[f64], ref_logp: &[f64]) -> f64 {
    let logp = dpo_lab::maths::policy::log_probs(policy, params);
    let lps: Vec<LogProbs> = PAIRS.iter().map(|&p| lp_of(&logp, ref_logp, p)).collect();
    let quantities: [fn(&LogProbs) -> f64; 3] =
        [|l| l.l_plus - l.l_minus, |l| l.r_plus(), |l| l.r_minus()];
    let mut gap = f64::INFINITY;
    for q in quantities {
        for (i, a) in lps.iter().enumerate() {
            for b in &lps[i + 1..] {
                gap = gap.min((q(a) - q(b)).abs());
            }
        }
    }
    gap
}

/// The same check in a regime where the MLP's logits are far from the
/// reference (large init scale), so the DPO sigmoids are not all near ½.
/// Every loss is checked at 95 % or more of the MLP's parameters: a kink
/// skips a parameter, and [`Kinks::bounded`] fails a loss that skips more.
#[test]
fn end_to_end_gradients_far_from_reference() {
    let ref_logp = row_log_softmax(&[0.0; X * Y]);
    for activation in [Activation::Tanh, Activation::Relu] {
        let policy = Mlp {
            n_prompts: X,
            n_responses: Y,
            width: 6,
            activation,
            init_scale: 4.0,
            init: MlpInit::Uniform,
        };
        let params = policy.init_params(7);
        for spec in LOSSES {
            let objective = PairObjective {
                loss: default_loss(spec),
                scale: 1.0,
            };
            let detached = gradient_reference(&policy, objective.loss.as_ref(), &params, &ref_logp);
            let f = detached.as_deref().unwrap_or(objective.loss.as_ref());
            let g = analytic_grad(&policy, &objective, &params, &ref_logp);
            let mut kinks = Kinks::default();
            for (k, &gk) in g.iter().enumerate() {
                let fd = central(
                    |v| {
                        let mut q = params.clone();
                        q[k] = v;
                        total_loss(&policy, f, spec.batch_level, &q, &ref_logp, 1.0)
                    },
                    params[k],
                    1e-6,
                );
                let Some(fd) = kinks.record(fd) else { continue };
                assert!(
                    close(gk, fd, 1e-5, 1e-6),
                    "{activation:?} / {}: param {k}: analytic {gk} vs fd {fd}",
                    spec.name
                );
            }
            assert!(
                kinks.bounded(),
                "{activation:?} / {}: skipped {} of {} parameters as kinks",
                spec.name,
                kinks.skipped,
                g.len()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The paper's closed forms.

fn dpo(beta: f64) -> Box<dyn PairLoss> {
    let mut given = BTreeMap::new();
    given.insert("beta".to_string(), beta);
    let spec = loss::spec("dpo").unwrap();
    (spec.build)(&loss::resolve_params(spec, &given).unwrap())
}

fn flex_dpo(bp: f64, bm: f64) -> Box<dyn PairLoss> {
    let mut given = BTreeMap::new();
    given.insert("beta_plus".to_string(), bp);
    given.insert("beta_minus".to_string(), bm);
    let spec = loss::spec("flex-dpo").unwrap();
    (spec.build)(&loss::resolve_params(spec, &given).unwrap())
}

proptest! {
    #![proptest_config(config(512))]

    /// Tabular DPO: the parameter (= logit) gradient is exactly
    /// `-β σ(-βΔ)(e_{a+} - e_{a-})`; the softmax terms cancel.
    #[test]
    fn dpo_tabular_logit_gradient_identity(
        logits in prop::collection::vec(-6.0..6.0f64, X * Y),
        ref_logits in prop::collection::vec(-6.0..6.0f64, X * Y),
        beta in 0.01..2.0f64,
        flex in any::<bool>(),
    ) {
        let f = if flex { flex_dpo(beta, beta) } else { dpo(beta) };
        let policy = Tabular { n_prompts: X, n_responses: Y };
        let ref_logp = row_log_softmax(&ref_logits);
        let logp = row_log_softmax(&logits);
        let objective = PairObjective { loss: f, scale: 1.0 };
        let g = analytic_grad(&policy, &objective, &logits, &ref_logp);
        let mut expect = vec![0.0; X * Y];
        for &p in &PAIRS {
            let lp = lp_of(&logp, &ref_logp, p);
            let delta = (lp.l_plus - lp.l0_plus) - (lp.l_minus - lp.l0_minus);
            let c = beta * sigmoid(-beta * delta);
            expect[p.0 * Y + p.1] -= c;
            expect[p.0 * Y + p.2] += c;
        }
        for k in 0..X * Y {
            // DPO is exact to rounding of the same formula; Flex-DPO forms
            // β+ r+ - β- r- instead of βΔ, a few ulps away.
            let rel = if flex { 1e-13 } else { 1e-15 };
            prop_assert!(close(g[k], expect[k], rel, 1e-300),
                "logit {k}: {} vs {}", g[k], expect[k]);
        }
    }

    /// Corollary 1 and the paper's explicit formulas for `∂ℓ/∂π±`.
    #[test]
    fn dpo_probability_gradients_match_the_paper(
        lp in logp_strategy(), lm in logp_strategy(),
        l0p in logp_strategy(), l0m in logp_strategy(),
        beta in 0.01..2.0f64,
    ) {
        let at = LogProbs { l_plus: lp, l_minus: lm, l0_plus: l0p, l0_minus: l0m };
        let (pp, pm, p0p, p0m) = (lp.exp(), lm.exp(), l0p.exp(), l0m.exp());
        for f in [dpo(beta), flex_dpo(beta, beta)] {
            let ev = f.eval(&at);
            let (g_plus, g_minus) = (ev.d_plus / pp, ev.d_minus / pm);
            // Corollary 1.
            prop_assert!(close(g_minus / g_plus, -pp / pm, 1e-13, 0.0),
                "ratio {} vs {}", g_minus / g_plus, -pp / pm);
            // The explicit derivatives.
            let z = pm / pp;
            let alpha = (p0p / p0m).powf(beta);
            let common = alpha * beta / (1.0 + alpha * z.powf(beta)) * z.powf(beta - 1.0);
            let paper_plus = common * (-pm / (pp * pp));
            let paper_minus = common / pp;
            prop_assert!(close(g_plus, paper_plus, 1e-11, 0.0), "∂ℓ/∂π+ {g_plus} vs paper {paper_plus}");
            prop_assert!(close(g_minus, paper_minus, 1e-11, 0.0), "∂ℓ/∂π- {g_minus} vs paper {paper_minus}");
            // And the value: ℓ = log(1 + α z^β).
            let paper_value = (alpha * z.powf(beta)).ln_1p();
            prop_assert!(close(ev.value, paper_value, 1e-12, 1e-15), "value {} vs {paper_value}", ev.value);
        }
    }

    /// Flex-DPO with unequal temperatures breaks Corollary 1's balance in the
    /// way its formula says: the ratio is `-(β-/β+) π+/π-`.
    #[test]
    fn flex_dpo_ratio(
        lp in logp_strategy(), lm in logp_strategy(),
        l0p in logp_strategy(), l0m in logp_strategy(),
        bp in 0.01..1.0f64, bm in 0.01..1.0f64,
    ) {
        let ev = flex_dpo(bp, bm).eval(&LogProbs { l_plus: lp, l_minus: lm, l0_plus: l0p, l0_minus: l0m });
        let (pp, pm) = (lp.exp(), lm.exp());
        let ratio = (ev.d_minus / pm) / (ev.d_plus / pp);
        prop_assert!(close(ratio, -(bm / bp) * pp / pm, 1e-13, 0.0));
    }
}

/// SLiC at the hinge's kink uses the subgradient 0 for the hinge, as documented.
#[test]
fn slic_kink_uses_zero_subgradient() {
    let spec = loss::spec("slic").unwrap();
    let f = default_loss(spec);
    // defaults: delta = 5, eta = 0.1; l+ - l- = 5 exactly.
    let ev = f.eval(&LogProbs {
        l_plus: -1.0,
        l_minus: -6.0,
        l0_plus: 0.0,
        l0_minus: 0.0,
    });
    assert_eq!(ev.d_minus, 0.0);
    assert!((ev.d_plus + 0.1).abs() < 1e-15);
    assert!((ev.value - 0.1).abs() < 1e-15);
}

/// The registry's names are unique and each resolves through `loss::spec`.
#[test]
fn registry_is_consistent() {
    let mut names: Vec<_> = LOSSES.iter().map(|s| s.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), LOSSES.len(), "duplicate loss names");
    for s in LOSSES {
        assert_eq!(loss::spec(s.name).unwrap().name, s.name);
        let mut pn: Vec<_> = s.params.iter().map(|p| p.name).collect();
        pn.sort_unstable();
        pn.dedup();
        assert_eq!(pn.len(), s.params.len(), "{}: duplicate parameter", s.name);
        for p in s.params {
            if let Some(d) = p.default {
                assert!(
                    p.domain.contains(d),
                    "{}.{} default out of domain",
                    s.name,
                    p.name
                );
            }
        }
    }
}
