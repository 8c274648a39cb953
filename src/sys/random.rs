//! Seeds from the kernel's random number generator (`getrandom(2)`), for
//! what an attacker must not predict: the rate-limiting table's hash key and
//! the workers' generators. Read off the fast path, at start and reload.

/// 64 bits from the kernel's random number generator. Blocks only before
/// the kernel's pool is first initialised, early in boot.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let mut filled = 0;
    while filled < bytes.len() {
        let rest = &mut bytes[filled..];
        // SAFETY: `rest` is a valid, writable slice owned by this frame and
        // the kernel writes at most `rest.len()` bytes into it.
        let result = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if result > 0 {
            filled += result as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // getrandom(2) with flags 0 fails only with EINTR, or with
            // ENOSYS on kernels older than 3.17, which Rust's std no longer
            // supports either; std's own source of randomness is the
            // fallback.
            use std::hash::{BuildHasher, Hasher};
            return std::hash::RandomState::new().build_hasher().finish();
        }
    }
    u64::from_ne_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ() {
        let draws: std::collections::HashSet<u64> = (0..16).map(|_| random_u64()).collect();
        assert_eq!(draws.len(), 16);
    }
}
