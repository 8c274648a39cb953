//! DNS query packets: the encoder (header, question, optional EDNS OPT record
//! with the DO bit and an EDNS Client Subnet option), the set of pre-encoded
//! packets the generator cycles through, and the checks applied to a reply.
//!
//! Invariants: every packet in a [`PacketSet`] is a complete query with ID 0 (the
//! sender patches the first two bytes), one question, and at most
//! [`MAX_QUERY_SIZE`] bytes; `question(i)` is exactly packet `i`'s question section
//! (name, type, class), which a matching reply must echo.

use std::net::IpAddr;

use anyhow::{Context, bail};

use crate::query::Query;

/// Largest query the encoder produces: header 12, question 255 + 4, OPT 11, ECS
/// 4 + 4 + 16, with room to spare. Send buffers use this slot size.
pub const MAX_QUERY_SIZE: usize = 512;

/// DNS header size.
pub const HEADER_SIZE: usize = 12;

/// EDNS option code of EDNS Client Subnet (RFC 7871).
pub const ECS_OPTION_CODE: u16 = 8;

/// The EDNS payload size used when ECS or DO asks for EDNS without `--edns`.
pub const DEFAULT_EDNS_PAYLOAD: u16 = 1232;

/// Most packets pre-encoded when a query list is combined with an ECS range.
const MAX_PACKETS: usize = 1 << 20;

/// Most subnets an ECS range may name.
const MAX_SUBNETS: u128 = 1 << 20;

/// An EDNS Client Subnet: an address prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSubnet {
    /// The address, with every bit past `prefix` zero.
    pub address: IpAddr,
    /// SOURCE PREFIX-LENGTH.
    pub prefix: u8,
}

impl ClientSubnet {
    /// The whole option: code 8, length, FAMILY, SOURCE PREFIX-LENGTH, SCOPE
    /// PREFIX-LENGTH 0 and the first ceil(prefix / 8) bytes of the address (RFC 7871
    /// section 6).
    pub fn option_bytes(&self, out: &mut Vec<u8>) {
        let (family, octets): (u16, Vec<u8>) = match self.address {
            IpAddr::V4(address) => (1, address.octets().to_vec()),
            IpAddr::V6(address) => (2, address.octets().to_vec()),
        };
        let address_length = usize::from(self.prefix).div_ceil(8);
        let option_length = u16::try_from(4 + address_length).unwrap_or(u16::MAX);
        out.extend_from_slice(&ECS_OPTION_CODE.to_be_bytes());
        out.extend_from_slice(&option_length.to_be_bytes());
        out.extend_from_slice(&family.to_be_bytes());
        out.push(self.prefix);
        out.push(0);
        out.extend_from_slice(&octets[..address_length]);
    }
}

/// Bits of an address family.
fn family_bits(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn to_bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(address) => u128::from(u32::from(address)),
        IpAddr::V6(address) => u128::from(address),
    }
}

fn from_bits(bits: u128, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(u32::try_from(bits).unwrap_or(u32::MAX).into()),
        IpAddr::V6(_) => IpAddr::V6(bits.into()),
    }
}

/// `bits` with everything past the first `prefix` bits of a `width`-bit address cleared.
fn mask(bits: u128, prefix: u8, width: u8) -> u128 {
    let host_bits = u32::from(width - prefix);
    if host_bits >= 128 {
        0
    } else {
        bits & !((1u128 << host_bits) - 1)
    }
}

/// Parses `ADDR/LEN` into its address (bits past the prefix cleared) and length.
fn parse_prefix(text: &str) -> anyhow::Result<ClientSubnet> {
    let (address, prefix) = text
        .split_once('/')
        .with_context(|| format!("{text:?}: expected ADDRESS/PREFIX-LENGTH"))?;
    let address: IpAddr = address
        .trim()
        .parse()
        .with_context(|| format!("{text:?}: bad address"))?;
    let prefix: u8 = prefix
        .trim()
        .parse()
        .with_context(|| format!("{text:?}: bad prefix length"))?;
    let width = family_bits(address);
    if prefix > width {
        bail!("{text:?}: prefix length above {width}");
    }
    Ok(ClientSubnet {
        address: from_bits(mask(to_bits(address), prefix, width), address),
        prefix,
    })
}

