//! The control plane's state, and the only publisher of snapshots once the
//! server runs.
//!
//! [`Control`] holds the running config and, for every configured backend,
//! its health state machine, last probe, drain flag and load. Health
//! results (from the probe thread), drains and loads (from the admin API) and
//! reloads (SIGHUP, `POST /reload`) all come through it; each change builds
//! one complete snapshot off the fast path and publishes it with one
//! `ArcSwap::store`. A batch of probe results is applied as one change, so
//! state changes arriving together are coalesced into one swap.
//!
//! Invariants: the state lock is held from reading the state to storing the
//! snapshot built from it, so two publishers can never interleave and lose
//! an update; a backend's id, drain flag, load and health survive reloads
//! for as long as the backend (service name + target) stays configured; ids
//! are never reused, so a late probe result for a removed backend is
//! ignored.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

pub mod build;

use crate::config::{self, BackendTarget, Config, LoadErrors, Source, TransferConfig};
use crate::health::engine::{EngineHandle, ProbeOutcome, ProbeTarget};
use crate::health::{BackendHealth, Health, HealthCheck};
use crate::service::{BackendState, BackendStates};
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::wire::name;
use crate::zone::ZoneData;
use build::{SecondaryZone, Sources};

/// How long a replaced snapshot is kept alive by the control plane. Workers
/// hold a snapshot for one batch (microseconds); keeping the old one this
/// long makes sure the last reference, and so the freeing of its tables, is
/// dropped here and never on a worker.
const RETIRE_AFTER: Duration = Duration::from_secs(1);

/// Smallest load change that is published (loads reported by every probe
/// would otherwise swap the snapshot each time they wobble).
const LOAD_CHANGE_PUBLISHED: f32 = 0.01;

/// Identifies a backend across reloads: its service and its target.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BackendKey {
    /// The service's lowercase wire-format name.
    pub service: Box<[u8]>,
    pub target: BackendTarget,
}

/// The last probe of a backend.
#[derive(Clone, Debug)]
pub struct ProbeRecord {
    pub success: bool,
    pub at: Instant,
    pub latency: Duration,
    pub detail: String,
}

/// What the control plane tracks about one backend.
#[derive(Clone, Debug)]
pub struct Tracked {
    /// Stable for this backend across reloads, never reused.
    pub id: u64,
    pub key: BackendKey,
    /// How it is probed; `None`: not probed. Boxed, as is the last probe:
    /// most of a large config's backends have neither, and each is tracked.
    pub check: Option<Box<HealthCheck>>,
    pub health: BackendHealth,
    pub drained: bool,
    pub load: f32,
    pub last_probe: Option<Box<ProbeRecord>>,
}

impl Tracked {
    fn state(&self) -> BackendState {
        BackendState {
            health: self.health.state(),
            drained: self.drained,
            load: self.load,
        }
    }
}

/// Counters of the control plane, for `/metrics`.
#[derive(Debug, Default)]
pub struct ControlMetrics {
    /// Snapshots published after the first.
    pub swaps: AtomicU64,
    /// Reloads that succeeded and failed.
    pub reloads: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// Probes finished, and those that failed.
    pub probes: AtomicU64,
    pub probe_failures: AtomicU64,
    /// Sum of probe latencies, in microseconds.
    pub probe_latency_micros: AtomicU64,
    /// Health state changes applied.
    pub state_changes: AtomicU64,
    /// The last snapshot's build time, in microseconds.
    pub last_build_micros: AtomicU64,
    /// Name tables built whole after the first (reloads, zone transfers),
    /// and patched for an IXFR's names instead.
    pub tables_built: AtomicU64,
    pub tables_patched: AtomicU64,
    /// From a probe result to the snapshot it changed being published: the
    /// last and the largest, in microseconds.
    pub last_publish_delay_micros: AtomicU64,
    pub max_publish_delay_micros: AtomicU64,
}

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no service {0:?}")]
    UnknownService(String),
    #[error("no backend {backend:?} in service {service:?}")]
    UnknownBackend { service: String, backend: String },
    #[error("load {0} is not a number from 0.0 to 1.0")]
    BadLoad(f32),
    #[error("{0}")]
    Config(LoadErrors),
    #[error(
        "{0} changed, and it changes only on restart (see the README's list); \
         the running config is unchanged"
    )]
    NeedsRestart(String),
}

/// The outcome of a successful reload.
#[derive(Clone, Debug, Serialize)]
pub struct ReloadReport {
    pub generation: u64,
    pub services: usize,
    pub zones: usize,
    pub records: usize,
    pub build_ms: f64,
    /// Backends kept (with their health, drain and load), added and removed.
    pub kept: usize,
    pub added: usize,
    pub removed: usize,
    pub warnings: Vec<String>,
}

