//! dpo-lab: the training dynamics of DPO and its relatives on toy policies,
//! after Yan et al., "3D-Properties: Identifying Challenges in DPO and
//! Charting a Path Forward" (ICLR 2025).
//!
//! The crate is built in layers, each using only those below it (a test,
//! `tests/layers.rs`, fails on an upward import or a cycle):
//!
//! | layer | modules |
//! |---|---|
//! | presentation | [`present`]: figures, report and README text from templates |
//! | studies | [`studies`]: one module per experiment, returning typed facts |
//! | analysis | [`analysis`]: statistics over runs, read-offs, evidence |
//! | io | [`io`]: configs, outputs, sweeps |
//! | engine | [`engine`]: reference fit, training loop, metrics |
//! | core maths | [`maths`]: numerics, data, policies, losses, optimisers |
//! | foundation | [`error`], [`simd`] |
//!
//! A [`maths::policy::Policy`] maps parameters to logits; a
//! [`maths::loss::PairLoss`] gives a value and two partial derivatives per
//! preference triple; [`engine::train::train`] joins them over a
//! [`maths::data::Dataset`] with an [`maths::optim::Optimizer`], recording
//! [`engine::metrics`]. [`io::config`] reads a run from TOML.

pub mod analysis;
pub mod engine;
pub mod error;
pub mod io;
pub mod maths;
pub mod present;
pub mod simd;
pub mod studies;

pub use error::{Error, Result};
