//! Parsing of a policy export page:
//! `POLICY_EXPORT_OUTPUT/RESPONSE/{DATETIME, POLICY/{TITLE, TECHNOLOGIES, SECTIONS/SECTION*}}`,
//! where each SECTION is `{NUMBER, HEADING, CONTROLS/CONTROL*}`.

use std::io::Read;

use pcsync_component_common::{
    ControlFramework, ControlTechnology, Element, Error, JobError, JobHost, LimitedWarnings,
    LogLevel, ProcessOutput, QualysError, RawCriticality, RecordBatch, Request, SeenIds,
    SourceField, XmlStream, normalize_datetime, parse_id, read_criticality, read_expected_root,
    read_framework, read_technology,
};

use crate::{PolicyTest, Record};

/// Maximum number of records per `emit` call.
pub const BATCH_SIZE: usize = 500;

const ROOT: &str = "POLICY_EXPORT_OUTPUT";

/// Maximum number of technology, framework or control ids remembered per page to emit each once. The bound
/// only keeps a page with unexpectedly many distinct ids from growing memory. Past it, records
/// are emitted again, which the host's upsert by key absorbs.
const MAX_REMEMBERED_IDS: usize = 100_000;

/// Maximum number of warnings of one kind listed per page. The rest are counted.
const MAX_LISTED_WARNINGS: usize = 20;

/// Maximum number of distinct skipped element names listed in the page summary.
const MAX_SKIPPED_NAMES: usize = 16;

/// Qualys error codes that concern the subscription or the call rate, not the exported
/// policy: 1920 (blocked), 1960 (concurrency limit), 1965 (rate limit), 2000 (bad login) and
/// 2003 (registration incomplete). These fail the run instead of skipping the policy, because
/// every other export would fail the same way.
const SUBSCRIPTION_ERROR_CODES: [u32; 5] = [1920, 1960, 1965, 2000, 2003];

/// Parses the export of the policy named by `request.tag`, emitting its technologies,
/// frameworks (`auth-src`), citations and control links (`policy-test`) through `host` in
/// batches of at most [`BATCH_SIZE`] records. `status` is the HTTP status of the response.
///
/// Technologies and frameworks are emitted once per page. Every CONTROL gives one
/// `policy-test` whose position counts the controls of the whole export from 0, and one
/// citation per framework reference. A successful page returns the policy in
/// `complete_policies`.
///
/// A SIMPLE_RETURN or GENERIC_RETURN error document, whatever the status, means that only this
/// policy failed. Nothing is emitted, and the output has a warning and no complete policy. So
/// the run goes on, and the policy's stored links stay as they were. The exceptions are the
/// codes in `SUBSCRIPTION_ERROR_CODES`, which fail with [`JobError::Qualys`].
///
/// Fails with [`JobError::InvalidPage`] naming the policy for a tag that is not a policy id and
/// for a body that is not a valid export, including an export document with a status outside
/// 200 to 299, and with [`JobError::Host`] if `emit` fails. Batches emitted before a failure
/// stay emitted.
pub fn process<R: Read, H: JobHost<Record = Record>>(
    request: &Request,
    status: u16,
    body: R,
    host: &mut H,
) -> Result<ProcessOutput, JobError> {
    let policy_id = parse_id("request tag", &request.tag).map_err(|_| {
        JobError::InvalidPage(format!(
            "request tag {:?} is not a policy id, so the export cannot be matched to a policy",
            request.tag
        ))
    })?;
    let name_policy = |error: JobError| match error {
        JobError::InvalidPage(message) if status == 200 => {
            JobError::InvalidPage(format!("export of policy {policy_id}: {message}"))
        }
        JobError::InvalidPage(message) => JobError::InvalidPage(format!(
            "export of policy {policy_id} (HTTP {status}): {message}"
        )),
        other => other,
    };

    let mut xml = XmlStream::new(body);
    let root = match read_expected_root(&mut xml, ROOT) {
        Ok(root) => root,
        Err(Error::Qualys(error)) => return export_failed(policy_id, error, host),
        Err(error) => return Err(name_policy(JobError::from(error))),
    };
    if !(200..300).contains(&status) {
        return Err(name_policy(JobError::InvalidPage(format!(
            "a {ROOT} document came with a status that is not a success"
        ))));
    }

    let mut export = ExportState::new(policy_id);
    read_document(&mut xml, &root, &mut export, host).map_err(name_policy)?;
    export.batch.flush(host).map_err(name_policy)?;
    Ok(export.finish(xml.replacements(), host))
}

