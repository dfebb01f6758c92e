//! Parameters of the posture info.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::classic::params::{self, IdSet, ParamError};
use crate::dataset::Criticality;
use crate::datetime::parse_qualys;
use crate::postures::PostureStatus;
use crate::server::Incoming;

const ALLOWED_PARAMS: &[&str] = &[
    "action",
    "policy_id",
    "policy_ids",
    "details",
    "truncation_limit",
    "id_min",
    "status_changes_since",
    "evaluation_date",
    "status",
    "control_ids",
    "host_ids",
    "ips",
    "criticality_labels",
    "criticality_values",
    "show_remediation_info",
    "cause_of_failure",
    "include_dp_name",
    "show_extended_evidence",
    "hide_evidence",
];

/// Page size without a `truncation_limit` parameter.
const DEFAULT_TRUNCATION_LIMIT: usize = 1000;

/// Amount of detail requested with `details`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostureDetails {
    /// Ids, instance and status of each posture, and no GLOSSARY.
    None,
    /// Every posture field but the evidence, and the GLOSSARY.
    Basic,
    /// As Basic, without the controls' RATIONALE_LIST in the GLOSSARY.
    // NOTE: what Qualys leaves out for Light is unconfirmed. The simulator's choice makes
    // Light differ from Basic in a way a client can check.
    Light,
    /// As Basic, with the EVIDENCE of each posture.
    All,
}

/// The decoded parameters of one posture info request.
#[derive(Debug)]
pub(crate) struct PostureQuery {
    pub(crate) policy_id: u64,
    pub(crate) details: PostureDetails,
    /// Maximum number of postures in the response, or `None` for no limit.
    pub(crate) limit: Option<usize>,
    pub(crate) id_min: Option<u64>,
    /// Seconds since the Unix epoch.
    pub(crate) status_changes_since: Option<i64>,
    /// Seconds since the Unix epoch.
    pub(crate) evaluation_date: Option<i64>,
    pub(crate) status: Option<PostureStatus>,
    pub(crate) control_ids: Option<IdSet>,
    pub(crate) host_ids: Option<IdSet>,
    /// IPv4 addresses as numbers.
    pub(crate) ips: Option<IdSet>,
    pub(crate) criticality_labels: Option<BTreeSet<Criticality>>,
    pub(crate) criticality_values: Option<BTreeSet<Criticality>>,
    pub(crate) show_remediation_info: bool,
    pub(crate) cause_of_failure: bool,
    pub(crate) include_dp_name: bool,
    pub(crate) show_extended_evidence: bool,
    pub(crate) hide_evidence: bool,
}

impl PostureQuery {
    /// Parses the parameters and rejects the first invalid one: unknown names (1901),
    /// `policy_ids` (1907), a missing `policy_id` (1903), then each value in turn (1905), and
    /// last `show_extended_evidence=1` with `hide_evidence=1` (1907).
    pub(crate) fn parse(incoming: &Incoming) -> Result<Self, ParamError> {
        params::reject_unknown(incoming, ALLOWED_PARAMS)?;
        if incoming.param("policy_ids").is_some() {
            return Err(ParamError {
                code: 1907,
                text: "The simulator does not support policy_ids. Use policy_id with one \
                       policy id per request."
                    .to_string(),
            });
        }
        let policy_id = incoming
            .param("policy_id")
            .ok_or_else(|| ParamError::missing("policy_id"))?;
        let flag = |name| {
            incoming
                .param(name)
                .map(|v| params::parse_flag(name, v))
                .transpose()
                .map(|flag| flag.unwrap_or(false))
        };
        let id_set = |name| {
            incoming
                .param(name)
                .map(|v| params::parse_id_set(name, v))
                .transpose()
        };
        let time = |name| {
            incoming
                .param(name)
                .map(|v| parse_time(name, v))
                .transpose()
        };

        let query = Self {
            policy_id: params::parse_id("policy_id", policy_id)?,
            details: parse_details(incoming.param("details"))?,
            limit: match incoming.param("truncation_limit") {
                Some(value) => params::parse_truncation_limit(value)?,
                None => Some(DEFAULT_TRUNCATION_LIMIT),
            },
            id_min: incoming
                .param("id_min")
                .map(|v| params::parse_id("id_min", v))
                .transpose()?,
            status_changes_since: time("status_changes_since")?,
            evaluation_date: time("evaluation_date")?,
            status: incoming.param("status").map(parse_status).transpose()?,
            control_ids: id_set("control_ids")?,
            host_ids: id_set("host_ids")?,
            ips: incoming.param("ips").map(parse_ips).transpose()?,
            criticality_labels: incoming
                .param("criticality_labels")
                .map(parse_criticality_labels)
                .transpose()?,
            criticality_values: incoming
                .param("criticality_values")
                .map(parse_criticality_values)
                .transpose()?,
            show_remediation_info: flag("show_remediation_info")?,
            cause_of_failure: flag("cause_of_failure")?,
            include_dp_name: flag("include_dp_name")?,
            show_extended_evidence: flag("show_extended_evidence")?,
            hide_evidence: flag("hide_evidence")?,
        };
        if query.show_extended_evidence && query.hide_evidence {
            return Err(ParamError {
                code: 1907,
                text: "show_extended_evidence=1 cannot be combined with hide_evidence=1."
                    .to_string(),
            });
        }
        Ok(query)
    }

