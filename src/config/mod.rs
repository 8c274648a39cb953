//! The server's configuration: loading, validating and typing the TOML
//! config file (see `dnslb.example.toml` for every key, its default and its
//! bounds).
//!
//! Loading runs in two layers. Layer 1 (`raw`) deserializes the text into a
//! serde mirror that rejects unknown keys and wrong types and keeps each
//! value's position; such a problem stops loading with one error. Layer 2
//! (`convert`) turns the mirror into the typed [`Config`], checking bounds
//! and consistency and collecting every problem it finds.
//!
//! Invariants of a [`Config`]: every value is within the bounds below (a
//! value outside them is rejected, never clamped); `server.listen` holds
//! 1..=[`LISTEN_MAX`] distinct addresses; `server.cpus`, when present, is
//! non-empty with distinct indices, and agrees in length with a numeric
//! `server.workers`; zone names are absolute, lowercase and distinct; zone
//! file paths are already resolved against the config file's directory and
//! are read through [`Config::source`].

mod convert;
pub mod error;
mod locate;
mod raw;
pub mod source;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use domain::base::Name;

pub use error::{LoadError, LoadErrors};
pub use source::Source;

/// Most addresses `server.listen` may hold.
pub const LISTEN_MAX: usize = 64;
/// Fewest workers `server.workers` may ask for.
pub const WORKERS_MIN: usize = 1;
/// Most workers `server.workers` may ask for.
pub const WORKERS_MAX: usize = 1024;
/// Highest CPU index `server.cpus` may name.
pub const CPU_INDEX_MAX: usize = 1023;
/// Smallest `server.udp_payload`: the classic DNS UDP message size.
pub const UDP_PAYLOAD_MIN: u16 = 512;
/// Largest `server.udp_payload`.
pub const UDP_PAYLOAD_MAX: u16 = 4096;
/// Default `server.udp_payload`: the DNS Flag Day 2020 size, safe from IP
/// fragmentation.
pub const UDP_PAYLOAD_DEFAULT: u16 = 1232;
/// Fewest `server.tcp_max_connections`.
pub const TCP_MAX_CONNECTIONS_MIN: usize = 1;
/// Most `server.tcp_max_connections`.
pub const TCP_MAX_CONNECTIONS_MAX: usize = 1_000_000;
/// Default `server.tcp_max_connections`.
pub const TCP_MAX_CONNECTIONS_DEFAULT: NonZeroUsize =
    NonZeroUsize::new(1024).expect("the default is not zero");
/// Shortest `server.tcp_idle_timeout`.
pub const TCP_IDLE_TIMEOUT_MIN: Duration = Duration::from_millis(100);
/// Longest `server.tcp_idle_timeout`.
pub const TCP_IDLE_TIMEOUT_MAX: Duration = Duration::from_secs(300);
/// Default `server.tcp_idle_timeout`.
pub const TCP_IDLE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Longest `server.identity` and `server.version`, in bytes: one TXT
/// character-string.
pub const CHAOS_TEXT_MAX_BYTES: usize = 255;

/// The path the embedded default config is reported under; its files are
/// resolved against `<embedded>`.
pub const EMBEDDED_CONFIG_PATH: &str = "<embedded>/dnslb.example.toml";
/// The text of the embedded default config (`dnslb.example.toml`).
pub const EMBEDDED_CONFIG_TEXT: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/dnslb.example.toml"));
/// The files the embedded default config names, at their resolved paths.
const EMBEDDED_FILES: &[(&str, &str)] = &[(
    "<embedded>/zones/example.com.zone",
    include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/zones/example.com.zone"
    )),
)];

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The config file's path as given (for the embedded default:
    /// `<embedded>/dnslb.example.toml`).
    pub path: PathBuf,
    /// Where files named by the config are read from (disk, or the embedded
    /// default's files).
    pub source: Source,
    /// The `[server]` table.
    pub server: ServerConfig,
    /// The `[[zone]]` entries, in file order.
    pub zones: Vec<ZoneConfig>,
}

