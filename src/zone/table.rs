//! The name table: every name of every zone, with its RRsets pre-rendered,
//! and the lookup the data plane runs for each query.
//!
//! One hash map from lowercase wire name to node serves all zones. A name
//! that lies inside a deeper zone we also serve belongs to that zone only
//! (its data in the parent is occluded), so the first ancestor of a query
//! name found in the map is the closest encloser in the right zone. The one
//! exception is DS at a zone's apex, which is the parent's (RFC 4035 section
//! 3.1.4.1): when we serve the parent too, the apex node carries the
//! parent's DS RRset, or the parent's NODATA when it has none. Empty
//! non-terminals are nodes without RRsets, so they stop wildcard matching
//! (RFC 4592 section 2.2.2) and answer NODATA.
//!
//! Each RRset is rendered for two uses: `direct`, for when its owner is the
//! query name (or a wildcard the query name matched), compressed against
//! the question; and `chained`, for when a CNAME chain led to it,
//! compressed only against itself. An RRset without names in its data or
//! additional records renders the same for both, and is rendered once. An
//! MX, SRV or NS RRset (NS only at the apex: at a cut it is a referral)
//! whose targets have address records in the zone gets, after each
//! rendering, one continuation fragment per such target with its A and
//! AAAA records for the additional section, compressed against the answer;
//! the reply adds those that fit (Knot and NSD do the same).
//!
//! A table patched for an IXFR ([`patch`]) shares the table it was patched
//! from and looks the changed names up first in a small overlay.
//! Lookups allocate nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{Rdata, RecordSet, ZoneData};
use crate::hash::{fold_case, name_hash, word};
use crate::wire::fragment::{Fragment, FragmentId, FragmentStore, Owner, RdataPart, Section};
use crate::wire::name;
use crate::wire::{CLASS_IN, rtype};

mod patch;

/// Build-time maps keyed by names: foldhash, as SipHash showed in the
/// start-up profile of a million-record zone.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// Marks an absent index.
const NONE: u32 = u32::MAX;

/// The `referral` of the apex node of a zone that is not served (a
/// secondary not yet transferred, or expired): its names answer SERVFAIL.
/// Kept in the referral field so that the lookup tests for it only on the
/// path referrals already take.
const UNAVAILABLE: u32 = u32::MAX - 1;

/// TTL of the synthesized HINFO answer to ANY queries (RFC 8482 section 4.2).
pub const ANY_HINFO_TTL: u32 = 3600;

/// One name of a zone (24 bytes: a million names are 24 MB).
#[derive(Clone, Copy, Debug)]
pub struct Node {
    /// Index of the zone the name belongs to.
    pub zone: u32,
    rrsets_start: u32,
    wildcard: u32,
    referral: u32,
    service: u32,
    /// Number of RRsets (one per type, so at most 65,536; the build stops
    /// at `u16::MAX`).
    rrsets_len: u16,
    /// Which of the name's RRsets is its CNAME, or [`NO_CNAME`] (a CNAME
    /// has no other data beside it, so it is among the first few).
    cname: u8,
    is_cut: bool,
}

/// The `cname` of a [`Node`] without one.
const NO_CNAME: u8 = u8::MAX;

/// The [`Node::cname`] for the RRset `at` of a name's RRsets (counted from
/// its first), if `at` can be held ([`NO_CNAME`] otherwise: a zone whose
/// CNAME follows 254 other types at its name is not one the loader accepts).
fn cname_at(at: usize) -> u8 {
    u8::try_from(at)
        .ok()
        .filter(|&at| at != NO_CNAME)
        .unwrap_or(NO_CNAME)
}

/// The [`Node::rrsets_len`] for `len` RRsets.
fn rrsets_len(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
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
        (self.referral != NONE && self.referral != UNAVAILABLE).then_some(self.referral)
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
    /// For CNAME: where the lowercase target, to follow the chain, starts
    /// in the table's target names (see [`NameTable::cname_target`]);
    /// `NONE` for other types. An offset, not a boxed name: a million
    /// RRsets of 16 bytes each instead of 32.
    target: u32,
    /// For MX, SRV and NS: how many targets inside the zone have address
    /// records, rendered for the additional section as that many
    /// continuations of `direct` and of `chained`, one target each (see
    /// `Reply::push_with_additional`).
    pub additional: u16,
}

/// Per-zone answers that do not depend on the name.
#[derive(Clone, Debug)]
pub struct ZoneEntry {
    /// Lowercase apex.
    pub apex: Box<[u8]>,
    /// The SOA for NXDOMAIN/NODATA, TTL = min(SOA TTL, MINIMUM), in authority.
    pub negative_direct: FragmentId,
    pub negative_chained: FragmentId,
    /// False for a zone whose names answer SERVFAIL.
    pub serving: bool,
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
    /// The name is in a zone we have no data to serve from (a secondary not
    /// yet transferred, or expired): SERVFAIL.
    Unavailable,
    /// No zone of ours contains the name.
    NotOurs,
}

/// One zone to build the table from.
#[derive(Clone, Copy, Debug)]
pub struct TableZone<'a> {
    pub data: &'a ZoneData,
    /// False for a zone whose names answer SERVFAIL (its data is ignored).
    pub serving: bool,
}

impl<'a> From<&'a ZoneData> for TableZone<'a> {
    fn from(data: &'a ZoneData) -> TableZone<'a> {
        TableZone {
            data,
            serving: true,
        }
    }
}

/// The index from wire name to node: open addressing with linear probing
/// over a power-of-two slot array kept at most 70% full, so a probe ends at
/// an empty slot. Names live in one byte arena, lowercase (no allocation per
/// name); a slot keeps the upper half of the name's hash to skip most
/// comparisons. The hash is computed once per name looked up, 8 bytes per
/// step, with a seed chosen per table. Hashing and comparing fold the looked
/// up name's ASCII case a word at a time, so a query name is looked up as it
/// came, with no lowercase copy.
#[derive(Debug)]
struct NameIndex {
    seed: u64,
    /// `slots.len() - 1`; the length is a power of two.
    mask: usize,
    slots: Box<[Slot]>,
    /// Every node's name, back to back.
    names: Vec<u8>,
    /// Start and length of node `i`'s name in `names`.
    spans: Vec<(u32, u32)>,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    /// The upper 32 bits of the name's hash.
    tag: u32,
    /// The node, or `NONE` for an empty slot.
    node: u32,
}

