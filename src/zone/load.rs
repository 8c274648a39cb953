//! Reads a zone file (RFC 1035 master format: `$ORIGIN`, `$TTL`,
//! `$INCLUDE`) with `domain`'s zonefile parser and checks it.
//!
//! Errors name the file, the line and the record (`www.example.com. CNAME`):
//! a record outside the zone, a zone without exactly one SOA at its apex or
//! without NS there, a CNAME beside other data or two CNAMEs at one name,
//! a class other than IN, and record types we cannot serve correctly
//! (DNAME). Duplicate records are merged; an RRset whose records disagree
//! on TTL takes the smallest and gets a warning (RFC 2181 section 5.2).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use domain::base::iana::{Class, Rtype};
use domain::base::name::{Name, ToName};
use domain::base::rdata::ComposeRecordData;
use domain::rdata::ZoneRecordData;
use domain::zonefile::inplace::{Entry, ScannedRecord, Zonefile};

use super::{Location, Nodes, Rdata, RecordSet, ZoneData};
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
    let apex = name::to_lowercase(config.name.as_slice());
    let mut loader = Loader {
        source,
        apex,
        files: Vec::new(),
        nodes: Nodes::default(),
        record_count: 0,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let origin: Name<Bytes> = config.name.clone();
    loader.read_file(&config.file, origin, 0);
    if loader.errors.is_empty() {
        loader.check();
    }
    if !loader.errors.is_empty() {
        return Err(LoadErrors(loader.errors));
    }
    let zone = ZoneData {
        apex: loader.apex,
        files: loader.files,
        nodes: loader.nodes,
        record_count: loader.record_count,
    };
    Ok((zone, loader.warnings))
}

struct Loader<'a> {
    source: &'a Source,
    apex: Vec<u8>,
    files: Vec<PathBuf>,
    /// Record sets by lowercase owner.
    nodes: Nodes,
    record_count: usize,
    errors: Vec<LoadError>,
    warnings: Vec<Warning>,
}

/// `www.example.com. CNAME`: how errors name a record.
fn record_key(owner: &[u8], rtype: u16) -> String {
    format!("{} {}", name::display(owner), Rtype::from_int(rtype))
}

/// Pushes `value` onto a vector that is usually tiny (the record sets of a
/// name, the records of a set), growing it one slot at a time up to
/// [`SMALL_VEC_EXACT_UP_TO`] and by doubling after that. `Vec::push` would
/// make room for four on the first growth: for a million names of one or two
/// record sets that was about 90 MB of the load's peak (benches/scale.sh).
fn push_small<T>(vec: &mut Vec<T>, value: T) {
    if vec.len() == vec.capacity() && vec.len() < SMALL_VEC_EXACT_UP_TO {
        vec.reserve_exact(1);
    }
    vec.push(value);
}

/// Below this length [`push_small`] grows a vector one slot at a time.
const SMALL_VEC_EXACT_UP_TO: usize = 4;

