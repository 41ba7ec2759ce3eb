//! `dpo-lab bench`: training steps per second on the paper's toy (DPO, Adam,
//! f64, full batch), single-threaded and as a sweep over all cores, and the
//! tabular step time as the response and prompt counts grow. Only the
//! training loop is timed; the reference fit happens before the clock starts.

use crate::analysis::stats::ls_slope;
use crate::engine::metrics::Summary;
use crate::engine::reference::ReferenceSettings;
use crate::engine::train::RunSpec;
use crate::engine::train::{prepare, train, train_from, Keep};
use crate::io::config::Config;
use crate::maths::data::{Dataset, Pair};
use crate::maths::loss::dpo::Dpo;
use crate::maths::objective::PairObjective;
use crate::maths::optim::OptimizerKind;
use crate::maths::policy::{Activation, Loglinear, Mlp, MlpInit, Policy, Tabular};
use crate::maths::precision::Precision;
use crate::maths::split::block_len;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// An earlier performance issue's target for a 64-run sweep of the tabular
/// policy on the paper's toy, in training steps per second.
pub const TARGET_TABULAR_SWEEP: f64 = 5e6;
/// The steps per second of the JAX loop the performance issue quotes for a
/// 64-run sweep of the width-64 MLP (measured by the author, not
/// here); the peer measured here is in `bench.csv`'s `peer` rows.
pub const JAX_MLP64_SWEEP: f64 = 36e3;
/// The performance issue's target for that sweep: six times the JAX loop.
pub const TARGET_MLP64_SWEEP: f64 = 6.0 * JAX_MLP64_SWEEP;
/// The performance issue's target for a big tabular step: at most this many
/// times the time to stream its parameters, gradient and Adam state once.
pub const TARGET_STREAM_FACTOR: f64 = 2.0;
/// The embedding dimension of the log-linear policy in the `scale-logits` cases.
pub const LOGITS_LOGLINEAR_DIM: usize = 8;
/// The performance issue's target for the MLP: a step at least this share
/// of the tighter of its two bounds (divider, multiply-adds).
pub const TARGET_BOUND_SHARE: f64 = 0.85;
/// The performance issue's target for the native float32 path: at least
/// this many times the f64 steps per second of the same MLP case.
pub const TARGET_F32_SPEEDUP: f64 = 1.8;

fn f64_name() -> String {
    Precision::F64.name().into()
}

/// One measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchRow {
    /// `paper` (the toy, 4 × 10), `scale-responses` / `scale-prompts` /
    /// `scale-logits` (one thread), `split-responses` (one run split over
    /// every thread, [`crate::maths::split`]), `bound`, or `peer` (the
    /// same `paper` steps timed by another program, [`peer_rows`]).
    pub case: String,
    /// The policy kind timed: `tabular` or `mlp`.
    pub policy: String,
    /// The run's `precision`: `f64`, or `f32-native` (float32 arithmetic);
    /// rows written before it was recorded are f64.
    #[serde(default = "f64_name")]
    pub precision: String,
    /// The MLP's hidden width `H` (0 for the tabular policy).
    pub width: usize,
    /// The MLP's hidden activation (empty for the tabular policy).
    #[serde(default)]
    pub activation: String,
    /// Number of prompts `X` of the data.
    pub prompts: usize,
    /// Number of responses `Y` per prompt.
    pub responses: usize,
    /// Worker threads (1, or all cores for a sweep).
    pub threads: usize,
    /// Independent runs timed together.
    pub runs: usize,
    /// Training steps of each run.
    pub epochs: usize,
    /// Wall time of all runs together, in seconds (fastest of the repeats).
    pub seconds: f64,
    /// Training steps (one full-batch update of one run) per second, all runs together.
    pub steps_per_sec: f64,
    /// Thread time of one step of one run (wall time × threads / steps); for
    /// `split-responses`, where one run has every thread, the wall time of a step.
    pub ns_per_step: f64,
    /// For the tabular scaling cases: the time to stream the parameters, the
    /// gradient and Adam's two state vectors through memory once (read all
    /// four, write three), the floor a step cannot beat; on one thread, or,
    /// for `split-responses`, split over the same threads as the step.
    pub stream_ns: Option<f64>,
    /// Length of the policy's parameter vector (0 in rows written before it
    /// was recorded).
    #[serde(default)]
    pub params: usize,
    /// For the `scale-logits` cases: the peak heap bytes the run allocated
    /// while it was built and trained (counted by `dpo-lab`'s allocator,
    /// `fast::alloc`), or where no counting allocator is installed the growth
    /// of the resident memory (`VmHWM` after, reset before, minus `VmRSS`
    /// before); empty where not measured.
    #[serde(default)]
    pub peak_bytes: Option<f64>,
    /// For the `scale-logits` cases: the least-squares slope of
    /// `log ns_per_step` against `log(prompts · responses)` over the case's
    /// rows of this policy (1 = time linear in the logits).
    #[serde(default)]
    pub time_slope: Option<f64>,
    /// The same slope for `peak_bytes` (1 = memory linear in the logits).
    #[serde(default)]
    pub memory_slope: Option<f64>,
    /// The CPU model and core count the row was timed on (empty in rows
    /// written before it was recorded).
    #[serde(default)]
    pub machine: String,
    /// Whether the first timed run's summary is bit for bit the one
    /// [`crate::engine::train::train`] (what `dpo-lab run` calls, recording every
    /// output) gives for the same spec: speed must not change the numbers.
    /// False in `peer` rows (another program's numbers).
    pub identical_to_run: bool,
    /// For `peer` rows: the program and its version, e.g. `jax 0.10.2`
    /// (empty in dpo-lab's own rows).
    #[serde(default)]
    pub peer: String,
}

