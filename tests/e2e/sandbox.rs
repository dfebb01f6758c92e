//! The component sandbox through the real binary and library. A drop-in component that traps,
//! spins, exhausts memory or breaks the emit rules fails its run with an error naming the job,
//! the component's sha256 and the cause, and the next run with the embedded component works. A
//! component gets no access to files, environment variables or the network.
//!
//! The misbehaving component is the test-only crate in `tests/fixtures/components/misbehave`,
//! built here for `wasm32-wasip2`. Its job parameter `mode` selects the misbehaviour.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pcsync::JobId;
use pcsync::runtime::{Runtime, RuntimeError};
use pcsync::store::RunState;
use qualys_sim::Endpoint;

use crate::harness::{PASSWORD, Setup, assert_success, stderr, stdout};

const WASM_TARGET: &str = "wasm32-wasip2";

/// The call deadline the failure tests configure, in seconds.
const CALL_TIMEOUT_SECS: u64 = 2;

/// The memory limit the failure tests configure, in MiB.
const MEMORY_MIB: u64 = 64;

/// Maximum duration of a failed run. The call deadline is 2 s, and the rest is slack for process
/// start, compilation and a loaded test machine.
const MAX_FAILED_RUN: Duration = Duration::from_secs(60);

/// A component that imports the host interface of a contract version this host does not
/// implement. Written as WAT text, which the host compiles because wasmtime's `wat` feature is
/// on.
const CONTRACT_2_COMPONENT: &str = r#"(component (import "pcsync:job/host@2.0.0" (instance)))"#;

/// The path the fixture requests if its connection to the simulator gets through.
const PROBE_PATH: &str = "/sandbox-probe";

/// One misbehaviour and the text its error must contain.
struct Misbehaviour {
    component: Fixture,
    mode: &'static str,
    reported: Reported,
    /// Parts of the error message that name the cause.
    causes: &'static [&'static str],
}

/// Where `pcsync run` reports a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reported {
    /// The run started and ended in error: stdout has the run line with `error: ...` under it,
    /// and the store has the run with the same error.
    RunError,
    /// The component failed a check while loading, so no run started: stdout is empty, stderr
    /// has `error: ...` and the store has no run.
    StartError,
}

#[derive(Clone, Copy)]
enum Fixture {
    /// Describes itself as job `pc-policies`.
    Misbehave,
    /// Built with feature `wrong-job-id`: describes itself as job `pc-controls`.
    WrongJobId,
}

impl Fixture {
    /// The fixture component, built on first use. A failed build is kept, so every test that
    /// needs the component reports it without building again.
    fn path(self) -> &'static Path {
        static MISBEHAVE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
        static WRONG_JOB_ID: OnceLock<Result<PathBuf, String>> = OnceLock::new();
        let built = match self {
            Fixture::Misbehave => MISBEHAVE.get_or_init(|| build_fixture(None, "test-components")),
            Fixture::WrongJobId => WRONG_JOB_ID.get_or_init(|| {
                build_fixture(Some("wrong-job-id"), "test-components-wrong-job-id")
            }),
        };
        match built {
            Ok(path) => path,
            Err(message) => panic!("{message}"),
        }
    }
}

/// Builds the misbehave fixture crate for `wasm32-wasip2` into `<target>/<target_subdir>` and
/// returns the path of the component.
fn build_fixture(feature: Option<&str>, target_subdir: &str) -> Result<PathBuf, String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("components")
        .join("misbehave")
        .join("Cargo.toml");
    let target_dir = main_target_dir().join(target_subdir);

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--locked", "--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir);
    if let Some(feature) = feature {
        command.args(["--features", feature]);
    }
    // Settings of the outer build (clippy's driver, host flags, its target directory) must not
    // reach the component build.
    for variable in [
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CARGO_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        command.env_remove(variable);
    }

    let status = command.status().expect("cargo starts");
    if !status.success() {
        return Err(format!(
            "building {} for {WASM_TARGET} failed with {status} (see the errors above); run `rustup target add {WASM_TARGET}` if the target is missing",
            manifest.display()
        ));
    }
    let component = target_dir
        .join(WASM_TARGET)
        .join("release")
        .join("misbehave.wasm");
    if !component.exists() {
        return Err(format!(
            "the fixture build did not produce {}",
            component.display()
        ));
    }
    Ok(component)
}

