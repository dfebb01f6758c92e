//! The run loop: plan, fetch each request into an import row, process it, save the position.

use std::path::PathBuf;

use chrono::Duration as ChronoDuration;
use tracing::{info, info_span, warn};

use super::JobId;
use super::retry::{Progress, fetch_with_retries};
use super::services::StoreServices;
use crate::Pcsync;
use crate::qualys::FetchError;
use crate::runtime::bindings::{JobError, RunContext};
use crate::runtime::page::Page;
use crate::runtime::{JobInstance, LoadedComponent, RuntimeError};
use crate::store::{
    Counts, ImportRow, ImportState, RunRecord, RunState, StoreError, TableName, Trigger,
};

/// The end of the warning about a Start Time later than every policy's last evaluation.
const NOTHING_NEW_WARNING: &str = "this run will return nothing new";

/// How far back an empty Start Time reaches.
const DEFAULT_LOOKBACK_DAYS: i64 = 30;

/// Minutes subtracted from Qualys's time when the Start Time advances, so clock drift between
/// Qualys and this machine cannot lose a change. Job parameter `start_time_overlap_minutes`.
const DEFAULT_OVERLAP_MINUTES: i64 = 15;

/// The error that ended a run. Its message is stored on the run record.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Qualys error{}: {text}", code.map(|code| format!(" {code}")).unwrap_or_default())]
    Qualys { code: Option<u32>, text: String },
    #[error("{0}")]
    Job(String),
    #[error(
        "gave up after {attempts} attempts (retry.max_retries); the last one failed with: {last_error}. Check qualys.api_url or gateway_url, the network, and Qualys's status"
    )]
    GaveUp { attempts: u32, last_error: String },
    #[error(
        "stalled: no progress for {seconds} s (retry.stall_timeout_secs); the last attempt failed with: {last_error}"
    )]
    Stalled { seconds: u64, last_error: String },
    #[error(
        "Qualys rate limit: retry after {retry_after} (Qualys asked for a wait of {seconds} s, over limits.max_rate_limit_wait_secs)"
    )]
    RateLimited { retry_after: String, seconds: u64 },
}

impl RunError {
    fn from_job_error(error: JobError) -> RunError {
        match error {
            JobError::InvalidPage(text) => RunError::Job(format!("invalid page: {text}")),
            JobError::Qualys(error) => RunError::Qualys {
                code: error.code,
                text: error.text,
            },
            JobError::Host(text) => RunError::Job(format!("host call failed: {text}")),
            JobError::InvalidParameter(text) => {
                RunError::Job(format!("invalid job parameter: {text}"))
            }
        }
    }
}

impl Pcsync {
    /// Runs a job to its end, resuming its unfinished run if a crash left one, and returns the
    /// run record. A failed run is returned with state error and its message; `Err` means the
    /// run could not start or its record could not be written.
    pub fn run_job(&self, job: JobId, trigger: Trigger) -> anyhow::Result<RunRecord> {
        self.config().check_credentials()?;
        for name in self.config().unknown_parameters(job) {
            warn!(
                job = %job,
                parameter = %name,
                known = ?job.parameters(),
                "unknown job parameter in [jobs.{job}]; check its spelling"
            );
        }
        if let Some(before) = job.needs_completed_run_of()
            && !self.has_completed_run(before)?
        {
            anyhow::bail!(
                "{job} works on what {before} stored, and {before} has not completed a run yet; run `pcsync run {before}` first"
            );
        }
        if !self.config().job_active(job) {
            warn!(
                job = %job,
                "the job is inactive (its `active` setting, or the other result pipeline is active); running it because it was started by hand"
            );
        }
        let component = self.load_component(job)?;
        let mut run = match self.store().unfinished_run(job)? {
            Some(run) => {
                info!(job = %job, run = run.id, pages = run.pages_fetched, "resuming unfinished run");
                run
            }
            None => {
                let mut run = self.store().create_run(job, trigger, &component.sha256)?;
                run.start_time = self.resolve_start_time(job)?;
                if job.works_per_policy() {
                    run.counts.skipped = self.store().skipped_policy_count()?;
                }
                if let Some(warning) =
                    self.start_time_after_evaluations(run.start_time.as_deref())?
                {
                    warn!(job = %job, "{warning}");
                    run.warnings.push(warning);
                }
                self.store().save_run(&run)?;
                run
            }
        };

        let span =
            info_span!("run", job = %job, run = run.id, component = %&component.sha256[..12]);
        let _entered = span.enter();
        info!(trigger = ?run.trigger, start_time = ?run.start_time, "run started");

        let outcome = self.drive(job, &component, &mut run);
        match outcome {
            Ok(()) => self.finish(job, &component, &mut run)?,
            Err(error) => {
                warn!(error = %error, "run failed");
                run.state = RunState::Error;
                run.error = Some(error.to_string());
            }
        }
        run.ended_at = Some(crate::time::format_utc(crate::time::now()));
        run.peak_memory_kib = peak_memory_kib();
        self.store().save_run(&run)?;
        self.store().flush()?;
        self.clean_up_imports();
        info!(
            state = run.state.as_str(),
            pages = run.pages_fetched,
            new = run.counts.new,
            updated = run.counts.updated,
            unchanged = run.counts.unchanged,
            inactive = run.counts.inactive,
            peak_memory_kib = ?run.peak_memory_kib,
            "run ended"
        );
        Ok(run)
    }