crate::fast::kernel! {
    fn stream_once<'a>(p: &'a mut [f64], m: &'a mut [f64], v: &'a mut [f64], g: &'a [f64]) {
        for i in 0..p.len() {
            m[i] = 0.9 * m[i] + g[i];
            v[i] = 0.5 * v[i] + g[i];
            p[i] -= 1e-3 * m[i] + 1e-9 * v[i];
        }
    }
}

crate::fast::kernel! {
    fn divider_pass<'a>(v: &'a mut [f64], g: &'a [f64]) {
        for (x, &y) in v.iter_mut().zip(g) {
            *x = y / (x.sqrt() + 1e-8);
        }
    }
}

crate::fast::kernel! {
    fn madd_pass<'a>(v: &'a mut [f64], g: &'a [f64]) {
        for (x, &y) in v.iter_mut().zip(g) {
            let mut a = *x;
            for _ in 0..MADDS_PER_ELEMENT {
                a = a * 0.999 + y;
            }
            *x = a;
        }
    }
}

/// Multiply-adds per element of [`madd_pass`] (chained in registers, so
/// the pass measures the arithmetic units, not memory).
const MADDS_PER_ELEMENT: usize = 16;

/// The arithmetic bounds of one f64 training step on this machine, from
/// micro-benchmarks at the level in force (median of repeated passes over
/// 5 130 values, the width-64 MLP's parameter count, so the data stay in
/// cache as in a step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Nanoseconds per element of one square root and one division (Adam's
    /// divider work per parameter).
    pub divider_ns: f64,
    /// Nanoseconds per multiply and add (the forward and backward passes'
    /// work per weight and data row; the lab's kernels do not fuse them).
    pub madd_ns: f64,
}

/// Measures [`Bounds`].
pub fn bounds() -> Bounds {
    let n = 5_130;
    let g: Vec<f64> = (0..n).map(|i| 1.0 + (i % 7) as f64 * 0.1).collect();
    let time = |pass: &dyn Fn(&mut [f64])| {
        let mut v = vec![1.0; n];
        let reps = 2_000;
        let mut times = Vec::with_capacity(7);
        for _ in 0..7 {
            let t = Instant::now();
            for _ in 0..reps {
                pass(std::hint::black_box(&mut v));
            }
            times.push(t.elapsed().as_secs_f64() * 1e9 / (reps * n) as f64);
        }
        std::hint::black_box(&v);
        times.sort_by(f64::total_cmp);
        times[3]
    };
    Bounds {
        divider_ns: time(&|v| divider_pass(v, &g)),
        madd_ns: time(&|v| madd_pass(v, &g)) / MADDS_PER_ELEMENT as f64,
    }
}

