//! A pull reader for Qualys XML pages: one element at a time, with fixed-size buffers.
//!
//! [`XmlStream`] wraps quick-xml with the steps every list page needs. It finds the root,
//! skipping keep-alive whitespace, the XML declaration and the DOCTYPE (which is never fetched).
//! It walks the children of an element and reads an element's text, with text and CDATA
//! sections joined, entities resolved and surrounding whitespace trimmed. It also keeps an
//! element the component does not know as flattened source fields.

use std::io::{self, BufReader, Read};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::datetime::is_xml_whitespace;
use crate::error::Error;
use crate::filter::XmlCharFilter;
use crate::job::SourceField;

/// Size of the buffer between the character filter and the XML parser.
pub const READ_BUFFER_SIZE: usize = 64 * 1024;

/// Maximum length, in characters, of the start of a non-XML body quoted in an error message.
const QUOTED_START_LEN: usize = 80;

/// An element whose start tag has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The qualified name as written, for example `POLICY`.
    pub name: String,
    /// Attribute names and unescaped values in document order.
    pub attributes: Vec<(String, String)>,
    /// Byte offset of the start tag in the filtered body.
    pub position: u64,
    /// Number of open elements including this one: 1 for the root.
    depth: usize,
    /// Identifies this element among all elements of the stream.
    serial: u64,
}

impl Element {
    /// Returns the value of the attribute `name`, if the element has it.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// One parser event, owned, with text already unescaped.
enum Node {
    Start(Element),
    End,
    /// Text outside CDATA sections, with references resolved.
    Text(String),
    /// The content of a CDATA section, as written.
    CData(String),
    /// A declaration, DOCTYPE, comment or processing instruction.
    Markup,
    Eof,
}

struct OpenElement {
    name: String,
    serial: u64,
}

/// A streaming XML reader over a page body.
///
/// The body passes through an [`XmlCharFilter`], so characters that XML 1.0 does not allow
/// become U+FFFD instead of failing the page. Character references to such characters
/// (`&#1;`) are replaced the same way. [`XmlStream::replacements`] counts both.
///
/// Memory use is bounded by the buffers, the largest single event (one text node or tag) and
/// what the caller reads (an element's text or source fields), not by the size of the body.
/// The methods that take an [`Element`] expect it to be open. An element that has already
/// ended has no children and no text.
pub struct XmlStream<R: Read> {
    reader: Reader<BufReader<XmlCharFilter<R>>>,
    buffer: Vec<u8>,
    open: Vec<OpenElement>,
    next_serial: u64,
    reference_replacements: u64,
}

impl<R: Read> XmlStream<R> {
    /// Starts reading `body`, which must be UTF-8.
    pub fn new(body: R) -> Self {
        let buffered = BufReader::with_capacity(READ_BUFFER_SIZE, XmlCharFilter::new(body));
        let mut reader = Reader::from_reader(buffered);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.trim_text(false);

        Self {
            reader,
            buffer: Vec::new(),
            open: Vec::new(),
            next_serial: 0,
            reference_replacements: 0,
        }
    }

    /// Number of characters replaced with U+FFFD so far, by the character filter and in
    /// character references.
    pub fn replacements(&self) -> u64 {
        self.reader.get_ref().get_ref().replacements() + self.reference_replacements
    }

    /// Byte offset reached in the filtered body.
    pub fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    /// Reads up to the start tag of the root element and returns it.
    ///
    /// Whitespace, the XML declaration, a DOCTYPE, comments and processing instructions before
    /// the root are skipped. Fails with [`Error::EmptyBody`] for a body that is empty or only
    /// whitespace, and with [`Error::NotXml`] for a body that starts with other text.
    pub fn read_root(&mut self) -> Result<Element, Error> {
        let mut markup_seen = false;
        loop {
            match self.next_node(true)? {
                Node::Start(element) => return Ok(element),
                Node::Text(text) | Node::CData(text) => {
                    let text = text.trim_matches(is_xml_whitespace);
                    if !text.is_empty() {
                        return Err(Error::NotXml {
                            start: text.chars().take(QUOTED_START_LEN).collect(),
                        });
                    }
                }
                Node::Markup => markup_seen = true,
                Node::End => {
                    return Err(self.xml_error("end tag before the root element".to_owned()));
                }
                Node::Eof if markup_seen => {
                    return Err(self.xml_error("no root element".to_owned()));
                }
                Node::Eof => return Err(Error::EmptyBody),
            }
        }
    }

