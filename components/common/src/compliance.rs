//! Records and element readers shared by the policy export and the control list:
//! criticality, technologies and frameworks with their references.
//!
//! Both pages describe a control's technologies as `TECHNOLOGY/{ID, NAME, RATIONALE?}` and its
//! frameworks as `FRAMEWORK/{ID, NAME, REFERENCE_LIST/REFERENCE*}`. A technology becomes a
//! `technology` record, a framework an `auth-src` record, and each reference a `citation`.

use std::collections::HashSet;
use std::io::Read;

use crate::error::Error;
use crate::job::SourceField;
use crate::parse_id;
use crate::xml::{Element, XmlStream};

/// The criticality levels Qualys defines, label and value.
pub const CRITICALITY_LEVELS: [(&str, u8); 6] = [
    ("UNDEFINED", 0),
    ("MINIMAL", 1),
    ("MEDIUM", 2),
    ("SERIOUS", 3),
    ("CRITICAL", 4),
    ("URGENT", 5),
];

/// A criticality label and value as Qualys sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criticality {
    pub label: String,
    pub value: u8,
}

/// An id and name pair, as Qualys reports CATEGORY and SUB_CATEGORY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedId {
    pub id: u64,
    pub name: String,
}

/// A technology of a control with the rationale Qualys gives for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlTechnology {
    pub technology_id: u64,
    /// Empty when the TECHNOLOGY has no NAME.
    pub name: String,
    /// `None` when absent or blank.
    pub rationale: Option<String>,
}

impl ControlTechnology {
    /// Returns the `technology` record this technology names, without source fields.
    pub fn to_technology(&self) -> Technology {
        Technology {
            id: self.technology_id,
            name: self.name.clone(),
            source: Vec::new(),
        }
    }
}

/// A framework (authority source) of a control with the control's references in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFramework {
    pub framework_id: u64,
    /// Empty when the FRAMEWORK has no NAME.
    pub framework_name: String,
    /// Non-blank references in document order, each once.
    pub references: Vec<String>,
}

impl ControlFramework {
    /// Returns the `auth-src` record this framework names, without source fields.
    pub fn to_auth_src(&self) -> AuthSrc {
        AuthSrc {
            id: self.framework_id,
            name: self.framework_name.clone(),
            source: Vec::new(),
        }
    }

    /// Returns one `citation` record per reference of control `control_id`.
    pub fn citations(&self, control_id: u64) -> impl Iterator<Item = Citation> + '_ {
        self.references.iter().map(move |reference| Citation {
            auth_src_id: self.framework_id,
            control_id,
            reference: reference.clone(),
            source: Vec::new(),
        })
    }
}

/// `sn_vulc_technology`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Technology {
    pub id: u64,
    pub name: String,
    pub source: Vec<SourceField>,
}

/// `sn_vulc_auth_src`: a framework or mandate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSrc {
    pub id: u64,
    pub name: String,
    pub source: Vec<SourceField>,
}

/// `sn_vulc_citation`: a control's reference within a framework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    pub auth_src_id: u64,
    pub control_id: u64,
    pub reference: String,
    pub source: Vec<SourceField>,
}

/// Returns the value of a criticality label, in any letter case, or `None` for an unknown label.
pub fn criticality_value(label: &str) -> Option<u8> {
    CRITICALITY_LEVELS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(label))
        .map(|(_, value)| *value)
}

/// Returns the label of a criticality value, or `None` for a value above 5.
pub fn criticality_label(value: u8) -> Option<&'static str> {
    CRITICALITY_LEVELS
        .iter()
        .find(|(_, known)| *known == value)
        .map(|(label, _)| *label)
}

/// The LABEL and VALUE of a CRITICALITY element as sent, trimmed, blank as `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawCriticality {
    pub label: Option<String>,
    pub value: Option<String>,
}

