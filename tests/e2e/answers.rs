//! What the server answers, over UDP and TCP on IPv4 and IPv6: positive
//! answers with exact RRsets and TTLs, 0x20 case echo, CNAME chains (inside,
//! across and out of our zones, and loops), wildcards and empty
//! non-terminals, negative answers with their SOA, referrals and DS at a
//! cut, REFUSED for other zones and classes, CHAOS version, and ANY.

use domain::base::iana::{Class, OptRcode, Rtype};

use crate::client::{self, Reply};
use crate::server::TestServer;

/// The SOA of example.com as negative answers carry it: TTL min(3600, 300).
pub const EXAMPLE_SOA: &str = "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2026112501 7200 900 1209600 300";
/// The SOA of second.test as negative answers carry it: TTL min(600, 60).
const SECOND_SOA: &str =
    "second.test. 60 IN SOA ns1.second.test. hostmaster.second.test. 1 7200 900 1209600 60";

/// What every reply to one question must hold.
#[derive(Clone, Copy, Debug)]
struct Expected<'a> {
    rcode: OptRcode,
    authoritative: bool,
    answer: &'a [&'a str],
    authority: &'a [&'a str],
    additional: &'a [&'a str],
}

impl Expected<'_> {
    /// An authoritative NOERROR answer with `answer` and nothing else.
    fn answer<'a>(answer: &'a [&'a str]) -> Expected<'a> {
        Expected {
            rcode: OptRcode::NOERROR,
            authoritative: true,
            answer,
            authority: &[],
            additional: &[],
        }
    }

    /// An authoritative negative answer: `rcode` with `soa` in authority.
    fn negative<'a>(rcode: OptRcode, soa: &'a [&'a str]) -> Expected<'a> {
        Expected {
            rcode,
            authoritative: true,
            answer: &[],
            authority: soa,
            additional: &[],
        }
    }

    /// A non-authoritative reply with `rcode` and empty sections.
    fn error(rcode: OptRcode) -> Expected<'static> {
        Expected {
            rcode,
            authoritative: false,
            answer: &[],
            authority: &[],
            additional: &[],
        }
    }
}

/// Asks `name`/`rtype`/`class` over UDP and TCP on both of the server's
/// addresses and checks each reply against `expected`, and that each echoes
/// the question and carries our OPT advertising 1232.
async fn expect_everywhere(
    server: &TestServer,
    name: &str,
    rtype: Rtype,
    class: Class,
    expected: Expected<'_>,
) {
    let addresses = [server.ipv4(), server.ipv6()];
    for (via, reply) in client::ask_everywhere(&addresses, name, rtype, class).await {
        check(&via, &reply, name, rtype, class, &expected);
    }
}

fn check(
    via: &str,
    reply: &Reply,
    name: &str,
    rtype: Rtype,
    class: Class,
    expected: &Expected<'_>,
) {
    let context = format!("{name} {rtype} {class} via {via}");
    assert!(reply.message.header().qr(), "{context}: QR");
    assert_eq!(reply.rcode(), expected.rcode, "{context}: rcode");
    assert_eq!(
        reply.authoritative(),
        expected.authoritative,
        "{context}: AA"
    );
    assert!(!reply.truncated(), "{context}: TC");
    assert_eq!(
        reply.question(),
        [format!("{name}. {rtype} {class}")],
        "{context}: question"
    );
    assert_eq!(
        reply.answer(),
        client::lines(expected.answer),
        "{context}: answer"
    );
    assert_eq!(
        reply.authority(),
        client::lines(expected.authority),
        "{context}: authority"
    );
    assert_eq!(
        reply.additional(),
        client::lines(expected.additional),
        "{context}: additional"
    );
    assert_eq!(reply.edns_payload(), Some(1232), "{context}: OPT");
    assert_eq!(reply.opt_count(), 1, "{context}: one OPT");
}

async fn expect_in(server: &TestServer, name: &str, rtype: Rtype, expected: Expected<'_>) {
    expect_everywhere(server, name, rtype, Class::IN, expected).await;
}

#[tokio::test]
async fn a_and_aaaa_answers_have_exact_rrsets_with_ttl_30() {
    let server = TestServer::start();
    let a = [
        "www.example.com. 30 IN A 192.0.2.1",
        "www.example.com. 30 IN A 192.0.2.2",
    ];
    expect_in(&server, "www.example.com", Rtype::A, Expected::answer(&a)).await;
    let aaaa = ["www.example.com. 30 IN AAAA 2001:db8::1"];
    expect_in(
        &server,
        "www.example.com",
        Rtype::AAAA,
        Expected::answer(&aaaa),
    )
    .await;
    server.finish().await;
}