/// One backend in `/status`.
#[derive(Clone, Debug, Serialize)]
pub struct BackendStatus {
    /// The address or name as configured.
    pub backend: String,
    /// "up" or "down" (health only; see `drained`).
    pub state: &'static str,
    /// Whether it is answered: up and not drained.
    pub available: bool,
    pub drained: bool,
    pub load: f32,
    /// "tcp", "http", "dns" or "none".
    pub check: &'static str,
    /// Seconds since the state was entered.
    pub since_seconds: f64,
    pub last_probe: Option<ProbeStatus>,
}

/// The last probe in `/status`.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeStatus {
    /// "success" or "failure".
    pub result: &'static str,
    pub detail: String,
    pub latency_ms: f64,
    pub seconds_ago: f64,
}

/// One service in `/status`.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceStatus {
    /// With its final dot.
    pub name: String,
    pub policy: &'static str,
    pub backends: Vec<BackendStatus>,
}

/// The whole of `/status`.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub generation: u64,
    pub config: String,
    pub services: Vec<ServiceStatus>,
}

/// `sources`, without the file zones' data when `config` has no secondary
/// zone or catalog to rebuild snapshots for.
fn keep_files_if_needed(config: &Config, mut sources: Sources) -> Sources {
    if config.secondaries.is_empty() && config.catalogs.is_empty() {
        crate::sys::memory::free_in_background(std::mem::take(&mut sources.files));
    }
    sources
}

/// Whether `config` keeps the file zones' data for rebuilds.
fn keeps_files(config: &Config) -> bool {
    !(config.secondaries.is_empty() && config.catalogs.is_empty())
}

/// A catalog member zone (lowercase wire apex) and its catalog's transfer
/// settings.
pub type Member = (Vec<u8>, TransferConfig);

struct State {
    config: Arc<Config>,
    /// What the running snapshot was built from besides the config. The
    /// file zones' data is kept only while the config has secondaries or
    /// catalogs (their transfers rebuild the snapshot); otherwise it is
    /// dropped once built, as the table holds all a worker needs.
    sources: Sources,
    /// The catalog members among `sources.secondaries`.
    members: Vec<Member>,
    /// By service index, then backend index, as in `config`.
    backends: Vec<Vec<Tracked>>,
    /// Where each id is now.
    by_id: HashMap<u64, (usize, usize)>,
    next_id: u64,
}

impl fmt::Debug for State {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("State")
            .field("config", &self.config.path)
            .field("backends", &self.by_id.len())
            .finish_non_exhaustive()
    }
}

impl State {
    /// Tracks every backend of `config`, carrying over what `previous` knew
    /// of the same backends. Returns (kept, added).
    fn track(
        config: Arc<Config>,
        sources: Sources,
        members: Vec<Member>,
        previous: Option<&State>,
        now: Instant,
    ) -> (State, usize, usize) {
        let mut old: HashMap<&BackendKey, &Tracked> = HashMap::new();
        if let Some(previous) = previous {
            for tracked in previous.backends.iter().flatten() {
                old.insert(&tracked.key, tracked);
            }
        }
        let mut next_id = previous.map_or(1, |previous| previous.next_id);
        let (mut kept, mut added) = (0, 0);
        let mut by_id = HashMap::new();
        let backends = config
            .services
            .iter()
            .enumerate()
            .map(|(service_index, service)| {
                let service_name = name::to_lowercase(service.name.as_slice()).into_boxed_slice();
                service
                    .backends
                    .iter()
                    .enumerate()
                    .map(|(backend_index, backend)| {
                        let key = BackendKey {
                            service: service_name.clone(),
                            target: backend.target.clone(),
                        };
                        let tracked = match old.get(&key) {
                            Some(known) => {
                                kept += 1;
                                Tracked {
                                    check: backend.health.clone().map(Box::new),
                                    // A backend no longer probed is up.
                                    health: if backend.health.is_some() {
                                        known.health
                                    } else {
                                        BackendHealth::new(Health::Up, now)
                                    },
                                    last_probe: if backend.health.is_some() {
                                        known.last_probe.clone()
                                    } else {
                                        None
                                    },
                                    ..(*known).clone()
                                }
                            }
                            None => {
                                added += 1;
                                next_id += 1;
                                Tracked {
                                    id: next_id - 1,
                                    key,
                                    check: backend.health.clone().map(Box::new),
                                    health: BackendHealth::new(Health::Up, now),
                                    drained: false,
                                    load: 0.0,
                                    last_probe: None,
                                }
                            }
                        };
                        by_id.insert(tracked.id, (service_index, backend_index));
                        tracked
                    })
                    .collect()
            })
            .collect();
        (
            State {
                sources: keep_files_if_needed(&config, sources),
                config,
                members,
                backends,
                by_id,
                next_id,
            },
            kept,
            added,
        )
    }

    fn states(&self) -> BackendStates {
        self.backends
            .iter()
            .map(|service| service.iter().map(Tracked::state).collect())
            .collect()
    }

