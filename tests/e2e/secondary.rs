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

/// Waits up to 5 s for `server` to answer serial `serial` for `zone`;
/// panics with `what` and the primary's log otherwise.
fn await_serial(server: SocketAddr, zone: &str, serial: u32, what: &str, knot: &Knot) {
    assert!(
        wait_until(Duration::from_secs(5), || served_serial(server, zone)
            == Some(serial)),
        "{what}:\n{}",
        knot.log()
    );
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

use crate::knot::{Knot, KnotKey, KnotOptions, KnotZone, free_port, zone_text};

/// The `[[tsig]]` table for `key`, under the name `xfr-key`.
fn tsig_table(key: &KnotKey, secret: &str) -> String {
    format!(
        "\n[[tsig]]\nname = \"{}\"\nalgorithm = \"{}\"\nsecret = \"{secret}\"\n",
        key.name, key.algorithm
    )
}

/// A secondary `[[zone]]` of `name` from `primary`, with `settings`.
fn secondary_table(name: &str, primary: SocketAddr, settings: &str) -> String {
    format!("\n[[zone]]\nname = \"{name}\"\nprimaries = [\"{primary}\"]\n{settings}\n")
}

/// A zone text with `serial`, `records` A records and `extra` lines, whose
/// SOA has the given refresh, retry and expire.
fn timed_zone(
    name: &str,
    serial: u32,
    records: usize,
    timers: (u32, u32, u32),
    extra: &str,
) -> String {
    let (refresh, retry, expire) = timers;
    zone_text(name, serial, records).replacen(
        &format!("{serial} 3600 600 86400 60"),
        &format!("{serial} {refresh} {retry} {expire} 60"),
        1,
    ) + extra
}

#[test]
fn knot_primary_transfers_with_tsig_and_notify_brings_ixfr_within_a_second() {
    let key = KnotKey::test("xfr-key");
    let port = free_port();
    let primary = SocketAddr::from(([127, 0, 0, 1], port));
    let mut config_path = None;
    let extra = tsig_table(&key, &key.secret_base64)
        + &secondary_table(
            "example.net",
            primary,
            "tsig = \"xfr-key\"\nrefresh_min = \"1h\"\nrefresh_max = \"1h\"\nretry_min = \"1s\"",
        )
        + "\n[[service]]\nname = \"www.example.net\"\npolicy = \"round_robin\"\nbackends = [{ address = \"192.0.2.77\" }]\n";
    let server = TestServer::start_in(|dir| {
        let path = config_with(dir, &extra);
        config_path = Some(path.clone());
        path
    });
    let dns = server.ipv4();
    // No copy yet: SERVFAIL.
    assert_eq!(lookup(dns, "www0.example.net.").0, Rcode::SERVFAIL);
    assert_eq!(lookup(dns, "www.example.net.").0, Rcode::SERVFAIL);
    let Some(knot) = Knot::start_on(
        port,
        KnotOptions {
            zones: vec![KnotZone::new(
                "example.net",
                &(zone_text("example.net", 1, 200) + "www A 203.0.113.9\n"),
            )],
            tsig: Some(key.clone()),
            notify: vec![dns],
            catalog: None,
        },
    ) else {
        return;
    };
    await_serial(dns, "example.net.", 1, "the first AXFR is served", &knot);
    assert_eq!(lookup(dns, "www7.example.net.").1, vec!["10.0.0.7"]);
    // The service answers at its name, not the transfer's static A.
    assert_eq!(lookup(dns, "www.example.net.").1, vec!["192.0.2.77"]);
    let text = metrics(server.admin());
    assert_eq!(
        metric(
            &text,
            "dnslb_transfers_total{zone=\"example.net.\",kind=\"axfr\",result=\"success\"}"
        ),
        1.0,
        "{text}"
    );

    // A change on the primary: Knot's signed NOTIFY brings an IXFR.
    knot.change_zone(
        "example.net",
        &(zone_text("example.net", 2, 200).replace("www7 A 10.0.0.7", "www7 A 10.9.9.9")
            + "www A 203.0.113.9\n"),
    );
    let started = std::time::Instant::now();
    assert!(
        wait_until(Duration::from_secs(1), || served_serial(
            dns,
            "example.net."
        ) == Some(2)),
        "the new serial is served within 1 s of the reload:\n{}",
        knot.log()
    );
    let took = started.elapsed();
    eprintln!("NOTIFY to new serial served: {took:?}");
    assert_eq!(lookup(dns, "www7.example.net.").1, vec!["10.9.9.9"]);
    let text = metrics(server.admin());
    assert_eq!(
        metric(
            &text,
            "dnslb_transfers_total{zone=\"example.net.\",kind=\"ixfr\",result=\"success\"}"
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "dnslb_transfers_total{zone=\"example.net.\",kind=\"axfr\",result=\"success\"}"
        ),
        1.0,
        "no second AXFR: {text}"
    );
    assert_eq!(
        metric(&text, "dnslb_name_table_builds_total{kind=\"patched\"}"),
        1.0,
        "the IXFR's names were patched into the table, not built whole: {text}"
    );
    assert_eq!(lookup(dns, "www6.example.net.").1, vec!["10.0.0.6"]);
    assert!(
        metric(&text, "dnslb_notify_total{result=\"accepted\"}") >= 1.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "dnslb_zone_serial{zone=\"example.net.\"}"),
        2.0
    );
    let status = zone_status(server.admin(), "example.net.");
    assert_eq!(status["state"], "ok", "{status}");
    assert_eq!(status["serial"], 2, "{status}");

    // The wrong secret: Knot's NOTIFY gets NOTAUTH, the refresh fails, and
    // the zone stays as it was.
    let config_path = config_path.expect("config written");
    let config = std::fs::read_to_string(&config_path).expect("read config");
    std::fs::write(
        &config_path,
        config.replace(
            &key.secret_base64,
            "d3JvbmctZG5zbGIta25vdC10ZXN0LXNlY3JldC0zMg==",
        ),
    )
    .expect("write config");
    let (code, body) = admin(server.admin(), "POST", "/reload");
    assert_eq!(code, 200, "{body}");
    knot.change_zone(
        "example.net",
        &(zone_text("example.net", 3, 200) + "www A 203.0.113.9\n"),
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            metric(
                &metrics(server.admin()),
                "dnslb_notify_total{result=\"notauth\"}",
            ) >= 1.0
        }),
        "the NOTIFY signed with the other secret is NOTAUTH: {}",
        metrics(server.admin())
    );
    admin(server.admin(), "POST", "/zones/example.net/refresh");
    assert!(
        wait_until(Duration::from_secs(5), || {
            zone_status(server.admin(), "example.net.")["state"] == "refreshing"
        }),
        "the refresh fails: {}\n{}",
        zone_status(server.admin(), "example.net."),
        knot.log()
    );
    assert_eq!(
        served_serial(dns, "example.net."),
        Some(2),
        "the old zone stays"
    );
    assert_eq!(lookup(dns, "www7.example.net.").1, vec!["10.9.9.9"]);
}

