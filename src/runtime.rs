//! Start-up and shutdown, in order: load the config's zones into the first
//! snapshot, hand it to the control plane, bind every socket, pin and spawn
//! one UDP worker per CPU, start the TCP thread, the health thread (probes
//! feeding the control plane) and the admin thread; on shutdown, set the
//! flag, let every thread finish what it has in hand, join them. Reload
//! (SIGHUP in `main`, `POST /reload`) goes through [`Control::reload`].

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::admin::AdminServer;
use crate::config::{Config, LoadErrors, Workers};
use crate::control::Control;
use crate::dataplane::tcp::{TcpLimits, TcpServer};
use crate::dataplane::worker::{WAKE_INTERVAL, Worker};
use crate::health::engine::HealthEngine;
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::stats::Stats;
use crate::sys::{cpu, socket};
use crate::zone::Warning;

/// Socket buffer sizes we ask for (best effort; the kernel caps them at
/// `net.core.rmem_max`/`wmem_max`). Deep receive queues absorb bursts while
/// a worker is busy with a batch.
const UDP_RECV_BUFFER: usize = 4 << 20;
const UDP_SEND_BUFFER: usize = 4 << 20;

/// Attempts at finding a port free for both UDP and TCP when the config asks
/// for port 0 (tests).
const EPHEMERAL_PORT_ATTEMPTS: usize = 20;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(LoadErrors),
    #[error("server.cpus: {0}")]
    Cpus(String),
    #[error("cannot bind {address} ({transport}): {error}")]
    Bind {
        address: SocketAddr,
        transport: &'static str,
        error: io::Error,
    },
    #[error("cannot start a thread: {0}")]
    Thread(io::Error),
}