const EMPTY_SLOT: Slot = Slot { tag: 0, node: NONE };

/// Whether `name`, its case folded, is the lowercase `indexed`, compared 8
/// bytes at a time.
#[inline(always)]
fn same_name(indexed: &[u8], name: &[u8]) -> bool {
    if indexed.len() != name.len() {
        return false;
    }
    let Some(tail) = indexed.len().checked_sub(8) else {
        return indexed.eq_ignore_ascii_case(name);
    };
    // Most names come lowercase: compare the bytes as they are first, and
    // fold only when that fails (a capital somewhere, or another name).
    let differs = |fold: fn(u64) -> u64| {
        let mut difference = 0u64;
        for (indexed, name) in indexed.chunks_exact(8).zip(name.chunks_exact(8)) {
            difference |= word(indexed) ^ fold(word(name));
        }
        difference |= word(&indexed[tail..]) ^ fold(word(&name[tail..]));
        difference != 0
    };
    !differs(|word| word) || !differs(fold_case)
}

impl NameIndex {
    /// Indexes `spans` (node `i`'s name is `names[spans[i]]`); a name given
    /// twice maps to its later node.
    fn new(names: Vec<u8>, spans: Vec<(u32, u32)>) -> NameIndex {
        use std::hash::BuildHasher;
        let seed = std::collections::hash_map::RandomState::new().hash_one(0u64);
        NameIndex::with_seed(names, spans, seed)
    }

    /// [`Self::new`] hashing with `seed`: an overlay's index takes its
    /// base's, so a name looked up in both is hashed once.
    fn with_seed(mut names: Vec<u8>, mut spans: Vec<(u32, u32)>, seed: u64) -> NameIndex {
        names.shrink_to_fit();
        spans.shrink_to_fit();
        let capacity = Self::capacity(spans.len());
        let mut index = NameIndex {
            seed,
            mask: capacity - 1,
            slots: vec![EMPTY_SLOT; capacity].into_boxed_slice(),
            names,
            spans,
        };
        for node in 0..index.spans.len() as u32 {
            let name = index.name(node);
            let hash = name_hash(seed, name);
            let tag = (hash >> 32) as u32;
            let mut at = hash as usize & index.mask;
            loop {
                let slot = index.slots[at];
                if slot.node == NONE {
                    break;
                }
                if slot.tag == tag && same_name(index.name(slot.node), name) {
                    break;
                }
                at = (at + 1) & index.mask;
            }
            index.slots[at] = Slot { tag, node };
        }
        index
    }

    /// Slots for `names` names: a power of two, at most 70% full, so that a
    /// lookup that misses ends after a few slots of one or two cache lines
    /// (about six at 70% with linear probing, one or two when it hits).
    fn capacity(names: usize) -> usize {
        (names.saturating_mul(10) / 7 + 1)
            .next_power_of_two()
            .max(2)
    }

    /// The name of `node`.
    #[inline(always)]
    fn name(&self, node: u32) -> &[u8] {
        let (start, len) = self.spans[node as usize];
        &self.names[start as usize..start as usize + len as usize]
    }

    /// The node named `name`, if any.
    #[inline(always)]
    fn get(&self, name: &[u8]) -> Option<u32> {
        self.get_hashed(name, name_hash(self.seed, name))
    }

    /// The node named `name`, whose hash with this index's seed is `hash`.
    #[inline(always)]
    fn get_hashed(&self, name: &[u8], hash: u64) -> Option<u32> {
        let tag = (hash >> 32) as u32;
        let mut at = hash as usize;
        loop {
            at &= self.mask;
            let slot = *self.slots.get(at)?;
            if slot.node == NONE {
                return None;
            }
            if slot.tag == tag && same_name(self.name(slot.node), name) {
                return Some(slot.node);
            }
            at += 1;
        }
    }

    /// Every indexed node with its name.
    fn iter(&self) -> impl Iterator<Item = (&[u8], u32)> {
        (0..self.spans.len() as u32).map(|node| (self.name(node), node))
    }
}

/// Every name of every zone, ready to answer from: the table as built
/// whole, shared with the tables patched from it, and, in those, the names
/// an IXFR changed since (see [`patch`]).
#[derive(Debug)]
pub struct NameTable {
    base: Arc<Layer>,
    /// Names changed since `base` was built: looked up first.
    overlay: Option<Box<Overlay>>,
}

/// Nodes, RRsets and fragments, of a whole table or of its overlay. Ids
/// into an overlay's arrays (nodes, RRsets, CNAME targets, fragments)
/// carry [`OVERLAY`].
#[derive(Debug)]
struct Layer {
    index: NameIndex,
    nodes: Vec<Node>,
    rrsets: Vec<RecordSetEntry>,
    zones: Vec<ZoneEntry>,
    referrals: Vec<Referral>,
    /// CNAME targets, lowercase, each after a length byte.
    targets: Vec<u8>,
    any_hinfo: FragmentId,
    fragments: FragmentStore,
    /// Lowercase names whose A and AAAA records other RRsets carry as
    /// additional data or glue (MX, NS and SRV targets inside a zone): a
    /// change there reaches beyond the name itself.
    additional_names: FastSet<Box<[u8]>>,
}

/// The names an IXFR changed, rendered again (see [`patch`]).
#[derive(Debug)]
struct Overlay {
    layer: Layer,
    /// The changed names (lowercase), in the order patched.
    names: Vec<Box<[u8]>>,
    /// How many of `names` the base lacks.
    added: u32,
}

/// Marks an id into an overlay's arrays.
const OVERLAY: u32 = 1 << 31;

impl NameTable {
    /// The node named `name`, overlay first. Allocates nothing.
    #[inline(always)]
    fn get(&self, name: &[u8]) -> Option<u32> {
        let Some(overlay) = &self.overlay else {
            return self.base.index.get(name);
        };
        // One hash for both: the overlay's index has the base's seed.
        let hash = name_hash(self.base.index.seed, name);
        if let Some(id) = overlay.layer.index.get_hashed(name, hash) {
            return Some(id | OVERLAY);
        }
        self.base.index.get_hashed(name, hash)
    }

    /// The layer an id with or without [`OVERLAY`] points into, and the id
    /// without it.
    #[inline(always)]
    fn layer(&self, id: u32) -> (&Layer, usize) {
        match &self.overlay {
            Some(overlay) if id & OVERLAY != 0 => (&overlay.layer, (id & !OVERLAY) as usize),
            _ => (&self.base, id as usize),
        }
    }

