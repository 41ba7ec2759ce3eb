//! The benchmark times the runs `dpo-lab run` performs: the configs in
//! `experiments/bench-*.toml` give, bit for bit, the benchmarked results.

use dpo_lab::engine::train::{prepare, train, train_from, Keep};
use dpo_lab::io::config::Config;
use dpo_lab::maths::data::Dataset;
use dpo_lab::studies::bench::{dpo_adam_spec, policy_for, same_bits, NO_RECORDS};
use std::path::Path;

fn check(file: &str, kind: &str, width: usize, epochs: i64) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(file);
    let mut cfg = Config::load(&path).unwrap();
    cfg.epochs = epochs;
    cfg.record_every = Some(epochs);
    let from_config = train(&cfg.resolved().unwrap().build().unwrap(), Keep::ALL);

    let data = Dataset::scenario("scenario1").unwrap();
    let spec = dpo_adam_spec(policy_for(kind, width, 4, 10), data, epochs as usize, 0);
    let timed = train_from(&spec, prepare(&spec), NO_RECORDS);
    assert!(
        same_bits(&timed.summary, &from_config.summary),
        "{file}: {:?} vs {:?}",
        timed.summary,
        from_config.summary
    );
    assert!(!timed.summary.diverged && timed.summary.drop > 0.5);
}

#[test]
fn benchmarked_mlp_run_is_the_config_run() {
    check("bench-mlp.toml", "mlp", 64, 400);
}

#[test]
fn benchmarked_tabular_run_is_the_config_run() {
    check("bench-tabular.toml", "tabular", 0, 2000);
}

/// The benchmark times the network the figures use: `bench-mlp.toml`'s
/// policy (which the benchmark reads) is `fig2.toml`'s but for the width,
/// which the benchmark sweeps.
#[test]
fn benchmarked_mlp_is_the_figures_mlp() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let policy = |f: &str| {
        let mut p = Config::load(&dir.join(f)).unwrap().policy;
        p.width = None;
        p
    };
    let fig2 = policy("fig2.toml");
    assert_eq!(policy("bench-mlp.toml"), fig2);
    let (activation, init_scale, init) = dpo_lab::studies::bench::mlp_setting();
    assert_eq!(
        Some(init),
        dpo_lab::maths::policy::MlpInit::parse(fig2.init.as_deref().unwrap_or("uniform"))
    );
    let fig2_activation = fig2.activation.as_deref().unwrap_or("tanh");
    assert_eq!(
        Some(activation),
        dpo_lab::maths::policy::Activation::parse(fig2_activation)
    );
    assert_eq!(Some(init_scale), fig2.init_scale);
}

/// `bench --quick` shortens the long cases tenfold but never times a case
/// over fewer than `MIN_QUICK_STEPS` steps, where first-touch page faults
/// of the large response spaces would dominate the time per step.
#[test]
fn quick_bench_never_times_too_few_steps() {
    use dpo_lab::studies::bench::{case_epochs, MIN_QUICK_STEPS};
    // The full lengths of bench's cases (paper toy; scale cases 4 × 10..100 000).
    assert_eq!(case_epochs(200_000, true), 20_000);
    assert_eq!(case_epochs(2_000, true), 200);
    assert_eq!(case_epochs(50, true), MIN_QUICK_STEPS);
    assert_eq!(case_epochs(20, true), 20, "never longer than the full case");
    assert_eq!(case_epochs(50, false), 50);
    for full in [20, 50, 100, 499, 500, 501, 1_953, 100_000] {
        let q = case_epochs(full, true);
        assert!(q <= full && q >= full.min(MIN_QUICK_STEPS), "{full} -> {q}");
    }
}

/// The log-log slope is the least-squares one: exact on a line, the
/// textbook value on scattered points, undefined with one distinct size.
#[test]
fn slopes_are_least_squares_fits() {
    use dpo_lab::analysis::stats::ls_slope as slope;
    assert_eq!(slope(&[0.0, 1.0, 2.0], &[1.0, 3.0, 5.0]), Some(2.0));
    // x = 1..4, y = 2, 3, 5, 4: means 2.5 and 3.5, Sxy = 2.25 + 0.25 + 0.75
    // + 0.75 = 4, Sxx = 5 (worked by hand).
    let s = slope(&[1.0, 2.0, 3.0, 4.0], &[2.0, 3.0, 5.0, 4.0]).unwrap();
    assert!((s - 0.8).abs() < 1e-15, "{s}");
    assert_eq!(slope(&[3.0, 3.0], &[1.0, 2.0]), None);
    assert_eq!(slope(&[3.0], &[1.0]), None);
}

