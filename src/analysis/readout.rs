//! The paper's Figure 2 read-offs (`experiments/paper-readoffs.toml`, embedded
//! at compile time) and the same quantities computed from a run's metrics, so
//! that a run can be scored by its distance to the paper.

use crate::engine::metrics::MetricsRow;
use serde::Deserialize;

/// The read-off table as written in `experiments/paper-readoffs.toml`.
pub const READOFFS_TOML: &str = include_str!("../../experiments/paper-readoffs.toml");

/// What a read-off measures, which sets its tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A probability: tolerance `max(abs_tol, value_rel_tol · value)`.
    Value,
    /// An epoch: tolerance `epoch_rel_tol · value`.
    Epoch,
    /// A log10 magnitude: tolerance 1 (an order of magnitude).
    Log10,
}

/// One read-off of the paper's figure.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readoff {
    /// The quantity, as computed by [`readout`].
    pub key: String,
    /// Human label for tables.
    pub label: String,
    /// What it measures, which sets its tolerance.
    pub kind: Kind,
    /// The value read off the paper.
    pub value: f64,
    /// Whether the calibration distance uses it (default true).
    #[serde(default = "yes")]
    pub scored: bool,
}

fn yes() -> bool {
    true
}

/// The read-offs with their tolerances.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readoffs {
    /// Absolute tolerance floor of a probability read-off (0.05 in the
    /// embedded table).
    pub abs_tol: f64,
    /// Relative tolerance of a probability read-off (0.15 of its value in
    /// the embedded table).
    pub value_rel_tol: f64,
    /// Relative tolerance of an epoch read-off (0.25 of its value in the
    /// embedded table).
    pub epoch_rel_tol: f64,
    /// The read-offs, in the file's order (`[[readoff]]` tables).
    pub readoff: Vec<Readoff>,
}

impl Readoffs {
    /// The embedded table of `experiments/paper-readoffs.toml`.
    pub fn paper() -> Self {
        toml::from_str(READOFFS_TOML).expect("experiments/paper-readoffs.toml parses (tested)")
    }

    /// The tolerance of `r`: an error of this size scores 1.
    pub fn tolerance(&self, r: &Readoff) -> f64 {
        match r.kind {
            Kind::Value => self.abs_tol.max(self.value_rel_tol * r.value),
            Kind::Epoch => self.epoch_rel_tol * r.value,
            Kind::Log10 => 1.0,
        }
    }

    /// `|lab − paper| / tolerance`: at most 1 is within the target.
    pub fn scaled_error(&self, r: &Readoff, lab: f64) -> f64 {
        (lab - r.value).abs() / self.tolerance(r)
    }
}

/// The epoch a run's "end" read-offs refer to (the paper trains 2000 epochs).
pub const PAPER_EPOCHS: usize = 2000;

/// The read-off quantity `key` computed from a run's metrics rows (which
/// must be recorded at every epoch for the epochs to be exact). Returns NaN
/// for an unknown key or a run too short to have it. An event that never
/// happens (the average rejected probability never below 0.01) is censored
/// at the last epoch run plus one.
pub fn readout(metrics: &[MetricsRow], key: &str) -> f64 {
    let Some(last) = metrics.last() else {
        return f64::NAN;
    };
    let at = |epoch: usize| metrics.iter().find(|r| r.epoch == epoch);
    let end = at(PAPER_EPOCHS).unwrap_or(last);
    // The first row attaining the maximum of `f`, as (value, epoch).
    let peak = |f: fn(&MetricsRow) -> f64| {
        metrics.iter().fold((f64::NEG_INFINITY, 0), |best, r| {
            if f(r) > best.0 {
                (f(r), r.epoch)
            } else {
                best
            }
        })
    };
    let unseen_min = metrics.iter().fold((f64::INFINITY, 0), |best, r| {
        if r.avg_unseen < best.0 {
            (r.avg_unseen, r.epoch)
        } else {
            best
        }
    });
    match key {
        "avg_chosen_peak" => peak(|r| r.avg_chosen).0,
        "avg_chosen_peak_epoch" => peak(|r| r.avg_chosen).1 as f64,
        "avg_chosen_end" => end.avg_chosen,
        "min_chosen_peak" => peak(|r| r.min_chosen).0,
        "min_chosen_peak_epoch" => peak(|r| r.min_chosen).1 as f64,
        "min_chosen_end" => end.min_chosen,
        "avg_rejected_below_001_epoch" => metrics
            .iter()
            .find(|r| r.avg_rejected < 0.01)
            .map_or(last.epoch as f64 + 1.0, |r| r.epoch as f64),
        "avg_unseen_min" => unseen_min.0,
        "avg_unseen_min_epoch" => unseen_min.1 as f64,
        "avg_unseen_end" => end.avg_unseen,
        "log10_grad_pi_minus_500" => at(500)
            .and_then(|r| r.log10_grad_pi_minus)
            .unwrap_or(f64::NAN),
        "log10_grad_pi_plus_end" => end.log10_grad_pi_plus.unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_readoffs_parse_and_every_key_is_computed() {
        let r = Readoffs::paper();
        assert_eq!(r.readoff.len(), 12);
        let rows: Vec<MetricsRow> = (0..=2000)
            .map(|e| MetricsRow {
                epoch: e,
                avg_chosen: 0.1 + 0.001 * (e.min(400) as f64),
                min_chosen: 0.05,
                avg_rejected: 0.12 / (1.0 + e as f64),
                avg_unseen: 0.09 - 0.00001 * (e.min(700) as f64),
                log10_grad_pi_minus: Some(e as f64 / 10.0),
                log10_grad_pi_plus: Some(-(e as f64) / 1000.0),
                ..Default::default()
            })
            .collect();
        for k in &r.readoff {
            assert!(readout(&rows, &k.key).is_finite(), "{}", k.key);
        }
        assert_eq!(readout(&rows, "avg_chosen_peak_epoch"), 400.0);
        assert!((readout(&rows, "avg_chosen_peak") - 0.5).abs() < 1e-12);
        // First epoch with 0.12 / (1 + e) < 0.01 is e = 12.
        assert_eq!(readout(&rows, "avg_rejected_below_001_epoch"), 12.0);
        assert_eq!(readout(&rows, "avg_unseen_min_epoch"), 700.0);
        assert_eq!(readout(&rows, "log10_grad_pi_minus_500"), 50.0);
        assert_eq!(readout(&rows, "min_chosen_peak_epoch"), 0.0);
        assert!(readout(&rows, "no such key").is_nan());
    }

    #[test]
    fn tolerances_follow_the_file() {
        let r = Readoffs::paper();
        let find = |k: &str| r.readoff.iter().find(|x| x.key == k).unwrap().clone();
        // 0.15 * 0.58 = 0.087 > 0.05; 0.15 * 0.16 = 0.024 < 0.05; 0.25 * 1000.
        assert!((r.tolerance(&find("avg_chosen_peak")) - 0.087).abs() < 1e-12);
        assert_eq!(r.tolerance(&find("min_chosen_end")), 0.05);
        assert_eq!(r.tolerance(&find("avg_chosen_peak_epoch")), 250.0);
        assert_eq!(r.scaled_error(&find("avg_chosen_peak_epoch"), 1500.0), 2.0);
        assert!(!find("log10_grad_pi_plus_end").scored);
    }
}
