//! The simulated subscription's data. [`Dataset::generate`] in the `generate` module builds it
//! deterministically from a seed.

mod catalog;
mod generate;
mod hosts;

use std::collections::BTreeMap;

pub use hosts::{GlossaryGaps, Host, HostDatabase, TrackingMethod};

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
    /// Technologies (operating systems and databases) that controls and policies reference by
    /// id, sorted by id.
    pub technologies: Vec<Technology>,
    /// Frameworks (authority sources such as CIS Controls v8) that controls reference by id,
    /// sorted by id.
    pub frameworks: Vec<Framework>,
    /// Policy exports that fail: policy id to the CODE and TEXT of the SIMPLE_RETURN that the
    /// export then returns with HTTP 400. Empty in a generated data set.
    pub export_failures: BTreeMap<u64, (u32, String)>,
    /// Hosts that the active policies are evaluated on, sorted by id.
    ///
    /// The postures are generated from them when the simulator starts. Changing a host later
    /// changes what the posture info's GLOSSARY shows, not the postures (see
    /// [`crate::Simulator::regenerate_postures`]).
    pub hosts: Vec<Host>,
    /// Hosts, technologies and controls that the posture info leaves out of its GLOSSARY.
    pub glossary_gaps: GlossaryGaps,
}

/// A compliance policy as the policy list and the policy export return it.
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
    /// Ids of the controls in the policy, sorted, each present in [`Dataset::controls`]. The
    /// policy list's CONTROL_LIST shows them.
    ///
    /// For a policy with at least one section, [`crate::Simulator::with_dataset`] resets this
    /// field after every change to the sorted, deduplicated ids of the section controls (see
    /// [`Dataset::sync_control_ids`]). A policy without sections keeps the value set here.
    pub control_ids: Vec<u64>,
    /// Sections of the policy in export order, each with its controls.
    pub sections: Vec<Section>,
    /// Ids of the technologies that the policy covers, in export order, each present in
    /// [`Dataset::technologies`]. A generated policy lists every technology of its controls,
    /// sorted by id.
    pub technology_ids: Vec<u64>,
    /// Text of the policy's appendix, which the export returns with `show_appendix=1`.
    pub appendix: String,
}

/// A numbered section of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Section number as the export writes it, such as `1`.
    pub number: String,
    /// Section heading.
    pub heading: String,
    /// Controls of the section in export order.
    pub controls: Vec<PolicyControl>,
}

/// A control as one policy uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyControl {
    /// Id of a control in [`Dataset::controls`].
    pub control_id: u64,
    /// Criticality of the control in this policy. It usually differs from the control's own
    /// criticality and from its criticality in other policies.
    pub criticality: Criticality,
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
    /// The control's own criticality, which the control list returns. A policy sets its own
    /// criticality for each of its controls in [`PolicyControl::criticality`].
    pub criticality: Criticality,
    /// Category of the control.
    pub category: Category,
    /// Sub-category of the control within [`Control::category`].
    pub sub_category: Category,
    /// How the setting is checked, such as `Registry Value`.
    pub check_type: String,
    /// Free-text comment, or `None` for a control without one (the control list then omits
    /// the COMMENT element).
    pub comment: Option<String>,
    /// Whether an error while checking the setting counts as a pass.
    pub ignore_error: bool,
    /// Whether the control is active.
    pub is_active: bool,
    /// Creation time (`YYYY-MM-DDTHH:MM:SSZ`).
    pub created: String,
    /// Last update time (`YYYY-MM-DDTHH:MM:SSZ`).
    pub updated: String,
    /// Technologies that the control applies to, as pairs of a technology id from
    /// [`Dataset::technologies`] and the rationale for checking the setting on it.
    pub technologies: Vec<(u64, String)>,
    /// Frameworks that the control maps to, as pairs of a framework id from
    /// [`Dataset::frameworks`] and the framework's references (such as `4.1`).
    pub frameworks: Vec<(u64, Vec<String>)>,
    /// Whether a user of the subscription defined the control. The policy export leaves such
    /// controls out unless the request has `show_user_controls=1`.
    pub user_defined: bool,
}

/// A category or sub-category of controls.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Category {
    /// Category id.
    pub id: u64,
    /// Category name.
    pub name: String,
}

