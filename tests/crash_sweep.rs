//! Crash consistency of sweeps and merges: processes stopped at a fixed list
//! of points (the `DPO_LAB_CRASH_AT` test hook aborts the process there, as
//! `kill -9` would), journals damaged in the ways disks and people damage
//! them, and sweeps changed between a kill and its resume. Every recovery
//! must end in the files an uninterrupted sweep writes, byte for byte; every
//! mix of configs must be refused. Small tabular grids, so each case takes
//! a fraction of a second.

use dpo_lab::io::sweep::{merge, run_sweep, Shard, Sweep, SweepOptions};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dpo-lab");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dpo-lab-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The base run config, in its own file as the paper's sweeps have it.
const BASE: &str = r#"
epochs = 40
[policy]
kind = "tabular"
[data]
scenario = "scenario1"
[loss]
name = "dpo"
beta = 0.1
[optimizer]
name = "adam"
lr = 0.01
"#;

/// 12 runs with curves.
const SWEEP: &str = r#"
base = "base.toml"
[sweep]
seed = 11
curve_every = 10
[[axis]]
field = "loss.beta"
values = [0.1, 0.5, 2.0]
[[axis]]
field = "data.scenario"
values = ["scenario1", "scenario4"]
[[axis]]
field = "seed"
values = [0, 1]
"#;

fn setup(d: &Path, sweep: &str) -> PathBuf {
    std::fs::write(d.join("base.toml"), BASE).unwrap();
    let f = d.join("sweep.toml");
    std::fs::write(&f, sweep).unwrap();
    f
}

fn dpo(args: &[&std::ffi::OsStr], crash: Option<&str>) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env("RAYON_NUM_THREADS", "2");
    match crash {
        Some(at) => c.env("DPO_LAB_CRASH_AT", at),
        None => c.env_remove("DPO_LAB_CRASH_AT"),
    };
    c.output().unwrap()
}

fn sweep(f: &Path, out: &Path, extra: &[&str], crash: Option<&str>) -> Output {
    let mut a: Vec<&std::ffi::OsStr> = vec!["sweep".as_ref(), f.as_ref(), "--out".as_ref()];
    a.push(out.as_ref());
    a.push("--quiet".as_ref());
    a.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    dpo(&a, crash)
}

fn merge_cmd(out: &Path, shards: &[PathBuf], crash: Option<&str>) -> Output {
    let mut a: Vec<&std::ffi::OsStr> = vec!["merge".as_ref(), "--out".as_ref(), out.as_ref()];
    a.extend(shards.iter().map(|s| s.as_os_str()));
    dpo(&a, crash)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", err(o));
}

/// The files of `a` and `b` are the same bytes.
fn same_results(a: &Path, b: &Path, what: &str) {
    for name in ["runs.csv", "curves.csv"] {
        assert_eq!(read(&a.join(name)), read(&b.join(name)), "{what}: {name}");
    }
}

/// No temporaries and no commit marker are left in `d`.
fn no_leftovers(d: &Path, what: &str) {
    for e in std::fs::read_dir(d).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !n.contains(".tmp-") && !n.contains("pending"),
            "{what}: {n} left in {}",
            d.display()
        );
    }
}

/// A crash never leaves a `runs.csv` without its `curves.csv`.
fn never_runs_alone(d: &Path, what: &str) {
    if d.join("runs.csv").exists() {
        assert!(d.join("curves.csv").exists(), "{what}: runs.csv alone");
    }
}

