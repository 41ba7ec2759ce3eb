//! Writing results. A file is written to a temporary name and renamed into
//! place, so it is whole or absent; a run's directory is built as a
//! temporary sibling, its rows streamed there as the loop makes them, and
//! renamed into place as one unit ([`RunOutput`]).

use crate::engine::metrics::{MetricsRow, ProbRow, Summary};
use crate::engine::train::{Recorder, RunResult, RunSpec};
use crate::error::{Error, Result};
use crate::io::crash;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// Renders rows as CSV with a header line (serde field names).
pub fn csv_bytes<T: Serialize>(rows: &[T]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)
            .expect("rows of plain numbers always serialise");
    }
    w.into_inner().expect("writing to memory cannot fail")
}

/// One CSV record (no header, no line terminator): `row`'s fields in order,
/// nested structs and sequences flattened, quoted only where needed.
pub fn csv_record<T: Serialize + ?Sized>(row: &T) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.serialize(row)
        .expect("rows of plain numbers and strings always serialise");
    let mut s = String::from_utf8(w.into_inner().expect("writing to memory cannot fail"))
        .expect("CSV of strings is UTF-8");
    if s.ends_with('\n') {
        s.pop();
    }
    s
}

/// The header [`csv_bytes`] writes for rows of `row`'s type (serde field names).
pub fn csv_header<T: Serialize>(row: &T) -> Vec<String> {
    let bytes = csv_bytes(std::slice::from_ref(row));
    csv::Reader::from_reader(bytes.as_slice())
        .headers()
        .expect("a header just written reads back")
        .iter()
        .map(String::from)
        .collect()
}

/// Writes `bytes` to `path` atomically: a temporary sibling, synced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| {
        w.write_all(bytes).map_err(|e| Error::file(path, "", e))
    })
}

/// [`write_atomic`] of the bytes `fill` writes (through a buffer), for
/// files too large to build in memory first; `fill` maps its own errors
/// (a write's to `path`'s, as this does).
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let io = |e| Error::file(path, "", e);
    let res = (|| -> Result<()> {
        let mut w = BufWriter::new(fs::File::create(&tmp).map_err(io)?);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, path).map_err(io)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// `dir` and those of its ancestors that do not exist yet, innermost first:
/// what `create_dir_all(dir)` would create, and what cleanup must remove.
fn missing_ancestors(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut p = Some(dir);
    while let Some(d) = p.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        out.push(d.to_path_buf());
        p = d.parent();
    }
    out
}

/// Writes a set of named files into `dir`, creating it if needed. If any
/// write fails, the files already written are removed, and so are the
/// directories this call created.
pub fn write_files(dir: &Path, files: &[(&str, Vec<u8>)]) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::io(dir, "exists and is not a directory"));
    }
    let created = missing_ancestors(dir);
    fs::create_dir_all(dir).map_err(|e| Error::file(dir, "cannot create output directory", e))?;
    let mut written: Vec<PathBuf> = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        if let Err(e) = write_atomic(&path, bytes) {
            for p in &written {
                let _ = fs::remove_file(p);
            }
            for d in &created {
                let _ = fs::remove_dir(d);
            }
            return Err(e);
        }
        written.push(path);
    }
    Ok(())
}

/// Checks before a long computation that `dir` can be created and written,
/// leaving nothing behind: directories it had to create are removed again.
pub fn check_writable(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::io(dir, "exists and is not a directory"));
    }
    let created = missing_ancestors(dir);
    let res = fs::create_dir_all(dir)
        .map_err(|e| Error::file(dir, "cannot create output directory", e))
        .and_then(|()| {
            let probe = dir.join(format!(".probe-{}", std::process::id()));
            fs::write(&probe, b"")
                .and_then(|()| fs::remove_file(&probe))
                .map_err(|e| Error::file(dir, "cannot write in output directory", e))
        });
    for d in &created {
        let _ = fs::remove_dir(d);
    }
    res
}

