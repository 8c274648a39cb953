//! Response rate limiting (`[rrl]`) and queries from our own address, with
//! real UDP sockets: past the rate a client's responses are dropped except
//! every `slip`-th, which goes out truncated; another prefix and TCP are
//! not limited; the metrics count both actions.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use dnslb::wire::DropReason;
use dnslb::wire::answer::Transport;
use domain::base::iana::{Class, Rtype};
use socket2::{Domain, Protocol, Socket, Type};

use crate::client::{self, Reply};
use crate::server::{TestServer, wait_until, write_config_with};

const RATE: usize = 5;

fn start(rrl: &str) -> TestServer {
    TestServer::start_in(|dir| {
        write_config_with(
            dir,
            "",
            &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[rrl]\n{rrl}\n"),
        )
    })
}

/// Sends `count` queries for `name` from `from` as fast as it can, then
/// collects replies for a while: (full answers, truncated answers).
fn burst(server: SocketAddr, from: &str, name: &str, count: u16) -> (usize, usize) {
    let socket = UdpSocket::bind(from).expect("bind the client");
    socket.connect(server).expect("connect");
    for id in 0..count {
        socket
            .send(&client::message(id, name, Rtype::A, Class::IN, None))
            .expect("send");
    }
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let (mut full, mut truncated) = (0, 0);
    let mut buffer = [0u8; 4096];
    while let Ok(len) = socket.recv(&mut buffer) {
        let reply = Reply::new(&buffer[..len]);
        assert!(reply.id() < count);
        assert_eq!(reply.question(), vec![format!("{name}. A IN")]);
        if reply.truncated() {
            assert!(reply.answer().is_empty(), "a slipped reply has no records");
            truncated += 1;
        } else {
            assert!(!reply.answer().is_empty());
            full += 1;
        }
    }
    (full, truncated)
}

fn metrics(server: &TestServer) -> String {
    let mut stream = TcpStream::connect(server.admin()).expect("connect admin");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    text
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(line_start))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in metrics"))
}

#[tokio::test]
async fn over_the_rate_drops_and_slips_per_prefix() {
    let server = start(&format!("responses_per_second = {RATE}\nslip = 2"));
    // Start at the beginning of a second of the limiter's clock is not
    // possible from outside; a burst may straddle one boundary, so allow
    // two windows' worth of full answers.
    let started = Instant::now();
    let (full, truncated) = burst(server.ipv4(), "127.0.0.1:0", "www.example.com", 60);
    let straddled = started.elapsed() > Duration::from_millis(900);
    assert!(
        (RATE..=2 * RATE).contains(&full),
        "{full} full answers for a rate of {RATE} (burst took {:?}, straddled {straddled})",
        started.elapsed()
    );
    let limited = 60 - full;
    assert!(
        truncated.abs_diff(limited / 2) <= 1,
        "every second limited response slips: {truncated} of {limited}"
    );
    // Another /24 is another bucket: answered in full.
    let (other_full, other_truncated) = burst(server.ipv4(), "127.0.1.1:0", "www.example.com", 4);
    assert_eq!((other_full, other_truncated), (4, 0));
    // TCP is never limited.
    let reply = client::tcp(server.ipv4(), client::request("www.example.com", Rtype::A)).await;
    assert!(!reply.truncated());
    assert!(!reply.answer().is_empty());

    let counted = wait_until(client::TIMEOUT, || {
        server
            .stats()
            .total(Transport::Udp)
            .drops_for(DropReason::RateLimited)
            == (limited - truncated) as u64
    });
    assert!(counted, "rate-limited drops counted");
    let text = metrics(&server);
    assert_eq!(
        metric(&text, "dnslb_rrl_limited_total{action=\"slipped\"}"),
        truncated as u64
    );
    assert_eq!(
        metric(&text, "dnslb_rrl_limited_total{action=\"dropped\"}"),
        (limited - truncated) as u64
    );
    assert_eq!(metric(&text, "dnslb_rrl_enabled"), 1);
    // The limit lasts for the second it was hit: a second later the same
    // client is answered in full again (finish() checks that over UDP).
    std::thread::sleep(Duration::from_millis(1100));
    server.finish().await;
}

#[tokio::test]
async fn nxdomain_flood_is_one_bucket_per_zone() {
    // Random names under one zone share the zone's NXDOMAIN bucket, so a
    // random-subdomain flood is limited like a single name.
    let server = start(&format!("responses_per_second = {RATE}\nslip = 0"));
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(server.ipv4()).expect("connect");
    for id in 0..40u16 {
        let name = format!("nx{id}.example.com");
        socket
            .send(&client::message(id, &name, Rtype::A, Class::IN, None))
            .expect("send");
    }
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut answered = 0;
    let mut buffer = [0u8; 4096];
    while socket.recv(&mut buffer).is_ok() {
        answered += 1;
    }
    assert!(
        (RATE..=2 * RATE).contains(&answered),
        "{answered} NXDOMAIN answers"
    );
    server.finish().await;
}

#[tokio::test]
async fn without_rrl_nothing_is_limited() {
    let server = TestServer::start();
    let (full, truncated) = burst(server.ipv4(), "127.0.0.1:0", "www.example.com", 60);
    assert_eq!((full, truncated), (60, 0));
    server.finish().await;
}

/// Sends `payload` to `server` in a UDP datagram whose source port is
/// `source_port` and whose source address the kernel picks (127.0.0.1 for
/// a loopback server): a spoofed packet, written through a raw socket.
/// `None` when raw sockets are not allowed (not root).
fn send_spoofed(server: SocketAddr, source_port: u16, payload: &[u8]) -> Option<()> {
    let socket = match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)) {
        Ok(socket) => socket,
        Err(error) => {
            eprintln!("raw sockets unavailable ({error}): spoofing test skipped");
            return None;
        }
    };
    let mut datagram = Vec::with_capacity(8 + payload.len());
    datagram.extend_from_slice(&source_port.to_be_bytes());
    datagram.extend_from_slice(&server.port().to_be_bytes());
    datagram.extend_from_slice(
        &u16::try_from(8 + payload.len())
            .expect("small")
            .to_be_bytes(),
    );
    // Checksum 0: none (allowed over IPv4).
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    let target = SocketAddr::new(server.ip(), 0);
    socket
        .send_to(&datagram, &target.into())
        .expect("send the spoofed datagram");
    Some(())
}

#[tokio::test]
async fn spoofed_queries_from_our_own_address_or_port_zero_are_dropped_and_counted() {
    let server = TestServer::start();
    let address = server.ipv4();
    let query = client::message(7, "www.example.com", Rtype::A, Class::IN, None);
    for (source_port, reason) in [
        (address.port(), DropReason::OwnAddress),
        (0, DropReason::SourcePortZero),
    ] {
        let before = server.stats().total(Transport::Udp);
        if send_spoofed(address, source_port, &query).is_none() {
            return;
        }
        let counted = wait_until(client::TIMEOUT, || {
            server.stats().total(Transport::Udp).drops_for(reason) == before.drops_for(reason) + 1
        });
        assert!(
            counted,
            "a spoofed query from port {source_port} counted as {}",
            reason.name()
        );
        let after = server.stats().total(Transport::Udp);
        assert_eq!(after.received, before.received + 1);
        assert_eq!(
            after.total_replies(),
            before.total_replies(),
            "not answered"
        );
    }
    // A real client from another port is answered as ever.
    server.finish().await;
}
