//! Postures: the result of evaluating one control of one policy on one host, technology and
//! database instance.
//!
//! Each posture is kept as a compact [`Record`] of ids, a status and six times. Texts such as
//! evidence and remediation are derived from the seed and the record while a response is
//! rendered, so that large data sets stay small in memory.

pub(crate) mod evidence;
pub(crate) mod generate;

use std::num::NonZeroU32;
use std::sync::Arc;

use crate::datetime::{format_unix, parse_qualys};
use crate::rng::mix;

/// Status of a posture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PostureStatus {
    /// The host meets the control.
    Passed,
    /// The host does not meet the control.
    Failed,
    /// The evaluation failed. Generated only for user-defined controls.
    Error,
}

impl PostureStatus {
    /// Returns the text used in responses: `Passed`, `Failed` or `Error`.
    pub fn as_str(self) -> &'static str {
        match self {
            PostureStatus::Passed => "Passed",
            PostureStatus::Failed => "Failed",
            PostureStatus::Error => "Error",
        }
    }

    /// Parses `Passed`, `Failed` or `Error`, as the `status` parameter takes them.
    pub fn parse(text: &str) -> Option<PostureStatus> {
        match text {
            "Passed" => Some(PostureStatus::Passed),
            "Failed" => Some(PostureStatus::Failed),
            "Error" => Some(PostureStatus::Error),
            _ => None,
        }
    }
}

/// What identifies a posture: policy, host, control, technology and database instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PostureKey {
    /// Id of the policy whose evaluation produced the posture.
    pub policy_id: u64,
    /// Id of the evaluated host.
    pub host_id: u64,
    /// Id of the evaluated control.
    pub control_id: u64,
    /// Id of the evaluated technology: the host's operating system or one of its databases.
    pub technology_id: u64,
    /// Database instance, such as `oracle19c:ORCL1`, or `None` for an operating-system
    /// posture.
    pub instance: Option<String>,
}

/// A posture as the posture info returns it, with times as `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posture {
    /// Posture id, unique across policies and increasing in the order the posture info lists
    /// the postures.
    pub id: u64,
    /// What the posture evaluates.
    pub key: PostureKey,
    /// Current status.
    pub status: PostureStatus,
    /// Status before the last change, or `None` when the status never changed.
    pub previous_status: Option<PostureStatus>,
    /// Time of the last status change, or of the first evaluation when it never changed.
    pub modified: String,
    /// Time of the last evaluation.
    pub evaluated: String,
    /// Time of the first evaluation that failed, if any did.
    pub first_fail: Option<String>,
    /// Time of the last evaluation that failed, if any did.
    pub last_fail: Option<String>,
    /// Time of the first evaluation that passed, if any did.
    pub first_pass: Option<String>,
    /// Time of the last evaluation that passed, if any did.
    pub last_pass: Option<String>,
}

/// Why [`Postures::set_status`] changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostureError {
    /// No posture has this key.
    NotFound(PostureKey),
    /// The time is not `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`, or lies before 2000 or after
    /// 2136, which a compact record cannot store.
    InvalidTime(String),
}

impl std::fmt::Display for PostureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostureError::NotFound(key) => write!(f, "no posture has the key {key:?}"),
            PostureError::InvalidTime(text) => write!(
                f,
                "invalid time {text:?}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ between 2000 and 2136"
            ),
        }
    }
}

impl std::error::Error for PostureError {}

/// 2000-01-01T00:00:00Z, the origin of [`Stamp`].
const STAMP_EPOCH: i64 = 946_684_800;

/// A time stored in four bytes: seconds since 2000-01-01T00:00:00Z, from 1 (so that
/// `Option<Stamp>` also takes four bytes) up to early 2136.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(NonZeroU32);

impl Stamp {
    /// Converts seconds since the Unix epoch, or returns `None` outside the range.
    pub(crate) fn from_unix(seconds: i64) -> Option<Stamp> {
        let offset = u32::try_from(seconds - STAMP_EPOCH).ok()?;
        NonZeroU32::new(offset).map(Stamp)
    }

