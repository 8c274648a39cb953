//! The kernel's neighbour table (ARP for IPv4, neighbour discovery for IPv6):
//! the hardware address an AF_XDP sender writes as a frame's destination.
//!
//! [`lookup`] dumps the table over rtnetlink (`RTM_GETNEIGH` with
//! `NLM_F_DUMP` on a `NETLINK_ROUTE` socket) and picks the entry of one
//! interface and one address. The socket comes from `socket2` and the replies
//! are parsed from bytes: no `unsafe` here. Entries the kernel is still
//! resolving (`NUD_INCOMPLETE`) or failed to resolve (`NUD_FAILED`) do not
//! count; permanent, reachable, stale, delay, probe and no-ARP entries do (a
//! stale entry's address is what the kernel itself would send to).
//!
//! Nothing triggers a resolution: an address the kernel has not talked to has
//! no entry (`ip neigh show dev IFACE` lists the table; `ip neigh replace ADDR
//! lladdr MAC dev IFACE` adds one).

use std::io::{self, Read};
use std::net::IpAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::frame::Mac;

// linux/netlink.h
const NETLINK_ROUTE: i32 = 0;
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_DUMP: u16 = 0x300;
// linux/rtnetlink.h, linux/neighbour.h
const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const NDMSG_LEN: usize = 12;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NUD_INCOMPLETE: u16 = 0x01;
const NUD_FAILED: u16 = 0x20;

/// How long to wait for each part of the kernel's answer.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Receive buffer: the kernel sends a dump in parts of at most this size.
const BUFFER: usize = 64 * 1024;

/// Tries of a dump the kernel says was interrupted (the table changed under it).
const TRIES: usize = 4;

/// The hardware address the kernel's neighbour table holds for `address` on
/// interface `ifindex`, or `None` when it has no usable entry (none at all, or
/// one still resolving or failed). IPv4 and IPv6 addresses alike.
pub fn lookup(ifindex: u32, address: IpAddr) -> io::Result<Option<Mac>> {
    for attempt in 1..=TRIES {
        match dump_once(ifindex, address, attempt as u32)? {
            Dump::Complete(found) => return Ok(found),
            Dump::Interrupted => continue,
        }
    }
    Err(io::Error::other(
        "the neighbour table kept changing during the dump; try again",
    ))
}

/// What one dump gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dump {
    /// The whole table was read: the entry, if any.
    Complete(Option<Mac>),
    /// The kernel flagged the dump inconsistent (`NLM_F_DUMP_INTR`).
    Interrupted,
}

fn family(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

/// The dump request: a netlink header and an `ndmsg` naming the family.
fn request(address: IpAddr, sequence: u32) -> [u8; NLMSG_HDRLEN + NDMSG_LEN] {
    let mut message = [0u8; NLMSG_HDRLEN + NDMSG_LEN];
    message[0..4].copy_from_slice(&((NLMSG_HDRLEN + NDMSG_LEN) as u32).to_ne_bytes());
    message[4..6].copy_from_slice(&RTM_GETNEIGH.to_ne_bytes());
    message[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    message[8..12].copy_from_slice(&sequence.to_ne_bytes());
    // Port id 0: the kernel fills in ours.
    message[NLMSG_HDRLEN] = family(address);
    message
}

fn dump_once(ifindex: u32, address: IpAddr, sequence: u32) -> io::Result<Dump> {
    let socket = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::RAW,
        Some(Protocol::from(NETLINK_ROUTE)),
    )?;
    socket.set_read_timeout(Some(READ_TIMEOUT))?;
    // Unbound and unconnected: the kernel binds a port on the first send,
    // and a send without an address goes to the kernel.
    socket.send(&request(address, sequence))?;
    let mut buffer = vec![0u8; BUFFER];
    let mut scan = Scan::new(ifindex, address, sequence);
    loop {
        let length = match (&socket).read(&mut buffer) {
            Ok(length) => length,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no answer from the kernel's neighbour table (rtnetlink)",
                ));
            }
            Err(error) => return Err(error),
        };
        if let Some(dump) = scan.part(&buffer[..length])? {
            return Ok(dump);
        }
    }
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Netlink aligns messages and attributes to 4 bytes.
fn align(length: usize) -> usize {
    (length + 3) & !3
}

/// Reading a dump's parts as they come.
#[derive(Debug)]
struct Scan {
    ifindex: u32,
    address: IpAddr,
    sequence: u32,
    found: Option<Mac>,
    interrupted: bool,
}

