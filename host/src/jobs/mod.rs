//! The job catalogue and the run loop.

mod catalogue;
pub mod retry;
pub mod run;
pub(crate) mod services;

pub use catalogue::{JobId, Pipeline, UnknownJobId};
pub use run::RunError;
