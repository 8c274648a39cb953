//! Ethernet II + IPv4/IPv6 + UDP frames, parsed and built in place in a byte
//! buffer: the frame layer under AF_XDP. The server's XDP workers parse a
//! received frame with [`parse_udp`], write the reply's UDP payload over the
//! query's and call [`turn_around`]; the generator builds a query frame once with
//! [`write_udp`] and, for every send, patches the UDP source port and the first
//! payload word with [`patch_port_and_id`], which updates the UDP checksum
//! incrementally ([`checksum_adjust`], RFC 1624).
//!
//! Handled frames are untagged Ethernet II carrying IPv4 without options and not
//! fragmented, or IPv6 whose next header is UDP itself (no extension headers);
//! [`FrameError`] says why any other frame is not handled, so the caller can
//! count it and hand it back. Received UDP checksums are not verified (a veth
//! peer or checksum offload may deliver them partial); every checksum written is
//! complete: the IPv4 header checksum and the UDP checksum over the pseudo-header,
//! for both families, a computed 0 sent as `0xFFFF` (RFC 768, RFC 8200).
//!
//! Everything here works on a caller's `&[u8]` / `&mut [u8]`: nothing allocates
//! and nothing knows what the payload means.
#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;

/// Length of an Ethernet II header (no VLAN tag).
pub const ETH_HLEN: usize = 14;
/// Length of an IPv4 header without options.
pub const IPV4_HLEN: usize = 20;
/// Length of the fixed IPv6 header.
pub const IPV6_HLEN: usize = 40;
/// Length of a UDP header.
pub const UDP_HLEN: usize = 8;

/// Ethertype of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// Ethertypes of VLAN tags: 802.1Q, 802.1ad, and the pre-standard QinQ 0x9100.
pub const ETHERTYPES_VLAN: [u16; 3] = [0x8100, 0x88A8, 0x9100];
/// IP protocol number (IPv4) and next header (IPv6) of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IPv6 next header of a fragment header.
const IPV6_FRAGMENT: u8 = 44;

/// Hop limit (IPv6) and TTL (IPv4) of every frame written.
const HOP_LIMIT: u8 = 64;
/// IPv4 flags and fragment offset field of every frame written: don't fragment.
const IPV4_DONT_FRAGMENT: u16 = 0x4000;

/// Offsets of the IP header, its address pair and the UDP header, per family.
const IP: usize = ETH_HLEN;
const IPV4_ADDRESSES: Range<usize> = IP + 12..IP + 20;
const IPV6_ADDRESSES: Range<usize> = IP + 8..IP + 40;
const UDP_V4: usize = IP + IPV4_HLEN;
const UDP_V6: usize = IP + IPV6_HLEN;
/// Header length of a UDP datagram in an Ethernet frame, per family.
const HEADER_V4: usize = UDP_V4 + UDP_HLEN;
const HEADER_V6: usize = UDP_V6 + UDP_HLEN;

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

/// Why a frame is not a plain UDP datagram we handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Shorter than the Ethernet, IP and UDP headers it announces.
    Runt,
    /// VLAN-tagged (802.1Q, 802.1ad, QinQ).
    Vlan,
    /// Another ethertype than IPv4 or IPv6 (ARP, LLDP, ...).
    NotIp,
    /// The IP version nibble disagrees with the ethertype.
    IpVersion,
    /// IPv4 with options (or a header length below 5 words): IHL is not 5.
    IpOptions,
    /// An IPv4 fragment (more fragments set or a fragment offset), or IPv6 with
    /// a fragment header.
    Fragment,
    /// Not UDP: another protocol, or IPv6 extension headers before UDP.
    NotUdp,
    /// The IP total/payload length or the UDP length disagrees with the frame
    /// or with each other.
    BadLength,
}

/// Where the UDP payload of a frame lies, and the datagram's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpFrame {
    /// The datagram's sender (for IPv6: flow info and scope id are 0).
    pub source: SocketAddr,
    /// The address the datagram was sent to.
    pub destination: SocketAddr,
    /// Offset of the UDP payload in the frame: the header length.
    pub payload_offset: usize,
    /// Length of the UDP payload, from the UDP length (Ethernet padding excluded).
    pub payload_len: usize,
}

impl UdpFrame {
    /// Header length (== `payload_offset`): 42 for IPv4, 62 for IPv6.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.payload_offset
    }

    /// The bytes of the frame that hold the UDP payload.
    #[inline]
    pub fn payload_range(&self) -> Range<usize> {
        self.payload_offset..self.payload_offset + self.payload_len
    }
}

/// Header length of a UDP datagram to or from `address` in an Ethernet frame:
/// 42 for IPv4, 62 for IPv6 (only the family of the address counts).
#[inline]
pub fn header_len(address: SocketAddr) -> usize {
    match address {
        SocketAddr::V4(_) => HEADER_V4,
        SocketAddr::V6(_) => HEADER_V6,
    }
}

#[inline]
fn be16(frame: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([frame[at], frame[at + 1]])
}

