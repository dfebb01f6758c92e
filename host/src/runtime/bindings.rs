//! Rust types and traits generated from `wit/job.wit`.
//!
//! The records derive serde so that the store keeps exactly what a component emitted, with no
//! second set of table types to keep in step with the contract.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "job-component",
    with: {
        "pcsync:job/host.page": crate::runtime::page::Page,
    },
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    imports: { default: trappable },
});

pub use self::exports::pcsync::job::job::{Guest, GuestIndices};
pub use self::pcsync::job::host::Level;
pub use self::pcsync::job::types::*;

/// The contract version this host implements, as written in `wit/job.wit`.
pub const WIT_VERSION: &str = "1.0.0";

/// The package name components import and export, without its version.
pub const WIT_PACKAGE: &str = "pcsync:job";
