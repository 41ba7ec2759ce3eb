//! Snapshot tests of the precision section of `REPORT.md` (the f32-vs-f64
//! comparison and the float32 bookkeeping of the late jump): fixed,
//! hand-built facts that reach every branch of the text, rendered through
//! `templates/precision/` and compared byte for byte with
//! `tests/snapshots/precision/NAME.md`. After a deliberate change of the
//! text, regenerate them with
//! `UPDATE_SNAPSHOTS=1 cargo test --release --test precision_text` and
//! review the diff.

mod common;

use dpo_lab::analysis::bookkeeping::Candidate;
use dpo_lab::studies::late_jump::{CandidateFacts, Facts, Rise, RunFacts, RULE};
use dpo_lab::studies::precision::{Experiment, PairStats};
use std::path::Path;

/// Compares `text` byte for byte with `tests/snapshots/precision/NAME.md`
/// (or writes it when `UPDATE_SNAPSHOTS` is set).
fn snapshot(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/precision")
        .join(format!("{name}.md"));
    common::snapshot::check(&path, text);
}

fn experiment(seeds: &[u64]) -> Experiment {
    Experiment {
        bases: Vec::new(),
        seeds: seeds.to_vec(),
        epochs: 5000,
    }
}

/// One run's f32-vs-f64 comparison, its numbers varied by scenario and
/// seed; its f64 and f32 runs both rise late, at about the same epoch.
fn pair(sc: usize, seed: u64) -> PairStats {
    let (k, s) = (sc as f64, seed as f64);
    let e = seed as usize;
    PairStats {
        scenario: format!("scenario{sc}"),
        seed,
        epochs: 5000,
        n_responses: 10,
        cross_normal_avg: Some(300 + 37 * e + 11 * sc),
        cross_subnormal_avg: Some(420 + 41 * e + 13 * sc),
        cross_subnormal_max: Some(700 + 43 * e),
        f32_first_zero: Some(380 + 29 * e),
        f32_all_zero: Some(900 + 53 * e + 7 * sc),
        max_diff_unseen: (3.2e-5 * (1.0 + s) * k, 1200 + e),
        max_diff_chosen: (0.0012 * (1.0 + s) + 1e-4 * k, 1500 + 3 * e),
        parted: Some(800 + 10 * e),
        final_unseen_on_other_chosen: 0.99995 - 1e-4 * s,
        final_strict: 2.3e-6 * (1.0 + s) * k,
        rise_f64: (0.0061 + 0.001 * s, 2000 + 100 * e),
        rise_f32: (0.0062 + 0.001 * s, 2000 + 100 * e + (e % 2)),
        fall_f64: (0.002 + 1e-4 * k, 3000),
        fall_f32: (0.0021, 3001),
        diverged: (false, false),
    }
}

/// No late change in either precision.
fn quiet(mut p: PairStats) -> PairStats {
    p.rise_f64.0 = 0.001;
    p.rise_f32.0 = 0.0012;
    p.fall_f64.0 = 0.0004;
    p.fall_f32.0 = 0.0;
    p
}

fn pairs(scenarios: &[usize], seeds: &[u64]) -> Vec<PairStats> {
    scenarios
        .iter()
        .flat_map(|&sc| seeds.iter().map(move |&s| pair(sc, s)))
        .collect()
}

