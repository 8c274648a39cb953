#![allow(unsafe_code)]
//! Process-level calls to the operating system: with the `dnslb-io` crate, the only
//! places where `unsafe` code and `libc` calls are allowed. Socket I/O, socket
//! set-up and CPU pinning live in `dnslb-io`; what stays here acts on the process:
//! its identity, its limits, its memory, the clock the service manager reads
//! and seeds from the kernel's randomness.
//!
//! Every item exported from here is a safe, typed API; the rest of the crate is
//! `#![deny(unsafe_code)]`. Invariants kept by every file in this module:
//!
//! * each `unsafe {}` block has a `// SAFETY:` comment right above it saying why it
//!   is sound;
//! * no raw pointer escapes this module, and every pointer handed to the kernel
//!   points into memory owned by the value that makes the call.
//!
//! Files:
//!
//! * [`clock`]: the monotonic clock in microseconds, for the service manager's
//!   reload notification (`sd_notify` itself, a datagram on a Unix socket, is in
//!   [`crate::notify`] and needs no `unsafe`).
//! * [`limits`]: raising the open files limit (health probes hold sockets).
//! * [`memory`]: giving freed heap back to the kernel after a large load.
//! * [`privilege`]: looking up users and groups, and dropping root for one.
//! * [`random`]: seeds from the kernel's random number generator.

pub mod clock;
pub mod limits;
pub mod memory;
pub mod privilege;
pub mod random;
