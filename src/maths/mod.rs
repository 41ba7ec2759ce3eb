//! Core maths, the lowest layer: numerics in log space ([`numerics`]), the
//! preference data and the paper's scenarios ([`data`]), policies with their
//! hand-written backward passes ([`policy`]), pairwise losses ([`loss`]) and
//! whole-dataset objectives ([`objective`]), optimisers ([`optim`]) and the
//! float mode of a run ([`precision`]; its native float32 path is [`policy::native`]), and
//! when one run's big arrays are split over threads ([`split`]). Nothing here knows about configs,
//! training loops or files.

pub mod data;
pub mod loss;
pub mod numerics;
pub mod objective;
pub mod optim;
pub mod params;
pub mod policy;
pub mod precision;
pub mod split;
