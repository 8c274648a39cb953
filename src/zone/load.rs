//! Reads a zone file (RFC 1035 master format: `$ORIGIN`, `$TTL`,
//! `$INCLUDE`) with `domain`'s zonefile parser and checks it; takes the
//! records of a zone transfer ([`zone_from_records`]) or of an IXFR
//! difference ([`ZoneData::apply_changes`]) through the same checks.
//!
//! Errors name the file, the line and the record (`www.example.com. CNAME`):
//! a record outside the zone, a zone without exactly one SOA at its apex or
//! without NS there, a CNAME beside other data or two CNAMEs at one name,
//! a class other than IN, and record types we cannot serve correctly
//! (DNAME). Duplicate records (compared as DNS compares them: the names in
//! NS, MX, SRV and the like without regard to case) are merged; an RRset
//! whose records disagree on TTL takes the smallest and gets a warning
//! (RFC 2181 section 5.2). A transfer's errors name its origin and the
//! record's ordinal in place of a file and line.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use domain::base::Record as DomainRecord;
use domain::base::iana::{Class, Rtype};
use domain::base::name::{Name, ToName};
use domain::base::rdata::ComposeRecordData;
use domain::rdata::ZoneRecordData;
use domain::zonefile::inplace::{Entry, Zonefile};

use super::{Applied, Location, Nodes, Octets, Rdata, Record, RecordSet, Soa, ZoneData};
use crate::config::{LoadError, LoadErrors, Source, ZoneConfig};
use crate::wire::name;
use crate::wire::rtype;

/// How deep `$INCLUDE` may nest (stops include loops).
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// Something worth telling the operator that does not stop the zone loading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Loads and checks the zone `config` names, reading files through `source`.
pub fn load_zone(
    config: &ZoneConfig,
    source: &Source,
) -> Result<(ZoneData, Vec<Warning>), LoadErrors> {
    let mut loader = Loader::new(name::to_lowercase(config.name.as_slice()), Vec::new());
    let origin: Name<Bytes> = config.name.clone();
    loader.read_file(source, &config.file, origin, 0);
    loader.finish()
}

/// Builds a zone from records that arrived some other way than a file (a
/// zone transfer), with every check a zone file gets: records outside the
/// zone, exactly one SOA and some NS at the apex, CNAME beside other data,
/// class IN only, DNAME refused; duplicates merge and an RRset whose TTLs
/// disagree takes the smallest with a warning.
///
/// `origin` names the source in errors and warnings (`AXFR of example.net.
/// from 192.0.2.53:53`) and becomes `ZoneData::files[0]`; a record's
/// location is line = its 1-based ordinal in `records`. The closing SOA of
/// an AXFR may be left in: it merges with the first as a duplicate.
pub fn zone_from_records(
    apex: &Name<Bytes>,
    origin: PathBuf,
    records: impl IntoIterator<Item = Record>,
) -> Result<(ZoneData, Vec<Warning>), LoadErrors> {
    let mut loader = Loader::new(name::to_lowercase(apex.as_slice()), vec![origin]);
    for (index, record) in records.into_iter().enumerate() {
        loader.add(&record, Location::new(0, index + 1));
    }
    loader.finish()
}

/// Applies one IXFR difference to a copy of `zone`; see
/// [`ZoneData::apply_changes`].
pub(super) fn apply_changes(
    zone: &ZoneData,
    removed: &[Record],
    added: &[Record],
    origin: &Path,
) -> Result<Applied, LoadErrors> {
    let mut files = zone.files.clone();
    let file = match files.iter().position(|file| file == origin) {
        Some(file) => file,
        None => {
            files.push(origin.to_path_buf());
            files.len() - 1
        }
    };
    let mut loader = Loader {
        apex: zone.apex.clone(),
        files,
        nodes: zone.nodes.clone(),
        record_count: zone.record_count,
        errors: Vec::new(),
        warnings: Vec::new(),
        touched: Some(Vec::with_capacity(removed.len() + added.len())),
        scratch: Vec::new(),
    };
    for (index, record) in removed.iter().enumerate() {
        loader.remove(record, Location::new(file, index + 1));
    }
    for (index, record) in added.iter().enumerate() {
        let line = removed.len() + index + 1;
        loader.add(record, Location::new(file, line));
    }
    loader.finish_changes()
}

/// A zone being built from records, and what was found wrong with it.
struct Loader {
    apex: Vec<u8>,
    files: Vec<PathBuf>,
    /// Record sets by lowercase owner.
    nodes: Nodes,
    record_count: usize,
    errors: Vec<LoadError>,
    warnings: Vec<Warning>,
    /// The owners added to or removed from, when the loader started from a
    /// zone already checked: only these names need checking again. `None`:
    /// check every name.
    touched: Option<Vec<Vec<u8>>>,
    /// Where record data is composed before it is held.
    scratch: Vec<u8>,
}

/// `www.example.com. CNAME`: how errors name a record.
fn record_key(owner: &[u8], rtype: u16) -> String {
    format!("{} {}", name::display(owner), Rtype::from_int(rtype))
}

/// Pushes `value` onto a vector that is usually tiny (the record sets of a
/// name, the records of a set; one is held in place), growing it one slot
/// at a time up to [`SMALL_VEC_EXACT_UP_TO`] and by doubling after that.
/// Growing by doubling from the start made room for four on the first
/// growth: for a million names of one or two record sets that was about
/// 90 MB of the load's peak (benches/scale.sh).
fn push_small<T>(vec: &mut smallvec::SmallVec<[T; 1]>, value: T) {
    if vec.len() == vec.capacity() && vec.len() < SMALL_VEC_EXACT_UP_TO {
        vec.reserve_exact(1);
    }
    vec.push(value);
}

/// Below this length [`push_small`] grows a vector one slot at a time.
const SMALL_VEC_EXACT_UP_TO: usize = 4;

/// `name` in uncompressed wire form, composed on the stack: a million
/// records are not a million allocations.
fn wire_name(name: &impl ToName) -> Octets {
    wire_name_with(name, |_| ())
}