/// [`Bounds`] as `bench.csv` rows: case `bound`, policy `sqrt+div` or
/// `mul+add`, `ns_per_step` the nanoseconds per element (per square root
/// and division, per multiply and add).
pub fn bound_rows(b: &Bounds) -> Vec<BenchRow> {
    [("sqrt+div", b.divider_ns), ("mul+add", b.madd_ns)]
        .into_iter()
        .map(|(what, ns)| BenchRow {
            case: "bound".into(),
            policy: what.into(),
            precision: Precision::F64.name().into(),
            width: 0,
            activation: String::new(),
            prompts: 0,
            responses: 0,
            threads: 1,
            runs: 1,
            epochs: 0,
            seconds: 0.0,
            steps_per_sec: 1e9 / ns,
            ns_per_step: ns,
            stream_ns: None,
            params: 0,
            peak_bytes: None,
            time_slope: None,
            memory_slope: None,
            machine: machine_name(),
            identical_to_run: true,
            peer: String::new(),
        })
        .collect()
}

/// Multiply-adds of one full-batch step of the MLP (`x` prompts, width
/// `h`, `y` responses) with the one-hot first layer as a lookup: forward
/// `x(h² + yh)`, backward `2x(h² + yh)` (weight gradients and input
/// gradients of the two dense layers), Adam's five per parameter.
pub fn mlp_step_madds(x: usize, h: usize, y: usize, params: usize) -> f64 {
    let dense = (x * (h * h + y * h)) as f64;
    3.0 * dense + 5.0 * params as f64
}

/// Nanoseconds to stream `n` parameters with their gradient and Adam state
/// once (median of repeated passes), on the calling thread, or with
/// `split` in blocks over rayon's threads as a split run's update is.
pub fn stream_ns(n: usize, split: bool) -> f64 {
    let (mut p, mut m, mut v) = (vec![0.5; n], vec![0.0; n], vec![0.0; n]);
    let g = vec![1e-3; n];
    let reps = (50_000_000 / n.max(1)).clamp(5, 100_000);
    let len = if split { block_len(n, 8) } else { n.max(1) };
    let mut times = Vec::with_capacity(7);
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..reps {
            if split {
                p.par_chunks_mut(len)
                    .zip(m.par_chunks_mut(len))
                    .zip(v.par_chunks_mut(len))
                    .zip(g.par_chunks(len))
                    .for_each(|(((p, m), v), g)| stream_once(p, m, v, std::hint::black_box(g)));
            } else {
                stream_once(&mut p, &mut m, &mut v, std::hint::black_box(&g));
            }
        }
        times.push(t.elapsed().as_secs_f64() * 1e9 / reps as f64);
    }
    std::hint::black_box(&p);
    times.sort_by(f64::total_cmp);
    times[3]
}

/// The benchmark's Adam (PyTorch's defaults).
const ADAM: OptimizerKind = OptimizerKind::Adam {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
};

/// A DPO (β = 0.1, sum) + Adam (lr 3e-3) run on `data` with `policy`, in f64.
pub fn dpo_adam_spec(policy: Box<dyn Policy>, data: Dataset, epochs: usize, seed: u64) -> RunSpec {
    RunSpec {
        seed,
        epochs,
        record_every: epochs,
        policy,
        data,
        objective: Box::new(PairObjective {
            loss: Box::new(Dpo { beta: 0.1 }),
            scale: 1.0,
        }),
        optimizer: ADAM,
        lr: 3e-3,
        reference: ReferenceSettings {
            tolerance: 1e-5,
            max_steps: 100_000,
            lr: 0.01,
        },
        on_policy: None,
        precision: Precision::F64,
    }
}

/// `X` prompts, `Y` responses, uniform targets, one pair per prompt.
pub fn wide_data(x: usize, y: usize) -> Dataset {
    Dataset {
        n_prompts: x,
        n_responses: y,
        targets: vec![vec![1.0 / y as f64; y]; x],
        pairs: (0..x)
            .map(|p| Pair {
                prompt: p,
                chosen: p % y,
                rejected: (p + 1) % y,
            })
            .collect(),
        optimal: None,
    }
}

