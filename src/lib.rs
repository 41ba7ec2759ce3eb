//! dpo-lab: the training dynamics of DPO and its relatives on toy policies,
//! after Yan et al., "3D-Properties: Identifying Challenges in DPO and
//! Charting a Path Forward" (ICLR 2025).
//!
//! A [`policy::Policy`] maps parameters to logits; a [`loss::PairLoss`] gives
//! a value and two partial derivatives per preference triple;
//! [`train::train`] joins them over a [`data::Dataset`] with an
//! [`optim::Optimizer`], recording [`metrics`]. [`config`] reads a run from
//! TOML, [`output`] writes its CSVs, [`studies`] run experiments into typed
//! facts, [`plots`] draws the figures. [`fast`] holds every vector kernel and
//! all of the crate's `unsafe` code.

#![deny(unsafe_code)]

pub mod analysis;
pub mod bench;
pub mod bookkeeping;
pub mod config;
pub mod data;
pub mod error;
#[allow(unsafe_code)]
pub mod fast;
pub mod field;
pub mod findings;
pub mod late_jump;
pub mod loss;
pub mod metrics;
pub mod numerics;
pub mod objective;
pub mod onpolicy;
pub mod optim;
pub mod output;
pub mod plots;
pub mod policy;
pub mod precision;
pub mod present;
pub mod reference;
pub mod report;
pub mod studies;
pub mod sweep;
pub mod train;
pub mod zoo;

pub use error::{Error, Result};
