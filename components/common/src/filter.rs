//! A byte filter that makes any input a valid stream of XML 1.0 characters.

use std::io::{self, Read};

/// U+FFFD REPLACEMENT CHARACTER, UTF-8 encoded.
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Bytes read from the inner reader in one call. The filtered output of one fill is at most
/// three times this (each invalid byte can become a 3-byte U+FFFD).
const INPUT_CAPACITY: usize = 16 * 1024;

/// Replaces what XML 1.0 does not allow in a document with U+FFFD and counts the replacements.
///
/// Replaced are the C0 control characters other than tab, LF and CR, the noncharacters U+FFFE
/// and U+FFFF, and each maximal invalid UTF-8 subsequence (as `String::from_utf8_lossy` does).
/// A multi-byte character split across two reads of the inner reader is kept whole. DEL and the
/// C1 controls are allowed by XML 1.0 and pass unchanged.
///
/// The input must be UTF-8, which is what Qualys sends. Memory use is fixed, whatever the size
/// of the input.
pub struct XmlCharFilter<R> {
    inner: R,
    input: Box<[u8]>,
    /// Bytes held in `input`: at most 3 bytes of an incomplete character between fills.
    input_len: usize,
    output: Vec<u8>,
    output_start: usize,
    inner_finished: bool,
    replacements: u64,
}

impl<R: Read> XmlCharFilter<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            input: vec![0; INPUT_CAPACITY].into_boxed_slice(),
            input_len: 0,
            output: Vec::with_capacity(INPUT_CAPACITY * REPLACEMENT.len()),
            output_start: 0,
            inner_finished: false,
            replacements: 0,
        }
    }

    /// Number of U+FFFD characters written in place of invalid input so far.
    pub fn replacements(&self) -> u64 {
        self.replacements
    }

    /// Reads once from the inner reader and filters what is complete into `output`.
    fn fill(&mut self) -> io::Result<()> {
        self.output.clear();
        self.output_start = 0;

        if !self.inner_finished {
            let read = loop {
                match self.inner.read(&mut self.input[self.input_len..]) {
                    Ok(read) => break read,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(error) => return Err(error),
                }
            };
            if read == 0 {
                self.inner_finished = true;
            } else {
                // `min` guards against a reader that reports more bytes than it was given room for.
                self.input_len = (self.input_len + read).min(self.input.len());
            }
        }

        let pending = &self.input[..self.input_len];
        let complete = if self.inner_finished {
            pending.len()
        } else {
            pending.len() - incomplete_tail_len(pending)
        };
        self.replacements += filter_chunk(&pending[..complete], &mut self.output);

        self.input.copy_within(complete..self.input_len, 0);
        self.input_len -= complete;
        Ok(())
    }
}

impl<R: Read> Read for XmlCharFilter<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }

        loop {
            if self.output_start < self.output.len() {
                let available = &self.output[self.output_start..];
                let count = available.len().min(out.len());
                out[..count].copy_from_slice(&available[..count]);
                self.output_start += count;
                return Ok(count);
            }

            if self.inner_finished && self.input_len == 0 {
                return Ok(0);
            }

            self.fill()?;
        }
    }
}

/// Returns the length of a UTF-8 sequence at the end of `bytes` that has started but needs more
/// bytes, or 0. Whether the completed sequence is valid is decided once the rest arrives.
fn incomplete_tail_len(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0xC0 == 0x80 {
            // A continuation byte: the lead byte is further back.
            continue;
        }
        let sequence_len = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 1,
        };
        return if sequence_len > back { back } else { 0 };
    }
    0
}

/// Appends `bytes` to `out` with every invalid character replaced, and returns how many
/// replacements it made.
fn filter_chunk(bytes: &[u8], out: &mut Vec<u8>) -> u64 {
    let mut replacements = 0;
    for chunk in bytes.utf8_chunks() {
        replacements += filter_valid(chunk.valid().as_bytes(), out);
        if !chunk.invalid().is_empty() {
            out.extend_from_slice(REPLACEMENT);
            replacements += 1;
        }
    }
    replacements
}

