//! The losses of issue 15 item 1 (EXO-pair, AOT, AOT-pair, DiscoPOP, the
//! f-divergence family, Cal-DPO, χPO, β-DPO): golden values, identities
//! between losses and limits, finiteness over an extreme log-probability
//! range, and, for the batch-level losses (AOT, AOT-pair, β-DPO), their
//! `eval_pairs` checked against an independent transcription of TRL's batch
//! formula and against finite differences of the batch total.
//!
//! The per-triple partials of every loss are checked by finite differences
//! in `tests/gradients.rs` (which iterates `LOSSES`, the batch-level ones end
//! to end through `eval_pairs`).
//!
//! Golden values: worked by hand from the formulas in each loss's rustdoc
//! (the derivations are in the comments) and cross-checked with a short
//! python3 script (math/cmath only; no numpy on the machine) that
//! transcribes TRL's `dpo_trainer.py` formulas (huggingface/trl f2cd577;
//! the α-divergence in the pre-e3b7897 form, Cal-DPO from
//! tengxiao1/Cal-DPO, χPO from the paper's algorithm 1) and takes the
//! partials by complex-step differentiation (step 1e-30, exact to rounding).
//! The few values given as decimals come from that script.

mod common;
use common::loss::{assert_eval, at, build, close, given};
use common::{PAIRS, X, Y};
use dpo_lab::maths::data::Dataset;
use dpo_lab::maths::loss::{self, LogProbs, LossEval, PairLoss, State, LOSSES};
use dpo_lab::maths::numerics::{log_sigmoid, sigmoid};
use proptest::prelude::*;

/// The losses this file is about (config names), in registry order.
const NEW: [&str; 10] = [
    "exo-pair",
    "aot",
    "aot-pair",
    "discopop",
    "dpo-forward-kl",
    "dpo-js",
    "dpo-alpha",
    "cal-dpo",
    "chi-po",
    "beta-dpo",
];

/// The batch-level losses: exactly those whose spec says `batch_level`.
const BATCH_LEVEL: [&str; 3] = ["aot", "aot-pair", "beta-dpo"];

fn ln(x: f64) -> f64 {
    x.ln()
}

const LN2: f64 = std::f64::consts::LN_2;
const SQRT2: f64 = std::f64::consts::SQRT_2;

// Points (natural logs), as in tests/loss_zoo.rs:
//   P1: l+ = ln ½, l- = ln ¼, l0± = ln ⅛: r+ = ln 4, r- = ln 2, Δ = ln 2
//   P2: l+ = ln ¼, l- = ln ½, l0+ = ln ½, l0- = ln ¼: r+ = -ln 2, r- = ln 2, Δ = -ln 4
//   P3: l+ = ln ½, l- = ln 1/64, l0+ = ln 1/64, l0- = ln ½: r± = ±5 ln 2, Δ = 10 ln 2
fn p1() -> LogProbs {
    at(ln(0.5), ln(0.25), ln(0.125), ln(0.125))
}
fn p2() -> LogProbs {
    at(ln(0.25), ln(0.5), ln(0.5), ln(0.25))
}
fn p3() -> LogProbs {
    at(ln(0.5), ln(1.0 / 64.0), ln(1.0 / 64.0), ln(0.5))
}

// ---------------------------------------------------------------------------
// Registry: names, defaults, flags.

