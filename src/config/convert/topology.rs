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
