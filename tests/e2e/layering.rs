//! The crate's dependency rules hold: every `crate::` path in `src/` (test
//! modules aside) is allowed by the table in `src/lib.rs`, and the modules'
//! imports have no cycle.
//!
//! The table is read from `lib.rs` itself, so the documentation and this
//! check cannot drift apart. A path counts whether it is imported with
//! `use` or written in full in code; comments are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module -> allowed targets (`module` or `module::sub`).
type Rules = BTreeMap<String, BTreeSet<String>>;

/// The rows of the table in `lib.rs`'s crate documentation.
fn rules(lib: &str) -> Rules {
    let mut rules = Rules::new();
    for line in lib.lines() {
        let Some(row) = line.strip_prefix("//! | `") else {
            continue;
        };
        let mut cells = row.split('|');
        let module = cells
            .next()
            .unwrap_or_default()
            .trim()
            .trim_end_matches('`');
        let allowed = cells
            .next()
            .unwrap_or_default()
            .split('`')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        rules.insert(module.to_owned(), allowed);
    }
    rules
}

/// The text of a source file without its comments and its trailing
/// `#[cfg(test)] mod tests`.
fn code(text: &str) -> String {
    let text = match text.find("\n#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string literal would cut a line short; no
            // module path is written after one in this code base.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a` or `crate::a::b` path in `code`, grouped imports
/// (`crate::{a, b::c}`) included, as (`a`, `b` if it is a module name).
fn paths(code: &str) -> BTreeSet<(String, Option<String>)> {
    fn identifier(text: &str) -> &str {
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        &text[..end]
    }
    fn path(text: &str) -> (String, Option<String>) {
        let text = text.trim_start();
        let first = identifier(text);
        let rest = &text[first.len()..];
        let second = rest
            .strip_prefix("::")
            .map(identifier)
            .filter(|second| second.starts_with(|c: char| c.is_ascii_lowercase()));
        (first.to_owned(), second.map(str::to_owned))
    }
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let after = &code[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 1;
            let mut start = 0;
            for (index, character) in group.char_indices() {
                match character {
                    '{' => depth += 1,
                    '}' | ',' if depth == 1 => {
                        found.insert(path(&group[start..index]));
                        start = index + 1;
                        if character == '}' {
                            break;
                        }
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
        } else {
            found.insert(path(after));
        }
    }
    found.retain(|(first, _)| !first.is_empty() && first != "self");
    found
}

fn source_files(directory: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("read src") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            source_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn imports_follow_the_dependency_rules_in_lib_rs() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rules = rules(&std::fs::read_to_string(source.join("lib.rs")).expect("lib.rs"));
    assert!(rules.len() > 10, "the rules table was not found: {rules:?}");
    let mut files = Vec::new();
    source_files(&source, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&source).expect("under src");
        if relative == Path::new("lib.rs") || relative == Path::new("main.rs") {
            continue;
        }
        let module = relative
            .components()
            .next()
            .and_then(|component| component.as_os_str().to_str())
            .expect("a module")
            .trim_end_matches(".rs")
            .to_owned();
        let Some(allowed) = rules.get(&module) else {
            violations.push(format!(
                "{}: module `{module}` has no row",
                relative.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (first, second) in paths(&code(&text)) {
            if first == module {
                continue;
            }
            graph
                .entry(module.clone())
                .or_default()
                .insert(first.clone());
            let with_sub = second.map(|second| format!("{first}::{second}"));
            let ok = allowed.contains(&first)
                || with_sub.as_ref().is_some_and(|path| allowed.contains(path));
            if !ok {
                violations.push(format!(
                    "{}: `{module}` uses `crate::{}`",
                    relative.display(),
                    with_sub.unwrap_or(first)
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports outside the table in src/lib.rs:\n{}",
        violations.join("\n")
    );
    // No cycles: repeatedly remove modules that use nothing left.
    let mut left = graph.clone();
    for module in rules.keys() {
        left.entry(module.clone()).or_default();
    }
    loop {
        let leaves: Vec<String> = left
            .iter()
            .filter(|(_, uses)| uses.iter().all(|used| !left.contains_key(used)))
            .map(|(module, _)| module.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for leaf in leaves {
            left.remove(&leaf);
        }
    }
    assert!(left.is_empty(), "import cycle among {:?}", left.keys());
}

#[test]
fn the_path_reader_sees_grouped_and_nested_imports() {
    let found = paths(&code(
        "use crate::{config::{self, Config}, wire::rtype};\n\
         // crate::admin in a comment\n\
         let x = crate::zone::table::NameTable::new();\n\
         use crate::stats::Counters;",
    ));
    let expected: BTreeSet<(String, Option<String>)> = [
        ("config", None),
        ("wire", Some("rtype")),
        ("zone", Some("table")),
        ("stats", None),
    ]
    .into_iter()
    .map(|(first, second)| (first.to_owned(), second.map(str::to_owned)))
    .collect();
    assert_eq!(found, expected);
}
