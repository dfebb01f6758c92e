//! Qualys status documents: SIMPLE_RETURN and GENERIC_RETURN.
//!
//! Qualys reports errors in these documents, sometimes with HTTP 200, and also reports some
//! successes in SIMPLE_RETURN. A SIMPLE_RETURN is an error when its RESPONSE has a CODE. A
//! GENERIC_RETURN is an error unless its RETURN has `status="SUCCESS"`.

use std::io::Read;

use crate::error::{Error, QualysError};
use crate::xml::{Element, XmlStream};

pub const SIMPLE_RETURN: &str = "SIMPLE_RETURN";
pub const GENERIC_RETURN: &str = "GENERIC_RETURN";

/// The content of a SIMPLE_RETURN or GENERIC_RETURN document, with every value trimmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusDocument {
    /// `SIMPLE_RETURN` or `GENERIC_RETURN`.
    pub root: String,
    /// RESPONSE/DATETIME as sent, not validated: a malformed date must not hide the error.
    pub datetime: Option<String>,
    /// The CODE element (SIMPLE_RETURN) or `number` attribute (GENERIC_RETURN) as sent.
    pub code_text: Option<String>,
    /// The `status` attribute of a GENERIC_RETURN's RETURN, for example `FAILED`.
    pub status: Option<String>,
    pub text: String,
    /// ITEM_LIST pairs in document order. An ITEM with several VALUEs gives one pair per
    /// VALUE, and an ITEM without VALUE gives one pair with an empty value.
    pub items: Vec<(String, String)>,
}

impl StatusDocument {
    /// Returns whether the document reports an error.
    pub fn is_error(&self) -> bool {
        if self.root == GENERIC_RETURN {
            !self
                .status
                .as_deref()
                .is_some_and(|status| status.eq_ignore_ascii_case("SUCCESS"))
        } else {
            self.code_text
                .as_deref()
                .is_some_and(|code| !code.is_empty())
        }
    }

    /// Returns the error the document reports, or `None` for a success document.
    ///
    /// A code that is not a number becomes `code: None` with a leading `CODE` item, so the
    /// value is not lost.
    pub fn to_error(&self) -> Option<QualysError> {
        if !self.is_error() {
            return None;
        }

        let code_text = self.code_text.as_deref().unwrap_or("");
        let code = code_text.parse::<u32>().ok();
        let mut items = Vec::with_capacity(self.items.len() + 1);
        if code.is_none() && !code_text.is_empty() {
            items.push(("CODE".to_owned(), code_text.to_owned()));
        }
        items.extend(self.items.iter().cloned());

        Some(QualysError {
            code,
            text: self.text.clone(),
            items,
        })
    }
}

/// Returns whether a root element name is a status document.
pub fn is_status_root(name: &str) -> bool {
    name == SIMPLE_RETURN || name == GENERIC_RETURN
}

/// Reads the root start tag and returns it if its name is `expected`.
///
/// Fails with [`Error::Qualys`] for an error document, with [`Error::UnexpectedSuccess`] for a
/// success document, with [`Error::UnexpectedRoot`] for any other root, and with the errors of
/// [`XmlStream::read_root`] for a body without a root.
pub fn read_expected_root<R: Read>(
    xml: &mut XmlStream<R>,
    expected: &str,
) -> Result<Element, Error> {
    let root = xml.read_root()?;
    if root.name == expected {
        return Ok(root);
    }
    if !is_status_root(&root.name) {
        return Err(Error::UnexpectedRoot {
            expected: expected.to_owned(),
            found: root.name,
        });
    }

    let document = read_status_document(xml, &root)?;
    match document.to_error() {
        Some(error) => Err(Error::Qualys(error)),
        None => Err(Error::UnexpectedSuccess {
            expected: expected.to_owned(),
            root: document.root,
            text: document.text,
        }),
    }
}

/// Reads the rest of a SIMPLE_RETURN or GENERIC_RETURN document whose root start tag has been
/// read.
pub fn read_status_document<R: Read>(
    xml: &mut XmlStream<R>,
    root: &Element,
) -> Result<StatusDocument, Error> {
    let mut document = StatusDocument {
        root: root.name.clone(),
        ..StatusDocument::default()
    };
    if root.name == GENERIC_RETURN {
        read_generic_return(xml, root, &mut document)?;
    } else {
        read_simple_return(xml, root, &mut document)?;
    }
    Ok(document)
}

/// `SIMPLE_RETURN/{REQUEST?, RESPONSE/{DATETIME, CODE?, TEXT, ITEM_LIST?/ITEM*/{KEY, VALUE*}}}`
fn read_simple_return<R: Read>(
    xml: &mut XmlStream<R>,
    root: &Element,
    document: &mut StatusDocument,
) -> Result<(), Error> {
    while let Some(child) = xml.next_child(root)? {
        if child.name != "RESPONSE" {
            xml.skip(&child)?;
            continue;
        }
        while let Some(field) = xml.next_child(&child)? {
            match field.name.as_str() {
                "DATETIME" => document.datetime = Some(xml.read_text(&field)?),
                "CODE" => document.code_text = Some(xml.read_text(&field)?),
                "TEXT" => document.text = xml.read_text(&field)?,
                "ITEM_LIST" => read_item_list(xml, &field, &mut document.items)?,
                _ => xml.skip(&field)?,
            }
        }
    }
    Ok(())
}

