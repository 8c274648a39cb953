//! Start-up of the `[xdp]` path: find the interface and its queues, load the
//! filter program for the listen addresses, make one AF_XDP socket per queue,
//! put each in the program's map and attach the program to the interface
//! ([`dnslb_io::xdp::attach`]).
//!
//! Everything is done before the switch to `server.user` and needs
//! `CAP_NET_ADMIN`, `CAP_BPF` and `CAP_NET_RAW`, or root. A failure at any
//! step is a start error naming `xdp.interface` and the cause, and leaves
//! nothing behind: the program is attached through a BPF link, and dropping
//! the link (on error, on shutdown, or when the process dies) detaches it.

use std::net::{IpAddr, SocketAddr};

use dnslb_io::xdp::attach::{AttachError, Attachment};
use dnslb_io::xdp::bpf::Rule;
use dnslb_io::xdp::frame::ETH_HLEN;
use dnslb_io::xdp::iface;
use dnslb_io::xdp::socket::{self, HEADROOM, SocketConfig};

use crate::config::{XdpConfig, XdpQueues, ZeroCopy};

/// The interface and queues `[xdp]` names, checked against the system.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) interface: String,
    pub(super) ifindex: u32,
    pub(super) queues: Vec<u32>,
    pub(super) mtu: u32,
    /// The interface's addresses, for wildcard listen addresses.
    addresses: Vec<IpAddr>,
}

/// A start error about `xdp.interface`.
fn failed(interface: &str, message: impl std::fmt::Display) -> String {
    format!("xdp.interface {interface:?}: {message}")
}

const PRIVILEGE: &str = "missing privilege: AF_XDP and its BPF filter need CAP_NET_ADMIN, \
                         CAP_BPF and CAP_NET_RAW, or root";

/// Checks the interface, its queues and MTU against `config` and the
/// `workers` CPUs the XDP workers are pinned to.
pub(super) fn plan(config: &XdpConfig, cpus: usize) -> Result<Plan, String> {
    let interface = config.interface.as_str();
    let ifindex = iface::index(interface).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            failed(interface, "no such interface")
        } else {
            failed(interface, error)
        }
    })?;
    let available = iface::rx_queues(interface).map_err(|error| failed(interface, error))?;
    let queues: Vec<u32> = match &config.queues {
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
    if queues.len() > cpus {
        return Err(failed(
            interface,
            format!(
                "xdp.queues: {} queues, one XDP worker each, but only {cpus} CPU(s) to pin them \
                 to (server.cpus, or the CPUs this process may use): list fewer queues, or give \
                 the interface fewer (ethtool -L)",
                queues.len()
            ),
        ));
    }
    let mtu = iface::mtu(interface).map_err(|error| failed(interface, error))?;
    // A received frame starts after the kernel's headroom: the largest frame
    // the MTU allows must fit behind it.
    let room = config.frame_size - HEADROOM;
    if mtu as usize + ETH_HLEN > room as usize {
        return Err(failed(
            interface,
            format!(
                "MTU {mtu} too large for xdp.frame_size = {} (a frame holds {} bytes of \
                 Ethernet after the kernel's headroom): lower the MTU or raise frame_size",
                config.frame_size, room
            ),
        ));
    }
    let addresses = iface::addresses(interface).map_err(|error| failed(interface, error))?;
    Ok(Plan {
        interface: interface.to_owned(),
        ifindex,
        queues,
        mtu,
        addresses,
    })
}

/// The filter's rules for the bound listen addresses: a wildcard address
/// stands for each of the interface's addresses of its family (never any
/// destination: frames for other hosts, broadcasts and multicasts stay with
/// the kernel).
fn rules(plan: &Plan, listen: &[SocketAddr]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for address in listen {
        if address.ip().is_unspecified() {
            for &local in &plan.addresses {
                if local.is_ipv4() == address.is_ipv4() {
                    rules.push(Rule::listen(SocketAddr::new(local, address.port())));
                }
            }
        } else {
            rules.push(Rule::listen(*address));
        }
    }
    rules
}

