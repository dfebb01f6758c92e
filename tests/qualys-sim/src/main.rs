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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    println!("commands on standard input: advance DAYS [FRACTION], clock");
    let simulator = std::sync::Arc::new(simulator);
    let commands = std::sync::Arc::clone(&simulator);
    std::thread::spawn(move || read_commands(&commands));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the signal runtime failed")?;
    runtime
        .block_on(tokio::signal::ctrl_c())
        .context("waiting for Ctrl-C failed")?;
    // The command thread may still hold the simulator; the process ends here either way.
    drop(simulator);
    Ok(())
}

/// Reads commands from standard input until it closes: `advance DAYS [FRACTION]` moves the
/// clock and re-evaluates every posture, flipping FRACTION of them (default 0.05), and `clock`
/// prints the simulated time.
fn read_commands(simulator: &Simulator) {
    for line in std::io::stdin().lines() {
        let Ok(line) = line else { return };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["clock"] => println!("clock {}", simulator.clock()),
            ["advance", days, rest @ ..] if rest.len() <= 1 => {
                let days = days.parse::<u32>();
                let fraction = rest.first().map_or(Ok(0.05), |text| text.parse::<f64>());
                match (days, fraction) {
                    (Ok(days), Ok(fraction)) => {
                        let changed = simulator.advance_days(days, fraction);
                        println!(
                            "clock {}; {} postures changed status",
                            simulator.clock(),
                            changed.len()
                        );
                    }
                    _ => println!(
                        "invalid command {line:?}: use advance DAYS [FRACTION], for example advance 7 0.05"
                    ),
                }
            }
            _ => println!("unknown command {line:?}: use advance DAYS [FRACTION] or clock"),
        }
    }
}
