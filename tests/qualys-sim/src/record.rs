//! What the simulator records about each request, and the names of its APIs and endpoints.

/// One of the two Qualys APIs, which have separate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// The classic XML API under `/api/<version>/fo/`.
    Classic,
    /// The JSON gateway API (`/auth`, `/pcrs/...`).
    Gateway,
}

impl Api {
    /// Returns the API that a request path belongs to: the gateway for `/auth` and paths
    /// under `/pcrs/`, the classic API for everything else.
    pub fn for_path(path: &str) -> Api {
        if path == "/auth" || path.starts_with("/auth/") || path.starts_with("/pcrs/") {
            Api::Gateway
        } else {
            Api::Classic
        }
    }
}

/// An operation that the simulator implements, used for request numbering and fault rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `action=list` on `/api/<version>/fo/compliance/policy/`.
    PolicyList,
    /// `action=export` on `/api/<version>/fo/compliance/policy/`.
    PolicyExport,
    /// `action=list` on `/api/<version>/fo/compliance/control/`.
    ControlList,
    /// `action=list` on `/api/<version>/fo/compliance/posture/info/`.
    PostureInfo,
    /// Any request that matches no implemented operation: unknown paths, unsupported API
    /// versions, and unknown or missing actions.
    Other,
}

/// A request as the simulator received it, with the status of its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Position of the request among those to the same endpoint, starting at 1. The count
    /// restarts at [`crate::Simulator::clear_requests`].
    pub number: u64,
    /// Endpoint the request was routed to.
    pub endpoint: Endpoint,
    /// HTTP method, such as `GET`.
    pub method: String,
    /// The request target as sent: the path and the query string, still encoded. The URL
    /// the client used is the simulator's base URL followed by this.
    pub target: String,
    /// Path without the query string.
    pub path: String,
    /// Decoded query-string parameters in the order sent.
    pub query: Vec<(String, String)>,
    /// Decoded parameters of a form body (`application/x-www-form-urlencoded`), in the order
    /// sent. Empty for other bodies.
    pub form: Vec<(String, String)>,
    /// Request headers with lower-case names, in the order received. Values that are not
    /// UTF-8 are decoded lossily.
    pub headers: Vec<(String, String)>,
    /// Status code of the response. A response cut off by a fault still records the status
    /// that was sent. 0 means the response had not been produced yet when the log was read.
    pub status: u16,
}

impl RecordedRequest {
    /// Returns the first value of a parameter, looking in the query string first and then in
    /// the form body.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .chain(self.form.iter())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Returns the first value of a header, comparing names case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}
