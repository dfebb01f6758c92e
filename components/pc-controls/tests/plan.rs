//! `describe` and `plan`.

mod support;

use pc_controls::{describe, plan};
use pcsync_component_common::{Api, JobError, Method, RunContext, Table};
use support::RecordingHost;

fn context() -> RunContext {
    RunContext {
        run_id: "run-1".to_owned(),
        start_time: None,
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

    assert_eq!(description.job_id, "pc-controls");
    assert_eq!(description.component_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(description.wit_version, "1.0.0");
    assert_eq!(description.api, Api::Classic);
    assert_eq!(
        description.tables,
        vec![
            Table::Test,
            Table::Technology,
            Table::AuthSrc,
            Table::Citation
        ]
    );
    assert!(description.snapshot);
}

#[test]
fn default_request() {
    let slice = plan(&context(), None, &mut RecordingHost::default()).unwrap();

    assert_eq!(slice.cursor, None);
    assert_eq!(slice.requests.len(), 1);
    let request = &slice.requests[0];
    assert_eq!(request.api, Api::Classic);
    assert_eq!(request.method, Method::Get);
    assert_eq!(request.path, "/api/5.0/fo/compliance/control/");
    assert_eq!(
        request.query,
        pairs(&[
            ("action", "list"),
            ("details", "All"),
            ("truncation_limit", "1000"),
        ])
    );
    assert_eq!(request.body, None);
    assert!(!request.gzip);
    assert_eq!(request.tag, "");
}

#[test]
fn parameters_shape_request() {
    let mut host = RecordingHost::with_parameter("truncation_limit", " 250 ");
    host.parameters
        .insert("api_version".to_owned(), "4.0".to_owned());

    let slice = plan(&context(), None, &mut host).unwrap();

    let request = &slice.requests[0];
    assert_eq!(request.path, "/api/4.0/fo/compliance/control/");
    assert_eq!(
        request.query,
        pairs(&[
            ("action", "list"),
            ("details", "All"),
            ("truncation_limit", "250"),
        ])
    );
}

#[test]
fn invalid_truncation_limit_rejected() {
    for value in ["0", "-5", "1e3", "all", "99999999999"] {
        let mut host = RecordingHost::with_parameter("truncation_limit", value);

        let error = plan(&context(), None, &mut host).unwrap_err();

        assert_eq!(
            error,
            JobError::InvalidParameter(format!(
                "truncation_limit {value:?} is not a positive integer: use a whole number from \
                 1 to 4294967295"
            ))
        );
    }
}

#[test]
fn unsupported_version_rejected() {
    let mut host = RecordingHost::with_parameter("api_version", "1.0");

    let error = plan(&context(), None, &mut host).unwrap_err();

    assert_eq!(
        error,
        JobError::InvalidParameter(
            "api_version \"1.0\" is not supported: use one of 2.0, 3.0, 4.0, 5.0".to_owned()
        )
    );
}

#[test]
fn cursor_gives_empty_final_slice() {
    let slice = plan(&context(), Some("anything"), &mut RecordingHost::default()).unwrap();

    assert!(slice.requests.is_empty());
    assert_eq!(slice.cursor, None);
}
