//! EDNS(0) (RFC 6891) and reply sizes: BADVERS for version 1, no OPT without
//! EDNS, the DO bit echoed, and UDP truncation at 512 bytes, at the
//! requestor's size, or not at all, with the client's retry over TCP; a
//! reload raising `server.udp_payload` lets UDP replies grow to it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use dnslb::wire::answer::Transport;
use domain::base::iana::{Class, OptRcode, Rtype};

use crate::client::{self, Edns};
use crate::packets;
use crate::server::{self, TestServer, wait_until};

/// The six TXT records of big.example.com.
const BIG_TXT_RECORDS: usize = 6;

fn big_txt() -> domain::net::client::request::RequestMessage<Vec<u8>> {
    client::request("big.example.com", Rtype::TXT)
}

#[tokio::test]
async fn edns_version_one_gets_badvers() {
    let server = TestServer::start();
    let edns = Edns {
        udp_payload: 1232,
        version: 1,
        dnssec_ok: false,
    };
    let packet = client::message(0x0b0b, "www.example.com", Rtype::A, Class::IN, Some(edns));
    let over_udp = client::udp_raw(server.ipv4(), &packet, client::TIMEOUT).expect("a UDP reply");
    let mut connection = client::tcp_connect(server.ipv6());
    let over_tcp = client::tcp_exchange(&mut connection, &packet).expect("a TCP reply");
    for reply in [over_udp, over_tcp] {
        assert_eq!(reply.id(), 0x0b0b);
        assert_eq!(reply.rcode(), OptRcode::BADVERS, "extended rcode 16");
        assert_eq!(
            reply.message.header().rcode().to_int(),
            0,
            "low 4 bits of 16 in the header"
        );
        let opt = reply.message.opt().expect("BADVERS is carried in an OPT");
        assert_eq!(opt.version(), 0, "we answer with the version we implement");
        assert_eq!(opt.udp_payload_size(), 1232);
        assert_eq!(reply.question(), ["www.example.com. A IN"]);
        assert!(reply.answer().is_empty());
    }
    server.finish().await;
}

#[tokio::test]
async fn query_without_edns_gets_no_opt() {
    let server = TestServer::start();
    let over_udp = client::udp_with_payload(
        server.ipv4(),
        client::request("www.example.com", Rtype::A),
        None,
    )
    .await;
    let packet = packets::query(7, "www.example.com", Rtype::A);
    let mut connection = client::tcp_connect(server.ipv4());
    let over_tcp = client::tcp_exchange(&mut connection, &packet).expect("a TCP reply");
    for reply in [over_udp, over_tcp] {
        assert_eq!(reply.rcode(), OptRcode::NOERROR);
        assert_eq!(reply.answer().len(), 2);
        assert_eq!(
            reply.opt_count(),
            0,
            "no OPT in reply to a query without one"
        );
    }
    server.finish().await;
}

#[tokio::test]
async fn dnssec_ok_bit_is_echoed() {
    let server = TestServer::start();
    for dnssec_ok in [false, true] {
        let edns = Edns {
            udp_payload: 4096,
            version: 0,
            dnssec_ok,
        };
        let packet = client::message(1, "www.example.com", Rtype::AAAA, Class::IN, Some(edns));
        let reply = client::udp_raw(server.ipv6(), &packet, client::TIMEOUT).expect("a reply");
        assert_eq!(reply.rcode(), OptRcode::NOERROR);
        assert_eq!(reply.answer(), ["www.example.com. 30 IN AAAA 2001:db8::1"]);
        let opt = reply.message.opt().expect("OPT");
        assert_eq!(opt.dnssec_ok(), dnssec_ok);
        assert_eq!(
            opt.udp_payload_size(),
            1232,
            "we advertise our size, not theirs"
        );
    }
    server.finish().await;
}

#[tokio::test]
async fn udp_reply_without_edns_is_truncated_to_512_bytes() {
    let server = TestServer::start();
    let reply = client::udp_with_payload(server.ipv4(), big_txt(), None).await;
    assert_eq!(reply.rcode(), OptRcode::NOERROR);
    assert!(reply.truncated(), "TC set");
    assert!(reply.bytes().len() <= 512, "{} bytes", reply.bytes().len());
    assert!(reply.answer().len() < BIG_TXT_RECORDS);
    assert_eq!(reply.opt_count(), 0);
    server.finish().await;
}

#[tokio::test]
async fn edns_payload_below_512_counts_as_512() {
    let server = TestServer::start();
    // The referral (NS and glue) takes more than 100 bytes, well under 512.
    let packet = client::message(
        5,
        "www.sub.example.com",
        Rtype::A,
        Class::IN,
        Some(Edns::payload(100)),
    );
    let reply = client::udp_raw(server.ipv4(), &packet, client::TIMEOUT).expect("a reply");
    assert_eq!(reply.rcode(), OptRcode::NOERROR);
    assert!(!reply.truncated(), "TC clear");
    assert_eq!((reply.authority().len(), reply.additional().len()), (2, 2));
    let len = reply.bytes().len();
    assert!(len > 100 && len <= 512, "{len} bytes");
    server.finish().await;
}

