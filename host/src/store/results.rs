//! Test results and their lifecycle: state, first and last seen, and a history row per change
//! of status.

use serde::{Deserialize, Serialize};

use super::encoding::{decode, encode};
use super::records::{Change, Position, Row, TableName, result_key_bytes};
use super::{Store, StoreResult};
use crate::runtime::bindings::{ResultKey, TestResult};

/// `sn_vulc_result_history`: one row per change of a result's status.
const HISTORY: &str = "sn_vulc_result_history";

/// The status Qualys reports for a passed control.
pub(crate) const PASSED: &str = "Passed";

/// A stored test result: what the component emitted plus the lifecycle the host keeps.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResultRow {
    pub result: TestResult,
    /// `Open` unless the result is Passed, then `Closed`.
    pub state: String,
    /// `Fixed` when closed because it passed.
    pub resolution: Option<String>,
    /// The earliest date the scanner reports for this result (first fail or pass, else the
    /// evaluation), UTC.
    pub first_seen: Option<String>,
    /// The latest evaluation date the scanner reported, UTC.
    pub last_seen: Option<String>,
}

/// One change of a result's status.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HistoryRow {
    pub key: ResultKey,
    pub previous_status: Option<String>,
    pub status: String,
    /// When the status changed: the posture modified date Qualys reported, UTC.
    pub changed_on: String,
    pub run_id: u64,
}

/// A filter for listing results.
#[derive(Clone, Debug, Default)]
pub struct ResultFilter {
    pub policy_id: Option<u64>,
    pub host_id: Option<u64>,
    pub status: Option<String>,
    /// `open` or `closed`, case-insensitive.
    pub state: Option<String>,
}

impl ResultFilter {
    fn matches(&self, row: &ResultRow) -> bool {
        let key = &row.result.key;
        self.policy_id.is_none_or(|id| key.policy_id == id)
            && self.host_id.is_none_or(|id| key.host_id == id)
            && self
                .status
                .as_ref()
                .is_none_or(|status| row.result.status.eq_ignore_ascii_case(status))
            && self
                .state
                .as_ref()
                .is_none_or(|state| row.state.eq_ignore_ascii_case(state))
    }
}

/// Returns the earliest of optional UTC timestamps. They compare as text because they share
/// one format.
fn earliest<'a>(dates: impl IntoIterator<Item = Option<&'a String>>) -> Option<String> {
    dates.into_iter().flatten().min().cloned()
}

fn latest<'a>(dates: impl IntoIterator<Item = Option<&'a String>>) -> Option<String> {
    dates.into_iter().flatten().max().cloned()
}

/// Checks whether `incoming` was evaluated before `stored`: by evaluation date, else by
/// posture modified date. UTC timestamps in one format compare as text.
fn is_older(incoming: &TestResult, stored: &TestResult) -> bool {
    let evaluated = |result: &TestResult| {
        result
            .evaluation_date
            .clone()
            .or_else(|| result.posture_modified_date.clone())
    };
    match (evaluated(incoming), evaluated(stored)) {
        (Some(incoming), Some(stored)) => incoming < stored,
        _ => false,
    }
}

/// The instance a result key uses: a missing or empty instance is `os`, as PCRS sends it.
pub fn normalise_instance(key: &mut ResultKey) {
    if key.instance.trim().is_empty() {
        key.instance = "os".into();
    }
}

/// Parses the text form `policy:host:control:technology:instance` of a result key.
pub fn parse_result_key(text: &str) -> Result<ResultKey, String> {
    let mut parts = text.splitn(5, ':');
    let mut number = |name: &str| -> Result<u64, String> {
        let part = parts.next().ok_or_else(|| {
            format!(
                "invalid result key `{text}`: {name} is missing; expected policy:host:control:technology[:instance]"
            )
        })?;
        part.parse().map_err(|_| {
            format!(
                "invalid result key `{text}`: {name} `{part}` is not a number; expected policy:host:control:technology[:instance]"
            )
        })
    };
    let policy_id = number("policy")?;
    let host_id = number("host")?;
    let control_id = number("control")?;
    let technology_id = number("technology")?;
    let instance = parts.next().unwrap_or("os").to_string();
    let mut key = ResultKey {
        policy_id,
        host_id,
        control_id,
        technology_id,
        instance,
    };
    normalise_instance(&mut key);
    Ok(key)
}

