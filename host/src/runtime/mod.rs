//! The wasmtime engine, component loading and the sandbox every job component runs in.

pub mod bindings;
mod host;
pub mod limits;
pub mod page;
pub mod registry;

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config as EngineConfig, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use bindings::{Description, JobComponent, JobComponentPre, Table};
pub use host::JobHost;
use limits::{Limits, MemoryLimiter};

/// How often the epoch advances. Deadlines are counted in these ticks, so a call overruns its
/// timeout by at most one tick.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// An error from loading or calling a component. Each names the job or file, the component's
/// sha256 where known, and the cause.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "component {sha256} was built against {found}, but this host implements {WIT_PACKAGE}@{supported}; rebuild the component against {WIT_PACKAGE}@{supported}",
        WIT_PACKAGE = bindings::WIT_PACKAGE,
        supported = bindings::WIT_VERSION
    )]
    IncompatibleVersion { sha256: String, found: String },
    #[error(
        "component {sha256} is not a pcsync job component: it neither imports nor exports {}",
        bindings::WIT_PACKAGE
    )]
    NotAJobComponent { sha256: String },
    #[error("cannot compile component {sha256}: {message}")]
    Compile { sha256: String, message: String },
    #[error("cannot instantiate component {sha256} for job {job}: {message}")]
    Instantiate {
        job: String,
        sha256: String,
        message: String,
    },
    #[error("component {sha256} describes itself as job `{found}`, expected `{expected}`")]
    WrongJob {
        expected: String,
        found: String,
        sha256: String,
    },
    #[error("component {sha256} of job {job} trapped in `{call}`: {message}")]
    Trap {
        job: String,
        sha256: String,
        call: &'static str,
        message: String,
    },
    #[error(
        "component {sha256} of job {job} timed out in `{call}` after {seconds} s; raise limits.call_timeout_secs if pages are this slow to parse"
    )]
    Timeout {
        job: String,
        sha256: String,
        call: &'static str,
        seconds: u64,
    },
    #[error(
        "component {sha256} of job {job} exceeded its memory limit of {mib} MiB in `{call}`; raise limits.memory_mib if the data needs it"
    )]
    MemoryLimit {
        job: String,
        sha256: String,
        call: &'static str,
        mib: u64,
    },
    #[error("component {sha256} of job {job} broke the contract in `{call}`: {message}")]
    Contract {
        job: String,
        sha256: String,
        call: &'static str,
        message: String,
    },
}

/// The engine with its linker and compiled-component cache. One per process; cheap to share.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache_dir: Option<PathBuf>,
    limits: Limits,
    ticker: Option<Ticker>,
}

/// A component compiled and checked, ready to instantiate once per run.
#[derive(Clone)]
pub struct LoadedComponent {
    pub sha256: String,
    pub description: Description,
    pre: JobComponentPre<HostState>,
}

impl Runtime {
    /// Creates the engine. `cache_dir` contains compiled components keyed by sha256 and the
    /// engine's compatibility hash; `None` compiles every time.
    pub fn new(cache_dir: Option<PathBuf>, limits: Limits) -> anyhow::Result<Runtime> {
        let mut config = EngineConfig::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        JobComponent::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| state)?;

