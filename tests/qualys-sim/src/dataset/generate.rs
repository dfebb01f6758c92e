//! The deterministic generator of [`Dataset`]s.
//!
//! Each kind of value comes from its own pseudo-random stream derived from the seed. The
//! attributes that only the policy export and the control list show (sections, technologies,
//! frameworks and the like) come from streams of their own, so that the policy list of a
//! seed does not depend on them.

use std::collections::BTreeMap;

use super::catalog::{
    self, APPENDIX, BENCHMARKS, COMMENTS, FRAMEWORKS, MARKUP_SUFFIXES, NIST_FAMILIES, RATIONALES,
    ReferenceStyle, SECTION_HEADINGS, SETTINGS, Setting, USERS,
};
use super::hosts::generate_hosts;
use super::{
    Category, Control, Criticality, Dataset, GlossaryGaps, Policy, PolicyControl, PolicyStatus,
    Section,
};
use crate::datetime::format_unix;
use crate::rng::SplitMix64;
use crate::simulator::SimConfig;

/// Number of controls in a data set from [`Dataset::generate`].
pub(crate) const CONTROL_COUNT: usize = 40;
/// Number of hosts in a data set from [`Dataset::generate`] and
/// [`Dataset::generate_with_controls`].
pub(crate) const HOST_COUNT: usize = 12;
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

/// Values mixed into the seed to derive the separate streams.
const CONTROL_STREAM: u64 = 0x636F_6E74_726F_6C73;
const CONTROL_DETAILS_STREAM: u64 = 0x6374_726C_6465_7461;
const POLICY_DETAILS_STREAM: u64 = 0x706F_6C64_6574_6169;
const POLICY_SIZE_STREAM: u64 = 0x706F_6C73_697A_6573;

/// Position, counted modulo 10, of the user-defined controls: exactly one control in ten is
/// user-defined, and every data set with at least 7 controls has one.
const USER_DEFINED_POSITION: usize = 6;

impl Dataset {
    /// Generates `policies` policies and 40 controls from `seed`, as
    /// [`Dataset::generate_with_controls`] does.
    pub fn generate(policies: usize, seed: u64) -> Dataset {
        Self::generate_with_controls(policies, CONTROL_COUNT, seed)
    }

    /// Generates `policies` policies, `controls` controls and 12 hosts from `seed`, with the
    /// fixed technologies and frameworks.
    ///
    /// The same arguments always give the same data set. Policies are drawn one after the
    /// other, so the data set for `n` policies is a prefix of the one for `n + 1` with the
    /// same seed. Controls are drawn the same way and do not depend on the number of
    /// policies, but the policies' choice of controls depends on the number of controls.
    /// Hosts come from a stream of their own and depend on the seed and their number only.
    ///
    /// Each policy has 1 to 5 controls (about 3.4 on average) in 1 to 4 sections, drawn from
    /// the shared pool, so most controls sit in several policies. Each of its controls gets a
    /// criticality of its own in that policy, drawn independently of other policies.
    pub fn generate_with_controls(policies: usize, controls: usize, seed: u64) -> Dataset {
        generate(policies, controls, None, HOST_COUNT, seed)
    }

    /// Generates the data set that a simulator started with `config` serves: `policies`,
    /// `controls`, `controls_per_policy`, `hosts` and `seed` are used, the other fields are
    /// ignored.
    ///
    /// With `controls_per_policy: None` the policies and controls are those of
    /// [`Dataset::generate_with_controls`]. With `Some(n)` each policy instead contains `n`
    /// different controls (all of them when `n` exceeds `controls`), drawn from a stream of
    /// their own, which also changes the sections and criticalities drawn after them.
    pub fn from_config(config: &SimConfig) -> Dataset {
        generate(
            config.policies,
            config.controls,
            config.controls_per_policy,
            config.hosts,
            config.seed,
        )
    }
}

