//! Whole runs: determinism (library and binary), a golden tabular run checked
//! against an independent re-implementation, metric invariants at epoch 0,
//! the summary's D-scores against the metrics rows, and divergence.

use dpo_lab::engine::metrics::MetricsRow;
use dpo_lab::engine::train::{train, Keep, RunResult};
use dpo_lab::io::config::{Config, DataConfig};
use dpo_lab::io::output::csv_bytes;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const LN2: f64 = std::f64::consts::LN_2;

fn experiment(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(name);
    Config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `experiments/fig2.toml` cut to `epochs` epochs.
fn fig2_short(epochs: i64) -> Config {
    let mut c = experiment("fig2.toml");
    c.epochs = epochs;
    c
}

fn run(c: &Config) -> RunResult {
    train(&c.resolved().unwrap().build().unwrap(), Keep::ALL)
}

fn run_toml(toml: &str) -> RunResult {
    run(&Config::from_toml_str(toml).unwrap())
}

/// The CSV bytes a run writes.
fn csvs(r: &RunResult) -> [Vec<u8>; 3] {
    [
        csv_bytes(&r.metrics),
        csv_bytes(&r.prob_rows()),
        csv_bytes(std::slice::from_ref(&r.summary)),
    ]
}

/// A fresh, unique path under the system temp dir (not created).
fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dpo-lab-test-runs-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dpo-lab"))
}

const FILES: [&str; 4] = ["metrics.csv", "probs.csv", "summary.csv", "config.toml"];

// ---------------------------------------------------------------------------
// Determinism.

#[test]
fn library_runs_are_deterministic() {
    for c in [fig2_short(200), experiment("tabular-dpo-sgd.toml")] {
        let (a, b) = (run(&c), run(&c));
        assert_eq!(csvs(&a), csvs(&b), "two runs of one config differ");
        assert!(a.metrics.len() > 100);
    }
}

