//! Studies: one module per experiment, above the engine, io and analysis and
//! below the figures. A study takes configs, runs them, and returns typed
//! facts; figures and report text draw and describe those facts and never
//! train themselves.
//!
//! - [`paper_bands`]: Figures 2 and 3 over a set of seeds (median and
//!   p10–p90 band per curve, the config's own seed as a reference line) and
//!   the paper's Figure 2 read-offs as points to draw over them.

pub mod paper_bands;