/// A criticality checked against [`CRITICALITY_LEVELS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedCriticality {
    pub criticality: Option<Criticality>,
    /// A description of the mismatch with the known levels, for a run warning, for example
    /// `criticality label SERIOUS does not match value 4 (SERIOUS is 3); kept as sent`.
    pub problem: Option<String>,
}

impl RawCriticality {
    /// Checks the label and value against the known levels.
    ///
    /// A label/value mismatch, or an unknown label with a numeric value, is kept as sent with a
    /// problem. A missing label or value is completed from the other when that one is known. A
    /// value that is not a number from 0 to 255 is replaced by the value of a known label. Without
    /// a known label there is no criticality, so the raw LABEL and VALUE are appended to `fields`
    /// under `path` and nothing is lost.
    pub fn resolve(self, path: &str, fields: &mut Vec<SourceField>) -> ResolvedCriticality {
        let known_value = self.label.as_deref().and_then(criticality_value);
        let parsed_value = self.value.as_deref().map(|value| value.parse::<u8>().ok());

        match (self.label, parsed_value) {
            (None, None) => ResolvedCriticality::default(),
            (Some(label), Some(Some(value))) => {
                let problem = match known_value {
                    Some(known) if known == value => None,
                    Some(known) => Some(format!(
                        "criticality label {label} does not match value {value} ({label} is \
                         {known}); kept as sent"
                    )),
                    None => Some(format!(
                        "unknown criticality label {label:?} with value {value}; kept as sent"
                    )),
                };
                ResolvedCriticality {
                    criticality: Some(Criticality { label, value }),
                    problem,
                }
            }
            (None, Some(Some(value))) => match criticality_label(value) {
                Some(label) => ResolvedCriticality {
                    criticality: Some(Criticality {
                        label: label.to_owned(),
                        value,
                    }),
                    problem: None,
                },
                None => ResolvedCriticality {
                    criticality: Some(Criticality {
                        label: String::new(),
                        value,
                    }),
                    problem: Some(format!(
                        "criticality value {value} has no label and is not a known level; kept \
                         as sent"
                    )),
                },
            },
            (Some(label), None) => match known_value {
                Some(value) => ResolvedCriticality {
                    criticality: Some(Criticality { label, value }),
                    problem: None,
                },
                None => {
                    fields.push(SourceField::new(format!("{path}/LABEL"), label.clone()));
                    ResolvedCriticality {
                        criticality: None,
                        problem: Some(format!(
                            "unknown criticality label {label:?} without a value; kept as a \
                             source field"
                        )),
                    }
                }
            },
            (label, Some(None)) => {
                let value = self.value.unwrap_or_default();
                match (label, known_value) {
                    (Some(label), Some(known)) => ResolvedCriticality {
                        problem: Some(format!(
                            "invalid criticality value {value:?}; used {known} from label {label}"
                        )),
                        criticality: Some(Criticality {
                            label,
                            value: known,
                        }),
                    },
                    (label, _) => {
                        if let Some(label) = &label {
                            fields.push(SourceField::new(format!("{path}/LABEL"), label.clone()));
                        }
                        fields.push(SourceField::new(format!("{path}/VALUE"), value.clone()));
                        ResolvedCriticality {
                            criticality: None,
                            problem: Some(format!(
                                "invalid criticality value {value:?} without a known label; kept \
                                 as source fields"
                            )),
                        }
                    }
                }
            }
        }
    }
}

/// Reads `CRITICALITY/{LABEL, VALUE}`. Other children are appended to `fields` under `path`.
pub fn read_criticality<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    path: &str,
    fields: &mut Vec<SourceField>,
) -> Result<RawCriticality, Error> {
    let mut raw = RawCriticality::default();
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "LABEL" if raw.label.is_none() => raw.label = non_blank(xml.read_text(&child)?),
            "VALUE" if raw.value.is_none() => raw.value = non_blank(xml.read_text(&child)?),
            name => {
                let child_path = format!("{path}/{name}");
                xml.read_fields(&child, &child_path, fields)?;
            }
        }
    }
    Ok(raw)
}

