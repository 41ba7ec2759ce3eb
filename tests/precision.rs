//! `precision = "f32"`: the float32 storage emulation of the training loop.
//! f32 and f64 agree on short runs; every value f32 mode stores is a float32;
//! a probability that underflows to 0 in f32 is not divergence; f64 is the
//! default and unchanged; the config field is validated and written out;
//! the experiment's helpers measure what they say.

use dpo_lab::engine::metrics::MetricsRow;
use dpo_lab::engine::train::{prepare, train, Keep, RunResult};
use dpo_lab::error::Error;
use dpo_lab::io::config::Config;
use dpo_lab::maths::optim::{Optimizer, OptimizerKind};
use dpo_lab::maths::precision::{
    is_f32_exact, ln_f32_min_subnormal, to_f32, Precision, F32_MIN_NORMAL, F32_MIN_SUBNORMAL,
};
use dpo_lab::studies::precision::{
    first_divergence, first_epoch_below, max_abs_diff, max_rise, run_pair, stats, verdict,
    PairStats, JUMP_THRESHOLD,
};
use std::path::Path;

mod common;
use common::figure::{assert_affine, Drawn};

fn experiment(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(name);
    Config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn with(c: &Config, epochs: i64, precision: Option<&str>) -> Config {
    let mut c = c.clone();
    c.epochs = epochs;
    c.precision = precision.map(str::to_string);
    c
}

fn run(c: &Config) -> RunResult {
    train(&c.resolved().unwrap().build().unwrap(), Keep::ALL)
}

/// Largest `|π_f32 / π_f64 - 1|` over all snapshots (from the logs, so
/// tiny probabilities compare by their relative error too).
fn max_rel_prob_err(a: &RunResult, b: &RunResult) -> f64 {
    assert_eq!(a.snapshots.len(), b.snapshots.len());
    a.snapshots
        .iter()
        .zip(&b.snapshots)
        .flat_map(|((ea, la), (eb, lb))| {
            assert_eq!(ea, eb);
            la.iter().zip(lb).map(|(x, y)| (x - y).exp_m1().abs())
        })
        .fold(0.0, f64::max)
}

#[test]
fn f32_and_f64_agree_on_short_runs() {
    for (name, epochs) in [("fig2.toml", 50), ("tabular-dpo-sgd.toml", 50)] {
        let base = experiment(name);
        let r64 = run(&with(&base, epochs, None));
        let r32 = run(&with(&base, epochs, Some("f32")));
        assert!(!r32.summary.diverged, "{name}");
        let err = max_rel_prob_err(&r32, &r64);
        assert!(err < 1e-5, "{name}: f32 and f64 differ by {err:e}");
        // ... but f32 does round: the runs are not identical.
        assert!(err > 0.0, "{name}: f32 changed nothing");
        let (m32, m64) = (&r32.metrics, &r64.metrics);
        let d = max_abs_diff(m32, m64, |r| r.avg_unseen).unwrap().0;
        assert!(d < 1e-6, "{name}: avg_unseen differs by {d:e}");
    }
}

#[test]
fn f32_mode_stores_only_float32_values() {
    for name in ["fig2.toml", "tabular-dpo-sgd.toml", "fig3-scenario4.toml"] {
        let c = with(&experiment(name), 30, Some("f32"));
        let spec = c.build().unwrap();
        let start = prepare(&spec);
        assert!(
            start.params.iter().all(|&p| is_f32_exact(p)),
            "{name}: params"
        );
        assert!(
            start.ref_logp.iter().all(|&l| is_f32_exact(l)),
            "{name}: ref"
        );
        let r = train(&spec, Keep::ALL);
        assert_eq!(r.ref_logp, start.ref_logp);
        // π_θ = π_0 bit for bit at epoch 0, in f32 as in f64.
        assert_eq!(r.snapshot(0).unwrap(), r.ref_logp.as_slice(), "{name}");
        assert_eq!(r.metrics[0].kl, 0.0, "{name}");
        for (e, logp) in &r.snapshots {
            for &l in logp {
                assert_eq!((l as f32) as f64, l, "{name}: epoch {e}: {l:e}");
            }
        }
        for row in &r.metrics {
            // The loss is stored as a float32 too.
            assert!(is_f32_exact(row.loss), "{name}: loss {}", row.loss);
        }
    }
    // In f64 the log-probabilities are not all float32 values.
    let r = run(&with(&experiment("fig2.toml"), 3, None));
    assert!(r
        .snapshots
        .iter()
        .flat_map(|s| &s.1)
        .any(|&l| !is_f32_exact(l)));
}

#[test]
fn f32_optimiser_state_and_parameters_are_float32() {
    let kinds = dpo_lab::maths::optim::test_kinds();
    for kind in kinds {
        let mut o64 = Optimizer::new(kind, 0.01, 4);
        let mut o32 = Optimizer::new(kind, 0.01, 4);
        let mut p64 = vec![0.1, -0.2, 0.3, 1.0];
        let mut p32 = p64.clone();
        for k in 0..20 {
            // The last gradient is so small that g² underflows in f32.
            let g: Vec<f64> = vec![0.3 / (k + 1) as f64, -1.7, 1e-3 * k as f64, 1e-30];
            let g32: Vec<f64> = g.iter().map(|&x| to_f32(x)).collect();
            o64.step(&mut p64, &g);
            o32.step_f32(&mut p32, &g32);
            let (m, v) = o32.state();
            for x in p32.iter().chain(m).chain(v) {
                assert!(is_f32_exact(*x), "{kind:?}: {x:e} is not a float32");
            }
        }
        for (a, b) in p32.iter().zip(&p64) {
            assert!((a - b).abs() < 1e-5, "{kind:?}: {a} vs {b}");
        }
        if let OptimizerKind::Adam { .. } = kind {
            // 0.001 · (1e-30)² = 1e-63 is below f32's range: v is exactly 0.
            assert_eq!(o32.state().1[3], 0.0);
            assert!(o64.state().1[3] > 0.0);
        }
    }
}

#[test]
fn f64_is_the_default_and_changes_nothing() {
    let base = experiment("fig2.toml");
    let a = run(&with(&base, 40, None));
    let b = run(&with(&base, 40, Some("f64")));
    assert_eq!(a.snapshots, b.snapshots);
    assert_eq!(a.metrics, b.metrics);
    assert_eq!(a.summary, b.summary);
    assert_eq!(base.build().unwrap().precision, Precision::F64);
}

/// A tabular run whose rejected probabilities fall far below f32's smallest
/// subnormal: in f32 they are stored as exactly 0, and the run goes on.
#[test]
fn probabilities_below_the_f32_range_are_zero_not_divergence() {
    let toml = "seed = 0\nepochs = 300\nprecision = \"f32\"\n[policy]\nkind = \"tabular\"\n\
                [data]\nscenario = \"scenario1\"\n[loss]\nname = \"dpo\"\nbeta = 0.1\n\
                [optimizer]\nname = \"sgd\"\nlr = 2000.0\n";
    let c = Config::from_toml_str(toml).unwrap();
    let spec = c.build().unwrap();
    let r = train(&spec, Keep::ALL);
    assert!(!r.summary.diverged, "{:?}", r.summary.diverged_epoch);
    assert_eq!(r.summary.epochs_run, 300);
    let last = &r.metrics.last().unwrap();
    assert!(
        last.logp_max_rejected < (F32_MIN_SUBNORMAL / 2.0).ln(),
        "the run must push the rejected probabilities below f32's range: {}",
        last.logp_max_rejected
    );
    let (_, logp) = r.snapshots.last().unwrap();
    let y = r.n_responses;
    for p in &spec.data.pairs {
        let l = logp[p.prompt * y + p.rejected];
        assert!(l.is_finite());
        assert_eq!(to_f32(l.exp()), 0.0, "rejected log-prob {l}");
    }
    // The f64 run of the same config agrees on the chosen side.
    let mut c64 = c.clone();
    c64.precision = None;
    let r64 = run(&c64);
    let d = max_abs_diff(&r.metrics, &r64.metrics, |m| m.avg_chosen)
        .unwrap()
        .0;
    assert!(d < 1e-4, "{d:e}");
}

#[test]
fn precision_config_is_validated_and_written_out() {
    let base = experiment("fig2.toml");
    for bad in ["f16", "F32", "double", ""] {
        let c = with(&base, 5, Some(bad));
        let err = c.build().unwrap_err();
        match &err {
            Error::Config { field, msg } => {
                assert_eq!(field, "precision", "{err}");
                assert!(msg.contains(&format!("`{bad}`")), "{msg}");
                assert!(msg.contains("f64") && msg.contains("f32"), "{msg}");
            }
            other => panic!("not a config error: {other:?}"),
        }
        assert_eq!(c.resolved().unwrap_err().to_string(), err.to_string());
    }
    // A wrong type is a parse error naming the field.
    let text = base
        .to_toml_string()
        .replacen("epochs", "precision = 32\nepochs", 1);
    let err = Config::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("precision"), "{err}");

    // resolved() writes the default out; the resolved config round-trips.
    for (given, want) in [(None, "f64"), (Some("f64"), "f64"), (Some("f32"), "f32")] {
        let r = with(&base, 5, given).resolved().unwrap();
        assert_eq!(r.precision.as_deref(), Some(want));
        let text = r.to_toml_string();
        assert!(text.contains(&format!("precision = \"{want}\"")), "{text}");
        let back = Config::from_toml_str(&text).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.resolved().unwrap(), r);
        assert_eq!(back.build().unwrap().precision.name(), want);
    }
    // An unset field is not written by an unresolved config.
    assert!(!with(&base, 5, None).to_toml_string().contains("precision"));
    assert_eq!(Precision::parse("f32"), Some(Precision::F32));
    assert_eq!(Precision::parse("f32-native"), Some(Precision::F32Native));
    assert_eq!(Precision::NAMES, ["f64", "f32", "f32-native"]);
}

