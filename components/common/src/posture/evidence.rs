//! The evidence of a posture, and its expected and actual values.
//!
//! `EVIDENCE/{BOOLEAN_EXPR, DPV_LIST/DPV*[@lastUpdated]/{LABEL, V*}, EXTENDED_EVIDENCE?}` and
//! `CAUSE_OF_FAILURE/{UNEXPECTED/V*, MISSING/V*}`.
//!
//! BOOLEAN_EXPR is an expression over tokens that point at glossary entries by LABEL:
//! `:dp_N` is a data point (DPD), `#fv_N` a fixed value (FV) and `$tp_N` a template (TP). A
//! data point value may be a text mapping key such as `%tm_1`, which a TM PAIR explains.
//! Evidence text is kept as sent: only the indentation outside CDATA sections is trimmed.

use std::io::Read;

use crate::{Element, Error, SourceField, XmlStream};

use super::glossary::Glossary;

/// The evidence of one INFO as sent.
#[derive(Debug, Default)]
pub(crate) struct Evidence {
    pub boolean_expr: Option<String>,
    pub data_points: Vec<DataPointValue>,
    pub extended: Option<String>,
}

/// One DPV: the actual values of a data point.
#[derive(Debug, Default)]
pub(crate) struct DataPointValue {
    /// The data point's label, for example `:dp_1`.
    pub label: String,
    /// The `lastUpdated` attribute as sent.
    pub last_updated: Option<String>,
    pub values: Vec<String>,
}

/// The UNEXPECTED and MISSING values of a failed posture.
#[derive(Debug, Default)]
pub(crate) struct CauseOfFailure {
    pub unexpected: Vec<String>,
    pub missing: Vec<String>,
}

/// Counts of evidence tokens that the glossary does not explain, with the first few of them.
#[derive(Debug, Default)]
pub(crate) struct TokenGaps {
    pub count: u64,
    pub examples: Vec<String>,
}

/// Maximum number of distinct unknown tokens kept as examples per page.
const MAX_TOKEN_EXAMPLES: usize = 5;

impl TokenGaps {
    fn record(&mut self, token: &str) {
        self.count += 1;
        if self.examples.len() < MAX_TOKEN_EXAMPLES && !self.examples.iter().any(|t| t == token) {
            self.examples.push(token.to_owned());
        }
    }
}

/// Reads an EVIDENCE element. Unknown children become `EVIDENCE/...` fields in `source`.
pub(crate) fn read_evidence<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    source: &mut Vec<SourceField>,
) -> Result<Evidence, Error> {
    let mut evidence = Evidence::default();
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "BOOLEAN_EXPR" if evidence.boolean_expr.is_none() => {
                let expression = xml.read_text_exact(&child)?;
                evidence.boolean_expr = (!expression.is_empty()).then_some(expression);
            }
            "DPV_LIST" => {
                while let Some(item) = xml.next_child(&child)? {
                    if item.name == "DPV" {
                        let value = read_data_point_value(xml, &item, source)?;
                        evidence.data_points.push(value);
                    } else {
                        let path = format!("EVIDENCE/DPV_LIST/{}", item.name);
                        xml.read_fields(&item, &path, source)?;
                    }
                }
            }
            "EXTENDED_EVIDENCE" if evidence.extended.is_none() => {
                let text = xml.read_text_exact(&child)?;
                evidence.extended = (!text.is_empty()).then_some(text);
            }
            name => {
                let path = format!("EVIDENCE/{name}");
                xml.read_fields(&child, &path, source)?;
            }
        }
    }
    Ok(evidence)
}

fn read_data_point_value<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    source: &mut Vec<SourceField>,
) -> Result<DataPointValue, Error> {
    let mut value = DataPointValue::default();
    for (name, attribute) in &element.attributes {
        if name == "lastUpdated" && value.last_updated.is_none() {
            let trimmed = attribute.trim();
            value.last_updated = (!trimmed.is_empty()).then(|| trimmed.to_owned());
        } else {
            source.push(SourceField::new(
                format!("EVIDENCE/DPV_LIST/DPV/@{name}"),
                attribute.clone(),
            ));
        }
    }

    let mut label_seen = false;
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "LABEL" if !label_seen => {
                label_seen = true;
                value.label = xml.read_text(&child)?;
            }
            "V" => value.values.push(xml.read_text_exact(&child)?),
            name => {
                let path = format!("EVIDENCE/DPV_LIST/DPV/{name}");
                xml.read_fields(&child, &path, source)?;
            }
        }
    }
    Ok(value)
}