    /// Finds what `wanted` (a wire name in any case) leads to. Allocates nothing.
    #[inline]
    pub fn lookup(&self, wanted: &[u8]) -> Lookup {
        if let Some(id) = self.get(wanted) {
            let node = self.node(id);
            if node.referral != NONE && !node.is_cut {
                if node.referral == UNAVAILABLE {
                    return Lookup::Unavailable;
                }
                return Lookup::Referral(node.referral);
            }
            return Lookup::Exact(id);
        }
        let mut rest = wanted;
        while let Some(parent) = name::parent(rest) {
            rest = parent;
            let Some(id) = self.get(rest) else {
                continue;
            };
            let encloser = self.node(id);
            if encloser.referral != NONE {
                if encloser.referral == UNAVAILABLE {
                    return Lookup::Unavailable;
                }
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
        let (layer, index) = self.layer(id);
        &layer.nodes[index]
    }

    /// The node's RRset of `rtype`, if any.
    #[inline]
    pub fn record_set(&self, node: &Node, rtype: u16) -> Option<&RecordSetEntry> {
        let (layer, start) = self.layer(node.rrsets_start);
        layer.rrsets[start..start + node.rrsets_len as usize]
            .iter()
            .find(|set| set.rtype == rtype)
    }

    /// The node's CNAME, if it has one.
    #[inline]
    pub fn cname(&self, node: &Node) -> Option<&RecordSetEntry> {
        (node.cname != NO_CNAME).then(|| {
            let (layer, start) = self.layer(node.rrsets_start);
            &layer.rrsets[start + usize::from(node.cname)]
        })
    }

    /// The lowercase target of a CNAME RRset (`None` for other types), to
    /// follow the chain.
    #[inline]
    pub fn cname_target(&self, set: &RecordSetEntry) -> Option<&[u8]> {
        if set.target == NONE {
            return None;
        }
        let (layer, start) = self.layer(set.target);
        let len = usize::from(*layer.targets.get(start)?);
        layer.targets.get(start + 1..start + 1 + len)
    }

    /// The zone with index `id`.
    #[inline]
    pub fn zone(&self, id: u32) -> &ZoneEntry {
        match &self.overlay {
            Some(overlay) => &overlay.layer.zones[id as usize],
            None => &self.base.zones[id as usize],
        }
    }

    /// The referral with index `id`.
    #[inline]
    pub fn referral(&self, id: u32) -> &Referral {
        &self.base.referrals[id as usize]
    }

    /// The synthesized `HINFO "RFC8482" ""` answer to ANY.
    pub fn any_hinfo(&self) -> FragmentId {
        self.base.any_hinfo
    }

    /// The store holding fragment `id`, and its id there.
    #[inline]
    pub fn store(&self, id: FragmentId) -> (&FragmentStore, FragmentId) {
        let (overlaid, plain) = id.unmarked();
        match &self.overlay {
            Some(overlay) if overlaid => (&overlay.layer.fragments, plain),
            _ => (&self.base.fragments, plain),
        }
    }

    /// The fragment `id`.
    #[inline]
    pub fn fragment(&self, id: FragmentId) -> Fragment<'_> {
        let (store, id) = self.store(id);
        store.get(id)
    }

    /// Number of names (including empty non-terminals).
    pub fn name_count(&self) -> usize {
        self.base.nodes.len()
            + self
                .overlay
                .as_ref()
                .map_or(0, |overlay| overlay.added as usize)
    }

    /// The names changed since the table was built whole (0 for a table
    /// built whole).
    pub fn patched_names(&self) -> usize {
        self.overlay
            .as_ref()
            .map_or(0, |overlay| overlay.names.len())
    }

    /// Whether every RRset was rendered: false when the rendered records
    /// would pass 2 GiB (see `FragmentStore::is_full`), and the table must
    /// not be served.
    pub fn is_complete(&self) -> bool {
        !self.base.fragments.is_full()
            && self
                .overlay
                .as_ref()
                .is_none_or(|overlay| !overlay.layer.fragments.is_full())
    }

    /// Memory the table holds, in bytes: its arrays as allocated (the
    /// zones' and the additional names' small allocations aside).
    pub fn heap_bytes(&self) -> usize {
        self.base.heap_bytes()
            + self
                .overlay
                .as_ref()
                .map_or(0, |overlay| overlay.layer.heap_bytes())
    }

    /// Number of zones.
    pub fn zone_count(&self) -> usize {
        self.base.zones.len()
    }

    /// Builds the table from checked zones, with a node for each service name
    /// (`services[i]`, lowercase, gets service index `i`; names outside every
    /// zone are skipped: the caller rejects them first). The zones' apexes
    /// must be unique.
    pub fn build(zones: &[TableZone<'_>], services: &[&[u8]]) -> NameTable {
        let mut fragments = FragmentStore::new();
        let mut names_arena: Vec<u8> = Vec::new();
        let mut spans: Vec<(u32, u32)> = Vec::new();
        let mut nodes = Vec::new();
        let mut rrsets = Vec::new();
        let mut zone_entries = Vec::new();
        let mut referrals = Vec::new();
        let mut cname_targets: Vec<u8> = Vec::new();
        let mut additional_names: FastSet<Box<[u8]>> = FastSet::default();
        // Sized up front: grown by doubling, these arrays were copied over
        // and over (a fifth of the start-up time of a million records).
        let sizes = TableSizes::of(zones, services.len());
        fragments.reserve(sizes.bytes, sizes.fixups, sizes.fragments);
        names_arena.reserve(sizes.name_bytes);
        spans.reserve(sizes.names);
        nodes.reserve(sizes.names);
        rrsets.reserve(sizes.sets);

        let mut any = fragments.builder(Section::Answer, None);
        any.record(
            Owner::Pointer,
            rtype::HINFO,
            CLASS_IN,
            ANY_HINFO_TTL,
            &[RdataPart::Bytes(b"\x07RFC8482\x00")],
        );
        let any_hinfo = any.finish();

        for (zone_index, source) in zones.iter().enumerate() {
            let zone_id = zone_index as u32;
            let zone = source.data;
            if !source.serving {
                let negative = render_negative(&mut fragments, zone, None);
                zone_entries.push(ZoneEntry {
                    apex: zone.apex.clone().into_boxed_slice(),
                    negative_direct: negative,
                    negative_chained: negative,
                    serving: false,
                });
                spans.push((names_arena.len() as u32, zone.apex.len() as u32));
                names_arena.extend_from_slice(&zone.apex);
                nodes.push(Node {
                    zone: zone_id,
                    rrsets_start: rrsets.len() as u32,
                    rrsets_len: 0,
                    cname: NO_CNAME,
                    wildcard: NONE,
                    referral: UNAVAILABLE,
                    service: NONE,
                    is_cut: false,
                });
                continue;
            }
            let children: Vec<&[u8]> = zones
                .iter()
                .map(|other| other.data.apex.as_slice())
                .filter(|apex| *apex != zone.apex && name::is_at_or_below(apex, &zone.apex))
                .collect();
            let ours = |owner: &[u8]| {
                !children
                    .iter()
                    .any(|child| name::is_at_or_below(owner, child))
            };
            // The closest zone we serve above this one (RFC 4035 section
            // 3.1.4.1: it answers DS at this zone's apex).
            let parent = zones
                .iter()
                .filter(|other| other.serving)
                .map(|other| other.data)
                .filter(|other| {
                    other.apex != zone.apex && name::is_at_or_below(&zone.apex, &other.apex)
                })
                .max_by_key(|other| other.apex.len());

            // Every owner and service name, and every ancestor up to the apex
            // (empty non-terminals).
            let mut service_of: FastMap<&[u8], u32> = FastMap::default();
            let mut zone_services: Vec<&[u8]> = Vec::new();
            for (index, service) in services.iter().enumerate() {
                if name::is_at_or_below(service, &zone.apex) && ours(service) {
                    service_of.insert(service, index as u32);
                    zone_services.push(service);
                }
            }
            // The zone's owners with their record sets, in its order, then
            // the names it lacks: service names, the apex, and the empty
            // non-terminals above any of them. Whether a name exists is
            // asked of the zone's own map; only the names it lacks go in a
            // set of their own (a set of every name cost 40 MB and a tenth
            // of the build at a million names).
            let mut extras: Vec<&[u8]> = Vec::new();
            let mut extra_set: FastSet<&[u8]> = FastSet::default();
            for &service in zone_services.iter().chain([&zone.apex[..]].iter()) {
                if !zone.nodes.contains_key(service) && extra_set.insert(service) {
                    extras.push(service);
                }
            }
            for owner in zone.nodes.keys() {
                if ours(owner) {
                    missing_ancestors(owner, zone, &mut extra_set, &mut extras);
                }
            }
            let mut next = 0;
            while next < extras.len() {
                missing_ancestors(extras[next], zone, &mut extra_set, &mut extras);
                next += 1;
            }
            let names = zone
                .nodes
                .iter()
                .filter(|(owner, _)| ours(owner))
                .map(|(owner, sets)| (owner.as_slice(), sets.as_slice()))
                .chain(extras.iter().map(|&name| (name, &[][..])));
            let cut_list: Vec<&[u8]> = zone
                .nodes
                .iter()
                .filter(|(owner, sets)| {
                    owner.as_slice() != zone.apex.as_slice()
                        && !name::is_wildcard(owner)
                        && sets.iter().any(|set| set.rtype == rtype::NS)
                })
                .map(|(owner, _)| owner.as_slice())
                .collect();
            let cuts: FastSet<&[u8]> = cut_list.iter().copied().collect();
            // Whether the A and AAAA records at `target` are this zone's to
            // give as additional data for an RRset of `rtype`: inside the
            // zone and not a child's, not a service (whose addresses change
            // per query), and authoritative, or glue for the apex NS.
            let has_own_addresses = |target: &[u8], rtype: u16| {
                if !name::is_at_or_below(target, &zone.apex)
                    || !ours(target)
                    || service_of.contains_key(target)
                {
                    return false;
                }
                let mut current = target;
                while current != zone.apex.as_slice() {
                    if cuts.contains(current) {
                        return rtype == rtype::NS;
                    }
                    match name::parent(current) {
                        Some(parent) => current = parent,
                        None => break,
                    }
                }
                true
            };

            let negative_direct = render_negative(&mut fragments, zone, Some(&zone.apex));
            let negative_chained = render_negative(&mut fragments, zone, None);
            zone_entries.push(ZoneEntry {
                apex: zone.apex.clone().into_boxed_slice(),
                negative_direct,
                negative_chained,
                serving: true,
            });

            let mut referral_of_cut: FastMap<&[u8], u32> = FastMap::default();
            for &cut in &cut_list {
                let render = |fragments: &mut FragmentStore, question: Option<&[u8]>| {
                    render_referral(fragments, zone, cut, question)
                };
                let direct = render(&mut fragments, Some(cut));
                let chained = render(&mut fragments, None);
                referral_of_cut.insert(cut, referrals.len() as u32);
                referrals.push(Referral { direct, chained });
                if let Some(ns) = zone.record_set(cut, rtype::NS) {
                    for record in &ns.records {
                        if let Rdata::Name(target) = record {
                            note_name(
                                &mut additional_names,
                                &name::to_lowercase(target),
                                &zone.apex,
                            );
                        }
                    }
                }
            }

            for (owner, owner_sets) in names {
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
                let mut cname = NO_CNAME;
                // Below a cut nothing is authoritative; at a cut only DS is.
                let sets: &[RecordSet] = if referral == NONE || is_cut {
                    owner_sets
                } else {
                    &[]
                };
                let question = if name::is_wildcard(owner) {
                    name::parent(owner).unwrap_or(name::ROOT)
                } else {
                    owner
                };
                // DS at the apex is the parent's, when we serve the parent.
                let parent_ds = match parent {
                    Some(parent) if owner == zone.apex.as_slice() => Some(parent),
                    _ => None,
                };
                if let Some(parent) = parent_ds {
                    let (direct, chained) = match parent.record_set(owner, rtype::DS) {
                        Some(ds) => (
                            render_set(&mut fragments, ds, Some(question), &[]),
                            render_set(&mut fragments, ds, None, &[]),
                        ),
                        None => (
                            render_negative(&mut fragments, parent, Some(&parent.apex)),
                            render_negative(&mut fragments, parent, None),
                        ),
                    };
                    rrsets.push(RecordSetEntry {
                        rtype: rtype::DS,
                        direct,
                        chained,
                        target: NONE,
                        additional: 0,
                    });
                }
                for set in sets {
                    let skipped = if set.rtype == rtype::DS {
                        parent_ds.is_some()
                    } else {
                        is_cut
                    };
                    if skipped {
                        continue;
                    }
                    let targets =
                        additional_targets(zone, set, &has_own_addresses, &mut additional_names);
                    let entry =
                        render_entry(&mut fragments, &mut cname_targets, set, question, &targets);
                    if entry.target != NONE {
                        cname = cname_at(rrsets.len() - rrsets_start as usize);
                    }
                    rrsets.push(entry);
                }
                debug_assert_eq!(spans.len(), nodes.len());
                spans.push((names_arena.len() as u32, owner.len() as u32));
                names_arena.extend_from_slice(owner);
                nodes.push(Node {
                    zone: zone_id,
                    rrsets_start,
                    rrsets_len: rrsets_len(rrsets.len() - rrsets_start as usize),
                    cname,
                    wildcard: NONE,
                    referral,
                    service: service_of.get(owner).copied().unwrap_or(NONE),
                    is_cut,
                });
            }
        }
        // Wildcard children, now that every name has an index.
        let index = NameIndex::new(names_arena, spans);
        let owners: Vec<(&[u8], u32)> = index
            .iter()
            .filter(|(owner, _)| name::is_wildcard(owner))
            .collect();
        for (owner, wildcard_id) in owners {
            if let Some(parent) = name::parent(owner) {
                if let Some(parent_id) = index.get(parent) {
                    if nodes[parent_id as usize].zone == nodes[wildcard_id as usize].zone {
                        nodes[parent_id as usize].wildcard = wildcard_id;
                    }
                }
            }
        }

        nodes.shrink_to_fit();
        rrsets.shrink_to_fit();
        cname_targets.shrink_to_fit();
        fragments.shrink_to_fit();
        NameTable {
            base: Arc::new(Layer {
                index,
                nodes,
                rrsets,
                zones: zone_entries,
                referrals,
                targets: cname_targets,
                any_hinfo,
                fragments,
                additional_names,
            }),
            overlay: None,
        }
    }
}

/// Adds to `extras` (and `known`) the ancestors of `name` up to `zone`'s
/// apex that the zone has no records at and `known` does not hold yet.
fn missing_ancestors<'n>(
    name: &'n [u8],
    zone: &ZoneData,
    known: &mut FastSet<&'n [u8]>,
    extras: &mut Vec<&'n [u8]>,
) {
    let mut current = name;
    while current != zone.apex.as_slice() {
        let Some(parent) = name::parent(current) else {
            break;
        };
        if zone.nodes.contains_key(parent) || !known.insert(parent) {
            break;
        }
        extras.push(parent);
        current = parent;
    }
}

impl Layer {
    /// Memory the layer holds, in bytes: its arrays as allocated.
    fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.index.slots.len() * size_of::<Slot>()
            + self.index.names.capacity()
            + self.index.spans.capacity() * size_of::<(u32, u32)>()
            + self.nodes.capacity() * size_of::<Node>()
            + self.rrsets.capacity() * size_of::<RecordSetEntry>()
            + self.zones.capacity() * size_of::<ZoneEntry>()
            + self.referrals.capacity() * size_of::<Referral>()
            + self.targets.capacity()
            + self.fragments.heap_bytes()
    }
}

