//! Writes a reply into a caller's buffer: the echoed header and question,
//! pre-rendered fragments, then our OPT record.
//!
//! Size rule (RFC 1035, RFC 6891): a UDP reply never exceeds 512 bytes
//! without EDNS, or min(requestor's size, ours) with it. When the next
//! fragment (one RRset) does not fit, nothing more is added and TC is set,
//! so the cut is always at an RRset boundary and the client retries over
//! TCP. Space for the OPT record is reserved from the start. Additional
//! records that come with an answer (the addresses of its targets) are
//! added last and only where they fit: leaving them out never sets TC
//! (RFC 2181 section 9).

use super::fragment::{self, Fragment, FragmentId, FragmentStore};
use super::query::{Edns, OPTION_CLIENT_SUBNET, flags};
use super::{CLASSIC_UDP_LIMIT, HEADER_LEN, MAX_MESSAGE_LEN, OPT_RECORD_LEN, Rcode};

/// The transport a reply leaves by, which sets its size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The size limit of a reply (RFC 6891 section 6.2.5: sizes below 512 are
/// treated as 512).
pub fn size_limit(transport: Transport, edns: Option<Edns>, our_payload: u16) -> usize {
    match (transport, edns) {
        (Transport::Tcp, _) => MAX_MESSAGE_LEN,
        (Transport::Udp, None) => CLASSIC_UDP_LIMIT,
        (Transport::Udp, Some(edns)) => usize::from(edns.udp_payload)
            .max(CLASSIC_UDP_LIMIT)
            .min(usize::from(our_payload).max(CLASSIC_UDP_LIMIT)),
    }
}

/// A reply being written.
#[derive(Debug)]
pub struct Reply<'a> {
    out: &'a mut [u8],
    len: usize,
    /// Where records must end, with room for OPT kept back.
    limit: usize,
    qname_len: usize,
    counts: [u16; 3],
    truncated: bool,
    query_flags: u16,
    edns: Option<Edns>,
    /// ECS SCOPE PREFIX-LENGTH for the reply's Client Subnet option.
    scope_prefix: u8,
}

/// The length of our OPT record for a query's EDNS (with the echoed ECS option).
fn opt_len(edns: Option<Edns>) -> usize {
    match edns {
        None => 0,
        Some(edns) => OPT_RECORD_LEN + edns.client_subnet.map_or(0, |subnet| subnet.wire_len()),
    }
}

