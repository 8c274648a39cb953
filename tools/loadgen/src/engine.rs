//! The load loop of one generator thread, over any [`Transport`]: send queries
//! (closed loop: keep a window outstanding; open loop: follow a schedule), match
//! every reply to its query through the per-socket [`InFlightTable`]s, count
//! rcodes, losses and bad replies, and record latencies in an HDR histogram.
//!
//! Invariants:
//!
//! * the loop allocates nothing: the packets, tables, histogram and transport
//!   buffers all exist before it starts;
//! * `in_flight` equals the sum of the tables' outstanding counts, and
//!   `sent == answered + lost + in_flight` at every step; after the drain phase
//!   (which waits up to the timeout for the last replies and counts the rest
//!   lost) `in_flight` is 0, so `sent == answered + lost`;
//! * latency is measured from the send time in closed loop, and from the
//!   *scheduled* send time in open loop, so a stalled server delays the schedule's
//!   queries and shows in the tail (no coordinated omission);
//! * a query is lost when unanswered `timeout` after it was actually sent, so a
//!   generator that falls behind its schedule (a rate above what it can send)
//!   still counts the server's timely answers as answered: its lateness shows in
//!   the latencies, and the sending time it took in the rates.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::inflight::InFlightTable;
use crate::packet::{PacketSet, question_matches, reply_header};

/// Highest latency the histogram holds, in nanoseconds (one hour); longer ones
/// are recorded as this.
pub const HISTOGRAM_HIGHEST: u64 = 3_600_000_000_000;

/// Significant digits of the histogram.
pub const HISTOGRAM_DIGITS: u8 = 3;

/// Closed loop: how long the thread busy-polls its sockets after the last reply
/// before it sleeps in `ppoll`. Busy-polling is what lets one generator core
/// saturate a server core: a sleeping generator must be woken by the server's
/// every send (a cross-CPU wake-up the server pays for), and wakes late. The
/// sleep only saves the CPU when the server stops answering.
const SPIN_AFTER_REPLY: Duration = Duration::from_millis(1);

/// Open loop: sleep until this long before the next scheduled send, then spin.
const SPIN_BEFORE_SEND: Duration = Duration::from_micros(30);

/// Longest single sleep, so the stop flag and the end are seen promptly.
const MAX_SLEEP: Duration = Duration::from_millis(10);

/// How often the thread publishes its counters for the progress line.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// One reply as a transport hands it to the engine.
#[derive(Clone, Copy, Debug)]
pub struct Reply<'a> {
    /// The socket (the source port, for AF_XDP) it came back to.
    pub socket: usize,
    /// The DNS message.
    pub message: &'a [u8],
    /// Whether it is the first of a batch received together: the engine takes
    /// one time stamp per batch.
    pub first: bool,
}

/// A source of queries on a set of sockets (UDP sockets, TCP connections, or
/// the source ports of AF_XDP frames).
pub trait Transport {
    /// Number of sockets.
    fn sockets(&self) -> usize;
    /// How many queries socket `socket` can take in its next send.
    fn room(&mut self, socket: usize) -> usize;
    /// Stages packet number `packet` of the set, `bytes`, with its ID set to
    /// `id`, as query `index` of the next send on `socket`.
    fn stage(&mut self, socket: usize, index: usize, packet: usize, bytes: &[u8], id: u16);
    /// Sends the first `count` staged queries on `socket`; returns how many left
    /// (always the first ones).
    fn send(&mut self, socket: usize, count: usize) -> usize;
    /// Hands the kernel what [`send`](Self::send) queued without sending yet
    /// (a transport whose batches span sockets); called after each round of
    /// sends. Nothing to do by default.
    fn flush(&mut self) {}
    /// Receives what the sockets have ready and hands each reply to
    /// `on_reply`; returns how many replies there were.
    fn receive<F: FnMut(Reply<'_>)>(&mut self, on_reply: F) -> usize;
    /// Sleeps until a socket is readable (or has pending output that can go) or
    /// `timeout` passes.
    fn wait(&mut self, timeout: Duration);
    /// Socket errors so far (send failures, receive failures, reconnections).
    fn errors(&self) -> u64;
}

/// How queries are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// Keep `window` queries outstanding.
    Closed { window: usize },
    /// Send on a schedule: global query `g` is due `g / rate` seconds after the
    /// start, and this thread sends the `g` with `g % threads == thread`.
    Open {
        rate: u64,
        thread: usize,
        threads: usize,
    },
}

