//! Posture info: `action=list&policy_id=N` on `/api/<version>/fo/compliance/posture/info/`.

mod query;
mod render;

use std::collections::{BTreeSet, HashMap};

use axum::http::StatusCode;

use crate::body;
use crate::classic::paging::Warning;
use crate::classic::simple_return;
use crate::dataset::{Criticality, Dataset, Host, Policy, Technology};
use crate::postures::{PolicySnapshot, Record};
use crate::response::{SimResponse, XML_CONTENT_TYPE};
use crate::server::Incoming;
use crate::state::{State, lock};
use query::{PostureDetails, PostureQuery};
use render::PostureChunks;

/// Returns one page of the policy's postures that match the filters, ordered by id, with a
/// GLOSSARY of what the page references and a truncation WARNING when more match.
///
/// The page's records are chosen while the data set is locked, and the body is rendered
/// while it is sent, from a shared copy of the policy's records.
pub(crate) fn respond(state: &State, incoming: &Incoming, clock: &str) -> SimResponse {
    let query = match PostureQuery::parse(incoming) {
        Ok(query) => query,
        Err(error) => return error.into_response(clock),
    };

    let page = {
        let dataset = lock(&state.dataset);
        let Some(policy) = dataset.policy(query.policy_id) else {
            let text = format!("Policy ID {} does not exist.", query.policy_id);
            let document = simple_return::document(clock, Some(1905), &text, &[]);
            return SimResponse::xml(StatusCode::BAD_REQUEST, document);
        };
        let snapshot = lock(&state.postures).snapshot(policy.id);
        Page::select(&dataset, policy, snapshot, &query)
    };

    let limit = query.limit.unwrap_or(usize::MAX);
    let warning = page.next_id.map(|id| Warning::new(incoming, limit, id));
    let chunks = PostureChunks::new(page, query, warning, clock);
    SimResponse::stream(StatusCode::OK, XML_CONTENT_TYPE, body::from_chunks(chunks))
}

/// The postures of one response and what its GLOSSARY shows, copied out of the data set.
pub(crate) struct Page {
    /// The policy's records, or `None` for a policy without postures.
    snapshot: Option<PolicySnapshot>,
    /// Indexes into the snapshot's records of the postures on the page, in id order.
    matched: Vec<u32>,
    /// Id of the first matching posture after the page, when the limit cut the list.
    next_id: Option<u64>,
    /// Statements of the controls on the page by id, which the remediation texts quote.
    statements: HashMap<u64, String>,
    glossary: Glossary,
}

/// The GLOSSARY entries of a page, without the evidence tokens, which are collected while
/// the postures are rendered.
#[derive(Default)]
pub(crate) struct Glossary {
    hosts: Vec<Host>,
    controls: Vec<GlossaryControl>,
    technologies: Vec<Technology>,
}

/// A control as the GLOSSARY describes it for one policy.
struct GlossaryControl {
    id: u64,
    statement: String,
    /// Position in the policy, such as `2.3` for the third control of section 2, or `None`
    /// for a control that is no longer in the policy.
    reference: Option<String>,
    /// Criticality in the policy, or the control's own when it is no longer in the policy.
    criticality: Criticality,
    /// Rationales for the technologies that the page's postures of this control evaluate.
    rationales: Vec<(u64, String)>,
}

/// What the page references, gathered while choosing its postures.
#[derive(Default)]
struct References {
    hosts: BTreeSet<u64>,
    controls: BTreeSet<u64>,
    technologies: BTreeSet<u64>,
    control_technologies: BTreeSet<(u64, u64)>,
}

impl Page {
    fn select(
        dataset: &Dataset,
        policy: &Policy,
        snapshot: Option<PolicySnapshot>,
        query: &PostureQuery,
    ) -> Page {
        let criticalities = policy_criticalities(dataset, policy);
        let ips: HashMap<u64, u64> = match query.ips {
            Some(_) => dataset
                .hosts
                .iter()
                .filter_map(|host| Some((host.id, query::ip_number(&host.ip)?)))
                .collect(),
            None => HashMap::new(),
        };
        let filter = Filter {
            query,
            criticalities: &criticalities,
            ips: &ips,
        };

        let limit = query.limit.unwrap_or(usize::MAX);
        let mut matched = Vec::new();
        let mut next_id = None;
        let mut references = References::default();
        if let Some(snapshot) = &snapshot {
            let records = &snapshot.records;
            let start = query
                .id_min
                .map_or(0, |min| records.partition_point(|record| record.id < min));
            for (index, record) in records.iter().enumerate().skip(start) {
                if !filter.matches(record) {
                    continue;
                }
                if matched.len() == limit {
                    next_id = Some(record.id);
                    break;
                }
                matched.push(index as u32);
                references.hosts.insert(record.host_id);
                references.controls.insert(record.control_id);
                references.technologies.insert(record.technology_id);
                references
                    .control_technologies
                    .insert((record.control_id, record.technology_id));
            }
        }

        let statements = references
            .controls
            .iter()
            .filter_map(|id| Some((*id, dataset.control(*id)?.statement.clone())))
            .collect();
        let glossary = if query.details == PostureDetails::None {
            Glossary::default()
        } else {
            Glossary::gather(dataset, policy, &criticalities, &references)
        };
        Page {
            snapshot,
            matched,
            next_id,
            statements,
            glossary,
        }
    }
}

