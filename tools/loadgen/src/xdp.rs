//! AF_XDP for `run --xdp` and `reflect --xdp`: the filter attached to an
//! interface with one AF_XDP socket per receive queue ([`attach`]), and the
//! generator's transport ([`XdpTransport`]) that sends pre-built query frames
//! and takes the replies straight from the receive ring.
//!
//! The generator's frames: one template per packet of the set, written once
//! with [`write_udp`] (Ethernet, IP and UDP headers with full checksums, from
//! the source address and [`PORT_BASE`] to the server); a send copies the
//! template into a free UMEM frame and patches the source port (one per engine
//! "socket": [`PORT_BASE`] + n) and the DNS ID with [`patch_port_and_id`],
//! which updates the UDP checksum incrementally. The filter on the generator's
//! interface redirects only UDP to the source address on those ports, so the
//! kernel keeps everything else (ARP, neighbour discovery, its own traffic).
//!
//! Invariants:
//!
//! * every UMEM, ring, template and descriptor array exists before the first
//!   send; sending, receiving and waiting allocate nothing and call the kernel
//!   only to kick the transmit ring (once per [`KICK_FRAMES`] frames or per
//!   round of sends), wake the receive side, or sleep in `ppoll`;
//! * frames are sent on queue 0's socket; the receive side of each socket keeps
//!   one ring's worth of frames in the kernel's hands (a received frame is
//!   given back to the fill ring as soon as its reply is read), so the other
//!   ring's worth is always there for sending;
//! * dropping the transport (or the [`Attachment`]) detaches the filter; so
//!   does the process ending in any way.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use anyhow::{Context, bail};
use dnslb_io::poll::Poller;
use dnslb_io::xdp::attach::Attached;
use dnslb_io::xdp::bpf::{AttachMode, Rule};
use dnslb_io::xdp::frame::{Mac, header_len, parse_udp, patch_port_and_id, write_udp};
use dnslb_io::xdp::iface;
use dnslb_io::xdp::neighbour;
use dnslb_io::xdp::socket::{
    Desc, SocketConfig, Statistics, StatisticsReader, XdpSocket, ZeroCopy,
};

use crate::engine::{Reply, Transport};
use crate::packet::PacketSet;

/// Bytes per UMEM frame.
pub const FRAME_SIZE: u32 = 2048;

/// Entries per ring; each socket's UMEM holds twice as many frames.
pub const RING_SIZE: u32 = 4096;

/// The generator's first source port; engine socket `n` is port
/// `PORT_BASE + n`.
pub const PORT_BASE: u16 = 32768;

/// The generator kicks the transmit ring once this many frames are queued,
/// and after every round of sends.
pub const KICK_FRAMES: usize = 64;

/// Most frames taken from a receive ring at once.
pub const RECEIVE_BATCH: usize = 64;

/// Most receive batches per socket and receive call: a whole receive ring's
/// worth, so each call drains what arrived while the last round of sends went
/// out (a round may send more than one batch) and the ring never overflows
/// while the generator is busy sending.
const RECEIVE_ROUNDS: usize = RING_SIZE as usize / RECEIVE_BATCH;

/// Kicks tried in a row while the kernel answers that it is busy (`EAGAIN`:
/// the per-kick budget or the socket's send buffer); the rest waits for the
/// next round.
const KICK_TRIES: usize = 8;

/// The filter attached to an interface, with one AF_XDP socket per receive
/// queue registered in it. Dropping it detaches the filter first.
pub struct Attachment {
    attached: Attached,
    mode: AttachMode,
    /// Socket `q` is bound to receive queue `q`.
    pub sockets: Vec<XdpSocket>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Attachment")
            .field("attached", &self.attached)
            .field("sockets", &self.sockets.len())
            .finish()
    }
}

impl Attachment {
    /// Whether the program runs in the driver or in the generic path.
    pub fn mode(&self) -> AttachMode {
        self.mode
    }

    /// Whether the sockets run in zero-copy mode (all or none do: one driver).
    pub fn zero_copy(&self) -> bool {
        self.sockets.iter().all(XdpSocket::zero_copy)
    }
}