    /// Converts seconds since the Unix epoch, moving times outside the range to its nearest end.
    pub(crate) fn clamped(seconds: i64) -> Stamp {
        let offset = (seconds - STAMP_EPOCH).clamp(1, i64::from(u32::MAX));
        Stamp(NonZeroU32::new(offset as u32).unwrap_or(NonZeroU32::MIN))
    }

    pub(crate) fn unix(self) -> i64 {
        STAMP_EPOCH + i64::from(self.0.get())
    }

    /// Returns the time as `YYYY-MM-DDTHH:MM:SSZ`.
    pub(crate) fn format(self) -> String {
        format_unix(self.unix())
    }
}

/// One posture in compact form. Its policy is the [`PolicyPostures`] that contains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) id: u64,
    pub(crate) host_id: u64,
    pub(crate) control_id: u64,
    pub(crate) technology_id: u64,
    /// Index plus one into [`Postures::instances`], or 0 for an operating-system posture.
    pub(crate) instance: u32,
    pub(crate) status: PostureStatus,
    pub(crate) previous: Option<PostureStatus>,
    pub(crate) modified: Stamp,
    pub(crate) evaluated: Stamp,
    pub(crate) first_fail: Option<Stamp>,
    pub(crate) last_fail: Option<Stamp>,
    pub(crate) first_pass: Option<Stamp>,
    pub(crate) last_pass: Option<Stamp>,
}

impl Record {
    /// Records an evaluation at `at` with result `status`. A different status becomes a status
    /// change: the old status becomes the previous one and `at` the modification time.
    fn evaluate(&mut self, status: PostureStatus, at: Stamp) {
        if status != self.status {
            self.previous = Some(self.status);
            self.status = status;
            self.modified = at;
        }
        self.evaluated = at;
        match status {
            PostureStatus::Passed => {
                self.first_pass.get_or_insert(at);
                self.last_pass = Some(at);
            }
            PostureStatus::Failed => {
                self.first_fail.get_or_insert(at);
                self.last_fail = Some(at);
            }
            PostureStatus::Error => {}
        }
    }
}

/// The postures of one policy, sorted by id.
///
/// The records sit behind an [`Arc`], so a response being streamed keeps a consistent copy
/// while a test changes the postures: the change copies the records only when a response
/// still refers to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyPostures {
    pub(crate) policy_id: u64,
    pub(crate) records: Arc<Vec<Record>>,
}

/// Every posture of the simulated subscription, grouped by policy.
///
/// [`crate::Simulator::start`] generates them from the data set with [`Postures::generate`];
/// tests read and change them through [`crate::Simulator::with_postures`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postures {
    /// Sorted by policy id.
    policies: Vec<PolicyPostures>,
    /// Database instance names that records point at.
    instances: Arc<Vec<String>>,
    seed: u64,
    invalid_char_every: Option<u64>,
}

/// The records and instance names of one policy, taken out of [`Postures`] for rendering.
pub(crate) struct PolicySnapshot {
    pub(crate) records: Arc<Vec<Record>>,
    pub(crate) instances: Arc<Vec<String>>,
    pub(crate) seed: u64,
    pub(crate) invalid_char_every: Option<u64>,
}

/// Value mixed into the seed to choose the postures that [`Postures::advance`] flips.
const FLIP_STREAM: u64 = 0x666C_6970_7374_7265;

impl Postures {
    /// Returns the number of postures across all policies.
    pub fn len(&self) -> usize {
        self.policies
            .iter()
            .map(|policy| policy.records.len())
            .sum()
    }

    /// Returns whether no policy has a posture.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the ids of the policies that have postures, sorted.
    pub fn policy_ids(&self) -> Vec<u64> {
        self.policies
            .iter()
            .map(|policy| policy.policy_id)
            .collect()
    }

    /// Returns the number of postures of one policy, 0 for a policy without postures.
    pub fn count(&self, policy_id: u64) -> usize {
        self.policy(policy_id)
            .map_or(0, |policy| policy.records.len())
    }

