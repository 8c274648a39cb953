//! The data plane allocates nothing: the pure handler answering every kind
//! of query (UDP and TCP limits) and every balancing policy (with and
//! without EDNS Client Subnet, IPv4 and IPv6 subnets, CNAME services, every
//! when_all_down action), a real UDP worker's batches, from `recvmmsg`
//! through parsing, lookup, selection and reply building to `sendmmsg`, and
//! a real XDP worker's, from its receive ring to its transmit kick, counted
//! by the test binary's global allocator.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use dnslb::dataplane::handler::{self, MAX_CNAME_CHAIN, Outcome};
use dnslb::dataplane::step::{self, Action, UdpState};
use dnslb::dataplane::udp::{BATCH_WIDTH, Worker};
use dnslb::rrl::{RateLimiter, RrlSettings};
use dnslb::snapshot::{SharedSnapshot, Snapshot};
use dnslb::stats::Stats;
use dnslb::wire::answer::Transport;
use dnslb::wire::{DropReason, MAX_MESSAGE_LEN, Rcode};
use dnslb_io::batch::Wait;
use dnslb_io::socket::{self, UdpOptions};
use domain::base::Message;
use domain::base::iana::{Class, Rtype};

use crate::client::{self, Edns};
use crate::count_allocations;
use crate::packets;
use crate::services;

/// How often the handler test answers every case while counting.
const ROUNDS: usize = 100;

/// What the server must do with one case over UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Reply {
        rcode: Rcode,
        answers: u16,
        truncated: bool,
    },
    Drop(DropReason),
}

/// One query packet and what it must get.
#[derive(Debug)]
struct Case {
    label: &'static str,
    packet: Vec<u8>,
    expect: Expect,
}

fn reply(rcode: Rcode, answers: u16) -> Expect {
    Expect::Reply {
        rcode,
        answers,
        truncated: false,
    }
}

/// A case for `name`/`rtype`/`class` with an optional OPT.
fn case(
    label: &'static str,
    name: &str,
    rtype: Rtype,
    class: Class,
    edns: Option<Edns>,
    expect: Expect,
) -> Case {
    Case {
        label,
        packet: client::message(0, name, rtype, class, edns),
        expect,
    }
}

/// A class IN case without EDNS.
fn case_in(label: &'static str, name: &str, rtype: Rtype, expect: Expect) -> Case {
    case(label, name, rtype, Class::IN, None, expect)
}

/// A class IN case with EDNS and, when given, an ECS option for `ecs`
/// (`"ADDRESS/PREFIX"`).
fn case_ecs(
    label: &'static str,
    name: &str,
    rtype: Rtype,
    ecs: Option<&str>,
    expect: Expect,
) -> Case {
    Case {
        label,
        packet: client::ecs_message(0, name, rtype, ecs.map(services::subnet)),
        expect,
    }
}

