//! Health checks, the admin API and reloads through a real server and real
//! backends: TCP listeners and tiny HTTP servers that a test closes, opens
//! again or makes fail, so the probes see what they would see in production.
//!
//! Each backend listens on its own loopback address (Linux routes all of
//! 127/8 to `lo`) and an ephemeral port, named in a per-backend
//! `health = { port = N }`; the address is also what the server answers.
//! Each test has its own `127.0.N.0/24`, so tests running in parallel never
//! probe each other's listeners even when an ephemeral port is reused.
//!
//! Probes run every 100 ms; every wait for something the probes must bring
//! about polls with a deadline of seconds, never a fixed sleep, so the tests
//! hold on a busy two-core machine. The last test is the zero-lost-queries
//! proof: a steady UDP load, every answer checked, while backends go down and
//! up, are drained and undrained and the config is reloaded hundreds of
//! times.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use domain::base::iana::{Class, OptRcode, Rtype};
use serde_json::Value;

use crate::client::{self, Edns, Reply};
use crate::server::{self, TestServer, wait_until};

/// The probe interval of every test's checks.
const INTERVAL: Duration = Duration::from_millis(100);

/// The health keys every test's services share (a backend adds its port).
const PACE: &str = r#"interval = "100ms", timeout = "50ms""#;

/// How long a test waits for what the probes or the admin API must bring
/// about: many intervals, for a loaded machine.
const SETTLE: Duration = Duration::from_secs(5);

/// The admin listener of every test's config.
const ADMIN: &str = "\n[admin]\nlisten = \"127.0.0.1:0\"\n";

// ----- backends

/// What a backend does with each connection it accepts.
type Serve = Arc<dyn Fn(TcpStream) + Send + Sync>;

/// A backend listener on a fixed address and port that a test can close and
/// open again (on the same address and port). Accepted connections are
/// handed to its `serve`; a plain TCP backend drops them.
struct Backend {
    address: SocketAddr,
    serve: Serve,
    accepting: Option<Accepting>,
}

/// The thread accepting on an open listener, which owns (and on stop,
/// closes) it.
struct Accepting {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Backend {
    /// A backend that accepts connections and closes them at once.
    fn tcp(ip: &str) -> Backend {
        Backend::start(ip, Arc::new(drop))
    }

    /// Listens on `ip` and an ephemeral port.
    fn start(ip: &str, serve: Serve) -> Backend {
        let listener =
            TcpListener::bind((ip, 0)).unwrap_or_else(|error| panic!("bind {ip}: {error}"));
        let address = listener.local_addr().expect("bound address");
        let accepting = Some(accept(listener, serve.clone()));
        Backend {
            address,
            serve,
            accepting,
        }
    }

    fn ip(&self) -> IpAddr {
        self.address.ip()
    }

    fn port(&self) -> u16 {
        self.address.port()
    }

    /// Closes the listener; returns once it is closed (connects are
    /// refused from then on).
    fn stop(&mut self) {
        if let Some(accepting) = self.accepting.take() {
            accepting.stop.store(true, Ordering::Release);
            accepting.thread.join().expect("accept thread");
        }
    }