/// The `[server]` table: how the server listens and answers.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// `server.listen`: addresses to serve UDP and TCP on; 1..=[`LISTEN_MAX`],
    /// distinct.
    pub listen: Vec<SocketAddr>,
    /// `server.workers`: how many data-plane workers to run.
    pub workers: Workers,
    /// `server.cpus`: CPUs to pin workers to; when present, non-empty,
    /// distinct, each at most [`CPU_INDEX_MAX`].
    pub cpus: Option<Vec<usize>>,
    /// `server.udp_payload`: the EDNS UDP payload size we advertise and
    /// honour; [`UDP_PAYLOAD_MIN`]..=[`UDP_PAYLOAD_MAX`].
    pub udp_payload: u16,
    /// `server.tcp_max_connections`: open TCP connections at most;
    /// [`TCP_MAX_CONNECTIONS_MIN`]..=[`TCP_MAX_CONNECTIONS_MAX`].
    pub tcp_max_connections: NonZeroUsize,
    /// `server.tcp_idle_timeout`: how long a TCP connection may sit idle;
    /// [`TCP_IDLE_TIMEOUT_MIN`]..=[`TCP_IDLE_TIMEOUT_MAX`].
    pub tcp_idle_timeout: Duration,
    /// `server.identity`: the answer to CH TXT `id.server` and
    /// `hostname.bind`; `None` answers REFUSED. At most
    /// [`CHAOS_TEXT_MAX_BYTES`] bytes.
    pub identity: Option<String>,
    /// `server.version`: the answer to CH TXT `version.bind` and
    /// `version.server`; `None` answers REFUSED. At most
    /// [`CHAOS_TEXT_MAX_BYTES`] bytes.
    pub version: Option<String>,
}

/// `server.workers`: how many data-plane workers to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workers {
    /// One worker per CPU in `server.cpus`, or per CPU available to the
    /// process when `server.cpus` is absent.
    Auto,
    /// Exactly this many workers, [`WORKERS_MIN`]..=[`WORKERS_MAX`] (and the
    /// length of `server.cpus` when that is present).
    Count(NonZeroUsize),
}

/// One `[[zone]]` entry: a zone served from a zone file.
#[derive(Clone, Debug)]
pub struct ZoneConfig {
    /// `zone[i].name`: the zone's apex, absolute and lowercase; distinct
    /// among zones.
    pub name: Name<Bytes>,
    /// `zone[i].file`: the zone file, resolved against the config file's
    /// directory when relative; read it through [`Config::source`].
    pub file: PathBuf,
    /// The 1-based line of this entry's `name` key in the config file.
    pub line: usize,
}

/// Reads and validates the config file at `path` from disk.
///
/// # Errors
///
/// One error without a line if the file cannot be read; otherwise as
/// [`parse`].
pub fn load(path: &Path) -> Result<Config, LoadErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path, Source::Disk),
        Err(error) => Err(LoadErrors::from(LoadError::new(
            path,
            None,
            "",
            format!("cannot read config file: {error}"),
        ))),
    }
}

/// Validates config text as if read from `path` with files resolved through
/// `source`.
///
/// Zone files are not read here; their paths are only resolved.
///
/// # Errors
///
/// A TOML syntax error, unknown key or wrongly typed value is returned
/// alone; otherwise every missing, out-of-bounds or inconsistent value is
/// returned, in file order.
pub fn parse(text: &str, path: &Path, source: Source) -> Result<Config, LoadErrors> {
    let raw = raw::from_str(text, path)?;
    convert::convert(raw, text, path, source)
}

