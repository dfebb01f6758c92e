//! The nine jobs of the Qualys integration, with the ids pcsync uses and the display names of the
//! ServiceNow integration.

use std::fmt;
use std::str::FromStr;

/// One of the nine scheduled jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobId {
    PcPolicies,
    PcPolicyDetails,
    PcControls,
    PcResults,
    PcComprehensiveResults,
    PcrsPolicyHosts,
    PcrsTestResults,
    PcrsComprehensivePolicyHosts,
    PcrsComprehensiveTestResults,
}

/// The result pipeline of a job. At most one pipeline is active at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pipeline {
    /// Policies, Policies Detail and Controls feed both pipelines.
    Shared,
    /// PC Results and PC Comprehensive Results.
    Classic,
    /// The four PCRS jobs.
    Pcrs,
}

impl JobId {
    /// Every job, in the order the chain runs them.
    pub const ALL: [JobId; 9] = [
        JobId::PcPolicies,
        JobId::PcPolicyDetails,
        JobId::PcControls,
        JobId::PcResults,
        JobId::PcComprehensiveResults,
        JobId::PcrsPolicyHosts,
        JobId::PcrsTestResults,
        JobId::PcrsComprehensivePolicyHosts,
        JobId::PcrsComprehensiveTestResults,
    ];

    /// The id used in the CLI, the configuration and file names, for example `pc-policies`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobId::PcPolicies => "pc-policies",
            JobId::PcPolicyDetails => "pc-policy-details",
            JobId::PcControls => "pc-controls",
            JobId::PcResults => "pc-results",
            JobId::PcComprehensiveResults => "pc-comprehensive-results",
            JobId::PcrsPolicyHosts => "pcrs-policy-hosts",
            JobId::PcrsTestResults => "pcrs-test-results",
            JobId::PcrsComprehensivePolicyHosts => "pcrs-comprehensive-policy-hosts",
            JobId::PcrsComprehensiveTestResults => "pcrs-comprehensive-test-results",
        }
    }

    /// The job's name in the ServiceNow integration.
    pub fn display_name(self) -> &'static str {
        match self {
            JobId::PcPolicies => "Qualys PC Policies",
            JobId::PcPolicyDetails => "Qualys PC Policies Detail",
            JobId::PcControls => "Qualys PC Controls",
            JobId::PcResults => "Qualys PC Results",
            JobId::PcComprehensiveResults => "Qualys PC Comprehensive Results",
            JobId::PcrsPolicyHosts => "Qualys PCRS Policy Host Integration",
            JobId::PcrsTestResults => "Qualys PCRS Test Results Integration",
            JobId::PcrsComprehensivePolicyHosts => {
                "Qualys Comprehensive PCRS Policy Host Integration"
            }
            JobId::PcrsComprehensiveTestResults => {
                "Qualys Comprehensive PCRS Test Results Integration"
            }
        }
    }

    pub fn pipeline(self) -> Pipeline {
        match self {
            JobId::PcPolicies | JobId::PcPolicyDetails | JobId::PcControls => Pipeline::Shared,
            JobId::PcResults | JobId::PcComprehensiveResults => Pipeline::Classic,
            _ => Pipeline::Pcrs,
        }
    }

    /// Whether the job queries Qualys once per active policy, and so leaves out inactive and
    /// import-disabled policies (counted as skipped on the run).
    pub fn works_per_policy(self) -> bool {
        matches!(
            self,
            JobId::PcPolicyDetails | JobId::PcResults | JobId::PcComprehensiveResults
        )
    }

    /// The job parameters its component reads, for spotting typing mistakes in `pcsync.toml`.
    pub fn parameters(self) -> &'static [&'static str] {
        match self {
            JobId::PcPolicies => &["api_version"],
            JobId::PcPolicyDetails => &["api_version", "show_user_controls", "show_appendix"],
            JobId::PcControls => &["api_version", "truncation_limit"],
            JobId::PcResults => &[
                "api_version",
                "truncation_limit",
                "show_remediation_info",
                "cause_of_failure",
                "include_dp_name",
                "show_extended_evidence",
                "start_time_overlap_minutes",
            ],
            JobId::PcComprehensiveResults => &[
                "api_version",
                "truncation_limit",
                "show_remediation_info",
                "cause_of_failure",
                "include_dp_name",
                "show_extended_evidence",
                "start_time_overlap_minutes",
                "max_url_length",
            ],
            _ => &[
                "posture_api_version",
                "pcrs_page_size",
                "start_time_overlap_minutes",
            ],
        }
    }

    /// The job that must have completed a run before this one can: PC Comprehensive Results
    /// refreshes the results that PC Results imported.
    pub fn needs_completed_run_of(self) -> Option<JobId> {
        match self {
            JobId::PcComprehensiveResults => Some(JobId::PcResults),
            _ => None,
        }
    }

    /// Tells whether a run of the job ends by counting the results that were not Passed that
    /// it refreshed, changed and did not get back.
    pub fn counts_refreshed(self) -> bool {
        self == JobId::PcComprehensiveResults
    }

    /// Whether the job fetches changes since its Start Time. Policies, Policies Detail and
    /// Controls are full snapshots and ignore it.
    pub fn uses_start_time(self) -> bool {
        self.pipeline() != Pipeline::Shared
    }

    /// Whether the job is active when the configuration does not set `active`. The PCRS jobs are
    /// inactive out of the box, as in the original integration.
    pub fn active_by_default(self) -> bool {
        self.pipeline() != Pipeline::Pcrs
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job id that is not one of the nine.
#[derive(Debug, thiserror::Error)]
#[error("unknown job id `{0}`; expected one of: {list}", list = JobId::ALL.map(JobId::as_str).join(", "))]
pub struct UnknownJobId(pub String);

impl FromStr for JobId {
    type Err = UnknownJobId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        JobId::ALL
            .into_iter()
            .find(|job| job.as_str() == text)
            .ok_or_else(|| UnknownJobId(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for job in JobId::ALL {
            assert_eq!(job.as_str().parse::<JobId>().unwrap(), job);
        }
    }

    #[test]
    fn unknown_id_lists_valid_ones() {
        let error = "pc-polices".parse::<JobId>().unwrap_err().to_string();
        assert!(error.contains("pc-polices"), "{error}");
        assert!(error.contains("pcrs-comprehensive-test-results"), "{error}");
    }
}
