//! A simulator of the Qualys Policy Compliance APIs for pcsync's tests.
//!
//! [`Simulator::start`] serves a generated, deterministic data set on 127.0.0.1 from a
//! background thread, records every request, and lets a test change the data and inject
//! faults (limit rejections, server errors, broken bodies) per endpoint and request number.
//!
//! Implemented so far, on `/api/{2.0,3.0,4.0,5.0}/fo/compliance/` of the classic API: the
//! policy list (`policy/?action=list`), the policy export (`policy/?action=export`) and the
//! control list (`control/?action=list`).

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
pub use classic::paging::WARNING_URL_ORIGIN;
pub use dataset::{
    Category, Control, Criticality, Dataset, Framework, Policy, PolicyControl, PolicyStatus,
    Section, Technology,
};
pub use faults::{Fault, FaultRule};
pub use record::{Api, Endpoint, RecordedRequest};
pub use simulator::{SimConfig, Simulator};
