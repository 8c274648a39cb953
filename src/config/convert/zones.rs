//! Converts the `[[zone]]` entries into [`ZoneConfig`]s; the zone files
//! themselves are read later, through [`Config::source`](super::super::Config::source).
//!
//! Checks: `name` is required and a domain name (made absolute and
//! lowercase; `"."` is the root, empty is rejected), distinct among zones;
//! `file` is required and non-empty, a relative path resolved against the
//! config file's directory.

use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use domain::base::Name;
use toml::Spanned;

use super::super::ZoneConfig;
use super::super::raw::RawZone;
use super::{Checker, absolute, domain_name};

impl Checker<'_> {
    /// Converts every `[[zone]]` entry, keeping those without errors; also
    /// returns every valid zone name, even of entries with other errors.
    pub(super) fn zones(
        &mut self,
        raw: Vec<Spanned<RawZone>>,
    ) -> (Vec<ZoneConfig>, Vec<Name<Bytes>>) {
        let config_directory = self.path.parent().unwrap_or_else(|| Path::new(""));
        let mut zones: Vec<ZoneConfig> = Vec::with_capacity(raw.len());
        // Every valid name so far with its line, even from entries with
        // other errors, so that duplicates are all reported.
        let mut names: Vec<(Name<Bytes>, usize)> = Vec::with_capacity(raw.len());
        for (index, entry) in raw.into_iter().enumerate() {
            let header = entry.span();
            let entry = entry.into_inner();
            let name = self.zone_name(index, &header, entry.name, &names);
            if let Some(name) = &name {
                names.push(name.clone());
            }
            let file = self.zone_file(index, &header, entry.file, config_directory);
            if let (Some((name, line)), Some(file)) = (name, file) {
                zones.push(ZoneConfig { name, file, line });
            }
        }
        (zones, names.into_iter().map(|(name, _)| name).collect())
    }

    /// Converts `zone[index].name`: a domain name, made absolute and
    /// lowercased, distinct from the `earlier` names (with their lines).
    /// Returns it with its line.
    fn zone_name(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<Spanned<String>>,
        earlier: &[(Name<Bytes>, usize)],
    ) -> Option<(Name<Bytes>, usize)> {
        let key = format!("zone[{index}].name");
        let Some(raw) = raw else {
            self.error(
                Some(header),
                &key,
                "required: the zone's apex, e.g. \"example.com\"",
            );
            return None;
        };
        let text = raw.get_ref();
        let line = self.line(&raw.span());
        let parsed = if text.is_empty() {
            Err("empty; write \".\" for the root zone".to_owned())
        } else {
            domain_name(text)
        };
        let name = match parsed {
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
        if let Some((_, first_line)) = earlier.iter().find(|(seen, _)| *seen == name) {
            let first_line = *first_line;
            self.error(
                Some(&raw.span()),
                &key,
                format!(
                    "duplicate zone {} (already defined on line {first_line})",
                    absolute(&name)
                ),
            );
            return None;
        }
        Some((name, line))
    }

    /// Converts `zone[index].file`: required, non-empty; a relative path is
    /// resolved against `config_directory`.
    fn zone_file(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<Spanned<String>>,
        config_directory: &Path,
    ) -> Option<PathBuf> {
        let key = format!("zone[{index}].file");
        let Some(raw) = raw else {
            self.error(
                Some(header),
                &key,
                "required: the zone file's path, relative to this config file's directory",
            );
            return None;
        };
        if raw.get_ref().is_empty() {
            self.error(Some(&raw.span()), &key, "must not be empty");
            return None;
        }
        Some(config_directory.join(raw.get_ref()))
    }
}
