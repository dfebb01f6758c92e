//! Qualys PC Results through the real binary: postures, hosts, evidence and the lifecycle.

use std::collections::{BTreeMap, BTreeSet};

use pcsync::JobId;
use pcsync::runtime::bindings::ResultKey;
use pcsync::store::ResultFilter;
use qualys_sim::{Endpoint, Fault, FaultRule, Posture, PostureStatus, SimConfig};

use crate::harness::{Setup, assert_success, stdout};

fn run(setup: &Setup, job: &str) -> String {
    let output = setup.pcsync(&["run", job]);
    assert_success(&output);
    stdout(&output)
}

fn postures(setup: &Setup) -> Vec<Posture> {
    setup
        .simulator
        .with_postures(|postures| postures.iter().collect())
}

fn key_of(posture: &Posture) -> ResultKey {
    ResultKey {
        policy_id: posture.key.policy_id,
        host_id: posture.key.host_id,
        control_id: posture.key.control_id,
        technology_id: posture.key.technology_id,
        instance: posture.key.instance.clone().unwrap_or_else(|| "os".into()),
    }
}

fn status_text(status: PostureStatus) -> &'static str {
    match status {
        PostureStatus::Passed => "Passed",
        PostureStatus::Failed => "Failed",
        PostureStatus::Error => "Error",
    }
}

fn posture_requests(setup: &Setup) -> Vec<qualys_sim::RecordedRequest> {
    setup
        .simulator
        .requests()
        .into_iter()
        .filter(|request| request.endpoint == Endpoint::PostureInfo)
        .collect()
}

/// The Start Time of a first, full import: before any posture of the simulator changed.
const FULL_IMPORT: &str = "start_time = \"2000-01-01T00:00:00Z\"";

fn results_setup() -> Setup {
    Setup::with_config(
        SimConfig {
            policies: 25,
            hosts: 12,
            ..SimConfig::default()
        },
        &format!("[jobs.pc-results]\ntruncation_limit = 40\n{FULL_IMPORT}\n"),
    )
}

#[test]
fn full_run_stores_every_posture() {
    let setup = results_setup();
    run(&setup, "pc-policies");
    let text = run(&setup, "pc-results");

    let expected = postures(&setup);
    assert!(expected.len() > 200, "several pages: {}", expected.len());
    let pcsync = setup.open();
    let mut stored = 0;
    pcsync
        .store()
        .visit_results(&ResultFilter::default(), |_| {
            stored += 1;
            true
        })
        .unwrap();
    assert_eq!(stored, expected.len());
    assert!(
        text.contains(&format!(
            "new {}",
            expected.len() + pcsync.store().hosts().unwrap().len()
        )),
        "{text}"
    );

    for posture in expected.iter().step_by(37) {
        let row = pcsync
            .store()
            .result(&key_of(posture))
            .unwrap()
            .expect("stored");
        assert_eq!(row.data.result.status, status_text(posture.status));
        assert_eq!(
            row.data.state,
            if posture.status == PostureStatus::Passed {
                "Closed"
            } else {
                "Open"
            }
        );
        assert_eq!(
            row.data.result.evaluation_date.as_deref(),
            Some(posture.evaluated.as_str())
        );
        assert!(
            row.data.result.expected_values.is_some(),
            "evidence resolved"
        );
        assert!(row.data.result.actual_values.is_some());
    }

    let hosts = pcsync.store().hosts().unwrap();
    let dataset = setup.simulator.with_dataset(|dataset| dataset.clone());
    let referenced: BTreeSet<u64> = expected.iter().map(|posture| posture.key.host_id).collect();
    assert_eq!(hosts.len(), referenced.len());
    for host in hosts {
        let source = dataset.host(host.data.id).unwrap();
        assert_eq!(host.data.dns, source.dns);
        assert_eq!(host.data.netbios, source.netbios);
        assert_eq!(host.data.ip.as_deref(), Some(source.ip.as_str()));
    }
}

