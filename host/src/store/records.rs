//! The compliance tables: upserts by natural key, change counts and snapshot inactivation.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::encoding::{decode, encode};
use super::{Store, StoreResult};
use crate::runtime::bindings::{
    Control, Policy, PolicyRef, PolicyTest, Record, ResultKey, ScannedHost, Technology,
};

/// The record tables, named as in the ServiceNow integration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableName {
    Policy,
    Test,
    PolicyTest,
    Technology,
    AuthSrc,
    Citation,
    Result,
    Host,
    PolicyHostId,
}

impl TableName {
    pub fn as_str(self) -> &'static str {
        match self {
            TableName::Policy => "sn_vulc_policy",
            TableName::Test => "sn_vulc_test",
            TableName::PolicyTest => "sn_vulc_policy_test",
            TableName::Technology => "sn_vulc_technology",
            TableName::AuthSrc => "sn_vulc_auth_src",
            TableName::Citation => "sn_vulc_citation",
            TableName::Result => "sn_vulc_result",
            TableName::Host => "sn_sec_cmn_src_ci",
            TableName::PolicyHostId => "sn_vul_qualys_policy_host_id",
        }
    }

    pub fn from_wit(table: crate::runtime::bindings::Table) -> TableName {
        use crate::runtime::bindings::Table;
        match table {
            Table::Policy => TableName::Policy,
            Table::Test => TableName::Test,
            Table::PolicyTest => TableName::PolicyTest,
            Table::Technology => TableName::Technology,
            Table::AuthSrc => TableName::AuthSrc,
            Table::Citation => TableName::Citation,
            Table::TestResult => TableName::Result,
            Table::Host => TableName::Host,
            Table::PolicyHostId => TableName::PolicyHostId,
        }
    }
}

/// Per-policy settings an operator makes, kept apart from what Qualys sends.
const POLICY_FLAGS: &str = "pcsync_policy_flags";

/// The run and page an upsert is made for. Counting by page makes a page processed
/// twice (after a crash) count the same, while two pages of one run that carry the same row
/// (a host named on every page) count it once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub run: u64,
    pub page: u32,
}

impl From<u64> for Position {
    /// The first page of run `run`.
    fn from(run: u64) -> Position {
        Position { run, page: 0 }
    }
}

/// The effect of an upsert on a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    New,
    Updated,
    Unchanged,
}

/// Row counts of a page or a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub errors: u64,
    /// Rows a snapshot run no longer saw, now inactive.
    pub inactive: u64,
    /// Work left out on purpose, for example inactive policies a job does not query.
    pub skipped: u64,
}

impl Counts {
    pub fn record(&mut self, change: Change) {
        match change {
            Change::New => self.new += 1,
            Change::Updated => self.updated += 1,
            Change::Unchanged => self.unchanged += 1,
        }
    }

    pub fn add(&mut self, other: &Counts) {
        self.new += other.new;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.errors += other.errors;
        self.inactive += other.inactive;
        self.skipped += other.skipped;
    }
}

/// A stored row: the record as the component emitted it plus the store's bookkeeping.
///
/// `created_*` and `updated_*` make processing a page twice in the same run count the same: a
/// row created or updated by this page counts as new or updated again, not as unchanged.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Row<T> {
    pub data: T,
    /// False once a full snapshot run no longer returned the row. Rows are never deleted.
    pub present: bool,
    pub created_run: u64,
    pub created_page: u32,
    pub updated_run: u64,
    pub updated_page: u32,
    pub last_seen_run: u64,
    pub created_on: String,
    pub updated_on: String,
}

/// A policy row as the CLI and API show it.
pub type PolicyRow = Row<Policy>;

pub(crate) fn result_key_bytes(key: &ResultKey) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32 + key.instance.len());
    for part in [
        key.policy_id,
        key.host_id,
        key.control_id,
        key.technology_id,
    ] {
        bytes.extend_from_slice(&part.to_be_bytes());
    }
    bytes.extend_from_slice(key.instance.as_bytes());
    bytes
}

