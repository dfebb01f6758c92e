//! The simulator handle: starting the server on its own thread and controlling it from tests.

use std::future::IntoFuture;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use tokio::sync::oneshot;

use crate::dataset::Dataset;
use crate::datetime::{format_unix, parse_qualys};
use crate::faults::FaultRule;
use crate::postures::{Postures, Stamp};
use crate::record::{Api, RecordedRequest};
use crate::server;
use crate::state::{Credentials, DEFAULT_CLOCK, State, lock};

/// Settings of a simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Number of generated policies. Default 25.
    pub policies: usize,
    /// Number of generated controls, which the policies share. Default 40.
    pub controls: usize,
    /// Seed of the generated data set. The same seed gives the same data. Default 1.
    pub seed: u64,
    /// Maximum number of policies in one policy list response. Default 1000, the Qualys page size. 0 is
    /// treated as 1. The control list is paged by its `truncation_limit` parameter instead.
    pub page_size: usize,
    /// Login accepted with HTTP Basic authentication. Default `pcsync`.
    pub username: String,
    /// Password accepted with HTTP Basic authentication. Default `sim-password`.
    pub password: String,
    /// TCP port on 127.0.0.1, or 0 (the default) for any free port.
    pub port: u16,
    /// Number of generated hosts. Each active policy is evaluated on about 7 in 8 of them.
    /// Default 12.
    pub hosts: usize,
    /// Number of controls in every generated policy, or `None` (the default) for 1 to 5.
    /// Values above `controls` give each policy every control. See [`Dataset::from_config`].
    pub controls_per_policy: Option<usize>,
    /// Makes every Nth posture's evidence (the postures with ids 5000000 + N, 5000000 + 2N
    /// and so on) contain a character that XML 1.0 does not allow, such as U+0001. The body
    /// of a posture info page showing that evidence is then not well-formed XML. `None` (the
    /// default) and `Some(0)` keep all evidence valid.
    pub invalid_char_every: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            policies: 25,
            controls: 40,
            seed: 1,
            page_size: 1000,
            username: "pcsync".to_string(),
            password: "sim-password".to_string(),
            port: 0,
            hosts: 12,
            controls_per_policy: None,
            invalid_char_every: None,
        }
    }
}

