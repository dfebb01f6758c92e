//! The deterministic generator of [`Postures`].

use std::collections::HashMap;
use std::sync::Arc;

use super::{PolicyPostures, PostureStatus, Postures, Record, Stamp};
use crate::dataset::{Control, Dataset, Host, PolicyStatus};
use crate::datetime::parse_qualys;
use crate::rng::{SplitMix64, mix};

/// Id of the first posture minus one. Ids then follow without gaps, so the Nth posture
/// generated has id `FIRST_POSTURE_ID + N`.
pub(crate) const FIRST_POSTURE_ID: u64 = 5_000_000;

const APPLIES_STREAM: u64 = 0x6170_706C_6965_7374;
const STATE_STREAM: u64 = 0x7374_6174_6573_7472;
const DAY: i64 = 86_400;
/// 2026-12-01T00:00:00Z, the evaluation time of a host whose last scan time does not parse.
const FALLBACK_EVALUATION: i64 = 1_796_083_200;
/// Percentage of Passed or Failed postures that fail.
const FAILED_PERCENT: u64 = 30;
/// One posture of a user-defined control in this many is Error.
const ERROR_ONE_IN: u64 = 5;
/// One (policy, host) pair in this many is not evaluated, as a host outside the policy's
/// scope.
const UNASSIGNED_ONE_IN: u64 = 8;

impl Postures {
    /// Generates the postures of `dataset` from `seed`.
    ///
    /// Every active policy is evaluated on each host of its scope (7 hosts in 8, chosen by
    /// the seed). On such a host, each control of the policy gives one posture for the host's
    /// operating system when the control's technologies include it, and one posture per
    /// instance of each of the host's databases whose technology the control includes.
    /// Postures are numbered from 5000001 on in this order: policy, host, control (each by
    /// id), then the control's technology order, then instance order.
    ///
    /// About 30% of the postures fail. A posture of a user-defined control is Error in one
    /// case in five. The evaluation time is the host's last scan time. Half the postures
    /// changed status once before, and their previous status and pass and fail times show it.
    pub fn generate(dataset: &Dataset, seed: u64) -> Postures {
        let controls: HashMap<u64, &Control> = dataset
            .controls
            .iter()
            .map(|control| (control.id, control))
            .collect();
        let mut builder = Builder {
            seed,
            next_id: FIRST_POSTURE_ID + 1,
            instances: Vec::new(),
            instance_index: HashMap::new(),
        };
        let mut policies = Vec::new();
        for policy in &dataset.policies {
            if policy.status != PolicyStatus::Active {
                continue;
            }
            let policy_controls: Vec<&Control> = policy
                .control_ids
                .iter()
                .filter_map(|id| controls.get(id).copied())
                .collect();
            let mut records = Vec::new();
            for host in &dataset.hosts {
                if mix(
                    seed ^ APPLIES_STREAM,
                    policy.id.wrapping_mul(1_000_003) ^ host.id,
                )
                .is_multiple_of(UNASSIGNED_ONE_IN)
                {
                    continue;
                }
                for control in &policy_controls {
                    builder.evaluate(&mut records, host, control);
                }
            }
            policies.push(PolicyPostures {
                policy_id: policy.id,
                records: Arc::new(records),
            });
        }
        policies.sort_by_key(|policy| policy.policy_id);
        Postures {
            policies,
            instances: Arc::new(builder.instances),
            seed,
            invalid_char_every: None,
        }
    }
}

struct Builder {
    seed: u64,
    next_id: u64,
    instances: Vec<String>,
    instance_index: HashMap<String, u32>,
}

impl Builder {
    /// Appends the postures of one control on one host.
    fn evaluate(&mut self, records: &mut Vec<Record>, host: &Host, control: &Control) {
        let evaluated = parse_qualys(&host.last_scan).unwrap_or(FALLBACK_EVALUATION);
        for (technology_id, _) in &control.technologies {
            if *technology_id == host.os_technology_id {
                records.push(self.record(host, control, *technology_id, 0, evaluated));
            }
            for database in &host.databases {
                if database.technology_id != *technology_id {
                    continue;
                }
                for instance in &database.instances {
                    let instance = self.intern(instance);
                    records.push(self.record(host, control, *technology_id, instance, evaluated));
                }
            }
        }
    }

    fn intern(&mut self, instance: &str) -> u32 {
        if let Some(index) = self.instance_index.get(instance) {
            return *index;
        }
        self.instances.push(instance.to_string());
        let index = self.instances.len() as u32;
        self.instance_index.insert(instance.to_string(), index);
        index
    }

    fn record(
        &mut self,
        host: &Host,
        control: &Control,
        technology_id: u64,
        instance: u32,
        evaluated: i64,
    ) -> Record {
        let id = self.next_id;
        self.next_id += 1;
        let mut rng = SplitMix64::new(mix(self.seed ^ STATE_STREAM, id));
        let status = if control.user_defined && rng.one_in(ERROR_ONE_IN) {
            PostureStatus::Error
        } else if rng.below(100) < FAILED_PERCENT {
            PostureStatus::Failed
        } else {
            PostureStatus::Passed
        };
        let mut record = history(&mut rng, status, evaluated);
        record.id = id;
        record.host_id = host.id;
        record.control_id = control.id;
        record.technology_id = technology_id;
        record.instance = instance;
        record
    }
}

