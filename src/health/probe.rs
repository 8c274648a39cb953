//! One probe in flight: the socket and the little state it needs, driven by
//! readiness events from the engine's `mio::Poll` until it reaches a
//! [`Verdict`].
//!
//! The engine owns scheduling, timeouts and tokens; this module only knows
//! how to start a probe of each kind and how to advance it when its socket
//! is ready. Sockets are non-blocking and registered edge-triggered, so every
//! advance works until the kernel says `WouldBlock` (a readiness event is only
//! a hint: spurious ones are harmless).
//!
//! Invariants:
//!
//! * Nothing a backend sends can make this code panic: responses are parsed
//!   with `httparse` and `domain`, every length is checked, and an HTTP
//!   response is capped at [`MAX_HTTP_RESPONSE`] bytes.
//! * A probe's socket is closed when the [`Probe`] is dropped (the engine drops
//!   it once a verdict is reached, on timeout, or when its target goes away).
//!   TCP probes close with `SO_LINGER` 0 (a reset), as HAProxy's checks do, so
//!   thousands of probes a second leave no `TIME_WAIT` sockets behind.
//! * Per-probe state is a socket plus, for HTTP, the request until it is sent
//!   and the response bytes read so far; the read buffer itself is the
//!   engine's, shared by all probes.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use domain::base::iana::{Class, Rcode, Rtype};
use domain::base::name::ToName;
use domain::base::{Message, MessageBuilder, Name};
use mio::net::{TcpStream, UdpSocket};
use mio::{Interest, Registry, Token};

use super::spec::{DnsProbe, HealthCheck, HttpProbe, ProbeKind};

/// The most bytes of an HTTP response read; a response that needs more (to
/// find the end of its headers or of the body that `body_contains` checks)
/// is a failure.
pub(crate) const MAX_HTTP_RESPONSE: usize = 64 * 1024;

/// The most response headers parsed (`httparse` needs a fixed array).
const MAX_HTTP_HEADERS: usize = 64;

/// The size of the engine's shared read buffer: the largest UDP payload, so a
/// DNS reply is never cut.
pub(crate) const READ_BUFFER_SIZE: usize = 64 * 1024;

/// How a probe ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Verdict {
    /// Whether the backend passed.
    pub(crate) success: bool,
    /// Short human text for logs and the admin API.
    pub(crate) detail: String,
    /// The load an HTTP `load_header` reported, when it parsed.
    pub(crate) load: Option<f32>,
}

impl Verdict {
    fn success(detail: impl Into<String>) -> Verdict {
        Verdict {
            success: true,
            detail: detail.into(),
            load: None,
        }
    }

    fn failure(detail: impl Into<String>) -> Verdict {
        Verdict {
            success: false,
            detail: detail.into(),
            load: None,
        }
    }
}

/// A probe in flight.
#[derive(Debug)]
pub(crate) enum Probe {
    /// Waiting for a TCP connect to complete.
    Tcp(TcpStream),
    /// An HTTP exchange.
    Http(HttpExchange),
    /// A DNS query waiting for its reply.
    Dns(DnsExchange),
}

/// What starting a probe gave.
#[derive(Debug)]
pub(crate) enum Start {
    /// The probe is in flight and registered under its token.
    Running(Probe),
    /// The probe ended at once (the socket could not be made, the connect
    /// failed immediately, the spec cannot be sent).
    Finished(Verdict),
}

impl Probe {
    /// Starts a probe of `check` against `address`, registering its socket
    /// with `registry` under `token`. `query_id` is the DNS message ID to use
    /// (ignored by other kinds).
    pub(crate) fn start(
        address: IpAddr,
        check: &HealthCheck,
        registry: &Registry,
        token: Token,
        query_id: u16,
    ) -> Start {
        let peer = SocketAddr::new(address, check.port);
        let probe = match &check.kind {
            ProbeKind::Tcp => connect(peer, registry, token, Interest::WRITABLE).map(Probe::Tcp),
            ProbeKind::Http(_) => HttpExchange::start(peer, registry, token),
            ProbeKind::Dns(dns) => DnsExchange::start(peer, dns, registry, token, query_id),
        };
        match probe {
            Ok(probe) => Start::Running(probe),
            Err(verdict) => Start::Finished(verdict),
        }
    }

