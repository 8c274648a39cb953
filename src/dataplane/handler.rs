//! Answers one query from a snapshot: bytes in, reply bytes out.
//!
//! Pure: no sockets, no clock, no allocation, no lock. The same function
//! serves the per-datagram [`step`](super::step) of the UDP workers and the
//! TCP thread; only the size limit differs.
//!
//! Resolution follows RFC 1034 section 4.3.2 as Knot and NSD implement it:
//! exact match, then CNAME (followed inside our zones up to
//! [`MAX_CNAME_CHAIN`] links), then NODATA; a missing name is answered from
//! a wildcard of its closest encloser, else NXDOMAIN; a name at or below a
//! zone cut gets a referral (DS at the cut is answered by the parent); a
//! name in no zone of ours is REFUSED. Negative answers carry the zone's
//! SOA with TTL min(SOA TTL, MINIMUM). ANY gets one synthesized HINFO
//! (RFC 8482).
//!
//! Besides the reply, [`Outcome`] says what response rate limiting keys it
//! by ([`RateKey`]), from what resolution already knows, so nothing parses
//! the reply again.

use std::net::IpAddr;

use crate::balancer::{Choice, Chosen, Client, NoTrace, Trace, WorkerState};
use crate::rrl::ResponseClass;
use crate::snapshot::Snapshot;
use crate::wire::answer::{Reply, Transport, size_limit};
use crate::wire::fragment::{Fragment, MAX_POINTER};
use crate::wire::query::{self, Parsed, Query};
use crate::wire::{CLASS_CH, CLASS_IN, DropReason, HEADER_LEN, Rcode, name, rtype};
use crate::zone::table::{Lookup, Node};

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
        /// What rate limiting counts this reply under.
        rate_key: RateKey,
    },
    /// Send nothing.
    Drop(DropReason),
}

/// What response rate limiting needs of a reply: its class, the name it is
/// counted under and where its question ends (a slipped reply keeps the
/// header and question only).
///
/// Packed in one word, so that an [`Outcome`] stays two registers wide and
/// every reply pays nothing for it but a few register operations: the class
/// in the low byte, then the start of the counted name and the end of the
/// question's name, 12 bits each (a name ends within 12 + 255 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateKey(u32);

impl RateKey {
    /// The key handed out when the snapshot does not limit responses: an
    /// error with no name and no question.
    pub const NONE: RateKey = RateKey(ResponseClass::Error as u32);

    /// The key of an error reply whose question name ends at
    /// `question_name_end`.
    #[inline]
    pub(crate) fn error(question_name_end: u16) -> RateKey {
        RateKey::new(ResponseClass::Error, question_name_end, question_name_end)
    }

    /// The key of a reply of `class` whose counted name is
    /// `reply[name_start..question_name_end]`: the query name for a positive
    /// answer, the zone apex (a suffix of the query name) for a negative one,
    /// empty (`name_start == question_name_end`) for none.
    #[inline(always)]
    fn new(class: ResponseClass, name_start: u16, question_name_end: u16) -> RateKey {
        RateKey(
            class as u32
                | (u32::from(name_start) & 0xfff) << 8
                | (u32::from(question_name_end) & 0xfff) << 20,
        )
    }

    /// The reply's class.
    #[inline]
    pub fn class(self) -> ResponseClass {
        ResponseClass::from_index(self.0 as u8)
    }

    /// The counted name, a suffix of the question name in `reply`.
    #[inline]
    pub fn name(self, reply: &[u8]) -> &[u8] {
        let start = (self.0 >> 8 & 0xfff) as usize;
        reply
            .get(start..self.question_name_end())
            .unwrap_or_default()
    }

    /// The end of the question (name, type, class), or of the header when
    /// the reply has no question.
    #[inline]
    pub fn question_end(self) -> usize {
        let end = self.question_name_end();
        if end > HEADER_LEN {
            end + 4
        } else {
            HEADER_LEN
        }
    }

