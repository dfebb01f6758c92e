//! The classic policy export over HTTP: document shape, per-policy criticality, user-defined
//! controls, appendix, failures, faults and data set changes.

mod common;

use common::{
    Element, LIST_PATH, PASSWORD, USERNAME, child_names, client, export, export_controls, get,
    list, send, start, start_default,
};
use qualys_sim::{
    Control, Criticality, Dataset, Endpoint, Fault, FaultRule, Policy, PolicyControl, SimConfig,
};

/// Returns the CONTROL element with this id in an export, if any.
fn find_control(root: &Element, id: u64) -> Option<Element> {
    export_controls(root)
        .into_iter()
        .map(|(_, control)| control)
        .find(|control| control.text_at("ID") == id.to_string())
}

/// Returns a policy that contains a user-defined control, and that control's id.
fn policy_with_user_control(data: &Dataset) -> (Policy, u64) {
    data.policies
        .iter()
        .find_map(|policy| {
            policy
                .section_controls()
                .find(|used| {
                    data.control(used.control_id)
                        .is_some_and(|c| c.user_defined)
                })
                .map(|used| (policy.clone(), used.control_id))
        })
        .expect("a policy with a user-defined control")
}

#[test]
fn same_seed_same_export() {
    let first = start_default();
    let second = start_default();
    let other_seed = start(SimConfig {
        seed: 2,
        ..SimConfig::default()
    });
    let ids = first.with_dataset(|data| data.policies.iter().map(|p| p.id).collect::<Vec<_>>());
    for id in &ids {
        let query = format!("id={id}&show_user_controls=1&show_appendix=1");
        assert_eq!(
            export(&first, &query).body,
            export(&second, &query).body,
            "exports of {id} differ"
        );
    }
    let query = format!("id={}", ids[0]);
    let other = export(&other_seed, &query);
    assert_ne!(
        export(&first, &query).body,
        other.body,
        "seed 2 is the same"
    );
}

#[test]
fn export_document_shape() {
    let sim = start_default();
    let (policy, data) = sim.with_dataset(|data| (data.policies[3].clone(), data.clone()));
    let reply = export(&sim, &format!("id={}&show_user_controls=1", policy.id));
    assert_eq!(reply.status, 200, "body: {}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/xml"));
    assert!(
        reply.body.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE POLICY_EXPORT_OUTPUT SYSTEM \
             \"https://qualysapi.qualys.com/api/2.0/fo/compliance/policy/policy_export_output.dtd\">\n\
             <POLICY_EXPORT_OUTPUT>\n  <RESPONSE>\n    <DATETIME>2026-12-04T10:00:00Z</DATETIME>\n    \
             <POLICY>\n      <TITLE><![CDATA[ "
        ),
        "unexpected head: {}",
        &reply.body[..400.min(reply.body.len())]
    );
    assert!(
        reply.body.contains("\n      <TECHNOLOGIES total=\"",),
        "TECHNOLOGIES not indented under POLICY"
    );
    assert!(
        reply.body.contains("<CRITICALITY><LABEL><![CDATA["),
        "CRITICALITY not on one line"
    );

    let root = reply.xml();
    assert_eq!(root.name, "POLICY_EXPORT_OUTPUT");
    assert_eq!(root.text_at("RESPONSE/DATETIME"), "2026-12-04T10:00:00Z");
    let element = root.at("RESPONSE/POLICY").expect("POLICY");
    assert_eq!(
        child_names(element),
        ["TITLE", "EXPORTED", "TECHNOLOGIES", "SECTIONS"]
    );
    assert_eq!(element.text_at("TITLE"), format!(" {} ", policy.title));
    assert_eq!(element.text_at("EXPORTED"), "2026-12-04T10:00:00Z");

    let technologies = element.child("TECHNOLOGIES").expect("TECHNOLOGIES");
    assert_eq!(
        technologies.attribute("total"),
        Some(policy.technology_ids.len().to_string().as_str())
    );
    let listed: Vec<(String, String)> = technologies
        .children_named("TECHNOLOGY")
        .iter()
        .map(|t| (t.text_at("ID"), t.text_at("NAME")))
        .collect();
    let expected: Vec<(String, String)> = policy
        .technology_ids
        .iter()
        .map(|id| {
            let technology = data.technology(*id).expect("known technology");
            (id.to_string(), technology.name.clone())
        })
        .collect();
    assert_eq!(listed, expected);

    let sections = element.child("SECTIONS").expect("SECTIONS");
    assert_eq!(
        sections.attribute("total"),
        Some(policy.sections.len().to_string().as_str())
    );
    let section_elements = sections.children_named("SECTION");
    assert_eq!(section_elements.len(), policy.sections.len());
    for (section_element, section) in section_elements.iter().zip(&policy.sections) {
        assert_eq!(section_element.text_at("NUMBER"), section.number);
        assert_eq!(section_element.text_at("HEADING"), section.heading);
        let controls = section_element.child("CONTROLS").expect("CONTROLS");
        assert_eq!(
            controls.attribute("total"),
            Some(section.controls.len().to_string().as_str())
        );
        let control_elements = controls.children_named("CONTROL");
        assert_eq!(control_elements.len(), section.controls.len());
        for (control_element, used) in control_elements.iter().zip(&section.controls) {
            check_control(control_element, used, &data);
        }
    }
}

