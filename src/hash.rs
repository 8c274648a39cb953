//! Hash mixing shared by the name index, rate limiting, rendezvous hashing
//! and the random generators: small pure functions in a leaf that imports
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

/// Mixes two words into one: [`folded_multiply`] with constants so that
/// zeros do not stay zero.
#[inline]
pub fn mix_pair(a: u64, b: u64) -> u64 {
    folded_multiply(a ^ 0x243f_6a88_85a3_08d3, b ^ 0x1319_8a2e_0370_7344)
}

/// `word` with its ASCII capitals lowercased, all 8 bytes at once. Safe on
/// wire names as a whole: a label length is at most 63, below `A` (65).
#[inline(always)]
pub fn fold_case(word: u64) -> u64 {
    const LOW_BITS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let low = word & LOW_BITS;
    // Per byte, no carry into the next (at most 0x7f + 0x3f): the high bit
    // is set when the byte is at least `A`, and when it is above `Z`.
    let from_a = low + 0x3f3f_3f3f_3f3f_3f3f;
    let above_z = low + 0x2525_2525_2525_2525;
    let capitals = from_a & !above_z & !word & HIGH_BITS;
    word | (capitals >> 2)
}

/// A little-endian word of 8 bytes (`bytes` is 8 long wherever this is used).
#[inline(always)]
pub fn word(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    u64::from_le_bytes(word)
}

/// Hashes a wire-format name from `seed`, its ASCII case folded, 8 bytes at
/// a time; the last word overlaps the one before it rather than being
/// padded. The name index and rate limiting both key names by it.
#[inline(always)]
pub fn name_hash(seed: u64, name: &[u8]) -> u64 {
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
    let hash = seed ^ name.len() as u64;
    let Some(tail) = name.len().checked_sub(8) else {
        let mut small = 0u64;
        for &byte in name {
            small = small << 8 | u64::from(byte.to_ascii_lowercase());
        }
        return folded_multiply(hash ^ small, MULTIPLIER);
    };
    let mut hash = hash;
    let chunks = name.chunks_exact(8);
    let has_rest = !chunks.remainder().is_empty();
    for chunk in chunks {
        hash = folded_multiply(hash ^ fold_case(word(chunk)), MULTIPLIER);
    }
    if has_rest {
        hash = folded_multiply(hash ^ fold_case(word(&name[tail..])), MULTIPLIER);
    }
    hash
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
    fn fold_case_lowercases_capitals_and_nothing_else() {
        for byte in 0..=255u8 {
            for position in 0..8 {
                // The byte among neighbours that are capitals, lowercase
                // letters and bytes with the high bit set, to catch carries.
                let mut bytes = *b"Az\xc1Z[`@a";
                bytes[position] = byte;
                let mut expected = bytes;
                expected.make_ascii_lowercase();
                let folded = fold_case(u64::from_le_bytes(bytes)).to_le_bytes();
                assert_eq!(folded, expected, "byte {byte:#04x} at {position}");
            }
        }
    }

    #[test]
    fn name_hash_folds_case_and_tells_names_apart() {
        let lower = name_hash(7, b"\x03www\x07example\x03com\x00");
        assert_eq!(name_hash(7, b"\x03WwW\x07EXAMPLE\x03com\x00"), lower);
        assert_ne!(name_hash(7, b"\x03ftp\x07example\x03com\x00"), lower);
        assert_ne!(name_hash(8, b"\x03www\x07example\x03com\x00"), lower);
        assert_eq!(name_hash(1, b"\x02Ab\x00"), name_hash(1, b"\x02aB\x00"));
        assert_ne!(name_hash(1, b"\x02ab\x00"), name_hash(1, b"\x02ac\x00"));
    }

    #[test]
    fn folded_multiply_folds_the_high_half() {
        assert_eq!(folded_multiply(1 << 32, 1 << 32), 1);
        assert_eq!(folded_multiply(3, 5), 15);
        // (2^64 - 1) * 2 = 2^65 - 2: low half 2^64 - 2, high half 1.
        assert_eq!(folded_multiply(u64::MAX, 2), (u64::MAX - 1) ^ 1);
    }
}
