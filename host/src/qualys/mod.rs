//! The HTTP client for Qualys: resolves a component's request against the configured base URL,
//! adds credentials and streams the response body into an attachment file.

mod gate;

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::time::Duration;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use url::Url;

use crate::config::{QualysConfig, Secret};
use crate::runtime::bindings::{Api, Method, Request};
use gate::Gate;

/// The error of a request to Qualys.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid request from the component: {0}")]
    InvalidRequest(String),
    #[error("qualys.{setting} is not configured; set it in pcsync.toml")]
    NotConfigured { setting: &'static str },
    #[error(
        "Qualys refused the credentials of user `{username}` (HTTP {status}) for {url}; check qualys.username and the password"
    )]
    Credentials {
        status: u16,
        username: String,
        url: String,
    },
    #[error(
        "Qualys denied access (HTTP 403) to {url}; the user needs the Policy Compliance API permissions"
    )]
    Forbidden { url: String },
    /// A status worth retrying (409, 429, 5xx), with the code and text Qualys returned.
    #[error("Qualys returned HTTP {status} for {url}: {summary}")]
    Status {
        status: u16,
        url: String,
        summary: String,
        headers: Vec<(String, String)>,
        /// The Qualys error code from a SIMPLE_RETURN body, for example 1965.
        code: Option<u32>,
        /// SECONDS_TO_WAIT from the body, when Qualys names one.
        seconds_to_wait: Option<u64>,
    },
    #[error("request to {url} failed: {message}")]
    Transport { url: String, message: String },
    #[error("cannot write the response of {url} to {path}: {source}")]
    Attachment {
        url: String,
        path: String,
        source: std::io::Error,
    },
}

impl FetchError {
    /// Whether the same request may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => {
                matches!(status, 409 | 429) || (500..600).contains(status)
            }
            FetchError::Transport { .. } => true,
            _ => false,
        }
    }
}

/// A response stored on disk.
#[derive(Clone, Debug)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Bytes of the body as Qualys sent it (after transport or PCRS decompression).
    pub body_bytes: u64,
}

/// Headers worth keeping with a page; everything else is dropped. None of them carries a
/// credential.
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "date",
    "x-ratelimit-limit",
    "x-ratelimit-window-sec",
    "x-ratelimit-remaining",
    "x-ratelimit-towait-sec",
    "x-concurrency-limit-limit",
    "x-concurrency-limit-running",
    "retry-after",
];

/// Bytes of an error body read to explain a failure; the rest is ignored.
const ERROR_BODY_EXCERPT: u64 = 64 * 1024;

/// The Qualys client, one per process.
pub struct QualysClient {
    http: reqwest::blocking::Client,
    classic_url: Option<Url>,
    gateway_url: Option<Url>,
    username: String,
    password: Secret,
    classic_gate: Gate,
    gateway_gate: Gate,
    /// The maximum pause the limit headers may impose before the next request.
    max_pause: Duration,
}

