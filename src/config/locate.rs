//! Turning byte offsets in the config text into what an operator reads: a
//! 1-based line number and the dotted key at that offset.
//!
//! Invariants: lines are 1-based and an offset past the end of the text maps
//! to the last line; key paths use `.` between table keys and `[i]`
//! (0-based) for entries of an array of tables, e.g. `zone[1].name`, and
//! never index into arrays of plain values (`server.listen`, not
//! `server.listen[2]`).

use toml::de::{DeTable, DeValue};

/// Maps byte offsets in one text to 1-based line numbers.
#[derive(Debug)]
pub(super) struct LineIndex {
    /// Byte offset at which each line starts; the first is always 0.
    line_starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the line starts of `text`.
    pub(super) fn new(text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(
                text.bytes()
                    .enumerate()
                    .filter(|(_, byte)| *byte == b'\n')
                    .map(|(offset, _)| offset + 1),
            )
            .collect();
        Self { line_starts }
    }

    /// The 1-based line holding the byte at `offset`.
    pub(super) fn line(&self, offset: usize) -> usize {
        // Counts the line starts at or before `offset`; at least one (the
        // start at 0), so the result is already 1-based.
        self.line_starts
            .partition_point(|&line_start| line_start <= offset)
    }
}

/// The dotted key path at byte `offset` of `text`, if the text is valid TOML
/// and the offset falls on a key or a value.
///
/// Used to name the key of errors reported by `toml::from_str`, which keeps
/// its own key path private.
pub(super) fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let document = DeTable::parse(text).ok()?;
    key_path_in_table(document.get_ref(), offset, "")
}

/// Searches `table`, whose own path is `prefix`, for the key or value at
/// `offset`.
fn key_path_in_table(table: &DeTable<'_>, offset: usize, prefix: &str) -> Option<String> {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        if span_holds(&key.span(), offset) {
            return Some(path);
        }
        // A table's own span is only its header; look inside it.
        match value.get_ref() {
            DeValue::Table(inner) => {
                if let Some(found) = key_path_in_table(inner, offset, &path) {
                    return Some(found);
                }
            }
            DeValue::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let DeValue::Table(inner) = item.get_ref() {
                        let item_path = format!("{path}[{index}]");
                        if let Some(found) = key_path_in_table(inner, offset, &item_path) {
                            return Some(found);
                        }
                        if span_holds(&item.span(), offset) {
                            return Some(item_path);
                        }
                    }
                }
            }
            _ => {}
        }
        if span_holds(&value.span(), offset) {
            return Some(path);
        }
    }
    None
}

/// The dotted path of a key that `text` defines twice, given the span of
/// the second definition (as reported by the TOML parser, which names
/// neither the table nor the full key).
///
/// For a repeated table header the path is the header's name; otherwise it
/// is the path of the header-defined table in effect there, joined with the
/// key as written before `=` on that line (which may itself be dotted).
pub(super) fn duplicate_key_path(text: &str, span: &std::ops::Range<usize>) -> Option<String> {
    let line_start = text
        .get(..span.start)?
        .rfind('\n')
        .map_or(0, |newline| newline + 1);
    let line_end = text
        .get(span.start..)?
        .find('\n')
        .map_or(text.len(), |newline| span.start + newline);
    let line = text.get(line_start..line_end)?.trim();
    if line.starts_with('[') {
        let header = line.split('#').next().unwrap_or_default();
        let name = header.trim().trim_matches(|c: char| c == '[' || c == ']');
        return Some(name.trim().to_owned());
    }
    let key = line.split('=').next().unwrap_or_default().trim();
    if key.is_empty() {
        return None;
    }
    let (document, _) = DeTable::parse_recoverable(text);
    let mut enclosing = (0, String::new());
    find_enclosing_header(document.get_ref(), text, span.start, "", &mut enclosing);
    Some(if enclosing.1.is_empty() {
        key.to_owned()
    } else {
        format!("{}.{key}", enclosing.1)
    })
}

