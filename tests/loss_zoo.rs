//! The loss zoo beyond the core five (cDPO, robust DPO, hinge, DPOP, NCA,
//! APO-zero/down, SPPO-hard, BCO, SimPO, CPO, ORPO, SFT): finite-difference
//! checks of the closed-form partials, golden values worked out by hand,
//! identities between losses, finiteness over the log-probability range,
//! and the config domains of every loss's parameters.

use dpo_lab::maths::loss::{self, Domain, LogProbs, LossEval, LOSSES};
use proptest::prelude::*;
use std::collections::BTreeMap;

mod common;
use common::loss::{assert_eval, at, build, close, given};

/// The losses this file is about (config names).
const ZOO: [&str; 13] = [
    "cdpo",
    "robust-dpo",
    "hinge",
    "dpop",
    "nca",
    "apo-zero",
    "apo-down",
    "sppo-hard",
    "bco-pair",
    "simpo",
    "cpo",
    "orpo",
    "sft",
];

// ---------------------------------------------------------------------------
// (a) Finite differences.

const H: f64 = 1e-5;

fn central(f: impl Fn(f64) -> f64, x: f64) -> f64 {
    (f(x + H) - f(x - H)) / (2.0 * H)
}

/// A valid value of `domain` from a uniform `u` in [0, 1).
fn param_value(domain: Domain, u: f64) -> f64 {
    match domain {
        Domain::Positive => 0.05 + 5.0 * u,
        Domain::NonNegative => 60.0 * u,
        Domain::Finite => -3.0 + 6.0 * u,
        Domain::HalfOpen(lo, hi) => lo + (hi - lo) * 0.98 * u,
        Domain::Open(lo, hi) => lo + (hi - lo) * (0.01 + 0.98 * u),
    }
}

/// Whether `lp` is within `eps` of a kink of loss `name` with parameters `p`.
fn near_kink(name: &str, p: &BTreeMap<String, f64>, lp: &LogProbs, eps: f64) -> bool {
    match name {
        "hinge" => (1.0 - p["beta"] * lp.delta()).abs() < eps * (1.0 + p["beta"]),
        "dpop" => (lp.l_plus - lp.l0_plus).abs() < eps,
        _ => false,
    }
}

fn check_fd(name: &str, p: &BTreeMap<String, f64>, lp: LogProbs) -> Result<(), TestCaseError> {
    let spec = loss::spec(name).unwrap();
    let f = (spec.build)(&loss::resolve_params(spec, p).unwrap());
    let ev = f.eval(&lp);
    prop_assert!(
        ev.value.is_finite() && ev.d_plus.is_finite() && ev.d_minus.is_finite(),
        "{name} {p:?}: non-finite {ev:?} at {lp:?}"
    );
    let fd_plus = central(|x| f.eval(&LogProbs { l_plus: x, ..lp }).value, lp.l_plus);
    let fd_minus = central(|x| f.eval(&LogProbs { l_minus: x, ..lp }).value, lp.l_minus);
    let tol = |a: f64, b: f64| 1e-6 * a.abs().max(b.abs()) + 1e-8 * (1.0 + ev.value.abs());
    prop_assert!(
        (ev.d_plus - fd_plus).abs() <= tol(ev.d_plus, fd_plus),
        "{name} {p:?}: d_plus {} vs finite difference {fd_plus} at {lp:?}",
        ev.d_plus
    );
    prop_assert!(
        (ev.d_minus - fd_minus).abs() <= tol(ev.d_minus, fd_minus),
        "{name} {p:?}: d_minus {} vs finite difference {fd_minus} at {lp:?}",
        ev.d_minus
    );
    Ok(())
}