impl QualysClient {
    pub fn new(config: &QualysConfig) -> anyhow::Result<QualysClient> {
        let parse = |text: &str| -> anyhow::Result<Option<Url>> {
            if text.is_empty() {
                return Ok(None);
            }
            Ok(Some(Url::parse(text)?))
        };
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(timeout)
            // The blocking client applies this to the headers and to each read of the body, not
            // to the whole response, so a long page that keeps arriving is never cut off.
            .timeout(timeout)
            .user_agent(concat!("pcsync/", env!("CARGO_PKG_VERSION")))
            // A redirect could lead to a host other than the configured one; it is an error.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(QualysClient {
            http,
            classic_url: parse(&config.api_url)?,
            gateway_url: parse(&config.gateway_url)?,
            username: config.username.clone(),
            password: config.password.clone(),
            classic_gate: Gate::new("classic", config.classic_max_in_flight),
            gateway_gate: Gate::new("gateway", config.gateway_max_in_flight),
            max_pause: Duration::from_secs(600),
        })
    }

    /// Sets the longest pause that `X-RateLimit-Remaining: 0` may impose; a longer one named by
    /// Qualys surfaces as the next request's 409 instead.
    pub fn set_max_pause(&mut self, max_pause: Duration) {
        self.max_pause = max_pause;
    }

    fn gate(&self, api: Api) -> &Gate {
        match api {
            Api::Classic => &self.classic_gate,
            Api::Gateway => &self.gateway_gate,
        }
    }

    /// Pauses the API's next requests when the limit headers report the window as used up.
    fn observe_limits(&self, api: Api, headers: &[(String, String)]) {
        let number = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key == name)
                .and_then(|(_, value)| value.trim().parse::<u64>().ok())
        };
        if number("x-ratelimit-remaining") == Some(0) {
            let seconds = number("x-ratelimit-towait-sec").unwrap_or(0);
            let pause = Duration::from_secs(seconds).min(self.max_pause);
            if !pause.is_zero() {
                self.gate(api).pause(pause);
            }
        }
    }

    /// The full URL of a request: the configured base URL of its API plus its path and query.
    /// A request can name neither a host nor a scheme.
    pub fn resolve(&self, request: &Request) -> Result<Url, FetchError> {
        let (base, setting) = match request.api {
            Api::Classic => (&self.classic_url, "api_url"),
            Api::Gateway => (&self.gateway_url, "gateway_url"),
        };
        let base = base.as_ref().ok_or(FetchError::NotConfigured { setting })?;
        let path = &request.path;
        if !path.starts_with('/')
            || path.starts_with("//")
            || path.contains("://")
            || path.split('/').any(|segment| segment == "..")
            || path.contains(['?', '#', '\\'])
        {
            return Err(FetchError::InvalidRequest(format!(
                "path `{path}` must be an absolute path below the base URL, without a host, query or `..`"
            )));
        }
        let mut url = base.clone();
        url.set_path(path);
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(request.query.iter());
        }
        Ok(url)
    }

    /// Sends a request and streams its body, gzip-compressed, into `destination`. Only a 2xx
    /// response is stored; anything else is an error that names what Qualys returned.
    pub fn fetch_to(
        &self,
        request: &Request,
        destination: &Path,
    ) -> Result<StoredResponse, FetchError> {
        self.fetch_with_progress(request, destination, &|_| {})
    }

    /// As [`QualysClient::fetch_to`], calling `progress` with the byte count of every chunk
    /// of the body as it arrives.
    pub fn fetch_with_progress(
        &self,
        request: &Request,
        destination: &Path,
        progress: &dyn Fn(u64),
    ) -> Result<StoredResponse, FetchError> {
        let url = self.resolve(request)?;
        let url_text = shorten_url(url.as_str());
        let transport = |error: reqwest::Error| FetchError::Transport {
            url: url_text.clone(),
            message: describe_reqwest_error(&error.without_url()),
        };

        let mut builder = match request.method {
            Method::Get => self.http.get(url.clone()),
            Method::Post => self.http.post(url.clone()),
        };
        builder = builder
            .header("X-Requested-With", "pcsync")
            .basic_auth(&self.username, Some(self.password.expose()));
        if let Some(body) = &request.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, &body.content_type)
                .body(body.data.clone());
        }

        let _permit = self.gate(request.api).enter();
        let response = builder.send().map_err(transport)?;
        let status = response.status().as_u16();
        let headers = kept_headers(response.headers());
        self.observe_limits(request.api, &headers);
        match status {
            // Every other response with a body reaches the component, because only the component
            // can tell what an error document of its endpoint means (for one policy's export, a
            // warning).
            200..=299 | 400 | 402 | 404..=408 | 410..=428 | 430..=499 => {}
            401 => {
                return Err(FetchError::Credentials {
                    status,
                    username: self.username.clone(),
                    url: url_text,
                });
            }
            403 => return Err(FetchError::Forbidden { url: url_text }),
            _ => return Err(status_error(status, url_text, headers, response)),
        }

        let body_bytes =
            write_attachment(response, request.gzip, destination, progress).map_err(|error| {
                match error {
                    AttachmentError::Read(source) => FetchError::Transport {
                        url: url_text.clone(),
                        message: format!("response body cut off: {source}"),
                    },
                    AttachmentError::Write(source) => FetchError::Attachment {
                        url: url_text.clone(),
                        path: destination.display().to_string(),
                        source,
                    },
                }
            })?;
        Ok(StoredResponse {
            status,
            headers,
            body_bytes,
        })
    }
}

