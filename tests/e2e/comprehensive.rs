//! Qualys PC Comprehensive Results through the real binary: it refreshes the results that a
//! status-changed delta never returns, closes those that passed, and keeps every request URL
//! under `max_url_length`.

use std::collections::{BTreeMap, BTreeSet};

use pcsync::JobId;
use pcsync::store::{ResultFilter, format_result_key, parse_result_key};
use qualys_sim::{
    Endpoint, Fault, FaultRule, PostureKey, PostureStatus, RecordedRequest, SimConfig,
};

use crate::harness::{Setup, assert_success, stdout};

/// A Start Time before every simulated posture: a full first import.
const FULL_IMPORT: &str = "2000-01-01T00:00:00Z";

fn run(setup: &Setup, job: &str) -> String {
    let output = setup.pcsync(&["run", job]);
    assert_success(&output);
    stdout(&output)
}

fn setup(simulator: SimConfig, comprehensive: &str) -> Setup {
    Setup::with_config(
        simulator,
        &format!(
            "[jobs.pc-results]\ntruncation_limit = 40\nstart_time = \"{FULL_IMPORT}\"\n\n\
             [jobs.pc-comprehensive-results]\ntruncation_limit = 40\n{comprehensive}\n"
        ),
    )
}

fn small() -> SimConfig {
    SimConfig {
        policies: 25,
        hosts: 12,
        ..SimConfig::default()
    }
}

/// A result key in text form, `policy:host:control:technology:instance`.
type Key = String;

/// Returns every stored result's status and last seen, by key.
fn results(setup: &Setup) -> BTreeMap<Key, (String, Option<String>)> {
    let mut results = BTreeMap::new();
    setup
        .open()
        .store()
        .visit_results(&ResultFilter::default(), |row| {
            results.insert(
                format_result_key(&row.data.result.key),
                (row.data.result.status.clone(), row.data.last_seen.clone()),
            );
            true
        })
        .unwrap();
    results
}

fn not_passed(results: &BTreeMap<Key, (String, Option<String>)>) -> BTreeSet<Key> {
    results
        .iter()
        .filter(|(_, (status, _))| status != "Passed")
        .map(|(key, _)| key.clone())
        .collect()
}

fn posture_requests(setup: &Setup) -> Vec<RecordedRequest> {
    setup
        .simulator
        .requests()
        .into_iter()
        .filter(|request| request.endpoint == Endpoint::PostureInfo)
        .collect()
}

/// Returns the line `not Passed: refreshed R  changed C  not returned N` of a run's output.
fn refresh_line(text: &str) -> &str {
    text.lines()
        .find(|line| line.trim_start().starts_with("not Passed:"))
        .unwrap_or_else(|| panic!("no refresh counts in:\n{text}"))
        .trim()
}

#[test]
fn refreshes_failures_delta_missed() {
    let setup = setup(small(), &format!("start_time = \"{FULL_IMPORT}\""));
    run(&setup, "pc-policies");
    run(&setup, "pc-results");
    let first = results(&setup);
    let first_clock = setup.simulator.clock();

    // A week passes: every posture is evaluated again and 5 % change status. The delta brings
    // the changes and nothing else.
    let flipped: BTreeSet<u64> = setup.simulator.advance_days(7, 0.05).into_iter().collect();
    let now = setup.simulator.clock();
    run(&setup, "pc-results");
    let after_delta = results(&setup);
    let results_start = setup
        .open()
        .store()
        .job_state(JobId::PcResults)
        .unwrap()
        .start_time;

    let postures = setup
        .simulator
        .with_postures(|postures| postures.iter().collect::<Vec<_>>());
    let id_of: BTreeMap<(u64, u64, u64), u64> = postures
        .iter()
        .map(|posture| {
            let key = &posture.key;
            ((key.policy_id, key.host_id, key.control_id), posture.id)
        })
        .collect();
    let flipped_key = |key: &Key| {
        let key = parse_result_key(key).unwrap();
        flipped.contains(&id_of[&(key.policy_id, key.host_id, key.control_id)])
    };
    let stayed_failing: BTreeSet<Key> = not_passed(&first)
        .into_iter()
        .filter(|key| !flipped_key(key))
        .collect();
    assert!(stayed_failing.len() > 50, "{}", stayed_failing.len());
    for key in &stayed_failing {
        assert!(
            after_delta[key].1.as_deref() < Some(now.as_str()),
            "the delta returned {key:?}, which did not change"
        );
    }

    setup.simulator.clear_requests();
    let text = run(&setup, "pc-comprehensive-results");
    let after = results(&setup);

    let refreshed_now: BTreeSet<Key> = not_passed(&after_delta)
        .into_iter()
        .filter(|key| after_delta[key].1 != after[key].1)
        .collect();
    assert_eq!(refreshed_now, stayed_failing, "exactly the stale failures");
    for key in &stayed_failing {
        assert_eq!(after[key].1.as_deref(), Some(now.as_str()), "{key:?}");
    }
    let not_passed_before = not_passed(&after_delta).len();
    assert_eq!(
        refresh_line(&text),
        format!("not Passed: refreshed {not_passed_before}  changed 0  not returned 0")
    );

    let requests = posture_requests(&setup);
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.param("evaluation_date"), Some(FULL_IMPORT));
        assert_eq!(request.param("status_changes_since"), None);
        assert!(request.param("host_ids").is_some(), "{:?}", request.query);
        assert!(
            request.param("control_ids").is_some(),
            "{:?}",
            request.query
        );
    }
    assert!(first_clock < now);

    // The job has a Start Time of its own and leaves PC Results' alone.
    let store = setup.open();
    assert_eq!(
        store
            .store()
            .job_state(JobId::PcResults)
            .unwrap()
            .start_time,
        results_start
    );
    assert_eq!(
        store
            .store()
            .job_state(JobId::PcComprehensiveResults)
            .unwrap()
            .start_time
            .as_deref(),
        Some("2026-12-11T09:45:00Z")
    );
}

