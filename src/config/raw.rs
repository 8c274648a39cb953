//! Layer 1 of config loading: a serde mirror of the TOML file.
//!
//! These structs accept exactly the keys the file may hold
//! (`deny_unknown_fields` everywhere) and keep each value's byte span
//! (`toml::Spanned`) so that layer 2 (`convert`) can name the line of any
//! problem it finds. Nothing here checks meaning or bounds: integers are kept
//! as TOML's `i64`, durations and addresses as strings, and every key is
//! optional, so that layer 2 can report a missing required key together with
//! every other problem instead of stopping at the first.
//!
//! Extending the file: add a field to [`RawConfig`] per new top-level table
//! (`[admin]`) or array of tables (`[[service]]`), with its own
//! `deny_unknown_fields` struct, and convert it in `convert`.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use toml::Spanned;

use super::error::LoadError;
use super::locate::{self, LineIndex};

/// The whole config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    /// `[server]`: required (its `listen` key is).
    pub(super) server: Option<Spanned<RawServer>>,
    /// `[admin]`: optional.
    pub(super) admin: Option<Spanned<RawAdmin>>,
    /// `[[zone]]`: zero or more.
    #[serde(default)]
    pub(super) zone: Vec<Spanned<RawZone>>,
    /// `[[region]]`: zero or more.
    #[serde(default)]
    pub(super) region: Vec<Spanned<RawRegion>>,
    /// `[topology]`: optional.
    pub(super) topology: Option<Spanned<RawTopology>>,
    /// `[[service]]`: zero or more.
    #[serde(default)]
    pub(super) service: Vec<Spanned<RawService>>,
    /// `[rrl]`: optional; present turns response rate limiting on.
    pub(super) rrl: Option<Spanned<RawRrl>>,
    /// `[xdp]`: optional; present answers UDP on one interface from AF_XDP.
    pub(super) xdp: Option<Spanned<RawXdp>>,
    /// `[[tsig]]`: zero or more.
    #[serde(default)]
    pub(super) tsig: Vec<Spanned<RawTsig>>,
    /// `[[catalog]]`: zero or more.
    #[serde(default)]
    pub(super) catalog: Vec<Spanned<RawCatalog>>,
}

/// One `[[tsig]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTsig {
    /// `name`: the key's name, a domain name.
    pub(super) name: Option<Spanned<String>>,
    /// `algorithm`: "hmac-sha256", "hmac-sha384" or "hmac-sha512".
    pub(super) algorithm: Option<Spanned<String>>,
    /// `secret`: the key in base64.
    pub(super) secret: Option<Spanned<String>>,
    /// `secret_file`: the path of a file holding the key in base64.
    pub(super) secret_file: Option<Spanned<String>>,
}

/// One `[[catalog]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalog {
    /// `name`: the catalog zone's apex in presentation format.
    pub(super) name: Option<Spanned<String>>,
    /// `primaries`: socket or IP addresses as strings.
    pub(super) primaries: Option<Spanned<Vec<Spanned<String>>>>,
    /// `tsig`: a `[[tsig]]` name.
    pub(super) tsig: Option<Spanned<String>>,
    /// `notify_from`: IP addresses or CIDR prefixes as strings.
    pub(super) notify_from: Option<Spanned<Vec<Spanned<String>>>>,
    /// `refresh_min`: a humantime duration string.
    pub(super) refresh_min: Option<Spanned<String>>,
    /// `refresh_max`: a humantime duration string.
    pub(super) refresh_max: Option<Spanned<String>>,
    /// `retry_min`: a humantime duration string.
    pub(super) retry_min: Option<Spanned<String>>,
    /// `expire_min`: a humantime duration string.
    pub(super) expire_min: Option<Spanned<String>>,
}

impl RawCatalog {
    /// The keys saying where and how the catalog is transferred from.
    pub(super) fn transfer(&mut self) -> RawTransfer {
        RawTransfer {
            primaries: self.primaries.take(),
            tsig: self.tsig.take(),
            notify_from: self.notify_from.take(),
            refresh_min: self.refresh_min.take(),
            refresh_max: self.refresh_max.take(),
            retry_min: self.retry_min.take(),
            expire_min: self.expire_min.take(),
        }
    }
}