/// Reads a CAUSE_OF_FAILURE element. Unknown children become `CAUSE_OF_FAILURE/...` fields in
/// `source`.
pub(crate) fn read_cause_of_failure<R: Read>(
    xml: &mut XmlStream<R>,
    element: &Element,
    source: &mut Vec<SourceField>,
) -> Result<CauseOfFailure, Error> {
    let mut cause = CauseOfFailure::default();
    while let Some(child) = xml.next_child(element)? {
        let values = match child.name.as_str() {
            "UNEXPECTED" => &mut cause.unexpected,
            "MISSING" => &mut cause.missing,
            name => {
                let path = format!("CAUSE_OF_FAILURE/{name}");
                xml.read_fields(&child, &path, source)?;
                continue;
            }
        };
        while let Some(item) = xml.next_child(&child)? {
            if item.name == "V" {
                values.push(xml.read_text_exact(&item)?);
            } else {
                let path = format!("CAUSE_OF_FAILURE/{}/{}", child.name, item.name);
                xml.read_fields(&item, &path, source)?;
            }
        }
    }
    Ok(cause)
}

/// The kinds of token in a BOOLEAN_EXPR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    /// `:dp_N`, explained by a DPD.
    DataPoint,
    /// `#fv_N`, explained by an FV.
    FixedValue,
    /// `$tp_N`, explained by a TP.
    Template,
}

/// Returns the kind and byte length of the token at the start of `text`: a sigil, its prefix
/// and one or more ASCII digits, not followed by a letter, digit or underscore.
fn token_at(text: &str) -> Option<(TokenKind, usize)> {
    let bytes = text.as_bytes();
    let (kind, prefix): (TokenKind, &[u8]) = match bytes.first()? {
        b':' => (TokenKind::DataPoint, b"dp_"),
        b'#' => (TokenKind::FixedValue, b"fv_"),
        b'$' => (TokenKind::Template, b"tp_"),
        _ => return None,
    };
    let after_sigil = bytes.get(1..)?;
    if !after_sigil.starts_with(prefix) {
        return None;
    }
    let digits_start = 1 + prefix.len();
    let digits = bytes
        .get(digits_start..)?
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    let end = digits_start + digits;
    let continues_word = bytes
        .get(end)
        .is_some_and(|byte| byte.is_ascii_alphanumeric() || *byte == b'_');
    (!continues_word).then_some((kind, end))
}