/// Parses an output directory argument (a clap `value_parser`): any path
/// but the empty one, which would name the current directory by accident
/// (e.g. an unset shell variable).
pub fn out_dir(s: &str) -> std::result::Result<PathBuf, String> {
    if s.is_empty() {
        return Err(
            "an empty path names no directory; give the output directory, e.g. --out out/run"
                .into(),
        );
    }
    // A name of blanks only is almost surely an unset shell variable or a
    // stray quote, and would make a directory no listing shows plainly.
    if s.trim().is_empty() {
        return Err(
            "a path of blanks only names no intended directory; give the output directory, e.g. --out out/run"
                .into(),
        );
    }
    Ok(PathBuf::from(s))
}

/// The files of a run directory; `config.toml` last, as it is placed last.
pub const RUN_FILES: [&str; 4] = ["metrics.csv", "probs.csv", "summary.csv", "config.toml"];

/// Runs of more epochs than this need `--force`: 50 000 times the paper's
/// 2000, about a minute of the tabular policy and hours of the MLP; past it an
/// `epochs` is more likely a typo (an extra digit, `i64::MAX`) than a plan.
pub const MAX_EPOCHS: u64 = 100_000_000;

/// Runs that would write more CSV rows than this (a `metrics.csv` row and
/// `X × Y` `probs.csv` rows per recorded epoch) need `--force`: about 0.5 GB,
/// 120 times Figure 2's run, more than a plotting tool reads comfortably.
pub const MAX_RECORDED_ROWS: u64 = 10_000_000;

/// Rough CSV bytes of a `metrics.csv` row and a `probs.csv` row (Figure 2's
/// run averages 383 and 49), for the size a refused run would have had.
const ROW_BYTES: (f64, f64) = (400.0, 50.0);

/// Refuses a run longer than [`MAX_EPOCHS`] or recording more than
/// [`MAX_RECORDED_ROWS`] rows (what `--force` lifts), naming `epochs` and `record_every`.
pub fn check_run_length(spec: &RunSpec) -> Result<()> {
    let (epochs, every) = (spec.epochs as u128, spec.record_every.max(1) as u128);
    let xy = (spec.data.n_prompts * spec.data.n_responses) as u128;
    let records = epochs / every + 1 + u128::from(epochs % every != 0);
    let rows = records * (1 + xy);
    let mut over = Vec::new();
    if epochs > u128::from(MAX_EPOCHS) {
        over.push(format!(
            "{epochs} epochs is more than the limit of {MAX_EPOCHS}"
        ));
    }
    if rows > u128::from(MAX_RECORDED_ROWS) {
        let bytes = records as f64 * (ROW_BYTES.0 + ROW_BYTES.1 * xy as f64);
        over.push(format!(
            "it would record {records} epochs of {} CSV rows each (1 in metrics.csv, {xy} in probs.csv), {rows} rows, about {}, more than the limit of {MAX_RECORDED_ROWS} rows",
            1 + xy,
            human_bytes(bytes),
        ));
    }
    if over.is_empty() {
        return Ok(());
    }
    let fix = if rows > u128::from(MAX_RECORDED_ROWS) {
        "lower `epochs` or raise `record_every`"
    } else {
        "lower `epochs`"
    };
    Err(Error::config(
        "epochs",
        format!(
            "= {epochs} with `record_every` = {every} is too long a run: {}; {fix}, or pass --force to run it anyway",
            over.join("; ")
        ),
    ))
}

/// `bytes` in GB (or MB), rounded for a message.
fn human_bytes(bytes: f64) -> String {
    match bytes {
        b if b < 1e9 => format!("{:.0} MB", b / 1e6),
        b if b < 1e12 => format!("{:.1} GB", b / 1e9),
        b => format!("{:.1e} GB", b / 1e9),
    }
}

