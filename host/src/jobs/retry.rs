//! Bounded retries of a Qualys request, honouring the waits Qualys names.

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Duration as ChronoDuration;
use serde::Deserialize;
use tracing::warn;

use super::JobId;
use super::run::RunError;
use crate::Pcsync;
use crate::qualys::{FetchError, StoredResponse};
use crate::runtime::bindings::Request;
use crate::store::RunRecord;

/// Retry settings, `[retry]` in `pcsync.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Retries of one request after its first attempt. Default 5; other connectors failed in
    /// the field by retrying forever.
    pub max_retries: u32,
    /// First backoff in milliseconds, doubled after every attempt, with up to 50 % jitter.
    /// Default 1000.
    pub initial_backoff_ms: u64,
    /// Largest backoff in milliseconds. Default 60 000.
    pub max_backoff_ms: u64,
    /// Maximum wait Qualys may request (409 rate or concurrency limit) before the run ends in
    /// error instead, in seconds. Default 600.
    pub max_rate_limit_wait_secs: u64,
    /// Seconds a run may go without progress (no body bytes received, no page fetched or
    /// processed) before it ends as error "stalled". Default 1800. A slow run that keeps
    /// receiving data is never cut off, however long it takes.
    pub stall_timeout_secs: u64,
}

/// When a run last made progress.
pub struct Progress {
    last: Cell<Instant>,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            last: Cell::new(Instant::now()),
        }
    }

    pub fn touch(&self) {
        self.last.set(Instant::now());
    }

    pub fn idle(&self) -> Duration {
        self.last.get().elapsed()
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 5,
            initial_backoff_ms: 1000,
            max_backoff_ms: 60_000,
            max_rate_limit_wait_secs: 600,
            stall_timeout_secs: 1800,
        }
    }
}

/// Fetches a request into `path`, retrying what may succeed later: 409 after the wait Qualys
/// names, 429, 5xx and transport failures with exponential backoff. Every retry is logged with
/// job, run, request path and attempt.
pub fn fetch_with_retries(
    pcsync: &Pcsync,
    job: JobId,
    run: &RunRecord,
    request: &Request,
    path: &Path,
    progress: &Progress,
) -> Result<StoredResponse, RunError> {
    let settings = &pcsync.config().retry;
    let stall_timeout = Duration::from_secs(settings.stall_timeout_secs.max(1));
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let received = |_bytes: u64| progress.touch();
        let error = match pcsync
            .client()
            .fetch_with_progress(request, path, &received)
        {
            Ok(response) => {
                progress.touch();
                return Ok(response);
            }
            Err(error) => error,
        };
        if !error.is_retryable() {
            return Err(error.into());
        }

        let wait = match qualys_wait_secs(&error) {
            Some(seconds) if seconds > settings.max_rate_limit_wait_secs => {
                let retry_after = crate::time::now() + ChronoDuration::seconds(seconds as i64);
                return Err(RunError::RateLimited {
                    retry_after: crate::time::format_utc(retry_after),
                    seconds,
                });
            }
            Some(seconds) => Duration::from_secs(seconds),
            None => backoff(settings, attempt),
        };
        if progress.idle() + wait > stall_timeout {
            warn!(job = %job, run = run.id, path = %request.path, attempt, error = %error, "run stalled");
            return Err(RunError::Stalled {
                seconds: settings.stall_timeout_secs,
                last_error: error.to_string(),
            });
        }
        if attempt > settings.max_retries {
            warn!(job = %job, run = run.id, path = %request.path, attempt, error = %error, "giving up after the last retry");
            return Err(RunError::GaveUp {
                attempts: attempt,
                last_error: error.to_string(),
            });
        }
        warn!(
            job = %job,
            run = run.id,
            path = %request.path,
            attempt,
            wait_ms = wait.as_millis() as u64,
            error = %error,
            "request failed; retrying"
        );
        std::thread::sleep(wait);
    }
}

/// The wait Qualys names for a refusal: `X-RateLimit-ToWait-Sec`, the body's
/// `SECONDS_TO_WAIT`, or `Retry-After`.
fn qualys_wait_secs(error: &FetchError) -> Option<u64> {
    let FetchError::Status {
        headers,
        seconds_to_wait,
        ..
    } = error
    else {
        return None;
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.trim().parse::<u64>().ok())
    };
    header("x-ratelimit-towait-sec")
        .filter(|seconds| *seconds > 0)
        .or(*seconds_to_wait)
        .or_else(|| header("retry-after"))
}

fn backoff(settings: &RetryConfig, attempt: u32) -> Duration {
    let exponential = settings
        .initial_backoff_ms
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(20))
        .min(settings.max_backoff_ms);
    // Jitter spreads retries of parallel clients, so they do not hit the limit together.
    let jitter = pseudo_random() % (exponential / 2 + 1);
    Duration::from_millis(exponential / 2 + jitter)
}

/// A cheap random number for jitter; not for anything secret.
fn pseudo_random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}
