//! Analysis over finished runs: order statistics over seeds
//! ([`stats`]) and the paper's Figure 2 read-offs computed from a run's
//! metrics ([`readout`]). Nothing here trains; everything takes results.

pub mod readout;
pub mod stats;
