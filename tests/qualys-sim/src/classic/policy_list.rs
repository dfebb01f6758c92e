//! Policy list: `action=list` on `/api/<version>/fo/compliance/policy/`.

use std::collections::HashMap;

use axum::http::StatusCode;

use crate::body;
use crate::classic::paging::{CHUNK_TARGET, Warning};
use crate::classic::params::{self, Details, ListFilters, ParamError};
use crate::dataset::{Control, Policy};
use crate::response::{SimResponse, XML_CONTENT_TYPE};
use crate::rng::SplitMix64;
use crate::server::Incoming;
use crate::state::{State, lock};
use crate::xml::XmlWriter;

const ALLOWED_PARAMS: &[&str] = &[
    "action",
    "details",
    "ids",
    "id_min",
    "id_max",
    "updated_after_datetime",
    "created_after_datetime",
    "echo_request",
];

const DTD_URL: &str =
    "https://qualysapi.qualys.com/api/2.0/fo/compliance/policy/policy_list_output.dtd";

/// The decoded parameters of one policy list request.
#[derive(Debug)]
struct ListQuery {
    details: Details,
    filters: ListFilters,
    echo_request: bool,
}

impl ListQuery {
    fn parse(incoming: &Incoming) -> Result<Self, ParamError> {
        params::reject_unknown(incoming, ALLOWED_PARAMS)?;
        Ok(Self {
            details: params::parse_details(incoming.param("details"))?,
            filters: ListFilters::parse(incoming)?,
            echo_request: incoming
                .param("echo_request")
                .map(|v| params::parse_flag("echo_request", v))
                .transpose()?
                .unwrap_or(false),
        })
    }

    fn matches(&self, policy: &Policy) -> bool {
        self.filters
            .matches(policy.id, &policy.last_modified.0, &policy.created.0)
    }
}

/// Returns one page of matching policies, ordered by id, with a truncation WARNING when more
/// match. The body is rendered while it is sent.
pub(crate) fn respond(state: &State, incoming: &Incoming, clock: &str) -> SimResponse {
    let query = match ListQuery::parse(incoming) {
        Ok(query) => query,
        Err(error) => return error.into_response(clock),
    };
    let page_size = state.page_size();

    let (page, next_id, controls) = {
        let dataset = lock(&state.dataset);
        let mut matching = dataset
            .policies
            .iter()
            .filter(|policy| query.matches(policy));
        let page: Vec<Policy> = matching.by_ref().take(page_size).cloned().collect();
        let next_id = matching.next().map(|policy| policy.id);
        let controls: HashMap<u64, Control> = if query.details == Details::All {
            page.iter()
                .flat_map(|policy| policy.control_ids.iter())
                .filter_map(|id| dataset.control(*id))
                .map(|control| (control.id, control.clone()))
                .collect()
        } else {
            HashMap::new()
        };
        (page, next_id, controls)
    };

    let warning = next_id.map(|id| Warning::new(incoming, page_size, id));
    // With no matching policy the POLICY_LIST element is left out, not sent empty.
    let list_open = !page.is_empty();
    let mut writer = XmlWriter::new();
    write_head(
        &mut writer,
        incoming,
        &query,
        clock,
        &state.credentials.username,
        list_open,
    );
    let chunks = PolicyListChunks {
        writer,
        policies: page.into_iter(),
        list_open,
        controls,
        details: query.details,
        warning,
        done: false,
    };
    SimResponse::stream(StatusCode::OK, XML_CONTENT_TYPE, body::from_chunks(chunks))
}

fn write_head(
    writer: &mut XmlWriter,
    incoming: &Incoming,
    query: &ListQuery,
    clock: &str,
    username: &str,
    list_open: bool,
) {
    writer.declaration();
    writer.doctype("POLICY_LIST_OUTPUT", DTD_URL);
    writer.start("POLICY_LIST_OUTPUT");
    if query.echo_request {
        writer.start("REQUEST");
        writer.text("DATETIME", clock);
        writer.text("USER_LOGIN", username);
        writer.text("RESOURCE", &incoming.path);
        writer.start("PARAM_LIST");
        for (name, value) in incoming.params() {
            writer.start("PARAM");
            writer.text("KEY", name);
            writer.text("VALUE", value);
            writer.end("PARAM");
        }
        writer.end("PARAM_LIST");
        writer.end("REQUEST");
    }
    writer.start("RESPONSE");
    writer.text("DATETIME", clock);
    if list_open {
        writer.start("POLICY_LIST");
    }
}

