//! An `std::io::Read` adapter over the host's `page.read(max)` call.

use std::io::{self, Read};

/// Reads a page body through a chunk function with the contract of the WIT `page.read`: it
/// returns at most `max` bytes, and an empty chunk means the end of the body.
///
/// Each `read` call requests at most as many bytes as fit in the caller's buffer, so with a
/// fixed-size `BufReader` on top the memory used does not grow with the page. A chunk longer
/// than requested is still accepted: its rest is returned by the following reads. After the
/// first empty chunk the function is not called again.
pub struct PageReader<F> {
    read_chunk: F,
    pending: Vec<u8>,
    pending_start: usize,
    finished: bool,
}

impl<F: FnMut(u32) -> Vec<u8>> PageReader<F> {
    /// Wraps `read_chunk`, which receives the maximum number of bytes to return.
    pub fn new(read_chunk: F) -> Self {
        Self {
            read_chunk,
            pending: Vec::new(),
            pending_start: 0,
            finished: false,
        }
    }
}

impl<F: FnMut(u32) -> Vec<u8>> Read for PageReader<F> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }

        if self.pending_start < self.pending.len() {
            let available = &self.pending[self.pending_start..];
            let count = available.len().min(out.len());
            out[..count].copy_from_slice(&available[..count]);
            self.pending_start += count;
            if self.pending_start == self.pending.len() {
                self.pending = Vec::new();
                self.pending_start = 0;
            }
            return Ok(count);
        }

        if self.finished {
            return Ok(0);
        }

        let max = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let chunk = (self.read_chunk)(max);
        if chunk.is_empty() {
            self.finished = true;
            return Ok(0);
        }

        let count = chunk.len().min(out.len());
        out[..count].copy_from_slice(&chunk[..count]);
        if count < chunk.len() {
            self.pending = chunk;
            self.pending_start = count;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_body_in_small_chunks() {
        let body = b"<A>some text</A>".to_vec();
        let mut position = 0;
        let mut reader = PageReader::new(|_max: u32| {
            let end = body.len().min(position + 3);
            let chunk = body[position..end].to_vec();
            position = end;
            chunk
        });

        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();

        assert_eq!(out, body);
    }

    #[test]
    fn requests_at_most_buffer_size() {
        let mut requested = Vec::new();
        let mut calls = 0;
        let mut reader = PageReader::new(|max: u32| {
            requested.push(max);
            calls += 1;
            if calls == 1 {
                vec![b'x'; 10]
            } else {
                Vec::new()
            }
        });

        let mut out = [0u8; 16];
        assert_eq!(reader.read(&mut out).unwrap(), 10);
        assert_eq!(reader.read(&mut out).unwrap(), 0);
        drop(reader);

        assert_eq!(requested, vec![16, 16]);
    }

    #[test]
    fn keeps_rest_of_oversized_chunk() {
        let mut calls = 0;
        let mut reader = PageReader::new(|_max: u32| {
            calls += 1;
            if calls == 1 {
                b"abcdef".to_vec()
            } else {
                Vec::new()
            }
        });

        let mut out = [0u8; 4];
        assert_eq!(reader.read(&mut out).unwrap(), 4);
        assert_eq!(&out, b"abcd");
        assert_eq!(reader.read(&mut out).unwrap(), 2);
        assert_eq!(&out[..2], b"ef");
        assert_eq!(reader.read(&mut out).unwrap(), 0);
    }

    #[test]
    fn stops_calling_after_empty_chunk() {
        let mut calls = 0;
        let mut reader = PageReader::new(|_max: u32| {
            calls += 1;
            Vec::new()
        });

        let mut out = [0u8; 4];
        assert_eq!(reader.read(&mut out).unwrap(), 0);
        assert_eq!(reader.read(&mut out).unwrap(), 0);
        drop(reader);

        assert_eq!(calls, 1);
    }
}
