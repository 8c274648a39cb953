//! Pre-rendered resource records ("fragments") and their placement.
//!
//! A fragment is one RRset (or one section's worth of records, such as the
//! glue of a referral) already in wire form, built once when a snapshot is
//! built. Names inside it that point elsewhere in the reply are left as
//! two-byte holes with a [`Fixup`] saying what they point to:
//!
//! - [`Pointer::Owner`]: the owner of the records, which is the question
//!   name (offset 12) or, along a CNAME chain, the previous record's target;
//! - [`Pointer::QnameSuffix`]: a suffix of the question name, found by its
//!   length from the end (the same for every query that reaches this
//!   fragment, whatever the case and, for wildcards, the first labels);
//! - [`Pointer::Local`]: a name written earlier in the same fragment;
//! - [`Pointer::Preceding`]: a name written earlier in the fragment this one
//!   continues (see [`FragmentBuilder::finish_and_continue`]), which is
//!   always placed right before it.
//!
//! Placing a fragment is a copy plus a few 16-bit writes: name compression
//! happened at build time.

use super::HEADER_LEN;

/// Largest offset a compression pointer can reach.
pub const MAX_POINTER: usize = 0x3fff;

/// The section a fragment's records go in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Answer = 0,
    Authority = 1,
    Additional = 2,
}

/// What a compression pointer hole refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pointer {
    /// The owner name of the records (supplied when placing).
    Owner,
    /// The suffix of the question name that is this many bytes long.
    QnameSuffix(u16),
    /// This offset inside the fragment itself.
    Local(u16),
    /// This many bytes before the fragment's start: a name inside the
    /// fragments it continues, placed right before it.
    Preceding(u16),
}

/// A two-byte pointer hole at `at` in a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixup {
    pub at: u16,
    pub target: Pointer,
}

/// A borrowed fragment, ready to place.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    pub bytes: &'a [u8],
    pub fixups: &'a [Fixup],
    /// Records it adds to the answer, authority and additional sections.
    pub counts: [u16; 3],
}

/// Handle to a fragment inside a [`FragmentStore`]: the offset of its header
/// in the store's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentId(u32);

/// The bit [`FragmentId::marked`] sets.
const MARK: u32 = 1 << 31;

/// A store holds fewer bytes than this (and one header more), so that no
/// id reaches [`MARK`].
const MAX_STORE_LEN: usize = MARK as usize - FRAGMENT_HEADER_LEN;

/// Longest fragment: a DNS message's worth (RFC 1035 section 4.2.2). A longer
/// one is kept cut to this length, which no reply has room for after its
/// header, so it is never placed (as it would not have been whole).
pub const MAX_FRAGMENT_LEN: usize = u16::MAX as usize;

/// Bytes of the header stored right before each fragment's bytes.
const FRAGMENT_HEADER_LEN: usize = 14;

impl FragmentId {
    /// This id with a mark that tells a second store's ids apart from a
    /// first's, where a table keeps two (a store holds under 2^31 bytes).
    pub const fn marked(self) -> FragmentId {
        FragmentId(self.0 | MARK)
    }

    /// Whether the id is marked, and the id without the mark.
    #[inline(always)]
    pub const fn unmarked(self) -> (bool, FragmentId) {
        (self.0 & MARK != 0, FragmentId(self.0 & !MARK))
    }
}

/// What a store keeps of a fragment besides its bytes, stored inline right
/// before them (little-endian): its first fixup (4 bytes), its length and
/// number of fixups (2 each), its record counts (3 × 2). Inline, it takes
/// 14 bytes instead of an array entry of 24, and placing a fragment reads
/// the cache line its bytes start on rather than one more elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    fixups_start: u32,
    len: u16,
    fixups_len: u16,
    counts: [u16; 3],
}

impl Header {
    #[inline(always)]
    fn decode(bytes: &[u8; FRAGMENT_HEADER_LEN]) -> Header {
        let pair = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        Header {
            fixups_start: u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            len: pair(4),
            fixups_len: pair(6),
            counts: [pair(8), pair(10), pair(12)],
        }
    }

    fn encode(self) -> [u8; FRAGMENT_HEADER_LEN] {
        let mut bytes = [0; FRAGMENT_HEADER_LEN];
        bytes[0..4].copy_from_slice(&self.fixups_start.to_le_bytes());
        for (slot, value) in bytes[4..]
            .chunks_exact_mut(2)
            .zip([self.len, self.fixups_len].into_iter().chain(self.counts))
        {
            slot.copy_from_slice(&value.to_le_bytes());
        }
        bytes
    }
}

