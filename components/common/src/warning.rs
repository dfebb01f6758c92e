//! The truncation WARNING that ends a list page which has more records, and the follow-up
//! request it names.
//!
//! `WARNING/{CODE?, TEXT, URL?}`, for example code 1980 with the text
//! "1000 record limit exceeded. Use URL to get next batch of results." The URL repeats the
//! original query plus `id_min`, often on a host name other than the one the host is configured
//! with, so only its path and query are kept.

use std::io::Read;

use crate::error::Error;
use crate::xml::{Element, XmlStream};

/// Prefix every follow-up path must have.
pub const API_PATH_PREFIX: &str = "/api/";

/// A WARNING element, every value trimmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Warning {
    /// CODE as sent, for example `1980`.
    pub code: Option<String>,
    pub text: String,
    /// URL of the next page, or `None` when absent or blank.
    pub url: Option<String>,
}

impl Warning {
    /// Returns the request for the next page, or `None` if the warning has no URL.
    pub fn follow_up(&self) -> Option<Result<FollowUp, Error>> {
        self.url.as_deref().map(follow_up_from_url)
    }

    /// Describes the warning for a log line or a run warning.
    pub fn describe(&self) -> String {
        match &self.code {
            Some(code) => format!("Qualys WARNING {code}: {}", self.text),
            None => format!("Qualys WARNING: {}", self.text),
        }
    }
}

/// Path and decoded query of the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    /// The URL's path as sent, for example `/api/5.0/fo/compliance/policy/`.
    pub path: String,
    /// The URL's query pairs in order, percent-decoded, with `+` read as a space.
    pub query: Vec<(String, String)>,
}

/// Reads the rest of a WARNING element whose start tag has been read.
pub fn read_warning<R: Read>(xml: &mut XmlStream<R>, element: &Element) -> Result<Warning, Error> {
    let mut warning = Warning::default();
    while let Some(child) = xml.next_child(element)? {
        match child.name.as_str() {
            "CODE" => warning.code = Some(xml.read_text(&child)?),
            "TEXT" => warning.text = xml.read_text(&child)?,
            "URL" => {
                let url = xml.read_text(&child)?;
                warning.url = (!url.is_empty()).then_some(url);
            }
            _ => xml.skip(&child)?,
        }
    }
    Ok(warning)
}

/// Turns a next-page URL into a path and query, dropping the scheme, host and fragment.
///
/// Accepts an absolute `http`/`https` URL or an absolute path. Fails with
/// [`Error::FollowUpUrl`] if the path does not start with `/api/` or has a `.` or `..` segment
/// (also when percent-encoded), because the host resolves the path against its base URL.
pub fn follow_up_from_url(url: &str) -> Result<FollowUp, Error> {
    let reject = |reason: &str| Error::FollowUpUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };

    let trimmed = url.trim();
    let without_fragment = trimmed.split('#').next().unwrap_or("");
    let path_and_query = match scheme_rest(without_fragment) {
        Some(rest) => {
            // Skip the authority: everything up to the first '/', '?' or the end.
            let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
            &rest[authority_end..]
        }
        None if without_fragment.starts_with('/') && !without_fragment.starts_with("//") => {
            without_fragment
        }
        None => return Err(reject("expected an http or https URL or an absolute path")),
    };

    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, query),
        None => (path_and_query, ""),
    };

    if !path.starts_with(API_PATH_PREFIX) {
        return Err(reject(&format!(
            "the path must start with {API_PATH_PREFIX}"
        )));
    }
    let has_dot_segment = path.split('/').any(|segment| {
        let decoded = percent_decode(segment, false);
        decoded == "." || decoded == ".."
    });
    if has_dot_segment {
        return Err(reject("the path must not contain . or .. segments"));
    }

    Ok(FollowUp {
        path: path.to_owned(),
        query: parse_query(query),
    })
}

/// Returns what follows `http://` or `https://` (any letter case), or `None`.
fn scheme_rest(url: &str) -> Option<&str> {
    for scheme in ["https://", "http://"] {
        if url.len() >= scheme.len()
            && url.is_char_boundary(scheme.len())
            && url[..scheme.len()].eq_ignore_ascii_case(scheme)
        {
            return Some(&url[scheme.len()..]);
        }
    }
    None
}

/// Splits a query string into decoded pairs. Empty parts are skipped, and a part without `=`
/// is a name with an empty value.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            (percent_decode(name, true), percent_decode(value, true))
        })
        .collect()
}

