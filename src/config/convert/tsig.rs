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
