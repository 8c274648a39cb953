//! Converts the keys a secondary `[[zone]]` and a `[[catalog]]` share into
//! a [`TransferConfig`]: `primaries`, `tsig`, `notify_from` and the timers
//! `refresh_min`, `refresh_max`, `retry_min` and `expire_min`.
//!
//! Checks: `primaries` is required and holds 1..=[`PRIMARIES_MAX`] distinct
//! addresses, each `"IPv4:port"`, `"[IPv6]:port"` or an IP address alone
//! (port [`PRIMARY_PORT_DEFAULT`]), never port 0 or an unspecified address;
//! `tsig` names a `[[tsig]]` key; `notify_from` holds at most
//! [`NOTIFY_FROM_MAX`] distinct IP addresses or CIDR networks with no host
//! bits set (default: each primary's address); each timer is a duration in
//! [`ZONE_TIMER_MIN`]..=[`ZONE_TIMER_MAX`], and `refresh_min` is at most
//! `refresh_max`. On a zone served from a file, every one of these keys but
//! `primaries` (checked in `zones`) is an error: they apply to secondaries
//! only.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use domain::base::Name;
use ipnet::IpNet;
use toml::Spanned;

use super::super::raw::RawTransfer;
use super::super::{TransferConfig, ZoneTimers};
use super::{Checker, absolute, domain_name};

/// The port of a primary written without one.
pub const PRIMARY_PORT_DEFAULT: u16 = 53;
/// Most addresses `primaries` may hold.
pub const PRIMARIES_MAX: usize = 64;
/// Most entries `notify_from` may hold.
pub const NOTIFY_FROM_MAX: usize = 256;
/// Shortest value of each timer (`refresh_min`, `refresh_max`, `retry_min`,
/// `expire_min`).
pub const ZONE_TIMER_MIN: Duration = Duration::from_secs(1);
/// Longest value of each timer: 30 days.
pub const ZONE_TIMER_MAX: Duration = Duration::from_secs(30 * 86_400);
/// Default `refresh_min`.
pub const REFRESH_MIN_DEFAULT: Duration = Duration::from_secs(5);
/// Default `refresh_max`: one day.
pub const REFRESH_MAX_DEFAULT: Duration = Duration::from_secs(86_400);
/// Default `retry_min`.
pub const RETRY_MIN_DEFAULT: Duration = Duration::from_secs(5);
/// Default `expire_min`: one hour.
pub const EXPIRE_MIN_DEFAULT: Duration = Duration::from_secs(3600);

/// What a `primaries` entry names: a socket address, port
/// [`PRIMARY_PORT_DEFAULT`] when written without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Primary(SocketAddr);

impl FromStr for Primary {
    type Err = String;

    /// Parses `"192.0.2.53:53"`, `"[2001:db8::53]:53"`, `"192.0.2.53"`,
    /// `"2001:db8::53"` or `"[2001:db8::53]"`; refuses port 0 and the
    /// unspecified addresses, which no primary can be reached at.
    fn from_str(text: &str) -> Result<Self, String> {
        let address = match SocketAddr::from_str(text) {
            Ok(address) => address,
            Err(_) => {
                let bare = text
                    .strip_prefix('[')
                    .and_then(|rest| rest.strip_suffix(']'))
                    .unwrap_or(text);
                let ip = IpAddr::from_str(bare).map_err(|_| {
                    "not an IP address, with or without a port; names are not resolved".to_owned()
                })?;
                SocketAddr::new(ip, PRIMARY_PORT_DEFAULT)
            }
        };
        if address.port() == 0 {
            return Err("port 0 cannot be connected to".to_owned());
        }
        if address.ip().is_unspecified() {
            return Err("the unspecified address cannot be connected to".to_owned());
        }
        Ok(Primary(address))
    }
}

/// What a `notify_from` entry names: an IP address (a host prefix) or a
/// network with no host bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NotifySource(IpNet);

impl FromStr for NotifySource {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Ok(ip) = IpAddr::from_str(text) {
            return Ok(NotifySource(IpNet::from(ip)));
        }
        let network = IpNet::from_str(text)
            .map_err(|_| "neither an IP address nor a network in CIDR notation".to_owned())?;
        if network.trunc() != network {
            return Err(format!(
                "host bits set: write the network as {:?}",
                network.trunc().to_string()
            ));
        }
        Ok(NotifySource(network))
    }
}

