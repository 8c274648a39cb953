//! Writes a zone in RFC 1035 master format, the form transferred zones are
//! kept in on disk, so that [`load_zone`](super::load_zone) reads back the
//! same zone: the same names, sets, TTLs and record data.
//!
//! No `$ORIGIN` or `$TTL`: every owner is absolute and every record carries
//! its TTL and class, one record per line, the apex SOA first, then the
//! rest of the apex, then the other names in the zone's order. NS, CNAME,
//! PTR, MX, SOA, A, AAAA, TXT and SRV are written in their usual form;
//! other types in the generic form of RFC 3597 (`TYPE65280 \# 3 abcdef`,
//! `CAA \# 15 ...`), which the zone file parser reads into the same bytes.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use domain::base::iana::Rtype;

use super::load::read_name;
use super::{Rdata, RecordSet, ZoneData};
use crate::wire::{name, rtype};

/// Writes `zone` in master format such that `load_zone` reads back an equal
/// zone (same names, sets, TTLs, record data).
pub fn write_zone(zone: &ZoneData, out: &mut impl Write) -> io::Result<()> {
    let mut line = String::new();
    let apex = zone
        .nodes
        .get(zone.apex.as_slice())
        .map_or(&[][..], |sets| sets.as_slice());
    // The apex SOA, the rest of the apex, then every other name: read back,
    // the apex is the first name, so writing that zone gives the same text.
    let soa_first = apex
        .iter()
        .filter(|set| set.rtype == rtype::SOA)
        .chain(apex.iter().filter(|set| set.rtype != rtype::SOA));
    for set in soa_first {
        write_set(&zone.apex, set, &mut line, out)?;
    }
    // A packed zone is read a name at a time, not unpacked whole.
    zone.nodes.try_for_each(|owner, sets| {
        if owner == zone.apex.as_slice() {
            return Ok(());
        }
        for set in sets {
            write_set(owner, set, &mut line, out)?;
        }
        Ok(())
    })
}

/// Writes `zone` to `path` atomically: into a temporary file in the same
/// directory, synced, renamed over `path`, and the directory synced, so a
/// crash leaves either the old file or the new one.
pub fn save_zone(zone: &ZoneData, path: &Path) -> io::Result<()> {
    static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let Some(file_name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        ));
    };
    let mut temp_name = OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let temp = dir.join(temp_name);
    let written = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        let mut out = BufWriter::new(file);
        write_zone(zone, &mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        // Nothing useful to do if this fails too; the first error says why.
        let _ = fs::remove_file(&temp);
        return written;
    }
    File::open(dir)?.sync_all()
}

/// Writes each record of `set`, one line each, reusing `line`.
fn write_set(
    owner: &[u8],
    set: &RecordSet,
    line: &mut String,
    out: &mut impl Write,
) -> io::Result<()> {
    let owner = name::display(owner);
    for rdata in &set.records {
        line.clear();
        // Writing to a String cannot fail.
        let _ = write!(line, "{owner} {} IN ", set.ttl);
        write_rdata(set.rtype, rdata, line);
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// `TYPE data` for one record.
fn write_rdata(record_type: u16, rdata: &Rdata, line: &mut String) {
    let mnemonic = Rtype::from_int(record_type);
    match rdata {
        Rdata::Name(target) => {
            let _ = write!(line, "{mnemonic} {}", name::display(target));
        }
        Rdata::Mx {
            preference,
            exchange,
        } => {
            let _ = write!(line, "{mnemonic} {preference} {}", name::display(exchange));
        }
        Rdata::Soa(soa) => {
            let _ = write!(
                line,
                "{mnemonic} {} {} {} {} {} {} {}",
                name::display(&soa.mname),
                name::display(&soa.rname),
                soa.serial,
                soa.refresh,
                soa.retry,
                soa.expire,
                soa.minimum
            );
        }
        Rdata::Opaque(bytes) => {
            if !write_native(record_type, bytes, line) {
                let _ = write!(line, "{mnemonic} \\# {}", bytes.len());
                if !bytes.is_empty() {
                    line.push(' ');
                    for byte in bytes.iter() {
                        let _ = write!(line, "{byte:02x}");
                    }
                }
            }
        }
    }
}

/// Writes A, AAAA, TXT and SRV data in their usual form; `false` (and
/// nothing written) for other types and for data that is not well formed.
fn write_native(record_type: u16, bytes: &[u8], line: &mut String) -> bool {
    match record_type {
        rtype::A => {
            let Ok(octets) = <[u8; 4]>::try_from(bytes) else {
                return false;
            };
            let _ = write!(line, "A {}", Ipv4Addr::from(octets));
        }
        rtype::AAAA => {
            let Ok(octets) = <[u8; 16]>::try_from(bytes) else {
                return false;
            };
            let _ = write!(line, "AAAA {}", Ipv6Addr::from(octets));
        }
        rtype::TXT => {
            let Some(strings) = character_strings(bytes) else {
                return false;
            };
            line.push_str("TXT");
            for string in strings {
                line.push(' ');
                quote(string, line);
            }
        }
        rtype::SRV => {
            let Some((numbers, rest)) = bytes.split_first_chunk::<6>() else {
                return false;
            };
            let Some((target, [])) = read_name(rest) else {
                return false;
            };
            let number = |at: usize| u16::from_be_bytes([numbers[at], numbers[at + 1]]);
            let _ = write!(
                line,
                "SRV {} {} {} {}",
                number(0),
                number(2),
                number(4),
                name::display(target)
            );
        }
        _ => return false,
    }
    true
}

/// The character strings (RFC 1035 section 3.3) that make up `bytes`, or
/// `None` when they do not fill it exactly or there are none.
fn character_strings(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut strings = Vec::new();
    let mut rest = bytes;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        strings.push(tail.get(..len)?);
        rest = &tail[len..];
    }
    (!strings.is_empty()).then_some(strings)
}

/// `string` as a quoted character string: `"` and `\` escaped with `\`,
/// bytes outside printable ASCII as `\DDD`.
fn quote(string: &[u8], line: &mut String) {
    line.push('"');
    for &byte in string {
        match byte {
            b'"' | b'\\' => {
                line.push('\\');
                line.push(char::from(byte));
            }
            0x20..=0x7e => line.push(char::from(byte)),
            _ => {
                let _ = write!(line, "\\{byte:03}");
            }
        }
    }
    line.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Source, ZoneConfig};
    use crate::zone::{contents, load_zone};
    use bytes::Bytes;
    use domain::base::Name;
    use std::path::PathBuf;
    use std::str::FromStr;

    fn load(text: String) -> ZoneData {
        let files: &'static [(&'static str, &'static str)] = Box::leak(
            vec![("<test>/zone.db", &*Box::leak(text.into_boxed_str()))].into_boxed_slice(),
        );
        let config = ZoneConfig {
            name: Name::<Bytes>::from_str("example.com.").unwrap(),
            file: PathBuf::from("<test>/zone.db"),
            line: 1,
        };
        match load_zone(&config, &Source::Embedded(files)) {
            Ok((zone, _)) => zone,
            Err(errors) => panic!("zone does not load: {errors:?}"),
        }
    }

    fn written(zone: &ZoneData) -> String {
        let mut out = Vec::new();
        write_zone(zone, &mut out).unwrap();
        String::from_utf8(out).expect("master format is ASCII")
    }

    /// Every kind of record the writer renders, natively or generically.
    const ZONE: &str = r#"$ORIGIN example.com.