#[test]
fn notify_from_elsewhere_is_refused_and_unsigned_is_notauth() {
    let key = KnotKey::test("xfr-key");
    let primary = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let extra = tsig_table(&key, &key.secret_base64)
        + &secondary_table(
            "signed.test",
            primary,
            "tsig = \"xfr-key\"\nretry_min = \"1h\"",
        )
        + &secondary_table(
            "elsewhere.test",
            primary,
            "notify_from = [\"192.0.2.1\"]\nretry_min = \"1h\"",
        )
        + &secondary_table("open.test", primary, "retry_min = \"1h\"");
    let server = TestServer::start_in(|dir| config_with(dir, &extra));
    let dns = server.ipv4();
    let rcode = |zone: &str, tcp: bool| {
        let message = client::notify_message(0x6e6f, zone);
        let reply = if tcp {
            client::tcp_exchange(&mut client::tcp_connect(dns), &message).expect("a TCP answer")
        } else {
            client::udp_raw(dns, &message, client::TIMEOUT).expect("a UDP answer")
        };
        assert_eq!(reply.id(), 0x6e6f);
        reply.rcode().rcode()
    };
    for tcp in [false, true] {
        assert_eq!(rcode("open.test.", tcp), Rcode::NOERROR, "tcp {tcp}");
        assert_eq!(rcode("elsewhere.test.", tcp), Rcode::REFUSED, "tcp {tcp}");
        assert_eq!(rcode("unknown.test.", tcp), Rcode::REFUSED, "tcp {tcp}");
        assert_eq!(rcode("signed.test.", tcp), Rcode::NOTAUTH, "tcp {tcp}");
        // A file zone takes no NOTIFY.
        assert_eq!(rcode("example.com.", tcp), Rcode::REFUSED, "tcp {tcp}");
    }
    let text = metrics(server.admin());
    assert_eq!(
        metric(&text, "dnslb_notify_total{result=\"accepted\"}"),
        2.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "dnslb_notify_total{result=\"refused\"}"),
        6.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "dnslb_notify_total{result=\"notauth\"}"),
        2.0,
        "{text}"
    );
}