/// The embedded default: the text of `dnslb.example.toml` with its zone file
/// `zones/example.com.zone`, both compiled in and served via
/// [`Source::Embedded`].
///
/// # Errors
///
/// As [`parse`]; only if the shipped example is broken, which the tests
/// guard against.
pub fn embedded_default() -> Result<Config, LoadErrors> {
    parse(
        EMBEDDED_CONFIG_TEXT,
        Path::new(EMBEDDED_CONFIG_PATH),
        Source::Embedded(EMBEDDED_FILES),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where test configs pretend to live.
    const PATH: &str = "/etc/dnslb/dnslb.toml";

    fn parse_text(text: &str) -> Result<Config, LoadErrors> {
        parse(text, Path::new(PATH), Source::Disk)
    }

    /// A valid `[server]` table (lines 1 and 2) followed by `rest` (from
    /// line 3 on).
    fn server_with(rest: &str) -> String {
        format!("[server]\nlisten = [\"127.0.0.1:53\"]\n{rest}\n")
    }

    fn accepted(text: &str) -> Config {
        match parse_text(text) {
            Ok(config) => config,
            Err(errors) => panic!("expected {text:?} to be accepted, got:\n{errors}"),
        }
    }

    fn rejected(text: &str) -> Vec<LoadError> {
        match parse_text(text) {
            Ok(config) => panic!("expected {text:?} to be rejected, got {config:?}"),
            Err(LoadErrors(errors)) => {
                assert!(!errors.is_empty(), "LoadErrors must never be empty");
                errors
            }
        }
    }

    /// Asserts `text` is rejected with exactly one error, naming `key` at
    /// `line`, and returns it.
    fn rejected_once(text: &str, key: &str, line: usize) -> LoadError {
        let errors = rejected(text);
        assert_eq!(errors.len(), 1, "expected one error, got {errors:?}");
        let error = errors.into_iter().next().unwrap_or_else(|| unreachable!());
        assert_eq!(error.key, key, "wrong key in {error}");
        assert_eq!(error.line, Some(line), "wrong line in {error}");
        assert_eq!(error.file, Path::new(PATH));
        error
    }

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

    // ----- layer 1: unknown keys, wrong types, syntax

    #[test]
    fn unknown_key_rejected_with_its_line() {
        let error = rejected_once(&server_with("\n\nlisen = 5"), "server.lisen", 5);
        assert!(error.message.contains("unknown field `lisen`"), "{error}");
        rejected_once(
            &server_with("[[zone]]\nname = \"a.\"\nfile = \"a\"\nfiel = \"b\""),
            "zone[0].fiel",
            6,
        );
    }

    #[test]
    fn unknown_table_rejected_with_its_line() {
        rejected_once(&server_with("\n[admin]\nlisten = \"x\""), "admin", 4);
        rejected_once(&server_with("[[service]]\nname = \"x\""), "service", 3);
        rejected_once("bogus = 1\n", "bogus", 1);
    }

    #[test]
    fn wrong_type_rejected_with_its_line() {
        let error = rejected_once(
            &server_with("udp_payload = \"1232\""),
            "server.udp_payload",
            3,
        );
        assert!(error.message.contains("invalid type"), "{error}");
        rejected_once(&server_with("identity = 7"), "server.identity", 3);
        rejected_once(
            &server_with("[[zone]]\nname = 5\nfile = \"a\""),
            "zone[0].name",
            4,
        );
        rejected_once("zone = \"x\"\n[server]\nlisten = []\n", "zone", 1);
        rejected_once("server = 5\n", "server", 1);
    }

    #[test]
    fn syntax_error_has_line_and_no_key() {
        let error = rejected("[server]\nlisten = [\"127.0.0.1:53\"\n\n[zone\n");
        assert_eq!(error.len(), 1, "{error:?}");
        assert_eq!(error[0].key, "");
        assert!(error[0].line.is_some());
        let error = rejected("[server]\nlisten = [\"127.0.0.1:53\"]\nworkers = \n");
        assert_eq!(error.len(), 1, "{error:?}");
        assert_eq!(error[0].line, Some(3));
    }

    #[test]
    fn duplicate_key_rejected_with_its_line() {
        let error = rejected_once(
            &server_with("udp_payload = 1232\nudp_payload = 1232"),
            "server.udp_payload",
            4,
        );
        assert_eq!(error.message, "duplicate key");
        rejected_once(
            &server_with("[[zone]]\nname = \"a.\"\nname = \"b.\""),
            "zone[0].name",
            5,
        );
    }

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
        let found: Vec<(&str, Option<usize>)> = errors
            .iter()
            .map(|error| (error.key.as_str(), error.line))
            .collect();
        assert_eq!(
            found,
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

    // ----- zones

    fn zone_text(name: &str, file: &str) -> String {
        server_with(&format!("[[zone]]\nname = {name:?}\nfile = {file:?}"))
    }

    #[test]
    fn zone_name_made_absolute_and_lowercase() {
        for written in ["Example.COM", "example.com.", "EXAMPLE.com."] {
            let config = accepted(&zone_text(written, "a.zone"));
            let zone = &config.zones[0];
            assert_eq!(zone.name.as_octets().as_ref(), b"\x07example\x03com\x00");
            assert_eq!(zone.line, 4);
        }
    }

    #[test]
    fn zone_name_root_allowed() {
        let config = accepted(&zone_text(".", "root.zone"));
        assert!(config.zones[0].name.is_root());
    }

    #[test]
    fn zone_name_invalid_rejected() {
        for bad in [
            "",
            "a..b",
            ".example.com",
            &format!("{}.com", "x".repeat(64)),
        ] {
            let error = rejected_once(&zone_text(bad, "a.zone"), "zone[0].name", 4);
            assert!(error.message.contains("not a domain name"), "{error}");
        }
    }

    #[test]
    fn zone_duplicates_rejected_case_insensitively() {
        let text = server_with(
            "[[zone]]\nname = \"example.com\"\nfile = \"a.zone\"\n\
             [[zone]]\nname = \"example.net\"\nfile = \"b.zone\"\n\
             [[zone]]\nname = \"EXAMPLE.com.\"\nfile = \"c.zone\"",
        );
        let error = rejected_once(&text, "zone[2].name", 10);
        assert!(error.message.contains("example.com."), "{error}");
        assert!(error.message.contains("line 4"), "{error}");
        // Found even when the first entry has another problem.
        let text = server_with(
            "[[zone]]\nname = \"example.com\"\n\
             [[zone]]\nname = \"Example.Com\"\nfile = \"b.zone\"",
        );
        let errors = rejected(&text);
        let keys: Vec<&str> = errors.iter().map(|error| error.key.as_str()).collect();
        assert_eq!(keys, vec!["zone[0].file", "zone[1].name"]);
    }

    #[test]
    fn zone_keys_required() {
        rejected_once(
            &server_with("[[zone]]\nfile = \"a.zone\""),
            "zone[0].name",
            3,
        );
        rejected_once(&server_with("[[zone]]\nname = \"a.\""), "zone[0].file", 3);
        rejected_once(&zone_text("a.", ""), "zone[0].file", 5);
    }

    #[test]
    fn zone_relative_path_resolved_against_config_directory() {
        let config = accepted(&zone_text("example.com", "zones/example.com.zone"));
        assert_eq!(
            config.zones[0].file,
            Path::new("/etc/dnslb/zones/example.com.zone")
        );
        let config = accepted(&zone_text("example.com", "../shared/example.com.zone"));
        assert_eq!(
            config.zones[0].file,
            Path::new("/etc/dnslb/../shared/example.com.zone")
        );
        let bare = parse(
            &zone_text("example.com", "zones/example.com.zone"),
            Path::new("dnslb.toml"),
            Source::Disk,
        );
        assert_eq!(
            bare.ok().map(|config| config.zones[0].file.clone()),
            Some(PathBuf::from("zones/example.com.zone"))
        );
    }

    #[test]
    fn zone_absolute_path_kept() {
        let config = accepted(&zone_text("example.com", "/var/lib/dnslb/example.com.zone"));
        assert_eq!(
            config.zones[0].file,
            Path::new("/var/lib/dnslb/example.com.zone")
        );
    }

    #[test]
    fn zones_may_be_absent() {
        assert!(accepted(&server_with("")).zones.is_empty());
    }

    #[test]
    fn zone_inline_array_of_tables() {
        let config = accepted(
            "zone = [\n  { name = \"a.example\", file = \"a.zone\" },\n  \
             { name = \"b.example\", file = \"b.zone\" },\n]\n\
             [server]\nlisten = [\"127.0.0.1:53\"]\n",
        );
        assert_eq!(config.zones.len(), 2);
        assert_eq!(config.zones[1].line, 3);
        rejected_once(
            "zone = [{ name = \"a.\", file = \"a\" }, { name = \"a.\", fil = \"b\" }]\n",
            "zone[1].fil",
            1,
        );
    }

    // ----- load, parse, embedded default

    #[test]
    fn parse_keeps_path_and_source() {
        let config = accepted(&server_with(""));
        assert_eq!(config.path, Path::new(PATH));
        assert!(matches!(config.source, Source::Disk));
    }

    #[test]
    fn load_missing_file_is_one_error_without_line() {
        let path = Path::new("/nonexistent/dnslb/dnslb.toml");
        let errors = load(path).err().map(|errors| errors.0).unwrap_or_default();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].file, path);
        assert_eq!(errors[0].line, None);
        assert_eq!(errors[0].key, "");
        assert!(errors[0].message.starts_with("cannot read config file"));
    }

    #[test]
    fn load_reads_from_disk() {
        let directory =
            std::env::temp_dir().join(format!("dnslb-config-test-{}", std::process::id()));
        let written = std::fs::create_dir_all(&directory).and_then(|()| {
            std::fs::write(
                directory.join("dnslb.toml"),
                zone_text("example.com", "z.zone"),
            )
        });
        assert!(written.is_ok(), "{written:?}");
        let loaded = load(&directory.join("dnslb.toml"));
        let _ = std::fs::remove_dir_all(&directory);
        let config = match loaded {
            Ok(config) => config,
            Err(errors) => panic!("{errors}"),
        };
        assert_eq!(config.zones[0].file, directory.join("z.zone"));
        assert!(matches!(config.source, Source::Disk));
    }

    #[test]
    fn embedded_default_serves_its_zone_file() {
        let config = match embedded_default() {
            Ok(config) => config,
            Err(errors) => panic!("{errors}"),
        };
        assert_eq!(config.path, Path::new(EMBEDDED_CONFIG_PATH));
        assert!(matches!(config.source, Source::Embedded(_)));
        assert_eq!(config.zones.len(), 1);
        let zone = &config.zones[0];
        assert_eq!(zone.file, Path::new("<embedded>/zones/example.com.zone"));
        let zone_text = config.source.read_to_string(&zone.file);
        let expected = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/zones/example.com.zone"
        ));
        assert_eq!(zone_text.ok().as_deref(), Some(expected));
        assert!(
            config
                .source
                .read_to_string(Path::new("zones/example.com.zone"))
                .is_err()
        );
    }

    // ----- the shipped example

    const EXAMPLE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/dnslb.example.toml"));

    #[test]
    fn example_config_values() {
        let config = accepted(EXAMPLE);
        let server = &config.server;
        assert_eq!(
            server.listen,
            vec![
                SocketAddr::from(([127, 0, 0, 1], 5353)),
                SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 5353)),
            ]
        );
        assert_eq!(server.workers, Workers::Auto);
        assert_eq!(server.cpus, None);
        assert_eq!(server.udp_payload, UDP_PAYLOAD_DEFAULT);
        assert_eq!(server.tcp_max_connections, TCP_MAX_CONNECTIONS_DEFAULT);
        assert_eq!(server.tcp_idle_timeout, TCP_IDLE_TIMEOUT_DEFAULT);
        assert_eq!(server.identity, None);
        assert_eq!(server.version, None);
        assert_eq!(config.zones.len(), 1);
        let zone = &config.zones[0];
        assert_eq!(zone.name.as_octets().as_ref(), b"\x07example\x03com\x00");
        assert_eq!(zone.file, Path::new("/etc/dnslb/zones/example.com.zone"));
        let name_line = EXAMPLE
            .lines()
            .position(|line| line.starts_with("name = "))
            .map(|index| index + 1);
        assert_eq!(Some(zone.line), name_line);
    }

    #[test]
    fn example_config_written_values_are_the_defaults() {
        // Removing every set server key but `listen` changes nothing.
        let defaults_only: String = EXAMPLE
            .lines()
            .filter(|line| {
                ![
                    "workers =",
                    "udp_payload =",
                    "tcp_max_connections =",
                    "tcp_idle_timeout =",
                ]
                .iter()
                .any(|key| line.starts_with(key))
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let example = accepted(EXAMPLE).server;
        let defaults = accepted(&defaults_only).server;
        assert_eq!(example.workers, defaults.workers);
        assert_eq!(example.udp_payload, defaults.udp_payload);
        assert_eq!(example.tcp_max_connections, defaults.tcp_max_connections);
        assert_eq!(example.tcp_idle_timeout, defaults.tcp_idle_timeout);
    }

    #[test]
    fn example_config_commented_keys_parse() {
        let uncommented: String = EXAMPLE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with("cpus =")
                        || rest.starts_with("identity =")
                        || rest.starts_with("version =") =>
                {
                    format!("{rest}\n")
                }
                _ => format!("{line}\n"),
            })
            .collect();
        let config = accepted(&uncommented);
        assert_eq!(config.server.cpus, Some(vec![1, 3]));
        assert_eq!(config.server.identity.as_deref(), Some("dns1.example.net"));
        assert_eq!(config.server.version.as_deref(), Some("dnslb"));
    }

    #[test]
    fn example_config_documents_every_key() {
        for key in [
            "listen",
            "workers",
            "cpus",
            "udp_payload",
            "tcp_max_connections",
            "tcp_idle_timeout",
            "identity",
            "version",
            "[[zone]]",
            "name",
            "file",
        ] {
            assert!(
                EXAMPLE.contains(&format!("\n# {key}: ")),
                "dnslb.example.toml does not document {key}"
            );
        }
    }
}
