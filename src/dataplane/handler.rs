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

use std::net::IpAddr;

use crate::balancer::{Choice, Chosen, Client, NoTrace, Trace, WorkerState};
use crate::snapshot::Snapshot;
use crate::wire::answer::{Reply, Transport, size_limit};
use crate::wire::fragment::MAX_POINTER;
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

/// Who asked, and the per-thread state policies use.
#[derive(Debug)]
pub struct Context<'a, T: Trace> {
    /// The packet's source address (an ECS option in the query takes
    /// precedence for policies that look at the client).
    pub source: IpAddr,
    /// The thread's RNG and round-robin counter.
    pub worker: &'a mut WorkerState,
    /// Records why a service answered as it did (`NoTrace` in the data plane).
    pub trace: &'a mut T,
}

/// Handles one received packet from `source`, writing any reply into `out`
/// (at least 512 bytes; replies never exceed `out.len()`).
#[inline]
pub fn handle(
    snapshot: &Snapshot,
    packet: &[u8],
    out: &mut [u8],
    transport: Transport,
    source: IpAddr,
    worker: &mut WorkerState,
) -> Outcome {
    let mut context = Context {
        source,
        worker,
        trace: &mut NoTrace,
    };
    handle_traced(snapshot, packet, out, transport, &mut context)
}

