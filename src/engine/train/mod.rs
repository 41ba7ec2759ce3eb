//! The training loop: full batch over the pairs, any policy, any loss. It
//! knows neither by name: a policy gives logits, a loss gives two partials
//! per triple, and an [`crate::maths::objective::Objective`] joins them.

pub mod native;

use crate::engine::metrics::{self, MetricsRow, ProbRow, Summary, SummaryTracker};
use crate::engine::onpolicy::Sampler;
use crate::engine::reference::{fit_reference, ReferenceFit, ReferenceSettings};
use crate::maths::data::Dataset;
use crate::maths::loss::LossEval;
use crate::maths::loss::State;
use crate::maths::numerics::{all_finite_then_zero_split, softmax_rows_within_split};
use crate::maths::objective::Objective;
use crate::maths::optim::Optimizer;
use crate::maths::optim::OptimizerKind;
use crate::maths::policy::{log_probs_in, Policy};
use crate::maths::precision::{round_f32, to_f32, Precision};
use crate::maths::split::worth_splitting;

/// A validated, typed run: everything the training loop needs.
#[derive(Debug)]
pub struct RunSpec {
    /// Seeds the policy's initialisation (and the on-policy sampler).
    pub seed: u64,
    /// Number of full-batch updates, ≥ 1.
    pub epochs: usize,
    /// Stride of the recorded epochs (≥ 1); the last epoch is always recorded.
    pub record_every: usize,
    /// The policy family, sized to the data.
    pub policy: Box<dyn Policy>,
    /// Target rows of the SFT step and the preference pairs.
    pub data: Dataset,
    /// The loss over the whole data set (from `[loss]`).
    pub objective: Box<dyn Objective>,
    /// The optimiser and its knobs (learning rate apart).
    pub optimizer: OptimizerKind,
    /// The optimiser's learning rate, > 0.
    pub lr: f64,
    /// Settings of the SFT fit that makes `π_0`.
    pub reference: ReferenceSettings,
    /// True on-policy sampling of the pairs, if configured.
    pub on_policy: Option<crate::engine::onpolicy::OnPolicy>,
    /// The float type the training loop stores its values in.
    pub precision: Precision,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Number of prompts `X`.
    pub n_prompts: usize,
    /// Number of responses `Y`.
    pub n_responses: usize,
    /// One row per recorded epoch (every `record_every`-th and the last).
    pub metrics: Vec<MetricsRow>,
    /// `(epoch, log π_θ)` at each recorded epoch, row-major `X × Y`.
    pub snapshots: Vec<(usize, Vec<f64>)>,
    /// `(epoch, logits)` at the same epochs, as the loop fed them to its
    /// softmax (float32 values in f32 mode): what a float32 framework's own
    /// softmax would see (see [`crate::analysis::bookkeeping`]).
    pub logit_snapshots: Vec<(usize, Vec<f64>)>,
    /// The reference's log-probabilities, row-major `X × Y`.
    pub ref_logp: Vec<f64>,
    /// How closely `π_0` matched its targets.
    pub reference: ReferenceFit,
    /// The D-scores and the facts behind them.
    pub summary: Summary,
}

impl RunResult {
    /// `probs.csv` rows, in (epoch, prompt, response) order.
    pub fn prob_rows(&self) -> Vec<ProbRow> {
        let y = self.n_responses;
        self.snapshots
            .iter()
            .flat_map(|(epoch, logp)| {
                logp.iter().enumerate().map(move |(i, &l)| ProbRow {
                    epoch: *epoch,
                    prompt: i / y,
                    response: i % y,
                    prob: l.exp(),
                    logprob: l,
                })
            })
            .collect()
    }

    /// The snapshot recorded at `epoch`, if any.
    pub fn snapshot(&self, epoch: usize) -> Option<&[f64]> {
        self.snapshots
            .iter()
            .find(|(e, _)| *e == epoch)
            .map(|(_, l)| l.as_slice())
    }
}

