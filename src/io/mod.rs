//! Input and output: a run's TOML config validated into a
//! [`crate::engine::train::RunSpec`] ([`config`]), a run's files written as
//! one unit ([`output`]), and sweeps over configs with their journal, shards
//! and CSVs ([`sweep`]).

pub mod config;
pub mod crash;
pub mod output;
pub mod sweep;