fn pair_key(first: u64, second: u64) -> Vec<u8> {
    let mut bytes = first.to_be_bytes().to_vec();
    bytes.extend_from_slice(&second.to_be_bytes());
    bytes
}

/// The table and natural key of a record.
fn locate(record: &Record) -> (TableName, Vec<u8>) {
    match record {
        Record::Policy(policy) => (TableName::Policy, policy.id.to_be_bytes().to_vec()),
        Record::Test(control) => (TableName::Test, control.id.to_be_bytes().to_vec()),
        Record::PolicyTest(link) => (
            TableName::PolicyTest,
            pair_key(link.policy_id, link.control_id),
        ),
        Record::Technology(technology) => {
            (TableName::Technology, technology.id.to_be_bytes().to_vec())
        }
        Record::AuthSrc(source) => (TableName::AuthSrc, source.id.to_be_bytes().to_vec()),
        Record::Citation(citation) => {
            let mut key = pair_key(citation.auth_src_id, citation.control_id);
            key.extend_from_slice(citation.reference.as_bytes());
            (TableName::Citation, key)
        }
        Record::TestResult(result) => (TableName::Result, result_key_bytes(&result.key)),
        Record::Host(host) => (TableName::Host, host.id.to_be_bytes().to_vec()),
        Record::PolicyHostId(link) => {
            let mut key = pair_key(link.policy_id, link.host_id);
            key.extend_from_slice(&link.subscription_id.to_be_bytes());
            (TableName::PolicyHostId, key)
        }
    }
}

impl Store {
    /// Upserts one record by its natural key on behalf of run `run_id`.
    pub fn upsert(&self, position: impl Into<Position>, record: Record) -> StoreResult<Change> {
        let position = position.into();
        let (table, key) = locate(&record);
        match record {
            Record::Policy(data) => self.upsert_row(table, &key, data, position),
            Record::Test(data) => self.upsert_row(table, &key, data, position),
            Record::PolicyTest(data) => self.upsert_row(table, &key, data, position),
            Record::Technology(data) => self.upsert_row(table, &key, data, position),
            Record::AuthSrc(data) => self.upsert_row(table, &key, data, position),
            Record::Citation(data) => self.upsert_row(table, &key, data, position),
            Record::TestResult(data) => self.upsert_result(position, data),
            Record::Host(data) => self.upsert_host(&key, data, position),
            Record::PolicyHostId(data) => self.upsert_row(table, &key, data, position),
        }
    }

    fn upsert_row<T>(
        &self,
        table: TableName,
        key: &[u8],
        data: T,
        position: Position,
    ) -> StoreResult<Change>
    where
        T: Serialize + DeserializeOwned + PartialEq,
    {
        self.upsert_merged(table, key, position, |_| Ok(data))
    }

    /// Upserts a scanned host. A host scanned earlier than the stored one, as when older pages
    /// are processed again, keeps the stored row: an old page never puts an old scan back.
    fn upsert_host(
        &self,
        key: &[u8],
        host: ScannedHost,
        position: Position,
    ) -> StoreResult<Change> {
        self.upsert_merged(
            TableName::Host,
            key,
            position,
            |stored: Option<&ScannedHost>| {
                let older = stored.is_some_and(|stored| {
                    matches!(
                        (&host.last_scan_date, &stored.last_scan_date),
                        (Some(incoming), Some(stored)) if incoming < stored
                    )
                });
                Ok(match stored {
                    Some(stored) if older => stored.clone(),
                    _ => host.clone(),
                })
            },
        )
    }

