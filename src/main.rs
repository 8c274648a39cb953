//! The `dnslb` command: `serve` and `check`, with the logging flags
//! (`--log-level`, `--log-format`) and `--version` (with the git revision
//! `build.rs` records).
//!
//! Under systemd (`Type=notify`, see `packaging/dnslb.service`) `serve`
//! reports `READY=1` once every socket is bound and the first snapshot is
//! published, `RELOADING=1` and `READY=1` around each SIGHUP reload, and
//! `STOPPING=1` on shutdown.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dnslb::config::{self, Config};
use dnslb::notify::Notifier;
use dnslb::wire::answer::Transport;
use dnslb::wire::{DropReason, Rcode};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The version `--version` prints: the package's and the git revision it
/// was built from (`-dirty` with uncommitted changes, `unknown` without git).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("DNSLB_GIT_REVISION"),
    ")"
);

/// A high-performance authoritative DNS load balancer.
#[derive(Debug, Parser)]
#[command(name = "dnslb", version = VERSION, about)]
struct Cli {
    /// Log at this level and above: error, warn, info, debug or trace.
    /// Without it, RUST_LOG applies (a tracing filter such as
    /// `dnslb=debug`), and without that, info.
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<LogLevel>,
    /// Log lines as human-readable text, or as one JSON object per line
    /// (fields at the top level) for a log pipeline.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    fn filter(self) -> tracing_subscriber::filter::LevelFilter {
        use tracing_subscriber::filter::LevelFilter;
        match self {
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
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

/// Logs go to standard error (the journal, under systemd): `--log-level`,
/// else `RUST_LOG`, else info; as text or JSON lines.
fn init_logging(level: Option<LogLevel>, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(level) => EnvFilter::default().add_directive(level.filter().into()),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_level, cli.log_format);
    let result = match cli.command {
        Command::Serve { config } => serve(config),
        Command::Check { config } => check(config),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `check`'s report: one error per line on standard error, for a person.
fn print_errors(errors: &config::LoadErrors) {
    for error in &errors.0 {
        eprintln!("error: {error}");
    }
}

/// `serve`'s report: one log event per error, with its file, line and key
/// as fields.
fn log_errors(errors: &config::LoadErrors) {
    for error in &errors.0 {
        tracing::error!(
            file = %error.file.display(),
            line = error.line,
            key = %error.key,
            "{error}"
        );
    }
}

fn load(path: Option<PathBuf>) -> Result<Config, config::LoadErrors> {
    match path {
        Some(path) => config::load(&path),
        None => config::embedded_default(),
    }
}

/// Sends one message to the service manager, when there is one; a failure
/// is logged, never fatal.
fn notify(notifier: &Option<Notifier>, send: impl FnOnce(&Notifier) -> std::io::Result<()>) {
    if let Some(notifier) = notifier {
        if let Err(error) = send(notifier) {
            tracing::warn!(%error, "could not notify the service manager");
        }
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
    match dnslb::control::build::snapshot(&config, 0) {
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
            log_errors(&errors);
            return Ok(ExitCode::FAILURE);
        }
    };
    // Opened before the switch of user; the service manager's socket takes
    // messages from any user.
    let notifier = Notifier::from_environment().context("NOTIFY_SOCKET")?;
    // Block the signals before any thread starts, so they reach the iterator.
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("installing signal handlers")?;
    let running = match dnslb::runtime::start(&config) {
        Ok(running) => running,
        Err(dnslb::runtime::StartError::Config(errors)) => {
            log_errors(&errors);
            return Ok(ExitCode::FAILURE);
        }
        Err(error) => return Err(error.into()),
    };
    // The control plane keeps its own copy; this one's memory is for what
    // comes next (the first zone transfers).
    drop(config);
    for warning in &running.warnings {
        tracing::warn!("{warning}");
    }
    let status = {
        let snapshot = running.snapshot.load();
        let summary = &snapshot.summary;
        format!(
            "serving {} zones, {} services on {} addresses",
            summary.zones,
            summary.services,
            running.addresses.len()
        )
    };
    notify(&notifier, |notifier| notifier.ready(&status));
    for signal in signals.forever() {
        if signal == SIGHUP {
            notify(&notifier, Notifier::reloading);
            // Reload logs its outcome (each error with file, line and key);
            // on error the running config stays, and so does readiness.
            let status = match running.control.reload() {
                Ok(report) => format!(
                    "serving {} zones, {} services (generation {})",
                    report.zones, report.services, report.generation
                ),
                Err(_) => format!("{status} (last reload failed: see the log)"),
            };
            notify(&notifier, |notifier| notifier.ready(&status));
            continue;
        }
        tracing::info!(signal, "shutting down");
        break;
    }
    notify(&notifier, Notifier::stopping);
    let stats = running.stats.clone();
    running.shutdown();
    let mut totals = vec![("udp", stats.total(Transport::Udp))];
    if !stats.xdp_queues().is_empty() {
        totals.push(("xdp", stats.xdp_total()));
    }
    totals.push(("tcp", stats.total(Transport::Tcp)));
    for (label, total) in totals {
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