/// `experiments/bench-mlp.toml`, embedded: the benchmarked MLP takes its
/// activation and initialisation from it, which are the paper configs'
/// (`tests/bench.rs` checks that its `[policy]` is `experiments/fig2.toml`'s).
pub const BENCH_MLP_TOML: &str = include_str!("../../experiments/bench-mlp.toml");

/// The activation, initialisation scale and family of [`BENCH_MLP_TOML`],
/// with the config defaults where it leaves them out.
pub fn mlp_setting() -> (Activation, f64, MlpInit) {
    let policy = Config::from_toml_str(BENCH_MLP_TOML)
        .and_then(|c| c.resolved())
        .expect("experiments/bench-mlp.toml is a valid config (tested)")
        .policy;
    let activation = policy
        .activation
        .as_deref()
        .and_then(Activation::parse)
        .expect("a resolved MLP config names a known activation");
    let init = policy
        .init
        .as_deref()
        .and_then(MlpInit::parse)
        .expect("a resolved MLP config names a known initialisation");
    (activation, policy.init_scale.unwrap_or(1.0), init)
}

/// The policy a benchmark case trains: `tabular`, or the MLP of `width`
/// with the activation and initialisation of [`mlp_setting`].
pub fn policy_for(kind: &str, width: usize, x: usize, y: usize) -> Box<dyn Policy> {
    if kind == "tabular" {
        Box::new(Tabular {
            n_prompts: x,
            n_responses: y,
        })
    } else {
        let (activation, init_scale, init) = mlp_setting();
        Box::new(Mlp {
            n_prompts: x,
            n_responses: y,
            width,
            activation,
            init_scale,
            init,
        })
    }
}

/// The config name of `a` (the inverse of [`Activation::parse`]).
fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::Tanh => Activation::NAMES[0],
        Activation::Relu => Activation::NAMES[1],
    }
}

/// Timings per case; the fastest counts.
const REPEATS: usize = 3;

/// What the timed runs keep: the summary only.
pub const NO_RECORDS: Keep = Keep {
    metrics: false,
    snapshots: false,
};

/// A policy on a data shape: what one benchmark case trains.
#[derive(Debug, Clone, Copy)]
struct Shape<'a> {
    case: &'a str,
    kind: &'a str,
    width: usize,
    prompts: usize,
    responses: usize,
    precision: Precision,
    /// Adam but in the `paper-sgd` case.
    optimizer: OptimizerKind,
}

/// How a case's runs share the cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Threads {
    /// One after the other on one thread (a one-thread pool, so a big run
    /// is not split either).
    One,
    /// Side by side over rayon's pool, one run per thread at a time.
    Sweep,
    /// One run at a time with every thread of the pool: a big run's passes
    /// split over them ([`crate::maths::split`]).
    Split,
}

/// A rayon pool of one thread, for [`Threads::One`].
fn one_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool")
        .install(f)
}