/// Returns the output for an export that failed with a Qualys error document, or fails the run
/// for an error that concerns the subscription.
fn export_failed<H: JobHost>(
    policy_id: u64,
    error: QualysError,
    host: &mut H,
) -> Result<ProcessOutput, JobError> {
    if error
        .code
        .is_some_and(|code| SUBSCRIPTION_ERROR_CODES.contains(&code))
    {
        return Err(JobError::Qualys(error));
    }

    let mut warning = match error.code {
        Some(code) => format!(
            "policy {policy_id}: export failed: Qualys error {code}: {}",
            error.text
        ),
        None => format!(
            "policy {policy_id}: export failed: Qualys error: {}",
            error.text
        ),
    };
    if !error.items.is_empty() {
        let items: Vec<String> = error
            .items
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        warning.push_str(&format!(" ({})", items.join(", ")));
    }
    host.log(LogLevel::Warn, &warning);
    Ok(ProcessOutput {
        warnings: vec![warning],
        ..ProcessOutput::default()
    })
}

/// The state of the export being processed: emitted batches, remembered ids and output so far.
struct ExportState {
    policy_id: u64,
    batch: RecordBatch<Record>,
    output: ProcessOutput,
    technologies: SeenIds,
    frameworks: SeenIds,
    controls: SeenIds,
    criticality_warnings: LimitedWarnings,
    repeated_control_warnings: LimitedWarnings,
    /// Names of skipped elements, for the page summary.
    skipped: Vec<String>,
    title: Option<String>,
    policies_read: u32,
    sections_read: u64,
    /// The position the next CONTROL gets.
    next_position: u32,
    technology_records: u64,
    auth_src_records: u64,
    citation_records: u64,
}

