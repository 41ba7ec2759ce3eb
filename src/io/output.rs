//! Writing results: CSV rendered in memory, then each file written to a
//! temporary name and renamed into place, so a file is whole or absent.

use crate::engine::train::RunResult;
use crate::error::{Error, Result};
use serde::Serialize;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

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
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::file(path, "", e)
    })
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

/// Writes a run's `metrics.csv`, `probs.csv`, `summary.csv` and the resolved
/// `config.toml` into `dir`.
pub fn write_run(dir: &Path, resolved_config: &str, result: &RunResult) -> Result<()> {
    write_files(
        dir,
        &[
            ("metrics.csv", csv_bytes(&result.metrics)),
            ("probs.csv", csv_bytes(&result.prob_rows())),
            (
                "summary.csv",
                csv_bytes(std::slice::from_ref(&result.summary)),
            ),
            ("config.toml", resolved_config.as_bytes().to_vec()),
        ],
    )
}
