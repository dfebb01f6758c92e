//! A 50 000-policy page: emitted in bounded batches, with memory that does not grow with the
//! page. This file has a single test because it measures the heap of the whole test binary.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use pc_policies::{BATCH_SIZE, Policy, process};
use pcsync_component_common::{JobHost, LogLevel};
use support::list_request;

/// Counts the bytes currently allocated and the peak since the last reset.
struct CountingAllocator;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwards the caller's layout unchanged to the system allocator.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the pointer was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(pointer, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const POLICY_COUNT: u64 = 50_000;

/// Generates a policy list page while it is read, so the whole page is never in memory.
struct GeneratedPage {
    next_id: u64,
    chunk: Vec<u8>,
    chunk_start: usize,
    footer_written: bool,
    generated_bytes: u64,
}

impl GeneratedPage {
    fn new() -> Self {
        let header = "   \n<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n\
            <!DOCTYPE POLICY_LIST_OUTPUT SYSTEM \"https://qualysapi.qualys.com/api/2.0/fo/compliance/policy/policy_list_output.dtd\">\n\
            <POLICY_LIST_OUTPUT><RESPONSE><DATETIME>2024-05-14T09:12:45Z</DATETIME><POLICY_LIST>\n";
        Self {
            next_id: 1,
            chunk: header.as_bytes().to_vec(),
            chunk_start: 0,
            footer_written: false,
            generated_bytes: 0,
        }
    }

    fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if self.next_id <= POLICY_COUNT {
            let id = self.next_id;
            self.next_id += 1;
            let evaluated = if id.is_multiple_of(3) {
                String::new()
            } else {
                "<LAST_EVALUATED><DATETIME>2024-05-13T23:40:05Z</DATETIME></LAST_EVALUATED>"
                    .to_owned()
            };
            let policy = format!(
                "<POLICY><ID>{id}</ID><TITLE><![CDATA[ Generated policy {id} ]]></TITLE>\
                 <CREATED><DATETIME>2022-03-01T10:15:00Z</DATETIME><BY>acme_as</BY></CREATED>\
                 <LAST_MODIFIED><DATETIME>2024-04-30T18:02:11Z</DATETIME><BY>acme_jd</BY></LAST_MODIFIED>\
                 {evaluated}<STATUS>active</STATUS><IS_LOCKED>{}</IS_LOCKED>\
                 <ASSET_GROUP_IDS>{},{}</ASSET_GROUP_IDS></POLICY>\n",
                id % 2,
                id * 7,
                id * 7 + 1
            );
            return Some(policy.into_bytes());
        }
        if !self.footer_written {
            self.footer_written = true;
            return Some(b"</POLICY_LIST></RESPONSE></POLICY_LIST_OUTPUT>\n".to_vec());
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
    records: u64,
    largest_batch: usize,
    next_expected_id: u64,
    never_evaluated: u64,
}

impl JobHost for CountingHost {
    type Record = Policy;

    fn log(&mut self, _level: LogLevel, _message: &str) {}

    fn emit(&mut self, records: Vec<Policy>) -> Result<(), String> {
        self.batches += 1;
        self.largest_batch = self.largest_batch.max(records.len());
        for policy in &records {
            self.next_expected_id += 1;
            assert_eq!(policy.id, self.next_expected_id);
            if policy.last_evaluated.is_none() {
                self.never_evaluated += 1;
            }
        }
        self.records += records.len() as u64;
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
    let output = process(&request, &mut page, &mut host).unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - baseline;

    assert_eq!(host.records, POLICY_COUNT);
    assert_eq!(host.largest_batch, BATCH_SIZE);
    assert_eq!(host.batches, (POLICY_COUNT as usize).div_ceil(BATCH_SIZE));
    assert_eq!(host.never_evaluated, POLICY_COUNT / 3);
    assert!(output.follow_ups.is_empty());
    assert!(output.warnings.is_empty());

    // The page is about 20 MB. The parse keeps only its buffers (64 KiB read buffer,
    // 16 KiB + 48 KiB in the character filter) and one batch of policies in memory.
    assert!(
        page.generated_bytes > 15_000_000,
        "{}",
        page.generated_bytes
    );
    assert!(peak < 2_000_000, "peak heap {peak} bytes");
}
