//! A test hook for crash-consistency tests: `DPO_LAB_CRASH_AT=<point>` makes
//! the process abort (as `kill -9` would stop it) when it reaches the named
//! point. Not a user setting: unset, every point is a no-op costing one load.
//!
//! Points are named `<command>:<what>` (e.g. `run:before-rename`); a point
//! reached many times takes a count, `run:metrics-row:3` being the third.

use std::sync::OnceLock;

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
