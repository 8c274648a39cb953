//! Start-up and shutdown, in order: load the config's zones into the first
//! snapshot, hand it to the control plane, bind every socket (the UDP
//! sockets of every worker, the TCP listeners, the admin listener), with
//! `[xdp]` make the AF_XDP sockets and attach the filter program ([`xdp`]),
//! raise the open files limit, switch user (or give up capabilities), then
//! pin and spawn one UDP worker per CPU and one XDP worker per NIC queue,
//! start the TCP thread, the health thread (probes feeding the control
//! plane) and the admin thread; on shutdown, set the flag, let every thread
//! finish what it has in hand, join them. Reload (SIGHUP in `main`,
//! `POST /reload`) goes through [`Control::reload`].
//!
//! Privileges. Ports below 1024 (53) need root or `CAP_NET_BIND_SERVICE`,
//! and only binding needs them: every socket is bound before any thread
//! starts, so the switch happens with one thread and nothing runs as root
//! after it.
//!
//! * Started as root with `server.user`: switch to that user, its
//!   supplementary groups and its primary group (or just `server.group`),
//!   with setgroups, setgid, setuid, then check that root cannot be regained.
//! * Started as another user with `server.user`: fine when the process
//!   already runs as exactly that user and group (systemd's `User=` with the
//!   same config); any other user is a start error naming `server.user`,
//!   since we could not switch.
//! * Without `server.user`: no switch. Run as an unprivileged user with
//!   `CAP_NET_BIND_SERVICE` (systemd's `AmbientCapabilities=`, or
//!   `setcap cap_net_bind_service=+ep` on the binary) to bind port 53 (and
//!   `CAP_NET_ADMIN`, `CAP_BPF`, `CAP_NET_RAW` for `[xdp]`); as root, a
//!   warning says that root is kept.
//! * Started without root, with or without `server.user`: once every socket
//!   is made, every capability is given up (ambient, effective, permitted,
//!   inheritable), before any thread starts.
//!
//! After the switch a reload (SIGHUP, `POST /reload`) reads the config and
//! zone files as that user: they must be readable by it. `server.user` and
//! `server.group` change only on restart.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use dnslb_io::{cpu, socket};

use crate::admin::AdminServer;
use crate::config::{Config, LoadErrors, Workers};
use crate::control::Control;
use crate::dataplane::tcp::{TcpLimits, TcpServer};
use crate::dataplane::udp::{WAKE_INTERVAL, Worker};
use crate::dataplane::xdp::XdpWorker;
use crate::health::engine::HealthEngine;
use crate::snapshot::SharedSnapshot;
use crate::stats::{Stats, XdpQueueStats};
use crate::sys::privilege;
use crate::sys::random::random_u64;
use crate::zone::Warning;

mod xdp;

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
    #[error("cannot bind {address} ({transport}): {error}{}", bind_hint(.address, .error))]
    Bind {
        address: SocketAddr,
        transport: &'static str,
        error: io::Error,
    },
    /// The `[xdp]` path could not be set up; names `xdp.interface`.
    #[error("{0}")]
    Xdp(String),
    #[error("cannot give up capabilities once started: {0}")]
    Capabilities(io::Error),
    #[error("cannot start a thread: {0}")]
    Thread(io::Error),
    /// Switching to `server.user` failed or is impossible; names the config
    /// file and the key.
    #[error("{file}: {key}: {message}")]
    Privilege {
        file: String,
        key: &'static str,
        message: String,
    },
}

/// A hint for the usual reason a port below 1024 cannot be bound.
fn bind_hint(address: &SocketAddr, error: &io::Error) -> &'static str {
    if address.port() != 0
        && address.port() < 1024
        && error.kind() == io::ErrorKind::PermissionDenied
    {
        " (ports below 1024 need root, which switches to server.user after binding, or \
         CAP_NET_BIND_SERVICE, such as systemd's AmbientCapabilities=)"
    } else {
        ""
    }
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
    /// Secondary zones: their status and refresh requests.
    pub transfers: Arc<crate::xfr::Transfers>,
    /// Warnings from loading the zones.
    pub warnings: Vec<Warning>,
    /// Who the process runs as once started: `name (uid N, gid N)`.
    pub user: String,
    /// The NIC queues XDP workers answer, with the CPU each is pinned to;
    /// empty without `[xdp]`.
    pub xdp_queues: Vec<(u32, usize)>,
    shutdown: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The attached filter program: dropped (detached) after the threads
    /// have stopped.
    _xdp: Option<dnslb_io::xdp::attach::Attached>,
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