    /// Returns whether the postures carry their EVIDENCE.
    pub(crate) fn shows_evidence(&self) -> bool {
        self.details == PostureDetails::All && !self.hide_evidence
    }

    /// Returns whether a control with this criticality in the policy passes the criticality
    /// filters.
    pub(crate) fn accepts_criticality(&self, criticality: Criticality) -> bool {
        let accepts = |set: &Option<BTreeSet<Criticality>>| {
            set.as_ref().is_none_or(|set| set.contains(&criticality))
        };
        accepts(&self.criticality_labels) && accepts(&self.criticality_values)
    }

    /// Returns whether any filter needs the control's criticality.
    pub(crate) fn filters_criticality(&self) -> bool {
        self.criticality_labels.is_some() || self.criticality_values.is_some()
    }
}

fn parse_details(value: Option<&str>) -> Result<PostureDetails, ParamError> {
    match value {
        None | Some("Basic") => Ok(PostureDetails::Basic),
        Some("None") => Ok(PostureDetails::None),
        Some("Light") => Ok(PostureDetails::Light),
        Some("All") => Ok(PostureDetails::All),
        Some(other) => Err(ParamError::invalid(
            "details",
            other,
            "Basic, Light, All or None",
        )),
    }
}

fn parse_time(name: &str, value: &str) -> Result<i64, ParamError> {
    parse_qualys(value)
        .ok_or_else(|| ParamError::invalid(name, value, "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"))
}

fn parse_status(value: &str) -> Result<PostureStatus, ParamError> {
    PostureStatus::parse(value)
        .ok_or_else(|| ParamError::invalid("status", value, "Passed, Failed or Error"))
}

/// Parses IPv4 addresses and inclusive ranges, such as `10.0.0.1,10.0.0.5-10.0.0.9`.
fn parse_ips(value: &str) -> Result<IdSet, ParamError> {
    let invalid = || {
        ParamError::invalid(
            "ips",
            value,
            "IPv4 addresses or ranges such as 10.0.0.1,10.0.0.5-10.0.0.9",
        )
    };
    let address = |text: &str| {
        text.trim()
            .parse::<Ipv4Addr>()
            .map(|ip| u64::from(u32::from(ip)))
            .map_err(|_| invalid())
    };
    let mut ranges = Vec::new();
    for item in value.split(',') {
        let range = match item.split_once('-') {
            Some((low, high)) => (address(low)?, address(high)?),
            None => {
                let ip = address(item)?;
                (ip, ip)
            }
        };
        if range.0 > range.1 {
            return Err(invalid());
        }
        ranges.push(range);
    }
    Ok(IdSet::from_ranges(ranges))
}

/// Returns an IPv4 address as the number that [`parse_ips`] compares, or `None` for text that
/// is not an IPv4 address.
pub(crate) fn ip_number(text: &str) -> Option<u64> {
    text.parse::<Ipv4Addr>()
        .ok()
        .map(|ip| u64::from(u32::from(ip)))
}

fn parse_criticality_labels(value: &str) -> Result<BTreeSet<Criticality>, ParamError> {
    value
        .split(',')
        .map(|label| {
            let label = label.trim();
            Criticality::ALL
                .into_iter()
                .find(|criticality| criticality.label() == label)
                .ok_or_else(|| {
                    ParamError::invalid(
                        "criticality_labels",
                        value,
                        "labels such as SERIOUS,CRITICAL,URGENT",
                    )
                })
        })
        .collect()
}

fn parse_criticality_values(value: &str) -> Result<BTreeSet<Criticality>, ParamError> {
    value
        .split(',')
        .map(|number| {
            let number = number.trim().parse::<u8>().ok();
            Criticality::ALL
                .into_iter()
                .find(|criticality| Some(criticality.value()) == number)
                .ok_or_else(|| {
                    ParamError::invalid(
                        "criticality_values",
                        value,
                        "values from 0 to 5 such as 3,4,5",
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_accept_addresses_and_ranges() {
        let set = parse_ips("10.0.0.1, 10.0.1.5-10.0.1.9").expect("valid");
        for ip in ["10.0.0.1", "10.0.1.5", "10.0.1.9"] {
            assert!(set.contains(ip_number(ip).expect("IP")), "{ip} missing");
        }
        for ip in ["10.0.0.2", "10.0.1.10"] {
            assert!(!set.contains(ip_number(ip).expect("IP")), "{ip} included");
        }
        for value in ["", "10.0.0", "10.0.0.9-10.0.0.1", "a.b.c.d", "10.0.0.1-"] {
            assert_eq!(
                parse_ips(value).map_err(|e| e.code).err(),
                Some(1905),
                "{value:?}"
            );
        }
    }

    #[test]
    fn criticality_filters_parse() {
        let labels = parse_criticality_labels("SERIOUS,URGENT").expect("valid");
        assert_eq!(
            labels.into_iter().collect::<Vec<_>>(),
            [Criticality::Serious, Criticality::Urgent]
        );
        let values = parse_criticality_values("0, 5").expect("valid");
        assert_eq!(
            values.into_iter().collect::<Vec<_>>(),
            [Criticality::Undefined, Criticality::Urgent]
        );
        assert!(parse_criticality_labels("serious").is_err());
        assert!(parse_criticality_values("6").is_err());
    }
}