    /// Checks whether `job` has a complete run that fetched from Qualys (a reprocess does not
    /// count).
    fn has_completed_run(&self, job: JobId) -> anyhow::Result<bool> {
        Ok(self
            .store()
            .runs(Some(job))?
            .iter()
            .any(|run| run.state == RunState::Complete && run.trigger != Trigger::Reprocess))
    }

    /// The Start Time a new run uses: the stored one, else the configured one, else 30 days
    /// back (logged, so an empty Start Time never silently imports nothing). None for the
    /// snapshot jobs, which ignore it.
    fn resolve_start_time(&self, job: JobId) -> anyhow::Result<Option<String>> {
        if !job.uses_start_time() {
            return Ok(None);
        }
        if let Some(stored) = self.store().job_state(job)?.start_time {
            // The job's first run used the configured Start Time; a value changed since then is
            // the one worth a warning.
            let first_run_start = self
                .store()
                .runs(Some(job))?
                .into_iter()
                .rev()
                .find_map(|run| run.start_time);
            if let Some(configured) = self.config().job(job).start_time.filter(|configured| {
                let configured = crate::time::parse_utc(configured).ok();
                let first = first_run_start
                    .as_deref()
                    .and_then(|first| crate::time::parse_utc(first).ok());
                configured != first
            }) {
                warn!(
                    job = %job,
                    stored = %stored,
                    configured = %configured,
                    "[jobs.{job}] start_time only sets the first run's Start Time; this run uses the stored one"
                );
            }
            return Ok(Some(stored));
        }
        if let Some(configured) = self.config().job(job).start_time {
            let time = crate::time::parse_utc(&configured)?;
            return Ok(Some(crate::time::format_utc(time)));
        }
        let default = crate::time::now() - ChronoDuration::days(DEFAULT_LOOKBACK_DAYS);
        let default = crate::time::format_utc(default);
        warn!(job = %job, start_time = %default, "Start Time is empty; using {DEFAULT_LOOKBACK_DAYS} days back");
        Ok(Some(default))
    }

    /// A warning when the Start Time is later than every active policy's last evaluation, so
    /// the run will return nothing.
    fn start_time_after_evaluations(
        &self,
        start_time: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        let Some(start_time) = start_time else {
            return Ok(None);
        };
        let start = crate::time::parse_utc(start_time)?;
        let (policies, _) = self.store().active_policies(None, u32::MAX)?;
        let latest = policies
            .iter()
            .filter_map(|policy| policy.last_evaluated.as_deref())
            .filter_map(|text| crate::time::parse_utc(text).ok())
            .max();
        Ok(match latest {
            Some(latest) if start > latest => Some(format!(
                "Start Time {start_time} is later than the last evaluation of every active policy ({}, as of the last PC Policies run); unless Qualys evaluated them since, {NOTHING_NEW_WARNING}",
                crate::time::format_utc(latest)
            )),
            _ => None,
        })
    }

