//! The GLOSSARY of a posture info page: the hosts, controls and technologies its INFO records
//! name, and the labels their evidence uses.
//!
//! `GLOSSARY/{USER_LIST?, HOST_LIST/HOST*, CONTROL_LIST/CONTROL*, TECHNOLOGY_LIST/TECHNOLOGY*,
//! TP_LIST/TP*, FV_LIST/FV*, DPD_LIST/DPD*, TM_LIST/TM*/PAIR*}`

use std::collections::HashMap;
use std::io::Read;

use crate::{
    Criticality, Element, Error, LimitedWarnings, ScannedHost, SourceField, XmlStream,
    normalize_datetime, parse_id, read_criticality,
};

/// The glossary of one page, read whole before the records.
#[derive(Default)]
pub(crate) struct Glossary {
    /// Whether the page has a GLOSSARY element.
    pub present: bool,
    /// Hosts by id. The entry stays after its record is taken for emitting, so a host is
    /// emitted once per page.
    pub hosts: HashMap<u64, GlossaryHost>,
    pub controls: HashMap<u64, GlossaryControl>,
    pub technologies: HashMap<u64, GlossaryTechnology>,
    /// TP values by label, for example `$tp_2`.
    pub templates: HashMap<String, Vec<String>>,
    /// FV values by label, for example `#fv_1`.
    pub fixed_values: HashMap<String, Vec<String>>,
    /// DPD names by label, for example `:dp_1`. Qualys sends them only for
    /// `include_dp_name=1`.
    pub data_point_names: HashMap<String, String>,
    /// TM pair values by key, for example `%tm_1`.
    pub text_mappings: HashMap<String, String>,
}

/// A glossary HOST and whether its record was emitted.
pub(crate) struct GlossaryHost {
    /// The record, until the first INFO that names the host takes it for emitting.
    pub record: Option<ScannedHost>,
}

/// The parts of a glossary CONTROL that its results carry.
#[derive(Default)]
pub(crate) struct GlossaryControl {
    pub statement: Option<String>,
    pub reference: Option<String>,
    pub criticality: Option<Criticality>,
    /// RATIONALE texts by technology id, in document order.
    pub rationales: Vec<(u64, String)>,
    /// Unknown children, as `CONTROL/<name>` fields.
    pub source: Vec<SourceField>,
}

impl GlossaryControl {
    /// Returns the control's rationale for a technology.
    pub fn rationale(&self, technology_id: u64) -> Option<&str> {
        self.rationales
            .iter()
            .find(|(id, _)| *id == technology_id)
            .map(|(_, text)| text.as_str())
    }
}

/// The parts of a glossary TECHNOLOGY that its results carry.
#[derive(Default)]
pub(crate) struct GlossaryTechnology {
    pub name: String,
    /// Unknown children, as `TECHNOLOGY/<name>` fields.
    pub source: Vec<SourceField>,
}

/// The sinks for glossary entries and elements that the reader could not use.
pub(crate) struct GlossaryReport<'a> {
    /// Problems for run warnings, for example a HOST without ID.
    pub problems: &'a mut LimitedWarnings,
    /// Names of skipped elements, for the page summary.
    pub skipped: &'a mut Vec<String>,
}

/// Maximum number of distinct skipped element names listed in the page summary.
pub(crate) const MAX_SKIPPED_NAMES: usize = 16;

impl GlossaryReport<'_> {
    fn skip<R: Read>(&mut self, xml: &mut XmlStream<R>, element: &Element) -> Result<(), Error> {
        note_skipped(self.skipped, &element.name);
        xml.skip(element)
    }
}

/// Adds `name` to the skipped names of the page summary, up to [`MAX_SKIPPED_NAMES`].
pub(crate) fn note_skipped(skipped: &mut Vec<String>, name: &str) {
    if skipped.len() < MAX_SKIPPED_NAMES && !skipped.iter().any(|known| known == name) {
        skipped.push(name.to_owned());
    }
}