/// What one thread does.
#[derive(Clone, Debug)]
pub struct Plan {
    pub pacing: Pacing,
    /// How long to send.
    pub duration: Duration,
    /// A query unanswered this long after it was sent (or scheduled) is lost.
    pub timeout: Duration,
    /// Most queries per send call.
    pub batch: usize,
    /// First packet of the set this thread sends (threads start at different ones).
    pub first_packet: usize,
}

/// Counters of one run, summed over threads by the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub sent: u64,
    pub answered: u64,
    pub lost: u64,
    /// Replies by header RCODE.
    pub rcodes: [u64; 16],
    /// Answered with the TC bit set.
    pub truncated: u64,
    /// Replies shorter than a DNS header.
    pub short: u64,
    /// Messages without the QR bit.
    pub not_response: u64,
    /// Replies whose ID matches no outstanding query of their socket (also late
    /// replies, after their query was counted lost).
    pub unknown_id: u64,
    /// Replies whose ID matches but whose question differs.
    pub wrong_question: u64,
    /// Socket errors.
    pub socket_errors: u64,
}

impl Counters {
    /// Replies that matched no query or could not be read.
    pub fn malformed(&self) -> u64 {
        self.short + self.not_response + self.unknown_id + self.wrong_question
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counters) {
        self.sent += other.sent;
        self.answered += other.answered;
        self.lost += other.lost;
        for (total, count) in self.rcodes.iter_mut().zip(other.rcodes) {
            *total += count;
        }
        self.truncated += other.truncated;
        self.short += other.short;
        self.not_response += other.not_response;
        self.unknown_id += other.unknown_id;
        self.wrong_question += other.wrong_question;
        self.socket_errors += other.socket_errors;
    }
}

/// Live totals of one thread, for the progress line.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub answered: AtomicU64,
    pub lost: AtomicU64,
}

impl Progress {
    fn publish(&self, counters: &Counters) {
        self.sent.store(counters.sent, Ordering::Relaxed);
        self.answered.store(counters.answered, Ordering::Relaxed);
        self.lost.store(counters.lost, Ordering::Relaxed);
    }
}

/// What one thread measured.
#[derive(Debug)]
pub struct Outcome {
    pub counters: Counters,
    /// Latencies in nanoseconds.
    pub histogram: Histogram<u64>,
    /// How long the thread sent queries: the run's duration, or less when
    /// stopped early, or more when an open loop behind its schedule sent its
    /// last queries after the end.
    pub sending: Duration,
    /// Queries outstanding at the end: 0 unless the drain was cut short.
    pub in_flight: u64,
}

/// A new, empty latency histogram (nanoseconds).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_HIGHEST, HISTOGRAM_DIGITS)
        .expect("valid histogram bounds")
}

/// Nanoseconds since `start`.
fn nanos_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The open-loop schedule of one thread.
#[derive(Clone, Copy, Debug)]
struct Schedule {
    rate: u128,
    thread: u128,
    threads: u128,
    /// Queries this thread sends in all.
    total: u64,
}

impl Schedule {
    fn new(rate: u64, thread: usize, threads: usize, duration: Duration) -> Schedule {
        let rate = u128::from(rate.max(1));
        let thread = thread as u128;
        let threads = (threads as u128).max(1);
        // Global queries g with g / rate < duration: g < duration_ns * rate / 1e9.
        let global = (duration.as_nanos() * rate).div_ceil(1_000_000_000);
        let total = Schedule::own_below(global, thread, threads);
        Schedule {
            rate,
            thread,
            threads,
            total: u64::try_from(total).unwrap_or(u64::MAX),
        }
    }

    /// How many of the global queries `0..global` belong to `thread`.
    fn own_below(global: u128, thread: u128, threads: u128) -> u128 {
        if global > thread {
            (global - thread).div_ceil(threads)
        } else {
            0
        }
    }

    /// How many of this thread's queries are due at `now` (nanoseconds).
    fn due(&self, now: u64) -> u64 {
        let global = u128::from(now) * self.rate / 1_000_000_000 + 1;
        let own = Schedule::own_below(global, self.thread, self.threads);
        u64::try_from(own).unwrap_or(u64::MAX).min(self.total)
    }