/// Logits beyond this magnitude count as divergence: f64 keeps no fractional
/// digit there (ulp(1e15) = 0.125), so the softmax is no longer meaningful.
pub const LOGIT_LIMIT: f64 = 1e15;

/// What to keep besides the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// Keep `metrics.csv` rows at the recorded epochs.
    pub metrics: bool,
    /// Keep probability snapshots at the recorded epochs.
    pub snapshots: bool,
}

impl Keep {
    /// Keep everything (`dpo-lab run`).
    pub const ALL: Keep = Keep {
        metrics: true,
        snapshots: true,
    };
}

/// A run's starting point: the fitted reference, which is also `π_θ` at epoch 0.
#[derive(Debug, Clone)]
pub struct Start {
    /// The policy's parameters at the reference (float32 values in f32 mode).
    pub params: Vec<f64>,
    /// `log π_0(a|x)`, row-major `X × Y`, as the loop of the run's precision
    /// computes it.
    pub ref_logp: Vec<f64>,
    /// How closely `π_0` matched its targets.
    pub reference: ReferenceFit,
}

/// Initialises the policy from `spec.seed` and fits the reference (the SFT
/// step). In f32 the fit runs in f64 and its parameters are then rounded.
pub fn prepare(spec: &RunSpec) -> Start {
    let policy = spec.policy.as_ref();
    let targets: Vec<f64> = spec.data.targets.iter().flatten().copied().collect();
    let mut params = policy.init_params(spec.seed);
    let reference = fit_reference(policy, &mut params, &targets, &spec.reference);
    if spec.precision != Precision::F64 {
        round_f32(&mut params);
    }
    let ref_logp = if spec.precision == Precision::F32Native {
        native::log_probs::<f32>(spec, &params)
    } else {
        log_probs_in(policy, &params, spec.precision)
    };
    Start {
        params,
        ref_logp,
        reference,
    }
}

/// Fits the reference, then trains for `spec.epochs` updates.
///
/// Epoch `e` is the state after `e` updates; epoch 0 is the reference. If
/// the loss, a log-probability or a gradient becomes non-finite, or a logit leaves
/// `±`[`LOGIT_LIMIT`], at epoch `e`, training stops there and the summary
/// reports `diverged_epoch = e`; nothing from that state is recorded.
///
/// With `spec.precision` f32, every value stored between operations is
/// rounded to float32 (see [`crate::maths::precision`]); a probability that
/// underflows to exactly 0 there is not divergence (its log-probability is
/// still finite), a logit or log-probability that overflows to infinity is.
pub fn train(spec: &RunSpec, keep: Keep) -> RunResult {
    train_from(spec, prepare(spec), keep)
}

/// Where the loop puts what it records, as it records it. The loop calls
/// [`Recorder::metrics`] and [`Recorder::snapshot`] only for what its
/// [`Keep`] asks for, and only for states that end up in the run (never for
/// the diverged one), in epoch order.
pub trait Recorder {
    /// Why recording failed; the loop stops at once and returns it.
    type Error;

    /// The metrics row of a recorded epoch.
    fn metrics(&mut self, row: MetricsRow) -> Result<(), Self::Error>;

    /// `log π_θ` at a recorded epoch, and the logits the loop fed its softmax
    /// (both row-major `X × Y`).
    fn snapshot(&mut self, epoch: usize, logp: &[f64], logits: Vec<f64>)
        -> Result<(), Self::Error>;

    /// Called after every epoch that is part of the run (for progress).
    #[inline]
    fn epoch_done(&mut self, _epoch: usize) {}
}

/// The recorder behind [`RunResult`]: everything kept in memory.
#[derive(Debug, Default)]
struct InMemory {
    metrics: Vec<MetricsRow>,
    snapshots: Vec<(usize, Vec<f64>)>,
    logit_snapshots: Vec<(usize, Vec<f64>)>,
}

impl Recorder for InMemory {
    type Error = std::convert::Infallible;