/// Parses `--ecs`: one prefix (`198.51.100.0/24`), or a range of prefixes of one
/// length to rotate through, written `FIRST/LEN-LAST/LEN` or `FIRST-LAST/LEN`
/// (`198.51.100.0/24-198.51.200.0/24`: the 101 /24s from the first to the last).
pub fn parse_ecs(text: &str) -> anyhow::Result<Vec<ClientSubnet>> {
    let context = || format!("--ecs {text:?}");
    let Some((first, last)) = text.split_once('-') else {
        return Ok(vec![parse_prefix(text).with_context(context)?]);
    };
    let last = parse_prefix(last).with_context(context)?;
    let first = if first.contains('/') {
        parse_prefix(first).with_context(context)?
    } else {
        parse_prefix(&format!("{first}/{}", last.prefix)).with_context(context)?
    };
    if family_bits(first.address) != family_bits(last.address) {
        bail!("{}: both ends must be of one address family", context());
    }
    if first.prefix != last.prefix {
        bail!("{}: both ends must have one prefix length", context());
    }
    let width = family_bits(first.address);
    let step_bits = u32::from(width - first.prefix);
    if first.prefix == 0 || step_bits >= 128 {
        bail!("{}: a range needs a prefix length above 0", context());
    }
    let (low, high) = (to_bits(first.address), to_bits(last.address));
    if high < low {
        bail!("{}: the range ends before it starts", context());
    }
    let count = ((high - low) >> step_bits) + 1;
    if count > MAX_SUBNETS {
        bail!(
            "{}: more than {MAX_SUBNETS} subnets in the range",
            context()
        );
    }
    Ok((0..count)
        .map(|index| ClientSubnet {
            address: from_bits(low + (index << step_bits), first.address),
            prefix: first.prefix,
        })
        .collect())
}

/// EDNS settings for every query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edns {
    /// The advertised UDP payload size.
    pub payload: u16,
    /// The DO bit (RFC 3225).
    pub dnssec: bool,
}

/// What goes into every query besides the question.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoding {
    /// The RD bit.
    pub recursion_desired: bool,
    /// An OPT record, when present.
    pub edns: Option<Edns>,
}

/// Encodes a query with ID 0: header, `query`'s question (class IN) and, when
/// `encoding.edns` is set, an OPT record carrying `subnet` as an ECS option.
/// Returns the length of the header plus question.
pub fn encode(
    query: &Query,
    encoding: &Encoding,
    subnet: Option<&ClientSubnet>,
    out: &mut Vec<u8>,
) -> usize {
    let flags: u16 = if encoding.recursion_desired {
        0x0100
    } else {
        0
    };
    let additional: u16 = u16::from(encoding.edns.is_some());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&additional.to_be_bytes());
    let start = out.len() - HEADER_SIZE;
    out.extend_from_slice(&query.name);
    out.extend_from_slice(&query.qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    let question_end = out.len() - start;
    if let Some(edns) = &encoding.edns {
        let mut options = Vec::new();
        if let Some(subnet) = subnet {
            subnet.option_bytes(&mut options);
        }
        let extended_flags: u16 = if edns.dnssec { 0x8000 } else { 0 };
        out.push(0);
        out.extend_from_slice(&41u16.to_be_bytes());
        out.extend_from_slice(&edns.payload.to_be_bytes());
        out.push(0); // extended RCODE
        out.push(0); // version
        out.extend_from_slice(&extended_flags.to_be_bytes());
        let length = u16::try_from(options.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&options);
    }
    question_end
}

/// Where one packet lies in a [`PacketSet`].
#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    length: u16,
    question_end: u16,
}

/// Every distinct query packet, encoded once at start, in the order they are sent.
#[derive(Debug)]
pub struct PacketSet {
    bytes: Vec<u8>,
    spans: Vec<Span>,
}

impl PacketSet {
    /// Encodes the packets. Without subnets there is one per query. With subnets,
    /// packet `j` pairs query `j % queries` with subnet `j % subnets`, for `j` below
    /// the least common multiple of the two counts (so every pairing in the cycle is
    /// sent), or below the larger count when that multiple exceeds 2^20 packets.
    pub fn build(
        queries: &[Query],
        encoding: &Encoding,
        subnets: &[ClientSubnet],
    ) -> anyhow::Result<PacketSet> {
        if queries.is_empty() {
            bail!("no queries");
        }
        let count = if subnets.is_empty() {
            queries.len()
        } else {
            let lcm = queries.len() / gcd(queries.len(), subnets.len()) * subnets.len();
            if lcm <= MAX_PACKETS {
                lcm
            } else {
                queries.len().max(subnets.len())
            }
        };
        let mut bytes = Vec::with_capacity(count * 64);
        let mut spans = Vec::with_capacity(count);
        for index in 0..count {
            let start = bytes.len();
            let subnet = (!subnets.is_empty()).then(|| &subnets[index % subnets.len()]);
            let question_end = encode(
                &queries[index % queries.len()],
                encoding,
                subnet,
                &mut bytes,
            );
            let length = bytes.len() - start;
            if length > MAX_QUERY_SIZE {
                bail!("query {index} encodes to {length} bytes, above {MAX_QUERY_SIZE}");
            }
            spans.push(Span {
                start: u32::try_from(start).context("query set too large")?,
                length: u16::try_from(length).context("query too large")?,
                question_end: u16::try_from(question_end).context("query too large")?,
            });
        }
        Ok(PacketSet { bytes, spans })
    }

