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
use super::{Checker, absolute, domain_name};

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
        let Some(raw) = raw else {
            self.error(
                Some(header),
                &key,
                "required: at least one backend, e.g. [{ address = \"192.0.2.1\" }]",
            );
            return None;
        };
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
        let text = raw.get_ref();
        let name = match domain_name(text) {
            Ok(name) => name,
            Err(error) => {
                self.error(
                    Some(&raw.span()),
                    &key,
                    format!("{text:?} is not a domain name: {error}"),
                );
                return None;
            }
        };
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
