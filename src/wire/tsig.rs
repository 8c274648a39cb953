//! TSIG (RFC 8945): transaction signatures with HMAC-SHA256, -SHA384 and
//! -SHA512, for zone transfers, SOA queries and NOTIFY.
//!
//! - [`find`] walks a message's sections and borrows its TSIG record, which
//!   must be the last additional record and appear nowhere else.
//! - [`sign`] appends a TSIG record to a request, or to a response with the
//!   request's MAC in the digest; [`sign_error`] signs an error response
//!   (BADTIME carries the server's time); [`append_error`] appends the
//!   unsigned TSIG record with an error that answers a request whose key or
//!   MAC failed (RFC 8945 section 5.3.2).
//! - [`verify_request`] checks a signed request (a NOTIFY, a transfer request)
//!   against the configured keys.
//! - [`ResponseSigner`] and [`ResponseVerifier`] sign and check the messages
//!   of a multi-message response (AXFR/IXFR over TCP, RFC 8945 section
//!   5.3.1): the first signed with the request MAC, later ones with the prior
//!   MAC and only the timers, up to 99 unsigned messages in between whose
//!   bytes enter the next signed message's digest.
//!
//! Invariants: the code is pure (bytes in, bytes out; the time is an
//! argument, in unix seconds; no sockets, no clock) and never allocates while
//! signing or verifying, so the data plane can check a NOTIFY: the HMAC
//! state lives on the stack (`hmac`'s fixed-size states behind an enum),
//! MACs are fixed arrays ([`Mac`]), and parsed records borrow the message
//! ([`Signature`]). Only [`Key::new`] allocates. Names are uncompressed wire
//! names compared case-insensitively; the digest covers the lowercase
//! (canonical) key and algorithm names. MACs are compared in constant time.

use std::fmt;

use hmac::Hmac;
use hmac::Mac as _;
use hmac::digest::KeyInit;
use sha2::{Sha256, Sha384, Sha512};

use crate::wire::name::{MAX_NAME_LEN, lowercase_into};
use crate::wire::{HEADER_LEN, rtype};

/// A TSIG algorithm we sign and verify with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    /// Every algorithm, in the order the config lists them.
    pub const ALL: [Algorithm; 3] = [
        Algorithm::HmacSha256,
        Algorithm::HmacSha384,
        Algorithm::HmacSha512,
    ];

    /// The name the config and the other tools (Knot, BIND) use:
    /// `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm a config or tool name stands for (case-insensitive).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.name().eq_ignore_ascii_case(name))
    }

    /// The algorithm's name as a lowercase uncompressed wire name, as the TSIG
    /// record carries it and the digest covers it (`\x0bhmac-sha256\x00`).
    pub fn wire_name(self) -> &'static [u8] {
        match self {
            Algorithm::HmacSha256 => b"\x0bhmac-sha256\x00",
            Algorithm::HmacSha384 => b"\x0bhmac-sha384\x00",
            Algorithm::HmacSha512 => b"\x0bhmac-sha512\x00",
        }
    }

    /// The algorithm a wire name in a TSIG record stands for
    /// (case-insensitive).
    pub fn from_wire_name(name: &[u8]) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.wire_name().eq_ignore_ascii_case(name))
    }

    /// Length of the full MAC in bytes: the hash output length.
    pub fn mac_len(self) -> usize {
        match self {
            Algorithm::HmacSha256 => 32,
            Algorithm::HmacSha384 => 48,
            Algorithm::HmacSha512 => 64,
        }
    }

    /// The shortest truncated MAC accepted: the larger of 10 bytes and half
    /// the full length (RFC 8945 section 5.2.2.1).
    pub fn min_mac_len(self) -> usize {
        (self.mac_len() / 2).max(10)
    }
}

/// Seconds a signature's time may differ from the checker's clock: the
/// fudge we sign with (RFC 8945 recommends 300).
pub const FUDGE: u16 = 300;

/// Longest MAC: HMAC-SHA512's 64 bytes.
pub const MAX_MAC: usize = 64;

/// Most unsigned messages in a row after a signed one in a multi-message
/// response (RFC 8945 section 5.3.1).
pub const MAX_UNSIGNED: u32 = 99;

/// TSIG error BADSIG: the MAC did not verify.
pub const BADSIG: u16 = 16;
/// TSIG error BADKEY: the key (name and algorithm) is not known.
pub const BADKEY: u16 = 17;
/// TSIG error BADTIME: the time signed is outside the fudge.
pub const BADTIME: u16 = 18;
/// TSIG error BADTRUNC: the MAC is truncated below the allowed length.
pub const BADTRUNC: u16 = 22;

/// Class ANY, the class of every TSIG record.
const CLASS_ANY: u16 = 255;

/// Largest value of the 48-bit time-signed field.
const MAX_TIME: u64 = (1 << 48) - 1;

/// Fixed part of a TSIG record after its owner name: type, class, TTL and
/// RDLENGTH.
const RECORD_FIXED_LEN: usize = 10;

/// Fixed part of TSIG RDATA after the algorithm name: time signed (6), fudge
/// (2), MAC size (2), original ID (2), error (2), other length (2).
const RDATA_FIXED_LEN: usize = 16;

/// Why a TSIG could not be checked or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TsigError {
    /// The message or its TSIG record is not well formed, the TSIG record
    /// is not the last additional record, or the MAC is longer than the
    /// algorithm's (a FORMERR reply, no TSIG).
    Malformed,
    /// The key name and algorithm match no configured key (BADKEY).
    BadKey,
    /// The MAC did not verify (BADSIG).
    BadSig,
    /// The time signed is further from our clock than the fudge (BADTIME).
    BadTime,
    /// The MAC is shorter than the larger of 10 bytes and half the
    /// algorithm's length (BADTRUNC).
    BadTrunc,
    /// The buffer cannot hold the TSIG record.
    NoRoom,
    /// A message that must be signed is not: the first or last message of a
    /// response, or the 100th in a row without a signature.
    Unsigned,
}

impl TsigError {
    /// The TSIG error code a reply carries for this error (RFC 8945 section
    /// 3): BADSIG 16, BADKEY 17, BADTIME 18, BADTRUNC 22; 0 for the errors
    /// that have none (`Malformed` answers FORMERR without TSIG, `NoRoom` and
    /// `Unsigned` are local).
    pub fn error_code(self) -> u16 {
        match self {
            TsigError::BadSig => BADSIG,
            TsigError::BadKey => BADKEY,
            TsigError::BadTime => BADTIME,
            TsigError::BadTrunc => BADTRUNC,
            TsigError::Malformed | TsigError::NoRoom | TsigError::Unsigned => 0,
        }
    }

    /// The error a peer reports in its TSIG record's error field (any
    /// unknown non-zero code counts as BADSIG).
    fn from_code(code: u16) -> TsigError {
        match code {
            BADKEY => TsigError::BadKey,
            BADTIME => TsigError::BadTime,
            BADTRUNC => TsigError::BadTrunc,
            _ => TsigError::BadSig,
        }
    }
}

impl fmt::Display for TsigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TsigError::Malformed => "malformed TSIG record or message",
            TsigError::BadKey => "TSIG key not known (BADKEY)",
            TsigError::BadSig => "TSIG signature does not verify (BADSIG)",
            TsigError::BadTime => "TSIG time outside the fudge (BADTIME)",
            TsigError::BadTrunc => "TSIG MAC truncated too far (BADTRUNC)",
            TsigError::NoRoom => "no room for the TSIG record",
            TsigError::Unsigned => "message is not signed",
        })
    }
}