/// Returns whether `value` is a text mapping key: `%tm_` and one or more ASCII digits.
fn is_text_mapping_key(value: &str) -> bool {
    value
        .strip_prefix("%tm_")
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Returns `expression` with every token the glossary explains replaced: a data point by its
/// name, a fixed value or template by its values joined with `, `. An unknown token stays as
/// written. An unknown fixed value or template is counted in `gaps`, but a data point without
/// a name is not, because Qualys sends the names only for `include_dp_name=1`.
pub(crate) fn expected_values(
    expression: &str,
    glossary: &Glossary,
    gaps: &mut TokenGaps,
) -> String {
    let mut resolved = String::with_capacity(expression.len());
    let mut rest = expression;
    while let Some(sigil) = rest.find([':', '#', '$']) {
        resolved.push_str(&rest[..sigil]);
        let candidate = &rest[sigil..];
        let Some((kind, len)) = token_at(candidate) else {
            // The sigils are ASCII, so one byte is one character.
            resolved.push_str(&candidate[..1]);
            rest = &candidate[1..];
            continue;
        };
        let token = &candidate[..len];
        match resolve_token(kind, token, glossary) {
            Some(text) => resolved.push_str(&text),
            None => {
                if kind != TokenKind::DataPoint {
                    gaps.record(token);
                }
                resolved.push_str(token);
            }
        }
        rest = &candidate[len..];
    }
    resolved.push_str(rest);
    resolved
}

fn resolve_token(kind: TokenKind, token: &str, glossary: &Glossary) -> Option<String> {
    match kind {
        TokenKind::DataPoint => glossary.data_point_names.get(token).cloned(),
        TokenKind::FixedValue => glossary.fixed_values.get(token).map(|v| v.join(", ")),
        TokenKind::Template => glossary.templates.get(token).map(|v| v.join(", ")),
    }
}

/// Returns the actual values of a posture, one line each: every DPV as
/// `<data point name or label>: <values joined with ", "> (last updated <lastUpdated>)`, then
/// `Extended evidence:` and its text, then `Cause of failure:` with the UNEXPECTED and MISSING
/// values. A DPV value that is a TM PAIR key is replaced by the PAIR's value, and an unknown
/// `%tm_N` key stays as written and is counted in `gaps`.
///
/// Returns `None` when the posture has none of these.
pub(crate) fn actual_values(
    evidence: Option<&Evidence>,
    cause: Option<&CauseOfFailure>,
    glossary: &Glossary,
    gaps: &mut TokenGaps,
) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();

    if let Some(evidence) = evidence {
        for data_point in &evidence.data_points {
            lines.push(data_point_line(data_point, glossary, gaps));
        }
        if let Some(extended) = &evidence.extended {
            lines.push("Extended evidence:".to_owned());
            lines.push(extended.clone());
        }
    }

    if let Some(cause) = cause
        && (!cause.unexpected.is_empty() || !cause.missing.is_empty())
    {
        lines.push("Cause of failure:".to_owned());
        if !cause.unexpected.is_empty() {
            lines.push(format!("Unexpected: {}", cause.unexpected.join(", ")));
        }
        if !cause.missing.is_empty() {
            lines.push(format!("Missing: {}", cause.missing.join(", ")));
        }
    }

    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn data_point_line(
    data_point: &DataPointValue,
    glossary: &Glossary,
    gaps: &mut TokenGaps,
) -> String {
    let name = glossary
        .data_point_names
        .get(&data_point.label)
        .unwrap_or(&data_point.label);

    let mut values = Vec::with_capacity(data_point.values.len());
    for value in &data_point.values {
        let key = value.trim();
        match glossary.text_mappings.get(key) {
            Some(mapped) => values.push(mapped.as_str()),
            None => {
                if is_text_mapping_key(key) {
                    gaps.record(key);
                }
                values.push(value.as_str());
            }
        }
    }

    let mut line = format!("{name}:");
    if !values.is_empty() {
        line.push(' ');
        line.push_str(&values.join(", "));
    }
    if let Some(last_updated) = &data_point.last_updated {
        line.push_str(&format!(" (last updated {last_updated})"));
    }
    line
}

/// Returns the labels of the data points an evidence names, each once, in order: the DPV
/// labels, then the `:dp_N` tokens of the expression.
pub(crate) fn data_point_labels(evidence: &Evidence) -> Vec<&str> {
    let mut labels: Vec<&str> = Vec::new();
    for data_point in &evidence.data_points {
        add_label(&mut labels, &data_point.label);
    }
    if let Some(expression) = &evidence.boolean_expr {
        let mut rest = expression.as_str();
        while let Some(start) = rest.find(':') {
            let candidate = &rest[start..];
            match token_at(candidate) {
                Some((TokenKind::DataPoint, len)) => {
                    add_label(&mut labels, &candidate[..len]);
                    rest = &candidate[len..];
                }
                _ => rest = &candidate[1..],
            }
        }
    }
    labels
}

fn add_label<'a>(labels: &mut Vec<&'a str>, label: &'a str) {
    if !label.is_empty() && !labels.contains(&label) {
        labels.push(label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glossary() -> Glossary {
        let mut glossary = Glossary {
            present: true,
            ..Glossary::default()
        };
        glossary
            .data_point_names
            .insert(":dp_1".to_owned(), "Minimum password length".to_owned());
        glossary
            .fixed_values
            .insert("#fv_1".to_owned(), vec!["14".to_owned()]);
        glossary
            .templates
            .insert("$tp_2".to_owned(), vec!["a".to_owned(), "b".to_owned()]);
        glossary
            .text_mappings
            .insert("%tm_1".to_owned(), "Enabled".to_owned());
        glossary
    }

    #[test]
    fn every_token_kind_resolved() {
        let mut gaps = TokenGaps::default();

        let resolved = expected_values(
            "(:dp_1 >= #fv_1) && ($tp_2 contains :dp_2)",
            &glossary(),
            &mut gaps,
        );

        assert_eq!(
            resolved,
            "(Minimum password length >= 14) && (a, b contains :dp_2)"
        );
        assert_eq!(gaps.count, 0);
    }

    #[test]
    fn non_tokens_kept() {
        let mut gaps = TokenGaps::default();
        let text = "a:b #fv_ $tp_x :dp_1a :dp_1_ ::dp_1 $ # : \u{E9}#fv_1";

        let resolved = expected_values(text, &glossary(), &mut gaps);

        assert_eq!(
            resolved,
            "a:b #fv_ $tp_x :dp_1a :dp_1_ :Minimum password length $ # : \u{E9}14"
        );
        assert_eq!(gaps.count, 0);
    }

    #[test]
    fn unknown_values_are_gaps_but_data_points_not() {
        let mut gaps = TokenGaps::default();

        let resolved = expected_values(":dp_7 == #fv_9 || $tp_9 || #fv_9", &glossary(), &mut gaps);

        assert_eq!(resolved, ":dp_7 == #fv_9 || $tp_9 || #fv_9");
        assert_eq!(gaps.count, 3);
        assert_eq!(gaps.examples, ["#fv_9", "$tp_9"]);
    }

    #[test]
    fn actual_values_lines() {
        let evidence = Evidence {
            boolean_expr: None,
            data_points: vec![
                DataPointValue {
                    label: ":dp_1".to_owned(),
                    last_updated: Some("2026-12-01T10:00:00Z".to_owned()),
                    values: vec!["12".to_owned()],
                },
                DataPointValue {
                    label: ":dp_2".to_owned(),
                    last_updated: None,
                    values: vec!["%tm_1".to_owned(), "%tm_2".to_owned(), "x".to_owned()],
                },
                DataPointValue {
                    label: ":dp_3".to_owned(),
                    last_updated: None,
                    values: Vec::new(),
                },
            ],
            extended: Some("line 1\nline 2".to_owned()),
        };
        let cause = CauseOfFailure {
            unexpected: vec!["u1".to_owned(), "u2".to_owned()],
            missing: vec!["m".to_owned()],
        };
        let mut gaps = TokenGaps::default();

        let actual = actual_values(Some(&evidence), Some(&cause), &glossary(), &mut gaps);

        assert_eq!(
            actual.as_deref(),
            Some(
                "Minimum password length: 12 (last updated 2026-12-01T10:00:00Z)\n\
                 :dp_2: Enabled, %tm_2, x\n\
                 :dp_3:\n\
                 Extended evidence:\nline 1\nline 2\n\
                 Cause of failure:\nUnexpected: u1, u2\nMissing: m"
            )
        );
        assert_eq!(gaps.count, 1);
        assert_eq!(gaps.examples, ["%tm_2"]);
    }

    #[test]
    fn no_evidence_no_actual_values() {
        let mut gaps = TokenGaps::default();

        let empty_cause = CauseOfFailure::default();
        let actual = actual_values(None, Some(&empty_cause), &glossary(), &mut gaps);

        assert_eq!(actual, None);
    }

    #[test]
    fn data_point_labels_listed_once() {
        let evidence = Evidence {
            boolean_expr: Some(":dp_2 == :dp_3 && :dp_2 != #fv_1".to_owned()),
            data_points: vec![DataPointValue {
                label: ":dp_2".to_owned(),
                ..DataPointValue::default()
            }],
            extended: None,
        };

        assert_eq!(data_point_labels(&evidence), [":dp_2", ":dp_3"]);
    }
}
