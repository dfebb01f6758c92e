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
//! The plain library here plans the requests and parses the pages. The `bindings` module adapts
//! it to the `pcsync:job` WIT world when built for WebAssembly.

mod evidence;
mod glossary;
mod parse;

#[cfg(target_arch = "wasm32")]
mod bindings;

use pcsync_component_common::{
    Api, Description, JobError, JobHost, LogLevel, PlanSlice, Request, RunContext, ScannedHost,
    Table, TestResult, WIT_VERSION, api_version, flag_parameter_or, normalize_datetime,
    positive_integer_parameter,
};

pub use parse::{BATCH_SIZE, process};

/// The job id the host identifies this component by.
pub const JOB_ID: &str = "pc-results";

/// The job parameter that sets how many postures Qualys puts on one page.
pub const TRUNCATION_LIMIT_PARAMETER: &str = "truncation_limit";

/// The page size used when `truncation_limit` is absent or blank, which is also the Qualys
/// default.
pub const DEFAULT_TRUNCATION_LIMIT: u32 = 1000;

/// The job parameter that adds each posture's REMEDIATION (`show_remediation_info=1`). On
/// unless set to 0 or false.
pub const SHOW_REMEDIATION_INFO_PARAMETER: &str = "show_remediation_info";

/// The job parameter that adds the UNEXPECTED and MISSING values of a failed posture
/// (`cause_of_failure=1`). On unless set to 0 or false.
pub const CAUSE_OF_FAILURE_PARAMETER: &str = "cause_of_failure";

/// The job parameter that adds the data point names (DPD_LIST) to the glossary
/// (`include_dp_name=1`). Off unless set to 1 or true.
pub const INCLUDE_DP_NAME_PARAMETER: &str = "include_dp_name";

/// The job parameter that adds EXTENDED_EVIDENCE to each posture's evidence
/// (`show_extended_evidence=1`). Off unless set to 1 or true.
pub const SHOW_EXTENDED_EVIDENCE_PARAMETER: &str = "show_extended_evidence";

/// Active policies read from the host for one plan slice, so a large store is never one list.
pub const POLICIES_PER_SLICE: u32 = 500;

/// One record for one of the tables this job declares. The result is boxed because it is
/// several times larger than the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    TestResult(Box<TestResult>),
    Host(ScannedHost),
}

/// The query options of a posture info request, from the job parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostureOptions {
    /// Postures per page (`truncation_limit`).
    pub truncation_limit: u32,
    pub show_remediation_info: bool,
    pub cause_of_failure: bool,
    pub include_dp_name: bool,
    pub show_extended_evidence: bool,
}

impl Default for PostureOptions {
    fn default() -> Self {
        Self {
            truncation_limit: DEFAULT_TRUNCATION_LIMIT,
            show_remediation_info: true,
            cause_of_failure: true,
            include_dp_name: false,
            show_extended_evidence: false,
        }
    }
}

impl PostureOptions {
    /// Reads the options from the job parameters, with the defaults of
    /// [`PostureOptions::default`] for those absent or blank.
    ///
    /// Fails with [`JobError::InvalidParameter`] if `truncation_limit` is not a positive
    /// integer or a flag is not 1, true, 0 or false.
    pub fn from_parameters<H: JobHost>(host: &mut H) -> Result<Self, JobError> {
        let defaults = Self::default();
        Ok(Self {
            truncation_limit: positive_integer_parameter(
                host,
                TRUNCATION_LIMIT_PARAMETER,
                defaults.truncation_limit,
            )?,
            show_remediation_info: flag_parameter_or(
                host,
                SHOW_REMEDIATION_INFO_PARAMETER,
                defaults.show_remediation_info,
            )?,
            cause_of_failure: flag_parameter_or(
                host,
                CAUSE_OF_FAILURE_PARAMETER,
                defaults.cause_of_failure,
            )?,
            include_dp_name: flag_parameter_or(
                host,
                INCLUDE_DP_NAME_PARAMETER,
                defaults.include_dp_name,
            )?,
            show_extended_evidence: flag_parameter_or(
                host,
                SHOW_EXTENDED_EVIDENCE_PARAMETER,
                defaults.show_extended_evidence,
            )?,
        })
    }
}

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

/// Builds the posture info request for one policy, tagged with the policy id.
///
/// The request names one policy with `policy_id`, never several with `policy_ids`, because
/// Qualys rejects `truncation_limit` with `policy_ids` and then sends everything in one
/// response.
pub fn posture_request(
    version: &str,
    policy_id: u64,
    options: &PostureOptions,
    status_changes_since: Option<&str>,
) -> Request {
    let mut query = vec![
        ("action".to_owned(), "list".to_owned()),
        ("policy_id".to_owned(), policy_id.to_string()),
        ("details".to_owned(), "All".to_owned()),
        (
            "truncation_limit".to_owned(),
            options.truncation_limit.to_string(),
        ),
    ];
    if let Some(since) = status_changes_since {
        query.push(("status_changes_since".to_owned(), since.to_owned()));
    }
    let flags = [
        (
            SHOW_REMEDIATION_INFO_PARAMETER,
            options.show_remediation_info,
        ),
        (CAUSE_OF_FAILURE_PARAMETER, options.cause_of_failure),
        (INCLUDE_DP_NAME_PARAMETER, options.include_dp_name),
        (
            SHOW_EXTENDED_EVIDENCE_PARAMETER,
            options.show_extended_evidence,
        ),
    ];
    for (name, enabled) in flags {
        if enabled {
            query.push((name.to_owned(), "1".to_owned()));
        }
    }

    let mut request = Request::get(
        Api::Classic,
        format!("/api/{version}/fo/compliance/posture/info/"),
        query,
    );
    request.tag = policy_id.to_string();
    request
}

/// Returns the run's Start Time, validated, or `None` when the host sent none or a blank one.
fn start_time(context: &RunContext) -> Result<Option<String>, JobError> {
    let Some(value) = context.start_time.as_deref() else {
        return Ok(None);
    };
    if value.trim().is_empty() {
        return Ok(None);
    }
    normalize_datetime("Start Time", value)
        .map(Some)
        .map_err(|_| {
            JobError::InvalidParameter(format!(
                "Start Time {value:?} is not a UTC datetime: use YYYY-MM-DDTHH:MM:SSZ"
            ))
        })
}
