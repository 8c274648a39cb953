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

/// Drops `value` on a thread of its own, then gives the freed heap back:
/// a loaded zone of a million records takes ~150 ms to free and trim,
/// which need not delay what comes next (the first answer). The thread
/// runs at the lowest priority (nice 19), so that on a CPU it shares with
/// a worker the worker runs first; not in the idle class, where it could
/// hold an allocator lock for long on a busy CPU. Without a thread, the
/// failed spawn drops it here.
pub fn free_in_background<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("dnslb-free".into())
        .spawn(move || {
            lower_to_lowest_priority();
            drop(value);
            release_free_memory();
        });
    if spawned.is_err() {
        release_free_memory();
    }
}

/// Sets the calling thread's nice value to 19, the lowest priority of the
/// normal class. Best effort; a no-op off Linux.
fn lower_to_lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority takes no pointer; on Linux, PRIO_PROCESS with
    // `who` 0 is the calling thread alone.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
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

    #[cfg(target_os = "linux")]
    #[test]
    fn a_lowered_thread_runs_at_nice_19_and_the_others_do_not() {
        // SAFETY: getpriority takes no pointer; `who` 0 is this thread.
        let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let before = nice();
        let lowered = std::thread::spawn(move || {
            lower_to_lowest_priority();
            nice()
        })
        .join()
        .expect("the thread ran");
        assert_eq!(lowered, 19);
        assert_eq!(nice(), before, "this thread keeps its priority");
    }

    #[test]
    fn freeing_in_background_drops_the_value() {
        let value = std::sync::Arc::new(vec![1u8; 1 << 20]);
        let watch = std::sync::Arc::downgrade(&value);
        free_in_background(value);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while watch.upgrade().is_some() {
            assert!(std::time::Instant::now() < deadline, "never dropped");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
