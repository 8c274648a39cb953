//! DNS wire format for the data plane: pure functions over bytes, no sockets,
//! no clock, no `unsafe`.
//!
//! - [`query`]: checks a received packet once, at the edge, with `domain`'s
//!   parser, and hands out a borrowed [`query::Query`]. After `Query::parse`
//!   succeeds nothing downstream may panic on that packet.
//! - [`fragment`]: pre-rendered resource records (built off the fast path)
//!   and the compression-pointer fixups that place them in a reply.
//! - [`answer`]: writes a reply into a caller's buffer from the echoed header
//!   and question, fragments and an OPT record, cutting at an RRset boundary
//!   with TC set when the reply would exceed the size limit.
//! - [`name`]: small helpers over uncompressed wire-format names.
//! - [`tsig`]: TSIG (RFC 8945) signing and verifying of requests, responses
//!   and multi-message transfers, over bytes, without allocating.
//!
//! The DNS constants the server needs (record types in [`rtype`], classes,
//! sizes, rcodes) live here, for every module to share.

pub mod answer;
pub mod fragment;
pub mod name;
pub mod notify;
pub mod query;
pub mod tsig;

/// Record types the server treats specially (IANA DNS parameters).
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const HINFO: u16 = 13;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const DNAME: u16 = 39;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const RRSIG: u16 = 46;
    pub const NSEC: u16 = 47;
    pub const TKEY: u16 = 249;
    pub const TSIG: u16 = 250;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const MAILB: u16 = 253;
    pub const MAILA: u16 = 254;
    pub const ANY: u16 = 255;
}

/// Class IN.
pub const CLASS_IN: u16 = 1;
/// Class CH (CHAOS).
pub const CLASS_CH: u16 = 3;

/// Size of the DNS message header.
pub const HEADER_LEN: usize = 12;
/// Largest reply without EDNS over UDP (RFC 1035 section 4.2.1).
pub const CLASSIC_UDP_LIMIT: usize = 512;
/// Largest DNS message (TCP, RFC 1035 section 4.2.2).
pub const MAX_MESSAGE_LEN: usize = 65535;
/// Size of the OPT record we append: root owner, type, class, TTL, RDLENGTH.
pub const OPT_RECORD_LEN: usize = 11;

/// Response codes we produce, including the extended BADVERS (RFC 6891).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
    /// A NOTIFY with a missing or bad TSIG (RFC 8945 section 5.2).
    NotAuth = 9,
    /// Extended rcode 16: low 4 bits in the header (0), upper 8 bits in OPT (1).
    BadVers = 16,
}

impl Rcode {
    /// Every rcode, in counter order.
    pub const ALL: [Rcode; 8] = [
        Rcode::NoError,
        Rcode::FormErr,
        Rcode::ServFail,
        Rcode::NxDomain,
        Rcode::NotImp,
        Rcode::Refused,
        Rcode::NotAuth,
        Rcode::BadVers,
    ];

    /// Index into per-rcode counter arrays.
    pub fn index(self) -> usize {
        match self {
            Rcode::NoError => 0,
            Rcode::FormErr => 1,
            Rcode::ServFail => 2,
            Rcode::NxDomain => 3,
            Rcode::NotImp => 4,
            Rcode::Refused => 5,
            Rcode::NotAuth => 6,
            Rcode::BadVers => 7,
        }
    }

    /// The mnemonic, as dig prints it.
    pub fn name(self) -> &'static str {
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::FormErr => "FORMERR",
            Rcode::ServFail => "SERVFAIL",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::NotImp => "NOTIMP",
            Rcode::Refused => "REFUSED",
            Rcode::NotAuth => "NOTAUTH",
            Rcode::BadVers => "BADVERS",
        }
    }

    /// The 4 bits that go in the header.
    pub fn header_bits(self) -> u8 {
        (self as u8) & 0x0f
    }

    /// The upper 8 bits that go in the OPT record's extended-rcode field.
    pub fn extended_bits(self) -> u8 {
        (self as u8) >> 4
    }
}

/// Why a packet got no reply at all. Counted per worker, never logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than a DNS header.
    ShortPacket,
    /// QR bit set: a response, not a query (never answer those: reflection loops).
    Response,
    /// The datagram did not fit our receive buffer.
    Oversized,
    /// Source port 0 cannot be answered.
    SourcePortZero,
    /// The kernel refused to send the reply.
    SendFailed,
    /// The reply buffer cannot hold even the header and question.
    NoRoom,
    /// Sent from one of our own listen addresses: answering could loop.
    OwnAddress,
    /// Over the `[rrl]` rate and not chosen to slip: sent nothing.
    RateLimited,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 8] = [
        DropReason::ShortPacket,
        DropReason::Response,
        DropReason::Oversized,
        DropReason::SourcePortZero,
        DropReason::SendFailed,
        DropReason::NoRoom,
        DropReason::OwnAddress,
        DropReason::RateLimited,
    ];

    /// Index into per-reason counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short label for metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::ShortPacket => "short_packet",
            DropReason::Response => "response",
            DropReason::Oversized => "oversized",
            DropReason::SourcePortZero => "source_port_zero",
            DropReason::SendFailed => "send_failed",
            DropReason::NoRoom => "no_room",
            DropReason::OwnAddress => "own_address",
            DropReason::RateLimited => "rate_limited",
        }
    }
}
