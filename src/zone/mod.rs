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

/// What [`ZoneData::apply_changes`] gives: the zone, its warnings, and the
/// owners changed (lowercase, sorted, once each).
pub type Applied = (ZoneData, Vec<Warning>, Vec<Vec<u8>>);

/// Where a record came from: an index into [`ZoneData::files`] and a line
/// (32 bits each: a location is kept with every record set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: u32,
    pub line: u32,
}

impl Location {
    /// The location at `file` and `line` (each held up to `u32::MAX`).
    pub fn new(file: usize, line: usize) -> Location {
        Location {
            file: u32::try_from(file).unwrap_or(u32::MAX),
            line: u32::try_from(line).unwrap_or(u32::MAX),
        }
    }

    /// The index into [`ZoneData::files`].
    pub fn file(&self) -> usize {
        self.file as usize
    }

    /// The line (or, for a transfer, the record's ordinal).
    pub fn line(&self) -> usize {
        self.line as usize
    }
}

/// Bytes of a name or of record data, held in place up to
/// [`Octets::INLINE`] bytes (an IPv4 or IPv6 address, most names), on the
/// heap beyond. A zone of a million names and records holds them without
/// an allocation each: at 32 bytes of allocator chunk per owner name and per
/// address that was a fifth of a loaded zone's memory.
#[derive(Clone)]
pub struct Octets(OctetsRepr);

#[derive(Clone)]
enum OctetsRepr {
    Inline {
        len: u8,
        bytes: [u8; Octets::INLINE],
    },
    Heap(Box<[u8]>),
}

impl Octets {
    /// The most bytes held in place (the type stays 24 bytes).
    pub const INLINE: usize = 22;

    /// A copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Octets {
        if bytes.len() <= Self::INLINE {
            let mut inline = [0; Self::INLINE];
            inline[..bytes.len()].copy_from_slice(bytes);
            Octets(OctetsRepr::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            })
        } else {
            Octets(OctetsRepr::Heap(bytes.into()))
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            OctetsRepr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            OctetsRepr::Heap(bytes) => bytes,
        }
    }
}

impl std::ops::Deref for Octets {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::borrow::Borrow<[u8]> for Octets {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<&[u8]> for Octets {
    fn from(bytes: &[u8]) -> Octets {
        Octets::new(bytes)
    }
}

impl From<Vec<u8>> for Octets {
    fn from(bytes: Vec<u8>) -> Octets {
        if bytes.len() <= Self::INLINE {
            Octets::new(&bytes)
        } else {
            Octets(OctetsRepr::Heap(bytes.into_boxed_slice()))
        }
    }
}

impl PartialEq for Octets {
    fn eq(&self, other: &Octets) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Octets {}

/// As the slice hashes, so that a map keyed by `Octets` is searched by
/// `&[u8]`.
impl std::hash::Hash for Octets {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl std::fmt::Debug for Octets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

/// The data of one record, split so names can be compressed when rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rdata {
    /// Record data in wire form with any names uncompressed (RFC 3597).
    Opaque(Octets),
    /// NS, CNAME, PTR: a single compressible name.
    Name(Octets),
    /// MX: preference and a compressible exchange name.
    Mx { preference: u16, exchange: Octets },
    /// SOA: two compressible names and the five 32-bit fields (boxed: one
    /// record per zone need not make every record larger).
    Soa(Box<Soa>),
}

/// The data of an SOA record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Soa {
    pub mname: Octets,
    pub rname: Octets,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

/// The records of a set: most sets hold one, in place.
pub type Records = smallvec::SmallVec<[Rdata; 1]>;

/// The record sets at a name: most names have one, held in place (a
/// million names are not two million allocations).
pub type Sets = smallvec::SmallVec<[RecordSet; 1]>;

/// All records of one type at one name.
#[derive(Clone, Debug)]
pub struct RecordSet {
    pub rtype: u16,
    pub ttl: u32,
    pub records: Records,
    /// Where the first record of the set was read.
    pub location: Location,
}

/// Record sets by owner: hashed (a sorted map compared ~20 whole names,
/// each behind its own pointer, per record read), kept in the order they
/// were read, so walking them follows memory and gives the same order every
/// time.
///
/// The names are held in chunks of [`Nodes::CHUNK`], in order, each shared
/// between the copies of the zone until one of them changes it; the hash
/// index holds positions (4 bytes a name) and is copied whole. Copying a
/// zone of a million names for an IXFR copies that index and the chunk
/// pointers, and the difference then copies only the chunks of the names
/// it touches.
///
/// A zone kept for its next difference (a secondary's copy) is
/// [frozen](Nodes::frozen): each chunk packed into one byte string, the
/// bytes its owners end with (the apex, mostly) held once: a quarter to a
/// third of its size in structures. A frozen chunk is unpacked, whole,
/// when one of its names is read (and kept unpacked beside its bytes until
/// the zone is frozen again) or changed (the copy that changes it holds it
/// unpacked); a name is found without unpacking anything.
#[derive(Clone, Debug, Default)]
pub struct Nodes {
    hasher: foldhash::fast::RandomState,
    /// Positions of the names, by the hash of the name.
    index: hashbrown::HashTable<u32>,
    chunks: Vec<std::sync::Arc<Chunk>>,
    len: usize,
}

/// One name of [`Nodes`] (its fields are the map's own).
#[derive(Clone, Debug)]
pub struct NodeEntry {
    owner: Octets,
    sets: Sets,
}

/// Up to [`Nodes::CHUNK`] names of [`Nodes`], in order (public only as
/// part of [`NodesIter`]'s type).
#[derive(Debug)]
pub struct Chunk(Repr);

#[derive(Debug)]
enum Repr {
    Open(Vec<NodeEntry>),
    Frozen(Frozen),
}

/// A chunk packed by [`Nodes::frozen`]: its names' bytes (see
/// [`pack_entry`]), and the same unpacked once a name is read.
#[derive(Debug)]
struct Frozen {
    packed: std::sync::Arc<Packed>,
    unpacked: std::sync::OnceLock<Vec<NodeEntry>>,
}

#[derive(Debug)]
struct Packed {
    bytes: Box<[u8]>,
    /// Where each name starts in `bytes`.
    starts: Box<[u32]>,
    /// The bytes every owner of the chunk ends with (most often the zone's
    /// apex), held once: each owner is packed without them.
    suffix: Box<[u8]>,
}

/// An owner as held: `prefix` then `suffix` (a packed owner is split so;
/// an unpacked one is all prefix).
#[derive(Clone, Copy)]
struct OwnerRef<'a> {
    prefix: &'a [u8],
    suffix: &'a [u8],
}

impl OwnerRef<'_> {
    /// Whether this is `name`, byte for byte.
    #[inline(always)]
    fn is(self, name: &[u8]) -> bool {
        if self.suffix.is_empty() {
            return self.prefix == name;
        }
        name.len() == self.prefix.len() + self.suffix.len()
            && name.starts_with(self.prefix)
            && name.ends_with(self.suffix)
    }

