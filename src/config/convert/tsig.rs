//! Converts the `[[tsig]]` entries into [`TsigKeyConfig`]s: the keys that
//! sign SOA queries and transfers and authenticate NOTIFY; a secondary
//! `[[zone]]` or a `[[catalog]]` names one in its `tsig` key.
//!
//! Checks: `name` is required and a domain name (made absolute and
//! lowercase), distinct among keys; `algorithm` is required and one of
//! [`Algorithm::ALL`]'s names; exactly one of `secret` (base64) and
//! `secret_file` (a file holding the base64 text, read through the config's
//! [`Source`] relative to the config file's directory, surrounding
//! whitespace trimmed) is given, and the secret decodes to
//! 1..=[`TSIG_SECRET_MAX_BYTES`] bytes. Errors never quote a secret.

use std::ops::Range;
use std::path::Path;

use base64::Engine as _;
use bytes::Bytes;
use domain::base::Name;
use toml::Spanned;

use super::super::TsigKeyConfig;
use super::super::raw::RawTsig;
use super::super::source::Source;
use super::{Checker, absolute};
use crate::wire::tsig::Algorithm;

/// Longest secret a `[[tsig]]` key may have, in bytes once decoded (far
/// above the 64 bytes of an HMAC-SHA512 key from `tsig-keygen` or
/// `keymgr`).
pub const TSIG_SECRET_MAX_BYTES: usize = 512;

impl Checker<'_> {
    /// Converts every `[[tsig]]` entry (reading `secret_file`s through
    /// `source`), keeping those without errors; also returns every valid
    /// name in order, even of entries with other errors, for `tsig` keys to
    /// refer to (their index is the key's in [`Config::tsig_keys`] when
    /// there is no error).
    ///
    /// [`Config::tsig_keys`]: super::super::Config::tsig_keys
    pub(super) fn tsig_keys(
        &mut self,
        raw: Vec<Spanned<RawTsig>>,
        source: &Source,
    ) -> (Vec<TsigKeyConfig>, Vec<Name<Bytes>>) {
        let mut keys: Vec<TsigKeyConfig> = Vec::with_capacity(raw.len());
        let mut names: Vec<(Name<Bytes>, usize)> = Vec::with_capacity(raw.len());
        for (index, entry) in raw.into_iter().enumerate() {
            let header = entry.span();
            let entry = entry.into_inner();
            let name = self.tsig_name(index, &header, entry.name, &names);
            if let Some(name) = &name {
                names.push(name.clone());
            }
            let algorithm = self.tsig_algorithm(index, &header, entry.algorithm);
            let secret = self.tsig_secret(index, &header, entry.secret, entry.secret_file, source);
            if let (Some((name, line)), Some(algorithm), Some(secret)) = (name, algorithm, secret) {
                keys.push(TsigKeyConfig {
                    name,
                    algorithm,
                    secret,
                    line,
                });
            }
        }
        (keys, names.into_iter().map(|(name, _)| name).collect())
    }

    /// Converts `tsig[index].name`: required, a domain name distinct from
    /// the `earlier` names (with their lines). Returns it with its line.
    fn tsig_name(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<Spanned<String>>,
        earlier: &[(Name<Bytes>, usize)],
    ) -> Option<(Name<Bytes>, usize)> {
        let key = format!("tsig[{index}].name");
        let raw = self.required(
            raw,
            Some(header),
            &key,
            "the key's name, as the primary knows it, e.g. \"xfr-key\"",
        )?;
        let name = self.domain_name_at(&raw, &key)?;
        if let Some((_, first_line)) = earlier.iter().find(|(seen, _)| *seen == name) {
            let first_line = *first_line;
            self.error(
                Some(&raw.span()),
                &key,
                format!(
                    "duplicate key {} (already defined on line {first_line})",
                    absolute(&name)
                ),
            );
            return None;
        }
        Some((name, self.line(&raw.span())))
    }

    /// Converts `tsig[index].algorithm`: required, one of
    /// [`Algorithm::ALL`]'s names (letter case does not matter).
    fn tsig_algorithm(
        &mut self,
        index: usize,
        header: &Range<usize>,
        raw: Option<Spanned<String>>,
    ) -> Option<Algorithm> {
        let key = format!("tsig[{index}].algorithm");
        let names: Vec<&str> = Algorithm::ALL
            .iter()
            .map(|algorithm| algorithm.name())
            .collect();
        let raw = self.required(raw, Some(header), &key, &names.join(", "))?;
        let text = raw.get_ref();
        let algorithm = Algorithm::from_name(text);
        if algorithm.is_none() {
            self.error(
                Some(&raw.span()),
                &key,
                format!(
                    "{text:?} is not a TSIG algorithm dnslb knows: write one of {}",
                    names.join(", ")
                ),
            );
        }
        algorithm
    }

    /// Converts the secret: exactly one of `tsig[index].secret` and
    /// `tsig[index].secret_file` (read through `source`), decoded from
    /// base64.
    fn tsig_secret(
        &mut self,
        index: usize,
        header: &Range<usize>,
        secret: Option<Spanned<String>>,
        secret_file: Option<Spanned<String>>,
        source: &Source,
    ) -> Option<Vec<u8>> {
        let secret_key = format!("tsig[{index}].secret");
        let file_key = format!("tsig[{index}].secret_file");
        match (secret, secret_file) {
            (Some(_), Some(file)) => {
                self.error(
                    Some(&file.span()),
                    &file_key,
                    "give either secret or secret_file, not both",
                );
                None
            }
            (None, None) => {
                self.error(
                    Some(header),
                    &secret_key,
                    "required: secret, the key in base64, or secret_file, the path of a file \
                     holding it",
                );
                None
            }
            (Some(secret), None) => match decode_secret(secret.get_ref()) {
                Ok(secret) => Some(secret),
                Err(problem) => {
                    self.error(Some(&secret.span()), &secret_key, problem);
                    None
                }
            },
            (None, Some(file)) => {
                if file.get_ref().is_empty() {
                    self.error(Some(&file.span()), &file_key, "must not be empty");
                    return None;
                }
                let config_directory = self.path.parent().unwrap_or_else(|| Path::new(""));
                let path = config_directory.join(file.get_ref());
                let text = match source.read_to_string(&path) {
                    Ok(text) => text,
                    Err(error) => {
                        self.error(
                            Some(&file.span()),
                            &file_key,
                            format!("cannot read {}: {error}", path.display()),
                        );
                        return None;
                    }
                };
                match decode_secret(text.trim()) {
                    Ok(secret) => Some(secret),
                    Err(mut problem) => {
                        if text.contains("secret:") {
                            problem.push_str(
                                "; the file must hold only the secret in base64 (from a Knot \
                                 key file, the value of its `secret:` line)",
                            );
                        }
                        self.error(
                            Some(&file.span()),
                            &file_key,
                            format!("{}: the secret {problem}", path.display()),
                        );
                        None
                    }
                }
            }
        }
    }
}