    #[inline(always)]
    fn question_name_end(self) -> usize {
        (self.0 >> 20) as usize
    }
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
            let question_name_end = (HEADER_LEN + qname_len) as u16;
            Outcome::Reply {
                len,
                rcode: reject.rcode,
                truncated: false,
                rate_key: RateKey::new(ResponseClass::Error, question_name_end, question_name_end),
            }
        }
        Parsed::Query(query) => answer(snapshot, &query, out, transport, context),
        Parsed::Notify(notify) => {
            super::notify::answer(snapshot, packet, &notify, out, context.source)
        }
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
    let question_name_end = (HEADER_LEN + query.qname.len()) as u16;
    let mut resolver = Resolver {
        snapshot,
        owner: HEADER_LEN as u16,
        chained: false,
        negative_name_start: question_name_end,
        question_name_end,
    };
    let (rcode, authoritative) = if query.qclass != CLASS_IN {
        chaos(snapshot, query, &mut reply)
    } else {
        match query.qtype {
            // Meta types that never appear in a question (RFC 6891, RFC 8945).
            rtype::OPT | rtype::TKEY | rtype::TSIG => (Rcode::FormErr, false),
            // Zone transfers are not offered.
            rtype::AXFR | rtype::IXFR => (Rcode::Refused, false),
            rtype::MAILA | rtype::MAILB => (Rcode::NotImp, false),
            // Looked up as it came: the name index folds case as it hashes.
            qtype => resolver.resolve(&mut reply, query.qname, qtype, &client, context),
        }
    };
    let negative_name_start = resolver.negative_name_start;
    // Only a snapshot that limits responses needs the key: the others pay
    // one test for it.
    let rate_key = if snapshot.rrl.is_some() {
        let answers = reply.answer_count();
        let (class, name_start) = match rcode {
            Rcode::NoError if answers > 0 => (ResponseClass::Positive, HEADER_LEN as u16),
            Rcode::NoError if authoritative => (ResponseClass::Empty, negative_name_start),
            Rcode::NoError => (ResponseClass::Referral, question_name_end),
            Rcode::NxDomain if answers == 0 => (ResponseClass::Nxdomain, negative_name_start),
            Rcode::NxDomain => (ResponseClass::Nxdomain, question_name_end),
            _ => (ResponseClass::Error, question_name_end),
        };
        RateKey::new(class, name_start, question_name_end)
    } else {
        RateKey::NONE
    };
    let truncated = reply.is_truncated();
    let len = reply.finish(rcode, authoritative, snapshot.udp_payload);
    Outcome::Reply {
        len,
        rcode,
        truncated,
        rate_key,
    }
}

/// CH TXT `version.bind` / `id.server` when configured; any other class or
/// name is REFUSED.
fn chaos(snapshot: &Snapshot, query: &Query<'_>, reply: &mut Reply<'_>) -> (Rcode, bool) {
    if query.qclass != CLASS_CH || !matches!(query.qtype, rtype::TXT | rtype::ANY) {
        return (Rcode::Refused, false);
    }
    let mut lowercase = [0u8; name::MAX_NAME_LEN];
    let length = name::lowercase_into(query.qname, &mut lowercase);
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

/// What answering one name came to.
enum Step<'s> {
    /// The reply is complete: its rcode and AA.
    Done(Rcode, bool),
    /// A CNAME was placed; resolution goes on at `target`, whose name sits
    /// at `owner` in the reply.
    Follow { owner: u16, target: &'s [u8] },
}

/// One resolution in progress: where the chain stands (the reply it writes
/// is passed to each step, so that it stays addressed directly).
struct Resolver<'s> {
    snapshot: &'s Snapshot,
    /// Where the current owner name sits in the reply: the question first,
    /// then each CNAME's target.
    owner: u16,
    /// Whether the current name was reached through a CNAME.
    chained: bool,
    /// Where the zone apex of a negative answer to the query name starts
    /// (a suffix of the question name), for rate limiting.
    negative_name_start: u16,
    question_name_end: u16,
}

impl<'s> Resolver<'s> {
    /// Looks `qname` up and appends the answer, following CNAMEs; returns
    /// the rcode and AA.
    #[inline]
    fn resolve<T: Trace>(
        &mut self,
        reply: &mut Reply<'_>,
        qname: &[u8],
        qtype: u16,
        client: &Client,
        context: &mut Context<'_, T>,
    ) -> (Rcode, bool) {
        let table = &self.snapshot.table;
        let mut current: &[u8] = qname;
        // CNAME links followed so far.
        let mut links = 0;
        loop {
            let step = match table.lookup(current) {
                Lookup::NotOurs if self.chained => Step::Done(Rcode::NoError, true),
                Lookup::NotOurs => Step::Done(Rcode::Refused, false),
                // A CNAME into a zone without data ends the chain there.
                Lookup::Unavailable if self.chained => Step::Done(Rcode::NoError, true),
                Lookup::Unavailable => Step::Done(Rcode::ServFail, false),
                Lookup::Referral(id) => self.referral(reply, id),
                Lookup::NxDomain { zone } => {
                    self.negative(reply, zone);
                    Step::Done(Rcode::NxDomain, true)
                }
                Lookup::Exact(id) | Lookup::Wildcard(id) => {
                    self.at_node(reply, table.node(id), qtype, client, context)
                }
            };
            let (owner, target) = match step {
                Step::Done(rcode, authoritative) => return (rcode, authoritative),
                Step::Follow { owner, target } => (owner, target),
            };
            // Asked for the CNAME itself: it is the answer.
            if qtype == rtype::CNAME {
                return (Rcode::NoError, true);
            }
            links += 1;
            if links > MAX_CNAME_CHAIN {
                return (Rcode::NoError, true);
            }
            self.owner = owner;
            self.chained = true;
            current = target;
        }
    }

