//! Building snapshots: loading every zone a config names, building its
//! services, rendering the CHAOS answers and the rate limiter, and deriving
//! a snapshot with new backend states from a running one.
//!
//! Control plane only: everything here allocates, reads files and the clock
//! freely. The result is a complete [`Snapshot`] that the caller publishes
//! with one swap.

use std::sync::Arc;
use std::time::Instant;

use crate::config::{Config, LoadErrors, TransferConfig};
use crate::rrl::RateLimiter;
use crate::service::{BackendStates, Services};
use crate::snapshot::{BuildSummary, ChaosAnswers, Snapshot};
use crate::sys::random::random_u64;
use crate::wire::fragment::{FragmentStore, Owner, RdataPart, Section};
use crate::wire::notify::{Intake, NotifyRules, ZoneRule};
use crate::wire::tsig;
use crate::wire::{CLASS_CH, name, rtype};
use crate::zone::table::TableZone;
use crate::zone::{self, NameTable, Nodes, Warning, ZoneData};

/// A zone not read from the config's files: a secondary or a catalog
/// member, as the transfer thread last published it.
#[derive(Clone, Debug)]
pub struct SecondaryZone {
    /// Its data; for a zone without a copy yet, an empty zone at its apex.
    pub data: Arc<ZoneData>,
    /// False while it has no copy, or after its copy expired: its names
    /// answer SERVFAIL.
    pub serving: bool,
}

impl SecondaryZone {
    /// A zone at lowercase `apex` with no copy yet.
    pub fn without_copy(apex: Vec<u8>) -> SecondaryZone {
        SecondaryZone {
            data: Arc::new(ZoneData {
                apex,
                files: Vec::new(),
                nodes: Nodes::default(),
                record_count: 0,
            }),
            serving: false,
        }
    }
}

/// The lowercase names of `config`'s services at or below lowercase `apex`.
pub fn service_names_in(config: &Config, apex: &[u8]) -> Vec<Vec<u8>> {
    config
        .services
        .iter()
        .map(|service| name::to_lowercase(service.name.as_slice()))
        .filter(|owner| name::is_at_or_below(owner, apex))
        .collect()
}

/// Whether a transferred `record` is an A, AAAA or CNAME at one of the
/// lowercase `services` names: the service answers there instead.
pub fn shadowed_by_service(record: &zone::Record, services: &[Vec<u8>]) -> bool {
    let rtype = record.rtype().to_int();
    matches!(rtype, rtype::A | rtype::AAAA | rtype::CNAME)
        && services
            .iter()
            .any(|owner| name::to_lowercase(record.owner().as_slice()) == *owner)
}

/// Whether `zone` has A, AAAA or CNAME records at one of `services`.
pub fn shadows_services(zone: &ZoneData, services: &[Vec<u8>]) -> bool {
    services.iter().any(|owner| {
        zone.nodes.get(owner.as_slice()).is_some_and(|sets| {
            sets.iter()
                .any(|set| matches!(set.rtype, rtype::A | rtype::AAAA | rtype::CNAME))
        })
    })
}

/// Removes the A, AAAA and CNAME record sets at `services` names from a
/// secondary zone's copy (the service answers there, whatever the primary
/// has); returns the names that had any.
pub fn give_way_to_services(zone: &mut ZoneData, services: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut shadowed = Vec::new();
    for owner in services {
        // Asked first: changing a name copies its shard of the zone.
        let hidden =
            |set: &zone::RecordSet| matches!(set.rtype, rtype::A | rtype::AAAA | rtype::CNAME);
        let shadows = zone
            .nodes
            .get(owner.as_slice())
            .is_some_and(|sets| sets.iter().any(hidden));
        if !shadows {
            continue;
        }
        let Some(sets) = zone.nodes.get_mut(owner.as_slice()) else {
            continue;
        };
        let mut dropped = 0;
        sets.retain(|set| {
            let hidden = matches!(set.rtype, rtype::A | rtype::AAAA | rtype::CNAME);
            if hidden {
                dropped += set.records.len();
            }
            !hidden
        });
        if dropped > 0 {
            zone.record_count -= dropped;
            shadowed.push(owner.clone());
        }
    }
    shadowed
}