/// A loss name, its parameters' defaults in spec order, whether it is batch level.
type Expected = (&'static str, &'static [(&'static str, f64)], bool);

#[test]
fn defaults_reference_use_and_batch_level() {
    let expect: &[Expected] = &[
        ("exo-pair", &[("beta", 0.1), ("epsilon", 1e-3)], false),
        ("aot", &[("beta", 0.1), ("epsilon", 0.0)], true),
        ("aot-pair", &[("beta", 0.1), ("epsilon", 0.0)], true),
        ("discopop", &[("beta", 0.1), ("tau", 0.05)], false),
        ("dpo-forward-kl", &[("beta", 0.1)], false),
        ("dpo-js", &[("beta", 0.1)], false),
        ("dpo-alpha", &[("beta", 0.1), ("alpha", 0.5)], false),
        ("cal-dpo", &[("beta", 0.1)], false),
        ("chi-po", &[("beta", 0.1), ("r_max", 1.0)], false),
        (
            "beta-dpo",
            &[("beta", 0.1), ("alpha", 0.6), ("m0", 0.0)],
            true,
        ),
    ];
    assert_eq!(expect.len(), NEW.len());
    for (&(name, params, batch), new) in expect.iter().zip(NEW) {
        assert_eq!(name, new);
        let spec = loss::spec(name).unwrap();
        let got: Vec<(&str, f64)> = spec
            .params
            .iter()
            .map(|p| (p.name, p.default.unwrap()))
            .collect();
        assert_eq!(got, params, "{name}");
        assert!(spec.uses_reference, "{name}");
        assert_eq!(spec.batch_level, batch, "{name}");
        assert_eq!(LOSSES.iter().filter(|s| s.name == name).count(), 1);
    }
    // The new losses follow the older ones in the registry, in this order.
    let names: Vec<&str> = LOSSES.iter().map(|s| s.name).collect();
    assert_eq!(&names[names.len() - NEW.len()..], NEW);
}

/// The per-triple checks skip exactly the losses flagged batch level, and
/// these are the three that couple pairs.
#[test]
fn batch_level_losses_are_exactly_the_flagged_ones() {
    let flagged: Vec<&str> = LOSSES
        .iter()
        .filter(|s| s.batch_level)
        .map(|s| s.name)
        .collect();
    assert_eq!(flagged, BATCH_LEVEL);
}

#[test]
fn exo_pair_rejects_zero_label_smoothing() {
    let spec = loss::spec("exo-pair").unwrap();
    for bad in [0.0, 0.5, -1e-9] {
        let err = loss::resolve_params(spec, &given(&[("epsilon", bad)])).unwrap_err();
        assert!(err.to_string().contains("`loss.epsilon`"), "{err}");
    }
    assert!(loss::resolve_params(spec, &given(&[("epsilon", 1e-12)])).is_ok());
}

// ---------------------------------------------------------------------------
// Golden values of the per-triple losses.

#[test]
fn golden_exo_pair() {
    // β = 1, ε = ¼: f = σ(u)[ln σ(u) - ln ¾] + σ(-u)[ln σ(-u) - ln ¼], u = Δ;
    // df/du = σ(u)σ(-u)(u - ln 3); f+ = df/du = -f-.
    let f = build("exo-pair", &[("beta", 1.0), ("epsilon", 0.25)]);
    // P1: u = ln 2, σ = ⅔, ⅓: f = ⅔ ln(8/9) + ⅓ ln(4/3); df/du = (2/9) ln(2/3).
    let d = 2.0 / 9.0 * ln(2.0 / 3.0);
    assert_eval(
        "exo P1",
        f.eval(&p1()),
        2.0 / 3.0 * ln(8.0 / 9.0) + ln(4.0 / 3.0) / 3.0,
        d,
        -d,
    );
    // P2: u = -ln 4, σ = ⅕, ⅘: f = ⅕ ln(4/15) + ⅘ ln(16/5); df/du = -(4/25) ln 12.
    let d = -4.0 / 25.0 * ln(12.0);
    assert_eval(
        "exo P2",
        f.eval(&p2()),
        0.2 * ln(4.0 / 15.0) + 0.8 * ln(3.2),
        d,
        -d,
    );
    // Defaults β = 0.1, ε = 1e-3 at P3 (u = ln 2):
    // f = ⅔ ln(⅔/0.999) + ⅓ ln(⅓/0.001); f+ = 0.1 (2/9)(ln 2 - ln 999).
    let d = 0.1 * 2.0 / 9.0 * (LN2 - ln(999.0));
    assert_eval(
        "exo P3 defaults",
        build("exo-pair", &[]).eval(&p3()),
        2.0 / 3.0 * ln(2.0 / 3.0 / 0.999) + ln(1.0 / 3.0 / 0.001) / 3.0,
        d,
        -d,
    );
}

#[test]
fn golden_discopop() {
    // β = 1, τ = 1: f = (1-m)(-ln σ(u)) + m e^{-u}, m = σ(u).
    let f = build("discopop", &[("beta", 1.0), ("tau", 1.0)]);
    // P1: u = ln 2, m = ⅔, e^{-u} = ½: f = ⅓ ln 1.5 + ⅓;
    // df/du = m(1-m)(e^{-u} + ln σ(u)) - (1-m)σ(-u) - m e^{-u}
    //       = (2/9)(½ - ln 1.5) - 1/9 - ⅓ = -(2/9) ln 1.5 - ⅓.
    let d = -2.0 / 9.0 * ln(1.5) - 1.0 / 3.0;
    assert_eval("discopop P1", f.eval(&p1()), (ln(1.5) + 1.0) / 3.0, d, -d);
    // P2: u = -ln 4, m = ⅕, e^{-u} = 4: f = ⅘ ln 5 + ⅘;
    // df/du = (4/25)(4 - ln 5) - 16/25 - ⅘ = -(4/25) ln 5 - ⅘.
    let d = -4.0 / 25.0 * ln(5.0) - 0.8;
    assert_eval("discopop P2", f.eval(&p2()), 0.8 * ln(5.0) + 0.8, d, -d);
    // Defaults β = 0.1, τ = 0.05 at P3: u = ln 2, u/τ = 20 ln 2, m = k/(k+1),
    // k = 2^20; A = m e^{-u} = m/2, σ(-u) = ⅓: f = ln 1.5/(k+1) + m/2;
    // df/du = 20 (1-m) m/2 - 20 m (1-m) ln 1.5 - (1-m)/3 - m/2, f+ = 0.1 df/du
    // (≈ -0.0499998038, as the python script gives).
    let k = 2f64.powi(20);
    let (m, one_m) = (k / (k + 1.0), 1.0 / (k + 1.0));
    let du = 10.0 * one_m * m - 20.0 * m * one_m * ln(1.5) - one_m / 3.0 - m / 2.0;
    assert_eval(
        "discopop P3 defaults",
        build("discopop", &[]).eval(&p3()),
        ln(1.5) * one_m + 0.5 * m,
        0.1 * du,
        -0.1 * du,
    );
}

#[test]
fn golden_f_divergences() {
    // Forward KL, β = 1: m = e^{-r-} - e^{-r+}, f = ln(1 + e^{-m}),
    // f+ = -σ(-m) e^{-r+}, f- = σ(-m) e^{-r-}.
    let fkl = build("dpo-forward-kl", &[("beta", 1.0)]);
    // P1: e^{-r+} = ¼, e^{-r-} = ½, m = ¼.
    let s = sigmoid(-0.25);
    assert_eval(
        "forward-kl P1",
        fkl.eval(&p1()),
        (-0.25f64).exp().ln_1p(),
        -s / 4.0,
        s / 2.0,
    );
    // P2: e^{-r+} = 2, e^{-r-} = ½, m = -3/2.
    let s = sigmoid(1.5);
    assert_eval(
        "forward-kl P2",
        fkl.eval(&p2()),
        1.5f64.exp().ln_1p(),
        -2.0 * s,
        0.5 * s,
    );

    // JS, β = 1: m = ln σ(r+) - ln σ(r-), f+ = -σ(-m)σ(-r+), f- = σ(-m)σ(-r-).
    let js = build("dpo-js", &[("beta", 1.0)]);
    // P1: ln σ(ln 4) - ln σ(ln 2) = ln(⅘ / ⅔) = ln 1.2; f = ln(2.2/1.2) = ln(11/6);
    // σ(-m) = 5/11, σ(-r+) = ⅕, σ(-r-) = ⅓: f+ = -1/11, f- = 5/33.
    assert_eval(
        "js P1",
        js.eval(&p1()),
        ln(11.0 / 6.0),
        -1.0 / 11.0,
        5.0 / 33.0,
    );
    // P2: m = ln(⅓ / ⅔) = -ln 2: f = ln 3; σ(-m) = ⅔, σ(-r+) = ⅔, σ(-r-) = ⅓.
    assert_eval("js P2", js.eval(&p2()), ln(3.0), -4.0 / 9.0, 2.0 / 9.0);

    // α-divergence, β = 1, α = ½: m = (e^{-r-/2} - e^{-r+/2})/½,
    // f+ = -σ(-m) e^{-r+/2}, f- = σ(-m) e^{-r-/2}.
    let a = build("dpo-alpha", &[("beta", 1.0), ("alpha", 0.5)]);
    // P1: e^{-r+/2} = ½, e^{-r-/2} = 1/√2: m = √2 - 1.
    let m = SQRT2 - 1.0;
    let s = sigmoid(-m);
    assert_eval(
        "alpha P1",
        a.eval(&p1()),
        (-m).exp().ln_1p(),
        -s / 2.0,
        s / SQRT2,
    );
    // P2: e^{-r+/2} = √2, e^{-r-/2} = 1/√2: m = -√2.
    let s = sigmoid(SQRT2);
    assert_eval(
        "alpha P2",
        a.eval(&p2()),
        SQRT2.exp().ln_1p(),
        -SQRT2 * s,
        s / SQRT2,
    );
    // α = 2 at P1: e^{-2r+} = 1/16, e^{-2r-} = ¼: m = (¼ - 1/16)/2 = 3/32.
    let a2 = build("dpo-alpha", &[("beta", 1.0), ("alpha", 2.0)]);
    let s = sigmoid(-3.0 / 32.0);
    assert_eval(
        "alpha 2 P1",
        a2.eval(&p1()),
        (-3.0f64 / 32.0).exp().ln_1p(),
        -s / 16.0,
        s / 4.0,
    );
}

#[test]
fn golden_cal_dpo() {
    // β = ½, targets ±1: f = ln(1 + e^{-Δ}) + ½[(r+ - 1)² + (r- + 1)²];
    // f+ = -σ(-Δ) + (r+ - 1), f- = σ(-Δ) + (r- + 1).
    let f = build("cal-dpo", &[("beta", 0.5)]);
    // P1: Δ = ln 2, σ(-Δ) = ⅓, r+ = 2 ln 2, r- = ln 2.
    assert_eval(
        "cal-dpo P1",
        f.eval(&p1()),
        ln(1.5) + 0.5 * ((2.0 * LN2 - 1.0).powi(2) + (LN2 + 1.0).powi(2)),
        -1.0 / 3.0 + 2.0 * LN2 - 1.0,
        1.0 / 3.0 + LN2 + 1.0,
    );
    // P2: Δ = -ln 4, σ(-Δ) = ⅘, r+ = -ln 2, r- = ln 2: f = ln 5 + (1 + ln 2)².
    assert_eval(
        "cal-dpo P2",
        f.eval(&p2()),
        ln(5.0) + (1.0 + LN2).powi(2),
        -0.8 - 1.0 - LN2,
        0.8 + LN2 + 1.0,
    );
    // At the calibration targets r± = ±1/(2β) = ±5 (default β = 0.1) only
    // the Bradley–Terry term is left: f = ln(1 + e^{-10}), f± = ∓σ(-10).
    let ev = build("cal-dpo", &[]).eval(&at(-1.0, -8.0, -6.0, -3.0));
    let s = sigmoid(-10.0);
    assert_eval("cal-dpo targets", ev, (-10f64).exp().ln_1p(), -s, s);
}

#[test]
fn golden_chi_po() {
    // β = 1, R_max = 10 (no clipping here): u = (e^{r+} + r+) - (e^{r-} + r-),
    // f = ln(1 + e^{-u}), f+ = -σ(-u)(e^{r+} + 1), f- = σ(-u)(e^{r-} + 1).
    let f = build("chi-po", &[("beta", 1.0), ("r_max", 10.0)]);
    // P1: e^{r+} = 4, e^{r-} = 2: u = 2 + ln 2, e^{-u} = e^{-2}/2, σ(-u) = 1/(1 + 2e²).
    let e2 = 2f64.exp();
    let s = 1.0 / (1.0 + 2.0 * e2);
    assert_eval(
        "chi-po P1",
        f.eval(&p1()),
        (0.5 / e2).ln_1p(),
        -5.0 * s,
        3.0 * s,
    );
    // P2: e^{r+} = ½, e^{r-} = 2: u = -3/2 - 2 ln 2, e^{-u} = 4 e^{3/2}.
    let e15 = 1.5f64.exp();
    let s = 4.0 * e15 / (1.0 + 4.0 * e15);
    assert_eval(
        "chi-po P2",
        f.eval(&p2()),
        (4.0 * e15).ln_1p(),
        -1.5 * s,
        3.0 * s,
    );
    // R_max = 1: P1's u = 2 + ln 2 > 2 is clipped to 2: f = ln(1 + e^{-2}), flat.
    let clipped = build("chi-po", &[("beta", 1.0), ("r_max", 1.0)]).eval(&p1());
    assert_eval(
        "chi-po P1 clipped",
        clipped,
        (-2f64).exp().ln_1p(),
        0.0,
        0.0,
    );
    // And P2's u = -(3/2 + ln 4) ≈ -2.89 < -2: clipped to -2, flat too.
    let clipped = build("chi-po", &[("beta", 1.0), ("r_max", 1.0)]).eval(&p2());
    assert_eval("chi-po P2 clipped", clipped, 2f64.exp().ln_1p(), 0.0, 0.0);
}

// ---------------------------------------------------------------------------
// Identities and limits of the per-triple losses.

fn logp() -> impl Strategy<Value = f64> {
    -12.0..-0.05f64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(20_251_203), ..ProptestConfig::default() })]

    /// Forward KL is the α-divergence at α = 1 (two independent codings).
    #[test]
    fn forward_kl_is_alpha_divergence_at_one(
        lp in logp(), lm in logp(), l0p in logp(), l0m in logp(), beta in 0.01..3.0f64,
    ) {
        let p = at(lp, lm, l0p, l0m);
        let f = build("dpo-forward-kl", &[("beta", beta)]).eval(&p);
        let a = build("dpo-alpha", &[("beta", beta), ("alpha", 1.0)]).eval(&p);
        prop_assert!(close(f.value, a.value, 1e-12), "{f:?} vs {a:?}");
        prop_assert!(close(f.d_plus, a.d_plus, 1e-12), "{f:?} vs {a:?}");
        prop_assert!(close(f.d_minus, a.d_minus, 1e-12), "{f:?} vs {a:?}");
    }

    /// α → 0 is reverse KL: the α-divergence tends to DPO.
    #[test]
    fn alpha_divergence_to_zero_is_dpo(
        lp in logp(), lm in logp(), l0p in logp(), l0m in logp(), beta in 0.01..3.0f64,
    ) {
        let p = at(lp, lm, l0p, l0m);
        let a = build("dpo-alpha", &[("beta", beta), ("alpha", 1e-9)]).eval(&p);
        let d = build("dpo", &[("beta", beta)]).eval(&p);
        prop_assert!(close(a.value, d.value, 1e-7), "{a:?} vs {d:?}");
        prop_assert!(close(a.d_plus, d.d_plus, 1e-7), "{a:?} vs {d:?}");
        prop_assert!(close(a.d_minus, d.d_minus, 1e-7), "{a:?} vs {d:?}");
    }

    /// JS: TRL's earlier form `Δ - (softplus(r+) - softplus(r-))` of the margin.
    #[test]
    fn js_margin_is_trl_softplus_form(
        lp in logp(), lm in logp(), l0p in logp(), l0m in logp(), beta in 0.01..3.0f64,
    ) {
        let p = at(lp, lm, l0p, l0m);
        let softplus = |x: f64| x.exp().ln_1p();
        let m = p.delta() - (softplus(p.r_plus()) - softplus(p.r_minus()));
        let want = -log_sigmoid(beta * m);
        let got = build("dpo-js", &[("beta", beta)]).eval(&p).value;
        prop_assert!(close(got, want, 1e-12), "{got} vs {want}");
    }

    /// EXO is a KL divergence: non-negative, zero only at u = ln((1-ε)/ε),
    /// where both partials vanish.
    #[test]
    fn exo_pair_is_a_divergence_with_its_zero_at_the_target_margin(
        lp in logp(), lm in logp(), l0p in logp(), l0m in logp(),
        beta in 0.05..3.0f64, eps in 1e-4..0.49f64,
    ) {
        let f = build("exo-pair", &[("beta", beta), ("epsilon", eps)]);
        let ev = f.eval(&at(lp, lm, l0p, l0m));
        prop_assert!(ev.value >= -1e-15, "{ev:?}");
        // Put the margin at the target: Δ = ln((1-ε)/ε)/β, via l- .
        let target = ((1.0 - eps) / eps).ln() / beta;
        let zero = f.eval(&at(lp, lp - l0p + l0m - target, l0p, l0m));
        prop_assert!(zero.value.abs() < 1e-12 && zero.d_plus.abs() < 1e-12, "{zero:?}");
    }

    /// cDPO-style label smoothing at one pair: AOT and AOT-pair on a batch of
    /// one pair are cDPO at the same β and ε (`eval` and `eval_pairs`).
    #[test]
    fn aot_on_one_pair_is_label_smoothed_dpo(
        lp in logp(), lm in logp(), l0p in logp(), l0m in logp(),
        beta in 0.01..3.0f64, eps in 0.0..0.49f64,
    ) {
        let p = at(lp, lm, l0p, l0m);
        let c = build("cdpo", &[("beta", beta), ("epsilon", eps)]).eval(&p);
        for name in ["aot", "aot-pair"] {
            let f = build(name, &[("beta", beta), ("epsilon", eps)]);
            let one = one_pair_batch(f.as_ref(), p);
            for ev in [f.eval(&p), one] {
                prop_assert!(close(ev.value, c.value, 1e-14), "{name}: {ev:?} vs {c:?}");
                prop_assert!(close(ev.d_plus, c.d_plus, 1e-14), "{name}: {ev:?} vs {c:?}");
                prop_assert!(close(ev.d_minus, c.d_minus, 1e-14), "{name}: {ev:?} vs {c:?}");
            }
        }
    }

    /// χPO below the clip is DPO with the link e^r + r; it is flat beyond.
    #[test]
    fn chi_po_is_the_phi_link_clipped(
        lp in logp(), lm in logp(), l0p in logp(), l0m in logp(),
        beta in 0.01..2.0f64, r_max in 0.1..5.0f64,
    ) {
        let p = at(lp, lm, l0p, l0m);
        let phi = |r: f64| r.exp() + r;
        let u = beta * (phi(p.r_plus()) - phi(p.r_minus()));
        let ev = build("chi-po", &[("beta", beta), ("r_max", r_max)]).eval(&p);
        let clipped = u.clamp(-2.0 * r_max, 2.0 * r_max);
        prop_assert!(close(ev.value, -log_sigmoid(clipped), 1e-12), "{ev:?} vs u = {u}");
        if u.abs() > 2.0 * r_max {
            prop_assert_eq!((ev.d_plus, ev.d_minus), (0.0, 0.0));
        } else {
            let g = beta * sigmoid(-u);
            prop_assert!(close(ev.d_plus, -g * (p.r_plus().exp() + 1.0), 1e-12));
            prop_assert!(close(ev.d_minus, g * (p.r_minus().exp() + 1.0), 1e-12));
        }
    }

    /// Cal-DPO minus its calibration terms is DPO at β = 1.
    #[test]
    fn cal_dpo_is_dpo_plus_calibration(
        lp in logp(), lm in logp(), l0p in logp(), l0m in logp(), beta in 0.01..3.0f64,
    ) {
        let p = at(lp, lm, l0p, l0m);
        let c = build("cal-dpo", &[("beta", beta)]).eval(&p);
        let d = build("dpo", &[("beta", 1.0)]).eval(&p);
        let t = 0.5 / beta;
        let (ep, em) = (p.r_plus() - t, p.r_minus() + t);
        prop_assert!(close(c.value - 0.5 * (ep * ep + em * em), d.value, 1e-12));
        prop_assert!(close(c.d_plus - ep, d.d_plus, 1e-12));
        prop_assert!(close(c.d_minus - em, d.d_minus, 1e-12));
    }
}

