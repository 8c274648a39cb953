//! The queries to send: domain names in wire format, query types by mnemonic, and
//! the dnsperf-format query file (`name TYPE` per line).
//!
//! Invariants: a [`Query`]'s name is a valid uncompressed wire-format name (labels
//! of 1 to 63 bytes, at most 255 bytes in all, ending with the root label); a query
//! file yields at least one query, and every rejected line is reported as
//! `FILE:LINE: message`.

use std::path::Path;

use anyhow::{Context, bail};

/// One question: a name and a type, class IN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The name in uncompressed wire format.
    pub name: Vec<u8>,
    /// The query type (RR type number).
    pub qtype: u16,
}

/// Query types known by mnemonic (RFC 1035, 3596, 2782, 4034, 5155, 6698, 6844,
/// 9460 and friends); any other is written `TYPEn` (RFC 3597).
const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("HINFO", 13),
    ("MX", 15),
    ("TXT", 16),
    ("RP", 17),
    ("AFSDB", 18),
    ("SIG", 24),
    ("KEY", 25),
    ("AAAA", 28),
    ("LOC", 29),
    ("SRV", 33),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("DNAME", 39),
    ("OPT", 41),
    ("APL", 42),
    ("DS", 43),
    ("SSHFP", 44),
    ("IPSECKEY", 45),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("DHCID", 49),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("SMIMEA", 53),
    ("HIP", 55),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("SPF", 99),
    ("EUI48", 108),
    ("EUI64", 109),
    ("TKEY", 249),
    ("TSIG", 250),
    ("IXFR", 251),
    ("AXFR", 252),
    ("ANY", 255),
    ("URI", 256),
    ("CAA", 257),
];

