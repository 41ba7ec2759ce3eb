//! A test hook for crash-consistency tests: `DPO_LAB_CRASH_AT=<point>` makes
//! the process abort (as `kill -9` would stop it) when it reaches the named
//! point. Not a user setting: unset, every point is a no-op costing one load.
//!
//! Points are named `<command>:<what>` (e.g. `run:before-rename`); a point
//! reached many times takes a count, `run:metrics-row:3` being the third
//! (the caller's count, [`nth`]) or `sweep:append:3` the third arrival in
//! this process (counted here, [`hit`]).
//!
//! The points: `run:metrics-row:<k>`, `run:before-rename`, `run:after-aside`,
//! `run:before-delete-old` (see `io::output`); `sweep:append` (before a
//! journal record is written), `sweep:torn` (after writing the first half of
//! one), `sweep:assemble-temps` (the new `runs.csv` and `curves.csv` written
//! under temporary names), `sweep:assemble-marker` (their commit marker
//! written), `sweep:assemble-rename` (`curves.csv` renamed into place,
//! `runs.csv` not yet), each taking its count `:<n>`.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

/// The environment variable that names the crash point.
pub const VAR: &str = "DPO_LAB_CRASH_AT";

fn armed() -> Option<&'static str> {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    AT.get_or_init(|| std::env::var(VAR).ok()).as_deref()
}

/// Aborts the process if [`VAR`] names `name`.
pub fn point(name: &str) {
    if armed() == Some(name) {
        std::process::abort();
    }
}

/// Aborts the process if [`VAR`] names the `n`-th time at `name`, `name:n`.
pub fn nth(name: &str, n: u64) {
    if let Some(at) = armed() {
        let hit = at
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|k| k.parse() == Ok(n));
        if hit {
            std::process::abort();
        }
    }
}

/// Whether [`VAR`] names this arrival at `name`: `name:n` is the `n`-th time
/// this process reaches it (counted here, across threads). For points that
/// must do something before aborting (a torn write); others call [`counted`].
pub fn hit(name: &str) -> bool {
    let Some(at) = armed() else { return false };
    let Some(n) = at
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|k| k.parse::<u64>().ok())
    else {
        return false;
    };
    static SEEN: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let k = seen.entry(name.to_string()).or_insert(0);
    *k += 1;
    *k == n
}

/// Aborts the process when [`hit`] says so.
pub fn counted(name: &str) {
    if hit(name) {
        std::process::abort();
    }
}
