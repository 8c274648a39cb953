//! Zones: standard zone files read with `domain`'s zonefile parser
//! ([`load`]), checked the way Knot and NSD check them, and turned into the
//! name table the data plane answers from ([`table`]), with every RRset
//! pre-rendered in wire form. Zones that arrive by transfer go through the
//! same checks ([`load::zone_from_records`], [`ZoneData::apply_changes`])
//! and are kept on disk in master format ([`write`](mod@write)).
//!
//! Names here are uncompressed wire format. Owner names are lowercased when
//! loaded; names inside record data keep the case the file gave them.

pub mod load;
pub mod table;
pub mod write;

use std::path::{Path, PathBuf};

use crate::wire::rtype;

pub use load::{Warning, load_zone, zone_from_records};
pub use write::{save_zone, write_zone};

/// A record with absolute names: the input of [`zone_from_records`] and
/// [`ZoneData::apply_changes`]. A record parsed from a message
/// (`ParsedName`s) or read by `domain`'s zone file parser
/// (`ScannedRecord`) becomes one with `FlattenInto::try_flatten_into`.
pub type Record = domain::base::Record<
    domain::base::Name<bytes::Bytes>,
    domain::rdata::ZoneRecordData<bytes::Bytes, domain::base::Name<bytes::Bytes>>,
>;
pub use table::{Lookup, NameTable, Node, RecordSetEntry};

/// Where a record came from: an index into [`ZoneData::files`] and a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: usize,
    pub line: usize,
}

/// The data of one record, split so names can be compressed when rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rdata {
    /// Record data in wire form with any names uncompressed (RFC 3597).
    Opaque(Vec<u8>),
    /// NS, CNAME, PTR: a single compressible name.
    Name(Vec<u8>),
    /// MX: preference and a compressible exchange name.
    Mx { preference: u16, exchange: Vec<u8> },
    /// SOA: two compressible names and the five 32-bit fields.
    Soa {
        mname: Vec<u8>,
        rname: Vec<u8>,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
}

/// All records of one type at one name.
#[derive(Clone, Debug)]
pub struct RecordSet {
    pub rtype: u16,
    pub ttl: u32,
    pub records: Vec<Rdata>,
    /// Where the first record of the set was read.
    pub location: Location,
}

/// Record sets by owner, hashed (a sorted map compared ~20 whole names,
/// each behind its own pointer, per record read) and kept in the order they
/// were read, so walking them follows memory and gives the same order every
/// time.
pub type Nodes = indexmap::IndexMap<Vec<u8>, Vec<RecordSet>, foldhash::fast::RandomState>;

/// The numbers of a zone's SOA record (RFC 1035 section 3.3.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoaTimers {
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

/// One zone as loaded and checked, before rendering.
#[derive(Clone, Debug)]
pub struct ZoneData {
    /// The apex, lowercase wire format.
    pub apex: Vec<u8>,
    /// The zone file first, then each file it included.
    pub files: Vec<PathBuf>,
    /// Record sets by lowercase owner name, in the order the files give them.
    pub nodes: Nodes,
    /// Number of records (after removing duplicates).
    pub record_count: usize,
}

impl ZoneData {
    /// The record set of `rtype` at `owner`, if any.
    pub fn record_set(&self, owner: &[u8], rtype: u16) -> Option<&RecordSet> {
        self.nodes.get(owner)?.iter().find(|set| set.rtype == rtype)
    }

    /// The apex SOA's MINIMUM and TTL folded into the negative-answer TTL
    /// (RFC 2308 section 5: min(SOA TTL, SOA MINIMUM)).
    pub fn negative_ttl(&self) -> u32 {
        match self.record_set(&self.apex, rtype::SOA) {
            Some(set) => match set.records.first() {
                Some(Rdata::Soa { minimum, .. }) => set.ttl.min(*minimum),
                _ => set.ttl,
            },
            None => 0,
        }
    }

    /// The numbers of the apex SOA, or `None` without one.
    pub fn soa(&self) -> Option<SoaTimers> {
        match self.record_set(&self.apex, rtype::SOA)?.records.first()? {
            Rdata::Soa {
                serial,
                refresh,
                retry,
                expire,
                minimum,
                ..
            } => Some(SoaTimers {
                serial: *serial,
                refresh: *refresh,
                retry: *retry,
                expire: *expire,
                minimum: *minimum,
            }),
            _ => None,
        }
    }

    /// Applies one IXFR difference (RFC 1995 section 4) and gives the zone
    /// it makes, leaving `self` as it is: removes each of `removed` (a record
    /// the zone does not hold is an error naming it), then adds each of
    /// `added` with the checks [`zone_from_records`] makes of every record,
    /// then checks the zone again. The old SOA is among `removed`, the new
    /// one among `added`.
    ///
    /// `origin` names the difference in errors and warnings and joins
    /// [`Self::files`] unless already there (give one origin per primary to
    /// keep that list short); a changed record's line is its 1-based
    /// position in `removed` followed by `added`. Records compare as DNS
    /// compares them: owners and the names inside NS, CNAME, PTR, MX, SOA,
    /// SRV and the other types RFC 4034 section 6.2 lists, without regard
    /// to case; TTLs not at all.
    ///
    /// Cost: one copy of the zone (a clone of every name and set, O(zone)
    /// but no parsing or checking of its records); a hash lookup and a walk
    /// of one name's sets and one set's records per change; then the apex
    /// checks and the name checks of the changed names only, O(changes).
    /// Records untouched by the difference are not checked again. For a
    /// zone of a million A records (release build) the copy takes ~250 ms,
    /// against ~650 ms for [`zone_from_records`] to build it.
    pub fn apply_changes(
        &self,
        removed: &[Record],
        added: &[Record],
        origin: &Path,
    ) -> Result<(ZoneData, Vec<Warning>), crate::config::LoadErrors> {
        load::apply_changes(self, removed, added, origin)
    }
}

/// What two zones are compared by in tests: every set's owner, type, TTL
/// and records, in a fixed order (locations and the order read left out).
#[cfg(test)]
pub(crate) fn contents(zone: &ZoneData) -> Vec<(Vec<u8>, u16, u32, Vec<Rdata>)> {
    let mut out: Vec<_> = zone
        .nodes
        .iter()
        .flat_map(|(owner, sets)| {
            sets.iter()
                .map(|set| (owner.clone(), set.rtype, set.ttl, set.records.clone()))
        })
        .collect();
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}
