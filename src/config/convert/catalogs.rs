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
