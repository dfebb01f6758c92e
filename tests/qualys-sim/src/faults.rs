//! Faults that tests inject into responses, and the rules that choose when they fire.

use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;

use crate::body;
use crate::classic::simple_return;
use crate::record::Endpoint;
use crate::response::SimResponse;
use crate::state::CLASSIC_CONCURRENCY_LIMIT;

/// When and how often a fault replaces or changes a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// Endpoint whose requests the rule applies to.
    pub endpoint: Endpoint,
    /// Number of the request, counted from 1 within the endpoint, that the rule applies to;
    /// `None` applies it to every request.
    pub on_request: Option<u64>,
    /// Number of times the rule fires before it is spent. `None` never spends it.
    pub times: Option<u32>,
    /// What happens to the response.
    pub fault: Fault,
}

impl FaultRule {
    /// Creates a rule that applies `fault` to every request to `endpoint`, without limit.
    pub fn new(endpoint: Endpoint, fault: Fault) -> Self {
        Self {
            endpoint,
            on_request: None,
            times: None,
            fault,
        }
    }

    /// Restricts the rule to the request with this number (counted from 1 per endpoint).
    pub fn on_request(mut self, number: u64) -> Self {
        self.on_request = Some(number);
        self
    }

    /// Limits how many times the rule fires.
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    fn matches(&self, endpoint: Endpoint, number: u64) -> bool {
        self.endpoint == endpoint
            && self.on_request.is_none_or(|wanted| wanted == number)
            && self.times != Some(0)
    }
}

/// A change to the response of the classic API.
///
/// Faults fire only after the request passed authentication and the `X-Requested-With` check,
/// and before its parameters are checked. Every response, faulty or not, still carries the
/// limit headers, except those that a fault sets itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 409 with a SIMPLE_RETURN of code 1960 and an item `CALLS_TO_FINISH`, in the layout
    /// of a real 409 body. `X-Concurrency-Limit-Running` is the limit (2) plus
    /// `calls_to_finish - 1`, because with that many calls running, `calls_to_finish` of them
    /// must end before this one may run.
    Concurrency1960 {
        /// Value of the CALLS_TO_FINISH item.
        calls_to_finish: u32,
    },
    /// HTTP 409 with a SIMPLE_RETURN of code 1965 and an item `SECONDS_TO_WAIT`, laid out like
    /// a real Qualys 409 body.
    RateLimit1965 {
        /// Value of the SECONDS_TO_WAIT item, also written as hours, minutes and seconds in
        /// the TEXT.
        seconds_to_wait: u64,
        /// Also send `X-RateLimit-ToWait-Sec: seconds_to_wait` and `X-RateLimit-Remaining: 0`.
        header: bool,
    },
    /// HTTP 429 with a plain-text body.
    TooManyRequests {
        /// Value of a `Retry-After` header in seconds. `None` sends no such header.
        retry_after_secs: Option<u64>,
    },
    /// The given status (500 or 503 in practice) with a plain-text body naming it. A value
    /// outside 100..=999 is sent as 500.
    ServerError(u16),
    /// HTTP 200 whose body is a SIMPLE_RETURN error document with this code and text.
    SimpleReturn200 {
        /// Value of the CODE element.
        code: u32,
        /// Value of the TEXT element.
        text: String,
    },
    /// HTTP 200 whose body is a GENERIC_RETURN reporting an internal error (number 999).
    GenericReturn,
    /// HTTP 200 with `Content-Length: 0`.
    Empty200,
    /// The normal response, with this many bytes of spaces and newlines before the XML
    /// declaration. They are sent as a first chunk, followed by a pause of 50 ms.
    KeepAliveWhitespace {
        /// Number of whitespace bytes.
        bytes: usize,
    },
    /// The normal response, re-cut into chunks with a pause before each chunk after the first.
    SlowBody {
        /// Maximum chunk size in bytes. 0 is treated as 1.
        chunk_bytes: usize,
        /// Pause between chunks in milliseconds.
        delay_ms: u64,
    },
    /// The normal response with `Content-Length` set to its full length, of which only the
    /// first `after_bytes` bytes are sent before the connection is dropped. At most
    /// length - 1 bytes are sent, so the body is always incomplete.
    CutMidBody {
        /// Number of body bytes sent before the connection is dropped.
        after_bytes: usize,
    },
    /// The normal response with `X-RateLimit-Remaining: 0` and
    /// `X-RateLimit-ToWait-Sec: to_wait_secs`.
    RemainingZero {
        /// Value of `X-RateLimit-ToWait-Sec`.
        to_wait_secs: u64,
    },
    /// The normal response after a pause, during which the request counts as in flight.
    Delay {
        /// Pause in milliseconds.
        ms: u64,
    },
}