#[tokio::test]
async fn mixed_case_question_is_echoed_byte_for_byte() {
    let server = TestServer::start();
    let name = "WwW.ExAmPlE.cOm";
    let wire_name = b"\x03WwW\x07ExAmPlE\x03cOm\x00";
    let addresses = [server.ipv4(), server.ipv6()];
    for (via, reply) in client::ask_everywhere(&addresses, name, Rtype::A, Class::IN).await {
        assert_eq!(reply.rcode(), OptRcode::NOERROR, "via {via}");
        assert_eq!(
            &reply.bytes()[12..12 + wire_name.len()],
            wire_name,
            "question name bytes via {via}"
        );
        assert_eq!(reply.question(), ["WwW.ExAmPlE.cOm. A IN"], "via {via}");
        assert_eq!(
            client::lowercase(&reply.answer()),
            [
                "www.example.com. 30 in a 192.0.2.1",
                "www.example.com. 30 in a 192.0.2.2"
            ],
            "answer owners match case-insensitively via {via}"
        );
    }
    server.finish().await;
}

#[tokio::test]
async fn cname_chain_is_followed_in_order() {
    let server = TestServer::start();
    let chain = [
        "chain.example.com. 3600 IN CNAME alias.example.com.",
        "alias.example.com. 3600 IN CNAME www.example.com.",
        "www.example.com. 30 IN A 192.0.2.1",
        "www.example.com. 30 IN A 192.0.2.2",
    ];
    expect_in(
        &server,
        "chain.example.com",
        Rtype::A,
        Expected::answer(&chain),
    )
    .await;
    // Asking for the CNAME itself gets only the CNAME.
    let cname = ["alias.example.com. 3600 IN CNAME www.example.com."];
    expect_in(
        &server,
        "alias.example.com",
        Rtype::CNAME,
        Expected::answer(&cname),
    )
    .await;
    server.finish().await;
}

#[tokio::test]
async fn cname_out_of_our_zones_returns_only_the_cname() {
    let server = TestServer::start();
    let outside = ["outside.example.com. 3600 IN CNAME www.example.net."];
    expect_in(
        &server,
        "outside.example.com",
        Rtype::A,
        Expected::answer(&outside),
    )
    .await;
    server.finish().await;
}

#[tokio::test]
async fn cname_into_another_of_our_zones_is_followed() {
    let server = TestServer::start();
    let into = [
        "into.second.test. 600 IN CNAME www.example.com.",
        "www.example.com. 30 IN A 192.0.2.1",
        "www.example.com. 30 IN A 192.0.2.2",
    ];
    expect_in(
        &server,
        "into.second.test",
        Rtype::A,
        Expected::answer(&into),
    )
    .await;
    server.finish().await;
}

#[tokio::test]
async fn cname_target_gets_the_answer_it_would_get_itself() {
    let server = TestServer::start();
    // Into a delegation: our CNAME (authoritative), then the referral.
    let to_referral = Expected {
        rcode: OptRcode::NOERROR,
        authoritative: true,
        answer: &["tosub.second.test. 600 IN CNAME www.sub.example.com."],
        authority: &[
            "sub.example.com. 3600 IN NS ns1.sub.example.com.",
            "sub.example.com. 3600 IN NS ns2.sub.example.com.",
        ],
        additional: &[
            "ns1.sub.example.com. 3600 IN A 192.0.2.153",
            "ns2.sub.example.com. 3600 IN AAAA 2001:db8::153",
        ],
    };
    expect_in(&server, "tosub.second.test", Rtype::A, to_referral).await;
    // To a missing name: NXDOMAIN (RFC 6604) with the target zone's SOA.
    let to_nxdomain = Expected {
        answer: &["tonothing.second.test. 600 IN CNAME nothing.example.com."],
        ..Expected::negative(OptRcode::NXDOMAIN, &[EXAMPLE_SOA])
    };
    expect_in(&server, "tonothing.second.test", Rtype::A, to_nxdomain).await;
    // To an empty non-terminal: NODATA.
    let to_nodata = Expected {
        answer: &["toempty.second.test. 600 IN CNAME b.example.com."],
        ..Expected::negative(OptRcode::NOERROR, &[EXAMPLE_SOA])
    };
    expect_in(&server, "toempty.second.test", Rtype::A, to_nodata).await;
    // To a name the wildcard covers: owned by the CNAME's target.
    let to_wildcard = [
        "towild.second.test. 600 IN CNAME some.apps.example.com.",
        "some.apps.example.com. 3600 IN TXT \"wildcard\"",
    ];
    expect_in(
        &server,
        "towild.second.test",
        Rtype::TXT,
        Expected::answer(&to_wildcard),
    )
    .await;
    server.finish().await;
}