/// The text form of a result key, as `pcsync results show` takes it.
pub fn format_result_key(key: &ResultKey) -> String {
    format!(
        "{}:{}:{}:{}:{}",
        key.policy_id, key.host_id, key.control_id, key.technology_id, key.instance
    )
}

impl Store {
    /// Upserts a result and applies its lifecycle. Passed closes it as Fixed, and any other
    /// status opens it, so a closed result that fails again reopens. A change of status writes
    /// a history row keyed by result and posture date, so processing a page twice never
    /// doubles it. The index of results that are not Passed follows the new status.
    ///
    /// A result evaluated earlier than the stored one, as when older pages are processed
    /// again, changes nothing: an old page never puts an old status back.
    pub(crate) fn upsert_result(
        &self,
        position: Position,
        mut result: TestResult,
    ) -> StoreResult<Change> {
        normalise_instance(&mut result.key);
        let key = result_key_bytes(&result.key);
        let mut created = false;
        let mut stale = false;
        let mut was_not_passed = false;

        let change = self.upsert_merged(
            TableName::Result,
            &key,
            position,
            |stored: Option<&ResultRow>| {
                created = stored.is_none();
                was_not_passed = stored.is_some_and(|stored| stored.result.status != PASSED);
                if let Some(stored) = stored.filter(|stored| is_older(&result, &stored.result)) {
                    stale = true;
                    return Ok(stored.clone());
                }
                let previous = match stored {
                    Some(row) => Some(row.result.status.clone()),
                    None => result.previous_status.clone(),
                };
                // The history row is written before the result row, so a crash between the
                // two leaves the change to be seen again, not lost.
                if let Some(previous) = previous.filter(|previous| *previous != result.status) {
                    self.record_run_change(
                        &key,
                        position.run,
                        &previous,
                        &result.status,
                        !created,
                    )?;
                    self.record_change_of_status(&key, &result, previous, position.run)?;
                }

                let passed = result.status == PASSED;
                let first_seen = earliest([
                    stored.and_then(|row| row.first_seen.as_ref()),
                    result.first_fail_date.as_ref(),
                    result.first_pass_date.as_ref(),
                    result.evaluation_date.as_ref(),
                ]);
                let last_seen = latest([
                    stored.and_then(|row| row.last_seen.as_ref()),
                    result.evaluation_date.as_ref(),
                    result.posture_modified_date.as_ref(),
                ]);
                Ok(ResultRow {
                    result: result.clone(),
                    state: if passed { "Closed" } else { "Open" }.into(),
                    resolution: passed.then(|| "Fixed".to_string()),
                    first_seen,
                    last_seen,
                })
            },
        )?;
        if !stale {
            self.index_result(
                &key,
                result.status != PASSED,
                was_not_passed,
                position.run,
                created,
            )?;
        }
        Ok(change)
    }

    /// Writes the history row of a change of status, keyed by result and posture date.
    fn record_change_of_status(
        &self,
        key: &[u8],
        result: &TestResult,
        previous: String,
        run_id: u64,
    ) -> StoreResult<()> {
        let changed_on = result
            .posture_modified_date
            .clone()
            .or_else(|| result.evaluation_date.clone())
            .unwrap_or_else(|| crate::time::format_utc(crate::time::now()));
        let mut history_key = key.to_vec();
        history_key.push(0);
        history_key.extend_from_slice(changed_on.as_bytes());
        let row = HistoryRow {
            key: result.key.clone(),
            previous_status: Some(previous),
            status: result.status.clone(),
            changed_on,
            run_id,
        };
        self.tree(HISTORY)?
            .insert(history_key, encode(&row))
            .map_err(|source| self.sled_error(source))?;
        Ok(())
    }

