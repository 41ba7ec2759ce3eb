//! Snapshot tests of the report's sections: fixed, hand-built facts rendered
//! through their templates (`templates/`) and compared with the expected
//! Markdown in `tests/snapshots/NAME.md`. A changed sentence shows up as a
//! diff of these files; after a deliberate change, regenerate them with
//! `UPDATE_SNAPSHOTS=1 cargo test --release --test snapshots` and review the
//! diff.

mod common;

use dpo_lab::analysis::runs::{RunsTable, Stat};
use dpo_lab::engine::metrics::Summary;
use dpo_lab::present::{findings, plots, report, zoo, Facts};
use dpo_lab::studies::beyond::{
    FamiliesFacts, FamilyRow, FamilyScore, ModeRow, OnPolicyFacts, Pooled, PooledMeans, Shows,
    SimArm, SimilarityFacts,
};
use dpo_lab::studies::facts::RunSetting;
use dpo_lab::studies::field::{
    Alignment, FieldFacts, LogPoint, MlpPath, PairField, Track, TrackEnd,
};
use dpo_lab::studies::zoo::{
    ConstantDrop, Contrast, Diverged, FigureRuns, FlexIsDpo, Lost, NoLowerBound, Notes, Ranked,
    RmFit, ScoreRow, Unbounded, ZooFacts,
};
use std::collections::BTreeMap;
use std::path::Path;

/// Compares `text` with `tests/snapshots/NAME.md` (or writes it when
/// `UPDATE_SNAPSHOTS` is set).
fn snapshot(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.md"));
    common::snapshot::check(&path, &format!("{}\n", text.trim_end()));
}

fn stat(mean: f64, sd: f64, n: usize) -> Stat {
    Stat {
        mean,
        sd,
        min: mean - sd,
        max: mean + sd,
        n,
    }
}

/// The robustness study's finding sentences, as stand-ins.
fn findings() -> Facts {
    ["scenarios", "families", "similarity", "onpolicy"]
        .iter()
        .map(|k| {
            (
                format!("finding.{k}"),
                format!("(The robustness study's {k} finding.)"),
            )
        })
        .collect()
}

fn setting(policy: &str, optimizer: &str, lr: f64) -> RunSetting {
    RunSetting {
        policy: policy.into(),
        width: (policy == "mlp").then_some(256),
        activation: (policy == "mlp").then(|| "relu".into()),
        dim: (policy == "loglinear").then_some(8),
        scenario: Some("scenario1".into()),
        n_pairs: 4,
        loss: "dpo".into(),
        params: [("beta".to_string(), 0.1)].into_iter().collect(),
        reduction: "sum".into(),
        optimizer: optimizer.into(),
        lr,
        epochs: 2000,
    }
}

fn empty_table() -> RunsTable {
    RunsTable {
        header: Vec::new(),
        rows: Vec::new(),
    }
}

#[test]
fn families_section() {
    let row = |family: &str, scenario: &str, drop: f64, deg: f64| FamilyRow {
        family: family.into(),
        scenario: scenario.into(),
        drop: stat(drop, 0.1, 8),
        degradation: stat(deg, deg / 2.0, 8),
        dispersion: stat(deg / 10.0, 0.0, 8),
        peak_avg_chosen: stat(0.6, 0.03, 8),
        final_avg_chosen: stat(0.5, 0.04, 8),
    };
    let score = |family: &str, largest: f64, mean: f64, threshold: f64| FamilyScore {
        family: family.into(),
        largest,
        mean,
        shows: largest > threshold,
    };
    let shows = |name: &str, threshold: f64, unit: &str, v: [(f64, f64); 4]| Shows {
        score: name.into(),
        threshold,
        unit: unit.into(),
        families: ["tabular", "shared-bias", "loglinear", "mlp"]
            .iter()
            .zip(v)
            .map(|(f, (l, m))| score(f, l, m, threshold))
            .collect(),
    };
    let facts = FamiliesFacts {
        base_file: "fig2.toml".into(),
        setting: setting("mlp", "adam", 7.9e-5),
        loglinear_dim: Some(8),
        n_seeds: 8,
        n_runs: 128,
        rows: vec![
            row("tabular", "scenario1", 0.07, 0.0),
            row("shared-bias", "scenario1", 0.15, 0.0),
            row("loglinear", "scenario1", 0.5, 0.0),
            row("mlp", "scenario1", 24.8, 0.164),
        ],
        shows: vec![
            shows(
                "drop",
                1.0,
                "order of magnitude",
                [(1.2, 1.1), (2.4, 2.2), (3.0, 2.9), (25.0, 23.7)],
            ),
            shows(
                "degradation",
                0.05,
                "",
                [(0.0, 0.0), (0.0, 0.0), (0.001, 0.0), (0.164, 0.081)],
            ),
            shows(
                "dispersion",
                0.005,
                "",
                [(0.0, 0.0), (0.002, 0.001), (0.002, 0.001), (0.0125, 0.005)],
            ),
        ],
        runs: empty_table(),
    };
    snapshot(
        "families",
        &findings::families_markdown(&facts, &findings()).unwrap(),
    );
}

