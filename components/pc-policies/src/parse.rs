//! Parsing of a policy list page:
//! `POLICY_LIST_OUTPUT/RESPONSE/{DATETIME, POLICY_LIST/POLICY*, WARNING?}`.

use std::io::Read;

use pcsync_component_common::{
    Element, Error, JobError, JobHost, LogLevel, ProcessOutput, RecordBatch, Request, SourceField,
    Warning, XmlStream, normalize_datetime, normalize_optional_datetime, parse_flag, parse_id,
    read_expected_root, read_warning,
};

use crate::{Policy, Stamp};

/// Maximum number of policies per `emit` call.
pub const BATCH_SIZE: usize = 500;

/// Maximum number of distinct skipped element names listed in the page summary.
const MAX_SKIPPED_NAMES: usize = 16;

const ROOT: &str = "POLICY_LIST_OUTPUT";

/// Parses one policy list page from `body`, emitting its policies through `host` in batches of
/// [`BATCH_SIZE`].
///
/// A truncation WARNING with a URL becomes a follow-up request for the URL's path and query,
/// with the API, gzip flag and tag of `request`. Only the first WARNING of a page is used. Characters replaced because XML 1.0 does not
/// allow them are counted in a warning.
///
/// Fails with [`JobError::Qualys`] for a SIMPLE_RETURN or GENERIC_RETURN error document, with
/// [`JobError::Host`] if `emit` fails, and with [`JobError::InvalidPage`] for anything else
/// that is not a valid policy list, including a POLICY without a valid ID. Batches emitted
/// before a failure stay emitted.
pub fn process<R: Read, H: JobHost<Record = Policy>>(
    request: &Request,
    body: R,
    host: &mut H,
) -> Result<ProcessOutput, JobError> {
    let mut xml = XmlStream::new(body);
    let root = read_expected_root(&mut xml, ROOT)?;

    let mut page = PageState {
        request,
        batch: RecordBatch::new(BATCH_SIZE),
        output: ProcessOutput::default(),
        skipped: Vec::new(),
        warning_seen: false,
        ignored_warnings: 0,
    };
    while let Some(child) = xml.next_child(&root)? {
        if child.name == "RESPONSE" {
            read_response(&mut xml, &child, &mut page, host)?;
        } else {
            page.skip(&mut xml, &child)?;
        }
    }
    page.batch.flush(host)?;

    if page.ignored_warnings > 0 {
        page.output.warnings.push(format!(
            "ignored {} WARNING elements after the first one in the policy list page",
            page.ignored_warnings
        ));
    }

    let replacements = xml.replacements();
    if replacements > 0 {
        page.output.warnings.push(format!(
            "replaced {replacements} characters that XML 1.0 does not allow with U+FFFD in the \
             policy list page"
        ));
    }

    host.log(LogLevel::Debug, &page.summary(replacements));
    Ok(page.output)
}

/// The state of the page being processed: emitted batches and output so far.
struct PageState<'a> {
    request: &'a Request,
    batch: RecordBatch<Policy>,
    output: ProcessOutput,
    /// Names of skipped elements, for the page summary.
    skipped: Vec<String>,
    warning_seen: bool,
    /// WARNING elements after the first one.
    ignored_warnings: u64,
}

impl PageState<'_> {
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

    fn summary(&self, replacements: u64) -> String {
        let mut summary = format!(
            "policy list page: {} policies in {} batches, {} follow-up requests, {} warnings, \
             {replacements} characters replaced, response datetime {}",
            self.batch.emitted_records(),
            self.batch.emitted_batches(),
            self.output.follow_ups.len(),
            self.output.warnings.len(),
            self.output.response_datetime.as_deref().unwrap_or("absent"),
        );
        if !self.skipped.is_empty() {
            summary.push_str(&format!(", skipped elements {}", self.skipped.join(", ")));
        }
        summary
    }
}