/// Every policy, family and all-down action of the services config, with
/// and without ECS (IPv4 and IPv6 subnets).
fn service_cases() -> Vec<Case> {
    let ok = |answers| reply(Rcode::NoError, answers);
    let geo = "geo.example.com";
    vec![
        case_ecs("weighted", "weighted.example.com", Rtype::A, None, ok(1)),
        case_ecs(
            "weighted with ECS",
            "weighted.example.com",
            Rtype::A,
            Some("198.51.100.0/24"),
            ok(1),
        ),
        case_in(
            "weighted without EDNS",
            "weighted.example.com",
            Rtype::A,
            ok(1),
        ),
        case_ecs(
            "weighted 2 A",
            "weighted2.example.com",
            Rtype::A,
            None,
            ok(2),
        ),
        case_ecs(
            "weighted 2 AAAA with IPv6 ECS",
            "weighted2.example.com",
            Rtype::AAAA,
            Some("2001:db8:e0::/56"),
            ok(2),
        ),
        case_ecs("round_robin", "rr.example.com", Rtype::A, None, ok(1)),
        case_ecs("hash by source", "hash.example.com", Rtype::A, None, ok(2)),
        case_ecs(
            "hash ECS /24",
            "hash.example.com",
            Rtype::A,
            Some("10.20.30.0/24"),
            ok(2),
        ),
        case_ecs(
            "hash ECS /32",
            "hash.example.com",
            Rtype::A,
            Some("10.20.30.40/32"),
            ok(2),
        ),
        case_ecs(
            "hash ECS /0",
            "hash.example.com",
            Rtype::A,
            Some("0.0.0.0/0"),
            ok(2),
        ),
        case_ecs(
            "hash IPv6 ECS /56",
            "hash.example.com",
            Rtype::A,
            Some("2001:db8:1:100::/56"),
            ok(2),
        ),
        case_ecs("priority", "priority.example.com", Rtype::A, None, ok(2)),
        case_ecs("least_loaded", "least.example.com", Rtype::A, None, ok(1)),
        case_ecs("geo by source", geo, Rtype::A, None, ok(1)),
        case_ecs("geo eu", geo, Rtype::A, Some("198.51.100.0/24"), ok(1)),
        case_ecs("geo us", geo, Rtype::A, Some("203.0.113.0/24"), ok(1)),
        case_ecs(
            "geo topology file",
            geo,
            Rtype::A,
            Some("100.64.5.0/24"),
            ok(1),
        ),
        case_ecs("geo nested /24", geo, Rtype::A, Some("10.1.2.0/24"), ok(1)),
        case_ecs(
            "geo around nested",
            geo,
            Rtype::A,
            Some("10.1.128.0/24"),
            ok(1),
        ),
        case_ecs(
            "geo no network",
            geo,
            Rtype::A,
            Some("192.0.2.128/25"),
            ok(1),
        ),
        case_ecs(
            "geo region fallback",
            geo,
            Rtype::A,
            Some("172.16.0.0/12"),
            ok(1),
        ),
        case_ecs(
            "geo IPv6 ECS",
            geo,
            Rtype::A,
            Some("2001:db8:a::/48"),
            ok(1),
        ),
        case_ecs("geo AAAA", geo, Rtype::AAAA, Some("198.51.100.0/24"), ok(1)),
        case_ecs(
            "IPv4-only AAAA",
            "v4only.example.com",
            Rtype::AAAA,
            None,
            ok(0),
        ),
        case_ecs("service TXT", "v4only.example.com", Rtype::TXT, None, ok(0)),
        case_ecs("static A beside", "sip.example.com", Rtype::A, None, ok(1)),
        case_ecs(
            "IPv6-only AAAA",
            "sip.example.com",
            Rtype::AAAA,
            None,
            ok(1),
        ),
        case_ecs(
            "CNAME service A",
            "cname.example.com",
            Rtype::A,
            None,
            ok(1),
        ),
        case_ecs(
            "CNAME service AAAA",
            "cname.example.com",
            Rtype::AAAA,
            Some("198.51.100.0/24"),
            ok(1),
        ),
        case_ecs(
            "CNAME service MX",
            "cname.example.com",
            Rtype::MX,
            None,
            ok(1),
        ),
        case_ecs(
            "CNAME service followed",
            "to-mail.example.com",
            Rtype::A,
            None,
            ok(2),
        ),
        case_ecs(
            "CNAME service to NODATA",
            "to-mail.example.com",
            Rtype::AAAA,
            None,
            ok(1),
        ),
        case_ecs(
            "CNAME service to geo",
            "to-geo.example.com",
            Rtype::A,
            Some("203.0.113.0/24"),
            ok(2),
        ),
        case_ecs(
            "all down: all",
            "down-all.example.com",
            Rtype::A,
            None,
            ok(1),
        ),
        case_ecs(
            "all down: fallback",
            "down-fallback.example.com",
            Rtype::A,
            None,
            ok(1),
        ),
        case_ecs(
            "all down: no IPv6 fallback",
            "down-fallback.example.com",
            Rtype::AAAA,
            None,
            ok(0),
        ),
        case_ecs(
            "all down: empty",
            "down-empty.example.com",
            Rtype::A,
            Some("198.51.100.0/24"),
            ok(0),
        ),
        case_ecs(
            "all down: servfail",
            "down-servfail.example.com",
            Rtype::A,
            Some("198.51.100.0/24"),
            reply(Rcode::ServFail, 0),
        ),
    ]
}

/// Every kind of query the server handles, built before counting starts:
/// zone data and errors, then every service case.
fn cases() -> Vec<Case> {
    let mut cases = zone_cases();
    cases.extend(service_cases());
    cases
}

