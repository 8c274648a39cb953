//! Secondary zones: the transfer thread, which keeps every secondary zone
//! and catalog zone in step with its primaries.
//!
//! - [`client`]: SOA queries, AXFR and IXFR over TCP, with TSIG.
//! - [`timers`]: refresh, retry and expire from the SOA, clamped, with jitter.
//! - [`catalog`]: the member zones a catalog zone lists (RFC 9432).
//!
//! One thread does every exchange, one at a time; the workers never do.
//! It wakes at least every [`TICK`]: it sets the wall clock the workers
//! check TSIG against, takes the NOTIFYs they queued (each makes its zone
//! due at once), takes refresh requests from the admin API, follows
//! reloads of the config, and refreshes each zone that is due. A refresh
//! asks the primaries for the SOA in order; a newer serial brings an IXFR
//! (or an AXFR without a copy, or when the IXFR cannot be served or does
//! not apply), checked like a zone file, saved to `server.state_dir`, and
//! published with the rest of the snapshot in one swap. Any failure keeps
//! the zone as it was; it is logged with the zone and primary, and counted.
//! A zone not refreshed before it expires answers SERVFAIL until a
//! transfer succeeds.
//!
//! At start a zone with a copy in `state_dir` is served from it at once
//! (the file's modification time is its last successful refresh), then
//! checked against its primaries. A catalog's copy brings its members'.

pub mod catalog;
pub mod client;
pub mod timers;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use crossbeam::channel::{self, Receiver, Sender};
use domain::base::iana::{Class, Rcode as DomainRcode};
use domain::base::{Name, Record, Serial, Ttl};
use domain::rdata::{Soa, ZoneRecordData};
use serde::Serialize;

use crate::config::{Config, Source, TransferConfig, ZoneConfig};
use crate::control::Control;
use crate::control::build::{self, SecondaryZone, tsig_keys};
use crate::sys::random::random_u64;
use crate::wire::name;
use crate::wire::rtype;
use crate::wire::tsig::Key;
use crate::zone::{self, Rdata, Record as ZoneRecord, ZoneData};
use client::{Exchange, Transfer, XfrError};
use timers::SoaTimes;

/// The longest the thread sleeps between looks at its queues and timers.
pub const TICK: Duration = Duration::from_millis(20);

/// How often the NOTIFY intake's wall clock is set.
const CLOCK_TICK: Duration = Duration::from_millis(250);

/// Bounds connecting to a primary and each read and write of an exchange.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// A zone an IXFR brought, and the owners its differences changed (`None`
/// when the primary sent the whole zone instead).
type Incremental = (ZoneData, Option<Vec<Vec<u8>>>);

/// What a zone is to the transfer thread.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Role {
    /// A `[[zone]]` with `primaries`.
    Secondary,
    /// A `[[catalog]]`: transferred, read for members, not served.
    Catalog,
    /// A member of the catalog at this lowercase wire apex.
    Member(Vec<u8>),
}

/// One zone the thread keeps.
#[derive(Debug)]
struct Tracked {
    apex: Name<Bytes>,
    apex_wire: Vec<u8>,
    role: Role,
    transfer: TransferConfig,
    data: Option<Arc<ZoneData>>,
    /// Whether the zone is answered from `data` (false before a first copy
    /// and after expiry).
    serving: bool,
    next_check: Instant,
    expires_at: Option<SystemTime>,
    last_transfer: Option<SystemTime>,
    next_check_wall: SystemTime,
    /// Failed attempts since the last success.
    failures: u32,
    last_error: Option<String>,
    /// For a catalog: its members.
    members: Vec<catalog::Member>,
    /// For a catalog member: its entry in the catalog (a new one resets
    /// the zone).
    entry: Vec<u8>,
}

impl Tracked {
    fn new(apex: Name<Bytes>, role: Role, transfer: TransferConfig) -> Tracked {
        Tracked {
            apex_wire: name::to_lowercase(apex.as_slice()),
            apex,
            role,
            transfer,
            data: None,
            serving: false,
            next_check: Instant::now(),
            expires_at: None,
            last_transfer: None,
            next_check_wall: SystemTime::now(),
            failures: 0,
            last_error: None,
            members: Vec::new(),
            entry: Vec::new(),
        }
    }

    fn serial(&self) -> Option<u32> {
        self.data.as_ref()?.soa().map(|soa| soa.serial)
    }

    fn soa_times(&self) -> Option<SoaTimes> {
        let soa = self.data.as_ref()?.soa()?;
        Some(SoaTimes {
            refresh: soa.refresh,
            retry: soa.retry,
            expire: soa.expire,
        })
    }

    fn schedule(&mut self, after: Duration) {
        self.next_check = Instant::now() + after;
        self.next_check_wall = SystemTime::now() + after;
    }

