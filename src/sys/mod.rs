#![allow(unsafe_code)]
//! The operating-system boundary of dnslb: the only module where `unsafe` code and
//! `libc` calls are allowed.
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
//! * [`batch`]: batched UDP receive and send (`recvmmsg` / `sendmmsg`) with
//!   preallocated buffers, for the data-plane hot path.
//! * [`socket`]: binding UDP sockets and TCP listeners with the right options
//!   (`SO_REUSEPORT`, `IPV6_V6ONLY`, packet info).
//! * [`clock`]: the monotonic clock in microseconds, for the service manager.
//! * [`cpu`]: the CPUs the process may use, and pinning threads to them.
//! * [`limits`]: raising the open files limit (health probes hold sockets).
//! * [`memory`]: giving freed heap back to the kernel after a large load.
//! * [`privilege`]: looking up users and groups, and dropping root for one.
//! * [`random`]: seeds from the kernel's random number generator.

pub mod batch;
pub mod clock;
pub mod cpu;
pub mod limits;
pub mod memory;
pub mod privilege;
pub mod random;
pub mod socket;
