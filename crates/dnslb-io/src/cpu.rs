//! Where and how precisely threads run: which CPUs this process may run on,
//! pinning a thread to one, and a thread's timer slack.
//!
//! The affinity functions act on the calling thread's mask (`sched_getaffinity` /
//! `sched_setaffinity` with pid 0), via `core_affinity`. Called from the main thread
//! before any pinning, the mask is the process's (it reflects `taskset` and cpusets).

/// The CPUs this process may run on (from `sched_getaffinity`, so it respects
/// `taskset` and cpusets), in ascending order without duplicates.
///
/// Returns an empty vector only when the kernel refuses to report the mask.
pub fn allowed_cpus() -> Vec<usize> {
    let mut cpus: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|core| core.id)
        .collect();
    cpus.sort_unstable();
    cpus.dedup();
    cpus
}

/// Pins the calling thread to the single CPU `cpu`. Returns `false` when the kernel
/// refused (the CPU is not allowed, offline, or beyond `CPU_SETSIZE`).
pub fn pin_current_thread(cpu: usize) -> bool {
    // `core_affinity` would panic indexing past the end of a `cpu_set_t`.
    let set_size = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
    if cpu >= set_size {
        return false;
    }
    core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
}

/// Sets the calling thread's timer slack to `nanoseconds` (`PR_SET_TIMERSLACK`), so
/// short sleeps (`ppoll` timeouts) end when asked instead of up to 50 us late (the
/// default slack). Best effort: a refusal leaves the slack as it was.
pub fn set_timer_slack(nanoseconds: u64) {
    let value = libc::c_ulong::try_from(nanoseconds).unwrap_or(libc::c_ulong::MAX);
    // SAFETY: PR_SET_TIMERSLACK takes its value as an integer argument and touches
    // no memory of ours; the unused arguments are zero as prctl(2) asks.
    let _ = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, value, 0, 0, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_slack_is_set_on_the_calling_thread() {
        let slack = std::thread::spawn(|| {
            set_timer_slack(1_000);
            // SAFETY: PR_GET_TIMERSLACK takes no pointer; it returns the slack.
            unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) }
        })
        .join()
        .unwrap();
        assert_eq!(slack, 1_000);
    }

    #[test]
    fn allowed_cpus_is_sorted_and_non_empty() {
        let cpus = allowed_cpus();
        assert!(!cpus.is_empty());
        assert!(cpus.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn pin_to_first_allowed_cpu() {
        let cpu = allowed_cpus()[0];
        // Pin a scratch thread so the test runner's threads keep their affinity.
        let pinned = std::thread::spawn(move || {
            let pinned = pin_current_thread(cpu);
            (pinned, allowed_cpus())
        })
        .join()
        .unwrap();
        assert!(pinned.0);
        assert_eq!(pinned.1, vec![cpu]);
    }

    #[test]
    fn pin_to_impossible_cpu_is_refused() {
        let refused = std::thread::spawn(|| pin_current_thread(usize::MAX))
            .join()
            .unwrap();
        assert!(!refused);
        let refused = std::thread::spawn(|| pin_current_thread(1024))
            .join()
            .unwrap();
        assert!(!refused);
        if !allowed_cpus().contains(&1023) {
            let refused = std::thread::spawn(|| pin_current_thread(1023))
                .join()
                .unwrap();
            assert!(!refused);
        }
    }
}