/// A running Qualys simulator on 127.0.0.1.
///
/// It runs on a tokio runtime of its own in a background thread, so synchronous tests can use
/// it. Dropping it stops the server and closes open connections.
pub struct Simulator {
    state: Arc<State>,
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// How long stopping waits for tasks still running (such as a slow body) before leaving them.
const STOP_TIMEOUT: Duration = Duration::from_secs(1);

impl Simulator {
    /// Generates the data set, binds 127.0.0.1:`config.port` and returns once the server
    /// accepts connections.
    ///
    /// # Errors
    ///
    /// Fails when the port cannot be bound (for example because it is in use) or when the
    /// server thread or its runtime cannot be started.
    pub fn start(config: SimConfig) -> anyhow::Result<Simulator> {
        let listener = TcpListener::bind(("127.0.0.1", config.port))
            .with_context(|| format!("binding 127.0.0.1:{} failed", config.port))?;
        listener
            .set_nonblocking(true)
            .context("switching the listener to non-blocking mode failed")?;
        let address = listener
            .local_addr()
            .context("reading the listener's address failed")?;

        let credentials = Credentials {
            username: config.username.clone(),
            password: config.password.clone(),
        };
        let mut dataset = Dataset::from_config(&config);
        let mut postures = Postures::generate(&dataset, config.seed);
        postures.set_invalid_char_every(config.invalid_char_every);
        match_policy_evaluations(&mut dataset, &postures);
        let state = Arc::new(State::new(
            credentials,
            dataset,
            postures,
            config.seed,
            config.page_size,
        ));

        let (ready_sender, ready) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel();
        let router = server::router(Arc::clone(&state));
        let thread = std::thread::Builder::new()
            .name("qualys-sim".to_string())
            .spawn(move || serve(listener, router, ready_sender, stopped))
            .context("starting the simulator thread failed")?;

        match ready.recv() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                let _ = thread.join();
                return Err(error);
            }
            Err(_) => {
                let _ = thread.join();
                anyhow::bail!("the simulator thread ended before the server was ready");
            }
        }
        tracing::info!(%address, "qualys simulator started");
        Ok(Simulator {
            state,
            address,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Returns `http://127.0.0.1:PORT`, the base URL of both the classic API and the gateway.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Returns the address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Returns every request received since the start or the last
    /// [`Simulator::clear_requests`], in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// Empties the request log and restarts request numbering at 1 for every endpoint.
    pub fn clear_requests(&self) {
        self.state.clear_requests();
    }

    /// Runs `f` on the data set and returns its result. Requests arriving meanwhile wait, and
    /// later requests see the change.
    ///
    /// Afterwards the data set is sorted by id ([`Dataset::sort`]), and the `control_ids` of
    /// every policy with sections are set from its sections ([`Dataset::sync_control_ids`]).
    /// The postures stay as they are until [`Simulator::regenerate_postures`], while the
    /// posture info's GLOSSARY shows the changed data at once.
    pub fn with_dataset<R>(&self, f: impl FnOnce(&mut Dataset) -> R) -> R {
        let mut dataset = lock(&self.state.dataset);
        let result = f(&mut dataset);
        dataset.sort();
        dataset.sync_control_ids();
        result
    }

    /// Runs `f` on the postures and returns its result. Requests arriving meanwhile wait, and
    /// later requests see the change. A response already being sent keeps the postures it
    /// started with.
    pub fn with_postures<R>(&self, f: impl FnOnce(&mut Postures) -> R) -> R {
        let mut postures = lock(&self.state.postures);
        f(&mut postures)
    }

    /// Replaces the postures with those that [`Postures::generate`] makes from the current
    /// data set and the seed, so that changed policies, controls and hosts take effect.
    /// Earlier status changes are lost, and the evidence knob
    /// ([`Postures::invalid_char_every`]) is kept.
    pub fn regenerate_postures(&self) {
        let mut dataset = lock(&self.state.dataset);
        let mut postures = lock(&self.state.postures);
        let every = postures.invalid_char_every();
        *postures = Postures::generate(&dataset, self.state.seed);
        postures.set_invalid_char_every(every);
        match_policy_evaluations(&mut dataset, &postures);
    }

    /// Moves the clock forward by `days` days and evaluates every posture again at the new
    /// time, as a scan of all hosts would. Returns the ids of the postures whose status
    /// changed, sorted.
    ///
    /// Every posture's evaluation time becomes the new clock, and so does every host's last
    /// scan time and the last evaluation time of every policy evaluated before. Of the `n` postures that are Passed or Failed, `round(change_fraction * n)`
    /// flip to the other status (`change_fraction` is clamped to 0..=1). A flipped posture
    /// gets the old status as its previous status and the new clock as its modification
    /// time and as its last pass or fail time, and as its first one if it had none. Error
    /// postures keep their status. The same sequence of calls on the same seed flips the
    /// same postures.
    ///
    /// A clock that [`Simulator::set_clock`] set to text that does not parse counts as the
    /// default clock, 2026-12-04T10:00:00Z. A result past early 2136, where the postures'
    /// time storage ends, is stored as that end.
    pub fn advance_days(&self, days: u32, change_fraction: f64) -> Vec<u64> {
        let mut dataset = lock(&self.state.dataset);
        let mut postures = lock(&self.state.postures);
        let mut clock = lock(&self.state.clock);
        let now = parse_qualys(&clock)
            .or_else(|| parse_qualys(DEFAULT_CLOCK))
            .unwrap_or_default();
        let stamp = Stamp::clamped(now + i64::from(days) * 86_400);
        let text = format_unix(stamp.unix());
        *clock = text.clone();
        for host in &mut dataset.hosts {
            host.last_scan = text.clone();
        }
        // Every posture is evaluated again, so every policy that has been evaluated was
        // evaluated now.
        for policy in &mut dataset.policies {
            if policy.last_evaluated.is_some() {
                policy.last_evaluated = Some(text.clone());
            }
        }
        postures.advance(stamp, change_fraction)
    }

    /// Returns the time that responses report, as [`Simulator::set_clock`] and
    /// [`Simulator::advance_days`] set it.
    pub fn clock(&self) -> String {
        self.state.clock()
    }

    /// Adds a fault rule. When several rules match a request, the one injected first fires.
    pub fn inject(&self, rule: FaultRule) {
        lock(&self.state.faults).add(rule);
    }

    /// Removes all fault rules.
    pub fn clear_faults(&self) {
        lock(&self.state.faults).clear();
    }

    /// Returns the highest number of requests to `api` handled at the same time, counting each
    /// request from its arrival to the end of its response body.
    pub fn max_in_flight(&self, api: Api) -> usize {
        self.state.in_flight(api).max()
    }

    /// Restarts the [`Simulator::max_in_flight`] measure from the requests now in flight.
    pub fn reset_max_in_flight(&self, api: Api) {
        self.state.in_flight(api).reset_max();
    }

    /// Sets the maximum number of policies in one policy list response. 0 is treated as 1.
    pub fn set_page_size(&self, n: usize) {
        self.state.page_size.store(n, Ordering::Relaxed);
    }

    /// Sets the time that responses report, such as `2026-12-04T10:00:00Z` (the default). The
    /// text is sent as given, unchecked.
    pub fn set_clock(&self, datetime: &str) {
        *lock(&self.state.clock) = datetime.to_string();
    }

    /// Starts a new rate-limit window, so that the next classic response reports
    /// `X-RateLimit-Remaining: 299`.
    pub fn reset_rate_limit(&self) {
        lock(&self.state.classic_rate).reset();
    }

    /// Stops the server, as dropping the simulator does.
    pub fn shutdown(self) {}
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(address = %self.address, "the simulator thread panicked");
        }
        tracing::info!(address = %self.address, "qualys simulator stopped");
    }
}