/// A sweep killed at each point of a fixed list resumes to the files of an
/// uninterrupted sweep.
#[test]
fn a_sweep_killed_anywhere_resumes_to_the_same_files() {
    let d = tmp("kill-sweep");
    let f = setup(&d, SWEEP);
    let whole = d.join("whole");
    ok(&sweep(&f, &whole, &[], None));
    no_leftovers(&whole, "whole");
    let points = [
        "sweep:append:1",
        "sweep:append:6",
        "sweep:append:12",
        "sweep:torn:1",
        "sweep:torn:7",
        "sweep:assemble-temps:1",
        "sweep:assemble-marker:1",
        "sweep:assemble-rename:1",
    ];
    for at in points {
        let out = d.join(at.replace(':', "-"));
        let o = sweep(&f, &out, &[], Some(at));
        assert!(!o.status.success(), "{at}: the hook did not stop the sweep");
        never_runs_alone(&out, at);
        // Runs journaled before the crash are not run again.
        let journaled = std::fs::read(out.join("journal.txt"))
            .map(|b| b.windows(3).filter(|w| w == b"\nE,").count())
            .unwrap_or(0);
        let o = dpo(
            &[
                "sweep".as_ref(),
                f.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
            ],
            None,
        );
        ok(&o);
        assert!(
            err(&o).contains(&format!("ran {} runs", 12 - journaled)),
            "{at}: {}",
            err(&o)
        );
        same_results(&whole, &out, at);
        no_leftovers(&out, at);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// A merge killed while it replaces an older complete pair leaves that pair
/// whole (or, between the two renames, a new `curves.csv` that the next
/// merge finishes), and the next merge gives the files of the whole sweep.
#[test]
fn a_merge_killed_anywhere_keeps_or_finishes_the_pair() {
    let d = tmp("kill-merge");
    let f = setup(&d, SWEEP);
    let whole = d.join("whole");
    ok(&sweep(&f, &whole, &[], None));
    let shards: Vec<PathBuf> = (1..=3).map(|k| d.join(format!("s{k}"))).collect();
    for (k, s) in shards.iter().enumerate() {
        ok(&sweep(&f, s, &["--shard", &format!("{}/3", k + 1)], None));
    }
    // An older pair that differs from the merge's (merge refuses to write
    // over another sweep's runs, so the runs are this sweep's and the curves
    // a cut of them): the crashes must keep it or finish the new pair.
    let older = d.join("older");
    std::fs::create_dir_all(&older).unwrap();
    std::fs::copy(whole.join("runs.csv"), older.join("runs.csv")).unwrap();
    let curves = String::from_utf8(read(&whole.join("curves.csv"))).unwrap();
    let cut: String = curves.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(older.join("curves.csv"), cut).unwrap();
    assert_ne!(
        read(&older.join("curves.csv")),
        read(&whole.join("curves.csv"))
    );
    for at in [
        "sweep:assemble-temps:1",
        "sweep:assemble-marker:1",
        "sweep:assemble-rename:1",
    ] {
        let out = d.join(format!("m-{}", at.replace(':', "-")));
        std::fs::create_dir_all(&out).unwrap();
        for name in ["runs.csv", "curves.csv"] {
            std::fs::copy(older.join(name), out.join(name)).unwrap();
        }
        let o = merge_cmd(&out, &shards, Some(at));
        assert!(!o.status.success(), "{at}: the hook did not stop the merge");
        if at == "sweep:assemble-rename:1" {
            // The new curves.csv is in; the marker says runs.csv must follow.
            assert_eq!(
                read(&out.join("curves.csv")),
                read(&whole.join("curves.csv"))
            );
            assert!(out.join(".assemble.pending").exists(), "{at}");
        } else {
            same_results(&older, &out, at);
        }
        ok(&merge_cmd(&out, &shards, None));
        same_results(&whole, &out, at);
        no_leftovers(&out, at);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Damaged journals: each damage drops only the records it touches, says how
/// many in one line, and the resumed sweep writes the uninterrupted files.
#[test]
fn damaged_journals_recover_to_the_same_files() {
    let d = tmp("damage");
    let f = setup(&d, SWEEP);
    let whole = d.join("whole");
    ok(&sweep(&f, &whole, &[], None));
    let journal = read(&whole.join("journal.txt"));
    let starts: Vec<usize> = (0..journal.len())
        .filter(|&i| journal[i..].starts_with(b"B,") && (i == 0 || journal[i - 1] == b'\n'))
        .collect();
    assert_eq!(starts.len(), 12);
    let recs: Vec<std::ops::Range<usize>> = (0..12)
        .map(|k| starts[k]..starts.get(k + 1).copied().unwrap_or(journal.len()))
        .collect();
    let rec = |k: usize| recs[k].clone();
    let r3 = rec(3);
    let text = String::from_utf8(journal.clone()).unwrap();
    // The `R,` line of record 5 and the offset of its run_seed's first digit.
    let r5 = rec(5);
    let rline = r5.start + text[r5.clone()].find("\nR,").unwrap() + 3;
    let seed_at = rline + text[rline..].match_indices(',').nth(4).unwrap().0 + 1;
    let (r2, r4, r6, r7, r9, r11) = (rec(2), rec(4), rec(6), rec(7), rec(9), rec(11));
    type Damage = (&'static str, Box<dyn Fn(&mut Vec<u8>)>, Option<usize>);
    let cases: Vec<Damage> = vec![
        (
            "8 bytes overwritten in a curves line",
            Box::new(move |j| j[r3.start + 100..r3.start + 108].copy_from_slice(b"GARBAGE!")),
            Some(1),
        ),
        (
            "a digit of a run seed changed",
            Box::new(move |j| j[seed_at] = if j[seed_at] == b'1' { b'2' } else { b'1' }),
            Some(1),
        ),
        (
            "invalid UTF-8 inside a record",
            Box::new(move |j| {
                j[r7.start + 40] = 0xff;
                j[r7.start + 41] = 0xfe;
            }),
            Some(1),
        ),
        (
            "invalid UTF-8 between records",
            Box::new(move |j| {
                let at = r2.start;
                j.splice(at..at, b"\xc3\x28\xff\n".iter().copied());
            }),
            Some(1),
        ),
        (
            "a record deleted",
            Box::new(move |j| {
                j.drain(r4.clone());
            }),
            None,
        ),
        (
            "a record duplicated",
            Box::new(move |j| {
                let r = j[r6.clone()].to_vec();
                j.extend_from_slice(&r);
            }),
            None,
        ),
        (
            "garbage lines",
            Box::new(move |j| {
                let at = r9.start;
                j.splice(at..at, b"hello\nE,9,zz\nC,1,2\n".iter().copied());
            }),
            Some(2),
        ),
        (
            "a torn tail",
            Box::new(move |j| {
                let r = r11.clone();
                j.truncate(r.start + (r.end - r.start) / 2);
            }),
            Some(1),
        ),
    ];
    for (i, (what, damage, dropped)) in cases.iter().enumerate() {
        let out = d.join(format!("case{i}"));
        std::fs::create_dir_all(&out).unwrap();
        std::fs::copy(whole.join("sweep.toml"), out.join("sweep.toml")).unwrap();
        let mut j = journal.clone();
        damage(&mut j);
        assert_ne!(j, journal, "{what}: nothing damaged");
        std::fs::write(out.join("journal.txt"), &j).unwrap();
        let o = sweep(&f, &out, &[], None);
        ok(&o);
        let e = err(&o);
        let lines: Vec<&str> = e.lines().filter(|l| l.contains("dropped")).collect();
        match dropped {
            Some(n) => {
                assert_eq!(lines.len(), 1, "{what}: {e}");
                let s = if *n == 1 { "" } else { "s" };
                assert!(
                    lines[0].contains(&format!("dropped {n} damaged or incomplete record{s}")),
                    "{what}: {e}"
                );
            }
            None => assert!(lines.is_empty(), "{what}: {e}"),
        }
        same_results(&whole, &out, what);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Editing the base config between a kill and the resume, or merging shards
/// made from different bases, is refused with the field named; so is a
/// journal from another sweep. Nothing is written.
#[test]
fn results_of_other_configs_are_refused() {
    let d = tmp("refuse");
    let f = setup(&d, SWEEP);
    let cut = d.join("cut");
    assert!(!sweep(&f, &cut, &[], Some("sweep:append:5"))
        .status
        .success());
    std::fs::write(d.join("base.toml"), BASE.replace("lr = 0.01", "lr = 0.02")).unwrap();
    let o = sweep(&f, &cut, &[], None);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let e = err(&o);
    assert!(
        e.contains("`optimizer.lr` is 0.01 in the journal, 0.02 now (")
            && e.contains("base.toml changed?)"),
        "{e}"
    );
    assert!(
        e.starts_with("dpo-lab: file error:") && e.contains(": run "),
        "{e}"
    );
    assert!(!cut.join("runs.csv").exists());
    // An axis changed: the run's config names the axis field.
    std::fs::write(d.join("base.toml"), BASE).unwrap();
    let f2 = setup(&d, &SWEEP.replace("0.5, 2.0", "0.5, 3.0"));
    std::fs::write(d.join("base.toml"), BASE).unwrap();
    let full = d.join("full");
    ok(&sweep(&f2, &full, &[], None));
    std::fs::write(&f2, SWEEP).unwrap();
    let o = sweep(&f2, &full, &[], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains(
            "`loss.beta` is 3.0 in the journal, 2.0 now (the sweep file's axes changed?)"
        ),
        "{}",
        err(&o)
    );
    // Shards of different bases.
    let s1 = d.join("s1");
    ok(&sweep(&f, &s1, &["--shard", "1/2"], None));
    std::fs::write(d.join("base.toml"), BASE.replace("lr = 0.01", "lr = 0.03")).unwrap();
    let s2 = d.join("s2");
    ok(&sweep(&f, &s2, &["--shard", "2/2"], None));
    let m = d.join("m");
    let o = merge_cmd(&m, &[s1.clone(), s2.clone()], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("belongs to a different sweep than")
            && err(&o).contains("`base.optimizer.lr` is 0.01 in"),
        "{}",
        err(&o)
    );
    assert!(!m.exists(), "merge wrote {}", m.display());
    // A shard's journal record swapped for one of another config.
    let s2b = d.join("s2b");
    std::fs::write(d.join("base.toml"), BASE).unwrap();
    ok(&sweep(&f, &s2b, &["--shard", "2/2"], None));
    std::fs::copy(s2.join("journal.txt"), s2b.join("journal.txt")).unwrap();
    let o = merge_cmd(&m, &[s1.clone(), s2b.clone()], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("was made from another config"),
        "{}",
        err(&o)
    );
    assert!(!m.exists(), "merge wrote {}", m.display());
    // A damaged shard journal is not merged short.
    let mut j = read(&s1.join("journal.txt"));
    j[20] ^= 0x40;
    std::fs::write(s1.join("journal.txt"), j).unwrap();
    let o = merge_cmd(&m, &[s1, s2b], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("damaged or incomplete"), "{}", err(&o));
    assert!(!err(&o).contains("panicked"));
    assert!(!m.exists(), "merge wrote {}", m.display());
    std::fs::remove_dir_all(&d).unwrap();
}

/// Temporaries of processes that are gone are removed when a sweep starts;
/// a sweep directory from the journal's old format is refused, not misread.
#[test]
fn stale_temporaries_are_cleaned_and_old_journals_refused() {
    let d = tmp("stale");
    let f = setup(&d, SWEEP);
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Above Linux's largest pid (2^22), so never a live process.
    for name in [".runs.csv.tmp-99999999", ".journal.txt.tmp-99999999"] {
        std::fs::write(out.join(name), "stale").unwrap();
    }
    ok(&sweep(&f, &out, &[], None));
    no_leftovers(&out, "stale");
    let old = d.join("old");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("sweep.toml"), format!("# shard 1/1\n{SWEEP}")).unwrap();
    let o = sweep(&f, &old, &[], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("older format"), "{}", err(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

/// A random small sweep: 1 to 3 axes over β, scenario, lr and seed, with or
/// without curves.
fn sweep_text(betas: usize, scen: bool, lrs: usize, seeds: usize, curves: bool) -> String {
    let mut s = format!(
        "[sweep]\nseed = 5\ncurve_every = {}\n[base]\nepochs = 12\n[base.policy]\nkind = \"tabular\"\n[base.data]\nscenario = \"scenario2\"\n[base.loss]\nname = \"dpo\"\nbeta = 0.1\n[base.optimizer]\nname = \"sgd\"\nlr = 0.5\n",
        if curves { 4 } else { 0 }
    );
    let betas = [0.05, 0.1, 1.0][..betas].to_vec();
    s.push_str(&format!(
        "[[axis]]\nfield = \"loss.beta\"\nvalues = {betas:?}\n"
    ));
    if scen {
        s.push_str(
            "[[axis]]\nfield = \"data.scenario\"\nvalues = [\"scenario1\", \"scenario3\"]\n",
        );
    }
    if lrs > 1 {
        s.push_str(&format!(
            "[[axis]]\nfield = \"optimizer.lr\"\nrange = {{ start = 0.1, stop = 1.0, num = {lrs}, scale = \"log\" }}\n"
        ));
    }
    s.push_str(&format!(
        "[[axis]]\nfield = \"seed\"\nvalues = {:?}\n",
        (0..seeds).collect::<Vec<_>>()
    ));
    s
}

fn files(d: &Path) -> (Vec<u8>, Option<Vec<u8>>) {
    (
        read(&d.join("runs.csv")),
        std::fs::read(d.join("curves.csv")).ok(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    /// Shards of a random valid sweep, merged, equal the whole sweep byte
    /// for byte, for any shard count (including more shards than runs).
    #[test]
    fn shards_merged_equal_the_whole(
        betas in 1usize..=3,
        scen in any::<bool>(),
        lrs in 1usize..=3,
        seeds in 1usize..=2,
        curves in any::<bool>(),
        count in 1usize..=5,
    ) {
        let text = sweep_text(betas, scen, lrs, seeds, curves);
        let d = tmp(&format!("prop-{betas}{scen}{lrs}{seeds}{curves}{count}"));
        let sw = Sweep::from_toml_str(&text, &d).unwrap();
        let opts = |shard| SweepOptions { shard, max_runs: None, quiet: true };
        let whole = d.join("whole");
        run_sweep(&sw, &whole, opts(Shard::ALL)).unwrap();
        let shards: Vec<PathBuf> = (0..count).map(|k| d.join(format!("s{k}"))).collect();
        for (k, s) in shards.iter().enumerate() {
            // A shard with no runs has an empty journal; merge takes it as such.
            run_sweep(&sw, s, opts(Shard { index: k, count })).unwrap();
        }
        let merged = d.join("merged");
        merge(&shards, &merged).unwrap();
        prop_assert_eq!(files(&whole), files(&merged));
        prop_assert_eq!(files(&whole).1.is_some(), curves);
        std::fs::remove_dir_all(&d).unwrap();
    }
}

/// `reproduce --resume` resumes through `run_for_report`: an edited base
/// config is refused there too, naming the field, and the old results stay.
#[test]
fn a_report_resume_refuses_an_edited_base() {
    use dpo_lab::io::sweep::run_for_report;
    let d = tmp("report");
    let f = setup(&d, SWEEP);
    let out = d.join("sweeps").join("small");
    run_for_report(&f, &out, false).unwrap();
    let runs = read(&out.join("runs.csv"));
    std::fs::write(
        d.join("base.toml"),
        BASE.replace("epochs = 40", "epochs = 41"),
    )
    .unwrap();
    let e = run_for_report(&f, &out, true).unwrap_err().to_string();
    assert!(
        e.contains("run 0: `epochs` is 40 in the journal, 41 now (")
            && e.contains("base.toml changed?)"),
        "{e}"
    );
    assert_eq!(read(&out.join("runs.csv")), runs);
    // Without --resume the old results are deleted and the sweep rerun.
    run_for_report(&f, &out, false).unwrap();
    assert_ne!(read(&out.join("runs.csv")), runs);
    std::fs::remove_dir_all(&d).unwrap();
}

/// A write that fails while the pair is put in place (here `curves.csv` is
/// a directory) exits 2 and leaves no `runs.csv`; once the obstacle is gone,
/// the next sweep finishes the pair.
#[test]
fn a_failed_assembly_leaves_no_runs_csv_alone() {
    let d = tmp("fail");
    let f = setup(&d, SWEEP);
    let whole = d.join("whole");
    ok(&sweep(&f, &whole, &[], None));
    let out = d.join("out");
    std::fs::create_dir_all(out.join("curves.csv").join("x")).unwrap();
    let o = sweep(&f, &out, &[], None);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("curves.csv"), "{}", err(&o));
    assert!(!out.join("runs.csv").exists());
    std::fs::remove_dir_all(out.join("curves.csv")).unwrap();
    ok(&sweep(&f, &out, &[], None));
    same_results(&whole, &out, "after the failure");
    no_leftovers(&out, "after the failure");
    std::fs::remove_dir_all(&d).unwrap();
}
