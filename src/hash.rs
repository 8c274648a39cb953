//! Hash mixing shared by the name index, rate limiting, rendezvous hashing
//! and the random generators: two small pure functions, a leaf that imports
//! nothing.
//!
//! Neither is a cryptographic hash. Where an attacker could aim at the
//! buckets (the name index, the rate-limiting table), the caller keys the
//! hash with a seed from the OS's randomness.

/// 64x64 -> 128-bit multiply, folded back to 64 bits by XOR (as foldhash
/// does): one multiply that spreads both inputs over every output bit.
#[inline(always)]
pub fn folded_multiply(x: u64, y: u64) -> u64 {
    let full = u128::from(x) * u128::from(y);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The splitmix64 finalizer: every input bit affects every output bit. Used
/// to seed generators (neighbouring seeds give unrelated streams), for
/// rendezvous hashing and to spread a counter into well-mixed bits.
#[inline]
pub fn mix64(value: u64) -> u64 {
    let mut mixed = value ^ (value >> 30);
    mixed = mixed.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed ^= mixed >> 27;
    mixed = mixed.wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^ (mixed >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix64_spreads_neighbouring_inputs() {
        // Reference values of the splitmix64 finalizer.
        assert_eq!(mix64(0), 0);
        let differing_bits = (mix64(1) ^ mix64(2)).count_ones();
        assert!((20..=44).contains(&differing_bits), "{differing_bits}");
    }

    #[test]
    fn folded_multiply_folds_the_high_half() {
        assert_eq!(folded_multiply(1 << 32, 1 << 32), 1);
        assert_eq!(folded_multiply(3, 5), 15);
        // (2^64 - 1) * 2 = 2^65 - 2: low half 2^64 - 2, high half 1.
        assert_eq!(folded_multiply(u64::MAX, 2), (u64::MAX - 1) ^ 1);
    }
}
