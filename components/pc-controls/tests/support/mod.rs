//! A recording fake of the host imports, and readers that deliver a body in small pieces.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read};

use pc_controls::{Control, Record};
use pcsync_component_common::{Api, AuthSrc, Citation, JobHost, LogLevel, Request, Technology};

/// Records what the library sends to the host.
#[derive(Default)]
pub struct RecordingHost {
    pub batches: Vec<Vec<Record>>,
    pub logs: Vec<(LogLevel, String)>,
    pub parameters: HashMap<String, String>,
}

impl RecordingHost {
    pub fn with_parameter(name: &str, value: &str) -> Self {
        let mut host = Self::default();
        host.parameters.insert(name.to_owned(), value.to_owned());
        host
    }

    /// Returns all emitted records in emit order.
    pub fn records(&self) -> Vec<Record> {
        self.batches.iter().flatten().cloned().collect()
    }

    pub fn controls(&self) -> Vec<Control> {
        self.records()
            .into_iter()
            .filter_map(|record| match record {
                Record::Test(control) => Some(*control),
                _ => None,
            })
            .collect()
    }

    pub fn technologies(&self) -> Vec<Technology> {
        self.records()
            .into_iter()
            .filter_map(|record| match record {
                Record::Technology(technology) => Some(technology),
                _ => None,
            })
            .collect()
    }

    pub fn auth_srcs(&self) -> Vec<AuthSrc> {
        self.records()
            .into_iter()
            .filter_map(|record| match record {
                Record::AuthSrc(auth_src) => Some(auth_src),
                _ => None,
            })
            .collect()
    }

    pub fn citations(&self) -> Vec<Citation> {
        self.records()
            .into_iter()
            .filter_map(|record| match record {
                Record::Citation(citation) => Some(citation),
                _ => None,
            })
            .collect()
    }
}

impl JobHost for RecordingHost {
    type Record = Record;

    fn log(&mut self, level: LogLevel, message: &str) {
        self.logs.push((level, message.to_owned()));
    }

    fn emit(&mut self, records: Vec<Record>) -> Result<(), String> {
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

/// Returns the request `plan` makes with the default parameters, with a tag to check that
/// follow-ups copy it.
pub fn list_request() -> Request {
    let mut request = Request::get(
        Api::Classic,
        "/api/5.0/fo/compliance/control/",
        vec![
            ("action".to_owned(), "list".to_owned()),
            ("details".to_owned(), "All".to_owned()),
            ("truncation_limit".to_owned(), "1000".to_owned()),
        ],
    );
    request.tag = "controls".to_owned();
    request
}
