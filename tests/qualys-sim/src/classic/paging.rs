//! Truncated lists: the WARNING that links to the next page, and the chunk size of streamed
//! list bodies.

use crate::server::Incoming;
use crate::xml::XmlWriter;

/// Scheme and host of the next-page URL in the truncation WARNING. It is deliberately not the
/// simulator's address, so that a client must re-root the URL onto its configured base URL.
pub const WARNING_URL_ORIGIN: &str = "https://qualysapi.qg2.apps.qualys.com";

/// Size in bytes after which the rendered text is sent as a chunk.
pub(crate) const CHUNK_TARGET: usize = 16 * 1024;

/// The WARNING (code 1980) at the end of a truncated list.
pub(crate) struct Warning {
    text: String,
    url: String,
}

impl Warning {
    /// Creates the WARNING of a page cut after `limit` records, where the record with id
    /// `next_id` comes first on the next page.
    pub(crate) fn new(incoming: &Incoming, limit: usize, next_id: u64) -> Self {
        Self {
            text: format!("{limit} record limit exceeded. Use URL to get next batch of results."),
            url: next_page_url(incoming, next_id),
        }
    }

    pub(crate) fn write(&self, writer: &mut XmlWriter) {
        writer.start("WARNING");
        writer.number("CODE", 1980);
        writer.text("TEXT", &self.text);
        writer.cdata("URL", &self.url);
        writer.end("WARNING");
    }
}

/// Returns the URL of the next page: the request's parameters, in their order, with `id_min`
/// set to `next_id`, on [`WARNING_URL_ORIGIN`].
fn next_page_url(incoming: &Incoming, next_id: u64) -> String {
    let next_id = next_id.to_string();
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    let mut has_id_min = false;
    for (name, value) in incoming.params() {
        if name == "id_min" {
            if !has_id_min {
                serializer.append_pair(name, &next_id);
                has_id_min = true;
            }
        } else {
            serializer.append_pair(name, value);
        }
    }
    if !has_id_min {
        serializer.append_pair("id_min", &next_id);
    }
    format!(
        "{WARNING_URL_ORIGIN}{}?{}",
        incoming.path,
        serializer.finish()
    )
}
