//! Figures 2 and 3 over seeds: the paper's curves as a median and a p10–p90
//! band over a seed set, with the config's own seed kept as a reference run.
//!
//! [`curve_bands`] trains each config once with its own seed and once per
//! seed of the seed set (in parallel, one job per config and seed) and
//! returns, for every curve of the paper's Figure 2 panels, the type-7
//! quantiles over the seed set at every recorded epoch ([`CurveBands`]).
//! A seed whose run diverged contributes nothing after its last finite epoch
//! (the quantiles ignore missing values); such seeds are listed in
//! [`CurveBands::diverged`].
//!
//! Log-scale curves are quantiles of log-probabilities (the `logp_*` fields
//! of the metrics, in log10), not logs of probability quantiles, so that a
//! probability that underflows to 0 keeps a finite, plottable value. The
//! strict unseen mass (responses in no pair) has no log field in the
//! metrics; its log10 is computed here from each epoch's log-probabilities
//! (a log-mean-exp), so it too stays finite where the probability underflows.
//!
//! [`readoff_points`] turns the paper's read-off table
//! ([`Readoffs::paper`]) into points (curve, epoch, value) that a figure can
//! draw over the bands.

use crate::analysis::readout::{Readoffs, PAPER_EPOCHS};
use crate::analysis::stats::Quantiles;
use crate::engine::metrics::MetricsRow;
use crate::engine::train::{train, Keep, RunResult};
use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::maths::data::Dataset;
use crate::maths::numerics::log_mean_exp;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::f64::consts::LN_10;

/// Key of the log10 strict unseen mass, computed from log-probabilities.
pub const LOG10_AVG_UNSEEN_STRICT: &str = "log10_avg_unseen_strict";

/// Reads one curve's value (in plotted units) from a metrics row.
type RowValue = fn(&MetricsRow) -> f64;

/// The curves read from each metrics row, by key: the probabilities of the
/// linear panel, their log10 (from the logs, never from the probabilities),
/// and the log10 gradient magnitudes. A missing value is NaN.
const FROM_ROW: [(&str, RowValue); 13] = [
    ("avg_chosen", |r| r.avg_chosen),
    ("min_chosen", |r| r.min_chosen),
    ("avg_rejected", |r| r.avg_rejected),
    ("max_rejected", |r| r.max_rejected),
    ("avg_unseen", |r| r.avg_unseen),
    ("avg_unseen_strict", |r| {
        r.avg_unseen_strict.unwrap_or(f64::NAN)
    }),
    ("log10_avg_chosen", |r| r.logp_avg_chosen / LN_10),
    ("log10_min_chosen", |r| r.logp_min_chosen / LN_10),
    ("log10_avg_rejected", |r| r.logp_avg_rejected / LN_10),
    ("log10_max_rejected", |r| r.logp_max_rejected / LN_10),
    ("log10_avg_unseen", |r| r.logp_avg_unseen / LN_10),
    ("log10_grad_pi_plus", |r| {
        r.log10_grad_pi_plus.unwrap_or(f64::NAN)
    }),
    ("log10_grad_pi_minus", |r| {
        r.log10_grad_pi_minus.unwrap_or(f64::NAN)
    }),
];

/// A curve over seeds: at each epoch, the 10th percentile, the median and
/// the 90th percentile over the seeds that have a value there, and how many
/// do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BandSeries {
    /// 10th percentile per epoch (NaN where no seed has a value).
    pub p10: Vec<f64>,
    /// Median per epoch.
    pub median: Vec<f64>,
    /// 90th percentile per epoch.
    pub p90: Vec<f64>,
    /// Number of seeds with a value per epoch.
    pub n: Vec<usize>,
}