/// Loads the filter for `listen`, makes the sockets and attaches.
pub(super) fn attach(
    plan: &Plan,
    config: &XdpConfig,
    listen: &[SocketAddr],
) -> Result<Attachment, String> {
    let interface = plan.interface.as_str();
    let rules = rules(plan, listen);
    if rules.is_empty() {
        return Err(failed(
            interface,
            "none of server.listen's addresses is on this interface (a wildcard address \
             stands for the interface's own addresses of its family)",
        ));
    }
    let socket_config = SocketConfig {
        frame_size: config.frame_size,
        ring_size: config.ring_size,
        zero_copy: match config.zero_copy {
            ZeroCopy::Auto => socket::ZeroCopy::Auto,
            ZeroCopy::On => socket::ZeroCopy::On,
            ZeroCopy::Off => socket::ZeroCopy::Off,
        },
    };
    Attachment::new(plan.ifindex, &plan.queues, &rules, socket_config)
        .map_err(|error| explain(plan, config, &error))
}

/// Says why the set-up failed, in the terms an operator can act on.
fn explain(plan: &Plan, config: &XdpConfig, error: &AttachError) -> String {
    let interface = plan.interface.as_str();
    if error.is_privilege() {
        return failed(interface, PRIVILEGE);
    }
    let errno = error.io_error().raw_os_error();
    let message = match error {
        AttachError::Socket { queue, error }
            if config.zero_copy == ZeroCopy::On && error.step == "binding with zero-copy" =>
        {
            format!(
                "xdp.zero_copy = \"on\" but the driver refused zero-copy on queue {queue} ({}): \
                 set it to \"auto\" or \"off\"",
                error.error
            )
        }
        AttachError::Socket { queue, error } if errno == Some(libc::ENOBUFS) => format!(
            "queue {queue}: {error}: the UMEM ({} MiB) is over RLIMIT_MEMLOCK; raise it \
             (systemd: LimitMEMLOCK=infinity) or run with CAP_IPC_LOCK",
            (2 * u64::from(config.ring_size) * u64::from(config.frame_size)) >> 20
        ),
        AttachError::Attach(_) => match errno {
            Some(libc::ENOSPC) => format!(
                "queue-count mismatch (ENOSPC): the interface has fewer receive queues than \
                 its peer has transmit queues; give it as many (for veth: numrxqueues and \
                 numtxqueues at creation, or `ethtool -L {interface}`)"
            ),
            Some(libc::ERANGE) => format!(
                "MTU {} too large for XDP on this driver (ERANGE): lower it (on veth, the \
                 peer's MTU too)",
                plan.mtu
            ),
            Some(libc::EBUSY | libc::EEXIST) => format!(
                "another XDP program is attached ({}): detach it with `ip link set dev \
                 {interface} xdp off`",
                error.io_error()
            ),
            _ => error.to_string(),
        },
        _ => error.to_string(),
    };
    failed(interface, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_stands_for_the_interfaces_own_addresses() {
        let plan = Plan {
            interface: "eth0".into(),
            ifindex: 2,
            queues: vec![0],
            mtu: 1500,
            addresses: vec![
                "192.0.2.1".parse().unwrap(),
                "192.0.2.7".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
            ],
        };
        let listen: Vec<SocketAddr> = vec![
            "0.0.0.0:53".parse().unwrap(),
            "198.51.100.1:5353".parse().unwrap(),
        ];
        let rules = rules(&plan, &listen);
        let destinations: Vec<(IpAddr, u16)> = rules
            .iter()
            .map(|rule| (rule.destination, *rule.ports.start()))
            .collect();
        assert_eq!(
            destinations,
            [
                ("192.0.2.1".parse().unwrap(), 53),
                ("192.0.2.7".parse().unwrap(), 53),
                ("198.51.100.1".parse().unwrap(), 5353),
            ]
        );
        assert!(
            rules
                .iter()
                .all(|rule| rule.ports.start() == rule.ports.end())
        );
        // Any IPv6 address: the interface's one.
        let rules = super::rules(&plan, &["[::]:53".parse().unwrap()]);
        assert_eq!(rules, [Rule::listen("[2001:db8::1]:53".parse().unwrap())]);
    }
}
