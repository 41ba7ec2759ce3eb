//! The late jump of the unseen mass (issue 11, item 3): the precision
//! experiment's runs, read the way float32 plotting code would read them.
//!
//! [`run`] repeats each config (the paper's Figure 3 scenarios) with each
//! seed in f64 and in native float32 arithmetic
//! ([`crate::studies::precision::F32_ARM`]). From every epoch's logits of the f32 run (float32
//! values) it recomputes `torch.softmax` in float32 and the candidate
//! averages of the unseen probabilities of [`crate::analysis::bookkeeping`], and
//! measures each candidate's late jumps against the epochs at which unseen
//! entries underflow to exactly 0 ([`RunFacts`]). `present::precision` writes
//! the facts; `present::plots::precision` draws them. Nothing here assumes when events
//! happen: configs, seeds, epochs and the [`JumpRule`] are inputs.

use crate::analysis::bookkeeping::{softmax_rows_f32, unseen_entries, Candidate};
use crate::analysis::stats::Quantiles;
use crate::engine::train::RunResult;
use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::maths::data::Dataset;
use crate::studies::precision::{compare, stats, Experiment, PairStats, PairedRun};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What counts as a late jump of a curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct JumpRule {
    /// Length of the window, in epochs.
    pub window: usize,
    /// A rise by at least this factor within one window is a jump.
    pub min_ratio: f64,
    /// Only windows ending at or after this epoch count ("late").
    pub from: usize,
}

/// The rule of the report: a rise by a factor of 1.3 or more within 20
/// epochs, in a window ending at epoch 200 or later. 1.3 lies below the
/// issue's 8/5 = 1.6 and above 8/7 ≈ 1.14, the step of one entry of eight
/// leaving a mean; 20 epochs is 1% of the paper's 2000, a vertical step on
/// its plots.
pub const RULE: JumpRule = JumpRule {
    window: 20,
    min_ratio: 1.3,
    from: 200,
};

/// A rise of a curve over one window: `value(end) / value(start)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rise {
    /// `value(end) / value(start)`.
    pub ratio: f64,
    /// First epoch of the window.
    pub start: usize,
    /// Last epoch of the window.
    pub end: usize,
}

/// The largest rise of `curve` (its value at epoch `i` at index `i`) by a
/// factor over `rule.window` epochs, among windows ending at or after
/// `rule.from`; `None` if there is no such window with finite positive ends.
pub fn largest_rise(curve: &[f64], rule: &JumpRule) -> Option<Rise> {
    let w = rule.window.max(1);
    let mut best: Option<Rise> = None;
    for end in rule.from.max(w)..curve.len() {
        let (a, b) = (curve[end - w], curve[end]);
        if !(a > 0.0 && b.is_finite()) {
            continue;
        }
        let ratio = b / a;
        if best.is_none_or(|r| ratio > r.ratio) {
            best = Some(Rise {
                ratio,
                start: end - w,
                end,
            });
        }
    }
    best
}

/// The first index from which every later flag is true (`None` if the last
/// one is false or there are none).
pub fn true_from(flags: &[bool]) -> Option<usize> {
    let trailing = flags.iter().rev().take_while(|&&f| f).count();
    (trailing > 0).then(|| flags.len() - trailing)
}

/// What an unseen entry (a response outside its pair) is elsewhere in the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Rejected in another pair (checked first: DPO pushes it down).
    OtherRejected,
    /// Chosen in another pair, rejected in none.
    OtherChosen,
    /// In no pair at all (responses 8-9 of the paper's toy).
    NoPair,
}

/// The roles of the unseen entries, pair by pair, in the order of
/// [`unseen_entries`].
pub fn roles(data: &Dataset) -> Vec<Role> {
    let y = data.n_responses;
    data.pairs
        .iter()
        .flat_map(|p| {
            (0..y)
                .filter(move |&a| a != p.chosen && a != p.rejected)
                .map(|a| {
                    if data.pairs.iter().any(|o| o.rejected == a) {
                        Role::OtherRejected
                    } else if data.pairs.iter().any(|o| o.chosen == a) {
                        Role::OtherChosen
                    } else {
                        Role::NoPair
                    }
                })
        })
        .collect()
}

