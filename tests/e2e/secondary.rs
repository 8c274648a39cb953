//! Secondary zones: dnslb following a primary by SOA, AXFR and IXFR, with
//! NOTIFY, TSIG, catalog zones, expiry and `state_dir`.
//!
//! The primary is a real Knot (`knotd`, started by [`crate::knot`]) in every
//! test but one: the primary that cuts the connection mid-AXFR is written
//! here, as Knot cannot be made to do that.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use domain::base::iana::{Class, Rcode};
use domain::base::{Message, MessageBuilder, Name, Rtype, Serial, Ttl};
use domain::rdata::{A, Ns, Soa};
use serde_json::Value;

use crate::client;
use crate::server::{TestServer, wait_until};

/// The answer `name A` gets from `server`: its rcode and addresses.
pub fn lookup(server: SocketAddr, name: &str) -> (Rcode, Vec<String>) {
    let query = client::message(7, name, Rtype::A, Class::IN, None);
    let reply = client::udp_raw(server, &query, client::TIMEOUT).expect("an answer");
    (
        reply.rcode().rcode(),
        reply.addresses().iter().map(ToString::to_string).collect(),
    )
}

/// The serial of `zone`'s SOA as `server` answers it, if it answers one.
pub fn served_serial(server: SocketAddr, zone: &str) -> Option<u32> {
    let query = client::message(9, zone, Rtype::SOA, Class::IN, None);
    let reply = client::udp_raw(server, &query, client::TIMEOUT)?;
    let message = Message::from_octets(reply.bytes().to_vec()).ok()?;
    let record = message.answer().ok()?.limit_to::<Soa<_>>().next()?;
    Some(record.ok()?.data().serial().into_int())
}

/// `GET` or `POST` on the admin API; the status and the JSON body.
pub fn admin(admin: SocketAddr, method: &str, target: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect_timeout(&admin, client::TIMEOUT).expect("connect to admin");
    stream
        .set_read_timeout(Some(client::TIMEOUT))
        .expect("timeout");
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    let status = head[9..12].parse().expect("a status");
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()))
    };
    (status, body)
}

/// The `/metrics` text.
pub fn metrics(admin_address: SocketAddr) -> String {
    let mut stream =
        TcpStream::connect_timeout(&admin_address, client::TIMEOUT).expect("connect to admin");
    stream
        .set_read_timeout(Some(client::TIMEOUT))
        .expect("timeout");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response
}

/// The value of the metric line that starts with `prefix` (name and
/// labels), or 0.
pub fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(prefix)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The `/status` entry of `zone` (with its final dot).
pub fn zone_status(admin_address: SocketAddr, zone: &str) -> Value {
    let (_, body) = admin(admin_address, "GET", "/status");
    body["zones"]
        .as_array()
        .and_then(|zones| zones.iter().find(|entry| entry["name"] == zone).cloned())
        .unwrap_or(Value::Null)
}

/// Writes a config with the test zones, `[admin]` and `extra` into `dir`.
pub fn config_with(dir: &Path, extra: &str) -> std::path::PathBuf {
    crate::server::write_config_with(
        dir,
        "",
        &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\n{extra}"),
    )
}

