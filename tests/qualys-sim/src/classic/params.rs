//! Checking and decoding classic API parameters.

use axum::http::StatusCode;

use crate::classic::simple_return;
use crate::datetime::{format_unix, parse_qualys};
use crate::response::SimResponse;
use crate::server::Incoming;

/// A rejected request: HTTP 400 with a SIMPLE_RETURN carrying a code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamError {
    pub(crate) code: u32,
    pub(crate) text: String,
}

impl ParamError {
    /// Code 1901: parameters the operation does not know.
    pub(crate) fn unrecognized(names: &[&str]) -> Self {
        Self {
            code: 1901,
            text: format!("Unrecognized parameter(s): {}", names.join(", ")),
        }
    }

    /// Code 1903: a required parameter is missing.
    pub(crate) fn missing(name: &str) -> Self {
        Self {
            code: 1903,
            text: format!("Missing required parameter(s): {name}"),
        }
    }

    /// Code 1905: a parameter has a value the operation does not accept.
    pub(crate) fn invalid(name: &str, value: &str, expected: &str) -> Self {
        Self {
            code: 1905,
            text: format!("Invalid value for parameter {name}: '{value}'. Expected {expected}."),
        }
    }

    pub(crate) fn into_response(self, datetime: &str) -> SimResponse {
        let document = simple_return::document(datetime, Some(self.code), &self.text, &[]);
        SimResponse::xml(StatusCode::BAD_REQUEST, document)
    }
}

/// Rejects parameters whose names are not in `allowed`, naming each of them once.
pub(crate) fn reject_unknown(incoming: &Incoming, allowed: &[&str]) -> Result<(), ParamError> {
    let mut unknown: Vec<&str> = Vec::new();
    for (name, _) in incoming.params() {
        if !allowed.contains(&name) && !unknown.contains(&name) {
            unknown.push(name);
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ParamError::unrecognized(&unknown))
    }
}

/// Amount of detail requested with `details`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Details {
    None,
    Basic,
    All,
}

pub(crate) fn parse_details(value: Option<&str>) -> Result<Details, ParamError> {
    match value {
        None | Some("Basic") => Ok(Details::Basic),
        Some("None") => Ok(Details::None),
        Some("All") => Ok(Details::All),
        Some(other) => Err(ParamError::invalid("details", other, "Basic, All or None")),
    }
}

/// Parses a decimal id of at least 1.
pub(crate) fn parse_id(name: &str, value: &str) -> Result<u64, ParamError> {
    match value.trim().parse::<u64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ParamError::invalid(name, value, "a positive integer")),
    }
}

/// A set of ids given as a comma-separated list of ids and inclusive ranges (`1,5,160-165`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdSet {
    /// Inclusive ranges, sorted and merged so that they neither overlap nor touch.
    ranges: Vec<(u64, u64)>,
}

impl IdSet {
    /// Creates a set from inclusive ranges, which may overlap and come in any order.
    pub(crate) fn from_ranges(mut ranges: Vec<(u64, u64)>) -> Self {
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (low, high) in ranges {
            match merged.last_mut() {
                Some(last) if low <= last.1.saturating_add(1) => last.1 = last.1.max(high),
                _ => merged.push((low, high)),
            }
        }
        Self { ranges: merged }
    }

    /// Tests membership with a binary search, so a long `ids` list stays cheap per policy.
    pub(crate) fn contains(&self, id: u64) -> bool {
        let after = self.ranges.partition_point(|(low, _)| *low <= id);
        after > 0 && id <= self.ranges[after - 1].1
    }
}