/// Reads `TECHNOLOGY/{ID, NAME, RATIONALE?}`. Other children are appended to `fields` under
/// `path`, for example `TECHNOLOGY_LIST/TECHNOLOGY/X`.
///
/// Fails with [`Error::MissingElement`] or [`Error::InvalidValue`] if ID is absent or not an
/// unsigned integer.
pub fn read_technology<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    path: &str,
    fields: &mut Vec<SourceField>,
) -> Result<ControlTechnology, Error> {
    let mut id = None;
    let mut name = None;
    let mut rationale = None;
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "ID" if id.is_none() => id = Some(xml.read_text(&child)?),
            "NAME" if name.is_none() => name = Some(xml.read_text(&child)?),
            "RATIONALE" if rationale.is_none() => rationale = Some(xml.read_text(&child)?),
            child_name => {
                let child_path = format!("{path}/{child_name}");
                xml.read_fields(&child, &child_path, fields)?;
            }
        }
    }

    Ok(ControlTechnology {
        technology_id: required_id(path, id)?,
        name: name.unwrap_or_default(),
        rationale: rationale.and_then(non_blank),
    })
}

/// Reads `FRAMEWORK/{ID, NAME, REFERENCE_LIST/REFERENCE*}`. Other children of FRAMEWORK and
/// REFERENCE_LIST are appended to `fields` under `path`, for example
/// `FRAMEWORK_LIST/FRAMEWORK/REFERENCE_LIST/X`. Blank and repeated references are dropped.
///
/// Fails with [`Error::MissingElement`] or [`Error::InvalidValue`] if ID is absent or not an
/// unsigned integer.
pub fn read_framework<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    path: &str,
    fields: &mut Vec<SourceField>,
) -> Result<ControlFramework, Error> {
    let mut id = None;
    let mut name = None;
    let mut references: Vec<String> = Vec::new();
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "ID" if id.is_none() => id = Some(xml.read_text(&child)?),
            "NAME" if name.is_none() => name = Some(xml.read_text(&child)?),
            "REFERENCE_LIST" => {
                while let Some(item) = xml.next_child(&child)? {
                    if item.name == "REFERENCE" {
                        let reference = xml.read_text(&item)?;
                        if !reference.is_empty() && !references.contains(&reference) {
                            references.push(reference);
                        }
                    } else {
                        let item_path = format!("{path}/REFERENCE_LIST/{}", item.name);
                        xml.read_fields(&item, &item_path, fields)?;
                    }
                }
            }
            child_name => {
                let child_path = format!("{path}/{child_name}");
                xml.read_fields(&child, &child_path, fields)?;
            }
        }
    }

    Ok(ControlFramework {
        framework_id: required_id(path, id)?,
        framework_name: name.unwrap_or_default(),
        references,
    })
}

fn required_id(path: &str, id: Option<String>) -> Result<u64, Error> {
    let element = format!("{path}/ID");
    match id {
        Some(text) => parse_id(&element, &text),
        None => Err(Error::MissingElement {
            element,
            record: None,
        }),
    }
}