#[inline]
fn put16(frame: &mut [u8], at: usize, value: u16) {
    frame[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// Parses an Ethernet II frame carrying IPv4 (no options, not a fragment) or
/// IPv6 (next header UDP directly) and UDP.
///
/// The payload length comes from the UDP length, which must fit in the IP
/// length, which must fit in the frame: bytes past the IP length (Ethernet
/// padding of short frames to 60 bytes) and past the UDP length are not payload.
/// Neither the IPv4 header checksum nor the UDP checksum is verified (veth or
/// offload may leave the UDP checksum partial; the Ethernet FCS has been).
/// Never panics, whatever the bytes.
#[inline]
pub fn parse_udp(frame: &[u8]) -> Result<UdpFrame, FrameError> {
    if frame.len() < ETH_HLEN {
        return Err(FrameError::Runt);
    }
    let ethertype = be16(frame, 12);
    if ethertype == ETHERTYPE_IPV4 {
        parse_ipv4(frame)
    } else if ethertype == ETHERTYPE_IPV6 {
        parse_ipv6(frame)
    } else if ETHERTYPES_VLAN.contains(&ethertype) {
        Err(FrameError::Vlan)
    } else {
        Err(FrameError::NotIp)
    }
}

#[inline]
fn parse_ipv4(frame: &[u8]) -> Result<UdpFrame, FrameError> {
    if frame.len() < UDP_V4 {
        return Err(FrameError::Runt);
    }
    let version_ihl = frame[IP];
    if version_ihl >> 4 != 4 {
        return Err(FrameError::IpVersion);
    }
    if version_ihl & 0x0F != 5 {
        return Err(FrameError::IpOptions);
    }
    // More fragments (0x2000) or a fragment offset (0x1FFF); DF and the
    // reserved bit do not matter.
    if be16(frame, IP + 6) & 0x3FFF != 0 {
        return Err(FrameError::Fragment);
    }
    if frame[IP + 9] != IPPROTO_UDP {
        return Err(FrameError::NotUdp);
    }
    if frame.len() < HEADER_V4 {
        return Err(FrameError::Runt);
    }
    let total = usize::from(be16(frame, IP + 2));
    if total < IPV4_HLEN + UDP_HLEN || IP + total > frame.len() {
        return Err(FrameError::BadLength);
    }
    let udp_len = usize::from(be16(frame, UDP_V4 + 4));
    if udp_len < UDP_HLEN || udp_len > total - IPV4_HLEN {
        return Err(FrameError::BadLength);
    }
    let source = Ipv4Addr::new(
        frame[IP + 12],
        frame[IP + 13],
        frame[IP + 14],
        frame[IP + 15],
    );
    let destination = Ipv4Addr::new(
        frame[IP + 16],
        frame[IP + 17],
        frame[IP + 18],
        frame[IP + 19],
    );
    Ok(UdpFrame {
        source: SocketAddr::V4(SocketAddrV4::new(source, be16(frame, UDP_V4))),
        destination: SocketAddr::V4(SocketAddrV4::new(destination, be16(frame, UDP_V4 + 2))),
        payload_offset: HEADER_V4,
        payload_len: udp_len - UDP_HLEN,
    })
}

#[inline]
fn ipv6_address(frame: &[u8], at: usize) -> Ipv6Addr {
    let mut octets = [0; 16];
    octets.copy_from_slice(&frame[at..at + 16]);
    Ipv6Addr::from(octets)
}

#[inline]
fn parse_ipv6(frame: &[u8]) -> Result<UdpFrame, FrameError> {
    if frame.len() < UDP_V6 {
        return Err(FrameError::Runt);
    }
    if frame[IP] >> 4 != 6 {
        return Err(FrameError::IpVersion);
    }
    match frame[IP + 6] {
        IPPROTO_UDP => {}
        IPV6_FRAGMENT => return Err(FrameError::Fragment),
        _ => return Err(FrameError::NotUdp),
    }
    if frame.len() < HEADER_V6 {
        return Err(FrameError::Runt);
    }
    // A payload length of 0 (a jumbogram's) is below UDP_HLEN: BadLength.
    let payload = usize::from(be16(frame, IP + 4));
    if payload < UDP_HLEN || UDP_V6 + payload > frame.len() {
        return Err(FrameError::BadLength);
    }
    let udp_len = usize::from(be16(frame, UDP_V6 + 4));
    if udp_len < UDP_HLEN || udp_len > payload {
        return Err(FrameError::BadLength);
    }
    let source = ipv6_address(frame, IP + 8);
    let destination = ipv6_address(frame, IP + 24);
    Ok(UdpFrame {
        source: SocketAddr::V6(SocketAddrV6::new(source, be16(frame, UDP_V6), 0, 0)),
        destination: SocketAddr::V6(SocketAddrV6::new(
            destination,
            be16(frame, UDP_V6 + 2),
            0,
            0,
        )),
        payload_offset: HEADER_V6,
        payload_len: udp_len - UDP_HLEN,
    })
}

/// Turns a parsed query frame into its reply in place. The reply's UDP payload,
/// `payload_len` bytes, is already written at `parsed.payload_offset`.
///
/// Swaps the Ethernet source and destination, writes the IP and UDP headers from
/// `parsed.destination` to `parsed.source` (so addresses and ports are swapped)
/// with the reply's lengths, and computes the IPv4 header checksum and the UDP
/// checksum. IPv4: DSCP kept, ECN cleared, ID 0, don't fragment, TTL 64. IPv6:
/// traffic class kept but its ECN bits cleared, flow label kept (the reply goes
/// back on the query's flow), hop limit 64. The ethertype is left as it is.
/// Returns the reply frame's length, `parsed.header_len() + payload_len`.
///
/// # Panics
///
/// If `frame` is shorter than `parsed.header_len() + payload_len`, or the
/// payload does not fit IP's 16-bit lengths (over 65 507 bytes for IPv4, 65 527
/// for IPv6): caller bugs. `parsed` must come from [`parse_udp`] on this frame.
#[inline]
pub fn turn_around(frame: &mut [u8], parsed: &UdpFrame, payload_len: usize) -> usize {
    let length = parsed.header_len() + payload_len;
    assert!(
        frame.len() >= length,
        "frame of {} bytes cannot hold a {length}-byte reply",
        frame.len()
    );
    let mut mac: Mac = [0; 6];
    mac.copy_from_slice(&frame[0..6]);
    frame.copy_within(6..12, 0);
    frame[6..12].copy_from_slice(&mac);
    match (parsed.destination, parsed.source) {
        (SocketAddr::V4(source), SocketAddr::V4(destination)) => {
            let tos = frame[IP + 1] & !0x03;
            write_ipv4_udp(frame, source, destination, tos, payload_len);
        }
        (SocketAddr::V6(source), SocketAddr::V6(destination)) => {
            let mut first = [0; 4];
            first.copy_from_slice(&frame[IP..IP + 4]);
            first[1] &= !0x30;
            write_ipv6_udp(frame, source, destination, first, payload_len);
        }
        _ => panic!("UdpFrame with addresses of two families"),
    }
    length
}

/// Writes the Ethernet, IP and UDP headers of a datagram from `source` to
/// `destination` whose `payload_len`-byte payload is already written at
/// [`header_len`]`(source)`, and computes both checksums. IPv4: TOS 0, ID 0,
/// don't fragment, TTL 64. IPv6: traffic class and flow label 0, hop limit 64;
/// the flow info and scope id of the addresses are not used. Returns the frame
/// length, `header_len(source) + payload_len`.
///
/// # Panics
///
/// If `source` and `destination` are of different families, if `frame` is
/// shorter than the returned length, or if the payload does not fit IP's
/// 16-bit lengths.
pub fn write_udp(
    frame: &mut [u8],
    source_mac: Mac,
    destination_mac: Mac,
    source: SocketAddr,
    destination: SocketAddr,
    payload_len: usize,
) -> usize {
    let length = header_len(source) + payload_len;
    assert!(
        frame.len() >= length,
        "frame of {} bytes cannot hold a {length}-byte datagram",
        frame.len()
    );
    frame[0..6].copy_from_slice(&destination_mac);
    frame[6..12].copy_from_slice(&source_mac);
    match (source, destination) {
        (SocketAddr::V4(source), SocketAddr::V4(destination)) => {
            put16(frame, 12, ETHERTYPE_IPV4);
            write_ipv4_udp(frame, source, destination, 0, payload_len);
        }
        (SocketAddr::V6(source), SocketAddr::V6(destination)) => {
            put16(frame, 12, ETHERTYPE_IPV6);
            write_ipv6_udp(frame, source, destination, [0x60, 0, 0, 0], payload_len);
        }
        _ => panic!("write_udp from {source} to {destination}: families differ"),
    }
    length
}

/// The UDP length of a datagram with `payload_len` bytes of payload whose IP
/// length field adds `ip_overhead` to it.
#[inline]
fn udp_len(payload_len: usize, ip_overhead: usize) -> u16 {
    let len = UDP_HLEN + payload_len;
    assert!(
        len + ip_overhead <= usize::from(u16::MAX),
        "a {payload_len}-byte UDP payload does not fit an IP datagram"
    );
    len as u16
}

/// Writes the IPv4 and UDP headers after the Ethernet header, with checksums.
#[inline]
fn write_ipv4_udp(
    frame: &mut [u8],
    source: SocketAddrV4,
    destination: SocketAddrV4,
    tos: u8,
    payload_len: usize,
) {
    let udp_len = udp_len(payload_len, IPV4_HLEN);
    frame[IP] = 0x45;
    frame[IP + 1] = tos;
    put16(frame, IP + 2, udp_len + IPV4_HLEN as u16);
    put16(frame, IP + 4, 0);
    put16(frame, IP + 6, IPV4_DONT_FRAGMENT);
    frame[IP + 8] = HOP_LIMIT;
    frame[IP + 9] = IPPROTO_UDP;
    put16(frame, IP + 10, 0);
    frame[IP + 12..IP + 16].copy_from_slice(&source.ip().octets());
    frame[IP + 16..IP + 20].copy_from_slice(&destination.ip().octets());
    let header = checksum(&frame[IP..UDP_V4]);
    put16(frame, IP + 10, header);
    write_udp_header(
        frame,
        UDP_V4,
        IPV4_ADDRESSES,
        source.port(),
        destination.port(),
        udp_len,
    );
}

/// Writes the IPv6 and UDP headers after the Ethernet header, the first four
/// bytes (version, traffic class, flow label) given, with the UDP checksum.
#[inline]
fn write_ipv6_udp(
    frame: &mut [u8],
    source: SocketAddrV6,
    destination: SocketAddrV6,
    first: [u8; 4],
    payload_len: usize,
) {
    let udp_len = udp_len(payload_len, 0);
    frame[IP..IP + 4].copy_from_slice(&first);
    put16(frame, IP + 4, udp_len);
    frame[IP + 6] = IPPROTO_UDP;
    frame[IP + 7] = HOP_LIMIT;
    frame[IP + 8..IP + 24].copy_from_slice(&source.ip().octets());
    frame[IP + 24..IP + 40].copy_from_slice(&destination.ip().octets());
    write_udp_header(
        frame,
        UDP_V6,
        IPV6_ADDRESSES,
        source.port(),
        destination.port(),
        udp_len,
    );
}

/// Writes the UDP header at `udp` and its checksum over the pseudo-header (the
/// address pair at `addresses`, protocol 17, UDP length), header and payload.
#[inline]
fn write_udp_header(
    frame: &mut [u8],
    udp: usize,
    addresses: Range<usize>,
    source_port: u16,
    destination_port: u16,
    udp_len: u16,
) {
    put16(frame, udp, source_port);
    put16(frame, udp + 2, destination_port);
    put16(frame, udp + 4, udp_len);
    put16(frame, udp + 6, 0);
    // The IPv4 pseudo-header's zero byte and protocol, and IPv6's 32-bit length
    // and 24 zero bits before the next header, sum to the same two words.
    let pseudo = sum(
        &frame[addresses],
        u64::from(IPPROTO_UDP) + u64::from(udp_len),
    );
    let total = sum(&frame[udp..udp + usize::from(udp_len)], pseudo);
    put16(frame, udp + 6, udp_checksum_field(!fold(total)));
}

/// The UDP checksum field for a computed checksum: 0 means "no checksum" in
/// UDP, so a computed 0 is sent as `0xFFFF`, its one's-complement equal.
#[inline]
fn udp_checksum_field(computed: u16) -> u16 {
    if computed == 0 { 0xFFFF } else { computed }
}

/// Adds `data`, as big-endian 16-bit words (an odd last byte padded with a zero
/// byte), to `initial`, without folding carries. Exact for any `data` shorter
/// than 2^34 bytes.
#[inline]
fn sum(data: &[u8], initial: u64) -> u64 {
    let mut total = initial;
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        // A 32-bit word is two 16-bit words, one of them scaled by 2^16 ≡ 1.
        total += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    let rest = words.remainder();
    let mut last = [0; 4];
    last[..rest.len()].copy_from_slice(rest);
    total + u64::from(u32::from_be_bytes(last))
}

/// Folds a sum of 16-bit words to 16 bits with end-around carries: the
/// one's-complement sum (0 only if the sum was 0).
#[inline]
fn fold(mut total: u64) -> u16 {
    while total > 0xFFFF {
        total = (total & 0xFFFF) + (total >> 16);
    }
    total as u16
}

/// The Internet checksum of `data` (RFC 1071): the one's complement of the
/// one's-complement sum of its big-endian 16-bit words, an odd last byte padded
/// with a zero byte. Over data with a correct checksum field this is 0.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

/// RFC 1624 incremental update (equation 3, `HC' = ~(~HC + ~m + m')`): the
/// checksum field value after one 16-bit word of the covered data changes from
/// `old` to `new`, given its value `checksum` before. When `checksum` was
/// computed in full by [`checksum`] over data that is not all zero, the result
/// equals a full recomputation; a UDP checksum field of `0xFFFF` (a computed 0)
/// may come back as 0 or `0xFFFF` and must be mapped to `0xFFFF` again, as
/// [`patch_port_and_id`] does.
#[inline]
pub fn checksum_adjust(checksum: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!checksum) + u64::from(!old) + u64::from(new))
}

