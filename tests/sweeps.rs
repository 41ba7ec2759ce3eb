//! Sweeps: determinism across thread counts, resumption after an
//! interruption, sharding and merging, and rejection of bad sweep files
//! before any run starts. Runs through the `dpo-lab` binary on small grids.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_dpo-lab");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dpo-lab-sweep-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small grid: tabular and MLP, two β, two scenarios, three seeds (24 runs).
const SWEEP: &str = r#"
[sweep]
seed = 7
curve_every = 25

[base]
epochs = 100
[base.policy]
kind = "mlp"
width = 8
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
values = [0.1, 0.5]

[[axis]]
field = "data.scenario"
values = ["scenario1", "scenario4"]

[[axis]]
field = "seed"
values = [0, 1, 2]
"#;

fn write_sweep(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("sweep.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn sweep(file: &Path, out: &Path, extra: &[&str], threads: Option<&str>) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.arg("sweep")
        .arg(file)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra);
    if let Some(t) = threads {
        c.env("RAYON_NUM_THREADS", t);
    }
    c.output().unwrap()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn outputs_are_identical_with_one_thread_and_many() {
    let d = tmp("threads");
    let f = write_sweep(&d, SWEEP);
    let (a, b) = (d.join("a"), d.join("b"));
    assert!(sweep(&f, &a, &[], Some("1")).status.success());
    assert!(sweep(&f, &b, &[], Some("4")).status.success());
    for name in ["runs.csv", "curves.csv"] {
        assert_eq!(read(&a.join(name)), read(&b.join(name)), "{name}");
    }
    let runs = String::from_utf8(read(&a.join("runs.csv"))).unwrap();
    assert_eq!(runs.lines().count(), 1 + 24);
    assert!(runs.starts_with(
        "run_id,policy,loss.beta,data.scenario,seed,replicate,run_seed,config_hash,drop,degradation,dispersion"
    ));
    // Runs that differ only in β share their seed (paired comparisons).
    let seeds: Vec<&str> = runs
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(6).unwrap())
        .collect();
    assert_eq!(seeds[0], seeds[6]);
    assert_ne!(seeds[0], seeds[1]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn an_interrupted_sweep_resumes_to_the_same_files() {
    let d = tmp("resume");
    let f = write_sweep(&d, SWEEP);
    let (whole, cut) = (d.join("whole"), d.join("cut"));
    assert!(sweep(&f, &whole, &[], None).status.success());
    // Emulate a kill: keep the first half of the journal and a torn record.
    std::fs::create_dir_all(&cut).unwrap();
    std::fs::copy(whole.join("sweep.toml"), cut.join("sweep.toml")).unwrap();
    let journal = String::from_utf8(read(&whole.join("journal.txt"))).unwrap();
    let ends: Vec<usize> = journal.match_indices("\nE,").map(|(i, _)| i).collect();
    let half_end = journal[ends[11] + 1..].find('\n').unwrap() + ends[11] + 2;
    let torn = &journal[..half_end + 20];
    std::fs::write(cut.join("journal.txt"), torn).unwrap();
    let out = Command::new(BIN)
        .args(["sweep"])
        .arg(&f)
        .arg("--out")
        .arg(&cut)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("resuming, 12 of 24 runs already done"),
        "{err}"
    );
    assert!(err.contains("ran 12 runs"), "{err}");
    for name in ["runs.csv", "curves.csv"] {
        assert_eq!(read(&whole.join(name)), read(&cut.join(name)), "{name}");
    }
    // Rerunning a finished sweep runs nothing and changes nothing.
    let out = Command::new(BIN)
        .arg("sweep")
        .arg(&f)
        .arg("--out")
        .arg(&cut)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("ran 0 runs"));
    assert_eq!(read(&whole.join("runs.csv")), read(&cut.join("runs.csv")));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn merged_shards_equal_the_whole_sweep() {
    let d = tmp("shards");
    let f = write_sweep(&d, SWEEP);
    let whole = d.join("whole");
    assert!(sweep(&f, &whole, &[], None).status.success());
    let shards: Vec<PathBuf> = (1..=3).map(|k| d.join(format!("s{k}"))).collect();
    for (k, s) in shards.iter().enumerate() {
        let spec = format!("{}/3", k + 1);
        assert!(sweep(&f, s, &["--shard", &spec], None).status.success());
    }
    let merged = d.join("merged");
    let out = Command::new(BIN)
        .args(["merge", "--out"])
        .arg(&merged)
        .args(&shards)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["runs.csv", "curves.csv"] {
        assert_eq!(read(&whole.join(name)), read(&merged.join(name)), "{name}");
    }
    // Journals whose records are not in run order (as runs finish on many
    // threads): here reversed, each shard's records read back in run order
    // from where they lie.
    for s in &shards {
        let j = String::from_utf8(read(&s.join("journal.txt"))).unwrap();
        let mut recs: Vec<&str> = j.split_inclusive('\n').collect();
        let mut out = Vec::new();
        while let Some(end) = recs.iter().position(|l| l.starts_with("E,")) {
            out.push(recs.drain(..=end).collect::<String>());
        }
        assert!(recs.is_empty() && out.len() > 1);
        out.reverse();
        std::fs::write(s.join("journal.txt"), out.concat()).unwrap();
    }
    let merged = d.join("merged-reversed");
    let out = merge(&merged, &shards);
    assert!(out.status.success(), "{}", stderr(&out));
    for name in ["runs.csv", "curves.csv"] {
        assert_eq!(read(&whole.join(name)), read(&merged.join(name)), "{name}");
    }
    // A missing shard is an error, not a silently short file.
    let out = Command::new(BIN)
        .args(["merge", "--out"])
        .arg(d.join("short"))
        .args(&shards[..2])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("finished runs of 24"));
    std::fs::remove_dir_all(&d).unwrap();
}

