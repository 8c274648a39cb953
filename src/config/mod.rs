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
//!
//! `admin.listen`, when present, is not one of `server.listen`.
//!
//! Regions, topology and services: region names are distinct and every
//! region index (a region's fallback, a backend's region, a topology network,
//! the default region) is an index into [`Config::regions`]; a region's
//! fallback names neither itself nor any region twice; topology networks
//! have no host bits set and each network maps to exactly one region; service
//! names are absolute, lowercase, distinct and inside one of the zones; a
//! service has 1..=[`BACKENDS_MAX`] distinct backends, either all addresses
//! or all names, and a service with name backends answers one at a time.
//! The topology file, unlike zone files, is read while loading.

mod convert;
pub mod error;
mod locate;
mod raw;
pub mod source;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use domain::base::Name;
use ipnet::IpNet;

pub use convert::{
    HEALTH_DNS_PORT_DEFAULT, HEALTH_FALL_DEFAULT, HEALTH_HTTP_PORT_DEFAULT,
    HEALTH_INTERVAL_DEFAULT, HEALTH_INTERVAL_MAX, HEALTH_INTERVAL_MIN, HEALTH_RISE_DEFAULT,
    HEALTH_TEXT_MAX_BYTES, HEALTH_THRESHOLD_MAX, HEALTH_THRESHOLD_MIN, HEALTH_TIMEOUT_DEFAULT,
    HEALTH_TIMEOUT_MAX, HEALTH_TIMEOUT_MIN, RRL_IPV4_PREFIX_DEFAULT, RRL_IPV6_PREFIX_DEFAULT,
    RRL_RESPONSES_PER_SECOND_DEFAULT, RRL_RESPONSES_PER_SECOND_MAX, RRL_RESPONSES_PER_SECOND_MIN,
    RRL_SLIP_DEFAULT, RRL_SLIP_MAX, RRL_TABLE_SIZE_DEFAULT, RRL_TABLE_SIZE_MAX, RRL_TABLE_SIZE_MIN,
};
pub use error::{LoadError, LoadErrors};
pub use source::Source;

use crate::health::HealthCheck;
pub use crate::rrl::RrlSettings;

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
/// Shortest `server.tcp_total_timeout`.
pub const TCP_TOTAL_TIMEOUT_MIN: Duration = Duration::from_secs(1);
/// Longest `server.tcp_total_timeout`.
pub const TCP_TOTAL_TIMEOUT_MAX: Duration = Duration::from_secs(3600);
/// Default `server.tcp_total_timeout`: two minutes, NSD's `tcp-timeout`
/// (or `tcp_idle_timeout` when that is longer).
pub const TCP_TOTAL_TIMEOUT_DEFAULT: Duration = Duration::from_secs(120);
/// Fewest `server.tcp_max_connections_per_client`.
pub const TCP_MAX_CONNECTIONS_PER_CLIENT_MIN: usize = 1;
/// Most `server.tcp_max_connections_per_client`.
pub const TCP_MAX_CONNECTIONS_PER_CLIENT_MAX: usize = TCP_MAX_CONNECTIONS_MAX;
/// Default `server.tcp_max_connections_per_client`: room for a resolver's
/// pool of connections, a small share of the default table.
pub const TCP_MAX_CONNECTIONS_PER_CLIENT_DEFAULT: NonZeroUsize =
    NonZeroUsize::new(64).expect("the default is not zero");
/// Longest `server.identity` and `server.version`, in bytes: one TXT
/// character-string.
pub const CHAOS_TEXT_MAX_BYTES: usize = 255;

/// Longest `server.user` and `server.group`, in bytes (Linux's
/// `LOGIN_NAME_MAX` less its NUL).
pub const USER_NAME_MAX_BYTES: usize = 255;

/// Default `server.ecs`: honour EDNS Client Subnet.
pub const ECS_DEFAULT: bool = true;
/// Default `admin.listen` when the `[admin]` table is present.
pub const ADMIN_LISTEN_DEFAULT: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8053));
/// Longest `region[i].name`, in bytes (one DNS label).
pub const REGION_NAME_MAX_BYTES: usize = 63;
/// `admin.token` length bounds.
pub const ADMIN_TOKEN_MIN_BYTES: usize = 16;
pub const ADMIN_TOKEN_MAX_BYTES: usize = 256;
/// Fewest `service[i].answers`.
pub const ANSWERS_MIN: usize = 1;
/// Most `service[i].answers`.
pub const ANSWERS_MAX: usize = 16;
/// Default `service[i].answers`.
pub const ANSWERS_DEFAULT: usize = 1;
/// Smallest `service[i].ttl`, in seconds.
pub const SERVICE_TTL_MIN: u32 = 0;
/// Largest `service[i].ttl`, in seconds: one day.
pub const SERVICE_TTL_MAX: u32 = 86_400;
/// Default `service[i].ttl`, in seconds.
pub const SERVICE_TTL_DEFAULT: u32 = 30;
/// Most addresses `service[i].fallback` may hold.
pub const FALLBACK_MAX: usize = 64;
/// Shortest `service[i].hash_prefix_v4`.
pub const HASH_PREFIX_V4_MIN: u8 = 1;
/// Longest `service[i].hash_prefix_v4`.
pub const HASH_PREFIX_V4_MAX: u8 = 32;
/// Default `service[i].hash_prefix_v4`.
pub const HASH_PREFIX_V4_DEFAULT: u8 = 24;
/// Shortest `service[i].hash_prefix_v6`.
pub const HASH_PREFIX_V6_MIN: u8 = 1;
/// Longest `service[i].hash_prefix_v6`.
pub const HASH_PREFIX_V6_MAX: u8 = 128;
/// Default `service[i].hash_prefix_v6`.
pub const HASH_PREFIX_V6_DEFAULT: u8 = 56;
/// Fewest backends a service may have.
pub const BACKENDS_MIN: usize = 1;
/// Most backends a service may have.
pub const BACKENDS_MAX: usize = 4096;
/// Smallest backend `weight`.
pub const WEIGHT_MIN: u32 = 1;
/// Largest backend `weight`.
pub const WEIGHT_MAX: u32 = 1_000_000;
/// Default backend `weight`.
pub const WEIGHT_DEFAULT: u32 = 1;
/// Smallest (most preferred) backend `priority`.
pub const PRIORITY_MIN: u32 = 1;
/// Largest (least preferred) backend `priority`.
pub const PRIORITY_MAX: u32 = 255;
/// Default backend `priority`.
pub const PRIORITY_DEFAULT: u32 = 1;

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
    /// The `[admin]` table; `None` when absent (no admin listener).
    pub admin: Option<AdminConfig>,
    /// The `[[region]]` entries, in file order; other region references are
    /// indices into this list.
    pub regions: Vec<RegionConfig>,
    /// The `[topology]` table merged with every `region[i].networks`.
    pub topology: TopologyConfig,
    /// The `[[service]]` entries, in file order.
    pub services: Vec<ServiceConfig>,
    /// The `[rrl]` table: response rate limiting for UDP; `None` (the
    /// default, no table) means off.
    pub rrl: Option<RrlSettings>,
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
    /// `server.user` and `server.group`: who to run as once the sockets are
    /// bound, resolved while loading; `None` keeps the starting user.
    pub run_as: Option<RunAs>,
    /// `server.udp_payload`: the EDNS UDP payload size we advertise and
    /// honour; [`UDP_PAYLOAD_MIN`]..=[`UDP_PAYLOAD_MAX`].
    pub udp_payload: u16,
    /// `server.tcp_max_connections`: open TCP connections at most;
    /// [`TCP_MAX_CONNECTIONS_MIN`]..=[`TCP_MAX_CONNECTIONS_MAX`].
    pub tcp_max_connections: NonZeroUsize,
    /// `server.tcp_idle_timeout`: how long a TCP connection may sit idle;
    /// [`TCP_IDLE_TIMEOUT_MIN`]..=[`TCP_IDLE_TIMEOUT_MAX`].
    pub tcp_idle_timeout: Duration,
    /// `server.tcp_total_timeout`: how long a TCP connection may stay open;
    /// [`TCP_TOTAL_TIMEOUT_MIN`]..=[`TCP_TOTAL_TIMEOUT_MAX`], and at least
    /// `tcp_idle_timeout`.
    pub tcp_total_timeout: Duration,
    /// `server.tcp_max_connections_per_client`: open TCP connections from
    /// one IP address at most; [`TCP_MAX_CONNECTIONS_PER_CLIENT_MIN`]..=
    /// [`TCP_MAX_CONNECTIONS_PER_CLIENT_MAX`].
    pub tcp_max_connections_per_client: NonZeroUsize,
    /// `server.identity`: the answer to CH TXT `id.server` and
    /// `hostname.bind`; `None` answers REFUSED. At most
    /// [`CHAOS_TEXT_MAX_BYTES`] bytes.
    pub identity: Option<String>,
    /// `server.version`: the answer to CH TXT `version.bind` and
    /// `version.server`; `None` answers REFUSED. At most
    /// [`CHAOS_TEXT_MAX_BYTES`] bytes.
    pub version: Option<String>,
    /// `server.ecs`: whether to honour EDNS Client Subnet (RFC 7871) in
    /// queries; default [`ECS_DEFAULT`].
    pub ecs: bool,
}