    /// Scheduled time (nanoseconds) of this thread's query number `index`.
    fn time_of(&self, index: u64) -> u64 {
        let global = self.thread + u128::from(index) * self.threads;
        u64::try_from(global * 1_000_000_000 / self.rate).unwrap_or(u64::MAX)
    }
}

/// What a thread knows about its queries: the tables and the tallies.
struct Tally {
    tables: Vec<InFlightTable>,
    counters: Counters,
    histogram: Histogram<u64>,
    /// Sum of the tables' outstanding counts.
    in_flight: usize,
}

impl Tally {
    /// Handles one reply on `socket`, received at `now`.
    fn reply(&mut self, packets: &PacketSet, socket: usize, reply: &[u8], now: u64) {
        let counters = &mut self.counters;
        let Some(header) = reply_header(reply) else {
            counters.short += 1;
            return;
        };
        if !header.response {
            counters.not_response += 1;
            return;
        }
        let table = &mut self.tables[socket];
        let Some(query) = table.get(header.id) else {
            counters.unknown_id += 1;
            return;
        };
        if !question_matches(reply, packets.question(query.packet)) {
            // Possibly a late reply to an earlier query with the same ID: the query
            // stays outstanding until its own reply or its timeout.
            counters.wrong_question += 1;
            return;
        }
        table.remove(header.id);
        self.in_flight -= 1;
        counters.answered += 1;
        counters.rcodes[usize::from(header.rcode)] += 1;
        counters.truncated += u64::from(header.truncated);
        self.histogram
            .saturating_record(now.saturating_sub(query.due_at));
    }

    /// Counts as lost every query sent before `sent_before`, and releases the IDs
    /// of answered ones at the old end of each table.
    fn expire(&mut self, sent_before: u64) {
        for table in &mut self.tables {
            let lost = table.expire(sent_before);
            self.counters.lost += lost;
            self.in_flight -= lost as usize;
        }
    }
}

/// One thread's state while it runs.
struct Worker<'a, T: Transport> {
    transport: &'a mut T,
    packets: &'a PacketSet,
    tally: Tally,
    next_packet: usize,
    next_socket: usize,
}

impl<T: Transport> Worker<'_, T> {
    /// Sends up to `wanted` queries on the next socket at `now`, the `i`-th
    /// due at `due(i)`; returns how many left.
    fn send_some(
        &mut self,
        wanted: usize,
        batch: usize,
        now: u64,
        due: impl Fn(u64) -> u64,
    ) -> usize {
        let socket = self.next_socket;
        self.next_socket += 1;
        if self.next_socket == self.tally.tables.len() {
            self.next_socket = 0;
        }
        let table = &mut self.tally.tables[socket];
        let count = wanted
            .min(batch)
            .min(table.room())
            .min(self.transport.room(socket));
        if count == 0 {
            return 0;
        }
        let start_packet = self.next_packet;
        for index in 0..count {
            let packet = self.next_packet;
            self.next_packet += 1;
            if self.next_packet == self.packets.len() {
                self.next_packet = 0;
            }
            let id = table.insert(now, due(index as u64), packet);
            self.transport
                .stage(socket, index, packet, self.packets.packet(packet), id);
        }
        let sent = self.transport.send(socket, count);
        if sent < count {
            table.unsend(count - sent);
            self.next_packet = (start_packet + sent) % self.packets.len();
        }
        self.tally.counters.sent += sent as u64;
        self.tally.in_flight += sent;
        sent
    }

    /// Receives on every socket; returns the number of replies.
    fn receive_all(&mut self, start: Instant) -> usize {
        let tally = &mut self.tally;
        let packets = self.packets;
        let mut received_at = 0;
        self.transport.receive(|reply| {
            if reply.first {
                received_at = nanos_since(start);
            }
            tally.reply(packets, reply.socket, reply.message, received_at);
        })
    }

    /// Counts as lost every query sent more than `timeout` before `now` (and
    /// releases answered IDs, also early in the run).
    fn expire(&mut self, now: u64, timeout: u64) {
        self.tally.expire(now.saturating_sub(timeout));
    }

    /// When the next query times out (nanoseconds since start), if any is outstanding.
    fn next_expiry(&self, timeout: u64) -> Option<u64> {
        self.tally
            .tables
            .iter()
            .filter_map(InFlightTable::oldest_sent_at)
            .min()
            .map(|sent_at| sent_at.saturating_add(timeout))
    }

    /// Sleeps until input, `until` (nanoseconds since start) or the next timeout,
    /// whichever is first, at most [`MAX_SLEEP`].
    fn sleep_until(&mut self, now: u64, until: u64, timeout: u64) {
        let wake = self
            .next_expiry(timeout)
            .map_or(until, |expiry| expiry.min(until));
        let sleep = Duration::from_nanos(wake.saturating_sub(now)).min(MAX_SLEEP);
        if !sleep.is_zero() {
            self.transport.wait(sleep);
        }
    }
}