/// Whether process `pid` may still be running. Without `/proc` nothing can
/// be told, so every process counts as alive (and nothing is cleaned).
fn pid_alive(pid: u32) -> bool {
    pid == std::process::id()
        || !Path::new("/proc/self").exists()
        || Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid in a temporary's name `<prefix><pid>`, if `name` is one.
fn temp_pid(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.parse().ok()
}

/// The pid of a temporary file `.<name>.tmp-<pid>` ([`write_atomic`]'s).
fn temp_file_pid(name: &str) -> Option<u32> {
    let (head, pid) = name.rsplit_once(".tmp-")?;
    if !head.starts_with('.') || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Removes the temporaries (`.<name>.tmp-<pid>`: [`write_atomic`]'s files,
/// [`RunOutput`]'s `.run.tmp-<pid>` directory) that processes no longer
/// running left in `dir`: what a killed run or sweep leaves.
pub fn clean_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if temp_file_pid(&name).is_some_and(|p| !pid_alive(p)) {
            match e.file_type() {
                Ok(t) if t.is_dir() => {
                    let _ = fs::remove_dir_all(e.path());
                }
                Ok(_) => {
                    let _ = fs::remove_file(e.path());
                }
                Err(_) => {}
            }
        }
    }
}

/// Whether `dir` is a mount point: on another device than its `parent`.
#[cfg(unix)]
fn is_mount_point(dir: &Path, parent: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(dir), fs::metadata(parent)) {
        (Ok(a), Ok(b)) => a.dev() != b.dev(),
        _ => false,
    }
}

/// Whether `dir` is a mount point (not told apart off Unix).
#[cfg(not(unix))]
fn is_mount_point(_dir: &Path, _parent: &Path) -> bool {
    false
}

/// Flushes a directory's entries (a rename) to disk; best effort, as not
/// every file system can sync a directory.
fn sync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}

/// A directory that replaces `old` keeps what its owner set on it: `new`
/// takes its owner where allowed, then its permission bits (setgid included;
/// in that order, as a change of owner clears setgid). Nothing if `old` is gone.
fn adopt_attributes(old: &Path, new: &Path) {
    #[cfg(unix)]
    if let Ok(m) = fs::metadata(old) {
        use std::os::unix::fs::MetadataExt;
        let _ = std::os::unix::fs::chown(new, Some(m.uid()), Some(m.gid()));
        let _ = fs::set_permissions(new, m.permissions());
    }
}

/// What is in a run's output directory before the run.
enum Existing {
    /// Nothing (or an empty directory): the new directory is renamed in.
    Nothing,
    /// Only a run's files: they are renamed aside, the new ones renamed in,
    /// then the old ones deleted.
    Run,
    /// Other files too (only with `--force`), or a mount point (which cannot
    /// be renamed): the run is written to `.run.tmp-<pid>` inside, and its
    /// files moved out one by one, `config.toml` last; other files are kept.
    InPlace,
}

/// The first few dotted fields where two TOML tables differ, as
/// `field: old → new` (`-` where absent).
fn table_diff(old: &Table, new: &Table, prefix: &str, out: &mut Vec<String>) {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let field = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (old.get(k), new.get(k)) {
            (Some(Value::Table(a)), Some(Value::Table(b))) => table_diff(a, b, &field, out),
            (a, b) if a != b => {
                let show = |v: Option<&Value>| v.map_or("-".to_string(), Value::to_string);
                out.push(format!(
                    "`{field}` = {} there, {} in this run",
                    show(a),
                    show(b)
                ));
            }
            _ => {}
        }
    }
}

/// Why `dir`, holding a run with config text `old`, is a different run than
/// `new`: its differing fields, or that its config is not a run config.
fn config_difference(old: &str, new: &str) -> String {
    match (old.parse::<Table>(), new.parse::<Table>()) {
        (Ok(a), Ok(b)) => {
            let mut d = Vec::new();
            table_diff(&a, &b, "", &mut d);
            let more = d.len().saturating_sub(3);
            d.truncate(3);
            let mut s = d.join(", ");
            if more > 0 {
                s.push_str(&format!(" and {more} more"));
            }
            if s.is_empty() {
                // Same values, other text (e.g. written by hand): not this run's file.
                s = "the same values in other text".into();
            }
            s
        }
        _ => "its config.toml is not a run config".into(),
    }
}

