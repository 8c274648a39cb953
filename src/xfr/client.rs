//! The transfer client: SOA queries, AXFR (RFC 5936) and IXFR (RFC 1995)
//! over TCP, signed with TSIG when the zone has a key.
//!
//! Blocking and single-threaded: the transfer thread runs one exchange at a
//! time, each bounded by a timeout per read and write, so a primary that
//! stops sending mid-transfer costs at most that long. Nothing here changes
//! any zone: a transfer yields records (or the changes of an IXFR), and the
//! caller checks and applies them. Every message of a response is checked:
//! the ID, QR, the rcode, the question and the TSIG of each message.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use domain::base::iana::{Class, Rcode as DomainRcode, Rtype};
use domain::base::name::FlattenInto;
use domain::base::{Message, MessageBuilder, Name, Record, Serial, Ttl};
use domain::rdata::ZoneRecordData;

use crate::wire::tsig::{self, Key, Mac, ResponseVerifier, TsigError};
use crate::zone::Record as ZoneRecord;

/// The longest one exchange may take in all, however steadily the primary
/// trickles bytes: the transfer thread serves every zone.
pub const EXCHANGE_TOTAL: Duration = Duration::from_secs(300);

/// The most records one transfer may bring: a primary cannot make the
/// transfer thread hold more than this (20 times the largest zone the
/// benches load).
pub const MAX_TRANSFER_RECORDS: usize = 20_000_000;

/// Room left after a query for its TSIG record (owner, algorithm name, a
/// 64-byte MAC and the fixed fields fit in well under this).
const TSIG_ROOM: usize = 512;

/// Why an exchange with a primary failed.
#[derive(Debug)]
pub enum XfrError {
    /// Connecting, reading or writing (a timeout included).
    Io(io::Error),
    /// The primary closed the connection before the transfer was complete.
    Cut { records: usize },
    /// The primary answered with an error rcode.
    Rcode(DomainRcode),
    /// A response's TSIG was missing or wrong.
    Tsig(TsigError),
    /// A response that is not a well-formed answer to our question.
    Malformed(String),
}

impl fmt::Display for XfrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XfrError::Io(error) => write!(f, "{error}"),
            XfrError::Cut { records } => write!(
                f,
                "the connection closed mid-transfer, after {records} records"
            ),
            XfrError::Rcode(rcode) => write!(f, "the primary answered {rcode}"),
            XfrError::Tsig(error) => write!(f, "TSIG: {error}"),
            XfrError::Malformed(what) => write!(f, "malformed response: {what}"),
        }
    }
}

impl std::error::Error for XfrError {}

impl From<io::Error> for XfrError {
    fn from(error: io::Error) -> XfrError {
        XfrError::Io(error)
    }
}

/// What a primary has for us.
#[derive(Debug)]
pub enum Transfer {
    /// IXFR: the primary's serial is not newer than ours.
    UpToDate,
    /// The whole zone (an AXFR, or an IXFR answered in AXFR form), its SOA
    /// first.
    Full(Vec<ZoneRecord>),
    /// IXFR: the differences from our serial to the primary's, in order.
    Incremental(Vec<Difference>),
}

/// One IXFR difference sequence: the records removed (the old SOA first)
/// and the records added (the new SOA first).
#[derive(Debug, Default)]
pub struct Difference {
    pub removed: Vec<ZoneRecord>,
    pub added: Vec<ZoneRecord>,
}

/// Where and how to ask.
#[derive(Clone, Copy, Debug)]
pub struct Exchange<'a> {
    pub primary: SocketAddr,
    pub key: Option<&'a Key>,
    /// Bounds connecting and every single read and write.
    pub timeout: Duration,
}

/// The SOA's fields as a primary gave them.
#[derive(Clone, Debug)]
pub struct SoaAnswer {
    pub serial: u32,
}