#[test]
fn exo_pair_limits() {
    // Bounded: f → -ln(1-ε) as u → +∞ and → -ln ε as u → -∞, gradient → 0.
    for eps in [1e-3, 0.1, 0.3] {
        let f = build("exo-pair", &[("beta", 1.0), ("epsilon", eps)]);
        let hi = f.eval(&at(-0.01, -200.0, -1.0, -1.0)); // u ≈ 200
        let lo = f.eval(&at(-200.0, -0.01, -1.0, -1.0)); // u ≈ -200
        assert!(close(hi.value, -(-eps).ln_1p(), 1e-13), "{eps}: {hi:?}");
        assert!(close(lo.value, -eps.ln(), 1e-13), "{eps}: {lo:?}");
        assert!(hi.d_plus.abs() < 1e-80 && lo.d_plus.abs() < 1e-80);
    }
    // At u = 0: df/du = σ(0)σ(0)(0 - ln((1-ε)/ε)) = -¼ ln 999 at ε = 1e-3.
    let f = build("exo-pair", &[("beta", 1.0), ("epsilon", 1e-3)]);
    let ev = f.eval(&at(-1.0, -1.0, -1.0, -1.0)); // u = 0
    assert!(close(ev.d_plus, -0.25 * ln(999.0), 1e-13), "{ev:?}");
}