/// Times `runs` runs of `epochs` steps, sharing the cores as `threads` says.
fn measure(sh: Shape, runs: usize, epochs: usize, threads: Threads) -> BenchRow {
    let (x, y) = (sh.prompts, sh.responses);
    let data = if x == 4 && y == 10 {
        Dataset::scenario("scenario1").expect("built-in")
    } else {
        wide_data(x, y)
    };
    let specs: Vec<RunSpec> = (0..runs)
        .map(|i| RunSpec {
            precision: sh.precision,
            optimizer: sh.optimizer,
            ..dpo_adam_spec(
                policy_for(sh.kind, sh.width, x, y),
                data.clone(),
                epochs,
                i as u64,
            )
        })
        .collect();
    let starts: Vec<_> = specs.iter().map(prepare).collect();
    // The fastest of a few repetitions: other processes only ever slow a run down.
    let mut seconds = f64::INFINITY;
    let mut summaries = Vec::new();
    for _ in 0..REPEATS {
        let starts = starts.clone();
        let t = Instant::now();
        let serial = |starts: Vec<_>| -> Vec<Summary> {
            specs
                .iter()
                .zip(starts)
                .map(|(s, st)| train_from(s, st, NO_RECORDS).summary)
                .collect()
        };
        summaries = match threads {
            Threads::One => one_thread(|| serial(starts)),
            Threads::Split => serial(starts),
            Threads::Sweep => specs
                .par_iter()
                .zip(starts)
                .map(|(s, st)| train_from(s, st, NO_RECORDS).summary)
                .collect(),
        };
        seconds = seconds.min(t.elapsed().as_secs_f64());
    }
    let identical_to_run = same_bits(&summaries[0], &train(&specs[0], Keep::ALL).summary);
    let (threads, cores_per_run) = match threads {
        Threads::One => (1, 1),
        Threads::Sweep => (rayon::current_num_threads(), 1),
        Threads::Split => (rayon::current_num_threads(), rayon::current_num_threads()),
    };
    let steps = (runs * epochs) as f64;
    BenchRow {
        case: sh.case.into(),
        policy: sh.kind.into(),
        precision: sh.precision.name().into(),
        width: if sh.kind == "tabular" { 0 } else { sh.width },
        activation: if sh.kind == "tabular" {
            String::new()
        } else {
            activation_name(mlp_setting().0).into()
        },
        prompts: x,
        responses: y,
        threads,
        runs,
        epochs,
        seconds,
        steps_per_sec: steps / seconds,
        ns_per_step: seconds * 1e9 * (threads / cores_per_run) as f64 / steps,
        stream_ns: (!sh.case.starts_with("paper") && sh.kind == "tabular")
            .then(|| stream_ns(x * y, cores_per_run > 1)),
        params: specs[0].policy.n_params(),
        peak_bytes: None,
        time_slope: None,
        memory_slope: None,
        machine: machine_name(),
        identical_to_run,
        peer: String::new(),
    }
}

/// The JAX peer (`experiments/peers/jax_dpo.py`): the `paper` cases'
/// training steps, written in JAX, run by `dpo-lab bench --jax PYTHON`.
pub const JAX_PEER_SCRIPT: &str = "experiments/peers/jax_dpo.py";

/// One row of a peer's CSV (`experiments/peers/jax_dpo.py --out`).
#[derive(Debug, Clone, Deserialize)]
struct PeerCsvRow {
    peer: String,
    version: String,
    policy: String,
    width: usize,
    runs: usize,
    epochs: usize,
    seconds: f64,
    machine: String,
}

/// A peer's CSV (read from `source`, named in errors) as `bench.csv` rows of
/// case `peer`: the same paper-toy steps in f64 (4 prompts × 10 responses,
/// the bench's MLP setting), timed by another program. `threads` is what
/// the peer had (all of them: its runtime decides how many it uses), and
/// `ns_per_step` is wall time × `threads` / steps, as for a sweep.
pub fn peer_rows(
    text: &str,
    source: &std::path::Path,
    threads: usize,
) -> crate::error::Result<Vec<BenchRow>> {
    use crate::error::Error;
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let rows = r
        .deserialize::<PeerCsvRow>()
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::csv(source, "not a peer CSV", e))?;
    if rows.is_empty() {
        return Err(Error::config("peer CSV", "has no rows"));
    }
    rows.into_iter()
        .map(|p| {
            let (kind, width) = match p.policy.as_str() {
                "tabular" => ("tabular", 0),
                "mlp" if p.width > 0 => ("mlp", p.width),
                other => {
                    return Err(Error::config(
                        "peer CSV policy",
                        format!(
                            "`{other}` (width {}); allowed: tabular, mlp with width ≥ 1",
                            p.width
                        ),
                    ))
                }
            };
            let steps = (p.runs * p.epochs) as f64;
            if !(p.seconds.is_finite() && p.seconds > 0.0 && steps > 0.0) {
                return Err(Error::config(
                    "peer CSV seconds",
                    format!(
                        "= {} for {} runs × {} epochs; must be > 0",
                        p.seconds, p.runs, p.epochs
                    ),
                ));
            }
            Ok(BenchRow {
                case: "peer".into(),
                policy: kind.into(),
                precision: Precision::F64.name().into(),
                width,
                activation: if kind == "tabular" {
                    String::new()
                } else {
                    activation_name(mlp_setting().0).into()
                },
                prompts: 4,
                responses: 10,
                threads,
                runs: p.runs,
                epochs: p.epochs,
                seconds: p.seconds,
                // From the timing (the peer's own `steps_per_sec` column is
                // the same quotient).
                steps_per_sec: steps / p.seconds,
                ns_per_step: p.seconds * 1e9 * threads as f64 / steps,
                stream_ns: None,
                params: policy_for(kind, width, 4, 10).n_params(),
                peak_bytes: None,
                time_slope: None,
                memory_slope: None,
                machine: p.machine,
                identical_to_run: false,
                peer: format!("{} {}", p.peer, p.version),
            })
        })
        .collect()
}

