//! AF_XDP support: the frames ([`frame`]: parsing and building Ethernet +
//! IPv4/IPv6 + UDP headers in place, with their Internet checksums), and in the
//! other modules here the UMEM with its fill, completion, receive and transmit
//! rings, and the BPF filter program that steers our UDP traffic to the AF_XDP
//! socket, with its attachment to a NIC queue.

pub mod frame;