#[test]
fn discopop_limits() {
    // u = 0: f = ½ ln 2 + ½ for every τ (m = ½).
    for tau in [1e-3, 0.05, 1.0, 50.0] {
        let f = build("discopop", &[("beta", 1.0), ("tau", tau)]);
        let ev = f.eval(&at(-1.0, -2.0, -1.0, -2.0));
        assert!(close(ev.value, 0.5 * LN2 + 0.5, 1e-14), "{tau}: {ev:?}");
    }
    // τ → 0: the switch is a step; |u| ≫ τ gives DPO below zero, e^{-u} above.
    let f = build("discopop", &[("beta", 1.0), ("tau", 1e-3)]);
    for u in [0.5f64, 2.0, 8.0] {
        let up = f.eval(&at(-1.0, -1.0 - u, -1.0, -1.0));
        assert!(close(up.value, (-u).exp(), 1e-12), "u = {u}: {up:?}");
        assert!(close(up.d_plus, -(-u).exp(), 1e-12), "u = {u}: {up:?}");
        let down = f.eval(&at(-1.0 - u, -1.0, -1.0, -1.0));
        let dpo = build("dpo", &[("beta", 1.0)]).eval(&at(-1.0 - u, -1.0, -1.0, -1.0));
        assert!(close(down.value, dpo.value, 1e-12), "u = -{u}: {down:?}");
        assert!(close(down.d_plus, dpo.d_plus, 1e-12), "u = -{u}: {down:?}");
    }
    // τ → ∞: m = ½, the plain average of the two losses.
    let f = build("discopop", &[("beta", 1.0), ("tau", 1e12)]);
    let u = 1.3f64;
    let ev = f.eval(&at(-1.0, -1.0 - u, -1.0, -1.0));
    assert!(close(ev.value, 0.5 * (-log_sigmoid(u) + (-u).exp()), 1e-11));
}

