//! The `pcsync` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::store::{RunRecord, RunState, Trigger};
use crate::{Config, JobId, Pcsync};

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
    /// Starts a Qualys simulator on 127.0.0.1, runs the PC Policies job against it in a
    /// temporary data directory and prints the counts.
    Demo {
        /// Policies in the simulated subscription.
        #[arg(long, default_value_t = 250)]
        policies: usize,
        /// Policies per simulated page, so the run follows truncation warnings.
        #[arg(long, default_value_t = 100)]
        page_size: usize,
    },
    /// Runs one job now (resuming its unfinished run, if a crash left one).
    Run {
        /// Job id, for example `pc-policies`.
        job: JobId,
    },
    /// Lists the nine jobs with their names and whether they are active.
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
enum PoliciesCommand {
    /// Lists stored policies.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
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
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(filter: Option<&str>, quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_new(filter.unwrap_or(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo {
            policies,
            page_size,
        } => crate::demo::run(policies, page_size),
        Command::Run { job } => {
            let pcsync = open(&cli.config, &cli.data_dir)?;
            let run = pcsync.run_job(job, Trigger::Manual)?;
            print_run(&run);
            Ok(exit_code(&run))
        }
        Command::Jobs => {
            let config = load_config(&cli.config)?;
            println!("{:<34} {:<52} active", "job", "name");
            for job in JobId::ALL {
                println!(
                    "{:<34} {:<52} {}",
                    job.as_str(),
                    job.display_name(),
                    config.job_active(job)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs { command } => {
            let pcsync = open(&cli.config, &cli.data_dir)?;
            match command {
                RunsCommand::List { job, format } => {
                    let runs = pcsync.store().runs(job)?;
                    match format {
                        Format::Json => print_json(&runs)?,
                        Format::Table => {
                            for run in &runs {
                                print_run(run);
                            }
                        }
                    }
                }
                RunsCommand::Show { id } => {
                    let run = pcsync.store().run(id)?.with_context(|| {
                        format!("run {id} not found; `pcsync runs list` lists runs")
                    })?;
                    print_run(&run);
                    let job: JobId = run.job.parse()?;
                    for page in pcsync.store().imports_of_run(job, id)? {
                        println!(
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
        Command::Policies {
            command: PoliciesCommand::List { format },
        } => {
            let pcsync = open(&cli.config, &cli.data_dir)?;
            let policies = pcsync.store().policies()?;
            match format {
                Format::Json => print_json(&policies)?,
                Format::Table => {
                    println!(
                        "{:>10}  {:<8}  {:<8}  {:<20}  title",
                        "id", "status", "present", "last evaluated"
                    );
                    for row in policies {
                        println!(
                            "{:>10}  {:<8}  {:<8}  {:<20}  {}",
                            row.data.id,
                            row.data.status,
                            row.present,
                            row.data.last_evaluated.as_deref().unwrap_or("never"),
                            row.data.title
                        );
                    }
                }
            }
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

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// One line per run: id, job, state, pages, counts and the error, if any.
pub fn print_run(run: &RunRecord) {
    println!(
        "run {}  {}  {}  pages {}  new {}  updated {}  unchanged {}  inactive {}  errors {}{}",
        run.id,
        run.job,
        run.state.as_str(),
        run.pages_fetched,
        run.counts.new,
        run.counts.updated,
        run.counts.unchanged,
        run.counts.inactive,
        run.counts.errors,
        run.error
            .as_ref()
            .map(|error| format!("\n  error: {error}"))
            .unwrap_or_default()
    );
}

fn exit_code(run: &RunRecord) -> ExitCode {
    if run.state == RunState::Complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
