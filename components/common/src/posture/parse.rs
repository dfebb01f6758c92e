//! Parsing of a posture info page:
//! `POSTURE_INFO_LIST_OUTPUT/RESPONSE/{DATETIME, INFO_LIST/INFO*, GLOSSARY, SUMMARY?, WARNING?}`.
//!
//! The GLOSSARY that explains the INFO records comes after them, so the page is read twice.
//! The first pass skips INFO_LIST and reads DATETIME, GLOSSARY and WARNING. The second pass
//! reads only INFO_LIST and emits each record as soon as it is read. Memory therefore follows
//! the glossary and one batch, not the number of records.

use std::io::Read;

use crate::{
    Element, Error, JobError, JobHost, LimitedWarnings, LogLevel, ProcessOutput, QualysError,
    RecordBatch, Request, ResultKey, SourceField, TestResult, Warning, XmlStream,
    normalize_datetime, normalize_optional_datetime, parse_id, read_expected_root, read_warning,
};

use super::Record;
use super::evidence::{
    CauseOfFailure, Evidence, TokenGaps, actual_values, data_point_labels, expected_values,
    read_cause_of_failure, read_evidence,
};
use super::glossary::{Glossary, GlossaryReport, non_blank, note_skipped, read_glossary};

/// Maximum number of records per `emit` call.
pub const BATCH_SIZE: usize = 500;

const ROOT: &str = "POSTURE_INFO_LIST_OUTPUT";

/// Maximum number of warnings of one kind listed per page. The rest are counted.
const MAX_LISTED_WARNINGS: usize = 20;

/// Maximum number of distinct missing ids kept as examples per kind of glossary gap.
const MAX_GAP_EXAMPLES: usize = 5;

/// Parses the posture info page of the policy named by `request.tag`, emitting a `test-result`
/// per INFO and a `host` per glossary HOST that the records name, through `host` in batches of
/// at most [`BATCH_SIZE`] records. `status` is the HTTP status of the response.
///
/// `open_body` returns a reader from the first byte of the body. It is called twice, once per
/// pass, and both readers must return the same bytes.
///
/// A record that names a host, control or technology missing from the GLOSSARY, or an evidence
/// token the GLOSSARY does not explain, is kept with what the page has. Each kind of gap is
/// logged once with a count, and the output has one warning for all of them. A record without
/// a usable key or STATUS is skipped with a warning. A truncation WARNING with a URL becomes a
/// follow-up request with the API, gzip flag and tag of `request`.
///
/// Returns a warning and no records for an error document with code 1905 (a policy Qualys does
/// not know). Fails with [`JobError::Qualys`] for every other SIMPLE_RETURN or GENERIC_RETURN
/// error document, and with [`JobError::Host`] if `emit` fails. Fails with [`JobError::InvalidPage`] for a tag that
/// is not a policy id and for anything else that is not a valid posture info list, including
/// one with a status outside 200 to 299. Batches emitted before a failure stay emitted.
pub fn process<R, F, H>(
    request: &Request,
    status: u16,
    mut open_body: F,
    host: &mut H,
) -> Result<ProcessOutput, JobError>
where
    R: Read,
    F: FnMut() -> R,
    H: JobHost<Record = Record>,
{
    let policy_id = parse_id("request tag", &request.tag).map_err(|_| {
        JobError::InvalidPage(format!(
            "request tag {:?} is not a policy id, so the postures cannot be matched to a policy",
            request.tag
        ))
    })?;
    let name_policy = |error: JobError| match error {
        JobError::InvalidPage(message) if status == 200 => {
            JobError::InvalidPage(format!("posture info of policy {policy_id}: {message}"))
        }
        JobError::InvalidPage(message) => JobError::InvalidPage(format!(
            "posture info of policy {policy_id} (HTTP {status}): {message}"
        )),
        other => other,
    };

    let mut page = PageState::new(request, policy_id);

    let mut outline = XmlStream::new(open_body());
    let root = match read_expected_root(&mut outline, ROOT) {
        Ok(root) => root,
        Err(Error::Qualys(error)) => {
            return policy_failed(policy_id, error, host);
        }
        Err(error) => return Err(name_policy(error.into())),
    };
    if !(200..300).contains(&status) {
        return Err(name_policy(JobError::InvalidPage(format!(
            "a {ROOT} document came with a status that is not a success"
        ))));
    }
    let mut glossary = Glossary::default();
    read_outline(&mut outline, &root, &mut page, &mut glossary).map_err(name_policy)?;
    let outline_replacements = outline.replacements();
    drop(outline);

    let mut records = XmlStream::new(open_body());
    let root = read_expected_root(&mut records, ROOT).map_err(|error| {
        name_policy(JobError::InvalidPage(format!(
            "the second read of the body differs from the first: {error}"
        )))
    })?;
    read_records(&mut records, &root, &mut page, &mut glossary, host).map_err(name_policy)?;
    page.batch.flush(host).map_err(name_policy)?;
    let replacements = outline_replacements.max(records.replacements());

    Ok(page.finish(&glossary, replacements, host))
}