/// `server.user` and `server.group`, resolved against the user and group
/// databases when the config is loaded (so `dnslb check` on the node finds a
/// missing user). See `runtime` for when the switch happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    /// `server.user`: the user's name; at most [`USER_NAME_MAX_BYTES`].
    pub user: String,
    /// `server.group`: the group's name when given; at most
    /// [`USER_NAME_MAX_BYTES`]. Without it, the user's primary group and its
    /// supplementary groups are used.
    pub group: Option<String>,
    /// The user's id.
    pub uid: u32,
    /// The group id: `server.group`'s, or the user's primary group.
    pub gid: u32,
}

/// The `[admin]` table: the HTTP admin listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminConfig {
    /// `admin.listen`: where to serve the admin API; default
    /// [`ADMIN_LISTEN_DEFAULT`]; not one of `server.listen`; a loopback
    /// address unless `token` is set.
    pub listen: SocketAddr,
    /// `admin.token`: when set, mutating endpoints require
    /// `Authorization: Bearer <token>`;
    /// [`ADMIN_TOKEN_MIN_BYTES`]..=[`ADMIN_TOKEN_MAX_BYTES`] printable ASCII.
    pub token: Option<String>,
}

/// One `[[region]]` entry: a named group of clients and backends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionConfig {
    /// `region[i].name`: 1..=[`REGION_NAME_MAX_BYTES`] of `a-z`, `0-9`, `_`
    /// and `-`; distinct among regions.
    pub name: String,
    /// `region[i].fallback`: the regions to try, in order, when this one has
    /// no healthy backend; indices into [`Config::regions`], distinct, never
    /// this region's own.
    pub fallback: Vec<usize>,
    /// The 1-based line of this entry's `name` key in the config file.
    pub line: usize,
}

/// Which region each client network belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopologyConfig {
    /// Every network with its region index: first those of
    /// `region[i].networks` in file order, then those of `topology.file` in
    /// line order. No host bits are set; no network appears twice.
    pub networks: Vec<(IpNet, usize)>,
    /// `topology.default_region`: the region of clients in no network.
    pub default_region: Option<usize>,
}

/// The policies and all-down actions, as the balancer defines them (their
/// `name()` is the config spelling).
pub use crate::balancer::{Policy, WhenAllDown};

/// One `[[service]]` entry: a name answered from a balanced set of backends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// `service[i].name`: absolute, lowercase, inside one of the zones;
    /// distinct among services.
    pub name: Name<Bytes>,
    /// `service[i].policy`: how backends are picked.
    pub policy: Policy,
    /// `service[i].answers`: addresses per response;
    /// [`ANSWERS_MIN`]..=[`ANSWERS_MAX`], and 1 with name backends.
    pub answers: usize,
    /// `service[i].ttl`: the answers' TTL in seconds;
    /// [`SERVICE_TTL_MIN`]..=[`SERVICE_TTL_MAX`].
    pub ttl: u32,
    /// `service[i].when_all_down`: the answer with no healthy backend.
    pub when_all_down: WhenAllDown,
    /// `service[i].fallback`: the addresses answered when all backends are
    /// down and `when_all_down` is [`WhenAllDown::Fallback`] (then
    /// non-empty; otherwise empty); distinct, at most [`FALLBACK_MAX`].
    pub fallback: Vec<IpAddr>,
    /// `service[i].hash_prefix_v4`: the IPv4 client subnet length hashed;
    /// [`HASH_PREFIX_V4_MIN`]..=[`HASH_PREFIX_V4_MAX`].
    pub hash_prefix_v4: u8,
    /// `service[i].hash_prefix_v6`: the IPv6 client subnet length hashed;
    /// [`HASH_PREFIX_V6_MIN`]..=[`HASH_PREFIX_V6_MAX`].
    pub hash_prefix_v6: u8,
    /// `service[i].backends`: [`BACKENDS_MIN`]..=[`BACKENDS_MAX`] distinct
    /// targets, all addresses or all names.
    pub backends: Vec<BackendConfig>,
    /// The 1-based line of this entry's `name` key in the config file.
    pub line: usize,
}

/// One entry of `service[i].backends`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendConfig {
    /// What the backend answers with: `address` or `name`.
    pub target: BackendTarget,
    /// `weight`: relative share; [`WEIGHT_MIN`]..=[`WEIGHT_MAX`].
    pub weight: u32,
    /// `priority`: lower is preferred; [`PRIORITY_MIN`]..=[`PRIORITY_MAX`].
    pub priority: u32,
    /// `region`: an index into [`Config::regions`].
    pub region: Option<usize>,
    /// `health`: the service's `health` with this backend's keys applied;
    /// `None` when not probed (always up unless drained).
    pub health: Option<HealthCheck>,
}

/// What a backend answers with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BackendTarget {
    /// `address`: an A or AAAA record.
    Address(IpAddr),
    /// `name`: a CNAME to this absolute, lowercase name (gdnsd's DYNC).
    Name(Name<Bytes>),
}

impl std::fmt::Display for BackendTarget {
    /// As an operator writes it: the address, or the name with its final
    /// dot.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendTarget::Address(address) => address.fmt(formatter),
            BackendTarget::Name(name) if name.is_root() => formatter.write_str("."),
            BackendTarget::Name(name) => write!(formatter, "{name}."),
        }
    }
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
    load_from(path, Source::Disk)
}