/// Patches a frame built by [`write_udp`] for another send: sets the UDP source
/// port and the first 16-bit word of the payload (the DNS ID of the generator's
/// queries) and updates the UDP checksum incrementally, a computed 0 still sent
/// as `0xFFFF`; the result is byte for byte what [`write_udp`] writes for that
/// port and payload. The IPv4 header checksum does not cover either field.
/// `header_len` is [`header_len`] of the datagram's family.
///
/// # Panics
///
/// If `frame` is shorter than `header_len + 2` (the payload must be at least two
/// bytes long).
#[inline]
pub fn patch_port_and_id(frame: &mut [u8], header_len: usize, source_port: u16, id: u16) {
    debug_assert!(header_len == HEADER_V4 || header_len == HEADER_V6);
    let udp = header_len - UDP_HLEN;
    let old_port = be16(frame, udp);
    let old_id = be16(frame, header_len);
    let mut field = be16(frame, udp + 6);
    field = checksum_adjust(field, old_port, source_port);
    field = checksum_adjust(field, old_id, id);
    put16(frame, udp, source_port);
    put16(frame, header_len, id);
    put16(frame, udp + 6, udp_checksum_field(field));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DNS query for `example.com A` from 192.0.2.10:54321 to 192.0.2.53:53,
    /// TOS 0xb9 (DSCP 46, ECT(1)), ID 0xbeef, TTL 57; checksums computed
    /// independently (Python).
    const Q4: [u8; 71] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45,
        0xb9, 0x00, 0x39, 0xbe, 0xef, 0x00, 0x00, 0x39, 0x11, 0x3d, 0xcc, 0xc0, 0x00, 0x02, 0x0a,
        0xc0, 0x00, 0x02, 0x35, 0xd4, 0x31, 0x00, 0x35, 0x00, 0x25, 0xc5, 0x5b, 0x12, 0x34, 0x01,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70,
        0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    /// The reply to [`Q4`]: MACs, addresses and ports swapped, TOS 0xb8, ID 0,
    /// DF, TTL 64, one A record in the payload.
    const R4: [u8; 87] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x45,
        0xb8, 0x00, 0x49, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb5, 0xac, 0xc0, 0x00, 0x02, 0x35,
        0xc0, 0x00, 0x02, 0x0a, 0x00, 0x35, 0xd4, 0x31, 0x00, 0x35, 0x43, 0x36, 0x12, 0x34, 0x85,
        0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70,
        0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01, 0xc0, 0x0c, 0x00, 0x01,
        0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 0x5d, 0xb8, 0xd8, 0x22,
    ];

    /// The query of [`Q4`] from [2001:db8::1]:54321 to [2001:db8::53]:53,
    /// traffic class 0xab (ECN 11), flow label 0x12345, hop limit 57.
    const Q6: [u8; 91] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd, 0x6a,
        0xb1, 0x23, 0x45, 0x00, 0x25, 0x11, 0x39, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53, 0xd4, 0x31, 0x00, 0x35, 0x00, 0x25,
        0xed, 0xd5, 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
        0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00,
        0x01,
    ];

    /// The reply to [`Q6`]: traffic class 0xa8 (ECN cleared), flow label kept,
    /// hop limit 64, the payload of [`R4`].
    const R6: [u8; 107] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x86, 0xdd, 0x6a,
        0x81, 0x23, 0x45, 0x00, 0x35, 0x11, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x35, 0xd4, 0x31, 0x00, 0x35,
        0x6b, 0xb0, 0x12, 0x34, 0x85, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x07,
        0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00,
        0x01, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 0x5d, 0xb8,
        0xd8, 0x22,
    ];

    const MAC_CLIENT: Mac = [0x02, 0, 0, 0, 0, 0x01];
    const MAC_SERVER: Mac = [0x02, 0, 0, 0, 0, 0x02];

    fn client4() -> SocketAddr {
        "192.0.2.10:54321".parse().unwrap()
    }
    fn server4() -> SocketAddr {
        "192.0.2.53:53".parse().unwrap()
    }
    fn client6() -> SocketAddr {
        "[2001:db8::1]:54321".parse().unwrap()
    }
    fn server6() -> SocketAddr {
        "[2001:db8::53]:53".parse().unwrap()
    }

    /// The reply payload of [`R4`] and [`R6`].
    fn reply_payload() -> &'static [u8] {
        &R4[42..]
    }

    /// A deterministic pseudo-random sequence (Knuth's MMIX LCG, high bits).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 32) as u32
        }
        fn below(&mut self, n: usize) -> usize {
            self.next() as usize % n
        }
    }

    /// Reference one's-complement sum, one byte pair at a time with the carry
    /// wrapped at every step: in 1..=0xFFFF unless all words are 0.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut i = 0;
        while i < data.len() {
            let high = u32::from(data[i]) << 8;
            let low = if i + 1 < data.len() {
                u32::from(data[i + 1])
            } else {
                0
            };
            sum += high | low;
            if sum > 0xFFFF {
                sum -= 0xFFFF;
            }
            i += 2;
        }
        sum as u16
    }

    fn reference_checksum(data: &[u8]) -> u16 {
        !reference_sum(data)
    }

    /// The pseudo-header followed by the UDP header and payload, read field by
    /// field from an untagged Ethernet frame.
    fn pseudo_and_segment(frame: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let (udp, udp_len) = match u16::from_be_bytes([frame[12], frame[13]]) {
            0x0800 => {
                let udp_len = usize::from(u16::from_be_bytes([frame[38], frame[39]]));
                bytes.extend_from_slice(&frame[26..34]);
                bytes.extend_from_slice(&[0, 17]);
                bytes.extend_from_slice(&(udp_len as u16).to_be_bytes());
                (34, udp_len)
            }
            0x86dd => {
                let udp_len = usize::from(u16::from_be_bytes([frame[58], frame[59]]));
                bytes.extend_from_slice(&frame[22..54]);
                bytes.extend_from_slice(&(udp_len as u32).to_be_bytes());
                bytes.extend_from_slice(&[0, 0, 0, 17]);
                (54, udp_len)
            }
            other => panic!("ethertype {other:#x}"),
        };
        bytes.extend_from_slice(&frame[udp..udp + udp_len]);
        bytes
    }

    /// Whether the frame's checksums verify: the IPv4 header sums to zero, and
    /// the UDP field is not 0 and the pseudo-header and segment sum to zero.
    fn checksums_verify(frame: &[u8]) -> bool {
        let ipv4 = frame[12..14] == [0x08, 0x00];
        if ipv4 && reference_checksum(&frame[14..34]) != 0 {
            return false;
        }
        let field = if ipv4 { 40 } else { 60 };
        frame[field..field + 2] != [0, 0] && reference_checksum(&pseudo_and_segment(frame)) == 0
    }

    /// The UDP checksum of the frame as computed, before the 0 -> 0xFFFF rule.
    fn computed_udp_checksum(frame: &[u8]) -> u16 {
        let mut frame = frame.to_vec();
        let field = if frame[12..14] == [0x08, 0x00] {
            40
        } else {
            60
        };
        frame[field] = 0;
        frame[field + 1] = 0;
        reference_checksum(&pseudo_and_segment(&frame))
    }

    #[test]
    fn checksum_of_known_values() {
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&header), 0xb861);
        header[10] = 0xb8;
        header[11] = 0x61;
        assert_eq!(checksum(&header), 0);
        assert_eq!(checksum(&[]), 0xFFFF);
        // An odd last byte is the high byte of a word padded with zero.
        assert_eq!(checksum(&[0x01]), 0xFEFF);
        assert_eq!(checksum(&[0x12, 0x34, 0x56]), !(0x1234u16 + 0x5600));
        // End-around carry: 0xFFFF + 0x0001 = 0x0001 in one's complement.
        assert_eq!(checksum(&[0xFF, 0xFF, 0x00, 0x01]), 0xFFFE);
        // The literal frames' own checksums, computed elsewhere, verify.
        for frame in [&Q4[..], &R4, &Q6, &R6] {
            assert!(checksums_verify(frame));
        }
    }

    #[test]
    fn checksum_matches_reference() {
        let mut random = Lcg(1);
        let mut data = [0u8; 300];
        for round in 0..2000 {
            let len = random.below(data.len() + 1);
            for byte in &mut data[..len] {
                // Every fourth round all 0xFF, to press the carries.
                *byte = if round % 4 == 0 {
                    0xFF
                } else {
                    random.next() as u8
                };
            }
            assert_eq!(
                checksum(&data[..len]),
                reference_checksum(&data[..len]),
                "{len}"
            );
        }
    }

    #[test]
    fn checksum_adjust_matches_full_recompute() {
        let mut random = Lcg(2);
        let mut data = [0u8; 64];
        for _ in 0..5000 {
            let len = 2 * (1 + random.below(data.len() / 2));
            for byte in &mut data[..len] {
                *byte = random.next() as u8;
            }
            // Data that is all zero has a checksum (0xFFFF) no adjustment gives.
            data[0] |= 1;
            let before = checksum(&data[..len]);
            let at = 2 * random.below(len / 2);
            let old = u16::from_be_bytes([data[at], data[at + 1]]);
            let new = random.next() as u16;
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            assert_eq!(checksum_adjust(before, old, new), checksum(&data[..len]));
        }
    }

    #[test]
    fn checksum_adjust_through_zero() {
        // Words 0x1234, 0x0000: checksum 0xEDCB. Changing the second word to
        // 0xEDCB makes the sum 0xFFFF and the checksum 0.
        let before = checksum(&[0x12, 0x34, 0x00, 0x00]);
        assert_eq!(before, 0xEDCB);
        assert_eq!(checksum(&[0x12, 0x34, 0xED, 0xCB]), 0);
        assert_eq!(checksum_adjust(before, 0x0000, 0xEDCB), 0);
        // UDP sends that 0 as 0xFFFF; adjusting from 0xFFFF is still right.
        assert_eq!(checksum_adjust(0xFFFF, 0xEDCB, 0x0000), 0xEDCB);
        assert_eq!(checksum_adjust(0, 0xEDCB, 0x0000), 0xEDCB);
        // From 0xFFFF, a change that brings the sum back to 0xFFFF gives 0 or
        // 0xFFFF: both one's-complement zero, mapped to 0xFFFF for UDP.
        assert_eq!(checksum_adjust(0xFFFF, 0x0001, 0x0001), 0);
        assert_eq!(
            udp_checksum_field(checksum_adjust(0xFFFF, 0xFFFF, 0)),
            0xFFFF
        );
        assert_eq!(
            udp_checksum_field(checksum_adjust(0xFFFF, 0x0001, 0x0001)),
            0xFFFF
        );
    }

    #[test]
    fn parses_ipv4_query() {
        let parsed = parse_udp(&Q4).unwrap();
        assert_eq!(
            parsed,
            UdpFrame {
                source: client4(),
                destination: server4(),
                payload_offset: 42,
                payload_len: 29,
            }
        );
        assert_eq!(parsed.header_len(), 42);
        assert_eq!(header_len(parsed.source), 42);
        assert_eq!(&Q4[parsed.payload_range()], &Q4[42..]);
    }

    #[test]
    fn parses_ipv6_query() {
        let parsed = parse_udp(&Q6).unwrap();
        assert_eq!(
            parsed,
            UdpFrame {
                source: client6(),
                destination: server6(),
                payload_offset: 62,
                payload_len: 29,
            }
        );
        assert_eq!(parsed.header_len(), 62);
        assert_eq!(header_len(parsed.destination), 62);
        assert_eq!(&Q6[parsed.payload_range()], &Q6[62..]);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        // A 4-byte payload makes a 46-byte frame, padded to 60 on the wire.
        let mut frame = [0u8; 60];
        frame[42..46].copy_from_slice(&[0xAA, 0xBB, 0xCC, 0xDD]);
        let length = write_udp(&mut frame, MAC_CLIENT, MAC_SERVER, client4(), server4(), 4);
        assert_eq!(length, 46);
        frame[46..].fill(0x5A);
        let parsed = parse_udp(&frame).unwrap();
        assert_eq!(parsed.payload_len, 4);
        assert_eq!(&frame[parsed.payload_range()], &[0xAA, 0xBB, 0xCC, 0xDD]);

        for query in [&Q4[..], &Q6] {
            let mut padded = query.to_vec();
            padded.extend_from_slice(&[0; 17]);
            assert_eq!(parse_udp(&padded), parse_udp(query));
        }
    }

    #[test]
    fn udp_length_below_ip_length_bounds_the_payload() {
        let mut frame = Q4;
        frame[39] = 0x20; // UDP length 32 of the 37 the IP length leaves
        assert_eq!(parse_udp(&frame).unwrap().payload_len, 24);
        let mut frame = Q6;
        frame[59] = 0x08; // an empty UDP payload
        assert_eq!(parse_udp(&frame).unwrap().payload_len, 0);
    }

    #[test]
    fn rejects_vlan_arp_and_other_protocols() {
        for tag in [[0x81, 0x00], [0x88, 0xa8], [0x91, 0x00]] {
            // A tagged frame: the tag, then the original ethertype.
            let mut frame = Q4[..12].to_vec();
            frame.extend_from_slice(&tag);
            frame.extend_from_slice(&[0x00, 0x05]);
            frame.extend_from_slice(&Q4[12..]);
            assert_eq!(parse_udp(&frame), Err(FrameError::Vlan));
        }
        let mut arp = Q4;
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse_udp(&arp), Err(FrameError::NotIp));

        let mut tcp = Q4;
        tcp[23] = 6;
        assert_eq!(parse_udp(&tcp), Err(FrameError::NotUdp));
        let mut tcp = Q6;
        tcp[20] = 6;
        assert_eq!(parse_udp(&tcp), Err(FrameError::NotUdp));
        let mut hop_by_hop = Q6;
        hop_by_hop[20] = 0;
        assert_eq!(parse_udp(&hop_by_hop), Err(FrameError::NotUdp));
    }

    #[test]
    fn rejects_version_mismatch_options_and_fragments() {
        let mut version = Q4;
        version[14] = 0x65;
        assert_eq!(parse_udp(&version), Err(FrameError::IpVersion));
        let mut version = Q6;
        version[14] = 0x4a;
        assert_eq!(parse_udp(&version), Err(FrameError::IpVersion));

        let mut options = Q4;
        options[14] = 0x46;
        assert_eq!(parse_udp(&options), Err(FrameError::IpOptions));
        options[14] = 0x44;
        assert_eq!(parse_udp(&options), Err(FrameError::IpOptions));

        let mut more_fragments = Q4;
        more_fragments[20] = 0x20;
        assert_eq!(parse_udp(&more_fragments), Err(FrameError::Fragment));
        let mut offset = Q4;
        offset[21] = 0x01;
        assert_eq!(parse_udp(&offset), Err(FrameError::Fragment));
        let mut high_offset = Q4;
        high_offset[20] = 0x10;
        assert_eq!(parse_udp(&high_offset), Err(FrameError::Fragment));
        let mut dont_fragment = Q4;
        dont_fragment[20] = 0x40;
        assert!(parse_udp(&dont_fragment).is_ok());
        let mut fragment_header = Q6;
        fragment_header[20] = 44;
        assert_eq!(parse_udp(&fragment_header), Err(FrameError::Fragment));
    }

    #[test]
    fn rejects_inconsistent_lengths() {
        // UDP length larger than the IP length leaves.
        let mut frame = Q4;
        frame[39] = 0x26;
        assert_eq!(parse_udp(&frame), Err(FrameError::BadLength));
        let mut frame = Q6;
        frame[59] = 0x26;
        assert_eq!(parse_udp(&frame), Err(FrameError::BadLength));
        // UDP length below the UDP header.
        let mut frame = Q4;
        frame[39] = 0x07;
        assert_eq!(parse_udp(&frame), Err(FrameError::BadLength));
        // IP length past the frame's end.
        let mut frame = Q4;
        frame[17] = 0x3a;
        assert_eq!(parse_udp(&frame), Err(FrameError::BadLength));
        let mut frame = Q6;
        frame[19] = 0x26;
        assert_eq!(parse_udp(&frame), Err(FrameError::BadLength));
        // IP length too short for a UDP header; IPv6 jumbogram length 0.
        let mut frame = Q4;
        frame[17] = 27;
        assert_eq!(parse_udp(&frame), Err(FrameError::BadLength));
        let mut frame = Q6;
        frame[19] = 0;
        assert_eq!(parse_udp(&frame), Err(FrameError::BadLength));
    }

    #[test]
    fn truncated_frames_are_runts_or_bad_lengths() {
        for (query, headers) in [(&Q4[..], 42), (&Q6[..], 62)] {
            for len in 0..headers {
                assert_eq!(parse_udp(&query[..len]), Err(FrameError::Runt), "{len}");
            }
            // Headers complete, but the IP length runs past the frame.
            for len in headers..query.len() {
                assert_eq!(
                    parse_udp(&query[..len]),
                    Err(FrameError::BadLength),
                    "{len}"
                );
            }
        }
    }

    /// Writes the reply payload over the query's in a buffer and turns it around.
    fn reply_to(query: &[u8]) -> ([u8; 128], usize, UdpFrame) {
        let mut buffer = [0u8; 128];
        buffer[..query.len()].copy_from_slice(query);
        let parsed = parse_udp(&buffer[..query.len()]).unwrap();
        let payload = reply_payload();
        buffer[parsed.payload_offset..][..payload.len()].copy_from_slice(payload);
        let length = turn_around(&mut buffer, &parsed, payload.len());
        (buffer, length, parsed)
    }

    #[test]
    fn turns_ipv4_query_around() {
        let (buffer, length, query) = reply_to(&Q4);
        assert_eq!(length, R4.len());
        assert_eq!(buffer[..length], R4);
        assert!(checksums_verify(&buffer[..length]));
        let reply = parse_udp(&buffer[..length]).unwrap();
        assert_eq!(reply.source, query.destination);
        assert_eq!(reply.destination, query.source);
        assert_eq!(buffer[0..6], Q4[6..12]);
        assert_eq!(buffer[6..12], Q4[0..6]);
    }

    #[test]
    fn turns_ipv6_query_around() {
        let (buffer, length, query) = reply_to(&Q6);
        assert_eq!(length, R6.len());
        assert_eq!(buffer[..length], R6);
        assert!(checksums_verify(&buffer[..length]));
        let reply = parse_udp(&buffer[..length]).unwrap();
        assert_eq!(reply.source, query.destination);
        assert_eq!(reply.destination, query.source);
        assert_eq!(buffer[0..6], Q6[6..12]);
        assert_eq!(buffer[6..12], Q6[0..6]);
    }

    #[test]
    fn turns_around_shorter_odd_replies() {
        for query in [&Q4[..], &Q6] {
            for payload_len in [0, 1, 12, 13] {
                let mut frame = query.to_vec();
                let parsed = parse_udp(&frame).unwrap();
                let length = turn_around(&mut frame, &parsed, payload_len);
                assert_eq!(length, parsed.header_len() + payload_len);
                assert!(checksums_verify(&frame[..length]), "{payload_len}");
                let reply = parse_udp(&frame[..length]).unwrap();
                assert_eq!(reply.payload_len, payload_len);
                assert_eq!(reply.source, parsed.destination);
            }
        }
    }

    #[test]
    #[should_panic(expected = "cannot hold")]
    fn turn_around_panics_on_short_frame() {
        let mut frame = Q4;
        let parsed = parse_udp(&frame).unwrap();
        turn_around(&mut frame, &parsed, 30);
    }

    #[test]
    #[should_panic(expected = "families differ")]
    fn write_udp_panics_on_mixed_families() {
        let mut frame = [0u8; 128];
        write_udp(&mut frame, MAC_CLIENT, MAC_SERVER, client4(), server6(), 0);
    }

    #[test]
    fn write_udp_builds_the_literal_frames() {
        // With the literals' variable fields (TOS, ID, DF, TTL, flow) as
        // write_udp sets them, the frames are identical.
        let payload = reply_payload();
        let mut frame = [0u8; 128];
        frame[42..][..payload.len()].copy_from_slice(payload);
        let length = write_udp(&mut frame, MAC_SERVER, MAC_CLIENT, server4(), client4(), 45);
        assert_eq!(length, R4.len());
        let mut expected = R4;
        expected[15] = 0; // TOS
        expected[24..26].copy_from_slice(&[0xb6, 0x64]); // header checksum
        assert_eq!(frame[..length], expected);
        assert!(checksums_verify(&frame[..length]));

        let mut frame = [0u8; 128];
        frame[62..][..payload.len()].copy_from_slice(payload);
        let length = write_udp(&mut frame, MAC_SERVER, MAC_CLIENT, server6(), client6(), 45);
        assert_eq!(length, R6.len());
        assert_eq!(frame[12..14], [0x86, 0xdd]);
        assert_eq!(frame[14..18], [0x60, 0, 0, 0]);
        assert_eq!(frame[18..62], R6[18..62]);
        assert_eq!(frame[62..length], R6[62..]);
    }

    #[test]
    fn write_udp_round_trips_through_parse_udp() {
        let mut random = Lcg(3);
        for (source, destination) in [(client4(), server4()), (server6(), client6())] {
            for payload_len in [0, 1, 2, 29, 512, 1232] {
                let mut frame = [0u8; 1400];
                let header = header_len(source);
                for byte in &mut frame[header..header + payload_len] {
                    *byte = random.next() as u8;
                }
                let length = write_udp(
                    &mut frame,
                    MAC_CLIENT,
                    MAC_SERVER,
                    source,
                    destination,
                    payload_len,
                );
                assert_eq!(length, header + payload_len);
                assert!(checksums_verify(&frame[..length]));
                let parsed = parse_udp(&frame[..length]).unwrap();
                assert_eq!(
                    parsed,
                    UdpFrame {
                        source,
                        destination,
                        payload_offset: header,
                        payload_len,
                    }
                );
                assert_eq!(frame[0..6], MAC_SERVER);
                assert_eq!(frame[6..12], MAC_CLIENT);
            }
        }
    }

    /// A query frame from `source` (its port replaced by `port`) with payload
    /// `payload` whose first word is replaced by `id`, built by write_udp.
    fn built(
        source: SocketAddr,
        destination: SocketAddr,
        port: u16,
        id: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut source = source;
        source.set_port(port);
        let header = header_len(source);
        let mut frame = vec![0u8; header + payload.len()];
        frame[header..].copy_from_slice(payload);
        frame[header..header + 2].copy_from_slice(&id.to_be_bytes());
        write_udp(
            &mut frame,
            MAC_CLIENT,
            MAC_SERVER,
            source,
            destination,
            payload.len(),
        );
        frame
    }

    #[test]
    fn patch_port_and_id_equals_write_udp() {
        let payload = &Q4[42..];
        for (source, destination) in [(client4(), server4()), (client6(), server6())] {
            let header = header_len(source);
            // The ports whose datagram (ID 0x1234) computes a UDP checksum of 0.
            let zero_ports: Vec<u16> = (0..=u16::MAX)
                .filter(|&port| {
                    let frame = built(source, destination, port, 0x1234, payload);
                    computed_udp_checksum(&frame) == 0
                })
                .collect();
            assert!(!zero_ports.is_empty());
            for &port in &zero_ports {
                let frame = built(source, destination, port, 0x1234, payload);
                assert_eq!(frame[header - 2..header], [0xFF, 0xFF]);
                assert!(checksums_verify(&frame));
            }

            let mut random = Lcg(4);
            let mut frame = built(source, destination, 1, 0, payload);
            for round in 0..20_000 {
                let (port, id) = match round % 5 {
                    // Into the corner, and out of it on the next round.
                    0 => (zero_ports[random.below(zero_ports.len())], 0x1234),
                    1 => (random.next() as u16, 0x1234),
                    2 => (0, 0),
                    3 => (0xFFFF, 0xFFFF),
                    _ => (random.next() as u16, random.next() as u16),
                };
                // Patched in sequence on one frame, as the generator does.
                patch_port_and_id(&mut frame, header, port, id);
                assert_eq!(
                    frame,
                    built(source, destination, port, id, payload),
                    "{port} {id}"
                );
            }
        }
    }

    #[test]
    fn parse_udp_never_panics() {
        let mut random = Lcg(5);
        let mut buffer = [0u8; 160];
        for _ in 0..100_000 {
            let len = random.below(buffer.len() + 1);
            for byte in &mut buffer[..len] {
                *byte = random.next() as u8;
            }
            // Half the time an IP ethertype, to get past the first check.
            if len >= 14 && random.below(2) == 0 {
                let ethertype: [u8; 2] = if random.below(2) == 0 {
                    [0x08, 0x00]
                } else {
                    [0x86, 0xdd]
                };
                buffer[12..14].copy_from_slice(&ethertype);
            }
            check_parse(&buffer[..len]);
        }
        for query in [&Q4[..], &Q6] {
            for _ in 0..100_000 {
                let mut frame = [0u8; 110];
                frame[..query.len()].copy_from_slice(query);
                let mut len = query.len();
                for _ in 0..1 + random.below(3) {
                    let at = random.below(len);
                    frame[at] = random.next() as u8;
                }
                match random.below(3) {
                    0 => len = random.below(len + 1),
                    1 => len += random.below(frame.len() - len + 1),
                    _ => {}
                }
                check_parse(&frame[..len]);
            }
        }
    }

    /// Parses without panicking, and an accepted frame's payload lies inside it.
    fn check_parse(frame: &[u8]) {
        if let Ok(parsed) = parse_udp(frame) {
            assert!(parsed.payload_range().end <= frame.len());
            assert_eq!(parsed.payload_offset, header_len(parsed.source));
            assert_eq!(parsed.source.is_ipv4(), parsed.destination.is_ipv4());
        }
    }
}
