//! Converts the `[[catalog]]` entries into [`CatalogConfig`]s: catalog
//! zones (RFC 9432) transferred from their primaries, whose member zones are
//! provisioned as secondaries with the catalog's transfer settings.
//!
//! Checks: `name` is required and a domain name (made absolute and
//! lowercase), distinct from every `[[zone]]` name and from the other
//! catalogs; the transfer keys (`primaries` required) are checked in
//! `transfer`.

use std::ops::Range;

use bytes::Bytes;
use domain::base::Name;
use toml::Spanned;

use super::super::CatalogConfig;
use super::super::raw::RawCatalog;
use super::{Checker, absolute};

impl Checker<'_> {
    /// Converts every `[[catalog]]` entry, keeping those without errors;
    /// `zone_names` are the `[[zone]]` names with their lines, `tsig_names`
    /// the `[[tsig]]` names, in order.
    pub(super) fn catalogs(
        &mut self,
        raw: Vec<Spanned<RawCatalog>>,
        zone_names: &[(Name<Bytes>, usize)],
        tsig_names: &[Name<Bytes>],
    ) -> Vec<CatalogConfig> {
        let mut catalogs: Vec<CatalogConfig> = Vec::with_capacity(raw.len());
        let mut names: Vec<(Name<Bytes>, usize)> = Vec::with_capacity(raw.len());
        for (index, entry) in raw.into_iter().enumerate() {
            let header = entry.span();
            let mut entry = entry.into_inner();
            let name = self.catalog_name(index, &header, entry.name.take(), zone_names, &names);
            if let Some(name) = &name {
                names.push(name.clone());
            }
            let transfer = self.transfer(
                &format!("catalog[{index}]"),
                &header,
                entry.transfer(),
                tsig_names,
            );
            if let (Some((name, line)), Some(transfer)) = (name, transfer) {
                catalogs.push(CatalogConfig {
                    name,
                    transfer,
                    line,
                });
            }
        }
        catalogs
    }

    /// Converts `catalog[index].name`: required, a domain name that is no
    /// zone's (`zone_names`) and no earlier catalog's (`earlier`), both
    /// with their lines. Returns it with its line.
    fn catalog_name(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<Spanned<String>>,
        zone_names: &[(Name<Bytes>, usize)],
        earlier: &[(Name<Bytes>, usize)],
    ) -> Option<(Name<Bytes>, usize)> {
        let key = format!("catalog[{index}].name");
        let raw = self.required(
            raw,
            Some(header),
            &key,
            "the catalog zone's apex, e.g. \"catalog.example\"",
        )?;
        let name = self.domain_name_at(&raw, &key)?;
        let clash = |names: &[(Name<Bytes>, usize)]| {
            names
                .iter()
                .find(|(seen, _)| *seen == name)
                .map(|(_, line)| *line)
        };
        if let Some(zone_line) = clash(zone_names) {
            self.error(
                Some(&raw.span()),
                &key,
                format!(
                    "{} is already a [[zone]] (line {zone_line}): zone and catalog names \
                     must be distinct",
                    absolute(&name)
                ),
            );
            return None;
        }
        if let Some(first_line) = clash(earlier) {
            self.error(
                Some(&raw.span()),
                &key,
                format!(
                    "duplicate catalog {} (already defined on line {first_line})",
                    absolute(&name)
                ),
            );
            return None;
        }
        Some((name, self.line(&raw.span())))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::test_support::{
        accepted, keys_and_lines, name, rejected, rejected_once, server_with,
    };

    /// A valid `[server]`, then `[[catalog]]` on line 3 and `keys` from
    /// line 4 on.
    fn catalog(keys: &str) -> String {
        server_with(&format!("[[catalog]]\n{keys}"))
    }

    /// As [`catalog`], with `name = "catalog.example"` on line 4,
    /// `primaries = ["192.0.2.53"]` on line 5, and `keys` from line 6 on.
    fn named(keys: &str) -> String {
        catalog(&format!(
            "name = \"catalog.example\"\nprimaries = [\"192.0.2.53\"]\n{keys}"
        ))
    }

    #[test]
    fn catalog_converts_with_defaults() {
        let config = accepted(&named(""));
        assert_eq!(config.catalogs.len(), 1);
        let catalog = &config.catalogs[0];
        assert_eq!(catalog.name, name("catalog.example."));
        assert_eq!(catalog.line, 4);
        assert_eq!(catalog.transfer.tsig, None);
        assert_eq!(
            catalog.transfer.notify_from,
            vec!["192.0.2.53/32".parse().unwrap_or_else(|_| unreachable!())]
        );
        assert!(config.zones.is_empty() && config.secondaries.is_empty());
        assert!(accepted(&server_with("")).catalogs.is_empty());
    }

    #[test]
    fn catalog_needs_name_and_primaries() {
        let error = rejected_once(
            &catalog("primaries = [\"192.0.2.53\"]"),
            "catalog[0].name",
            3,
        );
        assert!(error.message.starts_with("required"), "{error}");
        rejected_once(
            &catalog("name = \"a..b\"\nprimaries = [\"192.0.2.53\"]"),
            "catalog[0].name",
            4,
        );
        let error = rejected_once(&catalog("name = \"c.example\""), "catalog[0].primaries", 3);
        assert!(error.message.starts_with("required"), "{error}");
        rejected_once(
            &catalog("name = \"c.example\"\nprimaries = []"),
            "catalog[0].primaries",
            5,
        );
        rejected_once(&named("file = \"c.zone\""), "catalog[0].file", 6);
    }

    #[test]
    fn catalog_names_distinct_from_zones_and_catalogs() {
        let text = server_with(
            "[[zone]]\nname = \"example.com\"\nfile = \"a.zone\"\n\
             [[zone]]\nname = \"example.net\"\nprimaries = [\"192.0.2.53\"]\n\
             [[catalog]]\nname = \"Example.COM\"\nprimaries = [\"192.0.2.53\"]\n\
             [[catalog]]\nname = \"example.net.\"\nprimaries = [\"192.0.2.53\"]\n\
             [[catalog]]\nname = \"catalog.example\"\nprimaries = [\"192.0.2.53\"]\n\
             [[catalog]]\nname = \"CATALOG.example\"\nprimaries = [\"192.0.2.53\"]",
        );
        let errors = rejected(&text);
        assert_eq!(
            keys_and_lines(&errors),
            vec![
                ("catalog[0].name", Some(10)),
                ("catalog[1].name", Some(13)),
                ("catalog[3].name", Some(19)),
            ]
        );
        assert!(
            errors[0]
                .message
                .contains("example.com. is already a [[zone]] (line 4)"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1]
                .message
                .contains("example.net. is already a [[zone]] (line 7)"),
            "{}",
            errors[1]
        );
        assert!(
            errors[2]
                .message
                .contains("duplicate catalog catalog.example. (already defined on line 16)"),
            "{}",
            errors[2]
        );
    }

    #[test]
    fn catalog_transfer_keys_are_checked_under_its_own_key() {
        let config = accepted(&named("retry_min = \"1m\"\nexpire_min = \"1w\""));
        let timers = config.catalogs[0].transfer.timers;
        assert_eq!(timers.retry_min, Duration::from_secs(60));
        assert_eq!(timers.expire_min, Duration::from_secs(7 * 86_400));
        let errors = rejected(&named(
            "tsig = \"k\"\nnotify_from = [\"x\"]\nrefresh_min = \"2d\"\nexpire_min = \"0s\"",
        ));
        assert_eq!(
            keys_and_lines(&errors),
            vec![
                ("catalog[0].tsig", Some(6)),
                ("catalog[0].notify_from", Some(7)),
                ("catalog[0].refresh_min", Some(8)),
                ("catalog[0].expire_min", Some(9)),
            ]
        );
        assert!(
            errors[2].message.contains("catalog[0].refresh_max (1day)"),
            "{}",
            errors[2]
        );
    }
}
