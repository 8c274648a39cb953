//! The `dnslb` command: `serve` and `check`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dnslb::config::{self, Config};
use dnslb::snapshot::Snapshot;
use dnslb::wire::answer::Transport;
use dnslb::wire::{DropReason, Rcode};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// A high-performance authoritative DNS load balancer.
#[derive(Debug, Parser)]
#[command(name = "dnslb", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve DNS. Without --config, serves the embedded default config
    /// (dnslb.example.toml and its example.com zone) on 127.0.0.1:5353 and [::1]:5353.
    Serve {
        /// The config file (TOML).
        #[arg(long, short, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Validate a config file and every zone it names; exit 0 if all is well,
    /// 1 with each error (file, line, key or record) otherwise.
    Check {
        /// The config file (TOML).
        #[arg(value_name = "PATH")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command {
        Command::Serve { config } => serve(config),
        Command::Check { config } => check(config),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("dnslb: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_errors(errors: &config::LoadErrors) {
    for error in &errors.0 {
        eprintln!("error: {error}");
    }
}

fn load(path: Option<PathBuf>) -> Result<Config, config::LoadErrors> {
    match path {
        Some(path) => config::load(&path),
        None => config::embedded_default(),
    }
}

fn check(path: PathBuf) -> anyhow::Result<ExitCode> {
    let config = match config::load(&path) {
        Ok(config) => config,
        Err(errors) => {
            print_errors(&errors);
            return Ok(ExitCode::FAILURE);
        }
    };
    match Snapshot::build(&config, 0) {
        Ok((snapshot, warnings)) => {
            // Exiting right after: freeing a large snapshot piece by piece
            // would be a tenth of the run.
            let snapshot = std::mem::ManuallyDrop::new(snapshot);
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            let summary = snapshot.summary;
            println!(
                "{}: ok: {} zones, {} services, {} records, {} names, built in {:.1?}",
                path.display(),
                summary.zones,
                summary.services,
                summary.records,
                summary.names,
                summary.build_time
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            print_errors(&errors);
            Ok(ExitCode::FAILURE)
        }
    }
}

fn serve(path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = match load(path) {
        Ok(config) => config,
        Err(errors) => {
            print_errors(&errors);
            return Ok(ExitCode::FAILURE);
        }
    };
    // Block the signals before any thread starts, so they reach the iterator.
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("installing signal handlers")?;
    let running = match dnslb::runtime::start(&config) {
        Ok(running) => running,
        Err(dnslb::runtime::StartError::Config(errors)) => {
            print_errors(&errors);
            return Ok(ExitCode::FAILURE);
        }
        Err(error) => return Err(error.into()),
    };
    for warning in &running.warnings {
        tracing::warn!("{warning}");
    }
    for signal in signals.forever() {
        if signal == SIGHUP {
            // Reload logs its outcome (each error with file, line and key);
            // on error the running config stays.
            let _ = running.control.reload();
            continue;
        }
        tracing::info!(signal, "shutting down");
        break;
    }
    let stats = running.stats.clone();
    running.shutdown();
    for (transport, label) in [(Transport::Udp, "udp"), (Transport::Tcp, "tcp")] {
        let total = stats.total(transport);
        let rcodes: Vec<String> = Rcode::ALL
            .iter()
            .map(|rcode| format!("{}={}", rcode.name(), total.replies_with(*rcode)))
            .collect();
        let drops: Vec<String> = DropReason::ALL
            .iter()
            .map(|reason| format!("{}={}", reason.name(), total.drops_for(*reason)))
            .collect();
        tracing::info!(
            transport = label,
            received = total.received,
            truncated = total.truncated,
            replies = %rcodes.join(" "),
            drops = %drops.join(" "),
            "counters"
        );
    }
    Ok(ExitCode::SUCCESS)
}