    /// Returns the next child element of `parent`, or `None` once `parent` has ended.
    ///
    /// Whatever is left of the previous child is skipped first, and text between children is
    /// ignored.
    pub fn next_child(&mut self, parent: &Element) -> Result<Option<Element>, Error> {
        if !self.skip_to(parent)? {
            return Ok(None);
        }
        loop {
            match self.next_node(false)? {
                Node::Start(child) => return Ok(Some(child)),
                Node::End => return Ok(None),
                Node::Text(_) | Node::CData(_) | Node::Markup => {}
                Node::Eof => return Err(self.unexpected_end()),
            }
        }
    }

    /// Reads the text of `element` up to its end tag: text and CDATA sections joined in order,
    /// entities resolved, surrounding whitespace trimmed.
    ///
    /// Fails with [`Error::UnexpectedElement`] if the element has a child element.
    pub fn read_text(&mut self, element: &Element) -> Result<String, Error> {
        if !self.skip_to(element)? {
            return Ok(String::new());
        }
        let mut text = String::new();
        loop {
            match self.next_node(true)? {
                Node::Text(part) | Node::CData(part) => text.push_str(&part),
                Node::Markup => {}
                Node::End => return Ok(trim_xml(text)),
                Node::Start(child) => {
                    return Err(Error::UnexpectedElement {
                        parent: element.name.clone(),
                        child: child.name,
                        record: None,
                    });
                }
                Node::Eof => return Err(self.unexpected_end()),
            }
        }
    }

    /// Reads the text of `element` up to its end tag like [`XmlStream::read_text`], but keeps
    /// the content of CDATA sections exactly, whitespace at either end included.
    ///
    /// Only whitespace outside CDATA sections at either end is trimmed, which is the indentation
    /// around the sections. So `<V>\n  <![CDATA[ a\n]]>\n</V>` gives `" a\n"`, and an element
    /// without CDATA gives what `read_text` gives. Evidence text needs this, because its leading
    /// and trailing spaces and line breaks can be part of the value.
    ///
    /// Fails with [`Error::UnexpectedElement`] if the element has a child element.
    pub fn read_text_exact(&mut self, element: &Element) -> Result<String, Error> {
        if !self.skip_to(element)? {
            return Ok(String::new());
        }
        let mut text = String::new();
        // Byte range of `text` from the start of the first CDATA section to the end of the last.
        let mut cdata_range: Option<(usize, usize)> = None;
        loop {
            match self.next_node(true)? {
                Node::Text(part) => text.push_str(&part),
                Node::CData(part) => {
                    let start = cdata_range.map_or(text.len(), |(start, _)| start);
                    text.push_str(&part);
                    cdata_range = Some((start, text.len()));
                }
                Node::Markup => {}
                Node::End => return Ok(trim_outside(text, cdata_range)),
                Node::Start(child) => {
                    return Err(Error::UnexpectedElement {
                        parent: element.name.clone(),
                        child: child.name,
                        record: None,
                    });
                }
                Node::Eof => return Err(self.unexpected_end()),
            }
        }
    }

    /// Skips the rest of `element`, up to and including its end tag.
    pub fn skip(&mut self, element: &Element) -> Result<(), Error> {
        if self.skip_to(element)? {
            self.skip_to_depth(element.depth - 1)?;
        }
        Ok(())
    }