/// f32-native rows are paired with the f64 row of the same width, runs and
/// threads; unpaired rows give no ratio.
#[test]
fn f32_speedups_pair_like_rows() {
    use dpo_lab::studies::bench::{f32_speedups, BenchRow};
    let row = |precision: &str, width, runs, threads, sps| BenchRow {
        case: "paper".into(),
        policy: "mlp".into(),
        precision: String::from(precision),
        width,
        activation: "relu".into(),
        prompts: 4,
        responses: 10,
        threads,
        runs,
        epochs: 10,
        seconds: 1.0,
        steps_per_sec: sps,
        ns_per_step: 1.0,
        stream_ns: None,
        params: 0,
        peak_bytes: None,
        time_slope: None,
        memory_slope: None,
        machine: String::new(),
        identical_to_run: true,
        peer: String::new(),
    };
    let rows = [
        row("f64", 64, 4, 1, 100.0),
        row("f64", 64, 64, 2, 180.0),
        row("f32-native", 64, 64, 2, 360.0),
        row("f32-native", 64, 4, 1, 150.0),
        row("f32-native", 16, 4, 1, 1.0),
    ];
    let s = f32_speedups(&rows);
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].runs, s[0].ratio), (64, 2.0));
    assert_eq!((s[1].runs, s[1].ratio), (4, 1.5));
}

/// README.md's performance block is the rendering of the committed
/// `plots/bench/bench.csv` (`reproduce --performance-only` writes it), so
/// no number there can drift from the record.
#[test]
fn readme_performance_block_is_the_committed_record() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rows = dpo_lab::studies::bench::read_csv(&root.join("plots/bench/bench.csv")).unwrap();
    let want = dpo_lab::present::bench::performance_markdown(&rows).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let (_, rest) = readme
        .split_once("<!-- findings:performance:begin -->\n")
        .expect("README.md has the performance block");
    let (got, _) = rest
        .split_once("\n<!-- findings:performance:end -->")
        .expect("the block is closed");
    assert!(
        got == want.trim_end(),
        "README.md's performance block is stale; run `cargo run --release --bin reproduce -- --performance-only`"
    );
}

/// The split case and the floors: the big tabular step is found on one
/// thread and split, and its ratios are the step over each floor.
#[test]
fn floor_ratios_read_the_big_tabular_rows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rows = dpo_lab::studies::bench::read_csv(&root.join("plots/bench/bench.csv")).unwrap();
    let f = dpo_lab::studies::bench::floor_ratios(&rows);
    assert!(!f.is_empty() && f[0].threads == 1, "{f:?}");
    for r in &f {
        assert_eq!(r.responses, 100_000);
        assert!((r.ratio_one() - r.step_ns / r.floor_one_ns).abs() < 1e-12);
        assert!(r.floor_split_ns <= r.floor_one_ns * 1.05 || r.threads == 1);
    }
}