#[test]
fn passed_failure_closes_with_history() {
    let setup = setup(small(), &format!("start_time = \"{FULL_IMPORT}\""));
    run(&setup, "pc-policies");
    run(&setup, "pc-results");
    let before = results(&setup);
    let history_before = setup.open().store().history_count().unwrap();

    setup.simulator.advance_days(7, 0.2);
    let text = run(&setup, "pc-comprehensive-results");
    let after = results(&setup);

    let passed_since: Vec<Key> = not_passed(&before)
        .into_iter()
        .filter(|key| after[key].0 == "Passed")
        .collect();
    assert!(passed_since.len() > 10, "{}", passed_since.len());
    {
        let pcsync = setup.open();
        for key in &passed_since {
            let key = parse_result_key(key).unwrap();
            let row = pcsync.store().result(&key).unwrap().unwrap();
            assert_eq!(row.data.state, "Closed");
            assert_eq!(row.data.resolution.as_deref(), Some("Fixed"));
            let history = pcsync.store().result_history(&key).unwrap();
            let last = history.last().expect("a history row");
            assert_eq!(last.status, "Passed");
            assert_eq!(last.previous_status.as_deref(), Some("Failed"));
        }
        assert!(pcsync.store().history_count().unwrap() > history_before);
    }
    assert_eq!(
        refresh_line(&text),
        format!(
            "not Passed: refreshed {}  changed {}  not returned 0",
            not_passed(&before).len(),
            passed_since.len()
        )
    );

    // Processing the same pages again changes nothing.
    let output = setup.pcsync(&["imports", "reprocess", "pc-comprehensive-results"]);
    assert_success(&output);
    assert_eq!(results(&setup), after);

    // Nor do the older pages of the first import: an old posture or scan never comes back.
    let hosts = |setup: &Setup| {
        setup
            .open()
            .store()
            .hosts()
            .unwrap()
            .into_iter()
            .map(|row| (row.data.id, row.data.last_scan_date))
            .collect::<Vec<_>>()
    };
    let hosts_before = hosts(&setup);
    let first_import = setup
        .open()
        .store()
        .runs(Some(JobId::PcResults))
        .unwrap()
        .last()
        .unwrap()
        .id
        .to_string();
    let output = setup.pcsync(&["imports", "reprocess", "pc-results", "--run", &first_import]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("pc-results (reprocess)"),
        "{}",
        stdout(&output)
    );
    assert_eq!(results(&setup), after);
    assert_eq!(hosts(&setup), hosts_before);

    // A run of another job is named as such.
    let comprehensive_run = setup
        .open()
        .store()
        .runs(Some(JobId::PcComprehensiveResults))
        .unwrap()[0]
        .id
        .to_string();
    let output = setup.pcsync(&[
        "imports",
        "reprocess",
        "pc-results",
        "--run",
        &comprehensive_run,
    ]);
    assert!(!output.status.success());
    let message = crate::harness::stderr(&output);
    assert!(
        message.contains(&format!(
            "run {comprehensive_run} belongs to pc-comprehensive-results"
        )),
        "{message}"
    );
}