#[test]
fn similarity_section() {
    let arm = |frozen: bool, r: f64| SimArm {
        frozen,
        degradation_lowest: stat(0.0, 0.0, 16),
        degradation_highest: stat(0.465, 0.392, 16),
        peak_cosine: 0.99,
        peak_degradation: if frozen { 0.465 } else { 0.012 },
        r_cosine: r,
        rho_cosine: f64::NAN,
        r_ches: 0.38,
        rho_ches: 0.49,
        final_chosen_lowest: stat(0.885, 0.099, 16),
        final_chosen_highest: stat(0.18, 0.194, 16),
        n_high: 48,
        displaced: 18,
        cosine_moved: 0.237,
    };
    let facts = SimilarityFacts {
        setting: setting("loglinear", "adam", 0.003),
        cosines: vec![-0.9, 0.0, 0.9, 0.99],
        n_seeds: 16,
        n_runs: 128,
        high_cosine: 0.9,
        start_avg_chosen: 0.12,
        arms: vec![arm(true, 0.39), arm(false, 0.02)],
        frozen_follows_cosine: true,
        trained_ignores_cosine: true,
        points: Vec::new(),
    };
    snapshot(
        "similarity",
        &findings::similarity_markdown(&facts, &findings()).unwrap(),
    );
}

#[test]
fn on_policy_section() {
    let mode = |m: &str, deg: f64| ModeRow {
        mode: m.into(),
        drop: stat(23.7, 3.0, 32),
        degradation: stat(deg, 0.08, 32),
        dispersion: stat(0.005, 0.006, 32),
        final_avg_optimal: stat(0.45, 0.24, 32),
    };
    let facts = OnPolicyFacts {
        setting: setting("mlp", "adam", 7.9e-5),
        temperature: 0.1,
        oracle_reward: 1.0,
        start_optimal: ["scenario1", "scenario2", "scenario3", "scenario4"]
            .iter()
            .zip([0.12, 0.02, 0.12, 0.02])
            .map(|(s, v)| (s.to_string(), v))
            .collect(),
        n_runs: 128,
        modes: vec![mode("fixed pairs", 0.08), mode("every epoch", 0.36)],
        pooled: Some(Pooled {
            fixed: PooledMeans {
                degradation: 0.08,
                dispersion: 0.005,
                final_avg_optimal: 0.45,
            },
            every_epoch: PooledMeans {
                degradation: 0.36,
                dispersion: 0.0243,
                final_avg_optimal: 0.58,
            },
            optimal_by_scenario: vec![
                ("scenario1".into(), 0.51, 1.0),
                ("scenario2".into(), 0.82, 0.06),
            ],
            fixed_degradation_span: (0.0, 0.16),
            fixed_optimal_span: (0.24, 0.82),
        }),
        runs: empty_table(),
    };
    snapshot(
        "on-policy",
        &findings::on_policy_markdown(&facts, &findings()).unwrap(),
    );
}

fn score_row(method: &str, scenario: &str, drop: f64, deg: f64) -> ScoreRow {
    ScoreRow {
        method: method.into(),
        scenario: scenario.into(),
        drop: stat(drop, 0.5, 8),
        degradation: stat(deg, 0.05, 8),
        dispersion: stat(deg / 10.0, 0.004, 8),
        peak_chosen: stat(0.605, 0.035, 8),
        final_chosen: stat(0.505, 0.044, 8),
        final_unseen: stat(0.07, 0.01, 8),
        final_optimal: Some(stat(0.505, 0.044, 8)),
        diverged: 0,
    }
}

