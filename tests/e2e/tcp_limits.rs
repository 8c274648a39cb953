//! TCP resource limits with real sockets: slow clients dripping a byte at a
//! time neither keep their connections past the idle timeout nor lock a
//! normal client out of a full table (the longest idle is evicted); the
//! total timeout closes even a busy connection; one address gets at most
//! its per-client share, a new connection past it evicting that address's
//! longest idle one; bad values are config errors naming key and line.
//! Every close is counted by reason, and shown in `/metrics`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dnslb::stats::CloseReason;
use dnslb::wire::answer::Transport;
use domain::base::iana::{OptRcode, Rtype};

use crate::client;
use crate::packets;
use crate::server::{self, TestServer, wait_until};

/// Queries `www.example.com A` on an open connection; whether it answered.
fn answers(stream: &mut TcpStream, id: u16) -> bool {
    client::tcp_exchange(stream, &packets::query(id, "www.example.com", Rtype::A))
        .is_ok_and(|reply| reply.id() == id && reply.rcode() == OptRcode::NOERROR)
}

/// Waits until the TCP thread has counted `count` closes for `reason`.
fn closes_reach(server: &TestServer, reason: CloseReason, count: u64) -> bool {
    wait_until(client::TIMEOUT, || {
        server.stats().total(Transport::Tcp).closes_for(reason) >= count
    })
}

/// A slowloris client: connects to `address` and sends the start of a
/// 300-byte frame one byte a second, reconnecting whenever the server closes
/// it, until `stop` is set.
fn slowloris(address: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        let mut connections = 0;
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut stream) = TcpStream::connect_timeout(&address, client::TIMEOUT) else {
                continue;
            };
            connections += 1;
            let mut frame = client::frame(&[0; 300]).into_iter();
            while !stop.load(Ordering::Relaxed) {
                let byte = frame.next().unwrap_or(0);
                if stream.write_all(&[byte]).is_err() {
                    break;
                }
                // Sleep a second in small steps, so that `stop` is seen.
                for _ in 0..10 {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        connections
    })
}

/// `GET /metrics` from the admin listener.
fn metrics(admin: SocketAddr) -> String {
    let mut stream = TcpStream::connect_timeout(&admin, client::TIMEOUT).expect("admin connect");
    stream
        .set_read_timeout(Some(client::TIMEOUT))
        .expect("read timeout");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("response");
    text
}

#[tokio::test]
async fn slowloris_clients_cannot_lock_out_a_normal_client() {
    let server = TestServer::start_in(|dir| {
        server::write_config_with(
            dir,
            "tcp_max_connections = 4",
            "[admin]\nlisten = \"127.0.0.1:0\"\n",
        )
    });
    // Eight drippers over IPv4 for a table of four: it stays full of them.
    let stop = Arc::new(AtomicBool::new(false));
    let drippers: Vec<_> = (0..8)
        .map(|_| slowloris(server.ipv4(), stop.clone()))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));

    // A normal client over IPv6 gets its answers, on new connections each
    // time and promptly, while the drippers keep reconnecting.
    for id in 0..5 {
        let started = Instant::now();
        let mut normal = client::tcp_connect(server.ipv6());
        assert!(answers(&mut normal, id), "query {id} answered");
        assert!(
            answers(&mut normal, id + 100),
            "and the next on its connection"
        );
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(1), "answered in {elapsed:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Ordering::Relaxed);
    let connections: u32 = drippers
        .into_iter()
        .map(|dripper| dripper.join().expect("dripper"))
        .sum();
    assert!(connections >= 8, "{connections} dripper connections");
    assert!(
        closes_reach(&server, CloseReason::Evicted, 5),
        "a dripper evicted for each normal connection at least"
    );
    let text = metrics(server.admin());
    let evicted = text
        .lines()
        .find_map(|line| line.strip_prefix("dnslb_tcp_closes_total{reason=\"evicted\"} "))
        .expect("the evicted series in /metrics");
    assert!(evicted.parse::<u64>().expect("a count") >= 5, "{evicted}");
    for reason in CloseReason::ALL {
        let series = format!("dnslb_tcp_closes_total{{reason=\"{}\"}} ", reason.name());
        assert!(text.contains(&series), "{series} in /metrics");
    }
    server.finish().await;
}