/// All fragments of a snapshot in two flat arrays: one of bytes, each
/// fragment's preceded by its header, and one of fixups. Answering touches
/// few cache lines, and a million records are not a million allocations.
#[derive(Debug)]
pub struct FragmentStore {
    bytes: Vec<u8>,
    fixups: Vec<Fixup>,
    /// The most bytes it takes: [`MAX_STORE_LEN`] (less in tests).
    limit: usize,
    /// Once full: the id of the one empty fragment that every fragment
    /// finished since is given instead (see [`Self::is_full`]).
    full: Option<u32>,
}

impl Default for FragmentStore {
    fn default() -> Self {
        FragmentStore {
            bytes: Vec::new(),
            fixups: Vec::new(),
            limit: MAX_STORE_LEN,
            full: None,
        }
    }
}

impl FragmentStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a fragment did not fit (the store would have passed 2 GiB,
    /// or its limit): that fragment and every one after it were left out,
    /// and their ids all lead to one empty fragment. What was built with
    /// such a store is incomplete, and must be refused.
    pub fn is_full(&self) -> bool {
        self.full.is_some()
    }

    /// The fragment behind `id`.
    #[inline]
    pub fn get(&self, id: FragmentId) -> Fragment<'_> {
        let (header, rest) = self.header(id);
        let fixups_start = header.fixups_start as usize;
        Fragment {
            bytes: &rest[..usize::from(header.len)],
            fixups: &self.fixups[fixups_start..fixups_start + usize::from(header.fixups_len)],
            counts: header.counts,
        }
    }

    /// The `count` fragments built by [`FragmentBuilder::finish_and_continue`]
    /// right after `id`, in order (fewer if the store holds fewer). Each is
    /// stored right after the one before it, so they are found by walking
    /// from header to header.
    #[inline]
    pub fn continuations(&self, id: FragmentId, count: u16) -> impl Iterator<Item = Fragment<'_>> {
        let mut next = id.0 as usize + FRAGMENT_HEADER_LEN + usize::from(self.header(id).0.len);
        (0..count).map_while(move |_| {
            if next >= self.bytes.len() {
                return None;
            }
            let fragment = self.get(FragmentId(next as u32));
            next += FRAGMENT_HEADER_LEN + fragment.bytes.len();
            Some(fragment)
        })
    }

    /// The header of fragment `id`, and the store's bytes from the
    /// fragment's start on.
    #[inline(always)]
    fn header(&self, id: FragmentId) -> (Header, &[u8]) {
        let (header, rest) = self.bytes[id.0 as usize..]
            .split_first_chunk::<FRAGMENT_HEADER_LEN>()
            .expect("a fragment id is the offset of a whole header");
        (Header::decode(header), rest)
    }

    /// Makes room for this many more bytes, fixups and fragments (their
    /// headers).
    pub fn reserve(&mut self, bytes: usize, fixups: usize, fragments: usize) {
        self.bytes
            .reserve(bytes.saturating_add(fragments.saturating_mul(FRAGMENT_HEADER_LEN)));
        self.fixups.reserve(fixups);
    }

    /// Gives back the room [`Self::reserve`] made and nothing used.
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.fixups.shrink_to_fit();
    }

    /// Memory the store holds, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.fixups.capacity() * std::mem::size_of::<Fixup>()
    }

    /// Starts a new fragment for `section`. `question_name` is the lowercase
    /// name whose suffixes every reply using this fragment carries in its
    /// question (None when the fragment may follow a CNAME chain and can rely
    /// on nothing but itself).
    pub fn builder<'s>(
        &'s mut self,
        section: Section,
        question_name: Option<&'s [u8]>,
    ) -> FragmentBuilder<'s> {
        let mut builder = FragmentBuilder {
            store: self,
            question_name,
            section,
            header_at: 0,
            start: 0,
            fixups_start: 0,
            counts: [0; 3],
            chain_offset: 0,
            local_names: Vec::new(),
            open: false,
        };
        builder.open_fragment();
        builder
    }
}

