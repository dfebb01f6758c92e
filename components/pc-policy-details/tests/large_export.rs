//! A 20 000-control export: emitted in bounded batches, with memory that does not grow with the
//! page. This file has a single test because it measures the heap of the whole test binary.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use pc_policy_details::{BATCH_SIZE, Record, process};
use pcsync_component_common::{JobHost, LogLevel};
use support::export_request;

/// Counts the bytes currently allocated and the peak since the last reset.
struct CountingAllocator;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout is passed to the system allocator unchanged.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: `pointer` came from `alloc` above with this same layout.
        unsafe { System.dealloc(pointer, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CONTROL_COUNT: u64 = 20_000;
const CONTROLS_PER_SECTION: u64 = 1000;
const POLICY_ID: u64 = 4242;

/// Generates an export page while it is read, so the whole page is never in memory. Each
/// control names one of 10 technologies and one of 3 frameworks with two references.
struct GeneratedExport {
    next_control: u64,
    chunk: Vec<u8>,
    chunk_start: usize,
    footer_written: bool,
    generated_bytes: u64,
}

impl GeneratedExport {
    fn new() -> Self {
        let header = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n\
            <POLICY_EXPORT_OUTPUT><RESPONSE><DATETIME>2026-01-05T08:00:00Z</DATETIME><POLICY>\
            <TITLE><![CDATA[Generated]]></TITLE><SECTIONS total=\"20\">\n";
        Self {
            next_control: 0,
            chunk: header.as_bytes().to_vec(),
            chunk_start: 0,
            footer_written: false,
            generated_bytes: 0,
        }
    }

    fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if self.next_control < CONTROL_COUNT {
            let index = self.next_control;
            self.next_control += 1;
            let mut chunk = String::new();
            if index.is_multiple_of(CONTROLS_PER_SECTION) {
                let section = index / CONTROLS_PER_SECTION + 1;
                chunk.push_str(&format!(
                    "<SECTION><NUMBER>{section}</NUMBER><HEADING><![CDATA[ Section {section} ]]>\
                     </HEADING><CONTROLS total=\"{CONTROLS_PER_SECTION}\">\n"
                ));
            }
            let id = 10_000 + index;
            chunk.push_str(&format!(
                "<CONTROL><ID>{id}</ID><STATEMENT><![CDATA[Status of generated setting {id}]]>\
                 </STATEMENT><CRITICALITY><LABEL><![CDATA[SERIOUS]]></LABEL><VALUE>3</VALUE>\
                 </CRITICALITY><TECHNOLOGIES total=\"1\"><TECHNOLOGY><ID>{}</ID>\
                 <NAME><![CDATA[Technology]]></NAME><RATIONALE><![CDATA[Because.]]></RATIONALE>\
                 </TECHNOLOGY></TECHNOLOGIES><FRAMEWORK_LIST><FRAMEWORK><ID>{}</ID>\
                 <NAME><![CDATA[Framework]]></NAME><REFERENCE_LIST><REFERENCE>1.{id}</REFERENCE>\
                 <REFERENCE>2.{id}</REFERENCE></REFERENCE_LIST></FRAMEWORK></FRAMEWORK_LIST>\
                 </CONTROL>\n",
                40 + index % 10,
                index % 3 + 1,
            ));
            if (index + 1).is_multiple_of(CONTROLS_PER_SECTION) {
                chunk.push_str("</CONTROLS></SECTION>\n");
            }
            return Some(chunk.into_bytes());
        }
        if !self.footer_written {
            self.footer_written = true;
            return Some(b"</SECTIONS></POLICY></RESPONSE></POLICY_EXPORT_OUTPUT>\n".to_vec());
        }
        None
    }
}

impl Read for GeneratedExport {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.chunk_start == self.chunk.len() {
            match self.next_chunk() {
                Some(chunk) => {
                    self.chunk = chunk;
                    self.chunk_start = 0;
                }
                None => return Ok(0),
            }
        }
        let available = &self.chunk[self.chunk_start..];
        let count = available.len().min(out.len());
        out[..count].copy_from_slice(&available[..count]);
        self.chunk_start += count;
        self.generated_bytes += count as u64;
        Ok(count)
    }
}

/// Checks each batch and keeps only counts, so the host stores no records.
#[derive(Default)]
struct CountingHost {
    batches: usize,
    largest_batch: usize,
    links: u64,
    technologies: u64,
    auth_srcs: u64,
    citations: u64,
}

impl JobHost for CountingHost {
    type Record = Record;

    fn log(&mut self, _level: LogLevel, _message: &str) {}

    fn emit(&mut self, records: Vec<Record>) -> Result<(), String> {
        self.batches += 1;
        self.largest_batch = self.largest_batch.max(records.len());
        for record in &records {
            match record {
                Record::PolicyTest(link) => {
                    assert_eq!(u64::from(link.position), self.links);
                    assert_eq!(link.control_id, 10_000 + self.links);
                    let section = self.links / CONTROLS_PER_SECTION + 1;
                    assert_eq!(link.section_number, Some(section.to_string()));
                    self.links += 1;
                }
                Record::Technology(_) => self.technologies += 1,
                Record::AuthSrc(_) => self.auth_srcs += 1,
                Record::Citation(_) => self.citations += 1,
            }
        }
        Ok(())
    }

    fn parameter(&mut self, _name: &str) -> Option<String> {
        None
    }
}

#[test]
fn large_export_bounded_batches_and_memory() {
    let request = export_request(POLICY_ID);
    let mut host = CountingHost::default();
    let mut page = GeneratedExport::new();

    let baseline = ALLOCATED.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let output = process(&request, 200, &mut page, &mut host).unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - baseline;

    assert_eq!(host.links, CONTROL_COUNT);
    assert_eq!(host.technologies, 10);
    assert_eq!(host.auth_srcs, 3);
    assert_eq!(host.citations, 2 * CONTROL_COUNT);
    let records = host.links + host.technologies + host.auth_srcs + host.citations;
    assert_eq!(host.largest_batch, BATCH_SIZE);
    assert_eq!(host.batches, (records as usize).div_ceil(BATCH_SIZE));
    assert_eq!(output.complete_policies, vec![POLICY_ID]);
    assert!(output.warnings.is_empty(), "{:?}", output.warnings);

    // The page is over 10 MB, as the first assert checks. The parse keeps its buffers (64 KiB read buffer, 16 KiB +
    // 48 KiB in the character filter), one batch of records and the remembered ids.
    assert!(
        page.generated_bytes > 10_000_000,
        "{}",
        page.generated_bytes
    );
    assert!(peak < 2_000_000, "peak heap {peak} bytes");
}
