//! Giving freed heap back to the kernel.
//!
//! glibc keeps memory freed by the program in its arenas for reuse. Loading
//! a large zone allocates and frees hundreds of megabytes of intermediate
//! structures (the parser's records, the TOML tree), which would otherwise
//! stay resident next to the snapshot for the life of the process.

/// Returns freed heap to the kernel where the C library can (`malloc_trim`
/// on glibc); a no-op elsewhere. Control plane only: it walks the
/// allocator's free lists, which takes milliseconds after a large load.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer of ours; it only walks and
    // releases the allocator's own free lists, under the allocator's lock.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releasing_after_freeing_keeps_the_heap_usable() {
        let blocks: Vec<Vec<u8>> = (0..1000).map(|index| vec![index as u8; 4096]).collect();
        drop(blocks);
        release_free_memory();
        let again = vec![7u8; 1 << 20];
        assert!(again.iter().all(|&byte| byte == 7));
    }
}