    /// `use_name` given the owner in one piece (put together on the stack
    /// when it is in two).
    fn whole<R>(self, use_name: impl FnOnce(&[u8]) -> R) -> R {
        if self.suffix.is_empty() {
            return use_name(self.prefix);
        }
        let mut name = [0u8; 256];
        let len = self.prefix.len() + self.suffix.len();
        name[..self.prefix.len()].copy_from_slice(self.prefix);
        name[self.prefix.len()..len].copy_from_slice(self.suffix);
        use_name(&name[..len])
    }

    /// The owner's hash, as [`Nodes`] hashes a name given whole.
    fn hash(self, hasher: &foldhash::fast::RandomState) -> u64 {
        use std::hash::BuildHasher;
        self.whole(|name| hasher.hash_one(name))
    }
}

impl Packed {
    fn pack(entries: &[NodeEntry]) -> Packed {
        // The longest run of bytes every owner ends with.
        let mut suffix: &[u8] = entries.first().map_or(&[], |entry| &entry.owner);
        for entry in entries {
            let common = suffix
                .iter()
                .rev()
                .zip(entry.owner.iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
            suffix = &suffix[suffix.len() - common..];
        }
        let mut bytes = Vec::new();
        let mut starts = Vec::with_capacity(entries.len());
        for entry in entries {
            starts.push(u32::try_from(bytes.len()).expect("a chunk packs into under 4 GiB"));
            pack_entry(&mut bytes, entry, suffix.len());
        }
        Packed {
            bytes: bytes.into_boxed_slice(),
            starts: starts.into_boxed_slice(),
            suffix: suffix.into(),
        }
    }

    fn owner(&self, at: usize) -> OwnerRef<'_> {
        let start = self.starts[at] as usize;
        let len = usize::from(self.bytes[start]);
        OwnerRef {
            prefix: &self.bytes[start + 1..start + 1 + len],
            suffix: &self.suffix,
        }
    }

    /// The name at `start` in `bytes`, unpacked.
    fn entry(&self, start: u32) -> NodeEntry {
        unpack_entry(&mut Reader(&self.bytes[start as usize..]), &self.suffix)
    }

    fn unpack(&self) -> Vec<NodeEntry> {
        self.starts.iter().map(|&start| self.entry(start)).collect()
    }
}

impl Frozen {
    fn entries(&self) -> &[NodeEntry] {
        self.unpacked.get_or_init(|| self.packed.unpack())
    }
}

impl Chunk {
    #[inline]
    fn len(&self) -> usize {
        match &self.0 {
            Repr::Open(entries) => entries.len(),
            Repr::Frozen(frozen) => frozen.packed.starts.len(),
        }
    }

    #[inline]
    fn owner(&self, at: usize) -> OwnerRef<'_> {
        match &self.0 {
            Repr::Open(entries) => OwnerRef {
                prefix: &entries[at].owner,
                suffix: &[],
            },
            Repr::Frozen(frozen) => frozen.packed.owner(at),
        }
    }