/// Looks at what `dir` holds and decides whether the run may replace it;
/// messages name `shown`, the directory as the user gave it.
fn existing(dir: &Path, shown: &Path, config: &str, force: bool) -> Result<Existing> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::Nothing),
        Err(e) => return Err(Error::file(shown, "cannot read output directory", e)),
    };
    let mut names: Vec<String> = entries
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::file(shown, "cannot read output directory", e))?;
    names.sort();
    if names.is_empty() {
        return Ok(Existing::Nothing);
    }
    let foreign: Vec<&String> = names
        .iter()
        .filter(|n| !RUN_FILES.contains(&n.as_str()))
        .collect();
    if !foreign.is_empty() {
        if force {
            return Ok(Existing::InPlace);
        }
        let mut list: Vec<String> = foreign.iter().take(5).map(|n| n.to_string()).collect();
        if foreign.len() > 5 {
            list.push(format!("and {} more", foreign.len() - 5));
        }
        return Err(Error::io(
            shown,
            format!(
                "is not empty and holds files that are not a run's ({}); choose another --out, or pass --force to write the run's files into it (the other files are kept)",
                list.join(", ")
            ),
        ));
    }
    if force {
        return Ok(Existing::Run);
    }
    let why = match fs::read_to_string(dir.join("config.toml")) {
        Ok(old) if old == config => return Ok(Existing::Run),
        Ok(old) => format!(
            "holds the results of a different run (config.toml differs: {})",
            config_difference(&old, config)
        ),
        Err(_) => "holds run files but no readable config.toml, so not this run's results".into(),
    };
    Err(Error::io(
        shown,
        format!("{why}; choose another --out, or pass --force to replace them"),
    ))
}

/// A run's output directory while the run goes on: rows are streamed into
/// a temporary sibling directory `.<name>.tmp-<pid>`, which
/// [`RunOutput::finish`] renames into place. Dropped unfinished (an error),
/// it removes the temporary and any directory it created: an older run in
/// `dir` is never touched before the new one is complete.
pub struct RunOutput {
    /// The directory as the user named it (for messages).
    dir: PathBuf,
    /// The same, absolute (its parent holds the temporary).
    abs: PathBuf,
    tmp: PathBuf,
    /// Ancestors of `dir` this run created, innermost first.
    created: Vec<PathBuf>,
    existing: Existing,
    config: String,
    n_responses: usize,
    metrics: csv::Writer<BufWriter<File>>,
    probs: csv::Writer<BufWriter<File>>,
    rows: u64,
    bar: ProgressBar,
    published: bool,
}

