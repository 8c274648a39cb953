//! Converts the `[server]` table into [`ServerConfig`]: listen addresses,
//! workers and CPUs, the user to run as, the UDP payload size, TCP limits,
//! CHAOS texts, ECS and the state directory.
//!
//! Checks: `listen` is required and holds 1..=[`LISTEN_MAX`] distinct
//! socket addresses; `workers` is `"auto"` or within
//! [`WORKERS_MIN`]..=[`WORKERS_MAX`], and a number agrees with the length of
//! `cpus`; `cpus` is non-empty and distinct, each at most [`CPU_INDEX_MAX`];
//! every other integer and duration is within its bound constants, and
//! `tcp_total_timeout` is at least `tcp_idle_timeout`; `identity` and
//! `version` fit one TXT character-string; `state_dir` is a non-empty path,
//! resolved against the config file's directory. `user` and `group` are
//! checked in `run_as`.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::{Path, PathBuf};

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
        let raw = self.required(
            raw,
            None,
            "server.listen",
            "add a [server] table with at least one listen address",
        )?;
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
        let state_dir = self.state_dir(raw.state_dir);

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
            state_dir: state_dir?,
        })
    }

    /// Converts `server.state_dir`: absent, or a non-empty path, resolved
    /// against the config file's directory when relative. `Some(None)`
    /// means absent; `None` means invalid.
    fn state_dir(&mut self, raw: Option<Spanned<String>>) -> Option<Option<PathBuf>> {
        let Some(raw) = raw else {
            return Some(None);
        };
        if raw.get_ref().is_empty() {
            self.error(Some(&raw.span()), "server.state_dir", "must not be empty");
            return None;
        }
        let config_directory = self.path.parent().unwrap_or_else(|| Path::new(""));
        Some(Some(config_directory.join(raw.get_ref())))
    }

    /// Converts `server.listen`: required, 1..=[`LISTEN_MAX`] distinct
    /// socket addresses. `header` is the `[server]` header's span.
    fn listen(
        &mut self,
        header: &Range<usize>,
        raw: Option<Spanned<Vec<Spanned<String>>>>,
    ) -> Option<Vec<SocketAddr>> {
        const KEY: &str = "server.listen";
        let raw = self.required(
            raw,
            Some(header),
            KEY,
            "at least one address to listen on, e.g. \"127.0.0.1:53\"",
        )?;
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
        let list_span = raw.span();
        self.distinct_integers(
            KEY,
            &list_span,
            raw.get_ref(),
            0..=CPU_INDEX_MAX,
            ("CPU", "leave the key out to use every CPU"),
        )
        .map(Some)
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::num::NonZeroUsize;
    use std::path::Path;
    use std::time::Duration;

    use crate::config::test_support::{accepted, rejected, rejected_once, server_with};
    use crate::config::{
        CHAOS_TEXT_MAX_BYTES, LISTEN_MAX, TCP_IDLE_TIMEOUT_MAX, TCP_IDLE_TIMEOUT_MIN,
        TCP_MAX_CONNECTIONS_MAX, TCP_MAX_CONNECTIONS_PER_CLIENT_DEFAULT,
        TCP_MAX_CONNECTIONS_PER_CLIENT_MAX, TCP_MAX_CONNECTIONS_PER_CLIENT_MIN,
        TCP_TOTAL_TIMEOUT_DEFAULT, TCP_TOTAL_TIMEOUT_MAX, TCP_TOTAL_TIMEOUT_MIN, UDP_PAYLOAD_MAX,
        UDP_PAYLOAD_MIN, WORKERS_MAX, Workers,
    };

    // ----- server.udp_payload

    #[test]
    fn udp_payload_bounds() {
        let at = |value: i64| server_with(&format!("udp_payload = {value}"));
        assert_eq!(accepted(&at(512)).server.udp_payload, UDP_PAYLOAD_MIN);
        assert_eq!(accepted(&at(4096)).server.udp_payload, UDP_PAYLOAD_MAX);
        rejected_once(&at(511), "server.udp_payload", 3);
        rejected_once(&at(4097), "server.udp_payload", 3);
        rejected_once(&at(-1), "server.udp_payload", 3);
        rejected_once(&at(70_000), "server.udp_payload", 3);
    }

    #[test]
    fn bound_error_message() {
        let error = rejected_once(&server_with("udp_payload = 511"), "server.udp_payload", 3);
        assert_eq!(
            error.to_string(),
            "/etc/dnslb/dnslb.toml:3: server.udp_payload: 511 is out of bounds (allowed: 512 to 4096)"
        );
    }

    // ----- server.tcp_max_connections

    #[test]
    fn tcp_max_connections_bounds() {
        let at = |value: i64| server_with(&format!("tcp_max_connections = {value}"));
        assert_eq!(accepted(&at(1)).server.tcp_max_connections.get(), 1);
        assert_eq!(
            accepted(&at(1_000_000)).server.tcp_max_connections.get(),
            TCP_MAX_CONNECTIONS_MAX
        );
        rejected_once(&at(0), "server.tcp_max_connections", 3);
        rejected_once(&at(1_000_001), "server.tcp_max_connections", 3);
    }

    // ----- server.tcp_idle_timeout

    #[test]
    fn tcp_idle_timeout_bounds() {
        let at = |value: &str| server_with(&format!("tcp_idle_timeout = {value:?}"));
        assert_eq!(
            accepted(&at("100ms")).server.tcp_idle_timeout,
            TCP_IDLE_TIMEOUT_MIN
        );
        assert_eq!(
            accepted(&at("300s")).server.tcp_idle_timeout,
            TCP_IDLE_TIMEOUT_MAX
        );
        assert_eq!(
            accepted(&at("1m 30s")).server.tcp_idle_timeout,
            Duration::from_secs(90)
        );
        rejected_once(&at("99ms"), "server.tcp_idle_timeout", 3);
        rejected_once(&at("300001ms"), "server.tcp_idle_timeout", 3);
        rejected_once(&at("ten seconds"), "server.tcp_idle_timeout", 3);
        rejected_once(&at(""), "server.tcp_idle_timeout", 3);
    }

    // ----- server.tcp_total_timeout and server.tcp_max_connections_per_client

    #[test]
    fn tcp_total_timeout_bounds_and_idle_timeout() {
        let at = |value: &str| server_with(&format!("tcp_total_timeout = {value:?}"));
        let defaults = accepted(&server_with("")).server;
        assert_eq!(defaults.tcp_total_timeout, TCP_TOTAL_TIMEOUT_DEFAULT);
        assert_eq!(
            accepted(&at("1h")).server.tcp_total_timeout,
            TCP_TOTAL_TIMEOUT_MAX
        );
        assert_eq!(
            accepted(&server_with(
                "tcp_idle_timeout = \"100ms\"\ntcp_total_timeout = \"1s\""
            ))
            .server
            .tcp_total_timeout,
            TCP_TOTAL_TIMEOUT_MIN
        );
        rejected_once(&at("999ms"), "server.tcp_total_timeout", 3);
        rejected_once(&at("3601s"), "server.tcp_total_timeout", 3);
        rejected_once(&at("soon"), "server.tcp_total_timeout", 3);
        // Shorter than the idle timeout (default 10s, or as set).
        let error = rejected_once(&at("5s"), "server.tcp_total_timeout", 3);
        assert!(error.message.contains("tcp_idle_timeout (10s)"), "{error}");
        rejected_once(
            &server_with("tcp_total_timeout = \"1m\"\ntcp_idle_timeout = \"90s\""),
            "server.tcp_total_timeout",
            3,
        );
        // Unset, it follows a long idle timeout instead of contradicting it.
        assert_eq!(
            accepted(&server_with("tcp_idle_timeout = \"300s\""))
                .server
                .tcp_total_timeout,
            Duration::from_secs(300)
        );
    }

    #[test]
    fn tcp_max_connections_per_client_bounds() {
        let at = |value: i64| server_with(&format!("tcp_max_connections_per_client = {value}"));
        assert_eq!(
            accepted(&server_with(""))
                .server
                .tcp_max_connections_per_client,
            TCP_MAX_CONNECTIONS_PER_CLIENT_DEFAULT
        );
        assert_eq!(
            accepted(&at(1)).server.tcp_max_connections_per_client.get(),
            TCP_MAX_CONNECTIONS_PER_CLIENT_MIN
        );
        assert_eq!(
            accepted(&at(1_000_000))
                .server
                .tcp_max_connections_per_client
                .get(),
            TCP_MAX_CONNECTIONS_PER_CLIENT_MAX
        );
        rejected_once(&at(0), "server.tcp_max_connections_per_client", 3);
        rejected_once(&at(-1), "server.tcp_max_connections_per_client", 3);
        rejected_once(&at(1_000_001), "server.tcp_max_connections_per_client", 3);
    }

    #[test]
    fn tcp_idle_timeout_must_be_a_string() {
        let error = rejected_once(
            &server_with("tcp_idle_timeout = 10"),
            "server.tcp_idle_timeout",
            3,
        );
        assert!(error.message.contains("invalid type"), "{error}");
    }

    // ----- server.workers and server.cpus

    #[test]
    fn workers_auto_number_and_bad_string() {
        let at = |value: &str| server_with(&format!("workers = {value}"));
        assert_eq!(accepted(&server_with("")).server.workers, Workers::Auto);
        assert_eq!(accepted(&at("\"auto\"")).server.workers, Workers::Auto);
        assert_eq!(
            accepted(&at("1")).server.workers,
            Workers::Count(NonZeroUsize::MIN)
        );
        assert_eq!(
            accepted(&at("1024")).server.workers,
            Workers::Count(NonZeroUsize::new(WORKERS_MAX).unwrap_or(NonZeroUsize::MIN))
        );
        rejected_once(&at("0"), "server.workers", 3);
        rejected_once(&at("1025"), "server.workers", 3);
        let error = rejected_once(&at("\"many\""), "server.workers", 3);
        assert!(error.message.contains("\"many\""), "{error}");
        rejected_once(&at("\"Auto\""), "server.workers", 3);
        rejected_once(&at("\"4\""), "server.workers", 3);
        let error = rejected_once(&at("true"), "server.workers", 3);
        assert!(error.message.contains("\"auto\" or an integer"), "{error}");
        rejected_once(&at("1.5"), "server.workers", 3);
    }

    #[test]
    fn cpus_bounds() {
        let at = |value: &str| server_with(&format!("cpus = {value}"));
        assert_eq!(accepted(&server_with("")).server.cpus, None);
        assert_eq!(accepted(&at("[0]")).server.cpus, Some(vec![0]));
        assert_eq!(
            accepted(&at("[1023, 3, 1]")).server.cpus,
            Some(vec![1023, 3, 1])
        );
        rejected_once(&at("[1024]"), "server.cpus", 3);
        rejected_once(&at("[-1]"), "server.cpus", 3);
        rejected_once(&at("[]"), "server.cpus", 3);
        let error = rejected_once(&at("[\n  1,\n  2,\n  1,\n]"), "server.cpus", 6);
        assert!(error.message.contains("line 4"), "{error}");
    }

    #[test]
    fn cpus_must_agree_with_numeric_workers() {
        let config = accepted(&server_with("workers = 2\ncpus = [4, 5]"));
        assert_eq!(
            config.server.workers,
            Workers::Count(NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN))
        );
        let config = accepted(&server_with("workers = \"auto\"\ncpus = [4, 5]"));
        assert_eq!(config.server.cpus, Some(vec![4, 5]));
        rejected_once(
            &server_with("workers = 3\ncpus = [4, 5]"),
            "server.workers",
            3,
        );
        rejected_once(
            &server_with("cpus = [4, 5]\nworkers = 1"),
            "server.workers",
            4,
        );
    }

    // ----- server.listen

    #[test]
    fn listen_parses_ipv4_and_ipv6() {
        let config = accepted("[server]\nlisten = [\"192.0.2.1:53\", \"[2001:db8::1]:5353\"]\n");
        let expected: Vec<SocketAddr> = vec![
            SocketAddr::from(([192, 0, 2, 1], 53)),
            SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 5353)),
        ];
        assert_eq!(config.server.listen, expected);
    }

    #[test]
    fn listen_count_bounds() {
        let list = |count: u16| {
            let addresses: Vec<String> = (0..count)
                .map(|index| format!("\"127.0.0.1:{}\"", 1000 + index))
                .collect();
            format!("[server]\nlisten = [{}]\n", addresses.join(", "))
        };
        assert_eq!(accepted(&list(1)).server.listen.len(), 1);
        assert_eq!(accepted(&list(64)).server.listen.len(), LISTEN_MAX);
        rejected_once(&list(65), "server.listen", 2);
        rejected_once(&list(0), "server.listen", 2);
    }

    #[test]
    fn listen_is_required() {
        rejected_once("[server]\nworkers = 2\n", "server.listen", 1);
        let errors = rejected("[[zone]]\nname = \"example.com\"\nfile = \"x.zone\"\n");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key, "server.listen");
        assert_eq!(errors[0].line, None);
        assert_eq!(
            rejected("").first().map(|error| error.key.as_str()),
            Some("server.listen")
        );
    }

    #[test]
    fn listen_bad_address_names_the_value() {
        let text = "[server]\nlisten = [\n  \"127.0.0.1:53\",\n  \"localhost:53\",\n]\n";
        let error = rejected_once(text, "server.listen", 4);
        assert!(error.message.contains("\"localhost:53\""), "{error}");
        let error = rejected_once("[server]\nlisten = [\"::1:53\"]\n", "server.listen", 2);
        assert!(error.message.contains("\"::1:53\""), "{error}");
        rejected_once("[server]\nlisten = [\"127.0.0.1\"]\n", "server.listen", 2);
    }

    #[test]
    fn listen_duplicates_rejected() {
        let text =
            "[server]\nlisten = [\n  \"[::1]:53\",\n  \"127.0.0.1:53\",\n  \"[0:0::1]:53\",\n]\n";
        let error = rejected_once(text, "server.listen", 5);
        assert!(error.message.contains("duplicate"), "{error}");
        assert!(error.message.contains("line 3"), "{error}");
        // Same address, different port: fine.
        accepted("[server]\nlisten = [\"127.0.0.1:53\", \"127.0.0.1:54\"]\n");
    }

    #[test]
    fn listen_must_be_an_array_of_strings() {
        rejected_once("[server]\nlisten = \"127.0.0.1:53\"\n", "server.listen", 2);
        rejected_once(
            "[server]\nlisten = [\n  \"127.0.0.1:53\",\n  53,\n]\n",
            "server.listen",
            4,
        );
    }

    // ----- server.identity and server.version

    #[test]
    fn chaos_text_bounds() {
        for key in ["identity", "version"] {
            let at = |length: usize| server_with(&format!("{key} = \"{}\"", "x".repeat(length)));
            let config = accepted(&at(255));
            let value = if key == "identity" {
                config.server.identity
            } else {
                config.server.version
            };
            assert_eq!(value.map(|text| text.len()), Some(CHAOS_TEXT_MAX_BYTES));
            rejected_once(&at(256), &format!("server.{key}"), 3);
        }
        // Bytes, not characters: 128 two-byte characters are 256 bytes.
        rejected_once(
            &server_with(&format!("identity = \"{}\"", "é".repeat(128))),
            "server.identity",
            3,
        );
        let config = accepted(&server_with(""));
        assert_eq!(config.server.identity, None);
        assert_eq!(config.server.version, None);
    }

    // ----- server.ecs

    #[test]
    fn ecs_default_and_values() {
        assert!(accepted(&server_with("")).server.ecs);
        assert!(accepted(&server_with("ecs = true")).server.ecs);
        assert!(!accepted(&server_with("ecs = false")).server.ecs);
        let error = rejected_once(&server_with("ecs = \"yes\""), "server.ecs", 3);
        assert!(error.message.contains("invalid type"), "{error}");
        rejected_once(&server_with("ecs = 1"), "server.ecs", 3);
    }

    // ----- server.state_dir

    #[test]
    fn state_dir_resolved_against_the_config_directory() {
        let at = |value: &str| server_with(&format!("state_dir = {value:?}"));
        assert_eq!(accepted(&server_with("")).server.state_dir, None);
        assert_eq!(
            accepted(&at("state")).server.state_dir.as_deref(),
            Some(Path::new("/etc/dnslb/state"))
        );
        assert_eq!(
            accepted(&at("/var/lib/dnslb")).server.state_dir.as_deref(),
            Some(Path::new("/var/lib/dnslb"))
        );
        let error = rejected_once(&at(""), "server.state_dir", 3);
        assert_eq!(error.message, "must not be empty");
        rejected_once(&server_with("state_dir = 1"), "server.state_dir", 3);
    }
}
