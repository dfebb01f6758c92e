//! Parsing helpers shared by the pcsync job components.
//!
//! A job component streams a Qualys page from the host, parses it and emits records. This crate
//! contains the parts every component needs, as plain Rust that tests natively:
//!
//! - [`PageReader`] turns the host's `page.read(max)` into [`std::io::Read`].
//! - [`XmlCharFilter`] replaces what XML 1.0 does not allow with U+FFFD, so one bad byte does
//!   not lose a page.
//! - [`XmlStream`] walks a page element by element with fixed-size buffers, and keeps unknown
//!   elements as [`SourceField`]s.
//! - [`read_expected_root`] checks the root and turns SIMPLE_RETURN and GENERIC_RETURN error
//!   documents into a [`QualysError`].
//! - [`read_warning`] and [`follow_up_from_url`] turn a truncation WARNING into the next request.
//! - [`normalize_datetime`] validates Qualys datetimes.
//! - [`job`] has plain counterparts of the WIT types, the [`JobHost`] trait over the host imports
//!   and [`RecordBatch`] for emitting in batches.
//! - [`compliance`] has the technology, framework and criticality records and readers that the
//!   policy export and the control list share.
//! - [`parameters`] validates the job parameters several components read.
//! - [`results`] has the test result and scanned host records that the results jobs emit.
//! - [`wit_conversions!`] and [`results_component!`] write the WIT binding of a component.
//! - [`posture`] builds and parses the posture info requests of the classic results jobs.

pub mod compliance;
pub mod datetime;
pub mod error;
pub mod filter;
pub mod job;
pub mod page;
pub mod parameters;
pub mod posture;
pub mod results;
pub mod status;
pub mod warning;
mod wit_glue;
pub mod xml;

pub use compliance::{
    AuthSrc, CRITICALITY_LEVELS, Citation, ControlFramework, ControlTechnology, Criticality,
    LimitedWarnings, NamedId, RawCriticality, ResolvedCriticality, SeenIds, Technology,
    criticality_label, criticality_value, read_criticality, read_framework, read_technology,
};
pub use datetime::{DATETIME_FORMAT, normalize_datetime, normalize_optional_datetime};
pub use error::{Error, QualysError};
pub use filter::XmlCharFilter;
pub use job::{
    Api, Body, Description, JobError, JobHost, LogLevel, Method, PlanSlice, PolicyRef,
    ProcessOutput, RecordBatch, Request, RunContext, SourceField, Table, WIT_VERSION,
};
pub use page::PageReader;
pub use parameters::{
    API_VERSION_PARAMETER, API_VERSIONS, DEFAULT_API_VERSION, api_version, flag_parameter,
    flag_parameter_or, positive_integer_parameter,
};
pub use results::{OS_INSTANCE, ResultKey, ScannedHost, TestResult, format_result_key};
pub use status::{StatusDocument, is_status_root, read_expected_root, read_status_document};
pub use warning::{FollowUp, Warning, follow_up_from_url, read_warning};
pub use xml::{Element, READ_BUFFER_SIZE, XmlStream};

/// Parses an unsigned integer id such as a policy ID: ASCII digits only, surrounding XML
/// whitespace allowed. `element` names the element in the error.
pub fn parse_id(element: &str, value: &str) -> Result<u64, Error> {
    let trimmed = value.trim_matches(datetime::is_xml_whitespace);
    let parsed = if !trimmed.is_empty() && trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
        trimmed.parse::<u64>().ok()
    } else {
        None
    };
    parsed.ok_or_else(|| Error::InvalidValue {
        element: element.to_owned(),
        value: value.to_owned(),
        record: None,
        expected: "an unsigned integer below 2^64".to_owned(),
    })
}

/// Parses a Qualys flag, `0` or `1`. `element` names the element in the error.
pub fn parse_flag(element: &str, value: &str) -> Result<bool, Error> {
    match value.trim_matches(datetime::is_xml_whitespace) {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(Error::InvalidValue {
            element: element.to_owned(),
            value: value.to_owned(),
            record: None,
            expected: "0 or 1".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_parsed() {
        assert_eq!(parse_id("ID", " 123\n").unwrap(), 123);
        assert_eq!(parse_id("ID", "18446744073709551615").unwrap(), u64::MAX);
    }

    #[test]
    fn invalid_ids_rejected() {
        for value in [
            "",
            " ",
            "+1",
            "-1",
            "1.0",
            "12a",
            "18446744073709551616",
            "\u{663}",
        ] {
            assert!(parse_id("ID", value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn flags_parsed() {
        assert!(!parse_flag("IS_LOCKED", "0").unwrap());
        assert!(parse_flag("IS_LOCKED", " 1 ").unwrap());
        assert_eq!(
            parse_flag("IS_LOCKED", "yes").unwrap_err().to_string(),
            "invalid IS_LOCKED value \"yes\": expected 0 or 1"
        );
    }
}
