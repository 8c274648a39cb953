//! Converts the `[[region]]` entries into [`RegionConfig`]s, and resolves
//! region names written elsewhere (a region's fallback, a backend's
//! `region`, `topology.default_region`) to indices into
//! [`Config::regions`](super::super::Config::regions).
//!
//! Checks: `name` is required, 1..=[`REGION_NAME_MAX_BYTES`] of `a-z`,
//! `0-9`, `_` and `-`, and distinct among regions (a bad name is reported
//! once, at its definition); `fallback` names known regions, each once,
//! never the region itself; `networks` are checked and gathered with the
//! topology file's in `topology`.

use std::ops::Range;

use toml::Spanned;

use super::super::raw::RawRegion;
use super::super::{REGION_NAME_MAX_BYTES, RegionConfig};
use super::Checker;
use super::topology::Networks;

impl Checker<'_> {
    /// Converts every `[[region]]` entry. Returns the regions (complete only
    /// when there is no error), every entry's name as written (for
    /// references, so a bad name is reported once, at its definition), and
    /// the networks of every `region[i].networks`.
    pub(super) fn regions(
        &mut self,
        raw: Vec<Spanned<RawRegion>>,
    ) -> (Vec<RegionConfig>, Vec<Option<String>>, Networks) {
        let names: Vec<Option<String>> = raw
            .iter()
            .map(|entry| {
                entry
                    .get_ref()
                    .name
                    .as_ref()
                    .map(|name| name.get_ref().clone())
            })
            .collect();
        let mut regions: Vec<RegionConfig> = Vec::with_capacity(raw.len());
        let mut networks = Networks::default();
        for (index, entry) in raw.into_iter().enumerate() {
            let header = entry.span();
            let entry = entry.into_inner();
            let name = self.region_name(index, &header, entry.name.as_ref(), &names);
            let fallback = self.region_fallback(index, entry.fallback.unwrap_or_default(), &names);
            let key = format!("region[{index}].networks");
            for network in entry.networks.unwrap_or_default() {
                let Some(parsed) = self.network(&key, &network) else {
                    continue;
                };
                let origin = format!("line {}", self.line(&network.span()));
                if let Err(message) = networks.add(parsed, index, origin, &names) {
                    self.error(Some(&network.span()), &key, message);
                }
            }
            if let (Some((name, line)), Some(fallback)) = (name, fallback) {
                regions.push(RegionConfig {
                    name,
                    fallback,
                    line,
                });
            }
        }
        (regions, names, networks)
    }

    /// Converts `region[index].name`: required, 1..=[`REGION_NAME_MAX_BYTES`]
    /// of `a-z0-9_-`, distinct from the names of earlier entries (`names`
    /// holds every entry's). Returns it with its line.
    fn region_name(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<&Spanned<String>>,
        names: &[Option<String>],
    ) -> Option<(String, usize)> {
        let key = format!("region[{index}].name");
        let raw = self.required(raw, Some(header), &key, "the region's name, e.g. \"eu\"")?;
        let text = raw.get_ref();
        if let Err(message) = check_region_name(text) {
            self.error(Some(&raw.span()), &key, format!("{text:?} {message}"));
            return None;
        }
        if let Some(first) = region_index(&names[..index], text) {
            let message = format!("duplicate region {text:?} (already defined as region[{first}])");
            self.error(Some(&raw.span()), &key, message);
            return None;
        }
        Some((text.clone(), self.line(&raw.span())))
    }

    /// Converts `region[index].fallback`: names of other regions, distinct.
    fn region_fallback(
        &mut self,
        index: usize,
        raw: Vec<Spanned<String>>,
        names: &[Option<String>],
    ) -> Option<Vec<usize>> {
        let key = format!("region[{index}].fallback");
        let errors_before = self.errors.len();
        let mut fallback: Vec<(usize, usize)> = Vec::with_capacity(raw.len());
        for entry in &raw {
            let Some(region) = self.region_reference(&key, entry, names) else {
                continue;
            };
            if region == index {
                self.error(
                    Some(&entry.span()),
                    &key,
                    format!(
                        "{:?} is this region itself: list the regions to try instead",
                        entry.get_ref()
                    ),
                );
            } else if let Some((_, first_line)) = fallback.iter().find(|(seen, _)| *seen == region)
            {
                let first_line = *first_line;
                self.error(
                    Some(&entry.span()),
                    &key,
                    format!(
                        "duplicate region {:?} (already listed on line {first_line})",
                        entry.get_ref()
                    ),
                );
            } else {
                fallback.push((region, self.line(&entry.span())));
            }
        }
        (self.errors.len() == errors_before)
            .then(|| fallback.into_iter().map(|(region, _)| region).collect())
    }

    /// Resolves a region name written at `key` to its index in `names`.
    pub(super) fn region_reference(
        &mut self,
        key: &str,
        raw: &Spanned<String>,
        names: &[Option<String>],
    ) -> Option<usize> {
        let found = region_index(names, raw.get_ref());
        if found.is_none() {
            self.error(
                Some(&raw.span()),
                key,
                format!(
                    "unknown region {:?} ({})",
                    raw.get_ref(),
                    known_regions(names)
                ),
            );
        }
        found
    }
}