/// The keys a secondary `[[zone]]` and a `[[catalog]]` share: where and how
/// the zone is transferred from. Not deserialized itself: taken out of
/// [`RawZone`] or [`RawCatalog`].
#[derive(Debug, Default)]
pub(super) struct RawTransfer {
    /// `primaries`: socket or IP addresses as strings.
    pub(super) primaries: Option<Spanned<Vec<Spanned<String>>>>,
    /// `tsig`: a `[[tsig]]` name.
    pub(super) tsig: Option<Spanned<String>>,
    /// `notify_from`: IP addresses or CIDR prefixes as strings.
    pub(super) notify_from: Option<Spanned<Vec<Spanned<String>>>>,
    /// `refresh_min`: a humantime duration string.
    pub(super) refresh_min: Option<Spanned<String>>,
    /// `refresh_max`: a humantime duration string.
    pub(super) refresh_max: Option<Spanned<String>>,
    /// `retry_min`: a humantime duration string.
    pub(super) retry_min: Option<Spanned<String>>,
    /// `expire_min`: a humantime duration string.
    pub(super) expire_min: Option<Spanned<String>>,
}

/// The `[xdp]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawXdp {
    /// `interface`: the network interface's name.
    pub(super) interface: Option<Spanned<String>>,
    /// `queues`: `"all"` or rx queue numbers.
    pub(super) queues: Option<Spanned<RawQueues>>,
    /// `zero_copy`: "auto", "on" or "off".
    pub(super) zero_copy: Option<Spanned<String>>,
    /// `frame_size`: bytes per UMEM frame.
    pub(super) frame_size: Option<Spanned<i64>>,
    /// `ring_size`: entries per ring.
    pub(super) ring_size: Option<Spanned<i64>>,
}

/// The `[rrl]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRrl {
    /// `responses_per_second`: per bucket.
    pub(super) responses_per_second: Option<Spanned<i64>>,
    /// `slip`: every slip-th limited response is sent truncated.
    pub(super) slip: Option<Spanned<i64>>,
    /// `ipv4_prefix`: bits of an IPv4 client address that form its bucket.
    pub(super) ipv4_prefix: Option<Spanned<i64>>,
    /// `ipv6_prefix`: bits of an IPv6 client address that form its bucket.
    pub(super) ipv6_prefix: Option<Spanned<i64>>,
    /// `table_size`: buckets.
    pub(super) table_size: Option<Spanned<i64>>,
}

/// The `[server]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    /// `listen`: socket addresses as strings.
    pub(super) listen: Option<Spanned<Vec<Spanned<String>>>>,
    /// `workers`: `"auto"` or an integer.
    pub(super) workers: Option<Spanned<RawWorkers>>,
    /// `cpus`: CPU indices.
    pub(super) cpus: Option<Spanned<Vec<Spanned<i64>>>>,
    /// `user`: the user to switch to after binding, as a name.
    pub(super) user: Option<Spanned<String>>,
    /// `group`: the group to switch to, as a name.
    pub(super) group: Option<Spanned<String>>,
    /// `udp_payload`: bytes.
    pub(super) udp_payload: Option<Spanned<i64>>,
    /// `tcp_max_connections`: a count.
    pub(super) tcp_max_connections: Option<Spanned<i64>>,
    /// `tcp_idle_timeout`: a humantime duration string.
    pub(super) tcp_idle_timeout: Option<Spanned<String>>,
    /// `tcp_total_timeout`: a humantime duration string.
    pub(super) tcp_total_timeout: Option<Spanned<String>>,
    /// `tcp_max_connections_per_client`: a count.
    pub(super) tcp_max_connections_per_client: Option<Spanned<i64>>,
    /// `identity`: CHAOS TXT answer text.
    pub(super) identity: Option<Spanned<String>>,
    /// `version`: CHAOS TXT answer text.
    pub(super) version: Option<Spanned<String>>,
    /// `ecs`: whether to honour EDNS Client Subnet.
    pub(super) ecs: Option<bool>,
    /// `state_dir`: where transferred zones are kept, as a path.
    pub(super) state_dir: Option<Spanned<String>>,
}

/// The `[admin]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    /// `listen`: a socket address as a string.
    pub(super) listen: Option<Spanned<String>>,
    /// `token`: the bearer token mutating endpoints require.
    pub(super) token: Option<Spanned<String>>,
}