/// The float32 bookkeeping of one run, at every epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Curves {
    /// `values[c][e]`: candidate `Candidate::ALL[c]` at epoch `e`.
    pub values: Vec<Vec<f64>>,
    /// `zero[e][i]`: whether unseen entry `i` (pair-major) is exactly 0 in
    /// the float32 softmax at epoch `e`.
    pub zero: Vec<Vec<bool>>,
}

impl Curves {
    /// The curve of candidate `c`.
    pub fn of(&self, c: Candidate) -> &[f64] {
        let i = Candidate::ALL.iter().position(|&k| k == c).unwrap_or(0);
        &self.values[i]
    }

    /// Number of zero entries at epoch `e`.
    pub fn zeros_at(&self, e: usize) -> usize {
        self.zero[e].iter().filter(|&&z| z).count()
    }
}

/// The bookkeeping curves of `run` (an f32 run with logits kept at every
/// epoch) over `data`'s pairs.
pub fn curves(run: &RunResult, data: &Dataset) -> Result<Curves> {
    let every_epoch = run
        .logit_snapshots
        .iter()
        .enumerate()
        .all(|(i, (e, _))| i == *e);
    if run.logit_snapshots.is_empty() || !every_epoch {
        return Err(Error::config(
            "record_every",
            "the float32 bookkeeping needs the logits of every epoch",
        ));
    }
    let y = run.n_responses;
    let mut values = vec![Vec::new(); Candidate::ALL.len()];
    let mut zero = Vec::new();
    for (_, z) in &run.logit_snapshots {
        let probs = softmax_rows_f32(z, y);
        let rows = unseen_entries(&probs, y, &data.pairs);
        for (v, c) in values.iter_mut().zip(Candidate::ALL) {
            v.push(c.eval(&rows));
        }
        zero.push(rows.iter().flatten().map(|&p| p == 0.0).collect());
    }
    Ok(Curves { values, zero })
}

/// What one candidate does in one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateFacts {
    /// Which average.
    pub candidate: Candidate,
    /// Its value at epoch 0.
    pub start: f64,
    /// Its largest late rise ([`largest_rise`]).
    pub rise: Option<Rise>,
    /// The float32 plain mean's rise over the same window: what the
    /// dynamics alone do there.
    pub mean_rise: f64,
    /// Unseen entries that are exactly 0 at the window's start and end.
    pub zeros: (usize, usize),
    /// The largest late rise of candidate ÷ plain mean: the step the zeros
    /// make on their own, whatever the dynamics do. For
    /// `p[p > 0].mean()` the ratio is `n / (n − zeros)` exactly (the zeros
    /// add nothing to the sum), so it moves only when an entry underflows.
    pub factor_rise: Option<Rise>,
    /// Zero entries at the start and end of `factor_rise`'s window.
    pub factor_zeros: (usize, usize),
    /// Candidate ÷ plain mean at [`RunFacts::other_rejected_zero`].
    pub factor_rejected_zero: Option<f64>,
    /// Candidate ÷ plain mean at the last epoch.
    pub factor_final: f64,
}

impl CandidateFacts {
    /// The late jump, if the largest late rise reaches `rule.min_ratio`.
    pub fn jump(&self, rule: &JumpRule) -> Option<Rise> {
        self.rise.filter(|r| r.ratio >= rule.min_ratio)
    }

    /// A late jump of candidate ÷ plain mean: the bookkeeping's doing, not
    /// the dynamics'.
    pub fn bookkeeping_jump(&self, rule: &JumpRule) -> Option<Rise> {
        self.factor_rise.filter(|r| r.ratio >= rule.min_ratio)
    }
}