fn wire_name(name: &impl ToName) -> Vec<u8> {
    name.to_vec().into_octets()
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

impl Loader<'_> {
    fn error(&mut self, location: Option<Location>, key: String, message: String) {
        let (file, line) = match location {
            Some(location) => (self.files[location.file].clone(), Some(location.line)),
            None => (self.files.first().cloned().unwrap_or_default(), None),
        };
        self.errors.push(LoadError {
            file,
            line,
            key,
            message,
        });
    }

    fn read_file(&mut self, path: &Path, origin: Name<Bytes>, depth: usize) {
        let text = match self.source.read_to_string(path) {
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
                Some(Location { file, line }),
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
            self.scan(&mut zonefile, &mut lines, file, path, depth)
        }));
        if scanned.is_err() {
            self.error(
                Some(Location {
                    file,
                    line: lines.line_before(zonefile.current_offset()),
                }),
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
        zonefile: &mut Zonefile,
        lines: &mut LineCounter<'_>,
        file: usize,
        path: &Path,
        depth: usize,
    ) {
        loop {
            let entry = zonefile.next_entry();
            let line = lines.line_before(zonefile.current_offset());
            let location = Location { file, line };
            match entry {
                Ok(None) => break,
                Ok(Some(Entry::Record(record))) => self.add(record, location),
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
                    self.read_file(&included, origin, depth + 1);
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
                    let location = line.map(|line| Location { file, line });
                    self.error(location, String::new(), format!("syntax error: {message}"));
                    break;
                }
            }
        }
    }

    fn add(&mut self, record: ScannedRecord, location: Location) {
        let mut owner = wire_name(record.owner());
        owner.make_ascii_lowercase();
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
            return;
        }
        if record.class() != Class::IN {
            self.error(
                Some(location),
                key(),
                format!("class {} is not served; only IN", record.class()),
            );
            return;
        }
        let rdata = match record.data() {
            ZoneRecordData::Ns(ns) => Rdata::Name(wire_name(ns.nsdname())),
            ZoneRecordData::Cname(cname) => Rdata::Name(wire_name(cname.cname())),
            ZoneRecordData::Ptr(ptr) => Rdata::Name(wire_name(ptr.ptrdname())),
            ZoneRecordData::Mx(mx) => Rdata::Mx {
                preference: mx.preference(),
                exchange: wire_name(mx.exchange()),
            },
            ZoneRecordData::Soa(soa) => Rdata::Soa {
                mname: wire_name(soa.mname()),
                rname: wire_name(soa.rname()),
                serial: soa.serial().into_int(),
                refresh: soa.refresh().as_secs(),
                retry: soa.retry().as_secs(),
                expire: soa.expire().as_secs(),
                minimum: soa.minimum().as_secs(),
            },
            ZoneRecordData::Dname(_) => {
                self.error(
                    Some(location),
                    key(),
                    "DNAME is not supported (its answers need name substitution)".into(),
                );
                return;
            }
            other => {
                let mut bytes = Vec::new();
                if other.compose_rdata(&mut bytes).is_err() {
                    self.error(Some(location), key(), "record data does not compose".into());
                    return;
                }
                Rdata::Opaque(bytes)
            }
        };
        if let Rdata::Opaque(bytes) = &rdata {
            if bytes.len() > usize::from(u16::MAX) {
                self.error(
                    Some(location),
                    key(),
                    "record data longer than 65535 bytes".into(),
                );
                return;
            }
        }
        let ttl = record.ttl().as_secs();
        let Some(sets) = self.nodes.get_mut(&owner) else {
            let set = RecordSet {
                rtype: record_type,
                ttl,
                records: vec![rdata],
                location,
            };
            self.nodes.insert(owner, vec![set]);
            self.record_count += 1;
            return;
        };
        match sets.iter_mut().find(|set| set.rtype == record_type) {
            Some(set) => {
                if set.records.contains(&rdata) {
                    return; // RFC 2181 section 5: duplicates are one record.
                }
                if set.ttl != ttl {
                    self.warnings.push(Warning {
                        file: self.files[location.file].clone(),
                        line: Some(location.line),
                        message: format!(
                            "{}: TTL {ttl} differs from {} earlier in the RRset; using the smaller",
                            key(),
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
                    records: vec![rdata],
                    location,
                },
            ),
        }
        self.record_count += 1;
    }

    /// Whole-zone rules, checked once every record is in.
    fn check(&mut self) {
        let apex = self.apex.clone();
        let mut problems: Vec<(Option<Location>, String, String)> = Vec::new();
        match self
            .nodes
            .get(&apex)
            .and_then(|sets| sets.iter().find(|set| set.rtype == rtype::SOA))
        {
            None => problems.push((
                None,
                record_key(&apex, rtype::SOA),
                "the zone has no SOA record at its apex".into(),
            )),
            Some(set) if set.records.len() > 1 => problems.push((
                Some(set.location),
                record_key(&apex, rtype::SOA),
                "the zone has more than one SOA record".into(),
            )),
            Some(_) => {}
        }
        if self
            .nodes
            .get(&apex)
            .is_none_or(|sets| !sets.iter().any(|set| set.rtype == rtype::NS))
        {
            problems.push((
                None,
                record_key(&apex, rtype::NS),
                "the zone has no NS records at its apex".into(),
            ));
        }
        for (owner, sets) in &self.nodes {
            for set in sets {
                if set.rtype == rtype::SOA && *owner != apex {
                    problems.push((
                        Some(set.location),
                        record_key(owner, rtype::SOA),
                        "SOA record is not at the zone apex".into(),
                    ));
                }
            }
            let Some(cname) = sets.iter().find(|set| set.rtype == rtype::CNAME) else {
                continue;
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
                let (first, second) = if other.location.file == cname.location.file
                    && other.location.line > cname.location.line
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
                        self.files[first.location.file].display()
                    ),
                ));
            }
        }
        // In file order, whatever order the names are held in.
        problems
            .sort_by_key(|(location, key, _)| (location.map(|at| (at.file, at.line)), key.clone()));
        for (location, key, message) in problems {
            self.error(location, key, message);
        }
    }
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
}
