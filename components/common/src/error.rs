//! Errors of the parsing helpers.

use std::fmt;

/// An error document from Qualys: a SIMPLE_RETURN with a CODE, or a failed GENERIC_RETURN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualysError {
    /// The Qualys error code, for example 1965 (rate limit), where the document has one.
    pub code: Option<u32>,
    pub text: String,
    /// ITEM_LIST pairs in document order, for example `SECONDS_TO_WAIT`.
    pub items: Vec<(String, String)>,
}

impl fmt::Display for QualysError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(formatter, "Qualys returned error {code}: {}", self.text)?,
            None => write!(formatter, "Qualys returned an error: {}", self.text)?,
        }
        if !self.items.is_empty() {
            let items: Vec<String> = self
                .items
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            write!(formatter, " ({})", items.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for QualysError {}

/// A failure to parse a page.
///
/// `record` fields name the record being read, for example `POLICY 1234`, or
/// `POLICY at byte 5120` before its id is known.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to read the response body: {0}")]
    Io(#[from] std::io::Error),

    #[error("malformed XML near byte {position}: {message}")]
    Xml { position: u64, message: String },

    #[error("empty response body")]
    EmptyBody,

    #[error("response body is not XML: it starts with {start:?}")]
    NotXml { start: String },

    #[error(transparent)]
    Qualys(QualysError),

    #[error("expected root element {expected}, found {found}")]
    UnexpectedRoot { expected: String, found: String },

    #[error("expected root element {expected}, found a {root} success document: {text}")]
    UnexpectedSuccess {
        expected: String,
        root: String,
        text: String,
    },

    #[error("response body ended inside element {element}")]
    UnexpectedEnd { element: String },

    #[error("unexpected element {child} inside {parent}{}", in_record(.record))]
    UnexpectedElement {
        parent: String,
        child: String,
        record: Option<String>,
    },

    #[error("missing element {element}{}", in_record(.record))]
    MissingElement {
        element: String,
        record: Option<String>,
    },

    #[error("invalid {element} value {value:?}{}: expected {expected}", in_record(.record))]
    InvalidValue {
        element: String,
        value: String,
        record: Option<String>,
        expected: String,
    },

    #[error("rejected follow-up URL {url:?}: {reason}")]
    FollowUpUrl { url: String, reason: String },
}

impl Error {
    /// Sets the record of an `UnexpectedElement`, `MissingElement` or `InvalidValue` error that
    /// has none yet.
    pub fn in_record(mut self, name: &str) -> Self {
        match &mut self {
            Error::UnexpectedElement { record, .. }
            | Error::MissingElement { record, .. }
            | Error::InvalidValue { record, .. }
                if record.is_none() =>
            {
                *record = Some(name.to_owned());
            }
            _ => {}
        }
        self
    }
}

fn in_record(record: &Option<String>) -> String {
    match record {
        Some(record) => format!(" in {record}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualys_error_message() {
        let error = QualysError {
            code: Some(1965),
            text: "This API cannot be run again for another 23 hours.".to_owned(),
            items: vec![("SECONDS_TO_WAIT".to_owned(), "68928".to_owned())],
        };

        assert_eq!(
            error.to_string(),
            "Qualys returned error 1965: This API cannot be run again for another 23 hours. \
             (SECONDS_TO_WAIT=68928)"
        );
    }

    #[test]
    fn invalid_value_message() {
        let error = Error::InvalidValue {
            element: "CREATED/DATETIME".to_owned(),
            value: "2020-13-01".to_owned(),
            record: None,
            expected: "YYYY-MM-DDTHH:MM:SSZ".to_owned(),
        }
        .in_record("POLICY 7");

        assert_eq!(
            error.to_string(),
            "invalid CREATED/DATETIME value \"2020-13-01\" in POLICY 7: expected YYYY-MM-DDTHH:MM:SSZ"
        );
    }
}