    /// Reads the rest of `element` as source fields named from `path`, appending them to
    /// `fields` in document order.
    ///
    /// An element without child elements becomes one field `path` with its trimmed text, which
    /// may be empty. A child adds `/` and its name to the path, so
    /// `<TAG_SET_INCLUDE><TAG_ITEM_ID>5</TAG_ITEM_ID></TAG_SET_INCLUDE>` becomes
    /// `TAG_SET_INCLUDE/TAG_ITEM_ID = 5`, and repeated children give repeated fields. An element
    /// with children keeps its own text only if it is not blank. An attribute becomes a field
    /// `path/@name`, placed before the element's content.
    pub fn read_fields(
        &mut self,
        element: &Element,
        path: &str,
        fields: &mut Vec<SourceField>,
    ) -> Result<(), Error> {
        if !self.skip_to(element)? {
            return Ok(());
        }

        // One path buffer for the whole subtree, cut back at each end tag, so memory stays
        // linear in the nesting depth.
        struct Level {
            path_len: usize,
            text: String,
            has_children: bool,
        }

        push_attribute_fields(path, &element.attributes, fields);
        let mut current_path = path.to_owned();
        let mut levels = vec![Level {
            path_len: current_path.len(),
            text: String::new(),
            has_children: false,
        }];

        loop {
            match self.next_node(true)? {
                Node::Start(child) => {
                    let Some(parent) = levels.last_mut() else {
                        return Ok(());
                    };
                    parent.has_children = true;
                    current_path.push('/');
                    current_path.push_str(&child.name);
                    push_attribute_fields(&current_path, &child.attributes, fields);
                    levels.push(Level {
                        path_len: current_path.len(),
                        text: String::new(),
                        has_children: false,
                    });
                }
                Node::Text(part) | Node::CData(part) => {
                    if let Some(level) = levels.last_mut() {
                        level.text.push_str(&part);
                    }
                }
                Node::Markup => {}
                Node::End => {
                    let Some(level) = levels.pop() else {
                        return Ok(());
                    };
                    current_path.truncate(level.path_len);
                    let text = trim_xml(level.text);
                    if !level.has_children || !text.is_empty() {
                        fields.push(SourceField {
                            name: current_path.clone(),
                            value: text,
                        });
                    }
                    match levels.last() {
                        Some(parent) => current_path.truncate(parent.path_len),
                        None => return Ok(()),
                    }
                }
                Node::Eof => return Err(self.unexpected_end()),
            }
        }
    }

    /// Moves to directly inside `element`, skipping what is left of its descendants. Returns
    /// false if `element` is no longer open.
    fn skip_to(&mut self, element: &Element) -> Result<bool, Error> {
        let is_open = element.depth >= 1
            && self
                .open
                .get(element.depth - 1)
                .is_some_and(|open| open.serial == element.serial);
        if !is_open {
            return Ok(false);
        }
        self.skip_to_depth(element.depth)?;
        Ok(true)
    }

    fn skip_to_depth(&mut self, depth: usize) -> Result<(), Error> {
        while self.open.len() > depth {
            if let Node::Eof = self.next_node(false)? {
                return Err(self.unexpected_end());
            }
        }
        Ok(())
    }

    /// Reads one event. Text is decoded only when `want_text` is set, so skipped content costs
    /// no allocation.
    fn next_node(&mut self, want_text: bool) -> Result<Node, Error> {
        self.buffer.clear();
        let position = self.reader.buffer_position();
        let event = match self.reader.read_event_into(&mut self.buffer) {
            Ok(event) => event,
            Err(quick_xml::Error::Io(error)) => {
                return Err(Error::Io(io::Error::new(error.kind(), error.to_string())));
            }
            Err(error) => {
                return Err(Error::Xml {
                    position: self.reader.error_position(),
                    message: error.to_string(),
                });
            }
        };

        let node = match event {
            Event::Start(start) => {
                let (name, attributes) =
                    match decode_start(&start, &mut self.reference_replacements) {
                        Ok(decoded) => decoded,
                        Err(message) => return Err(Error::Xml { position, message }),
                    };
                self.next_serial += 1;
                self.open.push(OpenElement {
                    name: name.clone(),
                    serial: self.next_serial,
                });
                Node::Start(Element {
                    name,
                    attributes,
                    position,
                    depth: self.open.len(),
                    serial: self.next_serial,
                })
            }
            Event::End(_) => {
                self.open.pop();
                Node::End
            }
            // `expand_empty_elements` turns every empty element into Start and End.
            Event::Empty(_) => Node::Markup,
            Event::Text(text) if want_text => {
                let raw = String::from_utf8_lossy(&text);
                Node::Text(unescape(&raw, &mut self.reference_replacements))
            }
            Event::CData(data) if want_text => {
                Node::CData(String::from_utf8_lossy(&data).into_owned())
            }
            Event::Text(_) | Event::CData(_) => Node::Text(String::new()),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => Node::Markup,
            Event::Eof => Node::Eof,
        };
        Ok(node)
    }

    fn unexpected_end(&self) -> Error {
        Error::UnexpectedEnd {
            element: self
                .open
                .last()
                .map(|open| open.name.clone())
                .unwrap_or_default(),
        }
    }