    fn drive(
        &self,
        job: JobId,
        component: &LoadedComponent,
        run: &mut RunRecord,
    ) -> Result<(), RunError> {
        let context = RunContext {
            run_id: run.id.to_string(),
            start_time: run.start_time.clone(),
        };

        let progress = Progress::new();

        // Pages a crash left fetched but unprocessed come first.
        for row in self.store().imports_of_run(job, run.id)? {
            if row.state == ImportState::Fetched {
                info!(
                    page = row.page,
                    "processing page stored before the interruption"
                );
                self.process_page(job, component, run, row)?;
            }
        }

        loop {
            if let Some(request) = run.pending.front().cloned() {
                run.state = RunState::Retrieving;
                let page = run.next_page;
                let attachment = format!("{}/{page:06}.gz", run.id);
                let path = self.store().attachment_path(&attachment);
                create_parent(&path)?;

                let response = fetch_with_retries(self, job, run, &request, &path, &progress)?;
                let row = ImportRow {
                    run_id: run.id,
                    page,
                    job: job.as_str().to_string(),
                    request,
                    state: ImportState::Fetched,
                    status: response.status,
                    headers: response.headers,
                    attachment,
                    body_bytes: response.body_bytes,
                    fetched_at: crate::time::format_utc(crate::time::now()),
                    processed_at: None,
                    counts: Counts::default(),
                    warnings: Vec::new(),
                    error: None,
                };
                run.pending.pop_front();
                run.next_page += 1;
                run.pages_fetched += 1;
                self.store().record_fetched(job, &row, run)?;
                self.process_page(job, component, run, row)?;
                progress.touch();
            } else if !run.plan_done {
                let slice = self
                    .new_instance(job, component, run.id)?
                    .plan(&context, run.plan_cursor.as_deref())?
                    .map_err(RunError::from_job_error)?;
                run.pending.extend(slice.requests);
                run.plan_done = slice.cursor.is_none();
                run.plan_cursor = slice.cursor;
                self.store().save_run(run)?;
            } else {
                return Ok(());
            }
        }
    }

    /// Runs the component over one stored page and records the result with the run's new
    /// position in one transaction.
    fn process_page(
        &self,
        job: JobId,
        component: &LoadedComponent,
        run: &mut RunRecord,
        mut row: ImportRow,
    ) -> Result<(), RunError> {
        // A fresh instance per page: linear memory never shrinks, and a guest allocator grows
        // into whatever room it has, so one instance for a whole run would hold more memory
        // the more pages it processed. Instantiating a compiled component takes well under a
        // millisecond.
        let mut instance = self.new_instance(job, component, run.id)?;
        let instance = &mut instance;
        let span = info_span!("page", page = row.page);
        let _entered = span.enter();
        run.state = RunState::Processing;

        let page = Page::new(
            self.store().attachment_path(&row.attachment),
            row.status,
            row.headers.clone(),
        );
        set_page(instance, row.page);
        let outcome = instance.process(&row.request, page);
        let counts = take_counts(instance);
        let output = match outcome {
            Ok(Ok(output)) => output,
            Ok(Err(error)) => {
                let error = self.page_error(job, &row, error);
                self.mark_page_failed(job, &mut row, &error)?;
                return Err(error);
            }
            Err(error) => {
                let error = RunError::Runtime(error);
                self.mark_page_failed(job, &mut row, &error)?;
                return Err(error);
            }
        };

        if run.first_response_datetime.is_none() {
            run.first_response_datetime = output.response_datetime.clone();
        }
        for warning in &output.warnings {
            warn!(warning = %warning, "page warning");
        }
        row.state = ImportState::Processed;
        row.processed_at = Some(crate::time::format_utc(crate::time::now()));
        row.counts = counts;
        row.warnings = output.warnings.clone();
        run.counts.add(&counts);
        run.warnings.extend(output.warnings);
        run.pending.extend(output.follow_ups);
        run.complete_policies.extend(output.complete_policies);
        self.store().record_processed(job, &row, run)?;
        self.store().flush()?;
        info!(
            new = counts.new,
            updated = counts.updated,
            unchanged = counts.unchanged,
            "page processed"
        );
        Ok(())
    }

    /// Turns a component's error about a page into the run's error, naming the HTTP status of
    /// a page that was not a success, and `max_url_length` for a 414.
    fn page_error(&self, job: JobId, row: &ImportRow, error: JobError) -> RunError {
        let error = RunError::from_job_error(error);
        if row.status == 414 {
            let setting = if job.parameters().contains(&"max_url_length") {
                format!(
                    "lower max_url_length in [jobs.{job}] (now {})",
                    self.config()
                        .job_parameter(job, "max_url_length")
                        .unwrap_or_else(|| "the default".into())
                )
            } else {
                "the job's requests need fewer ids".into()
            };
            return RunError::Job(format!(
                "Qualys rejected the request URL as too long (HTTP 414 Request-URI Too Long) for {}; {setting}",
                row.request.path
            ));
        }
        if !(200..300).contains(&row.status) {
            return RunError::Job(format!(
                "Qualys returned HTTP {} for {}: {error}",
                row.status, row.request.path
            ));
        }
        error
    }

    fn mark_page_failed(
        &self,
        job: JobId,
        row: &mut ImportRow,
        error: &RunError,
    ) -> Result<(), RunError> {
        row.state = ImportState::Error;
        row.error = Some(error.to_string());
        self.store().save_import(job, row)?;
        Ok(())
    }