#[test]
fn unevaluated_results_count_not_returned() {
    // A Start Time after every evaluation: Qualys returns nothing, and the run reports the
    // results it could not refresh.
    let setup = setup(small(), "start_time = \"2030-01-01T00:00:00Z\"");
    run(&setup, "pc-policies");
    run(&setup, "pc-results");
    let before = results(&setup);

    let text = run(&setup, "pc-comprehensive-results");
    let count = not_passed(&before).len();
    assert_eq!(
        refresh_line(&text),
        format!("not Passed: refreshed 0  changed 0  not returned {count}")
    );
    assert!(
        text.contains(&format!(
            "{count} results that are not Passed were not returned"
        )),
        "{text}"
    );
    assert_eq!(results(&setup), before, "nothing changed");

    // The counts stay with the run.
    let output = setup.pcsync(&["runs", "list", "--job", "pc-comprehensive-results"]);
    assert_success(&output);
    assert!(
        stdout(&output).contains(&format!("not returned {count}")),
        "{}",
        stdout(&output)
    );
}

#[test]
fn urls_under_limit_with_5000_hosts() {
    let config = SimConfig {
        policies: 1,
        hosts: 11_000,
        controls: 2,
        controls_per_policy: Some(2),
        ..SimConfig::default()
    };
    let setup = Setup::with_config(
        config,
        &format!(
            "[jobs.pc-results]\nstart_time = \"{FULL_IMPORT}\"\n\n\
             [jobs.pc-comprehensive-results]\nstart_time = \"{FULL_IMPORT}\"\n"
        ),
    );
    // Every posture of the policy fails.
    setup.simulator.with_postures(|postures| {
        let keys: Vec<PostureKey> = postures.iter().map(|posture| posture.key).collect();
        for key in keys {
            postures
                .set_status(&key, PostureStatus::Failed, "2026-12-01T00:00:00Z")
                .unwrap();
        }
    });
    run(&setup, "pc-policies");
    run(&setup, "pc-results");
    let before = results(&setup);
    let failing = not_passed(&before);
    let failing_keys: Vec<_> = failing
        .iter()
        .map(|key| parse_result_key(key).unwrap())
        .collect();
    let failing_hosts: BTreeSet<u64> = failing_keys.iter().map(|key| key.host_id).collect();
    let policies: BTreeSet<u64> = failing_keys.iter().map(|key| key.policy_id).collect();
    assert_eq!(policies.len(), 1);
    assert!(failing_hosts.len() >= 5000, "{}", failing_hosts.len());

    setup.simulator.advance_days(7, 0.0);
    setup.simulator.clear_requests();
    let text = run(&setup, "pc-comprehensive-results");
    assert_eq!(
        refresh_line(&text),
        format!(
            "not Passed: refreshed {}  changed 0  not returned 0",
            failing.len()
        )
    );

    let base = setup.simulator.base_url();
    let base = base.trim_end_matches('/');
    let requests = posture_requests(&setup);
    let mut requested_hosts = BTreeSet::new();
    for request in &requests {
        let length = base.len() + request.target.len();
        assert!(length <= 8000, "a URL of {length} characters");
        assert_eq!(request.status, 200);
        if let Some(hosts) = request.param("host_ids") {
            requested_hosts.extend(hosts.split(',').map(|id| id.parse::<u64>().unwrap()));
        }
    }
    assert!(requests.len() > 1, "{} requests", requests.len());
    assert_eq!(requested_hosts, failing_hosts);

    // A shorter limit from the job configuration gives more, shorter requests.
    setup.write_config(
        crate::harness::PASSWORD,
        &format!(
            "[jobs.pc-comprehensive-results]\nstart_time = \"{FULL_IMPORT}\"\n\
             max_url_length = 3000\n"
        ),
    );
    setup.simulator.clear_requests();
    run(&setup, "pc-comprehensive-results");
    let shorter = posture_requests(&setup);
    assert!(shorter.len() > requests.len());
    for request in &shorter {
        let length = base.len() + request.target.len();
        assert!(length <= 3000, "a URL of {length} characters");
    }
}

