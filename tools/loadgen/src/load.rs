//! `run`: turns the flags into a packet set, opens the sockets (or, with
//! `--xdp`, attaches the AF_XDP transport), splits sockets, window and rate
//! over the threads, runs each thread pinned to its CPU, prints a
//! progress line each second when stderr is a terminal, then the report.
//!
//! Invariants: every input error (query file, flags, server address, sockets) is
//! reported before the first query is sent; SIGINT/SIGTERM stop sending early and
//! the report still comes, covering the time actually spent.

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dnslb_io::cpu::{allowed_cpus, set_timer_slack};

use crate::args::RunArgs;
use crate::engine::{self, Outcome, Pacing, Plan, Progress, Transport};
use crate::packet::{DEFAULT_EDNS_PAYLOAD, Edns, Encoding, PacketSet, parse_ecs};
use crate::query;
use crate::report::{self, Report, Setup};
use crate::tcp::TcpTransport;
use crate::udp::UdpTransport;
use crate::{hgrm, plot, xdp};

/// The first address `text` (ADDR:PORT or HOST:PORT) resolves to.
pub fn resolve(text: &str) -> anyhow::Result<SocketAddr> {
    let address = text
        .to_socket_addrs()
        .with_context(|| format!("invalid server {text:?}: expected ADDR:PORT or HOST:PORT"))?
        .next()
        .with_context(|| format!("server {text:?} resolves to no address"))?;
    if address.port() == 0 {
        bail!("invalid server {text:?}: port 0");
    }
    Ok(address)
}

/// `total` split into `parts` shares differing by at most one; share `index`.
fn share(total: usize, parts: usize, index: usize) -> usize {
    total / parts + usize::from(index < total % parts)
}

/// The CPU of each thread: `--cpu` cycled, or the CPUs this process may use.
fn thread_cpus(args: &RunArgs) -> anyhow::Result<Vec<Option<usize>>> {
    let allowed = allowed_cpus();
    let cpus: Vec<usize> = match &args.cpu {
        Some(list) => {
            if list.0.is_empty() {
                bail!("--cpu names no CPU");
            }
            for cpu in &list.0 {
                if !allowed.contains(cpu) {
                    bail!("--cpu {cpu}: not a CPU this process may use (allowed: {allowed:?})");
                }
            }
            list.0.clone()
        }
        None => allowed,
    };
    Ok((0..args.threads)
        .map(|thread| (!cpus.is_empty()).then(|| cpus[thread % cpus.len()]))
        .collect())
}

