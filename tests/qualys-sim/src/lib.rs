//! A simulator of the Qualys Policy Compliance APIs for pcsync's tests.
//!
//! [`Simulator::start`] serves a generated, deterministic data set on 127.0.0.1 from a
//! background thread, records every request, and lets a test change the data and inject
//! faults (limit rejections, server errors, broken bodies) per endpoint and request number.
//!
//! Implemented so far: the classic API's policy list
//! (`/api/{2.0,3.0,4.0,5.0}/fo/compliance/policy/?action=list`).

#![warn(missing_docs)]

mod body;
mod classic;
mod dataset;
mod datetime;
mod faults;
mod record;
mod response;
mod rng;
mod server;
mod simulator;
mod state;
mod xml;

pub use classic::SUPPORTED_VERSIONS;
pub use classic::policy_list::WARNING_URL_ORIGIN;
pub use dataset::{Control, Criticality, Dataset, Policy, PolicyStatus};
pub use faults::{Fault, FaultRule};
pub use record::{Api, Endpoint, RecordedRequest};
pub use simulator::{SimConfig, Simulator};