fn non_blank(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// The ids of records already emitted from a page, so a technology or framework that many
/// controls name is emitted once per page.
///
/// At most `max` ids are remembered, so a page with very many distinct ids cannot exhaust
/// memory. Past that, new ids are emitted every time they appear, which the host's upsert by
/// key absorbs.
pub struct SeenIds {
    ids: HashSet<u64>,
    max: usize,
}

impl SeenIds {
    /// Creates an empty set that remembers up to `max` ids.
    pub fn new(max: usize) -> Self {
        Self {
            ids: HashSet::new(),
            max,
        }
    }

    /// Records `id` and returns whether the record for it must be emitted: true the first time,
    /// and always true for an id not remembered because the set is full.
    pub fn insert(&mut self, id: u64) -> bool {
        if self.ids.contains(&id) {
            return false;
        }
        if self.ids.len() < self.max {
            self.ids.insert(id);
        }
        true
    }
}

/// Run warnings of one kind from one page, of which at most `max` are listed, so a page where
/// every record has the same problem does not give a warning per record.
pub struct LimitedWarnings {
    listed: Vec<String>,
    unlisted: u64,
    max: usize,
}

impl LimitedWarnings {
    /// Creates an empty list that keeps up to `max` warnings.
    pub fn new(max: usize) -> Self {
        Self {
            listed: Vec::new(),
            unlisted: 0,
            max,
        }
    }

    /// Adds a warning, or only counts it once `max` are listed.
    pub fn push(&mut self, warning: String) {
        if self.listed.len() < self.max {
            self.listed.push(warning);
        } else {
            self.unlisted += 1;
        }
    }

    /// Number of warnings added, listed or not.
    pub fn len(&self) -> u64 {
        self.listed.len() as u64 + self.unlisted
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the listed warnings to `warnings`, followed by
    /// `N more warnings like these about <subject>` when some were only counted.
    pub fn append_to(self, warnings: &mut Vec<String>, subject: &str) {
        warnings.extend(self.listed);
        if self.unlisted > 0 {
            warnings.push(format!(
                "{} more warnings like these about {subject}",
                self.unlisted
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(
        label: Option<&str>,
        value: Option<&str>,
    ) -> (ResolvedCriticality, Vec<SourceField>) {
        let raw = RawCriticality {
            label: label.map(str::to_owned),
            value: value.map(str::to_owned),
        };
        let mut fields = Vec::new();
        let resolved = raw.resolve("CRITICALITY", &mut fields);
        (resolved, fields)
    }

    fn criticality(label: &str, value: u8) -> Option<Criticality> {
        Some(Criticality {
            label: label.to_owned(),
            value,
        })
    }

    #[test]
    fn every_known_level_matches() {
        for (label, value) in CRITICALITY_LEVELS {
            let (resolved, fields) = resolve(Some(label), Some(&value.to_string()));
            assert_eq!(resolved.criticality, criticality(label, value));
            assert_eq!(resolved.problem, None, "{label}");
            assert!(fields.is_empty());
        }
    }

    #[test]
    fn mismatch_kept_with_problem() {
        let (resolved, fields) = resolve(Some("SERIOUS"), Some("4"));

        assert_eq!(resolved.criticality, criticality("SERIOUS", 4));
        assert_eq!(
            resolved.problem.as_deref(),
            Some("criticality label SERIOUS does not match value 4 (SERIOUS is 3); kept as sent")
        );
        assert!(fields.is_empty());
    }

    #[test]
    fn unknown_label_kept_with_problem() {
        let (resolved, _) = resolve(Some("SEVERE"), Some("3"));

        assert_eq!(resolved.criticality, criticality("SEVERE", 3));
        assert_eq!(
            resolved.problem.as_deref(),
            Some("unknown criticality label \"SEVERE\" with value 3; kept as sent")
        );
    }

    #[test]
    fn lower_case_label_matches() {
        let (resolved, _) = resolve(Some("serious"), Some("3"));

        assert_eq!(resolved.criticality, criticality("serious", 3));
        assert_eq!(resolved.problem, None);
    }

    #[test]
    fn missing_part_completed() {
        assert_eq!(
            resolve(None, Some("5")).0.criticality,
            criticality("URGENT", 5)
        );
        assert_eq!(
            resolve(Some("MINIMAL"), None).0.criticality,
            criticality("MINIMAL", 1)
        );
        assert_eq!(resolve(None, None).0, ResolvedCriticality::default());
    }

    #[test]
    fn invalid_value_uses_known_label() {
        let (resolved, fields) = resolve(Some("CRITICAL"), Some("high"));

        assert_eq!(resolved.criticality, criticality("CRITICAL", 4));
        assert_eq!(
            resolved.problem.as_deref(),
            Some("invalid criticality value \"high\"; used 4 from label CRITICAL")
        );
        assert!(fields.is_empty());
    }

    #[test]
    fn unusable_criticality_kept_as_fields() {
        let (resolved, fields) = resolve(Some("SEVERE"), Some("300"));

        assert_eq!(resolved.criticality, None);
        assert!(resolved.problem.is_some());
        assert_eq!(
            fields,
            vec![
                SourceField::new("CRITICALITY/LABEL", "SEVERE"),
                SourceField::new("CRITICALITY/VALUE", "300"),
            ]
        );
    }

    #[test]
    fn technology_read_with_unknown_child() {
        let mut xml = XmlStream::new(
            &b"<TECHNOLOGY><ID> 45 </ID><NAME><![CDATA[ Windows Server 2019 ]]></NAME>\
               <RATIONALE>  </RATIONALE><EVIDENCE>x</EVIDENCE></TECHNOLOGY>"[..],
        );
        let root = xml.read_root().unwrap();
        let mut fields = Vec::new();

        let technology = read_technology(&mut xml, &root, "T/TECHNOLOGY", &mut fields).unwrap();

        assert_eq!(
            technology,
            ControlTechnology {
                technology_id: 45,
                name: "Windows Server 2019".to_owned(),
                rationale: None,
            }
        );
        assert_eq!(fields, vec![SourceField::new("T/TECHNOLOGY/EVIDENCE", "x")]);
    }

    #[test]
    fn technology_without_id_rejected() {
        let mut xml = XmlStream::new(&b"<TECHNOLOGY><NAME>x</NAME></TECHNOLOGY>"[..]);
        let root = xml.read_root().unwrap();

        let error = read_technology(&mut xml, &root, "TECHNOLOGY", &mut Vec::new()).unwrap_err();

        assert_eq!(error.to_string(), "missing element TECHNOLOGY/ID");
    }

    #[test]
    fn framework_references_deduplicated() {
        let mut xml = XmlStream::new(
            &b"<FRAMEWORK><ID>1</ID><NAME>CIS Controls v8</NAME><REFERENCE_LIST>\
               <REFERENCE>4.1</REFERENCE><REFERENCE> </REFERENCE><REFERENCE>4.1</REFERENCE>\
               <REFERENCE><![CDATA[ 5.2 ]]></REFERENCE><NOTE>n</NOTE></REFERENCE_LIST>\
               </FRAMEWORK>"[..],
        );
        let root = xml.read_root().unwrap();
        let mut fields = Vec::new();

        let framework = read_framework(&mut xml, &root, "F", &mut fields).unwrap();

        assert_eq!(framework.framework_id, 1);
        assert_eq!(framework.framework_name, "CIS Controls v8");
        assert_eq!(framework.references, vec!["4.1", "5.2"]);
        assert_eq!(fields, vec![SourceField::new("F/REFERENCE_LIST/NOTE", "n")]);
        let citations: Vec<Citation> = framework.citations(1071).collect();
        assert_eq!(citations.len(), 2);
        assert_eq!(citations[1].reference, "5.2");
        assert_eq!(citations[1].control_id, 1071);
        assert_eq!(citations[1].auth_src_id, 1);
    }

    #[test]
    fn seen_ids_bounded() {
        let mut seen = SeenIds::new(2);

        assert!(seen.insert(1));
        assert!(!seen.insert(1));
        assert!(seen.insert(2));
        assert!(seen.insert(3));
        assert!(seen.insert(3), "an id past the limit is not remembered");
        assert!(!seen.insert(2));
    }

    #[test]
    fn limited_warnings_counted_past_limit() {
        let mut warnings = LimitedWarnings::new(2);
        for index in 0..5 {
            warnings.push(format!("w{index}"));
        }
        assert_eq!(warnings.len(), 5);

        let mut output = vec!["first".to_owned()];
        warnings.append_to(&mut output, "criticality");

        assert_eq!(
            output,
            vec![
                "first",
                "w0",
                "w1",
                "3 more warnings like these about criticality"
            ]
        );
    }
}
