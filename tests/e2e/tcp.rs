//! DNS over TCP (RFC 7766): pipelined queries answered in order on one
//! connection, a misbehaving client losing only its own connection, the
//! idle timeout, and the cap on open connections (more in `tcp_limits.rs`).

use std::io::Write;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use dnslb::stats::CloseReason;
use dnslb::wire::DropReason;
use dnslb::wire::answer::Transport;
use domain::base::iana::{OptRcode, Rtype};

use crate::client;
use crate::packets;
use crate::server::{TestServer, wait_until};

/// Queries `www.example.com A` on an open connection and checks the answer.
fn assert_connection_answers(stream: &mut std::net::TcpStream, id: u16) {
    let reply = client::tcp_exchange(stream, &packets::query(id, "www.example.com", Rtype::A))
        .expect("the connection still answers");
    assert_eq!(reply.id(), id);
    assert_eq!(reply.rcode(), OptRcode::NOERROR);
    assert_eq!(reply.answer().len(), 2);
}

#[tokio::test]
async fn pipelined_queries_are_answered_in_order() {
    let server = TestServer::start();
    for address in [server.ipv4(), server.ipv6()] {
        let queries = [
            (11, "www.example.com", Rtype::A, OptRcode::NOERROR, 2),
            (12, "www.example.com", Rtype::AAAA, OptRcode::NOERROR, 1),
            (13, "nothing.example.com", Rtype::A, OptRcode::NXDOMAIN, 0),
        ];
        let mut frames = Vec::new();
        for (id, name, rtype, _, _) in queries {
            frames.extend_from_slice(&client::frame(&packets::query(id, name, rtype)));
        }
        let mut stream = client::tcp_connect(address);
        stream
            .write_all(&frames)
            .expect("one write of three queries");
        for (id, name, _, rcode, answers) in queries {
            let reply = client::read_frame(&mut stream).expect("a reply per query");
            assert_eq!(reply.id(), id, "replies in query order over {address}");
            assert_eq!(reply.rcode(), rcode, "{name} over {address}");
            assert_eq!(reply.answer().len(), answers, "{name} over {address}");
        }
    }
    server.finish().await;
}

#[tokio::test]
async fn query_then_half_close_gets_its_reply_before_the_close() {
    let server = TestServer::start();
    let mut stream = client::tcp_connect(server.ipv6());
    let packet = packets::query(21, "www.example.com", Rtype::AAAA);
    stream.write_all(&client::frame(&packet)).expect("write");
    stream.shutdown(Shutdown::Write).expect("half-close");
    let reply = client::read_frame(&mut stream).expect("the reply still comes");
    assert_eq!(reply.id(), 21);
    assert_eq!(reply.answer(), ["www.example.com. 30 IN AAAA 2001:db8::1"]);
    assert!(
        client::is_closed_by_server(&mut stream),
        "then the server closes"
    );
    server.finish().await;
}

#[tokio::test]
async fn garbage_closes_only_the_connection_that_sent_it() {
    let server = TestServer::start();
    let address = server.ipv4();
    let mut good = client::tcp_connect(address);
    assert_connection_answers(&mut good, 1);

    // A frame with a 4-byte payload: shorter than a header.
    let mut short = client::tcp_connect(address);
    short.write_all(&[0, 4, 1, 2, 3, 4]).expect("write");
    assert!(
        client::is_closed_by_server(&mut short),
        "short frame closes the connection"
    );
    assert_connection_answers(&mut good, 2);

    // A response (QR set) is not answered either, and costs the connection.
    let mut response = client::tcp_connect(address);
    response
        .write_all(&client::frame(&packets::response(3)))
        .expect("write");
    assert!(
        client::is_closed_by_server(&mut response),
        "a response closes the connection"
    );
    assert_connection_answers(&mut good, 4);

    let stats = server.stats();
    let counted = wait_until(client::TIMEOUT, || {
        let tcp = stats.total(Transport::Tcp);
        tcp.drops_for(DropReason::ShortPacket) == 1 && tcp.drops_for(DropReason::Response) == 1
    });
    assert!(counted, "both drops counted on the TCP thread");
    server.finish().await;
}

#[tokio::test]
async fn idle_connection_is_closed_after_the_timeout() {
    let server = TestServer::start_with(r#"tcp_idle_timeout = "300ms""#);
    let started = Instant::now();
    let mut stalled = client::tcp_connect(server.ipv4());
    stalled.write_all(&[0]).expect("write one byte of a length");
    assert!(
        client::is_closed_by_server(&mut stalled),
        "closed within the read timeout"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250),
        "not before the timeout: {elapsed:?}"
    );
    assert!(
        elapsed <= Duration::from_secs(1),
        "within about a second: {elapsed:?}"
    );

    // A connection that keeps querying outlives the timeout.
    let mut busy = client::tcp_connect(server.ipv4());
    for id in 0..6 {
        assert_connection_answers(&mut busy, id);
        std::thread::sleep(Duration::from_millis(100));
    }
    server.finish().await;
}

#[tokio::test]
async fn connection_past_the_cap_evicts_the_longest_idle() {
    let server = TestServer::start_with("tcp_max_connections = 2");
    let mut first = client::tcp_connect(server.ipv4());
    assert_connection_answers(&mut first, 1);
    let mut second = client::tcp_connect(server.ipv6());
    assert_connection_answers(&mut second, 2);
    // `first` asks again, so `second` has now gone longest without a query.
    assert_connection_answers(&mut first, 3);

    let mut third = client::tcp_connect(server.ipv4());
    assert_connection_answers(&mut third, 4);
    assert!(
        client::is_closed_by_server(&mut second),
        "the longest idle connection made room"
    );
    assert_connection_answers(&mut first, 5);
    assert_connection_answers(&mut third, 6);
    let stats = server.stats();
    let counted = wait_until(client::TIMEOUT, || {
        stats.total(Transport::Tcp).closes_for(CloseReason::Evicted) == 1
    });
    assert!(counted, "one eviction counted");
    server.finish().await;
}
