//! Faults from outside, each with a real server that must keep answering
//! correctly through it: zone files deleted or corrupted before a reload,
//! backends that accept and never answer, answer garbage or send a body
//! that never ends, and an admin listener hammered with bad and slow
//! requests. Backends here live in 127.0.7.0/24 and 127.0.8.0/24.

use std::sync::atomic::AtomicUsize;

use super::*;

const ZONE_FILE: &str = "example.com.zone";

/// A backend that accepts and then holds every connection, silent, for
/// `hold` (each on its own thread, so it keeps accepting).
fn silent_backend(ip: &str, hold: Duration) -> Backend {
    Backend::start(
        ip,
        Arc::new(move |stream| {
            std::thread::spawn(move || {
                std::thread::sleep(hold);
                drop(stream);
            });
        }),
    )
}

/// A backend that answers every connection with `bytes` and closes.
fn garbage_backend(ip: &str, bytes: &'static [u8]) -> Backend {
    Backend::start(
        ip,
        Arc::new(move |mut stream| {
            let mut buffer = [0u8; 1024];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(bytes);
        }),
    )
}

/// An HTTP backend whose 200 response has no length and a body that goes on
/// until the prober hangs up (or 100 MB).
fn endless_backend(ip: &str) -> Backend {
    Backend::start(
        ip,
        Arc::new(|mut stream| {
            std::thread::spawn(move || {
                let mut buffer = [0u8; 1024];
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = stream.read(&mut buffer);
                if stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                    .is_err()
                {
                    return;
                }
                let chunk = [b'x'; 16 * 1024];
                for _ in 0..6400 {
                    if stream.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }),
    )
}

/// A UDP "DNS server" answering every datagram with `bytes`.
struct GarbageDns {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl GarbageDns {
    fn start(ip: &str, bytes: &'static [u8]) -> GarbageDns {
        let socket = UdpSocket::bind((ip, 0)).expect("bind the garbage DNS server");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let address = socket.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            while !stopped.load(Ordering::Acquire) {
                if let Ok((_, peer)) = socket.recv_from(&mut buffer) {
                    let _ = socket.send_to(bytes, peer);
                }
            }
        });
        GarbageDns {
            address,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for GarbageDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[tokio::test]
async fn zone_file_deleted_or_corrupted_before_a_reload_keeps_the_old_config() {
    let (server, path) = start(ADMIN);
    let admin = server.admin();
    let zone = path.parent().expect("config directory").join(ZONE_FILE);
    let mut querier = Querier::new(server.ipv4());
    let before = querier.addresses("www.example.com");
    assert!(!before.is_empty());
    let original = std::fs::read_to_string(&zone).expect("read the zone");

    let corruptions: [(&str, Option<&str>); 3] = [
        ("deleted", None),
        (
            "a record with a bad address",
            Some(
                "$ORIGIN example.com.\n@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A 300.1.2.3\n",
            ),
        ),
        ("binary junk", Some("\u{0}\u{1}\u{2}\u{ff}garbage ( ( (\n")),
    ];
    for (what, contents) in corruptions {
        match contents {
            None => std::fs::remove_file(&zone).expect("delete the zone"),
            Some(text) => std::fs::write(&zone, text).expect("corrupt the zone"),
        }
        let (code, body) = admin_call(admin, "POST", "/reload", None);
        assert_eq!(code, 400, "{what}: reload refused: {body}");
        assert!(
            body.contains(ZONE_FILE),
            "{what}: the error names the zone file: {body}"
        );
        // The running config and zones stay: same answers, still NOERROR.
        querier.assert_answers("www.example.com", &before, 20);
        let reply = client::tcp(server.ipv4(), client::request("www.example.com", Rtype::A)).await;
        assert_eq!(reply.rcode(), OptRcode::NOERROR, "{what}: over TCP");
        std::fs::write(&zone, &original).expect("restore the zone");
    }
    let (code, body) = admin_call(admin, "POST", "/reload", None);
    assert_eq!(code, 200, "restored zone reloads: {body}");
    assert_eq!(
        metric(admin, "dnslb_reloads_total{result=\"failed\"}"),
        3.0,
        "each refused reload counted"
    );
    querier.assert_answers("www.example.com", &before, 20);
    server.finish().await;
}

#[tokio::test]
async fn backends_that_hang_babble_or_never_end_are_taken_out() {
    let healthy = HttpBackend::start("127.0.7.1");
    let silent = silent_backend("127.0.7.2", Duration::from_secs(10));
    let garbage = garbage_backend(
        "127.0.7.3",
        b"\x00\xff\x13garbage\r\n\r\nHTTP/9 999\r\n\r\n",
    );
    let endless = endless_backend("127.0.7.4");
    let dns_garbage = GarbageDns::start("127.0.7.5", b"\x12");
    let http = format!(r#", {PACE}"#);
    let config = format!(
        "{ADMIN}
[[service]]
name = \"faults.example.com\"
policy = \"round_robin\"
answers = 4
health = {{ kind = \"http\", path = \"/\", body_contains = \"ok\" }}
backends = [
{}{}{}{}]

[[service]]
name = \"dnsfault.example.com\"
policy = \"round_robin\"
when_all_down = \"empty\"
backends = [
  {{ address = \"{}\", health = {{ kind = \"dns\", qname = \"example.com\", port = {}, {PACE} }} }},
]
",
        entry(&healthy.backend, &http),
        entry(&silent, &http),
        entry(&garbage, &http),
        entry(&endless, &http),
        dns_garbage.address.ip(),
        dns_garbage.address.port(),
    );
    let (server, _) = start(&config);
    let admin = server.admin();
    let service = "faults.example.com.";
    wait_for_state(admin, service, healthy.backend.ip(), "up");
    for backend in [&silent, &garbage, &endless] {
        wait_for_state(admin, service, backend.ip(), "down");
    }
    wait_for_state(
        admin,
        "dnsfault.example.com.",
        dns_garbage.address.ip(),
        "down",
    );
    // Each failure says what went wrong.
    let detail = |backend: &Backend| {
        backend_status(admin, service, backend.ip())["last_probe"]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    eprintln!(
        "silent: {}; garbage: {}; endless: {}",
        detail(&silent),
        detail(&garbage),
        detail(&endless)
    );
    for backend in [&silent, &garbage, &endless] {
        assert!(!detail(backend).is_empty());
    }
    // Only the healthy backend is answered, promptly, for many queries.
    let mut querier = Querier::new(server.ipv4());
    querier.wait_for_answers("faults.example.com", &addresses([&healthy.backend]));
    let started = Instant::now();
    querier.assert_answers("faults.example.com", &addresses([&healthy.backend]), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "200 answers took {:?}",
        started.elapsed()
    );
    // The health thread is not stuck on them: a change elsewhere is seen.
    healthy.set_status(503);
    wait_for_state(admin, service, healthy.backend.ip(), "down");
    healthy.set_status(200);
    wait_for_state(admin, service, healthy.backend.ip(), "up");
    drop((silent, garbage, endless, dns_garbage));
    server.finish().await;
}

/// What one admin-hammering thread sends on each connection.
#[derive(Clone, Copy, Debug)]
enum Abuse {
    /// Random bytes and a hang-up.
    Garbage,
    /// A request line, then a header a byte at a time, never finished.
    Slow,
    /// Headers far larger than any request should have.
    Huge,
    /// Many valid requests as fast as possible.
    Flood,
}

fn abuse(admin: SocketAddr, kind: Abuse, stop: &AtomicBool, done: &AtomicUsize) {
    while !stop.load(Ordering::Acquire) {
        let Ok(mut stream) = TcpStream::connect_timeout(&admin, Duration::from_millis(500)) else {
            continue;
        };
        let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        match kind {
            Abuse::Garbage => {
                let _ = stream.write_all(
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 GET / HTTP/1.1\r\n\r\n",
                );
            }
            Abuse::Slow => {
                let _ = stream.write_all(b"GET /status HTTP/1.1\r\nX-Slow: ");
                for _ in 0..20 {
                    if stop.load(Ordering::Acquire) || stream.write_all(b"a").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            Abuse::Huge => {
                let mut request = b"GET /metrics HTTP/1.1\r\n".to_vec();
                for index in 0..2000 {
                    request.extend_from_slice(
                        format!("X-Header-{index}: {}\r\n", "v".repeat(60)).as_bytes(),
                    );
                }
                request.extend_from_slice(b"\r\n");
                let _ = stream.write_all(&request);
            }
            Abuse::Flood => {
                let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            }
        }
        let mut sink = [0u8; 4096];
        while let Ok(read) = stream.read(&mut sink) {
            if read == 0 {
                break;
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test]
async fn a_hammered_admin_listener_stalls_neither_queries_nor_health() {
    let mut backend = Backend::tcp("127.0.8.1");
    let steady = Backend::tcp("127.0.8.2");
    let config = format!(
        "{ADMIN}
[[service]]
name = \"hammer.example.com\"
policy = \"round_robin\"
answers = 2
health = {{ kind = \"tcp\", {PACE} }}
backends = [
{}{}]
",
        entry(&backend, ""),
        entry(&steady, ""),
    );
    let (server, _) = start(&config);
    let admin = server.admin();
    let mut querier = Querier::new(server.ipv4());
    let both = addresses([&backend, &steady]);
    querier.wait_for_answers("hammer.example.com", &both);

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let hammers: Vec<_> = [
        Abuse::Garbage,
        Abuse::Slow,
        Abuse::Slow,
        Abuse::Huge,
        Abuse::Flood,
        Abuse::Flood,
    ]
    .into_iter()
    .map(|kind| {
        let stop = stop.clone();
        let done = done.clone();
        std::thread::spawn(move || abuse(admin, kind, &stop, &done))
    })
    .collect();

    // Queries are answered promptly all along: at least 300 of them, and
    // for as long as it takes the hammers to make 20 connections.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut asked_count = 0;
    while asked_count < 300
        || (done.load(Ordering::Relaxed) < 20 && started.elapsed() < Duration::from_secs(10))
    {
        let asked = Instant::now();
        assert_eq!(querier.addresses("hammer.example.com"), both);
        slowest = slowest.max(asked.elapsed());
        asked_count += 1;
    }
    // The health thread still applies what it sees: a backend going away
    // leaves the answers (seen through DNS, since the admin API is busy).
    backend.stop();
    querier.wait_for_answers("hammer.example.com", &addresses([&steady]));
    backend.restart();
    querier.wait_for_answers("hammer.example.com", &both);
    let elapsed = started.elapsed();
    // The admin API answers a real request in the middle of the hammering.
    assert_eq!(status(admin)["services"].as_array().map(Vec::len), Some(1));
    // A client trickling a byte every 200 ms is cut off at the request
    // deadline (2 s), not kept as long as it keeps trickling.
    let mut slow = TcpStream::connect(admin).expect("connect");
    slow.write_all(b"GET /status HTTP/1.1\r\nX-Trickle: ")
        .expect("write");
    let trickle_started = Instant::now();
    while slow.write_all(b"a").is_ok() && trickle_started.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(200));
        let mut peek = [0u8; 64];
        slow.set_nonblocking(true).expect("non-blocking");
        let closed = slow.read(&mut peek).is_ok();
        slow.set_nonblocking(false).expect("blocking");
        if closed {
            break;
        }
    }
    let trickled = trickle_started.elapsed();
    assert!(
        trickled < Duration::from_secs(4),
        "a trickling admin client was kept {trickled:?}"
    );

    stop.store(true, Ordering::Release);
    for hammer in hammers {
        hammer.join().expect("hammer thread");
    }
    eprintln!(
        "{} abusive admin connections; slowest of {asked_count} queries {slowest:?}; \
         health round trip in {elapsed:?}",
        done.load(Ordering::Relaxed)
    );
    assert!(
        done.load(Ordering::Relaxed) > 10,
        "the admin listener was hammered"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "a query waited {slowest:?} while the admin API was hammered"
    );
    // And the admin API itself recovers.
    assert_eq!(status(admin)["services"].as_array().map(Vec::len), Some(1));
    server.finish().await;
}
