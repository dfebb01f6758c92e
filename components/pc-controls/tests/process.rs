//! `process` on realistic, erroneous and damaged control list pages.

mod support;

use pc_controls::{Control, process};
use pcsync_component_common::{
    Api, AuthSrc, ControlFramework, ControlTechnology, Criticality, JobError, LogLevel, Method,
    NamedId, PageReader, ProcessOutput, QualysError, SourceField, Technology,
};
use support::{RecordingHost, SmallReads, list_request};

const PAGE: &[u8] = include_bytes!("fixtures/control_list_page.xml");

fn run(body: &[u8]) -> (Result<ProcessOutput, JobError>, RecordingHost) {
    let mut host = RecordingHost::default();
    let result = process(&list_request(), 200, body, &mut host);
    (result, host)
}

fn invalid_page_message(status: u16, body: &[u8]) -> String {
    let mut host = RecordingHost::default();
    match process(&list_request(), status, body, &mut host) {
        Err(JobError::InvalidPage(message)) => message,
        other => panic!("expected an invalid page, got {other:?}"),
    }
}

fn fields(list: &[(&str, &str)]) -> Vec<SourceField> {
    list.iter()
        .map(|(name, value)| SourceField::new(*name, *value))
        .collect()
}

fn criticality(label: &str, value: u8) -> Option<Criticality> {
    Some(Criticality {
        label: label.to_owned(),
        value,
    })
}

/// Builds a minimal page with the given CONTROL_LIST content.
fn page_with_controls(controls: &str) -> Vec<u8> {
    format!(
        "<CONTROL_LIST_OUTPUT><RESPONSE><DATETIME>2026-01-05T09:30:00Z</DATETIME>\
         <CONTROL_LIST>{controls}</CONTROL_LIST></RESPONSE></CONTROL_LIST_OUTPUT>"
    )
    .into_bytes()
}

#[test]
fn realistic_page_controls() {
    let (result, host) = run(PAGE);
    result.unwrap();

    let controls = host.controls();
    assert_eq!(controls.len(), 2);
    assert_eq!(
        controls[0],
        Control {
            id: 1071,
            statement: "Status of the 'Minimum password length' setting".to_owned(),
            category: Some(NamedId {
                id: 1,
                name: "Access Control Requirements".to_owned(),
            }),
            sub_category: Some(NamedId {
                id: 16,
                name: "Password Policy".to_owned(),
            }),
            criticality: criticality("SERIOUS", 3),
            check_type: Some("Registry Value".to_owned()),
            comment: Some("Applies to domain members only.".to_owned()),
            ignore_error: false,
            active: true,
            created: Some("2019-06-11T10:00:00Z".to_owned()),
            updated: Some("2026-01-02T03:04:05Z".to_owned()),
            remediation: None,
            technologies: vec![
                ControlTechnology {
                    technology_id: 45,
                    name: "Windows Server 2019".to_owned(),
                    rationale: Some("Short passwords are easy to guess.".to_owned()),
                },
                ControlTechnology {
                    technology_id: 46,
                    name: "Windows Server 2022".to_owned(),
                    rationale: Some("Short passwords are easy to guess.".to_owned()),
                },
            ],
            frameworks: vec![
                ControlFramework {
                    framework_id: 1,
                    framework_name: "CIS Controls v8".to_owned(),
                    references: vec!["5.2".to_owned()],
                },
                ControlFramework {
                    framework_id: 7,
                    framework_name: "NIST SP 800-53 Rev. 5".to_owned(),
                    references: vec!["IA-5(1)".to_owned(), "IA-5(4)".to_owned()],
                },
            ],
            source: Vec::new(),
        }
    );
}

#[test]
fn inactive_control_and_unknown_element() {
    let (result, host) = run(PAGE);
    result.unwrap();

    let control = &host.controls()[1];
    assert_eq!(control.id, 2218);
    assert!(!control.active);
    assert!(control.ignore_error);
    assert_eq!(control.comment, None);
    assert_eq!(control.criticality, criticality("CRITICAL", 4));
    assert_eq!(control.source, fields(&[("DEPRECATED", "0")]));
}

#[test]
fn technologies_frameworks_citations() {
    let (result, host) = run(PAGE);
    result.unwrap();

    let technology_ids: Vec<u64> = host.technologies().iter().map(|t| t.id).collect();
    assert_eq!(technology_ids, vec![45, 46, 88]);
    assert_eq!(
        host.technologies()[2],
        Technology {
            id: 88,
            name: "Red Hat Enterprise Linux 9.x".to_owned(),
            source: Vec::new(),
        }
    );
    assert_eq!(
        host.auth_srcs(),
        vec![
            AuthSrc {
                id: 1,
                name: "CIS Controls v8".to_owned(),
                source: Vec::new(),
            },
            AuthSrc {
                id: 7,
                name: "NIST SP 800-53 Rev. 5".to_owned(),
                source: Vec::new(),
            },
        ]
    );
    let citations: Vec<(u64, u64, String)> = host
        .citations()
        .into_iter()
        .map(|citation| {
            (
                citation.auth_src_id,
                citation.control_id,
                citation.reference,
            )
        })
        .collect();
    assert_eq!(
        citations,
        vec![
            (1, 1071, "5.2".to_owned()),
            (7, 1071, "IA-5(1)".to_owned()),
            (7, 1071, "IA-5(4)".to_owned()),
            (1, 2218, "5.4".to_owned()),
        ]
    );
}