/// Asks the primary for the zone's SOA; returns its serial.
pub fn soa_serial(exchange: &Exchange<'_>, apex: &Name<Bytes>) -> Result<u32, XfrError> {
    let mut session = Session::open(exchange, apex, Rtype::SOA, None)?;
    let mut serial = None;
    // A SOA answer is one message.
    if let Some(message) = session.next_message()? {
        for record in records(&message)? {
            if record.rtype() == Rtype::SOA && *record.owner() == *apex {
                if let ZoneRecordData::Soa(soa) = record.data() {
                    serial = Some(soa.serial().into_int());
                }
            }
        }
    }
    session.finish()?;
    serial.ok_or_else(|| XfrError::Malformed("no SOA in the answer".to_owned()))
}

/// Takes the whole zone by AXFR, into a vector.
pub fn axfr(exchange: &Exchange<'_>, apex: &Name<Bytes>) -> Result<Vec<ZoneRecord>, XfrError> {
    let mut stream = axfr_stream(exchange, apex)?;
    let zone: Vec<ZoneRecord> = stream.by_ref().collect();
    stream.finish()?;
    Ok(zone)
}

/// Starts an AXFR whose records are read as they are taken from the
/// [`AxfrStream`], one message at a time, so a large zone is never held
/// twice (as records and as the zone built from them).
pub fn axfr_stream(exchange: &Exchange<'_>, apex: &Name<Bytes>) -> Result<AxfrStream, XfrError> {
    Ok(AxfrStream {
        session: Session::open(exchange, apex, Rtype::AXFR, None)?,
        first_serial: None,
        buffered: Vec::new().into_iter(),
        records: 0,
        done: false,
        error: None,
    })
}

/// The records of an AXFR in progress, the SOA first and the closing SOA
/// left out. It ends early on any error; [`AxfrStream::finish`] then says
/// which, so records taken from a stream that did not finish cleanly must
/// be thrown away.
#[derive(Debug)]
pub struct AxfrStream {
    session: Session,
    first_serial: Option<Serial>,
    buffered: std::vec::IntoIter<ZoneRecord>,
    records: usize,
    done: bool,
    error: Option<XfrError>,
}

impl AxfrStream {
    /// Whether the transfer was whole: the closing SOA came, and every
    /// message was signed as it must be.
    pub fn finish(self) -> Result<(), XfrError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if !self.done {
            return Err(XfrError::Cut {
                records: self.records,
            });
        }
        self.session.finish()
    }

    fn fail(&mut self, error: XfrError) -> Option<ZoneRecord> {
        self.error.get_or_insert(error);
        self.done = false;
        self.buffered = Vec::new().into_iter();
        None
    }

    /// Reads the next message into `buffered`; false at the end.
    fn read_message(&mut self) -> Result<bool, XfrError> {
        let Some(message) = self.session.next_message()? else {
            return Err(XfrError::Cut {
                records: self.records,
            });
        };
        let mut taken = Vec::with_capacity(usize::from(message.header_counts().ancount()));
        for record in records(&message)? {
            if self.done {
                return Err(XfrError::Malformed(
                    "records after the closing SOA".to_owned(),
                ));
            }
            let serial = soa_serial_of(&record);
            match (self.first_serial, serial) {
                (None, None) => {
                    return Err(XfrError::Malformed(
                        "the transfer does not start with the SOA".to_owned(),
                    ));
                }
                (None, Some(serial)) => self.first_serial = Some(serial),
                // The closing SOA repeats the first (RFC 5936 section 2.2).
                (Some(first), Some(serial)) => {
                    if serial != first {
                        return Err(XfrError::Malformed(
                            "the closing SOA differs from the first".to_owned(),
                        ));
                    }
                    self.done = true;
                    continue;
                }
                (Some(_), None) => {}
            }
            self.records += 1;
            if self.records > MAX_TRANSFER_RECORDS {
                return Err(XfrError::Malformed(format!(
                    "more than {MAX_TRANSFER_RECORDS} records"
                )));
            }
            taken.push(record);
        }
        self.buffered = taken.into_iter();
        Ok(true)
    }
}

