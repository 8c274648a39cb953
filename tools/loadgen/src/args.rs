//! The command line: `run`, `reflect` and `plot` with their flags (the names are a
//! contract: scripts use them), and the parsers for durations and CPU lists.
//!
//! Invariants: every value that reaches the generator has been range-checked
//! here or in [`RunArgs::check`], so a bad flag is a clear error before any
//! socket is opened.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};

/// dnslb's load generator and UDP reflector.
#[derive(Debug, Parser)]
#[command(name = "dnslb-loadgen", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send DNS queries to a server and report answers, losses and latency.
    Run(RunArgs),
    /// The ceiling: echo every datagram back with the QR bit set, no parsing.
    Reflect(ReflectArgs),
    /// Draw saved latency distributions (.hgrm) as one SVG, one line per run.
    Plot(PlotArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The server, ADDR:PORT (a host name is resolved; IPv6 as [ADDR]:PORT).
    #[arg(long, value_name = "ADDR:PORT")]
    pub server: String,

    /// dnsperf-format query file: `name TYPE` per line, `#`/`;` comments; cycled.
    #[arg(long, value_name = "FILE")]
    pub queries: Option<PathBuf>,

    /// The one query name, without --queries.
    #[arg(long, default_value = "www.example.com", conflicts_with = "queries")]
    pub qname: String,

    /// The one query type, without --queries.
    #[arg(long, default_value = "A", conflicts_with = "queries")]
    pub qtype: String,

    /// How long to send (such as 10s, 500ms, 1m; a bare number is seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Closed loop: queries kept outstanding (over all sockets and threads).
    #[arg(long, default_value_t = 128)]
    pub window: usize,

    /// Source sockets (UDP) or connections (TCP), each its own 4-tuple.
    #[arg(long, default_value_t = 4)]
    pub sockets: usize,

    /// Most queries per sendmmsg (and per TCP write).
    #[arg(long, default_value_t = 32)]
    pub batch: usize,

    /// Generator threads; the sockets, window and rate are split among them.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,

    /// CPUs to pin the threads to, in turn (such as 0, 0,2 or 0-3). Default: the
    /// CPUs this process may use, in order.
    #[arg(long, value_name = "LIST", value_parser = parse_cpu_list)]
    pub cpu: Option<CpuList>,

    /// Open loop: send this many queries per second on a schedule, and measure
    /// latency from each query's scheduled time.
    #[arg(long, value_name = "QPS")]
    pub rate: Option<u64>,

    /// A query unanswered this long is counted lost.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Send every UDP query as its own message instead of merging runs of
    /// equal-sized queries into one segmented (UDP GSO) send.
    #[arg(long)]
    pub no_gso: bool,

    /// Queries over TCP (RFC 7766 framing, pipelined).
    #[arg(long)]
    pub tcp: bool,

    /// Send and receive raw frames through AF_XDP on this interface (the one
    /// towards the server; needs root): pre-built query frames, one source port
    /// per --sockets from 32768 up, replies taken off the receive ring by an
    /// XDP filter that leaves all other traffic to the kernel. One thread.
    #[arg(long, value_name = "IFACE", conflicts_with = "tcp")]
    pub xdp: Option<String>,

    /// With --xdp: the source address (default: the interface's first address
    /// of the server's family).
    #[arg(long, value_name = "ADDR", requires = "xdp")]
    pub src: Option<std::net::IpAddr>,

    /// With --xdp: the destination MAC address, the server's or the next hop's
    /// (default: the server's entry in the kernel's neighbour table on IFACE).
    #[arg(long, value_name = "MAC", requires = "xdp", value_parser = crate::xdp::parse_mac)]
    pub dst_mac: Option<[u8; 6]>,

    /// Start sending at this wall-clock time, in milliseconds since the Unix
    /// epoch, once set up: generators given the same time run over the same
    /// interval (compare.sh --paired). A time already past starts at once.
    #[arg(long, value_name = "UNIX_MS")]
    pub start_at: Option<u64>,

    /// Print one JSON object on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,

    /// Add an EDNS OPT record advertising this UDP payload size.
    #[arg(long, value_name = "BYTES")]
    pub edns: Option<u16>,

    /// Add an EDNS Client Subnet option: ADDR/LEN, or a range FIRST/LEN-LAST/LEN
    /// (or FIRST-LAST/LEN) whose prefixes are rotated through. Implies EDNS.
    #[arg(long, value_name = "PREFIX[-PREFIX]")]
    pub ecs: Option<String>,

    /// Set the DO bit (DNSSEC OK). Implies EDNS.
    #[arg(long)]
    pub dnssec: bool,

    /// Set the RD bit.
    #[arg(long)]
    pub rd: bool,

    /// Save the latency distribution here as HdrHistogram percentile text
    /// (.hgrm, values in microseconds), each lost query counted at --timeout.
    #[arg(long, alias = "histogram", value_name = "FILE")]
    pub hgrm: Option<PathBuf>,

    /// Draw the latency by percentile (the --hgrm distribution) as an SVG here.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Latency distributions as `run --hgrm` saves them, or any HdrHistogram
    /// outputPercentileDistribution text (.hgrm); one line each.
    #[arg(required = true, value_name = "FILE.hgrm")]
    pub files: Vec<PathBuf>,

    /// Where to write the SVG (required).
    #[arg(short = 'o', long, value_name = "FILE.svg")]
    pub output: Option<PathBuf>,

    /// The legend's name for each file in turn (default: the file name
    /// without its extension); repeat it once per file.
    #[arg(long = "label", value_name = "NAME")]
    pub labels: Vec<String>,

    /// The title above the plot.
    #[arg(long)]
    pub title: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReflectArgs {
    /// Address to listen on (port 0 picks one; the address is printed on stdout).
    /// With --xdp: the address (0.0.0.0 or :: for any of the family) and port
    /// whose UDP the filter takes.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,

    /// Reflect raw frames through AF_XDP on this interface instead of a UDP
    /// socket (needs root): one AF_XDP socket and thread per receive queue, an
    /// XDP filter that leaves all other traffic to the kernel.
    #[arg(long, value_name = "IFACE")]
    pub xdp: Option<String>,

    /// Most datagrams per recvmmsg / sendmmsg (frames per receive and kick
    /// with --xdp).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,

    /// CPU to pin to (with --xdp, the thread of queue q to CPU N + q).
    #[arg(long)]
    pub cpu: Option<usize>,

    /// Stop after this long (default: run until SIGINT/SIGTERM).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// Most sockets, threads, batch size and window accepted.
const MAX_SOCKETS: usize = 1024;
const MAX_BATCH: usize = 1024;
const MAX_WINDOW: usize = 1 << 24;

impl RunArgs {
    /// Range checks across flags.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.window == 0 || self.window > MAX_WINDOW {
            bail!("--window must be 1 to {MAX_WINDOW}");
        }
        if self.sockets == 0 || self.sockets > MAX_SOCKETS {
            bail!("--sockets must be 1 to {MAX_SOCKETS}");
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            bail!("--batch must be 1 to {MAX_BATCH}");
        }
        if self.threads == 0 || self.threads > self.sockets {
            bail!("--threads must be 1 to --sockets ({})", self.sockets);
        }
        if self.xdp.is_some() && self.threads != 1 {
            bail!("--xdp runs one thread: --threads 1");
        }
        if self.rate.is_none() && self.window < self.threads {
            bail!("--window must be at least --threads");
        }
        if self.rate == Some(0) {
            bail!("--rate must be above 0");
        }
        if self.duration.is_zero() {
            bail!("--duration must be above 0");
        }
        if self.timeout.is_zero() {
            bail!("--timeout must be above 0");
        }
        if self.edns.is_some_and(|size| size < 512) {
            bail!("--edns must be at least 512");
        }
        Ok(())
    }
}

