//! A policy's fused `backward_step` must change parameters and optimiser
//! state exactly as `backward` followed by `Optimizer::step` does, and
//! `backward_step_ahead` must also leave the logits `forward` computes, bit
//! for bit, for every policy and optimiser: speed must not change the numbers.

use dpo_lab::maths::optim::{Optimizer, OptimizerKind};
use dpo_lab::maths::policy::{Activation, Loglinear, Mlp, MlpInit, Policy, SharedBias, Tabular};
use proptest::prelude::*;

fn optimizers() -> Vec<OptimizerKind> {
    dpo_lab::maths::optim::test_kinds()
}

/// Three steps three ways from the same start (`backward` then
/// `Optimizer::step`, `backward_step`, `backward_step_ahead`); every bit of
/// the parameters, the optimiser's state and the logits must agree.
fn check(policy: &dyn Policy, seed: u64) -> Result<(), TestCaseError> {
    let (x, y) = (policy.n_prompts(), policy.n_responses());
    let n = policy.n_params();
    let same = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
    for kind in optimizers() {
        let mut p_ref = policy.init_params(seed);
        let (mut p_fused, mut p_ahead) = (p_ref.clone(), p_ref.clone());
        let mut o_ref = Optimizer::new(kind, 0.05, n);
        let (mut o_fused, mut o_ahead) = (o_ref.clone(), o_ref.clone());
        let scratch = || vec![0.0; policy.scratch_len()];
        let (mut s_ref, mut s_fused, mut s_ahead) = (scratch(), scratch(), scratch());
        let mut grad = vec![0.0; n];
        let (mut logits, mut z_ahead) = (vec![0.0; x * y], vec![0.0; x * y]);
        // Whether the last `backward_step_ahead` left the logits (and the
        // scratch) of its result, so that no `forward` runs in between.
        let mut fresh = false;
        for step in 0..4 {
            policy.forward(&p_ref, &mut s_ref, &mut logits);
            if !fresh {
                policy.forward(&p_ahead, &mut s_ahead, &mut z_ahead);
            }
            prop_assert!(
                same(&logits, &z_ahead),
                "{:?} {:?} logits at step {}",
                policy,
                kind,
                step
            );
            if step == 3 {
                break;
            }
            // A deterministic, sign-mixed logit gradient of varied magnitude.
            let dlogits: Vec<f64> = (0..x * y)
                .map(|i| {
                    ((i as f64 + 1.3) * (seed as f64 + 0.7 + step as f64)).sin()
                        * 10f64.powi(i as i32 % 5 - 2)
                })
                .collect();
            policy.backward(&p_ref, &mut s_ref, &dlogits, &mut grad);
            o_ref.step(&mut p_ref, &grad);
            policy.forward(&p_fused, &mut s_fused, &mut logits);
            policy.backward_step(
                &mut p_fused,
                &mut s_fused,
                &dlogits,
                &mut grad,
                &mut o_fused,
            );
            fresh = policy.backward_step_ahead(
                &mut p_ahead,
                &mut s_ahead,
                &dlogits,
                &mut grad,
                &mut o_ahead,
                &mut z_ahead,
            );
            for (what, p, o) in [("fused", &p_fused, &o_fused), ("ahead", &p_ahead, &o_ahead)] {
                for (i, (a, b)) in p_ref.iter().zip(p).enumerate() {
                    prop_assert_eq!(
                        a.to_bits(),
                        b.to_bits(),
                        "{} {:?} {:?} step {} param {}",
                        what,
                        policy,
                        kind,
                        step,
                        i
                    );
                }
                let ((m1, v1), (m2, v2)) = (o_ref.state(), o.state());
                prop_assert!(
                    same(m1, m2) && same(v1, v2),
                    "{} {:?} {:?} state",
                    what,
                    policy,
                    kind
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mlp_fused_step_is_bit_identical(
        x in 1..6usize, y in 2..13usize, width in 1..40usize, tanh in any::<bool>(), seed in 0..1000u64,
    ) {
        let activation = if tanh { Activation::Tanh } else { Activation::Relu };
        check(&Mlp { n_prompts: x, n_responses: y, width, activation, init_scale: 1.0 , init: MlpInit::Uniform}, seed)?;
    }

    #[test]
    fn tabular_and_shared_bias_fused_step_is_bit_identical(
        x in 1..6usize, y in 2..13usize, seed in 0..1000u64,
    ) {
        check(&Tabular { n_prompts: x, n_responses: y }, seed)?;
        check(&SharedBias { n_prompts: x, n_responses: y }, seed)?;
    }
}

/// The widths the paper and the benchmark use, including multiples of the vector width.
#[test]
fn mlp_fused_step_at_benchmark_widths() {
    for width in [8, 16, 64, 65, 256] {
        for activation in [Activation::Tanh, Activation::Relu] {
            let p = Mlp {
                n_prompts: 4,
                n_responses: 10,
                width,
                activation,
                init_scale: 1.0,
                init: MlpInit::Uniform,
            };
            check(&p, width as u64).unwrap();
        }
    }
}

#[test]
fn loglinear_fused_step_is_bit_identical() {
    for freeze_responses in [false, true] {
        let p = Loglinear {
            n_prompts: 4,
            n_responses: 10,
            dim: 6,
            freeze_responses,
            pair_similarity: None,
            init_scale: 1.0,
            pairs: vec![(0, 1), (1, 2), (2, 3), (3, 4)],
        };
        check(&p, 3).unwrap();
    }
}
