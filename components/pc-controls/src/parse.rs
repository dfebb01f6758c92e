//! Parsing of a control list page:
//! `CONTROL_LIST_OUTPUT/RESPONSE/{DATETIME, CONTROL_LIST/CONTROL*, WARNING?}`.

use std::io::Read;

use pcsync_component_common::{
    ControlFramework, ControlTechnology, Element, Error, JobError, JobHost, LimitedWarnings,
    LogLevel, NamedId, ProcessOutput, RawCriticality, RecordBatch, Request, SeenIds, SourceField,
    Warning, XmlStream, normalize_datetime, normalize_optional_datetime, parse_flag, parse_id,
    read_criticality, read_expected_root, read_framework, read_technology, read_warning,
};

use crate::{Control, Record};

/// Maximum number of records per `emit` call.
pub const BATCH_SIZE: usize = 500;

const ROOT: &str = "CONTROL_LIST_OUTPUT";

/// Maximum number of technology and framework ids remembered per page to emit each once. The bound
/// only keeps a page with unexpectedly many distinct ids from growing memory. Past it, records
/// are emitted again, which the host's upsert by key absorbs.
const MAX_REMEMBERED_IDS: usize = 100_000;

/// Maximum number of criticality warnings listed per page. The rest are counted.
const MAX_LISTED_WARNINGS: usize = 20;

/// Maximum number of distinct skipped element names listed in the page summary.
const MAX_SKIPPED_NAMES: usize = 16;

/// Parses one control list page from `body`, emitting each control as a `test` record, and
/// its technologies, frameworks (`auth-src`) and framework references (`citation`), through
/// `host` in batches of at most [`BATCH_SIZE`] records. `status` is the HTTP status of the
/// response.
///
/// Technologies and frameworks are emitted once per page. A truncation WARNING with a URL
/// becomes a follow-up request for the URL's path and query, with the API, gzip flag and tag of
/// `request`. Only the first WARNING of a page is used. A criticality whose label and value do
/// not match is kept as sent, with a warning.
///
/// Fails with [`JobError::Qualys`] for a SIMPLE_RETURN or GENERIC_RETURN error document, with
/// [`JobError::Host`] if `emit` fails, and with [`JobError::InvalidPage`] for anything else
/// that is not a valid control list, including a control list with a status outside 200 to
/// 299. Batches emitted before a failure stay emitted.
pub fn process<R: Read, H: JobHost<Record = Record>>(
    request: &Request,
    status: u16,
    body: R,
    host: &mut H,
) -> Result<ProcessOutput, JobError> {
    let name_status = |error: JobError| match error {
        JobError::InvalidPage(message) if status != 200 => {
            JobError::InvalidPage(format!("HTTP {status}: {message}"))
        }
        other => other,
    };

    let mut xml = XmlStream::new(body);
    let root = read_expected_root(&mut xml, ROOT).map_err(|error| name_status(error.into()))?;
    if !(200..300).contains(&status) {
        return Err(name_status(JobError::InvalidPage(format!(
            "a {ROOT} document came with a status that is not a success"
        ))));
    }

    let mut page = PageState::new(request);
    read_document(&mut xml, &root, &mut page, host).map_err(name_status)?;
    page.batch.flush(host)?;
    Ok(page.finish(xml.replacements(), host))
}

/// The state of the page being processed: emitted batches, remembered ids and output so far.
struct PageState<'a> {
    request: &'a Request,
    batch: RecordBatch<Record>,
    output: ProcessOutput,
    technologies: SeenIds,
    frameworks: SeenIds,
    criticality_warnings: LimitedWarnings,
    /// Names of skipped elements, for the page summary.
    skipped: Vec<String>,
    warning_seen: bool,
    /// WARNING elements after the first one.
    ignored_warnings: u64,
    control_records: u64,
    technology_records: u64,
    auth_src_records: u64,
    citation_records: u64,
}

impl<'a> PageState<'a> {
    fn new(request: &'a Request) -> Self {
        Self {
            request,
            batch: RecordBatch::new(BATCH_SIZE),
            output: ProcessOutput::default(),
            technologies: SeenIds::new(MAX_REMEMBERED_IDS),
            frameworks: SeenIds::new(MAX_REMEMBERED_IDS),
            criticality_warnings: LimitedWarnings::new(MAX_LISTED_WARNINGS),
            skipped: Vec::new(),
            warning_seen: false,
            ignored_warnings: 0,
            control_records: 0,
            technology_records: 0,
            auth_src_records: 0,
            citation_records: 0,
        }
    }