/// `set` rendered for both uses, with the address records of `targets` as
/// additional data, and a CNAME's target added to `cname_targets`: its
/// entry, with ids into `fragments` and `cname_targets`.
fn render_entry(
    fragments: &mut FragmentStore,
    cname_targets: &mut Vec<u8>,
    set: &RecordSet,
    question: &[u8],
    targets: &[TargetAddresses<'_>],
) -> RecordSetEntry {
    let direct = render_set(fragments, set, Some(question), targets);
    // Without names in its data or additional records, the RRset renders
    // the same for both uses: the question only changes how names
    // compress, and the owner is a hole either way. Most RRsets (A, AAAA,
    // TXT) are such.
    let chained = if targets.is_empty() && names_free(set) {
        direct
    } else {
        render_set(fragments, set, None, targets)
    };
    let target = match (set.rtype, set.records.first()) {
        (rtype::CNAME, Some(Rdata::Name(target))) => {
            let start = cname_targets.len() as u32;
            cname_targets.push(target.len() as u8);
            cname_targets.extend(target.iter().map(u8::to_ascii_lowercase));
            start
        }
        _ => NONE,
    };
    RecordSetEntry {
        rtype: set.rtype,
        direct,
        chained,
        target,
        additional: targets.len() as u16,
    }
}

/// Whether no record of `set` holds a name (its data is opaque bytes).
fn names_free(set: &RecordSet) -> bool {
    set.records
        .iter()
        .all(|record| matches!(record, Rdata::Opaque(_)))
}

/// What a table of some zones will hold, counted before building it so the
/// arrays are allocated once: upper bounds for the fragments (every RRset
/// rendered twice, each record with a full owner name, and the addresses
/// of every target an RRset may carry as additional data, once per
/// rendering in a fragment of their own) and the names (each owner and
/// service, plus a guess at the empty non-terminals, which the arrays grow
/// to hold if there are more).
#[derive(Debug, Default)]
struct TableSizes {
    names: usize,
    name_bytes: usize,
    sets: usize,
    bytes: usize,
    fixups: usize,
    fragments: usize,
}

impl TableSizes {
    fn of(zones: &[TableZone<'_>], services: usize) -> TableSizes {
        let mut sizes = TableSizes {
            names: services + zones.len(),
            fragments: 1 + 2 * zones.len(),
            ..TableSizes::default()
        };
        for zone in zones.iter().filter(|zone| zone.serving) {
            for (owner, sets) in &zone.data.nodes {
                sizes.names += 1;
                sizes.name_bytes += owner.len();
                sizes.sets += sets.len();
                for set in sets {
                    let names = !names_free(set);
                    let renderings = if names { 2 } else { 1 };
                    sizes.fragments += renderings;
                    for record in &set.records {
                        // A hole for the owner, type, class, TTL, length.
                        sizes.bytes += renderings * (12 + rdata_len(record));
                        sizes.fixups += renderings * (1 + usize::from(names));
                        // The target's addresses (see `additional_targets`),
                        // each owner in full or a hole.
                        let Some(target) = target_of(set.rtype, record) else {
                            continue;
                        };
                        sizes.fragments += renderings;
                        let target = name::to_lowercase(target);
                        for address_type in [rtype::A, rtype::AAAA] {
                            let Some(addresses) = zone.data.record_set(&target, address_type)
                            else {
                                continue;
                            };
                            for address in &addresses.records {
                                sizes.bytes +=
                                    renderings * (10 + target.len() + rdata_len(address));
                                sizes.fixups += renderings;
                            }
                        }
                    }
                }
            }
        }
        // Empty non-terminals: a tenth more names is a guess, not a bound.
        sizes.names += sizes.names / 10;
        sizes.name_bytes += sizes.name_bytes / 10;
        // What is not counted above: each zone's negative SOAs, the DS of
        // a served child's apex, the referrals' owner names, the ANY
        // answer. A margin, so that the arrays are not grown (doubled) for
        // the last few.
        sizes.bytes += sizes.bytes / 32 + 1024 * (zones.len() + 1);
        sizes.fixups += sizes.fixups / 32 + 64 * (zones.len() + 1);
        sizes.fragments += sizes.fragments / 32 + 8 * (zones.len() + 1);
        sizes
    }
}

/// The length of `rdata` in wire form, its names uncompressed.
fn rdata_len(rdata: &Rdata) -> usize {
    match rdata {
        Rdata::Opaque(bytes) => bytes.len(),
        Rdata::Name(name) => name.len(),
        Rdata::Mx { exchange, .. } => 2 + exchange.len(),
        Rdata::Soa(soa) => soa.mname.len() + soa.rname.len() + 20,
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
        Rdata::Soa(soa) => {
            for (slot, value) in fixed.chunks_exact_mut(4).zip([
                soa.serial,
                soa.refresh,
                soa.retry,
                soa.expire,
                soa.minimum,
            ]) {
                slot.copy_from_slice(&value.to_be_bytes());
            }
            vec![
                RdataPart::CompressibleName(&soa.mname),
                RdataPart::CompressibleName(&soa.rname),
                RdataPart::Bytes(&fixed[..]),
            ]
        }
    }
}

/// The zone's SOA for negative answers, in authority, with TTL
/// min(SOA TTL, MINIMUM).
fn render_negative(
    fragments: &mut FragmentStore,
    zone: &ZoneData,
    question: Option<&[u8]>,
) -> FragmentId {
    let negative_ttl = zone.negative_ttl();
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
}

/// One target of an MX, SRV or NS RRset with its address records, for the
/// additional section.
struct TargetAddresses<'z> {
    /// Lowercase.
    name: Vec<u8>,
    /// Its A, then its AAAA RRset (either may be missing, not both).
    sets: Vec<&'z RecordSet>,
}

/// The targets of `set` (MX exchanges, SRV targets, NS hosts; none for other
/// types) whose addresses `eligible` accepts and the zone has, each once,
/// in the RRset's order. Knot and NSD add the same: A and AAAA of in-zone
/// targets, kept out when they do not fit.
///
/// Every target inside the zone goes in `named`, with addresses or not.
fn additional_targets<'z>(
    zone: &'z ZoneData,
    set: &RecordSet,
    eligible: &impl Fn(&[u8], u16) -> bool,
    named: &mut FastSet<Box<[u8]>>,
) -> Vec<TargetAddresses<'z>> {
    if !matches!(set.rtype, rtype::MX | rtype::NS | rtype::SRV) {
        return Vec::new();
    }
    let mut targets: Vec<TargetAddresses<'z>> = Vec::new();
    for record in &set.records {
        let Some(target) = target_of(set.rtype, record) else {
            continue;
        };
        let target = name::to_lowercase(target);
        note_name(named, &target, &zone.apex);
        if targets.len() == usize::from(u16::MAX)
            || targets.iter().any(|known| known.name == target)
            || !eligible(&target, set.rtype)
        {
            continue;
        }
        let sets: Vec<&RecordSet> = [rtype::A, rtype::AAAA]
            .into_iter()
            .filter_map(|address_type| zone.record_set(&target, address_type))
            .collect();
        if !sets.is_empty() {
            targets.push(TargetAddresses { name: target, sets });
        }
    }
    targets
}

