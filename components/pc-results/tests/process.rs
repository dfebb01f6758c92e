//! `process` on realistic, failed and damaged posture info pages.

mod support;

use std::cell::Cell;

use pc_results::{Record, process};
use pcsync_component_common::{
    Api, Criticality, JobError, LogLevel, ProcessOutput, QualysError, ResultKey, ScannedHost,
    SourceField, TestResult,
};
use support::{RecordingHost, SMALL_GLOSSARY, SmallReads, info, posture_page, results_request};

/// Three postures of policy 2001: a Windows check with every kind of evidence, an Oracle
/// database check and a check on a host the glossary does not describe. The extended evidence
/// contains a raw U+0001 byte.
const PAGE: &[u8] = include_bytes!("fixtures/posture_page.xml");

const POLICY: u64 = 2001;

fn run(
    policy_id: u64,
    status: u16,
    body: &[u8],
) -> (Result<ProcessOutput, JobError>, RecordingHost) {
    let mut host = RecordingHost::default();
    let result = process(&results_request(policy_id), status, || body, &mut host);
    (result, host)
}

fn fields(list: &[(&str, &str)]) -> Vec<SourceField> {
    list.iter()
        .map(|(name, value)| SourceField::new(*name, *value))
        .collect()
}

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn key(
    policy_id: u64,
    host_id: u64,
    control_id: u64,
    technology_id: u64,
    instance: &str,
) -> ResultKey {
    ResultKey {
        policy_id,
        host_id,
        control_id,
        technology_id,
        instance: instance.to_owned(),
    }
}

#[test]
fn windows_posture_resolved() {
    let (result, host) = run(POLICY, 200, PAGE);
    result.unwrap();

    let results = host.results();
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[0],
        TestResult {
            key: key(POLICY, 1001, 1071, 45, "os"),
            status: "Failed".to_owned(),
            previous_status: some("Passed"),
            first_fail_date: some("2026-11-20T09:00:00Z"),
            last_fail_date: some("2026-12-01T10:00:00Z"),
            first_pass_date: some("2026-01-15T09:00:00Z"),
            last_pass_date: some("2026-11-13T09:00:00Z"),
            posture_modified_date: some("2026-12-01T10:05:00Z"),
            evaluation_date: some("2026-12-01T10:00:00Z"),
            criticality: Some(Criticality {
                label: "SERIOUS".to_owned(),
                value: 3,
            }),
            control_statement: some("Status of the 'Minimum password length' setting"),
            control_reference: some("1.1.1"),
            remediation: some(
                "Set \"Minimum password length\" to 14 or more:\n  Computer Configuration\\\
                 Windows Settings\\Security Settings\\Account Policies\n"
            ),
            expected_values: some("(Minimum password length >= 14) && (a, b contains :dp_2)"),
            actual_values: some(
                "Minimum password length: 12 (last updated 2026-12-01T10:00:00Z)\n\
                 :dp_2: Enabled, second (last updated 2026-12-01T10:00:01Z)\n\
                 Extended evidence:\n\
                 Richtlinie: Kennwortl\u{E4}nge \u{2265} 14 \u{2014} \u{5BC6}\u{7801}\u{957F}\u{5EA6}\n  \
                 Wert: ]]> 12 <\n  \
                 Quelle: HKLM\\SYSTEM\u{FFFD}\\Lsa\n\n\
                 Cause of failure:\n\
                 Unexpected: 12\n\
                 Missing: a, b"
            ),
            source: fields(&[
                ("ID", "5000001"),
                ("EXCEPTION/ASSIGNEE", "acme_jd"),
                ("EXCEPTION/STATUS", "Approved"),
                ("EXCEPTION/END_DATE", "2027-01-31T00:00:00Z"),
                ("EXCEPTION/COMMENT_LIST/COMMENT/TEXT", "Legacy application"),
                ("CUSTOM_NOTE", "kept"),
                ("TECHNOLOGY/NAME", "Windows Server 2019"),
                ("CONTROL/RATIONALE", "Short passwords are easy to guess."),
                (
                    "EVIDENCE/BOOLEAN_EXPR",
                    "(:dp_1 >= #fv_1) && ($tp_2 contains :dp_2)"
                ),
                ("DPD/LABEL", ":dp_1"),
                ("DPD/NAME", "Minimum password length"),
            ]),
        }
    );
}