#[test]
fn delta_runs_fetch_only_changes() {
    let setup = results_setup();
    run(&setup, "pc-policies");
    run(&setup, "pc-results");

    let pcsync = setup.open();
    let state = pcsync.store().job_state(JobId::PcResults).unwrap();
    let clock = setup.simulator.clock();
    let expected_start =
        pcsync::time::format_utc(pcsync::time::parse_utc(&clock).unwrap() - chrono_minutes(15));
    assert_eq!(state.start_time.as_deref(), Some(expected_start.as_str()));
    drop(pcsync);

    setup.simulator.clear_requests();
    let text = run(&setup, "pc-results");
    assert!(text.contains("new 0  updated 0"), "{text}");
    assert!(
        posture_requests(&setup)
            .iter()
            .all(|request| request.param("status_changes_since") == Some(expected_start.as_str()))
    );

    let history_before = setup.open().store().history_count().unwrap();
    let flipped = setup.simulator.advance_days(7, 0.05);
    assert!(!flipped.is_empty());
    setup.simulator.clear_requests();
    let output = setup.pcsync(&["run", "pc-results"]);
    assert_success(&output);

    let all = postures(&setup);
    let flipped: BTreeSet<u64> = flipped.into_iter().collect();
    let changed: Vec<&Posture> = all
        .iter()
        .filter(|posture| flipped.contains(&posture.id))
        .collect();
    let pcsync = setup.open();
    let run = pcsync.store().runs(Some(JobId::PcResults)).unwrap()[0].clone();
    let mut updated_results = 0;
    pcsync
        .store()
        .visit_results(&ResultFilter::default(), |row| {
            if row.updated_run == run.id {
                updated_results += 1;
            }
            true
        })
        .unwrap();
    assert_eq!(
        updated_results,
        changed.len(),
        "only the changed postures were returned"
    );
    let hosts: BTreeSet<u64> = changed.iter().map(|posture| posture.key.host_id).collect();
    assert_eq!(
        run.counts.updated as usize,
        changed.len() + hosts.len(),
        "the changed results and their hosts (whose last scan date moved)"
    );
    assert_eq!(run.counts.new, 0);

    assert_eq!(
        pcsync.store().history_count().unwrap() - history_before,
        changed.len(),
        "one history row per change of status"
    );
    for posture in changed {
        let row = pcsync.store().result(&key_of(posture)).unwrap().unwrap();
        assert_eq!(row.data.result.status, status_text(posture.status));
        let expected_state = if posture.status == PostureStatus::Passed {
            "Closed"
        } else {
            "Open"
        };
        assert_eq!(
            row.data.state, expected_state,
            "Failed→Passed closes, Passed→Failed reopens"
        );
        let history = pcsync.store().result_history(&key_of(posture)).unwrap();
        let last = history.last().expect("a history row for the change");
        assert_eq!(last.status, status_text(posture.status));
        assert_eq!(last.run_id, run.id);
    }
}

#[test]
fn failed_run_keeps_start_time() {
    let setup = results_setup();
    run(&setup, "pc-policies");
    run(&setup, "pc-results");
    let before = setup.open().store().job_state(JobId::PcResults).unwrap();

    setup.simulator.clear_requests();
    setup.simulator.advance_days(1, 0.0);
    setup
        .simulator
        .inject(FaultRule::new(Endpoint::PostureInfo, Fault::GenericReturn).on_request(1));
    let output = setup.pcsync(&["run", "pc-results"]);
    assert!(!output.status.success());
    let after = setup.open().store().job_state(JobId::PcResults).unwrap();
    assert_eq!(after.start_time, before.start_time);
}

#[test]
fn inactive_and_disabled_policies_not_queried() {
    let setup = results_setup();
    run(&setup, "pc-policies");
    let dataset = setup.simulator.with_dataset(|dataset| dataset.clone());
    let active: Vec<u64> = dataset
        .policies
        .iter()
        .filter(|policy| policy.status == qualys_sim::PolicyStatus::Active)
        .map(|policy| policy.id)
        .collect();
    assert!(
        active.len() < dataset.policies.len(),
        "the data set has inactive policies"
    );
    assert_success(&setup.pcsync(&["policies", "disable-import", &active[0].to_string()]));

    run(&setup, "pc-results");
    let queried: BTreeSet<u64> = posture_requests(&setup)
        .iter()
        .filter_map(|request| request.param("policy_id").and_then(|id| id.parse().ok()))
        .collect();
    let expected: BTreeSet<u64> = active[1..].iter().copied().collect();
    assert_eq!(queried, expected);
    assert!(
        posture_requests(&setup)
            .iter()
            .all(|request| request.param("policy_ids").is_none())
    );
}

