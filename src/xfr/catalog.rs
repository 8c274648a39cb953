//! Catalog zones (RFC 9432): the member zones a catalog lists.
//!
//! A catalog is a zone like any other, transferred from its primaries. Its
//! `version` TXT record must say `2`; each member is a PTR record at
//! `<unique-id>.zones.<catalog>` naming the member zone. Properties under a
//! member (`group`, `coo`) are read past. A catalog of another version is
//! refused whole, so the members it had stay; a bad member entry (two PTRs
//! under one id, a member listed twice, a member that is the catalog
//! itself) is reported by name and left out, and the others apply.

use crate::wire::name;
use crate::wire::rtype;
use crate::zone::{Rdata, ZoneData};

/// The schema version we read (RFC 9432 section 4.2.1).
pub const VERSION: &str = "2";

/// What a catalog lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    /// Lowercase wire names of the member zones, in the catalog's order.
    pub zones: Vec<Vec<u8>>,
    /// Entries left out, each saying why.
    pub problems: Vec<String>,
}

/// Reads the member zones of `catalog`, or says why the catalog as a whole
/// cannot be used.
pub fn members(catalog: &ZoneData) -> Result<Members, String> {
    let apex = &catalog.apex;
    let version_name = prefixed(b"version", apex);
    let version = catalog
        .record_set(&version_name, rtype::TXT)
        .and_then(|set| set.records.first())
        .and_then(|record| match record {
            Rdata::Opaque(bytes) => txt_first_string(bytes),
            _ => None,
        });
    match version.as_deref() {
        Some(VERSION) => {}
        Some(other) => {
            return Err(format!(
                "{} says version {other:?}; only version {VERSION} is read",
                name::display(&version_name)
            ));
        }
        None => {
            return Err(format!(
                "no TXT record at {}: not a catalog zone",
                name::display(&version_name)
            ));
        }
    }
    let zones_name = prefixed(b"zones", apex);
    let mut out = Members::default();
    for (owner, sets) in &catalog.nodes {
        // Members sit exactly one label below `zones.`.
        if name::parent(owner) != Some(zones_name.as_slice()) {
            continue;
        }
        let Some(set) = sets.iter().find(|set| set.rtype == rtype::PTR) else {
            continue;
        };
        let entry = name::display(owner);
        let [Rdata::Name(target)] = set.records.as_slice() else {
            out.problems.push(format!(
                "{entry}: {} PTR records where one names the member zone",
                set.records.len()
            ));
            continue;
        };
        let member = name::to_lowercase(target);
        if member == *apex {
            out.problems
                .push(format!("{entry}: lists the catalog itself as a member"));
        } else if out.zones.contains(&member) {
            out.problems.push(format!(
                "{entry}: {} is listed more than once",
                name::display(&member)
            ));
        } else {
            out.zones.push(member);
        }
    }
    Ok(out)
}

/// `label.apex` in wire format.
fn prefixed(label: &[u8], apex: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + label.len() + apex.len());
    out.push(label.len() as u8);
    out.extend_from_slice(label);
    out.extend_from_slice(apex);
    out
}

/// The first character-string of TXT record data.
fn txt_first_string(rdata: &[u8]) -> Option<String> {
    let (&length, rest) = rdata.split_first()?;
    let text = rest.get(..usize::from(length))?;
    Some(String::from_utf8_lossy(text).into_owned())
}