impl RunOutput {
    /// Prepares `dir` for a run whose resolved config is `config` and whose
    /// data has `n_responses` responses. Cleans the temporaries of killed
    /// runs (and puts back an older run a killed one had moved aside);
    /// refuses, unless `force`, a directory holding a different run's results
    /// (its `config.toml` differs) or other files. Rerunning the same config
    /// replaces its results (they are the same).
    pub fn begin(dir: &Path, config: &str, n_responses: usize, force: bool) -> Result<Self> {
        if dir.as_os_str().is_empty() {
            return Err(Error::Usage(
                "--out is empty; name an output directory, e.g. --out out/run".into(),
            ));
        }
        if dir.exists() && !dir.is_dir() {
            return Err(Error::io(dir, "exists and is not a directory"));
        }
        let abs = if dir.exists() {
            fs::canonicalize(dir)
        } else {
            std::path::absolute(dir)
        }
        .map_err(|e| Error::file(dir, "cannot resolve output directory", e))?;
        let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
            return Err(Error::io(
                dir,
                "cannot hold a run: it has no name to rename a finished run to (choose a subdirectory)",
            ));
        };
        let name = name.to_string_lossy().into_owned();
        let created = missing_ancestors(parent);
        let undo = |created: &[PathBuf]| {
            for d in created {
                let _ = fs::remove_dir(d);
            }
        };
        fs::create_dir_all(parent)
            .map_err(|e| Error::file(dir, "cannot create output directory", e))?;
        recover(parent, &name, &abs);
        clean_stale_temporaries(&abs);
        let existing = match existing(&abs, dir, config, force) {
            Ok(x) => x,
            Err(e) => {
                undo(&created);
                return Err(e);
            }
        };
        // A mount point (e.g. a container's volume) cannot be renamed, and a
        // temporary beside it would be on another file system.
        // Nor can the directory a shell stands in (`--out .`) be swapped
        // for a new one without leaving that shell in a deleted directory.
        let holds_cwd = std::env::current_dir()
            .and_then(|c| c.canonicalize())
            .is_ok_and(|c| abs.canonicalize().is_ok_and(|a| c.starts_with(a)));
        let existing = if is_mount_point(&abs, parent) || holds_cwd {
            Existing::InPlace
        } else {
            existing
        };
        let tmp = match existing {
            Existing::InPlace => abs.join(format!(".run.tmp-{}", std::process::id())),
            _ => parent.join(format!(".{name}.tmp-{}", std::process::id())),
        };
        let _ = fs::remove_dir_all(&tmp);
        let open = |f: &str| -> Result<csv::Writer<BufWriter<File>>> {
            let file = File::create(tmp.join(f))
                .map_err(|e| Error::file(dir.join(f), "cannot write", e))?;
            Ok(csv::Writer::from_writer(BufWriter::with_capacity(
                1 << 16,
                file,
            )))
        };
        let files = fs::create_dir(&tmp)
            .map_err(|e| {
                Error::file(
                    &tmp,
                    "cannot create the temporary directory the run is written to before it is renamed into place",
                    e,
                )
            })
            .and_then(|()| Ok((open("metrics.csv")?, open("probs.csv")?)));
        let (metrics, probs) = match files {
            Ok(w) => w,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                undo(&created);
                return Err(e);
            }
        };
        Ok(RunOutput {
            dir: dir.to_path_buf(),
            abs,
            tmp,
            created,
            existing,
            config: config.to_string(),
            n_responses,
            metrics,
            probs,
            rows: 0,
            bar: ProgressBar::hidden(),
            published: false,
        })
    }

    /// Shows a progress bar over `epochs` on stderr (drawn only when stderr is a terminal).
    pub fn show_progress(&mut self, epochs: usize) {
        let bar = ProgressBar::with_draw_target(Some(epochs as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] epoch {pos}/{len}  ETA {eta}")
                .expect("a valid template")
                .progress_chars("#>-"),
        );
        self.bar = bar;
    }

    /// Writes the summary and the config, then puts the run in place as one
    /// unit (see [`RunOutput`]).
    pub fn finish(mut self, summary: &Summary) -> Result<()> {
        self.bar.finish_and_clear();
        let flush = |w: &mut csv::Writer<BufWriter<File>>| -> std::io::Result<()> {
            w.flush()?;
            w.get_ref().get_ref().sync_all()
        };
        flush(&mut self.metrics)
            .map_err(|e| Error::file(self.dir.join("metrics.csv"), "cannot write", e))?;
        flush(&mut self.probs)
            .map_err(|e| Error::file(self.dir.join("probs.csv"), "cannot write", e))?;
        for (f, bytes) in [
            ("summary.csv", csv_bytes(std::slice::from_ref(summary))),
            ("config.toml", self.config.as_bytes().to_vec()),
        ] {
            (|| -> std::io::Result<()> {
                let mut file = File::create(self.tmp.join(f))?;
                file.write_all(&bytes)?;
                file.sync_all()
            })()
            .map_err(|e| Error::file(self.dir.join(f), "cannot write", e))?;
        }
        sync_dir(&self.tmp);
        crash::point("run:before-rename");
        self.publish()?;
        self.published = true;
        Ok(())
    }

    /// Renames the finished temporary into place (see [`Existing`]).
    fn publish(&mut self) -> Result<()> {
        let (dir, parent) = (&self.abs, self.abs.parent().expect("checked in begin"));
        let fail = |e| Error::file(&self.dir, "cannot put the finished run in place", e);
        match self.existing {
            Existing::Nothing => {
                adopt_attributes(dir, &self.tmp);
                fs::rename(&self.tmp, dir).map_err(fail)?
            }
            Existing::Run => {
                adopt_attributes(dir, &self.tmp);
                let aside = parent.join(format!(
                    ".{}.old-{}",
                    dir.file_name().unwrap_or_default().to_string_lossy(),
                    std::process::id()
                ));
                match fs::rename(dir, &aside) {
                    Ok(()) => {}
                    // Gone since the run began: nothing to move aside.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        fs::rename(&self.tmp, dir).map_err(fail)?;
                        sync_dir(parent);
                        return Ok(());
                    }
                    Err(e) => return Err(fail(e)),
                }
                crash::point("run:after-aside");
                if let Err(e) = fs::rename(&self.tmp, dir) {
                    // Put the older run back: a failed run never costs an older result.
                    let _ = fs::rename(&aside, dir);
                    return Err(fail(e));
                }
                sync_dir(parent);
                crash::point("run:before-delete-old");
                let _ = fs::remove_dir_all(&aside);
            }
            Existing::InPlace => {
                // Without an older config.toml, a crash among the renames
                // leaves a directory that claims no run (so no mix is taken
                // for one).
                match fs::remove_file(dir.join("config.toml")) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
                    _ => {}
                }
                for f in RUN_FILES {
                    fs::rename(self.tmp.join(f), dir.join(f)).map_err(fail)?;
                }
                let _ = fs::remove_dir(&self.tmp);
            }
        }
        sync_dir(parent);
        Ok(())
    }
}