#[test]
fn database_posture_keeps_instance() {
    let (result, host) = run(POLICY, 200, PAGE);
    result.unwrap();

    let oracle = &host.results()[1];
    assert_eq!(oracle.key, key(POLICY, 1002, 2040, 88, "oracle19c:ORCL1"));
    assert_eq!(oracle.status, "Passed");
    assert_eq!(oracle.previous_status, None);
    assert_eq!(oracle.first_fail_date, None);
    assert_eq!(
        oracle.evaluation_date.as_deref(),
        Some("2026-12-01T11:00:00Z")
    );
    assert_eq!(
        oracle.criticality,
        Some(Criticality {
            label: "CRITICAL".to_owned(),
            value: 4
        })
    );
    assert_eq!(oracle.remediation, None);
    assert_eq!(
        oracle.expected_values.as_deref(),
        Some("AUDIT_TRAIL in #fv_9")
    );
    assert_eq!(
        oracle.actual_values.as_deref(),
        Some("AUDIT_TRAIL: DB, EXTENDED (last updated 2026-12-01T11:00:00Z)")
    );
    assert_eq!(
        oracle.source,
        fields(&[
            ("ID", "5000002"),
            ("TECHNOLOGY/NAME", "Oracle 19c"),
            ("EVIDENCE/BOOLEAN_EXPR", ":dp_3 in #fv_9"),
            ("DPD/LABEL", ":dp_3"),
            ("DPD/NAME", "AUDIT_TRAIL"),
        ])
    );
}

#[test]
fn empty_instance_is_os() {
    let (result, host) = run(POLICY, 200, PAGE);
    result.unwrap();

    let error = &host.results()[2];
    assert_eq!(error.key, key(POLICY, 1009, 1071, 45, "os"));
    assert_eq!(error.status, "Error");
    assert_eq!(error.expected_values, None);
    assert_eq!(error.actual_values, None);
}

#[test]
fn referenced_hosts_emitted_once_before_results() {
    let (result, host) = run(POLICY, 200, PAGE);
    result.unwrap();

    let order: Vec<String> = host
        .records()
        .iter()
        .map(|record| match record {
            Record::Host(host) => format!("host {}", host.id),
            Record::TestResult(result) => format!("result {}", result.key.host_id),
        })
        .collect();
    assert_eq!(
        order,
        [
            "host 1001",
            "result 1001",
            "host 1002",
            "result 1002",
            "result 1009"
        ]
    );
    assert_eq!(
        host.hosts()[0],
        ScannedHost {
            id: 1001,
            ip: some("10.0.0.1"),
            dns: some("win-app-01.acme.example"),
            netbios: some("WIN-APP-01"),
            os: some("Windows Server 2019 Datacenter"),
            tracking_method: some("AGENT"),
            cloud_resource_id: None,
            last_scan_date: some("2026-12-01T09:58:00Z"),
            source: fields(&[("NETWORK", "Global Default Network")]),
        }
    );
    assert_eq!(host.hosts()[1].netbios, None);
    assert_eq!(host.hosts()[1].tracking_method.as_deref(), Some("IP"));
}

