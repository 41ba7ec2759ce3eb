//! Criterion benchmarks of the hot kernels: one training step's pieces on the
//! paper's toy (4 prompts × 10 responses) and on a wide tabular problem.
//! `cargo bench --bench kernels`; `dpo-lab bench` measures whole runs.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dpo_lab::engine::train::{prepare, train_from, Keep};
use dpo_lab::maths::data::Dataset;
use dpo_lab::maths::numerics::softmax_rows;
use dpo_lab::maths::optim::{Optimizer, OptimizerKind};
use dpo_lab::maths::policy::{Activation, Mlp, MlpInit, Policy, Tabular};
use dpo_lab::studies::bench::{dpo_adam_spec, wide_data};
use std::hint::black_box;

fn logits(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| ((i * 7919) % 1000) as f64 / 100.0 - 5.0)
        .collect()
}

fn softmax(c: &mut Criterion) {
    for (x, y) in [(4, 10), (4, 100_000)] {
        let z = logits(x * y);
        let (mut lp, mut p) = (vec![0.0; x * y], vec![0.0; x * y]);
        c.bench_function(&format!("softmax_rows {x}x{y}"), |b| {
            b.iter(|| softmax_rows(black_box(&z), y, &mut lp, &mut p))
        });
    }
}

fn mlp(c: &mut Criterion) {
    for width in [16, 64, 256] {
        let m = Mlp {
            n_prompts: 4,
            n_responses: 10,
            width,
            activation: Activation::Tanh,
            init_scale: 1.0,
            init: MlpInit::Uniform,
        };
        let params = m.init_params(0);
        let mut scratch = vec![0.0; m.scratch_len()];
        let mut out = vec![0.0; 40];
        let dz = logits(40);
        let mut grad = vec![0.0; params.len()];
        c.bench_function(&format!("mlp forward+backward w{width}"), |b| {
            b.iter(|| {
                m.forward(black_box(&params), &mut scratch, &mut out);
                m.backward(&params, &mut scratch, black_box(&dz), &mut grad);
            })
        });
        // The training loop's path: backward fused with the Adam update.
        let mut p = params.clone();
        let mut opt = Optimizer::new(
            OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            1e-6,
            p.len(),
        );
        c.bench_function(&format!("mlp forward+backward_step(adam) w{width}"), |b| {
            b.iter(|| {
                m.forward(black_box(&p), &mut scratch, &mut out);
                m.backward_step(&mut p, &mut scratch, black_box(&dz), &mut grad, &mut opt);
            })
        });
    }
}

fn adam(c: &mut Criterion) {
    for n in [40, 4_874, 400_000] {
        let mut opt = Optimizer::new(
            OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            1e-3,
            n,
        );
        let mut params = logits(n);
        let grad = logits(n);
        c.bench_function(&format!("adam step n={n}"), |b| {
            b.iter(|| opt.step(&mut params, black_box(&grad)))
        });
    }
}

fn training_steps(c: &mut Criterion) {
    for y in [10, 100_000] {
        let data = if y == 10 {
            Dataset::scenario("scenario1").unwrap()
        } else {
            wide_data(4, y)
        };
        let policy = Box::new(Tabular {
            n_prompts: 4,
            n_responses: y,
        });
        let spec = dpo_adam_spec(policy, data, 10, 0);
        let start = prepare(&spec);
        let keep = Keep {
            metrics: false,
            snapshots: false,
        };
        c.bench_function(&format!("10 DPO+Adam steps, tabular 4x{y}"), |b| {
            b.iter_batched(
                || start.clone(),
                |s| train_from(&spec, s, keep),
                BatchSize::SmallInput,
            )
        });
    }
}

criterion_group!(benches, softmax, mlp, adam, training_steps);
criterion_main!(benches);