/// What the float32 bookkeeping of one (scenario, seed) shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFacts {
    /// The config's `data.scenario` (or "custom").
    pub scenario: String,
    /// The run's seed.
    pub seed: u64,
    /// Last epoch.
    pub epochs: usize,
    /// Number of pairs.
    pub n_pairs: usize,
    /// Unseen entries per pair (responses outside the pair).
    pub per_pair: usize,
    /// Unseen entries over all pairs.
    pub n_entries: usize,
    /// Of them, other pairs' rejected responses.
    pub n_other_rejected: usize,
    /// Of them, responses in no pair.
    pub n_no_pair: usize,
    /// First epoch at which some unseen entry is exactly 0.
    pub first_zero: Option<usize>,
    /// First epoch from which every unseen entry that is another pair's
    /// rejected response is 0 to the end.
    pub other_rejected_zero: Option<usize>,
    /// Likewise for the entries in no pair.
    pub no_pair_zero: Option<usize>,
    /// Zero entries at the last epoch.
    pub final_zeros: usize,
    /// The f64 run's `avg_unseen`: its largest late rise (the control).
    pub f64_rise: Option<Rise>,
    /// The f64 run's `avg_unseen` at epoch 0.
    pub f64_start: f64,
    /// One per [`Candidate::ALL`].
    pub candidates: Vec<CandidateFacts>,
}

impl RunFacts {
    /// The facts of candidate `c`.
    pub fn of(&self, c: Candidate) -> Option<&CandidateFacts> {
        self.candidates.iter().find(|f| f.candidate == c)
    }
}

/// Measures one paired run from its bookkeeping curves.
pub fn run_facts(p: &PairedRun, cv: &Curves, rule: &JumpRule) -> RunFacts {
    let roles = roles(&p.data);
    let all_zero = |role: Role| -> Option<usize> {
        if !roles.contains(&role) {
            return None;
        }
        let flags: Vec<bool> = cv
            .zero
            .iter()
            .map(|z| z.iter().zip(&roles).all(|(&z, &r)| z || r != role))
            .collect();
        true_from(&flags)
    };
    let other_rejected_zero = all_zero(Role::OtherRejected);
    let mean = cv.of(Candidate::Mean);
    let last = mean.len().saturating_sub(1);
    let f64_unseen: Vec<f64> = p.f64.metrics.iter().map(|r| r.avg_unseen).collect();
    let candidates = Candidate::ALL
        .iter()
        .map(|&c| {
            let v = cv.of(c);
            let rise = largest_rise(v, rule);
            let zeros_of =
                |r: Option<Rise>| r.map_or((0, 0), |r| (cv.zeros_at(r.start), cv.zeros_at(r.end)));
            let ratio: Vec<f64> = v.iter().zip(mean).map(|(a, b)| a / b).collect();
            let factor_rise = largest_rise(&ratio, rule);
            CandidateFacts {
                candidate: c,
                start: v.first().copied().unwrap_or(f64::NAN),
                rise,
                mean_rise: rise.map_or(f64::NAN, |r| mean[r.end] / mean[r.start]),
                zeros: zeros_of(rise),
                factor_rise,
                factor_zeros: zeros_of(factor_rise),
                factor_rejected_zero: other_rejected_zero.map(|e| v[e] / mean[e]),
                factor_final: v.get(last).map_or(f64::NAN, |x| x / mean[last]),
            }
        })
        .collect();
    RunFacts {
        scenario: p.scenario.clone(),
        seed: p.seed,
        epochs: last,
        n_pairs: p.data.pairs.len(),
        per_pair: p.data.n_responses.saturating_sub(2),
        n_entries: roles.len(),
        n_other_rejected: roles.iter().filter(|&&r| r == Role::OtherRejected).count(),
        n_no_pair: roles.iter().filter(|&&r| r == Role::NoPair).count(),
        first_zero: cv.zero.iter().position(|z| z.iter().any(|&z| z)),
        other_rejected_zero,
        no_pair_zero: all_zero(Role::NoPair),
        final_zeros: cv.zeros_at(last),
        f64_rise: largest_rise(&f64_unseen, rule),
        f64_start: f64_unseen.first().copied().unwrap_or(f64::NAN),
        candidates,
    }
}

/// The study's inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    /// Run configs, one per scenario (their `seed`, `epochs`,
    /// `record_every` and `precision` are overridden).
    pub configs: Vec<PathBuf>,
    /// Seeds of every config.
    pub seeds: Vec<u64>,
    /// Epochs of every run.
    pub epochs: i64,
    /// What counts as a late jump.
    pub rule: JumpRule,
    /// Scenarios (`data.scenario`) to show in the figure, one column each.
    pub shown: Vec<String>,
    /// The candidate whose largest late rise picks the shown run of each
    /// scenario.
    pub pick_by: Candidate,
}

