//! Every SIMD level gives the same numbers: whole runs of every policy ×
//! optimiser × precision, forced to each level with `fast::with_level`, must
//! write byte-identical CSVs to the plain (reference) level's.
//!
//! Honest about missing instruction sets: each level has its own test, and a
//! level the CPU lacks is *ignored with its reason* (build.rs tells the tests
//! which levels the building CPU has; libtest cannot ignore at run time), so
//! `cargo test` lists it as ignored instead of passing it without testing
//! anything. `build_time_levels_are_this_cpus` fails if the binary runs on a
//! CPU other than the one it was built for describes, so a moved test binary
//! cannot skip a level the CPU has, nor pass one it lacks.

#![forbid(unsafe_code)]

use dpo_lab::engine::train::{train, Keep};
use dpo_lab::fast::{self, Level};
use dpo_lab::io::config::Config;
use dpo_lab::io::output::csv_bytes;
use dpo_lab::maths::numerics::{all_finite, softmax_rows, softmax_rows_within, sum_lanes_except};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// `[policy]` tables: every kind, the MLP at a width that is a multiple of
/// the vector width and one that is not (tails of the hand-written kernels).
const POLICIES: [(&str, &str); 5] = [
    ("tabular", "kind = \"tabular\""),
    ("shared-bias", "kind = \"shared-bias\""),
    (
        "loglinear",
        "kind = \"loglinear\"\ndim = 13\npair_similarity = 0.5",
    ),
    (
        "mlp-tanh-19",
        "kind = \"mlp\"\nwidth = 19\nactivation = \"tanh\"",
    ),
    (
        "mlp-relu-64",
        "kind = \"mlp\"\nwidth = 64\nactivation = \"relu\"\ninit = \"xavier\"",
    ),
];

/// `[optimizer]` tables: every rule.
const OPTIMIZERS: [(&str, &str); 4] = [
    ("sgd", "name = \"sgd\"\nlr = 0.5"),
    ("sgd-momentum", "name = \"sgd\"\nlr = 0.1\nmomentum = 0.9"),
    ("adam", "name = \"adam\"\nlr = 0.01"),
    ("rmsprop", "name = \"rmsprop\"\nlr = 0.003"),
];

/// Every precision; `f32-native` only for the families that have a native path.
const PRECISIONS: [&str; 3] = ["f64", "f32", "f32-native"];

/// Whether the policy table `policy` runs at `precision`.
fn runs_at(policy: &str, precision: &str) -> bool {
    let kind = policy
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("kind = ")
        .trim_matches('"');
    precision != "f32-native" || dpo_lab::maths::policy::policy_spec(kind).is_some_and(|p| p.native)
}

/// A short run (40 epochs; the reference fit capped at 300 Adam steps).
fn config(policy: &str, optimizer: &str, precision: &str) -> String {
    format!(
        "seed = 7\nepochs = 40\nrecord_every = 1\nprecision = \"{precision}\"\n\n\
         [policy]\n{policy}\n\n[data]\nscenario = \"scenario1\"\n\n\
         [reference]\nmax_steps = 300\n\n\
         [loss]\nname = \"dpo\"\nbeta = 0.1\nreduction = \"sum\"\n\n\
         [optimizer]\n{optimizer}\n"
    )
}

/// `(run/file, bytes)` of the CSVs `dpo-lab run` writes (metrics, probs,
/// summary), rendered by the crate's own writer, for every run of the matrix.
fn all_runs() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (pname, policy) in POLICIES {
        for (oname, optimizer) in OPTIMIZERS {
            for precision in PRECISIONS.into_iter().filter(|p| runs_at(policy, p)) {
                let toml = config(policy, optimizer, precision);
                let spec = Config::from_toml_str(&toml)
                    .and_then(|c| c.resolved())
                    .and_then(|r| r.build())
                    .unwrap_or_else(|e| panic!("{e}\n{toml}"));
                let r = train(&spec, Keep::ALL);
                let run = format!("{pname}/{oname}/{precision}");
                out.push((format!("{run}/metrics.csv"), csv_bytes(&r.metrics)));
                out.push((format!("{run}/probs.csv"), csv_bytes(&r.prob_rows())));
                out.push((
                    format!("{run}/summary.csv"),
                    csv_bytes(std::slice::from_ref(&r.summary)),
                ));
            }
        }
    }
    out
}