    #[inline]
    fn entries(&self) -> &[NodeEntry] {
        match &self.0 {
            Repr::Open(entries) => entries,
            Repr::Frozen(frozen) => frozen.entries(),
        }
    }

    /// The entries, to change: a frozen chunk is unpacked (taking what was
    /// unpacked already).
    fn open(&mut self) -> &mut Vec<NodeEntry> {
        if let Repr::Frozen(frozen) = &mut self.0 {
            let entries = match frozen.unpacked.take() {
                Some(entries) => entries,
                None => frozen.packed.unpack(),
            };
            self.0 = Repr::Open(entries);
        }
        match &mut self.0 {
            Repr::Open(entries) => entries,
            Repr::Frozen(_) => unreachable!("opened above"),
        }
    }

    /// This chunk packed, sharing the bytes of one packed already.
    fn frozen(&self) -> Chunk {
        let packed = match &self.0 {
            Repr::Open(entries) => std::sync::Arc::new(Packed::pack(entries)),
            Repr::Frozen(frozen) => frozen.packed.clone(),
        };
        Chunk(Repr::Frozen(Frozen {
            packed,
            unpacked: std::sync::OnceLock::new(),
        }))
    }
}

/// A copy to change (what `Arc::make_mut` makes of a shared chunk): open,
/// unpacked from a frozen chunk without keeping what was unpacked there.
impl Clone for Chunk {
    fn clone(&self) -> Chunk {
        Chunk(Repr::Open(match &self.0 {
            Repr::Open(entries) => entries.clone(),
            Repr::Frozen(frozen) => match frozen.unpacked.get() {
                Some(entries) => entries.clone(),
                None => frozen.packed.unpack(),
            },
        }))
    }
}

/// Packs one name: the owner less its last `suffix` bytes, which every
/// owner of the chunk has (a length byte, then the bytes), the number
/// of sets, and for each its type and TTL (fixed width), its location,
/// the number of records (LEB128), and each record as a tag byte and its
/// parts (names and opaque data with a LEB128 length, numbers fixed
/// width). An address record of a short name is ~25 bytes, not ~130 in
/// structures and their allocations.
fn pack_entry(bytes: &mut Vec<u8>, entry: &NodeEntry, suffix: usize) {
    let owner = &entry.owner[..entry.owner.len() - suffix];
    bytes.push(owner.len() as u8);
    bytes.extend_from_slice(owner);
    leb128(bytes, entry.sets.len());
    for set in &entry.sets {
        bytes.extend_from_slice(&set.rtype.to_le_bytes());
        bytes.extend_from_slice(&set.ttl.to_le_bytes());
        leb128(bytes, set.location.file());
        leb128(bytes, set.location.line());
        leb128(bytes, set.records.len());
        for record in &set.records {
            let with_len = |bytes: &mut Vec<u8>, part: &[u8]| {
                leb128(bytes, part.len());
                bytes.extend_from_slice(part);
            };
            match record {
                Rdata::Opaque(data) => {
                    bytes.push(0);
                    with_len(bytes, data);
                }
                Rdata::Name(name) => {
                    bytes.push(1);
                    with_len(bytes, name);
                }
                Rdata::Mx {
                    preference,
                    exchange,
                } => {
                    bytes.push(2);
                    bytes.extend_from_slice(&preference.to_le_bytes());
                    with_len(bytes, exchange);
                }
                Rdata::Soa(soa) => {
                    bytes.push(3);
                    with_len(bytes, &soa.mname);
                    with_len(bytes, &soa.rname);
                    for value in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
                        bytes.extend_from_slice(&value.to_le_bytes());
                    }
                }
            }
        }
    }
}

/// Appends `value` in LEB128 (7 bits a byte, low first).
fn leb128(bytes: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        bytes.push(value as u8 | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

/// Reads what [`pack_entry`] wrote. The bytes are the program's own, never
/// input: running out of them is a bug, and panics.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        taken
    }

    fn byte(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take(2).try_into().expect("two bytes"))
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().expect("four bytes"))
    }

    fn leb128(&mut self) -> usize {
        let mut value = 0usize;
        let mut shift = 0;
        loop {
            let byte = self.byte();
            value |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
            shift += 7;
        }
    }

    fn with_len(&mut self) -> Octets {
        let len = self.leb128();
        Octets::new(self.take(len))
    }
}

