//! Input and output: a run's TOML config validated into a
//! [`crate::engine::train::RunSpec`] ([`config`]), a run's files written as
//! one unit ([`output`]), sweeps over configs ([`sweep`]: shards, merge,
//! CSVs) with their journal of checksummed records ([`journal`]), and the
//! crash tests' hook ([`crash`]).

pub mod config;
pub mod crash;
pub mod journal;
pub mod output;
pub mod sweep;
