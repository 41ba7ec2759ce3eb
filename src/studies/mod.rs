//! Studies: grids of runs built on a base config whose results are turned
//! into evidence-carrying facts. A study sits above [`crate::analysis`]
//! (which it uses to judge runs) and below the presentation
//! ([`crate::present`], which renders its facts through templates).

pub mod robustness;
