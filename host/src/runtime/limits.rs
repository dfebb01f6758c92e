//! Resource limits for one component instance.

use std::time::Duration;

use serde::Deserialize;

/// Limits applied to every component call. Configured in `[limits]` of `pcsync.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock time one call (`describe`, `plan` or `process` of one page) may take, in
    /// seconds. Default 300: parsing a 1000-record posture page takes well under a second, so
    /// this only stops a component that is stuck.
    pub call_timeout_secs: u64,
    /// Linear memory one instance may grow to, in MiB. Default 64: components stream pages, so
    /// their memory follows the largest glossary, not the page, and each page gets a fresh
    /// instance.
    pub memory_mib: u64,
    /// Records one `emit` call may carry. Default 10 000; bounds the host memory of one batch.
    pub max_emit_batch: usize,
    /// Log bytes one call may write before further lines are dropped (and counted). Default
    /// 1 MiB.
    pub max_log_bytes_per_call: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout_secs: 300,
            memory_mib: 64,
            max_emit_batch: 10_000,
            max_log_bytes_per_call: 1 << 20,
        }
    }
}

impl Limits {
    pub fn call_timeout(&self) -> Duration {
        Duration::from_secs(self.call_timeout_secs.max(1))
    }

    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }
}

/// Refuses linear memory or table growth past the cap, and remembers that it did, so the host
/// can report "memory limit exceeded" instead of the trap the guest turns the refusal into.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_bytes: usize,
    pub exceeded: bool,
}

impl MemoryLimiter {
    pub fn new(max_bytes: usize) -> Self {
        MemoryLimiter {
            max_bytes,
            exceeded: false,
        }
    }
}

/// Table elements one instance may have; far above what Rust components use.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