#[test]
fn page_output_has_datetime_follow_up_and_warnings() {
    let (result, _) = run(POLICY, 200, PAGE);
    let output = result.unwrap();

    assert_eq!(
        output.response_datetime.as_deref(),
        Some("2026-12-02T08:15:00Z")
    );
    assert_eq!(output.follow_ups.len(), 1);
    let next = &output.follow_ups[0];
    assert_eq!(next.api, Api::Classic);
    assert_eq!(next.path, "/api/5.0/fo/compliance/posture/info/");
    assert_eq!(
        next.query,
        vec![
            ("action".to_owned(), "list".to_owned()),
            ("policy_id".to_owned(), "2001".to_owned()),
            ("details".to_owned(), "All".to_owned()),
            ("truncation_limit".to_owned(), "3".to_owned()),
            ("id_min".to_owned(), "5000004".to_owned()),
        ]
    );
    assert_eq!(next.tag, "2001");
    assert!(output.complete_policies.is_empty());
    assert_eq!(
        output.warnings,
        vec![
            "posture info of policy 2001: the GLOSSARY does not describe some references \
             (hosts: 1, evidence tokens: 1); the results were kept with what the page has, and \
             the run log names examples"
                .to_owned(),
            "replaced 1 characters that XML 1.0 does not allow with U+FFFD in the posture info \
             of policy 2001"
                .to_owned(),
        ]
    );
}

#[test]
fn glossary_gaps_logged_once_per_kind() {
    let (result, host) = run(POLICY, 200, PAGE);
    result.unwrap();

    assert_eq!(
        host.logs_at(LogLevel::Warn),
        vec![
            "posture info of policy 2001: 1 INFO records name hosts that the GLOSSARY does not \
             describe, for example 1009; the results were kept without their details"
                .to_owned(),
            "posture info of policy 2001: 1 evidence tokens are not explained by the GLOSSARY, \
             for example #fv_9; they were kept as written"
                .to_owned(),
        ]
    );
    let debug = host.logs_at(LogLevel::Debug);
    assert_eq!(debug.len(), 1);
    assert!(
        debug[0].starts_with(
            "posture info of policy 2001: 3 results and 2 hosts in 1 batches, 0 INFO skipped; \
             glossary of 3 hosts, 2 controls and 2 technologies; 1 follow-up requests, 1 \
             characters replaced"
        ),
        "{}",
        debug[0]
    );
    assert!(
        debug[0].ends_with(", skipped elements USER_LIST"),
        "{}",
        debug[0]
    );
}

#[test]
fn one_byte_reads_equal_big_reads() {
    let (big_result, big_host) = run(POLICY, 200, PAGE);
    let big_output = big_result.unwrap();

    let mut small_host = RecordingHost::default();
    let small_output = process(
        &results_request(POLICY),
        200,
        || SmallReads {
            data: PAGE,
            size: 1,
        },
        &mut small_host,
    )
    .unwrap();

    assert_eq!(small_output, big_output);
    assert_eq!(small_host.records(), big_host.records());
    assert_eq!(small_host.logs, big_host.logs);
}

#[test]
fn body_read_twice_from_start() {
    let opened = Cell::new(0);
    let mut host = RecordingHost::default();

    process(
        &results_request(POLICY),
        200,
        || {
            opened.set(opened.get() + 1);
            PAGE
        },
        &mut host,
    )
    .unwrap();

    assert_eq!(opened.get(), 2);
    assert_eq!(host.results().len(), 3);
}

#[test]
fn same_control_in_two_policies_distinct_keys() {
    let (first, first_host) = run(2001, 200, PAGE);
    let (second, second_host) = run(2002, 200, PAGE);
    first.unwrap();
    second.unwrap();

    let first_keys: Vec<ResultKey> = first_host.results().into_iter().map(|r| r.key).collect();
    let second_keys: Vec<ResultKey> = second_host.results().into_iter().map(|r| r.key).collect();
    assert_eq!(first_keys[0], key(2001, 1001, 1071, 45, "os"));
    assert_eq!(second_keys[0], key(2002, 1001, 1071, 45, "os"));
    for first_key in &first_keys {
        assert!(!second_keys.contains(first_key), "{first_key:?}");
    }
}