    /// Ends a successful run: inactivates what a snapshot no longer returned and advances the
    /// Start Time of a delta job.
    fn finish(
        &self,
        job: JobId,
        component: &LoadedComponent,
        run: &mut RunRecord,
    ) -> anyhow::Result<()> {
        if component.description.snapshot {
            for table in &component.description.tables {
                let table = TableName::from_wit(*table);
                let count = self.store().inactivate_unseen(table, run.id)?;
                if count > 0 {
                    info!(
                        table = table.as_str(),
                        count, "rows no longer returned are now inactive"
                    );
                }
                run.counts.inactive += count;
            }
        }
        if !run.complete_policies.is_empty() {
            let count = self
                .store()
                .inactivate_unseen_links(&run.complete_policies, run.id)?;
            if count > 0 {
                info!(
                    count,
                    "control links the policies no longer have are now inactive"
                );
            }
            run.counts.inactive += count;
        }
        if job.counts_refreshed() {
            self.count_refreshed(run)?;
        }
        if job.uses_start_time()
            && let Some(datetime) = &run.first_response_datetime
        {
            let overlap = self
                .config()
                .job_parameter(job, "start_time_overlap_minutes")
                .and_then(|text| text.parse::<i64>().ok())
                .unwrap_or(DEFAULT_OVERLAP_MINUTES);
            let next = crate::time::parse_utc(datetime)? - ChronoDuration::minutes(overlap);
            let mut state = self.store().job_state(job)?;
            state.start_time = Some(crate::time::format_utc(next));
            self.store().save_job_state(job, &state)?;
            info!(start_time = ?state.start_time, "Start Time advanced");
        }
        // The policies' evaluation dates come from the last PC Policies run, so a run that
        // found changes shows they were old: its warning that it would find none goes.
        if run.counts.new + run.counts.updated > 0 {
            run.warnings
                .retain(|warning| !warning.contains(NOTHING_NEW_WARNING));
        }
        run.state = RunState::Complete;
        Ok(())
    }

    /// Counts and saves what a PC Comprehensive Results run did to the results that were not
    /// Passed, and warns about those Qualys did not return.
    fn count_refreshed(&self, run: &mut RunRecord) -> anyhow::Result<()> {
        let (policies, _) = self.store().active_policies(None, u32::MAX)?;
        let requested: std::collections::BTreeSet<u64> = policies
            .iter()
            .filter(|policy| !policy.import_disabled)
            .map(|policy| policy.id)
            .collect();
        let counts = self
            .store()
            .refresh_counts(run.id, |policy| requested.contains(&policy))?;
        info!(
            refreshed = counts.refreshed,
            changed = counts.changed,
            not_returned = counts.not_returned,
            "results that were not Passed"
        );
        if counts.not_returned > 0 {
            let warning = format!(
                "{} results that are not Passed were not returned: Qualys has not evaluated them since the Start Time {}, or they left their policy; their last seen is unchanged (for example {})",
                counts.not_returned,
                run.start_time.as_deref().unwrap_or("(none)"),
                counts.not_returned_examples.join(", ")
            );
            warn!("{warning}");
            run.warnings.push(warning);
        }
        self.store().save_refresh_counts(run.id, &counts)?;
        Ok(())
    }

    /// Deletes processed pages older than `store.keep_imports_days`. A failure is logged, not
    /// raised: the run it follows has already ended.
    fn clean_up_imports(&self) {
        let days = i64::try_from(self.config().store.keep_imports_days).unwrap_or(i64::MAX / 2);
        let cutoff = crate::time::now() - ChronoDuration::days(days.min(100_000));
        match self
            .store()
            .delete_processed_imports(&crate::time::format_utc(cutoff))
        {
            Ok(0) => {}
            Ok(count) => info!(count, days, "deleted processed import rows past retention"),
            Err(error) => warn!(error = %error, "cleaning up old import rows failed"),
        }
    }

