//! UTC date and time in the Qualys text form `YYYY-MM-DDTHH:MM:SSZ`.

const SECONDS_PER_DAY: i64 = 86_400;

/// Formats seconds since 1970-01-01T00:00:00Z as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn format_unix(seconds: i64) -> String {
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Converts `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` to seconds since the Unix epoch.
///
/// Returns `None` for any other text and for out-of-range fields (month 13, February 30,
/// hour 24 and so on).
pub(crate) fn parse_qualys(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let (date, time) = match bytes.len() {
        10 => (bytes, None),
        20 if bytes[10] == b'T' && bytes[19] == b'Z' => (&bytes[..10], Some(&bytes[11..19])),
        _ => return None,
    };
    if date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    let year = digits(&date[0..4])?;
    let month = digits(&date[5..7])?;
    let day = digits(&date[8..10])?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }

    let mut second_of_day = 0;
    if let Some(time) = time {
        if time[2] != b':' || time[5] != b':' {
            return None;
        }
        let hour = digits(&time[0..2])?;
        let minute = digits(&time[3..5])?;
        let second = digits(&time[6..8])?;
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        second_of_day = hour * 3600 + minute * 60 + second;
    }
    Some(days_from_civil(year, month, day) * SECONDS_PER_DAY + second_of_day)
}

fn digits(text: &[u8]) -> Option<i64> {
    let mut value = 0i64;
    for &byte in text {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
    }
    Some(value)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Counts days from 1970-01-01 to the given proleptic Gregorian date.
///
/// The calendar is shifted so that a year starts on March 1: the leap day is then the last day
/// of the shifted year, and each 400-year era has exactly 146097 days.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let era = shifted_year.div_euclid(400);
    let year_of_era = shifted_year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Converts days since 1970-01-01 to (year, month, day), the inverse of `days_from_civil`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_known_instants() {
        assert_eq!(format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix(1_796_378_400), "2026-12-04T10:00:00Z");
        assert_eq!(format_unix(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn parse_round_trips() {
        for seconds in [0, 951_782_400, 1_796_378_400, 1_234_567_890, 4_102_444_799] {
            let text = format_unix(seconds);
            assert_eq!(parse_qualys(&text), Some(seconds), "round trip of {text}");
        }
        assert_eq!(parse_qualys("2026-12-04"), Some(1_796_342_400));
    }

    #[test]
    fn parse_rejects_invalid_text() {
        for text in [
            "",
            "2026-13-01",
            "2026-02-29",
            "2026-12-04T24:00:00Z",
            "2026-12-04T10:00:00",
            "2026-12-04 10:00:00Z",
            "2026/12/04",
            "2026-12-0x",
            "２０２６-12-04",
        ] {
            assert_eq!(parse_qualys(text), None, "accepted {text:?}");
        }
    }
}
