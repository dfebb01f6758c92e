//! The "Qualys PC Controls" job: a full snapshot of the compliance controls with their
//! technologies and frameworks, from the classic API's control list
//! (`/api/<v>/fo/compliance/control/?action=list&details=All`), paged by truncation WARNINGs.
//!
//! The plain library here plans the request and parses the pages. The `bindings` module adapts
//! it to the `pcsync:job` WIT world when built for WebAssembly.

mod parse;

#[cfg(target_arch = "wasm32")]
mod bindings;

use pcsync_component_common::{
    Api, AuthSrc, Citation, ControlFramework, ControlTechnology, Criticality, Description,
    JobError, JobHost, NamedId, PlanSlice, Request, RunContext, SourceField, Table, Technology,
    WIT_VERSION, api_version, positive_integer_parameter,
};

pub use parse::{BATCH_SIZE, process};

/// The job id the host identifies this component by.
pub const JOB_ID: &str = "pc-controls";

/// The job parameter that sets how many controls Qualys puts on one page.
pub const TRUNCATION_LIMIT_PARAMETER: &str = "truncation_limit";

/// The page size used when `truncation_limit` is absent or blank, which is also the Qualys
/// default.
pub const DEFAULT_TRUNCATION_LIMIT: u32 = 1000;

/// `sn_vulc_test`: a control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub id: u64,
    /// Empty when the CONTROL has no STATEMENT.
    pub statement: String,
    pub category: Option<NamedId>,
    pub sub_category: Option<NamedId>,
    pub criticality: Option<Criticality>,
    pub check_type: Option<String>,
    pub comment: Option<String>,
    /// IGNORE_ERROR, or false when absent.
    pub ignore_error: bool,
    /// IS_ACTIVE, or true when absent (API versions before 5.0 do not send it).
    pub active: bool,
    /// CREATED_DATE, UTC `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: Option<String>,
    /// UPDATE_DATE, UTC `YYYY-MM-DDTHH:MM:SSZ`.
    pub updated: Option<String>,
    /// REMEDIATION, where the page has one.
    pub remediation: Option<String>,
    pub technologies: Vec<ControlTechnology>,
    pub frameworks: Vec<ControlFramework>,
    /// Every other element of the CONTROL, flattened.
    pub source: Vec<SourceField>,
}

/// One record for one of the tables this job declares. The control is boxed because it is
/// several times larger than the other records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Test(Box<Control>),
    Technology(Technology),
    AuthSrc(AuthSrc),
    Citation(Citation),
}

/// Describes the job to the host.
pub fn describe() -> Description {
    Description {
        job_id: JOB_ID.to_owned(),
        component_version: env!("CARGO_PKG_VERSION").to_owned(),
        wit_version: WIT_VERSION.to_owned(),
        api: Api::Classic,
        tables: vec![
            Table::Test,
            Table::Technology,
            Table::AuthSrc,
            Table::Citation,
        ],
        snapshot: true,
    }
}

/// Plans a run: one slice with the one control list request, and no cursor. The next pages
/// come as follow-ups from the truncation WARNING. The Start Time is ignored because every run
/// reads all controls. Called with a cursor anyway, it returns an empty final slice, so the
/// request is never planned twice.
///
/// Fails with [`JobError::InvalidParameter`] if `api_version` or `truncation_limit` has a
/// value the job cannot use.
pub fn plan<H: JobHost>(
    _context: &RunContext,
    cursor: Option<&str>,
    host: &mut H,
) -> Result<PlanSlice, JobError> {
    if cursor.is_some() {
        return Ok(PlanSlice::default());
    }

    let version = api_version(host)?;
    let truncation_limit =
        positive_integer_parameter(host, TRUNCATION_LIMIT_PARAMETER, DEFAULT_TRUNCATION_LIMIT)?;

    let request = Request::get(
        Api::Classic,
        format!("/api/{version}/fo/compliance/control/"),
        vec![
            ("action".to_owned(), "list".to_owned()),
            ("details".to_owned(), "All".to_owned()),
            ("truncation_limit".to_owned(), truncation_limit.to_string()),
        ],
    );
    Ok(PlanSlice {
        requests: vec![request],
        cursor: None,
    })
}
