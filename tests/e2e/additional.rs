//! Additional section processing, as Knot and NSD do it: answers of MX, SRV
//! and NS (at the apex) carry the A and AAAA records of their targets inside
//! the zone, over UDP and TCP; when the reply has no room for them they are
//! left out, a target at a time, and the answer stays complete without TC.

use domain::base::iana::{Class, OptRcode, Rtype};

use crate::client::{self, Edns};
use crate::server::{self, TestServer};

/// MX records at the apex of `many.test`, each to a target with an A and
/// an AAAA record.
const TARGETS: usize = 12;

/// A zone whose MX RRset fits 512 bytes and whose additional records do not.
fn many_targets_zone() -> String {
    let mut zone = String::from(
        "$ORIGIN many.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n\
         @ NS ns1\nns1 A 192.0.2.1\n",
    );
    for index in 0..TARGETS {
        zone.push_str(&format!(
            "@ MX {index} mx{index:02}\nmx{index:02} A 192.0.2.{}\nmx{index:02} AAAA 2001:db8::{}\n",
            10 + index,
            10 + index
        ));
    }
    zone
}

fn start() -> TestServer {
    TestServer::start_in(|dir| {
        std::fs::write(dir.join("many.test.zone"), many_targets_zone()).expect("write the zone");
        server::write_config_with(
            dir,
            "",
            "\n[[zone]]\nname = \"many.test\"\nfile = \"many.test.zone\"\n",
        )
    })
}

#[tokio::test]
async fn mx_srv_and_ns_answers_carry_their_targets_addresses() {
    let server = start();
    let addresses = [server.ipv4(), server.ipv6()];
    let cases: [(&str, Rtype, &[&str], &[&str]); 3] = [
        (
            "example.com",
            Rtype::MX,
            &["example.com. 3600 IN MX 10 mail.example.com."],
            &["mail.example.com. 3600 IN A 192.0.2.25"],
        ),
        (
            "_sip._udp.example.com",
            Rtype::SRV,
            &["_sip._udp.example.com. 3600 IN SRV 10 60 5060 sip.example.com"],
            &["sip.example.com. 3600 IN A 192.0.2.60"],
        ),
        (
            "example.com",
            Rtype::NS,
            &[
                "example.com. 3600 IN NS ns1.example.com.",
                "example.com. 3600 IN NS ns2.example.com.",
            ],
            &[
                "ns1.example.com. 3600 IN A 192.0.2.53",
                "ns1.example.com. 3600 IN AAAA 2001:db8::53",
                "ns2.example.com. 3600 IN A 198.51.100.53",
            ],
        ),
    ];
    for (name, rtype, answer, additional) in cases {
        for (via, reply) in client::ask_everywhere(&addresses, name, rtype, Class::IN).await {
            let context = format!("{name} {rtype} via {via}");
            assert_eq!(reply.rcode(), OptRcode::NOERROR, "{context}");
            assert!(reply.authoritative(), "{context}");
            assert_eq!(reply.answer(), client::lines(answer), "{context}");
            assert!(reply.authority().is_empty(), "{context}");
            assert_eq!(reply.additional(), client::lines(additional), "{context}");
        }
    }
    server.finish().await;
}

#[tokio::test]
async fn additional_records_that_do_not_fit_are_left_out_without_tc() {
    let server = start();
    let ask = |payload: Option<u16>| {
        let packet = client::message(
            7,
            "many.test",
            Rtype::MX,
            Class::IN,
            payload.map(Edns::payload),
        );
        client::udp_raw(server.ipv4(), &packet, client::TIMEOUT).expect("a UDP reply")
    };
    // With room, every target's A and AAAA.
    let all = ask(Some(1232));
    assert!(!all.truncated());
    assert_eq!(all.answer().len(), TARGETS);
    assert_eq!(all.additional().len(), 2 * TARGETS);
    // In 512 bytes, with or without EDNS: the whole answer, no TC, and the
    // first targets' addresses that fit, both of each target or neither.
    for payload in [Some(512), None] {
        let reply = ask(payload);
        assert_eq!(reply.rcode(), OptRcode::NOERROR);
        assert!(!reply.truncated(), "TC clear ({payload:?})");
        assert!(reply.bytes().len() <= 512, "{} bytes", reply.bytes().len());
        assert_eq!(
            reply.answer(),
            all.answer(),
            "the whole answer ({payload:?})"
        );
        let additional = reply.additional();
        assert!(
            additional.len() < all.additional().len(),
            "{} additional records ({payload:?})",
            additional.len()
        );
        assert_eq!(additional.len() % 2, 0, "{additional:?}");
        assert_eq!(additional, all.additional()[..additional.len()]);
    }
    server.finish().await;
}
