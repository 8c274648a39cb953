//! NOTIFY (RFC 1996) as the data plane sees it: which zones take a NOTIFY
//! from where and with which TSIG key ([`NotifyRules`], part of each
//! snapshot), and the [`Intake`] that hands accepted ones to the control
//! plane (one for the server's life, shared by every snapshot).
//!
//! A worker checks the source and the signature and answers at once; it
//! pushes the zone onto a bounded lock-free queue without allocating or
//! blocking, and never transfers anything itself. The transfer thread
//! drains the queue, and keeps the coarse wall clock TSIG needs, so that
//! a worker never reads the clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::queue::ArrayQueue;
use ipnet::IpNet;

use super::name::MAX_NAME_LEN;
use super::tsig::Key;

/// NOTIFYs waiting for the transfer thread; more are answered but not
/// queued (counted), as the zone is checked soon anyway.
pub const QUEUE_CAPACITY: usize = 1024;

/// Who may NOTIFY one zone.
#[derive(Clone, Debug)]
pub struct ZoneRule {
    /// Sources allowed.
    pub allowed: Vec<IpNet>,
    /// The key a NOTIFY must be signed with: an index into
    /// [`NotifyRules::keys`].
    pub key: Option<usize>,
}

/// Which zones take NOTIFY, from where, with which key.
#[derive(Debug, Default)]
pub struct NotifyRules {
    zones: HashMap<Box<[u8]>, ZoneRule, foldhash::fast::RandomState>,
    /// Every configured TSIG key.
    pub keys: Vec<Key>,
}

impl NotifyRules {
    /// Rules for `zones` (lowercase wire apex and rule) with `keys`.
    pub fn new(
        zones: impl IntoIterator<Item = (Vec<u8>, ZoneRule)>,
        keys: Vec<Key>,
    ) -> NotifyRules {
        NotifyRules {
            zones: zones
                .into_iter()
                .map(|(apex, rule)| (apex.into_boxed_slice(), rule))
                .collect(),
            keys,
        }
    }

    /// The rule for the zone at lowercase `apex`.
    #[inline]
    pub fn find(&self, apex: &[u8]) -> Option<&ZoneRule> {
        self.zones.get(apex)
    }

    /// Whether any zone takes NOTIFY.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}

/// How a NOTIFY was answered, for `dnslb_notify_total{result}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyResult {
    /// Allowed and queued: the zone is checked soon.
    Accepted = 0,
    /// Allowed, but the queue was full (the zone's timers check it later).
    Dropped = 1,
    /// For a zone we are not a secondary of, or from a source not allowed.
    Refused = 2,
    /// A missing or bad TSIG.
    NotAuth = 3,
    /// Not a well-formed NOTIFY.
    FormErr = 4,
}

impl NotifyResult {
    pub const ALL: [NotifyResult; 5] = [
        NotifyResult::Accepted,
        NotifyResult::Dropped,
        NotifyResult::Refused,
        NotifyResult::NotAuth,
        NotifyResult::FormErr,
    ];

    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            NotifyResult::Accepted => "accepted",
            NotifyResult::Dropped => "dropped",
            NotifyResult::Refused => "refused",
            NotifyResult::NotAuth => "notauth",
            NotifyResult::FormErr => "formerr",
        }
    }
}

/// A NOTIFY accepted for a zone.
#[derive(Clone, Copy, Debug)]
pub struct NotifyEvent {
    apex: [u8; MAX_NAME_LEN],
    apex_len: u8,
    /// Who sent it.
    pub source: IpAddr,
}

impl NotifyEvent {
    /// The zone's lowercase wire apex.
    pub fn apex(&self) -> &[u8] {
        &self.apex[..usize::from(self.apex_len)]
    }
}

/// From the workers to the transfer thread: accepted NOTIFYs, the counts
/// by result, and the wall clock in seconds.
#[derive(Debug)]
pub struct Intake {
    queue: ArrayQueue<NotifyEvent>,
    unix_now: AtomicU64,
    results: [AtomicU64; NotifyResult::ALL.len()],
}

impl Default for Intake {
    fn default() -> Intake {
        Intake::new()
    }
}

impl Intake {
    pub fn new() -> Intake {
        Intake {
            queue: ArrayQueue::new(QUEUE_CAPACITY),
            unix_now: AtomicU64::new(0),
            results: Default::default(),
        }
    }

    /// Queues a NOTIFY for the zone at lowercase `apex` from `source`;
    /// counts it accepted, or dropped when the queue is full. Lock-free and
    /// allocation-free.
    #[inline]
    pub fn push(&self, apex: &[u8], source: IpAddr) -> NotifyResult {
        let mut event = NotifyEvent {
            apex: [0; MAX_NAME_LEN],
            apex_len: apex.len().min(MAX_NAME_LEN) as u8,
            source,
        };
        let len = usize::from(event.apex_len);
        event.apex[..len].copy_from_slice(&apex[..len]);
        let result = match self.queue.push(event) {
            Ok(()) => NotifyResult::Accepted,
            Err(_) => NotifyResult::Dropped,
        };
        self.count(result);
        result
    }

    /// The next queued NOTIFY, for the transfer thread.
    pub fn pop(&self) -> Option<NotifyEvent> {
        self.queue.pop()
    }

    /// Counts one NOTIFY answered with `result`.
    #[inline]
    pub fn count(&self, result: NotifyResult) {
        self.results[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// NOTIFYs answered with `result` so far.
    pub fn results(&self, result: NotifyResult) -> u64 {
        self.results[result as usize].load(Ordering::Relaxed)
    }

    /// The wall clock in seconds since the Unix epoch, as last set by the
    /// transfer thread (0 before it first runs).
    #[inline]
    pub fn unix_now(&self) -> u64 {
        self.unix_now.load(Ordering::Relaxed)
    }

    /// Sets the clock [`Intake::unix_now`] reads.
    pub fn set_unix_now(&self, seconds: u64) {
        self.unix_now.store(seconds, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_is_bounded_and_counts() {
        let intake = Intake::new();
        let source: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..QUEUE_CAPACITY {
            assert_eq!(
                intake.push(b"\x07example\x00", source),
                NotifyResult::Accepted
            );
        }
        assert_eq!(
            intake.push(b"\x07example\x00", source),
            NotifyResult::Dropped
        );
        assert_eq!(
            intake.results(NotifyResult::Accepted),
            QUEUE_CAPACITY as u64
        );
        assert_eq!(intake.results(NotifyResult::Dropped), 1);
        let event = intake.pop().expect("queued");
        assert_eq!(event.apex(), b"\x07example\x00");
        assert_eq!(event.source, source);
    }
}
