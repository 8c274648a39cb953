//! Layer 2 of config loading: checks the raw mirror (`raw`) and converts it
//! into the typed [`Config`].
//!
//! Invariants: a value outside its bounds, or inconsistent with another, is
//! an error naming its key and line; nothing is clamped or silently fixed.
//! Every problem in the file is collected before returning, so one
//! [`LoadErrors`] lists them all, in file order; a [`Config`] is returned
//! only when there are none.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use domain::base::Name;
use ipnet::IpNet;
use toml::Spanned;

use super::error::{LoadError, LoadErrors};
use super::locate::LineIndex;
use super::raw::{
    RawAdmin, RawBackend, RawConfig, RawHealth, RawRegion, RawServer, RawService, RawTopology,
    RawWorkers, RawZone,
};
use super::source::Source;
use super::{
    ADMIN_LISTEN_DEFAULT, ADMIN_TOKEN_MAX_BYTES, ADMIN_TOKEN_MIN_BYTES, ANSWERS_DEFAULT,
    ANSWERS_MAX, ANSWERS_MIN, AdminConfig, BACKENDS_MAX, BACKENDS_MIN, BackendConfig,
    BackendTarget, CHAOS_TEXT_MAX_BYTES, CPU_INDEX_MAX, Config, ECS_DEFAULT, FALLBACK_MAX,
    HASH_PREFIX_V4_DEFAULT, HASH_PREFIX_V4_MAX, HASH_PREFIX_V4_MIN, HASH_PREFIX_V6_DEFAULT,
    HASH_PREFIX_V6_MAX, HASH_PREFIX_V6_MIN, LISTEN_MAX, PRIORITY_DEFAULT, PRIORITY_MAX,
    PRIORITY_MIN, Policy, REGION_NAME_MAX_BYTES, RegionConfig, SERVICE_TTL_DEFAULT,
    SERVICE_TTL_MAX, SERVICE_TTL_MIN, ServerConfig, ServiceConfig, TCP_IDLE_TIMEOUT_DEFAULT,
    TCP_IDLE_TIMEOUT_MAX, TCP_IDLE_TIMEOUT_MIN, TCP_MAX_CONNECTIONS_DEFAULT,
    TCP_MAX_CONNECTIONS_MAX, TCP_MAX_CONNECTIONS_MIN, TCP_MAX_CONNECTIONS_PER_CLIENT_DEFAULT,
    TCP_MAX_CONNECTIONS_PER_CLIENT_MAX, TCP_MAX_CONNECTIONS_PER_CLIENT_MIN,
    TCP_TOTAL_TIMEOUT_DEFAULT, TCP_TOTAL_TIMEOUT_MAX, TCP_TOTAL_TIMEOUT_MIN, TopologyConfig,
    UDP_PAYLOAD_DEFAULT, UDP_PAYLOAD_MAX, UDP_PAYLOAD_MIN, WEIGHT_DEFAULT, WEIGHT_MAX, WEIGHT_MIN,
    WORKERS_MAX, WORKERS_MIN, WhenAllDown, Workers, ZoneConfig,
};

mod health;
mod rrl;
mod run_as;

pub use health::{
    HEALTH_DNS_PORT_DEFAULT, HEALTH_FALL_DEFAULT, HEALTH_HTTP_PORT_DEFAULT,
    HEALTH_INTERVAL_DEFAULT, HEALTH_INTERVAL_MAX, HEALTH_INTERVAL_MIN, HEALTH_RISE_DEFAULT,
    HEALTH_TEXT_MAX_BYTES, HEALTH_THRESHOLD_MAX, HEALTH_THRESHOLD_MIN, HEALTH_TIMEOUT_DEFAULT,
    HEALTH_TIMEOUT_MAX, HEALTH_TIMEOUT_MIN,
};
pub use rrl::{
    RRL_IPV4_PREFIX_DEFAULT, RRL_IPV6_PREFIX_DEFAULT, RRL_RESPONSES_PER_SECOND_DEFAULT,
    RRL_RESPONSES_PER_SECOND_MAX, RRL_RESPONSES_PER_SECOND_MIN, RRL_SLIP_DEFAULT, RRL_SLIP_MAX,
    RRL_TABLE_SIZE_DEFAULT, RRL_TABLE_SIZE_MAX, RRL_TABLE_SIZE_MIN,
};

/// Checks `raw` (parsed from `text`, the file at `path`) and builds the
/// [`Config`], or returns every problem found.
pub(super) fn convert(
    raw: RawConfig,
    text: &str,
    path: &Path,
    source: Source,
) -> Result<Config, LoadErrors> {
    let mut checker = Checker {
        path,
        lines: LineIndex::new(text),
        errors: Vec::new(),
        topology_file_errors: Vec::new(),
    };
    let server = checker.server(raw.server);
    let admin = checker.admin(raw.admin, server.as_ref());
    let (zones, zone_names) = checker.zones(raw.zone);
    let (regions, region_names, mut networks) = checker.regions(raw.region);
    let topology = checker.topology(raw.topology, &source, &region_names, &mut networks);
    let services = checker.services(raw.service, &zone_names, &region_names);
    let rrl = checker.rrl(raw.rrl);
    // Report in file order (stable, so problems on one line keep the order
    // they were found in); problems with no line come first. The topology
    // file's problems follow the config file's.
    checker.errors.sort_by_key(|error| error.line);
    // A service's health key is resolved once per backend: report each
    // problem once.
    let mut seen = std::collections::HashSet::new();
    checker
        .errors
        .retain(|error| seen.insert((error.line, error.key.clone(), error.message.clone())));
    checker.errors.append(&mut checker.topology_file_errors);
    match server {
        Some(server) if checker.errors.is_empty() => Ok(Config {
            path: path.to_path_buf(),
            source,
            server,
            zones,
            admin,
            regions,
            topology: TopologyConfig {
                networks: networks.networks,
                default_region: topology,
            },
            services,
            rrl: rrl.flatten(),
        }),
        _ if checker.errors.is_empty() => Err(LoadErrors(vec![LoadError::new(
            path,
            None,
            "server",
            "could not be converted (this is a bug: no error was recorded)",
        )])),
        _ => Err(LoadErrors(checker.errors)),
    }
}

/// Accumulates the errors of one conversion.
struct Checker<'a> {
    /// The config file, named in every error.
    path: &'a Path,
    /// Line lookup for the config text.
    lines: LineIndex,
    /// Problems found so far, in file order within each section.
    errors: Vec<LoadError>,
    /// Problems found in the topology file, in line order.
    topology_file_errors: Vec<LoadError>,
}