    /// Runs the job's current component over the stored pages of one run (the newest run with
    /// pages when `run_id` is none) without calling Qualys, and records the outcome as a new run
    /// with trigger reprocess. Follow-up requests are not fetched, and nothing is inactivated.
    /// Returns the new run and the id of the run whose pages it read.
    pub fn reprocess(&self, job: JobId, run_id: Option<u64>) -> anyhow::Result<(RunRecord, u64)> {
        let source_run = match run_id {
            Some(id) => id,
            None => self
                .store()
                .imports_of_job(job)?
                .last()
                .map(|row| row.run_id)
                .ok_or_else(|| anyhow::anyhow!("job {job} has no stored pages to reprocess"))?,
        };
        if let Some(source) = self.store().run(source_run)?
            && source.job != job.as_str()
        {
            anyhow::bail!(
                "run {source_run} belongs to {}, not {job}; `pcsync runs list --job {job}` lists the runs of {job}",
                source.job
            );
        }
        let rows = self.store().imports_of_run(job, source_run)?;
        info!(job = %job, source_run, pages = rows.len(), "reprocessing the stored pages of run {source_run}");
        anyhow::ensure!(
            !rows.is_empty(),
            "run {source_run} of job {job} has no stored pages; `pcsync runs list --job {job}` lists runs"
        );

        let component = self.load_component(job)?;
        let mut run = self
            .store()
            .create_run(job, Trigger::Reprocess, &component.sha256)?;
        run.plan_done = true;
        let span = info_span!("reprocess", job = %job, run = run.id, source_run);
        let _entered = span.enter();

        let outcome = (|| -> Result<(), RunError> {
            for row in rows {
                let mut instance = self.new_instance(job, &component, run.id)?;
                let page = Page::new(
                    self.store().attachment_path(&row.attachment),
                    row.status,
                    row.headers.clone(),
                );
                set_page(&mut instance, row.page);
                // For a reprocess run, the pages it read again rather than fetched.
                run.pages_fetched += 1;
                let output = instance
                    .process(&row.request, page)?
                    .map_err(|error| self.page_error(job, &row, error));
                let counts = take_counts(&mut instance);
                run.counts.add(&counts);
                let output = output?;
                run.warnings.extend(output.warnings);
                self.store().flush()?;
            }
            Ok(())
        })();
        match outcome {
            Ok(()) => run.state = RunState::Complete,
            Err(error) => {
                run.state = RunState::Error;
                run.error = Some(error.to_string());
            }
        }
        run.ended_at = Some(crate::time::format_utc(crate::time::now()));
        self.store().save_run(&run)?;
        self.store().flush()?;
        Ok((run, source_run))
    }

    /// An instance of `component` wired to the store for run `run_id`.
    fn new_instance(
        &self,
        job: JobId,
        component: &LoadedComponent,
        run_id: u64,
    ) -> Result<JobInstance, RunError> {
        let services = StoreServices::new(self.store_handle(), self.config_handle(), job, run_id);
        Ok(self
            .runtime()
            .instantiate(component, Box::new(services), &run_id.to_string())?)
    }

    /// Reads a job's component (drop-in file first, else embedded) and checks it.
    pub fn load_component(&self, job: JobId) -> anyhow::Result<LoadedComponent> {
        let (bytes, source) = crate::runtime::registry::component_bytes(self.data_dir(), job)?;
        if let crate::runtime::registry::Source::DropIn(path) = &source {
            let sha256 = crate::runtime::registry::sha256_hex(&bytes);
            self.config()
                .check_component_allowed(job, &sha256)
                .map_err(|message| anyhow::anyhow!("{message} (file {})", path.display()))?;
        }
        let component = match &source {
            crate::runtime::registry::Source::DropIn(path) => self
                .runtime()
                .load_for_job(&bytes, job.as_str())
                .map_err(|error| {
                    anyhow::anyhow!(
                        "cannot load the drop-in component {}: {error}; fix or remove the file (`pcsync components rollback {job}` restores the previous one)",
                        path.display()
                    )
                })?,
            crate::runtime::registry::Source::Embedded => {
                self.runtime().load_for_job(&bytes, job.as_str())?
            }
        };
        tracing::debug!(job = %job, sha256 = %component.sha256, source = ?source, "component loaded");
        Ok(component)
    }
}

/// The process's peak resident memory in KiB (`VmHWM`), on Linux. It belongs to this program
/// alone: unlike the parent's `ru_maxrss`, it does not inherit a high-water mark from before
/// `exec`.
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn set_page(instance: &mut JobInstance, page: u32) {
    if let Some(services) = instance.services().as_any().downcast_mut::<StoreServices>() {
        services.set_page(page);
    }
}

fn take_counts(instance: &mut JobInstance) -> Counts {
    instance
        .services()
        .as_any()
        .downcast_mut::<StoreServices>()
        .map(StoreServices::take_page_counts)
        .unwrap_or_default()
}

fn create_parent(path: &std::path::Path) -> Result<(), RunError> {
    let parent = path.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&parent).map_err(|source| {
        RunError::Store(StoreError::Io {
            dir: parent,
            source,
        })
    })
}