/// Runs `run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    args.check()?;
    check_outputs(args)?;
    let queries = match &args.queries {
        Some(path) => query::read_file(path)?,
        None => vec![query::single(&args.qname, &args.qtype)?],
    };
    let subnets = match &args.ecs {
        Some(text) => parse_ecs(text)?,
        None => Vec::new(),
    };
    let edns = (args.edns.is_some() || args.ecs.is_some() || args.dnssec).then(|| Edns {
        payload: args.edns.unwrap_or(DEFAULT_EDNS_PAYLOAD),
        dnssec: args.dnssec,
    });
    let encoding = Encoding {
        recursion_desired: args.rd,
        edns,
    };
    let packets = PacketSet::build(&queries, &encoding, &subnets)?;
    let server = resolve(&args.server)?;
    let cpus = thread_cpus(args)?;

    let threads = args.threads;
    let plans: Vec<Plan> = (0..threads)
        .map(|thread| Plan {
            pacing: match args.rate {
                Some(rate) => Pacing::Open {
                    rate,
                    thread,
                    threads,
                },
                None => Pacing::Closed {
                    window: share(args.window, threads, thread),
                },
            },
            duration: args.duration,
            timeout: args.timeout,
            batch: args.batch,
            first_packet: thread * packets.len() / threads,
        })
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install a signal handler")?;
    }

    let outcomes = if let Some(iface) = &args.xdp {
        let transport =
            xdp::XdpTransport::open(&xdp_endpoints(args, iface, server)?, &packets, args.batch)?;
        let readers = transport.statistics_readers().unwrap_or_default();
        wait_until(args.start_at);
        let outcomes = run_threads(vec![transport], &packets, &plans, &cpus, &stop)?;
        // Replies the kernel had for the generator and dropped: they count as
        // lost, and say the generator (not the server) was the bottleneck.
        let kernel = xdp::statistics_sum(&readers);
        if kernel.rx_dropped + kernel.rx_ring_full > 0 || kernel.rx_fill_ring_empty > 0 {
            eprintln!(
                "note: the kernel dropped frames for the generator: receive ring full {}, \
                 other drops {}; fill ring found empty {} times",
                kernel.rx_ring_full, kernel.rx_dropped, kernel.rx_fill_ring_empty
            );
        }
        outcomes
    } else if args.tcp {
        let transports = (0..threads)
            .map(|thread| {
                TcpTransport::connect(server, share(args.sockets, threads, thread), args.batch)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        wait_until(args.start_at);
        run_threads(transports, &packets, &plans, &cpus, &stop)?
    } else {
        let transports = (0..threads)
            .map(|thread| {
                UdpTransport::connect(
                    server,
                    share(args.sockets, threads, thread),
                    args.batch,
                    !args.no_gso,
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        wait_until(args.start_at);
        run_threads(transports, &packets, &plans, &cpus, &stop)?
    };

    let totals = report::merge(outcomes);
    let setup = Setup {
        server: server.to_string(),
        transport: if args.xdp.is_some() {
            "xdp"
        } else if args.tcp {
            "tcp"
        } else {
            "udp"
        },
        mode: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        window: args.window,
        sockets: args.sockets,
        threads,
        batch: args.batch,
        timeout_ms: u64::try_from(args.timeout.as_millis()).unwrap_or(u64::MAX),
        rate_asked: args.rate,
        packets: packets.len(),
    };
    let report = Report::new(setup, &totals);
    save_latency(args, &report, &totals)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", report.text());
    }
    Ok(())
}

/// The addresses of `run --xdp`: the flags, or the interface's address and
/// the kernel's neighbour entry for the server.
fn xdp_endpoints(
    args: &RunArgs,
    iface: &str,
    server: SocketAddr,
) -> anyhow::Result<xdp::Endpoints> {
    let source = match args.src {
        Some(source) => source,
        None => xdp::source_address(iface, server)?,
    };
    let server_mac = match args.dst_mac {
        Some(mac) => mac,
        None => xdp::destination_mac(iface, server)?,
    };
    Ok(xdp::Endpoints {
        iface: iface.to_string(),
        source,
        source_mac: dnslb_io::xdp::iface::mac(iface)
            .with_context(|| format!("the hardware address of {iface}"))?,
        server,
        server_mac,
        ports: u16::try_from(args.sockets).context("--sockets")?,
    })
}

/// Sleeps until `start_at` (Unix epoch milliseconds), if given and ahead.
fn wait_until(start_at: Option<u64>) {
    let Some(start_at) = start_at else {
        return;
    };
    let start = std::time::UNIX_EPOCH + Duration::from_millis(start_at);
    if let Ok(ahead) = start.duration_since(std::time::SystemTime::now()) {
        std::thread::sleep(ahead);
    }
}

/// Writes `--hgrm` and `--plot`: the latency distribution with each lost query
/// counted at the timeout, so a server that drops queries shows it in the tail.
fn save_latency(args: &RunArgs, report: &Report, totals: &report::Totals) -> anyhow::Result<()> {
    if args.hgrm.is_none() && args.plot.is_none() {
        return Ok(());
    }
    let setup = &report.setup;
    let text = hgrm::write(&totals.with_lost(setup.timeout_ms));
    if let Some(path) = &args.hgrm {
        std::fs::write(path, &text)
            .with_context(|| format!("cannot write the histogram to {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        let mut label = setup.server.clone();
        if report.lost > 0 {
            label += &format!(", {} lost (at {} ms)", report.lost, setup.timeout_ms);
        }
        let pacing = match setup.rate_asked {
            Some(rate) => format!("open loop at {rate} qps"),
            None => format!("closed loop, window {}", setup.window),
        };
        let title = format!(
            "{} {pacing}, {:.0} s: latency by percentile",
            setup.transport, report.duration_s
        );
        let series = plot::Series {
            label,
            distribution: hgrm::parse(&text, "the run's histogram")?,
        };
        plot::write(path, &[series], Some(&title))?;
    }
    Ok(())
}

/// Checks before the run that the files `--hgrm` and `--plot` name can be
/// created: their directories exist.
fn check_outputs(args: &RunArgs) -> anyhow::Result<()> {
    for (flag, path) in [("--hgrm", &args.hgrm), ("--plot", &args.plot)] {
        let Some(path) = path else { continue };
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if !directory.is_dir() {
            bail!(
                "{flag} {}: no directory {}",
                path.display(),
                directory.display()
            );
        }
    }
    Ok(())
}

/// Runs one thread per transport and returns their outcomes, printing progress
/// meanwhile.
fn run_threads<T: Transport + Send>(
    transports: Vec<T>,
    packets: &PacketSet,
    plans: &[Plan],
    cpus: &[Option<usize>],
    stop: &AtomicBool,
) -> anyhow::Result<Vec<Outcome>> {
    let progress: Vec<Arc<Progress>> = plans.iter().map(|_| Arc::default()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = transports
            .into_iter()
            .zip(plans)
            .zip(cpus)
            .zip(&progress)
            .enumerate()
            .map(|(thread, (((mut transport, plan), cpu), progress))| {
                std::thread::Builder::new()
                    .name(format!("loadgen-{thread}"))
                    .spawn_scoped(scope, move || {
                        if let Some(cpu) = *cpu
                            && let Err(error) = crate::pin(cpu)
                        {
                            eprintln!("warning: thread {thread} not pinned: {error:#}");
                        }
                        set_timer_slack(1);
                        engine::run(&mut transport, packets, plan, stop, progress)
                    })
            })
            .collect::<Result<_, _>>()
            .context("cannot start a generator thread")?;
        report_progress(&handles, &progress);
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a generator thread panicked"))
            })
            .collect()
    })
}

/// Prints a progress line on stderr each second while the threads run, when
/// stderr is a terminal.
fn report_progress<T>(
    handles: &[std::thread::ScopedJoinHandle<'_, T>],
    progress: &[Arc<Progress>],
) {
    let terminal = std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut next = Duration::from_secs(1);
    let mut last_answered = 0;
    while !handles.iter().all(|handle| handle.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if !terminal || start.elapsed() < next {
            continue;
        }
        let total = |field: fn(&Progress) -> u64| progress.iter().map(|p| field(p)).sum::<u64>();
        let sent = total(|p| p.sent.load(Ordering::Relaxed));
        let answered = total(|p| p.answered.load(Ordering::Relaxed));
        let lost = total(|p| p.lost.load(Ordering::Relaxed));
        eprintln!(
            "{:>4}s  sent {sent}  answered {answered}  lost {lost}  qps {}",
            next.as_secs(),
            answered - last_answered
        );
        last_answered = answered;
        next += Duration::from_secs(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        assert_eq!((0..3).map(|index| share(128, 3, index)).sum::<usize>(), 128);
        assert_eq!(share(4, 4, 3), 1);
        assert_eq!(share(5, 2, 0), 3);
    }

    #[test]
    fn servers_resolve_or_fail_clearly() {
        assert_eq!(
            resolve("127.0.0.1:53").unwrap(),
            "127.0.0.1:53".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(resolve("[::1]:5353").unwrap().port(), 5353);
        assert!(resolve("127.0.0.1").is_err());
        assert!(resolve("127.0.0.1:0").is_err());
        assert!(resolve("127.0.0.1:99999").is_err());
    }
}
