//! The DPO gradient field of one preference pair in the `(π+, π-)` plane:
//! the paper's free-variable field next to the field the softmax produces.
//!
//! # State
//!
//! One DPO pair with temperature `β` and reference probabilities `π0+`,
//! `π0-` is described by the point `(π+, π-)`, `π+, π- > 0`,
//! `π+ + π- < 1` (the rest of the prompt's mass sits on the other responses).
//! With `Δ = ln(π+/π0+) − ln(π-/π0-)` the loss is `ℓ = −ln σ(βΔ)` and every
//! gradient below carries the same scalar weight
//!
//! ```text
//! w(π+, π-) = β σ(−βΔ)            (∈ (0, β))
//! ```
//!
//! # The paper's field (free variables)
//!
//! Treating `π+` and `π-` as free variables (Yan et al., section 3.1),
//!
//! ```text
//! ∂ℓ/∂π+ = −w / π+,   ∂ℓ/∂π- = +w / π-
//! ```
//!
//! (this is the paper's `αβ z^(β−1) (−π-/π+²) / (1 + α z^β)` and its
//! partner, rewritten). Gradient descent in probability space moves the
//! state along `v_paper = −∇ℓ = (w/π+, −w/π-)`. Corollary 1 is the ratio of
//! the components, `−π+/π-`; Corollary 2 is its limit: as `π- → 0`, `Δ → ∞`
//! and `w ≈ β α (π-/π+)^β → 0` with `α = (π0+/π0-)^β`, but only like
//! `π-^β`, so for `β < 1` the rejected component `w/π- ≈ αβ π+^(−β) π-^(β−1)`
//! diverges while the chosen one `w/π+` vanishes: the rejected side is
//! predicted to move infinitely fast exactly when it is already nearly gone.
//!
//! # The softmax field (what a tabular softmax does)
//!
//! A tabular softmax policy has one free logit per response. One step of
//! gradient descent on the logits with learning rate `η` (only the pair's
//! two logits have a non-zero gradient; the other logits are untouched)
//! changes them by
//!
//! ```text
//! ds+ = c,   ds- = −c,   c = η w
//! ```
//!
//! and, to first order, the softmax turns a logit change `ds` into
//! `dπ_a = π_a (ds_a − Σ_b π_b ds_b)`, so
//!
//! ```text
//! dπ+ = +c π+ (1 − π+ + π-)
//! dπ- = −c π- (1 + π+ − π-)
//! ```
//!
//! The field per unit learning rate, `v_softmax = (dπ+, dπ-)/η`, is bounded
//! (`|v_softmax| < 2β`) and its rejected component vanishes as `π- → 0`
//! (like `w π- ~ π-^(1+β)`): the rejected side slows down where the paper's
//! field blows up. More generally, for any softmax policy the relative
//! change `dπ-/π- = ds- − Σ_b π_b ds_b` is bounded by the logit step, so
//! `|dπ-|` is at most proportional to `π-`.
//! In matrix form `v_softmax = J² v_paper` with the softmax Jacobian
//! `J = diag(π) − π πᵀ`: the logit step is `J v_paper`, and `J` applied once
//! more maps it to probabilities. `J`'s entries are `O(π)`, which cancels the
//! `1/π` of the free-variable gradient (the paper's own remark that in logit
//! space both gradients have the same scale, `±w`).
//!
//! Both fields are the scalar `w` times a direction that depends only on the
//! point, so their directions, and the ratio of their magnitudes
//! ([`magnitude_ratio`]), do not depend on `β` or on the reference.
//!
//! Everything here but [`run`] is a pure function. [`run`] trains the runs
//! whose trajectories the figure draws and returns every number of the
//! figure's paragraph ([`FieldFacts`]); [`crate::present::plots::field`]
//! draws and describes them.

use crate::engine::train::{train, Keep};
use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::maths::numerics::sigmoid;
use crate::studies::facts::{write_facts, RunSetting};
use serde::Serialize;
use std::f64::consts::LN_10;
use std::path::Path;

/// One DPO pair: temperature and reference probabilities of the chosen and
/// the rejected response.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairField {
    /// DPO's β.
    pub beta: f64,
    /// `π0(a+|x)`.
    pub ref_plus: f64,
    /// `π0(a-|x)`.
    pub ref_minus: f64,
}

