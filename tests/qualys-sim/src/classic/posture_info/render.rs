//! Rendering a posture info page a chunk at a time.

use std::collections::HashMap;

use super::query::{PostureDetails, PostureQuery};
use super::{Glossary, GlossaryControl, Page};
use crate::classic::elements;
use crate::classic::paging::{CHUNK_TARGET, Warning};
use crate::dataset::Host;
use crate::postures::evidence::{
    self, DATA_POINTS, Evidence, FIXED_VALUES, TEMPLATES, TEXT_MAPPINGS, Tokens,
};
use crate::postures::generate::FIRST_POSTURE_ID;
use crate::postures::{PostureStatus, Record, Stamp, instance_name};
use crate::xml::{Line, XmlWriter};

// NOTE: no real response confirmed this DTD file name, which follows the policy list's
// pattern.
const DTD_URL: &str =
    "https://qualysapi.qualys.com/api/2.0/fo/compliance/posture/info/posture_info_list_output.dtd";

/// Part of the body still to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Records,
    /// HOST_LIST entries from this index on.
    Hosts(usize),
    /// CONTROL_LIST entries from this index on.
    Controls(usize),
    /// The other glossary lists, the WARNING and the closing tags.
    Tail,
    Done,
}

/// Renders the posture info body a chunk of about [`CHUNK_TARGET`] bytes at a time.
pub(crate) struct PostureChunks {
    writer: XmlWriter,
    page: Page,
    /// Position in `page.matched` of the next posture to write.
    next: usize,
    query: PostureQuery,
    warning: Option<Warning>,
    /// Glossary tokens that the postures written so far reference.
    tokens: Tokens,
    phase: Phase,
}

impl PostureChunks {
    /// Writes the head of the document and prepares the rest.
    pub(crate) fn new(
        page: Page,
        query: PostureQuery,
        warning: Option<Warning>,
        clock: &str,
    ) -> Self {
        let mut writer = XmlWriter::new();
        writer.declaration();
        writer.doctype("POSTURE_INFO_LIST_OUTPUT", DTD_URL);
        writer.start("POSTURE_INFO_LIST_OUTPUT");
        writer.start("RESPONSE");
        writer.text("DATETIME", clock);
        // With no matching posture, INFO_LIST and GLOSSARY are left out, as the policy list
        // leaves out an empty POLICY_LIST.
        if !page.matched.is_empty() {
            writer.start("INFO_LIST");
        }
        Self {
            writer,
            page,
            next: 0,
            query,
            warning,
            tokens: Tokens::default(),
            phase: Phase::Records,
        }
    }

    fn has_glossary(&self) -> bool {
        self.query.details != PostureDetails::None && !self.page.matched.is_empty()
    }

    /// Writes postures until the chunk is full or none is left. Returns whether the chunk is
    /// full.
    fn write_records(&mut self) -> bool {
        let Some(snapshot) = &self.page.snapshot else {
            return false;
        };
        while let Some(index) = self.page.matched.get(self.next) {
            self.next += 1;
            let Some(record) = snapshot.records.get(*index as usize) else {
                continue;
            };
            let context = RecordContext {
                query: &self.query,
                seed: snapshot.seed,
                invalid_char_every: snapshot.invalid_char_every,
                instance: instance_name(&snapshot.instances, record.instance),
                statements: &self.page.statements,
            };
            write_info(&mut self.writer, &mut self.tokens, record, &context);
            if self.writer.len() >= CHUNK_TARGET {
                return true;
            }
        }
        if !self.page.matched.is_empty() {
            self.writer.end("INFO_LIST");
        }
        false
    }

    fn write_hosts(&mut self, from: usize) -> Option<usize> {
        let hosts = &self.page.glossary.hosts;
        if from == 0 && !hosts.is_empty() {
            self.writer.start("HOST_LIST");
        }
        for (index, host) in hosts.iter().enumerate().skip(from) {
            self.writer.line(&host_line(host));
            if self.writer.len() >= CHUNK_TARGET {
                return Some(index + 1);
            }
        }
        if !hosts.is_empty() {
            self.writer.end("HOST_LIST");
        }
        None
    }

    fn write_controls(&mut self, from: usize) -> Option<usize> {
        let controls = &self.page.glossary.controls;
        let with_rationales = self.query.details != PostureDetails::Light;
        if from == 0 && !controls.is_empty() {
            self.writer.start("CONTROL_LIST");
        }
        for (index, control) in controls.iter().enumerate().skip(from) {
            self.writer.line(&control_line(control, with_rationales));
            if self.writer.len() >= CHUNK_TARGET {
                return Some(index + 1);
            }
        }
        if !controls.is_empty() {
            self.writer.end("CONTROL_LIST");
        }
        None
    }

    fn write_tail(&mut self) {
        if self.has_glossary() {
            write_glossary_tail(
                &mut self.writer,
                &self.page.glossary,
                &self.tokens,
                self.query.include_dp_name,
            );
        }
        if let Some(warning) = &self.warning {
            warning.write(&mut self.writer);
        }
        self.writer.end("RESPONSE");
        self.writer.end("POSTURE_INFO_LIST_OUTPUT");
    }
}