/// The target of a record of an RRset of `rtype`: an MX exchange, an NS
/// host, an SRV target (None for other types).
fn target_of(rtype: u16, record: &Rdata) -> Option<&[u8]> {
    match record {
        Rdata::Mx { exchange, .. } => Some(exchange),
        Rdata::Name(host) if rtype == rtype::NS => Some(host),
        Rdata::Opaque(bytes) if rtype == rtype::SRV => srv_target(bytes),
        _ => None,
    }
}

/// Adds `target` to `named` when it lies in the zone at `apex`.
fn note_name(named: &mut FastSet<Box<[u8]>>, target: &[u8], apex: &[u8]) {
    if name::is_at_or_below(target, apex) && !named.contains(target) {
        named.insert(target.into());
    }
}

/// The target name of SRV record data (priority, weight, port, target),
/// when it is one well-formed uncompressed name filling the rest.
fn srv_target(rdata: &[u8]) -> Option<&[u8]> {
    let target = rdata.get(6..)?;
    let mut at = 0;
    loop {
        let length = usize::from(*target.get(at)?);
        if length & 0xc0 != 0 {
            return None;
        }
        at += 1 + length;
        if length == 0 {
            return (at == target.len() && at <= name::MAX_NAME_LEN).then_some(target);
        }
    }
}