/// Wide softmax rows (the row-by-row layout starts at 256 responses) and the
/// other numerics kernels that short runs on 10 responses do not reach, as
/// bit patterns.
fn numerics() -> Vec<(String, Vec<u64>)> {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let mut out = Vec::new();
    for (x, y) in [(3, 300), (2, 1003), (5, 17)] {
        let z: Vec<f64> = (0..x * y)
            .map(|i| ((i * 7919 % 1013) as f64 - 500.0) * 0.037)
            .collect();
        let (mut lp, mut p) = (vec![0.0; x * y], vec![0.0; x * y]);
        softmax_rows(&z, y, &mut lp, &mut p);
        out.push((format!("softmax_rows {x}x{y} logp"), bits(&lp)));
        out.push((format!("softmax_rows {x}x{y} probs"), bits(&p)));
        let ok = softmax_rows_within(&z, y, &mut lp, &mut p, 15.0);
        out.push((format!("softmax_rows_within {x}x{y}"), bits(&lp)));
        out.push((format!("within {x}x{y}"), vec![u64::from(ok)]));
        let s = sum_lanes_except(&p, 3, y + 5);
        out.push((format!("sum_lanes_except {x}x{y}"), vec![s.to_bits()]));
        out.push((
            format!("all_finite {x}x{y}"),
            vec![u64::from(all_finite(&z))],
        ));
    }
    out
}

/// Everything compared: the runs' CSVs and the numerics results.
type Outputs = (Vec<(String, Vec<u8>)>, Vec<(String, Vec<u64>)>);

/// Everything compared, computed at `level`.
fn outputs_at(level: Level) -> Outputs {
    fast::with_level(level, || (all_runs(), numerics())).unwrap_or_else(|e| panic!("{e}"))
}

/// The plain level's outputs, computed once for all the level tests.
fn plain() -> &'static Outputs {
    static PLAIN: OnceLock<Outputs> = OnceLock::new();
    PLAIN.get_or_init(|| outputs_at(Level::Plain))
}

/// The first line where two CSVs differ, for the failure message.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  plain: {x}\n  level: {y}", i + 1);
        }
    }
    format!("{} vs {} lines", a.lines().count(), b.lines().count())
}

/// Every CSV and every numerics result at `level` is byte-identical to plain's.
fn level_matches_plain(level: Level) {
    let (runs, nums) = outputs_at(level);
    let (want_runs, want_nums) = plain();
    assert_eq!(runs.len(), want_runs.len());
    let per_optimizer: usize = POLICIES
        .iter()
        .map(|(_, p)| PRECISIONS.iter().filter(|q| runs_at(p, q)).count())
        .sum();
    // 5 policies × f64, f32, and f32-native for tabular and both MLPs.
    assert_eq!(per_optimizer, 13);
    assert_eq!(runs.len(), per_optimizer * OPTIMIZERS.len() * 3);
    for ((name, got), (_, want)) in runs.iter().zip(want_runs) {
        assert!(
            got == want,
            "{name} at {level} differs from plain, {}",
            first_difference(want, got)
        );
    }
    for ((name, got), (_, want)) in nums.iter().zip(want_nums) {
        assert_eq!(got, want, "{name} at {level} differs from plain");
    }
    eprintln!(
        "{level}: {} CSVs and {} numerics results byte-identical to plain",
        runs.len(),
        nums.len()
    );
}

/// Plain against itself: the runs are deterministic (and the matrix builds).
#[test]
fn plain_runs_are_reproducible() {
    let again = outputs_at(Level::Plain);
    assert!(again == *plain(), "two plain runs differ");
}