/// Checks a region name: 1..=[`REGION_NAME_MAX_BYTES`] of `a-z`, `0-9`,
/// `_` and `-`. The error completes a sentence starting with the name.
fn check_region_name(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".to_owned());
    }
    if text.len() > REGION_NAME_MAX_BYTES {
        return Err(format!(
            "is {} bytes long, more than the maximum {REGION_NAME_MAX_BYTES}",
            text.len()
        ));
    }
    if !text.bytes().all(|byte| {
        byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
    }) {
        return Err("may hold only a-z, 0-9, _ and -".to_owned());
    }
    Ok(())
}

/// The index of the first region named `name` among `names`.
pub(super) fn region_index(names: &[Option<String>], name: &str) -> Option<usize> {
    names
        .iter()
        .position(|known| known.as_deref() == Some(name))
}

/// Lists the defined regions for an "unknown region" message.
pub(super) fn known_regions(names: &[Option<String>]) -> String {
    let known: Vec<String> = names
        .iter()
        .flatten()
        .map(|name| format!("{name:?}"))
        .collect();
    if known.is_empty() {
        "no [[region]] is defined".to_owned()
    } else {
        format!("regions: {}", known.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::REGION_NAME_MAX_BYTES;
    use crate::config::test_support::{
        accepted, networks, regions_with, rejected, rejected_once, zone_with,
    };

    #[test]
    fn region_names() {
        let config = accepted(&regions_with(""));
        let names: Vec<&str> = config
            .regions
            .iter()
            .map(|region| region.name.as_str())
            .collect();
        assert_eq!(names, vec!["eu", "us"]);
        assert_eq!(config.regions[1].line, 9);
        assert!(config.regions[0].fallback.is_empty());
        let long = "a".repeat(REGION_NAME_MAX_BYTES);
        accepted(&zone_with(&format!("[[region]]\nname = \"{long}\"")));
        accepted(&zone_with("[[region]]\nname = \"us-east_1\""));
        for bad in ["", "EU", "e.u", "eu west", "é", &format!("{long}a")] {
            rejected_once(
                &zone_with(&format!("[[region]]\nname = {bad:?}")),
                "region[0].name",
                7,
            );
        }
        rejected_once(&zone_with("[[region]]\nnetworks = []"), "region[0].name", 6);
        let error = rejected_once(
            &regions_with("[[region]]\nname = \"eu\""),
            "region[2].name",
            11,
        );
        assert!(error.message.contains("duplicate"), "{error}");
        rejected_once(
            &zone_with("[[region]]\nname = \"eu\"\nnetwork = []"),
            "region[0].network",
            8,
        );
    }

    #[test]
    fn region_networks() {
        let config = accepted(&zone_with(
            "[[region]]\nname = \"eu\"\nnetworks = [\"198.51.100.0/24\", \"2001:db8:e0::/48\", \
             \"192.0.2.1/32\", \"0.0.0.0/0\"]",
        ));
        let networks = networks(&config);
        assert_eq!(
            networks,
            vec![
                ("198.51.100.0/24".to_owned(), 0),
                ("2001:db8:e0::/48".to_owned(), 0),
                ("192.0.2.1/32".to_owned(), 0),
                ("0.0.0.0/0".to_owned(), 0),
            ]
        );
        assert_eq!(config.topology.default_region, None);
    }

    #[test]
    fn region_network_errors() {
        let at = |networks: &str| zone_with(&format!("[[region]]\nname = \"eu\"\n{networks}"));
        let error = rejected_once(
            &at("networks = [\n  \"198.51.100.0/24\",\n  \"198.51.100.7/24\",\n]"),
            "region[0].networks",
            10,
        );
        assert!(error.message.contains("host bits"), "{error}");
        assert!(error.message.contains("198.51.100.0/24"), "{error}");
        rejected_once(
            &at("networks = [\"2001:db8:e0::1/48\"]"),
            "region[0].networks",
            8,
        );
        for bad in ["198.51.100.0", "198.51.100.0/33", "europe", ""] {
            let error = rejected_once(
                &at(&format!("networks = [{bad:?}]")),
                "region[0].networks",
                8,
            );
            assert!(error.message.contains("CIDR"), "{error}");
        }
        rejected_once(
            &at("networks = \"198.51.100.0/24\""),
            "region[0].networks",
            8,
        );
        // The same network for two regions.
        let error = rejected_once(
            &regions_with(
                "[[region]]\nname = \"asia\"\nnetworks = [\"198.51.100.0/24\"]\n\
                 [[region]]\nname = \"sa\"\nnetworks = [\"198.51.100.0/24\"]",
            ),
            "region[3].networks",
            15,
        );
        assert!(error.message.contains("\"asia\""), "{error}");
        assert!(error.message.contains("line 12"), "{error}");
        // The same network twice for one region is kept once.
        let config = accepted(&at("networks = [\"198.51.100.0/24\", \"198.51.100.0/24\"]"));
        assert_eq!(config.topology.networks.len(), 1);
    }

    #[test]
    fn region_fallback() {
        let config = accepted(&zone_with(
            "[[region]]\nname = \"eu\"\nfallback = [\"us\", \"asia\"]\n\
             [[region]]\nname = \"us\"\nfallback = [\"eu\"]\n\
             [[region]]\nname = \"asia\"",
        ));
        assert_eq!(config.regions[0].fallback, vec![1, 2]);
        assert_eq!(config.regions[1].fallback, vec![0]);
        assert!(config.regions[2].fallback.is_empty());
        let error = rejected_once(
            &regions_with("[[region]]\nname = \"asia\"\nfallback = [\"eu\", \"asia\"]"),
            "region[2].fallback",
            12,
        );
        assert!(error.message.contains("itself"), "{error}");
        let error = rejected_once(
            &regions_with("[[region]]\nname = \"asia\"\nfallback = [\"mars\"]"),
            "region[2].fallback",
            12,
        );
        assert!(error.message.contains("unknown region \"mars\""), "{error}");
        assert!(error.message.contains("\"eu\", \"us\""), "{error}");
        let error = rejected_once(
            &regions_with("[[region]]\nname = \"asia\"\nfallback = [\n  \"eu\",\n  \"eu\",\n]"),
            "region[2].fallback",
            14,
        );
        assert!(error.message.contains("duplicate"), "{error}");
        assert!(error.message.contains("line 13"), "{error}");
    }

    #[test]
    fn region_bad_name_reported_once() {
        // A reference to a badly named region does not add an error.
        let errors = rejected(&zone_with(
            "[[region]]\nname = \"EU\"\n[[region]]\nname = \"us\"\nfallback = [\"EU\"]",
        ));
        let keys: Vec<&str> = errors.iter().map(|error| error.key.as_str()).collect();
        assert_eq!(keys, vec!["region[0].name"]);
    }
}
