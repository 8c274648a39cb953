//! The test client: queries built with `domain`'s `MessageBuilder`, sent with
//! `domain`'s UDP, TCP and UDP-then-TCP transports (or as raw bytes where a
//! test needs a malformed packet), and replies read with `domain`'s
//! `Message` into records rendered as text for exact comparisons.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::str::FromStr;
use std::time::Duration;

use domain::base::iana::{Class, OptRcode, Rtype};
use domain::base::message::RecordSection;
use domain::base::name::ParsedName;
use domain::base::opt::ClientSubnet;
use domain::base::wire::ParseError;
use domain::base::{Message, MessageBuilder, Name, ParsedRecord, Record};
use domain::net::client::protocol::{TcpConnect, UdpConnect};
use domain::net::client::request::{RequestMessage, RequestMessageMulti, SendRequest};
use domain::net::client::{dgram, dgram_stream, stream};
use domain::rdata::AllRecordData;

/// How long any exchange may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The OPT record of a query built by [`message`].
#[derive(Clone, Copy, Debug)]
pub struct Edns {
    pub udp_payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

impl Edns {
    /// EDNS version 0 with this payload size and DO clear.
    pub fn payload(udp_payload: u16) -> Edns {
        Edns {
            udp_payload,
            version: 0,
            dnssec_ok: false,
        }
    }
}

/// The wire bytes of a query for `name` (spelled as given, case kept) with
/// message ID `id`, RD clear, and an OPT record when `edns` is given.
pub fn message(id: u16, name: &str, rtype: Rtype, class: Class, edns: Option<Edns>) -> Vec<u8> {
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    let mut question = builder.question();
    let name = Name::<Vec<u8>>::from_str(name).expect("valid query name");
    question.push((name, rtype, class)).expect("question fits");
    let mut additional = question.additional();
    if let Some(edns) = edns {
        additional
            .opt(|opt| {
                opt.set_udp_payload_size(edns.udp_payload);
                opt.set_version(edns.version);
                opt.set_dnssec_ok(edns.dnssec_ok);
                Ok(())
            })
            .expect("OPT fits");
    }
    additional.finish()
}

/// The wire bytes of a query for `name`/`rtype` in class IN with message ID
/// `id`, EDNS (payload 1232) and, when `subnet` is given, an EDNS Client
/// Subnet option (RFC 7871) for that address and source prefix length
/// (built by `domain`, which zeroes the address bits past the prefix).
pub fn ecs_message(id: u16, name: &str, rtype: Rtype, subnet: Option<(IpAddr, u8)>) -> Vec<u8> {
    ecs_message_with_scope(id, name, rtype, subnet, 0)
}

/// As [`ecs_message`] with SCOPE PREFIX-LENGTH `scope`, which a query must
/// leave 0.
pub fn ecs_message_with_scope(
    id: u16,
    name: &str,
    rtype: Rtype,
    subnet: Option<(IpAddr, u8)>,
    scope: u8,
) -> Vec<u8> {
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    let mut question = builder.question();
    let name = Name::<Vec<u8>>::from_str(name).expect("valid query name");
    question
        .push((name, rtype, Class::IN))
        .expect("question fits");
    let mut additional = question.additional();
    additional
        .opt(|opt| {
            opt.set_udp_payload_size(1232);
            if let Some((address, source_prefix)) = subnet {
                opt.client_subnet(source_prefix, scope, address)?;
            }
            Ok(())
        })
        .expect("OPT fits");
    additional.finish()
}

/// A request for `name`/`rtype` in class IN, for `domain`'s transports
/// (which set the ID and, on UDP, the OPT record themselves).
pub fn request(name: &str, rtype: Rtype) -> RequestMessage<Vec<u8>> {
    request_in_class(name, rtype, Class::IN)
}

/// A request for `name`/`rtype` in `class`.
pub fn request_in_class(name: &str, rtype: Rtype, class: Class) -> RequestMessage<Vec<u8>> {
    let message = Message::from_octets(message(0, name, rtype, class, None)).expect("parses");
    RequestMessage::new(message).expect("a valid request")
}

/// Sends `request` over UDP with `domain`'s datagram transport and an OPT
/// record advertising `udp_payload`, or none when `None`. No retries.
pub async fn udp_with_payload(
    server: SocketAddr,
    request: RequestMessage<Vec<u8>>,
    udp_payload: Option<u16>,
) -> Reply {
    let connection =
        dgram::Connection::with_config(UdpConnect::new(server), dgram_config(udp_payload));
    let response = connection.send_request(request).get_response().await;
    Reply::new(
        response
            .unwrap_or_else(|error| panic!("UDP query to {server}: {error}"))
            .as_slice(),
    )
}

/// Sends `request` over UDP advertising EDNS 1232 (the transport's default).
pub async fn udp(server: SocketAddr, request: RequestMessage<Vec<u8>>) -> Reply {
    udp_with_payload(server, request, Some(1232)).await
}

/// Sends `request` over a new TCP connection with `domain`'s stream
/// transport (which adds an OPT with edns-tcp-keepalive to its first query).
pub async fn tcp(server: SocketAddr, request: RequestMessage<Vec<u8>>) -> Reply {
    let connected = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(server)).await;
    let socket = connected
        .unwrap_or_else(|_| panic!("TCP connect to {server} timed out"))
        .unwrap_or_else(|error| panic!("TCP connect to {server}: {error}"));
    let mut config = stream::Config::new();
    config.set_response_timeout(TIMEOUT);
    let (connection, transport) =
        stream::Connection::<_, RequestMessageMulti<Vec<u8>>>::with_config(socket, config);
    tokio::spawn(transport.run());
    let response = connection.send_request(request).get_response().await;
    Reply::new(
        response
            .unwrap_or_else(|error| panic!("TCP query to {server}: {error}"))
            .as_slice(),
    )
}

