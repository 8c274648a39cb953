//! Answers one query from a snapshot: bytes in, reply bytes out.
//!
//! Pure: no sockets, no clock, no allocation, no lock. The same function
//! serves UDP workers and the TCP thread; only the size limit differs.
//!
//! Resolution follows RFC 1034 section 4.3.2 as Knot and NSD implement it:
//! exact match, then CNAME (followed inside our zones up to
//! [`MAX_CNAME_CHAIN`] links), then NODATA; a missing name is answered from
//! a wildcard of its closest encloser, else NXDOMAIN; a name at or below a
//! zone cut gets a referral (DS at the cut is answered by the parent); a
//! name in no zone of ours is REFUSED. Negative answers carry the zone's
//! SOA with TTL min(SOA TTL, MINIMUM). ANY gets one synthesized HINFO
//! (RFC 8482).

use crate::snapshot::Snapshot;
use crate::wire::answer::{Reply, Transport, size_limit};
use crate::wire::query::{self, Parsed, Query};
use crate::wire::{DropReason, HEADER_LEN, Rcode, name};
use crate::zone::{CLASS_CH, CLASS_IN, Lookup, rtype};

/// CNAME links followed before giving up and returning the chain so far.
pub const MAX_CNAME_CHAIN: usize = 8;

/// What to do with one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send the first `len` bytes of the output buffer.
    Reply {
        len: usize,
        rcode: Rcode,
        truncated: bool,
    },
    /// Send nothing.
    Drop(DropReason),
}

/// Handles one received packet, writing any reply into `out` (at least 512
/// bytes; replies never exceed `out.len()`).
#[inline]
pub fn handle(snapshot: &Snapshot, packet: &[u8], out: &mut [u8], transport: Transport) -> Outcome {
    match query::parse(packet) {
        Parsed::Drop(reason) => Outcome::Drop(reason),
        Parsed::Reject(reject) => {
            let limit = size_limit(transport, reject.edns, snapshot.udp_payload);
            let qname_len = reject.question.map_or(0, |question| question.len().saturating_sub(4));
            let Some(reply) = Reply::start(
                out,
                reject.id,
                reject.flags,
                reject.question,
                qname_len,
                reject.edns,
                limit,
            ) else {
                return Outcome::Drop(DropReason::NoRoom);
            };
            let len = reply.finish(reject.rcode, false, snapshot.udp_payload);
            Outcome::Reply {
                len,
                rcode: reject.rcode,
                truncated: false,
            }
        }
        Parsed::Query(query) => answer(snapshot, &query, out, transport),
    }
}

fn answer(snapshot: &Snapshot, query: &Query<'_>, out: &mut [u8], transport: Transport) -> Outcome {
    let limit = size_limit(transport, query.edns, snapshot.udp_payload);
    let Some(mut reply) = Reply::start(
        out,
        query.id,
        query.flags,
        Some(query.question),
        query.qname.len(),
        query.edns,
        limit,
    ) else {
        return Outcome::Drop(DropReason::NoRoom);
    };
    let mut lowercase = [0u8; name::MAX_NAME_LEN];
    let qname_len = name::lowercase_into(query.qname, &mut lowercase);
    let qname = &lowercase[..qname_len];
    let qtype = query.qtype;

    let (rcode, authoritative) = if query.qclass != CLASS_IN {
        chaos(snapshot, query, qname, &mut reply)
    } else {
        match qtype {
            // Meta types that never appear in a question (RFC 6891, RFC 8945).
            rtype::OPT | rtype::TKEY | rtype::TSIG => (Rcode::FormErr, false),
            // Zone transfers are not offered.
            rtype::AXFR | rtype::IXFR => (Rcode::Refused, false),
            rtype::MAILA | rtype::MAILB => (Rcode::NotImp, false),
            _ => resolve(snapshot, qname, qtype, &mut reply),
        }
    };
    let truncated = reply.is_truncated();
    let len = reply.finish(rcode, authoritative, snapshot.udp_payload);
    Outcome::Reply {
        len,
        rcode,
        truncated,
    }
}

