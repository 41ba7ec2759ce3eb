//! The paper's Figure 2 shape on `experiments/fig2.toml` (the issue's
//! acceptance criteria), and golden values, each labelled with its source:
//!
//! - **closed form**: derived by hand from the definitions (tabular policy,
//!   DPO summed over pairs, plain SGD); the derivation is in the comment;
//! - **paper identity**: a statement of Yan et al. (ICLR 2025) that must hold
//!   exactly, whatever the numbers;
//! - **independent trajectory**: `tests/fixtures/independent_tabular_dpo.csv`,
//!   written by `tests/fixtures/independent_tabular_dpo.py` (plain Python
//!   float64, no code of this crate);
//! - **regression pin**: a value this code computed, kept only to notice when
//!   the numbers move; it protects byte-stability, not correctness.

use dpo_lab::engine::train::{train, Keep, RunResult};
use dpo_lab::io::config::Config;
use dpo_lab::maths::data::Dataset;
use std::f64::consts::{LN_10, LN_2};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run_config(c: &Config) -> RunResult {
    train(&c.resolved().unwrap().build().unwrap(), Keep::ALL)
}

fn fig2() -> RunResult {
    let c = Config::load(&root().join("experiments/fig2.toml")).unwrap();
    assert_eq!(c.resolved().unwrap().build().unwrap().epochs, 2000);
    run_config(&c)
}

/// `experiments/tabular-dpo-sgd.toml` (tabular, DPO β = 0.1 summed, SGD lr 1,
/// 200 epochs) on `scenario`.
fn tabular_sgd(scenario: &str) -> RunResult {
    let text = std::fs::read_to_string(root().join("experiments/tabular-dpo-sgd.toml")).unwrap();
    let text = text.replace(
        "scenario = \"scenario1\"",
        &format!("scenario = \"{scenario}\""),
    );
    run_config(&Config::from_toml_str(&text).unwrap())
}

/// The setting of `tabular-dpo-sgd.toml`, which the closed forms below use.
const BETA: f64 = 0.1;
const LR: f64 = 1.0;
const X: usize = 4;
const Y: usize = 10;

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(got.abs())
}

#[test]
fn fig2_shows_the_papers_figure_2_shape() {
    let r = fig2();
    let m = &r.metrics;
    assert_eq!(m.len(), 2001, "every epoch recorded");
    let (first, last) = (&m[0], &m[2000]);
    let peak = m.iter().map(|x| x.avg_chosen).fold(f64::MIN, f64::max);
    // The average chosen probability rises, then falls by at least 20 % from its peak.
    assert!(peak > first.avg_chosen);
    assert!(
        (peak - last.avg_chosen) / peak >= 0.2,
        "peak {peak}, final {}",
        last.avg_chosen
    );
    // The minimum chosen falls too.
    let min_peak = m.iter().map(|x| x.min_chosen).fold(f64::MIN, f64::max);
    assert!(last.min_chosen < 0.5 * min_peak);
    // The average rejected falls by at least 10 orders of magnitude.
    assert!((first.logp_avg_rejected - last.logp_avg_rejected) / LN_10 >= 10.0);
    // The average unseen dips, then rises.
    let (i_min, u_min) = m
        .iter()
        .enumerate()
        .map(|(i, x)| (i, x.avg_unseen))
        .fold((0, f64::MAX), |a, b| if b.1 < a.1 { b } else { a });
    assert!(u_min < first.avg_unseen && i_min > 0 && i_min < 2000);
    assert!(last.avg_unseen > u_min);
    // |∂ℓ/∂π−| / |∂ℓ/∂π+| grows by at least 10 orders of magnitude.
    let ratio = |x: &dpo_lab::engine::metrics::MetricsRow| {
        x.log10_grad_pi_minus.unwrap() - x.log10_grad_pi_plus.unwrap()
    };
    assert!(ratio(last) - ratio(first) >= 10.0);
    assert!(!r.summary.diverged);
}

/// Regression pins of the Figure 2 run (calibrated settings of
/// `experiments/fig2.toml`), computed by this code at commit 50b14cf, not
/// by an independent implementation: they protect byte-stability (any change
/// of the numerics or of the config moves them), not correctness.
#[test]
fn fig2_regression_pins() {
    let s = fig2().summary;
    let close = |got: f64, want: f64| (got - want).abs() <= 1e-9 * want.abs().max(1e-300);
    assert!(close(s.drop, 24.791_491_674_183_646), "drop {}", s.drop);
    assert!(
        close(s.degradation, 0.216_291_161_750_945_95),
        "degradation {}",
        s.degradation
    );
    assert!(
        close(s.dispersion, 0.015_344_505_755_925_011),
        "dispersion {}",
        s.dispersion
    );
    assert!(
        close(s.peak_avg_chosen, 0.567_549_986_882_102_3),
        "peak {}",
        s.peak_avg_chosen
    );
    assert_eq!(s.peak_epoch, 795);
    assert_eq!(s.min_avg_unseen_epoch, 795);
    assert_eq!(s.ref_steps, 150);
}