#[test]
fn keys_keep_policies_and_instances_apart() {
    let setup = results_setup();
    run(&setup, "pc-policies");
    run(&setup, "pc-results");
    let all = postures(&setup);

    // The same control on the same host in two policies gives two results.
    let mut by_host_control: BTreeMap<(u64, u64, u64, Option<String>), BTreeSet<u64>> =
        BTreeMap::new();
    for posture in &all {
        by_host_control
            .entry((
                posture.key.host_id,
                posture.key.control_id,
                posture.key.technology_id,
                posture.key.instance.clone(),
            ))
            .or_default()
            .insert(posture.key.policy_id);
    }
    let shared = by_host_control
        .iter()
        .find(|(_, policies)| policies.len() > 1)
        .expect("a control on one host in two policies");
    let pcsync = setup.open();
    for policy_id in shared.1 {
        let (host_id, control_id, technology_id, instance) = shared.0.clone();
        let key = ResultKey {
            policy_id: *policy_id,
            host_id,
            control_id,
            technology_id,
            instance: instance.unwrap_or_else(|| "os".into()),
        };
        assert!(pcsync.store().result(&key).unwrap().is_some(), "{key:?}");
    }

    // Five instances of one database on one host give five results for one control.
    let mut instances: BTreeMap<(u64, u64, u64, u64), BTreeSet<String>> = BTreeMap::new();
    for posture in &all {
        if let Some(instance) = &posture.key.instance {
            instances
                .entry((
                    posture.key.policy_id,
                    posture.key.host_id,
                    posture.key.control_id,
                    posture.key.technology_id,
                ))
                .or_default()
                .insert(instance.clone());
        }
    }
    let ((policy_id, host_id, control_id, technology_id), names) = instances
        .iter()
        .find(|(_, names)| names.len() == 5)
        .expect("a database with five instances");
    for name in names {
        let key = ResultKey {
            policy_id: *policy_id,
            host_id: *host_id,
            control_id: *control_id,
            technology_id: *technology_id,
            instance: name.clone(),
        };
        assert!(pcsync.store().result(&key).unwrap().is_some(), "{key:?}");
    }
}

#[test]
fn reprocessing_changes_nothing() {
    let setup = results_setup();
    run(&setup, "pc-policies");
    run(&setup, "pc-results");
    let history = setup.open().store().history_count().unwrap();

    let output = setup.pcsync(&["imports", "reprocess", "pc-results"]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("new 0  updated 0"),
        "{}",
        stdout(&output)
    );
    assert_eq!(setup.open().store().history_count().unwrap(), history);
}

#[test]
fn cli_lists_and_shows_results() {
    let setup = results_setup();
    run(&setup, "pc-policies");
    run(&setup, "pc-results");
    let failed = postures(&setup)
        .into_iter()
        .find(|posture| posture.status == PostureStatus::Failed)
        .unwrap();
    let key = pcsync::store::format_result_key(&key_of(&failed));

    let output = setup.pcsync(&["results", "show", &key]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("status Failed"), "{text}");
    assert!(text.contains("expected values:"), "{text}");
    assert!(text.contains("history:"), "{text}");

    let output = setup.pcsync(&["results", "list", "--status", "Failed", "--format", "jsonl"]);
    assert_success(&output);
    let failed_count = postures(&setup)
        .iter()
        .filter(|posture| posture.status == PostureStatus::Failed)
        .count();
    assert_eq!(stdout(&output).lines().count(), failed_count);

    let output = setup.pcsync(&["results", "list", "--state", "closed", "--format", "csv"]);
    assert_success(&output);
    assert!(
        stdout(&output)
            .lines()
            .skip(1)
            .all(|line| line.contains(",Passed,Closed,Fixed,"))
    );

    let output = setup.pcsync(&["hosts", "list"]);
    assert_success(&output);
    assert!(stdout(&output).lines().count() > 1);

    let output = setup.pcsync(&["results", "list", "--state", "half-open"]);
    assert!(!output.status.success());
}

fn chrono_minutes(minutes: i64) -> chrono::Duration {
    chrono::Duration::minutes(minutes)
}

/// Runs `pcsync run pc-results` over one policy with `hosts` hosts and returns the run's peak
/// resident memory in KiB, as the process itself reads it at the end of the run (`VmHWM`), and
/// the number of results. `ru_maxrss` of the child is no measure here: across `exec` it keeps
/// the high-water mark of this test process, which contains the simulator.
fn peak_memory_kib(hosts: usize) -> (u64, usize) {
    let setup = Setup::with_config(
        SimConfig {
            policies: 1,
            controls: 300,
            controls_per_policy: Some(300),
            hosts,
            ..SimConfig::default()
        },
        // A small store cache, so the store's memory is the same at both sizes.
        &format!(
            "[store]\ncache_mib = 8\n\n[jobs.pc-results]\ntruncation_limit = 1000\n{FULL_IMPORT}\n"
        ),
    );
    run(&setup, "pc-policies");
    let results = postures(&setup).len();
    run(&setup, "pc-results");

    let pcsync = setup.open();
    let run = &pcsync.store().runs(Some(JobId::PcResults)).unwrap()[0];
    let peak = run.peak_memory_kib.expect("Linux reports VmHWM");
    (peak, results)
}