    /// Advances the probe after a readiness event. Returns the verdict once
    /// there is one; `None` while it still waits. `buffer` is scratch space
    /// of [`READ_BUFFER_SIZE`] bytes.
    pub(crate) fn advance(
        &mut self,
        check: &HealthCheck,
        registry: &Registry,
        buffer: &mut [u8],
    ) -> Option<Verdict> {
        match (self, &check.kind) {
            (Probe::Tcp(stream), _) => match connected(stream) {
                Ok(false) => None,
                Ok(true) => {
                    // A reset instead of a FIN: no TIME_WAIT left on our side.
                    // Failing to set it only costs that, so it is ignored.
                    let _ = socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO));
                    Some(Verdict::success("connected"))
                }
                Err(error) => Some(Verdict::failure(describe_error(&error))),
            },
            (Probe::Http(exchange), ProbeKind::Http(http)) => {
                exchange.advance(http, registry, buffer)
            }
            (Probe::Dns(exchange), ProbeKind::Dns(dns)) => exchange.advance(dns, buffer),
            // The engine never pairs a probe with another kind's check; if it
            // did, failing is the safe answer.
            _ => Some(Verdict::failure("probe does not match its check")),
        }
    }
}

/// Opens a non-blocking TCP connection to `peer` and registers it.
fn connect(
    peer: SocketAddr,
    registry: &Registry,
    token: Token,
    interest: Interest,
) -> Result<TcpStream, Verdict> {
    let mut stream = TcpStream::connect(peer).map_err(|error| failure_from(&error))?;
    registry
        .register(&mut stream, token, interest)
        .map_err(|error| failure_from(&error))?;
    Ok(stream)
}

