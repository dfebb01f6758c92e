//! Qualys PC Policies Detail and Qualys PC Controls through the real binary.

use std::collections::{BTreeMap, BTreeSet};

use pcsync::JobId;
use qualys_sim::{Criticality, Dataset, Endpoint, PolicyStatus};

use crate::harness::{Setup, assert_success, stderr, stdout};

/// (policy id, control id) → (section number, criticality label) of every link an export of
/// the active policies returns, user-defined controls left out.
fn expected_links(dataset: &Dataset) -> BTreeMap<(u64, u64), (String, &'static str)> {
    let mut links = BTreeMap::new();
    for policy in &dataset.policies {
        if policy.status != PolicyStatus::Active {
            continue;
        }
        for section in &policy.sections {
            for link in &section.controls {
                let user_defined = dataset
                    .control(link.control_id)
                    .is_some_and(|control| control.user_defined);
                if !user_defined {
                    links.insert(
                        (policy.id, link.control_id),
                        (section.number.clone(), link.criticality.label()),
                    );
                }
            }
        }
    }
    links
}

fn stored_links(setup: &Setup) -> BTreeMap<(u64, u64), (String, String)> {
    let pcsync = setup.open();
    let mut links = BTreeMap::new();
    for policy in pcsync.store().policies().unwrap() {
        for link in pcsync.store().policy_tests(policy.data.id).unwrap() {
            if link.present {
                links.insert(
                    (link.data.policy_id, link.data.control_id),
                    (
                        link.data.section_number.clone().unwrap_or_default(),
                        link.data
                            .criticality
                            .as_ref()
                            .map(|criticality| criticality.label.clone())
                            .unwrap_or_default(),
                    ),
                );
            }
        }
    }
    links
}

fn run_line(setup: &Setup, job: &str) -> String {
    let output = setup.pcsync(&["run", job]);
    assert_success(&output);
    stdout(&output)
}

fn export_ids(setup: &Setup) -> BTreeSet<u64> {
    setup
        .simulator
        .requests()
        .iter()
        .filter(|request| request.endpoint == Endpoint::PolicyExport)
        .filter_map(|request| request.param("id").and_then(|id| id.parse().ok()))
        .collect()
}

#[test]
fn details_store_every_link_with_its_criticality() {
    let setup = Setup::new(25, 100);
    run_line(&setup, "pc-policies");
    let text = run_line(&setup, "pc-policy-details");

    let dataset = setup.simulator.with_dataset(|dataset| dataset.clone());
    let expected = expected_links(&dataset);
    let stored = stored_links(&setup);
    assert_eq!(stored.len(), expected.len());
    for (key, (section, label)) in &expected {
        let (stored_section, stored_label) = &stored[key];
        assert_eq!(stored_section, section, "{key:?}");
        assert_eq!(stored_label, label, "{key:?}");
    }

    let inactive = dataset
        .policies
        .iter()
        .filter(|policy| policy.status != PolicyStatus::Active)
        .count();
    assert!(inactive > 0, "the data set has inactive policies");
    assert!(text.contains(&format!("skipped {inactive}")), "{text}");
    let pcsync = setup.open();
    let run = &pcsync.store().runs(Some(JobId::PcPolicyDetails)).unwrap()[0];
    assert_eq!(run.counts.skipped, inactive as u64);

    let technologies = pcsync.store().technologies().unwrap();
    assert!(!technologies.is_empty());
    for technology in technologies {
        let source = dataset
            .technology(technology.data.id)
            .expect("known technology");
        assert_eq!(technology.data.name, source.name);
    }
}

#[test]
fn shared_control_keeps_both_criticalities() {
    let setup = Setup::new(25, 100);
    run_line(&setup, "pc-policies");
    run_line(&setup, "pc-policy-details");

    let dataset = setup.simulator.with_dataset(|dataset| dataset.clone());
    let expected = expected_links(&dataset);
    let mut by_control: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for ((_, control), (_, label)) in &expected {
        by_control.entry(*control).or_default().insert(label);
    }
    let shared = by_control
        .iter()
        .find(|(_, labels)| labels.len() > 1)
        .map(|(control, _)| *control)
        .expect("the data set shares a control with different criticalities");

    let stored = stored_links(&setup);
    let stored_labels: BTreeSet<_> = stored
        .iter()
        .filter(|((_, control), _)| *control == shared)
        .map(|(_, (_, label))| label.as_str())
        .collect();
    assert_eq!(stored_labels, by_control[&shared]);
}

