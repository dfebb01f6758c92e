//! The job, policy, control and result views of the command line.

use anyhow::Context;

use crate::cli::out;
use crate::cli::{Format, ListFormat, PoliciesCommand, ResultsCommand, print_json};
use crate::runtime::bindings::Criticality;
use crate::schedule::Due;
use crate::store::{ResultFilter, ResultRow, Row, format_result_key, parse_result_key};
use crate::{Config, JobId, Pcsync};

fn criticality_text(criticality: &Option<Criticality>) -> String {
    criticality
        .as_ref()
        .map(|criticality| format!("{} {}", criticality.label, criticality.value))
        .unwrap_or_else(|| "-".into())
}

pub(crate) fn policies(pcsync: &Pcsync, command: PoliciesCommand) -> anyhow::Result<()> {
    let store = pcsync.store();
    match command {
        PoliciesCommand::List { format } => {
            let policies = store.policies()?;
            match format {
                Format::Json => print_json(&policies)?,
                Format::Table => {
                    out!(
                        "{:>10}  {:<8}  {:<8}  {:<20}  title",
                        "id",
                        "status",
                        "present",
                        "last evaluated"
                    );
                    for row in policies {
                        out!(
                            "{:>10}  {:<8}  {:<8}  {:<20}  {}",
                            row.data.id,
                            row.data.status,
                            row.present,
                            row.data.last_evaluated.as_deref().unwrap_or("never"),
                            row.data.title
                        );
                    }
                }
            }
        }
        PoliciesCommand::Show { id, format } => {
            let policy = store.policy(id)?.with_context(|| {
                format!("policy {id} not found; run pc-policies first or check the id with `pcsync policies list`")
            })?;
            let links = store.policy_tests(id)?;
            if let Format::Json = format {
                return print_json(&serde_json::json!({ "policy": policy, "controls": links }));
            }
            out!("policy {id}: {}", policy.data.title);
            out!(
                "status {}  present {}  import {}  last evaluated {}",
                policy.data.status,
                policy.present,
                if store.policy_import_disabled(id)? {
                    "disabled"
                } else {
                    "enabled"
                },
                policy.data.last_evaluated.as_deref().unwrap_or("never")
            );
            let mut section = None;
            for link in links.iter().filter(|link| link.present) {
                if section.as_ref() != Some(&link.data.section_number) {
                    section = Some(link.data.section_number.clone());
                    out!(
                        "\n  section {}  {}",
                        link.data.section_number.as_deref().unwrap_or("-"),
                        link.data.section_heading.as_deref().unwrap_or("")
                    );
                }
                let statement = store
                    .control(link.data.control_id)?
                    .map(|control| control.data.statement)
                    .unwrap_or_default();
                out!(
                    "    control {:>8}  {:<12}  {}",
                    link.data.control_id,
                    criticality_text(&link.data.criticality),
                    statement
                );
            }
            if links.is_empty() {
                out!("\n  no controls stored; run pc-policy-details");
            }
        }
        PoliciesCommand::DisableImport { id } | PoliciesCommand::EnableImport { id } => {
            let disable = matches!(command, PoliciesCommand::DisableImport { .. });
            store.policy(id)?.with_context(|| {
                format!("policy {id} not found; run pc-policies first or check the id with `pcsync policies list`")
            })?;
            store.set_policy_import_disabled(id, disable)?;
            store.flush()?;
            out!(
                "policy {id}: import {}",
                if disable { "disabled" } else { "enabled" }
            );
        }
    }
    Ok(())
}

pub(crate) fn controls(pcsync: &Pcsync, policy: Option<u64>, format: Format) -> anyhow::Result<()> {
    let store = pcsync.store();
    let Some(policy_id) = policy else {
        let controls = store.controls()?;
        match format {
            Format::Json => print_json(&controls)?,
            Format::Table => {
                out!(
                    "{:>8}  {:<12}  {:<6}  statement",
                    "id",
                    "criticality",
                    "active"
                );
                for row in controls {
                    out!(
                        "{:>8}  {:<12}  {:<6}  {}",
                        row.data.id,
                        criticality_text(&row.data.criticality),
                        row.present && row.data.active,
                        row.data.statement
                    );
                }
            }
        }
        return Ok(());
    };

    store
        .policy(policy_id)?
        .with_context(|| format!("policy {policy_id} not found"))?;
    let links: Vec<_> = store
        .policy_tests(policy_id)?
        .into_iter()
        .filter(|link| link.present)
        .collect();
    match format {
        Format::Json => {
            let mut rows = Vec::new();
            for link in links {
                rows.push(serde_json::json!({
                    "link": link,
                    "control": store.control(link.data.control_id)?,
                }));
            }
            print_json(&rows)?;
        }
        Format::Table => {
            out!(
                "{:>8}  {:<8}  {:<12}  statement",
                "id",
                "section",
                "criticality"
            );
            for link in links {
                let statement = store
                    .control(link.data.control_id)?
                    .map(|control| control.data.statement)
                    .unwrap_or_default();
                out!(
                    "{:>8}  {:<8}  {:<12}  {}",
                    link.data.control_id,
                    link.data.section_number.as_deref().unwrap_or("-"),
                    criticality_text(&link.data.criticality),
                    statement
                );
            }
        }
    }
    Ok(())
}