/// Reads a GLOSSARY into `glossary`. A second GLOSSARY adds to the first, and an entry that
/// repeats an id or label keeps its first description.
pub(crate) fn read_glossary<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    glossary: &mut Glossary,
    report: &mut GlossaryReport<'_>,
) -> Result<(), Error> {
    glossary.present = true;
    while let Some(list) = xml.next_child(element)? {
        match list.name.as_str() {
            "HOST_LIST" => {
                while let Some(item) = xml.next_child(&list)? {
                    if item.name == "HOST" {
                        read_host(xml, &item, glossary, report)?;
                    } else {
                        report.skip(xml, &item)?;
                    }
                }
            }
            "CONTROL_LIST" => {
                while let Some(item) = xml.next_child(&list)? {
                    if item.name == "CONTROL" {
                        read_control(xml, &item, glossary, report)?;
                    } else {
                        report.skip(xml, &item)?;
                    }
                }
            }
            "TECHNOLOGY_LIST" => {
                while let Some(item) = xml.next_child(&list)? {
                    if item.name == "TECHNOLOGY" {
                        read_technology(xml, &item, glossary, report)?;
                    } else {
                        report.skip(xml, &item)?;
                    }
                }
            }
            "TP_LIST" => read_value_list(xml, &list, "TP", &mut glossary.templates, report)?,
            "FV_LIST" => read_value_list(xml, &list, "FV", &mut glossary.fixed_values, report)?,
            "DPD_LIST" => read_data_point_names(xml, &list, glossary, report)?,
            "TM_LIST" => read_text_mappings(xml, &list, glossary, report)?,
            _ => report.skip(xml, &list)?,
        }
    }
    Ok(())
}

/// Reads `HOST/{ID, IP, DNS, NETBIOS, OS, TRACKING_METHOD, CLOUD_RESOURCE_ID, LAST_SCAN_DATE}`.
/// Other children, and typed ones that repeat, become source fields of the host record.
fn read_host<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    glossary: &mut Glossary,
    report: &mut GlossaryReport<'_>,
) -> Result<(), Error> {
    let mut id = None;
    let mut host = ScannedHost::new(0);
    let mut last_scan_date = None;
    while let Some(child) = xml.next_child(element)? {
        let slot = match child.name.as_str() {
            "ID" => &mut id,
            "IP" => &mut host.ip,
            "DNS" => &mut host.dns,
            "NETBIOS" => &mut host.netbios,
            "OS" => &mut host.os,
            "TRACKING_METHOD" => &mut host.tracking_method,
            "CLOUD_RESOURCE_ID" => &mut host.cloud_resource_id,
            "LAST_SCAN_DATE" => &mut last_scan_date,
            name => {
                xml.read_fields(&child, name, &mut host.source)?;
                continue;
            }
        };
        if slot.is_some() {
            xml.read_fields(&child, &child.name, &mut host.source)?;
        } else {
            *slot = non_blank(xml.read_text(&child)?);
        }
    }

    let Some(id) = glossary_id(id, "HOST", element, report) else {
        return Ok(());
    };
    host.id = id;
    if let Some(value) = last_scan_date {
        match normalize_datetime("LAST_SCAN_DATE", &value) {
            Ok(date) => host.last_scan_date = Some(date),
            Err(error) => {
                report.problems.push(format!(
                    "glossary HOST {id}: {error}; kept as a source field"
                ));
                host.source.push(SourceField::new("LAST_SCAN_DATE", value));
            }
        }
    }
    glossary
        .hosts
        .entry(id)
        .or_insert(GlossaryHost { record: Some(host) });
    Ok(())
}

