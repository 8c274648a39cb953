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
//! Secondary zones and catalogs: `[[zone]]` entries with `primaries` are in
//! [`Config::secondaries`], those with `file` in [`Config::zones`] (a zone
//! has exactly one of the two); zone, secondary and catalog names are all
//! distinct; every `tsig` is an index into [`Config::tsig_keys`], whose
//! names are absolute, lowercase and distinct and whose secrets are
//! 1..=[`TSIG_SECRET_MAX_BYTES`] bytes; a [`TransferConfig`] has
//! 1..=[`PRIMARIES_MAX`] distinct primaries and its timers are within
//! [`ZONE_TIMER_MIN`]..=[`ZONE_TIMER_MAX`] with `refresh_min <=
//! refresh_max`. `server.state_dir` is resolved like a zone file's path.
//! Secret files (`tsig[i].secret_file`), like the topology file, are read
//! while loading.
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
//!
//! `[xdp]`, when present: `interface` is a valid Linux interface name;
//! `queues` is "all" or 1..=[`XDP_QUEUE_MAX`] distinct queue numbers, and
//! when `server.cpus` is present it lists at least as many CPUs as
//! `xdp.queues` lists queues; `frame_size` and `ring_size` are powers of two
//! within their bounds.

mod convert;
pub mod error;
#[cfg(test)]
mod example_tests;
mod locate;
mod raw;
pub mod source;
#[cfg(test)]
mod test_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use domain::base::Name;
use ipnet::IpNet;

pub use convert::{
    EXPIRE_MIN_DEFAULT, NOTIFY_FROM_MAX, PRIMARIES_MAX, PRIMARY_PORT_DEFAULT, REFRESH_MAX_DEFAULT,
    REFRESH_MIN_DEFAULT, RETRY_MIN_DEFAULT, TSIG_SECRET_MAX_BYTES, ZONE_TIMER_MAX, ZONE_TIMER_MIN,
};
pub use convert::{
    HEALTH_DNS_PORT_DEFAULT, HEALTH_FALL_DEFAULT, HEALTH_HTTP_PORT_DEFAULT,
    HEALTH_INTERVAL_DEFAULT, HEALTH_INTERVAL_MAX, HEALTH_INTERVAL_MIN, HEALTH_RISE_DEFAULT,
    HEALTH_TEXT_MAX_BYTES, HEALTH_THRESHOLD_MAX, HEALTH_THRESHOLD_MIN, HEALTH_TIMEOUT_DEFAULT,
    HEALTH_TIMEOUT_MAX, HEALTH_TIMEOUT_MIN, RRL_IPV4_PREFIX_DEFAULT, RRL_IPV6_PREFIX_DEFAULT,
    RRL_RESPONSES_PER_SECOND_DEFAULT, RRL_RESPONSES_PER_SECOND_MAX, RRL_RESPONSES_PER_SECOND_MIN,
    RRL_SLIP_DEFAULT, RRL_SLIP_MAX, RRL_TABLE_SIZE_DEFAULT, RRL_TABLE_SIZE_MAX, RRL_TABLE_SIZE_MIN,
    XDP_FRAME_SIZE_DEFAULT, XDP_FRAME_SIZE_MAX, XDP_FRAME_SIZE_MIN, XDP_INTERFACE_MAX_BYTES,
    XDP_QUEUE_MAX, XDP_RING_SIZE_DEFAULT, XDP_RING_SIZE_MAX, XDP_RING_SIZE_MIN,
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
    /// The `[xdp]` table: UDP on one interface answered from AF_XDP sockets;
    /// `None` (the default, no table) means every query goes through the
    /// kernel's sockets.
    pub xdp: Option<XdpConfig>,
    /// The `[[tsig]]` entries, in file order; `tsig` keys elsewhere are
    /// indices into this list.
    pub tsig_keys: Vec<TsigKeyConfig>,
    /// The `[[zone]]` entries with `primaries` (secondary zones), in file
    /// order; [`Config::zones`] holds the others.
    pub secondaries: Vec<SecondaryZoneConfig>,
    /// The `[[catalog]]` entries, in file order.
    pub catalogs: Vec<CatalogConfig>,
}

/// One `[[tsig]]` entry: a TSIG key (RFC 8945) that signs SOA queries and
/// transfers to a primary and authenticates its NOTIFY messages.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKeyConfig {
    /// `tsig[i].name`: the key's name, absolute and lowercase (as it goes
    /// on the wire); distinct among keys.
    pub name: Name<Bytes>,
    /// `tsig[i].algorithm`: the HMAC the key is used with.
    pub algorithm: crate::wire::tsig::Algorithm,
    /// The shared secret, decoded from `tsig[i].secret` or the base64 text
    /// of `tsig[i].secret_file`; 1..=[`TSIG_SECRET_MAX_BYTES`] bytes.
    pub secret: Vec<u8>,
    /// The 1-based line of this entry's `name` key in the config file.
    pub line: usize,
}

impl std::fmt::Debug for TsigKeyConfig {
    /// Leaves the secret out (only its length), so that logging a config
    /// never writes a key.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TsigKeyConfig")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .field("line", &self.line)
            .finish()
    }
}