/// The Qualys error code for an invalid parameter value, which Qualys returns for a policy id it
/// does not know (deleted since the last PC Policies run). It skips only that policy; every other
/// error document (rate limits, internal errors) fails the run.
const INVALID_VALUE: u32 = 1905;

/// Returns a warning naming the policy when Qualys rejected its postures with code 1905, as it
/// does for a policy deleted since the last PC Policies run, so that such a policy does not fail
/// the import. Other error documents fail the run.
fn policy_failed<H: JobHost<Record = Record>>(
    policy_id: u64,
    error: QualysError,
    host: &mut H,
) -> Result<ProcessOutput, JobError> {
    if error.code != Some(INVALID_VALUE) {
        return Err(JobError::Qualys(error));
    }
    let warning = format!(
        "policy {policy_id}: posture info failed: Qualys error {}: {}",
        error.code.map(|code| code.to_string()).unwrap_or_default(),
        error.text
    );
    host.log(LogLevel::Warn, &warning);
    Ok(ProcessOutput {
        warnings: vec![warning],
        ..ProcessOutput::default()
    })
}

/// A kind of reference that the GLOSSARY may fail to explain.
#[derive(Debug, Clone, Copy)]
enum GapKind {
    Host,
    Control,
    Technology,
}

/// References to one kind of glossary entry that the page's GLOSSARY does not describe.
#[derive(Debug, Default)]
struct IdGaps {
    count: u64,
    examples: Vec<u64>,
}

impl IdGaps {
    fn record(&mut self, id: u64) {
        self.count += 1;
        if self.examples.len() < MAX_GAP_EXAMPLES && !self.examples.contains(&id) {
            self.examples.push(id);
        }
    }
}

/// The state of the page being processed: emitted batches, gaps and output so far.
struct PageState<'a> {
    request: &'a Request,
    policy_id: u64,
    batch: RecordBatch<Record>,
    output: ProcessOutput,
    host_gaps: IdGaps,
    control_gaps: IdGaps,
    technology_gaps: IdGaps,
    token_gaps: TokenGaps,
    /// Glossary entries and record values that could not be used, for run warnings.
    problems: LimitedWarnings,
    /// INFO records that were skipped, for run warnings.
    skipped_records: LimitedWarnings,
    /// Names of skipped elements, for the page summary.
    skipped: Vec<String>,
    datetime_seen: bool,
    warning_seen: bool,
    /// WARNING elements after the first one.
    ignored_warnings: u64,
    result_records: u64,
    host_records: u64,
}

impl<'a> PageState<'a> {
    fn new(request: &'a Request, policy_id: u64) -> Self {
        Self {
            request,
            policy_id,
            batch: RecordBatch::new(BATCH_SIZE),
            output: ProcessOutput::default(),
            host_gaps: IdGaps::default(),
            control_gaps: IdGaps::default(),
            technology_gaps: IdGaps::default(),
            token_gaps: TokenGaps::default(),
            problems: LimitedWarnings::new(MAX_LISTED_WARNINGS),
            skipped_records: LimitedWarnings::new(MAX_LISTED_WARNINGS),
            skipped: Vec::new(),
            datetime_seen: false,
            warning_seen: false,
            ignored_warnings: 0,
            result_records: 0,
            host_records: 0,
        }
    }