/// The posture filters of one request, with the data set values they compare.
struct Filter<'a> {
    query: &'a PostureQuery,
    /// Criticality of each control in the policy.
    criticalities: &'a HashMap<u64, Criticality>,
    /// IPv4 address of each host as a number, filled only for an `ips` filter.
    ips: &'a HashMap<u64, u64>,
}

impl Filter<'_> {
    /// Tests a posture against every filter. `status_changes_since` and `evaluation_date`
    /// include postures changed or evaluated exactly at the given time.
    fn matches(&self, record: &Record) -> bool {
        let query = self.query;
        query.status.is_none_or(|status| record.status == status)
            && query
                .status_changes_since
                .is_none_or(|since| record.modified.unix() >= since)
            && query
                .evaluation_date
                .is_none_or(|since| record.evaluated.unix() >= since)
            && query
                .control_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(record.control_id))
            && query
                .host_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(record.host_id))
            && query.ips.as_ref().is_none_or(|ips| {
                self.ips
                    .get(&record.host_id)
                    .is_some_and(|ip| ips.contains(*ip))
            })
            && (!query.filters_criticality()
                || self
                    .criticalities
                    .get(&record.control_id)
                    .is_some_and(|criticality| query.accepts_criticality(*criticality)))
    }
}

/// Returns the criticality of each control in the policy: the one its section gives it, or
/// the control's own for a control no longer in the policy.
fn policy_criticalities(dataset: &Dataset, policy: &Policy) -> HashMap<u64, Criticality> {
    let mut criticalities: HashMap<u64, Criticality> = dataset
        .controls
        .iter()
        .map(|control| (control.id, control.criticality))
        .collect();
    let mut seen = BTreeSet::new();
    for used in policy.section_controls() {
        if seen.insert(used.control_id) {
            criticalities.insert(used.control_id, used.criticality);
        }
    }
    criticalities
}

impl Glossary {
    /// Copies the entries that the page references and that the data set contains, leaving
    /// out the data set's glossary gaps.
    fn gather(
        dataset: &Dataset,
        policy: &Policy,
        criticalities: &HashMap<u64, Criticality>,
        references: &References,
    ) -> Glossary {
        let gaps = &dataset.glossary_gaps;
        let hosts = references
            .hosts
            .iter()
            .filter(|id| !gaps.hosts.contains(id))
            .filter_map(|id| dataset.host(*id).cloned())
            .collect();
        let technologies = references
            .technologies
            .iter()
            .filter(|id| !gaps.technologies.contains(id))
            .filter_map(|id| dataset.technology(*id).cloned())
            .collect();

        let mut positions: HashMap<u64, String> = HashMap::new();
        for section in &policy.sections {
            for (index, used) in section.controls.iter().enumerate() {
                positions
                    .entry(used.control_id)
                    .or_insert_with(|| format!("{}.{}", section.number, index + 1));
            }
        }
        let controls = references
            .controls
            .iter()
            .filter(|id| !gaps.controls.contains(id))
            .filter_map(|id| dataset.control(*id))
            .map(|control| GlossaryControl {
                id: control.id,
                statement: control.statement.clone(),
                reference: positions.get(&control.id).cloned(),
                criticality: criticalities
                    .get(&control.id)
                    .copied()
                    .unwrap_or(control.criticality),
                rationales: control
                    .technologies
                    .iter()
                    .filter(|(technology_id, _)| {
                        references
                            .control_technologies
                            .contains(&(control.id, *technology_id))
                            && !gaps.technologies.contains(technology_id)
                            && dataset.technology(*technology_id).is_some()
                    })
                    .cloned()
                    .collect(),
            })
            .collect();
        Glossary {
            hosts,
            controls,
            technologies,
        }
    }
}
