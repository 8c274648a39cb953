//! Layer 2 of config loading: checks the raw mirror (`raw`) and converts it
//! into the typed [`Config`].
//!
//! Invariants: a value outside its bounds, or inconsistent with another, is
//! an error naming its key and line; nothing is clamped or silently fixed.
//! Every problem in the file is collected before returning, so one
//! [`LoadErrors`] lists them all, in file order; a [`Config`] is returned
//! only when there are none.

use std::fmt::Display;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use domain::base::Name;
use toml::Spanned;

use super::error::{LoadError, LoadErrors};
use super::locate::LineIndex;
use super::raw::{RawConfig, RawServer, RawWorkers, RawZone};
use super::source::Source;
use super::{
    CHAOS_TEXT_MAX_BYTES, CPU_INDEX_MAX, Config, LISTEN_MAX, ServerConfig,
    TCP_IDLE_TIMEOUT_DEFAULT, TCP_IDLE_TIMEOUT_MAX, TCP_IDLE_TIMEOUT_MIN,
    TCP_MAX_CONNECTIONS_DEFAULT, TCP_MAX_CONNECTIONS_MAX, TCP_MAX_CONNECTIONS_MIN,
    UDP_PAYLOAD_DEFAULT, UDP_PAYLOAD_MAX, UDP_PAYLOAD_MIN, WORKERS_MAX, WORKERS_MIN, Workers,
    ZoneConfig,
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
    };
    let server = checker.server(raw.server);
    let zones = checker.zones(raw.zone);
    // Report in file order (stable, so problems on one line keep the order
    // they were found in); problems with no line come first.
    checker.errors.sort_by_key(|error| error.line);
    match server {
        Some(server) if checker.errors.is_empty() => Ok(Config {
            path: path.to_path_buf(),
            source,
            server,
            zones,
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
        let identity = self.chaos_text("server.identity", raw.identity);
        let version = self.chaos_text("server.version", raw.version);

        Some(ServerConfig {
            listen: listen?,
            workers: workers?,
            cpus: cpus?,
            udp_payload: udp_payload?,
            tcp_max_connections: tcp_max_connections?,
            tcp_idle_timeout: tcp_idle_timeout?,
            identity: identity?,
            version: version?,
        })
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
        if entries.len() > LISTEN_MAX {
            self.error(
                Some(&list_span),
                KEY,
                format!(
                    "lists {} addresses, more than the maximum {LISTEN_MAX}",
                    entries.len()
                ),
            );
        }
        let mut addresses: Vec<(SocketAddr, usize)> = Vec::with_capacity(entries.len());
        for entry in &entries {
            let text = entry.get_ref();
            match SocketAddr::from_str(text) {
                Err(error) => self.error(
                    Some(&entry.span()),
                    KEY,
                    format!(
                        "{text:?} is not a socket address ({error}); \
                         write \"192.0.2.1:53\" or \"[2001:db8::1]:53\""
                    ),
                ),
                Ok(address) => {
                    if let Some((_, first_line)) =
                        addresses.iter().find(|(seen, _)| *seen == address)
                    {
                        let first_line = *first_line;
                        self.error(
                            Some(&entry.span()),
                            KEY,
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
        (self.errors.len() == errors_before)
            .then(|| addresses.into_iter().map(|(address, _)| address).collect())
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

    /// Converts every `[[zone]]` entry, keeping those without errors.
    fn zones(&mut self, raw: Vec<Spanned<RawZone>>) -> Vec<ZoneConfig> {
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
        zones
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
            Name::<Bytes>::from_str(text)
                .map_err(|error| error.to_string())
                .and_then(|name| {
                    let lowercase = name.as_octets().to_ascii_lowercase();
                    Name::from_octets(Bytes::from(lowercase)).map_err(|error| error.to_string())
                })
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
}

/// Formats `name` with its trailing dot (`example.com.`, `.` for the root).
fn absolute(name: &Name<Bytes>) -> String {
    if name.is_root() {
        ".".to_owned()
    } else {
        format!("{name}.")
    }
}
