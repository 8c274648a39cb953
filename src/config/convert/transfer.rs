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
    pub(super) fn tsig_reference(
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