fn unpack_entry(reader: &mut Reader<'_>, suffix: &[u8]) -> NodeEntry {
    let len = usize::from(reader.byte());
    let owner = OwnerRef {
        prefix: reader.take(len),
        suffix,
    }
    .whole(Octets::new);
    let count = reader.leb128();
    let mut sets = Sets::with_capacity(count);
    for _ in 0..count {
        let rtype = reader.u16();
        let ttl = reader.u32();
        let location = Location::new(reader.leb128(), reader.leb128());
        let count = reader.leb128();
        let mut records = Records::with_capacity(count);
        for _ in 0..count {
            records.push(match reader.byte() {
                0 => Rdata::Opaque(reader.with_len()),
                1 => Rdata::Name(reader.with_len()),
                2 => Rdata::Mx {
                    preference: reader.u16(),
                    exchange: reader.with_len(),
                },
                _ => Rdata::Soa(Box::new(Soa {
                    mname: reader.with_len(),
                    rname: reader.with_len(),
                    serial: reader.u32(),
                    refresh: reader.u32(),
                    retry: reader.u32(),
                    expire: reader.u32(),
                    minimum: reader.u32(),
                })),
            });
        }
        sets.push(RecordSet {
            rtype,
            ttl,
            records,
            location,
        });
    }
    NodeEntry { owner, sets }
}

impl Nodes {
    /// Names per chunk.
    pub const CHUNK: usize = 4096;

    #[inline]
    fn hash(&self, owner: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(owner)
    }