/// Loads the filter for `rules` on interface `name` and opens and registers
/// one AF_XDP socket per receive queue ([`dnslb_io::xdp::attach`]: in the
/// driver, or in the generic path when the driver has no XDP). Needs root
/// (or `CAP_NET_ADMIN`, `CAP_NET_RAW` and `CAP_BPF`).
pub fn attach(name: &str, rules: &[Rule]) -> anyhow::Result<Attachment> {
    let ifindex = iface::index(name).with_context(|| format!("interface {name}"))?;
    let queues = iface::rx_queues(name).with_context(|| format!("interface {name}"))?;
    let config = SocketConfig {
        frame_size: FRAME_SIZE,
        ring_size: RING_SIZE,
        zero_copy: ZeroCopy::Auto,
    };
    let queues: Vec<u32> = (0..queues).collect();
    let attachment = dnslb_io::xdp::attach::Attachment::new(ifindex, &queues, rules, config)
        .map_err(|error| {
            let hint = if error.is_privilege() {
                " (root, or CAP_BPF, CAP_NET_ADMIN and CAP_NET_RAW, is needed)"
            } else {
                ""
            };
            anyhow::anyhow!("AF_XDP on {name}: {error}{hint}")
        })?;
    let mode = attachment.mode();
    let (sockets, attached) = attachment.split();
    let sockets: Vec<XdpSocket> = sockets.into_iter().map(|(_, socket)| socket).collect();
    for socket in &sockets {
        // Best effort: kernels before 6.17 send 32 frames per kick, and the
        // kick is simply repeated.
        let _ = socket.set_tx_budget(RING_SIZE);
    }
    Ok(Attachment {
        attached,
        mode,
        sockets,
    })
}

/// The kernel's counters summed over `readers` (those it cannot read count
/// nothing).
pub fn statistics_sum(readers: &[StatisticsReader]) -> Statistics {
    let mut sum = Statistics::default();
    for statistics in readers.iter().filter_map(|reader| reader.read().ok()) {
        sum.rx_dropped += statistics.rx_dropped;
        sum.rx_ring_full += statistics.rx_ring_full;
        sum.rx_fill_ring_empty += statistics.rx_fill_ring_empty;
        sum.tx_invalid += statistics.tx_invalid;
    }
    sum
}

/// The generator's source address: the interface's first address of the
/// server's family, one that is not link-local when there is one.
pub fn source_address(name: &str, server: SocketAddr) -> anyhow::Result<IpAddr> {
    let addresses = iface::addresses(name).with_context(|| format!("interface {name}"))?;
    let same_family: Vec<IpAddr> = addresses
        .into_iter()
        .filter(|address| address.is_ipv4() == server.is_ipv4())
        .collect();
    let link_local = |address: &IpAddr| match address {
        IpAddr::V6(address) => address.is_unicast_link_local(),
        IpAddr::V4(address) => address.is_link_local(),
    };
    same_family
        .iter()
        .find(|address| !link_local(address))
        .or(same_family.first())
        .copied()
        .with_context(|| {
            format!(
                "{name} has no {} address to send from: pass --src ADDR",
                if server.is_ipv4() { "IPv4" } else { "IPv6" }
            )
        })
}

/// The server's hardware address from the kernel's neighbour table on
/// interface `name`.
pub fn destination_mac(name: &str, server: SocketAddr) -> anyhow::Result<Mac> {
    let ifindex = iface::index(name).with_context(|| format!("interface {name}"))?;
    let ip = server.ip();
    neighbour::lookup(ifindex, ip)
        .context("cannot read the kernel's neighbour table")?
        .with_context(|| {
            format!(
                "no neighbour entry for {ip} on {name}: pass --dst-mac MAC (the server's, or the \
                 next hop's when it is not on the link); `ip neigh show dev {name}` lists the \
                 table, and any traffic through the kernel to {ip} (a ping) adds the entry"
            )
        })
}

/// Parses `02:11:22:33:44:55` (or with `-`).
pub fn parse_mac(text: &str) -> Result<Mac, String> {
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for byte in &mut mac {
        let part = parts
            .next()
            .filter(|part| (1..=2).contains(&part.len()))
            .ok_or_else(|| format!("bad MAC address {text:?}: expected six hex bytes"))?;
        *byte = u8::from_str_radix(part, 16)
            .map_err(|_| format!("bad MAC address {text:?}: {part:?} is not hex"))?;
    }
    if parts.next().is_some() {
        return Err(format!("bad MAC address {text:?}: more than six bytes"));
    }
    Ok(mac)
}

/// Where the generator's frames come from and go to.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// The interface towards the server.
    pub iface: String,
    pub source: IpAddr,
    pub source_mac: Mac,
    pub server: SocketAddr,
    pub server_mac: Mac,
    /// Source ports (engine sockets): `PORT_BASE..PORT_BASE + ports`.
    pub ports: u16,
}

/// One pre-built frame per packet of the set, all in one buffer.
#[derive(Debug)]
struct Templates {
    bytes: Vec<u8>,
    /// Start and length of each packet's frame.
    spans: Vec<(usize, usize)>,
}

impl Templates {
    fn build(packets: &PacketSet, endpoints: &Endpoints) -> Templates {
        let source = SocketAddr::new(endpoints.source, PORT_BASE);
        let header = header_len(source);
        let mut bytes = Vec::new();
        let mut spans = Vec::with_capacity(packets.len());
        for index in 0..packets.len() {
            let payload = packets.packet(index);
            let start = bytes.len();
            bytes.resize(start + header, 0);
            bytes.extend_from_slice(payload);
            let length = write_udp(
                &mut bytes[start..],
                endpoints.source_mac,
                endpoints.server_mac,
                source,
                endpoints.server,
                payload.len(),
            );
            spans.push((start, length));
        }
        Templates { bytes, spans }
    }