/// One run shown in the figure: both precisions, and the bookkeeping.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The run in both precisions.
    pub pair: PairedRun,
    /// Its f64-vs-f32 comparison.
    pub stats: PairStats,
    /// Its float32 bookkeeping facts.
    pub facts: RunFacts,
    /// Its float32 bookkeeping curves.
    pub curves: Curves,
}

/// Everything the study measured (`facts.json` holds all but the shown
/// runs' curves, which are in memory for the figure).
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// The f64-vs-f32 experiment it ran (configs, seeds, epochs).
    pub experiment: Experiment,
    /// What counted as a late jump.
    pub rule: JumpRule,
    /// The f64-vs-f32 comparison of every run ([`crate::studies::precision::stats`]).
    pub precision: Vec<PairStats>,
    /// The float32 bookkeeping of every run, in the order of `precision`.
    pub runs: Vec<RunFacts>,
    /// The runs of the figure, one per shown scenario.
    #[serde(skip)]
    pub shown: Vec<Shown>,
    /// The candidate that picked them.
    pub pick_by: Candidate,
}

/// Runs the study: every config with every seed, in f64 and f32.
pub fn run(study: &Study) -> Result<Facts> {
    let bases = study
        .configs
        .iter()
        .map(|p| Config::load(p))
        .collect::<Result<Vec<_>>>()?;
    let experiment = Experiment {
        bases,
        seeds: study.seeds.clone(),
        epochs: study.epochs,
    };
    let pairs = compare(&experiment)?;
    let mut precision = Vec::new();
    let mut runs = Vec::new();
    let mut all_curves = Vec::new();
    for p in &pairs {
        precision.push(stats(p)?);
        let cv = curves(&p.f32, &p.data)?;
        runs.push(run_facts(p, &cv, &study.rule));
        all_curves.push(cv);
    }
    let mut shown = Vec::new();
    for sc in &study.shown {
        let size = |i: &usize| {
            runs[*i]
                .of(study.pick_by)
                .and_then(|c| c.rise)
                .map_or(f64::NEG_INFINITY, |r| r.ratio)
        };
        let best = (0..runs.len())
            .filter(|&i| runs[i].scenario == *sc)
            .max_by(|a, b| size(a).total_cmp(&size(b)));
        if let Some(i) = best {
            shown.push(Shown {
                pair: pairs[i].clone(),
                stats: precision[i].clone(),
                facts: runs[i].clone(),
                curves: all_curves[i].clone(),
            });
        }
    }
    Ok(Facts {
        experiment,
        rule: study.rule,
        precision,
        runs,
        shown,
        pick_by: study.pick_by,
    })
}

/// Scenarios of the report's study, one config each (`fig3-NAME.toml`).
pub const REPORT_SCENARIOS: [&str; 4] = ["scenario1", "scenario2", "scenario3", "scenario4"];
/// Seeds of each scenario (eight runs of 5000 epochs in both precisions
/// take a few seconds per scenario).
pub const REPORT_SEEDS: [u64; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
/// Epochs of every run: longer than the paper's 2000, since the jump in
/// question comes late in training.
pub const REPORT_EPOCHS: i64 = 5000;

/// The study behind the report's precision figure and section: scenarios
/// 1-4 of `experiments_dir/fig3-scenario*.toml`, [`REPORT_SEEDS`],
/// [`REPORT_EPOCHS`] epochs, [`RULE`]; scenarios 2-4 shown, each by the
/// seed whose `p[p > 0].mean()` has the largest late rise.
pub fn report_study(experiments_dir: &Path) -> Study {
    Study {
        configs: REPORT_SCENARIOS
            .iter()
            .map(|s| experiments_dir.join(format!("fig3-{s}.toml")))
            .collect(),
        seeds: REPORT_SEEDS.to_vec(),
        epochs: REPORT_EPOCHS,
        rule: RULE,
        shown: REPORT_SCENARIOS[1..]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        pick_by: Candidate::NonzeroPooled,
    }
}

/// Runs the [`report_study`] of `experiments_dir`, writes
/// `out_dir/precision/facts.json` and returns the facts.
pub fn run_report(experiments_dir: &Path, out_dir: &Path) -> Result<Facts> {
    let facts = run(&report_study(experiments_dir))?;
    crate::studies::facts::write_facts(&out_dir.join("precision"), &facts)?;
    Ok(facts)
}

/// The runs' facts of candidate `c`.
pub fn candidate_facts<'a>(runs: &[&'a RunFacts], c: Candidate) -> Vec<&'a CandidateFacts> {
    runs.iter().filter_map(|r| r.of(c)).collect()
}

