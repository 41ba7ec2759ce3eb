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
//! | foundation | [`error`], [`fast`] (every vector kernel, the SIMD dispatch, all `unsafe`) |
//!
//! A [`maths::policy::Policy`] maps parameters to logits; a
//! [`maths::loss::PairLoss`] gives a value and two partial derivatives per
//! preference triple; [`engine::train::train`] joins them over a
//! [`maths::data::Dataset`] with an [`maths::optim::Optimizer`], recording
//! [`engine::metrics`] in memory, or streaming them to an
//! [`engine::train::Recorder`] ([`engine::train::train_with`]; `dpo-lab run`
//! writes them to disk as they come). [`io::config`] reads a run from TOML.
//!
//! # Example
//!
//! Configure the paper's tabular toy (scenario 1, DPO with β = 0.1, SGD),
//! train it, and read its D-scores:
//!
//! ```
//! use dpo_lab::engine::train::{train, Keep};
//! use dpo_lab::io::config::Config;
//!
//! let config = Config::from_toml_str(
//!     r#"
//!     epochs = 300
//!     [policy]
//!     kind = "tabular"
//!     [data]
//!     scenario = "scenario1"
//!     [loss]
//!     name = "dpo"
//!     beta = 0.1
//!     [optimizer]
//!     name = "sgd"
//!     lr = 0.5
//!     "#,
//! )?;
//! let run = train(&config.build()?, Keep::ALL);
//! let s = &run.summary;
//! // Drastic drop: the rejected likelihood falls by orders of magnitude.
//! assert!(s.final_avg_rejected < s.start_avg_rejected / 10.0);
//! println!(
//!     "drop {:.2} orders, degradation {:.3}, dispersion {:.4}",
//!     s.drop, s.degradation, s.dispersion
//! );
//! assert!(!s.diverged && s.drop > 1.0);
//! # Ok::<(), dpo_lab::Error>(())
//! ```

#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod analysis;
pub mod engine;
pub mod error;
#[allow(unsafe_code)]
pub mod fast;
pub mod io;
pub mod maths;
pub mod present;
pub mod studies;

pub use error::{Error, Result};
