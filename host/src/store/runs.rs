//! Runs, import rows and per-job state.

use std::collections::VecDeque;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::encoding::{decode, encode};
use super::records::Counts;
use super::{Store, StoreError, StoreResult};
use crate::jobs::JobId;
use crate::runtime::bindings::Request;

const RUNS: &str = "pcsync_runs";
const JOB_STATE: &str = "pcsync_job_state";

/// The key under which the job state tree keeps the last run id handed out.
const NEXT_RUN_ID: &str = "#last_run_id";

/// The origin of a run: the scheduler, a person or a chained job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Manual,
    Chained,
    /// Stored pages run again through the current component; nothing is fetched.
    Reprocess,
}

/// The state of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Queued,
    Retrieving,
    Processing,
    Complete,
    Error,
    Cancelled,
}

impl RunState {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunState::Complete | RunState::Error | RunState::Cancelled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Retrieving => "retrieving",
            RunState::Processing => "processing",
            RunState::Complete => "complete",
            RunState::Error => "error",
            RunState::Cancelled => "cancelled",
        }
    }
}

/// One run of one job. Written before anything is fetched, and after every page, so that a
/// crash resumes from `pending`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    pub id: u64,
    pub job: String,
    pub trigger: Trigger,
    pub state: RunState,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// The Start Time the run used, UTC; none for snapshot jobs.
    pub start_time: Option<String>,
    pub component_sha256: String,
    pub pages_fetched: u64,
    pub counts: Counts,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    /// The DATETIME of the run's first response, from which the Start Time advances.
    pub first_response_datetime: Option<String>,
    /// Requests not yet fetched.
    pub pending: VecDeque<Request>,
    /// The `plan` cursor to continue from; none once `plan_done`.
    pub plan_cursor: Option<String>,
    pub plan_done: bool,
    /// The sequence number the next import row gets.
    pub next_page: u32,
    /// Policies whose control links a page of this run described completely; their links the
    /// run did not see become inactive when it succeeds.
    pub complete_policies: Vec<u64>,
    /// The peak resident memory of the process that ended the run, in KiB, where the operating
    /// system reports it (Linux).
    pub peak_memory_kib: Option<u64>,
}

/// The processing state of an import row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportState {
    /// The body is stored; the component has not processed it yet.
    Fetched,
    Processed,
    Error,
}

/// One fetched page: the import tables of the ServiceNow integration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ImportRow {
    pub run_id: u64,
    pub page: u32,
    pub job: String,
    pub request: Request,
    pub state: ImportState,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body, gzip-compressed, relative to the attachments directory.
    pub attachment: String,
    /// Body bytes as Qualys sent them (after any transport decompression).
    pub body_bytes: u64,
    pub fetched_at: String,
    pub processed_at: Option<String>,
    pub counts: Counts,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

/// Per-job state kept across runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct JobState {
    /// UTC; delta jobs fetch changes since this time.
    pub start_time: Option<String>,
}

/// The import table a job's pages are kept in.
pub fn import_table(job: JobId) -> &'static str {
    match job {
        JobId::PcPolicies | JobId::PcPolicyDetails | JobId::PcControls => {
            "sn_vul_qualys_pc_policy_import"
        }
        JobId::PcResults
        | JobId::PcComprehensiveResults
        | JobId::PcrsTestResults
        | JobId::PcrsComprehensiveTestResults => "sn_vul_qualys_pc_result_import",
        JobId::PcrsPolicyHosts | JobId::PcrsComprehensivePolicyHosts => {
            "sn_vul_qualys_pcrs_policy_host_import"
        }
    }
}

/// Every import table.
const IMPORT_TABLES: [&str; 3] = [
    "sn_vul_qualys_pc_policy_import",
    "sn_vul_qualys_pc_result_import",
    "sn_vul_qualys_pcrs_policy_host_import",
];

fn import_key(run_id: u64, page: u32) -> [u8; 12] {
    let mut key = [0; 12];
    key[..8].copy_from_slice(&run_id.to_be_bytes());
    key[8..].copy_from_slice(&page.to_be_bytes());
    key
}

impl Store {
    /// Creates a run record in state queued and returns it.
    pub fn create_run(
        &self,
        job: JobId,
        trigger: Trigger,
        component_sha256: &str,
    ) -> StoreResult<RunRecord> {
        let id = self.next_run_id()?;
        let run = RunRecord {
            id,
            job: job.as_str().to_string(),
            trigger,
            state: RunState::Queued,
            started_at: crate::time::format_utc(crate::time::now()),
            ended_at: None,
            start_time: None,
            component_sha256: component_sha256.to_string(),
            pages_fetched: 0,
            counts: Counts::default(),
            warnings: Vec::new(),
            error: None,
            first_response_datetime: None,
            pending: VecDeque::new(),
            plan_cursor: None,
            plan_done: false,
            next_page: 0,
            complete_policies: Vec::new(),
            peak_memory_kib: None,
        };
        self.save_run(&run)?;
        Ok(run)
    }