    fn metrics(&mut self, row: MetricsRow) -> Result<(), Self::Error> {
        self.metrics.push(row);
        Ok(())
    }

    fn snapshot(
        &mut self,
        epoch: usize,
        logp: &[f64],
        logits: Vec<f64>,
    ) -> Result<(), Self::Error> {
        self.snapshots.push((epoch, logp.to_vec()));
        self.logit_snapshots.push((epoch, logits));
        Ok(())
    }
}

/// Hands an epoch that is part of the run to `rec`: its metrics row and
/// snapshot where the loop kept them, then [`Recorder::epoch_done`].
fn record_epoch<R: Recorder>(
    rec: &mut R,
    epoch: usize,
    logp: &[f64],
    row: Option<MetricsRow>,
    logits: Option<Vec<f64>>,
) -> Result<(), R::Error> {
    if let Some(row) = row {
        rec.metrics(row)?;
    }
    if let Some(z) = logits {
        rec.snapshot(epoch, logp, z)?;
    }
    rec.epoch_done(epoch);
    Ok(())
}

/// What a run ends with besides what it recorded.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The reference's log-probabilities, row-major `X × Y`.
    pub ref_logp: Vec<f64>,
    /// How closely `π_0` matched its targets.
    pub reference: ReferenceFit,
    /// The D-scores and the facts behind them.
    pub summary: Summary,
}

/// Trains from a prepared start (see [`train`]).
pub fn train_from(spec: &RunSpec, start: Start, keep: Keep) -> RunResult {
    let mut mem = InMemory::default();
    let Ok(done) = train_with(spec, start, keep, &mut mem);
    RunResult {
        n_prompts: spec.data.n_prompts,
        n_responses: spec.data.n_responses,
        metrics: mem.metrics,
        snapshots: mem.snapshots,
        logit_snapshots: mem.logit_snapshots,
        ref_logp: done.ref_logp,
        reference: done.reference,
        summary: done.summary,
    }
}