/// A CSV field, quoted when it has to be.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn result_json(row: &Row<ResultRow>) -> serde_json::Value {
    serde_json::json!({
        "key": format_result_key(&row.data.result.key),
        "status": row.data.result.status,
        "state": row.data.state,
        "resolution": row.data.resolution,
        "first_seen": row.data.first_seen,
        "last_seen": row.data.last_seen,
        "result": row.data.result,
    })
}

pub(crate) fn results(pcsync: &Pcsync, command: ResultsCommand) -> anyhow::Result<()> {
    let store = pcsync.store();
    match command {
        ResultsCommand::List {
            policy,
            host,
            status,
            state,
            format,
        } => {
            if let Some(state) = &state
                && !["open", "closed"].contains(&state.to_ascii_lowercase().as_str())
            {
                anyhow::bail!("invalid --state `{state}`: expected open or closed");
            }
            if let Some(status) = &status
                && !["passed", "failed", "error"].contains(&status.to_ascii_lowercase().as_str())
            {
                anyhow::bail!("invalid --status `{status}`: expected Passed, Failed or Error");
            }
            let filter = ResultFilter {
                policy_id: policy,
                host_id: host,
                status,
                state,
            };
            let mut first = true;
            match format {
                ListFormat::Table => out!(
                    "{:<40} {:<7} {:<7} {:<12} {:<21} statement",
                    "key",
                    "status",
                    "state",
                    "criticality",
                    "last seen"
                ),
                ListFormat::Csv => out!(
                    "key,policy_id,host_id,control_id,technology_id,instance,status,state,resolution,first_seen,last_seen,criticality,statement"
                ),
                ListFormat::Json => out!("["),
                ListFormat::Jsonl => {}
            }
            store.visit_results(&filter, |row| {
                let result = &row.data.result;
                match format {
                    ListFormat::Table => out!(
                        "{:<40} {:<7} {:<7} {:<12} {:<21} {}",
                        format_result_key(&result.key),
                        result.status,
                        row.data.state,
                        criticality_text(&result.criticality),
                        row.data.last_seen.as_deref().unwrap_or("-"),
                        result.control_statement.as_deref().unwrap_or("")
                    ),
                    ListFormat::Json => {
                        out!("{}{}", if first { "" } else { "," }, result_json(&row));
                    }
                    ListFormat::Jsonl => out!("{}", result_json(&row)),
                    ListFormat::Csv => out!(
                        "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                        csv_field(&format_result_key(&result.key)),
                        result.key.policy_id,
                        result.key.host_id,
                        result.key.control_id,
                        result.key.technology_id,
                        csv_field(&result.key.instance),
                        result.status,
                        row.data.state,
                        row.data.resolution.as_deref().unwrap_or(""),
                        row.data.first_seen.as_deref().unwrap_or(""),
                        row.data.last_seen.as_deref().unwrap_or(""),
                        csv_field(&criticality_text(&result.criticality)),
                        csv_field(result.control_statement.as_deref().unwrap_or(""))
                    ),
                }
                first = false;
                true
            })?;
            if let ListFormat::Json = format {
                out!("]");
            }
        }
        ResultsCommand::Show { key } => {
            let key = parse_result_key(&key).map_err(anyhow::Error::msg)?;
            let row = store.result(&key)?.with_context(|| {
                format!(
                    "result {} not found; `pcsync results list` prints the keys",
                    format_result_key(&key)
                )
            })?;
            let result = &row.data.result;
            out!("result {}", format_result_key(&result.key));
            out!(
                "status {}  previous {}  state {}{}",
                result.status,
                result.previous_status.as_deref().unwrap_or("-"),
                row.data.state,
                row.data
                    .resolution
                    .as_ref()
                    .map(|resolution| format!(" ({resolution})"))
                    .unwrap_or_default()
            );
            out!(
                "control: {}",
                result.control_statement.as_deref().unwrap_or("-")
            );
            out!("criticality: {}", criticality_text(&result.criticality));
            out!(
                "first seen {}  last seen {}  posture modified {}",
                row.data.first_seen.as_deref().unwrap_or("-"),
                row.data.last_seen.as_deref().unwrap_or("-"),
                result.posture_modified_date.as_deref().unwrap_or("-")
            );
            out!(
                "first fail {}  last fail {}  first pass {}  last pass {}",
                result.first_fail_date.as_deref().unwrap_or("-"),
                result.last_fail_date.as_deref().unwrap_or("-"),
                result.first_pass_date.as_deref().unwrap_or("-"),
                result.last_pass_date.as_deref().unwrap_or("-")
            );
            out!(
                "\nexpected values:\n{}",
                result.expected_values.as_deref().unwrap_or("-")
            );
            out!(
                "\nactual values:\n{}",
                result.actual_values.as_deref().unwrap_or("-")
            );
            if let Some(remediation) = &result.remediation {
                out!("\nremediation:\n{remediation}");
            }
            out!("\nhistory:");
            let history = store.result_history(&key)?;
            if history.is_empty() {
                out!("  no change of status recorded");
            }
            for change in history {
                out!(
                    "  {}  {} -> {}  (run {})",
                    change.changed_on,
                    change.previous_status.as_deref().unwrap_or("-"),
                    change.status,
                    change.run_id
                );
            }
        }
    }
    Ok(())
}