/// Reads `CONTROL/{ID, STATEMENT, REFERENCE, CRITICALITY/{LABEL, VALUE},
/// RATIONALE_LIST/RATIONALE*/{TECHNOLOGY_ID, TEXT}}`. Other children become `CONTROL/<name>`
/// fields of the control's results.
fn read_control<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    glossary: &mut Glossary,
    report: &mut GlossaryReport<'_>,
) -> Result<(), Error> {
    let mut id = None;
    let mut control = GlossaryControl::default();
    let mut criticality = None;
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "ID" if id.is_none() => id = Some(xml.read_text(&child)?),
            "STATEMENT" if control.statement.is_none() => {
                control.statement = non_blank(xml.read_text(&child)?);
            }
            "REFERENCE" if control.reference.is_none() => {
                control.reference = non_blank(xml.read_text(&child)?);
            }
            "CRITICALITY" if criticality.is_none() => {
                criticality = Some(read_criticality(
                    xml,
                    &child,
                    "CONTROL/CRITICALITY",
                    &mut control.source,
                )?);
            }
            "RATIONALE_LIST" => read_rationales(xml, &child, &mut control, report)?,
            name => {
                let path = format!("CONTROL/{name}");
                xml.read_fields(&child, &path, &mut control.source)?;
            }
        }
    }

    let Some(id) = glossary_id(id, "CONTROL", element, report) else {
        return Ok(());
    };
    let resolved = criticality
        .unwrap_or_default()
        .resolve("CONTROL/CRITICALITY", &mut control.source);
    if let Some(problem) = resolved.problem {
        report
            .problems
            .push(format!("glossary CONTROL {id}: {problem}"));
    }
    control.criticality = resolved.criticality;
    glossary.controls.entry(id).or_insert(control);
    Ok(())
}

fn read_rationales<R: Read>(
    xml: &mut XmlStream<R>,
    list: &Element,
    control: &mut GlossaryControl,
    report: &mut GlossaryReport<'_>,
) -> Result<(), Error> {
    while let Some(item) = xml.next_child(list)? {
        if item.name != "RATIONALE" {
            report.skip(xml, &item)?;
            continue;
        }
        let mut technology_id = None;
        let mut text = None;
        while let Some(part) = xml.next_child(&item)? {
            match part.name.as_str() {
                "TECHNOLOGY_ID" if technology_id.is_none() => {
                    technology_id = Some(xml.read_text(&part)?);
                }
                "TEXT" if text.is_none() => text = Some(xml.read_text_exact(&part)?),
                _ => report.skip(xml, &part)?,
            }
        }
        let technology_id = technology_id.and_then(|id| parse_id("TECHNOLOGY_ID", &id).ok());
        match (technology_id, text.and_then(non_blank)) {
            (Some(technology_id), Some(text)) => control.rationales.push((technology_id, text)),
            (None, Some(_)) => report
                .problems
                .push("glossary RATIONALE without a valid TECHNOLOGY_ID was skipped".to_owned()),
            _ => {}
        }
    }
    Ok(())
}

/// Reads `TECHNOLOGY/{ID, NAME}`. Other children become `TECHNOLOGY/<name>` fields of the
/// technology's results.
fn read_technology<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    glossary: &mut Glossary,
    report: &mut GlossaryReport<'_>,
) -> Result<(), Error> {
    let mut id = None;
    let mut technology = GlossaryTechnology::default();
    let mut name = None;
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "ID" if id.is_none() => id = Some(xml.read_text(&child)?),
            "NAME" if name.is_none() => name = Some(xml.read_text(&child)?),
            child_name => {
                let path = format!("TECHNOLOGY/{child_name}");
                xml.read_fields(&child, &path, &mut technology.source)?;
            }
        }
    }

    let Some(id) = glossary_id(id, "TECHNOLOGY", element, report) else {
        return Ok(());
    };
    technology.name = name.unwrap_or_default();
    glossary.technologies.entry(id).or_insert(technology);
    Ok(())
}

