//! The results that are not Passed, kept in a small index of their own, and the refresh counts
//! of PC Comprehensive Results built from it.
//!
//! A scan of the result rows is slow and costs memory beyond sled's cache: `results list` over
//! 200 000 and over 400 000 results peaked at about 160 MiB with `cache_mib = 8`, against
//! 40 MiB before the scan (debug build, sled 0.34). The index holds only each key and two run
//! ids, so listing the results that are not Passed and counting what a run refreshed never
//! read the result rows.

use serde::{Deserialize, Serialize};

use super::encoding::{decode, encode};
use super::records::{TableName, result_key_bytes};
use super::results::{PASSED, format_result_key, parse_result_key};
use super::{Store, StoreError, StoreResult};
use crate::runtime::bindings::ResultKey;

/// Result keys of the results that are not Passed, with [`IndexEntry`] values.
const NOT_PASSED: &str = "pcsync_results_not_passed";

/// The first change of status of each result in each run: run id, then result key.
const RUN_CHANGES: &str = "pcsync_result_run_changes";

/// The refresh counts of each PC Comprehensive Results run, by run id.
const REFRESH_COUNTS: &str = "pcsync_run_refresh";

/// Store-wide markers, such as which indexes are built.
const META: &str = "pcsync_meta";

/// The marker of a built [`NOT_PASSED`] index.
const NOT_PASSED_BUILT: &str = "results_not_passed_index";

/// The number of keys of results not returned that a run keeps as examples.
pub const MAX_NOT_RETURNED_EXAMPLES: usize = 5;

/// The index value of a result that is not Passed.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct IndexEntry {
    /// The run that stored the result, or for a result that was Passed before, the run it
    /// stopped being Passed in. Only its equality with a run being counted matters.
    created_run: u64,
    last_seen_run: u64,
}

/// A result's first change of status in a run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct RunChange {
    previous_status: String,
    status: String,
    /// Whether the result was stored before the change. A new result's previous status is the
    /// one Qualys reported.
    existed: bool,
}

/// The effect of a PC Comprehensive Results run on the results that were not Passed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefreshCounts {
    /// Results not Passed when the run started that Qualys returned: their last seen, status,
    /// evidence and dates are now Qualys's.
    pub refreshed: u64,
    /// Refreshed results whose status changed, for example Failed to Passed (now closed).
    pub changed: u64,
    /// Results not Passed, in policies the run requested, that Qualys did not return: not
    /// evaluated since the run's Start Time, or no longer in the policy.
    pub not_returned: u64,
    /// Keys of some results not returned, in text form.
    pub not_returned_examples: Vec<String>,
}

/// Decodes the key bytes of a result (four big-endian ids, then the instance).
fn result_key_from_bytes(bytes: &[u8]) -> Option<ResultKey> {
    let id = |index: usize| -> Option<u64> {
        let slice = bytes.get(index * 8..index * 8 + 8)?;
        Some(u64::from_be_bytes(slice.try_into().ok()?))
    };
    Some(ResultKey {
        policy_id: id(0)?,
        host_id: id(1)?,
        control_id: id(2)?,
        technology_id: id(3)?,
        instance: String::from_utf8_lossy(bytes.get(32..)?).into_owned(),
    })
}

fn run_change_key(run_id: u64, key: &[u8]) -> Vec<u8> {
    let mut bytes = run_id.to_be_bytes().to_vec();
    bytes.extend_from_slice(key);
    bytes
}

impl Store {
    /// Adds the result stored under `key` to the index when it is not Passed, with `run_id` as
    /// its last seen run, or removes it when it passed. `was_not_passed` is the status stored
    /// before, so that the many results that stay Passed cost no index access.
    pub(crate) fn index_result(
        &self,
        key: &[u8],
        not_passed: bool,
        was_not_passed: bool,
        run_id: u64,
        created: bool,
    ) -> StoreResult<()> {
        if !not_passed && !was_not_passed {
            return Ok(());
        }
        let tree = self.tree(NOT_PASSED)?;
        if !not_passed {
            tree.remove(key).map_err(|source| self.sled_error(source))?;
            return Ok(());
        }
        let created_run = if created || !was_not_passed {
            // A result that was Passed until now has no entry. Its creation run then does not
            // matter, because the run's change record shows it was Passed at the start.
            run_id
        } else {
            tree.get(key)
                .map_err(|source| self.sled_error(source))?
                .map(|bytes| decode::<IndexEntry>(NOT_PASSED, &bytes))
                .transpose()?
                .map_or(0, |entry| entry.created_run)
        };
        let entry = IndexEntry {
            created_run,
            last_seen_run: run_id,
        };
        tree.insert(key, encode(&entry))
            .map_err(|source| self.sled_error(source))?;
        Ok(())
    }