fn ranked(method: &str, value: f64, scenario: &str) -> Ranked {
    Ranked {
        method: method.into(),
        value,
        scenario: scenario.into(),
    }
}

#[test]
fn zoo_section() {
    let rows = vec![
        score_row("dpo", "scenario1", 24.8, 0.164),
        score_row("dpo", "scenario3", 25.9, 0.107),
        score_row("robust-dpo", "scenario1", 287.3, 0.517),
        score_row("apo-down", "scenario2", 52.8, 1.0),
        score_row("sppo-hard", "scenario1", 2.17, 0.0),
        score_row("rm-kl", "scenario1", 3.6, 0.0),
    ];
    let params: BTreeMap<String, BTreeMap<String, f64>> = [
        ("dpo", vec![("beta", 0.1)]),
        ("robust-dpo", vec![("beta", 0.1), ("epsilon", 0.1)]),
        ("apo-down", vec![("beta", 0.1)]),
        ("sppo-hard", vec![("beta", 0.1)]),
        ("rm-kl", vec![("beta", 0.1), ("rm_steps", 2000.0)]),
    ]
    .into_iter()
    .map(|(m, kv)| {
        (
            m.to_string(),
            kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        )
    })
    .collect();
    let notes = Notes {
        no_degradation: 0.05,
        no_dispersion: 0.005,
        huge_drop: 1e3,
        n_scenarios: 4,
        n_methods: 5,
        free: vec!["sppo-hard".into(), "rm-kl".into()],
        most_degradation: vec![
            ranked("apo-down", 1.0, "scenario2"),
            ranked("robust-dpo", 0.517, "scenario1"),
        ],
        most_dispersion: vec![ranked("robust-dpo", 0.0517, "scenario1")],
        least_drop: vec![
            ranked("sppo-hard", 2.17, "scenario1"),
            ranked("rm-kl", 3.6, "scenario1"),
        ],
        drop_below_one: Vec::new(),
        largest_drop: Some(ranked("robust-dpo", 2.5e6, "scenario1")),
        diverged: vec![Diverged {
            method: "dpo".into(),
            scenario: "scenario3".into(),
            diverged: 1,
            runs: 8,
        }],
        total_runs: 48,
        unbounded: vec![Unbounded {
            method: "robust-dpo".into(),
            drop: 2.5e6,
            no_lower_bound: Some(NoLowerBound {
                margins: vec![100.0, 1000.0, 10000.0],
                values: vec![-1.25, -12.5, -125.0],
                d_minus: 0.0125,
            }),
            scenario1: Some((0.517, 0.0407)),
            dpo_scenario1: Some((0.164, 0.0125)),
        }],
        lost: vec![Lost {
            method: "apo-down".into(),
            scenarios: vec!["scenario2".into(), "scenario3".into()],
            degradations: vec![1.0, 1.0],
            worst_final: 1.8e-27,
        }],
        flex_is_dpo: Some(FlexIsDpo {
            beta: 0.1,
            max_rel_diff: 4e-2,
            figure_beta_minus: Some(0.05),
        }),
        constant_drop: vec![ConstantDrop {
            method: "sppo-hard".into(),
            lo: 2.171,
            hi: 2.172,
            target: Some((-5.0, 2.1715)),
        }],
    };
    let contrast = Contrast {
        rm_grad_start: 0.5,
        rm_grad_end: 0.004047,
        rm_grad_imbalance: 0.0,
        rm_steps: 2000,
        rm_margin: 5.51,
        rm_preference: 0.996,
        dpo_log_ratio: (0.0, 25.8),
        rm_log_ratio: (0.03, -0.08),
        optimum_avg_chosen: 1.0,
        optimum_drop: 22.99,
        rm_tv: 0.002261,
        n_pairs: 4,
        n_responses: 10,
        rm_final_chosen: 0.9977,
        rm_drop: 3.5,
        rm_final_rejected: 4e-5,
        optimum_avg_rejected: 1e-24,
        reach: 0.99,
        rm_epoch_reached: Some(1121),
        dpo_peak: (0.568, 795),
        dpo_final_chosen: 0.445,
        collapsed: vec![("apo-down".into(), 1, 1.0)],
        signatures: vec![("apo-down".into(), 8, 8)],
        chosen_of: vec![Some(0), Some(1), Some(2), Some(3), None],
        growth: vec![("robust-dpo".into(), 2.8)],
        collapse_mass: 0.99,
    };
    let figure = vec![
        FigureRuns {
            method: "flex-dpo".into(),
            params: [("beta_plus", 0.1), ("beta_minus", 0.05)]
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            runs: [(0.036, 0.872), (0.118, 0.602)],
        },
        FigureRuns {
            method: "sft-dpo".into(),
            params: [("beta", 0.1), ("gamma", 0.1)]
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            runs: [(0.0, 0.99), (0.0, 0.989)],
        },
        FigureRuns {
            method: "dpo".into(),
            params: params["dpo"].clone(),
            runs: [(0.216, 0.445), (0.088, 0.236)],
        },
    ];
    let facts = ZooFacts {
        sweep: "all-losses".into(),
        n_runs: 48,
        n_losses: 18,
        objectives: vec!["kto".into(), "rm-kl".into()],
        rows,
        params,
        notes,
        setting: setting("mlp", "adam", 7.937e-5),
        second: "scenario3".into(),
        second_is_worst: false,
        second_degradation: 0.107,
        figure,
        rm_fit: RmFit {
            steps: 2000,
            lr: 0.1,
            l2: 0.001,
            beta: 0.1,
        },
        contrast,
        runs: Vec::new(),
        fit: None,
    };
    snapshot("loss-zoo", &zoo::zoo_markdown(&facts).unwrap());
}