impl Iterator for AxfrStream {
    type Item = ZoneRecord;

    fn next(&mut self) -> Option<ZoneRecord> {
        loop {
            if let Some(record) = self.buffered.next() {
                return Some(record);
            }
            if self.done || self.error.is_some() {
                return None;
            }
            if let Err(error) = self.read_message() {
                return self.fail(error);
            }
        }
    }
}

/// Asks for the changes since `ours` (the apex SOA record we serve) by IXFR.
pub fn ixfr(
    exchange: &Exchange<'_>,
    apex: &Name<Bytes>,
    ours: &ZoneRecord,
) -> Result<Transfer, XfrError> {
    let ZoneRecordData::Soa(our_soa) = ours.data() else {
        return Err(XfrError::Malformed("our SOA is not a SOA".to_owned()));
    };
    let our_serial = our_soa.serial();
    let mut session = Session::open(exchange, apex, Rtype::IXFR, Some(ours))?;
    let mut stream: Vec<ZoneRecord> = Vec::new();
    // In AXFR form (the second record is not a SOA) the stream ends at the
    // next SOA. In incremental form the SOAs after the first alternate:
    // one opens the deletions of a difference (odd count), the next its
    // additions; it ends with the new serial where deletions would open.
    let mut new_serial: Option<Serial> = None;
    let mut incremental = None;
    let mut later_soas = 0;
    loop {
        let Some(message) = session.next_message()? else {
            if stream.len() == 1 {
                break;
            }
            return Err(XfrError::Cut {
                records: stream.len(),
            });
        };
        let mut ended = false;
        for record in records(&message)? {
            if ended {
                return Err(XfrError::Malformed(
                    "records after the closing SOA".to_owned(),
                ));
            }
            let serial = soa_serial_of(&record);
            if stream.is_empty() {
                if serial.is_none() {
                    return Err(XfrError::Malformed(
                        "the transfer does not start with the SOA".to_owned(),
                    ));
                }
                new_serial = serial;
            } else if let Some(serial) = serial {
                if stream.len() == 1 && Some(serial) == new_serial {
                    // A zone that is its SOA, in AXFR form.
                    ended = true;
                } else if stream.len() == 1 {
                    incremental = Some(true);
                }
                later_soas += 1;
                match incremental {
                    Some(true) => {
                        ended |= later_soas % 2 == 1 && Some(serial) == new_serial && later_soas > 1
                    }
                    _ => ended = true,
                }
            } else if stream.len() == 1 {
                incremental = Some(false);
            }
            stream.push(record);
            if stream.len() > MAX_TRANSFER_RECORDS {
                return Err(XfrError::Malformed(format!(
                    "more than {MAX_TRANSFER_RECORDS} records"
                )));
            }
        }
        if ended {
            break;
        }
        // A lone SOA not newer than ours: up to date, in one message.
        if stream.len() == 1
            && new_serial.is_some_and(|serial| {
                serial.partial_cmp(&our_serial) != Some(std::cmp::Ordering::Greater)
            })
        {
            break;
        }
    }
    session.finish()?;
    if stream.len() == 1 {
        // A lone SOA says "up to date" only when it is not newer.
        if new_serial.is_some_and(|serial| {
            serial.partial_cmp(&our_serial) == Some(std::cmp::Ordering::Greater)
        }) {
            return Err(XfrError::Malformed(
                "a lone SOA newer than ours instead of the changes".to_owned(),
            ));
        }
        return Ok(Transfer::UpToDate);
    }
    // AXFR form: the second record is not a SOA (or the zone is its SOA).
    let incremental = stream.len() > 2 && stream[1].rtype() == Rtype::SOA;
    if !incremental {
        stream.pop();
        return Ok(Transfer::Full(stream));
    }
    let closing = stream.pop();
    debug_assert!(closing.is_some());
    let mut differences: Vec<Difference> = Vec::new();
    let mut records = stream.into_iter().skip(1).peekable();
    let mut expected_from = our_serial;
    while let Some(old_soa) = records.next() {
        let from = soa_serial_of(&old_soa)
            .ok_or_else(|| XfrError::Malformed("a difference not opened by a SOA".to_owned()))?;
        if from != expected_from {
            return Err(XfrError::Malformed(format!(
                "a difference from serial {from} where {expected_from} was expected"
            )));
        }
        let mut difference = Difference {
            removed: vec![old_soa],
            added: Vec::new(),
        };
        while let Some(record) = records.next_if(|record| record.rtype() != Rtype::SOA) {
            difference.removed.push(record);
        }
        let new_soa = records
            .next()
            .ok_or_else(|| XfrError::Malformed("a difference without its new SOA".to_owned()))?;
        expected_from = soa_serial_of(&new_soa).unwrap_or(expected_from);
        difference.added.push(new_soa);
        while let Some(record) = records.next_if(|record| record.rtype() != Rtype::SOA) {
            difference.added.push(record);
        }
        differences.push(difference);
    }
    if Some(expected_from) != new_serial {
        return Err(XfrError::Malformed(format!(
            "the differences end at serial {expected_from}, not at the primary's"
        )));
    }
    Ok(Transfer::Incremental(differences))
}