#[test]
fn warning_url_becomes_follow_up() {
    let output = run(PAGE).0.unwrap();

    assert_eq!(output.follow_ups.len(), 1);
    let follow_up = &output.follow_ups[0];
    assert_eq!(follow_up.api, Api::Classic);
    assert_eq!(follow_up.method, Method::Get);
    // The URL names qualysapi.qg3.apps.qualys.com: only its path and query are kept.
    assert_eq!(follow_up.path, "/api/5.0/fo/compliance/control/");
    assert_eq!(
        follow_up.query,
        vec![
            ("action".to_owned(), "list".to_owned()),
            ("details".to_owned(), "All".to_owned()),
            ("truncation_limit".to_owned(), "2".to_owned()),
            ("id_min".to_owned(), "2219".to_owned()),
        ]
    );
    assert_eq!(follow_up.body, None);
    assert!(!follow_up.gzip);
    assert_eq!(follow_up.tag, "controls");
}

#[test]
fn page_metadata_and_summary() {
    let (result, host) = run(PAGE);
    let output = result.unwrap();

    assert_eq!(
        output.response_datetime.as_deref(),
        Some("2026-01-05T09:30:00Z")
    );
    assert!(output.warnings.is_empty(), "{:?}", output.warnings);
    assert!(output.complete_policies.is_empty());
    assert_eq!(host.batches.len(), 1);
    assert_eq!(host.logs.len(), 1);
    assert_eq!(host.logs[0].0, LogLevel::Debug);
    assert!(
        host.logs[0].1.starts_with(
            "control list page: 2 controls, 3 technologies, 2 frameworks, 4 citations, in 1 \
             batches; 1 follow-up requests"
        ),
        "{}",
        host.logs[0].1
    );
}

#[test]
fn optional_elements_absent() {
    let body = page_with_controls("<CONTROL><ID>9</ID></CONTROL>");

    let (result, host) = run(&body);
    result.unwrap();

    assert_eq!(
        host.controls(),
        vec![Control {
            id: 9,
            statement: String::new(),
            category: None,
            sub_category: None,
            criticality: None,
            check_type: None,
            comment: None,
            ignore_error: false,
            active: true,
            created: None,
            updated: None,
            remediation: None,
            technologies: Vec::new(),
            frameworks: Vec::new(),
            source: Vec::new(),
        }]
    );
}

#[test]
fn unknown_nested_elements_kept() {
    let body = page_with_controls(
        "<CONTROL><ID>9</ID><CATEGORY><ID>1</ID><NAME>C</NAME><PARENT>0</PARENT></CATEGORY>\
         <TECHNOLOGY_LIST><TECHNOLOGY><ID>45</ID><NAME>W</NAME><EVIDENCE>reg</EVIDENCE>\
         </TECHNOLOGY></TECHNOLOGY_LIST><SCAN_PARAMETERS><PATH>HKLM\\x</PATH>\
         <TYPE>Registry</TYPE></SCAN_PARAMETERS><REMEDIATION>Set it.</REMEDIATION></CONTROL>",
    );

    let (result, host) = run(&body);
    result.unwrap();

    let control = &host.controls()[0];
    assert_eq!(control.remediation.as_deref(), Some("Set it."));
    assert_eq!(
        control.source,
        fields(&[
            ("CATEGORY/PARENT", "0"),
            ("TECHNOLOGY_LIST/TECHNOLOGY/EVIDENCE", "reg"),
            ("SCAN_PARAMETERS/PATH", "HKLM\\x"),
            ("SCAN_PARAMETERS/TYPE", "Registry"),
        ])
    );
}

#[test]
fn repeated_element_kept_as_source() {
    let body = page_with_controls(
        "<CONTROL><ID>9</ID><STATEMENT>first</STATEMENT><STATEMENT>second</STATEMENT></CONTROL>",
    );

    let (result, host) = run(&body);
    result.unwrap();

    let control = &host.controls()[0];
    assert_eq!(control.statement, "first");
    assert_eq!(control.source, fields(&[("STATEMENT", "second")]));
}