/// Sends `request` over UDP without EDNS and, when the reply is truncated,
/// again over TCP (`domain`'s dgram_stream transport).
pub async fn udp_then_tcp(server: SocketAddr, request: RequestMessage<Vec<u8>>) -> Reply {
    let mut config = dgram_stream::Config::new();
    config.set_dgram(dgram_config(None));
    config
        .stream_mut()
        .stream_mut()
        .set_response_timeout(TIMEOUT);
    let (connection, transport) = dgram_stream::Connection::with_config(
        UdpConnect::new(server),
        TcpConnect::new(server),
        config,
    );
    tokio::spawn(transport.run());
    let response = connection.send_request(request).get_response().await;
    Reply::new(
        response
            .unwrap_or_else(|error| panic!("UDP+TCP query to {server}: {error}"))
            .as_slice(),
    )
}

fn dgram_config(udp_payload: Option<u16>) -> dgram::Config {
    let mut config = dgram::Config::new();
    config.set_udp_payload_size(udp_payload);
    config.set_read_timeout(TIMEOUT);
    config.set_max_retries(0);
    config
}

/// Sends the same question over UDP and TCP to each of `servers` and returns
/// every reply with where it came from (such as `UDP 127.0.0.1:5353`).
pub async fn ask_everywhere(
    servers: &[SocketAddr],
    name: &str,
    rtype: Rtype,
    class: Class,
) -> Vec<(String, Reply)> {
    let mut replies = Vec::new();
    for &server in servers {
        let reply = udp(server, request_in_class(name, rtype, class)).await;
        replies.push((format!("UDP {server}"), reply));
        let reply = tcp(server, request_in_class(name, rtype, class)).await;
        replies.push((format!("TCP {server}"), reply));
    }
    replies
}