impl PairField {
    /// A pair with temperature `beta` and references `ref_plus`, `ref_minus`.
    pub fn new(beta: f64, ref_plus: f64, ref_minus: f64) -> Self {
        PairField {
            beta,
            ref_plus,
            ref_minus,
        }
    }

    /// `Δ = ln(π+/π0+) − ln(π-/π0-)`.
    pub fn delta(&self, p: f64, m: f64) -> f64 {
        (p / self.ref_plus).ln() - (m / self.ref_minus).ln()
    }

    /// `Δ` from log-probabilities (exact when `π-` underflows `f64`).
    pub fn delta_log(&self, logp: f64, logm: f64) -> f64 {
        (logp - self.ref_plus.ln()) - (logm - self.ref_minus.ln())
    }

    /// The DPO loss `−ln σ(βΔ)` at `(π+, π-)`.
    pub fn loss(&self, p: f64, m: f64) -> f64 {
        -crate::maths::numerics::log_sigmoid(self.beta * self.delta(p, m))
    }

    /// The common weight `w = β σ(−βΔ)` of every gradient of this pair.
    pub fn weight(&self, p: f64, m: f64) -> f64 {
        self.weight_log(p.ln(), m.ln())
    }

    /// [`Self::weight`] from log-probabilities.
    pub fn weight_log(&self, logp: f64, logm: f64) -> f64 {
        self.beta * sigmoid(-self.beta * self.delta_log(logp, logm))
    }

    /// The paper's free-variable gradient `(∂ℓ/∂π+, ∂ℓ/∂π-) = (−w/π+, w/π-)`.
    pub fn grad(&self, p: f64, m: f64) -> [f64; 2] {
        let w = self.weight(p, m);
        [-w / p, w / m]
    }

    /// The paper's field: gradient descent in probability space,
    /// `v = −∇ℓ = (w/π+, −w/π-)`.
    pub fn paper(&self, p: f64, m: f64) -> [f64; 2] {
        let w = self.weight(p, m);
        [w / p, -w / m]
    }

    /// The softmax field per unit learning rate: the first-order change of
    /// `(π+, π-)` per unit `η` under one gradient step on tabular logits,
    /// `(w π+ (1 − π+ + π-), −w π- (1 + π+ − π-))`.
    pub fn softmax(&self, p: f64, m: f64) -> [f64; 2] {
        let w = self.weight(p, m);
        [w * p * (1.0 - p + m), -w * m * (1.0 + p - m)]
    }

    /// The logit change `(ds+, ds-) = (η w, −η w)` of one gradient step with
    /// learning rate `lr` on tabular logits.
    pub fn logit_step(&self, p: f64, m: f64, lr: f64) -> [f64; 2] {
        let c = lr * self.weight(p, m);
        [c, -c]
    }
}

/// The exact (not linearised) `(π+, π-)` after adding `ds+` to the chosen
/// logit and `ds-` to the rejected one, the other logits untouched:
/// `π+' = π+ e^{ds+} / Z`, `π-' = π- e^{ds-} / Z`,
/// `Z = 1 − π+ − π- + π+ e^{ds+} + π- e^{ds-}`.
pub fn softmax_shift(p: f64, m: f64, ds: [f64; 2]) -> [f64; 2] {
    let (ep, em) = (p * ds[0].exp(), m * ds[1].exp());
    let z = (1.0 - p - m) + ep + em;
    [ep / z, em / z]
}

/// `|v_paper| / |v_softmax|` at `(π+, π-)`: the weight `w` cancels, so the
/// ratio depends on the point only (the softmax field taken per unit
/// learning rate). It grows like `1 / (π+ π- (1 − π+))` as `π- → 0`.
pub fn magnitude_ratio(p: f64, m: f64) -> f64 {
    let paper = (1.0 / p).hypot(1.0 / m);
    let soft = (p * (1.0 - p + m)).hypot(m * (1.0 + p - m));
    paper / soft
}

/// Euclidean length of a 2-vector.
pub fn norm(v: [f64; 2]) -> f64 {
    v[0].hypot(v[1])
}

