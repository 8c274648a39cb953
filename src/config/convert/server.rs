//! Converts the `[server]` table into [`ServerConfig`]: listen addresses,
//! workers and CPUs, the user to run as, the UDP payload size, TCP limits,
//! CHAOS texts and ECS.
//!
//! Checks: `listen` is required and holds 1..=[`LISTEN_MAX`] distinct
//! socket addresses; `workers` is `"auto"` or within
//! [`WORKERS_MIN`]..=[`WORKERS_MAX`], and a number agrees with the length of
//! `cpus`; `cpus` is non-empty and distinct, each at most [`CPU_INDEX_MAX`];
//! every other integer and duration is within its bound constants, and
//! `tcp_total_timeout` is at least `tcp_idle_timeout`; `identity` and
//! `version` fit one TXT character-string. `user` and `group` are checked in
//! `run_as`.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::ops::Range;

use toml::Spanned;

use super::super::raw::{RawServer, RawWorkers};
use super::super::{
    CHAOS_TEXT_MAX_BYTES, CPU_INDEX_MAX, ECS_DEFAULT, LISTEN_MAX, ServerConfig,
    TCP_IDLE_TIMEOUT_DEFAULT, TCP_IDLE_TIMEOUT_MAX, TCP_IDLE_TIMEOUT_MIN,
    TCP_MAX_CONNECTIONS_DEFAULT, TCP_MAX_CONNECTIONS_MAX, TCP_MAX_CONNECTIONS_MIN,
    TCP_MAX_CONNECTIONS_PER_CLIENT_DEFAULT, TCP_MAX_CONNECTIONS_PER_CLIENT_MAX,
    TCP_MAX_CONNECTIONS_PER_CLIENT_MIN, TCP_TOTAL_TIMEOUT_DEFAULT, TCP_TOTAL_TIMEOUT_MAX,
    TCP_TOTAL_TIMEOUT_MIN, UDP_PAYLOAD_DEFAULT, UDP_PAYLOAD_MAX, UDP_PAYLOAD_MIN, WORKERS_MAX,
    WORKERS_MIN, Workers,
};
use super::Checker;

impl Checker<'_> {
    /// Converts `[server]`; `None` when it is missing or has any error.
    pub(super) fn server(&mut self, raw: Option<Spanned<RawServer>>) -> Option<ServerConfig> {
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
}
