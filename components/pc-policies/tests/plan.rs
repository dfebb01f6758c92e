//! `describe` and `plan`.

mod support;

use pc_policies::{describe, plan};
use pcsync_component_common::{Api, JobError, Method, RunContext, Table};
use support::RecordingHost;

fn context() -> RunContext {
    RunContext {
        run_id: "run-1".to_owned(),
        start_time: Some("2024-04-14T00:00:00Z".to_owned()),
    }
}

#[test]
fn description() {
    let description = describe();

    assert_eq!(description.job_id, "pc-policies");
    assert_eq!(description.component_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(description.wit_version, "1.0.0");
    assert_eq!(description.api, Api::Classic);
    assert_eq!(description.tables, vec![Table::Policy]);
    assert!(description.snapshot);
}

#[test]
fn default_version_request() {
    let slice = plan(&context(), None, &mut RecordingHost::default()).unwrap();

    assert_eq!(slice.cursor, None);
    assert_eq!(slice.requests.len(), 1);
    let request = &slice.requests[0];
    assert_eq!(request.api, Api::Classic);
    assert_eq!(request.method, Method::Get);
    assert_eq!(request.path, "/api/5.0/fo/compliance/policy/");
    assert_eq!(
        request.query,
        vec![
            ("action".to_owned(), "list".to_owned()),
            ("details".to_owned(), "Basic".to_owned()),
        ]
    );
    assert_eq!(request.body, None);
    assert!(!request.gzip);
    assert_eq!(request.tag, "");
}

#[test]
fn each_supported_version() {
    for version in ["2.0", "3.0", "4.0", "5.0", " 4.0 "] {
        let mut host = RecordingHost::with_parameter("api_version", version);

        let slice = plan(&context(), None, &mut host).unwrap();

        let expected = format!("/api/{}/fo/compliance/policy/", version.trim());
        assert_eq!(slice.requests[0].path, expected);
    }
}

#[test]
fn blank_version_uses_default() {
    let mut host = RecordingHost::with_parameter("api_version", "  ");

    let slice = plan(&context(), None, &mut host).unwrap();

    assert_eq!(slice.requests[0].path, "/api/5.0/fo/compliance/policy/");
}

#[test]
fn unsupported_version_rejected() {
    for version in ["6.0", "5", "1.0", "v5.0", "5.0/../x"] {
        let mut host = RecordingHost::with_parameter("api_version", version);

        let error = plan(&context(), None, &mut host).unwrap_err();

        assert_eq!(
            error,
            JobError::InvalidParameter(format!(
                "api_version {version:?} is not supported: use one of 2.0, 3.0, 4.0, 5.0"
            ))
        );
    }
}

#[test]
fn cursor_gives_empty_final_slice() {
    let slice = plan(&context(), Some("anything"), &mut RecordingHost::default()).unwrap();

    assert!(slice.requests.is_empty());
    assert_eq!(slice.cursor, None);
}
