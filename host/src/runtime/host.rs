//! The host side of the contract: what a component may call.

use wasmtime::component::Resource;

use super::HostState;
use super::bindings::pcsync::job::{host, types};
use super::bindings::{Level, PolicyHostId, PolicyRef, Record, ResultKey, Table};
use super::page::Page;

/// What the run loop provides to a component instance: storage of emitted records, job
/// parameters and read-only queries of the store.
pub trait JobHost: Send {
    /// Stores a batch. An `Err` is returned to the component and fails the run.
    fn emit(&mut self, records: Vec<Record>) -> Result<(), String>;

    fn parameter(&self, name: &str) -> Option<String>;

    fn active_policies(
        &mut self,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<(Vec<PolicyRef>, Option<String>), String>;

    fn policy_hosts(
        &mut self,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<(Vec<PolicyHostId>, Option<String>), String>;

    fn results_not_passed(
        &mut self,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<(Vec<ResultKey>, Option<String>), String>;

    /// Lets the caller take back its concrete type, for counts.
    fn as_any(&mut self) -> &mut dyn std::any::Any;
}

/// Services for `describe`, which must not touch the store.
pub(crate) struct NoServices;

impl JobHost for NoServices {
    fn emit(&mut self, _records: Vec<Record>) -> Result<(), String> {
        Err("emit is not allowed in `describe`".into())
    }

    fn parameter(&self, _name: &str) -> Option<String> {
        None
    }

    fn active_policies(
        &mut self,
        _cursor: Option<String>,
        _limit: u32,
    ) -> Result<(Vec<PolicyRef>, Option<String>), String> {
        Ok((Vec::new(), None))
    }

    fn policy_hosts(
        &mut self,
        _cursor: Option<String>,
        _limit: u32,
    ) -> Result<(Vec<PolicyHostId>, Option<String>), String> {
        Ok((Vec::new(), None))
    }

    fn results_not_passed(
        &mut self,
        _cursor: Option<String>,
        _limit: u32,
    ) -> Result<(Vec<ResultKey>, Option<String>), String> {
        Ok((Vec::new(), None))
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Largest page of a store query, whatever the component asks for.
const MAX_QUERY_LIMIT: u32 = 10_000;

fn table_of(record: &Record) -> Table {
    match record {
        Record::Policy(_) => Table::Policy,
        Record::Test(_) => Table::Test,
        Record::PolicyTest(_) => Table::PolicyTest,
        Record::Technology(_) => Table::Technology,
        Record::AuthSrc(_) => Table::AuthSrc,
        Record::Citation(_) => Table::Citation,
        Record::TestResult(_) => Table::TestResult,
        Record::Host(_) => Table::Host,
        Record::PolicyHostId(_) => Table::PolicyHostId,
    }
}

impl types::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.log_bytes = self.log_bytes.saturating_add(message.len());
        if self.log_bytes > self.limits.max_log_bytes_per_call {
            self.logs_dropped += 1;
            return Ok(());
        }
        let (job, run, component) = (
            &self.job,
            &self.run_id,
            &self.sha256[..12.min(self.sha256.len())],
        );
        match level {
            Level::Trace => tracing::trace!(job, run, component, "{message}"),
            Level::Debug => tracing::debug!(job, run, component, "{message}"),
            Level::Info => tracing::info!(job, run, component, "{message}"),
            Level::Warn => tracing::warn!(job, run, component, "{message}"),
            Level::Error => tracing::error!(job, run, component, "{message}"),
        }
        Ok(())
    }

    fn emit(&mut self, records: Vec<Record>) -> wasmtime::Result<Result<(), String>> {
        if records.len() > self.limits.max_emit_batch {
            let message = format!(
                "emit batch of {} records is over limits.max_emit_batch ({}); emit smaller batches",
                records.len(),
                self.limits.max_emit_batch
            );
            self.violation = Some(message.clone());
            return Ok(Err(message));
        }
        if let Some(record) = records
            .iter()
            .find(|record| !self.declared_tables.contains(&table_of(record)))
        {
            let message = format!(
                "emitted a record for table {:?}, which `describe` does not declare",
                table_of(record)
            );
            self.violation = Some(message.clone());
            return Ok(Err(message));
        }
        Ok(self.services.emit(records))
    }

    fn parameter(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.services.parameter(&name))
    }

    fn active_policies(
        &mut self,
        cursor: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<(Vec<PolicyRef>, Option<String>)> {
        self.services
            .active_policies(cursor, limit.min(MAX_QUERY_LIMIT))
            .map_err(wasmtime::Error::msg)
    }

    fn policy_hosts(
        &mut self,
        cursor: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<(Vec<PolicyHostId>, Option<String>)> {
        self.services
            .policy_hosts(cursor, limit.min(MAX_QUERY_LIMIT))
            .map_err(wasmtime::Error::msg)
    }

    fn results_not_passed(
        &mut self,
        cursor: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<(Vec<ResultKey>, Option<String>)> {
        self.services
            .results_not_passed(cursor, limit.min(MAX_QUERY_LIMIT))
            .map_err(wasmtime::Error::msg)
    }
}

impl host::HostPage for HostState {
    fn status(&mut self, page: Resource<Page>) -> wasmtime::Result<u16> {
        Ok(self.table.get(&page)?.status())
    }

    fn header(&mut self, page: Resource<Page>, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&page)?.header(&name))
    }

    fn read(&mut self, page: Resource<Page>, max: u32) -> wasmtime::Result<Vec<u8>> {
        let page = self.table.get_mut(&page)?;
        page.read(max)
            .map_err(|error| wasmtime::Error::msg(format!("cannot read the stored page: {error}")))
    }

    fn rewind(&mut self, page: Resource<Page>) -> wasmtime::Result<()> {
        self.table.get_mut(&page)?.rewind();
        Ok(())
    }

    fn drop(&mut self, _page: Resource<Page>) -> wasmtime::Result<()> {
        // The host owns every page and deletes it when `process` returns.
        Ok(())
    }
}
