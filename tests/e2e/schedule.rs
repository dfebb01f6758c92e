//! Schedules through the real binary: `pcsync run --due` runs the due jobs in chain order, and
//! PC Comprehensive Results is weekly by default.

use chrono::Duration;
use pcsync::JobId;
use pcsync::schedule::Due;
use qualys_sim::{Endpoint, Fault, FaultRule, SimConfig};

use crate::harness::{Setup, assert_success, stderr, stdout};

const CLASSIC_CHAIN: [&str; 5] = [
    "pc-policies",
    "pc-policy-details",
    "pc-controls",
    "pc-results",
    "pc-comprehensive-results",
];

fn setup(extra: &str) -> Setup {
    Setup::with_config(
        SimConfig {
            policies: 10,
            ..SimConfig::default()
        },
        &format!(
            "[jobs.pc-results]\nstart_time = \"2000-01-01T00:00:00Z\"\n\n\
             [jobs.pc-comprehensive-results]\nstart_time = \"2000-01-01T00:00:00Z\"\n{extra}\n"
        ),
    )
}

/// Returns the jobs whose "is due" line `text` contains, in order.
fn due_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.split_once(" is due: ").map(|(job, _)| job))
        .collect()
}

#[test]
fn due_runs_chain_in_order_once() {
    let setup = setup("");
    let output = setup.pcsync(&["run", "--due"]);
    assert_success(&output);
    let text = stdout(&output);
    assert_eq!(due_lines(&text), CLASSIC_CHAIN, "{text}");
    assert!(text.contains("not Passed: refreshed"), "{text}");

    let runs = setup.open().store().runs(None).unwrap();
    for run in &runs {
        assert_eq!(run.trigger, pcsync::Trigger::Schedule, "run {}", run.id);
    }

    let again = setup.pcsync(&["run", "--due"]);
    assert_success(&again);
    assert!(
        stdout(&again).contains("no job is due"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn comprehensive_due_weekly() {
    let setup = setup("");
    assert_success(&setup.pcsync(&["run", "--due"]));

    let pcsync = setup.open();
    let now = pcsync::time::now();
    for (days, results_due, comprehensive_due) in [(2, true, false), (8, true, true)] {
        let then = now + Duration::days(days);
        let results = pcsync.due(JobId::PcResults, then).unwrap();
        let comprehensive = pcsync.due(JobId::PcComprehensiveResults, then).unwrap();
        assert_eq!(results.is_due(), results_due, "{days} days: {results:?}");
        assert_eq!(
            comprehensive.is_due(),
            comprehensive_due,
            "{days} days: {comprehensive:?}"
        );
    }
    assert!(matches!(
        pcsync.due(JobId::PcComprehensiveResults, now).unwrap(),
        Due::NotUntil(_)
    ));
    drop(pcsync);

    let output = setup.pcsync(&["jobs"]);
    assert_success(&output);
    let text = stdout(&output);
    let line = text
        .lines()
        .find(|line| line.starts_with("pc-comprehensive-results "))
        .unwrap();
    assert!(line.contains(" weekly "), "{line}");
    assert!(line.contains(" at 20"), "{line}");
}

#[test]
fn manual_jobs_not_due() {
    let setup = setup("schedule = \"manual\"");
    let output = setup.pcsync(&["run", "--due"]);
    assert_success(&output);
    let text = stdout(&output);
    assert_eq!(due_lines(&text), &CLASSIC_CHAIN[..4], "{text}");
}

#[test]
fn failed_run_stops_chain() {
    let setup = setup("");
    setup
        .simulator
        .inject(FaultRule::new(Endpoint::PolicyList, Fault::ServerError(500)).times(100));
    let output = setup.pcsync(&["run", "--due"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(due_lines(&text), ["pc-policies"], "{text}");
    assert!(text.contains("did not complete"), "{text}");
    let runs = setup.open().store().runs(None).unwrap();
    assert_eq!(runs.len(), 1);
}

#[test]
fn invalid_schedule_rejected() {
    let setup = setup("schedule = \"fortnightly\"");
    let output = setup.pcsync(&["run", "--due"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("[jobs.pc-comprehensive-results]"),
        "{message}"
    );
    assert!(message.contains("\"fortnightly\""), "{message}");
}