    fn probe_targets(&self) -> Vec<ProbeTarget> {
        self.backends
            .iter()
            .flatten()
            .filter_map(|tracked| match (&tracked.key.target, &tracked.check) {
                (BackendTarget::Address(address), Some(check)) => Some(ProbeTarget {
                    id: tracked.id,
                    address: *address,
                    check: HealthCheck::clone(check),
                }),
                _ => None,
            })
            .collect()
    }

    /// Finds a backend by service name (presentation format) and address or
    /// name.
    fn find(&self, service: &str, backend: &str) -> Result<(usize, usize), ControlError> {
        let wanted = domain::base::Name::<Vec<u8>>::from_str(service)
            .map(|name| name::to_lowercase(name.as_slice()))
            .map_err(|_| ControlError::UnknownService(service.to_owned()))?;
        let service_index = self
            .config
            .services
            .iter()
            .position(|configured| name::to_lowercase(configured.name.as_slice()) == wanted)
            .ok_or_else(|| ControlError::UnknownService(service.to_owned()))?;
        let wanted_address = backend.parse::<std::net::IpAddr>().ok();
        let wanted_name = domain::base::Name::<Vec<u8>>::from_str(backend)
            .map(|name| name::to_lowercase(name.as_slice()))
            .ok();
        let backend_index = self.backends[service_index]
            .iter()
            .position(|tracked| match &tracked.key.target {
                BackendTarget::Address(address) => Some(*address) == wanted_address,
                BackendTarget::Name(target) => {
                    Some(name::to_lowercase(target.as_slice())) == wanted_name
                }
            })
            .ok_or_else(|| ControlError::UnknownBackend {
                service: service.to_owned(),
                backend: backend.to_owned(),
            })?;
        Ok((service_index, backend_index))
    }
}

/// The control plane: state, the snapshot it publishes, and the probe
/// engine it feeds targets to.
#[derive(Debug)]
pub struct Control {
    shared: Arc<SharedSnapshot>,
    state: Mutex<State>,
    engine: Mutex<Option<EngineHandle>>,
    /// Held for the whole of a reload, so that reloads run one at a time.
    reloading: Mutex<()>,
    /// Replaced snapshots and when, freed after [`RETIRE_AFTER`].
    retired: Mutex<VecDeque<(Instant, Arc<Snapshot>)>>,
    pub metrics: ControlMetrics,
}

