//! Converts the `[[service]]` entries into [`ServiceConfig`]s; their
//! `backends` are converted in `backends`, their `health` in `health`.
//!
//! Checks: `name` is required, a domain name (made absolute and lowercase)
//! inside one of the zones, and distinct among services; `policy` is
//! required and one of the balancer's policies, `"geo"` only with regions
//! defined; `answers`, `ttl`, `hash_prefix_v4` and `hash_prefix_v6` are
//! within their bound constants; `when_all_down` is one of its actions, and
//! `fallback` (distinct IP addresses, at most [`FALLBACK_MAX`]) is given,
//! non-empty, exactly when that action is `"fallback"`; with name backends,
//! `answers` is 1 and the service is not a zone apex.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;

use bytes::Bytes;
use domain::base::Name;
use toml::Spanned;

use super::super::raw::RawService;
use super::super::{
    ANSWERS_DEFAULT, ANSWERS_MAX, ANSWERS_MIN, BackendTarget, FALLBACK_MAX, HASH_PREFIX_V4_DEFAULT,
    HASH_PREFIX_V4_MAX, HASH_PREFIX_V4_MIN, HASH_PREFIX_V6_DEFAULT, HASH_PREFIX_V6_MAX,
    HASH_PREFIX_V6_MIN, Policy, SERVICE_TTL_DEFAULT, SERVICE_TTL_MAX, SERVICE_TTL_MIN,
    ServiceConfig, WhenAllDown,
};
use super::{Checker, absolute, domain_name};

