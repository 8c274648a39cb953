//! The probe engine: every health probe of every backend, on one thread and
//! one `mio::Poll`, with non-blocking sockets.
//!
//! The engine keeps a fixed-rate schedule per target: a probe starts at
//! `first + k * interval`, whatever the previous probes took, and a slot whose
//! previous probe is still running is skipped (so one backend never has two
//! probes in flight). First probes are spread evenly over the interval, so
//! 10,000 backends added at once do not fire together. Due starts and probe
//! deadlines sit in two binary heaps; the poll waits until the earlier of the
//! two, never more than [`MAX_POLL_WAIT`], which is also how often `shutdown`
//! is checked.
//!
//! What a probe does on its socket is `probe.rs`'s job; the rise/fall
//! state machine ([`super::state`]) is the caller's, fed with the
//! [`ProbeOutcome`]s that [`HealthEngine::run`] reports once per poll
//! iteration.
//!
//! Invariants:
//!
//! * A target has at most one probe in flight, and every probe in flight
//!   belongs to a current target: replacing the targets drops (closes,
//!   never reports) the probes of removed or changed ones.
//! * Heap entries are never removed early; stale ones (a replaced target's
//!   start, a finished probe's deadline) are recognised by a generation or
//!   sequence number that no longer matches, and skipped.
//! * The engine never panics on what a backend sends, and a probe that cannot
//!   even start (no sockets left, connect refused at once) is reported as a
//!   failure like any other.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};
use mio::{Events, Poll, Token, Waker};
use slab::Slab;

use super::probe::{Probe, READ_BUFFER_SIZE, Start, Verdict};
use super::spec::HealthCheck;
use crate::hash::mix64;

/// The longest the poll waits, so `shutdown` is seen within this time.
pub const MAX_POLL_WAIT: Duration = Duration::from_millis(50);

/// The token of the waker that [`EngineHandle`] uses; probes use their slab
/// key, which never gets this large.
const WAKER_TOKEN: Token = Token(usize::MAX);

/// Readiness events taken per poll: enough for a busy iteration at 10,000
/// probes a second, the rest come on the next poll.
const EVENTS_PER_POLL: usize = 1024;

/// One backend to probe. `id` is stable for a backend across reloads and
/// never reused for another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    /// The backend's identity, unique among the targets.
    pub id: u64,
    /// The backend's address; the check's port is probed on it.
    pub address: IpAddr,
    /// What to probe and how often.
    pub check: HealthCheck,
}

/// The result of one probe.
#[derive(Clone, Debug)]
pub struct ProbeOutcome {
    /// The target probed.
    pub id: u64,
    /// Whether the backend passed.
    pub success: bool,
    /// When the probe finished (or timed out).
    pub at: Instant,
    /// From the probe's start to its end.
    pub latency: Duration,
    /// Short human text: "connected", "HTTP 200", "HTTP 503 not in expect",
    /// "timeout after 400ms", "connection refused", "rcode SERVFAIL, expected
    /// NOERROR", ...
    pub detail: String,
    /// HTTP probes with `load_header`: the header's value when it parsed as
    /// 0.0..=1.0.
    pub load: Option<f32>,
}

/// Runs all probes on one thread; see the module docs.
#[derive(Debug)]
pub struct HealthEngine {
    poll: Poll,
    /// Target lists sent by [`EngineHandle::replace_targets`].
    commands: Receiver<Vec<ProbeTarget>>,
    /// The current targets by id.
    targets: HashMap<u64, Scheduled, foldhash::fast::RandomState>,
    /// Due probe starts, earliest first.
    starts: BinaryHeap<Reverse<DueStart>>,
    /// Probes in flight; the key is the probe's `mio` token.
    probes: Slab<InFlight>,
    /// Probe deadlines, earliest first.
    deadlines: BinaryHeap<Reverse<Deadline>>,
    /// The next target generation (identifies one installation of a target).
    next_generation: u64,
    /// The next probe sequence number (tells apart probes that reuse a key).
    next_sequence: u64,
    /// State of the generator of DNS message IDs.
    query_id_state: u64,
    /// Read buffer shared by all probes.
    buffer: Vec<u8>,
    /// Outcomes of the current poll iteration.
    outcomes: Vec<ProbeOutcome>,
}

/// Sends new target lists to a running [`HealthEngine`] from any thread.
#[derive(Clone, Debug)]
pub struct EngineHandle {
    commands: Sender<Vec<ProbeTarget>>,
    waker: Arc<Waker>,
}

