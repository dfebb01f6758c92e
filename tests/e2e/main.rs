//! End-to-end tests: the real `pcsync` binary and library, the real job components and a real
//! sled store in a temporary directory, against the Qualys simulator on 127.0.0.1.

mod components;
mod comprehensive;
mod details;
mod faults;
mod harness;
mod policies;
mod recovery;
mod results;
mod sandbox;
mod schedule;
mod store;