/// Each bad sweep exits with 2, names the problem, and starts no run.
#[test]
fn bad_sweeps_are_rejected_before_any_run() {
    let base = SWEEP.split("[[axis]]").next().unwrap();
    let cases: [(&str, &str); 7] = [
        ("[[axis]]\nfield = \"loss.betta\"\nvalues = [0.1]\n", "loss.betta"),
        ("[[axis]]\nfield = \"loss.beta\"\nvalues = []\n", "is empty"),
        ("[[axis]]\nfield = \"loss.beta\"\nrange = { start = 0.1, stop = 1.0, step = 0.0 }\n", "must be > 0"),
        ("[[axis]]\nfield = \"loss.beta\"\nrange = { start = -1.0, stop = 1.0, num = 5, scale = \"log\" }\n", "crosses or touches zero"),
        ("[[axis]]\nfield = \"loss.beta\"\nvalues = [0.1, -2.0]\n", "loss.beta"),
        ("[[axis]]\nfield = \"seed\"\nrange = { start = 0, stop = 30000, step = 1 }\n", "--force"),
        ("[[axis]]\nfield = \"policy.kind\"\nvalues = [\"transformer\"]\n", "allowed: tabular"),
    ];
    for (i, (axis, needle)) in cases.iter().enumerate() {
        let d = tmp(&format!("bad{i}"));
        let f = write_sweep(&d, &format!("{base}{axis}"));
        let out_dir = d.join("out");
        let o = sweep(&f, &out_dir, &[], None);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "case {i}: {err}");
        assert!(err.contains(needle), "case {i}: `{needle}` not in {err}");
        assert!(!err.contains("panicked"), "case {i}: {err}");
        assert!(!out_dir.exists(), "case {i}: output directory created");
        std::fs::remove_dir_all(&d).unwrap();
    }
}

