//! Where the files named by a config (zone files, their includes) are read
//! from: the disk, or a table of files compiled into the binary.
//!
//! Invariant: callers resolve a path exactly as they would for the disk
//! (relative to the config file's directory) before asking a [`Source`]; an
//! embedded file is found by comparing that resolved path, component by
//! component, with the embedded file's path.

use std::io;
use std::path::Path;

/// Where the config's files come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// The local file system.
    Disk,
    /// Files compiled into the binary: (path, contents). Paths are compared
    /// after the same relative-to-config resolution as on disk, i.e.
    /// `<embedded>/zones/example.com.zone`.
    Embedded(&'static [(&'static str, &'static str)]),
    /// Files held in memory, (resolved path, contents), compared like
    /// [`Source::Embedded`]'s (for tests and the fuzz targets).
    Memory(std::sync::Arc<[(std::path::PathBuf, String)]>),
}

impl Source {
    /// Reads a whole text file (zone files, includes).
    ///
    /// # Errors
    ///
    /// For [`Source::Disk`], whatever [`std::fs::read_to_string`] returns;
    /// for [`Source::Embedded`], [`io::ErrorKind::NotFound`] when `path`
    /// names no embedded file.
    pub fn read_to_string(&self, path: &Path) -> io::Result<String> {
        match self {
            Source::Disk => std::fs::read_to_string(path),
            Source::Embedded(files) => files
                .iter()
                .find(|(embedded_path, _)| Path::new(embedded_path) == path)
                .map(|(_, contents)| (*contents).to_owned())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{} is not among the embedded files", path.display()),
                    )
                }),
            Source::Memory(files) => files
                .iter()
                .find(|(memory_path, _)| memory_path == path)
                .map(|(_, contents)| contents.clone())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{} is not among the files in memory", path.display()),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILES: &[(&str, &str)] = &[
        ("<embedded>/zones/example.com.zone", "example zone"),
        ("<embedded>/zones/example.net.zone", "other zone"),
    ];

    #[test]
    fn embedded_finds_file_by_resolved_path() {
        let source = Source::Embedded(FILES);
        let path = Path::new("<embedded>").join("zones/example.net.zone");
        assert_eq!(
            source.read_to_string(&path).ok().as_deref(),
            Some("other zone")
        );
    }

    #[test]
    fn embedded_compares_components() {
        let source = Source::Embedded(FILES);
        let path = Path::new("<embedded>/./zones//example.com.zone");
        assert_eq!(
            source.read_to_string(path).ok().as_deref(),
            Some("example zone")
        );
    }

    #[test]
    fn embedded_missing_file_is_not_found() {
        let source = Source::Embedded(FILES);
        let error = source
            .read_to_string(Path::new("<embedded>/zones/missing.zone"))
            .err();
        assert_eq!(
            error.map(|error| error.kind()),
            Some(io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn embedded_does_not_fall_back_to_disk() {
        let source = Source::Embedded(FILES);
        assert!(source.read_to_string(Path::new("Cargo.toml")).is_err());
    }

    #[test]
    fn disk_reads_files() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
        let text = Source::Disk.read_to_string(path);
        assert!(text.is_ok_and(|text| text.contains("[package]")));
    }
}