#[test]
fn a_stopped_primary_leads_to_servfail_after_expire_and_back() {
    let port = free_port();
    let primary = SocketAddr::from(([127, 0, 0, 1], port));
    let extra = secondary_table(
        "expire.test",
        primary,
        "refresh_min = \"1s\"\nretry_min = \"1s\"\nexpire_min = \"1s\"",
    );
    let server = TestServer::start_in(|dir| config_with(dir, &extra));
    let dns = server.ipv4();
    let Some(knot) = Knot::start_on(
        port,
        KnotOptions {
            zones: vec![KnotZone::new(
                "expire.test",
                &timed_zone("expire.test", 5, 10, (1, 1, 4), ""),
            )],
            ..KnotOptions::default()
        },
    ) else {
        return;
    };
    await_serial(dns, "expire.test.", 5, "transferred", &knot);
    knot.stop();
    // Still served for a while (expire is 4 s after the last refresh).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lookup(dns, "www1.expire.test.").1, vec!["10.0.0.1"]);
    assert!(
        wait_until(Duration::from_secs(8), || lookup(dns, "www1.expire.test.")
            .0
            == Rcode::SERVFAIL),
        "SERVFAIL once expired"
    );
    assert_eq!(
        zone_status(server.admin(), "expire.test.")["state"],
        "expired"
    );
    assert_eq!(
        lookup(dns, "example.com.").0,
        Rcode::NOERROR,
        "other zones unaffected"
    );
    knot.start_again();
    assert!(
        wait_until(Duration::from_secs(8), || lookup(dns, "www1.expire.test.")
            .1
            == vec!["10.0.0.1"]),
        "served again once the primary is back"
    );
    assert_eq!(zone_status(server.admin(), "expire.test.")["state"], "ok");
}

/// A `[[catalog]]` for `catalog.test` from `primary`, retried each second.
fn catalog_table(primary: SocketAddr) -> String {
    format!(
        "\n[[catalog]]\nname = \"catalog.test\"\nprimaries = [\"{primary}\"]\nretry_min = \"1s\"\n"
    )
}

/// A server with the `[[catalog]]` of [`catalog_table`], from a primary
/// on the free port returned (for Knot to start on).
fn with_test_catalog() -> (u16, TestServer) {
    let port = free_port();
    let extra = catalog_table(SocketAddr::from(([127, 0, 0, 1], port)));
    (port, TestServer::start_in(|dir| config_with(dir, &extra)))
}

#[test]
fn catalog_members_are_added_and_removed() {
    let (port, server) = with_test_catalog();
    let dns = server.ipv4();
    let Some(knot) = Knot::start_on(
        port,
        KnotOptions {
            zones: vec![KnotZone::member(
                "first.test",
                &zone_text("first.test", 1, 3),
            )],
            notify: vec![dns],
            catalog: Some("catalog.test".to_owned()),
            ..KnotOptions::default()
        },
    ) else {
        return;
    };
    assert!(
        wait_until(Duration::from_secs(5), || served_serial(dns, "first.test.")
            == Some(1)),
        "the first member is served:\n{}",
        knot.log()
    );
    // The catalog itself is not served.
    assert_eq!(lookup(dns, "catalog.test.").0, Rcode::REFUSED);
    knot.add_member(KnotZone::member(
        "second.member.test",
        &zone_text("second.member.test", 7, 3),
    ));
    await_serial(
        dns,
        "second.member.test.",
        7,
        "an added member is served",
        &knot,
    );
    assert_eq!(
        zone_status(server.admin(), "second.member.test.")["role"],
        "member"
    );
    knot.remove_member("first.test");
    assert!(
        wait_until(Duration::from_secs(5), || lookup(dns, "www1.first.test.").0
            == Rcode::REFUSED),
        "a removed member is no longer served:\n{}",
        knot.log()
    );
    assert_eq!(zone_status(server.admin(), "first.test."), Value::Null);
    assert_eq!(served_serial(dns, "second.member.test."), Some(7));
}