/// Whether a non-blocking connect has completed: `Ok(false)` while it is
/// still in progress, the connect's error when it failed (the sequence mio
/// documents for `TcpStream::connect`).
fn connected(stream: &TcpStream) -> io::Result<bool> {
    if let Some(error) = stream.take_error()? {
        return Err(error);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(error)
            if error.kind() == io::ErrorKind::NotConnected
                || error.kind() == io::ErrorKind::WouldBlock =>
        {
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

fn failure_from(error: &io::Error) -> Verdict {
    Verdict::failure(describe_error(error))
}

/// Short text for a socket error: the common ones in words a log reader
/// expects ("connection refused"), the rest as the OS says them.
pub(crate) fn describe_error(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
        io::ErrorKind::ConnectionAborted => "connection aborted".to_owned(),
        io::ErrorKind::HostUnreachable => "host unreachable".to_owned(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".to_owned(),
        _ => error.to_string(),
    }
}

/// An HTTP probe's progress.
#[derive(Debug)]
pub(crate) struct HttpExchange {
    stream: TcpStream,
    /// The engine's token for this probe (re-registering needs it).
    token: Token,
    stage: HttpStage,
}

#[derive(Debug)]
enum HttpStage {
    /// The connect is in progress.
    Connecting,
    /// Writing the request; `sent` bytes of it are out.
    Sending { request: Vec<u8>, sent: usize },
    /// Reading the response; `response` holds what came so far.
    Receiving { response: Vec<u8> },
}

impl HttpExchange {
    fn start(peer: SocketAddr, registry: &Registry, token: Token) -> Result<Probe, Verdict> {
        let stream = connect(
            peer,
            registry,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(Probe::Http(HttpExchange {
            stream,
            token,
            stage: HttpStage::Connecting,
        }))
    }

    fn advance(
        &mut self,
        http: &HttpProbe,
        registry: &Registry,
        buffer: &mut [u8],
    ) -> Option<Verdict> {
        if let HttpStage::Connecting = self.stage {
            match connected(&self.stream) {
                Ok(false) => return None,
                Ok(true) => {
                    self.stage = HttpStage::Sending {
                        request: http_request(http),
                        sent: 0,
                    };
                }
                Err(error) => return Some(failure_from(&error)),
            }
        }
        if let HttpStage::Sending { request, sent } = &mut self.stage {
            while *sent < request.len() {
                match self.stream.write(&request[*sent..]) {
                    Ok(0) => return Some(Verdict::failure("connection closed while sending")),
                    Ok(written) => *sent += written,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => return None,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Some(failure_from(&error)),
                }
            }
            // Only the response matters now; stop writable wake-ups.
            self.stage = HttpStage::Receiving {
                response: Vec::new(),
            };
            if let Err(error) =
                registry.reregister(&mut self.stream, self.token, Interest::READABLE)
            {
                return Some(failure_from(&error));
            }
        }
        let HttpStage::Receiving { response } = &mut self.stage else {
            return None;
        };
        loop {
            match self.stream.read(buffer) {
                Ok(0) => return Some(judge_http(response, http, true).unwrap_or_else(cut_short)),
                Ok(read) => {
                    if response.len() + read > MAX_HTTP_RESPONSE {
                        return Some(Verdict::failure("response too large"));
                    }
                    response.extend_from_slice(&buffer[..read]);
                    if let Some(verdict) = judge_http(response, http, false) {
                        return Some(verdict);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return None,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // A reset after a response that ends at EOF still counts.
                Err(error) => {
                    return Some(
                        judge_http(response, http, true)
                            .filter(|verdict| verdict.success)
                            .unwrap_or_else(|| failure_from(&error)),
                    );
                }
            }
        }
    }
}

fn cut_short() -> Verdict {
    Verdict::failure("connection closed before the response ended")
}

/// The request an HTTP probe sends.
pub(crate) fn http_request(http: &HttpProbe) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: dnslb-health\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        http.path, http.host
    )
    .into_bytes()
}

/// Judges the response bytes read so far: `None` while more are needed
/// (never when `at_end`, the connection having closed).
pub(crate) fn judge_http(response: &[u8], http: &HttpProbe, at_end: bool) -> Option<Verdict> {
    let mut start = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HTTP_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        let head_length = match parsed.parse(&response[start..]) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) if !at_end => return None,
            Ok(httparse::Status::Partial) if start == response.len() => {
                return Some(Verdict::failure(if start == 0 {
                    "connection closed without a response"
                } else {
                    "connection closed after an interim response"
                }));
            }
            Ok(httparse::Status::Partial) => {
                return Some(Verdict::failure(
                    "connection closed inside the response headers",
                ));
            }
            Err(error) => return Some(Verdict::failure(format!("invalid HTTP response: {error}"))),
        };
        // A complete parse always has a code.
        let status = parsed.code.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            // An interim response (100 Continue, 103 Early Hints): the real
            // one follows.
            start += head_length;
            continue;
        }
        let body_start = start + head_length;
        return judge_final_response(
            status,
            parsed.headers,
            &response[body_start..],
            http,
            at_end,
        );
    }
}