#[tokio::test]
async fn dripping_bytes_does_not_reset_the_idle_timeout() {
    let server = TestServer::start_with(r#"tcp_idle_timeout = "1s""#);
    let mut dripper = client::tcp_connect(server.ipv4());
    dripper
        .set_read_timeout(Some(Duration::from_millis(250)))
        .expect("read timeout");
    let started = Instant::now();
    let frame = client::frame(&packets::query(1, "www.example.com", Rtype::A));
    let mut closed = false;
    // One byte of a query every 250 ms: 29 bytes would take over 7 s.
    for byte in frame.iter().cycle().take(40) {
        let _ = dripper.write_all(&[*byte]);
        let mut buffer = [0u8; 64];
        match dripper.read(&mut buffer) {
            Ok(0) => closed = true,
            Ok(read) => panic!("{read} bytes for an incomplete query"),
            Err(error) => match error.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {}
                _ => closed = true,
            },
        }
        if closed {
            break;
        }
    }
    let elapsed = started.elapsed();
    assert!(closed, "the dripping connection is closed");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "closed after the idle timeout, not after {elapsed:?}"
    );
    assert!(
        closes_reach(&server, CloseReason::Idle, 1),
        "counted as idle"
    );
    server.finish().await;
}

#[tokio::test]
async fn total_timeout_closes_a_busy_connection() {
    let server = TestServer::start_with("tcp_idle_timeout = \"500ms\"\ntcp_total_timeout = \"1s\"");
    let mut busy = client::tcp_connect(server.ipv4());
    let started = Instant::now();
    let mut answered = 0;
    while answers(&mut busy, answered) {
        answered += 1;
        assert!(started.elapsed() < Duration::from_secs(3), "never closed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = started.elapsed();
    assert!(answered >= 8, "busy until the end: {answered} answers");
    assert!(
        elapsed >= Duration::from_millis(950) && elapsed < Duration::from_millis(2000),
        "closed at the total timeout, not after {elapsed:?}"
    );
    assert!(
        closes_reach(&server, CloseReason::Total, 1),
        "counted as total"
    );
    assert_eq!(
        server
            .stats()
            .total(Transport::Tcp)
            .closes_for(CloseReason::Idle),
        0,
        "never idle"
    );
    server.finish().await;
}

#[tokio::test]
async fn a_client_at_its_share_evicts_its_own_longest_idle_connection() {
    let server = TestServer::start_with("tcp_max_connections_per_client = 4");
    // Four connections from 127.0.0.1, each answering one query, the first
    // last: the second is then the one idle longest (the first is the
    // oldest, and is kept).
    let mut held: Vec<TcpStream> = (0..4).map(|_| client::tcp_connect(server.ipv4())).collect();
    for index in [1, 2, 3, 0] {
        assert!(
            answers(&mut held[index], index as u16),
            "connection {index}"
        );
    }
    let mut other = client::tcp_connect(server.ipv6());
    assert!(answers(&mut other, 2), "::1 is another client");

    // A fifth from 127.0.0.1 is answered, at once.
    let started = Instant::now();
    let mut fifth = client::tcp_connect(server.ipv4());
    assert!(answers(&mut fifth, 3), "the fifth connection is answered");
    assert!(started.elapsed() < Duration::from_secs(1), "at once");
    assert!(
        client::is_closed_by_server(&mut held[1]),
        "the longest idle of 127.0.0.1's connections is closed"
    );
    assert!(closes_reach(&server, CloseReason::PerClientCap, 1));
    let stats = server.stats().total(Transport::Tcp);
    assert_eq!(
        stats.closes_for(CloseReason::PerClientCap),
        1,
        "one eviction"
    );
    assert_eq!(
        stats.closes_for(CloseReason::Evicted),
        0,
        "the table is not full"
    );

    // The others, and the other client, are untouched.
    for index in [0, 2, 3] {
        assert!(
            answers(&mut held[index], 10 + index as u16),
            "connection {index} kept"
        );
    }
    assert!(answers(&mut other, 4));
    drop(held);
    server.finish().await;
}

#[test]
fn bad_tcp_limits_are_config_errors_naming_key_and_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // [server] is line 1, listen 2, workers 3: these are lines 4 to 6.
    let path = server::write_config(
        dir.path(),
        "tcp_max_connections_per_client = 0\n\
         tcp_total_timeout = \"2h\"\n\
         tcp_idle_timeout = \"forever\"",
    );
    let errors = dnslb::config::load(&path).expect_err("out of bounds").0;
    let found: Vec<_> = errors
        .iter()
        .map(|error| (error.key.as_str(), error.line))
        .collect();
    assert_eq!(
        found,
        [
            ("server.tcp_max_connections_per_client", Some(4)),
            ("server.tcp_total_timeout", Some(5)),
            ("server.tcp_idle_timeout", Some(6)),
        ],
        "{errors:?}"
    );
    assert!(errors[1].message.contains("1s to 1h"), "{}", errors[1]);

    // A total timeout shorter than the idle one is inconsistent.
    let path = server::write_config(
        dir.path(),
        "tcp_idle_timeout = \"30s\"\ntcp_total_timeout = \"20s\"",
    );
    let errors = dnslb::config::load(&path).expect_err("inconsistent").0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, "server.tcp_total_timeout");
    assert_eq!(errors[0].line, Some(5));
    assert!(
        errors[0]
            .to_string()
            .contains("dnslb.toml:5: server.tcp_total_timeout: "),
        "{}",
        errors[0]
    );
}
