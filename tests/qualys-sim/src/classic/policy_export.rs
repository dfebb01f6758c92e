//! Policy export: `action=export&id=N` on `/api/<version>/fo/compliance/policy/`.

use std::collections::{HashMap, HashSet};

use axum::http::StatusCode;

use crate::body;
use crate::classic::elements::{self, Lookup, ResolvedControl};
use crate::classic::paging::CHUNK_TARGET;
use crate::classic::params::{self, ParamError};
use crate::classic::simple_return;
use crate::dataset::{Criticality, Dataset, Policy, Technology};
use crate::response::{SimResponse, XML_CONTENT_TYPE};
use crate::server::Incoming;
use crate::state::{State, lock};
use crate::xml::XmlWriter;

const ALLOWED_PARAMS: &[&str] = &["action", "id", "show_user_controls", "show_appendix"];

const DTD_URL: &str =
    "https://qualysapi.qualys.com/api/2.0/fo/compliance/policy/policy_export_output.dtd";

/// The decoded parameters of one policy export request.
#[derive(Debug)]
struct ExportQuery {
    id: u64,
    show_user_controls: bool,
    show_appendix: bool,
}

impl ExportQuery {
    fn parse(incoming: &Incoming) -> Result<Self, ParamError> {
        params::reject_unknown(incoming, ALLOWED_PARAMS)?;
        let id = incoming
            .param("id")
            .ok_or_else(|| ParamError::missing("id"))?;
        let flag = |name| {
            incoming
                .param(name)
                .map(|v| params::parse_flag(name, v))
                .transpose()
                .map(|flag| flag.unwrap_or(false))
        };
        Ok(Self {
            id: params::parse_id("id", id)?,
            show_user_controls: flag("show_user_controls")?,
            show_appendix: flag("show_appendix")?,
        })
    }
}

/// Returns the export of one policy, or HTTP 400 with a SIMPLE_RETURN for an unknown policy
/// or one listed in [`Dataset::export_failures`]. The body is rendered while it is sent.
pub(crate) fn respond(state: &State, incoming: &Incoming, clock: &str) -> SimResponse {
    let query = match ExportQuery::parse(incoming) {
        Ok(query) => query,
        Err(error) => return error.into_response(clock),
    };

    let export = {
        let dataset = lock(&state.dataset);
        if let Some((code, text)) = dataset.export_failures.get(&query.id) {
            let document = simple_return::document(clock, Some(*code), text, &[]);
            return SimResponse::xml(StatusCode::BAD_REQUEST, document);
        }
        let Some(policy) = dataset.policy(query.id) else {
            let text = format!("Policy ID {} does not exist.", query.id);
            let document = simple_return::document(clock, Some(1905), &text, &[]);
            return SimResponse::xml(StatusCode::BAD_REQUEST, document);
        };
        Export::gather(&dataset, policy, &query)
    };

    let mut writer = XmlWriter::new();
    write_head(&mut writer, &export, clock);
    let chunks = ExportChunks {
        writer,
        sections: export.sections.into_iter(),
        current: None,
        appendix: export.appendix,
        done: false,
    };
    SimResponse::stream(StatusCode::OK, XML_CONTENT_TYPE, body::from_chunks(chunks))
}

/// What one export shows, copied out of the data set.
struct Export {
    title: String,
    technologies: Vec<Technology>,
    sections: Vec<ExportSection>,
    appendix: Option<String>,
}

struct ExportSection {
    number: String,
    heading: String,
    controls: Vec<ExportControl>,
}

struct ExportControl {
    resolved: ResolvedControl,
    /// Criticality of the control in the exported policy.
    criticality: Criticality,
}

impl Export {
    /// Copies the policy's sections with their controls in order. Control ids that the data
    /// set does not contain are left out, and so are user-defined controls unless the
    /// request has `show_user_controls=1`. A section stays even when no control is left in it.
    fn gather(dataset: &Dataset, policy: &Policy, query: &ExportQuery) -> Export {
        let lookup = Lookup::new(dataset);
        let used: HashSet<u64> = policy
            .section_controls()
            .map(|used| used.control_id)
            .collect();
        let controls: HashMap<u64, ResolvedControl> = dataset
            .controls
            .iter()
            .filter(|control| used.contains(&control.id))
            .filter(|control| query.show_user_controls || !control.user_defined)
            .map(|control| (control.id, lookup.resolve(control)))
            .collect();

        let sections = policy
            .sections
            .iter()
            .map(|section| ExportSection {
                number: section.number.clone(),
                heading: section.heading.clone(),
                controls: section
                    .controls
                    .iter()
                    .filter_map(|used| {
                        let resolved = controls.get(&used.control_id)?.clone();
                        Some(ExportControl {
                            resolved,
                            criticality: used.criticality,
                        })
                    })
                    .collect(),
            })
            .collect();

        Export {
            title: policy.title.clone(),
            technologies: policy
                .technology_ids
                .iter()
                .filter_map(|id| lookup.technology(*id).cloned())
                .collect(),
            sections,
            appendix: query.show_appendix.then(|| policy.appendix.clone()),
        }
    }
}