/// The precision comparison's variants: (name, experiment, stats).
fn precision_variants() -> Vec<(&'static str, Experiment, Vec<PairStats>)> {
    let seeds = [0, 1, 2];
    let mut v = Vec::new();
    // The report's shape: scenarios 1-4, late changes in both precisions at
    // about the same epoch, one in f64 only, one falling, one close to the
    // f32 run's last zero.
    let mut real = pairs(&[1, 2, 3, 4], &seeds);
    real[4].rise_f32.0 = 0.001; // scenario 2, seed 1: f64 only
    real[5].fall_f64 = (0.009, 2500); // scenario 2, seed 2: a fall
    real[5].fall_f32 = (0.0091, 2502);
    real[7].rise_f64.1 = real[7].f32_all_zero.unwrap() + 40; // close
    real[7].rise_f32.1 = real[7].rise_f64.1;
    real[9].f32_all_zero = None;
    real[10].final_unseen_on_other_chosen = 0.99871;
    v.push(("precision-real", experiment(&seeds), real));
    v.push(("precision-none", experiment(&seeds), Vec::new()));
    v.push((
        "precision-scenario1-only",
        experiment(&seeds),
        pairs(&[1], &seeds),
    ));
    // Late changes in f32 without a match; scenario 1 parts without ever
    // storing every rejected probability as 0, and has the largest gap;
    // some runs diverge.
    let mut f32 = pairs(&[1, 2, 3], &[5, 9]);
    f32[2].rise_f64.0 = 0.0001;
    f32[2].fall_f64.0 = 0.0;
    f32[3].rise_f32.1 += 300;
    f32[1].f32_all_zero = None;
    f32[1].max_diff_unseen = (0.0213, 4100);
    f32[4].diverged = (false, true);
    f32[5].diverged = (true, true);
    v.push(("precision-f32-only", experiment(&[5, 9]), f32));
    // No late change at all; scenario 1 never parts; one seed.
    let quiet_runs = pairs(&[1, 2, 4], &[3]).into_iter().map(quiet).collect();
    v.push(("precision-quiet", experiment(&[3]), quiet_runs));
    // Scenario 1 parts after the f32 run's zeros; no event close to them.
    let mut late = pairs(&[1, 3], &[0, 4]);
    late[0].parted = Some(2400);
    late[1].parted = None;
    late[2].rise_f64.1 = 4000;
    late[2].rise_f32.1 = 4000;
    late[2].max_diff_unseen.0 = 0.0;
    v.push(("precision-late-parting", experiment(&[0, 4]), late));
    // Every run puts more than 99.99% of the unseen mass on chosen responses.
    v.push(("precision-one-seed", experiment(&[0]), pairs(&[2, 4], &[0])));
    v
}

fn rise(ratio: f64, end: usize) -> Option<Rise> {
    Some(Rise {
        ratio,
        start: end - RULE.window,
        end,
    })
}

fn candidate(c: Candidate, sc: usize, seed: u64) -> CandidateFacts {
    let (k, s) = (sc as f64, seed as f64);
    let e = seed as usize;
    let mean = CandidateFacts {
        candidate: c,
        start: 0.081 + 0.001 * k,
        rise: rise(1.08 + 0.01 * s, 2200 + 10 * e),
        mean_rise: f64::NAN,
        zeros: (10, 12),
        factor_rise: rise(1.0, 2200),
        factor_zeros: (10, 12),
        factor_rejected_zero: Some(1.0),
        factor_final: 1.0,
    };
    match c {
        Candidate::Mean => mean,
        Candidate::NonzeroPooled => CandidateFacts {
            rise: rise(1.2 + 0.05 * s, 2300 + 7 * e),
            mean_rise: 1.1 + 0.01 * s,
            zeros: (9 + e, 12 + e),
            factor_rise: rise(1.25 + 0.04 * s, 1100 + 13 * e),
            factor_zeros: (9, 12 + e),
            factor_rejected_zero: Some(1.6),
            factor_final: 2.0 + 0.1 * k,
            ..mean
        },
        Candidate::NonzeroPerPair => CandidateFacts {
            rise: rise(1.31 + 0.02 * s, 2350),
            mean_rise: 1.02,
            zeros: (11, 12),
            factor_rise: rise(1.29 + 0.05 * k, 1150 + e),
            factor_zeros: (11, 12),
            factor_rejected_zero: Some(1.6 + 0.0001 * s),
            factor_final: 2.5,
            ..mean
        },
        Candidate::GeoNonzero => CandidateFacts {
            start: 1e-3 * (1.0 + s),
            rise: rise(1500.0 * (1.0 + s), 900),
            mean_rise: 0.97,
            zeros: (0, 3),
            factor_rise: rise(0.004, 950),
            factor_zeros: (1, 2),
            factor_rejected_zero: None,
            factor_final: 3e-12,
            ..mean
        },
    }
}

/// One run's float32 bookkeeping, its numbers varied by scenario and seed.
fn run(sc: usize, seed: u64) -> RunFacts {
    let e = seed as usize;
    RunFacts {
        scenario: format!("scenario{sc}"),
        seed,
        epochs: 5000,
        n_pairs: 4,
        per_pair: 8,
        n_entries: 32,
        n_other_rejected: 12,
        n_no_pair: 8,
        first_zero: Some(300 + 20 * e + sc),
        other_rejected_zero: Some(900 + 40 * e),
        no_pair_zero: seed.is_multiple_of(2).then_some(2000 + e),
        final_zeros: 20,
        f64_rise: rise(1.05 + 0.3 * (seed % 2) as f64, 2210 + 10 * e),
        f64_start: 0.081 + 0.001 * sc as f64,
        candidates: Candidate::ALL
            .iter()
            .map(|&c| candidate(c, sc, seed))
            .collect(),
    }
}