impl std::error::Error for TsigError {}

/// A MAC, up to [`MAX_MAC`] bytes, in a fixed array.
#[derive(Clone, Copy)]
pub struct Mac {
    bytes: [u8; MAX_MAC],
    len: u8,
}

impl Mac {
    /// A copy of `bytes`, or `Malformed` when longer than [`MAX_MAC`].
    pub fn new(bytes: &[u8]) -> Result<Mac, TsigError> {
        let mut mac = Mac {
            bytes: [0; MAX_MAC],
            len: 0,
        };
        let slot = mac
            .bytes
            .get_mut(..bytes.len())
            .ok_or(TsigError::Malformed)?;
        slot.copy_from_slice(bytes);
        mac.len = bytes.len() as u8;
        Ok(mac)
    }

    /// The MAC's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Equal when the lengths and bytes are; the bytes are compared without an
/// early exit.
impl PartialEq for Mac {
    fn eq(&self, other: &Mac) -> bool {
        self.len == other.len
            && self
                .as_slice()
                .iter()
                .zip(other.as_slice())
                .fold(0u8, |difference, (a, b)| difference | (a ^ b))
                == 0
    }
}

impl Eq for Mac {}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mac(")?;
        for byte in self.as_slice() {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// An HMAC in progress, for one of the algorithms. Its state is a fixed-size
/// value (no heap); cloning a keyed one skips hashing the key again.
#[derive(Clone)]
enum Hasher {
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

impl Hasher {
    /// An HMAC keyed with `secret`.
    fn new(algorithm: Algorithm, secret: &[u8]) -> Hasher {
        match algorithm {
            Algorithm::HmacSha256 => Hasher::Sha256(keyed(secret)),
            Algorithm::HmacSha384 => Hasher::Sha384(keyed(secret)),
            Algorithm::HmacSha512 => Hasher::Sha512(keyed(secret)),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(hmac) => hmac.update(data),
            Hasher::Sha384(hmac) => hmac.update(data),
            Hasher::Sha512(hmac) => hmac.update(data),
        }
    }

    /// The full MAC.
    fn finalize(self) -> Mac {
        let mut mac = Mac {
            bytes: [0; MAX_MAC],
            len: 0,
        };
        let output = |mac: &mut Mac, bytes: &[u8]| {
            mac.bytes[..bytes.len()].copy_from_slice(bytes);
            mac.len = bytes.len() as u8;
        };
        match self {
            Hasher::Sha256(hmac) => output(&mut mac, &hmac.finalize().into_bytes()),
            Hasher::Sha384(hmac) => output(&mut mac, &hmac.finalize().into_bytes()),
            Hasher::Sha512(hmac) => output(&mut mac, &hmac.finalize().into_bytes()),
        }
        mac
    }

    /// Whether `mac` equals the leftmost bytes of the MAC, compared in
    /// constant time. `mac` is not empty and not longer than the full MAC
    /// (checked by the caller).
    fn verify(self, mac: &[u8]) -> bool {
        match self {
            Hasher::Sha256(hmac) => hmac.verify_truncated_left(mac).is_ok(),
            Hasher::Sha384(hmac) => hmac.verify_truncated_left(mac).is_ok(),
            Hasher::Sha512(hmac) => hmac.verify_truncated_left(mac).is_ok(),
        }
    }

    /// Feeds a prior MAC (the request's, or the previous signed message's)
    /// as the digest takes it: its 2-byte size, then the MAC.
    fn update_prior_mac(&mut self, mac: &[u8]) -> Result<(), TsigError> {
        let size = u16::try_from(mac.len()).map_err(|_| TsigError::Malformed)?;
        self.update(&size.to_be_bytes());
        self.update(mac);
        Ok(())
    }

    /// Feeds the TSIG timers: the 48-bit time signed and the fudge.
    fn update_timers(&mut self, time_signed: u64, fudge: u16) {
        self.update(&time_signed.to_be_bytes()[2..]);
        self.update(&fudge.to_be_bytes());
    }

    /// Feeds the TSIG variables (RFC 8945 section 4.3.3): the lowercase key
    /// name, class ANY, TTL 0, the lowercase algorithm name, the timers, the
    /// error and the other data with its length.
    fn update_variables(&mut self, name: &KeyName, variables: &Variables<'_>) {
        self.update(name.as_slice());
        self.update(&CLASS_ANY.to_be_bytes());
        self.update(&0u32.to_be_bytes());
        self.update(name.algorithm.wire_name());
        self.update_timers(variables.time_signed, variables.fudge);
        self.update(&variables.error.to_be_bytes());
        // Other data comes from a parsed record or from us: at most 6 bytes
        // or an RDLENGTH's worth, so its length fits 16 bits.
        self.update(&(variables.other.len() as u16).to_be_bytes());
        self.update(variables.other);
    }

    /// Feeds a received message as the digest takes it: without its TSIG
    /// record, with ARCOUNT one less and the ID replaced by the original ID.
    fn update_stripped(&mut self, message: &[u8], signature: &Signature<'_>) {
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&message[..HEADER_LEN]);
        header[0..2].copy_from_slice(&signature.original_id.to_be_bytes());
        // `find` saw the TSIG record among the additional records: ARCOUNT >= 1.
        let arcount = u16::from_be_bytes([header[10], header[11]]).saturating_sub(1);
        header[10..12].copy_from_slice(&arcount.to_be_bytes());
        self.update(&header);
        self.update(&message[HEADER_LEN..signature.start]);
    }
}

/// An HMAC keyed with `secret`. HMAC takes keys of any length (longer ones
/// are hashed first), so keying cannot fail.
fn keyed<M: KeyInit>(secret: &[u8]) -> M {
    match M::new_from_slice(secret) {
        Ok(hmac) => hmac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// The variable fields of a TSIG record that the digest covers besides the
/// names.
struct Variables<'a> {
    time_signed: u64,
    fudge: u16,
    error: u16,
    other: &'a [u8],
}

/// A key's lowercase wire name and algorithm in a fixed array, for the
/// types that sign or verify without borrowing a [`Key`].
#[derive(Clone, Copy)]
struct KeyName {
    bytes: [u8; MAX_NAME_LEN],
    len: u8,
    algorithm: Algorithm,
}

impl KeyName {
    fn new(name: &[u8], algorithm: Algorithm) -> KeyName {
        let mut bytes = [0; MAX_NAME_LEN];
        let len = lowercase_into(name, &mut bytes);
        KeyName {
            bytes,
            len: len as u8,
            algorithm,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether a received TSIG record names this key and algorithm.
    fn matches(&self, signature: &Signature<'_>) -> bool {
        signature.key_name.eq_ignore_ascii_case(self.as_slice())
            && signature
                .algorithm
                .eq_ignore_ascii_case(self.algorithm.wire_name())
    }
}

/// A TSIG key: its name, algorithm and secret. The only allocation of the
/// module happens here, when a key is made (off the data plane).
#[derive(Clone)]
pub struct Key {
    /// Lowercase uncompressed wire name.
    name: Box<[u8]>,
    algorithm: Algorithm,
    secret: Box<[u8]>,
    /// The HMAC keyed with the secret, cloned for every MAC.
    keyed: Hasher,
}

impl Key {
    /// A key named `name_wire` (an uncompressed wire name of at most 255
    /// bytes, any case) for `algorithm` with the decoded `secret`.
    pub fn new(name_wire: &[u8], algorithm: Algorithm, secret: &[u8]) -> Key {
        let name_wire = &name_wire[..name_wire.len().min(MAX_NAME_LEN)];
        Key {
            name: name_wire.to_ascii_lowercase().into_boxed_slice(),
            algorithm,
            secret: secret.into(),
            keyed: Hasher::new(algorithm, secret),
        }
    }

    /// The key's name, lowercase, in wire format.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether a received TSIG record names this key and algorithm.
    pub fn matches(&self, signature: &Signature<'_>) -> bool {
        signature.key_name.eq_ignore_ascii_case(&self.name)
            && signature
                .algorithm
                .eq_ignore_ascii_case(self.algorithm.wire_name())
    }

    fn key_name(&self) -> KeyName {
        KeyName::new(&self.name, self.algorithm)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.name == other.name && self.algorithm == other.algorithm && self.secret == other.secret
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("name", &crate::wire::name::display(&self.name))
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The TSIG record at the end of a message (the last additional record),
/// borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature<'a> {
    /// The owner name: the key's name, as received (any case).
    pub key_name: &'a [u8],
    /// The algorithm's wire name, as received (any case).
    pub algorithm: &'a [u8],
    /// Unix seconds when the message was signed (48 bits on the wire).
    pub time_signed: u64,
    pub fudge: u16,
    /// The MAC, possibly truncated, possibly empty (error replies).
    pub mac: &'a [u8],
    /// The message ID the signer used.
    pub original_id: u16,
    /// The TSIG error code (0 when none).
    pub error: u16,
    /// Other data (the server's time in a BADTIME reply).
    pub other: &'a [u8],
    /// Where the TSIG record starts: the message without it is
    /// `message[..start]` with ARCOUNT one less.
    pub start: usize,
}

/// The 16-bit value at `pos`.
fn u16_at(message: &[u8], pos: usize) -> Result<u16, TsigError> {
    match message.get(pos..pos + 2) {
        Some(&[high, low]) => Ok(u16::from_be_bytes([high, low])),
        _ => Err(TsigError::Malformed),
    }
}

/// The end of the (possibly compressed) name at `pos`.
fn skip_name(message: &[u8], mut pos: usize) -> Result<usize, TsigError> {
    loop {
        let length = *message.get(pos).ok_or(TsigError::Malformed)?;
        match length {
            0 => return Ok(pos + 1),
            0xc0..=0xff => {
                return if pos + 2 <= message.len() {
                    Ok(pos + 2)
                } else {
                    Err(TsigError::Malformed)
                };
            }
            0x40..=0xbf => return Err(TsigError::Malformed),
            _ => pos += 1 + usize::from(length),
        }
    }
}

/// The end of the uncompressed name at `pos`, which must end by `limit` and
/// be at most 255 bytes long.
fn plain_name_end(message: &[u8], start: usize, limit: usize) -> Result<usize, TsigError> {
    let mut pos = start;
    loop {
        if pos >= limit || pos - start >= MAX_NAME_LEN {
            return Err(TsigError::Malformed);
        }
        let length = *message.get(pos).ok_or(TsigError::Malformed)?;
        match length {
            0 => return Ok(pos + 1),
            1..=63 => pos += 1 + usize::from(length),
            _ => return Err(TsigError::Malformed),
        }
    }
}

/// The type of the record at `pos` and where it ends.
fn skip_record(message: &[u8], pos: usize) -> Result<(u16, usize), TsigError> {
    let fixed = skip_name(message, pos)?;
    let record_type = u16_at(message, fixed)?;
    let rdlength = usize::from(u16_at(message, fixed + 8)?);
    let end = fixed + RECORD_FIXED_LEN + rdlength;
    if end > message.len() {
        return Err(TsigError::Malformed);
    }
    Ok((record_type, end))
}

/// Reads the TSIG record that starts at `start` and ends at `end`.
fn parse_tsig(message: &[u8], start: usize, end: usize) -> Result<Signature<'_>, TsigError> {
    let message = &message[..end];
    let owner_end = plain_name_end(message, start, end)?;
    if u16_at(message, owner_end + 2)? != CLASS_ANY {
        return Err(TsigError::Malformed);
    }
    let rdata = owner_end + RECORD_FIXED_LEN;
    let algorithm_end = plain_name_end(message, rdata, end)?;
    let fixed = message
        .get(algorithm_end..algorithm_end + 10)
        .ok_or(TsigError::Malformed)?;
    let mut time = [0u8; 8];
    time[2..].copy_from_slice(&fixed[..6]);
    let fudge = u16::from_be_bytes([fixed[6], fixed[7]]);
    let mac_size = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let mac_start = algorithm_end + 10;
    let mac = message
        .get(mac_start..mac_start + mac_size)
        .ok_or(TsigError::Malformed)?;
    let after_mac = mac_start + mac_size;
    let original_id = u16_at(message, after_mac)?;
    let error = u16_at(message, after_mac + 2)?;
    let other_len = usize::from(u16_at(message, after_mac + 4)?);
    let other_start = after_mac + 6;
    if other_start + other_len != end {
        return Err(TsigError::Malformed);
    }
    Ok(Signature {
        key_name: &message[start..owner_end],
        algorithm: &message[rdata..algorithm_end],
        time_signed: u64::from_be_bytes(time),
        fudge,
        mac,
        original_id,
        error,
        other: &message[other_start..end],
        start,
    })
}

/// Walks the message's sections and returns its TSIG record, or `None` when
/// it has none. `Malformed` when the message does not parse to its last
/// byte, or a TSIG record appears anywhere but as the last additional
/// record.
pub fn find(message: &[u8]) -> Result<Option<Signature<'_>>, TsigError> {
    if message.len() < HEADER_LEN {
        return Err(TsigError::Malformed);
    }
    let questions = u16_at(message, 4)?;
    let answers_and_authority = u32::from(u16_at(message, 6)?) + u32::from(u16_at(message, 8)?);
    let additional = u16_at(message, 10)?;
    let mut pos = HEADER_LEN;
    for _ in 0..questions {
        pos = skip_name(message, pos)? + 4;
        if pos > message.len() {
            return Err(TsigError::Malformed);
        }
    }
    for _ in 0..answers_and_authority {
        let (record_type, end) = skip_record(message, pos)?;
        if record_type == rtype::TSIG {
            return Err(TsigError::Malformed);
        }
        pos = end;
    }
    let mut signature = None;
    for index in 0..additional {
        let (record_type, end) = skip_record(message, pos)?;
        if record_type == rtype::TSIG {
            if index + 1 != additional {
                return Err(TsigError::Malformed);
            }
            signature = Some(parse_tsig(message, pos, end)?);
        }
        pos = end;
    }
    if pos != message.len() {
        return Err(TsigError::Malformed);
    }
    Ok(signature)
}

/// Checks a received MAC against the digest in `hasher`: `Malformed` when
/// longer than the algorithm's MAC, `BadTrunc` when shorter than allowed,
/// `BadSig` when it differs (compared in constant time).
fn check_mac(algorithm: Algorithm, hasher: Hasher, mac: &[u8]) -> Result<(), TsigError> {
    if mac.len() > algorithm.mac_len() {
        return Err(TsigError::Malformed);
    }
    if mac.len() < algorithm.min_mac_len() {
        return Err(TsigError::BadTrunc);
    }
    if hasher.verify(mac) {
        Ok(())
    } else {
        Err(TsigError::BadSig)
    }
}

/// `BadTime` when the signature's time is further than its fudge from `now`.
fn check_time(signature: &Signature<'_>, now: u64) -> Result<(), TsigError> {
    if now.abs_diff(signature.time_signed) > u64::from(signature.fudge) {
        Err(TsigError::BadTime)
    } else {
        Ok(())
    }
}

/// A cursor writing into a buffer whose room was checked beforehand.
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    fn put_u16(&mut self, value: u16) {
        self.put(&value.to_be_bytes());
    }
}

/// The fields of a TSIG record to write.
struct Record<'a> {
    key_name: &'a [u8],
    algorithm: &'a [u8],
    time_signed: u64,
    mac: &'a [u8],
    original_id: u16,
    error: u16,
    other: &'a [u8],
}

/// Writes `record` after the message in `buf[..len]`, adds one to ARCOUNT
/// and returns the new length.
fn append_record(buf: &mut [u8], len: usize, record: &Record<'_>) -> Result<usize, TsigError> {
    if len < HEADER_LEN || len > buf.len() {
        return Err(TsigError::Malformed);
    }
    let arcount = u16_at(buf, 10)?
        .checked_add(1)
        .ok_or(TsigError::Malformed)?;
    let rdlength = record.algorithm.len() + RDATA_FIXED_LEN + record.mac.len() + record.other.len();
    let rdlength = u16::try_from(rdlength).map_err(|_| TsigError::NoRoom)?;
    let end = len + record.key_name.len() + RECORD_FIXED_LEN + usize::from(rdlength);
    if end > buf.len() || end > crate::wire::MAX_MESSAGE_LEN {
        return Err(TsigError::NoRoom);
    }
    let mut writer = Writer { buf, pos: len };
    writer.put(record.key_name);
    writer.put_u16(rtype::TSIG);
    writer.put_u16(CLASS_ANY);
    writer.put(&0u32.to_be_bytes());
    writer.put_u16(rdlength);
    writer.put(record.algorithm);
    writer.put(&record.time_signed.min(MAX_TIME).to_be_bytes()[2..]);
    writer.put_u16(FUDGE);
    // At most MAX_MAC bytes (a MAC we computed, or none).
    writer.put_u16(record.mac.len() as u16);
    writer.put(record.mac);
    writer.put_u16(record.original_id);
    writer.put_u16(record.error);
    // At most 6 bytes (our time in a BADTIME reply, or none).
    writer.put_u16(record.other.len() as u16);
    writer.put(record.other);
    debug_assert_eq!(writer.pos, end);
    buf[10..12].copy_from_slice(&arcount.to_be_bytes());
    Ok(end)
}

/// What the digest of a message we sign covers after the message.
#[derive(Clone, Copy)]
enum Covered<'a> {
    /// All TSIG variables, with this error and other data.
    Variables { error: u16, other: &'a [u8] },
    /// Only the timers (a later message of a multi-message response).
    Timers,
}

/// Signs the message in `buf[..len]` with `hasher` (keyed, with any prior
/// MAC fed): digests the message and what `covered` says, then appends the
/// TSIG record.
fn sign_with(
    buf: &mut [u8],
    len: usize,
    name: &KeyName,
    mut hasher: Hasher,
    now: u64,
    covered: Covered<'_>,
) -> Result<(usize, Mac), TsigError> {
    if len < HEADER_LEN || len > buf.len() {
        return Err(TsigError::Malformed);
    }
    let time_signed = now.min(MAX_TIME);
    hasher.update(&buf[..len]);
    let (error, other) = match covered {
        Covered::Variables { error, other } => {
            let variables = Variables {
                time_signed,
                fudge: FUDGE,
                error,
                other,
            };
            hasher.update_variables(name, &variables);
            (error, other)
        }
        Covered::Timers => {
            hasher.update_timers(time_signed, FUDGE);
            (0, &[][..])
        }
    };
    let mac = hasher.finalize();
    let record = Record {
        key_name: name.as_slice(),
        algorithm: name.algorithm.wire_name(),
        time_signed,
        mac: mac.as_slice(),
        original_id: u16_at(buf, 0)?,
        error,
        other,
    };
    let end = append_record(buf, len, &record)?;
    Ok((end, mac))
}

/// Signs a complete message in `buf[..len]` (a request when `request_mac`
/// is `None`, else a response to a request whose MAC is `request_mac`):
/// appends the TSIG record (owner = key name, class ANY, TTL 0, fudge
/// [`FUDGE`], original ID = the message's ID) and adds one to ARCOUNT.
/// Returns the new length and the MAC.
pub fn sign(
    buf: &mut [u8],
    len: usize,
    key: &Key,
    now: u64,
    request_mac: Option<&[u8]>,
) -> Result<(usize, Mac), TsigError> {
    let mut hasher = key.keyed.clone();
    if let Some(request_mac) = request_mac {
        hasher.update_prior_mac(request_mac)?;
    }
    sign_with(
        buf,
        len,
        &key.key_name(),
        hasher,
        now,
        Covered::Variables {
            error: 0,
            other: &[],
        },
    )
}

/// Signs a response that carries a TSIG error for a request whose MAC
/// verified (RFC 8945 section 5.3.2): as [`sign`] with `error` in the
/// record, and for BADTIME our time `now` in the other data.
pub fn sign_error(
    buf: &mut [u8],
    len: usize,
    key: &Key,
    now: u64,
    request_mac: &[u8],
    error: u16,
) -> Result<(usize, Mac), TsigError> {
    let mut hasher = key.keyed.clone();
    hasher.update_prior_mac(request_mac)?;
    let time = now.min(MAX_TIME).to_be_bytes();
    let other: &[u8] = if error == BADTIME { &time[2..] } else { &[] };
    sign_with(
        buf,
        len,
        &key.key_name(),
        hasher,
        now,
        Covered::Variables { error, other },
    )
}

/// Appends an unsigned TSIG record carrying `error` (empty MAC) to a reply
/// in `buf[..len]` for a request whose signature failed (RFC 8945 section
/// 5.3.2), for the key name and algorithm the request used; adds one to
/// ARCOUNT. Returns the new length.
pub fn append_error(
    buf: &mut [u8],
    len: usize,
    key_name: &[u8],
    algorithm_wire: &[u8],
    now: u64,
    original_id: u16,
    error: u16,
) -> Result<usize, TsigError> {
    let record = Record {
        key_name,
        algorithm: algorithm_wire,
        time_signed: now,
        mac: &[],
        original_id,
        error,
        other: &[],
    };
    append_record(buf, len, &record)
}

/// What [`verify_request`] accepts: `None` for an unsigned request, else the
/// index of the key that signed it and its MAC.
pub type Verified = Option<(usize, Mac)>;

/// Why [`verify_request`] rejects a request, with the index of the key when
/// the record named a known one.
pub type Rejected = (TsigError, Option<usize>);

/// Verifies a signed request (e.g. a NOTIFY) against `keys`: `Ok(None)` when
/// it carries no TSIG record; `Ok(Some((key index, MAC)))` when the MAC
/// verifies and the time is within the fudge (the MAC then signs the
/// response). On failure returns the error and, when a key matched the
/// record's name and algorithm, its index (a NOTAUTH reply then carries a
/// TSIG record with that error). Checks, in RFC 8945 section 5.2's order:
/// the key, the MAC's length and value, then the time.
pub fn verify_request(message: &[u8], keys: &[Key], now: u64) -> Result<Verified, Rejected> {
    let signature = match find(message) {
        Ok(Some(signature)) => signature,
        Ok(None) => return Ok(None),
        Err(error) => return Err((error, None)),
    };
    let Some(index) = keys.iter().position(|key| key.matches(&signature)) else {
        return Err((TsigError::BadKey, None));
    };
    let key = &keys[index];
    let known = |error| (error, Some(index));
    let mut hasher = key.keyed.clone();
    hasher.update_stripped(message, &signature);
    let variables = Variables {
        time_signed: signature.time_signed,
        fudge: signature.fudge,
        error: signature.error,
        other: signature.other,
    };
    hasher.update_variables(&key.key_name(), &variables);
    check_mac(key.algorithm, hasher, signature.mac).map_err(known)?;
    check_time(&signature, now).map_err(known)?;
    let mac = Mac::new(signature.mac).map_err(known)?;
    Ok(Some((index, mac)))
}

/// Signs the messages of a multi-message response (AXFR/IXFR over TCP, RFC
/// 8945 section 5.3.1): the first with the request MAC and the full
/// variables, later ones with the prior MAC, the messages passed unsigned
/// since, and only the timers.
#[derive(Clone)]
pub struct ResponseSigner {
    name: KeyName,
    keyed: Hasher,
    /// Keyed, with the prior MAC and the unsigned messages since fed.
    running: Hasher,
    signed: bool,
    unsigned: u32,
}

impl ResponseSigner {
    /// A signer for the response to a request whose MAC is `request_mac`.
    pub fn new(key: &Key, request_mac: &Mac) -> ResponseSigner {
        let mut running = key.keyed.clone();
        // A Mac is at most MAX_MAC bytes: its size fits 16 bits.
        let _ = running.update_prior_mac(request_mac.as_slice());
        ResponseSigner {
            name: key.key_name(),
            keyed: key.keyed.clone(),
            running,
            signed: false,
            unsigned: 0,
        }
    }

    /// Signs the next message, in `buf[..len]`, as [`sign`] does. Returns
    /// the new length and the MAC.
    pub fn sign(
        &mut self,
        buf: &mut [u8],
        len: usize,
        now: u64,
    ) -> Result<(usize, Mac), TsigError> {
        let hasher = self.running.clone();
        let covered = if self.signed {
            Covered::Timers
        } else {
            Covered::Variables {
                error: 0,
                other: &[],
            }
        };
        let (end, mac) = sign_with(buf, len, &self.name, hasher, now, covered)?;
        self.running = self.keyed.clone();
        self.running.update_prior_mac(mac.as_slice())?;
        self.signed = true;
        self.unsigned = 0;
        Ok((end, mac))
    }

    /// Sends the next message unsigned: its bytes enter the next signed
    /// message's digest. `Unsigned` for the first message and for a 100th
    /// unsigned one in a row, which must be signed.
    pub fn skip(&mut self, message: &[u8]) -> Result<(), TsigError> {
        if !self.signed || self.unsigned >= MAX_UNSIGNED {
            return Err(TsigError::Unsigned);
        }
        self.running.update(message);
        self.unsigned += 1;
        Ok(())
    }
}

impl fmt::Debug for ResponseSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseSigner")
            .field("algorithm", &self.name.algorithm)
            .field("signed", &self.signed)
            .field("unsigned", &self.unsigned)
            .finish_non_exhaustive()
    }
}

/// Verifies the messages of a multi-message response (AXFR/IXFR over TCP,
/// RFC 8945 section 5.3.1): the first must be signed (its digest covers the
/// request MAC); later ones may go unsigned, up to 99 in a row, their bytes
/// entering the next signed message's digest (prior MAC, the unsigned
/// messages, this message without TSIG, and only the timers); the last must
/// be signed. After a failure every later call fails with the same error.
#[derive(Clone)]
pub struct ResponseVerifier {
    name: KeyName,
    keyed: Hasher,
    /// Keyed, with the prior MAC and the unsigned messages since fed.
    running: Hasher,
    signed: bool,
    last_signed: bool,
    unsigned: u32,
    failed: Option<TsigError>,
}

impl ResponseVerifier {
    /// A verifier for the response to a request signed with `key` whose MAC
    /// is `request_mac`.
    pub fn new(key: &Key, request_mac: &Mac) -> ResponseVerifier {
        let mut running = key.keyed.clone();
        // A Mac is at most MAX_MAC bytes: its size fits 16 bits.
        let _ = running.update_prior_mac(request_mac.as_slice());
        ResponseVerifier {
            name: key.key_name(),
            keyed: key.keyed.clone(),
            running,
            signed: false,
            last_signed: false,
            unsigned: 0,
            failed: None,
        }
    }

