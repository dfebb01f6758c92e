//! The `pcsync:job` WIT binding of this job, which it shares with PC Results.

pcsync_component_common::results_component!();
