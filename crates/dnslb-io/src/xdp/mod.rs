//! AF_XDP: answering UDP from raw frames, beside the kernel's socket path.
//!
//! * [`attach`]: the whole set-up of one interface (filter, a socket per
//!   queue, the link), shared by the server and the generator;
//! * [`bpf`]: the filter program (assembled here, loaded with `bpf(2)`) that
//!   redirects our UDP to the AF_XDP sockets and passes everything else to the
//!   kernel, the map of sockets per queue, the link that attaches it;
//! * [`socket`]: an AF_XDP socket with its UMEM and fill, completion, receive
//!   and transmit rings;
//! * [`frame`]: parsing and building Ethernet + IPv4/IPv6 + UDP headers in
//!   place, with their Internet checksums (safe code);
//! * [`iface`]: an interface's index, MTU, hardware address, queues and
//!   addresses;
//! * [`neighbour`]: the kernel's neighbour table (rtnetlink): the hardware
//!   address to send a frame to.

pub mod attach;
pub mod bpf;
pub mod frame;
pub mod iface;
pub mod neighbour;
pub mod socket;

/// Held by the tests that bind an AF_XDP socket to queue 0 of the loopback
/// interface: one socket at a time may hold a queue.
#[cfg(test)]
pub(crate) static LOOPBACK_QUEUE: std::sync::Mutex<()> = std::sync::Mutex::new(());
