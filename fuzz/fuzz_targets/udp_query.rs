//! Fuzz target `udp_query`: the body, and the properties it checks, are
//! `dnslb::fuzzing::udp_query` (shared with the bounded run in `cargo test`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnslb::fuzzing::udp_query(data));
