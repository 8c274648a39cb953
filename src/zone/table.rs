//! The name table: every name of every zone, with its RRsets pre-rendered,
//! and the lookup the data plane runs for each query.
//!
//! One hash map from lowercase wire name to node serves all zones. A name
//! that lies inside a deeper zone we also serve belongs to that zone only
//! (its data in the parent is occluded), so the first ancestor of a query
//! name found in the map is the closest encloser in the right zone. Empty
//! non-terminals are nodes without RRsets, so they stop wildcard matching
//! (RFC 4592 section 2.2.2) and answer NODATA.
//!
//! Each RRset is rendered twice: `direct`, for when its owner is the query
//! name (or a wildcard the query name matched), compressed against the
//! question; and `chained`, for when a CNAME chain led to it, compressed only
//! against itself. Lookups allocate nothing.

use std::collections::{BTreeSet, HashMap};

use super::{CLASS_IN, Rdata, RecordSet, ZoneData, rtype};
use crate::wire::fragment::{FragmentId, FragmentStore, Owner, RdataPart, Section};
use crate::wire::name;

/// Marks an absent index.
const NONE: u32 = u32::MAX;

/// TTL of the synthesized HINFO answer to ANY queries (RFC 8482 section 4.2).
pub const ANY_HINFO_TTL: u32 = 3600;

/// One name of a zone.
#[derive(Clone, Copy, Debug)]
pub struct Node {
    /// Index of the zone the name belongs to.
    pub zone: u32,
    rrsets_start: u32,
    rrsets_len: u32,
    cname: u32,
    wildcard: u32,
    referral: u32,
    service: u32,
    is_cut: bool,
}

impl Node {
    /// The load-balanced service answering at this name, if any (an index
    /// into the snapshot's services).
    pub fn service(&self) -> Option<u32> {
        (self.service != NONE).then_some(self.service)
    }

    /// The referral that applies at this name (a zone cut at or above it,
    /// below the apex), if any.
    pub fn referral(&self) -> Option<u32> {
        (self.referral != NONE).then_some(self.referral)
    }

    /// Whether this name is itself a zone cut (delegation point), where DS
    /// is answered with authority.
    pub fn is_cut(&self) -> bool {
        self.is_cut
    }

    /// Whether the name has any authoritative RRset.
    pub fn has_data(&self) -> bool {
        self.rrsets_len > 0
    }
}

/// One pre-rendered RRset.
#[derive(Clone, Debug)]
pub struct RecordSetEntry {
    pub rtype: u16,
    /// Rendered for an owner equal to (or wildcard-matched by) the query name.
    pub direct: FragmentId,
    /// Rendered for an owner reached along a CNAME chain.
    pub chained: FragmentId,
    /// For CNAME: the lowercase target, to follow the chain.
    pub target: Option<Box<[u8]>>,
}

/// Per-zone answers that do not depend on the name.
#[derive(Clone, Debug)]
pub struct ZoneEntry {
    /// Lowercase apex.
    pub apex: Box<[u8]>,
    /// The SOA for NXDOMAIN/NODATA, TTL = min(SOA TTL, MINIMUM), in authority.
    pub negative_direct: FragmentId,
    pub negative_chained: FragmentId,
}

/// A delegation: NS in authority, glue in additional.
#[derive(Clone, Copy, Debug)]
pub struct Referral {
    pub direct: FragmentId,
    pub chained: FragmentId,
}

/// Where a name led.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The name exists (possibly as an empty non-terminal); node index.
    Exact(u32),
    /// The name does not exist but a wildcard covers it; the wildcard's node.
    Wildcard(u32),
    /// The name is at or below a zone cut; referral index.
    Referral(u32),
    /// The name does not exist in this zone.
    NxDomain { zone: u32 },
    /// No zone of ours contains the name.
    NotOurs,
}

type Index = HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>;

/// Every name of every zone, ready to answer from.
#[derive(Debug)]
pub struct NameTable {
    index: Index,
    nodes: Vec<Node>,
    rrsets: Vec<RecordSetEntry>,
    zones: Vec<ZoneEntry>,
    referrals: Vec<Referral>,
    any_hinfo: FragmentId,
    fragments: FragmentStore,
}