/// Draws the status history of a posture that has `status` at `evaluated`. The ids are left
/// at 0.
fn history(rng: &mut SplitMix64, status: PostureStatus, evaluated: i64) -> Record {
    let first_seen = evaluated - rng.between(30, 700) as i64 * DAY - rng.below(DAY as u64) as i64;
    let stamp = Stamp::clamped;
    let mut record = Record {
        id: 0,
        host_id: 0,
        control_id: 0,
        technology_id: 0,
        instance: 0,
        status,
        previous: None,
        modified: stamp(first_seen),
        evaluated: stamp(evaluated),
        first_fail: None,
        last_fail: None,
        first_pass: None,
        last_pass: None,
    };

    let changed = rng.one_in(2);
    let previous = match status {
        _ if !changed => None,
        PostureStatus::Passed => Some(PostureStatus::Failed),
        PostureStatus::Failed => Some(PostureStatus::Passed),
        PostureStatus::Error if rng.one_in(2) => Some(PostureStatus::Passed),
        PostureStatus::Error => Some(PostureStatus::Failed),
    };
    // The current status applies from `since` on. Before it, the previous status applied from
    // the first evaluation until a last evaluation 1 to 7 days before the change.
    let since = match previous {
        None => first_seen,
        Some(previous) => {
            let span = (evaluated - first_seen) / DAY;
            let since = first_seen + rng.between(8, span.max(8) as u64) as i64 * DAY;
            let since = since.min(evaluated);
            let last_previous = (since - rng.between(1, 7) as i64 * DAY).max(first_seen);
            let (first, last) = match previous {
                PostureStatus::Passed => (&mut record.first_pass, &mut record.last_pass),
                _ => (&mut record.first_fail, &mut record.last_fail),
            };
            *first = Some(stamp(first_seen));
            *last = Some(stamp(last_previous));
            since
        }
    };
    record.previous = previous;
    record.modified = stamp(since);
    match status {
        PostureStatus::Passed => {
            record.first_pass.get_or_insert(stamp(since));
            record.last_pass = Some(stamp(evaluated));
        }
        PostureStatus::Failed => {
            record.first_fail.get_or_insert(stamp(since));
            record.last_fail = Some(stamp(evaluated));
        }
        PostureStatus::Error => {}
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;

    #[test]
    fn generation_is_deterministic() {
        let data = Dataset::generate(25, 1);
        assert_eq!(Postures::generate(&data, 1), Postures::generate(&data, 1));
        assert_ne!(Postures::generate(&data, 1), Postures::generate(&data, 2));
    }

    #[test]
    fn ids_increase_without_gaps() {
        let data = Dataset::generate(25, 1);
        let postures = Postures::generate(&data, 1);
        let ids: Vec<u64> = postures.iter().map(|p| p.id).collect();
        assert!(!ids.is_empty(), "no postures");
        let expected: Vec<u64> = (1..=ids.len() as u64)
            .map(|n| FIRST_POSTURE_ID + n)
            .collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn only_active_policies_evaluated() {
        let data = Dataset::generate(25, 1);
        let postures = Postures::generate(&data, 1);
        for policy in &data.policies {
            let count = postures.count(policy.id);
            match policy.status {
                PolicyStatus::Active => assert!(count > 0, "active policy {} empty", policy.id),
                PolicyStatus::Inactive => assert_eq!(count, 0, "inactive policy {}", policy.id),
            }
        }
    }

    #[test]
    fn history_consistent_with_status() {
        let data = Dataset::generate(25, 3);
        let postures = Postures::generate(&data, 3);
        let mut statuses = [0usize; 3];
        for posture in postures.iter() {
            statuses[posture.status as usize] += 1;
            assert!(posture.modified <= posture.evaluated, "{}", posture.id);
            match posture.status {
                PostureStatus::Passed => {
                    assert_eq!(posture.last_pass.as_ref(), Some(&posture.evaluated));
                    assert!(posture.first_pass.as_ref() <= Some(&posture.modified));
                }
                PostureStatus::Failed => {
                    assert_eq!(posture.last_fail.as_ref(), Some(&posture.evaluated));
                    assert!(posture.first_fail.as_ref() <= Some(&posture.modified));
                }
                PostureStatus::Error => {
                    let control = data.control(posture.key.control_id).expect("control");
                    assert!(control.user_defined, "Error on control {}", control.id);
                }
            }
            match posture.previous_status {
                Some(PostureStatus::Passed) => {
                    let last = posture.last_pass.clone().expect("last pass");
                    assert!(last < posture.modified, "{}", posture.id);
                }
                Some(PostureStatus::Failed) => {
                    let last = posture.last_fail.clone().expect("last fail");
                    assert!(last < posture.modified, "{}", posture.id);
                }
                Some(PostureStatus::Error) => panic!("previous status Error"),
                None => {}
            }
        }
        let total: usize = statuses.iter().sum();
        assert!(
            statuses[1] * 100 > total * 20 && statuses[1] * 100 < total * 40,
            "failed {} of {total}",
            statuses[1]
        );
    }
}