/// Every kind of query answered from zone data, and the errors.
fn zone_cases() -> Vec<Case> {
    let edns = |udp_payload, version, dnssec_ok| {
        Some(Edns {
            udp_payload,
            version,
            dnssec_ok,
        })
    };
    let loop_length = u16::try_from(MAX_CNAME_CHAIN + 1).expect("small");
    let raw = |label, packet, expect| Case {
        label,
        packet,
        expect,
    };
    vec![
        case_in("A", "www.example.com", Rtype::A, reply(Rcode::NoError, 2)),
        case(
            "AAAA with EDNS",
            "www.example.com",
            Rtype::AAAA,
            Class::IN,
            edns(1232, 0, false),
            reply(Rcode::NoError, 1),
        ),
        case_in(
            "0x20",
            "WwW.ExAmPlE.cOm",
            Rtype::A,
            reply(Rcode::NoError, 2),
        ),
        case_in(
            "CNAME chain",
            "chain.example.com",
            Rtype::A,
            reply(Rcode::NoError, 4),
        ),
        case_in(
            "CNAME out",
            "outside.example.com",
            Rtype::A,
            reply(Rcode::NoError, 1),
        ),
        case_in(
            "CNAME across zones",
            "into.second.test",
            Rtype::A,
            reply(Rcode::NoError, 3),
        ),
        case_in(
            "CNAME to a referral",
            "tosub.second.test",
            Rtype::A,
            reply(Rcode::NoError, 1),
        ),
        case_in(
            "CNAME to NXDOMAIN",
            "tonothing.second.test",
            Rtype::A,
            reply(Rcode::NxDomain, 1),
        ),
        case_in(
            "CNAME to NODATA",
            "toempty.second.test",
            Rtype::A,
            reply(Rcode::NoError, 1),
        ),
        case_in(
            "CNAME to a wildcard",
            "towild.second.test",
            Rtype::A,
            reply(Rcode::NoError, 2),
        ),
        case_in(
            "CNAME loop",
            "loop1.second.test",
            Rtype::A,
            reply(Rcode::NoError, loop_length),
        ),
        case_in(
            "wildcard A",
            "anything.apps.example.com",
            Rtype::A,
            reply(Rcode::NoError, 1),
        ),
        case_in(
            "wildcard TXT",
            "anything.apps.example.com",
            Rtype::TXT,
            reply(Rcode::NoError, 1),
        ),
        case_in(
            "NXDOMAIN",
            "nothing.example.com",
            Rtype::A,
            reply(Rcode::NxDomain, 0),
        ),
        case_in(
            "NODATA at an empty non-terminal",
            "b.example.com",
            Rtype::A,
            reply(Rcode::NoError, 0),
        ),
        case_in(
            "NXDOMAIN below an empty non-terminal",
            "x.b.example.com",
            Rtype::A,
            reply(Rcode::NxDomain, 0),
        ),
        case_in(
            "referral",
            "www.sub.example.com",
            Rtype::A,
            reply(Rcode::NoError, 0),
        ),
        case_in(
            "DS at a cut",
            "sub.example.com",
            Rtype::DS,
            reply(Rcode::NoError, 0),
        ),
        case_in(
            "ANY",
            "www.example.com",
            Rtype::ANY,
            reply(Rcode::NoError, 1),
        ),
        case_in(
            "not ours",
            "www.example.org",
            Rtype::A,
            reply(Rcode::Refused, 0),
        ),
        case_in("AXFR", "example.com", Rtype::AXFR, reply(Rcode::Refused, 0)),
        case(
            "CH version.bind",
            "version.bind",
            Rtype::TXT,
            Class::CH,
            None,
            reply(Rcode::NoError, 1),
        ),
        case(
            "CH id.server",
            "id.server",
            Rtype::TXT,
            Class::CH,
            None,
            reply(Rcode::Refused, 0),
        ),
        case(
            "class HS",
            "www.example.com",
            Rtype::A,
            Class::HS,
            None,
            reply(Rcode::Refused, 0),
        ),
        case(
            "EDNS with DO",
            "www.example.com",
            Rtype::A,
            Class::IN,
            edns(4096, 0, true),
            reply(Rcode::NoError, 2),
        ),
        case(
            "BADVERS",
            "www.example.com",
            Rtype::A,
            Class::IN,
            edns(1232, 1, false),
            reply(Rcode::BadVers, 0),
        ),
        case(
            "big TXT with EDNS 4096",
            "big.example.com",
            Rtype::TXT,
            Class::IN,
            edns(4096, 0, false),
            reply(Rcode::NoError, 6),
        ),
        case_in(
            "big TXT without EDNS",
            "big.example.com",
            Rtype::TXT,
            Expect::Reply {
                rcode: Rcode::NoError,
                answers: 0,
                truncated: true,
            },
        ),
        raw(
            "two questions",
            packets::two_questions(0),
            reply(Rcode::FormErr, 0),
        ),
        raw(
            "truncated question",
            packets::truncated_question(0),
            reply(Rcode::FormErr, 0),
        ),
        raw(
            "compressed question",
            packets::compressed_question(0),
            reply(Rcode::FormErr, 0),
        ),
        raw(
            "trailing garbage",
            packets::trailing_garbage(0),
            reply(Rcode::FormErr, 0),
        ),
        raw(
            "two OPT records",
            packets::two_opt_records(0),
            reply(Rcode::FormErr, 0),
        ),
        raw("UPDATE", packets::update(0), reply(Rcode::NotImp, 0)),
        raw(
            "response",
            packets::response(0),
            Expect::Drop(DropReason::Response),
        ),
        raw(
            "short",
            packets::short(0),
            Expect::Drop(DropReason::ShortPacket),
        ),
    ]
}