/// Renders the policy list body a chunk at a time.
struct PolicyListChunks {
    writer: XmlWriter,
    policies: std::vec::IntoIter<Policy>,
    /// Whether the head opened a POLICY_LIST element that the last chunk must close.
    list_open: bool,
    controls: HashMap<u64, Control>,
    details: Details,
    warning: Option<Warning>,
    done: bool,
}

impl Iterator for PolicyListChunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        for policy in self.policies.by_ref() {
            write_policy(&mut self.writer, &policy, self.details, &self.controls);
            if self.writer.len() >= CHUNK_TARGET {
                return Some(self.writer.take());
            }
        }

        if self.list_open {
            self.writer.end("POLICY_LIST");
        }
        if let Some(warning) = &self.warning {
            warning.write(&mut self.writer);
        }
        self.writer.end("RESPONSE");
        self.writer.end("POLICY_LIST_OUTPUT");
        self.done = true;
        Some(self.writer.take())
    }
}

/// Tag names for [`write_policy`]'s TAG_SET_INCLUDE, with markup characters on purpose.
const TAG_NAMES: &[&str] = &[
    "Production & DMZ",
    "PCI <in scope>",
    "Windows Servers",
    "Cloud",
];

/// Writes one POLICY element.
///
/// `details=None` writes ID and TITLE only. Basic and All add the policy's own fields and three
/// elements whose shape the simulator invents to exercise a client's handling of unknown
/// elements: EVALUATE_NOW, ASSET_GROUP_IDS and TAG_SET_INCLUDE (the last two only for some
/// policies, chosen from the id). All also adds CONTROL_LIST.
fn write_policy(
    writer: &mut XmlWriter,
    policy: &Policy,
    details: Details,
    controls: &HashMap<u64, Control>,
) {
    writer.start("POLICY");
    writer.number("ID", policy.id);
    // Qualys surrounds titles with whitespace. NOTE: whether the whitespace sits inside or
    // outside the CDATA section is unconfirmed. Inside is the harder case, because the
    // client must trim the value itself.
    writer.cdata("TITLE", &format!("  {} ", policy.title));
    if details == Details::None {
        writer.end("POLICY");
        return;
    }

    writer.start("CREATED");
    writer.text("DATETIME", &policy.created.0);
    writer.text("BY", &policy.created.1);
    writer.end("CREATED");
    writer.start("LAST_MODIFIED");
    writer.text("DATETIME", &policy.last_modified.0);
    writer.text("BY", &policy.last_modified.1);
    writer.end("LAST_MODIFIED");
    if let Some(evaluated) = &policy.last_evaluated {
        writer.start("LAST_EVALUATED");
        writer.text("DATETIME", evaluated);
        writer.end("LAST_EVALUATED");
    }
    writer.cdata("STATUS", policy.status.as_str());
    writer.number("IS_LOCKED", u8::from(policy.locked));

    let mut rng = SplitMix64::new(policy.id);
    writer.cdata("EVALUATE_NOW", if rng.one_in(5) { "Yes" } else { "No" });
    if rng.one_in(2) {
        let count = rng.between(1, 3);
        let ids: Vec<String> = (0..count)
            .map(|_| rng.between(3_000, 3_999).to_string())
            .collect();
        writer.text("ASSET_GROUP_IDS", &ids.join(","));
    }
    if rng.one_in(3) {
        writer.start("TAG_SET_INCLUDE");
        writer.start("TAG_ITEM_LIST");
        for _ in 0..rng.between(1, 2) {
            writer.start("TAG");
            writer.number("ID", rng.between(7_000, 7_999));
            let name: &&str = rng.pick(TAG_NAMES);
            writer.cdata("NAME", name);
            writer.end("TAG");
        }
        writer.end("TAG_ITEM_LIST");
        writer.end("TAG_SET_INCLUDE");
    }

    if details == Details::All {
        writer.start("CONTROL_LIST");
        for control in policy.control_ids.iter().filter_map(|id| controls.get(id)) {
            writer.start("CONTROL");
            writer.number("ID", control.id);
            writer.cdata("STATEMENT", &control.statement);
            writer.start("CRITICALITY");
            writer.text("LABEL", control.criticality.label());
            writer.number("VALUE", control.criticality.value());
            writer.end("CRITICALITY");
            writer.end("CONTROL");
        }
        writer.end("CONTROL_LIST");
    }
    writer.end("POLICY");
}
