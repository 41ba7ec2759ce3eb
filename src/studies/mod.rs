//! Studies: each runs one experiment's configs (grids of runs built on a base
//! config) and returns typed, evidence-carrying facts. A study sits above
//! [`crate::analysis`] (which it uses to judge runs) and below the
//! presentation ([`crate::present`], which renders its facts through
//! templates). Nothing below this layer knows a study exists.

pub mod calibrate;
pub mod robustness;
pub mod scenarios;
