//! Presentation of computed facts: a minimal template engine
//! ([`template`]) and the rendering of the studies' facts into tables and
//! sentences: [`calibration`], [`scenarios`], [`robustness`]. Prose lives in
//! `templates/`; this layer only formats numbers and picks the words a
//! verdict allows.

pub mod calibration;
pub mod robustness;
pub mod scenarios;
pub mod template;

pub use template::{fill_markers, render, render_file, Facts};
