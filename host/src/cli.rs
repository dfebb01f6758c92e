//! The `pcsync` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::Write as _;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::store::{RefreshCounts, RunRecord, RunState, Trigger};
use crate::{Config, JobId, Pcsync};

/// Writes a line to standard output, ignoring a closed pipe (`pcsync runs list | head -1`)
/// instead of panicking.
macro_rules! out {
    ($($argument:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($argument)*);
    }};
}
pub(crate) use out;

/// Qualys Policy Compliance connector.
#[derive(Debug, Parser)]
#[command(name = "pcsync", version, about)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        default_value = "pcsync.toml",
        env = "PCSYNC_CONFIG"
    )]
    config: PathBuf,

    /// Data directory: the store, page attachments and compiled components.
    #[arg(
        long,
        global = true,
        default_value = "pcsync-data",
        env = "PCSYNC_DATA_DIR"
    )]
    data_dir: PathBuf,

    /// Log filter, for example `info` or `pcsync=debug`.
    #[arg(long, global = true, env = "PCSYNC_LOG")]
    log: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Starts a Qualys simulator on 127.0.0.1, runs the classic chain against it twice, a
    /// simulated week apart, and prints the counts. It uses its own configuration and a
    /// temporary data directory, so --config and --data-dir do not apply.
    Demo {
        /// Policies in the simulated subscription.
        #[arg(long, default_value_t = 250)]
        policies: usize,
        /// Policies per simulated page, so the run follows truncation warnings.
        #[arg(long, default_value_t = 100)]
        page_size: usize,
        /// Runs PC Comprehensive Results after the second chain and shows its counts.
        #[arg(long)]
        comprehensive: bool,
    },
    /// Runs one job now (resuming its unfinished run, if a crash left one), or with `--due`
    /// every active job whose schedule has come, in chain order.
    Run {
        /// Job id, for example `pc-policies`.
        #[arg(required_unless_present = "due", conflicts_with = "due")]
        job: Option<JobId>,
        /// Runs the active jobs that are due by their `schedule`, for cron or a systemd timer.
        /// A failed run skips the jobs after it in the chain.
        #[arg(long)]
        due: bool,
    },
    /// Lists the nine jobs with their names, schedules, whether they are active and when
    /// each is due.
    Jobs,
    /// Shows runs.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Shows policies.
    Policies {
        #[command(subcommand)]
        command: PoliciesCommand,
    },
    /// Shows test results.
    Results {
        #[command(subcommand)]
        command: ResultsCommand,
    },
    /// Shows hosts.
    Hosts {
        #[command(subcommand)]
        command: HostsCommand,
    },
    /// Shows controls.
    Controls {
        #[command(subcommand)]
        command: ControlsCommand,
    },
    /// Installs, lists and rolls back drop-in job components.
    Components {
        #[command(subcommand)]
        command: ComponentsCommand,
    },
    /// Works with stored pages (import rows).
    Imports {
        #[command(subcommand)]
        command: ImportsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ComponentsCommand {
    /// Checks a component file (contract version, describe, pinning, a smoke test on the job's
    /// newest stored page) and installs it for its job, keeping the file it replaces.
    Install { file: PathBuf },
    /// Restores the component the last install replaced.
    Rollback { job: JobId },
    /// Shows which component each job uses.
    List,
}

#[derive(Debug, Subcommand)]
enum ImportsCommand {
    /// Runs the job's current component over stored pages without calling Qualys.
    Reprocess {
        job: JobId,
        /// The run whose pages to process; default the newest run with stored pages.
        #[arg(long = "run")]
        run_id: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// Lists runs, newest first.
    List {
        #[arg(long)]
        job: Option<JobId>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Shows one run with its pages.
    Show { id: u64 },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PoliciesCommand {
    /// Lists stored policies.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Shows one policy with its sections and controls, each with its criticality in this
    /// policy.
    Show {
        id: u64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Stops the Detail and Results jobs from importing this policy.
    DisableImport { id: u64 },
    /// Lets the Detail and Results jobs import this policy again.
    EnableImport { id: u64 },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ResultsCommand {
    /// Lists results, in key order.
    List {
        #[arg(long)]
        policy: Option<u64>,
        #[arg(long)]
        host: Option<u64>,
        /// Passed, Failed or Error.
        #[arg(long)]
        status: Option<String>,
        /// open or closed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Shows one result with its evidence and history. KEY is
    /// policy:host:control:technology:instance, as `results list` prints it.
    Show { key: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum HostsCommand {
    /// Lists hosts.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Output formats of lists that can be long.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ListFormat {
    Table,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Jsonl,
    Csv,
}

#[derive(Debug, Subcommand)]
enum ControlsCommand {
    /// Lists stored controls.
    List {
        /// Only the controls of this policy, with their criticality in it.
        #[arg(long)]
        policy: Option<u64>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
}

/// Runs the command line and returns the process exit code: 0 on success, 1 when a run ended
/// in error or a command failed, 2 for invalid arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(
        cli.log.as_deref(),
        matches!(cli.command, Command::Demo { .. }),
    );
    match execute(cli) {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {}", error_chain(&error));
            ExitCode::from(1)
        }
    }
}

/// An error with its causes, leaving out a cause whose text the message already contains.
fn error_chain(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

/// Standard error for logs. A closed pipe must not stop a run, so write errors are dropped.
struct LossyStderr;

impl std::io::Write for LossyStderr {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buffer);
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

fn init_logging(filter: Option<&str>, quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_new(filter.unwrap_or(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LossyStderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo {
            policies,
            page_size,
            comprehensive,
        } => crate::demo::run(policies, page_size, comprehensive),
        Command::Run { job: Some(job), .. } => {
            let pcsync = open(&cli.config, &cli.data_dir)?;
            let run = pcsync.run_job(job, Trigger::Manual)?;
            print_run(&run, pcsync.store().refresh_counts_of_run(run.id)?.as_ref());
            Ok(exit_code(&run))
        }
        Command::Run { job: None, .. } => {
            let pcsync = open(&cli.config, &cli.data_dir)?;
            run_due(&pcsync)
        }
        Command::Jobs => {
            let config = load_config(&cli.config)?;
            // A data directory that does not exist yet is not created just to list the jobs.
            let pcsync = if cli.data_dir.exists() {
                Some(Pcsync::open(config.clone(), &cli.data_dir)?)
            } else {
                None
            };
            crate::cli_views::print_jobs(&config, pcsync.as_ref(), &cli.data_dir)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs { command } => {
            let pcsync = open(&cli.config, &cli.data_dir)?;
            match command {
                RunsCommand::List { job, format } => {
                    let runs = pcsync.store().runs(job)?;
                    let mut views = Vec::with_capacity(runs.len());
                    for run in &runs {
                        let refresh = pcsync.store().refresh_counts_of_run(run.id)?;
                        views.push(RunView { run, refresh });
                    }
                    match format {
                        Format::Json => print_json(&views)?,
                        Format::Table => {
                            for view in &views {
                                print_run(view.run, view.refresh.as_ref());
                            }
                        }
                    }
                }
                RunsCommand::Show { id } => {
                    let run = pcsync.store().run(id)?.with_context(|| {
                        format!("run {id} not found; `pcsync runs list` lists runs")
                    })?;
                    print_run(&run, pcsync.store().refresh_counts_of_run(id)?.as_ref());
                    let job: JobId = run.job.parse()?;
                    for page in pcsync.store().imports_of_run(job, id)? {
                        out!(
                            "  page {:>4}  {:?}  HTTP {}  {} bytes  new {} updated {} unchanged {}{}",
                            page.page,
                            page.state,
                            page.status,
                            page.body_bytes,
                            page.counts.new,
                            page.counts.updated,
                            page.counts.unchanged,
                            page.error
                                .map(|error| format!("  error: {error}"))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Components { command } => {
            let pcsync = open(&cli.config, &cli.data_dir)?;
            match command {
                ComponentsCommand::Install { file } => {
                    let installed = pcsync.install_component(&file)?;
                    out!(
                        "installed component {} (version {}) for job {} at {}",
                        installed.sha256,
                        installed.component_version,
                        installed.job,
                        installed.path.display()
                    );
                    match installed.smoke_test {
                        Some(counts) => out!(
                            "smoke test on the newest stored page: new {}  updated {}  unchanged {}",
                            counts.new,
                            counts.updated,
                            counts.unchanged
                        ),
                        None => out!("no stored page yet: smoke test skipped"),
                    }
                    if let Some(previous) = installed.previous {
                        out!("previous component kept as {}", previous.display());
                    }
                }
                ComponentsCommand::Rollback { job } => {
                    let sha256 = pcsync.rollback_component(job)?;
                    out!("job {job} uses component {sha256} again");
                }
                ComponentsCommand::List => {
                    for info in pcsync.components() {
                        let source = match &info.source {
                            None => "none".to_string(),
                            Some(crate::runtime::registry::Source::Embedded) => "embedded".into(),
                            Some(crate::runtime::registry::Source::DropIn(path)) => {
                                path.display().to_string()
                            }
                        };
                        out!(
                            "{:<34} {:<10} {}  {}{}",
                            info.job.as_str(),
                            info.component_version.as_deref().unwrap_or("-"),
                            info.sha256.as_deref().unwrap_or("-"),
                            source,
                            info.error
                                .map(|error| format!("  error: {error}"))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Imports {
            command: ImportsCommand::Reprocess { job, run_id },
        } => {
            let pcsync = open(&cli.config, &cli.data_dir)?;
            let (run, source_run) = pcsync.reprocess(job, run_id)?;
            out!("reprocessed the stored pages of run {source_run} without calling Qualys");
            print_run(&run, None);
            Ok(exit_code(&run))
        }
        Command::Policies { command } => {
            let pcsync = open(&cli.config, &cli.data_dir)?;
            crate::cli_views::policies(&pcsync, command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Results { command } => {
            let pcsync = open(&cli.config, &cli.data_dir)?;
            crate::cli_views::results(&pcsync, command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Hosts {
            command: HostsCommand::List { format },
        } => {
            let pcsync = open(&cli.config, &cli.data_dir)?;
            crate::cli_views::hosts(&pcsync, format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Controls {
            command: ControlsCommand::List { policy, format },
        } => {
            let pcsync = open(&cli.config, &cli.data_dir)?;
            crate::cli_views::controls(&pcsync, policy, format)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_config(path: &std::path::Path) -> anyhow::Result<Config> {
    if !path.exists() && path == std::path::Path::new("pcsync.toml") {
        anyhow::bail!(
            "configuration file pcsync.toml not found in the current directory; create it (see README.md) or pass --config FILE"
        );
    }
    Ok(Config::load(path)?)
}

fn open(config: &std::path::Path, data_dir: &std::path::Path) -> anyhow::Result<Pcsync> {
    let config = load_config(config)?;
    Pcsync::open(config, data_dir)
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    out!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A run as `runs list --format json` prints it: the run record, plus the refresh counts of a
/// PC Comprehensive Results run.
#[derive(serde::Serialize)]
struct RunView<'a> {
    #[serde(flatten)]
    run: &'a RunRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh: Option<RefreshCounts>,
}

/// Prints one line per run: id, job, state, pages and counts, then the refresh counts of a PC
/// Comprehensive Results run, its warnings and its error.
pub fn print_run(run: &RunRecord, refresh: Option<&RefreshCounts>) {
    out!(
        "run {}  {}  {}  pages {}  new {}  updated {}  unchanged {}  inactive {}  skipped {}  errors {}{}{}{}",
        run.id,
        if run.trigger == Trigger::Reprocess {
            format!("{} (reprocess)", run.job)
        } else {
            run.job.clone()
        },
        run.state.as_str(),
        run.pages_fetched,
        run.counts.new,
        run.counts.updated,
        run.counts.unchanged,
        run.counts.inactive,
        run.counts.skipped,
        run.counts.errors,
        refresh
            .map(|counts| format!(
                "\n  not Passed: refreshed {}  changed {}  not returned {}",
                counts.refreshed, counts.changed, counts.not_returned
            ))
            .unwrap_or_default(),
        run.warnings
            .iter()
            .map(|warning| format!("\n  warning: {warning}"))
            .collect::<String>(),
        run.error
            .as_ref()
            .map(|error| format!("\n  error: {error}"))
            .unwrap_or_default()
    );
}

/// Runs every due job in chain order, and stops at the first run that fails, because the
/// jobs after it would work from data it did not bring.
fn run_due(pcsync: &Pcsync) -> anyhow::Result<ExitCode> {
    let due = pcsync.due_jobs(crate::time::now())?;
    if due.is_empty() {
        out!("no job is due; `pcsync jobs` shows when each one is");
        return Ok(ExitCode::SUCCESS);
    }
    for (job, reason) in due {
        out!("{job} is due: {}", crate::cli_views::due_text(&reason));
        let run = pcsync.run_job(job, Trigger::Schedule)?;
        print_run(&run, pcsync.store().refresh_counts_of_run(run.id)?.as_ref());
        if run.state != RunState::Complete {
            out!(
                "run {} of {job} did not complete; the jobs after it wait for the next --due",
                run.id
            );
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn exit_code(run: &RunRecord) -> ExitCode {
    if run.state == RunState::Complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
