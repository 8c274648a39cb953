//! The answer path without sockets: the per-datagram step (source checks,
//! parse, look up, select, assemble), for the kinds of answer a DNS node
//! serves most. ns per query, one core.
//!
//! `cargo bench --bench answer`

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dnslb::balancer::WorkerState;
use dnslb::config;
use dnslb::dataplane::step::{self, Action, UdpState};

use common::query;

fn answer_path(criterion: &mut Criterion) {
    let config = config::embedded_default().expect("embedded config parses");
    let (snapshot, _) = dnslb::control::build::snapshot(&config, 1).expect("embedded zone loads");
    let cases = [
        ("a_answer", query("www.example.com", 1)),
        ("nxdomain", query("nope.example.com", 1)),
        ("referral", query("www.sub.example.com", 1)),
        ("cname_chain", query("chain.example.com", 1)),
        ("wildcard", query("host.apps.example.com", 1)),
        ("refused", query("www.example.org", 1)),
        ("service_weighted_a", query("lb.example.com", 1)),
        ("service_geo_a", query("geo.example.com", 1)),
    ];
    let mut group = criterion.benchmark_group("step");
    group.throughput(Throughput::Elements(1));
    let mut out = vec![0u8; 1232];
    let peer = std::net::SocketAddr::from(([198, 51, 100, 7], 5300));
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 53));
    let mut state = UdpState::new(WorkerState::new(1));
    for (label, packet) in &cases {
        assert!(matches!(
            step::udp(&snapshot, packet, peer, local, &mut out, &mut state, 0),
            Action::Send { .. }
        ));
        group.bench_function(*label, |bencher| {
            bencher.iter(|| {
                step::udp(
                    &snapshot,
                    black_box(packet),
                    peer,
                    local,
                    black_box(&mut out),
                    &mut state,
                    0,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, answer_path);
criterion_main!(benches);
