//! Load-balanced services through a real server: each policy's observable
//! behaviour (weighted and least_loaded shares, round-robin cycling, hash
//! stickiness and ECS scope, priority levels, geo regions with the topology
//! file, default region, nested networks and fallback), A/AAAA/CNAME
//! families, ECS switched off, TCP, the start-up error for a service that
//! collides with static data, `when_all_down` at the handler, and the admin
//! `/explain` endpoint over plain HTTP/1.1.
//!
//! The services config ([`write_config`]) is shared with the allocation
//! tests, which run every case below through the handler and a worker.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use dnslb::balancer::{BackendInfo, Pool, PoolSpec, WorkerState};
use dnslb::dataplane::handler::{self, Outcome};
use dnslb::runtime::StartError;
use dnslb::snapshot::Snapshot;
use dnslb::wire::MAX_MESSAGE_LEN;
use dnslb::wire::answer::Transport;
use domain::base::Name;
use domain::base::iana::{OptRcode, Rtype};
use serde_json::Value;

use crate::answers::EXAMPLE_SOA;
use crate::client::{self, Reply};
use crate::server::{self, TestServer};

/// The topology file (`nets.txt`): client networks beyond the regions' own,
/// with a comment line, a trailing comment and a blank line.
pub const TOPOLOGY: &str = "\
# Client networks beyond the regions' own.
192.0.2.0/25      us
100.64.0.0/10     eu   # carrier-grade NAT space

2001:db8:a::/48   us
";

/// The geo service's backends: one per region and family.
const GEO_EU: &str = "192.0.2.21";
const GEO_US: &str = "192.0.2.22";
const GEO_EU_V6: &str = "2001:db8::21";
const GEO_US_V6: &str = "2001:db8::22";