/// Everything a snapshot is built from besides the config.
#[derive(Clone, Debug)]
pub struct Sources {
    /// The zones of the config's files, loaded.
    pub files: Vec<Arc<ZoneData>>,
    pub secondaries: Vec<SecondaryZone>,
    pub notify_rules: Arc<NotifyRules>,
    pub notify_intake: Arc<Intake>,
}

/// Loads the zone files `config` names. All errors are collected.
pub fn load_files(config: &Config) -> Result<(Vec<Arc<ZoneData>>, Vec<Warning>), LoadErrors> {
    let mut zones = Vec::with_capacity(config.zones.len());
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for zone_config in &config.zones {
        match zone::load_zone(zone_config, &config.source) {
            Ok((zone, zone_warnings)) => {
                zones.push(Arc::new(zone));
                warnings.extend(zone_warnings);
            }
            Err(LoadErrors(zone_errors)) => errors.extend(zone_errors),
        }
    }
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    Ok((zones, warnings))
}

/// The TSIG keys of `config`, in its order.
pub fn tsig_keys(config: &Config) -> Vec<tsig::Key> {
    config
        .tsig_keys
        .iter()
        .map(|key| {
            tsig::Key::new(
                &name::to_lowercase(key.name.as_slice()),
                key.algorithm,
                &key.secret,
            )
        })
        .collect()
}

/// Who may NOTIFY each secondary and catalog of `config`, and each of
/// `members` (catalog members, with their catalog's transfer settings).
pub fn notify_rules(config: &Config, members: &[(Vec<u8>, &TransferConfig)]) -> NotifyRules {
    let rule = |transfer: &TransferConfig| ZoneRule {
        allowed: transfer.notify_from.clone(),
        key: transfer.tsig,
    };
    let configured = config
        .secondaries
        .iter()
        .map(|zone| {
            (
                name::to_lowercase(zone.name.as_slice()),
                rule(&zone.transfer),
            )
        })
        .chain(config.catalogs.iter().map(|catalog| {
            (
                name::to_lowercase(catalog.name.as_slice()),
                rule(&catalog.transfer),
            )
        }));
    let members = members
        .iter()
        .map(|(apex, transfer)| (apex.clone(), rule(transfer)));
    NotifyRules::new(configured.chain(members), tsig_keys(config))
}

/// A NOTIFY intake with its wall clock set (the transfer thread keeps it
/// from then on).
fn new_intake() -> Intake {
    let intake = Intake::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    intake.set_unix_now(now);
    intake
}

/// The sources of a server starting on `config`: its zone files loaded, its
/// secondaries without a copy yet, a fresh NOTIFY intake.
pub fn initial_sources(config: &Config) -> Result<(Sources, Vec<Warning>), LoadErrors> {
    let (files, warnings) = load_files(config)?;
    let secondaries = config
        .secondaries
        .iter()
        .map(|zone| SecondaryZone::without_copy(name::to_lowercase(zone.name.as_slice())))
        .collect();
    Ok((
        Sources {
            files,
            secondaries,
            notify_rules: Arc::new(notify_rules(config, &[])),
            notify_intake: Arc::new(new_intake()),
        },
        warnings,
    ))
}

/// Loads every zone the config names and builds a snapshot numbered
/// `generation`. All zone errors are collected; warnings are returned beside
/// the snapshot. Per-service counters have one writer slot (for `check`,
/// tests and benches); a server uses [`snapshot_for_writers`].
pub fn snapshot(config: &Config, generation: u64) -> Result<(Snapshot, Vec<Warning>), LoadErrors> {
    snapshot_for_writers(config, generation, 1)
}

/// [`snapshot`] with per-service counters for `writers` data-plane threads
/// (UDP workers, then TCP).
pub fn snapshot_for_writers(
    config: &Config,
    generation: u64,
    writers: usize,
) -> Result<(Snapshot, Vec<Warning>), LoadErrors> {
    let started = Instant::now();
    let (sources, warnings) = initial_sources(config)?;
    let mut snapshot = assemble(config, &sources, generation, writers)?;
    snapshot.summary.build_time = started.elapsed();
    Ok((snapshot, warnings))
}