/// Puts back, or deletes, what a run killed while publishing left beside
/// `dir` (named `name` in `parent`): its temporary is deleted; an older run
/// it had moved aside is renamed back if `dir` is gone, deleted otherwise.
fn recover(parent: &Path, name: &str, dir: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let (tmp, old) = (format!(".{name}.tmp-"), format!(".{name}.old-"));
    let mut found: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    found.sort();
    for (n, path) in found {
        if temp_pid(&n, &tmp).is_some_and(|p| !pid_alive(p)) {
            let _ = fs::remove_dir_all(&path);
        } else if temp_pid(&n, &old).is_some_and(|p| !pid_alive(p)) {
            if dir.exists() {
                let _ = fs::remove_dir_all(&path);
            } else {
                let _ = fs::rename(&path, dir);
            }
        }
    }
}

impl Recorder for RunOutput {
    type Error = Error;

    fn metrics(&mut self, row: MetricsRow) -> Result<()> {
        self.metrics
            .serialize(&row)
            .map_err(|e| Error::csv(self.dir.join("metrics.csv"), "cannot write", e))?;
        self.rows += 1;
        crash::nth("run:metrics-row", self.rows);
        Ok(())
    }

    fn snapshot(&mut self, epoch: usize, logp: &[f64], _logits: Vec<f64>) -> Result<()> {
        let y = self.n_responses;
        for (i, &l) in logp.iter().enumerate() {
            let row = ProbRow {
                epoch,
                prompt: i / y,
                response: i % y,
                prob: l.exp(),
                logprob: l,
            };
            self.probs
                .serialize(&row)
                .map_err(|e| Error::csv(self.dir.join("probs.csv"), "cannot write", e))?;
        }
        Ok(())
    }

