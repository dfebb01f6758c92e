//! The HTTP server: reading requests, dispatching them to an API, and tracking them.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State as AxumState};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;

use crate::classic;
use crate::record::{Api, Endpoint, RecordedRequest};
use crate::response::SimResponse;
use crate::state::{InFlightGuard, LogKey, State};

/// Largest request body in bytes that the server reads. Larger ones get HTTP 413.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// Maximum length of a request line (`GET <path>?<query> HTTP/1.1`) the server accepts, as
/// Apache's default `LimitRequestLine`. Longer ones get HTTP 414, as a client that puts
/// thousands of ids in one URL gets from Qualys.
pub const MAX_REQUEST_LINE: usize = 8190;

/// Builds the router. Every request goes to one handler, which routes by path itself so that
/// unknown paths are recorded and counted like the others.
pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(AxumState(state): AxumState<Arc<State>>, request: Request) -> Response {
    let api = Api::for_path(request.uri().path());
    let incoming = match Incoming::read(request).await {
        Ok(incoming) => incoming,
        Err(incoming) => {
            let exchange = Exchange::begin(&state, api, &incoming, Endpoint::Other);
            let response = SimResponse::plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("Request body larger than {MAX_REQUEST_BODY} bytes."),
            );
            return exchange.finish(&state, response);
        }
    };
    let request_line =
        incoming.method.as_str().len() + incoming.target.len() + " HTTP/1.1".len() + 1;
    if request_line > MAX_REQUEST_LINE {
        let exchange = Exchange::begin(&state, api, &incoming, Endpoint::Other);
        let response = SimResponse::html(
            StatusCode::URI_TOO_LONG,
            "<html><head><title>414 Request-URI Too Long</title></head><body>\
             <h1>Request-URI Too Long</h1><p>The requested URL's length exceeds the capacity \
             limit for this server.</p></body></html>",
        );
        return exchange.finish(&state, response);
    }
    match api {
        Api::Classic => classic::handle(&state, incoming).await,
        Api::Gateway => {
            // NOTE: the gateway API (/auth, /pcrs/...) is not simulated yet.
            let exchange = Exchange::begin(&state, api, &incoming, Endpoint::Other);
            exchange.finish(
                &state,
                SimResponse::plain(StatusCode::NOT_FOUND, "Not Found"),
            )
        }
    }
}

/// A request with its parameters decoded.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub(crate) method: Method,
    /// The request target as sent: the path and the query string, still encoded.
    pub(crate) target: String,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) form: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
}

impl Incoming {
    /// Reads the request and its body. On a body larger than [`MAX_REQUEST_BODY`] or a read
    /// error, returns the request without form parameters as the error.
    async fn read(request: Request) -> Result<Incoming, Incoming> {
        let (parts, body) = request.into_parts();
        let query = parts
            .uri
            .query()
            .map(|query| decode_form(query.as_bytes()))
            .unwrap_or_default();
        let mut incoming = Incoming {
            method: parts.method,
            target: parts
                .uri
                .path_and_query()
                .map(|target| target.as_str().to_string())
                .unwrap_or_default(),
            path: parts.uri.path().to_string(),
            query,
            form: Vec::new(),
            headers: parts.headers,
        };

        let bytes = match axum::body::to_bytes(body, MAX_REQUEST_BODY).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(path = %incoming.path, %error, "reading the request body failed");
                return Err(incoming);
            }
        };
        if incoming.has_form_body() {
            incoming.form = decode_form(&bytes);
        }
        Ok(incoming)
    }

    /// A body is read as form parameters when its content type is
    /// `application/x-www-form-urlencoded`, or when a POST has no content type (as some clients
    /// send it).
    fn has_form_body(&self) -> bool {
        match self.headers.get(CONTENT_TYPE) {
            Some(value) => value
                .to_str()
                .map(|text| {
                    text.trim_start()
                        .to_ascii_lowercase()
                        .starts_with("application/x-www-form-urlencoded")
                })
                .unwrap_or(false),
            None => self.method == Method::POST,
        }
    }

    /// Returns all parameters: the query string first, then the form body.
    pub(crate) fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.query
            .iter()
            .chain(self.form.iter())
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// Returns the first value of a parameter.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    fn to_record(&self, endpoint: Endpoint) -> RecordedRequest {
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect();
        RecordedRequest {
            number: 0,
            endpoint,
            method: self.method.as_str().to_string(),
            target: self.target.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            form: self.form.clone(),
            headers,
            status: 0,
        }
    }
}

fn decode_form(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes)
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// One request from arrival to response: its log entry and its in-flight count.
pub(crate) struct Exchange {
    /// Number of the request within its endpoint, from 1.
    pub(crate) number: u64,
    /// Requests of the same API in flight, this one included, when it arrived.
    pub(crate) running: usize,
    key: LogKey,
    guard: InFlightGuard,
}

impl Exchange {
    /// Records the request and counts it as in flight.
    pub(crate) fn begin(state: &State, api: Api, incoming: &Incoming, endpoint: Endpoint) -> Self {
        let (number, key) = state.record(incoming.to_record(endpoint));
        let (guard, running) = state.in_flight(api).enter();
        tracing::debug!(
            method = %incoming.method,
            path = %incoming.path,
            ?endpoint,
            number,
            running,
            "request"
        );
        Self {
            number,
            running,
            key,
            guard,
        }
    }

    /// Records the status and converts the response. The request stays in flight until the
    /// body has been sent.
    pub(crate) fn finish(self, state: &State, response: SimResponse) -> Response {
        state.set_status(self.key, response.status.as_u16());
        response.into_axum(self.guard)
    }
}
