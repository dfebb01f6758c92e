//! The store access a running component gets, through the `JobHost` trait.

use std::sync::Arc;

use crate::config::Config;
use crate::jobs::JobId;
use crate::runtime::JobHost;
use crate::runtime::bindings::{PolicyHostId, PolicyRef, Record, ResultKey};
use crate::store::{Counts, Position, Store};

/// The parameter whose value the host returns as the number of characters of the classic
/// API's base URL, without a trailing `/`.
pub const API_URL_LENGTH_PARAMETER: &str = "api_url_length";

/// The parameter whose value the host returns as the number of characters of the gateway's
/// base URL, without a trailing `/`.
pub const GATEWAY_URL_LENGTH_PARAMETER: &str = "gateway_url_length";

fn base_url_length(url: &str) -> String {
    url.trim_end_matches('/').len().to_string()
}

/// Store access for one run. Counts the changes of the page being processed.
pub struct StoreServices {
    store: Arc<Store>,
    config: Arc<Config>,
    job: JobId,
    run_id: u64,
    page: u32,
    page_counts: Counts,
}

impl StoreServices {
    pub fn new(store: Arc<Store>, config: Arc<Config>, job: JobId, run_id: u64) -> Self {
        StoreServices {
            store,
            config,
            job,
            run_id,
            page: 0,
            page_counts: Counts::default(),
        }
    }

    /// Sets the page that the next emits belong to.
    pub fn set_page(&mut self, page: u32) {
        self.page = page;
    }

    /// The counts since the last call, which starts the next page's counts.
    pub fn take_page_counts(&mut self) -> Counts {
        std::mem::take(&mut self.page_counts)
    }
}

impl JobHost for StoreServices {
    fn emit(&mut self, records: Vec<Record>) -> Result<(), String> {
        for record in records {
            let position = Position {
                run: self.run_id,
                page: self.page,
            };
            match self.store.upsert(position, record) {
                Ok(change) => self.page_counts.record(change),
                Err(error) => {
                    self.page_counts.errors += 1;
                    return Err(format!("cannot store the record: {error}"));
                }
            }
        }
        Ok(())
    }

    fn parameter(&self, name: &str) -> Option<String> {
        match name {
            // A component that keeps its request URLs under a length needs the length of the
            // base URL the host puts in front of them, but not the URL itself.
            API_URL_LENGTH_PARAMETER => Some(base_url_length(&self.config.qualys.api_url)),
            GATEWAY_URL_LENGTH_PARAMETER => Some(base_url_length(&self.config.qualys.gateway_url)),
            _ => self.config.job_parameter(self.job, name),
        }
    }

    fn active_policies(
        &mut self,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<(Vec<PolicyRef>, Option<String>), String> {
        self.store
            .active_policies(cursor.as_deref(), limit)
            .map_err(|error| error.to_string())
    }

    fn policy_hosts(
        &mut self,
        _cursor: Option<String>,
        _limit: u32,
    ) -> Result<(Vec<PolicyHostId>, Option<String>), String> {
        // NOTE: the PCRS jobs that fill and read the policy to host map are not built yet, so
        // the map is always empty.
        Ok((Vec::new(), None))
    }

    fn results_not_passed(
        &mut self,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<(Vec<ResultKey>, Option<String>), String> {
        self.store
            .results_not_passed(cursor.as_deref(), limit)
            .map_err(|error| error.to_string())
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
