//! The `page` resource: a stored response body that a component reads as a stream.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;

use flate2::read::GzDecoder;

/// A fetched response as a component sees it. The body is the import row's attachment file,
/// which is gzip-compressed on disk; reading inflates it, so a component reads the body
/// exactly as Qualys sent it.
pub struct Page {
    path: PathBuf,
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<GzDecoder<BufReader<File>>>,
}

/// The largest read one `read` call returns, in bytes. A component asking for more gets this
/// much; it bounds the host memory one call can take.
pub const MAX_READ_BYTES: u32 = 1 << 20;

impl Page {
    pub fn new(path: PathBuf, status: u16, headers: Vec<(String, String)>) -> Page {
        Page {
            path,
            status,
            headers,
            body: None,
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    }

    /// Reads up to `max` bytes; an empty result means the end of the body.
    pub fn read(&mut self, max: u32) -> std::io::Result<Vec<u8>> {
        if self.body.is_none() {
            let file = File::open(&self.path)?;
            self.body = Some(GzDecoder::new(BufReader::new(file)));
        }
        let Some(body) = self.body.as_mut() else {
            return Ok(Vec::new());
        };
        let limit = max.clamp(1, MAX_READ_BYTES) as usize;
        let mut buffer = vec![0; limit];
        let mut filled = 0;
        // Fill as much as possible: a short read from the decoder is not the end of the body.
        while filled < limit {
            let count = body.read(&mut buffer[filled..])?;
            if count == 0 {
                break;
            }
            filled += count;
        }
        buffer.truncate(filled);
        Ok(buffer)
    }

    pub fn rewind(&mut self) {
        self.body = None;
    }
}
