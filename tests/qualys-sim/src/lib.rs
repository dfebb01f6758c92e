//! A simulator of the Qualys Policy Compliance APIs for pcsync's tests.
//!
//! [`Simulator::start`] serves a generated, deterministic data set on 127.0.0.1 from a
//! background thread, records every request, and lets a test change the data and inject
//! faults (limit rejections, server errors, broken bodies) per endpoint and request number.
//!
//! Implemented so far, on `/api/{2.0,3.0,4.0,5.0}/fo/compliance/` of the classic API: the
//! policy list (`policy/?action=list`), the policy export (`policy/?action=export`), the
//! control list (`control/?action=list`) and the posture info (`posture/info/?action=list`).

#![warn(missing_docs)]

mod body;
mod classic;
mod dataset;
mod datetime;
mod faults;
mod postures;
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
    Category, Control, Criticality, Dataset, Framework, GlossaryGaps, Host, HostDatabase, Policy,
    PolicyControl, PolicyStatus, Section, Technology, TrackingMethod,
};
pub use faults::{Fault, FaultRule};
pub use postures::{Posture, PostureError, PostureKey, PostureStatus, Postures};
pub use record::{Api, Endpoint, RecordedRequest};
pub use server::MAX_REQUEST_LINE;
pub use simulator::{SimConfig, Simulator};
