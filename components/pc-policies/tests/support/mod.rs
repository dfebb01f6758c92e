//! A recording fake of the host imports, and readers that deliver a body in small pieces.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read};

use pc_policies::Policy;
use pcsync_component_common::{Api, JobHost, LogLevel, Request};

/// Records what the library sends to the host.
#[derive(Default)]
pub struct RecordingHost {
    pub batches: Vec<Vec<Policy>>,
    pub logs: Vec<(LogLevel, String)>,
    pub parameters: HashMap<String, String>,
}

impl RecordingHost {
    pub fn with_parameter(name: &str, value: &str) -> Self {
        let mut host = Self::default();
        host.parameters.insert(name.to_owned(), value.to_owned());
        host
    }

    /// Returns all emitted policies in emit order.
    pub fn policies(&self) -> Vec<Policy> {
        self.batches.iter().flatten().cloned().collect()
    }
}

impl JobHost for RecordingHost {
    type Record = Policy;

    fn log(&mut self, level: LogLevel, message: &str) {
        self.logs.push((level, message.to_owned()));
    }

    fn emit(&mut self, records: Vec<Policy>) -> Result<(), String> {
        self.batches.push(records);
        Ok(())
    }

    fn parameter(&mut self, name: &str) -> Option<String> {
        self.parameters.get(name).cloned()
    }
}

/// Returns at most `size` bytes per read, to split characters, tags and CDATA sections.
pub struct SmallReads<'a> {
    pub data: &'a [u8],
    pub size: usize,
}

impl Read for SmallReads<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let count = self.data.len().min(self.size).min(out.len());
        out[..count].copy_from_slice(&self.data[..count]);
        self.data = &self.data[count..];
        Ok(count)
    }
}

/// The request `plan` makes with the default API version, with a tag to check it is copied.
pub fn list_request() -> Request {
    let mut request = Request::get(
        Api::Classic,
        "/api/5.0/fo/compliance/policy/",
        vec![
            ("action".to_owned(), "list".to_owned()),
            ("details".to_owned(), "Basic".to_owned()),
        ],
    );
    request.tag = "first page".to_owned();
    request
}