#[test]
fn f32_constants_are_the_float32_limits() {
    assert_eq!(F32_MIN_SUBNORMAL, f32::from_bits(1) as f64);
    assert_eq!(F32_MIN_NORMAL, f32::MIN_POSITIVE as f64);
    assert!((ln_f32_min_subnormal() + 103.279).abs() < 1e-3);
    assert_eq!(to_f32(F32_MIN_SUBNORMAL * 0.4), 0.0);
    assert_eq!(to_f32(F32_MIN_SUBNORMAL * 0.6), F32_MIN_SUBNORMAL);
    assert_eq!(to_f32(1e39), f64::INFINITY);
    assert!(!is_f32_exact(0.1) && is_f32_exact(0.5) && is_f32_exact(f64::NAN));
}

fn rows(values: &[f64]) -> Vec<MetricsRow> {
    values
        .iter()
        .enumerate()
        .map(|(e, &v)| MetricsRow {
            epoch: e,
            avg_unseen: v,
            logp_avg_rejected: -(e as f64) * 10.0,
            ..MetricsRow::default()
        })
        .collect()
}

#[test]
fn experiment_helpers_measure_what_they_say() {
    // A flat curve with a rise of 0.03 over epochs 6-8.
    let v = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.11, 0.13, 0.13, 0.13];
    let m = rows(&v);
    let (rise, at) = max_rise(&m, 2, 3, |r| r.avg_unseen).unwrap();
    assert!((rise - 0.03).abs() < 1e-12 && at == 8, "{rise} at {at}");
    // Windows ending before `from` do not count.
    let (rise, _) = max_rise(&m, 2, 10, |r| r.avg_unseen).unwrap();
    assert!(rise.abs() < 1e-12);
    assert_eq!(
        first_epoch_below(&m, -35.0, |r| r.logp_avg_rejected),
        Some(4)
    );
    assert_eq!(first_epoch_below(&m, -1e9, |r| r.logp_avg_rejected), None);
    let mut w = v;
    w[9] += 0.002;
    let m2 = rows(&w);
    let (d, at) = max_abs_diff(&m2, &m, |r| r.avg_unseen).unwrap();
    assert!((d - 0.002).abs() < 1e-12 && at == 9);
    assert_eq!(first_divergence(&m2, &m, 1e-3, |r| r.avg_unseen), Some(9));
    assert_eq!(first_divergence(&m, &m, 0.0, |r| r.avg_unseen), None);

    let s = |sc: &str, f64j: (f64, usize), f32j: (f64, usize)| PairStats {
        scenario: sc.into(),
        seed: 0,
        epochs: 100,
        n_responses: 10,
        cross_normal_avg: None,
        cross_subnormal_avg: None,
        cross_subnormal_max: None,
        f32_first_zero: None,
        f32_all_zero: None,
        max_diff_unseen: (0.0, 0),
        max_diff_chosen: (0.0, 0),
        parted: None,
        final_unseen_on_other_chosen: 0.0,
        final_strict: 0.0,
        rise_f64: f64j,
        rise_f32: f32j,
        fall_f64: (0.0, 0),
        fall_f32: (0.0, 0),
        diverged: (false, false),
    };
    let big = 2.0 * JUMP_THRESHOLD;
    let all = [
        s("scenario2", (big, 50), (big, 55)),
        s("scenario3", (0.0, 50), (big, 60)),
        s("scenario4", (big, 50), (0.0, 60)),
        s("scenario4", (big, 10), (big, 90)),
        s("scenario1", (big, 50), (0.0, 50)),
    ];
    let v = verdict(&all, &["scenario2", "scenario3", "scenario4"]);
    assert_eq!(v.runs, 4);
    assert_eq!(
        (v.both_same_epoch, v.f32_only, v.f64_only, v.both_elsewhere),
        (1, 1, 1, 1)
    );
}

