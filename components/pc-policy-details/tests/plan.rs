//! `describe` and `plan`.

mod support;

use pc_policy_details::{POLICIES_PER_SLICE, describe, plan};
use pcsync_component_common::{Api, JobError, LogLevel, Method, PolicyRef, RunContext, Table};
use support::RecordingHost;

fn context() -> RunContext {
    RunContext {
        run_id: "run-1".to_owned(),
        start_time: None,
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

#[test]
fn description() {
    let description = describe();

    assert_eq!(description.job_id, "pc-policy-details");
    assert_eq!(description.component_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(description.wit_version, "1.0.0");
    assert_eq!(description.api, Api::Classic);
    assert_eq!(
        description.tables,
        vec![
            Table::Technology,
            Table::PolicyTest,
            Table::AuthSrc,
            Table::Citation
        ]
    );
    assert!(!description.snapshot);
}

#[test]
fn one_request_per_enabled_policy() {
    let mut host =
        RecordingHost::with_policies(vec![policy(11, false), policy(12, true), policy(13, false)]);

    let slice = plan(&context(), None, &mut host).unwrap();

    assert_eq!(slice.cursor, None);
    assert_eq!(slice.requests.len(), 2);
    let request = &slice.requests[0];
    assert_eq!(request.api, Api::Classic);
    assert_eq!(request.method, Method::Get);
    assert_eq!(request.path, "/api/5.0/fo/compliance/policy/");
    assert_eq!(request.query, pairs(&[("action", "export"), ("id", "11")]));
    assert_eq!(request.body, None);
    assert!(!request.gzip);
    assert_eq!(request.tag, "11");
    assert_eq!(slice.requests[1].tag, "13");
    assert_eq!(host.policy_queries, vec![(None, POLICIES_PER_SLICE)]);
}

#[test]
fn import_disabled_count_logged() {
    let mut host = RecordingHost::with_policies(vec![policy(11, false), policy(12, true)]);

    plan(&context(), None, &mut host).unwrap();

    assert_eq!(
        host.logs,
        vec![(
            LogLevel::Debug,
            "planned 1 policy exports from 2 active policies (1 with import disabled), next \
             cursor None"
                .to_owned()
        )]
    );
}

#[test]
fn slices_follow_host_cursor() {
    let mut host = RecordingHost::with_policies((1..=1200).map(|id| policy(id, false)).collect());

    let mut cursor = None;
    let mut tags = Vec::new();
    let mut slices = 0;
    loop {
        let slice = plan(&context(), cursor.as_deref(), &mut host).unwrap();
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
    assert_eq!(
        host.policy_queries
            .iter()
            .map(|(cursor, _)| cursor.clone())
            .collect::<Vec<_>>(),
        vec![None, Some("500".to_owned()), Some("1000".to_owned())]
    );
}

#[test]
fn full_last_slice_ends_with_empty_slice() {
    let mut host = RecordingHost::with_policies((1..=500).map(|id| policy(id, false)).collect());

    let first = plan(&context(), None, &mut host).unwrap();
    let second = plan(&context(), first.cursor.as_deref(), &mut host).unwrap();

    assert_eq!(first.requests.len(), 500);
    assert_eq!(first.cursor.as_deref(), Some("500"));
    assert!(second.requests.is_empty());
    assert_eq!(second.cursor, None);
}

#[test]
fn no_active_policies_plans_nothing() {
    let slice = plan(&context(), None, &mut RecordingHost::default()).unwrap();

    assert!(slice.requests.is_empty());
    assert_eq!(slice.cursor, None);
}

#[test]
fn option_parameters_added() {
    let cases = [
        ("1", "0", vec![("show_user_controls", "1")]),
        ("0", "true", vec![("show_appendix", "1")]),
        (
            "TRUE",
            "1",
            vec![("show_user_controls", "1"), ("show_appendix", "1")],
        ),
        ("", "false", vec![]),
    ];
    for (user_controls, appendix, extra) in cases {
        let mut host = RecordingHost::with_parameter("show_user_controls", user_controls);
        host.parameters
            .insert("show_appendix".to_owned(), appendix.to_owned());
        host.policies = vec![policy(7, false)];

        let slice = plan(&context(), None, &mut host).unwrap();

        let mut expected = pairs(&[("action", "export"), ("id", "7")]);
        expected.extend(pairs(&extra));
        assert_eq!(
            slice.requests[0].query, expected,
            "{user_controls:?} {appendix:?}"
        );
    }
}

#[test]
fn api_version_selects_path() {
    let mut host = RecordingHost::with_parameter("api_version", " 3.0 ");
    host.policies = vec![policy(7, false)];

    let slice = plan(&context(), None, &mut host).unwrap();

    assert_eq!(slice.requests[0].path, "/api/3.0/fo/compliance/policy/");
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
            "show_user_controls",
            "yes",
            "show_user_controls \"yes\" is not a flag: use 1, true, 0 or false",
        ),
        (
            "show_appendix",
            "2",
            "show_appendix \"2\" is not a flag: use 1, true, 0 or false",
        ),
    ];
    for (name, value, message) in cases {
        let mut host = RecordingHost::with_parameter(name, value);
        host.policies = vec![policy(7, false)];

        let error = plan(&context(), None, &mut host).unwrap_err();

        assert_eq!(error, JobError::InvalidParameter(message.to_owned()));
        assert!(host.policy_queries.is_empty());
    }
}

/// A host whose cursor never moves, as a faulty store might return.
struct StuckHost;

impl pcsync_component_common::JobHost for StuckHost {
    type Record = pc_policy_details::Record;

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
    let first = plan(&context(), None, &mut StuckHost).unwrap();
    let second = plan(&context(), first.cursor.as_deref(), &mut StuckHost).unwrap();

    assert_eq!(first.cursor.as_deref(), Some("1"));
    assert!(second.requests.is_empty());
    assert_eq!(second.cursor, None);
}
