//! Layer 2 of config loading: checks the raw mirror (`raw`) and converts it
//! into the typed [`Config`].
//!
//! Invariants: a value outside its bounds, or inconsistent with another, is
//! an error naming its key and line; nothing is clamped or silently fixed.
//! Every problem in the file is collected before returning, so one
//! [`LoadErrors`] lists them all, in file order; a [`Config`] is returned
//! only when there are none.
//!
//! This root converts the whole file, table after table, and holds the
//! `Checker` that collects the problems, with the helpers every table uses
//! (integers, durations, choices, address lists, domain names). Each table
//! is converted in its own submodule: `server` (with `run_as`), `admin`,
//! `tsig`, `zones` and `catalogs` (with `transfer`, the keys they share),
//! `regions`, `topology`, `services` (with `backends` and `health`), `rrl`
//! and `xdp`.

use std::fmt::Display;
use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use domain::base::Name;
use toml::Spanned;

use super::error::{LoadError, LoadErrors};
use super::locate::LineIndex;
use super::raw::RawConfig;
use super::source::Source;
use super::{Config, TopologyConfig};

mod admin;
mod backends;
mod catalogs;
mod health;
mod regions;
mod rrl;
mod run_as;
mod server;
mod services;
mod topology;
mod transfer;
mod tsig;
mod xdp;
mod zones;

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
pub use transfer::{
    EXPIRE_MIN_DEFAULT, NOTIFY_FROM_MAX, PRIMARIES_MAX, PRIMARY_PORT_DEFAULT, REFRESH_MAX_DEFAULT,
    REFRESH_MIN_DEFAULT, RETRY_MIN_DEFAULT, ZONE_TIMER_MAX, ZONE_TIMER_MIN,
};
pub use tsig::TSIG_SECRET_MAX_BYTES;
pub use xdp::{
    XDP_FRAME_SIZE_DEFAULT, XDP_FRAME_SIZE_MAX, XDP_FRAME_SIZE_MIN, XDP_INTERFACE_MAX_BYTES,
    XDP_QUEUE_MAX, XDP_RING_SIZE_DEFAULT, XDP_RING_SIZE_MAX, XDP_RING_SIZE_MIN,
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
    let (tsig_keys, tsig_names) = checker.tsig_keys(raw.tsig, &source);
    let zones = checker.zones(raw.zone, &tsig_names);
    let catalogs = checker.catalogs(raw.catalog, &zones.names, &tsig_names);
    let (regions, region_names, mut networks) = checker.regions(raw.region);
    let topology = checker.topology(raw.topology, &source, &region_names, &mut networks);
    // Services sit in file zones and secondary zones alike.
    let service_zones: Vec<_> = zones
        .file_names
        .iter()
        .cloned()
        .chain(zones.secondaries.iter().map(|zone| zone.name.clone()))
        .collect();
    let services = checker.services(raw.service, &service_zones, &region_names);
    let rrl = checker.rrl(raw.rrl);
    let xdp = checker.xdp(raw.xdp, server.as_ref());
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
            zones: zones.files,
            admin,
            regions,
            topology: TopologyConfig {
                networks: networks.networks,
                default_region: topology,
            },
            services,
            rrl: rrl.flatten(),
            xdp: xdp.flatten(),
            tsig_keys,
            secondaries: zones.secondaries,
            catalogs,
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

impl Checker<'_> {
    /// Records a problem with `key` at the start of `span` (no line if none).
    fn error(&mut self, span: Option<&Range<usize>>, key: &str, message: impl Into<String>) {
        let line = span.map(|span| self.lines.line(span.start));
        self.errors
            .push(LoadError::new(self.path, line, key, message.into()));
    }

    /// `raw` when the key is there; otherwise records `required: {what}`
    /// at `key` (on the line of `span`, when known) and gives `None`.
    fn required<T>(
        &mut self,
        raw: Option<T>,
        span: Option<&Range<usize>>,
        key: &str,
        what: &str,
    ) -> Option<T> {
        if raw.is_none() {
            self.error(span, key, format!("required: {what}"));
        }
        raw
    }

    /// The domain name `raw` holds, lowercase; otherwise records why it is
    /// not one at `key` and gives `None`.
    fn domain_name_at(&mut self, raw: &Spanned<String>, key: &str) -> Option<Name<Bytes>> {
        let text = raw.get_ref();
        match domain_name(text) {
            Ok(name) => Some(name),
            Err(error) => {
                self.error(
                    Some(&raw.span()),
                    key,
                    format!("{text:?} is not a domain name: {error}"),
                );
                None
            }
        }
    }

    /// The 1-based line where `span` starts.
    fn line(&self, span: &Range<usize>) -> usize {
        self.lines.line(span.start)
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

    /// Converts a list of integers that must be non-empty, distinct and
    /// within `bounds`: `noun` names one entry in the messages ("CPU"),
    /// `instead` says what to write rather than an empty list. Errors are
    /// recorded; `None` when there is any.
    fn distinct_integers<T>(
        &mut self,
        key: &str,
        list_span: &Range<usize>,
        entries: &[Spanned<i64>],
        bounds: RangeInclusive<T>,
        (noun, instead): (&str, &str),
    ) -> Option<Vec<T>>
    where
        T: TryFrom<i64> + PartialOrd + Display + Copy,
    {
        let errors_before = self.errors.len();
        if entries.is_empty() {
            self.error(
                Some(list_span),
                key,
                format!("must list at least one {noun} ({instead})"),
            );
        }
        let mut values: Vec<(T, usize)> = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some(value) = self.integer(key, entry, bounds.clone()) else {
                continue;
            };
            if let Some((_, first_line)) = values.iter().find(|(seen, _)| *seen == value) {
                let first_line = *first_line;
                self.error(
                    Some(&entry.span()),
                    key,
                    format!("duplicate {noun} {value} (already listed on line {first_line})"),
                );
            } else {
                values.push((value, self.line(&entry.span())));
            }
        }
        (self.errors.len() == errors_before)
            .then(|| values.into_iter().map(|(value, _)| value).collect())
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

#[cfg(test)]
mod tests {
    use crate::config::LoadErrors;
    use crate::config::test_support::{keys_and_lines, rejected};

    #[test]
    fn all_conversion_errors_are_collected() {
        let text = "[server]\n\
                    listen = [\"bad\", \"127.0.0.1:53\", \"127.0.0.1:53\"]\n\
                    workers = 0\n\
                    udp_payload = 100\n\
                    tcp_max_connections = 0\n\
                    tcp_idle_timeout = \"1h\"\n\
                    [[zone]]\n\
                    name = \"a..b\"\n\
                    [[zone]]\n\
                    file = \"\"\n";
        let errors = rejected(text);
        assert_eq!(
            keys_and_lines(&errors),
            vec![
                ("server.listen", Some(2)),
                ("server.listen", Some(2)),
                ("server.workers", Some(3)),
                ("server.udp_payload", Some(4)),
                ("server.tcp_max_connections", Some(5)),
                ("server.tcp_idle_timeout", Some(6)),
                ("zone[0].file", Some(7)),
                ("zone[0].name", Some(8)),
                ("zone[1].name", Some(9)),
                ("zone[1].file", Some(10)),
            ]
        );
        let display = LoadErrors(errors).to_string();
        assert_eq!(display.lines().count(), 10);
    }
}