#[tokio::test]
async fn udp_reply_with_edns_4096_is_complete_within_our_1232() {
    let server = TestServer::start();
    let reply = client::udp_with_payload(server.ipv4(), big_txt(), Some(4096)).await;
    assert_eq!(reply.rcode(), OptRcode::NOERROR);
    assert!(!reply.truncated(), "TC clear");
    assert!(reply.bytes().len() <= 1232, "{} bytes", reply.bytes().len());
    assert_eq!(reply.answer().len(), BIG_TXT_RECORDS);
    assert_eq!(reply.edns_payload(), Some(1232));
    server.finish().await;
}

#[tokio::test]
async fn udp_reply_with_edns_600_is_truncated_to_600_bytes() {
    let server = TestServer::start();
    let reply = client::udp_with_payload(server.ipv6(), big_txt(), Some(600)).await;
    assert_eq!(reply.rcode(), OptRcode::NOERROR);
    assert!(reply.truncated(), "TC set");
    assert!(reply.bytes().len() <= 600, "{} bytes", reply.bytes().len());
    assert!(reply.answer().len() < BIG_TXT_RECORDS);
    assert_eq!(
        reply.edns_payload(),
        Some(1232),
        "OPT kept in a truncated reply"
    );
    server.finish().await;
}

#[tokio::test]
async fn truncated_udp_reply_is_retried_over_tcp() {
    let server = TestServer::start();
    let reply = client::udp_then_tcp(server.ipv4(), big_txt()).await;
    assert_eq!(reply.rcode(), OptRcode::NOERROR);
    assert!(!reply.truncated(), "the final reply is complete");
    assert_eq!(reply.answer().len(), BIG_TXT_RECORDS);
    let stats = server.stats();
    let counted = wait_until(Duration::from_secs(2), || {
        stats.total(Transport::Udp).truncated >= 1 && stats.total(Transport::Tcp).received >= 1
    });
    assert!(counted, "one truncated UDP reply, then a TCP query");
    server.finish().await;
}

/// TXT records of `big.payload.test`: 20 strings of 120 bytes, about 2.6 KB
/// in all, over 1232 and under 4096.
const PAYLOAD_TXT_RECORDS: usize = 20;

/// A zone whose one TXT RRset takes about 2.6 KB on the wire.
fn payload_zone() -> String {
    let mut zone = String::from(
        "$ORIGIN payload.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.1\n",
    );
    for record in 0..PAYLOAD_TXT_RECORDS {
        zone.push_str(&format!("big TXT \"{record:03}{}\"\n", "x".repeat(117)));
    }
    zone
}

/// Writes the test config with `server.udp_payload = payload`, the zone of
/// [`payload_zone`] and an admin listener; returns the config's path.
fn write_payload_config(dir: &Path, payload: u16) -> std::path::PathBuf {
    std::fs::write(dir.join("payload.test.zone"), payload_zone()).expect("write the zone");
    server::write_config_with(
        dir,
        &format!("udp_payload = {payload}"),
        "\n[[zone]]\nname = \"payload.test\"\nfile = \"payload.test.zone\"\n\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n",
    )
}

/// `POST /reload` on the admin listener; returns the HTTP status.
fn post_reload(admin: SocketAddr) -> u16 {
    let mut stream = TcpStream::connect_timeout(&admin, client::TIMEOUT).expect("admin connect");
    stream
        .set_read_timeout(Some(client::TIMEOUT))
        .expect("read timeout");
    stream
        .write_all(b"POST /reload HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"))
}

#[tokio::test]
async fn reload_raising_udp_payload_lets_udp_replies_grow_to_it() {
    let mut config_path = None;
    let server = TestServer::start_in(|dir| {
        let path = write_payload_config(dir, 1232);
        config_path = Some(path.clone());
        path
    });
    let config_path = config_path.expect("config written");
    // Sent as raw bytes: `domain`'s datagram transport reads at most 2000.
    let packet = client::message(
        0x2600,
        "big.payload.test",
        Rtype::TXT,
        Class::IN,
        Some(Edns::payload(4096)),
    );
    let ask = || client::udp_raw(server.ipv4(), &packet, client::TIMEOUT).expect("a UDP reply");

    let reply = ask();
    assert!(reply.truncated(), "over 1232 bytes: TC set");
    assert_eq!(reply.edns_payload(), Some(1232));

    write_payload_config(config_path.parent().expect("a directory"), 4096);
    assert_eq!(post_reload(server.admin()), 200, "the reload is accepted");
    let reply = ask();
    assert_eq!(
        reply.edns_payload(),
        Some(4096),
        "the OPT advertises the new size"
    );
    assert_eq!(reply.rcode(), OptRcode::NOERROR);
    assert!(!reply.truncated(), "TC clear at 4096");
    assert_eq!(reply.answer().len(), PAYLOAD_TXT_RECORDS, "every record");
    let len = reply.bytes().len();
    assert!(len > 2500 && len <= 4096, "{len} bytes");
    server.finish().await;
}