    fn skip<R: Read>(&mut self, xml: &mut XmlStream<R>, element: &Element) -> Result<(), Error> {
        if self.skipped.len() < MAX_SKIPPED_NAMES && !self.skipped.contains(&element.name) {
            self.skipped.push(element.name.clone());
        }
        xml.skip(element)
    }

    /// Turns the first truncation WARNING into a follow-up request, or into a run warning if it
    /// has no URL. Further WARNING elements are only counted, so a page cannot make the host
    /// fetch more than one next page.
    fn add_warning(&mut self, warning: &Warning) -> Result<(), Error> {
        if self.warning_seen {
            self.ignored_warnings += 1;
            return Ok(());
        }
        self.warning_seen = true;

        match warning.follow_up() {
            Some(next) => self.output.follow_ups.push(self.request.follow_up(next?)),
            None => self.output.warnings.push(format!(
                "{} (no URL, so no follow-up request was made)",
                warning.describe()
            )),
        }
        Ok(())
    }

    /// Emits one control: its new technologies and frameworks, its citations and the control.
    fn push_control<H: JobHost<Record = Record>>(
        &mut self,
        control: Control,
        host: &mut H,
    ) -> Result<(), JobError> {
        for technology in &control.technologies {
            if self.technologies.insert(technology.technology_id) {
                self.technology_records += 1;
                self.batch
                    .push(Record::Technology(technology.to_technology()), host)?;
            }
        }
        for framework in &control.frameworks {
            if self.frameworks.insert(framework.framework_id) {
                self.auth_src_records += 1;
                self.batch
                    .push(Record::AuthSrc(framework.to_auth_src()), host)?;
            }
            for citation in framework.citations(control.id) {
                self.citation_records += 1;
                self.batch.push(Record::Citation(citation), host)?;
            }
        }
        self.control_records += 1;
        self.batch.push(Record::Test(Box::new(control)), host)
    }

    /// Completes the output with the page's warnings, logs the summary and returns the output.
    fn finish<H: JobHost>(mut self, replacements: u64, host: &mut H) -> ProcessOutput {
        if self.ignored_warnings > 0 {
            self.output.warnings.push(format!(
                "ignored {} WARNING elements after the first one in the control list page",
                self.ignored_warnings
            ));
        }
        if replacements > 0 {
            self.output.warnings.push(format!(
                "replaced {replacements} characters that XML 1.0 does not allow with U+FFFD in \
                 the control list page"
            ));
        }

        let summary = self.summary(replacements);
        self.criticality_warnings.append_to(
            &mut self.output.warnings,
            "criticality in the control list page",
        );
        host.log(LogLevel::Debug, &summary);
        self.output
    }

    fn summary(&self, replacements: u64) -> String {
        let mut summary = format!(
            "control list page: {} controls, {} technologies, {} frameworks, {} citations, in \
             {} batches; {} follow-up requests, {} criticality warnings, {replacements} \
             characters replaced, response datetime {}",
            self.control_records,
            self.technology_records,
            self.auth_src_records,
            self.citation_records,
            self.batch.emitted_batches(),
            self.output.follow_ups.len(),
            self.criticality_warnings.len(),
            self.output.response_datetime.as_deref().unwrap_or("absent"),
        );
        if !self.skipped.is_empty() {
            summary.push_str(&format!(", skipped elements {}", self.skipped.join(", ")));
        }
        summary
    }
}

fn read_document<R: Read, H: JobHost<Record = Record>>(
    xml: &mut XmlStream<R>,
    root: &Element,
    page: &mut PageState<'_>,
    host: &mut H,
) -> Result<(), JobError> {
    while let Some(child) = xml.next_child(root)? {
        if child.name == "RESPONSE" {
            read_response(xml, &child, page, host)?;
        } else {
            page.skip(xml, &child)?;
        }
    }
    Ok(())
}