/// The angle between two 2-vectors in degrees, in `[0, 180]`; `NaN` when
/// either is zero or not finite.
pub fn angle_deg(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (na, nb) = (norm(a), norm(b));
    if !(na > 0.0 && nb > 0.0 && na.is_finite() && nb.is_finite()) {
        return f64::NAN;
    }
    // atan2 of (cross, dot) is accurate at small and at near-180° angles,
    // where acos of the normalised dot product is not.
    let (ua, ub) = ([a[0] / na, a[1] / na], [b[0] / nb, b[1] / nb]);
    let cross = ua[0] * ub[1] - ua[1] * ub[0];
    let dot = ua[0] * ub[0] + ua[1] * ub[1];
    cross.abs().atan2(dot).to_degrees()
}

/// One point of a trajectory, kept in log space so that `π-` far below the
/// smallest `f64` (`e^{-800}`, say) still has a direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LogPoint {
    /// The epoch.
    pub epoch: usize,
    /// `ln π+`.
    pub logp: f64,
    /// `ln π-`.
    pub logm: f64,
}

impl LogPoint {
    /// `(π+, π-)`.
    pub fn probs(&self) -> [f64; 2] {
        [self.logp.exp(), self.logm.exp()]
    }
}

/// The pair's trajectory `(ln π+, ln π-)` over a run's snapshots
/// (`(epoch, log π)` row-major `X × Y`, as in
/// [`crate::engine::train::RunResult::snapshots`]).
pub fn trajectory(
    snapshots: &[(usize, Vec<f64>)],
    n_responses: usize,
    pair: crate::maths::data::Pair,
) -> Vec<LogPoint> {
    snapshots
        .iter()
        .map(|(epoch, logp)| LogPoint {
            epoch: *epoch,
            logp: logp[pair.prompt * n_responses + pair.chosen],
            logm: logp[pair.prompt * n_responses + pair.rejected],
        })
        .collect()
}

/// The displacement `(Δπ+, Δπ-)` from `a` to `b`, computed as
/// `π · expm1(Δ ln π)` so a step of a tiny `π-` keeps its relative precision.
pub fn step(a: &LogPoint, b: &LogPoint) -> [f64; 2] {
    [
        a.logp.exp() * (b.logp - a.logp).exp_m1(),
        a.logm.exp() * (b.logm - a.logm).exp_m1(),
    ]
}

/// How often a trajectory's steps point along a field.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Alignment {
    /// Steps with a defined angle (non-zero displacement and field).
    pub steps: usize,
    /// Of those, steps within the tolerance of the softmax field.
    pub softmax: usize,
    /// Of those, steps within the tolerance of the paper's field.
    pub paper: usize,
    /// Steps within the tolerance of the softmax field's line, either sense
    /// (angle `≤ tol` or `≥ 180° − tol`).
    pub softmax_line: usize,
    /// Steps within the tolerance of the paper's field line, either sense.
    pub paper_line: usize,
}

impl Alignment {
    fn frac(&self, n: usize) -> f64 {
        n as f64 / self.steps.max(1) as f64
    }
    /// Fraction of steps aligned with the softmax field.
    pub fn softmax_frac(&self) -> f64 {
        self.frac(self.softmax)
    }
    /// Fraction of steps aligned with the paper's field.
    pub fn paper_frac(&self) -> f64 {
        self.frac(self.paper)
    }
    /// Fraction of steps along the softmax field's line, either sense.
    pub fn softmax_line_frac(&self) -> f64 {
        self.frac(self.softmax_line)
    }
    /// Fraction of steps along the paper's field line, either sense.
    pub fn paper_line_frac(&self) -> f64 {
        self.frac(self.paper_line)
    }
}

/// Counts the steps of `traj` whose displacement `(Δπ+, Δπ-)` lies within
/// `tol_deg` degrees of each field evaluated at the step's start, in the
/// `(π+, π-)` plane. Only directions matter, so the learning rate and the
/// optimiser's step size drop out. Directions at a point with `π-` below
/// the `f64` range come from the log-space forms (the weight `w` cancels).
pub fn alignment(traj: &[LogPoint], tol_deg: f64) -> Alignment {
    let mut a = Alignment::default();
    for w in traj.windows(2) {
        let d = step(&w[0], &w[1]);
        let (soft, paper) = directions(&w[0]);
        let (as_, ap) = (angle_deg(d, soft), angle_deg(d, paper));
        if as_.is_nan() || ap.is_nan() {
            continue;
        }
        a.steps += 1;
        a.softmax += usize::from(as_ <= tol_deg);
        a.paper += usize::from(ap <= tol_deg);
        a.softmax_line += usize::from(as_ <= tol_deg || as_ >= 180.0 - tol_deg);
        a.paper_line += usize::from(ap <= tol_deg || ap >= 180.0 - tol_deg);
    }
    a
}

