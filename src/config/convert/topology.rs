//! Converts the `[topology]` table, and gathers every client network with
//! its region (those of `region[i].networks`, then those of the topology
//! file) into [`TopologyConfig::networks`](super::super::TopologyConfig::networks).
//!
//! Checks: a network is in CIDR notation with no host bits set; a network
//! given again for the same region is kept once, and for another region is
//! an error naming both places; `file` is non-empty and readable, with one
//! `CIDR REGION` per line (blank lines and `#` comments skipped) and its
//! problems reported as `FILE:LINE` after the config file's;
//! `default_region` names a known region.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::str::FromStr;

use ipnet::IpNet;
use toml::Spanned;

use super::super::error::LoadError;
use super::super::raw::RawTopology;
use super::super::source::Source;
use super::Checker;
use super::regions::{known_regions, region_index};

/// The topology networks gathered so far, each network once.
#[derive(Debug, Default)]
pub(super) struct Networks {
    /// Every distinct network with its region index, in the order added.
    pub(super) networks: Vec<(IpNet, usize)>,
    /// Each network's position in `networks` and where it was first given
    /// ("line N" of the config, or "FILE:LINE").
    seen: HashMap<IpNet, (usize, String)>,
}

impl Networks {
    /// Adds `network` for `region`, given at `origin`; a network already
    /// added for the same region is kept once. Errors with a message when
    /// the network was already added for another region (named through
    /// `region_names`).
    pub(super) fn add(
        &mut self,
        network: IpNet,
        region: usize,
        origin: String,
        region_names: &[Option<String>],
    ) -> Result<(), String> {
        match self.seen.entry(network) {
            Entry::Vacant(vacant) => {
                vacant.insert((self.networks.len(), origin));
                self.networks.push((network, region));
                Ok(())
            }
            Entry::Occupied(occupied) => {
                let (position, first_origin) = occupied.get();
                let first_region = self.networks[*position].1;
                if first_region == region {
                    return Ok(());
                }
                let name = |index: usize| {
                    region_names
                        .get(index)
                        .cloned()
                        .flatten()
                        .unwrap_or_default()
                };
                Err(format!(
                    "network {network} is given for region {:?} here but for region {:?} \
                     at {first_origin}: a network belongs to one region",
                    name(region),
                    name(first_region),
                ))
            }
        }
    }
}

impl Checker<'_> {
    /// Converts a network in CIDR notation, with no host bits set.
    pub(super) fn network(&mut self, key: &str, raw: &Spanned<String>) -> Option<IpNet> {
        match parse_network(raw.get_ref()) {
            Ok(network) => Some(network),
            Err(message) => {
                self.error(Some(&raw.span()), key, message);
                None
            }
        }
    }

    /// Converts `[topology]`: reads `topology.file` (through `source`) into
    /// `networks`, and returns the index of `topology.default_region`
    /// (`None` when absent or unknown, the latter recorded as an error).
    pub(super) fn topology(
        &mut self,
        raw: Option<Spanned<RawTopology>>,
        source: &Source,
        region_names: &[Option<String>],
        networks: &mut Networks,
    ) -> Option<usize> {
        let raw = raw?.into_inner();
        if let Some(file) = &raw.file {
            self.topology_file(file, source, region_names, networks);
        }
        let default_region = raw.default_region.as_ref()?;
        self.region_reference("topology.default_region", default_region, region_names)
    }

    /// Reads the topology file named by `topology.file`: one `CIDR REGION`
    /// per line; blank lines and `#` comments are skipped. Its problems are
    /// reported as `FILE:LINE: topology: MESSAGE`.
    fn topology_file(
        &mut self,
        raw: &Spanned<String>,
        source: &Source,
        region_names: &[Option<String>],
        networks: &mut Networks,
    ) {
        const KEY: &str = "topology.file";
        if raw.get_ref().is_empty() {
            self.error(Some(&raw.span()), KEY, "must not be empty");
            return;
        }
        let config_directory = self.path.parent().unwrap_or_else(|| Path::new(""));
        let path = config_directory.join(raw.get_ref());
        let text = match source.read_to_string(&path) {
            Ok(text) => text,
            Err(error) => {
                self.error(
                    Some(&raw.span()),
                    KEY,
                    format!("cannot read {}: {error}", path.display()),
                );
                return;
            }
        };
        for (line_index, line) in text.lines().enumerate() {
            let line_number = line_index + 1;
            let content = line.split('#').next().unwrap_or_default();
            let fields: Vec<&str> = content.split_whitespace().collect();
            let result = match fields.as_slice() {
                [] => continue,
                [network, region] => parse_network(network).and_then(|network| {
                    let region = region_index(region_names, region).ok_or_else(|| {
                        format!(
                            "unknown region {region:?} ({})",
                            known_regions(region_names)
                        )
                    })?;
                    let origin = format!("{}:{line_number}", path.display());
                    networks.add(network, region, origin, region_names)
                }),
                _ => Err(format!(
                    "expected `CIDR REGION`, e.g. `198.51.100.0/24 eu`, but found {} field{}",
                    fields.len(),
                    if fields.len() == 1 { "" } else { "s" }
                )),
            };
            if let Err(message) = result {
                self.topology_file_errors.push(LoadError::new(
                    &path,
                    Some(line_number),
                    "topology",
                    message,
                ));
            }
        }
    }
}

