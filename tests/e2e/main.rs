//! End-to-end tests of dnslb: real servers on loopback ports queried with
//! `domain`'s client transports (answers, EDNS, malformed packets, TCP
//! behaviour, load-balanced services and the admin `/explain`), health
//! checks against real TCP and HTTP backends with the admin API and reload
//! (and no query lost while backends flap), plus the proof that the data
//! plane answers without allocating, measured by the counting global
//! allocator defined here. `process` runs the `dnslb` binary itself:
//! `--version`, JSON logs, systemd notification and the switch from root.
//! `tsig` checks TSIG signing and verifying against `kdig` and `knotd`.
//! `knot` runs a real Knot DNS primary (`knotd`) for the zone transfer
//! tests, and tests that harness itself.
//! `secondary` runs dnslb as a secondary of Knot: transfers, NOTIFY,
//! expiry, catalog zones and `state_dir`.
//!
//! Every test starts its own server on ephemeral ports, so tests run in
//! parallel; each ends by checking that its server still answers.
// The global allocator is the one place in the tests that needs `unsafe`.
#![allow(unsafe_code)]

mod additional;
mod alloc;
mod answers;
mod child_zones;
mod client;
mod corpus;
mod edns;
mod health;
mod knot;
mod layering;
mod malformed;
mod packets;
mod process;
mod rrl;
mod secondary;
mod server;
mod services;
mod tcp;
mod tcp_limits;
mod tsig;
mod worker;
mod xdp;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Whether allocations on this thread are being counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations counted on this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting allocations of threads that asked for it.
struct CountingAllocator;

/// Counts one allocation if this thread is counting. Never allocates itself:
/// both thread-locals have `const` initializers and no destructor.
fn note_allocation() {
    let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
    if counting {
        let _ = ALLOCATIONS.try_with(|allocations| allocations.set(allocations.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; counting touches only thread-local cells.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as received; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `pointer` was allocated by `System` (every allocation goes
        // through it) with `layout`; the caller upholds the rest.
        unsafe { System.realloc(pointer, layout, new_size) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: `pointer` was allocated by `System` with `layout`.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `work` with allocation counting on for this thread and returns its
/// result with the number of allocations it made (on this thread).
pub fn count_allocations<R>(work: impl FnOnce() -> R) -> (R, u64) {
    ALLOCATIONS.with(|allocations| allocations.set(0));
    COUNTING.with(|counting| counting.set(true));
    let result = work();
    COUNTING.with(|counting| counting.set(false));
    (result, ALLOCATIONS.with(Cell::get))
}