/// How many of `fs` have a late jump of the curve, and of curve ÷ plain mean.
pub fn jump_counts(fs: &[&CandidateFacts], rule: &JumpRule) -> (usize, usize) {
    (
        fs.iter().filter(|f| f.jump(rule).is_some()).count(),
        fs.iter()
            .filter(|f| f.bookkeeping_jump(rule).is_some())
            .count(),
    )
}

/// How many runs' f64 `avg_unseen` has a late jump.
pub fn f64_jumps(rs: &[&RunFacts], rule: &JumpRule) -> usize {
    rs.iter()
        .filter(|r| r.f64_rise.is_some_and(|q| q.ratio >= rule.min_ratio))
        .count()
}

/// The scenarios of a study's runs, in order of appearance, split the way
/// the paper shows them: the first without the late jump (`head`), the
/// others with it (`late`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioGroups<'a> {
    /// Every scenario.
    pub all: Vec<&'a str>,
    /// The first one (none if there are no runs).
    pub head: Vec<&'a str>,
    /// The rest.
    pub late: Vec<&'a str>,
}

/// The [`ScenarioGroups`] of `runs`.
pub fn scenario_groups(runs: &[RunFacts]) -> ScenarioGroups<'_> {
    let mut all: Vec<&str> = Vec::new();
    for r in runs {
        if !all.contains(&r.scenario.as_str()) {
            all.push(&r.scenario);
        }
    }
    let (head, late) = all.split_at(1.min(all.len()));
    ScenarioGroups {
        head: head.to_vec(),
        late: late.to_vec(),
        all,
    }
}

/// The runs of `runs` whose scenario is in `names`.
pub fn runs_of<'a>(runs: &'a [RunFacts], names: &[&str]) -> Vec<&'a RunFacts> {
    runs.iter()
        .filter(|r| names.contains(&r.scenario.as_str()))
        .collect()
}

/// The factor by which, in the issue's account, a mean that skips zeros
/// stands above the plain mean once every other pair's rejected response is
/// 0: `per_pair / kept`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IssueFactor {
    /// Unseen entries per pair.
    pub per_pair: usize,
    /// Of them, other pairs' rejected responses (per pair).
    pub rejected_per_pair: usize,
    /// The entries left in the mean (at least 1).
    pub kept: usize,
    /// `per_pair / kept`.
    pub factor: f64,
}

/// The [`IssueFactor`] of run `r`'s data.
pub fn issue_factor(r: &RunFacts) -> IssueFactor {
    let per_pair = r.per_pair;
    let rejected_per_pair = r.n_other_rejected / r.n_pairs.max(1);
    let kept = per_pair.saturating_sub(rejected_per_pair).max(1);
    IssueFactor {
        per_pair,
        rejected_per_pair,
        kept,
        factor: per_pair as f64 / kept as f64,
    }
}

/// A measured factor this close to the [`IssueFactor`] is the issue's.
pub const FACTOR_TOL: f64 = 0.005;

/// Whether the means that skip zeros step by the issue's factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorMatch {
    /// In every run.
    Every,
    /// In the median run, not in all.
    Median,
    /// Not even in the median run.
    Other,
}

/// How the factors `at` (each run's ratio to the plain mean once every
/// other pair's rejected response is 0) compare with `predicted`.
pub fn factor_match(at: &[f64], predicted: f64) -> FactorMatch {
    let close = |v: &f64| (v - predicted).abs() < FACTOR_TOL;
    if at.iter().all(close) {
        FactorMatch::Every
    } else if close(&Quantiles::of(at).median) {
        FactorMatch::Median
    } else {
        FactorMatch::Other
    }
}