impl Checker<'_> {
    /// Converts every `[[service]]` entry, keeping those without errors.
    /// `zone_names` are the valid zone names; `region_names` every
    /// region's name as written.
    pub(super) fn services(
        &mut self,
        raw: Vec<Spanned<RawService>>,
        zone_names: &[Name<Bytes>],
        region_names: &[Option<String>],
    ) -> Vec<ServiceConfig> {
        let mut services: Vec<ServiceConfig> = Vec::with_capacity(raw.len());
        // Every valid name so far with its line, even from entries with
        // other errors, so that duplicates are all reported (a map: configs
        // hold tens of thousands of services).
        let mut names: HashMap<Name<Bytes>, usize> = HashMap::with_capacity(raw.len());
        for (index, entry) in raw.into_iter().enumerate() {
            let header = entry.span();
            let mut entry = entry.into_inner();
            let name = self.service_name(index, &header, entry.name.take(), zone_names, &names);
            if let Some((name, line)) = &name {
                names.insert(name.clone(), *line);
            }
            if let Some(service) =
                self.service(index, &header, entry, name, zone_names, region_names)
            {
                services.push(service);
            }
        }
        services
    }

    /// Converts `service[index].name`: a domain name, made absolute and
    /// lowercased, inside one of `zone_names`, distinct from the `earlier`
    /// names (with their lines). Returns it with its line.
    fn service_name(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<Spanned<String>>,
        zone_names: &[Name<Bytes>],
        earlier: &HashMap<Name<Bytes>, usize>,
    ) -> Option<(Name<Bytes>, usize)> {
        let key = format!("service[{index}].name");
        let Some(raw) = raw else {
            self.error(
                Some(header),
                &key,
                "required: the name the service answers for, e.g. \"www.example.com\"",
            );
            return None;
        };
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
        if !zone_names.iter().any(|zone| name.ends_with(zone)) {
            let zones = if zone_names.is_empty() {
                "no [[zone]] is defined".to_owned()
            } else {
                let list: Vec<String> = zone_names.iter().map(absolute).collect();
                format!("zones: {}", list.join(", "))
            };
            self.error(
                Some(&raw.span()),
                &key,
                format!(
                    "{} is inside none of the zones served ({zones}): \
                     a service must be in one of them",
                    absolute(&name)
                ),
            );
            return None;
        }
        if let Some(&first_line) = earlier.get(&name) {
            self.error(
                Some(&raw.span()),
                &key,
                format!(
                    "duplicate service {} (already defined on line {first_line})",
                    absolute(&name)
                ),
            );
            return None;
        }
        Some((name, self.line(&raw.span())))
    }

    /// Converts every key of `service[index]` but `name`, already converted
    /// into `name_and_line` (`None` when invalid).
    fn service(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: RawService,
        name_and_line: Option<(Name<Bytes>, usize)>,
        zone_names: &[Name<Bytes>],
        region_names: &[Option<String>],
    ) -> Option<ServiceConfig> {
        let name = name_and_line.as_ref().map(|(name, _)| name);
        let key = |field: &str| format!("service[{index}].{field}");
        let policy = match &raw.policy {
            None => {
                let choices: Vec<&str> = Policy::ALL.iter().map(|policy| policy.name()).collect();
                self.error(
                    Some(header),
                    &key("policy"),
                    format!("required: one of {}", choices.join(", ")),
                );
                None
            }
            Some(policy) => self.choice(
                &key("policy"),
                policy,
                &Policy::ALL.map(|policy| (policy.name(), policy)),
            ),
        };
        if let (Some(Policy::Geo), Some(raw_policy)) = (policy, &raw.policy) {
            if region_names.is_empty() {
                self.error(
                    Some(&raw_policy.span()),
                    &key("policy"),
                    "\"geo\" needs regions: define [[region]] entries with their networks \
                     (or a [topology] file)",
                );
            }
        }
        let answers = match &raw.answers {
            None => Some(ANSWERS_DEFAULT),
            Some(value) => self.integer(&key("answers"), value, ANSWERS_MIN..=ANSWERS_MAX),
        };
        let ttl = match &raw.ttl {
            None => Some(SERVICE_TTL_DEFAULT),
            Some(value) => self.integer(&key("ttl"), value, SERVICE_TTL_MIN..=SERVICE_TTL_MAX),
        };
        let when_all_down = match &raw.when_all_down {
            None => Some(WhenAllDown::All),
            Some(value) => self.choice(
                &key("when_all_down"),
                value,
                &WhenAllDown::ALL.map(|action| (action.name(), action)),
            ),
        };
        let fallback = self.service_fallback(
            &key("fallback"),
            header,
            raw.fallback,
            when_all_down,
            raw.when_all_down.as_ref(),
        );
        let hash_prefix_v4 = match &raw.hash_prefix_v4 {
            None => Some(HASH_PREFIX_V4_DEFAULT),
            Some(value) => self.integer(
                &key("hash_prefix_v4"),
                value,
                HASH_PREFIX_V4_MIN..=HASH_PREFIX_V4_MAX,
            ),
        };
        let hash_prefix_v6 = match &raw.hash_prefix_v6 {
            None => Some(HASH_PREFIX_V6_DEFAULT),
            Some(value) => self.integer(
                &key("hash_prefix_v6"),
                value,
                HASH_PREFIX_V6_MIN..=HASH_PREFIX_V6_MAX,
            ),
        };
        let backends_span = raw.backends.as_ref().map(Spanned::span);
        let backends = self.backends(
            index,
            header,
            raw.backends,
            raw.health.as_ref(),
            name,
            region_names,
        );
        if let Some(backends) = &backends {
            let names_backends = backends
                .iter()
                .any(|backend| matches!(backend.target, BackendTarget::Name(_)));
            if let (true, Some(answers), Some(raw_answers)) =
                (names_backends, answers, &raw.answers)
            {
                if answers > 1 {
                    self.error(
                        Some(&raw_answers.span()),
                        &key("answers"),
                        format!(
                            "is {answers}, but the backends are names: a CNAME answer holds \
                             one name, so answers must be 1"
                        ),
                    );
                }
            }
            if let (true, Some(name)) = (names_backends, name) {
                if zone_names.contains(name) {
                    self.error(
                        backends_span.as_ref().or(Some(header)),
                        &key("backends"),
                        format!(
                            "are names, but {} is a zone apex, where a CNAME cannot be \
                             (it would sit beside the zone's SOA and NS)",
                            absolute(name)
                        ),
                    );
                }
            }
        }
        let (name, line) = name_and_line?;
        Some(ServiceConfig {
            name,
            policy: policy?,
            answers: answers?,
            ttl: ttl?,
            when_all_down: when_all_down?,
            fallback: fallback?,
            hash_prefix_v4: hash_prefix_v4?,
            hash_prefix_v6: hash_prefix_v6?,
            backends: backends?,
            line,
        })
    }

    /// Converts `service[i].fallback`: distinct IP addresses, at most
    /// [`FALLBACK_MAX`]; required (non-empty) when `when_all_down` is
    /// `"fallback"`, and only allowed then.
    fn service_fallback(
        &mut self,
        key: &str,
        header: &Range<usize>,
        raw: Option<Spanned<Vec<Spanned<String>>>>,
        when_all_down: Option<WhenAllDown>,
        raw_when_all_down: Option<&Spanned<String>>,
    ) -> Option<Vec<IpAddr>> {
        let wanted = when_all_down == Some(WhenAllDown::Fallback);
        let Some(raw) = raw else {
            if wanted {
                let span = raw_when_all_down.map(Spanned::span);
                self.error(
                    span.as_ref().or(Some(header)),
                    key,
                    "required when when_all_down = \"fallback\": the addresses to answer \
                     with when every backend is down",
                );
                return None;
            }
            return Some(Vec::new());
        };
        let errors_before = self.errors.len();
        let list_span = raw.span();
        let entries = raw.into_inner();
        if wanted && entries.is_empty() {
            self.error(
                Some(&list_span),
                key,
                "must list at least one address when when_all_down = \"fallback\"",
            );
        }
        if !entries.is_empty() && !wanted {
            if let Some(when_all_down) = when_all_down {
                self.error(
                    Some(&list_span),
                    key,
                    format!(
                        "is set, but when_all_down is {:?}: the fallback addresses are used \
                         only with when_all_down = \"fallback\"",
                        when_all_down.name()
                    ),
                );
            }
        }
        let addresses = self.distinct_addresses::<IpAddr>(
            key,
            &list_span,
            &entries,
            FALLBACK_MAX,
            ("an IP address", "\"192.0.2.1\" or \"2001:db8::1\""),
        );
        (self.errors.len() == errors_before).then_some(addresses)
    }
}
