//! Errors found while loading a config file or a zone file.
//!
//! A [`LoadError`] is one problem, located as precisely as we can: the file,
//! the 1-based line when known, and the key (a dotted config key such as
//! `server.udp_payload` or `zone[1].name`, or a zone record such as
//! `www.example.com. CNAME`) when there is one. [`LoadErrors`] carries every
//! problem found in one load, so an operator can fix them all in one pass.
//!
//! Invariants: a [`LoadErrors`] produced by this crate is never empty; lines
//! are 1-based; `key` is empty when the problem concerns the whole file.

use std::fmt;
use std::path::PathBuf;

/// One problem found loading a config or a zone file.
///
/// Names the file, the line (when known), the key or record, and what is
/// wrong. Displays as `FILE:LINE: KEY: MESSAGE`, leaving out `:LINE` when the
/// line is unknown and `KEY: ` when the key is empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// The file the problem is in, as given to the loader.
    pub file: PathBuf,
    /// The 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// The config key (`server.listen`, `zone[0].file`) or zone record
    /// (`www.example.com. CNAME`) at fault; empty for the file as a whole.
    pub key: String,
    /// What is wrong, as a sentence fragment without trailing punctuation.
    pub message: String,
}

impl LoadError {
    /// Builds an error from its parts.
    pub fn new(
        file: impl Into<PathBuf>,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            line,
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(formatter, ":{line}")?;
        }
        formatter.write_str(": ")?;
        if !self.key.is_empty() {
            write!(formatter, "{}: ", self.key)?;
        }
        formatter.write_str(&self.message)
    }
}

/// All the problems found in one load (never empty).
///
/// Displays as one [`LoadError`] per line, in the order found, without a
/// trailing newline.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                formatter.write_str("\n")?;
            }
            write!(formatter, "{error}")?;
        }
        Ok(())
    }
}

impl From<LoadError> for LoadErrors {
    fn from(error: LoadError) -> Self {
        Self(vec![error])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_line_and_key() {
        let error = LoadError::new(
            "/etc/dnslb.toml",
            Some(7),
            "server.udp_payload",
            "out of bounds",
        );
        assert_eq!(
            error.to_string(),
            "/etc/dnslb.toml:7: server.udp_payload: out of bounds"
        );
    }

    #[test]
    fn display_without_line() {
        let error = LoadError::new("dnslb.toml", None, "server.listen", "required");
        assert_eq!(error.to_string(), "dnslb.toml: server.listen: required");
    }

    #[test]
    fn display_without_key() {
        let error = LoadError::new("dnslb.toml", Some(3), "", "unclosed table");
        assert_eq!(error.to_string(), "dnslb.toml:3: unclosed table");
    }

    #[test]
    fn display_without_line_or_key() {
        let error = LoadError::new("dnslb.toml", None, "", "cannot read");
        assert_eq!(error.to_string(), "dnslb.toml: cannot read");
    }

    #[test]
    fn display_with_record_key() {
        let error = LoadError::new(
            "zones/example.com.zone",
            Some(12),
            "www.example.com. CNAME",
            "CNAME and other data",
        );
        assert_eq!(
            error.to_string(),
            "zones/example.com.zone:12: www.example.com. CNAME: CNAME and other data"
        );
    }

    #[test]
    fn errors_display_one_per_line() {
        let errors = LoadErrors(vec![
            LoadError::new("a.toml", Some(1), "server.listen", "first"),
            LoadError::new("a.toml", Some(2), "", "second"),
        ]);
        assert_eq!(
            errors.to_string(),
            "a.toml:1: server.listen: first\na.toml:2: second"
        );
    }
}