    /// Records a result's first change of status in run `run_id`. A later change in the same
    /// run, as when a page is processed again, keeps the first.
    pub(crate) fn record_run_change(
        &self,
        key: &[u8],
        run_id: u64,
        previous_status: &str,
        status: &str,
        existed: bool,
    ) -> StoreResult<()> {
        let change = RunChange {
            previous_status: previous_status.to_owned(),
            status: status.to_owned(),
            existed,
        };
        // Inserts only where the run has no change of this result yet. A failed swap means
        // there is one, which is kept on purpose.
        let _kept_first = self
            .tree(RUN_CHANGES)?
            .compare_and_swap(
                run_change_key(run_id, key),
                None::<&[u8]>,
                Some(encode(&change)),
            )
            .map_err(|source| self.sled_error(source))?;
        Ok(())
    }

    fn run_change(&self, run_id: u64, key: &[u8]) -> StoreResult<Option<RunChange>> {
        self.tree(RUN_CHANGES)?
            .get(run_change_key(run_id, key))
            .map_err(|source| self.sled_error(source))?
            .map(|bytes| decode(RUN_CHANGES, &bytes))
            .transpose()
    }

    /// Builds the index of results that are not Passed from the result rows, once per data
    /// directory: stores written before the index existed get it on their first open.
    pub(crate) fn ensure_not_passed_index(&self) -> StoreResult<()> {
        let meta = self.tree(META)?;
        if meta
            .contains_key(NOT_PASSED_BUILT)
            .map_err(|source| self.sled_error(source))?
        {
            return Ok(());
        }
        let index = self.tree(NOT_PASSED)?;
        for entry in self.tree(TableName::Result.as_str())?.iter() {
            let (key, bytes) = entry.map_err(|source| self.sled_error(source))?;
            let row: super::Row<super::ResultRow> = decode(TableName::Result.as_str(), &bytes)?;
            if row.data.result.status != PASSED {
                let entry = IndexEntry {
                    created_run: row.created_run,
                    last_seen_run: row.last_seen_run,
                };
                index
                    .insert(key, encode(&entry))
                    .map_err(|source| self.sled_error(source))?;
            }
        }
        meta.insert(NOT_PASSED_BUILT, &[1u8])
            .map_err(|source| self.sled_error(source))?;
        self.flush()
    }

