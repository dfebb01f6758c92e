//! Shared set-up: a simulator, a configuration file and the `pcsync` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use qualys_sim::{SimConfig, Simulator};
use tempfile::TempDir;

pub const USERNAME: &str = "e2e-user";
pub const PASSWORD: &str = "e2e-Secret-Password";

/// A simulator and a working directory with a `pcsync.toml` pointing at it.
pub struct Setup {
    pub simulator: Simulator,
    pub dir: TempDir,
}

impl Setup {
    pub fn new(policies: usize, page_size: usize) -> Setup {
        Setup::with_extra(policies, page_size, "")
    }

    /// `extra` is appended to the configuration file, for job sections.
    pub fn with_extra(policies: usize, page_size: usize, extra: &str) -> Setup {
        Setup::with_config(
            SimConfig {
                policies,
                page_size,
                ..SimConfig::default()
            },
            extra,
        )
    }

    /// A simulator with `config` (its credentials replaced by the test ones).
    pub fn with_config(config: SimConfig, extra: &str) -> Setup {
        let simulator = Simulator::start(SimConfig {
            username: USERNAME.into(),
            password: PASSWORD.into(),
            ..config
        })
        .expect("simulator starts");
        let dir = tempfile::tempdir().expect("temporary directory");
        let setup = Setup { simulator, dir };
        setup.write_config(PASSWORD, extra);
        setup
    }

    /// Writes `pcsync.toml`. Retries back off for milliseconds, not seconds, unless `extra` has a
    /// `[retry]` section of its own.
    pub fn write_config(&self, password: &str, extra: &str) {
        let retry = if extra.contains("[retry]") {
            ""
        } else {
            "[retry]\ninitial_backoff_ms = 10\nmax_backoff_ms = 50\n"
        };
        let text = format!(
            "[qualys]\napi_url = \"{url}\"\ngateway_url = \"{url}\"\nusername = \"{USERNAME}\"\npassword = \"{password}\"\ntimeout_secs = 10\n\n{retry}\n{extra}\n",
            url = self.simulator.base_url()
        );
        std::fs::write(self.config_path(), text).expect("write pcsync.toml");
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("pcsync.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("pcsync-data")
    }

    /// Runs `pcsync ARGS` in the working directory, logging at info level.
    pub fn pcsync(&self, args: &[&str]) -> Output {
        self.pcsync_with_log(args, "info")
    }

    /// Runs `pcsync ARGS` with the given log filter.
    pub fn pcsync_with_log(&self, args: &[&str], log: &str) -> Output {
        self.command(args)
            .env("PCSYNC_LOG", log)
            .output()
            .expect("pcsync starts")
    }

    /// A `pcsync ARGS` command in the working directory, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(pcsync_binary());
        command
            .current_dir(self.dir.path())
            .args(args)
            .env_remove("PCSYNC_QUALYS_PASSWORD")
            .env("PCSYNC_LOG", "info");
        command
    }

    /// Opens the store the binary wrote, as a library user would.
    pub fn open(&self) -> pcsync::Pcsync {
        let config = pcsync::Config::load(&self.config_path()).expect("configuration loads");
        pcsync::Pcsync::open(config, &self.data_dir()).expect("store opens")
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a command succeeded, showing its output when it did not.
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "pcsync failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

/// The `pcsync` binary of this build. Cargo builds binaries only for the package under test,
/// so the first call builds it (a no-op when `cargo test --workspace` already has).
pub fn pcsync_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let test_binary = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/e2e-<hash>
        let profile_dir = test_binary
            .parent()
            .and_then(Path::parent)
            .expect("test binary inside target/<profile>/deps");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.args(["build", "--workspace", "--bins"]);
        if profile_dir
            .file_name()
            .is_some_and(|name| name == "release")
        {
            command.arg("--release");
        }
        if let Some(target_dir) = profile_dir.parent() {
            command.arg("--target-dir").arg(target_dir);
        }
        let status = command.status().expect("cargo starts");
        assert!(status.success(), "building the pcsync binary failed");
        profile_dir.join("pcsync")
    })
}