/// Where and how a secondary zone or a catalog zone is transferred from:
/// the keys `primaries`, `tsig`, `notify_from` and the timers, shared by a
/// secondary `[[zone]]` and a `[[catalog]]` (whose member zones inherit
/// them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferConfig {
    /// `primaries`: the servers the zone is transferred from, tried in
    /// order; 1..=[`PRIMARIES_MAX`] distinct socket addresses, port 53 when
    /// written without one; never port 0 or an unspecified address.
    pub primaries: Vec<SocketAddr>,
    /// `tsig`: the key signing SOA queries and transfers and required on
    /// NOTIFY, as an index into [`Config::tsig_keys`]; `None` for none.
    pub tsig: Option<usize>,
    /// `notify_from`: who may send NOTIFY for the zone; at most
    /// [`NOTIFY_FROM_MAX`] distinct networks with no host bits set (an
    /// address is a host prefix). Default: each primary's address as a host
    /// prefix, each once. Empty: NOTIFY from nobody (the timers alone
    /// refresh the zone).
    pub notify_from: Vec<IpNet>,
    /// The bounds put on the zone's SOA timers.
    pub timers: ZoneTimers,
}

/// The bounds a secondary zone's SOA refresh, retry and expire timers are
/// clamped to (`refresh_min`, `refresh_max`, `retry_min`, `expire_min`);
/// each is [`ZONE_TIMER_MIN`]..=[`ZONE_TIMER_MAX`], and `refresh_min` is at
/// most `refresh_max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneTimers {
    /// `refresh_min`: the shortest time between two SOA checks, whatever
    /// the SOA's refresh; default [`REFRESH_MIN_DEFAULT`].
    pub refresh_min: Duration,
    /// `refresh_max`: the longest time between two SOA checks, whatever the
    /// SOA's refresh; default [`REFRESH_MAX_DEFAULT`].
    pub refresh_max: Duration,
    /// `retry_min`: the shortest time before retrying a failed check or
    /// transfer, whatever the SOA's retry; default [`RETRY_MIN_DEFAULT`].
    pub retry_min: Duration,
    /// `expire_min`: the shortest time a zone is served without a
    /// successful check before it expires, whatever the SOA's expire;
    /// default [`EXPIRE_MIN_DEFAULT`].
    pub expire_min: Duration,
}

impl Default for ZoneTimers {
    /// Every timer at its default.
    fn default() -> Self {
        ZoneTimers {
            refresh_min: REFRESH_MIN_DEFAULT,
            refresh_max: REFRESH_MAX_DEFAULT,
            retry_min: RETRY_MIN_DEFAULT,
            expire_min: EXPIRE_MIN_DEFAULT,
        }
    }
}

/// One `[[zone]]` entry with `primaries`: a zone transferred from its
/// primaries (AXFR, then IXFR) and served as a secondary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecondaryZoneConfig {
    /// `zone[i].name`: the zone's apex, absolute and lowercase; distinct
    /// among zones (file or secondary) and catalogs.
    pub name: Name<Bytes>,
    /// Where and how it is transferred from.
    pub transfer: TransferConfig,
    /// The 1-based line of this entry's `name` key in the config file.
    pub line: usize,
}

/// One `[[catalog]]` entry: a catalog zone (RFC 9432) transferred from its
/// primaries, whose member zones are served as secondaries with the same
/// transfer settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogConfig {
    /// `catalog[i].name`: the catalog zone's apex, absolute and lowercase;
    /// distinct among zones (file or secondary) and catalogs.
    pub name: Name<Bytes>,
    /// Where and how the catalog, and each of its members, is transferred
    /// from.
    pub transfer: TransferConfig,
    /// The 1-based line of this entry's `name` key in the config file.
    pub line: usize,
}

/// The `[xdp]` table: which interface and rx queues get an AF_XDP socket
/// and XDP worker, and how their UMEM and rings are sized. UDP to the
/// listen addresses and ports arriving on those queues is answered by the
/// XDP workers; everything else (TCP, other traffic, queues without a
/// socket) stays with the kernel and the socket workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdpConfig {
    /// `xdp.interface`: the network interface the XDP program is attached
    /// to; a Linux interface name: 1..=[`XDP_INTERFACE_MAX_BYTES`] bytes,
    /// not `.` or `..`, without `/`, `:`, whitespace or control characters.
    pub interface: String,
    /// `xdp.queues`: the rx queues that get an XDP worker each.
    pub queues: XdpQueues,
    /// `xdp.zero_copy`: whether the sockets bind in zero-copy mode.
    pub zero_copy: ZeroCopy,
    /// `xdp.frame_size`: bytes per UMEM frame; a power of two,
    /// [`XDP_FRAME_SIZE_MIN`]..=[`XDP_FRAME_SIZE_MAX`] (default
    /// [`XDP_FRAME_SIZE_DEFAULT`]).
    pub frame_size: u32,
    /// `xdp.ring_size`: entries in each ring of a socket (rx, tx, fill,
    /// completion); a power of two,
    /// [`XDP_RING_SIZE_MIN`]..=[`XDP_RING_SIZE_MAX`] (default
    /// [`XDP_RING_SIZE_DEFAULT`]).
    pub ring_size: u32,
}

/// `xdp.queues`: which rx queues of the interface get an XDP worker, each
/// pinned to the next CPU of `server.cpus` (in order) when that is present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XdpQueues {
    /// `"all"` (the default): every rx queue the interface has.
    All,
    /// These queues, in the order written: non-empty, distinct, each at
    /// most [`XDP_QUEUE_MAX`]; never more than `server.cpus` lists CPUs.
    List(Vec<u32>),
}

/// `xdp.zero_copy`: how the AF_XDP sockets bind to their queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroCopy {
    /// `"auto"` (the default): zero-copy where the driver supports it,
    /// copy mode otherwise.
    Auto,
    /// `"on"`: zero-copy only; a driver without it is a start error.
    On,
    /// `"off"`: copy mode only.
    Off,
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
    /// `server.state_dir`: the directory transferred zones are kept in and
    /// read back from at start, resolved against the config file's
    /// directory when relative; `None` keeps them in memory only.
    pub state_dir: Option<PathBuf>,
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
    use super::*;
    use test_support::{PATH, accepted, server_with, zone_text};

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
}