#[test]
fn inactive_and_disabled_policies_are_not_exported() {
    let setup = Setup::new(25, 100);
    run_line(&setup, "pc-policies");
    let dataset = setup.simulator.with_dataset(|dataset| dataset.clone());
    let active: Vec<u64> = dataset
        .policies
        .iter()
        .filter(|policy| policy.status == PolicyStatus::Active)
        .map(|policy| policy.id)
        .collect();
    let disabled = active[1];
    let output = setup.pcsync(&["policies", "disable-import", &disabled.to_string()]);
    assert_success(&output);

    run_line(&setup, "pc-policy-details");
    let exported = export_ids(&setup);
    let expected: BTreeSet<u64> = active
        .iter()
        .copied()
        .filter(|id| *id != disabled)
        .collect();
    assert_eq!(exported, expected);

    let inactive = dataset.policies.len() - active.len();
    let pcsync = setup.open();
    let run = &pcsync.store().runs(Some(JobId::PcPolicyDetails)).unwrap()[0];
    assert_eq!(run.counts.skipped, inactive as u64 + 1);
    drop(pcsync);

    assert_success(&setup.pcsync(&["policies", "enable-import", &disabled.to_string()]));
    setup.simulator.clear_requests();
    run_line(&setup, "pc-policy-details");
    assert!(export_ids(&setup).contains(&disabled));
}

#[test]
fn export_error_is_a_warning_for_that_policy() {
    let setup = Setup::new(25, 100);
    run_line(&setup, "pc-policies");
    run_line(&setup, "pc-policy-details");
    let before = stored_links(&setup);

    let failing = setup.simulator.with_dataset(|dataset| {
        let policy = dataset
            .policies
            .iter_mut()
            .find(|policy| {
                policy.status == PolicyStatus::Active
                    && policy
                        .sections
                        .iter()
                        .any(|section| section.controls.len() > 1)
            })
            .expect("an active policy with a section of two controls");
        // Its links must stay as they were although it lost a control in Qualys.
        policy.sections[0].controls.pop();
        let id = policy.id;
        dataset
            .export_failures
            .insert(id, (1905, format!("Policy ID {id} is not accessible.")));
        id
    });

    let output = setup.pcsync(&["run", "pc-policy-details"]);
    assert_success(&output);
    let pcsync = setup.open();
    let run = &pcsync.store().runs(Some(JobId::PcPolicyDetails)).unwrap()[0];
    assert!(
        run.warnings
            .iter()
            .any(|warning| warning.contains(&failing.to_string()) && warning.contains("1905")),
        "{:?}",
        run.warnings
    );
    assert_eq!(run.counts.inactive, 0);
    drop(pcsync);
    assert_eq!(
        stored_links(&setup),
        before,
        "nothing of the failed policy changed"
    );
}

#[test]
fn details_rerun_and_change_count_exactly() {
    let setup = Setup::new(25, 100);
    run_line(&setup, "pc-policies");
    run_line(&setup, "pc-policy-details");

    let text = run_line(&setup, "pc-policy-details");
    assert!(text.contains("new 0  updated 0"), "{text}");
    assert!(text.contains("inactive 0"), "{text}");

    let (changed_policy, removed_control) = setup.simulator.with_dataset(|dataset| {
        let policy = dataset
            .policies
            .iter_mut()
            .find(|policy| {
                policy.status == PolicyStatus::Active
                    && policy
                        .sections
                        .iter()
                        .map(|s| s.controls.len())
                        .sum::<usize>()
                        >= 2
            })
            .unwrap();
        let section = policy
            .sections
            .iter_mut()
            .find(|section| !section.controls.is_empty())
            .unwrap();
        let removed = section.controls.remove(0).control_id;
        let first = policy
            .sections
            .iter_mut()
            .flat_map(|section| section.controls.iter_mut())
            .next()
            .unwrap();
        first.criticality = if first.criticality == Criticality::Urgent {
            Criticality::Minimal
        } else {
            Criticality::Urgent
        };
        (policy.id, removed)
    });
    let removed_was_user_defined = setup
        .simulator
        .with_dataset(|dataset| dataset.control(removed_control).unwrap().user_defined);

    // Positions count from the start of the export, so every exported link after the removed
    // one moves up by one and is updated too; the first of them also changed criticality.
    let remaining = setup.simulator.with_dataset(|dataset| {
        dataset
            .policy(changed_policy)
            .unwrap()
            .section_controls()
            .filter(|link| !dataset.control(link.control_id).unwrap().user_defined)
            .count()
    });
    let expected_updated = if removed_was_user_defined {
        1
    } else {
        remaining
    };
    let text = run_line(&setup, "pc-policy-details");
    assert!(
        text.contains(&format!("new 0  updated {expected_updated}")),
        "{text}"
    );
    let expected_inactive = if removed_was_user_defined { 0 } else { 1 };
    assert!(
        text.contains(&format!("inactive {expected_inactive}")),
        "{text}"
    );
    let stored = stored_links(&setup);
    assert!(!stored.contains_key(&(changed_policy, removed_control)));
}

