//! Fixed tables that the generator draws from: policy titles, users, checked settings,
//! technologies, frameworks, section headings and text templates.
//!
//! The names imitate real benchmarks and products. The ids, categories and check types are
//! the simulator's own.

use crate::dataset::{Framework, Technology};

pub(super) const BENCHMARKS: &[&str] = &[
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
pub(super) const MARKUP_SUFFIXES: &[(usize, &str)] = &[
    (1, " & Local Exceptions"),
    (4, " <draft>"),
    (7, " [[legacy]]> copy"),
];

pub(super) const USERS: &[&str] = &[
    "compliance_admin",
    "secops_lead",
    "svc_pcsync",
    "auditor2",
    "jdoe_pc",
];

/// Kind of system that a setting exists on, which decides the technologies of its control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Windows,
    Linux,
    Database,
    /// Windows and Linux.
    OperatingSystem,
    /// Every technology.
    Any,
}

impl Family {
    fn includes(self, other: Family) -> bool {
        match self {
            Family::OperatingSystem => matches!(other, Family::Windows | Family::Linux),
            Family::Any => true,
            _ => self == other,
        }
    }
}

/// A checked setting and the fixed attributes of the controls that check it.
#[derive(Debug)]
pub(super) struct Setting {
    pub(super) name: &'static str,
    pub(super) family: Family,
    pub(super) category: (u64, &'static str),
    pub(super) sub_category: (u64, &'static str),
    pub(super) check_type: &'static str,
}

const ACCESS_CONTROL: (u64, &str) = (1, "Access Control Requirements");
const AUDIT: (u64, &str) = (2, "Audit and Logging");
const NETWORK: (u64, &str) = (3, "Network Security");
const HARDENING: (u64, &str) = (4, "System Hardening");

/// Settings in the order the generator has always drawn them from, so that the statements of
/// a seed's controls do not change when a setting gains attributes.
pub(super) const SETTINGS: &[Setting] = &[
    Setting {
        name: "Minimum password length",
        family: Family::Windows,
        category: ACCESS_CONTROL,
        sub_category: (16, "Password"),
        check_type: "Security Policy",
    },
    Setting {
        name: "Maximum password age",
        family: Family::Windows,
        category: ACCESS_CONTROL,
        sub_category: (16, "Password"),
        check_type: "Security Policy",
    },
    Setting {
        name: "Account lockout threshold",
        family: Family::Windows,
        category: ACCESS_CONTROL,
        sub_category: (17, "Account Lockout"),
        check_type: "Security Policy",
    },
    Setting {
        name: "Audit: Shut down system immediately if unable to log security audits",
        family: Family::Windows,
        category: AUDIT,
        sub_category: (21, "Audit Policy"),
        check_type: "Registry Value",
    },
    Setting {
        name: "Interactive logon: Message text for users attempting to log on",
        family: Family::Windows,
        category: ACCESS_CONTROL,
        sub_category: (19, "Login Banner"),
        check_type: "Registry Value",
    },
    Setting {
        name: "Network security: LAN Manager authentication level",
        family: Family::Windows,
        category: NETWORK,
        sub_category: (32, "Authentication"),
        check_type: "Registry Value",
    },
    Setting {
        name: "Deny log on through Remote Desktop Services",
        family: Family::Windows,
        category: ACCESS_CONTROL,
        sub_category: (18, "Remote Access"),
        check_type: "User Rights Assignment",
    },
    Setting {
        name: "PermitRootLogin in sshd_config",
        family: Family::Linux,
        category: ACCESS_CONTROL,
        sub_category: (18, "Remote Access"),
        check_type: "File Content",
    },
    Setting {
        name: "Permissions on /etc/passwd & /etc/shadow",
        family: Family::Linux,
        category: HARDENING,
        sub_category: (42, "File Permissions"),
        check_type: "File Permission",
    },
    Setting {
        name: "<LogLevel> directive in sshd_config",
        family: Family::Linux,
        category: AUDIT,
        sub_category: (22, "Log Settings"),
        check_type: "File Content",
    },
    Setting {
        name: "kernel.randomize_va_space",
        family: Family::Linux,
        category: HARDENING,
        sub_category: (41, "Kernel Parameters"),
        check_type: "Kernel Parameter",
    },
    Setting {
        name: "Remote login to the database with a password file",
        family: Family::Database,
        category: ACCESS_CONTROL,
        sub_category: (18, "Remote Access"),
        check_type: "Database Parameter",
    },
    Setting {
        name: "TLS 1.0 & 1.1 protocols",
        family: Family::Any,
        category: NETWORK,
        sub_category: (31, "Protocols"),
        check_type: "Protocol Configuration",
    },
    Setting {
        name: "Automatic updates",
        family: Family::OperatingSystem,
        category: HARDENING,
        sub_category: (43, "Patch Management"),
        check_type: "Service Status",
    },
];

const TECHNOLOGIES: &[(u64, &str, Family)] = &[
    (17, "Oracle 19c", Family::Database),
    (45, "Windows Server 2019", Family::Windows),
    (61, "Windows Server 2022", Family::Windows),
    (88, "Red Hat Enterprise Linux 8", Family::Linux),
    (119, "Microsoft SQL Server 2019", Family::Database),
    (132, "Ubuntu 22.04", Family::Linux),
    (140, "PostgreSQL 14", Family::Database),
    (151, "MySQL 8.0", Family::Database),
];

/// Returns every technology, sorted by id.
pub(super) fn technologies() -> Vec<Technology> {
    TECHNOLOGIES
        .iter()
        .map(|(id, name, _)| Technology::new(*id, *name))
        .collect()
}

/// Returns the technologies of a family, sorted by id.
pub(super) fn technologies_of(family: Family) -> Vec<Technology> {
    TECHNOLOGIES
        .iter()
        .filter(|(_, _, member)| family.includes(*member))
        .map(|(id, name, _)| Technology::new(*id, *name))
        .collect()
}

/// How a framework numbers its requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReferenceStyle {
    /// Safeguards such as `4.1`.
    CisControls,
    /// Controls such as `AC-7` or `IA-5(1)`.
    Nist80053,
    /// Requirements such as `8.3.6`.
    PciDss,
    /// Annex A controls such as `A.8.5`.
    Iso27001,
}

pub(super) const FRAMEWORKS: &[(u64, &str, ReferenceStyle)] = &[
    (1, "CIS Controls v8", ReferenceStyle::CisControls),
    (2, "NIST SP 800-53 Rev. 5", ReferenceStyle::Nist80053),
    (3, "PCI DSS v4.0", ReferenceStyle::PciDss),
    (4, "ISO/IEC 27001:2022", ReferenceStyle::Iso27001),
];

/// Returns every framework, sorted by id.
pub(super) fn frameworks() -> Vec<Framework> {
    FRAMEWORKS
        .iter()
        .map(|(id, name, _)| Framework::new(*id, *name))
        .collect()
}

/// Control families of NIST SP 800-53 used in generated references.
pub(super) const NIST_FAMILIES: &[&str] = &["AC", "AU", "CM", "IA", "SC", "SI"];

/// Section headings, some with markup characters.
pub(super) const SECTION_HEADINGS: &[&str] = &[
    "Account Policies",
    "Local Policies",
    "Audit & Logging",
    "Services",
    "Network Configuration",
    "File System Permissions",
    "Database Settings",
    "Remote Access <SSH/RDP>",
];

/// Rationale templates. `{setting}` and `{technology}` are replaced. Each spans two lines.
pub(super) const RATIONALES: &[&str] = &[
    "The '{setting}' setting on {technology} reduces the attack surface.\n\
     Deviations need the approval of the system owner.",
    "On {technology}, a weak value for '{setting}' lets an attacker gain or keep access.\n\
     See the vendor's hardening guide & the local exceptions.",
    "Auditors request evidence of '{setting}' on {technology}.\n\
     Values < the baseline fail the check.",
];

/// Control comments, one of them with the CDATA terminator in it.
pub(super) const COMMENTS: &[&str] = &[
    "Reviewed with the platform team & approved for production.",
    "The check reads the configured value, not the effective one.\nGroup Policy can override it.",
    "Matches values such as 'a]]>b' literally.",
    "Added after the 2024 audit <finding 17>.",
];

/// Appendix template. `{title}` and `{revision}` are replaced.
pub(super) const APPENDIX: &str = "This policy implements {title}.\n\
     Exceptions & compensating controls are tracked in the <exception register>.\n\
     Appendix revision {revision}.";

/// Operating-system technologies, each with the OS texts that hosts running it report.
pub(super) const OPERATING_SYSTEMS: &[(u64, &[&str])] = &[
    (
        45,
        &[
            "Windows Server 2019 Datacenter 64 bit Edition Version 1809",
            "Windows Server 2019 Standard 64 bit Edition Version 1809",
        ],
    ),
    (
        61,
        &["Windows Server 2022 Datacenter 64 bit Edition Version 21H2"],
    ),
    (
        88,
        &[
            "Red Hat Enterprise Linux 8.9",
            "Red Hat Enterprise Linux 8.6",
        ],
    ),
    (132, &["Ubuntu Linux 22.04.4 LTS"]),
];

/// Database technologies, each with the prefix of its instance names, the names of up to
/// five instances, and whether it runs on Windows only.
pub(super) const DATABASES: &[(u64, &str, &[&str], bool)] = &[
    (
        17,
        "oracle19c",
        &["ORCL1", "ORCL2", "ORCL3", "ORCL4", "ORCL5"],
        false,
    ),
    (
        119,
        "mssql2019",
        &[
            "MSSQLSERVER",
            "SQLEXPRESS",
            "REPORTING",
            "STAGING",
            "ARCHIVE",
        ],
        true,
    ),
    (
        140,
        "postgresql14",
        &["5432", "5433", "5434", "5435", "5436"],
        false,
    ),
    (
        151,
        "mysql8.0",
        &["3306", "3307", "3308", "3309", "3310"],
        false,
    ),
];

/// Id of the Oracle 19c technology, which one host of every data set runs with five
/// instances.
pub(super) const ORACLE_19C: u64 = 17;

/// Roles that give hosts without a database their names, such as `web03`.
pub(super) const HOST_ROLES: &[&str] = &["web", "app", "dc", "file", "mail", "build", "jump"];

/// Returns whether an operating-system technology is a Windows version.
pub(super) fn is_windows(technology_id: u64) -> bool {
    TECHNOLOGIES
        .iter()
        .any(|(id, _, family)| *id == technology_id && *family == Family::Windows)
}