/// Pause after the whitespace of [`Fault::KeepAliveWhitespace`].
const KEEP_ALIVE_PAUSE: Duration = Duration::from_millis(50);

/// The rules injected so far, in order.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    rules: Vec<FaultRule>,
}

impl FaultBook {
    pub(crate) fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Fires the first rule, in injection order, that matches this request. Returns its fault,
    /// counts one use and removes the rule once it is spent.
    pub(crate) fn fire(&mut self, endpoint: Endpoint, number: u64) -> Option<Fault> {
        let index = self
            .rules
            .iter()
            .position(|rule| rule.matches(endpoint, number))?;
        let rule = &mut self.rules[index];
        let fault = rule.fault.clone();
        if let Some(times) = &mut rule.times {
            *times -= 1;
            if *times == 0 {
                self.rules.remove(index);
            }
        }
        Some(fault)
    }
}

/// Values that fault responses echo.
pub(crate) struct FaultContext<'a> {
    pub(crate) datetime: &'a str,
    pub(crate) username: &'a str,
    /// Request path without the leading slash, used as the GENERIC_RETURN API name.
    pub(crate) api_name: &'a str,
}

/// What a fault does to the normal response.
pub(crate) enum Effect {
    /// The fault's own response is sent instead.
    Replace(SimResponse),
    /// Wait, then produce the normal response.
    DelayThenNormal(Duration),
    /// Produce the normal response and change it with [`alter`].
    Alter(Fault),
}

/// Decides what a fired fault does.
pub(crate) fn effect(fault: Fault, context: &FaultContext<'_>) -> Effect {
    match fault {
        Fault::Concurrency1960 { calls_to_finish } => {
            let text =
                simple_return::concurrency_limit_text(CLASSIC_CONCURRENCY_LIMIT, calls_to_finish);
            let document = simple_return::limit_rejection(
                context.datetime,
                1960,
                &text,
                "CALLS_TO_FINISH",
                &calls_to_finish.to_string(),
            );
            let mut response = SimResponse::xml(StatusCode::CONFLICT, document);
            let running = CLASSIC_CONCURRENCY_LIMIT + (calls_to_finish as usize).saturating_sub(1);
            response.set_header("x-concurrency-limit-running", running);
            Effect::Replace(response)
        }
        Fault::RateLimit1965 {
            seconds_to_wait,
            header,
        } => {
            let document = simple_return::limit_rejection(
                context.datetime,
                1965,
                &simple_return::rate_limit_text(seconds_to_wait),
                "SECONDS_TO_WAIT",
                &seconds_to_wait.to_string(),
            );
            let mut response = SimResponse::xml(StatusCode::CONFLICT, document);
            if header {
                response.set_header("x-ratelimit-towait-sec", seconds_to_wait);
                response.set_header("x-ratelimit-remaining", 0);
            }
            Effect::Replace(response)
        }
        Fault::TooManyRequests { retry_after_secs } => {
            let mut response =
                SimResponse::plain(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            if let Some(seconds) = retry_after_secs {
                response.set_header("retry-after", seconds);
            }
            Effect::Replace(response)
        }
        Fault::ServerError(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let text = format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("Server Error")
            );
            Effect::Replace(SimResponse::plain(status, &text))
        }
        Fault::SimpleReturn200 { code, text } => Effect::Replace(SimResponse::xml(
            StatusCode::OK,
            simple_return::document(context.datetime, Some(code), &text, &[]),
        )),
        Fault::GenericReturn => Effect::Replace(SimResponse::xml(
            StatusCode::OK,
            simple_return::generic_return(context.datetime, context.api_name, context.username),
        )),
        Fault::Empty200 => Effect::Replace(SimResponse::xml(StatusCode::OK, String::new())),
        Fault::Delay { ms } => Effect::DelayThenNormal(Duration::from_millis(ms)),
        other => Effect::Alter(other),
    }
}