/// Sends raw bytes from a new loopback UDP socket and waits up to `wait`
/// for one datagram back.
pub fn udp_raw(server: SocketAddr, packet: &[u8], wait: Duration) -> Option<Reply> {
    let local: SocketAddr = if server.is_ipv4() {
        "127.0.0.1:0".parse().expect("address")
    } else {
        "[::1]:0".parse().expect("address")
    };
    udp_raw_bound(local, server, packet, wait)
}

/// As [`udp_raw`], from the address the route to `server` picks (not
/// loopback): for servers in another network namespace.
pub fn udp_raw_from(server: SocketAddr, packet: &[u8], wait: Duration) -> Option<Reply> {
    let local: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("address")
    } else {
        "[::]:0".parse().expect("address")
    };
    udp_raw_bound(local, server, packet, wait)
}

fn udp_raw_bound(
    local: SocketAddr,
    server: SocketAddr,
    packet: &[u8],
    wait: Duration,
) -> Option<Reply> {
    let socket = UdpSocket::bind(local).expect("bind a client socket");
    socket.connect(server).expect("connect the client socket");
    socket.set_read_timeout(Some(wait)).expect("read timeout");
    socket.send(packet).expect("send");
    let mut buffer = [0u8; 65535];
    match socket.recv(&mut buffer) {
        Ok(len) => Some(Reply::new(&buffer[..len])),
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(error) => panic!("receive from {server}: {error}"),
    }
}

/// Prefixes `packet` with its 2-byte length (RFC 1035 section 4.2.2).
pub fn frame(packet: &[u8]) -> Vec<u8> {
    let length = u16::try_from(packet.len()).expect("a DNS message fits 64 KiB");
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    framed
}

/// A blocking TCP connection with the test timeout on reads.
pub fn tcp_connect(server: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&server, TIMEOUT).expect("TCP connect");
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    stream
}

/// Reads one length-prefixed message.
pub fn read_frame(stream: &mut TcpStream) -> io::Result<Reply> {
    let mut length = [0u8; 2];
    stream.read_exact(&mut length)?;
    let mut packet = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut packet)?;
    Ok(Reply::new(&packet))
}

/// Writes one framed query and reads its reply on an open connection.
pub fn tcp_exchange(stream: &mut TcpStream, packet: &[u8]) -> io::Result<Reply> {
    stream.write_all(&frame(packet))?;
    read_frame(stream)
}

/// Whether the server closed `stream` (EOF or reset) within its read
/// timeout; data arriving instead is a failure.
pub fn is_closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 512];
    match stream.read(&mut buffer) {
        Ok(0) => true,
        Ok(read) => panic!("expected the connection to close, got {read} bytes"),
        Err(error) => match error.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => true,
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => false,
            _ => panic!("unexpected read error: {error}"),
        },
    }
}

/// A received DNS message, with accessors for what tests check.
#[derive(Clone, Debug)]
pub struct Reply {
    pub message: Message<Vec<u8>>,
}

impl Reply {
    /// Wraps received bytes; panics when they are not even a header.
    pub fn new(bytes: &[u8]) -> Reply {
        let message = Message::from_octets(bytes.to_vec()).expect("a reply at least a header long");
        Reply { message }
    }

    /// The wire bytes.
    pub fn bytes(&self) -> &[u8] {
        self.message.as_slice()
    }

    /// The full (extended) rcode, header bits and OPT bits together.
    pub fn rcode(&self) -> OptRcode {
        self.message.opt_rcode()
    }

    /// The AA flag.
    pub fn authoritative(&self) -> bool {
        self.message.header().aa()
    }

    /// The TC flag.
    pub fn truncated(&self) -> bool {
        self.message.header().tc()
    }

    /// The message ID.
    pub fn id(&self) -> u16 {
        self.message.header().id()
    }

    /// The question section as `name type class` lines.
    pub fn question(&self) -> Vec<String> {
        self.message
            .question()
            .map(|question| {
                let question = question.expect("question parses");
                format!(
                    "{}. {} {}",
                    question.qname(),
                    question.qtype(),
                    question.qclass()
                )
            })
            .collect()
    }