/// The type number of `text`: a mnemonic (any case) or `TYPEn`.
pub fn parse_type(text: &str) -> Option<u16> {
    if let Some(&(_, number)) = TYPES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
    {
        return Some(number);
    }
    let prefix = text.get(..4)?;
    if !prefix.eq_ignore_ascii_case("TYPE") {
        return None;
    }
    let digits = &text[4..];
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Encodes the presentation-format `text` (absolute or not: it is always taken as
/// absolute; `.` is the root) as an uncompressed wire-format name. Supports the
/// `\X` and `\DDD` escapes of RFC 1035 section 5.1.
pub fn encode_name(text: &str) -> Result<Vec<u8>, String> {
    if text.is_empty() {
        return Err("empty name".into());
    }
    let mut wire = Vec::with_capacity(text.len() + 2);
    if text == "." {
        wire.push(0);
        return Ok(wire);
    }
    let bytes = text.as_bytes();
    let mut label_start = 0;
    wire.push(0);
    let mut index = 0;
    let mut ended_with_dot = false;
    while index < bytes.len() {
        ended_with_dot = false;
        let byte = bytes[index];
        match byte {
            b'.' => {
                close_label(&mut wire, label_start)?;
                label_start = wire.len();
                wire.push(0);
                ended_with_dot = true;
                index += 1;
            }
            b'\\' => {
                let rest = &bytes[index + 1..];
                let digits = rest
                    .iter()
                    .take(3)
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits == 3 {
                    let value: u32 = rest[..3]
                        .iter()
                        .fold(0, |value, digit| value * 10 + u32::from(digit - b'0'));
                    let value =
                        u8::try_from(value).map_err(|_| format!("bad escape in name {text:?}"))?;
                    wire.push(value);
                    index += 4;
                } else if digits == 0 && !rest.is_empty() {
                    wire.push(rest[0]);
                    index += 2;
                } else {
                    return Err(format!("bad escape in name {text:?}"));
                }
            }
            byte if byte.is_ascii_whitespace() || byte.is_ascii_control() => {
                return Err(format!("unexpected character in name {text:?}"));
            }
            byte => {
                wire.push(byte);
                index += 1;
            }
        }
    }
    if ended_with_dot {
        // The label opened after the final dot stays empty: it is the root.
        wire.pop();
    } else {
        close_label(&mut wire, label_start)?;
    }
    wire.push(0);
    if wire.len() > 255 {
        return Err(format!("name {text:?} is longer than 255 bytes"));
    }
    Ok(wire)
}

/// Writes the length byte of the label that starts (length byte included) at
/// `label_start` in `wire`.
fn close_label(wire: &mut [u8], label_start: usize) -> Result<(), String> {
    let length = wire.len() - label_start - 1;
    if length == 0 {
        return Err("empty label in name".into());
    }
    wire[label_start] = u8::try_from(length)
        .ok()
        .filter(|&length| length <= 63)
        .ok_or_else(|| "label longer than 63 bytes in name".to_string())?;
    Ok(())
}

/// One query from a name and a type mnemonic (`--qname` / `--qtype`).
pub fn single(name: &str, qtype: &str) -> anyhow::Result<Query> {
    let name = encode_name(name).map_err(anyhow::Error::msg)?;
    let Some(qtype) = parse_type(qtype) else {
        bail!("unknown query type {qtype:?}");
    };
    Ok(Query { name, qtype })
}

/// Reads a dnsperf-format query file: one `name TYPE` per line (the type defaults
/// to A when absent), blank lines and lines starting with `#` or `;` skipped.
pub fn read_file(path: &Path) -> anyhow::Result<Vec<Query>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read query file {}", path.display()))?;
    parse_file(&text, &path.display().to_string())
}

/// Parses the text of a query file named `source` (used in error messages).
pub fn parse_file(text: &str, source: &str) -> anyhow::Result<Vec<Query>> {
    let mut queries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line_number = number + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let name = fields.next().unwrap_or_default();
        let qtype = fields.next().unwrap_or("A");
        if let Some(extra) = fields.next() {
            bail!("{source}:{line_number}: unexpected {extra:?} after the query type");
        }
        let name = encode_name(name)
            .map_err(|error| anyhow::anyhow!("{source}:{line_number}: {error}"))?;
        let Some(qtype) = parse_type(qtype) else {
            bail!("{source}:{line_number}: unknown query type {qtype:?}");
        };
        queries.push(Query { name, qtype });
    }
    if queries.is_empty() {
        bail!("{source}: no queries in the file");
    }
    Ok(queries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_encode_to_wire_format() {
        assert_eq!(
            encode_name("www.example.com").unwrap(),
            b"\x03www\x07example\x03com\x00"
        );
        assert_eq!(
            encode_name("www.example.com.").unwrap(),
            b"\x03www\x07example\x03com\x00"
        );
        assert_eq!(encode_name(".").unwrap(), b"\x00");
        assert_eq!(encode_name("a\\.b.c").unwrap(), b"\x03a.b\x01c\x00");
        assert_eq!(encode_name("\\065x").unwrap(), b"\x02Ax\x00");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(encode_name("").is_err());
        assert!(encode_name("a..b").is_err());
        assert!(encode_name(".a").is_err());
        assert!(encode_name(&"x".repeat(64)).is_err());
        assert!(encode_name(&["abcdefghi"; 30].join(".")).is_err());
        assert!(encode_name("bad\\999").is_err());
        assert!(encode_name("trailing\\").is_err());
    }

    #[test]
    fn types_by_mnemonic_and_number() {
        assert_eq!(parse_type("A"), Some(1));
        assert_eq!(parse_type("aaaa"), Some(28));
        assert_eq!(parse_type("HTTPS"), Some(65));
        assert_eq!(parse_type("TYPE65280"), Some(65280));
        assert_eq!(parse_type("TYPE"), None);
        assert_eq!(parse_type("TYPE70000"), None);
        assert_eq!(parse_type("BOGUSTYPE"), None);
    }

    #[test]
    fn query_file_skips_comments_and_blank_lines() {
        let text = "# comment\n\nwww.example.com A\n; other comment\n  mail.example.com   MX  \nbare.example.com\n";
        let queries = parse_file(text, "q.txt").unwrap();
        assert_eq!(queries.len(), 3);
        assert_eq!(queries[0].qtype, 1);
        assert_eq!(queries[1].qtype, 15);
        assert_eq!(queries[1].name, encode_name("mail.example.com").unwrap());
        assert_eq!(queries[2].qtype, 1);
    }

    #[test]
    fn query_file_errors_name_the_line() {
        let error = parse_file(
            "a.example A\nb.example AAAA\nwww.example.com BOGUSTYPE\n",
            "q.txt",
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("q.txt:3: "), "{error}");
        let error = parse_file("a..b A\n", "q.txt").unwrap_err().to_string();
        assert!(error.starts_with("q.txt:1: "), "{error}");
        let error = parse_file("a A extra\n", "q.txt").unwrap_err().to_string();
        assert!(error.starts_with("q.txt:1: "), "{error}");
        let error = parse_file("# only comments\n", "q.txt")
            .unwrap_err()
            .to_string();
        assert!(error.contains("no queries"), "{error}");
    }
}
