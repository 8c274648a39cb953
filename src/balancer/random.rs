//! Per-worker mutable state for backend selection: a fast pseudo-random
//! generator and the round-robin counters.
//!
//! Each data-plane worker owns one [`WorkerState`] and lends it to
//! [`Pool::select`](super::Pool::select); nothing in it is shared between
//! threads, so nothing is atomic and nothing is locked.
//!
//! Invariants: the generator is wyrand (64-bit state, one 128-bit multiply
//! per draw), good for spreading load and not for anything secret; seeds pass
//! through splitmix64 first, so neighbouring seeds (one per worker) give
//! unrelated streams. Round-robin counters live in [`ROTATION_SLOTS`] slots;
//! each [`Pool`](super::Pool) is given a slot when it is built, so two pools
//! queried in strict alternation (a service's A and AAAA pools, which a
//! resolver asks for together) each still step through every starting
//! backend instead of seeing every other counter value.

use crate::hash::mix64;

/// Round-robin counters per worker. Pools take slots in the order they are
/// built, so pools built one after another (a service's A and AAAA pools)
/// never share a counter; only pools this many builds apart do, and sharing
/// costs them nothing but strict alternation.
pub const ROTATION_SLOTS: usize = 64;

/// The writer index of a thread whose answers are not counted (`/explain`):
/// beyond every counter's slots.
pub const UNCOUNTED: usize = usize::MAX;

/// wyrand's additive constant.
const WYRAND_INCREMENT: u64 = 0xa076_1d64_78bd_642f;
/// wyrand's multiplicative mixing constant.
const WYRAND_MIX: u64 = 0xe703_7ed1_a0b4_28db;

/// Per-worker mutable state: a fast random generator and round-robin
/// counters. Each worker owns one; nothing is shared, so no atomics.
#[derive(Clone, Debug)]
pub struct WorkerState {
    /// wyrand state.
    random_state: u64,
    /// One round-robin counter per rotation slot; each advances by one per
    /// query answered by a round-robin pool holding that slot.
    round_robin: [u64; ROTATION_SLOTS],
    /// The data-plane thread's index among the writers of single-writer
    /// counters (UDP workers, then TCP); [`UNCOUNTED`] for none (`/explain`).
    writer: usize,
}

impl WorkerState {
    /// A worker's state seeded with `seed` (give each worker its own seed,
    /// e.g. its index). Round-robin counters start at zero.
    pub fn new(seed: u64) -> WorkerState {
        WorkerState {
            random_state: mix64(seed.wrapping_add(WYRAND_INCREMENT)),
            round_robin: [0; ROTATION_SLOTS],
            writer: UNCOUNTED,
        }
    }

    /// The same state, counting into writer slot `writer` of per-service
    /// counters (each data-plane thread has its own).
    pub fn with_writer(mut self, writer: usize) -> WorkerState {
        self.writer = writer;
        self
    }

    /// The writer slot this thread counts into ([`UNCOUNTED`]: none, as
    /// for `/explain`, whose queries are not counted).
    #[inline]
    pub fn writer(&self) -> usize {
        self.writer
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.random_state = self.random_state.wrapping_add(WYRAND_INCREMENT);
        let product = u128::from(self.random_state) * u128::from(self.random_state ^ WYRAND_MIX);
        ((product >> 64) as u64) ^ (product as u64)
    }

    /// A random index in `0..bound` (0 when `bound` is 0), by multiply and
    /// shift; the bias is below `bound / 2^64`.
    #[inline]
    pub fn next_below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }

    /// The round-robin counter of `slot` (taken modulo [`ROTATION_SLOTS`])
    /// before this call, which advances it by one.
    #[inline]
    pub fn advance_rotation(&mut self, slot: usize) -> u64 {
        let counter = &mut self.round_robin[slot % ROTATION_SLOTS];
        let current = *counter;
        *counter = current.wrapping_add(1);
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let mut first = WorkerState::new(7);
        let mut second = WorkerState::new(7);
        let mut other = WorkerState::new(8);
        let mut differ = 0;
        for _ in 0..100 {
            let value = first.next_u64();
            assert_eq!(value, second.next_u64());
            if value != other.next_u64() {
                differ += 1;
            }
        }
        assert_eq!(differ, 100);
    }

    #[test]
    fn next_below_stays_in_range_and_covers_it() {
        let mut worker = WorkerState::new(1);
        let mut seen = [0u32; 7];
        for _ in 0..70_000 {
            let index = worker.next_below(7);
            seen[index] += 1;
        }
        // Each bucket expects 10,000; the standard deviation is about 93.
        for count in seen {
            assert!((9_500..=10_500).contains(&count), "{seen:?}");
        }
        assert_eq!(worker.next_below(0), 0);
        assert_eq!(worker.next_below(1), 0);
    }

    #[test]
    fn bits_are_balanced() {
        let mut worker = WorkerState::new(99);
        let mut ones = [0u32; 64];
        for _ in 0..20_000 {
            let value = worker.next_u64();
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += ((value >> bit) & 1) as u32;
            }
        }
        // Each bit expects 10,000 ones; the standard deviation is about 71.
        for count in ones {
            assert!((9_500..=10_500).contains(&count), "{ones:?}");
        }
    }

    #[test]
    fn rotation_slots_count_independently() {
        let mut worker = WorkerState::new(0);
        assert_eq!(worker.advance_rotation(3), 0);
        assert_eq!(worker.advance_rotation(3), 1);
        assert_eq!(worker.advance_rotation(4), 0);
        assert_eq!(worker.advance_rotation(3 + ROTATION_SLOTS), 2);
    }
}