/// The largest per-step relative change of the rejected probability,
/// `max |Δ ln π-|`, over `traj`. Under any softmax policy it is bounded by
/// twice the largest logit change; the paper's field would make it grow
/// without bound as `π-` shrinks.
pub fn max_rejected_log_step(traj: &[LogPoint]) -> f64 {
    traj.windows(2)
        .map(|w| (w[1].logm - w[0].logm).abs())
        .fold(0.0, f64::max)
}

/// Unit-free directions of the softmax and of the paper's field at `pt`
/// (both fields divided by `w`, and the paper's additionally multiplied by
/// `π-` so it stays finite when `π-` underflows).
fn directions(pt: &LogPoint) -> ([f64; 2], [f64; 2]) {
    let [p, m] = pt.probs();
    let soft = [p * (1.0 - p + m), -m * (1.0 + p - m)];
    // (1/π+, −1/π-) · π- = (π-/π+, −1).
    let paper = [(pt.logm - pt.logp).exp(), -1.0];
    (soft, paper)
}

/// Cell centres of an `n × n` grid over the unit square that lie strictly
/// inside the triangle `π+ + π- < 1`, as `(π+, π-)`.
pub fn triangle_grid(n: usize) -> Vec<[f64; 2]> {
    let h = 1.0 / n as f64;
    let mut out = Vec::new();
    for j in 0..n {
        for i in 0..n {
            let (p, m) = ((i as f64 + 0.5) * h, (j as f64 + 0.5) * h);
            if p + m < 1.0 {
                out.push([p, m]);
            }
        }
    }
    out
}

/// The runs of the gradient-field figure, pair 0 (prompt 0, responses
/// 0 ≻ 4) of each: `(config file in experiments/, name in the text)`.
pub const TRACKS: [(&str, &str); 3] = [
    ("fig2-tabular.toml", "tabular Adam"),
    ("tabular-dpo-sgd.toml", "tabular SGD"),
    ("fig2.toml", "MLP Adam"),
];

/// Tolerance, in degrees, of "a step points along a field".
pub const TOL_DEG: f64 = 10.0;

/// Where a trajectory ends, and how far apart the two fields are there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrackEnd {
    /// Its last epoch.
    pub epoch: usize,
    /// `π+` and `log10 π−` (which may lie below the `f64` range).
    pub p: f64,
    /// `log10 π−`.
    pub log10_m: f64,
    /// `log10(|v_paper| / |v_softmax|)`.
    pub log10_ratio: f64,
}

/// One run's trajectory of pair 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Track {
    /// Its config file (in `experiments/`) and its name in the text.
    pub file: String,
    /// Its name in the text.
    pub name: String,
    /// Its config's setting.
    pub setting: RunSetting,
    /// The pair's field with this run's β and reference.
    pub field: PairField,
    /// `(ln π+, ln π-)` at every recorded epoch.
    pub points: Vec<LogPoint>,
    /// Step directions against the two fields, at [`TOL_DEG`].
    pub align: Alignment,
    /// Where the trajectory ends.
    pub end: TrackEnd,
}

/// How the MLP run moves through the plane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MlpPath {
    /// `π+` at the first and last epoch.
    pub p_start: f64,
    /// `π+` at the last epoch.
    pub p_end: f64,
    /// Fractions of its steps along either field's line (either sense).
    pub softmax_line_frac: f64,
    /// Fraction of steps along the paper's field line.
    pub paper_line_frac: f64,
    /// Median over the path of `log10(π+/π−)` (Corollary 1's demanded
    /// `|Δπ−/Δπ+|`).
    pub median_log10_ratio: f64,
    /// `π−` at the first epoch and `log10 π−` at the last.
    pub m_start: f64,
    /// `log10 π−` at the last epoch.
    pub log10_m_end: f64,
    /// `|Δπ−|` of its first and last step.
    pub step_start: f64,
    /// `|Δπ−|` of the last step.
    pub step_end: f64,
    /// [`max_rejected_log_step`].
    pub max_log_step: f64,
    /// `log10` of the paper's `|∂ℓ/∂π−| = w/π−` at the first and last epoch.
    pub log10_paper_minus_start: f64,
    /// `log10 |∂ℓ/∂π−|` at the last epoch.
    pub log10_paper_minus_end: f64,
}