impl Scan {
    fn new(ifindex: u32, address: IpAddr, sequence: u32) -> Scan {
        Scan {
            ifindex,
            address,
            sequence,
            found: None,
            interrupted: false,
        }
    }

    /// Reads one datagram of the dump: its messages in turn. Returns the
    /// outcome once the dump's `NLMSG_DONE` has come, `None` while more is to
    /// come.
    fn part(&mut self, mut bytes: &[u8]) -> io::Result<Option<Dump>> {
        while bytes.len() >= NLMSG_HDRLEN {
            let length = u32_at(bytes, 0) as usize;
            if length < NLMSG_HDRLEN || length > bytes.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a truncated rtnetlink message",
                ));
            }
            let kind = u16_at(bytes, 4);
            let flags = u16_at(bytes, 6);
            let sequence = u32_at(bytes, 8);
            let body = &bytes[NLMSG_HDRLEN..length];
            bytes = &bytes[align(length).min(bytes.len())..];
            if sequence != self.sequence {
                continue;
            }
            if flags & NLM_F_DUMP_INTR != 0 {
                self.interrupted = true;
            }
            match kind {
                NLMSG_DONE => {
                    return Ok(Some(if self.interrupted {
                        Dump::Interrupted
                    } else {
                        Dump::Complete(self.found)
                    }));
                }
                NLMSG_ERROR => {
                    let code = if body.len() >= 4 {
                        i32::from_ne_bytes([body[0], body[1], body[2], body[3]])
                    } else {
                        -libc::EPROTO
                    };
                    return Err(if code == 0 {
                        io::Error::new(io::ErrorKind::InvalidData, "an rtnetlink ack, not a dump")
                    } else {
                        io::Error::from_raw_os_error(-code)
                    });
                }
                RTM_NEWNEIGH => {
                    if let Some(mac) = self.entry(body) {
                        self.found = Some(mac);
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// The hardware address of one `RTM_NEWNEIGH` body when it is the entry
    /// sought and usable.
    fn entry(&self, body: &[u8]) -> Option<Mac> {
        if body.len() < NDMSG_LEN || body[0] != family(self.address) {
            return None;
        }
        let ifindex = u32_at(body, 4);
        let state = u16_at(body, 8);
        if ifindex != self.ifindex || state & (NUD_INCOMPLETE | NUD_FAILED) != 0 {
            return None;
        }
        let mut destination = None;
        let mut lladdr = None;
        let mut attributes = &body[NDMSG_LEN..];
        while attributes.len() >= 4 {
            let length = usize::from(u16_at(attributes, 0));
            if length < 4 || length > attributes.len() {
                break;
            }
            let value = &attributes[4..length];
            match u16_at(attributes, 2) {
                NDA_DST => destination = Some(value),
                NDA_LLADDR => lladdr = Some(value),
                _ => {}
            }
            attributes = &attributes[align(length).min(attributes.len())..];
        }
        let matches = match (self.address, destination?) {
            (IpAddr::V4(address), value) => value == address.octets(),
            (IpAddr::V6(address), value) => value == address.octets(),
        };
        if !matches {
            return None;
        }
        lladdr?.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdp::iface;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// One `RTM_NEWNEIGH` message as the kernel writes it.
    fn neighbour_message(
        sequence: u32,
        family: u8,
        ifindex: u32,
        state: u16,
        destination: &[u8],
        lladdr: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut body = vec![family, 0, 0, 0];
        body.extend_from_slice(&ifindex.to_ne_bytes());
        body.extend_from_slice(&state.to_ne_bytes());
        body.extend_from_slice(&[0, 1]);
        let mut attribute = |kind: u16, value: &[u8]| {
            body.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
            body.extend_from_slice(&kind.to_ne_bytes());
            body.extend_from_slice(value);
            body.resize(align(body.len()), 0);
        };
        attribute(NDA_DST, destination);
        if let Some(lladdr) = lladdr {
            attribute(NDA_LLADDR, lladdr);
        }
        message(RTM_NEWNEIGH, 0x02, sequence, &body)
    }

    fn message(kind: u16, flags: u16, sequence: u32, body: &[u8]) -> Vec<u8> {
        let mut message = Vec::new();
        message.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        message.extend_from_slice(&kind.to_ne_bytes());
        message.extend_from_slice(&flags.to_ne_bytes());
        message.extend_from_slice(&sequence.to_ne_bytes());
        message.extend_from_slice(&7u32.to_ne_bytes());
        message.extend_from_slice(body);
        message.resize(align(message.len()), 0);
        message
    }

    const MAC: Mac = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    const OTHER: Mac = [0x02, 0x99, 0x88, 0x77, 0x66, 0x55];

    #[test]
    fn the_request_asks_for_a_dump_of_one_family() {
        let request = request(IpAddr::V6(Ipv6Addr::LOCALHOST), 9);
        assert_eq!(u32_at(&request, 0) as usize, request.len());
        assert_eq!(u16_at(&request, 4), RTM_GETNEIGH);
        assert_eq!(u16_at(&request, 6), NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(u32_at(&request, 8), 9);
        assert_eq!(request[NLMSG_HDRLEN], libc::AF_INET6 as u8);
    }

    #[test]
    fn a_dump_yields_the_entry_of_the_interface_and_address() {
        let inet = libc::AF_INET as u8;
        let wanted = Ipv4Addr::new(198, 18, 7, 1);
        let mut part = Vec::new();
        // Another interface, another address, an incomplete and a failed entry,
        // an entry without a hardware address: none of them.
        part.extend(neighbour_message(
            5,
            inet,
            3,
            0x80,
            &[198, 18, 7, 1],
            Some(&OTHER),
        ));
        part.extend(neighbour_message(
            5,
            inet,
            4,
            0x80,
            &[198, 18, 7, 2],
            Some(&OTHER),
        ));
        part.extend(neighbour_message(
            5,
            inet,
            4,
            0x01,
            &[198, 18, 7, 1],
            Some(&OTHER),
        ));
        part.extend(neighbour_message(
            5,
            inet,
            4,
            0x20,
            &[198, 18, 7, 1],
            Some(&OTHER),
        ));
        part.extend(neighbour_message(5, inet, 4, 0x02, &[198, 18, 7, 1], None));
        let mut scan = Scan::new(4, IpAddr::V4(wanted), 5);
        assert_eq!(scan.part(&part).unwrap(), None, "no DONE yet");
        let mut last = neighbour_message(5, inet, 4, 0x04, &[198, 18, 7, 1], Some(&MAC));
        last.extend(message(NLMSG_DONE, 0x02, 5, &[0, 0, 0, 0]));
        assert_eq!(scan.part(&last).unwrap(), Some(Dump::Complete(Some(MAC))));

        let mut empty = Scan::new(4, IpAddr::V4(wanted), 5);
        assert_eq!(
            empty.part(&message(NLMSG_DONE, 0x02, 5, &[0; 4])).unwrap(),
            Some(Dump::Complete(None))
        );
    }

    #[test]
    fn ipv6_entries_match_all_sixteen_bytes() {
        let inet6 = libc::AF_INET6 as u8;
        let wanted: Ipv6Addr = "fd00:198:18:7::1".parse().unwrap();
        let near: Ipv6Addr = "fd00:198:18:7::2".parse().unwrap();
        let mut part = neighbour_message(1, inet6, 2, 0x80, &near.octets(), Some(&OTHER));
        part.extend(neighbour_message(
            1,
            inet6,
            2,
            0x80,
            &wanted.octets(),
            Some(&MAC),
        ));
        // An IPv4 entry of the same interface is another family.
        part.extend(neighbour_message(
            1,
            libc::AF_INET as u8,
            2,
            0x80,
            &[1, 2, 3, 4],
            Some(&OTHER),
        ));
        part.extend(message(NLMSG_DONE, 0x02, 1, &[0; 4]));
        let mut scan = Scan::new(2, IpAddr::V6(wanted), 1);
        assert_eq!(scan.part(&part).unwrap(), Some(Dump::Complete(Some(MAC))));
    }

    #[test]
    fn errors_interruptions_and_other_sequences() {
        let address = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut scan = Scan::new(1, address, 2);
        let error = scan
            .part(&message(NLMSG_ERROR, 0, 2, &(-libc::EPERM).to_ne_bytes()))
            .unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EPERM));

        let mut scan = Scan::new(1, address, 2);
        let mut part = message(RTM_NEWNEIGH, NLM_F_DUMP_INTR, 2, &[]);
        part.extend(message(NLMSG_DONE, 0x02, 2, &[0; 4]));
        assert_eq!(scan.part(&part).unwrap(), Some(Dump::Interrupted));

        // Another request's DONE is not ours.
        let mut scan = Scan::new(1, address, 2);
        assert_eq!(
            scan.part(&message(NLMSG_DONE, 0x02, 3, &[0; 4])).unwrap(),
            None
        );
        // A length past the datagram is an error, not a panic.
        let mut truncated = message(NLMSG_DONE, 0x02, 2, &[0; 4]);
        truncated[0] = 200;
        assert!(scan.part(&truncated).is_err());
    }

    #[test]
    fn loopback_lookups_read_the_real_table() {
        // A real dump, on any machine, without privileges. Loopback resolves
        // nothing: what the kernel holds for 127.0.0.1 (a NOARP entry once
        // something was sent to it) is loopback's all-zero address.
        let lo = iface::index("lo").unwrap();
        let local = lookup(lo, IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        assert!(local.is_none_or(|mac| mac == [0; 6]), "{local:?}");
        assert_eq!(lookup(lo, "192.0.2.1".parse().unwrap()).unwrap(), None);
        assert_eq!(lookup(lo, "2001:db8::1".parse().unwrap()).unwrap(), None);
        assert_eq!(
            lookup(u32::MAX, "192.0.2.1".parse().unwrap()).unwrap(),
            None
        );
    }
}

/// Entries added with `ip neigh replace` in a network namespace of the test's
/// own, read back by a thread that joined it. Needs root: skipped, loudly,
/// otherwise.
#[cfg(test)]
mod kernel_tests {
    use super::*;
    use crate::xdp::iface;
    use std::os::fd::AsRawFd;
    use std::process::Command;

    fn root() -> bool {
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        if !root {
            eprintln!("SKIPPED: the neighbour table test needs root (ip netns, ip neigh); not run");
        }
        root
    }

    fn ip(args: &[&str]) {
        let status = Command::new("ip").args(args).status().expect("ip runs");
        assert!(status.success(), "ip {args:?} failed");
    }

    /// The namespace, deleted on drop (with the veth pair in it).
    struct Namespace(String);

    impl Drop for Namespace {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    #[test]
    fn entries_added_with_ip_neigh_are_found() {
        if !root() {
            return;
        }
        if Command::new("ip").arg("-V").output().is_err() {
            eprintln!("SKIPPED: no `ip` command (iproute2); not run");
            return;
        }
        let name = format!("dnslb-neigh-{}", std::process::id());
        ip(&["netns", "add", &name]);
        let namespace = Namespace(name);
        let ns = namespace.0.as_str();
        ip(&[
            "-n", ns, "link", "add", "nb0", "type", "veth", "peer", "name", "nb1",
        ]);
        ip(&["-n", ns, "link", "set", "nb0", "up"]);
        ip(&["-n", ns, "link", "set", "nb1", "up"]);
        ip(&[
            "-n",
            ns,
            "neigh",
            "replace",
            "198.51.100.7",
            "lladdr",
            "02:11:22:33:44:55",
            "dev",
            "nb0",
            "nud",
            "permanent",
        ]);
        ip(&[
            "-n",
            ns,
            "neigh",
            "replace",
            "2001:db8::7",
            "lladdr",
            "02:66:77:88:99:aa",
            "dev",
            "nb0",
            "nud",
            "permanent",
        ]);
        let path = format!("/var/run/netns/{ns}");
        let found = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("the namespace's file");
            // SAFETY: joins the network namespace `file` names; network
            // namespaces are per thread, so only this thread moves.
            let joined = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(joined, 0, "setns: {}", io::Error::last_os_error());
            let nb0 = iface::index("nb0").unwrap();
            let nb1 = iface::index("nb1").unwrap();
            (
                lookup(nb0, "198.51.100.7".parse().unwrap()).unwrap(),
                lookup(nb0, "2001:db8::7".parse().unwrap()).unwrap(),
                lookup(nb1, "198.51.100.7".parse().unwrap()).unwrap(),
                lookup(nb0, "198.51.100.8".parse().unwrap()).unwrap(),
            )
        })
        .join()
        .expect("the lookup thread");
        assert_eq!(found.0, Some([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]));
        assert_eq!(found.1, Some([0x02, 0x66, 0x77, 0x88, 0x99, 0xaa]));
        assert_eq!(found.2, None, "the entry is nb0's, not nb1's");
        assert_eq!(found.3, None, "no entry for that address");
    }
}
