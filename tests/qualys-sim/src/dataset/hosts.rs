//! Hosts that compliance scans evaluate, and their deterministic generation.

use std::collections::BTreeSet;

use super::catalog::{self, DATABASES, HOST_ROLES, OPERATING_SYSTEMS, ORACLE_19C};
use crate::datetime::format_unix;
use crate::rng::SplitMix64;

/// A host that the policies are evaluated on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Host id.
    pub id: u64,
    /// IPv4 address, such as `10.0.0.1`. The simulator never connects to it.
    pub ip: String,
    /// DNS name, or `None` when the scan found none.
    pub dns: Option<String>,
    /// NetBIOS name, or `None` when the scan found none.
    pub netbios: Option<String>,
    /// Operating system as the scan reports it, such as
    /// `Windows Server 2019 Datacenter 64 bit Edition Version 1809`.
    pub os: String,
    /// Id of the operating system's technology in [`crate::Dataset::technologies`].
    pub os_technology_id: u64,
    /// How the subscription tracks the host.
    pub tracking_method: TrackingMethod,
    /// Time of the last compliance scan (`YYYY-MM-DDTHH:MM:SSZ`).
    pub last_scan: String,
    /// Databases installed on the host, each evaluated once per instance.
    pub databases: Vec<HostDatabase>,
}

/// A database technology installed on a host, with its instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDatabase {
    /// Id of the database's technology in [`crate::Dataset::technologies`].
    pub technology_id: u64,
    /// Instance names as the posture info's INSTANCE writes them, such as `oracle19c:ORCL1`.
    pub instances: Vec<String>,
}

/// How the subscription identifies a host between scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackingMethod {
    /// By IP address.
    Ip,
    /// By the Cloud Agent installed on the host.
    Agent,
    /// By DNS name.
    Dns,
}

impl TrackingMethod {
    /// Returns the text used in responses: `IP`, `AGENT` or `DNS`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingMethod::Ip => "IP",
            TrackingMethod::Agent => "AGENT",
            TrackingMethod::Dns => "DNS",
        }
    }
}

/// Entries that the posture info leaves out of its GLOSSARY even when a page references
/// them, so that tests can check how a client handles a glossary gap. Empty in a generated
/// data set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlossaryGaps {
    /// Host ids left out of HOST_LIST.
    pub hosts: BTreeSet<u64>,
    /// Technology ids left out of TECHNOLOGY_LIST and of every control's RATIONALE_LIST.
    pub technologies: BTreeSet<u64>,
    /// Control ids left out of CONTROL_LIST.
    pub controls: BTreeSet<u64>,
}

const HOST_STREAM: u64 = 0x686F_7374_7374_7265;
/// Id of the first host. Host ids follow without gaps.
const FIRST_HOST_ID: u64 = 1_001;
/// 2026-11-21T00:00:00Z and 2026-12-01T00:00:00Z, the bounds of the last scan times, which
/// lie before the simulator's default clock (2026-12-04T10:00:00Z).
const EARLIEST_SCAN: i64 = 1_795_219_200;
const LATEST_SCAN: i64 = 1_796_083_200;
/// Position of the host that gets five Oracle 19c instances, or the only host when there is
/// one.
const FIVE_INSTANCE_POSITION: usize = 1;

/// Generates `count` hosts from `seed`, with ids from 1001 on.
///
/// About one host in three has one or two databases with 1 to 5 instances each. The host at
/// position 1 (the only host when `count` is 1) always runs five Oracle 19c instances,
/// `oracle19c:ORCL1` to `oracle19c:ORCL5`.
pub(super) fn generate_hosts(count: usize, seed: u64) -> Vec<Host> {
    let mut rng = SplitMix64::new(seed ^ HOST_STREAM);
    let five_instances = FIVE_INSTANCE_POSITION.min(count.saturating_sub(1));
    (0..count)
        .map(|index| {
            let mut host = generate_host(&mut rng, index);
            if index == five_instances {
                host.databases = vec![database(ORACLE_19C, 5)];
            }
            name_host(&mut rng, &mut host, index);
            host
        })
        .collect()
}

