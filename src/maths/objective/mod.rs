//! What the training loop minimises. An [`Objective`] reads the current
//! log-probabilities and probabilities of every prompt and writes the
//! gradient of the total loss in the logits. Pairwise losses
//! ([`crate::maths::loss::PairLoss`]) become objectives through [`PairObjective`];
//! objectives that are not a sum over preference triples (unpaired labels, a
//! reward model's expected reward) implement the trait directly.
//!
//! Adding such an objective: write `src/maths/objective/NAME.rs` with a type
//! implementing [`Objective`] and a `pub const SPEC: ObjectiveSpec`, and list
//! it in [`OBJECTIVES`]. Config files name it in `loss.name` like a loss.

use crate::error::{Error, Result};
use crate::maths::data::Dataset;
use crate::maths::loss::{self, accumulate_logit_grad, LossEval, PairLoss, ParamSpec, State};
use crate::maths::split::{block_len, worth_splitting};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Debug;

pub mod kto;
pub mod reward_model;

/// Builds an objective from its parameters, the data set and the reduction scale.
pub type BuildObjective = fn(&[f64], &Dataset, f64) -> Result<Box<dyn Objective>>;

/// A whole-data-set objective known by a config name (not a pairwise loss).
pub struct ObjectiveSpec {
    /// The name used in configs (`loss.name`).
    pub name: &'static str,
    /// Its numeric parameters, in the order `build` receives them.
    pub params: &'static [ParamSpec],
    /// Builds the objective from validated parameters, the data set and the
    /// reduction scale (1 for `sum`, 1/pairs for `mean`).
    pub build: BuildObjective,
}

/// Objectives that are not pairwise losses, by config name.
pub const OBJECTIVES: &[&ObjectiveSpec] = &[&kto::SPEC, &reward_model::SPEC];

/// Every name `loss.name` accepts: the pairwise losses of
/// [`loss::LOSSES`], then [`OBJECTIVES`].
pub fn names() -> Vec<&'static str> {
    loss::LOSSES
        .iter()
        .map(|s| s.name)
        .chain(OBJECTIVES.iter().map(|s| s.name))
        .collect()
}

/// The parameter list of the loss or objective called `name`.
pub fn param_specs(name: &str) -> Result<(&'static str, &'static [ParamSpec])> {
    if let Some(s) = loss::LOSSES.iter().find(|s| s.name == name) {
        return Ok((s.name, s.params));
    }
    if let Some(s) = OBJECTIVES.iter().find(|s| s.name == name) {
        return Ok((s.name, s.params));
    }
    Err(Error::config(
        "loss.name",
        format!("unknown loss `{name}`; allowed: {}", names().join(", ")),
    ))
}

/// Builds the objective a config's `[loss]` names: a pairwise loss wrapped in
/// [`PairObjective`], or one of [`OBJECTIVES`].
pub fn build(
    name: &str,
    given: &BTreeMap<String, f64>,
    data: &Dataset,
    scale: f64,
) -> Result<Box<dyn Objective>> {
    let (owner, params) = param_specs(name)?;
    let values = loss::resolve_param_list(owner, params, given)?;
    if let Some(s) = loss::LOSSES.iter().find(|s| s.name == name) {
        return Ok(Box::new(PairObjective {
            loss: (s.build)(&values),
            scale,
        }));
    }
    let spec = OBJECTIVES
        .iter()
        .find(|s| s.name == name)
        .expect("found by param_specs");
    (spec.build)(&values, data, scale)
}

/// A training objective over the whole data set.
pub trait Objective: Send + Sync + Debug {
    /// Returns the total loss and adds its gradient in the logits to `dlogits`
    /// (zeroed by the caller). For the metrics, writes into `pair_grads[i]`
    /// the per-triple value and the partials `∂/∂l+`, `∂/∂l-` of pair `i`
    /// (for objectives that are not pairwise: the partials of the objective
    /// in those two log-probabilities, others held fixed).
    fn eval(&self, s: &State, dlogits: &mut [f64], pair_grads: &mut [LossEval]) -> f64;
}

/// A pairwise loss summed (`scale = 1`) or averaged (`scale = 1/n`) over the pairs.
#[derive(Debug)]
pub struct PairObjective {
    /// The per-triple loss `f(l+, l-)`.
    pub loss: Box<dyn PairLoss>,
    /// The reduction scale: 1 for `sum` (the paper's), 1/pairs for `mean`.
    pub scale: f64,
}

/// [`PairObjective`]'s logit gradient with the rows split over rayon's
/// threads ([`crate::maths::split`]): each row gets its pairs' terms in data
/// order, as the serial loop adds them, so the bits are the same.
fn accumulate_by_rows(s: &State, evals: &[LossEval], scale: f64, dlogits: &mut [f64]) {
    let y = s.data.n_responses;
    let pairs = &s.data.pairs;
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    // Stable: a prompt's pairs stay in data order.
    order.sort_by_key(|&i| pairs[i].prompt);
    let rows = block_len(s.data.n_prompts, 1);
    dlogits
        .par_chunks_mut(rows * y)
        .enumerate()
        .for_each(|(b, block)| {
            let first = b * rows;
            let start = order.partition_point(|&i| pairs[i].prompt < first);
            for &i in &order[start..] {
                let p = pairs[i];
                let r = p.prompt - first;
                if r * y >= block.len() {
                    break;
                }
                let at = p.prompt * y;
                accumulate_logit_grad(
                    &evals[i],
                    p.chosen,
                    p.rejected,
                    &s.probs[at..at + y],
                    scale,
                    &mut block[r * y..(r + 1) * y],
                );
            }
        });
}

impl Objective for PairObjective {
    fn eval(&self, s: &State, dlogits: &mut [f64], pair_grads: &mut [LossEval]) -> f64 {
        let y = s.data.n_responses;
        let mut total = 0.0;
        self.loss.eval_pairs(s, pair_grads);
        if worth_splitting(dlogits.len()) && s.data.n_prompts > 1 {
            for ev in pair_grads.iter() {
                total += self.scale * ev.value;
            }
            accumulate_by_rows(s, pair_grads, self.scale, dlogits);
            return total;
        }
        for (p, ev) in s.data.pairs.iter().zip(pair_grads.iter()) {
            total += self.scale * ev.value;
            let row = p.prompt * y..(p.prompt + 1) * y;
            accumulate_logit_grad(
                ev,
                p.chosen,
                p.rejected,
                &s.probs[row.clone()],
                self.scale,
                &mut dlogits[row],
            );
        }
        total
    }
}