fn logp() -> impl Strategy<Value = f64> {
    -12.0..-0.05f64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(20_251_203), ..ProptestConfig::default() })]

    /// Every zoo loss, at its defaults and at random valid parameters: the
    /// partials match central differences (points near a kink are skipped
    /// per loss, not per case).
    #[test]
    fn partials_match_finite_differences(
        lp in logp(), lm in logp(), l0p in logp(), l0m in logp(),
        us in prop::collection::vec(0.0..1.0f64, 2),
    ) {
        let point = at(lp, lm, l0p, l0m);
        for name in ZOO {
            let spec = loss::spec(name).unwrap();
            let defaults: BTreeMap<String, f64> = spec
                .params
                .iter()
                .map(|p| (p.name.to_string(), p.default.unwrap()))
                .collect();
            let random: BTreeMap<String, f64> = spec
                .params
                .iter()
                .zip(&us)
                .map(|(p, &u)| (p.name.to_string(), param_value(p.domain, u)))
                .collect();
            for p in [defaults, random] {
                if !near_kink(name, &p, &point, 1e-3) {
                    check_fd(name, &p, point)?;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// (b) Golden values. Points (all logs natural):
//
//   P1: l+ = ln 1/2, l- = ln 1/4, l0+ = l0- = ln 1/8
//       r+ = ln 4, r- = ln 2, Δ = ln 2, l+ - l- = ln 2
//   P2: l+ = ln 1/4, l- = ln 1/2, l0+ = ln 1/2, l0- = ln 1/4
//       r+ = -ln 2, r- = ln 2, Δ = -ln 4, l+ - l- = -ln 2, l0+ - l+ = ln 2
//   P3: l+ = ln 1/2, l- = ln 1/64, l0+ = ln 1/64, l0- = ln 1/2
//       r+ = 5 ln 2, r- = -5 ln 2, Δ = 10 ln 2 (so 0.1·Δ = ln 2)
//
// and σ(ln k) = k/(k+1): σ(ln 2) = 2/3, σ(ln 4) = 4/5, σ(-ln 4) = 1/5,
// σ(ln 3) = 3/4, σ(-ln 8) = 1/9, σ(-ln 16) = 1/17.

fn p1() -> LogProbs {
    at(0.5f64.ln(), 0.25f64.ln(), 0.125f64.ln(), 0.125f64.ln())
}
fn p2() -> LogProbs {
    at(0.25f64.ln(), 0.5f64.ln(), 0.5f64.ln(), 0.25f64.ln())
}
fn p3() -> LogProbs {
    at(
        0.5f64.ln(),
        (1.0f64 / 64.0).ln(),
        (1.0f64 / 64.0).ln(),
        0.5f64.ln(),
    )
}

const LN2: f64 = std::f64::consts::LN_2;

fn ln(x: f64) -> f64 {
    x.ln()
}

#[test]
fn golden_cdpo() {
    // β = 1, ε = 1/4. f = -(1-ε) ln σ(u) - ε ln σ(-u), u = βΔ;
    // ∂f/∂u = -(1-ε) σ(-u) + ε σ(u); f+ = β ∂f/∂u = -f-.
    let f = build("cdpo", &[("beta", 1.0), ("epsilon", 0.25)]);
    // P1: u = ln 2: f = -¾ ln(2/3) - ¼ ln(1/3) = ¾ ln(3/2) + ¼ ln 3;
    // ∂f/∂u = -¾·⅓ + ¼·⅔ = -¼ + ⅙ = -1/12.
    assert_eval(
        "cdpo P1",
        f.eval(&p1()),
        0.75 * ln(1.5) + 0.25 * ln(3.0),
        -1.0 / 12.0,
        1.0 / 12.0,
    );
    // P2: u = -ln 4: f = -¾ ln(1/5) - ¼ ln(4/5) = ¾ ln 5 + ¼ ln(5/4);
    // ∂f/∂u = -¾·⅘ + ¼·⅕ = -0.6 + 0.05 = -0.55.
    assert_eval(
        "cdpo P2",
        f.eval(&p2()),
        0.75 * ln(5.0) + 0.25 * ln(1.25),
        -0.55,
        0.55,
    );
    // Defaults β = 0.1, ε = 0.1 at P3: u = ln 2: f = 0.9 ln(3/2) + 0.1 ln 3;
    // ∂f/∂u = -0.9·⅓ + 0.1·⅔ = -0.3 + 1/15 = -7/30; f+ = 0.1·(-7/30) = -7/300.
    assert_eval(
        "cdpo P3 defaults",
        build("cdpo", &[]).eval(&p3()),
        0.9 * ln(1.5) + 0.1 * ln(3.0),
        -7.0 / 300.0,
        7.0 / 300.0,
    );
}

#[test]
fn golden_robust_dpo() {
    // β = 1, ε = 1/4, 1 - 2ε = ½. f = [-(1-ε) ln σ(u) + ε ln σ(-u)]/(1-2ε);
    // ∂f/∂u = -[(1-ε) σ(-u) + ε σ(u)]/(1-2ε).
    let f = build("robust-dpo", &[("beta", 1.0), ("epsilon", 0.25)]);
    // P1: u = ln 2: f = 2[-¾ ln(2/3) + ¼ ln(1/3)] = 1.5 ln 1.5 - 0.5 ln 3;
    // ∂f/∂u = -2[¾·⅓ + ¼·⅔] = -2[¼ + ⅙] = -5/6.
    assert_eval(
        "robust-dpo P1",
        f.eval(&p1()),
        1.5 * ln(1.5) - 0.5 * ln(3.0),
        -5.0 / 6.0,
        5.0 / 6.0,
    );
    // P2: u = -ln 4: f = 2[-¾ ln(1/5) + ¼ ln(4/5)] = 1.5 ln 5 + 0.5 ln 0.8;
    // ∂f/∂u = -2[¾·⅘ + ¼·⅕] = -2·0.65 = -1.3.
    assert_eval(
        "robust-dpo P2",
        f.eval(&p2()),
        1.5 * ln(5.0) + 0.5 * ln(0.8),
        -1.3,
        1.3,
    );
    // Defaults β = 0.1, ε = 0.1 (1-2ε = 0.8) at P3, u = ln 2:
    // f = [0.9 ln 1.5 - 0.1 ln 3]/0.8; ∂f/∂u = -[0.3 + 1/15]/0.8 = -11/24;
    // f+ = 0.1·(-11/24) = -11/240.
    assert_eval(
        "robust-dpo P3 defaults",
        build("robust-dpo", &[]).eval(&p3()),
        (0.9 * ln(1.5) - 0.1 * ln(3.0)) / 0.8,
        -11.0 / 240.0,
        11.0 / 240.0,
    );
}

#[test]
fn golden_hinge() {
    // f = max(0, 1 - βΔ); active: f+ = -β, f- = β; inactive or kink: 0.
    let f = build("hinge", &[("beta", 1.0)]);
    // P1: 1 - ln 2 ≈ 0.307 > 0.
    assert_eval("hinge P1", f.eval(&p1()), 1.0 - LN2, -1.0, 1.0);
    // P2: 1 + ln 4.
    assert_eval("hinge P2", f.eval(&p2()), 1.0 + 2.0 * LN2, -1.0, 1.0);
    // P3: 1 - 10 ln 2 < 0: inactive.
    assert_eval("hinge P3", f.eval(&p3()), 0.0, 0.0, 0.0);
    // Kink: r+ = -1 - (-3) = 2, r- = -2 - (-3) = 1, Δ = 1 exactly, 1 - βΔ = 0:
    // the inactive side's subgradient 0.
    assert_eval(
        "hinge kink",
        f.eval(&at(-1.0, -2.0, -3.0, -3.0)),
        0.0,
        0.0,
        0.0,
    );
    // Default β = 0.1 at P3: 1 - 0.1·10 ln 2 = 1 - ln 2.
    assert_eval(
        "hinge P3 default",
        build("hinge", &[]).eval(&p3()),
        1.0 - LN2,
        -0.1,
        0.1,
    );
}

#[test]
fn golden_dpop() {
    // β = 1, λ = 2. f = -ln σ(βz), z = Δ - λ max(0, l0+ - l+);
    // f+ = -βσ(-βz)(1 + λ[l+ < l0+]), f- = βσ(-βz).
    let f = build("dpop", &[("beta", 1.0), ("lambda", 2.0)]);
    // P1: l+ = ln ½ > l0+ = ln ⅛, no penalty: z = ln 2; f = -ln ⅔ = ln 1.5,
    // f+ = -⅓, f- = ⅓ (DPO's).
    assert_eval("dpop P1", f.eval(&p1()), ln(1.5), -1.0 / 3.0, 1.0 / 3.0);
    // P2: l0+ - l+ = ln 2: z = -ln 4 - 2 ln 2 = -ln 16; σ(z) = 1/17,
    // σ(-z) = 16/17: f = ln 17, f+ = -(16/17)(1 + 2) = -48/17, f- = 16/17.
    assert_eval(
        "dpop P2",
        f.eval(&p2()),
        ln(17.0),
        -48.0 / 17.0,
        16.0 / 17.0,
    );
    // Kink l+ = l0+ = ln ½, l- = ln ¼, l0- = ln ½: r+ = 0, r- = -ln 2,
    // Δ = ln 2, penalty's subgradient 0: DPO's ln 1.5, ∓⅓.
    let kink = at(ln(0.5), ln(0.25), ln(0.5), ln(0.5));
    assert_eval("dpop kink", f.eval(&kink), ln(1.5), -1.0 / 3.0, 1.0 / 3.0);
    // Defaults β = 0.1, λ = 50 at P3 (l+ = ln ½ > l0+): u = 0.1·10 ln 2 = ln 2:
    // f = ln 1.5, f+ = -0.1·⅓.
    assert_eval(
        "dpop P3 defaults",
        build("dpop", &[]).eval(&p3()),
        ln(1.5),
        -0.1 / 3.0,
        0.1 / 3.0,
    );
}

#[test]
fn golden_nca() {
    // β = 1. f = -ln σ(a) - ½ ln σ(-a) - ½ ln σ(-b), a = βr+, b = βr-;
    // f+ = β(-σ(-a) + ½σ(a)), f- = ½βσ(b).
    let f = build("nca", &[("beta", 1.0)]);
    // P1: a = ln 4 (σ(a) = ⅘, σ(-a) = ⅕), b = ln 2 (σ(b) = ⅔, σ(-b) = ⅓):
    // f = ln(5/4) + ½ ln 5 + ½ ln 3; f+ = -⅕ + ⅖ = ⅕; f- = ⅓.
    assert_eval(
        "nca P1",
        f.eval(&p1()),
        ln(1.25) + 0.5 * ln(5.0) + 0.5 * ln(3.0),
        0.2,
        1.0 / 3.0,
    );
    // P2: a = -ln 2 (σ(a) = ⅓, σ(-a) = ⅔), b = ln 2:
    // f = ln 3 + ½ ln(3/2) + ½ ln 3; f+ = -⅔ + ⅙ = -½; f- = ⅓.
    assert_eval(
        "nca P2",
        f.eval(&p2()),
        ln(3.0) + 0.5 * ln(1.5) + 0.5 * ln(3.0),
        -0.5,
        1.0 / 3.0,
    );
}

#[test]
fn golden_apo() {
    // β = 1, a = βr+, b = βr-, u = βΔ.
    // APO-zero: f = 1 - σ(a) + σ(b); f+ = -βσ(a)σ(-a), f- = βσ(b)σ(-b).
    let zero = build("apo-zero", &[("beta", 1.0)]);
    // P1: σ(a) = ⅘, σ(b) = ⅔: f = 1 - ⅘ + ⅔ = 13/15; f+ = -4/25; f- = 2/9.
    assert_eval(
        "apo-zero P1",
        zero.eval(&p1()),
        13.0 / 15.0,
        -4.0 / 25.0,
        2.0 / 9.0,
    );
    // P2: σ(a) = ⅓, σ(b) = ⅔: f = 1 - ⅓ + ⅔ = 4/3; f+ = -2/9; f- = 2/9.
    assert_eval(
        "apo-zero P2",
        zero.eval(&p2()),
        4.0 / 3.0,
        -2.0 / 9.0,
        2.0 / 9.0,
    );
    // APO-down: f = σ(a) + 1 - σ(u); f+ = βσ(a)σ(-a) - βσ(u)σ(-u), f- = βσ(u)σ(-u).
    let down = build("apo-down", &[("beta", 1.0)]);
    // P1: σ(a) = ⅘, σ(u) = ⅔: f = ⅘ + 1 - ⅔ = 17/15;
    // f+ = 4/25 - 2/9 = (36 - 50)/225 = -14/225; f- = 2/9.
    assert_eval(
        "apo-down P1",
        down.eval(&p1()),
        17.0 / 15.0,
        -14.0 / 225.0,
        2.0 / 9.0,
    );
    // P2: σ(a) = ⅓, σ(u) = σ(-ln 4) = ⅕: f = ⅓ + 1 - ⅕ = 17/15;
    // f+ = 2/9 - 4/25 = 14/225; f- = 4/25.
    assert_eval(
        "apo-down P2",
        down.eval(&p2()),
        17.0 / 15.0,
        14.0 / 225.0,
        4.0 / 25.0,
    );
}

#[test]
fn golden_sppo_hard() {
    // β = ½, so 1/(2β) = 1: f = (r+ - 1)² + (r- + 1)², f+ = 2(r+ - 1), f- = 2(r- + 1).
    let f = build("sppo-hard", &[("beta", 0.5)]);
    // P1: r+ = 2 ln 2, r- = ln 2.
    assert_eval(
        "sppo-hard P1",
        f.eval(&p1()),
        (2.0 * LN2 - 1.0).powi(2) + (LN2 + 1.0).powi(2),
        2.0 * (2.0 * LN2 - 1.0),
        2.0 * (LN2 + 1.0),
    );
    // P2: r+ = -ln 2, r- = ln 2: f = 2(1 + ln 2)², f+ = -2(1 + ln 2), f- = 2(1 + ln 2).
    assert_eval(
        "sppo-hard P2",
        f.eval(&p2()),
        2.0 * (1.0 + LN2).powi(2),
        -2.0 * (1.0 + LN2),
        2.0 * (1.0 + LN2),
    );
    // Minimiser: r+ = -1 - (-2) = 1, r- = -3 - (-2) = -1: f = 0, partials 0.
    assert_eval(
        "sppo-hard min",
        f.eval(&at(-1.0, -3.0, -2.0, -2.0)),
        0.0,
        0.0,
        0.0,
    );
}

#[test]
fn golden_bco_pair() {
    // β = 1. f = -ln σ(a) - ln σ(-b); f+ = -βσ(-a), f- = βσ(b).
    let f = build("bco-pair", &[("beta", 1.0)]);
    // P1: a = ln 4, b = ln 2: f = ln(5/4) + ln 3 = ln(15/4); f+ = -⅕; f- = ⅔.
    assert_eval("bco-pair P1", f.eval(&p1()), ln(3.75), -0.2, 2.0 / 3.0);
    // P2: a = -ln 2, b = ln 2: f = ln 3 + ln 3 = ln 9; f+ = -⅔; f- = ⅔.
    assert_eval("bco-pair P2", f.eval(&p2()), ln(9.0), -2.0 / 3.0, 2.0 / 3.0);
}

/// Reference-free losses must give the same at P1 with another reference.
fn p1_other_ref() -> LogProbs {
    LogProbs {
        l0_plus: -7.0,
        l0_minus: -0.3,
        ..p1()
    }
}

#[test]
fn golden_simpo() {
    // β = 2, γ = ln 2. f = -ln σ(u), u = β(l+ - l-) - γ; f+ = -βσ(-u) = -f-.
    let f = build("simpo", &[("beta", 2.0), ("gamma", LN2)]);
    // P1: u = 2 ln 2 - ln 2 = ln 2: f = ln 1.5, f+ = -2·⅓.
    for p in [p1(), p1_other_ref()] {
        assert_eval("simpo P1", f.eval(&p), ln(1.5), -2.0 / 3.0, 2.0 / 3.0);
    }
    // P2: u = -2 ln 2 - ln 2 = -ln 8: σ(u) = 1/9: f = ln 9, f+ = -2·8/9 = -16/9.
    assert_eval("simpo P2", f.eval(&p2()), ln(9.0), -16.0 / 9.0, 16.0 / 9.0);
}

#[test]
fn golden_cpo() {
    // β = 1. f = -ln σ(u) - l+, u = β(l+ - l-); f+ = -βσ(-u) - 1, f- = βσ(-u).
    let f = build("cpo", &[("beta", 1.0)]);
    // P1: u = ln 2: f = ln 1.5 + ln 2 = ln 3; f+ = -⅓ - 1 = -4/3; f- = ⅓.
    for p in [p1(), p1_other_ref()] {
        assert_eval("cpo P1", f.eval(&p), ln(3.0), -4.0 / 3.0, 1.0 / 3.0);
    }
    // P2: u = -ln 2: f = ln 3 + ln 4 = ln 12; f+ = -⅔ - 1 = -5/3; f- = ⅔.
    assert_eval("cpo P2", f.eval(&p2()), ln(12.0), -5.0 / 3.0, 2.0 / 3.0);
}

#[test]
fn golden_orpo() {
    // f = -l+ - λ ln σ(z), z = ln odds+ - ln odds-, odds = p/(1-p);
    // f+ = -1 - λσ(-z)/(1-p+), f- = λσ(-z)/(1-p-).
    let f = build("orpo", &[("lambda", 1.0)]);
    // P1: p+ = ½ (odds 1), p- = ¼ (odds ⅓): z = ln 3, σ(z) = ¾, σ(-z) = ¼:
    // f = ln 2 - ln ¾ = ln(8/3); f+ = -1 - ¼/½ = -3/2; f- = ¼/¾ = ⅓.
    for p in [p1(), p1_other_ref()] {
        assert_eval("orpo P1", f.eval(&p), ln(8.0 / 3.0), -1.5, 1.0 / 3.0);
    }
    // P2: p+ = ¼ (odds ⅓), p- = ½ (odds 1): z = -ln 3, σ(z) = ¼, σ(-z) = ¾:
    // f = ln 4 - ln ¼ = ln 16; f+ = -1 - ¾/¾ = -2; f- = ¾/½ = 3/2.
    assert_eval("orpo P2", f.eval(&p2()), ln(16.0), -2.0, 1.5);
    // Default λ = 0.1 at P1: f = ln 2 - 0.1 ln ¾; f+ = -1 - 0.1·½ = -1.05; f- = 0.1/3.
    assert_eval(
        "orpo P1 default",
        build("orpo", &[]).eval(&p1()),
        LN2 - 0.1 * ln(0.75),
        -1.05,
        0.1 / 3.0,
    );
    // Edge l+ = 0 (p+ = 1, odds+ = ∞), p- = ¼: z = ∞, f = -0 - λ ln 1 = 0;
    // σ(-z)/(1-p+) → 1/(odds+ (1-p+)/odds- ) = odds-/p+ = ⅓, so f+ = -1 - ⅓;
    // σ(-z) = 0 so f- = 0.
    assert_eval(
        "orpo l+ = 0",
        f.eval(&at(0.0, ln(0.25), -1.0, -1.0)),
        0.0,
        -4.0 / 3.0,
        0.0,
    );
}

#[test]
fn golden_sft() {
    // f = -l+, f+ = -1, f- = 0.
    let f = build("sft", &[]);
    for p in [p1(), p1_other_ref()] {
        assert_eval("sft P1", f.eval(&p), LN2, -1.0, 0.0);
    }
    assert_eval("sft P2", f.eval(&p2()), 2.0 * LN2, -1.0, 0.0);
}

/// A loss name, its parameters' defaults in spec order, whether it reads the reference.
type Expected = (&'static str, &'static [(&'static str, f64)], bool);

/// The defaults losses.md (or the lab's β = 0.1 convention) gives, and which losses read the reference.
#[test]
fn defaults_and_reference_use() {
    let expect: &[Expected] = &[
        ("cdpo", &[("beta", 0.1), ("epsilon", 0.1)], true),
        ("robust-dpo", &[("beta", 0.1), ("epsilon", 0.1)], true),
        ("hinge", &[("beta", 0.1)], true),
        ("dpop", &[("beta", 0.1), ("lambda", 50.0)], true),
        ("nca", &[("beta", 0.1)], true),
        ("apo-zero", &[("beta", 0.1)], true),
        ("apo-down", &[("beta", 0.1)], true),
        ("sppo-hard", &[("beta", 0.1)], true),
        ("bco-pair", &[("beta", 0.1)], true),
        ("simpo", &[("beta", 2.0), ("gamma", 0.5)], false),
        ("cpo", &[("beta", 0.1)], false),
        ("orpo", &[("lambda", 0.1)], false),
        ("sft", &[], false),
    ];
    assert_eq!(expect.len(), ZOO.len());
    for &(name, params, uses_ref) in expect {
        let spec = loss::spec(name).unwrap();
        let got: Vec<(&str, f64)> = spec
            .params
            .iter()
            .map(|p| (p.name, p.default.unwrap()))
            .collect();
        assert_eq!(got, params, "{name}");
        assert_eq!(spec.uses_reference, uses_ref, "{name}");
    }
    // Every zoo loss is registered exactly once.
    for name in ZOO {
        assert_eq!(
            LOSSES.iter().filter(|s| s.name == name).count(),
            1,
            "{name}"
        );
    }
}

// ---------------------------------------------------------------------------
// (c) Identities.

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(20_251_203), ..ProptestConfig::default() })]

    /// cDPO and robust DPO at ε = 0 are DPO, value and partials, bit for bit.
    #[test]
    fn label_smoothing_zero_is_dpo(
        lp in logp(), lm in logp(), l0p in logp(), l0m in logp(), beta in 0.01..5.0f64,
    ) {
        let point = at(lp, lm, l0p, l0m);
        let dpo = build("dpo", &[("beta", beta)]).eval(&point);
        for name in ["cdpo", "robust-dpo"] {
            let ev = build(name, &[("beta", beta), ("epsilon", 0.0)]).eval(&point);
            prop_assert_eq!(ev, dpo, "{}", name);
        }
    }

    /// DPOP is DPO while l+ ≥ l0+; below, its penalty raises the loss and
    /// scales the chosen partial by 1 + λ.
    #[test]
    fn dpop_penalty_only_below_the_reference(
        lp in logp(), lm in logp(), l0m in logp(), gap in 0.0..5.0f64,
        beta in 0.01..5.0f64, lambda in 0.1..100.0f64,
    ) {
        let f = build("dpop", &[("beta", beta), ("lambda", lambda)]);
        let dpo = build("dpo", &[("beta", beta)]);
        // l+ ≥ l0+ (gap ≥ 0, including the kink gap = 0): exactly DPO.
        let above = at(lp, lm, lp - gap, l0m);
        prop_assert_eq!(f.eval(&above), dpo.eval(&above));
        // l+ < l0+ by at least 1e-3: a positive penalty.
        let below = at(lp, lm, lp + gap + 1e-3, l0m);
        let (e, d) = (f.eval(&below), dpo.eval(&below));
        prop_assert!(e.value > d.value, "penalised {e:?} vs DPO {d:?}");
        prop_assert!(e.d_plus != d.d_plus);
        prop_assert!(close(e.d_plus, -(1.0 + lambda) * e.d_minus, 1e-14));
    }

    /// SimPO at γ = 0 is DPO with a uniform reference (l0+ = l0- = ln 1/10),
    /// i.e. its value is -ln σ(β(l+ - l-)).
    #[test]
    fn simpo_without_margin_is_reference_free_dpo(
        lp in logp(), lm in logp(), beta in 0.01..5.0f64,
    ) {
        let uniform = (0.1f64).ln();
        let point = at(lp, lm, uniform, uniform);
        let s = build("simpo", &[("beta", beta), ("gamma", 0.0)]).eval(&point);
        let d = build("dpo", &[("beta", beta)]).eval(&point);
        prop_assert!(close(s.value, d.value, 1e-12), "{s:?} vs {d:?}");
        prop_assert!(close(s.d_plus, d.d_plus, 1e-12), "{s:?} vs {d:?}");
        prop_assert!(close(s.d_minus, d.d_minus, 1e-12), "{s:?} vs {d:?}");
        let direct = (1.0 + (-beta * (lp - lm)).exp()).ln();
        prop_assert!(close(s.value, direct, 1e-12), "{} vs {direct}", s.value);
    }

    /// SFT: f = -l+, f+ = -1, f- = 0, wherever.
    #[test]
    fn sft_partials_are_constant(lp in -700.0..0.0f64, lm in -700.0..0.0f64) {
        let ev = build("sft", &[]).eval(&at(lp, lm, -1.0, -1.0));
        prop_assert_eq!(ev, LossEval { value: -lp, d_plus: -1.0, d_minus: 0.0 });
    }
}

/// IPO's minimiser is Δ = 1/(2τ): value 0, both partials 0.
#[test]
fn ipo_minimiser_is_half_inverse_tau() {
    for tau in [0.05, 0.1, 0.25, 0.5, 1.0, 2.0] {
        let f = build("ipo", &[("tau", tau)]);
        let target = 0.5 / tau;
        // r+ = 0, r- = -target (l- = l0- - target).
        let ev = f.eval(&at(-2.0, -3.0 - target, -2.0, -3.0));
        assert!(
            ev.value.abs() < 1e-24 && ev.d_plus.abs() < 1e-12 && ev.d_minus.abs() < 1e-12,
            "tau {tau}: {ev:?}"
        );
        // And it is a minimum: moving Δ either way raises the loss.
        for eps in [-1e-3, 1e-3] {
            let off = f.eval(&at(-2.0 + eps, -3.0 - target, -2.0, -3.0));
            assert!(off.value > ev.value, "tau {tau}");
        }
    }
}

// ---------------------------------------------------------------------------
// Finiteness over the range of log-probabilities.

#[test]
fn finite_over_the_log_probability_range() {
    let grid = [-700.0, -300.0, -40.0, -1.0, -1e-8, -1e-300, 0.0];
    for name in ZOO {
        let spec = loss::spec(name).unwrap();
        let mut settings: Vec<Vec<(&str, f64)>> = vec![vec![]];
        // Extreme but valid parameters too.
        for (lo, hi) in [(0.01, 1e-3), (10.0, 0.49)] {
            settings.push(
                spec.params
                    .iter()
                    .map(|p| {
                        let v = match p.domain {
                            Domain::HalfOpen(..) => hi,
                            Domain::NonNegative if p.name == "lambda" => 100.0 * lo,
                            _ => lo,
                        };
                        (p.name, v)
                    })
                    .collect(),
            );
        }
        for params in settings {
            let f = build(name, &params);
            for &lp in &grid {
                for &lm in &grid {
                    if name == "orpo" && lm == 0.0 {
                        // p- = 1: infinite rejected odds, an infinite loss by definition.
                        continue;
                    }
                    for &l0p in &grid {
                        for &l0m in &grid {
                            let ev = f.eval(&at(lp, lm, l0p, l0m));
                            assert!(
                                ev.value.is_finite()
                                    && ev.d_plus.is_finite()
                                    && ev.d_minus.is_finite(),
                                "{name} {params:?} at l+={lp} l-={lm} l0+={l0p} l0-={l0m}: {ev:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Config domains, for every loss in the registry.

#[test]
fn out_of_domain_parameters_are_rejected_naming_the_field() {
    for spec in LOSSES {
        for p in spec.params {
            let mut bad = vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
            match p.domain {
                Domain::Positive => bad.extend([0.0, -1e-12, -1.0]),
                Domain::NonNegative => bad.extend([-1e-12, -1.0]),
                Domain::Finite => {}
                Domain::HalfOpen(lo, hi) => bad.extend([lo - 1e-9, hi, hi + 1.0]),
                Domain::Open(lo, hi) => bad.extend([lo - 1e-9, lo, hi, hi + 1.0]),
            }
            for v in bad {
                let err = loss::resolve_params(spec, &given(&[(p.name, v)]))
                    .expect_err(&format!("{} accepted {} = {v}", spec.name, p.name));
                let msg = err.to_string();
                assert!(
                    msg.contains(&format!("`loss.{}`", p.name)) && msg.contains("out of range"),
                    "{}: {} = {v}: message `{msg}`",
                    spec.name,
                    p.name
                );
            }
            // The closed ends of the domains are accepted.
            let edge = match p.domain {
                Domain::NonNegative => Some(0.0),
                Domain::HalfOpen(lo, _) => Some(lo),
                _ => None,
            };
            if let Some(v) = edge {
                assert!(
                    loss::resolve_params(spec, &given(&[(p.name, v)])).is_ok(),
                    "{}: {} = {v}",
                    spec.name,
                    p.name
                );
            }
        }
        // An unknown parameter is named too.
        let msg = loss::resolve_params(spec, &given(&[("bogus", 1.0)]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`loss.bogus`"), "{}: `{msg}`", spec.name);
    }
    // SFT has no parameters at all.
    let msg = loss::resolve_params(loss::spec("sft").unwrap(), &given(&[("beta", 0.1)]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`loss.beta`") && msg.contains("none"),
        "`{msg}`"
    );
}
