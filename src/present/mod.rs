//! Presentation of computed facts: a minimal template engine
//! ([`template`]) and the rendering of the studies' facts into figures,
//! tables and sentences: [`calibration`], [`scenarios`], [`robustness`],
//! [`report`], [`findings`] (policy families, similarity, on-policy),
//! [`zoo`], [`precision`] (float precision and the late jump), [`bench`](mod@bench)
//! (README's performance numbers); the figures ([`plots`]); how names are written ([`names`]).
//! Nothing here trains or runs a sweep: each function takes a study's
//! facts ([`crate::studies`]). Prose lives in `templates/`; this layer only
//! formats numbers and picks the words and phrases a verdict allows.

pub mod bench;
pub mod calibration;
pub mod findings;
pub mod names;
pub mod plots;
pub mod precision;
pub mod report;
pub mod robustness;
pub mod scenarios;
pub mod scoreboard;
pub mod template;
pub mod zoo;

pub use template::{fill_markers, render, render_file, Facts};