    fn skip<R: Read>(&mut self, xml: &mut XmlStream<R>, element: &Element) -> Result<(), Error> {
        note_skipped(&mut self.skipped, &element.name);
        xml.skip(element)
    }

    fn gaps(&mut self, kind: GapKind) -> &mut IdGaps {
        match kind {
            GapKind::Host => &mut self.host_gaps,
            GapKind::Control => &mut self.control_gaps,
            GapKind::Technology => &mut self.technology_gaps,
        }
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
                "posture info of policy {}: {} (no URL, so no follow-up request was made)",
                self.policy_id,
                warning.describe()
            )),
        }
        Ok(())
    }

    /// Emits the glossary HOST of a record the first time a record names it, then the result.
    fn push_result<H: JobHost<Record = Record>>(
        &mut self,
        result: TestResult,
        glossary: &mut Glossary,
        host: &mut H,
    ) -> Result<(), JobError> {
        if let Some(entry) = glossary.hosts.get_mut(&result.key.host_id)
            && let Some(record) = entry.record.take()
        {
            self.host_records += 1;
            self.batch.push(Record::Host(record), host)?;
        }
        self.result_records += 1;
        self.batch.push(Record::TestResult(Box::new(result)), host)
    }

    /// Completes the output with the page's warnings, logs the gaps and the summary, and
    /// returns the output.
    fn finish<H: JobHost>(
        mut self,
        glossary: &Glossary,
        replacements: u64,
        host: &mut H,
    ) -> ProcessOutput {
        let policy_id = self.policy_id;
        self.report_gaps(glossary, host);
        if self.ignored_warnings > 0 {
            self.output.warnings.push(format!(
                "posture info of policy {policy_id}: ignored {} WARNING elements after the \
                 first one",
                self.ignored_warnings
            ));
        }
        if replacements > 0 {
            self.output.warnings.push(format!(
                "replaced {replacements} characters that XML 1.0 does not allow with U+FFFD in \
                 the posture info of policy {policy_id}"
            ));
        }

        let summary = self.summary(glossary, replacements);
        let subject = format!("the posture info of policy {policy_id}");
        self.skipped_records.append_to(
            &mut self.output.warnings,
            &format!("skipped INFO in {subject}"),
        );
        self.problems
            .append_to(&mut self.output.warnings, &format!("values in {subject}"));
        host.log(LogLevel::Debug, &summary);
        self.output
    }

    /// Logs each kind of glossary gap once, with its count and examples, and adds one run
    /// warning for all of them.
    fn report_gaps<H: JobHost>(&mut self, glossary: &Glossary, host: &mut H) {
        let policy_id = self.policy_id;
        let id_gaps = [
            ("hosts", &self.host_gaps),
            ("controls", &self.control_gaps),
            ("technologies", &self.technology_gaps),
        ];
        let mut counts: Vec<String> = Vec::new();
        for (kind, gaps) in id_gaps {
            if gaps.count == 0 {
                continue;
            }
            let examples: Vec<String> = gaps.examples.iter().map(u64::to_string).collect();
            host.log(
                LogLevel::Warn,
                &format!(
                    "posture info of policy {policy_id}: {} INFO records name {kind} that the \
                     GLOSSARY does not describe, for example {}; the results were kept without \
                     their details",
                    gaps.count,
                    examples.join(", ")
                ),
            );
            counts.push(format!("{kind}: {}", gaps.count));
        }
        if self.token_gaps.count > 0 {
            host.log(
                LogLevel::Warn,
                &format!(
                    "posture info of policy {policy_id}: {} evidence tokens are not explained \
                     by the GLOSSARY, for example {}; they were kept as written",
                    self.token_gaps.count,
                    self.token_gaps.examples.join(", ")
                ),
            );
            counts.push(format!("evidence tokens: {}", self.token_gaps.count));
        }
        if counts.is_empty() {
            return;
        }

        let reason = if glossary.present {
            "the GLOSSARY does not describe"
        } else {
            "the page has no GLOSSARY, so nothing describes"
        };
        self.output.warnings.push(format!(
            "posture info of policy {policy_id}: {reason} some references ({}); the results \
             were kept with what the page has, and the run log names examples",
            counts.join(", ")
        ));
    }

    fn summary(&self, glossary: &Glossary, replacements: u64) -> String {
        let mut summary = format!(
            "posture info of policy {}: {} results and {} hosts in {} batches, {} INFO \
             skipped; glossary of {} hosts, {} controls and {} technologies; {} follow-up \
             requests, {replacements} characters replaced, response datetime {}",
            self.policy_id,
            self.result_records,
            self.host_records,
            self.batch.emitted_batches(),
            self.skipped_records.len(),
            glossary.hosts.len(),
            glossary.controls.len(),
            glossary.technologies.len(),
            self.output.follow_ups.len(),
            self.output.response_datetime.as_deref().unwrap_or("absent"),
        );
        if !self.skipped.is_empty() {
            summary.push_str(&format!(", skipped elements {}", self.skipped.join(", ")));
        }
        summary
    }
}

