//! Writing indented XML with escaped text and CDATA sections.

use std::fmt::Write as _;

/// Appends `text` to `out` with `&`, `<`, `>`, `"` and `'` replaced by entities, so the result
/// is valid both as element text and inside a quoted attribute value.
pub(crate) fn push_escaped(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(ch),
        }
    }
}

/// Appends `text` as one or more CDATA sections.
///
/// A CDATA section ends at the first `]]>`, so each occurrence is split between two sections:
/// `]]` closes the first one and `>` opens the next (`a]]>b` becomes
/// `<![CDATA[a]]]]><![CDATA[>b]]>`).
pub(crate) fn push_cdata(out: &mut String, text: &str) {
    out.push_str("<![CDATA[");
    out.push_str(&text.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]>");
}

/// An XML document under construction, indented two spaces per level.
///
/// The writer keeps no list of open elements, so the caller closes elements in order. Long
/// documents are streamed by taking the text written so far with [`XmlWriter::take`] and
/// continuing to write.
#[derive(Debug, Default)]
pub(crate) struct XmlWriter {
    buf: String,
    depth: usize,
}

impl XmlWriter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Writes the XML declaration as Qualys writes it, with a space before `?>`.
    pub(crate) fn declaration(&mut self) {
        self.buf
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n");
    }

    /// Writes a `<!DOCTYPE root SYSTEM "url">` line.
    pub(crate) fn doctype(&mut self, root: &str, dtd_url: &str) {
        let _ = writeln!(self.buf, "<!DOCTYPE {root} SYSTEM \"{dtd_url}\">");
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.buf.push_str("  ");
        }
    }

    /// Opens an element on its own line. Its children are indented one more level.
    pub(crate) fn start(&mut self, name: &str) {
        self.indent();
        let _ = writeln!(self.buf, "<{name}>");
        self.depth += 1;
    }

    /// Opens an element with attributes, such as `<SECTIONS total="2">`, on its own line.
    pub(crate) fn start_with_attributes(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.indent();
        self.buf.push('<');
        self.buf.push_str(name);
        self.push_attributes(attributes);
        self.buf.push_str(">\n");
        self.depth += 1;
    }

    /// Writes an element built with [`Line`] on one indented line.
    pub(crate) fn line(&mut self, line: &Line) {
        self.indent();
        self.buf.push_str(&line.buf);
        self.buf.push('\n');
    }

    /// Writes an empty element with attributes, such as `<API name="x" />`.
    pub(crate) fn empty_with_attributes(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.indent();
        self.buf.push('<');
        self.buf.push_str(name);
        self.push_attributes(attributes);
        self.buf.push_str(" />\n");
    }

    fn push_attributes(&mut self, attributes: &[(&str, &str)]) {
        for (key, value) in attributes {
            let _ = write!(self.buf, " {key}=\"");
            push_escaped(&mut self.buf, value);
            self.buf.push('"');
        }
    }

    /// Closes the element opened last.
    pub(crate) fn end(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        let _ = writeln!(self.buf, "</{name}>");
    }

    /// Writes `<name>text</name>` on one line with the text escaped.
    pub(crate) fn text(&mut self, name: &str, text: &str) {
        self.indent();
        let _ = write!(self.buf, "<{name}>");
        push_escaped(&mut self.buf, text);
        let _ = writeln!(self.buf, "</{name}>");
    }

    /// Writes `<name>text</name>` where `text` is a number or another value with no markup.
    pub(crate) fn number(&mut self, name: &str, value: impl std::fmt::Display) {
        self.indent();
        let _ = writeln!(self.buf, "<{name}>{value}</{name}>");
    }

    /// Writes `<name><![CDATA[text]]></name>` on one line.
    pub(crate) fn cdata(&mut self, name: &str, text: &str) {
        self.indent();
        let _ = write!(self.buf, "<{name}>");
        push_cdata(&mut self.buf, text);
        let _ = writeln!(self.buf, "</{name}>");
    }

    /// Appends text exactly as given, for fragments that must keep an irregular layout.
    pub(crate) fn raw(&mut self, text: &str) {
        self.buf.push_str(text);
    }

    /// Returns the number of bytes written since the last [`XmlWriter::take`].
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Removes and returns the text written so far, keeping the indentation level.
    pub(crate) fn take(&mut self) -> String {
        std::mem::take(&mut self.buf)
    }

    /// Returns the whole text written so far.
    pub(crate) fn finish(self) -> String {
        self.buf
    }
}

