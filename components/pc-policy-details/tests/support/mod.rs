//! A recording fake of the host imports, readers that deliver a body in small pieces, and
//! builders for export pages.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read};

use pc_policy_details::{PolicyTest, Record};
use pcsync_component_common::{
    AuthSrc, Citation, JobHost, LogLevel, PolicyRef, Request, Technology,
};

/// Records what the library sends to the host, and serves `active-policies` from a list.
#[derive(Default)]
pub struct RecordingHost {
    pub batches: Vec<Vec<Record>>,
    pub logs: Vec<(LogLevel, String)>,
    pub parameters: HashMap<String, String>,
    /// The store's active policies, ordered by id.
    pub policies: Vec<PolicyRef>,
    /// The `(cursor, limit)` of each `active_policies` call.
    pub policy_queries: Vec<(Option<String>, u32)>,
}

impl RecordingHost {
    pub fn with_parameter(name: &str, value: &str) -> Self {
        let mut host = Self::default();
        host.parameters.insert(name.to_owned(), value.to_owned());
        host
    }

    pub fn with_policies(policies: Vec<PolicyRef>) -> Self {
        Self {
            policies,
            ..Self::default()
        }
    }

    /// Returns all emitted records in emit order.
    pub fn records(&self) -> Vec<Record> {
        self.batches.iter().flatten().cloned().collect()
    }

    pub fn policy_tests(&self) -> Vec<PolicyTest> {
        self.records()
            .into_iter()
            .filter_map(|record| match record {
                Record::PolicyTest(link) => Some(link),
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

    /// Pages like the real host: the cursor is the last id returned, and a full page has a
    /// cursor even when nothing follows it.
    fn active_policies(
        &mut self,
        cursor: Option<&str>,
        limit: u32,
    ) -> (Vec<PolicyRef>, Option<String>) {
        self.policy_queries.push((cursor.map(str::to_owned), limit));
        let after = cursor.map(|text| text.parse::<u64>().expect("numeric cursor"));
        let page: Vec<PolicyRef> = self
            .policies
            .iter()
            .filter(|policy| after.is_none_or(|after| policy.id > after))
            .take(limit as usize)
            .cloned()
            .collect();
        let next = (page.len() >= limit as usize)
            .then(|| page.last().map(|policy| policy.id.to_string()))
            .flatten();
        (page, next)
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

/// Returns the request `plan` makes for `policy_id` with the default parameters.
pub fn export_request(policy_id: u64) -> Request {
    pc_policy_details::export_request("5.0", policy_id, false, false)
}

/// Wraps POLICY content in an export document.
pub fn export_page(policy: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n\
         <!DOCTYPE POLICY_EXPORT_OUTPUT SYSTEM \"https://qualysapi.qualys.com/api/2.0/fo/compliance/policy/policy_export_output.dtd\">\n\
         <POLICY_EXPORT_OUTPUT><RESPONSE><DATETIME>2026-01-05T08:00:00Z</DATETIME>\
         <POLICY>{policy}</POLICY></RESPONSE></POLICY_EXPORT_OUTPUT>\n"
    )
    .into_bytes()
}
