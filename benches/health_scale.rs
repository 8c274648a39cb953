//! The health engine at scale: `HEALTH_SCALE_BACKENDS` (default 10,000) TCP
//! backends, each a listener on 127.0.0.1 that a helper thread accepts and
//! drops connections on, probed by one engine (tcp, interval 1 s, timeout
//! 400 ms, rise 2, fall 3) for `HEALTH_SCALE_SECONDS` (default 10) seconds.
//!
//! Prints the backends probed, probes per second achieved, the share that
//! succeeded, the engine thread's CPU time as a share of one core (utime +
//! stime from `/proc/thread-self/stat`, read on that thread before and after
//! `run`) and the probe latency (mean, median, 99th percentile, worst).
//!
//! On loopback the kernel runs both ends of every TCP handshake inside the
//! prober's `connect` and `close`, so most of the thread's time is system
//! time that, against remote backends, would be spent in the NIC's softirqs
//! instead; user time is the engine's own cost.
//!
//! `cargo bench --bench health_scale`. Without `--bench` (`cargo test
//! --benches`), it runs a short smoke version: 100 backends for 2 seconds.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dnslb::health::{HealthCheck, HealthEngine, ProbeKind, ProbeTarget, Thresholds};
use dnslb::sys::limits::raise_open_files_limit;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// Descriptors kept free of listeners: the probes' own sockets and the
/// accepted ones need them.
const DESCRIPTORS_IN_RESERVE: u64 = 1024;

/// What the report callback adds up.
#[derive(Debug, Default)]
struct Totals {
    probes: u64,
    successes: u64,
    /// Every probe's latency in microseconds.
    latencies: Vec<u64>,
    failures: HashMap<String, u64>,
}

fn main() {
    let full = std::env::args().any(|argument| argument == "--bench");
    let backends = from_environment("HEALTH_SCALE_BACKENDS", if full { 10_000 } else { 100 });
    let seconds = from_environment("HEALTH_SCALE_SECONDS", if full { 10 } else { 2 });

    let descriptors = match raise_open_files_limit() {
        Ok(limit) => limit,
        Err(error) => {
            eprintln!("could not raise the open files limit: {error}");
            1024
        }
    };
    let room = descriptors.saturating_sub(DESCRIPTORS_IN_RESERVE);
    let wanted = backends.min(room);
    if wanted < backends {
        println!("open files limit {descriptors}: {wanted} of {backends} backends fit");
    }
    let listeners = bind_listeners(wanted);
    if listeners.is_empty() {
        eprintln!("no listener could be bound");
        return;
    }

    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let check = |port| HealthCheck {
        kind: ProbeKind::Tcp,
        port,
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(400),
        thresholds: Thresholds {
            rise: NonZeroU32::new(2).expect("non-zero"),
            fall: NonZeroU32::new(3).expect("non-zero"),
        },
    };
    let targets: Vec<ProbeTarget> = listeners
        .iter()
        .enumerate()
        .map(|(index, listener)| ProbeTarget {
            id: index as u64,
            address: loopback,
            check: check(listener.local_addr().map_or(0, |address| address.port())),
        })
        .collect();
    let count = targets.len();

    let stop = Arc::new(AtomicBool::new(false));
    let acceptor = spawn_acceptor(listeners, Arc::clone(&stop));
    let (engine, _handle) = HealthEngine::new(targets).expect("a poll for the engine");
    let shutdown = Arc::new(AtomicBool::new(false));
    let engine_thread = {
        let shutdown = Arc::clone(&shutdown);
        std::thread::spawn(move || {
            let mut totals = Totals::default();
            let cpu_before = thread_cpu_ticks();
            let started = Instant::now();
            engine.run(&shutdown, |outcomes| {
                for outcome in outcomes {
                    totals.probes += 1;
                    let micros = u64::try_from(outcome.latency.as_micros()).unwrap_or(u64::MAX);
                    totals.latencies.push(micros);
                    if outcome.success {
                        totals.successes += 1;
                    } else {
                        *totals.failures.entry(outcome.detail.clone()).or_default() += 1;
                    }
                }
            });
            let elapsed = started.elapsed();
            let cpu_ticks = thread_cpu_ticks().since(cpu_before);
            (totals, cpu_ticks, elapsed)
        })
    };

    std::thread::sleep(Duration::from_secs(seconds));
    shutdown.store(true, Ordering::Release);
    let (totals, cpu_ticks, elapsed) = engine_thread.join().expect("the engine thread");
    stop.store(true, Ordering::Release);
    let acceptor_ticks = acceptor.join().expect("the acceptor thread");

    let wall = elapsed.as_secs_f64();
    let probes = totals.probes.max(1) as f64;
    let mut latencies = totals.latencies;
    latencies.sort_unstable();
    let percentile = |fraction: f64| -> u64 {
        let last = latencies.len().saturating_sub(1);
        latencies
            .get((last as f64 * fraction).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let mean = latencies.iter().sum::<u64>() as f64 / probes;
    let (user, system, total) = cpu_ticks.shares(wall);
    let (_, _, acceptor_total) = acceptor_ticks.shares(wall);
    println!("health_scale: tcp probes, interval 1 s, timeout 400 ms, rise 2, fall 3");
    println!("  backends          {count}");
    println!("  run               {wall:.1} s");
    println!("  probes/s          {:.0}", totals.probes as f64 / wall);
    println!(
        "  successes         {:.2} %",
        100.0 * totals.successes as f64 / probes
    );
    println!(
        "  health thread CPU {total:.1} % of one core (user {user:.1} %, system {system:.1} %)"
    );
    println!(
        "  latency           mean {mean:.0} µs, p50 {} µs, p99 {} µs, max {} µs",
        percentile(0.5),
        percentile(0.99),
        percentile(1.0)
    );
    println!("  (acceptor thread  {acceptor_total:.1} % of one core)");
    let mut failures: Vec<(String, u64)> = totals.failures.into_iter().collect();
    failures.sort_by_key(|(_, times)| std::cmp::Reverse(*times));
    for (detail, times) in failures.iter().take(3) {
        println!("  failure: {detail} ({times} times)");
    }
}

/// A positive integer from the environment, or `default`.
fn from_environment(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            eprintln!("{name}={text:?} is not a number; using {default}");
            default
        }),
    }
}

