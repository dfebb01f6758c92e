//! A recording fake of the host imports, readers that deliver a body in small pieces, and
//! builders for posture info pages.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read};

use pc_results::{PostureOptions, Record, posture_request};
use pcsync_component_common::{JobHost, LogLevel, PolicyRef, Request, ScannedHost, TestResult};

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

    pub fn results(&self) -> Vec<TestResult> {
        self.records()
            .into_iter()
            .filter_map(|record| match record {
                Record::TestResult(result) => Some(*result),
                Record::Host(_) => None,
            })
            .collect()
    }

    pub fn hosts(&self) -> Vec<ScannedHost> {
        self.records()
            .into_iter()
            .filter_map(|record| match record {
                Record::Host(host) => Some(host),
                Record::TestResult(_) => None,
            })
            .collect()
    }

    /// Returns the logged lines at `level`.
    pub fn logs_at(&self, level: LogLevel) -> Vec<String> {
        self.logs
            .iter()
            .filter(|(logged, _)| *logged == level)
            .map(|(_, message)| message.clone())
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

/// Returns the request `plan` makes for `policy_id` with the default parameters and no Start
/// Time.
pub fn results_request(policy_id: u64) -> Request {
    posture_request("5.0", policy_id, &PostureOptions::default(), None)
}

/// Wraps RESPONSE content in a posture info document.
pub fn posture_page(response: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n\
         <POSTURE_INFO_LIST_OUTPUT><RESPONSE><DATETIME>2026-12-02T08:15:00Z</DATETIME>\
         {response}</RESPONSE></POSTURE_INFO_LIST_OUTPUT>\n"
    )
    .into_bytes()
}

/// Returns an INFO with the given key parts and STATUS Passed.
pub fn info(id: u64, host_id: u64, control_id: u64, technology_id: u64) -> String {
    format!(
        "<INFO><ID>{id}</ID><HOST_ID>{host_id}</HOST_ID><CONTROL_ID>{control_id}</CONTROL_ID>\
         <TECHNOLOGY_ID>{technology_id}</TECHNOLOGY_ID><STATUS>Passed</STATUS>\
         <POSTURE_MODIFIED_DATE>2026-12-01T10:00:00Z</POSTURE_MODIFIED_DATE></INFO>"
    )
}

/// A glossary with host 1001, control 1071 and technology 45.
pub const SMALL_GLOSSARY: &str = "<GLOSSARY><HOST_LIST><HOST><ID>1001</ID><IP>10.0.0.1</IP>\
    </HOST></HOST_LIST><CONTROL_LIST><CONTROL><ID>1071</ID><STATEMENT><![CDATA[Statement]]>\
    </STATEMENT><CRITICALITY><LABEL>SERIOUS</LABEL><VALUE>3</VALUE></CRITICALITY></CONTROL>\
    </CONTROL_LIST><TECHNOLOGY_LIST><TECHNOLOGY><ID>45</ID><NAME><![CDATA[Windows Server 2019]]>\
    </NAME></TECHNOLOGY></TECHNOLOGY_LIST></GLOSSARY>";
