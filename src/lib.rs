//! dnslb: a high-performance authoritative DNS load balancer.
//!
//! ```text
//!  config.toml + zone files ──> config::load ──> Snapshot::build ──┐ (off the fast path)
//!                                                                   │ ArcSwap::store (one swap)
//!                                                                   v
//!  NIC ─> SO_REUSEPORT socket per worker ─> recvmmsg batch ─> Query::parse (domain, borrowed)
//!         ─> Snapshot lookup (name table) ─> answer::write (pre-rendered RRs)
//!         ─> sendmmsg batch                       [one pinned thread per core, no locks]
//! ```
//!
//! Two planes. The **data plane** ([`dataplane`]) is one pinned worker thread
//! per core, each with its own socket, buffers and counters; it never
//! allocates, locks, logs or makes a syscall but the batch I/O. The **control
//! plane** is everything else: config ([`config`]) and zone ([`zone`])
//! loading, building the immutable [`snapshot::Snapshot`] and publishing it
//! with one atomic swap.
//!
//! `unsafe` lives only in the [`dnslb_io`] crate (socket I/O, CPU pinning) and
//! in [`sys`] (process-level calls).
#![deny(unsafe_code)]

pub mod admin;
pub mod balancer;
pub mod config;
pub mod control;
pub mod dataplane;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod notify;
pub mod runtime;
pub mod service;
pub mod snapshot;
pub mod stats;
pub mod sys;
pub mod wire;
pub mod zone;
