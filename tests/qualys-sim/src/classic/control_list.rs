//! Control list: `action=list` on `/api/<version>/fo/compliance/control/`.

use axum::http::StatusCode;

use crate::body;
use crate::classic::api_version;
use crate::classic::elements::{self, Lookup, ResolvedControl};
use crate::classic::paging::{CHUNK_TARGET, Warning};
use crate::classic::params::{self, Details, ListFilters, ParamError};
use crate::response::{SimResponse, XML_CONTENT_TYPE};
use crate::server::Incoming;
use crate::state::{State, lock};
use crate::xml::{Line, XmlWriter};

const ALLOWED_PARAMS: &[&str] = &[
    "action",
    "details",
    "ids",
    "id_min",
    "id_max",
    "updated_after_datetime",
    "created_after_datetime",
    "truncation_limit",
];

/// Page size without a `truncation_limit` parameter.
const DEFAULT_TRUNCATION_LIMIT: usize = 1000;

// NOTE: no real response confirmed this DTD file name, which follows the policy list's
// pattern, nor the element names below ID.
const DTD_URL: &str =
    "https://qualysapi.qualys.com/api/2.0/fo/compliance/control/control_list_output.dtd";

/// The decoded parameters of one control list request.
#[derive(Debug)]
struct ControlQuery {
    details: Details,
    filters: ListFilters,
    /// Maximum number of controls in the response, or `None` for no limit.
    limit: Option<usize>,
}

impl ControlQuery {
    fn parse(incoming: &Incoming) -> Result<Self, ParamError> {
        params::reject_unknown(incoming, ALLOWED_PARAMS)?;
        Ok(Self {
            details: params::parse_details(incoming.param("details"))?,
            filters: ListFilters::parse(incoming)?,
            limit: match incoming.param("truncation_limit") {
                Some(value) => params::parse_truncation_limit(value)?,
                None => Some(DEFAULT_TRUNCATION_LIMIT),
            },
        })
    }
}

/// Returns one page of matching controls, user-defined ones included, ordered by id, with a
/// truncation WARNING when more match. The body is rendered while it is sent.
pub(crate) fn respond(state: &State, incoming: &Incoming, clock: &str) -> SimResponse {
    let query = match ControlQuery::parse(incoming) {
        Ok(query) => query,
        Err(error) => return error.into_response(clock),
    };
    let limit = query.limit.unwrap_or(usize::MAX);

    let (page, next_id) = {
        let dataset = lock(&state.dataset);
        let lookup = Lookup::new(&dataset);
        let mut matching = dataset.controls.iter().filter(|control| {
            query
                .filters
                .matches(control.id, &control.updated, &control.created)
        });
        let page: Vec<ResolvedControl> = matching
            .by_ref()
            .take(limit)
            .map(|control| lookup.resolve(control))
            .collect();
        let next_id = matching.next().map(|control| control.id);
        (page, next_id)
    };

    let warning = next_id.map(|id| Warning::new(incoming, limit, id));
    // With no matching control the CONTROL_LIST element is left out, as the policy list
    // leaves out an empty POLICY_LIST.
    let list_open = !page.is_empty();
    let mut writer = XmlWriter::new();
    writer.declaration();
    writer.doctype("CONTROL_LIST_OUTPUT", DTD_URL);
    writer.start("CONTROL_LIST_OUTPUT");
    writer.start("RESPONSE");
    writer.text("DATETIME", clock);
    if list_open {
        writer.start("CONTROL_LIST");
    }
    let chunks = ControlListChunks {
        writer,
        controls: page.into_iter(),
        list_open,
        details: query.details,
        with_is_active: api_version(&incoming.path) == Some("5.0"),
        warning,
        done: false,
    };
    SimResponse::stream(StatusCode::OK, XML_CONTENT_TYPE, body::from_chunks(chunks))
}

/// Renders the control list body a chunk at a time.
struct ControlListChunks {
    writer: XmlWriter,
    controls: std::vec::IntoIter<ResolvedControl>,
    /// Whether the head opened a CONTROL_LIST element that the last chunk must close.
    list_open: bool,
    details: Details,
    /// Whether to write IS_ACTIVE, which only API 5.0 returns.
    with_is_active: bool,
    warning: Option<Warning>,
    done: bool,
}

impl Iterator for ControlListChunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        for control in self.controls.by_ref() {
            write_control(
                &mut self.writer,
                &control,
                self.details,
                self.with_is_active,
            );
            if self.writer.len() >= CHUNK_TARGET {
                return Some(self.writer.take());
            }
        }

        if self.list_open {
            self.writer.end("CONTROL_LIST");
        }
        if let Some(warning) = &self.warning {
            warning.write(&mut self.writer);
        }
        self.writer.end("RESPONSE");
        self.writer.end("CONTROL_LIST_OUTPUT");
        self.done = true;
        Some(self.writer.take())
    }
}

/// Writes one CONTROL element.
///
/// `details=None` writes ID and STATEMENT only. Basic writes every field and TECHNOLOGY_LIST,
/// and All adds FRAMEWORK_LIST. COMMENT is left out for a control without a comment, and
/// either list is left out when it would be empty.
fn write_control(
    writer: &mut XmlWriter,
    resolved: &ResolvedControl,
    details: Details,
    with_is_active: bool,
) {
    let control = &resolved.control;
    writer.start("CONTROL");
    writer.number("ID", control.id);
    if details == Details::None {
        writer.cdata("STATEMENT", &control.statement);
        writer.end("CONTROL");
        return;
    }

    writer.text("UPDATE_DATE", &control.updated);
    writer.text("CREATED_DATE", &control.created);
    for (name, category) in [
        ("CATEGORY", &control.category),
        ("SUB_CATEGORY", &control.sub_category),
    ] {
        let mut line = Line::new();
        line.open(name)
            .number("ID", category.id)
            .cdata("NAME", &category.name)
            .close(name);
        writer.line(&line);
    }
    writer.cdata("STATEMENT", &control.statement);
    writer.line(&elements::criticality_line(control.criticality));
    writer.cdata("CHECK_TYPE", &control.check_type);
    if let Some(comment) = &control.comment {
        writer.cdata("COMMENT", comment);
    }
    writer.number("IGNORE_ERROR", u8::from(control.ignore_error));
    if with_is_active {
        writer.number("IS_ACTIVE", u8::from(control.is_active));
    }

    if !resolved.technologies.is_empty() {
        writer.start("TECHNOLOGY_LIST");
        for (technology, rationale) in &resolved.technologies {
            writer.line(&elements::technology_line(technology, Some(rationale)));
        }
        writer.end("TECHNOLOGY_LIST");
    }
    if details == Details::All && !resolved.frameworks.is_empty() {
        writer.start("FRAMEWORK_LIST");
        for (framework, references) in &resolved.frameworks {
            writer.line(&elements::framework_line(framework, references));
        }
        writer.end("FRAMEWORK_LIST");
    }
    writer.end("CONTROL");
}