    /// Upserts the row at `key`, whose new data `merge` derives from the stored data (if any).
    pub(crate) fn upsert_merged<T>(
        &self,
        table: TableName,
        key: &[u8],
        position: Position,
        merge: impl FnOnce(Option<&T>) -> StoreResult<T>,
    ) -> StoreResult<Change>
    where
        T: Serialize + DeserializeOwned + PartialEq,
    {
        let tree = self.tree(table.as_str())?;
        let now = crate::time::format_utc(crate::time::now());
        let existing = tree
            .get(key)
            .map_err(|source| self.sled_error(source))?
            .map(|bytes| decode::<Row<T>>(table.as_str(), &bytes))
            .transpose()?;
        let data = merge(existing.as_ref().map(|row| &row.data))?;
        let Position { run, page } = position;

        let (row, change) = match existing {
            None => (
                Row {
                    data,
                    present: true,
                    created_run: run,
                    created_page: page,
                    updated_run: run,
                    updated_page: page,
                    last_seen_run: run,
                    created_on: now.clone(),
                    updated_on: now,
                },
                Change::New,
            ),
            Some(mut row) => {
                let differs = row.data != data || !row.present;
                let change = if (row.created_run, row.created_page) == (run, page) {
                    Change::New
                } else if (row.updated_run, row.updated_page) == (run, page) || differs {
                    Change::Updated
                } else {
                    Change::Unchanged
                };
                if differs {
                    row.data = data;
                    row.updated_on = now;
                }
                if change == Change::Updated {
                    row.updated_run = run;
                    row.updated_page = page;
                }
                row.present = true;
                row.last_seen_run = run;
                (row, change)
            }
        };
        tree.insert(key, encode(&row))
            .map_err(|source| self.sled_error(source))?;
        Ok(change)
    }

    /// Marks every present row of `table` that run `run_id` did not see as no longer present,
    /// and returns how many. Called at the end of a successful snapshot run.
    pub fn inactivate_unseen(&self, table: TableName, run_id: u64) -> StoreResult<u64> {
        let tree = self.tree(table.as_str())?;
        let mut count = 0;
        for entry in tree.iter() {
            let (key, bytes) = entry.map_err(|source| self.sled_error(source))?;
            let Some(updated) = mark_unseen(&bytes, run_id, table)? else {
                continue;
            };
            tree.insert(key, updated)
                .map_err(|source| self.sled_error(source))?;
            count += 1;
        }
        Ok(count)
    }