/// `name` in wire form with `change` applied to its bytes first.
fn wire_name_with(name: &impl ToName, change: impl FnOnce(&mut [u8])) -> Octets {
    let mut buffer = octseq::array::Array::<{ name::MAX_NAME_LEN }>::new();
    match name.compose(&mut buffer) {
        Ok(()) => {
            change(buffer.as_mut());
            Octets::new(buffer.as_ref())
        }
        // Longer than a name can be: cannot happen for a parsed name.
        Err(_) => {
            let mut bytes = name.to_vec().into_octets();
            change(&mut bytes);
            bytes.into()
        }
    }
}

/// Turns byte offsets reported by the parser into line numbers, counting
/// newlines incrementally (offsets only grow).
struct LineCounter<'t> {
    text: &'t [u8],
    counted_to: usize,
    newlines: usize,
}

impl LineCounter<'_> {
    /// The line of the entry the parser just finished: the parser's offset
    /// sits at or just past the end of the entry's first line.
    fn line_before(&mut self, offset: usize) -> usize {
        let target = offset.saturating_sub(1).min(self.text.len());
        if target > self.counted_to {
            self.newlines += self.text[self.counted_to..target]
                .iter()
                .filter(|&&byte| byte == b'\n')
                .count();
            self.counted_to = target;
        }
        self.newlines + 1
    }
}

/// The line of the outermost `(` still open at the end of `text`, reading
/// it as the zone file syntax does: quoted text, `\` escapes and comments
/// (`;` to the end of the line) hold no parentheses.
fn unclosed_parenthesis(text: &[u8]) -> Option<usize> {
    let (mut line, mut depth, mut opened_on) = (1, 0usize, 0);
    let mut quoted = false;
    let mut bytes = text.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'\n' => line += 1,
            // An escape: the next byte is taken as it is.
            b'\\' => line += usize::from(bytes.next() == Some(&b'\n')),
            b'"' => quoted = !quoted,
            _ if quoted => {}
            // A comment: skip to the end of the line.
            b';' => line += usize::from(bytes.any(|&byte| byte == b'\n')),
            b'(' => {
                if depth == 0 {
                    opened_on = line;
                }
                depth += 1;
            }
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (depth > 0).then_some(opened_on)
}

impl Loader {
    fn error(&mut self, location: Option<Location>, key: String, message: String) {
        let (file, line) = match location {
            Some(location) => (self.files[location.file()].clone(), Some(location.line())),
            None => (self.files.first().cloned().unwrap_or_default(), None),
        };
        self.errors.push(LoadError {
            file,
            line,
            key,
            message,
        });
    }