/// Copies valid UTF-8 to `out`, replacing the characters XML 1.0 does not allow.
fn filter_valid(bytes: &[u8], out: &mut Vec<u8>) -> u64 {
    let mut replacements = 0;
    let mut copied_up_to = 0;
    let mut index = 0;

    while index < bytes.len() {
        let byte = bytes[index];
        let invalid_len = if byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r') {
            1
        } else if byte == 0xEF
            && bytes.get(index + 1) == Some(&0xBF)
            && matches!(bytes.get(index + 2), Some(0xBE | 0xBF))
        {
            // U+FFFE or U+FFFF.
            3
        } else {
            0
        };

        if invalid_len == 0 {
            index += 1;
            continue;
        }

        out.extend_from_slice(&bytes[copied_up_to..index]);
        out.extend_from_slice(REPLACEMENT);
        replacements += 1;
        index += invalid_len;
        copied_up_to = index;
    }

    out.extend_from_slice(&bytes[copied_up_to..]);
    replacements
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns at most `size` bytes per read.
    struct SmallReads<'a> {
        data: &'a [u8],
        size: usize,
    }

    impl Read for SmallReads<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let count = self.data.len().min(self.size).min(out.len());
            out[..count].copy_from_slice(&self.data[..count]);
            self.data = &self.data[count..];
            Ok(count)
        }
    }

    fn filter_with_reads(input: &[u8], size: usize) -> (Vec<u8>, u64) {
        let mut filter = XmlCharFilter::new(SmallReads { data: input, size });
        let mut out = Vec::new();
        filter.read_to_end(&mut out).unwrap();
        (out, filter.replacements())
    }

    #[test]
    fn valid_text_passes_unchanged() {
        let input = "<A>tab\there\r\nen dash \u{2013}, emoji \u{1F600}, DEL \u{7F}</A>".as_bytes();

        let (out, replacements) = filter_with_reads(input, 1024);

        assert_eq!(out, input);
        assert_eq!(replacements, 0);
    }

    #[test]
    fn control_characters_replaced() {
        let (out, replacements) = filter_with_reads(b"a\x00b\x01c\x1Fd\x0Be", 1024);

        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e"
        );
        assert_eq!(replacements, 4);
    }

    #[test]
    fn noncharacters_replaced() {
        let (out, replacements) = filter_with_reads("x\u{FFFE}y\u{FFFF}z\u{FFFD}".as_bytes(), 1024);

        assert_eq!(
            String::from_utf8(out).unwrap(),
            "x\u{FFFD}y\u{FFFD}z\u{FFFD}"
        );
        assert_eq!(replacements, 2);
    }

    #[test]
    fn invalid_utf8_replaced() {
        // A lone continuation byte, a Latin-1 byte, and a truncated 3-byte sequence mid-text.
        let (out, replacements) = filter_with_reads(b"a\x80b\xE9c\xE2\x82d", 1024);

        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d"
        );
        assert_eq!(replacements, 3);
    }

    #[test]
    fn truncated_character_at_end_replaced() {
        let (out, replacements) = filter_with_reads(b"ab\xF0\x9F\x98", 1024);

        assert_eq!(String::from_utf8(out).unwrap(), "ab\u{FFFD}");
        assert_eq!(replacements, 1);
    }

    #[test]
    fn split_characters_kept_whole() {
        let input = "\u{E9}\u{2013}\u{1F600}\u{FFFF}\x02 end".as_bytes();
        let (expected, expected_count) = filter_with_reads(input, 1024);

        for size in 1..input.len() {
            let (out, replacements) = filter_with_reads(input, size);
            assert_eq!(out, expected, "reads of {size} bytes");
            assert_eq!(replacements, expected_count, "reads of {size} bytes");
        }
        assert_eq!(
            String::from_utf8(expected).unwrap(),
            "\u{E9}\u{2013}\u{1F600}\u{FFFD}\u{FFFD} end"
        );
    }

    #[test]
    fn input_larger_than_buffer() {
        let mut input = Vec::new();
        for index in 0..(INPUT_CAPACITY * 3) {
            input.extend_from_slice(if index % 1000 == 0 {
                b"\x07"
            } else {
                "\u{E9}".as_bytes()
            });
        }

        let (out, replacements) = filter_with_reads(&input, 7000);

        let text = String::from_utf8(out).unwrap();
        assert_eq!(replacements, (INPUT_CAPACITY * 3).div_ceil(1000) as u64);
        assert_eq!(text.chars().count(), INPUT_CAPACITY * 3);
    }
}