/// Closed form: the tabular reference is the target row, `π₀ = target`
/// (its logits are `ln target`, whose softmax is the target because the
/// row sums to 1), reached without a single fitting step; training starts
/// at `π_θ = π₀` bit for bit.
#[test]
fn tabular_reference_is_the_target() {
    for scenario in ["scenario1", "scenario3"] {
        let r = tabular_sgd(scenario);
        let data = Dataset::scenario(scenario).unwrap();
        assert_eq!(r.reference.steps, 0);
        assert!(
            r.reference.max_abs_err <= 1e-16,
            "{}",
            r.reference.max_abs_err
        );
        for x in 0..X {
            for a in 0..Y {
                let want = data.targets[x][a].ln();
                let got = r.ref_logp[x * Y + a];
                assert!(
                    (got - want).abs() <= 1e-15,
                    "{scenario} ({x}, {a}): {got} vs {want}"
                );
            }
        }
        assert_eq!(r.snapshot(0).unwrap(), &r.ref_logp[..]);
        assert_eq!(r.logit_snapshots[0].1.len(), X * Y);
    }
}

/// Closed form of the first SGD step. At epoch 0, `π_θ = π₀`, so every
/// pair's margin is `Δ = 0` and `σ(−βΔ) = 1/2`: the loss is `4 ln 2`, each
/// pair's partials are `∂f/∂l± = ∓β/2`, the paper's probability gradients
/// `|∂ℓ/∂π±| = (β/2)/π₀±`. In the logits, `∂ℓ/∂z = −(β/2)(e₊ − e₋)` (the
/// softmax terms cancel), so one SGD step of rate η moves the chosen logit
/// up and the rejected one down by `c = ηβ/2` and leaves the rest; the new
/// row is `π₁(a) = t_a e^{±c} / (1 + t₊(e^c − 1) + t₋(e^{−c} − 1))`.
#[test]
fn tabular_first_sgd_step_is_closed_form() {
    for scenario in ["scenario1", "scenario3"] {
        let r = tabular_sgd(scenario);
        let data = Dataset::scenario(scenario).unwrap();
        let m0 = &r.metrics[0];
        assert!(
            close(m0.loss, 4.0 * LN_2, 1e-15),
            "{scenario}: loss {}",
            m0.loss
        );
        let (tp, tm) = (data.targets[0][0], data.targets[0][4]);
        let (gp, gm) = (BETA / 2.0 / tp, BETA / 2.0 / tm);
        assert!(close(m0.grad_pi_plus.unwrap(), gp, 1e-14));
        assert!(close(m0.grad_pi_minus.unwrap(), gm, 1e-14));
        assert!((m0.log10_grad_pi_plus.unwrap() - gp.log10()).abs() < 1e-14);
        assert!((m0.log10_grad_pi_minus.unwrap() - gm.log10()).abs() < 1e-14);
        assert_eq!(m0.reward_margin, 0.0);

        let c = LR * BETA / 2.0;
        let (z1, logp1) = (&r.logit_snapshots[1], r.snapshot(1).unwrap());
        assert_eq!(z1.0, 1);
        for p in &data.pairs {
            let t = &data.targets[p.prompt];
            let norm = 1.0 + t[p.chosen] * (c.exp() - 1.0) + t[p.rejected] * ((-c).exp() - 1.0);
            for (a, &ta) in t.iter().enumerate() {
                let shift = if a == p.chosen {
                    c
                } else if a == p.rejected {
                    -c
                } else {
                    0.0
                };
                let i = p.prompt * Y + a;
                assert!(
                    close(z1.1[i], ta.ln() + shift, 1e-15),
                    "{scenario} logit ({}, {a}): {} vs {}",
                    p.prompt,
                    z1.1[i],
                    ta.ln() + shift
                );
                let want = ta.ln() + shift - norm.ln();
                assert!(
                    close(logp1[i], want, 1e-14),
                    "{scenario} log π₁({a}|{}): {} vs {want}",
                    p.prompt,
                    logp1[i]
                );
            }
        }
    }
}

