//! Fuzz target `zone_file`: the body, and the properties it checks, are
//! `dnslb::fuzzing::zone_file` (shared with the bounded run in `cargo test`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnslb::fuzzing::zone_file(data));