/// The curves of one config over a seed set: what Figures 2 and 3 draw.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveBands {
    /// The config as given, with its own seed (for titles).
    pub config: Config,
    /// The seed set the bands are taken over.
    pub seeds: Vec<u64>,
    /// The recorded epochs; every vector below is indexed like this one.
    pub epochs: Vec<usize>,
    /// Quantiles over `seeds` per curve key (see the module documentation
    /// for the keys; `log10_*` curves are in log10 units).
    pub curves: BTreeMap<&'static str, BandSeries>,
    /// The same curves for the config's own seed (`config.seed`, 0 in the
    /// paper configs), NaN after a divergence.
    pub seed0: BTreeMap<&'static str, Vec<f64>>,
    /// `(seed, epoch)` of every run of the seed set that diverged.
    pub diverged: Vec<(u64, usize)>,
}

impl CurveBands {
    /// The last recorded epoch (0 when nothing was recorded).
    pub fn last_epoch(&self) -> usize {
        self.epochs.last().copied().unwrap_or(0)
    }
}

/// One run's curves: per key, `(epoch, value)` at its recorded epochs.
struct RunCurves {
    values: BTreeMap<&'static str, BTreeMap<usize, f64>>,
    diverged: Option<usize>,
}

/// Responses that appear in no pair (empty when every response is in one).
fn strict_responses(data: &Dataset) -> Vec<usize> {
    let seen = data.seen_anywhere();
    (0..data.n_responses).filter(|&a| !seen[a]).collect()
}

/// log10 of the strict unseen mass of one state: the mean over the prompts
/// that have pairs of the mean probability of the `strict` responses, as the
/// metrics' `avg_unseen_strict` defines it. Every prompt has the same number
/// of strict responses, so this is one log-mean-exp over all of them.
fn log10_strict(data: &Dataset, strict: &[usize], logp: &[f64]) -> f64 {
    let y = data.n_responses;
    let prompts: BTreeSet<usize> = data.pairs.iter().map(|p| p.prompt).collect();
    let logs: Vec<f64> = prompts
        .iter()
        .flat_map(|&x| strict.iter().map(move |&a| logp[x * y + a]))
        .collect();
    log_mean_exp(&logs) / LN_10
}

/// The curves of a finished run (it must have kept metrics and snapshots).
fn extract(data: &Dataset, r: &RunResult) -> RunCurves {
    // A log of an underflowed value is -inf: off any scale, so missing.
    let finite = |v: f64| if v.is_finite() { v } else { f64::NAN };
    let mut values: BTreeMap<&'static str, BTreeMap<usize, f64>> = FROM_ROW
        .iter()
        .map(|&(k, f)| {
            (
                k,
                r.metrics.iter().map(|m| (m.epoch, finite(f(m)))).collect(),
            )
        })
        .collect();
    let strict = strict_responses(data);
    if !strict.is_empty() {
        let curve = r
            .snapshots
            .iter()
            .map(|(e, logp)| (*e, finite(log10_strict(data, &strict, logp))))
            .collect();
        values.insert(LOG10_AVG_UNSEEN_STRICT, curve);
    }
    RunCurves {
        values,
        diverged: r.summary.diverged_epoch,
    }
}

/// Trains `config` with `seed`, keeping what the curves need.
fn run_curves(config: &Config, seed: u64) -> Result<RunCurves> {
    let mut c = config.clone();
    c.seed = seed;
    let spec = c.build()?;
    let result = train(&spec, Keep::ALL);
    Ok(extract(&spec.data, &result))
}

