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
/// runs at idle priority, so that on a CPU it shares with a worker the
/// worker runs first. Without a thread, the failed spawn drops it here.
pub fn free_in_background<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("dnslb-free".into())
        .spawn(move || {
            lower_to_idle_priority();
            drop(value);
            release_free_memory();
        });
    if spawned.is_err() {
        release_free_memory();
    }
}

/// Puts the calling thread in the idle scheduling class (`SCHED_IDLE`):
/// it runs only when nothing else on its CPU wants to. Best effort; a
/// no-op off Linux.
fn lower_to_idle_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param for the call's duration;
        // pid 0 is the calling thread, and SCHED_IDLE takes priority 0.
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
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
    fn a_thread_lowered_to_idle_priority_is_in_the_idle_class() {
        let policy = std::thread::spawn(|| {
            lower_to_idle_priority();
            // SAFETY: sched_getscheduler reads the calling thread's policy
            // and takes no pointer.
            unsafe { libc::sched_getscheduler(0) }
        })
        .join()
        .expect("the thread ran");
        assert_eq!(policy, libc::SCHED_IDLE);
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
