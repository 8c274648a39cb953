//! Load-balanced services inside a snapshot: for each service name, one
//! selection [`Pool`] per answer kind (A from IPv4 backends, AAAA from IPv6
//! backends, or CNAME from name backends) and every backend's record
//! pre-rendered, so answering is `Pool::select` plus a few copies.
//!
//! Built off the fast path from the config and the loaded zones. A service
//! must sit inside one of our zones, not below a delegation, and must not
//! collide with static data: a static A (AAAA) at a name whose service has
//! IPv4 (IPv6) backends, a static CNAME at a service name, or any static
//! data at a CNAME service's name is an error naming the config line.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::balancer::{BackendInfo, Policy, Pool, PoolSpec, RegionId, Topology, WhenAllDown};
use crate::config::{BackendTarget, Config, LoadError, ServiceConfig};
use crate::health::Health;
use crate::stats::ServiceCounters;
use crate::wire::fragment::{FragmentId, FragmentStore, Owner, RdataPart, Section};
use crate::wire::name;
use crate::wire::{CLASS_IN, rtype};
use crate::zone::ZoneData;

/// One answer kind of a service: its pool and its backends' records.
#[derive(Debug)]
pub struct Family {
    /// The selection tables.
    pub pool: Pool,
    /// Index into the service's `backends` of each pool member.
    pub members: Vec<usize>,
    /// Each member's record, for an owner that is the query name.
    pub direct: Vec<FragmentId>,
    /// Each member's record, for an owner reached along a CNAME chain.
    pub chained: Vec<FragmentId>,
    /// For CNAME services: each member's lowercase target, to follow.
    pub targets: Vec<Box<[u8]>>,
}

/// A backend as configured, with the state its pool was built from.
#[derive(Clone, Debug)]
pub struct Backend {
    pub target: BackendTarget,
    /// What the pool was built from (`up` is healthy and not drained).
    pub info: BackendInfo,
    /// Its health and drain state in this snapshot.
    pub state: BackendState,
}

/// The state of one backend that a snapshot is built from: its health (from
/// the probes), whether an operator drained it, and its reported load.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackendState {
    pub health: Health,
    pub drained: bool,
    /// 0.0 (idle) to 1.0 (saturated), for `least_loaded`.
    pub load: f32,
}

impl Default for BackendState {
    /// Up (backends start up, as gdnsd's do), not drained, idle.
    fn default() -> BackendState {
        BackendState {
            health: Health::Up,
            drained: false,
            load: 0.0,
        }
    }
}

impl BackendState {
    /// Whether the backend may be answered.
    pub fn available(&self) -> bool {
        self.health == Health::Up && !self.drained
    }
}

/// Every backend's state, by service index then backend index, in config
/// order; a missing entry is the default state.
pub type BackendStates = Vec<Vec<BackendState>>;

/// One load-balanced name.
#[derive(Debug)]
pub struct Service {
    /// Lowercase wire-format name.
    pub name: Box<[u8]>,
    pub policy: Policy,
    pub answers: usize,
    pub ttl: u32,
    pub when_all_down: WhenAllDown,
    pub backends: Vec<Backend>,
    /// A from the IPv4 backends.
    pub ipv4: Option<Family>,
    /// AAAA from the IPv6 backends.
    pub ipv6: Option<Family>,
    /// CNAME from the name backends (answers every type, as a CNAME does).
    pub cname: Option<Family>,
    /// `when_all_down = "fallback"` answers, A and AAAA.
    pub fallback_ipv4: Vec<FragmentId>,
    pub fallback_ipv6: Vec<FragmentId>,
    /// Queries this service answered, per data-plane thread; carried over
    /// from snapshot to snapshot while the service exists.
    pub counters: Arc<ServiceCounters>,
}

/// Every service, the topology geo uses, and the rendered records.
#[derive(Debug)]
pub struct Services {
    pub entries: Vec<Service>,
    /// Shared between snapshots that differ only in backend state.
    pub topology: Arc<Topology>,
    /// Region names by `RegionId`.
    pub regions: Vec<String>,
    pub fragments: FragmentStore,
    /// Data-plane threads counting into each service's counters.
    pub writers: usize,
}

impl Services {
    /// Lowercase names of the services, in index order (for the name table).
    pub fn names(&self) -> Vec<&[u8]> {
        self.entries.iter().map(|service| &*service.name).collect()
    }

    /// Builds every service of `config`, checked against `zones`, with every
    /// backend up and idle, and counters for `writers` data-plane threads.
    pub fn build(
        config: &Config,
        zones: &[&ZoneData],
        writers: usize,
    ) -> Result<Services, Vec<LoadError>> {
        Services::check(config, zones)?;
        let topology = Arc::new(build_topology(config));
        let services = Services::assemble(config, topology, &BackendStates::new(), None, writers);
        if services.fragments.is_full() {
            return Err(vec![LoadError {
                file: config.path.clone(),
                line: None,
                key: "service".to_owned(),
                message: "the services' rendered answers would pass 2 GiB".to_owned(),
            }]);
        }
        Ok(services)
    }

