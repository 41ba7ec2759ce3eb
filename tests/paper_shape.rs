//! The paper's Figure 2 shape on `experiments/fig2.toml` (the issue's
//! acceptance criteria), and golden values of that run that must not move
//! unless the numerics change on purpose.

use dpo_lab::engine::train::{train, Keep};
use dpo_lab::io::config::Config;
use std::path::Path;

fn fig2() -> dpo_lab::engine::train::RunResult {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/fig2.toml");
    let spec = Config::load(&path)
        .unwrap()
        .resolved()
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(spec.epochs, 2000);
    train(&spec, Keep::ALL)
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
    assert!((first.logp_avg_rejected - last.logp_avg_rejected) / std::f64::consts::LN_10 >= 10.0);
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
/// `experiments/fig2.toml`). They were computed by this code, not by an
/// independent implementation: they catch any change of the numerics or of
/// the config (the run is deterministic), they do not show the numbers right.
#[test]
fn fig2_golden_summary() {
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
