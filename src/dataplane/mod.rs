//! The data plane: pinned UDP workers ([`udp`]) answering batches, each
//! datagram through the pure per-datagram [`step`] (source checks, the
//! [`handler`] that answers from the snapshot, rate limiting); with `[xdp]`,
//! pinned XDP workers ([`xdp`]) that take frames from an AF_XDP socket per
//! NIC queue and answer them through the same step; and one TCP
//! thread ([`tcp`]) for RFC 7766 clients, whose length-prefix framing is the
//! pure state machine in [`framing`]. A NOTIFY is answered by [`notify`]
//! and queued for the transfer thread, whatever the front door.
//!
//! Reads only the snapshot (the zone module's name table among it), `wire`,
//! `balancer`, `rrl` and `stats` (and the workspace's I/O crate): never
//! config, zone loading, health or admin.

pub mod framing;
pub mod handler;
pub mod notify;
pub mod step;
pub mod tcp;
pub mod udp;
pub mod xdp;