/// Runs one thread's load on `transport` and returns what it measured. Returns
/// early (after the drain) when `stop` is set.
pub fn run<T: Transport>(
    transport: &mut T,
    packets: &PacketSet,
    plan: &Plan,
    stop: &AtomicBool,
    progress: &Arc<Progress>,
) -> Outcome {
    let table_capacity = crate::inflight::MAX_CAPACITY;
    let mut worker = Worker {
        tally: Tally {
            tables: (0..transport.sockets())
                .map(|_| InFlightTable::new(table_capacity))
                .collect(),
            counters: Counters::default(),
            histogram: new_histogram(),
            in_flight: 0,
        },
        transport,
        packets,
        next_packet: plan.first_packet % packets.len(),
        next_socket: 0,
    };
    let timeout = nanos(plan.timeout);
    let end = nanos(plan.duration);
    let schedule = match plan.pacing {
        Pacing::Open {
            rate,
            thread,
            threads,
        } => Some(Schedule::new(rate, thread, threads, plan.duration)),
        Pacing::Closed { .. } => None,
    };
    let mut scheduled_sent: u64 = 0;
    let mut last_reply: u64 = 0;
    let mut last_sent_at: u64 = 0;
    let mut next_publish: u64 = 0;

    let start = Instant::now();
    // Open loop: every query scheduled within the duration is sent, the late ones
    // after it if need be (their lateness shows in their latency), unless the
    // generator is still behind a timeout after the end.
    let last_send = match &schedule {
        Some(_) => end.saturating_add(timeout),
        None => end,
    };
    let sending_end = loop {
        let now = nanos_since(start);
        if now >= last_send {
            break end;
        }
        if stop.load(Ordering::Relaxed) {
            break now;
        }
        worker.expire(now, timeout);

        let sent = match (plan.pacing, &schedule) {
            (Pacing::Closed { window }, _) => {
                // Refill the whole window at once, a batch per socket in turn, so
                // freed slots go back to the server without waiting for the next
                // round of receives.
                let mut sent = 0;
                for _ in 0..worker.tally.tables.len() {
                    let wanted = window.saturating_sub(worker.tally.in_flight);
                    if wanted == 0 {
                        break;
                    }
                    let sent_now = worker.send_some(wanted, plan.batch, now, |_| now);
                    if sent_now == 0 {
                        break;
                    }
                    sent += sent_now;
                }
                sent
            }
            (Pacing::Open { .. }, Some(schedule)) => {
                let due = schedule.due(now);
                if due > scheduled_sent {
                    // What is due, a batch per socket in turn, at most a batch on
                    // each socket per round: a generator behind its schedule
                    // still receives between rounds.
                    let mut sent = 0;
                    for _ in 0..worker.tally.tables.len() {
                        let first = scheduled_sent;
                        let wanted = usize::try_from(due - first).unwrap_or(usize::MAX);
                        if wanted == 0 {
                            break;
                        }
                        let sent_now = worker.send_some(wanted, plan.batch, now, |index| {
                            schedule.time_of(first + index)
                        });
                        if sent_now == 0 {
                            break;
                        }
                        scheduled_sent += sent_now as u64;
                        sent += sent_now;
                    }
                    sent
                } else if scheduled_sent >= schedule.total {
                    // Everything scheduled has gone: nothing left but replies.
                    break end;
                } else {
                    0
                }
            }
            (Pacing::Open { .. }, None) => unreachable!("open loop always has a schedule"),
        };

        if sent > 0 {
            last_sent_at = now;
        }
        worker.transport.flush();
        let received = worker.receive_all(start);

        if now >= next_publish {
            progress.publish(&worker.tally.counters);
            next_publish = now + nanos(PUBLISH_INTERVAL);
        }
        if received > 0 {
            last_reply = now;
        }
        if sent > 0 || received > 0 {
            continue;
        }
        match &schedule {
            None => {
                if now.saturating_sub(last_reply) >= nanos(SPIN_AFTER_REPLY) {
                    worker.sleep_until(now, end, timeout);
                }
            }
            Some(schedule) => {
                let next_send = schedule.time_of(scheduled_sent);
                let spin = nanos(SPIN_BEFORE_SEND);
                if next_send > now + spin {
                    worker.sleep_until(now, (next_send - spin).min(end), timeout);
                }
            }
        }
    };

    // Sending stopped (the open loop may stop at its last scheduled query, before
    // the end of the duration: the rate is over the whole duration; or, behind
    // its schedule, after it: then its last send ends the sending time).
    let sending = if stop.load(Ordering::Relaxed) {
        Duration::from_nanos(sending_end)
    } else {
        plan.duration.max(Duration::from_nanos(last_sent_at))
    };
    let drain_end = nanos_since(start).max(sending_end) + timeout;
    loop {
        let now = nanos_since(start);
        worker.expire(now, timeout);
        if worker.tally.in_flight == 0 {
            break;
        }
        if now >= drain_end {
            worker.tally.expire(u64::MAX);
            break;
        }
        if worker.receive_all(start) == 0 {
            worker.sleep_until(now, drain_end, timeout);
        }
    }
    debug_assert_eq!(
        worker
            .tally
            .tables
            .iter()
            .map(InFlightTable::outstanding)
            .sum::<usize>(),
        worker.tally.in_flight
    );
    worker.tally.counters.socket_errors = worker.transport.errors();
    progress.publish(&worker.tally.counters);
    Outcome {
        in_flight: worker.tally.in_flight as u64,
        counters: worker.tally.counters,
        histogram: worker.tally.histogram,
        sending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_spreads_a_rate_over_threads() {
        let second = Duration::from_secs(1);
        let single = Schedule::new(2000, 0, 1, second);
        assert_eq!(single.total, 2000);
        assert_eq!(single.due(0), 1);
        assert_eq!(single.due(499_999), 1);
        assert_eq!(single.due(500_000), 2);
        assert_eq!(single.time_of(3), 1_500_000);
        assert_eq!(single.due(u64::MAX / 4), 2000, "capped at the total");

        let first = Schedule::new(3, 0, 2, second);
        let other = Schedule::new(3, 1, 2, second);
        assert_eq!(first.total + other.total, 3);
        assert_eq!(first.time_of(1), 666_666_666);
        assert_eq!(other.time_of(0), 333_333_333);
        assert_eq!(other.due(333_333_332), 0);
        assert_eq!(other.due(333_333_334), 1);
    }

    /// A transport whose server answers every query at once, dropping those with
    /// an odd ID, and can corrupt replies; or, slow, takes `send_time` for each
    /// send and hands out the replies of a round of sends one receive later.
    struct Loopback {
        pending: Vec<Vec<u8>>,
        /// Slow: the replies the next receive hands out.
        ready: Vec<Vec<u8>>,
        staged: Vec<Vec<u8>>,
        drop_odd: bool,
        extra: Vec<Vec<u8>>,
        /// How long each send takes (slow when not zero): a generator slower
        /// than its schedule.
        send_time: Duration,
    }

    impl Loopback {
        /// Answers every query (a room of `room` per send), each send taking
        /// `send_time`.
        fn new(room: usize, send_time: Duration) -> Loopback {
            Loopback {
                pending: Vec::new(),
                ready: Vec::new(),
                staged: vec![Vec::new(); room],
                drop_odd: false,
                extra: Vec::new(),
                send_time,
            }
        }
    }

    impl Transport for Loopback {
        fn sockets(&self) -> usize {
            1
        }
        fn room(&mut self, _socket: usize) -> usize {
            self.staged.len()
        }
        fn stage(&mut self, _socket: usize, index: usize, _packet: usize, bytes: &[u8], id: u16) {
            self.staged[index].clear();
            self.staged[index].extend_from_slice(bytes);
            self.staged[index][..2].copy_from_slice(&id.to_be_bytes());
        }
        fn send(&mut self, _socket: usize, count: usize) -> usize {
            std::thread::sleep(self.send_time);
            for staged in &self.staged[..count] {
                let id = u16::from_be_bytes([staged[0], staged[1]]);
                if self.drop_odd && id % 2 == 1 {
                    continue;
                }
                let mut reply = staged.clone();
                reply[2] |= 0x80;
                self.pending.push(reply);
            }
            count
        }
        fn receive<F: FnMut(Reply<'_>)>(&mut self, mut on_reply: F) -> usize {
            let mut replies = if self.send_time.is_zero() {
                std::mem::take(&mut self.pending)
            } else {
                std::mem::replace(&mut self.ready, std::mem::take(&mut self.pending))
            };
            let count = replies.len() + self.extra.len();
            for (index, reply) in replies.drain(..).chain(self.extra.drain(..)).enumerate() {
                on_reply(Reply {
                    socket: 0,
                    message: &reply,
                    first: index == 0,
                });
            }
            count
        }
        fn wait(&mut self, timeout: Duration) {
            std::thread::sleep(timeout);
        }
        fn errors(&self) -> u64 {
            0
        }
    }

    fn packets() -> PacketSet {
        let query = crate::query::single("www.example.com", "A").unwrap();
        PacketSet::build(&[query], &crate::packet::Encoding::default(), &[]).unwrap()
    }

    #[test]
    fn closed_loop_matches_drops_and_bad_replies() {
        let packets = packets();
        let mut stray = packets.packet(0).to_vec();
        stray[0] = 0xff;
        stray[2] |= 0x80;
        let mut transport = Loopback {
            drop_odd: true,
            extra: vec![vec![0; 5], stray],
            ..Loopback::new(8, Duration::ZERO)
        };
        let plan = Plan {
            pacing: Pacing::Closed { window: 16 },
            duration: Duration::from_millis(100),
            timeout: Duration::from_millis(20),
            batch: 8,
            first_packet: 0,
        };
        let stop = AtomicBool::new(false);
        let outcome = run(&mut transport, &packets, &plan, &stop, &Arc::default());
        let counters = &outcome.counters;
        assert_eq!(outcome.in_flight, 0);
        assert!(counters.sent > 0);
        assert_eq!(counters.answered + counters.lost, counters.sent);
        assert!(
            counters.answered.abs_diff(counters.lost) <= 1,
            "{counters:?}"
        );
        assert_eq!(counters.rcodes[0], counters.answered);
        assert_eq!(counters.short, 1);
        assert_eq!(counters.unknown_id, 1);
        assert_eq!(counters.malformed(), 2);
        assert_eq!(outcome.histogram.len(), counters.answered);
    }

    #[test]
    fn open_loop_sends_the_schedule() {
        let packets = packets();
        let mut transport = Loopback::new(4, Duration::ZERO);
        let plan = Plan {
            pacing: Pacing::Open {
                rate: 1000,
                thread: 0,
                threads: 1,
            },
            duration: Duration::from_millis(200),
            timeout: Duration::from_millis(50),
            batch: 4,
            first_packet: 0,
        };
        let stop = AtomicBool::new(false);
        let outcome = run(&mut transport, &packets, &plan, &stop, &Arc::default());
        assert_eq!(outcome.counters.sent, 200);
        assert_eq!(outcome.counters.answered, 200);
        assert_eq!(outcome.sending, Duration::from_millis(200));
    }

    #[test]
    fn open_loop_behind_its_schedule_counts_timely_answers() {
        // Four queries per send of at least a millisecond: at most 4000 a second
        // against a schedule of a million. Every query is answered at once, long
        // after it was due but within the timeout of its send.
        let packets = packets();
        let mut transport = Loopback::new(4, Duration::from_millis(1));
        let plan = Plan {
            pacing: Pacing::Open {
                rate: 1_000_000,
                thread: 0,
                threads: 1,
            },
            duration: Duration::from_millis(40),
            timeout: Duration::from_millis(20),
            batch: 4,
            first_packet: 0,
        };
        let stop = AtomicBool::new(false);
        let outcome = run(&mut transport, &packets, &plan, &stop, &Arc::default());
        let counters = &outcome.counters;
        assert!(counters.sent > 0 && counters.sent < 40_000, "{counters:?}");
        assert_eq!(counters.answered, counters.sent, "{counters:?}");
        assert_eq!(counters.lost, 0);
        assert_eq!(counters.malformed(), 0);
        assert!(
            outcome.sending > plan.duration,
            "sent until the end plus the timeout: {:?}",
            outcome.sending
        );
        // Latency runs from the due time: the last queries were due within the
        // first few milliseconds and answered some 60 ms into the run.
        assert!(
            outcome.histogram.max() >= 40_000_000,
            "max latency {} ns",
            outcome.histogram.max()
        );
    }
}