fn generate(
    policies: usize,
    controls: usize,
    controls_per_policy: Option<usize>,
    hosts: usize,
    seed: u64,
) -> Dataset {
    let controls = generate_controls(controls, seed);
    let control_ids: Vec<u64> = controls.iter().map(|control| control.id).collect();

    let mut rng = SplitMix64::new(seed);
    let mut details_rng = SplitMix64::new(seed ^ POLICY_DETAILS_STREAM);
    let mut size_rng = SplitMix64::new(seed ^ POLICY_SIZE_STREAM);
    let mut id = POLICY_ID_BASE;
    let mut generated = Vec::with_capacity(policies);
    for index in 0..policies {
        id += rng.between(1, 2_000);
        let mut policy = generate_policy(&mut rng, index, id, &control_ids);
        if let Some(count) = controls_per_policy {
            let mut chosen = pick_distinct(&mut size_rng, &control_ids, count);
            chosen.sort_unstable();
            policy.control_ids = chosen;
        }
        add_policy_details(&mut details_rng, &mut policy, &controls);
        generated.push(policy);
    }
    Dataset {
        policies: generated,
        controls,
        technologies: catalog::technologies(),
        frameworks: catalog::frameworks(),
        export_failures: BTreeMap::new(),
        hosts: generate_hosts(hosts, seed),
        glossary_gaps: GlossaryGaps::default(),
    }
}

fn generate_controls(count: usize, seed: u64) -> Vec<Control> {
    // Separate streams, so that the number of policies does not change the controls.
    let mut rng = SplitMix64::new(seed ^ CONTROL_STREAM);
    let mut details_rng = SplitMix64::new(seed ^ CONTROL_DETAILS_STREAM);
    let mut id = CONTROL_ID_BASE;
    (0..count)
        .map(|index| {
            id += rng.between(1, 120);
            let setting = rng.pick(SETTINGS);
            let mut control = Control::new(id, format!("Status of the '{}' setting", setting.name));
            control.criticality = *rng.pick(&Criticality::ALL);
            control.user_defined = index % 10 == USER_DEFINED_POSITION;
            describe_control(&mut details_rng, &mut control, setting);
            control
        })
        .collect()
}

/// Fills in the attributes of a control beyond id, statement and criticality.
fn describe_control(rng: &mut SplitMix64, control: &mut Control, setting: &Setting) {
    control.category = Category::new(setting.category.0, setting.category.1);
    control.sub_category = Category::new(setting.sub_category.0, setting.sub_category.1);
    control.check_type = setting.check_type.to_string();
    control.comment = rng.one_in(3).then(|| rng.pick(COMMENTS).to_string());
    control.ignore_error = rng.one_in(8);
    control.is_active = !rng.one_in(12);

    let created_at = rng.between(EARLIEST_CREATED as u64, LATEST_CREATED as u64) as i64;
    let updated_at =
        (created_at + rng.below(700) as i64 * DAY + rng.below(DAY as u64) as i64).min(LATEST_ANY);
    control.created = format_unix(created_at);
    control.updated = format_unix(updated_at);

    let candidates = catalog::technologies_of(setting.family);
    let count = rng.between(1, candidates.len().min(3) as u64) as usize;
    let mut technologies = pick_distinct(rng, &candidates, count);
    technologies.sort_by_key(|technology| technology.id);
    control.technologies = technologies
        .iter()
        .map(|technology| {
            let rationale = rng
                .pick(RATIONALES)
                .replace("{setting}", setting.name)
                .replace("{technology}", &technology.name);
            (technology.id, rationale)
        })
        .collect();

    // User-defined controls are rarely mapped to a framework.
    let framework_count = if control.user_defined {
        rng.below(2)
    } else {
        rng.between(1, 3)
    } as usize;
    let mut frameworks = pick_distinct(rng, FRAMEWORKS, framework_count);
    frameworks.sort_by_key(|(id, _, _)| *id);
    control.frameworks = frameworks
        .iter()
        .map(|(id, _, style)| {
            let references = (0..rng.between(1, 2))
                .map(|_| framework_reference(rng, *style))
                .collect();
            (*id, references)
        })
        .collect();
}