    pub fn result(&self, key: &ResultKey) -> StoreResult<Option<Row<ResultRow>>> {
        let mut key = key.clone();
        normalise_instance(&mut key);
        self.tree(TableName::Result.as_str())?
            .get(result_key_bytes(&key))
            .map_err(|source| self.sled_error(source))?
            .map(|bytes| decode(TableName::Result.as_str(), &bytes))
            .transpose()
    }

    /// Results matching `filter`, in key order, passed one by one to `visit` so that a million
    /// rows are never one list. `visit` returns false to stop.
    pub fn visit_results(
        &self,
        filter: &ResultFilter,
        mut visit: impl FnMut(Row<ResultRow>) -> bool,
    ) -> StoreResult<()> {
        let tree = self.tree(TableName::Result.as_str())?;
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            match filter.policy_id {
                Some(policy_id) => Box::new(tree.scan_prefix(policy_id.to_be_bytes())),
                None => Box::new(tree.iter()),
            };
        for entry in entries {
            let (_, bytes) = entry.map_err(|source| self.sled_error(source))?;
            let row: Row<ResultRow> = decode(TableName::Result.as_str(), &bytes)?;
            if filter.matches(&row.data) && !visit(row) {
                break;
            }
        }
        Ok(())
    }

    /// The status changes of one result, oldest first.
    pub fn result_history(&self, key: &ResultKey) -> StoreResult<Vec<HistoryRow>> {
        let mut key = key.clone();
        normalise_instance(&mut key);
        let mut prefix = result_key_bytes(&key);
        prefix.push(0);
        let mut rows = Vec::new();
        for entry in self.tree(HISTORY)?.scan_prefix(prefix) {
            let (_, bytes) = entry.map_err(|source| self.sled_error(source))?;
            rows.push(decode(HISTORY, &bytes)?);
        }
        Ok(rows)
    }