impl Control {
    /// Takes over `shared`, which must have been built from `config` and
    /// `sources` with every backend in the default state.
    pub fn new(config: Config, shared: Arc<SharedSnapshot>, sources: Sources) -> Control {
        let (state, _, _) =
            State::track(Arc::new(config), sources, Vec::new(), None, Instant::now());
        Control {
            shared,
            state: Mutex::new(state),
            engine: Mutex::new(None),
            reloading: Mutex::new(()),
            retired: Mutex::new(VecDeque::new()),
            metrics: ControlMetrics::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state as it was before
        // the change that panicked: still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The published snapshot.
    pub fn snapshot(&self) -> &Arc<SharedSnapshot> {
        &self.shared
    }

    /// The running config.
    pub fn config(&self) -> Arc<Config> {
        self.lock().config.clone()
    }

    /// Every backend to probe now.
    pub fn probe_targets(&self) -> Vec<ProbeTarget> {
        self.lock().probe_targets()
    }

    /// Connects the probe engine, which from now on gets the new targets
    /// after each reload.
    pub fn attach_engine(&self, handle: EngineHandle) {
        *self
            .engine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(handle);
    }

    /// Builds a snapshot of `state` over the current zones and publishes it.
    fn publish_states(&self, state: &State) -> u64 {
        let current = self.shared.load_full();
        let next = build::with_backend_states(
            &current,
            &state.config,
            &state.states(),
            current.generation + 1,
        );
        self.finish_publish(next)
    }

    fn finish_publish(&self, next: Snapshot) -> u64 {
        let generation = next.generation;
        self.metrics.last_build_micros.store(
            next.summary.build_time.as_micros() as u64,
            Ordering::Relaxed,
        );
        let replaced = self.shared.replace(next);
        self.metrics.swaps.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut retired = self
            .retired
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while retired
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= RETIRE_AFTER)
        {
            retired.pop_front();
        }
        retired.push_back((now, replaced));
        generation
    }

    /// Applies one batch of probe results; publishes one snapshot when any
    /// backend changed state (or load). Returns the state changes.
    pub fn apply_probes(&self, outcomes: &[ProbeOutcome]) -> usize {
        let mut state = self.lock();
        let mut changes = 0;
        let mut load_changed = false;
        let mut earliest_change: Option<Instant> = None;
        for outcome in outcomes {
            self.metrics.probes.fetch_add(1, Ordering::Relaxed);
            if !outcome.success {
                self.metrics.probe_failures.fetch_add(1, Ordering::Relaxed);
            }
            self.metrics
                .probe_latency_micros
                .fetch_add(outcome.latency.as_micros() as u64, Ordering::Relaxed);
            let Some(&(service_index, backend_index)) = state.by_id.get(&outcome.id) else {
                continue;
            };
            let tracked = &mut state.backends[service_index][backend_index];
            let Some(check) = &tracked.check else {
                continue;
            };
            let thresholds = check.thresholds;
            tracked.last_probe = Some(Box::new(ProbeRecord {
                success: outcome.success,
                at: outcome.at,
                latency: outcome.latency,
                detail: outcome.detail.clone(),
            }));
            if let Some(load) = outcome.load {
                if (load - tracked.load).abs() >= LOAD_CHANGE_PUBLISHED {
                    tracked.load = load;
                    load_changed = true;
                }
            }
            if let Some(new_state) = tracked
                .health
                .record(outcome.success, outcome.at, thresholds)
            {
                changes += 1;
                earliest_change =
                    Some(earliest_change.map_or(outcome.at, |earliest| earliest.min(outcome.at)));
                tracing::info!(
                    service = %name::display(&tracked.key.service),
                    backend = %tracked.key.target,
                    state = new_state.name(),
                    detail = %outcome.detail,
                    "backend health changed"
                );
            }
        }
        if changes > 0 || load_changed {
            self.publish_states(&state);
            if let Some(earliest) = earliest_change {
                let delay = earliest.elapsed().as_micros() as u64;
                self.metrics
                    .last_publish_delay_micros
                    .store(delay, Ordering::Relaxed);
                self.metrics
                    .max_publish_delay_micros
                    .fetch_max(delay, Ordering::Relaxed);
            }
            self.metrics
                .state_changes
                .fetch_add(changes as u64, Ordering::Relaxed);
        }
        changes
    }

    /// Drains (`true`) or undrains a backend; returns the generation
    /// published.
    pub fn set_drained(
        &self,
        service: &str,
        backend: &str,
        drained: bool,
    ) -> Result<u64, ControlError> {
        let mut state = self.lock();
        let (service_index, backend_index) = state.find(service, backend)?;
        state.backends[service_index][backend_index].drained = drained;
        tracing::info!(service, backend, drained, "backend drain changed");
        Ok(self.publish_states(&state))
    }

    /// Sets the load a backend reports (0.0 to 1.0); returns the generation
    /// published.
    pub fn set_load(&self, service: &str, backend: &str, load: f32) -> Result<u64, ControlError> {
        if !(0.0..=1.0).contains(&load) {
            return Err(ControlError::BadLoad(load));
        }
        let mut state = self.lock();
        let (service_index, backend_index) = state.find(service, backend)?;
        state.backends[service_index][backend_index].load = load;
        Ok(self.publish_states(&state))
    }

    /// Re-reads the config file and its zones. On success everything is
    /// replaced in one swap, keeping the health, drain and load of backends
    /// that still exist; on any error nothing changes.
    pub fn reload(&self) -> Result<ReloadReport, ControlError> {
        let result = self.try_reload();
        match &result {
            Ok(report) => {
                self.metrics.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    generation = report.generation,
                    zones = report.zones,
                    services = report.services,
                    records = report.records,
                    kept = report.kept,
                    added = report.added,
                    removed = report.removed,
                    build_ms = report.build_ms,
                    "reloaded"
                );
                for warning in &report.warnings {
                    tracing::warn!("reload: {warning}");
                }
            }
            Err(error) => {
                self.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
                match error {
                    ControlError::Config(errors) => {
                        for error in &errors.0 {
                            tracing::error!(
                                file = %error.file.display(),
                                line = error.line,
                                key = %error.key,
                                "reload refused: {error}"
                            );
                        }
                    }
                    other => tracing::error!("reload refused: {other}"),
                }
            }
        }
        result
    }