/// A target and where its schedule stands.
#[derive(Debug)]
struct Scheduled {
    target: ProbeTarget,
    /// Matches the target's entry in `starts`; a changed target gets a new one.
    generation: u64,
    /// The slab key of its probe in flight.
    in_flight: Option<usize>,
}

/// A probe start that is due at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DueStart {
    at: Instant,
    id: u64,
    generation: u64,
}

/// A probe in flight.
#[derive(Debug)]
struct InFlight {
    id: u64,
    sequence: u64,
    started: Instant,
    probe: Probe,
}

/// When the probe in slab slot `key` (if still number `sequence`) times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Deadline {
    at: Instant,
    key: usize,
    sequence: u64,
}

impl HealthEngine {
    /// An engine for `targets` (first probes spread over each one's interval
    /// from now) and the handle that changes them later.
    pub fn new(targets: Vec<ProbeTarget>) -> io::Result<(HealthEngine, EngineHandle)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
        let (sender, receiver) = crossbeam::channel::unbounded();
        let mut engine = HealthEngine {
            poll,
            commands: receiver,
            targets: HashMap::default(),
            starts: BinaryHeap::new(),
            probes: Slab::new(),
            deadlines: BinaryHeap::new(),
            next_generation: 0,
            next_sequence: 0,
            query_id_state: std::hash::RandomState::new().build_hasher().finish(),
            buffer: vec![0; READ_BUFFER_SIZE],
            outcomes: Vec::new(),
        };
        engine.replace(targets, Instant::now());
        let handle = EngineHandle {
            commands: sender,
            waker,
        };
        Ok((engine, handle))
    }

    /// Probes until `shutdown` is set (checked at least every
    /// [`MAX_POLL_WAIT`]). After each poll iteration that finished probes,
    /// calls `report` once with all of them, in the order they finished.
    pub fn run(mut self, shutdown: &AtomicBool, mut report: impl FnMut(&[ProbeOutcome])) {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        while !shutdown.load(Ordering::Acquire) {
            let now = Instant::now();
            self.start_due(now);
            // Probes that failed at once are reported without waiting.
            let wait = if self.outcomes.is_empty() {
                self.time_to_next_event(now)
            } else {
                Duration::ZERO
            };
            if let Err(error) = self.poll.poll(&mut events, Some(wait)) {
                if error.kind() != io::ErrorKind::Interrupted {
                    tracing::warn!(%error, "health engine poll failed");
                    std::thread::sleep(MAX_POLL_WAIT);
                }
                events.clear();
            }
            let now = Instant::now();
            // New targets first, so no event of an abandoned probe is handled.
            self.apply_commands(now);
            self.handle_events(&events, now);
            self.expire(now);
            if !self.outcomes.is_empty() {
                report(&self.outcomes);
                self.outcomes.clear();
            }
        }
    }

    /// Installs `targets`: unchanged ones keep their schedule and probe in
    /// flight, removed and changed ones lose theirs, new and changed ones are
    /// spread over their interval from `now`.
    fn replace(&mut self, targets: Vec<ProbeTarget>, now: Instant) {
        let mut previous = std::mem::take(&mut self.targets);
        let mut seen = HashSet::with_capacity_and_hasher(
            targets.len(),
            foldhash::fast::RandomState::default(),
        );
        let mut fresh = Vec::new();
        for target in targets {
            if !seen.insert(target.id) {
                tracing::warn!(id = target.id, "duplicate health target id ignored");
                continue;
            }
            match previous.remove(&target.id) {
                Some(scheduled) if scheduled.target == target => {
                    self.targets.insert(target.id, scheduled);
                }
                Some(scheduled) => {
                    self.abandon(&scheduled);
                    fresh.push(target);
                }
                None => fresh.push(target),
            }
        }
        for scheduled in previous.into_values() {
            self.abandon(&scheduled);
        }
        let count = fresh.len();
        for (index, target) in fresh.into_iter().enumerate() {
            let generation = self.next_generation;
            self.next_generation += 1;
            self.starts.push(Reverse(DueStart {
                at: now + spread(target.check.interval, index, count),
                id: target.id,
                generation,
            }));
            self.targets.insert(
                target.id,
                Scheduled {
                    target,
                    generation,
                    in_flight: None,
                },
            );
        }
    }

    /// Drops the probe in flight of a target that goes away (its socket
    /// closes, its deadline goes stale).
    fn abandon(&mut self, scheduled: &Scheduled) {
        if let Some(key) = scheduled.in_flight {
            self.probes.try_remove(key);
        }
    }

    /// Installs the newest target list sent, if any.
    fn apply_commands(&mut self, now: Instant) {
        let mut latest = None;
        while let Ok(targets) = self.commands.try_recv() {
            latest = Some(targets);
        }
        if let Some(targets) = latest {
            self.replace(targets, now);
        }
    }

    /// Starts every probe due by `now` and schedules the next slot of each.
    fn start_due(&mut self, now: Instant) {
        while let Some(&Reverse(due)) = self.starts.peek() {
            if due.at > now {
                break;
            }
            self.starts.pop();
            let Some(scheduled) = self.targets.get_mut(&due.id) else {
                continue;
            };
            if scheduled.generation != due.generation {
                continue;
            }
            let check = &scheduled.target.check;
            self.starts.push(Reverse(DueStart {
                at: next_start(due.at, check.interval, now),
                ..due
            }));
            if scheduled.in_flight.is_some() {
                // Still probing: skip this slot.
                continue;
            }
            self.query_id_state = self.query_id_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let query_id = (mix64(self.query_id_state) >> 48) as u16;
            let entry = self.probes.vacant_entry();
            let key = entry.key();
            // Its own clock reading: a long batch of starts must not count
            // in the later probes' latency.
            let started = Instant::now();
            match Probe::start(
                scheduled.target.address,
                check,
                self.poll.registry(),
                Token(key),
                query_id,
            ) {
                Start::Running(probe) => {
                    let sequence = self.next_sequence;
                    self.next_sequence += 1;
                    entry.insert(InFlight {
                        id: due.id,
                        sequence,
                        started,
                        probe,
                    });
                    scheduled.in_flight = Some(key);
                    self.deadlines.push(Reverse(Deadline {
                        at: started + check.timeout,
                        key,
                        sequence,
                    }));
                }
                Start::Finished(verdict) => {
                    self.outcomes
                        .push(outcome(due.id, verdict, started, Instant::now()));
                }
            }
        }
    }

    /// How long the poll may wait: until the next start or deadline, at most
    /// [`MAX_POLL_WAIT`].
    fn time_to_next_event(&self, now: Instant) -> Duration {
        let next_start = self.starts.peek().map(|due| due.0.at);
        let next_deadline = self.deadlines.peek().map(|deadline| deadline.0.at);
        let next = match (next_start, next_deadline) {
            (Some(start), Some(deadline)) => Some(start.min(deadline)),
            (start, deadline) => start.or(deadline),
        };
        next.map_or(MAX_POLL_WAIT, |at| {
            at.saturating_duration_since(now).min(MAX_POLL_WAIT)
        })
    }

    /// Advances the probes whose sockets are ready.
    fn handle_events(&mut self, events: &Events, now: Instant) {
        for event in events {
            let key = event.token().0;
            let Some(in_flight) = self.probes.get_mut(key) else {
                // The waker, or a probe already gone.
                continue;
            };
            let Some(scheduled) = self.targets.get_mut(&in_flight.id) else {
                continue;
            };
            let verdict = in_flight.probe.advance(
                &scheduled.target.check,
                self.poll.registry(),
                &mut self.buffer,
            );
            if let Some(verdict) = verdict {
                let finished = self.probes.remove(key);
                scheduled.in_flight = None;
                self.outcomes
                    .push(outcome(finished.id, verdict, finished.started, now));
            }
        }
    }

    /// Ends, as failures, the probes whose deadline has passed.
    fn expire(&mut self, now: Instant) {
        while let Some(&Reverse(deadline)) = self.deadlines.peek() {
            if deadline.at > now {
                break;
            }
            self.deadlines.pop();
            let current = self
                .probes
                .get(deadline.key)
                .is_some_and(|in_flight| in_flight.sequence == deadline.sequence);
            if !current {
                continue;
            }
            let finished = self.probes.remove(deadline.key);
            let Some(scheduled) = self.targets.get_mut(&finished.id) else {
                continue;
            };
            scheduled.in_flight = None;
            let timeout = scheduled.target.check.timeout;
            let verdict = Verdict {
                success: false,
                detail: format!("timeout after {}ms", timeout.as_millis()),
                load: None,
            };
            self.outcomes
                .push(outcome(finished.id, verdict, finished.started, now));
        }
    }
}

