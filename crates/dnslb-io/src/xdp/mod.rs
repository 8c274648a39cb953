//! AF_XDP: answering UDP from raw frames, beside the kernel's socket path.
//!
//! * [`bpf`]: the filter program (assembled here, loaded with `bpf(2)`) that
//!   redirects our UDP to the AF_XDP sockets and passes everything else to the
//!   kernel, the map of sockets per queue, the link that attaches it;
//! * [`socket`]: an AF_XDP socket with its UMEM and fill, completion, receive
//!   and transmit rings;
//! * [`iface`]: an interface's index, MTU, hardware address, queues and
//!   addresses.

pub mod bpf;
pub mod iface;
pub mod socket;
