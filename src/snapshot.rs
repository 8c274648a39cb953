//! The snapshot: everything a worker reads to answer, in one immutable
//! value, and the single atomic pointer it is published through.
//!
//! Workers `load` the current snapshot once per batch and answer the whole
//! batch from it; the control plane builds a complete new one off the fast
//! path ([`crate::control::build`]) and publishes it with one
//! `ArcSwap::store`. There is never a second pointer a reader could see
//! half-updated.
//!
//! Plain data: this module builds nothing and imports nothing of the data
//! plane; the types it holds are defined beside the code that fills them
//! (zones, services, rate limiting) or reads them (wire).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};

use crate::rrl::RateLimiter;
use crate::service::Services;
use crate::wire::fragment::{FragmentId, FragmentStore};
use crate::wire::notify::{Intake, NotifyRules};
use crate::zone::table::NameTable;

/// Answers to CHAOS-class TXT queries (`version.bind`, `id.server`), when
/// configured.
#[derive(Debug, Default)]
pub struct ChaosAnswers {
    pub version: Option<FragmentId>,
    pub identity: Option<FragmentId>,
    pub fragments: FragmentStore,
}

impl ChaosAnswers {
    /// The answer for a lowercase CH TXT query name, if configured.
    #[inline]
    pub fn find(&self, lowercase_name: &[u8]) -> Option<FragmentId> {
        match lowercase_name {
            b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => self.version,
            b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => self.identity,
            _ => None,
        }
    }
}

/// What a snapshot holds, for start-up logs and `check`.
#[derive(Clone, Copy, Debug)]
pub struct BuildSummary {
    pub zones: usize,
    pub services: usize,
    pub records: usize,
    pub names: usize,
    /// Memory the name table holds (see `NameTable::heap_bytes`).
    pub table_bytes: usize,
    pub build_time: Duration,
}

/// Everything the data plane reads, immutable once built.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases by one with every published snapshot.
    pub generation: u64,
    /// The EDNS UDP payload size we advertise and cap UDP replies at.
    pub udp_payload: u16,
    /// Whether EDNS Client Subnet in queries is honoured (and echoed).
    pub client_subnet: bool,
    /// All zones' names and pre-rendered RRsets (shared between snapshots
    /// that differ only in backend state).
    pub table: Arc<NameTable>,
    /// Load-balanced services, their pools and the topology (shared between
    /// snapshots that differ only in zone data patched by an IXFR).
    pub services: Arc<Services>,
    /// CHAOS TXT answers.
    pub chaos: Arc<ChaosAnswers>,
    /// Response rate limiting for UDP (`[rrl]`); `None` when off. Its
    /// buckets are shared by every snapshot until a reload changes the
    /// table.
    pub rrl: Option<Arc<RateLimiter>>,
    /// Which zones take NOTIFY, from where and with which key.
    pub notify_rules: Arc<NotifyRules>,
    /// Where accepted NOTIFYs go: the same for the server's life.
    pub notify_intake: Arc<Intake>,
    pub summary: BuildSummary,
}

/// The published snapshot: one atomic pointer, read without locks.
#[derive(Debug)]
pub struct SharedSnapshot {
    current: ArcSwap<Snapshot>,
}

impl SharedSnapshot {
    /// Publishes `snapshot` as the first.
    pub fn new(snapshot: Snapshot) -> SharedSnapshot {
        SharedSnapshot {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The current snapshot. Lock-free and allocation-free after a thread's
    /// first call; hold it for one batch, not longer.
    #[inline]
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The current snapshot as an owned `Arc`, for the control plane (which
    /// may hold it as long as it likes).
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Replaces the snapshot in one swap and returns the one it replaced, so
    /// the caller decides where it is freed (not on a worker).
    pub fn replace(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        self.current.swap(Arc::new(snapshot))
    }
}
