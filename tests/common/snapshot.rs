//! Snapshot comparison for the text-rendering tests: a rendering is compared
//! byte for byte with a stored file, and `UPDATE_SNAPSHOTS=1` rewrites the
//! file instead (review the diff after a deliberate change of the text).

use std::path::Path;

/// Compares `text` byte for byte with the file at `path` (or writes it when
/// `UPDATE_SNAPSHOTS` is set); a difference names its first differing line.
pub fn check(path: &Path, text: &str) {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_SNAPSHOTS=1 to create it",
            path.display()
        )
    });
    if want != text {
        let line = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(text.lines().count()));
        panic!(
            "{} differs from the rendering at line {}:\nexpected: {}\nrendered: {}\n(UPDATE_SNAPSHOTS=1 regenerates it)",
            path.display(),
            line + 1,
            want.lines().nth(line).unwrap_or("<end>"),
            text.lines().nth(line).unwrap_or("<end>")
        );
    }
}