    fn status(&self) -> ZoneStatus {
        let state = if !self.serving {
            "expired"
        } else if self.failures > 0 {
            "refreshing"
        } else {
            "ok"
        };
        ZoneStatus {
            name: name::display(&self.apex_wire),
            role: match &self.role {
                Role::Secondary => "secondary",
                Role::Catalog => "catalog",
                Role::Member(_) => "member",
            },
            catalog: match &self.role {
                Role::Member(catalog) => Some(name::display(catalog)),
                _ => None,
            },
            serial: self.serial(),
            state,
            records: self.data.as_ref().map_or(0, |data| data.record_count),
            primaries: self
                .transfer
                .primaries
                .iter()
                .map(ToString::to_string)
                .collect(),
            last_transfer: self.last_transfer.map(rfc3339),
            next_refresh: rfc3339(self.next_check_wall),
            expires_at: self.expires_at.map(rfc3339),
            expires_in_seconds: self.expires_at.map(|at| {
                at.duration_since(SystemTime::now())
                    .map_or(0.0, |left| left.as_secs_f64())
            }),
            last_error: self.last_error.clone(),
        }
    }
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// One zone in `/status`.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneStatus {
    /// With its final dot.
    pub name: String,
    /// "secondary", "catalog" or "member".
    pub role: &'static str,
    /// For a member: its catalog.
    pub catalog: Option<String>,
    pub serial: Option<u32>,
    /// "ok", "refreshing" (the last attempt failed; retrying) or "expired"
    /// (no copy, or not refreshed in time: SERVFAIL).
    pub state: &'static str,
    pub records: usize,
    pub primaries: Vec<String>,
    pub last_transfer: Option<String>,
    pub next_refresh: String,
    pub expires_at: Option<String>,
    pub expires_in_seconds: Option<f64>,
    pub last_error: Option<String>,
}

/// Transfer kinds and results, for `dnslb_transfers_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Axfr,
    Ixfr,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Axfr => "axfr",
            Kind::Ixfr => "ixfr",
        }
    }
}

/// The transfer thread's shared side: status, counters, requests.
#[derive(Debug)]
pub struct Transfers {
    statuses: Mutex<Vec<ZoneStatus>>,
    /// (zone, kind, success) -> count.
    counts: Mutex<BTreeMap<(String, Kind, bool), u64>>,
    requests: Sender<Vec<u8>>,
}

impl Transfers {
    /// Every zone the thread keeps, for `/status`.
    pub fn statuses(&self) -> Vec<ZoneStatus> {
        self.statuses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Transfers so far by zone, kind and success.
    pub fn counts(&self) -> Vec<(String, Kind, bool, u64)> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|((zone, kind, success), count)| (zone.clone(), *kind, *success, *count))
            .collect()
    }

    /// Makes the zone named `zone` (presentation format) due now. Errors
    /// when no such zone is kept.
    pub fn refresh(&self, zone: &str) -> Result<String, String> {
        let apex = Name::<Vec<u8>>::from_str(zone)
            .map_err(|error| format!("{zone:?} is not a domain name: {error}"))?;
        let apex = name::to_lowercase(apex.as_slice());
        let display = name::display(&apex);
        if !self.statuses().iter().any(|status| status.name == display) {
            return Err(format!("no secondary or catalog zone {display}"));
        }
        self.requests
            .send(apex)
            .map_err(|_| "the transfer thread has stopped".to_owned())?;
        Ok(display)
    }

    fn count(&self, zone: &[u8], kind: Kind, success: bool) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry((name::display(zone), kind, success))
            .or_default() += 1;
    }
}

/// The refresh requests the transfer thread takes.
#[derive(Debug)]
pub struct Requests(Receiver<Vec<u8>>);

/// The shared side, for the admin API, and the requests it sends, for
/// [`start`].
pub fn channel() -> (Arc<Transfers>, Requests) {
    let (sender, receiver) = channel::unbounded();
    let transfers = Arc::new(Transfers {
        statuses: Mutex::new(Vec::new()),
        counts: Mutex::new(BTreeMap::new()),
        requests: sender,
    });
    (transfers, Requests(receiver))
}

/// Starts the transfer thread for `control`'s secondaries and catalogs.
/// Zones with a copy in `state_dir` are published from it before this
/// returns.
pub fn start(
    control: Arc<Control>,
    transfers: Arc<Transfers>,
    requests: Requests,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    let mut thread = Thread {
        control: control.clone(),
        transfers,
        requests: requests.0,
        config: control.config(),
        keys: Vec::new(),
        zones: BTreeMap::new(),
        unsaved: Vec::new(),
        resets: Vec::new(),
    };
    thread.keys = tsig_keys(&thread.config);
    thread.follow_config(true);
    // The wall clock the workers check TSIG against, kept by a thread of
    // its own: a long transfer must not let it go stale.
    let intake = control.notify_intake();
    let shutdown_clock = shutdown.clone();
    std::thread::Builder::new()
        .name("dnslb-clock".into())
        .spawn(move || {
            while !shutdown_clock.load(Ordering::Relaxed) {
                intake.set_unix_now(client::unix_now());
                std::thread::sleep(CLOCK_TICK);
            }
        })?;
    let handle = std::thread::Builder::new()
        .name("dnslb-xfr".into())
        .spawn(move || thread.run(&shutdown))?;
    Ok(handle)
}