#[test]
fn category_without_id_kept_as_source() {
    let body =
        page_with_controls("<CONTROL><ID>9</ID><CATEGORY><NAME>Loose</NAME></CATEGORY></CONTROL>");

    let (result, host) = run(&body);
    result.unwrap();

    let control = &host.controls()[0];
    assert_eq!(control.category, None);
    assert_eq!(control.source, fields(&[("CATEGORY/NAME", "Loose")]));
}

#[test]
fn criticality_mismatch_warned_and_kept() {
    let body = page_with_controls(
        "<CONTROL><ID>9</ID><CRITICALITY><LABEL>URGENT</LABEL><VALUE>2</VALUE></CRITICALITY>\
         </CONTROL><CONTROL><ID>10</ID><CRITICALITY><LABEL>HIGH</LABEL><VALUE>4</VALUE>\
         </CRITICALITY></CONTROL>",
    );

    let (result, host) = run(&body);
    let output = result.unwrap();

    let controls = host.controls();
    assert_eq!(controls[0].criticality, criticality("URGENT", 2));
    assert_eq!(controls[1].criticality, criticality("HIGH", 4));
    assert_eq!(
        output.warnings,
        vec![
            "control 9: criticality label URGENT does not match value 2 (URGENT is 5); kept as \
             sent"
                .to_owned(),
            "control 10: unknown criticality label \"HIGH\" with value 4; kept as sent".to_owned(),
        ]
    );
}

#[test]
fn rate_limit_is_qualys_error() {
    let body = include_bytes!("../../common/tests/fixtures/simple_return_1965.xml");

    let (result, host) = run(body);

    assert_eq!(
        result.unwrap_err(),
        JobError::Qualys(QualysError {
            code: Some(1965),
            text: "This API cannot be run again for another 23 hours, 57 minutes and 54 seconds."
                .to_owned(),
            items: vec![("SECONDS_TO_WAIT".to_owned(), "68928".to_owned())],
        })
    );
    assert!(host.batches.is_empty());
}

#[test]
fn error_document_with_status_400_is_qualys_error() {
    let body = b"<SIMPLE_RETURN><RESPONSE><DATETIME>2026-01-05T09:30:00Z</DATETIME>\
                 <CODE>1905</CODE><TEXT>parameter truncation_limit has invalid value: x</TEXT>\
                 </RESPONSE></SIMPLE_RETURN>";
    let mut host = RecordingHost::default();

    let error = process(&list_request(), 400, &body[..], &mut host).unwrap_err();

    assert_eq!(
        error,
        JobError::Qualys(QualysError {
            code: Some(1905),
            text: "parameter truncation_limit has invalid value: x".to_owned(),
            items: Vec::new(),
        })
    );
}

#[test]
fn generic_return_is_qualys_error() {
    let body = b"<GENERIC_RETURN><RETURN status=\"FAILED\" number=\"999\">Internal error.\
                 </RETURN></GENERIC_RETURN>";

    let (result, _) = run(body);

    assert_eq!(
        result.unwrap_err(),
        JobError::Qualys(QualysError {
            code: Some(999),
            text: "Internal error.".to_owned(),
            items: Vec::new(),
        })
    );
}

#[test]
fn unparseable_pages_are_invalid() {
    assert_eq!(invalid_page_message(200, b""), "empty response body");
    assert_eq!(
        invalid_page_message(404, b"Not Found"),
        "HTTP 404: response body is not XML: it starts with \"Not Found\""
    );
    assert_eq!(
        invalid_page_message(200, b"<POLICY_LIST_OUTPUT/>"),
        "expected root element CONTROL_LIST_OUTPUT, found POLICY_LIST_OUTPUT"
    );
    assert_eq!(
        invalid_page_message(404, PAGE),
        "HTTP 404: a CONTROL_LIST_OUTPUT document came with a status that is not a success"
    );
}

#[test]
fn invalid_values_name_control() {
    let cases = [
        (
            "<CONTROL><STATEMENT>x</STATEMENT></CONTROL>",
            "missing element CONTROL/ID in CONTROL at byte ",
        ),
        (
            "<CONTROL><ID>9</ID><UPDATE_DATE>2026-02-30T00:00:00Z</UPDATE_DATE></CONTROL>",
            "invalid UPDATE_DATE value \"2026-02-30T00:00:00Z\" in CONTROL 9: expected \
             YYYY-MM-DDTHH:MM:SSZ",
        ),
        (
            "<CONTROL><ID>9</ID><IS_ACTIVE>yes</IS_ACTIVE></CONTROL>",
            "invalid IS_ACTIVE value \"yes\" in CONTROL 9: expected 0 or 1",
        ),
        (
            "<CONTROL><ID>9</ID><CATEGORY><ID>x</ID></CATEGORY></CONTROL>",
            "invalid CATEGORY/ID value \"x\" in CONTROL 9: expected an unsigned integer below 2^64",
        ),
        (
            "<CONTROL><ID>9</ID><TECHNOLOGY_LIST><TECHNOLOGY><NAME>W</NAME></TECHNOLOGY>\
             </TECHNOLOGY_LIST></CONTROL>",
            "missing element TECHNOLOGY_LIST/TECHNOLOGY/ID in CONTROL 9",
        ),
        (
            "<CONTROL><ID>9</ID><STATEMENT>a<B/></STATEMENT></CONTROL>",
            "unexpected element B inside STATEMENT in CONTROL 9",
        ),
    ];
    for (controls, start) in cases {
        let message = invalid_page_message(200, &page_with_controls(controls));
        assert!(message.starts_with(start), "{message}");
    }
}

