//! The simulated subscription's data and its deterministic generator.

use crate::datetime::format_unix;
use crate::rng::SplitMix64;

/// Everything the simulated subscription contains.
///
/// The server reads it on each request, so a test can change it between requests through
/// [`crate::Simulator::with_dataset`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Compliance policies, sorted by id. [`crate::Simulator::with_dataset`] sorts them again
    /// after every change.
    pub policies: Vec<Policy>,
    /// Controls that the policies reference by id, sorted by id.
    pub controls: Vec<Control>,
}

/// A compliance policy as the policy list returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Policy id.
    pub id: u64,
    /// Title without the whitespace that the server adds around it.
    pub title: String,
    /// Creation time (`YYYY-MM-DDTHH:MM:SSZ`) and the login of the user who created it.
    pub created: (String, String),
    /// Last modification time (`YYYY-MM-DDTHH:MM:SSZ`) and the login of the user who made it.
    pub last_modified: (String, String),
    /// Last evaluation time, or `None` for a policy never evaluated (the server then omits
    /// the LAST_EVALUATED element).
    pub last_evaluated: Option<String>,
    /// Whether the policy is active.
    pub status: PolicyStatus,
    /// Whether the policy is locked against edits.
    pub locked: bool,
    /// Ids of the controls in the policy, each present in [`Dataset::controls`].
    pub control_ids: Vec<u64>,
}

/// Status of a policy, written as `active` or `inactive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyStatus {
    /// The policy is evaluated on scans.
    Active,
    /// The policy is kept but not evaluated.
    Inactive,
}

/// A compliance control: one checked setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// Control id.
    pub id: u64,
    /// What the control checks.
    pub statement: String,
    /// Default criticality of the control.
    pub criticality: Criticality,
}

/// Criticality of a control, with the labels and values that Qualys uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Criticality {
    /// UNDEFINED, value 0.
    Undefined,
    /// MINIMAL, value 1.
    Minimal,
    /// MEDIUM, value 2.
    Medium,
    /// SERIOUS, value 3.
    Serious,
    /// CRITICAL, value 4.
    Critical,
    /// URGENT, value 5.
    Urgent,
}

impl PolicyStatus {
    /// Returns the text used in responses: `active` or `inactive`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyStatus::Active => "active",
            PolicyStatus::Inactive => "inactive",
        }
    }
}

impl Criticality {
    const ALL: [Criticality; 6] = [
        Criticality::Undefined,
        Criticality::Minimal,
        Criticality::Medium,
        Criticality::Serious,
        Criticality::Critical,
        Criticality::Urgent,
    ];

    /// Returns the upper-case label, such as `SERIOUS`.
    pub fn label(self) -> &'static str {
        match self {
            Criticality::Undefined => "UNDEFINED",
            Criticality::Minimal => "MINIMAL",
            Criticality::Medium => "MEDIUM",
            Criticality::Serious => "SERIOUS",
            Criticality::Critical => "CRITICAL",
            Criticality::Urgent => "URGENT",
        }
    }

    /// Returns the numeric value, 0 for UNDEFINED to 5 for URGENT.
    pub fn value(self) -> u8 {
        self as u8
    }
}

impl Policy {
    /// Creates an active, unlocked, never evaluated policy without controls, created and last
    /// modified at 2025-01-01T00:00:00Z by `sim_admin`.
    pub fn new(id: u64, title: impl Into<String>) -> Self {
        let created = ("2025-01-01T00:00:00Z".to_string(), "sim_admin".to_string());
        Self {
            id,
            title: title.into(),
            last_modified: created.clone(),
            created,
            last_evaluated: None,
            status: PolicyStatus::Active,
            locked: false,
            control_ids: Vec::new(),
        }
    }
}

/// Number of controls in every generated data set.
const CONTROL_COUNT: usize = 40;
/// Start of the policy ids. Each id is the previous one plus a random step of 1 to 2000.
const POLICY_ID_BASE: u64 = 100_000;
/// Start of the control ids. Each id is the previous one plus a random step of 1 to 120.
const CONTROL_ID_BASE: u64 = 1_000;
/// 2016-01-01T00:00:00Z, the earliest creation time.
const EARLIEST_CREATED: i64 = 1_451_606_400;
/// 2025-07-01T00:00:00Z, the latest creation time.
const LATEST_CREATED: i64 = 1_751_328_000;
/// 2026-12-01T00:00:00Z, a bound on every generated time so that all of them lie before the
/// simulator's default clock (2026-12-04T10:00:00Z).
const LATEST_ANY: i64 = 1_796_083_200;
const DAY: i64 = 86_400;