/// Checks one exported CONTROL against the data set and the policy's use of the control.
fn check_control(element: &Element, used: &PolicyControl, data: &Dataset) {
    let control = data.control(used.control_id).expect("known control");
    let id = control.id;
    assert_eq!(element.text_at("ID"), id.to_string());
    assert_eq!(element.text_at("STATEMENT"), control.statement, "{id}");
    assert_eq!(
        element.text_at("CRITICALITY/LABEL"),
        used.criticality.label(),
        "{id}"
    );
    assert_eq!(
        element.text_at("CRITICALITY/VALUE"),
        used.criticality.value().to_string(),
        "{id}"
    );

    let technologies = element.child("TECHNOLOGIES").expect("TECHNOLOGIES");
    assert_eq!(
        technologies.attribute("total"),
        Some(control.technologies.len().to_string().as_str()),
        "{id}"
    );
    let listed: Vec<(String, String, String)> = technologies
        .children_named("TECHNOLOGY")
        .iter()
        .map(|t| (t.text_at("ID"), t.text_at("NAME"), t.text_at("RATIONALE")))
        .collect();
    let expected: Vec<(String, String, String)> = control
        .technologies
        .iter()
        .map(|(tech_id, rationale)| {
            let name = data
                .technology(*tech_id)
                .expect("known technology")
                .name
                .clone();
            (tech_id.to_string(), name, rationale.clone())
        })
        .collect();
    assert_eq!(listed, expected, "technologies of {id}");

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
        .map(|(framework_id, references)| {
            let name = data
                .framework(*framework_id)
                .expect("known framework")
                .name
                .clone();
            (framework_id.to_string(), name, references.clone())
        })
        .collect();
    assert_eq!(frameworks, expected, "frameworks of {id}");

    assert_eq!(
        element.at("USER_DEFINED").map(|e| e.text.clone()),
        control.user_defined.then(|| "1".to_string()),
        "USER_DEFINED of {id}"
    );
}

#[test]
fn shared_control_criticality_per_policy() {
    let sim = start_default();
    // A control in two policies with a different criticality in each.
    let (control_id, first, second) = sim.with_dataset(|data| {
        let uses: Vec<(u64, u64, Criticality)> = data
            .policies
            .iter()
            .flat_map(|p| {
                p.section_controls()
                    .map(move |c| (c.control_id, p.id, c.criticality))
            })
            .filter(|(id, _, _)| !data.control(*id).expect("known").user_defined)
            .collect();
        uses.iter()
            .find_map(|a| {
                uses.iter()
                    .find(|b| b.0 == a.0 && b.1 != a.1 && b.2 != a.2)
                    .map(|b| (a.0, (a.1, a.2), (b.1, b.2)))
            })
            .expect("a shared control with two criticalities")
    });

    for (policy_id, criticality) in [first, second] {
        let root = export(&sim, &format!("id={policy_id}")).xml();
        let control = find_control(&root, control_id)
            .unwrap_or_else(|| panic!("control {control_id} not in {policy_id}"));
        assert_eq!(
            control.text_at("CRITICALITY/LABEL"),
            criticality.label(),
            "policy {policy_id}"
        );
        assert_eq!(
            control.text_at("CRITICALITY/VALUE"),
            criticality.value().to_string(),
            "policy {policy_id}"
        );
    }
    assert_ne!(first.1, second.1);
}

