//! Per-API limits on the client side: requests in flight, and the pause Qualys asks for when a
//! rate-limit window is used up.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Admits at most `max` requests of one API at a time and holds new ones back while Qualys said
/// the window is used up (`X-RateLimit-Remaining: 0`).
pub struct Gate {
    name: &'static str,
    max: usize,
    state: Mutex<GateState>,
    released: Condvar,
}

struct GateState {
    in_flight: usize,
    /// No request starts before this instant.
    paused_until: Option<Instant>,
}

/// A slot in the gate, given back on drop.
pub struct Permit<'a> {
    gate: &'a Gate,
}

impl Gate {
    pub fn new(name: &'static str, max: usize) -> Gate {
        Gate {
            name,
            max: max.max(1),
            state: Mutex::new(GateState {
                in_flight: 0,
                paused_until: None,
            }),
            released: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        // A panic while holding this lock leaves only counters behind, which stay usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a free slot and for any pause to end.
    pub fn enter(&self) -> Permit<'_> {
        let mut state = self.lock();
        loop {
            if let Some(until) = state.paused_until {
                let now = Instant::now();
                if until > now {
                    let wait = until - now;
                    tracing::info!(
                        api = self.name,
                        wait_secs = wait.as_secs_f64(),
                        "Qualys rate-limit window used up (X-RateLimit-Remaining: 0); waiting before the next request"
                    );
                    drop(state);
                    std::thread::sleep(wait);
                    state = self.lock();
                    continue;
                }
                state.paused_until = None;
            }
            if state.in_flight < self.max {
                state.in_flight += 1;
                return Permit { gate: self };
            }
            state = self
                .released
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Holds back new requests for `wait`, as the limit headers of a response asked.
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut state = self.lock();
        if state.paused_until.is_none_or(|current| current < until) {
            state.paused_until = Some(until);
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.gate.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        self.gate.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn never_more_than_max_in_flight() {
        let gate = Arc::new(Gate::new("classic", 2));
        let current = Arc::new(AtomicUsize::new(0));
        let highest = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (gate, current, highest) = (gate.clone(), current.clone(), highest.clone());
                std::thread::spawn(move || {
                    let _permit = gate.enter();
                    let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                    highest.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    current.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(highest.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn pause_delays_the_next_request() {
        let gate = Gate::new("classic", 2);
        gate.pause(Duration::from_millis(150));
        let started = Instant::now();
        drop(gate.enter());
        assert!(started.elapsed() >= Duration::from_millis(140));
    }
}