#[tokio::test]
async fn cname_loop_is_cut_after_eight_links() {
    let server = TestServer::start();
    let links = [
        "loop1.second.test. 600 IN CNAME loop2.second.test.",
        "loop2.second.test. 600 IN CNAME loop1.second.test.",
    ];
    let addresses = [server.ipv4(), server.ipv6()];
    let replies = tokio::time::timeout(
        client::TIMEOUT * 4,
        client::ask_everywhere(&addresses, "loop1.second.test", Rtype::A, Class::IN),
    )
    .await
    .expect("a CNAME loop is answered promptly");
    for (via, reply) in replies {
        assert_eq!(reply.rcode(), OptRcode::NOERROR, "via {via}");
        assert!(reply.authoritative(), "via {via}");
        let answer = reply.answer();
        assert!(
            (8..=9).contains(&answer.len()),
            "8 links followed, at most 9 CNAMEs, via {via}: {answer:#?}"
        );
        for (index, record) in answer.iter().enumerate() {
            assert_eq!(record, links[index % 2], "record {index} via {via}");
        }
    }
    server.finish().await;
}

#[tokio::test]
async fn wildcard_answers_with_the_query_name_as_owner() {
    let server = TestServer::start();
    let a = ["anything.apps.example.com. 3600 IN A 192.0.2.80"];
    expect_in(
        &server,
        "anything.apps.example.com",
        Rtype::A,
        Expected::answer(&a),
    )
    .await;
    let txt = ["anything.apps.example.com. 3600 IN TXT \"wildcard\""];
    expect_in(
        &server,
        "anything.apps.example.com",
        Rtype::TXT,
        Expected::answer(&txt),
    )
    .await;
    let deep = ["two.deep.apps.example.com. 3600 IN A 192.0.2.80"];
    expect_in(
        &server,
        "two.deep.apps.example.com",
        Rtype::A,
        Expected::answer(&deep),
    )
    .await;
    // A type the wildcard lacks is NODATA.
    let nodata = Expected::negative(OptRcode::NOERROR, &[EXAMPLE_SOA]);
    expect_in(&server, "anything.apps.example.com", Rtype::AAAA, nodata).await;
    server.finish().await;
}

#[tokio::test]
async fn empty_non_terminal_is_nodata_and_not_covered_by_the_wildcard() {
    let server = TestServer::start();
    // b exists only as the parent of a.b: NODATA, not NXDOMAIN.
    let nodata = Expected::negative(OptRcode::NOERROR, &[EXAMPLE_SOA]);
    expect_in(&server, "b.example.com", Rtype::A, nodata).await;
    let nxdomain = Expected::negative(OptRcode::NXDOMAIN, &[EXAMPLE_SOA]);
    expect_in(&server, "x.b.example.com", Rtype::A, nxdomain).await;
    let a = ["a.b.example.com. 3600 IN A 192.0.2.70"];
    expect_in(&server, "a.b.example.com", Rtype::A, Expected::answer(&a)).await;

    // In second.test, e.w is an empty non-terminal under the wildcard *.w:
    // it exists, so it is NODATA rather than the wildcard, and the names
    // below it (closest encloser e.w, which has no wildcard) are NXDOMAIN.
    let wildcard = ["y.w.second.test. 600 IN A 192.0.2.90"];
    expect_in(
        &server,
        "y.w.second.test",
        Rtype::A,
        Expected::answer(&wildcard),
    )
    .await;
    let nodata = Expected::negative(OptRcode::NOERROR, &[SECOND_SOA]);
    expect_in(&server, "e.w.second.test", Rtype::A, nodata).await;
    let nxdomain = Expected::negative(OptRcode::NXDOMAIN, &[SECOND_SOA]);
    expect_in(&server, "x.e.w.second.test", Rtype::A, nxdomain).await;
    server.finish().await;
}

