//! The "Qualys PC Policies" job: a full snapshot of the compliance policies, from the classic
//! API's policy list (`/api/<v>/fo/compliance/policy/?action=list&details=Basic`).
//!
//! The plain library here plans the request and parses the pages. The `bindings` module adapts
//! it to the `pcsync:job` WIT world when built for WebAssembly.

mod parse;

#[cfg(target_arch = "wasm32")]
mod bindings;

use pcsync_component_common::{
    Api, Description, JobError, JobHost, PlanSlice, Request, RunContext, SourceField, Table,
    WIT_VERSION,
};

pub use parse::{BATCH_SIZE, process};

/// The job id the host identifies this component by.
pub const JOB_ID: &str = "pc-policies";

/// The job parameter that selects the classic API version.
pub const API_VERSION_PARAMETER: &str = "api_version";

/// The API version used when the `api_version` parameter is absent or blank.
pub const DEFAULT_API_VERSION: &str = "5.0";

/// The classic API versions that serve the policy list.
pub const API_VERSIONS: [&str; 4] = ["2.0", "3.0", "4.0", "5.0"];

/// A user name and time pair, as Qualys reports CREATED and LAST_MODIFIED.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamp {
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`, or `None` when absent or blank.
    pub datetime: Option<String>,
    /// `None` when absent or blank.
    pub by: Option<String>,
}

/// A compliance policy, for the `policy` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub id: u64,
    /// Empty when the POLICY has no TITLE.
    pub title: String,
    pub created: Stamp,
    pub last_modified: Stamp,
    /// `None` for a policy never evaluated.
    pub last_evaluated: Option<String>,
    /// `active` or `inactive` as Qualys reports it, or empty when the POLICY has no STATUS.
    pub status: String,
    /// IS_LOCKED, or false when absent.
    pub locked: bool,
    /// Always empty: the Basic policy list names no technologies.
    pub technology_ids: Vec<u64>,
    /// Every other element of the POLICY, flattened.
    pub source: Vec<SourceField>,
}

/// Describes the job to the host.
pub fn describe() -> Description {
    Description {
        job_id: JOB_ID.to_owned(),
        component_version: env!("CARGO_PKG_VERSION").to_owned(),
        wit_version: WIT_VERSION.to_owned(),
        api: Api::Classic,
        tables: vec![Table::Policy],
        snapshot: true,
    }
}

/// Plans a run: one slice with the one policy list request, and no cursor. The Start Time is
/// ignored because every run reads all policies. Called with a cursor anyway, it returns an
/// empty final slice, so the request is never planned twice.
///
/// Fails with [`JobError::InvalidParameter`] if `api_version` is not one of [`API_VERSIONS`].
pub fn plan<H: JobHost>(
    _context: &RunContext,
    cursor: Option<&str>,
    host: &mut H,
) -> Result<PlanSlice, JobError> {
    if cursor.is_some() {
        return Ok(PlanSlice::default());
    }

    let parameter = host.parameter(API_VERSION_PARAMETER);
    let version = match parameter.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_API_VERSION,
        Some(version) if API_VERSIONS.contains(&version) => version,
        Some(_) => {
            return Err(JobError::InvalidParameter(format!(
                "{API_VERSION_PARAMETER} {:?} is not supported: use one of {}",
                parameter.unwrap_or_default(),
                API_VERSIONS.join(", ")
            )));
        }
    };

    let request = Request::get(
        Api::Classic,
        format!("/api/{version}/fo/compliance/policy/"),
        vec![
            ("action".to_owned(), "list".to_owned()),
            ("details".to_owned(), "Basic".to_owned()),
        ],
    );
    Ok(PlanSlice {
        requests: vec![request],
        cursor: None,
    })
}