/// Whether a late jump of the ratio to the plain mean happens, for every
/// candidate, in fewer than half of the `n` runs (`most_jumps` is the
/// largest count of any candidate): the step then mostly comes as a
/// staircase of separate underflows.
pub fn mostly_staircase(most_jumps: usize, n: usize) -> bool {
    2 * most_jumps < n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maths::data::Dataset;

    const RULE_5: JumpRule = JumpRule {
        window: 5,
        min_ratio: 1.3,
        from: 10,
    };

    #[test]
    fn largest_rise_is_the_largest_late_ratio_over_the_window() {
        // Flat at 1, a step to 1.6 at epoch 30, another to 2 at epoch 8
        // (too early to count).
        let curve: Vec<f64> = (0..50)
            .map(|e| match e {
                8..30 => 1.25,
                30.. => 2.0,
                _ => 1.0,
            })
            .collect();
        let r = largest_rise(&curve, &RULE_5).unwrap();
        assert_eq!((r.start, r.end), (25, 30));
        assert!((r.ratio - 1.6).abs() < 1e-12);
        // Zero or non-finite starts are skipped, not divided by.
        let mut c = vec![0.0; 20];
        c[19] = 1.0;
        assert!(largest_rise(&c, &RULE_5).is_none());
        assert!(largest_rise(&[1.0; 3], &RULE_5).is_none());
    }

    #[test]
    fn true_from_needs_the_flags_to_stay_true() {
        assert_eq!(true_from(&[false, true, false, true, true]), Some(3));
        assert_eq!(true_from(&[true, true]), Some(0));
        assert_eq!(true_from(&[true, false]), None);
        assert_eq!(true_from(&[]), None);
    }

    #[test]
    fn roles_of_the_paper_pairs() {
        let data = Dataset::scenario("scenario2").unwrap();
        let r = roles(&data);
        assert_eq!(r.len(), 32);
        let count = |k: Role| r.iter().filter(|&&x| x == k).count();
        assert_eq!(count(Role::OtherRejected), 12);
        assert_eq!(count(Role::OtherChosen), 12);
        assert_eq!(count(Role::NoPair), 8);
        // Prompt 0, pair 0 ≻ 4: unseen 1, 2, 3 (chosen elsewhere), 5, 6, 7
        // (rejected elsewhere), 8, 9.
        use Role::*;
        assert_eq!(
            &r[..8],
            &[
                OtherChosen,
                OtherChosen,
                OtherChosen,
                OtherRejected,
                OtherRejected,
                OtherRejected,
                NoPair,
                NoPair
            ]
        );
    }

    /// A hand-made f32 "run": logits that push the other pairs' rejected
    /// responses down by 200 from epoch 3 on (exactly 0 in float32).
    fn toy_run(data: &Dataset, epochs: usize) -> RunResult {
        let (x, y) = (data.n_prompts, data.n_responses);
        let logits = |e: usize| -> Vec<f64> {
            let mut z = vec![0.0; x * y];
            for p in &data.pairs {
                for q in &data.pairs {
                    if e >= 3 && q.rejected != p.rejected {
                        z[p.prompt * y + q.rejected] = -200.0;
                    }
                }
            }
            z
        };
        RunResult {
            n_prompts: x,
            n_responses: y,
            metrics: Vec::new(),
            snapshots: Vec::new(),
            logit_snapshots: (0..=epochs).map(|e| (e, logits(e))).collect(),
            ref_logp: Vec::new(),
            reference: crate::engine::reference::ReferenceFit {
                steps: 0,
                max_abs_err: 0.0,
                converged: true,
            },
            summary: Default::default(),
        }
    }

    #[test]
    fn skipping_the_zeros_of_three_rejected_responses_gives_eight_fifths() {
        let data = Dataset::scenario("scenario1").unwrap();
        let run = toy_run(&data, 6);
        let cv = curves(&run, &data).unwrap();
        assert_eq!(cv.zeros_at(2), 0);
        assert_eq!(cv.zeros_at(3), 12);
        for e in 3..=6 {
            let mean = cv.of(Candidate::Mean)[e];
            for c in [Candidate::NonzeroPooled, Candidate::NonzeroPerPair] {
                let f = cv.of(c)[e] / mean;
                assert!((f - 8.0 / 5.0).abs() < 1e-6, "{c:?} at {e}: {f}");
            }
        }
        // Needs every epoch's logits.
        let mut gappy = run.clone();
        gappy.logit_snapshots.remove(2);
        assert!(curves(&gappy, &data).is_err());
    }
}