impl Checker<'_> {
    /// Converts the transfer keys of the entry `prefix` (`zone[1]`,
    /// `catalog[0]`) whose header is at `header`; `tsig_names` are the
    /// `[[tsig]]` names, in order. `None` when any has an error (recorded).
    pub(super) fn transfer(
        &mut self,
        prefix: &str,
        header: &Range<usize>,
        mut raw: RawTransfer,
        tsig_names: &[Name<Bytes>],
    ) -> Option<TransferConfig> {
        let primaries = self.primaries(prefix, header, raw.primaries.take());
        let tsig = match &raw.tsig {
            None => Some(None),
            Some(tsig) => self
                .tsig_reference(&format!("{prefix}.tsig"), tsig, tsig_names)
                .map(Some),
        };
        let notify_from = match raw.notify_from.take() {
            Some(notify_from) => self.notify_from(prefix, &notify_from),
            None => primaries.as_ref().map(|primaries| {
                let mut networks: Vec<IpNet> = Vec::with_capacity(primaries.len());
                for primary in primaries {
                    let network = IpNet::from(primary.ip());
                    if !networks.contains(&network) {
                        networks.push(network);
                    }
                }
                networks
            }),
        };
        let timers = self.timers(prefix, &raw);
        Some(TransferConfig {
            primaries: primaries?,
            tsig: tsig?,
            notify_from: notify_from?,
            timers: timers?,
        })
    }

    /// Records an error for each transfer key but `primaries` present on
    /// `prefix`, a zone served from a file: they apply to secondaries only.
    pub(super) fn no_transfer_keys(&mut self, prefix: &str, raw: &RawTransfer) {
        let spans = [
            ("tsig", raw.tsig.as_ref().map(Spanned::span)),
            ("notify_from", raw.notify_from.as_ref().map(Spanned::span)),
            ("refresh_min", raw.refresh_min.as_ref().map(Spanned::span)),
            ("refresh_max", raw.refresh_max.as_ref().map(Spanned::span)),
            ("retry_min", raw.retry_min.as_ref().map(Spanned::span)),
            ("expire_min", raw.expire_min.as_ref().map(Spanned::span)),
        ];
        for (key, span) in spans {
            if let Some(span) = span {
                self.error(
                    Some(&span),
                    &format!("{prefix}.{key}"),
                    "applies to secondary zones only (those with primaries), not to a zone \
                     served from its file",
                );
            }
        }
    }

    /// Converts `{prefix}.primaries`: required, 1..=[`PRIMARIES_MAX`]
    /// distinct primaries.
    fn primaries(
        &mut self,
        prefix: &str,
        header: &Range<usize>,
        raw: Option<Spanned<Vec<Spanned<String>>>>,
    ) -> Option<Vec<SocketAddr>> {
        let key = format!("{prefix}.primaries");
        let raw = self.required(
            raw,
            Some(header),
            &key,
            "the servers to transfer the zone from, e.g. primaries = [\"192.0.2.53\"]",
        )?;
        let errors_before = self.errors.len();
        let list_span = raw.span();
        let entries = raw.into_inner();
        if entries.is_empty() {
            self.error(Some(&list_span), &key, "must list at least one primary");
        }
        let primaries = self.distinct_addresses::<Primary>(
            &key,
            &list_span,
            &entries,
            PRIMARIES_MAX,
            (
                "a primary's address",
                "\"192.0.2.53\", \"192.0.2.53:53\" or \"[2001:db8::53]:53\"",
            ),
        );
        (self.errors.len() == errors_before).then(|| {
            primaries
                .into_iter()
                .map(|Primary(address)| address)
                .collect()
        })
    }

    /// Converts `{prefix}.notify_from`: at most [`NOTIFY_FROM_MAX`] distinct
    /// addresses or networks; empty is allowed (NOTIFY from nobody).
    fn notify_from(
        &mut self,
        prefix: &str,
        raw: &Spanned<Vec<Spanned<String>>>,
    ) -> Option<Vec<IpNet>> {
        let key = format!("{prefix}.notify_from");
        let errors_before = self.errors.len();
        let sources = self.distinct_addresses::<NotifySource>(
            &key,
            &raw.span(),
            raw.get_ref(),
            NOTIFY_FROM_MAX,
            (
                "an IP address or network",
                "\"192.0.2.53\" or \"192.0.2.0/24\"",
            ),
        );
        (self.errors.len() == errors_before).then(|| {
            sources
                .into_iter()
                .map(|NotifySource(network)| network)
                .collect()
        })
    }

    /// Resolves a `tsig` key written at `key` to its index among
    /// `tsig_names` (the `[[tsig]]` names, in order).
    fn tsig_reference(
        &mut self,
        key: &str,
        raw: &Spanned<String>,
        tsig_names: &[Name<Bytes>],
    ) -> Option<usize> {
        let text = raw.get_ref();
        let found = domain_name(text)
            .ok()
            .and_then(|name| tsig_names.iter().position(|known| *known == name));
        if found.is_none() {
            let defined = if tsig_names.is_empty() {
                "no [[tsig]] key is defined".to_owned()
            } else {
                let names: Vec<String> = tsig_names.iter().map(absolute).collect();
                format!("the [[tsig]] keys are {}", names.join(", "))
            };
            self.error(
                Some(&raw.span()),
                key,
                format!("no [[tsig]] key named {text:?}: {defined}"),
            );
        }
        found
    }

    /// Converts the four timers of `prefix`, each defaulted when absent;
    /// `refresh_min` must not exceed `refresh_max`.
    fn timers(&mut self, prefix: &str, raw: &RawTransfer) -> Option<ZoneTimers> {
        let mut timer = |name: &str, value: Option<&Spanned<String>>, default: Duration| match value
        {
            None => Some(default),
            Some(value) => self.duration(
                &format!("{prefix}.{name}"),
                value,
                ZONE_TIMER_MIN..=ZONE_TIMER_MAX,
            ),
        };
        let refresh_min = timer("refresh_min", raw.refresh_min.as_ref(), REFRESH_MIN_DEFAULT);
        let refresh_max = timer("refresh_max", raw.refresh_max.as_ref(), REFRESH_MAX_DEFAULT);
        let retry_min = timer("retry_min", raw.retry_min.as_ref(), RETRY_MIN_DEFAULT);
        let expire_min = timer("expire_min", raw.expire_min.as_ref(), EXPIRE_MIN_DEFAULT);
        if let (Some(min), Some(max)) = (refresh_min, refresh_max) {
            if min > max {
                // Named where it is written: refresh_min, or refresh_max
                // when only that is (below the default refresh_min).
                let (key, span) = raw
                    .refresh_min
                    .as_ref()
                    .map(|written| ("refresh_min", written.span()))
                    .or_else(|| {
                        raw.refresh_max
                            .as_ref()
                            .map(|written| ("refresh_max", written.span()))
                    })
                    .map_or(("refresh_min", None), |(key, span)| (key, Some(span)));
                self.error(
                    span.as_ref(),
                    &format!("{prefix}.{key}"),
                    format!(
                        "{prefix}.refresh_min ({}) is longer than {prefix}.refresh_max ({}): \
                         refresh_min must be at most refresh_max",
                        humantime::format_duration(min),
                        humantime::format_duration(max)
                    ),
                );
                return None;
            }
        }
        Some(ZoneTimers {
            refresh_min: refresh_min?,
            refresh_max: refresh_max?,
            retry_min: retry_min?,
            expire_min: expire_min?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use ipnet::IpNet;

    use crate::config::test_support::{
        accepted, keys_and_lines, name, rejected, rejected_once, server_with,
    };
    use crate::config::{
        CatalogConfig, EXPIRE_MIN_DEFAULT, NOTIFY_FROM_MAX, PRIMARIES_MAX, REFRESH_MAX_DEFAULT,
        REFRESH_MIN_DEFAULT, RETRY_MIN_DEFAULT, SecondaryZoneConfig, TransferConfig,
        ZONE_TIMER_MAX, ZONE_TIMER_MIN, ZoneTimers,
    };
    use crate::wire::tsig::Algorithm;

    /// A `[[tsig]]` key named `xfr-key`, to append after the lines a test
    /// counts.
    const TSIG: &str = "[[tsig]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\n\
                        secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n";

    /// A valid `[server]`, then a secondary zone `example.net` (header on
    /// line 3, name on 4, `primaries = ["192.0.2.53"]` on 5) with `keys`
    /// from line 6 on, then [`TSIG`].
    fn secondary(keys: &str) -> String {
        server_with(&format!(
            "[[zone]]\nname = \"example.net\"\nprimaries = [\"192.0.2.53\"]\n{keys}\n{TSIG}"
        ))
    }

    /// As [`secondary`] without `primaries`: `keys` from line 5 on.
    fn zone(keys: &str) -> String {
        server_with(&format!("[[zone]]\nname = \"example.net\"\n{keys}\n{TSIG}"))
    }

    /// The one secondary zone's transfer settings.
    fn transfer(text: &str) -> TransferConfig {
        let config = accepted(text);
        assert_eq!(config.secondaries.len(), 1, "{config:?}");
        config.secondaries[0].transfer.clone()
    }

    fn socket(text: &str) -> SocketAddr {
        text.parse().unwrap_or_else(|_| panic!("{text}"))
    }

    fn net(text: &str) -> IpNet {
        text.parse().unwrap_or_else(|_| panic!("{text}"))
    }

    #[test]
    fn all_three_tables_convert() {
        let text = "[server]\nlisten = [\"127.0.0.1:53\"]\nstate_dir = \"state\"\n\
            [[tsig]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\n\
            secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n\
            [[tsig]]\nname = \"Catalog-Key.\"\nalgorithm = \"hmac-sha512\"\nsecret = \"c2VjcmV0\"\n\
            [[zone]]\nname = \"example.com\"\nfile = \"example.com.zone\"\n\
            [[zone]]\nname = \"Example.NET.\"\n\
            primaries = [\"192.0.2.53\", \"192.0.2.53:5300\", \"[2001:db8::53]:53\", \"2001:db8::54\"]\n\
            tsig = \"xfr-key\"\n\
            [[zone]]\nname = \"example.org\"\nprimaries = [\"198.51.100.1:53\"]\n\
            notify_from = [\"198.51.100.0/24\", \"2001:db8::1\"]\n\
            refresh_min = \"1m\"\nrefresh_max = \"2h\"\nretry_min = \"30s\"\nexpire_min = \"2d\"\n\
            [[catalog]]\nname = \"catalog.example\"\nprimaries = [\"192.0.2.60\"]\n\
            tsig = \"catalog-key\"\nrefresh_max = \"10m\"\n";
        let config = accepted(text);
        assert_eq!(
            config.server.state_dir.as_deref(),
            Some(std::path::Path::new("/etc/dnslb/state"))
        );

        assert_eq!(config.tsig_keys.len(), 2);
        assert_eq!(config.tsig_keys[0].name, name("xfr-key."));
        assert_eq!(config.tsig_keys[0].algorithm, Algorithm::HmacSha256);
        assert_eq!(config.tsig_keys[0].secret, (0..32).collect::<Vec<u8>>());
        assert_eq!(config.tsig_keys[0].line, 5);
        assert_eq!(config.tsig_keys[1].name, name("catalog-key."));
        assert_eq!(config.tsig_keys[1].algorithm, Algorithm::HmacSha512);
        assert_eq!(config.tsig_keys[1].secret, b"secret".to_vec());

        // The file zone stays in `zones`, alone.
        assert_eq!(config.zones.len(), 1);
        assert_eq!(config.zones[0].name, name("example.com."));

        assert_eq!(
            config.secondaries,
            vec![
                SecondaryZoneConfig {
                    name: name("example.net."),
                    transfer: TransferConfig {
                        primaries: vec![
                            socket("192.0.2.53:53"),
                            socket("192.0.2.53:5300"),
                            socket("[2001:db8::53]:53"),
                            socket("[2001:db8::54]:53"),
                        ],
                        tsig: Some(0),
                        // Each primary's address once, as a host prefix.
                        notify_from: vec![
                            net("192.0.2.53/32"),
                            net("2001:db8::53/128"),
                            net("2001:db8::54/128"),
                        ],
                        timers: ZoneTimers::default(),
                    },
                    line: 16,
                },
                SecondaryZoneConfig {
                    name: name("example.org."),
                    transfer: TransferConfig {
                        primaries: vec![socket("198.51.100.1:53")],
                        tsig: None,
                        notify_from: vec![net("198.51.100.0/24"), net("2001:db8::1/128")],
                        timers: ZoneTimers {
                            refresh_min: Duration::from_secs(60),
                            refresh_max: Duration::from_secs(7200),
                            retry_min: Duration::from_secs(30),
                            expire_min: Duration::from_secs(2 * 86_400),
                        },
                    },
                    line: 20,
                },
            ]
        );
        assert_eq!(
            config.catalogs,
            vec![CatalogConfig {
                name: name("catalog.example."),
                transfer: TransferConfig {
                    primaries: vec![socket("192.0.2.60:53")],
                    tsig: Some(1),
                    notify_from: vec![net("192.0.2.60/32")],
                    timers: ZoneTimers {
                        refresh_max: Duration::from_secs(600),
                        ..ZoneTimers::default()
                    },
                },
                line: 28,
            }]
        );
    }

    #[test]
    fn timer_defaults() {
        assert_eq!(
            ZoneTimers::default(),
            ZoneTimers {
                refresh_min: Duration::from_secs(5),
                refresh_max: Duration::from_secs(86_400),
                retry_min: Duration::from_secs(5),
                expire_min: Duration::from_secs(3600),
            }
        );
        assert_eq!(
            (
                REFRESH_MIN_DEFAULT,
                REFRESH_MAX_DEFAULT,
                RETRY_MIN_DEFAULT,
                EXPIRE_MIN_DEFAULT
            ),
            (
                Duration::from_secs(5),
                Duration::from_secs(86_400),
                Duration::from_secs(5),
                Duration::from_secs(3600)
            )
        );
        assert_eq!(transfer(&secondary("")).timers, ZoneTimers::default());
    }

    #[test]
    fn timer_bounds() {
        for key in ["refresh_min", "refresh_max", "retry_min", "expire_min"] {
            let at = |value: &str| secondary(&format!("{key} = {value:?}"));
            let timers = |value: &str| transfer(&at(value)).timers;
            let get = |timers: ZoneTimers| match key {
                "refresh_min" => timers.refresh_min,
                "refresh_max" => timers.refresh_max,
                "retry_min" => timers.retry_min,
                _ => timers.expire_min,
            };
            let full_key = format!("zone[0].{key}");
            if key != "refresh_max" {
                assert_eq!(get(timers("1s")), ZONE_TIMER_MIN);
            }
            if key != "refresh_min" {
                assert_eq!(get(timers("30days")), ZONE_TIMER_MAX);
            }
            let error = rejected_once(&at("999ms"), &full_key, 6);
            assert!(error.message.contains("out of bounds"), "{error}");
            rejected_once(&at("31days"), &full_key, 6);
            rejected_once(&at("0s"), &full_key, 6);
            let error = rejected_once(&at("soon"), &full_key, 6);
            assert!(error.message.contains("not a duration"), "{error}");
            let error = rejected_once(&secondary(&format!("{key} = 5")), &full_key, 6);
            assert!(error.message.contains("invalid type"), "{error}");
        }
    }

    #[test]
    fn refresh_min_at_most_refresh_max() {
        let timers = transfer(&secondary("refresh_min = \"1h\"\nrefresh_max = \"1h\"")).timers;
        assert_eq!(
            (timers.refresh_min, timers.refresh_max),
            (Duration::from_secs(3600), Duration::from_secs(3600))
        );
        let error = rejected_once(
            &secondary("refresh_min = \"2h\"\nrefresh_max = \"1h\""),
            "zone[0].refresh_min",
            6,
        );
        assert!(
            error.message.contains("zone[0].refresh_min (2h)")
                && error.message.contains("zone[0].refresh_max (1h)"),
            "{error}"
        );
        // Against the other's default.
        let error = rejected_once(&secondary("refresh_min = \"2d\""), "zone[0].refresh_min", 6);
        assert!(
            error.message.contains("zone[0].refresh_max (1day)"),
            "{error}"
        );
        let error = rejected_once(&secondary("refresh_max = \"2s\""), "zone[0].refresh_max", 6);
        assert!(
            error.message.contains("zone[0].refresh_min (5s)"),
            "{error}"
        );
    }

    #[test]
    fn primaries_forms_and_default_port() {
        let primaries = |list: &str| transfer(&zone(&format!("primaries = {list}"))).primaries;
        assert_eq!(primaries("[\"192.0.2.1\"]"), vec![socket("192.0.2.1:53")]);
        assert_eq!(
            primaries("[\"192.0.2.1:5353\"]"),
            vec![socket("192.0.2.1:5353")]
        );
        assert_eq!(
            primaries("[\"2001:db8::1\"]"),
            vec![socket("[2001:db8::1]:53")]
        );
        assert_eq!(
            primaries("[\"[2001:db8::1]\"]"),
            vec![socket("[2001:db8::1]:53")]
        );
        assert_eq!(
            primaries("[\"[2001:db8::1]:54\"]"),
            vec![socket("[2001:db8::1]:54")]
        );
        let many: Vec<String> = (0..PRIMARIES_MAX)
            .map(|index| format!("\"192.0.2.1:{}\"", 1000 + index))
            .collect();
        assert_eq!(
            primaries(&format!("[{}]", many.join(", "))).len(),
            PRIMARIES_MAX
        );
    }

    #[test]
    fn primaries_problems() {
        let at = |list: &str| zone(&format!("primaries = {list}"));
        let error = rejected_once(&at("[]"), "zone[0].primaries", 5);
        assert!(error.message.contains("at least one primary"), "{error}");
        for bad in [
            "ns1.example.net",
            "192.0.2.1:",
            "192.0.2.1:70000",
            "2001:db8::1:53:x",
            "",
            "[2001:db8::1",
        ] {
            let error = rejected_once(&at(&format!("[{bad:?}]")), "zone[0].primaries", 5);
            assert!(
                error
                    .message
                    .contains(&format!("{bad:?} is not a primary's address")),
                "{error}"
            );
        }
        let error = rejected_once(&at("[\"192.0.2.1:0\"]"), "zone[0].primaries", 5);
        assert!(error.message.contains("port 0"), "{error}");
        let error = rejected_once(&at("[\"0.0.0.0\"]"), "zone[0].primaries", 5);
        assert!(error.message.contains("unspecified"), "{error}");
        rejected_once(&at("[\"[::]:53\"]"), "zone[0].primaries", 5);
        // The same primary with and without its port.
        let error = rejected_once(
            &at("[\n  \"192.0.2.1\",\n  \"192.0.2.1:53\",\n]"),
            "zone[0].primaries",
            7,
        );
        assert!(
            error.message.contains("duplicate") && error.message.contains("line 6"),
            "{error}"
        );
        let many: Vec<String> = (0..=PRIMARIES_MAX)
            .map(|index| format!("\"192.0.2.1:{}\"", 1000 + index))
            .collect();
        let error = rejected_once(
            &at(&format!("[{}]", many.join(", "))),
            "zone[0].primaries",
            5,
        );
        assert!(
            error.message.contains("more than the maximum 64"),
            "{error}"
        );
        rejected_once(&at("\"192.0.2.1\""), "zone[0].primaries", 5);
        rejected_once(&at("[53]"), "zone[0].primaries", 5);
    }

    #[test]
    fn notify_from_addresses_and_networks() {
        let notify_from =
            |list: &str| transfer(&secondary(&format!("notify_from = {list}"))).notify_from;
        assert_eq!(
            notify_from("[\"192.0.2.1\", \"2001:db8::/32\", \"10.0.0.0/8\", \"192.0.2.53/32\"]"),
            vec![
                net("192.0.2.1/32"),
                net("2001:db8::/32"),
                net("10.0.0.0/8"),
                net("192.0.2.53/32")
            ]
        );
        // Empty: NOTIFY from nobody.
        assert_eq!(notify_from("[]"), Vec::<IpNet>::new());
        // Default: the primaries.
        assert_eq!(
            transfer(&secondary("")).notify_from,
            vec![net("192.0.2.53/32")]
        );
        let at = |list: &str| secondary(&format!("notify_from = {list}"));
        for bad in ["ns1.example.net", "192.0.2.0/33", "192.0.2.1:53", "", "/24"] {
            let error = rejected_once(&at(&format!("[{bad:?}]")), "zone[0].notify_from", 6);
            assert!(
                error
                    .message
                    .contains(&format!("{bad:?} is not an IP address or network")),
                "{error}"
            );
        }
        let error = rejected_once(&at("[\"192.0.2.7/24\"]"), "zone[0].notify_from", 6);
        assert!(
            error.message.contains("host bits set") && error.message.contains("\"192.0.2.0/24\""),
            "{error}"
        );
        let error = rejected_once(
            &at("[\"192.0.2.1\", \"192.0.2.1/32\"]"),
            "zone[0].notify_from",
            6,
        );
        assert!(error.message.contains("duplicate"), "{error}");
        let many: Vec<String> = (0..=NOTIFY_FROM_MAX)
            .map(|index| format!("\"10.0.{}.{}\"", index / 256, index % 256))
            .collect();
        let error = rejected_once(
            &at(&format!("[{}]", many.join(", "))),
            "zone[0].notify_from",
            6,
        );
        assert!(
            error.message.contains("more than the maximum 256"),
            "{error}"
        );
        assert_eq!(
            notify_from(&format!("[{}]", many[1..].join(", "))).len(),
            NOTIFY_FROM_MAX
        );
    }

    #[test]
    fn tsig_must_name_a_defined_key() {
        assert_eq!(transfer(&secondary("tsig = \"xfr-key\"")).tsig, Some(0));
        assert_eq!(transfer(&secondary("tsig = \"XFR-Key.\"")).tsig, Some(0));
        let error = rejected_once(&secondary("tsig = \"other-key\""), "zone[0].tsig", 6);
        assert_eq!(
            error.message,
            "no [[tsig]] key named \"other-key\": the [[tsig]] keys are xfr-key."
        );
        rejected_once(&secondary("tsig = \"a..b\""), "zone[0].tsig", 6);
        let error = rejected_once(
            &server_with(
                "[[zone]]\nname = \"example.net\"\nprimaries = [\"192.0.2.53\"]\ntsig = \"k\"",
            ),
            "zone[0].tsig",
            6,
        );
        assert!(
            error.message.ends_with("no [[tsig]] key is defined"),
            "{error}"
        );
        // A key with another problem is still known by name.
        let errors = rejected(&server_with(
            "[[tsig]]\nname = \"k\"\nalgorithm = \"md5\"\nsecret = \"c2VjcmV0\"\n\
             [[zone]]\nname = \"example.net\"\nprimaries = [\"192.0.2.53\"]\ntsig = \"k\"",
        ));
        assert_eq!(
            keys_and_lines(&errors),
            vec![("tsig[0].algorithm", Some(5))]
        );
    }

    #[test]
    fn transfer_problems_are_all_reported() {
        let errors = rejected(&server_with(
            "[[zone]]\nname = \"example.net\"\nprimaries = [\"x\", \"192.0.2.1:0\"]\n\
             tsig = \"none\"\nnotify_from = [\"y\"]\nrefresh_min = \"0s\"\nrefresh_max = \"x\"\n\
             retry_min = \"31days\"\nexpire_min = \"1\"",
        ));
        assert_eq!(
            keys_and_lines(&errors),
            vec![
                ("zone[0].primaries", Some(5)),
                ("zone[0].primaries", Some(5)),
                ("zone[0].tsig", Some(6)),
                ("zone[0].notify_from", Some(7)),
                ("zone[0].refresh_min", Some(8)),
                ("zone[0].refresh_max", Some(9)),
                ("zone[0].retry_min", Some(10)),
                ("zone[0].expire_min", Some(11)),
            ]
        );
    }
}