/// Builds a snapshot numbered `generation` from `config` and `sources`.
pub fn assemble(
    config: &Config,
    sources: &Sources,
    generation: u64,
    writers: usize,
) -> Result<Snapshot, LoadErrors> {
    let started = Instant::now();
    let zones = table_zones(sources);
    let datas: Vec<&ZoneData> = zones.iter().map(|zone| zone.data).collect();
    let services = Services::build(config, &datas, writers).map_err(LoadErrors)?;
    let table = complete(NameTable::build(&zones, &services.names()), config)?;
    let chaos = chaos_answers(
        config.server.identity.as_deref(),
        config.server.version.as_deref(),
    );
    let summary = BuildSummary {
        zones: zones.len(),
        services: services.entries.len(),
        records: datas.iter().map(|zone| zone.record_count).sum(),
        names: table.name_count(),
        table_bytes: table.heap_bytes(),
        build_time: started.elapsed(),
    };
    let snapshot = Snapshot {
        generation,
        udp_payload: config.server.udp_payload,
        client_subnet: config.server.ecs,
        table: Arc::new(table),
        services: Arc::new(services),
        chaos: Arc::new(chaos),
        rrl: config
            .rrl
            .map(|settings| Arc::new(RateLimiter::new(settings, random_u64(), Instant::now()))),
        notify_rules: sources.notify_rules.clone(),
        notify_intake: sources.notify_intake.clone(),
        summary,
    };
    Ok(snapshot)
}

/// `table`, or the error that its zones' rendered records would not fit
/// in one (past 2 GiB).
fn complete(table: NameTable, config: &Config) -> Result<NameTable, LoadErrors> {
    if table.is_complete() {
        return Ok(table);
    }
    Err(LoadErrors(vec![crate::config::LoadError {
        file: config.path.clone(),
        line: None,
        key: "zone".to_owned(),
        message: "the zones' rendered records would pass 2 GiB, more than a name table holds"
            .to_owned(),
    }]))
}

/// The zones of `sources` in the order the name table takes them: the
/// files, then the secondaries (a file zone wins over a secondary at the
/// same apex).
pub fn table_zones(sources: &Sources) -> Vec<TableZone<'_>> {
    sources
        .files
        .iter()
        .map(|zone| TableZone {
            data: zone,
            serving: true,
        })
        .chain(
            sources
                .secondaries
                .iter()
                .filter(|zone| !sources.files.iter().any(|file| file.apex == zone.data.apex))
                .map(|zone| TableZone {
                    data: &zone.data,
                    serving: zone.serving,
                }),
        )
        .collect()
}

/// A snapshot of `current`'s services (shared: built from `config`, with
/// their latest states) with a name table built whole from `sources`, the
/// services checked against its zones first; numbered `generation`. What a
/// zone transfer publishes: the services did not change, only zones.
pub fn with_zones(
    current: &Snapshot,
    config: &Config,
    sources: &Sources,
    generation: u64,
) -> Result<Snapshot, LoadErrors> {
    let started = Instant::now();
    let zones = table_zones(sources);
    let datas: Vec<&ZoneData> = zones.iter().map(|zone| zone.data).collect();
    Services::check(config, &datas).map_err(LoadErrors)?;
    let table = complete(NameTable::build(&zones, &current.services.names()), config)?;
    Ok(with_table(current, sources, table, generation, started))
}