fn framework_reference(rng: &mut SplitMix64, style: ReferenceStyle) -> String {
    match style {
        ReferenceStyle::CisControls => {
            format!("{}.{}", rng.between(1, 18), rng.between(1, 12))
        }
        ReferenceStyle::Nist80053 => {
            let family = rng.pick(NIST_FAMILIES);
            let number = rng.between(1, 20);
            if rng.one_in(3) {
                format!("{family}-{number}({})", rng.between(1, 9))
            } else {
                format!("{family}-{number}")
            }
        }
        ReferenceStyle::PciDss => format!(
            "{}.{}.{}",
            rng.between(1, 12),
            rng.between(1, 6),
            rng.between(1, 10)
        ),
        ReferenceStyle::Iso27001 => format!("A.{}.{}", rng.between(5, 8), rng.between(1, 34)),
    }
}

/// Returns `count` different elements of `items` in random order, or all of them when
/// `count` exceeds their number.
fn pick_distinct<T: Clone>(rng: &mut SplitMix64, items: &[T], count: usize) -> Vec<T> {
    let mut pool = items.to_vec();
    rng.shuffle(&mut pool);
    pool.truncate(count);
    pool
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
    let mut policy_controls: Vec<u64> = if control_ids.is_empty() {
        Vec::new()
    } else {
        (0..control_count).map(|_| *rng.pick(control_ids)).collect()
    };
    policy_controls.sort_unstable();
    policy_controls.dedup();

    let mut policy = Policy::new(id, title);
    // The users are drawn after the controls, as they always were.
    policy.created = (format_unix(created_at), rng.pick(USERS).to_string());
    policy.last_modified = (format_unix(modified_at), rng.pick(USERS).to_string());
    policy.last_evaluated = (!never_evaluated).then(|| format_unix(evaluated_at));
    policy.status = status;
    policy.locked = locked;
    policy.control_ids = policy_controls;
    policy
}