/// Runs the server on the current thread until `stopped` fires or its sender is dropped.
fn serve(
    listener: TcpListener,
    router: axum::Router,
    ready: std::sync::mpsc::Sender<anyhow::Result<()>>,
    stopped: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("qualys-sim-worker")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready.send(Err(
                anyhow::Error::new(error).context("building the runtime failed")
            ));
            return;
        }
    };

    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(error) => {
                let error = anyhow::Error::new(error).context("registering the listener failed");
                let _ = ready.send(Err(error));
                return;
            }
        };
        // Small chunks (keep-alive whitespace, slow bodies) must leave at once, not wait for
        // Nagle's algorithm.
        let listener = listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "setting TCP_NODELAY failed");
            }
        });
        let _ = ready.send(Ok(()));
        tokio::select! {
            result = axum::serve(listener, router).into_future() => {
                if let Err(error) = result {
                    tracing::error!(%error, "the simulator server failed");
                }
            }
            _ = stopped => {}
        }
    });
    runtime.shutdown_timeout(STOP_TIMEOUT);
}

/// Sets the last evaluation time of every evaluated policy that has postures to its latest
/// posture evaluation, so that the policy list and the posture info agree.
fn match_policy_evaluations(dataset: &mut Dataset, postures: &Postures) {
    let mut latest: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    for posture in postures.iter() {
        let entry = latest.entry(posture.key.policy_id).or_default();
        if posture.evaluated > *entry {
            *entry = posture.evaluated;
        }
    }
    for policy in &mut dataset.policies {
        if policy.last_evaluated.is_some()
            && let Some(evaluated) = latest.remove(&policy.id)
        {
            policy.last_evaluated = Some(evaluated);
        }
    }
}