/// Reads the config file at `path` through `source` (disk or files in
/// memory) and validates it, its other files read through `source` too.
///
/// # Errors
///
/// As [`load`].
pub fn load_from(path: &Path, source: Source) -> Result<Config, LoadErrors> {
    match source.read_to_string(path) {
        Ok(text) => parse(&text, path, source),
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
/// Zone files are not read here; their paths are only resolved. The
/// topology file (`topology.file`) is read here, through `source`.
///
/// # Errors
///
/// A TOML syntax error, unknown key or wrongly typed value is returned
/// alone; otherwise every missing, out-of-bounds or inconsistent value is
/// returned, in file order (the topology file's problems after the config
/// file's).
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
    use std::str::FromStr;

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

    // ----- [rrl]

    #[test]
    fn rrl_is_off_without_its_table_and_defaults_with_it() {
        assert_eq!(accepted(&server_with("")).rrl, None);
        let on = accepted(&server_with("[rrl]")).rrl.unwrap();
        assert_eq!(
            on,
            RrlSettings {
                responses_per_second: RRL_RESPONSES_PER_SECOND_DEFAULT,
                slip: RRL_SLIP_DEFAULT,
                ipv4_prefix: RRL_IPV4_PREFIX_DEFAULT,
                ipv6_prefix: RRL_IPV6_PREFIX_DEFAULT,
                table_size: RRL_TABLE_SIZE_DEFAULT,
            }
        );
        let set = accepted(&server_with(
            "[rrl]\nresponses_per_second = 5\nslip = 0\nipv4_prefix = 32\nipv6_prefix = 64\ntable_size = 4096",
        ))
        .rrl
        .unwrap();
        assert_eq!(
            (
                set.responses_per_second,
                set.slip,
                set.ipv4_prefix,
                set.ipv6_prefix,
                set.table_size
            ),
            (5, 0, 32, 64, 4096)
        );
    }

    #[test]
    fn rrl_bounds_name_key_and_line() {
        rejected_once(
            &server_with("[rrl]\nresponses_per_second = 0"),
            "rrl.responses_per_second",
            4,
        );
        rejected_once(&server_with("[rrl]\nslip = 101"), "rrl.slip", 4);
        rejected_once(
            &server_with("[rrl]\nipv4_prefix = 33"),
            "rrl.ipv4_prefix",
            4,
        );
        rejected_once(&server_with("[rrl]\nipv6_prefix = 0"), "rrl.ipv6_prefix", 4);
        rejected_once(&server_with("[rrl]\ntable_size = 10"), "rrl.table_size", 4);
        let errors = rejected(&server_with("[rrl]\nburst = 3"));
        assert!(errors[0].to_string().contains("burst"), "{}", errors[0]);
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
        rejected_once(&server_with("\n[admins]\nlisten = \"x\""), "admins", 4);
        rejected_once(&server_with("[[services]]\nname = \"x\""), "services", 3);
        rejected_once(&server_with("[[regions]]\nname = \"x\""), "regions", 3);
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

    // ----- [admin]

    #[test]
    fn admin_absent_default_and_given() {
        assert_eq!(accepted(&server_with("")).admin, None);
        assert_eq!(
            accepted(&server_with("[admin]")).admin,
            Some(AdminConfig {
                listen: ADMIN_LISTEN_DEFAULT,
                token: None,
            })
        );
        assert_eq!(
            ADMIN_LISTEN_DEFAULT,
            SocketAddr::from(([127, 0, 0, 1], 8053))
        );
        assert_eq!(
            accepted(&server_with("[admin]\nlisten = \"[::1]:9000\"")).admin,
            Some(AdminConfig {
                listen: SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 9000)),
                token: None,
            })
        );
    }

    #[test]
    fn admin_listen_errors() {
        let error = rejected_once(
            &server_with("[admin]\nlisten = \"localhost:8053\""),
            "admin.listen",
            4,
        );
        assert!(error.message.contains("\"localhost:8053\""), "{error}");
        rejected_once(&server_with("[admin]\nlisten = 8053"), "admin.listen", 4);
        rejected_once(&server_with("[admin]\nlistn = \"x\""), "admin.listn", 4);
        // Not one of the DNS listen addresses, also when defaulted.
        let error = rejected_once(
            &server_with("[admin]\nlisten = \"127.0.0.1:53\""),
            "admin.listen",
            4,
        );
        assert!(error.message.contains("server.listen"), "{error}");
        rejected_once(
            "[server]\nlisten = [\"127.0.0.1:8053\"]\n[admin]\n",
            "admin.listen",
            3,
        );
    }

    // ----- [[region]]

    /// A valid config with zone `example.com` (lines 3 to 5) followed by
    /// `rest` (from line 6 on).
    fn zone_with(rest: &str) -> String {
        server_with(&format!(
            "[[zone]]\nname = \"example.com\"\nfile = \"a.zone\"\n{rest}"
        ))
    }

    /// As [`zone_with`], plus regions `eu` (lines 6, 7) and `us` (lines 8,
    /// 9); `rest` starts on line 10.
    fn regions_with(rest: &str) -> String {
        zone_with(&format!(
            "[[region]]\nname = \"eu\"\n[[region]]\nname = \"us\"\n{rest}"
        ))
    }

    #[test]
    fn region_names() {
        let config = accepted(&regions_with(""));
        let names: Vec<&str> = config
            .regions
            .iter()
            .map(|region| region.name.as_str())
            .collect();
        assert_eq!(names, vec!["eu", "us"]);
        assert_eq!(config.regions[1].line, 9);
        assert!(config.regions[0].fallback.is_empty());
        let long = "a".repeat(REGION_NAME_MAX_BYTES);
        accepted(&zone_with(&format!("[[region]]\nname = \"{long}\"")));
        accepted(&zone_with("[[region]]\nname = \"us-east_1\""));
        for bad in ["", "EU", "e.u", "eu west", "é", &format!("{long}a")] {
            rejected_once(
                &zone_with(&format!("[[region]]\nname = {bad:?}")),
                "region[0].name",
                7,
            );
        }
        rejected_once(&zone_with("[[region]]\nnetworks = []"), "region[0].name", 6);
        let error = rejected_once(
            &regions_with("[[region]]\nname = \"eu\""),
            "region[2].name",
            11,
        );
        assert!(error.message.contains("duplicate"), "{error}");
        rejected_once(
            &zone_with("[[region]]\nname = \"eu\"\nnetwork = []"),
            "region[0].network",
            8,
        );
    }

    #[test]
    fn region_networks() {
        let config = accepted(&zone_with(
            "[[region]]\nname = \"eu\"\nnetworks = [\"198.51.100.0/24\", \"2001:db8:e0::/48\", \
             \"192.0.2.1/32\", \"0.0.0.0/0\"]",
        ));
        let networks: Vec<(String, usize)> = config
            .topology
            .networks
            .iter()
            .map(|(network, region)| (network.to_string(), *region))
            .collect();
        assert_eq!(
            networks,
            vec![
                ("198.51.100.0/24".to_owned(), 0),
                ("2001:db8:e0::/48".to_owned(), 0),
                ("192.0.2.1/32".to_owned(), 0),
                ("0.0.0.0/0".to_owned(), 0),
            ]
        );
        assert_eq!(config.topology.default_region, None);
    }

    #[test]
    fn region_network_errors() {
        let at = |networks: &str| zone_with(&format!("[[region]]\nname = \"eu\"\n{networks}"));
        let error = rejected_once(
            &at("networks = [\n  \"198.51.100.0/24\",\n  \"198.51.100.7/24\",\n]"),
            "region[0].networks",
            10,
        );
        assert!(error.message.contains("host bits"), "{error}");
        assert!(error.message.contains("198.51.100.0/24"), "{error}");
        rejected_once(
            &at("networks = [\"2001:db8:e0::1/48\"]"),
            "region[0].networks",
            8,
        );
        for bad in ["198.51.100.0", "198.51.100.0/33", "europe", ""] {
            let error = rejected_once(
                &at(&format!("networks = [{bad:?}]")),
                "region[0].networks",
                8,
            );
            assert!(error.message.contains("CIDR"), "{error}");
        }
        rejected_once(
            &at("networks = \"198.51.100.0/24\""),
            "region[0].networks",
            8,
        );
        // The same network for two regions.
        let error = rejected_once(
            &regions_with(
                "[[region]]\nname = \"asia\"\nnetworks = [\"198.51.100.0/24\"]\n\
                 [[region]]\nname = \"sa\"\nnetworks = [\"198.51.100.0/24\"]",
            ),
            "region[3].networks",
            15,
        );
        assert!(error.message.contains("\"asia\""), "{error}");
        assert!(error.message.contains("line 12"), "{error}");
        // The same network twice for one region is kept once.
        let config = accepted(&at("networks = [\"198.51.100.0/24\", \"198.51.100.0/24\"]"));
        assert_eq!(config.topology.networks.len(), 1);
    }

    #[test]
    fn region_fallback() {
        let config = accepted(&zone_with(
            "[[region]]\nname = \"eu\"\nfallback = [\"us\", \"asia\"]\n\
             [[region]]\nname = \"us\"\nfallback = [\"eu\"]\n\
             [[region]]\nname = \"asia\"",
        ));
        assert_eq!(config.regions[0].fallback, vec![1, 2]);
        assert_eq!(config.regions[1].fallback, vec![0]);
        assert!(config.regions[2].fallback.is_empty());
        let error = rejected_once(
            &regions_with("[[region]]\nname = \"asia\"\nfallback = [\"eu\", \"asia\"]"),
            "region[2].fallback",
            12,
        );
        assert!(error.message.contains("itself"), "{error}");
        let error = rejected_once(
            &regions_with("[[region]]\nname = \"asia\"\nfallback = [\"mars\"]"),
            "region[2].fallback",
            12,
        );
        assert!(error.message.contains("unknown region \"mars\""), "{error}");
        assert!(error.message.contains("\"eu\", \"us\""), "{error}");
        let error = rejected_once(
            &regions_with("[[region]]\nname = \"asia\"\nfallback = [\n  \"eu\",\n  \"eu\",\n]"),
            "region[2].fallback",
            14,
        );
        assert!(error.message.contains("duplicate"), "{error}");
        assert!(error.message.contains("line 13"), "{error}");
    }

    #[test]
    fn region_bad_name_reported_once() {
        // A reference to a badly named region does not add an error.
        let errors = rejected(&zone_with(
            "[[region]]\nname = \"EU\"\n[[region]]\nname = \"us\"\nfallback = [\"EU\"]",
        ));
        let keys: Vec<&str> = errors.iter().map(|error| error.key.as_str()).collect();
        assert_eq!(keys, vec!["region[0].name"]);
    }

    // ----- [topology]

    #[test]
    fn topology_default_region() {
        let config = accepted(&regions_with("[topology]\ndefault_region = \"us\""));
        assert_eq!(config.topology.default_region, Some(1));
        assert!(config.topology.networks.is_empty());
        let config = accepted(&regions_with("[topology]"));
        assert_eq!(config.topology, TopologyConfig::default());
        let error = rejected_once(
            &regions_with("[topology]\ndefault_region = \"asia\""),
            "topology.default_region",
            11,
        );
        assert!(error.message.contains("unknown region"), "{error}");
        let error = rejected_once(
            &zone_with("[topology]\ndefault_region = \"eu\""),
            "topology.default_region",
            7,
        );
        assert!(error.message.contains("no [[region]]"), "{error}");
        rejected_once(
            &regions_with("[topology]\ndefault = \"eu\""),
            "topology.default",
            11,
        );
    }

    /// Where topology files of the tests below live.
    const NETS_PATH: &str = "/etc/dnslb/nets.txt";

    /// Parses `config` with `nets.txt` (at [`NETS_PATH`]) holding `nets`.
    fn with_nets(config: &str, nets: &'static str) -> Result<Config, LoadErrors> {
        let files: &'static [(&'static str, &'static str)] =
            Box::leak(Box::new([(NETS_PATH, nets)]));
        parse(config, Path::new(PATH), Source::Embedded(files))
    }

    #[test]
    fn topology_file_merged_with_region_networks() {
        let text = regions_with(
            "networks = [\"203.0.113.0/24\"]\n[topology]\nfile = \"nets.txt\"\n\
             default_region = \"eu\"",
        );
        let nets = "# client networks\n\n198.51.100.0/24 eu\n  2001:db8:e0::/48\teu  # IPv6\n\
                    203.0.113.0/24 us\n192.0.2.0/25 us\n";
        let config = match with_nets(&text, nets) {
            Ok(config) => config,
            Err(errors) => panic!("{errors}"),
        };
        let networks: Vec<(String, usize)> = config
            .topology
            .networks
            .iter()
            .map(|(network, region)| (network.to_string(), *region))
            .collect();
        assert_eq!(
            networks,
            vec![
                ("203.0.113.0/24".to_owned(), 1),
                ("198.51.100.0/24".to_owned(), 0),
                ("2001:db8:e0::/48".to_owned(), 0),
                ("192.0.2.0/25".to_owned(), 1),
            ]
        );
        assert_eq!(config.topology.default_region, Some(0));
    }

    #[test]
    fn topology_file_errors_name_file_and_line() {
        let text = regions_with("networks = [\"203.0.113.0/24\"]\n[topology]\nfile = \"nets.txt\"");
        let nets = "198.51.100.7/24 eu\n\
                    198.51.100.0/24\n\
                    198.51.100.0/24 eu extra\n\
                    # fine\n\
                    europe eu\n\
                    192.0.2.0/24 mars\n\
                    203.0.113.0/24 eu\n\
                    192.0.2.0/25 eu\n\
                    192.0.2.0/25 us\n\
                    192.0.2.0/25 eu\n";
        let errors = with_nets(&text, nets)
            .err()
            .map(|errors| errors.0)
            .unwrap_or_default();
        let found: Vec<(String, Option<usize>, &str)> = errors
            .iter()
            .map(|error| {
                (
                    error.file.display().to_string(),
                    error.line,
                    error.key.as_str(),
                )
            })
            .collect();
        let at = |line: usize| (NETS_PATH.to_owned(), Some(line), "topology");
        assert_eq!(found, vec![at(1), at(2), at(3), at(5), at(6), at(7), at(9)]);
        assert_eq!(
            errors[0].to_string(),
            "/etc/dnslb/nets.txt:1: topology: \"198.51.100.7/24\" has host bits set: \
             write the network as \"198.51.100.0/24\""
        );
        assert!(errors[1].message.contains("1 field"), "{}", errors[1]);
        assert!(errors[2].message.contains("3 fields"), "{}", errors[2]);
        assert!(errors[3].message.contains("CIDR"), "{}", errors[3]);
        assert!(
            errors[4].message.contains("unknown region \"mars\""),
            "{}",
            errors[4]
        );
        // Conflicts with a region's network and with an earlier line.
        assert!(errors[5].message.contains("line 10"), "{}", errors[5]);
        assert!(errors[6].message.contains("nets.txt:8"), "{}", errors[6]);
    }

    #[test]
    fn topology_file_errors_follow_config_errors() {
        let text = regions_with("[topology]\nfile = \"nets.txt\"\n[server.x]");
        let errors = with_nets(&text, "bad eu\n").err().map(|errors| errors.0);
        // A layer 1 error stops before the file is read.
        assert_eq!(errors.map(|errors| errors.len()), Some(1));
        let text = regions_with("[topology]\nfile = \"nets.txt\"\ndefault_region = \"x\"");
        let errors = with_nets(&text, "bad eu\n")
            .err()
            .map(|errors| errors.0)
            .unwrap_or_default();
        let keys: Vec<&str> = errors.iter().map(|error| error.key.as_str()).collect();
        assert_eq!(keys, vec!["topology.default_region", "topology"]);
    }

    #[test]
    fn topology_file_missing_or_empty() {
        let error = rejected_once(
            &regions_with("[topology]\nfile = \"nets.txt\""),
            "topology.file",
            11,
        );
        assert!(
            error.message.contains("cannot read /etc/dnslb/nets.txt"),
            "{error}"
        );
        let text = regions_with("[topology]\nfile = \"other.txt\"");
        let errors = with_nets(&text, "").err().map(|errors| errors.0);
        assert_eq!(
            errors.map(|errors| errors[0].key.clone()).as_deref(),
            Some("topology.file")
        );
        rejected_once(
            &regions_with("[topology]\nfile = \"\""),
            "topology.file",
            11,
        );
        let config = with_nets(&regions_with("[topology]\nfile = \"nets.txt\""), "");
        assert!(config.is_ok_and(|config| config.topology.networks.is_empty()));
    }

    // ----- [[service]]

    /// As [`regions_with`], plus a service `www.example.com` with policy
    /// `weighted` on lines 10 to 12; `body` starts on line 13.
    fn service(body: &str) -> String {
        regions_with(&format!(
            "[[service]]\nname = \"www.example.com\"\npolicy = \"weighted\"\n{body}"
        ))
    }

    /// As [`service`], with `keys` on line 13 and one address backend on
    /// the line after.
    fn service_keys(keys: &str) -> String {
        service(&format!(
            "{keys}\nbackends = [{{ address = \"192.0.2.1\" }}]"
        ))
    }

    fn address(text: &str) -> BackendTarget {
        BackendTarget::Address(text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])))
    }

    fn name(text: &str) -> Name<Bytes> {
        Name::<Bytes>::from_str(text).unwrap_or_else(|_| Name::root_bytes())
    }

    #[test]
    fn service_defaults() {
        let config = accepted(&service_keys(""));
        assert_eq!(config.services.len(), 1);
        let service = &config.services[0];
        assert_eq!(
            service.name.as_octets().as_ref(),
            b"\x03www\x07example\x03com\x00"
        );
        assert_eq!(service.line, 11);
        assert_eq!(service.policy, Policy::Weighted);
        assert_eq!(service.answers, ANSWERS_DEFAULT);
        assert_eq!(service.ttl, SERVICE_TTL_DEFAULT);
        assert_eq!(service.when_all_down, WhenAllDown::All);
        assert!(service.fallback.is_empty());
        assert_eq!(service.hash_prefix_v4, HASH_PREFIX_V4_DEFAULT);
        assert_eq!(service.hash_prefix_v6, HASH_PREFIX_V6_DEFAULT);
        assert_eq!(
            service.backends,
            vec![BackendConfig {
                target: address("192.0.2.1"),
                weight: WEIGHT_DEFAULT,
                priority: PRIORITY_DEFAULT,
                region: None,
                health: None,
            }]
        );
        assert_eq!((ANSWERS_DEFAULT, SERVICE_TTL_DEFAULT), (1, 30));
        assert_eq!((HASH_PREFIX_V4_DEFAULT, HASH_PREFIX_V6_DEFAULT), (24, 56));
        assert_eq!((WEIGHT_DEFAULT, PRIORITY_DEFAULT), (1, 1));
    }

    #[test]
    fn services_may_be_absent() {
        assert!(accepted(&zone_with("")).services.is_empty());
    }

    #[test]
    fn service_name_made_absolute_and_lowercase() {
        for written in ["WWW.Example.com", "www.example.com.", "example.com"] {
            let text = zone_with(&format!(
                "[[service]]\nname = {written:?}\npolicy = \"hash\"\n\
                 backends = [{{ address = \"192.0.2.1\" }}]"
            ));
            let config = accepted(&text);
            let expected = name(&written.to_ascii_lowercase());
            assert_eq!(config.services[0].name, expected);
            assert_eq!(config.services[0].line, 7);
        }
    }

    #[test]
    fn service_name_errors() {
        let at = |written: &str| {
            regions_with(&format!(
                "[[service]]\nname = {written:?}\npolicy = \"hash\"\n\
                 backends = [{{ address = \"192.0.2.1\" }}]"
            ))
        };
        for bad in ["", "a..example.com", ".example.com"] {
            let error = rejected_once(&at(bad), "service[0].name", 11);
            assert!(error.message.contains("not a domain name"), "{error}");
        }
        for outside in ["www.example.net", "com", "."] {
            let error = rejected_once(&at(outside), "service[0].name", 11);
            assert!(error.message.contains("none of the zones"), "{error}");
            assert!(error.message.contains("example.com."), "{error}");
        }
        let error = rejected_once(
            "[server]\nlisten = [\"127.0.0.1:53\"]\n[[service]]\nname = \"a.example\"\n\
             policy = \"hash\"\nbackends = [{ address = \"192.0.2.1\" }]",
            "service[0].name",
            4,
        );
        assert!(error.message.contains("no [[zone]]"), "{error}");
        rejected_once(
            &regions_with(
                "[[service]]\npolicy = \"hash\"\nbackends = [{ address = \"192.0.2.1\" }]",
            ),
            "service[0].name",
            10,
        );
    }

    #[test]
    fn service_duplicates_rejected_case_insensitively() {
        let text = service(
            "backends = [{ address = \"192.0.2.1\" }]\n\
             [[service]]\nname = \"WWW.example.com.\"\npolicy = \"hash\"\n\
             backends = [{ address = \"192.0.2.1\" }]",
        );
        let error = rejected_once(&text, "service[1].name", 15);
        assert!(
            error.message.contains("duplicate service www.example.com."),
            "{error}"
        );
        assert!(error.message.contains("line 11"), "{error}");
    }

    #[test]
    fn service_policy() {
        for (written, policy) in Policy::ALL.map(|policy| (policy.name(), policy)) {
            let text = regions_with(&format!(
                "[[service]]\nname = \"www.example.com\"\npolicy = {written:?}\n\
                 backends = [{{ address = \"192.0.2.1\" }}]"
            ));
            assert_eq!(accepted(&text).services[0].policy, policy);
        }
        let error = rejected_once(
            &regions_with(
                "[[service]]\nname = \"www.example.com\"\npolicy = \"random\"\n\
                 backends = [{ address = \"192.0.2.1\" }]",
            ),
            "service[0].policy",
            12,
        );
        assert!(error.message.contains("round_robin"), "{error}");
        rejected_once(
            &regions_with(
                "[[service]]\nname = \"www.example.com\"\npolicy = \"Weighted\"\n\
                 backends = [{ address = \"192.0.2.1\" }]",
            ),
            "service[0].policy",
            12,
        );
        rejected_once(
            &regions_with(
                "[[service]]\nname = \"www.example.com\"\n\
                 backends = [{ address = \"192.0.2.1\" }]",
            ),
            "service[0].policy",
            10,
        );
    }

    #[test]
    fn service_geo_needs_regions() {
        let text = |prefix: &str| {
            format!(
                "{prefix}[[service]]\nname = \"www.example.com\"\npolicy = \"geo\"\n\
                 backends = [{{ address = \"192.0.2.1\" }}]"
            )
        };
        let error = rejected_once(&zone_with(&text("")), "service[0].policy", 8);
        assert!(error.message.contains("[[region]]"), "{error}");
        accepted(&regions_with(&text("")));
        accepted(&zone_with(&text("[[region]]\nname = \"eu\"\n")));
    }

    #[test]
    fn service_integer_bounds() {
        /// Reads one integer key of a service.
        type Get = fn(&ServiceConfig) -> i64;
        let cases: [(&str, i64, i64, Get); 4] = [
            ("answers", 1, 16, |service| service.answers as i64),
            ("ttl", 0, 86_400, |service| i64::from(service.ttl)),
            ("hash_prefix_v4", 1, 32, |service| {
                i64::from(service.hash_prefix_v4)
            }),
            ("hash_prefix_v6", 1, 128, |service| {
                i64::from(service.hash_prefix_v6)
            }),
        ];
        for (key, low, high, get) in cases {
            let at = |value: i64| service_keys(&format!("{key} = {value}"));
            assert_eq!(get(&accepted(&at(low)).services[0]), low);
            assert_eq!(get(&accepted(&at(high)).services[0]), high);
            let service_key = format!("service[0].{key}");
            let error = rejected_once(&at(low - 1), &service_key, 13);
            assert!(
                error.message.contains(&format!("allowed: {low} to {high}")),
                "{error}"
            );
            rejected_once(&at(high + 1), &service_key, 13);
            rejected_once(&service_keys(&format!("{key} = \"1\"")), &service_key, 13);
        }
        assert_eq!(
            (ANSWERS_MIN, ANSWERS_MAX, SERVICE_TTL_MIN, SERVICE_TTL_MAX),
            (1, 16, 0, 86_400)
        );
    }

    #[test]
    fn service_when_all_down_and_fallback() {
        for (written, choice) in WhenAllDown::ALL.map(|choice| (choice.name(), choice)) {
            let keys = if choice == WhenAllDown::Fallback {
                format!(
                    "when_all_down = {written:?}\nfallback = [\"192.0.2.99\", \"2001:db8::99\"]"
                )
            } else {
                format!("when_all_down = {written:?}")
            };
            let service = &accepted(&service_keys(&keys)).services[0];
            assert_eq!(service.when_all_down, choice);
            if choice == WhenAllDown::Fallback {
                let expected: Vec<IpAddr> = vec![
                    IpAddr::from([192, 0, 2, 99]),
                    IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x99]),
                ];
                assert_eq!(service.fallback, expected);
            }
        }
        let error = rejected_once(
            &service_keys("when_all_down = \"none\""),
            "service[0].when_all_down",
            13,
        );
        assert!(error.message.contains("servfail"), "{error}");
        // Required when when_all_down = "fallback", and only then.
        let error = rejected_once(
            &service_keys("when_all_down = \"fallback\""),
            "service[0].fallback",
            13,
        );
        assert!(error.message.contains("required"), "{error}");
        rejected_once(
            &service_keys("when_all_down = \"fallback\"\nfallback = []"),
            "service[0].fallback",
            14,
        );
        let error = rejected_once(
            &service_keys("fallback = [\"192.0.2.99\"]"),
            "service[0].fallback",
            13,
        );
        assert!(error.message.contains("\"all\""), "{error}");
        accepted(&service_keys("when_all_down = \"empty\"\nfallback = []"));
        // Addresses.
        let fallback =
            |list: &str| service_keys(&format!("when_all_down = \"fallback\"\nfallback = {list}"));
        let error = rejected_once(
            &fallback("[\n  \"192.0.2.99\",\n  \"192.0.2.99:53\",\n]"),
            "service[0].fallback",
            16,
        );
        assert!(error.message.contains("\"192.0.2.99:53\""), "{error}");
        let error = rejected_once(
            &fallback("[\n  \"2001:db8::1\",\n  \"2001:DB8:0::1\",\n]"),
            "service[0].fallback",
            16,
        );
        assert!(error.message.contains("line 15"), "{error}");
        let list = |count: usize| {
            let addresses: Vec<String> = (0..count)
                .map(|index| format!("\"192.0.2.{index}\""))
                .collect();
            format!("[{}]", addresses.join(", "))
        };
        assert_eq!(
            accepted(&fallback(&list(FALLBACK_MAX))).services[0]
                .fallback
                .len(),
            FALLBACK_MAX
        );
        rejected_once(
            &fallback(&list(FALLBACK_MAX + 1)),
            "service[0].fallback",
            14,
        );
    }

    #[test]
    fn backend_keys() {
        let config = accepted(&service(
            "backends = [\n  { address = \"192.0.2.1\", weight = 1000000, priority = 255, \
             region = \"us\" },\n  { address = \"2001:DB8::1\", weight = 1, priority = 1, \
             region = \"eu\" },\n]",
        ));
        assert_eq!(
            config.services[0].backends,
            vec![
                BackendConfig {
                    target: address("192.0.2.1"),
                    weight: WEIGHT_MAX,
                    priority: PRIORITY_MAX,
                    region: Some(1),
                    health: None,
                },
                BackendConfig {
                    target: address("2001:db8::1"),
                    weight: WEIGHT_MIN,
                    priority: PRIORITY_MIN,
                    region: Some(0),
                    health: None,
                },
            ]
        );
        let config = accepted(&service(
            "backends = [{ name = \"Pool-A.Example.NET\" }, { name = \"pool-b.example.net.\" }]",
        ));
        let targets: Vec<BackendTarget> = config.services[0]
            .backends
            .iter()
            .map(|backend| backend.target.clone())
            .collect();
        assert_eq!(
            targets,
            vec![
                BackendTarget::Name(name("pool-a.example.net")),
                BackendTarget::Name(name("pool-b.example.net")),
            ]
        );
    }

    #[test]
    fn backend_as_array_of_tables() {
        let config = accepted(&service(
            "[[service.backends]]\naddress = \"192.0.2.1\"\n\
             [[service.backends]]\naddress = \"192.0.2.2\"\nweight = 3",
        ));
        assert_eq!(config.services[0].backends[1].weight, 3);
        rejected_once(
            &service("[[service.backends]]\naddress = \"192.0.2.1\"\nweight = 0"),
            "service[0].backends[0].weight",
            15,
        );
    }

    #[test]
    fn backend_bounds() {
        let at = |keys: &str| {
            service(&format!(
                "backends = [\n  {{ address = \"192.0.2.2\" }},\n  {{ address = \"192.0.2.1\"{keys} }},\n]"
            ))
        };
        for (key, low, high) in [("weight", 1, 1_000_000), ("priority", 1, 255)] {
            let field = format!("service[0].backends[1].{key}");
            accepted(&at(&format!(", {key} = {low}")));
            accepted(&at(&format!(", {key} = {high}")));
            let error = rejected_once(&at(&format!(", {key} = {}", low - 1)), &field, 15);
            assert!(
                error.message.contains(&format!("allowed: {low} to {high}")),
                "{error}"
            );
            rejected_once(&at(&format!(", {key} = {}", high + 1)), &field, 15);
        }
        let error = rejected_once(
            &at(", region = \"asia\""),
            "service[0].backends[1].region",
            15,
        );
        assert!(error.message.contains("unknown region \"asia\""), "{error}");
        let error = rejected_once(&at(", wieght = 2"), "service[0].backends[1].wieght", 15);
        assert!(error.message.contains("unknown field"), "{error}");
    }

    #[test]
    fn backend_address_xor_name() {
        let error = rejected_once(
            &service("backends = [\n  {},\n]"),
            "service[0].backends[0]",
            14,
        );
        assert!(error.message.contains("address"), "{error}");
        rejected_once(
            &service("backends = [\n  { weight = 2 },\n]"),
            "service[0].backends[0]",
            14,
        );
        let error = rejected_once(
            &service("backends = [\n  { address = \"192.0.2.1\", name = \"a.example.net\" },\n]"),
            "service[0].backends[0]",
            14,
        );
        assert!(error.message.contains("exactly one"), "{error}");
        let error = rejected_once(
            &service("backends = [{ address = \"pool.example.net\" }]"),
            "service[0].backends[0].address",
            13,
        );
        assert!(error.message.contains("not an IP address"), "{error}");
        rejected_once(
            &service("backends = [{ address = \"192.0.2.1:80\" }]"),
            "service[0].backends[0].address",
            13,
        );
        for bad in ["", "a..b", "."] {
            rejected_once(
                &service(&format!("backends = [{{ name = {bad:?} }}]")),
                "service[0].backends[0].name",
                13,
            );
        }
        let error = rejected_once(
            &service("backends = [{ name = \"WWW.example.com\" }]"),
            "service[0].backends[0].name",
            13,
        );
        assert!(error.message.contains("itself"), "{error}");
    }

    #[test]
    fn backends_count() {
        rejected_once(&service(""), "service[0].backends", 10);
        rejected_once(&service("backends = []"), "service[0].backends", 13);
        let list = |count: usize| {
            let backends: Vec<String> = (0..count)
                .map(|index| {
                    format!(
                        "{{ address = \"10.{}.{}.{}\" }}",
                        index >> 16,
                        (index >> 8) & 0xff,
                        index & 0xff
                    )
                })
                .collect();
            service(&format!("backends = [{}]", backends.join(", ")))
        };
        assert_eq!(
            accepted(&list(BACKENDS_MAX)).services[0].backends.len(),
            BACKENDS_MAX
        );
        let error = rejected_once(&list(BACKENDS_MAX + 1), "service[0].backends", 13);
        assert!(error.message.contains("4096"), "{error}");
    }

    #[test]
    fn backends_mixed_rejected() {
        let error = rejected_once(
            &service(
                "backends = [\n  { address = \"192.0.2.1\" },\n  { name = \"a.example.net\" },\n]",
            ),
            "service[0].backends",
            13,
        );
        assert!(
            error.message.contains("all addresses or all names"),
            "{error}"
        );
        assert!(error.message.contains("line 14"), "{error}");
        assert!(error.message.contains("line 15"), "{error}");
        // IPv4 and IPv6 addresses mix freely.
        accepted(&service(
            "backends = [{ address = \"192.0.2.1\" }, { address = \"2001:db8::1\" }]",
        ));
    }

    #[test]
    fn backends_duplicates_rejected() {
        let error = rejected_once(
            &service(
                "backends = [\n  { address = \"2001:db8::1\" },\n  \
                 { address = \"2001:DB8:0:0::1\", weight = 2 },\n]",
            ),
            "service[0].backends[1].address",
            15,
        );
        assert!(
            error.message.contains("duplicate backend 2001:db8::1"),
            "{error}"
        );
        assert!(error.message.contains("line 14"), "{error}");
        let error = rejected_once(
            &service(
                "backends = [\n  { name = \"a.example.net\" },\n  { name = \"A.Example.Net.\" },\n]",
            ),
            "service[0].backends[1].name",
            15,
        );
        assert!(error.message.contains("a.example.net."), "{error}");
    }

    #[test]
    fn name_backends_need_one_answer() {
        accepted(&service_keys("answers = 16"));
        let text = service("answers = 1\nbackends = [{ name = \"a.example.net\" }]");
        assert_eq!(accepted(&text).services[0].answers, 1);
        let error = rejected_once(
            &service("answers = 2\nbackends = [{ name = \"a.example.net\" }]"),
            "service[0].answers",
            13,
        );
        assert!(error.message.contains("CNAME"), "{error}");
    }

    #[test]
    fn name_backends_not_at_zone_apex() {
        let text = regions_with(
            "[[service]]\nname = \"example.com\"\npolicy = \"hash\"\n\
             backends = [{ name = \"a.example.net\" }]",
        );
        let error = rejected_once(&text, "service[0].backends", 13);
        assert!(error.message.contains("apex"), "{error}");
        accepted(&regions_with(
            "[[service]]\nname = \"example.com\"\npolicy = \"hash\"\n\
             backends = [{ address = \"192.0.2.1\" }]",
        ));
    }

    #[test]
    fn service_errors_all_collected_in_order() {
        let text = regions_with(
            "[[service]]\nname = \"www.example.org\"\npolicy = \"geo\"\nanswers = 0\n\
             ttl = -1\nwhen_all_down = \"fallback\"\nbackends = [\n  {},\n  \
             { address = \"192.0.2.1\", region = \"mars\" },\n]",
        );
        let errors = rejected(&text);
        let found: Vec<(&str, Option<usize>)> = errors
            .iter()
            .map(|error| (error.key.as_str(), error.line))
            .collect();
        assert_eq!(
            found,
            vec![
                ("service[0].name", Some(11)),
                ("service[0].answers", Some(13)),
                ("service[0].ttl", Some(14)),
                ("service[0].fallback", Some(15)),
                ("service[0].backends[0]", Some(17)),
                ("service[0].backends[1].region", Some(18)),
            ]
        );
    }

    #[test]
    fn unknown_service_key_rejected() {
        rejected_once(&service_keys("answer = 2"), "service[0].answer", 13);
        rejected_once(
            &service_keys("health = { kind = \"tcp\", port = 80, retries = 2 }"),
            "service[0].health.retries",
            13,
        );
    }

    // ----- health

    /// The checks of `service`'s backends, which must be accepted.
    fn checks(text: &str) -> Vec<Option<HealthCheck>> {
        accepted(text).services[0]
            .backends
            .iter()
            .map(|backend| backend.health.clone())
            .collect()
    }

    #[test]
    fn health_defaults_per_kind() {
        use crate::health::{HttpProbe, ProbeKind};
        assert_eq!(checks(&service_keys("")), vec![None]);
        assert_eq!(
            checks(&service_keys("health = { kind = \"none\" }")),
            vec![None]
        );
        let tcp = checks(&service_keys("health = { kind = \"tcp\", port = 443 }"))[0]
            .clone()
            .unwrap();
        assert_eq!(tcp.kind, ProbeKind::Tcp);
        assert_eq!(tcp.port, 443);
        assert_eq!(tcp.interval, HEALTH_INTERVAL_DEFAULT);
        assert_eq!(tcp.timeout, HEALTH_TIMEOUT_DEFAULT);
        assert_eq!(tcp.thresholds.rise.get(), HEALTH_RISE_DEFAULT);
        assert_eq!(tcp.thresholds.fall.get(), HEALTH_FALL_DEFAULT);
        let http = checks(&service_keys("health = { kind = \"http\" }"))[0]
            .clone()
            .unwrap();
        assert_eq!(http.port, HEALTH_HTTP_PORT_DEFAULT);
        assert_eq!(
            http.kind,
            ProbeKind::Http(HttpProbe {
                path: "/".into(),
                host: "www.example.com".into(),
                expect: vec![200],
                body_contains: None,
                load_header: None,
            })
        );
        let dns = checks(&service_keys(
            "health = { kind = \"dns\", qname = \"Example.COM\", qtype = \"SOA\", rcode = \"nxdomain\" }",
        ))[0]
            .clone()
            .unwrap();
        assert_eq!(dns.port, HEALTH_DNS_PORT_DEFAULT);
        assert_eq!(
            dns.kind,
            ProbeKind::Dns(crate::health::DnsProbe {
                qname: b"\x07example\x03com\x00".to_vec(),
                qtype: 6,
                rcode: 3,
            })
        );
    }

    #[test]
    fn health_backend_keys_override_the_services() {
        use crate::health::ProbeKind;
        let text = service(
            "health = { kind = \"http\", port = 8080, path = \"/healthz\", expect = [200, 204], \
             interval = \"2s\", timeout = \"1s\", rise = 1, fall = 5, load_header = \"X-Load\" }\n\
             backends = [\n\
               { address = \"192.0.2.1\" },\n\
               { address = \"192.0.2.2\", health = { port = 9090, fall = 2 } },\n\
               { address = \"192.0.2.3\", health = { kind = \"tcp\", port = 22 } },\n\
               { address = \"192.0.2.4\", health = { kind = \"none\" } },\n\
             ]",
        );
        let checks = checks(&text);
        let first = checks[0].clone().unwrap();
        assert_eq!((first.port, first.interval), (8080, Duration::from_secs(2)));
        assert_eq!(
            (first.thresholds.rise.get(), first.thresholds.fall.get()),
            (1, 5)
        );
        let ProbeKind::Http(http) = &first.kind else {
            panic!("expected http, got {first:?}")
        };
        assert_eq!(http.path, "/healthz");
        assert_eq!(http.expect, vec![200, 204]);
        assert_eq!(http.load_header.as_deref(), Some("X-Load"));
        let second = checks[1].clone().unwrap();
        assert_eq!((second.port, second.thresholds.fall.get()), (9090, 2));
        assert_eq!(second.kind, first.kind);
        let third = checks[2].clone().unwrap();
        assert_eq!((third.kind.clone(), third.port), (ProbeKind::Tcp, 22));
        assert_eq!(third.interval, Duration::from_secs(2));
        assert_eq!(checks[3], None);
    }

    #[test]
    fn health_errors_name_the_key_where_the_value_was_written() {
        let error = rejected_once(
            &service_keys(
                "health = { kind = \"tcp\", port = 80, interval = \"1s\", timeout = \"1s\" }",
            ),
            "service[0].health.timeout",
            13,
        );
        assert!(error.message.contains("not below the interval"), "{error}");
        rejected_once(
            &service_keys("health = { kind = \"tcp\" }"),
            "service[0].health.port",
            13,
        );
        rejected_once(
            &service_keys("health = { kind = \"udp\" }"),
            "service[0].health.kind",
            13,
        );
        rejected_once(
            &service_keys("health = { kind = \"tcp\", port = 80, rise = 0 }"),
            "service[0].health.rise",
            13,
        );
        rejected_once(
            &service_keys("health = { kind = \"tcp\", port = 70000 }"),
            "service[0].health.port",
            13,
        );
        rejected_once(
            &service_keys("health = { kind = \"tcp\", port = 80, path = \"/x\" }"),
            "service[0].health.path",
            13,
        );
        rejected_once(
            &service_keys("health = { kind = \"http\", path = \"healthz\" }"),
            "service[0].health.path",
            13,
        );
        rejected_once(
            &service_keys("health = { kind = \"http\", expect = [200, 999] }"),
            "service[0].health.expect",
            13,
        );
        rejected_once(
            &service_keys("health = { kind = \"dns\" }"),
            "service[0].health.qname",
            13,
        );
        rejected_once(
            &service_keys("health = { kind = \"dns\", qname = \"a.b\", rcode = \"FINE\" }"),
            "service[0].health.rcode",
            13,
        );
        rejected_once(
            &service_keys("health = { timeout = \"1s\" }"),
            "service[0].health.kind",
            13,
        );
        // A service problem is reported once, however many backends share it.
        let text = service(
            "health = { kind = \"tcp\", port = 0 }\nbackends = [{ address = \"192.0.2.1\" }, \
             { address = \"192.0.2.2\" }]",
        );
        rejected_once(&text, "service[0].health.port", 13);
        // A backend's override is named at the backend.
        let text = service(
            "health = { kind = \"tcp\", port = 80, interval = \"500ms\" }\nbackends = [\
             { address = \"192.0.2.1\", health = { timeout = \"600ms\" } }]",
        );
        rejected_once(&text, "service[0].backends[0].health.timeout", 14);
    }

    #[test]
    fn admin_token_and_non_loopback_listener() {
        let error = rejected_once(
            &server_with("[admin]\nlisten = \"0.0.0.0:8053\""),
            "admin.listen",
            4,
        );
        assert!(error.message.contains("admin.token"), "{error}");
        let config = accepted(&server_with(
            "[admin]\nlisten = \"0.0.0.0:8053\"\ntoken = \"0123456789abcdef0123\"",
        ));
        assert_eq!(
            config.admin.and_then(|admin| admin.token).as_deref(),
            Some("0123456789abcdef0123")
        );
        rejected_once(&server_with("[admin]\ntoken = \"short\""), "admin.token", 4);
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

    /// The 1-based line of the first line of the example equal to `text`.
    fn example_line(text: &str) -> Option<usize> {
        EXAMPLE
            .lines()
            .position(|line| line == text)
            .map(|index| index + 1)
    }

    #[test]
    fn example_config_new_values() {
        let config = accepted(EXAMPLE);
        assert!(config.server.ecs);
        assert_eq!(
            config.admin,
            Some(AdminConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 8053)),
                token: None,
            })
        );
        assert_eq!(
            config.regions,
            vec![
                RegionConfig {
                    name: "eu".to_owned(),
                    fallback: vec![1],
                    line: example_line("name = \"eu\"").unwrap_or_default(),
                },
                RegionConfig {
                    name: "us".to_owned(),
                    fallback: vec![0],
                    line: example_line("name = \"us\"").unwrap_or_default(),
                },
            ]
        );
        let networks: Vec<(String, usize)> = config
            .topology
            .networks
            .iter()
            .map(|(network, region)| (network.to_string(), *region))
            .collect();
        assert_eq!(
            networks,
            vec![
                ("198.51.100.0/24".to_owned(), 0),
                ("2001:db8:e0::/48".to_owned(), 0),
                ("203.0.113.0/24".to_owned(), 1),
            ]
        );
        assert_eq!(config.topology.default_region, None);
        assert_eq!(config.services.len(), 3);
        let local = &config.services[2];
        assert_eq!(local.name, name("local.example.com"));
        let check = local.backends[1].health.clone().expect("probed");
        assert_eq!((check.port, check.thresholds.fall.get()), (8053, 2));
        assert_eq!(
            check.kind,
            crate::health::ProbeKind::Http(crate::health::HttpProbe {
                path: "/status".into(),
                host: "local.example.com".into(),
                expect: vec![200],
                body_contains: None,
                load_header: None,
            })
        );

        let lb = &config.services[0];
        assert_eq!(lb.name, name("lb.example.com"));
        assert_eq!(Some(lb.line), example_line("name = \"lb.example.com\""));
        assert_eq!(lb.policy, Policy::Weighted);
        assert_eq!((lb.answers, lb.ttl), (2, 30));
        assert_eq!(lb.when_all_down, WhenAllDown::All);
        assert!(lb.fallback.is_empty());
        assert_eq!((lb.hash_prefix_v4, lb.hash_prefix_v6), (24, 56));
        let backends: Vec<(BackendTarget, u32, u32, Option<usize>)> = lb
            .backends
            .iter()
            .map(|backend| {
                (
                    backend.target.clone(),
                    backend.weight,
                    backend.priority,
                    backend.region,
                )
            })
            .collect();
        assert_eq!(
            backends,
            vec![
                (address("192.0.2.11"), 10, 1, None),
                (address("192.0.2.12"), 10, 1, None),
                (address("192.0.2.13"), 20, 1, None),
                (address("192.0.2.14"), 40, 1, None),
                (address("2001:db8::11"), 1, 1, None),
                (address("2001:db8::12"), 1, 1, None),
            ]
        );

        let geo = &config.services[1];
        assert_eq!(geo.name, name("geo.example.com"));
        assert_eq!(geo.policy, Policy::Geo);
        assert_eq!((geo.answers, geo.ttl), (1, 30));
        assert_eq!(geo.when_all_down, WhenAllDown::Fallback);
        assert_eq!(geo.fallback, vec![IpAddr::from([192, 0, 2, 99])]);
        let backends: Vec<(BackendTarget, Option<usize>)> = geo
            .backends
            .iter()
            .map(|backend| (backend.target.clone(), backend.region))
            .collect();
        assert_eq!(
            backends,
            vec![
                (address("192.0.2.21"), Some(0)),
                (address("192.0.2.22"), Some(1)),
            ]
        );
        // The embedded default is the same file.
        let embedded = embedded_default().ok();
        assert_eq!(
            embedded.map(|embedded| (embedded.services, embedded.regions)),
            Some((config.services.clone(), config.regions.clone()))
        );
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
                    "tcp_max_connections_per_client =",
                    "tcp_idle_timeout =",
                    "tcp_total_timeout =",
                    "ecs =",
                    "listen = \"127.0.0.1:8053\"",
                    "ttl =",
                    "fallback = []",
                    "hash_prefix_v4 =",
                    "hash_prefix_v6 =",
                    "when_all_down = \"all\"",
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
        assert_eq!(
            example.tcp_max_connections_per_client,
            defaults.tcp_max_connections_per_client
        );
        assert_eq!(example.tcp_total_timeout, defaults.tcp_total_timeout);
        assert_eq!(example.ecs, defaults.ecs);
        let example = accepted(EXAMPLE);
        let defaults = accepted(&defaults_only);
        assert_eq!(example.admin, defaults.admin);
        let without_lines = |services: Vec<ServiceConfig>| -> Vec<ServiceConfig> {
            services
                .into_iter()
                .map(|service| ServiceConfig { line: 0, ..service })
                .collect()
        };
        assert_eq!(
            without_lines(example.services),
            without_lines(defaults.services)
        );
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
    fn example_config_commented_topology_parses() {
        let uncommented: String = EXAMPLE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if rest == "[topology]"
                        || rest.starts_with("file =")
                        || rest.starts_with("default_region =") =>
                {
                    format!("{rest}\n")
                }
                _ => format!("{line}\n"),
            })
            .collect();
        const FILES: &[(&str, &str)] = &[
            ("/etc/dnslb/zones/example.com.zone", ""),
            ("/etc/dnslb/nets.txt", "192.0.2.0/24 us\n"),
        ];
        let config = match parse(&uncommented, Path::new(PATH), Source::Embedded(FILES)) {
            Ok(config) => config,
            Err(errors) => panic!("{errors}"),
        };
        assert_eq!(config.topology.default_region, Some(0));
        assert_eq!(config.topology.networks.len(), 4);
        assert_eq!(
            config
                .topology
                .networks
                .last()
                .map(|(network, region)| (network.to_string(), *region)),
            Some(("192.0.2.0/24".to_owned(), 1))
        );
    }

    #[test]
    fn example_config_documents_every_key() {
        for key in [
            "listen",
            "workers",
            "cpus",
            "udp_payload",
            "tcp_max_connections",
            "tcp_max_connections_per_client",
            "tcp_idle_timeout",
            "tcp_total_timeout",
            "identity",
            "version",
            "[[zone]]",
            "name",
            "file",
            "ecs",
            "[admin]",
            "[[region]]",
            "networks",
            "fallback",
            "[topology]",
            "default_region",
            "[[service]]",
            "policy",
            "answers",
            "ttl",
            "when_all_down",
            "hash_prefix_v4",
            "hash_prefix_v6",
            "backends",
            "address",
            "weight",
            "priority",
            "region",
        ] {
            assert!(
                EXAMPLE.contains(&format!("\n# {key}: ")),
                "dnslb.example.toml does not document {key}"
            );
        }
    }
}
