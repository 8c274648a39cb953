//! A parent zone and its child zone served together (RFC 4035 section
//! 3.1.4.1): DS at the child's apex is the parent's to answer, with its DS
//! RRset or, when it has none, its NODATA; every other type at the child's
//! apex is the child's.

use domain::base::iana::{OptRcode, Rtype};

use crate::answers::EXAMPLE_SOA;
use crate::client;
use crate::server::{self, TestServer};

/// The DS of `sub.example.com` in the parent.
const SUB_DS: &str =
    "sub DS 60485 13 2 d4b7d520e7bb5f0f67674a0cceb1e3e0614b93c4f9e99b8383f6a1e4469da50a";

/// `sub.example.com`, served as a zone of its own.
const SUB_ZONE: &str = "\
$ORIGIN sub.example.com.
$TTL 900
@     SOA   ns1 hostmaster 7 7200 900 1209600 120
@     NS    ns1
@     NS    ns2
ns1   A     192.0.2.153
ns2   AAAA  2001:db8::153
www   A     192.0.2.154
";

/// `nods.example.com`: delegated from the parent without a DS.
const NODS_ZONE: &str = "\
$ORIGIN nods.example.com.
$TTL 900
@     SOA   ns1.sub.example.com. hostmaster 3 7200 900 1209600 120
@     NS    ns1.sub.example.com.
";

/// Starts a server with example.com (plus the DS of `sub` and a delegation
/// of `nods`) and both child zones.
fn start() -> TestServer {
    TestServer::start_in(|dir| {
        let path = server::write_config_with(
            dir,
            "",
            "\n[[zone]]\nname = \"sub.example.com\"\nfile = \"sub.zone\"\n\n\
             [[zone]]\nname = \"nods.example.com\"\nfile = \"nods.zone\"\n",
        );
        let parent = format!("{}{SUB_DS}\nnods NS ns1.sub\n", server::EXAMPLE_ZONE);
        std::fs::write(dir.join("example.com.zone"), parent).expect("write example.com.zone");
        std::fs::write(dir.join("sub.zone"), SUB_ZONE).expect("write sub.zone");
        std::fs::write(dir.join("nods.zone"), NODS_ZONE).expect("write nods.zone");
        path
    })
}

#[tokio::test]
async fn ds_at_a_child_apex_is_answered_by_the_parent() {
    let server = start();
    let addresses = [server.ipv4(), server.ipv6()];
    for (via, reply) in client::ask_everywhere(
        &addresses,
        "sub.example.com",
        Rtype::DS,
        domain::base::iana::Class::IN,
    )
    .await
    {
        assert_eq!(reply.rcode(), OptRcode::NOERROR, "{via}");
        assert!(reply.authoritative(), "AA via {via}");
        assert_eq!(
            client::lowercase(&reply.answer()),
            ["sub.example.com. 3600 in ds 60485 13 2 \
                 d4b7d520e7bb5f0f67674a0cceb1e3e0614b93c4f9e99b8383f6a1e4469da50a"],
            "the parent's DS via {via}"
        );
        assert!(reply.authority().is_empty(), "{via}");
    }
    // No DS in the parent: the parent's NODATA, with the parent's SOA.
    for (via, reply) in client::ask_everywhere(
        &addresses,
        "nods.example.com",
        Rtype::DS,
        domain::base::iana::Class::IN,
    )
    .await
    {
        assert_eq!(reply.rcode(), OptRcode::NOERROR, "{via}");
        assert!(reply.authoritative(), "AA via {via}");
        assert!(reply.answer().is_empty(), "{via}");
        assert_eq!(
            reply.authority(),
            [EXAMPLE_SOA],
            "the parent's SOA via {via}"
        );
    }
    server.finish().await;
}

#[tokio::test]
async fn other_types_at_a_child_apex_are_answered_by_the_child() {
    let server = start();
    let ask = |name, rtype| client::udp(server.ipv4(), client::request(name, rtype));
    let reply = ask("sub.example.com", Rtype::SOA).await;
    assert!(reply.authoritative());
    assert_eq!(
        reply.answer(),
        [
            "sub.example.com. 900 IN SOA ns1.sub.example.com. hostmaster.sub.example.com. 7 7200 900 1209600 120"
        ]
    );
    let reply = ask("sub.example.com", Rtype::NS).await;
    assert!(reply.authoritative(), "the child's NS, not a referral");
    assert_eq!(reply.answer().len(), 2);
    let reply = ask("www.sub.example.com", Rtype::A).await;
    assert!(reply.authoritative());
    assert_eq!(
        reply.answer(),
        ["www.sub.example.com. 900 IN A 192.0.2.154"]
    );
    // The child's NODATA for a type it lacks carries the child's SOA.
    let reply = ask("sub.example.com", Rtype::TXT).await;
    assert!(reply.authoritative());
    assert!(reply.answer().is_empty());
    assert_eq!(
        reply.authority(),
        [
            "sub.example.com. 120 IN SOA ns1.sub.example.com. hostmaster.sub.example.com. 7 7200 900 1209600 120"
        ]
    );
    server.finish().await;
}
