//! A 20 000-control page: emitted in bounded batches, with memory that does not grow with the
//! page. This file has a single test because it measures the heap of the whole test binary.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use pc_controls::{BATCH_SIZE, Record, process};
use pcsync_component_common::{JobHost, LogLevel};
use support::list_request;

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

/// Generates a control list page while it is read, so the whole page is never in memory. Each
/// control names one of 10 technologies and one of 3 frameworks with one reference.
struct GeneratedPage {
    next_control: u64,
    chunk: Vec<u8>,
    chunk_start: usize,
    footer_written: bool,
    generated_bytes: u64,
}

impl GeneratedPage {
    fn new() -> Self {
        let header = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n\
            <CONTROL_LIST_OUTPUT><RESPONSE><DATETIME>2026-01-05T09:30:00Z</DATETIME>\
            <CONTROL_LIST>\n";
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
            let id = 10_000 + index;
            let control = format!(
                "<CONTROL><ID>{id}</ID><UPDATE_DATE>2026-01-02T03:04:05Z</UPDATE_DATE>\
                 <CREATED_DATE>2019-06-11T10:00:00Z</CREATED_DATE><CATEGORY><ID>1</ID>\
                 <NAME><![CDATA[Category]]></NAME></CATEGORY><SUB_CATEGORY><ID>16</ID>\
                 <NAME><![CDATA[Sub-category]]></NAME></SUB_CATEGORY><STATEMENT><![CDATA[Status \
                 of generated setting {id}]]></STATEMENT><CRITICALITY><LABEL><![CDATA[MEDIUM]]>\
                 </LABEL><VALUE>2</VALUE></CRITICALITY><CHECK_TYPE><![CDATA[Registry Value]]>\
                 </CHECK_TYPE><IGNORE_ERROR>0</IGNORE_ERROR><IS_ACTIVE>{}</IS_ACTIVE>\
                 <TECHNOLOGY_LIST><TECHNOLOGY><ID>{}</ID><NAME><![CDATA[Technology]]></NAME>\
                 <RATIONALE><![CDATA[Because.]]></RATIONALE></TECHNOLOGY></TECHNOLOGY_LIST>\
                 <FRAMEWORK_LIST><FRAMEWORK><ID>{}</ID><NAME><![CDATA[Framework]]></NAME>\
                 <REFERENCE_LIST><REFERENCE>1.{id}</REFERENCE></REFERENCE_LIST></FRAMEWORK>\
                 </FRAMEWORK_LIST></CONTROL>\n",
                u8::from(!index.is_multiple_of(4)),
                40 + index % 10,
                index % 3 + 1,
            );
            return Some(control.into_bytes());
        }
        if !self.footer_written {
            self.footer_written = true;
            return Some(b"</CONTROL_LIST></RESPONSE></CONTROL_LIST_OUTPUT>\n".to_vec());
        }
        None
    }
}

impl Read for GeneratedPage {
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
    controls: u64,
    inactive_controls: u64,
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
                Record::Test(control) => {
                    assert_eq!(control.id, 10_000 + self.controls);
                    if !control.active {
                        self.inactive_controls += 1;
                    }
                    self.controls += 1;
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
fn large_page_bounded_batches_and_memory() {
    let request = list_request();
    let mut host = CountingHost::default();
    let mut page = GeneratedPage::new();

    let baseline = ALLOCATED.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let output = process(&request, 200, &mut page, &mut host).unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - baseline;

    assert_eq!(host.controls, CONTROL_COUNT);
    assert_eq!(host.inactive_controls, CONTROL_COUNT / 4);
    assert_eq!(host.technologies, 10);
    assert_eq!(host.auth_srcs, 3);
    assert_eq!(host.citations, CONTROL_COUNT);
    let records = host.controls + host.technologies + host.auth_srcs + host.citations;
    assert_eq!(host.largest_batch, BATCH_SIZE);
    assert_eq!(host.batches, (records as usize).div_ceil(BATCH_SIZE));
    assert!(output.follow_ups.is_empty());
    assert!(output.warnings.is_empty(), "{:?}", output.warnings);

    // The page is over 15 MB, as the first assert checks. The parse keeps its buffers (64 KiB read buffer, 16 KiB +
    // 48 KiB in the character filter), one batch of records and the remembered ids.
    assert!(
        page.generated_bytes > 15_000_000,
        "{}",
        page.generated_bytes
    );
    assert!(peak < 2_000_000, "peak heap {peak} bytes");
}