    /// Listens again on the same address and port (retrying while the port
    /// is briefly taken).
    fn restart(&mut self) {
        assert!(self.accepting.is_none(), "{} is listening", self.address);
        let deadline = Instant::now() + SETTLE;
        let listener = loop {
            match TcpListener::bind(self.address) {
                Ok(listener) => break listener,
                Err(error) if Instant::now() < deadline => {
                    eprintln!("rebinding {}: {error}; retrying", self.address);
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(error) => panic!("rebind {}: {error}", self.address),
            }
        };
        self.accepting = Some(accept(listener, self.serve.clone()));
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts on `listener` (polled, so that a stop is seen within
/// milliseconds) until stopped, then closes it.
fn accept(listener: TcpListener, serve: Serve) -> Accepting {
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::spawn(move || {
        while !stopped.load(Ordering::Acquire) {
            match listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(false).is_ok() {
                        serve(stream);
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    Accepting { stop, thread }
}

/// What an HTTP backend answers, changed by the test while it runs.
struct HttpBehaviour {
    status: AtomicU16,
    body: Mutex<String>,
    /// The `X-Load` header's value, when one is sent.
    load: Mutex<Option<String>>,
    /// The head of the last request received.
    last_request: Mutex<String>,
}

/// A tiny HTTP/1.1 server: one response per connection, then close.
struct HttpBackend {
    backend: Backend,
    behaviour: Arc<HttpBehaviour>,
}

impl HttpBackend {
    /// Answers `200` with body `ok` and no `X-Load` until told otherwise.
    fn start(ip: &str) -> HttpBackend {
        let behaviour = Arc::new(HttpBehaviour {
            status: AtomicU16::new(200),
            body: Mutex::new("ok".to_owned()),
            load: Mutex::new(None),
            last_request: Mutex::new(String::new()),
        });
        let served = behaviour.clone();
        let backend = Backend::start(ip, Arc::new(move |stream| serve_http(&served, stream)));
        HttpBackend { backend, behaviour }
    }

    fn set_status(&self, status: u16) {
        self.behaviour.status.store(status, Ordering::Release);
    }

    fn set_body(&self, body: &str) {
        *self.behaviour.body.lock().expect("body lock") = body.to_owned();
    }

    fn set_load(&self, load: Option<&str>) {
        *self.behaviour.load.lock().expect("load lock") = load.map(str::to_owned);
    }

    fn last_request(&self) -> String {
        self.behaviour
            .last_request
            .lock()
            .expect("request lock")
            .clone()
    }
}

/// Reads one request head and writes the response `behaviour` says.
fn serve_http(behaviour: &HttpBehaviour, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
        if request.len() > 16 * 1024 {
            return;
        }
    }
    *behaviour.last_request.lock().expect("request lock") =
        String::from_utf8_lossy(&request).into_owned();
    let status = behaviour.status.load(Ordering::Acquire);
    let body = behaviour.body.lock().expect("body lock").clone();
    let mut response = format!(
        "HTTP/1.1 {status} Test\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(load) = behaviour.load.lock().expect("load lock").as_deref() {
        response.push_str(&format!("X-Load: {load}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&body);
    let _ = stream.write_all(response.as_bytes());
}

// ----- the server, its config and its admin API

/// Starts a server on the test config (zones, then `extra`) and returns it
/// with the config's path, which reload tests rewrite.
fn start(extra: &str) -> (TestServer, PathBuf) {
    let mut written = None;
    let server = TestServer::start_in(|dir| {
        let path = server::write_config_with(dir, "", extra);
        written = Some(path.clone());
        path
    });
    (server, written.expect("config written"))
}

/// Rewrites the config at `path` with `extra` in place of what it had.
fn rewrite(path: &Path, extra: &str) {
    let written = server::write_config_with(path.parent().expect("a directory"), "", extra);
    assert_eq!(written, path);
}

/// One `{ address = "IP", health = { port = PORT ... } }` backend entry,
/// with `more` health keys (`, expect = [418]`).
fn entry(backend: &Backend, more: &str) -> String {
    format!(
        "  {{ address = \"{}\", health = {{ port = {}{more} }} }},\n",
        backend.ip(),
        backend.port()
    )
}

/// One HTTP/1.1 request to the admin listener, with `Authorization:
/// Bearer TOKEN` when `token` is given; returns the status and the body.
fn admin_call(admin: SocketAddr, method: &str, target: &str, token: Option<&str>) -> (u16, String) {
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {admin}\r\n{authorization}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    exchange(admin, &request)
}

/// Sends `request` as is to the admin listener and reads the response to
/// its end; returns the status and the body.
fn exchange(admin: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&admin, client::TIMEOUT).expect("connect to admin");
    stream
        .set_read_timeout(Some(client::TIMEOUT))
        .expect("read timeout");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let response = String::from_utf8(response).expect("UTF-8 response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {response:?}"));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    (status, body.to_owned())
}

/// As [`admin_call`], with the body parsed as JSON.
fn admin_json(admin: SocketAddr, method: &str, target: &str, token: Option<&str>) -> (u16, Value) {
    let (status, body) = admin_call(admin, method, target, token);
    let body = serde_json::from_str(&body).unwrap_or_else(|error| panic!("{error}: {body:?}"));
    (status, body)
}

/// `POST target` without a token.
fn post(admin: SocketAddr, target: &str) -> (u16, Value) {
    admin_json(admin, "POST", target, None)
}

/// The whole of `GET /status`.
fn status(admin: SocketAddr) -> Value {
    let (code, body) = admin_json(admin, "GET", "/status", None);
    assert_eq!(code, 200, "{body}");
    body
}

/// One backend's object in `GET /status`.
fn backend_status(admin: SocketAddr, service: &str, backend: IpAddr) -> Value {
    let body = status(admin);
    let services = body["services"].as_array().expect("services");
    let service_status = services
        .iter()
        .find(|entry| entry["name"] == service)
        .unwrap_or_else(|| panic!("no service {service} in {body}"));
    service_status["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .find(|entry| entry["backend"] == backend.to_string())
        .unwrap_or_else(|| panic!("no backend {backend} in {service_status}"))
        .clone()
}

/// The value of the series `series` (name and labels exactly as rendered)
/// in `GET /metrics`.
fn metric(admin: SocketAddr, series: &str) -> f64 {
    series_value(&metrics(admin), series)
}

/// The text of `GET /metrics`.
fn metrics(admin: SocketAddr) -> String {
    let (code, text) = admin_call(admin, "GET", "/metrics", None);
    assert_eq!(code, 200, "{text}");
    text
}

/// The value of the series `series` in the metrics `text`.
fn series_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in /metrics"))
        .parse()
        .unwrap_or_else(|error| panic!("{series}: {error}"))
}

/// The `dnslb_backend_up` series of one backend.
fn up_series(service: &str, backend: IpAddr, check: &str) -> String {
    format!("dnslb_backend_up{{service=\"{service}\",backend=\"{backend}\",check=\"{check}\"}}")
}

/// Waits until `/status` shows `backend` in `state` ("up" or "down").
fn wait_for_state(admin: SocketAddr, service: &str, backend: IpAddr, state: &str) {
    let reached = wait_until(SETTLE, || {
        backend_status(admin, service, backend)["state"] == state
    });
    assert!(
        reached,
        "{backend} of {service} never became {state}: {}",
        backend_status(admin, service, backend)
    );
}

// ----- DNS queries

/// A blocking UDP client on one socket, for queries in a row.
struct Querier {
    socket: UdpSocket,
    next_id: u16,
}

impl Querier {
    fn new(server: SocketAddr) -> Querier {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a client socket");
        socket.connect(server).expect("connect the client socket");
        socket
            .set_read_timeout(Some(client::TIMEOUT))
            .expect("read timeout");
        Querier { socket, next_id: 0 }
    }

    /// Asks `name A`; checks the reply is ours and NOERROR.
    fn ask(&mut self, name: &str) -> Reply {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let packet = client::message(id, name, Rtype::A, Class::IN, Some(Edns::payload(1232)));
        self.socket.send(&packet).expect("send");
        let mut buffer = [0u8; 4096];
        loop {
            let len = self
                .socket
                .recv(&mut buffer)
                .unwrap_or_else(|error| panic!("no reply to {name} A: {error}"));
            let reply = Reply::new(&buffer[..len]);
            if reply.id() == id {
                assert_eq!(reply.rcode(), OptRcode::NOERROR, "{name} A");
                return reply;
            }
        }
    }

    /// The set of addresses answered for `name A`.
    fn addresses(&mut self, name: &str) -> BTreeSet<IpAddr> {
        self.ask(name).addresses().into_iter().collect()
    }

    /// Asserts that `queries` answers in a row are exactly `expected`.
    fn assert_answers(&mut self, name: &str, expected: &BTreeSet<IpAddr>, queries: usize) {
        for query in 0..queries {
            let got = self.addresses(name);
            assert_eq!(&got, expected, "{name}: answer {query}");
        }
    }

    /// Waits until the answer to `name` is exactly `expected`, then checks it
    /// stays so for 50 queries.
    fn wait_for_answers(&mut self, name: &str, expected: &BTreeSet<IpAddr>) {
        let mut last = BTreeSet::new();
        let reached = wait_until(SETTLE, || {
            last = self.addresses(name);
            last == *expected
        });
        assert!(
            reached,
            "{name}: answers stayed {last:?}, expected {expected:?}"
        );
        self.assert_answers(name, expected, 50);
    }
}

/// The set of `backends`' addresses.
fn addresses<'a>(backends: impl IntoIterator<Item = &'a Backend>) -> BTreeSet<IpAddr> {
    backends.into_iter().map(Backend::ip).collect()
}

/// The TTL of every record of the answer section.
fn ttls(reply: &Reply) -> Vec<u32> {
    reply
        .answer()
        .iter()
        .map(|line| {
            line.split(' ')
                .nth(1)
                .and_then(|ttl| ttl.parse().ok())
                .unwrap_or_else(|| panic!("no TTL in {line:?}"))
        })
        .collect()
}

// ----- 1. tcp

#[tokio::test]
async fn tcp_check_takes_a_closed_backend_out_and_brings_it_back() {
    const SERVICE: &str = "tcp.example.com.";
    let mut backends: Vec<Backend> = (1..=3)
        .map(|host| Backend::tcp(&format!("127.0.1.{host}")))
        .collect();
    let entries: String = backends.iter().map(|backend| entry(backend, "")).collect();
    let (server, _) = start(&format!(
        r#"{ADMIN}
[[service]]
name = "tcp.example.com"
policy = "round_robin"
answers = 3
health = {{ kind = "tcp", {PACE}, rise = 1, fall = 2 }}
backends = [
{entries}]
"#
    ));
    let admin = server.admin();
    let mut querier = Querier::new(server.ipv4());
    let all = addresses(&backends);
    let closed = backends[1].ip();
    let rest: BTreeSet<IpAddr> = all.iter().copied().filter(|ip| *ip != closed).collect();

    // All up: every answer names the three, and the probes succeed.
    querier.assert_answers("tcp.example.com", &all, 10);
    let probed = wait_until(SETTLE, || {
        backend_status(admin, SERVICE, closed)["last_probe"]["result"] == "success"
    });
    assert!(probed, "{}", backend_status(admin, SERVICE, closed));
    assert_eq!(metric(admin, &up_series(SERVICE, closed, "tcp")), 1.0);

    // Closed: out of the answers within a few intervals, and reported.
    backends[1].stop();
    let closed_at = Instant::now();
    querier.wait_for_answers("tcp.example.com", &rest);
    let took = closed_at.elapsed();
    let backend = backend_status(admin, SERVICE, closed);
    assert_eq!(backend["state"], "down", "{backend}");
    assert_eq!(backend["available"], false, "{backend}");
    assert_eq!(backend["check"], "tcp", "{backend}");
    assert_eq!(backend["last_probe"]["result"], "failure", "{backend}");
    assert_eq!(
        backend["last_probe"]["detail"], "connection refused",
        "{backend}"
    );
    assert_eq!(metric(admin, &up_series(SERVICE, closed, "tcp")), 0.0);
    for other in &rest {
        assert_eq!(metric(admin, &up_series(SERVICE, *other, "tcp")), 1.0);
        assert_eq!(backend_status(admin, SERVICE, *other)["state"], "up");
    }
    eprintln!("closed backend left the answers after {took:?}");

    // Listening again on the same address and port: back in.
    backends[1].restart();
    querier.wait_for_answers("tcp.example.com", &all);
    let backend = backend_status(admin, SERVICE, closed);
    assert_eq!(backend["state"], "up", "{backend}");
    assert_eq!(backend["last_probe"]["result"], "success", "{backend}");
    assert_eq!(backend["last_probe"]["detail"], "connected", "{backend}");
    assert_eq!(metric(admin, &up_series(SERVICE, closed, "tcp")), 1.0);
    assert!(metric(admin, "dnslb_health_state_changes_total") >= 2.0);
    server.finish().await;
}

// ----- 2. http

#[tokio::test]
async fn http_check_follows_status_expect_body_and_load_header() {
    const SERVICE: &str = "web.example.com.";
    let plain = HttpBackend::start("127.0.2.1");
    let teapot = HttpBackend::start("127.0.2.2");
    let ready = HttpBackend::start("127.0.2.3");
    plain.set_load(Some("0.25"));
    ready.set_body("status: ready\n");
    let (server, _) = start(&format!(
        r#"{ADMIN}
[[service]]
name = "web.example.com"
policy = "round_robin"
answers = 3
health = {{ kind = "http", path = "/healthz", load_header = "X-Load", {PACE}, rise = 2, fall = 2 }}
backends = [
{}{}{}]
"#,
        entry(&plain.backend, ""),
        entry(&teapot.backend, ", expect = [418]"),
        entry(&ready.backend, r#", body_contains = "ready""#),
    ));
    let admin = server.admin();
    let mut querier = Querier::new(server.ipv4());
    let (plain_ip, teapot_ip, ready_ip) =
        (plain.backend.ip(), teapot.backend.ip(), ready.backend.ip());
    let both = BTreeSet::from([plain_ip, ready_ip]);

    // 200 is not in the teapot's expect: it goes down; the others stay up.
    wait_for_state(admin, SERVICE, teapot_ip, "down");
    querier.wait_for_answers("web.example.com", &both);
    let backend = backend_status(admin, SERVICE, teapot_ip);
    assert_eq!(backend["check"], "http", "{backend}");
    assert_eq!(
        backend["last_probe"]["detail"], "HTTP 200 not in expect, no X-Load header",
        "{backend}"
    );
    // The probe's request: the path, and the service name as Host.
    let request = plain.last_request();
    assert!(
        request.starts_with("GET /healthz HTTP/1.1\r\n"),
        "{request:?}"
    );
    assert!(
        request.contains("\r\nHost: web.example.com\r\n"),
        "{request:?}"
    );
    // The load header feeds the load.
    let loaded = wait_until(SETTLE, || {
        backend_status(admin, SERVICE, plain_ip)["load"].as_f64() == Some(0.25)
    });
    assert!(loaded, "{}", backend_status(admin, SERVICE, plain_ip));
    assert_eq!(
        metric(
            admin,
            &format!(
                "dnslb_backend_load{{service=\"{SERVICE}\",backend=\"{plain_ip}\",check=\"http\"}}"
            )
        ),
        0.25
    );

    // 418 is what the teapot expects: it comes up.
    teapot.set_status(418);
    wait_for_state(admin, SERVICE, teapot_ip, "up");
    querier.wait_for_answers(
        "web.example.com",
        &BTreeSet::from([plain_ip, teapot_ip, ready_ip]),
    );

    // 503 takes the plain backend down, 200 brings it back.
    plain.set_status(503);
    wait_for_state(admin, SERVICE, plain_ip, "down");
    querier.wait_for_answers("web.example.com", &BTreeSet::from([teapot_ip, ready_ip]));
    let backend = backend_status(admin, SERVICE, plain_ip);
    assert_eq!(backend["last_probe"]["result"], "failure", "{backend}");
    assert_eq!(
        backend["last_probe"]["detail"], "HTTP 503 not in expect",
        "{backend}"
    );
    assert_eq!(metric(admin, &up_series(SERVICE, plain_ip, "http")), 0.0);
    plain.set_status(200);
    wait_for_state(admin, SERVICE, plain_ip, "up");
    assert_eq!(metric(admin, &up_series(SERVICE, plain_ip, "http")), 1.0);

    // A body without the text body_contains wants is a failure.
    ready.set_body("status: warming up\n");
    wait_for_state(admin, SERVICE, ready_ip, "down");
    let backend = backend_status(admin, SERVICE, ready_ip);
    assert_eq!(
        backend["last_probe"]["detail"], "HTTP 200, body lacks \"ready\", no X-Load header",
        "{backend}"
    );
    querier.wait_for_answers("web.example.com", &BTreeSet::from([plain_ip, teapot_ip]));
    ready.set_body("status: ready\n");
    wait_for_state(admin, SERVICE, ready_ip, "up");

    // A new load is followed; a value that does not parse keeps the last one
    // and is reported, without failing the check.
    plain.set_load(Some("0.75"));
    let loaded = wait_until(SETTLE, || {
        backend_status(admin, SERVICE, plain_ip)["load"].as_f64() == Some(0.75)
    });
    assert!(loaded, "{}", backend_status(admin, SERVICE, plain_ip));
    plain.set_load(Some("lots"));
    let reported = wait_until(SETTLE, || {
        backend_status(admin, SERVICE, plain_ip)["last_probe"]["detail"]
            == "HTTP 200, bad X-Load value \"lots\""
    });
    let backend = backend_status(admin, SERVICE, plain_ip);
    assert!(reported, "{backend}");
    assert_eq!(backend["state"], "up", "{backend}");
    assert_eq!(backend["load"].as_f64(), Some(0.75), "{backend}");
    querier.wait_for_answers(
        "web.example.com",
        &BTreeSet::from([plain_ip, teapot_ip, ready_ip]),
    );
    server.finish().await;
}

// ----- 3. drain

#[tokio::test]
async fn drained_backend_is_never_answered_and_survives_a_reload() {
    const SERVICE: &str = "drain.example.com.";
    let backends: Vec<Backend> = (1..=3)
        .map(|host| Backend::tcp(&format!("127.0.3.{host}")))
        .collect();
    let entries: String = backends.iter().map(|backend| entry(backend, "")).collect();
    let (server, _) = start(&format!(
        r#"{ADMIN}
[[service]]
name = "drain.example.com"
policy = "round_robin"
answers = 3
health = {{ kind = "tcp", {PACE}, rise = 1, fall = 2 }}
backends = [
{entries}]
"#
    ));
    let admin = server.admin();
    let mut querier = Querier::new(server.ipv4());
    let all = addresses(&backends);
    let drained = backends[0].ip();
    let rest: BTreeSet<IpAddr> = all.iter().copied().filter(|ip| *ip != drained).collect();
    querier.assert_answers("drain.example.com", &all, 10);

    // From the 200 on, not one answer names it.
    let (code, body) = post(
        admin,
        &format!("/backends/drain.example.com/{drained}/drain"),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["drained"], true, "{body}");
    querier.assert_answers("drain.example.com", &rest, 200);
    let backend = backend_status(admin, SERVICE, drained);
    assert_eq!(backend["drained"], true, "{backend}");
    assert_eq!(backend["available"], false, "{backend}");
    assert_eq!(backend["state"], "up", "drained, still healthy: {backend}");
    let drained_series = format!(
        "dnslb_backend_drained{{service=\"{SERVICE}\",backend=\"{drained}\",check=\"tcp\"}}"
    );
    assert_eq!(metric(admin, &drained_series), 1.0);

    // A reload keeps the drain.
    let (code, body) = post(admin, "/reload");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["kept"], 3, "{body}");
    assert_eq!(body["added"], 0, "{body}");
    assert_eq!(body["removed"], 0, "{body}");
    querier.assert_answers("drain.example.com", &rest, 200);
    assert_eq!(backend_status(admin, SERVICE, drained)["drained"], true);

    // Unknown backends and services are 404 and change nothing.
    for target in [
        "/backends/drain.example.com/127.0.3.99/drain".to_owned(),
        format!("/backends/nothing.example.com/{drained}/undrain"),
        "/backends/drain.example.com/not-an-address/undrain".to_owned(),
    ] {
        let (code, body) = post(admin, &target);
        assert_eq!(code, 404, "{target}: {body}");
        assert!(body["error"].is_string(), "{target}: {body}");
    }
    for backend in &backends {
        let drained_now = backend_status(admin, SERVICE, backend.ip())["drained"].clone();
        assert_eq!(drained_now, backend.ip() == drained, "{}", backend.ip());
    }
    querier.assert_answers("drain.example.com", &rest, 20);

    // Undrained: answered again from the next query on.
    let (code, body) = post(
        admin,
        &format!("/backends/drain.example.com/{drained}/undrain"),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["drained"], false, "{body}");
    querier.assert_answers("drain.example.com", &all, 50);
    assert_eq!(metric(admin, &drained_series), 0.0);
    server.finish().await;
}

// ----- 4. reload

#[tokio::test]
async fn reload_applies_a_new_config_keeps_health_and_refuses_a_bad_one() {
    const SERVICE: &str = "reload.example.com.";
    let mut backends: Vec<Backend> = (1..=3)
        .map(|host| Backend::tcp(&format!("127.0.4.{host}")))
        .collect();
    let service = |ttl: u32, backends: &[Backend], bad_key: &str| {
        let entries: String = backends.iter().map(|backend| entry(backend, "")).collect();
        format!(
            r#"{ADMIN}
[[service]]
name = "reload.example.com"
policy = "round_robin"
answers = 3
ttl = {ttl}
{bad_key}health = {{ kind = "tcp", {PACE}, rise = 1, fall = 2 }}
backends = [
{entries}]
"#
        )
    };
    let (server, path) = start(&service(30, &backends[..2], ""));
    let admin = server.admin();
    let mut querier = Querier::new(server.ipv4());
    let (first, second, third) = (backends[0].ip(), backends[1].ip(), backends[2].ip());
    querier.assert_answers("reload.example.com", &BTreeSet::from([first, second]), 10);
    assert_eq!(ttls(&querier.ask("reload.example.com")), [30, 30]);

    // The second backend goes down.
    backends[1].stop();
    wait_for_state(admin, SERVICE, second, "down");
    querier.wait_for_answers("reload.example.com", &BTreeSet::from([first]));

    // Add a backend and change the TTL: the new config answers at once, and
    // the down backend is still down right after the reload.
    rewrite(&path, &service(60, &backends, ""));
    let (code, body) = post(admin, "/reload");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (&body["kept"], &body["added"], &body["removed"]),
        (&Value::from(2), &Value::from(1), &Value::from(0)),
        "{body}"
    );
    let reply = querier.ask("reload.example.com");
    assert_eq!(ttls(&reply), [60, 60], "{:?}", reply.answer());
    querier.assert_answers("reload.example.com", &BTreeSet::from([first, third]), 50);
    let backend = backend_status(admin, SERVICE, second);
    assert_eq!(
        backend["state"], "down",
        "kept across the reload: {backend}"
    );
    assert_eq!(backend["last_probe"]["result"], "failure", "{backend}");
    assert_eq!(backend_status(admin, SERVICE, third)["state"], "up");
    let generation = status(admin)["generation"].as_u64().expect("generation");
    assert!(body["generation"].as_u64() <= Some(generation), "{body}");

    // A bad key: 400 naming file, line and key; the old config still serves.
    let good = service(60, &backends, "");
    let bad = service(60, &backends, "colour = \"blue\"\n");
    rewrite(&path, &bad);
    let text = std::fs::read_to_string(&path).expect("read config");
    let bad_line = text
        .lines()
        .position(|line| line.starts_with("colour"))
        .expect("the bad line")
        + 1;
    let (code, body) = post(admin, "/reload");
    assert_eq!(code, 400, "{body}");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    let error = &errors[0];
    assert_eq!(error["file"], path.display().to_string(), "{body}");
    assert_eq!(error["line"], bad_line, "{body}");
    assert_eq!(error["key"], "service[0].colour", "{body}");
    assert!(
        error["text"]
            .as_str()
            .is_some_and(|text| text.contains("colour")),
        "{body}"
    );
    querier.assert_answers("reload.example.com", &BTreeSet::from([first, third]), 20);
    assert_eq!(ttls(&querier.ask("reload.example.com")), [60, 60]);

    // A changed server.listen needs a restart: 409, nothing changes.
    rewrite(&path, &good);
    let text = std::fs::read_to_string(&path).expect("read config");
    let listen = r#"listen = ["127.0.0.1:0", "[::1]:0"]"#;
    assert!(text.contains(listen), "{text}");
    std::fs::write(&path, text.replace(listen, r#"listen = ["127.0.0.1:0"]"#)).expect("write");
    let (code, body) = post(admin, "/reload");
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|error| error.contains("server.listen")),
        "{body}"
    );
    querier.assert_answers("reload.example.com", &BTreeSet::from([first, third]), 20);
    assert_eq!(metric(admin, "dnslb_reloads_total{result=\"failed\"}"), 2.0);
    assert_eq!(metric(admin, "dnslb_reloads_total{result=\"ok\"}"), 1.0);

    // The kept backend is still probed after the reload: it comes back.
    rewrite(&path, &good);
    backends[1].restart();
    querier.wait_for_answers(
        "reload.example.com",
        &BTreeSet::from([first, second, third]),
    );
    server.finish().await;
}

// ----- 5. token

#[tokio::test]
async fn admin_token_guards_the_post_endpoints_only() {
    const SERVICE: &str = "token.example.com.";
    const TOKEN: &str = "a-test-token-0123456789";
    let backends: Vec<Backend> = (1..=2)
        .map(|host| Backend::tcp(&format!("127.0.5.{host}")))
        .collect();
    let entries: String = backends.iter().map(|backend| entry(backend, "")).collect();
    let config = |token: &str| {
        format!(
            r#"
[admin]
listen = "127.0.0.1:0"
token = "{token}"

[[service]]
name = "token.example.com"
policy = "round_robin"
answers = 2
health = {{ kind = "tcp", {PACE}, rise = 1, fall = 2 }}
backends = [
{entries}]
"#
        )
    };
    let (server, path) = start(&config(TOKEN));
    let admin = server.admin();
    let mut querier = Querier::new(server.ipv4());
    let all = addresses(&backends);
    let target = backends[0].ip();
    let drain = format!("/backends/token.example.com/{target}/drain");

    // No token, a wrong one, a wrong scheme: 401, and nothing changes.
    let wrong = "a-test-token-0123456780";
    for (endpoint, token) in [
        (drain.as_str(), None),
        (drain.as_str(), Some(wrong)),
        (drain.as_str(), Some("a-test-token")),
        ("/reload", None),
        ("/reload", Some(wrong)),
        ("/backends/token.example.com/127.0.5.1/load?value=0.5", None),
    ] {
        let (code, body) = admin_json(admin, "POST", endpoint, token);
        assert_eq!(code, 401, "{endpoint} with {token:?}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    // The scheme must be Bearer: Basic with the right token is refused.
    let (code, body) = exchange(
        admin,
        &format!(
            "POST {drain} HTTP/1.1\r\nHost: {admin}\r\nAuthorization: Basic {TOKEN}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(code, 401, "{body}");
    let backend = backend_status(admin, SERVICE, target);
    assert_eq!(backend["drained"], false, "{backend}");
    assert_eq!(backend["load"].as_f64(), Some(0.0), "{backend}");
    for result in ["ok", "failed"] {
        let series = format!("dnslb_reloads_total{{result=\"{result}\"}}");
        assert_eq!(metric(admin, &series), 0.0, "{series}");
    }
    querier.assert_answers("token.example.com", &all, 20);

    // GET needs no token.
    assert_eq!(admin_call(admin, "GET", "/metrics", None).0, 200);
    assert_eq!(admin_call(admin, "GET", "/status", None).0, 200);
    assert_eq!(
        admin_call(admin, "GET", "/explain?name=token.example.com&type=A", None).0,
        200
    );

    // The right token: 200, and the drain applies.
    let (code, body) = admin_json(admin, "POST", &drain, Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    querier.assert_answers("token.example.com", &BTreeSet::from([backends[1].ip()]), 20);
    let (code, body) = admin_json(admin, "POST", "/reload", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    let load = format!("/backends/token.example.com/{target}/load?value=0.5");
    let (code, body) = admin_json(admin, "POST", &load, Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        backend_status(admin, SERVICE, target)["load"].as_f64(),
        Some(0.5)
    );
    let undrain = format!("/backends/token.example.com/{target}/undrain");
    let (code, body) = admin_json(admin, "POST", &undrain, Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    querier.assert_answers("token.example.com", &all, 20);

    // A reload that changes the token puts the new one in force at once.
    const NEW_TOKEN: &str = "another-test-token-98765";
    rewrite(&path, &config(NEW_TOKEN));
    let (code, body) = admin_json(admin, "POST", "/reload", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    let (code, body) = admin_json(admin, "POST", &drain, Some(TOKEN));
    assert_eq!(code, 401, "the replaced token: {body}");
    let (code, body) = admin_json(admin, "POST", &drain, Some(NEW_TOKEN));
    assert_eq!(code, 200, "the new token: {body}");
    server.finish().await;
}

// ----- 6. zero lost queries

/// How long the load runs while backends change, at least, and at most
/// (when the machine is too busy to publish [`CHAOS_SWAPS`] snapshots
/// sooner).
const CHAOS_RUN: Duration = Duration::from_secs(5);
const CHAOS_RUN_MAX: Duration = Duration::from_secs(20);
/// Snapshot swaps the run goes on for, at least.
const CHAOS_SWAPS: f64 = 250.0;
/// Queries a second over all client sockets, and how many sockets.
const CHAOS_RATE: f64 = 3000.0;
const CHAOS_SOCKETS: usize = 3;
/// How long a query may wait for its answer before it counts as lost.
const ANSWER_DEADLINE: Duration = Duration::from_secs(1);
/// Time between two rounds of changes.
const CHAOS_STEP: Duration = Duration::from_millis(25);
/// Shortest time a backend keeps a health state: over one interval, so the
/// probes see every change.
const CHAOS_HOLD: Duration = Duration::from_millis(150);
/// Shortest time a backend stays drained or undrained.
const CHAOS_DRAIN_HOLD: Duration = Duration::from_millis(100);
/// After its listener is back, a backend counts as unavailable this long
/// (until its next probes bring it up and that is published).
const CHAOS_RECOVERY: Duration = Duration::from_millis(300);
/// Most backends down or drained at once, of six: three or more stay
/// answerable, so `when_all_down` never applies.
const CHAOS_MAX_UNAVAILABLE: usize = 3;
/// The chaos checks' `fall`.
const CHAOS_FALL: u32 = 1;
/// The fallback address, answered only if every backend were down.
const CHAOS_FALLBACK: &str = "127.0.6.250";
/// Scheduling slack on top of the staleness the probes allow.
const STALENESS_MARGIN: Duration = Duration::from_millis(50);

/// One query of the steady load: when it was sent, and its answer.
struct Asked {
    sent: Instant,
    answer: Option<Answered>,
}

/// An answer as received.
struct Answered {
    received: Instant,
    rcode: OptRcode,
    addresses: Vec<IpAddr>,
}

/// What one client socket saw.
struct ClientLog {
    asked: Vec<Asked>,
    /// Replies to a query already answered, or with an ID never sent.
    unexpected: usize,
}

/// Sends `chaos.example.com A` at `rate` a second from one UDP socket (IDs
/// 0, 1, ...), receiving between sends, until `stop` is set, then waits up
/// to [`ANSWER_DEADLINE`] for the last answers. Never retries.
fn steady_client(server: SocketAddr, rate: f64, stop: &AtomicBool) -> ClientLog {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .expect("UDP socket");
    // Best effort: a deeper queue absorbs the moments this thread waits
    // for a CPU.
    let _ = socket.set_recv_buffer_size(4 << 20);
    let local: SocketAddr = "127.0.0.1:0".parse().expect("address");
    socket.bind(&local.into()).expect("bind a client socket");
    let socket = UdpSocket::from(socket);
    socket.connect(server).expect("connect the client socket");
    // Unique IDs: at most 65,536 queries.
    let most = usize::from(u16::MAX) + 1;
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut packet = client::message(
        0,
        "chaos.example.com",
        Rtype::A,
        Class::IN,
        Some(Edns::payload(1232)),
    );
    let mut asked: Vec<Asked> = Vec::with_capacity(most);
    let (mut answered, mut unexpected) = (0, 0);
    let mut sending = true;
    let mut buffer = [0u8; 2048];
    let start = Instant::now();
    let due = |index: usize| start + period * index as u32;
    loop {
        sending = sending && !stop.load(Ordering::Acquire) && asked.len() < most;
        while sending && asked.len() < most && due(asked.len()) <= Instant::now() {
            let id = asked.len() as u16;
            packet[..2].copy_from_slice(&id.to_be_bytes());
            socket.send(&packet).expect("send a query");
            asked.push(Asked {
                sent: Instant::now(),
                answer: None,
            });
        }
        let next = if sending {
            due(asked.len())
        } else {
            let last = asked.last().map_or(start, |query| query.sent);
            if answered == asked.len() || Instant::now() >= last + ANSWER_DEADLINE {
                break;
            }
            last + ANSWER_DEADLINE
        };
        let wait = next
            .saturating_duration_since(Instant::now())
            .max(Duration::from_micros(50));
        socket.set_read_timeout(Some(wait)).expect("read timeout");
        match socket.recv(&mut buffer) {
            Ok(len) => {
                let received = Instant::now();
                let reply = Reply::new(&buffer[..len]);
                match asked.get_mut(usize::from(reply.id())) {
                    Some(query) if query.answer.is_none() => {
                        query.answer = Some(Answered {
                            received,
                            rcode: reply.rcode(),
                            addresses: reply.addresses(),
                        });
                        answered += 1;
                    }
                    _ => unexpected += 1,
                }
            }
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(error) => panic!("receive: {error}"),
        }
    }
    ClientLog { asked, unexpected }
}

/// How a chaos backend is made to fail.
enum Failing {
    /// Its listener is closed.
    Tcp(Backend),
    /// It answers 503.
    Http(HttpBackend),
}

/// One backend of the chaos service and what the flipper did to it.
struct ChaosBackend {
    failing: Failing,
    ip: IpAddr,
    down: bool,
    drained: bool,
    /// When `down` last changed, and when `drained` did.
    health_changed: Instant,
    drain_changed: Instant,
    /// When the listener last came back.
    restored: Option<Instant>,
}

impl ChaosBackend {
    fn new(failing: Failing) -> ChaosBackend {
        let ip = match &failing {
            Failing::Tcp(backend) => backend.ip(),
            Failing::Http(http) => http.backend.ip(),
        };
        ChaosBackend {
            failing,
            ip,
            down: false,
            drained: false,
            health_changed: Instant::now(),
            drain_changed: Instant::now(),
            restored: None,
        }
    }

    fn entry(&self) -> String {
        match &self.failing {
            Failing::Tcp(backend) => entry(backend, ""),
            Failing::Http(http) => entry(
                &http.backend,
                r#", kind = "http", path = "/health", load_header = "X-Load""#,
            ),
        }
    }

    /// Whether the server may not answer it now (or very soon).
    fn unavailable(&self, now: Instant) -> bool {
        self.down
            || self.drained
            || self
                .restored
                .is_some_and(|restored| now < restored + CHAOS_RECOVERY)
    }

    /// Makes the backend fail its checks; returns when it does.
    fn take_down(&mut self) -> Instant {
        match &mut self.failing {
            Failing::Tcp(backend) => backend.stop(),
            Failing::Http(http) => http.set_status(503),
        }
        self.down = true;
        self.health_changed = Instant::now();
        self.health_changed
    }

    /// Makes the backend pass its checks again; returns when it started
    /// to.
    fn bring_up(&mut self) -> Instant {
        let at = Instant::now();
        match &mut self.failing {
            Failing::Tcp(backend) => backend.restart(),
            Failing::Http(http) => http.set_status(200),
        }
        self.down = false;
        self.health_changed = Instant::now();
        self.restored = Some(at);
        at
    }
}

/// What the flipper did to a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// Failing from this time on (listener closed, or 503).
    Down,
    /// Passing again from just after this time.
    Up,
    /// Drained: the 200 came back at this time.
    Drained,
    /// The undrain request went out at this time.
    Undrained,
}

/// The counts of what the flipper did, with every change and its time.
#[derive(Default)]
struct FlipLog {
    /// How long it ran.
    run: Duration,
    changes: Vec<(usize, Change, Instant)>,
    reloads: usize,
    loads: usize,
}

/// Changes backends for [`CHAOS_RUN`] and until [`CHAOS_SWAPS`] snapshots
/// were published (at most [`CHAOS_RUN_MAX`]): one health flip a step when
/// a backend has held its state long enough, a drain or undrain every other
/// step, a load pushed every fourth, a new `X-Load` on the HTTP backends
/// every step, a reload (alternating the TTL) every 40 steps. Keeps at most
/// [`CHAOS_MAX_UNAVAILABLE`] backends down or drained. Leaves every backend
/// up and undrained.
fn flip_backends(admin: SocketAddr, path: &Path, backends: &mut [ChaosBackend]) -> FlipLog {
    let mut log = FlipLog::default();
    let swaps = || metric(admin, "dnslb_snapshot_swaps_total");
    let swaps_at_start = swaps();
    let count = backends.len();
    let unavailable_besides = |backends: &[ChaosBackend], index: usize, now: Instant| {
        backends
            .iter()
            .enumerate()
            .filter(|&(other, backend)| other != index && backend.unavailable(now))
            .count()
    };
    let (mut health_cursor, mut drain_cursor) = (0, 0);
    let start = Instant::now();
    let mut step = 0u32;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= CHAOS_RUN_MAX
            || (elapsed >= CHAOS_RUN
                && step.is_multiple_of(8)
                && swaps() - swaps_at_start >= CHAOS_SWAPS)
        {
            break;
        }
        let now = Instant::now();
        for offset in 0..count {
            let index = (health_cursor + offset) % count;
            let backend = &backends[index];
            if now < backend.health_changed + CHAOS_HOLD {
                continue;
            }
            if backend.down {
                let at = backends[index].bring_up();
                log.changes.push((index, Change::Up, at));
            } else if unavailable_besides(backends, index, now) < CHAOS_MAX_UNAVAILABLE {
                let at = backends[index].take_down();
                log.changes.push((index, Change::Down, at));
            } else {
                continue;
            }
            health_cursor = index + 1;
            break;
        }
        if step % 2 == 1 {
            for offset in 0..count {
                let index = (drain_cursor + offset) % count;
                let backend = &backends[index];
                if now < backend.drain_changed + CHAOS_DRAIN_HOLD {
                    continue;
                }
                if backend.drained {
                    log.changes.push((index, Change::Undrained, Instant::now()));
                    set_drained(admin, backends[index].ip, false);
                } else if unavailable_besides(backends, index, now) < CHAOS_MAX_UNAVAILABLE {
                    set_drained(admin, backends[index].ip, true);
                    log.changes.push((index, Change::Drained, Instant::now()));
                } else {
                    continue;
                }
                let backend = &mut backends[index];
                backend.drained = !backend.drained;
                backend.drain_changed = Instant::now();
                drain_cursor = index + 1;
                break;
            }
        }
        if step.is_multiple_of(4) {
            let ip = backends[(step as usize / 4) % count].ip;
            let value = f64::from(step % 10) / 10.0;
            let (code, body) = post(
                admin,
                &format!("/backends/chaos.example.com/{ip}/load?value={value}"),
            );
            assert_eq!(code, 200, "{body}");
            log.loads += 1;
        }
        for backend in backends.iter() {
            if let Failing::Http(http) = &backend.failing {
                http.set_load(Some(&format!("0.{}", step % 10)));
            }
        }
        if step % 40 == 20 {
            rewrite(path, &chaos_config(30 + log.reloads as u32 % 2, backends));
            let (code, body) = post(admin, "/reload");
            assert_eq!(code, 200, "{body}");
            assert_eq!(body["kept"], 6, "{body}");
            log.reloads += 1;
        }
        step += 1;
        let next = start + CHAOS_STEP * step;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    log.run = start.elapsed();
    for (index, backend) in backends.iter_mut().enumerate() {
        if backend.down {
            let at = backend.bring_up();
            log.changes.push((index, Change::Up, at));
        }
        if backend.drained {
            log.changes.push((index, Change::Undrained, Instant::now()));
            set_drained(admin, backend.ip, false);
            backend.drained = false;
        }
    }
    log
}

/// Drains or undrains a chaos backend; checks the 200.
fn set_drained(admin: SocketAddr, ip: IpAddr, drained: bool) {
    let action = if drained { "drain" } else { "undrain" };
    let (code, body) = post(admin, &format!("/backends/chaos.example.com/{ip}/{action}"));
    assert_eq!(code, 200, "{action} {ip}: {body}");
}

/// The chaos config: one round-robin service, two answers, over the
/// backends, checked every 100 ms with `fall` = [`CHAOS_FALL`].
fn chaos_config(ttl: u32, backends: &[ChaosBackend]) -> String {
    let entries: String = backends.iter().map(ChaosBackend::entry).collect();
    format!(
        r#"{ADMIN}
[[service]]
name = "chaos.example.com"
policy = "round_robin"
answers = 2
ttl = {ttl}
when_all_down = "fallback"
fallback = ["{CHAOS_FALLBACK}"]
health = {{ kind = "tcp", {PACE}, rise = 1, fall = {CHAOS_FALL} }}
backends = [
{entries}]
"#
    )
}

/// Per backend, the spans during which the flipper had it in `from` (until
/// `to`), as (start, end) with the end `None` when it never ended.
fn spans(
    log: &FlipLog,
    count: usize,
    from: Change,
    to: Change,
) -> Vec<Vec<(Instant, Option<Instant>)>> {
    let mut spans = vec![Vec::new(); count];
    for &(index, change, at) in &log.changes {
        if change == from {
            spans[index].push((at, None));
        } else if change == to {
            let open = spans[index].last_mut().expect("ends a span it started");
            assert!(open.1.is_none(), "{to:?} without {from:?}");
            open.1 = Some(at);
        }
    }
    spans
}

#[tokio::test]
async fn no_query_is_lost_while_backends_flap_drain_and_reload() {
    let mut backends: Vec<ChaosBackend> = (1..=4)
        .map(|host| ChaosBackend::new(Failing::Tcp(Backend::tcp(&format!("127.0.6.{host}")))))
        .chain((5..=6).map(|host| {
            ChaosBackend::new(Failing::Http(HttpBackend::start(&format!(
                "127.0.6.{host}"
            ))))
        }))
        .collect();
    let (server, path) = start(&chaos_config(30, &backends));
    let admin = server.admin();
    let address = server.ipv4();
    // Every backend probed and up before the load starts.
    let all_probed = wait_until(SETTLE, || {
        let body = status(admin);
        body["services"][0]["backends"]
            .as_array()
            .expect("backends")
            .iter()
            .all(|backend| backend["last_probe"]["result"] == "success")
    });
    assert!(all_probed, "{}", status(admin));
    let before = metrics(admin);

    let stop = AtomicBool::new(false);
    let (clients, log) = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CHAOS_SOCKETS)
            .map(|_| {
                scope.spawn(|| steady_client(address, CHAOS_RATE / CHAOS_SOCKETS as f64, &stop))
            })
            .collect();
        let log = flip_backends(admin, &path, &mut backends);
        stop.store(true, Ordering::Release);
        let clients: Vec<ClientLog> = clients
            .into_iter()
            .map(|client| client.join().expect("client thread"))
            .collect();
        (clients, log)
    });
    let after = metrics(admin);
    let grown = |series: &str| series_value(&after, series) - series_value(&before, series);
    let swaps = grown("dnslb_snapshot_swaps_total");
    let generations = grown("dnslb_snapshot_generation");

    // Check every answer against what the flipper did.
    let allowed = INTERVAL * (CHAOS_FALL + 1) + STALENESS_MARGIN;
    let down = spans(&log, backends.len(), Change::Down, Change::Up);
    let drained = spans(&log, backends.len(), Change::Drained, Change::Undrained);
    let fallback: IpAddr = CHAOS_FALLBACK.parse().expect("address");
    let (mut queries, mut answers, mut lost, mut late, mut unexpected) = (0, 0, 0, 0, 0);
    let (mut two_addresses, mut fallback_answers, mut while_down) = (0, 0, 0);
    let mut max_staleness = Duration::ZERO;
    let mut problems: Vec<String> = Vec::new();
    let start = clients
        .iter()
        .filter_map(|client| client.asked.first())
        .map(|query| query.sent)
        .min()
        .expect("queries sent");
    let at = |instant: Instant| instant.saturating_duration_since(start).as_secs_f64() * 1e3;
    for client in &clients {
        unexpected += client.unexpected;
        for query in &client.asked {
            queries += 1;
            let Some(answer) = &query.answer else {
                lost += 1;
                continue;
            };
            answers += 1;
            if answer.received - query.sent > ANSWER_DEADLINE {
                late += 1;
            }
            if answer.rcode != OptRcode::NOERROR || answer.addresses.is_empty() {
                problems.push(format!(
                    "query sent at {:.1} ms: {} with {:?}",
                    at(query.sent),
                    answer.rcode,
                    answer.addresses
                ));
                continue;
            }
            two_addresses += usize::from(answer.addresses.len() == 2);
            for ip in &answer.addresses {
                if *ip == fallback {
                    fallback_answers += 1;
                    continue;
                }
                let Some(index) = backends.iter().position(|backend| backend.ip == *ip) else {
                    problems.push(format!("unknown address {ip} answered"));
                    continue;
                };
                for &(from, until) in &down[index] {
                    let before_restore = until.is_none_or(|until| answer.received < until);
                    if query.sent < from || !before_restore {
                        continue;
                    }
                    while_down += 1;
                    let staleness = query.sent - from;
                    max_staleness = max_staleness.max(staleness);
                    if staleness > allowed {
                        problems.push(format!(
                            "{ip} answered to a query sent at {:.1} ms, {staleness:?} after it \
                             went down at {:.1} ms",
                            at(query.sent),
                            at(from)
                        ));
                    }
                }
                for &(from, until) in &drained[index] {
                    let before_undrain = until.is_none_or(|until| answer.received < until);
                    if query.sent >= from && before_undrain {
                        problems.push(format!(
                            "{ip} answered to a query sent at {:.1} ms, drained at {:.1} ms",
                            at(query.sent),
                            at(from)
                        ));
                    }
                }
            }
        }
    }
    let count = |change: Change| {
        log.changes
            .iter()
            .filter(|(_, logged, _)| *logged == change)
            .count()
    };
    let (downs, ups) = (count(Change::Down), count(Change::Up));
    let (drains, undrains) = (count(Change::Drained), count(Change::Undrained));
    let (run, loads, reloads) = (log.run, log.loads, log.reloads);
    let publish_delay_max = series_value(&after, "dnslb_health_publish_delay_max_seconds");
    let problem_count = problems.len();
    eprintln!(
        "zero-lost: {queries} queries over {run:?} from {CHAOS_SOCKETS} sockets, {answers} \
         answered ({two_addresses} with two addresses, {fallback_answers} fallback), {lost} lost, \
         {late} late, {unexpected} unexpected; {downs} downs, {ups} ups, {drains} drains, \
         {undrains} undrains, {loads} load pushes, {reloads} reloads; {swaps} snapshot swaps \
         ({generations} generations); {while_down} answers named a backend already down (max \
         staleness {max_staleness:?}, allowed {allowed:?}); publish delay max \
         {publish_delay_max} s; {problem_count} problems"
    );
    assert!(
        problems.is_empty(),
        "{} problems, the first: {:#?}",
        problems.len(),
        &problems[..problems.len().min(20)]
    );
    assert_eq!(lost, 0, "queries without an answer");
    assert_eq!(late, 0, "answers after {ANSWER_DEADLINE:?}");
    assert_eq!(unexpected, 0, "duplicate or unknown replies");
    assert!(swaps >= 200.0, "only {swaps} snapshot swaps");

    // Everything is back: every backend up, undrained, and answered.
    let restored = wait_until(SETTLE, || {
        status(admin)["services"][0]["backends"]
            .as_array()
            .expect("backends")
            .iter()
            .all(|backend| backend["available"] == true)
    });
    assert!(restored, "{}", status(admin));
    let mut querier = Querier::new(address);
    let mut seen = BTreeSet::new();
    for _ in 0..12 {
        seen.extend(querier.addresses("chaos.example.com"));
    }
    let all: BTreeSet<IpAddr> = backends.iter().map(|backend| backend.ip).collect();
    assert_eq!(seen, all);
    server.finish().await;
}

mod faults;