/// A paired run through the experiment's own path: both precisions, stats
/// consistent with the runs.
#[test]
fn paired_run_stats_are_consistent() {
    let base = experiment("fig3-scenario4.toml");
    let p = run_pair(&base, 0, 400).unwrap();
    assert_eq!(p.f64.metrics.len(), 401);
    assert_eq!(p.f32.metrics.len(), 401);
    let s = stats(&p).unwrap();
    assert_eq!(s.scenario, "scenario4");
    assert_eq!(s.epochs, 400);
    // The avg rejected probability passes f32's smallest normal before its
    // smallest subnormal, and every rejected f32 probability is 0 only after
    // the largest one passed half the smallest subnormal.
    if let (Some(n), Some(sub)) = (s.cross_normal_avg, s.cross_subnormal_avg) {
        assert!(n <= sub);
    }
    if let Some(z) = s.f32_all_zero {
        let half = (F32_MIN_SUBNORMAL / 2.0).ln();
        assert!(p.f32.metrics[z].logp_max_rejected <= half);
        assert!(p.f32.metrics[z - 1].logp_max_rejected > half);
    }
    assert!(s.max_diff_unseen.0 < 1e-3, "{:?}", s.max_diff_unseen);
    assert!(!s.diverged.0 && !s.diverged.1);
}

