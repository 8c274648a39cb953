//! The monotonic clock as a number, for the service manager: systemd's
//! reload protocol (`RELOADING=1` with `MONOTONIC_USEC=`) wants
//! `CLOCK_MONOTONIC` in microseconds, which `std::time::Instant` keeps
//! opaque.

/// `CLOCK_MONOTONIC` now, in microseconds.
pub fn monotonic_micros() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable `timespec` owned by this frame, and
    // `clock_gettime` writes only that struct; CLOCK_MONOTONIC always exists
    // on Linux, so the call cannot fail with these arguments.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    debug_assert_eq!(result, 0);
    (now.tv_sec as u64) * 1_000_000 + (now.tv_nsec as u64) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward() {
        let before = monotonic_micros();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(monotonic_micros() >= before + 2_000);
    }
}
