//! Helpers over uncompressed wire-format domain names (`3www7example3com0`).
//!
//! Every function here takes a name that is already known to be well formed
//! (checked by `domain` at the edge or built by us), and never panics on one.

/// Longest wire-format name (RFC 1035 section 3.1).
pub const MAX_NAME_LEN: usize = 255;

/// The root name in wire format.
pub const ROOT: &[u8] = &[0];

/// Writes `name` lowercased (ASCII only, as DNS compares names) into `out`
/// and returns its length. `out` must be at least `name.len()` long.
pub fn lowercase_into(name: &[u8], out: &mut [u8]) -> usize {
    let len = name.len().min(out.len());
    for (dst, src) in out[..len].iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    len
}

/// Returns `name` with ASCII letters lowercased (off the fast path).
pub fn to_lowercase(name: &[u8]) -> Vec<u8> {
    name.to_ascii_lowercase()
}

/// The name one label up, or `None` for the root.
pub fn parent(name: &[u8]) -> Option<&[u8]> {
    let first = usize::from(*name.first()?);
    if first == 0 {
        return None;
    }
    name.get(1 + first..)
}

/// Number of labels, not counting the root label.
pub fn label_count(name: &[u8]) -> usize {
    let mut count = 0;
    let mut rest = name;
    while let Some(parent) = parent(rest) {
        count += 1;
        rest = parent;
    }
    count
}

/// Whether `name` equals `ancestor` or lies below it. Both lowercase.
pub fn is_at_or_below(name: &[u8], ancestor: &[u8]) -> bool {
    let mut rest = name;
    loop {
        if rest == ancestor {
            return true;
        }
        match parent(rest) {
            Some(parent) => rest = parent,
            None => return false,
        }
    }
}

/// Whether the first label is `*` (a wildcard owner, RFC 4592).
pub fn is_wildcard(name: &[u8]) -> bool {
    name.len() >= 2 && name[0] == 1 && name[1] == b'*'
}

/// `*.<name>` in wire format.
pub fn wildcard_child(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    out.extend_from_slice(&[1, b'*']);
    out.extend_from_slice(name);
    out
}

/// Presentation format (`www.example.com.`), for messages and logs.
pub fn display(name: &[u8]) -> String {
    if name == ROOT {
        return ".".to_owned();
    }
    let mut out = String::new();
    let mut rest = name;
    while let Some(&len) = rest.first() {
        if len == 0 {
            break;
        }
        let len = usize::from(len);
        let Some(label) = rest.get(1..1 + len) else {
            break;
        };
        for &byte in label {
            match byte {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    out.push('\\');
                    out.push(char::from(byte));
                }
                0x21..=0x7e => out.push(char::from(byte)),
                _ => out.push_str(&format!("\\{byte:03}")),
            }
        }
        out.push('.');
        rest = &rest[1 + len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const WWW: &[u8] = b"\x03www\x07example\x03com\x00";
    const EXAMPLE: &[u8] = b"\x07example\x03com\x00";

    #[test]
    fn parent_walks_up_to_root() {
        assert_eq!(parent(WWW), Some(EXAMPLE));
        assert_eq!(parent(b"\x03com\x00"), Some(ROOT));
        assert_eq!(parent(ROOT), None);
        assert_eq!(label_count(WWW), 3);
        assert_eq!(label_count(ROOT), 0);
    }

    #[test]
    fn at_or_below_matches_whole_labels_only() {
        assert!(is_at_or_below(WWW, EXAMPLE));
        assert!(is_at_or_below(EXAMPLE, EXAMPLE));
        assert!(is_at_or_below(WWW, ROOT));
        assert!(!is_at_or_below(EXAMPLE, WWW));
        // "xample.com" is a byte suffix of "example.com" but not a label suffix.
        assert!(!is_at_or_below(EXAMPLE, b"\x06xample\x03com\x00"));
    }

    #[test]
    fn lowercase_keeps_length_and_non_letters() {
        let mut out = [0u8; MAX_NAME_LEN];
        let len = lowercase_into(b"\x03WwW\x02A-\x00", &mut out);
        assert_eq!(&out[..len], b"\x03www\x02a-\x00");
    }

    #[test]
    fn display_escapes() {
        assert_eq!(display(WWW), "www.example.com.");
        assert_eq!(display(ROOT), ".");
        assert_eq!(display(b"\x03a.b\x01\x07\x00"), "a\\.b.\\007.");
        assert!(is_wildcard(&wildcard_child(EXAMPLE)));
    }
}
