//! Checks a received packet once, at the edge, and borrows what the answer
//! needs from it.
//!
//! Parsing uses `domain`'s zero-copy parser (`octseq::Parser`, `ParsedName`,
//! `RecordHeader`) over the receive buffer; nothing is copied or allocated.
//!
//! Contract: when [`parse`] returns [`Parsed::Query`], the question is one
//! uncompressed name of at most 255 bytes followed by type and class, the
//! whole packet was consumed by its counted sections, and at most one OPT
//! record was present. Code downstream relies on this and must not panic on
//! any packet that passed.

use domain::base::iana::Rtype;
use domain::base::name::Name;
use domain::base::record::RecordHeader;
use octseq::Parser;

use super::{DropReason, HEADER_LEN, Rcode};

/// Header flag bits in the second 16-bit word.
pub mod flags {
    /// Query/response.
    pub const QR: u16 = 0x8000;
    /// Authoritative answer.
    pub const AA: u16 = 0x0400;
    /// Truncated.
    pub const TC: u16 = 0x0200;
    /// Recursion desired, copied into the reply to a QUERY.
    pub const RD: u16 = 0x0100;
    /// Checking disabled (RFC 4035), copied into the reply to a QUERY.
    pub const CD: u16 = 0x0010;
    /// Opcode mask; shift right by 11 to read it.
    pub const OPCODE: u16 = 0x7800;
}

/// What the query's OPT record asked for (RFC 6891).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    /// The requestor's UDP payload size (values below 512 mean 512).
    pub udp_payload: u16,
    /// EDNS version; we implement 0.
    pub version: u8,
    /// The DO bit, copied into our OPT (RFC 3225).
    pub dnssec_ok: bool,
    /// The EDNS Client Subnet option (RFC 7871), when present and honoured.
    pub client_subnet: Option<ClientSubnet>,
}

/// EDNS option code of Client Subnet (RFC 7871).
pub const OPTION_CLIENT_SUBNET: u16 = 8;

/// An EDNS Client Subnet option as the query sent it (RFC 7871 section 6),
/// already checked: family 1 or 2, source prefix within the family's
/// length, exactly ceil(source / 8) address bytes, no bits set past the
/// prefix, scope 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSubnet {
    /// 1 for IPv4, 2 for IPv6.
    pub family: u16,
    /// SOURCE PREFIX-LENGTH.
    pub source_prefix: u8,
    /// The address, zero-padded to 16 bytes; only the first
    /// `address_len()` bytes go on the wire.
    pub address: [u8; 16],
}

impl ClientSubnet {
    /// Address bytes on the wire: ceil(source prefix / 8).
    pub fn address_len(&self) -> usize {
        usize::from(self.source_prefix).div_ceil(8)
    }

    /// The option's length on the wire, code and length included.
    pub fn wire_len(&self) -> usize {
        4 + 4 + self.address_len()
    }

    /// The client's network as an address (the bits past the prefix are zero).
    pub fn ip(&self) -> std::net::IpAddr {
        if self.family == 1 {
            let [a, b, c, d, ..] = self.address;
            std::net::IpAddr::from([a, b, c, d])
        } else {
            std::net::IpAddr::from(self.address)
        }
    }

    /// Parses and checks the option's data. `None` when malformed.
    fn parse(data: &[u8]) -> Option<ClientSubnet> {
        let [
            family_high,
            family_low,
            source_prefix,
            scope_prefix,
            address @ ..,
        ] = data
        else {
            return None;
        };
        let family = u16::from_be_bytes([*family_high, *family_low]);
        let max_prefix = match family {
            1 => 32,
            2 => 128,
            _ => return None,
        };
        if *source_prefix > max_prefix || *scope_prefix != 0 {
            return None;
        }
        let subnet_len = usize::from(*source_prefix).div_ceil(8);
        if address.len() != subnet_len {
            return None;
        }
        // Bits past the source prefix must be zero (RFC 7871 section 6).
        if let Some(&last) = address.last() {
            let used_bits = source_prefix % 8;
            if used_bits != 0 && last & (0xff >> used_bits) != 0 {
                return None;
            }
        }
        let mut padded = [0u8; 16];
        padded[..subnet_len].copy_from_slice(address);
        Some(ClientSubnet {
            family,
            source_prefix: *source_prefix,
            address: padded,
        })
    }
}