    fn xml_error(&self, message: String) -> Error {
        Error::Xml {
            position: self.reader.buffer_position(),
            message,
        }
    }
}

/// Returns the name and unescaped attributes of a start tag.
fn decode_start(
    start: &BytesStart<'_>,
    replacements: &mut u64,
) -> Result<(String, Vec<(String, String)>), String> {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes().with_checks(false) {
        let attribute =
            attribute.map_err(|error| format!("invalid attribute in <{name}>: {error}"))?;
        let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
        let raw = String::from_utf8_lossy(&attribute.value);
        attributes.push((key, unescape(&raw, replacements)));
    }
    Ok((name, attributes))
}

fn push_attribute_fields(
    path: &str,
    attributes: &[(String, String)],
    fields: &mut Vec<SourceField>,
) {
    for (name, value) in attributes {
        fields.push(SourceField {
            name: format!("{path}/@{name}"),
            value: value.clone(),
        });
    }
}

fn trim_xml(text: String) -> String {
    let trimmed = text.trim_matches(is_xml_whitespace);
    if trimmed.len() == text.len() {
        text
    } else {
        trimmed.to_owned()
    }
}

/// Trims XML whitespace from both ends of `text`, but not into `kept`, a byte range that must
/// stay whole.
fn trim_outside(text: String, kept: Option<(usize, usize)>) -> String {
    let first_content = text.len() - text.trim_start_matches(is_xml_whitespace).len();
    let content_end = text.trim_end_matches(is_xml_whitespace).len();
    let (start, end) = match kept {
        Some((kept_start, kept_end)) => (first_content.min(kept_start), content_end.max(kept_end)),
        None => (first_content, content_end),
    };
    if start == 0 && end == text.len() {
        text
    } else if start < end {
        text[start..end].to_owned()
    } else {
        String::new()
    }
}

/// Maximum length of a resolved entity or character reference, `&` and `;` included. A longer `&...;`
/// run is kept as text.
const MAX_REFERENCE_LEN: usize = 16;

/// Resolves the predefined entities and character references in `raw`.
///
/// A reference to a character that XML 1.0 does not allow becomes U+FFFD and is counted in
/// `replacements`. An unknown entity such as `&nbsp;`, or an `&` that starts no reference, is
/// kept as written, because dropping the text would lose data and failing would lose the page.
pub fn unescape(raw: &str, replacements: &mut u64) -> String {
    let mut text = String::with_capacity(raw.len());
    let mut rest = raw;

    while let Some(ampersand) = rest.find('&') {
        text.push_str(&rest[..ampersand]);
        rest = &rest[ampersand..];

        let reference_end = rest
            .char_indices()
            .take(MAX_REFERENCE_LEN)
            .find(|&(_, character)| character == ';')
            .map(|(index, _)| index);
        let Some(end) = reference_end else {
            text.push('&');
            rest = &rest[1..];
            continue;
        };

        let name = &rest[1..end];
        match resolve_reference(name) {
            Some(Ok(character)) => text.push(character),
            Some(Err(())) => {
                text.push('\u{FFFD}');
                *replacements += 1;
            }
            None => text.push_str(&rest[..=end]),
        }
        rest = &rest[end + 1..];
    }

    text.push_str(rest);
    text
}

/// Resolves an entity name or a `#` character reference. Returns `None` for an unknown name
/// and `Some(Err(()))` for a reference to a character XML 1.0 does not allow.
fn resolve_reference(name: &str) -> Option<Result<char, ()>> {
    let predefined = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    };
    if let Some(character) = predefined {
        return Some(Ok(character));
    }

    let number = name.strip_prefix('#')?;
    let code = if let Some(hex) = number.strip_prefix('x') {
        parse_reference_number(hex, 16)?
    } else {
        parse_reference_number(number, 10)?
    };
    Some(char::from_u32(code).filter(is_xml_char).ok_or(()))
}

fn parse_reference_number(digits: &str, radix: u32) -> Option<u32> {
    if digits.is_empty() || !digits.chars().all(|digit| digit.is_digit(radix)) {
        return None;
    }
    // Too many digits for any character is a reference to no character: U+FFFD.
    Some(u32::from_str_radix(digits, radix).unwrap_or(u32::MAX))
}

