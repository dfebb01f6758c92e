//! `pcsync.toml`: where Qualys is, how to log in, and each job's settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::jobs::{JobId, Pipeline};
use crate::schedule::Schedule;

/// The environment variable that overrides the configured Qualys password.
pub const PASSWORD_ENV: &str = "PCSYNC_QUALYS_PASSWORD";

/// A configuration error, naming the file, the key and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot read the password file {path} named by qualys.password_file: {source}")]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// A credential. Its `Debug` and `Display` never show the value, so it cannot reach a log line.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it to Qualys.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The `[qualys]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualysConfig {
    /// Base URL of the classic API, for example `https://qualysapi.qg2.apps.qualys.com`.
    #[serde(default)]
    pub api_url: String,
    /// Base URL of the gateway API, for example `https://gateway.qg2.apps.qualys.com`.
    #[serde(default)]
    pub gateway_url: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: Secret,
    /// A file whose first line is the password; used when `password` is empty.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Seconds to wait for a connection and for each read of a response; default 120.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Requests to the classic API in flight at once, across all jobs; default 2. Qualys
    /// subscriptions often allow few concurrent calls, and a 1960 refusal costs a retry.
    #[serde(default = "default_max_in_flight")]
    pub classic_max_in_flight: usize,
    /// Requests to the gateway API in flight at once, across all jobs; default 2.
    #[serde(default = "default_max_in_flight")]
    pub gateway_max_in_flight: usize,
}

fn default_max_in_flight() -> usize {
    2
}

fn default_timeout_secs() -> u64 {
    120
}

impl Default for QualysConfig {
    fn default() -> Self {
        QualysConfig {
            api_url: String::new(),
            gateway_url: String::new(),
            username: String::new(),
            password: Secret::default(),
            password_file: None,
            timeout_secs: default_timeout_secs(),
            classic_max_in_flight: default_max_in_flight(),
            gateway_max_in_flight: default_max_in_flight(),
        }
    }
}

/// One `[jobs.<id>]` section. Keys other than `active`, `start_time` and `schedule` are job
/// parameters.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct JobConfig {
    pub active: Option<bool>,
    /// UTC `YYYY-MM-DDTHH:MM:SSZ`; where delta jobs start when the store has no Start Time yet.
    pub start_time: Option<String>,
    /// How often `pcsync run --due` runs the job: `hourly`, `daily`, `weekly`, `<N>h`, `<N>d`
    /// or `manual`. See [`crate::schedule::Schedule::default_for`] for the defaults.
    pub schedule: Option<String>,
    #[serde(flatten)]
    pub parameters: BTreeMap<String, toml::Value>,
}

/// The `[store]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// sled's page cache in MiB. The cache bounds the store's memory; 64 MiB keeps a first
    /// import of millions of results fast without growing with the data.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u64,
    /// Days processed import rows and their page files are kept, for reprocessing; default 7.
    /// Unprocessed rows are kept until processed.
    #[serde(default = "default_keep_imports_days")]
    pub keep_imports_days: u64,
}

fn default_keep_imports_days() -> u64 {
    7
}

fn default_cache_mib() -> u64 {
    64
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_mib: default_cache_mib(),
            keep_imports_days: default_keep_imports_days(),
        }
    }
}

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub qualys: QualysConfig,
    #[serde(default)]
    pub jobs: BTreeMap<String, JobConfig>,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub retry: crate::jobs::retry::RetryConfig,
    #[serde(default)]
    pub limits: crate::runtime::limits::Limits,
    /// `[components.<job-id>]`: which drop-in components may load.
    #[serde(default)]
    pub components: BTreeMap<String, ComponentPolicy>,
}

/// The `[components.<job-id>]` section.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentPolicy {
    /// When not empty, a drop-in component whose sha256 (hex) is not listed is refused.
    #[serde(default)]
    pub allowed_sha256: Vec<String>,
}