    fn try_reload(&self) -> Result<ReloadReport, ControlError> {
        // Reloads run one at a time; only they change `state.config`, so the
        // config read here stays the running one until this reload
        // publishes. The files are read and the snapshot is built without
        // the state lock: probes, drains and /status go on meanwhile, and a
        // flood of reload requests cannot stall the health thread.
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let running = self.config();
        let config = match running.source {
            Source::Disk => config::load(&running.path),
            Source::Embedded(_) => config::embedded_default(),
            // Files in memory: the config text is read from among them too.
            Source::Memory(_) => config::load_from(&running.path, running.source.clone()),
        }
        .map_err(ControlError::Config)?;
        for (changed, key) in [
            (
                config.server.listen != running.server.listen,
                "server.listen",
            ),
            (
                config.server.workers != running.server.workers,
                "server.workers",
            ),
            (config.server.cpus != running.server.cpus, "server.cpus"),
            (
                config.admin.as_ref().map(|admin| admin.listen)
                    != running.admin.as_ref().map(|admin| admin.listen),
                "admin.listen",
            ),
            (config.server.run_as != running.server.run_as, "server.user"),
            // The TCP thread takes its limits once, at start.
            (
                config.server.tcp_max_connections != running.server.tcp_max_connections,
                "server.tcp_max_connections",
            ),
            (
                config.server.tcp_max_connections_per_client
                    != running.server.tcp_max_connections_per_client,
                "server.tcp_max_connections_per_client",
            ),
            (
                config.server.tcp_idle_timeout != running.server.tcp_idle_timeout,
                "server.tcp_idle_timeout",
            ),
            (
                config.server.tcp_total_timeout != running.server.tcp_total_timeout,
                "server.tcp_total_timeout",
            ),
            // Transferred zones are read back from it once, at start.
            (
                config.server.state_dir != running.server.state_dir,
                "server.state_dir",
            ),
            // The AF_XDP sockets and the filter are made once, before
            // privileges are dropped.
            (config.xdp != running.xdp, "xdp"),
        ] {
            if changed {
                return Err(ControlError::NeedsRestart(key.to_owned()));
            }
        }
        let writers = self.shared.load().services.writers;
        let (files, warnings) = build::load_files(&config).map_err(ControlError::Config)?;
        let (sources, members) = {
            let state = self.lock();
            let file_apexes: Vec<Vec<u8>> = config
                .zones
                .iter()
                .map(|zone| name::to_lowercase(zone.name.as_slice()))
                .collect();
            // Members stay until the transfer thread reads the new config;
            // a member that is now a file zone goes at once.
            let members: Vec<Member> = state
                .members
                .iter()
                .filter(|(apex, _)| !file_apexes.contains(apex))
                .cloned()
                .collect();
            let mut secondaries: Vec<SecondaryZone> = Vec::new();
            for zone in &config.secondaries {
                let apex = name::to_lowercase(zone.name.as_slice());
                let kept = state
                    .sources
                    .secondaries
                    .iter()
                    .find(|known| known.data.apex == apex)
                    .cloned();
                secondaries.push(kept.unwrap_or_else(|| SecondaryZone::without_copy(apex)));
            }
            for (apex, _) in &members {
                if let Some(known) = state
                    .sources
                    .secondaries
                    .iter()
                    .find(|known| known.data.apex == *apex)
                {
                    if !secondaries.iter().any(|zone| zone.data.apex == *apex) {
                        secondaries.push(known.clone());
                    }
                }
            }
            // Copies give way to services the new config puts in them.
            for zone in &mut secondaries {
                let services = build::service_names_in(&config, &zone.data.apex);
                if build::shadows_services(&zone.data, &services) {
                    let mut data = (*zone.data).clone();
                    build::give_way_to_services(&mut data, &services);
                    zone.data = Arc::new(data);
                }
            }
            let member_refs: Vec<(Vec<u8>, &TransferConfig)> = members
                .iter()
                .map(|(apex, transfer)| (apex.clone(), transfer))
                .collect();
            let sources = Sources {
                files,
                secondaries,
                notify_rules: Arc::new(build::notify_rules(&config, &member_refs)),
                notify_intake: state.sources.notify_intake.clone(),
            };
            (sources, members)
        };
        let mut built =
            build::assemble(&config, &sources, 0, writers).map_err(ControlError::Config)?;
        self.metrics.tables_built.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        let current = self.shared.load_full();
        let generation = current.generation + 1;
        if let Some(services) = Arc::get_mut(&mut built.services) {
            // Just built: not shared yet.
            services.adopt_counters(&current.services);
        }
        build::adopt_rate_limiter(&mut built, &current);
        let before = state.by_id.len();
        let (next_state, kept, added) = State::track(
            Arc::new(config),
            sources,
            members,
            Some(&state),
            Instant::now(),
        );
        let next = build::with_backend_states(
            &built,
            &next_state.config,
            &next_state.states(),
            generation,
        );
        let report = ReloadReport {
            generation,
            services: built.summary.services,
            zones: built.summary.zones,
            records: built.summary.records,
            build_ms: (built.summary.build_time + next.summary.build_time).as_secs_f64() * 1e3,
            kept,
            added,
            removed: before - kept,
            warnings: warnings.iter().map(ToString::to_string).collect(),
        };
        *state = next_state;
        self.finish_publish(next);
        if let Some(engine) = self
            .engine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
        {
            engine.replace_targets(state.probe_targets());
        }
        drop(state);
        // The load freed its intermediate records: give them back.
        crate::sys::memory::release_free_memory();
        Ok(report)
    }