fn is_xml_char(character: &char) -> bool {
    matches!(
        u32::from(*character),
        0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(body: &str) -> XmlStream<&[u8]> {
        XmlStream::new(body.as_bytes())
    }

    #[test]
    fn unescape_resolves_references() {
        let mut replacements = 0;

        let text = unescape(
            "a &lt;b&gt; &amp; &quot;c&apos; &#65;&#x42;&#x1F600;",
            &mut replacements,
        );

        assert_eq!(text, "a <b> & \"c' AB\u{1F600}");
        assert_eq!(replacements, 0);
    }

    #[test]
    fn unescape_keeps_unknown_entities() {
        let mut replacements = 0;

        let text = unescape(
            "a&nbsp;b & c &; &#; &#xZZ; &verylongentitynamehere; AT&T",
            &mut replacements,
        );

        assert_eq!(
            text,
            "a&nbsp;b & c &; &#; &#xZZ; &verylongentitynamehere; AT&T"
        );
        assert_eq!(replacements, 0);
    }

    #[test]
    fn unescape_replaces_invalid_character_references() {
        let mut replacements = 0;

        let text = unescape(
            "a&#0;b&#x1;c&#xD800;d&#99999999999;e&#9;",
            &mut replacements,
        );

        assert_eq!(text, "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\t");
        assert_eq!(replacements, 4);
    }

    #[test]
    fn leading_whitespace_before_declaration() {
        let mut xml = stream(
            "\n   \n  <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE A SYSTEM \"https://example.invalid/a.dtd\">\n<A/>",
        );

        let root = xml.read_root().unwrap();

        assert_eq!(root.name, "A");
    }

    #[test]
    fn empty_body() {
        for body in ["", "  \r\n\t "] {
            let error = stream(body).read_root().unwrap_err();
            assert!(matches!(error, Error::EmptyBody), "{body:?}: {error}");
        }
    }

    #[test]
    fn declaration_without_root() {
        let error = stream("<?xml version=\"1.0\"?>\n").read_root().unwrap_err();

        assert!(matches!(error, Error::Xml { .. }), "{error}");
    }

    #[test]
    fn text_body_is_not_xml() {
        let error = stream("  Service Unavailable\n").read_root().unwrap_err();

        assert_eq!(
            error.to_string(),
            "response body is not XML: it starts with \"Service Unavailable\""
        );
    }

    #[test]
    fn text_joins_cdata_sections() {
        let mut xml =
            stream("<T>\n  <![CDATA[ first ]]]]><![CDATA[> &amp; ]]>&amp;<!-- c --> more \n</T>");
        let root = xml.read_root().unwrap();

        let text = xml.read_text(&root).unwrap();

        assert_eq!(text, "first ]]> &amp; & more");
    }

    #[test]
    fn exact_text_keeps_cdata_whitespace() {
        let mut xml = stream(
            "<R><V>\n  <![CDATA[ first line\n  second ]]]]><![CDATA[> \u{E9}\n]]>\n</V>\
             <W>  plain &amp; text  </W><E> <![CDATA[]]> </E><B>  </B><M> a <![CDATA[ b ]]> c </M></R>",
        );
        let root = xml.read_root().unwrap();

        let mut texts = Vec::new();
        while let Some(child) = xml.next_child(&root).unwrap() {
            texts.push(xml.read_text_exact(&child).unwrap());
        }

        assert_eq!(
            texts,
            [
                " first line\n  second ]]> \u{E9}\n",
                "plain & text",
                "",
                "",
                "a  b  c",
            ]
        );
    }

    #[test]
    fn exact_text_rejects_child_element() {
        let mut xml = stream("<T><![CDATA[a]]><B/></T>");
        let root = xml.read_root().unwrap();

        let error = xml.read_text_exact(&root).unwrap_err();

        assert_eq!(error.to_string(), "unexpected element B inside T");
    }

    #[test]
    fn text_rejects_child_element() {
        let mut xml = stream("<T>a<B>b</B></T>");
        let root = xml.read_root().unwrap();

        let error = xml.read_text(&root).unwrap_err();

        assert_eq!(error.to_string(), "unexpected element B inside T");
    }

    #[test]
    fn children_walked_in_order() {
        let mut xml = stream("<R> <A>1</A> text <B><C>2</C></B><D/></R>");
        let root = xml.read_root().unwrap();

        let mut names = Vec::new();
        while let Some(child) = xml.next_child(&root).unwrap() {
            // Leave every child unread: next_child skips what is left of it.
            names.push(child.name);
        }

        assert_eq!(names, ["A", "B", "D"]);
        assert!(xml.next_child(&root).unwrap().is_none());
    }

    #[test]
    fn skipped_child_does_not_end_parent() {
        let mut xml = stream("<R><A><X><Y/></X></A><B>2</B></R>");
        let root = xml.read_root().unwrap();

        let first = xml.next_child(&root).unwrap().unwrap();
        xml.skip(&first).unwrap();
        let second = xml.next_child(&root).unwrap().unwrap();

        assert_eq!(second.name, "B");
        assert_eq!(xml.read_text(&second).unwrap(), "2");
        assert!(xml.next_child(&root).unwrap().is_none());
    }

    #[test]
    fn fields_flatten_subtree() {
        let mut xml = stream(
            "<P><TAG_SET_INCLUDE>\n<TAG_ITEM_ID>5</TAG_ITEM_ID>\n<TAG_ITEM_ID> 6 </TAG_ITEM_ID>\n\
             <GROUP kind=\"a&amp;b\"><NAME><![CDATA[ x ]]></NAME><EMPTY/></GROUP>\
             </TAG_SET_INCLUDE></P>",
        );
        let root = xml.read_root().unwrap();
        let child = xml.next_child(&root).unwrap().unwrap();

        let mut fields = Vec::new();
        xml.read_fields(&child, &child.name, &mut fields).unwrap();

        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|field| (field.name.as_str(), field.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("TAG_SET_INCLUDE/TAG_ITEM_ID", "5"),
                ("TAG_SET_INCLUDE/TAG_ITEM_ID", "6"),
                ("TAG_SET_INCLUDE/GROUP/@kind", "a&b"),
                ("TAG_SET_INCLUDE/GROUP/NAME", "x"),
                ("TAG_SET_INCLUDE/GROUP/EMPTY", ""),
            ]
        );
        assert!(xml.next_child(&root).unwrap().is_none());
    }

    #[test]
    fn fields_of_leaf_element() {
        let mut xml = stream("<P><ASSET_GROUP_IDS>1,2,3</ASSET_GROUP_IDS><E></E></P>");
        let root = xml.read_root().unwrap();

        let mut fields = Vec::new();
        while let Some(child) = xml.next_child(&root).unwrap() {
            let path = format!("X/{}", child.name);
            xml.read_fields(&child, &path, &mut fields).unwrap();
        }

        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0], SourceField::new("X/ASSET_GROUP_IDS", "1,2,3"));
        assert_eq!(fields[1], SourceField::new("X/E", ""));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let depth = 100_000;
        let body = format!("<R>{}{}</R>", "<A>".repeat(depth), "</A>".repeat(depth));
        let mut xml = stream(&body);
        let root = xml.read_root().unwrap();
        let child = xml.next_child(&root).unwrap().unwrap();

        let mut fields = Vec::new();
        xml.read_fields(&child, "A", &mut fields).unwrap();

        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].name.matches('/').count(), depth - 1);
    }

    #[test]
    fn truncated_body_fails() {
        let mut xml = stream("<R><A>1</A><B>");
        let root = xml.read_root().unwrap();

        let mut error = None;
        loop {
            match xml.next_child(&root) {
                Ok(Some(child)) => {
                    if let Err(failure) = xml.read_text(&child) {
                        error = Some(failure);
                        break;
                    }
                }
                Ok(None) => break,
                Err(failure) => {
                    error = Some(failure);
                    break;
                }
            }
        }

        let error = error.expect("a truncated body must fail");
        assert!(
            matches!(error, Error::UnexpectedEnd { .. } | Error::Xml { .. }),
            "{error}"
        );
    }

    #[test]
    fn mismatched_end_tag_fails() {
        let mut xml = stream("<R><A>1</B></R>");
        let root = xml.read_root().unwrap();
        let child = xml.next_child(&root).unwrap().unwrap();

        let error = xml.read_text(&child).unwrap_err();

        assert!(matches!(error, Error::Xml { .. }), "{error}");
    }

    #[test]
    fn invalid_bytes_counted() {
        let mut xml = XmlStream::new(&b"<R><T>a\x01b\xFFc&#2;</T></R>"[..]);
        let root = xml.read_root().unwrap();
        let child = xml.next_child(&root).unwrap().unwrap();

        let text = xml.read_text(&child).unwrap();

        assert_eq!(text, "a\u{FFFD}b\u{FFFD}c\u{FFFD}");
        assert_eq!(xml.replacements(), 3);
    }
}