    fn frame(&self, packet: usize) -> &[u8] {
        let (start, length) = self.spans[packet];
        &self.bytes[start..start + length]
    }
}

/// The generator's transport over AF_XDP: engine socket `n` is source port
/// [`PORT_BASE`] + n.
#[derive(Debug)]
pub struct XdpTransport {
    attachment: Attachment,
    templates: Templates,
    header_len: usize,
    server: SocketAddr,
    ports: u16,
    /// The frames of the send being staged.
    staged: Vec<Desc>,
    /// The receive batch.
    descs: Vec<Desc>,
    /// Frames on the transmit ring not yet kicked.
    unkicked: usize,
    /// The last kick left frames on the ring.
    kick_pending: bool,
    poller: Poller,
    errors: u64,
}

impl XdpTransport {
    /// Attaches the reply filter to the interface and builds the frames of
    /// `packets`; sends of up to `batch` queries per source port.
    pub fn open(
        endpoints: &Endpoints,
        packets: &PacketSet,
        batch: usize,
    ) -> anyhow::Result<XdpTransport> {
        if endpoints.source.is_ipv4() != endpoints.server.is_ipv4() {
            bail!(
                "--src {} and --server {} are of different address families",
                endpoints.source,
                endpoints.server
            );
        }
        let ports = endpoints.ports.max(1);
        let rule = Rule {
            destination: endpoints.source,
            ports: PORT_BASE..=PORT_BASE + (ports - 1),
        };
        let attachment = attach(&endpoints.iface, &[rule])?;
        let descriptors: Vec<_> = attachment.sockets.iter().map(AsRawFd::as_raw_fd).collect();
        Ok(XdpTransport {
            poller: Poller::new(&descriptors),
            attachment,
            templates: Templates::build(packets, endpoints),
            header_len: header_len(endpoints.server),
            server: endpoints.server,
            ports,
            staged: vec![Desc::default(); batch.max(1)],
            descs: vec![Desc::default(); RECEIVE_BATCH],
            unkicked: 0,
            kick_pending: false,
            errors: 0,
        })
    }

    /// Readers of the sockets' kernel counters, for after the run (the
    /// transport moves to the generator thread).
    pub fn statistics_readers(&self) -> std::io::Result<Vec<StatisticsReader>> {
        self.attachment
            .sockets
            .iter()
            .map(XdpSocket::statistics_reader)
            .collect()
    }

    /// Publishes the queued frames and kicks the kernel to send them,
    /// repeating the kick a few times while it answers busy.
    fn kick(&mut self) {
        if self.unkicked == 0 && !self.kick_pending {
            return;
        }
        let socket = &mut self.attachment.sockets[0];
        let mut done = if self.unkicked > 0 {
            socket.flush()
        } else {
            socket.kick()
        };
        for _ in 1..KICK_TRIES {
            if done {
                break;
            }
            done = socket.kick();
        }
        self.unkicked = 0;
        self.kick_pending = !done;
    }
}

impl Transport for XdpTransport {
    fn sockets(&self) -> usize {
        usize::from(self.ports)
    }

    fn room(&mut self, _socket: usize) -> usize {
        let socket = &mut self.attachment.sockets[0];
        socket.complete();
        socket.free_frames().min(self.staged.len())
    }

    fn stage(&mut self, socket: usize, index: usize, packet: usize, _bytes: &[u8], id: u16) {
        let xsk = &mut self.attachment.sockets[0];
        let Some(addr) = xsk.allocate() else {
            // Not after `room`; an empty descriptor stops the send here.
            self.staged[index] = Desc::default();
            return;
        };
        let template = self.templates.frame(packet);
        let frame = xsk.frame_mut(addr);
        frame[..template.len()].copy_from_slice(template);
        let port = PORT_BASE + socket as u16;
        patch_port_and_id(frame, self.header_len, port, id);
        self.staged[index] = Desc {
            addr,
            len: template.len() as u32,
        };
    }

    fn send(&mut self, _socket: usize, count: usize) -> usize {
        let xsk = &mut self.attachment.sockets[0];
        let mut sent = 0;
        while sent < count {
            let desc = self.staged[sent];
            if desc.len == 0 || !xsk.transmit(desc.addr, desc.len) {
                break;
            }
            sent += 1;
        }
        // What did not go back to the free list (`transmit` recycles the frame
        // it refuses).
        let refused = usize::from(sent < count && self.staged[sent].len != 0);
        for desc in &self.staged[sent + refused..count] {
            if desc.len != 0 {
                xsk.recycle(desc.addr);
            }
        }
        self.unkicked += sent;
        if self.unkicked >= KICK_FRAMES {
            self.kick();
        }
        sent
    }

