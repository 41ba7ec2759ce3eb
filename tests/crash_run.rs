//! `dpo-lab run` writes its directory as one unit. Killed at each point of a
//! fixed list (the `DPO_LAB_CRASH_AT` test hook of `src/io/crash.rs`, which
//! aborts the process there as `kill -9` would), the output directory holds
//! the complete older run, the complete new one, or nothing, never a mix; a
//! rerun then gives the uninterrupted result byte for byte and leaves no
//! temporaries. Also: a failing write over an older run leaves it intact,
//! a different run's results are not overwritten without `--force`, the
//! refusal of over-long runs, and memory that does not grow with the epochs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A small tabular run: 30 epochs, every one recorded.
fn config(lr: f64) -> String {
    format!(
        "seed = 3\nepochs = 30\n\n[policy]\nkind = \"tabular\"\n\n[data]\nscenario = \"scenario1\"\n\n\
         [loss]\nname = \"dpo\"\nbeta = 0.1\n\n[optimizer]\nname = \"sgd\"\nlr = {lr}\n"
    )
}

/// A fresh, empty directory under the system temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "dpo-lab-test-crash-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `dpo-lab run CONFIG --out OUT [extra]`, with the crash hook at `crash`.
fn run(config: &Path, out: &Path, extra: &[&str], crash: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dpo-lab"));
    c.arg("run").arg(config).arg("--out").arg(out).args(extra);
    c.env_remove("DPO_LAB_CRASH_AT");
    if let Some(p) = crash {
        c.env("DPO_LAB_CRASH_AT", p);
    }
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every entry of `dir` (name → bytes; a directory as `name/` → nothing);
/// empty if `dir` is absent.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if e.file_type().unwrap().is_dir() {
                m.insert(name + "/", Vec::new());
            } else {
                m.insert(name, std::fs::read(e.path()).unwrap());
            }
        }
    }
    m
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// The files of an uninterrupted run of `config` into a fresh directory.
fn uninterrupted(root: &Path, cfg: &Path, tag: &str) -> BTreeMap<String, Vec<u8>> {
    let out = root.join(format!("reference-{tag}"));
    let o = run(cfg, &out, &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = contents(&out);
    assert_eq!(
        c.keys().collect::<Vec<_>>(),
        ["config.toml", "metrics.csv", "probs.csv", "summary.csv"]
    );
    // 31 recorded epochs and a header.
    assert_eq!(c["metrics.csv"].iter().filter(|&&b| b == b'\n').count(), 32);
    std::fs::remove_dir_all(&out).unwrap();
    c
}

/// The crash points of `run`, in the order a run reaches them; the last two
/// are reached only when an older run is being replaced.
const POINTS: [&str; 5] = [
    "run:metrics-row:1",
    "run:metrics-row:17",
    "run:before-rename",
    "run:after-aside",
    "run:before-delete-old",
];

fn killed(o: &Output) -> bool {
    // Aborted by the hook: no exit code, and nothing was printed as done.
    o.status.code().is_none() && !stderr(o).contains("wrote ")
}

#[test]
fn a_killed_run_leaves_the_older_run_or_nothing_and_reruns_to_the_same_bytes() {
    let root = temp_dir("points");
    let (new_cfg, old_cfg) = (root.join("new.toml"), root.join("old.toml"));
    std::fs::write(&new_cfg, config(1.0)).unwrap();
    std::fs::write(&old_cfg, config(0.5)).unwrap();
    let new = uninterrupted(&root, &new_cfg, "new");
    let old = uninterrupted(&root, &old_cfg, "old");
    assert_ne!(new["metrics.csv"], old["metrics.csv"]);

    for (i, point) in POINTS.iter().enumerate() {
        for over_older in [false, true] {
            let out = root.join(format!("out-{i}-{over_older}"));
            if over_older {
                let o = run(&old_cfg, &out, &[], None);
                assert!(o.status.success(), "{}", stderr(&o));
            }
            let o = run(&new_cfg, &out, &["--force"], Some(point));
            let reachable = over_older || i < 3;
            assert_eq!(
                killed(&o),
                reachable,
                "{point} (over an older run: {over_older}): {:?} {}",
                o.status,
                stderr(&o)
            );
            // Whole older run, whole new run, or nothing: never a mix.
            let after = contents(&out);
            assert!(
                after.is_empty() || after == old || after == new,
                "{point}: {} holds a mix: {:?}",
                out.display(),
                after.keys().collect::<Vec<_>>()
            );
            if !over_older && reachable {
                assert!(after.is_empty(), "{point}: a killed first run left files");
            }
            if over_older && *point != "run:before-delete-old" {
                // Before the new run is in place, the older one is whole (or,
                // between the two renames, moved aside and put back on the
                // next start).
                assert!(after.is_empty() || after == old, "{point}");
            }
            // The rerun cleans up and gives the uninterrupted bytes.
            let o = run(&new_cfg, &out, &["--force"], None);
            assert!(o.status.success(), "{point}: {}", stderr(&o));
            assert!(contents(&out) == new, "{point}: rerun differs");
            let left: Vec<String> = names(&root)
                .into_iter()
                .filter(|n| n.starts_with('.'))
                .collect();
            assert!(left.is_empty(), "{point}: temporaries left: {left:?}");
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
}

/// Killed between moving the older run aside and moving the new one in,
/// the next start puts the older run back: without `--force` a rerun of
/// another config is refused and the older run is there, whole.
#[test]
fn an_older_run_moved_aside_by_a_killed_run_is_put_back() {
    let root = temp_dir("aside");
    let (new_cfg, old_cfg) = (root.join("new.toml"), root.join("old.toml"));
    std::fs::write(&new_cfg, config(1.0)).unwrap();
    std::fs::write(&old_cfg, config(0.5)).unwrap();
    let out = root.join("out");
    assert!(run(&old_cfg, &out, &[], None).status.success());
    let old = contents(&out);
    let o = run(&new_cfg, &out, &["--force"], Some("run:after-aside"));
    assert!(killed(&o), "{:?} {}", o.status, stderr(&o));
    assert!(!out.exists(), "the older run was not moved aside");
    let o = run(&new_cfg, &out, &[], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("different run"), "{}", stderr(&o));
    assert!(
        contents(&out) == old,
        "the older run was not put back whole"
    );
    assert_eq!(names(&root), ["new.toml", "old.toml", "out"]);
    std::fs::remove_dir_all(&root).unwrap();
}

/// A write that fails part way (the file size limit makes `probs.csv` fail
/// with EFBIG, as a full disk would) leaves the older run whole and no
/// temporary; without the limit the same command succeeds. On main before
/// issue 13 this deleted the older run's `metrics.csv`.
#[cfg(target_os = "linux")]
#[test]
fn a_failing_write_over_an_older_run_leaves_it_intact() {
    let root = temp_dir("efbig");
    let (new_cfg, old_cfg) = (root.join("new.toml"), root.join("old.toml"));
    // 3000 recorded epochs: metrics.csv (about 1.1 MB) fits under the limit, probs.csv does not.
    std::fs::write(
        &new_cfg,
        config(1.0).replace("epochs = 30", "epochs = 3000"),
    )
    .unwrap();
    std::fs::write(&old_cfg, config(0.5)).unwrap();
    let out = root.join("out");
    assert!(run(&old_cfg, &out, &[], None).status.success());
    let old = contents(&out);
    let o = Command::new("sh")
        .arg("-c")
        // Ignored SIGXFSZ makes an over-limit write fail with EFBIG instead of killing.
        .arg("trap '' XFSZ; ulimit -f 4000; exec \"$0\" run \"$1\" --out \"$2\" --force")
        .arg(env!("CARGO_BIN_EXE_dpo-lab"))
        .arg(&new_cfg)
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("probs.csv"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(contents(&out) == old, "the older run changed");
    assert_eq!(names(&root), ["new.toml", "old.toml", "out"]);
    let o = run(&new_cfg, &out, &["--force"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(contents(&out) != old);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_different_runs_results_are_replaced_only_with_force() {
    let root = temp_dir("overwrite");
    let (a, b) = (root.join("a.toml"), root.join("b.toml"));
    std::fs::write(&a, config(1.0)).unwrap();
    std::fs::write(&b, config(0.5)).unwrap();
    let out = root.join("out");
    assert!(run(&a, &out, &[], None).status.success());
    let first = contents(&out);
    // The same config again: the same result, replaced silently.
    let o = run(&a, &out, &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(contents(&out) == first);
    // Another config: refused, naming the directory and the differing field.
    let o = run(&b, &out, &[], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let msg = stderr(&o);
    for needle in [
        out.to_str().unwrap(),
        "different run",
        "`optimizer.lr` = 1.0 there, 0.5 in this run",
        "--force",
    ] {
        assert!(msg.contains(needle), "`{msg}` lacks `{needle}`");
    }
    assert!(
        contents(&out) == first,
        "a refused run changed the directory"
    );
    let o = run(&b, &out, &["--force"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let second = contents(&out);
    assert!(second != first);
    assert!(String::from_utf8_lossy(&second["config.toml"]).contains("lr = 0.5"));

    // A directory with other files: refused naming them; with --force the
    // run's files go in and the others stay.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = run(&a, &out, &[], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("notes.txt"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    // Killed before its files move in: the older files and the others stay.
    let o = run(&b, &out, &["--force"], Some("run:before-rename"));
    assert!(killed(&o), "{:?} {}", o.status, stderr(&o));
    let mut with_notes = second.clone();
    with_notes.insert("notes.txt".into(), b"mine".to_vec());
    let mut after = contents(&out);
    after.retain(|k, _| !k.starts_with(".run.tmp-"));
    assert!(after == with_notes);
    let o = run(&a, &out, &["--force"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut with_notes = first.clone();
    with_notes.insert("notes.txt".into(), b"mine".to_vec());
    assert!(contents(&out) == with_notes);
    assert_eq!(names(&root), ["a.toml", "b.toml", "out"]);
    std::fs::remove_dir_all(&root).unwrap();
}

/// Temporaries of killed processes are deleted at start, those of live ones
/// kept: a `.probs.csv.tmp-<pid>` in the directory, a `.<dir>.tmp-<pid>` beside it.
#[cfg(target_os = "linux")]
#[test]
fn stale_temporaries_are_cleaned_at_start() {
    let root = temp_dir("stale");
    let cfg = root.join("a.toml");
    std::fs::write(&cfg, config(1.0)).unwrap();
    let out = root.join("out");
    assert!(run(&cfg, &out, &[], None).status.success());
    let first = contents(&out);
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let alive = std::process::id();
    std::fs::write(out.join(format!(".probs.csv.tmp-{dead}")), "torn").unwrap();
    std::fs::create_dir(root.join(format!(".out.tmp-{dead}"))).unwrap();
    std::fs::write(root.join(format!(".out.tmp-{dead}/metrics.csv")), "torn").unwrap();
    std::fs::create_dir(root.join(format!(".out.tmp-{alive}"))).unwrap();
    // What a run writing in place (among other files, or into a mount point) leaves.
    std::fs::create_dir(out.join(format!(".run.tmp-{dead}"))).unwrap();
    std::fs::write(out.join(format!(".run.tmp-{dead}/probs.csv")), "torn").unwrap();
    let o = run(&cfg, &out, &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(contents(&out) == first);
    assert_eq!(
        names(&root),
        [format!(".out.tmp-{alive}"), "a.toml".into(), "out".into()]
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn over_long_runs_are_refused_without_force() {
    let root = temp_dir("long");
    let help = Command::new(env!("CARGO_BIN_EXE_dpo-lab"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for limit in [
        dpo_lab::io::output::MAX_EPOCHS,
        dpo_lab::io::output::MAX_RECORDED_ROWS,
    ] {
        assert!(help.contains(&limit.to_string()), "help lacks {limit}");
    }
    let cases = [
        // i64::MAX epochs, each recorded: both limits.
        (
            "epochs = 9223372036854775807",
            "",
            vec![
                "`epochs` = 9223372036854775807 with `record_every` = 1",
                "more than the limit of 100000000",
                "9223372036854775808 epochs of 41 CSV rows",
                "raise `record_every`",
                "pass --force",
            ],
        ),
        // Few records, too many epochs: `record_every` does not help.
        (
            "epochs = 9223372036854775807",
            "record_every = 9223372036854775807",
            vec![
                "more than the limit of 100000000",
                "lower `epochs`, or pass --force",
            ],
        ),
        // Few epochs, too many rows.
        (
            "epochs = 250000",
            "",
            vec![
                "250001 epochs of 41 CSV rows",
                "10250041 rows",
                "pass --force",
            ],
        ),
    ];
    for (i, (epochs, every, needles)) in cases.iter().enumerate() {
        let cfg = root.join(format!("c{i}.toml"));
        let text = config(1.0).replace("epochs = 30", &format!("{epochs}\n{every}"));
        std::fs::write(&cfg, text).unwrap();
        let out = root.join(format!("out{i}"));
        let o = run(&cfg, &out, &[], None);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        for n in needles {
            assert!(stderr(&o).contains(n), "`{}` lacks `{n}`", stderr(&o));
        }
        assert!(!out.exists());
    }
    // Just under the rows limit runs (quickly: a tabular run, 2 records).
    let cfg = root.join("ok.toml");
    let ok = config(1.0).replace("epochs = 30", "epochs = 100000\nrecord_every = 100000");
    std::fs::write(&cfg, ok).unwrap();
    let o = run(&cfg, &root.join("ok"), &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_dir_all(&root).unwrap();
}

/// Recorded rows go to disk, not memory: 20 000 recorded epochs (about 5 MB
/// of rows and snapshots in memory, 45 MB of CSV) run under a 64 MB address
/// space limit, where keeping them in memory took about 100 MB; and the
/// streamed bytes equal the library's in-memory run.
#[cfg(target_os = "linux")]
#[test]
fn run_memory_does_not_grow_with_the_records() {
    use dpo_lab::engine::train::{train, Keep};
    use dpo_lab::io::config::Config;
    use dpo_lab::io::output::csv_bytes;
    let root = temp_dir("memory");
    let text = config(1e-3).replace("epochs = 30", "epochs = 20000");
    let cfg = root.join("a.toml");
    std::fs::write(&cfg, &text).unwrap();
    let out = root.join("out");
    let o = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 65536; exec \"$0\" run \"$1\" --out \"$2\"")
        .arg(env!("CARGO_BIN_EXE_dpo-lab"))
        .arg(&cfg)
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let c = Config::from_toml_str(&text).unwrap().resolved().unwrap();
    let r = train(&c.build().unwrap(), Keep::ALL);
    assert_eq!(r.metrics.len(), 20001);
    assert!(std::fs::read(out.join("metrics.csv")).unwrap() == csv_bytes(&r.metrics));
    assert!(std::fs::read(out.join("probs.csv")).unwrap() == csv_bytes(&r.prob_rows()));
    std::fs::remove_dir_all(&root).unwrap();
}

/// An existing output directory keeps what its owner set on it (permission
/// bits, setgid) when a run replaces it, and `--out .` writes into the
/// directory the caller stands in rather than swapping it for a new one.
#[cfg(unix)]
#[test]
fn an_existing_output_directory_keeps_its_mode_and_identity() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let d = temp_dir("mode");
    let cfg = d.join("run.toml");
    std::fs::write(&cfg, config(0.5)).unwrap();
    let out = d.join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o2750)).unwrap();
    for _ in 0..2 {
        let o = run(&cfg, &out, &[], None);
        assert!(o.status.success(), "{}", stderr(&o));
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o2750, "mode {mode:o}");
        assert!(out.join("config.toml").is_file());
    }
    let here = d.join("here");
    std::fs::create_dir(&here).unwrap();
    let ino = std::fs::metadata(&here).unwrap().ino();
    for _ in 0..2 {
        let o = Command::new(env!("CARGO_BIN_EXE_dpo-lab"))
            .arg("run")
            .arg(&cfg)
            .args(["--out", "."])
            .current_dir(&here)
            .env_remove("DPO_LAB_CRASH_AT")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            std::fs::metadata(&here).unwrap().ino(),
            ino,
            "directory swapped"
        );
        assert_eq!(contents(&here), contents(&out), "same run, same files");
    }
    std::fs::remove_dir_all(&d).unwrap();
}
