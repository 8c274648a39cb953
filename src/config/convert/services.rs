//! Converts the `[[service]]` entries into [`ServiceConfig`]s; their
//! `backends` are converted in `backends`, their `health` in `health`.
//!
//! Checks: `name` is required, a domain name (made absolute and lowercase)
//! inside one of the `[[zone]]`s (from a file or a secondary; a catalog's
//! members are not known while loading), and distinct among services; `policy` is
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
use super::{Checker, absolute};

impl Checker<'_> {
    /// Converts every `[[service]]` entry, keeping those without errors.
    /// `zone_names` are the valid names of the file and secondary zones;
    /// `region_names` every
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
        let raw = self.required(
            raw,
            Some(header),
            &key,
            "the name the service answers for, e.g. \"www.example.com\"",
        )?;
        let name = self.domain_name_at(&raw, &key)?;
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
                    "{} is inside none of the zones ({zones}): \
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

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use crate::config::test_support::{
        accepted, address, keys_and_lines, name, regions_with, rejected, rejected_once, service,
        service_keys, zone_with,
    };
    use crate::config::{
        ANSWERS_DEFAULT, ANSWERS_MAX, ANSWERS_MIN, BackendConfig, FALLBACK_MAX,
        HASH_PREFIX_V4_DEFAULT, HASH_PREFIX_V6_DEFAULT, PRIORITY_DEFAULT, Policy,
        SERVICE_TTL_DEFAULT, SERVICE_TTL_MAX, SERVICE_TTL_MIN, ServiceConfig, WEIGHT_DEFAULT,
        WhenAllDown,
    };

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
        assert_eq!(
            keys_and_lines(&errors),
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
}