fn write_head(writer: &mut XmlWriter, export: &Export, clock: &str) {
    writer.declaration();
    writer.doctype("POLICY_EXPORT_OUTPUT", DTD_URL);
    writer.start("POLICY_EXPORT_OUTPUT");
    writer.start("RESPONSE");
    writer.text("DATETIME", clock);
    writer.start("POLICY");
    // NOTE: the whitespace around the title imitates the policy list, where Qualys surrounds
    // titles with whitespace. Whether the export does the same is unconfirmed.
    writer.cdata("TITLE", &format!(" {} ", export.title));
    writer.cdata("EXPORTED", clock);

    let total = export.technologies.len().to_string();
    writer.start_with_attributes("TECHNOLOGIES", &[("total", &total)]);
    for technology in &export.technologies {
        writer.line(&elements::technology_line(technology, None));
    }
    writer.end("TECHNOLOGIES");

    let total = export.sections.len().to_string();
    writer.start_with_attributes("SECTIONS", &[("total", &total)]);
}

/// Renders the export body a chunk at a time, one control after the other.
struct ExportChunks {
    writer: XmlWriter,
    sections: std::vec::IntoIter<ExportSection>,
    /// Controls of the open section still to be written, or `None` between sections.
    current: Option<std::vec::IntoIter<ExportControl>>,
    appendix: Option<String>,
    done: bool,
}

impl Iterator for ExportChunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        loop {
            match &mut self.current {
                Some(controls) => match controls.next() {
                    Some(control) => write_control(&mut self.writer, &control),
                    None => {
                        self.writer.end("CONTROLS");
                        self.writer.end("SECTION");
                        self.current = None;
                    }
                },
                None => match self.sections.next() {
                    Some(section) => {
                        write_section_head(&mut self.writer, &section);
                        self.current = Some(section.controls.into_iter());
                    }
                    None => break,
                },
            }
            if self.writer.len() >= CHUNK_TARGET {
                return Some(self.writer.take());
            }
        }

        self.writer.end("SECTIONS");
        if let Some(appendix) = &self.appendix {
            self.writer.cdata("APPENDIX", appendix);
        }
        self.writer.end("POLICY");
        self.writer.end("RESPONSE");
        self.writer.end("POLICY_EXPORT_OUTPUT");
        self.done = true;
        Some(self.writer.take())
    }
}

fn write_section_head(writer: &mut XmlWriter, section: &ExportSection) {
    writer.start("SECTION");
    writer.text("NUMBER", &section.number);
    writer.cdata("HEADING", &section.heading);
    let total = section.controls.len().to_string();
    writer.start_with_attributes("CONTROLS", &[("total", &total)]);
}

/// Writes one CONTROL element. FRAMEWORK_LIST is left out for a control without frameworks,
/// and USER_DEFINED is written only for user-defined controls.
fn write_control(writer: &mut XmlWriter, export_control: &ExportControl) {
    let resolved = &export_control.resolved;
    let control = &resolved.control;
    writer.start("CONTROL");
    writer.number("ID", control.id);
    writer.cdata("STATEMENT", &control.statement);
    writer.line(&elements::criticality_line(export_control.criticality));

    let total = resolved.technologies.len().to_string();
    writer.start_with_attributes("TECHNOLOGIES", &[("total", &total)]);
    for (technology, rationale) in &resolved.technologies {
        writer.line(&elements::technology_line(technology, Some(rationale)));
    }
    writer.end("TECHNOLOGIES");

    if !resolved.frameworks.is_empty() {
        writer.start("FRAMEWORK_LIST");
        for (framework, references) in &resolved.frameworks {
            writer.line(&elements::framework_line(framework, references));
        }
        writer.end("FRAMEWORK_LIST");
    }
    if control.user_defined {
        writer.number("USER_DEFINED", 1);
    }
    writer.end("CONTROL");
}