    fn read_file(&mut self, source: &Source, path: &Path, origin: Name<Bytes>, depth: usize) {
        let text = match source.read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                self.errors.push(LoadError {
                    file: path.to_path_buf(),
                    line: None,
                    key: String::new(),
                    message: format!("cannot read zone file: {error}"),
                });
                return;
            }
        };
        let file = self.files.len();
        self.files.push(path.to_path_buf());
        // domain 0.12.3's parser panics (index out of bounds) on some files
        // that end inside parentheses, such as "@ TXT (\na\n": such a file is
        // wrong anyway, so say so before it gets there (found by fuzzing).
        if let Some(line) = unclosed_parenthesis(text.as_bytes()) {
            self.error(
                Some(Location::new(file, line)),
                String::new(),
                "syntax error: this \"(\" is never closed (the file ends inside parentheses)"
                    .into(),
            );
            return;
        }
        // The same parser also indexes past its buffer when a TXT record's
        // line, ending in a comment, is the last of a file without a final
        // newline; with one the record ends as it should.
        let mut text = text;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let mut zonefile = Zonefile::from(text.as_str());
        zonefile.set_origin(origin);
        zonefile.set_default_class(Class::IN);
        let mut lines = LineCounter {
            text: text.as_bytes(),
            counted_to: 0,
            newlines: 0,
        };
        // Any other panic in the parser is this file's error, not the
        // server's end (a reload must not take the control plane down).
        let scanned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.scan(source, &mut zonefile, &mut lines, file, path, depth)
        }));
        if scanned.is_err() {
            self.error(
                Some(Location::new(
                    file,
                    lines.line_before(zonefile.current_offset()),
                )),
                String::new(),
                "the zone file parser failed on this file (a bug in the domain crate); \
                 check the syntax here"
                    .into(),
            );
        }
    }

    /// Reads every entry of `zonefile` (file number `file`, at `path`).
    fn scan(
        &mut self,
        source: &Source,
        zonefile: &mut Zonefile,
        lines: &mut LineCounter<'_>,
        file: usize,
        path: &Path,
        depth: usize,
    ) {
        loop {
            let entry = zonefile.next_entry();
            let line = lines.line_before(zonefile.current_offset());
            let location = Location::new(file, line);
            match entry {
                Ok(None) => break,
                Ok(Some(Entry::Record(record))) => self.add(&record, location),
                Ok(Some(Entry::Include {
                    path: include,
                    origin,
                })) => {
                    if depth + 1 > MAX_INCLUDE_DEPTH {
                        self.error(
                            Some(location),
                            "$INCLUDE".into(),
                            format!("includes nest deeper than {MAX_INCLUDE_DEPTH}"),
                        );
                        continue;
                    }
                    let origin = match origin.or_else(|| zonefile.origin().ok()) {
                        Some(origin) => origin,
                        None => {
                            self.error(Some(location), "$INCLUDE".into(), "no origin".into());
                            continue;
                        }
                    };
                    let included = path
                        .parent()
                        .unwrap_or_else(|| Path::new(""))
                        .join(Path::new(&*include));
                    self.read_file(source, &included, origin, depth + 1);
                }
                Err(error) => {
                    // domain prints "LINE:COLUMN: message". An error found
                    // at the end of a line's last token is reported at column
                    // 1 of the next line: point at the line that holds it.
                    let text = error.to_string();
                    let mut parts = text.splitn(3, ':');
                    let line: Option<usize> =
                        parts.next().and_then(|line| line.trim().parse().ok());
                    let column: Option<usize> =
                        parts.next().and_then(|column| column.trim().parse().ok());
                    let message = parts
                        .next()
                        .map_or_else(|| text.clone(), |message| message.trim().to_owned());
                    let line = match (line, column) {
                        (Some(line), Some(1)) if line > 1 => Some(line - 1),
                        (line, _) => line,
                    };
                    let location = line.map(|line| Location::new(file, line));
                    self.error(location, String::new(), format!("syntax error: {message}"));
                    break;
                }
            }
        }
    }

    fn new(apex: Vec<u8>, files: Vec<PathBuf>) -> Self {
        Loader {
            apex,
            files,
            nodes: Nodes::default(),
            record_count: 0,
            errors: Vec::new(),
            warnings: Vec::new(),
            touched: None,
            scratch: Vec::new(),
        }
    }

    /// Runs the whole-zone checks (when every record went in cleanly) and
    /// hands over the zone, or every error found.
    fn finish(self) -> Result<(ZoneData, Vec<Warning>), LoadErrors> {
        self.finish_changes()
            .map(|(zone, warnings, _)| (zone, warnings))
    }

    /// The zone and its warnings, with the owners changed (lowercase,
    /// sorted, once each) when the loader started from a checked zone.
    fn finish_changes(mut self) -> Result<Applied, LoadErrors> {
        if self.errors.is_empty() {
            self.check();
        }
        if !self.errors.is_empty() {
            return Err(LoadErrors(self.errors));
        }
        let touched = self.touched.take().unwrap_or_default();
        let zone = ZoneData {
            apex: self.apex,
            files: self.files,
            nodes: self.nodes,
            record_count: self.record_count,
        };
        Ok((zone, self.warnings, touched))
    }

    fn touch(&mut self, owner: &[u8]) {
        if let Some(touched) = &mut self.touched {
            touched.push(owner.to_vec());
        }
    }

    /// The checks one record gets on its own, shared by [`Self::add`] and
    /// [`Self::remove`]: the record as the zone holds it (lowercase owner,
    /// type, split data), or `None` once the reason is recorded.
    fn convert<N: ToName, M: ToName + std::fmt::Display>(
        &mut self,
        record: &AnyRecord<N, M>,
        location: Location,
    ) -> Option<(Octets, u16, Rdata)> {
        let owner = wire_name_with(record.owner(), |bytes| bytes.make_ascii_lowercase());
        let record_type = record.rtype().to_int();
        // Formatted only for a message: most zones have none, and a million
        // records would otherwise format a million keys.
        let key = || record_key(&owner, record_type);
        if !name::is_at_or_below(&owner, &self.apex) {
            self.error(
                Some(location),
                key(),
                format!("record is outside the zone {}", name::display(&self.apex)),
            );
            return None;
        }
        if record.class() != Class::IN {
            self.error(
                Some(location),
                key(),
                format!("class {} is not served; only IN", record.class()),
            );
            return None;
        }
        match rdata_of(record_type, record.data(), &mut self.scratch) {
            Ok(rdata) => Some((owner, record_type, rdata)),
            Err(message) => {
                self.error(Some(location), key(), message);
                None
            }
        }
    }

    /// Adds one record read at `location`; a record the set already holds
    /// (as DNS compares records, [`same_rdata`]) is dropped.
    fn add<N: ToName, M: ToName + std::fmt::Display>(
        &mut self,
        record: &AnyRecord<N, M>,
        location: Location,
    ) {
        let Some((owner, record_type, rdata)) = self.convert(record, location) else {
            return;
        };
        self.touch(&owner);
        let ttl = record.ttl().as_secs();
        // One hash and one probe whether the name is new or not.
        let (owner, sets, added) = self.nodes.get_or_insert(owner);
        if added {
            sets.push(RecordSet {
                rtype: record_type,
                ttl,
                records: smallvec::smallvec![rdata],
                location,
            });
            self.record_count += 1;
            return;
        }
        match sets.iter_mut().find(|set| set.rtype == record_type) {
            Some(set) => {
                if set
                    .records
                    .iter()
                    .any(|held| same_rdata(record_type, held, &rdata))
                {
                    return; // RFC 2181 section 5: duplicates are one record.
                }
                if set.ttl != ttl {
                    self.warnings.push(Warning {
                        file: self.files[location.file()].clone(),
                        line: Some(location.line()),
                        message: format!(
                            "{}: TTL {ttl} differs from {} earlier in the RRset; using the smaller",
                            record_key(owner, record_type),
                            set.ttl
                        ),
                    });
                    set.ttl = set.ttl.min(ttl);
                }
                push_small(&mut set.records, rdata);
            }
            None => push_small(
                sets,
                RecordSet {
                    rtype: record_type,
                    ttl,
                    records: smallvec::smallvec![rdata],
                    location,
                },
            ),
        }
        self.record_count += 1;
    }

    /// Removes one record (matched as DNS compares records; its TTL is not
    /// compared), dropping its set and its name when they empty; a record
    /// the zone does not hold is an error. Costs a hash lookup plus a walk
    /// of the name's sets and of the set's records.
    fn remove<N: ToName, M: ToName + std::fmt::Display>(
        &mut self,
        record: &AnyRecord<N, M>,
        location: Location,
    ) {
        let Some((owner, record_type, rdata)) = self.convert(record, location) else {
            return;
        };
        self.touch(&owner);
        let mut found = false;
        let mut name_emptied = false;
        if let Some(sets) = self.nodes.get_mut(owner.as_slice()) {
            if let Some(set_index) = sets.iter().position(|set| set.rtype == record_type) {
                let set = &mut sets[set_index];
                if let Some(index) = set
                    .records
                    .iter()
                    .position(|held| same_rdata(record_type, held, &rdata))
                {
                    found = true;
                    set.records.remove(index);
                    if set.records.is_empty() {
                        sets.remove(set_index);
                    }
                    name_emptied = sets.is_empty();
                }
            }
        }
        if name_emptied {
            // O(1); the order of names carries no meaning.
            self.nodes.swap_remove(owner.as_slice());
        }
        if found {
            self.record_count -= 1;
        } else {
            self.error(
                Some(location),
                record_key(&owner, record_type),
                format!(
                    "cannot remove a record the zone does not hold: {}",
                    record.data()
                ),
            );
        }
    }

    /// Whole-zone rules, checked once every record is in: the apex always,
    /// then every name, or only the names changed when the loader started
    /// from a zone already checked.
    fn check(&mut self) {
        let mut problems: Vec<Problem> = Vec::new();
        self.check_apex(&mut problems);
        match self.touched.take() {
            None => {
                for (owner, sets) in &self.nodes {
                    self.check_name(owner, sets, &mut problems);
                }
            }
            Some(mut touched) => {
                touched.sort_unstable();
                touched.dedup();
                for owner in &touched {
                    if let Some(sets) = self.nodes.get(owner.as_slice()) {
                        self.check_name(owner, sets, &mut problems);
                    }
                }
                self.touched = Some(touched);
            }
        }
        // In file order, whatever order the names are held in.
        problems
            .sort_by_key(|(location, key, _)| (location.map(|at| (at.file, at.line)), key.clone()));
        for (location, key, message) in problems {
            self.error(location, key, message);
        }
    }

    /// Exactly one SOA and some NS at the apex.
    fn check_apex(&self, problems: &mut Vec<Problem>) {
        let apex = &self.apex;
        match self
            .nodes
            .get(apex.as_slice())
            .and_then(|sets| sets.iter().find(|set| set.rtype == rtype::SOA))
        {
            None => problems.push((
                None,
                record_key(apex, rtype::SOA),
                "the zone has no SOA record at its apex".into(),
            )),
            Some(set) if set.records.len() > 1 => problems.push((
                Some(set.location),
                record_key(apex, rtype::SOA),
                "the zone has more than one SOA record".into(),
            )),
            Some(_) => {}
        }
        if self
            .nodes
            .get(apex.as_slice())
            .is_none_or(|sets| !sets.iter().any(|set| set.rtype == rtype::NS))
        {
            problems.push((
                None,
                record_key(apex, rtype::NS),
                "the zone has no NS records at its apex".into(),
            ));
        }
    }

    /// The rules for the record sets of one name: SOA only at the apex, at
    /// most one CNAME and nothing beside it.
    fn check_name(&self, owner: &[u8], sets: &[RecordSet], problems: &mut Vec<Problem>) {
        for set in sets {
            if set.rtype == rtype::SOA && *owner != *self.apex {
                problems.push((
                    Some(set.location),
                    record_key(owner, rtype::SOA),
                    "SOA record is not at the zone apex".into(),
                ));
            }
        }
        let Some(cname) = sets.iter().find(|set| set.rtype == rtype::CNAME) else {
            return;
        };
        if cname.records.len() > 1 {
            problems.push((
                Some(cname.location),
                record_key(owner, rtype::CNAME),
                "more than one CNAME record at this name".into(),
            ));
        }
        // RFC 1034 section 3.6.2 (RRSIG and NSEC may stand beside it, RFC 4035).
        for other in sets
            .iter()
            .filter(|set| !matches!(set.rtype, rtype::CNAME | rtype::RRSIG | rtype::NSEC))
        {
            // Blame the later one: a later file (an include read later, a
            // later difference) or a later line.
            let (first, second) = if (other.location.file, other.location.line)
                > (cname.location.file, cname.location.line)
            {
                (cname, other)
            } else {
                (other, cname)
            };
            problems.push((
                Some(second.location),
                record_key(owner, second.rtype),
                format!(
                    "CNAME beside other data: {} at line {} of {}",
                    Rtype::from_int(first.rtype),
                    first.location.line,
                    self.files[first.location.file()].display()
                ),
            ));
        }
    }
}