    /// Checks the next message of the response, received at `now`.
    pub fn message(&mut self, message: &[u8], now: u64) -> Result<(), TsigError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let result = self.check(message, now);
        if let Err(error) = result {
            self.failed = Some(error);
        }
        result
    }

    fn check(&mut self, message: &[u8], now: u64) -> Result<(), TsigError> {
        let Some(signature) = find(message)? else {
            if !self.signed || self.unsigned >= MAX_UNSIGNED {
                return Err(TsigError::Unsigned);
            }
            self.running.update(message);
            self.unsigned += 1;
            self.last_signed = false;
            return Ok(());
        };
        if !self.name.matches(&signature) {
            return Err(TsigError::BadKey);
        }
        if signature.error != 0 {
            return Err(TsigError::from_code(signature.error));
        }
        let mut hasher = self.running.clone();
        hasher.update_stripped(message, &signature);
        if self.signed {
            hasher.update_timers(signature.time_signed, signature.fudge);
        } else {
            let variables = Variables {
                time_signed: signature.time_signed,
                fudge: signature.fudge,
                error: signature.error,
                other: signature.other,
            };
            hasher.update_variables(&self.name, &variables);
        }
        check_mac(self.name.algorithm, hasher, signature.mac)?;
        check_time(&signature, now)?;
        self.running = self.keyed.clone();
        self.running.update_prior_mac(signature.mac)?;
        self.signed = true;
        self.last_signed = true;
        self.unsigned = 0;
        Ok(())
    }