#[test]
fn follow_up_outside_api_rejected() {
    let body = b"<CONTROL_LIST_OUTPUT><RESPONSE><CONTROL_LIST/><WARNING><CODE>1980</CODE>\
                 <TEXT>more</TEXT><URL>https://elsewhere.example/admin/?x=1</URL></WARNING>\
                 </RESPONSE></CONTROL_LIST_OUTPUT>";

    assert_eq!(
        invalid_page_message(200, body),
        "rejected follow-up URL \"https://elsewhere.example/admin/?x=1\": the path must start \
         with /api/"
    );
}

#[test]
fn only_first_warning_followed() {
    let body = b"<CONTROL_LIST_OUTPUT><RESPONSE><CONTROL_LIST/>\
                 <WARNING><TEXT>more</TEXT><URL>/api/5.0/fo/compliance/control/?id_min=10</URL></WARNING>\
                 <WARNING><TEXT>more</TEXT></WARNING>\
                 </RESPONSE></CONTROL_LIST_OUTPUT>";

    let output = run(body).0.unwrap();

    assert_eq!(output.follow_ups.len(), 1);
    assert_eq!(
        output.follow_ups[0].query,
        vec![("id_min".to_owned(), "10".to_owned())]
    );
    assert_eq!(
        output.warnings,
        vec!["ignored 1 WARNING elements after the first one in the control list page".to_owned()]
    );
}

#[test]
fn warning_without_url_is_run_warning() {
    let body = b"<CONTROL_LIST_OUTPUT><RESPONSE><CONTROL_LIST/><WARNING><CODE>1980</CODE>\
                 <TEXT>1000 record limit exceeded.</TEXT></WARNING></RESPONSE></CONTROL_LIST_OUTPUT>";

    let output = run(body).0.unwrap();

    assert!(output.follow_ups.is_empty());
    assert_eq!(
        output.warnings,
        vec![
            "Qualys WARNING 1980: 1000 record limit exceeded. (no URL, so no follow-up request \
             was made)"
                .to_owned()
        ]
    );
}

#[test]
fn one_byte_reads_match_large_reads() {
    let (expected_output, expected_host) = run(PAGE);
    let expected_output = expected_output.unwrap();

    let mut host = RecordingHost::default();
    let body = SmallReads {
        data: PAGE,
        size: 1,
    };
    let output = process(&list_request(), 200, body, &mut host).unwrap();
    assert_eq!(output, expected_output);
    assert_eq!(host.records(), expected_host.records());

    // The same through PageReader, with a page that returns one byte whatever `max` is.
    let mut position = 0;
    let body = PageReader::new(|_max: u32| {
        let chunk = PAGE
            .get(position..position + 1)
            .unwrap_or_default()
            .to_vec();
        position += 1;
        chunk
    });
    let mut host = RecordingHost::default();
    let output = process(&list_request(), 200, body, &mut host).unwrap();
    assert_eq!(output, expected_output);
    assert_eq!(host.records(), expected_host.records());
}

#[test]
fn control_bytes_replaced_and_counted() {
    let body = page_with_controls("<CONTROL><ID>9</ID><STATEMENT>a\u{1}b</STATEMENT></CONTROL>");

    let (result, host) = run(&body);
    let output = result.unwrap();

    assert_eq!(host.controls()[0].statement, "a\u{FFFD}b");
    assert_eq!(
        output.warnings,
        vec![
            "replaced 1 characters that XML 1.0 does not allow with U+FFFD in the control list \
             page"
                .to_owned()
        ]
    );
}

#[test]
fn damaged_pages_do_not_panic() {
    // Every prefix of the page, as a stream cut at any byte would deliver it.
    for cut in 0..PAGE.len() {
        let _ = run(&PAGE[..cut]);
    }

    // Every byte overwritten with markup and invalid bytes, one position at a time.
    for position in 0..PAGE.len() {
        for replacement in [b'<', b'>', b'&', b'/', b']', 0x00, 0xFF, 0xC3] {
            let mut body = PAGE.to_vec();
            body[position] = replacement;
            let _ = run(&body);
        }
    }
}
