//! `describe` and `plan`.

mod support;

use pc_results::{POLICIES_PER_SLICE, describe, plan};
use pcsync_component_common::{Api, JobError, LogLevel, Method, PolicyRef, RunContext, Table};
use support::RecordingHost;

fn context(start_time: Option<&str>) -> RunContext {
    RunContext {
        run_id: "run-1".to_owned(),
        start_time: start_time.map(str::to_owned),
    }
}

fn policy(id: u64, import_disabled: bool) -> PolicyRef {
    PolicyRef {
        id,
        title: format!("Policy {id}"),
        last_evaluated: None,
        import_disabled,
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// Returns the query of a request for `policy_id` with the default options, up to where a
/// Start Time would follow.
fn base_query(policy_id: &str) -> Vec<(String, String)> {
    pairs(&[
        ("action", "list"),
        ("policy_id", policy_id),
        ("details", "All"),
        ("truncation_limit", "1000"),
    ])
}

#[test]
fn description() {
    let description = describe();

    assert_eq!(description.job_id, "pc-results");
    assert_eq!(description.component_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(description.wit_version, "1.0.0");
    assert_eq!(description.api, Api::Classic);
    assert_eq!(description.tables, vec![Table::TestResult, Table::Host]);
    assert!(!description.snapshot);
}

#[test]
fn start_time_sent_as_status_changes_since() {
    let mut host = RecordingHost::with_policies(vec![policy(11, false)]);

    let slice = plan(&context(Some("2026-11-01T00:00:00Z")), None, &mut host).unwrap();

    assert_eq!(slice.requests.len(), 1);
    let request = &slice.requests[0];
    assert_eq!(request.api, Api::Classic);
    assert_eq!(request.method, Method::Get);
    assert_eq!(request.path, "/api/5.0/fo/compliance/posture/info/");
    assert_eq!(request.body, None);
    assert!(!request.gzip);
    assert_eq!(request.tag, "11");
    let mut expected = base_query("11");
    expected.extend(pairs(&[
        ("status_changes_since", "2026-11-01T00:00:00Z"),
        ("show_remediation_info", "1"),
        ("cause_of_failure", "1"),
    ]));
    assert_eq!(request.query, expected);
}

#[test]
fn no_start_time_no_status_filter() {
    for start_time in [None, Some(""), Some("  ")] {
        let mut host = RecordingHost::with_policies(vec![policy(11, false)]);

        let slice = plan(&context(start_time), None, &mut host).unwrap();

        let mut expected = base_query("11");
        expected.extend(pairs(&[
            ("show_remediation_info", "1"),
            ("cause_of_failure", "1"),
        ]));
        assert_eq!(slice.requests[0].query, expected, "{start_time:?}");
    }
}

#[test]
fn invalid_start_time_rejected() {
    let mut host = RecordingHost::with_policies(vec![policy(11, false)]);

    let error = plan(&context(Some("2026-11-01")), None, &mut host).unwrap_err();

    assert_eq!(
        error,
        JobError::InvalidParameter(
            "Start Time \"2026-11-01\" is not a UTC datetime: use YYYY-MM-DDTHH:MM:SSZ".to_owned()
        )
    );
    assert!(host.policy_queries.is_empty());
}

#[test]
fn import_disabled_policy_skipped() {
    let mut host =
        RecordingHost::with_policies(vec![policy(11, false), policy(12, true), policy(13, false)]);

    let slice = plan(&context(None), None, &mut host).unwrap();

    let tags: Vec<&str> = slice
        .requests
        .iter()
        .map(|request| request.tag.as_str())
        .collect();
    assert_eq!(tags, ["11", "13"]);
    assert_eq!(slice.cursor, None);
    assert_eq!(host.policy_queries, vec![(None, POLICIES_PER_SLICE)]);
    assert_eq!(
        host.logs,
        vec![(
            LogLevel::Debug,
            "planned 2 posture info requests from 3 active policies (1 with import disabled), \
             status changes since the beginning, next cursor None"
                .to_owned()
        )]
    );
}

#[test]
fn one_request_per_policy_never_policy_ids() {
    let mut host = RecordingHost::with_policies((1..=25).map(|id| policy(id, false)).collect());

    let slice = plan(&context(None), None, &mut host).unwrap();

    assert_eq!(slice.requests.len(), 25);
    for (request, id) in slice.requests.iter().zip(1u64..) {
        let policy_ids: Vec<&str> = request
            .query
            .iter()
            .filter(|(name, _)| name == "policy_id")
            .map(|(_, value)| value.as_str())
            .collect();
        assert_eq!(policy_ids, [id.to_string()]);
        assert!(request.query.iter().all(|(name, _)| name != "policy_ids"));
    }
}

#[test]
fn option_parameters_set_query() {
    let cases = [
        (
            vec![("truncation_limit", " 250 ")],
            vec![
                ("truncation_limit", "250"),
                ("show_remediation_info", "1"),
                ("cause_of_failure", "1"),
            ],
        ),
        (
            vec![
                ("show_remediation_info", "0"),
                ("cause_of_failure", "false"),
            ],
            vec![("truncation_limit", "1000")],
        ),
        (
            vec![("include_dp_name", "1"), ("show_extended_evidence", "TRUE")],
            vec![
                ("truncation_limit", "1000"),
                ("show_remediation_info", "1"),
                ("cause_of_failure", "1"),
                ("include_dp_name", "1"),
                ("show_extended_evidence", "1"),
            ],
        ),
    ];
    for (parameters, expected_tail) in cases {
        let mut host = RecordingHost::with_policies(vec![policy(7, false)]);
        for (name, value) in &parameters {
            host.parameters.insert(name.to_string(), value.to_string());
        }

        let slice = plan(&context(None), None, &mut host).unwrap();

        let mut expected = pairs(&[("action", "list"), ("policy_id", "7"), ("details", "All")]);
        expected.extend(pairs(&expected_tail));
        assert_eq!(slice.requests[0].query, expected, "{parameters:?}");
    }
}

#[test]
fn api_version_selects_path() {
    let mut host = RecordingHost::with_parameter("api_version", "3.0");
    host.policies = vec![policy(7, false)];

    let slice = plan(&context(None), None, &mut host).unwrap();

    assert_eq!(
        slice.requests[0].path,
        "/api/3.0/fo/compliance/posture/info/"
    );
}

#[test]
fn invalid_parameters_rejected_before_store_read() {
    let cases = [
        (
            "api_version",
            "6.0",
            "api_version \"6.0\" is not supported: use one of 2.0, 3.0, 4.0, 5.0",
        ),
        (
            "truncation_limit",
            "0",
            "truncation_limit \"0\" is not a positive integer: use a whole number from 1 to \
             4294967295",
        ),
        (
            "cause_of_failure",
            "yes",
            "cause_of_failure \"yes\" is not a flag: use 1, true, 0 or false",
        ),
        (
            "show_extended_evidence",
            "2",
            "show_extended_evidence \"2\" is not a flag: use 1, true, 0 or false",
        ),
    ];
    for (name, value, message) in cases {
        let mut host = RecordingHost::with_parameter(name, value);
        host.policies = vec![policy(7, false)];

        let error = plan(&context(None), None, &mut host).unwrap_err();

        assert_eq!(error, JobError::InvalidParameter(message.to_owned()));
        assert!(host.policy_queries.is_empty());
    }
}

#[test]
fn slices_follow_host_cursor() {
    let mut host = RecordingHost::with_policies((1..=1200).map(|id| policy(id, false)).collect());

    let mut cursor = None;
    let mut tags = Vec::new();
    let mut slices = 0;
    loop {
        let slice = plan(&context(None), cursor.as_deref(), &mut host).unwrap();
        slices += 1;
        assert!(slice.requests.len() <= POLICIES_PER_SLICE as usize);
        tags.extend(slice.requests.into_iter().map(|request| request.tag));
        cursor = slice.cursor;
        if cursor.is_none() {
            break;
        }
    }

    assert_eq!(slices, 3);
    let expected: Vec<String> = (1..=1200).map(|id: u64| id.to_string()).collect();
    assert_eq!(tags, expected);
}

/// A host whose cursor never moves, as a faulty store might return.
struct StuckHost;

impl pcsync_component_common::JobHost for StuckHost {
    type Record = pc_results::Record;

    fn log(&mut self, _level: LogLevel, _message: &str) {}

    fn emit(&mut self, _records: Vec<Self::Record>) -> Result<(), String> {
        Ok(())
    }

    fn parameter(&mut self, _name: &str) -> Option<String> {
        None
    }

    fn active_policies(
        &mut self,
        cursor: Option<&str>,
        _limit: u32,
    ) -> (Vec<PolicyRef>, Option<String>) {
        match cursor {
            None => (vec![policy(1, false)], Some("1".to_owned())),
            Some(_) => (Vec::new(), Some("1".to_owned())),
        }
    }
}

#[test]
fn stuck_cursor_ends_plan() {
    let first = plan(&context(None), None, &mut StuckHost).unwrap();
    let second = plan(&context(None), first.cursor.as_deref(), &mut StuckHost).unwrap();

    assert_eq!(first.cursor.as_deref(), Some("1"));
    assert!(second.requests.is_empty());
    assert_eq!(second.cursor, None);
}