/// The gradient-field study: the trajectories and what they show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldFacts {
    /// [`TOL_DEG`].
    pub tol_deg: f64,
    /// In [`TRACKS`] order.
    pub tracks: Vec<Track>,
    /// The first MLP run's path.
    pub mlp: Option<MlpPath>,
    /// The largest angle between a step of the tabular SGD run and the
    /// softmax field, in degrees.
    pub sgd_max_deviation: Option<f64>,
}

/// Runs `experiments_dir/file` and extracts its first pair's trajectory.
pub fn run_track(experiments_dir: &Path, file: &str, name: &str) -> Result<Track> {
    let path = experiments_dir.join(file);
    let cfg = Config::load(&path)?.resolved()?;
    let spec = cfg.build()?;
    let pair = *spec
        .data
        .pairs
        .first()
        .ok_or_else(|| Error::config(path.display().to_string(), "has no preference pair"))?;
    let beta = match (cfg.loss.name.as_str(), cfg.loss.params.get("beta")) {
        ("dpo", Some(b)) => *b,
        _ => {
            return Err(Error::config(
                path.display().to_string(),
                "the gradient-field figure needs a DPO run (loss.name = \"dpo\")",
            ))
        }
    };
    let result = train(
        &spec,
        Keep {
            metrics: false,
            snapshots: true,
        },
    );
    if let Some(e) = result.summary.diverged_epoch {
        return Err(Error::io(&path, format!("run diverged at epoch {e}")));
    }
    let y = result.n_responses;
    let field = PairField::new(
        beta,
        result.ref_logp[pair.prompt * y + pair.chosen].exp(),
        result.ref_logp[pair.prompt * y + pair.rejected].exp(),
    );
    let points = trajectory(&result.snapshots, y, pair);
    let align = alignment(&points, TOL_DEG);
    let last = points.last().copied().unwrap_or(LogPoint {
        epoch: 0,
        logp: f64::NAN,
        logm: f64::NAN,
    });
    let p = last.logp.exp();
    // |v_paper| / |v_softmax| ≈ 1/(π+ π- (1 − π+)) once π- ≪ π+; in log10
    // so a π- below the f64 range still gives a number.
    let m = last.logm.exp();
    let log10_ratio = if m > 0.0 {
        magnitude_ratio(p, m).log10()
    } else {
        -(p.log10() + last.logm / LN_10 + (1.0 - p).log10())
    };
    Ok(Track {
        file: file.into(),
        name: name.into(),
        setting: RunSetting::of(&cfg)?,
        field,
        points,
        align,
        end: TrackEnd {
            epoch: last.epoch,
            p,
            log10_m: last.logm / LN_10,
            log10_ratio,
        },
    })
}

/// The median over `traj` of `log10(π+/π-)`.
fn median_log10_ratio(traj: &[LogPoint]) -> f64 {
    let mut r: Vec<f64> = traj.iter().map(|q| (q.logp - q.logm) / LN_10).collect();
    r.sort_by(f64::total_cmp);
    r.get(r.len() / 2).copied().unwrap_or(f64::NAN)
}

/// How the MLP track moves (None for a trajectory without points).
fn mlp_path(m: &Track) -> Option<MlpPath> {
    let (a, b) = (m.points.first()?, m.points.last()?);
    let n = m.points.len();
    let d0 = step(&m.points[0], &m.points[1.min(n - 1)]);
    let dn = step(&m.points[n.saturating_sub(2)], b);
    // w/π-, in log10.
    let paper_minus = |q: &LogPoint| m.field.weight_log(q.logp, q.logm).log10() - q.logm / LN_10;
    Some(MlpPath {
        p_start: a.logp.exp(),
        p_end: b.logp.exp(),
        softmax_line_frac: m.align.softmax_line_frac(),
        paper_line_frac: m.align.paper_line_frac(),
        median_log10_ratio: median_log10_ratio(&m.points),
        m_start: a.logm.exp(),
        log10_m_end: b.logm / LN_10,
        step_start: d0[1].abs(),
        step_end: dn[1].abs(),
        max_log_step: max_rejected_log_step(&m.points),
        log10_paper_minus_start: paper_minus(a),
        log10_paper_minus_end: paper_minus(b),
    })
}