/// Returns the target directory of this build. The test binary is
/// `<target>/<profile>/deps/e2e-<hash>`.
fn main_target_dir() -> PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    test_binary
        .ancestors()
        .nth(3)
        .expect("test binary inside <target>/<profile>/deps")
        .to_path_buf()
}

/// Copies a component to the drop-in path of pc-policies, which the next run loads instead of
/// the embedded component. Returns the drop-in path and the component's sha256.
fn install_drop_in(setup: &Setup, component: &Path) -> (PathBuf, String) {
    let bytes = std::fs::read(component).expect("read the fixture component");
    let directory = setup.data_dir().join("components");
    std::fs::create_dir_all(&directory).expect("create the components directory");
    let path = directory.join("pc-policies.wasm");
    std::fs::write(&path, &bytes).expect("write the drop-in component");
    (path, sha256_hex(&bytes))
}

fn misbehaving_config(mode: &str) -> String {
    format!(
        "[jobs.pc-policies]\nmode = \"{mode}\"\n\n[limits]\ncall_timeout_secs = {CALL_TIMEOUT_SECS}\nmemory_mib = {MEMORY_MIB}\n"
    )
}

/// Returns the error `pcsync run` printed to stderr when it could not start a run.
fn start_error(output: &Output) -> Option<String> {
    stderr(output)
        .lines()
        .find_map(|line| line.strip_prefix("error: ").map(str::to_owned))
}

/// Returns the error `pcsync run` printed under the run line, if it printed one. The error is
/// the rest of stdout because a trap's message carries a wasm backtrace over several lines.
fn run_error(output: &Output) -> Option<String> {
    let text = stdout(output);
    if !text.starts_with("run ") {
        return None;
    }
    let (_, error) = text.split_once("\n  error: ")?;
    Some(error.strip_suffix('\n').unwrap_or(error).to_owned())
}

/// Asserts the process ended with exit code 1 (a failed run), not by a panic (101) or a signal.
fn assert_failed_cleanly(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "pcsync ended with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
    let stderr = stderr(output);
    assert!(!stderr.contains("panicked at"), "{stderr}");
}

/// Runs pc-policies with the fixture as its drop-in, checks that the run fails with an error
/// naming the job, the component and the cause, then removes the drop-in and checks that the
/// embedded component runs.
fn check_misbehaviour(case: &Misbehaviour) {
    let setup = Setup::with_extra(5, 100, &misbehaving_config(case.mode));
    let (drop_in, sha256) = install_drop_in(&setup, case.component.path());
    // The first call builds the binary, which must not count towards the run's time.
    crate::harness::pcsync_binary();

    let started = Instant::now();
    let output = setup.pcsync(&["run", "pc-policies"]);
    let elapsed = started.elapsed();
    assert_failed_cleanly(&output);
    assert!(elapsed < MAX_FAILED_RUN, "the failed run took {elapsed:?}");

    let error = match case.reported {
        Reported::RunError => run_error(&output),
        Reported::StartError => {
            assert_eq!(stdout(&output), "", "no run line");
            start_error(&output)
        }
    };
    let error = error.unwrap_or_else(|| {
        panic!(
            "mode {}: no error reported as {:?}\nstdout:\n{}\nstderr:\n{}",
            case.mode,
            case.reported,
            stdout(&output),
            stderr(&output)
        )
    });
    assert!(error.contains("pc-policies"), "{error}");
    assert!(error.contains(&sha256), "{error}");
    for cause in case.causes {
        assert!(error.contains(cause), "expected {cause:?} in: {error}");
    }

    {
        let pcsync = setup.open();
        let runs = pcsync.store().runs(Some(JobId::PcPolicies)).unwrap();
        match case.reported {
            Reported::RunError => {
                assert_eq!(runs.len(), 1, "{runs:?}");
                assert_eq!(runs[0].state, RunState::Error);
                assert_eq!(runs[0].error.as_deref(), Some(error.as_str()));
                assert_eq!(runs[0].component_sha256, sha256);
            }
            Reported::StartError => assert!(runs.is_empty(), "{runs:?}"),
        }
    }

    std::fs::remove_file(&drop_in).expect("remove the drop-in component");
    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("complete"), "{text}");
    assert!(text.contains("new 5"), "{text}");
}