fn read_response<R: Read, H: JobHost<Record = Record>>(
    xml: &mut XmlStream<R>,
    response: &Element,
    page: &mut PageState<'_>,
    host: &mut H,
) -> Result<(), JobError> {
    while let Some(child) = xml.next_child(response)? {
        match child.name.as_str() {
            "DATETIME" => {
                let value = xml.read_text(&child)?;
                page.output.response_datetime =
                    Some(normalize_datetime("RESPONSE/DATETIME", &value)?);
            }
            "CONTROL_LIST" => {
                while let Some(item) = xml.next_child(&child)? {
                    if item.name != "CONTROL" {
                        page.skip(xml, &item)?;
                        continue;
                    }
                    let (control, problem) = read_control(xml, &item)?;
                    if let Some(problem) = problem {
                        page.criticality_warnings
                            .push(format!("control {}: {problem}", control.id));
                    }
                    page.push_control(control, host)?;
                }
            }
            "WARNING" => {
                let warning = read_warning(xml, &child)?;
                page.add_warning(&warning)?;
            }
            _ => page.skip(xml, &child)?,
        }
    }
    Ok(())
}

/// The ID and NAME of a CATEGORY or SUB_CATEGORY as sent.
#[derive(Default)]
struct RawNamedId {
    id: Option<String>,
    name: Option<String>,
}

/// The typed children of a CONTROL as sent. A typed child that repeats goes to the source
/// fields, except the lists, whose entries are joined.
#[derive(Default)]
struct RawControl {
    id: Option<String>,
    statement: Option<String>,
    category: Option<RawNamedId>,
    sub_category: Option<RawNamedId>,
    criticality: Option<RawCriticality>,
    check_type: Option<String>,
    comment: Option<String>,
    ignore_error: Option<String>,
    is_active: Option<String>,
    created_date: Option<String>,
    update_date: Option<String>,
    remediation: Option<String>,
    technologies: Vec<ControlTechnology>,
    frameworks: Vec<ControlFramework>,
    source: Vec<SourceField>,
}

/// Reads one CONTROL and returns it with the criticality problem, if any. Errors name the
/// control by its ID, or by its position if the ID is unknown.
fn read_control<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
) -> Result<(Control, Option<String>), Error> {
    let mut raw = RawControl::default();
    let position_record = format!("CONTROL at byte {}", element.position);
    if let Err(error) = read_control_children(xml, element, &mut raw) {
        let record = match raw.id.as_deref().map(|id| parse_id("CONTROL/ID", id)) {
            Some(Ok(id)) => format!("CONTROL {id}"),
            _ => position_record,
        };
        return Err(error.in_record(&record));
    }

    let Some(id_text) = raw.id.take() else {
        return Err(Error::MissingElement {
            element: "CONTROL/ID".to_owned(),
            record: Some(position_record),
        });
    };
    let id = parse_id("CONTROL/ID", &id_text).map_err(|error| error.in_record(&position_record))?;
    let record = format!("CONTROL {id}");
    build_control(id, raw).map_err(|error| error.in_record(&record))
}

/// Validates the typed values of a control read whole.
fn build_control(id: u64, raw: RawControl) -> Result<(Control, Option<String>), Error> {
    let mut source = raw.source;
    let category = named_id("CATEGORY", raw.category, &mut source)?;
    let sub_category = named_id("SUB_CATEGORY", raw.sub_category, &mut source)?;
    let resolved = raw
        .criticality
        .unwrap_or_default()
        .resolve("CRITICALITY", &mut source);
    let ignore_error = optional_flag("IGNORE_ERROR", raw.ignore_error)?.unwrap_or(false);
    let active = optional_flag("IS_ACTIVE", raw.is_active)?.unwrap_or(true);
    let created = normalize_optional_datetime("CREATED_DATE", raw.created_date.as_deref())?;
    let updated = normalize_optional_datetime("UPDATE_DATE", raw.update_date.as_deref())?;

    let control = Control {
        id,
        statement: raw.statement.unwrap_or_default(),
        category,
        sub_category,
        criticality: resolved.criticality,
        check_type: raw.check_type.and_then(non_blank),
        comment: raw.comment.and_then(non_blank),
        ignore_error,
        active,
        created,
        updated,
        remediation: raw.remediation.and_then(non_blank),
        technologies: raw.technologies,
        frameworks: raw.frameworks,
        source,
    };
    Ok((control, resolved.problem))
}

