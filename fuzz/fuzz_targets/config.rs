//! Fuzz target `config`: the body, and the properties it checks, are
//! `dnslb::fuzzing::config` (shared with the bounded run in `cargo test`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnslb::fuzzing::config(data));