/// A primary written here: answers SOA queries, refuses IXFR (NOTIMP),
/// and answers AXFR whole, or cuts the connection after the first message
/// when `cut` is set.
struct CuttingPrimary {
    address: SocketAddr,
    serial: Arc<AtomicU32>,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl CuttingPrimary {
    fn start() -> CuttingPrimary {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let primary = CuttingPrimary {
            address: listener.local_addr().expect("address"),
            serial: Arc::new(AtomicU32::new(1)),
            cut: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (serial, cut, stop) = (
            primary.serial.clone(),
            primary.cut.clone(),
            primary.stop.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).expect("blocking");
                        let _ = serve_one(
                            stream,
                            serial.load(Ordering::Relaxed),
                            cut.load(Ordering::Relaxed),
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        primary
    }
}

impl Drop for CuttingPrimary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn apex() -> Name<Bytes> {
    Name::from_str("cut.test.").expect("name")
}

fn soa(serial: u32) -> Soa<Name<Bytes>> {
    Soa::new(
        Name::from_str("ns1.cut.test.").expect("name"),
        Name::from_str("hostmaster.cut.test.").expect("name"),
        Serial(serial),
        Ttl::from_secs(3600),
        Ttl::from_secs(600),
        Ttl::from_secs(86_400),
        Ttl::from_secs(60),
    )
}

/// Answers one query on `stream`.
fn serve_one(mut stream: TcpStream, serial: u32, cut: bool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut length = [0u8; 2];
    stream.read_exact(&mut length)?;
    let mut query = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut query)?;
    let query = Message::from_octets(query).expect("a query");
    let question = query.first_question().expect("a question");
    let respond = |rcode: Rcode| {
        let mut builder = MessageBuilder::new_vec();
        builder.header_mut().set_id(query.header().id());
        builder.header_mut().set_qr(true);
        builder.header_mut().set_aa(true);
        builder.header_mut().set_rcode(rcode);
        let mut question_builder = builder.question();
        question_builder.push(question).expect("question fits");
        question_builder.answer()
    };
    let send = |stream: &mut TcpStream, message: Vec<u8>| {
        let mut framed = (message.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&message);
        stream.write_all(&framed)
    };
    let ttl = Ttl::from_secs(300);
    match question.qtype() {
        Rtype::SOA => {
            let mut answer = respond(Rcode::NOERROR);
            answer
                .push((apex(), Class::IN, ttl, soa(serial)))
                .expect("fits");
            send(&mut stream, answer.finish())
        }
        Rtype::AXFR => {
            let mut first = respond(Rcode::NOERROR);
            first
                .push((apex(), Class::IN, ttl, soa(serial)))
                .expect("fits");
            first
                .push((
                    apex(),
                    Class::IN,
                    ttl,
                    Ns::new(Name::<Bytes>::from_str("ns1.cut.test.").expect("name")),
                ))
                .expect("fits");
            first
                .push((
                    Name::<Bytes>::from_str("ns1.cut.test.").expect("name"),
                    Class::IN,
                    ttl,
                    A::from_octets(192, 0, 2, 53),
                ))
                .expect("fits");
            for index in 0..50u8 {
                let owner =
                    Name::<Bytes>::from_str(&format!("host{index}.cut.test.")).expect("name");
                first
                    .push((
                        owner,
                        Class::IN,
                        ttl,
                        A::from_octets(192, 0, 2, (serial % 200) as u8 + 1),
                    ))
                    .expect("fits");
            }
            send(&mut stream, first.finish())?;
            if cut {
                // Mid-transfer: the closing SOA never comes.
                return stream.shutdown(std::net::Shutdown::Both);
            }
            let mut last = respond(Rcode::NOERROR);
            last.push((apex(), Class::IN, ttl, soa(serial)))
                .expect("fits");
            send(&mut stream, last.finish())
        }
        _ => send(&mut stream, respond(Rcode::NOTIMP).finish()),
    }
}

#[test]
fn a_transfer_cut_midway_leaves_the_old_zone_served() {
    let primary = CuttingPrimary::start();
    let extra = format!(
        r#"
[[zone]]
name = "cut.test"
primaries = ["{}"]
refresh_min = "1h"
refresh_max = "1h"
retry_min = "1h"
"#,
        primary.address
    );
    let server = TestServer::start_in(|dir| config_with(dir, &extra));
    let dns = server.ipv4();
    assert!(
        wait_until(Duration::from_secs(5), || served_serial(dns, "cut.test.")
            == Some(1)),
        "the first AXFR is served"
    );
    assert_eq!(lookup(dns, "host7.cut.test.").1, vec!["192.0.2.2"]);

    primary.serial.store(2, Ordering::Relaxed);
    primary.cut.store(true, Ordering::Relaxed);
    let (code, _) = admin(server.admin(), "POST", "/zones/cut.test./refresh");
    assert_eq!(code, 202);
    assert!(
        wait_until(Duration::from_secs(5), || {
            metric(
                &metrics(server.admin()),
                "dnslb_transfers_total{zone=\"cut.test.\",kind=\"axfr\",result=\"failure\"}",
            ) >= 1.0
        }),
        "the cut transfer is counted as failed:\n{}",
        metrics(server.admin())
    );
    assert_eq!(
        served_serial(dns, "cut.test."),
        Some(1),
        "the old zone stays"
    );
    assert_eq!(lookup(dns, "host7.cut.test.").1, vec!["192.0.2.2"]);
    let status = zone_status(server.admin(), "cut.test.");
    assert_eq!(status["state"], "refreshing", "{status}");
    assert!(
        status["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("mid-transfer"),
        "{status}"
    );

    // The primary mends: the next refresh takes serial 2.
    primary.cut.store(false, Ordering::Relaxed);
    admin(server.admin(), "POST", "/zones/cut.test./refresh");
    assert!(
        wait_until(Duration::from_secs(5), || served_serial(dns, "cut.test.")
            == Some(2)),
        "the mended transfer is served"
    );
    assert_eq!(lookup(dns, "host7.cut.test.").1, vec!["192.0.2.3"]);
    assert_eq!(zone_status(server.admin(), "cut.test.")["state"], "ok");
}