    /// Checks that every service of `config` may sit where it does in
    /// `zones` (what [`Self::build`] checks first): services built from
    /// `config` stay valid for those zones.
    pub fn check(config: &Config, zones: &[&ZoneData]) -> Result<(), Vec<LoadError>> {
        let mut errors = Vec::new();
        for (index, service) in config.services.iter().enumerate() {
            let lowercase = name::to_lowercase(service.name.as_slice());
            if let Err(message) = check_placement(service, &lowercase, zones) {
                errors.push(LoadError {
                    file: config.path.clone(),
                    line: Some(service.line),
                    key: format!("service[{index}].name"),
                    message,
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The same services with new backend states: pools rebuilt; zones,
    /// topology and counters shared. `self` must have been built from
    /// `config`.
    pub fn with_states(&self, config: &Config, states: &BackendStates) -> Services {
        Services::assemble(
            config,
            self.topology.clone(),
            states,
            Some(self),
            self.writers,
        )
    }

    /// Takes over the counters of the services of `previous` that have the
    /// same name (after a reload), so counts survive it.
    pub fn adopt_counters(&mut self, previous: &Services) {
        if previous.writers != self.writers {
            return;
        }
        let by_name: HashMap<&[u8], &Arc<ServiceCounters>> = previous
            .entries
            .iter()
            .map(|service| (&*service.name, &service.counters))
            .collect();
        for service in &mut self.entries {
            if let Some(counters) = by_name.get(&*service.name) {
                service.counters = Arc::clone(counters);
            }
        }
    }

    fn assemble(
        config: &Config,
        topology: Arc<Topology>,
        states: &BackendStates,
        previous: Option<&Services>,
        writers: usize,
    ) -> Services {
        let region_fallbacks: Vec<Vec<RegionId>> = config
            .regions
            .iter()
            .map(|region| {
                region
                    .fallback
                    .iter()
                    .map(|&index| index as RegionId)
                    .collect()
            })
            .collect();
        let mut fragments = FragmentStore::new();
        let mut entries = Vec::with_capacity(config.services.len());
        // Round-robin pools take rotation slots in config order (service,
        // then A, AAAA, CNAME): they depend on the config alone, so a build
        // with new states hands every pool the slot it had.
        let mut rotation_slots_taken = 0;
        for (service_index, service) in config.services.iter().enumerate() {
            let lowercase = name::to_lowercase(service.name.as_slice());
            let backends: Vec<Backend> = service
                .backends
                .iter()
                .enumerate()
                .map(|(backend_index, backend)| {
                    let state = states
                        .get(service_index)
                        .and_then(|service| service.get(backend_index))
                        .copied()
                        .unwrap_or_default();
                    Backend {
                        target: backend.target.clone(),
                        info: BackendInfo {
                            weight: backend.weight,
                            priority: backend.priority,
                            region: backend.region.map(|region| region as RegionId),
                            up: state.available(),
                            load: state.load,
                        },
                        state,
                    }
                })
                .collect();
            // `previous` was built from the same config: same services in
            // the same order.
            let counters = previous
                .and_then(|previous| previous.entries.get(service_index))
                .map(|previous| previous.counters.clone())
                .unwrap_or_else(|| Arc::new(ServiceCounters::new(writers)));
            entries.push(build_service(
                service,
                lowercase,
                backends,
                &region_fallbacks,
                &mut fragments,
                counters,
                &mut rotation_slots_taken,
            ));
        }
        Services {
            entries,
            topology,
            regions: config
                .regions
                .iter()
                .map(|region| region.name.clone())
                .collect(),
            fragments,
            writers,
        }
    }
}

fn build_topology(config: &Config) -> Topology {
    let networks: Vec<(ipnet::IpNet, RegionId)> = config
        .topology
        .networks
        .iter()
        .map(|&(network, region)| (network, region as RegionId))
        .collect();
    Topology::build(
        &networks,
        config
            .topology
            .default_region
            .map(|region| region as RegionId),
    )
}

/// Checks that a service lies in a zone of ours, above any delegation, and
/// collides with no static data.
fn check_placement(
    service: &ServiceConfig,
    lowercase: &[u8],
    zones: &[&ZoneData],
) -> Result<(), String> {
    let display = name::display(lowercase);
    let Some(zone) = zones
        .iter()
        .filter(|zone| name::is_at_or_below(lowercase, &zone.apex))
        .max_by_key(|zone| zone.apex.len())
    else {
        return Err(format!("{display} is in none of the zones served"));
    };
    let mut current = lowercase;
    while current != zone.apex.as_slice() {
        if zone.record_set(current, rtype::NS).is_some() {
            return Err(format!(
                "{display} is at or below the delegation {}",
                name::display(current)
            ));
        }
        match name::parent(current) {
            Some(parent) => current = parent,
            None => break,
        }
    }
    let has = |family_is_ipv4: bool| {
        service.backends.iter().any(|backend| match backend.target {
            BackendTarget::Address(address) => address.is_ipv4() == family_is_ipv4,
            BackendTarget::Name(_) => false,
        })
    };
    let names = service
        .backends
        .iter()
        .any(|backend| matches!(backend.target, BackendTarget::Name(_)));
    let conflict = |rtype: u16| {
        zone.record_set(lowercase, rtype).map(|set| {
            format!(
                "{display} has a static {} record at line {} of {}, the service answers it",
                domain::base::iana::Rtype::from_int(rtype),
                set.location.line,
                zone.files[set.location.file()].display()
            )
        })
    };
    if let Some(message) = conflict(rtype::CNAME) {
        return Err(message);
    }
    if has(true) {
        if let Some(message) = conflict(rtype::A) {
            return Err(message);
        }
    }
    if has(false) {
        if let Some(message) = conflict(rtype::AAAA) {
            return Err(message);
        }
    }
    if names
        && zone
            .nodes
            .get(lowercase)
            .is_some_and(|sets| !sets.is_empty())
    {
        return Err(format!(
            "{display} answers a CNAME, so it can have no static data (RFC 1034 section 3.6.2)"
        ));
    }
    Ok(())
}

fn address_record(fragments: &mut FragmentStore, address: IpAddr, ttl: u32) -> FragmentId {
    let mut builder = fragments.builder(Section::Answer, None);
    match address {
        IpAddr::V4(address) => builder.record(
            Owner::Pointer,
            rtype::A,
            CLASS_IN,
            ttl,
            &[RdataPart::Bytes(&address.octets())],
        ),
        IpAddr::V6(address) => builder.record(
            Owner::Pointer,
            rtype::AAAA,
            CLASS_IN,
            ttl,
            &[RdataPart::Bytes(&address.octets())],
        ),
    }
    builder.finish()
}

/// Builds one service; each round-robin pool built takes the next rotation
/// slot, counted in `rotation_slots_taken`.
fn build_service(
    service: &ServiceConfig,
    lowercase: Vec<u8>,
    backends: Vec<Backend>,
    region_fallbacks: &[Vec<RegionId>],
    fragments: &mut FragmentStore,
    counters: Arc<ServiceCounters>,
    rotation_slots_taken: &mut usize,
) -> Service {
    let policy = service.policy;
    let when_all_down = service.when_all_down;
    let mut family = |select: &dyn Fn(&BackendTarget) -> bool| -> Option<Family> {
        let members: Vec<usize> = (0..backends.len())
            .filter(|&index| select(&backends[index].target))
            .collect();
        if members.is_empty() {
            return None;
        }
        let infos: Vec<BackendInfo> = members
            .iter()
            .map(|&index| backends[index].info.clone())
            .collect();
        let mut rotation_slot = 0;
        if policy == Policy::RoundRobin {
            rotation_slot = *rotation_slots_taken;
            *rotation_slots_taken += 1;
        }
        let pool = Pool::build(&PoolSpec {
            policy,
            answers: service.answers,
            backends: &infos,
            hash_prefix_v4: service.hash_prefix_v4,
            hash_prefix_v6: service.hash_prefix_v6,
            region_fallbacks,
            when_all_down,
            rotation_slot,
        });
        let mut direct = Vec::with_capacity(members.len());
        let mut chained = Vec::with_capacity(members.len());
        let mut targets = Vec::new();
        for &index in &members {
            match &backends[index].target {
                BackendTarget::Address(address) => {
                    let record = address_record(fragments, *address, service.ttl);
                    direct.push(record);
                    chained.push(record);
                }
                BackendTarget::Name(target) => {
                    for (question, list) in [(Some(&*lowercase), &mut direct), (None, &mut chained)]
                    {
                        let mut builder = fragments.builder(Section::Answer, question);
                        builder.record(
                            Owner::Pointer,
                            rtype::CNAME,
                            CLASS_IN,
                            service.ttl,
                            &[RdataPart::CompressibleName(target.as_slice())],
                        );
                        list.push(builder.finish());
                    }
                    targets.push(name::to_lowercase(target.as_slice()).into_boxed_slice());
                }
            }
        }
        Some(Family {
            pool,
            members,
            direct,
            chained,
            targets,
        })
    };
    let ipv4 = family(&|target| matches!(target, BackendTarget::Address(IpAddr::V4(_))));
    let ipv6 = family(&|target| matches!(target, BackendTarget::Address(IpAddr::V6(_))));
    let cname = family(&|target| matches!(target, BackendTarget::Name(_)));
    let fallback = |fragments: &mut FragmentStore, want_ipv4: bool| -> Vec<FragmentId> {
        service
            .fallback
            .iter()
            .filter(|address| address.is_ipv4() == want_ipv4)
            .map(|&address| address_record(fragments, address, service.ttl))
            .collect()
    };
    let fallback_ipv4 = fallback(fragments, true);
    let fallback_ipv6 = fallback(fragments, false);
    Service {
        name: lowercase.into_boxed_slice(),
        policy,
        answers: service.answers,
        ttl: service.ttl,
        when_all_down,
        backends,
        ipv4,
        ipv6,
        cname,
        fallback_ipv4,
        fallback_ipv6,
        counters,
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::config::{self, Source};
    use crate::zone;

    /// Where the test config pretends to live; its zone file is beside it.
    const CONFIG_PATH: &str = "/etc/dnslb/dnslb.toml";

    /// Round-robin services with A and AAAA pools around a weighted one, and
    /// a round-robin CNAME service.
    const CONFIG: &str = r#"
[server]
listen = ["127.0.0.1:53"]

[[zone]]
name = "example.com"
file = "example.com.zone"

[[service]]
name = "www.example.com"
policy = "round_robin"
backends = [
  { address = "192.0.2.1" }, { address = "192.0.2.2" },
  { address = "2001:db8::1" }, { address = "2001:db8::2" },
]

[[service]]
name = "api.example.com"
policy = "weighted"
backends = [{ address = "192.0.2.3" }, { address = "2001:db8::3" }]

[[service]]
name = "mail.example.com"
policy = "round_robin"
backends = [{ address = "192.0.2.4" }, { address = "2001:db8::4" }]

[[service]]
name = "cdn.example.com"
policy = "round_robin"
backends = [{ name = "edge1.example.net" }, { name = "edge2.example.net" }]
"#;

    const ZONE: &str = "$ORIGIN example.com.\n$TTL 300\n\
        @ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n";

    fn config_and_zones() -> (Config, Vec<ZoneData>) {
        let files = vec![(
            PathBuf::from("/etc/dnslb/example.com.zone"),
            ZONE.to_owned(),
        )];
        let config = config::parse(CONFIG, Path::new(CONFIG_PATH), Source::Memory(files.into()))
            .expect("test config is valid");
        let zones = config
            .zones
            .iter()
            .map(|zone| {
                zone::load_zone(zone, &config.source)
                    .expect("test zone loads")
                    .0
            })
            .collect();
        (config, zones)
    }

    /// Each round-robin pool's rotation slot: (service, kind, slot).
    fn rotation_slots(services: &Services) -> Vec<(String, &'static str, usize)> {
        let mut slots = Vec::new();
        for service in &services.entries {
            if service.policy != Policy::RoundRobin {
                continue;
            }
            for (kind, family) in [
                ("A", &service.ipv4),
                ("AAAA", &service.ipv6),
                ("CNAME", &service.cname),
            ] {
                if let Some(family) = family {
                    slots.push((
                        name::display(&service.name).to_string(),
                        kind,
                        family.pool.rotation_slot(),
                    ));
                }
            }
        }
        slots
    }

    #[test]
    fn rotation_slots_are_assigned_at_build_and_kept_across_state_changes() {
        let (config, zones) = config_and_zones();
        let first =
            Services::build(&config, &zones.iter().collect::<Vec<_>>(), 1).expect("services build");
        let slots = rotation_slots(&first);
        // In config order, one per round-robin pool: a service's A and AAAA
        // pools, which resolvers query in alternation, never share a
        // worker's counter.
        let expected: Vec<(String, &str, usize)> = [
            ("www.example.com.", "A", 0),
            ("www.example.com.", "AAAA", 1),
            ("mail.example.com.", "A", 2),
            ("mail.example.com.", "AAAA", 3),
            ("cdn.example.com.", "CNAME", 4),
        ]
        .iter()
        .map(|&(service, kind, slot)| (service.to_owned(), kind, slot))
        .collect();
        assert_eq!(slots, expected);
        // The same config builds the same slots, however many pools were
        // built before.
        let second =
            Services::build(&config, &zones.iter().collect::<Vec<_>>(), 1).expect("services build");
        assert_eq!(rotation_slots(&second), expected);
        // A health change rebuilds the pools on the same slots, so no
        // service's rotation jumps.
        let states: BackendStates = vec![vec![BackendState {
            health: Health::Down,
            ..BackendState::default()
        }]];
        let rebuilt = first.with_states(&config, &states);
        assert!(!rebuilt.entries[0].backends[0].info.up);
        assert_eq!(rotation_slots(&rebuilt), expected);
    }
}