/// A query that passed every check: the borrowed question and its EDNS.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// The message ID, echoed.
    pub id: u16,
    /// The header flags word as received.
    pub flags: u16,
    /// The raw question (name, type, class) exactly as received, so the name
    /// is echoed byte for byte (0x20 mixed case kept).
    pub question: &'a [u8],
    /// The question name as received (uncompressed wire format).
    pub qname: &'a [u8],
    /// The question type.
    pub qtype: u16,
    /// The question class.
    pub qclass: u16,
    /// The query's OPT record, if any.
    pub edns: Option<Edns>,
}

/// A query that gets an error reply without a lookup.
#[derive(Clone, Copy, Debug)]
pub struct Reject<'a> {
    /// The message ID, echoed.
    pub id: u16,
    /// The header flags word as received, but for an opcode other than
    /// QUERY with RD and CD cleared: they are defined for QUERY only
    /// (RFC 1035 section 4.1.1, RFC 4035 section 3.2), so the reply must
    /// not echo them.
    pub flags: u16,
    /// The raw question when it parsed, echoed in the reply.
    pub question: Option<&'a [u8]>,
    /// FORMERR, NOTIMP or BADVERS.
    pub rcode: Rcode,
    /// The query's OPT record when it parsed; the reply then carries ours.
    pub edns: Option<Edns>,
}

/// A NOTIFY (RFC 1996) whose header and question parsed; the rest of the
/// message (the SOA in its answer, its TSIG) is read by whoever answers it.
#[derive(Clone, Copy, Debug)]
pub struct Notify<'a> {
    pub id: u16,
    /// The header flags word as received.
    pub flags: u16,
    /// The raw question, echoed in the reply.
    pub question: &'a [u8],
    /// The zone's name as received.
    pub qname: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
}

/// Opcode of NOTIFY messages.
pub const OPCODE_NOTIFY: u16 = 4;

