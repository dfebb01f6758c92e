//! Installing, listing and rolling back drop-in job components.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::Pcsync;
use crate::jobs::JobId;
use crate::jobs::services::StoreServices;
use crate::runtime::page::Page;
use crate::runtime::registry::{self, Source};
use crate::store::{Counts, Store};

/// The outcome of `install_component`.
#[derive(Debug)]
pub struct Installed {
    pub job: JobId,
    pub sha256: String,
    pub component_version: String,
    pub path: PathBuf,
    /// The file the new one replaced, kept for rollback.
    pub previous: Option<PathBuf>,
    /// Counts of the smoke test over the newest stored page; none when the job has no stored
    /// page yet.
    pub smoke_test: Option<Counts>,
}

/// One job's component as `pcsync components list` shows it.
#[derive(Debug)]
pub struct ComponentInfo {
    pub job: JobId,
    pub source: Option<Source>,
    pub sha256: Option<String>,
    pub component_version: Option<String>,
    pub error: Option<String>,
}

fn previous_path(path: &Path) -> PathBuf {
    path.with_extension("wasm.previous")
}

impl Pcsync {
    /// Checks a component file and installs it as its job's drop-in component: the contract
    /// version, `describe`, the `[components]` pinning, then a smoke test that processes the
    /// job's newest stored page into a throw-away store. Only then is the file moved into place,
    /// atomically, with the file it replaces kept for `rollback_component`.
    pub fn install_component(&self, file: &Path) -> anyhow::Result<Installed> {
        let bytes = std::fs::read(file)
            .with_context(|| format!("cannot read component file {}", file.display()))?;
        let loaded = self.runtime().load(&bytes).with_context(|| {
            format!(
                "cannot install {}: it must be a WebAssembly component built for wasm32-wasip2 against pcsync:job@{}",
                file.display(),
                crate::runtime::bindings::WIT_VERSION
            )
        })?;
        let job: JobId = loaded
            .description
            .job_id
            .parse()
            .with_context(|| format!("component {} describes an unknown job", loaded.sha256))?;
        self.config()
            .check_component_allowed(job, &loaded.sha256)
            .map_err(anyhow::Error::msg)?;

        let smoke_test = self
            .smoke_test(job, &loaded)
            .with_context(|| {
                format!(
                    "component {} failed its smoke test on the newest stored page of job {job}; nothing was installed",
                    loaded.sha256
                )
            })?;

        let path = registry::drop_in_path(self.data_dir(), job);
        let directory = path.parent().unwrap_or(self.data_dir());
        std::fs::create_dir_all(directory)
            .with_context(|| format!("cannot create {}", directory.display()))?;
        let partial = path.with_extension("wasm.partial");
        std::fs::write(&partial, &bytes)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let previous = if path.exists() {
            let previous = previous_path(&path);
            std::fs::rename(&path, &previous).with_context(|| {
                format!(
                    "cannot keep the current component as {}",
                    previous.display()
                )
            })?;
            Some(previous)
        } else {
            None
        };
        std::fs::rename(&partial, &path)
            .with_context(|| format!("cannot move the component into {}", path.display()))?;
        tracing::info!(job = %job, sha256 = %loaded.sha256, path = %path.display(), "component installed");

        Ok(Installed {
            job,
            sha256: loaded.sha256,
            component_version: loaded.description.component_version,
            path,
            previous,
            smoke_test,
        })
    }

    fn smoke_test(
        &self,
        job: JobId,
        component: &crate::runtime::LoadedComponent,
    ) -> anyhow::Result<Option<Counts>> {
        let Some(row) = self
            .store()
            .imports_of_job(job)?
            .into_iter()
            .rev()
            .find(|row| self.store().attachment_path(&row.attachment).exists())
        else {
            tracing::warn!(job = %job, "no stored page to smoke-test the component on; installing after the version and describe checks only");
            return Ok(None);
        };

        let scratch = tempfile::Builder::new()
            .prefix("pcsync-smoke-")
            .tempdir()
            .context("cannot create a scratch directory for the smoke test")?;
        let store = Arc::new(Store::open(scratch.path(), 8)?);
        let services = StoreServices::new(store, self.config_handle(), job, 1);
        let mut instance =
            self.runtime()
                .instantiate(component, Box::new(services), "smoke-test")?;
        let page = Page::new(
            self.store().attachment_path(&row.attachment),
            row.status,
            row.headers.clone(),
        );
        instance
            .process(&row.request, page)?
            .map_err(|error| anyhow::anyhow!("the component returned an error: {error:?}"))?;
        let counts = instance
            .services()
            .as_any()
            .downcast_mut::<StoreServices>()
            .map(StoreServices::take_page_counts)
            .unwrap_or_default();
        Ok(Some(counts))
    }

    /// Puts back the drop-in component that the last install replaced. Returns the restored
    /// file's sha256.
    pub fn rollback_component(&self, job: JobId) -> anyhow::Result<String> {
        let path = registry::drop_in_path(self.data_dir(), job);
        let previous = previous_path(&path);
        anyhow::ensure!(
            previous.exists(),
            "job {job} has no previous component to roll back to ({} does not exist)",
            previous.display()
        );
        let bytes = std::fs::read(&previous)
            .with_context(|| format!("cannot read {}", previous.display()))?;
        self.runtime().load_for_job(&bytes, job.as_str())?;
        if path.exists() {
            let replaced = path.with_extension("wasm.rolled-back");
            std::fs::rename(&path, &replaced)
                .with_context(|| format!("cannot move {} aside", path.display()))?;
        }
        std::fs::rename(&previous, &path)
            .with_context(|| format!("cannot restore {}", path.display()))?;
        Ok(registry::sha256_hex(&bytes))
    }

    /// Which component each job uses now.
    pub fn components(&self) -> Vec<ComponentInfo> {
        JobId::ALL
            .into_iter()
            .map(
                |job| match registry::component_bytes(self.data_dir(), job) {
                    Err(_) => ComponentInfo {
                        job,
                        source: None,
                        sha256: None,
                        component_version: None,
                        error: None,
                    },
                    Ok((bytes, source)) => {
                        let loaded = self.runtime().load_for_job(&bytes, job.as_str());
                        ComponentInfo {
                            job,
                            source: Some(source),
                            sha256: Some(registry::sha256_hex(&bytes)),
                            component_version: loaded
                                .as_ref()
                                .ok()
                                .map(|loaded| loaded.description.component_version.clone()),
                            error: loaded.err().map(|error| error.to_string()),
                        }
                    }
                },
            )
            .collect()
    }
}