    /// Marks inactive the `sn_vulc_policy_test` links of `policy_ids` that run `run_id` did
    /// not see, and returns how many. Links of other policies are left alone.
    pub fn inactivate_unseen_links(&self, policy_ids: &[u64], run_id: u64) -> StoreResult<u64> {
        let tree = self.tree(TableName::PolicyTest.as_str())?;
        let mut count = 0;
        for policy_id in policy_ids {
            for entry in tree.scan_prefix(policy_id.to_be_bytes()) {
                let (key, bytes) = entry.map_err(|source| self.sled_error(source))?;
                let Some(updated) = mark_unseen(&bytes, run_id, TableName::PolicyTest)? else {
                    continue;
                };
                tree.insert(key, updated)
                    .map_err(|source| self.sled_error(source))?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// The control links of one policy, in export order.
    pub fn policy_tests(&self, policy_id: u64) -> StoreResult<Vec<Row<PolicyTest>>> {
        let mut rows: Vec<Row<PolicyTest>> = Vec::new();
        for entry in self
            .tree(TableName::PolicyTest.as_str())?
            .scan_prefix(policy_id.to_be_bytes())
        {
            let (_, bytes) = entry.map_err(|source| self.sled_error(source))?;
            rows.push(decode(TableName::PolicyTest.as_str(), &bytes)?);
        }
        rows.sort_by_key(|row| row.data.position);
        Ok(rows)
    }

    /// Every control, by id.
    pub fn controls(&self) -> StoreResult<Vec<Row<Control>>> {
        let mut rows = Vec::new();
        for entry in self.tree(TableName::Test.as_str())?.iter() {
            let (_, bytes) = entry.map_err(|source| self.sled_error(source))?;
            rows.push(decode(TableName::Test.as_str(), &bytes)?);
        }
        Ok(rows)
    }

    pub fn control(&self, id: u64) -> StoreResult<Option<Row<Control>>> {
        self.tree(TableName::Test.as_str())?
            .get(id.to_be_bytes())
            .map_err(|source| self.sled_error(source))?
            .map(|bytes| decode(TableName::Test.as_str(), &bytes))
            .transpose()
    }

    /// Every host, by Qualys host id.
    pub fn hosts(&self) -> StoreResult<Vec<Row<ScannedHost>>> {
        let mut rows = Vec::new();
        for entry in self.tree(TableName::Host.as_str())?.iter() {
            let (_, bytes) = entry.map_err(|source| self.sled_error(source))?;
            rows.push(decode(TableName::Host.as_str(), &bytes)?);
        }
        Ok(rows)
    }

    /// Every technology, by id.
    pub fn technologies(&self) -> StoreResult<Vec<Row<Technology>>> {
        let mut rows = Vec::new();
        for entry in self.tree(TableName::Technology.as_str())?.iter() {
            let (_, bytes) = entry.map_err(|source| self.sled_error(source))?;
            rows.push(decode(TableName::Technology.as_str(), &bytes)?);
        }
        Ok(rows)
    }

    /// Policies a job that works per policy leaves out: no longer returned, inactive in
    /// Qualys, or with their import disabled.
    pub fn skipped_policy_count(&self) -> StoreResult<u64> {
        let mut count = 0;
        for row in self.policies()? {
            let active = row.present && row.data.status.eq_ignore_ascii_case("active");
            if !active || self.policy_import_disabled(row.data.id)? {
                count += 1;
            }
        }
        Ok(count)
    }

    /// The number of rows in a table.
    pub fn row_count(&self, table: TableName) -> StoreResult<usize> {
        Ok(self.tree(table.as_str())?.len())
    }

    /// Every policy row, by id.
    pub fn policies(&self) -> StoreResult<Vec<PolicyRow>> {
        let mut rows = Vec::new();
        for entry in self.tree(TableName::Policy.as_str())?.iter() {
            let (_, bytes) = entry.map_err(|source| self.sled_error(source))?;
            rows.push(decode(TableName::Policy.as_str(), &bytes)?);
        }
        Ok(rows)
    }

    pub fn policy(&self, id: u64) -> StoreResult<Option<PolicyRow>> {
        self.tree(TableName::Policy.as_str())?
            .get(id.to_be_bytes())
            .map_err(|source| self.sled_error(source))?
            .map(|bytes| decode(TableName::Policy.as_str(), &bytes))
            .transpose()
    }

    /// Whether an operator disabled the import of a policy's details and results.
    pub fn policy_import_disabled(&self, id: u64) -> StoreResult<bool> {
        Ok(self
            .tree(POLICY_FLAGS)?
            .get(id.to_be_bytes())
            .map_err(|source| self.sled_error(source))?
            .is_some_and(|value| value.first() == Some(&1)))
    }

    pub fn set_policy_import_disabled(&self, id: u64, disabled: bool) -> StoreResult<()> {
        self.tree(POLICY_FLAGS)?
            .insert(id.to_be_bytes(), &[u8::from(disabled)][..])
            .map_err(|source| self.sled_error(source))?;
        Ok(())
    }

    /// Active policies after `cursor` (a policy id), up to `limit`: present in the last
    /// snapshot and with Qualys status `active`. Import-disabled ones are included with their
    /// flag so a job can count them as skipped.
    pub fn active_policies(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<(Vec<PolicyRef>, Option<String>)> {
        let after = match cursor {
            None => 0,
            Some(text) => text.parse::<u64>().map_err(|_| {
                super::StoreError::Invalid(format!(
                    "invalid policy cursor `{text}`: expected a policy id"
                ))
            })?,
        };
        let tree = self.tree(TableName::Policy.as_str())?;
        let start = after.saturating_add(u64::from(cursor.is_some()));
        let mut policies = Vec::new();
        for entry in tree.range(start.to_be_bytes()..) {
            let (_, bytes) = entry.map_err(|source| self.sled_error(source))?;
            let row: PolicyRow = decode(TableName::Policy.as_str(), &bytes)?;
            if !row.present || !row.data.status.eq_ignore_ascii_case("active") {
                continue;
            }
            let id = row.data.id;
            policies.push(PolicyRef {
                id: row.data.id,
                title: row.data.title.clone(),
                last_evaluated: row.data.last_evaluated.clone(),
                import_disabled: self.policy_import_disabled(row.data.id)?,
            });
            if policies.len() >= limit as usize {
                return Ok((policies, Some(id.to_string())));
            }
        }
        Ok((policies, None))
    }
}

/// The row with `present` cleared when `run_id` did not see it; none when nothing changes.
fn mark_unseen(bytes: &[u8], run_id: u64, table: TableName) -> StoreResult<Option<Vec<u8>>> {
    // The row must be decoded with its table's type to be written back unchanged.
    macro_rules! with_type {
        ($t:ty) => {{
            let mut row: Row<$t> = decode(table.as_str(), bytes)?;
            if !row.present || row.last_seen_run == run_id {
                return Ok(None);
            }
            row.present = false;
            row.updated_run = run_id;
            row.updated_page = u32::MAX;
            row.updated_on = crate::time::format_utc(crate::time::now());
            Ok(Some(encode(&row)))
        }};
    }
    use crate::runtime::bindings as wit;
    match table {
        TableName::Policy => with_type!(wit::Policy),
        TableName::Test => with_type!(wit::Control),
        TableName::PolicyTest => with_type!(wit::PolicyTest),
        TableName::Technology => with_type!(wit::Technology),
        TableName::AuthSrc => with_type!(wit::AuthSrc),
        TableName::Citation => with_type!(wit::Citation),
        TableName::Result => with_type!(super::results::ResultRow),
        TableName::Host => with_type!(wit::ScannedHost),
        TableName::PolicyHostId => with_type!(wit::PolicyHostId),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::Stamp;

    fn policy(id: u64, title: &str) -> Record {
        Record::Policy(Policy {
            id,
            title: title.into(),
            created: Stamp {
                datetime: None,
                by: None,
            },
            last_modified: Stamp {
                datetime: None,
                by: None,
            },
            last_evaluated: None,
            status: "active".into(),
            locked: false,
            technology_ids: Vec::new(),
            source: Vec::new(),
        })
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        (dir, store)
    }

    #[test]
    fn same_page_twice_counts_the_same() {
        let (_dir, store) = store();
        assert_eq!(store.upsert(1, policy(7, "a")).unwrap(), Change::New);
        assert_eq!(store.upsert(1, policy(7, "a")).unwrap(), Change::New);

        assert_eq!(store.upsert(2, policy(7, "b")).unwrap(), Change::Updated);
        assert_eq!(store.upsert(2, policy(7, "b")).unwrap(), Change::Updated);

        assert_eq!(store.upsert(3, policy(7, "b")).unwrap(), Change::Unchanged);
        assert_eq!(store.row_count(TableName::Policy).unwrap(), 1);
    }

    #[test]
    fn unseen_rows_become_inactive_once() {
        let (_dir, store) = store();
        store.upsert(1, policy(1, "a")).unwrap();
        store.upsert(1, policy(2, "b")).unwrap();
        store.upsert(2, policy(1, "a")).unwrap();

        assert_eq!(store.inactivate_unseen(TableName::Policy, 2).unwrap(), 1);
        assert_eq!(store.inactivate_unseen(TableName::Policy, 2).unwrap(), 0);
        assert!(!store.policy(2).unwrap().unwrap().present);
        assert!(store.policy(1).unwrap().unwrap().present);
    }

    #[test]
    fn active_policies_page_by_cursor() {
        let (_dir, store) = store();
        for id in 1..=5 {
            store.upsert(1, policy(id, "p")).unwrap();
        }
        store.set_policy_import_disabled(3, true).unwrap();

        let (first, cursor) = store.active_policies(None, 2).unwrap();
        assert_eq!(first.iter().map(|p| p.id).collect::<Vec<_>>(), [1, 2]);
        let (rest, cursor) = store.active_policies(cursor.as_deref(), 10).unwrap();
        assert_eq!(rest.iter().map(|p| p.id).collect::<Vec<_>>(), [3, 4, 5]);
        assert!(cursor.is_none());
        assert!(rest[0].import_disabled);
    }
}