/// Reads a `bench.csv` written by `dpo-lab bench`.
pub fn read_csv(path: &std::path::Path) -> crate::error::Result<Vec<BenchRow>> {
    use crate::error::Error;
    let mut r = csv::Reader::from_path(path).map_err(|e| Error::csv(path, "", e))?;
    r.deserialize()
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::csv(path, "not a bench.csv", e))
}

/// The CPU model and core count of this machine, e.g. "AMD EPYC, 2 cores".
pub fn machine_name() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} cores")
}

/// Equality of every field to the bit (`Debug` prints each float exactly).
pub fn same_bits(a: &Summary, b: &Summary) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// The fewest steps a quick case times: fewer, and the first touch of a
/// run's fresh buffers (page faults) dominates a large case's time per step
/// (the 4 × 100 000 case read 2.26 ms at 5 steps against 1.30 ms at 50).
pub const MIN_QUICK_STEPS: usize = 50;

/// The epochs a case of `epochs` full-length steps times: all of them, or
/// for `quick` a tenth, but never fewer than [`MIN_QUICK_STEPS`] (nor more
/// than the full case).
pub fn case_epochs(epochs: usize, quick: bool) -> usize {
    if quick {
        (epochs / 10).max(epochs.min(MIN_QUICK_STEPS))
    } else {
        epochs
    }
}

/// Runs the whole benchmark; `quick` shortens every case about tenfold
/// (see [`case_epochs`]).
pub fn run_bench(quick: bool, mut progress: impl FnMut(&BenchRow)) -> Vec<BenchRow> {
    let len = |epochs| case_epochs(epochs, quick);
    let mut out = Vec::new();
    let mut push = |out: &mut Vec<BenchRow>, r: BenchRow| {
        progress(&r);
        out.push(r);
    };
    // The paper's toy: single run on one thread, and a 64-run sweep on all cores.
    let cases: [(&str, usize, usize); 4] = [
        ("tabular", 0, 200_000),
        ("mlp", 16, 20_000),
        ("mlp", 64, 10_000),
        ("mlp", 256, 2_000),
    ];
    let shape = |case, kind, width, prompts, responses| Shape {
        case,
        kind,
        width,
        prompts,
        responses,
        precision: Precision::F64,
        optimizer: ADAM,
    };
    for (kind, width, epochs) in cases {
        push(
            &mut out,
            measure(
                shape("paper", kind, width, 4, 10),
                4,
                len(epochs),
                Threads::One,
            ),
        );
        push(
            &mut out,
            measure(
                shape("paper", kind, width, 4, 10),
                64,
                len(epochs),
                Threads::Sweep,
            ),
        );
    }
    // The same MLP steps with plain SGD: no square root, no division, so
    // what the step costs outside the divider (the bound says it cannot be
    // faster than the divider's time; this says how much else there is).
    for (kind, width, epochs) in cases.into_iter().filter(|c| c.0 == "mlp") {
        let sh = Shape {
            optimizer: OptimizerKind::Sgd { momentum: 0.0 },
            ..shape("paper-sgd", kind, width, 4, 10)
        };
        push(&mut out, measure(sh, 4, len(epochs), Threads::One));
    }
    // The native float32 path on the same MLPs (its target: 1.8× the f64 rate).
    for (kind, width, epochs) in cases.into_iter().filter(|c| c.0 == "mlp") {
        let sh = Shape {
            precision: Precision::F32Native,
            ..shape("paper", kind, width, 4, 10)
        };
        push(&mut out, measure(sh, 4, len(epochs), Threads::One));
        push(&mut out, measure(sh, 64, len(epochs), Threads::Sweep));
    }
    // At least 500 steps even in --quick: a shorter run of the large case
    // is dominated by the first touch of its freshly allocated arrays.
    let scale_len = |epochs: usize| len(epochs).max(epochs.min(500));
    for y in [10, 1_000, 100_000] {
        let epochs = scale_len((200_000_000 / (4 * y)).clamp(500, 100_000));
        push(
            &mut out,
            measure(
                shape("scale-responses", "tabular", 0, 4, y),
                1,
                epochs,
                Threads::One,
            ),
        );
    }
    // The large case again, one run split over every thread.
    if rayon::current_num_threads() > 1 {
        let y = 100_000;
        let epochs = scale_len((200_000_000 / (4 * y)).clamp(500, 100_000));
        let sh = shape("split-responses", "tabular", 0, 4, y);
        push(&mut out, measure(sh, 1, epochs, Threads::Split));
    }
    for kind in ["tabular", "loglinear"] {
        let first = out.len();
        for x in [10, 100, 1_000, 10_000] {
            let y = 1_000;
            let epochs = len((200_000_000 / (x * y)).clamp(20, 10_000));
            // One thread: the slopes are of the work, not of a split that
            // starts at `SPLIT_MIN` logits.
            push(&mut out, one_thread(|| measure_logits(kind, x, y, epochs)));
        }
        fit_slopes(&mut out[first..]);
    }
    for x in [4, 64, 1024] {
        let epochs = len((20_000_000 / (x * 10)).clamp(20, 100_000));
        push(
            &mut out,
            measure(
                shape("scale-prompts", "tabular", 0, x, 10),
                1,
                epochs,
                Threads::One,
            ),
        );
    }
    out
}