pub(crate) fn hosts(pcsync: &Pcsync, format: Format) -> anyhow::Result<()> {
    let hosts = pcsync.store().hosts()?;
    match format {
        Format::Json => print_json(&hosts)?,
        Format::Table => {
            out!(
                "{:>10}  {:<15}  {:<28}  {:<16}  {:<8}  {:<21}  os",
                "id",
                "ip",
                "dns",
                "netbios",
                "tracking",
                "last scan"
            );
            for row in hosts {
                let host = &row.data;
                out!(
                    "{:>10}  {:<15}  {:<28}  {:<16}  {:<8}  {:<21}  {}",
                    host.id,
                    host.ip.as_deref().unwrap_or("-"),
                    host.dns.as_deref().unwrap_or("-"),
                    host.netbios.as_deref().unwrap_or("-"),
                    host.tracking_method.as_deref().unwrap_or("-"),
                    host.last_scan_date.as_deref().unwrap_or("-"),
                    host.os.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(())
}

/// Prints the nine jobs with their schedule, whether each is active, its component and when it
/// is due. Without a store every active, scheduled job has never completed a run.
pub(crate) fn print_jobs(
    config: &Config,
    pcsync: Option<&Pcsync>,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    out!(
        "{:<32} {:<51} {:<7} {:<15} {:<9} due",
        "job",
        "name",
        "active",
        "schedule",
        "component"
    );
    let now = crate::time::now();
    for job in JobId::ALL {
        let component = match crate::runtime::registry::component_bytes(data_dir, job) {
            Ok((_, crate::runtime::registry::Source::Embedded)) => "embedded",
            Ok((_, crate::runtime::registry::Source::DropIn(_))) => "drop-in",
            Err(_) => "none",
        };
        let due = match pcsync {
            Some(pcsync) => pcsync.due(job, now)?,
            None if config.job_active(job) && config.schedule(job).interval().is_some() => {
                Due::NeverCompleted
            }
            None => Due::NotScheduled,
        };
        out!(
            "{:<32} {:<51} {:<7} {:<15} {:<9} {}",
            job.as_str(),
            job.display_name(),
            config.job_active(job),
            config.schedule(job).to_string(),
            component,
            due_text(&due)
        );
    }
    for job in JobId::ALL {
        let unknown = config.unknown_parameters(job);
        if !unknown.is_empty() {
            out!(
                "\nwarning: [jobs.{job}] has keys {job} does not read: {}; it reads active, start_time, schedule and {}",
                unknown.join(", "),
                job.parameters().join(", ")
            );
        }
    }
    if let Some(pcrs) = config.pcrs_activated() {
        out!(
            "\nthe PCRS result pipeline is active ([jobs.{pcrs}] active = true), so {} and {} are inactive",
            JobId::PcResults,
            JobId::PcComprehensiveResults
        );
    }
    Ok(())
}

/// Says why a job is due, or when it will be.
pub(crate) fn due_text(due: &Due) -> String {
    match due {
        Due::NeverCompleted => "now: never completed a run".into(),
        Due::Unfinished(run) => format!("now: run {run} is unfinished and resumes"),
        Due::IntervalPassed { last_complete } => {
            format!("now: last complete run started {last_complete}")
        }
        Due::NotUntil(time) => format!("at {time}"),
        Due::NotScheduled => "-".into(),
    }
}