impl NameTable {
    /// Finds what `lowercase_name` leads to. Allocates nothing.
    #[inline]
    pub fn lookup(&self, lowercase_name: &[u8]) -> Lookup {
        if let Some(&id) = self.index.get(lowercase_name) {
            let node = &self.nodes[id as usize];
            if node.referral != NONE && !node.is_cut {
                return Lookup::Referral(node.referral);
            }
            return Lookup::Exact(id);
        }
        let mut rest = lowercase_name;
        while let Some(parent) = name::parent(rest) {
            rest = parent;
            let Some(&id) = self.index.get(rest) else {
                continue;
            };
            let encloser = &self.nodes[id as usize];
            if encloser.referral != NONE {
                return Lookup::Referral(encloser.referral);
            }
            if encloser.wildcard != NONE {
                return Lookup::Wildcard(encloser.wildcard);
            }
            return Lookup::NxDomain {
                zone: encloser.zone,
            };
        }
        Lookup::NotOurs
    }

    /// The node with index `id`.
    #[inline]
    pub fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize]
    }

    /// The node's RRset of `rtype`, if any.
    #[inline]
    pub fn record_set(&self, node: &Node, rtype: u16) -> Option<&RecordSetEntry> {
        let start = node.rrsets_start as usize;
        self.rrsets[start..start + node.rrsets_len as usize]
            .iter()
            .find(|set| set.rtype == rtype)
    }

    /// The node's CNAME, if it has one.
    #[inline]
    pub fn cname(&self, node: &Node) -> Option<&RecordSetEntry> {
        (node.cname != NONE).then(|| &self.rrsets[node.cname as usize])
    }

    /// The zone with index `id`.
    #[inline]
    pub fn zone(&self, id: u32) -> &ZoneEntry {
        &self.zones[id as usize]
    }

    /// The referral with index `id`.
    #[inline]
    pub fn referral(&self, id: u32) -> &Referral {
        &self.referrals[id as usize]
    }

    /// The synthesized `HINFO "RFC8482" ""` answer to ANY.
    pub fn any_hinfo(&self) -> FragmentId {
        self.any_hinfo
    }

    /// The rendered fragments.
    #[inline]
    pub fn fragments(&self) -> &FragmentStore {
        &self.fragments
    }

    /// Number of names (including empty non-terminals).
    pub fn name_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of zones.
    pub fn zone_count(&self) -> usize {
        self.zones.len()
    }

    /// Builds the table from checked zones, with a node for each service name
    /// (`services[i]`, lowercase, gets service index `i`; names outside every
    /// zone are skipped: the caller rejects them first). The zones' apexes
    /// must be unique.
    pub fn build(zones: &[ZoneData], services: &[&[u8]]) -> NameTable {
        let mut fragments = FragmentStore::new();
        let mut index = Index::default();
        let mut nodes = Vec::new();
        let mut rrsets = Vec::new();
        let mut zone_entries = Vec::new();
        let mut referrals = Vec::new();

        let mut any = fragments.builder(Section::Answer, None);
        any.record(
            Owner::Pointer,
            rtype::HINFO,
            CLASS_IN,
            ANY_HINFO_TTL,
            &[RdataPart::Bytes(b"\x07RFC8482\x00")],
        );
        let any_hinfo = any.finish();

        for (zone_index, zone) in zones.iter().enumerate() {
            let zone_id = zone_index as u32;
            let children: Vec<&[u8]> = zones
                .iter()
                .map(|other| other.apex.as_slice())
                .filter(|apex| *apex != zone.apex && name::is_at_or_below(apex, &zone.apex))
                .collect();
            let ours = |owner: &[u8]| {
                !children
                    .iter()
                    .any(|child| name::is_at_or_below(owner, child))
            };

            // Every owner and service name, and every ancestor up to the apex
            // (empty non-terminals).
            let mut service_of: HashMap<&[u8], u32> = HashMap::new();
            for (index, service) in services.iter().enumerate() {
                if name::is_at_or_below(service, &zone.apex) && ours(service) {
                    service_of.insert(service, index as u32);
                }
            }
            let mut names: BTreeSet<&[u8]> = BTreeSet::new();
            let owners = zone.nodes.keys().map(Vec::as_slice);
            for owner in owners
                .chain(service_of.keys().copied())
                .filter(|owner| ours(owner))
            {
                let mut current: &[u8] = owner;
                while names.insert(current) && current != zone.apex.as_slice() {
                    match name::parent(current) {
                        Some(parent) => current = parent,
                        None => break,
                    }
                }
            }
            names.insert(&zone.apex);
            let cuts: BTreeSet<&[u8]> = zone
                .nodes
                .iter()
                .filter(|(owner, sets)| {
                    owner.as_slice() != zone.apex.as_slice()
                        && !name::is_wildcard(owner)
                        && sets.iter().any(|set| set.rtype == rtype::NS)
                })
                .map(|(owner, _)| owner.as_slice())
                .collect();

            let negative_ttl = zone.negative_ttl();
            let negative = |fragments: &mut FragmentStore, question: Option<&[u8]>| {
                let mut builder = fragments.builder(Section::Authority, question);
                if let Some(soa) = zone.record_set(&zone.apex, rtype::SOA) {
                    for record in &soa.records {
                        builder.record(
                            Owner::Name(&zone.apex),
                            rtype::SOA,
                            CLASS_IN,
                            negative_ttl,
                            &rdata_parts(record, &mut [0; 20]),
                        );
                    }
                }
                builder.finish()
            };
            let negative_direct = negative(&mut fragments, Some(&zone.apex));
            let negative_chained = negative(&mut fragments, None);
            zone_entries.push(ZoneEntry {
                apex: zone.apex.clone().into_boxed_slice(),
                negative_direct,
                negative_chained,
            });

            let mut referral_of_cut: HashMap<&[u8], u32> = HashMap::new();
            for &cut in &cuts {
                let render = |fragments: &mut FragmentStore, question: Option<&[u8]>| {
                    render_referral(fragments, zone, cut, question)
                };
                let direct = render(&mut fragments, Some(cut));
                let chained = render(&mut fragments, None);
                referral_of_cut.insert(cut, referrals.len() as u32);
                referrals.push(Referral { direct, chained });
            }

            for &owner in &names {
                // The nearest cut at or above this name, below the apex.
                let mut referral = NONE;
                let mut current = owner;
                while current != zone.apex.as_slice() {
                    if let Some(&id) = referral_of_cut.get(current) {
                        referral = id;
                    }
                    match name::parent(current) {
                        Some(parent) => current = parent,
                        None => break,
                    }
                }
                let is_cut = cuts.contains(owner);
                let rrsets_start = rrsets.len() as u32;
                let mut cname = NONE;
                // Below a cut nothing is authoritative; at a cut only DS is.
                let sets: &[RecordSet] = match zone.nodes.get(owner) {
                    Some(sets) if referral == NONE || is_cut => sets,
                    _ => &[],
                };
                let question = if name::is_wildcard(owner) {
                    name::parent(owner).unwrap_or(name::ROOT)
                } else {
                    owner
                };
                for set in sets {
                    if is_cut && set.rtype != rtype::DS {
                        continue;
                    }
                    let direct = render_set(&mut fragments, set, Some(question));
                    let chained = render_set(&mut fragments, set, None);
                    let target = match (set.rtype, set.records.first()) {
                        (rtype::CNAME, Some(Rdata::Name(target))) => {
                            cname = rrsets.len() as u32;
                            Some(name::to_lowercase(target).into_boxed_slice())
                        }
                        _ => None,
                    };
                    rrsets.push(RecordSetEntry {
                        rtype: set.rtype,
                        direct,
                        chained,
                        target,
                    });
                }
                index.insert(owner.to_vec().into_boxed_slice(), nodes.len() as u32);
                nodes.push(Node {
                    zone: zone_id,
                    rrsets_start,
                    rrsets_len: rrsets.len() as u32 - rrsets_start,
                    cname,
                    wildcard: NONE,
                    referral,
                    service: service_of.get(owner).copied().unwrap_or(NONE),
                    is_cut,
                });
            }
        }
        // Wildcard children, now that every name has an index.
        let owners: Vec<(Box<[u8]>, u32)> = index
            .iter()
            .filter(|(owner, _)| name::is_wildcard(owner))
            .map(|(owner, &id)| (owner.clone(), id))
            .collect();
        for (owner, wildcard_id) in owners {
            if let Some(parent) = name::parent(&owner) {
                if let Some(&parent_id) = index.get(parent) {
                    if nodes[parent_id as usize].zone == nodes[wildcard_id as usize].zone {
                        nodes[parent_id as usize].wildcard = wildcard_id;
                    }
                }
            }
        }

        NameTable {
            index,
            nodes,
            rrsets,
            zones: zone_entries,
            referrals,
            any_hinfo,
            fragments,
        }
    }
}

