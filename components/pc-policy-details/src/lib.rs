//! The "Qualys PC Policies Detail" job: each active policy's controls, sections, technologies
//! and frameworks, from the classic API's policy export
//! (`/api/<v>/fo/compliance/policy/?action=export&id=N`), one request per policy.
//!
//! The job is not a snapshot. Each successful export names its policy in
//! `complete-policies`, and the host then marks inactive the links of that policy that the run
//! did not emit. A policy whose export failed keeps its links.
//!
//! The plain library here plans the requests and parses the pages. The `bindings` module adapts
//! it to the `pcsync:job` WIT world when built for WebAssembly.

mod parse;

#[cfg(target_arch = "wasm32")]
mod bindings;

use pcsync_component_common::{
    Api, AuthSrc, Citation, Criticality, Description, JobError, JobHost, LogLevel, PlanSlice,
    Request, RunContext, SourceField, Table, Technology, WIT_VERSION, api_version, flag_parameter,
};

pub use parse::{BATCH_SIZE, process};

/// The job id the host identifies this component by.
pub const JOB_ID: &str = "pc-policy-details";

/// The job parameter that adds user-defined controls to each export (`show_user_controls=1`).
pub const SHOW_USER_CONTROLS_PARAMETER: &str = "show_user_controls";

/// The job parameter that adds the policy's appendix to each export (`show_appendix=1`).
pub const SHOW_APPENDIX_PARAMETER: &str = "show_appendix";

/// Active policies read from the host for one plan slice, so a large store is never one list.
pub const POLICIES_PER_SLICE: u32 = 500;

/// `sn_vulc_policy_test`: a control's place in one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTest {
    pub policy_id: u64,
    pub control_id: u64,
    /// The SECTION's NUMBER, or `None` when absent or blank.
    pub section_number: Option<String>,
    /// The SECTION's HEADING, or `None` when absent or blank.
    pub section_heading: Option<String>,
    /// The control's criticality in this policy, which can differ between policies.
    pub criticality: Option<Criticality>,
    /// Position of the control within the whole export, from 0.
    pub position: u32,
    /// The control's other elements (STATEMENT, USER_DEFINED, technology rationales and
    /// anything unknown), flattened.
    pub source: Vec<SourceField>,
}

/// One record for one of the tables this job declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Technology(Technology),
    AuthSrc(AuthSrc),
    Citation(Citation),
    PolicyTest(PolicyTest),
}

/// Describes the job to the host.
pub fn describe() -> Description {
    Description {
        job_id: JOB_ID.to_owned(),
        component_version: env!("CARGO_PKG_VERSION").to_owned(),
        wit_version: WIT_VERSION.to_owned(),
        api: Api::Classic,
        tables: vec![
            Table::Technology,
            Table::PolicyTest,
            Table::AuthSrc,
            Table::Citation,
        ],
        snapshot: false,
    }
}

/// Plans one slice of a run: an export request for each of the next [`POLICIES_PER_SLICE`]
/// active policies that the host returns after `cursor`, and the host's cursor for the next
/// slice. Policies whose import is disabled get no request. The Start Time is ignored because
/// every run exports every active policy.
///
/// Each request is tagged with its policy id, which `process` reads back.
///
/// Fails with [`JobError::InvalidParameter`] if `api_version`, `show_user_controls` or
/// `show_appendix` has a value the job cannot use, checked before any policy is read.
pub fn plan<H: JobHost>(
    _context: &RunContext,
    cursor: Option<&str>,
    host: &mut H,
) -> Result<PlanSlice, JobError> {
    let version = api_version(host)?;
    let show_user_controls = flag_parameter(host, SHOW_USER_CONTROLS_PARAMETER)?;
    let show_appendix = flag_parameter(host, SHOW_APPENDIX_PARAMETER)?;

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
        requests.push(export_request(
            version,
            policy.id,
            show_user_controls,
            show_appendix,
        ));
    }

    host.log(
        LogLevel::Debug,
        &format!(
            "planned {} policy exports from {} active policies ({import_disabled} with import \
             disabled), next cursor {next_cursor:?}",
            requests.len(),
            policies.len()
        ),
    );
    Ok(PlanSlice {
        requests,
        cursor: next_cursor,
    })
}

/// Builds the export request for one policy, tagged with the policy id.
pub fn export_request(
    version: &str,
    policy_id: u64,
    show_user_controls: bool,
    show_appendix: bool,
) -> Request {
    let mut query = vec![
        ("action".to_owned(), "export".to_owned()),
        ("id".to_owned(), policy_id.to_string()),
    ];
    if show_user_controls {
        query.push(("show_user_controls".to_owned(), "1".to_owned()));
    }
    if show_appendix {
        query.push(("show_appendix".to_owned(), "1".to_owned()));
    }

    let mut request = Request::get(
        Api::Classic,
        format!("/api/{version}/fo/compliance/policy/"),
        query,
    );
    request.tag = policy_id.to_string();
    request
}
