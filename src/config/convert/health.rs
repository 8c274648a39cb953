//! Converts `health` tables: a service's, with each backend's keys
//! overriding it one by one, into one resolved [`HealthCheck`] per backend.
//!
//! Invariants: `timeout < interval`; thresholds at least 1; `tcp` names its
//! port; keys of one kind (`path` for http, `qname` for dns) are rejected on
//! another. Every error names the key where the offending value was written
//! (`service[0].health.timeout` or `service[0].backends[2].health.timeout`).

use std::num::NonZeroU32;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use domain::base::Name;
use domain::base::iana::Rtype;
use toml::Spanned;

use super::super::raw::RawHealth;
use super::Checker;
use crate::health::{DnsProbe, HealthCheck, HttpProbe, ProbeKind, Thresholds};

/// `health.interval` bounds and default.
pub const HEALTH_INTERVAL_MIN: Duration = Duration::from_millis(50);
pub const HEALTH_INTERVAL_MAX: Duration = Duration::from_secs(3600);
pub const HEALTH_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);
/// `health.timeout` bounds and default (and always below the interval).
pub const HEALTH_TIMEOUT_MIN: Duration = Duration::from_millis(10);
pub const HEALTH_TIMEOUT_MAX: Duration = Duration::from_secs(60);
pub const HEALTH_TIMEOUT_DEFAULT: Duration = Duration::from_millis(400);
/// `health.rise` and `health.fall` bounds and defaults.
pub const HEALTH_THRESHOLD_MIN: u32 = 1;
pub const HEALTH_THRESHOLD_MAX: u32 = 100;
pub const HEALTH_RISE_DEFAULT: u32 = 2;
pub const HEALTH_FALL_DEFAULT: u32 = 3;
/// Default ports of the kinds that have one.
pub const HEALTH_HTTP_PORT_DEFAULT: u16 = 80;
pub const HEALTH_DNS_PORT_DEFAULT: u16 = 53;
/// Longest `path`, `host`, `body_contains` and `load_header`.
pub const HEALTH_TEXT_MAX_BYTES: usize = 1024;

/// Where each key of a merged health table came from.
struct Merged<'r> {
    service: Option<&'r RawHealth>,
    backend: Option<&'r RawHealth>,
    service_key: &'r str,
    backend_key: &'r str,
}