/// The topology networks gathered so far, each network once.
#[derive(Debug, Default)]
struct Networks {
    /// Every distinct network with its region index, in the order added.
    networks: Vec<(IpNet, usize)>,
    /// Each network's position in `networks` and where it was first given
    /// ("line N" of the config, or "FILE:LINE").
    seen: HashMap<IpNet, (usize, String)>,
}

impl Networks {
    /// Adds `network` for `region`, given at `origin`; a network already
    /// added for the same region is kept once. Errors with a message when
    /// the network was already added for another region (named through
    /// `region_names`).
    fn add(
        &mut self,
        network: IpNet,
        region: usize,
        origin: String,
        region_names: &[Option<String>],
    ) -> Result<(), String> {
        match self.seen.entry(network) {
            Entry::Vacant(vacant) => {
                vacant.insert((self.networks.len(), origin));
                self.networks.push((network, region));
                Ok(())
            }
            Entry::Occupied(occupied) => {
                let (position, first_origin) = occupied.get();
                let first_region = self.networks[*position].1;
                if first_region == region {
                    return Ok(());
                }
                let name = |index: usize| {
                    region_names
                        .get(index)
                        .cloned()
                        .flatten()
                        .unwrap_or_default()
                };
                Err(format!(
                    "network {network} is given for region {:?} here but for region {:?} \
                     at {first_origin}: a network belongs to one region",
                    name(region),
                    name(first_region),
                ))
            }
        }
    }
}

