//! A response under construction, before it becomes an axum response.

use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use bytes::Bytes;

use crate::body::{self, BodyStream, Guarded};
use crate::state::InFlightGuard;

/// Content type of classic API documents.
pub(crate) const XML_CONTENT_TYPE: &str = "application/xml";
/// Content type of plain-text error bodies.
pub(crate) const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

pub(crate) struct SimResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: BodyStream,
    /// Length sent as `Content-Length`. `None` sends the body with chunked encoding.
    pub(crate) content_length: Option<u64>,
}

impl SimResponse {
    /// Creates a response with a body that is already complete.
    pub(crate) fn bytes(status: StatusCode, content_type: &'static str, body: Bytes) -> Self {
        let mut response = Self::stream(status, content_type, body::from_bytes(Bytes::new()));
        response.content_length = Some(body.len() as u64);
        response.body = body::from_bytes(body);
        response
    }

    /// Creates a response whose body is streamed with chunked encoding.
    pub(crate) fn stream(status: StatusCode, content_type: &'static str, body: BodyStream) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        Self {
            status,
            headers,
            body,
            content_length: None,
        }
    }

    pub(crate) fn xml(status: StatusCode, document: String) -> Self {
        Self::bytes(status, XML_CONTENT_TYPE, Bytes::from(document))
    }

    pub(crate) fn plain(status: StatusCode, text: &str) -> Self {
        Self::bytes(status, TEXT_CONTENT_TYPE, Bytes::from(format!("{text}\n")))
    }

    /// Builds a response with an HTML body, as a web server in front of the API sends for
    /// errors of its own.
    pub(crate) fn html(status: StatusCode, html: &str) -> Self {
        Self::bytes(
            status,
            "text/html; charset=iso-8859-1",
            Bytes::from(html.to_string()),
        )
    }

    /// Sets a header, replacing any earlier value.
    pub(crate) fn set_header(&mut self, name: &str, value: impl ToString) {
        let name = HeaderName::from_bytes(name.as_bytes());
        let value = HeaderValue::from_str(&value.to_string());
        if let (Ok(name), Ok(value)) = (name, value) {
            self.headers.insert(name, value);
        }
    }

    /// Sets a header unless the response already has it, so that headers chosen by a fault
    /// win over the defaults added afterwards.
    pub(crate) fn default_header(&mut self, name: &str, value: impl ToString) {
        if !self.headers.contains_key(name) {
            self.set_header(name, value);
        }
    }

    /// Converts to an axum response whose body keeps `guard` alive until it ends.
    pub(crate) fn into_axum(self, guard: InFlightGuard) -> axum::response::Response {
        let body = Guarded::new(self.body, guard, self.content_length);
        let mut response = axum::response::Response::new(Body::from_stream(body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        if let Some(length) = self.content_length {
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
        response
    }
}
