//! `pcsync demo`: the real host and components against the Qualys simulator on 127.0.0.1.

use std::process::ExitCode;
use std::time::Instant;

use qualys_sim::{SimConfig, Simulator};

use crate::cli::out;
use crate::config::{Config, QualysConfig, Secret};
use crate::store::{RunRecord, RunState, Trigger};
use crate::{JobId, Pcsync};

/// The jobs the demo runs, in the order the chain runs them.
const CHAIN: [JobId; 4] = [
    JobId::PcPolicies,
    JobId::PcPolicyDetails,
    JobId::PcControls,
    JobId::PcResults,
];

/// Runs the classic chain (Policies, then Policies Detail and Controls, then Results) twice
/// against a fresh simulator: a first import, then again a simulated week later (one policy
/// retitled, one deleted, 5 % of the postures changed status), and prints each job's counts
/// and the results by status.
///
/// With `comprehensive`, PC Comprehensive Results runs last. The week's delta returned no
/// failure that stayed Failed, so their last seen is a week old. The demo prints how many
/// such results there are before and after the job, and the job's refresh counts.
pub fn run(policies: usize, page_size: usize, comprehensive: bool) -> anyhow::Result<ExitCode> {
    let username = "demo";
    let password = "demo-password";
    let simulator = Simulator::start(SimConfig {
        policies,
        page_size: page_size.max(1),
        username: username.into(),
        password: password.into(),
        ..SimConfig::default()
    })?;
    let data_dir = tempfile::Builder::new().prefix("pcsync-demo-").tempdir()?;

    let mut config = Config {
        qualys: QualysConfig {
            api_url: simulator.base_url(),
            gateway_url: simulator.base_url(),
            username: username.into(),
            password: Secret::new(password),
            ..QualysConfig::default()
        },
        ..Config::default()
    };
    // The simulated postures are years old, so the first Results run starts from a Start Time
    // before all of them: a full first import, as a new deployment would configure it.
    for job in [JobId::PcResults, JobId::PcComprehensiveResults] {
        config.jobs.insert(
            job.as_str().to_string(),
            crate::config::JobConfig {
                start_time: Some("2000-01-01T00:00:00Z".into()),
                ..Default::default()
            },
        );
    }
    let pcsync = Pcsync::open(config, data_dir.path())?;

    out!(
        "Qualys simulator on {} with {policies} policies, {} per page",
        simulator.base_url(),
        page_size.max(1)
    );
    out!(
        "data directory {} (deleted when the demo ends)",
        data_dir.path().display()
    );
    out!(
        "new, updated and unchanged count the rows each run wrote, in every table it fills: the results jobs also write hosts\n"
    );
    out!(
        "{:<46} {:<10} {:>5} {:>6} {:>8} {:>10} {:>9} {:>8}",
        "run",
        "state",
        "pages",
        "new",
        "updated",
        "unchanged",
        "inactive",
        "seconds"
    );

    let mut runs = Vec::new();
    for job in CHAIN {
        runs.push(timed_run(&pcsync, job, "first import")?);
    }

    simulator.with_dataset(|dataset| {
        if let Some(policy) = dataset.policies.first_mut() {
            policy.title = format!("{} (revised)", policy.title);
        }
        if dataset.policies.len() > 1 {
            dataset.policies.remove(1);
        }
    });
    let changed = simulator.advance_days(7, 0.05);
    out!(
        "\na simulated week later: {} postures changed status",
        changed.len()
    );
    for job in CHAIN {
        runs.push(timed_run(&pcsync, job, "a week later")?);
    }

    if comprehensive {
        let now = simulator.clock();
        let stale_before = stale_failures(&pcsync, &now)?;
        let run = timed_run(&pcsync, JobId::PcComprehensiveResults, "a week later")?;
        let stale_after = stale_failures(&pcsync, &now)?;
        if let Some(counts) = pcsync.store().refresh_counts_of_run(run.id)? {
            out!(
                "\nPC Comprehensive Results, results that were not Passed: refreshed {}, changed {}, not returned {}",
                counts.refreshed,
                counts.changed,
                counts.not_returned
            );
            out!(
                "  refreshed: Qualys returned them again, so their last seen, status and evidence are current"
            );
            out!(
                "  changed: refreshed results whose status changed; one now Passed is closed as Fixed"
            );
            out!("  not returned: Qualys has not evaluated them since the job's Start Time");
        }
        out!(
            "results not Passed in active policies last seen before {now}: {stale_before} before the job, {stale_after} after"
        );
        out!(
            "  the week's delta returns only changes of status, so it left these {stale_before} failures last seen at the first import"
        );
        runs.push(run);
    }

    let ok = runs.iter().all(|run| run.state == RunState::Complete);
    let mut by_status = std::collections::BTreeMap::<(String, String), u64>::new();
    pcsync
        .store()
        .visit_results(&crate::store::ResultFilter::default(), |row| {
            *by_status
                .entry((row.data.result.status.clone(), row.data.state.clone()))
                .or_default() += 1;
            true
        })?;
    out!("\nresults by status:");
    for ((status, state), count) in &by_status {
        out!("  {status:<7} {state:<7} {count}");
    }
    out!(
        "status changes recorded in sn_vulc_result_history: {} (the first import records each result's change from the previous status Qualys reports)",
        pcsync.store().history_count()?
    );
    out!(
        "\ncontrols stored: {}; technologies stored: {}; hosts stored: {}",
        pcsync.store().controls()?.len(),
        pcsync.store().technologies()?.len(),
        pcsync.store().hosts()?.len()
    );
    out!(
        "policies stored: {} ({} no longer returned, kept as inactive)",
        pcsync.store().policies()?.len(),
        pcsync
            .store()
            .policies()?
            .iter()
            .filter(|row| !row.present)
            .count()
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn timed_run(pcsync: &Pcsync, job: JobId, label: &str) -> anyhow::Result<RunRecord> {
    let started = Instant::now();
    let run = pcsync.run_job(job, Trigger::Manual)?;
    out!(
        "{:<46} {:<10} {:>5} {:>6} {:>8} {:>10} {:>9} {:>8.2}",
        format!("{job} ({label})"),
        run.state.as_str(),
        run.pages_fetched,
        run.counts.new,
        run.counts.updated,
        run.counts.unchanged,
        run.counts.inactive,
        started.elapsed().as_secs_f64()
    );
    if let Some(error) = &run.error {
        out!("  error: {error}");
    }
    Ok(run)
}

/// Counts the results in active policies that are not Passed and whose last seen is earlier
/// than `now`.
fn stale_failures(pcsync: &Pcsync, now: &str) -> anyhow::Result<u64> {
    let (active, _) = pcsync.store().active_policies(None, u32::MAX)?;
    let active: std::collections::BTreeSet<u64> = active.iter().map(|policy| policy.id).collect();
    let mut stale = 0;
    pcsync
        .store()
        .visit_results(&crate::store::ResultFilter::default(), |row| {
            let last_seen = row.data.last_seen.as_deref().unwrap_or("");
            if active.contains(&row.data.result.key.policy_id)
                && row.data.result.status != "Passed"
                && last_seen < now
            {
                stale += 1;
            }
            true
        })?;
    Ok(stale)
}