struct Thread {
    control: Arc<Control>,
    transfers: Arc<Transfers>,
    requests: Receiver<Vec<u8>>,
    config: Arc<Config>,
    keys: Vec<Key>,
    /// By lowercase wire apex.
    zones: BTreeMap<Vec<u8>, Tracked>,
    /// Zones dropped whose saved copies go after the next publish.
    unsaved: Vec<Vec<u8>>,
    /// Catalog members listed under a new unique id, reset once the
    /// catalog that says so is published ([`Self::reset_members`]).
    resets: Vec<Vec<u8>>,
}

impl Thread {
    fn run(mut self, shutdown: &AtomicBool) {
        let intake = self.control.notify_intake();
        while !shutdown.load(Ordering::Relaxed) {
            intake.set_unix_now(client::unix_now());
            self.follow_reload();
            while let Some(event) = intake.pop() {
                if let Some(zone) = self.zones.get_mut(event.apex()) {
                    tracing::info!(zone = %name::display(event.apex()), source = %event.source, "NOTIFY received");
                    zone.next_check = Instant::now();
                }
            }
            match self.requests.recv_timeout(TICK) {
                Ok(apex) => {
                    if let Some(zone) = self.zones.get_mut(&apex) {
                        zone.next_check = Instant::now();
                    }
                }
                Err(channel::RecvTimeoutError::Timeout) => {}
                Err(channel::RecvTimeoutError::Disconnected) => {}
            }
            let now = Instant::now();
            let due: Vec<Vec<u8>> = self
                .zones
                .iter()
                .filter(|(_, zone)| zone.next_check <= now)
                .map(|(apex, _)| apex.clone())
                .collect();
            for apex in due {
                if shutdown.load(Ordering::Relaxed) {
                    break;
                }
                intake.set_unix_now(client::unix_now());
                // A reload just before this refresh applies to it, and
                // zones expired meanwhile stop being served first.
                self.follow_reload();
                self.expire();
                self.refresh(&apex);
            }
            self.expire();
        }
    }

    /// Follows a reload of the config, if there was one since last looked.
    fn follow_reload(&mut self) {
        let config = self.control.config();
        if !Arc::ptr_eq(&config, &self.config) {
            self.config = config;
            self.keys = tsig_keys(&self.config);
            self.follow_config(false);
        }
    }

    /// Takes the secondaries and catalogs of the running config: new ones
    /// are added (from `state_dir` when it has a copy), removed ones
    /// dropped. Publishes when anything changed, or always at `start`.
    fn follow_config(&mut self, start: bool) {
        let mut wanted: Vec<(Name<Bytes>, Role, TransferConfig)> = Vec::new();
        for zone in &self.config.secondaries {
            wanted.push((zone.name.clone(), Role::Secondary, zone.transfer.clone()));
        }
        for catalog in &self.config.catalogs {
            wanted.push((
                catalog.name.clone(),
                Role::Catalog,
                catalog.transfer.clone(),
            ));
        }
        // At start the snapshot already has every configured zone without
        // a copy: publish only what state_dir brought.
        let mut changed = false;
        let keep: Vec<Vec<u8>> = wanted
            .iter()
            .map(|(apex, _, _)| name::to_lowercase(apex.as_slice()))
            .collect();
        // Members stay while their catalog does.
        let dropped: Vec<Vec<u8>> = self
            .zones
            .iter()
            .filter(|(apex, zone)| match &zone.role {
                Role::Member(catalog) => !keep.contains(catalog),
                _ => !keep.contains(apex),
            })
            .map(|(apex, _)| apex.clone())
            .collect();
        changed |= !dropped.is_empty();
        for apex in dropped {
            self.zones.remove(&apex);
            self.unsaved.push(apex);
        }
        for (apex, role, transfer) in wanted {
            let wire = name::to_lowercase(apex.as_slice());
            match self.zones.get_mut(&wire) {
                Some(zone) if zone.role == role => {
                    if zone.transfer != transfer {
                        zone.transfer = transfer;
                        zone.next_check = Instant::now();
                        changed = true;
                    }
                }
                _ => {
                    let mut zone = Tracked::new(apex, role, transfer);
                    self.restore(&mut zone);
                    changed |= !start || zone.data.is_some();
                    self.zones.insert(wire.clone(), zone);
                }
            }
        }
        // Services added by a reload: the copies give way to them.
        let apexes: Vec<Vec<u8>> = self.zones.keys().cloned().collect();
        for apex in apexes {
            let Some(data) = self.zones[&apex].data.clone() else {
                continue;
            };
            let services = build::service_names_in(&self.config, &data.apex);
            if build::shadows_services(&data, &services) {
                let data = self.give_way_to_services((*data).clone());
                if let Some(zone) = self.zones.get_mut(&apex) {
                    zone.data = Some(Arc::new(data));
                    changed = true;
                }
            }
        }
        // Members take their catalog's settings.
        let catalogs: Vec<(Vec<u8>, TransferConfig, Vec<catalog::Member>)> = self
            .zones
            .values()
            .filter(|zone| zone.role == Role::Catalog)
            .map(|zone| {
                (
                    zone.apex_wire.clone(),
                    zone.transfer.clone(),
                    zone.members.clone(),
                )
            })
            .collect();
        for (catalog, transfer, members) in catalogs {
            changed |= self.set_members(catalog.as_slice(), &transfer, members.as_slice(), true);
        }
        if changed {
            self.publish();
        } else {
            self.publish_status();
        }
        self.reset_members();
        // A reload's build walked every zone, unpacking them.
        self.pack_all();
    }