/// One `[[zone]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawZone {
    /// `name`: the zone's apex in presentation format.
    pub(super) name: Option<Spanned<String>>,
    /// `file`: the zone file's path.
    pub(super) file: Option<Spanned<String>>,
    /// `primaries`: socket or IP addresses as strings (a secondary zone).
    pub(super) primaries: Option<Spanned<Vec<Spanned<String>>>>,
    /// `tsig`: a `[[tsig]]` name.
    pub(super) tsig: Option<Spanned<String>>,
    /// `notify_from`: IP addresses or CIDR prefixes as strings.
    pub(super) notify_from: Option<Spanned<Vec<Spanned<String>>>>,
    /// `refresh_min`: a humantime duration string.
    pub(super) refresh_min: Option<Spanned<String>>,
    /// `refresh_max`: a humantime duration string.
    pub(super) refresh_max: Option<Spanned<String>>,
    /// `retry_min`: a humantime duration string.
    pub(super) retry_min: Option<Spanned<String>>,
    /// `expire_min`: a humantime duration string.
    pub(super) expire_min: Option<Spanned<String>>,
}

impl RawZone {
    /// The keys saying where and how a secondary zone is transferred from.
    pub(super) fn transfer(&mut self) -> RawTransfer {
        RawTransfer {
            primaries: self.primaries.take(),
            tsig: self.tsig.take(),
            notify_from: self.notify_from.take(),
            refresh_min: self.refresh_min.take(),
            refresh_max: self.refresh_max.take(),
            retry_min: self.retry_min.take(),
            expire_min: self.expire_min.take(),
        }
    }
}

/// One `[[region]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegion {
    /// `name`: the region's name.
    pub(super) name: Option<Spanned<String>>,
    /// `networks`: CIDRs as strings.
    pub(super) networks: Option<Vec<Spanned<String>>>,
    /// `fallback`: region names.
    pub(super) fallback: Option<Vec<Spanned<String>>>,
}

/// The `[topology]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTopology {
    /// `file`: the path of a `CIDR REGION` per line file.
    pub(super) file: Option<Spanned<String>>,
    /// `default_region`: a region name.
    pub(super) default_region: Option<Spanned<String>>,
}

/// One `[[service]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    /// `name`: the service's domain name in presentation format.
    pub(super) name: Option<Spanned<String>>,
    /// `policy`: the balancing policy's name.
    pub(super) policy: Option<Spanned<String>>,
    /// `answers`: addresses per response.
    pub(super) answers: Option<Spanned<i64>>,
    /// `ttl`: seconds.
    pub(super) ttl: Option<Spanned<i64>>,
    /// `when_all_down`: what to answer with no healthy backend.
    pub(super) when_all_down: Option<Spanned<String>>,
    /// `fallback`: IP addresses as strings.
    pub(super) fallback: Option<Spanned<Vec<Spanned<String>>>>,
    /// `hash_prefix_v4`: prefix length.
    pub(super) hash_prefix_v4: Option<Spanned<i64>>,
    /// `hash_prefix_v6`: prefix length.
    pub(super) hash_prefix_v6: Option<Spanned<i64>>,
    /// `backends`: the backends, usually an inline array of inline tables.
    pub(super) backends: Option<Spanned<Vec<Spanned<RawBackend>>>>,
    /// `health`: how every backend is checked (a backend may override keys).
    pub(super) health: Option<Spanned<RawHealth>>,
}

/// A `health` table, of a service or of one backend (whose keys override the
/// service's, one by one).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealth {
    /// `kind`: "tcp", "http", "dns" or "none".
    pub(super) kind: Option<Spanned<String>>,
    /// `port`: the port probed.
    pub(super) port: Option<Spanned<i64>>,
    /// `interval`: a humantime duration string.
    pub(super) interval: Option<Spanned<String>>,
    /// `timeout`: a humantime duration string.
    pub(super) timeout: Option<Spanned<String>>,
    /// `rise`: successes in a row to come up.
    pub(super) rise: Option<Spanned<i64>>,
    /// `fall`: failures in a row to go down.
    pub(super) fall: Option<Spanned<i64>>,
    /// `path`: http request path.
    pub(super) path: Option<Spanned<String>>,
    /// `host`: http Host header.
    pub(super) host: Option<Spanned<String>>,
    /// `expect`: http statuses counted healthy.
    pub(super) expect: Option<Spanned<Vec<Spanned<i64>>>>,
    /// `body_contains`: text the http body must contain.
    pub(super) body_contains: Option<Spanned<String>>,
    /// `load_header`: http response header carrying the backend's load.
    pub(super) load_header: Option<Spanned<String>>,
    /// `qname`: dns query name.
    pub(super) qname: Option<Spanned<String>>,
    /// `qtype`: dns query type.
    pub(super) qtype: Option<Spanned<String>>,
    /// `rcode`: dns response code expected.
    pub(super) rcode: Option<Spanned<String>>,
}

