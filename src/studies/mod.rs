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
//! - [`precision`]: the same runs in f64 and computed in float32 (`f32-native`).
//! - [`late_jump`]: those runs read the way float32 plotting code would.
//! - [`field`]: the paper's gradient field in (π⁺, π⁻) and runs through it.
//! - [`mod@bench`]: steps per second of the training loop.
//! - [`beyond`]: policy families, embedding similarity and true on-policy
//!   data (issue 5).
//! - [`zoo`]: every loss and objective on every scenario, and the
//!   reward-model path against DPO.
//!
//! [`facts`] holds what their facts share (a run's setting, `facts.json`).

pub mod bench;
pub mod beyond;
pub mod calibrate;
pub mod facts;
pub mod field;
pub mod late_jump;
pub mod paper_bands;
pub mod precision;
pub mod robustness;
pub mod scenarios;
pub mod scoreboard;
pub mod zoo;