impl Iterator for PostureChunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            match self.phase {
                Phase::Records => {
                    if self.write_records() {
                        return Some(self.writer.take());
                    }
                    self.phase = if self.has_glossary() {
                        self.writer.start("GLOSSARY");
                        Phase::Hosts(0)
                    } else {
                        Phase::Tail
                    };
                }
                Phase::Hosts(from) => match self.write_hosts(from) {
                    Some(next) => {
                        self.phase = Phase::Hosts(next);
                        return Some(self.writer.take());
                    }
                    None => self.phase = Phase::Controls(0),
                },
                Phase::Controls(from) => match self.write_controls(from) {
                    Some(next) => {
                        self.phase = Phase::Controls(next);
                        return Some(self.writer.take());
                    }
                    None => self.phase = Phase::Tail,
                },
                Phase::Tail => {
                    self.write_tail();
                    self.phase = Phase::Done;
                    return Some(self.writer.take());
                }
                Phase::Done => return None,
            }
        }
    }
}

/// What writing one INFO element needs besides the record.
struct RecordContext<'a> {
    query: &'a PostureQuery,
    seed: u64,
    invalid_char_every: Option<u64>,
    instance: Option<&'a str>,
    statements: &'a HashMap<u64, String>,
}

/// Writes one INFO element and adds the glossary tokens it references to `tokens`.
///
/// `details=None` writes the ids, INSTANCE and STATUS only. The other levels add the times
/// and the previous status, REMEDIATION with `show_remediation_info=1`, CAUSE_OF_FAILURE for
/// a Failed posture with `cause_of_failure=1`, and with `details=All` (unless
/// `hide_evidence=1`) the EVIDENCE, which has EXTENDED_EVIDENCE with
/// `show_extended_evidence=1`.
fn write_info(
    writer: &mut XmlWriter,
    tokens: &mut Tokens,
    record: &Record,
    context: &RecordContext<'_>,
) {
    let query = context.query;
    writer.start("INFO");
    writer.number("ID", record.id);
    writer.number("HOST_ID", record.host_id);
    writer.number("CONTROL_ID", record.control_id);
    writer.number("TECHNOLOGY_ID", record.technology_id);
    if let Some(instance) = context.instance {
        writer.cdata("INSTANCE", instance);
    }
    writer.text("STATUS", record.status.as_str());
    if query.details == PostureDetails::None {
        writer.end("INFO");
        return;
    }

    writer.text("POSTURE_MODIFIED_DATE", &record.modified.format());
    writer.text("EVALUATION_DATE", &record.evaluated.format());
    if let Some(previous) = record.previous {
        writer.text("PREVIOUS_STATUS", previous.as_str());
    }
    let times = [
        ("FIRST_FAIL_DATE", record.first_fail),
        ("LAST_FAIL_DATE", record.last_fail),
        ("FIRST_PASS_DATE", record.first_pass),
        ("LAST_PASS_DATE", record.last_pass),
    ];
    for (name, time) in times {
        if let Some(time) = time {
            writer.text(name, &time.format());
        }
    }
    if query.show_remediation_info {
        let statement = context
            .statements
            .get(&record.control_id)
            .map_or("The control's setting", String::as_str);
        let text = evidence::remediation(context.seed, record.control_id, statement);
        writer.cdata("REMEDIATION", &text);
    }

    let with_cause = query.cause_of_failure && record.status == PostureStatus::Failed;
    if !with_cause && !query.shows_evidence() {
        writer.end("INFO");
        return;
    }
    let ordinal = record.id.saturating_sub(FIRST_POSTURE_ID);
    let invalid_char = evidence::invalid_char(ordinal, context.invalid_char_every);
    let evidence = Evidence::derive(
        context.seed,
        record.control_id,
        record.id,
        record.status,
        invalid_char,
    );
    if with_cause {
        writer.line(&cause_line(&evidence));
        for value in evidence.unexpected.iter().chain(&evidence.missing) {
            tokens.add_text_mapping(value);
        }
    }
    if query.shows_evidence() {
        write_evidence(
            writer,
            &evidence,
            record.evaluated,
            query.show_extended_evidence,
        );
        tokens.extend(&evidence.tokens);
    }
    writer.end("INFO");
}

/// Returns the CAUSE_OF_FAILURE element on one line, leaving out an empty UNEXPECTED or
/// MISSING.
fn cause_line(evidence: &Evidence) -> Line {
    let mut line = Line::new();
    line.open("CAUSE_OF_FAILURE");
    for (name, values) in [
        ("UNEXPECTED", &evidence.unexpected),
        ("MISSING", &evidence.missing),
    ] {
        if values.is_empty() {
            continue;
        }
        line.open(name);
        for value in values {
            line.cdata("V", value);
        }
        line.close(name);
    }
    line.close("CAUSE_OF_FAILURE");
    line
}

