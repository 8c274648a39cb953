//! Entering a named network namespace (`ip netns add NAME`, bound under
//! `/var/run/netns`) from the calling thread: the test beds run a server in
//! one namespace and its clients in another, over a veth pair, in one test
//! process.
//!
//! `setns(2)` moves only the calling thread; sockets it makes afterwards
//! belong to the namespace, and sockets made before keep theirs. Needs
//! `CAP_SYS_ADMIN`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Moves the calling thread into network namespace `name`.
pub fn enter(name: &str) -> io::Result<()> {
    let file = File::open(format!("/var/run/netns/{name}"))?;
    // SAFETY: setns on a namespace descriptor we hold open; it changes only
    // this thread's network namespace.
    let result = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