/// DiscoPOP's documented non-monotonicity: df/du(0) = (1 - ln 2)/(4τ) - ¾,
/// and at τ = 0.05 a local minimum near u = -0.119 (gradient changes sign
/// between -0.12 and -0.118) below f(0).
#[test]
fn discopop_pushes_a_zero_margin_down_at_small_tau() {
    let f = build("discopop", &[("beta", 1.0), ("tau", 0.05)]);
    let at_u = |u: f64| f.eval(&at(-1.0, -1.0 - u, -1.0, -1.0));
    let d0 = at_u(0.0).d_plus;
    assert!(close(d0, (1.0 - LN2) / 0.2 - 0.75, 1e-14), "{d0}");
    assert!(at_u(-0.12).d_plus < 0.0 && at_u(-0.118).d_plus > 0.0);
    assert!(at_u(-0.119).value < at_u(0.0).value);
    // At τ = 0.2 > (1 - ln 2)/3 the slope at 0 is negative, like DPO's.
    let g = build("discopop", &[("beta", 1.0), ("tau", 0.2)]);
    assert!(g.eval(&at(-1.0, -1.0, -1.0, -1.0)).d_plus < 0.0);
}

#[test]
fn beta_dpo_single_pair_temperature() {
    // eval is a batch of one pair: M = Δ. β0 = 1, α = ½, m0 = 0 at P1 (Δ = ln 2):
    // β_b = 1 + ½ ln 2; f = -ln σ(β_b ln 2), f+ = -β_b σ(-β_b ln 2) = -f-.
    let f = build("beta-dpo", &[("beta", 1.0), ("alpha", 0.5), ("m0", 0.0)]);
    let b = 1.0 + 0.5 * LN2;
    let g = b * sigmoid(-b * LN2);
    assert_eval("beta-dpo P1", f.eval(&p1()), -log_sigmoid(b * LN2), -g, g);
}

// ---------------------------------------------------------------------------
// Batch-level losses through eval_pairs.

/// A data set of `X` prompts and `Y` responses (uniform targets) with `pairs`.
fn dataset(pairs: &[(usize, usize, usize)]) -> Dataset {
    Dataset::custom(
        vec![vec![1.0 / Y as f64; Y]; X],
        pairs.iter().map(|&(x, c, r)| [x, c, r]).collect(),
        None,
    )
    .unwrap()
}

/// `eval_pairs` of `f` on `data` at log-probabilities `logp`, `ref_logp`
/// (rows need not be normalised: the losses read entries).
fn eval_pairs(f: &dyn PairLoss, data: &Dataset, logp: &[f64], ref_logp: &[f64]) -> Vec<LossEval> {
    let probs: Vec<f64> = logp.iter().map(|l| l.exp()).collect();
    let s = State {
        data,
        logp,
        probs: &probs,
        ref_logp,
    };
    let nan = LossEval {
        value: f64::NAN,
        d_plus: f64::NAN,
        d_minus: f64::NAN,
    };
    let mut out = vec![nan; data.pairs.len()];
    f.eval_pairs(&s, &mut out);
    out
}

/// `f` on a data set holding the one pair `p` (prompt 0, responses 0 and 1).
fn one_pair_batch(f: &dyn PairLoss, p: LogProbs) -> LossEval {
    let data = dataset(&[(0, 0, 1)]);
    let (mut logp, mut ref_logp) = (vec![-3.0; X * Y], vec![-3.0; X * Y]);
    (logp[0], logp[1], ref_logp[0], ref_logp[1]) = (p.l_plus, p.l_minus, p.l0_plus, p.l0_minus);
    eval_pairs(f, &data, &logp, &ref_logp)[0]
}