/// One part of a record's data.
#[derive(Clone, Copy, Debug)]
pub enum RdataPart<'a> {
    /// Bytes copied as they are.
    Bytes(&'a [u8]),
    /// A name that may be compressed (RFC 3597 section 4: only in the RR types
    /// of RFC 1035: NS, CNAME, SOA, PTR, MX).
    CompressibleName(&'a [u8]),
}

/// The owner of a record being added.
#[derive(Clone, Copy, Debug)]
pub enum Owner<'a> {
    /// The owner pointer supplied when placing.
    Pointer,
    /// This name, compressed against the question and the fragment.
    Name(&'a [u8]),
}

/// Renders records into a [`FragmentStore`] with name compression. Dropped
/// unfinished, it takes its fragment back out of the store.
#[derive(Debug)]
pub struct FragmentBuilder<'s> {
    store: &'s mut FragmentStore,
    question_name: Option<&'s [u8]>,
    section: Section,
    /// Where the fragment's header is in the store (its id).
    header_at: usize,
    /// Where its bytes start in the store, right after the header.
    start: usize,
    fixups_start: usize,
    counts: [u16; 3],
    /// Where the fragment starts in a reply, counted from the start of the
    /// first fragment of the chain it continues: the lengths of those before
    /// it (0 when it continues none). Store positions do not give this, as
    /// headers lie between the fragments there and not in a reply.
    chain_offset: usize,
    /// Lowercase names (and their suffixes) that start with a label in this
    /// fragment or the ones it continues, with their offsets from the
    /// chain's start in a reply.
    local_names: Vec<(Vec<u8>, u16)>,
    /// Whether a fragment is started and not finished.
    open: bool,
}