fn read_control_children<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    raw: &mut RawControl,
) -> Result<(), Error> {
    while let Some(child) = xml.next_child(element)? {
        let text_slot = match child.name.as_str() {
            "ID" => Some(&mut raw.id),
            "STATEMENT" => Some(&mut raw.statement),
            "CHECK_TYPE" => Some(&mut raw.check_type),
            "COMMENT" => Some(&mut raw.comment),
            "IGNORE_ERROR" => Some(&mut raw.ignore_error),
            "IS_ACTIVE" => Some(&mut raw.is_active),
            "CREATED_DATE" => Some(&mut raw.created_date),
            "UPDATE_DATE" => Some(&mut raw.update_date),
            "REMEDIATION" => Some(&mut raw.remediation),
            _ => None,
        };
        if let Some(slot) = text_slot
            && slot.is_none()
        {
            *slot = Some(xml.read_text(&child)?);
            continue;
        }

        match child.name.as_str() {
            "CATEGORY" if raw.category.is_none() => {
                raw.category = Some(read_named_id(xml, &child, &mut raw.source)?);
            }
            "SUB_CATEGORY" if raw.sub_category.is_none() => {
                raw.sub_category = Some(read_named_id(xml, &child, &mut raw.source)?);
            }
            "CRITICALITY" if raw.criticality.is_none() => {
                raw.criticality = Some(read_criticality(
                    xml,
                    &child,
                    "CRITICALITY",
                    &mut raw.source,
                )?);
            }
            "TECHNOLOGY_LIST" => {
                while let Some(item) = xml.next_child(&child)? {
                    if item.name == "TECHNOLOGY" {
                        let path = "TECHNOLOGY_LIST/TECHNOLOGY";
                        let technology = read_technology(xml, &item, path, &mut raw.source)?;
                        raw.technologies.push(technology);
                    } else {
                        let path = format!("TECHNOLOGY_LIST/{}", item.name);
                        xml.read_fields(&item, &path, &mut raw.source)?;
                    }
                }
            }
            "FRAMEWORK_LIST" => {
                while let Some(item) = xml.next_child(&child)? {
                    if item.name == "FRAMEWORK" {
                        let path = "FRAMEWORK_LIST/FRAMEWORK";
                        let framework = read_framework(xml, &item, path, &mut raw.source)?;
                        raw.frameworks.push(framework);
                    } else {
                        let path = format!("FRAMEWORK_LIST/{}", item.name);
                        xml.read_fields(&item, &path, &mut raw.source)?;
                    }
                }
            }
            name => {
                let path = name.to_owned();
                xml.read_fields(&child, &path, &mut raw.source)?;
            }
        }
    }
    Ok(())
}

/// Reads `{ID, NAME}`. Any other child goes to `source` under the element's name.
fn read_named_id<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    source: &mut Vec<SourceField>,
) -> Result<RawNamedId, Error> {
    let mut raw = RawNamedId::default();
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "ID" if raw.id.is_none() => raw.id = Some(xml.read_text(&child)?),
            "NAME" if raw.name.is_none() => raw.name = Some(xml.read_text(&child)?),
            name => {
                let path = format!("{}/{name}", element.name);
                xml.read_fields(&child, &path, source)?;
            }
        }
    }
    Ok(raw)
}

/// Validates a CATEGORY or SUB_CATEGORY. Without an ID there is no category, and a NAME alone
/// is kept as a source field.
fn named_id(
    element: &str,
    raw: Option<RawNamedId>,
    source: &mut Vec<SourceField>,
) -> Result<Option<NamedId>, Error> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let name = raw.name.unwrap_or_default();
    match raw.id.filter(|id| !id.is_empty()) {
        Some(id) => Ok(Some(NamedId {
            id: parse_id(&format!("{element}/ID"), &id)?,
            name,
        })),
        None => {
            if !name.is_empty() {
                source.push(SourceField::new(format!("{element}/NAME"), name));
            }
            Ok(None)
        }
    }
}

/// Parses a 0/1 flag, `None` when absent or blank.
fn optional_flag(element: &str, value: Option<String>) -> Result<Option<bool>, Error> {
    match value.filter(|value| !value.is_empty()) {
        Some(value) => parse_flag(element, &value).map(Some),
        None => Ok(None),
    }
}

fn non_blank(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}