#[test]
fn user_controls_only_on_request() {
    let sim = start_default();
    let (policy, user_control) = sim.with_dataset(|data| policy_with_user_control(data));

    for query in [
        format!("id={}", policy.id),
        format!("id={}&show_user_controls=0", policy.id),
    ] {
        let root = export(&sim, &query).xml();
        assert!(
            find_control(&root, user_control).is_none(),
            "{query}: user-defined control {user_control} shown"
        );
        let totals: usize = root
            .at("RESPONSE/POLICY/SECTIONS")
            .expect("SECTIONS")
            .children_named("SECTION")
            .iter()
            .map(|s| {
                let controls = s.child("CONTROLS").expect("CONTROLS");
                let total: usize = controls
                    .attribute("total")
                    .expect("total")
                    .parse()
                    .expect("n");
                assert_eq!(total, controls.children_named("CONTROL").len(), "{query}");
                total
            })
            .sum();
        let without = sim.with_dataset(|data| {
            policy
                .section_controls()
                .filter(|c| !data.control(c.control_id).expect("known").user_defined)
                .count()
        });
        assert_eq!(totals, without, "{query}");
        assert!(
            export_controls(&root)
                .iter()
                .all(|(_, c)| c.at("USER_DEFINED").is_none()),
            "{query}: USER_DEFINED without show_user_controls"
        );
    }

    let root = export(&sim, &format!("id={}&show_user_controls=1", policy.id)).xml();
    let control = find_control(&root, user_control).expect("user-defined control shown");
    assert_eq!(control.text_at("USER_DEFINED"), "1");
    assert_eq!(
        control.children.last().map(|c| c.name.as_str()),
        Some("USER_DEFINED")
    );
    assert_eq!(
        export_controls(&root).len(),
        policy.section_controls().count(),
        "not every control shown"
    );
}

#[test]
fn appendix_only_on_request() {
    let sim = start_default();
    let policy = sim.with_dataset(|data| data.policies[1].clone());

    let root = export(&sim, &format!("id={}&show_appendix=1", policy.id)).xml();
    let element = root.at("RESPONSE/POLICY").expect("POLICY");
    assert_eq!(
        child_names(element),
        ["TITLE", "EXPORTED", "TECHNOLOGIES", "SECTIONS", "APPENDIX"]
    );
    assert_eq!(element.text_at("APPENDIX"), policy.appendix);
    assert!(policy.appendix.contains('\n'), "one-line appendix");

    for query in [
        format!("id={}", policy.id),
        format!("id={}&show_appendix=0", policy.id),
    ] {
        let root = export(&sim, &query).xml();
        assert!(root.at("RESPONSE/POLICY/APPENDIX").is_none(), "{query}");
    }
}

#[test]
fn export_failures_return_400() {
    let sim = start_default();
    let (failing, healthy) = sim.with_dataset(|data| {
        let failing = data.policies[2].id;
        data.export_failures.insert(
            failing,
            (1920, "Policy export is blocked & <locked>.".to_string()),
        );
        (failing, data.policies[3].id)
    });

    let reply = export(&sim, &format!("id={failing}"));
    assert_eq!(reply.status, 400);
    let root = reply.xml();
    assert_eq!(root.name, "SIMPLE_RETURN");
    assert_eq!(root.text_at("RESPONSE/CODE"), "1920");
    assert_eq!(
        root.text_at("RESPONSE/TEXT"),
        "Policy export is blocked & <locked>."
    );
    assert!(
        reply.header("x-ratelimit-limit").is_some(),
        "no limit headers"
    );
    assert_eq!(export(&sim, &format!("id={healthy}")).status, 200);

    let reply = export(&sim, "id=42");
    assert_eq!(reply.status, 400);
    let root = reply.xml();
    assert_eq!(root.name, "SIMPLE_RETURN");
    assert_eq!(root.text_at("RESPONSE/CODE"), "1905");
    assert_eq!(
        root.text_at("RESPONSE/TEXT"),
        "Policy ID 42 does not exist."
    );

    sim.with_dataset(|data| data.export_failures.clear());
    assert_eq!(export(&sim, &format!("id={failing}")).status, 200);

    let statuses: Vec<(Endpoint, u64, u16)> = sim
        .requests()
        .iter()
        .map(|r| (r.endpoint, r.number, r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (Endpoint::PolicyExport, 1, 400),
            (Endpoint::PolicyExport, 2, 200),
            (Endpoint::PolicyExport, 3, 400),
            (Endpoint::PolicyExport, 4, 200),
        ]
    );
}