#[test]
fn trap_fails_run() {
    check_misbehaviour(&Misbehaviour {
        component: Fixture::Misbehave,
        mode: "trap",
        reported: Reported::RunError,
        causes: &[
            "trapped in `process`",
            "wasm `unreachable` instruction executed",
        ],
    });
}

#[test]
fn endless_loop_times_out() {
    check_misbehaviour(&Misbehaviour {
        component: Fixture::Misbehave,
        mode: "loop",
        reported: Reported::RunError,
        causes: &["timed out in `process` after 2 s"],
    });
}

#[test]
fn unbounded_memory_hits_limit() {
    check_misbehaviour(&Misbehaviour {
        component: Fixture::Misbehave,
        mode: "memory",
        reported: Reported::RunError,
        causes: &["memory limit of 64 MiB"],
    });
}

#[test]
fn undeclared_table_is_rejected() {
    check_misbehaviour(&Misbehaviour {
        component: Fixture::Misbehave,
        mode: "undeclared-table",
        reported: Reported::RunError,
        causes: &["Host", "which `describe` does not declare"],
    });
}

#[test]
fn oversized_emit_is_rejected() {
    check_misbehaviour(&Misbehaviour {
        component: Fixture::Misbehave,
        mode: "oversized-emit",
        reported: Reported::RunError,
        causes: &["20000 records", "over limits.max_emit_batch"],
    });
}

#[test]
fn wrong_job_id_is_rejected() {
    check_misbehaviour(&Misbehaviour {
        component: Fixture::WrongJobId,
        mode: "ok",
        reported: Reported::StartError,
        causes: &["describes itself as job `pc-controls`"],
    });
}

#[test]
fn newer_contract_is_rejected_before_instantiation() {
    let runtime = Runtime::new(None, Default::default()).expect("runtime starts");
    let error = match runtime.load(CONTRACT_2_COMPONENT.as_bytes()) {
        Ok(loaded) => panic!(
            "a pcsync:job@2.0.0 component loaded as {:?}",
            loaded.description
        ),
        Err(error) => error,
    };

    let message = error.to_string();
    assert!(
        matches!(error, RuntimeError::IncompatibleVersion { .. }),
        "{error:?}"
    );
    assert!(message.contains("pcsync:job@2.0.0"), "{message}");
    assert!(message.contains("pcsync:job@1.0.0"), "{message}");
    assert!(
        message.contains(&sha256_hex(CONTRACT_2_COMPONENT.as_bytes())),
        "{message}"
    );
}

#[test]
fn sandbox_grants_nothing() {
    let setup = Setup::new(5, 100);
    let port = setup.simulator.address().port();
    setup.write_config(
        PASSWORD,
        &format!("[jobs.pc-policies]\nmode = \"ok\"\nprobe_port = \"{port}\"\n"),
    );
    install_drop_in(&setup, Fixture::Misbehave.path());

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);

    let read_dir_failed = "sandbox probe: read_dir(\"/\") failed";
    let no_variables = "sandbox probe: 0 environment variables";
    // "Permission denied" comes from the host's socket check. An "unsupported" error would mean
    // the probe never reached the host.
    let connect_failed =
        format!("sandbox probe: connect to 127.0.0.1:{port} failed: Permission denied");

    // The component's warn-level log lines reach the host's log.
    let log = stderr(&output);
    assert!(log.contains(read_dir_failed), "{log}");
    assert!(log.contains(no_variables), "{log}");
    assert!(log.contains(&connect_failed), "{log}");

    // The same findings are the run's warnings.
    let pcsync = setup.open();
    let runs = pcsync.store().runs(Some(JobId::PcPolicies)).unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.state, RunState::Complete);
    let warnings = &run.warnings;
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|warning| warning.starts_with(read_dir_failed)),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|warning| warning.starts_with(no_variables)),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|warning| warning.starts_with(&connect_failed)),
        "{warnings:?}"
    );

    // Only the host's one planned request reached the simulator.
    let requests = setup.simulator.requests();
    assert!(
        requests.iter().all(|request| request.path != PROBE_PATH),
        "{requests:?}"
    );
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].endpoint, Endpoint::PolicyList);

    let policy = pcsync.store().policy(1).unwrap().expect("policy 1 stored");
    assert!(policy.present);
}