#[test]
fn gradient_field_section() {
    let field = PairField::new(0.1, 0.12, 0.12);
    let track =
        |name: &str, policy: &str, optimizer: &str, end: TrackEnd, align: Alignment| Track {
            file: format!("{}.toml", name.replace(' ', "-")),
            name: name.into(),
            setting: setting(policy, optimizer, 0.1),
            field,
            points: vec![LogPoint {
                epoch: 0,
                logp: 0.12f64.ln(),
                logm: 0.12f64.ln(),
            }],
            align,
            end,
        };
    let facts = FieldFacts {
        tol_deg: 10.0,
        tracks: vec![
            track(
                "tabular SGD",
                "tabular",
                "sgd",
                TrackEnd {
                    epoch: 200,
                    p: 0.99,
                    log10_m: -5.68,
                    log10_ratio: 7.73,
                },
                Alignment {
                    steps: 200,
                    softmax: 200,
                    paper: 2,
                    softmax_line: 200,
                    paper_line: 2,
                },
            ),
            track(
                "MLP Adam",
                "mlp",
                "adam",
                TrackEnd {
                    epoch: 2000,
                    p: 0.12,
                    log10_m: -26.96,
                    log10_ratio: 27.92,
                },
                Alignment {
                    steps: 2000,
                    softmax: 522,
                    paper: 44,
                    softmax_line: 1884,
                    paper_line: 44,
                },
            ),
        ],
        mlp: Some(MlpPath {
            p_start: 0.12,
            p_end: 0.118,
            softmax_line_frac: 0.942,
            paper_line_frac: 0.022,
            median_log10_ratio: 14.7,
            m_start: 0.12,
            log10_m_end: -26.96,
            step_start: 2.8e-4,
            step_end: 2.0e-29,
            max_log_step: 0.0551,
            log10_paper_minus_start: -0.38,
            log10_paper_minus_end: 23.34,
        }),
        sgd_max_deviation: Some(1.094),
    };
    snapshot(
        "gradient-field",
        &plots::field::field_markdown(&facts).unwrap(),
    );
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> RunsTable {
    RunsTable {
        header: header.iter().map(|s| s.to_string()).collect(),
        rows,
    }
}

#[test]
fn report_sections() {
    // Two scenarios, two seeds, a 2 × 2 phase grid: enough for every
    // sentence to be written.
    let scen = ["scenario1", "scenario2"];
    let mut phase = Vec::new();
    for (i, c) in [0.02, 0.12].iter().enumerate() {
        for (j, r) in [0.02, 0.12].iter().enumerate() {
            for s in 0..2 {
                let k = (i * 2 + j) as f64 + s as f64 * 0.1;
                phase.push(vec![
                    format!("{c}"),
                    format!("{r}"),
                    format!("{}", 20.0 + k),
                    format!("{}", 0.05 * k),
                    format!("{}", 0.002 * k),
                ]);
            }
        }
    }
    let mut beta = Vec::new();
    let mut flex = Vec::new();
    let mut sft = Vec::new();
    let mut losses = Vec::new();
    for (i, sc) in scen.iter().enumerate() {
        for s in 0..2u64 {
            let e = s as f64 * 0.01;
            for b in [0.01f64, 0.1, 1.0] {
                beta.push(vec![
                    sc.to_string(),
                    format!("{b}"),
                    format!("{}", 2.0 / b + e),
                    format!("{}", 0.4 / (1.0 + 10.0 * b) + e),
                    format!("{}", 0.02 / (1.0 + 100.0 * b) + e / 10.0),
                ]);
            }
            for bm in [0.02, 0.1] {
                flex.push(vec![
                    sc.to_string(),
                    format!("{bm}"),
                    format!("{}", bm + e),
                    format!("{}", bm / 10.0),
                    s.to_string(),
                ]);
            }
            for g in [1e-9, 0.1] {
                sft.push(vec![
                    sc.to_string(),
                    format!("{g}"),
                    format!("{}", if g < 0.01 { 0.1 + e } else { 0.0 }),
                    format!("{}", 0.001 + e / 10.0),
                    s.to_string(),
                ]);
            }
            for l in ["dpo", "ipo", "slic"] {
                losses.push(vec![
                    l.to_string(),
                    sc.to_string(),
                    format!("{}", 20.0 + i as f64 + e),
                    format!("{}", 0.1 + e),
                    format!("{}", 0.01 + e / 10.0),
                    format!("{}", 0.6 - i as f64 * 0.1),
                    (l == "ipo" && s == 1).to_string(),
                    s.to_string(),
                ]);
            }
        }
    }
    let phase = table(
        &[
            "data.chosen_start",
            "data.rejected_start",
            "drop",
            "degradation",
            "dispersion",
        ],
        phase,
    );
    let beta = table(
        &[
            "data.scenario",
            "loss.beta",
            "drop",
            "degradation",
            "dispersion",
        ],
        beta,
    );
    let flex = table(
        &[
            "data.scenario",
            "loss.beta_minus",
            "degradation",
            "dispersion",
            "run_seed",
        ],
        flex,
    );
    let sft = table(
        &[
            "data.scenario",
            "loss.gamma",
            "degradation",
            "dispersion",
            "run_seed",
        ],
        sft,
    );
    let losses = table(
        &[
            "loss",
            "data.scenario",
            "drop",
            "degradation",
            "dispersion",
            "peak_avg_chosen",
            "diverged",
            "run_seed",
        ],
        losses,
    );
    let mlp = Summary {
        drop: 24.8,
        degradation: 0.22,
        dispersion: 0.0153,
        peak_avg_chosen: 0.568,
        peak_epoch: 795,
        final_avg_chosen: 0.445,
        start_avg_unseen: 0.095,
        min_avg_unseen: 0.0541,
        min_avg_unseen_epoch: 795,
        final_avg_unseen: 0.0694,
        ..Summary::default()
    };
    let tabular = Summary {
        drop: 0.1,
        peak_avg_chosen: 0.14,
        peak_epoch: 2000,
        final_avg_chosen: 0.14,
        ..Summary::default()
    };
    let seeds: Vec<u64> = (16..32).collect();
    let f = findings();
    let text = report::report_markdown(&report::ReportInputs {
        fig2_mlp: &mlp,
        fig2_tabular: &tabular,
        fig2_start_avg_chosen: 0.12,
        fig2_grad_ratio_growth: 25.8,
        fig2_setting: "MLP (width 256, relu) · scenario 1 · DPO (β = 0.1) · seed 0",
        paper_seeds: &seeds,
        base_config: "seed = 0\nepochs = 2000\n\n[policy]\nkind = \"tabular\"\n\n[data]\nscenario = \"scenario1\"\n\n[loss]\nname = \"dpo\"\nbeta = 0.1\n\n[optimizer]\nname = \"adam\"\nlr = 0.0001\n",
        phase: &phase,
        beta: &beta,
        flex: &flex,
        sft: &sft,
        losses: &losses,
        findings: &f,
    })
    .unwrap();
    snapshot("report", &text);
}
