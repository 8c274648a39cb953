//! The snapshot: everything a worker reads to answer, in one immutable
//! value, and the single atomic pointer it is published through.
//!
//! Workers `load` the current snapshot once per batch and answer the whole
//! batch from it; the control plane builds a complete new one off the fast
//! path and publishes it with one `ArcSwap::store`. There is never a second
//! pointer a reader could see half-updated.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, Guard};

use crate::config::{Config, LoadErrors};
use crate::rrl::RateLimiter;
use crate::service::{BackendStates, Services};
use crate::wire::fragment::{FragmentId, FragmentStore, Owner, RdataPart, Section};
use crate::wire::{CLASS_CH, rtype};
use crate::zone::{self, NameTable, Warning};

/// Answers to CHAOS-class TXT queries (`version.bind`, `id.server`), when
/// configured.
#[derive(Debug, Default)]
pub struct ChaosAnswers {
    pub version: Option<FragmentId>,
    pub identity: Option<FragmentId>,
    pub fragments: FragmentStore,
}

impl ChaosAnswers {
    fn build(identity: Option<&str>, version: Option<&str>) -> ChaosAnswers {
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

    /// The answer for a lowercase CH TXT query name, if configured.
    #[inline]
    pub fn find(&self, lowercase_name: &[u8]) -> Option<FragmentId> {
        match lowercase_name {
            b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => self.version,
            b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => self.identity,
            _ => None,
        }
    }
}

/// What a snapshot holds, for start-up logs and `check`.
#[derive(Clone, Copy, Debug)]
pub struct BuildSummary {
    pub zones: usize,
    pub services: usize,
    pub records: usize,
    pub names: usize,
    pub rendered_bytes: usize,
    pub build_time: Duration,
}

/// Everything the data plane reads, immutable once built.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases by one with every published snapshot.
    pub generation: u64,
    /// The EDNS UDP payload size we advertise and cap UDP replies at.
    pub udp_payload: u16,
    /// Whether EDNS Client Subnet in queries is honoured (and echoed).
    pub client_subnet: bool,
    /// All zones' names and pre-rendered RRsets (shared between snapshots
    /// that differ only in backend state).
    pub table: Arc<NameTable>,
    /// Load-balanced services, their pools and the topology.
    pub services: Services,
    /// CHAOS TXT answers.
    pub chaos: Arc<ChaosAnswers>,
    /// Response rate limiting for UDP (`[rrl]`); `None` when off. Its
    /// buckets are shared by every snapshot until a reload changes the
    /// table.
    pub rrl: Option<Arc<RateLimiter>>,
    pub summary: BuildSummary,
}

impl Snapshot {
    /// Loads every zone the config names and builds a snapshot. All zone
    /// errors are collected; warnings are returned beside the snapshot.
    /// Per-service counters have one writer slot (for `check`, tests and
    /// benches); a server uses [`Snapshot::build_for_writers`].
    pub fn build(config: &Config, generation: u64) -> Result<(Snapshot, Vec<Warning>), LoadErrors> {
        Snapshot::build_for_writers(config, generation, 1)
    }

    /// [`Snapshot::build`] with per-service counters for `writers`
    /// data-plane threads (UDP workers, then TCP).
    pub fn build_for_writers(
        config: &Config,
        generation: u64,
        writers: usize,
    ) -> Result<(Snapshot, Vec<Warning>), LoadErrors> {
        let started = Instant::now();
        let mut zones = Vec::with_capacity(config.zones.len());
        let mut warnings = Vec::new();
        let mut errors = Vec::new();
        for zone_config in &config.zones {
            match zone::load_zone(zone_config, &config.source) {
                Ok((zone, zone_warnings)) => {
                    zones.push(zone);
                    warnings.extend(zone_warnings);
                }
                Err(LoadErrors(zone_errors)) => errors.extend(zone_errors),
            }
        }
        if !errors.is_empty() {
            return Err(LoadErrors(errors));
        }
        let services = Services::build(config, &zones, writers).map_err(LoadErrors)?;
        let table = NameTable::build(&zones, &services.names());
        let chaos = ChaosAnswers::build(
            config.server.identity.as_deref(),
            config.server.version.as_deref(),
        );
        let summary = BuildSummary {
            zones: zones.len(),
            services: services.entries.len(),
            records: zones.iter().map(|zone| zone.record_count).sum(),
            names: table.name_count(),
            rendered_bytes: table.fragments().byte_len(),
            build_time: started.elapsed(),
        };
        let snapshot = Snapshot {
            generation,
            udp_payload: config.server.udp_payload,
            client_subnet: config.server.ecs,
            table: Arc::new(table),
            services,
            chaos: Arc::new(chaos),
            rrl: config.rrl.map(|settings| {
                Arc::new(RateLimiter::new(
                    settings,
                    crate::dataplane::worker::worker_seed(generation as usize),
                ))
            }),
            summary,
        };
        Ok((snapshot, warnings))
    }

    /// A snapshot with the same zones and new backend states (health,
    /// drain, load), numbered `generation`. `config` must be the one `self`
    /// was built from.
    pub fn with_backend_states(
        &self,
        config: &Config,
        states: &BackendStates,
        generation: u64,
    ) -> Snapshot {
        let started = Instant::now();
        let services = self.services.with_states(config, states);
        Snapshot {
            generation,
            udp_payload: self.udp_payload,
            client_subnet: self.client_subnet,
            table: self.table.clone(),
            services,
            chaos: self.chaos.clone(),
            rrl: self.rrl.clone(),
            summary: BuildSummary {
                build_time: started.elapsed(),
                ..self.summary
            },
        }
    }
}

impl Snapshot {
    /// Keeps `previous`'s rate-limiting buckets (who is being limited
    /// right now) across a reload: the same limiter when the settings are
    /// the same, its buckets under the new rate or slip otherwise; a new
    /// table size or prefix keeps this snapshot's fresh table.
    pub fn adopt_rate_limiter(&mut self, previous: &Snapshot) {
        let (Some(next), Some(previous)) = (&self.rrl, &previous.rrl) else {
            return;
        };
        let settings = *next.settings();
        if settings == *previous.settings() {
            self.rrl = Some(previous.clone());
        } else if let Some(shared) = previous.with_settings(settings) {
            self.rrl = Some(Arc::new(shared));
        }
    }
}

/// The published snapshot: one atomic pointer, read without locks.
#[derive(Debug)]
pub struct SharedSnapshot {
    current: ArcSwap<Snapshot>,
}

impl SharedSnapshot {
    /// Publishes `snapshot` as the first.
    pub fn new(snapshot: Snapshot) -> SharedSnapshot {
        SharedSnapshot {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The current snapshot. Lock-free and allocation-free after a thread's
    /// first call; hold it for one batch, not longer.
    #[inline]
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The current snapshot as an owned `Arc`, for the control plane (which
    /// may hold it as long as it likes).
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Replaces the snapshot in one swap and returns the one it replaced, so
    /// the caller decides where it is freed (not on a worker).
    pub fn replace(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        self.current.swap(Arc::new(snapshot))
    }
}
