//! Helpers shared by the config tests: parsing a config text as if read
//! from [`PATH`], expecting it accepted or rejected (with the key and line
//! of the one error), and building texts on a valid `[server]` table with a
//! zone, two regions and a service.

use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use bytes::Bytes;
use domain::base::Name;

use super::{BackendTarget, Config, LoadError, LoadErrors, Source, parse};

/// Where test configs pretend to live.
pub(super) const PATH: &str = "/etc/dnslb/dnslb.toml";

pub(super) fn parse_text(text: &str) -> Result<Config, LoadErrors> {
    parse(text, Path::new(PATH), Source::Disk)
}

/// A valid `[server]` table (lines 1 and 2) followed by `rest` (from
/// line 3 on).
pub(super) fn server_with(rest: &str) -> String {
    format!("[server]\nlisten = [\"127.0.0.1:53\"]\n{rest}\n")
}

pub(super) fn accepted(text: &str) -> Config {
    match parse_text(text) {
        Ok(config) => config,
        Err(errors) => panic!("expected {text:?} to be accepted, got:\n{errors}"),
    }
}

pub(super) fn rejected(text: &str) -> Vec<LoadError> {
    match parse_text(text) {
        Ok(config) => panic!("expected {text:?} to be rejected, got {config:?}"),
        Err(LoadErrors(errors)) => {
            assert!(!errors.is_empty(), "LoadErrors must never be empty");
            errors
        }
    }
}

/// Each error's key and line, in order: what a test of many problems at once
/// compares.
pub(super) fn keys_and_lines(errors: &[LoadError]) -> Vec<(&str, Option<usize>)> {
    errors
        .iter()
        .map(|error| (error.key.as_str(), error.line))
        .collect()
}

/// Asserts `text` is rejected with exactly one error, naming `key` at
/// `line`, and returns it.
pub(super) fn rejected_once(text: &str, key: &str, line: usize) -> LoadError {
    let errors = rejected(text);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:?}");
    let error = errors.into_iter().next().unwrap_or_else(|| unreachable!());
    assert_eq!(error.key, key, "wrong key in {error}");
    assert_eq!(error.line, Some(line), "wrong line in {error}");
    assert_eq!(error.file, Path::new(PATH));
    error
}

pub(super) fn zone_text(name: &str, file: &str) -> String {
    server_with(&format!("[[zone]]\nname = {name:?}\nfile = {file:?}"))
}

/// A valid config with zone `example.com` (lines 3 to 5) followed by
/// `rest` (from line 6 on).
pub(super) fn zone_with(rest: &str) -> String {
    server_with(&format!(
        "[[zone]]\nname = \"example.com\"\nfile = \"a.zone\"\n{rest}"
    ))
}

/// As [`zone_with`], plus regions `eu` (lines 6, 7) and `us` (lines 8,
/// 9); `rest` starts on line 10.
pub(super) fn regions_with(rest: &str) -> String {
    zone_with(&format!(
        "[[region]]\nname = \"eu\"\n[[region]]\nname = \"us\"\n{rest}"
    ))
}

/// As [`regions_with`], plus a service `www.example.com` with policy
/// `weighted` on lines 10 to 12; `body` starts on line 13.
pub(super) fn service(body: &str) -> String {
    regions_with(&format!(
        "[[service]]\nname = \"www.example.com\"\npolicy = \"weighted\"\n{body}"
    ))
}

/// As [`service`], with `keys` on line 13 and one address backend on
/// the line after.
pub(super) fn service_keys(keys: &str) -> String {
    service(&format!(
        "{keys}\nbackends = [{{ address = \"192.0.2.1\" }}]"
    ))
}

pub(super) fn address(text: &str) -> BackendTarget {
    BackendTarget::Address(text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])))
}

pub(super) fn name(text: &str) -> Name<Bytes> {
    Name::<Bytes>::from_str(text).unwrap_or_else(|_| Name::root_bytes())
}

/// The topology's networks in prefix-table order, each as text with its
/// region index.
pub(super) fn networks(config: &Config) -> Vec<(String, usize)> {
    config
        .topology
        .networks
        .iter()
        .map(|(network, region)| (network.to_string(), *region))
        .collect()
}