#[test]
fn glossary_before_records_gives_same_results() {
    let records = format!("<INFO_LIST>{}</INFO_LIST>", info(7, 1001, 1071, 45));
    let before = posture_page(&format!("{SMALL_GLOSSARY}{records}"));
    let after = posture_page(&format!("{records}{SMALL_GLOSSARY}"));

    let (before_result, before_host) = run(POLICY, 200, &before);
    let (after_result, after_host) = run(POLICY, 200, &after);

    assert_eq!(before_result.unwrap(), after_result.unwrap());
    assert_eq!(before_host.records(), after_host.records());
    let result = &before_host.results()[0];
    assert_eq!(result.control_statement.as_deref(), Some("Statement"));
    assert_eq!(before_host.hosts().len(), 1);
}

#[test]
fn missing_glossary_keeps_records_as_gaps() {
    let body = posture_page(&format!(
        "<INFO_LIST>{}{}</INFO_LIST>",
        info(7, 1001, 1071, 45),
        info(8, 1002, 1071, 45)
    ));

    let (result, host) = run(POLICY, 200, &body);
    let output = result.unwrap();

    let results = host.results();
    assert_eq!(results.len(), 2);
    assert!(host.hosts().is_empty());
    assert_eq!(results[0].control_statement, None);
    assert_eq!(results[0].criticality, None);
    assert_eq!(results[0].source, fields(&[("ID", "7")]));
    assert_eq!(
        output.warnings,
        vec![
            "posture info of policy 2001: the page has no GLOSSARY, so nothing describes some \
             references (hosts: 2, controls: 2, technologies: 2); the results were kept with \
             what the page has, and the run log names examples"
                .to_owned()
        ]
    );
    let warn_logs = host.logs_at(LogLevel::Warn);
    assert_eq!(warn_logs.len(), 3);
    assert!(
        warn_logs[0].contains("2 INFO records name hosts"),
        "{}",
        warn_logs[0]
    );
    assert!(
        warn_logs[0].contains("for example 1001, 1002"),
        "{}",
        warn_logs[0]
    );
    assert!(
        warn_logs[1].contains("2 INFO records name controls"),
        "{}",
        warn_logs[1]
    );
    assert!(
        warn_logs[2].contains("2 INFO records name technologies"),
        "{}",
        warn_logs[2]
    );
}

#[test]
fn record_without_key_skipped_with_warning() {
    let body = posture_page(&format!(
        "<INFO_LIST><INFO><ID>6</ID><CONTROL_ID>1071</CONTROL_ID><TECHNOLOGY_ID>45</TECHNOLOGY_ID>\
         <STATUS>Passed</STATUS></INFO><INFO><ID>9</ID><HOST_ID>x</HOST_ID><CONTROL_ID>1\
         </CONTROL_ID><TECHNOLOGY_ID>1</TECHNOLOGY_ID><STATUS>Passed</STATUS></INFO>\
         <INFO><HOST_ID>1001</HOST_ID><CONTROL_ID>1071</CONTROL_ID><TECHNOLOGY_ID>45\
         </TECHNOLOGY_ID></INFO>{}</INFO_LIST>{SMALL_GLOSSARY}",
        info(7, 1001, 1071, 45)
    ));

    let (result, host) = run(POLICY, 200, &body);
    let output = result.unwrap();

    assert_eq!(host.results().len(), 1);
    assert_eq!(host.results()[0].key, key(POLICY, 1001, 1071, 45, "os"));
    assert_eq!(output.warnings.len(), 3, "{:?}", output.warnings);
    assert_eq!(
        output.warnings[0],
        "posture info of policy 2001: INFO 6 was skipped: missing element HOST_ID"
    );
    assert_eq!(
        output.warnings[1],
        "posture info of policy 2001: INFO 9 was skipped: invalid HOST_ID value \"x\": expected \
         an unsigned integer below 2^64"
    );
    assert!(
        output.warnings[2].starts_with("posture info of policy 2001: INFO at byte "),
        "{}",
        output.warnings[2]
    );
    assert!(
        output.warnings[2].ends_with(" was skipped: it has no STATUS"),
        "{}",
        output.warnings[2]
    );
}