#[test]
fn user_controls_only_when_asked() {
    let setup = Setup::with_extra(
        25,
        100,
        "[jobs.pc-policy-details]\nshow_user_controls = true\n",
    );
    run_line(&setup, "pc-policies");
    run_line(&setup, "pc-policy-details");

    let requests = setup.simulator.requests();
    assert!(
        requests
            .iter()
            .filter(|request| request.endpoint == Endpoint::PolicyExport)
            .all(|request| request.param("show_user_controls") == Some("1"))
    );
    let dataset = setup.simulator.with_dataset(|dataset| dataset.clone());
    let user_links = stored_links(&setup)
        .keys()
        .filter(|(_, control)| dataset.control(*control).is_some_and(|c| c.user_defined))
        .count();
    assert!(user_links > 0, "user-defined controls are linked");
}

#[test]
fn controls_page_and_snapshot() {
    let setup = Setup::with_extra(25, 100, "[jobs.pc-controls]\ntruncation_limit = 15\n");
    let dataset = setup.simulator.with_dataset(|dataset| dataset.clone());
    assert!(
        dataset.controls.len() > 30 && dataset.controls.len() <= 45,
        "three pages of 15"
    );

    let text = run_line(&setup, "pc-controls");
    assert!(text.contains("pages 3"), "{text}");
    let requests: Vec<_> = setup
        .simulator
        .requests()
        .into_iter()
        .filter(|request| request.endpoint == Endpoint::ControlList)
        .collect();
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|request| request.param("details") == Some("All"))
    );
    assert_eq!(requests[1].param("truncation_limit"), Some("15"));
    assert!(
        requests[1].param("id_min").is_some(),
        "follow-up re-rooted with id_min"
    );

    let pcsync = setup.open();
    let controls = pcsync.store().controls().unwrap();
    assert_eq!(controls.len(), dataset.controls.len());
    for row in &controls {
        let source = dataset.control(row.data.id).unwrap();
        assert_eq!(row.data.statement, source.statement.trim());
        let criticality = row.data.criticality.as_ref().unwrap();
        assert_eq!(criticality.label, source.criticality.label());
        assert_eq!(criticality.value, source.criticality.value());
        assert_eq!(row.data.category.as_ref().unwrap().id, source.category.id);
        assert_eq!(row.data.technologies.len(), source.technologies.len());
        assert_eq!(row.data.frameworks.len(), source.frameworks.len());
    }
    drop(pcsync);

    let text = run_line(&setup, "pc-controls");
    assert!(text.contains("new 0  updated 0"), "{text}");
    assert!(text.contains("inactive 0"), "{text}");

    // Removing a control also removes its citations, and any technology or framework that
    // only it referenced.
    let referenced = |dataset: &qualys_sim::Dataset| {
        let mut technologies = BTreeSet::new();
        let mut frameworks = BTreeSet::new();
        let mut citations = BTreeSet::new();
        for control in &dataset.controls {
            for (technology, _) in &control.technologies {
                technologies.insert(*technology);
            }
            for (framework, references) in &control.frameworks {
                frameworks.insert(*framework);
                for reference in references {
                    citations.insert((*framework, control.id, reference.trim().to_string()));
                }
            }
        }
        technologies.len() + frameworks.len() + citations.len()
    };
    let before = setup.simulator.with_dataset(|dataset| referenced(dataset));
    let removed = setup
        .simulator
        .with_dataset(|dataset| dataset.controls.remove(3).id);
    let after = setup.simulator.with_dataset(|dataset| referenced(dataset));
    setup.simulator.with_dataset(|dataset| {
        let control = dataset.controls.first_mut().unwrap();
        control.statement = format!("{} (revised)", control.statement);
    });
    let text = run_line(&setup, "pc-controls");
    assert!(text.contains("new 0  updated 1"), "{text}");
    assert!(
        text.contains(&format!("inactive {}", 1 + before - after)),
        "{text}"
    );
    let pcsync = setup.open();
    assert!(!pcsync.store().control(removed).unwrap().unwrap().present);
}

#[test]
fn cli_shows_policy_controls() {
    let setup = Setup::new(25, 100);
    run_line(&setup, "pc-policies");
    run_line(&setup, "pc-policy-details");
    run_line(&setup, "pc-controls");
    let dataset = setup.simulator.with_dataset(|dataset| dataset.clone());
    let policy = dataset
        .policies
        .iter()
        .find(|policy| policy.status == PolicyStatus::Active && !policy.sections.is_empty())
        .unwrap();

    let output = setup.pcsync(&["policies", "show", &policy.id.to_string()]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.contains(&format!("section {}", policy.sections[0].number)),
        "{text}"
    );
    let link = &policy.sections[0].controls[0];
    assert!(text.contains(&link.control_id.to_string()), "{text}");

    let output = setup.pcsync(&[
        "controls",
        "list",
        "--policy",
        &policy.id.to_string(),
        "--format",
        "json",
    ]);
    assert_success(&output);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(!rows.as_array().unwrap().is_empty());

    let output = setup.pcsync(&["policies", "show", "1"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("policy 1 not found"),
        "{}",
        stderr(&output)
    );
}