/// Changes a normal response according to a fault of the [`Effect::Alter`] kind.
pub(crate) async fn alter(fault: Fault, mut response: SimResponse) -> SimResponse {
    match fault {
        Fault::KeepAliveWhitespace { bytes } => {
            let prefix = Bytes::from(keep_alive_whitespace(bytes));
            response.content_length = response
                .content_length
                .map(|length| length.saturating_add(bytes as u64));
            response.body = body::prefix_with_pause(prefix, KEEP_ALIVE_PAUSE, response.body);
        }
        Fault::SlowBody {
            chunk_bytes,
            delay_ms,
        } => {
            response.body =
                body::rechunk_slowly(response.body, chunk_bytes, Duration::from_millis(delay_ms));
        }
        Fault::CutMidBody { after_bytes } => {
            let empty = body::from_bytes(Bytes::new());
            match body::collect(std::mem::replace(&mut response.body, empty)).await {
                Ok(full) => {
                    response.content_length = Some(full.len() as u64);
                    response.body = body::cut_after(full, after_bytes);
                }
                Err(error) => {
                    tracing::warn!(%error, "rendering the body to cut failed, sending HTTP 500 instead");
                    response = SimResponse::plain(StatusCode::INTERNAL_SERVER_ERROR, "body failed");
                }
            }
        }
        Fault::RemainingZero { to_wait_secs } => {
            response.set_header("x-ratelimit-remaining", 0);
            response.set_header("x-ratelimit-towait-sec", to_wait_secs);
        }
        _ => {}
    }
    response
}

/// Returns `count` bytes of spaces with a newline after every 63 spaces.
fn keep_alive_whitespace(count: usize) -> Vec<u8> {
    (0..count)
        .map(|index| if index % 64 == 63 { b'\n' } else { b' ' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_fires_on_its_request() {
        let mut book = FaultBook::default();
        book.add(FaultRule::new(Endpoint::PolicyList, Fault::Empty200).on_request(2));
        assert_eq!(book.fire(Endpoint::PolicyList, 1), None);
        assert_eq!(book.fire(Endpoint::Other, 2), None);
        assert_eq!(book.fire(Endpoint::PolicyList, 2), Some(Fault::Empty200));
        assert_eq!(book.fire(Endpoint::PolicyList, 2), Some(Fault::Empty200));
    }

    #[test]
    fn rule_spent_after_times() {
        let mut book = FaultBook::default();
        book.add(FaultRule::new(Endpoint::PolicyList, Fault::Empty200).times(2));
        book.add(FaultRule::new(Endpoint::PolicyList, Fault::GenericReturn));
        assert_eq!(book.fire(Endpoint::PolicyList, 1), Some(Fault::Empty200));
        assert_eq!(book.fire(Endpoint::PolicyList, 2), Some(Fault::Empty200));
        assert_eq!(
            book.fire(Endpoint::PolicyList, 3),
            Some(Fault::GenericReturn)
        );
    }

    #[test]
    fn zero_times_never_fires() {
        let mut book = FaultBook::default();
        book.add(FaultRule::new(Endpoint::PolicyList, Fault::Empty200).times(0));
        assert_eq!(book.fire(Endpoint::PolicyList, 1), None);
    }

    #[test]
    fn whitespace_has_requested_length() {
        let whitespace = keep_alive_whitespace(130);
        assert_eq!(whitespace.len(), 130);
        assert!(whitespace.iter().all(|b| *b == b' ' || *b == b'\n'));
        assert_eq!(whitespace.iter().filter(|b| **b == b'\n').count(), 2);
    }
}