impl FragmentBuilder<'_> {
    /// Records added from now on go in `section` (sections must come in
    /// order: answer, authority, additional).
    pub fn set_section(&mut self, section: Section) {
        self.section = section;
    }

    /// Bytes written so far in this fragment.
    fn offset(&self) -> usize {
        self.store.bytes.len() - self.start
    }

    /// A pointer to the name at `offset` from the chain's start: inside this
    /// fragment, or before it.
    fn pointer_to(&self, offset: u16) -> Option<Pointer> {
        let own_start = self.chain_offset;
        let offset = usize::from(offset);
        match offset.checked_sub(own_start) {
            Some(inside) => u16::try_from(inside).ok().map(Pointer::Local),
            None => u16::try_from(own_start - offset)
                .ok()
                .map(Pointer::Preceding),
        }
    }

    /// Remembers the suffixes of `lower` that start before `end` as written
    /// from `base` (an offset from the chain's start), for later names.
    fn remember(&mut self, lower: &[u8], end: usize, base: usize) {
        let mut pos = 0;
        while pos < end && pos < lower.len() && lower[pos] != 0 {
            if let Ok(offset) = u16::try_from(base + pos) {
                self.local_names.push((lower[pos..].to_vec(), offset));
            }
            pos += 1 + usize::from(lower[pos]);
        }
    }

    /// A pointer hole (a fixup only where its offset fits one: past that the
    /// fragment is too long to place anyway).
    fn hole(&mut self, target: Pointer) {
        if let Ok(at) = u16::try_from(self.offset()) {
            self.store.fixups.push(Fixup { at, target });
        }
        self.store.bytes.extend_from_slice(&[0xc0, 0]);
    }

    /// Writes `name`, compressing it against the question's suffixes and
    /// against names earlier in this fragment and the ones it continues.
    /// The labels written before a pointer (or all of them) are remembered
    /// for later names.
    fn name(&mut self, name: &[u8], compress: bool) {
        let lower = name.to_ascii_lowercase();
        let base = self.chain_offset + self.offset();
        let mut pos = 0;
        while pos < lower.len() && lower[pos] != 0 {
            let suffix = &lower[pos..];
            if compress {
                let question_suffix = self
                    .question_name
                    .filter(|question| super::name::is_at_or_below(question, suffix))
                    .map(|_| Pointer::QnameSuffix(suffix.len() as u16));
                let target = question_suffix.or_else(|| {
                    self.local_names
                        .iter()
                        .find(|(known, _)| known == suffix)
                        .and_then(|&(_, offset)| self.pointer_to(offset))
                });
                if let Some(target) = target {
                    self.remember(&lower, pos, base);
                    self.store.bytes.extend_from_slice(&name[..pos]);
                    self.hole(target);
                    return;
                }
            }
            pos += 1 + usize::from(lower[pos]);
        }
        self.remember(&lower, lower.len(), base);
        self.store.bytes.extend_from_slice(name);
    }

    /// Appends one record.
    pub fn record(
        &mut self,
        owner: Owner<'_>,
        rtype: u16,
        class: u16,
        ttl: u32,
        rdata: &[RdataPart<'_>],
    ) {
        match owner {
            Owner::Pointer => self.hole(Pointer::Owner),
            Owner::Name(name) => self.name(name, true),
        }
        self.store.bytes.extend_from_slice(&rtype.to_be_bytes());
        self.store.bytes.extend_from_slice(&class.to_be_bytes());
        self.store.bytes.extend_from_slice(&ttl.to_be_bytes());
        let length_at = self.store.bytes.len();
        self.store.bytes.extend_from_slice(&[0, 0]);
        for part in rdata {
            match part {
                RdataPart::Bytes(bytes) => self.store.bytes.extend_from_slice(bytes),
                RdataPart::CompressibleName(name) => self.name(name, true),
            }
        }
        let rdlen = (self.store.bytes.len() - length_at - 2) as u16;
        self.store.bytes[length_at..length_at + 2].copy_from_slice(&rdlen.to_be_bytes());
        let index = self.section as usize;
        self.counts[index] = self.counts[index].saturating_add(1);
    }

    /// Finishes the fragment and returns its handle (an empty fragment's
    /// when the store is [full](FragmentStore::is_full)).
    pub fn finish(mut self) -> FragmentId {
        self.close_fragment()
    }

    /// Finishes the fragment and starts the next one (in `section`), which
    /// continues it: its names compress against this one's too, so it must
    /// be placed right after it. It is stored right after this one (see
    /// [`FragmentStore::continuations`]).
    pub fn finish_and_continue(mut self, section: Section) -> (FragmentId, Self) {
        let id = self.close_fragment();
        self.chain_offset += self.offset();
        self.open_fragment();
        self.counts = [0; 3];
        self.section = section;
        (id, self)
    }

    /// Starts a fragment at the end of the store, with room for its header.
    fn open_fragment(&mut self) {
        self.header_at = self.store.bytes.len();
        self.store
            .bytes
            .extend_from_slice(&[0; FRAGMENT_HEADER_LEN]);
        self.start = self.store.bytes.len();
        self.fixups_start = self.store.fixups.len();
        self.open = true;
    }

    /// Writes the fragment's header, first cutting a fragment longer than
    /// [`MAX_FRAGMENT_LEN`] to that length, and returns its id.
    fn close_fragment(&mut self) -> FragmentId {
        if self.offset() > MAX_FRAGMENT_LEN {
            self.store.bytes.truncate(self.start + MAX_FRAGMENT_LEN);
            let kept = self.store.fixups[self.fixups_start..]
                .iter()
                .take_while(|fixup| usize::from(fixup.at) + 2 <= MAX_FRAGMENT_LEN)
                .count();
            self.store.fixups.truncate(self.fixups_start + kept);
        }
        if self.store.full.is_some() || self.store.bytes.len() >= self.store.limit {
            // Full: this fragment goes, and the store ends with one empty
            // fragment (this one's header, the first time) that stands for
            // it and every later one. Ids stay under the limit, so under
            // the mark bit.
            let empty = *self.store.full.get_or_insert(self.header_at as u32) as usize;
            let (header, _) = self.store.header(FragmentId(empty as u32));
            let fixups_start = if empty == self.header_at {
                self.fixups_start
            } else {
                header.fixups_start as usize
            };
            self.store.bytes.truncate(empty + FRAGMENT_HEADER_LEN);
            self.store.fixups.truncate(fixups_start);
            self.header_at = empty;
            self.start = empty + FRAGMENT_HEADER_LEN;
            self.fixups_start = fixups_start;
            self.counts = [0; 3];
        }
        // Both fit: the length was just bounded, and a fragment has at most
        // one two-byte hole per fixup; the store is under 2^31 bytes and
        // holds fewer fixups than bytes.
        let header = Header {
            fixups_start: self.fixups_start as u32,
            len: self.offset() as u16,
            fixups_len: (self.store.fixups.len() - self.fixups_start) as u16,
            counts: self.counts,
        };
        self.store.bytes[self.header_at..self.start].copy_from_slice(&header.encode());
        self.open = false;
        FragmentId(self.header_at as u32)
    }
}