$TTL 300
www A 192.0.2.1
@ SOA ns1 Hostmaster.Example.com. 2024010101 7200 900 1209600 60
@ NS ns1
@ NS ns2.example.net.
@ 3600 MX 10 Mail.Example.NET.
ns1 A 192.0.2.53
WWW A 192.0.2.2
www AAAA 2001:db8::1
v4mapped AAAA ::ffff:192.0.2.1
txt TXT "hello world" "with \"quotes\"" back\\slash "semi;colon" "tab\009and\255high" ""
txt TXT "(parens)" "$dollar" "@at"
long TXT "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "b"
_sip._udp SRV 10 5 5060 Sip
_xmpp._tcp SRV 0 0 0 .
@ CAA 0 issue "ca.example; account=1"
@ CAA 128 iodef "mailto:security@example.com"
alias CNAME www
ptr PTR www
*.wild 60 A 192.0.2.9
*.wild TXT "wild card"
sub NS ns.sub
sub NS ns.elsewhere.example.
ns.sub A 192.0.2.10
ns.sub AAAA 2001:db8::10
odd TYPE65280 \# 3 abcdef
empty TYPE65281 \# 0
hinfo HINFO "PC Intel" "Linux 6"
ds DS 12345 13 2 ( 0123456789abcdef0123456789abcdef
                   0123456789abcdef0123456789abcdef )
sshfp SSHFP 4 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
naptr NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp.example.com.
rp RP admin.example.com. txt.example.com.
a\.dotted A 192.0.2.11
sp\032ace A 192.0.2.12
esc\@\$ TXT x
"#;

    #[test]
    fn written_zone_loads_back_equal() {
        let zone = load(ZONE.to_owned());
        let text = written(&zone);
        assert!(
            text.starts_with("example.com. 300 IN SOA ns1.example.com. Hostmaster.Example.com. 2024010101 7200 900 1209600 60\n"),
            "{text}"
        );
        assert!(!text.contains("$ORIGIN"), "{text}");
        assert_eq!(text.lines().count(), zone.record_count, "{text}");
        // The usual forms for the usual types.
        for line in [
            "www.example.com. 300 IN A 192.0.2.1\n",
            "www.example.com. 300 IN AAAA 2001:db8::1\n",
            "example.com. 3600 IN MX 10 Mail.Example.NET.\n",
            "alias.example.com. 300 IN CNAME www.example.com.\n",
            "_sip._udp.example.com. 300 IN SRV 10 5 5060 Sip.example.com.\n",
            "txt.example.com. 300 IN TXT \"hello world\" \"with \\\"quotes\\\"\" \"back\\\\slash\" \"semi;colon\" \"tab\\009and\\255high\" \"\"\n",
            "odd.example.com. 300 IN TYPE65280 \\# 3 abcdef\n",
            "empty.example.com. 300 IN TYPE65281 \\# 0\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        let again = load(text.clone());
        assert_eq!(contents(&again), contents(&zone), "{text}");
        assert_eq!(again.record_count, zone.record_count);
        // Writing what was read back gives the same text.
        assert_eq!(written(&again), text);
    }

    #[test]
    fn saved_zone_replaces_the_file_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("example.com.zone");
        fs::write(&path, "old contents\n").unwrap();
        let zone = load(ZONE.to_owned());
        save_zone(&zone, &path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, written(&zone));
        assert_eq!(contents(&load(text)), contents(&zone));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![OsString::from("example.com.zone")],
            "no temporary file left"
        );
        // A directory that does not exist fails and leaves nothing.
        let missing = dir.path().join("missing").join("zone");
        assert!(save_zone(&zone, &missing).is_err());
        assert!(!missing.exists());
    }
}