#[test]
fn export_parameter_errors() {
    let sim = start_default();
    let id = sim.with_dataset(|data| data.policies[0].id);
    let cases = [
        ("action=export".to_string(), "1903", "id"),
        ("action=export&show_appendix=1".to_string(), "1903", "id"),
        ("action=export&id=abc".to_string(), "1905", "id"),
        ("action=export&id=0".to_string(), "1905", "id"),
        ("action=export&id=1,2".to_string(), "1905", "id"),
        (
            format!("action=export&id={id}&show_user_controls=yes"),
            "1905",
            "show_user_controls",
        ),
        (
            format!("action=export&id={id}&show_appendix=2"),
            "1905",
            "show_appendix",
        ),
        (
            format!("action=export&id={id}&details=All"),
            "1901",
            "details",
        ),
    ];
    for (query, code, named) in cases {
        let reply = get(&sim, &format!("{LIST_PATH}?{query}"));
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
fn export_on_every_version_and_post() {
    let sim = start_default();
    let id = sim.with_dataset(|data| data.policies[0].id);
    for version in qualys_sim::SUPPORTED_VERSIONS {
        let reply = get(
            &sim,
            &format!("/api/{version}/fo/compliance/policy/?action=export&id={id}"),
        );
        assert_eq!(reply.status, 200, "version {version}");
        assert_eq!(
            reply.xml().name,
            "POLICY_EXPORT_OUTPUT",
            "version {version}"
        );
    }

    let reply = send(
        client()
            .post(format!("{}{LIST_PATH}", sim.base_url()))
            .basic_auth(USERNAME, Some(PASSWORD))
            .header("X-Requested-With", "test")
            .form(&[("action", "export"), ("id", &id.to_string())]),
    );
    assert_eq!(reply.status, 200, "body: {}", reply.body);
    let recorded = sim.requests().pop().expect("recorded");
    assert_eq!(recorded.endpoint, Endpoint::PolicyExport);
    assert_eq!(recorded.method, "POST");
}

#[test]
fn export_checks_login_and_header() {
    let sim = start_default();
    let url = format!("{}{LIST_PATH}?action=export&id=1", sim.base_url());
    let reply = send(client().get(&url).header("X-Requested-With", "t"));
    assert_eq!(reply.status, 401);
    assert_eq!(reply.xml().text_at("RESPONSE/CODE"), "2000");

    let reply = send(client().get(&url).basic_auth(USERNAME, Some(PASSWORD)));
    assert_eq!(reply.status, 400);

    let reply = export(&sim, "id=1");
    for header in [
        "x-ratelimit-limit",
        "x-ratelimit-window-sec",
        "x-ratelimit-remaining",
        "x-ratelimit-towait-sec",
        "x-concurrency-limit-limit",
        "x-concurrency-limit-running",
    ] {
        assert!(reply.header(header).is_some(), "no {header}");
    }
}

#[test]
fn export_faults_numbered_per_endpoint() {
    let sim = start_default();
    let id = sim.with_dataset(|data| data.policies[0].id);
    sim.inject(
        FaultRule::new(
            Endpoint::PolicyExport,
            Fault::RateLimit1965 {
                seconds_to_wait: 30,
                header: true,
            },
        )
        .on_request(2),
    );
    sim.inject(FaultRule::new(Endpoint::PolicyList, Fault::ServerError(503)).on_request(1));

    assert_eq!(list(&sim, "action=list").status, 503);
    assert_eq!(export(&sim, &format!("id={id}")).status, 200);
    let reply = export(&sim, &format!("id={id}"));
    assert_eq!(reply.status, 409);
    assert_eq!(reply.xml().text_at("RESPONSE/CODE"), "1965");
    assert_eq!(reply.header("x-ratelimit-towait-sec"), Some("30"));
    assert_eq!(export(&sim, &format!("id={id}")).status, 200);
    assert_eq!(list(&sim, "action=list").status, 200);

    let summary: Vec<(Endpoint, u64, u16)> = sim
        .requests()
        .iter()
        .map(|r| (r.endpoint, r.number, r.status))
        .collect();
    assert_eq!(
        summary,
        [
            (Endpoint::PolicyList, 1, 503),
            (Endpoint::PolicyExport, 1, 200),
            (Endpoint::PolicyExport, 2, 409),
            (Endpoint::PolicyExport, 3, 200),
            (Endpoint::PolicyList, 2, 200),
        ]
    );
}

#[test]
fn export_body_faults_apply() {
    let sim = start_default();
    let id = sim.with_dataset(|data| data.policies[0].id);
    let normal = export(&sim, &format!("id={id}")).body;

    sim.inject(
        FaultRule::new(
            Endpoint::PolicyExport,
            Fault::KeepAliveWhitespace { bytes: 100 },
        )
        .times(1),
    );
    let reply = export(&sim, &format!("id={id}"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.trim_start(), normal);
    assert_eq!(reply.body.len(), normal.len() + 100);

    sim.inject(
        FaultRule::new(
            Endpoint::PolicyExport,
            Fault::SlowBody {
                chunk_bytes: 500,
                delay_ms: 1,
            },
        )
        .times(1),
    );
    assert_eq!(export(&sim, &format!("id={id}")).body, normal);
}

#[test]
fn dataset_changes_show_in_export() {
    let sim = start_default();
    let (policy_id, added, removed, changed) = sim.with_dataset(|data| {
        let policy = &data.policies[0];
        let present: Vec<u64> = policy.section_controls().map(|c| c.control_id).collect();
        let added = data
            .controls
            .iter()
            .find(|c| !present.contains(&c.id) && !c.user_defined)
            .expect("a control outside the policy")
            .id;
        let removed = policy.sections[0].controls[0].control_id;
        let changed = *present.last().expect("a control");
        (policy.id, added, removed, changed)
    });
    assert_ne!(
        removed, changed,
        "the removed control is also the changed one"
    );

    sim.with_dataset(|data| {
        let policy = data.policy_mut(policy_id).expect("policy");
        policy.sections[0].controls.remove(0);
        let last = policy.sections.len() - 1;
        policy.sections[last].controls.push(PolicyControl {
            control_id: added,
            criticality: Criticality::Urgent,
        });
        let control = data.control_mut(changed).expect("control");
        control.statement = "Changed statement with <markup> & ]]> inside".to_string();
    });

    let root = export(&sim, &format!("id={policy_id}")).xml();
    assert!(
        find_control(&root, removed).is_none(),
        "removed control still exported"
    );
    let (section, element) = export_controls(&root).into_iter().last().expect("controls");
    assert_eq!(
        element.text_at("ID"),
        added.to_string(),
        "added control not last"
    );
    assert_eq!(element.text_at("CRITICALITY/LABEL"), "URGENT");
    let last_number = sim.with_dataset(|data| {
        data.policy(policy_id)
            .expect("policy")
            .sections
            .last()
            .expect("section")
            .number
            .clone()
    });
    assert_eq!(section, last_number);
    let element = find_control(&root, changed).expect("changed control");
    assert_eq!(
        element.text_at("STATEMENT"),
        "Changed statement with <markup> & ]]> inside"
    );

    // The policy list shows the same controls, user-defined ones included, because
    // with_dataset syncs control_ids.
    let everything = export(&sim, &format!("id={policy_id}&show_user_controls=1")).xml();
    let listed = list(&sim, &format!("action=list&details=All&ids={policy_id}")).xml();
    let ids: Vec<u64> = listed
        .at("RESPONSE/POLICY_LIST/POLICY/CONTROL_LIST")
        .expect("CONTROL_LIST")
        .children_named("CONTROL")
        .iter()
        .map(|c| c.text_at("ID").parse().expect("numeric"))
        .collect();
    let mut expected: Vec<u64> = export_controls(&everything)
        .iter()
        .map(|(_, c)| c.text_at("ID").parse().expect("numeric"))
        .collect();
    expected.sort_unstable();
    assert_eq!(ids, expected);
}

#[test]
fn hand_made_policy_exports() {
    let sim = start_default();
    sim.with_dataset(|data| {
        data.controls.push(Control::new(7, "Hand-made control"));
        let mut section = qualys_sim::Section::new("1", "Only section");
        section.controls.push(PolicyControl {
            control_id: 7,
            criticality: Criticality::Critical,
        });
        // An unknown control id is left out of the export.
        section.controls.push(PolicyControl {
            control_id: 999_999_999,
            criticality: Criticality::Minimal,
        });

        let mut policy = Policy::new(5, "Hand-made policy");
        policy.sections.push(section);
        // So is an unknown technology id.
        policy.technology_ids.push(987_654);
        data.policies.push(policy);
    });

    let reply = export(&sim, "id=5&show_appendix=1");
    assert_eq!(reply.status, 200, "body: {}", reply.body);
    let root = reply.xml();
    let technologies = root
        .at("RESPONSE/POLICY/TECHNOLOGIES")
        .expect("TECHNOLOGIES");
    assert_eq!(technologies.attribute("total"), Some("0"));
    assert!(technologies.children.is_empty());

    let controls = export_controls(&root);
    assert_eq!(controls.len(), 1);
    let control = &controls[0].1;
    assert_eq!(control.text_at("ID"), "7");
    assert_eq!(control.text_at("CRITICALITY/VALUE"), "4");
    assert!(control.at("FRAMEWORK_LIST").is_none());
    assert_eq!(root.text_at("RESPONSE/POLICY/APPENDIX"), "");
}

#[test]
fn large_export_streams_chunked() {
    let sim = start(SimConfig {
        controls: 3_000,
        ..SimConfig::default()
    });
    let (policy_id, count) = sim.with_dataset(|data| {
        let ids: Vec<u64> = data
            .controls
            .iter()
            .filter(|c| !c.user_defined)
            .map(|c| c.id)
            .collect();
        let policy = &mut data.policies[0];
        policy.sections[0].controls = ids
            .iter()
            .map(|id| PolicyControl {
                control_id: *id,
                criticality: Criticality::Medium,
            })
            .collect();
        policy.sections.truncate(1);
        (policy.id, ids.len())
    });
    let reply = export(&sim, &format!("id={policy_id}"));
    assert_eq!(reply.status, 200);
    assert!(
        reply.header("content-length").is_none(),
        "large body not chunked"
    );
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(export_controls(&reply.xml()).len(), count);
}

#[test]
fn odd_export_requests_answered() {
    let sim = start_default();
    let id = sim.with_dataset(|data| data.policies[0].id);
    let cases = [
        ("id=%FF%FE".to_string(), 400),
        ("id=".to_string(), 400),
        ("id=99999999999999999999999".to_string(), 400),
        ("id=18446744073709551615".to_string(), 400),
        (format!("id={id}&show_appendix=%00"), 400),
        (format!("id={id}&id=1"), 200),
        (format!("id=%20{id}%20"), 200),
        (format!("id={id}&=x"), 400),
    ];
    for (query, status) in cases {
        let reply = export(&sim, &query);
        assert_eq!(reply.status, status, "{query}");
        assert!(!reply.body.is_empty(), "empty body for {query}");
        reply.xml();
    }
    assert_eq!(
        export(&sim, "id=18446744073709551615")
            .xml()
            .text_at("RESPONSE/TEXT"),
        "Policy ID 18446744073709551615 does not exist."
    );
}