    /// Returns every posture, sorted by id.
    pub fn iter(&self) -> impl Iterator<Item = Posture> + '_ {
        self.policies.iter().flat_map(move |policy| {
            policy
                .records
                .iter()
                .map(move |record| self.view(policy.policy_id, record))
        })
    }

    /// Returns the postures of one policy, sorted by id.
    pub fn for_policy(&self, policy_id: u64) -> impl Iterator<Item = Posture> + '_ {
        self.policy(policy_id).into_iter().flat_map(move |policy| {
            policy
                .records
                .iter()
                .map(move |record| self.view(policy_id, record))
        })
    }

    /// Returns the posture with this key.
    pub fn get(&self, key: &PostureKey) -> Option<Posture> {
        let policy = self.policy(key.policy_id)?;
        let index = self.find(policy, key)?;
        Some(self.view(key.policy_id, &policy.records[index]))
    }

    /// Returns the posture with this id.
    pub fn by_id(&self, id: u64) -> Option<Posture> {
        self.policies.iter().find_map(|policy| {
            let index = policy
                .records
                .binary_search_by_key(&id, |record| record.id)
                .ok()?;
            Some(self.view(policy.policy_id, &policy.records[index]))
        })
    }

    /// Records an evaluation of one posture at `at` (`YYYY-MM-DD` or
    /// `YYYY-MM-DDTHH:MM:SSZ`) with result `status`, and returns the posture's id.
    ///
    /// The evaluation time and the last pass or fail time become `at`. When `status` differs
    /// from the current status, the current one becomes the previous status, the
    /// modification time becomes `at`, and so does the first pass or fail time if there was
    /// none. The same status changes no modification time, so `status_changes_since` does not
    /// return the posture for it.
    ///
    /// # Errors
    ///
    /// [`PostureError::NotFound`] when no posture has the key, and
    /// [`PostureError::InvalidTime`] when `at` cannot be parsed or stored.
    pub fn set_status(
        &mut self,
        key: &PostureKey,
        status: PostureStatus,
        at: &str,
    ) -> Result<u64, PostureError> {
        let stamp = parse_qualys(at)
            .and_then(Stamp::from_unix)
            .ok_or_else(|| PostureError::InvalidTime(at.to_string()))?;
        let position = self
            .policies
            .iter()
            .position(|policy| policy.policy_id == key.policy_id);
        let found = position.and_then(|position| {
            let index = self.find(&self.policies[position], key)?;
            Some((position, index))
        });
        let Some((position, index)) = found else {
            return Err(PostureError::NotFound(key.clone()));
        };
        let record = &mut Arc::make_mut(&mut self.policies[position].records)[index];
        record.evaluate(status, stamp);
        Ok(record.id)
    }

    /// Returns N when every Nth posture's evidence contains a character that XML 1.0 does not
    /// allow, or `None` when no evidence does.
    pub fn invalid_char_every(&self) -> Option<u64> {
        self.invalid_char_every
    }

    /// Makes every Nth posture's evidence (counted by posture id, see
    /// [`crate::SimConfig::invalid_char_every`]) contain a character that XML 1.0 does not
    /// allow, or none with `None`. `Some(0)` counts as `None`.
    pub fn set_invalid_char_every(&mut self, every: Option<u64>) {
        self.invalid_char_every = every.filter(|every| *every > 0);
    }

    /// Evaluates every posture again at `at`, flipping the status of
    /// `round(change_fraction * n)` of the `n` postures that are Passed or Failed (Passed to
    /// Failed and back). Error postures keep their status. Returns the ids of the flipped
    /// postures, sorted.
    ///
    /// The flipped postures are those whose hash of the seed, posture id and `at` is
    /// smallest, so the same calls give the same flips. `change_fraction` is clamped to
    /// 0..=1, and NaN counts as 0.
    pub(crate) fn advance(&mut self, at: Stamp, change_fraction: f64) -> Vec<u64> {
        let fraction = if change_fraction.is_nan() {
            0.0
        } else {
            change_fraction.clamp(0.0, 1.0)
        };
        let salt = self.seed ^ FLIP_STREAM ^ mix(at.unix() as u64, 0);
        let mut candidates: Vec<(u64, u32, u32)> = Vec::new();
        for (policy_index, policy) in self.policies.iter().enumerate() {
            for (index, record) in policy.records.iter().enumerate() {
                if record.status != PostureStatus::Error {
                    candidates.push((mix(salt, record.id), policy_index as u32, index as u32));
                }
            }
        }
        let flips = (fraction * candidates.len() as f64).round() as usize;
        let flips = flips.min(candidates.len());
        if flips > 0 && flips < candidates.len() {
            candidates.select_nth_unstable(flips - 1);
        }
        candidates.truncate(flips);
        candidates.sort_unstable_by_key(|(_, policy, index)| (*policy, *index));

        let mut flipped = Vec::with_capacity(flips);
        let mut chosen = candidates.iter().peekable();
        for (policy_index, policy) in self.policies.iter_mut().enumerate() {
            let records = Arc::make_mut(&mut policy.records);
            for (index, record) in records.iter_mut().enumerate() {
                let flip = chosen
                    .next_if(|(_, p, i)| *p as usize == policy_index && *i as usize == index)
                    .is_some();
                let status = match (flip, record.status) {
                    (true, PostureStatus::Passed) => PostureStatus::Failed,
                    (true, PostureStatus::Failed) => PostureStatus::Passed,
                    (_, status) => status,
                };
                record.evaluate(status, at);
                if flip {
                    flipped.push(record.id);
                }
            }
        }
        flipped.sort_unstable();
        flipped
    }

    /// Takes the records of one policy for rendering, or `None` for a policy without
    /// postures.
    pub(crate) fn snapshot(&self, policy_id: u64) -> Option<PolicySnapshot> {
        let policy = self.policy(policy_id)?;
        Some(PolicySnapshot {
            records: Arc::clone(&policy.records),
            instances: Arc::clone(&self.instances),
            seed: self.seed,
            invalid_char_every: self.invalid_char_every,
        })
    }

    fn policy(&self, policy_id: u64) -> Option<&PolicyPostures> {
        self.policies
            .binary_search_by_key(&policy_id, |policy| policy.policy_id)
            .ok()
            .map(|index| &self.policies[index])
    }

    fn find(&self, policy: &PolicyPostures, key: &PostureKey) -> Option<usize> {
        policy.records.iter().position(|record| {
            record.host_id == key.host_id
                && record.control_id == key.control_id
                && record.technology_id == key.technology_id
                && self.instance(record.instance) == key.instance.as_deref()
        })
    }

    /// Returns the instance name that a record's `instance` field points at.
    pub(crate) fn instance(&self, index: u32) -> Option<&str> {
        instance_name(&self.instances, index)
    }

    fn view(&self, policy_id: u64, record: &Record) -> Posture {
        let format = |stamp: Option<Stamp>| stamp.map(Stamp::format);
        Posture {
            id: record.id,
            key: PostureKey {
                policy_id,
                host_id: record.host_id,
                control_id: record.control_id,
                technology_id: record.technology_id,
                instance: self.instance(record.instance).map(str::to_string),
            },
            status: record.status,
            previous_status: record.previous,
            modified: record.modified.format(),
            evaluated: record.evaluated.format(),
            first_fail: format(record.first_fail),
            last_fail: format(record.last_fail),
            first_pass: format(record.first_pass),
            last_pass: format(record.last_pass),
        }
    }
}