    /// Whether the response verified to its end: `Unsigned` when no message
    /// was seen or the last one was not signed; the first failure's error
    /// when one failed.
    pub fn finish(&self) -> Result<(), TsigError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if self.last_signed {
            Ok(())
        } else {
            Err(TsigError::Unsigned)
        }
    }
}

impl fmt::Debug for ResponseVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseVerifier")
            .field("algorithm", &self.name.algorithm)
            .field("signed", &self.signed)
            .field("last_signed", &self.last_signed)
            .field("unsigned", &self.unsigned)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;
    const KEY_NAME: &[u8] = b"\x07xfr-key\x00";

    fn key(algorithm: Algorithm) -> Key {
        Key::new(KEY_NAME, algorithm, b"0123456789abcdef0123456789abcdef")
    }

    /// A query for `example.com` SOA with message ID `id`, in a roomy buffer,
    /// and its length.
    fn query(id: u16) -> (Vec<u8>, usize) {
        let mut message = vec![0u8; 1024];
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&id.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        bytes.extend_from_slice(b"\x07example\x03com\x00");
        bytes.extend_from_slice(&[0, 6, 0, 1]);
        message[..bytes.len()].copy_from_slice(&bytes);
        (message, bytes.len())
    }

    /// A response to `query(id)` carrying `records` A records for
    /// `example.com` (owner compressed), in a roomy buffer, and its length.
    fn response(id: u16, records: u16, seed: u8) -> (Vec<u8>, usize) {
        let (mut message, len) = query(id);
        message[2] = 0x84;
        message[6..8].copy_from_slice(&records.to_be_bytes());
        let mut pos = len;
        for index in 0..records {
            let record = [
                0xc0,
                12,
                0,
                1,
                0,
                1,
                0,
                0,
                14,
                16,
                0,
                4,
                192,
                0,
                seed,
                index as u8,
            ];
            message[pos..pos + record.len()].copy_from_slice(&record);
            pos += record.len();
        }
        (message, pos)
    }

    fn signed_query(key: &Key, id: u16, now: u64) -> (Vec<u8>, Mac) {
        let (mut buf, len) = query(id);
        let (end, mac) = sign(&mut buf, len, key, now, None).expect("signs");
        buf.truncate(end);
        (buf, mac)
    }

    #[test]
    fn algorithm_wire_names_round_trip() {
        for algorithm in Algorithm::ALL {
            let wire = algorithm.wire_name();
            assert_eq!(usize::from(wire[0]), algorithm.name().len());
            assert_eq!(&wire[1..wire.len() - 1], algorithm.name().as_bytes());
            assert_eq!(
                Algorithm::from_wire_name(&wire.to_ascii_uppercase()),
                Some(algorithm)
            );
        }
        assert_eq!(Algorithm::HmacSha256.min_mac_len(), 16);
        assert_eq!(Algorithm::HmacSha512.min_mac_len(), 32);
    }

    #[test]
    fn request_digest_matches_rfc_8945_layout() {
        // The MAC computed independently from the digest layout of RFC 8945
        // section 4.3: the message, then the key name, class ANY, TTL 0, the
        // algorithm name, 48-bit time, fudge, error, other length.
        let key = key(Algorithm::HmacSha256);
        let (message, len) = query(0x1234);
        let mut digest = message[..len].to_vec();
        digest.extend_from_slice(KEY_NAME);
        digest.extend_from_slice(&[0, 255, 0, 0, 0, 0]);
        digest.extend_from_slice(b"\x0bhmac-sha256\x00");
        digest.extend_from_slice(&NOW.to_be_bytes()[2..]);
        digest.extend_from_slice(&FUDGE.to_be_bytes());
        digest.extend_from_slice(&[0, 0, 0, 0]);
        let mut hmac: Hmac<Sha256> = keyed(b"0123456789abcdef0123456789abcdef");
        hmac.update(&digest);
        let expected = hmac.finalize().into_bytes();

        let (signed, mac) = signed_query(&key, 0x1234, NOW);
        assert_eq!(mac.as_slice(), expected.as_slice());
        let signature = find(&signed).expect("parses").expect("has TSIG");
        assert_eq!(signature.key_name, KEY_NAME);
        assert_eq!(signature.algorithm, b"\x0bhmac-sha256\x00");
        assert_eq!(signature.time_signed, NOW);
        assert_eq!(signature.fudge, FUDGE);
        assert_eq!(signature.mac, expected.as_slice());
        assert_eq!(signature.original_id, 0x1234);
        assert_eq!(signature.error, 0);
        assert_eq!(signature.other, b"");
        assert_eq!(signature.start, len);
        assert_eq!(&signed[10..12], &[0, 1], "ARCOUNT counts the TSIG record");
    }

    #[test]
    fn sign_then_verify_round_trips_for_every_algorithm() {
        for algorithm in Algorithm::ALL {
            let keys = [
                Key::new(b"\x05other\x00", algorithm, b"secret"),
                key(algorithm),
            ];
            let (request, mac) = signed_query(&keys[1], 7, NOW);
            assert_eq!(mac.as_slice().len(), algorithm.mac_len());
            let (index, request_mac) = verify_request(&request, &keys, NOW + 10)
                .expect("verifies")
                .expect("signed");
            assert_eq!(index, 1, "{algorithm:?}");
            assert_eq!(request_mac.as_slice(), mac.as_slice());

            // The response, signed with the request MAC, checks as a
            // one-message response.
            let (mut buf, len) = response(7, 1, 0);
            let (end, _) = sign(&mut buf, len, &keys[1], NOW, Some(mac.as_slice())).unwrap();
            let mut verifier = ResponseVerifier::new(&keys[1], &request_mac);
            verifier
                .message(&buf[..end], NOW)
                .expect("response verifies");
            verifier.finish().expect("complete");

            // Another request MAC does not verify it.
            let mut wrong = mac.as_slice().to_vec();
            wrong[0] ^= 1;
            let mut verifier = ResponseVerifier::new(&keys[1], &Mac::new(&wrong).unwrap());
            assert_eq!(verifier.message(&buf[..end], NOW), Err(TsigError::BadSig));
        }
    }

    #[test]
    fn key_names_compare_without_case() {
        let keys = [Key::new(
            b"\x07XFR-Key\x00",
            Algorithm::HmacSha384,
            b"0123456789abcdef0123456789abcdef",
        )];
        assert_eq!(keys[0].name(), KEY_NAME);
        let (request, _) = signed_query(&key(Algorithm::HmacSha384), 1, NOW);
        let mut shouting = request.clone();
        // The owner name as received in capitals: still the same key, and the
        // digest covers the lowercase name.
        let start = find(&request).unwrap().unwrap().start;
        shouting[start..start + KEY_NAME.len()].copy_from_slice(b"\x07XFR-KEY\x00");
        assert!(matches!(
            verify_request(&shouting, &keys, NOW),
            Ok(Some((0, _)))
        ));
    }

    #[test]
    fn any_tampered_byte_fails_with_badsig() {
        let keys = [key(Algorithm::HmacSha256)];
        let (request, _) = signed_query(&keys[0], 9, NOW);
        let start = find(&request).unwrap().unwrap().start;
        // Every byte of the message before the TSIG record but the ID (which
        // the original ID replaces in the digest) and ARCOUNT (which changes
        // the structure).
        for index in 2..start {
            if index == 10 || index == 11 {
                continue;
            }
            let mut tampered = request.clone();
            tampered[index] ^= 0x20;
            match verify_request(&tampered, &keys, NOW) {
                Err((TsigError::BadSig, Some(0))) | Err((TsigError::Malformed, None)) => {}
                other => panic!("byte {index}: {other:?}"),
            }
        }
        // A flipped bit in the question's type is well formed: BADSIG.
        let mut tampered = request.clone();
        tampered[start - 3] ^= 1;
        assert_eq!(
            verify_request(&tampered, &keys, NOW),
            Err((TsigError::BadSig, Some(0)))
        );
        // A flipped bit in the MAC itself.
        let mut tampered = request.clone();
        let last_mac_byte = request.len() - 7;
        tampered[last_mac_byte] ^= 1;
        assert_eq!(
            verify_request(&tampered, &keys, NOW),
            Err((TsigError::BadSig, Some(0)))
        );
        // A changed time signed (inside the fudge) breaks the MAC too.
        let mut tampered = request.clone();
        let time_low = start + KEY_NAME.len() + 10 + 13 + 5;
        tampered[time_low] ^= 1;
        assert_eq!(find(&tampered).unwrap().unwrap().time_signed, NOW ^ 1);
        assert_eq!(
            verify_request(&tampered, &keys, NOW),
            Err((TsigError::BadSig, Some(0)))
        );
        // The ID may change (a forwarder's), the original ID is what counts.
        let mut forwarded = request.clone();
        forwarded[0] ^= 0xff;
        assert!(verify_request(&forwarded, &keys, NOW).unwrap().is_some());
    }

    #[test]
    fn unknown_key_or_algorithm_fails_with_badkey() {
        let signer = key(Algorithm::HmacSha256);
        let (request, _) = signed_query(&signer, 3, NOW);
        let other_name = [Key::new(
            b"\x07xfr-kez\x00",
            Algorithm::HmacSha256,
            b"0123456789abcdef0123456789abcdef",
        )];
        assert_eq!(
            verify_request(&request, &other_name, NOW),
            Err((TsigError::BadKey, None))
        );
        let other_algorithm = [key(Algorithm::HmacSha512)];
        assert_eq!(
            verify_request(&request, &other_algorithm, NOW),
            Err((TsigError::BadKey, None))
        );
        // Same name and algorithm, another secret: the MAC fails.
        let other_secret = [Key::new(KEY_NAME, Algorithm::HmacSha256, b"another secret")];
        assert_eq!(
            verify_request(&request, &other_secret, NOW),
            Err((TsigError::BadSig, Some(0)))
        );
        assert_eq!(
            verify_request(&request, &[], NOW),
            Err((TsigError::BadKey, None))
        );
    }

    #[test]
    fn time_outside_the_fudge_fails_with_badtime() {
        let keys = [key(Algorithm::HmacSha256)];
        let (request, _) = signed_query(&keys[0], 3, NOW);
        let fudge = u64::from(FUDGE);
        for now in [NOW - fudge, NOW + fudge] {
            assert!(verify_request(&request, &keys, now).unwrap().is_some());
        }
        for now in [NOW - fudge - 1, NOW + fudge + 1, 0] {
            assert_eq!(
                verify_request(&request, &keys, now),
                Err((TsigError::BadTime, Some(0))),
                "{now}"
            );
        }
    }

    /// `message` with its TSIG record rewritten to carry `mac`.
    fn with_mac(message: &[u8], mac: &[u8]) -> Vec<u8> {
        let signature = find(message).unwrap().unwrap();
        let mut buf = vec![0u8; 1024];
        buf[..signature.start].copy_from_slice(&message[..signature.start]);
        let arcount = u16_at(&buf, 10).unwrap() - 1;
        buf[10..12].copy_from_slice(&arcount.to_be_bytes());
        let record = Record {
            key_name: signature.key_name,
            algorithm: signature.algorithm,
            time_signed: signature.time_signed,
            mac,
            original_id: signature.original_id,
            error: signature.error,
            other: signature.other,
        };
        let end = append_record(&mut buf, signature.start, &record).unwrap();
        buf.truncate(end);
        buf
    }

    #[test]
    fn truncated_macs_are_accepted_down_to_the_minimum() {
        for algorithm in Algorithm::ALL {
            let keys = [key(algorithm)];
            let (request, mac) = signed_query(&keys[0], 5, NOW);
            let mac = mac.as_slice();
            let shortest = algorithm.min_mac_len();
            let (_, returned) = verify_request(&with_mac(&request, &mac[..shortest]), &keys, NOW)
                .expect("truncated to the minimum verifies")
                .unwrap();
            assert_eq!(returned.as_slice(), &mac[..shortest]);
            assert_eq!(
                verify_request(&with_mac(&request, &mac[..shortest - 1]), &keys, NOW),
                Err((TsigError::BadTrunc, Some(0)))
            );
            assert_eq!(
                verify_request(&with_mac(&request, &[]), &keys, NOW),
                Err((TsigError::BadTrunc, Some(0)))
            );
            // A wrong truncated MAC is still BADSIG.
            let mut wrong = mac[..shortest].to_vec();
            wrong[shortest - 1] ^= 1;
            assert_eq!(
                verify_request(&with_mac(&request, &wrong), &keys, NOW),
                Err((TsigError::BadSig, Some(0)))
            );
            // Longer than the hash: FORMERR.
            let mut long = mac.to_vec();
            long.push(0);
            assert_eq!(
                verify_request(&with_mac(&request, &long), &keys, NOW),
                Err((TsigError::Malformed, Some(0)))
            );
        }
    }

    #[test]
    fn tsig_anywhere_but_last_is_malformed() {
        let keys = [key(Algorithm::HmacSha256)];
        let (request, _) = signed_query(&keys[0], 5, NOW);
        // An OPT record after the TSIG record.
        let mut after = request.clone();
        after.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
        after[11] += 1;
        assert_eq!(find(&after), Err(TsigError::Malformed));
        assert_eq!(
            verify_request(&after, &keys, NOW),
            Err((TsigError::Malformed, None))
        );
        // The same TSIG record counted in the answer section.
        let mut answer = request.clone();
        answer[7] = 1;
        answer[11] = 0;
        assert_eq!(find(&answer), Err(TsigError::Malformed));
        // Two TSIG records.
        let (first, _) = signed_query(&keys[0], 5, NOW);
        let mut buf = first.clone();
        buf.resize(1024, 0);
        let (end, _) = sign(&mut buf, first.len(), &keys[0], NOW, None).unwrap();
        assert_eq!(find(&buf[..end]), Err(TsigError::Malformed));
        // Trailing bytes, a truncated record, a short header.
        let mut trailing = request.clone();
        trailing.push(0);
        assert_eq!(find(&trailing), Err(TsigError::Malformed));
        for cut in 0..request.len() {
            assert!(
                find(&request[..cut]).is_err() || cut == find(&request).unwrap().unwrap().start
            );
        }
        // An unsigned message has no signature and verifies as unsigned.
        let (unsigned, len) = query(5);
        assert_eq!(find(&unsigned[..len]), Ok(None));
        assert_eq!(verify_request(&unsigned[..len], &keys, NOW), Ok(None));
    }

    #[test]
    fn sign_needs_room_and_leaves_the_message_alone_without() {
        let key = key(Algorithm::HmacSha512);
        let (mut buf, len) = query(1);
        let needed = KEY_NAME.len() + 10 + 13 + 16 + 64;
        buf.truncate(len + needed - 1);
        let before = buf.clone();
        assert_eq!(
            sign(&mut buf, len, &key, NOW, None).err(),
            Some(TsigError::NoRoom)
        );
        assert_eq!(buf, before);
        buf.push(0);
        assert_eq!(
            sign(&mut buf, len, &key, NOW, None).unwrap().0,
            len + needed
        );
        assert_eq!(
            sign(&mut buf, 11, &key, NOW, None).err(),
            Some(TsigError::Malformed)
        );
    }

    #[test]
    fn error_replies_carry_the_error() {
        let keys = [key(Algorithm::HmacSha256)];
        let (request, request_mac) = signed_query(&keys[0], 0x4242, NOW);
        let signature = find(&request).unwrap().unwrap();

        // Unsigned BADKEY/BADSIG reply: empty MAC, the request's names.
        let (mut buf, len) = response(0x4242, 0, 0);
        let end = append_error(
            &mut buf,
            len,
            signature.key_name,
            signature.algorithm,
            NOW,
            signature.original_id,
            TsigError::BadSig.error_code(),
        )
        .unwrap();
        let reply = find(&buf[..end]).unwrap().unwrap();
        assert_eq!(reply.error, BADSIG);
        assert_eq!(reply.mac, b"");
        assert_eq!(reply.key_name, KEY_NAME);
        assert_eq!(reply.original_id, 0x4242);
        let mut verifier = ResponseVerifier::new(&keys[0], &request_mac);
        assert_eq!(verifier.message(&buf[..end], NOW), Err(TsigError::BadSig));
        assert_eq!(verifier.finish(), Err(TsigError::BadSig));

        // Signed BADTIME reply: our time in the other data.
        let (mut buf, len) = response(0x4242, 0, 0);
        let later = NOW + 1000;
        let (end, _) = sign_error(
            &mut buf,
            len,
            &keys[0],
            later,
            request_mac.as_slice(),
            BADTIME,
        )
        .unwrap();
        let reply = find(&buf[..end]).unwrap().unwrap();
        assert_eq!(reply.error, BADTIME);
        assert_eq!(reply.other, &later.to_be_bytes()[2..]);
        let mut verifier = ResponseVerifier::new(&keys[0], &request_mac);
        assert_eq!(
            verifier.message(&buf[..end], later),
            Err(TsigError::BadTime)
        );

        assert_eq!(TsigError::BadKey.error_code(), 17);
        assert_eq!(TsigError::BadTrunc.error_code(), 22);
        assert_eq!(TsigError::Malformed.error_code(), 0);
    }

    /// The messages of a response signed as `plan` says (`true`: signed),
    /// each with a few records.
    fn sequence(key: &Key, request_mac: &Mac, plan: &[bool]) -> Vec<Vec<u8>> {
        let mut signer = ResponseSigner::new(key, request_mac);
        plan.iter()
            .enumerate()
            .map(|(index, &signed)| {
                let (mut buf, len) = response(77, 3, index as u8);
                if signed {
                    let (end, _) = signer.sign(&mut buf, len, NOW + index as u64).unwrap();
                    buf.truncate(end);
                } else {
                    buf.truncate(len);
                    signer.skip(&buf).unwrap();
                }
                buf
            })
            .collect()
    }

    fn verify_sequence(
        key: &Key,
        request_mac: &Mac,
        messages: &[Vec<u8>],
    ) -> Result<(), TsigError> {
        let mut verifier = ResponseVerifier::new(key, request_mac);
        for message in messages {
            verifier.message(message, NOW)?;
        }
        verifier.finish()
    }

    #[test]
    fn multi_message_responses_verify_with_unsigned_messages_between() {
        for algorithm in Algorithm::ALL {
            let key = key(algorithm);
            let (_, request_mac) = signed_query(&key, 77, NOW);
            let plan = [true, false, false, false, true, true, false, false, true];
            let messages = sequence(&key, &request_mac, &plan);
            assert_eq!(verify_sequence(&key, &request_mac, &messages), Ok(()));
            for (index, message) in messages.iter().enumerate() {
                assert_eq!(find(message).unwrap().is_some(), plan[index]);
            }

            // A tampered byte in an unsigned message fails the next signed one.
            let mut tampered = messages.clone();
            let last = tampered[2].len() - 1;
            tampered[2][last] ^= 1;
            let mut verifier = ResponseVerifier::new(&key, &request_mac);
            for message in &tampered[..4] {
                verifier.message(message, NOW).unwrap();
            }
            assert_eq!(verifier.message(&tampered[4], NOW), Err(TsigError::BadSig));
            assert_eq!(verifier.message(&tampered[5], NOW), Err(TsigError::BadSig));
            assert_eq!(verifier.finish(), Err(TsigError::BadSig));

            // A tampered signed message.
            let mut tampered = messages.clone();
            tampered[5][14] ^= 1;
            assert_eq!(
                verify_sequence(&key, &request_mac, &tampered),
                Err(TsigError::BadSig)
            );

            // A dropped or reordered unsigned message.
            let mut dropped = messages.clone();
            dropped.remove(2);
            assert_eq!(
                verify_sequence(&key, &request_mac, &dropped),
                Err(TsigError::BadSig)
            );
            let mut swapped = messages.clone();
            swapped.swap(1, 2);
            assert_eq!(
                verify_sequence(&key, &request_mac, &swapped),
                Err(TsigError::BadSig)
            );

            // Ending unsigned, starting unsigned, no messages.
            assert_eq!(
                verify_sequence(&key, &request_mac, &messages[..7]),
                Err(TsigError::Unsigned)
            );
            assert_eq!(
                verify_sequence(&key, &request_mac, &messages[1..]),
                Err(TsigError::Unsigned)
            );
            assert_eq!(
                verify_sequence(&key, &request_mac, &[]),
                Err(TsigError::Unsigned)
            );

            // A later message signed as a first one (full variables) fails:
            // later digests cover only the timers.
            let mut resigned = messages.clone();
            let signature = find(&messages[4]).unwrap().unwrap();
            let mut buf = messages[4][..signature.start].to_vec();
            buf[11] -= 1;
            let len = buf.len();
            buf.resize(1024, 0);
            let mut hasher = key.keyed.clone();
            hasher
                .update_prior_mac(find(&messages[0]).unwrap().unwrap().mac)
                .unwrap();
            for message in &messages[1..4] {
                hasher.update(message);
            }
            let variables = Covered::Variables {
                error: 0,
                other: &[],
            };
            let (end, _) =
                sign_with(&mut buf, len, &key.key_name(), hasher, NOW, variables).unwrap();
            buf.truncate(end);
            resigned[4] = buf;
            assert_eq!(
                verify_sequence(&key, &request_mac, &resigned),
                Err(TsigError::BadSig)
            );
        }
    }

    #[test]
    fn at_most_99_unsigned_messages_in_a_row() {
        let key = key(Algorithm::HmacSha256);
        let (_, request_mac) = signed_query(&key, 77, NOW);
        let mut plan = vec![true];
        plan.extend(std::iter::repeat_n(false, 99));
        plan.push(true);
        let messages = sequence(&key, &request_mac, &plan);
        assert_eq!(verify_sequence(&key, &request_mac, &messages), Ok(()));

        // A 100th unsigned message in a row fails.
        let mut too_many = messages.clone();
        too_many.insert(1, messages[1].clone());
        let mut verifier = ResponseVerifier::new(&key, &request_mac);
        for message in &too_many[..100] {
            verifier.message(message, NOW).unwrap();
        }
        assert_eq!(
            verifier.message(&too_many[100], NOW),
            Err(TsigError::Unsigned)
        );

        // The signer refuses to skip a 100th one, or the first.
        let mut signer = ResponseSigner::new(&key, &request_mac);
        assert_eq!(signer.skip(&messages[1]), Err(TsigError::Unsigned));
        let (mut buf, len) = response(77, 1, 0);
        signer.sign(&mut buf, len, NOW).unwrap();
        for _ in 0..99 {
            signer.skip(&messages[1]).unwrap();
        }
        assert_eq!(signer.skip(&messages[1]), Err(TsigError::Unsigned));
    }

    #[test]
    fn responses_from_another_key_fail_with_badkey() {
        let key = key(Algorithm::HmacSha256);
        let (_, request_mac) = signed_query(&key, 77, NOW);
        let other = Key::new(
            b"\x05other\x00",
            Algorithm::HmacSha256,
            b"0123456789abcdef0123456789abcdef",
        );
        let messages = sequence(&other, &request_mac, &[true]);
        assert_eq!(
            verify_sequence(&key, &request_mac, &messages),
            Err(TsigError::BadKey)
        );
    }
}
