//! `process` on realistic, erroneous and damaged policy list pages.

mod support;

use pc_policies::{Policy, Stamp, process};
use pcsync_component_common::{
    Api, JobError, LogLevel, Method, PageReader, ProcessOutput, QualysError, SourceField,
};
use support::{RecordingHost, SmallReads, list_request};

const PAGE: &[u8] = include_bytes!("fixtures/policy_list_page.xml");

/// A real Qualys 409 rate-limit body (code 1965), with the spaces Qualys puts inside DATETIME
/// and TEXT. The common crate keeps it as a fixture so the tests need no file outside the
/// repository.
const RATE_LIMIT_1965: &[u8] = include_bytes!("../../common/tests/fixtures/simple_return_1965.xml");

fn run(body: &[u8]) -> (Result<ProcessOutput, JobError>, RecordingHost) {
    let mut host = RecordingHost::default();
    let result = process(&list_request(), body, &mut host);
    (result, host)
}

fn invalid_page_message(body: &[u8]) -> String {
    match run(body).0 {
        Err(JobError::InvalidPage(message)) => message,
        other => panic!("expected an invalid page, got {other:?}"),
    }
}

fn fields(list: &[(&str, &str)]) -> Vec<SourceField> {
    list.iter()
        .map(|(name, value)| SourceField::new(*name, *value))
        .collect()
}

/// Builds a minimal page with the given POLICY_LIST content.
fn page_with_policies(policies: &str) -> Vec<u8> {
    format!(
        "<POLICY_LIST_OUTPUT><RESPONSE><DATETIME>2024-05-14T09:12:45Z</DATETIME>\
         <POLICY_LIST>{policies}</POLICY_LIST></RESPONSE></POLICY_LIST_OUTPUT>"
    )
    .into_bytes()
}

#[test]
fn realistic_page_policies() {
    let (result, host) = run(PAGE);
    result.unwrap();

    let policies = host.policies();
    assert_eq!(policies.len(), 2);
    assert_eq!(
        policies[0],
        Policy {
            id: 1063409,
            title:
                "CIS Benchmark for Microsoft Windows Server 2019, v2.0.0 [Level 1 Member Server]"
                    .to_owned(),
            created: Stamp {
                datetime: Some("2022-03-01T10:15:00Z".to_owned()),
                by: Some("acme_as".to_owned()),
            },
            last_modified: Stamp {
                datetime: Some("2024-04-30T18:02:11Z".to_owned()),
                by: Some("acme_jd".to_owned()),
            },
            last_evaluated: Some("2024-05-13T23:40:05Z".to_owned()),
            status: "active".to_owned(),
            locked: false,
            technology_ids: Vec::new(),
            source: fields(&[
                ("ASSET_GROUP_IDS", "412983,412990"),
                ("TAG_SET_INCLUDE/TAG_ITEM_ID", "7741102"),
                ("TAG_SET_INCLUDE/TAG_ITEM_ID", "7741103"),
                ("TAG_INCLUDE_SELECTOR", "ANY"),
                ("INCLUDE_AGENT_IPS", "1"),
            ]),
        }
    );
}