/// Reads DATETIME, GLOSSARY and WARNING in the first pass, skipping INFO_LIST.
fn read_outline<R: Read>(
    xml: &mut XmlStream<R>,
    root: &Element,
    page: &mut PageState<'_>,
    glossary: &mut Glossary,
) -> Result<(), JobError> {
    while let Some(child) = xml.next_child(root)? {
        if child.name != "RESPONSE" {
            page.skip(xml, &child)?;
            continue;
        }
        while let Some(part) = xml.next_child(&child)? {
            match part.name.as_str() {
                "DATETIME" if !page.datetime_seen => {
                    page.datetime_seen = true;
                    let value = xml.read_text(&part)?;
                    page.output.response_datetime =
                        Some(normalize_datetime("RESPONSE/DATETIME", &value)?);
                }
                "INFO_LIST" => xml.skip(&part)?,
                "GLOSSARY" => {
                    let mut report = GlossaryReport {
                        problems: &mut page.problems,
                        skipped: &mut page.skipped,
                    };
                    read_glossary(xml, &part, glossary, &mut report)?;
                }
                "WARNING" => {
                    let warning = read_warning(xml, &part)?;
                    page.add_warning(&warning)?;
                }
                _ => page.skip(xml, &part)?,
            }
        }
    }
    Ok(())
}

/// Reads every INFO of every INFO_LIST in the second pass and emits each as it is read.
fn read_records<R: Read, H: JobHost<Record = Record>>(
    xml: &mut XmlStream<R>,
    root: &Element,
    page: &mut PageState<'_>,
    glossary: &mut Glossary,
    host: &mut H,
) -> Result<(), JobError> {
    while let Some(child) = xml.next_child(root)? {
        if child.name != "RESPONSE" {
            xml.skip(&child)?;
            continue;
        }
        while let Some(part) = xml.next_child(&child)? {
            if part.name != "INFO_LIST" {
                xml.skip(&part)?;
                continue;
            }
            while let Some(item) = xml.next_child(&part)? {
                if item.name != "INFO" {
                    page.skip(xml, &item)?;
                    continue;
                }
                let info = read_info(xml, &item)?;
                if let Some(result) = build_result(info, &item, page, glossary) {
                    page.push_result(result, glossary, host)?;
                }
            }
        }
    }
    Ok(())
}