    /// Keys of results that are not Passed, after `cursor` (a key in text form), up to `limit`,
    /// ordered by policy, host, control, technology and instance.
    pub fn results_not_passed(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<(Vec<ResultKey>, Option<String>)> {
        let start = match cursor {
            Some(text) => {
                let mut key =
                    result_key_bytes(&parse_result_key(text).map_err(StoreError::Invalid)?);
                // The smallest key after the cursor's own.
                key.push(0);
                key
            }
            None => Vec::new(),
        };
        let mut keys = Vec::new();
        for entry in self.tree(NOT_PASSED)?.range(start..) {
            let (bytes, _) = entry.map_err(|source| self.sled_error(source))?;
            let key = result_key_from_bytes(&bytes).ok_or_else(|| StoreError::Decode {
                what: NOT_PASSED.into(),
                message: format!("a key of {} bytes is not a result key", bytes.len()),
            })?;
            keys.push(key);
            if keys.len() >= limit as usize {
                let cursor = keys.last().map(format_result_key);
                return Ok((keys, cursor));
            }
        }
        Ok((keys, None))
    }

    /// Counts, after a PC Comprehensive Results run ended, the results that were not Passed
    /// when it started: those it returned (refreshed) and those of them whose status changed.
    /// It also counts those it did not return although `requested` returns true for their
    /// policy.
    /// Up to [`MAX_NOT_RETURNED_EXAMPLES`] keys of results not returned are kept as examples.
    ///
    /// A result's status when the run started is the previous status of its first change in
    /// the run, or else its status now.
    pub fn refresh_counts(
        &self,
        run_id: u64,
        requested: impl Fn(u64) -> bool,
    ) -> StoreResult<RefreshCounts> {
        let mut counts = RefreshCounts::default();

        // Results not Passed now: refreshed, unless they were new or Passed at the start, or
        // not returned.
        for entry in self.tree(NOT_PASSED)?.iter() {
            let (key, bytes) = entry.map_err(|source| self.sled_error(source))?;
            let entry: IndexEntry = decode(NOT_PASSED, &bytes)?;
            if entry.last_seen_run == run_id {
                match self.run_change(run_id, &key)? {
                    Some(change) if change.existed && change.previous_status != PASSED => {
                        counts.refreshed += 1;
                        counts.changed += 1;
                    }
                    Some(_) => {}
                    None if entry.created_run != run_id => counts.refreshed += 1,
                    None => {}
                }
                continue;
            }
            let Some(result) = result_key_from_bytes(&key) else {
                continue;
            };
            if requested(result.policy_id) {
                counts.not_returned += 1;
                if counts.not_returned_examples.len() < MAX_NOT_RETURNED_EXAMPLES {
                    counts
                        .not_returned_examples
                        .push(format_result_key(&result));
                }
            }
        }

        // Results that passed in this run, and so left the index.
        for entry in self.tree(RUN_CHANGES)?.scan_prefix(run_id.to_be_bytes()) {
            let (_, bytes) = entry.map_err(|source| self.sled_error(source))?;
            let change: RunChange = decode(RUN_CHANGES, &bytes)?;
            if change.existed && change.previous_status != PASSED && change.status == PASSED {
                counts.refreshed += 1;
                counts.changed += 1;
            }
        }
        Ok(counts)
    }

    /// Saves the refresh counts of a run.
    pub fn save_refresh_counts(&self, run_id: u64, counts: &RefreshCounts) -> StoreResult<()> {
        self.tree(REFRESH_COUNTS)?
            .insert(run_id.to_be_bytes(), encode(counts))
            .map_err(|source| self.sled_error(source))?;
        Ok(())
    }

    /// Returns the refresh counts of a run, kept for PC Comprehensive Results runs that
    /// completed.
    pub fn refresh_counts_of_run(&self, run_id: u64) -> StoreResult<Option<RefreshCounts>> {
        self.tree(REFRESH_COUNTS)?
            .get(run_id.to_be_bytes())
            .map_err(|source| self.sled_error(source))?
            .map(|bytes| decode(REFRESH_COUNTS, &bytes))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::results::tests::result;

    const T1: &str = "2026-02-01T00:00:00Z";
    const T2: &str = "2026-02-08T00:00:00Z";

    fn counts(store: &Store, run: u64) -> (u64, u64, u64) {
        let counts = store.refresh_counts(run, |policy| policy != 5).unwrap();
        (counts.refreshed, counts.changed, counts.not_returned)
    }

    #[test]
    fn refresh_counts_follow_status_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        // Run 1, as PC Results: policies stand for results here.
        for (policy, status) in [
            (1, "Failed"),
            (2, "Failed"),
            (3, "Passed"),
            (4, "Error"),
            (5, "Failed"),
        ] {
            store.upsert(1, result(policy, "os", status, T1)).unwrap();
        }
        // Run 2, as PC Comprehensive Results: 1 stays Failed, 2 passed, 3 (Passed before)
        // failed, 6 is new; 4 is not returned, and 5 is in a policy the run did not ask about.
        for (policy, status) in [(1, "Failed"), (2, "Passed"), (3, "Failed"), (6, "Failed")] {
            store.upsert(2, result(policy, "os", status, T2)).unwrap();
        }
        assert_eq!(counts(&store, 2), (2, 1, 1));
        let examples = store
            .refresh_counts(2, |_| true)
            .unwrap()
            .not_returned_examples;
        assert_eq!(examples.len(), 2);
        assert!(examples[0].starts_with("4:"), "{examples:?}");

        // Processing the same records again in the same run counts the same.
        for (policy, status) in [(1, "Failed"), (2, "Passed"), (3, "Failed"), (6, "Failed")] {
            store.upsert(2, result(policy, "os", status, T2)).unwrap();
        }
        assert_eq!(counts(&store, 2), (2, 1, 1));
    }

    #[test]
    fn index_is_built_for_older_stores() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 8).unwrap();
            for (policy, status) in [(1, "Failed"), (2, "Passed"), (3, "Error")] {
                store.upsert(1, result(policy, "os", status, T1)).unwrap();
            }
            // A store written before the index existed has neither the index nor its marker.
            store.db.drop_tree(NOT_PASSED).unwrap();
            store.db.drop_tree(META).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path(), 8).unwrap();
        let (keys, _) = store.results_not_passed(None, 10).unwrap();
        assert_eq!(
            keys.iter().map(|key| key.policy_id).collect::<Vec<_>>(),
            [1, 3]
        );
    }

    #[test]
    fn key_bytes_round_trip() {
        let key = ResultKey {
            policy_id: 7,
            host_id: u64::MAX,
            control_id: 1071,
            technology_id: 45,
            instance: "oracle19c:ORCL1".into(),
        };
        assert_eq!(result_key_from_bytes(&result_key_bytes(&key)), Some(key));
        assert_eq!(result_key_from_bytes(&[1, 2, 3]), None);
    }
}