/// The index in `zones` of the zone at `apex` when it is the only zone
/// whose data differs from `published` (the zones the published table was
/// built from: the same apexes, in order, served alike, the same data but
/// at `apex`); `None` otherwise, and the table must be built whole.
pub fn patch_target(
    zones: &[TableZone<'_>],
    published: &[TableZone<'_>],
    apex: &[u8],
) -> Option<usize> {
    let index = zones.iter().position(|zone| zone.data.apex == apex)?;
    let same = zones.len() == published.len()
        && zones
            .iter()
            .zip(published)
            .enumerate()
            .all(|(at, (now, then))| {
                now.data.apex == then.data.apex
                    && now.serving == then.serving
                    && (at == index || std::ptr::eq(now.data, then.data))
            });
    same.then_some(index)
}

/// A snapshot with `current`'s services (shared: their backends' states
/// are the latest published) and `table` (built or patched for the zones
/// of `sources`), with `sources`' NOTIFY rules, numbered `generation`.
/// `started` is when the table's build began, for the build time reported.
pub fn with_table(
    current: &Snapshot,
    sources: &Sources,
    table: NameTable,
    generation: u64,
    started: Instant,
) -> Snapshot {
    let summary = BuildSummary {
        zones: table.zone_count(),
        records: table_zones(sources)
            .iter()
            .map(|zone| zone.data.record_count)
            .sum(),
        names: table.name_count(),
        table_bytes: table.heap_bytes(),
        build_time: started.elapsed(),
        ..current.summary
    };
    Snapshot {
        generation,
        udp_payload: current.udp_payload,
        client_subnet: current.client_subnet,
        table: Arc::new(table),
        services: current.services.clone(),
        chaos: current.chaos.clone(),
        rrl: current.rrl.clone(),
        notify_rules: sources.notify_rules.clone(),
        notify_intake: current.notify_intake.clone(),
        summary,
    }
}

/// A snapshot with `current`'s zones and new backend states (health, drain,
/// load), numbered `generation`. `config` must be the one `current` was
/// built from.
pub fn with_backend_states(
    current: &Snapshot,
    config: &Config,
    states: &BackendStates,
    generation: u64,
) -> Snapshot {
    let started = Instant::now();
    let services = Arc::new(current.services.with_states(config, states));
    Snapshot {
        generation,
        udp_payload: current.udp_payload,
        client_subnet: current.client_subnet,
        table: current.table.clone(),
        services,
        chaos: current.chaos.clone(),
        rrl: current.rrl.clone(),
        notify_rules: current.notify_rules.clone(),
        notify_intake: current.notify_intake.clone(),
        summary: BuildSummary {
            build_time: started.elapsed(),
            ..current.summary
        },
    }
}

/// Keeps `previous`'s rate-limiting buckets (who is being limited right
/// now) across a reload: the same limiter when the settings are the same,
/// its buckets under the new rate or slip otherwise; a new table size or
/// prefix keeps `next`'s fresh table.
pub fn adopt_rate_limiter(next: &mut Snapshot, previous: &Snapshot) {
    let (Some(fresh), Some(previous)) = (&next.rrl, &previous.rrl) else {
        return;
    };
    let settings = *fresh.settings();
    if settings == *previous.settings() {
        next.rrl = Some(previous.clone());
    } else if let Some(shared) = previous.with_settings(settings) {
        next.rrl = Some(Arc::new(shared));
    }
}

/// Renders the CH TXT answers for `id.server` and `version.bind`.
fn chaos_answers(identity: Option<&str>, version: Option<&str>) -> ChaosAnswers {
    let mut fragments = FragmentStore::new();
    let mut render = |text: Option<&str>| {
        let text = text?;
        let mut rdata = Vec::with_capacity(text.len() + 1);
        // One character-string; the config bounds the text to 255 bytes.
        rdata.push(text.len().min(255) as u8);
        rdata.extend_from_slice(&text.as_bytes()[..text.len().min(255)]);
        let mut builder = fragments.builder(Section::Answer, None);
        builder.record(
            Owner::Pointer,
            rtype::TXT,
            CLASS_CH,
            0,
            &[RdataPart::Bytes(&rdata)],
        );
        Some(builder.finish())
    };
    let version = render(version);
    let identity = render(identity);
    ChaosAnswers {
        version,
        identity,
        fragments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(apex: &[u8]) -> ZoneData {
        ZoneData {
            apex: apex.to_vec(),
            files: Vec::new(),
            nodes: Nodes::default(),
            record_count: 0,
        }
    }

    fn served(data: &ZoneData, serving: bool) -> TableZone<'_> {
        TableZone { data, serving }
    }

    #[test]
    fn a_patch_needs_every_other_zone_as_published() {
        let (a, b) = (data(b"\x01a\x00"), data(b"\x01b\x00"));
        let (a2, b2) = (data(b"\x01a\x00"), data(b"\x01b\x00"));
        let published = [served(&a, true), served(&b, true)];
        let apex = b"\x01a\x00";
        let now = [served(&a2, true), served(&b, true)];
        assert_eq!(patch_target(&now, &published, apex), Some(0));
        let now = [served(&a2, true), served(&b2, true)];
        assert_eq!(patch_target(&now, &published, apex), None, "b changed too");
        let now = [served(&a2, true), served(&b, false)];
        assert_eq!(patch_target(&now, &published, apex), None, "b not served");
        let now = [served(&a2, true)];
        assert_eq!(patch_target(&now, &published, apex), None, "b gone");
        let now = [served(&a2, true), served(&b, true)];
        assert_eq!(patch_target(&now, &published, b"\x01c\x00"), None);
    }
}