/// CH TXT `version.bind` / `id.server` when configured; any other class or
/// name is REFUSED.
fn chaos(snapshot: &Snapshot, query: &Query<'_>, qname: &[u8], reply: &mut Reply<'_>) -> (Rcode, bool) {
    if query.qclass != CLASS_CH || !matches!(query.qtype, rtype::TXT | rtype::ANY) {
        return (Rcode::Refused, false);
    }
    match snapshot.chaos.find(qname) {
        Some(id) => {
            reply.push(snapshot.chaos.fragments.get(id), HEADER_LEN as u16);
            (Rcode::NoError, true)
        }
        None => (Rcode::Refused, false),
    }
}

/// Looks `qname` up and appends the answer; returns the rcode and AA.
#[inline]
fn resolve(snapshot: &Snapshot, qname: &[u8], qtype: u16, reply: &mut Reply<'_>) -> (Rcode, bool) {
    let table = &snapshot.table;
    let fragments = table.fragments();
    let mut current: &[u8] = qname;
    // Where the current owner name sits in the reply: the question first.
    let mut owner = HEADER_LEN as u16;
    let mut links = 0;
    loop {
        let chained = links > 0;
        let node_id = match table.lookup(current) {
            Lookup::NotOurs if chained => return (Rcode::NoError, true),
            Lookup::NotOurs => return (Rcode::Refused, false),
            Lookup::Referral(id) => {
                let referral = table.referral(id);
                let fragment = if chained { referral.chained } else { referral.direct };
                reply.push(fragments.get(fragment), owner);
                // The CNAME chain before it is ours; the referral is not.
                return (Rcode::NoError, chained);
            }
            Lookup::NxDomain { zone } => {
                push_negative(snapshot, zone, chained, owner, reply);
                return (Rcode::NxDomain, true);
            }
            Lookup::Exact(id) | Lookup::Wildcard(id) => id,
        };
        let node = table.node(node_id);
        if node.is_cut() && qtype != rtype::DS {
            if let Some(id) = node.referral() {
                let referral = table.referral(id);
                let fragment = if chained { referral.chained } else { referral.direct };
                reply.push(fragments.get(fragment), owner);
                return (Rcode::NoError, chained);
            }
        }
        if qtype != rtype::ANY {
            if let Some(set) = table.record_set(node, qtype) {
                let fragment = if chained { set.chained } else { set.direct };
                reply.push(fragments.get(fragment), owner);
                return (Rcode::NoError, true);
            }
        }
        if let Some(cname) = table.cname(node) {
            let fragment = if chained { cname.chained } else { cname.direct };
            let Some(at) = reply.push(fragments.get(fragment), owner) else {
                return (Rcode::NoError, true);
            };
            let Some(target) = cname.target.as_deref() else {
                return (Rcode::NoError, true);
            };
            links += 1;
            if links > MAX_CNAME_CHAIN {
                return (Rcode::NoError, true);
            }
            // The target name starts after the owner pointer (2 bytes) and
            // type, class, TTL, RDLENGTH (10 bytes). If it was compressed to
            // a bare pointer, point where it points.
            let target_at = at + 12;
            owner = match reply.bytes_at(target_at) {
                Some([high, low]) if high & 0xc0 == 0xc0 => u16::from_be_bytes([high & 0x3f, low]),
                Some(_) if target_at <= crate::wire::fragment::MAX_POINTER => target_at as u16,
                _ => return (Rcode::NoError, true),
            };
            current = target;
            continue;
        }
        if qtype == rtype::ANY && node.has_data() {
            reply.push(fragments.get(table.any_hinfo()), owner);
            return (Rcode::NoError, true);
        }
        push_negative(snapshot, node.zone, chained, owner, reply);
        return (Rcode::NoError, true);
    }
}

fn push_negative(snapshot: &Snapshot, zone: u32, chained: bool, owner: u16, reply: &mut Reply<'_>) {
    let table = &snapshot.table;
    let entry = table.zone(zone);
    let fragment = if chained {
        entry.negative_chained
    } else {
        entry.negative_direct
    };
    reply.push(table.fragments().get(fragment), owner);
}