/// Returns the name that an instance index (index plus one, 0 for none) points at.
pub(crate) fn instance_name(instances: &[String], index: u32) -> Option<&str> {
    let position = usize::try_from(index).ok()?.checked_sub(1)?;
    instances.get(position).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_stays_compact() {
        assert_eq!(std::mem::size_of::<Option<Stamp>>(), 4);
        assert!(
            std::mem::size_of::<Record>() <= 64,
            "record takes {} bytes",
            std::mem::size_of::<Record>()
        );
    }

    #[test]
    fn stamp_round_trips() {
        let seconds = parse_qualys("2026-12-04T10:00:00Z").expect("parses");
        let stamp = Stamp::from_unix(seconds).expect("in range");
        assert_eq!(stamp.format(), "2026-12-04T10:00:00Z");
        assert_eq!(Stamp::from_unix(STAMP_EPOCH), None);
        assert_eq!(Stamp::from_unix(STAMP_EPOCH - 5), None);
        assert_eq!(Stamp::clamped(0).unix(), STAMP_EPOCH + 1);
    }

    #[test]
    fn status_parses_own_text() {
        for status in [
            PostureStatus::Passed,
            PostureStatus::Failed,
            PostureStatus::Error,
        ] {
            assert_eq!(PostureStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PostureStatus::parse("passed"), None);
    }
}