/// The facts of one config from its own run and the runs of the seed set.
fn assemble(config: &Config, seeds: &[u64], own: RunCurves, runs: Vec<RunCurves>) -> CurveBands {
    let epochs: Vec<usize> = runs
        .iter()
        .chain(std::iter::once(&own))
        .flat_map(|r| r.values.values().flat_map(|c| c.keys().copied()))
        .collect::<BTreeSet<usize>>()
        .into_iter()
        .collect();
    let along = |c: Option<&BTreeMap<usize, f64>>| -> Vec<f64> {
        epochs
            .iter()
            .map(|e| c.and_then(|c| c.get(e)).copied().unwrap_or(f64::NAN))
            .collect()
    };
    let keys: BTreeSet<&'static str> = runs
        .iter()
        .chain(std::iter::once(&own))
        .flat_map(|r| r.values.keys().copied())
        .collect();
    let mut curves = BTreeMap::new();
    let mut seed0 = BTreeMap::new();
    for k in keys {
        let per_run: Vec<Vec<f64>> = runs.iter().map(|r| along(r.values.get(k))).collect();
        let mut band = BandSeries::default();
        for i in 0..epochs.len() {
            let at: Vec<f64> = per_run.iter().map(|v| v[i]).collect();
            let q = Quantiles::of(&at);
            band.p10.push(q.p10);
            band.median.push(q.median);
            band.p90.push(q.p90);
            band.n.push(q.n);
        }
        let own_curve = along(own.values.get(k));
        // A curve no run has (the strict unseen mass when every response is
        // in some pair) is left out rather than drawn empty.
        if band.n.iter().any(|&n| n > 0) || own_curve.iter().any(|v| !v.is_nan()) {
            curves.insert(k, band);
            seed0.insert(k, own_curve);
        }
    }
    let diverged = seeds
        .iter()
        .zip(&runs)
        .filter_map(|(s, r)| r.diverged.map(|e| (*s, e)))
        .collect();
    CurveBands {
        config: config.clone(),
        seeds: seeds.to_vec(),
        epochs,
        curves,
        seed0,
        diverged,
    }
}

/// For each config (resolved; its own `seed` is the reference run), the
/// median and p10–p90 band of every Figure 2 curve over `seeds`, training
/// every (config, seed) in parallel. Fails on an empty seed set or an
/// invalid config.
pub fn curve_bands(configs: &[Config], seeds: &[u64]) -> Result<Vec<CurveBands>> {
    if seeds.is_empty() {
        return Err(Error::config(
            "seeds",
            "is empty; the bands need at least one seed",
        ));
    }
    // Slot 0 of each config is its own seed, then the seed set.
    let slots = seeds.len() + 1;
    let jobs: Vec<(usize, u64)> = configs
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            std::iter::once(c.seed)
                .chain(seeds.iter().copied())
                .map(move |s| (i, s))
        })
        .collect();
    let mut done = jobs
        .par_iter()
        .map(|&(i, s)| run_curves(&configs[i], s))
        .collect::<Result<Vec<RunCurves>>>()?
        .into_iter();
    let mut out = Vec::with_capacity(configs.len());
    for c in configs {
        let mut mine: Vec<RunCurves> = done.by_ref().take(slots).collect();
        let runs = mine.split_off(1);
        let own = mine
            .pop()
            .ok_or_else(|| Error::config("seed", "no run for the config's own seed"))?;
        out.push(assemble(c, seeds, own, runs));
    }
    Ok(out)
}

/// A read-off of the paper's Figure 2 as a point on one of the curves.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadoffPoint {
    /// The curve key it belongs to (a key of [`CurveBands::curves`]).
    pub curve: &'static str,
    /// The epoch.
    pub epoch: f64,
    /// The value, in the curve's units (log10 for `log10_*` curves).
    pub value: f64,
}