/// The CPUs workers are pinned to, in order (`server.cpus`, or every CPU
/// the process may use), and the CPU of each UDP worker (`server.workers`
/// of them, taking that list in turn). XDP workers take the list in order,
/// one CPU each.
fn worker_cpus(config: &Config) -> Result<(Vec<usize>, Vec<usize>), StartError> {
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
    let workers = (0..count).map(|index| cpus[index % cpus.len()]).collect();
    Ok((cpus, workers))
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
    let (pins, cpus) = worker_cpus(config)?;
    let xdp_plan = match &config.xdp {
        Some(xdp) => Some(xdp::plan(xdp, pins.len()).map_err(StartError::Xdp)?),
        None => None,
    };
    let xdp_workers = xdp_plan.as_ref().map_or(0, |plan| plan.queues.len());
    // Each UDP worker, each XDP worker and the TCP thread count into their
    // own slots.
    let (sources, warnings) =
        crate::control::build::initial_sources(config).map_err(StartError::Config)?;
    let snapshot =
        crate::control::build::assemble(config, &sources, 1, cpus.len() + xdp_workers + 1)
            .map_err(StartError::Config)?;
    let summary = snapshot.summary;
    // Loading freed the parser's intermediate records: give them back.
    crate::sys::memory::release_free_memory();
    let mut bound = Vec::with_capacity(config.server.listen.len());
    for &address in &config.server.listen {
        bound.push(bind_address(address, cpus.len())?);
    }
    let addresses: Vec<SocketAddr> = bound.iter().map(|bound| bound.address).collect();
    // The AF_XDP sockets and the filter, for the bound addresses (ports
    // resolved), while privileges are still held.
    let xdp_attached = match (&config.xdp, &xdp_plan) {
        (Some(xdp), Some(plan)) => {
            Some(xdp::attach(plan, xdp, &addresses).map_err(StartError::Xdp)?)
        }
        _ => None,
    };
    let mut xdp_sockets = Vec::new();
    let mut xdp_queues = Vec::new();
    let mut xdp_kept = None;
    if let Some(attachment) = xdp_attached {
        tracing::info!(
            interface = %config.xdp.as_ref().map_or("", |xdp| xdp.interface.as_str()),
            queues = ?attachment.sockets.iter().map(|(queue, _)| *queue).collect::<Vec<_>>(),
            mode = ?attachment.mode(),
            zero_copy = attachment.zero_copy(),
            instructions = attachment.instructions(),
            "XDP filter attached"
        );
        let (sockets, attached) = attachment.split();
        for (index, (queue, socket)) in sockets.into_iter().enumerate() {
            let reader = socket.statistics_reader().ok();
            // One CPU each, in order (plan checked there are enough).
            xdp_queues.push((queue, pins[index]));
            xdp_sockets.push((XdpQueueStats::new(queue, reader), socket));
        }
        xdp_kept = Some(attached);
    }
    let (queue_stats, xdp_sockets): (Vec<_>, Vec<_>) = xdp_sockets.into_iter().unzip();

    let snapshot = Arc::new(SharedSnapshot::new(snapshot));
    let control = Arc::new(Control::new(config.clone(), snapshot.clone(), sources));
    // Without secondaries the control plane frees the zone data in the
    // background, and gives the memory back then.
    let stats = Arc::new(Stats::with_xdp(cpus.len(), queue_stats));
    let (transfers, transfer_requests) = crate::xfr::channel();
    let admin = match &config.admin {
        Some(admin) => Some(
            AdminServer::bind(
                admin.listen,
                control.clone(),
                stats.clone(),
                transfers.clone(),
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
    // Every socket is bound and no thread runs yet: give up root now.
    let user = switch_user(config)?;
    let (engine, engine_handle) =
        HealthEngine::new(control.probe_targets()).map_err(StartError::Thread)?;
    control.attach_engine(engine_handle);
    let shutdown = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    // Sized for the largest `server.udp_payload` the config accepts, not the
    // one configured: a reload may raise it, and the workers keep their
    // buffers (about 128 KiB per worker).
    let reply_size = usize::from(crate::config::UDP_PAYLOAD_MAX);

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
            let worker = Worker::new(
                index,
                sockets,
                reply_size,
                snapshot.clone(),
                stats.clone(),
                random_u64(),
            )
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
        let mtu = xdp_plan.as_ref().map_or(0, |plan| plan.mtu);
        for (index, socket) in xdp_sockets.into_iter().enumerate() {
            let (queue, cpu) = xdp_queues[index];
            let worker = XdpWorker::new(
                index,
                socket,
                addresses.clone(),
                mtu,
                snapshot.clone(),
                stats.clone(),
                random_u64(),
            );
            let shutdown = shutdown.clone();
            let thread = std::thread::Builder::new()
                .name(format!("dnslb-xdp-{queue}"))
                .spawn(move || {
                    if !cpu::pin_current_thread(cpu) {
                        tracing::warn!(queue, cpu, "could not pin the XDP worker to its CPU");
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
        let server = TcpServer::new(
            tcp_listeners,
            limits,
            snapshot.clone(),
            stats.clone(),
            random_u64(),
        )
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
        // Secondary zones: their saved copies are served from here on.
        let thread = crate::xfr::start(
            control.clone(),
            transfers.clone(),
            transfer_requests,
            shutdown.clone(),
        )
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
        admin = %admin_address.map_or_else(|| "none".to_owned(), |address| address.to_string()),
        services = summary.services,
        zones = summary.zones,
        records = summary.records,
        names = summary.names,
        build_ms = summary.build_time.as_millis() as u64,
        table_mib = summary.table_bytes >> 20,
        user = %user,
        version = env!("CARGO_PKG_VERSION"),
        "dnslb serving"
    );
    Ok(Running {
        addresses,
        admin_address,
        worker_cpus: cpus,
        stats,
        snapshot,
        control,
        transfers,
        warnings,
        user,
        xdp_queues,
        shutdown,
        threads,
        _xdp: xdp_kept,
    })
}

/// Switches to `server.user` when started as root (see the module doc) and
/// describes who the process runs as afterwards.
fn switch_user(config: &Config) -> Result<String, StartError> {
    let identity = privilege::current();
    let describe = |name: &str, uid: u32, gid: u32| format!("{name} (uid {uid}, gid {gid})");
    let Some(run_as) = &config.server.run_as else {
        if identity.is_root() {
            tracing::warn!(
                "running as root: set server.user to give root up once the sockets are bound"
            );
        } else {
            give_up_capabilities()?;
        }
        return Ok(format!("uid {}, gid {}", identity.euid, identity.egid));
    };
    let failed = |key: &'static str, message: String| StartError::Privilege {
        file: config.path.display().to_string(),
        key,
        message,
    };
    let key = if run_as.group.is_some() {
        "server.group"
    } else {
        "server.user"
    };
    if identity.is_root() {
        let groups = if run_as.group.is_some() {
            vec![run_as.gid]
        } else {
            privilege::groups_of(&run_as.user, run_as.gid).map_err(|error| {
                failed(
                    "server.user",
                    format!("cannot list the groups of {:?}: {error}", run_as.user),
                )
            })?
        };
        privilege::switch_to(run_as.uid, run_as.gid, &groups).map_err(|error| {
            failed(
                "server.user",
                format!("cannot switch to {:?}: {error}", run_as.user),
            )
        })?;
        tracing::info!(
            user = %run_as.user,
            uid = run_as.uid,
            gid = run_as.gid,
            groups = ?groups,
            "switched from root to server.user"
        );
    } else if !identity.is(run_as.uid, run_as.gid) {
        return Err(failed(
            key,
            format!(
                "the server runs as uid {} gid {}, neither root (which could switch) nor \
                 {:?} (uid {} gid {}): start it as root or as that user",
                identity.euid, identity.egid, run_as.user, run_as.uid, run_as.gid
            ),
        ));
    }
    if !identity.is_root() {
        give_up_capabilities()?;
    }
    Ok(describe(&run_as.user, run_as.uid, run_as.gid))
}

/// Started without root but with capabilities (to bind port 53, to set up
/// XDP): every socket is made, so give them all up.
fn give_up_capabilities() -> Result<(), StartError> {
    privilege::drop_capabilities().map_err(StartError::Capabilities)
}