#[test]
fn never_evaluated_policy_emitted() {
    let (result, host) = run(PAGE);
    result.unwrap();

    let policy = &host.policies()[1];
    assert_eq!(policy.id, 1071522);
    assert_eq!(
        policy.title,
        "Linux Server Hardening &amp; Baseline  (copy)"
    );
    assert_eq!(policy.last_evaluated, None);
    assert_eq!(policy.last_modified.by, None);
    assert_eq!(policy.status, "inactive");
    assert!(policy.locked);
    assert_eq!(
        policy.source,
        fields(&[
            ("CONTROL_LIST/CONTROL/ID", "1071"),
            (
                "CONTROL_LIST/CONTROL/STATEMENT",
                "Status of the 'Minimum password length' setting"
            ),
            ("CONTROL_LIST/CONTROL/CRITICALITY/LABEL", "SERIOUS"),
            ("CONTROL_LIST/CONTROL/CRITICALITY/VALUE", "3"),
            ("CONTROL_LIST/CONTROL/ID", "2218"),
            (
                "CONTROL_LIST/CONTROL/STATEMENT",
                "Status of the 'sshd' PermitRootLogin setting"
            ),
        ])
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
    assert_eq!(follow_up.path, "/api/5.0/fo/compliance/policy/");
    assert_eq!(
        follow_up.query,
        vec![
            ("action".to_owned(), "list".to_owned()),
            ("details".to_owned(), "Basic".to_owned()),
            ("id_min".to_owned(), "1071523".to_owned()),
        ]
    );
    assert_eq!(follow_up.body, None);
    assert!(!follow_up.gzip);
    assert_eq!(follow_up.tag, "first page");
}

#[test]
fn page_metadata_and_summary() {
    let (result, host) = run(PAGE);
    let output = result.unwrap();

    assert_eq!(
        output.response_datetime.as_deref(),
        Some("2024-05-14T09:12:45Z")
    );
    assert!(output.warnings.is_empty(), "{:?}", output.warnings);
    assert_eq!(host.batches.len(), 1);
    assert_eq!(host.logs.len(), 1);
    assert_eq!(host.logs[0].0, LogLevel::Debug);
    assert!(
        host.logs[0]
            .1
            .starts_with("policy list page: 2 policies in 1 batches"),
        "{}",
        host.logs[0].1
    );
}

#[test]
fn rate_limit_sample_is_qualys_error() {
    let (result, host) = run(RATE_LIMIT_1965);

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
fn generic_return_is_qualys_error() {
    let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n\
        <!DOCTYPE GENERIC_RETURN SYSTEM \"https://qualysapi.qualys.com/generic_return.dtd\">\n\
        <GENERIC_RETURN>\n  <API name=\"compliance policy list\" username=\"acme_as\" at=\"2024-05-14T09:12:45Z\" />\n  \
        <RETURN status=\"FAILED\" number=\"999\">Internal error. Please contact customer support.</RETURN>\n\
        </GENERIC_RETURN>\n";

    let (result, _) = run(body);

    assert_eq!(
        result.unwrap_err(),
        JobError::Qualys(QualysError {
            code: Some(999),
            text: "Internal error. Please contact customer support.".to_owned(),
            items: Vec::new(),
        })
    );
}

#[test]
fn success_document_is_invalid_page() {
    let body = b"<SIMPLE_RETURN><RESPONSE><DATETIME>2024-05-14T09:12:45Z</DATETIME>\
                 <TEXT>Done</TEXT></RESPONSE></SIMPLE_RETURN>";

    assert_eq!(
        invalid_page_message(body),
        "expected root element POLICY_LIST_OUTPUT, found a SIMPLE_RETURN success document: Done"
    );
}

#[test]
fn empty_body_is_invalid_page() {
    for body in [&b""[..], b"\n   \r\n"] {
        assert_eq!(invalid_page_message(body), "empty response body");
    }
}

#[test]
fn other_root_is_invalid_page() {
    assert_eq!(
        invalid_page_message(b"<CONTROL_LIST_OUTPUT><RESPONSE/></CONTROL_LIST_OUTPUT>"),
        "expected root element POLICY_LIST_OUTPUT, found CONTROL_LIST_OUTPUT"
    );
    assert_eq!(
        invalid_page_message(b"502 Bad Gateway"),
        "response body is not XML: it starts with \"502 Bad Gateway\""
    );
}

#[test]
fn control_bytes_in_title_replaced() {
    let mut body = page_with_policies(
        "<POLICY><ID>7</ID><TITLE><![CDATA[ Bad\u{1}Title\u{B} ]]></TITLE>\
         <STATUS>active</STATUS><IS_LOCKED>0</IS_LOCKED></POLICY>",
    );
    // A Latin-1 byte, which is not UTF-8, in the same title.
    let position = body
        .windows(5)
        .position(|window| window == b"Title")
        .unwrap();
    body.insert(position, 0xE9);

    let (result, host) = run(&body);
    let output = result.unwrap();

    assert_eq!(host.policies()[0].title, "Bad\u{FFFD}\u{FFFD}Title\u{FFFD}");
    assert_eq!(
        output.warnings,
        vec![
            "replaced 3 characters that XML 1.0 does not allow with U+FFFD in the policy list page"
                .to_owned()
        ]
    );
}

#[test]
fn one_byte_reads_match_large_reads() {
    let (expected_output, expected_host) = run(PAGE);
    let expected_output = expected_output.unwrap();

    let mut host = RecordingHost::default();
    let output = process(
        &list_request(),
        SmallReads {
            data: PAGE,
            size: 1,
        },
        &mut host,
    )
    .unwrap();
    assert_eq!(output, expected_output);
    assert_eq!(host.policies(), expected_host.policies());

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
    let output = process(&list_request(), body, &mut host).unwrap();
    assert_eq!(output, expected_output);
    assert_eq!(host.policies(), expected_host.policies());
}

#[test]
fn split_multibyte_characters_kept() {
    let body = page_with_policies(
        "<POLICY><ID>8</ID><TITLE>Contr\u{F4}le d\u{2019}acc\u{E8}s \u{1F512}</TITLE></POLICY>",
    );

    for size in 1..8 {
        let mut host = RecordingHost::default();
        let output = process(&list_request(), SmallReads { data: &body, size }, &mut host).unwrap();
        assert_eq!(
            host.policies()[0].title,
            "Contr\u{F4}le d\u{2019}acc\u{E8}s \u{1F512}"
        );
        assert!(output.warnings.is_empty(), "reads of {size} bytes");
    }
}

#[test]
fn policy_without_id_is_invalid_page() {
    let body = page_with_policies("<POLICY><TITLE>No id</TITLE></POLICY>");

    let message = invalid_page_message(&body);

    assert!(
        message.starts_with("missing element POLICY/ID in POLICY at byte "),
        "{message}"
    );
}

#[test]
fn invalid_id_is_invalid_page() {
    let body = page_with_policies("<POLICY><ID> 12x </ID></POLICY>");

    let message = invalid_page_message(&body);

    assert!(
        message.starts_with("invalid POLICY/ID value \"12x\" in POLICY at byte "),
        "{message}"
    );
    assert!(
        message.ends_with(": expected an unsigned integer below 2^64"),
        "{message}"
    );
}

#[test]
fn invalid_datetime_names_policy() {
    let body = page_with_policies(
        "<POLICY><ID>42</ID><LAST_EVALUATED><DATETIME>2024-02-30T00:00:00Z</DATETIME></LAST_EVALUATED></POLICY>",
    );

    assert_eq!(
        invalid_page_message(&body),
        "invalid LAST_EVALUATED/DATETIME value \"2024-02-30T00:00:00Z\" in POLICY 42: \
         expected YYYY-MM-DDTHH:MM:SSZ"
    );
}

#[test]
fn invalid_lock_flag_names_policy() {
    let body = page_with_policies("<POLICY><ID>42</ID><IS_LOCKED>yes</IS_LOCKED></POLICY>");

    assert_eq!(
        invalid_page_message(&body),
        "invalid IS_LOCKED value \"yes\" in POLICY 42: expected 0 or 1"
    );
}

#[test]
fn element_inside_title_names_policy() {
    let body = page_with_policies("<POLICY><ID>42</ID><TITLE>a<B>b</B></TITLE></POLICY>");

    assert_eq!(
        invalid_page_message(&body),
        "unexpected element B inside TITLE in POLICY 42"
    );
}

#[test]
fn follow_up_outside_api_rejected() {
    let body = b"<POLICY_LIST_OUTPUT><RESPONSE><POLICY_LIST/><WARNING><CODE>1980</CODE>\
                 <TEXT>more</TEXT><URL>https://elsewhere.example/admin/?x=1</URL></WARNING>\
                 </RESPONSE></POLICY_LIST_OUTPUT>";

    assert_eq!(
        invalid_page_message(body),
        "rejected follow-up URL \"https://elsewhere.example/admin/?x=1\": the path must start \
         with /api/"
    );
}

#[test]
fn warning_without_url_is_run_warning() {
    let body = b"<POLICY_LIST_OUTPUT><RESPONSE><POLICY_LIST/><WARNING><CODE>1980</CODE>\
                 <TEXT>1000 record limit exceeded.</TEXT></WARNING></RESPONSE></POLICY_LIST_OUTPUT>";

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
fn only_first_warning_followed() {
    let body = b"<POLICY_LIST_OUTPUT><RESPONSE><POLICY_LIST/>\
                 <WARNING><TEXT>more</TEXT><URL>https://a.example/api/5.0/fo/x/?id_min=10</URL></WARNING>\
                 <WARNING><TEXT>more</TEXT><URL>https://a.example/api/5.0/fo/x/?id_min=20</URL></WARNING>\
                 <WARNING><TEXT>more</TEXT></WARNING>\
                 </RESPONSE></POLICY_LIST_OUTPUT>";

    let output = run(body).0.unwrap();

    assert_eq!(output.follow_ups.len(), 1);
    assert_eq!(
        output.follow_ups[0].query,
        vec![("id_min".to_owned(), "10".to_owned())]
    );
    assert_eq!(
        output.warnings,
        vec!["ignored 2 WARNING elements after the first one in the policy list page".to_owned()]
    );
}

#[test]
fn truncated_page_is_invalid_page() {
    let cut = PAGE.len() - 60;

    let (result, _) = run(&PAGE[..cut]);

    assert!(
        matches!(result, Err(JobError::InvalidPage(_))),
        "{result:?}"
    );
}

#[test]
fn empty_policy_list() {
    let body = page_with_policies("");

    let (result, host) = run(&body);

    assert_eq!(
        result.unwrap().response_datetime.as_deref(),
        Some("2024-05-14T09:12:45Z")
    );
    assert!(host.batches.is_empty());
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