#[test]
fn invalid_date_kept_as_source_field() {
    let body = posture_page(&format!(
        "<INFO_LIST><INFO><ID>7</ID><HOST_ID>1001</HOST_ID><CONTROL_ID>1071</CONTROL_ID>\
         <TECHNOLOGY_ID>45</TECHNOLOGY_ID><STATUS>Failed</STATUS>\
         <FIRST_FAIL_DATE>yesterday</FIRST_FAIL_DATE></INFO></INFO_LIST>{SMALL_GLOSSARY}"
    ));

    let (result, host) = run(POLICY, 200, &body);
    let output = result.unwrap();

    let result = &host.results()[0];
    assert_eq!(result.first_fail_date, None);
    assert_eq!(
        result.source,
        fields(&[
            ("ID", "7"),
            ("FIRST_FAIL_DATE", "yesterday"),
            ("TECHNOLOGY/NAME", "Windows Server 2019"),
        ])
    );
    assert_eq!(
        output.warnings,
        vec![
            "posture info of policy 2001: INFO 7: invalid FIRST_FAIL_DATE value \"yesterday\": \
             expected YYYY-MM-DDTHH:MM:SSZ; kept as a source field"
                .to_owned()
        ]
    );
}

#[test]
fn error_document_is_qualys_error() {
    let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<SIMPLE_RETURN><RESPONSE>\
        <DATETIME>2026-12-02T08:15:00Z</DATETIME><CODE>1965</CODE><TEXT>This API cannot be run \
        again for another 5 minutes.</TEXT><ITEM_LIST><ITEM><KEY>SECONDS_TO_WAIT</KEY>\
        <VALUE>300</VALUE></ITEM></ITEM_LIST></RESPONSE></SIMPLE_RETURN>";

    for status in [200, 409] {
        let (result, host) = run(POLICY, status, body);

        assert_eq!(
            result.unwrap_err(),
            JobError::Qualys(QualysError {
                code: Some(1965),
                text: "This API cannot be run again for another 5 minutes.".to_owned(),
                items: vec![("SECONDS_TO_WAIT".to_owned(), "300".to_owned())],
            })
        );
        assert!(host.batches.is_empty());
    }
}

#[test]
fn unknown_policy_is_a_warning() {
    let body = b"<SIMPLE_RETURN><RESPONSE><DATETIME>2026-12-02T08:15:00Z</DATETIME>\
        <CODE>1905</CODE><TEXT>Policy ID 42 does not exist.</TEXT></RESPONSE></SIMPLE_RETURN>";

    let (result, host) = run(POLICY, 400, body);

    let output = result.expect("one policy's error does not fail the run");
    assert_eq!(output.warnings.len(), 1);
    assert!(output.warnings[0].contains("1905"), "{:?}", output.warnings);
    assert!(
        output.warnings[0].contains(&POLICY.to_string()),
        "{:?}",
        output.warnings
    );
    assert!(host.batches.is_empty());
    assert!(output.follow_ups.is_empty());
}

#[test]
fn posture_document_with_error_status_rejected() {
    let (result, host) = run(POLICY, 500, PAGE);

    assert_eq!(
        result.unwrap_err(),
        JobError::InvalidPage(
            "posture info of policy 2001 (HTTP 500): a POSTURE_INFO_LIST_OUTPUT document came \
             with a status that is not a success"
                .to_owned()
        )
    );
    assert!(host.batches.is_empty());
}

#[test]
fn tag_not_policy_id_rejected() {
    let mut request = results_request(POLICY);
    request.tag = "policy".to_owned();
    let mut host = RecordingHost::default();

    let error = process(&request, 200, || PAGE, &mut host).unwrap_err();

    assert_eq!(
        error,
        JobError::InvalidPage(
            "request tag \"policy\" is not a policy id, so the postures cannot be matched to a \
             policy"
                .to_owned()
        )
    );
}

