//! The recipes for spreading a sweep beyond one process (`experiments/cluster/`):
//! the SLURM array script and the GNU parallel / background-jobs script are run
//! as they ship, their shards as concurrent processes, and the merge must be
//! byte-identical to the same sweep run whole in one process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dpo-lab");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dpo-lab-cluster-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments/cluster")
        .join(name)
}

/// 2 β × 2 scenarios × 2 policies × 3 seeds = 24 runs, with curves: small,
/// but every shard count below gets runs from every axis value.
const SWEEP: &str = r#"
[sweep]
seed = 11
curve_every = 20

[base]
epochs = 60
[base.policy]
kind = "tabular"
[base.data]
scenario = "scenario1"
[base.loss]
name = "dpo"
beta = 0.1
[base.optimizer]
name = "adam"
lr = 0.01

[[axis]]
field = "policy"
values = [{ kind = "tabular" }, { kind = "mlp", width = 8 }]
labels = ["tabular", "mlp"]

[[axis]]
field = "loss.beta"
values = [0.1, 1.0]

[[axis]]
field = "data.scenario"
values = ["scenario1", "scenario3"]

[[axis]]
field = "seed"
values = [0, 1, 2]
"#;

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes the sweep and runs it whole, in one process; returns (sweep file, whole dir).
fn whole(d: &Path) -> (PathBuf, PathBuf) {
    let f = d.join("sweep.toml");
    std::fs::write(&f, SWEEP).unwrap();
    let w = d.join("whole");
    let out = Command::new(BIN)
        .args(["sweep", "--quiet", "--out"])
        .arg(&w)
        .arg(&f)
        .output()
        .unwrap();
    ok(&out, "whole sweep");
    (f, w)
}

fn same_results(whole: &Path, merged: &Path) {
    for name in ["runs.csv", "curves.csv"] {
        let a = std::fs::read(whole.join(name)).unwrap();
        let b = std::fs::read(merged.join(name)).unwrap();
        assert!(
            a.len() > 200,
            "{name} of the whole sweep is suspiciously short"
        );
        assert!(a == b, "{name}: merged shards differ from the whole sweep");
    }
    let rows = std::fs::read_to_string(merged.join("runs.csv")).unwrap();
    assert_eq!(rows.lines().count(), 1 + 24, "header + 24 runs");
}

/// The SLURM recipe: `sweep-array.sbatch` run as the scheduler would run an
/// array of 4 tasks (the `#SBATCH` lines are comments to bash; the task id
/// and count come from the environment), all 4 at once, then `merge`.
#[test]
fn slurm_array_tasks_run_at_once_merge_to_the_whole_sweep() {
    let d = tmp("slurm");
    let (f, w) = whole(&d);
    let out = d.join("array");
    let n = 4;
    let tasks: Vec<_> = (1..=n)
        .map(|k| {
            Command::new("bash")
                .arg(script("sweep-array.sbatch"))
                .arg(&f)
                .arg(&out)
                .env("SLURM_ARRAY_TASK_ID", k.to_string())
                .env("SLURM_ARRAY_TASK_COUNT", n.to_string())
                .env("SLURM_CPUS_PER_TASK", "1")
                .env("DPO_LAB", BIN)
                .spawn()
                .unwrap()
        })
        .collect();
    for (k, t) in tasks.into_iter().enumerate() {
        ok(
            &t.wait_with_output().unwrap(),
            &format!("array task {}", k + 1),
        );
    }
    let shards: Vec<PathBuf> = (1..=n)
        .map(|k| out.join(format!("shard-{k}-of-{n}")))
        .collect();
    let merged = d.join("merged");
    let m = Command::new(BIN)
        .args(["merge", "--out"])
        .arg(&merged)
        .args(&shards)
        .output()
        .unwrap();
    ok(&m, "merge");
    same_results(&w, &merged);
    std::fs::remove_dir_all(&d).unwrap();
}

/// The one-command recipe: `shards.sh SWEEP OUT 3` (GNU parallel when
/// installed, background jobs otherwise) runs 3 shard processes at once
/// and merges them into OUT/merged.
#[test]
fn shards_script_merges_to_the_whole_sweep() {
    let d = tmp("shards");
    let (f, w) = whole(&d);
    let out = d.join("sharded");
    let o = Command::new("bash")
        .arg(script("shards.sh"))
        .arg(&f)
        .arg(&out)
        .arg("3")
        .env("DPO_LAB", BIN)
        .output()
        .unwrap();
    ok(&o, "shards.sh");
    for k in 1..=3 {
        assert!(out.join(format!("shard-{k}-of-3/runs.csv")).is_file());
    }
    same_results(&w, &out.join("merged"));
    std::fs::remove_dir_all(&d).unwrap();
}

/// A task run outside an array says how to run it, instead of running the
/// whole grid as "shard 1 of 1" by accident.
#[test]
fn slurm_script_outside_an_array_says_how_to_submit() {
    let d = tmp("noarray");
    let o = Command::new("bash")
        .arg(script("sweep-array.sbatch"))
        .arg(d.join("s.toml"))
        .arg(d.join("o"))
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env("DPO_LAB", BIN)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("sbatch --array=1-N"));
    assert!(!d.join("o").exists());
    std::fs::remove_dir_all(&d).unwrap();
}
