//! Presentation of computed facts: a minimal template engine
//! ([`template`]) and the rendering of the studies' facts into tables and
//! sentences: [`calibration`], [`scenarios`], [`robustness`], [`report`],
//! [`findings`], [`zoo`]; the figures ([`plots`]). Prose lives in
//! `templates/`; this layer only formats numbers and picks the words a
//! verdict allows.

pub mod calibration;
pub mod findings;
pub mod plots;
pub mod report;
pub mod robustness;
pub mod scenarios;
pub mod template;
pub mod zoo;

pub use template::{fill_markers, render, render_file, Facts};
