//! The records the results jobs write: `sn_vulc_result` (a test result, keyed by
//! [`ResultKey`]) and `sn_sec_cmn_src_ci` (a host Qualys scanned).

use crate::compliance::Criticality;
use crate::datetime::is_xml_whitespace;
use crate::job::SourceField;

/// The instance of a result for an operating-system check, which Qualys sends without
/// INSTANCE. PCRS sends this value itself.
pub const OS_INSTANCE: &str = "os";

/// The identity of a test result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResultKey {
    pub policy_id: u64,
    pub host_id: u64,
    pub control_id: u64,
    pub technology_id: u64,
    /// The database instance, for example `oracle19c:ORCL1`, or [`OS_INSTANCE`].
    pub instance: String,
}

impl ResultKey {
    /// Builds a key, with a missing or blank `instance` as [`OS_INSTANCE`]. Whitespace around
    /// the instance is trimmed.
    pub fn new(
        policy_id: u64,
        host_id: u64,
        control_id: u64,
        technology_id: u64,
        instance: Option<&str>,
    ) -> Self {
        let instance = instance
            .map(|text| text.trim_matches(is_xml_whitespace))
            .filter(|text| !text.is_empty())
            .unwrap_or(OS_INSTANCE);
        Self {
            policy_id,
            host_id,
            control_id,
            technology_id,
            instance: instance.to_owned(),
        }
    }
}

/// Formats a result key as `policy:host:control:technology:instance`. That text is also the
/// cursor the host's `results-not-passed` takes, and the next page starts after this key.
pub fn format_result_key(key: &ResultKey) -> String {
    format!(
        "{}:{}:{}:{}:{}",
        key.policy_id, key.host_id, key.control_id, key.technology_id, key.instance
    )
}

/// `sn_vulc_result`: one control evaluated on one host for one policy.
///
/// Dates are UTC `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    pub key: ResultKey,
    /// `Passed`, `Failed` or `Error`, as Qualys sent it.
    pub status: String,
    pub previous_status: Option<String>,
    pub first_fail_date: Option<String>,
    pub last_fail_date: Option<String>,
    pub first_pass_date: Option<String>,
    pub last_pass_date: Option<String>,
    pub posture_modified_date: Option<String>,
    pub evaluation_date: Option<String>,
    /// The control's criticality in the result's policy.
    pub criticality: Option<Criticality>,
    pub control_statement: Option<String>,
    pub control_reference: Option<String>,
    pub remediation: Option<String>,
    /// The evidence's boolean expression with every token resolved.
    pub expected_values: Option<String>,
    /// The data point values, extended evidence and cause of failure.
    pub actual_values: Option<String>,
    pub source: Vec<SourceField>,
}

/// `sn_sec_cmn_src_ci`: a host Qualys scanned, keyed by its Qualys host id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedHost {
    pub id: u64,
    pub ip: Option<String>,
    pub dns: Option<String>,
    pub netbios: Option<String>,
    pub os: Option<String>,
    pub tracking_method: Option<String>,
    pub cloud_resource_id: Option<String>,
    /// The last compliance scan, UTC `YYYY-MM-DDTHH:MM:SSZ`.
    pub last_scan_date: Option<String>,
    pub source: Vec<SourceField>,
}

impl ScannedHost {
    /// Creates a host with only its id.
    pub fn new(id: u64) -> Self {
        Self {
            id,
            ip: None,
            dns: None,
            netbios: None,
            os: None,
            tracking_method: None,
            cloud_resource_id: None,
            last_scan_date: None,
            source: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_blank_instance_is_os() {
        for instance in [None, Some(""), Some(" \n")] {
            let key = ResultKey::new(1, 2, 3, 4, instance);
            assert_eq!(key.instance, "os", "{instance:?}");
        }
    }

    #[test]
    fn database_instance_trimmed() {
        let key = ResultKey::new(1, 2, 3, 4, Some(" oracle19c:ORCL1 "));

        assert_eq!(key.instance, "oracle19c:ORCL1");
        assert_eq!(
            (
                key.policy_id,
                key.host_id,
                key.control_id,
                key.technology_id
            ),
            (1, 2, 3, 4)
        );
    }
}
