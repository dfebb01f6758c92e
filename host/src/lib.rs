//! pcsync keeps Qualys Policy Compliance data (policies, controls, hosts and test results) in a
//! local store and current. Each job's parsing and mapping is a sandboxed WebAssembly component;
//! this crate is the host that fetches from Qualys, runs the components and stores what they
//! emit.
//!
//! Embedding: open a [`Pcsync`] on a data directory with a [`Config`], then call
//! [`Pcsync::run_job`].

pub mod cli;
mod cli_views;
pub mod components;
pub mod config;
pub mod demo;
pub mod jobs;
pub mod qualys;
pub mod runtime;
pub mod schedule;
pub mod store;
pub mod time;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::Config;
pub use jobs::{JobId, RunError};
pub use store::{RunRecord, RunState, Store, Trigger};

use qualys::QualysClient;
use runtime::Runtime;

/// An open pcsync instance: configuration, store, component runtime and Qualys client.
pub struct Pcsync {
    config: Arc<Config>,
    data_dir: PathBuf,
    store: Arc<Store>,
    runtime: Runtime,
    client: QualysClient,
}

impl Pcsync {
    /// Opens the data directory (taking its lock) and prepares the runtime. Compiled components
    /// are cached under `<data_dir>/cache`.
    pub fn open(config: Config, data_dir: &Path) -> anyhow::Result<Pcsync> {
        let store = Store::open(data_dir, config.store.cache_mib)?;
        let runtime = Runtime::new(Some(data_dir.join("cache")), config.limits.clone())?;
        let mut client = QualysClient::new(&config.qualys)?;
        client.set_max_pause(std::time::Duration::from_secs(
            config.retry.max_rate_limit_wait_secs,
        ));
        Ok(Pcsync {
            config: Arc::new(config),
            data_dir: data_dir.to_path_buf(),
            store: Arc::new(store),
            runtime,
            client,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn client(&self) -> &QualysClient {
        &self.client
    }

    pub(crate) fn store_handle(&self) -> Arc<Store> {
        self.store.clone()
    }

    pub(crate) fn config_handle(&self) -> Arc<Config> {
        self.config.clone()
    }
}
