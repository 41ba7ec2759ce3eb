//! A run big enough to be split over rayon's threads (`dpo_lab::maths::split`:
//! the softmax, the logit gradient, the metrics' row sums, the optimiser and
//! the finiteness check run in blocks on several cores) gives the numbers of
//! the same run on one thread, byte for byte, at every SIMD level: the split
//! changes the speed only. The runs below are above the split threshold, with
//! row lengths that are not multiples of the vector width, prompts with no
//! pair and prompts with two pairs out of data order.

#![forbid(unsafe_code)]

use dpo_lab::engine::reference::ReferenceSettings;
use dpo_lab::engine::train::{train, Keep, RunResult, RunSpec};
use dpo_lab::fast::{self, Level};
use dpo_lab::io::output::csv_bytes;
use dpo_lab::maths::data::{Dataset, Pair};
use dpo_lab::maths::objective;
use dpo_lab::maths::optim::{test_kinds, OptimizerKind};
use dpo_lab::maths::policy::{Loglinear, Policy, Tabular};
use dpo_lab::maths::precision::Precision;
use dpo_lab::maths::split::SPLIT_MIN;
use std::collections::BTreeMap;

const X: usize = 5;
// The runs must be big enough to split.
const _: () = assert!(X * Y >= SPLIT_MIN);
/// Odd: every row ends in a tail shorter than a vector.
const Y: usize = 32_771;

fn data() -> Dataset {
    let pair = |prompt, chosen, rejected| Pair {
        prompt,
        chosen,
        rejected,
    };
    Dataset {
        n_prompts: X,
        n_responses: Y,
        targets: (0..X)
            .map(|x| {
                let w: Vec<f64> = (0..Y)
                    .map(|a| (-(((a * 7 + x) % 97) as f64) / 30.0).exp())
                    .collect();
                let s: f64 = w.iter().sum();
                w.iter().map(|v| v / s).collect()
            })
            .collect(),
        // Prompts 1 and 3 have no pair; 0 and 2 have two, interleaved.
        pairs: vec![
            pair(2, 7, 9),
            pair(0, 1, 2),
            pair(4, 0, Y - 1),
            pair(0, 5, 1),
            pair(2, 3, 4),
        ],
        optimal: Some(vec![1, 0, 7, 0, 0]),
    }
}

fn spec(policy: Box<dyn Policy>, loss: &str, optimizer: OptimizerKind, lr: f64) -> RunSpec {
    let data = data();
    let objective = objective::build(loss, &BTreeMap::new(), &data, 1.0).expect("a known loss");
    RunSpec {
        seed: 3,
        epochs: 12,
        record_every: 1,
        policy,
        data,
        objective,
        optimizer,
        lr,
        reference: ReferenceSettings {
            tolerance: 1e-5,
            max_steps: 200,
            lr: 0.01,
        },
        on_policy: None,
        precision: Precision::F64,
    }
}

/// Every output of a run as bytes: metrics, snapshots, summary.
fn bytes(r: &RunResult) -> Vec<u8> {
    let mut out = csv_bytes(&r.metrics);
    for (e, s) in r.snapshots.iter().chain(&r.logit_snapshots) {
        out.extend(e.to_le_bytes());
        out.extend(s.iter().flat_map(|v| v.to_bits().to_le_bytes()));
    }
    out.extend(format!("{:?}", r.summary).bytes());
    out
}

fn on_threads(n: usize, s: &RunSpec) -> Vec<u8> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .expect("a thread pool");
    pool.install(|| bytes(&train(s, Keep::ALL)))
}

/// One thread (never split) against three (split), at the level in force.
fn check(s: &RunSpec, what: &str) {
    let one = on_threads(1, s);
    let three = on_threads(3, s);
    assert!(
        one == three,
        "{what}: split run differs from the one-thread run"
    );
}

#[test]
fn split_tabular_runs_are_the_one_thread_runs() {
    // DPO's softmax terms cancel; SFT-DPO's and KTO's do not (a full-row
    // gradient); ORPO goes through its own per-pair path.
    for loss in ["dpo", "sft-dpo", "orpo", "kto"] {
        for kind in test_kinds() {
            let s = spec(Box::new(tabular()), loss, kind, 0.05);
            check(&s, &format!("tabular {loss} {kind:?}"));
        }
    }
}

#[test]
fn split_loglinear_runs_are_the_one_thread_runs() {
    let kind = OptimizerKind::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    let d = data();
    let policy = Loglinear {
        n_prompts: X,
        n_responses: Y,
        dim: 6,
        freeze_responses: false,
        pair_similarity: Some(0.5),
        init_scale: Loglinear::DEFAULT_INIT_SCALE,
        pairs: d.pairs.iter().map(|p| (p.chosen, p.rejected)).collect(),
    };
    let s = spec(Box::new(policy), "sft-dpo", kind, 0.02);
    check(&s, "loglinear sft-dpo adam");
}

/// A run that diverges stops at the same epoch, with the same record, split
/// or not (the fused update-and-check sees a non-finite gradient in a block).
#[test]
fn split_runs_diverge_at_the_same_epoch() {
    let s = spec(
        Box::new(tabular()),
        "sft-dpo",
        OptimizerKind::Sgd { momentum: 0.0 },
        1e305,
    );
    let r = train(&s, Keep::ALL);
    assert!(
        r.summary.diverged_epoch.is_some(),
        "the learning rate must make the run diverge"
    );
    check(&s, "diverging tabular run");
}

/// Split runs at every SIMD level give the plain level's bytes (the fused
/// AVX-512 update-and-clear against the reference's two passes).
#[test]
fn split_runs_agree_across_levels() {
    let kind = OptimizerKind::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    let s = spec(Box::new(tabular()), "sft-dpo", kind, 0.05);
    let at = |level| fast::with_level(level, || on_threads(3, &s)).expect("a supported level");
    let want = at(Level::Plain);
    for level in fast::available() {
        assert!(at(level) == want, "split run at {level} differs from plain");
    }
}

fn tabular() -> Tabular {
    Tabular {
        n_prompts: X,
        n_responses: Y,
    }
}