/// The two-pair batch {P1 at prompt 0 (responses 0 ≻ 1), P3 at prompt 1 (0 ≻ 1)}.
fn p1_p3_batch() -> (Dataset, Vec<f64>, Vec<f64>) {
    let data = dataset(&[(0, 0, 1), (1, 0, 1)]);
    let (mut logp, mut ref_logp) = (vec![-3.0; X * Y], vec![-3.0; X * Y]);
    for (x, p) in [(0, p1()), (1, p3())] {
        logp[x * Y] = p.l_plus;
        logp[x * Y + 1] = p.l_minus;
        ref_logp[x * Y] = p.l0_plus;
        ref_logp[x * Y + 1] = p.l0_minus;
    }
    (data, logp, ref_logp)
}

#[test]
fn golden_aot_batch() {
    // {P1, P3}: policy margins x = l+ - l- = (ln 2, 5 ln 2), reference margins
    // y = (0, -5 ln 2); sorted x = (ln 2 [P1], 5 ln 2 [P3]), sorted y = (-5 ln 2, 0):
    // δ = (6 ln 2 → P1, 5 ln 2 → P3). β = 1, ε = 0: DPO of δ:
    // P1: ln(1 + 2^-6) = ln(65/64), ∓1/65; P3: ln(33/32), ∓1/33.
    // (Per pair, DPO would give ln 1.5 and ln(1025/1024).)
    let (data, logp, ref_logp) = p1_p3_batch();
    let f = build("aot", &[("beta", 1.0)]);
    let out = eval_pairs(f.as_ref(), &data, &logp, &ref_logp);
    assert_eval("aot P1", out[0], ln(65.0 / 64.0), -1.0 / 65.0, 1.0 / 65.0);
    assert_eval("aot P3", out[1], ln(33.0 / 32.0), -1.0 / 33.0, 1.0 / 33.0);
    // ε = ¼ at P1 (u = 6 ln 2, σ(u) = 64/65): f = ¾ ln(65/64) + ¼ ln 65,
    // ∂f/∂u = -¾/65 + ¼·64/65 = 61/260.
    let f = build("aot", &[("beta", 1.0), ("epsilon", 0.25)]);
    let out = eval_pairs(f.as_ref(), &data, &logp, &ref_logp);
    assert_eval(
        "aot P1 eps",
        out[0],
        0.75 * ln(65.0 / 64.0) + 0.25 * ln(65.0),
        61.0 / 260.0,
        -61.0 / 260.0,
    );
}

#[test]
fn golden_aot_pair_batch() {
    // {P1, P3}: r+ = (2 ln 2, 5 ln 2), r- = (ln 2, -5 ln 2); sorted r+ = (P1, P3),
    // sorted r- = (P3, P1): δ_0 = 2 ln 2 + 5 ln 2 = 7 ln 2 (chosen of P1,
    // rejected of P3), δ_1 = 5 ln 2 - ln 2 = 4 ln 2 (chosen of P3, rejected of P1).
    // β = 1, ε = 0: term 0 = ln(129/128), g' = -1/129; term 1 = ln(17/16), g' = -1/17.
    // P1: value ln(129/128), f+ = -1/129, f- = +1/17 (from term 1);
    // P3: value ln(17/16), f+ = -1/17, f- = +1/129 (from term 0).
    let (data, logp, ref_logp) = p1_p3_batch();
    let f = build("aot-pair", &[("beta", 1.0)]);
    let out = eval_pairs(f.as_ref(), &data, &logp, &ref_logp);
    assert_eval(
        "aot-pair P1",
        out[0],
        ln(129.0 / 128.0),
        -1.0 / 129.0,
        1.0 / 17.0,
    );
    assert_eval(
        "aot-pair P3",
        out[1],
        ln(17.0 / 16.0),
        -1.0 / 17.0,
        1.0 / 129.0,
    );
}

#[test]
fn golden_beta_dpo_batch() {
    // {P1, P3}: Δ = (ln 2, 10 ln 2), M = 5.5 ln 2. β0 = 0.1, α = 1,
    // m0 = M - 1: β_b = 0.1 (1 + 1) = 0.2. DPO at 0.2:
    // P1: u = 0.2 ln 2: f = ln(1 + 2^-0.2), f+ = -0.2/(1 + 2^0.2);
    // P3: u = 2 ln 2: f = ln(5/4), f+ = -0.2·⅕ = -0.04.
    let (data, logp, ref_logp) = p1_p3_batch();
    let m = 5.5 * LN2;
    let f = build(
        "beta-dpo",
        &[("beta", 0.1), ("alpha", 1.0), ("m0", m - 1.0)],
    );
    let out = eval_pairs(f.as_ref(), &data, &logp, &ref_logp);
    let g = 0.2 / (1.0 + 2f64.powf(0.2));
    assert_eval("beta-dpo P1", out[0], 2f64.powf(-0.2).ln_1p(), -g, g);
    assert_eval("beta-dpo P3", out[1], ln(1.25), -0.04, 0.04);
    // Far above the mean margin, β_b is floored at β0/100 = 1e-3.
    let f = build("beta-dpo", &[("beta", 0.1), ("alpha", 1.0), ("m0", 100.0)]);
    let out = eval_pairs(f.as_ref(), &data, &logp, &ref_logp);
    let g = 1e-3 * sigmoid(-1e-3 * LN2);
    assert_eval("beta-dpo floor", out[0], -log_sigmoid(1e-3 * LN2), -g, g);
}

/// β-DPO's partials are not the derivatives of its batch total with β_batch
/// moving: the stop-gradient drops `∂β_b/∂l · ∂f/∂β_b`. On {P1, P3} with
/// β0 = 0.1, α = 1, m0 = M - 1 (β_b = 0.2): at P1's l+, ∂M/∂l+ = ½ so
/// ∂β_b/∂l+ = 0.05, and ∂f/∂β_b = -Σ_j Δ_j σ(-β_b Δ_j)
/// = -(ln 2/(1 + 2^0.2) + 10 ln 2/5). The partial is DPO's,
/// -0.2/(1 + 2^0.2) ≈ -0.093; the moving-β derivative adds ≈ -0.085.
#[test]
fn beta_dpo_gradient_stops_at_the_batch_temperature() {
    let (data, logp, ref_logp) = p1_p3_batch();
    let f = build(
        "beta-dpo",
        &[("beta", 0.1), ("alpha", 1.0), ("m0", 5.5 * LN2 - 1.0)],
    );
    let out = eval_pairs(f.as_ref(), &data, &logp, &ref_logp);
    let partial = -0.2 / (1.0 + 2f64.powf(0.2));
    assert!(close(out[0].d_plus, partial, 1e-13), "{:?}", out[0]);
    let extra = 0.05 * -(LN2 / (1.0 + 2f64.powf(0.2)) + 2.0 * LN2);
    let moving = central(
        |v| {
            let mut q = logp.clone();
            q[0] = v;
            total(&eval_pairs(f.as_ref(), &data, &q, &ref_logp))
        },
        logp[0],
        1e-5,
    )
    .unwrap();
    assert!(
        close(moving, partial + extra, 1e-8),
        "moving-β derivative {moving} vs {}",
        partial + extra
    );
    assert!((moving - partial).abs() > 0.08);
}

