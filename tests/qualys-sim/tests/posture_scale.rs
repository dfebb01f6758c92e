//! A posture info page of more than 200 000 postures, read as a stream. It sits in a test
//! binary of its own so that no other test allocates memory while it measures the process.

mod common;

use std::io::Read;
use std::time::Instant;

use common::{PASSWORD, POSTURE_PATH, USERNAME, client, start};
use qualys_sim::{Dataset, Postures, SimConfig};

/// Settings that give one policy of 300 controls on 2000 hosts.
fn large_config() -> SimConfig {
    SimConfig {
        policies: 1,
        controls: 300,
        controls_per_policy: Some(300),
        hosts: 2_000,
        ..SimConfig::default()
    }
}

/// Returns the resident set size of this process in KiB, from `/proc/self/status`, or `None`
/// where that file does not exist.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn large_page_streams_in_bounded_memory() {
    let config = large_config();
    let dataset = Dataset::from_config(&config);
    let started = Instant::now();
    let generated = Postures::generate(&dataset, config.seed);
    eprintln!(
        "generated {} postures in {:?}",
        generated.len(),
        started.elapsed()
    );
    drop(generated);

    let sim = start(config);
    let policy_id = sim.with_postures(|p| p.policy_ids()[0]);
    let expected = sim.with_postures(|p| p.count(policy_id));
    assert!(expected >= 200_000, "only {expected} postures");

    let baseline = resident_kib();
    let started = Instant::now();
    let mut response = client()
        .get(format!(
            "{}{POSTURE_PATH}?action=list&policy_id={policy_id}&truncation_limit=0&details=All\
             &show_remediation_info=1&cause_of_failure=1&show_extended_evidence=1",
            sim.base_url()
        ))
        .basic_auth(USERNAME, Some(PASSWORD))
        .header("X-Requested-With", "qualys-sim tests")
        .timeout(std::time::Duration::from_secs(600))
        .send()
        .expect("request succeeds");
    assert_eq!(response.status().as_u16(), 200);

    // Counts INFO elements without keeping the body, carrying the last bytes of each read so
    // that a tag split between two reads is still found.
    const TAG: &[u8] = b"<INFO>";
    let mut buffer = vec![0u8; 64 * 1024];
    let mut carry: Vec<u8> = Vec::new();
    let mut total_bytes = 0u64;
    let mut info_count = 0usize;
    let mut peak = baseline;
    let mut next_sample = 0u64;
    let mut tail = String::new();
    loop {
        let read = response.read(&mut buffer).expect("body reads");
        if read == 0 {
            break;
        }
        total_bytes += read as u64;
        carry.extend_from_slice(&buffer[..read]);
        info_count += carry.windows(TAG.len()).filter(|w| *w == TAG).count();
        let keep = carry.len().min(TAG.len() - 1);
        carry.drain(..carry.len() - keep);
        tail = String::from_utf8_lossy(&buffer[read.saturating_sub(200)..read]).into_owned();
        if total_bytes >= next_sample {
            next_sample = total_bytes + 4 * 1024 * 1024;
            peak = peak.max(resident_kib());
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "read {total_bytes} bytes and {info_count} postures in {elapsed:?}; \
         resident KiB before {baseline:?}, peak {peak:?}"
    );

    assert_eq!(info_count, expected);
    assert!(
        tail.ends_with("</POSTURE_INFO_LIST_OUTPUT>\n"),
        "body ends with {tail:?}"
    );
    assert!(
        total_bytes > 100 * 1024 * 1024,
        "body of only {total_bytes} bytes"
    );
    if let (Some(baseline), Some(peak)) = (baseline, peak) {
        let growth_bytes = (peak.saturating_sub(baseline)) * 1024;
        // A simulator that built the page in memory would grow by at least the body size.
        assert!(
            growth_bytes < total_bytes / 4,
            "memory grew by {growth_bytes} bytes for a body of {total_bytes} bytes"
        );
    }
}