    #[inline]
    fn owner_at(chunks: &[std::sync::Arc<Chunk>], position: u32) -> OwnerRef<'_> {
        let position = position as usize;
        chunks[position / Self::CHUNK].owner(position % Self::CHUNK)
    }

    #[inline]
    fn entry(&self, position: u32) -> &NodeEntry {
        let position = position as usize;
        &self.chunks[position / Self::CHUNK].entries()[position % Self::CHUNK]
    }

    /// The position of `owner`, if held.
    #[inline]
    fn position(&self, owner: &[u8]) -> Option<u32> {
        let chunks = &self.chunks;
        self.index
            .find(self.hash(owner), |&position| {
                Self::owner_at(chunks, position).is(owner)
            })
            .copied()
    }

    /// The entry at `position`, to change: its chunk is copied first if
    /// another copy of the zone shares it, and unpacked if frozen.
    fn entry_mut(&mut self, position: u32) -> &mut NodeEntry {
        let position = position as usize;
        let chunk = std::sync::Arc::make_mut(&mut self.chunks[position / Self::CHUNK]);
        &mut chunk.open()[position % Self::CHUNK]
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no name.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The record sets at `owner`.
    #[inline]
    pub fn get(&self, owner: &[u8]) -> Option<&Sets> {
        let position = self.position(owner)?;
        Some(&self.entry(position).sets)
    }

    /// `read` given the record sets at `owner`; a packed name is unpacked
    /// for the call only, its chunk left packed.
    pub fn read<R>(&self, owner: &[u8], read: impl FnOnce(&Sets) -> R) -> Option<R> {
        let position = self.position(owner)? as usize;
        let at = position % Self::CHUNK;
        match &self.chunks[position / Self::CHUNK].0 {
            Repr::Frozen(frozen) if frozen.unpacked.get().is_none() => {
                Some(read(&frozen.packed.entry(frozen.packed.starts[at]).sets))
            }
            Repr::Frozen(frozen) => Some(read(&frozen.entries()[at].sets)),
            Repr::Open(entries) => Some(read(&entries[at].sets)),
        }
    }

    /// Whether `owner` has record sets.
    pub fn contains_key(&self, owner: &[u8]) -> bool {
        self.position(owner).is_some()
    }

    /// The record sets at `owner`, to change.
    pub fn get_mut(&mut self, owner: &[u8]) -> Option<&mut Sets> {
        let position = self.position(owner)?;
        Some(&mut self.entry_mut(position).sets)
    }

    /// The name as held and its record sets, added with none if it was not
    /// held, and whether it was added.
    pub fn get_or_insert(&mut self, owner: Octets) -> (&Octets, &mut Sets, bool) {
        let hash = self.hash(&owner);
        if let Some(position) = self.position_hashed(&owner, hash) {
            let entry = self.entry_mut(position);
            return (&entry.owner, &mut entry.sets, false);
        }
        let position = self.len as u32;
        if self.index.len() == self.index.capacity() {
            self.grow_index();
        }
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index.insert_unique(hash, position, |&position| {
            Self::owner_at(chunks, position).hash(hasher)
        });
        if self.len.is_multiple_of(Self::CHUNK) {
            self.chunks
                .push(std::sync::Arc::new(Chunk(Repr::Open(Vec::with_capacity(
                    Self::CHUNK,
                )))));
        }
        self.len += 1;
        let last = self.chunks.last_mut().expect("a chunk with room");
        let last = std::sync::Arc::make_mut(last).open();
        // A chunk copied from a shared one has no room to spare.
        last.reserve_exact(Self::CHUNK - last.len());
        last.push(NodeEntry {
            owner,
            sets: Sets::new(),
        });
        let entry = last.last_mut().expect("just pushed");
        (&entry.owner, &mut entry.sets, true)
    }

    /// Doubles the index's room, rehashing the names in the order they are
    /// held: the table's own growth would visit them in the index's order,
    /// one cache miss each (~70 ms of a million-record zone's load).
    fn grow_index(&mut self) {
        let room = (self.index.capacity() * 2).max(64);
        let mut index = hashbrown::HashTable::with_capacity(room);
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        let rehash = |&position: &u32| Self::owner_at(chunks, position).hash(hasher);
        let mut position = 0u32;
        for chunk in chunks {
            for at in 0..chunk.len() {
                // With room made for every name, `rehash` is not called.
                index.insert_unique(chunk.owner(at).hash(hasher), position, rehash);
                position += 1;
            }
        }
        self.index = index;
    }

    #[inline]
    fn position_hashed(&self, owner: &[u8], hash: u64) -> Option<u32> {
        let chunks = &self.chunks;
        self.index
            .find(hash, |&position| Self::owner_at(chunks, position).is(owner))
            .copied()
    }

    /// Adds `owner` with `sets`, replacing any it had.
    pub fn insert(&mut self, owner: Octets, sets: Sets) {
        *self.get_or_insert(owner).1 = sets;
    }

    /// Removes `owner` and its record sets; the last name takes its place.
    pub fn swap_remove(&mut self, owner: &[u8]) -> Option<Sets> {
        let hash = self.hash(owner);
        let chunks = &self.chunks;
        let found = self
            .index
            .find_entry(hash, |&position| Self::owner_at(chunks, position).is(owner));
        let position = found.ok()?.remove().0;
        let last = (self.len - 1) as u32;
        let tail = self.chunks.last_mut().expect("a name is held");
        let moved = std::sync::Arc::make_mut(tail)
            .open()
            .pop()
            .expect("the last name");
        if self.chunks.last().is_some_and(|chunk| chunk.len() == 0) {
            self.chunks.pop();
        }
        self.len -= 1;
        if position == last {
            return Some(moved.sets);
        }
        // The last name moves into the hole.
        let moved_hash = self.hash(&moved.owner);
        if let Some(slot) = self.index.find_mut(moved_hash, |&at| at == last) {
            *slot = position;
        }
        let removed = std::mem::replace(self.entry_mut(position), moved);
        Some(removed.sets)
    }

    /// A copy with every chunk packed (see [`Nodes`]): the chunks packed
    /// already share their bytes, without what was unpacked of them.
    /// Packing a million names takes ~0.1 s.
    pub fn frozen(&self) -> Nodes {
        Nodes {
            hasher: self.hasher.clone(),
            index: self.index.clone(),
            chunks: self
                .chunks
                .iter()
                .map(|chunk| std::sync::Arc::new(chunk.frozen()))
                .collect(),
            len: self.len,
        }
    }

    /// Whether packing again would give memory back: a chunk is not
    /// packed, or is also held unpacked (what reading its names through
    /// [`Self::get`] or [`Self::iter`] does; [`Self::read`] does not).
    pub fn needs_packing(&self) -> bool {
        self.chunks.iter().any(|chunk| match &chunk.0 {
            Repr::Open(_) => true,
            Repr::Frozen(frozen) => frozen.unpacked.get().is_some(),
        })
    }

    /// Calls `visit` with every name and its record sets, in order, until
    /// it fails. Unlike [`Self::iter`], a frozen chunk is read one name at
    /// a time and nothing unpacked is kept: what writing a packed zone out
    /// walks.
    pub fn try_for_each<E>(
        &self,
        mut visit: impl FnMut(&[u8], &Sets) -> Result<(), E>,
    ) -> Result<(), E> {
        for chunk in &self.chunks {
            match &chunk.0 {
                Repr::Frozen(frozen) if frozen.unpacked.get().is_none() => {
                    for &start in &frozen.packed.starts {
                        let entry = frozen.packed.entry(start);
                        visit(&entry.owner, &entry.sets)?;
                    }
                }
                _ => {
                    for entry in chunk.entries() {
                        visit(&entry.owner, &entry.sets)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every name and its record sets, in order.
    pub fn iter(&self) -> NodesIter<'_> {
        fn chunk(chunk: &std::sync::Arc<Chunk>) -> std::slice::Iter<'_, NodeEntry> {
            chunk.entries().iter()
        }
        fn pair(entry: &NodeEntry) -> (&Octets, &Sets) {
            (&entry.owner, &entry.sets)
        }
        self.chunks.iter().flat_map(chunk as _).map(pair as _)
    }

    /// Every name, in order.
    pub fn keys(&self) -> impl Iterator<Item = &Octets> {
        self.iter().map(|(owner, _)| owner)
    }
}

/// The iterator of [`Nodes::iter`]: names and their record sets, in order.
pub type NodesIter<'a> = std::iter::Map<
    std::iter::FlatMap<
        std::slice::Iter<'a, std::sync::Arc<Chunk>>,
        std::slice::Iter<'a, NodeEntry>,
        fn(&'a std::sync::Arc<Chunk>) -> std::slice::Iter<'a, NodeEntry>,
    >,
    fn(&'a NodeEntry) -> (&'a Octets, &'a Sets),
>;

impl<'a> IntoIterator for &'a Nodes {
    type Item = (&'a Octets, &'a Sets);
    type IntoIter = NodesIter<'a>;
    fn into_iter(self) -> NodesIter<'a> {
        self.iter()
    }
}

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
                Some(Rdata::Soa(soa)) => set.ttl.min(soa.minimum),
                _ => set.ttl,
            },
            None => 0,
        }
    }

    /// This zone with its names packed, to keep for its next difference
    /// (see [`Nodes::frozen`]).
    pub fn frozen(&self) -> ZoneData {
        ZoneData {
            apex: self.apex.clone(),
            files: self.files.clone(),
            nodes: self.nodes.frozen(),
            record_count: self.record_count,
        }
    }

    /// Whether packing again would give memory back (see
    /// [`Nodes::needs_packing`]).
    pub fn needs_packing(&self) -> bool {
        self.nodes.needs_packing()
    }

    /// The numbers of the apex SOA, or `None` without one.
    ///
    /// Read without unpacking a packed zone's apex for good: the transfer
    /// thread and `/status` ask it all the time.
    pub fn soa(&self) -> Option<SoaTimers> {
        self.nodes.read(&self.apex, |sets| {
            match sets
                .iter()
                .find(|set| set.rtype == rtype::SOA)?
                .records
                .first()?
            {
                Rdata::Soa(soa) => Some(SoaTimers {
                    serial: soa.serial,
                    refresh: soa.refresh,
                    retry: soa.retry,
                    expire: soa.expire,
                    minimum: soa.minimum,
                }),
                _ => None,
            }
        })?
    }

    /// Applies one IXFR difference (RFC 1995 section 4) and gives the zone
    /// it makes, its warnings, and the owners it changed (lowercase, sorted,
    /// once each), leaving `self` as it is: removes each of `removed` (a record
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
    /// Cost: a copy of the zone's shard pointers, then a copy of each
    /// shard a change touches (see [`Nodes`]: a 256th of a large zone
    /// each); a hash lookup and a walk of one name's sets and one set's
    /// records per change; then the apex checks and the name checks of the
    /// changed names only, O(changes). Records untouched by the difference
    /// are not checked again.
    pub fn apply_changes(
        &self,
        removed: &[Record],
        added: &[Record],
        origin: &Path,
    ) -> Result<Applied, crate::config::LoadErrors> {
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
                .map(|set| (owner.to_vec(), set.rtype, set.ttl, set.records.to_vec()))
        })
        .collect();
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octets_keep_short_bytes_in_place_long_ones_on_the_heap() {
        assert_eq!(std::mem::size_of::<Octets>(), 24);
        assert!(std::mem::size_of::<Rdata>() <= 32);
        // A name of one record set of one record: no allocation, and small.
        assert!(std::mem::size_of::<RecordSet>() <= 56);
        assert!(std::mem::size_of::<Sets>() <= 64);
        // A million names are 24 MB of table nodes.
        assert_eq!(std::mem::size_of::<table::Node>(), 24);
        for len in [0, 1, 4, 16, Octets::INLINE, Octets::INLINE + 1, 300] {
            let bytes: Vec<u8> = (0..len).map(|index| index as u8).collect();
            let octets = Octets::new(&bytes);
            assert_eq!(octets.as_slice(), &bytes[..]);
            assert_eq!(Octets::from(bytes.clone()).as_slice(), &bytes[..]);
            assert_eq!(
                matches!(octets.0, OctetsRepr::Inline { .. }),
                len <= Octets::INLINE
            );
        }
        assert_ne!(Octets::new(b"ab"), Octets::new(b"abc"));
        assert_ne!(Octets::new(&[0; 23]), Octets::new(&[0; 22]));
    }

    fn host(index: usize) -> Vec<u8> {
        let label = format!("h{index}");
        let mut name = vec![label.len() as u8];
        name.extend_from_slice(label.as_bytes());
        name.extend_from_slice(b"\x07example\x03com\x00");
        name
    }

    fn one_set() -> Sets {
        smallvec::smallvec![RecordSet {
            rtype: rtype::A,
            ttl: 60,
            records: smallvec::smallvec![Rdata::Opaque(Octets::new(&[192, 0, 2, 1]))],
            location: Location { file: 0, line: 1 },
        }]
    }

    #[test]
    fn copies_share_the_chunks_they_do_not_change() {
        let mut nodes = Nodes::default();
        let count = Nodes::CHUNK * 4 + 10;
        for index in 0..count {
            nodes.insert(Octets::new(&host(index)), one_set());
        }
        assert_eq!(nodes.len(), count);
        assert_eq!(nodes.chunks.len(), 5);
        assert_eq!(nodes.iter().count(), count);
        assert!((0..count).all(|index| nodes.contains_key(&host(index))));
        assert!(
            nodes
                .keys()
                .map(|owner| owner.to_vec())
                .eq((0..count).map(host))
        );

        let mut copy = nodes.clone();
        let shared = |a: &Nodes, b: &Nodes| {
            a.chunks
                .iter()
                .zip(&b.chunks)
                .filter(|(a, b)| std::sync::Arc::ptr_eq(a, b))
                .count()
        };
        assert_eq!(shared(&nodes, &copy), 5);
        copy.get_mut(&host(7)).expect("h7").clear();
        assert!(copy.get_mut(&b"\x07missing\x00"[..]).is_none());
        assert_eq!(shared(&nodes, &copy), 4, "one chunk copied");
        assert_eq!(
            nodes.get(&host(7)).map(|sets| sets.len()),
            Some(1),
            "the original"
        );
        assert_eq!(copy.get(&host(7)).map(|sets| sets.len()), Some(0));

        // Removing moves the last name into the hole, in the copy only.
        assert_eq!(copy.swap_remove(&host(8)).map(|sets| sets.len()), Some(1));
        assert!(copy.swap_remove(&host(8)).is_none());
        assert_eq!(copy.len(), count - 1);
        assert!(!copy.contains_key(&host(8)) && nodes.contains_key(&host(8)));
        assert!(
            (0..count)
                .filter(|&index| index != 8)
                .all(|index| copy.contains_key(&host(index)))
        );
        assert_eq!(
            copy.keys().nth(8).map(|owner| owner.to_vec()),
            Some(host(count - 1))
        );
        // Down to the chunk boundary and below: the last chunk goes.
        for index in (0..count).rev().take(12) {
            copy.swap_remove(&host(index));
        }
        assert_eq!(copy.chunks.len(), 4);
        assert!(copy.iter().all(|(owner, _)| copy.get(owner).is_some()));
        assert_eq!(nodes.len(), count, "the original keeps every name");
    }

    /// A set of each kind of record data, long and short.
    fn every_kind(index: usize) -> Sets {
        let long = Octets::new(&[b'x'; 300]);
        smallvec::smallvec![
            RecordSet {
                rtype: rtype::A,
                ttl: 60 + index as u32,
                records: smallvec::smallvec![Rdata::Opaque(Octets::new(&[192, 0, 2, index as u8]))],
                location: Location::new(index % 3, index * 1000),
            },
            RecordSet {
                rtype: rtype::TXT,
                ttl: u32::MAX,
                records: smallvec::smallvec![
                    Rdata::Opaque(long.clone()),
                    Rdata::Opaque(Octets::new(&[]))
                ],
                location: Location::new(usize::MAX, 0),
            },
            RecordSet {
                rtype: rtype::MX,
                ttl: 0,
                records: smallvec::smallvec![
                    Rdata::Mx {
                        preference: 10,
                        exchange: Octets::new(&host(index))
                    },
                    Rdata::Name(long),
                ],
                location: Location::new(1, 1 << 20),
            },
            RecordSet {
                rtype: rtype::SOA,
                ttl: 3600,
                records: smallvec::smallvec![Rdata::Soa(Box::new(Soa {
                    mname: Octets::new(&host(1)),
                    rname: Octets::new(b"\x0ahostmaster\x00"),
                    serial: 1,
                    refresh: 2,
                    retry: 3,
                    expire: u32::MAX,
                    minimum: 5,
                }))],
                location: Location::new(0, 1),
            },
        ]
    }

    fn same(a: &Nodes, b: &Nodes) -> bool {
        a.len() == b.len()
            && a.iter().zip(b.iter()).all(|((ao, asets), (bo, bsets))| {
                ao == bo
                    && asets.len() == bsets.len()
                    && asets.iter().zip(bsets).all(|(x, y)| {
                        (x.rtype, x.ttl, x.location, &x.records)
                            == (y.rtype, y.ttl, y.location, &y.records)
                    })
            })
    }

    fn unpacked(nodes: &Nodes) -> usize {
        nodes
            .chunks
            .iter()
            .filter(|chunk| match &chunk.0 {
                Repr::Open(_) => true,
                Repr::Frozen(frozen) => frozen.unpacked.get().is_some(),
            })
            .count()
    }

    #[test]
    fn frozen_zones_hold_the_same_names_packed() {
        let mut nodes = Nodes::default();
        // The apex: all of it is the suffix its chunk's owners share.
        let apex = b"\x07example\x03com\x00";
        nodes.insert(Octets::new(apex), one_set());
        let count = Nodes::CHUNK * 2 + 5;
        for index in 1..count {
            let sets = if index % 100 == 0 {
                every_kind(index)
            } else {
                one_set()
            };
            nodes.insert(Octets::new(&host(index)), sets);
        }
        // A name of 255 bytes, the longest.
        let longest: Vec<u8> = [
            &[63u8][..],
            &[b'a'; 63],
            &[63],
            &[b'b'; 63],
            &[63],
            &[b'c'; 63],
            &[61],
            &[b'd'; 61],
            &[0],
        ]
        .concat();
        assert_eq!(longest.len(), 255);
        nodes.insert(Octets::new(&longest), every_kind(7));
        assert!(nodes.needs_packing());
        let frozen = nodes.frozen();
        assert_eq!(unpacked(&frozen), 0, "every chunk packed");
        assert!(!frozen.needs_packing());
        // Read for a moment: nothing kept unpacked.
        assert_eq!(frozen.read(apex, |sets| sets.len()), Some(1));
        assert_eq!(frozen.read(&host(200), |sets| sets.len()), Some(4));
        assert_eq!(frozen.read(b"\x03com\x00", |sets| sets.len()), None);
        assert!(!frozen.needs_packing());
        // Owners are packed without the bytes their chunk's owners share.
        let suffix = |nodes: &Nodes, at: usize| match &nodes.chunks[at].0 {
            Repr::Frozen(frozen) => frozen.packed.suffix.to_vec(),
            Repr::Open(_) => Vec::new(),
        };
        assert_eq!(suffix(&frozen, 0), apex.to_vec());
        assert_eq!(
            suffix(&frozen, 2),
            b"\x00".to_vec(),
            "the longest name is elsewhere"
        );
        assert!(frozen.contains_key(apex));
        assert!(!frozen.contains_key(b"\x03com\x00"));
        assert!(!frozen.contains_key(b"\x02h1\x07example\x03net\x00"));
        // Found, and told apart, without unpacking.
        assert!((1..count).all(|index| frozen.contains_key(&host(index))));
        assert!(frozen.contains_key(&longest));
        assert!(!frozen.contains_key(&host(count)));
        assert_eq!(unpacked(&frozen), 0);
        // Read: the chunk read is unpacked, the same as before packing.
        assert_eq!(frozen.get(&host(200)).map(|sets| sets.len()), Some(4));
        assert_eq!(unpacked(&frozen), 1);
        assert!(frozen.needs_packing(), "one chunk unpacked");
        assert!(same(&nodes, &frozen));
        assert_eq!(unpacked(&frozen), 3, "walking unpacks each");
        assert!(frozen.needs_packing());

        // Frozen again: the bytes shared, nothing unpacked kept.
        let again = frozen.frozen();
        assert_eq!(unpacked(&again), 0);
        let packed = |nodes: &Nodes, at: usize| match &nodes.chunks[at].0 {
            Repr::Frozen(frozen) => std::sync::Arc::as_ptr(&frozen.packed),
            Repr::Open(_) => std::ptr::null(),
        };
        assert!((0..3).all(|at| packed(&again, at) == packed(&frozen, at)));

        // A copy that changes one name opens that chunk only; the frozen
        // zone it came from keeps its names.
        let mut changed = again.clone();
        changed.get_mut(&host(5001)).expect("h5001").clear();
        assert!(matches!(changed.chunks[1].0, Repr::Open(_)));
        assert!(changed.needs_packing());
        assert_eq!(unpacked(&again), 0, "copied without unpacking the original");
        assert_eq!(packed(&changed, 0), packed(&again, 0));
        assert_eq!(again.get(&host(5001)).map(|sets| sets.len()), Some(1));
        assert_eq!(changed.get(&host(5001)).map(|sets| sets.len()), Some(0));
        // Names added and removed in a frozen zone.
        changed.insert(Octets::new(&host(count + 1)), one_set());
        assert_eq!(
            changed.swap_remove(&host(3)).map(|sets| sets.len()),
            Some(1)
        );
        assert!(changed.contains_key(&host(count + 1)) && !changed.contains_key(&host(3)));
        assert!(changed.contains_key(&longest) && changed.contains_key(&host(4)));
        let refrozen = changed.frozen();
        assert!(same(&changed, &refrozen));
        // Walked one name at a time: the same names, nothing kept unpacked.
        let refrozen = changed.frozen();
        let mut walked = Vec::new();
        refrozen
            .try_for_each(|owner, sets| {
                walked.push((owner.to_vec(), sets.len()));
                Ok::<(), ()>(())
            })
            .expect("walked");
        assert_eq!(unpacked(&refrozen), 0);
        assert!(
            walked
                .iter()
                .map(|(owner, len)| (owner.as_slice(), *len))
                .eq(changed
                    .iter()
                    .map(|(owner, sets)| (owner.as_slice(), sets.len())))
        );
        assert_eq!(refrozen.try_for_each(|_, _| Err("stop")), Err("stop"));
        assert_eq!(refrozen.len(), count + 1);
    }

    #[test]
    fn nodes_keyed_by_octets_are_found_by_slice() {
        let mut nodes = Nodes::default();
        let short = b"\x03www\x07example\x03com\x00";
        let long = b"\x0bsubdomain-a\x0bsubdomain-b\x07example\x03com\x00";
        nodes.insert(Octets::new(short), Sets::new());
        nodes.insert(Octets::new(long), Sets::new());
        assert!(nodes.get(&short[..]).is_some());
        assert!(nodes.get(&long[..]).is_some());
        assert!(nodes.get(&b"\x03www\x00"[..]).is_none());
    }
}