/// Parses a network in CIDR notation with no host bits set. The error names
/// the text.
fn parse_network(text: &str) -> Result<IpNet, String> {
    let network = IpNet::from_str(text).map_err(|_| {
        format!("{text:?} is not a network in CIDR notation; write e.g. \"198.51.100.0/24\"")
    })?;
    if network.trunc() != network {
        return Err(format!(
            "{text:?} has host bits set: write the network as {:?}",
            network.trunc().to_string()
        ));
    }
    Ok(network)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::test_support::{
        PATH, accepted, networks, regions_with, rejected_once, zone_with,
    };
    use crate::config::{Config, LoadErrors, Source, TopologyConfig, parse};

    #[test]
    fn topology_default_region() {
        let config = accepted(&regions_with("[topology]\ndefault_region = \"us\""));
        assert_eq!(config.topology.default_region, Some(1));
        assert!(config.topology.networks.is_empty());
        let config = accepted(&regions_with("[topology]"));
        assert_eq!(config.topology, TopologyConfig::default());
        let error = rejected_once(
            &regions_with("[topology]\ndefault_region = \"asia\""),
            "topology.default_region",
            11,
        );
        assert!(error.message.contains("unknown region"), "{error}");
        let error = rejected_once(
            &zone_with("[topology]\ndefault_region = \"eu\""),
            "topology.default_region",
            7,
        );
        assert!(error.message.contains("no [[region]]"), "{error}");
        rejected_once(
            &regions_with("[topology]\ndefault = \"eu\""),
            "topology.default",
            11,
        );
    }

    /// Where topology files of the tests below live.
    const NETS_PATH: &str = "/etc/dnslb/nets.txt";

    /// Parses `config` with `nets.txt` (at [`NETS_PATH`]) holding `nets`.
    fn with_nets(config: &str, nets: &'static str) -> Result<Config, LoadErrors> {
        let files: &'static [(&'static str, &'static str)] =
            Box::leak(Box::new([(NETS_PATH, nets)]));
        parse(config, Path::new(PATH), Source::Embedded(files))
    }

    #[test]
    fn topology_file_merged_with_region_networks() {
        let text = regions_with(
            "networks = [\"203.0.113.0/24\"]\n[topology]\nfile = \"nets.txt\"\n\
             default_region = \"eu\"",
        );
        let nets = "# client networks\n\n198.51.100.0/24 eu\n  2001:db8:e0::/48\teu  # IPv6\n\
                    203.0.113.0/24 us\n192.0.2.0/25 us\n";
        let config = match with_nets(&text, nets) {
            Ok(config) => config,
            Err(errors) => panic!("{errors}"),
        };
        let networks = networks(&config);
        assert_eq!(
            networks,
            vec![
                ("203.0.113.0/24".to_owned(), 1),
                ("198.51.100.0/24".to_owned(), 0),
                ("2001:db8:e0::/48".to_owned(), 0),
                ("192.0.2.0/25".to_owned(), 1),
            ]
        );
        assert_eq!(config.topology.default_region, Some(0));
    }

    #[test]
    fn topology_file_errors_name_file_and_line() {
        let text = regions_with("networks = [\"203.0.113.0/24\"]\n[topology]\nfile = \"nets.txt\"");
        let nets = "198.51.100.7/24 eu\n\
                    198.51.100.0/24\n\
                    198.51.100.0/24 eu extra\n\
                    # fine\n\
                    europe eu\n\
                    192.0.2.0/24 mars\n\
                    203.0.113.0/24 eu\n\
                    192.0.2.0/25 eu\n\
                    192.0.2.0/25 us\n\
                    192.0.2.0/25 eu\n";
        let errors = with_nets(&text, nets)
            .err()
            .map(|errors| errors.0)
            .unwrap_or_default();
        let found: Vec<(String, Option<usize>, &str)> = errors
            .iter()
            .map(|error| {
                (
                    error.file.display().to_string(),
                    error.line,
                    error.key.as_str(),
                )
            })
            .collect();
        let at = |line: usize| (NETS_PATH.to_owned(), Some(line), "topology");
        assert_eq!(found, vec![at(1), at(2), at(3), at(5), at(6), at(7), at(9)]);
        assert_eq!(
            errors[0].to_string(),
            "/etc/dnslb/nets.txt:1: topology: \"198.51.100.7/24\" has host bits set: \
             write the network as \"198.51.100.0/24\""
        );
        assert!(errors[1].message.contains("1 field"), "{}", errors[1]);
        assert!(errors[2].message.contains("3 fields"), "{}", errors[2]);
        assert!(errors[3].message.contains("CIDR"), "{}", errors[3]);
        assert!(
            errors[4].message.contains("unknown region \"mars\""),
            "{}",
            errors[4]
        );
        // Conflicts with a region's network and with an earlier line.
        assert!(errors[5].message.contains("line 10"), "{}", errors[5]);
        assert!(errors[6].message.contains("nets.txt:8"), "{}", errors[6]);
    }

    #[test]
    fn topology_file_errors_follow_config_errors() {
        let text = regions_with("[topology]\nfile = \"nets.txt\"\n[server.x]");
        let errors = with_nets(&text, "bad eu\n").err().map(|errors| errors.0);
        // A layer 1 error stops before the file is read.
        assert_eq!(errors.map(|errors| errors.len()), Some(1));
        let text = regions_with("[topology]\nfile = \"nets.txt\"\ndefault_region = \"x\"");
        let errors = with_nets(&text, "bad eu\n")
            .err()
            .map(|errors| errors.0)
            .unwrap_or_default();
        let keys: Vec<&str> = errors.iter().map(|error| error.key.as_str()).collect();
        assert_eq!(keys, vec!["topology.default_region", "topology"]);
    }

    #[test]
    fn topology_file_missing_or_empty() {
        let error = rejected_once(
            &regions_with("[topology]\nfile = \"nets.txt\""),
            "topology.file",
            11,
        );
        assert!(
            error.message.contains("cannot read /etc/dnslb/nets.txt"),
            "{error}"
        );
        let text = regions_with("[topology]\nfile = \"other.txt\"");
        let errors = with_nets(&text, "").err().map(|errors| errors.0);
        assert_eq!(
            errors.map(|errors| errors[0].key.clone()).as_deref(),
            Some("topology.file")
        );
        rejected_once(
            &regions_with("[topology]\nfile = \"\""),
            "topology.file",
            11,
        );
        let config = with_nets(&regions_with("[topology]\nfile = \"nets.txt\""), "");
        assert!(config.is_ok_and(|config| config.topology.networks.is_empty()));
    }
}
