//! The "Qualys PC Results" job: the compliance posture of each active policy, from the classic
//! API's posture info list (`/api/<v>/fo/compliance/posture/info/?action=list&policy_id=N`),
//! one request per policy, paged by truncation WARNINGs.
//!
//! The job is a delta: with a Start Time it requests only the postures whose status changed
//! since then (`status_changes_since`). Each INFO becomes a `test-result` record, and each host the
//! page's records name becomes a `host` record. A page explains its records in a GLOSSARY that
//! Qualys sends after them, so `process` reads the page twice: first the glossary, then the
//! records, which it emits as it reads them.
//!
//! The plain library here plans the requests, and the common crate's `posture` module parses
//! the pages. The `bindings` module adapts both to the `pcsync:job` WIT world when built for
//! WebAssembly.

#[cfg(target_arch = "wasm32")]
mod bindings;

use pcsync_component_common::posture::{PostureFilter, start_time};
use pcsync_component_common::{
    Api, Description, JobError, JobHost, LogLevel, PlanSlice, Request, Table, WIT_VERSION,
    api_version,
};

pub use pcsync_component_common::RunContext;
pub use pcsync_component_common::posture::{
    BATCH_SIZE, CAUSE_OF_FAILURE_PARAMETER, DEFAULT_TRUNCATION_LIMIT, INCLUDE_DP_NAME_PARAMETER,
    PostureOptions, Record, SHOW_EXTENDED_EVIDENCE_PARAMETER, SHOW_REMEDIATION_INFO_PARAMETER,
    TRUNCATION_LIMIT_PARAMETER, process,
};

/// The job id the host identifies this component by.
pub const JOB_ID: &str = "pc-results";

/// Active policies read from the host for one plan slice, so a large store is never one list.
pub const POLICIES_PER_SLICE: u32 = 500;

/// Describes the job to the host.
pub fn describe() -> Description {
    Description {
        job_id: JOB_ID.to_owned(),
        component_version: env!("CARGO_PKG_VERSION").to_owned(),
        wit_version: WIT_VERSION.to_owned(),
        api: Api::Classic,
        tables: vec![Table::TestResult, Table::Host],
        snapshot: false,
    }
}

/// Plans one slice of a run: a posture info request for each of the next
/// [`POLICIES_PER_SLICE`] active policies that the host returns after `cursor`, and the host's
/// cursor for the next slice. Policies whose import is disabled get no request. With a Start
/// Time in `context`, each request is limited to postures whose status changed since then.
///
/// Each request is tagged with its policy id, which `process` reads back.
///
/// Fails with [`JobError::InvalidParameter`] if a job parameter has a value the job cannot use
/// or the Start Time is not a UTC datetime, checked before any policy is read.
pub fn plan<H: JobHost>(
    context: &RunContext,
    cursor: Option<&str>,
    host: &mut H,
) -> Result<PlanSlice, JobError> {
    let version = api_version(host)?;
    let options = PostureOptions::from_parameters(host)?;
    let status_changes_since = start_time(context)?;

    let (policies, mut next_cursor) = host.active_policies(cursor, POLICIES_PER_SLICE);
    if let Some(next) = &next_cursor {
        // A cursor that does not move would make the host call `plan` forever.
        if policies.is_empty() || cursor == Some(next.as_str()) {
            host.log(
                LogLevel::Warn,
                &format!(
                    "active-policies returned cursor {next:?} after cursor {cursor:?} with {} \
                     policies; ending the plan here",
                    policies.len()
                ),
            );
            next_cursor = None;
        }
    }

    let mut requests = Vec::with_capacity(policies.len());
    let mut import_disabled = 0u32;
    for policy in &policies {
        if policy.import_disabled {
            import_disabled += 1;
            continue;
        }
        requests.push(posture_request(
            version,
            policy.id,
            &options,
            status_changes_since.as_deref(),
        ));
    }

    host.log(
        LogLevel::Debug,
        &format!(
            "planned {} posture info requests from {} active policies ({import_disabled} with \
             import disabled), status changes since {}, next cursor {next_cursor:?}",
            requests.len(),
            policies.len(),
            status_changes_since.as_deref().unwrap_or("the beginning"),
        ),
    );
    Ok(PlanSlice {
        requests,
        cursor: next_cursor,
    })
}

/// Builds the posture info request for one policy, tagged with the policy id, limited to
/// postures whose status changed since `status_changes_since` when there is one.
pub fn posture_request(
    version: &str,
    policy_id: u64,
    options: &PostureOptions,
    status_changes_since: Option<&str>,
) -> Request {
    let filter = PostureFilter {
        status_changes_since: status_changes_since.map(str::to_owned),
        ..PostureFilter::default()
    };
    pcsync_component_common::posture::posture_request(version, policy_id, options, &filter)
}