fn judge_final_response(
    status: u16,
    headers: &[httparse::Header<'_>],
    body: &[u8],
    http: &HttpProbe,
    at_end: bool,
) -> Option<Verdict> {
    let (load, load_note) = match &http.load_header {
        None => (None, None),
        Some(name) => match header_value(headers, name) {
            None => (None, Some(format!(", no {name} header"))),
            Some(value) => match parse_load(value) {
                Some(load) => (Some(load), None),
                None => (
                    None,
                    Some(format!(
                        ", bad {name} value {:?}",
                        String::from_utf8_lossy(&value[..value.len().min(32)])
                    )),
                ),
            },
        },
    };
    let with_load = |success: bool, text: String| Verdict {
        success,
        detail: match &load_note {
            Some(note) => text + note,
            None => text,
        },
        load,
    };
    if !http.expect.contains(&status) {
        return Some(with_load(false, format!("HTTP {status} not in expect")));
    }
    let Some(needle) = &http.body_contains else {
        return Some(with_load(true, format!("HTTP {status}")));
    };
    let decoded;
    let body: &[u8] = match body_framing(status, headers) {
        Ok(Framing::Empty) => &[],
        Ok(Framing::Length(length)) => {
            if length > MAX_HTTP_RESPONSE {
                return Some(Verdict::failure("response too large"));
            }
            if body.len() < length {
                if at_end {
                    return Some(cut_short());
                }
                return None;
            }
            &body[..length]
        }
        Ok(Framing::Chunked) => match decode_chunked(body) {
            Chunked::Complete(bytes) => {
                decoded = bytes;
                &decoded
            }
            Chunked::Incomplete if at_end => return Some(cut_short()),
            Chunked::Incomplete => return None,
            Chunked::Invalid => return Some(Verdict::failure("invalid chunked body")),
        },
        Ok(Framing::UntilClose) if at_end => body,
        Ok(Framing::UntilClose) => return None,
        Err(problem) => return Some(Verdict::failure(problem)),
    };
    if contains(body, needle.as_bytes()) {
        Some(with_load(true, format!("HTTP {status}")))
    } else {
        Some(with_load(
            false,
            format!("HTTP {status}, body lacks {needle:?}"),
        ))
    }
}

/// The value of the header `name` (ASCII case-insensitive), the first when
/// repeated.
fn header_value<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value)
}

/// A load value: a decimal in 0.0..=1.0.
fn parse_load(value: &[u8]) -> Option<f32> {
    let load: f32 = std::str::from_utf8(value).ok()?.trim().parse().ok()?;
    (0.0..=1.0).contains(&load).then_some(load)
}

/// How a response body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// No body (204, 304).
    Empty,
    /// `Content-Length` bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// To the end of the connection.
    UntilClose,
}