/// Loads the test zones (with a CHAOS version configured) and the services
/// (the `down-*` ones marked down) into a snapshot.
fn snapshot() -> Snapshot {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = services::write_config(dir.path(), r#"version = "dnslb-test""#, None);
    let config = dnslb::config::load(&path).expect("valid test config");
    let (mut snapshot, warnings) = dnslb::control::build::snapshot(&config, 1).expect("zones load");
    assert!(warnings.is_empty(), "{warnings:?}");
    for name in services::DOWN_SERVICES {
        services::mark_all_down(&mut snapshot, name);
    }
    snapshot
}

/// Checks a UDP reply against what `case` expects.
fn check_reply(case: &Case, bytes: &[u8]) {
    let Expect::Reply {
        rcode,
        answers,
        truncated,
    } = case.expect
    else {
        panic!("{}: a reply to a packet that must be dropped", case.label);
    };
    let message = Message::from_octets(bytes).expect("a header");
    assert!(message.header().qr(), "{}: QR", case.label);
    assert_eq!(
        message.opt_rcode().to_int(),
        u16::from(rcode as u8),
        "{}: rcode",
        case.label
    );
    assert_eq!(
        message.header_counts().ancount(),
        answers,
        "{}: answers",
        case.label
    );
    assert_eq!(message.header().tc(), truncated, "{}: TC", case.label);
}

#[test]
fn allocation_counter_counts_this_thread_while_on() {
    let (_, nothing) = count_allocations(|| ());
    assert_eq!(nothing, 0);
    let (buffer, one) = count_allocations(|| std::hint::black_box(Vec::<u8>::with_capacity(64)));
    assert_eq!(
        one, 1,
        "a Vec allocation is counted, so a zero below means something"
    );
    drop(buffer);
    let (_, grown) = count_allocations(|| {
        let mut grown = std::hint::black_box(Vec::<u8>::with_capacity(1));
        grown.extend_from_slice(&[0; 64]);
        grown
    });
    assert_eq!(grown, 2, "alloc and realloc are both counted");
}

/// What one case got, over either transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Got {
    Reply {
        len: usize,
        rcode: Rcode,
        truncated: bool,
    },
    Drop(DropReason),
}

/// Answers `packet` the way the data plane does: a UDP datagram through the
/// per-datagram step (source checks, handler, rate limiting), a TCP message
/// through the handler.
fn answer(
    snapshot: &Snapshot,
    packet: &[u8],
    out: &mut [u8],
    transport: Transport,
    state: &mut UdpState,
) -> Got {
    let peer = std::net::SocketAddr::from(([198, 51, 100, 7], 5300));
    match transport {
        Transport::Udp => {
            let local = std::net::SocketAddr::from(([127, 0, 0, 1], 53));
            match step::udp(snapshot, packet, peer, local, out, state, 0) {
                Action::Send {
                    len,
                    rcode,
                    truncated,
                    ..
                } => Got::Reply {
                    len,
                    rcode,
                    truncated,
                },
                Action::Drop(reason) => Got::Drop(reason),
            }
        }
        Transport::Tcp => {
            match handler::handle(
                snapshot,
                packet,
                out,
                transport,
                peer.ip(),
                &mut state.balancer,
            ) {
                Outcome::Reply {
                    len,
                    rcode,
                    truncated,
                    ..
                } => Got::Reply {
                    len,
                    rcode,
                    truncated,
                },
                Outcome::Drop(reason) => Got::Drop(reason),
            }
        }
    }
}