impl EngineHandle {
    /// Replaces the whole target list (config reload). Targets whose id and
    /// (address, check) are unchanged keep their schedule; probes in flight
    /// for removed or changed ids are abandoned and never reported; new ones
    /// are spread over their interval like at start. When several lists are
    /// sent before the engine looks, the last one wins.
    pub fn replace_targets(&self, targets: Vec<ProbeTarget>) {
        // Both fail only once the engine is gone, when nothing is left to do.
        if self.commands.send(targets).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

fn outcome(id: u64, verdict: Verdict, started: Instant, at: Instant) -> ProbeOutcome {
    ProbeOutcome {
        id,
        success: verdict.success,
        at,
        latency: at.saturating_duration_since(started),
        detail: verdict.detail,
        load: verdict.load,
    }
}

/// The offset of the first probe of the `index`th of `count` targets added
/// together: evenly over the interval.
fn spread(interval: Duration, index: usize, count: usize) -> Duration {
    if count == 0 {
        return Duration::ZERO;
    }
    let nanos = interval.as_nanos() * index as u128 / count as u128;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The slot after `scheduled` on a fixed-rate grid of `interval`: the next
/// one, or when the thread fell behind (`now` past it), the first one after
/// `now`, so missed slots are skipped rather than run in a burst.
fn next_start(scheduled: Instant, interval: Duration, now: Instant) -> Instant {
    // A zero interval would never move on; config forbids it anyway.
    let interval = interval.max(Duration::from_millis(1));
    let next = scheduled + interval;
    if next > now {
        return next;
    }
    let behind = now.saturating_duration_since(scheduled).as_nanos();
    let slots = behind / interval.as_nanos() + 1;
    let nanos = u64::try_from(slots * interval.as_nanos()).unwrap_or(u64::MAX);
    scheduled + Duration::from_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream, UdpSocket};
    use std::num::NonZeroU32;
    use std::thread::JoinHandle;

    use crossbeam::channel::RecvTimeoutError;
    use dnslb_io::socket::ipv6_loopback_available;
    use domain::base::iana::Rcode;
    use domain::base::{Message, MessageBuilder};

    use super::*;
    use crate::health::spec::{DnsProbe, HttpProbe, ProbeKind};
    use crate::health::state::Thresholds;

    const LOCALHOST_V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const LOCALHOST_V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

    fn check(kind: ProbeKind, port: u16, interval_ms: u64, timeout_ms: u64) -> HealthCheck {
        HealthCheck {
            kind,
            port,
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(timeout_ms),
            thresholds: Thresholds {
                rise: NonZeroU32::new(2).unwrap(),
                fall: NonZeroU32::new(3).unwrap(),
            },
        }
    }

    fn target(id: u64, address: IpAddr, check: HealthCheck) -> ProbeTarget {
        ProbeTarget { id, address, check }
    }

    fn http_kind(
        expect: &[u16],
        body_contains: Option<&str>,
        load_header: Option<&str>,
    ) -> ProbeKind {
        ProbeKind::Http(HttpProbe {
            path: "/healthz".to_owned(),
            host: "example.test".to_owned(),
            expect: expect.to_vec(),
            body_contains: body_contains.map(str::to_owned),
            load_header: load_header.map(str::to_owned),
        })
    }

    fn dns_kind(rcode: u8) -> ProbeKind {
        ProbeKind::Dns(DnsProbe {
            qname: b"\x06health\x07example\x04test\x00".to_vec(),
            qtype: 1,
            rcode,
        })
    }

    /// An engine running on its own thread; stopped and joined on drop.
    struct Running {
        shutdown: Arc<AtomicBool>,
        outcomes: Receiver<ProbeOutcome>,
        handle: EngineHandle,
        started: Instant,
        thread: Option<JoinHandle<()>>,
    }

    impl Running {
        fn start(targets: Vec<ProbeTarget>) -> Running {
            let started = Instant::now();
            let (engine, handle) = HealthEngine::new(targets).unwrap();
            let shutdown = Arc::new(AtomicBool::new(false));
            let (sender, outcomes) = crossbeam::channel::unbounded();
            let stop = Arc::clone(&shutdown);
            let thread = std::thread::spawn(move || {
                engine.run(&stop, |batch| {
                    assert!(!batch.is_empty());
                    for outcome in batch {
                        let _ = sender.send(outcome.clone());
                    }
                });
            });
            Running {
                shutdown,
                outcomes,
                handle,
                started,
                thread: Some(thread),
            }
        }

        /// The next outcome, within two seconds.
        fn next(&self) -> ProbeOutcome {
            self.outcomes
                .recv_timeout(Duration::from_secs(2))
                .expect("an outcome within 2 s")
        }

        /// Every outcome of a probe that finished in the next `span` (by its
        /// `at`, so a test thread that runs late counts no more).
        fn collect_for(&self, span: Duration) -> Vec<ProbeOutcome> {
            let end = Instant::now() + span;
            let mut collected = Vec::new();
            loop {
                match self.outcomes.recv_deadline(end) {
                    Ok(outcome) if outcome.at <= end => collected.push(outcome),
                    Ok(_) => return collected,
                    Err(RecvTimeoutError::Timeout) => return collected,
                    Err(RecvTimeoutError::Disconnected) => panic!("engine stopped"),
                }
            }
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.shutdown.store(true, Ordering::Release);
            if let Some(thread) = self.thread.take() {
                let joined = thread.join();
                if !std::thread::panicking() {
                    joined.unwrap();
                }
            }
        }
    }

    fn first_outcome(target: ProbeTarget) -> ProbeOutcome {
        Running::start(vec![target]).next()
    }

    /// A helper thread that runs until dropped.
    struct Helper {
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Helper {
        fn spawn(body: impl FnOnce(&AtomicBool) + Send + 'static) -> Helper {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stop);
            let thread = std::thread::spawn(move || body(&flag));
            Helper {
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Helper {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Release);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    /// A TCP listener that accepts and drops connections until dropped.
    fn acceptor(address: IpAddr) -> (u16, Helper) {
        let listener = TcpListener::bind((address, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let helper = Helper::spawn(move |stop| {
            while !stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        (port, helper)
    }

    /// A one-connection-at-a-time HTTP server: reads each request head,
    /// sends it on the channel, then lets `respond` answer.
    fn http_server(
        address: IpAddr,
        respond: impl Fn(&mut TcpStream) + Send + 'static,
    ) -> (u16, Receiver<String>, Helper) {
        let listener = TcpListener::bind((address, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, requests) = crossbeam::channel::unbounded();
        let helper = Helper::spawn(move |stop| {
            while !stop.load(Ordering::Acquire) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut head = Vec::new();
                let mut byte = [0; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let _ = sender.send(String::from_utf8_lossy(&head).into_owned());
                respond(&mut stream);
            }
        });
        (port, requests, helper)
    }

    /// Writes `parts` with a pause between them, then closes.
    fn respond_in_parts(parts: &'static [&'static str]) -> impl Fn(&mut TcpStream) {
        move |stream| {
            for (index, part) in parts.iter().enumerate() {
                if index > 0 {
                    std::thread::sleep(Duration::from_millis(30));
                }
                let _ = stream.write_all(part.as_bytes());
                let _ = stream.flush();
            }
        }
    }

    fn http_probe_of(response: &'static [&'static str], kind: ProbeKind) -> (ProbeOutcome, String) {
        let (port, requests, _server) = http_server(LOCALHOST_V4, respond_in_parts(response));
        let outcome = first_outcome(target(1, LOCALHOST_V4, check(kind, port, 1000, 500)));
        let request = requests.recv_timeout(Duration::from_secs(1)).unwrap();
        (outcome, request)
    }

    #[derive(Clone, Copy)]
    enum Answer {
        Rcode(Rcode),
        WrongId,
    }

    /// A UDP DNS responder that answers every query with `answer`.
    fn dns_responder(address: IpAddr, answer: Answer) -> (u16, Helper) {
        let socket = UdpSocket::bind((address, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let helper = Helper::spawn(move |stop| {
            let mut buffer = [0; 512];
            while !stop.load(Ordering::Acquire) {
                let Ok((length, peer)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                let Ok(query) = Message::from_octets(&buffer[..length]) else {
                    continue;
                };
                let rcode = match answer {
                    Answer::Rcode(rcode) => rcode,
                    Answer::WrongId => Rcode::NOERROR,
                };
                let mut reply = MessageBuilder::new_vec()
                    .start_answer(&query, rcode)
                    .unwrap()
                    .finish();
                if let Answer::WrongId = answer {
                    reply[0] ^= 0xFF;
                }
                let _ = socket.send_to(&reply, peer);
            }
        });
        (port, helper)
    }

    #[test]
    fn tcp_probe_of_a_listener_succeeds() {
        let listener = TcpListener::bind((LOCALHOST_V4, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let outcome = first_outcome(target(
            7,
            LOCALHOST_V4,
            check(ProbeKind::Tcp, port, 100, 50),
        ));
        assert_eq!(outcome.id, 7);
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.detail, "connected");
        assert_eq!(outcome.load, None);
        assert!(outcome.latency < Duration::from_millis(50));
    }

    #[test]
    fn tcp_probe_over_ipv6() {
        if !ipv6_loopback_available() {
            return;
        }
        let listener = TcpListener::bind((LOCALHOST_V6, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let outcome = first_outcome(target(
            1,
            LOCALHOST_V6,
            check(ProbeKind::Tcp, port, 100, 50),
        ));
        assert!(outcome.success, "{outcome:?}");
    }

    #[test]
    fn tcp_probe_of_a_closed_port_is_refused_quickly() {
        let port = TcpListener::bind((LOCALHOST_V4, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let outcome = first_outcome(target(
            1,
            LOCALHOST_V4,
            check(ProbeKind::Tcp, port, 1000, 500),
        ));
        assert!(!outcome.success);
        assert!(outcome.detail.contains("refused"), "{outcome:?}");
        assert!(outcome.latency < Duration::from_millis(100), "{outcome:?}");
    }

    #[test]
    fn http_200_succeeds_and_the_request_is_well_formed() {
        let (outcome, request) = http_probe_of(
            &["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
            http_kind(&[200], None, None),
        );
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.detail, "HTTP 200");
        assert!(
            request.starts_with("GET /healthz HTTP/1.1\r\nHost: example.test\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nConnection: close\r\n"), "{request}");
        assert!(
            request.contains("\r\nUser-Agent: dnslb-health\r\n"),
            "{request}"
        );
    }

    #[test]
    fn http_503_fails() {
        let (outcome, _) = http_probe_of(
            &["HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"],
            http_kind(&[200], None, None),
        );
        assert!(!outcome.success);
        assert_eq!(outcome.detail, "HTTP 503 not in expect");
    }

    #[test]
    fn http_expect_list_accepts_each_status() {
        let (outcome, _) = http_probe_of(
            &["HTTP/1.1 204 No Content\r\n\r\n"],
            http_kind(&[200, 204], None, None),
        );
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.detail, "HTTP 204");
    }

    #[test]
    fn http_body_contains_hit_and_miss() {
        let response = &["HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nstatus: ready\n"];
        let (hit, _) = http_probe_of(response, http_kind(&[200], Some("ready"), None));
        assert!(hit.success, "{hit:?}");
        let (miss, _) = http_probe_of(response, http_kind(&[200], Some("draining"), None));
        assert!(!miss.success);
        assert!(miss.detail.contains("body lacks"), "{miss:?}");
    }

    #[test]
    fn http_load_header_is_reported() {
        let (outcome, _) = http_probe_of(
            &["HTTP/1.1 200 OK\r\nX-Load: 0.25\r\nContent-Length: 0\r\n\r\n"],
            http_kind(&[200], None, Some("x-load")),
        );
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.load, Some(0.25));
        let (bad, _) = http_probe_of(
            &["HTTP/1.1 200 OK\r\nX-Load: lots\r\nContent-Length: 0\r\n\r\n"],
            http_kind(&[200], None, Some("X-Load")),
        );
        assert!(bad.success, "{bad:?}");
        assert_eq!(bad.load, None);
        assert!(bad.detail.contains("bad X-Load value"), "{bad:?}");
    }

    #[test]
    fn http_response_split_across_writes() {
        let (outcome, _) = http_probe_of(
            &[
                "HTTP/1.1 200 OK\r\nContent-Le",
                "ngth: 11\r\nX-Load: 0.",
                "5\r\n\r\nhello",
                " world",
            ],
            http_kind(&[200], Some("world"), Some("X-Load")),
        );
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.load, Some(0.5));
        assert!(outcome.latency >= Duration::from_millis(80), "{outcome:?}");
    }

    #[test]
    fn http_chunked_body_until_close() {
        let (outcome, _) = http_probe_of(
            &[
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nrea",
                "d\r\n1\r\ny\r\n0\r\n\r\n",
            ],
            http_kind(&[200], Some("ready"), None),
        );
        assert!(outcome.success, "{outcome:?}");
        let (until_close, _) = http_probe_of(
            &["HTTP/1.1 200 OK\r\n\r\nall ", "ready"],
            http_kind(&[200], Some("ready"), None),
        );
        assert!(until_close.success, "{until_close:?}");
    }

    #[test]
    fn http_response_too_large_fails() {
        let (port, _requests, _server) = http_server(LOCALHOST_V4, |stream| {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
            let _ = stream.write_all(&[b'x'; 70 * 1024]);
        });
        let kind = http_kind(&[200], Some("never"), None);
        let outcome = first_outcome(target(1, LOCALHOST_V4, check(kind, port, 1000, 500)));
        assert!(!outcome.success);
        assert_eq!(outcome.detail, "response too large");
    }

    #[test]
    fn http_server_that_never_answers_times_out() {
        let (port, _requests, _server) = http_server(LOCALHOST_V4, |_| {
            std::thread::sleep(Duration::from_millis(400));
        });
        let kind = http_kind(&[200], None, None);
        let outcome = first_outcome(target(1, LOCALHOST_V4, check(kind, port, 1000, 150)));
        assert!(!outcome.success);
        assert_eq!(outcome.detail, "timeout after 150ms");
        assert!(outcome.latency >= Duration::from_millis(150), "{outcome:?}");
        assert!(outcome.latency < Duration::from_millis(300), "{outcome:?}");
    }

    #[test]
    fn http_probe_over_ipv6() {
        if !ipv6_loopback_available() {
            return;
        }
        let (port, _requests, _server) =
            http_server(LOCALHOST_V6, respond_in_parts(&["HTTP/1.1 200 OK\r\n\r\n"]));
        let kind = http_kind(&[200], None, None);
        let outcome = first_outcome(target(1, LOCALHOST_V6, check(kind, port, 1000, 500)));
        assert!(outcome.success, "{outcome:?}");
    }

    #[test]
    fn dns_expected_rcode_succeeds_and_another_fails() {
        let (port, _responder) = dns_responder(LOCALHOST_V4, Answer::Rcode(Rcode::NOERROR));
        let outcome = first_outcome(target(1, LOCALHOST_V4, check(dns_kind(0), port, 1000, 500)));
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.detail, "rcode NOERROR");

        let (port, _responder) = dns_responder(LOCALHOST_V4, Answer::Rcode(Rcode::SERVFAIL));
        let outcome = first_outcome(target(1, LOCALHOST_V4, check(dns_kind(0), port, 1000, 500)));
        assert!(!outcome.success);
        assert_eq!(outcome.detail, "rcode SERVFAIL, expected NOERROR");
    }

    #[test]
    fn dns_reply_with_a_wrong_id_is_ignored_until_timeout() {
        let (port, _responder) = dns_responder(LOCALHOST_V4, Answer::WrongId);
        let outcome = first_outcome(target(1, LOCALHOST_V4, check(dns_kind(0), port, 1000, 150)));
        assert!(!outcome.success);
        assert_eq!(outcome.detail, "timeout after 150ms");
    }

    #[test]
    fn dns_probe_over_ipv6() {
        if !ipv6_loopback_available() {
            return;
        }
        let (port, _responder) = dns_responder(LOCALHOST_V6, Answer::Rcode(Rcode::NXDOMAIN));
        let outcome = first_outcome(target(1, LOCALHOST_V6, check(dns_kind(3), port, 1000, 500)));
        assert!(outcome.success, "{outcome:?}");
    }

    #[test]
    fn dns_probe_of_a_closed_port_is_refused() {
        let port = UdpSocket::bind((LOCALHOST_V4, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let outcome = first_outcome(target(1, LOCALHOST_V4, check(dns_kind(0), port, 1000, 500)));
        assert!(!outcome.success);
        assert_eq!(outcome.detail, "connection refused");
    }

    #[test]
    fn probe_that_cannot_start_is_reported_as_a_failure() {
        let kind = ProbeKind::Dns(DnsProbe {
            qname: vec![3, b'b', b'a', b'd'],
            qtype: 1,
            rcode: 0,
        });
        let outcome = first_outcome(target(1, LOCALHOST_V4, check(kind, 53, 1000, 500)));
        assert!(!outcome.success);
        assert_eq!(outcome.detail, "invalid query name");
    }

    #[test]
    fn first_round_is_spread_over_the_interval() {
        let (port, _acceptor) = acceptor(LOCALHOST_V4);
        let targets = (0..200)
            .map(|id| target(id, LOCALHOST_V4, check(ProbeKind::Tcp, port, 200, 100)))
            .collect();
        let running = Running::start(targets);
        let outcomes = running.collect_for(Duration::from_millis(300));
        let mut first = HashMap::new();
        for outcome in &outcomes {
            assert!(outcome.success, "{outcome:?}");
            first
                .entry(outcome.id)
                .or_insert(outcome.at - running.started);
        }
        assert_eq!(first.len(), 200);
        let early = first
            .values()
            .filter(|&&offset| offset < Duration::from_millis(20))
            .count();
        // Evenly spread, 20 fall in the first 20 ms; allow for a slow start.
        assert!(early < 60, "{early} of 200 started in the first 20 ms");
        let last = first.values().max().unwrap();
        assert!(
            *last >= Duration::from_millis(150),
            "last first probe at {last:?}"
        );
    }

    #[test]
    fn each_target_is_probed_once_per_interval() {
        let (port, _acceptor) = acceptor(LOCALHOST_V4);
        let targets = (0..20)
            .map(|id| target(id, LOCALHOST_V4, check(ProbeKind::Tcp, port, 100, 50)))
            .collect();
        let running = Running::start(targets);
        let outcomes = running.collect_for(Duration::from_millis(1000));
        for id in 0..20 {
            let times: Vec<Instant> = outcomes
                .iter()
                .filter(|outcome| outcome.id == id)
                .map(|outcome| outcome.at)
                .collect();
            assert!((9..=11).contains(&times.len()), "id {id}: {}", times.len());
            // Fixed rate: the starts keep the phase of the first one.
            let span = *times.last().unwrap() - times[0];
            let expected = Duration::from_millis(100) * (times.len() as u32 - 1);
            assert!(
                span.abs_diff(expected) < Duration::from_millis(40),
                "id {id}: {span:?} for {} probes",
                times.len()
            );
        }
    }

    #[test]
    fn replace_targets_stops_removed_starts_added_keeps_unchanged() {
        let (port, _acceptor) = acceptor(LOCALHOST_V4);
        let tcp = check(ProbeKind::Tcp, port, 100, 50);
        let running = Running::start(vec![
            target(1, LOCALHOST_V4, tcp.clone()),
            target(2, LOCALHOST_V4, tcp.clone()),
        ]);
        let before = running.collect_for(Duration::from_millis(300));
        assert!(before.iter().any(|outcome| outcome.id == 2));
        running.handle.replace_targets(vec![
            target(1, LOCALHOST_V4, tcp.clone()),
            target(3, LOCALHOST_V4, tcp.clone()),
        ]);
        // Outcomes already on their way when the list changed may still come.
        let reloaded = Instant::now() + Duration::from_millis(30);
        let after: Vec<ProbeOutcome> = running
            .collect_for(Duration::from_millis(530))
            .into_iter()
            .filter(|outcome| outcome.at > reloaded)
            .collect();
        let count = |id| after.iter().filter(|outcome| outcome.id == id).count();
        assert_eq!(count(2), 0);
        assert!((4..=6).contains(&count(3)), "new target: {}", count(3));
        assert!((4..=6).contains(&count(1)), "kept target: {}", count(1));
        // The kept target was not restarted: its probes stay 100 ms apart
        // across the reload.
        let kept: Vec<Instant> = before
            .iter()
            .chain(&after)
            .filter(|outcome| outcome.id == 1)
            .map(|outcome| outcome.at)
            .collect();
        for pair in kept.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap > Duration::from_millis(60), "gap {gap:?}");
        }
    }

    #[test]
    fn replace_targets_abandons_a_changed_target_in_flight() {
        let (slow_port, requests, _server) = http_server(LOCALHOST_V4, |_| {
            std::thread::sleep(Duration::from_millis(500));
        });
        let (port, _acceptor) = acceptor(LOCALHOST_V4);
        let slow = check(http_kind(&[200], None, None), slow_port, 1000, 300);
        let running = Running::start(vec![target(1, LOCALHOST_V4, slow)]);
        // The HTTP probe is in flight once the server has its request.
        requests.recv_timeout(Duration::from_secs(1)).unwrap();
        running.handle.replace_targets(vec![target(
            1,
            LOCALHOST_V4,
            check(ProbeKind::Tcp, port, 100, 50),
        )]);
        let outcomes = running.collect_for(Duration::from_millis(500));
        assert!(
            outcomes.iter().all(|outcome| outcome.success),
            "{outcomes:?}"
        );
        assert!(outcomes.len() >= 3, "{outcomes:?}");
    }

    #[test]
    fn shutdown_is_seen_within_the_poll_cap() {
        let (engine, _handle) = HealthEngine::new(Vec::new()).unwrap();
        let shutdown = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&shutdown);
        let thread = std::thread::spawn(move || engine.run(&stop, |_| panic!("no targets")));
        std::thread::sleep(Duration::from_millis(20));
        let asked = Instant::now();
        shutdown.store(true, Ordering::Release);
        thread.join().unwrap();
        assert!(asked.elapsed() < MAX_POLL_WAIT + Duration::from_millis(30));
    }

    #[test]
    fn next_start_keeps_the_grid_and_skips_missed_slots() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(next_start(start, second, start), start + second);
        // Late by 2.5 intervals: the next slot is the one at 3 intervals.
        let late = start + Duration::from_millis(2500);
        assert_eq!(next_start(start, second, late), start + second * 3);
        // Exactly on a slot: the one after it.
        assert_eq!(
            next_start(start, second, start + second),
            start + second * 2
        );
    }

    #[test]
    fn spread_is_even_over_the_interval() {
        let interval = Duration::from_millis(1000);
        assert_eq!(spread(interval, 0, 4), Duration::ZERO);
        assert_eq!(spread(interval, 3, 4), Duration::from_millis(750));
        assert_eq!(spread(interval, 0, 0), Duration::ZERO);
    }
}
