//! Writes a zone in RFC 1035 master format, the form transferred zones are
//! kept in on disk, so that [`load_zone`](super::load_zone) reads back the
//! same zone: the same names, sets, TTLs and record data.
//!
//! No `$ORIGIN` or `$TTL`: every owner is absolute and every record carries
//! its TTL and class, one record per line, the apex SOA first. NS, CNAME,
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
    let soa = zone.record_set(&zone.apex, rtype::SOA);
    if let Some(set) = soa {
        write_set(&zone.apex, set, &mut line, out)?;
    }
    for (owner, sets) in &zone.nodes {
        for set in sets {
            if set.rtype == rtype::SOA && *owner == zone.apex {
                continue;
            }
            write_set(owner, set, &mut line, out)?;
        }
    }
    Ok(())
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
        Rdata::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => {
            let _ = write!(
                line,
                "{mnemonic} {} {} {serial} {refresh} {retry} {expire} {minimum}",
                name::display(mname),
                name::display(rname)
            );
        }
        Rdata::Opaque(bytes) => {
            if !write_native(record_type, bytes, line) {
                let _ = write!(line, "{mnemonic} \\# {}", bytes.len());
                if !bytes.is_empty() {
                    line.push(' ');
                    for byte in bytes {
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
