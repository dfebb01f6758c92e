//! Error and status documents of the classic API: SIMPLE_RETURN and GENERIC_RETURN.

use crate::xml::{XmlWriter, push_escaped};

const SIMPLE_RETURN_DTD: &str = "https://qualysapi.qualys.com/api/2.0/simple_return.dtd";
const GENERIC_RETURN_DTD: &str = "https://qualysapi.qualys.com/generic_return.dtd";

/// Renders a SIMPLE_RETURN with declaration, DOCTYPE and regular indentation, as in the
/// Qualys documentation. `code` is omitted when `None`, which the DTD allows.
pub(crate) fn document(
    datetime: &str,
    code: Option<u32>,
    text: &str,
    items: &[(&str, &str)],
) -> String {
    let mut writer = XmlWriter::new();
    writer.declaration();
    writer.doctype("SIMPLE_RETURN", SIMPLE_RETURN_DTD);
    writer.start("SIMPLE_RETURN");
    writer.start("RESPONSE");
    writer.text("DATETIME", datetime);
    if let Some(code) = code {
        writer.number("CODE", code);
    }
    writer.text("TEXT", text);
    if !items.is_empty() {
        writer.start("ITEM_LIST");
        for (key, value) in items {
            writer.start("ITEM");
            writer.text("KEY", key);
            writer.text("VALUE", value);
            writer.end("ITEM");
        }
        writer.end("ITEM_LIST");
    }
    writer.end("RESPONSE");
    writer.end("SIMPLE_RETURN");
    writer.finish()
}

/// Renders a limit rejection (codes 1960 and 1965) in the layout of a real Qualys 409 body.
/// That body has no declaration or DOCTYPE, and its RESPONSE children are indented like
/// RESPONSE itself. A space follows the DATETIME value and another precedes the TEXT value.
pub(crate) fn limit_rejection(
    datetime: &str,
    code: u32,
    text: &str,
    key: &str,
    value: &str,
) -> String {
    let mut out = String::new();
    out.push_str("<SIMPLE_RETURN>\n  <RESPONSE>\n  <DATETIME>");
    push_escaped(&mut out, datetime);
    out.push_str(" </DATETIME>\n");
    out.push_str(&format!("  <CODE>{code}</CODE>\n  <TEXT> "));
    push_escaped(&mut out, text);
    out.push_str("</TEXT>\n  <ITEM_LIST>\n  <ITEM>\n  <KEY>");
    push_escaped(&mut out, key);
    out.push_str("</KEY>\n  <VALUE>");
    push_escaped(&mut out, value);
    out.push_str("</VALUE>\n  </ITEM>\n  </ITEM_LIST>\n  </RESPONSE>\n</SIMPLE_RETURN>\n");
    out
}

/// Returns the 1965 text for a wait, such as "This API cannot be run again for another
/// 23 hours, 57 minutes and 54 seconds."
pub(crate) fn rate_limit_text(seconds_to_wait: u64) -> String {
    format!(
        "This API cannot be run again for another {} hours, {} minutes and {} seconds.",
        seconds_to_wait / 3600,
        seconds_to_wait % 3600 / 60,
        seconds_to_wait % 60
    )
}

/// Returns the 1960 text. The wording is the simulator's own because the real text is unknown.
pub(crate) fn concurrency_limit_text(limit: usize, calls_to_finish: u32) -> String {
    format!(
        "Concurrency limit of {limit} calls reached. This API cannot be run again until \
         {calls_to_finish} currently running calls finish."
    )
}

/// Renders the GENERIC_RETURN that Qualys sends for an internal error.
pub(crate) fn generic_return(datetime: &str, api_name: &str, username: &str) -> String {
    let mut writer = XmlWriter::new();
    writer.declaration();
    writer.doctype("GENERIC_RETURN", GENERIC_RETURN_DTD);
    writer.start("GENERIC_RETURN");
    writer.empty_with_attributes(
        "API",
        &[("name", api_name), ("username", username), ("at", datetime)],
    );
    writer.raw(
        "  <RETURN status=\"FAILED\" number=\"999\">Internal error. \
         Please contact customer support.</RETURN>\n",
    );
    writer.end("GENERIC_RETURN");
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_text_splits_seconds() {
        assert_eq!(
            rate_limit_text(86_274),
            "This API cannot be run again for another 23 hours, 57 minutes and 54 seconds."
        );
        assert_eq!(
            rate_limit_text(0),
            "This API cannot be run again for another 0 hours, 0 minutes and 0 seconds."
        );
    }

    #[test]
    fn document_omits_missing_code() {
        let text = document("2026-12-04T10:00:00Z", None, "a < b", &[]);
        assert!(!text.contains("<CODE>"), "CODE present: {text}");
        assert!(
            text.contains("<TEXT>a &lt; b</TEXT>"),
            "TEXT not escaped: {text}"
        );
    }
}
