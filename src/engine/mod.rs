//! The engine: one training run. The reference (SFT) fit ([`mod@reference`]),
//! the training loop over a [`train::RunSpec`] ([`train`], with its
//! native float32 twin [`train::native`]), true on-policy
//! resampling ([`onpolicy`]) and the metrics recorded along the way
//! ([`metrics`]). Uses only [`crate::maths`]; knows no file format.

pub mod metrics;
pub mod onpolicy;
pub mod reference;
pub mod train;