    fn flush(&mut self) {
        self.kick();
    }

    fn receive<F: FnMut(Reply<'_>)>(&mut self, mut on_reply: F) -> usize {
        if self.kick_pending {
            self.kick();
        }
        let XdpTransport {
            attachment,
            descs,
            server,
            ports,
            ..
        } = self;
        let mut delivered = 0;
        for socket in &mut attachment.sockets {
            if socket.fill_needs_wakeup() {
                socket.wake();
            }
            for _ in 0..RECEIVE_ROUNDS {
                let count = socket.receive(descs);
                socket.touch(&descs[..count]);
                let mut first = true;
                for desc in &descs[..count] {
                    let frame = socket.frame_mut(desc.addr);
                    let length = (desc.len as usize).min(frame.len());
                    let frame = &frame[..length];
                    if let Ok(parsed) = parse_udp(frame)
                        && parsed.source.ip() == server.ip()
                        && parsed.source.port() == server.port()
                        && let Some(port) = parsed.destination.port().checked_sub(PORT_BASE)
                        && port < *ports
                    {
                        on_reply(Reply {
                            socket: usize::from(port),
                            message: &frame[parsed.payload_range()],
                            first,
                        });
                        first = false;
                        delivered += 1;
                    }
                    socket.recycle(desc.addr);
                }
                // The received frames go straight back to the kernel.
                socket.fill(count);
                if count < descs.len() {
                    break;
                }
            }
        }
        delivered
    }

    fn wait(&mut self, timeout: Duration) {
        self.kick();
        for socket in &mut self.attachment.sockets {
            socket.complete();
            if socket.fill_needs_wakeup() {
                socket.wake();
            }
        }
        if self.poller.wait(timeout).is_err() {
            self.errors += 1;
        }
    }

    fn errors(&self) -> u64 {
        self.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse() {
        assert_eq!(
            parse_mac("02:11:22:33:44:5f"),
            Ok([0x02, 0x11, 0x22, 0x33, 0x44, 0x5f])
        );
        assert_eq!(parse_mac("2-1-0-0-0-a"), Ok([2, 1, 0, 0, 0, 0xa]));
        assert!(parse_mac("02:11:22:33:44").is_err());
        assert!(parse_mac("02:11:22:33:44:55:66").is_err());
        assert!(parse_mac("02:11:22:33:44:zz").is_err());
        assert!(parse_mac("021:1:22:33:44:55").is_err());
    }

    #[test]
    fn templates_are_whole_frames_of_each_packet() {
        let queries = [
            crate::query::single("www.example.com", "A").unwrap(),
            crate::query::single("example.com", "AAAA").unwrap(),
        ];
        let packets = PacketSet::build(&queries, &crate::packet::Encoding::default(), &[]).unwrap();
        for (source, server) in [
            ("198.18.7.2", "198.18.7.1:53"),
            ("fd00:198:18:7::2", "[fd00:198:18:7::1]:5353"),
        ] {
            let endpoints = Endpoints {
                iface: "unused".into(),
                source: source.parse().unwrap(),
                source_mac: [2, 0, 0, 0, 0, 2],
                server: server.parse().unwrap(),
                server_mac: [2, 0, 0, 0, 0, 1],
                ports: 4,
            };
            let templates = Templates::build(&packets, &endpoints);
            for packet in 0..packets.len() {
                let mut frame = templates.frame(packet).to_vec();
                let header = header_len(endpoints.server);
                patch_port_and_id(&mut frame, header, PORT_BASE + 3, 0xbeef);
                let parsed = parse_udp(&frame).unwrap();
                assert_eq!(parsed.destination, endpoints.server);
                assert_eq!(
                    parsed.source,
                    SocketAddr::new(endpoints.source, PORT_BASE + 3)
                );
                let payload = &frame[parsed.payload_range()];
                assert_eq!(&payload[..2], &[0xbe, 0xef]);
                assert_eq!(&payload[2..], &packets.packet(packet)[2..]);
                assert_eq!(&frame[..6], &endpoints.server_mac);
                assert_eq!(&frame[6..12], &endpoints.source_mac);
                // The patched frame is what write_udp writes for that port and ID.
                let mut expected = vec![0; frame.len()];
                expected[header..].copy_from_slice(payload);
                write_udp(
                    &mut expected,
                    endpoints.source_mac,
                    endpoints.server_mac,
                    SocketAddr::new(endpoints.source, PORT_BASE + 3),
                    endpoints.server,
                    payload.len(),
                );
                assert_eq!(frame, expected);
            }
        }
    }
}
