//! Backend selection without sockets: ns per `Pool::select` for each policy
//! with 4 and with 64 backends (answers = 2, all up; geo over a topology of
//! a few regions), and ns per `Topology::lookup` over 500,000 random IPv4
//! and 100,000 random IPv6 prefixes at random addresses, hot (1,024
//! addresses, cached) and cold (2^20 addresses). One core.
//!
//! `cargo bench --bench select`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dnslb::balancer::{
    BackendInfo, Choice, Chosen, Client, NoTrace, Policy, Pool, PoolSpec, RegionId, Topology,
    WhenAllDown, WorkerState,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Regions in the geo benches.
const REGIONS: u16 = 4;
/// Distinct clients cycled through (a power of two).
const CLIENTS: usize = 1024;
/// Distinct addresses for cold topology lookups (a power of two).
const COLD_ADDRESSES: usize = 1 << 20;

/// `count` up backends with mixed weights, priorities, regions and loads.
fn backends(count: usize) -> Vec<BackendInfo> {
    (0..count)
        .map(|position| BackendInfo {
            weight: 1 + (position % 4) as u32,
            priority: 1 + (position % 2) as u32,
            region: Some((position % usize::from(REGIONS)) as RegionId),
            up: true,
            load: (position % 10) as f32 / 10.0,
        })
        .collect()
}

/// Four /8s, one per region, each with a nested /16 of the next region.
fn small_topology() -> Topology {
    let mut networks = Vec::new();
    for region in 0..REGIONS {
        let first = 10 + region as u8;
        let outer = Ipv4Net::new(Ipv4Addr::new(first, 0, 0, 0), 8).expect("valid prefix");
        let inner = Ipv4Net::new(Ipv4Addr::new(first, 1, 0, 0), 16).expect("valid prefix");
        networks.push((IpNet::V4(outer), region));
        networks.push((IpNet::V4(inner), (region + 1) % REGIONS));
    }
    Topology::build(&networks, None)
}

/// Client addresses spread over the small topology's /8s.
fn clients(random: &mut WorkerState) -> Vec<Client> {
    (0..CLIENTS)
        .map(|_| {
            let bits = random.next_u64() as u32;
            let first = 10 + (bits >> 30);
            let address = Ipv4Addr::from((first << 24) | (bits & 0x00ff_ffff));
            Client::from_address(IpAddr::V4(address))
        })
        .collect()
}

fn select(criterion: &mut Criterion) {
    let topology = small_topology();
    let fallbacks: Vec<Vec<RegionId>> = (0..REGIONS)
        .map(|region| vec![(region + 1) % REGIONS])
        .collect();
    let clients = clients(&mut WorkerState::new(1));
    let mut group = criterion.benchmark_group("select");
    group.throughput(Throughput::Elements(1));
    for count in [4, 64] {
        let backends = backends(count);
        for policy in Policy::ALL {
            let pool = Pool::build(&PoolSpec {
                policy,
                answers: 2,
                backends: &backends,
                hash_prefix_v4: 24,
                hash_prefix_v6: 56,
                region_fallbacks: &fallbacks,
                when_all_down: WhenAllDown::All,
                rotation_slot: 0,
            });
            let mut worker = WorkerState::new(7);
            let mut out = Chosen::default();
            let probe = pool.select(&clients[0], &topology, &mut worker, &mut out, &mut NoTrace);
            assert!(matches!(probe, Choice::Backends { .. }));
            assert!(out.len >= 1);
            let mut turn = 0;
            group.bench_function(BenchmarkId::new(policy.name(), count), |bencher| {
                bencher.iter(|| {
                    turn = (turn + 1) & (CLIENTS - 1);
                    pool.select(
                        black_box(&clients[turn]),
                        &topology,
                        &mut worker,
                        &mut out,
                        &mut NoTrace,
                    )
                })
            });
        }
    }
    group.finish();
}

/// `count` random IPv4 prefixes, half of them /24s, the rest /16 to /23.
fn random_v4_networks(count: usize, random: &mut WorkerState) -> Vec<(IpNet, RegionId)> {
    (0..count)
        .map(|_| {
            let prefix_len = if random.next_below(2) == 0 {
                24
            } else {
                16 + random.next_below(8) as u8
            };
            let address = Ipv4Addr::from(random.next_u64() as u32);
            let network = Ipv4Net::new(address, prefix_len)
                .expect("valid prefix")
                .trunc();
            (IpNet::V4(network), random.next_below(64) as RegionId)
        })
        .collect()
}

/// `count` random IPv6 prefixes of /24 to /48 inside 2000::/4.
fn random_v6_networks(count: usize, random: &mut WorkerState) -> Vec<(IpNet, RegionId)> {
    (0..count)
        .map(|_| {
            let prefix_len = 24 + random.next_below(25) as u8;
            let address = Ipv6Addr::from(random_v6_bits(random));
            let network = Ipv6Net::new(address, prefix_len)
                .expect("valid prefix")
                .trunc();
            (IpNet::V6(network), random.next_below(64) as RegionId)
        })
        .collect()
}

/// A random address inside 2000::/4.
fn random_v6_bits(random: &mut WorkerState) -> u128 {
    let bits = (u128::from(random.next_u64()) << 64) | u128::from(random.next_u64());
    (0x2u128 << 124) | (bits >> 4)
}

fn lookup(criterion: &mut Criterion) {
    let mut random = WorkerState::new(3);
    let v4_networks = random_v4_networks(500_000, &mut random);
    let v6_networks = random_v6_networks(100_000, &mut random);
    let mut networks = v4_networks;
    networks.extend(v6_networks);
    let started = Instant::now();
    let topology = Topology::build(&networks, Some(0));
    eprintln!(
        "Topology::build of {} networks: {:?} ({topology:?})",
        networks.len(),
        started.elapsed()
    );
    // Hot: 1,024 addresses asked again and again (the table's paths to them
    // stay in cache). Cold: 2^20 distinct addresses, nearly every lookup a
    // cache miss.
    let mut group = criterion.benchmark_group("topology_lookup");
    group.throughput(Throughput::Elements(1));
    for (label, distinct) in [("hot", CLIENTS), ("cold", COLD_ADDRESSES)] {
        let v4_addresses: Vec<IpAddr> = (0..distinct)
            .map(|_| IpAddr::V4(Ipv4Addr::from(random.next_u64() as u32)))
            .collect();
        let v6_addresses: Vec<IpAddr> = (0..distinct)
            .map(|_| IpAddr::V6(Ipv6Addr::from(random_v6_bits(&mut random))))
            .collect();
        for (family, addresses) in [("v4_500k", &v4_addresses), ("v6_100k", &v6_addresses)] {
            let mut turn = 0;
            group.bench_function(BenchmarkId::new(family, label), |bencher| {
                bencher.iter(|| {
                    turn = (turn + 1) & (distinct - 1);
                    topology.lookup(black_box(addresses[turn]))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, select, lookup);
criterion_main!(benches);