/// A duration: a number (fractions allowed) with a unit `ns`, `us`, `ms`, `s`, `m`
/// or `h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}: expected a number and a unit, such as 10s"))?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "bad duration unit {other:?} (use ns, us, ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(value * scale)
        .map_err(|error| format!("bad duration {text:?}: {error}"))
}

/// CPUs to pin threads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// Parses `0`, `0,2`, `0-3` or a mix (`0,2-3`).
pub fn parse_cpu_list(text: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let parse = |number: &str| {
            number
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("bad CPU list {text:?}: {number:?} is not a CPU number"))
        };
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (parse(first)?, parse(last)?);
                if last < first || last - first > 4096 {
                    return Err(format!("bad CPU range {part:?}"));
                }
                cpus.extend(first..=last);
            }
            None => cpus.push(parse(part)?),
        }
    }
    Ok(CpuList(cpus))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("50us"), Ok(Duration::from_micros(50)));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10 parsecs").is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0"), Ok(CpuList(vec![0])));
        assert_eq!(parse_cpu_list("0,2"), Ok(CpuList(vec![0, 2])));
        assert_eq!(parse_cpu_list("1-3,7"), Ok(CpuList(vec![1, 2, 3, 7])));
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("3-1").is_err());
    }

    #[test]
    fn xdp_flags() {
        let cli = Cli::try_parse_from([
            "dnslb-loadgen",
            "run",
            "--server",
            "198.18.7.1:53",
            "--xdp",
            "cli7",
            "--dst-mac",
            "02:00:00:00:00:01",
            "--src",
            "198.18.7.2",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run");
        };
        assert_eq!(run.xdp.as_deref(), Some("cli7"));
        assert_eq!(run.dst_mac, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(run.src, Some("198.18.7.2".parse().unwrap()));
        run.check().unwrap();
        let parse = |extra: &[&str]| {
            let mut args = vec!["dnslb-loadgen", "run", "--server", "198.18.7.1:53"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args)
        };
        assert!(
            parse(&["--dst-mac", "02:00:00:00:00:01"]).is_err(),
            "needs --xdp"
        );
        assert!(parse(&["--src", "198.18.7.2"]).is_err(), "needs --xdp");
        assert!(parse(&["--xdp", "cli7", "--tcp"]).is_err());
        assert!(parse(&["--xdp", "cli7", "--dst-mac", "02:00"]).is_err());
        let Command::Run(threads) = parse(&["--xdp", "cli7", "--threads", "2"]).unwrap().command
        else {
            panic!("not run");
        };
        assert!(threads.check().is_err(), "one thread with --xdp");
    }

    #[test]
    fn run_defaults() {
        let cli =
            Cli::try_parse_from(["dnslb-loadgen", "run", "--server", "127.0.0.1:53"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run");
        };
        assert_eq!(run.window, 128);
        assert_eq!(run.sockets, 4);
        assert_eq!(run.batch, 32);
        assert_eq!(run.threads, 1);
        assert_eq!(run.duration, Duration::from_secs(10));
        assert_eq!(run.timeout, Duration::from_secs(1));
        assert_eq!(run.qname, "www.example.com");
        assert_eq!(run.qtype, "A");
        run.check().unwrap();
        assert!(
            Cli::try_parse_from([
                "dnslb-loadgen",
                "run",
                "--server",
                "x:1",
                "--queries",
                "f",
                "--qname",
                "a"
            ])
            .is_err()
        );
    }
}
