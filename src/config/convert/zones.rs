//! Converts the `[[zone]]` entries into [`ZoneConfig`]s (zones served from
//! a file, read later through
//! [`Config::source`](super::super::Config::source)) and
//! [`SecondaryZoneConfig`]s (zones transferred from their `primaries`).
//!
//! Checks: `name` is required and a domain name (made absolute and
//! lowercase; `"."` is the root, empty is rejected), distinct among zones;
//! a zone has exactly one of `file` and `primaries`; `file` is non-empty, a
//! relative path resolved against the config file's directory; a secondary's
//! transfer keys are checked in `transfer`, and on a file zone they are
//! errors.

use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use domain::base::Name;
use toml::Spanned;

use super::super::raw::RawZone;
use super::super::{SecondaryZoneConfig, ZoneConfig};
use super::{Checker, absolute, domain_name};

/// The `[[zone]]` entries, converted.
pub(super) struct Zones {
    /// The zones with `file`, without errors.
    pub(super) files: Vec<ZoneConfig>,
    /// The zones with `primaries`, without errors.
    pub(super) secondaries: Vec<SecondaryZoneConfig>,
    /// Every valid name of an entry that is not a secondary (services must
    /// be inside one), even of entries with other errors.
    pub(super) file_names: Vec<Name<Bytes>>,
    /// Every valid name with its line, even of entries with other errors
    /// (catalog names must differ from them).
    pub(super) names: Vec<(Name<Bytes>, usize)>,
}