    /// Keeps the zone at `apex` [packed](ZoneData::frozen) from now on,
    /// here and in the control plane's sources: a quarter to a third of
    /// its memory. Its next difference unpacks only the names it reads.
    /// Called after each publication (a whole build reads, and so unpacks,
    /// every name of every zone); does nothing while packing again would
    /// give little back ([`ZoneData::needs_packing`]). A large zone's
    /// unpacked copy is freed on a thread of its own.
    fn pack(&mut self, apex: &[u8]) {
        let Some(zone) = self.zones.get_mut(apex) else {
            return;
        };
        let Some(data) = zone.data.clone() else {
            return;
        };
        // A catalog is not published, only read for its members.
        if zone.role == Role::Catalog || !data.needs_packing() {
            return;
        }
        let packed = Arc::new(data.frozen());
        if !self.control.replace_zone_data(&data, packed.clone()) {
            // Published since: the next publication sends this one.
            return;
        }
        zone.data = Some(packed);
        if data.nodes.len() > 4 * zone::Nodes::CHUNK {
            crate::sys::memory::free_in_background(data);
        }
    }

    /// [`Self::pack`] for every zone kept.
    fn pack_all(&mut self) {
        let apexes: Vec<Vec<u8>> = self.zones.keys().cloned().collect();
        for apex in apexes {
            self.pack(&apex);
        }
    }

    /// The `state_dir` file of the zone at `apex`.
    fn state_path(&self, apex: &[u8]) -> Option<PathBuf> {
        let directory = self.config.server.state_dir.as_ref()?;
        Some(directory.join(state_file_name(apex)))
    }

    /// Serves `zone` from its copy in `state_dir`, if it has one.
    fn restore(&mut self, zone: &mut Tracked) {
        let Some(path) = self.state_path(&zone.apex_wire) else {
            return;
        };
        if !path.exists() {
            return;
        }
        let config = ZoneConfig {
            name: zone.apex.clone(),
            file: path.clone(),
            line: 0,
        };
        let data = match zone::load_zone(&config, &Source::Disk) {
            Ok((data, _)) => data,
            Err(errors) => {
                tracing::error!(zone = %zone.apex, file = %path.display(), "the saved copy does not load, transferring anew: {errors}");
                return;
            }
        };
        let refreshed = fs::metadata(&path)
            .and_then(|metadata| metadata.modified())
            .unwrap_or_else(|_| SystemTime::now());
        let data = self.give_way_to_services(data);
        zone.data = Some(Arc::new(data));
        zone.last_transfer = Some(refreshed);
        if let Some(soa) = zone.soa_times() {
            let expires = refreshed + timers::expire_interval(soa, &zone.transfer.timers);
            zone.expires_at = Some(expires);
            zone.serving = expires > SystemTime::now();
        }
        if zone.role == Role::Catalog {
            if let Some(data) = &zone.data {
                if let Ok(members) = catalog::members(data) {
                    zone.members = members.zones;
                }
            }
        }
        tracing::info!(zone = %zone.apex, serial = zone.serial(), serving = zone.serving, file = %path.display(), "serving the saved copy");
        zone.next_check = Instant::now();
    }