#[test]
fn binary_runs_are_deterministic_and_match_the_library() {
    let dir = temp_path("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = fig2_short(150);
    let cfg_path = dir.join("fig2-short.toml");
    std::fs::write(&cfg_path, cfg.to_toml_string()).unwrap();
    let outs: Vec<PathBuf> = (0..2).map(|i| dir.join(format!("out{i}"))).collect();
    for o in &outs {
        let st = bin()
            .args([
                "run".as_ref(),
                cfg_path.as_os_str(),
                "--out".as_ref(),
                o.as_os_str(),
            ])
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    let lib = csvs(&run(&cfg));
    for (i, f) in FILES.iter().enumerate() {
        let a = std::fs::read(outs[0].join(f)).unwrap();
        let b = std::fs::read(outs[1].join(f)).unwrap();
        assert_eq!(a, b, "{f} differs between two runs");
        if i < 3 {
            assert_eq!(a, lib[i], "{f}: the binary and the library disagree");
        }
    }
    // The resolved config states every value: re-running it reproduces the run.
    let again = dir.join("again");
    let st = bin()
        .args([
            "run".as_ref(),
            outs[0].join("config.toml").as_os_str(),
            "--out".as_ref(),
            again.as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(st.status.success());
    for f in FILES {
        assert_eq!(
            std::fs::read(outs[0].join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f}: re-running the resolved config changed it"
        );
    }
    // And no temporary files are left behind.
    let mut names: Vec<_> = std::fs::read_dir(&outs[0])
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The resolved config is a fixed point and builds the same run.
#[test]
fn resolved_config_round_trips() {
    for c in [experiment("fig2.toml"), experiment("tabular-dpo-sgd.toml")] {
        let r = c.resolved().unwrap();
        let back = Config::from_toml_str(&r.to_toml_string()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.resolved().unwrap(), r);
    }
}

// ---------------------------------------------------------------------------
// The golden tabular run, against a plain re-implementation.

struct Golden {
    /// Probabilities `[x][a]` after each epoch 0..=epochs.
    probs: Vec<[[f64; 10]; 4]>,
    ref_logp: [[f64; 10]; 4],
}

const TARGET_S1: [f64; 10] = [0.12, 0.12, 0.12, 0.12, 0.12, 0.12, 0.12, 0.12, 0.03, 0.01];
const PAIRS: [(usize, usize, usize); 4] = [(0, 0, 4), (1, 1, 6), (2, 2, 7), (3, 3, 5)];

fn naive_log_softmax(s: &[f64; 10]) -> [f64; 10] {
    let z: f64 = s.iter().map(|v| v.exp()).sum();
    s.map(|v| v - z.ln())
}

/// Tabular softmax, logits start at ln(target), DPO summed over the pairs,
/// plain SGD: `θ[x][a+] += lr β σ(-βΔ)`, `θ[x][a-] -= lr β σ(-βΔ)`.
fn golden(beta: f64, lr: f64, epochs: usize) -> Golden {
    let mut theta = [TARGET_S1.map(f64::ln); 4];
    let ref_logp = theta.map(|row| naive_log_softmax(&row));
    let mut probs = Vec::new();
    for epoch in 0..=epochs {
        let logp = theta.map(|row| naive_log_softmax(&row));
        probs.push(logp.map(|row| row.map(f64::exp)));
        if epoch == epochs {
            break;
        }
        for &(x, c, r) in &PAIRS {
            let delta = (logp[x][c] - ref_logp[x][c]) - (logp[x][r] - ref_logp[x][r]);
            let g = beta / (1.0 + (beta * delta).exp());
            theta[x][c] += lr * g;
            theta[x][r] -= lr * g;
        }
    }
    Golden { probs, ref_logp }
}

fn tabular_sgd() -> (Config, f64, f64) {
    let c = experiment("tabular-dpo-sgd.toml");
    assert_eq!(c.policy.kind, "tabular");
    assert_eq!(c.data.scenario.as_deref(), Some("scenario1"));
    assert_eq!(c.loss.name, "dpo");
    assert_eq!(c.loss.reduction.as_deref().unwrap_or("sum"), "sum");
    assert_eq!(c.optimizer.name, "sgd");
    assert_eq!(c.optimizer.momentum.unwrap_or(0.0), 0.0);
    assert_eq!(c.record_every.unwrap_or(1), 1);
    let beta = c.loss.params.get("beta").copied().unwrap_or(0.1);
    let lr = c.optimizer.lr;
    (c, beta, lr)
}

#[test]
fn tabular_dpo_sgd_matches_an_independent_implementation() {
    let (c, beta, lr) = tabular_sgd();
    let epochs = c.epochs as usize;
    assert!(epochs >= 200);
    let r = run(&c);
    let g = golden(beta, lr, epochs);
    for e in [0, 1, 2, 200, epochs] {
        let snap = r.snapshot(e).unwrap();
        for x in 0..4 {
            for a in 0..10 {
                let (p, q) = (snap[x * 10 + a].exp(), g.probs[e][x][a]);
                assert!(
                    (p - q).abs() <= 1e-12,
                    "epoch {e} prompt {x} response {a}: {p} vs golden {q}"
                );
            }
        }
    }
    // Every metric of a few epochs, recomputed from the golden probabilities.
    for e in [0, 1, 2, 200] {
        let m = &r.metrics[e];
        assert_eq!(m.epoch, e);
        let p = &g.probs[e];
        let n = 4.0;
        let pp: Vec<f64> = PAIRS.iter().map(|&(x, c, _)| p[x][c]).collect();
        let pm: Vec<f64> = PAIRS.iter().map(|&(x, _, r)| p[x][r]).collect();
        let deltas: Vec<f64> = PAIRS
            .iter()
            .map(|&(x, c, r)| (p[x][c].ln() - g.ref_logp[x][c]) - (p[x][r].ln() - g.ref_logp[x][r]))
            .collect();
        let gs: Vec<f64> = deltas
            .iter()
            .map(|d| beta / (1.0 + (beta * d).exp()))
            .collect();
        let unseen: f64 = PAIRS
            .iter()
            .map(|&(x, c, r)| {
                (0..10)
                    .filter(|&a| a != c && a != r)
                    .map(|a| p[x][a])
                    .sum::<f64>()
                    / 8.0
            })
            .sum::<f64>()
            / n;
        let strict: f64 = (0..4).map(|x| (p[x][8] + p[x][9]) / 2.0).sum::<f64>() / 4.0;
        let kl: f64 = (0..4)
            .map(|x| {
                (0..10)
                    .map(|a| p[x][a] * (p[x][a].ln() - g.ref_logp[x][a]))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / 4.0;
        let loss: f64 = deltas.iter().map(|d| (1.0 + (-beta * d).exp()).ln()).sum();
        let checks: [(&str, f64, f64); 15] = [
            ("loss", m.loss, loss),
            ("avg_chosen", m.avg_chosen, pp.iter().sum::<f64>() / n),
            (
                "min_chosen",
                m.min_chosen,
                pp.iter().copied().fold(1.0, f64::min),
            ),
            ("avg_rejected", m.avg_rejected, pm.iter().sum::<f64>() / n),
            (
                "max_rejected",
                m.max_rejected,
                pm.iter().copied().fold(0.0, f64::max),
            ),
            ("avg_unseen", m.avg_unseen, unseen),
            ("avg_unseen_strict", m.avg_unseen_strict.unwrap(), strict),
            (
                "grad_pi_plus",
                m.grad_pi_plus.unwrap(),
                gs.iter().zip(&pp).map(|(g, p)| g / p).sum::<f64>() / n,
            ),
            (
                "grad_pi_minus",
                m.grad_pi_minus.unwrap(),
                gs.iter().zip(&pm).map(|(g, p)| g / p).sum::<f64>() / n,
            ),
            (
                "log10_grad_pi_minus",
                m.log10_grad_pi_minus.unwrap(),
                (gs.iter().zip(&pm).map(|(g, p)| g / p).sum::<f64>() / n).log10(),
            ),
            (
                "logp_avg_rejected",
                m.logp_avg_rejected,
                (pm.iter().sum::<f64>() / n).ln(),
            ),
            (
                "logp_min_chosen",
                m.logp_min_chosen,
                pp.iter().copied().fold(1.0, f64::min).ln(),
            ),
            (
                "logit_grad_norm",
                m.logit_grad_norm,
                (2.0 * gs.iter().map(|g| g * g).sum::<f64>()).sqrt(),
            ),
            (
                "reward_margin",
                m.reward_margin,
                deltas.iter().sum::<f64>() / n,
            ),
            ("kl", m.kl, kl),
        ];
        for (name, got, want) in checks {
            assert!(
                (got - want).abs() <= 1e-11 * (1.0 + want.abs()),
                "epoch {e}: {name} = {got}, independent {want}"
            );
        }
    }
}

/// The paper's shape in the tabular run: the rejected likelihood falls and
/// the chosen one rises at every epoch; the other responses are untouched in
/// logit, so the KL and the margin grow.
#[test]
fn tabular_dpo_sgd_shape() {
    let (c, _, _) = tabular_sgd();
    let r = run(&c);
    let m = &r.metrics;
    assert_eq!(m.len(), c.epochs as usize + 1);
    for w in m.windows(2) {
        assert!(
            w[1].avg_rejected < w[0].avg_rejected,
            "epoch {}",
            w[1].epoch
        );
        assert!(
            w[1].max_rejected < w[0].max_rejected,
            "epoch {}",
            w[1].epoch
        );
        assert!(w[1].avg_chosen > w[0].avg_chosen, "epoch {}", w[1].epoch);
        assert!(w[1].min_chosen > w[0].min_chosen, "epoch {}", w[1].epoch);
        assert!(w[1].reward_margin > w[0].reward_margin);
        assert!(w[1].loss < w[0].loss);
        assert!(w[1].grad_pi_minus > w[0].grad_pi_minus);
        assert!(w[1].grad_pi_plus < w[0].grad_pi_plus);
    }
    let last = m.last().unwrap();
    assert!(last.avg_rejected < 0.5 * m[0].avg_rejected);
    assert!(last.avg_chosen > m[0].avg_chosen);
    assert!(!r.summary.diverged);
}

// ---------------------------------------------------------------------------
// Invariants at epoch 0.

fn check_epoch0(m: &MetricsRow, tol: f64) {
    assert_eq!(m.epoch, 0);
    assert!(
        (m.avg_unseen - 0.095).abs() <= tol,
        "avg_unseen {}",
        m.avg_unseen
    );
    let strict = m.avg_unseen_strict.unwrap();
    assert!((strict - 0.02).abs() <= tol, "avg_unseen_strict {strict}");
    for v in [m.avg_chosen, m.min_chosen, m.avg_rejected, m.max_rejected] {
        assert!((v - 0.12).abs() <= tol, "{m:?}");
    }
    // π_θ = π_0 exactly at epoch 0, whatever the policy.
    assert_eq!(m.kl, 0.0);
    assert_eq!(m.reward_margin, 0.0);
    assert!((m.loss - 4.0 * LN2).abs() <= 1e-14, "loss {}", m.loss);
    // |∂f/∂l±| = β σ(0) = β/2, so |∂f/∂π±| = (β/2)/0.12 for β = 0.1.
    let gp = 0.05 / 0.12;
    assert!((m.grad_pi_plus.unwrap() - gp).abs() <= 1e-3 * gp);
    assert!((m.grad_pi_minus.unwrap() - gp).abs() <= 1e-3 * gp);
    assert!((m.logit_grad_norm - 0.05 * 8f64.sqrt()).abs() <= 1e-12);
}

#[test]
fn epoch0_invariants() {
    let (c, beta, _) = tabular_sgd();
    assert_eq!(beta, 0.1);
    check_epoch0(&run(&c).metrics[0], 1e-9);
    // The MLP's reference is fitted to 1e-5.
    let mut m = fig2_short(3);
    m.loss.params.insert("beta".into(), 0.1);
    m.loss.reduction = Some("sum".into());
    m.data = DataConfig {
        scenario: Some("scenario1".into()),
        ..DataConfig::default()
    };
    check_epoch0(&run(&m).metrics[0], 2e-5);
}

// ---------------------------------------------------------------------------
// The summary against the metrics rows.

fn check_summary(r: &RunResult) {
    let m = &r.metrics;
    let s = &r.summary;
    let (first, last) = (&m[0], m.last().unwrap());
    assert_eq!(s.epochs_run, last.epoch);
    let drop = (first.avg_rejected.log10()) - (last.avg_rejected.log10());
    assert!(
        (s.drop - drop).abs() <= 1e-9 * (1.0 + drop.abs()),
        "drop {} vs {drop}",
        s.drop
    );
    let drop_logs = (first.logp_avg_rejected - last.logp_avg_rejected) / std::f64::consts::LN_10;
    assert!((s.drop - drop_logs).abs() <= 1e-12 * (1.0 + drop.abs()));
    let (peak_epoch, peak) = m
        .iter()
        .map(|r| (r.epoch, r.avg_chosen))
        .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
    assert_eq!(s.peak_avg_chosen, peak);
    assert_eq!(s.peak_epoch, peak_epoch);
    assert_eq!(s.final_avg_chosen, last.avg_chosen);
    assert!((s.degradation - (peak - last.avg_chosen) / peak).abs() <= 1e-15);
    let (min_epoch, min_unseen) = m
        .iter()
        .map(|r| (r.epoch, r.avg_unseen))
        .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
    assert_eq!(s.min_avg_unseen, min_unseen);
    assert_eq!(s.min_avg_unseen_epoch, min_epoch);
    assert_eq!(s.final_avg_unseen, last.avg_unseen);
    assert_eq!(s.start_avg_unseen, first.avg_unseen);
    assert!((s.dispersion - (last.avg_unseen - min_unseen)).abs() <= 1e-15);
    assert_eq!(s.final_loss, last.loss);
    assert_eq!(s.start_avg_rejected, first.avg_rejected);
    assert_eq!(s.final_avg_rejected, last.avg_rejected);
    assert_eq!(s.final_logp_avg_rejected, last.logp_avg_rejected);
    assert_eq!(s.ref_max_abs_err, r.reference.max_abs_err);
    assert_eq!(s.ref_steps, r.reference.steps);
    assert!(s.degradation >= 0.0 && s.dispersion >= 0.0);
}

/// A small MLP run long enough for the chosen curve to peak and fall and for
/// the unseen mass to dip and recover, so every D-score is non-trivial.
const MLP_RUN: &str = r#"
seed = 0
epochs = 600
record_every = 1
[policy]
kind = "mlp"
width = 16
activation = "relu"
init_scale = 2.0
[data]
scenario = "scenario1"
[loss]
name = "dpo"
beta = 0.1
[optimizer]
name = "adam"
lr = 0.003
"#;

#[test]
fn summary_matches_metrics_rows() {
    let r = run_toml(MLP_RUN);
    check_summary(&r);
    let s = &r.summary;
    assert!(s.drop > 5.0, "{s:?}");
    assert!(s.degradation > 0.01, "{s:?}");
    assert!(s.dispersion > 1e-3, "{s:?}");
    assert!(s.peak_epoch > 0 && s.peak_epoch < 600);
    check_summary(&run(&experiment("tabular-dpo-sgd.toml")));
    check_summary(&run(&fig2_short(100)));
}

/// The summary follows every epoch whatever is recorded; recorded epochs are
/// the multiples of `record_every` and the last.
#[test]
fn record_every_and_keep_do_not_change_the_summary() {
    let mut c = Config::from_toml_str(MLP_RUN).unwrap();
    c.epochs = 200;
    let full = run(&c);
    c.record_every = Some(7);
    let sparse = run(&c);
    assert_eq!(full.summary, sparse.summary);
    let epochs: Vec<usize> = sparse.metrics.iter().map(|m| m.epoch).collect();
    let mut want: Vec<usize> = (0..=200).step_by(7).collect();
    want.push(200);
    assert_eq!(epochs, want);
    for m in &sparse.metrics {
        assert_eq!(m, &full.metrics[m.epoch]);
        assert_eq!(sparse.snapshot(m.epoch), full.snapshot(m.epoch));
    }
    let spec = c.resolved().unwrap().build().unwrap();
    let bare = train(
        &spec,
        Keep {
            metrics: false,
            snapshots: false,
        },
    );
    assert!(bare.metrics.is_empty() && bare.snapshots.is_empty());
    assert_eq!(bare.summary, full.summary);
}

/// `mean` with SGD at 4× the learning rate is `sum` exactly (4 pairs; the
/// scale is a power of two), and its loss is a quarter.
#[test]
fn mean_reduction_is_sum_scaled() {
    for policy in ["kind = \"tabular\"", "kind = \"mlp\"\nwidth = 8"] {
        let toml = |red: &str, lr: f64| {
            format!(
                "epochs = 50\n[policy]\n{policy}\n[data]\nscenario = \"scenario2\"\n\
                 [reference]\ntolerance = 1e-3\n\
                 [loss]\nname = \"sft-dpo\"\nreduction = \"{red}\"\n\
                 [optimizer]\nname = \"sgd\"\nlr = {lr:?}\n"
            )
        };
        let sum = run_toml(&toml("sum", 0.5));
        let mean = run_toml(&toml("mean", 2.0));
        assert_eq!(sum.snapshots, mean.snapshots, "{policy}");
        for (a, b) in sum.metrics.iter().zip(&mean.metrics) {
            assert!((a.loss - 4.0 * b.loss).abs() <= 1e-14 * a.loss.abs());
        }
    }
}

// ---------------------------------------------------------------------------
// Divergence.

fn diverging(loss: &str, lr: &str, epochs: usize) -> RunResult {
    run_toml(&format!(
        "epochs = {epochs}\n[policy]\nkind = \"tabular\"\n[data]\nscenario = \"scenario1\"\n\
         [loss]\nname = \"{loss}\"\n[optimizer]\nname = \"sgd\"\nlr = {lr}\n"
    ))
}

fn all_finite(m: &MetricsRow) -> bool {
    let v = [
        m.loss,
        m.avg_chosen,
        m.min_chosen,
        m.avg_rejected,
        m.max_rejected,
        m.avg_unseen,
        m.avg_unseen_strict.unwrap_or(0.0),
        m.grad_pi_plus.unwrap_or(0.0),
        m.grad_pi_minus.unwrap_or(0.0),
        m.log10_grad_pi_plus.unwrap_or(0.0),
        m.log10_grad_pi_minus.unwrap_or(0.0),
        m.logp_avg_chosen,
        m.logp_min_chosen,
        m.logp_avg_rejected,
        m.logp_max_rejected,
        m.logp_avg_unseen,
        m.logit_grad_norm,
        m.reward_margin,
        m.kl,
    ];
    v.iter().all(|x| x.is_finite())
}

#[test]
fn divergence_stops_the_run_and_records_nothing_non_finite() {
    // IPO's square overflows after one step of size 1e300.
    let r = diverging("ipo", "1e300", 20);
    let s = &r.summary;
    assert!(s.diverged);
    assert_eq!(s.diverged_epoch, Some(1));
    assert_eq!(s.epochs_run, 0);
    assert_eq!(r.metrics.len(), 1);
    assert_eq!(r.snapshots.len(), 1);
    assert!(r.metrics.iter().all(all_finite), "{:?}", r.metrics);
    assert!(r
        .snapshots
        .iter()
        .all(|(_, l)| l.iter().all(|v| v.is_finite())));
    // The summary (all but the optional field) is finite too.
    let line = String::from_utf8(csv_bytes(std::slice::from_ref(s))).unwrap();
    assert!(
        !line.to_lowercase().contains("nan") && !line.contains("inf"),
        "{line}"
    );
    check_summary(&r);
    // A run that does not diverge says so.
    let ok = run(&experiment("tabular-dpo-sgd.toml"));
    assert!(!ok.summary.diverged && ok.summary.diverged_epoch.is_none());
}

/// The binary reports a divergence and still writes the run (exit 0).
#[test]
fn binary_reports_divergence() {
    let dir = temp_path("div");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        "epochs = 20\n[policy]\nkind = \"tabular\"\n[data]\nscenario = \"scenario1\"\n\
         [loss]\nname = \"ipo\"\n[optimizer]\nname = \"sgd\"\nlr = 1e300\n",
    )
    .unwrap();
    let out = dir.join("out");
    let o = bin()
        .args([
            "run".as_ref(),
            cfg.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("DIVERGED at epoch 1"));
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(summary.contains("true,1,"), "{summary}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A slower divergence (IPO at lr 1000 runs ~40 finite epochs first): the
/// rejected log-probability reaches -2e4 within a step, and `|∂f/∂π-|` =
/// `|∂f/∂l-| / π-` overflows f64 although the state is finite.
#[test]
fn slow_divergence_records_nothing_non_finite() {
    let r = diverging("ipo", "1e3", 60);
    assert!(r.summary.diverged);
    for m in &r.metrics {
        assert!(all_finite(m), "epoch {}: {m:?}", m.epoch);
    }
    // SLiC with a satisfied hinge and eta > 0: d_minus = 0 exactly.
    let r = diverging("slic", "1e3", 5);
    for m in &r.metrics {
        assert!(all_finite(m), "epoch {}: {m:?}", m.epoch);
    }
}

/// Finite logits whose spread exceeds f64's range give a log-softmax of
/// -inf; the run should count that as divergence.
#[test]
fn overflowing_log_softmax_is_divergence() {
    let r = diverging("slic", "1.5e308", 3);
    assert!(r.metrics.iter().all(all_finite), "{:?}", r.metrics);
    assert!(r.summary.drop.is_finite());
}

/// Logits beyond `±LOGIT_LIMIT` are divergence even when the loss, the
/// log-probabilities and the gradient are all finite. The check rides on the
/// softmax's max pass; it must stop the run at the same epoch whether the
/// logits are read in place (tabular, f64), copied (log-linear) or rounded
/// to f32. SFT with a huge SGD step crosses the limit in one update and then
/// has a zero gradient; with Adam the steps shrink and it crosses later.
#[test]
fn logits_beyond_the_limit_are_divergence() {
    for precision in ["f64", "f32"] {
        for (policy, optimizer, want) in [
            ("tabular", "name = \"sgd\"\nlr = 1e17", 1),
            ("loglinear", "name = \"sgd\"\nlr = 1e17", 1),
            ("tabular", "name = \"adam\"\nlr = 2e14", 17),
        ] {
            let r = run_toml(&format!(
                "epochs = 20\nprecision = \"{precision}\"\n[policy]\nkind = \"{policy}\"\n\
                 [data]\nscenario = \"scenario1\"\n[loss]\nname = \"sft\"\n[optimizer]\n{optimizer}\n"
            ));
            let s = &r.summary;
            let case = format!("{policy}, {precision}, {optimizer}");
            assert_eq!(s.diverged_epoch, Some(want), "{case}");
            assert_eq!(s.epochs_run, want - 1, "{case}");
            assert!(s.final_loss.is_finite(), "{case}");
            assert!(r.metrics.iter().all(all_finite), "{case}");
        }
    }
}

/// DPO, except that the gradient holds an infinity from the `at`-th
/// evaluation on while the loss stays finite.
#[derive(Debug)]
struct InfiniteGradFrom {
    inner: Box<dyn dpo_lab::maths::objective::Objective>,
    at: usize,
    calls: std::sync::atomic::AtomicUsize,
}

impl dpo_lab::maths::objective::Objective for InfiniteGradFrom {
    fn eval(
        &self,
        s: &dpo_lab::maths::loss::State,
        dlogits: &mut [f64],
        pair_grads: &mut [dpo_lab::maths::loss::LossEval],
    ) -> f64 {
        // The loop hands over a zeroed gradient every epoch.
        assert!(dlogits.iter().all(|&g| g == 0.0));
        let loss = self.inner.eval(s, dlogits, pair_grads);
        if self.calls.fetch_add(1, Ordering::Relaxed) >= self.at {
            dlogits[3] = f64::INFINITY;
        }
        loss
    }
}

/// A non-finite gradient with a finite loss stops the run at that epoch and
/// keeps nothing of it, although the loop checks the gradient only after the
/// update has read it (in the pass that zeroes it for the next epoch).
#[test]
fn non_finite_gradient_is_divergence() {
    for (precision, policy) in [
        (dpo_lab::maths::precision::Precision::F64, "tabular"),
        (dpo_lab::maths::precision::Precision::F32, "tabular"),
        (dpo_lab::maths::precision::Precision::F64, "loglinear"),
    ] {
        let mut spec = Config::from_toml_str(&format!(
            "epochs = 10\nrecord_every = 1\n[policy]\nkind = \"{policy}\"\n[data]\nscenario = \"scenario1\"\n\
             [loss]\nname = \"dpo\"\n[optimizer]\nname = \"adam\"\nlr = 0.01\n"
        ))
        .unwrap()
        .build()
        .unwrap();
        spec.precision = precision;
        let inner = std::mem::replace(
            &mut spec.objective,
            Box::new(dpo_lab::maths::objective::PairObjective {
                loss: Box::new(dpo_lab::maths::loss::dpo::Dpo { beta: 0.1 }),
                scale: 1.0,
            }),
        );
        spec.objective = Box::new(InfiniteGradFrom {
            inner,
            at: 4,
            calls: AtomicUsize::new(0),
        });
        let r = train(&spec, Keep::ALL);
        let s = &r.summary;
        assert_eq!(s.diverged_epoch, Some(4), "{policy} {precision:?}");
        assert_eq!(s.epochs_run, 3);
        assert_eq!(r.metrics.len(), 4);
        assert_eq!(r.snapshots.len(), 4);
        assert!(r.metrics.iter().all(all_finite));
    }
}