/// Up to `count` listeners on 127.0.0.1, fewer when the system runs out.
fn bind_listeners(count: u64) -> Vec<TcpListener> {
    let address = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let mut listeners = Vec::new();
    for _ in 0..count {
        match TcpListener::bind(address) {
            Ok(listener) => listeners.push(listener),
            Err(error) => {
                println!(
                    "bound {} of {count} listeners ({error}); going on with those",
                    listeners.len()
                );
                break;
            }
        }
    }
    listeners
}

/// A thread that accepts and drops every connection on `listeners` until
/// `stop`; returns its CPU time.
fn spawn_acceptor(mut listeners: Vec<TcpListener>, stop: Arc<AtomicBool>) -> JoinHandle<CpuTicks> {
    std::thread::spawn(move || {
        let cpu_before = thread_cpu_ticks();
        let mut poll = Poll::new().expect("a poll for the acceptor");
        for (index, listener) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(listener, Token(index), Interest::READABLE)
                .expect("listener registered");
        }
        let mut events = Events::with_capacity(1024);
        while !stop.load(Ordering::Acquire) {
            if let Err(error) = poll.poll(&mut events, Some(Duration::from_millis(50))) {
                if error.kind() != io::ErrorKind::Interrupted {
                    eprintln!("acceptor poll: {error}");
                }
                continue;
            }
            for event in &events {
                let listener = &listeners[event.token().0];
                // Edge-triggered: take every pending connection.
                while let Ok((stream, _)) = listener.accept() {
                    drop(stream);
                }
            }
        }
        thread_cpu_ticks().since(cpu_before)
    })
}

/// A thread's CPU time in clock ticks.
#[derive(Clone, Copy, Debug, Default)]
struct CpuTicks {
    user: u64,
    system: u64,
}

impl CpuTicks {
    /// The time spent since `earlier`.
    fn since(self, earlier: CpuTicks) -> CpuTicks {
        CpuTicks {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    /// User, system and total time as percentages of one core over `wall`
    /// seconds.
    fn shares(self, wall: f64) -> (f64, f64, f64) {
        let share = |ticks: u64| 100.0 * ticks as f64 / TICKS_PER_SECOND / wall;
        (
            share(self.user),
            share(self.system),
            share(self.user + self.system),
        )
    }
}

/// The calling thread's user and system CPU time (zero when `/proc` cannot
/// say).
fn thread_cpu_ticks() -> CpuTicks {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return CpuTicks::default();
    };
    // The command name (field 2) may hold spaces; fields after it are plain.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return CpuTicks::default();
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let field = |number: usize| -> u64 {
        fields
            .get(number - 3)
            .and_then(|text| text.parse().ok())
            .unwrap_or(0)
    };
    CpuTicks {
        user: field(14),
        system: field(15),
    }
}