/// The parts of `rdata` for the fragment builder; `fixed` holds the SOA's
/// five numbers.
fn rdata_parts<'r>(rdata: &'r Rdata, fixed: &'r mut [u8; 20]) -> Vec<RdataPart<'r>> {
    match rdata {
        Rdata::Opaque(bytes) => vec![RdataPart::Bytes(bytes)],
        Rdata::Name(target) => vec![RdataPart::CompressibleName(target)],
        Rdata::Mx {
            preference,
            exchange,
        } => {
            fixed[..2].copy_from_slice(&preference.to_be_bytes());
            vec![
                RdataPart::Bytes(&fixed[..2]),
                RdataPart::CompressibleName(exchange),
            ]
        }
        Rdata::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => {
            for (slot, value) in fixed
                .chunks_exact_mut(4)
                .zip([serial, refresh, retry, expire, minimum])
            {
                slot.copy_from_slice(&value.to_be_bytes());
            }
            vec![
                RdataPart::CompressibleName(mname),
                RdataPart::CompressibleName(rname),
                RdataPart::Bytes(&fixed[..]),
            ]
        }
    }
}

fn render_set(
    fragments: &mut FragmentStore,
    set: &RecordSet,
    question: Option<&[u8]>,
) -> FragmentId {
    let mut builder = fragments.builder(Section::Answer, question);
    for record in &set.records {
        let mut fixed = [0; 20];
        builder.record(
            Owner::Pointer,
            set.rtype,
            CLASS_IN,
            set.ttl,
            &rdata_parts(record, &mut fixed),
        );
    }
    builder.finish()
}