/// Regions, topology, admin and one service per policy and family case,
/// appended to the base test config. `default_region` goes into
/// `[topology]` when given.
pub fn services_toml(default_region: Option<&str>) -> String {
    let default_region = default_region
        .map(|region| format!("default_region = \"{region}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
# Not 127.0.0.1:0, which config validation rejects (see
# admin_on_an_ephemeral_port_of_a_dns_listen_address).
[admin]
listen = "127.0.0.2:0"

[[region]]
name = "eu"
networks = ["198.51.100.0/24", "10.1.0.0/16", "2001:db8:e0::/48"]
fallback = ["us"]

[[region]]
name = "us"
networks = ["203.0.113.0/24", "10.1.2.0/24"]

# No backend anywhere: its clients fall back to us.
[[region]]
name = "ap"
networks = ["172.16.0.0/12"]
fallback = ["us", "eu"]

[topology]
file = "nets.txt"
{default_region}
[[service]]
name = "weighted.example.com"
policy = "weighted"
backends = [
  {{ address = "192.0.2.111", weight = 10 }},
  {{ address = "192.0.2.112", weight = 10 }},
  {{ address = "192.0.2.113", weight = 20 }},
  {{ address = "192.0.2.114", weight = 40 }},
]

[[service]]
name = "weighted2.example.com"
policy = "weighted"
answers = 2
backends = [
  {{ address = "192.0.2.111", weight = 10 }},
  {{ address = "192.0.2.112", weight = 10 }},
  {{ address = "192.0.2.113", weight = 20 }},
  {{ address = "192.0.2.114", weight = 40 }},
  {{ address = "2001:db8::111" }},
  {{ address = "2001:db8::112" }},
  {{ address = "2001:db8::113", weight = 5 }},
]

[[service]]
name = "rr.example.com"
policy = "round_robin"
backends = [
  {{ address = "192.0.2.121", weight = 50 }},
  {{ address = "192.0.2.122" }},
  {{ address = "192.0.2.123" }},
]

[[service]]
name = "hash.example.com"
policy = "hash"
answers = 2
hash_prefix_v4 = 24
hash_prefix_v6 = 56
backends = [
  {{ address = "192.0.2.131" }},
  {{ address = "192.0.2.132" }},
  {{ address = "192.0.2.133" }},
  {{ address = "192.0.2.134" }},
  {{ address = "192.0.2.135" }},
  {{ address = "192.0.2.136" }},
  {{ address = "192.0.2.137" }},
  {{ address = "192.0.2.138" }},
]

[[service]]
name = "priority.example.com"
policy = "priority"
answers = 4
backends = [
  {{ address = "192.0.2.141", priority = 1 }},
  {{ address = "192.0.2.142", priority = 1, weight = 3 }},
  {{ address = "192.0.2.143", priority = 2, weight = 100 }},
  {{ address = "192.0.2.144", priority = 2 }},
]

[[service]]
name = "geo.example.com"
policy = "geo"
backends = [
  {{ address = "{GEO_EU}", region = "eu" }},
  {{ address = "{GEO_US}", region = "us" }},
  {{ address = "{GEO_EU_V6}", region = "eu" }},
  {{ address = "{GEO_US_V6}", region = "us" }},
]

[[service]]
name = "least.example.com"
policy = "least_loaded"
backends = [
  {{ address = "192.0.2.151", weight = 10 }},
  {{ address = "192.0.2.152", weight = 30 }},
  {{ address = "192.0.2.153", weight = 60 }},
]

[[service]]
name = "v4only.example.com"
policy = "weighted"
backends = [{{ address = "192.0.2.161" }}]

# sip has a static A; a service with only IPv6 backends may sit beside it.
[[service]]
name = "sip.example.com"
policy = "weighted"
backends = [{{ address = "2001:db8::60:1" }}]

[[service]]
name = "cname.example.com"
policy = "round_robin"
backends = [{{ name = "pool-a.example.net" }}, {{ name = "pool-b.example.net" }}]

[[service]]
name = "to-mail.example.com"
policy = "weighted"
backends = [{{ name = "mail.example.com" }}]

[[service]]
name = "to-geo.example.com"
policy = "hash"
backends = [{{ name = "geo.example.com" }}]

# Up in the config; the when_all_down tests mark them down in a snapshot.
[[service]]
name = "down-all.example.com"
policy = "weighted"
ttl = 45
backends = [{{ address = "192.0.2.171" }}, {{ address = "192.0.2.172" }}]

[[service]]
name = "down-fallback.example.com"
policy = "weighted"
ttl = 45
when_all_down = "fallback"
fallback = ["192.0.2.99"]
backends = [{{ address = "192.0.2.181" }}, {{ address = "2001:db8::181" }}]

[[service]]
name = "down-empty.example.com"
policy = "priority"
when_all_down = "empty"
backends = [{{ address = "192.0.2.191" }}]

[[service]]
name = "down-servfail.example.com"
policy = "geo"
when_all_down = "servfail"
backends = [{{ address = "192.0.2.201", region = "eu" }}]
"#
    )
}

/// Writes the base test config with [`services_toml`] and the topology
/// file into `dir`; returns the config path.
pub fn write_config(dir: &Path, server_settings: &str, default_region: Option<&str>) -> PathBuf {
    std::fs::write(dir.join("nets.txt"), TOPOLOGY).expect("write nets.txt");
    server::write_config_with(dir, server_settings, &services_toml(default_region))
}

/// A server on the services config.
fn start(server_settings: &str, default_region: Option<&str>) -> TestServer {
    TestServer::start_in(|dir| write_config(dir, server_settings, default_region))
}

/// The services the when_all_down and allocation tests mark down with
/// [`mark_all_down`], one per action.
pub const DOWN_SERVICES: [&str; 4] = [
    "down-all.example.com",
    "down-fallback.example.com",
    "down-empty.example.com",
    "down-servfail.example.com",
];

/// Rebuilds every pool of the service `name` with all its backends down,
/// as health checking will: until then the only way to reach
/// when_all_down. (The hash prefixes do not matter: nothing is hashed when
/// all are down.)
pub fn mark_all_down(snapshot: &mut Snapshot, name: &str) {
    let wire = Name::<Vec<u8>>::from_str(name).expect("valid name");
    let service = std::sync::Arc::get_mut(&mut snapshot.services)
        .expect("a snapshot of the test's own, not shared")
        .entries
        .iter_mut()
        .find(|service| *service.name == *wire.as_slice())
        .unwrap_or_else(|| panic!("no service {name}"));
    for backend in &mut service.backends {
        backend.info.up = false;
    }
    let (policy, answers, when_all_down) = (service.policy, service.answers, service.when_all_down);
    let backends = &service.backends;
    for family in [&mut service.ipv4, &mut service.ipv6, &mut service.cname]
        .into_iter()
        .flatten()
    {
        let infos: Vec<BackendInfo> = family
            .members
            .iter()
            .map(|&member| backends[member].info.clone())
            .collect();
        family.pool = Pool::build(&PoolSpec {
            policy,
            answers,
            backends: &infos,
            hash_prefix_v4: 24,
            hash_prefix_v6: 56,
            region_fallbacks: &[],
            when_all_down,
            rotation_slot: family.pool.rotation_slot(),
        });
    }
}

/// `"198.51.100.0/24"` as an ECS (address, source prefix length).
pub fn subnet(text: &str) -> (IpAddr, u8) {
    let (address, prefix) = text.split_once('/').expect("ADDRESS/PREFIX");
    (
        address.parse().expect("an IP address"),
        prefix.parse().expect("a prefix length"),
    )
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an IP address")
}

/// A blocking UDP client on one socket, for many queries in a row.
struct Asker {
    socket: UdpSocket,
    next_id: u16,
}

impl Asker {
    fn new(server: SocketAddr) -> Asker {
        let local = if server.is_ipv4() {
            "127.0.0.1:0"
        } else {
            "[::1]:0"
        };
        let socket = UdpSocket::bind(local).expect("bind a client socket");
        socket.connect(server).expect("connect the client socket");
        socket
            .set_read_timeout(Some(client::TIMEOUT))
            .expect("read timeout");
        Asker { socket, next_id: 0 }
    }

    /// Asks `name`/`rtype` with EDNS and, when given, ECS `subnet`
    /// (`"ADDRESS/PREFIX"`); checks the reply is ours, NOERROR and AA.
    fn ask(&mut self, name: &str, rtype: Rtype, subnet: Option<&str>) -> Reply {
        let reply = self.ask_any(name, rtype, subnet);
        assert_eq!(
            reply.rcode(),
            OptRcode::NOERROR,
            "{name} {rtype} {subnet:?}"
        );
        assert!(reply.authoritative(), "{name} {rtype} {subnet:?}: AA");
        reply
    }

    /// As [`Asker::ask`] without checking the rcode.
    fn ask_any(&mut self, name: &str, rtype: Rtype, ecs: Option<&str>) -> Reply {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let packet = client::ecs_message(id, name, rtype, ecs.map(subnet));
        self.socket.send(&packet).expect("send");
        let mut buffer = [0u8; 4096];
        loop {
            let len = self
                .socket
                .recv(&mut buffer)
                .unwrap_or_else(|error| panic!("no reply to {name} {rtype} {ecs:?}: {error}"));
            let reply = Reply::new(&buffer[..len]);
            if reply.id() == id {
                assert!(!reply.truncated(), "{name} {rtype}: TC");
                return reply;
            }
        }
    }

    /// The addresses answered for `name`/`rtype`.
    fn addresses(&mut self, name: &str, rtype: Rtype, ecs: Option<&str>) -> Vec<IpAddr> {
        self.ask(name, rtype, ecs).addresses()
    }
}

/// The ECS SCOPE PREFIX-LENGTH of `reply`, checking the rest of the option
/// echoes the query's `ecs`.
fn scope(reply: &Reply, ecs: &str) -> u8 {
    let (address, source_prefix) = subnet(ecs);
    let option = reply
        .client_subnet()
        .unwrap_or_else(|| panic!("no ECS option in the reply to ECS {ecs}"));
    assert_eq!(
        option.source_prefix_len(),
        source_prefix,
        "ECS {ecs} echoed"
    );
    let sent = domain::base::opt::ClientSubnet::new(source_prefix, 0, address);
    assert_eq!(option.addr(), sent.addr(), "ECS {ecs} address echoed");
    option.scope_prefix_len()
}

/// Each address's share of `queries` single-answer replies.
fn shares(asker: &mut Asker, name: &str, queries: usize) -> HashMap<IpAddr, f64> {
    let mut counts: HashMap<IpAddr, usize> = HashMap::new();
    for _ in 0..queries {
        let addresses = asker.addresses(name, Rtype::A, None);
        assert_eq!(addresses.len(), 1, "{name}: one answer");
        *counts.entry(addresses[0]).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(address, count)| (address, count as f64 / queries as f64))
        .collect()
}

/// Asserts every share is within 4 percentage points of its expectation
/// (at 4,000 queries over 5 standard deviations for every share here), and
/// that nothing else was answered.
fn assert_shares(name: &str, observed: &HashMap<IpAddr, f64>, expected: &[(&str, f64)]) {
    for &(address, share) in expected {
        let got = observed.get(&ip(address)).copied().unwrap_or(0.0);
        assert!(
            (got - share).abs() <= 0.04,
            "{name}: {address} got {got:.3} of the answers, expected {share:.3} ± 0.04 ({observed:?})"
        );
    }
    assert_eq!(
        observed.len(),
        expected.len(),
        "{name}: only the backends: {observed:?}"
    );
}

fn set(addresses: &[IpAddr]) -> BTreeSet<IpAddr> {
    addresses.iter().copied().collect()
}

fn set_of(texts: &[&str]) -> BTreeSet<IpAddr> {
    texts.iter().map(|text| ip(text)).collect()
}

// ----- policies

#[tokio::test]
async fn weighted_shares_follow_the_weights() {
    let server = start("", None);
    let mut asker = Asker::new(server.ipv4());
    let observed = shares(&mut asker, "weighted.example.com", 4000);
    assert_shares(
        "weighted",
        &observed,
        &[
            ("192.0.2.111", 0.125),
            ("192.0.2.112", 0.125),
            ("192.0.2.113", 0.25),
            ("192.0.2.114", 0.5),
        ],
    );
    let reply = asker.ask("weighted.example.com", Rtype::A, None);
    let answer = reply.answer();
    assert!(
        answer[0].starts_with("weighted.example.com. 30 IN A 192.0.2.11"),
        "TTL 30 by default: {answer:?}"
    );
    server.finish().await;
}

#[tokio::test]
async fn weighted_with_two_answers_gives_two_distinct_addresses() {
    let server = start("", None);
    let v4 = set_of(&["192.0.2.111", "192.0.2.112", "192.0.2.113", "192.0.2.114"]);
    let v6 = set_of(&["2001:db8::111", "2001:db8::112", "2001:db8::113"]);
    let mut seen = BTreeSet::new();
    for address in [server.ipv4(), server.ipv6()] {
        let mut asker = Asker::new(address);
        for round in 0..200 {
            let (rtype, family) = if round % 2 == 0 {
                (Rtype::A, &v4)
            } else {
                (Rtype::AAAA, &v6)
            };
            let answered = asker.addresses("weighted2.example.com", rtype, None);
            assert_eq!(answered.len(), 2, "{rtype}: {answered:?}");
            assert_ne!(answered[0], answered[1], "{rtype}: distinct");
            assert!(set(&answered).is_subset(family), "{rtype}: {answered:?}");
            seen.extend(answered);
        }
    }
    assert_eq!(seen.len(), 7, "every backend is answered at times");
    server.finish().await;
}

#[tokio::test]
async fn round_robin_cycles_through_every_backend() {
    let server = start("", None);
    let mut asker = Asker::new(server.ipv4());
    let answered: Vec<IpAddr> = (0..30)
        .map(|_| {
            let addresses = asker.addresses("rr.example.com", Rtype::A, None);
            assert_eq!(addresses.len(), 1);
            addresses[0]
        })
        .collect();
    assert_eq!(
        set(&answered[..3]),
        set_of(&["192.0.2.121", "192.0.2.122", "192.0.2.123"]),
        "three consecutive answers are the three backends, weights ignored: {answered:?}"
    );
    for index in 3..answered.len() {
        assert_eq!(
            answered[index],
            answered[index - 3],
            "the cycle repeats: {answered:?}"
        );
    }
    server.finish().await;
}

#[tokio::test]
async fn hash_keeps_a_subnet_on_its_backends_with_the_hash_prefix_as_scope() {
    let server = start("", None);
    let mut asker = Asker::new(server.ipv4());
    let name = "hash.example.com";
    let all = set_of(&[
        "192.0.2.131",
        "192.0.2.132",
        "192.0.2.133",
        "192.0.2.134",
        "192.0.2.135",
        "192.0.2.136",
        "192.0.2.137",
        "192.0.2.138",
    ]);

    let ecs = "198.51.100.0/24";
    let first = asker.ask(name, Rtype::A, Some(ecs));
    let pair = first.addresses();
    assert_eq!(pair.len(), 2);
    assert_ne!(pair[0], pair[1]);
    assert!(set(&pair).is_subset(&all));
    assert_eq!(scope(&first, ecs), 24);
    for _ in 0..20 {
        let reply = asker.ask(name, Rtype::A, Some(ecs));
        assert_eq!(reply.addresses(), pair, "the same /24, the same pair");
        assert_eq!(scope(&reply, ecs), 24);
    }
    // Hosts of that /24 hash as the /24 (scope: min(24, 32)).
    for host in [1, 77, 255] {
        let ecs = format!("198.51.100.{host}/32");
        let reply = asker.ask(name, Rtype::A, Some(&ecs));
        assert_eq!(reply.addresses(), pair, "{ecs}");
        assert_eq!(scope(&reply, &ecs), 24, "{ecs}");
    }
    // A shorter source prefix is hashed, and scoped, at its own length.
    let reply = asker.ask(name, Rtype::A, Some("198.51.0.0/16"));
    assert_eq!(scope(&reply, "198.51.0.0/16"), 16);

    let mut pairs = BTreeSet::new();
    for third in 0..50 {
        let ecs = format!("10.20.{third}.0/24");
        let reply = asker.ask(name, Rtype::A, Some(&ecs));
        let answered = reply.addresses();
        assert_eq!(answered.len(), 2, "{ecs}");
        assert!(set(&answered).is_subset(&all), "{ecs}");
        assert_eq!(scope(&reply, &ecs), 24, "{ecs}");
        let again = asker.addresses(name, Rtype::A, Some(&ecs));
        assert_eq!(again, answered, "{ecs} is stable");
        pairs.insert(set(&answered));
    }
    assert!(
        pairs.len() >= 4,
        "50 subnets spread over only {} pairs",
        pairs.len()
    );

    // IPv6 subnets hash at /56, also over IPv6 transport.
    let mut asker = Asker::new(server.ipv6());
    let ecs = "2001:db8:1:100::/56";
    let reply = asker.ask(name, Rtype::A, Some(ecs));
    assert_eq!(scope(&reply, ecs), 56);
    let pair = reply.addresses();
    for ecs in ["2001:db8:1:1ff::/64", "2001:db8:1:142::/64"] {
        let reply = asker.ask(name, Rtype::A, Some(ecs));
        assert_eq!(reply.addresses(), pair, "{ecs} lies in the same /56");
        assert_eq!(scope(&reply, ecs), 56, "{ecs}");
    }
    let reply = asker.ask(name, Rtype::A, Some("2001:db8:1::/48"));
    assert_eq!(scope(&reply, "2001:db8:1::/48"), 48);
    server.finish().await;
}

#[tokio::test]
async fn priority_answers_only_the_best_level() {
    let server = start("", None);
    let mut asker = Asker::new(server.ipv4());
    let best = set_of(&["192.0.2.141", "192.0.2.142"]);
    let mut firsts = BTreeSet::new();
    for _ in 0..50 {
        let answered = asker.addresses("priority.example.com", Rtype::A, None);
        assert_eq!(answered.len(), 2, "answers 4, but only 2 at priority 1");
        assert_eq!(set(&answered), best, "never a priority-2 backend");
        firsts.insert(answered[0]);
    }
    assert_eq!(firsts, best, "either may come first");
    server.finish().await;
}

#[tokio::test]
async fn least_loaded_with_no_load_follows_the_weights() {
    let server = start("", None);
    let mut asker = Asker::new(server.ipv4());
    let observed = shares(&mut asker, "least.example.com", 4000);
    assert_shares(
        "least_loaded",
        &observed,
        &[
            ("192.0.2.151", 0.1),
            ("192.0.2.152", 0.3),
            ("192.0.2.153", 0.6),
        ],
    );
    server.finish().await;
}

/// `POST target` over HTTP/1.1, no body.
fn post(admin: SocketAddr, target: &str) -> (u16, Value) {
    let request = format!(
        "POST {target} HTTP/1.1\r\nHost: {admin}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    http(admin, request.as_bytes())
}

#[tokio::test]
async fn least_loaded_follows_loads_pushed_through_the_admin_api() {
    let server = start("", None);
    let admin = server.admin();
    for (backend, load) in [("192.0.2.153", "1.0"), ("192.0.2.152", "0.5")] {
        let (status, body) = post(
            admin,
            &format!("/backends/least.example.com/{backend}/load?value={load}"),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["backend"], backend);
    }
    // Spare capacity x weight: 1 x 1, 0.5 x 3, and the floor 0.02 x 6.
    let spare = [1.0, 1.5, 0.12];
    let total: f64 = spare.iter().sum();
    let mut asker = Asker::new(server.ipv4());
    let observed = shares(&mut asker, "least.example.com", 4000);
    assert_shares(
        "least_loaded with loads",
        &observed,
        &[
            ("192.0.2.151", spare[0] / total),
            ("192.0.2.152", spare[1] / total),
            ("192.0.2.153", spare[2] / total),
        ],
    );
    // /explain shows the loads.
    let (status, body) = get(admin, "/explain?name=least.example.com&type=A");
    assert_eq!(status, 200);
    let loads: Vec<f64> = body["services"][0]["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|backend| backend["load"].as_f64().expect("load"))
        .collect();
    assert_eq!(loads, [0.0, 0.5, 1.0]);
    // Bad pushes are refused and change nothing.
    for (target, status) in [
        (
            "/backends/least.example.com/192.0.2.151/load?value=1.5",
            400,
        ),
        ("/backends/least.example.com/192.0.2.151/load", 400),
        ("/backends/least.example.com/192.0.2.99/load?value=0.5", 404),
        ("/backends/nope.example.com/192.0.2.151/load?value=0.5", 404),
    ] {
        assert_eq!(post(admin, target).0, status, "{target}");
    }
    assert_eq!(
        get(
            admin,
            "/backends/least.example.com/192.0.2.151/load?value=0.5"
        )
        .0,
        405
    );
    server.finish().await;
}

/// ECS subnet, the backend geo must answer with, and the scope it returns.
const GEO_CASES: &[(&str, &str, u8)] = &[
    // A region's own network.
    ("198.51.100.0/24", GEO_EU, 24),
    ("198.51.100.77/32", GEO_EU, 24),
    ("203.0.113.0/24", GEO_US, 24),
    // Networks of the topology file.
    ("192.0.2.0/25", GEO_US, 25),
    ("100.64.5.0/24", GEO_EU, 10),
    // Longest match: 10.1.2.0/24 (us) inside 10.1.0.0/16 (eu); the scope
    // of an address in the /16 leaves the /24 out.
    ("10.1.2.0/24", GEO_US, 24),
    ("10.1.3.0/24", GEO_EU, 24),
    ("10.1.128.0/24", GEO_EU, 17),
    ("10.1.0.0/24", GEO_EU, 23),
    // ap has no backend: its first fallback answers.
    ("172.16.0.0/12", GEO_US, 12),
    ("172.31.1.0/24", GEO_US, 12),
    // IPv6 client subnets.
    ("2001:db8:e0:12::/56", GEO_EU, 48),
    ("2001:db8:a:1::/64", GEO_US, 48),
];

#[tokio::test]
async fn geo_answers_the_region_of_the_client_subnet() {
    let server = start("", None);
    for address in [server.ipv4(), server.ipv6()] {
        let mut asker = Asker::new(address);
        for &(ecs, backend, expected_scope) in GEO_CASES {
            for _ in 0..5 {
                let reply = asker.ask("geo.example.com", Rtype::A, Some(ecs));
                assert_eq!(reply.addresses(), [ip(backend)], "ECS {ecs} via {address}");
                assert_eq!(
                    scope(&reply, ecs),
                    expected_scope,
                    "ECS {ecs} via {address}"
                );
            }
        }
        // AAAA picks among the IPv6 backends of the same region.
        let reply = asker.ask("geo.example.com", Rtype::AAAA, Some("198.51.100.0/24"));
        assert_eq!(reply.addresses(), [ip(GEO_EU_V6)]);
        let reply = asker.ask("geo.example.com", Rtype::AAAA, Some("2001:db8:a::/48"));
        assert_eq!(reply.addresses(), [ip(GEO_US_V6)]);
    }
    server.finish().await;
}

#[tokio::test]
async fn geo_client_in_no_network_gets_any_backend_without_a_default_region() {
    let server = start("", None);
    let mut asker = Asker::new(server.ipv4());
    let mut seen = BTreeSet::new();
    for _ in 0..64 {
        let reply = asker.ask("geo.example.com", Rtype::A, Some("192.0.2.128/25"));
        assert_eq!(reply.addresses().len(), 1);
        // The largest block around it holding no network: the /25 beside
        // the topology file's 192.0.2.0/25.
        assert_eq!(scope(&reply, "192.0.2.128/25"), 25);
        seen.extend(reply.addresses());
    }
    assert_eq!(
        seen,
        set_of(&[GEO_EU, GEO_US]),
        "every region's backends, 64 draws"
    );
    // Without ECS, the packet's source (127.0.0.1) is in no network either.
    let mut seen = BTreeSet::new();
    for _ in 0..64 {
        seen.extend(asker.addresses("geo.example.com", Rtype::A, None));
    }
    assert_eq!(seen, set_of(&[GEO_EU, GEO_US]));
    server.finish().await;
}

#[tokio::test]
async fn geo_client_in_no_network_gets_the_default_region() {
    let server = start("", Some("eu"));
    let mut asker = Asker::new(server.ipv4());
    for _ in 0..20 {
        let reply = asker.ask("geo.example.com", Rtype::A, Some("192.0.2.128/25"));
        assert_eq!(reply.addresses(), [ip(GEO_EU)]);
        assert_eq!(scope(&reply, "192.0.2.128/25"), 25);
        let reply = asker.ask("geo.example.com", Rtype::A, Some("8.8.8.0/24"));
        assert_eq!(reply.addresses(), [ip(GEO_EU)]);
        // Without ECS: 127.0.0.1 is in no network, so in the default region.
        assert_eq!(
            asker.addresses("geo.example.com", Rtype::A, None),
            [ip(GEO_EU)]
        );
    }
    // Networks still win over the default.
    for &(ecs, backend, expected_scope) in GEO_CASES {
        let reply = asker.ask("geo.example.com", Rtype::A, Some(ecs));
        assert_eq!(reply.addresses(), [ip(backend)], "ECS {ecs}");
        assert_eq!(scope(&reply, ecs), expected_scope, "ECS {ecs}");
    }
    server.finish().await;
}

// ----- families, CNAMEs, ECS off, TCP

#[tokio::test]
async fn a_only_service_answers_aaaa_with_nodata() {
    let server = start("", None);
    let mut asker = Asker::new(server.ipv6());
    let reply = asker.ask("v4only.example.com", Rtype::AAAA, None);
    assert!(reply.answer().is_empty());
    assert_eq!(reply.authority(), [EXAMPLE_SOA]);
    let reply = asker.ask("v4only.example.com", Rtype::A, None);
    assert_eq!(reply.answer(), ["v4only.example.com. 30 IN A 192.0.2.161"]);
    assert!(reply.authority().is_empty());
    // Other types at a service name: NODATA too.
    let reply = asker.ask("v4only.example.com", Rtype::TXT, None);
    assert!(reply.answer().is_empty());
    assert_eq!(reply.authority(), [EXAMPLE_SOA]);
    // An IPv6-only service beside a static A: A static, AAAA balanced.
    let reply = asker.ask("sip.example.com", Rtype::A, None);
    assert_eq!(reply.answer(), ["sip.example.com. 3600 IN A 192.0.2.60"]);
    let reply = asker.ask("sip.example.com", Rtype::AAAA, None);
    assert_eq!(
        reply.answer(),
        ["sip.example.com. 30 IN AAAA 2001:db8::60:1"]
    );
    server.finish().await;
}

#[tokio::test]
async fn name_backends_answer_a_cname_for_a_and_aaaa() {
    let server = start("", None);
    let mut asker = Asker::new(server.ipv4());
    let mut targets = Vec::new();
    for rtype in [Rtype::A, Rtype::AAAA, Rtype::A, Rtype::AAAA] {
        let reply = asker.ask("cname.example.com", rtype, None);
        let answer = reply.answer();
        assert_eq!(
            answer.len(),
            1,
            "{rtype}: one CNAME, not followed: {answer:?}"
        );
        let target = answer[0]
            .strip_prefix("cname.example.com. 30 IN CNAME ")
            .unwrap_or_else(|| panic!("{rtype}: {answer:?}"))
            .to_owned();
        assert!(reply.authority().is_empty(), "{rtype}");
        targets.push(target);
    }
    // round_robin over the two names, whatever the type asked.
    assert_ne!(targets[0], targets[1], "{targets:?}");
    assert_eq!(targets[0], targets[2], "{targets:?}");
    assert_eq!(targets[1], targets[3], "{targets:?}");
    let both: BTreeSet<&str> = targets.iter().map(String::as_str).collect();
    assert_eq!(
        both,
        BTreeSet::from(["pool-a.example.net.", "pool-b.example.net."])
    );
    server.finish().await;
}

#[tokio::test]
async fn cname_service_into_our_zone_is_followed() {
    let server = start("", None);
    let mut asker = Asker::new(server.ipv4());
    let reply = asker.ask("to-mail.example.com", Rtype::A, None);
    assert_eq!(
        reply.answer(),
        [
            "to-mail.example.com. 30 IN CNAME mail.example.com.",
            "mail.example.com. 3600 IN A 192.0.2.25",
        ]
    );
    // The target has no AAAA: the CNAME, then NODATA's SOA.
    let reply = asker.ask("to-mail.example.com", Rtype::AAAA, None);
    assert_eq!(
        reply.answer(),
        ["to-mail.example.com. 30 IN CNAME mail.example.com."]
    );
    assert_eq!(reply.authority(), [EXAMPLE_SOA]);
    // Into another service: its policy answers, with its ECS scope.
    for (ecs, backend) in [("198.51.100.0/24", GEO_EU), ("203.0.113.0/24", GEO_US)] {
        let reply = asker.ask("to-geo.example.com", Rtype::A, Some(ecs));
        assert_eq!(
            reply.answer(),
            [
                "to-geo.example.com. 30 IN CNAME geo.example.com.".to_owned(),
                format!("geo.example.com. 30 IN A {backend}"),
            ],
            "ECS {ecs}"
        );
        assert_eq!(scope(&reply, ecs), 24, "ECS {ecs}");
    }
    server.finish().await;
}

#[tokio::test]
async fn cname_query_at_a_cname_service_gets_only_the_cname() {
    let server = start("", None);
    let mut asker = Asker::new(server.ipv4());
    // As a static CNAME answers (RFC 1034 section 4.3.2, step 3a: only
    // when QTYPE is not CNAME is the chain followed).
    let reply = asker.ask("alias.example.com", Rtype::CNAME, None);
    assert_eq!(
        reply.answer(),
        ["alias.example.com. 3600 IN CNAME www.example.com."]
    );
    assert!(reply.authority().is_empty());
    for (name, target) in [
        ("to-mail.example.com", "mail.example.com."),
        ("to-geo.example.com", "geo.example.com."),
        ("cname.example.com", ""),
    ] {
        let reply = asker.ask(name, Rtype::CNAME, None);
        let answer = reply.answer();
        assert_eq!(answer.len(), 1, "{name}: {answer:?}");
        assert!(
            answer[0].starts_with(&format!("{name}. 30 IN CNAME {target}")),
            "{name}: {answer:?}"
        );
        assert!(
            reply.authority().is_empty(),
            "{name}: a positive answer carries no SOA: {:?}",
            reply.authority()
        );
    }
    server.finish().await;
}

#[tokio::test]
async fn ecs_is_echoed_with_scope_zero_unless_the_answer_depends_on_it() {
    let server = start("", None);
    let mut asker = Asker::new(server.ipv4());
    for ecs in [
        "198.51.100.0/24",
        "2001:db8:e0::/56",
        "0.0.0.0/0",
        "203.0.113.9/32",
    ] {
        for name in [
            "www.example.com",
            "weighted.example.com",
            "cname.example.com",
        ] {
            let reply = asker.ask(name, Rtype::A, Some(ecs));
            assert_eq!(scope(&reply, ecs), 0, "{name} with ECS {ecs}");
        }
        let reply = asker.ask_any("nothing.example.com", Rtype::A, Some(ecs));
        assert_eq!(reply.rcode(), OptRcode::NXDOMAIN);
        assert_eq!(scope(&reply, ecs), 0, "NXDOMAIN with ECS {ecs}");
        let reply = asker.ask("v4only.example.com", Rtype::AAAA, Some(ecs));
        assert_eq!(scope(&reply, ecs), 0, "NODATA with ECS {ecs}");
    }
    // Hashing a /0 hashes nothing: every client the same, scope 0.
    let reply = asker.ask("hash.example.com", Rtype::A, Some("0.0.0.0/0"));
    assert_eq!(scope(&reply, "0.0.0.0/0"), 0);
    // The name's case is kept in the question and does not matter.
    let reply = asker.ask("GeO.ExAmPlE.CoM", Rtype::A, Some("198.51.100.0/24"));
    assert_eq!(reply.question(), ["GeO.ExAmPlE.CoM. A IN"]);
    assert_eq!(reply.addresses(), [ip(GEO_EU)]);
    // A query must leave SCOPE PREFIX-LENGTH 0 (RFC 7871 section 6).
    let packet = client::ecs_message_with_scope(
        9,
        "geo.example.com",
        Rtype::A,
        Some(subnet("198.51.100.0/24")),
        8,
    );
    let reply = client::udp_raw(server.ipv4(), &packet, client::TIMEOUT).expect("a reply");
    assert_eq!(reply.rcode(), OptRcode::FORMERR);
    server.finish().await;
}

#[tokio::test]
async fn with_ecs_off_the_option_is_ignored_and_not_echoed() {
    let server = start("ecs = false", None);
    let mut asker = Asker::new(server.ipv4());
    let mut seen = BTreeSet::new();
    for _ in 0..64 {
        let reply = asker.ask("geo.example.com", Rtype::A, Some("198.51.100.0/24"));
        assert!(reply.client_subnet().is_none(), "no ECS echoed");
        assert!(reply.opt_without_options(), "an OPT with no option at all");
        seen.extend(reply.addresses());
    }
    assert_eq!(
        seen,
        set_of(&[GEO_EU, GEO_US]),
        "geo placed the client by its source, 127.0.0.1: in no region"
    );
    // hash hashes the source's /24 whatever the ECS says.
    let pair = asker.addresses("hash.example.com", Rtype::A, None);
    for ecs in ["198.51.100.0/24", "10.9.8.0/24", "2001:db8::/56"] {
        let reply = asker.ask("hash.example.com", Rtype::A, Some(ecs));
        assert_eq!(reply.addresses(), pair, "ECS {ecs} ignored");
        assert!(reply.client_subnet().is_none());
    }
    // Not even parsed: a scope set in the query is no error.
    let packet = client::ecs_message_with_scope(
        9,
        "geo.example.com",
        Rtype::A,
        Some(subnet("198.51.100.0/24")),
        8,
    );
    let reply = client::udp_raw(server.ipv4(), &packet, client::TIMEOUT).expect("a reply");
    assert_eq!(reply.rcode(), OptRcode::NOERROR);
    assert!(reply.opt_without_options());
    // /explain shows the decision by the source, not the ECS.
    let (status, body) = get(
        server.admin(),
        "/explain?name=geo.example.com&type=A&client=203.0.113.9&ecs=198.51.100.0%2F24",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(region_decision(&body), (Value::from("us"), 24));
    let (status, body) = get(
        server.admin(),
        "/explain?name=geo.example.com&type=A&client=127.0.0.1&ecs=198.51.100.0%2F24",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(region_decision(&body).0, Value::Null, "{body}");
    server.finish().await;
}

#[tokio::test]
async fn services_answer_over_tcp() {
    let server = start("", None);
    for address in [server.ipv4(), server.ipv6()] {
        let reply = client::tcp(address, client::request("weighted.example.com", Rtype::A)).await;
        assert_eq!(reply.rcode(), OptRcode::NOERROR, "via {address}");
        let answered = reply.addresses();
        assert_eq!(answered.len(), 1, "via {address}");
        assert!(
            set_of(&["192.0.2.111", "192.0.2.112", "192.0.2.113", "192.0.2.114"])
                .contains(&answered[0]),
            "via {address}: {answered:?}"
        );
        let mut stream = client::tcp_connect(address);
        for (id, (ecs, backend)) in [("198.51.100.0/24", GEO_EU), ("203.0.113.0/24", GEO_US)]
            .into_iter()
            .enumerate()
        {
            let id = 40 + id as u16;
            let packet = client::ecs_message(id, "geo.example.com", Rtype::A, Some(subnet(ecs)));
            let reply = client::tcp_exchange(&mut stream, &packet).expect("a TCP reply");
            assert_eq!(reply.id(), id);
            assert_eq!(reply.addresses(), [ip(backend)], "ECS {ecs} via {address}");
            assert_eq!(scope(&reply, ecs), 24, "ECS {ecs} via {address}");
        }
        let packet = client::ecs_message(50, "hash.example.com", Rtype::A, None);
        let reply = client::tcp_exchange(&mut stream, &packet).expect("a TCP reply");
        assert_eq!(reply.addresses().len(), 2, "via {address}");
    }
    server.finish().await;
}

// ----- start-up errors

#[test]
fn service_colliding_with_static_data_stops_the_start() {
    // (service, what the message must say)
    let collisions = [
        (
            "name = \"www.example.com\"\npolicy = \"weighted\"\n\
             backends = [{ address = \"192.0.2.9\" }]",
            "static A record",
        ),
        (
            "name = \"www.example.com\"\npolicy = \"hash\"\n\
             backends = [{ address = \"2001:db8::9\" }]",
            "static AAAA record",
        ),
        (
            "name = \"alias.example.com\"\npolicy = \"weighted\"\n\
             backends = [{ address = \"192.0.2.9\" }]",
            "static CNAME record",
        ),
        (
            "name = \"mail.example.com\"\npolicy = \"round_robin\"\n\
             backends = [{ name = \"pool.example.net\" }]",
            "CNAME",
        ),
    ];
    for (service, message) in collisions {
        let dir = tempfile::tempdir().expect("temporary directory");
        // A valid service first, so the index and line are not the first.
        let extra = format!(
            "\n[[service]]\nname = \"fine.example.com\"\npolicy = \"weighted\"\n\
             backends = [{{ address = \"192.0.2.8\" }}]\n\n[[service]]\n{service}\n"
        );
        let path = server::write_config_with(dir.path(), "", &extra);
        let text = std::fs::read_to_string(&path).expect("read back");
        let name_line = service.lines().next().expect("a name line");
        let line = text
            .lines()
            .position(|line| line == name_line)
            .expect("the service's name line")
            + 1;
        let config = dnslb::config::load(&path).expect("the config itself is valid");
        let error = match dnslb::runtime::start(&config) {
            Ok(_) => panic!("{name_line}: the server started"),
            Err(StartError::Config(errors)) => errors,
            Err(other) => panic!("{name_line}: {other}"),
        };
        assert_eq!(error.0.len(), 1, "{error}");
        let first = &error.0[0];
        assert_eq!(first.file, path, "{error}");
        assert_eq!(first.line, Some(line), "{error}");
        assert_eq!(first.key, "service[1].name", "{error}");
        let shown = error.to_string();
        assert!(
            shown.starts_with(&format!("{}:{line}: service[1].name: ", path.display())),
            "{shown}"
        );
        assert!(shown.contains(message), "{shown}");
    }
}

// ----- when_all_down, at the handler

/// Answers one query from `snapshot` at the handler, as a UDP worker would
/// (with one worker state for the whole test, as a worker has).
fn handle(snapshot: &Snapshot, name: &str, rtype: Rtype) -> Reply {
    thread_local! {
        static WORKER: std::cell::RefCell<WorkerState> =
            std::cell::RefCell::new(WorkerState::new(3));
    }
    let packet = client::ecs_message(7, name, rtype, None);
    let mut out = vec![0u8; MAX_MESSAGE_LEN];
    let outcome = WORKER.with_borrow_mut(|worker| {
        handler::handle(
            snapshot,
            &packet,
            &mut out,
            Transport::Udp,
            ip("192.0.2.250"),
            worker,
        )
    });
    match outcome {
        Outcome::Reply { len, .. } => Reply::new(&out[..len]),
        Outcome::Drop(reason) => panic!("{name} {rtype}: dropped ({reason:?})"),
    }
}

#[test]
fn when_all_down_decides_the_answer_at_the_handler() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = write_config(dir.path(), "", None);
    let config = dnslb::config::load(&path).expect("valid config");
    let (mut snapshot, _) = dnslb::control::build::snapshot(&config, 1).expect("snapshot");
    // Up, every service answers its backends.
    for (name, backends) in [
        ("down-all.example.com", &["192.0.2.171", "192.0.2.172"][..]),
        ("down-fallback.example.com", &["192.0.2.181"]),
        ("down-empty.example.com", &["192.0.2.191"]),
        ("down-servfail.example.com", &["192.0.2.201"]),
    ] {
        let reply = handle(&snapshot, name, Rtype::A);
        assert_eq!(reply.rcode(), OptRcode::NOERROR, "{name}");
        assert!(
            set(&reply.addresses()).is_subset(&set_of(backends)),
            "{name}"
        );
        assert_eq!(reply.addresses().len(), 1, "{name}");
    }
    for name in DOWN_SERVICES {
        mark_all_down(&mut snapshot, name);
    }

    let mut seen = BTreeSet::new();
    for _ in 0..32 {
        let reply = handle(&snapshot, "down-all.example.com", Rtype::A);
        assert_eq!(reply.rcode(), OptRcode::NOERROR);
        seen.extend(reply.addresses());
    }
    assert_eq!(
        seen,
        set_of(&["192.0.2.171", "192.0.2.172"]),
        "all: as if all were up"
    );

    let reply = handle(&snapshot, "down-fallback.example.com", Rtype::A);
    assert_eq!(reply.rcode(), OptRcode::NOERROR);
    assert!(reply.authoritative());
    assert_eq!(
        reply.answer(),
        ["down-fallback.example.com. 45 IN A 192.0.2.99"]
    );
    let reply = handle(&snapshot, "down-fallback.example.com", Rtype::AAAA);
    assert_eq!(reply.rcode(), OptRcode::NOERROR);
    assert!(reply.answer().is_empty(), "no IPv6 fallback: NODATA");
    assert_eq!(reply.authority(), [EXAMPLE_SOA]);

    for rtype in [Rtype::A, Rtype::AAAA] {
        let reply = handle(&snapshot, "down-empty.example.com", rtype);
        assert_eq!(reply.rcode(), OptRcode::NOERROR, "{rtype}");
        assert!(reply.authoritative(), "{rtype}");
        assert!(reply.answer().is_empty(), "{rtype}");
        assert_eq!(reply.authority(), [EXAMPLE_SOA], "{rtype}");
    }

    let reply = handle(&snapshot, "down-servfail.example.com", Rtype::A);
    assert_eq!(reply.rcode(), OptRcode::SERVFAIL);
    assert!(!reply.authoritative());
    assert!(reply.answer().is_empty());
    assert!(reply.authority().is_empty());
    // Other services are untouched.
    let reply = handle(&snapshot, "v4only.example.com", Rtype::A);
    assert_eq!(reply.addresses(), [ip("192.0.2.161")]);
}

// ----- /explain

#[test]
fn admin_on_an_ephemeral_port_of_a_dns_listen_address() {
    let server = TestServer::start_in(|dir| {
        server::write_config_with(dir, "", "\n[admin]\nlisten = \"127.0.0.1:0\"\n")
    });
    let admin = server.admin();
    assert_eq!(admin.ip(), ip("127.0.0.1"));
    assert_ne!(admin.port(), 0);
    assert_ne!(admin, server.ipv4(), "its own port");
    let (status, body) = get(admin, "/explain?name=www.example.com");
    assert_eq!(status, 200, "{body}");
}

/// Sends `request` as is to the admin listener and returns the status and
/// the JSON body, checking `Content-Length`.
fn http(admin: SocketAddr, request: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect_timeout(&admin, client::TIMEOUT).expect("connect");
    stream
        .set_read_timeout(Some(client::TIMEOUT))
        .expect("read timeout");
    stream.write_all(request).expect("send the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read the response");
    let response = String::from_utf8(response).expect("UTF-8");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {response:?}"));
    let mut lines = head.lines();
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let length: usize = lines
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .and_then(|length| length.parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
    assert_eq!(length, body.len(), "Content-Length");
    let body = serde_json::from_str(body).unwrap_or_else(|error| panic!("{error}: {body:?}"));
    (status, body)
}

/// `GET target` over HTTP/1.1.
fn get(admin: SocketAddr, target: &str) -> (u16, Value) {
    let request = format!("GET {target} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
    http(admin, request.as_bytes())
}

/// The region and prefix length of the (only) `client_region` decision.
fn region_decision(body: &Value) -> (Value, u64) {
    let decisions = body["decisions"].as_array().expect("decisions");
    let regions: Vec<&Value> = decisions
        .iter()
        .filter(|decision| decision["event"] == "client_region")
        .collect();
    assert_eq!(regions.len(), 1, "one client_region decision: {body}");
    (
        regions[0]["region"].clone(),
        regions[0]["prefix_len"].as_u64().expect("prefix_len"),
    )
}

/// The answer lines of an explain body.
fn explained_answer(body: &Value) -> Vec<String> {
    body["reply"]["answer"]
        .as_array()
        .expect("reply.answer")
        .iter()
        .map(|line| line.as_str().expect("a record line").to_owned())
        .collect()
}

#[tokio::test]
async fn explain_shows_the_geo_decision_and_the_answer() {
    let server = start("", None);
    let admin = server.admin();
    let (status, body) = get(
        admin,
        "/explain?name=geo.example.com&type=A&client=203.0.113.9",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rcode"], "NOERROR", "{body}");
    assert_eq!(body["services"][0]["policy"], "geo", "{body}");
    assert_eq!(body["services"][0]["name"], "geo.example.com.", "{body}");
    assert_eq!(region_decision(&body), (Value::from("us"), 24));
    let answer = explained_answer(&body);
    assert_eq!(answer.len(), 1, "{body}");
    assert!(answer[0].ends_with(GEO_US), "{answer:?}");

    let (status, body) = get(
        admin,
        "/explain?name=geo.example.com&type=A&client=203.0.113.9&ecs=198.51.100.0%2F24",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(region_decision(&body), (Value::from("eu"), 24));
    let answer = explained_answer(&body);
    assert!(
        answer.len() == 1 && answer[0].ends_with(GEO_EU),
        "{answer:?}"
    );
    // A CNAME service leading to the geo service shows both.
    let (status, body) = get(
        admin,
        "/explain?name=to-geo.example.com&type=A&ecs=10.1.2.0/24",
    );
    assert_eq!(status, 200, "{body}");
    let policies: Vec<&Value> = body["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|service| &service["policy"])
        .collect();
    assert_eq!(policies, ["hash", "geo"], "{body}");
    assert_eq!(region_decision(&body), (Value::from("us"), 24));
    server.finish().await;
}

#[tokio::test]
async fn explain_rejects_bad_requests_and_the_server_goes_on() {
    let server = start("", None);
    let admin = server.admin();
    let (status, body) = get(admin, "/explain?type=A&client=203.0.113.9");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = get(admin, "/explain?name=geo.example.com&client=nowhere");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = get(admin, "/nothing-here");
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = http(
        admin,
        b"POST /explain?name=geo.example.com HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(status, 405, "{body}");
    let (status, body) = http(admin, b"NOT A REQUEST\r\n\r\n");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = http(admin, b"\x00\x01\x02 / HTTP/1.1\r\n\r\n");
    assert_eq!(status, 400, "{body}");
    // A head that never ends within 8 KiB (sent whole, so that closing
    // with unread bytes cannot reset the connection before the reply).
    let mut endless = b"GET /explain HTTP/1.1\r\nX-Padding: ".to_vec();
    endless.resize(8192, b'a');
    let (status, body) = http(admin, &endless);
    assert_eq!(status, 413, "{body}");
    // Both planes still answer.
    let (status, _) = get(admin, "/explain?name=www.example.com");
    assert_eq!(status, 200);
    let mut asker = Asker::new(server.ipv4());
    assert_eq!(
        asker.addresses("v4only.example.com", Rtype::A, None),
        [ip("192.0.2.161")]
    );
    server.finish().await;
}
