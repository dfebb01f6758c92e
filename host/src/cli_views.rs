//! The policy and control views of the command line.

use anyhow::Context;

use crate::Pcsync;
use crate::cli::{Format, PoliciesCommand, print_json};
use crate::runtime::bindings::Criticality;

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
                    println!(
                        "{:>10}  {:<8}  {:<8}  {:<20}  title",
                        "id", "status", "present", "last evaluated"
                    );
                    for row in policies {
                        println!(
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
            println!("policy {id}: {}", policy.data.title);
            println!(
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
                    println!(
                        "\n  section {}  {}",
                        link.data.section_number.as_deref().unwrap_or("-"),
                        link.data.section_heading.as_deref().unwrap_or("")
                    );
                }
                let statement = store
                    .control(link.data.control_id)?
                    .map(|control| control.data.statement)
                    .unwrap_or_default();
                println!(
                    "    control {:>8}  {:<12}  {}",
                    link.data.control_id,
                    criticality_text(&link.data.criticality),
                    statement
                );
            }
            if links.is_empty() {
                println!("\n  no controls stored; run pc-policy-details");
            }
        }
        PoliciesCommand::DisableImport { id } | PoliciesCommand::EnableImport { id } => {
            let disable = matches!(command, PoliciesCommand::DisableImport { .. });
            store.policy(id)?.with_context(|| {
                format!("policy {id} not found; run pc-policies first or check the id with `pcsync policies list`")
            })?;
            store.set_policy_import_disabled(id, disable)?;
            store.flush()?;
            println!(
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
                println!(
                    "{:>8}  {:<12}  {:<6}  statement",
                    "id", "criticality", "active"
                );
                for row in controls {
                    println!(
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
            println!(
                "{:>8}  {:<8}  {:<12}  statement",
                "id", "section", "criticality"
            );
            for link in links {
                let statement = store
                    .control(link.data.control_id)?
                    .map(|control| control.data.statement)
                    .unwrap_or_default();
                println!(
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