#[test]
fn damaged_pages_fail_without_panic() {
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"Service Unavailable".to_vec(),
        b"<html><body>Bad gateway</body></html>".to_vec(),
        PAGE[..PAGE.len() / 2].to_vec(),
        posture_page("<INFO_LIST><INFO><ID>1</ID></INFO_LIST>"),
        b"<POSTURE_INFO_LIST_OUTPUT><RESPONSE><DATETIME>now</DATETIME></RESPONSE>\
          </POSTURE_INFO_LIST_OUTPUT>"
            .to_vec(),
        posture_page("<WARNING><URL>https://h/admin/?x=1</URL></WARNING>"),
        b"<POSTURE_INFO_LIST_OUTPUT><RESPONSE><INFO_LIST><INFO><ID>1</ID><HOST_ID>1<X/>\
          </HOST_ID></INFO></INFO_LIST></RESPONSE></POSTURE_INFO_LIST_OUTPUT>"
            .to_vec(),
    ];
    for body in cases {
        let (result, _) = run(POLICY, 200, &body);
        assert!(
            matches!(result, Err(JobError::InvalidPage(_))),
            "{:?}: {result:?}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn body_changed_between_reads_rejected() {
    let reads = Cell::new(0);
    let mut host = RecordingHost::default();
    let other: &[u8] = b"<SIMPLE_RETURN/>";

    let error = process(
        &results_request(POLICY),
        200,
        || {
            reads.set(reads.get() + 1);
            if reads.get() == 1 { PAGE } else { other }
        },
        &mut host,
    )
    .unwrap_err();

    let JobError::InvalidPage(message) = error else {
        panic!("expected an invalid page, got {error:?}");
    };
    assert!(
        message.starts_with(
            "posture info of policy 2001: the second read of the body differs from the first"
        ),
        "{message}"
    );
}

#[test]
fn empty_page_emits_nothing() {
    let body = posture_page("<INFO_LIST/><GLOSSARY/>");

    let (result, host) = run(POLICY, 200, &body);
    let output = result.unwrap();

    assert!(host.batches.is_empty());
    assert!(output.warnings.is_empty(), "{:?}", output.warnings);
    assert!(output.follow_ups.is_empty());
    assert_eq!(
        output.response_datetime.as_deref(),
        Some("2026-12-02T08:15:00Z")
    );
}

#[test]
fn warning_without_url_is_run_warning() {
    let body = posture_page(
        "<INFO_LIST/><WARNING><CODE>1980</CODE><TEXT>partial</TEXT></WARNING>\
         <WARNING><URL>https://h/api/5.0/fo/x/?a=1</URL></WARNING>",
    );

    let (result, _) = run(POLICY, 200, &body);
    let output = result.unwrap();

    assert!(output.follow_ups.is_empty());
    assert_eq!(
        output.warnings,
        vec![
            "posture info of policy 2001: Qualys WARNING 1980: partial (no URL, so no follow-up \
             request was made)"
                .to_owned(),
            "posture info of policy 2001: ignored 1 WARNING elements after the first one"
                .to_owned(),
        ]
    );
}

#[test]
fn emit_failure_is_host_error() {
    struct FailingHost;

    impl pcsync_component_common::JobHost for FailingHost {
        type Record = Record;

        fn log(&mut self, _level: LogLevel, _message: &str) {}

        fn emit(&mut self, _records: Vec<Record>) -> Result<(), String> {
            Err("emit batch is over limits.max_emit_batch".to_owned())
        }

        fn parameter(&mut self, _name: &str) -> Option<String> {
            None
        }
    }

    let error = process(&results_request(POLICY), 200, || PAGE, &mut FailingHost).unwrap_err();

    assert_eq!(
        error,
        JobError::Host("emit batch is over limits.max_emit_batch".to_owned())
    );
}
