//! Catalog zones (RFC 9432): the member zones a catalog lists.
//!
//! A catalog is a zone like any other, transferred from its primaries. Its
//! `version` TXT record must say `2`; each member is a PTR record at
//! `<unique-id>.zones.<catalog>` naming the member zone. Properties under a
//! member (`group`, `coo`) are read past. A member listed under a new
//! unique id is reset by the caller (RFC 9432 section 5.6): its entry's
//! name is kept with it for that. A catalog of another version is
//! refused whole, so the members it had stay; a bad member entry (two PTRs
//! under one id, a member listed twice, a member that is the catalog
//! itself) is reported by name and left out, and the others apply.

use crate::wire::name;
use crate::wire::rtype;
use crate::zone::{Rdata, ZoneData};

/// The schema version we read (RFC 9432 section 4.2.1).
pub const VERSION: &str = "2";

/// One member zone of a catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The zone's lowercase wire name.
    pub zone: Vec<u8>,
    /// Its entry's lowercase wire name, `<unique-id>.zones.<catalog>`.
    pub entry: Vec<u8>,
}

/// What a catalog lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    /// The member zones, in the catalog's order.
    pub zones: Vec<Member>,
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
        } else if out.zones.iter().any(|listed| listed.zone == member) {
            out.problems.push(format!(
                "{entry}: {} is listed more than once",
                name::display(&member)
            ));
        } else {
            out.zones.push(Member {
                zone: member,
                entry: name::to_lowercase(owner),
            });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::table::tests::zone;

    #[test]
    fn members_come_with_their_entries_and_bad_entries_are_named() {
        let catalog = zone(
            "catalog.test.",
            "@ 0 SOA invalid. invalid. 1 3600 600 2147483646 0\n\
             @ 0 NS invalid.\n\
             version 0 TXT \"2\"\n\
             First.zones 0 PTR One.Test.\n\
             second.zones 0 PTR two.test.\n\
             group.second.zones 0 TXT \"g\"\n\
             again.zones 0 PTR one.test.\n\
             self.zones 0 PTR catalog.test.\n",
        );
        let listed = members(&catalog).expect("a catalog");
        let entry = |label: &str| {
            let mut name = vec![label.len() as u8];
            name.extend_from_slice(label.as_bytes());
            name.extend_from_slice(b"\x05zones\x07catalog\x04test\x00");
            name
        };
        assert_eq!(
            listed.zones,
            vec![
                Member {
                    zone: b"\x03one\x04test\x00".to_vec(),
                    entry: entry("first"),
                },
                Member {
                    zone: b"\x03two\x04test\x00".to_vec(),
                    entry: entry("second"),
                },
            ]
        );
        assert_eq!(listed.problems.len(), 2, "{:?}", listed.problems);
        assert!(listed.problems[0].contains("more than once"));
        assert!(listed.problems[1].contains("catalog itself"));

        let old = zone(
            "catalog.test.",
            "@ 0 SOA invalid. invalid. 1 3600 600 2147483646 0\n\
             @ 0 NS invalid.\n\
             version 0 TXT \"1\"\n",
        );
        assert!(
            members(&old)
                .expect_err("version 1")
                .contains("version \"1\"")
        );
    }
}