fn generate_host(rng: &mut SplitMix64, index: usize) -> Host {
    let (os_technology_id, os_texts) = *rng.pick(OPERATING_SYSTEMS);
    let os = rng.pick(os_texts).to_string();
    let tracking_method = match rng.below(3) {
        0 => TrackingMethod::Ip,
        1 => TrackingMethod::Agent,
        _ => TrackingMethod::Dns,
    };
    let last_scan = rng.between(EARLIEST_SCAN as u64, LATEST_SCAN as u64) as i64;

    let mut databases = Vec::new();
    if rng.one_in(3) {
        let windows = catalog::is_windows(os_technology_id);
        let candidates: Vec<u64> = DATABASES
            .iter()
            .filter(|(_, _, _, windows_only)| windows || !windows_only)
            .map(|(id, _, _, _)| *id)
            .collect();
        let mut chosen = candidates.clone();
        rng.shuffle(&mut chosen);
        chosen.truncate(rng.between(1, 2) as usize);
        chosen.sort_unstable();
        for technology_id in chosen {
            // Mostly one to three instances, sometimes four or five.
            let instances = if rng.one_in(5) {
                rng.between(4, 5)
            } else {
                rng.between(1, 3)
            };
            databases.push(database(technology_id, instances as usize));
        }
    }

    let index = index as u64;
    let block = index / 254;
    Host {
        id: FIRST_HOST_ID + index,
        ip: format!(
            "10.{}.{}.{}",
            block / 256 % 256,
            block % 256,
            index % 254 + 1
        ),
        dns: None,
        netbios: None,
        os,
        os_technology_id,
        tracking_method,
        last_scan: format_unix(last_scan),
        databases,
    }
}

/// Sets the DNS and NetBIOS names. One host in six has no DNS name, and one in four no
/// NetBIOS name, Linux hosts more often than Windows hosts.
fn name_host(rng: &mut SplitMix64, host: &mut Host, index: usize) {
    let role = if host.databases.is_empty() {
        rng.pick(HOST_ROLES)
    } else {
        &"db"
    };
    let short = format!("{role}{:02}", index + 1);
    host.dns = (!rng.one_in(6)).then(|| format!("{short}.corp.example.test"));
    let netbios_missing = if catalog::is_windows(host.os_technology_id) {
        rng.one_in(6)
    } else {
        rng.one_in(2)
    };
    host.netbios = (!netbios_missing).then(|| short.to_ascii_uppercase());
}

/// Returns a database of this technology with its first `instances` instance names.
fn database(technology_id: u64, instances: usize) -> HostDatabase {
    let (prefix, names) = DATABASES
        .iter()
        .find(|(id, _, _, _)| *id == technology_id)
        .map(|(_, prefix, names, _)| (*prefix, *names))
        .unwrap_or(("db", &[]));
    HostDatabase {
        technology_id,
        instances: names
            .iter()
            .take(instances)
            .map(|name| format!("{prefix}:{name}"))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datetime::parse_qualys;

    #[test]
    fn hosts_deterministic_and_prefix() {
        assert_eq!(generate_hosts(30, 4), generate_hosts(30, 4));
        assert_ne!(generate_hosts(30, 4), generate_hosts(30, 5));
        assert_eq!(generate_hosts(30, 4)[..], generate_hosts(40, 4)[..30]);
    }

    #[test]
    fn hosts_cover_every_kind() {
        let hosts = generate_hosts(12, 1);
        let ids: Vec<u64> = hosts.iter().map(|h| h.id).collect();
        assert_eq!(ids, (1001..=1012).collect::<Vec<u64>>());
        assert!(hosts.iter().any(|h| h.dns.is_none()), "no host without DNS");
        assert!(hosts.iter().any(|h| h.dns.is_some()), "no host with DNS");
        assert!(
            hosts.iter().any(|h| h.netbios.is_none()),
            "no host without NetBIOS"
        );
        assert!(
            hosts.iter().any(|h| h.databases.is_empty()),
            "no host without a database"
        );
        let five = &hosts[1].databases;
        assert_eq!(five.len(), 1);
        assert_eq!(five[0].technology_id, ORACLE_19C);
        assert_eq!(
            five[0].instances,
            (1..=5)
                .map(|n| format!("oracle19c:ORCL{n}"))
                .collect::<Vec<_>>()
        );
        for host in &hosts {
            let scanned = parse_qualys(&host.last_scan).expect("last scan parses");
            assert!((EARLIEST_SCAN..=LATEST_SCAN).contains(&scanned));
            assert!(host.ip.starts_with("10."), "IP {}", host.ip);
        }
    }

    #[test]
    fn many_hosts_have_distinct_ips() {
        let hosts = generate_hosts(3_000, 2);
        let ips: BTreeSet<&str> = hosts.iter().map(|h| h.ip.as_str()).collect();
        assert_eq!(ips.len(), hosts.len());
        for method in [
            TrackingMethod::Ip,
            TrackingMethod::Agent,
            TrackingMethod::Dns,
        ] {
            assert!(hosts.iter().any(|h| h.tracking_method == method));
        }
        assert!(
            hosts
                .iter()
                .flat_map(|h| &h.databases)
                .any(|d| d.technology_id != ORACLE_19C),
            "only Oracle databases"
        );
    }

    #[test]
    fn single_host_has_five_instances() {
        let hosts = generate_hosts(1, 9);
        assert_eq!(hosts[0].databases[0].instances.len(), 5);
        assert!(generate_hosts(0, 9).is_empty());
    }
}