fn read_item_list<R: Read>(
    xml: &mut XmlStream<R>,
    list: &Element,
    items: &mut Vec<(String, String)>,
) -> Result<(), Error> {
    while let Some(item) = xml.next_child(list)? {
        if item.name != "ITEM" {
            xml.skip(&item)?;
            continue;
        }
        let mut key = String::new();
        let mut values = Vec::new();
        while let Some(part) = xml.next_child(&item)? {
            match part.name.as_str() {
                "KEY" => key = xml.read_text(&part)?,
                "VALUE" => values.push(xml.read_text(&part)?),
                _ => xml.skip(&part)?,
            }
        }
        if values.is_empty() {
            items.push((key, String::new()));
        } else {
            items.extend(values.into_iter().map(|value| (key.clone(), value)));
        }
    }
    Ok(())
}

/// `GENERIC_RETURN/{API, RETURN[@status, @number]}`, where RETURN contains the message text.
fn read_generic_return<R: Read>(
    xml: &mut XmlStream<R>,
    root: &Element,
    document: &mut StatusDocument,
) -> Result<(), Error> {
    while let Some(child) = xml.next_child(root)? {
        match child.name.as_str() {
            "RETURN" => {
                document.status = child
                    .attribute("status")
                    .map(|status| status.trim().to_owned());
                document.code_text = child
                    .attribute("number")
                    .map(|number| number.trim().to_owned());
                document.text = xml.read_text(&child)?;
            }
            _ => xml.skip(&child)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &[u8]) -> StatusDocument {
        let mut xml = XmlStream::new(body);
        let root = xml.read_root().unwrap();
        assert!(is_status_root(&root.name));
        read_status_document(&mut xml, &root).unwrap()
    }

    #[test]
    fn rate_limit_sample_is_error() {
        let document = read(include_bytes!("../tests/fixtures/simple_return_1965.xml"));

        assert!(document.is_error());
        assert_eq!(document.datetime.as_deref(), Some("2017-04-12T14:52:39Z"));
        assert_eq!(
            document.to_error(),
            Some(QualysError {
                code: Some(1965),
                text:
                    "This API cannot be run again for another 23 hours, 57 minutes and 54 seconds."
                        .to_owned(),
                items: vec![("SECONDS_TO_WAIT".to_owned(), "68928".to_owned())],
            })
        );
    }

    #[test]
    fn simple_return_without_code_is_success() {
        let document = read(include_bytes!(
            "../tests/fixtures/simple_return_success.xml"
        ));

        assert!(!document.is_error());
        assert_eq!(document.to_error(), None);
        assert_eq!(document.text, "Successfully imported compliance policy");
        assert_eq!(
            document.items,
            vec![
                ("ID".to_owned(), "136992".to_owned()),
                ("TITLE".to_owned(), "My Policy".to_owned()),
            ]
        );
    }

    #[test]
    fn generic_return_failed_is_error() {
        let document = read(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n\
              <!DOCTYPE GENERIC_RETURN SYSTEM \"https://qualysapi.qualys.com/generic_return.dtd\">\n\
              <GENERIC_RETURN>\n  <API name=\"policy list\" username=\"user1\" at=\"2024-05-01T10:00:00Z\" />\n  \
              <RETURN status=\"FAILED\" number=\"999\">Internal error. Please contact customer support.</RETURN>\n\
              </GENERIC_RETURN>\n",
        );

        assert_eq!(
            document.to_error(),
            Some(QualysError {
                code: Some(999),
                text: "Internal error. Please contact customer support.".to_owned(),
                items: Vec::new(),
            })
        );
    }

    #[test]
    fn generic_return_success_is_not_error() {
        let document =
            read(b"<GENERIC_RETURN><RETURN status=\"SUCCESS\">Done</RETURN></GENERIC_RETURN>");

        assert_eq!(document.to_error(), None);
    }

    #[test]
    fn expected_root_returned() {
        let mut xml = XmlStream::new(&b"<LIST/>"[..]);

        assert_eq!(read_expected_root(&mut xml, "LIST").unwrap().name, "LIST");
    }

    #[test]
    fn expected_root_reports_qualys_error() {
        let mut xml =
            XmlStream::new(&include_bytes!("../tests/fixtures/simple_return_1965.xml")[..]);

        let error = read_expected_root(&mut xml, "LIST").unwrap_err();

        let Error::Qualys(qualys) = error else {
            panic!("expected a Qualys error, got {error}");
        };
        assert_eq!(qualys.code, Some(1965));
    }

    #[test]
    fn expected_root_rejects_success_document() {
        let mut xml =
            XmlStream::new(&include_bytes!("../tests/fixtures/simple_return_success.xml")[..]);

        let error = read_expected_root(&mut xml, "LIST").unwrap_err();

        assert_eq!(
            error.to_string(),
            "expected root element LIST, found a SIMPLE_RETURN success document: \
             Successfully imported compliance policy"
        );
    }

    #[test]
    fn expected_root_rejects_other_root() {
        let mut xml = XmlStream::new(&b"<html><body>Bad gateway</body></html>"[..]);

        let error = read_expected_root(&mut xml, "LIST").unwrap_err();

        assert_eq!(error.to_string(), "expected root element LIST, found html");
    }

    #[test]
    fn non_numeric_code_kept_as_item() {
        let document = read(
            b"<SIMPLE_RETURN><RESPONSE><DATETIME/><CODE> X1 </CODE><TEXT>bad</TEXT>\
              <ITEM_LIST><ITEM><KEY>A</KEY><VALUE>1</VALUE><VALUE>2</VALUE></ITEM>\
              <ITEM><KEY>B</KEY></ITEM></ITEM_LIST></RESPONSE></SIMPLE_RETURN>",
        );

        let error = document.to_error().unwrap();

        assert_eq!(error.code, None);
        assert_eq!(
            error.items,
            vec![
                ("CODE".to_owned(), "X1".to_owned()),
                ("A".to_owned(), "1".to_owned()),
                ("A".to_owned(), "2".to_owned()),
                ("B".to_owned(), String::new()),
            ]
        );
    }
}