#[test]
#[cfg_attr(
    not(dpo_lab_cpu_avx2),
    ignore = "needs avx2, which the CPU that built the tests lacks"
)]
fn avx2_runs_match_plain() {
    level_matches_plain(Level::Avx2);
}

#[test]
#[cfg_attr(
    not(dpo_lab_cpu_avx512),
    ignore = "needs avx512f, which the CPU that built the tests lacks"
)]
fn avx512_runs_match_plain() {
    level_matches_plain(Level::Avx512);
}

/// The levels build.rs saw are the levels this CPU has: the ignores above
/// are then exactly the levels that cannot run here.
#[test]
fn build_time_levels_are_this_cpus() {
    let built = [
        (Level::Avx2, cfg!(dpo_lab_cpu_avx2)),
        (Level::Avx512, cfg!(dpo_lab_cpu_avx512)),
    ];
    for (level, at_build) in built {
        assert_eq!(
            level.supported(),
            at_build,
            "{level}: this CPU and the one that built the tests disagree; rebuild here"
        );
    }
    eprintln!("levels on this CPU: {:?}", fast::available());
}

/// `dpo-lab` honours `DPO_LAB_SIMD`: a forced level writes the same files
/// as the default, and a bad value is a usage error (exit 2) that names the
/// variable and the allowed values.
#[test]
fn binary_honours_dpo_lab_simd() {
    let tmp = std::env::temp_dir().join(format!("dpo-lab-simd-{}", std::process::id()));
    let cfg = tmp.join("run.toml");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(&cfg, config(POLICIES[4].1, OPTIMIZERS[2].1, "f64")).unwrap();
    let run = |env: Option<&str>, out: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dpo-lab"));
        c.arg("run").arg(&cfg).arg("--out").arg(tmp.join(out));
        match env {
            Some(v) => c.env(fast::ENV, v),
            None => c.env_remove(fast::ENV),
        };
        c.output().unwrap()
    };
    let default = run(None, "default");
    assert!(default.status.success(), "{default:?}");
    for level in fast::available() {
        let o = run(Some(level.name()), level.name());
        assert!(o.status.success(), "{level}: {o:?}");
        for f in ["metrics.csv", "probs.csv", "summary.csv", "config.toml"] {
            let read = |d: &str| std::fs::read(tmp.join(d).join(f)).unwrap();
            assert!(read("default") == read(level.name()), "{f} at {level}");
        }
    }
    let mut bad = vec!["sse9"];
    bad.extend(
        Level::ALL
            .iter()
            .filter(|l| !l.supported())
            .map(|l| l.name()),
    );
    for v in bad {
        let o = run(Some(v), "bad");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{v}: {err}");
        assert!(err.contains("DPO_LAB_SIMD") && err.contains(v), "{err}");
        assert!(err.contains("allowed"), "{err}");
        assert!(!tmp.join("bad").exists(), "{v}: wrote output");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// All `unsafe` code and every intrinsic stay in `src/fast/` (outside it
/// the crate denies `unsafe_code`; this also catches an `allow` added back).
#[test]
fn unsafe_and_intrinsics_live_only_in_fast() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut dirs = vec![
        root.join("src"),
        root.join("experiments"),
        root.join("benches"),
    ];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && p != root.join("src").join("fast") {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 20, "found only {files:?}");
    let banned = [
        "arch::",
        "_mm",
        "target_feature",
        "is_x86_feature_detected",
        "asm!",
    ];
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let at = format!("{}:{}: {line}", f.display(), i + 1);
            let words = code.split(|c: char| !(c.is_alphanumeric() || c == '_'));
            assert!(
                !words.clone().any(|w| w == "unsafe"),
                "unsafe outside fast: {at}"
            );
            for b in banned {
                assert!(!code.contains(b), "`{b}` outside fast: {at}");
            }
            let allows = code.contains("allow(unsafe_code)");
            let is_fast = f.ends_with("src/lib.rs")
                && text.lines().nth(i + 1).map(str::trim) == Some("pub mod fast;");
            assert!(!allows || is_fast, "unsafe_code allowed outside fast: {at}");
        }
    }
}