/// Decodes a secret written in base64 (standard alphabet, padded), of
/// 1..=[`TSIG_SECRET_MAX_BYTES`] bytes. The error says what is wrong
/// without quoting the text.
fn decode_secret(text: &str) -> Result<Vec<u8>, String> {
    if text.is_empty() {
        return Err("is empty".to_owned());
    }
    let secret = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|error| {
            format!(
                "is not valid base64 ({}); write it as tsig-keygen or keymgr print it",
                error.to_string().trim_end_matches('.')
            )
        })?;
    if secret.is_empty() {
        return Err("is empty".to_owned());
    }
    if secret.len() > TSIG_SECRET_MAX_BYTES {
        return Err(format!(
            "is {} bytes long, more than the {TSIG_SECRET_MAX_BYTES} a key may have",
            secret.len()
        ));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use crate::config::test_support::{
        PATH, accepted, keys_and_lines, name, rejected, rejected_once, server_with,
    };
    use crate::config::{Config, LoadErrors, Source, TSIG_SECRET_MAX_BYTES, parse};
    use crate::wire::tsig::Algorithm;

    /// The 32 bytes 0, 1, ..., 31 in base64.
    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    /// A valid `[server]`, then `[[tsig]]` on line 3 and `keys` from line 4
    /// on.
    fn tsig(keys: &str) -> String {
        server_with(&format!("[[tsig]]\n{keys}"))
    }

    /// As [`tsig`], with `name` (line 4) and `algorithm` (line 5) set and
    /// `keys` from line 6 on.
    fn named(keys: &str) -> String {
        tsig(&format!(
            "name = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\n{keys}"
        ))
    }

    /// Parses `text` with the files `files` (resolved paths) in memory.
    fn with_files(text: &str, files: &[(&str, &str)]) -> Result<Config, LoadErrors> {
        let files: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(path, contents)| (PathBuf::from(path), (*contents).to_owned()))
            .collect();
        parse(text, Path::new(PATH), Source::Memory(Arc::from(files)))
    }

    #[test]
    fn tsig_key_with_inline_secret() {
        let config = accepted(&named(&format!("secret = {SECRET:?}")));
        assert_eq!(config.tsig_keys.len(), 1);
        let key = &config.tsig_keys[0];
        assert_eq!(key.name, name("xfr-key."));
        assert_eq!(key.algorithm, Algorithm::HmacSha256);
        assert_eq!(key.secret, (0..32).collect::<Vec<u8>>());
        assert_eq!(key.line, 4);
        // The secret stays out of debug output.
        let debug = format!("{key:?}");
        assert!(debug.contains("<32 bytes>"), "{debug}");
        assert!(!debug.contains("[0, 1, 2"), "{debug}");
        assert!(accepted(&server_with("")).tsig_keys.is_empty());
    }

    #[test]
    fn tsig_name_absolute_lowercase_and_distinct() {
        let config = accepted(&tsig(&format!(
            "name = \"XFR.Key.\"\nalgorithm = \"hmac-sha256\"\nsecret = {SECRET:?}"
        )));
        assert_eq!(config.tsig_keys[0].name, name("xfr.key."));
        let error = rejected_once(
            &tsig(&format!("algorithm = \"hmac-sha256\"\nsecret = {SECRET:?}")),
            "tsig[0].name",
            3,
        );
        assert!(error.message.starts_with("required"), "{error}");
        let error = rejected_once(
            &tsig(&format!(
                "name = \"a..b\"\nalgorithm = \"hmac-sha256\"\nsecret = {SECRET:?}"
            )),
            "tsig[0].name",
            4,
        );
        assert!(error.message.contains("not a domain name"), "{error}");
        rejected_once(
            &tsig(&format!(
                "name = \"\"\nalgorithm = \"hmac-sha256\"\nsecret = {SECRET:?}"
            )),
            "tsig[0].name",
            4,
        );
        let text = named(&format!(
            "secret = {SECRET:?}\n[[tsig]]\nname = \"XFR-KEY.\"\nalgorithm = \"hmac-sha512\"\n\
             secret = {SECRET:?}"
        ));
        let error = rejected_once(&text, "tsig[1].name", 8);
        assert!(
            error.message.contains("duplicate key xfr-key.") && error.message.contains("line 4"),
            "{error}"
        );
    }

    #[test]
    fn tsig_algorithm_one_of_three() {
        let at = |algorithm: &str| {
            tsig(&format!(
                "name = \"k\"\nalgorithm = {algorithm:?}\nsecret = {SECRET:?}"
            ))
        };
        for (written, algorithm) in [
            ("hmac-sha256", Algorithm::HmacSha256),
            ("hmac-sha384", Algorithm::HmacSha384),
            ("HMAC-SHA512", Algorithm::HmacSha512),
        ] {
            assert_eq!(accepted(&at(written)).tsig_keys[0].algorithm, algorithm);
        }
        for bad in ["hmac-md5", "sha256", ""] {
            let error = rejected_once(&at(bad), "tsig[0].algorithm", 5);
            assert!(
                error
                    .message
                    .contains("write one of hmac-sha256, hmac-sha384, hmac-sha512"),
                "{error}"
            );
        }
        let error = rejected_once(
            &tsig(&format!("name = \"k\"\nsecret = {SECRET:?}")),
            "tsig[0].algorithm",
            3,
        );
        assert!(error.message.starts_with("required"), "{error}");
    }

    #[test]
    fn tsig_secret_or_secret_file_exactly_one() {
        let error = rejected_once(&named(""), "tsig[0].secret", 3);
        assert!(
            error.message.contains("secret") && error.message.contains("secret_file"),
            "{error}"
        );
        let error = rejected_once(
            &named(&format!("secret = {SECRET:?}\nsecret_file = \"k.key\"")),
            "tsig[0].secret_file",
            7,
        );
        assert!(error.message.contains("not both"), "{error}");
    }

    #[test]
    fn tsig_secret_must_be_base64_and_not_empty() {
        let at = |secret: &str| named(&format!("secret = {secret:?}"));
        let error = rejected_once(&at(""), "tsig[0].secret", 6);
        assert!(error.message.contains("empty"), "{error}");
        for bad in ["not base64!", "AAECAwQ", "AAEC AwQF", "AAECAwQF\n"] {
            let error = rejected_once(&at(bad), "tsig[0].secret", 6);
            assert!(error.message.contains("not valid base64"), "{error}");
            // The secret itself is never quoted.
            assert!(!error.message.contains(bad.trim()), "{error}");
        }
        let long = base64_of(TSIG_SECRET_MAX_BYTES + 1);
        let error = rejected_once(&at(&long), "tsig[0].secret", 6);
        assert!(error.message.contains("513 bytes"), "{error}");
        let longest = base64_of(TSIG_SECRET_MAX_BYTES);
        assert_eq!(
            accepted(&at(&longest)).tsig_keys[0].secret.len(),
            TSIG_SECRET_MAX_BYTES
        );
    }

    /// `length` zero bytes in base64.
    fn base64_of(length: usize) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(vec![0u8; length])
    }

    #[test]
    fn tsig_secret_file_read_relative_to_the_config() {
        let text = named("secret_file = \"keys/xfr.key\"");
        let config = with_files(
            &text,
            &[("/etc/dnslb/keys/xfr.key", &format!("\n  {SECRET}\n"))],
        );
        let config = config.unwrap_or_else(|errors| panic!("{errors}"));
        assert_eq!(config.tsig_keys[0].secret, (0..32).collect::<Vec<u8>>());
        let text = named("secret_file = \"/var/lib/dnslb/xfr.key\"");
        let config = with_files(&text, &[("/var/lib/dnslb/xfr.key", SECRET)]);
        assert!(config.is_ok(), "{config:?}");
    }

    #[test]
    fn tsig_secret_file_problems() {
        let text = named("secret_file = \"xfr.key\"");
        let errors = |files: &[(&str, &str)]| match with_files(&text, files) {
            Ok(config) => panic!("accepted {config:?}"),
            Err(LoadErrors(errors)) => errors,
        };
        let missing = errors(&[]);
        assert_eq!(
            keys_and_lines(&missing),
            vec![("tsig[0].secret_file", Some(6))]
        );
        assert!(
            missing[0]
                .message
                .starts_with("cannot read /etc/dnslb/xfr.key"),
            "{}",
            missing[0]
        );
        let empty = errors(&[("/etc/dnslb/xfr.key", " \n")]);
        assert_eq!(
            keys_and_lines(&empty),
            vec![("tsig[0].secret_file", Some(6))]
        );
        assert_eq!(empty[0].message, "/etc/dnslb/xfr.key: the secret is empty");
        let knot = errors(&[(
            "/etc/dnslb/xfr.key",
            &format!("key:\n  - id: xfr-key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n"),
        )]);
        assert_eq!(
            keys_and_lines(&knot),
            vec![("tsig[0].secret_file", Some(6))]
        );
        assert!(
            knot[0].message.contains("not valid base64")
                && knot[0].message.contains("`secret:` line"),
            "{}",
            knot[0]
        );
        assert!(!knot[0].message.contains(SECRET), "{}", knot[0]);
        rejected_once(&named("secret_file = \"\""), "tsig[0].secret_file", 6);
    }

    #[test]
    fn tsig_problems_are_all_reported() {
        let errors = rejected(&tsig(
            "name = \"a..b\"\nalgorithm = \"md5\"\nsecret = \"!\"\n\
             [[tsig]]\nsecrt = \"x\"",
        ));
        assert_eq!(keys_and_lines(&errors), vec![("tsig[1].secrt", Some(8))]);
        let errors = rejected(&tsig(
            "name = \"a..b\"\nalgorithm = \"md5\"\nsecret = \"!\"\n[[tsig]]",
        ));
        assert_eq!(
            keys_and_lines(&errors),
            vec![
                ("tsig[0].name", Some(4)),
                ("tsig[0].algorithm", Some(5)),
                ("tsig[0].secret", Some(6)),
                ("tsig[1].name", Some(7)),
                ("tsig[1].algorithm", Some(7)),
                ("tsig[1].secret", Some(7)),
            ]
        );
    }
}