/// Decodes `%XX` escapes, and `+` as a space when `plus_is_space`. A `%` without two hex digits
/// is kept, and bytes that do not form UTF-8 become U+FFFD.
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' {
            let high = bytes.get(index + 1).and_then(|digit| hex_value(*digit));
            let low = bytes.get(index + 2).and_then(|digit| hex_value(*digit));
            if let (Some(high), Some(low)) = (high, low) {
                decoded.push(high * 16 + low);
                index += 3;
                continue;
            }
        }
        decoded.push(if byte == b'+' && plus_is_space {
            b' '
        } else {
            byte
        });
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|value| value as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn warning_read_with_cdata_url() {
        let body = "<WARNING>\n  <CODE>1980</CODE>\n  <TEXT>1000 record limit exceeded. Use URL to get next batch of results.</TEXT>\n  \
                    <URL><![CDATA[ https://qualysapi.qg2.apps.qualys.com/api/2.0/fo/compliance/policy/?action=list&details=Basic&id_min=1001 ]]></URL>\n</WARNING>";
        let mut xml = XmlStream::new(body.as_bytes());
        let root = xml.read_root().unwrap();

        let warning = read_warning(&mut xml, &root).unwrap();

        assert_eq!(warning.code.as_deref(), Some("1980"));
        assert_eq!(
            warning.url.as_deref(),
            Some(
                "https://qualysapi.qg2.apps.qualys.com/api/2.0/fo/compliance/policy/?action=list&details=Basic&id_min=1001"
            )
        );
        let follow_up = warning.follow_up().unwrap().unwrap();
        assert_eq!(follow_up.path, "/api/2.0/fo/compliance/policy/");
        assert_eq!(
            follow_up.query,
            pairs(&[("action", "list"), ("details", "Basic"), ("id_min", "1001")])
        );
    }

    #[test]
    fn warning_without_url() {
        let mut xml = XmlStream::new(&b"<WARNING><TEXT>partial</TEXT><URL>  </URL></WARNING>"[..]);
        let root = xml.read_root().unwrap();

        let warning = read_warning(&mut xml, &root).unwrap();

        assert!(warning.follow_up().is_none());
        assert_eq!(warning.describe(), "Qualys WARNING: partial");
    }

    #[test]
    fn host_port_and_fragment_dropped() {
        let follow_up =
            follow_up_from_url("HTTPS://other.example:8443/api/5.0/fo/x/?a=1#part").unwrap();

        assert_eq!(follow_up.path, "/api/5.0/fo/x/");
        assert_eq!(follow_up.query, pairs(&[("a", "1")]));
    }

    #[test]
    fn absolute_path_accepted() {
        let follow_up = follow_up_from_url("/api/5.0/fo/x/?ids=1-5,9").unwrap();

        assert_eq!(follow_up.path, "/api/5.0/fo/x/");
        assert_eq!(follow_up.query, pairs(&[("ids", "1-5,9")]));
    }

    #[test]
    fn query_decoded() {
        let follow_up = follow_up_from_url(
            "https://h/api/2.0/fo/x/?updated_after_datetime=2024-01-01T00%3A00%3A00Z&name=a+b%20c&&flag&bad=%zz%4",
        )
        .unwrap();

        assert_eq!(
            follow_up.query,
            pairs(&[
                ("updated_after_datetime", "2024-01-01T00:00:00Z"),
                ("name", "a b c"),
                ("flag", ""),
                ("bad", "%zz%4"),
            ])
        );
    }

    #[test]
    fn path_outside_api_rejected() {
        let error = follow_up_from_url("https://evil.example/admin/?x=1").unwrap_err();

        assert_eq!(
            error.to_string(),
            "rejected follow-up URL \"https://evil.example/admin/?x=1\": the path must start with /api/"
        );
    }

    #[test]
    fn unusable_urls_rejected() {
        let rejected = [
            "",
            "api/2.0/fo/x/",
            "//other.example/api/2.0/fo/x/",
            "ftp://h/api/2.0/fo/x/",
            "https://h",
            "https://h?x=/api/",
            "https://h/api/../admin/",
            "https://h/api/%2E%2e/admin/",
            "https://h/api/./x/",
            "https://h/apix/",
        ];
        for url in rejected {
            let result = follow_up_from_url(url);
            assert!(
                matches!(result, Err(Error::FollowUpUrl { .. })),
                "{url:?}: {result:?}"
            );
        }
    }

    #[test]
    fn non_ascii_url_does_not_panic() {
        assert!(follow_up_from_url("ht\u{E9}ps://h/api/x").is_err());
        assert!(follow_up_from_url("https\u{E9}").is_err());
        assert!(follow_up_from_url("h").is_err());
    }
}
