//! State shared between the server tasks and the [`crate::Simulator`] handle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::dataset::Dataset;
use crate::faults::FaultBook;
use crate::postures::Postures;
use crate::record::{Api, Endpoint, RecordedRequest};

/// Default simulated time of responses.
pub(crate) const DEFAULT_CLOCK: &str = "2026-12-04T10:00:00Z";

/// Locks a mutex and ignores poisoning, so that a panic in a test closure passed to
/// [`crate::Simulator::with_dataset`] does not make every later request fail.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Login that the server accepts.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) password: String,
}

/// State of a running simulator.
///
/// Code that holds several of its locks takes them in field order (dataset, postures, clock)
/// to rule out deadlocks.
pub(crate) struct State {
    pub(crate) credentials: Credentials,
    /// Seed of the data set, which the posture texts are derived from.
    pub(crate) seed: u64,
    pub(crate) dataset: Mutex<Dataset>,
    pub(crate) postures: Mutex<Postures>,
    pub(crate) faults: Mutex<FaultBook>,
    pub(crate) clock: Mutex<String>,
    pub(crate) page_size: AtomicUsize,
    pub(crate) classic_rate: Mutex<RateWindow>,
    log: Mutex<RequestLog>,
    classic_in_flight: Arc<InFlight>,
    gateway_in_flight: Arc<InFlight>,
}

impl State {
    pub(crate) fn new(
        credentials: Credentials,
        dataset: Dataset,
        postures: Postures,
        seed: u64,
        page_size: usize,
    ) -> Self {
        Self {
            credentials,
            seed,
            dataset: Mutex::new(dataset),
            postures: Mutex::new(postures),
            faults: Mutex::new(FaultBook::default()),
            clock: Mutex::new(DEFAULT_CLOCK.to_string()),
            page_size: AtomicUsize::new(page_size),
            classic_rate: Mutex::new(RateWindow::new(CLASSIC_RATE_LIMIT)),
            log: Mutex::new(RequestLog::default()),
            classic_in_flight: Arc::new(InFlight::default()),
            gateway_in_flight: Arc::new(InFlight::default()),
        }
    }

    pub(crate) fn clock(&self) -> String {
        lock(&self.clock).clone()
    }

    /// Returns the page size, at least 1.
    pub(crate) fn page_size(&self) -> usize {
        self.page_size.load(Ordering::Relaxed).max(1)
    }

    pub(crate) fn in_flight(&self, api: Api) -> &Arc<InFlight> {
        match api {
            Api::Classic => &self.classic_in_flight,
            Api::Gateway => &self.gateway_in_flight,
        }
    }

    /// Appends a request to the log, numbering it within its endpoint. Returns the number
    /// and a log key for [`State::set_status`].
    pub(crate) fn record(&self, mut request: RecordedRequest) -> (u64, LogKey) {
        let mut log = lock(&self.log);
        let counter = log.counters.entry(request.endpoint).or_insert(0);
        *counter += 1;
        request.number = *counter;
        let number = request.number;
        let key = LogKey(log.next_key.fetch_add(1, Ordering::Relaxed));
        log.entries.push((key, request));
        (number, key)
    }

    /// Stores the response status of a logged request. Does nothing when the log was cleared
    /// since the request arrived.
    pub(crate) fn set_status(&self, key: LogKey, status: u16) {
        let mut log = lock(&self.log);
        if let Some((_, request)) = log.entries.iter_mut().rev().find(|(k, _)| *k == key) {
            request.status = status;
        }
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log)
            .entries
            .iter()
            .map(|(_, request)| request.clone())
            .collect()
    }

    pub(crate) fn clear_requests(&self) {
        let mut log = lock(&self.log);
        log.entries.clear();
        log.counters.clear();
    }
}

/// Identifies one log entry, unlike its index, which [`State::clear_requests`] reuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogKey(u64);

#[derive(Default)]
struct RequestLog {
    entries: Vec<(LogKey, RecordedRequest)>,
    counters: HashMap<Endpoint, u64>,
    next_key: AtomicU64,
}

/// Counts the requests of one API that are being handled, and the maximum seen.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    current: AtomicUsize,
    max: AtomicUsize,
}

impl InFlight {
    /// Counts one more request until the returned guard is dropped. Returns the guard and
    /// the count including this request.
    pub(crate) fn enter(self: &Arc<Self>) -> (InFlightGuard, usize) {
        let running = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(running, Ordering::SeqCst);
        (InFlightGuard(Arc::clone(self)), running)
    }

    pub(crate) fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    pub(crate) fn reset_max(&self) {
        self.max
            .store(self.current.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// Keeps a request counted in [`InFlight`] while it exists.
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Rate limit of the classic API in calls per window, sent as `X-RateLimit-Limit`.
pub(crate) const CLASSIC_RATE_LIMIT: u32 = 300;
/// Length of the classic API's rate-limit window in seconds, sent as `X-RateLimit-Window-Sec`.
pub(crate) const CLASSIC_RATE_WINDOW_SECS: u32 = 3600;
/// Concurrency limit of the classic API, sent as `X-Concurrency-Limit-Limit`.
pub(crate) const CLASSIC_CONCURRENCY_LIMIT: usize = 2;

/// Calls made in the current rate-limit window.
///
/// The simulator never rejects a call for exceeding the limit on its own (tests inject
/// [`crate::Fault::RateLimit1965`] for that), so when the window is used up it starts a new
/// one instead of reporting 0 calls remaining.
#[derive(Debug)]
pub(crate) struct RateWindow {
    limit: u32,
    used: u32,
}

impl RateWindow {
    fn new(limit: u32) -> Self {
        Self { limit, used: 0 }
    }

    /// Counts one call and returns the calls remaining in the window after it, from
    /// `limit - 1` down to 1.
    pub(crate) fn take(&mut self) -> u32 {
        self.used += 1;
        if self.used >= self.limit {
            self.used = 1;
        }
        self.limit.saturating_sub(self.used)
    }

    pub(crate) fn reset(&mut self) {
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_window_never_reaches_zero() {
        let mut window = RateWindow::new(3);
        let remaining: Vec<u32> = (0..6).map(|_| window.take()).collect();
        assert_eq!(remaining, [2, 1, 2, 1, 2, 1]);
        window.reset();
        assert_eq!(window.take(), 2);
    }

    #[test]
    fn in_flight_tracks_max() {
        let counter = Arc::new(InFlight::default());
        let (first, running) = counter.enter();
        assert_eq!(running, 1);
        let (second, running) = counter.enter();
        assert_eq!(running, 2);
        drop(first);
        drop(second);
        let (_third, running) = counter.enter();
        assert_eq!(running, 1);
        assert_eq!(counter.max(), 2);
    }
}