/// Where a coordinate of a read-off point comes from.
#[derive(Debug, Clone, Copy)]
enum At {
    /// The value of a read-off key.
    Key(&'static str),
    /// A fixed number the key's meaning names (an epoch, a threshold).
    Fixed(f64),
}

/// The read-offs as points: (curve, epoch, value). Each entry pairs a value
/// key with its epoch key, or with the epoch or threshold its name states.
const POINTS: [(&str, At, At); 9] = [
    (
        "avg_chosen",
        At::Key("avg_chosen_peak_epoch"),
        At::Key("avg_chosen_peak"),
    ),
    (
        "avg_chosen",
        At::Fixed(PAPER_EPOCHS as f64),
        At::Key("avg_chosen_end"),
    ),
    (
        "min_chosen",
        At::Key("min_chosen_peak_epoch"),
        At::Key("min_chosen_peak"),
    ),
    (
        "min_chosen",
        At::Fixed(PAPER_EPOCHS as f64),
        At::Key("min_chosen_end"),
    ),
    // "below_001": the first epoch the average rejected is under 0.01.
    (
        "avg_rejected",
        At::Key("avg_rejected_below_001_epoch"),
        At::Fixed(0.01),
    ),
    (
        "avg_unseen",
        At::Key("avg_unseen_min_epoch"),
        At::Key("avg_unseen_min"),
    ),
    (
        "avg_unseen",
        At::Fixed(PAPER_EPOCHS as f64),
        At::Key("avg_unseen_end"),
    ),
    (
        "log10_grad_pi_minus",
        At::Fixed(500.0),
        At::Key("log10_grad_pi_minus_500"),
    ),
    (
        "log10_grad_pi_plus",
        At::Fixed(PAPER_EPOCHS as f64),
        At::Key("log10_grad_pi_plus_end"),
    ),
];

/// The paper's read-offs of `r` as points on the curves; a point whose key
/// the table lacks is left out.
pub fn readoff_points(r: &Readoffs) -> Vec<ReadoffPoint> {
    let get = |at: At| match at {
        At::Fixed(v) => Some(v),
        At::Key(k) => r.readoff.iter().find(|x| x.key == k).map(|x| x.value),
    };
    POINTS
        .iter()
        .filter_map(|&(curve, x, y)| {
            Some(ReadoffPoint {
                curve,
                epoch: get(x)?,
                value: get(y)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_readoff_is_placed_on_a_curve() {
        let r = Readoffs::paper();
        for x in &r.readoff {
            let placed = POINTS.iter().any(|&(_, a, b)| {
                [a, b]
                    .iter()
                    .any(|at| matches!(at, At::Key(k) if *k == x.key))
            });
            assert!(placed, "{} not placed", x.key);
        }
        let pts = readoff_points(&r);
        assert_eq!(pts.len(), POINTS.len());
        let peak = pts
            .iter()
            .find(|p| p.curve == "avg_chosen" && p.value == 0.58)
            .unwrap();
        assert_eq!(peak.epoch, 1000.0);
        let rej = pts.iter().find(|p| p.curve == "avg_rejected").unwrap();
        assert_eq!((rej.epoch, rej.value), (475.0, 0.01));
    }

    /// Bands of a short MLP run over three seeds: every curve present,
    /// p10 ≤ median ≤ p90, the strict unseen log matching the metrics' value.
    #[test]
    fn bands_are_ordered_and_the_strict_log_matches() {
        let text = r#"
seed = 0
epochs = 30
[policy]
kind = "mlp"
width = 8
activation = "relu"
init_scale = 2.449489742783178
[data]
scenario = "scenario1"
[loss]
name = "dpo"
beta = 0.1
[optimizer]
name = "adam"
lr = 0.01
"#;
        let cfg = Config::from_toml_str(text).unwrap().resolved().unwrap();
        let bands = curve_bands(std::slice::from_ref(&cfg), &[3, 4, 5]).unwrap();
        let b = &bands[0];
        assert_eq!(b.epochs, (0..=30).collect::<Vec<_>>());
        assert_eq!(b.curves.len(), FROM_ROW.len() + 1);
        for (k, s) in &b.curves {
            for i in 0..b.epochs.len() {
                assert_eq!(s.n[i], 3, "{k}");
                assert!(s.p10[i] <= s.median[i] && s.median[i] <= s.p90[i], "{k}");
            }
        }
        // The own seed's strict log agrees with the metrics' probability.
        let lin = &b.seed0["avg_unseen_strict"];
        let log = &b.seed0[LOG10_AVG_UNSEEN_STRICT];
        for (p, l) in lin.iter().zip(log) {
            assert!((p.log10() - l).abs() < 1e-9, "{p} vs {l}");
        }
        assert!(curve_bands(&[cfg], &[]).is_err());
    }
}
