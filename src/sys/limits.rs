//! Process resource limits.
//!
//! The health engine holds one socket per probe in flight, and a large
//! deployment (or the `health_scale` bench) needs more descriptors than the
//! usual soft limit of 1024; the hard limit is what an unprivileged process
//! may raise it to.

use std::io;

/// Raises the soft limit on open files (`RLIMIT_NOFILE`) to the hard limit
/// and returns the new soft limit (unchanged when it already was the hard
/// limit).
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` owned by this frame, and
    // `getrlimit` writes only that struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a valid `rlimit` owned by this frame, which
        // `setrlimit` only reads.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_limit_reaches_the_hard_limit() {
        let raised = raise_open_files_limit().unwrap();
        assert!(raised >= 1);
        // A second call finds nothing left to raise and reports the same.
        assert_eq!(raise_open_files_limit().unwrap(), raised);
    }
}
