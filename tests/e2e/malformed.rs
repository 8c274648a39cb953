//! Malformed and unwanted packets sent as raw UDP datagrams: FORMERR with or
//! without the question echoed, NOTIMP for other opcodes, and silence
//! (counted) for responses and packets shorter than a header.

use std::time::Duration;

use dnslb::wire::DropReason;
use dnslb::wire::answer::Transport;
use domain::base::iana::{Opcode, OptRcode, Rtype};

use crate::client::{self, Reply};
use crate::packets;
use crate::server::{TestServer, wait_until};

/// How long to wait to be sure no reply is coming.
const SILENCE: Duration = Duration::from_millis(200);
/// The ID every packet here carries.
const ID: u16 = 0x4242;

fn reply_to(server: &TestServer, packet: &[u8]) -> Reply {
    let reply = client::udp_raw(server.ipv4(), packet, client::TIMEOUT).expect("a reply");
    assert_eq!(reply.id(), ID, "ID echoed");
    assert!(reply.message.header().qr(), "QR set");
    assert!(!reply.authoritative(), "errors are not authoritative");
    assert!(reply.answer().is_empty());
    assert!(reply.authority().is_empty());
    reply
}

#[tokio::test]
async fn two_questions_are_formerr_without_a_question() {
    let server = TestServer::start();
    let reply = reply_to(&server, &packets::two_questions(ID));
    assert_eq!(reply.rcode(), OptRcode::FORMERR);
    assert!(reply.question().is_empty(), "no question echoed");
    server.finish().await;
}

#[tokio::test]
async fn truncated_question_is_formerr() {
    let server = TestServer::start();
    let reply = reply_to(&server, &packets::truncated_question(ID));
    assert_eq!(reply.rcode(), OptRcode::FORMERR);
    assert!(
        reply.question().is_empty(),
        "a cut question cannot be echoed"
    );
    server.finish().await;
}

#[tokio::test]
async fn compressed_question_name_is_formerr() {
    let server = TestServer::start();
    let reply = reply_to(&server, &packets::compressed_question(ID));
    assert_eq!(reply.rcode(), OptRcode::FORMERR);
    server.finish().await;
}

#[tokio::test]
async fn meta_type_in_the_question_is_formerr() {
    let server = TestServer::start();
    for rtype in [Rtype::OPT, Rtype::TSIG] {
        let reply = reply_to(&server, &packets::query(ID, "www.example.com", rtype));
        assert_eq!(reply.rcode(), OptRcode::FORMERR, "{rtype}");
    }
    server.finish().await;
}

#[tokio::test]
async fn zone_transfer_is_refused() {
    let server = TestServer::start();
    let packet = packets::query(ID, "example.com", Rtype::AXFR);
    let mut stream = client::tcp_connect(server.ipv4());
    let over_tcp = client::tcp_exchange(&mut stream, &packet).expect("a TCP reply");
    let over_udp = reply_to(&server, &packet);
    for reply in [over_tcp, over_udp] {
        assert_eq!(reply.id(), ID);
        assert_eq!(reply.rcode(), OptRcode::REFUSED);
        assert!(reply.answer().is_empty());
    }
    server.finish().await;
}

#[tokio::test]
async fn trailing_garbage_is_formerr_with_the_question_echoed() {
    let server = TestServer::start();
    let reply = reply_to(&server, &packets::trailing_garbage(ID));
    assert_eq!(reply.rcode(), OptRcode::FORMERR);
    assert_eq!(reply.question(), ["www.example.com. A IN"]);
    server.finish().await;
}

#[tokio::test]
async fn two_opt_records_are_formerr() {
    let server = TestServer::start();
    let reply = reply_to(&server, &packets::two_opt_records(ID));
    assert_eq!(reply.rcode(), OptRcode::FORMERR);
    assert_eq!(reply.question(), ["www.example.com. A IN"]);
    server.finish().await;
}

#[tokio::test]
async fn update_opcode_is_notimp() {
    let server = TestServer::start();
    let reply = reply_to(&server, &packets::update(ID));
    assert_eq!(reply.rcode(), OptRcode::NOTIMP);
    assert_eq!(
        reply.message.header().opcode(),
        Opcode::UPDATE,
        "opcode copied"
    );
    assert_eq!(reply.question(), ["www.example.com. A IN"]);
    server.finish().await;
}

/// Sends `packet`, checks that nothing comes back and that the UDP workers
/// count it as dropped for `reason`.
fn assert_dropped(server: &TestServer, packet: &[u8], reason: DropReason) {
    let before = server.stats().total(Transport::Udp).drops_for(reason);
    for address in [server.ipv4(), server.ipv6()] {
        let reply = client::udp_raw(address, packet, SILENCE);
        assert!(reply.is_none(), "no reply over {address}: {reply:?}");
    }
    let counted = wait_until(client::TIMEOUT, || {
        server.stats().total(Transport::Udp).drops_for(reason) >= before + 2
    });
    assert!(counted, "two drops counted as {}", reason.name());
}

#[tokio::test]
async fn response_is_not_answered_and_is_counted() {
    let server = TestServer::start();
    assert_dropped(&server, &packets::response(ID), DropReason::Response);
    server.finish().await;
}

#[tokio::test]
async fn packet_shorter_than_a_header_is_not_answered_and_is_counted() {
    let server = TestServer::start();
    assert_dropped(&server, &packets::short(ID), DropReason::ShortPacket);
    server.finish().await;
}
