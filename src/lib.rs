//! dnslb: a high-performance authoritative DNS load balancer.
//!
//! ```text
//!  config.toml + zone files ──> config::load ──> control::build ──┐ (off the fast path)
//!  health events (mio probes) ──> control::Control ───────────────┤
//!  admin API (drain, reload) ─────────────────────────────────────┘
//!                                                                  │ ArcSwap::store (one swap)
//!                                                                  v
//!  NIC ─> SO_REUSEPORT socket per worker ─> recvmmsg batch ─> step::udp per datagram:
//!         Query::parse (domain, borrowed) ─> name table lookup ─> balancer select
//!         ─> pre-rendered fragments ─> rate limiting ─> sendmmsg batch
//!                                                 [one pinned thread per core, no locks]
//! ```
//!
//! Two planes. The **data plane** ([`dataplane`]) is one pinned worker thread
//! per core, each with its own socket, buffers and counters; it never
//! allocates, locks or logs, and makes no syscall but the batch I/O. Each
//! datagram goes through one pure function, [`dataplane::step::udp`]:
//! snapshot, bytes and client in, reply bytes and what to do with them out.
//! The **control plane** is everything else: config ([`config`]) and zone
//! ([`zone`]) loading, health checks ([`health`]), the admin API
//! ([`admin`]), secondary zones kept in step with their primaries
//! ([`xfr`]), and [`control`], which builds the immutable
//! [`snapshot::Snapshot`] and publishes it with one atomic swap.
//!
//! `unsafe` lives only in the workspace's I/O crate, [`dnslb_io`] (batch
//! I/O, socket set-up, CPU pinning) and in [`sys`] (process-level calls: privileges,
//! limits, the monotonic clock, the kernel's randomness); every block there
//! carries a `// SAFETY:` comment. The rest is `#![deny(unsafe_code)]`.
//!
//! # Dependency rules
//!
//! A module uses only the modules on its row (its own submodules aside), so
//! the imports form layers without cycles: leaves, pure logic, data, the
//! data plane, the control plane, start-up. `tests/e2e/layering.rs` reads
//! this table and fails on any `crate::` path outside it (test modules
//! aside). A row of the form `module::sub` allows that submodule only.
//!
//! | module | may use |
//! |---|---|
//! | `hash` | |
//! | `wire` | |
//! | `sys` | |
//! | `stats` | `wire` |
//! | `balancer` | `hash` `wire` |
//! | `rrl` | `hash` |
//! | `health` | `hash` |
//! | `notify` | `sys` |
//! | `config` | `balancer` `health` `rrl` `sys` `wire` |
//! | `zone` | `config` `hash` `wire` |
//! | `service` | `balancer` `config` `health` `stats` `wire` `zone` |
//! | `snapshot` | `rrl` `service` `wire` `zone::table` |
//! | `dataplane` | `balancer` `rrl` `snapshot` `stats` `wire` `zone::table` |
//! | `control` | `config` `health` `rrl` `service` `snapshot` `stats` `sys` `wire` `zone` |
//! | `xfr` | `config` `control` `sys` `wire` `zone` |
//! | `admin` | `balancer` `control` `dataplane` `service` `snapshot` `stats` `sys` `wire` `xfr` `zone` |
//! | `runtime` | `admin` `config` `control` `dataplane` `health` `notify` `snapshot` `stats` `sys` `wire` `xfr` `zone` |
//! | `fuzzing` | `balancer` `config` `control` `dataplane` `snapshot` `wire` |
//!
//! In words: `wire/`, `balancer/` and `rrl` are pure and know nothing of
//! where their bytes come from; the snapshot is plain data and imports no
//! data-plane or control-plane code; the data plane reads the snapshot (the
//! name table among it), never config, zone loading, health or admin; the
//! control plane may use everything below it and nothing below it uses the
//! control plane.
#![deny(unsafe_code)]

pub mod admin;
pub mod balancer;
pub mod config;
pub mod control;
pub mod dataplane;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod hash;
pub mod health;
pub mod notify;
pub mod rrl;
pub mod runtime;
pub mod service;
pub mod snapshot;
pub mod stats;
pub mod sys;
pub mod wire;
pub mod xfr;
pub mod zone;