/// Peak resident memory of a run over about 200 000 results is at most 1.2 times that over
/// about 20 000, with the same page size.
#[test]
fn memory_does_not_follow_result_count() {
    // The peak includes compiling the components, and the parallel compiler's memory varies
    // from run to run by about a tenth (measured here). So the lower of two runs of each size
    // is compared.
    let lower = |hosts| {
        let (first, results) = peak_memory_kib(hosts);
        let (second, _) = peak_memory_kib(hosts);
        (first.min(second), results)
    };
    let (small, small_results) = lower(185);
    let (large, large_results) = lower(1850);
    assert!(
        large_results >= 9 * small_results,
        "{large_results} vs {small_results}"
    );
    eprintln!(
        "peak resident memory: {small} KiB for {small_results} results, {large} KiB for {large_results} results"
    );
    assert!(
        large as f64 <= 1.2 * small as f64,
        "{large} KiB for {large_results} results is over 1.2 × {small} KiB for {small_results}"
    );
}

#[test]
fn deleted_policy_is_a_warning() {
    let setup = results_setup();
    run(&setup, "pc-policies");
    let deleted = setup.simulator.with_dataset(|dataset| {
        let index = dataset
            .policies
            .iter()
            .position(|policy| policy.status == qualys_sim::PolicyStatus::Active)
            .unwrap();
        dataset.policies.remove(index).id
    });

    // PC Policies has not run since, so the store still lists the policy Qualys no longer has.
    let output = setup.pcsync(&["run", "pc-results"]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.contains(&format!("warning: policy {deleted}")),
        "{text}"
    );
    assert!(text.contains("1905"), "{text}");
    let pcsync = setup.open();
    let mut stored = 0;
    pcsync
        .store()
        .visit_results(&ResultFilter::default(), |_| {
            stored += 1;
            true
        })
        .unwrap();
    assert!(stored > 0, "the other policies' results are stored");
}

#[test]
fn invalid_characters_keep_their_records() {
    let setup = Setup::with_config(
        SimConfig {
            policies: 25,
            hosts: 12,
            invalid_char_every: Some(7),
            ..SimConfig::default()
        },
        &format!("[jobs.pc-results]\ntruncation_limit = 40\n{FULL_IMPORT}\n"),
    );
    run(&setup, "pc-policies");
    let text = run(&setup, "pc-results");
    assert!(
        text.contains("replaced"),
        "the page warnings count the replacements: {text}"
    );

    let expected = postures(&setup).len();
    let pcsync = setup.open();
    let mut stored = 0;
    let mut marked = 0;
    pcsync
        .store()
        .visit_results(&ResultFilter::default(), |row| {
            stored += 1;
            if row
                .data
                .result
                .actual_values
                .as_deref()
                .is_some_and(|values| values.contains('\u{FFFD}'))
            {
                marked += 1;
            }
            true
        })
        .unwrap();
    assert_eq!(stored, expected, "no record is lost to a bad character");
    assert!(marked > 0, "the bad characters became U+FFFD");
}

#[test]
fn future_start_time_is_warned_about() {
    let setup = Setup::with_config(
        SimConfig {
            policies: 10,
            hosts: 4,
            ..SimConfig::default()
        },
        "[jobs.pc-results]\nstart_time = \"2099-01-01T00:00:00Z\"\n",
    );
    run(&setup, "pc-policies");
    let output = setup.pcsync(&["run", "pc-results"]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.contains("warning: Start Time 2099-01-01T00:00:00Z is later than the last evaluation"),
        "{text}"
    );
}

#[test]
fn empty_start_time_defaults_to_thirty_days() {
    let setup = Setup::with_config(
        SimConfig {
            policies: 10,
            hosts: 4,
            ..SimConfig::default()
        },
        "",
    );
    run(&setup, "pc-policies");
    let output = setup.pcsync(&["run", "pc-results"]);
    assert_success(&output);
    assert!(
        crate::harness::stderr(&output).contains("Start Time is empty; using 30 days back"),
        "{}",
        crate::harness::stderr(&output)
    );
    let since = posture_requests(&setup)[0]
        .param("status_changes_since")
        .map(str::to_string)
        .expect("the delta parameter is sent");
    let since = pcsync::time::parse_utc(&since).unwrap();
    let days = (pcsync::time::now() - since).num_days();
    assert!((29..=30).contains(&days), "{days} days back");
}
