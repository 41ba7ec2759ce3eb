//! Studies: one module per experiment, above the engine, io and analysis and
//! below the presentation. A study takes configs, runs them, and returns
//! typed, evidence-carrying facts; figures and templates draw and describe
//! those facts and never train. Nothing below this layer knows a study exists.
//!
//! - [`calibrate`]: the unstated knobs against the paper's Figure 2 read-offs.
//! - [`scenarios`]: Figure 3's scenario orderings under candidate explanations.
//! - [`paper_bands`]: Figures 2 and 3 over a set of seeds (median and p10–p90
//!   per curve, the config's own seed as a reference line).
//! - [`robustness`]: each headline finding crossed with what it may depend on.

pub mod calibrate;
pub mod paper_bands;
pub mod robustness;
pub mod scenarios;