/// The verdict on one received packet.
#[derive(Clone, Copy, Debug)]
pub enum Parsed<'a> {
    /// Well formed: look it up.
    Query(Query<'a>),
    /// Answer with an error code, without a lookup.
    Reject(Reject<'a>),
    /// A NOTIFY: checked against the snapshot's rules, not looked up.
    Notify(Notify<'a>),
    /// No reply at all.
    Drop(DropReason),
}

/// Record type of OPT pseudo-records.
const OPT: u16 = 41;

/// Where the question name that starts right after the header ends, found
/// by its label length bytes alone (at most 255 bytes, no pointer); `None`
/// when the packet ends first. `Name::from_slice` then checks the name.
#[inline]
pub(crate) fn question_name_end(packet: &[u8]) -> Option<usize> {
    let mut at = HEADER_LEN;
    loop {
        let length = usize::from(*packet.get(at)?);
        if length == 0 {
            return Some(at + 1);
        }
        if length & 0xc0 != 0 || at + 1 + length - HEADER_LEN >= 255 {
            return None;
        }
        at += 1 + length;
    }
}

/// Checks `packet` and returns what to do with it. Never panics. With
/// `client_subnet` false, an ECS option is ignored like any unknown option.
pub fn parse(packet: &[u8], client_subnet: bool) -> Parsed<'_> {
    if packet.len() < HEADER_LEN {
        return Parsed::Drop(DropReason::ShortPacket);
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let header_flags = u16::from_be_bytes([packet[2], packet[3]]);
    if header_flags & flags::QR != 0 {
        return Parsed::Drop(DropReason::Response);
    }
    let count = |at: usize| u16::from_be_bytes([packet[at], packet[at + 1]]);
    let (qdcount, ancount, nscount, arcount) = (count(4), count(6), count(8), count(10));
    let opcode = (header_flags & flags::OPCODE) >> 11;
    let reject = |rcode, question, edns| {
        Parsed::Reject(Reject {
            id,
            flags: if opcode == 0 {
                header_flags
            } else {
                header_flags & !(flags::RD | flags::CD)
            },
            question,
            rcode,
            edns,
        })
    };

    if qdcount != 1 {
        // QUERY and NOTIFY need exactly one question (RFC 1996 section 3.7).
        let rcode = if opcode != 0 && opcode != OPCODE_NOTIFY {
            Rcode::NotImp
        } else {
            Rcode::FormErr
        };
        return reject(rcode, None, None);
    }

    let mut parser = Parser::from_ref(packet);
    if parser.advance(HEADER_LEN).is_err() {
        return Parsed::Drop(DropReason::ShortPacket);
    }
    // The question name comes first, so it cannot be compressed (a pointer
    // could only point into the header). Parse only what that needs: find
    // where it ends by its length bytes, then let `domain` check it as an
    // absolute, uncompressed name of at most 255 bytes.
    let qname = match question_name_end(packet)
        .and_then(|end| Name::from_slice(&packet[HEADER_LEN..end]).ok())
    {
        Some(name) if parser.advance(name.len()).is_ok() => name.as_slice(),
        _ => return reject(Rcode::FormErr, None, None),
    };
    let (Ok(qtype), Ok(qclass)) = (parser.parse_u16_be(), parser.parse_u16_be()) else {
        return reject(Rcode::FormErr, None, None);
    };
    let question = &packet[HEADER_LEN..parser.pos()];
    if opcode == OPCODE_NOTIFY {
        return Parsed::Notify(Notify {
            id,
            flags: header_flags,
            question,
            qname,
            qtype,
            qclass,
        });
    }
    if opcode != 0 {
        return reject(Rcode::NotImp, Some(question), None);
    }

    for _ in 0..u32::from(ancount) + u32::from(nscount) {
        let skipped = RecordHeader::parse_ref(&mut parser)
            .and_then(|record| Ok(parser.advance(usize::from(record.rdlen()))?));
        if skipped.is_err() {
            return reject(Rcode::FormErr, Some(question), None);
        }
    }
    let mut edns = None;
    let mut opt_count = 0;
    for _ in 0..arcount {
        // The OPT record is the one the answer needs. Its owner is the root,
        // so its header is the fixed 11 bytes `00 0029 CLASS TTL RDLENGTH`,
        // read in place; any other record goes through `domain`'s parser to
        // be skipped.
        let at = parser.pos();
        let (owner_is_root, class, ttl, rdata) = match packet.get(at..at + 11) {
            Some(
                &[
                    0,
                    0,
                    41,
                    class_high,
                    class_low,
                    ttl0,
                    ttl1,
                    ttl2,
                    ttl3,
                    len_high,
                    len_low,
                ],
            ) => {
                let rdlen = usize::from(u16::from_be_bytes([len_high, len_low]));
                let Some(rdata) = packet.get(at + 11..at + 11 + rdlen) else {
                    return reject(Rcode::FormErr, Some(question), edns);
                };
                if parser.advance(11 + rdlen).is_err() {
                    return reject(Rcode::FormErr, Some(question), edns);
                }
                let class = u16::from_be_bytes([class_high, class_low]);
                (
                    true,
                    class,
                    u32::from_be_bytes([ttl0, ttl1, ttl2, ttl3]),
                    rdata,
                )
            }
            _ => {
                let Ok(record) = RecordHeader::parse_ref(&mut parser) else {
                    return reject(Rcode::FormErr, Some(question), edns);
                };
                let rdlen = usize::from(record.rdlen());
                let Ok(rdata) = parser.parse_octets(rdlen) else {
                    return reject(Rcode::FormErr, Some(question), edns);
                };
                if record.rtype() != Rtype::from_int(OPT) {
                    continue;
                }
                let ttl = record.ttl().as_secs();
                (
                    record.owner().is_root(),
                    record.class().to_int(),
                    ttl,
                    rdata,
                )
            }
        };
        opt_count += 1;
        // Most OPT records carry no options at all.
        let options = if rdata.is_empty() {
            Ok(None)
        } else {
            read_options(rdata, client_subnet)
        };
        if opt_count > 1 || !owner_is_root || options.is_err() {
            // RFC 6891 section 6.1.1: more than one OPT, or a malformed one
            // (RFC 7871 section 7.1: a malformed ECS option too), is FORMERR.
            return reject(Rcode::FormErr, Some(question), None);
        }
        edns = Some(Edns {
            udp_payload: class,
            version: (ttl >> 16) as u8,
            dnssec_ok: ttl & 0x8000 != 0,
            client_subnet: options.unwrap_or(None),
        });
    }
    if parser.remaining() != 0 {
        return reject(Rcode::FormErr, Some(question), edns);
    }
    if let Some(found) = edns {
        if found.version > 0 {
            return reject(Rcode::BadVers, Some(question), edns);
        }
    }
    Parsed::Query(Query {
        id,
        flags: header_flags,
        question,
        qname,
        qtype,
        qclass,
        edns,
    })
}

/// Reads OPT RDATA: a sequence of whole (code, length, data) options. Returns
/// the Client Subnet option when `client_subnet` is on; other options are
/// ignored (RFC 6891: unknown options are ignored). `Err` when the options do
/// not fill the RDATA exactly, or ECS is malformed or present twice.
fn read_options(mut rdata: &[u8], client_subnet: bool) -> Result<Option<ClientSubnet>, ()> {
    let mut found = None;
    while !rdata.is_empty() {
        if rdata.len() < 4 {
            return Err(());
        }
        let code = u16::from_be_bytes([rdata[0], rdata[1]]);
        let len = usize::from(u16::from_be_bytes([rdata[2], rdata[3]]));
        let (Some(data), Some(rest)) = (rdata.get(4..4 + len), rdata.get(4 + len..)) else {
            return Err(());
        };
        if code == OPTION_CLIENT_SUBNET && client_subnet {
            if found.is_some() {
                return Err(());
            }
            found = Some(ClientSubnet::parse(data).ok_or(())?);
        }
        rdata = rest;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `www.example.com. IN A`, ID 0x1234, RD, no EDNS.
    const PLAIN: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
        \x03www\x07example\x03com\x00\x00\x01\x00\x01";
    /// An OPT record: root, type 41, size 4096, ext-rcode 0, version 0, DO, no options.
    const OPT_DO: &[u8] = b"\x00\x00\x29\x10\x00\x00\x00\x80\x00\x00\x00";

    fn with_additional(base: &[u8], records: &[&[u8]]) -> Vec<u8> {
        let mut packet = base.to_vec();
        packet[11] = records.len() as u8;
        for record in records {
            packet.extend_from_slice(record);
        }
        packet
    }

    fn expect_reject(packet: &[u8]) -> Reject<'_> {
        match parse(packet, true) {
            Parsed::Reject(reject) => reject,
            other => panic!("expected a reject, got {other:?}"),
        }
    }

    #[test]
    fn opt_read_in_place_agrees_with_the_general_path() {
        // A non-OPT additional record (parsed by domain) before OPT (read in
        // place): both seen, EDNS taken from the OPT.
        let a_record: &[u8] = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x01";
        let packet = with_additional(PLAIN, &[a_record, OPT_DO]);
        let Parsed::Query(query) = parse(&packet, true) else {
            panic!("expected a query");
        };
        let edns = query.edns.expect("EDNS");
        assert_eq!(
            (edns.udp_payload, edns.dnssec_ok, edns.version),
            (4096, true, 0)
        );
        // OPT data running past the end of the packet: FORMERR.
        let mut cut = OPT_DO.to_vec();
        cut[10] = 8;
        assert_eq!(
            expect_reject(&with_additional(PLAIN, &[&cut])).rcode,
            Rcode::FormErr
        );
        // An OPT whose owner is not the root (so not read in place) is FORMERR.
        let owned: &[u8] = b"\xc0\x0c\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00";
        assert_eq!(
            expect_reject(&with_additional(PLAIN, &[owned])).rcode,
            Rcode::FormErr
        );
        // Two OPT records: FORMERR.
        assert_eq!(
            expect_reject(&with_additional(PLAIN, &[OPT_DO, OPT_DO])).rcode,
            Rcode::FormErr
        );
    }

    #[test]
    fn question_name_is_checked_by_domain_after_the_length_walk() {
        // 255 bytes in all is the most a name may have.
        let mut longest = PLAIN[..12].to_vec();
        for _ in 0..3 {
            longest.push(63);
            longest.extend_from_slice(&[b'a'; 63]);
        }
        longest.push(61);
        longest.extend_from_slice(&[b'b'; 61]);
        longest.extend_from_slice(b"\x00\x00\x01\x00\x01");
        assert_eq!(longest.len() - 12 - 4, 255);
        assert!(matches!(parse(&longest, true), Parsed::Query(_)));
        let mut too_long = longest.clone();
        too_long[12 + 192] = 62;
        too_long.insert(12 + 193, b'c');
        assert_eq!(expect_reject(&too_long).rcode, Rcode::FormErr);
        // A pointer or a reserved label type: FORMERR without a question.
        for first in [0xc0u8, 0x40, 0x80] {
            let mut packet = PLAIN.to_vec();
            packet[12] = first;
            let reject = expect_reject(&packet);
            assert_eq!(reject.rcode, Rcode::FormErr);
            assert!(reject.question.is_none());
        }
        // Cut inside the name.
        assert_eq!(expect_reject(&PLAIN[..20]).rcode, Rcode::FormErr);
    }

    #[test]
    fn plain_query_borrows_question() {
        let Parsed::Query(query) = parse(PLAIN, true) else {
            panic!("plain query rejected");
        };
        assert_eq!(query.id, 0x1234);
        assert_eq!(query.qname, b"\x03www\x07example\x03com\x00");
        assert_eq!(query.question, &PLAIN[12..]);
        assert_eq!((query.qtype, query.qclass), (1, 1));
        assert_eq!(query.edns, None);
    }

    #[test]
    fn edns_fields_read() {
        let packet = with_additional(PLAIN, &[OPT_DO]);
        let Parsed::Query(query) = parse(&packet, true) else {
            panic!("EDNS query rejected");
        };
        assert_eq!(
            query.edns,
            Some(Edns {
                udp_payload: 4096,
                version: 0,
                dnssec_ok: true,
                client_subnet: None,
            })
        );
    }

    #[test]
    fn unknown_edns_option_is_ignored() {
        // Option code 65001, 3 bytes of data.
        let opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x07\xfd\xe9\x00\x03abc";
        let packet = with_additional(PLAIN, &[opt]);
        assert!(matches!(parse(&packet, true), Parsed::Query(_)));
    }

    #[test]
    fn malformed_edns_option_is_formerr() {
        // Option claims 9 bytes of data, only 3 present inside RDLENGTH 7.
        let opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x07\xfd\xe9\x00\x09abc";
        let packet = with_additional(PLAIN, &[opt]);
        let reject = expect_reject(&packet);
        assert_eq!(reject.rcode, Rcode::FormErr);
        assert!(reject.question.is_some());
    }

    #[test]
    fn short_and_response_packets_are_dropped() {
        assert!(matches!(
            parse(&PLAIN[..11], true),
            Parsed::Drop(DropReason::ShortPacket)
        ));
        assert!(matches!(
            parse(&[], true),
            Parsed::Drop(DropReason::ShortPacket)
        ));
        let mut response = PLAIN.to_vec();
        response[2] |= 0x80;
        assert!(matches!(
            parse(&response, true),
            Parsed::Drop(DropReason::Response)
        ));
    }

    #[test]
    fn qdcount_not_one_is_formerr_without_question() {
        for qdcount in [0u8, 2] {
            let mut packet = PLAIN.to_vec();
            packet[5] = qdcount;
            let reject = expect_reject(&packet);
            assert_eq!(reject.rcode, Rcode::FormErr);
            assert_eq!(reject.question, None);
        }
    }

    #[test]
    fn truncated_question_is_formerr() {
        // Cut inside the name, and inside the type/class.
        for cut in [16, PLAIN.len() - 1, PLAIN.len() - 3] {
            let reject = expect_reject(&PLAIN[..cut]);
            assert_eq!(reject.rcode, Rcode::FormErr);
            assert_eq!(reject.question, None);
        }
    }

    #[test]
    fn compressed_question_name_is_formerr() {
        let packet = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01";
        assert_eq!(expect_reject(packet).rcode, Rcode::FormErr);
    }

    /// Found by fuzzing: a name that is only a pointer to a flat name (here
    /// the root label at offset 11, ARCOUNT's low byte) passed as
    /// uncompressed, and the reply echoed a pointer into its own header.
    #[test]
    fn question_name_of_one_pointer_is_formerr() {
        let packet = b"\x00\x22\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0b\x00\x01\x00\x01";
        let reject = expect_reject(packet);
        assert_eq!(reject.rcode, Rcode::FormErr);
        assert_eq!(reject.question, None);
    }

    #[test]
    fn trailing_garbage_is_formerr_with_question() {
        let mut packet = PLAIN.to_vec();
        packet.extend_from_slice(b"junk");
        let reject = expect_reject(&packet);
        assert_eq!(reject.rcode, Rcode::FormErr);
        assert_eq!(reject.question, Some(&PLAIN[12..]));
    }

    #[test]
    fn two_opt_records_are_formerr() {
        let packet = with_additional(PLAIN, &[OPT_DO, OPT_DO]);
        let reject = expect_reject(&packet);
        assert_eq!(reject.rcode, Rcode::FormErr);
        assert_eq!(reject.question, Some(&PLAIN[12..]));
    }

    #[test]
    fn opt_not_at_root_is_formerr() {
        let opt = b"\x01a\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00";
        let packet = with_additional(PLAIN, &[opt]);
        assert_eq!(expect_reject(&packet).rcode, Rcode::FormErr);
    }

    #[test]
    fn edns_version_one_is_badvers() {
        let opt = b"\x00\x00\x29\x10\x00\x00\x01\x00\x00\x00\x00";
        let packet = with_additional(PLAIN, &[opt]);
        let reject = expect_reject(&packet);
        assert_eq!(reject.rcode, Rcode::BadVers);
        assert!(reject.edns.is_some());
    }

    #[test]
    fn other_opcode_is_notimp_with_question() {
        let mut packet = PLAIN.to_vec();
        packet[2] = 0x28; // opcode 5 (UPDATE)
        let reject = expect_reject(&packet);
        assert_eq!(reject.rcode, Rcode::NotImp);
        assert_eq!(reject.question, Some(&PLAIN[12..]));
    }

    #[test]
    fn record_count_past_end_is_formerr() {
        let mut packet = PLAIN.to_vec();
        packet[7] = 1; // ANCOUNT 1, but no record follows
        assert_eq!(expect_reject(&packet).rcode, Rcode::FormErr);
    }

    #[test]
    fn mixed_case_name_is_kept() {
        let packet = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\
            \x03WwW\x07ExAmPlE\x03cOm\x00\x00\x01\x00\x01";
        let Parsed::Query(query) = parse(packet, true) else {
            panic!("rejected")
        };
        assert_eq!(query.qname, b"\x03WwW\x07ExAmPlE\x03cOm\x00");
    }

    /// An OPT record carrying one ECS option with the given data.
    fn opt_with_ecs(data: &[u8]) -> Vec<u8> {
        let mut opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00".to_vec();
        opt.extend_from_slice(&((data.len() + 4) as u16).to_be_bytes());
        opt.extend_from_slice(&[0, 8]);
        opt.extend_from_slice(&(data.len() as u16).to_be_bytes());
        opt.extend_from_slice(data);
        opt
    }

    #[test]
    fn client_subnet_is_read() {
        let packet = with_additional(PLAIN, &[&opt_with_ecs(b"\x00\x01\x18\x00\xc6\x33\x64")]);
        let Parsed::Query(query) = parse(&packet, true) else {
            panic!("ECS query rejected");
        };
        let subnet = query.edns.unwrap().client_subnet.unwrap();
        assert_eq!(subnet.source_prefix, 24);
        assert_eq!(
            subnet.ip(),
            "198.51.100.0".parse::<std::net::IpAddr>().unwrap()
        );
        assert_eq!(subnet.wire_len(), 11);
        // With ECS turned off the option is ignored.
        let Parsed::Query(query) = parse(&packet, false) else {
            panic!("rejected with ECS off");
        };
        assert_eq!(query.edns.unwrap().client_subnet, None);
        // IPv6 /56.
        let packet = with_additional(
            PLAIN,
            &[&opt_with_ecs(
                b"\x00\x02\x38\x00\x20\x01\x0d\xb8\x00\xe0\x00",
            )],
        );
        let Parsed::Query(query) = parse(&packet, true) else {
            panic!("v6 ECS rejected");
        };
        assert_eq!(query.edns.unwrap().client_subnet.unwrap().source_prefix, 56);
    }

    #[test]
    fn malformed_client_subnet_is_formerr() {
        for data in [
            &b"\x00\x03\x18\x00\xc6\x33\x64"[..],    // unknown family
            b"\x00\x01\x21\x00\xc6\x33\x64\x07\x01", // /33 for IPv4
            b"\x00\x01\x18\x00\xc6\x33",             // too few address bytes
            b"\x00\x01\x18\x00\xc6\x33\x64\x07",     // too many
            b"\x00\x01\x17\x00\xc6\x33\x65",         // a bit set past /23
            b"\x00\x01\x18\x10\xc6\x33\x64",         // scope not 0 in a query
            b"\x00\x01",                             // short
        ] {
            let packet = with_additional(PLAIN, &[&opt_with_ecs(data)]);
            assert_eq!(expect_reject(&packet).rcode, Rcode::FormErr, "{data:?}");
        }
    }
}
