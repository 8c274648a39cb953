//! Converts `service[i].backends` into [`BackendConfig`]s.
//!
//! Checks: [`BACKENDS_MIN`]..=[`BACKENDS_MAX`] backends, each with exactly
//! one of `address` (an IP address) and `name` (a domain name other than
//! the root and the service's own name), `weight` and `priority` within
//! their bounds and `region` a known region; targets are distinct, and a
//! service's backends are all addresses or all names. Each backend's
//! `health` is resolved in `health`.

use std::net::IpAddr;
use std::ops::Range;
use std::str::FromStr;

use bytes::Bytes;
use domain::base::Name;
use toml::Spanned;

use super::super::error::LoadError;
use super::super::raw::{RawBackend, RawHealth};
use super::super::{
    BACKENDS_MAX, BACKENDS_MIN, BackendConfig, BackendTarget, PRIORITY_DEFAULT, PRIORITY_MAX,
    PRIORITY_MIN, WEIGHT_DEFAULT, WEIGHT_MAX, WEIGHT_MIN,
};
use super::{Checker, absolute};

impl Checker<'_> {
    /// Converts `service[index].backends`: required,
    /// [`BACKENDS_MIN`]..=[`BACKENDS_MAX`] backends with distinct targets,
    /// all addresses or all names. `service_name` is the service's name
    /// when valid.
    pub(super) fn backends(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<Spanned<Vec<Spanned<RawBackend>>>>,
        health: Option<&Spanned<RawHealth>>,
        service_name: Option<&Name<Bytes>>,
        region_names: &[Option<String>],
    ) -> Option<Vec<BackendConfig>> {
        let service_key = format!("service[{index}]");
        let key = format!("service[{index}].backends");
        let raw = self.required(
            raw,
            Some(header),
            &key,
            "at least one backend, e.g. [{ address = \"192.0.2.1\" }]",
        )?;
        let errors_before = self.errors.len();
        let list_span = raw.span();
        let entries = raw.into_inner();
        if entries.len() < BACKENDS_MIN {
            self.error(
                Some(&list_span),
                &key,
                format!("must list at least {BACKENDS_MIN} backend"),
            );
        }
        if entries.len() > BACKENDS_MAX {
            self.error(
                Some(&list_span),
                &key,
                format!(
                    "lists {} backends, more than the maximum {BACKENDS_MAX}",
                    entries.len()
                ),
            );
        }
        // Each valid backend with the line of its target.
        let mut backends: Vec<(BackendConfig, usize)> = Vec::with_capacity(entries.len());
        for (backend_index, entry) in entries.into_iter().enumerate() {
            let key = format!("{key}[{backend_index}]");
            let Some((backend, line)) = self.backend(
                &key,
                entry,
                (&service_key, health),
                service_name,
                region_names,
            ) else {
                continue;
            };
            if let Some((_, first_line)) = backends
                .iter()
                .find(|(seen, _)| seen.target == backend.target)
            {
                let field = match backend.target {
                    BackendTarget::Address(_) => "address",
                    BackendTarget::Name(_) => "name",
                };
                let message = format!(
                    "duplicate backend {} (already listed on line {first_line})",
                    backend.target
                );
                self.errors.push(LoadError::new(
                    self.path,
                    Some(line),
                    format!("{key}.{field}"),
                    message,
                ));
            } else {
                backends.push((backend, line));
            }
        }
        let first_of = |want_name: bool| {
            backends
                .iter()
                .find(|(backend, _)| matches!(backend.target, BackendTarget::Name(_)) == want_name)
                .map(|(_, line)| *line)
        };
        if let (Some(address_line), Some(name_line)) = (first_of(false), first_of(true)) {
            self.error(
                Some(&list_span),
                &key,
                format!(
                    "mixes address backends (first on line {address_line}) with name \
                     backends (first on line {name_line}): a service's backends must be \
                     all addresses or all names"
                ),
            );
        }
        (self.errors.len() == errors_before)
            .then(|| backends.into_iter().map(|(backend, _)| backend).collect())
    }

    /// Converts one backend at `key` (`service[i].backends[j]`): exactly one
    /// of `address` and `name`, with `weight`, `priority` and `region`.
    /// Returns it with the line of its target.
    fn backend(
        &mut self,
        key: &str,
        raw: Spanned<RawBackend>,
        (service_key, service_health): (&str, Option<&Spanned<RawHealth>>),
        service_name: Option<&Name<Bytes>>,
        region_names: &[Option<String>],
    ) -> Option<(BackendConfig, usize)> {
        let span = raw.span();
        let raw = raw.into_inner();
        let target = match (&raw.address, &raw.name) {
            (None, None) => {
                self.error(
                    Some(&span),
                    key,
                    "needs an address (an A or AAAA answer) or a name (a CNAME answer)",
                );
                None
            }
            (Some(_), Some(name)) => {
                self.error(
                    Some(&name.span()),
                    key,
                    "has both an address and a name: give exactly one",
                );
                None
            }
            (Some(address), None) => match IpAddr::from_str(address.get_ref()) {
                Ok(parsed) => Some((BackendTarget::Address(parsed), address.span())),
                Err(error) => {
                    self.error(
                        Some(&address.span()),
                        &format!("{key}.address"),
                        format!(
                            "{:?} is not an IP address ({error}); \
                             write \"192.0.2.1\" or \"2001:db8::1\"",
                            address.get_ref()
                        ),
                    );
                    None
                }
            },
            (None, Some(name)) => self.backend_name(key, name, service_name),
        };
        let weight = match &raw.weight {
            None => Some(WEIGHT_DEFAULT),
            Some(value) => self.integer(&format!("{key}.weight"), value, WEIGHT_MIN..=WEIGHT_MAX),
        };
        let priority = match &raw.priority {
            None => Some(PRIORITY_DEFAULT),
            Some(value) => self.integer(
                &format!("{key}.priority"),
                value,
                PRIORITY_MIN..=PRIORITY_MAX,
            ),
        };
        let region = match &raw.region {
            None => Some(None),
            Some(region) => self
                .region_reference(&format!("{key}.region"), region, region_names)
                .map(Some),
        };
        let health = self.backend_health(
            service_key,
            key,
            service_health,
            raw.health.as_ref(),
            service_name,
            raw.name.is_some(),
        );
        let (target, target_span) = target?;
        Some((
            BackendConfig {
                target,
                weight: weight?,
                priority: priority?,
                region: region?,
                health: health?,
            },
            self.line(&target_span),
        ))
    }

    /// Converts a backend's `name`: a domain name other than the root and
    /// the service's own name, made absolute and lowercased.
    fn backend_name(
        &mut self,
        key: &str,
        raw: &Spanned<String>,
        service_name: Option<&Name<Bytes>>,
    ) -> Option<(BackendTarget, Range<usize>)> {
        let key = format!("{key}.name");
        let name = self.domain_name_at(raw, &key)?;
        if name.is_root() {
            self.error(
                Some(&raw.span()),
                &key,
                "is the root: a CNAME must point to a host name",
            );
            return None;
        }
        if service_name == Some(&name) {
            self.error(
                Some(&raw.span()),
                &key,
                format!(
                    "{} is the service's own name: the CNAME would point to itself",
                    absolute(&name)
                ),
            );
            return None;
        }
        Some((BackendTarget::Name(name), raw.span()))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{accepted, address, name, rejected_once, service};
    use crate::config::{
        BACKENDS_MAX, BackendConfig, BackendTarget, PRIORITY_MAX, PRIORITY_MIN, WEIGHT_MAX,
        WEIGHT_MIN,
    };

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
}
