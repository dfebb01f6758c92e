//! Crash resume, reprocessing and retention of stored pages.

use std::time::Duration;

use pcsync::JobId;
use pcsync::store::RunState;
use qualys_sim::{Endpoint, Fault, FaultRule};

use crate::harness::{Setup, assert_success, stdout};

/// The policy rows of a store, without the bookkeeping that differs between runs.
fn policy_table(setup: &Setup) -> Vec<(u64, String, Option<String>, bool, bool)> {
    setup
        .open()
        .store()
        .policies()
        .unwrap()
        .into_iter()
        .map(|row| {
            (
                row.data.id,
                row.data.title,
                row.data.last_evaluated,
                row.data.locked,
                row.present,
            )
        })
        .collect()
}

#[test]
fn killed_runs_resume_without_loss_or_doubles() {
    const POLICIES: usize = 200;
    const PAGE_SIZE: usize = 10;
    const KILLS: u32 = 10;

    let reference = Setup::new(POLICIES, PAGE_SIZE);
    assert_success(&reference.pcsync(&["run", "pc-policies"]));
    let expected = policy_table(&reference);

    let setup = Setup::new(POLICIES, PAGE_SIZE);
    // Slow pages keep the run going long enough to be killed at many different points.
    setup.simulator.inject(FaultRule::new(
        Endpoint::PolicyList,
        Fault::SlowBody {
            chunk_bytes: 256,
            delay_ms: 20,
        },
    ));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..KILLS {
        let mut child = setup.command(&["run", "pc-policies"]).spawn().unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(100 + seed % 400));
        // SIGKILL: the process gets no chance to save anything.
        child.kill().unwrap();
        child.wait().unwrap();
    }
    setup.simulator.clear_faults();
    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);

    assert_eq!(
        policy_table(&setup),
        expected,
        "same rows as an uninterrupted run"
    );
    let pcsync = setup.open();
    let runs = pcsync.store().runs(Some(JobId::PcPolicies)).unwrap();
    let complete: Vec<_> = runs
        .iter()
        .filter(|run| run.state == RunState::Complete)
        .collect();
    assert_eq!(
        complete.len(),
        1,
        "the killed run was resumed, not restarted"
    );
    let run = complete[0];
    assert_eq!(run.counts.new, POLICIES as u64, "no doubles in the counts");
    assert_eq!(run.pages_fetched, (POLICIES / PAGE_SIZE) as u64);

    // A stored page is never fetched again: beyond one request per page, only a request a kill
    // interrupted before its page was stored can repeat.
    let requests = setup
        .simulator
        .requests()
        .iter()
        .filter(|request| request.endpoint == Endpoint::PolicyList)
        .count();
    assert!(
        requests <= POLICIES / PAGE_SIZE + KILLS as usize,
        "{requests} requests for {} pages and {KILLS} kills",
        POLICIES / PAGE_SIZE
    );
}

#[test]
fn reprocess_reads_stored_pages_only() {
    let setup = Setup::new(45, 20);
    assert_success(&setup.pcsync(&["run", "pc-policies"]));
    setup.simulator.clear_requests();

    let output = setup.pcsync(&["imports", "reprocess", "pc-policies"]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("new 0  updated 0  unchanged 45"), "{text}");
    assert!(
        setup.simulator.requests().is_empty(),
        "Qualys is not called"
    );
}

#[test]
fn reprocess_of_unknown_run_names_it() {
    let setup = Setup::new(5, 20);
    assert_success(&setup.pcsync(&["run", "pc-policies"]));
    let output = setup.pcsync(&["imports", "reprocess", "pc-policies", "--run", "999"]);
    assert!(!output.status.success());
    let text = crate::harness::stderr(&output);
    assert!(text.contains("run 999"), "{text}");
}

#[test]
fn processed_pages_past_retention_are_deleted() {
    let setup = Setup::with_extra(30, 10, "[store]\nkeep_imports_days = 0\n");
    assert_success(&setup.pcsync(&["run", "pc-policies"]));

    let pcsync = setup.open();
    assert!(
        pcsync
            .store()
            .imports_of_job(JobId::PcPolicies)
            .unwrap()
            .is_empty()
    );
    let files = walk(&pcsync.store().attachments_dir());
    assert!(files.is_empty(), "{files:?}");
    assert_eq!(pcsync.store().policies().unwrap().len(), 30, "records stay");
}

#[test]
fn pages_within_retention_are_kept() {
    let setup = Setup::new(30, 10);
    assert_success(&setup.pcsync(&["run", "pc-policies"]));
    let pcsync = setup.open();
    assert_eq!(
        pcsync
            .store()
            .imports_of_job(JobId::PcPolicies)
            .unwrap()
            .len(),
        3
    );
    assert_eq!(walk(&pcsync.store().attachments_dir()).len(), 3);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
