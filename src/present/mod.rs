//! Presentation of computed facts: a minimal template engine
//! ([`template`]) and the rendering of the robustness study's cells into
//! tables and finding sentences ([`robustness`]). Prose lives in
//! `templates/`; this layer only formats numbers and picks the words a
//! verdict allows.

pub mod robustness;
pub mod template;

pub use template::{fill_markers, render, render_file, Facts};