const BENCHMARKS: &[&str] = &[
    "CIS Benchmark for Microsoft Windows Server 2022, v3.0.0 [Level 1 Member Server]",
    "CIS Benchmark for Red Hat Enterprise Linux 9, v2.0.0 [Level 1 - Server]",
    "CIS Benchmark for Ubuntu Linux 22.04 LTS, v2.0.0 [Level 2 - Workstation]",
    "CIS Benchmark for Microsoft Windows 11 Enterprise, v3.0.0 [Level 1 + BitLocker]",
    "CIS Benchmark for Oracle Database 19c, v1.2.0 [Level 1 - RDBMS]",
    "CIS Benchmark for Apache HTTP Server 2.4, v2.1.0 [Level 1]",
    "CIS Benchmark for Microsoft SQL Server 2019, v1.4.0 [Level 1 - Database Engine]",
    "CIS Benchmark for Debian Linux 12, v1.1.0 [Level 1 - Server]",
    "CIS Benchmark for VMware ESXi 8.0, v1.1.0 [Level 1]",
    "CIS Benchmark for Cisco IOS XE 17.x, v2.1.1 [Level 1]",
    "CIS Benchmark for PostgreSQL 16, v1.0.0 [Level 1 - PostgreSQL on Linux]",
    "CIS Benchmark for Kubernetes 1.29, v1.9.0 [Level 1 - Worker Node]",
    "DISA STIG for Windows Server 2019, V2R8",
    "Corporate Linux Baseline",
    "PCI DSS 4.0 Hardening Baseline",
];

/// Title endings that put markup characters into some titles, chosen by position so that even
/// a small data set (from 8 policies on) contains each kind.
const MARKUP_SUFFIXES: &[(usize, &str)] = &[
    (1, " & Local Exceptions"),
    (4, " <draft>"),
    (7, " [[legacy]]> copy"),
];

const USERS: &[&str] = &[
    "compliance_admin",
    "secops_lead",
    "svc_pcsync",
    "auditor2",
    "jdoe_pc",
];

const SETTINGS: &[&str] = &[
    "Minimum password length",
    "Maximum password age",
    "Account lockout threshold",
    "Audit: Shut down system immediately if unable to log security audits",
    "Interactive logon: Message text for users attempting to log on",
    "Network security: LAN Manager authentication level",
    "Deny log on through Remote Desktop Services",
    "PermitRootLogin in sshd_config",
    "Permissions on /etc/passwd & /etc/shadow",
    "<LogLevel> directive in sshd_config",
    "kernel.randomize_va_space",
    "Remote login to the database with a password file",
    "TLS 1.0 & 1.1 protocols",
    "Automatic updates",
];

impl Dataset {
    /// Generates `policies` policies and a fixed set of controls from `seed`.
    ///
    /// The same arguments always give the same data set. Policies are drawn one after the
    /// other from one generator, so the data set for `n` policies is a prefix of the one for
    /// `n + 1` with the same seed.
    pub fn generate(policies: usize, seed: u64) -> Dataset {
        let controls = generate_controls(seed);
        let control_ids: Vec<u64> = controls.iter().map(|control| control.id).collect();

        let mut rng = SplitMix64::new(seed);
        let mut id = POLICY_ID_BASE;
        let mut generated = Vec::with_capacity(policies);
        for index in 0..policies {
            id += rng.between(1, 2_000);
            generated.push(generate_policy(&mut rng, index, id, &control_ids));
        }
        Dataset {
            policies: generated,
            controls,
        }
    }

    /// Returns the policy with this id.
    pub fn policy(&self, id: u64) -> Option<&Policy> {
        self.policies.iter().find(|policy| policy.id == id)
    }

    /// Returns the policy with this id for changing it.
    pub fn policy_mut(&mut self, id: u64) -> Option<&mut Policy> {
        self.policies.iter_mut().find(|policy| policy.id == id)
    }

    /// Returns the control with this id.
    pub fn control(&self, id: u64) -> Option<&Control> {
        self.controls.iter().find(|control| control.id == id)
    }

    /// Sorts policies and controls by id, as the server expects them.
    pub fn sort(&mut self) {
        self.policies.sort_by_key(|policy| policy.id);
        self.controls.sort_by_key(|control| control.id);
    }
}

fn generate_controls(seed: u64) -> Vec<Control> {
    // A separate stream, so that the number of policies does not change the controls.
    let mut rng = SplitMix64::new(seed ^ 0x636F_6E74_726F_6C73);
    let mut id = CONTROL_ID_BASE;
    (0..CONTROL_COUNT)
        .map(|_| {
            id += rng.between(1, 120);
            Control {
                id,
                statement: format!("Status of the '{}' setting", rng.pick(SETTINGS)),
                criticality: *rng.pick(&Criticality::ALL),
            }
        })
        .collect()
}