fn soa_serial_of(record: &ZoneRecord) -> Option<Serial> {
    match record.data() {
        ZoneRecordData::Soa(soa) => Some(soa.serial()),
        _ => None,
    }
}

/// The answer records of one response message, as owned zone records.
fn records(message: &Message<Bytes>) -> Result<Vec<ZoneRecord>, XfrError> {
    let answer = message
        .answer()
        .map_err(|error| XfrError::Malformed(error.to_string()))?;
    let mut out = Vec::with_capacity(usize::from(message.header_counts().ancount()));
    for record in answer.limit_to::<ZoneRecordData<Bytes, _>>() {
        let record = record.map_err(|error| XfrError::Malformed(error.to_string()))?;
        if record.class() != Class::IN {
            return Err(XfrError::Malformed(format!(
                "a record of class {} at {}",
                record.class(),
                record.owner()
            )));
        }
        let record: ZoneRecord = record
            .try_flatten_into()
            .map_err(|_| XfrError::Malformed("a name too long".to_owned()))?;
        out.push(record);
    }
    // Records of types the zone parser has no data type for (none in
    // practice: ZoneRecordData has a generic fallback) would be skipped by
    // `limit_to`; check none were.
    if out.len() != usize::from(message.header_counts().ancount()) {
        return Err(XfrError::Malformed(
            "records the parser could not read".to_owned(),
        ));
    }
    Ok(out)
}

/// One query on one TCP connection and the messages answering it.
#[derive(Debug)]
struct Session {
    stream: TcpStream,
    id: u16,
    question: (Name<Bytes>, Rtype),
    verifier: Option<ResponseVerifier>,
    messages: usize,
    deadline: Instant,
}

impl Session {
    fn open(
        exchange: &Exchange<'_>,
        apex: &Name<Bytes>,
        qtype: Rtype,
        authority_soa: Option<&ZoneRecord>,
    ) -> Result<Session, XfrError> {
        let id = crate::sys::random::random_u64() as u16;
        let mut query = build_query(id, apex, qtype, authority_soa)?;
        let mut verifier = None;
        if let Some(key) = exchange.key {
            let mac = sign_query(&mut query, key)?;
            verifier = Some(ResponseVerifier::new(key, &mac));
        }
        let stream = TcpStream::connect_timeout(&exchange.primary, exchange.timeout)?;
        stream.set_read_timeout(Some(exchange.timeout))?;
        stream.set_write_timeout(Some(exchange.timeout))?;
        stream.set_nodelay(true)?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
        framed.extend_from_slice(&query);
        (&stream).write_all(&framed)?;
        Ok(Session {
            stream,
            id,
            question: (apex.clone(), qtype),
            verifier,
            messages: 0,
            deadline: Instant::now() + EXCHANGE_TOTAL,
        })
    }