/// `runs.csv` reads back typed: the fixed columns through serde, the axis
/// columns as the sweep's labels; a malformed cell is an error that names
/// the file, the line and the field.
#[test]
fn runs_csv_reads_back_typed() {
    use dpo_lab::analysis::runs::RunsTable;
    let d = tmp("typed");
    let f = write_sweep(&d, SWEEP);
    let out = d.join("out");
    assert!(sweep(&f, &out, &[], None).status.success());
    let t = RunsTable::load(&out.join("runs.csv")).unwrap();
    let recs = t.records().unwrap();
    assert_eq!(recs.len(), 24);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.ids.run_id, i);
        assert_eq!(r.ids.replicate, (i % 3) as u64);
        let fields: Vec<&str> = r.axes.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["policy", "loss.beta", "data.scenario", "seed"]);
        assert_eq!(r.summary.epochs_run, 100);
        assert!(r.summary.drop.is_finite());
    }
    assert_eq!(recs[0].axes[0].1, "tabular");
    assert_eq!(recs[23].axes[0].1, "mlp");
    assert_eq!(recs[0].ids.run_seed, recs[6].ids.run_seed);
    assert!(recs.iter().all(|r| r.config_hash.len() == 64));
    assert_ne!(recs[0].config_hash, recs[1].config_hash);
    // A cell that is not a number.
    let text = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<&str> = lines[3].split(',').collect();
    cells[6] = "many";
    lines[3] = cells.join(",");
    let bad = d.join("bad.csv");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let e = RunsTable::load(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.csv") && e.contains("line: 4"), "{e}");
    assert!(
        e.contains("is not a sweep's runs.csv (column `run_seed`)"),
        "{e}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// A run's `config_hash` in `runs.csv` is the SHA-256 of the `config.toml`
/// that `dpo-lab run` writes for that run's config: `sha256sum` finds it.
#[test]
fn config_hash_is_the_sha256_of_the_run_config() {
    use dpo_lab::analysis::runs::RunsTable;
    use dpo_lab::io::journal::config_hash;
    use dpo_lab::io::sweep::Sweep;
    let d = tmp("hash");
    let text = SWEEP.replace("epochs = 100", "epochs = 5");
    let f = write_sweep(&d, &text);
    let out = d.join("out");
    assert!(sweep(&f, &out, &[], None).status.success());
    let recs = RunsTable::load(&out.join("runs.csv"))
        .unwrap()
        .records()
        .unwrap();
    let sw = Sweep::from_toml_str(&text, &d).unwrap();
    for id in [0, 13] {
        let cfg = d.join(format!("run{id}.toml"));
        std::fs::write(&cfg, sw.point(id).unwrap().config.to_toml_string()).unwrap();
        let run_dir = d.join(format!("run{id}"));
        let o = Command::new(BIN)
            .arg("run")
            .arg(&cfg)
            .arg("--out")
            .arg(&run_dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let written = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
        assert_eq!(config_hash(&written), recs[id].config_hash, "run {id}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn merge(out: &Path, shards: &[PathBuf]) -> std::process::Output {
    Command::new(BIN)
        .args(["merge", "--out"])
        .arg(out)
        .args(shards)
        .output()
        .unwrap()
}

/// A sweep has `dpo-lab run`'s length limits: a run of i64::MAX epochs is
/// refused before anything is created, naming `epochs` and `--force`.
#[test]
fn over_long_sweep_runs_are_refused_without_force() {
    let d = tmp("long");
    let text = SWEEP.replace("epochs = 100", "epochs = 9223372036854775807");
    let f = write_sweep(&d, &text);
    let o = sweep(&f, &d.join("out"), &[], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let msg = stderr(&o);
    assert!(msg.contains("`epochs`") && msg.contains("--force"), "{msg}");
    assert!(!d.join("out").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

/// `merge` never writes over another sweep's results: not into a sweep's
/// own directory, not over a runs.csv of other configs; an identical earlier
/// merge is replaced by the same bytes.
#[test]
fn merge_refuses_to_overwrite_other_results() {
    let d = tmp("merge-over");
    let f = write_sweep(&d, SWEEP);
    std::fs::create_dir_all(d.join("o")).unwrap();
    let other = write_sweep(&d.join("o"), &SWEEP.replace("seed = 7", "seed = 8"));
    let shards: Vec<PathBuf> = (1..=2).map(|k| d.join(format!("s{k}"))).collect();
    for (k, s) in shards.iter().enumerate() {
        let spec = format!("{}/2", k + 1);
        assert!(sweep(&f, s, &["--shard", &spec], None).status.success());
    }
    let foreign = d.join("foreign");
    assert!(sweep(&other, &foreign, &[], None).status.success());
    let before = read(&foreign.join("runs.csv"));
    let o = merge(&foreign, &shards);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("sweep's own directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(read(&foreign.join("runs.csv")), before);
    // The same results copied elsewhere, without the journal.
    let copy = d.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::write(copy.join("runs.csv"), &before).unwrap();
    let o = merge(&copy, &shards);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("different sweep"), "{}", stderr(&o));
    assert_eq!(read(&copy.join("runs.csv")), before);
    let merged = d.join("merged");
    assert!(merge(&merged, &shards).status.success());
    let first = read(&merged.join("runs.csv"));
    let o = merge(&merged, &shards);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read(&merged.join("runs.csv")), first);
    std::fs::remove_dir_all(&d).unwrap();
}

/// Two processes never write into one sweep directory at once: while the
/// directory is locked (as a running sweep or merge holds it), a sweep into
/// it exits 2 saying so, and leaves it untouched.
#[test]
fn a_directory_in_use_is_refused() {
    let d = tmp("lock");
    let f = write_sweep(&d, SWEEP);
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let held = std::fs::File::open(&out).unwrap();
    held.lock().unwrap();
    let o = sweep(&f, &out, &[], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("in use by another"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    held.unlock().unwrap();
    assert!(sweep(&f, &out, &[], None).status.success());
    std::fs::remove_dir_all(&d).unwrap();
}

/// A base written differently but giving every run the same config (a
/// default spelled out, a field every run's axis overrides) resumes, to the
/// files of the uninterrupted sweep; a base edit that changes runs does not.
#[test]
fn a_base_rewritten_to_the_same_runs_resumes() {
    let d = tmp("same-runs");
    let f = write_sweep(&d, SWEEP);
    let whole = d.join("whole");
    assert!(sweep(&f, &whole, &[], None).status.success());
    let cut = d.join("cut");
    let killed = Command::new(BIN)
        .args(["sweep", "--quiet", "--out"])
        .arg(&cut)
        .arg(&f)
        .env("DPO_LAB_CRASH_AT", "sweep:append:5")
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(!killed.status.success(), "the crash hook did not fire");
    // `precision = "f64"` is the default; β is set by the loss.beta axis.
    let same = SWEEP
        .replace("epochs = 100\n", "epochs = 100\nprecision = \"f64\"\n")
        .replace("beta = 0.1\n", "beta = 0.3\n");
    assert_ne!(same, SWEEP);
    write_sweep(&d, &same);
    let o = sweep(&f, &cut, &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    for name in ["runs.csv", "curves.csv"] {
        assert_eq!(read(&whole.join(name)), read(&cut.join(name)), "{name}");
    }
    // A base edit that changes the runs is still refused.
    let cut2 = d.join("cut2");
    write_sweep(&d, SWEEP);
    let killed = Command::new(BIN)
        .args(["sweep", "--quiet", "--out"])
        .arg(&cut2)
        .arg(&f)
        .env("DPO_LAB_CRASH_AT", "sweep:append:5")
        .output()
        .unwrap();
    assert!(!killed.status.success());
    write_sweep(&d, &SWEEP.replace("lr = 0.01", "lr = 0.02"));
    let o = sweep(&f, &cut2, &[], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("optimizer.lr"), "{}", stderr(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

/// A sweep's memory does not grow with its runs: 40 000 runs with curves
/// (62 MB of journal) are killed halfway, resumed and merged, each under a
/// 48 MB address-space limit (`ulimit -v`), where holding the journal's
/// records took about 140 MB; streaming the journal holds 8 bytes a run.
/// One malloc arena (`MALLOC_ARENA_MAX=1`): glibc reserves 64 MB of address
/// space for each thread's own arena, which the limit would refuse.
#[cfg(target_os = "linux")]
#[test]
fn sweep_memory_does_not_grow_with_the_runs() {
    let d = tmp("memory");
    let text = r#"
[sweep]
seed = 3
curve_every = 1
[base]
epochs = 2
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
field = "loss.beta"
range = { start = 0.01, stop = 1.0, num = 200 }
[[axis]]
field = "seed"
range = { start = 0, stop = 199, step = 1 }
"#;
    let f = write_sweep(&d, text);
    let limited = |args: &[&std::ffi::OsStr], crash: Option<&str>| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("ulimit -v 49152; exec \"$0\" \"$@\"")
            .arg(BIN)
            .args(args)
            .env("MALLOC_ARENA_MAX", "1")
            .env("RAYON_NUM_THREADS", "2");
        match crash {
            Some(at) => c.env("DPO_LAB_CRASH_AT", at),
            None => c.env_remove("DPO_LAB_CRASH_AT"),
        };
        c.output().unwrap()
    };
    let out = d.join("out");
    let args: Vec<&std::ffi::OsStr> = vec![
        "sweep".as_ref(),
        f.as_ref(),
        "--out".as_ref(),
        out.as_ref(),
        "--quiet".as_ref(),
        "--force".as_ref(),
    ];
    let killed = limited(&args, Some("sweep:append:20000"));
    assert!(!killed.status.success(), "the crash hook did not fire");
    assert!(!out.join("runs.csv").exists());
    let o = limited(&args, None);
    assert!(o.status.success(), "{}", stderr(&o));
    let runs = read(&out.join("runs.csv"));
    let curves = read(&out.join("curves.csv"));
    let lines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
    assert_eq!(lines(&runs), 40_001);
    assert_eq!(lines(&curves), 40_000 * 3 + 1);
    let merged = d.join("merged");
    let o = limited(
        &[
            "merge".as_ref(),
            "--out".as_ref(),
            merged.as_ref(),
            out.as_ref(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(read(&merged.join("runs.csv")) == runs);
    assert!(read(&merged.join("curves.csv")) == curves);
    std::fs::remove_dir_all(&d).unwrap();
}