/// Updates `best` (header offset, path) with the last table header in
/// `table` (whose own path is `prefix`) that starts at or before `offset`.
fn find_enclosing_header(
    table: &DeTable<'_>,
    text: &str,
    offset: usize,
    prefix: &str,
    best: &mut (usize, String),
) {
    // A header starts its line; inline arrays and tables follow a `=`.
    let is_header_before_offset = |span: &std::ops::Range<usize>| {
        span.start <= offset
            && text
                .get(..span.start)
                .map(|before| before.rsplit('\n').next().unwrap_or_default())
                .is_some_and(|indent| indent.trim().is_empty())
            && text
                .get(span.start..)
                .is_some_and(|rest| rest.starts_with('['))
    };
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        match value.get_ref() {
            DeValue::Table(inner) => {
                if is_header_before_offset(&value.span()) && value.span().start >= best.0 {
                    *best = (value.span().start, path.clone());
                }
                find_enclosing_header(inner, text, offset, &path, best);
            }
            DeValue::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let DeValue::Table(inner) = item.get_ref() {
                        let item_path = format!("{path}[{index}]");
                        if is_header_before_offset(&item.span()) && item.span().start >= best.0 {
                            *best = (item.span().start, item_path.clone());
                        }
                        find_enclosing_header(inner, text, offset, &item_path, best);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether `offset` falls within `span` (an empty span holds its start).
fn span_holds(span: &std::ops::Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.is_empty() && span.start == offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let index = LineIndex::new("a\nbc\n\nd");
        assert_eq!(index.line(0), 1);
        assert_eq!(index.line(1), 1); // the newline ends line 1
        assert_eq!(index.line(2), 2);
        assert_eq!(index.line(5), 3);
        assert_eq!(index.line(6), 4);
        assert_eq!(index.line(1000), 4);
    }

    #[test]
    fn empty_text_has_line_one() {
        assert_eq!(LineIndex::new("").line(0), 1);
    }

    #[test]
    fn key_paths() {
        let text = "[server]\nlisten = [\n  \"a\",\n  \"b\",\n]\nworkers = 4\n\
                    [[zone]]\nname = \"x\"\n[[zone]]\nname = \"y\"\nfile = \"f\"\n";
        let at = |needle: &str| {
            let offset = text.find(needle).unwrap_or(usize::MAX);
            key_path_at(text, offset)
        };
        assert_eq!(at("server").as_deref(), Some("server"));
        assert_eq!(at("\"b\"").as_deref(), Some("server.listen"));
        assert_eq!(at("4").as_deref(), Some("server.workers"));
        assert_eq!(at("\"y\"").as_deref(), Some("zone[1].name"));
        assert_eq!(at("file").as_deref(), Some("zone[1].file"));
        assert_eq!(key_path_at(text, text.len() + 10), None);
    }

    #[test]
    fn key_paths_in_inline_and_dotted_tables() {
        let text = "server = { workers = 2 }\nzone = [{ name = \"x\" }]\n";
        let offset = |needle: &str| text.find(needle).unwrap_or(usize::MAX);
        assert_eq!(
            key_path_at(text, offset("2")).as_deref(),
            Some("server.workers")
        );
        assert_eq!(
            key_path_at(text, offset("\"x\"")).as_deref(),
            Some("zone[0].name")
        );
        let dotted = "server.workers = 2\n";
        assert_eq!(
            key_path_at(dotted, dotted.find('2').unwrap_or(usize::MAX)).as_deref(),
            Some("server.workers")
        );
    }

    #[test]
    fn duplicate_key_paths() {
        let path = |text: &str, needle: &str| {
            let start = text.rfind(needle).unwrap_or_default();
            duplicate_key_path(text, &(start..start + needle.len()))
        };
        let text = "[server]\nlisten = 1\nlisten = 2\n";
        assert_eq!(path(text, "listen").as_deref(), Some("server.listen"));
        let text = "[server]\na = 1\n[server]\nb = 2\n";
        assert_eq!(path(text, "server").as_deref(), Some("server"));
        let text = "[[zone]]\nname = 1\n[[zone]]\nname = 2\nname = 3\n";
        assert_eq!(path(text, "name").as_deref(), Some("zone[1].name"));
        let text = "zone = [{ name = 1 }]\na.b = 1\na.b = 2\n";
        assert_eq!(path(text, "b").as_deref(), Some("a.b"));
    }

    #[test]
    fn invalid_toml_has_no_key_path() {
        assert_eq!(key_path_at("[server\n", 7), None);
    }
}