/// The performance block's sentence on the steps without divider work
/// follows the rows: "longer than the divider bound at every width" only
/// when every `paper-sgd` row is, the plain sentence otherwise, and a
/// sentence saying so when no such row was timed.
#[test]
fn the_no_divider_sentence_follows_the_rows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rows = dpo_lab::studies::bench::read_csv(&root.join("plots/bench/bench.csv")).unwrap();
    let render = |rows: &[dpo_lab::studies::bench::BenchRow]| {
        dpo_lab::present::bench::performance_markdown(rows).unwrap()
    };
    let longer = "at every width the work outside the divider alone is longer";
    let sgd = |r: &dpo_lab::studies::bench::BenchRow| r.case == "paper-sgd";
    assert!(
        rows.iter().filter(|r| sgd(r)).count() >= 2,
        "the record has paper-sgd rows"
    );
    let all = render(&rows);
    let divider = rows
        .iter()
        .find(|r| r.case == "bound" && r.policy == "sqrt+div")
        .unwrap()
        .ns_per_step;
    let over = rows.iter().filter(|r| sgd(r)).all(|s| {
        let adam = rows
            .iter()
            .find(|r| {
                r.case == "paper" && r.width == s.width && r.precision == "f64" && r.runs == s.runs
            })
            .unwrap();
        s.ns_per_step > divider * adam.params as f64
    });
    assert_eq!(all.contains(longer), over);
    // One no-divider step faster than its bound: the plain sentence.
    let mut faster = rows.clone();
    faster.iter_mut().find(|r| sgd(r)).unwrap().ns_per_step = 1.0;
    let text = render(&faster);
    assert!(text.contains("case `paper-sgd`) take") && !text.contains(longer));
    // No such rows: said so.
    let none: Vec<_> = rows.into_iter().filter(|r| !sgd(r)).collect();
    assert!(render(&none).contains("No step was timed without Adam"));
}

/// The bound's note and the JAX sentence follow the rows: "above 100 %"
/// only when some one-thread step is shorter than its bound, the JAX ratio
/// is the width-64 sweep's rate over the 36 k, and a sentence says
/// so when no such sweep was timed.
#[test]
fn the_bound_note_and_jax_sentence_follow_the_rows() {
    use dpo_lab::studies::bench::{BenchRow, JAX_MLP64_SWEEP};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rows = dpo_lab::studies::bench::read_csv(&root.join("plots/bench/bench.csv")).unwrap();
    let render = |rows: &[BenchRow]| dpo_lab::present::bench::performance_markdown(rows).unwrap();
    let note = "above 100 %, the step is shorter than the bound";
    let is_step = |r: &BenchRow, runs: usize| {
        r.case == "paper" && r.policy == "mlp" && r.precision == "f64" && r.runs == runs
    };
    // Every one-thread f64 step made longer than any bound: no note.
    let mut slow = rows.clone();
    slow.iter_mut()
        .filter(|r| is_step(r, 4))
        .for_each(|r| r.ns_per_step = 1e12);
    assert!(!render(&slow).contains(note));
    // One made shorter than its bound: the note.
    let mut fast = slow.clone();
    fast.iter_mut().find(|r| is_step(r, 4)).unwrap().ns_per_step = 1e-3;
    assert!(render(&fast).contains(note));
    // The JAX ratio of the width-64 sweep, with two decimals.
    let sweep = rows
        .iter()
        .find(|r| is_step(r, 64) && r.width == 64)
        .expect("the record has the width-64 sweep");
    let ratio = format!(
        "{:.2}× the 36.0 k steps/s",
        sweep.steps_per_sec / JAX_MLP64_SWEEP
    );
    // Without a peer's rows the sentence quotes the JAX number.
    let unpeered: Vec<_> = rows.iter().filter(|r| r.case != "peer").cloned().collect();
    assert!(render(&unpeered).contains(&ratio), "{ratio}");
    let none: Vec<_> = rows
        .into_iter()
        .filter(|r| !(is_step(r, 64) && r.width == 64))
        .collect();
    assert!(render(&none).contains("No 64-run sweep of the width-64 MLP was timed"));
}

/// The float32 sentence names exactly the ratios under the target, with
/// three decimals, and says so when there are none.
#[test]
fn the_float32_sentence_names_the_ratios_under_the_target() {
    use dpo_lab::studies::bench::{f32_speedups, BenchRow, TARGET_F32_SPEEDUP};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rows = dpo_lab::studies::bench::read_csv(&root.join("plots/bench/bench.csv")).unwrap();
    let render = |rows: &[BenchRow]| dpo_lab::present::bench::performance_markdown(rows).unwrap();
    let text = render(&rows);
    let speedups = f32_speedups(&rows);
    assert!(speedups.len() >= 6, "{speedups:?}");
    let under = speedups
        .iter()
        .filter(|s| s.ratio < TARGET_F32_SPEEDUP)
        .count();
    assert_eq!(text.contains("Below the target:"), under > 0);
    let listed = text
        .split_once("Below the target:")
        .map(|(_, rest)| rest.split_once(".\n").map_or(rest, |(l, _)| l))
        .unwrap_or("");
    for s in &speedups {
        let shown = listed.contains(&format!("{:.3}×", s.ratio));
        assert_eq!(shown, s.ratio < TARGET_F32_SPEEDUP, "{s:?} in {listed:?}");
    }
    // Every float32 row made ten times faster: none under the target.
    let mut fast = rows.clone();
    fast.iter_mut()
        .filter(|r| r.precision == "f32-native")
        .for_each(|r| r.steps_per_sec *= 10.0);
    let text = render(&fast);
    assert!(
        text.contains("Every one is at or above the target") && !text.contains("Below the target")
    );
}

