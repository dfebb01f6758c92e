//! Plain Rust counterparts of the `pcsync:job` WIT types that every job component uses.
//!
//! A component's library works with these types so it can be tested natively. Its binding layer
//! converts them to and from the types that `wit_bindgen::generate!` makes in that crate.

use crate::error::{Error, QualysError};
use crate::results::ResultKey;
use crate::warning::FollowUp;

/// Version of the `pcsync:job` WIT package the components are built against.
pub const WIT_VERSION: &str = "1.0.0";

/// The Qualys API a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The classic XML API ("FO").
    Classic,
    /// The gateway JSON API (PCRS posture streaming).
    Gateway,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// A request body with its media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub content_type: String,
    pub data: Vec<u8>,
}

/// One request to Qualys, without a host name or credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub api: Api,
    pub method: Method,
    /// Absolute path below the base URL, for example `/api/5.0/fo/compliance/policy/`.
    pub path: String,
    /// Query parameters in order. Names may repeat.
    pub query: Vec<(String, String)>,
    pub body: Option<Body>,
    /// Whether the host must inflate the body although no `Content-Encoding` header says so.
    pub gzip: bool,
    /// Opaque to the host and handed back to `process` with the page.
    pub tag: String,
}

impl Request {
    /// Builds a GET request without a body.
    pub fn get(api: Api, path: impl Into<String>, query: Vec<(String, String)>) -> Self {
        Self {
            api,
            method: Method::Get,
            path: path.into(),
            query,
            body: None,
            gzip: false,
            tag: String::new(),
        }
    }

    /// Builds the GET request for the next page named by a truncation WARNING. The API, gzip
    /// flag and tag are copied from this request.
    pub fn follow_up(&self, next: FollowUp) -> Self {
        Self {
            api: self.api,
            method: Method::Get,
            path: next.path,
            query: next.query,
            body: None,
            gzip: self.gzip,
            tag: self.tag.clone(),
        }
    }
}

/// The tables of the store, named as in the WIT `table` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Policy,
    Test,
    PolicyTest,
    Technology,
    AuthSrc,
    Citation,
    TestResult,
    Host,
    PolicyHostId,
}

/// A component's statement about itself, returned by `describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub job_id: String,
    /// The component's own version, semver.
    pub component_version: String,
    /// The version of the WIT package the component was built against.
    pub wit_version: String,
    pub api: Api,
    pub tables: Vec<Table>,
    /// Whether rows of the tables that a successful run did not see become inactive.
    pub snapshot: bool,
}

/// A field Qualys sent that the typed record does not name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceField {
    /// Slash-separated element path, for example `TAG_SET_INCLUDE/TAG_ITEM_ID`.
    pub name: String,
    pub value: String,
}

impl SourceField {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The run that `plan` plans requests for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunContext {
    pub run_id: String,
    /// UTC `YYYY-MM-DDTHH:MM:SSZ`: the job's Start Time as the host resolved it.
    pub start_time: Option<String>,
}

/// One slice of a plan. The host calls `plan` again with `cursor` until it is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSlice {
    pub requests: Vec<Request>,
    pub cursor: Option<String>,
}

/// The result of processing one page, besides the emitted records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessOutput {
    /// Requests to make next, for example the next page from a truncation WARNING.
    pub follow_ups: Vec<Request>,
    /// Problems that do not fail the run.
    pub warnings: Vec<String>,
    /// The DATETIME Qualys put in the response, UTC.
    pub response_datetime: Option<String>,
    /// Policies whose control links this page describes completely; the host inactivates
    /// their links that the run did not emit.
    pub complete_policies: Vec<u64>,
}

/// A failure to plan or process, as the WIT `job-error` variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The page is not what the component expected.
    #[error("invalid page: {0}")]
    InvalidPage(String),
    /// Qualys returned an error document.
    #[error(transparent)]
    Qualys(QualysError),
    /// A host call failed, for example `emit` rejected a batch.
    #[error("host call failed: {0}")]
    Host(String),
    /// A job parameter has a value the component cannot use.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
}

impl From<Error> for JobError {
    fn from(error: Error) -> Self {
        match error {
            Error::Qualys(qualys) => JobError::Qualys(qualys),
            other => JobError::InvalidPage(other.to_string()),
        }
    }
}

/// A policy from the host's store, as `active-policies` returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRef {
    pub id: u64,
    pub title: String,
    /// UTC `YYYY-MM-DDTHH:MM:SSZ`, or `None` for a policy never evaluated.
    pub last_evaluated: Option<String>,
    /// Whether an operator disabled this policy's import.
    pub import_disabled: bool,
}