#[test]
fn demo_shows_comprehensive_counts() {
    let setup = Setup::new(1, 1);
    let output = setup.pcsync(&[
        "demo",
        "--policies",
        "60",
        "--page-size",
        "25",
        "--comprehensive",
    ]);
    assert_success(&output);
    let text = stdout(&output);
    let counts = text
        .lines()
        .find(|line| line.starts_with("PC Comprehensive Results, results that were not Passed:"))
        .unwrap_or_else(|| panic!("no counts in:\n{text}"));
    assert!(counts.contains("not returned 0"), "{counts}");
    let stale = text
        .lines()
        .find(|line| line.starts_with("results not Passed in active policies last seen before"))
        .unwrap_or_else(|| panic!("no staleness line in:\n{text}"));
    assert!(
        stale.ends_with(" after") && stale.contains(", 0 after"),
        "{stale}"
    );
}

#[test]
fn killed_run_resumes_with_same_counts() {
    const KILLS: u64 = 5;
    let setup = setup(small(), &format!("start_time = \"{FULL_IMPORT}\""));
    run(&setup, "pc-policies");
    run(&setup, "pc-results");
    let before = results(&setup);
    setup.simulator.advance_days(7, 0.2);
    let now = setup.simulator.clock();
    setup.simulator.clear_requests();

    // Slow pages keep the run going long enough to be killed at several points.
    setup.simulator.inject(FaultRule::new(
        Endpoint::PostureInfo,
        Fault::SlowBody {
            chunk_bytes: 512,
            delay_ms: 20,
        },
    ));
    for kill in 0..KILLS {
        let mut child = setup
            .command(&["run", "pc-comprehensive-results"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300 + kill * 170));
        // SIGKILL: the process gets no chance to save anything.
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(
        !posture_requests(&setup).is_empty(),
        "the killed runs reached Qualys"
    );
    setup.simulator.clear_faults();
    let text = run(&setup, "pc-comprehensive-results");

    let after = results(&setup);
    let failing_before = not_passed(&before);
    let passed_since = failing_before
        .iter()
        .filter(|key| after[*key].0 == "Passed")
        .count();
    assert_eq!(
        refresh_line(&text),
        format!(
            "not Passed: refreshed {}  changed {passed_since}  not returned 0",
            failing_before.len()
        )
    );
    for key in &failing_before {
        assert_eq!(after[key].1.as_deref(), Some(now.as_str()), "{key}");
    }
    let runs = setup
        .open()
        .store()
        .runs(Some(JobId::PcComprehensiveResults))
        .unwrap();
    assert_eq!(runs.len(), 1, "the killed run was resumed, not restarted");
}

#[test]
fn refused_before_pc_results_completes() {
    let setup = setup(small(), "");
    run(&setup, "pc-policies");
    let output = setup.pcsync(&["run", "pc-comprehensive-results"]);
    assert!(!output.status.success());
    let message = crate::harness::stderr(&output);
    assert!(
        message.contains("pc-results has not completed a run yet"),
        "{message}"
    );
    assert!(message.contains("pcsync run pc-results"), "{message}");
    assert!(posture_requests(&setup).is_empty());
}

#[test]
fn too_long_url_limit_names_the_setting() {
    // About 3000 failing hosts: their ids make URLs longer than the simulator's 8190-byte
    // request line, which a limit of 20000 lets through.
    let setup = Setup::with_config(
        SimConfig {
            policies: 1,
            hosts: 6000,
            controls: 2,
            controls_per_policy: Some(2),
            ..SimConfig::default()
        },
        &format!(
            "[jobs.pc-results]\nstart_time = \"{FULL_IMPORT}\"\n\n\
             [jobs.pc-comprehensive-results]\nstart_time = \"{FULL_IMPORT}\"\n\
             max_url_length = 20000\n"
        ),
    );
    setup.simulator.with_postures(|postures| {
        let keys: Vec<PostureKey> = postures.iter().map(|posture| posture.key).collect();
        for key in keys {
            postures
                .set_status(&key, PostureStatus::Failed, "2026-12-01T00:00:00Z")
                .unwrap();
        }
    });
    run(&setup, "pc-policies");
    run(&setup, "pc-results");

    let output = setup.pcsync(&["run", "pc-comprehensive-results"]);
    let lengths: Vec<usize> = posture_requests(&setup)
        .iter()
        .map(|request| request.target.len())
        .collect();
    assert_eq!(output.status.code(), Some(1), "{lengths:?}");
    let text = stdout(&output);
    assert!(text.contains("HTTP 414 Request-URI Too Long"), "{text}");
    assert!(
        text.contains("lower max_url_length in [jobs.pc-comprehensive-results]"),
        "{text}"
    );
    assert!(text.contains("(now 20000)"), "{text}");
}