    /// Replaces the secondary zones (transferred, expired or without a copy
    /// yet) and the catalog members among them, and publishes a snapshot
    /// built from them. On an error (a service the new data would break)
    /// nothing changes.
    ///
    /// `patch` says that only one zone's data changed since the last
    /// publication (an IXFR), at the owners given: the published name table
    /// is then patched for those names rather than built again, where the
    /// change allows (`NameTable::patched`).
    pub fn set_secondaries(
        &self,
        secondaries: Vec<SecondaryZone>,
        members: Vec<Member>,
        patch: Option<(&[u8], &[Vec<u8>])>,
    ) -> Result<u64, LoadErrors> {
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (config, mut sources) = {
            let state = self.lock();
            (state.config.clone(), state.sources.clone())
        };
        // What the published table was built from, to tell a patch apart.
        let published = sources.clone();
        if !keeps_files(&config) {
            // No secondaries configured (a reload removed the last): the
            // file zones are as published.
            if secondaries.is_empty() {
                return Ok(self.shared.load().generation);
            }
            return Err(LoadErrors(vec![config::LoadError {
                file: config.path.clone(),
                line: None,
                key: String::new(),
                message: "secondary zones published while none is configured".to_owned(),
            }]));
        }
        // Only what the running config has: the transfer thread may not
        // have seen a reload yet.
        let configured: Vec<Vec<u8>> = config
            .secondaries
            .iter()
            .map(|zone| name::to_lowercase(zone.name.as_slice()))
            .collect();
        let members: Vec<Member> = members
            .into_iter()
            .filter(|(apex, _)| !configured.contains(apex))
            .collect();
        let mut secondaries: Vec<SecondaryZone> = secondaries
            .into_iter()
            .filter(|zone| {
                configured.contains(&zone.data.apex)
                    || members.iter().any(|(apex, _)| *apex == zone.data.apex)
            })
            .collect();
        for apex in configured {
            if !secondaries.iter().any(|zone| zone.data.apex == apex) {
                secondaries.push(SecondaryZone::without_copy(apex));
            }
        }
        let member_refs: Vec<(Vec<u8>, &TransferConfig)> = members
            .iter()
            .map(|(apex, transfer)| (apex.clone(), transfer))
            .collect();
        sources.secondaries = secondaries;
        sources.notify_rules = Arc::new(build::notify_rules(&config, &member_refs));
        if let Some((apex, changed)) = patch {
            let started = Instant::now();
            let current = self.shared.load_full();
            let zones = build::table_zones(&sources);
            let names: Vec<&[u8]> = changed.iter().map(Vec::as_slice).collect();
            // A secondary behind a file zone of the same apex is not served.
            let patched = build::patch_target(&zones, &build::table_zones(&published), apex)
                .filter(|&index| index >= sources.files.len())
                .and_then(|index| current.table.patched(&zones, index, &names));
            let mut state = self.lock();
            // Health changes publish meanwhile, with the same table; a
            // whole build cannot (it holds `reloading`, as this does).
            let latest = self.shared.load_full();
            match patched.filter(|_| Arc::ptr_eq(&latest.table, &current.table)) {
                Some(table) => {
                    let patched_names = table.patched_names();
                    let next =
                        build::with_table(&latest, &sources, table, latest.generation + 1, started);
                    state.sources = sources;
                    state.members = members;
                    let generation = self.finish_publish(next);
                    drop(state);
                    self.metrics.tables_patched.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        zone = %name::display(apex),
                        changed = changed.len(),
                        patched_names,
                        ms = started.elapsed().as_millis() as u64,
                        "name table patched"
                    );
                    return Ok(generation);
                }
                None => {
                    drop(state);
                    tracing::info!(
                        zone = %name::display(apex),
                        changed = changed.len(),
                        "the change reaches beyond its names: building the name table whole"
                    );
                }
            }
        }
        // The services are those of the published snapshot (the same
        // config: `reloading` is held); only the zones changed.
        let built = build::with_zones(&self.shared.load_full(), &config, &sources, 0)?;
        self.metrics.tables_built.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        // Health changes publish meanwhile: their states are the latest.
        let latest = self.shared.load_full();
        let next = Snapshot {
            generation: latest.generation + 1,
            services: latest.services.clone(),
            ..built
        };
        state.sources = sources;
        state.members = members;
        let generation = self.finish_publish(next);
        drop(state);
        crate::sys::memory::release_free_memory();
        Ok(generation)
    }

    /// Puts `packed` (the same zone, [frozen](ZoneData::frozen)) where
    /// the secondary zone `current` is kept, so the published table's
    /// sources are the copies the transfer thread keeps; returns whether
    /// `current` was still kept there (a later publication may have
    /// replaced it).
    pub fn replace_zone_data(&self, current: &Arc<ZoneData>, packed: Arc<ZoneData>) -> bool {
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut state = self.lock();
        match state
            .sources
            .secondaries
            .iter_mut()
            .find(|zone| Arc::ptr_eq(&zone.data, current))
        {
            Some(zone) => {
                zone.data = packed;
                true
            }
            None => false,
        }
    }

    /// The NOTIFY intake the data plane feeds, for the transfer thread.
    pub fn notify_intake(&self) -> Arc<crate::wire::notify::Intake> {
        self.lock().sources.notify_intake.clone()
    }

    /// Services, backends, states and last probes, for `/status`.
    pub fn status(&self) -> Status {
        let state = self.lock();
        let now = Instant::now();
        let services = state
            .config
            .services
            .iter()
            .zip(&state.backends)
            .map(|(service, backends)| ServiceStatus {
                name: format!("{}.", service.name),
                policy: service.policy.name(),
                backends: backends
                    .iter()
                    .map(|tracked| BackendStatus {
                        backend: tracked.key.target.to_string(),
                        state: tracked.health.state().name(),
                        available: tracked.state().available(),
                        drained: tracked.drained,
                        load: tracked.load,
                        check: tracked
                            .check
                            .as_ref()
                            .map_or("none", |check| check.kind.name()),
                        since_seconds: now
                            .saturating_duration_since(tracked.health.since())
                            .as_secs_f64(),
                        last_probe: tracked.last_probe.as_ref().map(|probe| ProbeStatus {
                            result: if probe.success { "success" } else { "failure" },
                            detail: probe.detail.clone(),
                            latency_ms: probe.latency.as_secs_f64() * 1e3,
                            seconds_ago: now.saturating_duration_since(probe.at).as_secs_f64(),
                        }),
                    })
                    .collect(),
            })
            .collect();
        Status {
            generation: self.shared.load().generation,
            config: state.config.path.display().to_string(),
            services,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const ZONE: &str = "$ORIGIN example.com.\n$TTL 300\n\
        @ SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
        @ NS ns1\nns1 A 192.0.2.53\n";

    /// A config with service `www.example.com` of `backends` (inline tables)
    /// and `health` (a service key line), in `dir`.
    fn write(dir: &Path, ttl: u32, backends: &str, health: &str) -> std::path::PathBuf {
        std::fs::write(dir.join("example.com.zone"), ZONE).unwrap();
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[zone]]\nname = \"example.com\"\n\
             file = \"example.com.zone\"\n\n[[service]]\nname = \"www.example.com\"\n\
             policy = \"round_robin\"\nanswers = 4\nttl = {ttl}\n{health}\nbackends = [{backends}]\n"
        );
        let path = dir.join("dnslb.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    const FOUR: &str = "{ address = \"192.0.2.1\" }, { address = \"192.0.2.2\" }, \
        { address = \"192.0.2.3\" }, { address = \"192.0.2.4\" }";
    const HEALTH: &str = "health = { kind = \"tcp\", port = 80, rise = 1, fall = 2 }";

    fn start(dir: &Path) -> Control {
        let config = config::load(&write(dir, 30, FOUR, HEALTH)).unwrap();
        let (sources, _) = build::initial_sources(&config).unwrap();
        let snapshot = build::assemble(&config, &sources, 1, 2).unwrap();
        Control::new(config, Arc::new(SharedSnapshot::new(snapshot)), sources)
    }

    fn outcome(id: u64, success: bool) -> ProbeOutcome {
        ProbeOutcome {
            id,
            success,
            at: Instant::now(),
            latency: Duration::from_micros(150),
            detail: if success { "connected" } else { "refused" }.to_owned(),
            load: None,
        }
    }

    /// The availability of each backend in the published snapshot.
    fn available(control: &Control) -> Vec<bool> {
        control.snapshot().load().services.entries[0]
            .backends
            .iter()
            .map(|backend| backend.info.up)
            .collect()
    }

    fn id_of(control: &Control, address: &str) -> u64 {
        let targets = control.probe_targets();
        let address: std::net::IpAddr = address.parse().unwrap();
        targets
            .iter()
            .find(|target| target.address == address)
            .unwrap()
            .id
    }

    #[test]
    fn state_changes_together_are_one_swap() {
        let dir = tempfile::tempdir().unwrap();
        let control = start(dir.path());
        assert_eq!(control.probe_targets().len(), 4);
        let (one, two) = (id_of(&control, "192.0.2.1"), id_of(&control, "192.0.2.2"));
        // One failure of each: below fall = 2, nothing published.
        assert_eq!(
            control.apply_probes(&[outcome(one, false), outcome(two, false)]),
            0
        );
        assert_eq!(control.snapshot().load().generation, 1);
        // The second failures take both down in one swap.
        assert_eq!(
            control.apply_probes(&[outcome(one, false), outcome(two, false)]),
            2
        );
        assert_eq!(control.snapshot().load().generation, 2);
        assert_eq!(control.metrics.swaps.load(Ordering::Relaxed), 1);
        assert_eq!(available(&control), [false, false, true, true]);
        // rise = 1: one success brings one back.
        assert_eq!(control.apply_probes(&[outcome(one, true)]), 1);
        assert_eq!(available(&control), [true, false, true, true]);
        let status = control.status();
        let backend = &status.services[0].backends[1];
        assert_eq!((backend.state, backend.available), ("down", false));
        assert_eq!(
            backend.last_probe.as_ref().map(|probe| probe.result),
            Some("failure")
        );
    }

    #[test]
    fn unknown_ids_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let control = start(dir.path());
        assert_eq!(
            control.apply_probes(&[outcome(999, false), outcome(999, false)]),
            0
        );
        assert_eq!(control.snapshot().load().generation, 1);
    }

    #[test]
    fn drain_is_one_swap_and_survives_reload_with_health() {
        let dir = tempfile::tempdir().unwrap();
        let control = start(dir.path());
        let three = id_of(&control, "192.0.2.3");
        control.apply_probes(&[outcome(three, false), outcome(three, false)]);
        let generation = control
            .set_drained("www.example.com", "192.0.2.1", true)
            .unwrap();
        assert_eq!(generation, control.snapshot().load().generation);
        assert_eq!(available(&control), [false, true, false, true]);
        assert!(matches!(
            control.set_drained("www.example.com", "192.0.2.9", true),
            Err(ControlError::UnknownBackend { .. })
        ));
        assert!(matches!(
            control.set_drained("nope.example.com", "192.0.2.1", true),
            Err(ControlError::UnknownService(_))
        ));

        // Reload with one backend more, one less, and a new TTL.
        let backends = "{ address = \"192.0.2.1\" }, { address = \"192.0.2.3\" }, \
            { address = \"192.0.2.4\" }, { address = \"192.0.2.5\" }";
        write(dir.path(), 60, backends, HEALTH);
        let report = control.reload().unwrap();
        assert_eq!((report.kept, report.added, report.removed), (3, 1, 1));
        let snapshot = control.snapshot().load_full();
        assert_eq!(snapshot.generation, report.generation);
        assert_eq!(snapshot.services.entries[0].ttl, 60);
        // Drained .1 and down .3 stay so; the new .5 starts up.
        assert_eq!(available(&control), [false, false, true, true]);
        // Ids of kept backends are stable; the removed one's is gone.
        assert_eq!(id_of(&control, "192.0.2.3"), three);
        assert_eq!(control.probe_targets().len(), 4);
        control
            .set_drained("www.example.com", "192.0.2.1", false)
            .unwrap();
        assert_eq!(available(&control), [true, false, true, true]);
    }

    #[test]
    fn a_bad_reload_changes_nothing_and_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let control = start(dir.path());
        control
            .set_load("www.example.com", "192.0.2.2", 0.5)
            .unwrap();
        let before = control.snapshot().load().generation;
        write(
            dir.path(),
            30,
            FOUR,
            "health = { kind = \"tcp\", port = 80, interval = \"1s\", timeout = \"2s\" }",
        );
        let Err(ControlError::Config(errors)) = control.reload() else {
            panic!("expected config errors");
        };
        assert_eq!(errors.0[0].key, "service[0].health.timeout");
        assert!(errors.0[0].line.is_some());
        assert_eq!(control.snapshot().load().generation, before);
        assert_eq!(control.metrics.reloads_failed.load(Ordering::Relaxed), 1);
        // The listen address changes only on restart.
        let path = write(dir.path(), 30, FOUR, HEALTH);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("127.0.0.1:0", "127.0.0.1:5399");
        std::fs::write(&path, text).unwrap();
        assert!(
            matches!(control.reload(), Err(ControlError::NeedsRestart(key)) if key == "server.listen")
        );
        assert_eq!(control.snapshot().load().generation, before);
        // So does the [xdp] table.
        let path = write(dir.path(), 30, FOUR, HEALTH);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("\n[xdp]\ninterface = \"eth0\"\n");
        std::fs::write(&path, text).unwrap();
        assert!(matches!(control.reload(), Err(ControlError::NeedsRestart(key)) if key == "xdp"));
        assert_eq!(control.snapshot().load().generation, before);
        // So does server.state_dir.
        let path = write(dir.path(), 30, FOUR, HEALTH);
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "[server]\n",
            "[server]\nstate_dir = \"state\"\n",
            1,
        );
        assert!(text.contains("state_dir"), "{text}");
        std::fs::write(&path, text).unwrap();
        assert!(
            matches!(control.reload(), Err(ControlError::NeedsRestart(key)) if key == "server.state_dir")
        );
        assert_eq!(control.snapshot().load().generation, before);
        let status = control.status();
        assert_eq!(status.services[0].backends[1].load, 0.5);
    }

    #[test]
    fn service_counters_survive_swaps_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let control = start(dir.path());
        control.snapshot().load().services.entries[0]
            .counters
            .count(1);
        control
            .set_drained("www.example.com", "192.0.2.1", true)
            .unwrap();
        write(dir.path(), 45, FOUR, HEALTH);
        control.reload().unwrap();
        let snapshot = control.snapshot().load_full();
        assert_eq!(snapshot.services.entries[0].counters.total(), 1);
        assert_eq!(snapshot.services.writers, 2);
    }
}
