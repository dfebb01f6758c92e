//! The classic posture info over HTTP: document shape, glossary, paging, filters, the
//! simulated clock, evidence special cases, glossary gaps, errors and faults.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{
    Element, PASSWORD, POSTURE_PATH, USERNAME, child_names, client, get, posture_info, send, start,
    start_default,
};
use qualys_sim::{
    Dataset, Endpoint, Fault, FaultRule, Posture, PostureError, PostureKey, PostureStatus,
    Postures, SimConfig, Simulator, WARNING_URL_ORIGIN,
};

/// Characters that XML 1.0 does not allow and that the evidence knob inserts.
const INVALID_CHARS: [char; 4] = ['\u{1}', '\u{1b}', '\u{b}', '\u{fffe}'];

/// Returns the INFO elements of a posture info document.
fn infos(root: &Element) -> Vec<Element> {
    root.at("RESPONSE/INFO_LIST")
        .map(|list| list.children_named("INFO").into_iter().cloned().collect())
        .unwrap_or_default()
}

fn number(element: &Element, path: &str) -> u64 {
    element
        .text_at(path)
        .parse()
        .unwrap_or_else(|_| panic!("{path} is not a number"))
}

fn ids(infos: &[Element]) -> Vec<u64> {
    infos.iter().map(|info| number(info, "ID")).collect()
}

/// Fetches every posture of a policy in one response.
fn all_infos(sim: &Simulator, policy_id: u64, extra: &str) -> Vec<Element> {
    let reply = posture_info(
        sim,
        &format!("policy_id={policy_id}&truncation_limit=0{extra}"),
    );
    assert_eq!(reply.status, 200, "body: {}", reply.body);
    infos(&reply.xml())
}

/// Returns the ids of the policies that have postures, the one with most postures first.
fn policies_by_size(sim: &Simulator) -> Vec<u64> {
    sim.with_postures(|postures| {
        let mut ids: Vec<u64> = postures
            .policy_ids()
            .into_iter()
            .filter(|id| postures.count(*id) > 0)
            .collect();
        ids.sort_by_key(|id| std::cmp::Reverse(postures.count(*id)));
        ids
    })
}

fn postures_of(sim: &Simulator, policy_id: u64) -> Vec<Posture> {
    sim.with_postures(|postures| postures.for_policy(policy_id).collect())
}

/// Follows the WARNING URLs from a first query and returns every page's root element.
fn follow_pages(sim: &Simulator, first_query: &str) -> Vec<Element> {
    let mut pages = Vec::new();
    let mut next = Some(format!("{POSTURE_PATH}?action=list&{first_query}"));
    while let Some(path_and_query) = next.take() {
        assert!(pages.len() < 200, "paging does not end");
        let reply = get(sim, &path_and_query);
        assert_eq!(reply.status, 200, "body: {}", reply.body);
        let root = reply.xml();
        if let Some(warning) = root.at("RESPONSE/WARNING") {
            let url = warning.text_at("URL");
            let relative = url
                .strip_prefix(WARNING_URL_ORIGIN)
                .unwrap_or_else(|| panic!("URL {url} not on {WARNING_URL_ORIGIN}"));
            next = Some(relative.to_string());
        }
        pages.push(root);
    }
    pages
}

/// Returns the ids of the glossary entries in `list`, each read from `id_path`.
fn glossary_ids(root: &Element, list: &str, entry: &str) -> BTreeSet<u64> {
    root.at(&format!("RESPONSE/GLOSSARY/{list}"))
        .map(|list| {
            list.children_named(entry)
                .iter()
                .map(|element| number(element, "ID"))
                .collect()
        })
        .unwrap_or_default()
}

fn glossary_labels(root: &Element, list: &str, entry: &str) -> BTreeSet<String> {
    root.at(&format!("RESPONSE/GLOSSARY/{list}"))
        .map(|list| {
            list.children_named(entry)
                .iter()
                .map(|element| element.text_at("LABEL"))
                .collect()
        })
        .unwrap_or_default()
}