fn write_evidence(writer: &mut XmlWriter, evidence: &Evidence, evaluated: Stamp, extended: bool) {
    writer.start("EVIDENCE");
    writer.cdata("BOOLEAN_EXPR", &evidence.expression);
    writer.start("DPV_LIST");
    let updated = evaluated.format();
    for (data_point, values) in &evidence.values {
        let mut line = Line::new();
        line.open_with_attributes("DPV", &[("lastUpdated", &updated)])
            .text("LABEL", &format!(":dp_{data_point}"));
        for value in values {
            line.cdata("V", value);
        }
        line.close("DPV");
        writer.line(&line);
    }
    writer.end("DPV_LIST");
    if extended {
        writer.cdata("EXTENDED_EVIDENCE", &evidence.extended);
    }
    writer.end("EVIDENCE");
}

fn host_line(host: &Host) -> Line {
    let mut line = Line::new();
    line.open("HOST").number("ID", host.id).text("IP", &host.ip);
    if let Some(dns) = &host.dns {
        line.cdata("DNS", dns);
    }
    if let Some(netbios) = &host.netbios {
        line.cdata("NETBIOS", netbios);
    }
    line.cdata("OS", &host.os)
        .text("TRACKING_METHOD", host.tracking_method.as_str())
        .text("LAST_SCAN_DATE", &host.last_scan)
        .close("HOST");
    line
}

/// Returns a CONTROL element of the glossary on one line. REFERENCE is left out for a
/// control no longer in the policy, and RATIONALE_LIST when it would be empty or
/// `with_rationales` is false.
fn control_line(control: &GlossaryControl, with_rationales: bool) -> Line {
    let mut line = Line::new();
    line.open("CONTROL")
        .number("ID", control.id)
        .cdata("STATEMENT", &control.statement);
    if let Some(reference) = &control.reference {
        line.cdata("REFERENCE", reference);
    }
    line.open("CRITICALITY")
        .text("LABEL", control.criticality.label())
        .number("VALUE", control.criticality.value())
        .close("CRITICALITY");
    if with_rationales && !control.rationales.is_empty() {
        line.open("RATIONALE_LIST");
        for (technology_id, text) in &control.rationales {
            line.open("RATIONALE")
                .number("TECHNOLOGY_ID", technology_id)
                .cdata("TEXT", text)
                .close("RATIONALE");
        }
        line.close("RATIONALE_LIST");
    }
    line.close("CONTROL");
    line
}

/// Writes TECHNOLOGY_LIST and the token lists (TP, FV, DPD with `include_dp_name=1`, TM),
/// each only when it has entries, and closes the GLOSSARY.
fn write_glossary_tail(
    writer: &mut XmlWriter,
    glossary: &Glossary,
    tokens: &Tokens,
    include_dp_name: bool,
) {
    if !glossary.technologies.is_empty() {
        writer.start("TECHNOLOGY_LIST");
        for technology in &glossary.technologies {
            writer.line(&elements::technology_line(technology, None));
        }
        writer.end("TECHNOLOGY_LIST");
    }
    if !tokens.templates.is_empty() {
        writer.start("TP_LIST");
        for number in &tokens.templates {
            let mut line = Line::new();
            line.open("TP").text("LABEL", &format!("$tp_{number}"));
            for value in TEMPLATES[number - 1] {
                line.cdata("V", value);
            }
            line.close("TP");
            writer.line(&line);
        }
        writer.end("TP_LIST");
    }
    if !tokens.fixed_values.is_empty() {
        writer.start("FV_LIST");
        for number in &tokens.fixed_values {
            let mut line = Line::new();
            line.open("FV")
                .text("LABEL", &format!("#fv_{number}"))
                .cdata("V", FIXED_VALUES[number - 1])
                .close("FV");
            writer.line(&line);
        }
        writer.end("FV_LIST");
    }
    // NOTE: the simulator lists data point names only with include_dp_name=1. Whether Qualys
    // also lists them without it is unconfirmed.
    if include_dp_name && !tokens.data_points.is_empty() {
        writer.start("DPD_LIST");
        for number in &tokens.data_points {
            let mut line = Line::new();
            line.open("DPD")
                .text("LABEL", &format!(":dp_{number}"))
                .cdata("NAME", DATA_POINTS[number - 1])
                .close("DPD");
            writer.line(&line);
        }
        writer.end("DPD_LIST");
    }
    if !tokens.text_mappings.is_empty() {
        writer.start("TM_LIST");
        let mut line = Line::new();
        line.open("TM");
        for number in &tokens.text_mappings {
            line.open("PAIR")
                .text("K", &format!("%tm_{number}"))
                .cdata("V", TEXT_MAPPINGS[number - 1])
                .close("PAIR");
        }
        line.close("TM");
        writer.line(&line);
        writer.end("TM_LIST");
    }
    writer.end("GLOSSARY");
}
