//! Qualys faults: what is retried, what waits, what ends a run, and that no credential is
//! ever logged.

use std::sync::Arc;

use base64::Engine as _;
use pcsync::runtime::bindings::{Api as RequestApi, Method, Request};
use qualys_sim::{Api, Endpoint, Fault, FaultRule};

use crate::harness::{PASSWORD, Setup, USERNAME, assert_success, stderr, stdout};

fn inject(setup: &Setup, on_request: u64, times: u32, fault: Fault) {
    setup.simulator.inject(
        FaultRule::new(Endpoint::PolicyList, fault)
            .on_request(on_request)
            .times(times),
    );
}

fn policy_requests(setup: &Setup) -> usize {
    setup
        .simulator
        .requests()
        .iter()
        .filter(|request| request.endpoint == Endpoint::PolicyList)
        .count()
}

#[test]
fn rate_limit_waits_then_retries() {
    let setup = Setup::new(20, 100);
    inject(
        &setup,
        1,
        1,
        Fault::RateLimit1965 {
            seconds_to_wait: 1,
            header: false,
        },
    );

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);
    assert!(stdout(&output).contains("new 20"), "{}", stdout(&output));
    assert_eq!(policy_requests(&setup), 2);
    let log = stderr(&output);
    assert!(log.contains("retrying"), "{log}");
    assert!(
        log.contains("wait_ms=1000"),
        "the body's SECONDS_TO_WAIT is honoured: {log}"
    );
}

#[test]
fn long_rate_limit_ends_run() {
    let setup = Setup::new(20, 100);
    inject(
        &setup,
        1,
        1,
        Fault::RateLimit1965 {
            seconds_to_wait: 68_928,
            header: true,
        },
    );

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert!(!output.status.success());
    let text = stdout(&output);
    assert!(text.contains("Qualys rate limit: retry after"), "{text}");
    assert!(text.contains("68928 s"), "{text}");
    assert_eq!(
        policy_requests(&setup),
        1,
        "no retry when the wait is over the cap"
    );
}

#[test]
fn transient_faults_are_retried() {
    let faults = [
        Fault::Concurrency1960 { calls_to_finish: 1 },
        Fault::TooManyRequests {
            retry_after_secs: None,
        },
        Fault::ServerError(500),
        Fault::ServerError(503),
        Fault::CutMidBody { after_bytes: 300 },
    ];
    for fault in faults {
        let setup = Setup::new(50, 20);
        inject(&setup, 2, 1, fault.clone());

        let output = setup.pcsync(&["run", "pc-policies"]);
        assert_success(&output);
        assert!(
            stdout(&output).contains("pages 3  new 50"),
            "{fault:?}: {}",
            stdout(&output)
        );
        assert_eq!(policy_requests(&setup), 4, "{fault:?}: one retry of page 2");
        assert_eq!(setup.open().store().policies().unwrap().len(), 50);
    }
}

#[test]
fn retries_are_bounded() {
    let setup = Setup::with_extra(10, 100, "");
    setup.simulator.inject(FaultRule::new(
        Endpoint::PolicyList,
        Fault::ServerError(503),
    ));

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert!(!output.status.success());
    assert!(stdout(&output).contains("HTTP 503"), "{}", stdout(&output));
    assert_eq!(
        policy_requests(&setup),
        6,
        "the first attempt and 5 retries"
    );
    assert!(stderr(&output).contains("giving up"), "{}", stderr(&output));
}

#[test]
fn error_documents_end_the_run() {
    let cases = [
        (
            Fault::SimpleReturn200 {
                code: 1905,
                text: "parameter details has invalid value".into(),
            },
            "Qualys error 1905: parameter details has invalid value",
        ),
        (Fault::GenericReturn, "Internal error"),
        (Fault::Empty200, "empty"),
    ];
    for (fault, expected) in cases {
        let setup = Setup::new(10, 100);
        inject(&setup, 1, 1, fault.clone());

        let output = setup.pcsync(&["run", "pc-policies"]);
        assert!(!output.status.success(), "{fault:?}");
        let text = stdout(&output);
        assert!(text.contains(expected), "{fault:?}: {text}");
        assert_eq!(policy_requests(&setup), 1, "{fault:?}: not retried");
        assert_eq!(setup.open().store().policies().unwrap().len(), 0);
    }
}

#[test]
fn failed_run_keeps_stored_rows() {
    let setup = Setup::new(40, 20);
    assert_success(&setup.pcsync(&["run", "pc-policies"]));
    // Request numbers start again at 1 for the second run.
    setup.simulator.clear_requests();
    inject(&setup, 2, 1, Fault::GenericReturn);

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert!(!output.status.success());
    let pcsync = setup.open();
    let policies = pcsync.store().policies().unwrap();
    assert_eq!(policies.len(), 40);
    assert!(
        policies.iter().all(|row| row.present),
        "a failed snapshot run inactivates nothing"
    );
}

#[test]
fn keep_alive_whitespace_is_accepted() {
    let setup = Setup::new(10, 100);
    inject(&setup, 1, 1, Fault::KeepAliveWhitespace { bytes: 4096 });
    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);
    assert!(stdout(&output).contains("new 10"), "{}", stdout(&output));
}

#[test]
fn remaining_zero_pauses_next_request() {
    let setup = Setup::new(30, 10);
    inject(&setup, 1, 1, Fault::RemainingZero { to_wait_secs: 1 });

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);
    let log = stderr(&output);
    assert!(log.contains("window used up"), "{log}");
    assert_eq!(policy_requests(&setup), 3, "no 409 was provoked");
}