/// The children of an INFO as sent, before the glossary resolves them.
#[derive(Default)]
struct RawInfo {
    id: Option<String>,
    host_id: Option<String>,
    control_id: Option<String>,
    technology_id: Option<String>,
    instance: Option<String>,
    status: Option<String>,
    previous_status: Option<String>,
    posture_modified_date: Option<String>,
    evaluation_date: Option<String>,
    first_fail_date: Option<String>,
    last_fail_date: Option<String>,
    first_pass_date: Option<String>,
    last_pass_date: Option<String>,
    remediation: Option<String>,
    evidence: Option<Evidence>,
    cause_of_failure: Option<CauseOfFailure>,
    /// ID, EXCEPTION, evidence extras and unknown elements, in document order.
    source: Vec<SourceField>,
}

/// Reads one INFO. Errors name the record by its ID, or by its position if the ID is unknown.
fn read_info<R: Read>(xml: &mut XmlStream<R>, element: &Element) -> Result<RawInfo, Error> {
    let mut info = RawInfo::default();
    if let Err(error) = read_info_children(xml, element, &mut info) {
        let record = match &info.id {
            Some(id) => format!("INFO {id}"),
            None => format!("INFO at byte {}", element.position),
        };
        return Err(error.in_record(&record));
    }
    Ok(info)
}

fn read_info_children<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    info: &mut RawInfo,
) -> Result<(), Error> {
    while let Some(child) = xml.next_child(element)? {
        let text_slot = match child.name.as_str() {
            "HOST_ID" => Some(&mut info.host_id),
            "CONTROL_ID" => Some(&mut info.control_id),
            "TECHNOLOGY_ID" => Some(&mut info.technology_id),
            "INSTANCE" => Some(&mut info.instance),
            "STATUS" => Some(&mut info.status),
            "PREVIOUS_STATUS" => Some(&mut info.previous_status),
            "POSTURE_MODIFIED_DATE" => Some(&mut info.posture_modified_date),
            "EVALUATION_DATE" => Some(&mut info.evaluation_date),
            "FIRST_FAIL_DATE" => Some(&mut info.first_fail_date),
            "LAST_FAIL_DATE" => Some(&mut info.last_fail_date),
            "FIRST_PASS_DATE" => Some(&mut info.first_pass_date),
            "LAST_PASS_DATE" => Some(&mut info.last_pass_date),
            _ => None,
        };
        if let Some(slot) = text_slot
            && slot.is_none()
        {
            *slot = Some(xml.read_text(&child)?);
            continue;
        }

        match child.name.as_str() {
            "ID" if info.id.is_none() => {
                let id = xml.read_text(&child)?;
                info.source.push(SourceField::new("ID", id.clone()));
                info.id = Some(id);
            }
            "REMEDIATION" if info.remediation.is_none() => {
                info.remediation = non_blank(xml.read_text_exact(&child)?);
            }
            "EVIDENCE" if info.evidence.is_none() => {
                info.evidence = Some(read_evidence(xml, &child, &mut info.source)?);
            }
            "CAUSE_OF_FAILURE" if info.cause_of_failure.is_none() => {
                info.cause_of_failure = Some(read_cause_of_failure(xml, &child, &mut info.source)?);
            }
            name => {
                let path = name.to_owned();
                xml.read_fields(&child, &path, &mut info.source)?;
            }
        }
    }
    Ok(())
}