pub(crate) fn parse_id_set(name: &str, value: &str) -> Result<IdSet, ParamError> {
    let invalid = || ParamError::invalid(name, value, "ids or ranges such as 1,5,160-165");
    let mut ranges = Vec::new();
    for item in value.split(',') {
        let item = item.trim();
        let range = match item.split_once('-') {
            Some((low, high)) => {
                let low = parse_id(name, low).map_err(|_| invalid())?;
                let high = parse_id(name, high).map_err(|_| invalid())?;
                if low > high {
                    return Err(invalid());
                }
                (low, high)
            }
            None => {
                let id = parse_id(name, item).map_err(|_| invalid())?;
                (id, id)
            }
        };
        ranges.push(range);
    }
    Ok(IdSet::from_ranges(ranges))
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` and returns it in the second form, which
/// orders correctly as text.
pub(crate) fn parse_datetime(name: &str, value: &str) -> Result<String, ParamError> {
    parse_qualys(value)
        .map(format_unix)
        .ok_or_else(|| ParamError::invalid(name, value, "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"))
}

/// The id and date filters that the policy list and the control list share.
#[derive(Debug, Default)]
pub(crate) struct ListFilters {
    ids: Option<IdSet>,
    id_min: Option<u64>,
    id_max: Option<u64>,
    updated_after: Option<String>,
    created_after: Option<String>,
}

impl ListFilters {
    /// Parses `ids`, `id_min`, `id_max`, `updated_after_datetime` and
    /// `created_after_datetime`, in this order, and rejects the first invalid one.
    pub(crate) fn parse(incoming: &Incoming) -> Result<Self, ParamError> {
        let id = |name| incoming.param(name).map(|v| parse_id(name, v)).transpose();
        let datetime = |name| {
            incoming
                .param(name)
                .map(|v| parse_datetime(name, v))
                .transpose()
        };
        Ok(Self {
            ids: incoming
                .param("ids")
                .map(|v| parse_id_set("ids", v))
                .transpose()?,
            id_min: id("id_min")?,
            id_max: id("id_max")?,
            updated_after: datetime("updated_after_datetime")?,
            created_after: datetime("created_after_datetime")?,
        })
    }

    /// Tests a record's id, last update time and creation time (`YYYY-MM-DDTHH:MM:SSZ`)
    /// against the filters. The `*_after_datetime` filters include records changed or created
    /// exactly at the given time. Whether Qualys includes them is unknown.
    pub(crate) fn matches(&self, id: u64, updated: &str, created: &str) -> bool {
        self.ids.as_ref().is_none_or(|ids| ids.contains(id))
            && self.id_min.is_none_or(|min| id >= min)
            && self.id_max.is_none_or(|max| id <= max)
            && self
                .updated_after
                .as_deref()
                .is_none_or(|after| updated >= after)
            && self
                .created_after
                .as_deref()
                .is_none_or(|after| created >= after)
    }
}

/// Parses `truncation_limit`: a count of records of at least 0, where 0 means no limit.
/// Returns `None` for no limit.
pub(crate) fn parse_truncation_limit(value: &str) -> Result<Option<usize>, ParamError> {
    match value.trim().parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(limit) => Ok(Some(usize::try_from(limit).unwrap_or(usize::MAX))),
        Err(_) => Err(ParamError::invalid(
            "truncation_limit",
            value,
            "0 (no limit) or a positive integer",
        )),
    }
}

/// Parses a `0` or `1` flag.
pub(crate) fn parse_flag(name: &str, value: &str) -> Result<bool, ParamError> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        other => Err(ParamError::invalid(name, other, "0 or 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_set_accepts_lists_and_ranges() {
        let set = parse_id_set("ids", "5, 160-165,9").expect("valid set");
        for id in [5, 9, 160, 163, 165] {
            assert!(set.contains(id), "{id} missing");
        }
        for id in [4, 6, 159, 166] {
            assert!(!set.contains(id), "{id} included");
        }
    }

    #[test]
    fn id_set_merges_overlaps() {
        let set = parse_id_set("ids", "10-20,15-30,31,1,40-40").expect("valid set");
        assert_eq!(set.ranges, [(1, 1), (10, 31), (40, 40)]);
        for id in [1, 10, 25, 31, 40] {
            assert!(set.contains(id), "{id} missing");
        }
        for id in [0, 2, 9, 32, 39, 41, u64::MAX] {
            assert!(!set.contains(id), "{id} included");
        }
    }

    #[test]
    fn id_set_rejects_bad_items() {
        for value in [
            "",
            "1,,2",
            "a",
            "5-3",
            "1-",
            "-4",
            "0",
            "1-2-3",
            "18446744073709551616",
        ] {
            let error = parse_id_set("ids", value).expect_err(value);
            assert_eq!(error.code, 1905, "code for {value:?}");
        }
    }

    #[test]
    fn details_default_basic() {
        assert_eq!(parse_details(None), Ok(Details::Basic));
        assert_eq!(parse_details(Some("All")), Ok(Details::All));
        assert_eq!(parse_details(Some("none")).map_err(|e| e.code), Err(1905));
    }

    #[test]
    fn truncation_limit_zero_unlimited() {
        assert_eq!(parse_truncation_limit("0"), Ok(None));
        assert_eq!(parse_truncation_limit("25"), Ok(Some(25)));
        for value in ["", "-1", "ten", "1.5", "99999999999999999999999"] {
            let error = parse_truncation_limit(value).expect_err(value);
            assert_eq!(error.code, 1905, "code for {value:?}");
        }
    }

    #[test]
    fn datetime_normalized() {
        assert_eq!(
            parse_datetime("x", "2024-03-01"),
            Ok("2024-03-01T00:00:00Z".to_string())
        );
        assert_eq!(
            parse_datetime("x", "yesterday").map_err(|e| e.code),
            Err(1905)
        );
    }
}