/// Reads `TP_LIST/TP*/{LABEL, V*}` or `FV_LIST/FV*/{LABEL, V*}` into values by label.
fn read_value_list<R: Read>(
    xml: &mut XmlStream<R>,
    list: &Element,
    item_name: &str,
    values_by_label: &mut HashMap<String, Vec<String>>,
    report: &mut GlossaryReport<'_>,
) -> Result<(), Error> {
    while let Some(item) = xml.next_child(list)? {
        if item.name != item_name {
            report.skip(xml, &item)?;
            continue;
        }
        let mut label = None;
        let mut values = Vec::new();
        while let Some(part) = xml.next_child(&item)? {
            match part.name.as_str() {
                "LABEL" if label.is_none() => label = non_blank(xml.read_text(&part)?),
                "V" => values.push(xml.read_text_exact(&part)?),
                _ => report.skip(xml, &part)?,
            }
        }
        match label {
            Some(label) => {
                values_by_label.entry(label).or_insert(values);
            }
            None => report.problems.push(format!(
                "glossary {item_name} without LABEL at byte {} was skipped",
                item.position
            )),
        }
    }
    Ok(())
}

/// Reads `DPD_LIST/DPD*/{LABEL, NAME}`.
fn read_data_point_names<R: Read>(
    xml: &mut XmlStream<R>,
    list: &Element,
    glossary: &mut Glossary,
    report: &mut GlossaryReport<'_>,
) -> Result<(), Error> {
    while let Some(item) = xml.next_child(list)? {
        if item.name != "DPD" {
            report.skip(xml, &item)?;
            continue;
        }
        let mut label = None;
        let mut name = None;
        while let Some(part) = xml.next_child(&item)? {
            match part.name.as_str() {
                "LABEL" if label.is_none() => label = non_blank(xml.read_text(&part)?),
                "NAME" if name.is_none() => name = non_blank(xml.read_text(&part)?),
                _ => report.skip(xml, &part)?,
            }
        }
        if let (Some(label), Some(name)) = (label, name) {
            glossary.data_point_names.entry(label).or_insert(name);
        }
    }
    Ok(())
}

/// Reads `TM_LIST/TM*/PAIR*/{K, V}`. A PAIR directly in TM_LIST is read too.
fn read_text_mappings<R: Read>(
    xml: &mut XmlStream<R>,
    list: &Element,
    glossary: &mut Glossary,
    report: &mut GlossaryReport<'_>,
) -> Result<(), Error> {
    while let Some(item) = xml.next_child(list)? {
        match item.name.as_str() {
            "TM" => {
                while let Some(pair) = xml.next_child(&item)? {
                    if pair.name == "PAIR" {
                        read_pair(xml, &pair, glossary, report)?;
                    } else {
                        report.skip(xml, &pair)?;
                    }
                }
            }
            "PAIR" => read_pair(xml, &item, glossary, report)?,
            _ => report.skip(xml, &item)?,
        }
    }
    Ok(())
}

fn read_pair<R: Read>(
    xml: &mut XmlStream<R>,
    pair: &Element,
    glossary: &mut Glossary,
    report: &mut GlossaryReport<'_>,
) -> Result<(), Error> {
    let mut key = None;
    let mut value = None;
    while let Some(part) = xml.next_child(pair)? {
        match part.name.as_str() {
            "K" if key.is_none() => key = non_blank(xml.read_text(&part)?),
            "V" if value.is_none() => value = Some(xml.read_text_exact(&part)?),
            _ => report.skip(xml, &part)?,
        }
    }
    if let Some(key) = key {
        glossary
            .text_mappings
            .entry(key)
            .or_insert(value.unwrap_or_default());
    }
    Ok(())
}

/// Parses the ID of a glossary entry, or reports the entry as skipped and returns `None`.
fn glossary_id(
    id: Option<String>,
    kind: &str,
    element: &Element,
    report: &mut GlossaryReport<'_>,
) -> Option<u64> {
    let parsed = id
        .as_deref()
        .map(|text| parse_id(&format!("{kind}/ID"), text));
    match parsed {
        Some(Ok(id)) => Some(id),
        Some(Err(error)) => {
            report.problems.push(format!(
                "glossary {kind} at byte {} was skipped: {error}",
                element.position
            ));
            None
        }
        None => {
            report.problems.push(format!(
                "glossary {kind} at byte {} was skipped: it has no ID",
                element.position
            ));
            None
        }
    }
}

pub(crate) fn non_blank(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}