    #[inline]
    fn epoch_done(&mut self, epoch: usize) {
        // A position per 4096 epochs: the bar's own cost stays out of the loop.
        if epoch.is_multiple_of(4096) {
            self.bar.set_position(epoch as u64);
        }
    }
}

impl Drop for RunOutput {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        if !self.published {
            let _ = fs::remove_dir_all(&self.tmp);
            for d in &self.created {
                let _ = fs::remove_dir(d);
            }
        }
    }
}

/// Writes a run's `metrics.csv`, `probs.csv`, `summary.csv` and the resolved
/// `config.toml` into `dir` as one unit, replacing what a run left there
/// (see [`RunOutput`]; other files in `dir` are kept).
pub fn write_run(dir: &Path, resolved_config: &str, result: &RunResult) -> Result<()> {
    let mut out = RunOutput::begin(dir, resolved_config, result.n_responses, true)?;
    for m in &result.metrics {
        out.metrics(m.clone())?;
    }
    for (epoch, logp) in &result.snapshots {
        out.snapshot(*epoch, logp, Vec::new())?;
    }
    out.finish(&result.summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::config::Config;

    fn spec(epochs: u64, every: u64) -> RunSpec {
        let toml = format!(
            "epochs = {epochs}\nrecord_every = {every}\n[policy]\nkind = \"tabular\"\n[data]\nscenario = \"scenario1\"\n[loss]\nname = \"dpo\"\n[optimizer]\nname = \"sgd\"\nlr = 1.0\n"
        );
        Config::from_toml_str(&toml).unwrap().build().unwrap()
    }

    #[test]
    fn run_length_limits_are_inclusive() {
        // Scenario 1 has 4 × 10 probabilities: 41 rows per recorded epoch.
        let per = 41;
        let most = MAX_RECORDED_ROWS / per; // recorded epochs that fit
        assert!(check_run_length(&spec(most - 1, 1)).is_ok());
        let e = check_run_length(&spec(most, 1)).unwrap_err().to_string();
        assert!(e.contains(&format!("{} rows", (most + 1) * per)), "{e}");
        assert!(!e.contains("epochs is more than"), "{e}");
        assert!(check_run_length(&spec(MAX_EPOCHS, MAX_EPOCHS)).is_ok());
        let e = check_run_length(&spec(MAX_EPOCHS + 1, MAX_EPOCHS))
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than the limit of 100000000"), "{e}");
        assert!(e.contains("lower `epochs`, or pass --force"), "{e}");
        // The last epoch is recorded even off the stride.
        let e = check_run_length(&spec(most * 2 - 1, 2))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("record {} epochs", most + 1)), "{e}");
    }

    #[test]
    fn config_differences_name_the_fields() {
        let old = "epochs = 5\n[loss]\nname = \"dpo\"\nbeta = 0.1\n";
        let new = "epochs = 6\n[loss]\nname = \"dpo\"\n[optimizer]\nlr = 1.0\n";
        assert_eq!(
            config_difference(old, new),
            "`epochs` = 5 there, 6 in this run, `loss.beta` = 0.1 there, - in this run, \
             `optimizer` = - there, { lr = 1.0 } in this run"
        );
        assert_eq!(
            config_difference("[", new),
            "its config.toml is not a run config"
        );
        assert_eq!(
            config_difference("epochs = 5", "epochs=5"),
            "the same values in other text"
        );
    }

    #[test]
    fn only_temporary_names_are_temporaries() {
        assert_eq!(temp_file_pid(".probs.csv.tmp-123"), Some(123));
        for name in [
            "probs.csv.tmp-1",
            ".probs.csv.tmp-",
            ".x.tmp-12a",
            ".x.tmp-+1",
            "notes",
        ] {
            assert_eq!(temp_file_pid(name), None, "{name}");
        }
        assert_eq!(temp_pid(".out.tmp-7", ".out.tmp-"), Some(7));
        assert_eq!(temp_pid(".out.tmp-7", ".ou.tmp-"), None);
        assert!(pid_alive(std::process::id()));
    }
}