#[tokio::test]
async fn negative_answers_carry_the_soa_with_the_minimum_ttl() {
    let server = TestServer::start();
    let nxdomain = Expected::negative(OptRcode::NXDOMAIN, &[EXAMPLE_SOA]);
    expect_in(&server, "nothing.example.com", Rtype::A, nxdomain).await;
    let nodata = Expected::negative(OptRcode::NOERROR, &[EXAMPLE_SOA]);
    expect_in(&server, "www.example.com", Rtype::MX, nodata).await;
    let nxdomain = Expected::negative(OptRcode::NXDOMAIN, &[SECOND_SOA]);
    expect_in(&server, "nothing.second.test", Rtype::A, nxdomain).await;
    let nodata = Expected::negative(OptRcode::NOERROR, &[SECOND_SOA]);
    expect_in(&server, "ns1.second.test", Rtype::AAAA, nodata).await;
    server.finish().await;
}

#[tokio::test]
async fn names_at_and_below_a_zone_cut_get_a_referral_with_glue() {
    let server = TestServer::start();
    let referral = Expected {
        rcode: OptRcode::NOERROR,
        authoritative: false,
        answer: &[],
        authority: &[
            "sub.example.com. 3600 IN NS ns1.sub.example.com.",
            "sub.example.com. 3600 IN NS ns2.sub.example.com.",
        ],
        additional: &[
            "ns1.sub.example.com. 3600 IN A 192.0.2.153",
            "ns2.sub.example.com. 3600 IN AAAA 2001:db8::153",
        ],
    };
    for name in [
        "www.sub.example.com",
        "sub.example.com",
        "ns1.sub.example.com",
    ] {
        expect_in(&server, name, Rtype::A, referral).await;
    }
    server.finish().await;
}

#[tokio::test]
async fn ds_at_a_zone_cut_is_answered_by_the_parent() {
    let server = TestServer::start();
    let nodata = Expected::negative(OptRcode::NOERROR, &[EXAMPLE_SOA]);
    expect_in(&server, "sub.example.com", Rtype::DS, nodata).await;
    server.finish().await;
}

#[tokio::test]
async fn name_in_no_zone_of_ours_is_refused() {
    let server = TestServer::start();
    expect_in(
        &server,
        "www.example.org",
        Rtype::A,
        Expected::error(OptRcode::REFUSED),
    )
    .await;
    expect_in(
        &server,
        "com",
        Rtype::NS,
        Expected::error(OptRcode::REFUSED),
    )
    .await;
    server.finish().await;
}

#[tokio::test]
async fn chaos_version_is_refused_when_not_configured() {
    let server = TestServer::start();
    let refused = Expected::error(OptRcode::REFUSED);
    expect_everywhere(&server, "version.bind", Rtype::TXT, Class::CH, refused).await;
    server.finish().await;
}

#[tokio::test]
async fn chaos_version_is_answered_when_configured() {
    let server = TestServer::start_with(r#"version = "dnslb-test""#);
    for name in ["version.bind", "version.server"] {
        let answer = [format!("{name}. 0 CH TXT \"dnslb-test\"")];
        let answer: Vec<&str> = answer.iter().map(String::as_str).collect();
        expect_everywhere(
            &server,
            name,
            Rtype::TXT,
            Class::CH,
            Expected::answer(&answer),
        )
        .await;
    }
    // The identity is not configured, and CH is only for TXT.
    let refused = Expected::error(OptRcode::REFUSED);
    expect_everywhere(&server, "id.server", Rtype::TXT, Class::CH, refused).await;
    let refused = Expected::error(OptRcode::REFUSED);
    expect_everywhere(&server, "version.bind", Rtype::A, Class::CH, refused).await;
    server.finish().await;
}

#[tokio::test]
async fn class_other_than_in_or_ch_is_refused() {
    let server = TestServer::start();
    let refused = Expected::error(OptRcode::REFUSED);
    expect_everywhere(&server, "www.example.com", Rtype::A, Class::HS, refused).await;
    server.finish().await;
}

#[tokio::test]
async fn any_gets_one_synthesized_hinfo() {
    let server = TestServer::start();
    let addresses = [server.ipv4(), server.ipv6()];
    for (via, reply) in
        client::ask_everywhere(&addresses, "www.example.com", Rtype::ANY, Class::IN).await
    {
        assert_eq!(reply.rcode(), OptRcode::NOERROR, "via {via}");
        assert!(reply.authoritative(), "via {via}");
        let answer = reply.answer();
        assert_eq!(answer.len(), 1, "exactly one record via {via}: {answer:#?}");
        let fields: Vec<&str> = answer[0].split(' ').collect();
        assert_eq!(fields[0], "www.example.com.", "owner via {via}");
        assert_eq!(
            &fields[2..],
            ["IN", "HINFO", "\"RFC8482\"", "\"\""],
            "via {via}"
        );
    }
    server.finish().await;
}