fn kept_headers(headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Builds the error for a non-2xx status from a bounded excerpt of its body.
fn status_error(
    status: u16,
    url: String,
    headers: Vec<(String, String)>,
    response: reqwest::blocking::Response,
) -> FetchError {
    let mut excerpt = String::new();
    let _ = response
        .take(ERROR_BODY_EXCERPT)
        .read_to_string(&mut excerpt);
    let code = element_text(&excerpt, "CODE").and_then(|text| text.parse().ok());
    let text = element_text(&excerpt, "TEXT").or_else(|| element_text(&excerpt, "RETURN"));
    let seconds_to_wait = item_value(&excerpt, "SECONDS_TO_WAIT").and_then(|v| v.parse().ok());
    let summary = match (code, text) {
        (Some(code), Some(text)) => format!("code {code}: {text}"),
        (None, Some(text)) => text,
        _ => {
            let plain: String = excerpt.trim().chars().take(200).collect();
            if plain.is_empty() {
                "empty body".into()
            } else {
                plain
            }
        }
    };
    FetchError::Status {
        status,
        url,
        summary,
        headers,
        code,
        seconds_to_wait,
    }
}

/// The trimmed text of the first `<NAME>` element of a small error body.
pub(crate) fn element_text(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let start = body.find(&open)?;
    let content_start = start + body[start..].find('>')? + 1;
    let end = content_start + body[content_start..].find(&close)?;
    let content = body[content_start..end]
        .trim()
        .trim_start_matches("<![CDATA[")
        .trim_end_matches("]]>")
        .trim();
    Some(content.to_string())
}

/// The VALUE of the ITEM whose KEY is `key` in a SIMPLE_RETURN body.
pub(crate) fn item_value(body: &str, key: &str) -> Option<String> {
    let mut rest = body;
    while let Some(start) = rest.find("<ITEM>") {
        let item = &rest[start..];
        let end = item.find("</ITEM>").unwrap_or(item.len());
        let item = &item[..end];
        if element_text(item, "KEY").as_deref() == Some(key) {
            return element_text(item, "VALUE");
        }
        rest = &rest[start + end..];
        if end == 0 {
            break;
        }
    }
    None
}

enum AttachmentError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Streams a body into a gzip file, written under a temporary name and renamed when complete,
/// so a cut stream never leaves a page that looks whole. Returns the body's size.
fn write_attachment(
    response: reqwest::blocking::Response,
    inflate: bool,
    destination: &Path,
    progress: &dyn Fn(u64),
) -> Result<u64, AttachmentError> {
    let partial = destination.with_extension("partial");
    let file = File::create(&partial).map_err(AttachmentError::Write)?;
    // Fast compression: the store's write rate bounds a first import, and pages compress well
    // at any level.
    let mut encoder = GzEncoder::new(BufWriter::new(file), Compression::fast());

    let mut body: Box<dyn Read> = if inflate {
        Box::new(GzDecoder::new(response))
    } else {
        Box::new(response)
    };
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let count = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                let _ = std::fs::remove_file(&partial);
                return Err(AttachmentError::Read(error));
            }
        };
        encoder
            .write_all(&buffer[..count])
            .map_err(AttachmentError::Write)?;
        total += count as u64;
        progress(count as u64);
    }
    let writer = encoder.finish().map_err(AttachmentError::Write)?;
    let file = writer
        .into_inner()
        .map_err(|error| AttachmentError::Write(error.into_error()))?;
    file.sync_all().map_err(AttachmentError::Write)?;
    std::fs::rename(&partial, destination).map_err(AttachmentError::Write)?;
    Ok(total)
}

/// A reqwest error with its causes, which reqwest's own message leaves out.
fn describe_reqwest_error(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The number of characters of a URL that errors and logs show. A URL with thousands of ids
/// would otherwise make every message about it thousands of characters long.
const MAX_URL_IN_MESSAGES: usize = 200;

/// Returns `url` for messages: whole when short, else its first [`MAX_URL_IN_MESSAGES`] characters
/// with its length.
fn shorten_url(url: &str) -> String {
    if url.len() <= MAX_URL_IN_MESSAGES {
        return url.to_string();
    }
    let mut end = MAX_URL_IN_MESSAGES;
    while !url.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} characters)", &url[..end], url.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_urls_are_shortened_in_messages() {
        let long = format!("https://q.example.com/api?host_ids={}", "1%2C".repeat(3000));
        let shortened = shorten_url(&long);
        assert!(shortened.len() < 250, "{shortened}");
        assert!(
            shortened.ends_with(&format!("({} characters)", long.len())),
            "{shortened}"
        );
        assert_eq!(
            shorten_url("https://q.example.com/a"),
            "https://q.example.com/a"
        );
    }

    use super::*;

    fn client() -> QualysClient {
        QualysClient::new(&QualysConfig {
            api_url: "https://qualysapi.example.com".into(),
            ..QualysConfig::default()
        })
        .unwrap()
    }

    fn request(path: &str) -> Request {
        Request {
            api: Api::Classic,
            method: Method::Get,
            path: path.into(),
            query: vec![("action".into(), "list".into())],
            body: None,
            gzip: false,
            tag: String::new(),
        }
    }

    #[test]
    fn resolves_onto_configured_base() {
        let url = client()
            .resolve(&request("/api/5.0/fo/compliance/policy/"))
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://qualysapi.example.com/api/5.0/fo/compliance/policy/?action=list"
        );
    }

    #[test]
    fn rejects_paths_naming_a_host() {
        for path in [
            "//evil.example.com/api/",
            "https://evil.example.com/api/",
            "/api/../../x",
            "api/5.0/",
        ] {
            assert!(client().resolve(&request(path)).is_err(), "{path}");
        }
    }

    #[test]
    fn gateway_needs_configuration() {
        let mut gateway = request("/pcrs/1.0/posture/hostids");
        gateway.api = Api::Gateway;
        let error = client().resolve(&gateway).unwrap_err().to_string();
        assert!(error.contains("gateway_url"), "{error}");
    }

    #[test]
    fn reads_rate_limit_sample() {
        let body = include_str!("../../tests/fixtures/fo_409_SIMPLE_RETURN_1965_rate_limit.xml");
        assert_eq!(element_text(body, "CODE").as_deref(), Some("1965"));
        assert_eq!(
            item_value(body, "SECONDS_TO_WAIT").as_deref(),
            Some("68928")
        );
    }
}