    /// Answers at an existing node (or a wildcard's).
    #[inline]
    fn at_node<T: Trace>(
        &mut self,
        reply: &mut Reply<'_>,
        node: &'s Node,
        qtype: u16,
        client: &Client,
        context: &mut Context<'_, T>,
    ) -> Step<'s> {
        let snapshot = self.snapshot;
        let table = &snapshot.table;
        let chained = self.chained;
        if node.is_cut() && qtype != rtype::DS {
            if let Some(id) = node.referral() {
                return self.referral(reply, id);
            }
        }
        if let Some(service) = node.service() {
            let service = &snapshot.services.entries[service as usize];
            service.counters.count(context.worker.writer());
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
                return match choice {
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
                                    reply.push(service_fragments.get(record), self.owner);
                                }
                            }
                            return Step::Done(Rcode::NoError, true);
                        }
                        // A CNAME service answers one target, then follows it.
                        let member = chosen.as_slice().first().map(|&member| usize::from(member));
                        let (Some(&record), Some(target)) = (
                            member.and_then(|member| records.get(member)),
                            member.and_then(|member| family.targets.get(member)),
                        ) else {
                            self.negative(reply, node.zone);
                            return Step::Done(Rcode::NoError, true);
                        };
                        self.cname(reply, service_fragments.get(record), Some(target))
                    }
                    Choice::Fallback => {
                        let records: &[_] = match qtype {
                            rtype::A => &service.fallback_ipv4,
                            rtype::AAAA => &service.fallback_ipv6,
                            _ => &[],
                        };
                        if records.is_empty() {
                            self.negative(reply, node.zone);
                        }
                        for &record in records {
                            reply.push(service_fragments.get(record), self.owner);
                        }
                        Step::Done(Rcode::NoError, true)
                    }
                    Choice::Empty => {
                        self.negative(reply, node.zone);
                        Step::Done(Rcode::NoError, true)
                    }
                    Choice::ServFail => Step::Done(Rcode::ServFail, false),
                };
            }
        }
        if qtype != rtype::ANY {
            if let Some(set) = table.record_set(node, qtype) {
                let fragment = if chained { set.chained } else { set.direct };
                if set.additional == 0 {
                    reply.push(table.fragment(fragment), self.owner);
                } else {
                    let (store, fragment) = table.store(fragment);
                    reply.push_with_additional(store, fragment, set.additional, self.owner);
                }
                return Step::Done(Rcode::NoError, true);
            }
        }
        if let Some(cname) = table.cname(node) {
            let fragment = if chained { cname.chained } else { cname.direct };
            return self.cname(reply, table.fragment(fragment), table.cname_target(cname));
        }
        if qtype == rtype::ANY && (node.has_data() || node.service().is_some()) {
            reply.push(table.fragment(table.any_hinfo()), self.owner);
            return Step::Done(Rcode::NoError, true);
        }
        self.negative(reply, node.zone);
        Step::Done(Rcode::NoError, true)
    }

    /// Appends a one-record CNAME fragment; the chain goes on at `target`
    /// when it fit and the target is in reach.
    #[inline]
    fn cname(
        &mut self,
        reply: &mut Reply<'_>,
        fragment: Fragment<'_>,
        target: Option<&'s [u8]>,
    ) -> Step<'s> {
        let (Some(placed_at), Some(target)) = (reply.push(fragment, self.owner), target) else {
            return Step::Done(Rcode::NoError, true);
        };
        match cname_target_offset(reply, placed_at) {
            Some(owner) => Step::Follow { owner, target },
            None => Step::Done(Rcode::NoError, true),
        }
    }

    /// Appends the referral `id`; the reply is authoritative only for the
    /// CNAME chain that led there, if any.
    fn referral(&mut self, reply: &mut Reply<'_>, id: u32) -> Step<'s> {
        let table = &self.snapshot.table;
        let referral = table.referral(id);
        let fragment = if self.chained {
            referral.chained
        } else {
            referral.direct
        };
        reply.push(table.fragment(fragment), self.owner);
        Step::Done(Rcode::NoError, self.chained)
    }

    /// Appends zone `zone`'s SOA for a negative answer.
    fn negative(&mut self, reply: &mut Reply<'_>, zone: u32) {
        let table = &self.snapshot.table;
        let entry = table.zone(zone);
        let fragment = if self.chained {
            entry.negative_chained
        } else {
            // The apex is a suffix of the query name.
            self.negative_name_start = self
                .question_name_end
                .saturating_sub(entry.apex.len() as u16);
            entry.negative_direct
        };
        reply.push(table.fragment(fragment), self.owner);
    }
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
        crate::control::build::snapshot(&config, 1)
            .expect("embedded zone loads")
            .0
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

    /// Answers `packet` from [`SOURCE`] into `out` over `transport`.
    fn answer_into(
        snapshot: &Snapshot,
        packet: &[u8],
        out: &mut [u8],
        transport: Transport,
    ) -> Outcome {
        handle(
            snapshot,
            packet,
            out,
            transport,
            SOURCE,
            &mut WorkerState::new(1),
        )
    }

    fn run(snapshot: &Snapshot, packet: &[u8], transport: Transport) -> Outcome {
        answer_into(snapshot, packet, &mut vec![0u8; 65535], transport)
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
            } = answer_into(&snapshot, &packet, &mut out, Transport::Udp)
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
        let Outcome::Reply { len, .. } = answer_into(&snapshot, &packet, &mut out, Transport::Udp)
        else {
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

    /// The class and name rate limiting counts a reply under come from the
    /// resolution: the query name for a positive answer, the zone apex for
    /// NXDOMAIN and NODATA (so a random-subdomain flood is one bucket), none
    /// for referrals and errors.
    #[test]
    fn rate_keys_name_the_class_and_the_counted_name() {
        let mut snapshot = snapshot();
        // Without rate limiting, no key is worked out.
        let packet = query(7, "www.example.com", 1, None);
        let Outcome::Reply { rate_key, .. } = run(&snapshot, &packet, Transport::Udp) else {
            panic!("dropped");
        };
        assert_eq!(rate_key, RateKey::NONE);
        snapshot.rrl = Some(std::sync::Arc::new(crate::rrl::RateLimiter::new(
            crate::rrl::RrlSettings {
                responses_per_second: 20,
                slip: 2,
                ipv4_prefix: 24,
                ipv6_prefix: 56,
                table_size: 64,
            },
            1,
            std::time::Instant::now(),
        )));
        let cases: &[(&str, u16, ResponseClass, &[u8])] = &[
            (
                "www.example.com",
                1,
                ResponseClass::Positive,
                b"\x03www\x07example\x03com\x00",
            ),
            (
                "WWW.Example.com",
                1,
                ResponseClass::Positive,
                b"\x03WWW\x07Example\x03com\x00",
            ),
            (
                "chain.example.com",
                1,
                ResponseClass::Positive,
                b"\x05chain\x07example\x03com\x00",
            ),
            (
                "nope.example.com",
                1,
                ResponseClass::Nxdomain,
                b"\x07example\x03com\x00",
            ),
            (
                "x.b.EXAMPLE.com",
                1,
                ResponseClass::Nxdomain,
                b"\x07EXAMPLE\x03com\x00",
            ),
            (
                "b.example.com",
                1,
                ResponseClass::Empty,
                b"\x07example\x03com\x00",
            ),
            ("www.sub.example.com", 1, ResponseClass::Referral, b""),
            ("www.example.org", 1, ResponseClass::Error, b""),
            ("example.com", 252, ResponseClass::Error, b""),
        ];
        for &(name, qtype, class, counted) in cases {
            let packet = query(7, name, qtype, Some(1232));
            let mut out = vec![0u8; 1232];
            let Outcome::Reply { len, rate_key, .. } =
                answer_into(&snapshot, &packet, &mut out, Transport::Udp)
            else {
                panic!("{name}: dropped");
            };
            assert_eq!(rate_key.class(), class, "{name}");
            assert_eq!(rate_key.name(&out[..len]), counted, "{name}");
            assert_eq!(rate_key.question_end(), packet.len() - 11, "{name}");
        }
        // A rejected packet with no question keys nothing.
        let mut packet = query(8, "www.example.com", 1, None);
        packet[2] = 0x28; // opcode UPDATE
        let Outcome::Reply { rate_key, .. } = run(&snapshot, &packet, Transport::Udp) else {
            panic!("UPDATE dropped");
        };
        assert_eq!(rate_key.class(), ResponseClass::Error);
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
                if let Outcome::Reply { len, .. } =
                    answer_into(&snapshot, &packet, &mut out, transport)
                {
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