/// Paper identity (Yan et al., Corollary 1): under DPO, for a pair,
/// `|∂ℓ/∂π−| / |∂ℓ/∂π+| = π+/π−`, because `|∂ℓ/∂l+| = |∂ℓ/∂l−|`. The
/// lab's columns average over pairs; in these runs every pair has the same
/// `π+` and `π−` (checked, to rounding), so the averages are the pair's values and
/// `log10_grad_pi_minus − log10_grad_pi_plus = log10(π+/π−)` at every epoch.
/// And the tabular identity behind it (the logit gradient is
/// `−βσ(−βΔ)(e₊ − e₋)`): responses outside a prompt's pair keep their logit
/// exactly, and the chosen logit rises by what the rejected one falls.
#[test]
fn tabular_dpo_obeys_corollary_1() {
    for scenario in ["scenario1", "scenario3"] {
        let r = tabular_sgd(scenario);
        let data = Dataset::scenario(scenario).unwrap();
        assert_eq!(r.metrics.len(), 201);
        for (m, (e, logp)) in r.metrics.iter().zip(&r.snapshots) {
            assert_eq!(m.epoch, *e);
            let lp = |p: &dpo_lab::maths::data::Pair, a: usize| logp[p.prompt * Y + a];
            let p0 = data.pairs[0];
            // (Equal to rounding: the pairs sit at different places in their rows.)
            let near = |a: f64, b: f64| (a - b).abs() <= 1e-13 * (1.0 + b.abs());
            for p in &data.pairs {
                assert!(near(lp(p, p.chosen), lp(&p0, p0.chosen)), "epoch {e}");
                assert!(near(lp(p, p.rejected), lp(&p0, p0.rejected)), "epoch {e}");
            }
            let ratio = m.log10_grad_pi_minus.unwrap() - m.log10_grad_pi_plus.unwrap();
            let want = (lp(&p0, p0.chosen) - lp(&p0, p0.rejected)) / LN_10;
            assert!(
                (ratio - want).abs() <= 1e-12 * (1.0 + want.abs()),
                "{scenario} epoch {e}: log10 ratio {ratio} vs log10(π+/π−) {want}"
            );
        }
        for (e, z) in &r.logit_snapshots {
            for p in &data.pairs {
                let t = &data.targets[p.prompt];
                for a in (0..Y).filter(|&a| a != p.chosen && a != p.rejected) {
                    assert_eq!(z[p.prompt * Y + a], t[a].ln(), "epoch {e}");
                }
                let up = z[p.prompt * Y + p.chosen] - t[p.chosen].ln();
                let down = z[p.prompt * Y + p.rejected] - t[p.rejected].ln();
                assert!(
                    (up + down).abs() <= 1e-12 * (1.0 + up.abs()),
                    "epoch {e}: +{up}, {down}"
                );
            }
        }
    }
}

/// Independent trajectory: the same runs (tabular-dpo-sgd.toml on scenarios
/// 1 and 3) computed by `tests/fixtures/independent_tabular_dpo.py`, plain
/// Python float64 with the gradient taken through the full log-softmax
/// Jacobian; every log-probability at the stored epochs agrees to 1e-12
/// relative.
#[test]
fn tabular_dpo_matches_an_independent_implementation() {
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/independent_tabular_dpo.csv")).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    assert_eq!(lines.next(), Some("scenario,epoch,prompt,response,logprob"));
    let rows: Vec<(String, usize, usize, usize, f64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect();
    for scenario in ["scenario1", "scenario3"] {
        let r = tabular_sgd(scenario);
        let mine: Vec<_> = rows.iter().filter(|x| x.0 == scenario).collect();
        // 11 epochs × 40 entries, the last at the run's end.
        assert_eq!(mine.len(), 11 * X * Y, "{scenario}");
        assert_eq!(mine.last().unwrap().1, 200);
        let mut worst: f64 = 0.0;
        for (_, e, x, a, want) in mine {
            let got = r.snapshot(*e).unwrap()[x * Y + a];
            let rel = (got - want).abs() / want.abs();
            worst = worst.max(rel);
            assert!(
                rel <= 1e-12,
                "{scenario} epoch {e} log π({a}|{x}): {got} vs independent {want}"
            );
        }
        // The comparison is not vacuous: the run moved far from π₀.
        let last = r.snapshot(200).unwrap();
        assert!((last[0] - r.ref_logp[0]).abs() > 1.0);
        eprintln!("{scenario}: largest relative difference {worst:e}");
    }
}