/// A CSV in the JAX peer's format (`experiments/peers/jax_dpo.py`): the
/// columns its `fields` list names, in that order.
fn peer_csv(mlp64_steps_per_sec: f64, tabular_steps_per_sec: f64) -> String {
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(dpo_lab::studies::bench::JAX_PEER_SCRIPT),
    )
    .unwrap();
    let start = script
        .find("fields = [")
        .expect("the script lists its columns");
    let fields = &script[start..start + script[start..].find(']').unwrap()];
    let names: Vec<&str> = fields.split('"').skip(1).step_by(2).collect();
    assert_eq!(
        names,
        [
            "peer",
            "version",
            "policy",
            "width",
            "runs",
            "epochs",
            "seconds",
            "steps_per_sec",
            "machine"
        ],
        "the script's columns"
    );
    let row = |policy: &str, width: usize, epochs: usize, sps: f64| {
        let seconds = 64.0 * epochs as f64 / sps;
        format!("jax,0.10.2,{policy},{width},64,{epochs},{seconds},{sps},\"Test CPU, 2 cores\"\n")
    };
    format!(
        "{}\n{}{}{}",
        names.join(","),
        row("tabular", 0, 1000, tabular_steps_per_sec),
        row("mlp", 16, 1000, 2e5),
        row("mlp", 64, 1000, mlp64_steps_per_sec)
    )
}

/// The peer's CSV becomes `peer` rows: its steps/s from its timing, its
/// name and version kept, ns a step per thread as for a sweep; a malformed
/// one is refused with the field named.
#[test]
fn peer_rows_read_the_scripts_csv() {
    use dpo_lab::studies::bench::peer_rows;
    let src = Path::new("peer.csv");
    let rows = peer_rows(&peer_csv(40e3, 2e6), src, 2).unwrap();
    assert_eq!(rows.len(), 3);
    let r = &rows[2];
    assert_eq!(
        (r.case.as_str(), r.policy.as_str(), r.width),
        ("peer", "mlp", 64)
    );
    assert_eq!(
        (r.peer.as_str(), r.runs, r.epochs, r.threads),
        ("jax 0.10.2", 64, 1000, 2)
    );
    assert!((r.steps_per_sec - 40e3).abs() < 1e-6, "{}", r.steps_per_sec);
    assert!((r.ns_per_step - 2.0 * 1e9 / 40e3).abs() < 1e-6);
    assert_eq!(r.params, policy_for("mlp", 64, 4, 10).n_params());
    assert!(!r.identical_to_run);
    assert_eq!(rows[0].activation, "");
    let bad = peer_csv(40e3, 2e6).replace("mlp,16", "conv,16");
    let e = peer_rows(&bad, src, 2).unwrap_err().to_string();
    assert!(e.contains("policy") && e.contains("tabular, mlp"), "{e}");
    let zero = peer_csv(40e3, 2e6).replacen(",1000,", ",0,", 1);
    let e = peer_rows(&zero, src, 2).unwrap_err().to_string();
    assert!(e.contains("seconds") || e.contains("epochs"), "{e}");
    assert!(peer_rows("peer,version\n", src, 2).is_err());
}

