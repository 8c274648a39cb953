//! Fuzz target `tcp_stream`: the body, and the properties it checks, are
//! `dnslb::fuzzing::tcp_stream` (shared with the bounded run in `cargo test`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnslb::fuzzing::tcp_stream(data));