    /// Number of packets.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Packet `index`, with ID 0.
    pub fn packet(&self, index: usize) -> &[u8] {
        let span = self.spans[index];
        let start = span.start as usize;
        &self.bytes[start..start + usize::from(span.length)]
    }

    /// The question section of packet `index`.
    pub fn question(&self, index: usize) -> &[u8] {
        let span = self.spans[index];
        let start = span.start as usize;
        &self.bytes[start + HEADER_SIZE..start + usize::from(span.question_end)]
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The ID of a message at least [`HEADER_SIZE`] long.
pub fn message_id(message: &[u8]) -> u16 {
    u16::from_be_bytes([message[0], message[1]])
}

/// What a reply's header says, once it is known to be at least a header long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyHeader {
    pub id: u16,
    /// The QR bit.
    pub response: bool,
    /// The TC bit.
    pub truncated: bool,
    /// The header RCODE (4 bits).
    pub rcode: u8,
}

/// The header of `reply`, or `None` when it is shorter than a header.
pub fn reply_header(reply: &[u8]) -> Option<ReplyHeader> {
    if reply.len() < HEADER_SIZE {
        return None;
    }
    Some(ReplyHeader {
        id: message_id(reply),
        response: reply[2] & 0x80 != 0,
        truncated: reply[2] & 0x02 != 0,
        rcode: reply[3] & 0x0f,
    })
}

/// Whether `reply` has exactly one question equal to `question` (the query's
/// question section; names compared ASCII case-insensitively, as servers may
/// echo 0x20-randomized case either way).
pub fn question_matches(reply: &[u8], question: &[u8]) -> bool {
    if reply.len() < HEADER_SIZE + question.len() || reply[4..6] != [0, 1] {
        return false;
    }
    reply[HEADER_SIZE..HEADER_SIZE + question.len()].eq_ignore_ascii_case(question)
}

/// The mnemonic of a header RCODE (RFC 1035, 2136).
pub fn rcode_name(rcode: u8) -> &'static str {
    const NAMES: [&str; 16] = [
        "NOERROR",
        "FORMERR",
        "SERVFAIL",
        "NXDOMAIN",
        "NOTIMP",
        "REFUSED",
        "YXDOMAIN",
        "YXRRSET",
        "NXRRSET",
        "NOTAUTH",
        "NOTZONE",
        "DSOTYPENI",
        "RCODE12",
        "RCODE13",
        "RCODE14",
        "RCODE15",
    ];
    NAMES[usize::from(rcode & 0x0f)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{encode_name, single};

    #[test]
    fn plain_query_matches_the_reference_bytes() {
        let query = single("www.example.com", "A").unwrap();
        let mut out = Vec::new();
        let question_end = encode(&query, &Encoding::default(), None, &mut out);
        let expected: &[u8] = b"\0\0\0\0\0\x01\0\0\0\0\0\0\x03www\x07example\x03com\0\0\x01\0\x01";
        assert_eq!(out, expected);
        assert_eq!(question_end, out.len());
    }

    #[test]
    fn edns_query_matches_the_blaster_packet() {
        // The C blaster's query (RD set, OPT with payload 1232), ID 0.
        let query = single("www.example.com", "A").unwrap();
        let encoding = Encoding {
            recursion_desired: true,
            edns: Some(Edns {
                payload: 1232,
                dnssec: false,
            }),
        };
        let mut out = Vec::new();
        encode(&query, &encoding, None, &mut out);
        let expected: &[u8] = &[
            0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1, 3, b'w', b'w', b'w', 7, b'e', b'x', b'a',
            b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0,
            0, 0, 0, 0,
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn dnssec_and_ecs_go_into_the_opt_record() {
        let query = single("example.com", "DNSKEY").unwrap();
        let encoding = Encoding {
            recursion_desired: false,
            edns: Some(Edns {
                payload: 4096,
                dnssec: true,
            }),
        };
        let subnet = parse_ecs("198.51.100.7/24").unwrap()[0];
        let mut out = Vec::new();
        let question_end = encode(&query, &encoding, Some(&subnet), &mut out);
        let opt = &out[question_end..];
        assert_eq!(
            opt,
            &[
                0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0x00, 0, 11, 0, 8, 0, 7, 0, 1, 24, 0, 198, 51,
                100
            ]
        );
        assert_eq!(&out[10..12], &[0, 1], "ARCOUNT 1");
    }

    #[test]
    fn ecs_option_bytes_follow_rfc_7871() {
        let mut out = Vec::new();
        parse_ecs("198.51.100.0/24").unwrap()[0].option_bytes(&mut out);
        assert_eq!(out, [0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100]);

        let mut out = Vec::new();
        parse_ecs("192.0.2.255/20").unwrap()[0].option_bytes(&mut out);
        assert_eq!(
            out,
            [0, 8, 0, 7, 0, 1, 20, 0, 192, 0, 0],
            "bits past /20 cleared"
        );

        let mut out = Vec::new();
        parse_ecs("2001:db8:1:2::/48").unwrap()[0].option_bytes(&mut out);
        assert_eq!(
            out,
            [0, 8, 0, 10, 0, 2, 48, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 1]
        );

        let mut out = Vec::new();
        parse_ecs("0.0.0.0/0").unwrap()[0].option_bytes(&mut out);
        assert_eq!(out, [0, 8, 0, 4, 0, 1, 0, 0]);
    }

    #[test]
    fn ecs_ranges_rotate_through_the_prefixes() {
        let subnets = parse_ecs("198.51.100.0/24-198.51.200.0/24").unwrap();
        assert_eq!(subnets.len(), 101);
        assert_eq!(subnets[0].address.to_string(), "198.51.100.0");
        assert_eq!(subnets[1].address.to_string(), "198.51.101.0");
        assert_eq!(subnets[100].address.to_string(), "198.51.200.0");
        assert!(subnets.iter().all(|subnet| subnet.prefix == 24));

        let short = parse_ecs("10.0.0.0-10.0.3.0/24").unwrap();
        assert_eq!(short.len(), 4);
        let v6 = parse_ecs("2001:db8::/48-2001:db8:2::/48").unwrap();
        assert_eq!(v6.len(), 3);
        assert_eq!(v6[2].address.to_string(), "2001:db8:2::");
    }

    #[test]
    fn bad_ecs_is_refused() {
        for text in [
            "198.51.100.0",
            "198.51.100.0/33",
            "nonsense/24",
            "10.0.3.0/24-10.0.0.0/24",
            "10.0.0.0/24-10.0.3.0/16",
            "10.0.0.0/24-2001:db8::/24",
            "0.0.0.0/0-0.0.0.0/0",
            "0.0.0.0/32-255.255.255.255/32",
        ] {
            assert!(parse_ecs(text).is_err(), "{text}");
        }
    }

    #[test]
    fn packet_set_pairs_queries_with_subnets() {
        let queries = vec![
            single("a.example", "A").unwrap(),
            single("b.example", "AAAA").unwrap(),
        ];
        let subnets = parse_ecs("10.0.0.0/24-10.0.2.0/24").unwrap();
        let encoding = Encoding {
            recursion_desired: false,
            edns: Some(Edns {
                payload: 1232,
                dnssec: false,
            }),
        };
        let set = PacketSet::build(&queries, &encoding, &subnets).unwrap();
        assert_eq!(set.len(), 6, "lcm(2, 3)");
        for index in 0..6 {
            let packet = set.packet(index);
            assert_eq!(message_id(packet), 0);
            let name = &queries[index % 2].name;
            assert_eq!(&set.question(index)[..name.len()], name.as_slice());
            let third_octet = packet[packet.len() - 1];
            assert_eq!(usize::from(third_octet), index % 3);
        }
        let plain = PacketSet::build(&queries, &Encoding::default(), &[]).unwrap();
        assert_eq!(plain.len(), 2);
        assert_eq!(
            plain.question(1),
            [encode_name("b.example").unwrap(), vec![0, 28, 0, 1]].concat()
        );
    }

    #[test]
    fn reply_checks() {
        let query = single("www.example.com", "A").unwrap();
        let set =
            PacketSet::build(std::slice::from_ref(&query), &Encoding::default(), &[]).unwrap();
        let mut reply = set.packet(0).to_vec();
        reply[0] = 0x12;
        reply[1] = 0x34;
        reply[2] |= 0x80 | 0x02;
        reply[3] = 0x03;
        let header = reply_header(&reply).unwrap();
        assert_eq!(
            header,
            ReplyHeader {
                id: 0x1234,
                response: true,
                truncated: true,
                rcode: 3
            }
        );
        assert_eq!(rcode_name(header.rcode), "NXDOMAIN");
        assert!(question_matches(&reply, set.question(0)));
        reply[13] = b'W';
        assert!(
            question_matches(&reply, set.question(0)),
            "case-insensitive"
        );
        reply[14] = b'x';
        assert!(!question_matches(&reply, set.question(0)));
        assert!(!question_matches(&reply[..20], set.question(0)));
        assert!(reply_header(&reply[..11]).is_none());
    }
}