/// `set` in the answer section, then, as continuations (one each, in
/// order), the address records of `targets` in the additional section.
/// Returns the answer's fragment; the continuations follow it.
fn render_set(
    fragments: &mut FragmentStore,
    set: &RecordSet,
    question: Option<&[u8]>,
    targets: &[TargetAddresses<'_>],
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
    let mut answer = None;
    for target in targets {
        let (finished, next) = builder.finish_and_continue(Section::Additional);
        answer.get_or_insert(finished);
        builder = next;
        for address_set in &target.sets {
            for record in &address_set.records {
                let mut fixed = [0; 20];
                builder.record(
                    Owner::Name(&target.name),
                    address_set.rtype,
                    CLASS_IN,
                    address_set.ttl,
                    &rdata_parts(record, &mut fixed),
                );
            }
        }
    }
    let last = builder.finish();
    answer.unwrap_or(last)
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{Source, ZoneConfig};
    use crate::wire::HEADER_LEN;
    use crate::wire::answer::Reply;
    use domain::base::Message;

    /// Loads `text` as the zone `apex` (presentation format).
    pub(crate) fn zone(apex: &str, text: &str) -> ZoneData {
        use std::str::FromStr;
        let files: &'static [(&'static str, &'static str)] = Box::leak(
            vec![(
                "<test>/zone.db",
                &*Box::leak(text.to_owned().into_boxed_str()),
            )]
            .into_boxed_slice(),
        );
        let config = ZoneConfig {
            name: domain::base::Name::<bytes::Bytes>::from_str(apex).unwrap(),
            file: std::path::PathBuf::from("<test>/zone.db"),
            line: 1,
        };
        super::super::load_zone(&config, &Source::Embedded(files))
            .expect("zone loads")
            .0
    }

    /// A query's question (name and type, class IN) in wire form.
    fn question(name: &[u8], qtype: u16) -> Vec<u8> {
        let mut question = name.to_vec();
        question.extend_from_slice(&qtype.to_be_bytes());
        question.extend_from_slice(&CLASS_IN.to_be_bytes());
        question
    }

    /// The reply to `qname`/`qtype` answered from its RRset (rendered
    /// `direct`, or `chained` after 30 bytes of padding records in the
    /// answer as a CNAME chain's would be) with its additional records,
    /// within `limit` bytes: (answer, additional, truncated), the records as
    /// `owner type` text.
    fn answer_rendered(
        table: &NameTable,
        qname: &[u8],
        qtype: u16,
        limit: usize,
        chained: bool,
    ) -> (Vec<String>, Vec<String>, bool) {
        let Lookup::Exact(id) = table.lookup(qname) else {
            panic!("{qname:?} is in the table");
        };
        let set = table.record_set(table.node(id), qtype).expect("the RRset");
        let mut out = vec![0u8; limit];
        let question = question(qname, qtype);
        let mut reply =
            Reply::start(&mut out, 1, 0, Some(&question), qname.len(), None, limit).unwrap();
        let fragment = if chained {
            // Two records owned by the question name before the chained
            // RRset, so it does not sit where the direct one would.
            let mut padding = FragmentStore::new();
            let mut builder = padding.builder(Section::Answer, None);
            for _ in 0..2 {
                builder.record(
                    Owner::Pointer,
                    rtype::TXT,
                    CLASS_IN,
                    60,
                    &[RdataPart::Bytes(b"\x02hi")],
                );
            }
            let padding_id = builder.finish();
            reply.push(padding.get(padding_id), 12).unwrap();
            set.chained
        } else {
            set.direct
        };
        let (store, fragment) = table.store(fragment);
        reply.push_with_additional(store, fragment, set.additional, 12);
        let truncated = reply.is_truncated();
        let len = reply.finish(crate::wire::Rcode::NoError, true, 1232);
        let message = Message::from_slice(&out[..len]).expect("a message");
        let render = |section: domain::base::message::RecordSection<'_, [u8]>| {
            section
                .map(|record| {
                    let record = record.expect("record parses");
                    record
                        .to_any_record::<domain::rdata::AllRecordData<_, _>>()
                        .expect("record data parses");
                    format!("{} {}", record.owner(), record.rtype())
                })
                .collect::<Vec<_>>()
        };
        let answer = render(message.answer().unwrap());
        let additional = render(message.additional().unwrap());
        (answer, additional, truncated)
    }

    fn answer_with_additional(
        table: &NameTable,
        qname: &[u8],
        qtype: u16,
        limit: usize,
    ) -> (Vec<String>, Vec<String>, bool) {
        answer_rendered(table, qname, qtype, limit, false)
    }

    #[test]
    fn name_free_rrsets_render_once_and_cname_targets_are_kept_lowercase() {
        let zone = zone(
            "example.com.",
            "$ORIGIN example.com.\n$TTL 300\n\
             @ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\n\
             ns1 A 192.0.2.1\nwww A 192.0.2.2\nwww AAAA 2001:db8::2\n\
             www TXT \"hello\"\nwww MX 10 Mail.Example.NET.\n\
             alias CNAME WWW.Example.COM.\n",
        );
        let table = NameTable::build(&[(&zone).into()], &[]);
        let Lookup::Exact(www) = table.lookup(b"\x03www\x07example\x03com\x00") else {
            panic!("www is in the table");
        };
        let www = table.node(www);
        for rtype in [rtype::A, rtype::AAAA, rtype::TXT] {
            let set = table.record_set(www, rtype).expect("the RRset");
            assert_eq!(set.direct, set.chained, "type {rtype}: one rendering");
            assert_eq!(table.cname_target(set), None);
        }
        let mx = table.record_set(www, rtype::MX).expect("the MX RRset");
        assert_ne!(mx.direct, mx.chained, "names compress differently");
        let Lookup::Exact(alias) = table.lookup(b"\x05ALIAS\x07example\x03com\x00") else {
            panic!("alias is in the table");
        };
        let cname = table.cname(table.node(alias)).expect("a CNAME");
        assert_ne!(cname.direct, cname.chained);
        assert_eq!(
            table.cname_target(cname),
            Some(&b"\x03www\x07example\x03com\x00"[..])
        );
        // The chained rendering of a name-free set, shared with the direct
        // one, still answers along a chain: the owner is a hole either way.
        let (answer, _, truncated) = answer_rendered(
            &table,
            b"\x03www\x07example\x03com\x00",
            rtype::A,
            512,
            true,
        );
        assert_eq!(answer.len(), 3, "{answer:?}");
        assert_eq!(answer[2], "www.example.com A");
        assert!(!truncated);
    }

    #[test]
    fn mx_srv_and_apex_ns_carry_their_in_zone_targets_addresses() {
        let zone = zone(
            "example.com.",
            "$ORIGIN example.com.\n$TTL 300\n\
             @ SOA ns1 hostmaster 1 7200 900 1209600 60\n\
             @ NS ns1\n@ NS ns.sub\n@ NS ns.example.net.\n\
             ns1 A 192.0.2.53\nns1 AAAA 2001:db8::53\n\
             sub NS ns.sub\nns.sub A 192.0.2.153\n\
             @ MX 10 mail\n@ MX 20 MAIL\n@ MX 30 mx.example.net.\n@ MX 40 ns.sub\n@ MX 50 none\n\
             mail A 192.0.2.25\nmail AAAA 2001:db8::25\nnone TXT \"no address\"\n\
             _sip._udp SRV 10 60 5060 sip\n_sip._udp SRV 20 60 5061 sip\nsip AAAA 2001:db8::60\n",
        );
        let table = NameTable::build(&[(&zone).into()], &[]);
        let apex = b"\x07example\x03com\x00";
        // MX: mail (named twice, in two cases) once with both addresses;
        // out of zone, under a cut and address-less targets give nothing.
        let (answer, additional, truncated) = answer_with_additional(&table, apex, rtype::MX, 4096);
        assert_eq!(answer.len(), 5);
        assert_eq!(additional, ["mail.example.com A", "mail.example.com AAAA"]);
        assert!(!truncated);
        // The same at the end of a CNAME chain, compressed on its own.
        let (answer, chained, _) = answer_rendered(&table, apex, rtype::MX, 4096, true);
        assert_eq!((answer.len(), chained), (2 + 5, additional));
        // NS at the apex: the glue under the cut counts.
        let (_, additional, _) = answer_with_additional(&table, apex, rtype::NS, 4096);
        assert_eq!(
            additional,
            [
                "ns1.example.com A",
                "ns1.example.com AAAA",
                "ns.sub.example.com A"
            ]
        );
        let sip = b"\x04_sip\x04_udp\x07example\x03com\x00";
        let (answer, additional, _) = answer_with_additional(&table, sip, rtype::SRV, 4096);
        assert_eq!(answer.len(), 2);
        assert_eq!(additional, ["sip.example.com AAAA"]);
        // Types without targets have none.
        let Lookup::Exact(id) = table.lookup(b"\x04mail\x07example\x03com\x00") else {
            panic!("mail is in the table");
        };
        assert_eq!(
            table
                .record_set(table.node(id), rtype::A)
                .unwrap()
                .additional,
            0
        );
    }

    #[test]
    fn additional_records_that_do_not_fit_are_left_out_a_target_at_a_time() {
        let mut text = String::from(
            "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\n",
        );
        for index in 0..12 {
            text.push_str(&format!(
                "@ MX {index} mx{index:02}\nmx{index:02} A 192.0.2.{index}\nmx{index:02} AAAA 2001:db8::{index}\n"
            ));
        }
        let table = NameTable::build(&[(&zone("example.com.", &text)).into()], &[]);
        let apex = b"\x07example\x03com\x00";
        let (answer, all, _) = answer_with_additional(&table, apex, rtype::MX, 4096);
        assert_eq!((answer.len(), all.len()), (12, 24));
        let (answer, some, truncated) = answer_with_additional(&table, apex, rtype::MX, 512);
        assert_eq!(answer.len(), 12, "the answer is complete");
        assert!(!truncated, "missing additional records never set TC");
        assert!(some.len() < all.len(), "{} additional records", some.len());
        assert_eq!(some, all[..some.len()], "the first targets, in order");
        assert_eq!(some.len() % 2, 0, "each target's A and AAAA, or neither");
        // With room for the answer and no more, none at all.
        let Lookup::Exact(id) = table.lookup(apex) else {
            panic!("the apex is in the table");
        };
        let set = table.record_set(table.node(id), rtype::MX).unwrap();
        let exact = HEADER_LEN + apex.len() + 4 + table.fragment(set.direct).bytes.len();
        let (answer, none, truncated) = answer_with_additional(&table, apex, rtype::MX, exact);
        assert_eq!((answer.len(), none.len(), truncated), (12, 0, false));
    }

    #[test]
    fn name_index_finds_every_name_and_nothing_else() {
        // Names of every length from 1 to 40 bytes (below, at and past
        // multiples of 8), plus one given twice.
        let names: Vec<Vec<u8>> = (1..=40usize)
            .map(|len| {
                let mut name = vec![b'a'; len];
                name[0] = (len - 1) as u8;
                name[len - 1] = 0;
                name
            })
            .chain([b"\x03www\x00".to_vec()])
            .collect();
        let mut arena = Vec::new();
        let mut spans = Vec::new();
        for name in &names {
            spans.push((arena.len() as u32, name.len() as u32));
            arena.extend_from_slice(name);
        }
        let index = NameIndex::new(arena, spans);
        for (node, name) in names.iter().enumerate().take(40) {
            let expected = if name.as_slice() == b"\x03www\x00" {
                40
            } else {
                node as u32
            };
            assert_eq!(index.get(name), Some(expected), "{name:?}");
            let mut other = name.clone();
            *other.last_mut().unwrap() = 1;
            assert_eq!(index.get(&other), None, "{other:?}");
            other.push(0xff);
            assert_eq!(index.get(&other), None, "{other:?}");
        }
        assert_eq!(index.get(b""), None);
        assert_eq!(NameIndex::new(Vec::new(), Vec::new()).get(b"\x00"), None);
    }

    #[test]
    fn name_index_ignores_the_case_of_the_name_looked_up() {
        let names: [&[u8]; 4] = [
            b"\x02ab\x00",
            b"\x03www\x07example\x03com\x00",
            b"\x0fa-long-label-x9\x07example\x03com\x00",
            b"\x01z\x00",
        ];
        let mut arena = Vec::new();
        let mut spans = Vec::new();
        for name in names {
            spans.push((arena.len() as u32, name.len() as u32));
            arena.extend_from_slice(name);
        }
        let index = NameIndex::new(arena, spans);
        for (node, name) in names.iter().enumerate() {
            let upper = name.to_ascii_uppercase();
            assert_eq!(index.get(&upper), Some(node as u32), "{upper:?}");
            let mut mixed = name.to_vec();
            for (position, byte) in mixed.iter_mut().enumerate() {
                if position % 2 == 1 {
                    byte.make_ascii_uppercase();
                }
            }
            assert_eq!(index.get(&mixed), Some(node as u32), "{mixed:?}");
            // `[` and `{` differ from `Z`/`z` only where case folding would
            // wrongly merge them: they must not match.
            let mut near = name.to_vec();
            let last_letter = near.iter().rposition(u8::is_ascii_alphabetic).unwrap();
            near[last_letter] = b'{';
            assert_eq!(index.get(&near), None, "{near:?}");
        }
    }
}