/// Adds sections, technologies and an appendix to a policy whose `control_ids` are set.
///
/// The controls are shuffled and split into 1 to 4 non-empty sections with different
/// headings. The sections together hold each of `control_ids` once.
fn add_policy_details(rng: &mut SplitMix64, policy: &mut Policy, controls: &[Control]) {
    let mut order = policy.control_ids.clone();
    rng.shuffle(&mut order);

    let section_count = if order.is_empty() {
        0
    } else {
        rng.between(1, order.len().min(4) as u64) as usize
    };
    let mut sizes = vec![1; section_count];
    for _ in section_count..order.len() {
        sizes[rng.below(section_count as u64) as usize] += 1;
    }
    let headings = pick_distinct(rng, SECTION_HEADINGS, section_count);

    let mut remaining = order.into_iter();
    policy.sections = sizes
        .iter()
        .zip(&headings)
        .enumerate()
        .map(|(index, (size, heading))| {
            let mut section = Section::new((index + 1).to_string(), *heading);
            section.controls = remaining
                .by_ref()
                .take(*size)
                .map(|control_id| PolicyControl {
                    control_id,
                    criticality: *rng.pick(&Criticality::ALL),
                })
                .collect();
            section
        })
        .collect();

    let mut technology_ids: Vec<u64> = controls
        .iter()
        .filter(|control| policy.control_ids.binary_search(&control.id).is_ok())
        .flat_map(|control| control.technologies.iter().map(|(id, _)| *id))
        .collect();
    technology_ids.sort_unstable();
    technology_ids.dedup();
    policy.technology_ids = technology_ids;

    policy.appendix = APPENDIX
        .replace("{title}", &policy.title)
        .replace("{revision}", &rng.between(1, 9).to_string());
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

    #[test]
    fn sections_hold_control_ids_once() {
        let data = Dataset::generate(300, 4);
        for policy in &data.policies {
            assert!(
                (1..=4).contains(&policy.sections.len()),
                "policy {} has {} sections",
                policy.id,
                policy.sections.len()
            );
            assert!(
                policy.sections.iter().all(|s| !s.controls.is_empty()),
                "policy {} has an empty section",
                policy.id
            );
            let mut ids: Vec<u64> = policy.section_controls().map(|c| c.control_id).collect();
            ids.sort_unstable();
            assert_eq!(ids, policy.control_ids, "policy {}", policy.id);
            let numbers: Vec<String> = policy.sections.iter().map(|s| s.number.clone()).collect();
            let expected: Vec<String> = (1..=numbers.len()).map(|n| n.to_string()).collect();
            assert_eq!(numbers, expected, "policy {}", policy.id);
        }
    }

    #[test]
    fn controls_per_policy_near_three() {
        let data = Dataset::generate(2_000, 6);
        let total: usize = data.policies.iter().map(|p| p.control_ids.len()).sum();
        let average = total as f64 / data.policies.len() as f64;
        assert!((3.0..3.6).contains(&average), "average {average}");
        assert!(data.policies.iter().all(|p| !p.control_ids.is_empty()));
    }

    #[test]
    fn controls_shared_with_own_criticality() {
        let data = Dataset::generate(25, 1);
        let mut uses: BTreeMap<u64, Vec<Criticality>> = BTreeMap::new();
        for control in data.policies.iter().flat_map(|p| p.section_controls()) {
            uses.entry(control.control_id)
                .or_default()
                .push(control.criticality);
        }
        let shared = uses.values().filter(|c| c.len() >= 2).count();
        assert!(
            shared >= 10,
            "only {shared} controls in two or more policies"
        );
        let differing = uses
            .values()
            .filter(|c| c.len() >= 2 && c.iter().any(|x| *x != c[0]))
            .count();
        assert!(
            differing * 10 >= shared * 7,
            "{differing} of {shared} shared controls differ"
        );
    }

    #[test]
    fn references_resolve() {
        let data = Dataset::generate(200, 8);
        for control in &data.controls {
            assert!(!control.technologies.is_empty(), "control {}", control.id);
            for (id, rationale) in &control.technologies {
                assert!(data.technology(*id).is_some(), "technology {id}");
                assert!(rationale.contains('\n'), "one-line rationale {rationale:?}");
            }
            for (id, references) in &control.frameworks {
                assert!(data.framework(*id).is_some(), "framework {id}");
                assert!(!references.is_empty(), "framework {id} without references");
            }
            let created = parse_qualys(&control.created).expect("created parses");
            let updated = parse_qualys(&control.updated).expect("updated parses");
            assert!(created <= updated, "control {} updated early", control.id);
        }
        for policy in &data.policies {
            for id in &policy.technology_ids {
                assert!(data.technology(*id).is_some(), "technology {id}");
            }
            assert!(!policy.technology_ids.is_empty(), "policy {}", policy.id);
        }
    }

    #[test]
    fn one_control_in_ten_user_defined() {
        let data = Dataset::generate_with_controls(10, 100, 3);
        let user_defined = data.controls.iter().filter(|c| c.user_defined).count();
        assert_eq!(user_defined, 10);
        let default = Dataset::generate(25, 1);
        assert!(
            default
                .policies
                .iter()
                .flat_map(|p| p.section_controls())
                .any(|c| default
                    .control(c.control_id)
                    .is_some_and(|c| c.user_defined)),
            "no policy with a user-defined control"
        );
    }

    #[test]
    fn zero_controls_gives_empty_policies() {
        let data = Dataset::generate_with_controls(5, 0, 1);
        assert_eq!(data.policies.len(), 5);
        assert!(data.policies.iter().all(|p| p.sections.is_empty()));
    }
}