/// Computes the SHA-256 digest of `bytes` as lower-case hex.
// NOTE: written out because the test crate has no hashing dependency, and the host's own
// `sha256_hex` would check the host against itself. A `sha2` dev-dependency would replace it.
fn sha256_hex(bytes: &[u8]) -> String {
    // The first 32 bits of the fractional parts of the cube roots of the first 64 primes.
    const ROUND_CONSTANTS: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    // The first 32 bits of the fractional parts of the square roots of the first 8 primes.
    let mut hash: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    // Padding: a 1 bit, zeros up to 56 bytes modulo 64, then the length in bits.
    let bit_length = u64::try_from(bytes.len()).expect("length fits in u64") * 8;
    let mut message = bytes.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_length.to_be_bytes());

    for block in message.chunks_exact(64) {
        let mut schedule = [0u32; 64];
        for (word, chunk) in schedule.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes(chunk.try_into().expect("4-byte chunk"));
        }
        for t in 16..64 {
            let s0 = schedule[t - 15].rotate_right(7)
                ^ schedule[t - 15].rotate_right(18)
                ^ (schedule[t - 15] >> 3);
            let s1 = schedule[t - 2].rotate_right(17)
                ^ schedule[t - 2].rotate_right(19)
                ^ (schedule[t - 2] >> 10);
            schedule[t] = schedule[t - 16]
                .wrapping_add(s0)
                .wrapping_add(schedule[t - 7])
                .wrapping_add(s1);
        }

        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = hash;
        for (constant, word) in ROUND_CONSTANTS.iter().zip(schedule) {
            let sum1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let choose = (e & f) ^ (!e & g);
            let temp1 = h
                .wrapping_add(sum1)
                .wrapping_add(choose)
                .wrapping_add(*constant)
                .wrapping_add(word);
            let sum0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let majority = (a & b) ^ (a & c) ^ (b & c);
            let temp2 = sum0.wrapping_add(majority);
            h = g;
            g = f;
            f = e;
            e = d.wrapping_add(temp1);
            d = c;
            c = b;
            b = a;
            a = temp1.wrapping_add(temp2);
        }
        for (value, working) in hash.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *value = value.wrapping_add(working);
        }
    }

    hash.iter().map(|word| format!("{word:08x}")).collect()
}

#[test]
fn sha256_matches_known_digests() {
    // Digests checked with coreutils `sha256sum`: the empty input, a one-block and a two-block
    // message.
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
}

#[test]
fn log_volume_is_capped_per_call() {
    let setup = Setup::new(5, 100);
    setup.write_config(
        PASSWORD,
        "[jobs.pc-policies]\nmode = \"log-flood\"\n\n[limits]\nmax_log_bytes_per_call = 65536\n",
    );
    install_drop_in(&setup, Fixture::Misbehave.path());

    let output = setup.pcsync(&["run", "pc-policies"]);
    assert_success(&output);
    let log = stderr(&output);
    let flood_lines = log
        .lines()
        .filter(|line| line.contains("xxxxxxxxxx"))
        .count();
    assert!(
        flood_lines <= 64,
        "{flood_lines} lines of 1 KiB passed a 64 KiB limit"
    );
    assert!(log.contains("component log lines dropped"), "{log}");
    assert!(
        log.contains("dropped=10176"),
        "the dropped lines are counted: {log}"
    );
}