impl Config {
    /// Reads and checks a configuration file, then applies `PCSYNC_QUALYS_PASSWORD`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|error| match error {
            ConfigError::Invalid(message) => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })?;
        config.resolve_password(std::env::var(PASSWORD_ENV).ok())?;
        Ok(config)
    }

    /// Parses configuration text and checks it; no environment is read.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|error| ConfigError::Invalid(error.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Applies the password override, else reads `password_file` when `password` is empty.
    pub fn resolve_password(&mut self, from_env: Option<String>) -> Result<(), ConfigError> {
        if let Some(password) = from_env.filter(|value| !value.is_empty()) {
            self.qualys.password = Secret::new(password);
            return Ok(());
        }
        if self.qualys.password.is_empty()
            && let Some(path) = &self.qualys.password_file
        {
            let text =
                std::fs::read_to_string(path).map_err(|source| ConfigError::PasswordFile {
                    path: path.clone(),
                    source,
                })?;
            let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
            self.qualys.password = Secret::new(line);
        }
        Ok(())
    }

    fn check(&self) -> Result<(), ConfigError> {
        for (id, job) in &self.jobs {
            id.parse::<JobId>()
                .map_err(|error| ConfigError::Invalid(format!("[jobs.{id}]: {error}")))?;
            if let Some(start_time) = &job.start_time {
                crate::time::parse_utc(start_time).map_err(|error| {
                    ConfigError::Invalid(format!("[jobs.{id}] start_time: {error}"))
                })?;
            }
            check_job_parameters(id, &job.parameters).map_err(ConfigError::Invalid)?;
            if let Some(schedule) = &job.schedule {
                Schedule::parse(schedule)
                    .map_err(|error| ConfigError::Invalid(format!("[jobs.{id}] {error}")))?;
            }
        }
        if let Some(pcrs) = self.pcrs_activated()
            && let Some(classic) = JobId::ALL.into_iter().find(|job| {
                job.pipeline() == Pipeline::Classic && self.job(*job).active == Some(true)
            })
        {
            return Err(ConfigError::Invalid(format!(
                "[jobs.{classic}] and [jobs.{pcrs}] are both active, but only one result pipeline can be: set active = false in one of them"
            )));
        }
        if self.qualys.timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "qualys.timeout_secs must be at least 1 (seconds)".into(),
            ));
        }
        for id in self.components.keys() {
            id.parse::<JobId>()
                .map_err(|error| ConfigError::Invalid(format!("[components.{id}]: {error}")))?;
        }
        for (name, url) in [
            ("api_url", &self.qualys.api_url),
            ("gateway_url", &self.qualys.gateway_url),
        ] {
            if !url.is_empty() {
                check_base_url(url)
                    .map_err(|message| ConfigError::Invalid(format!("qualys.{name}: {message}")))?;
            }
        }
        Ok(())
    }

    /// The section of one job; empty when the file has none.
    pub fn job(&self, job: JobId) -> JobConfig {
        self.jobs.get(job.as_str()).cloned().unwrap_or_default()
    }

    /// Returns how often a job runs: the section's `schedule`, else the job's default. A
    /// schedule that does not parse (rejected when the file is loaded) counts as the default.
    pub fn schedule(&self, job: JobId) -> Schedule {
        self.job(job)
            .schedule
            .and_then(|text| Schedule::parse(&text).ok())
            .unwrap_or_else(|| Schedule::default_for(job))
    }

    /// Whether a job is active: the file's `active`, else the job's default. At most one result
    /// pipeline is active, so setting `active = true` on any PCRS job makes PC Results and PC
    /// Comprehensive Results inactive unless their own sections set `active = true`, which
    /// [`Config::parse`] rejects.
    pub fn job_active(&self, job: JobId) -> bool {
        if let Some(active) = self.job(job).active {
            return active;
        }
        match job.pipeline() {
            Pipeline::Classic if self.pcrs_activated().is_some() => false,
            _ => job.active_by_default(),
        }
    }

    /// Returns the first PCRS job whose section sets `active = true`.
    pub fn pcrs_activated(&self) -> Option<JobId> {
        JobId::ALL
            .into_iter()
            .find(|job| job.pipeline() == Pipeline::Pcrs && self.job(*job).active == Some(true))
    }

    /// Checks that the credentials a job needs are set.
    pub fn check_credentials(&self) -> Result<(), ConfigError> {
        if self.qualys.username.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "qualys.username is empty; set it in pcsync.toml".into(),
            ));
        }
        if self.qualys.password.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "the Qualys password is empty; set {PASSWORD_ENV}, qualys.password or qualys.password_file"
            )));
        }
        Ok(())
    }

    /// Job parameters in the file that the job does not know, most likely typing mistakes.
    pub fn unknown_parameters(&self, job: JobId) -> Vec<String> {
        let known = job.parameters();
        self.job(job)
            .parameters
            .keys()
            .filter(|name| !known.contains(&name.as_str()))
            .cloned()
            .collect()
    }

    /// Checks a drop-in component's sha256 against `[components.<job-id>] allowed_sha256`.
    pub fn check_component_allowed(&self, job: JobId, sha256: &str) -> Result<(), String> {
        let Some(policy) = self.components.get(job.as_str()) else {
            return Ok(());
        };
        if policy.allowed_sha256.is_empty()
            || policy
                .allowed_sha256
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(sha256))
        {
            return Ok(());
        }
        Err(format!(
            "component for job {job} with sha256 {sha256} is not in [components.{job}] allowed_sha256; add the hash there to allow it"
        ))
    }

    /// A job parameter as text, as components receive it.
    pub fn job_parameter(&self, job: JobId, name: &str) -> Option<String> {
        let value = self.jobs.get(job.as_str())?.parameters.get(name)?;
        Some(match value {
            toml::Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    }
}

/// Checks the job parameters whose values the host can judge without the component, so that a
/// weekly job does not fail a week after the file was written.
fn check_job_parameters(
    job: &str,
    parameters: &BTreeMap<String, toml::Value>,
) -> Result<(), String> {
    for (name, value) in parameters {
        let (low, high, unit) = match name.as_str() {
            "start_time_overlap_minutes" => (0, 1440, "whole minutes"),
            "truncation_limit" => (1, 1_000_000, "a whole number of records"),
            "max_url_length" => (256, 1_000_000, "a whole number of characters"),
            _ => continue,
        };
        let number = match value {
            toml::Value::Integer(number) => Some(*number),
            // A blank value means the job's default.
            toml::Value::String(text) if text.trim().is_empty() => continue,
            toml::Value::String(text) => text.trim().parse::<i64>().ok(),
            _ => None,
        };
        if !number.is_some_and(|number| (low..=high).contains(&number)) {
            return Err(format!(
                "[jobs.{job}] {name} = {value} is invalid: use {unit} from {low} to {high}"
            ));
        }
    }
    Ok(())
}

fn check_base_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|error| format!("`{text}` is not a URL: {error}"))?;
    // Checked first, and the URL left out of the message, so that a credential written into
    // the URL is never printed. Components receive the base URL's length, and must never see
    // a credential.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "the URL has a user name or password in it; remove them and set qualys.username and qualys.password (or password_file)"
                .into(),
        );
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{text}` must start with https:// (or http:// for a simulator on this machine)"
        ));
    }
    if url.host_str().is_none() {
        return Err(format!("`{text}` has no host name"));
    }
    if url.query().is_some() || url.path() != "/" {
        return Err(format!(
            "`{text}` must be a base URL without path or query, for example https://qualysapi.qg2.apps.qualys.com"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_hides_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }

    #[test]
    fn base_url_credentials_rejected_unprinted() {
        let error =
            Config::parse("[qualys]\napi_url = \"https://alice:s3cret@qualysapi.example.com\"\n")
                .unwrap_err()
                .to_string();
        assert!(error.contains("qualys.api_url"), "{error}");
        assert!(error.contains("user name or password"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn pcrs_activation_deactivates_classic_results() {
        let config = Config::parse("[jobs.pcrs-test-results]\nactive = true\n").unwrap();
        assert!(config.job_active(JobId::PcrsTestResults));
        assert!(!config.job_active(JobId::PcResults));
        assert!(!config.job_active(JobId::PcComprehensiveResults));
        assert!(config.job_active(JobId::PcPolicies));
        assert!(!config.job_active(JobId::PcrsPolicyHosts));

        let error = Config::parse(
            "[jobs.pcrs-test-results]\nactive = true\n[jobs.pc-results]\nactive = true\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("[jobs.pc-results]"), "{error}");
        assert!(error.contains("[jobs.pcrs-test-results]"), "{error}");
    }

    #[test]
    fn job_parameter_values_checked_on_load() {
        for (line, name) in [
            (
                "start_time_overlap_minutes = -600",
                "start_time_overlap_minutes = -600",
            ),
            (
                "start_time_overlap_minutes = \"abc\"",
                "start_time_overlap_minutes = \"abc\"",
            ),
            ("max_url_length = \"abc\"", "max_url_length = \"abc\""),
            ("max_url_length = 100", "max_url_length = 100"),
            ("truncation_limit = 0", "truncation_limit = 0"),
            ("truncation_limit = 1.5", "truncation_limit = 1.5"),
        ] {
            let error = Config::parse(&format!("[jobs.pc-comprehensive-results]\n{line}\n"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(name), "{error}");
            assert!(error.contains("[jobs.pc-comprehensive-results]"), "{error}");
        }
        for line in [
            "start_time_overlap_minutes = 0",
            "max_url_length = \" 3000 \"",
            "max_url_length = \"\"",
            "truncation_limit = 500",
        ] {
            Config::parse(&format!("[jobs.pc-comprehensive-results]\n{line}\n")).unwrap();
        }
    }

    #[test]
    fn job_parameters_are_flat_keys() {
        let config = Config::parse(
            r#"
            [qualys]
            api_url = "https://qualysapi.example.com"
            username = "u"
            password = "p"

            [jobs.pc-policies]
            active = true
            api_version = "4.0"
            truncation_limit = 500
            "#,
        )
        .unwrap();
        assert_eq!(
            config.job_parameter(JobId::PcPolicies, "api_version"),
            Some("4.0".into())
        );
        assert_eq!(
            config.job_parameter(JobId::PcPolicies, "truncation_limit"),
            Some("500".into())
        );
        assert!(config.job_active(JobId::PcPolicies));
        assert!(!config.job_active(JobId::PcrsTestResults));
    }

    #[test]
    fn unknown_job_section_is_rejected() {
        let error = Config::parse("[jobs.pc-polices]\nactive = true\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("pc-polices"), "{error}");
    }

    #[test]
    fn base_url_with_path_is_rejected() {
        let error = Config::parse("[qualys]\napi_url = \"https://q.example.com/api/2.0\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("api_url"), "{error}");
    }

    #[test]
    fn environment_password_wins() {
        let mut config = Config::parse("[qualys]\npassword = \"file\"\n").unwrap();
        config.resolve_password(Some("env".into())).unwrap();
        assert_eq!(config.qualys.password.expose(), "env");
    }
}
