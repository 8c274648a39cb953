//! Zones: standard zone files read with `domain`'s zonefile parser
//! ([`load`]), checked the way Knot and NSD check them, and turned into the
//! name table the data plane answers from ([`table`]), with every RRset
//! pre-rendered in wire form.
//!
//! Names here are uncompressed wire format. Owner names are lowercased when
//! loaded; names inside record data keep the case the file gave them.

pub mod load;
pub mod table;

use std::path::PathBuf;

use crate::wire::rtype;

pub use load::{Warning, load_zone};
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
}