        let ticker = Ticker::start(engine.clone());
        Ok(Runtime {
            engine,
            linker,
            cache_dir,
            limits,
            ticker: Some(ticker),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks a component's contract version, compiles it (or takes it from the cache) and
    /// calls `describe`.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedComponent, RuntimeError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        // Binary components start with the wasm magic; text (WAT) starts with `(`, which the
        // tests use for small fixtures. Anything else is not worth handing to the parser.
        let is_text = bytes
            .iter()
            .find(|byte| !byte.is_ascii_whitespace())
            .is_some_and(|byte| *byte == b'(' || *byte == b';');
        if !bytes.starts_with(b"\0asm") && !is_text {
            return Err(RuntimeError::Compile {
                sha256,
                message:
                    "not a WebAssembly component: the file does not start with the \\0asm header"
                        .into(),
            });
        }
        let component = self.compile(bytes, &sha256)?;
        check_version(&self.engine, &component, &sha256)?;

        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(JobComponentPre::new)
            .map_err(|error| RuntimeError::Instantiate {
                job: "?".into(),
                sha256: sha256.clone(),
                message: format!("{error:#}"),
            })?;
        let mut loaded = LoadedComponent {
            sha256,
            description: Description {
                job_id: String::new(),
                component_version: String::new(),
                wit_version: String::new(),
                api: bindings::Api::Classic,
                tables: Vec::new(),
                snapshot: false,
            },
            pre,
        };
        let mut instance = self.instantiate(&loaded, Box::new(host::NoServices), "?")?;
        loaded.description = instance.describe()?;
        Ok(loaded)
    }

    /// Loads a component and checks that it is the given job's.
    pub fn load_for_job(&self, bytes: &[u8], job: &str) -> Result<LoadedComponent, RuntimeError> {
        let loaded = self.load(bytes)?;
        if loaded.description.job_id != job {
            return Err(RuntimeError::WrongJob {
                expected: job.into(),
                found: loaded.description.job_id.clone(),
                sha256: loaded.sha256,
            });
        }
        Ok(loaded)
    }

    /// Creates a fresh instance for one run, wired to `services`.
    pub fn instantiate(
        &self,
        component: &LoadedComponent,
        services: Box<dyn JobHost>,
        run_id: &str,
    ) -> Result<JobInstance, RuntimeError> {
        let job = match component.description.job_id.as_str() {
            "" => "(not yet described)".to_string(),
            id => id.to_string(),
        };
        let state = HostState {
            wasi: sandbox_wasi(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(self.limits.memory_bytes()),
            services,
            declared_tables: component.description.tables.clone(),
            job: job.clone(),
            run_id: run_id.to_string(),
            sha256: component.sha256.clone(),
            limits: self.limits.clone(),
            log_bytes: 0,
            logs_dropped: 0,
            violation: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(self.deadline_ticks());

        let bindings =
            component
                .pre
                .instantiate(&mut store)
                .map_err(|error| RuntimeError::Instantiate {
                    job: job.clone(),
                    sha256: component.sha256.clone(),
                    message: format!("{error:#}"),
                })?;
        Ok(JobInstance {
            store,
            bindings,
            deadline_ticks: self.deadline_ticks(),
        })
    }

    fn deadline_ticks(&self) -> u64 {
        let ticks = self.limits.call_timeout().as_millis() / EPOCH_TICK.as_millis();
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }

    fn compile(&self, bytes: &[u8], sha256: &str) -> Result<Component, RuntimeError> {
        let compile_error = |error: wasmtime::Error| RuntimeError::Compile {
            sha256: sha256.to_string(),
            message: format!("{error:#}"),
        };
        let Some(cache_dir) = &self.cache_dir else {
            return Component::new(&self.engine, bytes).map_err(compile_error);
        };

        let path = cache_dir.join(format!("{sha256}-{}.cwasm", self.engine_hash()));
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` of this engine
            // configuration (its name carries the engine's compatibility hash) into the data
            // directory, which only this host writes.
            match unsafe { Component::deserialize_file(&self.engine, &path) } {
                Ok(component) => return Ok(component),
                Err(error) => tracing::warn!(
                    path = %path.display(),
                    error = %error,
                    "ignoring unreadable compiled component; compiling again"
                ),
            }
        }

        let component = Component::new(&self.engine, bytes).map_err(compile_error)?;
        if let Err(error) = write_cache(cache_dir, &path, &component) {
            tracing::warn!(path = %path.display(), error = %error, "cannot cache compiled component");
        }
        Ok(component)
    }

    fn engine_hash(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
    }
}

fn write_cache(cache_dir: &Path, path: &Path, component: &Component) -> anyhow::Result<()> {
    std::fs::create_dir_all(cache_dir)?;
    let bytes = component.serialize()?;
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

/// Reads the `pcsync:job` version a component was built against from its import and export
/// names, before anything of it runs.
fn check_version(engine: &Engine, component: &Component, sha256: &str) -> Result<(), RuntimeError> {
    let component_type = component.component_type();
    let prefix = format!("{}/", bindings::WIT_PACKAGE);
    let names: Vec<String> = component_type
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .chain(
            component_type
                .exports(engine)
                .map(|(name, _)| name.to_string()),
        )
        .filter(|name| name.starts_with(&prefix))
        .collect();
    if names.is_empty() {
        return Err(RuntimeError::NotAJobComponent {
            sha256: sha256.into(),
        });
    }
    let supported = semver_triplet(bindings::WIT_VERSION).unwrap_or((1, 0, 0));
    for name in names {
        let version = name.rsplit_once('@').map(|(_, version)| version);
        let compatible = version
            .and_then(semver_triplet)
            .is_some_and(|(major, minor, _)| major == supported.0 && minor <= supported.1);
        if !compatible {
            return Err(RuntimeError::IncompatibleVersion {
                sha256: sha256.into(),
                found: format!("{}@{}", bindings::WIT_PACKAGE, version.unwrap_or("(none)")),
            });
        }
    }
    Ok(())
}

fn semver_triplet(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.split('.').map(|part| part.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// A WASI context that grants nothing: no directories, environment, arguments, network or
/// standard input. Components are built with std and import WASI, so it must be linked, but
/// every call that would reach outside fails or returns nothing.
fn sandbox_wasi() -> WasiCtx {
    WasiCtx::builder()
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}

/// The data of one component instance's store.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    services: Box<dyn JobHost>,
    declared_tables: Vec<Table>,
    job: String,
    run_id: String,
    sha256: String,
    limits: Limits,
    log_bytes: usize,
    logs_dropped: u64,
    /// A contract breach seen in a host call, reported as the call's error even when the
    /// component ignored the error it was given.
    violation: Option<String>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// One instance of a job component, for one run.
pub struct JobInstance {
    store: Store<HostState>,
    bindings: JobComponent,
    deadline_ticks: u64,
}

impl JobInstance {
    pub fn describe(&mut self) -> Result<Description, RuntimeError> {
        self.begin_call();
        let result = self
            .bindings
            .pcsync_job_job()
            .call_describe(&mut self.store);
        self.finish_call("describe", result)
    }

    pub fn plan(
        &mut self,
        context: &bindings::RunContext,
        cursor: Option<&str>,
    ) -> Result<Result<bindings::PlanSlice, bindings::JobError>, RuntimeError> {
        self.begin_call();
        let result = self.bindings.pcsync_job_job().call_plan(
            &mut self.store,
            context,
            cursor.map(str::to_string).as_deref(),
        );
        self.finish_call("plan", result)
    }

    /// Processes one stored page. The page resource lives only for this call.
    pub fn process(
        &mut self,
        request: &bindings::Request,
        page: page::Page,
    ) -> Result<Result<bindings::ProcessOutput, bindings::JobError>, RuntimeError> {
        self.begin_call();
        let resource = match self.store.data_mut().table.push(page) {
            Ok(resource) => resource,
            Err(error) => return Err(self.contract_error("process", error.to_string())),
        };
        let borrowed = wasmtime::component::Resource::<page::Page>::new_borrow(resource.rep());
        let result =
            self.bindings
                .pcsync_job_job()
                .call_process(&mut self.store, request, borrowed);
        let _ = self.store.data_mut().table.delete(resource);
        self.finish_call("process", result)
    }

    /// The host services, for the caller to take its counts back.
    pub fn services(&mut self) -> &mut dyn JobHost {
        self.store.data_mut().services.as_mut()
    }

    fn begin_call(&mut self) {
        self.store.set_epoch_deadline(self.deadline_ticks);
        let state = self.store.data_mut();
        state.log_bytes = 0;
        state.logs_dropped = 0;
        state.violation = None;
    }

    fn finish_call<T>(
        &mut self,
        call: &'static str,
        result: wasmtime::Result<T>,
    ) -> Result<T, RuntimeError> {
        let state = self.store.data_mut();
        if state.logs_dropped > 0 {
            tracing::warn!(
                job = %state.job,
                run = %state.run_id,
                dropped = state.logs_dropped,
                "component log lines dropped: over limits.max_log_bytes_per_call"
            );
        }
        if let Some(violation) = state.violation.take() {
            return Err(self.contract_error(call, violation));
        }
        let state = self.store.data();
        match result {
            Ok(value) => Ok(value),
            Err(error) => {
                let job = state.job.clone();
                let sha256 = state.sha256.clone();
                if state.limiter.exceeded {
                    return Err(RuntimeError::MemoryLimit {
                        job,
                        sha256,
                        call,
                        mib: state.limits.memory_mib,
                    });
                }
                if let Some(wasmtime::Trap::Interrupt) = error.downcast_ref::<wasmtime::Trap>() {
                    return Err(RuntimeError::Timeout {
                        job,
                        sha256,
                        call,
                        seconds: state.limits.call_timeout_secs,
                    });
                }
                Err(RuntimeError::Trap {
                    job,
                    sha256,
                    call,
                    message: format!("{error:#}"),
                })
            }
        }
    }

    fn contract_error(&self, call: &'static str, message: String) -> RuntimeError {
        let state = self.store.data();
        RuntimeError::Contract {
            job: state.job.clone(),
            sha256: state.sha256.clone(),
            call,
            message,
        }
    }
}

/// Advances the engine's epoch every `EPOCH_TICK` on its own thread, for call deadlines.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Ticker {
    fn start(engine: Engine) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("pcsync-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread only fails when the OS is out of threads");
        Ticker { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}