    /// Makes the members of `catalog` exactly `members`; returns whether
    /// anything changed.
    fn set_members(
        &mut self,
        catalog: &[u8],
        transfer: &TransferConfig,
        members: &[catalog::Member],
        reset_moved: bool,
    ) -> bool {
        let mut changed = false;
        let before = self.zones.len();
        let file_zones: Vec<Vec<u8>> = self
            .config
            .zones
            .iter()
            .map(|zone| name::to_lowercase(zone.name.as_slice()))
            .collect();
        let listed = |apex: &[u8]| members.iter().any(|member| member.zone == apex);
        let mut moved = Vec::new();
        let removed: Vec<Vec<u8>> = self
            .zones
            .iter()
            .filter(|(apex, zone)| {
                zone.role == Role::Member(catalog.to_vec())
                    && (!listed(apex) || file_zones.contains(apex))
            })
            .map(|(apex, _)| apex.clone())
            .collect();
        for apex in removed {
            self.zones.remove(&apex);
            tracing::info!(zone = %name::display(&apex), catalog = %name::display(catalog), "member zone removed");
            // Its saved copy goes once a snapshot without it is published.
            self.unsaved.push(apex);
        }
        changed |= self.zones.len() != before;
        for member in members {
            if let Some(zone) = self.zones.get_mut(&member.zone) {
                if zone.role != Role::Member(catalog.to_vec()) {
                    tracing::error!(zone = %name::display(&member.zone), catalog = %name::display(catalog), "catalog member left out: the zone is configured otherwise");
                    continue;
                }
                if zone.entry != member.entry {
                    zone.entry = member.entry.clone();
                    if reset_moved {
                        moved.push(member.zone.clone());
                    }
                }
                if zone.transfer != *transfer {
                    zone.transfer = transfer.clone();
                    changed = true;
                }
                continue;
            }
            if file_zones.contains(&member.zone) {
                tracing::error!(zone = %name::display(&member.zone), catalog = %name::display(catalog), "catalog member left out: the zone is served from a file");
                continue;
            }
            let Ok(apex) = Name::<Bytes>::from_octets(Bytes::copy_from_slice(&member.zone)) else {
                continue;
            };
            let mut zone = Tracked::new(apex, Role::Member(catalog.to_vec()), transfer.clone());
            zone.entry = member.entry.clone();
            self.restore(&mut zone);
            tracing::info!(zone = %name::display(&member.zone), catalog = %name::display(catalog), "member zone added");
            self.zones.insert(member.zone.clone(), zone);
            changed = true;
        }
        self.resets.extend(moved);
        changed
    }

    /// Resets the members listed under a new unique id (RFC 9432 section
    /// 5.6), now that the catalog saying so is published: each one's copy,
    /// saved one included, goes, and it is transferred anew (SERVFAIL
    /// meanwhile). Publishes when any was reset.
    fn reset_members(&mut self) {
        let mut reset = false;
        for apex in std::mem::take(&mut self.resets) {
            let Some(zone) = self.zones.get(&apex) else {
                continue;
            };
            if !matches!(zone.role, Role::Member(_)) {
                continue;
            }
            let mut fresh =
                Tracked::new(zone.apex.clone(), zone.role.clone(), zone.transfer.clone());
            fresh.entry = zone.entry.clone();
            tracing::info!(zone = %name::display(&apex), entry = %name::display(&fresh.entry), "member zone reset: listed under a new unique id");
            if let Some(path) = self.state_path(&apex) {
                let _ = fs::remove_file(path);
            }
            self.zones.insert(apex, fresh);
            reset = true;
        }
        if reset {
            self.publish();
        }
    }

    /// Publishes every served zone (and placeholders for the others) with
    /// the rest of the snapshot; `patch` names a zone whose data alone
    /// changed since the last publication, and the owners changed. On an
    /// error (the new data would break a service) returns it and nothing
    /// changes.
    fn try_publish(&self, patch: Option<(&[u8], &[Vec<u8>])>) -> Result<u64, String> {
        let secondaries: Vec<SecondaryZone> = self
            .zones
            .values()
            .filter(|zone| zone.role != Role::Catalog)
            .map(|zone| match (&zone.data, zone.serving) {
                (Some(data), serving) => SecondaryZone {
                    data: data.clone(),
                    serving,
                },
                (None, _) => SecondaryZone::without_copy(zone.apex_wire.clone()),
            })
            .collect();
        let members = self
            .zones
            .values()
            .filter(|zone| matches!(zone.role, Role::Member(_)))
            .map(|zone| (zone.apex_wire.clone(), zone.transfer.clone()))
            .collect();
        let result = self
            .control
            .set_secondaries(secondaries, members, patch)
            .map_err(|errors| errors.to_string());
        self.publish_status();
        result
    }

    fn publish(&mut self) {
        match self.try_publish(None) {
            Ok(_) => {
                self.forget_removed();
                self.pack_all();
            }
            Err(error) => tracing::error!("secondary zones not published: {error}"),
        }
    }

    /// Deletes the saved copies of zones no longer kept (members dropped
    /// from their catalog, or with it), once published without them.
    fn forget_removed(&mut self) {
        for apex in std::mem::take(&mut self.unsaved) {
            if self.zones.contains_key(&apex) {
                continue;
            }
            if let Some(path) = self.state_path(&apex) {
                let _ = fs::remove_file(path);
            }
        }
    }

    fn publish_status(&self) {
        let statuses = self.zones.values().map(Tracked::status).collect();
        *self
            .transfers
            .statuses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = statuses;
    }

    /// Stops serving zones whose copy expired.
    fn expire(&mut self) {
        let now = SystemTime::now();
        let mut changed = false;
        for zone in self.zones.values_mut() {
            if zone.serving && zone.expires_at.is_some_and(|at| at <= now) {
                zone.serving = false;
                changed = true;
                tracing::error!(zone = %zone.apex, serial = zone.serial(), "zone expired: answering SERVFAIL until a transfer succeeds");
            }
        }
        if changed {
            self.publish();
        }
    }

