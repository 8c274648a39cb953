//! Instructions per query on the answer path, for `valgrind --tool=callgrind`
//! (this VM exposes no hardware counters to `perf stat`).
//!
//! `DNSLB_CASE=NAME DNSLB_COUNT=N target/release/deps/instructions-*` answers
//! the query of case NAME N times through the data plane's per-datagram step
//! (the function every UDP worker calls) and exits;
//! `benches/instructions.sh` runs it under callgrind with two counts and
//! divides the difference, so start-up (config, zone, snapshot) cancels out.
//! Without `DNSLB_CASE` it answers every case a few times (a smoke run) and
//! lists the cases.

mod common;

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use dnslb::balancer::WorkerState;
use dnslb::config::{self, Source};
use dnslb::dataplane::step::{self, Action, UdpState};
use dnslb::rrl::{RateLimiter, RrlSettings};

use common::query;

const ZONE: &str = include_str!("../zones/example.com.zone");
const FILES: &[(&str, &str)] = &[("<embedded>/zones/example.com.zone", ZONE)];

/// The example zone with two weighted services: 4 and 64 backends.
fn config() -> config::Config {
    let backends = |count: usize| -> String {
        (0..count)
            .map(|index| {
                format!(
                    "{{ address = \"10.0.{}.{}\" }}",
                    index / 250,
                    index % 250 + 1
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[zone]]\nname = \"example.com\"\n\
         file = \"zones/example.com.zone\"\n\n\
         [[service]]\nname = \"w4.example.com\"\npolicy = \"weighted\"\nanswers = 1\n\
         backends = [{}]\n\n\
         [[service]]\nname = \"w64.example.com\"\npolicy = \"weighted\"\nanswers = 1\n\
         backends = [{}]\n",
        backends(4),
        backends(64)
    );
    config::parse(
        &text,
        Path::new("<embedded>/bench.toml"),
        Source::Embedded(FILES),
    )
    .expect("bench config parses")
}

fn main() {
    let cases = [
        ("static_a", query("www.example.com", 1)),
        ("nxdomain", query("nope.example.com", 1)),
        ("weighted_4", query("w4.example.com", 1)),
        ("weighted_64", query("w64.example.com", 1)),
        ("cname_chain", query("chain.example.com", 1)),
        ("referral", query("www.sub.example.com", 1)),
        // static_a again, then the worker's [rrl] step at a rate never
        // reached: what rate limiting costs a query it does not limit.
        ("static_a_rrl", query("www.example.com", 1)),
    ];
    let wanted = std::env::var("DNSLB_CASE").ok();
    let count: u64 = std::env::var("DNSLB_COUNT")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(10);
    let (snapshot, _) = dnslb::control::build::snapshot(&config(), 1).expect("zone loads");
    let (mut limited, _) = dnslb::control::build::snapshot(&config(), 1).expect("zone loads");
    limited.rrl = Some(Arc::new(RateLimiter::new(
        RrlSettings {
            responses_per_second: 1_000_000,
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            table_size: 1_000_000,
        },
        3,
        std::time::Instant::now(),
    )));
    let mut out = vec![0u8; 1232];
    let peer = SocketAddr::from(([198, 51, 100, 7], 5300));
    let local = SocketAddr::from(([127, 0, 0, 1], 53));
    // Counting per-service answers into writer slot 0, as a worker does.
    let mut state = UdpState::new(WorkerState::new(1).with_writer(0));
    for (name, packet) in &cases {
        if wanted.as_deref().is_some_and(|wanted| wanted != *name) {
            continue;
        }
        let snapshot = if *name == "static_a_rrl" {
            &limited
        } else {
            &snapshot
        };
        for _ in 0..count {
            let action = step::udp(
                snapshot,
                black_box(packet),
                peer,
                local,
                black_box(&mut out),
                &mut state,
                1,
            );
            let Action::Send { slipped: false, .. } = action else {
                panic!("{name}: {action:?}");
            };
        }
        if wanted.is_none() {
            println!("{name}: {count} answers");
        }
    }
}