fn read_response<R: Read, H: JobHost<Record = Policy>>(
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
            "POLICY_LIST" => {
                while let Some(item) = xml.next_child(&child)? {
                    if item.name == "POLICY" {
                        let policy = read_policy(xml, &item)?;
                        page.batch.push(policy, host)?;
                    } else {
                        page.skip(xml, &item)?;
                    }
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

/// Raw text of CREATED, LAST_MODIFIED or LAST_EVALUATED, validated once the policy id is known.
#[derive(Default)]
struct RawStamp {
    datetime: Option<String>,
    by: Option<String>,
}

/// The typed children of a POLICY as sent. A typed child that repeats goes to the source fields.
#[derive(Default)]
struct RawPolicy {
    id: Option<String>,
    title: Option<String>,
    created: Option<RawStamp>,
    last_modified: Option<RawStamp>,
    last_evaluated: Option<RawStamp>,
    status: Option<String>,
    locked: Option<String>,
    source: Vec<SourceField>,
}

/// Reads one POLICY. Errors name the policy by its ID, or by its position if the ID is unknown.
fn read_policy<R: Read>(xml: &mut XmlStream<R>, element: &Element) -> Result<Policy, Error> {
    let mut raw = RawPolicy::default();
    read_policy_children(xml, element, &mut raw).map_err(|error| {
        let record = match raw.id.as_deref().map(|id| parse_id("POLICY/ID", id)) {
            Some(Ok(id)) => format!("POLICY {id}"),
            _ => format!("POLICY at byte {}", element.position),
        };
        error.in_record(&record)
    })?;

    let position_record = format!("POLICY at byte {}", element.position);
    let Some(id_text) = raw.id else {
        return Err(Error::MissingElement {
            element: "POLICY/ID".to_owned(),
            record: Some(position_record),
        });
    };
    let id = parse_id("POLICY/ID", &id_text).map_err(|error| error.in_record(&position_record))?;

    let record = format!("POLICY {id}");
    let in_record = |error: Error| error.in_record(&record);
    let created = stamp("CREATED", raw.created).map_err(in_record)?;
    let last_modified = stamp("LAST_MODIFIED", raw.last_modified).map_err(in_record)?;
    let last_evaluated = normalize_optional_datetime(
        "LAST_EVALUATED/DATETIME",
        raw.last_evaluated
            .and_then(|stamp| stamp.datetime)
            .as_deref(),
    )
    .map_err(in_record)?;
    let locked = match raw.locked {
        Some(value) => parse_flag("IS_LOCKED", &value).map_err(in_record)?,
        None => false,
    };

    Ok(Policy {
        id,
        title: raw.title.unwrap_or_default(),
        created,
        last_modified,
        last_evaluated,
        status: raw.status.unwrap_or_default(),
        locked,
        technology_ids: Vec::new(),
        source: raw.source,
    })
}

fn read_policy_children<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    raw: &mut RawPolicy,
) -> Result<(), Error> {
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "ID" if raw.id.is_none() => raw.id = Some(xml.read_text(&child)?),
            "TITLE" if raw.title.is_none() => raw.title = Some(xml.read_text(&child)?),
            "STATUS" if raw.status.is_none() => raw.status = Some(xml.read_text(&child)?),
            "IS_LOCKED" if raw.locked.is_none() => raw.locked = Some(xml.read_text(&child)?),
            "CREATED" if raw.created.is_none() => {
                raw.created = Some(read_stamp(xml, &child, &mut raw.source)?);
            }
            "LAST_MODIFIED" if raw.last_modified.is_none() => {
                raw.last_modified = Some(read_stamp(xml, &child, &mut raw.source)?);
            }
            "LAST_EVALUATED" if raw.last_evaluated.is_none() => {
                raw.last_evaluated = Some(read_stamp(xml, &child, &mut raw.source)?);
            }
            name => {
                let path = name.to_owned();
                xml.read_fields(&child, &path, &mut raw.source)?;
            }
        }
    }
    Ok(())
}

/// Reads `{DATETIME, BY}`. Any other child goes to `source` under the stamp's name.
fn read_stamp<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    source: &mut Vec<SourceField>,
) -> Result<RawStamp, Error> {
    let mut stamp = RawStamp::default();
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "DATETIME" if stamp.datetime.is_none() => stamp.datetime = Some(xml.read_text(&child)?),
            "BY" if stamp.by.is_none() => stamp.by = Some(xml.read_text(&child)?),
            name => {
                let path = format!("{}/{name}", element.name);
                xml.read_fields(&child, &path, source)?;
            }
        }
    }
    Ok(stamp)
}

fn stamp(name: &str, raw: Option<RawStamp>) -> Result<Stamp, Error> {
    let raw = raw.unwrap_or_default();
    let datetime =
        normalize_optional_datetime(&format!("{name}/DATETIME"), raw.datetime.as_deref())?;
    let by = raw.by.filter(|by| !by.is_empty());
    Ok(Stamp { datetime, by })
}
