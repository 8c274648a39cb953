//! Waiting for input on a fixed set of descriptors with `ppoll(2)`: the generator
//! sleeps in it between sends, with nanosecond timeouts (see
//! [`crate::cpu::set_timer_slack`] for making them end on time).
//!
//! The descriptor array is allocated in [`Poller::new`] and only written in place
//! afterwards, so waiting allocates nothing.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::time::Duration;

/// Readiness of a fixed set of descriptors, waited for with `ppoll`.
pub struct Poller {
    fds: Vec<libc::pollfd>,
}

impl fmt::Debug for Poller {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Poller")
            .field("descriptors", &self.fds.len())
            .finish()
    }
}

impl Poller {
    /// Watches `descriptors` for input.
    pub fn new(descriptors: &[RawFd]) -> Poller {
        Poller {
            fds: descriptors
                .iter()
                .map(|&fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect(),
        }
    }

    /// Replaces descriptor `index` (a reconnected TCP stream).
    pub fn set_descriptor(&mut self, index: usize, descriptor: RawFd) {
        self.fds[index].fd = descriptor;
    }

    /// Whether to wake when descriptor `index` can be written too.
    pub fn want_write(&mut self, index: usize, write: bool) {
        self.fds[index].events = if write {
            libc::POLLIN | libc::POLLOUT
        } else {
            libc::POLLIN
        };
    }

    /// Waits until a descriptor is ready or `timeout` passes; returns how many are
    /// ready (0 on timeout or interruption).
    pub fn wait(&mut self, timeout: Duration) -> io::Result<usize> {
        let timeout = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
        };
        let count = libc::nfds_t::try_from(self.fds.len()).unwrap_or(libc::nfds_t::MAX);
        // SAFETY: `fds` holds `count` initialized pollfd entries owned by self (the
        // kernel writes only their revents); `timeout` is a valid timespec on the
        // stack; a null signal mask leaves the mask unchanged.
        let result = unsafe {
            libc::ppoll(
                self.fds.as_mut_ptr(),
                count,
                &raw const timeout,
                ptr::null(),
            )
        };
        match usize::try_from(result) {
            Ok(ready) => Ok(ready),
            Err(_) => {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    Ok(0)
                } else {
                    Err(error)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::set_timer_slack;
    use std::net::{Ipv4Addr, UdpSocket};
    use std::os::fd::AsRawFd;
    use std::time::Instant;

    #[test]
    fn poller_times_out_then_sees_input() {
        let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        let mut poller = Poller::new(&[server.as_raw_fd()]);
        set_timer_slack(1);
        let start = Instant::now();
        assert_eq!(poller.wait(Duration::from_millis(20)).unwrap(), 0);
        assert!(start.elapsed() >= Duration::from_millis(19));
        client.send(b"x").unwrap();
        assert_eq!(poller.wait(Duration::from_secs(5)).unwrap(), 1);
    }
}