/// Random log-probabilities for the common pairs (prompts 0 and 2 carry
/// two pairs each, so pairs share responses).
fn random_state(lp: &[f64], l0: &[f64]) -> (Dataset, Vec<f64>, Vec<f64>) {
    (dataset(&PAIRS), lp.to_vec(), l0.to_vec())
}

/// TRL's batch formulas transcribed directly (sort, subtract, sum).
fn trl_total(name: &str, beta: f64, eps: f64, data: &Dataset, lp: &[f64], l0: &[f64]) -> f64 {
    let at = |x: usize, a: usize| x * Y + a;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for p in &data.pairs {
        let (c, r) = (at(p.prompt, p.chosen), at(p.prompt, p.rejected));
        if name == "aot" {
            a.push(lp[c] - lp[r]);
            b.push(l0[c] - l0[r]);
        } else {
            a.push(lp[c] - l0[c]);
            b.push(lp[r] - l0[r]);
        }
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    a.iter()
        .zip(&b)
        .map(|(x, y)| {
            let d = beta * (x - y);
            -(1.0 - eps) * log_sigmoid(d) - eps * log_sigmoid(-d)
        })
        .sum()
}

fn total(out: &[LossEval]) -> f64 {
    out.iter().map(|e| e.value).sum()
}

fn central(f: impl Fn(f64) -> f64, x: f64, h: f64) -> Option<f64> {
    let (fp, f0, fm) = (f(x + h), f(x), f(x - h));
    let (right, left) = ((fp - f0) / h, (f0 - fm) / h);
    let c = (fp - fm) / (2.0 * h);
    ((right - left).abs() <= 1e-3 * (1.0 + c.abs())).then_some(c)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(20_251_203), max_global_rejects: 8, ..ProptestConfig::default()
    })]

    /// AOT and AOT-pair: the values booked to the pairs sum to TRL's batch
    /// loss, transcribed independently.
    #[test]
    fn aot_totals_match_trl_transcription(
        lp in prop::collection::vec(-8.0..-0.01f64, X * Y),
        l0 in prop::collection::vec(-8.0..-0.01f64, X * Y),
        beta in 0.01..3.0f64, eps in 0.0..0.49f64,
    ) {
        let (data, lp, l0) = random_state(&lp, &l0);
        for name in ["aot", "aot-pair"] {
            let f = build(name, &[("beta", beta), ("epsilon", eps)]);
            let got = total(&eval_pairs(f.as_ref(), &data, &lp, &l0));
            let want = trl_total(name, beta, eps, &data, &lp, &l0);
            prop_assert!(close(got, want, 1e-13), "{name}: {got} vs {want}");
        }
    }

    /// Every batch-level loss: the partials `eval_pairs` books to each pair's
    /// `l+`, `l-` are the derivatives of the batch total in the entries of
    /// `logp` (pairs share responses, so entries collect several partials);
    /// for β-DPO, of the total with β_batch held at its value (stop-gradient,
    /// `detached_at`). A kink (a tie in a sort) rejects the case.
    #[test]
    fn batch_partials_match_finite_differences_of_the_total(
        lp in prop::collection::vec(-8.0..-0.01f64, X * Y),
        l0 in prop::collection::vec(-8.0..-0.01f64, X * Y),
        us in prop::collection::vec(0.0..1.0f64, 3),
    ) {
        let (data, lp, l0) = random_state(&lp, &l0);
        for name in BATCH_LEVEL {
            let params: Vec<(&str, f64)> = match name {
                "beta-dpo" => vec![("beta", 0.01 + 2.0 * us[0]), ("alpha", 3.0 * us[1]), ("m0", 4.0 * us[2] - 2.0)],
                _ => vec![("beta", 0.01 + 3.0 * us[0]), ("epsilon", 0.49 * us[1])],
            };
            let f = build(name, &params);
            let out = eval_pairs(f.as_ref(), &data, &lp, &l0);
            let probs: Vec<f64> = lp.iter().map(|l| l.exp()).collect();
            let s = State { data: &data, logp: &lp, probs: &probs, ref_logp: &l0 };
            let detached = f.detached_at(&s);
            prop_assert_eq!(detached.is_some(), name == "beta-dpo", "{}", name);
            let g = detached.as_deref().unwrap_or(f.as_ref());
            let mut grad = vec![0.0; X * Y];
            for (p, e) in data.pairs.iter().zip(&out) {
                grad[p.prompt * Y + p.chosen] += e.d_plus;
                grad[p.prompt * Y + p.rejected] += e.d_minus;
            }
            let mut checked = 0;
            for k in 0..X * Y {
                let fd = central(|v| {
                    let mut q = lp.clone();
                    q[k] = v;
                    total(&eval_pairs(g, &data, &q, &l0))
                }, lp[k], 1e-5);
                let Some(fd) = fd else { return Err(TestCaseError::reject(format!("kink of {name}"))) };
                prop_assert!((grad[k] - fd).abs() <= 1e-6 * grad[k].abs().max(fd.abs()) + 1e-8,
                    "{name} {params:?}: entry {k}: analytic {} vs finite difference {fd}", grad[k]);
                checked += 1;
            }
            prop_assert_eq!(checked, X * Y);
        }
    }

    /// β-DPO with α = 0 is DPO, bit for bit, on every pair of a batch.
    #[test]
    fn beta_dpo_without_adaptation_is_dpo(
        lp in prop::collection::vec(-8.0..-0.01f64, X * Y),
        l0 in prop::collection::vec(-8.0..-0.01f64, X * Y),
        beta in 0.001..5.0f64, m0 in -10.0..10.0f64,
    ) {
        let (data, lp, l0) = random_state(&lp, &l0);
        let b = build("beta-dpo", &[("beta", beta), ("alpha", 0.0), ("m0", m0)]);
        let d = build("dpo", &[("beta", beta)]);
        prop_assert_eq!(eval_pairs(b.as_ref(), &data, &lp, &l0), eval_pairs(d.as_ref(), &data, &lp, &l0));
    }

    /// Relabelling the pairs (their order in the data set) permutes the
    /// batch losses' per-pair results and leaves the total unchanged.
    #[test]
    fn batch_losses_are_equivariant_under_pair_order(
        lp in prop::collection::vec(-8.0..-0.01f64, X * Y),
        l0 in prop::collection::vec(-8.0..-0.01f64, X * Y),
        rot in 1..6usize,
    ) {
        let (data, lp, l0) = random_state(&lp, &l0);
        // Ties make the ranks depend on the pair order (pairs (0, 0, 4) and
        // (0, 9, 4) share their rejected response, so their r- always tie):
        // compare only results that no tie touches.
        let key = |i: usize, f: &dyn Fn(&LogProbs) -> f64| {
            let (x, c, r) = PAIRS[i];
            f(&at(lp[x * Y + c], lp[x * Y + r], l0[x * Y + c], l0[x * Y + r]))
        };
        for i in 0..PAIRS.len() {
            for j in 0..i {
                prop_assume!(key(i, &|p| p.l_plus - p.l_minus) != key(j, &|p| p.l_plus - p.l_minus));
                prop_assume!(key(i, &|p| p.l0_plus - p.l0_minus) != key(j, &|p| p.l0_plus - p.l0_minus));
                prop_assume!(key(i, &LogProbs::r_plus) != key(j, &LogProbs::r_plus));
            }
        }
        let mut rotated = PAIRS;
        rotated.rotate_left(rot);
        let data2 = dataset(&rotated);
        for name in BATCH_LEVEL {
            let f = build(name, &[]);
            let a = eval_pairs(f.as_ref(), &data, &lp, &l0);
            let b = eval_pairs(f.as_ref(), &data2, &lp, &l0);
            prop_assert!(close(total(&a), total(&b), 1e-13), "{name}");
            // Each pair's own result moves with it: ranks depend on values
            // only. AOT-pair's r- tie (shared rejected response) swaps which of
            // the two tied pairs gets which rejected-side partial, so its
            // d_minus is compared as a multiset.
            for (i, ai) in a.iter().enumerate() {
                let bj = b[(i + PAIRS.len() - rot) % PAIRS.len()];
                prop_assert!(close(ai.value, bj.value, 1e-13), "{name} pair {i}");
                prop_assert!(close(ai.d_plus, bj.d_plus, 1e-13), "{name} pair {i}");
                if name != "aot-pair" {
                    prop_assert!(close(ai.d_minus, bj.d_minus, 1e-13), "{name} pair {i}");
                }
            }
            let sorted = |v: &[LossEval]| {
                let mut d: Vec<f64> = v.iter().map(|e| e.d_minus).collect();
                d.sort_by(f64::total_cmp);
                d
            };
            for (x, y) in sorted(&a).iter().zip(sorted(&b)) {
                prop_assert!(close(*x, y, 1e-13), "{name}: d_minus {x} vs {y}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Finiteness over an extreme range (|Δ| up to 2000).

#[test]
fn finite_over_an_extreme_log_probability_range() {
    let grid = [-1000.0, -700.0, -300.0, -40.0, -1.0, -1e-8, 0.0];
    for name in NEW {
        let spec = loss::spec(name).unwrap();
        let mut settings: Vec<Vec<(&str, f64)>> = vec![vec![]];
        // Extreme but valid parameters: small and large β; the other
        // parameters near their small and large ends (τ ≤ 1 for DiscoPOP,
        // whose exponential branch grows for τ > 1, as documented).
        for (beta, small) in [(0.01, true), (10.0, false)] {
            settings.push(
                spec.params
                    .iter()
                    .map(|p| {
                        let v = match (p.name, small) {
                            ("beta", _) => beta,
                            ("epsilon", true) => 1e-6,
                            ("epsilon", false) => 0.49,
                            ("tau", true) => 1e-3,
                            ("tau", false) => 1.0,
                            ("alpha", true) => 1e-6,
                            ("alpha", false) => 5.0,
                            ("r_max", true) => 0.01,
                            ("r_max", false) => 1e3,
                            ("m0", true) => -1e3,
                            ("m0", false) => 1e3,
                            (other, _) => panic!("{name}: no extreme value for {other}"),
                        };
                        (p.name, v)
                    })
                    .collect(),
            );
        }
        for params in settings {
            let f = build(name, &params);
            let mut points = Vec::new();
            for &lp in &grid {
                for &lm in &grid {
                    for &l0p in &grid {
                        for &l0m in &grid {
                            points.push(at(lp, lm, l0p, l0m));
                        }
                    }
                }
            }
            let finite =
                |e: &LossEval| e.value.is_finite() && e.d_plus.is_finite() && e.d_minus.is_finite();
            for p in &points {
                let ev = f.eval(p);
                assert!(finite(&ev), "{name} {params:?} at {p:?}: {ev:?}");
            }
            if spec.batch_level {
                // Batches of the common pairs with entries from the grid.
                for (j, chunk) in points.chunks(X * Y / 2).enumerate().step_by(7) {
                    let mut lp = vec![-1.0; X * Y];
                    let mut l0 = vec![-2.0; X * Y];
                    for (i, p) in chunk.iter().enumerate() {
                        lp[(2 * i + j) % (X * Y)] = p.l_plus;
                        l0[(2 * i + j) % (X * Y)] = p.l0_plus;
                        lp[(2 * i + 1 + j) % (X * Y)] = p.l_minus;
                        l0[(2 * i + 1 + j) % (X * Y)] = p.l0_minus;
                    }
                    let out = eval_pairs(f.as_ref(), &dataset(&PAIRS), &lp, &l0);
                    assert!(
                        out.iter().all(finite),
                        "{name} {params:?}: batch {j}: {out:?}"
                    );
                }
            }
        }
    }
}