/// With a peer's rows, the table gains its column and dpo-lab's 64-run
/// rate over it, and the width-64 sentence is the ratio to the peer (its
/// name given); the ratio follows the peer's rate.
#[test]
fn the_peer_columns_and_sentence_follow_its_rows() {
    use dpo_lab::studies::bench::{peer_rows, BenchRow};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own: Vec<BenchRow> = dpo_lab::studies::bench::read_csv(&root.join("plots/bench/bench.csv"))
        .unwrap()
        .into_iter()
        .filter(|r| r.case != "peer")
        .collect();
    let render = |rows: &[BenchRow]| dpo_lab::present::bench::performance_markdown(rows).unwrap();
    let sweep = |policy: &str, width: usize| {
        own.iter()
            .find(|r| {
                r.case == "paper"
                    && r.precision == "f64"
                    && r.runs == 64
                    && r.policy == policy
                    && r.width == width
            })
            .unwrap()
            .steps_per_sec
    };
    let plain = render(&own);
    assert!(!plain.contains("JAX peer, 64 runs") && plain.contains("|---|---|---|\n"));
    // A peer faster than dpo-lab somewhere is named as such.
    let mut rows = own.clone();
    let fast_tabular = peer_csv(40e3, 20e6);
    rows.extend(peer_rows(&fast_tabular, Path::new("peer.csv"), 2).unwrap());
    assert!(
        render(&rows).contains("The peer is the faster of the two at tabular."),
        "{}",
        render(&rows)
    );
    // Peer rates whose 6× asks a thread-step of 1.1× the record's bound
    // (within it) and of half of it (beyond it).
    let divider = own
        .iter()
        .find(|r| r.case == "bound" && r.policy == "sqrt+div")
        .unwrap()
        .ns_per_step;
    let madd = own
        .iter()
        .find(|r| r.case == "bound" && r.policy == "mul+add")
        .unwrap()
        .ns_per_step;
    let params = policy_for("mlp", 64, 4, 10).n_params();
    let divider_ns = divider * params as f64;
    let madd_ns = madd * dpo_lab::studies::bench::mlp_step_madds(4, 64, 10, params);
    let (bound, looser) = (divider_ns.max(madd_ns), divider_ns.min(madd_ns));
    let at = |step: f64| 2e9 / step / 6.0;
    // 6× asks a thread-step past the tighter bound, between the two, and
    // under both.
    for (jax, within, both) in [
        (at(1.1 * bound), true, false),
        (at(0.5 * (bound + looser)), false, false),
        (at(0.5 * looser), false, true),
    ] {
        let mut rows = own.clone();
        rows.extend(peer_rows(&peer_csv(jax, 2e6), Path::new("peer.csv"), 2).unwrap());
        let text = render(&rows);
        assert!(text.contains("| JAX peer, 64 runs | 64 runs ÷ peer |\n|---|---|---|---|---|\n"));
        let ratio = sweep("mlp", 64) / jax;
        assert!(
            text.contains(&format!(
                "{ratio:.2}× the {} steps/s of the JAX peer (jax 0.10.2",
                dpo_lab::present::bench::rate(jax)
            )),
            "{text}"
        );
        let line64 = text
            .lines()
            .find(|l| l.starts_with("| MLP width 64, f64 |"))
            .unwrap();
        assert!(line64.ends_with(&format!(" | {ratio:.2}× |")), "{line64}");
        assert!(text.contains(&format!("{:.2}× (tabular)", sweep("tabular", 0) / 2e6)));
        assert!(text.contains(&format!("{:.2}× (width 16)", sweep("mlp", 16) / 2e5)));
        // 6× the peer as a share of the bound: within it, or beyond it.
        let six = text
            .split_once("Six times the peer")
            .map(|(_, rest)| rest.split_once("the peer.").map_or(rest, |(s, _)| s))
            .expect("the sentence on six times the peer");
        assert_eq!(six.contains("% of the bound on each"), within, "{six}");
        assert_eq!(
            six.contains("shorter than the divider bound itself"),
            !within && !both,
            "{six}"
        );
        assert_eq!(six.contains("shorter than both bounds"), both, "{six}");
        assert!(!text.contains("The peer is the faster"), "{text}");
        // The float32 lines have no peer.
        assert!(
            text.contains("f32-native |")
                && text
                    .lines()
                    .filter(|l| l.contains("f32-native |"))
                    .all(|l| l.ends_with("| – | – |"))
        );
    }
}