/// Severity of a line in the run's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// The host imports a component's library calls, implemented over the WIT imports in the
/// binding layer and by recording fakes in tests.
pub trait JobHost {
    /// The record type the component emits, converted to the WIT `record` by the binding layer.
    type Record;

    /// Writes a line into the run's log.
    fn log(&mut self, level: LogLevel, message: &str);

    /// Stores a batch of records. The error is the message from the host.
    fn emit(&mut self, records: Vec<Self::Record>) -> Result<(), String>;

    /// Returns a job parameter from the configuration.
    fn parameter(&mut self, name: &str) -> Option<String>;

    /// Returns up to `limit` active policies after `cursor`, ordered by id, and the cursor of
    /// the next page, or `None` after the last page.
    ///
    /// The default returns no policies and no cursor, for the hosts of jobs that never ask.
    fn active_policies(
        &mut self,
        _cursor: Option<&str>,
        _limit: u32,
    ) -> (Vec<PolicyRef>, Option<String>) {
        (Vec::new(), None)
    }

    /// Returns up to `limit` keys of results that are not Passed after `cursor`, ordered by
    /// policy, host, control, technology and instance, and the cursor of the next page, or
    /// `None` after the last page. A cursor is the text form of a key
    /// ([`crate::format_result_key`]).
    ///
    /// The default returns no keys and no cursor, for the hosts of jobs that never ask.
    fn results_not_passed(
        &mut self,
        _cursor: Option<&str>,
        _limit: u32,
    ) -> (Vec<ResultKey>, Option<String>) {
        (Vec::new(), None)
    }
}

/// Collects records and emits them in batches of a fixed size, so a page is never held whole.
pub struct RecordBatch<T> {
    records: Vec<T>,
    batch_size: usize,
    emitted_records: u64,
    emitted_batches: u64,
}

impl<T> RecordBatch<T> {
    /// Creates a batch that emits every `batch_size` records (at least 1).
    pub fn new(batch_size: usize) -> Self {
        let batch_size = batch_size.max(1);
        Self {
            records: Vec::with_capacity(batch_size),
            batch_size,
            emitted_records: 0,
            emitted_batches: 0,
        }
    }

    /// Adds a record, emitting the batch through `host` once it is full.
    pub fn push<H: JobHost<Record = T>>(
        &mut self,
        record: T,
        host: &mut H,
    ) -> Result<(), JobError> {
        self.records.push(record);
        if self.records.len() >= self.batch_size {
            self.flush(host)?;
        }
        Ok(())
    }

    /// Emits the records not emitted yet, if any.
    pub fn flush<H: JobHost<Record = T>>(&mut self, host: &mut H) -> Result<(), JobError> {
        if self.records.is_empty() {
            return Ok(());
        }
        let records = std::mem::replace(&mut self.records, Vec::with_capacity(self.batch_size));
        let count = records.len() as u64;
        host.emit(records).map_err(JobError::Host)?;
        self.emitted_records += count;
        self.emitted_batches += 1;
        Ok(())
    }

    /// Number of records emitted so far.
    pub fn emitted_records(&self) -> u64 {
        self.emitted_records
    }

    /// Number of `emit` calls so far.
    pub fn emitted_batches(&self) -> u64 {
        self.emitted_batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Recorder {
        batches: Vec<Vec<u32>>,
        fail: bool,
    }

    impl JobHost for Recorder {
        type Record = u32;

        fn log(&mut self, _level: LogLevel, _message: &str) {}

        fn emit(&mut self, records: Vec<u32>) -> Result<(), String> {
            if self.fail {
                return Err("batch too large".to_owned());
            }
            self.batches.push(records);
            Ok(())
        }

        fn parameter(&mut self, _name: &str) -> Option<String> {
            None
        }
    }

    #[test]
    fn batches_of_fixed_size() {
        let mut host = Recorder {
            batches: Vec::new(),
            fail: false,
        };
        let mut batch = RecordBatch::new(3);

        for record in 0..7 {
            batch.push(record, &mut host).unwrap();
        }
        batch.flush(&mut host).unwrap();

        assert_eq!(host.batches, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        assert_eq!(batch.emitted_records(), 7);
        assert_eq!(batch.emitted_batches(), 3);
    }

    #[test]
    fn emit_failure_is_host_error() {
        let mut host = Recorder {
            batches: Vec::new(),
            fail: true,
        };
        let mut batch = RecordBatch::new(1);

        let error = batch.push(1, &mut host).unwrap_err();

        assert_eq!(error, JobError::Host("batch too large".to_owned()));
    }

    #[test]
    fn wit_version_matches_wit_package() {
        let wit = include_str!("../../../wit/job.wit");
        let package_line = format!("package pcsync:job@{WIT_VERSION};");

        assert!(wit.lines().any(|line| line.trim() == package_line));
    }
}