fn facts(scenarios: &[usize], seeds: &[u64], edit: impl Fn(&mut RunFacts)) -> Facts {
    let mut runs = Vec::new();
    for &sc in scenarios {
        for &s in seeds {
            let mut r = run(sc, s);
            edit(&mut r);
            runs.push(r);
        }
    }
    Facts {
        experiment: experiment(seeds),
        rule: RULE,
        precision: pairs(scenarios, seeds),
        runs,
        shown: Vec::new(),
        pick_by: Candidate::NonzeroPooled,
    }
}

fn cand(r: &mut RunFacts, c: Candidate) -> &mut CandidateFacts {
    r.candidates.iter_mut().find(|f| f.candidate == c).unwrap()
}

/// The bookkeeping study's variants: (name, facts).
fn late_jump_variants() -> Vec<(&'static str, Facts)> {
    let mut v = Vec::new();
    // The report's shape: scenarios 1-4, six seeds (more than four
    // bookkeeping jumps of one candidate, at most four of another).
    v.push((
        "late-jump-real",
        facts(&[1, 2, 3, 4], &[0, 1, 2, 3, 4, 5], |r| {
            if r.seed >= 3 {
                cand(r, Candidate::NonzeroPerPair).factor_rise = rise(1.1, 1300);
            }
            if r.seed == 5 {
                cand(r, Candidate::NonzeroPooled).factor_rejected_zero = None;
            }
            if r.seed == 1 {
                cand(r, Candidate::Mean).rise = rise(1.4, 2215);
            }
        }),
    ));
    v.push(("late-jump-none", facts(&[], &[0], |_| {})));
    v.push(("late-jump-one-scenario", facts(&[1], &[0, 1], |_| {})));
    // Too short for any underflow.
    v.push((
        "late-jump-no-underflow",
        facts(&[1, 2], &[0], |r| {
            r.first_zero = None;
            r.other_rejected_zero = None;
            r.no_pair_zero = None;
        }),
    ));
    // Underflow, but the other pairs' rejected responses never all reach 0;
    // no jump of any curve or ratio; the predicted factor missed.
    v.push((
        "late-jump-no-rejected-zero",
        facts(&[1, 2, 3], &[0, 1], |r| {
            r.other_rejected_zero = None;
            r.f64_rise = rise(1.01, 2300);
            for f in &mut r.candidates {
                f.factor_rejected_zero = None;
                f.rise = rise(1.1, 2300);
                f.factor_rise = rise(1.05, 2400);
            }
        }),
    ));
    // The factor in most runs (median) but not all; one candidate
    // jumps in one run only; the scenario-1 run has no f64 rise.
    v.push((
        "late-jump-median-factor",
        facts(&[1, 2], &[0, 1, 2], |r| {
            if r.scenario == "scenario1" {
                r.f64_rise = None;
            }
            if r.seed == 1 {
                cand(r, Candidate::NonzeroPooled).factor_rejected_zero = Some(1.7);
            }
            if r.seed != 2 {
                cand(r, Candidate::NonzeroPerPair).factor_rise = rise(1.0, 1300);
                cand(r, Candidate::NonzeroPooled).factor_rise = None;
            }
            cand(r, Candidate::GeoNonzero).rise = None;
        }),
    ));
    // A factor other than the everywhere.
    v.push((
        "late-jump-other-factor",
        facts(&[2, 3], &[7], |r| {
            for f in &mut r.candidates {
                if f.factor_rejected_zero.is_some() {
                    f.factor_rejected_zero = Some(1.9);
                }
            }
        }),
    ));
    v
}

/// The precision section's text, for every variant.
#[test]
fn precision_comparison_text() {
    for (name, e, stats) in precision_variants() {
        snapshot(
            name,
            &dpo_lab::present::precision::comparison(&e, &stats).unwrap(),
        );
    }
}

/// The bookkeeping subsection's text, for every variant.
#[test]
fn late_jump_text() {
    for (name, f) in late_jump_variants() {
        snapshot(name, &dpo_lab::present::precision::bookkeeping(&f).unwrap());
    }
}
