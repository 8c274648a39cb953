//! EDNS(0) (RFC 6891) and reply sizes: BADVERS for version 1, no OPT without
//! EDNS, the DO bit echoed, and UDP truncation at 512 bytes, at the
//! requestor's size, or not at all, with the client's retry over TCP.

use std::time::Duration;

use dnslb::wire::answer::Transport;
use domain::base::iana::{Class, OptRcode, Rtype};

use crate::client::{self, Edns};
use crate::packets;
use crate::server::{TestServer, wait_until};

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