/// A record as a file's parser or a transfer gives it: the owner and the
/// names in the data are absolute names of any form.
type AnyRecord<N, M> = DomainRecord<N, ZoneRecordData<Bytes, M>>;

/// A problem the whole-zone checks found: where, the record, what.
type Problem = (Option<Location>, String, String);

/// PTR's type code (RFC 1035).
const PTR: u16 = 12;

/// The data of one record as the zone holds it, or why it cannot be held.
/// `scratch` is a buffer to compose data in, reused from record to record.
fn rdata_of<M: ToName>(
    record_type: u16,
    data: &ZoneRecordData<Bytes, M>,
    scratch: &mut Vec<u8>,
) -> Result<Rdata, String> {
    // By type, not by parsed form: the RFC 3597 form (`DNAME \# ...`) is
    // refused too.
    if record_type == rtype::DNAME {
        return Err("DNAME is not supported (its answers need name substitution)".into());
    }
    let rdata = match data {
        ZoneRecordData::Ns(ns) => Rdata::Name(wire_name(ns.nsdname())),
        ZoneRecordData::Cname(cname) => Rdata::Name(wire_name(cname.cname())),
        ZoneRecordData::Ptr(ptr) => Rdata::Name(wire_name(ptr.ptrdname())),
        ZoneRecordData::Mx(mx) => Rdata::Mx {
            preference: mx.preference(),
            exchange: wire_name(mx.exchange()),
        },
        ZoneRecordData::Soa(soa) => Rdata::Soa(Box::new(Soa {
            mname: wire_name(soa.mname()),
            rname: wire_name(soa.rname()),
            serial: soa.serial().into_int(),
            refresh: soa.refresh().as_secs(),
            retry: soa.retry().as_secs(),
            expire: soa.expire().as_secs(),
            minimum: soa.minimum().as_secs(),
        })),
        other => {
            scratch.clear();
            let bytes = scratch;
            if other.compose_rdata(bytes).is_err() {
                return Err("record data does not compose".into());
            }
            if matches!(
                record_type,
                rtype::NS | rtype::CNAME | PTR | rtype::MX | rtype::SOA
            ) {
                // Given in the RFC 3597 form (`NS \# 6 ...`): held split
                // like any other, since answers compress these names.
                return split_generic(record_type, bytes).ok_or_else(|| {
                    format!(
                        "record data is not a valid {}",
                        Rtype::from_int(record_type)
                    )
                });
            }
            if bytes.len() > usize::from(u16::MAX) {
                return Err("record data longer than 65535 bytes".into());
            }
            Rdata::Opaque(Octets::new(bytes))
        }
    };
    Ok(rdata)
}