/// The large tabular step against its streaming floors: the issue's
/// target is [`TARGET_STREAM_FACTOR`] times the one-thread floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloorRatio {
    /// Prompts × responses of the case.
    pub prompts: usize,
    /// Responses per prompt.
    pub responses: usize,
    /// Threads the step had (1: `scale-responses`; more: `split-responses`).
    pub threads: usize,
    /// Wall time of a step, ns.
    pub step_ns: f64,
    /// The one-thread streaming floor, ns.
    pub floor_one_ns: f64,
    /// The floor with the stream split over `threads`, ns (the one-thread
    /// floor for a one-thread step).
    pub floor_split_ns: f64,
}

impl FloorRatio {
    /// The step over the one-thread floor (the measure).
    pub fn ratio_one(&self) -> f64 {
        self.step_ns / self.floor_one_ns
    }
    /// The step over the floor on the same threads.
    pub fn ratio_split(&self) -> f64 {
        self.step_ns / self.floor_split_ns
    }
}

/// For the largest `scale-responses` size, its one-thread and split steps
/// against the floors.
pub fn floor_ratios(rows: &[BenchRow]) -> Vec<FloorRatio> {
    let one = rows
        .iter()
        .filter(|r| r.case == "scale-responses" && r.stream_ns.is_some())
        .max_by_key(|r| r.responses);
    let Some(one) = one else { return Vec::new() };
    let floor_one_ns = one.stream_ns.expect("filtered");
    let of = |r: &BenchRow| FloorRatio {
        prompts: r.prompts,
        responses: r.responses,
        threads: r.threads,
        step_ns: r.ns_per_step,
        floor_one_ns,
        floor_split_ns: r.stream_ns.unwrap_or(floor_one_ns),
    };
    let split = rows.iter().filter(|r| {
        r.case == "split-responses" && r.prompts == one.prompts && r.responses == one.responses
    });
    std::iter::once(of(one)).chain(split.map(of)).collect()
}

/// The native float32 path's speed against f64 on one MLP case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speedup {
    /// The MLP's width.
    pub width: usize,
    /// Runs timed together.
    pub runs: usize,
    /// Threads they ran on.
    pub threads: usize,
    /// f32-native steps/s over f64 steps/s.
    pub ratio: f64,
}

/// For every `paper` MLP case timed in both precisions, f32-native's steps/s
/// over f64's (same width, runs and threads).
pub fn f32_speedups(rows: &[BenchRow]) -> Vec<Speedup> {
    rows.iter()
        .filter(|r| r.case == "paper" && r.policy == "mlp" && r.precision == "f32-native")
        .filter_map(|n| {
            let f = rows.iter().find(|r| {
                r.case == "paper"
                    && r.policy == "mlp"
                    && r.precision == "f64"
                    && (r.width, r.runs, r.threads) == (n.width, n.runs, n.threads)
            })?;
            Some(Speedup {
                width: n.width,
                runs: n.runs,
                threads: n.threads,
                ratio: n.steps_per_sec / f.steps_per_sec,
            })
        })
        .collect()
}