    /// The number of history rows, for tests and reports.
    pub fn history_count(&self) -> StoreResult<usize> {
        Ok(self.tree(HISTORY)?.len())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::runtime::bindings::Record;

    pub(in crate::store) fn result(
        policy_id: u64,
        instance: &str,
        status: &str,
        modified: &str,
    ) -> Record {
        Record::TestResult(TestResult {
            key: ResultKey {
                policy_id,
                host_id: 1001,
                control_id: 1071,
                technology_id: 45,
                instance: instance.into(),
            },
            status: status.into(),
            previous_status: None,
            first_fail_date: Some("2026-01-01T00:00:00Z".into()),
            last_fail_date: None,
            first_pass_date: None,
            last_pass_date: None,
            posture_modified_date: Some(modified.into()),
            evaluation_date: Some(modified.into()),
            criticality: None,
            control_statement: None,
            control_reference: None,
            remediation: None,
            expected_values: None,
            actual_values: None,
            source: Vec::new(),
        })
    }

    fn key(policy_id: u64, instance: &str) -> ResultKey {
        ResultKey {
            policy_id,
            host_id: 1001,
            control_id: 1071,
            technology_id: 45,
            instance: instance.into(),
        }
    }

    #[test]
    fn lifecycle_closes_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let t1 = "2026-02-01T00:00:00Z";
        let t2 = "2026-03-01T00:00:00Z";
        let t3 = "2026-04-01T00:00:00Z";

        assert_eq!(
            store.upsert(1, result(7, "", "Failed", t1)).unwrap(),
            Change::New
        );
        let row = store.result(&key(7, "os")).unwrap().unwrap();
        assert_eq!(row.data.state, "Open");
        assert_eq!(row.data.first_seen.as_deref(), Some("2026-01-01T00:00:00Z"));

        assert_eq!(
            store.upsert(2, result(7, "os", "Failed", t1)).unwrap(),
            Change::Unchanged
        );

        assert_eq!(
            store.upsert(3, result(7, "os", "Passed", t2)).unwrap(),
            Change::Updated
        );
        assert_eq!(
            store.upsert(3, result(7, "os", "Passed", t2)).unwrap(),
            Change::Updated
        );
        let row = store.result(&key(7, "os")).unwrap().unwrap();
        assert_eq!(row.data.state, "Closed");
        assert_eq!(row.data.resolution.as_deref(), Some("Fixed"));
        assert_eq!(row.data.last_seen.as_deref(), Some(t2));
        assert_eq!(
            store.history_count().unwrap(),
            1,
            "processing twice does not double"
        );

        store.upsert(4, result(7, "os", "Failed", t3)).unwrap();
        let row = store.result(&key(7, "os")).unwrap().unwrap();
        assert_eq!(
            row.data.state, "Open",
            "a closed result that fails again reopens"
        );
        assert!(row.data.resolution.is_none());
        let history = store.result_history(&key(7, "")).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].previous_status.as_deref(), Some("Failed"));
        assert_eq!(history[0].status, "Passed");
        assert_eq!(history[1].status, "Failed");
    }

    #[test]
    fn policy_and_instance_are_part_of_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let t = "2026-02-01T00:00:00Z";
        store.upsert(1, result(7, "os", "Failed", t)).unwrap();
        store.upsert(1, result(8, "os", "Failed", t)).unwrap();
        for instance in ["ORCL1", "ORCL2", "ORCL3", "ORCL4", "ORCL5"] {
            store.upsert(1, result(7, instance, "Error", t)).unwrap();
        }
        assert_eq!(store.row_count(TableName::Result).unwrap(), 7);
        let row = store.result(&key(7, "ORCL3")).unwrap().unwrap();
        assert_eq!(row.data.result.status, "Error");
        assert_eq!(row.data.state, "Open");
    }

    #[test]
    fn older_result_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        store
            .upsert(1, result(1, "os", "Failed", "2026-02-01T00:00:00Z"))
            .unwrap();
        store
            .upsert(2, result(1, "os", "Passed", "2026-02-08T00:00:00Z"))
            .unwrap();
        let history = store.history_count().unwrap();

        // The first page again, as a reprocess of run 1 reads it.
        let change = store
            .upsert(3, result(1, "os", "Failed", "2026-02-01T00:00:00Z"))
            .unwrap();
        assert_eq!(change, Change::Unchanged);
        let row = store.result(&key(1, "os")).unwrap().unwrap();
        assert_eq!(row.data.result.status, "Passed");
        assert_eq!(row.data.state, "Closed");
        assert_eq!(store.history_count().unwrap(), history);
        assert!(store.results_not_passed(None, 10).unwrap().0.is_empty());
    }

    #[test]
    fn not_passed_pages_by_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let t = "2026-02-01T00:00:00Z";
        for (policy, status) in [(1, "Failed"), (2, "Passed"), (3, "Error"), (4, "Failed")] {
            store.upsert(1, result(policy, "os", status, t)).unwrap();
        }
        let (first, cursor) = store.results_not_passed(None, 2).unwrap();
        assert_eq!(
            first.iter().map(|k| k.policy_id).collect::<Vec<_>>(),
            [1, 3]
        );
        let (rest, cursor) = store.results_not_passed(cursor.as_deref(), 2).unwrap();
        assert_eq!(rest.iter().map(|k| k.policy_id).collect::<Vec<_>>(), [4]);
        assert!(cursor.is_none());
    }

    #[test]
    fn key_text_round_trips() {
        let key = parse_result_key("7:1001:1071:45:oracle19c:ORCL1").unwrap();
        assert_eq!(key.instance, "oracle19c:ORCL1");
        assert_eq!(format_result_key(&key), "7:1001:1071:45:oracle19c:ORCL1");
        assert_eq!(parse_result_key("7:1001:1071:45").unwrap().instance, "os");
        let error = parse_result_key("7:x:1071:45").unwrap_err();
        assert!(error.contains("host"), "{error}");
    }
}