/// An uncompressed wire name at the start of `bytes` and what follows it,
/// or `None` when there is no well-formed one there.
pub(super) fn read_name(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut at = 0;
    loop {
        let len = usize::from(*bytes.get(at)?);
        if len > 63 {
            return None; // A compression pointer or a reserved label type.
        }
        at += 1 + len;
        if at > name::MAX_NAME_LEN || at > bytes.len() {
            return None;
        }
        if len == 0 {
            return Some(bytes.split_at(at));
        }
    }
}

/// NS, CNAME, PTR, MX or SOA data in wire form, split as the zone holds it.
fn split_generic(record_type: u16, bytes: &[u8]) -> Option<Rdata> {
    match record_type {
        rtype::MX => {
            let (preference, rest) = bytes.split_first_chunk::<2>()?;
            let (exchange, rest) = read_name(rest)?;
            rest.is_empty().then(|| Rdata::Mx {
                preference: u16::from_be_bytes(*preference),
                exchange: exchange.into(),
            })
        }
        rtype::SOA => {
            let (mname, rest) = read_name(bytes)?;
            let (rname, rest) = read_name(rest)?;
            let numbers: &[u8; 20] = rest.try_into().ok()?;
            let number = |at: usize| {
                u32::from_be_bytes([
                    numbers[at],
                    numbers[at + 1],
                    numbers[at + 2],
                    numbers[at + 3],
                ])
            };
            Some(Rdata::Soa(Box::new(Soa {
                mname: mname.into(),
                rname: rname.into(),
                serial: number(0),
                refresh: number(4),
                retry: number(8),
                expire: number(12),
                minimum: number(16),
            })))
        }
        _ => {
            let (target, rest) = read_name(bytes)?;
            rest.is_empty().then(|| Rdata::Name(target.into()))
        }
    }
}

/// Whether `a` and `b`, two records of `record_type`, are the same record
/// as DNS compares them: byte for byte in canonical form (RFC 4034 section
/// 6.2 as RFC 6840 section 5.1 amends it), where the names inside the data
/// of the types listed there are lowercased.
fn same_rdata(record_type: u16, a: &Rdata, b: &Rdata) -> bool {
    match (a, b) {
        (Rdata::Opaque(a), Rdata::Opaque(b)) => {
            a == b
                || (a.len() == b.len()
                    && canonical_opaque(record_type, a)
                        .is_some_and(|a| canonical_opaque(record_type, b).is_some_and(|b| a == b)))
        }
        (Rdata::Name(a), Rdata::Name(b)) => a.eq_ignore_ascii_case(b),
        (
            Rdata::Mx {
                preference: a_preference,
                exchange: a_exchange,
            },
            Rdata::Mx {
                preference: b_preference,
                exchange: b_exchange,
            },
        ) => a_preference == b_preference && a_exchange.eq_ignore_ascii_case(b_exchange),
        (Rdata::Soa(a), Rdata::Soa(b)) => {
            a.mname.eq_ignore_ascii_case(&b.mname)
                && a.rname.eq_ignore_ascii_case(&b.rname)
                && (a.serial, a.refresh, a.retry, a.expire, a.minimum)
                    == (b.serial, b.refresh, b.retry, b.expire, b.minimum)
        }
        _ => false,
    }
}

