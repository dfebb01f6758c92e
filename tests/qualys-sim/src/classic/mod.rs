//! The classic XML API (`/api/<version>/fo/...`): routing, login and header checks, faults and
//! limit headers shared by all its operations.

pub(crate) mod control_list;
pub(crate) mod elements;
pub(crate) mod paging;
pub(crate) mod params;
pub(crate) mod policy_export;
pub(crate) mod policy_list;
pub(crate) mod posture_info;
pub(crate) mod simple_return;

use std::sync::Arc;

use axum::http::header::AUTHORIZATION;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::faults::{self, Effect, FaultContext};
use crate::record::{Api, Endpoint};
use crate::response::SimResponse;
use crate::server::{Exchange, Incoming};
use crate::state::{
    CLASSIC_CONCURRENCY_LIMIT, CLASSIC_RATE_LIMIT, CLASSIC_RATE_WINDOW_SECS, Credentials, State,
    lock,
};
use params::ParamError;

/// API versions served. Any other version in the path gets HTTP 404.
pub const SUPPORTED_VERSIONS: [&str; 4] = ["2.0", "3.0", "4.0", "5.0"];

/// Resources under `/api/<version>/`, with the operation behind each `action` value.
const RESOURCES: &[(&str, &[(&str, Endpoint)])] = &[
    (
        "fo/compliance/policy",
        &[
            ("list", Endpoint::PolicyList),
            ("export", Endpoint::PolicyExport),
        ],
    ),
    ("fo/compliance/control", &[("list", Endpoint::ControlList)]),
    (
        "fo/compliance/posture/info",
        &[("list", Endpoint::PostureInfo)],
    ),
];

/// Where a classic request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Operation(Endpoint),
    MissingAction,
    UnknownAction(String),
    NotFound,
}

impl Route {
    fn endpoint(&self) -> Endpoint {
        match self {
            Route::Operation(endpoint) => *endpoint,
            _ => Endpoint::Other,
        }
    }
}

/// Splits a classic path such as `/api/5.0/fo/compliance/policy/` into the API version and
/// the rest.
fn split_path(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix("/api/")?.split_once('/')
}

/// Returns the API version in a classic path, such as `5.0` in `/api/5.0/fo/...`.
pub(crate) fn api_version(path: &str) -> Option<&str> {
    split_path(path).map(|(version, _)| version)
}

fn route(incoming: &Incoming) -> Route {
    let Some((version, resource)) = split_path(&incoming.path) else {
        return Route::NotFound;
    };
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Route::NotFound;
    }
    let resource = resource.trim_end_matches('/');
    let Some((_, actions)) = RESOURCES.iter().find(|(name, _)| *name == resource) else {
        return Route::NotFound;
    };
    match incoming.param("action") {
        None => Route::MissingAction,
        Some(action) => match actions.iter().find(|(name, _)| *name == action) {
            Some((_, endpoint)) => Route::Operation(*endpoint),
            None => Route::UnknownAction(action.to_string()),
        },
    }
}

/// Handles one classic API request and adds the limit headers to whatever it returns.
pub(crate) async fn handle(state: &Arc<State>, incoming: Incoming) -> Response {
    let route = route(&incoming);
    let exchange = Exchange::begin(state, Api::Classic, &incoming, route.endpoint());
    let remaining = lock(&state.classic_rate).take();

    let mut response = respond(state, &incoming, &route, exchange.number).await;

    response.default_header("x-ratelimit-limit", CLASSIC_RATE_LIMIT);
    response.default_header("x-ratelimit-window-sec", CLASSIC_RATE_WINDOW_SECS);
    response.default_header("x-ratelimit-remaining", remaining);
    response.default_header("x-ratelimit-towait-sec", 0);
    response.default_header("x-concurrency-limit-limit", CLASSIC_CONCURRENCY_LIMIT);
    response.default_header("x-concurrency-limit-running", exchange.running);
    exchange.finish(state, response)
}

/// Runs the checks, in this order: path and version (404), login (401), `X-Requested-With`
/// (400), method (400, code 1908), then injected faults, then the operation itself.
async fn respond(state: &State, incoming: &Incoming, route: &Route, number: u64) -> SimResponse {
    let clock = state.clock();
    if *route == Route::NotFound {
        return SimResponse::plain(StatusCode::NOT_FOUND, "Not Found");
    }
    if !is_authorized(incoming, &state.credentials) {
        let document = simple_return::document(&clock, Some(2000), "Bad Login/Password", &[]);
        return SimResponse::xml(StatusCode::UNAUTHORIZED, document);
    }
    if !incoming.headers.contains_key("x-requested-with") {
        // NOTE: the real text and code of this rejection are unknown, so the simulator sends no CODE.
        let document =
            simple_return::document(&clock, None, "X-Requested-With header is required", &[]);
        return SimResponse::xml(StatusCode::BAD_REQUEST, document);
    }
    if incoming.method != Method::GET && incoming.method != Method::POST {
        let text = format!(
            "Method {} is not supported. Use GET or POST.",
            incoming.method
        );
        let document = simple_return::document(&clock, Some(1908), &text, &[]);
        return SimResponse::xml(StatusCode::BAD_REQUEST, document);
    }

    let endpoint = route.endpoint();
    let mut alteration = None;
    let fired = lock(&state.faults).fire(endpoint, number);
    if let Some(fault) = fired {
        tracing::info!(?endpoint, number, ?fault, "injecting fault");
        let api_name = incoming.path.trim_start_matches('/');
        let context = FaultContext {
            datetime: &clock,
            username: &state.credentials.username,
            api_name,
        };
        match faults::effect(fault, &context) {
            Effect::Replace(response) => return response,
            Effect::DelayThenNormal(pause) => tokio::time::sleep(pause).await,
            Effect::Alter(fault) => alteration = Some(fault),
        }
    }

    let response = match route {
        Route::Operation(Endpoint::PolicyList) => policy_list::respond(state, incoming, &clock),
        Route::Operation(Endpoint::PolicyExport) => policy_export::respond(state, incoming, &clock),
        Route::Operation(Endpoint::ControlList) => control_list::respond(state, incoming, &clock),
        Route::Operation(Endpoint::PostureInfo) => posture_info::respond(state, incoming, &clock),
        Route::MissingAction => ParamError::missing("action").into_response(&clock),
        Route::UnknownAction(action) => {
            let expected = "an action that this resource supports";
            ParamError::invalid("action", action, expected).into_response(&clock)
        }
        Route::Operation(Endpoint::Other) | Route::NotFound => {
            SimResponse::plain(StatusCode::NOT_FOUND, "Not Found")
        }
    };
    match alteration {
        Some(fault) => faults::alter(fault, response).await,
        None => response,
    }
}

/// Checks HTTP Basic credentials. Any malformed header counts as a failed login.
fn is_authorized(incoming: &Incoming, credentials: &Credentials) -> bool {
    let Some(value) = incoming.headers.get(AUTHORIZATION) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = BASE64.decode(encoded.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    match decoded.split_once(':') {
        Some((username, password)) => {
            username == credentials.username && password == credentials.password
        }
        None => false,
    }
}