impl<'a> Reply<'a> {
    /// Starts a reply to a query with `id` and header `query_flags`, echoing
    /// `question` (the raw name, type and class) when given. `limit` is the
    /// whole reply's size limit (see [`size_limit`]). Returns `None` when the
    /// header, question and OPT do not fit `out`.
    pub fn start(
        out: &'a mut [u8],
        id: u16,
        query_flags: u16,
        question: Option<&[u8]>,
        qname_len: usize,
        edns: Option<Edns>,
        limit: usize,
    ) -> Option<Reply<'a>> {
        let question = question.unwrap_or(&[]);
        let limit = limit.min(out.len()).checked_sub(opt_len(edns))?;
        let len = HEADER_LEN + question.len();
        if len > limit {
            return None;
        }
        out[..2].copy_from_slice(&id.to_be_bytes());
        out[4..6].copy_from_slice(&u16::from(!question.is_empty()).to_be_bytes());
        out[HEADER_LEN..len].copy_from_slice(question);
        Some(Reply {
            out,
            len,
            limit,
            qname_len,
            counts: [0; 3],
            truncated: false,
            query_flags,
            edns,
            scope_prefix: 0,
        })
    }

    /// Sets the SCOPE PREFIX-LENGTH of the echoed Client Subnet option: how
    /// much of the client's address decided the answer (RFC 7871 section
    /// 7.2.1; 0 when the answer does not depend on it).
    pub fn set_scope_prefix(&mut self, scope_prefix: u8) {
        self.scope_prefix = scope_prefix;
    }

    /// Appends a fragment whose owner is at offset `owner`. Returns the
    /// offset it was placed at, or `None` (and marks the reply truncated)
    /// when it does not fit; once truncated, nothing more is added.
    #[inline]
    pub fn push(&mut self, fragment: Fragment<'_>, owner: u16) -> Option<usize> {
        if self.truncated {
            return None;
        }
        let placed = self.place(fragment, owner);
        if placed.is_none() {
            self.truncated = true;
        }
        placed
    }

    /// Appends fragment `id` of `store` as [`push`](Self::push) does, then
    /// as many of its `additional` continuations (additional records, one
    /// target's addresses each) as fit, in order: the first that does not
    /// fit ends them, without marking the reply truncated. Nothing may be
    /// pushed after them but more additional records.
    #[inline]
    pub fn push_with_additional(
        &mut self,
        store: &FragmentStore,
        id: FragmentId,
        additional: u16,
        owner: u16,
    ) -> Option<usize> {
        let at = self.push(store.get(id), owner)?;
        if additional > 0 {
            self.push_additional(store, id, additional, owner);
        }
        Some(at)
    }

    /// The additional records of [`push_with_additional`](Self::push_with_additional):
    /// kept out of line, so that answers without any (most) carry none of
    /// this code.
    #[inline(never)]
    fn push_additional(
        &mut self,
        store: &FragmentStore,
        id: FragmentId,
        additional: u16,
        owner: u16,
    ) {
        for fragment in store.continuations(id, additional) {
            if self.place(fragment, owner).is_none() {
                break;
            }
        }
    }

    /// Places a fragment at the end and counts its records; `None` when it
    /// does not fit (the reply is then unchanged).
    #[inline(always)]
    fn place(&mut self, fragment: Fragment<'_>, owner: u16) -> Option<usize> {
        let at = self.len;
        let end = fragment::place(fragment, self.out, at, self.limit, self.qname_len, owner)?;
        self.len = end;
        for (count, added) in self.counts.iter_mut().zip(fragment.counts) {
            *count = count.saturating_add(added);
        }
        Some(at)
    }

    /// Reads the two bytes at `at` of what was written so far (used to follow
    /// a CNAME target that is itself a pointer).
    pub fn bytes_at(&self, at: usize) -> Option<[u8; 2]> {
        let bytes = self.out.get(at..at + 2)?;
        Some([bytes[0], bytes[1]])
    }

    /// Whether a fragment did not fit.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Records in the answer section so far.
    #[inline]
    pub fn answer_count(&self) -> u16 {
        self.counts[0]
    }

    /// Sets TC without adding anything (used when required data is missing).
    pub fn set_truncated(&mut self) {
        self.truncated = true;
    }

    /// Writes flags, counts and OPT; returns the reply's length.
    #[inline(always)]
    pub fn finish(self, rcode: Rcode, authoritative: bool, our_payload: u16) -> usize {
        let Reply {
            out,
            mut len,
            counts,
            truncated,
            query_flags,
            edns,
            scope_prefix,
            ..
        } = self;
        // Only the opcode, RD and CD are echoed (AD never); a rejected
        // query of another opcode comes with RD and CD already cleared.
        let mut reply_flags = flags::QR
            | (query_flags & (flags::OPCODE | flags::RD | flags::CD))
            | u16::from(rcode.header_bits());
        if authoritative {
            reply_flags |= flags::AA;
        }
        if truncated {
            reply_flags |= flags::TC;
        }
        out[2..4].copy_from_slice(&reply_flags.to_be_bytes());
        out[6..8].copy_from_slice(&counts[0].to_be_bytes());
        out[8..10].copy_from_slice(&counts[1].to_be_bytes());
        let mut additional = counts[2];
        if let Some(edns) = edns {
            // Room was kept back in `start`, so this always fits.
            let opt = &mut out[len..len + OPT_RECORD_LEN];
            opt[0] = 0; // root owner
            opt[1..3].copy_from_slice(&41u16.to_be_bytes());
            opt[3..5].copy_from_slice(&our_payload.to_be_bytes());
            opt[5] = rcode.extended_bits();
            opt[6] = 0; // version 0
            opt[7] = if edns.dnssec_ok { 0x80 } else { 0 };
            opt[8] = 0;
            opt[9..11].copy_from_slice(&[0, 0]);
            len += OPT_RECORD_LEN;
            if let Some(subnet) = edns.client_subnet {
                // Echo family, source prefix and address, with our scope.
                let option_len = subnet.wire_len();
                let address_len = subnet.address_len();
                let option = &mut out[len..len + option_len];
                option[..2].copy_from_slice(&OPTION_CLIENT_SUBNET.to_be_bytes());
                option[2..4].copy_from_slice(&((4 + address_len) as u16).to_be_bytes());
                option[4..6].copy_from_slice(&subnet.family.to_be_bytes());
                option[6] = subnet.source_prefix;
                let max_prefix = if subnet.family == 1 { 32 } else { 128 };
                option[7] = scope_prefix.min(max_prefix);
                option[8..].copy_from_slice(&subnet.address[..address_len]);
                out[len - 2..len].copy_from_slice(&(option_len as u16).to_be_bytes());
                len += option_len;
            }
            additional = additional.saturating_add(1);
        }
        out[10..12].copy_from_slice(&additional.to_be_bytes());
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fragment::{FragmentStore, Owner, RdataPart, Section};
    use crate::wire::query::{self, Parsed};

    const QUESTION: &[u8] = b"\x03WwW\x07example\x03com\x00\x00\x01\x00\x01";

    #[test]
    fn limits_follow_rfc_6891() {
        let edns = |size| {
            Some(Edns {
                udp_payload: size,
                version: 0,
                dnssec_ok: false,
                client_subnet: None,
            })
        };
        assert_eq!(size_limit(Transport::Udp, None, 1232), 512);
        assert_eq!(size_limit(Transport::Udp, edns(100), 1232), 512);
        assert_eq!(size_limit(Transport::Udp, edns(4096), 1232), 1232);
        assert_eq!(size_limit(Transport::Udp, edns(800), 1232), 800);
        assert_eq!(size_limit(Transport::Tcp, None, 1232), 65535);
    }

    #[test]
    fn header_question_records_and_opt() {
        let mut store = FragmentStore::new();
        let mut builder = store.builder(Section::Answer, None);
        builder.record(
            Owner::Pointer,
            1,
            1,
            30,
            &[RdataPart::Bytes(&[192, 0, 2, 1])],
        );
        let id = builder.finish();
        let mut out = [0u8; 512];
        let edns = Some(Edns {
            udp_payload: 1232,
            version: 0,
            dnssec_ok: true,
            client_subnet: None,
        });
        let mut reply =
            Reply::start(&mut out, 0xbeef, 0x0110, Some(QUESTION), 17, edns, 512).unwrap();
        assert_eq!(reply.push(store.get(id), 12), Some(33));
        let len = reply.finish(Rcode::NoError, true, 1232);
        assert_eq!(len, 33 + 16 + 11);
        assert_eq!(
            &out[..12],
            b"\xbe\xef\x85\x10\x00\x01\x00\x01\x00\x00\x00\x01"
        );
        assert_eq!(&out[12..33], QUESTION);
        assert_eq!(&out[33..35], b"\xc0\x0c");
        assert_eq!(
            &out[49..60],
            b"\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00"
        );
    }

    /// RD, CD and AD mean something only in a QUERY (RFC 1035 section
    /// 4.1.1, RFC 4035 section 3.2): a reply to any other opcode echoes the
    /// opcode and clears them; a reply to a QUERY echoes RD and CD.
    #[test]
    fn flags_are_echoed_only_for_query_opcode() {
        // STATUS (opcode 2) with RD, AD and CD set, for example.com. SOA.
        const STATUS: &[u8] = b"\xab\xcd\x11\x30\x00\x01\x00\x00\x00\x00\x00\x00\
            \x07example\x03com\x00\x00\x06\x00\x01";
        let Parsed::Reject(reject) = query::parse(STATUS, true) else {
            panic!("STATUS is rejected");
        };
        let mut out = [0u8; 512];
        let reply = Reply::start(
            &mut out,
            reject.id,
            reject.flags,
            reject.question,
            13,
            reject.edns,
            512,
        )
        .unwrap();
        let len = reply.finish(reject.rcode, false, 1232);
        assert_eq!(
            &out[..12],
            b"\xab\xcd\x90\x04\x00\x01\x00\x00\x00\x00\x00\x00",
            "QR, opcode 2, NOTIMP; no RD, AD or CD"
        );
        assert_eq!(&out[12..len], &STATUS[12..]);

        // The same flags on a QUERY: RD and CD echoed, AD not.
        let mut as_query = STATUS.to_vec();
        as_query[2] = 0x01;
        let Parsed::Query(parsed) = query::parse(&as_query, true) else {
            panic!("the QUERY parses");
        };
        let reply = Reply::start(
            &mut out,
            parsed.id,
            parsed.flags,
            Some(parsed.question),
            parsed.qname.len(),
            parsed.edns,
            512,
        )
        .unwrap();
        reply.finish(Rcode::NoError, true, 1232);
        assert_eq!(&out[2..4], b"\x85\x10", "QR, AA, RD, CD");
    }

    #[test]
    fn badvers_splits_rcode_between_header_and_opt() {
        let mut out = [0u8; 512];
        let edns = Some(Edns {
            udp_payload: 512,
            version: 1,
            dnssec_ok: false,
            client_subnet: None,
        });
        let reply = Reply::start(&mut out, 1, 0, Some(QUESTION), 17, edns, 512).unwrap();
        let len = reply.finish(Rcode::BadVers, false, 1232);
        assert_eq!(out[3] & 0x0f, 0);
        assert_eq!(out[len - 6], 1, "extended rcode 1 (16 >> 4)");
    }

    #[test]
    fn truncation_cuts_at_fragment_boundary_and_keeps_opt_room() {
        let mut store = FragmentStore::new();
        let mut builder = store.builder(Section::Answer, None);
        for i in 0..30u8 {
            builder.record(
                Owner::Pointer,
                16,
                1,
                30,
                &[RdataPart::Bytes(&[
                    9, b'x', b'x', b'x', b'x', b'x', b'x', b'x', b'x', i,
                ])],
            );
        }
        let big = builder.finish();
        let mut builder = store.builder(Section::Answer, None);
        builder.record(
            Owner::Pointer,
            1,
            1,
            30,
            &[RdataPart::Bytes(&[192, 0, 2, 1])],
        );
        let small = builder.finish();
        let mut out = [0u8; 4096];
        let edns = Some(Edns {
            udp_payload: 512,
            version: 0,
            dnssec_ok: false,
            client_subnet: None,
        });
        let mut reply = Reply::start(&mut out, 1, 0, Some(QUESTION), 17, edns, 512).unwrap();
        assert!(reply.push(store.get(small), 12).is_some());
        assert!(reply.push(store.get(big), 12).is_none());
        assert!(
            reply.push(store.get(small), 12).is_none(),
            "nothing after a cut"
        );
        let len = reply.finish(Rcode::NoError, true, 1232);
        assert!(len <= 512);
        assert_eq!(out[2] & 0x02, 0x02, "TC set");
        assert_eq!(&out[6..8], b"\x00\x01");
    }

    #[test]
    fn client_subnet_is_echoed_with_scope() {
        let subnet = crate::wire::query::ClientSubnet {
            family: 1,
            source_prefix: 24,
            address: [198, 51, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        };
        let edns = Some(Edns {
            udp_payload: 1232,
            version: 0,
            dnssec_ok: false,
            client_subnet: Some(subnet),
        });
        let mut out = [0u8; 512];
        let mut reply = Reply::start(&mut out, 1, 0, Some(QUESTION), 17, edns, 512).unwrap();
        reply.set_scope_prefix(24);
        let len = reply.finish(Rcode::NoError, true, 1232);
        assert_eq!(len, 33 + 11 + 11);
        assert_eq!(&out[33 + 9..33 + 11], b"\x00\x0b", "RDLENGTH");
        assert_eq!(
            &out[44..55],
            b"\x00\x08\x00\x07\x00\x01\x18\x18\xc6\x33\x64"
        );
    }
}