impl Checker<'_> {
    /// Records a problem with `key` at the start of `span` (no line if none).
    fn error(&mut self, span: Option<&Range<usize>>, key: &str, message: impl Into<String>) {
        let line = span.map(|span| self.lines.line(span.start));
        self.errors
            .push(LoadError::new(self.path, line, key, message.into()));
    }

    /// The 1-based line where `span` starts.
    fn line(&self, span: &Range<usize>) -> usize {
        self.lines.line(span.start)
    }

    /// Converts `[server]`; `None` when it is missing or has any error.
    fn server(&mut self, raw: Option<Spanned<RawServer>>) -> Option<ServerConfig> {
        let Some(raw) = raw else {
            self.error(
                None,
                "server.listen",
                "required: add a [server] table with at least one listen address",
            );
            return None;
        };
        let header = raw.span();
        let raw = raw.into_inner();

        let listen = self.listen(&header, raw.listen);
        let workers = self.workers(raw.workers.as_ref());
        let cpus = self.cpus(raw.cpus);
        if let (Some(workers_raw), Some(Workers::Count(count)), Some(Some(cpus))) =
            (&raw.workers, workers, &cpus)
        {
            if count.get() != cpus.len() {
                self.error(
                    Some(&workers_raw.span()),
                    "server.workers",
                    format!(
                        "{count} workers, but server.cpus lists {} CPU{}: they must agree \
                         (or set workers = \"auto\" for one worker per listed CPU)",
                        cpus.len(),
                        if cpus.len() == 1 { "" } else { "s" }
                    ),
                );
            }
        }
        let run_as = self.run_as(raw.user, raw.group);
        let udp_payload = match &raw.udp_payload {
            None => Some(UDP_PAYLOAD_DEFAULT),
            Some(value) => self.integer(
                "server.udp_payload",
                value,
                UDP_PAYLOAD_MIN..=UDP_PAYLOAD_MAX,
            ),
        };
        let tcp_max_connections = match &raw.tcp_max_connections {
            None => Some(TCP_MAX_CONNECTIONS_DEFAULT),
            Some(value) => self
                .integer(
                    "server.tcp_max_connections",
                    value,
                    TCP_MAX_CONNECTIONS_MIN..=TCP_MAX_CONNECTIONS_MAX,
                )
                .and_then(NonZeroUsize::new),
        };
        let tcp_idle_timeout = match &raw.tcp_idle_timeout {
            None => Some(TCP_IDLE_TIMEOUT_DEFAULT),
            Some(value) => self.duration(
                "server.tcp_idle_timeout",
                value,
                TCP_IDLE_TIMEOUT_MIN..=TCP_IDLE_TIMEOUT_MAX,
            ),
        };
        let tcp_total_timeout = match &raw.tcp_total_timeout {
            // Unset, it never cuts a connection short of its idle timeout.
            None => tcp_idle_timeout.map(|idle| idle.max(TCP_TOTAL_TIMEOUT_DEFAULT)),
            Some(value) => self
                .duration(
                    "server.tcp_total_timeout",
                    value,
                    TCP_TOTAL_TIMEOUT_MIN..=TCP_TOTAL_TIMEOUT_MAX,
                )
                .filter(|total| match tcp_idle_timeout {
                    Some(idle) if *total < idle => {
                        self.error(
                            Some(&value.span()),
                            "server.tcp_total_timeout",
                            format!(
                                "{} is shorter than server.tcp_idle_timeout ({}): the total \
                                 timeout must be at least the idle timeout",
                                humantime::format_duration(*total),
                                humantime::format_duration(idle)
                            ),
                        );
                        false
                    }
                    _ => true,
                }),
        };
        let tcp_max_connections_per_client = match &raw.tcp_max_connections_per_client {
            None => Some(TCP_MAX_CONNECTIONS_PER_CLIENT_DEFAULT),
            Some(value) => self
                .integer(
                    "server.tcp_max_connections_per_client",
                    value,
                    TCP_MAX_CONNECTIONS_PER_CLIENT_MIN..=TCP_MAX_CONNECTIONS_PER_CLIENT_MAX,
                )
                .and_then(NonZeroUsize::new),
        };
        let identity = self.chaos_text("server.identity", raw.identity);
        let version = self.chaos_text("server.version", raw.version);
        let ecs = raw.ecs.unwrap_or(ECS_DEFAULT);

        Some(ServerConfig {
            listen: listen?,
            workers: workers?,
            cpus: cpus?,
            run_as: run_as?,
            udp_payload: udp_payload?,
            tcp_max_connections: tcp_max_connections?,
            tcp_idle_timeout: tcp_idle_timeout?,
            tcp_total_timeout: tcp_total_timeout?,
            tcp_max_connections_per_client: tcp_max_connections_per_client?,
            identity: identity?,
            version: version?,
            ecs,
        })
    }

    /// Converts `[admin]`: absent (no admin listener), or a table whose
    /// `listen` (default [`ADMIN_LISTEN_DEFAULT`]) is a socket address not
    /// among `server.listen`. `None` means absent or invalid.
    fn admin(
        &mut self,
        raw: Option<Spanned<RawAdmin>>,
        server: Option<&ServerConfig>,
    ) -> Option<AdminConfig> {
        const KEY: &str = "admin.listen";
        let raw = raw?;
        let header = raw.span();
        let raw = raw.into_inner();
        let token = match raw.token {
            None => None,
            Some(token) => {
                let text = token.get_ref();
                if text.len() < ADMIN_TOKEN_MIN_BYTES
                    || text.len() > ADMIN_TOKEN_MAX_BYTES
                    || !text.bytes().all(|byte| byte.is_ascii_graphic())
                {
                    self.error(
                        Some(&token.span()),
                        "admin.token",
                        format!(
                            "must be {ADMIN_TOKEN_MIN_BYTES} to {ADMIN_TOKEN_MAX_BYTES} printable \
                             ASCII characters without spaces (e.g. from `openssl rand -hex 32`)"
                        ),
                    );
                    return None;
                }
                Some(text.clone())
            }
        };
        let (listen, span) = match raw.listen {
            None => (ADMIN_LISTEN_DEFAULT, header),
            Some(listen) => match SocketAddr::from_str(listen.get_ref()) {
                Ok(address) => (address, listen.span()),
                Err(error) => {
                    self.error(
                        Some(&listen.span()),
                        KEY,
                        format!(
                            "{:?} is not a socket address ({error}); \
                             write \"127.0.0.1:8053\" or \"[::1]:8053\"",
                            listen.get_ref()
                        ),
                    );
                    return None;
                }
            },
        };
        // Port 0 asks the kernel for a fresh port each time, so it never clashes.
        if listen.port() != 0 && server.is_some_and(|server| server.listen.contains(&listen)) {
            self.error(
                Some(&span),
                KEY,
                format!("{listen} is also in server.listen: the admin API needs its own address"),
            );
            return None;
        }
        if !listen.ip().is_loopback() && token.is_none() {
            self.error(
                Some(&span),
                KEY,
                format!(
                    "{listen} is not a loopback address: set admin.token so that only \
                     holders of the token can drain, reload or change loads"
                ),
            );
            return None;
        }
        Some(AdminConfig { listen, token })
    }

    /// Converts `server.listen`: required, 1..=[`LISTEN_MAX`] distinct
    /// socket addresses. `header` is the `[server]` header's span.
    fn listen(
        &mut self,
        header: &Range<usize>,
        raw: Option<Spanned<Vec<Spanned<String>>>>,
    ) -> Option<Vec<SocketAddr>> {
        const KEY: &str = "server.listen";
        let Some(raw) = raw else {
            self.error(
                Some(header),
                KEY,
                "required: at least one address to listen on, e.g. \"127.0.0.1:53\"",
            );
            return None;
        };
        let errors_before = self.errors.len();
        let list_span = raw.span();
        let entries = raw.into_inner();
        if entries.is_empty() {
            self.error(Some(&list_span), KEY, "must list at least one address");
        }
        let addresses = self.distinct_addresses::<SocketAddr>(
            KEY,
            &list_span,
            &entries,
            LISTEN_MAX,
            (
                "a socket address",
                "\"192.0.2.1:53\" or \"[2001:db8::1]:53\"",
            ),
        );
        (self.errors.len() == errors_before).then_some(addresses)
    }

    /// Parses a list of addresses (socket addresses or IP addresses): at most
    /// `max`, each parsing, none twice. `what` names the kind and gives an
    /// example for the error messages. Errors are recorded; the addresses
    /// that parsed are returned.
    fn distinct_addresses<T>(
        &mut self,
        key: &str,
        list_span: &Range<usize>,
        entries: &[Spanned<String>],
        max: usize,
        (kind, example): (&str, &str),
    ) -> Vec<T>
    where
        T: FromStr + PartialEq,
        T::Err: std::fmt::Display,
    {
        if entries.len() > max {
            self.error(
                Some(list_span),
                key,
                format!(
                    "lists {} addresses, more than the maximum {max}",
                    entries.len()
                ),
            );
        }
        let mut addresses: Vec<(T, usize)> = Vec::with_capacity(entries.len());
        for entry in entries {
            let text = entry.get_ref();
            match T::from_str(text) {
                Err(error) => self.error(
                    Some(&entry.span()),
                    key,
                    format!("{text:?} is not {kind} ({error}); write {example}"),
                ),
                Ok(address) => {
                    if let Some((_, first_line)) =
                        addresses.iter().find(|(seen, _)| *seen == address)
                    {
                        let first_line = *first_line;
                        self.error(
                            Some(&entry.span()),
                            key,
                            format!(
                                "duplicate address {text:?} (already listed on line {first_line})"
                            ),
                        );
                    } else {
                        addresses.push((address, self.line(&entry.span())));
                    }
                }
            }
        }
        addresses.into_iter().map(|(address, _)| address).collect()
    }

    /// Converts `server.workers`: `"auto"` (the default) or an integer in
    /// [`WORKERS_MIN`]..=[`WORKERS_MAX`].
    fn workers(&mut self, raw: Option<&Spanned<RawWorkers>>) -> Option<Workers> {
        const KEY: &str = "server.workers";
        let Some(raw) = raw else {
            return Some(Workers::Auto);
        };
        match raw.get_ref() {
            RawWorkers::Text(text) if text == "auto" => Some(Workers::Auto),
            RawWorkers::Text(text) => {
                self.error(
                    Some(&raw.span()),
                    KEY,
                    format!("{text:?} is not valid: write \"auto\" or an integer"),
                );
                None
            }
            RawWorkers::Integer(count) => {
                let count = Spanned::new(raw.span(), *count);
                self.integer(KEY, &count, WORKERS_MIN..=WORKERS_MAX)
                    .and_then(NonZeroUsize::new)
                    .map(Workers::Count)
            }
        }
    }

    /// Converts `server.cpus`: absent, or a non-empty list of distinct CPU
    /// indices, each at most [`CPU_INDEX_MAX`]. `Some(None)` means absent;
    /// `None` means invalid.
    fn cpus(&mut self, raw: Option<Spanned<Vec<Spanned<i64>>>>) -> Option<Option<Vec<usize>>> {
        const KEY: &str = "server.cpus";
        let Some(raw) = raw else {
            return Some(None);
        };
        let errors_before = self.errors.len();
        let list_span = raw.span();
        let entries = raw.into_inner();
        if entries.is_empty() {
            self.error(
                Some(&list_span),
                KEY,
                "must list at least one CPU (leave the key out to use every CPU)",
            );
        }
        let mut cpus: Vec<(usize, usize)> = Vec::with_capacity(entries.len());
        for entry in &entries {
            let Some(cpu) = self.integer(KEY, entry, 0..=CPU_INDEX_MAX) else {
                continue;
            };
            if let Some((_, first_line)) = cpus.iter().find(|(seen, _)| *seen == cpu) {
                let first_line = *first_line;
                self.error(
                    Some(&entry.span()),
                    KEY,
                    format!("duplicate CPU {cpu} (already listed on line {first_line})"),
                );
            } else {
                cpus.push((cpu, self.line(&entry.span())));
            }
        }
        (self.errors.len() == errors_before)
            .then(|| Some(cpus.into_iter().map(|(cpu, _)| cpu).collect()))
    }

    /// Converts an integer key, rejecting values outside `bounds`.
    fn integer<T>(&mut self, key: &str, raw: &Spanned<i64>, bounds: RangeInclusive<T>) -> Option<T>
    where
        T: TryFrom<i64> + PartialOrd + Display,
    {
        let value = *raw.get_ref();
        match T::try_from(value) {
            Ok(converted) if bounds.contains(&converted) => Some(converted),
            _ => {
                self.error(
                    Some(&raw.span()),
                    key,
                    format!(
                        "{value} is out of bounds (allowed: {} to {})",
                        bounds.start(),
                        bounds.end()
                    ),
                );
                None
            }
        }
    }

    /// Converts a duration key (humantime syntax: "10s", "500ms", "1m 30s"),
    /// rejecting values outside `bounds`.
    fn duration(
        &mut self,
        key: &str,
        raw: &Spanned<String>,
        bounds: RangeInclusive<Duration>,
    ) -> Option<Duration> {
        let text = raw.get_ref();
        match humantime::parse_duration(text) {
            Err(error) => {
                self.error(
                    Some(&raw.span()),
                    key,
                    format!(
                        "{text:?} is not a duration ({error}); write e.g. \"10s\" or \"500ms\""
                    ),
                );
                None
            }
            Ok(duration) if !bounds.contains(&duration) => {
                self.error(
                    Some(&raw.span()),
                    key,
                    format!(
                        "{text:?} is out of bounds (allowed: {} to {})",
                        humantime::format_duration(*bounds.start()),
                        humantime::format_duration(*bounds.end())
                    ),
                );
                None
            }
            Ok(duration) => Some(duration),
        }
    }

    /// Converts `server.identity` or `server.version`: absent, or a string of
    /// at most [`CHAOS_TEXT_MAX_BYTES`] bytes (one TXT character-string).
    /// `Some(None)` means absent; `None` means invalid.
    fn chaos_text(&mut self, key: &str, raw: Option<Spanned<String>>) -> Option<Option<String>> {
        let Some(raw) = raw else {
            return Some(None);
        };
        let length = raw.get_ref().len();
        if length > CHAOS_TEXT_MAX_BYTES {
            self.error(
                Some(&raw.span()),
                key,
                format!(
                    "is {length} bytes long, more than the {CHAOS_TEXT_MAX_BYTES} bytes \
                     a TXT character-string holds"
                ),
            );
            return None;
        }
        Some(Some(raw.into_inner()))
    }

    /// Converts every `[[zone]]` entry, keeping those without errors; also
    /// returns every valid zone name, even of entries with other errors.
    fn zones(&mut self, raw: Vec<Spanned<RawZone>>) -> (Vec<ZoneConfig>, Vec<Name<Bytes>>) {
        let config_directory = self.path.parent().unwrap_or_else(|| Path::new(""));
        let mut zones: Vec<ZoneConfig> = Vec::with_capacity(raw.len());
        // Every valid name so far with its line, even from entries with
        // other errors, so that duplicates are all reported.
        let mut names: Vec<(Name<Bytes>, usize)> = Vec::with_capacity(raw.len());
        for (index, entry) in raw.into_iter().enumerate() {
            let header = entry.span();
            let entry = entry.into_inner();
            let name = self.zone_name(index, &header, entry.name, &names);
            if let Some(name) = &name {
                names.push(name.clone());
            }
            let file = self.zone_file(index, &header, entry.file, config_directory);
            if let (Some((name, line)), Some(file)) = (name, file) {
                zones.push(ZoneConfig { name, file, line });
            }
        }
        (zones, names.into_iter().map(|(name, _)| name).collect())
    }

    /// Converts `zone[index].name`: a domain name, made absolute and
    /// lowercased, distinct from the `earlier` names (with their lines).
    /// Returns it with its line.
    fn zone_name(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<Spanned<String>>,
        earlier: &[(Name<Bytes>, usize)],
    ) -> Option<(Name<Bytes>, usize)> {
        let key = format!("zone[{index}].name");
        let Some(raw) = raw else {
            self.error(
                Some(header),
                &key,
                "required: the zone's apex, e.g. \"example.com\"",
            );
            return None;
        };
        let text = raw.get_ref();
        let line = self.line(&raw.span());
        let parsed = if text.is_empty() {
            Err("empty; write \".\" for the root zone".to_owned())
        } else {
            domain_name(text)
        };
        let name = match parsed {
            Ok(name) => name,
            Err(error) => {
                self.error(
                    Some(&raw.span()),
                    &key,
                    format!("{text:?} is not a domain name: {error}"),
                );
                return None;
            }
        };
        if let Some((_, first_line)) = earlier.iter().find(|(seen, _)| *seen == name) {
            let first_line = *first_line;
            self.error(
                Some(&raw.span()),
                &key,
                format!(
                    "duplicate zone {} (already defined on line {first_line})",
                    absolute(&name)
                ),
            );
            return None;
        }
        Some((name, line))
    }

    /// Converts `zone[index].file`: required, non-empty; a relative path is
    /// resolved against `config_directory`.
    fn zone_file(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<Spanned<String>>,
        config_directory: &Path,
    ) -> Option<PathBuf> {
        let key = format!("zone[{index}].file");
        let Some(raw) = raw else {
            self.error(
                Some(header),
                &key,
                "required: the zone file's path, relative to this config file's directory",
            );
            return None;
        };
        if raw.get_ref().is_empty() {
            self.error(Some(&raw.span()), &key, "must not be empty");
            return None;
        }
        Some(config_directory.join(raw.get_ref()))
    }

    /// Converts every `[[region]]` entry. Returns the regions (complete only
    /// when there is no error), every entry's name as written (for
    /// references, so a bad name is reported once, at its definition), and
    /// the networks of every `region[i].networks`.
    fn regions(
        &mut self,
        raw: Vec<Spanned<RawRegion>>,
    ) -> (Vec<RegionConfig>, Vec<Option<String>>, Networks) {
        let names: Vec<Option<String>> = raw
            .iter()
            .map(|entry| {
                entry
                    .get_ref()
                    .name
                    .as_ref()
                    .map(|name| name.get_ref().clone())
            })
            .collect();
        let mut regions: Vec<RegionConfig> = Vec::with_capacity(raw.len());
        let mut networks = Networks::default();
        for (index, entry) in raw.into_iter().enumerate() {
            let header = entry.span();
            let entry = entry.into_inner();
            let name = self.region_name(index, &header, entry.name.as_ref(), &names);
            let fallback = self.region_fallback(index, entry.fallback.unwrap_or_default(), &names);
            let key = format!("region[{index}].networks");
            for network in entry.networks.unwrap_or_default() {
                let Some(parsed) = self.network(&key, &network) else {
                    continue;
                };
                let origin = format!("line {}", self.line(&network.span()));
                if let Err(message) = networks.add(parsed, index, origin, &names) {
                    self.error(Some(&network.span()), &key, message);
                }
            }
            if let (Some((name, line)), Some(fallback)) = (name, fallback) {
                regions.push(RegionConfig {
                    name,
                    fallback,
                    line,
                });
            }
        }
        (regions, names, networks)
    }

    /// Converts `region[index].name`: required, 1..=[`REGION_NAME_MAX_BYTES`]
    /// of `a-z0-9_-`, distinct from the names of earlier entries (`names`
    /// holds every entry's). Returns it with its line.
    fn region_name(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<&Spanned<String>>,
        names: &[Option<String>],
    ) -> Option<(String, usize)> {
        let key = format!("region[{index}].name");
        let Some(raw) = raw else {
            self.error(
                Some(header),
                &key,
                "required: the region's name, e.g. \"eu\"",
            );
            return None;
        };
        let text = raw.get_ref();
        if let Err(message) = check_region_name(text) {
            self.error(Some(&raw.span()), &key, format!("{text:?} {message}"));
            return None;
        }
        if let Some(first) = region_index(&names[..index], text) {
            let message = format!("duplicate region {text:?} (already defined as region[{first}])");
            self.error(Some(&raw.span()), &key, message);
            return None;
        }
        Some((text.clone(), self.line(&raw.span())))
    }

    /// Converts `region[index].fallback`: names of other regions, distinct.
    fn region_fallback(
        &mut self,
        index: usize,
        raw: Vec<Spanned<String>>,
        names: &[Option<String>],
    ) -> Option<Vec<usize>> {
        let key = format!("region[{index}].fallback");
        let errors_before = self.errors.len();
        let mut fallback: Vec<(usize, usize)> = Vec::with_capacity(raw.len());
        for entry in &raw {
            let Some(region) = self.region_reference(&key, entry, names) else {
                continue;
            };
            if region == index {
                self.error(
                    Some(&entry.span()),
                    &key,
                    format!(
                        "{:?} is this region itself: list the regions to try instead",
                        entry.get_ref()
                    ),
                );
            } else if let Some((_, first_line)) = fallback.iter().find(|(seen, _)| *seen == region)
            {
                let first_line = *first_line;
                self.error(
                    Some(&entry.span()),
                    &key,
                    format!(
                        "duplicate region {:?} (already listed on line {first_line})",
                        entry.get_ref()
                    ),
                );
            } else {
                fallback.push((region, self.line(&entry.span())));
            }
        }
        (self.errors.len() == errors_before)
            .then(|| fallback.into_iter().map(|(region, _)| region).collect())
    }

    /// Resolves a region name written at `key` to its index in `names`.
    fn region_reference(
        &mut self,
        key: &str,
        raw: &Spanned<String>,
        names: &[Option<String>],
    ) -> Option<usize> {
        let found = region_index(names, raw.get_ref());
        if found.is_none() {
            self.error(
                Some(&raw.span()),
                key,
                format!(
                    "unknown region {:?} ({})",
                    raw.get_ref(),
                    known_regions(names)
                ),
            );
        }
        found
    }

    /// Converts a network in CIDR notation, with no host bits set.
    fn network(&mut self, key: &str, raw: &Spanned<String>) -> Option<IpNet> {
        match parse_network(raw.get_ref()) {
            Ok(network) => Some(network),
            Err(message) => {
                self.error(Some(&raw.span()), key, message);
                None
            }
        }
    }

    /// Converts `[topology]`: reads `topology.file` (through `source`) into
    /// `networks`, and returns the index of `topology.default_region`
    /// (`None` when absent or unknown, the latter recorded as an error).
    fn topology(
        &mut self,
        raw: Option<Spanned<RawTopology>>,
        source: &Source,
        region_names: &[Option<String>],
        networks: &mut Networks,
    ) -> Option<usize> {
        let raw = raw?.into_inner();
        if let Some(file) = &raw.file {
            self.topology_file(file, source, region_names, networks);
        }
        let default_region = raw.default_region.as_ref()?;
        self.region_reference("topology.default_region", default_region, region_names)
    }

    /// Reads the topology file named by `topology.file`: one `CIDR REGION`
    /// per line; blank lines and `#` comments are skipped. Its problems are
    /// reported as `FILE:LINE: topology: MESSAGE`.
    fn topology_file(
        &mut self,
        raw: &Spanned<String>,
        source: &Source,
        region_names: &[Option<String>],
        networks: &mut Networks,
    ) {
        const KEY: &str = "topology.file";
        if raw.get_ref().is_empty() {
            self.error(Some(&raw.span()), KEY, "must not be empty");
            return;
        }
        let config_directory = self.path.parent().unwrap_or_else(|| Path::new(""));
        let path = config_directory.join(raw.get_ref());
        let text = match source.read_to_string(&path) {
            Ok(text) => text,
            Err(error) => {
                self.error(
                    Some(&raw.span()),
                    KEY,
                    format!("cannot read {}: {error}", path.display()),
                );
                return;
            }
        };
        for (line_index, line) in text.lines().enumerate() {
            let line_number = line_index + 1;
            let content = line.split('#').next().unwrap_or_default();
            let fields: Vec<&str> = content.split_whitespace().collect();
            let result = match fields.as_slice() {
                [] => continue,
                [network, region] => parse_network(network).and_then(|network| {
                    let region = region_index(region_names, region).ok_or_else(|| {
                        format!(
                            "unknown region {region:?} ({})",
                            known_regions(region_names)
                        )
                    })?;
                    let origin = format!("{}:{line_number}", path.display());
                    networks.add(network, region, origin, region_names)
                }),
                _ => Err(format!(
                    "expected `CIDR REGION`, e.g. `198.51.100.0/24 eu`, but found {} field{}",
                    fields.len(),
                    if fields.len() == 1 { "" } else { "s" }
                )),
            };
            if let Err(message) = result {
                self.topology_file_errors.push(LoadError::new(
                    &path,
                    Some(line_number),
                    "topology",
                    message,
                ));
            }
        }
    }

    /// Converts every `[[service]]` entry, keeping those without errors.
    /// `zone_names` are the valid zone names; `region_names` every
    /// region's name as written.
    fn services(
        &mut self,
        raw: Vec<Spanned<RawService>>,
        zone_names: &[Name<Bytes>],
        region_names: &[Option<String>],
    ) -> Vec<ServiceConfig> {
        let mut services: Vec<ServiceConfig> = Vec::with_capacity(raw.len());
        // Every valid name so far with its line, even from entries with
        // other errors, so that duplicates are all reported (a map: configs
        // hold tens of thousands of services).
        let mut names: HashMap<Name<Bytes>, usize> = HashMap::with_capacity(raw.len());
        for (index, entry) in raw.into_iter().enumerate() {
            let header = entry.span();
            let mut entry = entry.into_inner();
            let name = self.service_name(index, &header, entry.name.take(), zone_names, &names);
            if let Some((name, line)) = &name {
                names.insert(name.clone(), *line);
            }
            if let Some(service) =
                self.service(index, &header, entry, name, zone_names, region_names)
            {
                services.push(service);
            }
        }
        services
    }

    /// Converts `service[index].name`: a domain name, made absolute and
    /// lowercased, inside one of `zone_names`, distinct from the `earlier`
    /// names (with their lines). Returns it with its line.
    fn service_name(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<Spanned<String>>,
        zone_names: &[Name<Bytes>],
        earlier: &HashMap<Name<Bytes>, usize>,
    ) -> Option<(Name<Bytes>, usize)> {
        let key = format!("service[{index}].name");
        let Some(raw) = raw else {
            self.error(
                Some(header),
                &key,
                "required: the name the service answers for, e.g. \"www.example.com\"",
            );
            return None;
        };
        let text = raw.get_ref();
        let name = match domain_name(text) {
            Ok(name) => name,
            Err(error) => {
                self.error(
                    Some(&raw.span()),
                    &key,
                    format!("{text:?} is not a domain name: {error}"),
                );
                return None;
            }
        };
        if !zone_names.iter().any(|zone| name.ends_with(zone)) {
            let zones = if zone_names.is_empty() {
                "no [[zone]] is defined".to_owned()
            } else {
                let list: Vec<String> = zone_names.iter().map(absolute).collect();
                format!("zones: {}", list.join(", "))
            };
            self.error(
                Some(&raw.span()),
                &key,
                format!(
                    "{} is inside none of the zones served ({zones}): \
                     a service must be in one of them",
                    absolute(&name)
                ),
            );
            return None;
        }
        if let Some(&first_line) = earlier.get(&name) {
            self.error(
                Some(&raw.span()),
                &key,
                format!(
                    "duplicate service {} (already defined on line {first_line})",
                    absolute(&name)
                ),
            );
            return None;
        }
        Some((name, self.line(&raw.span())))
    }

    /// Converts every key of `service[index]` but `name`, already converted
    /// into `name_and_line` (`None` when invalid).
    fn service(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: RawService,
        name_and_line: Option<(Name<Bytes>, usize)>,
        zone_names: &[Name<Bytes>],
        region_names: &[Option<String>],
    ) -> Option<ServiceConfig> {
        let name = name_and_line.as_ref().map(|(name, _)| name);
        let key = |field: &str| format!("service[{index}].{field}");
        let policy = match &raw.policy {
            None => {
                let choices: Vec<&str> = Policy::ALL.iter().map(|policy| policy.name()).collect();
                self.error(
                    Some(header),
                    &key("policy"),
                    format!("required: one of {}", choices.join(", ")),
                );
                None
            }
            Some(policy) => self.choice(
                &key("policy"),
                policy,
                &Policy::ALL.map(|policy| (policy.name(), policy)),
            ),
        };
        if let (Some(Policy::Geo), Some(raw_policy)) = (policy, &raw.policy) {
            if region_names.is_empty() {
                self.error(
                    Some(&raw_policy.span()),
                    &key("policy"),
                    "\"geo\" needs regions: define [[region]] entries with their networks \
                     (or a [topology] file)",
                );
            }
        }
        let answers = match &raw.answers {
            None => Some(ANSWERS_DEFAULT),
            Some(value) => self.integer(&key("answers"), value, ANSWERS_MIN..=ANSWERS_MAX),
        };
        let ttl = match &raw.ttl {
            None => Some(SERVICE_TTL_DEFAULT),
            Some(value) => self.integer(&key("ttl"), value, SERVICE_TTL_MIN..=SERVICE_TTL_MAX),
        };
        let when_all_down = match &raw.when_all_down {
            None => Some(WhenAllDown::All),
            Some(value) => self.choice(
                &key("when_all_down"),
                value,
                &WhenAllDown::ALL.map(|action| (action.name(), action)),
            ),
        };
        let fallback = self.service_fallback(
            &key("fallback"),
            header,
            raw.fallback,
            when_all_down,
            raw.when_all_down.as_ref(),
        );
        let hash_prefix_v4 = match &raw.hash_prefix_v4 {
            None => Some(HASH_PREFIX_V4_DEFAULT),
            Some(value) => self.integer(
                &key("hash_prefix_v4"),
                value,
                HASH_PREFIX_V4_MIN..=HASH_PREFIX_V4_MAX,
            ),
        };
        let hash_prefix_v6 = match &raw.hash_prefix_v6 {
            None => Some(HASH_PREFIX_V6_DEFAULT),
            Some(value) => self.integer(
                &key("hash_prefix_v6"),
                value,
                HASH_PREFIX_V6_MIN..=HASH_PREFIX_V6_MAX,
            ),
        };
        let backends_span = raw.backends.as_ref().map(Spanned::span);
        let backends = self.backends(
            index,
            header,
            raw.backends,
            raw.health.as_ref(),
            name,
            region_names,
        );
        if let Some(backends) = &backends {
            let names_backends = backends
                .iter()
                .any(|backend| matches!(backend.target, BackendTarget::Name(_)));
            if let (true, Some(answers), Some(raw_answers)) =
                (names_backends, answers, &raw.answers)
            {
                if answers > 1 {
                    self.error(
                        Some(&raw_answers.span()),
                        &key("answers"),
                        format!(
                            "is {answers}, but the backends are names: a CNAME answer holds \
                             one name, so answers must be 1"
                        ),
                    );
                }
            }
            if let (true, Some(name)) = (names_backends, name) {
                if zone_names.contains(name) {
                    self.error(
                        backends_span.as_ref().or(Some(header)),
                        &key("backends"),
                        format!(
                            "are names, but {} is a zone apex, where a CNAME cannot be \
                             (it would sit beside the zone's SOA and NS)",
                            absolute(name)
                        ),
                    );
                }
            }
        }
        let (name, line) = name_and_line?;
        Some(ServiceConfig {
            name,
            policy: policy?,
            answers: answers?,
            ttl: ttl?,
            when_all_down: when_all_down?,
            fallback: fallback?,
            hash_prefix_v4: hash_prefix_v4?,
            hash_prefix_v6: hash_prefix_v6?,
            backends: backends?,
            line,
        })
    }

    /// Converts `service[i].fallback`: distinct IP addresses, at most
    /// [`FALLBACK_MAX`]; required (non-empty) when `when_all_down` is
    /// `"fallback"`, and only allowed then.
    fn service_fallback(
        &mut self,
        key: &str,
        header: &Range<usize>,
        raw: Option<Spanned<Vec<Spanned<String>>>>,
        when_all_down: Option<WhenAllDown>,
        raw_when_all_down: Option<&Spanned<String>>,
    ) -> Option<Vec<IpAddr>> {
        let wanted = when_all_down == Some(WhenAllDown::Fallback);
        let Some(raw) = raw else {
            if wanted {
                let span = raw_when_all_down.map(Spanned::span);
                self.error(
                    span.as_ref().or(Some(header)),
                    key,
                    "required when when_all_down = \"fallback\": the addresses to answer \
                     with when every backend is down",
                );
                return None;
            }
            return Some(Vec::new());
        };
        let errors_before = self.errors.len();
        let list_span = raw.span();
        let entries = raw.into_inner();
        if wanted && entries.is_empty() {
            self.error(
                Some(&list_span),
                key,
                "must list at least one address when when_all_down = \"fallback\"",
            );
        }
        if !entries.is_empty() && !wanted {
            if let Some(when_all_down) = when_all_down {
                self.error(
                    Some(&list_span),
                    key,
                    format!(
                        "is set, but when_all_down is {:?}: the fallback addresses are used \
                         only with when_all_down = \"fallback\"",
                        when_all_down.name()
                    ),
                );
            }
        }
        let addresses = self.distinct_addresses::<IpAddr>(
            key,
            &list_span,
            &entries,
            FALLBACK_MAX,
            ("an IP address", "\"192.0.2.1\" or \"2001:db8::1\""),
        );
        (self.errors.len() == errors_before).then_some(addresses)
    }

    /// Converts `service[index].backends`: required,
    /// [`BACKENDS_MIN`]..=[`BACKENDS_MAX`] backends with distinct targets,
    /// all addresses or all names. `service_name` is the service's name
    /// when valid.
    fn backends(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<Spanned<Vec<Spanned<RawBackend>>>>,
        health: Option<&Spanned<RawHealth>>,
        service_name: Option<&Name<Bytes>>,
        region_names: &[Option<String>],
    ) -> Option<Vec<BackendConfig>> {
        let service_key = format!("service[{index}]");
        let key = format!("service[{index}].backends");
        let Some(raw) = raw else {
            self.error(
                Some(header),
                &key,
                "required: at least one backend, e.g. [{ address = \"192.0.2.1\" }]",
            );
            return None;
        };
        let errors_before = self.errors.len();
        let list_span = raw.span();
        let entries = raw.into_inner();
        if entries.len() < BACKENDS_MIN {
            self.error(
                Some(&list_span),
                &key,
                format!("must list at least {BACKENDS_MIN} backend"),
            );
        }
        if entries.len() > BACKENDS_MAX {
            self.error(
                Some(&list_span),
                &key,
                format!(
                    "lists {} backends, more than the maximum {BACKENDS_MAX}",
                    entries.len()
                ),
            );
        }
        // Each valid backend with the line of its target.
        let mut backends: Vec<(BackendConfig, usize)> = Vec::with_capacity(entries.len());
        for (backend_index, entry) in entries.into_iter().enumerate() {
            let key = format!("{key}[{backend_index}]");
            let Some((backend, line)) = self.backend(
                &key,
                entry,
                (&service_key, health),
                service_name,
                region_names,
            ) else {
                continue;
            };
            if let Some((_, first_line)) = backends
                .iter()
                .find(|(seen, _)| seen.target == backend.target)
            {
                let field = match backend.target {
                    BackendTarget::Address(_) => "address",
                    BackendTarget::Name(_) => "name",
                };
                let message = format!(
                    "duplicate backend {} (already listed on line {first_line})",
                    backend.target
                );
                self.errors.push(LoadError::new(
                    self.path,
                    Some(line),
                    format!("{key}.{field}"),
                    message,
                ));
            } else {
                backends.push((backend, line));
            }
        }
        let first_of = |want_name: bool| {
            backends
                .iter()
                .find(|(backend, _)| matches!(backend.target, BackendTarget::Name(_)) == want_name)
                .map(|(_, line)| *line)
        };
        if let (Some(address_line), Some(name_line)) = (first_of(false), first_of(true)) {
            self.error(
                Some(&list_span),
                &key,
                format!(
                    "mixes address backends (first on line {address_line}) with name \
                     backends (first on line {name_line}): a service's backends must be \
                     all addresses or all names"
                ),
            );
        }
        (self.errors.len() == errors_before)
            .then(|| backends.into_iter().map(|(backend, _)| backend).collect())
    }

    /// Converts one backend at `key` (`service[i].backends[j]`): exactly one
    /// of `address` and `name`, with `weight`, `priority` and `region`.
    /// Returns it with the line of its target.
    fn backend(
        &mut self,
        key: &str,
        raw: Spanned<RawBackend>,
        (service_key, service_health): (&str, Option<&Spanned<RawHealth>>),
        service_name: Option<&Name<Bytes>>,
        region_names: &[Option<String>],
    ) -> Option<(BackendConfig, usize)> {
        let span = raw.span();
        let raw = raw.into_inner();
        let target = match (&raw.address, &raw.name) {
            (None, None) => {
                self.error(
                    Some(&span),
                    key,
                    "needs an address (an A or AAAA answer) or a name (a CNAME answer)",
                );
                None
            }
            (Some(_), Some(name)) => {
                self.error(
                    Some(&name.span()),
                    key,
                    "has both an address and a name: give exactly one",
                );
                None
            }
            (Some(address), None) => match IpAddr::from_str(address.get_ref()) {
                Ok(parsed) => Some((BackendTarget::Address(parsed), address.span())),
                Err(error) => {
                    self.error(
                        Some(&address.span()),
                        &format!("{key}.address"),
                        format!(
                            "{:?} is not an IP address ({error}); \
                             write \"192.0.2.1\" or \"2001:db8::1\"",
                            address.get_ref()
                        ),
                    );
                    None
                }
            },
            (None, Some(name)) => self.backend_name(key, name, service_name),
        };
        let weight = match &raw.weight {
            None => Some(WEIGHT_DEFAULT),
            Some(value) => self.integer(&format!("{key}.weight"), value, WEIGHT_MIN..=WEIGHT_MAX),
        };
        let priority = match &raw.priority {
            None => Some(PRIORITY_DEFAULT),
            Some(value) => self.integer(
                &format!("{key}.priority"),
                value,
                PRIORITY_MIN..=PRIORITY_MAX,
            ),
        };
        let region = match &raw.region {
            None => Some(None),
            Some(region) => self
                .region_reference(&format!("{key}.region"), region, region_names)
                .map(Some),
        };
        let health = self.backend_health(
            service_key,
            key,
            service_health,
            raw.health.as_ref(),
            service_name,
            raw.name.is_some(),
        );
        let (target, target_span) = target?;
        Some((
            BackendConfig {
                target,
                weight: weight?,
                priority: priority?,
                region: region?,
                health: health?,
            },
            self.line(&target_span),
        ))
    }

    /// Converts a backend's `name`: a domain name other than the root and
    /// the service's own name, made absolute and lowercased.
    fn backend_name(
        &mut self,
        key: &str,
        raw: &Spanned<String>,
        service_name: Option<&Name<Bytes>>,
    ) -> Option<(BackendTarget, Range<usize>)> {
        let key = format!("{key}.name");
        let text = raw.get_ref();
        let name = match domain_name(text) {
            Ok(name) => name,
            Err(error) => {
                self.error(
                    Some(&raw.span()),
                    &key,
                    format!("{text:?} is not a domain name: {error}"),
                );
                return None;
            }
        };
        if name.is_root() {
            self.error(
                Some(&raw.span()),
                &key,
                "is the root: a CNAME must point to a host name",
            );
            return None;
        }
        if service_name == Some(&name) {
            self.error(
                Some(&raw.span()),
                &key,
                format!(
                    "{} is the service's own name: the CNAME would point to itself",
                    absolute(&name)
                ),
            );
            return None;
        }
        Some((BackendTarget::Name(name), raw.span()))
    }

    /// Converts a string key that must be one of `choices` (written form,
    /// value).
    fn choice<T: Copy>(
        &mut self,
        key: &str,
        raw: &Spanned<String>,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let text = raw.get_ref();
        let found = choices
            .iter()
            .find(|(written, _)| written == text)
            .map(|(_, value)| *value);
        if found.is_none() {
            let written: Vec<&str> = choices.iter().map(|(written, _)| *written).collect();
            self.error(
                Some(&raw.span()),
                key,
                format!("{text:?} is not valid: write one of {}", written.join(", ")),
            );
        }
        found
    }
}