fn body_framing(status: u16, headers: &[httparse::Header<'_>]) -> Result<Framing, &'static str> {
    if status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    if let Some(coding) = header_value(headers, "transfer-encoding") {
        let chunked = coding
            .rsplit(|&byte| byte == b',')
            .next()
            .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        return Ok(if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    match header_value(headers, "content-length") {
        None => Ok(Framing::UntilClose),
        Some(value) => std::str::from_utf8(value)
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok())
            .map(Framing::Length)
            .ok_or("invalid Content-Length"),
    }
}

/// A chunked body decoded as far as the bytes go.
#[derive(Debug, PartialEq, Eq)]
enum Chunked {
    /// The last chunk was seen (trailers are ignored).
    Complete(Vec<u8>),
    /// More bytes are needed.
    Incomplete,
    /// Not chunked encoding.
    Invalid,
}

fn decode_chunked(mut data: &[u8]) -> Chunked {
    let mut body = Vec::new();
    loop {
        match httparse::parse_chunk_size(data) {
            Ok(httparse::Status::Complete((_, 0))) => return Chunked::Complete(body),
            Ok(httparse::Status::Complete((consumed, size))) => {
                data = &data[consumed..];
                let Ok(size) = usize::try_from(size) else {
                    return Chunked::Invalid;
                };
                let Some(with_line_end) = size.checked_add(2) else {
                    return Chunked::Invalid;
                };
                if data.len() < with_line_end {
                    return Chunked::Incomplete;
                }
                if &data[size..with_line_end] != b"\r\n" {
                    return Chunked::Invalid;
                }
                body.extend_from_slice(&data[..size]);
                data = &data[with_line_end..];
            }
            Ok(httparse::Status::Partial) => return Chunked::Incomplete,
            Err(_) => return Chunked::Invalid,
        }
    }
}

/// Whether `needle` occurs in `haystack` (an empty needle always does).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// A DNS probe's progress.
#[derive(Debug)]
pub(crate) struct DnsExchange {
    socket: UdpSocket,
    /// The query's message ID; replies with another are ignored.
    query_id: u16,
    /// The query, while the socket has not taken it yet.
    unsent: Option<Vec<u8>>,
}

impl DnsExchange {
    fn start(
        peer: SocketAddr,
        dns: &DnsProbe,
        registry: &Registry,
        token: Token,
        query_id: u16,
    ) -> Result<Probe, Verdict> {
        let query = dns_query(dns, query_id).map_err(Verdict::failure)?;
        let local = match peer {
            SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        };
        let mut socket = UdpSocket::bind(local).map_err(|error| failure_from(&error))?;
        socket.connect(peer).map_err(|error| failure_from(&error))?;
        let unsent = match socket.send(&query) {
            Ok(_) => None,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Some(query),
            Err(error) => return Err(failure_from(&error)),
        };
        let interest = if unsent.is_some() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        registry
            .register(&mut socket, token, interest)
            .map_err(|error| failure_from(&error))?;
        Ok(Probe::Dns(DnsExchange {
            socket,
            query_id,
            unsent,
        }))
    }

    fn advance(&mut self, dns: &DnsProbe, buffer: &mut [u8]) -> Option<Verdict> {
        if let Some(query) = &self.unsent {
            match self.socket.send(query) {
                Ok(_) => self.unsent = None,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return None,
                Err(error) => return Some(failure_from(&error)),
            }
        }
        loop {
            match self.socket.recv(buffer) {
                Ok(length) => {
                    if let Some(verdict) = judge_dns(&buffer[..length], dns, self.query_id) {
                        return Some(verdict);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return None,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // An ICMP port unreachable shows here as "connection refused".
                Err(error) => return Some(failure_from(&error)),
            }
        }
    }
}

/// The query a DNS probe sends: message ID `id`, RD clear, one question.
pub(crate) fn dns_query(dns: &DnsProbe, id: u16) -> Result<Vec<u8>, &'static str> {
    let qname = Name::from_octets(dns.qname.as_slice()).map_err(|_| "invalid query name")?;
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    builder.header_mut().set_rd(false);
    let mut question = builder.question();
    question
        .push((qname, Rtype::from_int(dns.qtype), Class::IN))
        .map_err(|_| "query does not fit")?;
    Ok(question.finish())
}

/// Judges one datagram received for a DNS probe: `None` when it is not a
/// reply to our query (too short, another message ID), so the probe keeps
/// waiting.
pub(crate) fn judge_dns(reply: &[u8], dns: &DnsProbe, query_id: u16) -> Option<Verdict> {
    let message = Message::from_octets(reply).ok()?;
    let header = message.header();
    if header.id() != query_id {
        return None;
    }
    if !header.qr() {
        return Some(Verdict::failure("reply without the QR bit"));
    }
    let echoed = message.header_counts().qdcount() == 1
        && message.first_question().is_some_and(|question| {
            question.qtype() == Rtype::from_int(dns.qtype)
                && question.qclass() == Class::IN
                && Name::from_octets(dns.qname.as_slice())
                    .is_ok_and(|qname| question.qname().name_eq(&qname))
        });
    if !echoed {
        return Some(Verdict::failure("reply does not echo the question"));
    }
    let rcode = header.rcode();
    let expected = Rcode::masked_from_int(dns.rcode);
    if rcode.to_int() == dns.rcode {
        Some(Verdict::success(format!("rcode {rcode}")))
    } else {
        Some(Verdict::failure(format!(
            "rcode {rcode}, expected {expected}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(expect: &[u16], body_contains: Option<&str>, load_header: Option<&str>) -> HttpProbe {
        HttpProbe {
            path: "/healthz".to_owned(),
            host: "example.test".to_owned(),
            expect: expect.to_vec(),
            body_contains: body_contains.map(str::to_owned),
            load_header: load_header.map(str::to_owned),
        }
    }

    fn dns(rcode: u8) -> DnsProbe {
        DnsProbe {
            qname: b"\x07example\x04test\x00".to_vec(),
            qtype: 1,
            rcode,
        }
    }

    #[test]
    fn request_is_a_get_with_host_and_close() {
        assert_eq!(
            http_request(&http(&[200], None, None)),
            b"GET /healthz HTTP/1.1\r\nHost: example.test\r\nUser-Agent: dnslb-health\r\n\
              Accept: */*\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn status_alone_decides_without_a_body_check() {
        let spec = http(&[200, 204], None, None);
        let ok = judge_http(b"HTTP/1.1 204 No Content\r\n\r\n", &spec, false).unwrap();
        assert_eq!(ok, Verdict::success("HTTP 204"));
        let bad = judge_http(
            b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n",
            &spec,
            false,
        );
        assert_eq!(bad, Some(Verdict::failure("HTTP 503 not in expect")));
    }

    #[test]
    fn partial_headers_wait_and_fail_at_the_end() {
        let spec = http(&[200], None, None);
        assert_eq!(judge_http(b"HTTP/1.1 200 OK\r\nServ", &spec, false), None);
        assert!(
            judge_http(b"HTTP/1.1 200 OK\r\nServ", &spec, true)
                .unwrap()
                .detail
                .contains("inside the response headers")
        );
        assert_eq!(
            judge_http(b"", &spec, true).unwrap().detail,
            "connection closed without a response"
        );
    }

    #[test]
    fn garbage_is_an_invalid_response() {
        let verdict = judge_http(b"SSH-2.0-OpenSSH\r\n\r\n", &http(&[200], None, None), false);
        assert!(!verdict.clone().unwrap().success);
        assert!(verdict.unwrap().detail.starts_with("invalid HTTP response"));
    }

    #[test]
    fn interim_responses_are_skipped() {
        let spec = http(&[200], None, None);
        let response = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(
            judge_http(response, &spec, false),
            Some(Verdict::success("HTTP 200"))
        );
        assert_eq!(judge_http(&response[..25], &spec, false), None);
    }

    #[test]
    fn body_by_content_length() {
        let spec = http(&[200], Some("ready"), None);
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n";
        let full = [&head[..], b"all read"].concat();
        assert_eq!(judge_http(&full[..full.len() - 1], &spec, false), None);
        // "ready" only appears in bytes past Content-Length.
        let miss = judge_http(&[&full[..], b"ready"].concat(), &spec, false).unwrap();
        assert!(!miss.success);
        assert_eq!(miss.detail, "HTTP 200, body lacks \"ready\"");
        let cut = judge_http(&full[..full.len() - 1], &spec, true).unwrap();
        assert!(!cut.success);
        let hit = [&head[..], b"is ready"].concat();
        assert!(judge_http(&hit, &spec, false).unwrap().success);
    }

    #[test]
    fn body_until_close() {
        let spec = http(&[200], Some("ready"), None);
        let response = b"HTTP/1.1 200 OK\r\n\r\nall ready";
        assert_eq!(judge_http(response, &spec, false), None);
        assert!(judge_http(response, &spec, true).unwrap().success);
    }

    #[test]
    fn chunked_body_is_decoded() {
        let spec = http(&[200], Some("ready"), None);
        let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                         3\r\nrea\r\n2;x=y\r\ndy\r\n0\r\n\r\n";
        assert!(judge_http(response, &spec, false).unwrap().success);
        assert_eq!(judge_http(&response[..60], &spec, false), None);
        let invalid = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(
            judge_http(invalid, &spec, false).unwrap().detail,
            "invalid chunked body"
        );
        assert_eq!(decode_chunked(b"3\r\nabcXY"), Chunked::Invalid);
        // A chunk larger than any response: waits (the read cap ends it).
        assert_eq!(decode_chunked(b"fffffffffff\r\nabc"), Chunked::Incomplete);
    }

    #[test]
    fn huge_or_bad_content_length_fails() {
        let spec = http(&[200], Some("x"), None);
        let huge = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n";
        assert_eq!(
            judge_http(huge, &spec, false).unwrap().detail,
            "response too large"
        );
        let bad = b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n";
        assert_eq!(
            judge_http(bad, &spec, false).unwrap().detail,
            "invalid Content-Length"
        );
    }

    #[test]
    fn load_header_values() {
        let spec = http(&[200], None, Some("X-Load"));
        let good = judge_http(b"HTTP/1.1 200 OK\r\nx-load: 0.25 \r\n\r\n", &spec, false).unwrap();
        assert_eq!(good.load, Some(0.25));
        assert_eq!(good.detail, "HTTP 200");
        for value in ["1.5", "-0.1", "NaN", "busy"] {
            let response = format!("HTTP/1.1 200 OK\r\nX-Load: {value}\r\n\r\n");
            let verdict = judge_http(response.as_bytes(), &spec, false).unwrap();
            assert!(verdict.success, "{value}");
            assert_eq!(verdict.load, None, "{value}");
            assert!(verdict.detail.contains("bad X-Load value"), "{value}");
        }
        let missing = judge_http(b"HTTP/1.1 200 OK\r\n\r\n", &spec, false).unwrap();
        assert_eq!(missing.detail, "HTTP 200, no X-Load header");
        let failed = judge_http(b"HTTP/1.1 500 OK\r\nX-Load: 1\r\n\r\n", &spec, false).unwrap();
        assert_eq!((failed.success, failed.load), (false, Some(1.0)));
    }

    /// A reply to `query` with `rcode`, built with domain.
    fn reply(query: &[u8], rcode: Rcode) -> Vec<u8> {
        let query = Message::from_octets(query).unwrap();
        MessageBuilder::new_vec()
            .start_answer(&query, rcode)
            .unwrap()
            .finish()
    }

    #[test]
    fn query_has_the_id_question_and_no_recursion() {
        let query = dns_query(&dns(0), 0xBEEF).unwrap();
        let message = Message::from_octets(query.as_slice()).unwrap();
        assert_eq!(message.header().id(), 0xBEEF);
        assert!(!message.header().rd());
        assert!(!message.header().qr());
        let question = message.sole_question().unwrap();
        assert_eq!(question.qtype(), Rtype::A);
        assert_eq!(question.qname().to_string(), "example.test");
        assert_eq!(
            dns_query(
                &DnsProbe {
                    qname: vec![3, b'a'],
                    ..dns(0)
                },
                1
            ),
            Err("invalid query name")
        );
    }

    #[test]
    fn dns_reply_is_judged_by_id_question_and_rcode() {
        let spec = dns(0);
        let query = dns_query(&spec, 7).unwrap();
        assert_eq!(
            judge_dns(&reply(&query, Rcode::NOERROR), &spec, 7),
            Some(Verdict::success("rcode NOERROR"))
        );
        assert_eq!(
            judge_dns(&reply(&query, Rcode::SERVFAIL), &spec, 7),
            Some(Verdict::failure("rcode SERVFAIL, expected NOERROR"))
        );
        // Another ID, or too short to have one: not ours, keep waiting.
        assert_eq!(judge_dns(&reply(&query, Rcode::NOERROR), &spec, 8), None);
        assert_eq!(judge_dns(&[0, 7, 0x80], &spec, 7), None);
        // Our query echoed back as is (no QR).
        assert_eq!(
            judge_dns(&query, &spec, 7).unwrap().detail,
            "reply without the QR bit"
        );
        // A reply for another question.
        let other = dns_query(
            &DnsProbe {
                qtype: 28,
                ..dns(0)
            },
            7,
        )
        .unwrap();
        assert_eq!(
            judge_dns(&reply(&other, Rcode::NOERROR), &spec, 7)
                .unwrap()
                .detail,
            "reply does not echo the question"
        );
        // The name is compared without regard to case.
        let upper = DnsProbe {
            qname: b"\x07EXAMPLE\x04test\x00".to_vec(),
            ..dns(3)
        };
        let query = dns_query(&upper, 9).unwrap();
        assert!(
            judge_dns(&reply(&query, Rcode::NXDOMAIN), &spec_with_rcode(3), 9)
                .unwrap()
                .success
        );
    }

    fn spec_with_rcode(rcode: u8) -> DnsProbe {
        dns(rcode)
    }

    #[test]
    fn errors_read_plainly() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(describe_error(&refused), "connection refused");
        let other = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(describe_error(&other).contains("Too many open files"));
    }
}
