//! Analysis over finished runs: order statistics over seeds
//! ([`stats`]), the paper's Figure 2 read-offs computed from a run's
//! metrics ([`readout`]), and the evidence a finding carries: counts,
//! t tests with intervals, rank correlations and their verdicts
//! ([`evidence`]); sweep tables read back and summarised ([`runs`]) and the
//! float32 bookkeeping of finished runs ([`bookkeeping`]). Nothing here
//! trains; everything takes results.

pub mod bookkeeping;
pub mod evidence;
pub mod readout;
pub mod runs;
pub mod scoreboard;
pub mod stats;