/// A technology that controls apply to, such as an operating system or a database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Technology {
    /// Technology id.
    pub id: u64,
    /// Technology name, such as `Windows Server 2019`.
    pub name: String,
}

/// A framework (authority source) that controls map to, such as `CIS Controls v8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Framework {
    /// Framework id.
    pub id: u64,
    /// Framework name.
    pub name: String,
}

/// Criticality of a control, with the labels and values that Qualys uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// Every criticality, in order of value.
    pub const ALL: [Criticality; 6] = [
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
    /// Creates an active, unlocked, never evaluated policy without sections, controls or
    /// technologies, created and last modified at 2025-01-01T00:00:00Z by `sim_admin`, with
    /// an empty appendix.
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
            sections: Vec::new(),
            technology_ids: Vec::new(),
            appendix: String::new(),
        }
    }

    /// Returns the policy's section controls in export order, across all sections.
    pub fn section_controls(&self) -> impl Iterator<Item = &PolicyControl> {
        self.sections
            .iter()
            .flat_map(|section| section.controls.iter())
    }
}

impl Section {
    /// Creates a section without controls.
    pub fn new(number: impl Into<String>, heading: impl Into<String>) -> Self {
        Self {
            number: number.into(),
            heading: heading.into(),
            controls: Vec::new(),
        }
    }
}

impl Control {
    /// Creates an active, system-defined control of MEDIUM criticality in category
    /// 1 "Access Control Requirements", sub-category 16 "Password", checked as a
    /// `Registry Value`, without comment, technologies or frameworks, created and updated at
    /// 2025-01-01T00:00:00Z.
    pub fn new(id: u64, statement: impl Into<String>) -> Self {
        Self {
            id,
            statement: statement.into(),
            criticality: Criticality::Medium,
            category: Category::new(1, "Access Control Requirements"),
            sub_category: Category::new(16, "Password"),
            check_type: "Registry Value".to_string(),
            comment: None,
            ignore_error: false,
            is_active: true,
            created: "2025-01-01T00:00:00Z".to_string(),
            updated: "2025-01-01T00:00:00Z".to_string(),
            technologies: Vec::new(),
            frameworks: Vec::new(),
            user_defined: false,
        }
    }
}

impl Category {
    /// Creates a category or sub-category.
    pub fn new(id: u64, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
        }
    }
}

impl Technology {
    /// Creates a technology.
    pub fn new(id: u64, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
        }
    }
}

impl Framework {
    /// Creates a framework.
    pub fn new(id: u64, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
        }
    }
}

impl Dataset {
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

    /// Returns the control with this id for changing it.
    pub fn control_mut(&mut self, id: u64) -> Option<&mut Control> {
        self.controls.iter_mut().find(|control| control.id == id)
    }

    /// Returns the technology with this id.
    pub fn technology(&self, id: u64) -> Option<&Technology> {
        self.technologies
            .iter()
            .find(|technology| technology.id == id)
    }

    /// Returns the framework with this id.
    pub fn framework(&self, id: u64) -> Option<&Framework> {
        self.frameworks.iter().find(|framework| framework.id == id)
    }

    /// Returns the host with this id.
    pub fn host(&self, id: u64) -> Option<&Host> {
        self.hosts.iter().find(|host| host.id == id)
    }

    /// Returns the host with this id for changing it.
    pub fn host_mut(&mut self, id: u64) -> Option<&mut Host> {
        self.hosts.iter_mut().find(|host| host.id == id)
    }

    /// Sorts policies, controls, technologies, frameworks and hosts by id, as the server
    /// expects them. Sections and the controls inside them keep their order.
    pub fn sort(&mut self) {
        self.policies.sort_by_key(|policy| policy.id);
        self.controls.sort_by_key(|control| control.id);
        self.technologies.sort_by_key(|technology| technology.id);
        self.frameworks.sort_by_key(|framework| framework.id);
        self.hosts.sort_by_key(|host| host.id);
    }

    /// Sets [`Policy::control_ids`] of every policy that has at least one section to the
    /// sorted, deduplicated ids of its section controls.
    pub fn sync_control_ids(&mut self) {
        for policy in &mut self.policies {
            if policy.sections.is_empty() {
                continue;
            }
            let mut ids: Vec<u64> = policy
                .section_controls()
                .map(|control| control.control_id)
                .collect();
            ids.sort_unstable();
            ids.dedup();
            policy.control_ids = ids;
        }
    }
}