    /// Checks the zone at `apex` against its primaries and takes what is
    /// new.
    fn refresh(&mut self, apex: &[u8]) {
        let Some(zone) = self.zones.get(apex) else {
            return;
        };
        let primaries = zone.transfer.primaries.clone();
        let key = zone
            .transfer
            .tsig
            .and_then(|index| self.keys.get(index))
            .cloned();
        let mut errors = Vec::new();
        for primary in primaries {
            let exchange = Exchange {
                primary,
                key: key.as_ref(),
                timeout: EXCHANGE_TIMEOUT,
            };
            match self.refresh_from(apex, &exchange) {
                Ok(()) => return,
                Err(error) => {
                    let zone_name = name::display(apex);
                    tracing::error!(zone = %zone_name, %primary, "refresh failed: {error}");
                    errors.push(format!("{primary}: {error}"));
                }
            }
        }
        let Some(zone) = self.zones.get_mut(apex) else {
            return;
        };
        zone.failures += 1;
        zone.last_error = Some(errors.join("; "));
        let retry = timers::retry_interval(zone.soa_times(), &zone.transfer.timers, random_u64());
        zone.schedule(retry);
        self.publish_status();
    }

    fn refresh_from(&mut self, apex: &[u8], exchange: &Exchange<'_>) -> Result<(), String> {
        let zone = &self.zones[apex];
        let zone_apex = zone.apex.clone();
        let ours = zone.serial();
        let theirs = client::soa_serial(exchange, &zone_apex)
            .map_err(|error| format!("SOA query: {error}"))?;
        if let Some(ours) = ours {
            if Serial(theirs).partial_cmp(&Serial(ours)) != Some(std::cmp::Ordering::Greater) {
                if Serial(theirs) != Serial(ours) {
                    tracing::warn!(zone = %zone_apex, primary = %exchange.primary, ours, theirs, "the primary's serial is older than ours; keeping ours");
                }
                self.refreshed(apex);
                return Ok(());
            }
        }
        let origin =
            |kind: &str| PathBuf::from(format!("{kind} of {zone_apex} from {}", exchange.primary));
        let current = self.zones[apex].data.clone();
        let (data, kind, changed) = match &current {
            Some(current) => match self.incremental(current, &zone_apex, exchange, &origin("IXFR"))
            {
                Ok(Some((data, changed))) => (data, Kind::Ixfr, changed),
                Ok(None) => {
                    self.refreshed(apex);
                    return Ok(());
                }
                Err((error, fall_back)) => {
                    self.transfers.count(apex, Kind::Ixfr, false);
                    if !fall_back {
                        return Err(format!("IXFR: {error}"));
                    }
                    tracing::info!(zone = %zone_apex, primary = %exchange.primary, "IXFR not usable ({error}); taking AXFR");
                    (
                        self.full(&zone_apex, exchange, &origin("AXFR"))
                            .inspect_err(|_| self.transfers.count(apex, Kind::Axfr, false))?,
                        Kind::Axfr,
                        None,
                    )
                }
            },
            None => (
                self.full(&zone_apex, exchange, &origin("AXFR"))
                    .inspect_err(|_| {
                        self.transfers.count(apex, Kind::Axfr, false);
                    })?,
                Kind::Axfr,
                None,
            ),
        };
        if let (Some(ours), Some(new)) = (ours, data.soa().map(|soa| soa.serial)) {
            if Serial(new).partial_cmp(&Serial(ours)) != Some(std::cmp::Ordering::Greater) {
                self.transfers.count(apex, kind, false);
                return Err(format!(
                    "the transfer has serial {new}, not newer than ours ({ours})"
                ));
            }
        }
        let data = self.give_way_to_services(data);
        if let Err(error) = self.accept(apex, data, changed.as_deref()) {
            self.transfers.count(apex, kind, false);
            return Err(error);
        }
        self.transfers.count(apex, kind, true);
        let zone = &self.zones[apex];
        tracing::info!(zone = %zone_apex, primary = %exchange.primary, kind = kind.name(), serial = zone.serial(), records = zone.data.as_ref().map_or(0, |data| data.record_count), "zone transferred");
        Ok(())
    }

