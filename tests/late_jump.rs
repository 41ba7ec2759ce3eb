//! The float32 bookkeeping of the f32 runs (issue 11, item 3): the logits
//! the training loop keeps are the ones its softmax saw, and the study's
//! facts agree with the curves they come from.

use dpo_lab::analysis::bookkeeping::{softmax_rows_f32, Candidate};
use dpo_lab::engine::train::{train, Keep};
use dpo_lab::io::config::Config;
use dpo_lab::maths::numerics::softmax_rows;
use dpo_lab::maths::precision::{is_f32_exact, Precision};
use dpo_lab::studies::late_jump::{self, Study, RULE};
use dpo_lab::studies::precision::variant;
use std::path::{Path, PathBuf};

fn experiment(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(name)
}

/// The kept logits reproduce the kept log-probabilities through the loop's
/// own softmax, also for the tabular policy, whose logits are its
/// parameters and are overwritten in place by the update.
#[test]
fn kept_logits_are_the_ones_the_softmax_saw() {
    for (name, precision) in [
        ("tabular-dpo-sgd.toml", Precision::F64),
        ("fig3-scenario4.toml", Precision::F64),
        ("fig3-scenario4.toml", Precision::F32),
    ] {
        let base = Config::load(&experiment(name)).unwrap();
        let spec = variant(&base, 0, 30, precision).build().unwrap();
        let r = train(&spec, Keep::ALL);
        assert_eq!(r.logit_snapshots.len(), r.snapshots.len(), "{name}");
        let y = r.n_responses;
        for ((e, z), (e2, logp)) in r.logit_snapshots.iter().zip(&r.snapshots) {
            assert_eq!(e, e2);
            let (mut lp, mut p) = (vec![0.0; z.len()], vec![0.0; z.len()]);
            softmax_rows(z, y, &mut lp, &mut p);
            if precision == Precision::F32 {
                assert!(z.iter().all(|&v| is_f32_exact(v)), "{name} epoch {e}");
                lp.iter_mut().for_each(|v| *v = *v as f32 as f64);
            }
            assert_eq!(&lp, logp, "{name} {precision:?} epoch {e}");
        }
    }
}

/// A short study on one scenario: the facts match the curves, and for
/// `p[p > 0].mean()` the ratio to the plain mean is n / (n − zeros) at every
/// epoch (zeros add nothing to the sum), whatever the dynamics do.
#[test]
fn study_facts_match_their_curves() {
    let study = Study {
        configs: vec![experiment("fig3-scenario4.toml")],
        seeds: vec![0],
        epochs: 1000,
        rule: RULE,
        shown: vec!["scenario4".into()],
        pick_by: Candidate::NonzeroPooled,
    };
    let facts = late_jump::run(&study).unwrap();
    assert_eq!(facts.runs.len(), 1);
    let (run, shown) = (&facts.runs[0], &facts.shown[0]);
    assert_eq!(run, &shown.facts);
    let cv = &shown.curves;
    assert_eq!(cv.zero.len(), 1001);
    let n = run.n_entries as f64;
    assert_eq!(run.n_entries, 32);
    for e in 0..=1000 {
        let ratio = cv.of(Candidate::NonzeroPooled)[e] / cv.of(Candidate::Mean)[e];
        let want = n / (n - cv.zeros_at(e) as f64);
        assert!(
            (ratio / want - 1.0).abs() < 1e-5,
            "epoch {e}: {ratio} vs {want}"
        );
    }
    // The plain mean of the float32 softmax is the f64 run's avg_unseen up
    // to float32 rounding and the emulation's small drift.
    let mean = cv.of(Candidate::Mean);
    for (m, r) in mean.iter().zip(&shown.pair.f64.metrics) {
        assert!((m - r.avg_unseen).abs() < 1e-3, "{m} vs {}", r.avg_unseen);
    }
    if let (Some(a), Some(b)) = (run.first_zero, run.other_rejected_zero) {
        assert!(a <= b);
        assert!(cv.zeros_at(a) > 0 && (a == 0 || cv.zeros_at(a - 1) == 0));
        let pooled = run.of(Candidate::NonzeroPooled).unwrap();
        let f = pooled.factor_rejected_zero.unwrap();
        let zeros = cv.zeros_at(b) as f64;
        assert!((f - n / (n - zeros)).abs() < 1e-5, "{f}");
    }
    for c in &run.candidates {
        if let Some(r) = c.rise {
            assert_eq!(r.end - r.start, RULE.window);
            assert!(r.end >= RULE.from);
            let v = cv.of(c.candidate);
            assert!((v[r.end] / v[r.start] - r.ratio).abs() < 1e-12);
            assert_eq!(c.zeros, (cv.zeros_at(r.start), cv.zeros_at(r.end)));
        }
    }
    let md = dpo_lab::present::precision::bookkeeping(&facts).unwrap();
    assert!(
        md.contains("### What float32 code would have plotted"),
        "{md}"
    );
    assert!(!md.contains("NaN") && !md.contains("inf"), "{md}");
}

/// The float32 softmax of an f32 run's logits has exactly 0 where an entry
/// is far enough below its row's maximum, and the f64 one does not.
#[test]
fn float32_softmax_of_a_run_underflows_where_f64_does_not() {
    let base = Config::load(&experiment("fig3-scenario1.toml")).unwrap();
    // The calibrated run's rejected log-probabilities stay above -100 for
    // 5000 epochs; a faster learning rate takes some past f32's floor (-103).
    let mut fast = base.clone();
    fast.optimizer.lr = 0.003;
    let spec = variant(&fast, 0, 2000, Precision::F32).build().unwrap();
    let r = train(&spec, Keep::ALL);
    let y = r.n_responses;
    let mut far = 0;
    for (_, z) in &r.logit_snapshots {
        let p32 = softmax_rows_f32(z, y);
        let (mut lp, mut p64) = (vec![0.0; z.len()], vec![0.0; z.len()]);
        softmax_rows(z, y, &mut lp, &mut p64);
        for (row32, (row64, zr)) in p32.chunks(y).zip(p64.chunks(y).zip(z.chunks(y))) {
            let m = zr.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            for ((&a, &b), &zi) in row32.iter().zip(row64).zip(zr) {
                if zi - m < -110.0 {
                    far += 1;
                    assert_eq!(a, 0.0);
                    assert!(b > 0.0 || zi - m < -745.0);
                }
                if zi - m > -100.0 {
                    assert!(a > 0.0);
                }
            }
        }
    }
    assert!(far > 0, "no logit 110 below its row's maximum");
}

/// Runs too short for any underflow still give a report that says so.
#[test]
fn study_without_underflow_says_so() {
    let study = Study {
        configs: vec![
            experiment("fig3-scenario1.toml"),
            experiment("fig3-scenario2.toml"),
        ],
        seeds: vec![0],
        epochs: 60,
        rule: RULE,
        shown: vec!["scenario2".into()],
        pick_by: Candidate::NonzeroPooled,
    };
    let facts = late_jump::run(&study).unwrap();
    assert!(facts.runs.iter().all(|r| r.first_zero.is_none()));
    let md = dpo_lab::present::precision::bookkeeping(&facts).unwrap();
    assert!(md.contains("No unseen entry underflows"), "{md}");
    assert!(!md.contains("NaN") && !md.contains("inf"), "{md}");
    println!("{md}");
}