/// The data of a type held opaque with its names lowercased, for the types
/// whose canonical form lowercases them; `None` for other types and for
/// data that does not hold the names its type says.
fn canonical_opaque(record_type: u16, bytes: &[u8]) -> Option<Vec<u8>> {
    // (bytes before the first name, names in a row)
    let (prefix, names) = match record_type {
        // MD, MF, MB, MG, MR
        3 | 4 | 7..=9 => (0, 1),
        // MINFO, RP
        14 | 17 => (0, 2),
        // AFSDB, RT, KX
        18 | 21 | 36 => (2, 1),
        // PX
        26 => (2, 2),
        rtype::SRV => (6, 1),
        // NAPTR: order, preference, then flags, services and regexp.
        35 => {
            let mut at = 4;
            for _ in 0..3 {
                at += 1 + usize::from(*bytes.get(at)?);
            }
            (at, 1)
        }
        // SIG, RRSIG: the signer's name after 18 bytes of fields.
        24 | rtype::RRSIG => (18, 1),
        _ => return None,
    };
    let mut out = bytes.to_vec();
    let mut at = prefix;
    for _ in 0..names {
        let (found, _) = read_name(bytes.get(at..)?)?;
        out[at..at + found.len()].make_ascii_lowercase();
        at += found.len();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn zone_config(name: &str) -> ZoneConfig {
        ZoneConfig {
            name: Name::<Bytes>::from_str(name).unwrap(),
            file: PathBuf::from("<test>/zone.db"),
            line: 1,
        }
    }

    fn load_text(text: &'static str) -> Result<(ZoneData, Vec<Warning>), LoadErrors> {
        let files: &'static [(&'static str, &'static str)] =
            Box::leak(vec![("<test>/zone.db", text)].into_boxed_slice());
        load_zone(&zone_config("example.com."), &Source::Embedded(files))
    }

    const HEAD: &str = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n";

    fn with_head(rest: &str) -> &'static str {
        Box::leak(format!("{HEAD}{rest}").into_boxed_str())
    }

    fn errors(text: &'static str) -> Vec<LoadError> {
        match load_text(text) {
            Ok(_) => panic!("zone loaded but should not have"),
            Err(LoadErrors(errors)) => errors,
        }
    }

    #[test]
    fn loads_common_types() {
        let text = with_head(
            "www A 192.0.2.1\nwww A 192.0.2.2\nwww AAAA 2001:db8::1\n\
             mail MX 10 mx.example.net.\n\
             txt TXT \"hello world\"\n\
             _sip._udp SRV 10 5 5060 sip\n\
             ptr PTR www\n\
             @ CAA 0 issue \"ca.example\"\n\
             alias CNAME www\n",
        );
        let (zone, warnings) = load_text(text).expect("zone loads");
        assert!(warnings.is_empty());
        let www = zone
            .record_set(b"\x03www\x07example\x03com\x00", rtype::A)
            .unwrap();
        assert_eq!(www.records.len(), 2);
        assert_eq!(www.ttl, 300);
        assert_eq!(www.location.line, 6);
        assert!(
            zone.record_set(b"\x04_sip\x04_udp\x07example\x03com\x00", 33)
                .is_some()
        );
        assert!(zone.record_set(b"\x07example\x03com\x00", 257).is_some());
        assert_eq!(zone.negative_ttl(), 60);
        assert_eq!(zone.record_count, 12);
    }

    /// Found by fuzzing: domain 0.12.3's parser indexes past its buffer on
    /// a TXT record whose parentheses the file never closes.
    #[test]
    fn file_ending_inside_parentheses_is_an_error_not_a_panic() {
        for (rest, line) in [
            ("@ TXT (\na\n", 6),
            ("www A 192.0.2.1\n@ TXT ( \"a\"\n", 7),
            ("@ TXT \"(\" (\n; ) in a comment\n\"a\" \\)\n", 6),
        ] {
            let found = errors(with_head(rest));
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].line, Some(line), "{}", found[0]);
            assert!(found[0].message.contains("never closed"), "{}", found[0]);
        }
        // Parentheses that close, in quotes, comments and escapes, still load.
        load_text(with_head(
            "@ TXT ( \"a)\" ; (\n  \"b\" )\nx TXT \\( \"(\"\nmx MX ( 10\n mail )\n",
        ))
        .expect("balanced parentheses load");
    }

    /// Found by fuzzing too: a TXT record with a comment on the last line
    /// of a file without a final newline made the same parser panic (which
    /// `scan`'s guard would turn into an error): it loads.
    #[test]
    fn txt_with_comment_on_last_line_without_newline_loads() {
        for last in ["txt TXT a ; comment", "txt TXT \"a\" b;c", "txt TXT a"] {
            let (zone, _) = load_text(with_head(last)).expect("zone loads");
            let txt = zone
                .record_set(b"\x03txt\x07example\x03com\x00", 16)
                .expect("the TXT record");
            assert_eq!(txt.location.line, 6, "{last}");
        }
    }

    #[test]
    fn duplicates_merge_and_ttl_mismatch_warns() {
        let text = with_head("www A 192.0.2.1\nwww A 192.0.2.1\nwww 60 A 192.0.2.2\n");
        let (zone, warnings) = load_text(text).unwrap();
        let set = zone
            .record_set(b"\x03www\x07example\x03com\x00", rtype::A)
            .unwrap();
        assert_eq!(set.records.len(), 2);
        assert_eq!(set.ttl, 60);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, Some(8));
    }

    #[test]
    fn missing_soa_is_an_error() {
        let errors = errors("$ORIGIN example.com.\n@ 300 NS ns1\n");
        assert!(
            errors.iter().any(|e| e.message.contains("no SOA")),
            "{errors:?}"
        );
        assert_eq!(errors[0].file, PathBuf::from("<test>/zone.db"));
    }

    #[test]
    fn record_outside_zone_names_line() {
        let errors = errors(with_head("www.example.org. A 192.0.2.1\n"));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, Some(6));
        assert_eq!(errors[0].key, "www.example.org. A");
        assert!(errors[0].message.contains("outside the zone"));
    }

    #[test]
    fn cname_beside_other_data_names_line() {
        let errors = errors(with_head("www A 192.0.2.1\nfoo TXT x\nwww CNAME foo\n"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, Some(8));
        assert_eq!(errors[0].key, "www.example.com. CNAME");
        assert!(
            errors[0]
                .message
                .contains("CNAME beside other data: A at line 6")
        );
    }

    #[test]
    fn syntax_error_names_line() {
        let errors = errors(with_head("www A not-an-address\n"));
        assert_eq!(errors[0].line, Some(6), "{errors:?}");
        assert!(errors[0].message.starts_with("syntax error"));
    }

    #[test]
    fn dname_is_refused() {
        let errors = errors(with_head("old DNAME new.example.net.\n"));
        assert!(errors[0].message.contains("DNAME"));
    }

    #[test]
    fn multi_line_soa_and_include() {
        let files: &'static [(&'static str, &'static str)] = &[
            (
                "<test>/zone.db",
                "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster (\n  1 ; serial\n  7200 900 1209600 60 )\n@ NS ns1\n$INCLUDE hosts.inc\n",
            ),
            (
                "<test>/hosts.inc",
                "ns1 A 192.0.2.53\nbad.example.org. A 192.0.2.9\n",
            ),
        ];
        let Err(LoadErrors(errors)) =
            load_zone(&zone_config("example.com."), &Source::Embedded(files))
        else {
            panic!("include with an out-of-zone record loaded");
        };
        assert_eq!(errors[0].file, PathBuf::from("<test>/hosts.inc"));
        assert_eq!(errors[0].line, Some(2));
    }

    /// The records of `text` (a zone file fragment, origin example.com.,
    /// TTL 300) as a transfer would hand them over.
    fn records(text: &str) -> Vec<Record> {
        use domain::base::name::FlattenInto;
        let text = format!("$ORIGIN example.com.\n$TTL 300\n{text}");
        let mut zonefile = Zonefile::from(text.as_str());
        zonefile.set_default_class(Class::IN);
        let mut out = Vec::new();
        while let Some(entry) = zonefile.next_entry().expect("test records parse") {
            let Entry::Record(record) = entry else {
                panic!("only records in test text");
            };
            out.push(record.try_flatten_into().expect("records flatten"));
        }
        out
    }

    fn apex() -> Name<Bytes> {
        Name::from_str("example.com.").unwrap()
    }

    const AXFR: &str = "AXFR of example.com. from 192.0.2.53:53";

    fn transfer(text: &str) -> Result<(ZoneData, Vec<Warning>), LoadErrors> {
        zone_from_records(&apex(), PathBuf::from(AXFR), records(text))
    }

    fn transfer_errors(text: &str) -> Vec<LoadError> {
        match transfer(text) {
            Ok(_) => panic!("transferred zone loaded but should not have"),
            Err(LoadErrors(errors)) => errors,
        }
    }

    const BODY: &str = "@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\n@ NS ns2.example.net.\n\
        ns1 A 192.0.2.53\nwww A 192.0.2.1\nwww A 192.0.2.2\nwww A 192.0.2.1\nwww AAAA 2001:db8::1\n\
        mail MX 10 mx.example.net.\ntxt TXT \"hello world\" x\n_sip._udp SRV 10 5 5060 sip\n\
        ptr PTR www\n@ CAA 0 issue \"ca.example\"\nalias CNAME www\n*.wild 60 A 192.0.2.9\n\
        sub NS ns.sub\nns.sub A 192.0.2.10\nodd TYPE65280 \\# 3 abcdef\n\
        generic NS \\# 17 03 6e 73 33 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00\n";

    #[test]
    fn transfer_equals_the_same_zone_file() {
        let (from_file, file_warnings) = load_text(Box::leak(
            format!("$ORIGIN example.com.\n$TTL 300\n{BODY}").into_boxed_str(),
        ))
        .expect("zone file loads");
        let (transferred, warnings) = transfer(BODY).expect("transfer loads");
        assert_eq!(warnings, file_warnings);
        assert_eq!(
            super::super::contents(&transferred),
            super::super::contents(&from_file)
        );
        assert_eq!(transferred.record_count, from_file.record_count);
        assert_eq!(transferred.record_count, 18);
        assert_eq!(transferred.files, vec![PathBuf::from(AXFR)]);
        // Lines are ordinals in the transfer.
        let www = transferred
            .record_set(b"\x03www\x07example\x03com\x00", rtype::A)
            .unwrap();
        assert_eq!(www.location, Location { file: 0, line: 5 });
        // The generic form of NS is held split, as answers need it.
        let generic = transferred
            .record_set(b"\x07generic\x07example\x03com\x00", rtype::NS)
            .unwrap();
        assert_eq!(
            generic.records.as_slice(),
            [Rdata::Name(
                b"\x03ns3\x07example\x03com\x00".to_vec().into()
            )]
        );
        assert_eq!(
            transferred.soa(),
            Some(super::super::SoaTimers {
                serial: 1,
                refresh: 7200,
                retry: 900,
                expire: 1209600,
                minimum: 60
            })
        );
    }

    #[test]
    fn transfer_with_a_record_outside_the_zone_fails() {
        let errors = transfer_errors(&format!("{BODY}www.example.org. A 192.0.2.1\n"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].file, PathBuf::from(AXFR));
        assert_eq!(errors[0].line, Some(20));
        assert_eq!(errors[0].key, "www.example.org. A");
        assert!(errors[0].message.contains("outside the zone example.com."));
    }

    #[test]
    fn transfer_without_soa_fails() {
        let errors = transfer_errors("@ NS ns1\nns1 A 192.0.2.53\n");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].file, PathBuf::from(AXFR));
        assert_eq!(errors[0].key, "example.com. SOA");
        assert!(errors[0].message.contains("no SOA"));
        let errors = transfer_errors("@ SOA ns1 hostmaster 1 2 3 4 5\n");
        assert!(errors[0].message.contains("no NS"), "{errors:?}");
    }

    #[test]
    fn transfer_with_cname_beside_data_fails() {
        let errors = transfer_errors(&format!("{BODY}alias TXT x\n"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, Some(20));
        assert_eq!(errors[0].key, "alias.example.com. TXT");
        assert!(
            errors[0].message.contains(&format!(
                "CNAME beside other data: CNAME at line 14 of {AXFR}"
            )),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn transfer_refuses_other_classes_and_dname_in_any_form() {
        let mut all = records(&format!(
            "{BODY}chaos TXT x\nold DNAME new.example.net.\n\
             old2 DNAME \\# 3 01 61 00\n"
        ));
        // The zone file parser takes one class per file; a transfer may not.
        let chaos = all[19].clone();
        all[19] = Record::new(
            chaos.owner().clone(),
            Class::CH,
            chaos.ttl(),
            chaos.data().clone(),
        );
        let Err(LoadErrors(errors)) = zone_from_records(&apex(), PathBuf::from(AXFR), all) else {
            panic!("class CH and DNAME loaded");
        };
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0].line, Some(20));
        assert!(errors[0].message.contains("class CH"), "{}", errors[0]);
        assert_eq!(errors[1].line, Some(21));
        assert!(errors[1].message.contains("DNAME"));
        assert_eq!(errors[2].line, Some(22));
        assert!(errors[2].message.contains("DNAME"));
        // A malformed generic NS is refused rather than held opaque.
        let errors = transfer_errors(&format!("{BODY}bad NS \\# 2 0161\n"));
        assert!(errors[0].message.contains("not a valid NS"), "{errors:?}");
    }

    fn base_zone() -> ZoneData {
        transfer(BODY).expect("transfer loads").0
    }

    fn change(
        zone: &ZoneData,
        removed: &str,
        added: &str,
    ) -> Result<(ZoneData, Vec<Warning>), LoadErrors> {
        zone.apply_changes(
            &records(removed),
            &records(added),
            Path::new("IXFR of example.com. from 192.0.2.53:53"),
        )
        .map(|(zone, warnings, _)| (zone, warnings))
    }

    const OLD_SOA: &str = "@ SOA ns1 hostmaster 1 7200 900 1209600 60\n";
    const NEW_SOA: &str = "@ SOA ns1 hostmaster 2 3600 600 604800 30\n";

    #[test]
    fn changes_add_and_remove_records_and_replace_the_soa() {
        let zone = base_zone();
        let before = super::super::contents(&zone);
        let (changed, warnings) = change(
            &zone,
            // Names compare without regard to case, TTLs not at all.
            &format!("{OLD_SOA}WWW 7 A 192.0.2.2\nmail MX 10 MX.Example.NET.\n_sip._udp SRV 10 5 5060 SIP\n\
              ptr PTR WWW\n*.wild 60 A 192.0.2.9\n"),
            &format!("{NEW_SOA}www A 192.0.2.3\nnew TXT \"fresh\"\nwww 60 A 192.0.2.4\n"),
        )
        .expect("the difference applies");
        assert_eq!(super::super::contents(&zone), before, "self is untouched");
        assert_eq!(zone.soa().unwrap().serial, 1);
        let soa = changed.soa().unwrap();
        assert_eq!((soa.serial, soa.refresh, soa.minimum), (2, 3600, 30));
        let www = changed
            .record_set(b"\x03www\x07example\x03com\x00", rtype::A)
            .unwrap();
        assert_eq!(
            www.records.as_slice(),
            [
                Rdata::Opaque(vec![192, 0, 2, 1].into()),
                Rdata::Opaque(vec![192, 0, 2, 3].into()),
                Rdata::Opaque(vec![192, 0, 2, 4].into())
            ]
        );
        assert_eq!(www.ttl, 60);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].line, Some(10));
        assert_eq!(
            warnings[0].file,
            PathBuf::from("IXFR of example.com. from 192.0.2.53:53")
        );
        // Emptied sets and names go.
        assert!(
            changed
                .nodes
                .get(b"\x04mail\x07example\x03com\x00".as_slice())
                .is_none()
        );
        assert!(
            changed
                .nodes
                .get(b"\x03ptr\x07example\x03com\x00".as_slice())
                .is_none()
        );
        assert!(
            changed
                .nodes
                .get(b"\x01*\x04wild\x07example\x03com\x00".as_slice())
                .is_none()
        );
        assert!(
            changed
                .record_set(b"\x04_sip\x04_udp\x07example\x03com\x00", rtype::SRV)
                .is_none()
        );
        assert!(
            changed
                .record_set(b"\x03new\x07example\x03com\x00", rtype::TXT)
                .is_some()
        );
        assert_eq!(changed.record_count, zone.record_count - 6 + 4);
        // The next difference builds on this one; the origin is not repeated.
        let (again, _) = change(
            &changed,
            NEW_SOA,
            "@ SOA ns1 hostmaster 3 3600 600 604800 30\n",
        )
        .expect("a second difference applies");
        assert_eq!(again.soa().unwrap().serial, 3);
        assert_eq!(again.files.len(), 2);
    }

    #[test]
    fn removing_an_absent_record_is_an_error_naming_it() {
        let zone = base_zone();
        let Err(LoadErrors(errors)) = change(
            &zone,
            &format!("{OLD_SOA}www A 192.0.2.99\nnowhere TXT x\n"),
            NEW_SOA,
        ) else {
            panic!("removing absent records applied");
        };
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].key, "www.example.com. A");
        assert_eq!(errors[0].line, Some(2));
        assert!(errors[0].message.contains("192.0.2.99"), "{}", errors[0]);
        assert_eq!(errors[1].key, "nowhere.example.com. TXT");
        assert_eq!(zone.soa().unwrap().serial, 1);
    }

    #[test]
    fn changes_that_break_a_check_fail_and_leave_the_zone() {
        let zone = base_zone();
        let before = super::super::contents(&zone);
        let Err(LoadErrors(errors)) =
            change(&zone, OLD_SOA, &format!("{NEW_SOA}alias A 192.0.2.7\n"))
        else {
            panic!("a CNAME beside data applied");
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key, "alias.example.com. A");
        assert!(
            errors[0].message.contains("CNAME beside other data"),
            "{}",
            errors[0]
        );
        // Removing the SOA without a new one, or every apex NS, fails too.
        let Err(LoadErrors(errors)) = change(&zone, OLD_SOA, "") else {
            panic!("a zone without SOA applied");
        };
        assert!(errors[0].message.contains("no SOA"), "{errors:?}");
        let Err(LoadErrors(errors)) = change(
            &zone,
            &format!("{OLD_SOA}@ NS ns1\n@ NS ns2.example.net.\n"),
            NEW_SOA,
        ) else {
            panic!("a zone without NS applied");
        };
        assert!(errors[0].message.contains("no NS"), "{errors:?}");
        // Two SOAs (the old one left in) and an added record outside the zone.
        let Err(LoadErrors(errors)) = change(&zone, "", NEW_SOA) else {
            panic!("two SOAs applied");
        };
        assert!(
            errors[0].message.contains("more than one SOA"),
            "{errors:?}"
        );
        let Err(LoadErrors(errors)) = change(
            &zone,
            OLD_SOA,
            &format!("{NEW_SOA}x.example.org. A 192.0.2.1\n"),
        ) else {
            panic!("an out-of-zone record applied");
        };
        assert!(errors[0].message.contains("outside the zone"), "{errors:?}");
        assert_eq!(super::super::contents(&zone), before, "self is untouched");
    }

    /// RFC 2181 section 5 with RFC 4034 section 6.2: records whose data
    /// differ only in the case of names that compare without case are one
    /// record; other data keeps its case.
    #[test]
    fn duplicates_compare_names_in_data_without_case() {
        let (zone, _) = transfer(
            "@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n@ NS NS1\n\
             srv SRV 1 2 3 Target\nsrv SRV 1 2 3 tARGET\n\
             rp RP Admin.example.com. txt.example.com.\nrp RP admin.example.com. TXT.example.com.\n\
             naptr NAPTR 1 2 \"S\" \"SIP+D2U\" \"\" Sip.example.com.\n\
             naptr NAPTR 1 2 \"S\" \"SIP+D2U\" \"\" sIP.example.com.\n\
             naptr NAPTR 1 2 \"s\" \"SIP+D2U\" \"\" sip.example.com.\n\
             txt TXT Abc\ntxt TXT abc\n",
        )
        .expect("zone loads");
        let count = |owner: &[u8], rtype: u16| zone.record_set(owner, rtype).unwrap().records.len();
        assert_eq!(count(b"\x07example\x03com\x00", rtype::NS), 1);
        assert_eq!(count(b"\x03srv\x07example\x03com\x00", rtype::SRV), 1);
        assert_eq!(count(b"\x02rp\x07example\x03com\x00", 17), 1);
        // The flags are a character string: their case counts.
        assert_eq!(count(b"\x05naptr\x07example\x03com\x00", 35), 2);
        assert_eq!(count(b"\x03txt\x07example\x03com\x00", rtype::TXT), 2);
        assert_eq!(zone.record_count, 8);
    }
}
