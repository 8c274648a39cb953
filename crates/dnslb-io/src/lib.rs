//! dnslb-io: the unsafe I/O of dnslb and its load generator, `dnslb-loadgen`,
//! behind a safe typed API (as `quinn-udp` is for quinn). The server's UDP workers
//! and the generator's sender, receiver and reflector call the same code; neither
//! has `unsafe` of its own. Nothing in here knows DNS: it moves datagrams, sets up
//! sockets and places threads.
//!
//! Module map:
//!
//! * [`batch`]: batched UDP receive and reply (`recvmmsg` / `sendmmsg`) with
//!   buffers allocated once: [`batch::ReceiveBatch`] receives datagrams and their
//!   senders (and sends them back in place, for the reflector),
//!   [`batch::UdpBatch`] adds a reply buffer per slot and sends the replies
//!   back from the address each datagram was sent to (packet info). The server's
//!   hot path.
//! * [`send`]: staged datagrams out on a connected socket with one `sendmmsg`,
//!   runs of equal sizes merged into UDP GSO messages (`UDP_SEGMENT`). The
//!   generator's send path.
//! * [`socket`]: creating UDP sockets (bound or connected) and TCP listeners with
//!   the options the batches rely on: `SO_REUSEPORT`, buffer sizes, read timeout,
//!   `IPV6_V6ONLY`, packet info.
//! * [`poll`]: waiting on a fixed set of descriptors with `ppoll`.
//! * [`cpu`]: the CPUs the process may use, pinning a thread to one, a thread's
//!   timer slack.
//! * [`netns`]: moving a thread into a named network namespace (test beds).
//! * [`xdp`]: AF_XDP: the UMEM and its fill, completion, receive and transmit
//!   rings of a socket bound to one NIC queue, the BPF filter program that
//!   steers our UDP traffic to those sockets (everything else stays with the
//!   kernel) and its attachment to the interface, and [`xdp::frame`]:
//!   parsing and building Ethernet + IPv4/IPv6 + UDP headers in place.
//!
//! Invariants kept by every module:
//!
//! * every `unsafe {}` block has a `// SAFETY:` comment saying why it is sound
//!   (the workspace denies `clippy::undocumented_unsafe_blocks`);
//! * no raw pointer leaves the crate, and every pointer handed to the kernel points
//!   into memory owned by the value that makes the call;
//! * buffers are allocated when a value is built, never on a receive, send or wait.
//!
//! This crate is the only crate root that allows `unsafe` code; the rest of the
//! workspace denies it (`[workspace.lints]`), except the process-level calls in
//! dnslb's `sys` module.
#![allow(unsafe_code)]

pub mod batch;
pub mod cpu;
pub mod netns;
pub mod poll;
pub mod send;
pub mod socket;
pub mod xdp;