    /// The answer section, one `owner. ttl class type data` line per record.
    pub fn answer(&self) -> Vec<String> {
        records(self.message.answer()).map(render).collect()
    }

    /// The authority section, as [`Reply::answer`].
    pub fn authority(&self) -> Vec<String> {
        records(self.message.authority()).map(render).collect()
    }

    /// The additional section without the OPT record, as [`Reply::answer`].
    pub fn additional(&self) -> Vec<String> {
        records(self.message.additional())
            .filter(|record| record.rtype() != Rtype::OPT)
            .map(render)
            .collect()
    }

    /// The UDP payload size our OPT advertises, when the reply has one.
    pub fn edns_payload(&self) -> Option<u16> {
        self.message.opt().map(|opt| opt.udp_payload_size())
    }

    /// The EDNS Client Subnet option of our OPT record, when it has one.
    pub fn client_subnet(&self) -> Option<ClientSubnet> {
        self.message.opt()?.opt().client_subnet()
    }

    /// Whether the reply has an OPT record carrying no option at all.
    pub fn opt_without_options(&self) -> bool {
        self.message.opt().is_some_and(|opt| opt.opt().is_empty())
    }

    /// The addresses of the A and AAAA records of the answer section, in
    /// order.
    pub fn addresses(&self) -> Vec<IpAddr> {
        records(self.message.answer())
            .filter_map(|record| match parse_data(record).into_data() {
                AllRecordData::A(a) => Some(IpAddr::V4(a.addr())),
                AllRecordData::Aaaa(aaaa) => Some(IpAddr::V6(aaaa.addr())),
                _ => None,
            })
            .collect()
    }

    /// How many OPT records the additional section holds.
    pub fn opt_count(&self) -> usize {
        records(self.message.additional())
            .filter(|record| record.rtype() == Rtype::OPT)
            .count()
    }
}

/// The records of a section, each checked to parse.
fn records<'a>(
    section: Result<RecordSection<'a, Vec<u8>>, ParseError>,
) -> impl Iterator<Item = ParsedRecord<'a, Vec<u8>>> {
    section
        .expect("section parses")
        .map(|record| record.expect("record parses"))
}

/// A record of a reply with its data parsed.
type DataRecord<'a> = Record<ParsedName<&'a [u8]>, AllRecordData<&'a [u8], ParsedName<&'a [u8]>>>;

/// A record with its data parsed; panics when it does not parse.
fn parse_data(record: ParsedRecord<'_, Vec<u8>>) -> DataRecord<'_> {
    record
        .into_record::<AllRecordData<&[u8], ParsedName<&[u8]>>>()
        .expect("record data parses")
        .expect("every record type is known")
}

/// One record as `owner. ttl class type data`.
fn render(record: ParsedRecord<'_, Vec<u8>>) -> String {
    let record = parse_data(record);
    format!(
        "{}. {} {} {} {}",
        record.owner(),
        record.ttl().as_secs(),
        record.class(),
        record.rtype(),
        record.data()
    )
}

/// Lowercases a rendered line, for case-insensitive owner comparisons.
pub fn lowercase(lines: &[String]) -> Vec<String> {
    lines.iter().map(|line| line.to_ascii_lowercase()).collect()
}

/// Lines from string literals, for comparisons.
pub fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|line| (*line).to_owned()).collect()
}

/// A NOTIFY (RFC 1996) for `zone` with ID `id`, unsigned.
pub fn notify_message(id: u16, zone: &str) -> Vec<u8> {
    let mut builder = domain::base::MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    builder
        .header_mut()
        .set_opcode(domain::base::iana::Opcode::NOTIFY);
    builder.header_mut().set_aa(true);
    let mut question = builder.question();
    question
        .push((
            domain::base::Name::<Vec<u8>>::from_str(zone).expect("a zone name"),
            Rtype::SOA,
        ))
        .expect("fits");
    question.finish()
}