/// The facts of `tracks`: the MLP's path and the SGD run's deviation.
pub fn field_facts(tracks: Vec<Track>) -> FieldFacts {
    let mlp = tracks
        .iter()
        .find(|t| t.setting.policy == "mlp")
        .and_then(mlp_path);
    let sgd_max_deviation = tracks
        .iter()
        .find(|t| t.setting.policy == "tabular" && t.setting.optimizer == "sgd")
        .map(|t| {
            t.points
                .windows(2)
                .map(|w| {
                    let [p, m] = w[0].probs();
                    angle_deg(step(&w[0], &w[1]), t.field.softmax(p, m))
                })
                .fold(0.0, f64::max)
        });
    FieldFacts {
        tol_deg: TOL_DEG,
        tracks,
        mlp,
        sgd_max_deviation,
    }
}

/// Runs the [`TRACKS`] of `experiments_dir` (well under a second each),
/// writes `out_dir/gradient-field/facts.json` and returns the facts.
pub fn run(experiments_dir: &Path, out_dir: &Path) -> Result<FieldFacts> {
    let tracks = TRACKS
        .iter()
        .map(|(file, name)| run_track(experiments_dir, file, name))
        .collect::<Result<Vec<_>>>()?;
    let facts = field_facts(tracks);
    write_facts(&out_dir.join("gradient-field"), &facts)?;
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::train::{train, Keep};
    use crate::io::config::Config;
    use crate::maths::data::Pair;
    use std::path::Path;

    fn pair() -> PairField {
        PairField::new(0.1, 0.12, 0.12)
    }

    const POINTS: [[f64; 2]; 6] = [
        [0.12, 0.12],
        [0.3, 0.05],
        [0.05, 0.6],
        [0.7, 0.2],
        [0.45, 1e-3],
        [0.2, 0.3],
    ];

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
    }

    /// The closed-form partials match central differences of the loss.
    #[test]
    fn gradient_matches_finite_differences() {
        for f in [pair(), PairField::new(0.5, 0.3, 0.05)] {
            for [p, m] in POINTS {
                let g = f.grad(p, m);
                let h = 1e-6;
                let dp = (f.loss(p * (1.0 + h), m) - f.loss(p * (1.0 - h), m)) / (2.0 * h * p);
                let dm = (f.loss(p, m * (1.0 + h)) - f.loss(p, m * (1.0 - h))) / (2.0 * h * m);
                assert!(close(g[0], dp, 1e-7), "{p} {m}: {} vs {dp}", g[0]);
                assert!(close(g[1], dm, 1e-7), "{p} {m}: {} vs {dm}", g[1]);
                let v = f.paper(p, m);
                assert_eq!(v, [-g[0], -g[1]]);
            }
        }
    }

    /// The partials equal the paper's `α z^β` form, and Corollary 1 holds.
    #[test]
    fn paper_closed_form_and_corollaries() {
        let f = PairField::new(0.1, 0.2, 0.07);
        for [p, m] in POINTS {
            let (b, z) = (f.beta, m / p);
            let alpha = (f.ref_plus / f.ref_minus).powf(b);
            let k = alpha * b / (1.0 + alpha * z.powf(b)) * z.powf(b - 1.0);
            let g = f.grad(p, m);
            assert!(close(g[0], k * (-m / (p * p)), 1e-12));
            assert!(close(g[1], k / p, 1e-12));
            assert!(close(g[1] / g[0], -p / m, 1e-12));
        }
        // Corollary 2: |∂ℓ/∂π-| → ∞ and ∂ℓ/∂π+ → 0 as π- → 0.
        let p = 0.3;
        let ms = [1e-2, 1e-5, 1e-10, 1e-40];
        let gm: Vec<f64> = ms.iter().map(|&m| f.grad(p, m)[1]).collect();
        let gp: Vec<f64> = ms.iter().map(|&m| f.grad(p, m)[0].abs()).collect();
        assert!(gm.windows(2).all(|w| w[1] > 100.0 * w[0]), "{gm:?}");
        assert!(gp.windows(2).all(|w| w[1] < w[0]), "{gp:?}");
        assert!(gm[3] > 1e34);
        // The paper's limit form αβ π+^(−β) π-^(β−1).
        let alpha = (f.ref_plus / f.ref_minus).powf(f.beta);
        let lim = alpha * f.beta * p.powf(-f.beta) * 1e-40f64.powf(f.beta - 1.0);
        assert!(close(gm[3], lim, 1e-3), "{} vs {lim}", gm[3]);
    }

    /// The softmax field is the derivative of the exact softmax shift, and
    /// equals `J² v_paper` with the full Jacobian of a 10-way softmax.
    #[test]
    fn softmax_field_is_the_linearised_softmax() {
        let f = PairField::new(0.3, 0.2, 0.1);
        for [p, m] in POINTS {
            let v = f.softmax(p, m);
            let eps = 1e-6;
            let ds = f.logit_step(p, m, eps);
            let fwd = softmax_shift(p, m, ds);
            let bwd = softmax_shift(p, m, [-ds[0], -ds[1]]);
            for k in 0..2 {
                let fd = (fwd[k] - bwd[k]) / (2.0 * eps);
                assert!(close(v[k], fd, 1e-6), "{p} {m} {k}: {} vs {fd}", v[k]);
            }
            // Full softmax: responses 0 (chosen), 1 (rejected) and eight
            // others sharing the rest unevenly.
            let mut pi = vec![p, m];
            let rest = 1.0 - p - m;
            let wts: Vec<f64> = (1..=8).map(|i| i as f64).collect();
            let tot: f64 = wts.iter().sum();
            pi.extend(wts.iter().map(|w| rest * w / tot));
            let jac = |u: &[f64]| -> Vec<f64> {
                let s: f64 = pi.iter().zip(u).map(|(a, b)| a * b).sum();
                pi.iter().zip(u).map(|(a, b)| a * (b - s)).collect()
            };
            let mut u = vec![0.0; 10];
            u[..2].copy_from_slice(&f.paper(p, m));
            let ds_full = jac(&u);
            let w = f.weight(p, m);
            assert!(close(ds_full[0], w, 1e-12) && close(ds_full[1], -w, 1e-12));
            assert!(ds_full[2..].iter().all(|d| d.abs() < 1e-15));
            let dpi = jac(&ds_full);
            assert!(close(dpi[0], v[0], 1e-12) && close(dpi[1], v[1], 1e-12));
        }
    }

    /// Bounded softmax field, vanishing rejected speed, diverging paper
    /// field, and the ratio of the two.
    #[test]
    fn limits_as_the_rejected_probability_vanishes() {
        let f = pair();
        let p = 0.4;
        let alpha = (f.ref_plus / f.ref_minus).powf(f.beta);
        let (mut last_s, mut last_v) = (f64::INFINITY, 0.0);
        for m in [1e-3, 1e-8, 1e-30, 1e-100] {
            let (s, v) = (f.softmax(p, m), f.paper(p, m));
            assert!(norm(s) < 2.0 * f.beta);
            assert!(s[1].abs() <= 2.0 * f.beta * m);
            assert!(s[1].abs() < 1e-3 * last_s && v[1].abs() > 1e3 * last_v);
            (last_s, last_v) = (s[1].abs(), v[1].abs());
            let w = f.weight(p, m);
            if m <= 1e-30 {
                // σ(−βΔ) ≈ e^{−βΔ} once βΔ ≫ 1 (βΔ ≈ 6.8 at π- = 1e-30).
                assert!(close(w, f.beta * alpha * (m / p).powf(f.beta), 2e-3), "{m}");
            }
            assert!(close(norm(v) / norm(s), magnitude_ratio(p, m), 1e-12));
            let approx = 1.0 / (p * m * (1.0 - p));
            assert!(close(magnitude_ratio(p, m), approx, 1e-2));
        }
        for [p, m] in triangle_grid(15) {
            assert!(norm(f.softmax(p, m)) < 2.0 * f.beta);
        }
    }

    #[test]
    fn angles_and_grid() {
        assert!(close(angle_deg([1.0, 0.0], [0.0, 2.0]), 90.0, 1e-12));
        assert!(close(angle_deg([1.0, 1.0], [-3.0, -3.0]), 180.0, 1e-12));
        assert!(angle_deg([1.0, 1e-300], [1.0, 0.0]) < 1e-200);
        assert!(angle_deg([0.0, 0.0], [1.0, 0.0]).is_nan());
        let g = triangle_grid(15);
        // Cells with i + j ≤ n − 2: n(n − 1)/2 of them.
        assert_eq!(g.len(), 105);
        assert!(g.iter().all(|[p, m]| p + m < 1.0 && *p > 0.0 && *m > 0.0));
        // Directions from log space agree with the plain ones.
        let pt = LogPoint {
            epoch: 0,
            logp: 0.3f64.ln(),
            logm: 0.05f64.ln(),
        };
        let (s, v) = directions(&pt);
        let f = pair();
        assert!(angle_deg(s, f.softmax(0.3, 0.05)) < 1e-6);
        assert!(angle_deg(v, f.paper(0.3, 0.05)) < 1e-6);
        // ... and stay defined where π- underflows.
        let deep = LogPoint {
            epoch: 0,
            logp: 0.3f64.ln(),
            logm: -2000.0,
        };
        let (s, v) = directions(&deep);
        assert!(angle_deg(s, [1.0, 0.0]) < 1e-9);
        assert!(angle_deg(v, [0.0, -1.0]) < 1e-9);
    }

    fn sgd_run(lr: Option<f64>, epochs: i64) -> crate::engine::train::RunResult {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/tabular-dpo-sgd.toml");
        let mut cfg = Config::load(&path).unwrap();
        cfg.epochs = epochs;
        if let Some(lr) = lr {
            cfg.optimizer.lr = lr;
        }
        let spec = cfg.resolved().unwrap().build().unwrap();
        train(&spec, Keep::ALL)
    }

    /// A real tabular SGD step moves pair 0 by `η v_softmax` to first order
    /// (exactly by the softmax shift of `±η w`), and the first-order error
    /// shrinks quadratically with `η`.
    #[test]
    fn tabular_sgd_step_follows_the_softmax_field() {
        let pair0 = Pair {
            prompt: 0,
            chosen: 0,
            rejected: 4,
        };
        let mut errs = Vec::new();
        for lr in [1.0, 0.1] {
            let r = sgd_run(Some(lr), 3);
            let traj = trajectory(&r.snapshots, r.n_responses, pair0);
            let f = PairField::new(0.1, r.ref_logp[0].exp(), r.ref_logp[4].exp());
            for w in traj.windows(2) {
                let [p, m] = w[0].probs();
                let d = step(&w[0], &w[1]);
                let v = f.softmax(p, m);
                let lin = [lr * v[0], lr * v[1]];
                let exact = softmax_shift(p, m, f.logit_step(p, m, lr));
                for k in 0..2 {
                    let moved = exact[k] - [p, m][k];
                    assert!(close(d[k], moved, 1e-9), "{lr} {k}: {} vs {moved}", d[k]);
                    // First order: relative error O(η w) ≤ 5% at η = 1.
                    assert!(close(d[k], lin[k], 2.0 * lr * f.beta), "{lr} {k}");
                }
                // Second-order effects of c = η w ≤ 0.05 tilt the step by ~1°.
                assert!(angle_deg(d, v) < 2.0 * lr);
                assert!(angle_deg(d, f.paper(p, m)) > 0.0);
            }
            let [p, m] = traj[0].probs();
            let d = step(&traj[0], &traj[1]);
            let v = f.softmax(p, m);
            errs.push(norm([d[0] - lr * v[0], d[1] - lr * v[1]]) / norm([lr * v[0], lr * v[1]]));
        }
        // Relative error ∝ η: a tenfold smaller step, a tenfold smaller error.
        assert!(
            errs[1] < 0.15 * errs[0] && errs[1] > 0.05 * errs[0],
            "{errs:?}"
        );
    }

    /// Over the whole 200-epoch SGD run every step is within 2° of the
    /// softmax field, and the trajectory reads back from the snapshots.
    #[test]
    fn sgd_run_aligns_with_the_softmax_field() {
        let r = sgd_run(None, 200);
        let traj = trajectory(
            &r.snapshots,
            r.n_responses,
            Pair {
                prompt: 0,
                chosen: 0,
                rejected: 4,
            },
        );
        assert_eq!(traj.len(), 201);
        assert_eq!(traj[0].logp, r.snapshots[0].1[0]);
        let a = alignment(&traj, 2.0);
        assert_eq!(a.steps, 200);
        assert_eq!(a.softmax, 200);
        assert_eq!(a.softmax_line, 200);
        // Only the first steps, where π+ ≈ π- makes the two fields parallel,
        // are near the paper's direction.
        assert!(a.paper < 10, "{a:?}");
        // |Δ ln π-| ≤ 2 c ≤ 2 η β.
        let r = max_rejected_log_step(&traj);
        assert!(r > 0.0 && r <= 0.2, "{r}");
    }
}