#[test]
fn step_and_handler_answer_every_kind_of_query_without_allocating() {
    answers_every_case_without_allocating(&snapshot());
}

/// As [`snapshot`], with the first zone's name table patched (as an IXFR
/// patches it) for every name that can be patched alone: lookups go
/// through the overlay and the base.
fn patched_snapshot() -> Snapshot {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = services::write_config(dir.path(), r#"version = "dnslb-test""#, None);
    let config = dnslb::config::load(&path).expect("valid test config");
    let (sources, _) = dnslb::control::build::initial_sources(&config).expect("zones load");
    let mut snapshot =
        dnslb::control::build::assemble(&config, &sources, 1, 1).expect("zones load");
    let zones = dnslb::control::build::table_zones(&sources);
    let owners: Vec<&[u8]> = zones[0]
        .data
        .nodes
        .keys()
        .map(|owner| owner.as_slice())
        .filter(|owner| snapshot.table.patched(&zones, 0, &[owner]).is_some())
        .take(64)
        .collect();
    assert!(owners.len() >= 5, "patchable names: {}", owners.len());
    let patched = snapshot
        .table
        .patched(&zones, 0, &owners)
        .expect("names patchable alone are patchable together");
    assert_eq!(patched.patched_names(), owners.len());
    snapshot.table = Arc::new(patched);
    for name in services::DOWN_SERVICES {
        services::mark_all_down(&mut snapshot, name);
    }
    snapshot
}

#[test]
fn a_patched_table_answers_every_kind_of_query_the_same_without_allocating() {
    answers_every_case_without_allocating(&patched_snapshot());
}

/// Answers every case over UDP and TCP from `snapshot`, checks each reply,
/// then answers them all again many times, counting allocations.
fn answers_every_case_without_allocating(snapshot: &Snapshot) {
    let cases = cases();
    let mut out = vec![0u8; MAX_MESSAGE_LEN];
    let transports = [Transport::Udp, Transport::Tcp];
    let mut state = UdpState::new(dnslb::balancer::WorkerState::new(7));

    // Warm up, check every outcome, and keep it to compare with later.
    let mut expected = Vec::new();
    for case in &cases {
        for transport in transports {
            let got = answer(snapshot, &case.packet, &mut out, transport, &mut state);
            match (got, case.expect) {
                (Got::Reply { len, .. }, Expect::Reply { .. }) if transport == Transport::Udp => {
                    check_reply(case, &out[..len]);
                }
                // Over TCP only the size limit differs: same rcode, never TC.
                (
                    Got::Reply {
                        rcode, truncated, ..
                    },
                    Expect::Reply {
                        rcode: expected, ..
                    },
                ) => {
                    assert_eq!(rcode, expected, "{} over TCP", case.label);
                    assert!(!truncated, "{} over TCP", case.label);
                }
                (Got::Drop(reason), Expect::Drop(expected)) => {
                    assert_eq!(reason, expected, "{}", case.label);
                }
                (got, expect) => panic!("{}: {got:?}, expected {expect:?}", case.label),
            }
            expected.push(got);
        }
    }

    let (mismatches, allocations) = count_allocations(|| {
        let mut mismatches = 0usize;
        for _ in 0..ROUNDS {
            let mut expected = expected.iter();
            for case in &cases {
                for transport in transports {
                    let got = answer(snapshot, &case.packet, &mut out, transport, &mut state);
                    if Some(&got) != expected.next() {
                        mismatches += 1;
                    }
                }
            }
        }
        mismatches
    });
    assert_eq!(
        mismatches, 0,
        "the data plane answered the same way every time"
    );
    assert_eq!(
        allocations,
        0,
        "allocations while answering {} packets",
        ROUNDS * cases.len() * 2
    );
}

/// A worker on its own loopback socket and a client socket talking to it.
struct WorkerHarness {
    worker: Worker,
    client: UdpSocket,
    stats: Arc<Stats>,
}

impl WorkerHarness {
    fn new() -> WorkerHarness {
        WorkerHarness::with_snapshot(snapshot())
    }

    fn with_snapshot(snapshot: Snapshot) -> WorkerHarness {
        let options = UdpOptions {
            reuse_port: true,
            read_timeout: Some(Duration::from_millis(500)),
            ..Default::default()
        };
        let socket =
            socket::bind_udp("127.0.0.1:0".parse().expect("address"), &options).expect("bind");
        let address = socket.local_addr().expect("local address");
        let shared = Arc::new(SharedSnapshot::new(snapshot));
        let stats = Arc::new(Stats::new(1));
        let worker = Worker::new(0, vec![socket], 1232, shared, stats.clone(), 7).expect("worker");
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind the client");
        client.connect(address).expect("connect the client");
        client
            .set_read_timeout(Some(client::TIMEOUT))
            .expect("read timeout");
        WorkerHarness {
            worker,
            client,
            stats,
        }
    }

    /// Serves batches until `count` datagrams were received (or the socket
    /// stays empty past its read timeout twice); returns how many were.
    fn serve(&mut self, count: usize) -> usize {
        let mut received = 0;
        let mut idle = 0;
        while received < count && idle < 2 {
            match self.worker.serve_batch(0, Wait::Block) {
                Ok(0) => idle += 1,
                Ok(batch) => received += batch,
                Err(_) => break,
            }
        }
        received
    }

    /// Reads the replies to `sent` (cases by message ID) and checks each;
    /// then checks that nothing else arrives.
    fn check_replies(&self, sent: &HashMap<u16, &Case>) {
        let answerable = sent
            .values()
            .filter(|case| matches!(case.expect, Expect::Reply { .. }))
            .count();
        let mut buffer = [0u8; MAX_MESSAGE_LEN];
        let mut answered = HashMap::new();
        for _ in 0..answerable {
            let len = self
                .client
                .recv(&mut buffer)
                .expect("a reply to every answerable query");
            let id = u16::from_be_bytes([buffer[0], buffer[1]]);
            let case = sent
                .get(&id)
                .unwrap_or_else(|| panic!("a reply with unknown ID {id}"));
            check_reply(case, &buffer[..len]);
            assert!(
                answered.insert(id, case.label).is_none(),
                "{}: answered twice",
                case.label
            );
        }
        self.client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let extra = self.client.recv(&mut buffer);
        assert!(extra.is_err(), "no reply to the dropped packets");
        self.client
            .set_read_timeout(Some(client::TIMEOUT))
            .expect("read timeout");
    }
}

/// Every case once, each with its own ID counting from `first_id`: a few
/// times [`BATCH_WIDTH`] packets, so several `recvmmsg` batches, the last
/// one partly filled.
fn batch(cases: &[Case], first_id: u16) -> (Vec<Vec<u8>>, HashMap<u16, &Case>) {
    let mut packets = Vec::new();
    let mut sent = HashMap::new();
    for (offset, case) in cases.iter().enumerate() {
        let id = first_id + u16::try_from(offset).expect("small");
        let mut packet = case.packet.clone();
        packets::set_id(&mut packet, id);
        packets.push(packet);
        sent.insert(id, case);
    }
    (packets, sent)
}

#[test]
fn worker_batch_from_recvmmsg_to_sendmmsg_does_not_allocate() {
    let cases = cases();
    assert!(
        cases.len() > 2 * BATCH_WIDTH,
        "full batches and a partial one"
    );
    assert!(
        !cases.len().is_multiple_of(BATCH_WIDTH),
        "full batches and a partial one"
    );
    let mut harness = WorkerHarness::new();
    for (round, first_id) in [(0, 1000u16), (1, 2000)] {
        let (packets, sent) = batch(&cases, first_id);
        for packet in &packets {
            harness.client.send(packet).expect("send a query");
        }
        let (received, allocations) = count_allocations(|| harness.serve(packets.len()));
        assert_eq!(
            received,
            packets.len(),
            "the worker received the whole batch"
        );
        harness.check_replies(&sent);
        // The first round warms up (the snapshot guard's thread-local state).
        if round > 0 {
            assert_eq!(
                allocations,
                0,
                "allocations while serving a batch of {}",
                packets.len()
            );
        }
    }
    let counters = harness.stats.total(Transport::Udp);
    assert_eq!(counters.received, 2 * cases.len() as u64);
    for reason in [DropReason::Response, DropReason::ShortPacket] {
        let per_batch = cases
            .iter()
            .filter(|case| case.expect == Expect::Drop(reason))
            .count();
        assert_eq!(
            counters.drops_for(reason),
            2 * per_batch as u64,
            "{}",
            reason.name()
        );
    }
}

#[test]
fn rate_limiting_drops_and_slips_without_allocating() {
    let cases = cases();
    let mut snapshot = snapshot();
    // One response per second per bucket: nearly everything is limited,
    // half of it slipped.
    snapshot.rrl = Some(Arc::new(RateLimiter::new(
        RrlSettings {
            responses_per_second: 1,
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            table_size: 4096,
        },
        7,
        std::time::Instant::now(),
    )));
    let mut harness = WorkerHarness::with_snapshot(snapshot);
    for (round, first_id) in [(0, 1000u16), (1, 2000)] {
        let (packets, _) = batch(&cases, first_id);
        for packet in &packets {
            harness.client.send(packet).expect("send a query");
        }
        let (received, allocations) = count_allocations(|| harness.serve(packets.len()));
        assert_eq!(received, packets.len());
        if round > 0 {
            assert_eq!(allocations, 0, "allocations while rate limiting");
        }
        harness
            .client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let mut buffer = [0u8; MAX_MESSAGE_LEN];
        while harness.client.recv(&mut buffer).is_ok() {}
    }
    let counters = harness.stats.total(Transport::Udp);
    assert!(counters.drops_for(DropReason::RateLimited) > cases.len() as u64 / 2);
    assert!(counters.rate_limit_slipped > cases.len() as u64 / 2);
}

/// The XDP worker, from its receive ring to its transmit kick, answering
/// every case twice over a veth pair in namespaces of its own: the second
/// round allocates nothing. Needs root (skipped loudly otherwise).
#[test]
fn xdp_worker_batch_from_rx_ring_to_tx_kick_does_not_allocate() {
    use dnslb::dataplane::xdp::XdpWorker;
    use dnslb::stats::XdpQueueStats;
    use dnslb_io::xdp::bpf::{AttachMode, Program, Rule};
    use dnslb_io::xdp::iface;
    use dnslb_io::xdp::socket::{SocketConfig, XdpSocket, ZeroCopy};
    use std::net::SocketAddr;
    use std::time::Instant;

    if !crate::xdp::can_run("xdp_worker_batch_from_rx_ring_to_tx_kick_does_not_allocate") {
        return;
    }
    let bed = crate::xdp::Bed::up(1, 1, 1500);
    let listen = SocketAddr::new(crate::xdp::SERVER_V4.into(), 53);
    let client = bed.client(move || {
        let client = UdpSocket::bind("0.0.0.0:0").expect("bind the client");
        client.connect(listen).expect("connect the client");
        client
            .set_read_timeout(Some(client::TIMEOUT))
            .expect("read timeout");
        client
    });
    let server_if = bed.server_if.clone();
    let cases = cases();
    let count = cases.len() as u64;
    let responses = cases
        .iter()
        .filter(|case| case.expect == Expect::Drop(DropReason::Response))
        .count() as u64;
    let (counters, allocations) = bed.server(move || {
        let program = Program::load(&[Rule::listen(listen)], 1).expect("load the filter");
        let ifindex = iface::index(&server_if).expect("the veth");
        let config = SocketConfig {
            frame_size: 2048,
            ring_size: 512,
            zero_copy: ZeroCopy::Off,
        };
        let socket = XdpSocket::new(ifindex, 0, config).expect("an AF_XDP socket");
        program.register(0, &socket).expect("register");
        let _link = program
            .attach(ifindex, AttachMode::Driver)
            .expect("attach the filter");
        let shared = Arc::new(SharedSnapshot::new(snapshot()));
        let stats = Arc::new(Stats::with_xdp(0, vec![XdpQueueStats::new(0, None)]));
        let mut worker = XdpWorker::new(0, socket, vec![listen], 1500, shared, stats.clone(), 7);
        let mut allocations = Vec::new();
        for first_id in [1000u16, 2000] {
            let (packets, sent) = batch(&cases, first_id);
            for packet in &packets {
                client.send(packet).expect("send a query");
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            let (received, counted) = count_allocations(|| {
                let mut received = 0;
                while received < packets.len() && Instant::now() < deadline {
                    received += worker.serve_batch();
                }
                received
            });
            assert_eq!(
                received,
                packets.len(),
                "every query reached the XDP worker"
            );
            allocations.push(counted);
            let answerable = sent
                .values()
                .filter(|case| matches!(case.expect, Expect::Reply { .. }))
                .count();
            let mut buffer = [0u8; MAX_MESSAGE_LEN];
            for _ in 0..answerable {
                let len = client
                    .recv(&mut buffer)
                    .expect("a reply to every answerable query");
                let id = u16::from_be_bytes([buffer[0], buffer[1]]);
                let case = sent
                    .get(&id)
                    .unwrap_or_else(|| panic!("a reply with unknown ID {id}"));
                check_reply(case, &buffer[..len]);
            }
        }
        (stats.xdp_total(), allocations)
    });
    // The first round warms up (the snapshot guard's thread-local state).
    assert_eq!(allocations[1], 0, "allocations while serving XDP batches");
    assert_eq!(counters.received, 2 * count);
    assert_eq!(counters.drops_for(DropReason::Response), 2 * responses);
}

#[test]
fn notify_is_checked_answered_signed_and_queued_without_allocating() {
    use dnslb::wire::tsig::{self, Algorithm, Key, ResponseVerifier};

    let secret = b"0123456789abcdef0123456789abcdef";
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = crate::server::write_config_with(
        dir.path(),
        "",
        "[[tsig]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\n\
             secret = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\n\
             [[zone]]\nname = \"signed.test\"\nprimaries = [\"198.51.100.7\"]\ntsig = \"xfr-key\"\n\
             [[zone]]\nname = \"elsewhere.test\"\nprimaries = [\"192.0.2.1\"]\n",
    );
    let config = dnslb::config::load(&path).expect("valid test config");
    let (snapshot, _) = dnslb::control::build::snapshot(&config, 1).expect("zones load");
    let now = 1_800_000_000;
    snapshot.notify_intake.set_unix_now(now);
    let key = Key::new(b"\x07xfr-key\x00", Algorithm::HmacSha256, secret);

    let mut signed = client::notify_message(0x5151, "signed.test.");
    let unsigned_len = signed.len();
    signed.resize(unsigned_len + 256, 0);
    let (signed_len, request_mac) =
        tsig::sign(&mut signed, unsigned_len, &key, now, None).expect("signs");
    signed.truncate(signed_len);
    let mut tampered = signed.clone();
    tampered[13] ^= 0x20; // the name's case: covered by the MAC
    let unsigned = client::notify_message(0x5152, "signed.test.");
    let elsewhere = client::notify_message(0x5153, "elsewhere.test.");
    let unknown = client::notify_message(0x5154, "example.com.");
    let cases: [(&[u8], Rcode); 5] = [
        (&signed, Rcode::NoError),
        (&tampered, Rcode::NotAuth),
        (&unsigned, Rcode::NotAuth),
        (&elsewhere, Rcode::Refused),
        (&unknown, Rcode::Refused),
    ];
    let mut out = vec![0u8; MAX_MESSAGE_LEN];
    let mut state = UdpState::new(dnslb::balancer::WorkerState::new(7));
    // Warm up and check each answer once.
    for (packet, rcode) in cases {
        for transport in [Transport::Udp, Transport::Tcp] {
            match answer(&snapshot, packet, &mut out, transport, &mut state) {
                Got::Reply {
                    rcode: got, len, ..
                } => {
                    assert_eq!(got, rcode, "{transport:?}");
                    if rcode == Rcode::NoError {
                        let mut verifier = ResponseVerifier::new(&key, &request_mac);
                        verifier
                            .message(&out[..len], now)
                            .expect("the reply is signed with the zone's key");
                        verifier.finish().expect("signed");
                    }
                }
                Got::Drop(reason) => panic!("dropped: {reason:?}"),
            }
        }
    }
    let mut queued = 0;
    while let Some(event) = snapshot.notify_intake.pop() {
        assert_eq!(event.apex(), b"\x06signed\x04test\x00");
        queued += 1;
    }
    assert_eq!(queued, 2, "the accepted NOTIFY, over UDP and TCP");

    let (rcodes, allocations) = count_allocations(|| {
        let mut rcodes = Vec::with_capacity(ROUNDS * cases.len());
        for _ in 0..ROUNDS {
            for (packet, _) in cases {
                if let Got::Reply { rcode, .. } =
                    answer(&snapshot, packet, &mut out, Transport::Udp, &mut state)
                {
                    rcodes.push(rcode);
                }
                // Keep the queue from filling: the transfer thread's part.
                while snapshot.notify_intake.pop().is_some() {}
            }
        }
        rcodes
    });
    // The vector of rcodes is the one allocation.
    assert_eq!(allocations, 1, "the NOTIFY path allocated");
    assert_eq!(rcodes.len(), ROUNDS * cases.len());
    for (index, rcode) in rcodes.iter().enumerate() {
        assert_eq!(*rcode, cases[index % cases.len()].1);
    }
}
