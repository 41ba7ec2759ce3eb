//! The training loop of `precision = "f32-native"`: the same loop as
//! [`crate::engine::train::train_with`], with the policy's forward and
//! backward passes, the softmax and the optimiser computed in a float type
//! `T` by [`crate::maths::policy::native`]. What the loop hands to the loss, the
//! metrics and the recorder is the exact f64 value of each `T` number; the
//! loss's outputs are rounded to `T` before they flow back.
//!
//! Generic so that the tests can run it at `T = f64` and compare with the
//! f64 loop: the same algorithm, only the float type differs.

use crate::engine::metrics::{self, SummaryTracker};
use crate::engine::onpolicy::Sampler;
use crate::engine::train::{record_epoch, Finished, Keep, Recorder, RunSpec, Start, LOGIT_LIMIT};
use crate::maths::loss::{LossEval, State};
use crate::maths::policy::native::{NativeKernels, NativeOptimizer, Net, Real};

/// The policy's native form; the config layer admits `f32-native` only for
/// policies that have one.
fn net(spec: &RunSpec) -> Net {
    spec.policy
        .native()
        .expect("config validation admits f32-native only for policies with a native path")
}

fn to_t<T: Real>(xs: &[f64]) -> Vec<T> {
    xs.iter().map(|&x| T::of(x)).collect()
}

fn widen<T: Real>(xs: &[T], out: &mut [f64]) {
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = x.f64();
    }
}

/// `log π` at `params` (rounded to `T`) as the native loop computes it, as
/// f64 values.
pub fn log_probs<T: NativeKernels>(spec: &RunSpec, params: &[f64]) -> Vec<f64> {
    let net = net(spec);
    let (x, y) = (spec.data.n_prompts, spec.data.n_responses);
    let params: Vec<T> = to_t(params);
    let mut scratch = vec![T::ZERO; net.scratch_len()];
    let (mut z, mut logp, mut probs) = (
        vec![T::ZERO; x * y],
        vec![T::ZERO; x * y],
        vec![T::ZERO; x * y],
    );
    net.forward(&params, &mut scratch, &mut z);
    T::softmax(&z, y, &mut logp, &mut probs, T::of(f64::INFINITY));
    let mut out = vec![0.0; x * y];
    widen(&logp, &mut out);
    out
}

/// Trains from `start` (parameters exactly representable in `T`) in `T`
/// arithmetic; records, stops on divergence and summarises as
/// [`crate::engine::train::train_with`] does.
pub fn train_native<T: NativeKernels, R: Recorder>(
    spec: &RunSpec,
    start: Start,
    keep: Keep,
    rec: &mut R,
) -> Result<Finished, R::Error> {
    let net = net(spec);
    let mut sampler = spec.on_policy.map(|o| Sampler::new(o, spec.seed));
    let mut owned = sampler.as_ref().map(|_| spec.data.clone());
    let (x, y) = (spec.data.n_prompts, spec.data.n_responses);
    let Start {
        params,
        ref_logp,
        reference,
    } = start;
    let mut params: Vec<T> = to_t(&params);
    let mut opt = NativeOptimizer::<T>::new(spec.optimizer, spec.lr, params.len());
    let mut scratch = vec![T::ZERO; net.scratch_len()];
    let (mut z, mut logp_t, mut probs_t) = (
        vec![T::ZERO; x * y],
        vec![T::ZERO; x * y],
        vec![T::ZERO; x * y],
    );
    let (mut dlogits_t, mut grad) = (vec![T::ZERO; x * y], vec![T::ZERO; params.len()]);
    let (mut logp, mut probs, mut dlogits) = (vec![0.0; x * y], vec![0.0; x * y], vec![0.0; x * y]);
    let zero = LossEval {
        value: 0.0,
        d_plus: 0.0,
        d_minus: 0.0,
    };
    let mut evals = vec![zero; spec.data.pairs.len()];
    let mut tracker = SummaryTracker::default();
    let mut diverged = None;
    let limit = T::of(LOGIT_LIMIT);

    for epoch in 0..=spec.epochs {
        net.forward(&params, &mut scratch, &mut z);
        if !T::softmax(&z, y, &mut logp_t, &mut probs_t, limit) {
            diverged = Some(epoch);
            break;
        }
        widen(&logp_t, &mut logp);
        widen(&probs_t, &mut probs);
        if let (Some(s), Some(d)) = (sampler.as_mut(), owned.as_mut()) {
            if s.due(epoch) {
                s.resample(d, &probs);
            }
        }
        let data = owned.as_ref().unwrap_or(&spec.data);
        dlogits.fill(0.0);
        let state = State {
            data,
            logp: &logp,
            probs: &probs,
            ref_logp: &ref_logp,
        };
        let loss = T::of(spec.objective.eval(&state, &mut dlogits, &mut evals)).f64();
        for (d, g) in dlogits_t.iter_mut().zip(dlogits.iter_mut()) {
            *d = T::of(*g);
            *g = d.f64();
        }
        for e in &mut evals {
            let r = |v: f64| T::of(v).f64();
            (e.value, e.d_plus, e.d_minus) = (r(e.value), r(e.d_plus), r(e.d_minus));
        }
        if !loss.is_finite() || !dlogits.iter().all(|g| g.is_finite()) {
            diverged = Some(epoch);
            break;
        }
        let core = metrics::core(data, &probs);
        let record = epoch % spec.record_every == 0 || epoch == spec.epochs;
        let kept_logits = (record && keep.snapshots).then(|| z.iter().map(|v| v.f64()).collect());
        let row = (record && keep.metrics)
            .then(|| metrics::row(epoch, data, &logp, &ref_logp, &evals, loss, &dlogits, &core));
        if epoch < spec.epochs {
            let mut upd = opt.update();
            net.backward_step(&mut params, &mut scratch, &dlogits_t, &mut grad, &mut upd);
        }
        tracker.update(epoch, &core, loss, data, &logp);
        record_epoch(rec, epoch, &logp, row, kept_logits)?;
        if epoch == spec.epochs {
            break;
        }
    }

    let summary = tracker.finish(diverged, reference.max_abs_err, reference.steps);
    Ok(Finished {
        ref_logp,
        reference,
        summary,
    })
}