/// The sockets of one listen address: one UDP socket per worker and a TCP
/// listener, all on the same port.
struct Bound {
    address: SocketAddr,
    udp: Vec<UdpSocket>,
    tcp: TcpListener,
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The addresses served (with the real port when the config said 0).
    pub addresses: Vec<SocketAddr>,
    /// The admin HTTP listener's address, when `[admin]` is configured.
    pub admin_address: Option<SocketAddr>,
    /// The CPU each UDP worker is pinned to.
    pub worker_cpus: Vec<usize>,
    /// Counters of every worker.
    pub stats: Arc<Stats>,
    /// The published snapshot.
    pub snapshot: Arc<SharedSnapshot>,
    /// The control plane: health states, drains, loads, reload.
    pub control: Arc<Control>,
    /// Warnings from loading the zones.
    pub warnings: Vec<Warning>,
    shutdown: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops every thread (each finishes what it has in hand) and waits.
    /// Dropping a `Running` does the same.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Which CPU each worker runs on.
fn worker_cpus(config: &Config) -> Result<Vec<usize>, StartError> {
    let allowed = cpu::allowed_cpus();
    let cpus = match &config.server.cpus {
        Some(cpus) => {
            for cpu in cpus {
                if !allowed.contains(cpu) {
                    return Err(StartError::Cpus(format!(
                        "CPU {cpu} is not available to this process (allowed: {allowed:?})"
                    )));
                }
            }
            cpus.clone()
        }
        None if allowed.is_empty() => vec![0],
        None => allowed,
    };
    let count = match config.server.workers {
        Workers::Auto => cpus.len(),
        Workers::Count(count) => count.get(),
    };
    Ok((0..count).map(|index| cpus[index % cpus.len()]).collect())
}

fn bind_address(address: SocketAddr, workers: usize) -> Result<Bound, StartError> {
    let options = socket::UdpOptions {
        reuse_port: true,
        recv_buffer: Some(UDP_RECV_BUFFER),
        send_buffer: Some(UDP_SEND_BUFFER),
        read_timeout: Some(WAKE_INTERVAL),
    };
    let bind_error = |transport, error| StartError::Bind {
        address,
        transport,
        error,
    };
    let attempts = if address.port() == 0 {
        EPHEMERAL_PORT_ATTEMPTS
    } else {
        1
    };
    let mut last_error = None;
    for _ in 0..attempts {
        let first =
            socket::bind_udp(address, &options).map_err(|error| bind_error("udp", error))?;
        let local = first
            .local_addr()
            .map_err(|error| bind_error("udp", error))?;
        let tcp = match socket::bind_tcp(local) {
            Ok(tcp) => tcp,
            Err(error) => {
                last_error = Some(error);
                continue;
            }
        };
        let mut udp = vec![first];
        for _ in 1..workers {
            udp.push(socket::bind_udp(local, &options).map_err(|error| bind_error("udp", error))?);
        }
        return Ok(Bound {
            address: local,
            udp,
            tcp,
        });
    }
    Err(bind_error(
        "tcp",
        last_error.unwrap_or_else(|| io::Error::other("no port free for both UDP and TCP")),
    ))
}

/// Loads, binds and starts everything `config` describes.
pub fn start(config: &Config) -> Result<Running, StartError> {
    let cpus = worker_cpus(config)?;
    // Each UDP worker and the TCP thread count into their own slots.
    let (snapshot, warnings) =
        Snapshot::build_for_writers(config, 1, cpus.len() + 1).map_err(StartError::Config)?;
    let summary = snapshot.summary;
    // Loading freed the parser's intermediate records: give them back.
    crate::sys::memory::release_free_memory();
    let mut bound = Vec::with_capacity(config.server.listen.len());
    for &address in &config.server.listen {
        bound.push(bind_address(address, cpus.len())?);
    }
    let addresses: Vec<SocketAddr> = bound.iter().map(|bound| bound.address).collect();

    let snapshot = Arc::new(SharedSnapshot::new(snapshot));
    let control = Arc::new(Control::new(config.clone(), snapshot.clone()));
    let stats = Arc::new(Stats::new(cpus.len()));
    let admin = match &config.admin {
        Some(admin) => Some(
            AdminServer::bind(
                admin.listen,
                admin.token.clone(),
                control.clone(),
                stats.clone(),
            )
            .map_err(|error| StartError::Bind {
                address: admin.listen,
                transport: "admin http",
                error,
            })?,
        ),
        None => None,
    };
    let admin_address = admin.as_ref().and_then(|admin| admin.local_addr().ok());
    // Probes hold a socket each while in flight: with thousands of backends
    // the default soft limit of 1024 descriptors is too low.
    if let Err(error) = crate::sys::limits::raise_open_files_limit() {
        tracing::warn!(%error, "could not raise the open files limit");
    }
    let (engine, engine_handle) =
        HealthEngine::new(control.probe_targets()).map_err(StartError::Thread)?;
    control.attach_engine(engine_handle);
    let shutdown = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let reply_size = usize::from(config.server.udp_payload).max(crate::wire::CLASSIC_UDP_LIMIT);

    // Worker i takes the i-th UDP socket of every address.
    let mut per_worker: Vec<Vec<UdpSocket>> = (0..cpus.len()).map(|_| Vec::new()).collect();
    let mut tcp_listeners = Vec::new();
    for bound in bound {
        for (worker, socket) in bound.udp.into_iter().enumerate() {
            per_worker[worker].push(socket);
        }
        tcp_listeners.push(bound.tcp);
    }

    let spawned = (|| -> Result<(), StartError> {
        for (index, sockets) in per_worker.into_iter().enumerate() {
            let cpu = cpus[index];
            let worker = Worker::new(index, sockets, reply_size, snapshot.clone(), stats.clone())
                .map_err(StartError::Thread)?;
            let shutdown = shutdown.clone();
            let thread = std::thread::Builder::new()
                .name(format!("dnslb-udp-{index}"))
                .spawn(move || {
                    if !cpu::pin_current_thread(cpu) {
                        tracing::warn!(worker = index, cpu, "could not pin the worker to its CPU");
                    }
                    worker.run(&shutdown);
                })
                .map_err(StartError::Thread)?;
            threads.push(thread);
        }
        let limits = TcpLimits {
            max_connections: config.server.tcp_max_connections.get(),
            max_connections_per_client: config.server.tcp_max_connections_per_client.get(),
            idle_timeout: config.server.tcp_idle_timeout,
            total_timeout: config.server.tcp_total_timeout,
        };
        let server = TcpServer::new(tcp_listeners, limits, snapshot.clone(), stats.clone())
            .map_err(StartError::Thread)?;
        let shutdown_tcp = shutdown.clone();
        let thread = std::thread::Builder::new()
            .name("dnslb-tcp".into())
            .spawn(move || {
                if let Err(error) = server.run(&shutdown_tcp) {
                    tracing::error!(%error, "the TCP thread stopped");
                }
            })
            .map_err(StartError::Thread)?;
        threads.push(thread);
        let control_health = control.clone();
        let shutdown_health = shutdown.clone();
        let thread = std::thread::Builder::new()
            .name("dnslb-health".into())
            .spawn(move || {
                engine.run(&shutdown_health, |outcomes| {
                    control_health.apply_probes(outcomes);
                })
            })
            .map_err(StartError::Thread)?;
        threads.push(thread);
        if let Some(admin) = admin {
            let shutdown_admin = shutdown.clone();
            let thread = std::thread::Builder::new()
                .name("dnslb-admin".into())
                .spawn(move || admin.run(&shutdown_admin))
                .map_err(StartError::Thread)?;
            threads.push(thread);
        }
        Ok(())
    })();
    if let Err(error) = spawned {
        shutdown.store(true, Ordering::Relaxed);
        for thread in threads {
            let _ = thread.join();
        }
        return Err(error);
    }

    tracing::info!(
        workers = cpus.len(),
        cpus = ?cpus,
        listen = ?addresses,
        admin = ?admin_address,
        services = summary.services,
        zones = summary.zones,
        records = summary.records,
        names = summary.names,
        build_ms = summary.build_time.as_millis() as u64,
        "dnslb serving"
    );
    Ok(Running {
        addresses,
        admin_address,
        worker_cpus: cpus,
        stats,
        snapshot,
        control,
        warnings,
        shutdown,
        threads,
    })
}