/// A catalog zone (RFC 9432, version 2) listing `reset.test.` under the
/// unique id `id`, at `serial`: served by Knot as a plain zone, so the
/// test chooses the id.
fn catalog_listing(serial: u32, id: &str) -> String {
    format!(
        "$ORIGIN catalog.test.\n\
         @ 0 SOA invalid. invalid. {serial} 3600 600 2147483646 0\n\
         @ 0 NS invalid.\n\
         version 0 TXT \"2\"\n\
         {id}.zones 0 PTR reset.test.\n"
    )
}

#[test]
fn a_member_listed_under_a_new_unique_id_is_transferred_anew() {
    let (port, server) = with_test_catalog();
    let dns = server.ipv4();
    let Some(knot) = Knot::start_on(
        port,
        KnotOptions {
            zones: vec![
                KnotZone::new("catalog.test", &catalog_listing(1, "first")),
                KnotZone::new("reset.test", &zone_text("reset.test", 5, 3)),
            ],
            notify: vec![dns],
            ..KnotOptions::default()
        },
    ) else {
        return;
    };
    await_serial(dns, "reset.test.", 5, "the member is served", &knot);
    let axfrs = || {
        metric(
            &metrics(server.admin()),
            "dnslb_transfers_total{zone=\"reset.test.\",kind=\"axfr\",result=\"success\"}",
        )
    };
    let catalog_serial = || zone_status(server.admin(), "catalog.test.")["serial"].as_u64();
    assert_eq!(axfrs(), 1.0);
    // The catalog changes, the member's entry does not: nothing happens
    // to the member.
    knot.change_zone(
        "catalog.test",
        &format!(
            "{}other.zones 0 PTR absent.test.\n",
            catalog_listing(2, "first")
        ),
    );
    assert!(
        wait_until(Duration::from_secs(5), || catalog_serial() == Some(2)),
        "the catalog's new serial:\n{}",
        knot.log()
    );
    assert_eq!(axfrs(), 1.0, "the member is kept as it was");
    assert_eq!(served_serial(dns, "reset.test."), Some(5));
    // The same member under a new unique id: it is reset (RFC 9432 section
    // 5.6), its copy dropped and transferred anew.
    knot.change_zone("catalog.test", &catalog_listing(3, "second"));
    assert!(
        wait_until(Duration::from_secs(5), || axfrs() == 2.0),
        "the member transferred anew after its reset:\n{}",
        knot.log()
    );
    await_serial(dns, "reset.test.", 5, "the reset member is served", &knot);
    assert_eq!(zone_status(server.admin(), "reset.test.")["role"], "member");
    // The other entry's zone does not exist at the primary: it is tried,
    // and not served.
    assert_eq!(lookup(dns, "absent.test.").0, Rcode::REFUSED);
}

#[test]
fn a_restart_with_state_dir_answers_before_the_primary_is_reachable() {
    let state = tempfile::tempdir().expect("state dir");
    let port = free_port();
    let primary = SocketAddr::from(([127, 0, 0, 1], port));
    let extra = format!(
        "{}{}",
        secondary_table("kept.test", primary, "retry_min = \"1s\""),
        catalog_table(primary)
    );
    let settings = format!("state_dir = \"{}\"", state.path().display());
    let write = |dir: &Path| {
        crate::server::write_config_with(
            dir,
            &settings,
            &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\n{extra}"),
        )
    };
    let server = TestServer::start_in(write);
    let dns = server.ipv4();
    let Some(knot) = Knot::start_on(
        port,
        KnotOptions {
            zones: vec![
                KnotZone::new("kept.test", &zone_text("kept.test", 3, 20)),
                KnotZone::member("member.test", &zone_text("member.test", 4, 5)),
            ],
            notify: vec![dns],
            catalog: Some("catalog.test".to_owned()),
            ..KnotOptions::default()
        },
    ) else {
        return;
    };
    assert!(
        wait_until(Duration::from_secs(5), || {
            served_serial(dns, "kept.test.") == Some(3)
                && served_serial(dns, "member.test.") == Some(4)
        }),
        "transferred:\n{}",
        knot.log()
    );
    drop(server);
    knot.stop();
    assert!(state.path().join("kept.test.zone").exists());
    let server = TestServer::start_in(write);
    let dns = server.ipv4();
    // At once, from the saved copies, with the primary down.
    assert_eq!(served_serial(dns, "kept.test."), Some(3));
    assert_eq!(served_serial(dns, "member.test."), Some(4));
    assert_eq!(lookup(dns, "www2.kept.test.").1, vec!["10.0.0.2"]);
    let status = zone_status(server.admin(), "member.test.");
    assert_eq!(status["role"], "member", "{status}");
}