/// Reads a field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`);
/// `None` where the file or field is missing (not Linux).
fn status_bytes(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// Resets the process's peak resident memory (`VmHWM`) to its current
/// resident memory; false where the kernel does not allow it.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A DPO + Adam run of the `kind` policy (`tabular`, or `loglinear` of
/// dimension 8) on `x` prompts × `y` responses: built, fitted (the
/// log-linear reference capped at 10 steps: only the step is timed) and
/// trained once for its peak memory, then timed over [`REPEATS`].
fn measure_logits(kind: &str, x: usize, y: usize, epochs: usize) -> BenchRow {
    let build = || {
        let data = wide_data(x, y);
        let policy: Box<dyn Policy> = if kind == "tabular" {
            policy_for(kind, 0, x, y)
        } else {
            Box::new(Loglinear {
                n_prompts: x,
                n_responses: y,
                dim: LOGITS_LOGLINEAR_DIM,
                freeze_responses: false,
                pair_similarity: None,
                init_scale: Loglinear::DEFAULT_INIT_SCALE,
                pairs: data.pairs.iter().map(|p| (p.chosen, p.rejected)).collect(),
            })
        };
        let mut spec = dpo_adam_spec(policy, data, epochs, 0);
        spec.reference.max_steps = 10;
        spec
    };
    // Exact heap bytes where the binary counts them (`fast::alloc`), the
    // resident-memory peak otherwise.
    let counted = crate::fast::alloc::installed();
    let in_use = crate::fast::alloc::reset_peak();
    let measured = reset_peak();
    let before = status_bytes("VmRSS");
    let spec = build();
    let start = prepare(&spec);
    let once = train_from(&spec, start.clone(), NO_RECORDS).summary;
    let peak = status_bytes("VmHWM");
    let peak_bytes = match (counted, measured, before, peak) {
        (true, ..) => Some((crate::fast::alloc::peak() - in_use) as f64),
        (false, true, Some(b), Some(p)) => Some(p - b),
        _ => None,
    };
    let mut seconds = f64::INFINITY;
    for _ in 0..REPEATS {
        let st = start.clone();
        let t = Instant::now();
        train_from(&spec, st, NO_RECORDS);
        seconds = seconds.min(t.elapsed().as_secs_f64());
    }
    let identical_to_run = same_bits(&once, &train(&spec, NO_RECORDS).summary);
    BenchRow {
        case: "scale-logits".into(),
        policy: kind.into(),
        precision: Precision::F64.name().into(),
        width: 0,
        activation: String::new(),
        prompts: x,
        responses: y,
        threads: 1,
        runs: 1,
        epochs,
        seconds,
        steps_per_sec: epochs as f64 / seconds,
        ns_per_step: seconds * 1e9 / epochs as f64,
        stream_ns: None,
        params: spec.policy.n_params(),
        peak_bytes,
        time_slope: None,
        memory_slope: None,
        machine: machine_name(),
        identical_to_run,
        peer: String::new(),
    }
}

/// Writes the log-log slopes of time and memory against the number of
/// logits into every row of `rows` (one policy's `scale-logits` rows).
fn fit_slopes(rows: &mut [BenchRow]) {
    let logits: Vec<f64> = rows
        .iter()
        .map(|r| ((r.prompts * r.responses) as f64).log10())
        .collect();
    let times: Vec<f64> = rows.iter().map(|r| r.ns_per_step.log10()).collect();
    let time_slope = ls_slope(&logits, &times);
    let mem: Option<Vec<f64>> = rows
        .iter()
        .map(|r| r.peak_bytes.filter(|b| *b > 0.0).map(f64::log10))
        .collect();
    let memory_slope = mem.and_then(|m| ls_slope(&logits, &m));
    for r in rows {
        r.time_slope = time_slope;
        r.memory_slope = memory_slope;
    }
}