/// The figure renders from short paired runs: both files at the declared
/// size (two columns of five rows), the titles, each column's scenario, the
/// legend, and each f64 curve drawn from its run's metrics.
#[test]
fn precision_figure_renders() {
    let dir_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let study = dpo_lab::studies::late_jump::Study {
        configs: ["fig3-scenario2.toml", "fig3-scenario4.toml"]
            .iter()
            .map(|n| dir_in.join(n))
            .collect(),
        seeds: vec![0],
        epochs: 200,
        rule: dpo_lab::studies::late_jump::RULE,
        shown: vec!["scenario2".into(), "scenario4".into()],
        pick_by: dpo_lab::analysis::bookkeeping::Candidate::NonzeroPooled,
    };
    let facts = dpo_lab::studies::late_jump::run(&study).unwrap();
    let shown: Vec<_> = facts.shown.iter().collect();
    assert_eq!(shown.len(), 2);
    let dir = std::env::temp_dir().join(format!("dpo-lab-precision-{}", std::process::id()));
    let stem = dir.join("precision");
    dpo_lab::present::plots::precision::precision_plot(
        &stem,
        &shown,
        &facts.rule,
        "precision test",
    )
    .unwrap();

    let d = Drawn::read(&stem, (2 * 580, 5 * 330 + 300));
    d.assert_texts(&[
        "precision test",
        dpo_lab::maths::data::scenario_title("scenario2"),
        dpo_lab::maths::data::scenario_title("scenario4"),
        "avg chosen, f64",
        "avg rejected, f64",
        "avg unseen (outside own pair), f64",
    ]);
    for row in [
        "avg chosen probability",
        "avg rejected probability, log scale",
        "avg unseen probability (outside own pair)",
        "gap between the unseen curves, log scale",
        "avg unseen, float32 averages (zoom)",
    ] {
        assert_eq!(d.svg.count_text(row), 2, "{row}");
    }
    let points =
        |s: &dpo_lab::studies::late_jump::Shown, f: fn(&MetricsRow) -> f64| -> Vec<(f64, f64)> {
            s.pair
                .f64
                .metrics
                .iter()
                .map(|m| (m.epoch as f64, f(m)))
                .collect()
        };
    use dpo_lab::present::plots::style::{CHOSEN, REJECTED};
    for (color, f) in [
        (
            CHOSEN,
            (|m: &MetricsRow| m.avg_chosen) as fn(&MetricsRow) -> f64,
        ),
        (REJECTED, |m: &MetricsRow| {
            m.logp_avg_rejected / std::f64::consts::LN_10
        }),
    ] {
        let color = [color.0, color.1, color.2];
        // The dashed f32 curve is drawn over the f64 one and hides about half.
        d.assert_curves(color, 2, 201, 0.25);
        for (curve, s) in d.curves(color, 201).iter().zip(&shown) {
            assert_affine(curve, &points(s, f), 1.5, &s.pair.scenario);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
