//! Studies: each runs one experiment's configs and returns typed facts for
//! the figures and templates above it. Nothing below this layer knows a
//! study exists.

pub mod calibrate;
pub mod scenarios;