impl<'r> Merged<'r> {
    /// The value of one key (the backend's if it sets it, else the
    /// service's) and the dotted key naming where it was written.
    fn get<T>(
        &self,
        field: &str,
        get: impl Fn(&'r RawHealth) -> Option<&'r Spanned<T>>,
    ) -> Option<(&'r Spanned<T>, String)> {
        if let Some(value) = self.backend.and_then(&get) {
            return Some((value, format!("{}.health.{field}", self.backend_key)));
        }
        self.service
            .and_then(&get)
            .map(|value| (value, format!("{}.health.{field}", self.service_key)))
    }
}

impl Checker<'_> {
    /// Resolves one backend's check from the service's `health` (at
    /// `service_key`) and the backend's (at `backend_key`). `Some(None)`: not
    /// probed (no table, or `kind = "none"`, or a name backend without a
    /// table of its own); `None`: invalid (errors recorded).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn backend_health(
        &mut self,
        service_key: &str,
        backend_key: &str,
        service: Option<&Spanned<RawHealth>>,
        backend: Option<&Spanned<RawHealth>>,
        service_name: Option<&Name<Bytes>>,
        name_backend: bool,
    ) -> Option<Option<HealthCheck>> {
        if service.is_none() && backend.is_none() {
            return Some(None);
        }
        let merged = Merged {
            service: service.map(Spanned::get_ref),
            backend: backend.map(Spanned::get_ref),
            service_key,
            backend_key,
        };
        let Some((kind, kind_key)) = merged.get("kind", |raw| raw.kind.as_ref()) else {
            let (span, key) = match backend {
                Some(table) => (table.span(), format!("{backend_key}.health.kind")),
                None => (
                    service.map(Spanned::span).unwrap_or_default(),
                    format!("{service_key}.health.kind"),
                ),
            };
            self.error(
                Some(&span),
                &key,
                "required: \"tcp\", \"http\", \"dns\" or \"none\"",
            );
            return None;
        };
        let kind_name = kind.get_ref().as_str();
        if kind_name == "none" {
            return Some(None);
        }
        if !["tcp", "http", "dns"].contains(&kind_name) {
            self.error(
                Some(&kind.span()),
                &kind_key,
                format!("{kind_name:?} is not valid: write one of tcp, http, dns, none"),
            );
            return None;
        }
        if name_backend {
            // A name backend has no address to probe; the service's check
            // applies to address backends only, so only a backend's own
            // table can be wrong here.
            if merged.backend.is_some_and(|raw| raw.kind.is_some()) {
                self.error(
                    Some(&kind.span()),
                    &kind_key,
                    "a name backend has no address to probe: use kind = \"none\"",
                );
                return None;
            }
            return Some(None);
        }
        let errors_before = self.errors.len();
        self.reject_foreign_keys(&merged, kind_name);

        let interval = match merged.get("interval", |raw| raw.interval.as_ref()) {
            None => Some(HEALTH_INTERVAL_DEFAULT),
            Some((value, key)) => {
                self.duration(&key, value, HEALTH_INTERVAL_MIN..=HEALTH_INTERVAL_MAX)
            }
        };
        let timeout_value = merged.get("timeout", |raw| raw.timeout.as_ref());
        let timeout = match &timeout_value {
            None => Some(HEALTH_TIMEOUT_DEFAULT),
            Some((value, key)) => {
                self.duration(key, value, HEALTH_TIMEOUT_MIN..=HEALTH_TIMEOUT_MAX)
            }
        };
        if let (Some(interval), Some(timeout)) = (interval, timeout) {
            if timeout >= interval {
                let (span, key) = match &timeout_value {
                    Some((value, key)) => (value.span(), key.clone()),
                    None => (
                        merged
                            .get("interval", |raw| raw.interval.as_ref())
                            .map(|(value, _)| value.span())
                            .unwrap_or_default(),
                        format!("{service_key}.health.timeout"),
                    ),
                };
                self.error(
                    Some(&span),
                    &key,
                    format!(
                        "{} is not below the interval {}: a probe must end before the next \
                         one starts",
                        humantime::format_duration(timeout),
                        humantime::format_duration(interval)
                    ),
                );
            }
        }
        let rise = self.threshold(&merged, "rise", HEALTH_RISE_DEFAULT, |raw| {
            raw.rise.as_ref()
        });
        let fall = self.threshold(&merged, "fall", HEALTH_FALL_DEFAULT, |raw| {
            raw.fall.as_ref()
        });

        let default_port = match kind_name {
            "http" => Some(HEALTH_HTTP_PORT_DEFAULT),
            "dns" => Some(HEALTH_DNS_PORT_DEFAULT),
            _ => None,
        };
        let port = match (merged.get("port", |raw| raw.port.as_ref()), default_port) {
            (Some((value, key)), _) => self.integer(&key, value, 1..=u16::MAX),
            (None, Some(port)) => Some(port),
            (None, None) => {
                self.error(
                    Some(&kind.span()),
                    &kind_key.replace(".kind", ".port"),
                    "required with kind = \"tcp\": the port to connect to",
                );
                None
            }
        };
        let probe = match kind_name {
            "tcp" => Some(ProbeKind::Tcp),
            "http" => self.http_probe(&merged, service_name).map(ProbeKind::Http),
            _ => self.dns_probe(&merged, kind, &kind_key).map(ProbeKind::Dns),
        };
        if self.errors.len() != errors_before {
            return None;
        }
        Some(Some(HealthCheck {
            kind: probe?,
            port: port?,
            interval: interval?,
            timeout: timeout?,
            thresholds: Thresholds {
                rise: rise?,
                fall: fall?,
            },
        }))
    }

    /// Rejects keys that belong to another kind of probe.
    fn reject_foreign_keys(&mut self, merged: &Merged<'_>, kind: &str) {
        const KIND_KEYS: [(&str, &str); 8] = [
            ("path", "http"),
            ("host", "http"),
            ("expect", "http"),
            ("body_contains", "http"),
            ("load_header", "http"),
            ("qname", "dns"),
            ("qtype", "dns"),
            ("rcode", "dns"),
        ];
        // A backend may switch a service's http check to tcp: then only the
        // backend's own table is held to the kind it chose.
        let backend_sets_kind = merged.backend.is_some_and(|raw| raw.kind.is_some());
        for (field, owner) in KIND_KEYS {
            if owner == kind {
                continue;
            }
            let found = match (merged.backend, merged.service) {
                (Some(backend), _) if span_of(backend, field).is_some() => {
                    span_of(backend, field).map(|span| (span, merged.backend_key))
                }
                (_, Some(service)) if !backend_sets_kind => {
                    span_of(service, field).map(|span| (span, merged.service_key))
                }
                _ => None,
            };
            if let Some((span, prefix)) = found {
                self.error(
                    Some(&span),
                    &format!("{prefix}.health.{field}"),
                    format!("applies only to kind = \"{owner}\", not \"{kind}\""),
                );
            }
        }
    }

    /// Converts `rise` or `fall`.
    fn threshold(
        &mut self,
        merged: &Merged<'_>,
        field: &str,
        default: u32,
        get: impl Fn(&RawHealth) -> Option<&Spanned<i64>>,
    ) -> Option<NonZeroU32> {
        let bounds: RangeInclusive<u32> = HEALTH_THRESHOLD_MIN..=HEALTH_THRESHOLD_MAX;
        match merged.get(field, get) {
            None => NonZeroU32::new(default),
            Some((value, key)) => self.integer(&key, value, bounds).and_then(NonZeroU32::new),
        }
    }

    /// A text key of at most [`HEALTH_TEXT_MAX_BYTES`] printable ASCII
    /// bytes, non-empty, passing `check` (which completes "TEXT ...").
    fn health_text(
        &mut self,
        value: Option<(&Spanned<String>, String)>,
        check: impl Fn(&str) -> Result<(), &'static str>,
    ) -> Option<Option<String>> {
        let Some((value, key)) = value else {
            return Some(None);
        };
        let text = value.get_ref();
        let problem = if text.is_empty() {
            Some("is empty")
        } else if text.len() > HEALTH_TEXT_MAX_BYTES {
            Some("is longer than 1024 bytes")
        } else if !text.bytes().all(|byte| (0x20..0x7f).contains(&byte)) {
            Some("may hold only printable ASCII")
        } else {
            check(text).err()
        };
        match problem {
            Some(problem) => {
                self.error(Some(&value.span()), &key, format!("{text:?} {problem}"));
                None
            }
            None => Some(Some(text.clone())),
        }
    }

    /// The http keys: `path` (default "/"), `host` (default the service
    /// name), `expect` (default [200]), `body_contains`, `load_header`.
    fn http_probe(
        &mut self,
        merged: &Merged<'_>,
        service_name: Option<&Name<Bytes>>,
    ) -> Option<HttpProbe> {
        let path = self.health_text(merged.get("path", |raw| raw.path.as_ref()), |text| {
            if !text.starts_with('/') {
                Err("must start with /")
            } else if text.contains(' ') {
                Err("may not hold spaces (percent-encode them)")
            } else {
                Ok(())
            }
        });
        let host = self.health_text(merged.get("host", |raw| raw.host.as_ref()), |text| {
            if text.contains(' ') {
                Err("may not hold spaces")
            } else {
                Ok(())
            }
        });
        let body_contains = self.health_text(
            merged.get("body_contains", |raw| raw.body_contains.as_ref()),
            |_| Ok(()),
        );
        let load_header = self.health_text(
            merged.get("load_header", |raw| raw.load_header.as_ref()),
            |text| {
                let token =
                    |byte: u8| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte);
                if text.bytes().all(token) {
                    Ok(())
                } else {
                    Err("is not an HTTP header name")
                }
            },
        );
        let expect = match merged.get("expect", |raw| raw.expect.as_ref()) {
            None => Some(vec![200]),
            Some((list, key)) => {
                let errors_before = self.errors.len();
                if list.get_ref().is_empty() {
                    self.error(Some(&list.span()), &key, "must list at least one status");
                }
                let statuses: Vec<u16> = list
                    .get_ref()
                    .iter()
                    .filter_map(|status| self.integer(&key, status, 100..=599))
                    .collect();
                (self.errors.len() == errors_before).then_some(statuses)
            }
        };
        let host = host?
            .or_else(|| service_name.map(|name| name.to_string().trim_end_matches('.').to_owned()));
        Some(HttpProbe {
            path: path?.unwrap_or_else(|| "/".to_owned()),
            host: host.unwrap_or_default(),
            expect: expect?,
            body_contains: body_contains?,
            load_header: load_header?,
        })
    }

    /// The dns keys: `qname` (required), `qtype` (default A), `rcode`
    /// (default NOERROR).
    fn dns_probe(
        &mut self,
        merged: &Merged<'_>,
        kind: &Spanned<String>,
        kind_key: &str,
    ) -> Option<DnsProbe> {
        let qname = match merged.get("qname", |raw| raw.qname.as_ref()) {
            None => {
                self.error(
                    Some(&kind.span()),
                    &kind_key.replace(".kind", ".qname"),
                    "required with kind = \"dns\": the name to query, e.g. \"example.com\"",
                );
                None
            }
            Some((value, key)) => self
                .domain_name_at(value, &key)
                .map(|name| name.as_octets().to_vec()),
        };
        let qtype = match merged.get("qtype", |raw| raw.qtype.as_ref()) {
            None => Some(Rtype::A.to_int()),
            Some((value, key)) => match Rtype::from_str(value.get_ref()) {
                Ok(rtype) => Some(rtype.to_int()),
                Err(_) => {
                    self.error(
                        Some(&value.span()),
                        &key,
                        format!(
                            "{:?} is not a record type; write e.g. \"A\", \"SOA\" or \"TYPE65\"",
                            value.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let rcode = match merged.get("rcode", |raw| raw.rcode.as_ref()) {
            None => Some(0),
            Some((value, key)) => match parse_rcode(value.get_ref()) {
                Some(rcode) => Some(rcode),
                None => {
                    self.error(
                        Some(&value.span()),
                        &key,
                        format!(
                            "{:?} is not a response code; write e.g. \"NOERROR\", \"NXDOMAIN\" \
                             or \"REFUSED\"",
                            value.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        Some(DnsProbe {
            qname: qname?,
            qtype: qtype?,
            rcode: rcode?,
        })
    }
}

/// Parses a response code name (any case) of the header's four bits.
fn parse_rcode(text: &str) -> Option<u8> {
    const NAMES: [&str; 11] = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE",
    ];
    let upper = text.to_ascii_uppercase();
    NAMES
        .iter()
        .position(|name| *name == upper)
        .and_then(|index| u8::try_from(index).ok())
}

/// The span of `field` in `table`, for errors about a key's presence.
fn span_of(table: &RawHealth, field: &str) -> Option<std::ops::Range<usize>> {
    match field {
        "path" => table.path.as_ref().map(Spanned::span),
        "host" => table.host.as_ref().map(Spanned::span),
        "expect" => table.expect.as_ref().map(Spanned::span),
        "body_contains" => table.body_contains.as_ref().map(Spanned::span),
        "load_header" => table.load_header.as_ref().map(Spanned::span),
        "qname" => table.qname.as_ref().map(Spanned::span),
        "qtype" => table.qtype.as_ref().map(Spanned::span),
        "rcode" => table.rcode.as_ref().map(Spanned::span),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::test_support::{accepted, rejected_once, service, service_keys};
    use crate::config::{
        HEALTH_DNS_PORT_DEFAULT, HEALTH_FALL_DEFAULT, HEALTH_HTTP_PORT_DEFAULT,
        HEALTH_INTERVAL_DEFAULT, HEALTH_RISE_DEFAULT, HEALTH_TIMEOUT_DEFAULT,
    };
    use crate::health::HealthCheck;

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
}