/// Returns the tokens of a BOOLEAN_EXPR that start with `prefix`, such as `:dp_`.
fn expression_tokens(expression: &str, prefix: &str) -> Vec<String> {
    expression
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|token| token.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

fn values(element: &Element) -> Vec<String> {
    element
        .children_named("V")
        .iter()
        .map(|v| v.text.clone())
        .collect()
}

fn is_text_mapping_key(value: &str) -> bool {
    value
        .strip_prefix("%tm_")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// Returns the child names that an INFO element has with `details=Basic` and no extras.
fn basic_names(posture: &Posture) -> Vec<&'static str> {
    let mut names = vec!["ID", "HOST_ID", "CONTROL_ID", "TECHNOLOGY_ID"];
    if posture.key.instance.is_some() {
        names.push("INSTANCE");
    }
    names.extend(["STATUS", "POSTURE_MODIFIED_DATE", "EVALUATION_DATE"]);
    if posture.previous_status.is_some() {
        names.push("PREVIOUS_STATUS");
    }
    let times = [
        ("FIRST_FAIL_DATE", &posture.first_fail),
        ("LAST_FAIL_DATE", &posture.last_fail),
        ("FIRST_PASS_DATE", &posture.first_pass),
        ("LAST_PASS_DATE", &posture.last_pass),
    ];
    for (name, time) in times {
        if time.is_some() {
            names.push(name);
        }
    }
    names
}

#[test]
fn same_seed_same_postures() {
    let first = start_default();
    let second = start_default();
    let other_seed = start(SimConfig {
        seed: 2,
        ..SimConfig::default()
    });
    let policy_id = policies_by_size(&first)[0];
    let query = format!(
        "policy_id={policy_id}&details=All&show_remediation_info=1&cause_of_failure=1\
         &include_dp_name=1&show_extended_evidence=1&truncation_limit=5"
    );
    let a = posture_info(&first, &query).body;
    assert_eq!(a, posture_info(&second, &query).body, "bodies differ");
    let b = posture_info(&other_seed, &query).body;
    assert_ne!(a, b, "seed 2 gives the same body");
    assert_eq!(
        first.with_postures(|p| p.clone()),
        second.with_postures(|p| p.clone())
    );
}

#[test]
fn posture_info_shape() {
    let sim = start_default();
    let policy_id = policies_by_size(&sim)[0];
    let reply = posture_info(&sim, &format!("policy_id={policy_id}&truncation_limit=0"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/xml"));
    assert_eq!(reply.header("x-ratelimit-limit"), Some("300"));
    assert!(
        reply.body.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE POSTURE_INFO_LIST_OUTPUT \
             SYSTEM \"https://qualysapi.qualys.com/api/2.0/fo/compliance/posture/info/\
             posture_info_list_output.dtd\">\n<POSTURE_INFO_LIST_OUTPUT>\n  <RESPONSE>\n    \
             <DATETIME>2026-12-04T10:00:00Z</DATETIME>\n    <INFO_LIST>\n      <INFO>\n        \
             <ID>"
        ),
        "unexpected head: {}",
        &reply.body[..400.min(reply.body.len())]
    );

    let root = reply.xml();
    assert_eq!(root.name, "POSTURE_INFO_LIST_OUTPUT");
    assert_eq!(
        child_names(root.child("RESPONSE").expect("RESPONSE")),
        ["DATETIME", "INFO_LIST", "GLOSSARY"]
    );
    let expected = postures_of(&sim, policy_id);
    let elements = infos(&root);
    assert_eq!(elements.len(), expected.len());
    for (element, posture) in elements.iter().zip(&expected) {
        let id = posture.id;
        assert_eq!(
            child_names(element),
            basic_names(posture),
            "children of {id}"
        );
        assert_eq!(number(element, "ID"), id);
        assert_eq!(number(element, "HOST_ID"), posture.key.host_id, "{id}");
        assert_eq!(
            number(element, "CONTROL_ID"),
            posture.key.control_id,
            "{id}"
        );
        assert_eq!(
            number(element, "TECHNOLOGY_ID"),
            posture.key.technology_id,
            "{id}"
        );
        assert_eq!(
            element.at("INSTANCE").map(|e| e.text.clone()),
            posture.key.instance,
            "{id}"
        );
        assert_eq!(element.text_at("STATUS"), posture.status.as_str(), "{id}");
        assert_eq!(
            element.text_at("POSTURE_MODIFIED_DATE"),
            posture.modified,
            "{id}"
        );
        assert_eq!(
            element.text_at("EVALUATION_DATE"),
            posture.evaluated,
            "{id}"
        );
        assert_eq!(
            element.at("PREVIOUS_STATUS").map(|e| e.text.clone()),
            posture.previous_status.map(|s| s.as_str().to_string()),
            "{id}"
        );
        for (name, time) in [
            ("FIRST_FAIL_DATE", &posture.first_fail),
            ("LAST_FAIL_DATE", &posture.last_fail),
            ("FIRST_PASS_DATE", &posture.first_pass),
            ("LAST_PASS_DATE", &posture.last_pass),
        ] {
            assert_eq!(
                element.at(name).map(|e| e.text.clone()),
                *time,
                "{name} {id}"
            );
        }
    }
    let ids = ids(&elements);
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "ids unsorted");
}

#[test]
fn glossary_lists_page_references() {
    let sim = start(SimConfig {
        controls_per_policy: Some(6),
        ..SimConfig::default()
    });
    let data: Dataset = sim.with_dataset(|data| data.clone());
    let policy_id = policies_by_size(&sim)[0];
    let policy = data.policy(policy_id).expect("policy").clone();
    let pages = follow_pages(
        &sim,
        &format!(
            "policy_id={policy_id}&details=All&include_dp_name=1&cause_of_failure=1\
             &truncation_limit=9"
        ),
    );
    assert!(pages.len() >= 3, "only {} pages", pages.len());

    let mut saw_text_mapping = false;
    for (index, page) in pages.iter().enumerate() {
        let elements = infos(page);
        let hosts: BTreeSet<u64> = elements.iter().map(|i| number(i, "HOST_ID")).collect();
        let controls: BTreeSet<u64> = elements.iter().map(|i| number(i, "CONTROL_ID")).collect();
        let technologies: BTreeSet<u64> = elements
            .iter()
            .map(|i| number(i, "TECHNOLOGY_ID"))
            .collect();
        assert_eq!(
            glossary_ids(page, "HOST_LIST", "HOST"),
            hosts,
            "page {index}"
        );
        assert_eq!(
            glossary_ids(page, "CONTROL_LIST", "CONTROL"),
            controls,
            "page {index}"
        );
        assert_eq!(
            glossary_ids(page, "TECHNOLOGY_LIST", "TECHNOLOGY"),
            technologies,
            "page {index}"
        );

        let mut data_points = BTreeSet::new();
        let mut fixed_values = BTreeSet::new();
        let mut templates = BTreeSet::new();
        let mut text_mappings = BTreeSet::new();
        let mut control_technologies: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for info in &elements {
            control_technologies
                .entry(number(info, "CONTROL_ID"))
                .or_default()
                .insert(number(info, "TECHNOLOGY_ID"));
            let expression = info.text_at("EVIDENCE/BOOLEAN_EXPR");
            data_points.extend(expression_tokens(&expression, ":dp_"));
            fixed_values.extend(expression_tokens(&expression, "#fv_"));
            templates.extend(expression_tokens(&expression, "$tp_"));
            let dpvs = info.at("EVIDENCE/DPV_LIST").expect("DPV_LIST");
            for dpv in dpvs.children_named("DPV") {
                assert!(
                    data_points.contains(&dpv.text_at("LABEL")),
                    "DPV label {} not in the expression",
                    dpv.text_at("LABEL")
                );
                assert!(dpv.attribute("lastUpdated").is_some(), "no lastUpdated");
                text_mappings.extend(values(dpv).into_iter().filter(|v| is_text_mapping_key(v)));
            }
            if let Some(cause) = info.at("CAUSE_OF_FAILURE") {
                for part in &cause.children {
                    text_mappings
                        .extend(values(part).into_iter().filter(|v| is_text_mapping_key(v)));
                }
            }
        }
        if let Some(list) = page.at("RESPONSE/GLOSSARY/FV_LIST") {
            for fv in list.children_named("FV") {
                text_mappings.extend(values(fv).into_iter().filter(|v| is_text_mapping_key(v)));
            }
        }
        assert_eq!(
            glossary_labels(page, "DPD_LIST", "DPD"),
            data_points,
            "page {index}"
        );
        assert_eq!(
            glossary_labels(page, "FV_LIST", "FV"),
            fixed_values,
            "page {index}"
        );
        assert_eq!(
            glossary_labels(page, "TP_LIST", "TP"),
            templates,
            "page {index}"
        );
        let keys: BTreeSet<String> = page
            .at("RESPONSE/GLOSSARY/TM_LIST/TM")
            .map(|tm| {
                tm.children_named("PAIR")
                    .iter()
                    .map(|pair| pair.text_at("K"))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(keys, text_mappings, "TM keys of page {index}");
        saw_text_mapping |= !keys.is_empty();

        let glossary_controls = page
            .at("RESPONSE/GLOSSARY/CONTROL_LIST")
            .expect("CONTROL_LIST");
        for control in glossary_controls.children_named("CONTROL") {
            let id = number(control, "ID");
            let used = policy
                .section_controls()
                .find(|used| used.control_id == id)
                .expect("control in the policy");
            assert_eq!(
                control.text_at("CRITICALITY/LABEL"),
                used.criticality.label(),
                "criticality of {id}"
            );
            assert_eq!(
                control.text_at("STATEMENT"),
                data.control(id).expect("control").statement
            );
            assert!(control.at("REFERENCE").is_some(), "no REFERENCE for {id}");
            let rationale_technologies: BTreeSet<u64> = control
                .child("RATIONALE_LIST")
                .expect("RATIONALE_LIST")
                .children_named("RATIONALE")
                .iter()
                .map(|r| number(r, "TECHNOLOGY_ID"))
                .collect();
            assert_eq!(
                Some(&rationale_technologies),
                control_technologies.get(&id),
                "rationales of {id} on page {index}"
            );
        }

        let glossary_hosts = page.at("RESPONSE/GLOSSARY/HOST_LIST").expect("HOST_LIST");
        for element in glossary_hosts.children_named("HOST") {
            let host = data.host(number(element, "ID")).expect("known host");
            assert_eq!(element.text_at("IP"), host.ip);
            assert_eq!(element.at("DNS").map(|e| e.text.clone()), host.dns);
            assert_eq!(element.at("NETBIOS").map(|e| e.text.clone()), host.netbios);
            assert_eq!(element.text_at("OS"), host.os);
            assert_eq!(
                element.text_at("TRACKING_METHOD"),
                host.tracking_method.as_str()
            );
            assert_eq!(element.text_at("LAST_SCAN_DATE"), host.last_scan);
        }
    }
    assert!(saw_text_mapping, "no page with a TM_LIST");
}

#[test]
fn paging_follows_warning_url() {
    let sim = start(SimConfig {
        controls_per_policy: Some(8),
        ..SimConfig::default()
    });
    let policy_id = policies_by_size(&sim)[0];
    let expected: Vec<Posture> = postures_of(&sim, policy_id);
    let expected_ids: Vec<u64> = expected.iter().map(|p| p.id).collect();
    assert!(
        expected_ids.len() > 21,
        "only {} postures",
        expected_ids.len()
    );

    let first_query = format!("policy_id={policy_id}&details=Basic&truncation_limit=7");
    let first = posture_info(&sim, &first_query).xml();
    let warning = first.at("RESPONSE/WARNING").expect("WARNING on page 1");
    assert_eq!(warning.text_at("CODE"), "1980");
    assert_eq!(
        warning.text_at("TEXT"),
        "7 record limit exceeded. Use URL to get next batch of results."
    );
    assert_eq!(
        warning.text_at("URL"),
        format!(
            "{WARNING_URL_ORIGIN}{POSTURE_PATH}?action=list&{first_query}&id_min={}",
            expected_ids[7]
        )
    );

    sim.clear_requests();
    let pages = follow_pages(&sim, &first_query);
    let sizes: Vec<usize> = pages.iter().map(|page| infos(page).len()).collect();
    assert!(
        sizes[..sizes.len() - 1].iter().all(|size| *size == 7),
        "{sizes:?}"
    );
    let collected: Vec<u64> = pages.iter().flat_map(|page| ids(&infos(page))).collect();
    assert_eq!(collected, expected_ids);
    assert!(
        pages
            .last()
            .expect("pages")
            .at("RESPONSE/WARNING")
            .is_none(),
        "WARNING on the last page"
    );

    // With several controls per host, some page ends in the middle of a host's postures.
    let split_hosts = pages
        .windows(2)
        .filter(|pair| {
            let last = infos(&pair[0]).last().map(|i| number(i, "HOST_ID"));
            let first = infos(&pair[1]).first().map(|i| number(i, "HOST_ID"));
            last.is_some() && last == first
        })
        .count();
    assert!(split_hosts > 0, "no page boundary inside a host");

    let requests = sim.requests();
    assert!(requests.iter().all(|r| r.endpoint == Endpoint::PostureInfo));
    let numbers: Vec<u64> = requests.iter().map(|r| r.number).collect();
    assert_eq!(numbers, (1..=pages.len() as u64).collect::<Vec<_>>());

    let unlimited = all_infos(&sim, policy_id, "");
    assert_eq!(ids(&unlimited), expected_ids);
    let default_limit = posture_info(&sim, &format!("policy_id={policy_id}")).xml();
    assert!(default_limit.at("RESPONSE/WARNING").is_none());

    let from_middle = posture_info(
        &sim,
        &format!(
            "policy_id={policy_id}&truncation_limit=0&id_min={}",
            expected_ids[10]
        ),
    )
    .xml();
    assert_eq!(ids(&infos(&from_middle)), expected_ids[10..]);
}

#[test]
fn status_changes_since_after_advance() {
    let sim = start_default();
    let policies = policies_by_size(&sim);
    let before: Vec<Posture> = sim.with_postures(|p| p.iter().collect());
    let candidates = before
        .iter()
        .filter(|p| p.status != PostureStatus::Error)
        .count();

    let changed = sim.advance_days(3, 0.1);
    let clock = sim.clock();
    assert_eq!(clock, "2026-12-07T10:00:00Z");
    assert_eq!(
        changed.len(),
        (candidates as f64 * 0.1).round() as usize,
        "changed of {candidates}"
    );

    let mut returned = Vec::new();
    for policy_id in &policies {
        let page = all_infos(&sim, *policy_id, &format!("&status_changes_since={clock}"));
        for info in &page {
            assert_eq!(info.text_at("POSTURE_MODIFIED_DATE"), clock);
            assert_eq!(info.text_at("EVALUATION_DATE"), clock);
            let status = info.text_at("STATUS");
            let previous = info.text_at("PREVIOUS_STATUS");
            assert_ne!(status, previous, "posture {}", number(info, "ID"));
            let last = if status == "Passed" {
                "LAST_PASS_DATE"
            } else {
                "LAST_FAIL_DATE"
            };
            assert_eq!(info.text_at(last), clock);
        }
        returned.extend(ids(&page));

        let later = all_infos(
            &sim,
            *policy_id,
            "&status_changes_since=2026-12-07T10:00:01Z",
        );
        assert!(later.is_empty(), "postures changed after the clock");
    }
    returned.sort_unstable();
    assert_eq!(returned, changed);

    let after: BTreeMap<u64, Posture> =
        sim.with_postures(|p| p.iter().map(|p| (p.id, p)).collect());
    for old in &before {
        let new = &after[&old.id];
        assert_eq!(new.evaluated, clock, "evaluation of {}", old.id);
        let flipped = changed.binary_search(&old.id).is_ok();
        assert_eq!(new.status != old.status, flipped, "status of {}", old.id);
        if !flipped {
            assert_eq!(new.modified, old.modified, "modification of {}", old.id);
        }
    }
    let hosts_scanned = sim.with_dataset(|data| data.hosts.iter().all(|h| h.last_scan == clock));
    assert!(hosts_scanned, "host scan times not moved");

    let twin = start_default();
    assert_eq!(
        twin.advance_days(3, 0.1),
        changed,
        "flips not deterministic"
    );
    assert!(sim.advance_days(1, 0.0).is_empty());
    assert_eq!(sim.clock(), "2026-12-08T10:00:00Z");
}

#[test]
fn evaluation_date_filter() {
    let sim = start_default();
    let policy_id = policies_by_size(&sim)[0];
    let postures = postures_of(&sim, policy_id);
    let mut dates: Vec<String> = postures.iter().map(|p| p.evaluated.clone()).collect();
    dates.sort();
    dates.dedup();
    assert!(dates.len() >= 3, "evaluation dates {dates:?}");
    let threshold = &dates[dates.len() / 2];
    let expected: Vec<u64> = postures
        .iter()
        .filter(|p| p.evaluated >= *threshold)
        .map(|p| p.id)
        .collect();
    let page = all_infos(&sim, policy_id, &format!("&evaluation_date={threshold}"));
    assert_eq!(ids(&page), expected);
    assert!(
        expected.len() < postures.len(),
        "filter selected everything"
    );

    let day = &threshold[..10];
    let expected_day: Vec<u64> = postures
        .iter()
        .filter(|p| p.evaluated.as_str() >= day)
        .map(|p| p.id)
        .collect();
    let page = all_infos(&sim, policy_id, &format!("&evaluation_date={day}"));
    assert_eq!(ids(&page), expected_day);
}

#[test]
fn status_filter() {
    let sim = start_default();
    let mut seen = BTreeSet::new();
    for policy_id in policies_by_size(&sim) {
        let postures = postures_of(&sim, policy_id);
        for status in [
            PostureStatus::Passed,
            PostureStatus::Failed,
            PostureStatus::Error,
        ] {
            let expected: Vec<u64> = postures
                .iter()
                .filter(|p| p.status == status)
                .map(|p| p.id)
                .collect();
            let page = all_infos(&sim, policy_id, &format!("&status={}", status.as_str()));
            assert_eq!(ids(&page), expected, "{status:?} of {policy_id}");
            if !expected.is_empty() {
                seen.insert(status);
            }
        }
    }
    assert_eq!(seen.len(), 3, "statuses seen: {seen:?}");
}

#[test]
fn control_and_host_filters() {
    let sim = start(SimConfig {
        controls_per_policy: Some(8),
        ..SimConfig::default()
    });
    let policy_id = policies_by_size(&sim)[0];
    let postures = postures_of(&sim, policy_id);
    let controls: BTreeSet<u64> = postures.iter().map(|p| p.key.control_id).collect();
    let controls: Vec<u64> = controls.into_iter().collect();
    assert!(controls.len() >= 3);

    let (first, second) = (controls[0], controls[2]);
    let query = format!("&control_ids={first},{}-{}", second, second);
    let expected: Vec<u64> = postures
        .iter()
        .filter(|p| p.key.control_id == first || p.key.control_id == second)
        .map(|p| p.id)
        .collect();
    assert_eq!(ids(&all_infos(&sim, policy_id, &query)), expected);

    let expected: Vec<u64> = postures
        .iter()
        .filter(|p| (1002..=1004).contains(&p.key.host_id) || p.key.host_id == 1009)
        .map(|p| p.id)
        .collect();
    assert!(!expected.is_empty());
    let page = all_infos(&sim, policy_id, "&host_ids=1002-1004,1009");
    assert_eq!(ids(&page), expected);
    let glossary = posture_info(
        &sim,
        &format!("policy_id={policy_id}&truncation_limit=0&host_ids=1002-1004,1009"),
    )
    .xml();
    let hosts = glossary_ids(&glossary, "HOST_LIST", "HOST");
    assert!(
        hosts
            .iter()
            .all(|id| (1002..=1004).contains(id) || *id == 1009)
    );

    let both = all_infos(
        &sim,
        policy_id,
        &format!("&host_ids=1002-1004,1009&control_ids={first}"),
    );
    assert!(
        both.iter()
            .all(|i| number(i, "CONTROL_ID") == first && number(i, "HOST_ID") != 1001)
    );

    let by_ip = all_infos(&sim, policy_id, "&ips=10.0.0.2-10.0.0.4,10.0.0.9");
    assert_eq!(ids(&by_ip), expected, "ips filter");

    let data = sim.with_dataset(|data| data.clone());
    let policy = data.policy(policy_id).expect("policy");
    let serious: BTreeSet<u64> = policy
        .section_controls()
        .filter(|used| used.criticality.value() >= 3)
        .map(|used| used.control_id)
        .collect();
    let expected: Vec<u64> = postures
        .iter()
        .filter(|p| serious.contains(&p.key.control_id))
        .map(|p| p.id)
        .collect();
    let by_value = all_infos(&sim, policy_id, "&criticality_values=3,4,5");
    assert_eq!(ids(&by_value), expected, "criticality_values");
    let by_label = all_infos(
        &sim,
        policy_id,
        "&criticality_labels=SERIOUS,CRITICAL,URGENT",
    );
    assert_eq!(ids(&by_label), expected, "criticality_labels");
}

#[test]
fn same_control_two_policies() {
    let sim = start_default();
    let data = sim.with_dataset(|data| data.clone());
    let all: Vec<Posture> = sim.with_postures(|p| p.iter().collect());
    let mut by_target: BTreeMap<(u64, u64, u64, Option<String>), Vec<&Posture>> = BTreeMap::new();
    for posture in &all {
        let key = &posture.key;
        by_target
            .entry((
                key.host_id,
                key.control_id,
                key.technology_id,
                key.instance.clone(),
            ))
            .or_default()
            .push(posture);
    }
    let criticality = |policy_id: u64, control_id: u64| {
        data.policy(policy_id)
            .and_then(|p| p.section_controls().find(|c| c.control_id == control_id))
            .map(|c| c.criticality)
    };
    let shared: Vec<&Vec<&Posture>> = by_target.values().filter(|p| p.len() >= 2).collect();
    assert!(!shared.is_empty(), "no control evaluated in two policies");
    let pair = shared
        .iter()
        .find(|postures| {
            let control = postures[0].key.control_id;
            criticality(postures[0].key.policy_id, control)
                != criticality(postures[1].key.policy_id, control)
        })
        .unwrap_or(&shared[0]);

    let control_id = pair[0].key.control_id;
    let host_id = pair[0].key.host_id;
    let mut seen_ids = BTreeSet::new();
    for posture in pair.iter().take(2) {
        let policy_id = posture.key.policy_id;
        let reply = posture_info(
            &sim,
            &format!(
                "policy_id={policy_id}&truncation_limit=0&control_ids={control_id}&host_ids={host_id}"
            ),
        );
        let root = reply.xml();
        let page = infos(&root);
        assert!(ids(&page).contains(&posture.id), "{} missing", posture.id);
        seen_ids.insert(posture.id);
        let control = root
            .at("RESPONSE/GLOSSARY/CONTROL_LIST/CONTROL")
            .expect("glossary control");
        assert_eq!(
            Some(control.text_at("CRITICALITY/LABEL")),
            criticality(policy_id, control_id).map(|c| c.label().to_string()),
            "criticality in policy {policy_id}"
        );
    }
    assert_eq!(seen_ids.len(), 2, "the two policies share a posture id");
}

#[test]
fn five_instances_five_postures() {
    let sim = start_default();
    let data = sim.with_dataset(|data| data.clone());
    let host = data
        .hosts
        .iter()
        .find(|h| h.databases.iter().any(|d| d.instances.len() == 5))
        .expect("a host with five instances")
        .clone();
    let database = host
        .databases
        .iter()
        .find(|d| d.instances.len() == 5)
        .expect("database");
    let expected_instances: Vec<String> = (1..=5).map(|n| format!("oracle19c:ORCL{n}")).collect();
    assert_eq!(database.instances, expected_instances);

    let all: Vec<Posture> = sim.with_postures(|p| p.iter().collect());
    let mut groups: BTreeMap<(u64, u64), Vec<&Posture>> = BTreeMap::new();
    for posture in all
        .iter()
        .filter(|p| p.key.host_id == host.id && p.key.technology_id == database.technology_id)
    {
        groups
            .entry((posture.key.policy_id, posture.key.control_id))
            .or_default()
            .push(posture);
    }
    assert!(
        !groups.is_empty(),
        "no database posture on host {}",
        host.id
    );
    for ((policy_id, control_id), postures) in &groups {
        let instances: Vec<String> = postures
            .iter()
            .map(|p| p.key.instance.clone().expect("instance"))
            .collect();
        assert_eq!(instances, expected_instances, "{policy_id}/{control_id}");
    }

    let ((policy_id, control_id), _) = groups.iter().next().expect("group");
    let page = all_infos(
        &sim,
        *policy_id,
        &format!("&control_ids={control_id}&host_ids={}", host.id),
    );
    let instances: Vec<String> = page
        .iter()
        .filter(|i| number(i, "TECHNOLOGY_ID") == database.technology_id)
        .map(|i| i.text_at("INSTANCE"))
        .collect();
    assert_eq!(instances, expected_instances);
    assert!(
        all.iter().any(|p| p.key.instance.is_none()),
        "no operating-system posture"
    );
}

#[test]
fn evidence_special_cases_present() {
    let sim = start_default();
    let mut found: Vec<String> = Vec::new();
    let mut templates: Vec<String> = Vec::new();
    let mut remediations: Vec<String> = Vec::new();
    let mut raw_split = false;

    for policy_id in policies_by_size(&sim) {
        let reply = posture_info(
            &sim,
            &format!(
                "policy_id={policy_id}&truncation_limit=0&details=All&show_remediation_info=1\
                 &show_extended_evidence=1&include_dp_name=1"
            ),
        );
        raw_split |= reply.body.contains("]]]]><![CDATA[>");
        let root = reply.xml();

        for info in infos(&root) {
            let dpvs = info.at("EVIDENCE/DPV_LIST").expect("DPV_LIST");
            for dpv in dpvs.children_named("DPV") {
                found.extend(values(dpv));
            }
            assert!(
                info.text_at("EVIDENCE/EXTENDED_EVIDENCE").contains('\n'),
                "one-line extended evidence"
            );
            remediations.push(info.text_at("REMEDIATION"));
        }

        if let Some(list) = root.at("RESPONSE/GLOSSARY/TP_LIST") {
            for tp in list.children_named("TP") {
                templates.extend(values(tp));
            }
        }
    }

    for (name, values) in [("DPV", &found), ("TP", &templates)] {
        assert!(
            values.iter().any(|v| v.contains('\n')),
            "no multi-line {name} value"
        );
        assert!(
            values.iter().any(|v| v.contains("Müller")),
            "no {name} value with Müller"
        );
        assert!(
            values.iter().any(|v| v.contains("日本語")),
            "no {name} value with 日本語"
        );
        assert!(
            values.iter().any(|v| v.contains("]]>")),
            "no {name} value with ]]>"
        );
        assert!(
            values.iter().all(|v| !v.contains(&INVALID_CHARS[..])),
            "{name} value with an invalid character without the knob"
        );
    }
    assert!(raw_split, "no CDATA section split around ]]>");
    assert!(
        remediations.iter().all(|r| r.contains('\n')),
        "one-line remediation"
    );
}

#[test]
fn invalid_char_knob() {
    let every = 4;
    let sim = start(SimConfig {
        invalid_char_every: Some(every),
        ..SimConfig::default()
    });
    let mut tainted = 0;
    for policy_id in policies_by_size(&sim) {
        let body = posture_info(
            &sim,
            &format!("policy_id={policy_id}&truncation_limit=0&details=All"),
        )
        .body;
        for segment in body.split("<INFO>").skip(1) {
            let id: u64 = segment
                .split("<ID>")
                .nth(1)
                .and_then(|rest| rest.split("</ID>").next())
                .and_then(|id| id.parse().ok())
                .expect("INFO with ID");
            let has_invalid = segment.contains(&INVALID_CHARS[..]);
            let expected = (id - 5_000_000).is_multiple_of(every);
            assert_eq!(has_invalid, expected, "posture {id}");
            tainted += usize::from(has_invalid);
        }

        let basic = posture_info(&sim, &format!("policy_id={policy_id}&truncation_limit=0")).body;
        assert!(
            !basic.contains(&INVALID_CHARS[..]),
            "invalid character without evidence"
        );
    }
    assert!(
        tainted > 10,
        "only {tainted} postures with invalid characters"
    );

    assert_eq!(sim.with_postures(|p| p.invalid_char_every()), Some(every));
    sim.with_postures(|p| p.set_invalid_char_every(None));
    for policy_id in policies_by_size(&sim) {
        let body = posture_info(
            &sim,
            &format!("policy_id={policy_id}&truncation_limit=0&details=All"),
        )
        .body;
        assert!(!body.contains(&INVALID_CHARS[..]), "knob still active");
    }
}

#[test]
fn glossary_gap_leaves_entries_out() {
    let sim = start_default();
    let policy_id = policies_by_size(&sim)[0];
    let postures = postures_of(&sim, policy_id);
    let host_id = postures[0].key.host_id;
    let technology_id = postures[0].key.technology_id;
    let control_id = postures[0].key.control_id;
    sim.with_dataset(|data| {
        data.glossary_gaps.hosts.insert(host_id);
        data.glossary_gaps.technologies.insert(technology_id);
    });

    let root = posture_info(&sim, &format!("policy_id={policy_id}&truncation_limit=0")).xml();
    let page = infos(&root);
    assert!(page.iter().any(|i| number(i, "HOST_ID") == host_id));
    assert!(!glossary_ids(&root, "HOST_LIST", "HOST").contains(&host_id));
    assert!(!glossary_ids(&root, "TECHNOLOGY_LIST", "TECHNOLOGY").contains(&technology_id));
    let referenced_hosts: BTreeSet<u64> = page.iter().map(|i| number(i, "HOST_ID")).collect();
    assert_eq!(
        glossary_ids(&root, "HOST_LIST", "HOST").len(),
        referenced_hosts.len() - 1
    );
    let controls = root
        .at("RESPONSE/GLOSSARY/CONTROL_LIST")
        .expect("CONTROL_LIST");
    for control in controls.children_named("CONTROL") {
        if let Some(list) = control.child("RATIONALE_LIST") {
            for rationale in list.children_named("RATIONALE") {
                assert_ne!(number(rationale, "TECHNOLOGY_ID"), technology_id);
            }
        }
    }

    sim.with_dataset(|data| {
        data.glossary_gaps.controls.insert(control_id);
    });
    let root = posture_info(&sim, &format!("policy_id={policy_id}&truncation_limit=0")).xml();
    assert!(!glossary_ids(&root, "CONTROL_LIST", "CONTROL").contains(&control_id));
    assert!(
        infos(&root)
            .iter()
            .any(|i| number(i, "CONTROL_ID") == control_id)
    );
}

#[test]
fn details_levels() {
    let sim = start_default();
    let policy_id = policies_by_size(&sim)[0];
    let query = |details: &str| {
        posture_info(
            &sim,
            &format!(
                "policy_id={policy_id}&truncation_limit=0&details={details}\
                 &show_remediation_info=1&cause_of_failure=1"
            ),
        )
        .xml()
    };

    let none = query("None");
    assert!(none.at("RESPONSE/GLOSSARY").is_none(), "GLOSSARY with None");
    for info in infos(&none) {
        let names = child_names(&info);
        let expected: Vec<&str> = [
            "ID",
            "HOST_ID",
            "CONTROL_ID",
            "TECHNOLOGY_ID",
            "INSTANCE",
            "STATUS",
        ]
        .into_iter()
        .filter(|name| *name != "INSTANCE" || info.at("INSTANCE").is_some())
        .collect();
        assert_eq!(names, expected);
    }

    let light = query("Light");
    let basic = query("Basic");
    let all = query("All");
    for root in [&light, &basic] {
        assert!(infos(root).iter().all(|i| i.at("EVIDENCE").is_none()));
        assert!(infos(root).iter().all(|i| i.at("REMEDIATION").is_some()));
    }
    let rationale_lists = |root: &Element| {
        root.at("RESPONSE/GLOSSARY/CONTROL_LIST")
            .expect("CONTROL_LIST")
            .children_named("CONTROL")
            .iter()
            .filter(|c| c.at("RATIONALE_LIST").is_some())
            .count()
    };
    assert_eq!(rationale_lists(&light), 0, "RATIONALE_LIST with Light");
    assert!(rationale_lists(&basic) > 0, "no RATIONALE_LIST with Basic");
    assert!(
        basic.at("RESPONSE/GLOSSARY/TP_LIST").is_none(),
        "TP_LIST with Basic"
    );
    assert!(
        infos(&all)
            .iter()
            .all(|i| i.at("EVIDENCE/BOOLEAN_EXPR").is_some())
    );
    assert!(
        infos(&all)
            .iter()
            .all(|i| i.at("EVIDENCE/EXTENDED_EVIDENCE").is_none()),
        "EXTENDED_EVIDENCE without show_extended_evidence"
    );
    for info in infos(&basic) {
        let failed = info.text_at("STATUS") == "Failed";
        assert_eq!(
            info.at("CAUSE_OF_FAILURE").is_some(),
            failed,
            "{}",
            info.text_at("ID")
        );
    }

    let hidden = posture_info(
        &sim,
        &format!("policy_id={policy_id}&details=All&hide_evidence=1"),
    )
    .xml();
    assert!(infos(&hidden).iter().all(|i| i.at("EVIDENCE").is_none()));
    assert!(
        all.at("RESPONSE/GLOSSARY/DPD_LIST").is_none(),
        "DPD_LIST without include_dp_name"
    );
}

#[test]
fn set_status_by_key() {
    let sim = start_default();
    let policy_id = policies_by_size(&sim)[0];
    let target = postures_of(&sim, policy_id)
        .into_iter()
        .find(|p| p.status == PostureStatus::Passed)
        .expect("a Passed posture");
    let at = "2026-12-05T08:00:00Z";
    let id = sim
        .with_postures(|p| p.set_status(&target.key, PostureStatus::Failed, at))
        .expect("status set");
    assert_eq!(id, target.id);

    let page = all_infos(&sim, policy_id, "&status_changes_since=2026-12-05");
    assert_eq!(ids(&page), [target.id]);
    let info = &page[0];
    assert_eq!(info.text_at("STATUS"), "Failed");
    assert_eq!(info.text_at("PREVIOUS_STATUS"), "Passed");
    assert_eq!(info.text_at("POSTURE_MODIFIED_DATE"), at);
    assert_eq!(info.text_at("LAST_FAIL_DATE"), at);
    assert_eq!(
        info.text_at("LAST_PASS_DATE"),
        target.last_pass.clone().expect("passed")
    );

    let unknown = PostureKey {
        host_id: 999_999,
        ..target.key.clone()
    };
    let error = sim.with_postures(|p| p.set_status(&unknown, PostureStatus::Failed, at));
    assert_eq!(error, Err(PostureError::NotFound(unknown)));
    let error = sim.with_postures(|p| p.set_status(&target.key, PostureStatus::Passed, "soon"));
    assert_eq!(error, Err(PostureError::InvalidTime("soon".to_string())));
}

#[test]
fn parameter_errors_rejected() {
    let sim = start_default();
    let policy_id = policies_by_size(&sim)[0];
    let cases: Vec<(String, u32)> = vec![
        (String::new(), 1903),
        (format!("policy_ids={policy_id}"), 1907),
        (format!("policy_id={policy_id}&policy_ids=1,2"), 1907),
        ("policy_id=1".to_string(), 1905),
        ("policy_id=abc".to_string(), 1905),
        ("policy_id=0".to_string(), 1905),
        (format!("policy_id={policy_id}&status=passed"), 1905),
        (format!("policy_id={policy_id}&details=Full"), 1905),
        (format!("policy_id={policy_id}&truncation_limit=-1"), 1905),
        (
            format!("policy_id={policy_id}&status_changes_since=yesterday"),
            1905,
        ),
        (
            format!("policy_id={policy_id}&evaluation_date=2026-02-30"),
            1905,
        ),
        (format!("policy_id={policy_id}&control_ids=5-1"), 1905),
        (format!("policy_id={policy_id}&host_ids=a"), 1905),
        (format!("policy_id={policy_id}&ips=10.0.0.300"), 1905),
        (format!("policy_id={policy_id}&criticality_values=9"), 1905),
        (
            format!("policy_id={policy_id}&show_remediation_info=yes"),
            1905,
        ),
        (format!("policy_id={policy_id}&id_min=%FF"), 1905),
        (format!("policy_id={policy_id}&colour=blue"), 1901),
        (
            format!("policy_id={policy_id}&show_extended_evidence=1&hide_evidence=1"),
            1907,
        ),
    ];
    for (query, code) in cases {
        let reply = posture_info(&sim, &query);
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        let root = reply.xml();
        assert_eq!(root.name, "SIMPLE_RETURN", "{query}");
        assert_eq!(root.text_at("RESPONSE/CODE"), code.to_string(), "{query}");
    }
    assert_eq!(
        posture_info(&sim, &format!("policy_id={policy_id}")).status,
        200,
        "server stopped answering"
    );
}

#[test]
fn inactive_policy_has_no_postures() {
    let sim = start_default();
    let inactive = sim.with_dataset(|data| {
        data.policies
            .iter()
            .find(|p| p.status == qualys_sim::PolicyStatus::Inactive)
            .map(|p| p.id)
            .expect("an inactive policy")
    });
    let reply = posture_info(&sim, &format!("policy_id={inactive}"));
    assert_eq!(reply.status, 200);
    let root = reply.xml();
    assert_eq!(
        child_names(root.child("RESPONSE").expect("RESPONSE")),
        ["DATETIME"]
    );
}

#[test]
fn versions_and_post_served() {
    let sim = start_default();
    let policy_id = policies_by_size(&sim)[0];
    let expected = posture_info(&sim, &format!("policy_id={policy_id}")).body;
    for version in ["2.0", "3.0", "4.0", "5.0"] {
        let reply = get(
            &sim,
            &format!(
                "/api/{version}/fo/compliance/posture/info/?action=list&policy_id={policy_id}"
            ),
        );
        assert_eq!(reply.status, 200, "version {version}");
        assert_eq!(reply.body, expected, "version {version}");
    }
    let reply = get(
        &sim,
        &format!("/api/1.0/fo/compliance/posture/info/?action=list&policy_id={policy_id}"),
    );
    assert_eq!(reply.status, 404);

    let reply = send(
        client()
            .post(format!("{}{POSTURE_PATH}", sim.base_url()))
            .basic_auth(USERNAME, Some(PASSWORD))
            .header("X-Requested-With", "test")
            .form(&[("action", "list"), ("policy_id", &policy_id.to_string())]),
    );
    assert_eq!(reply.status, 200, "body: {}", reply.body);
    assert_eq!(reply.body, expected);

    let unauthorized = send(
        client()
            .get(format!(
                "{}{POSTURE_PATH}?action=list&policy_id={policy_id}",
                sim.base_url()
            ))
            .basic_auth(USERNAME, Some("wrong"))
            .header("X-Requested-With", "test"),
    );
    assert_eq!(unauthorized.status, 401);
}

#[test]
fn faults_apply_to_posture_info() {
    let sim = start_default();
    let policy_id = policies_by_size(&sim)[0];
    let query = format!("policy_id={policy_id}&truncation_limit=0");
    let normal = posture_info(&sim, &query).body;
    sim.clear_requests();

    sim.inject(FaultRule::new(Endpoint::PostureInfo, Fault::ServerError(503)).on_request(1));
    sim.inject(
        FaultRule::new(
            Endpoint::PostureInfo,
            Fault::KeepAliveWhitespace { bytes: 100 },
        )
        .on_request(2),
    );
    sim.inject(
        FaultRule::new(
            Endpoint::PostureInfo,
            Fault::SlowBody {
                chunk_bytes: 4096,
                delay_ms: 1,
            },
        )
        .on_request(3),
    );
    sim.inject(FaultRule::new(Endpoint::PolicyList, Fault::ServerError(500)).times(1));

    let first = posture_info(&sim, &query);
    assert_eq!(first.status, 503);
    assert_eq!(first.header("x-ratelimit-limit"), Some("300"));
    let second = posture_info(&sim, &query);
    assert_eq!(second.status, 200);
    assert_eq!(second.body.trim_start(), normal);
    assert!(second.body.len() > normal.len());
    let third = posture_info(&sim, &query);
    assert_eq!(third.body, normal);
    let fourth = posture_info(&sim, &query);
    assert_eq!(fourth.body, normal);

    let recorded: Vec<(Endpoint, u64, u16)> = sim
        .requests()
        .iter()
        .map(|r| (r.endpoint, r.number, r.status))
        .collect();
    assert_eq!(
        recorded,
        [
            (Endpoint::PostureInfo, 1, 503),
            (Endpoint::PostureInfo, 2, 200),
            (Endpoint::PostureInfo, 3, 200),
            (Endpoint::PostureInfo, 4, 200),
        ]
    );
}

#[test]
fn regenerate_after_dataset_change() {
    let sim = start_default();
    let before = sim.with_postures(|p| p.len());
    sim.with_dataset(|data| {
        let mut host = data.hosts[0].clone();
        host.id = 5_000;
        host.ip = "10.9.9.9".to_string();
        data.hosts.push(host);
    });
    assert_eq!(
        sim.with_postures(|p| p.len()),
        before,
        "postures changed early"
    );
    sim.regenerate_postures();
    let all: Vec<Posture> = sim.with_postures(|p| p.iter().collect());
    assert!(all.len() > before, "no posture for the new host");
    assert!(all.iter().any(|p| p.key.host_id == 5_000));
}

#[test]
fn size_knobs_reach_twenty_thousand() {
    let config = SimConfig {
        policies: 1,
        controls: 300,
        controls_per_policy: Some(300),
        hosts: 200,
        ..SimConfig::default()
    };
    let dataset = Dataset::from_config(&config);
    let postures = Postures::generate(&dataset, config.seed);
    let policy_id = postures.policy_ids()[0];
    let count = postures.count(policy_id);
    assert!((15_000..30_000).contains(&count), "{count} postures");
    let policy = dataset.policy(policy_id).expect("policy");
    assert_eq!(policy.control_ids.len(), 300);
}

#[test]
fn long_request_line_gets_414() {
    let sim = start_default();
    let policy = policies_by_size(&sim)[0];
    let hosts: Vec<String> = (1_000_000..1_001_200u64).map(|id| id.to_string()).collect();
    let short = format!(
        "action=list&policy_id={policy}&host_ids={}",
        hosts[..10].join(",")
    );
    assert_eq!(posture_info(&sim, &short).status, 200);

    let long = format!(
        "action=list&policy_id={policy}&host_ids={}",
        hosts.join(",")
    );
    let reply = posture_info(&sim, &long);
    assert_eq!(reply.status, 414);
    assert!(
        reply.body.contains("Request-URI Too Long"),
        "{}",
        reply.body
    );

    let requests = sim.requests();
    let recorded = requests.last().unwrap();
    assert_eq!(recorded.status, 414);
    assert!(
        recorded.target.starts_with(POSTURE_PATH),
        "{}",
        recorded.target
    );
    assert!(
        recorded.target.len() > qualys_sim::MAX_REQUEST_LINE,
        "{}",
        recorded.target.len()
    );
}