/// Formats `name` with its trailing dot (`example.com.`, `.` for the root).
fn absolute(name: &Name<Bytes>) -> String {
    if name.is_root() {
        ".".to_owned()
    } else {
        format!("{name}.")
    }
}

/// Parses a domain name in presentation format (with or without the final
/// dot, always taken as absolute) and lowercases it.
fn domain_name(text: &str) -> Result<Name<Bytes>, String> {
    if text.is_empty() {
        return Err("empty".to_owned());
    }
    Name::<Bytes>::from_str(text)
        .map_err(|error| error.to_string())
        .and_then(|name| {
            let lowercase = name.as_octets().to_ascii_lowercase();
            Name::from_octets(Bytes::from(lowercase)).map_err(|error| error.to_string())
        })
}

/// Checks a region name: 1..=[`REGION_NAME_MAX_BYTES`] of `a-z`, `0-9`,
/// `_` and `-`. The error completes a sentence starting with the name.
fn check_region_name(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".to_owned());
    }
    if text.len() > REGION_NAME_MAX_BYTES {
        return Err(format!(
            "is {} bytes long, more than the maximum {REGION_NAME_MAX_BYTES}",
            text.len()
        ));
    }
    if !text.bytes().all(|byte| {
        byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
    }) {
        return Err("may hold only a-z, 0-9, _ and -".to_owned());
    }
    Ok(())
}

/// The index of the first region named `name` among `names`.
fn region_index(names: &[Option<String>], name: &str) -> Option<usize> {
    names
        .iter()
        .position(|known| known.as_deref() == Some(name))
}

/// Lists the defined regions for an "unknown region" message.
fn known_regions(names: &[Option<String>]) -> String {
    let known: Vec<String> = names
        .iter()
        .flatten()
        .map(|name| format!("{name:?}"))
        .collect();
    if known.is_empty() {
        "no [[region]] is defined".to_owned()
    } else {
        format!("regions: {}", known.join(", "))
    }
}

/// Parses a network in CIDR notation with no host bits set. The error names
/// the text.
fn parse_network(text: &str) -> Result<IpNet, String> {
    let network = IpNet::from_str(text).map_err(|_| {
        format!("{text:?} is not a network in CIDR notation; write e.g. \"198.51.100.0/24\"")
    })?;
    if network.trunc() != network {
        return Err(format!(
            "{text:?} has host bits set: write the network as {:?}",
            network.trunc().to_string()
        ));
    }
    Ok(network)
}
