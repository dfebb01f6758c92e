//! `process` on realistic, failed and damaged policy export pages.

mod support;

use pc_policy_details::{PolicyTest, process};
use pcsync_component_common::{
    AuthSrc, Citation, Criticality, JobError, LogLevel, PageReader, ProcessOutput, QualysError,
    SourceField, Technology,
};
use support::{RecordingHost, SmallReads, export_page, export_request};

const WINDOWS_EXPORT: &[u8] = include_bytes!("fixtures/export_windows.xml");

/// What Qualys sends with HTTP 400 for a policy id it does not know.
const ERROR_1905: &[u8] = include_bytes!("fixtures/export_error_1905.xml");

/// The policy the Windows export is requested for.
const WINDOWS_POLICY: u64 = 2001;

fn run(
    policy_id: u64,
    status: u16,
    body: &[u8],
) -> (Result<ProcessOutput, JobError>, RecordingHost) {
    let mut host = RecordingHost::default();
    let result = process(&export_request(policy_id), status, body, &mut host);
    (result, host)
}

fn invalid_page_message(policy_id: u64, status: u16, body: &[u8]) -> String {
    match run(policy_id, status, body).0 {
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

/// Returns one CONTROL with the given ID and criticality, and nothing else.
fn control(id: u64, label: &str, value: &str) -> String {
    format!(
        "<CONTROL><ID>{id}</ID><CRITICALITY><LABEL><![CDATA[{label}]]></LABEL>\
         <VALUE>{value}</VALUE></CRITICALITY></CONTROL>"
    )
}

/// Returns an export whose POLICY has one section containing `controls`.
fn one_section(controls: &str) -> Vec<u8> {
    export_page(&format!(
        "<TITLE><![CDATA[Test]]></TITLE><SECTIONS total=\"1\"><SECTION><NUMBER>1</NUMBER>\
         <HEADING><![CDATA[Only]]></HEADING><CONTROLS>{controls}</CONTROLS></SECTION>\
         </SECTIONS>"
    ))
}

#[test]
fn export_links_every_control() {
    let (result, host) = run(WINDOWS_POLICY, 200, WINDOWS_EXPORT);
    result.unwrap();

    let links = host.policy_tests();
    assert_eq!(links.len(), 3);
    assert_eq!(
        links[0],
        PolicyTest {
            policy_id: WINDOWS_POLICY,
            control_id: 1071,
            section_number: Some("1".to_owned()),
            section_heading: Some("Account Policies".to_owned()),
            criticality: criticality("SERIOUS", 3),
            position: 0,
            source: fields(&[
                (
                    "STATEMENT",
                    "Status of the 'Minimum password length' setting"
                ),
                ("TECHNOLOGIES/TECHNOLOGY/ID", "45"),
                ("TECHNOLOGIES/TECHNOLOGY/NAME", "Windows Server 2019"),
                (
                    "TECHNOLOGIES/TECHNOLOGY/RATIONALE",
                    "Short passwords are easy to guess."
                ),
            ]),
        }
    );
    assert_eq!(links[1].control_id, 1072);
    assert_eq!(links[1].position, 1);
    assert_eq!(links[1].criticality, criticality("MEDIUM", 2));
    assert_eq!(links[2].control_id, 100245);
    assert_eq!(links[2].section_number.as_deref(), Some("2"));
    assert_eq!(links[2].section_heading.as_deref(), Some("Local Policies"));
    assert_eq!(links[2].position, 2);
}

#[test]
fn heading_cdata_whitespace_trimmed() {
    let body = export_page(
        "<SECTIONS><SECTION><NUMBER> 3.1 </NUMBER><HEADING>\n   <![CDATA[\n\t  Audit &amp; \
         Accountability  \n ]]>\n</HEADING><CONTROLS><CONTROL><ID>5</ID></CONTROL></CONTROLS>\
         </SECTION></SECTIONS>",
    );

    let (result, host) = run(9, 200, &body);
    result.unwrap();

    let link = &host.policy_tests()[0];
    assert_eq!(link.section_number.as_deref(), Some("3.1"));
    // CDATA content is not unescaped: `&amp;` stays as written.
    assert_eq!(
        link.section_heading.as_deref(),
        Some("Audit &amp; Accountability")
    );
}

#[test]
fn blank_section_parts_are_none() {
    let body = export_page(
        "<SECTIONS><SECTION><NUMBER/><HEADING><![CDATA[   ]]></HEADING><CONTROLS>\
         <CONTROL><ID>5</ID></CONTROL></CONTROLS></SECTION></SECTIONS>",
    );

    let (result, host) = run(9, 200, &body);
    result.unwrap();

    let link = &host.policy_tests()[0];
    assert_eq!(link.section_number, None);
    assert_eq!(link.section_heading, None);
    assert_eq!(link.criticality, None);
    assert!(link.source.is_empty());
}

#[test]
fn technologies_emitted_once() {
    let (result, host) = run(WINDOWS_POLICY, 200, WINDOWS_EXPORT);
    result.unwrap();

    assert_eq!(
        host.technologies(),
        vec![
            Technology {
                id: 45,
                name: "Windows Server 2019".to_owned(),
                source: Vec::new(),
            },
            Technology {
                id: 46,
                name: "Windows Server 2022".to_owned(),
                source: Vec::new(),
            },
        ]
    );
}

#[test]
fn frameworks_and_citations() {
    let (result, host) = run(WINDOWS_POLICY, 200, WINDOWS_EXPORT);
    result.unwrap();

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
        .map(|citation: Citation| {
            assert!(citation.source.is_empty());
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
            (1, 1072, "5.2".to_owned()),
        ]
    );
}

#[test]
fn user_defined_control_flag_kept() {
    let (result, host) = run(WINDOWS_POLICY, 200, WINDOWS_EXPORT);
    result.unwrap();

    let link = &host.policy_tests()[2];
    assert_eq!(link.control_id, 100245);
    assert_eq!(link.criticality, criticality("MINIMAL", 1));
    assert_eq!(
        link.source,
        fields(&[
            ("STATEMENT", "Status of the corporate screen saver script"),
            ("TECHNOLOGIES/TECHNOLOGY/ID", "45"),
            ("TECHNOLOGIES/TECHNOLOGY/NAME", "Windows Server 2019"),
            (
                "TECHNOLOGIES/TECHNOLOGY/RATIONALE",
                "Required by the internal desktop standard."
            ),
            ("USER_DEFINED", "1"),
        ])
    );
}

#[test]
fn unknown_control_element_kept() {
    let (result, host) = run(WINDOWS_POLICY, 200, WINDOWS_EXPORT);
    result.unwrap();

    let link = &host.policy_tests()[1];
    assert_eq!(
        link.source,
        fields(&[
            ("STATEMENT", "Status of the 'Maximum password age' setting"),
            ("TECHNOLOGIES/TECHNOLOGY/ID", "45"),
            ("TECHNOLOGIES/TECHNOLOGY/NAME", "Windows Server 2019"),
            (
                "TECHNOLOGIES/TECHNOLOGY/RATIONALE",
                "Old passwords may have leaked."
            ),
            ("TECHNOLOGIES/TECHNOLOGY/ID", "46"),
            ("TECHNOLOGIES/TECHNOLOGY/NAME", "Windows Server 2022"),
            ("DEPRECATED_SINCE", "2025-11-01"),
        ])
    );
}

#[test]
fn unknown_section_element_kept_on_its_controls() {
    let body = export_page(
        "<SECTIONS><SECTION><NUMBER>4</NUMBER><HEADING>H</HEADING>\
         <DESCRIPTION kind=\"note\">Section text</DESCRIPTION>\
         <CONTROLS><CONTROL><ID>5</ID></CONTROL><CONTROL><ID>6</ID></CONTROL></CONTROLS>\
         <FOOTER>after the controls</FOOTER></SECTION></SECTIONS>",
    );

    let (result, host) = run(9, 200, &body);
    result.unwrap();

    let expected = fields(&[
        ("SECTION/DESCRIPTION/@kind", "note"),
        ("SECTION/DESCRIPTION", "Section text"),
    ]);
    for link in host.policy_tests() {
        assert_eq!(link.source, expected, "control {}", link.control_id);
    }
    let summary = &host.logs.last().unwrap().1;
    assert!(summary.ends_with("skipped elements FOOTER"), "{summary}");
}

#[test]
fn unknown_policy_technology_child_kept() {
    let body = export_page(
        "<TECHNOLOGIES><TECHNOLOGY><ID>45</ID><NAME>W</NAME><VERSION>2019</VERSION>\
         </TECHNOLOGY></TECHNOLOGIES>",
    );

    let (result, host) = run(9, 200, &body);
    result.unwrap();

    assert_eq!(
        host.technologies(),
        vec![Technology {
            id: 45,
            name: "W".to_owned(),
            source: fields(&[("TECHNOLOGY/VERSION", "2019")]),
        }]
    );
}

#[test]
fn successful_export_completes_policy() {
    let (result, host) = run(WINDOWS_POLICY, 200, WINDOWS_EXPORT);
    let output = result.unwrap();

    assert_eq!(output.complete_policies, vec![WINDOWS_POLICY]);
    assert!(output.follow_ups.is_empty());
    assert!(output.warnings.is_empty(), "{:?}", output.warnings);
    assert_eq!(
        output.response_datetime.as_deref(),
        Some("2026-01-05T08:00:00Z")
    );
    assert_eq!(host.batches.len(), 1);
    let (level, summary) = host.logs.last().unwrap();
    assert_eq!(*level, LogLevel::Debug);
    assert!(
        summary.starts_with(
            "export of policy 2001 \"Windows Server 2019 Baseline\": 3 controls in 2 sections, \
             2 technologies, 2 frameworks, 4 citations, in 1 batches"
        ),
        "{summary}"
    );
    assert!(summary.ends_with("skipped elements EXPORTED"), "{summary}");
}

#[test]
fn shared_control_keeps_each_criticality() {
    let other_export = export_page(&format!(
        "<TITLE>Strict baseline</TITLE><SECTIONS><SECTION><NUMBER>7</NUMBER>\
         <HEADING>Passwords</HEADING><CONTROLS>{}{}</CONTROLS></SECTION></SECTIONS>",
        control(2300, "URGENT", "5"),
        control(1071, "CRITICAL", "4"),
    ));
    let mut host = RecordingHost::default();

    let first = process(
        &export_request(WINDOWS_POLICY),
        200,
        WINDOWS_EXPORT,
        &mut host,
    )
    .unwrap();
    let second = process(&export_request(2002), 200, &other_export[..], &mut host).unwrap();

    let links: Vec<PolicyTest> = host
        .policy_tests()
        .into_iter()
        .filter(|link| link.control_id == 1071)
        .collect();
    assert_eq!(links.len(), 2);
    assert_eq!(links[0].policy_id, WINDOWS_POLICY);
    assert_eq!(links[0].criticality, criticality("SERIOUS", 3));
    assert_eq!(links[0].position, 0);
    assert_eq!(links[1].policy_id, 2002);
    assert_eq!(links[1].criticality, criticality("CRITICAL", 4));
    assert_eq!(links[1].position, 1);
    assert_eq!(links[1].section_heading.as_deref(), Some("Passwords"));
    assert_eq!(first.complete_policies, vec![WINDOWS_POLICY]);
    assert_eq!(second.complete_policies, vec![2002]);
}

#[test]
fn export_error_is_warning_without_records() {
    let (result, host) = run(123, 400, ERROR_1905);

    let output = result.unwrap();
    assert_eq!(
        output.warnings,
        vec![
            "policy 123: export failed: Qualys error 1905: Policy ID 123 does not exist."
                .to_owned()
        ]
    );
    assert!(output.complete_policies.is_empty());
    assert!(output.follow_ups.is_empty());
    assert!(host.batches.is_empty());
    assert_eq!(
        host.logs,
        vec![(
            LogLevel::Warn,
            "policy 123: export failed: Qualys error 1905: Policy ID 123 does not exist."
                .to_owned()
        )]
    );
}

#[test]
fn export_error_with_status_200_is_warning() {
    let (result, host) = run(123, 200, ERROR_1905);

    assert_eq!(result.unwrap().warnings.len(), 1);
    assert!(host.batches.is_empty());
}

#[test]
fn generic_return_is_warning() {
    let body = b"<GENERIC_RETURN><API name=\"compliance policy export\" username=\"acme_as\" \
                 at=\"2026-01-05T08:00:00Z\"/><RETURN status=\"FAILED\" number=\"999\">\
                 Internal error. Please contact customer support.</RETURN></GENERIC_RETURN>";

    let (result, host) = run(55, 200, body);

    let output = result.unwrap();
    assert_eq!(
        output.warnings,
        vec![
            "policy 55: export failed: Qualys error 999: Internal error. Please contact \
             customer support."
                .to_owned()
        ]
    );
    assert!(output.complete_policies.is_empty());
    assert!(host.batches.is_empty());
}

#[test]
fn error_items_in_warning() {
    let body = b"<SIMPLE_RETURN><RESPONSE><DATETIME>2026-01-05T08:00:00Z</DATETIME>\
                 <TEXT>Export failed.</TEXT><CODE>X7</CODE><ITEM_LIST><ITEM><KEY>ID</KEY>\
                 <VALUE>55</VALUE></ITEM></ITEM_LIST></RESPONSE></SIMPLE_RETURN>";

    let output = run(55, 400, body).0.unwrap();

    assert_eq!(
        output.warnings,
        vec!["policy 55: export failed: Qualys error: Export failed. (CODE=X7, ID=55)".to_owned()]
    );
}

#[test]
fn rate_limit_fails_run() {
    let body = b"<SIMPLE_RETURN><RESPONSE><DATETIME>2026-01-05T08:00:00Z</DATETIME>\
                 <CODE>1965</CODE><TEXT>This API cannot be run again for another 10 seconds.\
                 </TEXT><ITEM_LIST><ITEM><KEY>SECONDS_TO_WAIT</KEY><VALUE>10</VALUE></ITEM>\
                 </ITEM_LIST></RESPONSE></SIMPLE_RETURN>";

    let (result, host) = run(55, 200, body);

    assert_eq!(
        result.unwrap_err(),
        JobError::Qualys(QualysError {
            code: Some(1965),
            text: "This API cannot be run again for another 10 seconds.".to_owned(),
            items: vec![("SECONDS_TO_WAIT".to_owned(), "10".to_owned())],
        })
    );
    assert!(host.batches.is_empty());
}

#[test]
fn criticality_mismatch_warned_and_kept() {
    let body = one_section(&format!(
        "{}{}{}",
        control(5, "SERIOUS", "4"),
        control(6, "SEVERE", "2"),
        control(7, "URGENT", "5"),
    ));

    let (result, host) = run(9, 200, &body);
    let output = result.unwrap();

    let links = host.policy_tests();
    assert_eq!(links[0].criticality, criticality("SERIOUS", 4));
    assert_eq!(links[1].criticality, criticality("SEVERE", 2));
    assert_eq!(links[2].criticality, criticality("URGENT", 5));
    assert_eq!(
        output.warnings,
        vec![
            "policy 9: control 5: criticality label SERIOUS does not match value 4 (SERIOUS is \
             3); kept as sent"
                .to_owned(),
            "policy 9: control 6: unknown criticality label \"SEVERE\" with value 2; kept as sent"
                .to_owned(),
        ]
    );
    assert_eq!(output.complete_policies, vec![9]);
}

#[test]
fn criticality_warnings_limited() {
    let controls: String = (1..=50).map(|id| control(id, "SERIOUS", "1")).collect();
    let body = one_section(&controls);

    let output = run(9, 200, &body).0.unwrap();

    assert_eq!(output.warnings.len(), 21);
    assert_eq!(
        output.warnings[20],
        "30 more warnings like these about criticality in the export of policy 9"
    );
}

#[test]
fn unusable_criticality_kept_as_source() {
    let body = one_section(&control(5, "SEVERE", "high"));

    let (result, host) = run(9, 200, &body);
    let output = result.unwrap();

    let link = &host.policy_tests()[0];
    assert_eq!(link.criticality, None);
    assert_eq!(
        link.source,
        fields(&[
            ("CRITICALITY/LABEL", "SEVERE"),
            ("CRITICALITY/VALUE", "high")
        ])
    );
    assert_eq!(output.warnings.len(), 1);
}

#[test]
fn repeated_control_warned() {
    let body = one_section(&format!(
        "{}{}",
        control(5, "MEDIUM", "2"),
        control(5, "MEDIUM", "2")
    ));

    let (result, host) = run(9, 200, &body);
    let output = result.unwrap();

    assert_eq!(host.policy_tests().len(), 2);
    assert_eq!(
        output.warnings,
        vec![
            "policy 9: control 5 appears more than once in the export; the link keeps its last \
             section and position 1"
                .to_owned()
        ]
    );
}

#[test]
fn one_byte_reads_match_large_reads() {
    let (expected_output, expected_host) = run(WINDOWS_POLICY, 200, WINDOWS_EXPORT);
    let expected_output = expected_output.unwrap();

    let mut host = RecordingHost::default();
    let body = SmallReads {
        data: WINDOWS_EXPORT,
        size: 1,
    };
    let output = process(&export_request(WINDOWS_POLICY), 200, body, &mut host).unwrap();
    assert_eq!(output, expected_output);
    assert_eq!(host.records(), expected_host.records());

    // The same through PageReader, with a page that returns one byte whatever `max` is.
    let mut position = 0;
    let body = PageReader::new(|_max: u32| {
        let chunk = WINDOWS_EXPORT
            .get(position..position + 1)
            .unwrap_or_default()
            .to_vec();
        position += 1;
        chunk
    });
    let mut host = RecordingHost::default();
    let output = process(&export_request(WINDOWS_POLICY), 200, body, &mut host).unwrap();
    assert_eq!(output, expected_output);
    assert_eq!(host.records(), expected_host.records());
}

#[test]
fn tag_not_policy_id_is_invalid_page() {
    let mut request = export_request(1);
    request.tag = "first page".to_owned();

    let error = process(&request, 200, WINDOWS_EXPORT, &mut RecordingHost::default()).unwrap_err();

    assert_eq!(
        error,
        JobError::InvalidPage(
            "request tag \"first page\" is not a policy id, so the export cannot be matched to \
             a policy"
                .to_owned()
        )
    );
}

#[test]
fn unparseable_pages_name_policy() {
    assert_eq!(
        invalid_page_message(77, 200, b""),
        "export of policy 77: empty response body"
    );
    assert_eq!(
        invalid_page_message(77, 404, b"<html><body>Not Found</body></html>"),
        "export of policy 77 (HTTP 404): expected root element POLICY_EXPORT_OUTPUT, found html"
    );
    let policy_end = WINDOWS_EXPORT
        .windows(9)
        .position(|window| window == b"</POLICY>")
        .unwrap();
    assert_eq!(
        invalid_page_message(77, 200, &WINDOWS_EXPORT[..policy_end]),
        "export of policy 77: response body ended inside element POLICY"
    );
}

#[test]
fn export_with_error_status_is_invalid_page() {
    assert_eq!(
        invalid_page_message(77, 404, WINDOWS_EXPORT),
        "export of policy 77 (HTTP 404): a POLICY_EXPORT_OUTPUT document came with a status \
         that is not a success"
    );
}

#[test]
fn success_document_is_invalid_page() {
    let body = b"<SIMPLE_RETURN><RESPONSE><DATETIME>2026-01-05T08:00:00Z</DATETIME>\
                 <TEXT>Done</TEXT></RESPONSE></SIMPLE_RETURN>";

    assert_eq!(
        invalid_page_message(77, 200, body),
        "export of policy 77: expected root element POLICY_EXPORT_OUTPUT, found a SIMPLE_RETURN \
         success document: Done"
    );
}

#[test]
fn control_errors_name_control() {
    let cases = [
        (
            "<CONTROL><STATEMENT>no id</STATEMENT></CONTROL>",
            "export of policy 77: missing element CONTROL/ID in CONTROL at byte ",
        ),
        (
            "<CONTROL><ID>5</ID><TECHNOLOGIES><TECHNOLOGY><NAME>x</NAME></TECHNOLOGY>\
             </TECHNOLOGIES></CONTROL>",
            "export of policy 77: missing element TECHNOLOGIES/TECHNOLOGY/ID in CONTROL 5",
        ),
        (
            "<CONTROL><ID>5</ID><FRAMEWORK_LIST><FRAMEWORK><ID>one</ID></FRAMEWORK>\
             </FRAMEWORK_LIST></CONTROL>",
            "export of policy 77: invalid FRAMEWORK_LIST/FRAMEWORK/ID value \"one\" in CONTROL 5",
        ),
    ];
    for (controls, start) in cases {
        let message = invalid_page_message(77, 200, &one_section(controls));
        assert!(message.starts_with(start), "{message}");
    }
}

#[test]
fn export_without_policy_not_completed() {
    let body = b"<POLICY_EXPORT_OUTPUT><RESPONSE><DATETIME>2026-01-05T08:00:00Z</DATETIME>\
                 </RESPONSE></POLICY_EXPORT_OUTPUT>";

    let output = run(77, 200, body).0.unwrap();

    assert!(output.complete_policies.is_empty());
    assert_eq!(
        output.warnings,
        vec![
            "policy 77: the export has no POLICY element; its stored control links are left as \
             they were"
                .to_owned()
        ]
    );
}

#[test]
fn empty_policy_completed_without_links() {
    let body = export_page("<TITLE>Empty</TITLE><SECTIONS total=\"0\"/>");

    let (result, host) = run(77, 200, &body);

    assert_eq!(result.unwrap().complete_policies, vec![77]);
    assert!(host.batches.is_empty());
}

#[test]
fn appendix_skipped() {
    let body = export_page(
        "<TITLE>T</TITLE><SECTIONS><SECTION><NUMBER>1</NUMBER><CONTROLS>\
         <CONTROL><ID>5</ID></CONTROL></CONTROLS></SECTION></SECTIONS>\
         <APPENDIX><![CDATA[Long appendix text]]></APPENDIX>",
    );

    let (result, host) = run(77, 200, &body);
    result.unwrap();

    assert_eq!(host.policy_tests().len(), 1);
    let summary = &host.logs.last().unwrap().1;
    assert!(summary.ends_with("skipped elements APPENDIX"), "{summary}");
}

#[test]
fn damaged_pages_do_not_panic() {
    // Every prefix of the page, as a stream cut at any byte would deliver it.
    for cut in 0..WINDOWS_EXPORT.len() {
        let _ = run(WINDOWS_POLICY, 200, &WINDOWS_EXPORT[..cut]);
    }

    // Every byte overwritten with markup and invalid bytes, one position at a time.
    for position in 0..WINDOWS_EXPORT.len() {
        for replacement in [b'<', b'>', b'&', b'/', b']', 0x00, 0xFF, 0xC3] {
            let mut body = WINDOWS_EXPORT.to_vec();
            body[position] = replacement;
            let _ = run(WINDOWS_POLICY, 200, &body);
        }
    }
}