fn generate_policy(rng: &mut SplitMix64, index: usize, id: u64, control_ids: &[u64]) -> Policy {
    let mut title = rng.pick(BENCHMARKS).to_string();
    match MARKUP_SUFFIXES
        .iter()
        .find(|(position, _)| index % 9 == *position)
    {
        Some((_, suffix)) => title.push_str(suffix),
        None => {
            let revision = rng.below(4);
            if revision > 0 {
                title.push_str(&format!(" v.{revision}"));
            }
        }
    }

    let created_at = rng.between(EARLIEST_CREATED as u64, LATEST_CREATED as u64) as i64;
    let modified_at =
        (created_at + rng.below(500) as i64 * DAY + rng.below(DAY as u64) as i64).min(LATEST_ANY);
    let evaluated_at =
        (modified_at + rng.below(400) as i64 * DAY + rng.below(DAY as u64) as i64).min(LATEST_ANY);
    let never_evaluated = rng.one_in(8);

    let status = if rng.one_in(6) {
        PolicyStatus::Inactive
    } else {
        PolicyStatus::Active
    };
    let locked = rng.one_in(5);

    let control_count = rng.between(2, 5) as usize;
    let mut policy_controls: Vec<u64> =
        (0..control_count).map(|_| *rng.pick(control_ids)).collect();
    policy_controls.sort_unstable();
    policy_controls.dedup();

    Policy {
        id,
        title,
        created: (format_unix(created_at), rng.pick(USERS).to_string()),
        last_modified: (format_unix(modified_at), rng.pick(USERS).to_string()),
        last_evaluated: (!never_evaluated).then(|| format_unix(evaluated_at)),
        status,
        locked,
        control_ids: policy_controls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datetime::parse_qualys;

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(Dataset::generate(50, 9), Dataset::generate(50, 9));
        assert_ne!(Dataset::generate(50, 9), Dataset::generate(50, 10));
    }

    #[test]
    fn smaller_set_is_prefix() {
        let small = Dataset::generate(10, 3);
        let large = Dataset::generate(30, 3);
        assert_eq!(small.policies[..], large.policies[..10]);
        assert_eq!(small.controls, large.controls);
    }

    #[test]
    fn ids_increase_with_gaps() {
        let data = Dataset::generate(200, 1);
        let ids: Vec<u64> = data.policies.iter().map(|policy| policy.id).collect();
        assert!(
            ids.windows(2).all(|pair| pair[0] < pair[1]),
            "ids not increasing"
        );
        assert!(
            ids.windows(2).any(|pair| pair[1] - pair[0] > 1),
            "ids have no gaps"
        );
    }

    #[test]
    fn default_set_has_every_kind() {
        let data = Dataset::generate(25, 1);
        let titles: Vec<&str> = data.policies.iter().map(|p| p.title.as_str()).collect();
        assert!(titles.iter().any(|t| t.contains('&')), "no title with &");
        assert!(titles.iter().any(|t| t.contains('<')), "no title with <");
        assert!(
            titles.iter().any(|t| t.contains("]]>")),
            "no title with ]]>"
        );
        assert!(
            data.policies.iter().any(|p| p.last_evaluated.is_none()),
            "no policy without evaluation"
        );
        assert!(
            data.policies
                .iter()
                .any(|p| p.status == PolicyStatus::Inactive),
            "no inactive policy"
        );
        assert!(data.policies.iter().any(|p| p.locked), "no locked policy");
    }

    #[test]
    fn proportions_near_targets() {
        let data = Dataset::generate(4_000, 5);
        let never = data
            .policies
            .iter()
            .filter(|p| p.last_evaluated.is_none())
            .count();
        let inactive = data
            .policies
            .iter()
            .filter(|p| p.status == PolicyStatus::Inactive)
            .count();
        // Expected 500 (1 in 8) and about 667 (1 in 6).
        assert!((400..600).contains(&never), "never evaluated: {never}");
        assert!((550..780).contains(&inactive), "inactive: {inactive}");
    }

    #[test]
    fn dates_valid_and_ordered() {
        let data = Dataset::generate(500, 2);
        for policy in &data.policies {
            let created = parse_qualys(&policy.created.0).expect("created parses");
            let modified = parse_qualys(&policy.last_modified.0).expect("modified parses");
            assert!(
                created <= modified,
                "policy {} modified before created",
                policy.id
            );
            assert!(
                modified <= LATEST_ANY,
                "policy {} modified too late",
                policy.id
            );
            if let Some(evaluated) = &policy.last_evaluated {
                let evaluated = parse_qualys(evaluated).expect("evaluated parses");
                assert!(
                    modified <= evaluated,
                    "policy {} evaluated too early",
                    policy.id
                );
            }
            for control_id in &policy.control_ids {
                assert!(
                    data.control(*control_id).is_some(),
                    "unknown control {control_id}"
                );
            }
        }
    }

    #[test]
    fn time_constants_match_names() {
        assert_eq!(format_unix(EARLIEST_CREATED), "2016-01-01T00:00:00Z");
        assert_eq!(format_unix(LATEST_CREATED), "2025-07-01T00:00:00Z");
        assert_eq!(format_unix(LATEST_ANY), "2026-12-01T00:00:00Z");
    }
}