/// [`handle`] with a trace of the policy decisions (for `/explain`): the
/// same code, monomorphized; with `NoTrace` the tracing compiles away.
pub fn handle_traced<T: Trace>(
    snapshot: &Snapshot,
    packet: &[u8],
    out: &mut [u8],
    transport: Transport,
    context: &mut Context<'_, T>,
) -> Outcome {
    match query::parse(packet, snapshot.client_subnet) {
        Parsed::Drop(reason) => Outcome::Drop(reason),
        Parsed::Reject(reject) => {
            let limit = size_limit(transport, reject.edns, snapshot.udp_payload);
            let qname_len = reject
                .question
                .map_or(0, |question| question.len().saturating_sub(4));
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
        Parsed::Query(query) => answer(snapshot, &query, out, transport, context),
    }
}

fn answer<T: Trace>(
    snapshot: &Snapshot,
    query: &Query<'_>,
    out: &mut [u8],
    transport: Transport,
    context: &mut Context<'_, T>,
) -> Outcome {
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
    // Looked up as it came: the name index folds case as it hashes.
    let qname = query.qname;
    let qtype = query.qtype;
    let client = match query.edns.and_then(|edns| edns.client_subnet) {
        Some(subnet) => Client {
            address: subnet.ip(),
            source_prefix: subnet.source_prefix,
        },
        None => {
            let address = context.source.to_canonical();
            Client {
                address,
                source_prefix: if address.is_ipv4() { 32 } else { 128 },
            }
        }
    };

    let (rcode, authoritative) = if query.qclass != CLASS_IN {
        chaos(snapshot, query, qname, &mut reply)
    } else {
        match qtype {
            // Meta types that never appear in a question (RFC 6891, RFC 8945).
            rtype::OPT | rtype::TKEY | rtype::TSIG => (Rcode::FormErr, false),
            // Zone transfers are not offered.
            rtype::AXFR | rtype::IXFR => (Rcode::Refused, false),
            rtype::MAILA | rtype::MAILB => (Rcode::NotImp, false),
            _ => resolve(snapshot, qname, qtype, &client, context, &mut reply),
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
fn chaos(
    snapshot: &Snapshot,
    query: &Query<'_>,
    qname: &[u8],
    reply: &mut Reply<'_>,
) -> (Rcode, bool) {
    if query.qclass != CLASS_CH || !matches!(query.qtype, rtype::TXT | rtype::ANY) {
        return (Rcode::Refused, false);
    }
    let mut lowercase = [0u8; name::MAX_NAME_LEN];
    let length = name::lowercase_into(qname, &mut lowercase);
    match snapshot.chaos.find(&lowercase[..length]) {
        Some(id) => {
            reply.push(snapshot.chaos.fragments.get(id), HEADER_LEN as u16);
            (Rcode::NoError, true)
        }
        None => (Rcode::Refused, false),
    }
}

/// Where the owner of the next link of a CNAME chain sits, given the offset
/// at which a one-record CNAME fragment was placed: its target name starts
/// after the owner pointer (2 bytes) and type, class, TTL, RDLENGTH (10
/// bytes). A target compressed to a bare pointer is followed to where it
/// points, so no pointer ever points at a pointer.
fn cname_target_offset(reply: &Reply<'_>, placed_at: usize) -> Option<u16> {
    let target_at = placed_at + 12;
    match reply.bytes_at(target_at)? {
        [high, low] if high & 0xc0 == 0xc0 => Some(u16::from_be_bytes([high & 0x3f, low])),
        _ if target_at <= MAX_POINTER => Some(target_at as u16),
        _ => None,
    }
}

/// Counts one more CNAME link placed at `placed_at` and returns where its
/// target (the next owner) sits, or `None` when the chain must stop here:
/// past [`MAX_CNAME_CHAIN`] links, or a target out of pointer reach.
fn next_link(reply: &Reply<'_>, placed_at: usize, links: &mut usize) -> Option<u16> {
    *links += 1;
    if *links > MAX_CNAME_CHAIN {
        return None;
    }
    cname_target_offset(reply, placed_at)
}

/// Looks `qname` up and appends the answer; returns the rcode and AA.
#[inline]
fn resolve<T: Trace>(
    snapshot: &Snapshot,
    qname: &[u8],
    qtype: u16,
    client: &Client,
    context: &mut Context<'_, T>,
    reply: &mut Reply<'_>,
) -> (Rcode, bool) {
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
            Lookup::Referral(id) => return push_referral(snapshot, id, chained, owner, reply),
            Lookup::NxDomain { zone } => {
                push_negative(snapshot, zone, chained, owner, reply);
                return (Rcode::NxDomain, true);
            }
            Lookup::Exact(id) | Lookup::Wildcard(id) => id,
        };
        let node = table.node(node_id);
        if node.is_cut() && qtype != rtype::DS {
            if let Some(id) = node.referral() {
                return push_referral(snapshot, id, chained, owner, reply);
            }
        }
        if let Some(service) = node.service() {
            let service = &snapshot.services.entries[service as usize];
            if let Some(writer) = context.worker.writer() {
                service.counters.count(writer);
            }
            let family = match qtype {
                rtype::A => service.ipv4.as_ref(),
                rtype::AAAA => service.ipv6.as_ref(),
                _ => None,
            }
            .or(service.cname.as_ref());
            if let Some(family) = family {
                let service_fragments = &snapshot.services.fragments;
                let mut chosen = Chosen::default();
                let choice = family.pool.select(
                    client,
                    &snapshot.services.topology,
                    context.worker,
                    &mut chosen,
                    context.trace,
                );
                match choice {
                    Choice::Backends { scope_prefix } => {
                        reply.set_scope_prefix(scope_prefix);
                        let records = if chained {
                            &family.chained
                        } else {
                            &family.direct
                        };
                        if family.targets.is_empty() {
                            for &member in chosen.as_slice() {
                                if let Some(&record) = records.get(usize::from(member)) {
                                    reply.push(service_fragments.get(record), owner);
                                }
                            }
                            return (Rcode::NoError, true);
                        }
                        // A CNAME service answers one target, then follows it.
                        let member = chosen.as_slice().first().map(|&member| usize::from(member));
                        let (Some(&record), Some(target)) = (
                            member.and_then(|member| records.get(member)),
                            member.and_then(|member| family.targets.get(member)),
                        ) else {
                            push_negative(snapshot, node.zone, chained, owner, reply);
                            return (Rcode::NoError, true);
                        };
                        let Some(at) = reply.push(service_fragments.get(record), owner) else {
                            return (Rcode::NoError, true);
                        };
                        if qtype == rtype::CNAME {
                            // Asked for the CNAME itself: it is the answer.
                            return (Rcode::NoError, true);
                        }
                        match next_link(reply, at, &mut links) {
                            Some(target_owner) => owner = target_owner,
                            None => return (Rcode::NoError, true),
                        }
                        current = target;
                        continue;
                    }
                    Choice::Fallback => {
                        let records: &[_] = match qtype {
                            rtype::A => &service.fallback_ipv4,
                            rtype::AAAA => &service.fallback_ipv6,
                            _ => &[],
                        };
                        if records.is_empty() {
                            push_negative(snapshot, node.zone, chained, owner, reply);
                        }
                        for &record in records {
                            reply.push(service_fragments.get(record), owner);
                        }
                        return (Rcode::NoError, true);
                    }
                    Choice::Empty => {
                        push_negative(snapshot, node.zone, chained, owner, reply);
                        return (Rcode::NoError, true);
                    }
                    Choice::ServFail => return (Rcode::ServFail, false),
                }
            }
        }
        if qtype != rtype::ANY {
            if let Some(set) = table.record_set(node, qtype) {
                let fragment = if chained { set.chained } else { set.direct };
                reply.push_with_additional(fragments, fragment, set.additional, owner);
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
            match next_link(reply, at, &mut links) {
                Some(target_owner) => owner = target_owner,
                None => return (Rcode::NoError, true),
            }
            current = target;
            continue;
        }
        if qtype == rtype::ANY && (node.has_data() || node.service().is_some()) {
            reply.push(fragments.get(table.any_hinfo()), owner);
            return (Rcode::NoError, true);
        }
        push_negative(snapshot, node.zone, chained, owner, reply);
        return (Rcode::NoError, true);
    }
}

/// Appends the referral `id`; the reply is authoritative only for the CNAME
/// chain that led there, if any.
fn push_referral(
    snapshot: &Snapshot,
    id: u32,
    chained: bool,
    owner: u16,
    reply: &mut Reply<'_>,
) -> (Rcode, bool) {
    let table = &snapshot.table;
    let referral = table.referral(id);
    let fragment = if chained {
        referral.chained
    } else {
        referral.direct
    };
    reply.push(table.fragments().get(fragment), owner);
    (Rcode::NoError, chained)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use domain::base::Message;
    use domain::base::iana::Rtype;
    use domain::rdata::AllRecordData;

    fn snapshot() -> Snapshot {
        let config = config::embedded_default().expect("embedded config parses");
        Snapshot::build(&config, 1).expect("embedded zone loads").0
    }

    /// A query packet for `name` (presentation format, absolute) and `qtype`.
    fn query(id: u16, name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
        let mut packet = vec![0u8; 12];
        packet[0..2].copy_from_slice(&id.to_be_bytes());
        packet[5] = 1;
        for label in name.trim_end_matches('.').split('.') {
            packet.push(label.len() as u8);
            packet.extend_from_slice(label.as_bytes());
        }
        packet.push(0);
        packet.extend_from_slice(&qtype.to_be_bytes());
        packet.extend_from_slice(&1u16.to_be_bytes());
        if let Some(size) = edns {
            packet[11] = 1;
            packet.extend_from_slice(&[0, 0, 41]);
            packet.extend_from_slice(&size.to_be_bytes());
            packet.extend_from_slice(&[0, 0, 0x80, 0, 0, 0]);
        }
        packet
    }

    /// Checks a reply parses completely with `domain` (every record, every
    /// compression pointer) and matches the query's ID; returns the message.
    fn check_reply<'a>(query: &[u8], reply: &'a [u8], limit: usize) -> &'a Message<[u8]> {
        assert!(
            reply.len() <= limit,
            "reply of {} bytes over {limit}",
            reply.len()
        );
        let message = Message::from_slice(reply).expect("reply has a header");
        assert_eq!(&reply[..2], &query[..2], "ID echoed");
        assert!(message.header().qr(), "QR set");
        let mut count = 0;
        for question in message.question() {
            question.expect("question parses");
            count += 1;
        }
        assert!(count <= 1);
        let mut section = message.answer().expect("answer section");
        loop {
            for record in &mut section {
                let record = record.expect("record header parses");
                record
                    .to_any_record::<AllRecordData<_, _>>()
                    .expect("record data parses");
            }
            match section.next_section().expect("next section") {
                Some(next) => section = next,
                None => break,
            }
        }
        message
    }

    const SOURCE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 200));

    fn run(snapshot: &Snapshot, packet: &[u8], transport: Transport) -> Outcome {
        let mut out = vec![0u8; 65535];
        handle(
            snapshot,
            packet,
            &mut out,
            transport,
            SOURCE,
            &mut WorkerState::new(1),
        )
    }

    #[test]
    fn answers_each_kind() {
        let snapshot = snapshot();
        let cases: &[(&str, u16, Rcode, bool, u16)] = &[
            // name, type, rcode, AA, answer count
            ("www.example.com", 1, Rcode::NoError, true, 2),
            ("chain.example.com", 1, Rcode::NoError, true, 4),
            ("foo.apps.example.com", 1, Rcode::NoError, true, 1),
            ("nope.example.com", 1, Rcode::NxDomain, true, 0),
            ("b.example.com", 1, Rcode::NoError, true, 0),
            ("x.b.example.com", 1, Rcode::NxDomain, true, 0),
            ("www.sub.example.com", 1, Rcode::NoError, false, 0),
            ("sub.example.com", 43, Rcode::NoError, true, 0),
            ("example.com", 255, Rcode::NoError, true, 1),
            ("www.example.org", 1, Rcode::Refused, false, 0),
            ("example.com", 252, Rcode::Refused, false, 0),
        ];
        for &(name, qtype, rcode, authoritative, answers) in cases {
            let packet = query(7, name, qtype, Some(1232));
            let mut out = vec![0u8; 1232];
            let Outcome::Reply {
                len, rcode: got, ..
            } = handle(
                &snapshot,
                &packet,
                &mut out,
                Transport::Udp,
                SOURCE,
                &mut WorkerState::new(1),
            )
            else {
                panic!("{name}: dropped");
            };
            assert_eq!(got, rcode, "{name}");
            let message = check_reply(&packet, &out[..len], 1232);
            assert_eq!(message.header().aa(), authoritative, "{name} AA");
            assert_eq!(message.header_counts().ancount(), answers, "{name} answers");
        }
    }

    #[test]
    fn cname_target_pointer_chain_is_valid() {
        let snapshot = snapshot();
        let packet = query(9, "CHAIN.example.COM", 1, None);
        let mut out = vec![0u8; 512];
        let Outcome::Reply { len, .. } = handle(
            &snapshot,
            &packet,
            &mut out,
            Transport::Udp,
            SOURCE,
            &mut WorkerState::new(1),
        ) else {
            panic!("dropped");
        };
        let message = check_reply(&packet, &out[..len], 512);
        let owners: Vec<String> = message
            .answer()
            .unwrap()
            .map(|record| record.unwrap().owner().to_string().to_ascii_lowercase())
            .collect();
        assert_eq!(
            owners,
            [
                "chain.example.com",
                "alias.example.com",
                "www.example.com",
                "www.example.com"
            ]
        );
        assert_eq!(message.first_question().unwrap().qtype(), Rtype::A);
    }

    /// A small deterministic generator (xorshift64*), so failures reproduce.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }
    }

    /// 100,000 random and mutated packets: no panic, and every reply is
    /// well formed, echoes the ID and respects the size limit.
    #[test]
    fn random_and_mutated_packets_never_panic() {
        let snapshot = snapshot();
        let seeds: Vec<Vec<u8>> = [
            ("www.example.com", 1),
            ("chain.example.com", 28),
            ("x.apps.example.com", 16),
            ("www.sub.example.com", 1),
            ("big.example.com", 16),
            ("nope.example.com", 255),
        ]
        .iter()
        .flat_map(|&(name, qtype)| {
            [
                query(1, name, qtype, None),
                query(2, name, qtype, Some(512)),
            ]
        })
        .collect();
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let mut out = vec![0u8; 65535];
        let mut replies = 0;
        for round in 0..100_000 {
            let packet: Vec<u8> = if round % 4 == 0 {
                let len = random.below(64);
                (0..len).map(|_| random.next() as u8).collect()
            } else {
                let mut packet = seeds[random.below(seeds.len())].clone();
                for _ in 0..1 + random.below(4) {
                    match random.below(4) {
                        0 if !packet.is_empty() => {
                            let at = random.below(packet.len());
                            packet[at] = random.next() as u8;
                        }
                        1 => packet.truncate(random.below(packet.len() + 1)),
                        2 => packet.push(random.next() as u8),
                        _ => {
                            // Flip a header bit or count, where the parser branches.
                            let at = 2 + random.below(10);
                            if at < packet.len() {
                                packet[at] ^= 1 << random.below(8);
                            }
                        }
                    }
                }
                packet
            };
            for transport in [Transport::Udp, Transport::Tcp] {
                if let Outcome::Reply { len, .. } = handle(
                    &snapshot,
                    &packet,
                    &mut out,
                    transport,
                    SOURCE,
                    &mut WorkerState::new(1),
                ) {
                    let limit = if transport == Transport::Tcp {
                        65535
                    } else {
                        1232
                    };
                    check_reply(&packet, &out[..len], limit);
                    replies += 1;
                }
            }
        }
        assert!(
            replies > 50_000,
            "only {replies} replies: the mutations are too destructive"
        );
        // A query still answers afterwards.
        assert!(matches!(
            run(
                &snapshot,
                &query(3, "www.example.com", 1, None),
                Transport::Udp
            ),
            Outcome::Reply {
                rcode: Rcode::NoError,
                ..
            }
        ));
    }
}
