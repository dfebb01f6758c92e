//! UTC timestamps as Qualys writes them: `YYYY-MM-DDTHH:MM:SSZ`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// A timestamp that is not in a form Qualys accepts.
#[derive(Debug, thiserror::Error)]
#[error("invalid UTC time `{value}`: expected YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD")]
pub struct InvalidTime {
    pub value: String,
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (surrounding spaces allowed, as Qualys sends them) or
/// `YYYY-MM-DD` (midnight UTC).
pub fn parse_utc(text: &str) -> Result<DateTime<Utc>, InvalidTime> {
    let trimmed = text.trim();
    let invalid = || InvalidTime {
        value: text.to_string(),
    };
    if let Ok(datetime) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(datetime.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d").map_err(|_| invalid())?;
    Ok(date.and_hms_opt(0, 0, 0).ok_or_else(invalid)?.and_utc())
}

/// Formats a time as Qualys expects it in a request.
pub fn format_utc(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qualys_forms() {
        let time = parse_utc(" 2017-04-12T14:52:39Z ").unwrap();
        assert_eq!(format_utc(time), "2017-04-12T14:52:39Z");
        assert_eq!(
            format_utc(parse_utc("2024-01-02").unwrap()),
            "2024-01-02T00:00:00Z"
        );
    }

    #[test]
    fn rejects_other_forms() {
        assert!(parse_utc("04/12/2017").is_err());
    }
}