impl Drop for FragmentBuilder<'_> {
    /// Takes an unfinished fragment back out, so the store holds only whole
    /// fragments, one after another.
    fn drop(&mut self) {
        if self.open {
            self.store.bytes.truncate(self.header_at);
            self.store.fixups.truncate(self.fixups_start);
        }
    }
}

/// Copies `fragment` into `out` at `at`, filling its pointer holes. Returns
/// the end offset, or `None` when it does not fit before `limit` or a
/// pointer would be out of reach; `out` past `at` is then unspecified.
#[inline]
pub fn place(
    fragment: Fragment<'_>,
    out: &mut [u8],
    at: usize,
    limit: usize,
    qname_len: usize,
    owner: u16,
) -> Option<usize> {
    let end = at.checked_add(fragment.bytes.len())?;
    if end > limit || end > out.len() {
        return None;
    }
    let dest = &mut out[at..end];
    dest.copy_from_slice(fragment.bytes);
    for fixup in fragment.fixups {
        let target = match fixup.target {
            Pointer::Owner => usize::from(owner),
            Pointer::QnameSuffix(len) => (HEADER_LEN + qname_len).checked_sub(usize::from(len))?,
            Pointer::Local(offset) => at + usize::from(offset),
            Pointer::Preceding(distance) => at.checked_sub(usize::from(distance))?,
        };
        if target > MAX_POINTER {
            return None;
        }
        let pointer = 0xc000 | target as u16;
        let hole = usize::from(fixup.at);
        dest.get_mut(hole..hole + 2)?
            .copy_from_slice(&pointer.to_be_bytes());
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds `A 192.0.2.1`, TTL 60, at the owner supplied when placing.
    fn a_record(builder: &mut FragmentBuilder<'_>) {
        builder.record(
            Owner::Pointer,
            1,
            1,
            60,
            &[RdataPart::Bytes(&[192, 0, 2, 1])],
        );
    }
    use crate::wire::MAX_MESSAGE_LEN;

    const EXAMPLE: &[u8] = b"\x07example\x03com\x00";
    const WWW: &[u8] = b"\x03www\x07example\x03com\x00";

    #[test]
    fn owner_and_question_suffix_become_holes() {
        let mut store = FragmentStore::new();
        let mut builder = store.builder(Section::Answer, Some(WWW));
        // www.example.com. CNAME web.example.com.
        builder.record(
            Owner::Pointer,
            5,
            1,
            300,
            &[RdataPart::CompressibleName(
                b"\x03web\x07example\x03com\x00",
            )],
        );
        let id = builder.finish();
        let fragment = store.get(id);
        assert_eq!(
            fragment.bytes,
            b"\xc0\x00\x00\x05\x00\x01\x00\x00\x01\x2c\x00\x06\x03web\xc0\x00"
        );
        assert_eq!(
            fragment.fixups,
            &[
                Fixup {
                    at: 0,
                    target: Pointer::Owner
                },
                Fixup {
                    at: 16,
                    target: Pointer::QnameSuffix(EXAMPLE.len() as u16)
                },
            ]
        );
        // Placed after a question "WWW.EXAMPLE.COM" (17 bytes) + type/class.
        let mut out = [0u8; 64];
        let end = place(fragment, &mut out, 33, 64, WWW.len(), 12).unwrap();
        assert_eq!(end, 33 + fragment.bytes.len());
        assert_eq!(&out[33..35], &[0xc0, 12]);
        // example.com starts 4 bytes into the question name.
        assert_eq!(&out[49..51], &[0xc0, 16]);
    }

    #[test]
    fn local_names_compress_later_ones() {
        let mut store = FragmentStore::new();
        let mut builder = store.builder(Section::Additional, None);
        builder.record(
            Owner::Name(b"\x02ns\x03sub\x07example\x03com\x00"),
            1,
            1,
            60,
            &[RdataPart::Bytes(&[192, 0, 2, 1])],
        );
        builder.record(
            Owner::Name(b"\x03ns2\x03sub\x07example\x03com\x00"),
            1,
            1,
            60,
            &[RdataPart::Bytes(&[192, 0, 2, 2])],
        );
        let id = builder.finish();
        let fragment = store.get(id);
        // The second owner is "ns2" + pointer to "sub.example.com" at offset 3.
        assert_eq!(
            fragment.fixups,
            &[Fixup {
                at: 38,
                target: Pointer::Local(3)
            }]
        );
        let mut out = [0u8; 128];
        place(fragment, &mut out, 40, 128, 17, 12).unwrap();
        assert_eq!(&out[78..80], &[0xc0, 43]);
    }

    #[test]
    fn a_continuation_points_into_the_fragment_it_continues() {
        let mut store = FragmentStore::new();
        let mut builder = store.builder(Section::Answer, Some(EXAMPLE));
        // example.com. MX 10 mail.example.com.: "mail" + a question suffix.
        builder.record(
            Owner::Pointer,
            15,
            1,
            300,
            &[
                RdataPart::Bytes(&[0, 10]),
                RdataPart::CompressibleName(b"\x04mail\x07example\x03com\x00"),
            ],
        );
        let (answer, mut builder) = builder.finish_and_continue(Section::Additional);
        // mail.example.com. A 192.0.2.25, its owner in another case.
        builder.record(
            Owner::Name(b"\x04MAIL\x07example\x03com\x00"),
            1,
            1,
            300,
            &[RdataPart::Bytes(&[192, 0, 2, 25])],
        );
        let additional_id = builder.finish();
        let (answer, additional) = (store.get(answer), store.get(additional_id));
        assert_eq!((answer.counts, additional.counts), ([1, 0, 0], [0, 0, 1]));
        // The answer: owner (2), type to RDLENGTH (10), preference (2), then
        // "mail" at 14 and a pointer; 21 bytes. The additional owner is a
        // pointer 7 bytes back from the continuation's start.
        assert_eq!(answer.bytes.len(), 21);
        assert_eq!(
            additional.fixups,
            &[Fixup {
                at: 0,
                target: Pointer::Preceding(7)
            }]
        );
        let mut continuations = store.continuations(FragmentId(0), 1);
        assert_eq!(continuations.next().unwrap().bytes, additional.bytes);
        assert!(continuations.next().is_none());
        assert_eq!(store.continuations(additional_id, 5).count(), 0);

        // Placed after a question "example.com" at 12: the answer at 29, the
        // continuation right after it, its owner pointing at 29 + 14.
        let mut out = [0u8; 128];
        let end = place(answer, &mut out, 29, 128, EXAMPLE.len(), 12).unwrap();
        assert_eq!(end, 50);
        assert_eq!(
            place(additional, &mut out, end, 128, EXAMPLE.len(), 12),
            Some(66)
        );
        assert_eq!(&out[50..52], &[0xc0, 43]);
        assert_eq!(&out[43..48], b"\x04mail");
        // Placed where nothing precedes it by that much: refused.
        assert_eq!(place(additional, &mut out, 3, 128, EXAMPLE.len(), 12), None);
    }

    #[test]
    fn place_refuses_what_does_not_fit_or_cannot_point() {
        let mut store = FragmentStore::new();
        let mut builder = store.builder(Section::Answer, None);
        a_record(&mut builder);
        let id = builder.finish();
        let fragment = store.get(id);
        let mut out = vec![0u8; 0x5000];
        assert_eq!(place(fragment, &mut out, 100, 110, 17, 12), None);
        assert_eq!(place(fragment, &mut out, 100, 200, 17, 0x4000), None);
        assert_eq!(place(fragment, &mut out, 100, 200, 17, 12), Some(116));
    }

    /// The MX RRset of example.com (mail, then mx2) with one continuation
    /// per exchange holding its address, then an unrelated fragment.
    /// Returns the answer's id, its continuations' and the last fragment's.
    fn mx_chain(store: &mut FragmentStore) -> (FragmentId, [FragmentId; 2], FragmentId) {
        let exchanges: [&[u8]; 2] = [
            b"\x04mail\x07example\x03com\x00",
            b"\x03mx2\x07example\x03com\x00",
        ];
        let mut builder = store.builder(Section::Answer, Some(EXAMPLE));
        for (preference, exchange) in [10u16, 20].into_iter().zip(exchanges) {
            builder.record(
                Owner::Pointer,
                15,
                1,
                300,
                &[
                    RdataPart::Bytes(&preference.to_be_bytes()),
                    RdataPart::CompressibleName(exchange),
                ],
            );
        }
        let (answer, mut builder) = builder.finish_and_continue(Section::Additional);
        builder.record(
            Owner::Name(b"\x04MAIL\x07example\x03com\x00"),
            1,
            1,
            300,
            &[RdataPart::Bytes(&[192, 0, 2, 25])],
        );
        let (first, mut builder) = builder.finish_and_continue(Section::Additional);
        builder.record(
            Owner::Name(exchanges[1]),
            1,
            1,
            300,
            &[RdataPart::Bytes(&[192, 0, 2, 26])],
        );
        let second = builder.finish();
        let mut builder = store.builder(Section::Answer, None);
        a_record(&mut builder);
        (answer, [first, second], builder.finish())
    }

    #[test]
    fn continuations_follow_their_fragment_and_point_into_the_reply() {
        let mut store = FragmentStore::new();
        let mut builder = store.builder(Section::Answer, None);
        builder.record(Owner::Pointer, 16, 1, 60, &[RdataPart::Bytes(b"\x02hi")]);
        let before = builder.finish();
        let (answer, continued, after) = mx_chain(&mut store);
        assert_eq!(before, FragmentId(0));
        assert!(answer.0 > 0);

        // Each record: owner (2), type to RDLENGTH (10), then the data. The
        // answer is 21 + 20 bytes, "mail" at 14, "mx2" at 21 + 14. Distances
        // count reply bytes only, not the headers between fragments in the
        // store: the first address's owner is 41 - 14 back, the second's
        // 41 + 16 - 35 back.
        let fragment = store.get(answer);
        assert_eq!((fragment.bytes.len(), fragment.counts), (41, [2, 0, 0]));
        let fixups = |id| store.get(id).fixups.to_vec();
        assert_eq!(
            fixups(continued[0]),
            [Fixup {
                at: 0,
                target: Pointer::Preceding(27)
            }]
        );
        assert_eq!(
            fixups(continued[1]),
            [Fixup {
                at: 0,
                target: Pointer::Preceding(22)
            }]
        );
        let walked: Vec<_> = store
            .continuations(answer, 2)
            .map(|fragment| (fragment.bytes, fragment.fixups, fragment.counts))
            .collect();
        let got: Vec<_> = continued
            .iter()
            .map(|&id| store.get(id))
            .map(|fragment| (fragment.bytes, fragment.fixups, fragment.counts))
            .collect();
        assert_eq!(walked, got);
        assert_eq!(got[1].2, [0, 0, 1]);
        assert_eq!(store.get(before).bytes.len(), 15);
        assert_eq!(store.get(after).bytes.len(), 16);
        assert_eq!(
            store.continuations(before, 1).next().unwrap().bytes.len(),
            41
        );
        assert_eq!(store.continuations(after, 3).count(), 0);
        assert_eq!(store.continuations(continued[1], 3).count(), 1);

        // A reply to "example.com MX": header, question, the answer and its
        // continuations, as the reply writer places them.
        let mut out = vec![0u8; 512];
        let question_end = HEADER_LEN + EXAMPLE.len() + 4;
        out[HEADER_LEN..question_end - 4].copy_from_slice(EXAMPLE);
        out[question_end - 4..question_end].copy_from_slice(&[0, 15, 0, 1]);
        let mut end = question_end;
        let mut counts = [0u16; 3];
        for fragment in std::iter::once(store.get(answer)).chain(store.continuations(answer, 2)) {
            end = place(fragment, &mut out, end, 512, EXAMPLE.len(), 12).unwrap();
            for (count, added) in counts.iter_mut().zip(fragment.counts) {
                *count += added;
            }
        }
        out[2..4].copy_from_slice(&[0x84, 0]);
        out[4..6].copy_from_slice(&1u16.to_be_bytes());
        for (slot, count) in out[6..12].chunks_exact_mut(2).zip(counts) {
            slot.copy_from_slice(&count.to_be_bytes());
        }
        let message = domain::base::Message::from_slice(&out[..end]).expect("a message");
        let records = |section: domain::base::message::RecordSection<'_, [u8]>| {
            section
                .map(|record| {
                    let record = record.expect("record parses");
                    let record = record
                        .to_any_record::<domain::rdata::AllRecordData<_, _>>()
                        .expect("record data parses");
                    format!("{} {}", record.owner(), record.data())
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            records(message.answer().unwrap()),
            [
                "example.com 10 mail.example.com.",
                "example.com 20 mx2.example.com."
            ]
        );
        assert_eq!(
            records(message.additional().unwrap()),
            ["mail.example.com 192.0.2.25", "mx2.example.com 192.0.2.26"]
        );
    }

    #[test]
    fn a_full_store_says_so_and_gives_one_empty_fragment_for_the_rest() {
        let mut store = FragmentStore {
            limit: 100,
            ..FragmentStore::default()
        };
        let ids: Vec<FragmentId> = (0..10)
            .map(|_| {
                let mut builder = store.builder(Section::Answer, None);
                a_record(&mut builder);
                builder.finish()
            })
            .collect();
        assert!(store.is_full());
        // 30 bytes each with its header: three fit under 100.
        assert!(ids[..3].iter().all(|&id| store.get(id).bytes.len() == 16));
        assert!(ids[3..].iter().all(|&id| id == ids[3]));
        let empty = store.get(ids[3]);
        assert_eq!(
            (empty.bytes.len(), empty.fixups.len(), empty.counts),
            (0, 0, [0; 3])
        );
        // A chain finished after: the same empty fragment, nothing kept.
        let mut builder = store.builder(Section::Answer, None);
        a_record(&mut builder);
        let (first, mut builder) = builder.finish_and_continue(Section::Additional);
        a_record(&mut builder);
        let second = builder.finish();
        assert_eq!((first, second), (ids[3], ids[3]));
        assert_eq!(store.continuations(ids[2], 5).count(), 1, "the empty one");
        assert_eq!(store.bytes.len(), 90 + FRAGMENT_HEADER_LEN);
        assert!(ids.iter().all(|&id| id.unmarked() == (false, id)));
        assert!(!FragmentStore::new().is_full());
    }

    #[test]
    fn an_unfinished_fragment_leaves_nothing_behind() {
        let mut store = FragmentStore::new();
        let mut builder = store.builder(Section::Answer, None);
        a_record(&mut builder);
        let (first, mut builder) = builder.finish_and_continue(Section::Additional);
        builder.record(
            Owner::Pointer,
            1,
            1,
            60,
            &[RdataPart::Bytes(&[192, 0, 2, 2])],
        );
        drop(builder);
        assert_eq!(store.continuations(first, 1).count(), 0);
        assert_eq!(store.bytes.len(), FRAGMENT_HEADER_LEN + 16);
        assert_eq!(store.fixups.len(), 1);
        let (answer, continued, _) = mx_chain(&mut store);
        assert_eq!(answer, FragmentId(FRAGMENT_HEADER_LEN as u32 + 16));
        assert_eq!(
            store.continuations(answer, 1).next().unwrap().bytes,
            store.get(continued[0]).bytes
        );
    }

    #[test]
    fn an_overlong_fragment_is_cut_and_never_placed() {
        let mut store = FragmentStore::new();
        let mut builder = store.builder(Section::Answer, None);
        // 300 TXT records of 268 bytes: 80,400 bytes.
        let text = [[255u8].as_slice(), &[b'x'; 255]].concat();
        for _ in 0..300 {
            builder.record(Owner::Pointer, 16, 1, 60, &[RdataPart::Bytes(&text)]);
        }
        let long = builder.finish();
        let mut builder = store.builder(Section::Answer, None);
        a_record(&mut builder);
        let short = builder.finish();
        let fragment = store.get(long);
        assert_eq!(fragment.bytes.len(), MAX_FRAGMENT_LEN);
        assert_eq!(fragment.counts, [300, 0, 0]);
        // Owner holes every 268 bytes, the last whole one at 244 × 268.
        assert_eq!(fragment.fixups.len(), 245);
        assert!(
            fragment
                .fixups
                .iter()
                .all(|fixup| usize::from(fixup.at) + 2 <= MAX_FRAGMENT_LEN)
        );
        assert_eq!(store.continuations(long, 1).next().unwrap().bytes.len(), 16);
        assert_eq!(
            store.get(short).fixups,
            [Fixup {
                at: 0,
                target: Pointer::Owner
            }]
        );
        let mut out = vec![0u8; MAX_MESSAGE_LEN];
        assert_eq!(
            place(fragment, &mut out, HEADER_LEN, MAX_MESSAGE_LEN, 0, 12),
            None
        );
    }

    #[test]
    fn headers_round_trip() {
        let header = Header {
            fixups_start: 0x7654_3210,
            len: 0xfedc,
            fixups_len: 0x1234,
            counts: [1, 0x0203, 0xffff],
        };
        assert_eq!(Header::decode(&header.encode()), header);
        assert_eq!(header.encode()[..6], [0x10, 0x32, 0x54, 0x76, 0xdc, 0xfe]);
    }
}