/// An element with children written on one line, such as
/// `<CATEGORY><ID>1</ID><NAME><![CDATA[Access]]></NAME></CATEGORY>`, for [`XmlWriter::line`].
///
/// Like [`XmlWriter`], it keeps no list of open elements, so the caller closes them in order.
#[derive(Debug, Default)]
pub(crate) struct Line {
    buf: String,
}

impl Line {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Opens an element.
    pub(crate) fn open(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.buf, "<{name}>");
        self
    }

    /// Opens an element with attributes, such as `<DPV lastUpdated="..">`.
    pub(crate) fn open_with_attributes(
        &mut self,
        name: &str,
        attributes: &[(&str, &str)],
    ) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(name);
        for (key, value) in attributes {
            let _ = write!(self.buf, " {key}=\"");
            push_escaped(&mut self.buf, value);
            self.buf.push('"');
        }
        self.buf.push('>');
        self
    }

    /// Closes an element.
    pub(crate) fn close(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.buf, "</{name}>");
        self
    }

    /// Writes `<name>value</name>` where `value` is a number or another value with no markup.
    pub(crate) fn number(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        let _ = write!(self.buf, "<{name}>{value}</{name}>");
        self
    }

    /// Writes `<name>text</name>` with the text escaped.
    pub(crate) fn text(&mut self, name: &str, text: &str) -> &mut Self {
        let _ = write!(self.buf, "<{name}>");
        push_escaped(&mut self.buf, text);
        let _ = write!(self.buf, "</{name}>");
        self
    }

    /// Writes `<name><![CDATA[text]]></name>`.
    pub(crate) fn cdata(&mut self, name: &str, text: &str) -> &mut Self {
        let _ = write!(self.buf, "<{name}>");
        push_cdata(&mut self.buf, text);
        let _ = write!(self.buf, "</{name}>");
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_has_no_markup() {
        let mut out = String::new();
        push_escaped(&mut out, r#"a & b < c > d "e" 'f'"#);
        assert_eq!(out, "a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos;");
    }

    #[test]
    fn cdata_splits_terminator() {
        let mut out = String::new();
        push_cdata(&mut out, "a]]>b");
        assert_eq!(out, "<![CDATA[a]]]]><![CDATA[>b]]>");

        let mut plain = String::new();
        push_cdata(&mut plain, "x & <y>");
        assert_eq!(plain, "<![CDATA[x & <y>]]>");
    }

    #[test]
    fn writer_indents_children() {
        let mut writer = XmlWriter::new();
        writer.start("A");
        writer.number("ID", 5);
        writer.cdata("TITLE", "t");
        writer.empty_with_attributes("E", &[("k", "<v>")]);
        writer.end("A");
        assert_eq!(
            writer.finish(),
            "<A>\n  <ID>5</ID>\n  <TITLE><![CDATA[t]]></TITLE>\n  <E k=\"&lt;v&gt;\" />\n</A>\n"
        );
    }

    #[test]
    fn line_keeps_children_inline() {
        let mut writer = XmlWriter::new();
        writer.start_with_attributes("LIST", &[("total", "1")]);
        let mut line = Line::new();
        line.open("ITEM")
            .number("ID", 7)
            .cdata("NAME", "a]]>b")
            .close("ITEM");
        writer.line(&line);
        writer.end("LIST");
        assert_eq!(
            writer.finish(),
            "<LIST total=\"1\">\n  <ITEM><ID>7</ID><NAME><![CDATA[a]]]]><![CDATA[>b]]></NAME></ITEM>\n</LIST>\n"
        );
    }

    #[test]
    fn line_writes_attributes_and_text() {
        let mut line = Line::new();
        line.open_with_attributes("DPV", &[("at", "a<b")])
            .text("LABEL", ":dp_1 & x")
            .close("DPV");
        assert_eq!(
            line.buf,
            "<DPV at=\"a&lt;b\"><LABEL>:dp_1 &amp; x</LABEL></DPV>"
        );
    }
}