impl Checker<'_> {
    /// Converts every `[[zone]]` entry, keeping those without errors;
    /// `tsig_names` are the `[[tsig]]` names, in order.
    pub(super) fn zones(
        &mut self,
        raw: Vec<Spanned<RawZone>>,
        tsig_names: &[Name<Bytes>],
    ) -> Zones {
        let config_directory = self.path.parent().unwrap_or_else(|| Path::new(""));
        let mut zones = Zones {
            files: Vec::with_capacity(raw.len()),
            secondaries: Vec::new(),
            file_names: Vec::with_capacity(raw.len()),
            // Every valid name so far with its line, even from entries with
            // other errors, so that duplicates are all reported.
            names: Vec::with_capacity(raw.len()),
        };
        for (index, entry) in raw.into_iter().enumerate() {
            let header = entry.span();
            let mut entry = entry.into_inner();
            let prefix = format!("zone[{index}]");
            let name = self.zone_name(index, &header, entry.name.take(), &zones.names);
            if let Some(name) = &name {
                zones.names.push(name.clone());
            }
            let transfer = entry.transfer();
            match (entry.file, &transfer.primaries) {
                (Some(file), Some(primaries)) => {
                    self.error(
                        Some(&primaries.span()),
                        &format!("{prefix}.primaries"),
                        format!(
                            "a zone has either file (served from a zone file, line {}) or primaries \
                             (transferred from them), not both",
                            self.line(&file.span())
                        ),
                    );
                    zones.file_names.extend(name.map(|(name, _)| name));
                }
                (file, None) => {
                    self.no_transfer_keys(&prefix, &transfer);
                    let file = self.zone_file(index, &header, file, config_directory);
                    if let Some((name, _)) = &name {
                        zones.file_names.push(name.clone());
                    }
                    if let (Some((name, line)), Some(file)) = (name, file) {
                        zones.files.push(ZoneConfig { name, file, line });
                    }
                }
                (None, Some(_)) => {
                    let transfer = self.transfer(&prefix, &header, transfer, tsig_names);
                    if let (Some((name, line)), Some(transfer)) = (name, transfer) {
                        zones.secondaries.push(SecondaryZoneConfig {
                            name,
                            transfer,
                            line,
                        });
                    }
                }
            }
        }
        zones
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
        let raw = self.required(
            raw,
            Some(header),
            &key,
            "the zone's apex, e.g. \"example.com\"",
        )?;
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
        let raw = self.required(
            raw,
            Some(header),
            &key,
            "either file, the zone file's path relative to this config file's directory, \
             or primaries, the servers to transfer the zone from",
        )?;
        if raw.get_ref().is_empty() {
            self.error(Some(&raw.span()), &key, "must not be empty");
            return None;
        }
        Some(config_directory.join(raw.get_ref()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::config::test_support::{
        accepted, keys_and_lines, rejected, rejected_once, server_with, zone_text,
    };
    use crate::config::{Source, parse};

    #[test]
    fn zone_name_made_absolute_and_lowercase() {
        for written in ["Example.COM", "example.com.", "EXAMPLE.com."] {
            let config = accepted(&zone_text(written, "a.zone"));
            let zone = &config.zones[0];
            assert_eq!(zone.name.as_octets().as_ref(), b"\x07example\x03com\x00");
            assert_eq!(zone.line, 4);
        }
    }

    #[test]
    fn zone_name_root_allowed() {
        let config = accepted(&zone_text(".", "root.zone"));
        assert!(config.zones[0].name.is_root());
    }

    #[test]
    fn zone_name_invalid_rejected() {
        for bad in [
            "",
            "a..b",
            ".example.com",
            &format!("{}.com", "x".repeat(64)),
        ] {
            let error = rejected_once(&zone_text(bad, "a.zone"), "zone[0].name", 4);
            assert!(error.message.contains("not a domain name"), "{error}");
        }
    }

    #[test]
    fn zone_duplicates_rejected_case_insensitively() {
        let text = server_with(
            "[[zone]]\nname = \"example.com\"\nfile = \"a.zone\"\n\
             [[zone]]\nname = \"example.net\"\nfile = \"b.zone\"\n\
             [[zone]]\nname = \"EXAMPLE.com.\"\nfile = \"c.zone\"",
        );
        let error = rejected_once(&text, "zone[2].name", 10);
        assert!(error.message.contains("example.com."), "{error}");
        assert!(error.message.contains("line 4"), "{error}");
        // Found even when the first entry has another problem.
        let text = server_with(
            "[[zone]]\nname = \"example.com\"\n\
             [[zone]]\nname = \"Example.Com\"\nfile = \"b.zone\"",
        );
        let errors = rejected(&text);
        let keys: Vec<&str> = errors.iter().map(|error| error.key.as_str()).collect();
        assert_eq!(keys, vec!["zone[0].file", "zone[1].name"]);
    }

    #[test]
    fn zone_keys_required() {
        rejected_once(
            &server_with("[[zone]]\nfile = \"a.zone\""),
            "zone[0].name",
            3,
        );
        rejected_once(&server_with("[[zone]]\nname = \"a.\""), "zone[0].file", 3);
        rejected_once(&zone_text("a.", ""), "zone[0].file", 5);
    }

    #[test]
    fn zone_relative_path_resolved_against_config_directory() {
        let config = accepted(&zone_text("example.com", "zones/example.com.zone"));
        assert_eq!(
            config.zones[0].file,
            Path::new("/etc/dnslb/zones/example.com.zone")
        );
        let config = accepted(&zone_text("example.com", "../shared/example.com.zone"));
        assert_eq!(
            config.zones[0].file,
            Path::new("/etc/dnslb/../shared/example.com.zone")
        );
        let bare = parse(
            &zone_text("example.com", "zones/example.com.zone"),
            Path::new("dnslb.toml"),
            Source::Disk,
        );
        assert_eq!(
            bare.ok().map(|config| config.zones[0].file.clone()),
            Some(PathBuf::from("zones/example.com.zone"))
        );
    }

    #[test]
    fn zone_absolute_path_kept() {
        let config = accepted(&zone_text("example.com", "/var/lib/dnslb/example.com.zone"));
        assert_eq!(
            config.zones[0].file,
            Path::new("/var/lib/dnslb/example.com.zone")
        );
    }

    #[test]
    fn zones_may_be_absent() {
        assert!(accepted(&server_with("")).zones.is_empty());
    }

    #[test]
    fn zone_inline_array_of_tables() {
        let config = accepted(
            "zone = [\n  { name = \"a.example\", file = \"a.zone\" },\n  \
             { name = \"b.example\", file = \"b.zone\" },\n]\n\
             [server]\nlisten = [\"127.0.0.1:53\"]\n",
        );
        assert_eq!(config.zones.len(), 2);
        assert_eq!(config.zones[1].line, 3);
        rejected_once(
            "zone = [{ name = \"a.\", file = \"a\" }, { name = \"a.\", fil = \"b\" }]\n",
            "zone[1].fil",
            1,
        );
    }

    /// A valid `[server]` and a zone `example.net` (header on line 3, name
    /// on 4) with `keys` from line 5 on.
    fn zone_keys(keys: &str) -> String {
        server_with(&format!("[[zone]]\nname = \"example.net\"\n{keys}"))
    }

    #[test]
    fn zone_has_file_or_primaries() {
        let config = accepted(&zone_keys("primaries = [\"192.0.2.53\"]"));
        assert!(config.zones.is_empty());
        assert_eq!(config.secondaries.len(), 1);
        assert_eq!(config.secondaries[0].line, 4);
        assert!(accepted(&server_with("")).secondaries.is_empty());
        let error = rejected_once(
            &zone_keys("file = \"a.zone\"\nprimaries = [\"192.0.2.53\"]"),
            "zone[0].primaries",
            6,
        );
        assert_eq!(
            error.message,
            "a zone has either file (served from a zone file, line 5) or primaries \
             (transferred from them), not both"
        );
        let error = rejected_once(&zone_keys(""), "zone[0].file", 3);
        assert!(
            error.message.starts_with("required: either file")
                && error.message.contains("or primaries"),
            "{error}"
        );
    }

    #[test]
    fn transfer_keys_only_on_secondaries() {
        for (key, value) in [
            ("tsig", "\"k\""),
            ("notify_from", "[\"192.0.2.1\"]"),
            ("refresh_min", "\"5s\""),
            ("refresh_max", "\"1d\""),
            ("retry_min", "\"5s\""),
            ("expire_min", "\"1h\""),
        ] {
            let error = rejected_once(
                &zone_keys(&format!("file = \"a.zone\"\n{key} = {value}")),
                &format!("zone[0].{key}"),
                6,
            );
            assert!(error.message.contains("secondary zones only"), "{error}");
        }
        // Without file either, both problems are named.
        let errors = rejected(&zone_keys("refresh_min = \"5s\""));
        assert_eq!(
            keys_and_lines(&errors),
            vec![("zone[0].file", Some(3)), ("zone[0].refresh_min", Some(5))]
        );
    }

    #[test]
    fn secondary_and_file_zone_names_are_distinct() {
        let text = server_with(
            "[[zone]]\nname = \"example.net\"\nfile = \"a.zone\"\n\
             [[zone]]\nname = \"Example.Net.\"\nprimaries = [\"192.0.2.53\"]",
        );
        let error = rejected_once(&text, "zone[1].name", 7);
        assert!(
            error.message.contains("duplicate zone example.net.")
                && error.message.contains("line 4"),
            "{error}"
        );
    }

    #[test]
    fn services_may_be_inside_secondary_zones() {
        let text = zone_keys(
            "primaries = [\"192.0.2.53\"]\n\
             [[service]]\nname = \"www.example.net\"\npolicy = \"round_robin\"\n\
             backends = [{ address = \"192.0.2.1\" }]",
        );
        let config = accepted(&text);
        assert_eq!(config.services.len(), 1);
        assert_eq!(config.secondaries.len(), 1);
    }
}