    /// An IXFR from `current`: `Ok(None)` when up to date, else the new
    /// zone and, when the primary sent differences, the owners they
    /// changed; on an error, whether an AXFR should follow.
    fn incremental(
        &self,
        current: &ZoneData,
        apex: &Name<Bytes>,
        exchange: &Exchange<'_>,
        origin: &Path,
    ) -> Result<Option<Incremental>, (String, bool)> {
        let Some(ours) = soa_record(current) else {
            return Err(("our copy has no SOA".to_owned(), true));
        };
        match client::ixfr(exchange, apex, &ours) {
            Ok(Transfer::UpToDate) => Ok(None),
            Ok(Transfer::Full(records)) => {
                zone::load::zone_from_records(apex, origin.to_path_buf(), records)
                    .map(|(data, _)| Some((data, None)))
                    .map_err(|errors| (errors.to_string(), false))
            }
            Ok(Transfer::Incremental(differences)) => {
                let mut data: Option<ZoneData> = None;
                let mut changed: Vec<Vec<u8>> = Vec::new();
                let services = build::service_names_in(&self.config, &current.apex);
                for mut difference in differences {
                    // Records the copy left out for a service stay out.
                    for records in [&mut difference.removed, &mut difference.added] {
                        records.retain(|record| !build::shadowed_by_service(record, &services));
                    }
                    let base = data.as_ref().unwrap_or(current);
                    let next = base
                        .apply_changes(&difference.removed, &difference.added, origin)
                        .map_err(|errors| (format!("does not apply: {errors}"), true))?;
                    data = Some(next.0);
                    changed.extend(next.2);
                }
                changed.sort_unstable();
                changed.dedup();
                Ok(data.map(|data| (data, Some(changed))))
            }
            // The primary cannot serve IXFR: take AXFR.
            Err(XfrError::Rcode(rcode))
                if matches!(
                    rcode,
                    DomainRcode::NOTIMP | DomainRcode::FORMERR | DomainRcode::SERVFAIL
                ) =>
            {
                Err((XfrError::Rcode(rcode).to_string(), true))
            }
            Err(XfrError::Malformed(what)) => Err((format!("malformed response: {what}"), true)),
            Err(error) => Err((error.to_string(), false)),
        }
    }

    fn full(
        &self,
        apex: &Name<Bytes>,
        exchange: &Exchange<'_>,
        origin: &Path,
    ) -> Result<ZoneData, String> {
        let mut stream =
            client::axfr_stream(exchange, apex).map_err(|error| format!("AXFR: {error}"))?;
        // Checked as they arrive; a transfer that did not finish cleanly
        // throws the result away, whatever the checks said of it.
        let loaded = zone::load::zone_from_records(apex, origin.to_path_buf(), stream.by_ref());
        stream.finish().map_err(|error| format!("AXFR: {error}"))?;
        loaded
            .map(|(data, warnings)| {
                for warning in warnings {
                    tracing::warn!(zone = %apex, "{warning}");
                }
                data
            })
            .map_err(|errors| format!("AXFR: {errors}"))
    }

    /// Takes `data` as the zone at `apex`: a catalog's members are read,
    /// the copy saved, and the snapshot published (the name table patched
    /// for the owners `changed`, when given and it can be). On any error the
    /// zone stays as it was.
    fn accept(
        &mut self,
        apex: &[u8],
        data: ZoneData,
        changed: Option<&[Vec<u8>]>,
    ) -> Result<(), String> {
        let data = Arc::new(data);
        let is_catalog = self.zones[apex].role == Role::Catalog;
        let mut members = None;
        if is_catalog {
            let listed =
                catalog::members(&data).map_err(|error| format!("catalog refused: {error}"))?;
            for problem in &listed.problems {
                tracing::error!(catalog = %name::display(apex), "catalog entry left out: {problem}");
            }
            members = Some(listed.zones);
        }
        let zone = self.zones.get_mut(apex).expect("refreshed zone is kept");
        let previous = (
            zone.data.replace(data.clone()),
            zone.serving,
            zone.members.clone(),
        );
        zone.serving = true;
        if let Some(members) = &members {
            zone.members = members.clone();
        }
        if let Some(members) = members {
            let transfer = self.zones[apex].transfer.clone();
            self.set_members(apex, &transfer, &members, true);
        }
        let patch = match (is_catalog, changed) {
            (false, Some(changed)) => Some((apex, changed)),
            _ => None,
        };
        if let Err(error) = self.try_publish(patch) {
            let zone = self.zones.get_mut(apex).expect("refreshed zone is kept");
            zone.data = previous.0;
            zone.serving = previous.1;
            zone.members = previous.2.clone();
            if is_catalog {
                // Back as it was: the entries too, and no member reset.
                let transfer = zone.transfer.clone();
                self.resets.clear();
                self.set_members(apex, &transfer, &previous.2, false);
            }
            return Err(format!("not published: {error}"));
        }
        self.forget_removed();
        self.reset_members();
        if let Some(path) = self.state_path(apex) {
            if let Err(error) = zone::write::save_zone(&data, &path) {
                tracing::error!(zone = %name::display(apex), file = %path.display(), %error, "could not save the zone's copy");
            }
        }
        drop(data);
        // A whole build walked every zone, unpacking them.
        self.pack_all();
        let zone = self.zones.get_mut(apex).expect("refreshed zone is kept");
        zone.last_transfer = Some(SystemTime::now());
        self.refreshed(apex);
        Ok(())
    }

    /// A refresh succeeded: the expire timer restarts, the next check is
    /// scheduled.
    fn refreshed(&mut self, apex: &[u8]) {
        let path = self.state_path(apex);
        let Some(zone) = self.zones.get_mut(apex) else {
            return;
        };
        zone.failures = 0;
        zone.last_error = None;
        let was_serving = zone.serving;
        if let Some(soa) = zone.soa_times() {
            zone.expires_at =
                Some(SystemTime::now() + timers::expire_interval(soa, &zone.transfer.timers));
            zone.serving = true;
            zone.schedule(timers::refresh_interval(
                soa,
                &zone.transfer.timers,
                random_u64(),
            ));
        }
        // The saved copy's time is the last successful refresh.
        if let Some(path) = path {
            if let Ok(file) = fs::File::options().append(true).open(&path) {
                let _ = file.set_modified(SystemTime::now());
            }
        }
        if !was_serving {
            self.publish();
        } else {
            self.publish_status();
        }
    }

