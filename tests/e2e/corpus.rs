//! Writes the fuzz targets' seed corpus, `fuzz/corpus/<target>/`, from the
//! very packets, zones and configs these tests use, so the fuzzers start
//! from inputs that reach deep into the code. Ignored by default; run it
//! after changing the packets or the example files with:
//!
//! ```text
//! cargo test --test e2e -- --ignored write_fuzz_corpus
//! ```
//!
//! It replaces the files it writes and leaves others alone (such as crash
//! inputs added as regression seeds).

use std::net::IpAddr;
use std::path::Path;

use domain::base::iana::{Class, Rtype};

use crate::client::{self, Edns};
use crate::packets;
use crate::server;

/// OPT's RDLENGTH sits in the last two bytes of an option-less OPT record.
fn with_cookie(mut packet: Vec<u8>) -> Vec<u8> {
    let rdlength_at = packet.len() - 2;
    // COOKIE (RFC 7873): option code 10, an 8-byte client cookie.
    let option = [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    packet[rdlength_at..].copy_from_slice(&(option.len() as u16).to_be_bytes());
    packet.extend_from_slice(&option);
    packet
}

/// Every kind of query the integration tests send, well formed or not.
fn udp_queries() -> Vec<(&'static str, Vec<u8>)> {
    let edns = Some(Edns::payload(1232));
    let v4: IpAddr = "198.51.100.7".parse().expect("address");
    let v6: IpAddr = "2001:db8:e0::1".parse().expect("address");
    vec![
        ("a_www", packets::query(1, "www.example.com", Rtype::A)),
        (
            "aaaa_www",
            packets::query(2, "www.example.com", Rtype::AAAA),
        ),
        (
            "nxdomain",
            packets::query(3, "nothing.example.com", Rtype::A),
        ),
        (
            "nodata_empty_non_terminal",
            packets::query(4, "b.example.com", Rtype::A),
        ),
        (
            "cname_chain",
            packets::query(5, "chain.example.com", Rtype::A),
        ),
        (
            "cname_outside",
            packets::query(6, "outside.example.com", Rtype::A),
        ),
        (
            "wildcard",
            packets::query(7, "x.apps.example.com", Rtype::TXT),
        ),
        (
            "referral",
            packets::query(8, "www.sub.example.com", Rtype::A),
        ),
        ("any_apex", packets::query(9, "example.com", Rtype::ANY)),
        ("mx_apex", packets::query(10, "example.com", Rtype::MX)),
        (
            "srv",
            packets::query(11, "_sip._udp.example.com", Rtype::SRV),
        ),
        (
            "refused_outside",
            packets::query(12, "www.example.net", Rtype::A),
        ),
        (
            "mixed_case",
            packets::query(13, "WwW.ExAmPlE.cOm", Rtype::A),
        ),
        ("service_lb", packets::query(14, "lb.example.com", Rtype::A)),
        (
            "service_lb_aaaa",
            packets::query(15, "lb.example.com", Rtype::AAAA),
        ),
        (
            "ch_txt_version_bind",
            client::message(16, "version.bind", Rtype::TXT, Class::CH, None),
        ),
        (
            "ch_txt_id_server",
            client::message(17, "id.server", Rtype::TXT, Class::CH, edns),
        ),
        (
            "edns_1232",
            client::message(18, "www.example.com", Rtype::A, Class::IN, edns),
        ),
        (
            "edns_512_big_truncated",
            client::message(
                19,
                "big.example.com",
                Rtype::TXT,
                Class::IN,
                Some(Edns::payload(512)),
            ),
        ),
        (
            "no_edns_big_truncated",
            packets::query(20, "big.example.com", Rtype::TXT),
        ),
        (
            "edns_do",
            client::message(
                21,
                "www.example.com",
                Rtype::AAAA,
                Class::IN,
                Some(Edns {
                    udp_payload: 4096,
                    version: 0,
                    dnssec_ok: true,
                }),
            ),
        ),
        (
            "edns_version_1_badvers",
            client::message(
                22,
                "www.example.com",
                Rtype::A,
                Class::IN,
                Some(Edns {
                    udp_payload: 1232,
                    version: 1,
                    dnssec_ok: false,
                }),
            ),
        ),
        (
            "ecs_v4_geo",
            client::ecs_message(23, "geo.example.com", Rtype::A, Some((v4, 24))),
        ),
        (
            "ecs_v6_geo",
            client::ecs_message(24, "geo.example.com", Rtype::A, Some((v6, 48))),
        ),
        (
            "ecs_nonzero_scope",
            client::ecs_message_with_scope(25, "lb.example.com", Rtype::A, Some((v4, 24)), 8),
        ),
        (
            "cookie",
            with_cookie(client::message(
                26,
                "www.example.com",
                Rtype::A,
                Class::IN,
                edns,
            )),
        ),
        ("malformed_two_questions", packets::two_questions(27)),
        (
            "malformed_truncated_question",
            packets::truncated_question(28),
        ),
        ("malformed_trailing_garbage", packets::trailing_garbage(29)),
        ("malformed_two_opt_records", packets::two_opt_records(30)),
        ("malformed_update_opcode", packets::update(31)),
        ("malformed_response", packets::response(32)),
        ("malformed_short", packets::short(33)),
        (
            "malformed_compressed_question",
            packets::compressed_question(34),
        ),
    ]
}

/// TCP streams: two bytes that seed the chunking, then frames.
fn tcp_streams() -> Vec<(&'static str, Vec<u8>)> {
    let frames = |seed: u16, packets: &[Vec<u8>]| {
        let mut stream = seed.to_be_bytes().to_vec();
        for packet in packets {
            stream.extend_from_slice(&client::frame(packet));
        }
        stream
    };
    let edns = Some(Edns::payload(1232));
    let pipelined = [
        packets::query(11, "www.example.com", Rtype::A),
        packets::query(12, "www.example.com", Rtype::AAAA),
        packets::query(13, "nothing.example.com", Rtype::A),
    ];
    let mut half_frame = frames(3, &pipelined);
    half_frame
        .extend_from_slice(&client::frame(&packets::query(14, "lb.example.com", Rtype::A))[..9]);
    let mut short_frame = frames(4, &pipelined[..1]);
    short_frame.extend_from_slice(&[0, 4, 1, 2, 3, 4]);
    vec![
        ("pipelined_whole", frames(7, &pipelined)),
        ("pipelined_byte_by_byte", frames(0, &pipelined)),
        ("pipelined_then_half_frame", half_frame),
        ("short_frame_closes", short_frame),
        (
            "response_closes",
            frames(5, &[pipelined[0].clone(), packets::response(3)]),
        ),
        (
            "big_and_edns",
            frames(
                6,
                &[
                    packets::query(21, "big.example.com", Rtype::TXT),
                    client::message(22, "any.apps.example.com", Rtype::ANY, Class::IN, edns),
                    client::ecs_message(23, "geo.example.com", Rtype::A, None),
                    with_cookie(client::message(
                        24,
                        "example.com",
                        Rtype::SOA,
                        Class::IN,
                        edns,
                    )),
                ],
            ),
        ),
    ]
}

/// A config using every `[server]` key, small enough to mutate well.
const SERVER_CONFIG: &str = r#"[server]
listen = ["127.0.0.1:5353", "[::1]:5353"]
workers = 2
cpus = [0, 1]
udp_payload = 1232
tcp_max_connections = 1024
tcp_max_connections_per_client = 64
tcp_idle_timeout = "10s"
tcp_total_timeout = "2m"
identity = "dns1"
version = "dnslb"
ecs = false

[admin]
listen = "127.0.0.1:8053"
token = "0123456789abcdef0123"
"#;

/// A config with several problems at once.
const BROKEN_CONFIG: &str = r#"[server]
listen = ["127.0.0.1:5353", "127.0.0.1:5353"]
udp_payload = 100
tcp_total_timeout = "1s"
tcp_idle_timeout = "5s"

[[zone]]
name = "example..com"

[[service]]
name = "lb.example.org"
policy = "fastest"
backends = []
"#;

fn write_all(target: &str, files: &[(&str, Vec<u8>)]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write a seed");
    }
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn write_fuzz_corpus() {
    write_all("udp_query", &udp_queries());
    write_all("tcp_stream", &tcp_streams());
    let example_zone = server::EXAMPLE_ZONE.as_bytes().to_vec();
    let second_zone = server::SECOND_ZONE.as_bytes().to_vec();
    let minimal_zone =
        b"$ORIGIN example.com.\n$TTL 60\n@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
            .to_vec();
    write_all(
        "zone_file",
        &[
            ("example.com.zone", example_zone),
            ("second.test.zone", second_zone),
            ("minimal.zone", minimal_zone),
        ],
    );
    let test_config = std::fs::read(server::write_config(
        tempfile::tempdir().expect("temporary directory").path(),
        "tcp_max_connections = 2\ntcp_idle_timeout = \"500ms\"\ntcp_total_timeout = \"1s\"",
    ))
    .expect("read the test config");
    write_all(
        "config",
        &[
            (
                "dnslb.example.toml",
                include_bytes!("../../dnslb.example.toml").to_vec(),
            ),
            ("server_keys.toml", SERVER_CONFIG.as_bytes().to_vec()),
            ("broken.toml", BROKEN_CONFIG.as_bytes().to_vec()),
            ("e2e_test.toml", test_config),
        ],
    );
}