impl ExportState {
    fn new(policy_id: u64) -> Self {
        Self {
            policy_id,
            batch: RecordBatch::new(BATCH_SIZE),
            output: ProcessOutput::default(),
            technologies: SeenIds::new(MAX_REMEMBERED_IDS),
            frameworks: SeenIds::new(MAX_REMEMBERED_IDS),
            controls: SeenIds::new(MAX_REMEMBERED_IDS),
            criticality_warnings: LimitedWarnings::new(MAX_LISTED_WARNINGS),
            repeated_control_warnings: LimitedWarnings::new(MAX_LISTED_WARNINGS),
            skipped: Vec::new(),
            title: None,
            policies_read: 0,
            sections_read: 0,
            next_position: 0,
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

    fn push<H: JobHost<Record = Record>>(
        &mut self,
        record: Record,
        host: &mut H,
    ) -> Result<(), JobError> {
        self.batch.push(record, host)
    }

    /// Emits a technology the first time the page names it.
    fn push_technology<H: JobHost<Record = Record>>(
        &mut self,
        technology: &ControlTechnology,
        host: &mut H,
    ) -> Result<(), JobError> {
        if self.technologies.insert(technology.technology_id) {
            self.technology_records += 1;
            self.push(Record::Technology(technology.to_technology()), host)?;
        }
        Ok(())
    }

    /// Emits one control: its new technologies and frameworks, its citations and its link to
    /// the policy.
    fn push_control<H: JobHost<Record = Record>>(
        &mut self,
        control: ExportControl,
        section: &Section,
        host: &mut H,
    ) -> Result<(), JobError> {
        let position = self.next_position;
        self.next_position = self.next_position.checked_add(1).ok_or_else(|| {
            JobError::InvalidPage(format!(
                "the export has more than {} controls, more than a position can count",
                u32::MAX
            ))
        })?;

        if !self.controls.insert(control.id) {
            self.repeated_control_warnings.push(format!(
                "policy {}: control {} appears more than once in the export; the link keeps \
                 its last section and position {position}",
                self.policy_id, control.id
            ));
        }

        for technology in &control.technologies {
            self.push_technology(technology, host)?;
        }
        for framework in &control.frameworks {
            if self.frameworks.insert(framework.framework_id) {
                self.auth_src_records += 1;
                self.push(Record::AuthSrc(framework.to_auth_src()), host)?;
            }
            for citation in framework.citations(control.id) {
                self.citation_records += 1;
                self.push(Record::Citation(citation), host)?;
            }
        }

        let mut source = control.source;
        source.extend(section.source.iter().cloned());
        let mut resolved_source = Vec::new();
        let resolved = control
            .criticality
            .resolve("CRITICALITY", &mut resolved_source);
        source.extend(resolved_source);
        if let Some(problem) = resolved.problem {
            self.criticality_warnings.push(format!(
                "policy {}: control {}: {problem}",
                self.policy_id, control.id
            ));
        }

        let link = PolicyTest {
            policy_id: self.policy_id,
            control_id: control.id,
            section_number: section.number.clone(),
            section_heading: section.heading.clone(),
            criticality: resolved.criticality,
            position,
            source,
        };
        self.push(Record::PolicyTest(link), host)
    }

    /// Completes the output with the page's warnings, logs the summary and returns the output.
    fn finish<H: JobHost>(mut self, replacements: u64, host: &mut H) -> ProcessOutput {
        let policy_id = self.policy_id;
        if self.policies_read == 0 {
            self.output.warnings.push(format!(
                "policy {policy_id}: the export has no POLICY element; its stored control links \
                 are left as they were"
            ));
        } else {
            self.output.complete_policies.push(policy_id);
        }
        if self.policies_read > 1 {
            self.output.warnings.push(format!(
                "policy {policy_id}: the export has {} POLICY elements; the controls of all of \
                 them were linked to the policy",
                self.policies_read
            ));
        }
        if replacements > 0 {
            self.output.warnings.push(format!(
                "replaced {replacements} characters that XML 1.0 does not allow with U+FFFD in \
                 the export of policy {policy_id}"
            ));
        }

        let summary = self.summary(replacements);
        self.criticality_warnings.append_to(
            &mut self.output.warnings,
            &format!("criticality in the export of policy {policy_id}"),
        );
        self.repeated_control_warnings.append_to(
            &mut self.output.warnings,
            &format!("repeated controls in the export of policy {policy_id}"),
        );
        host.log(LogLevel::Debug, &summary);
        self.output
    }

    fn summary(&self, replacements: u64) -> String {
        let mut summary = format!(
            "export of policy {} {:?}: {} controls in {} sections, {} technologies, {} \
             frameworks, {} citations, in {} batches; {} criticality warnings, {} characters \
             replaced, response datetime {}",
            self.policy_id,
            self.title.as_deref().unwrap_or(""),
            self.next_position,
            self.sections_read,
            self.technology_records,
            self.auth_src_records,
            self.citation_records,
            self.batch.emitted_batches(),
            self.criticality_warnings.len(),
            replacements,
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
    export: &mut ExportState,
    host: &mut H,
) -> Result<(), JobError> {
    while let Some(child) = xml.next_child(root)? {
        if child.name != "RESPONSE" {
            export.skip(xml, &child)?;
            continue;
        }
        while let Some(part) = xml.next_child(&child)? {
            match part.name.as_str() {
                "DATETIME" => {
                    let value = xml.read_text(&part)?;
                    export.output.response_datetime =
                        Some(normalize_datetime("RESPONSE/DATETIME", &value)?);
                }
                "POLICY" => {
                    export.policies_read = export.policies_read.saturating_add(1);
                    read_policy(xml, &part, export, host)?;
                }
                _ => export.skip(xml, &part)?,
            }
        }
    }
    Ok(())
}

/// Reads a POLICY. TITLE is kept for the summary. EXPORTED, APPENDIX and unknown elements
/// have no place in the tables this job writes, so they are skipped and named in the summary.
fn read_policy<R: Read, H: JobHost<Record = Record>>(
    xml: &mut XmlStream<R>,
    policy: &Element,
    export: &mut ExportState,
    host: &mut H,
) -> Result<(), JobError> {
    while let Some(child) = xml.next_child(policy)? {
        match child.name.as_str() {
            "TITLE" if export.title.is_none() => export.title = Some(xml.read_text(&child)?),
            "TECHNOLOGIES" => read_policy_technologies(xml, &child, export, host)?,
            "SECTIONS" => {
                while let Some(section) = xml.next_child(&child)? {
                    if section.name == "SECTION" {
                        export.sections_read += 1;
                        read_section(xml, &section, export, host)?;
                    } else {
                        export.skip(xml, &section)?;
                    }
                }
            }
            _ => export.skip(xml, &child)?,
        }
    }
    Ok(())
}

/// Reads the policy's `TECHNOLOGIES/TECHNOLOGY*` and emits each technology once. Unknown
/// children of a TECHNOLOGY become source fields of its record.
fn read_policy_technologies<R: Read, H: JobHost<Record = Record>>(
    xml: &mut XmlStream<R>,
    list: &Element,
    export: &mut ExportState,
    host: &mut H,
) -> Result<(), JobError> {
    while let Some(item) = xml.next_child(list)? {
        if item.name != "TECHNOLOGY" {
            export.skip(xml, &item)?;
            continue;
        }
        let mut source = Vec::new();
        let technology = read_technology(xml, &item, "TECHNOLOGY", &mut source)
            .map_err(|error| error.in_record("POLICY/TECHNOLOGIES"))?;
        if export.technologies.insert(technology.technology_id) {
            export.technology_records += 1;
            let mut record = technology.to_technology();
            record.source = source;
            export.push(Record::Technology(record), host)?;
        }
    }
    Ok(())
}

/// The parts of a SECTION that each of its controls' links carries.
#[derive(Default)]
struct Section {
    number: Option<String>,
    heading: Option<String>,
    /// Unknown children read before CONTROLS, as `SECTION/<name>` fields.
    source: Vec<SourceField>,
}

/// Reads a SECTION and emits its controls as they are read.
///
/// NUMBER, HEADING and unknown children apply to the controls that follow them: Qualys sends
/// them before CONTROLS. An unknown child after CONTROLS is skipped and named in the summary.
fn read_section<R: Read, H: JobHost<Record = Record>>(
    xml: &mut XmlStream<R>,
    element: &Element,
    export: &mut ExportState,
    host: &mut H,
) -> Result<(), JobError> {
    let mut section = Section::default();
    let mut controls_seen = false;
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "NUMBER" if section.number.is_none() => {
                section.number = non_blank(xml.read_text(&child)?);
            }
            "HEADING" if section.heading.is_none() => {
                section.heading = non_blank(xml.read_text(&child)?);
            }
            "CONTROLS" => {
                controls_seen = true;
                while let Some(item) = xml.next_child(&child)? {
                    if item.name != "CONTROL" {
                        export.skip(xml, &item)?;
                        continue;
                    }
                    let control = read_control(xml, &item)?;
                    export.push_control(control, &section, host)?;
                }
            }
            name if !controls_seen => {
                let path = format!("SECTION/{name}");
                xml.read_fields(&child, &path, &mut section.source)?;
            }
            _ => export.skip(xml, &child)?,
        }
    }
    Ok(())
}

/// A CONTROL of the export, read whole before it is emitted.
struct ExportControl {
    id: u64,
    criticality: RawCriticality,
    technologies: Vec<ControlTechnology>,
    frameworks: Vec<ControlFramework>,
    /// STATEMENT, USER_DEFINED, technology fields and unknown elements in document order.
    source: Vec<SourceField>,
}

/// The children of a CONTROL as read so far.
#[derive(Default)]
struct RawControl {
    id: Option<String>,
    criticality: Option<RawCriticality>,
    technologies: Vec<ControlTechnology>,
    frameworks: Vec<ControlFramework>,
    source: Vec<SourceField>,
}

/// Reads one CONTROL. Errors name the control by its ID, or by its position if the ID is
/// unknown.
fn read_control<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
) -> Result<ExportControl, Error> {
    let mut raw = RawControl::default();
    let position_record = format!("CONTROL at byte {}", element.position);
    if let Err(error) = read_control_children(xml, element, &mut raw) {
        let record = match raw.id.as_deref().map(|id| parse_id("CONTROL/ID", id)) {
            Some(Ok(id)) => format!("CONTROL {id}"),
            _ => position_record,
        };
        return Err(error.in_record(&record));
    }

    let Some(id_text) = raw.id else {
        return Err(Error::MissingElement {
            element: "CONTROL/ID".to_owned(),
            record: Some(position_record),
        });
    };
    let id = parse_id("CONTROL/ID", &id_text).map_err(|error| error.in_record(&position_record))?;

    Ok(ExportControl {
        id,
        criticality: raw.criticality.unwrap_or_default(),
        technologies: raw.technologies,
        frameworks: raw.frameworks,
        source: raw.source,
    })
}

fn read_control_children<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    raw: &mut RawControl,
) -> Result<(), Error> {
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "ID" if raw.id.is_none() => raw.id = Some(xml.read_text(&child)?),
            "CRITICALITY" if raw.criticality.is_none() => {
                raw.criticality = Some(read_criticality(
                    xml,
                    &child,
                    "CRITICALITY",
                    &mut raw.source,
                )?);
            }
            "TECHNOLOGIES" => {
                while let Some(item) = xml.next_child(&child)? {
                    if item.name != "TECHNOLOGY" {
                        let path = format!("TECHNOLOGIES/{}", item.name);
                        xml.read_fields(&item, &path, &mut raw.source)?;
                        continue;
                    }
                    let path = "TECHNOLOGIES/TECHNOLOGY";
                    let mut unknown = Vec::new();
                    let technology = read_technology(xml, &item, path, &mut unknown)?;
                    push_technology_fields(&technology, path, &mut raw.source);
                    raw.source.extend(unknown);
                    raw.technologies.push(technology);
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

/// Keeps a control's technology in the link's source fields, because the rationale belongs to
/// the control in this policy and the `technology` record has no place for it.
fn push_technology_fields(
    technology: &ControlTechnology,
    path: &str,
    source: &mut Vec<SourceField>,
) {
    source.push(SourceField::new(
        format!("{path}/ID"),
        technology.technology_id.to_string(),
    ));
    source.push(SourceField::new(
        format!("{path}/NAME"),
        technology.name.clone(),
    ));
    if let Some(rationale) = &technology.rationale {
        source.push(SourceField::new(
            format!("{path}/RATIONALE"),
            rationale.clone(),
        ));
    }
}

fn non_blank(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}
