//! Qualys PC Policies through the real binary.

use pcsync::JobId;
use pcsync::store::{ImportState, RunState};
use qualys_sim::Endpoint;

use crate::harness::{PASSWORD, Setup, assert_success, stderr, stdout};

#[test]
fn first_run_follows_every_page() {
    let setup = Setup::new(250, 100);

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("complete"), "{text}");
    assert!(text.contains("pages 3"), "{text}");
    assert!(text.contains("new 250"), "{text}");

    let requests: Vec<_> = setup
        .simulator
        .requests()
        .into_iter()
        .filter(|request| request.endpoint == Endpoint::PolicyList)
        .collect();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|request| request.status == 200));
    // The follow-ups came from WARNING URLs naming another host; they reached the simulator,
    // so they were re-rooted onto the configured base URL.
    let id_mins: Vec<_> = requests
        .iter()
        .filter_map(|request| {
            request
                .query
                .iter()
                .find(|(name, _)| name == "id_min")
                .map(|(_, value)| value.clone())
        })
        .collect();
    assert_eq!(id_mins.len(), 2, "{requests:?}");
    assert!(
        requests[0]
            .query
            .contains(&("details".into(), "Basic".into()))
    );
    assert!(
        requests[0]
            .path
            .starts_with("/api/5.0/fo/compliance/policy/")
    );

    let pcsync = setup.open();
    let expected = setup
        .simulator
        .with_dataset(|dataset| dataset.policies.clone());
    let stored = pcsync.store().policies().unwrap();
    assert_eq!(stored.len(), expected.len());
    for (row, policy) in stored.iter().zip(&expected) {
        assert_eq!(row.data.id, policy.id);
        assert_eq!(row.data.title, policy.title.trim());
        assert_eq!(row.data.last_evaluated, policy.last_evaluated);
        assert_eq!(row.data.locked, policy.locked);
        assert!(row.present);
    }
    assert!(
        stored.iter().any(|row| row.data.last_evaluated.is_none()),
        "the data set has policies never evaluated, and they are stored"
    );
}

#[test]
fn second_run_is_unchanged() {
    let setup = Setup::new(120, 50);
    assert_success(&setup.pcsync(&["run", "pc-policies"]));

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.contains("new 0  updated 0  unchanged 120  inactive 0"),
        "{text}"
    );
}

#[test]
fn changed_data_counts_exactly() {
    let setup = Setup::new(100, 40);
    assert_success(&setup.pcsync(&["run", "pc-policies"]));

    let removed = setup.simulator.with_dataset(|dataset| {
        dataset.policies[0].title = "Renamed policy".into();
        let removed = [dataset.policies.remove(5).id, dataset.policies.remove(9).id];
        let mut added = dataset.policies[3].clone();
        added.id = dataset.policies.last().unwrap().id + 17;
        added.title = "Added policy".into();
        dataset.policies.push(added);
        removed
    });

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.contains("new 1  updated 1  unchanged 97  inactive 2"),
        "{text}"
    );

    let pcsync = setup.open();
    for id in removed {
        let row = pcsync
            .store()
            .policy(id)
            .unwrap()
            .expect("kept, never deleted");
        assert!(!row.present, "policy {id} is inactive");
    }
    let (active, _) = pcsync.store().active_policies(None, 1000).unwrap();
    assert!(active.iter().all(|policy| !removed.contains(&policy.id)));
}

#[test]
fn returned_again_counts_as_updated() {
    let setup = Setup::new(30, 100);
    assert_success(&setup.pcsync(&["run", "pc-policies"]));
    let removed = setup
        .simulator
        .with_dataset(|dataset| dataset.policies.remove(2));
    assert_success(&setup.pcsync(&["run", "pc-policies"]));
    setup.simulator.with_dataset(|dataset| {
        dataset.policies.insert(2, removed.clone());
    });

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("new 0  updated 1  unchanged 29  inactive 0"),
        "{}",
        stdout(&output)
    );
    assert!(
        setup
            .open()
            .store()
            .policy(removed.id)
            .unwrap()
            .unwrap()
            .present
    );
}

#[test]
fn api_version_parameter_is_used() {
    let setup = Setup::with_extra(10, 100, "[jobs.pc-policies]\napi_version = \"3.0\"\n");
    assert_success(&setup.pcsync(&["run", "pc-policies"]));
    let requests = setup.simulator.requests();
    assert!(
        requests
            .iter()
            .all(|request| request.path.starts_with("/api/3.0/")),
        "{requests:?}"
    );
}

#[test]
fn invalid_api_version_fails_with_its_value() {
    let setup = Setup::with_extra(10, 100, "[jobs.pc-policies]\napi_version = \"9.9\"\n");
    let output = setup.pcsync(&["run", "pc-policies"]);
    assert!(!output.status.success());
    let text = stdout(&output);
    assert!(text.contains("9.9"), "{text}");
    assert!(setup.simulator.requests().is_empty(), "nothing is fetched");
}

#[test]
fn wrong_password_fails_without_retries() {
    let setup = Setup::new(10, 100);
    setup.write_config("not-the-password", "");

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert!(!output.status.success());
    let text = stdout(&output);
    assert!(text.contains("credentials"), "{text}");
    assert_eq!(setup.simulator.requests().len(), 1, "a 401 is not retried");
    let all = format!("{text}{}", stderr(&output));
    assert!(!all.contains("not-the-password"));
    assert!(!all.contains(PASSWORD));
}

#[test]
fn pages_are_kept_as_import_rows() {
    let setup = Setup::new(60, 25);
    assert_success(&setup.pcsync(&["run", "pc-policies"]));

    let pcsync = setup.open();
    let run = pcsync.store().runs(Some(JobId::PcPolicies)).unwrap()[0].clone();
    assert_eq!(run.state, RunState::Complete);
    let pages = pcsync
        .store()
        .imports_of_run(JobId::PcPolicies, run.id)
        .unwrap();
    assert_eq!(pages.len(), 3);
    let mut total = 0;
    for page in &pages {
        assert_eq!(page.state, ImportState::Processed);
        assert!(pcsync.store().attachment_path(&page.attachment).exists());
        assert!(page.body_bytes > 0);
        total += page.counts.new;
    }
    assert_eq!(total, 60, "page counts add up to the run's");
    assert!(
        pcsync
            .store()
            .run(run.id)
            .unwrap()
            .unwrap()
            .pending
            .is_empty()
    );
}

#[test]
fn demo_prints_counts() {
    let setup = Setup::new(1, 100);
    let output = setup.pcsync(&["demo", "--policies", "120", "--page-size", "50"]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("pc-policies (first import)"), "{text}");
    assert!(text.contains("inactive"), "{text}");
}