    /// Removes from a transferred zone the A, AAAA and CNAME records at a
    /// configured service's name: the service answers there, whatever the
    /// primary has (logged).
    fn give_way_to_services(&self, mut data: ZoneData) -> ZoneData {
        let services = build::service_names_in(&self.config, &data.apex);
        for owner in build::give_way_to_services(&mut data, &services) {
            tracing::warn!(zone = %name::display(&data.apex), service = %name::display(&owner), "the zone has A/AAAA/CNAME records at a service's name; the service answers there, they are left out");
        }
        data
    }
}

/// The name of the file in `state_dir` that holds the zone at lowercase wire
/// `apex`: its labels joined by dots, each byte other than a lowercase
/// letter, digit, `-` or `_` written `%XX`, then `.zone`; `@.zone` for the
/// root. Names come from primaries (catalog members), so nothing in them
/// can reach outside the directory (`/` and `.` inside a label are
/// escaped). A name too long for one file name keeps its first 150 bytes
/// and a hash of the whole.
pub fn state_file_name(apex: &[u8]) -> String {
    let mut labels: Vec<String> = Vec::new();
    let mut at = 0;
    while let Some(&length) = apex.get(at) {
        let length = usize::from(length);
        if length == 0 {
            break;
        }
        let label = apex.get(at + 1..at + 1 + length).unwrap_or_default();
        let mut text = String::with_capacity(label.len());
        for &byte in label {
            if byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_' {
                text.push(char::from(byte));
            } else {
                text.push_str(&format!("%{byte:02X}"));
            }
        }
        labels.push(text);
        at += 1 + length;
    }
    if labels.is_empty() {
        return "@.zone".to_owned();
    }
    let joined = labels.join(".");
    if joined.len() > 200 {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hash = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one(apex);
        return format!("{}~{hash:016x}.zone", &joined[..150]);
    }
    format!("{joined}.zone")
}

/// The apex SOA of `zone` as a record, for an IXFR request.
fn soa_record(zone: &ZoneData) -> Option<ZoneRecord> {
    let set = zone.record_set(&zone.apex, rtype::SOA)?;
    let Some(Rdata::Soa(soa)) = set.records.first() else {
        return None;
    };
    let zone::Soa {
        mname,
        rname,
        serial,
        refresh,
        retry,
        expire,
        minimum,
    } = &**soa;
    let name = |wire: &[u8]| Name::<Bytes>::from_octets(Bytes::copy_from_slice(wire)).ok();
    let soa = Soa::new(
        name(mname)?,
        name(rname)?,
        Serial(*serial),
        Ttl::from_secs(*refresh),
        Ttl::from_secs(*retry),
        Ttl::from_secs(*expire),
        Ttl::from_secs(*minimum),
    );
    Some(Record::new(
        name(&zone.apex)?,
        Class::IN,
        Ttl::from_secs(set.ttl),
        ZoneRecordData::Soa(soa),
    ))
}

#[cfg(test)]
mod tests {
    use super::state_file_name;

    #[test]
    fn state_file_names_stay_inside_the_directory() {
        assert_eq!(
            state_file_name(b"\x07example\x03net\x00"),
            "example.net.zone"
        );
        assert_eq!(state_file_name(b"\x00"), "@.zone");
        assert_eq!(state_file_name(b"\x04root\x00"), "root.zone");
        // A label with a slash, a dot or a NUL cannot name another place.
        assert_eq!(
            state_file_name(b"\x09/tmp/evil\x07example\x00"),
            "%2Ftmp%2Fevil.example.zone"
        );
        assert_eq!(state_file_name(b"\x02..\x00"), "%2E%2E.zone");
        assert_eq!(state_file_name(b"\x03a\x00b\x00"), "a%00b.zone");
        for name in [
            &b"\x09/tmp/evil\x07example\x00"[..],
            b"\x02..\x00",
            b"\x01/\x00",
        ] {
            let file = state_file_name(name);
            let path = std::path::Path::new("/var/lib/dnslb").join(&file);
            assert_eq!(
                path.parent(),
                Some(std::path::Path::new("/var/lib/dnslb")),
                "{file}"
            );
        }
        // Long names keep one file-name's length, and differ.
        let long: Vec<u8> = (0..4)
            .flat_map(|index| {
                let mut label = vec![62u8];
                label.extend(std::iter::repeat_n(b'a' + index, 62));
                label
            })
            .chain([0])
            .collect();
        let mut other = long.clone();
        other[200] = b'z';
        assert!(state_file_name(&long).len() <= 255);
        assert_ne!(state_file_name(&long), state_file_name(&other));
    }
}