/// NS of `cut` in authority, then address records for every NS target
/// inside the zone (in-domain and sibling glue, RFC 9471) in additional.
fn render_referral(
    fragments: &mut FragmentStore,
    zone: &ZoneData,
    cut: &[u8],
    question: Option<&[u8]>,
) -> FragmentId {
    let mut builder = fragments.builder(Section::Authority, question);
    let mut targets = Vec::new();
    if let Some(ns) = zone.record_set(cut, rtype::NS) {
        for record in &ns.records {
            let mut fixed = [0; 20];
            builder.record(
                Owner::Name(cut),
                rtype::NS,
                CLASS_IN,
                ns.ttl,
                &rdata_parts(record, &mut fixed),
            );
            if let Rdata::Name(target) = record {
                targets.push(name::to_lowercase(target));
            }
        }
    }
    builder.set_section(Section::Additional);
    for target in targets
        .iter()
        .filter(|target| name::is_at_or_below(target, &zone.apex))
    {
        for address_type in [rtype::A, rtype::AAAA] {
            if let Some(glue) = zone.record_set(target, address_type) {
                for record in &glue.records {
                    let mut fixed = [0; 20];
                    builder.record(
                        Owner::Name(target),
                        address_type,
                        CLASS_IN,
                        glue.ttl,
                        &rdata_parts(record, &mut fixed),
                    );
                }
            }
        }
    }
    builder.finish()
}