/// One entry of `service[i].backends`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackend {
    /// `address`: an IP address as a string.
    pub(super) address: Option<Spanned<String>>,
    /// `name`: a domain name (a CNAME target).
    pub(super) name: Option<Spanned<String>>,
    /// `weight`: relative share.
    pub(super) weight: Option<Spanned<i64>>,
    /// `priority`: lower is preferred.
    pub(super) priority: Option<Spanned<i64>>,
    /// `region`: a region name.
    pub(super) region: Option<Spanned<String>>,
    /// `health`: keys overriding the service's `health`.
    pub(super) health: Option<Spanned<RawHealth>>,
}

/// The `workers` value as written: any string (checked for `"auto"` in
/// layer 2, so a bad string is named precisely) or any integer.
#[derive(Debug)]
pub(super) enum RawWorkers {
    /// A string; only `"auto"` is valid.
    Text(String),
    /// An integer, not yet bounds-checked.
    Integer(i64),
}

impl<'de> Deserialize<'de> for RawWorkers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawWorkersVisitor)
    }
}

/// Accepts a string or an integer for [`RawWorkers`].
struct RawWorkersVisitor;

impl Visitor<'_> for RawWorkersVisitor {
    type Value = RawWorkers;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("\"auto\" or an integer")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RawWorkers, E> {
        Ok(RawWorkers::Text(value.to_owned()))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawWorkers, E> {
        Ok(RawWorkers::Integer(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawWorkers, E> {
        i64::try_from(value)
            .map(RawWorkers::Integer)
            .map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
    }
}

/// The `queues` value as written: any string (checked for `"all"` in
/// layer 2, so a bad string is named precisely) or an array of integers,
/// each with its span.
#[derive(Debug)]
pub(super) enum RawQueues {
    /// A string; only `"all"` is valid.
    Text(String),
    /// Queue numbers, not yet bounds-checked.
    List(Vec<Spanned<i64>>),
}

impl<'de> Deserialize<'de> for RawQueues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawQueuesVisitor)
    }
}

/// Accepts a string or an array of integers for [`RawQueues`].
struct RawQueuesVisitor;

impl<'de> Visitor<'de> for RawQueuesVisitor {
    type Value = RawQueues;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("\"all\" or an array of queue numbers")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RawQueues, E> {
        Ok(RawQueues::Text(value.to_owned()))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawQueues, A::Error> {
        let mut queues = Vec::new();
        while let Some(queue) = seq.next_element::<Spanned<i64>>()? {
            queues.push(queue);
        }
        Ok(RawQueues::List(queues))
    }
}

/// Deserializes `text` (the file at `path`) into the raw mirror.
///
/// A TOML syntax error, an unknown key or a value of the wrong type becomes
/// one [`LoadError`] with the line of the offending text and, when the text
/// is valid TOML, the dotted key there.
pub(super) fn from_str(text: &str, path: &Path) -> Result<RawConfig, LoadError> {
    toml::from_str(text).map_err(|error| {
        let span = error.span();
        let line = span
            .as_ref()
            .map(|span| LineIndex::new(text).line(span.start));
        let key = span
            .as_ref()
            .and_then(|span| {
                locate::key_path_at(text, span.start).or_else(|| {
                    (error.message() == "duplicate key")
                        .then(|| locate::duplicate_key_path(text, span))
                        .flatten()
                })
            })
            .unwrap_or_default();
        LoadError::new(path, line, key, error.message().trim_end())
    })
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{rejected, rejected_once, server_with};

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
}