    /// Run ids count 1, 2, 3 across restarts (sled's own id generator jumps after a restart).
    fn next_run_id(&self) -> StoreResult<u64> {
        let previous = self
            .tree(JOB_STATE)?
            .fetch_and_update(NEXT_RUN_ID, |current| {
                let next = current
                    .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                    .map_or(1, |bytes| u64::from_be_bytes(bytes) + 1);
                Some(next.to_be_bytes().to_vec())
            })
            .map_err(|source| self.sled_error(source))?;
        Ok(previous
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_ref()).ok())
            .map_or(1, |bytes| u64::from_be_bytes(bytes) + 1))
    }

    pub fn save_run(&self, run: &RunRecord) -> StoreResult<()> {
        self.tree(RUNS)?
            .insert(run.id.to_be_bytes(), encode(run))
            .map_err(|source| self.sled_error(source))?;
        Ok(())
    }

    pub fn run(&self, id: u64) -> StoreResult<Option<RunRecord>> {
        let value = self
            .tree(RUNS)?
            .get(id.to_be_bytes())
            .map_err(|source| self.sled_error(source))?;
        value.map(|bytes| decode("run", &bytes)).transpose()
    }

    /// All runs, newest first, optionally of one job.
    pub fn runs(&self, job: Option<JobId>) -> StoreResult<Vec<RunRecord>> {
        let mut runs = Vec::new();
        for entry in self.tree(RUNS)?.iter().rev() {
            let (_, bytes) = entry.map_err(|source| self.sled_error(source))?;
            let run: RunRecord = decode("run", &bytes)?;
            if job.is_none_or(|job| run.job == job.as_str()) {
                runs.push(run);
            }
        }
        Ok(runs)
    }

    /// The newest unfinished run of a job, which a new run resumes instead of starting over.
    pub fn unfinished_run(&self, job: JobId) -> StoreResult<Option<RunRecord>> {
        Ok(self
            .runs(Some(job))?
            .into_iter()
            .find(|run| !run.state.is_finished()))
    }

    /// Where a page's body is kept.
    pub fn attachment_path(&self, attachment: &str) -> PathBuf {
        self.attachments_dir().join(attachment)
    }

    /// Stores a fetched page's import row and the run's new position in one transaction, so a
    /// page is either recorded with its request removed from `pending`, or neither.
    pub fn record_fetched(&self, job: JobId, row: &ImportRow, run: &RunRecord) -> StoreResult<()> {
        self.write_import_and_run(job, row, run)
    }

    /// Marks a page processed together with the run's position (follow-up requests added).
    pub fn record_processed(
        &self,
        job: JobId,
        row: &ImportRow,
        run: &RunRecord,
    ) -> StoreResult<()> {
        self.write_import_and_run(job, row, run)
    }

    fn write_import_and_run(
        &self,
        job: JobId,
        row: &ImportRow,
        run: &RunRecord,
    ) -> StoreResult<()> {
        use sled::Transactional;

        let imports = self.tree(import_table(job))?;
        let runs = self.tree(RUNS)?;
        let row_bytes = encode(row);
        let run_bytes = encode(run);
        let key = import_key(row.run_id, row.page);
        (&imports, &runs)
            .transaction(|(imports, runs)| {
                imports.insert(&key[..], row_bytes.clone())?;
                runs.insert(&run.id.to_be_bytes()[..], run_bytes.clone())?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|error| match error {
                sled::transaction::TransactionError::Storage(source) => self.sled_error(source),
                sled::transaction::TransactionError::Abort(()) => {
                    StoreError::Invalid("import transaction aborted".into())
                }
            })?;
        Ok(())
    }

    pub fn save_import(&self, job: JobId, row: &ImportRow) -> StoreResult<()> {
        self.tree(import_table(job))?
            .insert(import_key(row.run_id, row.page), encode(row))
            .map_err(|source| self.sled_error(source))?;
        Ok(())
    }

    /// The import rows of one run, in page order.
    pub fn imports_of_run(&self, job: JobId, run_id: u64) -> StoreResult<Vec<ImportRow>> {
        let mut rows = Vec::new();
        for entry in self
            .tree(import_table(job))?
            .scan_prefix(run_id.to_be_bytes())
        {
            let (_, bytes) = entry.map_err(|source| self.sled_error(source))?;
            let row: ImportRow = decode("import row", &bytes)?;
            if row.job == job.as_str() {
                rows.push(row);
            }
        }
        Ok(rows)
    }

    /// Every import row of a job, oldest first.
    pub fn imports_of_job(&self, job: JobId) -> StoreResult<Vec<ImportRow>> {
        let mut rows = Vec::new();
        for entry in self.tree(import_table(job))?.iter() {
            let (_, bytes) = entry.map_err(|source| self.sled_error(source))?;
            let row: ImportRow = decode("import row", &bytes)?;
            if row.job == job.as_str() {
                rows.push(row);
            }
        }
        Ok(rows)
    }

    /// Deletes processed import rows, and their attachment files, processed at or before
    /// `cutoff`.
    /// Rows not yet processed are kept whatever their age, since a resumed run still needs them.
    /// Returns how many rows were deleted.
    pub fn delete_processed_imports(&self, cutoff: &str) -> StoreResult<u64> {
        let cutoff = crate::time::parse_utc(cutoff)
            .map_err(|error| StoreError::Invalid(error.to_string()))?;
        let mut deleted = 0;
        for table in IMPORT_TABLES {
            let tree = self.tree(table)?;
            for entry in tree.iter() {
                let (key, bytes) = entry.map_err(|source| self.sled_error(source))?;
                let row: ImportRow = decode("import row", &bytes)?;
                let processed_before = row
                    .processed_at
                    .as_deref()
                    .and_then(|time| crate::time::parse_utc(time).ok())
                    .is_some_and(|time| time <= cutoff);
                if row.state != ImportState::Processed || !processed_before {
                    continue;
                }
                let path = self.attachment_path(&row.attachment);
                if let Err(error) = std::fs::remove_file(&path)
                    && error.kind() != std::io::ErrorKind::NotFound
                {
                    return Err(StoreError::Io {
                        dir: path,
                        source: error,
                    });
                }
                tree.remove(key).map_err(|source| self.sled_error(source))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    pub fn job_state(&self, job: JobId) -> StoreResult<JobState> {
        let value = self
            .tree(JOB_STATE)?
            .get(job.as_str())
            .map_err(|source| self.sled_error(source))?;
        Ok(value
            .map(|bytes| decode("job state", &bytes))
            .transpose()?
            .unwrap_or_default())
    }

    pub fn save_job_state(&self, job: JobId, state: &JobState) -> StoreResult<()> {
        self.tree(JOB_STATE)?
            .insert(job.as_str(), encode(state))
            .map_err(|source| self.sled_error(source))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::{Api, Method};

    fn row(run_id: u64, page: u32, state: ImportState, processed_at: Option<&str>) -> ImportRow {
        ImportRow {
            run_id,
            page,
            job: JobId::PcPolicies.as_str().into(),
            request: Request {
                api: Api::Classic,
                method: Method::Get,
                path: "/api/5.0/fo/compliance/policy/".into(),
                query: Vec::new(),
                body: None,
                gzip: false,
                tag: String::new(),
            },
            state,
            status: 200,
            headers: Vec::new(),
            attachment: format!("{run_id}/{page:06}.gz"),
            body_bytes: 1,
            fetched_at: "2026-01-01T00:00:00Z".into(),
            processed_at: processed_at.map(str::to_string),
            counts: Counts::default(),
            warnings: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn retention_keeps_unprocessed_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let old = Some("2026-01-01T00:00:00Z");
        store
            .save_import(JobId::PcPolicies, &row(1, 0, ImportState::Processed, old))
            .unwrap();
        store
            .save_import(JobId::PcPolicies, &row(1, 1, ImportState::Fetched, None))
            .unwrap();
        store
            .save_import(JobId::PcPolicies, &row(1, 2, ImportState::Error, None))
            .unwrap();
        let recent = Some("2026-06-01T00:00:00Z");
        store
            .save_import(
                JobId::PcPolicies,
                &row(2, 0, ImportState::Processed, recent),
            )
            .unwrap();

        let deleted = store
            .delete_processed_imports("2026-03-01T00:00:00Z")
            .unwrap();
        assert_eq!(deleted, 1);
        let kept: Vec<(u64, u32)> = store
            .imports_of_job(JobId::PcPolicies)
            .unwrap()
            .iter()
            .map(|row| (row.run_id, row.page))
            .collect();
        assert_eq!(kept, [(1, 1), (1, 2), (2, 0)]);
    }
}