    /// The next response message, checked; `None` when the primary closed
    /// the connection cleanly between messages.
    fn next_message(&mut self) -> Result<Option<Message<Bytes>>, XfrError> {
        if Instant::now() >= self.deadline {
            return Err(XfrError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the exchange took over {} s", EXCHANGE_TOTAL.as_secs()),
            )));
        }
        let mut length = [0u8; 2];
        if !read_exact_or_eof(&mut self.stream, &mut length)? {
            return Ok(None);
        }
        let length = usize::from(u16::from_be_bytes(length));
        let mut bytes = vec![0u8; length];
        self.stream.read_exact(&mut bytes).map_err(|error| {
            if error.kind() == io::ErrorKind::UnexpectedEof {
                XfrError::Cut { records: 0 }
            } else {
                XfrError::Io(error)
            }
        })?;
        if let Some(verifier) = &mut self.verifier {
            verifier
                .message(&bytes, unix_now())
                .map_err(XfrError::Tsig)?;
        }
        let message = Message::from_octets(Bytes::from(bytes))
            .map_err(|_| XfrError::Malformed("shorter than a header".to_owned()))?;
        let header = message.header();
        if header.id() != self.id || !header.qr() {
            return Err(XfrError::Malformed(
                "not a response to our query".to_owned(),
            ));
        }
        if header.rcode() != DomainRcode::NOERROR {
            return Err(XfrError::Rcode(header.rcode()));
        }
        // The first message repeats the question; later ones may omit it.
        if self.messages == 0 || message.header_counts().qdcount() > 0 {
            let question = message
                .first_question()
                .ok_or_else(|| XfrError::Malformed("no question".to_owned()))?;
            if *question.qname() != self.question.0 || question.qtype() != self.question.1 {
                return Err(XfrError::Malformed("the question is not ours".to_owned()));
            }
        }
        self.messages += 1;
        Ok(Some(message))
    }

    /// Checks that the last message was signed, when signing.
    fn finish(self) -> Result<(), XfrError> {
        if let Some(verifier) = &self.verifier {
            verifier.finish().map_err(XfrError::Tsig)?;
        }
        Ok(())
    }
}

/// Reads `buf` whole; `Ok(false)` when the stream ended before its first
/// byte.
fn read_exact_or_eof(stream: &mut TcpStream, buf: &mut [u8]) -> Result<bool, XfrError> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(XfrError::Cut { records: 0 }),
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(XfrError::Io(error)),
        }
    }
    Ok(true)
}

fn build_query(
    id: u16,
    apex: &Name<Bytes>,
    qtype: Rtype,
    authority_soa: Option<&ZoneRecord>,
) -> Result<Vec<u8>, XfrError> {
    let short = |_| XfrError::Malformed("query does not fit".to_owned());
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    let mut question = builder.question();
    question.push((apex, qtype)).map_err(short)?;
    let mut authority = question.authority();
    if let Some(record) = authority_soa {
        if let ZoneRecordData::Soa(soa) = record.data() {
            authority
                .push(Record::new(
                    record.owner().clone(),
                    Class::IN,
                    Ttl::from_secs(record.ttl().as_secs()),
                    ZoneRecordData::<Bytes, Name<Bytes>>::Soa(soa.clone()),
                ))
                .map_err(short)?;
        }
    }
    Ok(authority.finish())
}

/// Signs `query` in place (growing it by its TSIG record); returns the MAC
/// the responses are chained to.
fn sign_query(query: &mut Vec<u8>, key: &Key) -> Result<Mac, XfrError> {
    let len = query.len();
    query.resize(len + TSIG_ROOM, 0);
    let (signed_len, mac) =
        tsig::sign(query, len, key, unix_now(), None).map_err(XfrError::Tsig)?;
    query.truncate(signed_len);
    Ok(mac)
}

/// Seconds since the Unix epoch, for TSIG.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