/// Resolves an INFO against the glossary. Returns `None`, with a warning, for a record without
/// a usable key or STATUS.
fn build_result(
    mut info: RawInfo,
    element: &Element,
    page: &mut PageState<'_>,
    glossary: &Glossary,
) -> Option<TestResult> {
    let policy_id = page.policy_id;
    let record = match &info.id {
        Some(id) => format!("INFO {id}"),
        None => format!("INFO at byte {}", element.position),
    };

    let mut key_ids = [0u64; 3];
    let key_elements = [
        ("HOST_ID", info.host_id.take()),
        ("CONTROL_ID", info.control_id.take()),
        ("TECHNOLOGY_ID", info.technology_id.take()),
    ];
    for (slot, (element_name, value)) in key_ids.iter_mut().zip(key_elements) {
        let parsed = match value {
            Some(text) => parse_id(element_name, &text).map_err(|error| error.to_string()),
            None => Err(format!("missing element {element_name}")),
        };
        match parsed {
            Ok(id) => *slot = id,
            Err(reason) => {
                page.skipped_records.push(format!(
                    "posture info of policy {policy_id}: {record} was skipped: {reason}"
                ));
                return None;
            }
        }
    }
    let [host_id, control_id, technology_id] = key_ids;

    let Some(status) = info.status.take().and_then(non_blank) else {
        page.skipped_records.push(format!(
            "posture info of policy {policy_id}: {record} was skipped: it has no STATUS"
        ));
        return None;
    };

    let key = ResultKey::new(
        policy_id,
        host_id,
        control_id,
        technology_id,
        info.instance.as_deref(),
    );
    let mut source = std::mem::take(&mut info.source);
    let mut date = |element_name: &str, value: Option<String>| {
        normalize_date(element_name, value, &record, &mut source, page)
    };
    let posture_modified_date = date("POSTURE_MODIFIED_DATE", info.posture_modified_date.take());
    let evaluation_date = date("EVALUATION_DATE", info.evaluation_date.take());
    let first_fail_date = date("FIRST_FAIL_DATE", info.first_fail_date.take());
    let last_fail_date = date("LAST_FAIL_DATE", info.last_fail_date.take());
    let first_pass_date = date("FIRST_PASS_DATE", info.first_pass_date.take());
    let last_pass_date = date("LAST_PASS_DATE", info.last_pass_date.take());

    if !glossary.hosts.contains_key(&host_id) {
        page.gaps(GapKind::Host).record(host_id);
    }

    let control = glossary.controls.get(&control_id);
    if control.is_none() {
        page.gaps(GapKind::Control).record(control_id);
    }
    match glossary.technologies.get(&technology_id) {
        Some(technology) => {
            source.push(SourceField::new("TECHNOLOGY/NAME", technology.name.clone()));
            source.extend(technology.source.iter().cloned());
        }
        None => page.gaps(GapKind::Technology).record(technology_id),
    }
    if let Some(control) = control {
        if let Some(rationale) = control.rationale(technology_id) {
            source.push(SourceField::new("CONTROL/RATIONALE", rationale));
        }
        source.extend(control.source.iter().cloned());
    }

    let mut expected = None;
    if let Some(evidence) = &info.evidence {
        if let Some(expression) = &evidence.boolean_expr {
            source.push(SourceField::new(
                "EVIDENCE/BOOLEAN_EXPR",
                expression.clone(),
            ));
            expected = Some(expected_values(expression, glossary, &mut page.token_gaps));
        }
        for label in data_point_labels(evidence) {
            if let Some(name) = glossary.data_point_names.get(label) {
                source.push(SourceField::new("DPD/LABEL", label));
                source.push(SourceField::new("DPD/NAME", name.clone()));
            }
        }
    }
    let actual = actual_values(
        info.evidence.as_ref(),
        info.cause_of_failure.as_ref(),
        glossary,
        &mut page.token_gaps,
    );

    Some(TestResult {
        key,
        status,
        previous_status: info.previous_status.and_then(non_blank),
        first_fail_date,
        last_fail_date,
        first_pass_date,
        last_pass_date,
        posture_modified_date,
        evaluation_date,
        criticality: control.and_then(|control| control.criticality.clone()),
        control_statement: control.and_then(|control| control.statement.clone()),
        control_reference: control.and_then(|control| control.reference.clone()),
        remediation: info.remediation,
        expected_values: expected,
        actual_values: actual,
        source,
    })
}

/// Validates an optional date of a record. An invalid one is kept as a source field under its
/// element name, with a warning, and gives `None`.
fn normalize_date(
    element: &str,
    value: Option<String>,
    record: &str,
    source: &mut Vec<SourceField>,
    page: &mut PageState<'_>,
) -> Option<String> {
    match normalize_optional_datetime(element, value.as_deref()) {
        Ok(date) => date,
        Err(error) => {
            page.problems.push(format!(
                "posture info of policy {}: {record}: {error}; kept as a source field",
                page.policy_id
            ));
            source.push(SourceField::new(element, value.unwrap_or_default()));
            None
        }
    }
}
