//! `qualys-sim`: runs the Qualys simulator until Ctrl-C.

use anyhow::Context as _;
use clap::Parser;
use qualys_sim::{SimConfig, Simulator};
use tracing_subscriber::EnvFilter;

/// Serve a simulated Qualys Policy Compliance API on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "qualys-sim", version)]
struct Args {
    /// Number of generated policies.
    #[arg(long, default_value_t = 25)]
    policies: usize,
    /// Number of generated controls, which the policies share.
    #[arg(long, default_value_t = 40)]
    controls: usize,
    /// Seed of the generated data set. The same seed gives the same responses.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Maximum number of policies in one policy list response.
    #[arg(long, default_value_t = 1000)]
    page_size: usize,
    /// TCP port on 127.0.0.1, or 0 for any free port.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Login accepted with HTTP Basic authentication.
    #[arg(long, default_value = "pcsync")]
    username: String,
    /// Password accepted with HTTP Basic authentication.
    #[arg(long, default_value = "sim-password")]
    password: String,
    /// Number of generated hosts. Each active policy is evaluated on about 7 in 8 of them.
    #[arg(long, default_value_t = 12)]
    hosts: usize,
    /// Number of controls in every generated policy (default: 1 to 5 each).
    #[arg(long)]
    controls_per_policy: Option<usize>,
    /// Put a character that XML 1.0 does not allow into every Nth posture's evidence.
    #[arg(long)]
    invalid_char_every: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let args = Args::parse();
    let simulator = Simulator::start(SimConfig {
        policies: args.policies,
        controls: args.controls,
        seed: args.seed,
        page_size: args.page_size,
        username: args.username,
        password: args.password,
        port: args.port,
        hosts: args.hosts,
        controls_per_policy: args.controls_per_policy,
        invalid_char_every: args.invalid_char_every,
    })?;
    println!("qualys-sim listening on {}", simulator.base_url());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the signal runtime failed")?;
    runtime
        .block_on(tokio::signal::ctrl_c())
        .context("waiting for Ctrl-C failed")?;
    simulator.shutdown();
    Ok(())
}