/// Trains from a prepared start (see [`train`]), handing each recorded row
/// and snapshot to `rec` as it is made: the loop itself keeps nothing that
/// grows with the epochs.
pub fn train_with<R: Recorder + Send>(
    spec: &RunSpec,
    start: Start,
    keep: Keep,
    rec: &mut R,
) -> Result<Finished, R::Error>
where
    R::Error: Send,
{
    // A run big enough to be split over the threads (`crate::maths::split`)
    // runs on one of rayon's own threads: a split pass started from outside
    // the pool parks the caller on a lock and wakes it afterwards (~13 µs a
    // pass here, five passes a step), one started from inside it does not.
    let logits = spec.data.n_prompts * spec.data.n_responses;
    if rayon::current_thread_index().is_none() && worth_splitting(logits) {
        return rayon::scope(|_| train_with(spec, start, keep, rec));
    }
    if spec.precision == Precision::F32Native {
        return native::train_native::<f32, R>(spec, start, keep, rec);
    }
    let policy = spec.policy.as_ref();
    // On-policy runs rewrite their pairs as they go; others borrow the spec's.
    let mut sampler = spec.on_policy.map(|o| Sampler::new(o, spec.seed));
    let mut owned = sampler.as_ref().map(|_| spec.data.clone());
    let (x, y) = (spec.data.n_prompts, spec.data.n_responses);
    let Start {
        mut params,
        ref_logp,
        reference,
    } = start;

    let mut opt = Optimizer::new(spec.optimizer, spec.lr, params.len());
    let mut scratch = vec![0.0; policy.scratch_len()];
    let f32 = spec.precision == Precision::F32;
    // A policy whose logits are its parameters is read in place and updated
    // with the logit gradient (in f64): no logit copy, no parameter gradient.
    let in_place = !f32 && policy.logits_are_params();
    let mut logits = vec![0.0; if in_place { 0 } else { x * y }];
    let mut logp = vec![0.0; x * y];
    let mut probs = vec![0.0; x * y];
    let mut dlogits = vec![0.0; x * y];
    let mut grad = vec![0.0; if in_place { 0 } else { params.len() }];
    let mut evals = vec![
        LossEval {
            value: 0.0,
            d_plus: 0.0,
            d_minus: 0.0
        };
        spec.data.pairs.len()
    ];
    let mut tracker = SummaryTracker::default();
    let mut diverged = None;
    // The last update also ran the forward pass of its result.
    let mut ahead = false;

    for epoch in 0..=spec.epochs {
        let z: &[f64] = if in_place {
            &params
        } else {
            if !ahead {
                policy.forward(&params, &mut scratch, &mut logits);
            }
            if f32 {
                round_f32(&mut logits);
                // What the policy keeps for `backward` (the MLP's activations).
                round_f32(&mut scratch);
            }
            &logits
        };
        // Logits within ±LOGIT_LIMIT also make every log-probability finite,
        // `(z - max) - ln s` with 1 ≤ s ≤ Y (in f32 too: |log π| ≤ 2e15), so
        // this one check stands for both.
        if !softmax_rows_within_split(z, y, &mut logp, &mut probs, LOGIT_LIMIT) {
            diverged = Some(epoch);
            break;
        }
        if f32 {
            round_f32(&mut logp);
            // exp of the stored log-probability, stored: exactly 0 below
            // f32's smallest subnormal, as in a float32 softmax.
            for (p, &l) in probs.iter_mut().zip(&logp) {
                *p = to_f32(l.exp());
            }
        }
        if let (Some(s), Some(d)) = (sampler.as_mut(), owned.as_mut()) {
            if s.due(epoch) {
                s.resample(d, &probs);
            }
        }
        let data = owned.as_ref().unwrap_or(&spec.data);
        // `dlogits` is zero here: zeroed when allocated and after each update.
        let state = State {
            data,
            logp: &logp,
            probs: &probs,
            ref_logp: &ref_logp,
        };
        let mut loss = spec.objective.eval(&state, &mut dlogits, &mut evals);
        if f32 {
            loss = to_f32(loss);
            round_f32(&mut dlogits);
            for e in &mut evals {
                (e.value, e.d_plus, e.d_minus) =
                    (to_f32(e.value), to_f32(e.d_plus), to_f32(e.d_minus));
            }
        }
        if !loss.is_finite() {
            diverged = Some(epoch);
            break;
        }
        let core = metrics::core(data, &probs);
        let record = epoch % spec.record_every == 0 || epoch == spec.epochs;
        // Copied before the update: the tabular policy's logits are its
        // parameters, which the update overwrites in place.
        let kept_logits = (record && keep.snapshots).then(|| z.to_vec());
        let row = (record && keep.metrics)
            .then(|| metrics::row(epoch, data, &logp, &ref_logp, &evals, loss, &dlogits, &core));
        // The gradient is checked after the update has used it, in the pass
        // that zeroes it for the next epoch (one pass instead of two; for a
        // policy whose logits are its parameters, the update's own pass). If
        // it was not finite the run stops here, as if before the update: the
        // updated parameters are never read, and nothing of this epoch is kept.
        let finite = if epoch == spec.epochs {
            all_finite_then_zero_split(&mut dlogits)
        } else if f32 {
            policy.backward(&params, &mut scratch, &dlogits, &mut grad);
            round_f32(&mut grad);
            opt.step_f32(&mut params, &grad);
            all_finite_then_zero_split(&mut dlogits)
        } else if in_place {
            opt.step_clearing(&mut params, &mut dlogits)
        } else {
            ahead = policy.backward_step_ahead(
                &mut params,
                &mut scratch,
                &dlogits,
                &mut grad,
                &mut opt,
                &mut logits,
            );
            all_finite_then_zero_split(&mut dlogits)
        };
        if !finite {
            diverged = Some(epoch);
            break;
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
