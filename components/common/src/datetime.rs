//! Qualys UTC datetimes, `YYYY-MM-DDTHH:MM:SSZ`.

use crate::error::Error;

/// The form every Qualys datetime is validated against, as error messages name it.
pub const DATETIME_FORMAT: &str = "YYYY-MM-DDTHH:MM:SSZ";

/// Validates a Qualys datetime and returns it without surrounding whitespace.
///
/// The calendar date and the time of day must exist (February 29 only in leap years, hours
/// 0 to 23, seconds 0 to 59). `element` names the element in the error.
pub fn normalize_datetime(element: &str, value: &str) -> Result<String, Error> {
    let trimmed = value.trim_matches(is_xml_whitespace);
    if is_valid_datetime(trimmed) {
        Ok(trimmed.to_owned())
    } else {
        Err(Error::InvalidValue {
            element: element.to_owned(),
            value: value.to_owned(),
            record: None,
            expected: DATETIME_FORMAT.to_owned(),
        })
    }
}

/// Like [`normalize_datetime`], but an absent or blank value is `None`.
pub fn normalize_optional_datetime(
    element: &str,
    value: Option<&str>,
) -> Result<Option<String>, Error> {
    match value {
        Some(value) if !value.trim_matches(is_xml_whitespace).is_empty() => {
            normalize_datetime(element, value).map(Some)
        }
        _ => Ok(None),
    }
}

pub(crate) fn is_xml_whitespace(character: char) -> bool {
    matches!(character, ' ' | '\t' | '\n' | '\r')
}

fn is_valid_datetime(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.len() != 20 {
        return false;
    }

    let separators_valid = bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && bytes[19] == b'Z';
    if !separators_valid {
        return false;
    }

    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(&bytes[0..4]),
        digits(&bytes[5..7]),
        digits(&bytes[8..10]),
        digits(&bytes[11..13]),
        digits(&bytes[14..16]),
        digits(&bytes[17..19]),
    ) else {
        return false;
    };

    (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour <= 23
        && minute <= 59
        && second <= 59
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |number, &byte| {
        byte.is_ascii_digit()
            .then(|| number * 10 + u32::from(byte - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrounding_spaces_trimmed() {
        assert_eq!(
            normalize_datetime("DATETIME", " 2017-04-12T14:52:39Z \n").unwrap(),
            "2017-04-12T14:52:39Z"
        );
    }

    #[test]
    fn leap_day_accepted_in_leap_year() {
        assert!(normalize_datetime("DATETIME", "2024-02-29T00:00:00Z").is_ok());
        assert!(normalize_datetime("DATETIME", "2000-02-29T23:59:59Z").is_ok());
    }

    #[test]
    fn invalid_values_rejected() {
        let invalid = [
            "",
            "2017-04-12",
            "2017-04-12 14:52:39",
            "2017-04-12T14:52:39",
            "2017-04-12t14:52:39Z",
            "2017-04-12T14:52:39+00:00",
            "2017-13-12T14:52:39Z",
            "2017-00-12T14:52:39Z",
            "2017-04-31T14:52:39Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2017-04-12T24:00:00Z",
            "2017-04-12T14:60:39Z",
            "2017-04-12T14:52:60Z",
            "2017-0a-12T14:52:39Z",
            "2017-04-12T14:52:39ZZ",
            "２017-04-12T14:52:39Z",
        ];
        for value in invalid {
            assert!(normalize_datetime("DATETIME", value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn error_names_element_and_value() {
        let error = normalize_datetime("LAST_EVALUATED/DATETIME", "yesterday").unwrap_err();

        assert_eq!(
            error.to_string(),
            "invalid LAST_EVALUATED/DATETIME value \"yesterday\": expected YYYY-MM-DDTHH:MM:SSZ"
        );
    }

    #[test]
    fn blank_optional_is_none() {
        assert_eq!(normalize_optional_datetime("DATETIME", None).unwrap(), None);
        assert_eq!(
            normalize_optional_datetime("DATETIME", Some(" \n ")).unwrap(),
            None
        );
        assert_eq!(
            normalize_optional_datetime("DATETIME", Some("2020-01-01T00:00:00Z")).unwrap(),
            Some("2020-01-01T00:00:00Z".to_owned())
        );
    }
}
