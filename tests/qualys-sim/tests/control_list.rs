//! The classic control list over HTTP: document shape, details levels, versions, filters,
//! paging, faults and data set changes.

mod common;

use common::{
    CONTROL_PATH, Element, child_names, control_ids, control_list, export, export_controls, get,
    start, start_default,
};
use qualys_sim::{Control, Dataset, Endpoint, Fault, FaultRule, SimConfig, WARNING_URL_ORIGIN};

/// Returns the CONTROL elements of a control list document.
fn control_elements(root: &Element) -> Vec<Element> {
    root.at("RESPONSE/CONTROL_LIST")
        .map(|list| {
            list.children_named("CONTROL")
                .into_iter()
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Returns the child names that a Basic CONTROL element has in API 5.0.
fn basic_names(control: &Control) -> Vec<&'static str> {
    let mut names = vec![
        "ID",
        "UPDATE_DATE",
        "CREATED_DATE",
        "CATEGORY",
        "SUB_CATEGORY",
        "STATEMENT",
        "CRITICALITY",
        "CHECK_TYPE",
    ];
    if control.comment.is_some() {
        names.push("COMMENT");
    }
    names.extend(["IGNORE_ERROR", "IS_ACTIVE", "TECHNOLOGY_LIST"]);
    names
}

#[test]
fn same_seed_same_control_list() {
    let first = start_default();
    let second = start_default();
    let other_seed = start(SimConfig {
        seed: 2,
        ..SimConfig::default()
    });
    for query in [
        "action=list",
        "action=list&details=All",
        "action=list&details=None",
    ] {
        let a = control_list(&first, query).body;
        assert_eq!(
            a,
            control_list(&second, query).body,
            "bodies differ for {query}"
        );
        assert_ne!(
            a,
            control_list(&other_seed, query).body,
            "seed 2 is the same for {query}"
        );
    }
}

#[test]
fn control_list_shape() {
    let sim = start_default();
    let data: Dataset = sim.with_dataset(|data| data.clone());
    let reply = control_list(&sim, "action=list");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/xml"));
    assert!(
        reply.body.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE CONTROL_LIST_OUTPUT SYSTEM \
             \"https://qualysapi.qualys.com/api/2.0/fo/compliance/control/control_list_output.dtd\">\n\
             <CONTROL_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>2026-12-04T10:00:00Z</DATETIME>\n    \
             <CONTROL_LIST>\n      <CONTROL>\n        <ID>"
        ),
        "unexpected head: {}",
        &reply.body[..400.min(reply.body.len())]
    );

    let root = reply.xml();
    assert_eq!(root.name, "CONTROL_LIST_OUTPUT");
    assert!(
        root.at("RESPONSE/WARNING").is_none(),
        "WARNING without paging"
    );
    let elements = control_elements(&root);
    assert_eq!(elements.len(), data.controls.len());
    assert!(
        data.controls.iter().any(|c| c.user_defined),
        "no user-defined control in the data set"
    );
    for (element, control) in elements.iter().zip(&data.controls) {
        let id = control.id;
        assert_eq!(
            child_names(element),
            basic_names(control),
            "children of {id}"
        );
        assert_eq!(element.text_at("ID"), id.to_string());
        assert_eq!(element.text_at("UPDATE_DATE"), control.updated, "{id}");
        assert_eq!(element.text_at("CREATED_DATE"), control.created, "{id}");
        assert_eq!(
            element.text_at("CATEGORY/ID"),
            control.category.id.to_string()
        );
        assert_eq!(element.text_at("CATEGORY/NAME"), control.category.name);
        assert_eq!(
            element.text_at("SUB_CATEGORY/ID"),
            control.sub_category.id.to_string()
        );
        assert_eq!(
            element.text_at("SUB_CATEGORY/NAME"),
            control.sub_category.name
        );
        assert_eq!(element.text_at("STATEMENT"), control.statement, "{id}");
        assert_eq!(
            element.text_at("CRITICALITY/LABEL"),
            control.criticality.label(),
            "{id}"
        );
        assert_eq!(
            element.text_at("CRITICALITY/VALUE"),
            control.criticality.value().to_string(),
            "{id}"
        );
        assert_eq!(element.text_at("CHECK_TYPE"), control.check_type, "{id}");
        assert_eq!(
            element.at("COMMENT").map(|c| c.text.clone()),
            control.comment,
            "{id}"
        );
        assert_eq!(
            element.text_at("IGNORE_ERROR"),
            if control.ignore_error { "1" } else { "0" }
        );
        assert_eq!(
            element.text_at("IS_ACTIVE"),
            if control.is_active { "1" } else { "0" }
        );
        let technologies: Vec<(String, String, String)> = element
            .child("TECHNOLOGY_LIST")
            .expect("TECHNOLOGY_LIST")
            .children_named("TECHNOLOGY")
            .iter()
            .map(|t| (t.text_at("ID"), t.text_at("NAME"), t.text_at("RATIONALE")))
            .collect();
        let expected: Vec<(String, String, String)> = control
            .technologies
            .iter()
            .map(|(tech_id, rationale)| {
                let name = data.technology(*tech_id).expect("known").name.clone();
                (tech_id.to_string(), name, rationale.clone())
            })
            .collect();
        assert_eq!(technologies, expected, "technologies of {id}");
    }
    assert!(
        data.controls.iter().any(|c| c.comment.is_some()),
        "no control with a comment"
    );
    assert!(
        data.controls.iter().any(|c| c.comment.is_none()),
        "no control without a comment"
    );
    assert!(
        data.controls.iter().any(|c| c.ignore_error),
        "no control ignoring errors"
    );
}

#[test]
fn details_none_and_all() {
    let sim = start_default();
    let data = sim.with_dataset(|data| data.clone());

    let root = control_list(&sim, "action=list&details=None").xml();
    let elements = control_elements(&root);
    assert_eq!(elements.len(), data.controls.len());
    for (element, control) in elements.iter().zip(&data.controls) {
        assert_eq!(child_names(element), ["ID", "STATEMENT"]);
        assert_eq!(element.text_at("STATEMENT"), control.statement);
    }

    let root = control_list(&sim, "action=list&details=All").xml();
    let elements = control_elements(&root);
    for (element, control) in elements.iter().zip(&data.controls) {
        let mut expected = basic_names(control);
        if !control.frameworks.is_empty() {
            expected.push("FRAMEWORK_LIST");
        }
        assert_eq!(child_names(element), expected, "children of {}", control.id);
        let frameworks: Vec<(String, String, Vec<String>)> = element
            .child("FRAMEWORK_LIST")
            .map(|list| {
                list.children_named("FRAMEWORK")
                    .iter()
                    .map(|f| {
                        let references = f
                            .child("REFERENCE_LIST")
                            .expect("REFERENCE_LIST")
                            .children_named("REFERENCE")
                            .iter()
                            .map(|r| r.text.clone())
                            .collect();
                        (f.text_at("ID"), f.text_at("NAME"), references)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let expected: Vec<(String, String, Vec<String>)> = control
            .frameworks
            .iter()
            .map(|(id, references)| {
                let name = data.framework(*id).expect("known").name.clone();
                (id.to_string(), name, references.clone())
            })
            .collect();
        assert_eq!(frameworks, expected, "frameworks of {}", control.id);
    }
    assert!(
        elements.iter().any(|e| e.at("FRAMEWORK_LIST").is_some()),
        "no FRAMEWORK_LIST with details=All"
    );
}

#[test]
fn is_active_only_in_5_0() {
    let sim = start(SimConfig {
        controls: 200,
        ..SimConfig::default()
    });
    let data = sim.with_dataset(|data| data.clone());
    assert!(
        data.controls.iter().any(|c| !c.is_active),
        "no inactive control"
    );
    for version in ["2.0", "3.0", "4.0"] {
        let root = get(
            &sim,
            &format!("/api/{version}/fo/compliance/control/?action=list&details=All"),
        )
        .xml();
        let elements = control_elements(&root);
        assert_eq!(elements.len(), 200, "version {version}");
        assert!(
            elements.iter().all(|e| e.at("IS_ACTIVE").is_none()),
            "IS_ACTIVE in version {version}"
        );
    }
    let root = control_list(&sim, "action=list").xml();
    for (element, control) in control_elements(&root).iter().zip(&data.controls) {
        assert_eq!(
            element.text_at("IS_ACTIVE"),
            if control.is_active { "1" } else { "0" },
            "IS_ACTIVE of {}",
            control.id
        );
    }
}

#[test]
fn paging_follows_warning_url() {
    let sim = start_default();
    let all_ids = sim.with_dataset(|data| data.controls.iter().map(|c| c.id).collect::<Vec<_>>());
    assert_eq!(all_ids.len(), 40);

    let first = control_list(&sim, "action=list&details=Basic&truncation_limit=15").xml();
    assert_eq!(control_ids(&first), all_ids[..15]);
    let warning = first.at("RESPONSE/WARNING").expect("WARNING on page 1");
    assert_eq!(warning.text_at("CODE"), "1980");
    assert_eq!(
        warning.text_at("TEXT"),
        "15 record limit exceeded. Use URL to get next batch of results."
    );
    assert_eq!(
        warning.text_at("URL"),
        format!(
            "{WARNING_URL_ORIGIN}{CONTROL_PATH}?action=list&details=Basic&truncation_limit=15&id_min={}",
            all_ids[15]
        )
    );

    let mut collected = Vec::new();
    let mut page_sizes = Vec::new();
    let mut next = Some(format!(
        "{CONTROL_PATH}?action=list&details=Basic&truncation_limit=15"
    ));
    while let Some(path_and_query) = next.take() {
        assert!(page_sizes.len() < 5, "paging does not end");
        let root = get(&sim, &path_and_query).xml();
        let ids = control_ids(&root);
        page_sizes.push(ids.len());
        collected.extend(ids);
        if let Some(warning) = root.at("RESPONSE/WARNING") {
            let url = warning.text_at("URL");
            let relative = url
                .strip_prefix(WARNING_URL_ORIGIN)
                .unwrap_or_else(|| panic!("URL {url} not on {WARNING_URL_ORIGIN}"));
            next = Some(relative.to_string());
        }
    }
    assert_eq!(page_sizes, [15, 15, 10]);
    assert_eq!(collected, all_ids);

    let requests = sim.requests();
    let id_mins: Vec<Option<String>> = requests
        .iter()
        .skip(1)
        .map(|r| r.param("id_min").map(str::to_string))
        .collect();
    assert_eq!(
        id_mins,
        [
            None,
            Some(all_ids[15].to_string()),
            Some(all_ids[30].to_string())
        ]
    );
    assert!(requests.iter().all(|r| r.endpoint == Endpoint::ControlList));
    let numbers: Vec<u64> = requests.iter().map(|r| r.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
}

#[test]
fn warning_url_replaces_id_min() {
    let sim = start_default();
    let ids = sim.with_dataset(|data| data.controls.iter().map(|c| c.id).collect::<Vec<_>>());
    let root = control_list(
        &sim,
        &format!(
            "action=list&id_min={}&truncation_limit=5&details=None",
            ids[2]
        ),
    )
    .xml();
    assert_eq!(control_ids(&root), ids[2..7]);
    assert_eq!(
        root.text_at("RESPONSE/WARNING/URL"),
        format!(
            "{WARNING_URL_ORIGIN}{CONTROL_PATH}?action=list&id_min={}&truncation_limit=5&details=None",
            ids[7]
        )
    );
}

#[test]
fn truncation_limit_values() {
    let sim = start(SimConfig {
        controls: 1_200,
        ..SimConfig::default()
    });
    let root = control_list(&sim, "action=list&details=None").xml();
    assert_eq!(control_ids(&root).len(), 1_000, "default limit");
    assert!(root.at("RESPONSE/WARNING").is_some());

    let root = control_list(&sim, "action=list&details=None&truncation_limit=0").xml();
    assert_eq!(control_ids(&root).len(), 1_200, "limit 0");
    assert!(root.at("RESPONSE/WARNING").is_none());

    let root = control_list(&sim, "action=list&details=None&truncation_limit=1200").xml();
    assert_eq!(control_ids(&root).len(), 1_200, "exact limit");
    assert!(
        root.at("RESPONSE/WARNING").is_none(),
        "WARNING with nothing left"
    );

    for value in ["-1", "abc", "", "1.5", "99999999999999999999999"] {
        let reply = control_list(&sim, &format!("action=list&truncation_limit={value}"));
        assert_eq!(reply.status, 400, "{value:?}");
        let root = reply.xml();
        assert_eq!(root.text_at("RESPONSE/CODE"), "1905", "{value:?}");
        assert!(root.text_at("RESPONSE/TEXT").contains("truncation_limit"));
    }
}

#[test]
fn filters_select_controls() {
    let sim = start_default();
    let data = sim.with_dataset(|data| data.clone());
    let ids: Vec<u64> = data.controls.iter().map(|c| c.id).collect();

    let root = control_list(&sim, &format!("action=list&id_min={}", ids[30])).xml();
    assert_eq!(control_ids(&root), ids[30..]);
    let root = control_list(&sim, &format!("action=list&id_max={}", ids[3])).xml();
    assert_eq!(control_ids(&root), ids[..4]);
    let query = format!("action=list&ids={},{}-{}", ids[0], ids[5], ids[7]);
    assert_eq!(
        control_ids(&control_list(&sim, &query).xml()),
        [ids[0], ids[5], ids[6], ids[7]]
    );

    let root = control_list(&sim, "action=list&ids=1-5").xml();
    assert!(
        root.at("RESPONSE/CONTROL_LIST").is_none(),
        "empty CONTROL_LIST sent"
    );
    assert!(root.at("RESPONSE/DATETIME").is_some());

    let mut updated: Vec<&str> = data.controls.iter().map(|c| c.updated.as_str()).collect();
    updated.sort_unstable();
    let threshold = updated[20];
    let expected: Vec<u64> = data
        .controls
        .iter()
        .filter(|c| c.updated.as_str() >= threshold)
        .map(|c| c.id)
        .collect();
    let root = control_list(
        &sim,
        &format!("action=list&updated_after_datetime={threshold}"),
    )
    .xml();
    assert_eq!(control_ids(&root), expected);

    let expected: Vec<u64> = data
        .controls
        .iter()
        .filter(|c| c.created.as_str() >= "2021-01-01T00:00:00Z")
        .map(|c| c.id)
        .collect();
    assert!(!expected.is_empty(), "no control created after 2021");
    assert!(
        expected.len() < ids.len(),
        "every control created after 2021"
    );
    let root = control_list(&sim, "action=list&created_after_datetime=2021-01-01").xml();
    assert_eq!(control_ids(&root), expected);
}

#[test]
fn parameter_errors_rejected() {
    let sim = start_default();
    let cases = [
        ("", "1903", "action"),
        ("action=export", "1905", "action"),
        ("action=list&echo_request=1", "1901", "echo_request"),
        ("action=list&details=Full", "1905", "details"),
        ("action=list&ids=9-1", "1905", "ids"),
        ("action=list&id_min=x", "1905", "id_min"),
        (
            "action=list&created_after_datetime=soon",
            "1905",
            "created_after_datetime",
        ),
    ];
    for (query, code, named) in cases {
        let reply = control_list(&sim, query);
        assert_eq!(reply.status, 400, "{query}");
        let root = reply.xml();
        assert_eq!(root.text_at("RESPONSE/CODE"), code, "{query}");
        let text = root.text_at("RESPONSE/TEXT");
        assert!(
            text.contains(named),
            "{query}: text {text:?} does not name {named}"
        );
    }
}

#[test]
fn control_list_faults() {
    let sim = start_default();
    sim.inject(
        FaultRule::new(
            Endpoint::ControlList,
            Fault::Concurrency1960 { calls_to_finish: 2 },
        )
        .on_request(1),
    );
    sim.inject(FaultRule::new(Endpoint::ControlList, Fault::GenericReturn).on_request(3));

    let reply = control_list(&sim, "action=list");
    assert_eq!(reply.status, 409);
    assert_eq!(reply.xml().text_at("RESPONSE/CODE"), "1960");
    assert_eq!(control_list(&sim, "action=list").status, 200);
    let reply = control_list(&sim, "action=list");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.xml().name, "GENERIC_RETURN");

    sim.inject(
        FaultRule::new(
            Endpoint::ControlList,
            Fault::CutMidBody { after_bytes: 300 },
        )
        .times(1),
    );
    let response = common::client()
        .get(format!("{}{CONTROL_PATH}?action=list", sim.base_url()))
        .basic_auth(common::USERNAME, Some(common::PASSWORD))
        .header("X-Requested-With", "t")
        .send()
        .expect("head arrives");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().is_err(), "cut body read completely");
    assert_eq!(control_list(&sim, "action=list").status, 200);
}

#[test]
fn dataset_changes_show_next() {
    let sim = start_default();
    let (control_id, policy_id) = sim.with_dataset(|data| {
        let policy = &data.policies[0];
        let used = policy.sections[0].controls[0].control_id;
        (used, policy.id)
    });

    sim.with_dataset(|data| {
        let control = data.control_mut(control_id).expect("control");
        control.statement = "Renamed & <changed>".to_string();
        control.comment = Some("New comment".to_string());
        control.is_active = false;
        data.controls.push(Control::new(5, "Lowest id"));
    });

    let root = control_list(&sim, "action=list").xml();
    let elements = control_elements(&root);
    assert_eq!(elements[0].text_at("ID"), "5", "added control not first");
    assert_eq!(elements.len(), 41);
    let element = elements
        .iter()
        .find(|e| e.text_at("ID") == control_id.to_string())
        .expect("changed control");
    assert_eq!(element.text_at("STATEMENT"), "Renamed & <changed>");
    assert_eq!(element.text_at("COMMENT"), "New comment");
    assert_eq!(element.text_at("IS_ACTIVE"), "0");

    let exported = export(&sim, &format!("id={policy_id}&show_user_controls=1")).xml();
    let statement = export_controls(&exported)
        .into_iter()
        .find(|(_, c)| c.text_at("ID") == control_id.to_string())
        .map(|(_, c)| c.text_at("STATEMENT"));
    assert_eq!(statement.as_deref(), Some("Renamed & <changed>"));

    sim.with_dataset(|data| data.controls.retain(|c| c.id != control_id));
    let root = control_list(&sim, "action=list").xml();
    assert!(
        !control_ids(&root).contains(&control_id),
        "removed control listed"
    );
}

#[test]
fn large_list_streams_chunked() {
    let sim = start(SimConfig {
        controls: 3_000,
        ..SimConfig::default()
    });
    let reply = control_list(&sim, "action=list&details=All");
    assert_eq!(reply.status, 200);
    assert!(
        reply.header("content-length").is_none(),
        "large body not chunked"
    );
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    let root = reply.xml();
    assert_eq!(control_ids(&root).len(), 1_000);
    assert!(root.at("RESPONSE/WARNING/URL").is_some());
}

#[test]
fn odd_control_requests_answered() {
    let sim = start_default();
    let long_ids = (1..=1_000).map(|i| (i * 7).to_string()).collect::<Vec<_>>();
    let too_many_ids = (1..=5_000).map(|i| (i * 7).to_string()).collect::<Vec<_>>();
    let cases: Vec<(String, u16)> = vec![
        ("action=list&truncation_limit=%00".to_string(), 400),
        ("action=list&truncation_limit=%FF".to_string(), 400),
        ("action=list&details=%FF%FE".to_string(), 400),
        ("action=list&id_max=0".to_string(), 400),
        (
            "action=list&truncation_limit=1&truncation_limit=x".to_string(),
            200,
        ),
        ("action=list&truncation_limit=%201%20".to_string(), 200),
        (format!("action=list&ids={}", long_ids.join(",")), 200),
        // A request line over 8190 bytes, as a web server in front of Qualys rejects it.
        (format!("action=list&ids={}", too_many_ids.join(",")), 414),
    ];
    for (query, status) in cases {
        let shown = &query[..query.len().min(60)];
        let reply = control_list(&sim, &query);
        assert_eq!(reply.status, status, "{shown}");
        assert!(!reply.body.is_empty(), "empty body for {shown}");
        reply.xml();
    }
}
