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

/// Handle to a fragment inside a [`FragmentStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentId(u32);

/// The bit [`FragmentId::marked`] sets.
const MARK: u32 = 1 << 31;

impl FragmentId {
    /// This id with a mark that tells a second store's ids apart from a
    /// first's, where a table keeps two (a store holds under 2^31).
    pub const fn marked(self) -> FragmentId {
        FragmentId(self.0 | MARK)
    }

    /// Whether the id is marked, and the id without the mark.
    #[inline(always)]
    pub const fn unmarked(self) -> (bool, FragmentId) {
        (self.0 & MARK != 0, FragmentId(self.0 & !MARK))
    }
}

#[derive(Clone, Copy, Debug)]
struct FragmentMeta {
    start: u32,
    len: u32,
    fixups_start: u32,
    fixups_len: u32,
    counts: [u16; 3],
}

/// All fragments of a snapshot in two flat arrays (one for bytes, one for
/// fixups), so answering touches few cache lines and a million records are
/// not a million allocations.
#[derive(Debug, Default)]
pub struct FragmentStore {
    bytes: Vec<u8>,
    fixups: Vec<Fixup>,
    fragments: Vec<FragmentMeta>,
}

impl FragmentStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fragment behind `id`.
    #[inline]
    pub fn get(&self, id: FragmentId) -> Fragment<'_> {
        let meta = &self.fragments[id.0 as usize];
        let start = meta.start as usize;
        let fixups_start = meta.fixups_start as usize;
        Fragment {
            bytes: &self.bytes[start..start + meta.len as usize],
            fixups: &self.fixups[fixups_start..fixups_start + meta.fixups_len as usize],
            counts: meta.counts,
        }
    }

    /// The `count` fragments built by [`FragmentBuilder::finish_and_continue`]
    /// right after `id`, in order (fewer if the store holds fewer).
    #[inline]
    pub fn continuations(&self, id: FragmentId, count: u16) -> impl Iterator<Item = Fragment<'_>> {
        let first = id.0 as usize + 1;
        let last = (first + usize::from(count)).min(self.fragments.len());
        (first..last).map(|index| self.get(FragmentId(index as u32)))
    }

    /// Makes room for this many more bytes, fixups and fragments.
    pub fn reserve(&mut self, bytes: usize, fixups: usize, fragments: usize) {
        self.bytes.reserve(bytes);
        self.fixups.reserve(fixups);
        self.fragments.reserve(fragments);
    }

    /// Gives back the room [`Self::reserve`] made and nothing used.
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.fixups.shrink_to_fit();
        self.fragments.shrink_to_fit();
    }

    /// Memory the store holds, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
            + self.fixups.capacity() * std::mem::size_of::<Fixup>()
            + self.fragments.capacity() * std::mem::size_of::<FragmentMeta>()
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
        let start = self.bytes.len();
        let fixups_start = self.fixups.len();
        FragmentBuilder {
            store: self,
            question_name,
            section,
            chain_start: start,
            start,
            fixups_start,
            counts: [0; 3],
            local_names: Vec::new(),
        }
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

/// Renders records into a [`FragmentStore`] with name compression.
#[derive(Debug)]
pub struct FragmentBuilder<'s> {
    store: &'s mut FragmentStore,
    question_name: Option<&'s [u8]>,
    section: Section,
    /// Where the first fragment of the chain this one continues starts (its
    /// own start when it continues none).
    chain_start: usize,
    start: usize,
    fixups_start: usize,
    counts: [u16; 3],
    /// Lowercase names (and their suffixes) that start with a label in this
    /// fragment or the ones it continues, with their offsets from
    /// `chain_start`.
    local_names: Vec<(Vec<u8>, u16)>,
}

impl FragmentBuilder<'_> {
    /// Records added from now on go in `section` (sections must come in
    /// order: answer, authority, additional).
    pub fn set_section(&mut self, section: Section) {
        self.section = section;
    }

    fn offset(&self) -> usize {
        self.store.bytes.len() - self.start
    }

    /// A pointer to the name at `offset` from the chain's start: inside this
    /// fragment, or before it.
    fn pointer_to(&self, offset: u16) -> Option<Pointer> {
        let own_start = self.start - self.chain_start;
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

    fn hole(&mut self, target: Pointer) {
        let at = self.offset() as u16;
        self.store.fixups.push(Fixup { at, target });
        self.store.bytes.extend_from_slice(&[0xc0, 0]);
    }

    /// Writes `name`, compressing it against the question's suffixes and
    /// against names earlier in this fragment and the ones it continues.
    /// The labels written before a pointer (or all of them) are remembered
    /// for later names.
    fn name(&mut self, name: &[u8], compress: bool) {
        let lower = name.to_ascii_lowercase();
        let base = self.store.bytes.len() - self.chain_start;
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

    /// Finishes the fragment and returns its handle.
    pub fn finish(mut self) -> FragmentId {
        self.push_meta()
    }

    /// Finishes the fragment and starts the next one (in `section`), which
    /// continues it: its names compress against this one's too, so it must
    /// be placed right after it. Its handle is the next one after this
    /// one's (see [`FragmentStore::continuations`]).
    pub fn finish_and_continue(mut self, section: Section) -> (FragmentId, Self) {
        let id = self.push_meta();
        self.start = self.store.bytes.len();
        self.fixups_start = self.store.fixups.len();
        self.counts = [0; 3];
        self.section = section;
        (id, self)
    }

    fn push_meta(&mut self) -> FragmentId {
        let id = FragmentId(self.store.fragments.len() as u32);
        self.store.fragments.push(FragmentMeta {
            start: self.start as u32,
            len: (self.store.bytes.len() - self.start) as u32,
            fixups_start: self.fixups_start as u32,
            fixups_len: (self.store.fixups.len() - self.fixups_start) as u32,
            counts: self.counts,
        });
        id
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
        let additional = builder.finish();
        let (answer, additional) = (store.get(answer), store.get(additional));
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
        assert_eq!(store.continuations(FragmentId(1), 5).count(), 0);

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
        builder.record(
            Owner::Pointer,
            1,
            1,
            60,
            &[RdataPart::Bytes(&[192, 0, 2, 1])],
        );
        let id = builder.finish();
        let fragment = store.get(id);
        let mut out = vec![0u8; 0x5000];
        assert_eq!(place(fragment, &mut out, 100, 110, 17, 12), None);
        assert_eq!(place(fragment, &mut out, 100, 200, 17, 0x4000), None);
        assert_eq!(place(fragment, &mut out, 100, 200, 17, 12), Some(116));
    }
}
