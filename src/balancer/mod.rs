//! Backend selection: which of a service's backends answer a query.
//!
//! Pure policy code, like [`crate::wire`]: no sockets, no clock. A [`Pool`]
//! is built off the fast path, once per (service, address family) and again
//! whenever health changes, from the backends of that family
//! ([`BackendInfo`]) and the service's settings ([`PoolSpec`]); everything a
//! policy can decide in advance (which backends are eligible, the priority
//! level, each region's fallback, the weighted-draw tables) is decided then.
//! Per query, [`Pool::select`] writes the chosen backend indices into a
//! caller-owned [`Chosen`] and returns a [`Choice`]; it allocates nothing,
//! takes no lock and touches no shared mutable state: the random generator
//! and round-robin counters are the calling worker's own ([`WorkerState`]).
//! What a selection takes and gives ([`Client`], [`Chosen`], [`Choice`]) is
//! defined here, shared by `pool` and `rendezvous`.
//!
//! - [`pool`]: the policies and their precomputed tables.
//! - `alias`: Vose alias tables, for weighted draws in O(1).
//! - `rendezvous`: weighted rendezvous hashing of client subnets, for hash.
//! - [`geo`]: the client [`Topology`], longest prefix match to a region.
//! - [`random`]: the per-worker random generator and rotation counters.
//! - [`trace`]: why `select` chose what it chose, for `/explain`; the data
//!   plane's [`NoTrace`] compiles to nothing.

mod alias;
pub mod geo;
pub mod pool;
pub mod random;
mod rendezvous;
pub mod trace;

use std::net::IpAddr;

pub use geo::Topology;
pub use pool::{BackendInfo, Pool, PoolSpec};
pub use random::WorkerState;
pub use trace::{NoTrace, PickReason, Recorder, Trace, TraceEvent};

/// A region's index (into the config's region list).
pub type RegionId = u16;

/// How a service picks its backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Each up backend in turn.
    RoundRobin,
    /// At random, in proportion to weight.
    Weighted,
    /// By rendezvous hash of the client's subnet, so a subnet keeps its
    /// backends.
    Hash,
    /// The up backends of the best (lowest) priority level only.
    Priority,
    /// The up backends of the client's region, then its fallbacks.
    Geo,
    /// At random, in proportion to spare capacity.
    LeastLoaded,
}

impl Policy {
    /// Every policy, in declaration order.
    pub const ALL: [Policy; 6] = [
        Policy::RoundRobin,
        Policy::Weighted,
        Policy::Hash,
        Policy::Priority,
        Policy::Geo,
        Policy::LeastLoaded,
    ];

    /// The policy's name as the config file spells it.
    pub fn name(self) -> &'static str {
        match self {
            Policy::RoundRobin => "round_robin",
            Policy::Weighted => "weighted",
            Policy::Hash => "hash",
            Policy::Priority => "priority",
            Policy::Geo => "geo",
            Policy::LeastLoaded => "least_loaded",
        }
    }
}

/// What a service answers when none of its backends is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WhenAllDown {
    /// Pick from every backend as if all were up (gdnsd's behaviour).
    All,
    /// Answer the service's fallback addresses.
    Fallback,
    /// Answer NOERROR with no records (NODATA).
    Empty,
    /// Answer SERVFAIL.
    ServFail,
}

impl WhenAllDown {
    /// Every action, in declaration order.
    pub const ALL: [WhenAllDown; 4] = [
        WhenAllDown::All,
        WhenAllDown::Fallback,
        WhenAllDown::Empty,
        WhenAllDown::ServFail,
    ];

    /// The action's name as the config file spells it.
    pub fn name(self) -> &'static str {
        match self {
            WhenAllDown::All => "all",
            WhenAllDown::Fallback => "fallback",
            WhenAllDown::Empty => "empty",
            WhenAllDown::ServFail => "servfail",
        }
    }
}

/// Most backends one answer may hold.
pub const MAX_ANSWERS: usize = 16;

/// The querying client: the ECS address and source prefix when the query had
/// ECS, else the packet's source address with a full-length prefix (32 /
/// 128).
#[derive(Clone, Copy, Debug)]
pub struct Client {
    /// The address (ECS: with the bits past the source prefix zero).
    pub address: IpAddr,
    /// ECS SOURCE PREFIX-LENGTH, or the address's full length.
    pub source_prefix: u8,
}

impl Client {
    /// A client known by its full address (a query without ECS).
    pub fn from_address(address: IpAddr) -> Client {
        let source_prefix = match address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        Client {
            address,
            source_prefix,
        }
    }
}

/// Chosen backend indices (into [`PoolSpec::backends`]), distinct, at most
/// `answers`, in answer order.
#[derive(Clone, Copy, Debug, Default)]
pub struct Chosen {
    /// The indices; only the first `len` mean anything.
    pub indices: [u16; MAX_ANSWERS],
    /// How many indices are chosen.
    pub len: usize,
}

impl Chosen {
    /// The chosen indices, in answer order.
    #[inline]
    pub fn as_slice(&self) -> &[u16] {
        self.indices.get(..self.len).unwrap_or(&self.indices[..])
    }

    #[inline]
    fn contains(&self, index: u16) -> bool {
        self.as_slice().contains(&index)
    }

    /// Appends `index`; ignored when full.
    #[inline]
    fn push(&mut self, index: u16) {
        if let Some(slot) = self.indices.get_mut(self.len) {
            *slot = index;
            self.len += 1;
        }
    }
}

/// What to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Answer the backends in [`Chosen`]. `scope_prefix` is the ECS SCOPE
    /// PREFIX-LENGTH to return: the topology's scope for geo, the hashing
    /// prefix for hash, 0 otherwise.
    Backends { scope_prefix: u8 },
    /// Every backend is down and when_all_down = fallback: answer the
    /// service's fallback list.
    Fallback,
    /// Every backend is down and when_all_down = empty (or the pool has no
    /// backend and when_all_down = all): answer NODATA.
    Empty,
    /// Every backend is down and when_all_down = servfail.
    ServFail,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_config_spelling() {
        let names: Vec<&str> = Policy::ALL.iter().map(|policy| policy.name()).collect();
        assert_eq!(
            names,
            [
                "round_robin",
                "weighted",
                "hash",
                "priority",
                "geo",
                "least_loaded"
            ]
        );
        let actions: Vec<&str> = WhenAllDown::ALL
            .iter()
            .map(|action| action.name())
            .collect();
        assert_eq!(actions, ["all", "fallback", "empty", "servfail"]);
    }
}