#[test]
fn in_flight_limit_holds_across_threads() {
    let setup = Setup::new(5, 100);
    setup.simulator.inject(FaultRule::new(
        Endpoint::PolicyList,
        Fault::Delay { ms: 150 },
    ));
    let pcsync = Arc::new(setup.open());

    let threads: Vec<_> = (0..6)
        .map(|thread| {
            let pcsync = pcsync.clone();
            let path = setup.dir.path().join(format!("page-{thread}.gz"));
            std::thread::spawn(move || {
                let request = Request {
                    api: RequestApi::Classic,
                    method: Method::Get,
                    path: "/api/5.0/fo/compliance/policy/".into(),
                    query: vec![("action".into(), "list".into())],
                    body: None,
                    gzip: false,
                    tag: String::new(),
                };
                pcsync.client().fetch_to(&request, &path).unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(setup.simulator.max_in_flight(Api::Classic), 2);
}

#[test]
fn credentials_never_logged() {
    let setup = Setup::new(30, 10);
    let faults = [
        Fault::RateLimit1965 {
            seconds_to_wait: 1,
            header: true,
        },
        Fault::Concurrency1960 { calls_to_finish: 2 },
        Fault::TooManyRequests {
            retry_after_secs: Some(1),
        },
        Fault::ServerError(500),
        Fault::CutMidBody { after_bytes: 200 },
    ];
    for (number, fault) in faults.into_iter().enumerate() {
        inject(&setup, number as u64 + 1, 1, fault);
    }
    let mut log = String::new();
    let output = setup.pcsync_with_log(&["run", "pc-policies"], "trace");
    assert_success(&output);
    log.push_str(&stdout(&output));
    log.push_str(&stderr(&output));

    setup.simulator.clear_requests();
    inject(&setup, 1, 1, Fault::GenericReturn);
    let output = setup.pcsync_with_log(&["run", "pc-policies"], "trace");
    log.push_str(&stdout(&output));
    log.push_str(&stderr(&output));

    setup.write_config("wrong-password-value", "");
    let output = setup.pcsync_with_log(&["run", "pc-policies"], "trace");
    log.push_str(&stdout(&output));
    log.push_str(&stderr(&output));

    assert!(log.lines().count() > 50, "trace logging produced output");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{PASSWORD}"));
    let wrong = base64::engine::general_purpose::STANDARD
        .encode(format!("{USERNAME}:wrong-password-value"));
    for secret in [
        PASSWORD,
        basic.as_str(),
        "wrong-password-value",
        wrong.as_str(),
    ] {
        assert!(!log.contains(secret), "`{secret}` appears in the log");
    }
}

#[test]
fn run_without_progress_is_stalled() {
    let setup = Setup::with_extra(
        10,
        100,
        "[retry]\nmax_retries = 100\ninitial_backoff_ms = 10\nstall_timeout_secs = 3\n",
    );
    setup.simulator.inject(FaultRule::new(
        Endpoint::PolicyList,
        Fault::TooManyRequests {
            retry_after_secs: Some(1),
        },
    ));

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert!(!output.status.success());
    let text = stdout(&output);
    assert!(text.contains("stalled: no progress for 3 s"), "{text}");
    assert!(text.contains("HTTP 429"), "the last error is named: {text}");
    assert!(
        policy_requests(&setup) < 10,
        "ended long before max_retries"
    );
}

#[test]
fn slow_run_with_progress_is_not_stalled() {
    let setup = Setup::with_extra(
        10,
        100,
        "[retry]\ninitial_backoff_ms = 10\nstall_timeout_secs = 2\n",
    );
    // About 30 chunks 200 ms apart: the page takes several times the stall timeout.
    inject(
        &setup,
        1,
        1,
        Fault::SlowBody {
            chunk_bytes: 256,
            delay_ms: 200,
        },
    );

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);
    assert!(stdout(&output).contains("new 10"), "{}", stdout(&output));
}

#[test]
fn refused_connection_is_retried_then_reported() {
    let setup = Setup::new(5, 100);
    // A port nothing listens on: bind one, note it, and close it again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = std::fs::read_to_string(setup.config_path())
        .unwrap()
        .replace(
            &setup.simulator.base_url(),
            &format!("http://127.0.0.1:{port}"),
        );
    std::fs::write(setup.config_path(), config).unwrap();

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert!(!output.status.success());
    let text = stdout(&output);
    assert!(text.contains("gave up after 6 attempts"), "{text}");
    assert!(text.contains("qualys.api_url"), "the fix is named: {text}");
    let retries = stderr(&output)
        .lines()
        .filter(|line| line.contains("request failed; retrying"))
        .count();
    assert_eq!(retries, 5, "every retry is logged");
}

#[test]
fn timeout_is_retried() {
    let setup = Setup::new(5, 100);
    let config = std::fs::read_to_string(setup.config_path())
        .unwrap()
        .replace("timeout_secs = 10", "timeout_secs = 1");
    std::fs::write(setup.config_path(), config).unwrap();
    inject(&setup, 1, 1, Fault::Delay { ms: 2500 });

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);
    assert!(stdout(&output).contains("new 5"), "{}", stdout(&output));
    assert!(stderr(&output).contains("retrying"), "{}", stderr(&output));
}

#[test]
fn forbidden_is_not_retried() {
    let setup = Setup::new(5, 100);
    inject(&setup, 1, 1, Fault::ServerError(403));

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert!(!output.status.success());
    let text = stdout(&output);
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(text.contains("permissions"), "{text}");
    assert_eq!(policy_requests(&setup), 1);
}
