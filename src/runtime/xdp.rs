//! Start-up of the `[xdp]` path: find the interface and its queues, load the
//! filter program for the listen addresses, make one AF_XDP socket per queue,
//! put each in the program's map and attach the program to the interface.
//!
//! Everything is done before privileges are dropped (AF_XDP sockets and BPF
//! need `CAP_NET_ADMIN`, `CAP_BPF` and `CAP_NET_RAW`, or root). A failure at
//! any step is a start error naming `xdp.interface` and the cause, and leaves
//! nothing behind: the program is attached through a BPF link, and dropping
//! the link (on error, on shutdown, or when the process dies) detaches it.

use std::io;
use std::net::SocketAddr;

use dnslb_io::xdp::bpf::{AttachMode, Link, Program, Rule};
use dnslb_io::xdp::iface;
use dnslb_io::xdp::socket::{self, SocketConfig, XdpSocket};

use crate::config::{XdpConfig, XdpQueues, ZeroCopy};

/// The interface and queues `[xdp]` names, checked against the system.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) interface: String,
    pub(super) ifindex: u32,
    pub(super) queues: Vec<u32>,
    pub(super) mtu: u32,
}

/// The attached program and one socket per queue.
pub(super) struct Attached {
    /// Queue and socket, in worker order; taken by the workers.
    pub(super) sockets: Vec<(u32, XdpSocket)>,
    pub(super) mode: AttachMode,
    pub(super) zero_copy: bool,
    pub(super) instructions: usize,
    /// Kept until shutdown: dropping the link detaches the program.
    pub(super) link: Link,
    /// The program and its map: kept with the link.
    pub(super) program: Program,
}

/// A start error about `xdp.interface`.
fn failed(interface: &str, message: impl std::fmt::Display) -> String {
    format!("xdp.interface {interface:?}: {message}")
}

const PRIVILEGE: &str = "missing privilege: AF_XDP and its BPF filter need CAP_NET_ADMIN, \
                         CAP_BPF and CAP_NET_RAW, or root";

/// Whether `error` says we lack a privilege.
fn is_privilege(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

/// Checks the interface and the queues.
pub(super) fn plan(config: &XdpConfig) -> Result<Plan, String> {
    let interface = config.interface.as_str();
    let ifindex = iface::index(interface).map_err(|error| {
        if error.kind() == io::ErrorKind::NotFound {
            failed(interface, "no such interface")
        } else {
            failed(interface, error)
        }
    })?;
    let available = iface::rx_queues(interface).map_err(|error| failed(interface, error))?;
    let queues = match &config.queues {
        XdpQueues::All => (0..available).collect(),
        XdpQueues::List(list) => {
            if let Some(missing) = list.iter().find(|&&queue| queue >= available) {
                return Err(failed(
                    interface,
                    format!(
                        "xdp.queues names queue {missing}, but the interface has {available} \
                         receive queue(s) (0..={})",
                        available - 1
                    ),
                ));
            }
            list.clone()
        }
    };
    let mtu = iface::mtu(interface).map_err(|error| failed(interface, error))?;
    Ok(Plan {
        interface: interface.to_owned(),
        ifindex,
        queues,
        mtu,
    })
}

/// Loads the filter for `listen`, makes the sockets and attaches.
pub(super) fn attach(
    plan: &Plan,
    config: &XdpConfig,
    listen: &[SocketAddr],
) -> Result<Attached, String> {
    let interface = plan.interface.as_str();
    let rules: Vec<Rule> = listen.iter().copied().map(Rule::listen).collect();
    let map_size = plan.queues.iter().max().map_or(1, |&queue| queue + 1);
    let program = Program::load(&rules, map_size).map_err(|error| {
        if is_privilege(&error) {
            failed(interface, PRIVILEGE)
        } else {
            failed(
                interface,
                format!("cannot load the filter program: {error}"),
            )
        }
    })?;
    let socket_config = SocketConfig {
        frame_size: config.frame_size,
        ring_size: config.ring_size,
        zero_copy: match config.zero_copy {
            ZeroCopy::Auto => socket::ZeroCopy::Auto,
            ZeroCopy::On => socket::ZeroCopy::On,
            ZeroCopy::Off => socket::ZeroCopy::Off,
        },
    };
    let mut sockets = Vec::with_capacity(plan.queues.len());
    for &queue in &plan.queues {
        let socket = XdpSocket::new(plan.ifindex, queue, socket_config).map_err(|error| {
            if is_privilege(&error.error) {
                failed(interface, PRIVILEGE)
            } else if config.zero_copy == ZeroCopy::On && error.step == "binding with zero-copy" {
                failed(
                    interface,
                    format!(
                        "xdp.zero_copy = \"on\" but the driver refused zero-copy on queue \
                         {queue} ({}): set it to \"auto\" or \"off\"",
                        error.error
                    ),
                )
            } else {
                failed(interface, format!("queue {queue}: {error}"))
            }
        })?;
        program
            .register(queue, &socket)
            .map_err(|error| failed(interface, format!("queue {queue}: {error}")))?;
        sockets.push((queue, socket));
    }
    let zero_copy = sockets.iter().all(|(_, socket)| socket.zero_copy());
    let link = match program.attach(plan.ifindex, AttachMode::Driver) {
        Ok(link) => link,
        // No native XDP in this driver: the generic hook works everywhere
        // (copy mode only).
        Err(error)
            if matches!(error.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL))
                && !zero_copy =>
        {
            program
                .attach(plan.ifindex, AttachMode::Generic)
                .map_err(|error| attach_error(plan, &error))?
        }
        Err(error) => return Err(attach_error(plan, &error)),
    };
    Ok(Attached {
        sockets,
        mode: link.mode(),
        zero_copy,
        instructions: program.instructions(),
        link,
        program,
    })
}

/// Says why attaching failed, in the terms an operator can act on.
fn attach_error(plan: &Plan, error: &io::Error) -> String {
    let interface = plan.interface.as_str();
    let message = match error.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => PRIVILEGE.to_owned(),
        Some(libc::ENOSPC) => format!(
            "queue-count mismatch (ENOSPC): the interface has fewer receive queues than its \
             peer has transmit queues; give it as many (for veth: numrxqueues/numtxqueues at \
             creation, or `ethtool -L {interface}`)"
        ),
        Some(libc::ERANGE) => format!(
            "MTU {} too large for XDP on this driver (ERANGE): lower it (on veth, the peer's \
             MTU too)",
            plan.mtu
        ),
        Some(libc::EBUSY) | Some(libc::EEXIST) => format!(
            "another XDP program is attached ({error}): detach it with `ip link set dev \
             {interface} xdp off`"
        ),
        _ => format!("cannot attach the filter program: {error}"),
    };
    failed(interface, message)
}
