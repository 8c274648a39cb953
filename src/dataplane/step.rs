//! One UDP datagram, start to end: who sent it, the query, the answer and
//! rate limiting. Snapshot + bytes + client in; reply bytes and what to do
//! with them out.
//!
//! Pure like the [`handler`] it calls: no sockets, no clock (the caller
//! passes the current second), no allocation, no lock. Every UDP front door
//! calls this one function: the socket workers ([`super::udp`]), the benches
//! and the allocation test. It needs only the datagram's bytes and its two
//! addresses, so a front door that strips the Ethernet, IP and UDP headers
//! itself calls it the same way. TCP needs none of the source checks or rate
//! limiting and calls [`handler::handle`] directly.

use std::net::SocketAddr;

use crate::balancer::WorkerState;
use crate::dataplane::handler::{self, Outcome};
use crate::rrl::{self, Verdict};
use crate::snapshot::Snapshot;
use crate::stats::Counters;
use crate::wire::answer::Transport;
use crate::wire::{DropReason, Rcode};

/// What a UDP thread keeps from one datagram to the next.
#[derive(Clone, Debug)]
pub struct UdpState {
    /// The policies' random generator and round-robin counters, and this
    /// thread's writer slot in the per-service counters.
    pub balancer: WorkerState,
    /// Responses this thread found over the rate (spaces the slips).
    pub rate_limited: u32,
}

impl UdpState {
    /// The state of a fresh thread with `balancer`.
    pub fn new(balancer: WorkerState) -> UdpState {
        UdpState {
            balancer,
            rate_limited: 0,
        }
    }
}

/// What to do with one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send the first `len` bytes of the reply buffer.
    Send {
        len: usize,
        rcode: Rcode,
        truncated: bool,
        /// Over the rate and slipped: the reply is the header and question
        /// only, with TC set.
        slipped: bool,
    },
    /// Send nothing.
    Drop(DropReason),
}

impl Action {
    /// Counts this outcome into a worker's batch `counters` (a reply by
    /// rcode, truncation and slip, or a drop by reason) and returns the
    /// reply's length when there is one to send.
    #[inline]
    pub fn count(self, counters: &mut Counters) -> Option<usize> {
        match self {
            Action::Send {
                len,
                rcode,
                truncated,
                slipped,
            } => {
                counters.rate_limit_slipped += u64::from(slipped);
                counters.reply(rcode, truncated);
                Some(len)
            }
            Action::Drop(reason) => {
                counters.drop(reason);
                None
            }
        }
    }
}

/// Answers one datagram from `peer` that arrived on `local`, writing any
/// reply into `reply` (at least 512 bytes). `now` is the current second on
/// the snapshot's rate limiter's clock (any value when it has none).
#[inline]
pub fn udp(
    snapshot: &Snapshot,
    datagram: &[u8],
    peer: SocketAddr,
    local: SocketAddr,
    reply: &mut [u8],
    state: &mut UdpState,
    now: u32,
) -> Action {
    if peer.port() == 0 {
        return Action::Drop(DropReason::SourcePortZero);
    }
    if is_own_address(peer, local) {
        return Action::Drop(DropReason::OwnAddress);
    }
    let source = peer.ip();
    let (len, rcode, truncated, rate_key) = match handler::handle(
        snapshot,
        datagram,
        reply,
        Transport::Udp,
        source,
        &mut state.balancer,
    ) {
        Outcome::Reply {
            len,
            rcode,
            truncated,
            rate_key,
        } => (len, rcode, truncated, rate_key),
        Outcome::Drop(reason) => return Action::Drop(reason),
    };
    if let Some(limiter) = &snapshot.rrl {
        let name = rate_key.name(reply);
        let name_hash = if name.is_empty() {
            0
        } else {
            rrl::name_hash(name)
        };
        match limiter.check(
            source,
            rate_key.class(),
            name_hash,
            now,
            &mut state.rate_limited,
        ) {
            Verdict::Send => {}
            Verdict::Slip => {
                return Action::Send {
                    len: rrl::truncate(reply, rate_key.question_end()),
                    rcode,
                    truncated: true,
                    slipped: true,
                };
            }
            Verdict::Drop => return Action::Drop(DropReason::RateLimited),
        }
    }
    Action::Send {
        len,
        rcode,
        truncated,
        slipped: false,
    }
}

/// Whether `peer` is our own listen address `local` (a query we sent
/// ourselves, or one spoofed to make us answer ourselves). For a wildcard
/// listener only loopback sources can be recognised as ours.
#[inline]
fn is_own_address(peer: SocketAddr, local: SocketAddr) -> bool {
    peer.port() == local.port()
        && (peer.ip() == local.ip() || (local.ip().is_unspecified() && peer.ip().is_loopback()))
}
