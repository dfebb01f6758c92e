//! The posture info list that both classic results jobs read
//! (`/api/<v>/fo/compliance/posture/info/?action=list`): the request options they share, the
//! request builder, and the page parser.
//!
//! PC Results requests the postures whose status changed since its Start Time. PC
//! Comprehensive Results requests the postures of results that are not Passed, by evaluation
//! date and host and control filters. Both pages parse the same way and emit the same records.

mod evidence;
mod glossary;
mod parse;
mod query;

use crate::{
    Api, JobError, JobHost, Request, RunContext, ScannedHost, TestResult, flag_parameter_or,
    normalize_datetime, positive_integer_parameter,
};

pub use parse::{BATCH_SIZE, process};
pub use query::{IdList, encoded_len, request_url_len};

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

/// One record for one of the tables the results jobs declare. The result is boxed because it
/// is several times larger than the host.
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

/// The filters that select a policy's postures in a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostureFilter {
    /// `status_changes_since`: postures whose status changed at or after this UTC time.
    pub status_changes_since: Option<String>,
    /// `evaluation_date`: postures evaluated at or after this UTC time.
    pub evaluation_date: Option<String>,
    /// `control_ids`, comma-separated.
    pub control_ids: Option<String>,
    /// `host_ids`, comma-separated.
    pub host_ids: Option<String>,
}

/// Builds the posture info request for one policy, tagged with the policy id, which
/// [`process`] reads back.
///
/// The request names one policy with `policy_id`, never several with `policy_ids`, because
/// Qualys rejects `truncation_limit` with `policy_ids` and then sends everything in one
/// response.
pub fn posture_request(
    version: &str,
    policy_id: u64,
    options: &PostureOptions,
    filter: &PostureFilter,
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
    let filters = [
        ("status_changes_since", &filter.status_changes_since),
        ("evaluation_date", &filter.evaluation_date),
        ("control_ids", &filter.control_ids),
        ("host_ids", &filter.host_ids),
    ];
    for (name, value) in filters {
        if let Some(value) = value {
            query.push((name.to_owned(), value.clone()));
        }
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
///
/// Fails with [`JobError::InvalidParameter`] for a Start Time that is not a UTC datetime.
pub fn start_time(context: &RunContext) -> Result<Option<String>, JobError> {
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
